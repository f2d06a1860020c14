//! Where results go, safely: output files named from a template (`{subdir}/{stem}.{ext}`), a
//! clash between two inputs refused rather than one output silently overwriting another, and
//! writes that never leave a half-written file. Output goes to a temporary file in the target
//! directory and is renamed into place only when complete. A new file gets the mode a plain
//! create would (0666 less the umask); a file that is rewritten keeps its mode and, where it
//! may be set, its owner and group. A file with several hard links is rewritten in place
//! instead, after the new contents are complete in memory: renaming over it would cut it off
//! from its other names, which is worse than the small window a crash mid-write leaves.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rech_asr::output::Format;

use crate::inputs::Input;

/// The default output template: the input's subdirectory (under the directory it was found
/// in), its stem, the format's extension.
pub const DEFAULT_TEMPLATE: &str = "{subdir}/{stem}.{ext}";

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The file could not be written.
    #[error("cannot write {}: {detail}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The output directory could not be created.
    #[error("cannot create output directory {}: {detail}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        detail: String,
    },
    /// The output directory takes no new files.
    #[error("cannot write to output directory {}: {detail}", dir.display())]
    DirNotWritable {
        /// The directory.
        dir: PathBuf,
        /// Why.
        detail: String,
    },
}

/// Why output names could not be made from a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamingError {
    /// A `{` without its `}`.
    #[error("the output template {template:?} has an unclosed {{")]
    Unclosed {
        /// The template.
        template: String,
    },
    /// A placeholder the template language does not have.
    #[error("the output template {template:?} has an unknown placeholder {{{placeholder}}}")]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The placeholder.
        placeholder: String,
    },
    /// The template makes an empty file name.
    #[error("the output template {template:?} makes an empty file name")]
    Empty {
        /// The template.
        template: String,
    },
    /// Two outputs would be written to one file.
    #[error("two outputs would both be written to {}", path.display())]
    Clash {
        /// The file.
        path: PathBuf,
        /// The first input and format that would write it.
        first: (PathBuf, Format),
        /// The second.
        second: (PathBuf, Format),
    },
}

/// Every input's output files, one per format, from `template` (default
/// [`DEFAULT_TEMPLATE`]) under `base`; `{lang}` is `language`. With the default, inputs of one directory
/// that share a stem (talk.mp3, talk.wav) are told apart by their whole name (talk.mp3.srt);
/// any other clash is a usage error rather than a silent overwrite.
pub fn output_paths(
    template: Option<&str>,
    base: &Path,
    inputs: &[Input],
    formats: &[Format],
    language: &str,
) -> Result<Vec<Vec<PathBuf>>, NamingError> {
    let explicit = template.is_some();
    let template = template.unwrap_or(DEFAULT_TEMPLATE);
    let lang = language.to_ascii_lowercase();
    let expand =
        |input: &Input, format: &Format, whole_name: bool| -> Result<PathBuf, NamingError> {
            let stem = output_stem(&input.path);
            let name = input
                .path
                .file_name()
                .map_or_else(|| stem.clone(), |n| n.to_string_lossy().into_owned());
            let dir = input
                .path
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let subdir = input.subdir.to_string_lossy().into_owned();
            let mut out = String::new();
            let mut rest = template;
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let Some(close) = rest[open..].find('}') else {
                    return Err(NamingError::Unclosed {
                        template: template.to_owned(),
                    });
                };
                let key = &rest[open + 1..open + close];
                out.push_str(match key {
                    "stem" if whole_name => &name,
                    "stem" => &stem,
                    "name" => &name,
                    "dir" => &dir,
                    "subdir" => &subdir,
                    "ext" => format.extension(),
                    "format" => format.name(),
                    "lang" => &lang,
                    other => {
                        return Err(NamingError::UnknownPlaceholder {
                            template: template.to_owned(),
                            placeholder: other.to_owned(),
                        })
                    }
                });
                rest = &rest[open + close + 1..];
            }
            out.push_str(rest);
            // `{subdir}/` with an empty subdir, `{dir}/` for a file in the current directory: an
            // empty placeholder leaves no empty or root component behind (only a template that
            // itself starts with `/`, or a `{dir}` that is absolute, is absolute).
            let absolute = template.starts_with('/')
                || (template.starts_with("{dir}") && dir.starts_with('/'));
            let mut relative = PathBuf::from(if absolute { "/" } else { "" });
            relative.extend(out.split('/').filter(|part| !part.is_empty()));
            if relative.as_os_str().is_empty() {
                return Err(NamingError::Empty {
                    template: template.to_owned(),
                });
            }
            Ok(base.join(relative))
        };
    // Stems that several inputs of one subdirectory share.
    let mut stems: HashMap<(PathBuf, String), usize> = HashMap::new();
    for input in inputs {
        *stems
            .entry((input.subdir.clone(), output_stem(&input.path)))
            .or_default() += 1;
    }
    let mut seen: HashMap<PathBuf, (&Path, Format)> = HashMap::new();
    let mut all = Vec::with_capacity(inputs.len());
    for input in inputs {
        let shared_stem = stems[&(input.subdir.clone(), output_stem(&input.path))] > 1;
        let whole_name = !explicit && shared_stem;
        let mut paths = Vec::with_capacity(formats.len());
        for format in formats {
            let path = expand(input, format, whole_name)?;
            if let Some((first, first_format)) = seen.insert(path.clone(), (&input.path, *format)) {
                return Err(NamingError::Clash {
                    path,
                    first: (first.to_owned(), first_format),
                    second: (input.path.clone(), *format),
                });
            }
            paths.push(path);
        }
        all.push(paths);
    }
    Ok(all)
}

