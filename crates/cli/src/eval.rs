//! `rech eval`: how close transcripts are to references — word and character error rates
//! with Russian normalisation, per system and on request per recording, as a table, JSON or
//! TSV. Bad manifest lines are one line each; the rest is scored, and the run exits 1 at the
//! end.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use rech::eval::{align_words, read_manifest, score, Aligned, Entry, ErrorCounts, Problem, Scored};
use serde_json::json;

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
    /// side by side. Each runs with rech's defaults for Russian (VAD when its model is there).
    #[arg(short, long = "model", value_name = "NAME|PATH")]
    models: Vec<PathBuf>,

    /// Transcripts made elsewhere, laid out as the manifest (`path<TAB>text`, paths relative to
    /// this file); repeat to compare systems side by side.
    #[arg(long = "hyp", value_name = "FILE.tsv")]
    hypotheses: Vec<PathBuf>,

    /// CPU threads for each model [default: all cores, at most 8].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,

    /// Silero VAD model file for the models' runs [default: silero-v6.2.0 when downloaded].
    #[arg(long, value_name = "PATH")]
    vad_model: Option<PathBuf>,

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
}

/// One system's scores.
struct System {
    name: String,
    files: Vec<Scored>,
    words: ErrorCounts,
    chars: ErrorCounts,
    /// For a model run here: seconds of audio and of wall time it took.
    timing: Option<(f64, f64)>,
}

