//! `rech models` (list, download, path, remove), and the one place that turns what a user
//! typed for a model — a catalogue name, a downloaded model's name, or a file — into a file on
//! disk, downloading a catalogue model the first time it is needed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand};
use rech_asr::catalog::{
    self, human_size, is_valid_custom_name, multilingual_instead_of, normalize_sha256,
    CatalogEntry, ModelKind, ModelStore, CATALOG, DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL,
    DEFAULT_VAD_MODEL,
};
use rech_asr::download::{self, DownloadError, DownloadEvent, DownloadOutcome, DownloadRequest};
use rech_asr::resolve::{classify, unknown_model, ModelSettings, ModelSpec, ResolvedModel};

use crate::progress::download_bar;
use crate::{Context, Interrupted, UsageError};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Show every catalogue model (size, whether downloaded, speed and quality for Russian) and
    /// the models downloaded from elsewhere.
    List,
    /// Download models by name, or `onnxruntime` (what GigaAM models run on), verified by
    /// sha256 (default: what a first run in Russian needs: gigaam-v3-e2e-rnnt-int8,
    /// onnxruntime and the VAD model); an interrupted download resumes. Also repairs a damaged
    /// copy.
    Download(DownloadArgs),
    /// Print where a downloaded model is (with no name: the model directory).
    Path {
        /// Model name, e.g. small or large-v3-turbo-q5_0.
        name: Option<String>,
    },
    /// Delete downloaded models (and any partial download of them).
    Remove {
        /// Model names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct DownloadArgs {
    /// Catalogue names (see `rech models list`), or onnxruntime.
    #[arg(value_name = "NAME", conflicts_with = "url")]
    names: Vec<String>,
    /// Download a whisper.cpp ggml model from outside the catalogue (a fine-tune, a private
    /// mirror); needs --sha256 and --name.
    #[arg(long, value_name = "URL", requires_all = ["sha256", "name"])]
    url: Option<String>,
    /// The file's sha256 (64 hex digits); the download is refused unless it matches.
    #[arg(long, value_name = "HEX", requires = "url")]
    sha256: Option<String>,
    /// The name to use for it with --model (stored as ggml-NAME.bin).
    #[arg(long, value_name = "NAME", requires = "url")]
    name: Option<String>,
}

pub fn run(args: ModelsArgs, ctx: &Context) -> Result<ExitCode> {
    match args.command {
        ModelsCommand::List => list(ctx),
        ModelsCommand::Download(args) => download_command(args, ctx),
        ModelsCommand::Path { name } => path_command(name.as_deref(), ctx),
        ModelsCommand::Remove { names } => remove_command(&names, ctx),
    }
}

/// The model settings from the environment and `--offline`; a mistake in a variable is a usage
/// error.
pub fn settings(ctx: &Context) -> Result<ModelSettings> {
    ModelSettings::from_env(ctx.offline).map_err(|e| {
        if e.is_usage() {
            UsageError(e.to_string()).into()
        } else {
            anyhow!(e)
        }
    })
}

/// The model to load for `-m/--model` (or `RECH_MODEL`): a file, or a model name; with
/// neither, `default`. A catalogue model that is not downloaded yet is downloaded now, unless
/// the network is off.
pub fn resolve_model(spec: Option<&Path>, default: &str, ctx: &Context) -> Result<ResolvedModel> {
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
    let settings = settings(ctx)?;
    if let Some(entry) = catalog::find(name) {
        if entry.kind == ModelKind::Vad {
            return Err(UsageError(format!(
                "{} is a voice-activity model, not a Whisper model; pass it as --vad-model",
                entry.name
            ))
            .into());
        }
        let path = settings.store.entry_path(entry);
        let installed = installed_state(entry, &settings.store)?;
        if !installed {
            let why = if is_default {
                "the default model"
            } else {
                "first use"
            };
            fetch(entry, &settings, ctx, why, is_default, MODEL_FLAG)?;
        }
        return Ok(ResolvedModel {
            path,
            name: Some(entry.name.to_owned()),
            from_catalog: true,
        });
    }
    if let Some(found) = settings.store.find_installed(name) {
        return Ok(ResolvedModel {
            path: found.path,
            name: Some(found.name),
            from_catalog: false,
        });
    }
    Err(UsageError(unknown_model(name, &settings.store)).into())
}

