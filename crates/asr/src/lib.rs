//! Russian speech recognition on whisper.cpp: load a model (checked before whisper.cpp sees
//! it), find the speech with Silero VAD, transcribe 16 kHz mono samples into a plain
//! [`Transcript`].
//!
//! ```no_run
//! use rech_asr::{Model, Transcriber, TranscribeOptions};
//! # fn main() -> Result<(), rech_asr::Error> {
//! let model = Model::load("ggml-small.bin".as_ref())?;
//! let mut transcriber = Transcriber::new(&model)?;
//! let samples = vec![0.0f32; 16_000]; // 16 kHz mono, e.g. from rech-audio
//! let transcript = transcriber.transcribe(&samples, &TranscribeOptions::default())?;
//! println!("{}", transcript.text());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod dictation;
mod endpoint;
mod error;
mod ffi;
mod filter;
mod long;
mod model;
mod silero;
mod text;
mod transcribe;
mod vad;

pub mod catalog;
#[cfg(feature = "download")]
pub mod download;
pub mod generate;
pub mod model_file;

pub use dictation::{Dictation, DictationEvent, DictationOptions, DictationStats};
pub use error::Error;
pub use filter::is_hallucination;
pub use long::{WindowOptions, WindowedTranscription};
pub use model::{install_log_routing, validate, Model, ModelOptions};
pub use transcribe::{
    default_threads, Decoding, EncoderWindow, Segment, TranscribeOptions, Transcriber, Transcript,
    Word,
};
pub use vad::{SpeechSpan, VadOptions, VoiceDetector, VAD_FRAME_SAMPLES};

/// The version of whisper.cpp compiled in.
pub fn whisper_cpp_version() -> &'static str {
    whisper_rs::WHISPER_CPP_VERSION
}
