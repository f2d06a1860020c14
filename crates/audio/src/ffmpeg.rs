//! ffmpeg as the decoder of last resort. rech decodes the common formats itself; for the rest
//! (AC-3 in a film, WMA, AMR from an old phone, AVI), when `ffmpeg` is installed, rech runs it
//! as a pipe and reads the WAV it writes as it arrives: no temporary copy of the audio, memory
//! flat for any length. Where it is not installed, the error names the format and says how to
//! get it.
//!
//! ffmpeg follows references: an HLS playlist or an `ffconcat` list names other files, which
//! it would open and decode (a server's own recordings, handed back to whoever uploaded the
//! list; or the same file three hundred times). So ffmpeg reads the one input rech gives it,
//! on its standard input, with `pipe` as the only protocol it may open; text (every playlist
//! and list format is text) is refused before ffmpeg sees it; and the audio it returns may
//! last no longer than the input's bytes can hold at the lowest bitrate of any speech codec.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::AudioError;

/// What the user can do when rech cannot decode a file and has no ffmpeg to ask.
pub(crate) const FFMPEG_HINT: &str =
    "install ffmpeg and rech decodes it through ffmpeg, or convert it: \
     ffmpeg -i FILE -f wav - | rech transcribe -";

/// Bytes [`foreign_format`] looks at.
pub(crate) const SNIFF_LEN: usize = 189;

/// Bytes of an input looked at to tell text (a playlist, a list of files) from media.
const TEXT_SNIFF_LEN: usize = 4096;

/// The fewest bytes a second of audio takes in any codec rech hands to ffmpeg: 1 kbit/s, half
/// of Speex's lowest mode (2.15 kbit/s; AMR-NB's lowest is 4.75). An input whose audio lasts
/// longer than its size allows at this rate is not a recording.
pub(crate) const MIN_BYTES_PER_SECOND: u64 = 128;

/// What a text input handed to ffmpeg would be: the playlist and list formats ffmpeg follows,
/// by their first line, or any other text. `None` for media.
pub(crate) fn text_kind(head: &[u8]) -> Option<&'static str> {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A letter cut at the end of the sniffed bytes is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return None,
    };
    if text.is_empty()
        || text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
    {
        return None;
    }
    let start = text.trim_start_matches('\u{feff}').trim_start();
    let starts = |prefix: &str| {
        start
            .get(..prefix.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
    };
    Some(if starts("#EXT") {
        "an HLS or M3U playlist"
    } else if starts("ffconcat") || starts("file ") || starts("file'") {
        "an ffconcat list"
    } else if starts("[playlist]") {
        "a PLS playlist"
    } else if starts("<") {
        "an XML document (a DASH manifest or a playlist)"
    } else {
        "a text file"
    })
}

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

/// Starts ffmpeg (`program`) on `path`, given to it as its standard input, with WAV on its
/// standard output; the output to read and the input's size. Text (a playlist, a list) is
/// refused before ffmpeg sees it.
pub(crate) fn spawn(
    program: &Path,
    path: &Path,
    name: &str,
    label: Option<&str>,
) -> Result<(FfmpegOutput, u64), AudioError> {
    let io_err = |source| AudioError::Io {
        path: name.to_owned(),
        source,
    };
    let mut input = File::open(path).map_err(io_err)?;
    let len = input.metadata().map_err(io_err)?.len();
    let mut head = vec![0u8; TEXT_SNIFF_LEN];
    let got = crate::limits::read_up_to(&mut input, &mut head).map_err(io_err)?;
    if let Some(kind) = text_kind(&head[..got]) {
        return Err(AudioError::Unsupported {
            path: name.to_owned(),
            detail: format!(
                "{kind}, not audio: rech does not decode text, nor let ffmpeg open the files a \
                 playlist or list names"
            ),
        });
    }
    // ffmpeg gets the file as its standard input, from the start.
    input.rewind().map_err(io_err)?;
    let mut command = Command::new(program);
    command
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            // Nothing but the pipe: no `file:` (a playlist's entries), no network.
            "-protocol_whitelist",
            "pipe",
            "-i",
            "pipe:0",
        ])
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
        .stdin(Stdio::from(input))
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
        return Err(AudioError::Unsupported {
            path: name.to_owned(),
            detail: "ffmpeg started without its pipes".to_owned(),
        });
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
    Ok((pipe, len))
}

/// The interesting part of an error from the pipe: ffmpeg's own words when it said something.
pub(crate) fn reason(err: &AudioError) -> String {
    match err {
        AudioError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// ffmpeg's standard output, which reports ffmpeg's failure (its exit status and last message)
/// as a read error where the stream ends, rather than as a short recording.
pub(crate) struct FfmpegOutput {
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
    fn playlists_and_lists_are_text() {
        let hls = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/srv/secret.mp3\n";
        assert_eq!(text_kind(hls), Some("an HLS or M3U playlist"));
        assert_eq!(
            text_kind(b"\xef\xbb\xbf  #EXTINF:1,\nx.mp3\n"),
            Some("an HLS or M3U playlist")
        );
        assert_eq!(
            text_kind(b"ffconcat version 1.0\nfile a.mp3\n"),
            Some("an ffconcat list")
        );
        assert_eq!(text_kind(b"file '/etc/x.flac'\n"), Some("an ffconcat list"));
        assert_eq!(
            text_kind(b"[playlist]\nFile1=/x.mp3\n"),
            Some("a PLS playlist")
        );
        assert_eq!(
            text_kind(b"<?xml version=\"1.0\"?><MPD/>"),
            Some("an XML document (a DASH manifest or a playlist)")
        );
        assert_eq!(text_kind("Привет, мир\n".as_bytes()), Some("a text file"));
        // A Cyrillic letter cut by the sniffing window is still text.
        assert_eq!(text_kind(&"мир".as_bytes()[..5]), Some("a text file"));
    }

    #[test]
    fn media_is_not_text() {
        assert_eq!(text_kind(&[0x0b, 0x77, 0x12, 0x34]), None);
        assert_eq!(text_kind(b"#!AMR\n\x3c\x91\x17\x16\xbe\x66\x78\x00"), None);
        assert_eq!(text_kind(b".snd\x00\x00\x00\x18"), None);
        assert_eq!(text_kind(b""), None);
        assert_eq!(text_kind(&[0xff, 0xfe, 0x00]), None);
    }
}
