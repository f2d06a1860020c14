//! A loaded Whisper model: the file is checked by our own reader before whisper.cpp sees it,
//! because whisper.cpp happily loads a file without weights and then prints nonsense, and
//! aborts the process on some damaged files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rech_asr::{describe_io, Capabilities, Engine, Error, Recognizer, MIN_SAMPLES};
use rech_ggml::model_file::{self, GgmlType, ModelFileError, ModelFileInfo};
use whisper_rs::{WhisperContext, WhisperContextParameters};

use crate::recognizer::WhisperRecognizer;
use crate::{WhisperOptions, ENGINE, MAX_PROMPT_BYTES, MAX_PROMPT_TOKENS};

/// A Whisper model in memory with the options it decodes with, shareable between threads
/// (each recognizer has its own whisper.cpp state).
#[derive(Clone)]
pub struct WhisperEngine {
    pub(crate) ctx: Arc<WhisperContext>,
    pub(crate) shared: Arc<Shared>,
}

/// What every recognizer of one engine reads.
pub(crate) struct Shared {
    pub path: PathBuf,
    pub info: ModelFileInfo,
    pub options: WhisperOptions,
    pub capabilities: Capabilities,
    /// The text tokens `options.suppress_regex` keeps out of the text.
    pub suppressed_tokens: Vec<i32>,
}

impl std::fmt::Debug for WhisperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperEngine")
            .field("path", &self.shared.path)
            .field("info", &self.shared.info)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl WhisperEngine {
    /// Checks and loads a whisper.cpp ggml model file with `options`.
    ///
    /// The whole file is validated first (magic, header ranges, vocabulary, every tensor's name,
    /// shape, type and extent): a file that fails is never handed to whisper.cpp. Options it
    /// cannot take (a prompt with a NUL, a beam or best-of outside 1..=8, a temperature outside 0..=1) are
    /// refused before the file is read.
    pub fn load(path: &Path, options: WhisperOptions) -> Result<Self, Error> {
        options.check()?;
        let suppress = options
            .suppress_regex
            .as_deref()
            .map(whole_token_regex)
            .transpose()?;
        let info = validate(path)?;
        install_log_routing();
        let mut params = WhisperContextParameters::default();
        params.flash_attn(options.flash_attention);
        // rech's builds are CPU-only unless a GPU feature is enabled; whisper.cpp ignores these
        // then.
        params.use_gpu(options.gpu);
        params.gpu_device(options.gpu_device.min(i32::MAX as u32) as i32);
        let ctx = WhisperContext::new_with_params(path, params).map_err(|_| Error::ModelLoad {
            engine: ENGINE,
            path: path.display().to_string(),
        })?;
        let suppressed_tokens = match &suppress {
            Some(regex) => matching_text_tokens(&ctx, regex),
            None => Vec::new(),
        };
        let capabilities = capabilities(info.hparams.is_multilingual());
        let engine = Self {
            ctx: Arc::new(ctx),
            shared: Arc::new(Shared {
                path: path.to_owned(),
                info,
                options,
                capabilities,
                suppressed_tokens,
            }),
        };
        if let Some(prompt) = &engine.shared.options.initial_prompt {
            engine.check_prompt(prompt)?;
        }
        Ok(engine)
    }

    /// How many tokens whisper.cpp makes of `text` (at most [`MAX_PROMPT_BYTES`] long: see
    /// [`Engine::check_prompt`]). whisper.cpp's tokenizer recurses through `std::regex` once per
    /// character of a word, so it runs on a thread of its own with the stack recognition
    /// threads get, whatever the caller's stack is.
    pub fn count_tokens(&self, text: &str) -> Result<usize, Error> {
        check_prompt_bytes(text)?;
        let ctx = Arc::clone(&self.ctx);
        let text = text.to_owned();
        let failed = |what: &str| Error::Engine {
            engine: ENGINE,
            what: format!("tokenising the prompt ({what})"),
        };
        std::thread::Builder::new()
            .name("rech-tokenize".to_owned())
            .stack_size(rech_asr::RECOGNIZER_STACK_BYTES)
            // Every token is at least one byte: room for as many tokens as bytes means
            // whisper.cpp never reports "too many" (which whisper-rs 0.16 mishandles).
            .spawn(move || ctx.tokenize(&text, text.len() + 1).map(|t| t.len()))
            .map_err(|e| failed(&e.to_string()))?
            .join()
            .map_err(|_| failed("the tokenizer panicked"))?
            .map_err(|e| failed(&e.to_string()))
    }

    /// Where the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// What the validator found in the file (dimensions, sizes, tensor count).
    pub fn file_info(&self) -> &ModelFileInfo {
        &self.shared.info
    }

    /// The options it decodes with.
    pub fn options(&self) -> &WhisperOptions {
        &self.shared.options
    }

    /// Whether the model knows languages other than English (and so can transcribe Russian).
    pub fn is_multilingual(&self) -> bool {
        self.shared.info.hparams.is_multilingual()
    }

    /// A recognizer of the concrete type, for what only Whisper does
    /// ([`WhisperRecognizer::utterance`]).
    pub fn whisper_recognizer(&self, threads: usize) -> Result<WhisperRecognizer, Error> {
        WhisperRecognizer::new(self, threads)
    }
}

