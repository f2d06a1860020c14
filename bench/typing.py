#!/usr/bin/env python3
"""Typing benchmark for `rech dictate --type`: how many characters per second each backend
types into a real client with every character right, and the latency from a final event to
its last character arriving in the client.

The display servers are the tests' own: Xvfb with a `us` and with a `ru` layout (xev as the
client) and headless sway (wev as the client, `wtype -` holding a keyboard on the seat, as a
real machine has one). Throughput types a 2,000-character Russian text with the `type`
example of rech-typer, at several per-key delays, and checks it character by character.
Latency runs the real `rech dictate --type -f jsonl` on shared speech (several finals per
recording) and takes, for each final, the time from its JSON line on rech's stdout to its
last character in the client's log; both are timestamped by this script as they are read.

Usage: python3 bench/typing.py [--rounds 3]
Needs: cargo build --release -p rech-cli && cargo build --release -p rech-typer --example type
       && cargo build --release -p rech-ggml --example make-test-model;
the packages scripts/install-deps.sh installs; ../shared (or RECH_SHARED_DIR).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("RECH_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
RELEASE = os.path.join(ROOT, "target", "release")
PHRASE = "Съешь же ещё этих мягких французских булок, да выпей чаю — 25%! «Ёж» №7. "


class KeyLog:
    """A logging client's characters, each with the moment its line was read."""

    def __init__(self, argv, env, parser, ready):
        self.proc = subprocess.Popen(["stdbuf", "-oL"] + argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.chars = []
        self.ready = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(parser, ready), daemon=True).start()
        if not self.ready.wait(10):
            self.close()
            sys.exit("bench: the logging client never got the focus")

    def _read(self, parser, ready):
        pressed = False
        for line in self.proc.stdout:
            now = time.monotonic()
            if ready in line:
                self.ready.set()
            text = None
            if parser == "xev":
                rest = line.strip()
                if rest.startswith("XmbLookupString gives ") and ') "' in rest:
                    text = rest.split(') "', 1)[1][:-1]
            else:
                if "wl_keyboard] key:" in line:
                    pressed = "(pressed)" in line
                elif pressed and "utf8: '" in line:
                    pressed = False
                    text = line.rstrip("\n").split("utf8: '", 1)[1][:-1]
            if text:
                with self.lock:
                    self.chars.extend((now, c) for c in text)

    def count(self):
        with self.lock:
            return len(self.chars)

    def take(self):
        with self.lock:
            got, self.chars = self.chars, []
            return got

    def wait_for(self, n, limit):
        deadline = time.monotonic() + limit
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.2)
        return self.take()

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Xvfb:
    def __init__(self, layout):
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", "1", "-noreset", "-screen", "0",
                                      "800x600x24", "-nolisten", "tcp"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.display = ":" + self.proc.stdout.readline().strip()
        subprocess.run(["setxkbmap", "-display", self.display, layout], check=True)
        self.env = dict(os.environ, DISPLAY=self.display)
        self.env.pop("WAYLAND_DISPLAY", None)

    def key_log(self):
        return KeyLog(["xev", "-geometry", "800x600+0+0", "-event", "keyboard"],
                      dict(self.env, LANG="C.UTF-8", LC_ALL="C.UTF-8"), "xev",
                      "KeymapNotify event")

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Sway:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rech-bench-sway-")
        config = os.path.join(self.dir, "config")
        with open(config, "w") as f:
            f.write("output HEADLESS-1 resolution 800x600\n")
        os.chmod(config, 0o644)
        argv = ["sway", "-c", config]
        if os.getuid() == 0:
            # sway refuses to run as root.
            os.chown(self.dir, 65534, 65534)
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
        os.chmod(self.dir, 0o700)
        env = dict(os.environ, XDG_RUNTIME_DIR=self.dir, HOME=self.dir, WLR_BACKENDS="headless",
                   WLR_LIBINPUT_NO_DEVICES="1", WLR_RENDERER="pixman")
        env.pop("DISPLAY", None)
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        socket = None
        for _ in range(500):
            names = [n for n in os.listdir(self.dir)
                     if n.startswith("wayland-") and not n.endswith(".lock")]
            if names:
                socket = names[0]
                break
            time.sleep(0.02)
        if socket is None:
            sys.exit("bench: sway did not start")
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.dir, WAYLAND_DISPLAY=socket)
        self.env.pop("DISPLAY", None)
        self.keyboard = subprocess.Popen(["wtype", "-"], env=self.env, stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def key_log(self):
        return KeyLog(["wev"], self.env, "wev", "wl_keyboard] enter:")

    def close(self):
        self.keyboard.kill()
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def throughput(session, backend, delay_ms, chars):
    """Characters per second: as the display server took them (the `type` example's own
    time, up to the server's acknowledgement), and from the start of the `type` process to
    the last character in the client; and whether every character arrived right."""
    text = (PHRASE * (chars // len(PHRASE) + 1))[:chars]
    log = session.key_log()
    try:
        started = time.monotonic()
        done = subprocess.run([os.path.join(RELEASE, "examples", "type"), "--typer", backend,
                               "--delay", str(delay_ms), text], env=session.env, check=True,
                              stderr=subprocess.PIPE, text=True)
        got = log.wait_for(len(text), 60)
    finally:
        log.close()
    # "type: N characters with B in S s"
    server_seconds = float(done.stderr.split(" in ")[-1].split(" s")[0])
    typed = "".join(c for _, c in got)
    if not got:
        return 0.0, 0.0, False
    return len(text) / server_seconds, len(got) / (got[-1][0] - started), typed == text


def latency(session, backend, model, inputs):
    """For each final of `rech dictate --type`: seconds from its JSON line to its last
    character in the client."""
    log = session.key_log()
    results = []
    try:
        for wav in inputs:
            argv = [os.path.join(RELEASE, "rech"), "dictate", "--no-vad", "-t", "1", "-f",
                    "jsonl", "-m", model, "--max-utterance", "2", "--input", wav, "--type",
                    "--typer", backend]
            proc = subprocess.Popen(argv, env=dict(session.env, RECH_OFFLINE="1"),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True)
            finals = []
            for line in proc.stdout:
                now = time.monotonic()
                event = json.loads(line)
                if event["type"] == "final":
                    finals.append((now, event["text"] + " "))
            proc.wait()
            if backend == "clipboard":
                # One Control+V per phrase reaches the client.
                got = log.wait_for(len(finals), 10)
                results += [t - at for (at, _), (t, _) in zip(finals, got)]
                continue
            want = sum(len(text) for _, text in finals)
            got = log.wait_for(want, 30)
            typed = "".join(c for _, c in got)
            wanted = "".join(text for _, text in finals)
            if typed != wanted:
                at = next((i for i, (a, b) in enumerate(zip(typed, wanted)) if a != b),
                          min(len(typed), len(wanted)))
                sys.exit(f"bench: {backend} typed something else than the finals of {wav} at "
                         f"{at}: {typed[max(0, at - 10):at + 10]!r} for "
                         f"{wanted[max(0, at - 10):at + 10]!r} ({len(typed)} of {len(wanted)})")
            position = 0
            for at, text in finals:
                position += len(text)
                results.append(got[position - 1][0] - at)
    finally:
        log.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--only", choices=["speed", "latency"])
    args = parser.parse_args()
    model = os.path.join(tempfile.gettempdir(), "rech-bench-typing-micro.bin")
    maker = os.path.join(RELEASE, "examples", "make-test-model")
    subprocess.run([maker, "micro", model, "--decoder", "random"], check=True,
                   stdout=subprocess.DEVNULL)
    inputs = [os.path.join(SHARED, "audio", "ru", "human", f"ru_00{n}.wav")
              for n in ("24", "25", "31", "32", "35")]
    sessions = [("x11", "us", lambda: Xvfb("us")), ("x11", "ru", lambda: Xvfb("ru")),
                ("wayland", "-", Sway), ("clipboard", "ru", lambda: Xvfb("ru"))]
    print(f"| backend | layout | delay | chars/s taken by the server | chars/s in the client "
          f"(median of {args.rounds}) | exact |")
    print("|---|---|---|---|---|---|")
    for backend, layout, make in sessions[:3] if args.only != "latency" else []:
        for delay in (0, 1, 5):
            server, client, exact = [], [], True
            for _ in range(args.rounds):
                session = make()
                try:
                    taken, seen, ok = throughput(session, backend, delay, args.chars)
                finally:
                    session.close()
                server.append(taken)
                client.append(seen)
                exact &= ok
            print(f"| {backend} | {layout} | {delay} ms | {statistics.median(server):,.0f} | "
                  f"{statistics.median(client):,.0f} | {'yes' if exact else 'NO'} |", flush=True)
    print()
    print("| backend | layout | finals | latency p50 | p95 | max |")
    print("|---|---|---|---|---|---|")
    for backend, layout, make in sessions if args.only != "speed" else []:
        values = []
        for _ in range(args.rounds):
            session = make()
            try:
                values += latency(session, backend, model, inputs)
            finally:
                session.close()
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"| {backend} | {layout} | {len(values)} | {statistics.median(values) * 1000:.1f} ms"
              f" | {p95 * 1000:.1f} ms | {values[-1] * 1000:.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
