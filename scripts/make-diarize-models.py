"""Makes the random-weight speaker-diarization models rech is tested with, from the models' own
code, and the fixtures that hold rech's stages to pyannote.audio on fixed inputs.

- Segmentation: pyannote.audio's PyanNet as segmentation-3.0 configures it (SincNet with stride
  10, a monolithic bidirectional LSTM, two linear layers, a powerset head over three local
  speakers, two at most at once, on 10 s windows), exported as sherpa-onnx exports
  segmentation-3.0: input `x` (N, 1, T), output `y` (N, frames, 7) log-probabilities, opset 15,
  and the same metadata keys.
- Speaker embedding: WeSpeaker's ResNet34 as pyannote.audio ships it (80 fbank bins in, a
  256-dimensional embedding out, statistics pooling), exported as WeSpeaker and sherpa-onnx
  export it: input `feats` (B, T, 80), output `embs` (B, 256), with sherpa-onnx's metadata.

The micro versions (the default) keep every layer and shape but the widths that do not show
in the interface (LSTM, linear layers, ResNet channels); they are small enough to commit, under
crates/diarize/tests/data. `--full` makes them at the real widths, for benchmarks.

With random weights the segmentation network's features hardly move from frame to frame, so
that every frame would score "nobody" and nothing downstream would be tested. Its last layer is
therefore drawn at random around the features it sees on a calibration recording (each weight
divided by its input's spread, the bias centring the scores): still random, but the sets it
picks change with the audio, and silence is mostly "nobody".

Fixtures (raw little-endian float32 `.f32` files, described in `fixtures.json`): the
embedding models' fbank as pyannote.audio computes it (torchaudio's Kaldi fbank, centred) on a
shared recording; the segmentation model's output on the first 10 s of another, and
pyannote.audio's Powerset reading of it; the embedding of the fbank. Each ONNX file is checked
against the torch model it came from before anything is written.

Usage (in .venv-models, made by scripts/install-diarize-deps.sh):
    .venv-models/bin/python scripts/make-diarize-models.py OUT_DIR [--full] [--shared DIR]
"""

import argparse
import json
import wave
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from pyannote.audio import Inference
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.embedding.wespeaker import resnet as wespeaker_resnet
from pyannote.audio.models.embedding.wespeaker import WeSpeakerResNet34
from pyannote.audio.models.segmentation import PyanNet
from pyannote.audio.utils.powerset import Powerset
from pyannote.core import SlidingWindowFeature

SEED = 20261206
WINDOW = 160_000
# The recordings (under ../shared/audio/ru/human) of the calibration and of the fixtures.
CALIBRATION = "ru_0033.wav"
LONG = ["ru_0030.wav", "ru_0031.wav", "ru_0032.wav", "ru_0034.wav"]
STEP = 2.5


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0


def add_metadata(path: Path, metadata: dict) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def save(path: Path, array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array, dtype="<f4")
    path.write_bytes(array.tobytes())
    return {"file": path.name, "shape": list(array.shape)}


def calibrate(model: PyanNet, samples: np.ndarray) -> None:
    """Draws the classifier at random around the features it sees on `samples`."""
    seen = {}
    hook = model.classifier.register_forward_hook(lambda m, i, o: seen.__setitem__("x", i[0]))
    model(torch.from_numpy(samples[:WINDOW])[None, None, :])
    hook.remove()
    features = seen["x"][0]
    mean, spread = features.mean(0), features.std(0).clamp_min(1e-6)
    weight = torch.randn(model.classifier.weight.shape) / spread
    model.classifier.weight.copy_(weight)
    model.classifier.bias.copy_(-(weight @ mean))


def segmentation_model(full: bool) -> PyanNet:
    lstm = {"hidden_size": 128 if full else 8, "num_layers": 4, "bidirectional": True,
            "monolithic": True, "dropout": 0.5}
    linear = {"hidden_size": 128 if full else 8, "num_layers": 2}
    model = PyanNet(sincnet={"stride": 10}, lstm=lstm, linear=linear)
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=10.0,
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.build()
    model.eval()
    return model


