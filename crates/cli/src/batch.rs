//! Turning what the user named — files, directories, list files — into the list of inputs, and
//! slicing that list deterministically so a batch can spread over many machines (`--shard`).

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::UsageError;

/// The K-th (1-based) of N deterministic slices of the input list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, 1..=count.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not K/N (for example 2/8)"))?;
        let index: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("{k:?} in {s:?} is not a number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} in {s:?} is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "shard {s} is out of range: K must be 1..=N and N at least 1"
            ));
        }
        Ok(Self { index, count })
    }
}

/// One input, with where it sits under the directory it was found in (`ep1/audio.mp3` under
/// `podcasts/`): `--output-dir` mirrors that tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// The path to read.
    pub path: PathBuf,
    /// Its directory relative to the directory named on the command line; empty for a file
    /// named directly.
    pub subdir: PathBuf,
}

impl Input {
    fn named(path: PathBuf) -> Self {
        Self {
            path,
            subdir: PathBuf::new(),
        }
    }
}

/// Expands directories (their audio files; with `recursive`, those of subdirectories too) and
/// appends the paths of `list` (one per line, `#` comments, `-` for stdin), then keeps this
/// shard's slice. Files a directory holds that rech cannot read are reported on stderr unless
/// `quiet`.
///
/// Files named explicitly are kept whatever their extension; a path that does not exist is kept
/// too, so that it fails later with its own clear error and does not stop the batch.
pub fn expand_inputs(
    named: &[PathBuf],
    recursive: bool,
    list: Option<&Path>,
    shard: Option<Shard>,
    quiet: bool,
) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    let mut from_list = Vec::new();
    if let Some(list) = list {
        from_list = read_list(list)?;
    }
    let ffmpeg = rech_audio::ffmpeg_program().is_some();
    for path in named.iter().chain(from_list.iter()) {
        if path.is_dir() {
            let mut scan = Scan {
                ffmpeg,
                recursive,
                skipped: Vec::new(),
                subdirs: 0,
            };
            let before = inputs.len();
            scan.collect(path, Path::new(""), &mut inputs)
                .with_context(|| format!("cannot list {}", path.display()))?;
            if !quiet && !scan.skipped.is_empty() {
                let shown: Vec<String> = scan
                    .skipped
                    .iter()
                    .take(3)
                    .map(|p| p.display().to_string())
                    .collect();
                let more = scan.skipped.len().saturating_sub(shown.len());
                eprintln!(
                    "rech: {}: skipping {} file{} rech cannot read ({}{}){}",
                    path.display(),
                    scan.skipped.len(),
                    if scan.skipped.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if more > 0 {
                        format!(", {more} more")
                    } else {
                        String::new()
                    },
                    if ffmpeg {
                        ""
                    } else {
                        "; installing ffmpeg lets rech read more formats"
                    }
                );
            }
            if inputs.len() == before {
                let hint = if !recursive && scan.subdirs > 0 {
                    " (add -r to search its subdirectories)"
                } else {
                    ""
                };
                return Err(UsageError(format!(
                    "{}: no audio files in this directory{hint}",
                    path.display()
                ))
                .into());
            }
        } else {
            inputs.push(Input::named(path.clone()));
        }
    }
    if inputs.iter().filter(|p| p.path.as_os_str() == "-").count()
        + usize::from(list.is_some_and(|l| l.as_os_str() == "-"))
        > 1
    {
        return Err(UsageError("standard input (-) can be read only once".into()).into());
    }
    if let Some(shard) = shard {
        // Sorted, so every machine computes the same slices whatever order it was given;
        // round-robin, so each slice gets a fair mix of long and short files.
        inputs.sort();
        inputs.dedup_by(|a, b| a.path == b.path);
        inputs = inputs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % shard.count == shard.index - 1)
            .map(|(_, p)| p)
            .collect();
    }
    Ok(inputs)
}

fn read_list(list: &Path) -> Result<Vec<PathBuf>> {
    let reader: Box<dyn BufRead> = if list.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file = std::fs::File::open(list)
            .map_err(|e| anyhow::anyhow!("{}: {}", list.display(), crate::files::describe(&e)))?;
        Box::new(io::BufReader::new(file))
    };
    let shown = if list.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        list.display().to_string()
    };
    let mut paths = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => {
                anyhow::anyhow!("{shown}: line {} is not valid UTF-8", n + 1)
            }
            _ => anyhow::anyhow!("{shown}: {}", crate::files::describe(&e)),
        })?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        paths.push(PathBuf::from(line));
    }
    Ok(paths)
}

