//! Push-to-talk and toggling for live dictation: a Unix socket that takes one command per
//! connection (`start`, `stop`, `toggle`, `status`) and answers with the state that follows
//! (`listening` or `stopped`), and its client — what a window manager's key binding runs. No
//! daemon: the socket lives as long as the [`Control`] that made it. Only the user may use it
//! (mode 0600). A [`Switch`] sets the same state from within the process (a hotkey), with or
//! without a socket.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// How long either side waits for the other's line.
const LINE_TIMEOUT: Duration = Duration::from_secs(2);

/// A command the control socket takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Open the microphone and listen.
    Start,
    /// Finish the phrase under way and close the microphone.
    Stop,
    /// Start when stopped, stop when listening.
    Toggle,
    /// Say the state without changing it.
    Status,
}

impl Command {
    /// Every command, in the order help lists them.
    pub const ALL: [Command; 4] = [Self::Start, Self::Stop, Self::Toggle, Self::Status];

    /// The word sent over the socket.
    pub fn word(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Toggle => "toggle",
            Self::Status => "status",
        }
    }
}

/// Why the control socket could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Nothing listens at the path.
    #[error("no dictation is listening for commands at {}", path.display())]
    NotRunning {
        /// The socket.
        path: PathBuf,
    },
    /// The path exists and is not a socket (never removed to make room).
    #[error("{} exists and is not a socket", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Another dictation answers at the path.
    #[error("{} is taken: another dictation is listening there", path.display())]
    Taken {
        /// The socket.
        path: PathBuf,
    },
    /// The other side answered with an error.
    #[error("{0}")]
    Refused(String),
    /// A system call failed.
    #[error("{what} {}: {detail}", path.display())]
    Io {
        /// What was being done (`cannot connect to`).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl Fn(std::io::Error) -> ControlError + 'p {
    move |e| ControlError::Io {
        what,
        path: path.to_owned(),
        detail: rech_asr::describe_io(&e),
    }
}

/// Where the control socket is unless given: `RECH_DICTATE_SOCKET`, else the user's runtime
/// directory, else the temporary directory.
pub fn default_socket() -> PathBuf {
    if let Some(path) = std::env::var_os("RECH_DICTATE_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("rech-dictate.sock"),
        None => {
            let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
            std::env::temp_dir().join(format!("rech-dictate-{user}.sock"))
        }
    }
}

/// Sends `command` to the socket at `path`; the state that follows (`listening`, `stopped`).
pub fn send(path: &Path, command: Command) -> Result<String, ControlError> {
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => ControlError::NotRunning {
            path: path.to_owned(),
        },
        _ => io("cannot connect to", path)(e),
    })?;
    let timeouts = stream
        .set_read_timeout(Some(LINE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(LINE_TIMEOUT)));
    timeouts.map_err(io("cannot connect to", path))?;
    writeln!(stream, "{}", command.word()).map_err(io("cannot write to", path))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(io("no answer from", path))?;
    let answer = answer.trim();
    if let Some(message) = answer.strip_prefix("error: ") {
        return Err(ControlError::Refused(message.to_owned()));
    }
    if answer.is_empty() {
        return Err(ControlError::Io {
            what: "no answer from",
            path: path.to_owned(),
            detail: "the connection closed".to_owned(),
        });
    }
    Ok(answer.to_owned())
}

/// The listening side: the socket (if any), the state, and a wake-up for the dictation loop.
/// Dropped, it removes its socket.
#[derive(Debug)]
pub struct Control {
    path: Option<PathBuf>,
    listening: Arc<AtomicBool>,
    changed: Receiver<()>,
    wake: SyncSender<()>,
}

/// Starts and stops listening from within the process (a hotkey's presses); cheap to clone.
#[derive(Debug, Clone)]
pub struct Switch {
    listening: Arc<AtomicBool>,
    wake: SyncSender<()>,
}

impl Switch {
    /// Listen (`true`) or stop (`false`); true when that changed the state.
    pub fn set(&self, listening: bool) -> bool {
        let before = self.listening.swap(listening, Ordering::SeqCst);
        if before != listening {
            // One pending wake-up is enough: the loop reads the state itself.
            let _ = self.wake.try_send(());
        }
        before != listening
    }

