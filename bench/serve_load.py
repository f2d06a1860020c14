#!/usr/bin/env python3
"""`rech serve` under load, side by side with whisper.cpp's own `whisper-server` on the same
generated Whisper model and audio: requests per minute and latency p50/p95 at 1, 2 and 8
concurrent clients, and each server's peak RSS.

The request set is 20 short shared recordings and 2 long ones (made by joining shared
recordings), each sent once per round; the servers are measured alternately, several rounds,
and medians are reported. The model is generated with the decoder pinned to end each window at
once (`--decoder eot`), so that both servers do the same work whatever random weights would
decode: one encoder pass and a few decoder steps per 30 s window. VAD is off on both
(whisper-server has none by default).

Usage: python3 bench/serve_load.py --whisper-server PATH [--rounds 3] [--size tiny]
Needs: cargo build --release -p rech-cli && cargo build --release -p rech-ggml --example make-test-model;
whisper-server built from whisper.cpp's source at the tag whisper-rs bundles (v1.8.3), outside
this repository (see BENCHMARKS.md); ../shared (or RECH_SHARED_DIR).
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECH_SHARED_DIR", ROOT.parent / "shared"))
RECH = ROOT / "target/release/rech"
MAKE_MODEL = ROOT / "target/release/examples/make-test-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_wavs(sources, seconds: float, out: Path) -> Path:
    frames = b""
    want = int(seconds * 16000) * 2
    while len(frames) < want:
        for src in sources:
            with wave.open(str(src)) as w:
                if w.getframerate() == 16000 and w.getnchannels() == 1:
                    frames += w.readframes(w.getnframes())
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames[:want])
    return out


def multipart(fields: dict, name: str, data: bytes):
    boundary = uuid.uuid4().hex
    body = b""
    for key, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


class Server:
    def __init__(self, name, argv, path, fields, port):
        self.name, self.path, self.fields, self.port = name, path, fields, port
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "RECH_OFFLINE": "1", "RECH_MODELS_DIR": "/nonexistent"},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{name} did not start")

    def post(self, file: Path) -> float:
        content_type, body = multipart(self.fields, file.name, file.read_bytes())
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request("POST", self.path, body, {"Content-Type": content_type})
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"{self.name}: {response.status} {payload[:200]!r}")
        json.loads(payload)
        return time.perf_counter() - started

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def load(server: Server, files, clients: int):
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(server.post, files))
    wall = time.perf_counter() - started
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
    return {"rpm": len(files) / wall * 60, "p50": statistics.median(latencies), "p95": p95}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--whisper-server", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--clients", default="1,2,8")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    cores = os.cpu_count() or 2

    tmp = Path(tempfile.mkdtemp(prefix="rech-serve-bench-"))
    model = tmp / f"{args.size}-eot.bin"
    subprocess.run([MAKE_MODEL, args.size, model, "--decoder", "eot"], check=True, stdout=subprocess.DEVNULL)
    manifest = (SHARED / "audio/ru/manifest.tsv").read_text().splitlines()[1:]
    recordings = [SHARED / "audio/ru" / line.split("\t")[0] for line in manifest]
    short = recordings[:20]
    human = [r for r in recordings if "/human/" in str(r)]
    long = [join_wavs(human, 120, tmp / "long-120s.wav"), join_wavs(human[3:] + human[:3], 300, tmp / "long-300s.wav")]
    files = short + long
    audio_seconds = 0.0
    for f in files:
        with wave.open(str(f)) as w:
            audio_seconds += w.getnframes() / w.getframerate()

    configs = {
        f"rech serve -w 2 -t {max(1, cores // 2)}": lambda port: Server(
            "rech", [RECH, "serve", "-m", model, "--no-vad", "-q", "-w", "2", "-t", str(max(1, cores // 2)), "--port", str(port)],
            "/v1/audio/transcriptions", {"model": "whisper-1", "response_format": "json"}, port),
        f"rech serve -w 1 -t {cores}": lambda port: Server(
            "rech", [RECH, "serve", "-m", model, "--no-vad", "-q", "-w", "1", "-t", str(cores), "--port", str(port)],
            "/v1/audio/transcriptions", {"model": "whisper-1", "response_format": "json"}, port),
        f"whisper-server -t {cores}": lambda port: Server(
            "whisper-server", [args.whisper_server, "-m", model, "-l", "ru", "-t", str(cores), "--port", str(port)],
            "/inference", {"response_format": "json"}, port),
    }
    results = {name: {c: [] for c in levels} for name in configs}
    rss = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, make in configs.items():
            server = make(free_port())
            try:
                server.post(files[0])  # warm up
                for clients in levels:
                    results[name][clients].append(load(server, files, clients))
                rss[name].append(server.peak_rss_mib())
            finally:
                server.stop()

    print(f"{len(files)} requests per level ({len(short)} short, {len(long)} long; {audio_seconds:.0f} s of audio), "
          f"{args.size} model (random weights, decoder pinned to end of text), {args.rounds} rounds, medians\n")
    print("| server | clients | requests/min | p50 latency (s) | p95 latency (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for name in configs:
        for clients in levels:
            runs = results[name][clients]
            med = {k: statistics.median(r[k] for r in runs) for k in ("rpm", "p50", "p95")}
            print(f"| {name} | {clients} | {med['rpm']:.0f} | {med['p50']:.3f} | {med['p95']:.3f} | {statistics.median(rss[name]):.0f} |")
    base = f"whisper-server -t {cores}"
    for name in configs:
        if name == base:
            continue
        for clients in levels:
            ratio = statistics.median(r["rpm"] for r in results[name][clients]) / statistics.median(r["rpm"] for r in results[base][clients])
            p95 = statistics.median(r["p95"] for r in results[name][clients]) / statistics.median(r["p95"] for r in results[base][clients])
            print(f"{name} / {base} at {clients} clients: throughput ×{ratio:.2f}, p95 latency ×{p95:.2f}")


if __name__ == "__main__":
    sys.exit(main())
