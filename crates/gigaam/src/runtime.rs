//! Finding and loading ONNX Runtime at run time (`ort`'s `load-dynamic`): building rech needs
//! no ONNX Runtime and downloads nothing, and whisper-only users never load it. The library is
//! looked for in `RECH_ORT_LIB`, then `ORT_DYLIB_PATH`, then rech's own data directory; it is
//! loaded once per process, and everything that can go wrong (missing, too old, not a library)
//! becomes one line that says what to do.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use rech_asr::catalog::CatalogFile;
use rech_asr::download::{self, DownloadError, DownloadEvent, DownloadRequest};
use rech_asr::resolve::ModelSettings;
use rech_asr::CancelToken;
use sha2::{Digest, Sha256};

/// The ONNX Runtime release rech is tested with (the `onnxruntime` wheel on PyPI ships
/// `onnxruntime/capi/libonnxruntime.so.1.32.0`).
pub const ORT_VERSION: &str = "1.32.0";

/// Where rech gets ONNX Runtime when it may go online: the `onnxruntime` wheel on PyPI for this
/// platform (a zip archive), and the library inside it. The wheel's size and sha256 are PyPI's;
/// the library's were read from the downloaded wheels (byte-identical in the cp311 to cp314
/// wheels of each platform) and agree with the wheel's own `RECORD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeArchive {
    /// The wheel.
    pub wheel: CatalogFile,
    /// The library's path inside the wheel.
    pub member: &'static str,
    /// The library's exact size.
    pub member_size: u64,
    /// The library's sha256.
    pub member_sha256: &'static str,
}

/// The host of PyPI's files; `RECH_ORT_BASE_URL` replaces it (a mirror, or a test server).
pub const PYPI_FILES: &str = "https://files.pythonhosted.org";

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const ARCHIVE: Option<RuntimeArchive> = Some(RuntimeArchive {
    wheel: CatalogFile {
        name: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        url: "https://files.pythonhosted.org/packages/1d/46/e6f356c9539d2eed44126de3421a81e217da2ad91b22dc11b379cb1e384f/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        size: 27_773_237,
        sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
    },
    member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
    member_size: 34_824_680,
    member_sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
});

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const ARCHIVE: Option<RuntimeArchive> = Some(RuntimeArchive {
    wheel: CatalogFile {
        name: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        url: "https://files.pythonhosted.org/packages/b7/30/103820b32e9dc1d1fcfc5b519fd2de5bd699d25a25895caf5d726350d1b5/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        size: 23_195_070,
        sha256: "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
    },
    member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
    member_size: 27_165_936,
    member_sha256: "49852228a93995158b2a813d4df487d47a1b76b0eaa894507ef49e91b6d7954a",
});

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
const ARCHIVE: Option<RuntimeArchive> = None;

/// The archive rech downloads ONNX Runtime from on this platform, if there is one.
pub fn archive() -> Option<&'static RuntimeArchive> {
    ARCHIVE.as_ref()
}

