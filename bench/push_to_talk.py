#!/usr/bin/env python3
"""Push-to-talk latency: key release → final line, and → last character typed, on X11 (and,
with `--display sway`, on headless sway).

For each of five recordings from ../shared/audio/ru/human (5-8 s phrases), one `rech dictate
--input SEGMENT --realtime --hotkey F9 --type --format jsonl` on an Xvfb display where `xev`
has the focus: the segment is the recording up to `--hold-after` seconds past the end of its
speech (found by loudness, as the tests do). `xdotool keydown F9` starts the phrase; the file is
then read at real-time pace, as a microphone delivers it; `xdotool keyup F9` comes when the
segment has been read (the speaker lets go that long after the last word); the layout is `ru`.
Random weights make GigaAM emit far more text than speech holds (hundreds of characters a
phrase), which lengthens the typing; the character count is printed. Latency counts from
just before keyup is sent (the cost of starting xdotool is charged to rech) to the final event's
line on stdout, and to the last character `xev` receives (XmbLookupString, as an editor
would). With `--binary NAME=PATH[,listen]` binaries that predate --hotkey run with
--listen-on, released by `rech dictate ctl stop` instead.

On sway (`--display sway`: headless, wev as the client, `wtype -` holding a keyboard on the
seat, as bench/typing.py runs it) there is no key to grab: rech's backends there are the
desktop portal and evdev, and neither exists on a headless machine. Every binary runs with
--listen-on and is started and released by `rech dictate ctl`, the path a sway user binds with
`bindsym --release`; the typing goes through the virtual-keyboard protocol.

With `--cpu`, instead: CPU (utime + stime over 30 s) of a push-to-talk dictation waiting for the
key on a PulseAudio pipe-source microphone (48 kHz stereo, fed silence in real time) with the
microphone kept open (the default) and with --mic-on-demand, beside hands-free listening.

Usage: python3 bench/push_to_talk.py --model DIR/v3_e2e_rnnt_encoder.int8.onnx [--rounds 3]
         [--threads 2] [--hold-after 0.2] [--binary after=target/release/rech] [--extra ARGS]
         [--display x11|sway]
       python3 bench/push_to_talk.py --model … --cpu
Needs: cargo build --release -p rech-cli; Xvfb, xev, xdotool, sway, wev, wtype
(scripts/install-deps.sh);
RECH_ORT_LIB (or the runtime downloaded) for GigaAM.
"""
import argparse
import contextlib
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dictate_latency import (RECORDINGS, SHARED, VAD, cpu_while, nearest_rank, pulse_mic,  # noqa: E402
                             read_pcm, speech_bounds, write_pcm)


