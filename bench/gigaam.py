#!/usr/bin/env python3
"""rech's GigaAM-v3 engine against onnx-asr 0.12.0 on the same full-size int8 model files
(`../shared/models/gigaam-v3-full-int8`: real dimensions, random weights) and the same audio,
side by side in one run, 2 threads each: wall time, real-time factor and peak RSS on the 106 s
recording (the `human/ru_00*` files joined with 1.5 s pauses) and on one hour of it; and
GigaAM against rech's own Whisper engine at base, small and medium-q8_0 dimensions on the same
106 s. Medians of --runs rounds (the hour: one round).

Usage: python3 bench/gigaam.py [--runs 3] [--hour] [--whisper] [--variant e2e_rnnt|ctc]
Needs: cargo build --release --workspace --bins --examples; scripts/install-deps.sh (its
.venv-test has onnx-asr and the onnxruntime wheel, whose library rech loads too);
/usr/bin/time; ../shared (or RECH_SHARED_DIR).
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

from suite import MAKE_MODEL, RECH, ROOT, SHARED, timed
from vs_whispercpp import joined_speech

VENV = ROOT / ".venv-test"
PYTHON = VENV / "bin/python"
FULL = SHARED / "models/gigaam-v3-full-int8"

ONNX_ASR = """
import sys, time, json, onnxruntime as ort, onnx_asr
name, path, wav = sys.argv[1:4]
so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
t0 = time.perf_counter()
m = onnx_asr.load_model(name, path, quantization="int8", sess_options=so)
t1 = time.perf_counter()
text = m.recognize(wav)
t2 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "recognize": t2 - t1, "chars": len(text)}))
"""


def ort_lib():
    found = sorted(VENV.glob("lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*"))
    if not found:
        sys.exit("no ONNX Runtime in .venv-test: run scripts/install-deps.sh")
    return found[0]


def unpack(work):
    dest = work / "gigaam-v3-full-int8"
    subprocess.run([str(FULL / "unpack.sh"), str(dest)], check=True)
    return dest


def repeat_wav(src, dst, times):
    with wave.open(str(src)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        for _ in range(times):
            w.writeframes(frames)


def median_row(label, runs, seconds):
    walls = [r[0] for r in runs]
    rss = [r[1] for r in runs]
    wall = statistics.median(walls)
    return {
        "label": label,
        "wall": wall,
        "walls": walls,
        "rtf": wall / seconds,
        "rss": statistics.median(rss),
    }


def rech_cmd(model, wav, extra=()):
    return [str(RECH), "transcribe", "-q", "-t", "2", "-m", str(model), *extra, str(wav)]


def onnx_asr_cmd(name, model_dir, wav):
    return [str(PYTHON), "-c", ONNX_ASR, name, str(model_dir), str(wav)]


def whisper_model(work, size):
    path = work / f"whisper-{size}.bin"
    if not path.exists():
        kind = ["--type", "q8_0"] if size == "medium" else []
        subprocess.run([str(MAKE_MODEL), size, str(path), "--decoder", "repeat", *kind],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hour", action="store_true", help="also one hour of speech (rech only)")
    ap.add_argument("--onnx-asr-hour", action="store_true", help="try onnx-asr on the hour too")
    ap.add_argument("--whisper", action="store_true", help="rech's Whisper engine too")
    ap.add_argument("--variant", default="e2e_rnnt", choices=["e2e_rnnt", "ctc"])
    args = ap.parse_args()
    if not RECH.exists():
        sys.exit(f"{RECH} missing: cargo build --release --workspace --bins --examples")
    os.environ["RECH_ORT_LIB"] = str(ort_lib())
    os.environ.setdefault("RECH_MODELS_DIR", str(ROOT / "target/bench-models"))
    vad = SHARED / "models/ggml-silero-v6.2.0.bin"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = unpack(work)
        first = {"e2e_rnnt": "v3_e2e_rnnt_encoder.int8.onnx", "ctc": "v3_ctc.int8.onnx"}
        model = model_dir / first[args.variant]
        name = "gigaam-v3-" + args.variant.replace("_", "-")
        wav = work / "speech.wav"
        seconds = joined_speech(wav)
        rows = []
        rounds = {"rech": [], "rech --vad-model": [], "onnx-asr": []}
        # Interleaved rounds, so that both see the same machine.
        for _ in range(args.runs):
            rounds["rech"].append(timed(rech_cmd(model, wav, ["--no-vad"]))[:2])
            rounds["rech --vad-model"].append(
                timed(rech_cmd(model, wav, ["--vad-model", str(vad)]))[:2])
            rounds["onnx-asr"].append(timed(onnx_asr_cmd(name, model_dir, wav))[:2])
        for label, runs in rounds.items():
            rows.append(median_row(f"{label}, {seconds:.0f} s", runs, seconds))
        if args.whisper:
            for size in ["base", "small", "medium"]:
                path = whisper_model(work, size)
                runs = [timed(rech_cmd(path, wav, ["--no-vad", "--no-fallback"]))[:2]
                        for _ in range(args.runs)]
                rows.append(median_row(f"rech Whisper {size}, {seconds:.0f} s", runs, seconds))
        if args.hour:
            hour = work / "hour.wav"
            times = int(3600 // seconds) + 1
            repeat_wav(wav, hour, times)
            h_seconds = seconds * times
            rows.append(median_row(f"rech, {h_seconds / 60:.0f} min",
                                   [timed(rech_cmd(model, hour, ["--no-vad"]))[:2]], h_seconds))
            if args.onnx_asr_hour:
                rows.append(median_row(f"onnx-asr, {h_seconds / 60:.0f} min",
                                       [timed(onnx_asr_cmd(name, model_dir, hour))[:2]],
                                       h_seconds))
        model_bytes = sum(f.stat().st_size for f in model_dir.glob(f"v3_{args.variant}*.int8.onnx"))
    print(f"GigaAM-v3 {args.variant} int8 (model files {model_bytes / 2**20:.0f} MiB), 2 threads, "
          f"medians of {args.runs}")
    print("| run | wall (s) | real-time factor | peak RSS (MiB) | walls |")
    print("| --- | ---: | ---: | ---: | --- |")
    for r in rows:
        walls = ", ".join(f"{w:.2f}" for w in r["walls"])
        print(f"| {r['label']} | {r['wall']:.2f} | {r['rtf']:.3f} | {r['rss']:.0f} | {walls} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
