//! whisper-cli 1.8.3's parameter block (`examples/cli/cli.cpp`) under its default options,
//! field by field, from `whisper_full_default_params`: shared by the test that checks that rech
//! decodes as whisper-cli does (`crates/whisper/tests/cli_parity.rs`) and the example that
//! times whisper-cli's work (`whisper-rs-direct --cli`).

use std::ffi::CStr;

use whisper_rs::whisper_rs_sys as sys;

/// What `whisper-cli -l LANGUAGE -t THREADS -nfa [-bs BEAM_SIZE] [-nf]` passes to
/// `whisper_full`; `language` and `empty` (an empty prompt) must outlive the run.
pub fn params(
    language: &CStr,
    empty: &CStr,
    threads: i32,
    beam_size: i32,
    no_fallback: bool,
) -> sys::whisper_full_params {
    // SAFETY: whisper_full_default_params only returns a filled struct.
    let mut w = unsafe {
        sys::whisper_full_default_params(
            sys::whisper_sampling_strategy_WHISPER_SAMPLING_GREEDY as _,
        )
    };
    w.strategy = if beam_size > 1 {
        sys::whisper_sampling_strategy_WHISPER_SAMPLING_BEAM_SEARCH as _
    } else {
        sys::whisper_sampling_strategy_WHISPER_SAMPLING_GREEDY as _
    };
    w.print_realtime = false;
    w.print_progress = false;
    w.print_timestamps = false; // whisper-cli prints them; printing changes no result
    w.print_special = false;
    w.translate = false;
    w.language = language.as_ptr();
    w.detect_language = false;
    w.n_threads = threads;
    // max_context -1: n_max_text_ctx stays whisper.cpp's default.
    w.offset_ms = 0;
    w.duration_ms = 0;
    w.token_timestamps = false;
    w.thold_pt = 0.01;
    w.max_len = 0;
    w.split_on_word = false;
    w.audio_ctx = 0;
    w.debug_mode = false;
    w.tdrz_enable = false;
    w.suppress_regex = std::ptr::null();
    w.initial_prompt = empty.as_ptr();
    w.carry_initial_prompt = false;
    w.greedy.best_of = 5;
    w.beam_search.beam_size = beam_size;
    w.temperature_inc = if no_fallback { 0.0 } else { 0.2 };
    w.temperature = 0.0;
    w.entropy_thold = 2.4;
    w.logprob_thold = -1.0;
    w.no_speech_thold = 0.6;
    w.no_timestamps = false;
    w.suppress_nst = false;
    w.vad = false;
    w
}
