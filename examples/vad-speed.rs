//! Times Silero VAD over the same audio two ways, alternating in one run: whisper.cpp's ggml
//! graph (through whisper-rs, one thread) and rech's own forward pass (`VoiceDetector`), and
//! checks that they agree. rech's VAD must stay at least 5x cheaper than whisper.cpp's.
//!
//! Usage: `vad-speed [--rounds N] [--model PATH] [--whisper-threads N] [--call-frames N]
//! [--rech-only] [FILE.wav ...]`
//!
//! `--whisper-threads` (default 1) gives whisper.cpp more threads, as whisper-cli's default of 4
//! does; rech's pass always runs on the calling thread. `--call-frames N` hands the audio over in
//! calls of N frames of 32 ms, each starting afresh, as live dictation does (32 frames a call);
//! by default the whole audio is one call. `--rech-only` times rech alone (for profiling).
//!
//! Without files it joins the real Russian recordings of `$RECH_SHARED_DIR/audio/ru/human`
//! (default `../shared`, about 100 s). The model defaults to
//! `$RECH_SHARED_DIR/models/ggml-silero-v6.2.0.bin`. Prints the median time of each, their
//! ratio, and the largest difference between their per-frame speech probabilities.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rech_asr::{VadOptions, VoiceDetector};
use whisper_rs::{WhisperVadContext, WhisperVadContextParams};

use rech_testkit::shared_dir;

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vad-speed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut rounds = 7usize;
    let mut model = shared_dir().join("models/ggml-silero-v6.2.0.bin");
    let mut files = Vec::new();
    let mut rech_only = false;
    let mut whisper_threads = 1;
    let mut call_frames = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--rounds needs a positive number")?;
            }
            "--rech-only" => rech_only = true,
            "--call-frames" => {
                call_frames = Some(
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|&n| n > 0)
                        .ok_or("--call-frames needs a positive number")?,
                );
            }
            "--whisper-threads" => {
                whisper_threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--whisper-threads needs a positive number")?;
            }
            "--model" => model = args.next().ok_or("--model needs a path")?.into(),
            "-h" | "--help" => {
                println!(
                    "usage: vad-speed [--rounds N] [--model PATH] [--whisper-threads N] \
                     [--call-frames N] [--rech-only] [FILE.wav ...]"
                );
                return Ok(());
            }
            _ => files.push(PathBuf::from(arg)),
        }
    }
    if files.is_empty() {
        let dir = shared_dir().join("audio/ru/human");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        files = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        files.sort();
    }
    let mut samples = Vec::new();
    for file in &files {
        let audio = rech_audio::decode_file(file).map_err(|e| e.to_string())?;
        samples.extend_from_slice(&audio.samples);
    }
    if samples.is_empty() {
        return Err("no audio".to_owned());
    }
    println!(
        "{} files, {:.1} s of audio, {} frames, {rounds} rounds, whisper.cpp on \
         {whisper_threads} thread(s), rech on 1",
        files.len(),
        samples.len() as f64 / 16_000.0,
        samples.len().div_ceil(rech_asr::VAD_FRAME_SAMPLES)
    );

    rech_whisper::install_log_routing();
    let model_str = model.to_str().ok_or("the model path is not UTF-8")?;
    let mut params = WhisperVadContextParams::new();
    params.set_n_threads(whisper_threads);
    params.set_use_gpu(false);
    let mut whisper = WhisperVadContext::new(model_str, params)
        .map_err(|e| format!("whisper.cpp cannot load {}: {e}", model.display()))?;
    let mut ours = VoiceDetector::load(&model, VadOptions::default()).map_err(|e| e.to_string())?;

    if rech_only {
        // For profiling rech's pass alone.
        let mut times = Vec::new();
        let mut probs = Vec::new();
        for _ in 0..rounds {
            probs.clear();
            let started = Instant::now();
            ours.speech_probabilities(&samples, &mut probs)
                .map_err(|e| e.to_string())?;
            times.push(started.elapsed().as_secs_f64());
        }
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "median: rech {:.4} s, fastest {min:.4} s",
            median(&mut times)
        );
        return Ok(());
    }
    let (mut whisper_times, mut our_times) = (Vec::new(), Vec::new());
    let mut max_diff = 0.0f32;
    // The audio in calls of `call_frames` frames (dictation-sized calls), or in one.
    let call_len = call_frames.map_or(samples.len(), |n| n * rech_asr::VAD_FRAME_SAMPLES);
    for round in 0..rounds {
        let mut reference = Vec::new();
        let started = Instant::now();
        for call in samples.chunks(call_len) {
            whisper
                .detect_speech(call)
                .map_err(|e| format!("whisper.cpp: {e}"))?;
            reference.extend_from_slice(whisper.probabilities());
        }
        let whisper_s = started.elapsed().as_secs_f64();

        let mut probs = Vec::new();
        let started = Instant::now();
        for call in samples.chunks(call_len) {
            ours.speech_probabilities(call, &mut probs)
                .map_err(|e| e.to_string())?;
        }
        let our_s = started.elapsed().as_secs_f64();

        if reference.len() != probs.len() {
            return Err(format!(
                "whisper.cpp gave {} probabilities, rech {}",
                reference.len(),
                probs.len()
            ));
        }
        for (a, b) in reference.iter().zip(&probs) {
            max_diff = max_diff.max((a - b).abs());
        }
        println!(
            "round {}: whisper.cpp {whisper_s:.3} s, rech {our_s:.3} s ({:.1}x)",
            round + 1,
            whisper_s / our_s
        );
        whisper_times.push(whisper_s);
        our_times.push(our_s);
    }
    let (w, o) = (median(&mut whisper_times), median(&mut our_times));
    println!(
        "median: whisper.cpp {w:.3} s, rech {o:.3} s, rech is {:.1}x cheaper",
        w / o
    );
    println!("max |p_whisper.cpp - p_rech| over all frames: {max_diff:.2e}");
    Ok(())
}
