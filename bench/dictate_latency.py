#!/usr/bin/env python3
"""Live dictation: latency from the end of speech to the final event, and CPU use while
nobody speaks.

Latency: five recordings from ../shared/audio/ru/human joined with 1.5 s of silence (the
endpointing test's input) are fed to `rech dictate --input … --realtime --format jsonl`, which
paces them as a microphone would. Each final event carries `at`, the stream time (wall clock
since the first chunk) when it was printed; latency = at − the end of that recording's speech
(found by loudness alone, as the test does). The default window (encoder sized to the
utterance, whisper.cpp's audio_ctx) runs against the full 30 s window, alternately, several
rounds; figures are the median and 95th percentile (nearest rank) over all utterances.

Generated models with base dimensions: `eot` (the decoder ends at once: encoder-bound, the
lower bound) and `repeat` (the decoder emits one token up to rech's per-utterance cap of
16 + 10 per second of audio: about twice the tokens real Russian speech needs, an upper bound).

CPU: process CPU time (utime + stime from /proc) over 30 s of listening, after the model has
loaded: to digital silence and to white noise at -50 dBFS fed in real time, and to a
PulseAudio pipe-source microphone (remapped to 48 kHz stereo) fed silence: the whole capture
path, cpal's PulseAudio client, the ring buffer, downmixing and resampling; when pulseaudio is
installed.

OpenMP's wait policy matters on a 2-core machine: by default libgomp's threads spin while they
wait for each other, which is fastest on an idle machine and collapses when anything else
runs (a decode ten to twenty times slower); `--omp passive` runs every variant with
OMP_WAIT_POLICY=passive instead. The `repeat-other-policy` variant runs with the other one.

Usage: python3 bench/dictate_latency.py [--rounds 3] [--threads 2] [--omp default|passive]
                                        [--variants eot-fitted,eot-full,...] [--skip-cpu]
                                        [--gigaam-model DIR/v3_e2e_rnnt_encoder.int8.onnx]
Needs: cargo build --release --workspace --bins --examples
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECH_SHARED_DIR", ROOT.parent / "shared"))
RECH = ROOT / "target/release/rech"
MAKE_MODEL = ROOT / "target/release/examples/make-test-model"
VAD = SHARED / "models/ggml-silero-v6.2.0.bin"
RECORDINGS = ["ru_0024", "ru_0025", "ru_0031", "ru_0032", "ru_0035"]
RATE = 16000
TICK = os.sysconf("SC_CLK_TCK")


def read_pcm(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        data = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def write_pcm(path, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))


def speech_bounds(samples):
    """As tests/dictate.rs: 20 ms frames 12 dB above the 10th percentile, runs >= 60 ms."""
    import math

    db = []
    for i in range(0, len(samples) - 319, 320):
        p = sum((s / 32768.0) ** 2 for s in samples[i:i + 320]) / 320
        db.append(10 * math.log10(max(p, 1e-10)))
    floor = sorted(db)[len(db) // 10]
    loud = [d > floor + 12 for d in db]
    runs, i = [], 0
    while i < len(loud):
        if loud[i]:
            j = i
            while j < len(loud) and loud[j]:
                j += 1
            if j - i >= 3:
                runs.append((i, j))
            i = j
        else:
            i += 1
    return runs[0][0] * 0.02, runs[-1][1] * 0.02


def joined(out):
    samples, truth = [], []
    for name in RECORDINGS:
        rec = read_pcm(SHARED / f"audio/ru/human/{name}.wav")
        offset = len(samples) / RATE
        a, b = speech_bounds(rec)
        truth.append((offset + a, offset + b))
        samples += rec + [0] * int(1.5 * RATE)
    write_pcm(out, samples)
    return truth


def model(kind, cache):
    path = cache / f"base-{kind}.bin"
    if not path.exists():
        subprocess.run([str(MAKE_MODEL), "base", str(path), "--decoder", kind], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def nearest_rank(values, q):
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))]


def run_latency(model_path, audio, truth, threads, extra, env_extra):
    cmd = [str(RECH), "-q", "dictate", "--input", str(audio), "--realtime", "--format", "jsonl",
           "-m", str(model_path), "--vad-model", str(VAD), "-t", str(threads)] + extra
    before = os.times()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, RECH_OFFLINE="1", **env_extra)).stdout
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    finals = [e for e in map(json.loads, out.splitlines()) if e["type"] == "final"]
    latencies, detected = [], []
    for e in finals:
        # The recording this final belongs to: the one whose speech overlaps it most.
        best = max(truth, key=lambda t: min(t[1], e["end"]) - max(t[0], e["start"]))
        latencies.append(e["at"] - best[1])
        detected.append(e["at"] - e["end"])
    return len(finals), latencies, detected, cpu


def cpu_while(cmd, env, settle=6.0, window=30.0, feeder=None):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(settle)
        t0, c0 = time.monotonic(), ticks(proc.pid)
        time.sleep(window)
        t1, c1 = time.monotonic(), ticks(proc.pid)
        return (c1 - c0) / TICK / (t1 - t0) * 100
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if feeder:
            feeder.set()


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def pulse_mic(tmp):
    """A PulseAudio server with a pipe source fed silence in real time; returns (env, stop)."""
    if not shutil.which("pulseaudio"):
        return None
    d = Path(tmp) / "pulse"
    d.mkdir(mode=0o700)
    fifo = d / "mic.fifo"
    env = dict(os.environ, PULSE_SERVER=f"unix:{d}/native", XDG_RUNTIME_DIR=str(d), HOME=str(d))
    # The feeder must run before rech starts: PulseAudio starts a recording only once its source
    # delivers.
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
         "--use-pid-file=no", "-L", f"module-native-protocol-unix auth-anonymous=1 socket={d}/native",
         "-L", f"module-pipe-source source_name=fakemic file={fifo} format=s16le rate=16000 channels=1",
         "-L", "module-remap-source source_name=mic master=fakemic rate=48000 channels=2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if fifo.exists() and subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-source", "mic"], env=env, check=True)
    stop = threading.Event()

    def feed():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        start, sent = time.monotonic(), 0
        while not stop.is_set():
            try:
                os.write(fd, bytes(3200))
            except BlockingIOError:
                pass
            sent += 1
            time.sleep(max(0.0, start + sent * 0.1 - time.monotonic()))
        os.close(fd)

    threading.Thread(target=feed, daemon=True).start()
    return env, stop, server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--variants", help="comma-separated: eot-fitted, eot-full, repeat-fitted, "
                    "repeat-full, repeat-partial, repeat-other-policy (default: all)")
    ap.add_argument("--gigaam-model", help="a GigaAM-v3 .onnx file: adds the gigaam and "
                    "gigaam-partial variants (ONNX Runtime from RECH_ORT_LIB or .venv-test)")
    ap.add_argument("--omp", choices=["default", "passive"], default="default",
                    help="OMP_WAIT_POLICY for whisper.cpp's threads (default: libgomp's own)")
    args = ap.parse_args()
    for p in (RECH, MAKE_MODEL, VAD):
        if not p.exists():
            sys.exit(f"missing {p} (see the usage line)")
    cache = ROOT / "target/bench-models"
    cache.mkdir(parents=True, exist_ok=True)
    models = {k: model(k, cache) for k in ("eot", "repeat")}
    print(f"load before: {open('/proc/loadavg').read().strip()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_latency:
            latency(models, args, Path(tmp))
        if not args.skip_cpu:
            listening(models, args, Path(tmp))
    print(f"load after: {open('/proc/loadavg').read().strip()}", file=sys.stderr)


def latency(models, args, tmp):
    audio = tmp / "joined.wav"
    truth = joined(audio)
    policy = {"OMP_WAIT_POLICY": "passive"} if args.omp == "passive" else {}
    other = {} if args.omp == "passive" else {"OMP_WAIT_POLICY": "passive"}
    other_name = "spinning (default)" if args.omp == "passive" else "passive"
    variants = {
        "eot-fitted": ("eot, fitted window", models["eot"], [], policy),
        "eot-full": ("eot, full 30 s window", models["eot"], ["--full-window"], policy),
        "repeat-fitted": ("repeat, fitted window", models["repeat"], [], policy),
        "repeat-full": ("repeat, full 30 s window", models["repeat"], ["--full-window"], policy),
        "repeat-partial": ("repeat, fitted window, --partial", models["repeat"], ["--partial"],
                           policy),
        "repeat-other-policy": (f"repeat, fitted window, OpenMP wait policy {other_name}",
                                models["repeat"], [], other),
    }
    if args.gigaam_model:
        lib = os.environ.get("RECH_ORT_LIB") or str(next(
            (ROOT / ".venv-test").glob("lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*")))
        gigaam_env = dict(policy, RECH_ORT_LIB=lib)
        name = Path(args.gigaam_model).name
        variants["gigaam"] = (f"GigaAM-v3 {name}", Path(args.gigaam_model), [], gigaam_env)
        variants["gigaam-partial"] = (f"GigaAM-v3 {name}, --partial", Path(args.gigaam_model),
                                      ["--partial"], gigaam_env)
        # Shorter pauses than the default 600 ms: sooner finals, and phrases split where their
        # speaker paused inside them (the finals' count shows it: 5 for 5 recordings is right).
        for pause in (300, 400, 450, 500):
            variants[f"gigaam-pause-{pause}"] = (f"GigaAM-v3 {name}, --pause {pause}",
                                                 Path(args.gigaam_model),
                                                 ["--pause", str(pause)], gigaam_env)
    wanted = args.variants.split(",") if args.variants else list(variants)
    variants = [variants[k] for k in wanted]
    results = {v[0]: {"lat": [], "det": [], "cpu": [], "n": []} for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for name, m, extra, env_extra in order:
            n, lat, det, cpu = run_latency(m, audio, truth, args.threads, extra, env_extra)
            res = results[name]
            res["lat"] += lat
            res["det"] += det
            res["cpu"].append(cpu)
            res["n"].append(n)
            print(f"round {r + 1} {name}: {n} finals, latency median "
                  f"{statistics.median(lat):.2f} s", file=sys.stderr)
    print("| variant | finals per run | end of speech → final, median | p95 | "
          "detected end → final, median | CPU per 50 s run |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, *_ in variants:
        res = results[name]
        print(f"| {name} | {', '.join(map(str, res['n']))} | {statistics.median(res['lat']):.2f} s | "
              f"{nearest_rank(res['lat'], 0.95):.2f} s | {statistics.median(res['det']):.2f} s | "
              f"{statistics.median(res['cpu']):.1f} s |")
    print()


def listening(models, args, tmp):
    silence = tmp / "silence.wav"
    write_pcm(silence, [0] * (RATE * 60))
    rng = random.Random(7)
    noise = tmp / "noise.wav"
    # Uniform white noise, RMS 0.0032 (-50 dBFS).
    write_pcm(noise, [int(rng.uniform(-0.0055, 0.0055) * 32767) for _ in range(RATE * 60)])
    base = [str(RECH), "-q", "dictate", "-m", str(models["repeat"]), "--vad-model", str(VAD),
            "-t", str(args.threads)]
    env = dict(os.environ, RECH_OFFLINE="1")
    print("| listening to | CPU (one core = 100 %) |")
    print("| --- | --- |")
    for label, f in (("digital silence (file, --realtime)", silence),
                     ("white noise at -50 dBFS (file, --realtime)", noise)):
        pct = cpu_while(base + ["--input", str(f), "--realtime"], env)
        print(f"| {label} | {pct:.1f} % |")
    mic = pulse_mic(tmp)
    if mic:
        menv, stop, server = mic
        menv["RECH_OFFLINE"] = "1"
        try:
            pct = cpu_while(base, menv, feeder=stop)
            print(f"| silence through a PulseAudio microphone (48 kHz stereo, resampled) | {pct:.1f} % |")
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
