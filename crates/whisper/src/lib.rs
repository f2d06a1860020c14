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

pub use model::{capabilities, install_log_routing, validate, WhisperEngine};
pub use recognizer::WhisperRecognizer;

/// The engine's name in messages.
pub const ENGINE: &str = "whisper.cpp";

/// The version of whisper.cpp compiled in.
pub fn whisper_cpp_version() -> &'static str {
    whisper_rs::WHISPER_CPP_VERSION
}

/// The back ends this build of whisper.cpp has beside the CPU: the Cargo features it was built
/// with (`cuda`, `vulkan`, `metal`, `hipblas`, `openblas`).
pub fn compiled_backends() -> Vec<&'static str> {
    [
        (cfg!(feature = "cuda"), "CUDA"),
        (cfg!(feature = "vulkan"), "Vulkan"),
        (cfg!(feature = "metal"), "Metal"),
        (cfg!(feature = "hipblas"), "ROCm/hipBLAS"),
        (cfg!(feature = "openblas"), "OpenBLAS"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

/// Whether a GPU back end is compiled in (so that `gpu` in [`WhisperOptions`] means something).
pub fn has_gpu_backend() -> bool {
    cfg!(any(
        feature = "cuda",
        feature = "vulkan",
        feature = "metal",
        feature = "hipblas"
    ))
}

/// The CPU features whisper.cpp's CPU back end uses on this machine (`AVX2`, `FMA`, `F16C`,
/// `OPENMP`...), from its system report.
pub fn cpu_features() -> Vec<String> {
    features_in_report(whisper_rs::print_system_info())
}

/// The `NAME = 1` entries of whisper.cpp's system report after its `CPU :` label.
fn features_in_report(report: &str) -> Vec<String> {
    let cpu = report.find("CPU :").map_or("", |at| &report[at + 5..]);
    cpu.split('|')
        .filter_map(|item| {
            let (name, value) = item.split_once('=')?;
            let name = name.trim();
            // The next back end's label ("METAL : EMBED_LIBRARY") ends the CPU's list.
            (value.trim() == "1" && !name.contains(':') && !name.is_empty())
                .then(|| name.to_owned())
        })
        .collect()
}

/// The most decoders whisper.cpp runs at once (`WHISPER_MAX_DECODERS`): the limit of both the
/// beam size and `best_of`; whisper.cpp fails a run that asks for more.
pub const MAX_DECODERS: u32 = 8;

/// The most tokens a prompt may have: OpenAI's limit for `prompt`, and all that whisper.cpp
/// keeps of a prompt anyway (the last half of the text context).
pub const MAX_PROMPT_TOKENS: usize = 224;

/// The most bytes a prompt may have before it is tokenised at all: no 224-token text in a
/// real language comes near it (Russian runs at about 5 bytes a token), and it bounds what
/// whisper.cpp's recursive tokenizer is given (`rech_asr::RECOGNIZER_STACK_BYTES`).
pub const MAX_PROMPT_BYTES: usize = 4096;

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
    /// Temperature fallback: a window whose text looks like a loop (token entropy below
    /// `entropy_threshold`) or is unlikely (mean log-probability below `logprob_threshold`) is
    /// decoded again at a temperature this much higher, up to 1.0; 0 never retries. Never
    /// applied to partial dictation hypotheses. whisper-cli's and OpenAI Whisper's 0.2.
    pub temperature_increment: f32,
    /// Candidates sampled at each fallback temperature, the likeliest kept (whisper-cli's and
    /// OpenAI Whisper's `best_of`, 5).
    pub best_of: u32,
    /// Retry when the entropy of a window's last tokens is below this: repeated text
    /// (whisper-cli's 2.4, OpenAI Whisper's compression-ratio check in spirit).
    pub entropy_threshold: f32,
    /// Retry when the mean token log-probability is below this (-1.0).
    pub logprob_threshold: f32,
    /// A window whose no-speech probability is above this and whose text is unlikely (below
    /// `logprob_threshold`) is silence: nothing is kept from it (0.6).
    pub no_speech_threshold: f32,
    /// The most tokens of preceding text given to the decoder as context (whisper-cli's
    /// `--max-context`); `None` is whisper.cpp's own limit (16384), `Some(0)` gives none.
    pub max_context_tokens: Option<u32>,
    /// Never emit non-speech tokens (music notes, brackets, speaker labels...): whisper.cpp's
    /// `suppress_nst`.
    pub suppress_non_speech: bool,
    /// Never emit a text token whose whole text matches this regular expression (Rust `regex`
    /// syntax over each token's UTF-8, where whisper.cpp's `suppress_regex` uses `std::regex`
    /// over bytes; `(?-u)` matches bytes too, which a token holding part of a letter needs);
    /// e.g. `[0-9]+` keeps digits out, so numbers come as words.
    pub suppress_regex: Option<String>,
    /// Run on the GPU when a GPU back end is compiled in (the `cuda`, `vulkan`, `metal` or
    /// `hipblas` feature); CPU-only builds ignore it.
    pub gpu: bool,
    /// Which GPU, counting from 0.
    pub gpu_device: u32,
    /// Text that precedes the audio: names, terms, the style of punctuation wanted. The
    /// pipeline's context (the end of the previous window) follows it.
    pub initial_prompt: Option<String>,
    /// Split segments so that none is longer than this many characters.
    pub max_segment_chars: Option<u32>,
    /// With `max_segment_chars`, split only between words (rech's default) instead of between
    /// any two tokens (whisper-cli's default without `--split-on-word`).
    pub split_on_word: bool,
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
            temperature_increment: 0.2,
            best_of: 5,
            entropy_threshold: 2.4,
            logprob_threshold: -1.0,
            no_speech_threshold: 0.6,
            max_context_tokens: None,
            suppress_non_speech: false,
            suppress_regex: None,
            gpu: true,
            gpu_device: 0,
            initial_prompt: None,
            max_segment_chars: None,
            split_on_word: true,
            encoder_window: EncoderWindow::Full,
            utterance_window: EncoderWindow::Fitted,
        }
    }
}

