//! The one error type of `rech-asr`: every variant says what failed and, where there is one,
//! with which file, so the CLI can print it as a single line.

use std::io;

use crate::model_file::ModelFileError;

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
    /// whisper.cpp refused a file that passed validation (for example: out of memory).
    #[error("whisper.cpp could not load model {path} (run with -v to see its log)")]
    ModelLoad {
        /// The path as given.
        path: String,
    },
    /// The VAD model file is missing, unreadable or not a Silero VAD model.
    #[error("{path} is not a usable VAD model: {detail}")]
    InvalidVadModel {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// whisper.cpp needs at least 100 ms of audio.
    #[error("the audio is too short ({millis} ms): at least 100 ms are needed")]
    AudioTooShort {
        /// Length of the audio given.
        millis: u64,
    },
    /// An option has a value whisper.cpp cannot take.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The cancellation flag was raised.
    #[error("cancelled")]
    Cancelled,
    /// whisper.cpp returned an error code while working.
    #[error("whisper.cpp failed while {what} (error code {code})")]
    Whisper {
        /// What it was doing.
        what: &'static str,
        /// Its return code.
        code: i32,
    },
}

/// Short lowercase descriptions of I/O errors, without the `(os error N)` tail.
pub(crate) fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => {
            let text = err.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
    }
}
