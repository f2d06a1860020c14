//! Finding and loading ONNX Runtime at run time (`ort`'s `load-dynamic`): building rech needs
//! no ONNX Runtime and downloads nothing, and whisper-only users never load it. The library is
//! looked for in `RECH_ORT_LIB`, then `ORT_DYLIB_PATH`, then rech's own data directory; it is
//! loaded once per process, and everything that can go wrong (missing, too old, not a library)
//! becomes one line that says what to do.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

/// The ONNX Runtime release rech is tested with (the `onnxruntime` wheel on PyPI ships
/// `onnxruntime/capi/libonnxruntime.so.1.32.0`).
pub const ORT_VERSION: &str = "1.32.0";

/// The file name of the library on this platform.
pub fn library_name() -> String {
    if cfg!(target_os = "windows") {
        "onnxruntime.dll".to_owned()
    } else if cfg!(target_os = "macos") {
        format!("libonnxruntime.{ORT_VERSION}.dylib")
    } else {
        format!("libonnxruntime.so.{ORT_VERSION}")
    }
}

/// Where rech keeps its own copy of the library: `onnxruntime-<version>/` in the model
/// directory (`RECH_MODELS_DIR`, or the platform's cache).
pub fn own_copy() -> Option<PathBuf> {
    let store = rech_asr::catalog::ModelStore::from_env()?;
    Some(
        store
            .dir
            .join(format!("onnxruntime-{ORT_VERSION}"))
            .join(library_name()),
    )
}

/// The library to load: `RECH_ORT_LIB`, `ORT_DYLIB_PATH`, or rech's own copy, whichever is
/// set first (an environment variable counts even when its file is missing, so that the error
/// names it).
pub fn locate() -> Option<PathBuf> {
    for var in ["RECH_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(path));
        }
    }
    own_copy().filter(|p| p.is_file())
}

/// Why ONNX Runtime cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// Nothing names a library and rech has no copy of its own.
    #[error("GigaAM needs ONNX Runtime {ORT_VERSION}, and none was found: set RECH_ORT_LIB to libonnxruntime's path (the onnxruntime wheel on PyPI has it in onnxruntime/capi/), or put it at {own}")]
    NotFound {
        /// Where rech's own copy would be.
        own: String,
    },
    /// The file is missing or is not a library ONNX Runtime's API can be had from.
    #[error("{path} is not a usable ONNX Runtime library ({detail}); set RECH_ORT_LIB to libonnxruntime {ORT_VERSION}")]
    Unusable {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The library is older than the API `ort` needs.
    #[error("{path} is ONNX Runtime {found}, older than {needed} that rech needs; set RECH_ORT_LIB to libonnxruntime {ORT_VERSION}")]
    TooOld {
        /// The file.
        path: String,
        /// Its version.
        found: String,
        /// The oldest version that works.
        needed: String,
    },
}

static ENVIRONMENT: OnceLock<Result<Environment, RuntimeError>> = OnceLock::new();

/// Loads ONNX Runtime from `path` for the rest of the process, whatever the environment
/// variables say (for programs that ship their own copy, and for tests). Loading happens once:
/// after the first load, this returns that first result.
pub fn use_library(path: &Path) -> Result<(), RuntimeError> {
    ENVIRONMENT
        .get_or_init(|| load(path))
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// The process's ONNX Runtime environment, loading the library the first time.
pub fn environment() -> Result<&'static Environment, RuntimeError> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = locate().ok_or_else(|| RuntimeError::NotFound {
                own: own_copy().map_or_else(
                    || "the model directory (set RECH_MODELS_DIR)".to_owned(),
                    |p| p.display().to_string(),
                ),
            })?;
            load(&path)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn load(path: &Path) -> Result<Environment, RuntimeError> {
    let shown = path.display().to_string();
    let unusable = |detail: String| RuntimeError::Unusable {
        path: shown.clone(),
        detail,
    };
    if !path.is_file() {
        return Err(unusable(if path.exists() {
            "not a file".to_owned()
        } else {
            "no such file".to_owned()
        }));
    }
    // A library that exports the entry point but hands out no API makes ort panic; that must
    // be one line too, not a crash (the panic's own message is kept quiet meanwhile).
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::panic::catch_unwind(|| start(path, &shown));
    std::panic::set_hook(previous_hook);
    started.unwrap_or_else(|_| Err(unusable("it did not start ONNX Runtime's API".to_owned())))
}

fn start(path: &Path, shown: &str) -> Result<Environment, RuntimeError> {
    let unusable = |detail: String| RuntimeError::Unusable {
        path: shown.to_owned(),
        detail,
    };
    let builder = ort::init_from(path).map_err(|e| match e {
        ort::LoadDynamicError::BadVersion { version_str, .. } => RuntimeError::TooOld {
            path: shown.to_owned(),
            found: version_str,
            needed: format!("1.{}", ort::MINOR_VERSION),
        },
        ort::LoadDynamicError::MissingApi { .. } => {
            unusable("it does not export OrtGetApiBase".to_owned())
        }
        ort::LoadDynamicError::Dlopen { error, .. } => {
            let detail = match std::error::Error::source(&error) {
                Some(cause) => format!("{error}: {cause}"),
                None => error.to_string(),
            };
            unusable(short(&detail))
        }
        other => unusable(short(&other.to_string())),
    })?;
    builder
        .with_name("rech")
        .build()
        .map_err(|e| unusable(short(&e.to_string())))
}

/// A library's message made one lowercase line.
pub(crate) fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
