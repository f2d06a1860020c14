//! The model-file readers on the real files in `../shared/models`: the real Silero VAD model
//! reads clean with its exact layout, and whisper.cpp's vocabulary-only "for-tests" file is
//! refused for having no weights.

use rech_ggml::model_file::{inspect, inspect_vad, read_vad, ModelFileError};
use rech_testkit::needs;
use rech_testkit::shared_dir;

#[needs(shared)]
#[test]
fn the_real_silero_model_reads_clean() {
    let shared = shared_dir();
    let real = shared.join("models/ggml-silero-v6.2.0.bin");
    let info = inspect_vad(&real).expect("the real Silero model inspects clean");
    assert_eq!(info.tensor_count, 15);
    let read = read_vad(&real).unwrap();
    assert_eq!(read.info, info);
    assert!(read.tensors.iter().flatten().all(|v| v.is_finite()));
    let basis = read.get("_model.stft.forward_basis_buffer").unwrap();
    // Real part of bin 1 at the window's middle: cos(pi) under a Hann window of 1.
    assert_eq!(basis[256 + 128], -1.0);
}

#[needs(shared)]
#[test]
fn for_tests_file_has_no_weights() {
    let shared = shared_dir();
    let path = shared.join("models/for-tests-ggml-tiny.bin");
    match inspect(&path) {
        Err(ModelFileError::NoWeights { expected }) => assert_eq!(expected, 167),
        other => panic!("expected NoWeights, got {other:?}"),
    }
    assert_eq!(
        inspect(&path).unwrap_err().to_string(),
        "the file has no weights (0 of 167 tensors): it is a vocabulary-only test file"
    );
}
