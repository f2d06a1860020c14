//! rech's GigaAM engine against onnx-asr 0.12.0, the reference implementation, on the same
//! model files (`../shared/models/gigaam-v3-micro`: all four variants, random weights, the real
//! architecture, GigaAM's own export) and real Russian recordings: the front end's tables and
//! features, and for every variant the text and every token's time.

use rech_testkit::needs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rech_asr::{CancelToken, Engine, Purpose, Request};
use rech_gigaam::{runtime, GigaamEngine, GigaamOptions, Variant};
use serde_json::Value;

const RECORDINGS: [&str; 3] = ["ru_0022", "ru_0024", "ru_0031"];

/// The shared data and the test Python, with ONNX Runtime loaded (`#[needs(shared, venv)]`).
fn setup() -> (PathBuf, PathBuf) {
    let lib = rech_testkit::ort_lib();
    runtime::use_library(&lib).expect("load ONNX Runtime");
    (rech_testkit::shared_dir(), rech_testkit::test_venv())
}

fn micro(shared: &Path) -> PathBuf {
    shared.join("models/gigaam-v3-micro")
}

fn wav(shared: &Path, name: &str) -> PathBuf {
    shared.join(format!("audio/ru/human/{name}.wav"))
}

/// Runs the reference script; one JSON value per output line.
fn reference(venv: &Path, args: &[&str]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx_asr_reference.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(script)
        .args(args)
        .output()
        .expect("run the onnx-asr reference");
    assert!(
        out.status.success(),
        "onnx-asr failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[needs(shared, venv)]
#[test]
fn the_window_and_filterbank_are_onnx_asrs() {
    let (_, venv) = setup();
    let tables = &reference(&venv, &["tables"])[0];
    assert_eq!(floats(&tables["window"]), rech_gigaam::features::window());
    let theirs = floats(&tables["filterbank"]);
    let ours = rech_gigaam::features::filterbank();
    assert_eq!(theirs.len(), ours.len());
    // torch's f32 power and the correctly rounded one differ in the last bit at a few mel
    // points: at most two entries may land one bf16 step apart.
    let differ: Vec<(usize, f32, f32)> = theirs
        .iter()
        .zip(&ours)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, *a, *b))
        .collect();
    assert!(differ.len() <= 2, "{differ:?}");
    for (i, a, b) in differ {
        let step = f32::from_bits(a.abs().to_bits() & 0x7F80_0000) * 2f32.powi(-7);
        assert!(
            (a - b).abs() <= step.max(1e-12),
            "entry {i}: {a} against {b}"
        );
    }
}

#[needs(shared, venv)]
#[test]
fn features_equal_onnx_asrs_on_real_speech() {
    let (shared, venv) = setup();
    for name in RECORDINGS {
        let path = wav(&shared, name);
        let theirs = &reference(&venv, &["features", path.to_str().unwrap()])[0];
        let frames = theirs["frames"].as_u64().unwrap() as usize;
        let theirs = floats(&theirs["features"]);
        let samples = rech_audio::decode_file(&path).unwrap().samples;
        assert_eq!(rech_gigaam::features::frame_count(samples.len()), frames);
        let ours = rech_gigaam::features::FrontEnd::new().features(&samples);
        assert_eq!(ours.len(), theirs.len());
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        // Measured: 4.1e-5 at most on these recordings (FFT and sum order, f32).
        assert!(
            worst < 1e-4,
            "{name}: log-mel features differ by up to {worst}"
        );
    }
}

/// The text (joined pieces, as onnx-asr joins them) and every token's start time.
fn ours(engine: &GigaamEngine, samples: &[f32]) -> (String, Vec<f64>) {
    let mut recognizer = engine.recognizer(2).unwrap();
    let request = Request {
        purpose: Purpose::File,
        ..Request::default()
    };
    let result = recognizer
        .recognize(samples, &request, &CancelToken::new(), &mut |_| {})
        .unwrap();
    let mut text = Vec::new();
    let mut times = Vec::new();
    for segment in &result.segments {
        for token in &segment.tokens {
            text.extend_from_slice(&token.bytes);
            times.push(token.start);
        }
    }
    (String::from_utf8(text).unwrap(), times)
}

#[needs(shared, venv)]
#[test]
fn every_variant_gives_onnx_asrs_text_and_token_times() {
    let (shared, venv) = setup();
    let files: Vec<PathBuf> = RECORDINGS.iter().map(|n| wav(&shared, n)).collect();
    for variant in Variant::ALL {
        let dir = micro(&shared);
        let first = if variant.is_rnnt() {
            format!("v3_{}_encoder.onnx", variant.stem())
        } else {
            format!("v3_{}.onnx", variant.stem())
        };
        let engine = GigaamEngine::load(&dir.join(first), GigaamOptions::default()).unwrap();
        assert_eq!(engine.variant(), variant);
        let mut args = vec![
            "recognize".to_owned(),
            dir.display().to_string(),
            variant.stem().to_owned(),
        ];
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let expected = reference(&venv, &args);
        for (file, theirs) in files.iter().zip(&expected) {
            let samples = rech_audio::decode_file(file).unwrap().samples;
            let (text, times) = ours(&engine, &samples);
            let label = format!("{} on {}", variant.stem(), file.display());
            assert_eq!(text, theirs["text"].as_str().unwrap(), "{label}");
            let their_times: Vec<f64> = theirs["timestamps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_f64().unwrap())
                .collect();
            assert_eq!(times.len(), their_times.len(), "{label}");
            for (a, b) in times.iter().zip(&their_times) {
                assert!(
                    (a - b).abs() < 1e-6,
                    "{label}: token at {a} s, onnx-asr {b} s"
                );
            }
        }
    }
}
