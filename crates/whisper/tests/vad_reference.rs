//! rech's Silero forward pass against whisper.cpp's own (the reference, run here through
//! whisper-rs): on real Russian speech, silence and low noise, the per-frame speech
//! probabilities agree to rounding and `VoiceDetector::detect` finds the same spans.

use rech_testkit::needs;
use std::path::{Path, PathBuf};

use rech_asr::{SpeechSpan, VadOptions, VoiceDetector, VAD_FRAME_SAMPLES};
use rech_testkit::{largest_difference, shared_dir};
use whisper_rs::{WhisperVadContext, WhisperVadContextParams, WhisperVadParams};

/// Largest difference allowed between a frame's probability here and in whisper.cpp.
///
/// Both round every convolution's input to f16 the same way and differ only in the order of
/// their f32 sums, so one chunk alone gives the same probability (within 1e-7). Now and then a
/// sum lands on the other side of an f16 rounding step, and the LSTM carries that for a few
/// chunks: observed on an AMD EPYC with AVX2 and FMA (whisper.cpp's f16 kernels and ours
/// differ by machine), at most 6.2e-4 (`voxforge_sovse_ru_test.wav`, at a speech onset), under
/// 2e-4 for every other recording, 1.5e-5 on low noise, 5e-7 on silence. Without the f16
/// rounding the largest difference was 2.7e-3.
const MAX_PROB_DIFF: f32 = 1e-3;

fn model_path(shared: &Path) -> PathBuf {
    shared.join("models/ggml-silero-v6.2.0.bin")
}

fn whisper_vad(shared: &Path) -> WhisperVadContext {
    rech_whisper::install_log_routing();
    let mut params = WhisperVadContextParams::new();
    params.set_n_threads(1);
    params.set_use_gpu(false);
    let path = model_path(shared);
    WhisperVadContext::new(path.to_str().unwrap(), params).unwrap()
}

/// The real recordings, in name order.
fn recordings(shared: &Path) -> Vec<(String, Vec<f32>)> {
    let dir = shared.join("audio/ru/human");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "expected the 12 recordings in {dir:?}");
    paths
        .iter()
        .map(|p| {
            let audio = rech_audio::decode_file(p).unwrap();
            assert_eq!(audio.source.sample_rate, 16_000);
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                audio.samples,
            )
        })
        .collect()
}

/// Low white noise (about -50 dBFS RMS), the same every run.
fn noise(len: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 0.01
        })
        .collect()
}

/// Every recording with 1.5 s of silence after it, then 3 s of low noise, then 2 s of silence,
/// then one recording again, cut so that its last frame is partial.
fn long_audio(shared: &Path) -> Vec<f32> {
    let recs = recordings(shared);
    let mut joined = Vec::new();
    for (_, samples) in &recs {
        joined.extend_from_slice(samples);
        joined.extend(std::iter::repeat_n(0.0f32, 24_000));
    }
    joined.extend(noise(48_000));
    joined.extend(std::iter::repeat_n(0.0f32, 32_000));
    let last = &recs[0].1;
    joined.extend_from_slice(&last[..last.len() - 777]);
    assert_ne!(joined.len() % VAD_FRAME_SAMPLES, 0);
    joined
}

