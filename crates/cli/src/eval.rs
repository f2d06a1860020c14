//! `rech eval`: how close transcripts are to references — word and character error rates
//! with Russian normalisation, per system and on request per recording, as a table, JSON or
//! TSV. Bad manifest lines are one line each; the rest is scored, and the run exits 1 at the
//! end.

use std::io::{self, IsTerminal, Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use rech::batch::Step;
use rech::eval::{
    json_report, marked_diff, read_manifest, score, shown_path, tsv_report, unreferenced, Entry,
    ErrorCounts, Problem, ReportOptions, SystemScore, Timing,
};
use rech::file::{Clip, FileError, FileOptions, Input as Source};
use rech_asr::{Transcript, WindowOptions};
use serde_json::json;

use crate::engine::{self, language_arg};
use crate::running::{new_transcriber, RunArgs};
use crate::{Context, Interrupted, UsageError};

/// How `rech eval` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    /// A table for people.
    Table,
    /// One JSON object.
    Json,
    /// Tab-separated values with a header line.
    Tsv,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The references: a TSV file of `path<TAB>text` lines (paths relative to it; `#` starts a
    /// comment; a first line starting `path` is a header), or a directory of recordings with a
    /// `.txt` reference beside each.
    #[arg(value_name = "MANIFEST")]
    manifest: PathBuf,

    /// Transcribe every recording with this model and score it (a catalogue name, a downloaded
    /// model's name or a model file, as `rech transcribe -m` takes it); repeat to compare models
    /// side by side. Each runs in a process of its own, as `rech transcribe` runs it with the
    /// options below [default: the default model for the language, unless --hyp is given].
    #[arg(short, long = "model", value_name = "NAME|PATH")]
    models: Vec<PathBuf>,

    /// Transcripts made elsewhere, laid out as the manifest (`path<TAB>text`, paths relative to
    /// this file); repeat to compare systems side by side.
    #[arg(long = "hyp", value_name = "FILE.tsv")]
    hypotheses: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    format: EvalFormat,

    /// Also a row per recording.
    #[arg(long)]
    per_file: bool,

    /// Score the texts as written: case, «ё», punctuation and digits count as differences.
    #[arg(long)]
    no_normalize: bool,

    /// Print both texts of every recording as they are scored (the per-recording rows too).
    #[arg(long)]
    show_normalized: bool,

    /// Print every recording's hypothesis aligned with its reference word by word: [-deleted-],
    /// {+inserted+}, [-replaced-]{+by+} (in colour on a terminal; JSON gets a `diff` per
    /// recording).
    #[arg(long)]
    diff: bool,

    #[command(flatten)]
    run: RunArgs,
}

/// Set in the environment of the process `rech eval` runs one model in: the index of that
/// model among the `-m` flags, or `default`. The child parses the same command line, runs
/// that model alone and writes what it made as JSON on stdout ([`child`]).
const MODEL_RUN: &str = "RECH_EVAL_MODEL_RUN";

pub fn run(args: EvalArgs, ctx: &Context) -> Result<ExitCode> {
    if let Some(which) = std::env::var_os(MODEL_RUN) {
        return child(&args, &which.to_string_lossy(), ctx);
    }
    let (references, mut problems) = references(&args)?;
    // Every model is checked (and fetched) before any runs: a misspelt second model is one
    // line now, not after the first has transcribed everything.
    let language = language_arg(&args.run.language)?;
    let specs: Vec<Option<&Path>> = if args.models.is_empty() && args.hypotheses.is_empty() {
        vec![None]
    } else {
        args.models.iter().map(|m| Some(m.as_path())).collect()
    };
    let mut runs: Vec<(String, String)> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (resolved, _) = engine::choose_model(
            *spec,
            rech::Use::Files,
            language.as_deref(),
            &args.run.whisper_only(),
            ctx,
        )?;
        runs.push(match spec {
            Some(spec) => (i.to_string(), spec.display().to_string()),
            None => (
                "default".to_owned(),
                resolved
                    .name
                    .unwrap_or_else(|| resolved.path.display().to_string()),
            ),
        });
    }
    let mut systems = Vec::new();
    for (which, label) in &runs {
        let run = match run_in_child(which, ctx)? {
            Ok(run) => run,
            // The child said why on stderr.
            Err(code) => return Ok(code),
        };
        problems.extend(run.failed.into_iter().map(|(line, what)| Problem {
            file: args.manifest.clone(),
            line,
            what: format!("{what} (with {label})"),
        }));
        let (files, _) = score(
            &references,
            &run.hypotheses,
            !args.no_normalize,
            &args.manifest,
        );
        let mut system = SystemScore::new(label.clone(), files, Some(run.timing));
        system.peak_memory = run.peak_memory;
        systems.push(system);
    }
    for hyp in &args.hypotheses {
        let (hypotheses, bad) =
            read_manifest(hyp).map_err(|e| UsageError(format!("cannot read --hyp: {e}")))?;
        problems.extend(bad);
        problems.extend(unreferenced(&references, &hypotheses, hyp));
        let (files, missing) = score(&references, &hypotheses, !args.no_normalize, &args.manifest);
        problems.extend(missing.into_iter().map(|p| Problem {
            what: format!("{} (in {})", p.what, hyp.display()),
            ..p
        }));
        systems.push(SystemScore::new(hyp.display().to_string(), files, None));
    }
    report(&problems);
    let per_file = args.per_file || args.show_normalized || args.diff;
    let colour = args.format == EvalFormat::Table
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let options = ReportOptions {
        per_file,
        texts: args.show_normalized,
        diff: args.diff,
        normalized: !args.no_normalize,
    };
    let text = match args.format {
        EvalFormat::Table => table(&systems, &options, colour, &args.manifest),
        EvalFormat::Json => json_report(&systems, &options, &args.manifest),
        EvalFormat::Tsv => tsv_report(&systems, &options, &args.manifest),
    };
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The manifest's entries and its bad lines; none to score is a usage error.
fn references(args: &EvalArgs) -> Result<(Vec<Entry>, Vec<Problem>)> {
    let (references, problems) = read_manifest(&args.manifest).map_err(|e| {
        if e.path.exists() {
            anyhow::Error::from(e)
        } else {
            UsageError(format!("cannot read the manifest: {e}")).into()
        }
    })?;
    if references.is_empty() {
        report(&problems);
        return Err(UsageError(format!(
            "{}: no recording with a reference to score",
            args.manifest.display()
        ))
        .into());
    }
    Ok((references, problems))
}

/// What one model made of the manifest in its own process.
struct ChildRun {
    hypotheses: Vec<Entry>,
    timing: Timing,
    peak_memory: Option<u64>,
    /// The recordings that failed: the manifest's line and why.
    failed: Vec<(usize, String)>,
}

/// Runs model `which` in a child process (this binary, the same command line, [`MODEL_RUN`]
/// set) and reads what it made; `Err` holds the exit code of a child that failed (it said why
/// on stderr). Ctrl-C reaches the child as well; if only this process was interrupted, the
/// child is stopped.
fn run_in_child(which: &str, ctx: &Context) -> Result<std::result::Result<ChildRun, ExitCode>> {
    let exe = std::env::current_exe().context("cannot find the rech binary to run a model")?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MODEL_RUN, which)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start a process to run the model")?;
    let mut stdout = child
        .stdout
        .take()
        .context("the model's process has no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if ctx.interrupted.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Interrupted.into());
        }
        // Woken every tenth of a second to pass Ctrl-C on; the child does the work.
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading the model's results failed"))??;
    if ctx.interrupted.is_cancelled() || status.code() == Some(130) {
        return Err(Interrupted.into());
    }
    if !status.success() {
        let code = status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1);
        return Ok(Err(ExitCode::from(code)));
    }
    let value: serde_json::Value =
        serde_json::from_str(&text).context("the model's process wrote no results")?;
    let line = |v: &serde_json::Value| v["line"].as_u64().unwrap_or(0) as usize;
    let list = |key: &str| value[key].as_array().cloned().unwrap_or_default();
    Ok(Ok(ChildRun {
        hypotheses: list("hypotheses")
            .iter()
            .map(|v| Entry {
                path: PathBuf::from(v["path"].as_str().unwrap_or_default()),
                text: v["text"].as_str().unwrap_or_default().to_owned(),
                line: line(v),
            })
            .collect(),
        failed: list("failed")
            .iter()
            .map(|v| (line(v), v["error"].as_str().unwrap_or_default().to_owned()))
            .collect(),
        timing: Timing {
            audio_seconds: value["audio_seconds"].as_f64().unwrap_or(0.0),
            wall_seconds: value["wall_seconds"].as_f64().unwrap_or(0.0),
        },
        peak_memory: value["peak_memory_bytes"].as_u64(),
    }))
}

