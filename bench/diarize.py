#!/usr/bin/env python3
"""The cost of speaker labels by voice: `rech transcribe --diarize voices` against the same
transcription without it, side by side in one run (2 threads, whole processes, rounds
interleaved, medians), on the 106 s recording (the `human/ru_00*` files joined with 1.5 s
pauses) and, with --hour, on one hour of it; and the diarization alone in sherpa-onnx's offline
diarization and in pyannote.audio's pipeline, on the same ONNX files.

Models: the full-size GigaAM-v3 e2e RNN-T int8 (`../shared/models/gigaam-v3-full-int8`, real
dimensions, random weights) and the speaker models at their real widths with random weights,
made by `scripts/make-diarize-models.py OUT --full` (segmentation-full.onnx, 5.9 MB;
embedding-full.onnx, WeSpeaker ResNet34, 26.5 MB).

Usage: python3 bench/diarize.py --models OUT [--runs 3] [--hour]
           [--sherpa-python PY] [--pyannote-python PY]
Needs: cargo build --release -p rech-cli; scripts/install-deps.sh (ONNX Runtime);
/usr/bin/time; ../shared (or RECH_SHARED_DIR). --sherpa-python: a Python with sherpa-onnx
(pip install sherpa-onnx==2.0.1); --pyannote-python: .venv-models/bin/python
(scripts/install-diarize-deps.sh).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gigaam import ort_lib, repeat_wav, unpack
from suite import RECH, timed
from vs_whispercpp import joined_speech

SHERPA = """
import json, sys, time, wave
import numpy as np, sherpa_onnx
seg, emb, wav = sys.argv[1:4]
with wave.open(wav) as w:
    samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
config = sherpa_onnx.OfflineSpeakerDiarizationConfig(
    segmentation=sherpa_onnx.OfflineSpeakerSegmentationModelConfig(
        pyannote=sherpa_onnx.OfflineSpeakerSegmentationPyannoteModelConfig(model=seg),
        num_threads=2),
    embedding=sherpa_onnx.SpeakerEmbeddingExtractorConfig(model=emb, num_threads=2),
    clustering=sherpa_onnx.FastClusteringConfig(num_clusters=-1, threshold=0.5))
t0 = time.perf_counter()
sd = sherpa_onnx.OfflineSpeakerDiarization(config)
turns = sd.process(samples).sort_by_start_time()
print(json.dumps({"seconds": time.perf_counter() - t0, "turns": len(turns)}))
"""

# pyannote.audio's SpeakerDiarization (3.1's parameters) with both networks run by ONNX
# Runtime on 2 threads: the segmentation network's forward replaced by the ONNX file's, as
# scripts/make-diarize-models.py does for the fixtures.
PYANNOTE = """
import json, shutil, sys, tempfile, time, wave
from pathlib import Path
import numpy as np, onnxruntime as ort, torch
from pyannote.audio.models.segmentation import PyanNet
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.pipelines import SpeakerDiarization
torch.set_num_threads(2)
seg, emb, wav = sys.argv[1:4]
with wave.open(wav) as w:
    samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
t0 = time.perf_counter()
model = PyanNet(sincnet={"stride": 10})
model.specifications = Specifications(problem=Problem.MONO_LABEL_CLASSIFICATION,
    resolution=Resolution.FRAME, duration=10.0, classes=["a", "b", "c"],
    powerset_max_classes=2, permutation_invariant=True)
model.build(); model.eval()
so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
session = ort.InferenceSession(seg, so, providers=["CPUExecutionProvider"])
model.forward = lambda x: torch.from_numpy(np.concatenate(
    [session.run(None, {"x": w[None].numpy()})[0] for w in x]))
named = Path(tempfile.mkdtemp()) / "wespeaker.onnx"
shutil.copy(emb, named)
pipeline = SpeakerDiarization(segmentation=model, embedding=str(named),
                              embedding_exclude_overlap=True)
