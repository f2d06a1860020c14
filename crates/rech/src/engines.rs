//! The one place that names the engine crates: which engine a model file is for (by content,
//! never by name), the default model for a language and a use, and loading a model with the
//! engine it needs (fetching ONNX Runtime first for GigaAM). Everything after loading goes
//! through rech-asr's [`Engine`] trait.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rech_asr::catalog::{DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL};
use rech_asr::resolve::{model_format, ModelFormat};
use rech_asr::Engine;

use crate::error::Error;
use crate::fetch::Fetcher;

/// The engines a model can be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineKind {
    /// Whisper through whisper.cpp (a ggml file).
    Whisper,
    /// GigaAM-v3 through ONNX Runtime (an ONNX file, or a directory of them).
    Gigaam,
}

impl EngineKind {
    /// Which engine the model at `path` is for, by content: an ONNX file, or a directory
    /// holding one, is GigaAM's, a ggml file Whisper's. Anything else goes to the engine its
    /// name suggests (`.onnx`: GigaAM), whose loader says what is wrong with it.
    pub fn of(path: &Path) -> Self {
        match model_format(path) {
            ModelFormat::Onnx => Self::Gigaam,
            ModelFormat::Directory if holds_onnx(path) => Self::Gigaam,
            ModelFormat::Directory | ModelFormat::Ggml => Self::Whisper,
            ModelFormat::Other if path.extension().is_some_and(|e| e == "onnx") => Self::Gigaam,
            ModelFormat::Other => Self::Whisper,
        }
    }

    /// The engine's name as users know it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Whisper => "whisper.cpp",
            Self::Gigaam => "GigaAM-v3",
        }
    }

    /// Whether the engine takes Whisper's decoding options (beam search, temperatures and
    /// their fallback, thresholds, token suppression, a prompt, translation, segment length,
    /// its 30 s window, GPU and flash attention); known before the model is loaded, and the
    /// same answer as the loaded engine's [`rech_asr::Capabilities::takes_prompt`] gives for
    /// the prompt.
    pub fn takes_decoding_options(self) -> bool {
        self == Self::Whisper
    }

    /// Whether the engine transcribes `language` (an ISO 639-1 code; `None`: detect it),
    /// known before the model is loaded.
    pub fn speaks(self, language: Option<&str>) -> bool {
        match self {
            Self::Whisper => true,
            Self::Gigaam => language == Some("ru"),
        }
    }
}

/// Whether a directory holds a GigaAM-v3 file (`v3_*.onnx`).
fn holds_onnx(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|read| {
        read.flatten().any(|f| {
            let name = f.file_name().to_string_lossy().into_owned();
            name.starts_with("v3_") && name.ends_with(".onnx")
        })
    })
}

/// What a model is for: files, live dictation, or a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Transcribing recordings.
    Files,
    /// Live dictation, where a final must follow the end of speech within a fraction of a
    /// second.
    Dictation,
    /// A server answering requests for files and streams.
    Server,
}

/// The Whisper model dictation uses for other languages: fast enough to keep up on a laptop.
pub const DEFAULT_DICTATION_MODEL: &str = "small-q8_0";

/// The one rule for the default model: GigaAM-v3 for Russian unless a Whisper-only option is
/// wanted; otherwise Whisper (`medium-q8_0` for files and servers, `small-q8_0` for dictation).
pub fn default_model(language: Option<&str>, purpose: Use, whisper_options: bool) -> &'static str {
    if language == Some("ru") && !whisper_options {
        return DEFAULT_RUSSIAN_MODEL;
    }
    match purpose {
        Use::Files | Use::Server => DEFAULT_MODEL,
        Use::Dictation => DEFAULT_DICTATION_MODEL,
    }
}

/// The engines' own settings, applied when a model loads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineOptions {
    /// Whisper's decoding options (ignored for GigaAM models; whether any differs from the
    /// default is what [`EngineKind::takes_decoding_options`] is asked about).
    #[cfg(feature = "whisper")]
    pub whisper: rech_whisper::WhisperOptions,
}

/// Loads the model at `path` with the engine its content calls for; GigaAM's sessions get
/// `threads` threads (the first recognizer's), and ONNX Runtime is made ready through
/// `fetcher` first (after the model's files are found, so a wrong path never waits for a
/// download).
pub fn load(
    path: &Path,
    options: &EngineOptions,
    threads: usize,
    fetcher: &mut Fetcher,
) -> Result<Arc<dyn Engine>, Error> {
    let started = Instant::now();
    let kind = EngineKind::of(path);
    let engine = match kind {
        EngineKind::Whisper => load_whisper(path, options)?,
        EngineKind::Gigaam => load_gigaam(path, threads, fetcher)?,
    };
    log::info!(
        "loaded {} in {:.2} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(engine)
}

#[cfg(feature = "whisper")]
fn load_whisper(path: &Path, options: &EngineOptions) -> Result<Arc<dyn Engine>, Error> {
    Ok(Arc::new(rech_whisper::WhisperEngine::load(
        path,
        options.whisper.clone(),
    )?))
}

#[cfg(not(feature = "whisper"))]
fn load_whisper(path: &Path, _: &EngineOptions) -> Result<Arc<dyn Engine>, Error> {
    Err(Error::EngineNotBuilt {
        path: path.to_owned(),
        engine: EngineKind::Whisper.name(),
        feature: "whisper",
    })
}

#[cfg(feature = "gigaam")]
fn load_gigaam(
    path: &Path,
    threads: usize,
    fetcher: &mut Fetcher,
) -> Result<Arc<dyn Engine>, Error> {
    use rech_gigaam::{GigaamEngine, GigaamOptions};
    GigaamEngine::find_files(path)?;
    fetcher.runtime(Some("first use of GigaAM"))?;
    let options = GigaamOptions {
        threads,
        ..GigaamOptions::default()
    };
    Ok(Arc::new(GigaamEngine::load(path, options)?))
}

#[cfg(not(feature = "gigaam"))]
fn load_gigaam(path: &Path, _: usize, _: &mut Fetcher) -> Result<Arc<dyn Engine>, Error> {
    Err(Error::EngineNotBuilt {
        path: path.to_owned(),
        engine: EngineKind::Gigaam.name(),
        feature: "gigaam",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_the_default_model() {
        assert_eq!(
            default_model(Some("ru"), Use::Files, false),
            DEFAULT_RUSSIAN_MODEL
        );
        assert_eq!(default_model(Some("ru"), Use::Files, true), DEFAULT_MODEL);
        assert_eq!(default_model(None, Use::Server, false), DEFAULT_MODEL);
        assert_eq!(
            default_model(Some("en"), Use::Dictation, false),
            DEFAULT_DICTATION_MODEL
        );
        assert_eq!(
            default_model(Some("ru"), Use::Dictation, false),
            DEFAULT_RUSSIAN_MODEL
        );
    }

    #[test]
    fn engines_are_told_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("ggml-small.bin");
        std::fs::write(&onnx, [0x08, 0x08, 0x12, 0x07]).unwrap();
        assert_eq!(EngineKind::of(&onnx), EngineKind::Gigaam);
        assert_eq!(EngineKind::of(dir.path()), EngineKind::Whisper);
        std::fs::write(dir.path().join("v3_ctc.onnx"), b"").unwrap();
        assert_eq!(EngineKind::of(dir.path()), EngineKind::Gigaam);
        assert!(!EngineKind::Gigaam.speaks(Some("en")));
        assert!(EngineKind::Whisper.speaks(None));
    }
}
