#!/usr/bin/env python3
"""Is batched GigaAM-v3 encoding exact on the public export layout (issue 27, part 4)? Three
shared recordings of different lengths, each alone (batch 1) against all three padded into one
batch (zero-padded waveforms, as onnx-asr pads them, through onnx-asr's own gigaam_v3
preprocessor); the largest difference at each recording's valid frames, at its last 8 frames,
whether the greedy CTC tokens agree, and the time of each way.

Usage: .venv-test/bin/python bench/gigaam_batch.py [SHARED_DIR] [FULL_INT8_DIR]
  FULL_INT8_DIR: the full-size int8 models unpacked by
  ../shared/models/gigaam-v3-full-int8/unpack.sh (default /tmp/gfull).
"""
import os
import sys

# bench/typing.py would stand in for the standard library's typing that numpy imports: the
# script's own folder off the path first.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

import time  # noqa: E402
import wave  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as rt  # noqa: E402
from importlib.resources import files  # noqa: E402
import onnx_asr.preprocessors  # noqa: E402

def wav(path):
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768

pre = rt.InferenceSession(files(onnx_asr.preprocessors).joinpath("data/gigaam_v3.onnx").read_bytes())
def features(waves):
    n = max(len(w) for w in waves)
    batch = np.zeros((len(waves), n), np.float32)
    for i, w in enumerate(waves):
        batch[i, :len(w)] = w
    lens = np.array([len(w) for w in waves], np.int64)
    return pre.run(["features", "features_lens"], {"waveforms": batch, "waveforms_lens": lens})

shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
full = sys.argv[2] if len(sys.argv) > 2 else "/tmp/gfull"
recs = [wav(f"{shared}/audio/ru/human/{n}") for n in ("ru_0022.wav", "ru_0030.wav", "ru_0024.wav")]
opts = rt.SessionOptions(); opts.intra_op_num_threads = 2
for model, kind in [(f"{shared}/models/gigaam-v3-micro/v3_ctc.onnx", "ctc"),
                    (f"{shared}/models/gigaam-v3-micro/v3_e2e_rnnt_encoder.onnx", "enc"),
                    (f"{full}/v3_ctc.int8.onnx", "ctc"),
                    (f"{full}/v3_e2e_rnnt_encoder.int8.onnx", "enc")]:
    s = rt.InferenceSession(model, opts)
    names = [i.name for i in s.get_inputs()]
    def run(f, l):
        out = s.run(None, {names[0]: f, names[1]: l})
        x, n = out[0], out[1]
        if kind == "enc":
            x = x.transpose(0, 2, 1)
        return x, n
    alone, t1 = [], time.perf_counter()
    for r in recs:
        f, l = features([r])
        alone.append(run(f, l))
    t1 = time.perf_counter() - t1
    t2 = time.perf_counter()
    f, l = features(recs)
    batched, blens = run(f, l)
    t2 = time.perf_counter() - t2
    for i, (x, n) in enumerate(alone):
        valid = int(n[0])
        assert valid == int(blens[i]), (valid, blens[i])
        a, b = x[0, :valid], batched[i, :valid]
        diff = float(np.abs(a - b).max())
        scale = float(np.abs(a).max())
        tail = float(np.abs(a[-8:] - b[-8:]).max())
        same = ""
        if kind == "ctc":
            same = f" greedy tokens equal: {bool((a.argmax(-1) == b.argmax(-1)).all())}" \
                   f" ({int((a.argmax(-1) != b.argmax(-1)).sum())} of {valid} frames differ)"
        print(f"{model.split('/')[-2]}/{model.split('/')[-1]} rec {i} ({valid} frames, "
              f"padded to {batched.shape[1]}): max |diff| {diff:.3g} (of max {scale:.3g}), "
              f"last 8 frames {tail:.3g};{same}")
    print(f"  time: alone {t1:.2f} s, batched {t2:.2f} s")