pipeline.instantiate({"segmentation": {"min_duration_off": 0.0}, "clustering": {
    "method": "centroid", "min_cluster_size": 12, "threshold": 0.7045654963945799}})
annotation = pipeline({"waveform": torch.from_numpy(samples)[None], "sample_rate": 16000})
print(json.dumps({"seconds": time.perf_counter() - t0, "turns": len(list(annotation.itertracks()))}))
"""


def rech_cmd(model, wav, extra=()):
    return [str(RECH), "transcribe", "-q", "-t", "2", "--no-vad", "-f", "json", "-m", str(model),
            *extra, str(wav)]


def python_seconds(python, script, seg, emb, wav):
    """(wall seconds of the whole process, peak RSS MiB, the script's own seconds)."""
    # -P: not the current directory first on the path (bench/typing.py is not the stdlib's).
    wall, rss, out = timed([python, "-P", "-c", script, str(seg), str(emb), str(wav)])
    return wall, rss, json.loads(out.strip().splitlines()[-1])["seconds"]


def table(rows, seconds):
    print(f"\n{seconds:.1f} s of audio\n")
    print("| run | wall (s) | extra wall, share of the audio | peak RSS (MiB) | the walls |")
    print("| --- | ---: | ---: | ---: | --- |")
    base = rows[0]
    for label, runs in rows:
        wall = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        extra = (wall - statistics.median(r[0] for r in base[1])) / seconds
        walls = ", ".join(f"{r[0]:.2f}" for r in runs)
        print(f"| {label} | {wall:.2f} | {100 * extra:+.2f} % | {rss:.0f} | {walls} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, required=True,
                    help="the directory make-diarize-models.py --full wrote")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hour", action="store_true")
    ap.add_argument("--sherpa-python")
    ap.add_argument("--pyannote-python")
    args = ap.parse_args()
    seg = args.models / "segmentation-full.onnx"
    emb = args.models / "embedding-full.onnx"
    for path in (seg, emb, RECH):
        if not Path(path).exists():
            sys.exit(f"{path} is missing (see the usage above)")
    os.environ["RECH_ORT_LIB"] = str(ort_lib())
    os.environ["RECH_OFFLINE"] = "1"
    voices = ["--diarize", "voices", "--segmentation-model", str(seg),
              "--embedding-model", str(emb)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = unpack(work) / "v3_e2e_rnnt_encoder.int8.onnx"
        wav = work / "speech.wav"
        seconds = joined_speech(wav)
        cases = [("rech transcribe", []), ("rech transcribe --diarize voices", voices)]
        rows = {label: [] for label, _ in cases}
        others = {"sherpa-onnx 2.0.1, diarization alone": [],
                  "pyannote.audio 3.3.2 (ONNX networks), diarization alone": []}
        for _ in range(args.runs):
            for label, extra in cases:
                rows[label].append(timed(rech_cmd(model, wav, extra))[:2])
            if args.sherpa_python:
                others["sherpa-onnx 2.0.1, diarization alone"].append(
                    python_seconds(args.sherpa_python, SHERPA, seg, emb, wav))
            if args.pyannote_python:
                others["pyannote.audio 3.3.2 (ONNX networks), diarization alone"].append(
                    python_seconds(args.pyannote_python, PYANNOTE, seg, emb, wav))
        table(list(rows.items()), seconds)
        for label, runs in others.items():
            if runs:
                print(f"- {label}: {statistics.median(r[2] for r in runs):.2f} s in the "
                      f"process ({statistics.median(r[0] for r in runs):.2f} s with its start), "
                      f"peak {statistics.median(r[1] for r in runs):.0f} MiB")
        if args.hour:
            hour = work / "hour.wav"
            times = round(3600 / seconds)
            repeat_wav(wav, hour, times)
            hour_rows = [(label, [timed(rech_cmd(model, hour, extra))[:2]])
                         for label, extra in cases]
            table(hour_rows, seconds * times)


if __name__ == "__main__":
    main()
