//! rech-diarize's filterbank against kaldi-native-fbank (the pinned wheel in the test
//! environment) on real speech: the same frames, every value within 1e-3 (log energies of
//! 16-bit speech run from about 0 to 25).

use std::path::Path;

use rech_diarize::fbank::{Fbank, FbankOptions};
use rech_testkit::{needs, python_reference, shared_dir};

fn reference(wav: &Path) -> Vec<Vec<f32>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kaldi_fbank.py");
    let rows = python_reference(&script, &[wav.as_os_str()], &serde_json::Value::Null);
    serde_json::from_value(rows).expect("rows of numbers")
}

#[needs(shared, venv)]
#[test]
fn features_equal_kaldi_native_fbanks() {
    let fbank = Fbank::new(FbankOptions::default()).unwrap();
    for name in ["human/ru_0022.wav", "synthetic/speech_to_phrase/gen_01.wav"] {
        let wav = shared_dir().join("audio/ru").join(name);
        let mut reader = hound::WavReader::open(&wav).unwrap();
        let samples: Vec<f32> = reader
            .samples::<i16>()
            .map(|s| f32::from(s.unwrap()))
            .collect();
        let ours = fbank.compute(&samples);
        let theirs = reference(&wav);
        assert_eq!(ours.len(), theirs.len() * 80, "{name}: frame count");
        let mut worst = (0.0f32, 0, 0);
        for (f, row) in theirs.iter().enumerate() {
            for (b, &v) in row.iter().enumerate() {
                let diff = (ours[f * 80 + b] - v).abs();
                if diff > worst.0 {
                    worst = (diff, f, b);
                }
            }
        }
        eprintln!("{name}: largest difference {worst:?}");
        assert!(worst.0 < 1e-3, "{name}: {worst:?}");
    }
}
