//! First-run model handling, the same for every front end (a library user, `rech transcribe`,
//! `rech serve`): a name or a path becomes a model on disk, a catalogue model is downloaded the
//! first time it is needed — a model of several files into `NAME.part/`, which appears under
//! its name only once every file is verified — a copy of the wrong size is refused as damaged,
//! the VAD model follows its one rule, and ONNX Runtime is fetched into the store the caller
//! chose. Nothing here prints: what happens is told through [`FetchEvent`]s, and every failure
//! is a typed [`FetchError`] that a front end words for its users.

use std::path::{Path, PathBuf};

use rech_asr::catalog::{self, CatalogEntry, CatalogFile, ModelKind, DEFAULT_VAD_MODEL};
use rech_asr::download::{self, DownloadError, DownloadEvent, DownloadOutcome, DownloadRequest};
use rech_asr::resolve::{classify, ModelSettings, ModelSpec, ResolvedModel};
use rech_asr::CancelToken;

use crate::error::FetchError;

/// What first-run handling is doing, for a progress display. Nothing is printed by the library.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchEvent<'a> {
    /// A model (or ONNX Runtime) is about to be downloaded into `dir`.
    Downloading {
        /// The catalogue name (or `onnxruntime`).
        name: &'a str,
        /// Bytes to download in all.
        size: u64,
        /// Why it is needed now (`the default model`, `first use`), when it was not asked for.
        why: Option<&'a str>,
        /// The model directory.
        dir: &'a Path,
    },
    /// An event of one file's download; `label` names the file (`NAME`, or `NAME FILE` for a
    /// model of several files).
    File {
        /// The file's label.
        label: &'a str,
        /// What its download did.
        event: &'a DownloadEvent,
    },
    /// One file's download ended (done or failed).
    FileEnded {
        /// The file's label.
        label: &'a str,
    },
    /// A model asked for is already downloaded, and every file's sha256 is the catalogue's.
    Intact {
        /// The model.
        name: &'a str,
        /// Where it is.
        path: &'a Path,
    },
    /// A downloaded file is not the catalogue's; it is downloaded again.
    Damaged {
        /// The file.
        path: &'a Path,
        /// Its sha256 (`missing` when it is not there).
        actual: &'a str,
        /// The catalogue's.
        expected: &'a str,
    },
    /// A model from elsewhere is about to be downloaded from `url` into `dir`.
    DownloadingUrl {
        /// The name it gets.
        name: &'a str,
        /// Where from.
        url: &'a str,
        /// The model directory.
        dir: &'a Path,
    },
    /// A download ended well: `outcome` says whether bytes were fetched.
    Installed {
        /// The model (or `onnxruntime`).
        name: &'a str,
        /// Where it is.
        path: &'a Path,
        /// What the download did.
        outcome: &'a DownloadOutcome,
    },
}

/// When the VAD model is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadWanted {
    /// Fail if it cannot be had.
    Required,
    /// Use it if downloaded, fetch it if downloads are allowed, carry on without it if that
    /// fails.
    Fetch,
}

impl VadWanted {
    /// The rule every front end follows unless told otherwise, however the speech model was
    /// named (a catalogue name or a file): the VAD model is used when downloaded, fetched when
    /// downloads are allowed, and otherwise VAD is off.
    pub const DEFAULT: Self = VadWanted::Fetch;
}

/// The VAD model found for a [`VadWanted::Fetch`] request.
#[derive(Debug)]
pub enum VadModel {
    /// Use this file.
    Found(PathBuf),
    /// Not downloaded, and downloads are off: VAD is off.
    Off,
    /// Fetching it failed: VAD is off, and this is why.
    Unavailable(FetchError),
}

impl VadModel {
    /// The file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Found(path) => Some(path),
            Self::Off | Self::Unavailable(_) => None,
        }
    }
}

/// Resolves and downloads models in one model store, telling a callback what it does.
pub struct Fetcher {
    settings: ModelSettings,
    cancel: CancelToken,
    on_event: OnFetchEvent,
}

