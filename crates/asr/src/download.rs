//! Downloads a model file so that what ends up in the model directory is always the complete,
//! verified file: bytes go to `NAME.part`, are hashed as they arrive, and the file is renamed into
//! place only when its size and sha256 match; an interrupted download resumes with an HTTP
//! `Range` request; a lock file keeps two processes from writing the same file.
//!
//! Nothing here prints: progress goes to a callback, so the caller decides how to show it.
//! Proxies come from the environment (`ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`,
//! upper or lower case), as curl reads them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::engine::CancelToken;
use crate::error::{describe_io, lowercase_first};

pub use crate::resolve::DEFAULT_TIMEOUT;

/// Attempts per download when the connection breaks after delivering some bytes.
const MAX_ATTEMPTS: u32 = 5;

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRequest {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Where the verified file goes; its directory is created when missing.
    pub dest: PathBuf,
    /// Expected sha256, 64 lowercase hex digits.
    pub sha256: String,
    /// Expected size in bytes, when known: a server offering another size is refused before
    /// anything is written.
    pub size: Option<u64>,
    /// How long the server may stay silent (connecting, before the response, between reads).
    pub timeout: Duration,
}

/// What a download is doing, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadEvent {
    /// Another process holds the lock on this file; waiting for it to finish.
    WaitingForLock,
    /// The response arrived: `total` bytes expected in all (when known), of which
    /// `resumed_from` were already on disk from an earlier attempt.
    Started {
        /// Full file size, when the server or the catalogue says.
        total: Option<u64>,
        /// Bytes kept from an earlier, interrupted download.
        resumed_from: u64,
    },
    /// `downloaded` bytes of the file are on disk.
    Progress {
        /// Bytes on disk so far, including resumed ones.
        downloaded: u64,
    },
    /// The connection broke; trying again from `downloaded` bytes.
    Retrying {
        /// What went wrong.
        reason: String,
        /// Bytes kept.
        downloaded: u64,
    },
    /// All bytes are in; checking the checksum.
    Verifying,
}

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// The file was downloaded and verified.
    Downloaded {
        /// Its size.
        bytes: u64,
        /// Bytes kept from an earlier interrupted download (0 for a fresh one).
        resumed_from: u64,
    },
    /// The file was already in place (possibly put there by another process while this one
    /// waited for the lock); nothing was fetched.
    AlreadyPresent,
}

/// Why a download failed. The partial file is kept for the next attempt only where the variant
/// says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The URL is not an `http://` or `https://` URL.
    #[error("unsupported URL {url}: only http:// and https:// can be downloaded")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// The server answered with an error status (404: no such file). The partial file, if any,
    /// is kept.
    #[error("{url} answered HTTP {status}{}", status_hint(*status))]
    Status {
        /// The URL.
        url: String,
        /// HTTP status code.
        status: u16,
    },
    /// The server could not be reached, or the connection broke and retrying did not help.
    /// What arrived is kept, and the next attempt resumes from there.
    #[error("cannot download {url}: {detail}")]
    Network {
        /// The URL.
        url: String,
        /// What went wrong, lowercase.
        detail: String,
    },
    /// The server stopped sending for longer than the timeout. What arrived is kept.
    #[error("download of {url} stalled: nothing received for {} s", timeout.as_secs_f64())]
    Stalled {
        /// The URL.
        url: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The server offers a file of another size than the catalogue's: another file, or a broken
    /// mirror. Nothing was written.
    #[error("{url} offers {actual} bytes, but the expected file is {expected} bytes")]
    WrongSize {
        /// The URL.
        url: String,
        /// Size from the catalogue.
        expected: u64,
        /// Size the server announced.
        actual: u64,
    },
    /// The downloaded bytes do not have the expected sha256. The file was deleted.
    #[error("checksum mismatch for {url}: expected sha256 {expected}, got {actual}; the download was deleted")]
    ChecksumMismatch {
        /// The URL.
        url: String,
        /// sha256 expected.
        expected: String,
        /// sha256 of what arrived.
        actual: String,
    },
    /// Not enough free space for the file.
    #[error("not enough disk space in {dir}: {needed} more bytes needed, {available} available")]
    NoSpace {
        /// The model directory.
        dir: String,
        /// Bytes still to download.
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// A local file could not be created, written, locked or renamed.
    #[error("cannot write {path}: {detail}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong, lowercase.
        detail: String,
    },
    /// Another process is downloading this file right now.
    #[error("{path} is being downloaded by another process")]
    Busy {
        /// The model file.
        path: String,
    },
    /// The cancellation flag was raised. What arrived is kept.
    #[error("download cancelled")]
    Cancelled,
}

