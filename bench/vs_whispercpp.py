#!/usr/bin/env python3
"""rech against whisper.cpp itself (through the PyPI package pywhispercpp, which ships
whisper.cpp 1.8.5 prebuilt) on the same generated model, audio, threads and decoding options.

Runs both engines alternately, several times, as whole processes under /usr/bin/time, and
prints a Markdown table of median wall time, real-time factor and peak RSS, plus the ratio.

Usage: python3 bench/vs_whispercpp.py [--runs 5] [--threads 2] [--size base]
Needs: a release build of rech (cargo build --release -p rech-cli --bins --examples),
pip install pywhispercpp, ../shared/audio/ru/human (or RECH_SHARED_DIR).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECH_SHARED_DIR", ROOT.parent / "shared"))
RECH = ROOT / "target/release/rech"
MAKE_MODEL = ROOT / "target/release/examples/make-test-model"
DIRECT = ROOT / "target/release/examples/whisper-rs-direct"

PY_RUNNER = r"""
import sys, time, wave, json
import numpy as np
t0 = time.perf_counter()
from pywhispercpp.model import Model
model_path, audio_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
with wave.open(audio_path) as w:
    pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
m = Model(model_path, redirect_whispercpp_logs_to=None, n_threads=threads,
          print_progress=False, print_realtime=False, print_timestamps=False,
          context_params={"flash_attn": True})
t1 = time.perf_counter()
# pywhispercpp defaults to no_context=True; whisper.cpp (and so rech) to False.
segments = m.transcribe(pcm, language="ru", temperature=0.0, temperature_inc=0.0,
                        greedy={"best_of": 1}, n_threads=threads, no_context=False)
t2 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "transcribe": t2 - t1, "segments": len(segments),
                  "chars": sum(len(s.text) for s in segments)}))
"""


def joined_speech(out: Path) -> float:
    """The ru_00* recordings joined in order with 1.5 s pauses: about 100 s of one reader."""
    files = sorted((SHARED / "audio/ru/human").glob("ru_00*.wav"))
    if not files:
        sys.exit(f"no recordings in {SHARED}/audio/ru/human (set RECH_SHARED_DIR)")
    frames = bytearray()
    for i, f in enumerate(files):
        with wave.open(str(f)) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
            if i:
                frames += bytes(2 * 24000)
            frames += w.readframes(w.getnframes())
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(frames))
    return len(frames) / 2 / 16000


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS MB, stdout)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{cmd[0]} failed: {proc.stderr.strip()}")
        wall, rss_kb = t.read().split()[-2:]
    return float(wall), int(rss_kb) / 1024, proc.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="base")
    ap.add_argument("--decoder", default="eot,repeat",
                    help="pinned decoder outputs to run (see make-test-model): eot, repeat, random")
    args = ap.parse_args()
    for exe in (RECH, MAKE_MODEL, DIRECT):
        if not exe.exists():
            sys.exit(f"{exe} missing: cargo build --release -p rech-cli --bins --examples")

    work = Path(tempfile.mkdtemp(prefix="rech-bench-"))
    audio = work / "joined.wav"
    seconds = joined_speech(audio)
    for decoder in args.decoder.split(","):
        model = work / f"{args.size}-{decoder}.bin"
        subprocess.run([str(MAKE_MODEL), args.size, str(model), "--decoder", decoder],
                       check=True, capture_output=True)
        compare(args, model, audio, seconds, decoder)
        model.unlink()


def compare(args, model, audio, seconds, decoder):

    rech_cmd = [str(RECH), "transcribe", "-q", "-m", str(model), "--no-vad", "--no-fallback",
                "-t", str(args.threads), "-f", "json", str(audio)]
    py_cmd = [sys.executable, "-c", PY_RUNNER, str(model), str(audio), str(args.threads)]
    direct_cmd = [str(DIRECT), str(model), str(audio), str(args.threads)]
    direct = "whisper.cpp 1.8.3 (direct whisper-rs call)"
    py = "whisper.cpp 1.8.5 (pywhispercpp)"
    results = {"rech": [], direct: [], py: []}
    detail = {}
    for run in range(args.runs):
        wall, rss, out = timed(rech_cmd)
        doc = json.loads(out)
        results["rech"].append((wall, rss))
        detail["rech"] = (len(doc["segments"]), sum(len(s["text"]) for s in doc["segments"]))
        for name, cmd in ((direct, direct_cmd), (py, py_cmd)):
            wall, rss, out = timed(cmd)
            info = json.loads(out.strip().splitlines()[-1])
            results[name].append((wall, rss))
            detail[name] = (info["segments"], info["chars"])
        print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in results.items()),
              file=sys.stderr)

    print(f"\n{seconds:.1f} s of audio, {args.size} dimensions, decoder pinned to `{decoder}`, "
          f"{args.threads} threads, greedy, no temperature fallback, no VAD, flash attention, "
          f"{args.runs} runs each, alternating (medians)\n")
    print("| engine | wall time (s) | real-time factor | peak RSS (MB) | segments | characters |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        medians[name] = wall
        segs, chars = detail[name]
        print(f"| {name} | {wall:.2f} | {wall / seconds:.3f} | {rss:.0f} | {segs} | {chars} |")
    for name in (direct, py):
        print(f"\nrech / {name}: wall-time ratio of medians {medians['rech'] / medians[name]:.2f}")


if __name__ == "__main__":
    main()