/// The stem outputs are named after: the file name without its extension (`stdin` for `-`).
pub fn output_stem(input: &Path) -> String {
    if input.as_os_str() == "-" {
        return "stdin".to_owned();
    }
    input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_owned())
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
///
/// A path that is not a regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written
/// straight through: renaming over it would replace the device or pipe with a plain file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    // Messages name the file the user asked for, never the temporary one.
    let failed = |e: io::Error| OutputError::Write {
        path: path.to_owned(),
        detail: describe(&io::Error::from(e.kind())),
    };
    let existing = std::fs::metadata(path).ok();
    match &existing {
        Some(m) if !m.is_file() && !m.is_dir() => {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| f.write_all(bytes))
                .map_err(failed);
        }
        Some(m) if m.is_file() && m.nlink() > 1 => {
            return write_in_place(path, bytes).map_err(failed)
        }
        _ => {}
    }
    let existing = existing.filter(|m| m.is_file());
    let dir = parent_dir(path);
    let mode = existing.as_ref().map_or(0o666, |m| m.mode() & 0o7777);
    let mut temp = match tempfile::Builder::new()
        .prefix(".rech-")
        .suffix(".part")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
    {
        Ok(temp) => temp,
        // A file that may be written in a directory that takes no new files.
        Err(_) if existing.is_some() => return write_in_place(path, bytes).map_err(failed),
        Err(e) => {
            return Err(OutputError::Write {
                path: path.to_owned(),
                detail: short_io(&dir, &e),
            })
        }
    };
    if let Some(m) = &existing {
        // Exactly the old mode (the create above was subject to the umask), and the old owner
        // where that is allowed (as root, or a group the user is in).
        let file = temp.as_file();
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
        let _ = std::os::unix::fs::fchown(file, Some(m.uid()), Some(m.gid()))
            .or_else(|_| std::os::unix::fs::fchown(file, None, Some(m.gid())));
    }
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(failed)?;
    temp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// Rewrites an existing file through its own inode: the contents are complete before the first
/// byte is written, and the file is cut to their length afterwards.
fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
}

/// Checks up front that files can be created in `dir`, creating it if needed, so a batch fails
/// before any work rather than after an hour of it.
pub fn check_writable_dir(dir: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError::CreateDir {
        dir: dir.to_owned(),
        detail: describe(&e),
    })?;
    tempfile::Builder::new()
        .prefix(".rech-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| OutputError::DirNotWritable {
            dir: dir.to_owned(),
            detail: describe(&e),
        })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn short_io(dir: &Path, err: &io::Error) -> String {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => format!("{} is not a directory", dir.display()),
        Ok(_) => format!(
            "{}: {}",
            dir.display(),
            describe(&io::Error::from(err.kind()))
        ),
        Err(e) => format!("{}: {}", dir.display(), describe(&e)),
    }
}

pub use crate::error::describe;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn new_files_follow_the_umask_and_rewritten_ones_keep_mode_and_inode_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("talk.srt");
        write_atomically(&path, b"one").unwrap();
        let umask = {
            // What a plain create gives here.
            let probe = dir.path().join("probe");
            std::fs::File::create(&probe).unwrap();
            std::fs::metadata(&probe).unwrap().mode() & 0o777
        };
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, umask);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        // A hard link sees the new contents: the inode was kept.
        let link = dir.path().join("link.srt");
        std::fs::hard_link(&path, &link).unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        write_atomically(&path, b"three, longer").unwrap();
        write_atomically(&path, b"four").unwrap();
        assert_eq!(std::fs::read(&link).unwrap(), b"four");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    }

    #[test]
    fn missing_directory_is_an_error_not_a_panic() {
        let err = write_atomically(Path::new("/nonexistent/dir/out.txt"), b"x").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/dir") && !text.contains(".part"),
            "{text}"
        );
    }

    /// `-o /dev/null` once replaced /dev/null with a plain file (rename over a device, as
    /// root). A named pipe stands in for any such path here: it must still be a pipe after the
    /// write, and its reader must get the bytes.
    #[test]
    fn special_files_are_written_through_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomically(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
        let null = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(null.is_char_device());
        write_atomically(Path::new("/dev/null"), b"x").unwrap();
        let null = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(null.is_char_device(), "/dev/null was replaced");
    }
}