fn status_hint(status: u16) -> &'static str {
    match status {
        404 => " (not found)",
        401 | 403 => " (access denied)",
        416 => " (range not satisfiable)",
        500..=599 => " (server error; try again later)",
        _ => "",
    }
}

/// Fetches `request.url` into `request.dest`, verified, unless the file is already there.
///
/// `on_event` hears about progress; `cancel`, when raised, stops the download between reads
/// (within `request.timeout` at worst) with [`DownloadError::Cancelled`], keeping the partial
/// file for a later resume.
pub fn download(
    request: &DownloadRequest,
    cancel: Option<&CancelToken>,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<DownloadOutcome, DownloadError> {
    let url = request.url.as_str();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(DownloadError::BadUrl {
            url: url.to_owned(),
        });
    }
    let dir = match request.dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
    let _lock = lock(&sibling(&request.dest, "lock"), cancel, on_event)?;
    if request.dest.is_file() {
        return Ok(DownloadOutcome::AlreadyPresent);
    }

    let part_path = sibling(&request.dest, "part");
    let mut part = Partial::open(&part_path)?;
    let resumed_from = part.len;
    if let Some(size) = request.size {
        if part.len > size {
            part.truncate()?;
        }
        check_space(&dir, size.saturating_sub(part.len))?;
    }

    let agent = agent(request.timeout, is_loopback(url));
    let mut restarted = false;
    loop {
        fetch_with_retries(&agent, request, &mut part, cancel, on_event)?;
        on_event(&DownloadEvent::Verifying);
        let actual = part.hex_digest();
        if actual == request.sha256 {
            break;
        }
        part.remove();
        // A partial file from an earlier run may have been damaged, or come from another file:
        // one fresh download settles it.
        if resumed_from > 0 && !restarted {
            restarted = true;
            part = Partial::open(&part_path)?;
            on_event(&DownloadEvent::Retrying {
                reason: "checksum mismatch after resuming; downloading from the start".into(),
                downloaded: 0,
            });
            continue;
        }
        return Err(DownloadError::ChecksumMismatch {
            url: url.to_owned(),
            expected: request.sha256.clone(),
            actual,
        });
    }

    let bytes = part.len;
    part.file.sync_all().map_err(|e| io_error(&part_path, &e))?;
    drop(part);
    fs::rename(&part_path, &request.dest).map_err(|e| io_error(&request.dest, &e))?;
    sync_dir(&dir);
    Ok(DownloadOutcome::Downloaded {
        bytes,
        resumed_from: if restarted { 0 } else { resumed_from },
    })
}

/// Deletes a model file and any partial download of it; `Ok(false)` when there was neither.
/// Refuses with [`DownloadError::Busy`] while another process downloads it.
pub fn remove(dest: &Path) -> Result<bool, DownloadError> {
    let lock_path = sibling(dest, "lock");
    let _lock = match try_lock(&lock_path) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(DownloadError::Busy {
                path: dest.display().to_string(),
            })
        }
        // A directory we cannot write to: the deletions below will say so with the file name.
        Err(_) => Lock {
            file: None,
            path: PathBuf::new(),
        },
    };
    let mut removed = false;
    for path in [dest.to_owned(), sibling(dest, "part")] {
        match fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, &e)),
        }
    }
    Ok(removed)
}

/// The sha256 of a file, as 64 lowercase hex digits.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// `dest` with `.EXT` appended to its file name: `ggml-small.bin.part`.
pub fn sibling(dest: &Path, ext: &str) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    dest.with_file_name(name)
}

/// The partial file and the hash of its bytes so far.
struct Partial {
    path: PathBuf,
    file: File,
    len: u64,
    hasher: Sha256,
}

