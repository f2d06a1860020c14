//! The reference for rech's speed: a minimal direct whisper-rs call (the same whisper.cpp that
//! rech links), with the options `bench/vs_whispercpp.py` gives every engine. Anything rech
//! adds on top — validation, decoding, windows, text assembly — shows as the difference.
//!
//! Usage: `whisper-rs-direct MODEL AUDIO.wav THREADS [--no-flash]` (16 kHz mono 16-bit WAV);
//! prints JSON.

use std::process::ExitCode;
use std::time::Instant;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (flash, args) = match &args[..] {
        [rest @ .., last] if last == "--no-flash" => (false, rest),
        all => (true, all),
    };
    let [model, audio, threads] = args else {
        eprintln!("usage: whisper-rs-direct MODEL AUDIO.wav THREADS [--no-flash]");
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
