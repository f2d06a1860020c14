//! Typing text into the focused window, for dictation that writes where the user is working:
//! XTest on X11, `zwp_virtual_keyboard_v1` on Wayland, and the clipboard with a paste shortcut
//! where neither is offered (GNOME's Wayland). Every backend types the characters themselves,
//! never "the key that has them on a US keyboard", so Cyrillic comes out right on any layout;
//! what a backend cannot type is reported, never replaced.
//!
//! ```no_run
//! # fn demo() -> Result<(), rech_typer::TypeError> {
//! let mut typer = rech_typer::Typer::open(&rech_typer::TyperOptions::default())?;
//! if let Some(notice) = typer.notice() {
//!     eprintln!("{notice}");
//! }
//! let typed = typer.type_text("Привет, мир! ")?;
//! assert!(typed.untyped.is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod clipboard;
pub mod keysym;
mod wayland;
mod x11;

use std::path::PathBuf;
use std::time::Duration;

use clipboard::{Clipboard, ClipboardTyper, Paste};
use wayland::{OpenError, WaylandTyper};
use x11::X11Typer;

/// How text reaches the focused window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// X11's XTest extension.
    X11,
    /// Wayland's `zwp_virtual_keyboard_v1` (wlroots compositors and others).
    Wayland,
    /// The clipboard (`wl-copy` or `xclip`), pasted with Control+V through XTest on X11 or
    /// ydotool on Wayland where its daemon runs, or by the user.
    Clipboard,
    /// The clipboard, pasted through ydotool's daemon (`ydotoold`).
    Ydotool,
}

impl Backend {
    /// The name `--typer` takes.
    pub fn name(self) -> &'static str {
        match self {
            Backend::X11 => "x11",
            Backend::Wayland => "wayland",
            Backend::Clipboard => "clipboard",
            Backend::Ydotool => "ydotool",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to type. Plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TyperOptions {
    /// The backend; `None` picks one for the session (see [`Typer::open`]).
    pub backend: Option<Backend>,
    /// Pause after each character, for applications that drop fast input.
    pub key_delay: Duration,
}

/// What one call typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typed {
    /// Characters typed (or put on the clipboard).
    pub chars: usize,
    /// Characters that could not be typed and were left out, in order.
    pub untyped: String,
}

/// Why text could not be typed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// Neither `WAYLAND_DISPLAY` nor `DISPLAY` is set.
    #[error("no graphical session to type into (neither WAYLAND_DISPLAY nor DISPLAY is set)")]
    NoSession,
    /// The backend cannot be used in this session.
    #[error("cannot type with {backend}: {reason}")]
    Unavailable {
        /// The backend.
        backend: Backend,
        /// Why not.
        reason: String,
    },
    /// The backend failed while typing.
    #[error("typing with {backend} failed: {message}")]
    Failed {
        /// The backend.
        backend: Backend,
        /// What went wrong.
        message: String,
    },
}

enum Inner {
    X11(Box<X11Typer>),
    Wayland(Box<WaylandTyper>),
    Clipboard(ClipboardTyper),
}

/// Types into the focused window of a session.
pub struct Typer {
    inner: Inner,
    backend: Backend,
    notice: Option<String>,
}

impl std::fmt::Debug for Typer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typer")
            .field("backend", &self.backend)
            .field("notice", &self.notice)
            .finish_non_exhaustive()
    }
}

/// The graphical session to type into. Plain data; [`Session::from_env`] reads it the way
/// every client does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The Wayland compositor's socket: `$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY`, or
    /// `$WAYLAND_DISPLAY` when it is an absolute path.
    pub wayland: Option<PathBuf>,
    /// The X display (`$DISPLAY`), which on Wayland is XWayland's.
    pub x11: Option<String>,
    /// `$XDG_CURRENT_DESKTOP`: `GNOME`, `KDE`, `sway`, …
    pub desktop: String,
}

impl Session {
    /// The session this process runs in.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let wayland = var("WAYLAND_DISPLAY").map(|display| {
            let display = PathBuf::from(display);
            match var("XDG_RUNTIME_DIR") {
                Some(dir) if display.is_relative() => PathBuf::from(dir).join(display),
                _ => display,
            }
        });
        Self {
            wayland,
            x11: var("DISPLAY").map(|d| d.to_string_lossy().into_owned()),
            desktop: std::env::var("XDG_CURRENT_DESKTOP").unwrap_or_default(),
        }
    }

    fn gnome(&self) -> bool {
        self.desktop
            .split(':')
            .any(|d| d.eq_ignore_ascii_case("gnome"))
    }
}

impl Typer {
    /// Opens the backend `options` names, or the best one for the session: on Wayland the
    /// virtual keyboard, else the clipboard (pasted through ydotool where its daemon runs);
    /// on X11 XTest, else the clipboard. A fallback comes with a [`notice`](Self::notice).
    pub fn open(options: &TyperOptions) -> Result<Self, TypeError> {
        Self::open_in(options, &Session::from_env())
    }