/// What a directory walk has found besides audio.
struct Scan {
    /// ffmpeg is installed: the formats rech reads through it count as audio.
    ffmpeg: bool,
    recursive: bool,
    /// Files that are not audio rech can read.
    skipped: Vec<PathBuf>,
    /// Subdirectories seen (and not searched, without `recursive`).
    subdirs: usize,
}

impl Scan {
    fn is_audio(&self, path: &Path) -> bool {
        path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            rech_audio::AUDIO_EXTENSIONS.contains(&e.as_str())
                || (self.ffmpeg && rech_audio::FFMPEG_EXTENSIONS.contains(&e.as_str()))
        })
    }

    fn collect(&mut self, dir: &Path, subdir: &Path, out: &mut Vec<Input>) -> io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            if path.is_dir() {
                self.subdirs += 1;
                if self.recursive {
                    self.collect(&path, &subdir.join(&name), out)?;
                }
            } else if self.is_audio(&path) {
                out.push(Input {
                    path,
                    subdir: subdir.to_owned(),
                });
            } else if !name.to_string_lossy().starts_with('.') {
                // Hidden files (.DS_Store, editors' swap files) are nobody's audio.
                self.skipped.push(subdir.join(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_nonsense() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        let out_of_range = "is out of range: K must be 1..=N and N at least 1";
        for bad in ["0/8", "9/8", "1/0"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert_eq!(err, format!("shard {bad} {out_of_range}"));
        }
        assert_eq!(
            "x/2".parse::<Shard>().unwrap_err(),
            r#""x" in "x/2" is not a number"#
        );
        assert_eq!(
            "3".parse::<Shard>().unwrap_err(),
            r#""3" is not K/N (for example 2/8)"#
        );
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn directories_lists_and_shards() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "a.wav",
            "b.MP3",
            "notes.txt",
            "sub/c.flac",
            "sub/deeper/d.ogg",
        ] {
            touch(&d.join(name));
        }
        let paths =
            |inputs: Vec<Input>| -> Vec<PathBuf> { inputs.into_iter().map(|i| i.path).collect() };
        let flat = expand_inputs(&[d.to_owned()], false, None, None, true).unwrap();
        assert_eq!(paths(flat), vec![d.join("a.wav"), d.join("b.MP3")]);
        let deep = expand_inputs(&[d.to_owned()], true, None, None, true).unwrap();
        assert_eq!(deep.len(), 4);
        assert_eq!(deep[3].subdir, Path::new("sub/deeper"));

        let list = d.join("list.txt");
        std::fs::write(&list, "# batch\nx.wav\n\ny.wav\r\n").unwrap();
        let listed = expand_inputs(&[], false, Some(&list), None, true).unwrap();
        assert_eq!(
            paths(listed),
            vec![PathBuf::from("x.wav"), PathBuf::from("y.wav")]
        );

        // Every input lands in exactly one shard, whatever the order it was named in.
        let mut seen = Vec::new();
        for k in 1..=3 {
            let shard = Shard { index: k, count: 3 };
            let mut reversed = deep.clone();
            reversed.reverse();
            let reversed: Vec<PathBuf> = reversed.into_iter().map(|i| i.path).collect();
            let a = paths(expand_inputs(&[d.to_owned()], true, None, Some(shard), true).unwrap());
            let b = paths(expand_inputs(&reversed, false, None, Some(shard), true).unwrap());
            assert_eq!(a, b);
            seen.extend(a);
        }
        seen.sort();
        let mut all = paths(deep.clone());
        all.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn an_empty_directory_and_a_missing_list_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = expand_inputs(&[dir.path().to_owned()], false, None, None, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: no audio files in this directory", dir.path().display())
        );
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = expand_inputs(&[dir.path().to_owned()], false, None, None, true).unwrap_err();
        assert!(err.to_string().contains("add -r"), "{err}");
        let err = expand_inputs(
            &[],
            false,
            Some(&dir.path().join("missing.txt")),
            None,
            true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
    }
}
