//! Fuzzes `rech serve`'s transcription form: multipart parsing (axum's reader, rech's streaming
//! of the `file` part and its bounds on text fields) and the field checks OpenAI's API makes
//! (model, language, response format, temperature, granularities, prompt).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rech_fuzz::serve_form(data);
});
