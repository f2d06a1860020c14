//! ffmpeg as the decoder of last resort. rech decodes the common formats itself; for the rest
//! (AC-3 in a film, WMA, AMR from an old phone, AVI), when `ffmpeg` is installed, rech runs it
//! as a pipe and reads the WAV it writes as it arrives: no temporary copy of the audio, memory
//! flat for any length. Where it is not installed, the error names the format and says how to
//! get it.

use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::decode::{open_reader, AudioStream};
use crate::error::AudioError;

/// What the user can do when rech cannot decode a file and has no ffmpeg to ask.
pub(crate) const FFMPEG_HINT: &str =
    "install ffmpeg and rech decodes it through ffmpeg, or convert it: \
     ffmpeg -i FILE -f wav - | rech transcribe -";

/// Bytes [`foreign_format`] looks at.
pub(crate) const SNIFF_LEN: usize = 189;

/// The formats rech leaves to ffmpeg, told by their first bytes: what the error names.
pub(crate) fn foreign_format(magic: &[u8]) -> Option<&'static str> {
    const ASF: [u8; 16] = [
        0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce,
        0x6c,
    ];
    Some(match magic {
        [0x0b, 0x77, ..] | [0x77, 0x0b, ..] => "AC-3",
        [0x7f, 0xfe, 0x80, 0x01, ..] | [0xfe, 0x7f, 0x01, 0x80, ..] => "DTS",
        m if m.starts_with(&ASF) => "WMA (ASF)",
        m if m.starts_with(b"#!AMR") => "AMR",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'A', b'V', b'I', b' ', ..] => "AVI",
        [b'M', b'A', b'C', b' ', ..] => "Monkey's Audio (APE)",
        [b'w', b'v', b'p', b'k', ..] => "WavPack",
        [b'M', b'P', b'C', b'K', ..] | [b'M', b'P', b'+', ..] => "Musepack",
        [b'T', b'T', b'A', b'1', ..] => "TTA",
        [b'.', b'R', b'M', b'F', ..] | [b'.', b'r', b'a', 0xfd, ..] => "RealAudio",
        [0x00, 0x00, 0x01, 0xba, ..] => "MPEG program stream",
        [0x47, ..] if magic.len() > 188 && magic[188] == 0x47 => "MPEG transport stream",
        _ => return None,
    })
}

/// The ffmpeg rech may run: `RECH_FFMPEG` (a path to it, or `none` to never run one), else
/// `ffmpeg` on the `PATH`.
pub fn ffmpeg_program() -> Option<PathBuf> {
    if let Some(chosen) = std::env::var_os("RECH_FFMPEG") {
        if chosen.is_empty() || chosen == "none" || chosen == "0" || chosen == "off" {
            return None;
        }
        let chosen = PathBuf::from(chosen);
        return chosen.is_file().then_some(chosen);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("ffmpeg"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.with_extension("exe").is_file()
    }
}

/// Decodes `path` through `program`: 32-bit float WAV at the input's own rate and channel
/// count, so that rech's own downmix and resampler do the rest, as for any file. `native` is
/// what rech's own decoders said; it is what the user sees when ffmpeg cannot decode the file
/// either, with ffmpeg's reason when the format was one rech knows to be ffmpeg's.
pub(crate) fn open_with(
    program: &Path,
    path: &Path,
    name: &str,
    native: AudioError,
    label: Option<&str>,
) -> Result<AudioStream, AudioError> {
    let mut command = Command::new(program);
    command
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
        .arg(input_arg(path))
        .args([
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-c:a",
            "pcm_f32le",
            "-f",
            "wav",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| AudioError::Unsupported {
        path: name.to_owned(),
        detail: format!(
            "{}: rech cannot decode it, and {} did not start ({e})",
            label.unwrap_or("this format"),
            program.display()
        ),
    })?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(native);
    };
    // ffmpeg's complaints, kept (the last few kilobytes) for the error message.
    let complaints = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&complaints);
    let reader_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut all) = sink.lock() {
                all.extend_from_slice(&buf[..n]);
                let excess = all.len().saturating_sub(4096);
                all.drain(..excess);
            }
        }
    });
    let pipe = FfmpegOutput {
        stdout,
        child,
        complaints,
        stderr_thread: Some(reader_thread),
        finished: false,
    };
    match open_reader(pipe, name) {
        Ok(mut stream) => {
            // What `-v` shows as the input's format.
            stream.set_format(format!("{} via ffmpeg", label.unwrap_or("decoded")));
            Ok(stream)
        }
        Err(failed) => match label {
            Some(label) => Err(AudioError::Unsupported {
                path: name.to_owned(),
                detail: format!(
                    "{label}: rech does not decode it itself, and ffmpeg could not: {}",
                    reason(&failed)
                ),
            }),
            None => Err(native),
        },
    }
}

/// The path as ffmpeg should see it: a name starting with `-` or holding `:` would otherwise be
/// read as an option or a protocol (`http:`, `concat:`).
fn input_arg(path: &Path) -> OsString {
    let mut arg = OsString::from("file:");
    arg.push(path.as_os_str());
    arg
}

/// The interesting part of an error from the pipe: ffmpeg's own words when it said something.
fn reason(err: &AudioError) -> String {
    match err {
        AudioError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// ffmpeg's standard output, which reports ffmpeg's failure (its exit status and last message)
/// as a read error where the stream ends, rather than as a short recording.
struct FfmpegOutput {
    stdout: ChildStdout,
    child: Child,
    complaints: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    finished: bool,
}

impl Read for FfmpegOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n > 0 || buf.is_empty() || self.finished {
            return Ok(n);
        }
        self.finished = true;
        let status = self.child.wait()?;
        if let Some(thread) = self.stderr_thread.take() {
            let _ = thread.join();
        }
        if status.success() {
            return Ok(0);
        }
        let said = self
            .complaints
            .lock()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        let last = said
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        Err(io::Error::other(format!(
            "ffmpeg failed ({status}): {last}"
        )))
    }
}

impl Drop for FfmpegOutput {
    fn drop(&mut self) {
        if !self.finished {
            // Stopped early (cancelled, or an error upstream): ffmpeg has nothing left to do.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_formats_by_their_first_bytes() {
        assert_eq!(foreign_format(&[0x0b, 0x77, 0x12, 0x34]), Some("AC-3"));
        assert_eq!(foreign_format(b"#!AMR\n\x3c"), Some("AMR"));
        assert_eq!(foreign_format(b"RIFF\0\0\0\0AVI LIST"), Some("AVI"));
        assert_eq!(foreign_format(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(foreign_format(b"OggS"), None);
        assert_eq!(foreign_format(&[0x47, 0x40]), None);
    }

    #[test]
    fn paths_cannot_become_ffmpeg_options_or_protocols() {
        assert_eq!(input_arg(Path::new("-y")), "file:-y");
        assert_eq!(input_arg(Path::new("concat:a|b")), "file:concat:a|b");
    }
}
