//! `rech models` (list, download, path, remove), and the one place that turns what a user
//! typed for a model — a catalogue name, a downloaded model's name, or a file — into a file on
//! disk, downloading a catalogue model the first time it is needed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand};
pub use rech::fetch::VadWanted;
use rech::fetch::{FetchEvent, Fetcher, Listing, Stored, VadModel};
use rech::FetchError;
use rech_asr::catalog::{
    self, human_size, multilingual_instead_of, ModelStore, DEFAULT_MODEL, DEFAULT_RUSSIAN_MODEL,
    DEFAULT_VAD_MODEL,
};
use rech_asr::download::{DownloadError, DownloadEvent, DownloadOutcome};
use rech_asr::resolve::{classify, ModelSettings, ModelSpec, ResolvedModel};
use rech_gigaam::runtime::RuntimeKind;

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
    /// Catalogue names (see `rech models list`), onnxruntime, or onnxruntime-gpu (ONNX
    /// Runtime's CUDA build, for GigaAM --gpu).
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

/// A fetcher over the user's model settings that shows downloads on stderr (a bar per file,
/// a line for each step) and stops at Ctrl-C.
pub fn fetcher(ctx: &Context) -> Result<Fetcher> {
    let settings = settings(ctx)?;
    let quiet = ctx.quiet;
    let mut shown = Shown::new(quiet);
    Ok(Fetcher::new(settings)
        .with_cancel_token(ctx.interrupted.clone())
        .on_event(move |event| shown.event(event)))
}

/// What a fetcher's events look like on stderr.
struct Shown {
    quiet: bool,
    bar: indicatif::ProgressBar,
    /// Whether the download under way was asked for by name (its outcome is reported).
    asked: bool,
}

impl Shown {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            bar: download_bar(true, "", None),
            asked: false,
        }
    }

    fn event(&mut self, event: &FetchEvent<'_>) {
        let quiet = self.quiet;
        match event {
            FetchEvent::Downloading {
                name,
                size,
                why,
                dir,
            } => {
                self.asked = why.is_none() || *why == Some(ASKED_FOR);
                let what = if *name == RUNTIME_NAME {
                    format!("ONNX Runtime {}", rech_gigaam::runtime::ORT_VERSION)
                } else if *name == GPU_RUNTIME_NAME {
                    format!(
                        "ONNX Runtime {} with CUDA",
                        rech_gigaam::runtime::ORT_CUDA_VERSION
                    )
                } else {
                    (*name).to_owned()
                };
                let size = match why {
                    Some(why) => format!("{}, {why}", human_size(*size)),
                    None => human_size(*size),
                };
                say_quietly(
                    quiet,
                    &format!("downloading {what} ({size}) into {}", dir.display()),
                );
            }
            FetchEvent::File { label, event } => self.file_event(label, event),
            FetchEvent::FileEnded { .. } => {
                self.bar.finish_and_clear();
                self.bar = download_bar(true, "", None);
            }
            FetchEvent::DownloadingUrl { name, url, dir } => {
                self.asked = true;
                say_quietly(
                    quiet,
                    &format!("downloading {name} from {url} into {}", dir.display()),
                );
            }
            FetchEvent::Intact { name, path } => say_quietly(
                quiet,
                &format!(
                    "{name} is already downloaded and intact: {}",
                    path.display()
                ),
            ),
            FetchEvent::Damaged {
                path,
                actual,
                expected,
            } => say_quietly(
                quiet,
                &format!(
                    "{} is damaged (sha256 {actual}, expected {expected}); downloading it again",
                    path.display()
                ),
            ),
            FetchEvent::Installed { name, path, .. }
                if *name == RUNTIME_NAME || *name == GPU_RUNTIME_NAME =>
            {
                say_quietly(quiet, &format!("ONNX Runtime is in {}", path.display()));
            }
            FetchEvent::Installed {
                name,
                path,
                outcome,
            } if self.asked => report_outcome(quiet, name, path, outcome),
            _ => {}
        }
    }

    fn file_event(&mut self, label: &str, event: &DownloadEvent) {
        let quiet = self.quiet;
        match event {
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
                self.bar.finish_and_clear();
                self.bar = download_bar(quiet, label, *total);
                self.bar.set_position(*resumed_from);
                self.bar.reset_eta();
                if *resumed_from > 0 && !quiet {
                    self.bar.suspend(|| {
                        let _ = writeln!(
                            io::stderr(),
                            "rech: resuming {label} after {}",
                            human_size(*resumed_from)
                        );
                    });
                }
            }
            DownloadEvent::Progress { downloaded } => self.bar.set_position(*downloaded),
            DownloadEvent::Retrying { reason, downloaded } if !quiet => {
                self.bar.suspend(|| {
                    let _ = writeln!(
                        io::stderr(),
                        "rech: {reason}; retrying from {}",
                        human_size(*downloaded)
                    );
                });
            }
            _ => {}
        }
    }
}