/// The child's side of [`run_in_child`]: model `which` loaded as `rech transcribe` loads it,
/// every recording transcribed with `-j` jobs (the clock starts once the model is loaded),
/// and the transcripts, failures, times and this process's peak memory written as JSON.
fn child(args: &EvalArgs, which: &str, ctx: &Context) -> Result<ExitCode> {
    let (references, _) = references(args)?;
    let spec = match which {
        "default" => None,
        index => {
            let index: usize = index.parse().context("a bad model index")?;
            Some(
                args.models
                    .get(index)
                    .context("a bad model index")?
                    .as_path(),
            )
        }
    };
    let jobs = usize::from(args.run.jobs).min(references.len()).max(1);
    let threads = args.run.threads_per_job(jobs);
    let (transcribe, whisper) = args.run.options(false)?;
    let options = FileOptions {
        windows: WindowOptions {
            window_seconds: args.run.window,
            ..WindowOptions::default()
        },
        clip: Clip::default(),
        prompt: None,
        speakers: Default::default(),
        transcribe,
    };
    let (_, engine) = engine::load_model(
        spec,
        rech::Use::Files,
        options.transcribe.language.as_deref(),
        &args.run.whisper_only(),
        args.run.engine_options(whisper, jobs),
        threads,
        ctx,
    )?;
    let engine = engine.as_ref();
    let vad_path = args.run.vad.model(ctx)?;
    let vad_options = args.run.vad.options();
    let make = || new_transcriber(engine, threads, vad_path.as_deref(), &vad_options, ctx);
    let first = make()?;
    let started = Instant::now();
    let results: Vec<Mutex<Option<std::result::Result<Transcript, String>>>> =
        references.iter().map(|_| Mutex::new(None)).collect();
    rech::batch::run(
        jobs,
        references.len(),
        first,
        &make,
        &ctx.interrupted,
        &|slot, transcriber| {
            let path = &references[slot].path;
            let transcribed = Source::open(path).and_then(|input| {
                input.transcribe(transcriber, &options, &ctx.interrupted, &mut |_| {})
            });
            let step = match &transcribed {
                Err(e) if e.is_cancelled() => return Step::Stop(Interrupted.into()),
                // The engine state may be broken after a panic: the next gets a new one.
                Err(FileError::Panicked { .. }) => Step::Renew,
                _ => Step::Next,
            };
            if let Ok(transcript) = &transcribed {
                log::info!(
                    "{}: {:.1} s of audio, {:.2} s into the run",
                    path.display(),
                    transcript.duration,
                    started.elapsed().as_secs_f64()
                );
            }
            *results[slot].lock().unwrap_or_else(|p| p.into_inner()) =
                Some(transcribed.map_err(|e| e.to_string()));
            step
        },
    )?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let mut hypotheses = Vec::new();
    let mut failed = Vec::new();
    let mut audio_seconds = 0.0;
    for (entry, result) in references.iter().zip(results) {
        match result.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(transcript)) => {
                audio_seconds += transcript.duration;
                hypotheses.push(json!({
                    "path": entry.path, "line": entry.line, "text": transcript.text(),
                }));
            }
            Some(Err(error)) => failed.push(json!({ "line": entry.line, "error": error })),
            None => {}
        }
    }
    let report = json!({
        "hypotheses": hypotheses,
        "failed": failed,
        "audio_seconds": audio_seconds,
        "wall_seconds": wall_seconds,
        "peak_memory_bytes": rech::eval::peak_memory(),
    });
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, &report).context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn report(problems: &[Problem]) {
    for problem in problems {
        let _ = writeln!(io::stderr(), "rech: error: {problem}");
    }
}

