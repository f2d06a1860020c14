"""The official OpenAI Python client's streaming transcription against `rech serve`: the
server-sent events it parses, in order, as one JSON list on stdout, for
crates/cli/tests/serve.rs to check.

Usage: openai_stream.py BASE_URL AUDIO_FILE
"""

import json
import sys

import openai


def main() -> None:
    base_url, path = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
    with open(path, "rb") as f:
        stream = client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=("long.wav", f.read()), stream=True
        )
    events = []
    for event in stream:
        events.append({"class": type(event).__name__, **event.model_dump(exclude_none=True)})
    print(json.dumps(events, ensure_ascii=False))


if __name__ == "__main__":
    main()
