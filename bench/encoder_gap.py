#!/usr/bin/env python3
"""rech's encoder against faster-whisper's, and the CPU options that decide rech's defaults.

One run, everything interleaved round by round so that the machine's noise falls on every row
alike; figures are medians.

1. Encoder time per 30 s window (the first 30 s of the joined recordings, zero-padded), base
   dimensions: whisper.cpp as rech links it (examples/encoder-speed) with f16, q8_0, q5_1
   and q4_0 weights, flash attention off (rech's default) and on, 1 and 2 threads, and built
   with OpenBLAS when target/openblas holds such a build; faster-whisper (PyPI) with
   ../shared/models/ct2-base-random-int8 as int8 and as float32, 1 and 2 threads.
2. Decoder cost per token on that window, which random weights cannot disturb: whisper.cpp's
   greedy loop (examples/encoder-speed --decode-tokens: one whisper_decode per token, feeding
   back the most likely token) and CTranslate2's greedy generate with the end-of-text token
   suppressed, timed for 4 and 224 tokens (the difference divided by 220). With the
   tokens per 30 s of the reference transcripts in ../shared/audio/ru/manifest.tsv (Whisper's
   tokenizer), encoder + tokens × per-token gives each engine's time per window of Russian
   speech.
3. End to end on the ~105 s of joined recordings (greedy, no temperature fallback, no VAD):
   `rech transcribe`, the same whisper.cpp through a minimal direct whisper-rs call (which
   reports its token count), and faster-whisper. Random weights make each engine emit a
   different, chaotic number of tokens, so these walls are not a like-for-like comparison;
   the encoder table is.
4. Voice-activity detection over the same audio: whisper.cpp's Silero (as rech used to call
   it) against rech's own Silero forward pass (examples/vad-speed, when built), and
   faster-whisper's ONNX Silero.

Usage: python3 bench/encoder_gap.py [--rounds 5] [--e2e-rounds 2] [--skip-e2e] [--skip-vad]
                                   [--skip-decoder]
Needs: cargo build --release --workspace --bins --examples; pip install
faster-whisper; ../shared (or RECH_SHARED_DIR).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The same ~105 s of audio as the whisper.cpp comparison (this directory is on sys.path).
from vs_whispercpp import joined_speech

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECH_SHARED_DIR", ROOT.parent / "shared"))
REL = ROOT / "target/release"
RECH = REL / "rech"
MAKE_MODEL = REL / "examples/make-test-model"
ENCODER = REL / "examples/encoder-speed"
DIRECT = REL / "examples/whisper-rs-direct"
VAD_SPEED = REL / "examples/vad-speed"
# The same example built with whisper-rs's `openblas` feature, when there is one:
#   CARGO_TARGET_DIR=target/openblas cargo build --release -p rech-whisper --example encoder-speed \
#       --features whisper-rs/openblas        (needs libopenblas-dev)
BLAS_ENCODER = ROOT / "target/openblas/release/examples/encoder-speed"
CT2 = SHARED / "models/ct2-base-random-int8"
SILERO = SHARED / "models/ggml-silero-v6.2.0.bin"

FW_RUNNER = r"""
import json, sys, time
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio, pad_or_trim
mode, model_path, wav, compute_type, threads, rounds = sys.argv[1:7]
threads, rounds = int(threads), int(rounds)
audio = decode_audio(wav)
if mode == "vad":
    from faster_whisper.vad import get_speech_timestamps, VadOptions
    get_speech_timestamps(audio[:16000], VadOptions())
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        spans = get_speech_timestamps(audio, VadOptions())
        times.append(time.perf_counter() - t)
    print(json.dumps({"vad_s": times, "spans": len(spans)}))
    sys.exit()
m = WhisperModel(model_path, device="cpu", compute_type=compute_type, cpu_threads=threads)
if mode == "encode":
    features = pad_or_trim(m.feature_extractor(audio[:480000]))
    m.encode(features)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        m.encode(features)
        times.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"encode_ms": times}))
elif mode == "decode":
    # CTranslate2 generates at most max_length / 2 tokens; with end-of-text suppressed it
    # generates exactly that many, so the difference between two lengths is the decoder alone.
    encoded = m.encode(pad_or_trim(m.feature_extractor(audio[:480000])))
    tok = m.hf_tokenizer
    prompt = [tok.token_to_id(t) for t in
              ("<|startoftranscript|>", "<|ru|>", "<|transcribe|>", "<|notimestamps|>")]
    eot = tok.token_to_id("<|endoftext|>")
    def generate(max_length):
        t = time.perf_counter()
        r = m.model.generate(encoded, [prompt], beam_size=1, max_length=max_length,
                             suppress_tokens=[eot], suppress_blank=False)
        return time.perf_counter() - t, len(r[0].sequences_ids[0])
    generate(8)
    per_token = []
    for _ in range(rounds):
        short, n_short = generate(8)
        long, n_long = generate(448)
        per_token.append((long - short) * 1000 / (n_long - n_short))
    print(json.dumps({"decode_ms_per_token": per_token, "tokens": [n_short, n_long]}))