const MODEL_FLAG: &str = "--model PATH to a model file (whisper.cpp ggml, or GigaAM-v3 .onnx)";
const VAD_FLAG: &str = "--vad-model PATH to a Silero VAD model file";

/// Whether a catalogue model is installed whole (true) or not at all (false); a copy of the
/// wrong size — what `rech models list` shows as `damaged` — is an error that says how to
/// repair it, rather than a file handed to the engine.
fn installed_state(entry: &CatalogEntry, store: &ModelStore) -> Result<bool> {
    // A model of several files with some still missing is a first download cut short: fetching
    // it again resumes it.
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
        Some(found) => Err(anyhow!(
            "{} is damaged ({} on disk, {} expected: an interrupted copy or a changed file); run `rech models download {}` to download it again",
            found.path.display(),
            human_size(found.size),
            human_size(entry.size()),
            entry.name
        )),
    }
}

/// The one line that says VAD is off because no model was found (unless `-q`), with the
/// command that installs it, and what is done instead.
pub fn vad_off_notice(ctx: &Context, instead: &str) {
    if !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "rech: VAD off: no Silero VAD model (run `rech models download {DEFAULT_VAD_MODEL}` or pass --vad-model): {instead}"
        );
    }
}

/// When the VAD model is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadWanted {
    /// `--vad`: fail if it cannot be had.
    Required,
    /// Use it if downloaded, fetch it if downloads are allowed, carry on without it if that
    /// fails.
    Fetch,
}

impl VadWanted {
    /// The rule every subcommand follows without `--vad`, however the speech model was named
    /// (a catalogue name or a file): the VAD model is used when downloaded, fetched when
    /// downloads are allowed, and otherwise VAD is off with [`vad_off_notice`].
    pub const DEFAULT: Self = VadWanted::Fetch;
}

/// The VAD model: `spec` (a file or `silero-v6.2.0`) when given, else the catalogue's VAD model
/// when downloaded — or downloaded now when `wanted` says so.
pub fn resolve_vad(
    spec: Option<&Path>,
    wanted: VadWanted,
    ctx: &Context,
) -> Result<Option<PathBuf>> {
    let entry = catalog::find(DEFAULT_VAD_MODEL)
        .ok_or_else(|| anyhow!("the catalogue has no VAD model"))?;
    let wanted = match spec.map(classify) {
        Some(ModelSpec::Path(path)) => return Ok(Some(path.to_owned())),
        Some(ModelSpec::Name(name))
            if catalog::find(name).is_some_and(|e| e.kind == ModelKind::Vad) =>
        {
            VadWanted::Required
        }
        Some(ModelSpec::Name(name)) => {
            return Err(UsageError(format!(
                "--vad-model {name}: not a file, and the only VAD model in the catalogue is {}",
                entry.name
            ))
            .into())
        }
        None => wanted,
    };
    let settings = match settings(ctx) {
        Ok(settings) => settings,
        Err(e) if wanted != VadWanted::Required => {
            log::info!("no VAD: {e:#}");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let path = settings.store.entry_path(entry);
    if installed_state(entry, &settings.store)? {
        return Ok(Some(path));
    }
    match wanted {
        VadWanted::Fetch if settings.offline => Ok(None),
        VadWanted::Fetch => match fetch(entry, &settings, ctx, "voice-activity detection", false, VAD_FLAG) {
            Ok(()) => Ok(Some(path)),
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => Err(e),
            Err(e) => {
                if !ctx.quiet {
                    let _ = writeln!(
                        io::stderr(),
                        "rech: warning: {e:#}; transcribing without voice-activity detection"
                    );
                }
                Ok(None)
            }
        },
        VadWanted::Required if settings.offline => Err(UsageError(format!(
            "--vad needs the Silero VAD model, which is not downloaded, and downloads are off (--offline or RECH_OFFLINE); run `rech models download {}` once online, or pass --vad-model PATH",
            entry.name
        ))
        .into()),
        VadWanted::Required => {
            fetch(entry, &settings, ctx, "voice-activity detection", false, VAD_FLAG)?;
            Ok(Some(path))
        }
    }
}

/// Downloads a catalogue model, with a bar on stderr; offline, says what to do instead.
fn fetch(
    entry: &CatalogEntry,
    settings: &ModelSettings,
    ctx: &Context,
    why: &str,
    is_default: bool,
    flag: &str,
) -> Result<()> {
    let command = format!("rech models download {}", entry.name);
    if settings.offline {
        let subject = if is_default {
            format!(
                "no model yet: the default model {} ({}) is not downloaded",
                entry.name,
                human_size(entry.size())
            )
        } else {
            format!("model {} is not downloaded", entry.name)
        };
        return Err(anyhow!(
            "{subject}, and downloads are off (--offline or RECH_OFFLINE); run `{command}` once online, or pass {flag}"
        ));
    }
    if !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "rech: downloading {} ({}, {why}) into {}",
            entry.name,
            human_size(entry.size()),
            settings.store.dir.display()
        );
    }
    download_files(entry, settings, ctx)
        .map_err(|e| with_retry_hint(e, &command, Some(&format!("or pass {flag}"))))?;
    Ok(())
}

