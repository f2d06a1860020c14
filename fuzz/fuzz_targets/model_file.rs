//! Fuzzes the Whisper model-file validator (rech-ggml's `model_file::inspect_reader`), on raw
//! bytes and on patched copies of a small valid model (see `rech_fuzz::patch`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rech_fuzz::model_file(data);
});