impl Partial {
    /// Opens (or creates) the partial file and hashes what is already in it.
    fn open(path: &Path) -> Result<Self, DownloadError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_error(path, &e))?;
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(|e| io_error(path, &e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            len,
            hasher,
        })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), DownloadError> {
        self.file
            .write_all(bytes)
            .map_err(|e| io_error(&self.path, &e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn truncate(&mut self) -> Result<(), DownloadError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(|_| ()))
            .map_err(|e| io_error(&self.path, &e))?;
        self.len = 0;
        self.hasher = Sha256::new();
        Ok(())
    }

    fn hex_digest(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    /// Deletes the file (best effort: a leftover is only a wasted resume).
    fn remove(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// What went wrong in one attempt, and whether another attempt may help.
enum AttemptError {
    /// The connection broke or stalled; retrying (with `Range`) may help.
    Transient(DownloadError),
    /// Retrying cannot help.
    Fatal(DownloadError),
}

fn fetch_with_retries(
    agent: &ureq::Agent,
    request: &DownloadRequest,
    part: &mut Partial,
    cancel: Option<&CancelToken>,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<(), DownloadError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = part.len;
        let error = match fetch(agent, request, part, cancel, on_event) {
            Ok(()) => return Ok(()),
            Err(AttemptError::Fatal(e)) => e,
            Err(AttemptError::Transient(e)) => {
                // Retry only while something changes (bytes arrived, or a stale partial file was
                // dropped): a server that sends nothing will not start to on the next try.
                if part.len != before && attempt < MAX_ATTEMPTS {
                    on_event(&DownloadEvent::Retrying {
                        reason: e.to_string(),
                        downloaded: part.len,
                    });
                    thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                    continue;
                }
                e
            }
        };
        if part.len == 0 {
            part.remove();
        }
        return Err(error);
    }
}

/// One HTTP request: from `part.len` to the end of the file.
fn fetch(
    agent: &ureq::Agent,
    request: &DownloadRequest,
    part: &mut Partial,
    cancel: Option<&CancelToken>,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<(), AttemptError> {
    use AttemptError::{Fatal, Transient};
    let url = request.url.as_str();
    if request.size.is_some_and(|size| part.len == size) {
        // Everything arrived in an earlier run; only the checksum is left to do.
        return Ok(());
    }
    let mut builder = agent
        .get(url)
        .header("User-Agent", concat!("rech/", env!("CARGO_PKG_VERSION")))
        .header("Accept-Encoding", "identity");
    if part.len > 0 {
        builder = builder.header("Range", format!("bytes={}-", part.len));
    }
    let mut response = builder
        .call()
        .map_err(|e| classify(url, request.timeout, e))?;

    let status = response.status().as_u16();
    let length = response.body().content_length();
    let offset = match status {
        200 => {
            if part.len > 0 {
                // The server ignored the range: start over.
                part.truncate().map_err(Fatal)?;
            }
            0
        }
        206 => {
            let start = response
                .headers()
                .get("Content-Range")
                .and_then(|v| v.to_str().ok())
                .and_then(content_range_start);
            if start != Some(part.len) {
                part.truncate().map_err(Fatal)?;
                return Err(Transient(DownloadError::Network {
                    url: url.to_owned(),
                    detail: "the server resumed at the wrong offset".into(),
                }));
            }
            part.len
        }
        416 if part.len > 0 => {
            // What is on disk is not a prefix of this file (or is all of it, with an unknown
            // size): start over.
            part.truncate().map_err(Fatal)?;
            return Err(Transient(DownloadError::Status {
                url: url.to_owned(),
                status,
            }));
        }
        _ => {
            return Err(Fatal(DownloadError::Status {
                url: url.to_owned(),
                status,
            }))
        }
    };
    let total = length.map(|n| n + offset).or(request.size);
    if let (Some(expected), Some(actual)) = (request.size, length.map(|n| n + offset)) {
        if expected != actual {
            if part.len == 0 {
                part.remove();
            }
            return Err(Fatal(DownloadError::WrongSize {
                url: url.to_owned(),
                expected,
                actual,
            }));
        }
    }
    on_event(&DownloadEvent::Started {
        total,
        resumed_from: offset,
    });

    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Err(Fatal(DownloadError::Cancelled));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(url, request.timeout, ureq::Error::from(e))),
        };
        part.append(&buf[..n]).map_err(Fatal)?;
        on_event(&DownloadEvent::Progress {
            downloaded: part.len,
        });
    }
    match total {
        Some(total) if part.len < total => Err(Transient(DownloadError::Network {
            url: url.to_owned(),
            detail: format!("the connection closed after {} of {total} bytes", part.len),
        })),
        _ => Ok(()),
    }
}

