//! A loaded Whisper model: the file is checked by our own reader before whisper.cpp sees it,
//! because whisper.cpp happily loads a file without weights and then prints nonsense, and
//! aborts the process on some damaged files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use whisper_rs::{WhisperContext, WhisperContextParameters};

use crate::error::{describe_io, Error};
use crate::model_file::{self, GgmlType, Hparams, ModelFileError, ModelFileInfo};

/// A Whisper model in memory, shareable between threads (each transcriber has its own state).
#[derive(Clone)]
pub struct Model {
    pub(crate) ctx: Arc<WhisperContext>,
    path: PathBuf,
    info: ModelFileInfo,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// How whisper.cpp runs a model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelOptions {
    /// Flash attention. Off by default: on CPU, whisper.cpp 1.8.3's flash-attention kernel made
    /// the encoder 1.7–4× slower than its matrix-product attention on the machines rech is
    /// measured on (BENCHMARKS.md, `bench/encoder_gap.py`); it pays off on GPUs.
    pub flash_attention: bool,
}

impl Model {
    /// Checks and loads a whisper.cpp ggml model file with the default [`ModelOptions`].
    ///
    /// The whole file is validated first (magic, header ranges, vocabulary, every tensor's name,
    /// shape, type and extent): a file that fails is never handed to whisper.cpp.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::load_with(path, &ModelOptions::default())
    }

    /// [`Model::load`] with explicit options.
    pub fn load_with(path: &Path, options: &ModelOptions) -> Result<Self, Error> {
        let info = validate(path)?;
        install_log_routing();
        let mut params = WhisperContextParameters::default();
        params.flash_attn(options.flash_attention);
        // rech's builds are CPU-only unless a GPU feature is enabled; whisper.cpp ignores this
        // then, and uses the GPU when one is compiled in.
        params.use_gpu(true);
        let ctx = WhisperContext::new_with_params(path, params).map_err(|_| Error::ModelLoad {
            path: path.display().to_string(),
        })?;
        Ok(Self {
            ctx: Arc::new(ctx),
            path: path.to_owned(),
            info,
        })
    }

    /// Where the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's dimensions.
    pub fn hparams(&self) -> &Hparams {
        &self.info.hparams
    }

    /// What the validator found in the file (sizes, tensor count).
    pub fn file_info(&self) -> &ModelFileInfo {
        &self.info
    }

    /// Whether the model knows languages other than English (and so can transcribe Russian).
    pub fn is_multilingual(&self) -> bool {
        self.info.hparams.is_multilingual()
    }
}

/// Checks a model file without loading it, with errors that name the file.
pub fn validate(path: &Path) -> Result<ModelFileInfo, Error> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::ModelNotFound {
            path: shown.clone(),
        },
        _ => Error::ModelUnreadable {
            path: shown.clone(),
            detail: describe_io(&e),
        },
    })?;
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
