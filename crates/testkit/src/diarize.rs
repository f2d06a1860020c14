//! The random-weight speaker-diarization models and pyannote.audio's fixtures for them
//! (`crates/diarize/tests/data`), for rech-diarize's tests and the binary's.

use std::path::PathBuf;

/// The directory holding the models and the fixtures.
pub fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../diarize/tests/data")
}

/// `fixtures-micro.json`: what each fixture file holds.
pub fn fixtures() -> serde_json::Value {
    let text = std::fs::read_to_string(data().join("fixtures-micro.json")).expect("the fixtures");
    serde_json::from_str(&text).expect("the fixtures' JSON")
}

/// The recording pyannote.audio diarized for the pipeline's fixtures: the shared recordings
/// the fixtures name, one after another, as 16-bit samples.
pub fn pipeline_samples(fixtures: &serde_json::Value) -> Vec<i16> {
    fixtures["sliding"]["recordings"]
        .as_array()
        .expect("the fixtures' recordings")
        .iter()
        .flat_map(|name| {
            let name = name.as_str().expect("a recording's name");
            let path = crate::shared_dir().join("audio/ru").join(name);
            let mut reader = hound::WavReader::open(&path).expect("a shared recording");
            reader
                .samples::<i16>()
                .map(|s| s.expect("a sample"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `--segmentation-model` and `--embedding-model` naming the random-weight models.
pub fn model_args() -> Vec<String> {
    vec![
        "--segmentation-model".into(),
        data().join("segmentation-micro.onnx").display().to_string(),
        "--embedding-model".into(),
        data().join("embedding-micro.onnx").display().to_string(),
    ]
}