impl Engine for WhisperEngine {
    fn capabilities(&self) -> &Capabilities {
        &self.shared.capabilities
    }

    fn recognizer(&self, threads: usize) -> Result<Box<dyn Recognizer>, Error> {
        Ok(Box::new(WhisperRecognizer::new(self, threads)?))
    }

    /// At most [`MAX_PROMPT_TOKENS`] tokens (and [`MAX_PROMPT_BYTES`] bytes), no NUL.
    fn check_prompt(&self, prompt: &str) -> Result<(), Error> {
        let tokens = self.count_tokens(prompt)?;
        if tokens > MAX_PROMPT_TOKENS {
            return Err(Error::PromptTooLong {
                engine: ENGINE,
                length: format!("{tokens} tokens"),
                limit: format!("{MAX_PROMPT_TOKENS} tokens"),
            });
        }
        Ok(())
    }
}

/// The checks of a prompt that need no model: no NUL, at most [`MAX_PROMPT_BYTES`].
pub(crate) fn check_prompt_bytes(prompt: &str) -> Result<(), Error> {
    if prompt.contains('\0') {
        return Err(Error::InvalidOption(
            "the prompt contains a NUL character".to_owned(),
        ));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(Error::PromptTooLong {
            engine: ENGINE,
            length: format!("{} bytes", prompt.len()),
            limit: format!("{MAX_PROMPT_TOKENS} tokens ({MAX_PROMPT_BYTES} bytes)"),
        });
    }
    Ok(())
}

/// `pattern` anchored at both ends, for matching a token's whole text as `std::regex_match`
/// does; an invalid pattern is one line saying why.
fn whole_token_regex(pattern: &str) -> Result<regex::bytes::Regex, Error> {
    regex::bytes::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        let why = match &e {
            regex::Error::Syntax(text) => text
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map(|l| l.trim_start_matches("error:").trim().to_owned())
                .unwrap_or_else(|| "a syntax error".to_owned()),
            other => other.to_string(),
        };
        Error::InvalidOption(format!(
            "the suppress regex {pattern:?} is not a regular expression: {why}"
        ))
    })
}

/// The text tokens (below end-of-text: special tokens are never suppressed) whose bytes
/// `regex` matches.
fn matching_text_tokens(ctx: &WhisperContext, regex: &regex::bytes::Regex) -> Vec<i32> {
    (0..ctx.token_eot())
        .filter(|&id| {
            ctx.token_to_bytes(id)
                .is_ok_and(|bytes| regex.is_match(bytes))
        })
        .collect()
}

/// What a Whisper model can do: every whisper.cpp language when it is multilingual (English
/// only otherwise), any length (it steps through 30 s windows itself), a prompt, token times,
/// whisper-cli's decoding options, and hallucinations on silence.
pub fn capabilities(multilingual: bool) -> Capabilities {
    let languages = if multilingual {
        (0..=whisper_rs::get_lang_max_id())
            .filter_map(whisper_rs::get_lang_str)
            .map(str::to_owned)
            .collect()
    } else {
        vec!["en".to_owned()]
    };
    Capabilities {
        engine: ENGINE,
        languages,
        detects_language: true,
        min_samples: MIN_SAMPLES,
        max_samples: None,
        takes_prompt: true,
        word_times: true,
        hallucinates_on_silence: true,
        split_at_removed_pauses: false,
        decoding_options: true,
    }
}

/// Checks a model file without loading it, with errors that name the file.
pub fn validate(path: &Path) -> Result<ModelFileInfo, Error> {
    let shown = path.display().to_string();
    let meta = rech_asr::model_metadata(path)?;
    if meta.is_dir() {
        return Err(Error::ModelUnreadable {
            path: shown,
            detail: "is a directory, not a model file".to_owned(),
        });
    }
    let info = model_file::inspect(path).map_err(|source| match source {
        ModelFileError::Io(e) => Error::ModelUnreadable {
            path: shown.clone(),
            detail: describe_io(&e),
        },
        source => Error::InvalidModel {
            path: shown.clone(),
            source,
        },
    })?;
    // whisper.cpp 1.8.3 loads such a file, then asserts in ggml's im2col on the first encode
    // (it keeps f32 convolution kernels for an f32 model but asks im2col for f16 output),
    // taking the whole process down.
    if info.hparams.weight_type() == Some(GgmlType::F32) {
        return Err(Error::InvalidModel {
            path: shown,
            source: ModelFileError::F32Weights,
        });
    }
    Ok(info)
}

/// Routes whisper.cpp's and ggml's log lines into the `log` crate (target `whisper_rs`), so they
/// are silent unless the application asks for them. Safe to call many times.
pub fn install_log_routing() {
    whisper_rs::install_logging_hooks();
}
