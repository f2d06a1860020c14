#!/usr/bin/env python3
"""`rech serve` memory and throughput by worker count (issue 27): for each `-w N`, the server's
resident memory once started (idle), its peak while N clients each send the 106 s recording at
once, and its throughput (requests per minute) with 4 clients sending it 8 times in all.

The 106 s recording is the shared `human/ru_00*` files joined with 1.5 s of silence between
them, as in bench/gigaam.py. VAD is off, so that every worker count does the same work. Two
builds of rech can be compared side by side (`--binary NAME=PATH`, repeated; e.g. a build of
the commit before a change): they alternate within each round, and the medians of --rounds are
reported.

Usage: python3 bench/serve_workers.py --model PATH [--workers 1,2,4] [--rounds 3]
         [--threads T] [--binary NAME=PATH]... [--extra "SERVE ARGS"]
Needs: cargo build --release -p rech-cli; RECH_ORT_LIB for a GigaAM model; ../shared (or
RECH_SHARED_DIR).
"""
import argparse
import concurrent.futures
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import RECH, SHARED, Server, free_port  # noqa: E402


def passage(out: Path) -> Path:
    """The human/ru_00* recordings joined with 1.5 s of silence: the 106 s recording."""
    frames = b""
    for src in sorted((SHARED / "audio/ru/human").glob("ru_00*.wav")):
        with wave.open(str(src)) as w:
            frames += w.readframes(w.getnframes()) + b"\0\0" * 24000
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)
    return out


def rss_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(rech: str, model: str, workers: int, threads, recording: Path, extra=()) -> dict:
    port = free_port()
    argv = [rech, "serve", "-m", model, "--no-vad", "-w", str(workers),
            "--port", str(port), "--queue", "16", *extra]
    if threads:
        argv += ["-t", str(threads)]
    server = Server("rech", argv, "/v1/audio/transcriptions", {"model": "whisper-1"}, port)
    try:
        time.sleep(1)
        idle = rss_mib(server.proc.pid, "VmRSS")
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(server.post, [recording] * workers))
        peak = rss_mib(server.proc.pid, "VmHWM")
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(server.post, [recording] * 8))
        rpm = 8 / (time.perf_counter() - started) * 60
        return {"idle": idle, "peak": peak, "rpm": rpm}
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--extra", default="", help="more `rech serve` arguments, space-separated")
    ap.add_argument("--binary", action="append", default=[],
                    help="NAME=PATH: a build of rech to measure (repeat to compare builds)")
    args = ap.parse_args()
    variants = dict(spec.split("=", 1) for spec in args.binary) or {"rech": str(RECH)}
    workers = [int(w) for w in args.workers.split(",")]
    results = {(v, w): [] for v in variants for w in workers}
    with tempfile.TemporaryDirectory() as tmp:
        recording = passage(Path(tmp) / "passage.wav")
        for round_ in range(args.rounds):
            for w in workers:
                for name, rech in variants.items():
                    r = measure(rech, args.model, w, args.threads, recording,
                                args.extra.split())
                    results[(name, w)].append(r)
                    print(f"round {round_ + 1}: {name} -w {w}: idle {r['idle']:.0f} MiB, "
                          f"peak {r['peak']:.0f} MiB, {r['rpm']:.2f} requests/min",
                          file=sys.stderr)
    print("| variant | workers | idle RSS (MiB) | peak RSS (MiB) | peak / peak at -w 1 "
          "| requests/min, 4 clients |")
    print("|:--|--:|--:|--:|--:|--:|")
    for name in variants:
        base = statistics.median(r["peak"] for r in results[(name, workers[0])])
        for w in workers:
            rows = results[(name, w)]
            peak = statistics.median(r["peak"] for r in rows)
            print(f"| {name} | {w} | {statistics.median(r['idle'] for r in rows):.0f} "
                  f"| {peak:.0f} | {peak / base:.2f} "
                  f"| {statistics.median(r['rpm'] for r in rows):.2f} |")


if __name__ == "__main__":
    main()
