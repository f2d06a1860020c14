#!/usr/bin/env python3
"""Peak memory of `rech transcribe` over 106 s, 10 minutes and 1 hour, both engines, by the
length of the windows a long recording is cut into (issue 27, part 3).

The recordings are suite.py's: the ../shared ru_00* recordings joined with 1.5 s pauses (106 s),
repeated with the same pauses to 10 minutes and to an hour. Memory should not grow with length:
rech decodes the file as a stream and transcribes it window by window, so what a long recording
holds beyond a short one is one window's samples and what the engine makes of them (whisper.cpp
copies a window's samples, padded, and computes its whole spectrogram before it decodes).

- Whisper, micro dimensions with the generator's own decoding, and base dimensions with the
  decoder pinned to `eot` (encoder-bound); `--no-vad --no-fallback`, as the issue measured.
- GigaAM-v3 e2e RNN-T int8, full size (random weights, real graph; `--gigaam-model`), with
  Silero VAD, rech's default for it.

`loaded` is the peak for the first second of speech alone: the model, the runtime and one short
decode, what any run costs. Peak RSS from /usr/bin/time, the median of `--runs` runs per cell,
the windows alternating within each round. Whisper's peaks repeat to the MB; GigaAM's vary by
up to ±70 MiB from run to run (ONNX Runtime's arena grows in steps whose timing depends on its
threads), so take several runs for it.

Usage: python3 bench/flat_memory.py --gigaam-model DIR/v3_e2e_rnnt_encoder.int8.onnx
                                    [--windows 180,60] [--engines micro,base,gigaam]
                                    [--lengths 106,600,3600] [--threads 2] [--runs 1]
Needs: cargo build --release --workspace --bins --examples; /usr/bin/time; ../shared.
"""
import argparse
import os
import statistics
import sys
import subprocess
import tempfile
import wave
from pathlib import Path

# This directory is on sys.path: the recordings and the timing come from the suite.
from suite import MAKE_MODEL, RECH, VAD, speech_frames, timed, write_wav


def whisper_model(work, size, decoder):
    path = work / f"{size}-{decoder}.bin"
    if not path.exists():
        cmd = [str(MAKE_MODEL), size, str(path)]
        if decoder != "own":
            cmd += ["--decoder", decoder]
        subprocess.run(cmd, check=True, capture_output=True)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gigaam-model", type=Path)
    ap.add_argument("--windows", default="180,60")
    ap.add_argument("--engines", default="micro,base,gigaam")
    ap.add_argument("--lengths", default="106,600,3600")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    engines = args.engines.split(",")
    if "gigaam" in engines and not args.gigaam_model:
        ap.error("--gigaam-model is needed for the gigaam rows")
    windows = [w for w in args.windows.split(",")]
    lengths = [int(s) for s in args.lengths.split(",")]

    with tempfile.TemporaryDirectory(prefix="rech-flat-memory-") as tmp:
        work = Path(tmp)
        frames = speech_frames()
        files = {}
        with wave.open(str(work / "first.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(frames[: 2 * 16000])
        files["loaded"] = work / "first.wav"
        for seconds in lengths:
            path = work / f"{seconds}.wav"
            write_wav(path, frames, seconds)
            files[seconds] = path

        def command(engine, window, audio):
            out = work / "out.json"
            base = [str(RECH), "transcribe", "-q", "-t", args.threads, "-f", "json",
                    "-o", str(out), "--window", window]
            if engine == "micro":
                return base + ["-m", str(whisper_model(work, "micro", "own")),
                               "--no-vad", "--no-fallback", str(audio)]
            if engine == "base":
                return base + ["-m", str(whisper_model(work, "base", "eot")),
                               "--no-vad", "--no-fallback", str(audio)]
            return base + ["-m", str(args.gigaam_model), "--vad-model", str(VAD), str(audio)]

        print("| engine | window (s) | loaded (MiB) | "
              + " | ".join(f"{s} s (MiB)" for s in lengths)
              + f" | {lengths[-1]} s / {lengths[0]} s | {lengths[-1]} s − loaded (MiB) |")
        print("| --- | ---: | ---: | " + " | ".join("---:" for _ in lengths) + " | ---: | ---: |")
        for engine in engines:
            cells = {}
            for round_ in range(args.runs):
                for window in windows:
                    for seconds in ["loaded"] + lengths:
                        wall, rss, _ = timed(command(engine, window, files[seconds]))
                        cells.setdefault((window, seconds), []).append((wall, rss))
                        print(f"  round {round_ + 1}: {engine} window {window} {seconds}: "
                              f"{wall:.1f} s wall, {rss:.0f} MiB", flush=True, file=sys.stderr)
            for window in windows:
                loaded = statistics.median(r for _, r in cells[(window, "loaded")])
                peaks = [statistics.median(r for _, r in cells[(window, s)]) for s in lengths]
                print(f"| {engine} | {window} | {loaded:.0f} | "
                      + " | ".join(f"{p:.0f}" for p in peaks)
                      + f" | {peaks[-1] / peaks[0]:.2f} | {peaks[-1] - loaded:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
