//! What the integration tests of rech-asr share: finding `../shared`, the real data they run on.

use std::path::PathBuf;

/// `RECH_SHARED_DIR`, or `../shared` beside the workspace, when it holds the Silero model and the
/// Russian recordings. Missing data is a loud skip on a developer's machine and a failure in CI.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RECH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir.join("models/ggml-silero-v6.2.0.bin").is_file() && dir.join("audio/ru/human").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared test data not found at {} (set RECH_SHARED_DIR)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: shared test data not found at {} (set RECH_SHARED_DIR)",
        dir.display()
    );
    None
}