else:
    t = time.perf_counter()
    segments, _ = m.transcribe(audio, language="ru", beam_size=1, best_of=1, temperature=0.0,
                               vad_filter=False)
    segments = list(segments)
    wall = time.perf_counter() - t
    print(json.dumps({"transcribe": wall, "tokens": sum(len(s.tokens) for s in segments)}))
"""


def model(kind, decoder):
    cache = ROOT / "target/bench-models"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"base-{decoder}-{kind}.bin"
    if not path.exists():
        subprocess.run([str(MAKE_MODEL), "base", str(path), "--decoder", decoder, "--type", kind],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def run_json(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd[:3]))} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fw(mode, audio, compute_type="int8", threads=2, rounds=1):
    return run_json([sys.executable, "-c", FW_RUNNER, mode, str(CT2), str(audio), compute_type,
                     str(threads), str(rounds)])


def encoder_rows(audio, rounds):
    rows = []
    # f32 is not measured: the whisper.cpp rech links aborts on f32 convolution kernels.
    for kind in ("f16", "q8_0", "q5_1", "q4_0"):
        rows.append((f"whisper.cpp {kind}, 2 threads", "rech", kind, 2, False))
    rows.append(("whisper.cpp f16, 1 thread", "rech", "f16", 1, False))
    rows.append(("whisper.cpp f16, flash attention, 2 threads", "rech", "f16", 2, True))
    if BLAS_ENCODER.exists():
        rows.append(("whisper.cpp f16, OpenBLAS, 2 threads", "blas", "f16", 2, False))
        rows.append(("whisper.cpp q8_0, OpenBLAS, 2 threads", "blas", "q8_0", 2, False))
    rows.append(("faster-whisper int8, 2 threads", "fw", "int8", 2, None))
    rows.append(("faster-whisper float32, 2 threads", "fw", "float32", 2, None))
    rows.append(("faster-whisper int8, 1 thread", "fw", "int8", 1, None))
    times = {r[0]: [] for r in rows}
    for r in range(rounds):
        order = rows[r % len(rows):] + rows[:r % len(rows)]
        for name, engine, kind, threads, flash in order:
            if engine in ("rech", "blas"):
                exe = ENCODER if engine == "rech" else BLAS_ENCODER
                cmd = [str(exe), str(model(kind, "eot")), str(audio), "--threads",
                       str(threads), "--rounds", "2"] + ([] if flash else ["--no-flash"])
                times[name] += run_json(cmd)["encode_ms"]
            else:
                times[name] += fw("encode", audio, kind, threads, 2)["encode_ms"]
        print(f"encoder round {r + 1}/{rounds} done", file=sys.stderr)
    reference = statistics.median(times["faster-whisper int8, 2 threads"])
    print("| encoder, one 30 s window, base dimensions | median | × faster-whisper int8 (2 threads) |")
    print("| --- | --- | --- |")
    for name, *_ in rows:
        m = statistics.median(times[name])
        print(f"| {name} | {m / 1000:.2f} s | {m / reference:.2f} |")
    print()
    return {name: statistics.median(v) / 1000 for name, v in times.items()}


def tokens_per_window():
    """Whisper tokens per 30 s in the reference transcripts of the human recordings."""
    import csv

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(CT2 / "tokenizer.json"))
    tokens = seconds = 0
    with open(SHARED / "audio/ru/manifest.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["path"].startswith("human/ru_"):
                tokens += len(tokenizer.encode(" " + row["reference"],
                                               add_special_tokens=False).ids)
                seconds += float(row["seconds"])
    return tokens * 30 / seconds


def decoder_rows(audio, rounds, encoder):
    rows = [
        ("whisper.cpp f16, 2 threads", "rech", "f16"),
        ("whisper.cpp q8_0, 2 threads", "rech", "q8_0"),
        ("faster-whisper int8, 2 threads", "fw", "int8"),
        ("faster-whisper float32, 2 threads", "fw", "float32"),
    ]
    per_token = {r[0]: [] for r in rows}
    for r in range(rounds):
        order = rows[r % len(rows):] + rows[:r % len(rows)]
        for name, engine, kind in order:
            if engine == "rech":
                out = run_json([str(ENCODER), str(model(kind, "eot")), str(audio), "--threads",
                                "2", "--rounds", "1", "--no-flash", "--decode-tokens", "220"])
                per_token[name].append(out["decode_ms_per_token"])
            else:
                per_token[name] += fw("decode", audio, kind, 2, 1)["decode_ms_per_token"]
        print(f"decoder round {r + 1}/{rounds} done", file=sys.stderr)
    window_tokens = tokens_per_window()
    reference = "faster-whisper int8, 2 threads"
    ref_token = statistics.median(per_token[reference])
    ref_window = encoder[reference] + window_tokens * ref_token / 1000
    print(f"| greedy decoder, base dimensions | median per token | × faster-whisper int8 | "
          f"window of Russian speech: encoder + {window_tokens:.0f} tokens | "
          f"× faster-whisper int8 |")
    print("| --- | --- | --- | --- | --- |")
    for name, *_ in rows:
        m = statistics.median(per_token[name])
        window = encoder[name] + window_tokens * m / 1000
        print(f"| {name} | {m:.1f} ms | {m / ref_token:.2f} | {window:.2f} s | "
              f"{window / ref_window:.2f} |")
    print()


def e2e_rows(audio, seconds, rounds):
    rows = [
        ("rech transcribe, f16", "rech", "f16"),
        ("rech transcribe, q8_0", "rech", "q8_0"),
        ("whisper.cpp direct, f16, flash attention", "direct", "f16"),
        ("whisper.cpp direct, f16, no flash attention", "direct-noflash", "f16"),
        ("whisper.cpp direct, q8_0, flash attention", "direct", "q8_0"),
        ("whisper.cpp direct, q8_0, no flash attention", "direct-noflash", "q8_0"),
        ("faster-whisper int8", "fw", "int8"),
    ]
    walls = {r[0]: [] for r in rows}
    tokens = {r[0]: [] for r in rows}
    for r in range(rounds):
        order = rows[r % len(rows):] + rows[:r % len(rows)]
        for name, engine, kind in order:
            if engine == "rech":
                t = time.perf_counter()
                subprocess.run([str(RECH), "transcribe", "-q", "--no-vad", "-m",
                                str(model(kind, "random")), "-t", "2", "--no-fallback",
                                "-l", "ru", "-o", "-", "-f", "txt", str(audio)],
                               check=True, stdout=subprocess.DEVNULL,
                               env=dict(os.environ, RECH_OFFLINE="1"))
                walls[name].append(time.perf_counter() - t)
            elif engine.startswith("direct"):
                flash = [] if engine == "direct" else ["--no-flash"]
                out = run_json([str(DIRECT), str(model(kind, "random")), str(audio), "2", *flash])
                walls[name].append(out["transcribe"])
                tokens[name].append(out["tokens"])
            else:
                out = fw("full", audio, kind, 2)
                walls[name].append(out["transcribe"])
                tokens[name].append(out["tokens"])
        print(f"end-to-end round {r + 1}/{rounds} done", file=sys.stderr)
    # Random weights decode a chaotic number of tokens, and both engines also decode windows
    # they then drop as silence, so a per-token figure from these runs is not reliable: the
    # table gives the walls and the tokens kept, for the record.
    print(f"| end to end, {seconds:.1f} s, greedy, no fallback, 2 threads | median wall | RTF | "
          "tokens kept |")
    print("| --- | --- | --- | --- |")
    for name, engine, kind in rows:
        wall = statistics.median(walls[name])
        tok = f"{statistics.median(tokens[name]):.0f}" if tokens[name] else "(not reported)"
        print(f"| {name} | {wall:.1f} s | {wall / seconds:.3f} | {tok} |")
    print()


def vad_rows(audio, rounds):
    """whisper.cpp's Silero and rech's (examples/vad-speed, alternating inside one process),
    then faster-whisper's ONNX Silero, over the same audio, one thread each."""
    import re

    proc = subprocess.run([str(VAD_SPEED), "--rounds", str(rounds), "--model", str(SILERO),
                           str(audio)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"vad-speed failed: {proc.stderr.strip()[-2000:]}")
    m = re.search(r"median: whisper.cpp ([0-9.]+) s, rech ([0-9.]+) s", proc.stdout)
    diff = re.search(r"max \|p_whisper.cpp - p_rech\| over all frames: (\S+)", proc.stdout)
    whisper_cpp, rech = float(m.group(1)), float(m.group(2))
    onnx = []
    for _ in range(rounds):
        onnx += fw("vad", audio, rounds=1)["vad_s"]
    onnx_median = statistics.median(onnx)
    print("| voice-activity detection over the same audio, 1 thread | median | × rech |")
    print("| --- | --- | --- |")
    print(f"| whisper.cpp's Silero (ggml, what rech called before) | {whisper_cpp:.3f} s | "
          f"{whisper_cpp / rech:.1f} |")
    print(f"| rech's own Silero forward pass | {rech:.3f} s | 1.0 |")
    print(f"| faster-whisper's ONNX Silero | {onnx_median:.3f} s | {onnx_median / rech:.1f} |")
    print()
    if diff:
        print(f"Largest per-frame probability difference, whisper.cpp vs rech: {diff.group(1)}.")
        print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--e2e-rounds", type=int, default=2)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--skip-vad", action="store_true")
    ap.add_argument("--skip-decoder", action="store_true")
    args = ap.parse_args()
    for p in (RECH, MAKE_MODEL, ENCODER, DIRECT, CT2, SILERO):
        if not p.exists():
            sys.exit(f"missing {p} (see the usage line)")
    print(f"load before: {open('/proc/loadavg').read().strip()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "joined.wav"
        seconds = joined_speech(audio)
        encoder = encoder_rows(audio, args.rounds)
        if not args.skip_decoder:
            decoder_rows(audio, args.rounds, encoder)
        if not args.skip_e2e:
            e2e_rows(audio, seconds, args.e2e_rounds)
        if not args.skip_vad:
            vad_rows(audio, args.rounds)
    print(f"load after: {open('/proc/loadavg').read().strip()}", file=sys.stderr)


if __name__ == "__main__":
    main()
