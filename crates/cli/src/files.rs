//! Writing results without ever leaving a half-written file: output goes to a temporary file in
//! the target directory and is renamed into place only when complete.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
///
/// A path that is not a regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written
/// straight through: renaming over it would replace the device or pipe with a plain file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".rech-")
        .suffix(".part")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write to {}: {}", dir.display(), short_io(&dir)))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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

fn short_io(dir: &Path) -> String {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => "not a directory".to_owned(),
        Ok(_) => "permission denied or read-only".to_owned(),
        Err(e) => describe(&e),
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
    fn missing_directory_is_an_error_not_a_panic() {
        let err = write_atomically(Path::new("/nonexistent/dir/out.txt"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/dir"), "{err:#}");
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