def embedding_model(full: bool) -> torch.nn.Module:
    resnet = wespeaker_resnet.ResNet(
        wespeaker_resnet.BasicBlock,
        [3, 4, 6, 3],
        m_channels=32 if full else 4,
        feat_dim=80,
        embed_dim=256,
        pooling_func="TSTP",
        two_emb_layer=False,
    )

    class Embedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.resnet = resnet

        def forward(self, feats):
            return self.resnet(feats)[1]

    model = Embedding()
    model.eval()
    return model


# pyannote/speaker-diarization-3.1's configuration (its config.yaml): 1 s between windows,
# overlapped speech left out of embeddings, centroid linkage cut at this threshold, clusters
# of fewer than 12 embeddings given to the nearest larger one.
PIPELINE_PARAMETERS = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7045654963945799},
}
THRESHOLD = PIPELINE_PARAMETERS["clustering"]["threshold"]
# The runs held as fixtures: (clustering threshold, bounds on the number of speakers). The
# random embeddings are all near one another: 3.1's threshold finds one speaker, 0.2 two large
# clusters and 27 small ones to hand to them.
PIPELINE_RUNS = {
    "threshold": (THRESHOLD, {}),
    "threshold-0.2": (0.2, {}),
    "speakers-2": (THRESHOLD, {"num_speakers": 2}),
    "speakers-4": (THRESHOLD, {"num_speakers": 4}),
    "min-3": (0.2, {"min_speakers": 3}),
    "max-1": (THRESHOLD, {"max_speakers": 1}),
}