/// Why ONNX Runtime could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// rech has no archive for this platform.
    #[error("rech cannot download ONNX Runtime for this platform; set RECH_ORT_LIB to libonnxruntime {ORT_VERSION}")]
    NoArchive,
    /// No home directory and no `RECH_MODELS_DIR`.
    #[error("cannot find a directory for ONNX Runtime; set RECH_MODELS_DIR")]
    NoDirectory,
    /// The download failed (the partial file stays for the next attempt where it can).
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The wheel holds no library, or not the expected one.
    #[error("{path}: {detail}")]
    Archive {
        /// The wheel.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

/// Downloads the `onnxruntime` wheel for this platform into the model directory (verified,
/// resumable, locked, like a model), takes the library out of it (verified too), moves it
/// into place whole and deletes the wheel. Returns the library's path; one already in place
/// is returned at once.
pub fn fetch(
    settings: &ModelSettings,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<PathBuf, FetchError> {
    let archive = archive().ok_or(FetchError::NoArchive)?;
    let lib = own_copy_in(&settings.store);
    if lib.is_file() {
        return Ok(lib);
    }
    let dir = lib.parent().ok_or(FetchError::NoDirectory)?.to_owned();
    std::fs::create_dir_all(&dir).map_err(|e| FetchError::Archive {
        path: dir.display().to_string(),
        detail: rech_asr::describe_io(&e),
    })?;
    let wheel = dir.join(archive.wheel.name);
    let url = match std::env::var("RECH_ORT_BASE_URL") {
        Ok(base) if !base.is_empty() => {
            archive
                .wheel
                .url
                .replacen(PYPI_FILES, base.trim_end_matches('/'), 1)
        }
        _ => archive.wheel.url.to_owned(),
    };
    let request = DownloadRequest {
        url,
        dest: wheel.clone(),
        sha256: archive.wheel.sha256.to_owned(),
        size: Some(archive.wheel.size),
        timeout: settings.timeout,
    };
    download::download(&request, Some(cancel), on_event)?;
    extract(archive, &wheel, &lib)?;
    let _ = std::fs::remove_file(&wheel);
    Ok(lib)
}

/// Takes `archive.member` out of `wheel` into `lib`, checking its size and sha256 first.
fn extract(archive: &RuntimeArchive, wheel: &Path, lib: &Path) -> Result<(), FetchError> {
    let bad = |detail: String| FetchError::Archive {
        path: wheel.display().to_string(),
        detail,
    };
    let io = |e: std::io::Error| bad(rech_asr::describe_io(&e));
    let mut zip = zip::ZipArchive::new(File::open(wheel).map_err(io)?)
        .map_err(|e| bad(format!("not a wheel ({e})")))?;
    let mut member = zip
        .by_name(archive.member)
        .map_err(|_| bad(format!("it holds no {}", archive.member)))?;
    let part = download::sibling(lib, "part");
    let mut out = File::create(&part).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    loop {
        let n = member.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        written += n as u64;
        if written > archive.member_size {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io)?;
    }
    out.sync_all().map_err(io)?;
    drop(out);
    let sha: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if written != archive.member_size || sha != archive.member_sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(bad(format!(
            "its {} is not the expected one (sha256 {sha}, {written} bytes)",
            archive.member
        )));
    }
    std::fs::rename(&part, lib).map_err(io)?;
    Ok(())
}

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

/// Where rech keeps its own copy of the library in the model directory of the environment
/// (`RECH_MODELS_DIR`, or the platform's cache).
pub fn own_copy() -> Option<PathBuf> {
    rech_asr::catalog::ModelStore::from_env().map(|store| own_copy_in(&store))
}

/// Where rech keeps its own copy of the library in `store`: `onnxruntime-<version>/`.
pub fn own_copy_in(store: &rech_asr::catalog::ModelStore) -> PathBuf {
    store
        .dir
        .join(format!("onnxruntime-{ORT_VERSION}"))
        .join(library_name())
}

/// The library the environment names: `RECH_ORT_LIB`, else `ORT_DYLIB_PATH` (set even when its
/// file is missing, so that the error names it).
pub fn configured() -> Option<PathBuf> {
    ["RECH_ORT_LIB", "ORT_DYLIB_PATH"]
        .into_iter()
        .find_map(|var| std::env::var_os(var).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
}

/// The library to load: [`configured`], or rech's own copy, whichever is found first.
pub fn locate() -> Option<PathBuf> {
    configured().or_else(|| own_copy().filter(|p| p.is_file()))
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

/// Whether ONNX Runtime is loaded in this process already (by [`use_library`] or a model).
pub fn is_loaded() -> bool {
    ENVIRONMENT.get().is_some_and(Result::is_ok)
}

/// The process's ONNX Runtime environment, loading the library the first time.
pub(crate) fn environment() -> Result<&'static Environment, RuntimeError> {
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
    let env = builder
        .with_name("rech")
        .build()
        .map_err(|e| unusable(short(&e.to_string())))?;
    crate::malloc::return_large_buffers();
    Ok(env)
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