/// Downloads every file of a catalogue model, verified. A multi-file model is assembled in a
/// directory of its own (`NAME.part/`, where an interrupted download resumes) and appears
/// under its name only once every file is there and verified: all or nothing.
fn download_files(
    entry: &CatalogEntry,
    settings: &ModelSettings,
    ctx: &Context,
) -> Result<DownloadOutcome> {
    let request = |file: &rech_asr::catalog::CatalogFile, dest: PathBuf| DownloadRequest {
        url: settings.url(file),
        dest,
        sha256: file.sha256.to_owned(),
        size: Some(file.size),
        timeout: settings.timeout,
    };
    let dest = settings.store.entry_path(entry);
    if entry.is_single_file() {
        return run_download(&request(entry.file(), dest), entry.name, ctx);
    }
    let staging = staging_dir(&dest);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let mut bytes = 0;
    for file in entry.files {
        let label = format!("{} {}", entry.name, file.name);
        run_download(&request(file, staging.join(file.name)), &label, ctx)?;
        bytes += file.size;
    }
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    std::fs::rename(&staging, &dest)
        .with_context(|| format!("cannot move the download into {}", dest.display()))?;
    Ok(DownloadOutcome::Downloaded {
        bytes,
        resumed_from: 0,
    })
}

/// Where a multi-file model is assembled while it downloads.
fn staging_dir(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Runs one download with a progress bar; `Ctrl-C` stops it (the partial file stays).
fn run_download(request: &DownloadRequest, label: &str, ctx: &Context) -> Result<DownloadOutcome> {
    let result = with_bar(label, ctx, |on_event| {
        download::download(request, Some(&ctx.interrupted), on_event)
    });
    match result {
        Ok(outcome) => Ok(outcome),
        Err(DownloadError::Cancelled) => Err(Interrupted.into()),
        Err(e) => Err(e.into()),
    }
}

/// Runs `work` (a download) with a progress bar on stderr fed by its events.
fn with_bar<T, E>(
    label: &str,
    ctx: &Context,
    work: impl FnOnce(&mut dyn FnMut(&DownloadEvent)) -> Result<T, E>,
) -> Result<T, E> {
    let mut bar = download_bar(true, label, None);
    let quiet = ctx.quiet;
    let result = work(&mut |event| match event {
        DownloadEvent::WaitingForLock if !quiet => {
            let _ = writeln!(
                io::stderr(),
                "rech: waiting for another rech process that is downloading {label}"
            );
        }
        DownloadEvent::Started {
            total,
            resumed_from,
        } => {
            bar.finish_and_clear();
            bar = download_bar(quiet, label, *total);
            bar.set_position(*resumed_from);
            bar.reset_eta();
            if *resumed_from > 0 && !quiet {
                bar.suspend(|| {
                    let _ = writeln!(
                        io::stderr(),
                        "rech: resuming {label} after {}",
                        human_size(*resumed_from)
                    );
                });
            }
        }
        DownloadEvent::Progress { downloaded } => bar.set_position(*downloaded),
        DownloadEvent::Retrying { reason, downloaded } if !quiet => {
            bar.suspend(|| {
                let _ = writeln!(
                    io::stderr(),
                    "rech: {reason}; retrying from {}",
                    human_size(*downloaded)
                );
            });
        }
        _ => {}
    });
    bar.finish_and_clear();
    result
}

/// The name `rech models download` takes for ONNX Runtime.
pub const RUNTIME_NAME: &str = "onnxruntime";

/// ONNX Runtime for GigaAM: the library already configured or fetched, or — where rech may go
/// online — fetched now from the `onnxruntime` wheel on PyPI (verified like a model).
pub fn ensure_runtime(ctx: &Context, why: &str) -> Result<()> {
    if rech_gigaam::runtime::locate().is_some() {
        return Ok(());
    }
    let settings = settings(ctx)?;
    let archive = rech_gigaam::runtime::archive()
        .ok_or_else(|| anyhow!("{}", rech_gigaam::runtime::FetchError::NoArchive))?;
    if settings.offline {
        return Err(anyhow!(
            "GigaAM needs ONNX Runtime {}, which is not downloaded, and downloads are off (--offline or RECH_OFFLINE); run `rech models download {RUNTIME_NAME}` once online, or set RECH_ORT_LIB to libonnxruntime's path",
            rech_gigaam::runtime::ORT_VERSION
        ));
    }
    say(
        ctx,
        &format!(
            "downloading ONNX Runtime {} ({}, {why}) into {}",
            rech_gigaam::runtime::ORT_VERSION,
            human_size(archive.wheel.size),
            settings.store.dir.display()
        ),
    );
    let result = with_bar(RUNTIME_NAME, ctx, |on_event| {
        rech_gigaam::runtime::fetch(&settings, &ctx.interrupted, on_event)
    });
    match result {
        Ok(path) => {
            say(ctx, &format!("ONNX Runtime is in {}", path.display()));
            Ok(())
        }
        Err(rech_gigaam::runtime::FetchError::Download(DownloadError::Cancelled)) => {
            Err(Interrupted.into())
        }
        Err(rech_gigaam::runtime::FetchError::Download(e)) => Err(with_retry_hint(
            e.into(),
            &format!("rech models download {RUNTIME_NAME}"),
            Some("or set RECH_ORT_LIB to libonnxruntime's path"),
        )),
        Err(e) => Err(e.into()),
    }
}

fn list(ctx: &Context) -> Result<ExitCode> {
    let settings = settings(ctx)?;
    let stored = settings.store.list().with_context(|| {
        format!(
            "cannot read the model directory {}",
            settings.store.dir.display()
        )
    })?;
    let mut rows: Vec<[String; 4]> = Vec::new();
    for entry in CATALOG {
        let installed = stored
            .iter()
            .find(|m| m.entry.is_some_and(|e| e.name == entry.name));
        let state = match installed {
            Some(m) if m.size == entry.size() => "yes".to_owned(),
            Some(_) => "damaged".to_owned(),
            None => partial_state(&settings.store.entry_path(entry), entry.size()),
        };
        let name =
            if [DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL, DEFAULT_VAD_MODEL].contains(&entry.name) {
                format!("{} *", entry.name)
            } else {
                entry.name.to_owned()
            };
        rows.push([
            name,
            human_size(entry.size()),
            state,
            entry.summary.to_owned(),
        ]);
    }
    if let Some(archive) = rech_gigaam::runtime::archive() {
        let state = if rech_gigaam::runtime::own_copy().is_some_and(|p| p.is_file()) {
            "yes".to_owned()
        } else {
            "-".to_owned()
        };
        rows.push([
            RUNTIME_NAME.to_owned(),
            human_size(archive.wheel.size),
            state,
            format!(
                "ONNX Runtime {} for GigaAM, fetched on first use (or RECH_ORT_LIB)",
                rech_gigaam::runtime::ORT_VERSION
            ),
        ]);
    }
    for model in stored.iter().filter(|m| m.entry.is_none()) {
        rows.push([
            model.name.clone(),
            human_size(model.size),
            "yes".into(),
            "downloaded with --url".into(),
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(["NAME", "SIZE", "INSTALLED"][i].len())
        })
        .collect();
    let mut out = io::stdout().lock();
    let mut line = |cells: [&str; 4]| {
        writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    line(["NAME", "SIZE", "INSTALLED", "NOTES"]).context("cannot write to stdout")?;
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3]]).context("cannot write to stdout")?;
    }
    drop(out);
    if !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "* used by default (GigaAM for Russian, Whisper otherwise). Models live in {} (set RECH_MODELS_DIR to move them). \
             English-only .en models are not listed: they cannot transcribe Russian.",
            settings.store.dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `-`, or how much of a partial download is there.
