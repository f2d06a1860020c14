//! One recording in every container and codec people send (`samples/formats/`, made by its
//! `make.sh`): each must decode to the reference WAV's length within 5 ms, start where the
//! reference starts (encoder delay trimmed, not just counted), and sound like it.

use rech_testkit::needs;
use std::path::{Path, PathBuf};

use rech_audio::{decode_file, AudioError, SAMPLE_RATE};

fn formats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/formats")
}

fn reference() -> Vec<f32> {
    decode_file(&formats_dir().join("voice.wav"))
        .unwrap_or_else(|e| panic!("{e}"))
        .samples
}

/// The shift of `decoded` against `reference`, in samples, that correlates best within ±20 ms,
/// with the normalised correlation there.
fn best_lag(reference: &[f32], decoded: &[f32]) -> (i64, f64) {
    let n = reference.len().min(decoded.len()) as i64;
    let max_lag = i64::from(SAMPLE_RATE) / 50;
    let mut best = (0, f64::MIN);
    for lag in -max_lag..=max_lag {
        let (mut dot, mut ra, mut rb) = (0.0f64, 0.0f64, 0.0f64);
        for i in max_lag..n - max_lag {
            let a = f64::from(reference[i as usize]);
            let b = f64::from(decoded[(i + lag) as usize]);
            dot += a * b;
            ra += a * a;
            rb += b * b;
        }
        let corr = dot / (ra.sqrt() * rb.sqrt()).max(1e-12);
        if corr > best.1 {
            best = (lag, corr);
        }
    }
    best
}

fn check(name: &str, format: &str) {
    let reference = reference();
    let audio = decode_file(&formats_dir().join(name)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audio.source.format, format, "{name}");
    let difference_ms =
        (audio.samples.len() as f64 - reference.len() as f64) * 1000.0 / f64::from(SAMPLE_RATE);
    assert!(
        difference_ms.abs() <= 5.0,
        "{name}: {} samples against the reference's {} ({difference_ms:+.1} ms)",
        audio.samples.len(),
        reference.len()
    );
    if let Some(announced) = audio.source.duration() {
        let off = (announced - audio.duration()).abs();
        assert!(
            off < 0.005,
            "{name}: the header says {announced} s, decoded {} s",
            audio.duration()
        );
    }
    let (lag, corr) = best_lag(&reference, &audio.samples);
    // A lossy codec at 24-32 kbit/s still follows the waveform closely; a millisecond of lag
    // would be a delay left in.
    assert!(
        lag.abs() <= 8,
        "{name}: shifted by {lag} samples against the reference"
    );
    assert!(
        corr > 0.8,
        "{name}: correlation {corr:.3} with the reference"
    );
}

#[test]
fn telegram_voice_message_ogg_opus() {
    check("voice.oga", "opus");
}

#[test]
fn opusenc_ogg_opus() {
    check("voice.opus", "opus");
}

#[test]
fn webm_opus() {
    check("voice.webm", "opus");
}

#[test]
fn matroska_opus() {
    check("voice.mkv", "opus");
}

#[test]
fn mp4_opus() {
    check("voice-opus.mp4", "opus");
}

#[test]
fn m4a_aac_without_its_priming() {
    check("voice.m4a", "aac");
}

#[test]
fn mov_aac() {
    check("voice.mov", "aac");
}

#[test]
fn aiff_aifc_caf_and_w64() {
    check("voice.aiff", "pcm_s16be");
    check("voice.aifc", "pcm_s16le");
    check("voice.caf", "pcm_s16le");
    check("voice.w64", "w64");
}

/// Where rech's own decoders stop: AC-3 and WMA. Without ffmpeg the error names the codec and
/// says how to get it; with ffmpeg (which the project's scripts install) they decode through it,
/// to the same length as the reference.
#[needs(programs(ffmpeg))]
#[test]
fn codecs_left_to_ffmpeg() {
    let foreign = [("voice.ac3", "AC-3"), ("voice.wma", "WMA (ASF)")];
    // The only test in this binary that rech's own decoders cannot pass: setting the variable
    // here changes no other test's outcome.
    std::env::set_var("RECH_FFMPEG", "none");
    for (name, codec) in foreign {
        match decode_file(&formats_dir().join(name)) {
            Err(e @ AudioError::Unsupported { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(codec) && text.contains("install ffmpeg"),
                    "{name}: {text}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    std::env::remove_var("RECH_FFMPEG");
    let ffmpeg = rech_audio::ffmpeg_program().expect("ffmpeg on the PATH");
    let reference = reference();
    for (name, codec) in foreign {
        let audio = decode_file(&formats_dir().join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            audio.source.format,
            format!("{codec} via ffmpeg"),
            "{}",
            ffmpeg.display()
        );
        // ffmpeg's own decoders leave AC-3's and WMA's delay in: the length only.
        let off = (audio.samples.len() as f64 - reference.len() as f64).abs() / 16_000.0;
        assert!(
            off < 0.05,
            "{name}: {} s against {} s",
            audio.duration(),
            reference.len() as f64 / 16_000.0
        );
    }
    // A file ffmpeg cannot read either keeps rech's own message.
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.ac3");
    std::fs::write(&text, [0x0b, 0x77, 0, 0, 0, 0, 0, 0]).unwrap();
    let err = decode_file(&text).unwrap_err().to_string();
    assert!(
        err.contains("AC-3") && err.contains("ffmpeg could not"),
        "{err}"
    );
}