    /// [`open`](Self::open) for a given session rather than this process's.
    pub fn open_in(options: &TyperOptions, session: &Session) -> Result<Self, TypeError> {
        let delay = options.key_delay;
        match options.backend {
            Some(Backend::X11) => {
                if session.x11.is_none() {
                    return Err(unavailable(Backend::X11, "DISPLAY is not set"));
                }
                match X11Typer::open(session, delay)? {
                    Some(x11) => Ok(Self::plain(Inner::X11(Box::new(x11)), Backend::X11)),
                    None => Err(unavailable(
                        Backend::X11,
                        "the X server has no XTest extension",
                    )),
                }
            }
            Some(Backend::Wayland) => {
                if session.wayland.is_none() {
                    return Err(unavailable(Backend::Wayland, "WAYLAND_DISPLAY is not set"));
                }
                match WaylandTyper::open(session, delay) {
                    Ok(w) => Ok(Self::plain(Inner::Wayland(Box::new(w)), Backend::Wayland)),
                    Err(OpenError::NoVirtualKeyboard) => Err(unavailable(
                        Backend::Wayland,
                        "the compositor offers no virtual keyboard (zwp_virtual_keyboard_v1)",
                    )),
                    Err(OpenError::Failed(e)) => Err(e),
                }
            }
            Some(Backend::Clipboard) => Self::clipboard(session, delay, None),
            Some(Backend::Ydotool) => {
                if !clipboard::on_path("ydotool") {
                    return Err(unavailable(Backend::Ydotool, "ydotool is not installed"));
                }
                if clipboard::ydotool_socket().is_none() {
                    return Err(unavailable(
                        Backend::Ydotool,
                        "ydotoold is not running (no ydotool socket)",
                    ));
                }
                let clipboard = Clipboard::of(session).ok_or(TypeError::NoSession)?;
                let typer = ClipboardTyper::new(clipboard, Paste::Ydotool)?;
                Ok(Self::plain(Inner::Clipboard(typer), Backend::Ydotool))
            }
            None if session.wayland.is_some() => match WaylandTyper::open(session, delay) {
                Ok(w) => Ok(Self::plain(Inner::Wayland(Box::new(w)), Backend::Wayland)),
                Err(OpenError::NoVirtualKeyboard) => {
                    let why = if session.gnome() {
                        "GNOME's Wayland has no virtual keyboard for other programs"
                    } else {
                        "this compositor offers no virtual keyboard (zwp_virtual_keyboard_v1)"
                    };
                    Self::clipboard(session, delay, Some(why))
                }
                Err(OpenError::Failed(e)) => Err(e),
            },
            None if session.x11.is_some() => match X11Typer::open(session, delay)? {
                Some(x11) => Ok(Self::plain(Inner::X11(Box::new(x11)), Backend::X11)),
                None => Self::clipboard(session, delay, Some("the X server has no XTest")),
            },
            None => Err(TypeError::NoSession),
        }
    }

    fn plain(inner: Inner, backend: Backend) -> Self {
        Self {
            inner,
            backend,
            notice: None,
        }
    }

    /// The clipboard, pasted by the best means the session has; `why` says why it is used.
    fn clipboard(session: &Session, delay: Duration, why: Option<&str>) -> Result<Self, TypeError> {
        let clipboard = Clipboard::of(session).ok_or(TypeError::NoSession)?;
        let paste = match clipboard {
            Clipboard::Wayland { .. } => {
                if clipboard::on_path("ydotool") && clipboard::ydotool_socket().is_some() {
                    Paste::Ydotool
                } else {
                    Paste::Manual
                }
            }
            Clipboard::X11 { .. } => match X11Typer::open(session, delay)? {
                Some(x11) => Paste::XTest(Box::new(x11)),
                None => Paste::Manual,
            },
        };
        let typer = ClipboardTyper::new(clipboard, paste)?;
        let how = if typer.manual() {
            "each phrase goes to the clipboard: paste it with Control+V (with ydotoold running, rech pastes it)"
        } else {
            "each phrase goes to the clipboard and is pasted with Control+V"
        };
        let notice = match why {
            Some(why) => format!("{why}: {how}"),
            None => how.to_owned(),
        };
        Ok(Self {
            inner: Inner::Clipboard(typer),
            backend: Backend::Clipboard,
            notice: Some(notice),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A line for the user when the backend is a fallback, or pastes only with their help.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Types `text` into the focused window; returns when the display server has it.
    pub fn type_text(&mut self, text: &str) -> Result<Typed, TypeError> {
        if text.is_empty() {
            return Ok(Typed::default());
        }
        match &mut self.inner {
            Inner::X11(x11) => x11.type_text(text),
            Inner::Wayland(wayland) => wayland.type_text(text),
            Inner::Clipboard(clipboard) => clipboard.type_text(text),
        }
    }
}

fn unavailable(backend: Backend, reason: &str) -> TypeError {
    TypeError::Unavailable {
        backend,
        reason: reason.to_owned(),
    }
}
