//! Fuzzes the Silero VAD model-file reader (rech-ggml's `model_file::read_vad_reader`: the full
//! check, then the weights), on raw bytes and on patched copies of a valid VAD model file (see
//! `rech_fuzz::patch`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rech_fuzz::vad_file(data);
});
