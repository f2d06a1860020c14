//! What a batch transcribes: the files, directories and list files a caller names turned into
//! one list of inputs (each with where it sits under the directory it was found in, so that
//! outputs can mirror the tree), and a deterministic slice of that list so that a batch can be
//! spread over many machines.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

/// The K-th (1-based) of N deterministic slices of an input list.
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
/// `podcasts/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// The path to read (`-`: standard input).
    pub path: PathBuf,
    /// Its directory relative to the directory named; empty for a file named directly.
    pub subdir: PathBuf,
}

/// What a directory held that is not audio rech can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The directory named.
    pub dir: PathBuf,
    /// The files skipped, relative to it.
    pub files: Vec<PathBuf>,
}

/// The inputs found, and what was skipped on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The inputs, in order (sorted when sharded).
    pub inputs: Vec<Input>,
    /// Per directory, the files that are not audio rech can read.
    pub skipped: Vec<Skipped>,
    /// Whether ffmpeg was found, so that its formats counted as audio.
    pub ffmpeg: bool,
}

/// Why the inputs could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputsError {
    /// A directory named holds no audio (`subdirectories`: it has subdirectories that were not
    /// searched).
    #[error("{}: no audio files in this directory", dir.display())]
    NoAudio {
        /// The directory.
        dir: PathBuf,
        /// Whether it has subdirectories a recursive search would look in.
        subdirectories: bool,
    },
    /// Standard input named twice (as an input, or as the list).
    #[error("standard input (-) can be read only once")]
    StdinTwice,
    /// A directory or a list file could not be read.
    #[error("{what}: {detail}")]
    Unreadable {
        /// The directory or list (`<stdin>`), as shown.
        what: String,
        /// Why.
        detail: String,
    },
}

/// Expands directories (their audio files; with `recursive`, those of subdirectories too) and
/// appends the paths of `list` (one per line, `#` comments, `-` for stdin), then keeps `shard`'s
/// slice. Files named directly are kept whatever they are: one that is missing fails on its
/// own later, without stopping the batch.
pub fn expand(
    named: &[PathBuf],
    recursive: bool,
    list: Option<&Path>,
    shard: Option<Shard>,
) -> Result<Found, InputsError> {
    let mut found = Found {
        ffmpeg: rech_audio::ffmpeg_program().is_some(),
        ..Found::default()
    };
    let from_list = match list {
        Some(list) => read_list(list)?,
        None => Vec::new(),
    };
    for path in named.iter().chain(from_list.iter()) {
        if !path.is_dir() {
            found.inputs.push(Input {
                path: path.clone(),
                subdir: PathBuf::new(),
            });
            continue;
        }
        let mut scan = Scan {
            ffmpeg: found.ffmpeg,
            recursive,
            skipped: Vec::new(),
            subdirs: 0,
        };
        let before = found.inputs.len();
        scan.collect(path, Path::new(""), &mut found.inputs)
            .map_err(|e| InputsError::Unreadable {
                what: format!("cannot list {}", path.display()),
                detail: rech_asr::describe_io(&e),
            })?;
        if found.inputs.len() == before {
            return Err(InputsError::NoAudio {
                dir: path.clone(),
                subdirectories: !recursive && scan.subdirs > 0,
            });
        }
        if !scan.skipped.is_empty() {
            found.skipped.push(Skipped {
                dir: path.clone(),
                files: scan.skipped,
            });
        }
    }
    let stdin_uses = found
        .inputs
        .iter()
        .filter(|p| p.path.as_os_str() == "-")
        .count()
        + usize::from(list.is_some_and(|l| l.as_os_str() == "-"));
    if stdin_uses > 1 {
        return Err(InputsError::StdinTwice);
    }
    if let Some(shard) = shard {
        // Sorted, so every machine computes the same slices whatever order it was given;
        // round-robin, so each slice gets a fair mix of long and short files.
        found.inputs.sort();
        found.inputs.dedup_by(|a, b| a.path == b.path);
        found.inputs = std::mem::take(&mut found.inputs)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % shard.count == shard.index - 1)
            .map(|(_, p)| p)
            .collect();
    }
    Ok(found)
}

fn read_list(list: &Path) -> Result<Vec<PathBuf>, InputsError> {
    let shown = if list.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        list.display().to_string()
    };
    let unreadable = |detail: String| InputsError::Unreadable {
        what: shown.clone(),
        detail,
    };
    let reader: Box<dyn BufRead> = if list.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file = std::fs::File::open(list).map_err(|e| unreadable(crate::error::describe(&e)))?;
        Box::new(io::BufReader::new(file))
    };
    let mut paths = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => unreadable(format!("line {} is not valid UTF-8", n + 1)),
            _ => unreadable(crate::error::describe(&e)),
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

    fn paths(found: Found) -> Vec<PathBuf> {
        found.inputs.into_iter().map(|i| i.path).collect()
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
        let flat = expand(&[d.to_owned()], false, None, None).unwrap();
        assert_eq!(flat.skipped[0].files, vec![PathBuf::from("notes.txt")]);
        assert_eq!(paths(flat), vec![d.join("a.wav"), d.join("b.MP3")]);
        let deep = expand(&[d.to_owned()], true, None, None).unwrap().inputs;
        assert_eq!(deep.len(), 4);
        assert_eq!(deep[3].subdir, Path::new("sub/deeper"));

        let list = d.join("list.txt");
        std::fs::write(&list, "# batch\nx.wav\n\ny.wav\r\n").unwrap();
        let listed = expand(&[], false, Some(&list), None).unwrap();
        assert_eq!(
            paths(listed),
            vec![PathBuf::from("x.wav"), PathBuf::from("y.wav")]
        );

        // Every input lands in exactly one shard, whatever the order it was named in.
        let mut seen = Vec::new();
        for k in 1..=3 {
            let shard = Shard { index: k, count: 3 };
            let reversed: Vec<PathBuf> = deep.iter().rev().map(|i| i.path.clone()).collect();
            let a = paths(expand(&[d.to_owned()], true, None, Some(shard)).unwrap());
            let b = paths(expand(&reversed, false, None, Some(shard)).unwrap());
            assert_eq!(a, b);
            seen.extend(a);
        }
        seen.sort();
        let mut all: Vec<PathBuf> = deep.into_iter().map(|i| i.path).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn an_empty_directory_and_a_missing_list_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = expand(&[dir.path().to_owned()], false, None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: no audio files in this directory", dir.path().display())
        );
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = expand(&[dir.path().to_owned()], false, None, None).unwrap_err();
        assert!(
            matches!(
                err,
                InputsError::NoAudio {
                    subdirectories: true,
                    ..
                }
            ),
            "{err}"
        );
        let err = expand(&[], false, Some(&dir.path().join("missing.txt")), None).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
    }
}