    /// Start when stopped, stop when listening; the state that follows.
    pub fn toggle(&self) -> bool {
        let after = !self.listening.load(Ordering::SeqCst);
        self.set(after);
        after
    }
}

impl Control {
    /// A control without a socket, driven only through [`Control::switch`]; dictation starts
    /// stopped.
    pub fn in_process() -> Self {
        let (wake, changed) = mpsc::sync_channel(1);
        Self {
            path: None,
            listening: Arc::new(AtomicBool::new(false)),
            changed,
            wake,
        }
    }

    /// A handle that starts and stops listening from another thread.
    pub fn switch(&self) -> Switch {
        Switch {
            listening: Arc::clone(&self.listening),
            wake: self.wake.clone(),
        }
    }

    /// Binds `path` (refusing one another dictation answers on, taking over a stale one);
    /// dictation starts stopped.
    pub fn bind(path: &Path) -> Result<Self, ControlError> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(ControlError::NotASocket {
                    path: path.to_owned(),
                });
            }
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::Taken {
                    path: path.to_owned(),
                });
            }
            // Left behind by a dictation that was killed.
            std::fs::remove_file(path).map_err(io("cannot remove the stale socket", path))?;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        }
        let listener = UnixListener::bind(path).map_err(io("cannot listen on", path))?;
        // Only the user may start the microphone.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot restrict", path))?;
        let listening = Arc::new(AtomicBool::new(false));
        let (wake, changed) = mpsc::sync_channel(1);
        let tx = wake.clone();
        let state = Arc::clone(&listening);
        std::thread::Builder::new()
            .name("rech-control".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    if answer(stream, &state) {
                        // One pending wake-up is enough: the loop reads the state itself.
                        let _ = tx.try_send(());
                    }
                }
            })
            .map_err(io("cannot start the control thread for", path))?;
        Ok(Self {
            path: Some(path.to_owned()),
            listening,
            changed,
            wake,
        })
    }

    /// Whether dictation should be listening now.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for a command that changed the state.
    pub fn wait(&self, timeout: Duration) -> bool {
        match self.changed.recv_timeout(timeout) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }

    /// The socket's path, where there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Handles one connection; true when the state changed.
fn answer(stream: UnixStream, listening: &AtomicBool) -> bool {
    let _ = stream.set_read_timeout(Some(LINE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(LINE_TIMEOUT));
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return false;
    }
    let before = listening.load(Ordering::SeqCst);
    let after = match line.trim() {
        "start" => true,
        "stop" => false,
        "toggle" => !before,
        "status" => before,
        other => {
            let _ = writeln!(
                &stream,
                "error: unknown command {other:?} (start, stop, toggle or status)"
            );
            return false;
        }
    };
    listening.store(after, Ordering::SeqCst);
    let _ = writeln!(&stream, "{}", if after { "listening" } else { "stopped" });
    before != after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_change_the_state_and_the_socket_goes_with_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dictate.sock");
        assert!(matches!(
            send(&path, Command::Status),
            Err(ControlError::NotRunning { .. })
        ));
        let control = Control::bind(&path).unwrap();
        assert!(matches!(
            Control::bind(&path),
            Err(ControlError::Taken { .. })
        ));
        assert_eq!(send(&path, Command::Status).unwrap(), "stopped");
        assert_eq!(send(&path, Command::Toggle).unwrap(), "listening");
        assert!(control.wait(Duration::from_secs(5)));
        assert!(control.listening());
        assert_eq!(send(&path, Command::Stop).unwrap(), "stopped");
        // A switch in the process and the socket drive one state.
        let switch = control.switch();
        assert!(switch.toggle());
        assert!(control.wait(Duration::from_secs(5)));
        assert_eq!(send(&path, Command::Status).unwrap(), "listening");
        assert!(!switch.set(true));
        assert!(switch.set(false));
        assert!(!control.listening());
        drop(control);
        assert!(!path.exists());
        std::fs::write(&path, b"notes").unwrap();
        assert!(matches!(
            Control::bind(&path),
            Err(ControlError::NotASocket { .. })
        ));
    }
}