#[needs(shared)]
#[test]
fn probabilities_match_whisper_cpp() {
    let shared = shared_dir();
    let mut reference = whisper_vad(&shared);
    let mut ours = VoiceDetector::load(&model_path(&shared), VadOptions::default()).unwrap();
    let check = |name: &str,
                 samples: &[f32],
                 reference: &mut WhisperVadContext,
                 ours: &mut VoiceDetector|
     -> f32 {
        reference.detect_speech(samples).unwrap();
        let mut probs = vec![f32::NAN]; // appended to, not replaced
        ours.speech_probabilities(samples, &mut probs).unwrap();
        assert_eq!(probs.len(), 1 + samples.len().div_ceil(VAD_FRAME_SAMPLES));
        let diff = largest_difference(reference.probabilities(), &probs[1..]);
        eprintln!(
            "{name}: {} frames, max |difference| {diff:.2e}",
            probs.len() - 1
        );
        assert!(diff <= MAX_PROB_DIFF, "{name}: {diff:e}");
        diff
    };

    let mut worst = 0.0f32;
    // The whole long recording in one call (the LSTM state runs across all of it and across
    // the blocks of chunks), then each recording in a call of its own (the state restarts).
    let long = long_audio(&shared);
    worst = worst.max(check("all joined", &long, &mut reference, &mut ours));
    for (name, samples) in recordings(&shared) {
        worst = worst.max(check(&name, &samples, &mut reference, &mut ours));
    }
    worst = worst.max(check(
        "silence",
        &vec![0.0; 80_000],
        &mut reference,
        &mut ours,
    ));
    worst = worst.max(check(
        "low noise",
        &noise(80_000),
        &mut reference,
        &mut ours,
    ));
    // Shorter than a frame, and exactly one frame.
    worst = worst.max(check(
        "100 samples",
        &long[16_000..16_100],
        &mut reference,
        &mut ours,
    ));
    worst = worst.max(check(
        "one frame",
        &long[16_000..16_512],
        &mut reference,
        &mut ours,
    ));
    eprintln!("worst max |difference| {worst:.2e} (bound {MAX_PROB_DIFF:e})");

    // The same detector gives the same numbers the second time (no state leaks between calls).
    let (mut first, mut second) = (Vec::new(), Vec::new());
    ours.speech_probabilities(&long[..100_000], &mut first)
        .unwrap();
    ours.speech_probabilities(&long[..100_000], &mut second)
        .unwrap();
    assert_eq!(first, second);
    let mut none = Vec::new();
    ours.speech_probabilities(&[], &mut none).unwrap();
    assert!(none.is_empty());
}

/// What `VoiceDetector::detect` gave when it ran on whisper.cpp: its segments without padding,
/// then padded and merged.
fn reference_spans(
    vad: &mut WhisperVadContext,
    samples: &[f32],
    options: &VadOptions,
) -> Vec<SpeechSpan> {
    let mut params = WhisperVadParams::new();
    params.set_threshold(options.threshold);
    params.set_min_speech_duration(options.min_speech_ms as i32);
    params.set_min_silence_duration(options.min_silence_ms as i32);
    params.set_speech_pad(0);
    params.set_max_speech_duration(options.max_speech_s.unwrap_or(f32::MAX));
    let segments = vad.segments_from_samples(params, samples).unwrap();
    let total = samples.len() as f64 / 16_000.0;
    let pad = f64::from(options.speech_pad_ms) / 1000.0;
    let mut spans: Vec<SpeechSpan> = Vec::new();
    for seg in segments {
        let start = (f64::from(seg.start) / 100.0 - pad).max(0.0);
        let end = (f64::from(seg.end) / 100.0 + pad).min(total);
        if end <= start {
            continue;
        }
        match spans.last_mut() {
            Some(last) if start <= last.end => last.end = last.end.max(end),
            _ => spans.push(SpeechSpan { start, end }),
        }
    }
    spans
}

#[needs(shared)]
#[test]
fn spans_match_whisper_cpp() {
    let shared = shared_dir();
    let mut reference = whisper_vad(&shared);
    let long = long_audio(&shared);
    let options = [
        VadOptions::default(),
        VadOptions {
            speech_pad_ms: 0,
            ..VadOptions::default()
        },
        VadOptions {
            threshold: 0.3,
            min_speech_ms: 100,
            min_silence_ms: 100,
            speech_pad_ms: 30,
            max_speech_s: None,
        },
        VadOptions {
            threshold: 0.7,
            min_speech_ms: 500,
            min_silence_ms: 600,
            speech_pad_ms: 400,
            max_speech_s: None,
        },
        // whisper-cli's --vad-max-speech-duration-s: long speech split at its quietest frame.
        VadOptions {
            max_speech_s: Some(3.0),
            ..VadOptions::default()
        },
    ];
    for options in options {
        let mut ours = VoiceDetector::load(&model_path(&shared), options.clone()).unwrap();
        for (name, samples) in [
            ("all joined", &long[..]),
            ("one recording", &long[..200_000]),
        ] {
            let want = reference_spans(&mut reference, samples, &options);
            let got = ours.detect(samples).unwrap();
            eprintln!("{options:?} {name}: {} spans", got.len());
            assert!(!got.is_empty());
            assert_eq!(got, want, "{options:?} {name}");
        }
        assert!(ours.detect(&[]).unwrap().is_empty());
        assert!(ours.detect(&vec![0.0; 64_000]).unwrap().is_empty());
    }
}