/// A callback that hears [`FetchEvent`]s.
pub type OnFetchEvent = Box<dyn FnMut(&FetchEvent<'_>) + Send>;

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher over `settings` that tells nothing and is never cancelled.
    pub fn new(settings: ModelSettings) -> Self {
        Self {
            settings,
            cancel: CancelToken::new(),
            on_event: Box::new(|_| {}),
        }
    }

    /// Downloads stop (the partial file kept) when `cancel` is raised.
    pub fn with_cancel_token(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// `on_event` hears what the fetcher does (for progress bars and messages).
    pub fn on_event(mut self, on_event: impl FnMut(&FetchEvent<'_>) + Send + 'static) -> Self {
        self.on_event = Box::new(on_event);
        self
    }

    /// The settings: the store, the mirror, the timeout, whether downloads are off.
    pub fn settings(&self) -> &ModelSettings {
        &self.settings
    }

    /// The model for `spec` (a file, a catalogue name or a downloaded model's name), or with
    /// none, `default` (a catalogue name). A catalogue model that is not downloaded is
    /// downloaded now, unless downloads are off.
    pub fn resolve(
        &mut self,
        spec: Option<&Path>,
        default: &str,
    ) -> Result<ResolvedModel, FetchError> {
        let name = match spec.map(classify) {
            Some(ModelSpec::Path(path)) => {
                return Ok(ResolvedModel {
                    path: path.to_owned(),
                    name: None,
                    from_catalog: false,
                })
            }
            Some(ModelSpec::Name(name)) => name,
            None => default,
        };
        let is_default = spec.is_none();
        if let Some(entry) = catalog::find(name) {
            let what = match entry.kind {
                ModelKind::Vad => Some("voice-activity"),
                ModelKind::Speakers => Some("speaker"),
                ModelKind::Whisper | ModelKind::Gigaam => None,
            };
            if let Some(what) = what {
                return Err(FetchError::NotASpeechModel {
                    name: entry.name.to_owned(),
                    what,
                });
            }
            let why = if is_default {
                "the default model"
            } else {
                "first use"
            };
            self.ensure(entry, why, is_default)?;
            return Ok(ResolvedModel {
                path: self.settings.store.entry_path(entry),
                name: Some(entry.name.to_owned()),
                from_catalog: true,
            });
        }
        if let Some(found) = self.settings.store.find_installed(name) {
            return Ok(ResolvedModel {
                path: found.path,
                name: Some(found.name),
                from_catalog: false,
            });
        }
        Err(FetchError::UnknownModel {
            name: name.to_owned(),
            dir: self.settings.store.dir.clone(),
        })
    }

    /// A catalogue model installed whole: downloaded now (`why`) when it is not, unless
    /// downloads are off (`default`: it was not named, the default was taken).
    fn ensure(&mut self, entry: &CatalogEntry, why: &str, default: bool) -> Result<(), FetchError> {
        if self.installed(entry)? {
            return Ok(());
        }
        if self.settings.offline {
            return Err(FetchError::Offline {
                name: entry.name.to_owned(),
                size: entry.size(),
                default,
            });
        }
        self.fetch(entry, Some(why))
    }

    /// The speaker-diarization models (segmentation, then embedding): the catalogue's, downloaded
    /// now on first use unless downloads are off.
    pub fn speaker_models(&mut self) -> Result<(PathBuf, PathBuf), FetchError> {
        let entry = catalog::find(catalog::DEFAULT_SPEAKER_MODEL)
            .filter(|e| e.kind == ModelKind::Speakers && e.files.len() == 2)
            .expect("the catalogue names its speaker models");
        self.ensure(entry, "speaker labels", false)?;
        let store = &self.settings.store;
        Ok((
            store.file_path(entry, &entry.files[0]),
            store.file_path(entry, &entry.files[1]),
        ))
    }

    /// The VAD model: `spec` (a file, or the catalogue's VAD model by name) when given, else the
    /// catalogue's VAD model when downloaded — or downloaded now when `wanted` says so. A
    /// [`VadWanted::Fetch`] that cannot be met is not an error: VAD is off, and the answer says
    /// why (a cancelled download is still an error).
    pub fn vad(&mut self, spec: Option<&Path>, wanted: VadWanted) -> Result<VadModel, FetchError> {
        let entry = vad_entry();
        let wanted = match spec.map(classify) {
            Some(ModelSpec::Path(path)) => return Ok(VadModel::Found(path.to_owned())),
            Some(ModelSpec::Name(name))
                if catalog::find(name).is_some_and(|e| e.kind == ModelKind::Vad) =>
            {
                VadWanted::Required
            }
            Some(ModelSpec::Name(name)) => {
                return Err(FetchError::NotAVadModel {
                    name: name.to_owned(),
                    vad: entry.name,
                })
            }
            None => wanted,
        };
        let path = self.settings.store.entry_path(entry);
        if self.installed(entry)? {
            return Ok(VadModel::Found(path));
        }
        if self.settings.offline {
            return match wanted {
                VadWanted::Fetch => Ok(VadModel::Off),
                VadWanted::Required => Err(FetchError::Offline {
                    name: entry.name.to_owned(),
                    size: entry.size(),
                    default: false,
                }),
            };
        }
        match self.fetch(entry, Some("voice-activity detection")) {
            Ok(()) => Ok(VadModel::Found(path)),
            Err(FetchError::Cancelled) => Err(FetchError::Cancelled),
            Err(e) if wanted == VadWanted::Fetch => Ok(VadModel::Unavailable(e)),
            Err(e) => Err(e),
        }
    }

    /// Whether a catalogue model is installed whole (true) or not at all (false); a copy of the
    /// wrong size is [`FetchError::Damaged`] rather than a file handed to an engine.
    pub fn installed(&self, entry: &CatalogEntry) -> Result<bool, FetchError> {
        let store = &self.settings.store;
        // A model of several files with some still missing is a first download cut short:
        // fetching it again resumes it.
        let missing_file = !entry.is_single_file()
            && entry
                .files
                .iter()
                .any(|f| !store.file_path(entry, f).is_file());
        if missing_file {
            return Ok(false);
        }
        match store.find_installed(entry.name) {
            None => Ok(false),
            Some(found) if found.size == entry.size() => Ok(true),
            Some(found) => Err(FetchError::Damaged {
                name: entry.name.to_owned(),
                path: found.path,
                on_disk: found.size,
                expected: entry.size(),
            }),
        }
    }

    /// Downloads a catalogue model the user asked for by name: a copy already there is checked
    /// file by file (sha256) and downloaded again if damaged.
    pub fn download(&mut self, entry: &CatalogEntry) -> Result<(), FetchError> {
        let dest = self.settings.store.entry_path(entry);
        if dest.exists() {
            match self.damaged_file(entry)? {
                None => {
                    (self.on_event)(&FetchEvent::Intact {
                        name: entry.name,
                        path: &dest,
                    });
                    return Ok(());
                }
                Some((path, actual, expected)) => {
                    (self.on_event)(&FetchEvent::Damaged {
                        path: &path,
                        actual: &actual,
                        expected,
                    });
                    if entry.is_single_file() {
                        download::remove(&dest).map_err(|e| self.download_error(entry.name, e))?;
                    }
                }
            }
        }
        self.fetch(entry, None)
    }

    /// Downloads a whisper.cpp model from outside the catalogue (a fine-tune, a private
    /// mirror) under `name`, verified by `sha256`, then checked to be a model whisper.cpp can
    /// load (deleted if not). A file already there with that checksum is kept
    /// ([`FetchEvent::Intact`]); another one under the name is [`FetchError::NameTaken`].
    pub fn download_url(
        &mut self,
        name: &str,
        url: &str,
        sha256: &str,
    ) -> Result<PathBuf, FetchError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(FetchError::NotAUrl {
                url: url.to_owned(),
            });
        }
        let sha256 = catalog::normalize_sha256(sha256).ok_or_else(|| FetchError::NotASha256 {
            sha256: sha256.to_owned(),
        })?;
        if catalog::find(name).is_some() {
            return Err(FetchError::CatalogueName {
                name: name.to_owned(),
            });
        }
        if !catalog::is_valid_custom_name(name) || name.ends_with(".bin") {
            return Err(FetchError::BadName {
                name: name.to_owned(),
            });
        }
        let store = &self.settings.store;
        let dest = store.custom_path(name);
        if dest.is_file() {
            let actual = download::sha256_file(&dest).map_err(|e| FetchError::Io {
                path: dest.clone(),
                detail: rech_asr::describe_io(&e),
            })?;
            if actual != sha256 {
                return Err(FetchError::NameTaken {
                    name: name.to_owned(),
                    path: dest,
                    actual,
                });
            }
            (self.on_event)(&FetchEvent::Intact { name, path: &dest });
            return Ok(dest);
        }
        (self.on_event)(&FetchEvent::DownloadingUrl {
            name,
            url,
            dir: &store.dir,
        });
        let request = DownloadRequest {
            url: url.to_owned(),
            dest: dest.clone(),
            sha256,
            size: None,
            timeout: self.settings.timeout,
        };
        let outcome = self
            .run_download(&request, name)
            .map_err(|e| self.download_error(name, e))?;
        // The checksum proves these are the bytes the caller meant; this proves whisper.cpp
        // can use them.
        #[cfg(feature = "whisper")]
        if let Err(e) = rech_whisper::validate(&dest) {
            let _ = download::remove(&dest);
            return Err(FetchError::Unusable {
                url: url.to_owned(),
                detail: e.to_string(),
            });
        }
        (self.on_event)(&FetchEvent::Installed {
            name,
            path: &dest,
            outcome: &outcome,
        });
        Ok(dest)
    }

    /// The first file of an installed catalogue model whose sha256 is not the catalogue's: its
    /// path, its sha256 (`missing` when it is not there) and the expected one.
    fn damaged_file(
        &self,
        entry: &CatalogEntry,
    ) -> Result<Option<(PathBuf, String, &'static str)>, FetchError> {
        for file in entry.files {
            let path = self.settings.store.file_path(entry, file);
            if !path.is_file() {
                return Ok(Some((path, "missing".to_owned(), file.sha256)));
            }
            let actual = download::sha256_file(&path).map_err(|e| FetchError::Io {
                path: path.clone(),
                detail: rech_asr::describe_io(&e),
            })?;
            if actual != file.sha256 {
                return Ok(Some((path, actual, file.sha256)));
            }
        }
        Ok(None)
    }

    /// Downloads every file of a catalogue model, verified. A model of several files is
    /// assembled in a directory of its own (`NAME.part/`, where an interrupted download
    /// resumes) and appears under its name only once every file is there and verified.
    fn fetch(&mut self, entry: &CatalogEntry, why: Option<&str>) -> Result<(), FetchError> {
        let dest = self.settings.store.entry_path(entry);
        (self.on_event)(&FetchEvent::Downloading {
            name: entry.name,
            size: entry.size(),
            why,
            dir: &self.settings.store.dir,
        });
        let outcome = if entry.is_single_file() {
            let request = self.request(entry.file(), dest.clone());
            self.run_download(&request, entry.name)
                .map_err(|e| self.download_error(entry.name, e))?
        } else {
            self.fetch_all_or_nothing(entry, &dest)?
        };
        (self.on_event)(&FetchEvent::Installed {
            name: entry.name,
            path: &dest,
            outcome: &outcome,
        });
        Ok(())
    }

    fn fetch_all_or_nothing(
        &mut self,
        entry: &CatalogEntry,
        dest: &Path,
    ) -> Result<DownloadOutcome, FetchError> {
        let io = |path: &Path, e: std::io::Error| FetchError::Io {
            path: path.to_owned(),
            detail: rech_asr::describe_io(&e),
        };
        let staging = staging_dir(dest);
        std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
        let mut bytes = 0;
        for file in entry.files {
            let label = format!("{} {}", entry.name, file.name);
            let request = self.request(file, staging.join(file.name));
            self.run_download(&request, &label)
                .map_err(|e| self.download_error(entry.name, e))?;
            bytes += file.size;
        }
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(|e| io(dest, e))?;
        }
        std::fs::rename(&staging, dest).map_err(|e| io(dest, e))?;
        Ok(DownloadOutcome::Downloaded {
            bytes,
            resumed_from: 0,
        })
    }

    fn request(&self, file: &CatalogFile, dest: PathBuf) -> DownloadRequest {
        DownloadRequest {
            url: self.settings.url(file),
            dest,
            sha256: file.sha256.to_owned(),
            size: Some(file.size),
            timeout: self.settings.timeout,
        }
    }

    /// One download, its events passed on under `label`.
    fn run_download(
        &mut self,
        request: &DownloadRequest,
        label: &str,
    ) -> Result<DownloadOutcome, DownloadError> {
        let on_event = &mut self.on_event;
        let result = download::download(request, Some(&self.cancel), &mut |event| {
            on_event(&FetchEvent::File { label, event })
        });
        (self.on_event)(&FetchEvent::FileEnded { label });
        result
    }

    fn download_error(&self, name: &str, error: DownloadError) -> FetchError {
        match error {
            DownloadError::Cancelled => FetchError::Cancelled,
            source => FetchError::Download {
                name: name.to_owned(),
                source,
            },
        }
    }

    /// ONNX Runtime for GigaAM: the library loaded already (`rech::gigaam::runtime::
    /// use_library`), the one named by `RECH_ORT_LIB` or `ORT_DYLIB_PATH`, or rech's own copy
    /// in this store — fetched now from the `onnxruntime` wheel on PyPI (verified like a model)
    /// where downloads are allowed, and loaded.
    #[cfg(feature = "gigaam")]
    pub fn runtime(&mut self, why: Option<&str>) -> Result<(), FetchError> {
        self.runtime_of(rech_gigaam::runtime::RuntimeKind::Cpu, why)
    }

    /// [`runtime`](Self::runtime) for `kind`: the CUDA build (`onnxruntime-gpu`, for GigaAM on
    /// the GPU) comes from its own wheel into its own directory. A library loaded already or
    /// named by the environment is used whatever its kind: opening a model on the GPU then
    /// says whether it has CUDA.
    #[cfg(feature = "gigaam")]
    pub fn runtime_of(
        &mut self,
        kind: rech_gigaam::runtime::RuntimeKind,
        why: Option<&str>,
    ) -> Result<(), FetchError> {
        use rech_gigaam::runtime;
        if runtime::is_loaded() || runtime::configured().is_some() {
            return Ok(());
        }
        let own = self.install_runtime(kind, why)?;
        runtime::use_library(&own).map_err(|e| FetchError::Runtime(e.to_string()))
    }

    /// Puts rech's own copy of `kind`'s ONNX Runtime in this store, fetching it (verified)
    /// where it is missing and downloads are allowed, without loading it: its library's path.
    #[cfg(feature = "gigaam")]
    pub fn install_runtime(
        &mut self,
        kind: rech_gigaam::runtime::RuntimeKind,
        why: Option<&str>,
    ) -> Result<PathBuf, FetchError> {
        use rech_gigaam::runtime;
        let name = kind.name();
        let own = runtime::own_copy_in(&self.settings.store, kind);
        if !own.is_file() {
            let archive = kind.archive().ok_or(FetchError::Runtime(
                runtime::FetchError::NoArchive.to_string(),
            ))?;
            if self.settings.offline {
                return Err(FetchError::RuntimeOffline {
                    name,
                    version: kind.version(),
                });
            }
            (self.on_event)(&FetchEvent::Downloading {
                name,
                size: archive.wheel.size,
                why,
                dir: &self.settings.store.dir,
            });
            let on_event = &mut self.on_event;
            let fetched = runtime::fetch(&self.settings, kind, &self.cancel, &mut |event| {
                on_event(&FetchEvent::File { label: name, event })
            });
            (self.on_event)(&FetchEvent::FileEnded { label: name });
            let path = match fetched {
                Ok(path) => path,
                Err(runtime::FetchError::Download(e)) => return Err(self.download_error(name, e)),
                Err(e) => return Err(FetchError::Runtime(e.to_string())),
            };
            (self.on_event)(&FetchEvent::Installed {
                name,
                path: &path,
                outcome: &DownloadOutcome::Downloaded {
                    bytes: archive.wheel.size,
                    resumed_from: 0,
                },
            });
        }
        Ok(own)
    }
}

