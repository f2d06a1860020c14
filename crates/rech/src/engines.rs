//! The one place that names the engine crates: which engine a model file is for (by content,
//! never by name), the default model for a language and a use, and loading a model with the
//! engine it needs (fetching ONNX Runtime first for GigaAM). Everything after loading goes
//! through rech-asr's [`Engine`] trait.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rech_asr::catalog::{DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL};
use rech_asr::resolve::{model_format, ModelFormat};
use rech_asr::{Capabilities, Engine};

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

    /// What the engine can do, as far as it is known before a model is loaded (a Whisper
    /// model is taken to be multilingual: its file says whether it is). Without the engine's
    /// Cargo feature, the answer is the one its crate would give.
    pub fn capabilities(self) -> Capabilities {
        match self {
            #[cfg(feature = "whisper")]
            Self::Whisper => rech_whisper::capabilities(true),
            #[cfg(feature = "gigaam")]
            Self::Gigaam => rech_gigaam::capabilities(),
            #[allow(unreachable_patterns)]
            other => Capabilities {
                engine: other.name(),
                languages: vec!["ru".to_owned()],
                detects_language: other == Self::Whisper,
                min_samples: rech_asr::MIN_SAMPLES,
                max_samples: None,
                takes_prompt: other == Self::Whisper,
                word_times: true,
                hallucinates_on_silence: other == Self::Whisper,
                decoding_options: other == Self::Whisper,
                split_at_removed_pauses: other == Self::Gigaam,
            },
        }
    }
}

/// An option a caller wants that an engine may not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// One of Whisper's decoding options, named as the caller names it (see
    /// [`Capabilities::decoding_options`]).
    DecodingOption(&'a str),
    /// A spoken language (`None`: detect it).
    Language(Option<&'a str>),
}

/// The one rule for what an engine honours, answered from its [`Capabilities`]: the first
/// wanted option they rule out, as [`Error::Unsupported`].
pub fn check_wanted(capabilities: &Capabilities, wanted: &[Wanted<'_>]) -> Result<(), Error> {
    for want in wanted {
        let refusal = match *want {
            Wanted::DecodingOption(option) if !capabilities.decoding_options => Some((
                option.to_owned(),
                "takes none of Whisper's decoding options".to_owned(),
            )),
            Wanted::DecodingOption(_) => None,
            Wanted::Language(language) => {
                let spoken = match language {
                    Some(code) => capabilities.supports_language(code),
                    None => capabilities.detects_language,
                };
                (!spoken).then(|| {
                    let names: Vec<String> = capabilities
                        .languages
                        .iter()
                        .map(|c| language_name(c))
                        .collect();
                    (
                        format!("language {}", language.unwrap_or("auto")),
                        format!("transcribes {} only", names.join(", ")),
                    )
                })
            }
        };
        if let Some((option, why)) = refusal {
            return Err(Error::Unsupported {
                option,
                engine: capabilities.engine,
                why,
            });
        }
    }
    Ok(())
}

/// A language's English name, capitalised (`Russian`), or its code.
fn language_name(code: &str) -> String {
    let name = rech_asr::languages::name(code).unwrap_or(code);
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
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
    /// default is what [`Capabilities::decoding_options`] is asked about).
    #[cfg(feature = "whisper")]
    pub whisper: rech_whisper::WhisperOptions,
    /// How many recognizers will run at once (a server's workers, `-j` jobs; 0 is taken as 1).
    pub workers: usize,
    /// GigaAM: how many copies of the model's big graph (nearly all its weights) the workers
    /// share; 0 is one per worker, the fastest; 1 holds the least memory, each run then on the
    /// threads of all the workers.
    pub model_copies: usize,
    /// GigaAM: run the model's big graph on this CUDA device, through ONNX Runtime's CUDA
    /// build (`onnxruntime-gpu`, fetched on first use like the CPU build); `None` is the CPU.
    /// Whisper's GPU is in `whisper` (and needs a build with a GPU back end).
    pub gpu: Option<u32>,
}

/// Loads the model at `path` with the engine its content calls for; GigaAM's sessions get
/// `threads` threads (the first recognizer's), and ONNX Runtime is made ready through
/// `fetcher` first (after the model's files are found, so a wrong path never waits for a
/// download).
pub fn load_engine(
    path: &Path,
    options: &EngineOptions,
    threads: usize,
    fetcher: &mut Fetcher,
) -> Result<Arc<dyn Engine>, Error> {
    let started = Instant::now();
    let kind = EngineKind::of(path);
    let engine = match kind {
        EngineKind::Whisper => load_whisper(path, options)?,
        EngineKind::Gigaam => load_gigaam(path, threads, options, fetcher)?,
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
    options: &EngineOptions,
    fetcher: &mut Fetcher,
) -> Result<Arc<dyn Engine>, Error> {
    use rech_gigaam::runtime::RuntimeKind;
    use rech_gigaam::{GigaamEngine, GigaamOptions};
    GigaamEngine::find_files(path)?;
    match options.gpu {
        Some(_) => fetcher.runtime_of(RuntimeKind::Cuda, Some("first use of GigaAM on the GPU"))?,
        None => fetcher.runtime(Some("first use of GigaAM"))?,
    }
    let workers = options.workers.max(1);
    let copies = match options.model_copies {
        0 => workers,
        n => n.min(workers),
    };
    // A copy shared by several workers runs on all their threads, but on no more than the
    // machine has: four workers of one thread on two cores would make its threads wait.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = (threads * workers).div_ceil(copies).min(cores).max(threads);
    let options = GigaamOptions {
        threads: shared,
        copies,
        gpu: options.gpu,
        ..GigaamOptions::default()
    };
    Ok(Arc::new(GigaamEngine::load(path, options)?))
}

#[cfg(not(feature = "gigaam"))]
fn load_gigaam(
    path: &Path,
    _: usize,
    _: &EngineOptions,
    _: &mut Fetcher,
) -> Result<Arc<dyn Engine>, Error> {
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
        let gigaam = EngineKind::Gigaam.capabilities();
        let refused = check_wanted(&gigaam, &[Wanted::Language(Some("en"))]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "GigaAM-v3 does not take language en: it transcribes Russian only"
        );
        assert!(check_wanted(&gigaam, &[Wanted::DecodingOption("beam search")]).is_err());
        let whisper = EngineKind::Whisper.capabilities();
        assert!(check_wanted(
            &whisper,
            &[
                Wanted::Language(None),
                Wanted::DecodingOption("beam search")
            ]
        )
        .is_ok());
    }
}
