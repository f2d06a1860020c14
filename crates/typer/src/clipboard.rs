//! The fallback where no keyboard can be faked with the right characters (GNOME's Wayland, an X
//! server without XTest): the phrase goes to the clipboard through `wl-copy` or `xclip`, and is
//! pasted with Control+V by what can press keys there — XTest, or ydotool's daemon — or left
//! for the user to paste.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use crate::x11::X11Typer;
use crate::{Backend, Session, TypeError, Typed};

/// Time the clipboard's new owner gets to take the selection before the paste asks for it.
const OWNER_READY: Duration = Duration::from_millis(50);

/// Which clipboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Clipboard {
    /// The compositor's socket.
    Wayland { socket: PathBuf },
    /// The X display.
    X11 { display: String },
}

impl Clipboard {
    /// The session's own: Wayland's where there is one.
    pub(crate) fn of(session: &Session) -> Option<Self> {
        match (&session.wayland, &session.x11) {
            (Some(socket), _) => Some(Clipboard::Wayland {
                socket: socket.clone(),
            }),
            (None, Some(display)) => Some(Clipboard::X11 {
                display: display.clone(),
            }),
            (None, None) => None,
        }
    }
}

/// What presses the paste shortcut.
pub(crate) enum Paste {
    XTest(Box<X11Typer>),
    Ydotool,
    /// Nobody: the user pastes.
    Manual,
}

pub(crate) struct ClipboardTyper {
    clipboard: Clipboard,
    paste: Paste,
}

fn failed(err: impl std::fmt::Display) -> TypeError {
    TypeError::Failed {
        backend: Backend::Clipboard,
        message: err.to_string(),
    }
}

/// ydotool's daemon socket, where the daemon runs.
pub(crate) fn ydotool_socket() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("YDOTOOL_SOCKET") {
        candidates.push(path.into());
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(dir).join(".ydotool_socket"));
    }
    candidates.push("/tmp/.ydotool_socket".into());
    candidates.into_iter().find(|p| p.exists())
}

/// Whether `program` is on the PATH.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

impl ClipboardTyper {
    pub(crate) fn new(clipboard: Clipboard, paste: Paste) -> Result<Self, TypeError> {
        let (tool, package) = match clipboard {
            Clipboard::Wayland { .. } => ("wl-copy", "wl-clipboard"),
            Clipboard::X11 { .. } => ("xclip", "xclip"),
        };
        if !on_path(tool) {
            return Err(TypeError::Unavailable {
                backend: Backend::Clipboard,
                reason: format!("{tool} is not installed (package {package})"),
            });
        }
        Ok(Self { clipboard, paste })
    }

    /// Whether the user has to paste.
    pub(crate) fn manual(&self) -> bool {
        matches!(self.paste, Paste::Manual)
    }

    pub(crate) fn type_text(&mut self, text: &str) -> Result<Typed, TypeError> {
        self.copy(text)?;
        sleep(OWNER_READY);
        match &mut self.paste {
            Paste::XTest(x11) => x11.paste()?,
            Paste::Ydotool => ydotool_paste()?,
            Paste::Manual => {}
        }
        Ok(Typed {
            chars: text.chars().count(),
            untyped: String::new(),
        })
    }

    fn copy(&self, text: &str) -> Result<(), TypeError> {
        let mut command = match &self.clipboard {
            Clipboard::Wayland { socket } => {
                // An absolute WAYLAND_DISPLAY names the socket itself.
                let mut c = Command::new("wl-copy");
                c.env("WAYLAND_DISPLAY", socket);
                c
            }
            Clipboard::X11 { display } => {
                let mut c = Command::new("xclip");
                c.args(["-selection", "clipboard", "-in"])
                    .env("DISPLAY", display)
                    .env_remove("WAYLAND_DISPLAY");
                c
            }
        };
        // Both fork a process that serves the selection and outlives this call: it must not
        // hold our pipes open.
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(failed)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).map_err(failed)?;
        }
        let status = child.wait().map_err(failed)?;
        if !status.success() {
            return Err(failed(format!("the clipboard tool failed ({status})")));
        }
        Ok(())
    }
}

/// Control+V through ydotool: key codes (ydotool 1.x), else key names (0.1.x).
fn ydotool_paste() -> Result<(), TypeError> {
    let attempts: [&[&str]; 2] = [&["key", "29:1", "47:1", "47:0", "29:0"], &["key", "ctrl+v"]];
    for args in attempts {
        let status = Command::new("ydotool")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Ok(());
        }
    }
    Err(TypeError::Failed {
        backend: Backend::Ydotool,
        message: "ydotool could not press Control+V (is ydotoold running?)".into(),
    })
}