/// One thing a model store holds or can hold ([`Fetcher::inventory`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name to ask for it by.
    pub name: String,
    /// Its size in bytes (the catalogue's for a catalogue model, the wheel's for ONNX Runtime).
    pub size: u64,
    /// What of it is on disk.
    pub state: Stored,
    /// Where it comes from.
    pub source: Listing,
}

/// What of a model is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Whole.
    Installed,
    /// There, but not the size the catalogue says.
    Damaged,
    /// A download cut short or under way, this many bytes of it.
    Partial(u64),
    /// Not there.
    Missing,
}

/// Where a listed model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The catalogue, with its summary and whether it is used by default.
    Catalogue {
        /// Speed and quality in a few words.
        summary: &'static str,
        /// A default model (of some language or use) or the default VAD model.
        default: bool,
    },
    /// ONNX Runtime, which GigaAM models run on, at this version.
    Runtime(&'static str),
    /// A file downloaded from elsewhere by URL.
    Custom,
}

impl Fetcher {
    /// Every catalogue model with what of it is on disk, then ONNX Runtime (where rech can
    /// fetch it for this platform), then the models downloaded from elsewhere.
    pub fn inventory(&self) -> Result<Vec<Listed>, FetchError> {
        use catalog::{CATALOG, DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL};
        let store = &self.settings.store;
        let stored = store.list().map_err(|e| FetchError::Io {
            path: store.dir.clone(),
            detail: rech_asr::describe_io(&e),
        })?;
        let mut listed = Vec::new();
        for entry in CATALOG {
            let installed = stored
                .iter()
                .find(|m| m.entry.is_some_and(|e| e.name == entry.name));
            let state = match installed {
                Some(m) if m.size == entry.size() => Stored::Installed,
                Some(_) => Stored::Damaged,
                None => match partial_bytes(&store.entry_path(entry)) {
                    Some(bytes) => Stored::Partial(bytes),
                    None => Stored::Missing,
                },
            };
            listed.push(Listed {
                name: entry.name.to_owned(),
                size: entry.size(),
                state,
                source: Listing::Catalogue {
                    summary: entry.summary,
                    default: [DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL, DEFAULT_VAD_MODEL]
                        .contains(&entry.name),
                },
            });
        }
        #[cfg(feature = "gigaam")]
        for kind in [
            rech_gigaam::runtime::RuntimeKind::Cpu,
            rech_gigaam::runtime::RuntimeKind::Cuda,
        ] {
            let Some(archive) = kind.archive() else {
                continue;
            };
            let own = rech_gigaam::runtime::own_copy_in(store, kind);
            listed.push(Listed {
                name: kind.name().to_owned(),
                size: archive.wheel.size,
                state: if own.is_file() {
                    Stored::Installed
                } else {
                    Stored::Missing
                },
                source: Listing::Runtime(kind.version()),
            });
        }
        for model in stored.into_iter().filter(|m| m.entry.is_none()) {
            listed.push(Listed {
                name: model.name,
                size: model.size,
                state: Stored::Installed,
                source: Listing::Custom,
            });
        }
        Ok(listed)
    }

