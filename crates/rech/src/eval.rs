//! Scoring transcripts against references, as `rech eval` does: the normalisation and error
//! counts of [`rech_asr::eval`]; the files they come in — a manifest (`path<TAB>text` lines, or
//! a directory of recordings with a `.txt` reference beside each) and transcripts made
//! elsewhere in the same layout — read with every bad line reported by its number and the rest
//! kept; a model run over a manifest; and the reports (JSON, TSV, marked alignments).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

pub use rech_asr::eval::*;

/// One recording and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The recording, as the manifest names it, made absolute.
    pub path: PathBuf,
    /// The text as written.
    pub text: String,
    /// The manifest's line (1-based; 0 for a reference file in a directory).
    pub line: usize,
}

/// A line of a manifest that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The manifest (or reference file).
    pub file: PathBuf,
    /// Its line (1-based; 0 for a whole file).
    pub line: usize,
    /// What is wrong with it.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.what),
            line => write!(f, "{}:{line}: {}", self.file.display(), self.what),
        }
    }
}

/// Why a manifest could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", path.display())]
pub struct ManifestError {
    /// The manifest.
    pub path: PathBuf,
    /// What went wrong.
    pub detail: String,
}

/// `path` made absolute (from the current directory) with `.` and `..` resolved, without
/// asking the file system: two spellings of one recording compare equal.
fn lexical(path: &Path) -> PathBuf {
    let path = if path.is_relative() {
        std::env::current_dir().unwrap_or_default().join(path)
    } else {
        path.to_owned()
    };
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The entries of a manifest: a TSV file of `path<TAB>text` lines (paths relative to the
/// manifest; `#` starts a comment; a first line `path<TAB>…` is a header), or a directory whose
/// recordings each have a `.txt` file of the same name beside them. Lines without a tab,
/// empty texts and a path given twice are problems; the other entries are kept.
pub fn read_manifest(path: &Path) -> Result<(Vec<Entry>, Vec<Problem>), ManifestError> {
    let failed = |e: std::io::Error| ManifestError {
        path: path.to_owned(),
        detail: crate::error::describe(&e),
    };
    if path.is_dir() {
        return read_directory(path).map_err(failed);
    }
    let text = std::fs::read_to_string(path).map_err(failed)?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut entries: Vec<Entry> = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let problem = |what: String| Problem {
            file: path.to_owned(),
            line,
            what,
        };
        let trimmed = raw.trim_end_matches('\r');
        if trimmed.trim().is_empty() || trimmed.trim_start().starts_with('#') {
            continue;
        }
        let Some((name, words)) = trimmed.split_once('\t') else {
            problems.push(problem("no tab between the path and the text".to_owned()));
            continue;
        };
        if line == 1 && name.trim().eq_ignore_ascii_case("path") {
            continue;
        }
        // Only the text column: a manifest may carry more columns after it.
        let words = words.split('\t').next().unwrap_or_default().trim();
        if name.trim().is_empty() {
            problems.push(problem("no path before the tab".to_owned()));
            continue;
        }
        if words.is_empty() {
            problems.push(problem(format!("{}: the text is empty", name.trim())));
            continue;
        }
        let full = lexical(&base.join(name.trim()));
        if let Some(first) = seen.get(&full) {
            problems.push(problem(format!(
                "{} is given again (first on line {first})",
                name.trim()
            )));
            continue;
        }
        seen.insert(full.clone(), line);
        entries.push(Entry {
            path: full,
            text: words.to_owned(),
            line,
        });
    }
    Ok((entries, problems))
}

/// A directory's recordings (what `rech transcribe` reads, by extension) with the `.txt`
/// beside each as its text; a recording without one, or with an empty one, is a problem.
fn read_directory(dir: &Path) -> std::io::Result<(Vec<Entry>, Vec<Problem>)> {
    let mut recordings: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                rech_audio::AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
            })
        })
        .collect();
    recordings.sort();
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for recording in recordings {
        let reference = recording.with_extension("txt");
        match std::fs::read_to_string(&reference) {
            Ok(text) if !text.trim().is_empty() => entries.push(Entry {
                path: lexical(&recording),
                text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                line: 0,
            }),
            Ok(_) => problems.push(Problem {
                file: reference,
                line: 0,
                what: "the text is empty".to_owned(),
            }),
            Err(e) => problems.push(Problem {
                file: reference,
                line: 0,
                what: format!(
                    "no reference for {}: {}",
                    recording.display(),
                    crate::error::describe(&e)
                ),
            }),
        }
    }
    Ok((entries, problems))
}