/// Why ONNX Runtime is downloaded when `rech models download` names it.
const ASKED_FOR: &str = "asked for";

/// The model to load for `-m/--model` (or `RECH_MODEL`): a file, or a model name; with
/// neither, `default`. A catalogue model that is not downloaded yet is downloaded now, unless
/// the network is off.
pub fn resolve_model(spec: Option<&Path>, default: &str, ctx: &Context) -> Result<ResolvedModel> {
    fetcher(ctx)?
        .resolve(spec, default)
        .map_err(|e| explain(e, Some(MODEL_FLAG)))
}

const MODEL_FLAG: &str = "--model PATH to a model file (whisper.cpp ggml, or GigaAM-v3 .onnx)";
const VAD_FLAG: &str = "--vad-model PATH to a Silero VAD model file";

/// A fetch error in the binary's words: the command that repairs it, or the flag to use
/// instead (`alternative`).
pub fn explain(e: FetchError, alternative: Option<&str>) -> anyhow::Error {
    match e {
        FetchError::Cancelled => Interrupted.into(),
        FetchError::NotASpeechModel { name, what } => UsageError(if what == "speaker" {
            format!("{name} is the speaker-label models, not a speech model; --diarize voices uses it")
        } else {
            format!("{name} is a {what} model, not a Whisper model; pass it as --vad-model")
        })
        .into(),
        FetchError::NotAVadModel { name, vad } => UsageError(format!(
            "--vad-model {name}: not a file, and the only VAD model in the catalogue is {vad}"
        ))
        .into(),
        FetchError::UnknownModel { name, dir } => {
            UsageError(unknown_model(&name, &ModelStore::new(dir))).into()
        }
        e @ FetchError::Damaged { .. } => {
            let FetchError::Damaged { name, .. } = &e else {
                unreachable!()
            };
            anyhow!("{e}; run `rech models download {name}` to download it again")
        }
        FetchError::Offline {
            name,
            size,
            default,
        } => {
            let subject = if default {
                format!(
                    "no model yet: the default model {name} ({}) is not downloaded",
                    human_size(size)
                )
            } else {
                format!("model {name} is not downloaded")
            };
            let instead = alternative.map(|a| format!(", or pass {a}")).unwrap_or_default();
            anyhow!(
                "{subject}, and downloads are off (--offline or RECH_OFFLINE); run `rech models download {name}` once online{instead}"
            )
        }
        FetchError::RuntimeOffline { name, version } => anyhow!(
            "GigaAM needs ONNX Runtime {version} ({name}), which is not downloaded, and downloads are off (--offline or RECH_OFFLINE); run `rech models download {name}` once online, or set RECH_ORT_LIB to libonnxruntime's path"
        ),
        FetchError::Download { name, source } if name == RUNTIME_NAME || name == GPU_RUNTIME_NAME => {
            with_retry_hint(
                source,
                &format!("rech models download {name}"),
                Some("or set RECH_ORT_LIB to libonnxruntime's path"),
            )
        }
        FetchError::Download { name, source } => with_retry_hint(
            source,
            &format!("rech models download {name}"),
            alternative.map(|a| format!("or pass {a}")).as_deref(),
        ),
        FetchError::Settings(e) if e.is_usage() => UsageError(e.to_string()).into(),
        other => anyhow!(other),
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

/// The VAD model: `spec` (a file or `silero-v6.2.0`) when given, else the catalogue's VAD model
/// when downloaded — or downloaded now when `wanted` says so. Without one, VAD is off and one
/// line says so (with what is done `instead`).
pub fn resolve_vad(
    spec: Option<&Path>,
    wanted: VadWanted,
    instead: &str,
    ctx: &Context,
) -> Result<Option<PathBuf>> {
    let found = match (fetcher(ctx), spec) {
        (Ok(mut fetcher), _) => vad_with(&mut fetcher, spec, wanted, ctx)?,
        // A file needs no model directory.
        (Err(_), Some(path)) if matches!(classify(path), ModelSpec::Path(_)) => {
            Some(path.to_owned())
        }
        (Err(e), _) if wanted != VadWanted::Required => {
            log::info!("no VAD: {e:#}");
            None
        }
        (Err(e), _) => return Err(e),
    };
    if found.is_none() {
        vad_off_notice(ctx, instead);
    }
    Ok(found)
}

fn vad_with(
    fetcher: &mut Fetcher,
    spec: Option<&Path>,
    wanted: VadWanted,
    ctx: &Context,
) -> Result<Option<PathBuf>> {
    match fetcher.vad(spec, wanted) {
        Ok(VadModel::Found(path)) => Ok(Some(path)),
        Ok(VadModel::Off) => Ok(None),
        Ok(VadModel::Unavailable(e)) => {
            if !ctx.quiet {
                let _ = writeln!(
                    io::stderr(),
                    "rech: warning: {:#}; transcribing without voice-activity detection",
                    explain(e, Some(VAD_FLAG))
                );
            }
            Ok(None)
        }
        Err(FetchError::Offline { name, .. }) => Err(UsageError(format!(
            "--vad needs the Silero VAD model, which is not downloaded, and downloads are off (--offline or RECH_OFFLINE); run `rech models download {name}` once online, or pass --vad-model PATH"
        ))
        .into()),
        Err(e) => Err(explain(e, Some(VAD_FLAG))),
    }
}

/// The name `rech models download` takes for ONNX Runtime.
pub const RUNTIME_NAME: &str = rech::fetch::RUNTIME_NAME;

/// The name `rech models download` takes for ONNX Runtime's CUDA build.
pub const GPU_RUNTIME_NAME: &str = rech::fetch::GPU_RUNTIME_NAME;

fn list(ctx: &Context) -> Result<ExitCode> {
    let fetcher = fetcher(ctx)?;
    let listed = fetcher.inventory().map_err(|e| match e {
        FetchError::Io { path, detail } => {
            anyhow!(
                "cannot read the model directory {}: {detail}",
                path.display()
            )
        }
        other => explain(other, None),
    })?;
    let rows: Vec<[String; 4]> = listed
        .into_iter()
        .map(|model| {
            let state = match model.state {
                Stored::Installed => "yes".to_owned(),
                Stored::Damaged => "damaged".to_owned(),
                Stored::Partial(bytes) if model.size > 0 => {
                    format!("partial {}%", bytes.min(model.size) * 100 / model.size)
                }
                Stored::Partial(_) | Stored::Missing => "-".to_owned(),
            };
            let (name, notes) = match model.source {
                Listing::Catalogue { summary, default } if default => {
                    (format!("{} *", model.name), summary.to_owned())
                }
                Listing::Catalogue { summary, .. } => (model.name, summary.to_owned()),
                Listing::Runtime(version) if model.name == GPU_RUNTIME_NAME => (
                    model.name,
                    format!(
                        "ONNX Runtime {version} with CUDA for GigaAM --gpu, fetched on first use (or RECH_ORT_LIB)"
                    ),
                ),
                Listing::Runtime(version) => (
                    model.name,
                    format!(
                        "ONNX Runtime {version} for GigaAM, fetched on first use (or RECH_ORT_LIB)"
                    ),
                ),
                Listing::Custom => (model.name, "downloaded with --url".to_owned()),
            };
            [name, human_size(model.size), state, notes]
        })
        .collect();
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
            fetcher.settings().store.dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
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
        download_custom(url, sha256, name, ctx)?;
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
    let mut runtimes = Vec::new();
    for name in &names {
        if *name == RUNTIME_NAME {
            runtimes.push(RuntimeKind::Cpu);
            continue;
        }
        if *name == GPU_RUNTIME_NAME {
            runtimes.push(RuntimeKind::Cuda);
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
    let mut fetcher = fetcher(ctx)?;
    let runtimes_asked = runtimes.len();
    for kind in runtimes {
        match fetcher
            .install_runtime(kind, Some(ASKED_FOR))
            .map_err(|e| explain(e, None))
        {
            Ok(_) => {}
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => {
                failed += 1;
                let _ = writeln!(io::stderr(), "rech: error: {e:#}");
            }
        }
    }
    for entry in &entries {
        match fetcher.download(entry).map_err(|e| explain(e, None)) {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => {
                failed += 1;
                let _ = writeln!(io::stderr(), "rech: error: {e:#}");
            }
        }
    }
    if failed > 0 {
        let total = entries.len() + runtimes_asked;
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

/// `--url URL --sha256 HEX --name NAME`: a whisper.cpp model from elsewhere.
fn download_custom(url: &str, sha256: &str, name: &str, ctx: &Context) -> Result<()> {
    let command = format!("rech models download --url {url} --sha256 {sha256} --name {name}");
    fetcher(ctx)?
        .download_url(name, url, sha256)
        .map_err(|e| match e {
            FetchError::NotAUrl { url } => {
                UsageError(format!("--url {url} is not an http:// or https:// URL")).into()
            }
            FetchError::NotASha256 { sha256 } => {
                UsageError(format!("--sha256 {sha256} is not a sha256 (64 hex digits)")).into()
            }
            FetchError::CatalogueName { name } => UsageError(format!(
                "{name} is a catalogue model name; choose another --name for a model from elsewhere"
            ))
            .into(),
            FetchError::BadName { name } => UsageError(format!(
                "--name {name}: use 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.' or '-', no .bin)"
            ))
            .into(),
            e @ FetchError::NameTaken { .. } => anyhow!(
                "{e}; remove it with `rech models remove {name}` or choose another --name"
            ),
            FetchError::Download { source, .. } => with_retry_hint(source, &command, None),
            other => explain(other, None),
        })?;
    Ok(())
}

/// Adds what to do next to a download error: the command to run again, and `alternative`
/// (another way to get going) when there is one.
fn with_retry_hint(e: DownloadError, command: &str, alternative: Option<&str>) -> anyhow::Error {
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

fn report_outcome(quiet: bool, name: &str, dest: &Path, outcome: &DownloadOutcome) {
    match outcome {
        DownloadOutcome::AlreadyPresent => say_quietly(
            quiet,
            &format!(
                "{name} was downloaded by another rech process meanwhile: {}",
                dest.display()
            ),
        ),
        DownloadOutcome::Downloaded { bytes, .. } => say_quietly(
            quiet,
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
    let fetcher = fetcher(ctx)?;
    let mut failed = 0;
    for name in names {
        let problem = match fetcher.remove_model(name) {
            Ok((dest, true)) => {
                say(ctx, &format!("removed {name} ({})", dest.display()));
                continue;
            }
            Ok((dest, false)) => {
                format!("{name} is not downloaded (nothing at {})", dest.display())
            }
            Err(FetchError::Download {
                source: DownloadError::Busy { .. },
                ..
            }) => format!(
                "{name} is being downloaded by another rech process; try again when it finishes"
            ),
            Err(FetchError::UnknownModel { name, dir }) => {
                unknown_model(&name, &ModelStore::new(dir))
            }
            Err(e) => e.to_string(),
        };
        failed += 1;
        let _ = writeln!(io::stderr(), "rech: error: {problem}");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line of information on stderr, unless `--quiet`.
fn say(ctx: &Context, text: &str) {
    say_quietly(ctx.quiet, text);
}

fn say_quietly(quiet: bool, text: &str) {
    if !quiet {
        let _ = writeln!(io::stderr(), "rech: {text}");
    }
}

/// The message for a model name that is neither a file, a catalogue name nor a downloaded
/// model (an English-only name gets the multilingual model to use instead).
pub fn unknown_model(name: &str, store: &ModelStore) -> String {
    if let Some(instead) = multilingual_instead_of(name) {
        return format!(
            "{name} is an English-only model and cannot transcribe Russian; use {instead} instead"
        );
    }
    format!(
        "unknown model {name}: no such file, no catalogue model and nothing downloaded under that name in {}; see `rech models list`",
        store.dir.display()
    )
}

/// What to tell a user whose model file failed to load.
pub fn repair_hint(model: &ResolvedModel) -> String {
    match (&model.name, model.from_catalog) {
        (Some(name), true) => format!("run `rech models download {name}` to replace it with a verified copy"),
        (Some(name), false) => format!(
            "download it again with `rech models download --url URL --sha256 HEX --name {name}` after `rech models remove {name}`"
        ),
        (None, _) => match catalog::entry_for_path(&model.path) {
            Some(entry) => format!(
                "run `rech models download {}` for a verified copy, or pass --model PATH to another ggml model",
                entry.name
            ),
            None => format!(
                "pass --model PATH to a whisper.cpp ggml model, or a model name such as {DEFAULT_MODEL} (see `rech models list`)"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_command_that_repairs() {
        let store = ModelStore::new("/m");
        assert!(unknown_model("small.en", &store).ends_with("use small instead"));
        assert!(unknown_model("nope", &store).contains("in /m; see `rech models list`"));
        let catalogue = ResolvedModel {
            path: PathBuf::from("/m/ggml-small.bin"),
            name: Some("small".to_owned()),
            from_catalog: true,
        };
        assert_eq!(
            repair_hint(&catalogue),
            "run `rech models download small` to replace it with a verified copy"
        );
        let file = ResolvedModel {
            name: None,
            from_catalog: false,
            ..catalogue
        };
        assert!(repair_hint(&file).starts_with("run `rech models download small` for a verified"));
    }
}
