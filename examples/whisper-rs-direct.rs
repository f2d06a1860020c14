//! The reference for rech's speed: a minimal direct whisper-rs call (the same whisper.cpp that
//! rech links), with the options `bench/vs_whispercpp.py` gives every engine. Anything rech
//! adds on top — validation, decoding, windows, text assembly — shows as the difference.
//!
//! With `--cli`, it is whisper-cli 1.8.3's work instead: its default decoding (beam search of
//! 5, five candidates at each fallback temperature, its thresholds), its parameter block
//! filled field by field as `examples/cli/cli.cpp` fills it (`common/whisper_cli.rs`, which
//! `crates/whisper/tests/cli_parity.rs` checks rech against),
//! flash attention off, OpenMP left to its own defaults as whisper-cli leaves it. The
//! upstream whisper-cli is not built here (whisper-rs bundles the library without its
//! examples); this is its computation on the very library rech links.
//!
//! Usage: `whisper-rs-direct MODEL AUDIO.wav THREADS [--no-flash | --cli]` (16 kHz mono 16-bit
//! WAV); prints JSON.

#[path = "common/whisper_cli.rs"]
mod whisper_cli;

use std::ffi::{CStr, CString};
use std::process::ExitCode;
use std::time::Instant;

use whisper_rs::whisper_rs_sys as sys;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (flash, cli, args) = match &args[..] {
        [rest @ .., last] if last == "--no-flash" => (false, false, rest),
        [rest @ .., last] if last == "--cli" => (false, true, rest),
        all => (true, false, all),
    };
    let [model, audio, threads] = args else {
        eprintln!("usage: whisper-rs-direct MODEL AUDIO.wav THREADS [--no-flash | --cli]");
        return ExitCode::from(2);
    };
    let Ok(threads) = threads.parse::<i32>() else {
        eprintln!("whisper-rs-direct: THREADS must be a number");
        return ExitCode::from(2);
    };
    let samples = match rech_audio::decode_file(audio.as_ref()) {
        Ok(a) => a.samples,
        Err(e) => {
            eprintln!("whisper-rs-direct: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli {
        return whisper_cli(model, &samples, threads);
    }
    let started = Instant::now();
    let mut params = WhisperContextParameters::default();
    params.flash_attn(flash);
    let Ok(ctx) = WhisperContext::new_with_params(model, params) else {
        eprintln!("whisper-rs-direct: cannot load {model}");
        return ExitCode::FAILURE;
    };
    let Ok(mut state) = ctx.create_state() else {
        eprintln!("whisper-rs-direct: cannot create a state");
        return ExitCode::FAILURE;
    };
    let loaded = started.elapsed().as_secs_f64();
    let mut full = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    full.set_n_threads(threads);
    full.set_language(Some("ru"));
    full.set_temperature(0.0);
    full.set_temperature_inc(0.0);
    full.set_print_progress(false);
    full.set_print_realtime(false);
    full.set_print_special(false);
    full.set_print_timestamps(false);
    if state.full(full, &samples).is_err() {
        eprintln!("whisper-rs-direct: transcription failed");
        return ExitCode::FAILURE;
    }
    let transcribe = started.elapsed().as_secs_f64() - loaded;
    let (mut chars, mut tokens) = (0, 0);
    let n = state.full_n_segments();
    for i in 0..n {
        if let Some(segment) = state.get_segment(i) {
            chars += segment
                .to_str_lossy()
                .map_or(0, |t| t.trim().chars().count());
            tokens += segment.n_tokens();
        }
    }
    println!(
        "{{\"load\": {loaded:.3}, \"transcribe\": {transcribe:.3}, \"segments\": {n}, \"chars\": {chars}, \"tokens\": {tokens}}}"
    );
    ExitCode::SUCCESS
}

/// What `whisper-cli -m MODEL -l ru -t THREADS -nfa FILE` computes, through whisper.cpp's C API.
fn whisper_cli(model: &str, samples: &[f32], threads: i32) -> ExitCode {
    let (Ok(model), Ok(language), Ok(empty)) =
        (CString::new(model), CString::new("ru"), CString::new(""))
    else {
        eprintln!("whisper-rs-direct: the model's path holds a NUL");
        return ExitCode::from(2);
    };
    let Ok(n_samples) = i32::try_from(samples.len()) else {
        eprintln!("whisper-rs-direct: the audio is too long");
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    // SAFETY: plain calls into whisper.cpp with pointers that outlive them; the context is
    // freed once, after its last use.
    unsafe {
        let mut cparams = sys::whisper_context_default_params();
        cparams.use_gpu = true;
        cparams.flash_attn = false;
        let ctx = sys::whisper_init_from_file_with_params(model.as_ptr(), cparams);
        if ctx.is_null() {
            eprintln!("whisper-rs-direct: cannot load the model");
            return ExitCode::FAILURE;
        }
        let loaded = started.elapsed().as_secs_f64();
        let w = whisper_cli::params(&language, &empty, threads, 5, false);
        let status = sys::whisper_full(ctx, w, samples.as_ptr(), n_samples);
        let transcribe = started.elapsed().as_secs_f64() - loaded;
        if status != 0 {
            sys::whisper_free(ctx);
            eprintln!("whisper-rs-direct: transcription failed ({status})");
            return ExitCode::FAILURE;
        }
        let n = sys::whisper_full_n_segments(ctx);
        let mut chars = 0;
        for i in 0..n {
            let text = CStr::from_ptr(sys::whisper_full_get_segment_text(ctx, i));
            chars += String::from_utf8_lossy(text.to_bytes())
                .trim()
                .chars()
                .count();
        }
        sys::whisper_free(ctx);
        println!(
            "{{\"load\": {loaded:.3}, \"transcribe\": {transcribe:.3}, \"segments\": {n}, \"chars\": {chars}}}"
        );
    }
    ExitCode::SUCCESS
}
