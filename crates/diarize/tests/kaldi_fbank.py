"""kaldi-native-fbank's features of a 16 kHz 16-bit mono WAV, with the options rech-diarize's
`FbankOptions::default()` stands for (80 bands, 25 ms frames every 10 ms, Hamming window, no
dither), printed as JSON rows for crates/diarize/tests/fbank.rs to compare.

Usage: kaldi_fbank.py WAV
"""

import json
import sys
import wave

import kaldi_native_fbank as knf
import numpy as np


def main() -> None:
    with wave.open(sys.argv[1], "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = 16000
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, samples.tolist())
    fbank.input_finished()
    rows = [fbank.get_frame(i).tolist() for i in range(fbank.num_frames_ready)]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