/// The score of one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The recording.
    pub path: PathBuf,
    /// The texts as scored (normalised, unless normalisation is off).
    pub reference: String,
    /// The hypothesis as scored.
    pub hypothesis: String,
    /// Word errors.
    pub words: ErrorCounts,
    /// Character errors.
    pub chars: ErrorCounts,
}

/// Scores every reference that has a hypothesis (matched by path), normalising both unless
/// `normalise` is off; references without a hypothesis are problems.
pub fn score(
    references: &[Entry],
    hypotheses: &[Entry],
    normalise: bool,
    manifest: &Path,
) -> (Vec<Scored>, Vec<Problem>) {
    let by_path: HashMap<&Path, &Entry> =
        hypotheses.iter().map(|e| (e.path.as_path(), e)).collect();
    let prepare = |text: &str| {
        if normalise {
            normalize(text)
        } else {
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    let mut scored = Vec::new();
    let mut problems = Vec::new();
    for entry in references {
        let Some(hypothesis) = by_path.get(entry.path.as_path()) else {
            problems.push(Problem {
                file: manifest.to_owned(),
                line: entry.line,
                what: format!("no hypothesis for {}", entry.path.display()),
            });
            continue;
        };
        let (r, h) = (prepare(&entry.text), prepare(&hypothesis.text));
        scored.push(Scored {
            path: entry.path.clone(),
            words: word_errors(&r, &h),
            chars: char_errors(&r, &h),
            reference: r,
            hypothesis: h,
        });
    }
    (scored, problems)
}

/// Hypotheses (read from `file`) for recordings the references do not have: a misspelt path,
/// or a manifest that is not the one the transcripts were made from. Each is a problem of
/// `file`'s, at its line.
pub fn unreferenced(references: &[Entry], hypotheses: &[Entry], file: &Path) -> Vec<Problem> {
    let known: std::collections::HashSet<&Path> =
        references.iter().map(|e| e.path.as_path()).collect();
    hypotheses
        .iter()
        .filter(|h| !known.contains(h.path.as_path()))
        .map(|h| Problem {
            file: file.to_owned(),
            line: h.line,
            what: format!("{} is not in the manifest", shown_path(&h.path, file)),
        })
        .collect()
}

/// Seconds of audio a model transcribed and of wall time it took (loading left out).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Seconds of audio.
    pub audio_seconds: f64,
    /// Seconds of wall time.
    pub wall_seconds: f64,
}

impl Timing {
    /// Wall time over audio time: below 1 is faster than real time.
    pub fn real_time_factor(&self) -> f64 {
        self.wall_seconds / self.audio_seconds.max(1e-9)
    }
}

/// One system's scores over a manifest: a model run here, or transcripts made elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemScore {
    /// What the system is called in reports.
    pub name: String,
    /// Every scored recording.
    pub files: Vec<Scored>,
    /// Word errors over all recordings.
    pub words: ErrorCounts,
    /// Character errors over all recordings.
    pub chars: ErrorCounts,
    /// For a model run here, how long it took.
    pub timing: Option<Timing>,
    /// For a model run in a process of its own, the most memory that process held, in bytes
    /// ([`peak_memory`] at its end).
    pub peak_memory: Option<u64>,
}

impl SystemScore {
    /// The scores of `files`, added up.
    pub fn new(name: String, files: Vec<Scored>, timing: Option<Timing>) -> Self {
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
            peak_memory: None,
        }
    }
}

/// The most memory this process has held so far (its peak resident set, `VmHWM`), in bytes;
/// `None` where the system does not say (other than Linux).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// What a model made of a manifest's recordings ([`run_model`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRun {
    /// The transcripts, as entries of the references' paths and lines.
    pub hypotheses: Vec<Entry>,
    /// How long it took.
    pub timing: Timing,
    /// The recordings that failed, one problem each (against `manifest`'s lines).
    pub failed: Vec<Problem>,
    /// Whether the cancel token stopped the run before the last recording.
    pub cancelled: bool,
}

/// Transcribes every reference's recording with `model`, called `label` in problems; a
/// recording that fails is a problem and the others go on.
pub fn run_model(
    model: &crate::Model,
    references: &[Entry],
    label: &str,
    manifest: &Path,
) -> ModelRun {
    let started = std::time::Instant::now();
    let mut audio = 0.0;
    let mut hypotheses = Vec::with_capacity(references.len());
    let mut failed = Vec::new();
    let mut cancelled = false;
    for entry in references {
        if model.is_cancelled() {
            cancelled = true;
            break;
        }
        match model.transcribe_file(&entry.path) {
            Ok(transcript) => {
                audio += transcript.duration;
                hypotheses.push(Entry {
                    text: transcript.text(),
                    ..entry.clone()
                });
            }
            Err(e) => failed.push(Problem {
                file: manifest.to_owned(),
                line: entry.line,
                what: format!("{} with {label}: {e}", entry.path.display()),
            }),
        }
    }
    ModelRun {
        hypotheses,
        timing: Timing {
            audio_seconds: audio,
            wall_seconds: started.elapsed().as_secs_f64(),
        },
        failed,
        cancelled,
    }
}