impl WhisperOptions {
    /// Refuses values whisper.cpp cannot take.
    fn check(&self) -> Result<(), Error> {
        if let Some(prompt) = &self.initial_prompt {
            model::check_prompt_bytes(prompt)?;
        }
        if let Decoding::BeamSearch { beam_size } = self.decoding {
            if !(1..=MAX_DECODERS).contains(&beam_size) {
                return Err(Error::InvalidOption(format!(
                    "beam size {beam_size} is outside 1..={MAX_DECODERS}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.temperature) {
            return Err(Error::InvalidOption(format!(
                "temperature {} is outside 0..=1",
                self.temperature
            )));
        }
        if !(0.0..=1.0).contains(&self.temperature_increment) {
            return Err(Error::InvalidOption(format!(
                "temperature increment {} is outside 0..=1",
                self.temperature_increment
            )));
        }
        if !(1..=MAX_DECODERS).contains(&self.best_of) {
            return Err(Error::InvalidOption(format!(
                "best-of {} is outside 1..={MAX_DECODERS}",
                self.best_of
            )));
        }
        for (name, value) in [
            ("entropy threshold", self.entropy_threshold),
            ("log-probability threshold", self.logprob_threshold),
            ("no-speech threshold", self.no_speech_threshold),
        ] {
            if !value.is_finite() {
                return Err(Error::InvalidOption(format!(
                    "{name} {value} is not a number"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_features_are_read_from_whisper_cpps_report() {
        let report = "WHISPER : COREML = 0 | OPENVINO = 0 | CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX512 = 0 | FMA = 1 | OPENMP = 1 | REPACK = 1 | ";
        assert_eq!(
            features_in_report(report),
            ["SSE3", "SSSE3", "AVX", "FMA", "OPENMP", "REPACK"]
        );
        assert!(features_in_report("nothing here").is_empty());
        assert!(
            !cpu_features().is_empty(),
            "{}",
            whisper_rs::print_system_info()
        );
    }
}
