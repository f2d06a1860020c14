//! Push-to-talk and toggling for `rech dictate --listen-on`: a Unix socket that takes one
//! command per connection (`start`, `stop`, `toggle`, `status`) and answers with the state
//! that follows (`listening` or `stopped`), and `rech dictate ctl`, its client — what a
//! window manager's key binding runs. No daemon of rech's own: the socket lives as long as
//! the `rech dictate` that made it.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, ValueEnum};

use crate::UsageError;

/// How long either side waits for the other's line.
const LINE_TIMEOUT: Duration = Duration::from_secs(2);

/// A command `rech dictate ctl` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ControlCommand {
    /// Open the microphone and listen.
    Start,
    /// Finish the phrase under way and close the microphone.
    Stop,
    /// Start when stopped, stop when listening.
    Toggle,
    /// Print the state without changing it.
    Status,
}

impl ControlCommand {
    fn word(self) -> &'static str {
        match self {
            ControlCommand::Start => "start",
            ControlCommand::Stop => "stop",
            ControlCommand::Toggle => "toggle",
            ControlCommand::Status => "status",
        }
    }
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// What to do.
    #[arg(value_enum)]
    command: ControlCommand,

    /// The control socket of the `rech dictate --listen-on` to talk to [default:
    /// $RECH_DICTATE_SOCKET, else $XDG_RUNTIME_DIR/rech-dictate.sock].
    #[arg(long, value_name = "SOCKET")]
    socket: Option<PathBuf>,
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

/// `rech dictate ctl`: sends one command and prints the answer.
pub fn run_ctl(args: &CtlArgs, quiet: bool) -> Result<()> {
    let path = args.socket.clone().unwrap_or_else(default_socket);
    let mut stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => anyhow!(UsageError(format!(
            "no `rech dictate --listen-on` is running at {}",
            path.display()
        ))),
        _ => anyhow!(e).context(format!("cannot connect to {}", path.display())),
    })?;
    stream.set_read_timeout(Some(LINE_TIMEOUT))?;
    stream.set_write_timeout(Some(LINE_TIMEOUT))?;
    writeln!(stream, "{}", args.command.word())
        .with_context(|| format!("cannot write to {}", path.display()))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .with_context(|| format!("no answer from {}", path.display()))?;
    let answer = answer.trim();
    if let Some(message) = answer.strip_prefix("error: ") {
        bail!("{message}");
    }
    if answer.is_empty() {
        bail!("no answer from {}", path.display());
    }
    if !quiet || args.command == ControlCommand::Status {
        println!("{answer}");
    }
    Ok(())
}

/// The listening side: the socket, the state, and a wake-up for the dictation loop.
pub struct Control {
    path: PathBuf,
    listening: Arc<AtomicBool>,
    changed: Receiver<()>,
}

impl Control {
    /// Binds `path` (refusing one another `rech dictate` answers on, taking over a stale one);
    /// dictation starts stopped.
    pub fn bind(path: &Path) -> Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                bail!(UsageError(format!(
                    "{} exists and is not a socket: pass another path to --listen-on",
                    path.display()
                )));
            }
            if UnixStream::connect(path).is_ok() {
                bail!(UsageError(format!(
                    "{} is taken: another `rech dictate --listen-on` is running there",
                    path.display()
                )));
            }
            // Left behind by a dictation that was killed.
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        // Only the user may start the microphone.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
        let listening = Arc::new(AtomicBool::new(false));
        let (tx, changed) = mpsc::sync_channel(1);
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
            .context("cannot start the control thread")?;
        Ok(Self {
            path: path.to_owned(),
            listening,
            changed,
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

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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
