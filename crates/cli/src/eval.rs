//! `rech eval`: how close transcripts are to references — word and character error rates
//! with Russian normalisation, per system and on request per recording, as a table, JSON or
//! TSV. Bad manifest lines are one line each; the rest is scored, and the run exits 1 at the
//! end.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use rech::eval::{
    json_report, marked_diff, read_manifest, run_model, score, shown_path, tsv_report, ErrorCounts,
    Problem, ReportOptions, SystemScore,
};

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
        let model = load(spec, &args, ctx)?;
        let label = spec.display().to_string();
        let run = run_model(&model, &references, &label, &args.manifest);
        if run.cancelled {
            return Err(Interrupted.into());
        }
        problems.extend(run.failed);
        let (files, _) = score(
            &references,
            &run.hypotheses,
            !args.no_normalize,
            &args.manifest,
        );
        systems.push(SystemScore::new(label, files, Some(run.timing)));
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

/// The model `spec`, loaded as `rech transcribe` loads one (downloads shown, errors worded
/// with their repair).
fn load(spec: &Path, args: &EvalArgs, ctx: &Context) -> Result<rech::Model> {
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
    builder.load().map_err(|e| match e {
        rech::Error::Fetch(e) => crate::models::explain(e, None),
        other => anyhow::Error::from(other).context(format!("-m {}", spec.display())),
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

fn table(
    systems: &[SystemScore],
    options: &ReportOptions,
    colour: bool,
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
            Some(timing) => format!("{:.3}", timing.real_time_factor()),
            None => "-".to_owned(),
        };
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
                    String::new(),
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
