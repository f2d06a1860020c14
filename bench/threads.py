#!/usr/bin/env python3
"""Threads on a busy machine: `rech transcribe` timed idle and beside a competing CPU load (a
second rech job transcribing in a loop), with -t 1/2, -j 1/2 and OpenMP's waiting policies
(libgomp spins before it sleeps unless OMP_WAIT_POLICY=passive). Every configuration runs in
the same session, interleaved round by round, and the table gives medians.

Usage: python3 bench/threads.py [--rounds 5]
       python3 bench/threads.py --policies [--rounds 3] [--size base] [--seconds 30]
         (issue 27: -t 2 with each way of waiting, the model's own decoding, beside a second
         rech job that waits passively whatever the build's default)
       python3 bench/threads.py --against-cli [--rounds 3] [--size base] [--seconds 106]
         (issue 27, part 2's idle target: rech with whisper-cli's default decoding against
         whisper-cli's own computation on the same library, `whisper-rs-direct --cli`, idle,
         alternating)
Needs: cargo build --release -p rech-cli && cargo build --release -p rech-ggml --example
make-test-model (and -p rech-whisper --example whisper-rs-direct for --against-cli);
../shared (or RECH_SHARED_DIR) for the speech.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("RECH_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
RELEASE = os.path.join(ROOT, "target", "release")
RECH = os.path.join(RELEASE, "rech")


def joined_speech(path, seconds):
    """Shared recordings one after another until `seconds` of 16 kHz mono speech."""
    human = os.path.join(SHARED, "audio", "ru", "human")
    names = sorted(n for n in os.listdir(human) if n.startswith("ru_") and n.endswith(".wav"))
    out = wave.open(path, "wb")
    frames, first = 0, True
    while frames < seconds * 16000:
        for name in names:
            w = wave.open(os.path.join(human, name))
            if first:
                out.setparams(w.getparams())
                first = False
            data = w.readframes(w.getnframes())
            out.writeframes(data)
            frames += w.getnframes()
            if frames >= seconds * 16000:
                break
    out.close()


def rech_cmd(model, inputs, threads=None, jobs=1):
    cmd = [RECH, "transcribe", "-q", "--offline", "--no-vad", "--no-fallback", "-m", model,
           "-j", str(jobs), "-f", "txt"]
    if threads:
        cmd += ["-t", str(threads)]
    return cmd + inputs


def timed(cmd, env):
    started = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - started


def policies(args):
    """-t 2 with each way of waiting, idle and beside a fixed competitor."""
    tmp = tempfile.mkdtemp(prefix="rech-policies-")
    model = os.path.join(tmp, f"{args.size}.bin")
    subprocess.run([os.path.join(RELEASE, "examples", "make-test-model"), args.size, model],
                   check=True, stdout=subprocess.DEVNULL)
    audio = [os.path.join(tmp, f"speech{i}.wav") for i in range(2)]
    for path in audio:
        joined_speech(path, args.seconds)
    base = dict(os.environ)
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        base.pop(name, None)
    configs = [
        ("rech's default", base),
        ("OMP_WAIT_POLICY=active", dict(base, OMP_WAIT_POLICY="active")),
        ("OMP_WAIT_POLICY=passive", dict(base, OMP_WAIT_POLICY="passive")),
    ] + [
        (f"GOMP_SPINCOUNT={n}", dict(base, OMP_WAIT_POLICY="passive", GOMP_SPINCOUNT=str(n)))
        for n in args.spins
    ]
    cmd = rech_cmd(model, audio[:1], 2)
    results = {(name, load): [] for name, _ in configs for load in ("idle", "loaded")}
    for _ in range(args.rounds):
        for load in ("idle", "loaded"):
            competitor = None
            # The machine settles first (the files just written, the competitor just killed):
            # rech's default looks at the machine as it starts.
            time.sleep(1.0)
            if load == "loaded":
                loop = "while :; do " + " ".join(rech_cmd(model, audio[1:], 2)) + "; done"
                competitor = subprocess.Popen(
                    ["bash", "-c", loop], env=dict(base, OMP_WAIT_POLICY="passive"),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True)
                time.sleep(1.0)
            for name, env in configs:
                results[(name, load)].append(timed(cmd, env))
            if competitor:
                os.killpg(competitor.pid, 9)
                competitor.wait()
    print(f"{os.cpu_count()} cores, {args.size} model (random weights, its own decoding), "
          f"{args.seconds} s of speech, -t 2 --no-vad --no-fallback, {args.rounds} rounds, "
          "median seconds; the competitor: a second rech -t 2 job, passive, over and over")
    print("| waiting | idle | beside a second rech job | slowdown |")
    print("| --- | --- | --- | --- |")
    for name, _ in configs:
        idle = statistics.median(results[(name, "idle")])
        loaded = statistics.median(results[(name, "loaded")])
        spread = max(results[(name, "loaded")])
        print(f"| {name} | {idle:.2f} | {loaded:.2f} (max {spread:.2f}) | {loaded / idle:.1f}× |")


def against_cli(args):
    """rech and whisper-cli's computation, idle, one after the other, round by round."""
    tmp = tempfile.mkdtemp(prefix="rech-cli-")
    model = os.path.join(tmp, f"{args.size}.bin")
    subprocess.run([os.path.join(RELEASE, "examples", "make-test-model"), args.size, model,
                    "--decoder", args.decoder], check=True, stdout=subprocess.DEVNULL)
    audio = os.path.join(tmp, "speech.wav")
    joined_speech(audio, args.seconds)
    base = dict(os.environ)
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        base.pop(name, None)
    # whisper-cli's defaults: beam 5, five candidates per fallback temperature, no VAD, flash
    # attention off (-nfa) on both sides.
    rech = [RECH, "transcribe", "-q", "--offline", "--no-vad", "--beam-size", "5", "-t", "2",
            "-m", model, "-f", "txt", audio]
    cli = [os.path.join(RELEASE, "examples", "whisper-rs-direct"), model, audio, "2", "--cli"]
    configs = [
        ("whisper-cli's computation (whisper-rs-direct --cli)", cli, base),
        ("rech (its default waiting)", rech, base),
        ("rech, OMP_WAIT_POLICY=active", rech, dict(base, OMP_WAIT_POLICY="active")),
    ]
    results = {name: [] for name, _, _ in configs}
    written = {}
    for _ in range(args.rounds):
        for name, cmd, env in configs:
            time.sleep(1.0)
            started = time.perf_counter()
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[name].append(time.perf_counter() - started)
            # What came out, as a measure of the decoding done: characters of text.
            text = out.stdout.strip()
            written[name] = (json.loads(text)["chars"] if text.startswith("{")
                             else len("".join(text.split())))
    reference = statistics.median(results[configs[0][0]])
    own = "random weights, its own decoding" if args.decoder == "random" else \
        f"random weights, decoder pinned to {args.decoder}"
    print(f"{os.cpu_count()} cores, {args.size} model ({own}), "
          f"{args.seconds} s of speech, 2 threads, beam 5, fallback on, no VAD, flash "
          f"attention off, {args.rounds} rounds alternating, median seconds")
    print("| run | seconds (median) | all runs | against whisper-cli's | characters out |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, _, _ in configs:
        runs = results[name]
        median = statistics.median(runs)
        print(f"| {name} | {median:.2f} | {', '.join(f'{r:.2f}' for r in runs)} | "
              f"{median / reference:.2f}× | {written[name]} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policies", action="store_true")
    parser.add_argument("--against-cli", action="store_true")
    parser.add_argument("--decoder", default="random", help="--against-cli: the generated "
                        "model's decoder (random, or eot: no decoding, the encoder alone)")
    parser.add_argument("--size", default="base")
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--spins", type=int, nargs="*", default=[10000, 100000])
    args = parser.parse_args()
    if args.against_cli:
        args.seconds = args.seconds or 106
        return against_cli(args)
    args.seconds = args.seconds or 30
    if args.policies:
        return policies(args)
    tmp = tempfile.mkdtemp(prefix="rech-threads-")
    model = os.path.join(tmp, "tiny.bin")
    subprocess.run([os.path.join(RELEASE, "examples", "make-test-model"), "tiny", model,
                    "--decoder", "eot"], check=True, stdout=subprocess.DEVNULL)
    audio = [os.path.join(tmp, f"speech{i}.wav") for i in range(2)]
    for path in audio:
        joined_speech(path, 60)
    # rech sets OMP_WAIT_POLICY=passive itself when it is unset (transcribe and serve).
    base = dict(os.environ)
    base.pop("OMP_WAIT_POLICY", None)
    active = dict(base, OMP_WAIT_POLICY="active")
    passive = dict(base, OMP_WAIT_POLICY="passive")
    configs = [
        ("-t 1", rech_cmd(model, audio[:1], 1), base),
        ("-t 2, OMP_WAIT_POLICY=active (libgomp spins)", rech_cmd(model, audio[:1], 2), active),
        ("-t 2, OMP_WAIT_POLICY=passive", rech_cmd(model, audio[:1], 2), passive),
        ("-t 2, unset (rech's default)", rech_cmd(model, audio[:1], 2), base),
        ("-j 2 (1 thread each, the default)", rech_cmd(model, audio, None, 2), base),
        ("-j 2 -t 2, active", rech_cmd(model, audio, 2, 2), active),
        ("-j 2 -t 2, passive", rech_cmd(model, audio, 2, 2), passive),
    ]
    results = {(name, load): [] for name, _, _ in configs for load in ("idle", "loaded")}
    for _ in range(args.rounds):
        for load in ("idle", "loaded"):
            competitor = None
            if load == "loaded":
                # A second rech job with the default threads and waiting, over and over.
                loop = "while :; do " + " ".join(rech_cmd(model, audio[1:])) + "; done"
                competitor = subprocess.Popen(["bash", "-c", loop], env=base,
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True)
                time.sleep(1.0)
            for name, cmd, env in configs:
                results[(name, load)].append(timed(cmd, env))
            if competitor:
                os.killpg(competitor.pid, 9)
                competitor.wait()
    print(f"{os.cpu_count()} cores, tiny model (random weights, end-of-text decoder), 60 s of "
          f"speech per file, --no-vad --no-fallback, {args.rounds} rounds, median seconds")
    print("| configuration | idle | beside a second rech job | slowdown |")
    print("| --- | --- | --- | --- |")
    for name, _, _ in configs:
        idle = statistics.median(results[(name, "idle")])
        loaded = statistics.median(results[(name, "loaded")])
        spread = max(results[(name, "loaded")])
        print(f"| {name} | {idle:.2f} | {loaded:.2f} (max {spread:.2f}) | {loaded / idle:.1f}× |")


if __name__ == "__main__":
    main()
