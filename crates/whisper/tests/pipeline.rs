//! The whisper.cpp engine through rech-asr's pipeline, as the CLI uses it: a recording longer
//! than a window, windowed with flat memory, and dictation of tone bursts, on a generated model
//! whose decoder repeats one token (so that every piece of audio has text).

use rech_asr::{
    Dictation, DictationEvent, DictationOptions, TranscribeOptions, Transcriber, WindowOptions,
};
use rech_ggml::generate::DecoderOutput;
use rech_testkit::micro_model;
use rech_whisper::{WhisperEngine, WhisperOptions};

const RATE: usize = 16_000;

fn engine() -> WhisperEngine {
    let path = micro_model(5, DecoderOutput::Repeat);
    let options = WhisperOptions {
        temperature_increment: 0.0,
        ..WhisperOptions::default()
    };
    WhisperEngine::load(path, options).unwrap()
}

/// Quiet noise with loud bursts at the given (start, end) seconds.
fn bursts(seconds: f64, at: &[(f64, f64)]) -> Vec<f32> {
    let n = (seconds * RATE as f64) as usize;
    let mut v: Vec<f32> = (0..n)
        .map(|i| 0.001 * ((i * 7919 % 1000) as f32 / 500.0 - 1.0))
        .collect();
    for &(a, b) in at {
        let (from, to) = ((a * RATE as f64) as usize, (b * RATE as f64) as usize);
        for (i, s) in v.iter_mut().enumerate().take(to).skip(from) {
            *s = 0.3 * (i as f32 * 0.07).sin() * (1.0 + 0.5 * (i as f32 * 0.003).sin());
        }
    }
    v
}

#[test]
fn a_recording_longer_than_a_window_lands_on_one_timeline() {
    let engine = engine();
    let mut transcriber = Transcriber::new(&engine, 2).unwrap();
    let windows = WindowOptions {
        window_seconds: 30.0,
        search_seconds: 5.0,
    };
    let spans: Vec<(f64, f64)> = (0..10)
        .map(|i| (i as f64 * 7.0, i as f64 * 7.0 + 5.0))
        .collect();
    let audio = bursts(70.0, &spans);
    let transcript = transcriber
        .transcribe_windowed(&audio, &TranscribeOptions::default(), &windows)
        .unwrap();
    assert!(!transcript.segments.is_empty());
    assert!(
        transcript.text().starts_with("при"),
        "{}",
        transcript.text()
    );
    // The decoder loops to whisper.cpp's token limit in every window; what is kept is one copy.
    for segment in &transcript.segments {
        assert_eq!(segment.text, "при", "{segment:?}");
    }
    assert_eq!(transcript.duration, 70.0);
    transcript.check_times().unwrap();
    assert!(transcript.segments.last().unwrap().start > 30.0);
    for pair in transcript.segments.windows(2) {
        assert!(pair[0].end <= pair[1].start + 1e-9, "{pair:?}");
    }
}

#[test]
fn dictation_finds_each_burst_and_decodes_it() {
    let engine = engine();
    let options = DictationOptions {
        threads: 2,
        partials: true,
        ..DictationOptions::default()
    };
    let mut dictation = Dictation::new(&engine, None, options).unwrap();
    let truth = [(1.0, 2.5), (4.0, 4.9), (6.0, 8.2)];
    let audio = bursts(9.0, &truth);
    let mut events = Vec::new();
    for chunk in audio.chunks(1_600) {
        events.extend(dictation.push(chunk).unwrap());
    }
    events.extend(dictation.finish().unwrap());
    let finals: Vec<(f64, f64, &str)> = events
        .iter()
        .filter_map(|e| match e {
            DictationEvent::Final { start, end, text } => Some((*start, *end, text.as_str())),
            DictationEvent::Partial { .. } => None,
        })
        .collect();
    assert_eq!(finals.len(), 3, "{events:?}");
    for ((start, end, text), (a, b)) in finals.iter().zip(truth) {
        assert!(
            (start - a).abs() < 0.1 && (end - b).abs() < 0.1,
            "{finals:?}"
        );
        // The loop cut at the utterance's token limit is not shown, only what it repeated.
        assert_eq!(*text, "при");
    }
    assert!(dictation.stats().final_decodes >= 3);
}