fn percent(counts: &ErrorCounts) -> String {
    format!("{:.2}%", counts.rate() * 100.0)
}

fn table(
    systems: &[SystemScore],
    options: &ReportOptions,
    colour: bool,
    manifest: &Path,
) -> String {
    let mut rows: Vec<[String; 12]> = vec![[
        "SYSTEM".into(),
        "FILES".into(),
        "WER".into(),
        "CER".into(),
        "SUB".into(),
        "DEL".into(),
        "INS".into(),
        "WORDS".into(),
        "AUDIO".into(),
        "WALL".into(),
        "RTF".into(),
        "PEAK".into(),
    ]];
    let row = |name: String, files: usize, w: &ErrorCounts, c: &ErrorCounts, speed: [String; 4]| {
        let [audio, wall, rtf, peak] = speed;
        [
            name,
            files.to_string(),
            percent(w),
            percent(c),
            w.substitutions.to_string(),
            w.deletions.to_string(),
            w.insertions.to_string(),
            w.reference().to_string(),
            audio,
            wall,
            rtf,
            peak,
        ]
    };
    let mut before = String::new();
    for system in systems {
        let speed = [
            system
                .timing
                .map_or("-".to_owned(), |t| format!("{:.1}s", t.audio_seconds)),
            system
                .timing
                .map_or("-".to_owned(), |t| format!("{:.1}s", t.wall_seconds)),
            system
                .timing
                .map_or("-".to_owned(), |t| format!("{:.3}", t.real_time_factor())),
            system.peak_memory.map_or("-".to_owned(), |bytes| {
                format!("{} MiB", (bytes + (1 << 19)) >> 20)
            }),
        ];
        rows.push(row(
            system.name.clone(),
            system.files.len(),
            &system.words,
            &system.chars,
            speed,
        ));
        if options.per_file {
            for file in &system.files {
                let name = shown_path(&file.path, manifest);
                rows.push(row(
                    format!("  {name}"),
                    1,
                    &file.words,
                    &file.chars,
                    Default::default(),
                ));
                if options.diff {
                    let diff = marked_diff(&file.reference, &file.hypothesis, colour);
                    before.push_str(&format!("{name} ({}): {diff}\n", system.name));
                }
                if options.texts {
                    before.push_str(&format!(
                        "{name} ({})\n  ref: {}\n  hyp: {}\n",
                        system.name, file.reference, file.hypothesis
                    ));
                }
            }
        }
    }
    let widths: Vec<usize> = (0..12)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = before;
    for r in &rows {
        let mut line = format!("{:<w$}", r[0], w = widths[0]);
        for (cell, w) in r.iter().zip(&widths).skip(1) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
