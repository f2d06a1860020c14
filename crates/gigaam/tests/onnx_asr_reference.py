"""What onnx-asr 0.12.0 (the reference implementation of GigaAM in ONNX) makes of audio, for
rech's tests to compare with: one JSON object per line on stdout.

    python onnx_asr_reference.py recognize MODEL_DIR VARIANT[.int8] WAV...
        {"file", "text", "tokens", "timestamps"} per WAV (16 kHz mono PCM)
    python onnx_asr_reference.py features WAV
        {"frames", "features"}: GigaAM v3's log-mel features, [64][frames] row-major
    python onnx_asr_reference.py tables
        {"window", "filterbank"}: the bf16 window and [161][64] filterbank onnx-asr ships
"""

import json
import sys
from importlib.resources import files

import numpy as np
import onnx_asr
import onnx_asr.preprocessors
from onnx_asr.preprocessors.numpy_preprocessor import GigaamPreprocessorNumpy
from onnx_asr.utils import read_wav


def recognize(model_dir, variant, wavs):
    quantization = None
    if variant.endswith(".int8"):
        variant, quantization = variant[: -len(".int8")], "int8"
    name = "gigaam-v3-" + variant.replace("_", "-")
    model = onnx_asr.load_model(name, model_dir, quantization=quantization).with_timestamps()
    for wav in wavs:
        result = model.recognize(wav)
        print(json.dumps({"file": wav, "text": result.text, "tokens": result.tokens,
                          "timestamps": result.timestamps}, ensure_ascii=False))


def features(wav):
    samples, rate = read_wav(wav)
    assert rate == 16000 and samples.shape[1] == 1
    waveform = samples[:, 0][None, :]
    feats, lens = GigaamPreprocessorNumpy("gigaam_v3")(waveform, np.array([waveform.shape[1]]))
    print(json.dumps({"frames": int(lens[0]), "features": feats[0].astype(float).ravel().tolist()}))


def tables():
    path = files(onnx_asr.preprocessors).joinpath("data").joinpath("fbanks.npz")
    with np.load(str(path)) as data:
        print(json.dumps({"window": data["gigaam_v3_window"].astype(float).tolist(),
                          "filterbank": data["gigaam_v3"].astype(float).ravel().tolist()}))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "recognize":
        recognize(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif command == "features":
        features(sys.argv[2])
    elif command == "tables":
        tables()
    else:
        sys.exit(f"unknown command {command}")
