//! `rech eval`: how close transcripts are to references — word and character error rates
//! with Russian normalisation, per system and on request per recording, as a table, JSON or
//! TSV. Bad manifest lines are one line each; the rest is scored, and the run exits 1 at the
//! end.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use rech::eval::{align_words, read_manifest, score, Aligned, ErrorCounts, Problem, Scored};
use serde_json::json;

use crate::{Context, UsageError};

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

    /// Transcripts made elsewhere, laid out as the manifest (`path<TAB>text`, paths relative to
    /// this file); repeat to compare systems side by side. Running rech's own models on the
    /// recordings is not built yet: give the transcripts of each model with --hyp.
    #[arg(long = "hyp", value_name = "FILE.tsv", required = true)]
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
}

/// One system's scores.
struct System {
    name: String,
    files: Vec<Scored>,
    words: ErrorCounts,
    chars: ErrorCounts,
}

pub fn run(args: EvalArgs, _ctx: &Context) -> Result<ExitCode> {
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
    for hyp in &args.hypotheses {
        let (hypotheses, bad) =
            read_manifest(hyp).map_err(|e| UsageError(format!("cannot read --hyp: {e}")))?;
        problems.extend(bad);
        let (files, missing) = score(&references, &hypotheses, !args.no_normalize, &args.manifest);
        problems.extend(missing.into_iter().map(|p| Problem {
            what: format!("{} (in {})", p.what, hyp.display()),
            ..p
        }));
        let mut words = ErrorCounts::default();
        let mut chars = ErrorCounts::default();
        for file in &files {
            words.add(&file.words);
            chars.add(&file.chars);
        }
        systems.push(System {
            name: hyp.display().to_string(),
            files,
            words,
            chars,
        });
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
    let mut rows: Vec<[String; 8]> = vec![[
        "SYSTEM".into(),
        "FILES".into(),
        "WER".into(),
        "CER".into(),
        "SUB".into(),
        "DEL".into(),
        "INS".into(),
        "WORDS".into(),
    ]];
    let row = |name: String, files: usize, w: &ErrorCounts, c: &ErrorCounts| {
        [
            name,
            files.to_string(),
            percent(w),
            percent(c),
            w.substitutions.to_string(),
            w.deletions.to_string(),
            w.insertions.to_string(),
            w.reference().to_string(),
        ]
    };
    let mut before = String::new();
    for system in systems {
        rows.push(row(
            system.name.clone(),
            system.files.len(),
            &system.words,
            &system.chars,
        ));
        if per_file {
            for file in &system.files {
                let name = shown(&file.path, manifest);
                rows.push(row(format!("  {name}"), 1, &file.words, &file.chars));
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
    let widths: Vec<usize> = (0..8)
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
