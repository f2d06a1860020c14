//! The boundary between rech's pipeline and a recognition engine: loaded weights shared between
//! threads ([`Engine`]) and a per-thread [`Recognizer`] that turns 16 kHz samples into segments
//! of timed tokens. Everything an engine does not need to know — VAD, cutting, windows, time
//! mapping, filtering, dictation — is the pipeline's, written once for every engine.
//!
//! Engines hand back token *bytes*, not text: a BPE token can end in the middle of a Cyrillic
//! letter, and only the pipeline's text assembly (which sees whole words) may decode UTF-8.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::Error;

/// Sample rate of every sample slice the pipeline and engines exchange, in Hz.
pub const SAMPLE_RATE: usize = 16_000;

/// The shortest audio the pipeline hands an engine: 100 ms (whisper.cpp refuses less, and no
/// word fits in less).
pub const MIN_SAMPLES: usize = SAMPLE_RATE / 10;

/// The stack every thread that runs a [`Recognizer`] (or [`Engine::check_prompt`]) should be
/// given: 16 MiB. whisper.cpp tokenises a prompt with `std::regex`, which recurses once per
/// byte of a word, and a stack overflow is not a panic: it ends the process. The longest
/// prompt rech passes (4 KiB from the user and the carried context, 5,000 bytes) needs
/// 1.55 MiB whatever the text (`examples/prompt-stack.rs`; `BENCHMARKS.md`): this is ten times
/// that. Only the pages a thread touches take memory.
pub const RECOGNIZER_STACK_BYTES: usize = 16 << 20;

/// What an engine can do, so that the pipeline can adapt to it without knowing which it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The engine's name as users know it (`whisper.cpp`), for messages.
    pub engine: &'static str,
    /// ISO 639-1 codes of the languages it transcribes.
    pub languages: Vec<String>,
    /// Whether it can detect the language itself (a request without one).
    pub detects_language: bool,
    /// The shortest input it accepts in one call, in samples.
    pub min_samples: usize,
    /// The longest input it accepts in one call, in samples; `None` when it takes any length
    /// (it windows long audio itself).
    pub max_samples: Option<usize>,
    /// Whether it uses the text before the audio ([`Request::context`]).
    pub takes_prompt: bool,
    /// Whether its tokens carry their own times when [`Request::word_timestamps`] is set.
    pub word_times: bool,
    /// Whether it invents text: phrases on silence and noise, and decoding loops (the same
    /// words over and over). The pipeline's guards — the hallucination filter and the loop cut
    /// — apply only to engines that do, so that a phrase really said four times stays whole.
    pub hallucinates_on_silence: bool,
    /// Whether it takes decoding options beyond the [`Request`] (beam search, sampling
    /// temperatures and their fallback, thresholds, token suppression, a user's prompt,
    /// translation, segment length, its input window, GPU and memory settings). Front ends
    /// refuse such options, given for an engine that takes none, with one message.
    pub decoding_options: bool,
    /// Whether the pipeline may end one of its segments between two words that a pause the
    /// VAD removed separates (engines that segment at pauses themselves, but never see the
    /// pauses VAD takes out).
    pub split_at_removed_pauses: bool,
}

impl Capabilities {
    /// Whether the engine transcribes `language` (an ISO 639-1 code).
    pub fn supports_language(&self, language: &str) -> bool {
        self.languages.iter().any(|l| l == language)
    }
}

/// Loaded weights, shared by every thread that recognises with them.
pub trait Engine: Send + Sync + fmt::Debug {
    /// What the engine can do.
    fn capabilities(&self) -> &Capabilities;

    /// A recognizer for one thread, running on `threads` CPU threads.
    fn recognizer(&self, threads: usize) -> Result<Box<dyn Recognizer>, Error>;

    /// Checks a prompt (text given as the text before the audio) before any work: engines that
    /// take one bound its length (Whisper: 224 tokens, as OpenAI's API does) and refuse a
    /// longer one with [`Error::PromptTooLong`]. Engines that take no prompt accept anything,
    /// since they never read it.
    fn check_prompt(&self, prompt: &str) -> Result<(), Error> {
        let _ = prompt;
        Ok(())
    }
}

/// What a recognition call is for; engines may decode differently for each (a dictated
/// utterance is one short line, a partial hypothesis is thrown away soon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A piece of a file: segments with times, as accurate as the engine's options allow.
    File,
    /// A dictated utterance still under way: one line, quick, never retried.
    Partial,
    /// A finished dictated utterance: one line.
    Final,
}

/// One recognition call: plain generic settings. Engine-specific ones (beam size, the
/// temperature fallback, the user's prompt, a CTC or RNN-T head) are the engine's own options,
/// fixed when it loads.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Spoken language (ISO 639-1), or `None` to let the engine detect it.
    pub language: Option<String>,
    /// Text that preceded this audio (the end of the previous window), for engines that take a
    /// prompt; the engine puts it after any prompt of its own options.
    pub context: Option<String>,
    /// Time every token (otherwise tokens take their segment's times).
    pub word_timestamps: bool,
    /// What the call is for.
    pub purpose: Purpose,
    /// Sampling temperature of the first attempt, over the engine's own setting, for engines
    /// that sample; others ignore it.
    pub temperature: Option<f32>,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            language: Some("ru".to_owned()),
            context: None,
            word_timestamps: false,
            purpose: Purpose::File,
            temperature: None,
        }
    }
}

/// One token as an engine decoded it: raw bytes (possibly part of a UTF-8 sequence) and its
/// time span in seconds from the start of the samples given.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token's bytes; a leading space starts a word.
    pub bytes: Vec<u8>,
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// The model's probability for the token.
    pub probability: f32,
}

/// A segment as an engine decoded it, before text assembly.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSegment {
    /// Start, in seconds from the start of the samples given.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// Its text tokens, in order (no special tokens).
    pub tokens: Vec<Token>,
    /// The model's estimate that the audio holds no speech (0 where the engine has none).
    pub no_speech_probability: f32,
}

/// What a recognition call returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recognition {
    /// The language the engine detected, when the request left it open.
    pub detected_language: Option<String>,
    /// Segments in order.
    pub segments: Vec<TokenSegment>,
}

/// Recognition state for one thread.
pub trait Recognizer: Send {
    /// Refuses a request the engine cannot serve (a language it does not know), before any work
    /// is done.
    fn check(&self, request: &Request) -> Result<(), Error>;

    /// A new recording begins: nothing decoded before may shape what comes next, so that a
    /// recording's text is the same whichever recordings the same recognizer had before (an
    /// engine that keeps decoder state between calls starts afresh on its next call).
    fn start_recording(&mut self) {}

    /// Recognises 16 kHz mono `samples` (between the engine's shortest and longest input).
    /// `progress` gets the fraction of this call done, from 0 to 1; a raised `cancel` makes
    /// the call stop soon with [`Error::Cancelled`].
    fn recognize(
        &mut self,
        samples: &[f32],
        request: &Request,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Recognition, Error>;
}

/// The one cancellation token of every long operation (recognition, downloads): cheap to clone,
/// and raising it in one clone is seen by all.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the token: every operation watching it stops soon.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the token was raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag behind the token, for code that polls an `AtomicBool` (an engine's C callback).
    pub fn as_flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// Seconds of `samples` at [`SAMPLE_RATE`], as whole milliseconds (for messages).
pub(crate) fn millis(samples: usize) -> u64 {
    samples as u64 * 1000 / SAMPLE_RATE as u64
}