/// Sorts a ureq error into one of ours, and whether retrying may help.
fn classify(url: &str, timeout: Duration, error: ureq::Error) -> AttemptError {
    let network = |detail: String| DownloadError::Network {
        url: url.to_owned(),
        detail,
    };
    match error {
        ureq::Error::Timeout(_) => AttemptError::Transient(DownloadError::Stalled {
            url: url.to_owned(),
            timeout,
        }),
        ureq::Error::Io(e) => AttemptError::Transient(match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => DownloadError::Stalled {
                url: url.to_owned(),
                timeout,
            },
            io::ErrorKind::UnexpectedEof => {
                network("the server closed the connection before the end".into())
            }
            _ => network(describe_io(&e)),
        }),
        ureq::Error::HostNotFound => {
            AttemptError::Fatal(network("host not found (no network, or a typo?)".into()))
        }
        ureq::Error::ConnectionFailed => AttemptError::Fatal(network("connection failed".into())),
        ureq::Error::BadUri(detail) => AttemptError::Fatal(network(format!("bad URL: {detail}"))),
        ureq::Error::TooManyRedirects => AttemptError::Fatal(network("too many redirects".into())),
        other => AttemptError::Transient(network(lowercase_first(&other.to_string()))),
    }
}

fn agent(timeout: Duration, loopback: bool) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder();
    if loopback {
        // A local mirror or test server is never behind the proxy the environment names.
        config = config.proxy(None);
    }
    config
        .http_status_as_error(false)
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .user_agent(concat!("rech/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Whether the URL's host is this machine (`localhost`, `127.x.x.x`, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `START` of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// Holds the lock until dropped: the operating system releases it when the file closes, also
/// when the process dies.
///
/// On Unix the lock file is deleted on the way out, so a finished download leaves nothing behind.
/// A process that was waiting then holds a lock on a deleted file; it notices (the path no longer
/// leads to the file it locked) and locks the path afresh.
struct Lock {
    file: Option<File>,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        #[cfg(unix)]
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
        drop(self.file.take());
    }
}

fn lock(
    path: &Path,
    cancel: Option<&CancelToken>,
    on_event: &mut dyn FnMut(&DownloadEvent),
) -> Result<Lock, DownloadError> {
    let mut told = false;
    loop {
        if let Some(lock) = try_lock(path)? {
            return Ok(lock);
        }
        if !told {
            on_event(&DownloadEvent::WaitingForLock);
            told = true;
        }
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Err(DownloadError::Cancelled);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The lock, or `None` while another process holds it.
fn try_lock(path: &Path) -> Result<Option<Lock>, DownloadError> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_error(path, &e))?;
        // Called through the trait: std's own `File::try_lock` is newer than our MSRV.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) if same_file(path, &file) => {
                return Ok(Some(Lock {
                    file: Some(file),
                    path: path.to_owned(),
                }))
            }
            // The holder before us deleted the file as we locked it: lock the new one.
            Ok(()) => continue,
            Err(fs4::TryLockError::WouldBlock) => return Ok(None),
            Err(fs4::TryLockError::Error(e)) => return Err(io_error(path, &e)),
        }
    }
}

/// Whether `path` still leads to `file` (it does not once the holder before us deleted it).
#[cfg(unix)]
fn same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_path: &Path, _file: &File) -> bool {
    true
}

fn check_space(dir: &Path, needed: u64) -> Result<(), DownloadError> {
    // Unknown free space (an exotic file system) is not a reason to refuse.
    let Ok(available) = fs4::available_space(dir) else {
        return Ok(());
    };
    if needed > available {
        return Err(DownloadError::NoSpace {
            dir: dir.display().to_string(),
            needed,
            available,
        });
    }
    Ok(())
}

/// Makes the rename durable (on Unix, a directory's entries are flushed by syncing it).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn io_error(path: &Path, e: &io::Error) -> DownloadError {
    DownloadError::Io {
        path: path.display().to_string(),
        detail: describe_io(e),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_start_is_parsed() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/1"), Some(0));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://[::1]:9/x",
            "http://u:p@127.0.0.2/",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://huggingface.co/x",
            "http://10.0.0.1/",
            "http://127.0.0.1.example/",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn siblings_keep_the_whole_file_name() {
        let dest = Path::new("/m/ggml-small.bin");
        assert_eq!(sibling(dest, "part"), Path::new("/m/ggml-small.bin.part"));
        assert_eq!(sibling(dest, "lock"), Path::new("/m/ggml-small.bin.lock"));
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_urls_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let request = DownloadRequest {
            url: "ftp://example.com/x.bin".into(),
            dest: dir.path().join("x.bin"),
            sha256: "0".repeat(64),
            size: None,
            timeout: DEFAULT_TIMEOUT,
        };
        let err = download(&request, None, &mut |_| {}).unwrap_err();
        assert!(matches!(err, DownloadError::BadUrl { .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
