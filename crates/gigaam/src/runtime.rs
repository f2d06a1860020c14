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

/// The ONNX Runtime release with CUDA that rech fetches for GigaAM on the GPU: the newest
/// `onnxruntime-gpu` wheel on PyPI (built for CUDA 13 and cuDNN 9).
pub const ORT_CUDA_VERSION: &str = "1.31.1";

/// Which build of ONNX Runtime: the CPU one every GigaAM run needs, or the one with CUDA's
/// execution provider (`onnxruntime-gpu`) that GigaAM on the GPU needs. A process loads one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    /// The `onnxruntime` wheel's library: CPU only.
    Cpu,
    /// The `onnxruntime-gpu` wheel's library with its CUDA provider.
    Cuda,
}

impl RuntimeKind {
    /// Its release.
    pub fn version(self) -> &'static str {
        match self {
            Self::Cpu => ORT_VERSION,
            Self::Cuda => ORT_CUDA_VERSION,
        }
    }

    /// The name rech downloads and lists it under, and the prefix of its directory in the
    /// model store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "onnxruntime",
            Self::Cuda => "onnxruntime-gpu",
        }
    }

    /// The archive rech downloads it from on this platform, if there is one.
    pub fn archive(self) -> Option<&'static RuntimeArchive> {
        match self {
            Self::Cpu => ARCHIVE.as_ref(),
            Self::Cuda => CUDA_ARCHIVE.as_ref(),
        }
    }
}

/// One file rech takes out of a wheel, checked before it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveMember {
    /// Its path inside the wheel; it is installed under its file name.
    pub path: &'static str,
    /// Its exact size.
    pub size: u64,
    /// Its sha256.
    pub sha256: &'static str,
}

impl ArchiveMember {
    fn file_name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }
}

/// Where rech gets ONNX Runtime when it may go online: a wheel on PyPI for this platform (a
/// zip archive), and the libraries inside it. The wheel's size and sha256 are PyPI's; the
/// libraries' were read from the downloaded wheels (byte-identical in the cp311 to cp314
/// wheels of each platform) and agree with the wheel's own `RECORD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeArchive {
    /// The wheel.
    pub wheel: CatalogFile,
    /// The library rech loads.
    pub library: ArchiveMember,
    /// The libraries it loads from its own directory (the CUDA provider and its bridge).
    pub companions: &'static [ArchiveMember],
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
    library: ArchiveMember {
        path: "onnxruntime/capi/libonnxruntime.so.1.32.0",
        size: 34_824_680,
        sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    },
    companions: &[],
});

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const ARCHIVE: Option<RuntimeArchive> = Some(RuntimeArchive {
    wheel: CatalogFile {
        name: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        url: "https://files.pythonhosted.org/packages/b7/30/103820b32e9dc1d1fcfc5b519fd2de5bd699d25a25895caf5d726350d1b5/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        size: 23_195_070,
        sha256: "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
    },
    library: ArchiveMember {
        path: "onnxruntime/capi/libonnxruntime.so.1.32.0",
        size: 27_165_936,
        sha256: "49852228a93995158b2a813d4df487d47a1b76b0eaa894507ef49e91b6d7954a",
    },
    companions: &[],
});

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
const ARCHIVE: Option<RuntimeArchive> = None;

// The CUDA build on x86-64 Linux only: the one platform its wheel was read on here.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const CUDA_ARCHIVE: Option<RuntimeArchive> = Some(RuntimeArchive {
    wheel: CatalogFile {
        name: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        url: "https://files.pythonhosted.org/packages/92/1b/23ae6bfa165cf01f2566aeab3076135d0db8edf5b543c1556fd6b1d93c7f/onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        size: 255_560_985,
        sha256: "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
    },
    library: ArchiveMember {
        path: "onnxruntime/capi/libonnxruntime.so.1.31.1",
        size: 29_421_832,
        sha256: "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303",
    },
    companions: &[
        ArchiveMember {
            path: "onnxruntime/capi/libonnxruntime_providers_shared.so",
            size: 14_632,
            sha256: "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
        },
        ArchiveMember {
            path: "onnxruntime/capi/libonnxruntime_providers_cuda.so",
            size: 284_014_752,
            sha256: "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137",
        },
    ],
});

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
const CUDA_ARCHIVE: Option<RuntimeArchive> = None;

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

