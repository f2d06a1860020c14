//! From what a user typed for a model to a file on disk, the same for every front end (the
//! CLI, a server, a library user): where models live and how they are fetched (from the
//! environment), and whether `-m small` names a file or a model. Fetching itself is
//! [`crate::download`]; deciding to fetch, and showing it, is the caller's, and so is the
//! advice a front end gives (its commands and flags).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{
    self, is_valid_custom_name, multilingual_instead_of, CatalogFile, ModelStore,
};

/// How long a silent server is waited for unless `RECH_DOWNLOAD_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where models live and how to fetch them.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// The model directory.
    pub store: ModelStore,
    /// `RECH_MODEL_BASE_URL`: replaces `https://huggingface.co` in catalogue URLs.
    pub base_url: Option<String>,
    /// `RECH_DOWNLOAD_TIMEOUT`: how long a silent server is waited for.
    pub timeout: Duration,
    /// No network: nothing may be downloaded.
    pub offline: bool,
}

/// Why the model settings cannot be read from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// No home directory, and no `RECH_MODELS_DIR`.
    #[error(
        "cannot find a home directory for the model cache; set RECH_MODELS_DIR to a directory"
    )]
    NoModelDir,
    /// `RECH_MODEL_BASE_URL` is not an HTTP URL (a mistake of the user's).
    #[error("RECH_MODEL_BASE_URL={0} is not an http:// or https:// URL")]
    BadBaseUrl(String),
    /// `RECH_DOWNLOAD_TIMEOUT` is not a number of seconds (a mistake of the user's).
    #[error("RECH_DOWNLOAD_TIMEOUT={0} is not a number of seconds between 0 and 3600")]
    BadTimeout(String),
}

impl SettingsError {
    /// Whether the user set something wrong (rather than the machine lacking something).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::BadBaseUrl(_) | Self::BadTimeout(_))
    }
}

impl ModelSettings {
    /// The settings from `RECH_MODELS_DIR`, `RECH_MODEL_BASE_URL` and
    /// `RECH_DOWNLOAD_TIMEOUT`, with `offline` as the caller decided it.
    pub fn from_env(offline: bool) -> Result<Self, SettingsError> {
        let store = ModelStore::from_env().ok_or(SettingsError::NoModelDir)?;
        let base_url = match std::env::var("RECH_MODEL_BASE_URL") {
            Ok(url) if url.is_empty() => None,
            Ok(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url),
            Ok(url) => return Err(SettingsError::BadBaseUrl(url)),
            Err(_) => None,
        };
        let timeout = match std::env::var("RECH_DOWNLOAD_TIMEOUT") {
            Ok(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                .map(Duration::from_secs_f64)
                .ok_or(SettingsError::BadTimeout(text))?,
            Err(_) => DEFAULT_TIMEOUT,
        };
        Ok(Self {
            store,
            base_url,
            timeout,
            offline,
        })
    }

    /// Where to download a catalogue file from (through the mirror, when one is set).
    pub fn url(&self, file: &CatalogFile) -> String {
        file.url_with_base(self.base_url.as_deref())
    }
}

/// What the user typed for a model: an existing file wins; a bare word that is not a file is a
/// model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSpec<'a> {
    /// A file (or something that is not a name, to be reported as a missing file).
    Path(&'a Path),
    /// A catalogue name, a downloaded model's name, or an English-only name to redirect.
    Name(&'a str),
}

/// Tells a model name from a path.
pub fn classify(spec: &Path) -> ModelSpec<'_> {
    match spec.to_str() {
        Some(text)
            if !text.contains(['/', '\\'])
                && !spec.exists()
                && (catalog::find(text).is_some()
                    || multilingual_instead_of(text).is_some()
                    || (is_valid_custom_name(text) && !text.ends_with(".bin"))) =>
        {
            ModelSpec::Name(text)
        }
        _ => ModelSpec::Path(spec),
    }
}

/// What a model path holds, told by content (never by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// A whisper.cpp ggml file (Whisper or Silero).
    Ggml,
    /// An ONNX file (protobuf `ModelProto`, which exporters open with the IR version).
    Onnx,
    /// A directory (of ONNX files and a vocabulary).
    Directory,
    /// Anything else, or nothing readable.
    Other,
}

/// Sniffs `path`: a directory, a ggml file (its magic number), an ONNX file (field 1, the IR
/// version, first: bytes `0x08 n` with n from 1 to 20), or something else.
pub fn model_format(path: &Path) -> ModelFormat {
    use std::io::Read;
    if path.is_dir() {
        return ModelFormat::Directory;
    }
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut head));
    match read {
        Ok(4) if u32::from_le_bytes(head) == rech_ggml::model_file::GGML_MAGIC => ModelFormat::Ggml,
        Ok(n) if n >= 2 && head[0] == 0x08 && (1..=20).contains(&head[1]) => ModelFormat::Onnx,
        _ => ModelFormat::Other,
    }
}

/// A model file ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The file.
    pub path: PathBuf,
    /// The name it was found under in the model directory, if it came from there.
    pub name: Option<String>,
    /// Whether it is a catalogue model (so the VAD model may be fetched alongside).
    pub from_catalog: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_win_over_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("small");
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(classify(&file), ModelSpec::Path(_)));
        assert!(matches!(
            classify(Path::new("small")),
            ModelSpec::Name("small")
        ));
        assert!(matches!(
            classify(Path::new("ggml-small.bin")),
            ModelSpec::Name(_)
        ));
        assert!(matches!(
            classify(Path::new("small.en")),
            ModelSpec::Name(_)
        ));
        assert!(matches!(
            classify(Path::new("ru-finetune")),
            ModelSpec::Name(_)
        ));
        assert!(matches!(
            classify(Path::new("models/x.bin")),
            ModelSpec::Path(_)
        ));
        assert!(matches!(classify(Path::new("x.bin")), ModelSpec::Path(_)));
    }

    #[test]
    fn formats_are_told_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        // Names lie on purpose: content decides.
        assert_eq!(
            model_format(&file("v3_ctc.onnx", b"lmgg\x01\x00")),
            ModelFormat::Ggml
        );
        assert_eq!(
            model_format(&file("ggml-small.bin", &[0x08, 0x08, 0x12, 0x07])),
            ModelFormat::Onnx
        );
        assert_eq!(model_format(&file("x.onnx", b"")), ModelFormat::Other);
        assert_eq!(model_format(&file("y.onnx", b"hello")), ModelFormat::Other);
        assert_eq!(model_format(dir.path()), ModelFormat::Directory);
        assert_eq!(model_format(&dir.path().join("none")), ModelFormat::Other);
    }
}