pub fn run(args: EvalArgs, ctx: &Context) -> Result<ExitCode> {
    if args.models.is_empty() && args.hypotheses.is_empty() {
        return Err(UsageError(
            "nothing to score: give models (-m) to run, or transcripts (--hyp)".into(),
        )
        .into());
    }
    let (references, mut problems) = read_manifest(&args.manifest).map_err(|e| {
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
    let mut systems = Vec::new();
    for spec in &args.models {
        let run = transcribe_all(spec, &references, &args, ctx)?;
        problems.extend(run.failed);
        let name = spec.display().to_string();
        let (files, _) = score(
            &references,
            &run.hypotheses,
            !args.no_normalize,
            &args.manifest,
        );
        systems.push(System::new(name, files, Some(run.timing)));
    }
    for hyp in &args.hypotheses {
        let (hypotheses, bad) =
            read_manifest(hyp).map_err(|e| UsageError(format!("cannot read --hyp: {e}")))?;
        problems.extend(bad);
        let (files, missing) = score(&references, &hypotheses, !args.no_normalize, &args.manifest);
        problems.extend(missing.into_iter().map(|p| Problem {
            what: format!("{} (in {})", p.what, hyp.display()),
            ..p
        }));
        systems.push(System::new(hyp.display().to_string(), files, None));
    }
    report(&problems);
    let per_file = args.per_file || args.show_normalized || args.diff;
    let colour = args.format == EvalFormat::Table
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let diffs = Diffs {
        on: args.diff,
        colour,
    };
    let text = match args.format {
        EvalFormat::Table => table(
            &systems,
            per_file,
            args.show_normalized,
            &diffs,
            &args.manifest,
        ),
        EvalFormat::Json => json_report(
            &systems,
            per_file,
            args.show_normalized,
            !args.no_normalize,
            &diffs,
            &args.manifest,
        ),
        EvalFormat::Tsv => tsv(&systems, per_file, args.show_normalized, &args.manifest),
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

impl System {
    fn new(name: String, files: Vec<Scored>, timing: Option<(f64, f64)>) -> Self {
        let mut words = ErrorCounts::default();
        let mut chars = ErrorCounts::default();
        for file in &files {
            words.add(&file.words);
            chars.add(&file.chars);
        }
        Self {
            name,
            files,
            words,
            chars,
            timing,
        }
    }
}

/// What one model made of the recordings.
struct ModelRun {
    /// The transcripts, as entries.
    hypotheses: Vec<Entry>,
    /// Seconds of audio transcribed, and of wall time (model loading left out).
    timing: (f64, f64),
    /// The recordings that failed, one problem each.
    failed: Vec<Problem>,
}

/// Every recording transcribed with the model `spec`.
fn transcribe_all(
    spec: &Path,
    references: &[Entry],
    args: &EvalArgs,
    ctx: &Context,
) -> Result<ModelRun> {
    let mut builder = rech::Model::builder()
        .model(spec)
        .offline(ctx.offline)
        .cancel_token(ctx.interrupted.clone())
        .on_fetch(crate::models::shown(ctx));
    if let Some(threads) = args.threads {
        builder = builder.threads(usize::from(threads));
    }
    if let Some(vad) = &args.vad_model {
        builder = builder.vad_model(vad);
    }
    let model = builder.load().map_err(|e| match e {
        rech::Error::Fetch(e) => crate::models::explain(e, None),
        other => anyhow::Error::from(other).context(format!("-m {}", spec.display())),
    })?;
    let started = Instant::now();
    let mut audio = 0.0;
    let mut out = Vec::with_capacity(references.len());
    let mut failed = Vec::new();
    for entry in references {
        if ctx.interrupted.is_cancelled() {
            return Err(Interrupted.into());
        }
        match model.transcribe_file(&entry.path) {
            Ok(transcript) => {
                audio += transcript.duration;
                out.push(Entry {
                    text: transcript.text(),
                    ..entry.clone()
                });
            }
            Err(e) => failed.push(Problem {
                file: args.manifest.clone(),
                line: entry.line,
                what: format!("{} with {}: {e}", entry.path.display(), spec.display()),
            }),
        }
    }
    Ok(ModelRun {
        hypotheses: out,
        timing: (audio, started.elapsed().as_secs_f64()),
        failed,
    })
}

fn report(problems: &[Problem]) {
    for problem in problems {
        let _ = writeln!(io::stderr(), "rech: error: {problem}");
    }
}

fn percent(counts: &ErrorCounts) -> String {
    format!("{:.2}%", counts.rate() * 100.0)
}

/// Whether and how hypotheses are shown aligned with their references.
struct Diffs {
    on: bool,
    colour: bool,
}

impl Diffs {
    /// `file`'s hypothesis aligned with its reference, marked.
    fn of(&self, file: &Scored) -> String {
        let (del, ins, end) = if self.colour {
            ("\x1b[31m[-", "\x1b[32m{+", "\x1b[0m")
        } else {
            ("[-", "{+", "")
        };
        let words: Vec<String> = align_words(&file.reference, &file.hypothesis)
            .into_iter()
            .map(|word| match word {
                Aligned::Same(w) => w,
                Aligned::Deleted(w) => format!("{del}{w}-]{end}"),
                Aligned::Inserted(w) => format!("{ins}{w}+}}{end}"),
                Aligned::Substituted {
                    reference,
                    hypothesis,
                } => format!("{del}{reference}-]{end}{ins}{hypothesis}+}}{end}"),
            })
            .collect();
        words.join(" ")
    }
}

fn table(
    systems: &[System],
    per_file: bool,
    texts: bool,
    diffs: &Diffs,
    manifest: &Path,
) -> String {
    let mut rows: Vec<[String; 9]> = vec![[
        "SYSTEM".into(),
        "FILES".into(),
        "WER".into(),
        "CER".into(),
        "SUB".into(),
        "DEL".into(),
        "INS".into(),
        "WORDS".into(),
        "RTF".into(),
    ]];
    let row = |name: String, files: usize, w: &ErrorCounts, c: &ErrorCounts, speed: String| {
        [
            name,
            files.to_string(),
            percent(w),
            percent(c),
            w.substitutions.to_string(),
            w.deletions.to_string(),
            w.insertions.to_string(),
            w.reference().to_string(),
            speed,
        ]
    };
    let mut before = String::new();
    for system in systems {
        let speed = match system.timing {
            Some((audio, wall)) => format!("{:.3}", wall / audio.max(1e-9)),
            None => "-".to_owned(),
        };
        rows.push(row(
            system.name.clone(),
            system.files.len(),
            &system.words,
            &system.chars,
            speed,
        ));
        if per_file {
            for file in &system.files {
                let name = shown(&file.path, manifest);
                rows.push(row(
                    format!("  {name}"),
                    1,
                    &file.words,
                    &file.chars,
                    String::new(),
                ));
                if diffs.on {
                    before.push_str(&format!("{name} ({}): {}\n", system.name, diffs.of(file)));
                }
                if texts {
                    before.push_str(&format!(
                        "{name} ({})\n  ref: {}\n  hyp: {}\n",
                        system.name, file.reference, file.hypothesis
                    ));
                }
            }
        }
    }
    let widths: Vec<usize> = (0..9)
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

fn counts_json(w: &ErrorCounts, c: &ErrorCounts) -> serde_json::Value {
    json!({
        "wer": w.rate(), "cer": c.rate(),
        "hits": w.hits, "substitutions": w.substitutions, "deletions": w.deletions,
        "insertions": w.insertions, "reference_words": w.reference(),
        "reference_characters": c.reference(),
    })
}

/// `more`'s fields after `value`'s.
fn extend(value: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(value), serde_json::Value::Object(more)) = (value.as_object_mut(), more) {
        value.extend(more);
    }
}

/// A recording as the manifest names it: relative to the manifest's directory where it lies
/// under it.
fn shown(path: &Path, manifest: &Path) -> String {
    let dir = if manifest.is_dir() {
        manifest.to_owned()
    } else {
        manifest.parent().unwrap_or(Path::new("")).to_owned()
    };
    let dir = std::env::current_dir().unwrap_or_default().join(dir);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    path.strip_prefix(&dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn json_report(
    systems: &[System],
    per_file: bool,
    texts: bool,
    normalized: bool,
    diffs: &Diffs,
    manifest: &Path,
) -> String {
    let systems: Vec<serde_json::Value> = systems
        .iter()
        .map(|s| {
            let mut value = json!({"name": s.name, "files": s.files.len()});
            extend(&mut value, counts_json(&s.words, &s.chars));
            if let Some((audio, wall)) = s.timing {
                value["audio_seconds"] = json!(audio);
                value["wall_seconds"] = json!(wall);
                value["real_time_factor"] = json!(wall / audio.max(1e-9));
            }
            if per_file {
                value["per_file"] = s
                    .files
                    .iter()
                    .map(|f| {
                        let mut entry = json!({"path": shown(&f.path, manifest)});
                        extend(&mut entry, counts_json(&f.words, &f.chars));
                        if texts {
                            entry["reference"] = json!(f.reference);
                            entry["hypothesis"] = json!(f.hypothesis);
                        }
                        if diffs.on {
                            entry["diff"] = json!(diffs.of(f));
                        }
                        entry
                    })
                    .collect();
            }
            value
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({
        "normalized": normalized, "systems": systems,
    }))
    .unwrap_or_default();
    out.push('\n');
    out
}

fn tsv(systems: &[System], per_file: bool, texts: bool, manifest: &Path) -> String {
    let mut out = String::from(
        "system\tfile\twer\tcer\thits\tsubstitutions\tdeletions\tinsertions\treference_words",
    );
    if texts {
        out.push_str("\treference\thypothesis");
    }
    out.push('\n');
    let mut line =
        |system: &str, file: &str, w: &ErrorCounts, c: &ErrorCounts, pair: Option<(&str, &str)>| {
            out.push_str(&format!(
                "{system}\t{file}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                w.rate(),
                c.rate(),
                w.hits,
                w.substitutions,
                w.deletions,
                w.insertions,
                w.reference()
            ));
            if let Some((r, h)) = pair {
                out.push_str(&format!("\t{r}\t{h}"));
            } else if texts {
                out.push_str("\t\t");
            }
            out.push('\n');
        };
    for s in systems {
        line(&s.name, "*", &s.words, &s.chars, None);
        if per_file {
            for f in &s.files {
                let path = shown(&f.path, manifest);
                let pair = texts.then_some((f.reference.as_str(), f.hypothesis.as_str()));
                line(&s.name, &path, &f.words, &f.chars, pair);
            }
        }
    }
    out
}