def pipeline_fixtures(out: Path, size: str, segmentation: PyanNet, emb_path: Path,
                      samples: np.ndarray) -> dict:
    """pyannote.audio's SpeakerDiarization (3.1's parameters) on `samples` with the random
    models' ONNX files, stage by stage: the windows' speakers, the
    count, each (window, local speaker)'s embedding (pyannote.audio's own ONNX WeSpeaker path:
    the window's centred fbank, the frames the speaker holds alone), the clusters, the frames'
    speakers and the turns."""
    from pyannote.audio.pipelines import SpeakerDiarization

    # The segmentation network's scores are the ONNX file's (ONNX Runtime, one window at a
    # time, as rech runs it): torch's differ in the last bits, which can flip a near-tie
    # between two speaker sets, and the stages after it are what this fixture is for.
    session = ort.InferenceSession(str(out / f"segmentation-{size}.onnx"),
                                   providers=["CPUExecutionProvider"])
    torch_forward = segmentation.forward

    def onnx_forward(waveforms):
        return torch.from_numpy(np.concatenate(
            [session.run(None, {"x": w[None].numpy()})[0] for w in waveforms]))

    segmentation.forward = onnx_forward
    # pyannote.audio reads an ONNX WeSpeaker model from a path that names it.
    named = out / "wespeaker-embedding.onnx"
    named.write_bytes(emb_path.read_bytes())
    try:
        pipeline = SpeakerDiarization(segmentation=segmentation, embedding=str(named),
                                      embedding_exclude_overlap=True)
        pipeline.instantiate(PIPELINE_PARAMETERS)
        file = {"waveform": torch.from_numpy(samples)[None, :], "sample_rate": 16000, "uri": "x"}
        stages = {}

        def hook(name, artefact, file=None, total=None, completed=None):
            if total is None:
                stages[name] = artefact

        fixture = {"parameters": PIPELINE_PARAMETERS, "step": 1.0,
                   "min_num_samples": pipeline._embedding.min_num_samples, "runs": {}}
        # The clusters are the clustering step's output, which the hook does not see.
        clustering_type = type(pipeline.clustering)
        original = clustering_type.__call__

        def keep_clusters(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            stages["clusters"] = result[0]
            return result

        clustering_type.__call__ = keep_clusters
        try:
            for run, (threshold, bounds) in PIPELINE_RUNS.items():
                stages.clear()
                parameters = json.loads(json.dumps(PIPELINE_PARAMETERS))
                parameters["clustering"]["threshold"] = threshold
                pipeline.instantiate(parameters)
                annotation = pipeline(file, hook=hook, **bounds)
                if "segmentations" not in fixture:
                    binarized = stages["segmentation"]
                    assert binarized.sliding_window.start == 0.0
                    assert binarized.sliding_window.step == 1.0
                    fixture["segmentations"] = save(
                        out / f"pipeline-segmentations-{size}.f32", binarized.data)
                    fixture["count"] = save(
                        out / f"pipeline-count-{size}.f32", stages["speaker_counting"].data)
                    fixture["embeddings"] = save(
                        out / f"pipeline-embeddings-{size}.f32", stages["embeddings"])
                binarized = stages["segmentation"].data
                if "clusters" not in stages:
                    # At most one speaker: pyannote.audio does not cluster, every local
                    # speaker is the one speaker.
                    stages["clusters"] = np.zeros(binarized.shape[::2], dtype=np.int8)
                # Local speakers silent in their window get no cluster (-2), here as there.
                clusters = stages["clusters"]
                clusters[np.sum(binarized, axis=1) == 0] = -2
                discrete = stages["discrete_diarization"]
                # Turns by speaker: pyannote.audio names the discrete diarization's speakers
                # SPEAKER_00, SPEAKER_01, ... in the order of their numbers there.
                labels = sorted(annotation.labels())
                fixture["runs"][run] = {
                    "threshold": threshold,
                    "bounds": bounds,
                    "clusters": save(out / f"pipeline-{run}-clusters-{size}.f32",
                                     clusters.astype(np.float32)),
                    "discrete": save(out / f"pipeline-{run}-discrete-{size}.f32", discrete.data),
                    "discrete_start": discrete.sliding_window.start,
                    "turns": [[segment.start, segment.end, labels.index(label)]
                              for segment, _, label in annotation.itertracks(yield_label=True)],
                }
        finally:
            clustering_type.__call__ = original
        return fixture
    finally:
        named.unlink()
        segmentation.forward = torch_forward


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    size = "full" if args.full else "micro"
    torch.manual_seed(SEED)

    recordings = args.shared / "audio/ru/human"
    segmentation = segmentation_model(args.full)
    calibrate(segmentation, read_wav(recordings / CALIBRATION))
    example = torch.zeros(1, 1, WINDOW)
    assert list(segmentation(example).shape) == [1, 589, 7]
    # What sherpa-onnx asserts of the real segmentation-3.0.
    assert segmentation.receptive_field.step * 16000 == 270
    assert segmentation.receptive_field.duration * 16000 == 991
    seg_path = args.out / f"segmentation-{size}.onnx"
    torch.onnx.export(
        segmentation, example, str(seg_path), opset_version=15,
        input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "N", 2: "T"}, "y": {0: "N", 1: "T"}},
    )
    add_metadata(seg_path, {
        "num_speakers": 3, "powerset_max_classes": 2, "num_classes": 7, "sample_rate": 16000,
        "window_size": WINDOW, "receptive_field_size": 991, "receptive_field_shift": 270,
        "model_type": "pyannote-segmentation-3.0", "version": "1", "model_author": "rech",
        "comment": f"random weights (seed {SEED}), {size} widths; for tests only",
    })

    embedding = embedding_model(args.full)
    feats_example = torch.zeros(1, 200, 80)
    emb_path = args.out / f"embedding-{size}.onnx"
    torch.onnx.export(
        embedding, feats_example, str(emb_path), opset_version=15,
        input_names=["feats"], output_names=["embs"],
        dynamic_axes={"feats": {0: "B", 1: "T"}, "embs": {0: "B"}},
    )
    add_metadata(emb_path, {
        "framework": "wespeaker", "language": "multilingual", "sample_rate": 16000,
        "output_dim": 256, "normalize_samples": 0, "model_type": "wespeaker-resnet34",
        "comment": f"random weights (seed {SEED}), {size} widths; for tests only",
    })

    fixtures = {"seed": SEED, "size": size}

    # The fbank of pyannote.audio's WeSpeaker front end, and the embedding of it.
    fbank_wav = "ru_0022.wav"
    front = WeSpeakerResNet34()
    waveform = torch.from_numpy(read_wav(recordings / fbank_wav))[None, None, :]
    fbank = front.compute_fbank(waveform)  # (1, frames, 80), centred
    fixtures["fbank"] = {"recording": f"human/{fbank_wav}", **save(args.out / "fbank.f32", fbank[0].numpy())}
    embs = embedding(fbank)
    fixtures["embedding"] = save(args.out / f"embedding-{size}.f32", embs[0].numpy())

    # The segmentation of a 10 s window, and pyannote.audio's reading of its powerset.
    seg_wav = "ru_0030.wav"
    samples = read_wav(recordings / seg_wav)[:WINDOW]
    assert len(samples) == WINDOW
    y = segmentation(torch.from_numpy(samples)[None, None, :])
    fixtures["segmentation"] = {"recording": f"human/{seg_wav}", "samples": WINDOW,
                                **save(args.out / f"segmentation-{size}.f32", y[0].numpy())}
    hard = Powerset(3, 2).to_multilabel(y)[0].numpy()
    fixtures["multilabel"] = save(args.out / f"multilabel-{size}.f32", hard)
    # Random weights score "nobody" everywhere: the powerset reading is also held to scores
    # where every set wins somewhere.
    scores = torch.log_softmax(3.0 * torch.randn(1, 500, 7), dim=-1)
    fixtures["powerset"] = {
        "scores": save(args.out / "powerset-scores.f32", scores[0].numpy()),
        "hard": save(args.out / "powerset-hard.f32", Powerset(3, 2).to_multilabel(scores)[0].numpy()),
        "soft": save(args.out / "powerset-soft.f32",
                     Powerset(3, 2).to_multilabel(scores, soft=True)[0].numpy()),
    }

    # pyannote.audio's sliding windows over a longer recording (the recordings in LONG one
    # after another): every chunk's scores, the last one padded with silence.
    long = np.concatenate([read_wav(recordings / name) for name in LONG])
    inference = Inference(segmentation, duration=10.0, step=STEP, skip_aggregation=True,
                          skip_conversion=True, batch_size=4)
    chunks = inference({"waveform": torch.from_numpy(long)[None, :], "sample_rate": 16000})
    fixtures["sliding"] = {
        "recordings": [f"human/{name}" for name in LONG], "samples": len(long), "step": STEP,
        "start": chunks.sliding_window.start, "chunk_step": chunks.sliding_window.step,
        **save(args.out / f"sliding-{size}.f32", chunks.data),
    }

    # The windows back on one timeline: pyannote.audio's aggregation of their speakers
    # (Hamming-weighted, half a second of warm-up on each side) and its speaker count.
    binarized = SlidingWindowFeature(
        Powerset(3, 2).to_multilabel(torch.from_numpy(chunks.data)).numpy(), chunks.sliding_window
    )
    frames = segmentation.receptive_field
    aggregated = Inference.aggregate(binarized, frames, warm_up=(0.5, 0.5), hamming=True)
    # SpeakerDiarizationMixin.speaker_count, step for step (importing the pipelines needs
    # matplotlib): trim the warm-up, count the active speakers, aggregate, round.
    trimmed = Inference.trim(binarized, warm_up=(0.1, 0.1))
    count = Inference.aggregate(np.sum(trimmed, axis=-1, keepdims=True), frames, hamming=False,
                                missing=0.0, skip_average=False)
    count.data = np.rint(count.data)
    fixtures["aggregated"] = {
        "frames": [frames.start, frames.duration, frames.step],
        "warm_up": [0.5, 0.5],
        **save(args.out / f"aggregated-{size}.f32", aggregated.data),
    }
    fixtures["count"] = {"warm_up": [0.1, 0.1], **save(args.out / f"count-{size}.f32", count.data)}

    # The ONNX files compute what the torch models do.
    for path, name, value, expected in [
        (seg_path, "x", samples[None, None, :], y.numpy()),
        (emb_path, "feats", fbank.numpy(), embs.numpy()),
    ]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {name: value})[0]
        worst = float(np.max(np.abs(got - expected)))
        assert worst < 1e-3, (path.name, worst)
        fixtures.setdefault("onnx_vs_torch", {})[path.name] = worst

    fixtures["pipeline"] = pipeline_fixtures(args.out, size, segmentation, emb_path, long)

    (args.out / f"fixtures-{size}.json").write_text(json.dumps(fixtures, indent=2) + "\n")
    print(json.dumps(fixtures, indent=2))


if __name__ == "__main__":
    main()