fn partial_state(dest: &Path, size: u64) -> String {
    let staging = staging_dir(dest);
    let have = if staging.is_dir() {
        // A multi-file model: what its files (finished or partial) hold so far.
        std::fs::read_dir(&staging).ok().map(|read| {
            read.flatten()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
    } else {
        std::fs::metadata(download::sibling(dest, "part"))
            .ok()
            .map(|m| m.len())
    };
    match have {
        Some(bytes) if size > 0 => format!("partial {}%", bytes.min(size) * 100 / size),
        _ => "-".into(),
    }
}

/// Removes a multi-file model's directory and any download of it under way; whether there was
/// anything to remove.
fn remove_dirs(dest: &Path) -> Result<bool, DownloadError> {
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

fn download_command(args: DownloadArgs, ctx: &Context) -> Result<ExitCode> {
    let settings = settings(ctx)?;
    if settings.offline {
        return Err(UsageError(
            "downloads are off (--offline or RECH_OFFLINE); run this again without them".into(),
        )
        .into());
    }
    if let (Some(url), Some(sha256), Some(name)) = (&args.url, &args.sha256, &args.name) {
        download_custom(url, sha256, name, &settings, ctx)?;
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = if args.names.is_empty() {
        // What the first run in Russian (the default language) needs.
        vec![DEFAULT_RUSSIAN_MODEL, RUNTIME_NAME, DEFAULT_VAD_MODEL]
    } else {
        args.names.iter().map(String::as_str).collect()
    };
    // Every name is checked before anything is downloaded.
    let mut entries = Vec::new();
    let mut runtime = false;
    for name in &names {
        if *name == RUNTIME_NAME {
            runtime = true;
            continue;
        }
        match catalog::find(name) {
            Some(entry) => entries.push(entry),
            None => {
                let hint = match multilingual_instead_of(name) {
                    Some(instead) => format!(
                        "{name} is an English-only model and cannot transcribe Russian; use {instead} instead"
                    ),
                    None => format!(
                        "{name} is not in the catalogue (see `rech models list`); for other models use --url URL --sha256 HEX --name NAME"
                    ),
                };
                return Err(UsageError(hint).into());
            }
        }
    }
    let mut failed = 0;
    if runtime {
        match ensure_runtime(ctx, "asked for") {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => {
                failed += 1;
                let _ = writeln!(io::stderr(), "rech: error: {e:#}");
            }
        }
    }
    for entry in &entries {
        match download_entry(entry, &settings, ctx) {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => {
                failed += 1;
                let _ = writeln!(io::stderr(), "rech: error: {e:#}");
            }
        }
    }
    if failed > 0 {
        let total = entries.len() + usize::from(runtime);
        if total > 1 {
            let _ = writeln!(
                io::stderr(),
                "rech: {failed} of {total} downloads failed; run the command again to resume"
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads one catalogue model; a copy already there is checked, and replaced if damaged.
fn download_entry(entry: &CatalogEntry, settings: &ModelSettings, ctx: &Context) -> Result<()> {
    let dest = settings.store.entry_path(entry);
    if dest.exists() {
        match damaged_file(entry, settings)? {
            None => {
                say(
                    ctx,
                    &format!(
                        "{} is already downloaded and intact: {}",
                        entry.name,
                        dest.display()
                    ),
                );
                return Ok(());
            }
            Some((path, actual, expected)) => {
                say(
                    ctx,
                    &format!(
                        "{} is damaged (sha256 {actual}, expected {expected}); downloading it again",
                        path.display()
                    ),
                );
                if entry.is_single_file() {
                    download::remove(&dest).map_err(anyhow::Error::from)?;
                }
            }
        }
    }
    say(
        ctx,
        &format!(
            "downloading {} ({}) into {}",
            entry.name,
            human_size(entry.size()),
            settings.store.dir.display()
        ),
    );
    let outcome = download_files(entry, settings, ctx)
        .map_err(|e| with_retry_hint(e, &format!("rech models download {}", entry.name), None))?;
    report_outcome(ctx, entry.name, &dest, &outcome);
    Ok(())
}

/// The first file of an installed catalogue model whose sha256 is not the catalogue's: its
/// path, its sha256 (`missing` when it is not there) and the expected one.
fn damaged_file(
    entry: &CatalogEntry,
    settings: &ModelSettings,
) -> Result<Option<(PathBuf, String, &'static str)>> {
    for file in entry.files {
        let path = settings.store.file_path(entry, file);
        if !path.is_file() {
            return Ok(Some((path, "missing".to_owned(), file.sha256)));
        }
        let actual = download::sha256_file(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if actual != file.sha256 {
            return Ok(Some((path, actual, file.sha256)));
        }
    }
    Ok(None)
}

fn download_custom(
    url: &str,
    sha256: &str,
    name: &str,
    settings: &ModelSettings,
    ctx: &Context,
) -> Result<()> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(UsageError(format!("--url {url} is not an http:// or https:// URL")).into());
    }
    let sha256 = normalize_sha256(sha256)
        .ok_or_else(|| UsageError(format!("--sha256 {sha256} is not a sha256 (64 hex digits)")))?;
    if catalog::find(name).is_some() {
        return Err(UsageError(format!(
            "{name} is a catalogue model name; choose another --name for a model from elsewhere"
        ))
        .into());
    }
    if !is_valid_custom_name(name) || name.ends_with(".bin") {
        return Err(UsageError(format!(
            "--name {name}: use 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.' or '-', no .bin)"
        ))
        .into());
    }
    let dest = settings.store.custom_path(name);
    if dest.is_file() {
        let actual = download::sha256_file(&dest)
            .with_context(|| format!("cannot read {}", dest.display()))?;
        if actual == sha256 {
            say(
                ctx,
                &format!(
                    "{name} is already downloaded and intact: {}",
                    dest.display()
                ),
            );
            return Ok(());
        }
        return Err(anyhow!(
            "another file is already downloaded as {name} ({}, sha256 {actual}); remove it with `rech models remove {name}` or choose another --name",
            dest.display()
        ));
    }
    say(
        ctx,
        &format!(
            "downloading {name} from {url} into {}",
            settings.store.dir.display()
        ),
    );
    let request = DownloadRequest {
        url: url.to_owned(),
        dest: dest.clone(),
        sha256,
        size: None,
        timeout: settings.timeout,
    };
    let command = format!(
        "rech models download --url {url} --sha256 {} --name {name}",
        request.sha256
    );
    let outcome =
        run_download(&request, name, ctx).map_err(|e| with_retry_hint(e, &command, None))?;
    // The checksum proves these are the bytes the user meant; this proves whisper.cpp can use them.
    if let Err(e) = crate::engine::validate_model_file(&dest) {
        let _ = download::remove(&dest);
        return Err(anyhow!(
            "{url} is not a usable whisper.cpp model ({e}); the download was deleted"
        ));
    }
    report_outcome(ctx, name, &dest, &outcome);
    Ok(())
}

/// Adds what to do next to a download error: the command to run again, and `alternative`
/// (another way to get going) when there is one.
fn with_retry_hint(e: anyhow::Error, command: &str, alternative: Option<&str>) -> anyhow::Error {
    let e = match e.downcast::<DownloadError>() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let hint = match &e {
        DownloadError::Network { .. } | DownloadError::Stalled { .. } => format!(
            "check the network (and HTTPS_PROXY), then run `{command}` again: it resumes"
        ),
        DownloadError::Status { .. } => format!(
            "check the URL (and RECH_MODEL_BASE_URL, if set), then run `{command}` again"
        ),
        DownloadError::ChecksumMismatch { .. } | DownloadError::WrongSize { .. } => format!(
            "run `{command}` again; if it keeps failing, the server (or the RECH_MODEL_BASE_URL mirror) serves another file"
        ),
        DownloadError::NoSpace { .. } => format!("free some space, then run `{command}` again"),
        _ => format!("run `{command}` again"),
    };
    match alternative {
        Some(alternative) => anyhow!("{e}; {hint}, {alternative}"),
        None => anyhow!("{e}; {hint}"),
    }
}

fn report_outcome(ctx: &Context, name: &str, dest: &Path, outcome: &DownloadOutcome) {
    match outcome {
        DownloadOutcome::AlreadyPresent => say(
            ctx,
            &format!(
                "{name} was downloaded by another rech process meanwhile: {}",
                dest.display()
            ),
        ),
        DownloadOutcome::Downloaded { bytes, .. } => say(
            ctx,
            &format!(
                "{name}: {} verified, saved as {}",
                human_size(*bytes),
                dest.display()
            ),
        ),
    }
}

fn path_command(name: Option<&str>, ctx: &Context) -> Result<ExitCode> {
    let settings = settings(ctx)?;
    let path = match name {
        None => settings.store.dir.clone(),
        Some(name) => match settings.store.find_installed(name) {
            Some(model) => model.path,
            None if catalog::find(name).is_some() => {
                return Err(anyhow!(
                    "{name} is not downloaded; run `rech models download {name}`"
                ))
            }
            None => return Err(UsageError(unknown_model(name, &settings.store)).into()),
        },
    };
    writeln!(io::stdout(), "{}", path.display()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn remove_command(names: &[String], ctx: &Context) -> Result<ExitCode> {
    let settings = settings(ctx)?;
    let mut failed = 0;
    for name in names {
        let dest = match catalog::find(name) {
            Some(entry) => settings.store.entry_path(entry),
            None if is_valid_custom_name(name) => settings.store.custom_path(name),
            None => {
                failed += 1;
                let _ = writeln!(
                    io::stderr(),
                    "rech: error: {}",
                    unknown_model(name, &settings.store)
                );
                continue;
            }
        };
        let removed = if dest.is_dir() || staging_dir(&dest).is_dir() {
            remove_dirs(&dest)
        } else {
            download::remove(&dest)
        };
        match removed {
            Ok(true) => say(ctx, &format!("removed {name} ({})", dest.display())),
            Ok(false) => {
                failed += 1;
                let _ = writeln!(
                    io::stderr(),
                    "rech: error: {name} is not downloaded (nothing at {})",
                    dest.display()
                );
            }
            Err(DownloadError::Busy { .. }) => {
                failed += 1;
                let _ = writeln!(
                    io::stderr(),
                    "rech: error: {name} is being downloaded by another rech process; try again when it finishes"
                );
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(io::stderr(), "rech: error: {e}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line of information on stderr, unless `--quiet`.
fn say(ctx: &Context, text: &str) {
    if !ctx.quiet {
        let _ = writeln!(io::stderr(), "rech: {text}");
    }
}
