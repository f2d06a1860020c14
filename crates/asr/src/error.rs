//! The one error type of `rech-asr`: every variant says what failed and, where there is one,
//! with which file, so the CLI can print it as a single line.

use std::io;

use rech_ggml::model_file::ModelFileError;

/// Why loading a model or transcribing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No file at the model path. Not worth retrying until the file is there.
    #[error("model file not found: {path}")]
    ModelNotFound {
        /// The path as given.
        path: String,
    },
    /// The model path could not be read (a directory, no permission, I/O error).
    #[error("cannot read model {path}: {detail}")]
    ModelUnreadable {
        /// The path as given.
        path: String,
        /// What went wrong, lowercase.
        detail: String,
    },
    /// The file is not a usable whisper.cpp model; nothing was handed to whisper.cpp.
    #[error("{path} is not a usable whisper model: {source}")]
    InvalidModel {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        #[source]
        source: ModelFileError,
    },
    /// The model (a file or a directory of files) cannot be used by its engine.
    #[error("{path} is not a usable {kind} model: {reason}")]
    UnusableModel {
        /// The path as given.
        path: String,
        /// The engine (`GigaAM-v3`).
        kind: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// What the engine needs to run is missing (a runtime library); the reason says what to do.
    #[error("{reason}")]
    EngineUnavailable {
        /// What is missing and how to get it.
        reason: String,
    },
    /// The engine refused a file that passed validation (for example: out of memory).
    #[error("{engine} could not load model {path} (run with -v to see its log)")]
    ModelLoad {
        /// The engine (`whisper.cpp`).
        engine: &'static str,
        /// The path as given.
        path: String,
    },
    /// The VAD model file is missing, unreadable or not a Silero VAD model.
    #[error("{path} is not a usable VAD model: {reason}")]
    InvalidVadModel {
        /// The path as given.
        path: String,
        /// What is wrong with it (part of the message, so not repeated as a source).
        reason: VadModelError,
    },
    /// The engines need at least 100 ms of audio.
    #[error("the audio is too short ({millis} ms): at least 100 ms are needed")]
    AudioTooShort {
        /// Length of the audio given.
        millis: u64,
    },
    /// A prompt longer than the engine takes.
    #[error("the prompt is {length} long; {engine} takes at most {limit}")]
    PromptTooLong {
        /// The engine (`whisper.cpp`).
        engine: &'static str,
        /// How long the prompt is, in the unit of the limit (`300 tokens`, `70000 bytes`).
        length: String,
        /// The limit (`224 tokens`).
        limit: String,
    },
    /// An option has a value the engine cannot take.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The cancellation flag was raised.
    #[error("cancelled")]
    Cancelled,
    /// The engine failed while working.
    #[error("{engine} failed while {what}")]
    Engine {
        /// The engine (`whisper.cpp`).
        engine: &'static str,
        /// What it was doing, and how it said it failed (`transcribing (error code -6)`).
        what: String,
    },
}

/// What is wrong with a Silero VAD model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VadModelError {
    /// It could not be read.
    #[error("{}", describe_io(.0))]
    Io(#[source] io::Error),
    /// It is a directory.
    #[error("is a directory")]
    IsADirectory,
    /// It does not start with the ggml magic number.
    #[error(
        "not a ggml model file (magic 0x{found:08x}, expected 0x{:08x})",
        rech_ggml::model_file::GGML_MAGIC
    )]
    NotGgml {
        /// The first four bytes read as a little-endian `u32`.
        found: u32,
    },
    /// The file format checker refused it.
    #[error("{0}")]
    File(#[source] ModelFileError),
    /// A tensor the network needs is missing or has the wrong size.
    #[error("tensor {name:?} {}", match .found { Some(n) => format!("has {n} values, expected {}", .expected), None => "is missing".to_owned() })]
    Tensor {
        /// The tensor's name.
        name: String,
        /// Values it should have.
        expected: usize,
        /// Values it has (`None`: absent).
        found: Option<usize>,
    },
}

/// The metadata of a model path, with the errors every engine gives for it: not there, or not
/// readable (with why).
pub fn model_metadata(path: &std::path::Path) -> Result<std::fs::Metadata, Error> {
    std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::ModelNotFound {
            path: path.display().to_string(),
        },
        _ => Error::ModelUnreadable {
            path: path.display().to_string(),
            detail: describe_io(&e),
        },
    })
}

/// Short lowercase descriptions of I/O errors, without the `(os error N)` tail: the one
/// describer of rech's libraries above the audio layer (the CLI's messages use it too).
pub fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => {
            let text = err.to_string();
            lowercase_first(text.split(" (os error").next().unwrap_or_default())
        }
    }
}

/// Lowercases the first letter, so that messages from other crates read like ours.
pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
