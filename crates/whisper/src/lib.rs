//! rech's whisper.cpp engine: a Whisper model checked by rech's own file reader before
//! whisper.cpp sees it, loaded once ([`WhisperEngine`], shared between threads) and run by one
//! [`WhisperRecognizer`] per thread behind rech-asr's [`Engine`](rech_asr::Engine) trait.
//! Everything else — VAD, long recordings, dictation, output — is rech-asr's pipeline.
//!
//! ```no_run
//! use rech_asr::{Transcriber, TranscribeOptions};
//! use rech_whisper::{WhisperEngine, WhisperOptions};
//! # fn main() -> Result<(), rech_asr::Error> {
//! let engine = WhisperEngine::load("ggml-small.bin".as_ref(), WhisperOptions::default())?;
//! let mut transcriber = Transcriber::new(&engine, 4)?;
//! let samples = vec![0.0f32; 16_000]; // 16 kHz mono, e.g. from rech-audio
//! let transcript = transcriber.transcribe(&samples, &TranscribeOptions::default())?;
//! println!("{}", transcript.text());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod ffi;
mod model;
mod recognizer;

use rech_asr::Error;

pub use model::{install_log_routing, validate, WhisperEngine};
pub use recognizer::WhisperRecognizer;

/// The engine's name in messages.
pub const ENGINE: &str = "whisper.cpp";

/// The version of whisper.cpp compiled in.
pub fn whisper_cpp_version() -> &'static str {
    whisper_rs::WHISPER_CPP_VERSION
}

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    /// The most likely token at each step: fastest.
    Greedy,
    /// Beam search over `beam_size` hypotheses: slower, sometimes more accurate.
    BeamSearch {
        /// Number of beams (whisper.cpp's default is 5).
        beam_size: u32,
    },
}

/// How much of Whisper's 30 s window the encoder runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderWindow {
    /// The full 30 s window, whatever the audio's length: what Whisper was trained on.
    Full,
    /// Only as many encoder positions as the audio fills, plus a short margin (whisper.cpp's
    /// `audio_ctx`): a 3 s utterance costs a tenth of a full window.
    Fitted,
}

/// How Whisper decodes: fixed when the engine loads, the same for every call and thread.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperOptions {
    /// Flash attention. Off by default: on CPU, whisper.cpp 1.8.3's flash-attention kernel made
    /// the encoder 1.7–4× slower than its matrix-product attention on the machines rech is
    /// measured on (BENCHMARKS.md, `bench/encoder_gap.py`); it pays off on GPUs, and holds less
    /// memory.
    pub flash_attention: bool,
    /// Translate into English instead of transcribing.
    pub translate: bool,
    /// Greedy or beam search.
    pub decoding: Decoding,
    /// Sampling temperature of the first attempt (0 = deterministic).
    pub temperature: f32,
    /// Retry a window at higher temperatures when the text looks like a loop or is unlikely
    /// (never for partial dictation hypotheses).
    pub temperature_fallback: bool,
    /// Text that precedes the audio: names, terms, the style of punctuation wanted. The
    /// pipeline's context (the end of the previous window) follows it.
    pub initial_prompt: Option<String>,
    /// Split segments so that none is longer than this many characters.
    pub max_segment_chars: Option<u32>,
    /// How much of the 30 s window the encoder runs over when a file's audio (after VAD, the
    /// speech it kept) is shorter than one window. [`EncoderWindow::Fitted`] makes a 5 s file
    /// cost a sixth of the encoder work; with real models it can cost some accuracy, since
    /// Whisper was trained on full windows. Longer audio always uses full windows.
    pub encoder_window: EncoderWindow,
    /// The same for dictated utterances, where [`EncoderWindow::Fitted`] (the default) is
    /// where dictation's latency goes.
    pub utterance_window: EncoderWindow,
}

impl Default for WhisperOptions {
    fn default() -> Self {
        Self {
            flash_attention: false,
            translate: false,
            decoding: Decoding::Greedy,
            temperature: 0.0,
            temperature_fallback: true,
            initial_prompt: None,
            max_segment_chars: None,
            encoder_window: EncoderWindow::Full,
            utterance_window: EncoderWindow::Fitted,
        }
    }
}

impl WhisperOptions {
    /// Refuses values whisper.cpp cannot take.
    fn check(&self) -> Result<(), Error> {
        if self
            .initial_prompt
            .as_deref()
            .is_some_and(|p| p.contains('\0'))
        {
            return Err(Error::InvalidOption(
                "the prompt contains a NUL character".to_owned(),
            ));
        }
        if let Decoding::BeamSearch { beam_size } = self.decoding {
            if !(1..=16).contains(&beam_size) {
                return Err(Error::InvalidOption(format!(
                    "beam size {beam_size} is outside 1..=16"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.temperature) {
            return Err(Error::InvalidOption(format!(
                "temperature {} is outside 0..=1",
                self.temperature
            )));
        }
        Ok(())
    }
}