    /// Removes the model called `name` (a catalogue model or one downloaded from elsewhere)
    /// and any download of it under way: its path, and whether anything of it was there.
    pub fn remove_model(&self, name: &str) -> Result<(PathBuf, bool), FetchError> {
        let store = &self.settings.store;
        let dest = match catalog::find(name) {
            Some(entry) => store.entry_path(entry),
            None if catalog::is_valid_custom_name(name) => store.custom_path(name),
            None => {
                return Err(FetchError::UnknownModel {
                    name: name.to_owned(),
                    dir: store.dir.clone(),
                })
            }
        };
        match remove(&dest) {
            Ok(removed) => Ok((dest, removed)),
            Err(e) => Err(self.download_error(name, e)),
        }
    }
}

/// The name ONNX Runtime is downloaded and listed under.
pub const RUNTIME_NAME: &str = "onnxruntime";

/// The name ONNX Runtime's CUDA build (for GigaAM on the GPU) is downloaded and listed under.
pub const GPU_RUNTIME_NAME: &str = "onnxruntime-gpu";

/// The catalogue's VAD model.
pub fn vad_entry() -> &'static CatalogEntry {
    catalog::find(DEFAULT_VAD_MODEL)
        .filter(|e| e.kind == ModelKind::Vad)
        .expect("the catalogue names its VAD model")
}

