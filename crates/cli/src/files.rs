//! Writing results without ever leaving a half-written file: output goes to a temporary file in
//! the target directory and is renamed into place only when complete. A new file gets the mode
//! a plain create would (0666 less the umask); a file that is rewritten keeps its mode and,
//! where rech may set it, its owner and group. A file with several hard links is rewritten in
//! place instead, after the new contents are complete in memory: renaming over it would cut it
//! off from its other names, which is worse than the small window a crash mid-write leaves.

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Result;

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
///
/// A path that is not a regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written
/// straight through: renaming over it would replace the device or pipe with a plain file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    // Messages name the file the user asked for, never the temporary one.
    let failed = |e: io::Error| {
        anyhow::anyhow!(
            "cannot write {}: {}",
            path.display(),
            describe(&io::Error::from(e.kind()))
        )
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
            return Err(anyhow::anyhow!(
                "cannot write {}: {}",
                path.display(),
                short_io(&dir, &e)
            ))
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
pub fn check_writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create output directory {}: {}",
            dir.display(),
            describe(&e)
        )
    })?;
    tempfile::Builder::new()
        .prefix(".rech-check-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot write to output directory {}: {}",
                dir.display(),
                describe(&e)
            )
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

/// Lowercase I/O error text without the `(os error N)` tail: rech-asr's describer, with a
/// missing path called what it is here (a file or a directory).
pub fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        _ => rech_asr::describe_io(err),
    }
}

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
        let text = format!("{err:#}");
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
