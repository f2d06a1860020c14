//! Fuzzes the WAV path of rech-audio (hound, and symphonia for the encodings hound refuses),
//! from memory as files are read and through a reader that cannot seek as stdin is: inputs that
//! are not RIFF/WAVE are skipped, so every run reaches the WAV parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 || &data[..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return;
    }
    rech_fuzz::decode(data, "fuzz.wav");
    rech_fuzz::decode_piped(data, "<stdin>");
});
