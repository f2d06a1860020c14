//! Times whisper.cpp's encoder alone on one 30 s window, so that weight types, thread counts and
//! flash attention can be compared with faster-whisper's encoder (`bench/encoder_gap.py`)
//! without the decoder's token count, which random weights make differ between engines.
//!
//! Usage: `encoder-speed MODEL AUDIO.wav [--threads N] [--rounds N] [--no-flash]
//! [--decode-tokens N]`; encodes the first 30 s of the audio (zero-padded) once to warm up, then
//! `--rounds` times (default 3), and prints JSON: every encode's milliseconds and the
//! spectrogram's. With `--decode-tokens N` it then runs the greedy decoder loop on that window
//! for N tokens after the Russian transcription prompt (each step one `whisper_decode` of the
//! previous step's most likely token, as `whisper_full` does) and adds the milliseconds per
//! token, so that decoders can be compared per token whatever text random weights produce.

use std::process::ExitCode;
use std::time::Instant;

use whisper_rs::{WhisperContext, WhisperContextParameters};

/// Whisper's window: 30 s at 16 kHz.
const WINDOW_SAMPLES: usize = 480_000;

struct Args {
    model: String,
    audio: String,
    threads: usize,
    rounds: usize,
    flash: bool,
    decode_tokens: usize,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let (mut threads, mut rounds, mut flash, mut decode_tokens) = (2, 3, true, 0);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a number"))?;
            v.parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{name} {v:?} is not a positive integer"))
        };
        match arg.as_str() {
            "--threads" => threads = number("--threads")?,
            "--rounds" => rounds = number("--rounds")?,
            "--no-flash" => flash = false,
            "--decode-tokens" => decode_tokens = number("--decode-tokens")?,
            a if a.starts_with("--") => return Err(format!("unknown option {a:?}")),
            a => positional.push(a.to_owned()),
        }
    }
    let [model, audio] = <[String; 2]>::try_from(positional)
        .map_err(|p| format!("expected MODEL and AUDIO, got {} arguments", p.len()))?;
    Ok(Args {
        model,
        audio,
        threads,
        rounds,
        flash,
        decode_tokens,
    })
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&raw) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("encoder-speed: {why}; usage: encoder-speed MODEL AUDIO.wav [--threads N] [--rounds N] [--no-flash] [--decode-tokens N]");
            return ExitCode::from(2);
        }
    };
    let mut samples = match rech_audio::decode_file(args.audio.as_ref()) {
        Ok(a) => a.samples,
        Err(e) => {
            eprintln!("encoder-speed: {e}");
            return ExitCode::FAILURE;
        }
    };
    samples.resize(WINDOW_SAMPLES, 0.0);
    whisper_rs::install_logging_hooks();
    let mut params = WhisperContextParameters::default();
    params.flash_attn(args.flash);
    let Ok(ctx) = WhisperContext::new_with_params(&args.model, params) else {
        eprintln!("encoder-speed: cannot load {}", args.model);
        return ExitCode::FAILURE;
    };
    let Ok(mut state) = ctx.create_state() else {
        eprintln!("encoder-speed: cannot create a state");
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    if state.pcm_to_mel(&samples, args.threads).is_err() {
        eprintln!("encoder-speed: the spectrogram failed");
        return ExitCode::FAILURE;
    }
    let mel_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut encode_ms = Vec::with_capacity(args.rounds);
    // The first encode allocates whisper.cpp's compute buffers: not timed.
    for round in 0..=args.rounds {
        let started = Instant::now();
        if state.encode(0, args.threads).is_err() {
            eprintln!("encoder-speed: the encoder failed");
            return ExitCode::FAILURE;
        }
        if round > 0 {
            encode_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let decode = if args.decode_tokens > 0 {
        match decode_per_token(&ctx, &mut state, args.decode_tokens, args.threads) {
            Ok(ms) => format!(
                ", \"decode_ms_per_token\": {ms:.2}, \"decode_tokens\": {}",
                args.decode_tokens
            ),
            Err(why) => {
                eprintln!("encoder-speed: {why}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        String::new()
    };
    let list: Vec<String> = encode_ms.iter().map(|ms| format!("{ms:.1}")).collect();
    println!(
        "{{\"encode_ms\": [{}], \"mel_ms\": {mel_ms:.1}, \"threads\": {}, \"flash\": {}{decode}}}",
        list.join(", "),
        args.threads,
        args.flash
    );
    ExitCode::SUCCESS
}

/// The greedy loop's cost per token on the encoded window: the prompt
/// `<|startoftranscript|><|ru|><|transcribe|><|notimestamps|>` is decoded first (not timed), then
/// `tokens` steps, each feeding back the previous step's most likely token. The end-of-text token
/// is skipped when choosing, so that every engine decodes the same number of steps.
fn decode_per_token(
    ctx: &WhisperContext,
    state: &mut whisper_rs::WhisperState,
    tokens: usize,
    threads: usize,
) -> Result<f64, String> {
    let russian = whisper_rs::get_lang_id("ru").ok_or("whisper.cpp does not know Russian")?;
    let prompt = [
        ctx.token_sot(),
        ctx.token_lang(russian),
        ctx.token_transcribe(),
        ctx.token_not(),
    ];
    let failed = |_| "the decoder failed".to_owned();
    state.decode(&prompt, 0, threads).map_err(failed)?;
    let end_of_text = ctx.token_eot();
    let started = Instant::now();
    for step in 0..tokens {
        let logits = state.get_logits().map_err(failed)?;
        let next = logits
            .iter()
            .enumerate()
            .filter(|&(id, _)| id as i32 != end_of_text)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(id, _)| id as i32)
            .ok_or("the decoder returned no logits")?;
        state
            .decode(&[next], prompt.len() + step, threads)
            .map_err(failed)?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / tokens as f64)
}