/// Downloads `kind`'s wheel for this platform into the model directory (verified,
/// resumable, locked, like a model), takes its libraries out of it (each verified too, the
/// one rech loads last, so that its presence means all are there), moves each into place
/// whole and deletes the wheel. Returns the library's path; one already in place is returned
/// at once.
pub fn fetch(
    settings: &ModelSettings,
    kind: RuntimeKind,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<PathBuf, FetchError> {
    let archive = kind.archive().ok_or(FetchError::NoArchive)?;
    let lib = own_copy_in(&settings.store, kind);
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
    for member in archive.companions {
        extract(member, &wheel, &dir.join(member.file_name()))?;
    }
    extract(&archive.library, &wheel, &lib)?;
    let _ = std::fs::remove_file(&wheel);
    Ok(lib)
}

/// Takes `member` out of `wheel` into `dest`, checking its size and sha256 first.
fn extract(member: &ArchiveMember, wheel: &Path, dest: &Path) -> Result<(), FetchError> {
    let bad = |detail: String| FetchError::Archive {
        path: wheel.display().to_string(),
        detail,
    };
    let io = |e: std::io::Error| bad(rech_asr::describe_io(&e));
    let mut zip = zip::ZipArchive::new(File::open(wheel).map_err(io)?)
        .map_err(|e| bad(format!("not a wheel ({e})")))?;
    let mut reader = zip
        .by_name(member.path)
        .map_err(|_| bad(format!("it holds no {}", member.path)))?;
    let part = download::sibling(dest, "part");
    let mut out = File::create(&part).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        written += n as u64;
        if written > member.size {
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
    if written != member.size || sha != member.sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(bad(format!(
            "its {} is not the expected one (sha256 {sha}, {written} bytes)",
            member.path
        )));
    }
    std::fs::rename(&part, dest).map_err(io)?;
    Ok(())
}

/// The file name of `kind`'s library on this platform.
pub fn library_name(kind: RuntimeKind) -> String {
    let version = kind.version();
    if cfg!(target_os = "windows") {
        "onnxruntime.dll".to_owned()
    } else if cfg!(target_os = "macos") {
        format!("libonnxruntime.{version}.dylib")
    } else {
        format!("libonnxruntime.so.{version}")
    }
}

/// Where rech keeps its own copy of `kind`'s library in the model directory of the
/// environment (`RECH_MODELS_DIR`, or the platform's cache).
pub fn own_copy(kind: RuntimeKind) -> Option<PathBuf> {
    rech_asr::catalog::ModelStore::from_env().map(|store| own_copy_in(&store, kind))
}

/// Where rech keeps its own copy of `kind`'s library in `store`: `onnxruntime-<version>/`,
/// or `onnxruntime-gpu-<version>/` for the CUDA build.
pub fn own_copy_in(store: &rech_asr::catalog::ModelStore, kind: RuntimeKind) -> PathBuf {
    store
        .dir
        .join(format!("{}-{}", kind.name(), kind.version()))
        .join(library_name(kind))
}

/// The library the environment names: `RECH_ORT_LIB`, else `ORT_DYLIB_PATH` (set even when its
/// file is missing, so that the error names it).
pub fn configured() -> Option<PathBuf> {
    ["RECH_ORT_LIB", "ORT_DYLIB_PATH"]
        .into_iter()
        .find_map(|var| std::env::var_os(var).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
}

/// The library to load: [`configured`], or rech's own copy of the CPU build, whichever is
/// found first.
pub fn locate() -> Option<PathBuf> {
    configured().or_else(|| own_copy(RuntimeKind::Cpu).filter(|p| p.is_file()))
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
    /// The GPU was asked for, and the library loaded is a build without CUDA.
    #[error("{path} is ONNX Runtime without CUDA; GigaAM on the GPU needs onnxruntime-gpu {ORT_CUDA_VERSION}: unset RECH_ORT_LIB so that rech fetches it, or set RECH_ORT_LIB to its libonnxruntime")]
    NoCuda {
        /// The library loaded.
        path: String,
    },
    /// CUDA's execution provider did not start (no GPU, no driver, a CUDA library missing).
    #[error("GigaAM cannot run on the GPU: {detail} (it needs an NVIDIA GPU and driver, and CUDA 13 and cuDNN 9 where the system finds libraries; see the README)")]
    Gpu {
        /// What ONNX Runtime said.
        detail: String,
    },
}

/// The library a process loaded, and the environment made on it.
struct Loaded {
    env: Environment,
    path: PathBuf,
}

static ENVIRONMENT: OnceLock<Result<Loaded, RuntimeError>> = OnceLock::new();

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

/// The library this process loaded, once it has.
pub fn loaded_library() -> Option<&'static Path> {
    match ENVIRONMENT.get() {
        Some(Ok(loaded)) => Some(&loaded.path),
        _ => None,
    }
}

/// The process's ONNX Runtime environment, loading the library the first time.
pub(crate) fn environment() -> Result<&'static Environment, RuntimeError> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = locate().ok_or_else(|| RuntimeError::NotFound {
                own: own_copy(RuntimeKind::Cpu).map_or_else(
                    || "the model directory (set RECH_MODELS_DIR)".to_owned(),
                    |p| p.display().to_string(),
                ),
            })?;
            load(&path)
        })
        .as_ref()
        .map(|loaded| &loaded.env)
        .map_err(Clone::clone)
}