def _typing_bench():
    """bench/typing.py, loaded by its path: its name is the standard library's."""
    spec = importlib.util.spec_from_file_location("typing_bench",
                                                  Path(__file__).resolve().parent / "typing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Sway = _typing_bench().Sway

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000


class Lines:
    """A child's stdout or stderr, each line with its arrival time, read on a thread."""

    def __init__(self, stream, parse=None):
        self.lines = []
        self.lock = threading.Lock()
        self.parse = parse
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                self.lines.append((time.monotonic(), line))

    def wait(self, needle, limit=60.0, after=0.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.lock:
                for t, line in self.lines:
                    if t >= after and needle in line:
                        return t
            time.sleep(0.005)
        raise SystemExit(f"no {needle!r} within {limit} s: {self.text()[-2000:]}")

    def text(self):
        with self.lock:
            return "\n".join(line for _, line in self.lines)


def typed_chars(xev):
    """(arrival time, text) of each character xev received."""
    out = []
    with xev.lock:
        for t, line in xev.lines:
            line = line.strip()
            if line.startswith("XmbLookupString gives ") and ') "' in line:
                out.append((t, line.split(') "', 1)[1][:-1]))
    return out


def settle(typed, quiet=0.4, limit=20.0):
    """Waits until nothing has arrived for `quiet`; returns the characters so far."""
    start = time.monotonic()
    seen, since = len(typed()), time.monotonic()
    while time.monotonic() - start < limit:
        time.sleep(0.02)
        now = len(typed())
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return typed()


def trial(binary, listen, model, segment, seconds, env, typed, args, tmp):
    """One phrase: (release → final, release → last character, characters typed); `typed()`
    is every character the client has received so far, with its arrival time."""
    env = dict(env, RECH_OFFLINE="1")
    socket = tmp / "ptt.sock"
    control = ["--listen-on", str(socket)] if listen else ["--hotkey", "F9"]
    cmd = [binary, "dictate", "--input", str(segment), "--realtime", "--type", "--format", "jsonl",
           "-m", str(model), "--vad-model", str(VAD), "-t", str(args.threads)] + control + args.extra
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = Lines(child.stdout), Lines(child.stderr)
    try:
        err.wait("controls listening")
        before = len(typed())
        if listen:
            subprocess.run([binary, "dictate", "ctl", "start", "--socket", str(socket)], env=env,
                           check=True, stdout=subprocess.DEVNULL)
        else:
            subprocess.run(["xdotool", "keydown", "F9"], env=env, check=True)
        pressed = time.monotonic()
        err.wait("rech: listening", after=pressed - 1)
        time.sleep(max(0.0, pressed + seconds - time.monotonic()))
        released = time.monotonic()
        if listen:
            subprocess.run([binary, "dictate", "ctl", "stop", "--socket", str(socket)], env=env,
                           check=True, stdout=subprocess.DEVNULL)
        else:
            subprocess.run(["xdotool", "keyup", "F9"], env=env, check=True)
        final = out.wait('"final"', after=released) - released
        chars = settle(typed)[before:]
        typed = chars[-1][0] - released if chars else float("nan")
        return final, typed, len(chars)
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="GigaAM-v3 .onnx (or any model rech takes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hold-after", type=float, default=0.2,
                    help="seconds the key is held past the end of speech")
    ap.add_argument("--binary", action="append", default=[],
                    help="NAME=PATH, or NAME=PATH,listen for a binary without --hotkey")
    ap.add_argument("--extra", default="", help="more rech dictate arguments, space-separated")
    ap.add_argument("--cpu", action="store_true", help="CPU while waiting for the key instead")
    ap.add_argument("--display", choices=["x11", "sway"], default="x11")
    args = ap.parse_args()
    args.extra = args.extra.split()
    binaries = []
    for spec in args.binary or [f"after={ROOT / 'target/release/rech'}"]:
        name, rest = spec.split("=", 1)
        path, _, how = rest.partition(",")
        binaries.append((name, path, how == "listen" or args.display == "sway"))

    tmp = Path(tempfile.mkdtemp(prefix="rech-ptt-"))
    if args.cpu:
        return waiting_cpu(binaries[0][1], args, tmp)
    segments = []
    for name in RECORDINGS:
        rec = read_pcm(SHARED / f"audio/ru/human/{name}.wav")
        _, end = speech_bounds(rec)
        cut = min(len(rec), int((end + args.hold_after) * RATE))
        path = tmp / f"{name}.wav"
        write_pcm(path, rec[:cut])
        segments.append((name, path, cut / RATE, end))

    results = {name: [] for name, _, _ in binaries}
    with display_session(args.display) as (env, typed):
        for r in range(args.rounds):
            for name, binary, listen in binaries:
                for rec, path, seconds, end in segments:
                    final, typed_at, n = trial(binary, listen, args.model, path, seconds, env,
                                               typed, args, tmp)
                    results[name].append((final, typed_at))
                    print(f"round {r + 1} {name} {rec} ({seconds:.1f} s): release → final "
                          f"{final:.3f} s, → last character {typed_at:.3f} s ({n} characters)",
                          flush=True)
    print()
    print("| binary | phrases | release → final, median | p95 | release → last character typed, median | p95 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, rows in results.items():
        finals = [f for f, _ in rows]
        typed = [t for _, t in rows if t == t]
        print(f"| {name} | {len(rows)} | {statistics.median(finals):.3f} s | "
              f"{nearest_rank(finals, 0.95):.3f} s | {statistics.median(typed):.3f} s | "
              f"{nearest_rank(typed, 0.95):.3f} s |")


@contextlib.contextmanager
def display_session(kind):
    """A display server with a logging client that has the focus: (the environment that
    reaches it, a function giving every character the client has received so far)."""
    if kind == "sway":
        sway = Sway()
        log = sway.key_log()
        try:
            yield sway.env, lambda: list_chars(log)
        finally:
            log.close()
            sway.close()
        return
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-noreset", "-nolisten", "tcp",
                             "-screen", "0", "800x600x24"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    display = ":" + xvfb.stdout.readline().decode().strip()
    # A Russian layout: Cyrillic is typed with the layout's own keys, the fast case (a `us`
    # layout types it through spare keycodes; BENCHMARKS.md's typing section has both).
    subprocess.run(["setxkbmap", "-display", display, "-layout", "ru"], check=True)
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    xev_proc = subprocess.Popen(["stdbuf", "-oL", "xev", "-geometry", "800x600+0+0", "-event",
                                 "keyboard"], env=dict(env, LANG="C.UTF-8", LC_ALL="C.UTF-8"),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    xev = Lines(xev_proc.stdout)
    try:
        xev.wait("KeymapNotify event", limit=10)
        yield env, lambda: typed_chars(xev)
    finally:
        xev_proc.kill()
        xvfb.kill()


def list_chars(log):
    """(arrival time, character) of each character a bench/typing.py KeyLog received."""
    with log.lock:
        return list(log.chars)


def waiting_cpu(binary, args, tmp):
    mic = pulse_mic(tmp)
    if not mic:
        raise SystemExit("pulseaudio is not installed")
    env, stop, server = mic
    env["RECH_OFFLINE"] = "1"
    base = [binary, "-q", "dictate", "-m", args.model, "--vad-model", str(VAD),
            "-t", str(args.threads)]
    rows = [("push-to-talk, waiting, microphone kept open (200 ms ring)",
             ["--listen-on", str(tmp / "a.sock")]),
            ("push-to-talk, waiting, --mic-on-demand (closed)",
             ["--listen-on", str(tmp / "b.sock"), "--mic-on-demand"]),
            ("hands-free, listening to silence", [])]
    print("| state | CPU (one core = 100 %) |")
    print("| --- | ---: |")
    try:
        for label, extra in rows:
            pct = cpu_while(base + extra, env)
            print(f"| {label} | {pct:.2f} % |", flush=True)
    finally:
        stop.set()
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