/// Where a model of several files is assembled while it downloads.
pub fn staging_dir(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// How many bytes of a model's download are on disk (finished and partial files), when one
/// is under way or was cut short.
pub fn partial_bytes(dest: &Path) -> Option<u64> {
    let staging = staging_dir(dest);
    if staging.is_dir() {
        // A model of several files: what its files hold so far.
        return std::fs::read_dir(&staging).ok().map(|read| {
            read.flatten()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        });
    }
    std::fs::metadata(download::sibling(dest, "part"))
        .ok()
        .map(|m| m.len())
}

/// Removes a downloaded model at `dest` (a file, or a directory of files) and any download of
/// it under way; whether there was anything to remove.
pub fn remove(dest: &Path) -> Result<bool, DownloadError> {
    if !(dest.is_dir() || staging_dir(dest).is_dir()) {
        return download::remove(dest);
    }
    let mut removed = false;
    for dir in [dest.to_owned(), staging_dir(dest)] {
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir).map_err(|e| DownloadError::Io {
                path: dir.display().to_string(),
                detail: rech_asr::describe_io(&e),
            })?;
            removed = true;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rech_asr::catalog::ModelStore;
    use std::time::Duration;

    fn fetcher(dir: &Path, offline: bool) -> Fetcher {
        Fetcher::new(ModelSettings {
            store: ModelStore::new(dir),
            base_url: Some("http://127.0.0.1:9".into()),
            timeout: Duration::from_secs(1),
            offline,
        })
    }

    #[test]
    fn offline_a_missing_model_is_a_typed_error_and_vad_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut fetcher = fetcher(dir.path(), true);
        match fetcher.resolve(None, "small") {
            Err(FetchError::Offline { name, default, .. }) => {
                assert_eq!(name, "small");
                assert!(default);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fetcher.vad(None, VadWanted::Fetch),
            Ok(VadModel::Off)
        ));
        assert!(matches!(
            fetcher.vad(None, VadWanted::Required),
            Err(FetchError::Offline { .. })
        ));
        assert!(matches!(
            fetcher.resolve(Some(Path::new(DEFAULT_VAD_MODEL)), "small"),
            Err(FetchError::NotASpeechModel { .. })
        ));
    }

    #[test]
    fn a_copy_of_the_wrong_size_is_damaged_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = fetcher(dir.path(), true);
        let entry = vad_entry();
        let path = fetcher.settings().store.entry_path(entry);
        std::fs::write(&path, b"short").unwrap();
        let error = fetcher.installed(entry).unwrap_err();
        assert!(
            matches!(error, FetchError::Damaged { on_disk: 5, .. }),
            "{error:?}"
        );
        assert!(!error.retry_may_help());
    }

    #[test]
    fn a_failed_vad_download_turns_vad_off_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        // Port 9 (discard) refuses: the download fails at once.
        let mut fetcher = fetcher(dir.path(), false);
        match fetcher.vad(None, VadWanted::Fetch) {
            Ok(VadModel::Unavailable(e)) => assert!(e.retry_may_help(), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn staging_and_removal_cover_both_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("gigaam");
        std::fs::create_dir_all(staging_dir(&dest)).unwrap();
        std::fs::write(staging_dir(&dest).join("a"), b"1234").unwrap();
        assert_eq!(partial_bytes(&dest), Some(4));
        assert!(remove(&dest).unwrap());
        assert!(!staging_dir(&dest).exists());
        assert!(!remove(&dest).unwrap());
    }

    #[test]
    fn the_inventory_tells_whole_partial_damaged_and_custom_models_apart() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = fetcher(dir.path(), true);
        let store = &fetcher.settings().store;
        let tiny = catalog::find("tiny").unwrap();
        std::fs::write(download::sibling(&store.entry_path(tiny), "part"), [0; 100]).unwrap();
        let base = catalog::find("base").unwrap();
        std::fs::write(store.entry_path(base), [0; 10]).unwrap();
        std::fs::write(store.custom_path("mine"), [0; 7]).unwrap();
        let listed = fetcher.inventory().unwrap();
        let state = |name: &str| listed.iter().find(|l| l.name == name).unwrap().state;
        assert_eq!(state("tiny"), Stored::Partial(100));
        assert_eq!(state("base"), Stored::Damaged);
        assert_eq!(state("small"), Stored::Missing);
        let mine = listed.last().unwrap();
        assert_eq!(
            (mine.name.as_str(), mine.size, mine.state, &mine.source),
            ("mine", 7, Stored::Installed, &Listing::Custom)
        );
        assert!(listed.iter().any(|l| matches!(
            l.source,
            Listing::Catalogue { default: true, .. }
        ) && l.name == DEFAULT_VAD_MODEL));
        assert_eq!(
            listed.iter().filter(|l| l.name == RUNTIME_NAME).count(),
            usize::from(rech_gigaam::runtime::RuntimeKind::Cpu.archive().is_some())
        );
        assert_eq!(
            listed.iter().filter(|l| l.name == GPU_RUNTIME_NAME).count(),
            usize::from(rech_gigaam::runtime::RuntimeKind::Cuda.archive().is_some())
        );
    }

    #[test]
    fn removing_a_model_by_name_says_whether_it_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = fetcher(dir.path(), true);
        let path = fetcher.settings().store.custom_path("mine");
        std::fs::write(&path, [0; 7]).unwrap();
        assert_eq!(fetcher.remove_model("mine").unwrap(), (path.clone(), true));
        assert!(!path.exists());
        assert_eq!(fetcher.remove_model("mine").unwrap(), (path, false));
        assert!(matches!(
            fetcher.remove_model("no such/model"),
            Err(FetchError::UnknownModel { .. })
        ));
    }

    #[test]
    fn a_model_from_elsewhere_is_checked_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut fetcher = fetcher(dir.path(), false);
        let sha = "ab".repeat(32);
        let url = "http://127.0.0.1:9/m.bin";
        let refused = |f: &mut Fetcher, name: &str, url: &str, sha: &str| {
            f.download_url(name, url, sha).unwrap_err()
        };
        assert!(matches!(
            refused(&mut fetcher, "m", "ftp://x", &sha),
            FetchError::NotAUrl { .. }
        ));
        assert!(matches!(
            refused(&mut fetcher, "m", url, "abc"),
            FetchError::NotASha256 { .. }
        ));
        assert!(matches!(
            refused(&mut fetcher, "small", url, &sha),
            FetchError::CatalogueName { .. }
        ));
        assert!(matches!(
            refused(&mut fetcher, "-m", url, &sha),
            FetchError::BadName { .. }
        ));
        let taken = fetcher.settings().store.custom_path("m");
        std::fs::write(&taken, b"other bytes").unwrap();
        let err = refused(&mut fetcher, "m", url, &sha);
        assert!(matches!(err, FetchError::NameTaken { .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with("another file is already downloaded as m ("));
    }
}
