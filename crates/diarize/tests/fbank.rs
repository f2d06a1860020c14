//! rech-diarize's filterbank against kaldi-native-fbank (the pinned wheel in the test
//! environment) on real speech: the same frames, every value within 1e-3 (log energies of
//! 16-bit speech run from about 0 to 25).

use std::path::Path;
use std::process::Command;

use rech_diarize::fbank::{Fbank, FbankOptions};
use rech_testkit::{needs, shared_dir, test_venv};

fn reference(wav: &Path) -> Vec<Vec<f32>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kaldi_fbank.py");
    let out = Command::new(test_venv().join("bin/python"))
        .arg(script)
        .arg(wav)
        .output()
        .expect("run the reference");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reference's JSON")
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