/// The hypothesis aligned with the reference word by word, marked as wdiff marks it:
/// `[-deleted-]`, `{+inserted+}`, `[-replaced-]{+by+}`; in ANSI colour when `colour`.
pub fn marked_diff(reference: &str, hypothesis: &str, colour: bool) -> String {
    let (del, ins, end) = if colour {
        ("\x1b[31m[-", "\x1b[32m{+", "\x1b[0m")
    } else {
        ("[-", "{+", "")
    };
    let words: Vec<String> = align_words(reference, hypothesis)
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

/// A recording as the manifest names it: relative to the manifest's directory (or to the
/// directory given as the manifest) where it lies under it.
pub fn shown_path(path: &Path, manifest: &Path) -> String {
    let dir = if manifest.is_dir() {
        manifest.to_owned()
    } else {
        manifest.parent().unwrap_or(Path::new("")).to_owned()
    };
    let dir = lexical(&dir);
    path.strip_prefix(&dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// What a report holds besides each system's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportOptions {
    /// A row (or entry) per recording.
    pub per_file: bool,
    /// Both texts as scored, per recording.
    pub texts: bool,
    /// The marked alignment, per recording ([`marked_diff`], without colour).
    pub diff: bool,
    /// Whether the texts were normalised (said in the JSON).
    pub normalized: bool,
}

fn counts_json(w: &ErrorCounts, c: &ErrorCounts) -> serde_json::Map<String, serde_json::Value> {
    let value = serde_json::json!({
        "wer": w.rate(), "cer": c.rate(),
        "hits": w.hits, "substitutions": w.substitutions, "deletions": w.deletions,
        "insertions": w.insertions, "reference_words": w.reference(),
        "reference_characters": c.reference(),
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The systems' scores as one JSON document (paths as [`shown_path`] shows them against
/// `manifest`).
pub fn json_report(systems: &[SystemScore], options: &ReportOptions, manifest: &Path) -> String {
    use serde_json::{json, Value};
    let systems: Vec<Value> = systems
        .iter()
        .map(|s| {
            let mut value = serde_json::Map::new();
            value.insert("name".into(), json!(s.name));
            value.insert("files".into(), json!(s.files.len()));
            value.extend(counts_json(&s.words, &s.chars));
            if let Some(timing) = s.timing {
                value.insert("audio_seconds".into(), json!(timing.audio_seconds));
                value.insert("wall_seconds".into(), json!(timing.wall_seconds));
                value.insert("real_time_factor".into(), json!(timing.real_time_factor()));
            }
            if let Some(bytes) = s.peak_memory {
                value.insert("peak_memory_bytes".into(), json!(bytes));
            }
            if options.per_file {
                let files: Vec<Value> = s
                    .files
                    .iter()
                    .map(|f| {
                        let mut entry = serde_json::Map::new();
                        entry.insert("path".into(), json!(shown_path(&f.path, manifest)));
                        entry.extend(counts_json(&f.words, &f.chars));
                        if options.texts {
                            entry.insert("reference".into(), json!(f.reference));
                            entry.insert("hypothesis".into(), json!(f.hypothesis));
                        }
                        if options.diff {
                            let diff = marked_diff(&f.reference, &f.hypothesis, false);
                            entry.insert("diff".into(), json!(diff));
                        }
                        Value::Object(entry)
                    })
                    .collect();
                value.insert("per_file".into(), Value::Array(files));
            }
            Value::Object(value)
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({
        "normalized": options.normalized, "systems": systems,
    }))
    .unwrap_or_default();
    out.push('\n');
    out
}

/// The systems' scores as tab-separated values with a header line: a `*` row per system, then
/// a row per recording when asked.
pub fn tsv_report(systems: &[SystemScore], options: &ReportOptions, manifest: &Path) -> String {
    let mut out = String::from(
        "system\tfile\twer\tcer\thits\tsubstitutions\tdeletions\tinsertions\treference_words\t\
         audio_seconds\twall_seconds\treal_time_factor\tpeak_memory_bytes",
    );
    if options.texts {
        out.push_str("\treference\thypothesis");
    }
    out.push('\n');
    let mut line = |system: &str,
                    file: &str,
                    w: &ErrorCounts,
                    c: &ErrorCounts,
                    speed: [String; 4],
                    pair: Option<(&str, &str)>| {
        out.push_str(&format!(
            "{system}\t{file}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            w.rate(),
            c.rate(),
            w.hits,
            w.substitutions,
            w.deletions,
            w.insertions,
            w.reference(),
            speed.join("\t")
        ));
        match pair {
            Some((r, h)) => out.push_str(&format!("\t{r}\t{h}")),
            None if options.texts => out.push_str("\t\t"),
            None => {}
        }
        out.push('\n');
    };
    for s in systems {
        let speed = [
            s.timing.map(|t| t.audio_seconds.to_string()),
            s.timing.map(|t| t.wall_seconds.to_string()),
            s.timing.map(|t| t.real_time_factor().to_string()),
            s.peak_memory.map(|b| b.to_string()),
        ]
        .map(Option::unwrap_or_default);
        line(&s.name, "*", &s.words, &s.chars, speed, None);
        if options.per_file {
            for f in &s.files {
                let pair = options
                    .texts
                    .then_some((f.reference.as_str(), f.hypothesis.as_str()));
                line(
                    &s.name,
                    &shown_path(&f.path, manifest),
                    &f.words,
                    &f.chars,
                    Default::default(),
                    pair,
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_keeps_its_good_lines_and_names_the_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("refs.tsv");
        std::fs::write(
            &manifest,
            "path\treference\n# a comment\na.wav\tПривет, мир.\nno tab here\nb.wav\t\n./a.wav\tДубль\nsub/../c.wav\tТри\textra\n",
        )
        .unwrap();
        let (entries, problems) = read_manifest(&manifest).unwrap();
        let names: Vec<(PathBuf, &str)> = entries
            .iter()
            .map(|e| (e.path.clone(), e.text.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (dir.path().join("a.wav"), "Привет, мир."),
                (dir.path().join("c.wav"), "Три"),
            ]
        );
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let file = manifest.display();
        assert_eq!(
            lines,
            [
                format!("{file}:4: no tab between the path and the text"),
                format!("{file}:5: b.wav: the text is empty"),
                format!("{file}:6: ./a.wav is given again (first on line 3)"),
            ]
        );
    }

    #[test]
    fn a_directory_pairs_each_recording_with_its_text() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["one.wav", "two.mp3", "three.flac"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::write(dir.path().join("one.txt"), "Первый\nтекст\n").unwrap();
        std::fs::write(dir.path().join("two.txt"), "  ").unwrap();
        let (entries, problems) = read_manifest(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].text, "Первый текст");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn hypotheses_are_matched_by_path_and_scored_normalised() {
        let entry = |path: &str, text: &str| Entry {
            path: PathBuf::from(path),
            text: text.to_owned(),
            line: 1,
        };
        let references = [entry("a.wav", "В 2021 году."), entry("b.wav", "Да")];
        let hypotheses = [entry("a.wav", "в две тысячи двадцать один году")];
        let (scored, problems) = score(&references, &hypotheses, true, Path::new("m.tsv"));
        assert_eq!(scored[0].words.rate(), 0.0);
        assert_eq!(problems[0].to_string(), "m.tsv:1: no hypothesis for b.wav");
        let (raw, _) = score(&references, &hypotheses, false, Path::new("m.tsv"));
        assert!(unreferenced(&references, &hypotheses, Path::new("h.tsv")).is_empty());
        let stray = [entry("c.wav", "лишняя")];
        let problems = unreferenced(&references, &stray, Path::new("h.tsv"));
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "h.tsv:1: c.wav is not in the manifest"
        );
        assert!(raw[0].words.rate() > 0.5);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_memory_counts_what_was_held() {
        // Not zeros: every page is written (a zeroed allocation may be mapped lazily).
        let held = std::hint::black_box(vec![1u8; 64 << 20]);
        let peak = peak_memory().expect("Linux says");
        assert!(peak >= 64 << 20, "{peak}");
        drop(held);
    }

    #[test]
    fn the_diff_marks_each_edit() {
        assert_eq!(
            marked_diff("кто-то постучал в дверь", "кто-то постучал дверь", false),
            "кто-то постучал [-в-] дверь"
        );
        assert_eq!(marked_diff("а б", "а б в", false), "а б {+в+}");
        assert_eq!(marked_diff("да", "нет", false), "[-да-]{+нет+}");
        assert!(marked_diff("да", "нет", true).contains("\x1b[31m"));
    }
}
