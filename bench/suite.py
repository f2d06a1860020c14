#!/usr/bin/env python3
"""rech's benchmark suite: throughput, real-time factor and memory of `rech transcribe`, in one
run. (bench/run-all.sh runs this and the other scripts behind BENCHMARKS.md, one report.)

- decode + resample throughput (times real time) for 44.1 kHz stereo WAV, FLAC and MP3;
- transcription wall time, real-time factor and peak RSS, VAD off and on, for 2 minutes and for
  1 hour of Russian speech (the ../shared ru_00* recordings joined with 1.5 s pauses, repeated);
- batch throughput of 20 short files with --jobs 1 and --jobs 2, with and without
  --fit-window (the encoder runs over the audio a short file holds, not a whole 30 s window).

Models are generated with random weights and real dimensions; the decoder is pinned (see
examples/make-test-model.rs) so that every run does the same work. Variants compared in one
table run alternately; figures are medians.

Usage: python3 bench/suite.py [--runs 3] [--size base] [--long-size tiny] [--skip-long]
                              [--parts decode,transcribe,batch,long]
Needs: cargo build --release --workspace --bins --examples; sox,
lame and /usr/bin/time; ../shared (or RECH_SHARED_DIR).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECH_SHARED_DIR", ROOT.parent / "shared"))
REL = ROOT / "target/release"
RECH = REL / "rech"
MAKE_MODEL = REL / "examples/make-test-model"
DECODE = REL / "examples/decode-throughput"
VAD = SHARED / "models/ggml-silero-v6.2.0.bin"


def speech_frames():
    frames = bytearray()
    for i, f in enumerate(sorted((SHARED / "audio/ru/human").glob("ru_00*.wav"))):
        with wave.open(str(f)) as w:
            if i:
                frames += bytes(2 * 24000)
            frames += w.readframes(w.getnframes())
    return bytes(frames)


def write_wav(path, frames, seconds):
    """Repeats `frames` (16 kHz mono s16) with 1.5 s pauses up to `seconds`."""
    need = int(seconds * 16000) * 2
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        written = 0
        while written < need:
            piece = (frames + bytes(2 * 24000))[: need - written]
            w.writeframes(piece)
            written += len(piece)


def timed(cmd):
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(map(str, cmd))} failed: {proc.stderr.strip()[-500:]}")
        wall, rss_kb = t.read().split()[-2:]
    return float(wall), int(rss_kb) / 1024, proc.stdout


def model(work, size, decoder):
    path = work / f"{size}-{decoder}.bin"
    if not path.exists():
        subprocess.run([str(MAKE_MODEL), size, str(path), "--decoder", decoder], check=True,
                       capture_output=True)
    return path


def decode_table(work, frames, runs):
    base = work / "speech-10min.wav"
    write_wav(base, frames, 600)
    variants = {
        "WAV 44.1 kHz stereo 16-bit": work / "d.wav",
        "FLAC 44.1 kHz stereo": work / "d.flac",
        "MP3 44.1 kHz stereo 128 kbit/s": work / "d.mp3",
    }
    for path in variants.values():
        subprocess.run(["sox", str(base), "-r", "44100", "-c", "2", *(
            ["-C", "128"] if path.suffix == ".mp3" else []), str(path)], check=True)
    print("\n### Decode and resample to 16 kHz mono (10 min of speech)\n")
    print("| input | median time (s) | times real time |")
    print("| --- | ---: | ---: |")
    for name, path in variants.items():
        out = subprocess.run([str(DECODE), str(path), str(runs)], capture_output=True,
                             text=True, check=True).stdout.strip().split("\t")
        print(f"| {name} | {out[2].split()[1]} | {out[3].split('x')[0]} |")


def transcribe_table(title, audio, seconds, model_path, runs, threads):
    variants = {
        "VAD off": ["--no-vad"],
        "VAD on": ["--vad-model", str(VAD)],
    }
    results = {k: [] for k in variants}
    for _ in range(runs):
        for name, extra in variants.items():
            wall, rss, _ = timed([str(RECH), "transcribe", "-q", "-m", str(model_path),
                                  "--no-fallback", "-t", str(threads), "-f", "json", *extra,
                                  str(audio)])
            results[name].append((wall, rss))
    size_mb = model_path.stat().st_size / 1e6
    print(f"\n### {title}\n")
    print(f"Model {model_path.name} ({size_mb:.0f} MB), {threads} threads, {runs} runs, "
          "alternating, medians.\n")
    print("| variant | wall time (s) | real-time factor | peak RSS (MB) | RSS − model (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        rss = statistics.median(r[1] for r in rs)
        print(f"| {name} | {wall:.2f} | {wall / seconds:.3f} | {rss:.0f} | {rss - size_mb:.0f} |")


def batch_table(work, model_path, runs):
    files = sorted((SHARED / "audio/ru").rglob("*.wav"))[:20]
    batch = work / "batch"
    batch.mkdir(exist_ok=True)
    for f in files:
        shutil.copy(f, batch / f"{f.parent.name}-{f.name}")
    seconds = sum(wave.open(str(f)).getnframes() / wave.open(str(f)).getframerate()
                  for f in files)
    variants = {
        "1 job": ["-j", "1"],
        "2 jobs": ["-j", "2"],
        "1 job, --fit-window": ["-j", "1", "--fit-window"],
        "2 jobs, --fit-window": ["-j", "2", "--fit-window"],
    }
    results = {k: [] for k in variants}
    for r in range(runs):
        order = list(variants.items())
        order = order[r % len(order):] + order[:r % len(order)]
        for name, extra in order:
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            wall, rss, _ = timed([str(RECH), "transcribe", "-q", "-m", str(model_path),
                                  "--no-vad", "--no-fallback", *extra,
                                  "--output-dir", str(out), str(batch)])
            results[name].append((wall, rss))
    print(f"\n### Batch: {len(files)} short files ({seconds:.0f} s of audio)\n")
    print(f"Model {model_path.name}, {runs} runs, alternating, medians.\n")
    print("| variant | wall time (s) | files per minute | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: |")
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        rss = statistics.median(r[1] for r in rs)
        print(f"| {name} | {wall:.2f} | {len(files) * 60 / wall:.1f} | {rss:.0f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="base")
    ap.add_argument("--long-size", default="tiny")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decoder", default="repeat")
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--parts", default="decode,transcribe,batch,long",
                    help="comma-separated subset of decode, transcribe, batch, long")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if args.skip_long:
        parts.discard("long")
    for exe in (RECH, MAKE_MODEL, DECODE):
        if not exe.exists():
            sys.exit(f"{exe} missing: cargo build --release --workspace "
                     "--bins --examples")
    work = Path(tempfile.mkdtemp(prefix="rech-suite-"))
    try:
        frames = speech_frames()
        if "decode" in parts:
            decode_table(work, frames, args.runs)
        m = model(work, args.size, args.decoder)
        if "transcribe" in parts:
            two = work / "speech-2min.wav"
            write_wav(two, frames, 120)
            transcribe_table(f"Transcription, 2 minutes of speech, {args.size} dimensions, "
                             f"decoder pinned to `{args.decoder}`", two, 120, m, args.runs,
                             args.threads)
        if "batch" in parts:
            batch_table(work, m, args.runs)
        if "long" in parts:
            hour = work / "speech-1h.wav"
            write_wav(hour, frames, 3600)
            lm = model(work, args.long_size, "eot")
            transcribe_table(f"Transcription, 1 hour of speech, {args.long_size} dimensions, "
                             "decoder pinned to `eot`", hour, 3600, lm, 1, args.threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
