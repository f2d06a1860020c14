"""The official OpenAI Python client against `rech serve`: every response format, the model
list, and the errors the SDK raises (wrong key, unknown format, bad audio). Prints one JSON
object for crates/cli/tests/serve.rs to check. With CALL_FILE (a recording with one speaker
per channel), also a diarized transcription as `gpt-4o-transcribe-diarize` returns it.

Usage: openai_client.py BASE_URL AUDIO_FILE API_KEY [CALL_FILE]
"""

import json
import sys

import openai


def main() -> None:
    base_url, path, key = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, "rb") as f:
        audio = f.read()
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)

    def transcribe(c: openai.OpenAI = client, data: bytes = audio, **kwargs):
        return c.audio.transcriptions.create(model="whisper-1", file=("talk.wav", data), **kwargs)

    out = {}
    result = transcribe()
    out["json"] = {"type": type(result).__name__, "text": result.text}
    for name in ("text", "srt", "vtt"):
        result = transcribe(response_format=name)
        out[name] = {"type": type(result).__name__, "value": result if isinstance(result, str) else str(result)}
    result = transcribe(response_format="verbose_json", timestamp_granularities=["segment", "word"])
    out["verbose_json"] = {"type": type(result).__name__, "value": result.model_dump()}
    result = transcribe(response_format="verbose_json", language="ru", prompt="Лекция.")
    out["verbose_json_segments"] = {"type": type(result).__name__, "value": result.model_dump()}
    out["models"] = [m.id for m in client.models.list()]

    def error(call):
        try:
            call()
        except openai.APIStatusError as e:
            body = e.body if isinstance(e.body, dict) else {}
            return {
                "class": type(e).__name__,
                "status": e.status_code,
                "code": getattr(e, "code", None),
                "param": getattr(e, "param", None),
                "message": body.get("message", str(e)),
            }
        return {"class": None}

    wrong = openai.OpenAI(base_url=base_url, api_key="not-the-key", max_retries=0)
    out["wrong_key"] = error(lambda: transcribe(c=wrong))
    out["bad_format"] = error(lambda: transcribe(response_format="xml"))
    out["bad_audio"] = error(lambda: transcribe(data=b"this is not audio at all" * 100))
    out["bad_language"] = error(lambda: transcribe(language="xx"))
    if len(sys.argv) > 4:
        with open(sys.argv[4], "rb") as f:
            call = f.read()
        result = client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize",
            file=("call.wav", call),
            response_format="diarized_json",
            known_speaker_names=["Оператор"],
            extra_body={"diarize": "channels"},
        )
        out["diarized_json"] = {"type": type(result).__name__, "value": result.model_dump()}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
