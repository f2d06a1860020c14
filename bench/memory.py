#!/usr/bin/env python3
"""Peak memory of `rech transcribe` by model size, with flash attention off (rech's default,
the faster encoder on CPU) and on (`--flash-attn`), for 30 s and 5 minutes of speech.

whisper.cpp's encoder without flash attention holds each layer's attention matrix, 1500 × 1500
× heads × 4 bytes (51 MiB tiny, 69 MiB base, 103 MiB small, 137 MiB medium); with it, memory is
lower and the encoder slower. The 5-minute input spans five of rech's 1-minute windows, so equal
figures for 30 s and 5 minutes show that memory does not grow with the recording.

Usage: python3 bench/memory.py [--sizes tiny,base,small] [--type f16|q8_0|...] [--short-only]
Needs: cargo build --release --workspace --bins --examples; /usr/bin/time;
../shared (or RECH_SHARED_DIR).
"""
import argparse
import subprocess
import tempfile
from pathlib import Path

# This directory is on sys.path: the recordings and the timing come from the suite.
from suite import MAKE_MODEL, RECH, ROOT, speech_frames, timed, write_wav

HEADS = {"tiny": 6, "base": 8, "small": 12, "medium": 16, "large": 20}


def model(size, kind):
    cache = ROOT / "target/bench-models"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{size}-eot-{kind}.bin"
    if not path.exists():
        subprocess.run([str(MAKE_MODEL), size, str(path), "--decoder", "eot", "--type", kind],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="tiny,base,small")
    ap.add_argument("--type", default="f16")
    ap.add_argument("--short-only", action="store_true", help="only the 30 s input")
    args = ap.parse_args()
    for p in (RECH, MAKE_MODEL):
        if not p.exists():
            raise SystemExit(f"missing {p} (see the usage line)")
    print(f"| model ({args.type}) | file | attention matrices | input | flash attention | wall (s) | "
          "peak RSS (MiB) | RSS − model (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        frames = speech_frames()
        inputs = []
        for seconds, name in ((30, "30 s"),) if args.short_only else ((30, "30 s"), (300, "5 min")):
            path = Path(tmp) / f"{seconds}.wav"
            write_wav(path, frames, seconds)
            inputs.append((name, path))
        for size in args.sizes.split(","):
            path = model(size, args.type)
            file_mb = path.stat().st_size / 2**20
            attention = 1500 * 1500 * HEADS[size] * 4 / 2**20
            for name, audio in inputs:
                for flash in (False, True):
                    cmd = [str(RECH), "transcribe", "-q", "--offline", "--no-vad", "-m", str(path),
                           "-t", "2", "-o", "-", "-f", "txt", str(audio)]
                    wall, rss, _ = timed(cmd + (["--flash-attn"] if flash else []))
                    print(f"| {size} | {file_mb:.0f} MiB | {attention:.0f} MiB | {name} | "
                          f"{'on' if flash else 'off (default)'} | {wall:.1f} | {rss:.0f} | "
                          f"{rss - file_mb:.0f} |", flush=True)


if __name__ == "__main__":
    main()
