//! Silero VAD on real Russian speech: three recordings joined by 2 s of silence must come back
//! as three speech regions that match where the speech really is.

use rech_asr::{SpeechSpan, VadOptions, VoiceDetector};
use rech_testkit::needs;
use rech_testkit::shared_dir;

/// Where speech starts and ends in a clip: the first and last run of three 20 ms frames whose RMS
/// is within 25 dB of the loudest frame (the recordings' noise floor is at -41 dB, with isolated
/// clicks up to -31 dB).
fn energy_bounds(samples: &[f32]) -> (f64, f64) {
    let rms: Vec<f32> = samples
        .chunks(320)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let peak = rms.iter().cloned().fold(0.0, f32::max);
    let floor = peak * 10f32.powf(-25.0 / 20.0);
    let loud: Vec<bool> = rms
        .windows(3)
        .map(|w| w.iter().all(|&r| r > floor))
        .collect();
    let first = loud.iter().position(|&l| l).unwrap_or(0);
    let last = loud.iter().rposition(|&l| l).map_or(rms.len(), |i| i + 3);
    (first as f64 * 0.02, last as f64 * 0.02)
}

#[needs(shared)]
#[test]
fn speech_regions_match_the_recordings() {
    let shared = shared_dir();
    let names = ["ru_0022.wav", "ru_0025.wav", "ru_0031.wav"];
    let mut joined = Vec::new();
    let mut truth = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            joined.extend(std::iter::repeat_n(0.0f32, 32_000));
        }
        let audio = rech_audio::decode_file(&shared.join("audio/ru/human").join(name)).unwrap();
        let offset = joined.len() as f64 / 16_000.0;
        let (start, end) = energy_bounds(&audio.samples);
        truth.push((
            offset + start,
            offset + end,
            offset,
            offset + audio.duration(),
        ));
        joined.extend_from_slice(&audio.samples);
    }
    let options = VadOptions {
        speech_pad_ms: 0,
        ..VadOptions::default()
    };
    let mut vad =
        VoiceDetector::load(&shared.join("models/ggml-silero-v6.2.0.bin"), options).unwrap();
    let spans: Vec<SpeechSpan> = vad.detect(&joined).unwrap();
    eprintln!("truth {truth:?}\nspans {spans:?}");
    // Speech inside one recording may be split at a pause; group spans by recording.
    for &(start, end, clip_start, clip_end) in &truth {
        let inside: Vec<&SpeechSpan> = spans
            .iter()
            .filter(|s| s.end > clip_start && s.start < clip_end)
            .collect();
        assert!(!inside.is_empty(), "no speech found in {start}..{end}");
        let found_start = inside[0].start;
        let found_end = inside[inside.len() - 1].end;
        assert!(
            (found_start - start).abs() <= 0.25 && (found_end - end).abs() <= 0.25,
            "speech at {start:.2}..{end:.2}, detected {found_start:.2}..{found_end:.2}"
        );
    }
    // Nothing is detected in the 2 s silences.
    for pair in truth.windows(2) {
        let (gap_start, gap_end) = (pair[0].3, pair[1].2);
        assert!(
            spans
                .iter()
                .all(|s| s.end <= gap_start + 0.25 || s.start >= gap_end - 0.25),
            "speech detected in the silence {gap_start:.2}..{gap_end:.2}"
        );
    }
}
