//! One error type for everything that can go wrong between a path and 16 kHz samples, each
//! variant naming the file so that a batch of inputs can say which one failed.

use std::io;

/// Why an audio input could not be turned into samples.
///
/// Every message names the input (`<stdin>` for `-`) and is a single lowercase line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file could not be opened or read (missing, a directory, no permission, I/O error).
    /// Retrying makes sense only for transient I/O errors.
    #[error("{path}: {}", describe_io(.source))]
    Io {
        /// The input as the user gave it.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// One channel was asked for, and the input does not have it.
    #[error("{path}: has {channels} channel(s), no channel {}", channel + 1)]
    NoSuchChannel {
        /// The input as the user gave it.
        path: String,
        /// The channel asked for, counting from 0.
        channel: u16,
        /// The channels the input has.
        channels: u16,
    },
    /// The file has zero bytes.
    #[error("{path}: the file is empty")]
    Empty {
        /// The input as the user gave it.
        path: String,
    },
    /// No decoder recognises the bytes.
    #[error(
        "{path}: not a recognised audio file (rech reads WAV, W64, AIFF, CAF, MP3, FLAC, Ogg \
         Vorbis and Opus, AAC/M4A/MOV, WebM and MKV; for anything else: ffmpeg -i FILE -f wav - \
         | rech transcribe -)"
    )]
    UnknownFormat {
        /// The input as the user gave it.
        path: String,
    },
    /// The container or codec is recognised but uses something rech cannot decode.
    #[error("{path}: unsupported audio: {detail}")]
    Unsupported {
        /// The input as the user gave it.
        path: String,
        /// What is unsupported.
        detail: String,
    },
    /// The data is damaged in a way the decoder cannot get past.
    #[error("{path}: damaged audio data: {detail}")]
    Malformed {
        /// The input as the user gave it.
        path: String,
        /// What the decoder said.
        detail: String,
    },
    /// The data ends before the header says it should.
    #[error("{path}: the file is truncated: {detail}")]
    Truncated {
        /// The input as the user gave it.
        path: String,
        /// What was expected and what was found.
        detail: String,
    },
    /// The file is well-formed but holds no samples.
    #[error("{path}: the file holds no audio samples")]
    NoSamples {
        /// The input as the user gave it.
        path: String,
    },
    /// Floating-point samples that are NaN or infinite: feeding them on would poison the model.
    #[error("{path}: the audio contains NaN or infinite samples (first at {seconds:.3} s)")]
    NonFiniteSamples {
        /// The input as the user gave it.
        path: String,
        /// Where the first bad sample is, in seconds from the start.
        seconds: f64,
    },
}

/// Lowercase, short descriptions of the I/O errors users meet, without the `(os error N)` tail.
pub(crate) fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory, not an audio file".to_owned(),
        io::ErrorKind::UnexpectedEof => "unexpected end of file".to_owned(),
        _ => {
            let text = err.to_string();
            let text = match text.find(" (os error") {
                Some(cut) => text[..cut].to_owned(),
                None => text,
            };
            lowercase_first(&text)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_short_and_lowercase() {
        let err = AudioError::Io {
            path: "a.wav".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(err.to_string(), "a.wav: no such file");
        let other = io::Error::other("Device Busy (os error 16)");
        assert_eq!(describe_io(&other), "device Busy");
    }
}
