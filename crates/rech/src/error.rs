//! The facade's errors as typed data: which model, which path, what went wrong and whether
//! trying again may help. Messages name no command or flag of the `rech` binary; the binary
//! adds its own advice (`rech models download …`) from the fields.

use std::path::PathBuf;

use rech_asr::catalog::human_size;
use rech_asr::download::DownloadError;

/// Why a model could not be resolved, downloaded or made ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A catalogue name of a voice-activity or speaker model where a speech model was wanted.
    #[error("{name} is a {what} model, not a speech model")]
    NotASpeechModel {
        /// The name.
        name: String,
        /// What it is for: `voice-activity`, `speaker`.
        what: &'static str,
    },
    /// A name that is not the catalogue's VAD model where one was wanted.
    #[error("{name}: not a file, and the only VAD model in the catalogue is {vad}")]
    NotAVadModel {
        /// The name.
        name: String,
        /// The catalogue's VAD model.
        vad: &'static str,
    },
    /// Neither a file, a catalogue name nor a downloaded model.
    #[error("{}", unknown_model(name, dir))]
    UnknownModel {
        /// The name.
        name: String,
        /// The model directory that was searched.
        dir: PathBuf,
    },
    /// A catalogue model on disk whose size is not the catalogue's: an interrupted copy or a
    /// changed file. Downloading it again repairs it.
    #[error("{} is damaged ({} on disk, {} expected: an interrupted copy or a changed file)", path.display(), human_size(*on_disk), human_size(*expected))]
    Damaged {
        /// The model.
        name: String,
        /// The file or directory.
        path: PathBuf,
        /// Its size.
        on_disk: u64,
        /// The catalogue's size.
        expected: u64,
    },
    /// The model is not downloaded, and downloads are off.
    #[error("model {name} ({}) is not downloaded, and downloads are off", human_size(*size))]
    Offline {
        /// The model.
        name: String,
        /// Its size.
        size: u64,
        /// Whether it was wanted as the default model (no model was named).
        default: bool,
    },
    /// ONNX Runtime is not there, and downloads are off.
    #[error("GigaAM needs ONNX Runtime {version} ({name}), which is not downloaded, and downloads are off")]
    RuntimeOffline {
        /// The name it is downloaded under (`onnxruntime`, or `onnxruntime-gpu`).
        name: &'static str,
        /// The version rech fetches.
        version: &'static str,
    },
    /// A download failed; what arrived is kept where the cause allows resuming.
    #[error("{source}")]
    Download {
        /// The model (or `onnxruntime`).
        name: String,
        /// Why.
        source: DownloadError,
    },
    /// ONNX Runtime could not be fetched or loaded.
    #[error("{0}")]
    Runtime(String),
    /// The model directory could not be written or read.
    #[error("{}: {detail}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The model settings in the environment are wrong.
    #[error(transparent)]
    Settings(#[from] rech_asr::resolve::SettingsError),
    /// The cancel token was raised; partial downloads are kept.
    #[error("cancelled")]
    Cancelled,
    /// A model from elsewhere: the address is not an http:// or https:// URL.
    #[error("{url} is not an http:// or https:// URL")]
    NotAUrl {
        /// The address.
        url: String,
    },
    /// A model from elsewhere: the checksum is not 64 hex digits.
    #[error("{sha256} is not a sha256 (64 hex digits)")]
    NotASha256 {
        /// The checksum as given.
        sha256: String,
    },
    /// A model from elsewhere named like a catalogue model.
    #[error("{name} is a catalogue model's name; a model from elsewhere needs another")]
    CatalogueName {
        /// The name.
        name: String,
    },
    /// A model from elsewhere with a name the store cannot hold.
    #[error("{name}: a name is 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.' or '-', no .bin)")]
    BadName {
        /// The name.
        name: String,
    },
    /// A model from elsewhere under a name another file already has.
    #[error("another file is already downloaded as {name} ({}, sha256 {actual})", path.display())]
    NameTaken {
        /// The name.
        name: String,
        /// The file there.
        path: PathBuf,
        /// Its sha256.
        actual: String,
    },
    /// A model from elsewhere arrived with the right checksum but is not a whisper.cpp model;
    /// it was deleted.
    #[error("{url} is not a usable whisper.cpp model ({detail}); the download was deleted")]
    Unusable {
        /// Where it came from.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl FetchError {
    /// Whether trying again may help (the network, a busy server, a full disk once space is
    /// freed), rather than the request itself being wrong.
    pub fn retry_may_help(&self) -> bool {
        match self {
            Self::Download { source, .. } => matches!(
                source,
                DownloadError::Network { .. }
                    | DownloadError::Stalled { .. }
                    | DownloadError::Status { .. }
                    | DownloadError::ChecksumMismatch { .. }
                    | DownloadError::WrongSize { .. }
                    | DownloadError::NoSpace { .. }
                    | DownloadError::Busy { .. }
            ),
            Self::Damaged { .. } | Self::Io { .. } | Self::Runtime(_) => false,
            Self::Offline { .. } | Self::RuntimeOffline { .. } => false,
            Self::Cancelled => true,
            _ => false,
        }
    }

    /// Whether the caller named something wrong (a name, a setting), rather than the machine
    /// or the network failing.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::NotASpeechModel { .. }
            | Self::NotAVadModel { .. }
            | Self::UnknownModel { .. }
            | Self::NotAUrl { .. }
            | Self::NotASha256 { .. }
            | Self::CatalogueName { .. }
            | Self::BadName { .. } => true,
            Self::Settings(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// Lowercase I/O error text without the `(os error N)` tail: rech-asr's describer, with a
/// missing path called what it is here (a file or a directory).
pub fn describe(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        _ => rech_asr::describe_io(err),
    }
}

/// The message for a name that is neither a file, a catalogue name nor a downloaded model (an
/// English-only name gets the multilingual model to use instead).
fn unknown_model(name: &str, dir: &std::path::Path) -> String {
    match rech_asr::catalog::multilingual_instead_of(name) {
        Some(instead) => format!(
            "{name} is an English-only model and cannot transcribe Russian; use {instead} instead"
        ),
        None => format!(
            "unknown model {name}: no such file, no catalogue model and nothing downloaded under that name in {}",
            dir.display()
        ),
    }
}

/// Why the facade could not load a model or transcribe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model could not be found, downloaded or made ready.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The model's engine is not compiled in (a Cargo feature of `rech` is off).
    #[error("{path} is a {engine} model, and this build of rech has no {engine} engine (Cargo feature `{feature}`)")]
    EngineNotBuilt {
        /// The model.
        path: PathBuf,
        /// The engine's name.
        engine: &'static str,
        /// The feature that adds it.
        feature: &'static str,
    },
    /// An option the model's engine does not honour.
    #[error("{engine} does not take {option}: it {why}")]
    Unsupported {
        /// The option, as the caller named it (`--beam-size`, `language en`).
        option: String,
        /// The engine.
        engine: &'static str,
        /// What the engine does instead, as a predicate (`transcribes Russian only`).
        why: String,
    },
    /// The model loaded badly, or recognition failed.
    #[error(transparent)]
    Asr(#[from] rech_asr::Error),
    /// A file could not be transcribed.
    #[error(transparent)]
    File(#[from] crate::file::FileError),
    /// The speaker-diarization models could not be opened, or the speaker count cannot hold.
    #[error("speaker labels: {0}")]
    Speakers(String),
}