/// CUDA's execution provider on `device`, for a session to register (failing, not falling
/// back to the CPU, where it cannot start): refused at once where the library loaded is a
/// build without it.
pub(crate) fn cuda_provider(
    device: u32,
) -> Result<ort::ep::ExecutionProviderDispatch, RuntimeError> {
    use ort::ep::ExecutionProvider as _;
    environment()?;
    let path = loaded_library().map_or_else(String::new, |p| p.display().to_string());
    if !ort::ep::CUDA::is_available().unwrap_or(false) {
        return Err(RuntimeError::NoCuda { path });
    }
    Ok(ort::ep::CUDA::default()
        .with_device_id(i32::try_from(device).unwrap_or(i32::MAX))
        .build()
        .error_on_failure())
}

fn load(path: &Path) -> Result<Loaded, RuntimeError> {
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
    let env = started
        .unwrap_or_else(|_| Err(unusable("it did not start ONNX Runtime's API".to_owned())))?;
    Ok(Loaded {
        env,
        path: path.to_owned(),
    })
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

/// A library's message made one lowercase line, without the source file, function and status
/// code ONNX Runtime puts before what it has to say (`…/provider_bridge_ort.cc:2043 … Get()
/// [ONNXRuntimeError] : 1 : FAIL : Failed to load library …`).
pub(crate) fn short(text: &str) -> String {
    let mut line = text.lines().next().unwrap_or_default().trim();
    if let Some(at) = line.find("[ONNXRuntimeError]") {
        line = line[at..].rsplit(" : ").next().unwrap_or(line).trim();
    }
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_runtimes_own_prefix_is_left_out_of_its_messages() {
        let said = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 \
            onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : \
            FAIL : Failed to load library /x/libonnxruntime_providers_cuda.so with error: \
            libcublasLt.so.13: cannot open shared object file: No such file or directory\nmore";
        assert_eq!(
            short(said),
            "failed to load library /x/libonnxruntime_providers_cuda.so with error: \
             libcublasLt.so.13: cannot open shared object file: No such file or directory"
        );
        assert_eq!(short("Load model: x : y\nz"), "load model: x : y");
    }

    #[test]
    fn each_build_has_its_own_directory_and_name() {
        let store = rech_asr::catalog::ModelStore::new(PathBuf::from("/m"));
        assert_eq!(
            own_copy_in(&store, RuntimeKind::Cpu),
            Path::new("/m/onnxruntime-1.32.0").join(library_name(RuntimeKind::Cpu))
        );
        assert_eq!(
            own_copy_in(&store, RuntimeKind::Cuda),
            Path::new("/m/onnxruntime-gpu-1.31.1").join(library_name(RuntimeKind::Cuda))
        );
        for kind in [RuntimeKind::Cpu, RuntimeKind::Cuda] {
            if let Some(archive) = kind.archive() {
                assert!(archive.library.path.ends_with(&library_name(kind)));
                assert!(archive.wheel.url.starts_with(PYPI_FILES));
                assert!(archive.wheel.url.ends_with(archive.wheel.name));
            }
        }
    }
}
