//! rech's speech-recognition core, the same for every engine: the [`Engine`] and
//! [`Recognizer`] traits an engine implements, and everything around them — Silero VAD, the
//! [`Transcriber`] pipeline (speech gathering, cutting, time mapping, the hallucination filter),
//! recordings of any length in flat memory ([`WindowedTranscription`]), live [`Dictation`], the
//! output formats ([`output`]) and the model catalogue with verified downloads.
//!
//! Engines live in their own crates (`rech-whisper`); this one never names them.
//!
//! ```no_run
//! use rech_asr::{Engine, Transcriber, TranscribeOptions};
//! # fn demo(engine: &dyn Engine) -> Result<(), rech_asr::Error> {
//! let mut transcriber = Transcriber::new(engine, 4)?;
//! let samples = vec![0.0f32; 16_000]; // 16 kHz mono, e.g. from rech-audio
//! let transcript = transcriber.transcribe(&samples, &TranscribeOptions::default())?;
//! println!("{}", transcript.text());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod dictation;
mod endpoint;
mod engine;
mod error;
#[cfg(test)]
mod fake;
mod filter;
mod long;
mod pipeline;
mod silero;
#[allow(unsafe_code)]
mod simd;
mod speakers;
mod text;
mod transcript;
mod vad;

pub mod catalog;
#[cfg(feature = "download")]
pub mod download;
pub mod eval;
pub mod languages;
pub mod output;
pub mod resolve;
pub mod subtitles;

pub use dictation::{Dictation, DictationEvent, DictationOptions, DictationStats};
pub use engine::{
    CancelToken, Capabilities, Engine, Purpose, Recognition, Recognizer, Request, Token,
    TokenSegment, MIN_SAMPLES, RECOGNIZER_STACK_BYTES, SAMPLE_RATE,
};
pub use error::{describe_io, model_metadata, Error, VadModelError};
pub use filter::{cut_loop, is_hallucination};
pub use long::{WindowOptions, WindowedTranscription};
pub use pipeline::{default_threads, TranscribeOptions, Transcriber};
pub use speakers::{assign_speakers, merge_speakers, SpeakerNaming, Turn, DEFAULT_SPEAKER_LABEL};
pub use text::assemble;
pub use transcript::{Segment, Speaker, Transcript, Word};
pub use vad::{SpeechSpan, VadOptions, VoiceDetector, VAD_FRAME_SAMPLES};
