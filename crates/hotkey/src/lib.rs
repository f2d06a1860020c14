//! A global push-to-talk key for rech's dictation: press and release of one key combination,
//! wherever the focus is, from whichever source the desktop offers — an X11 passive grab, the
//! XDG desktop portal's GlobalShortcuts on Wayland, or the kernel's input devices — each
//! failure one sentence that says what is missing and what to do.
//!
//! ```no_run
//! use rech_hotkey::{Hotkey, KeyEvent, Listener};
//!
//! let key: Hotkey = "Super+grave".parse()?;
//! let listener = Listener::start(&key, None, Box::new(|event| match event {
//!     KeyEvent::Pressed => println!("listening"),
//!     KeyEvent::Released => println!("done"),
//! }))?;
//! println!("press and hold {key} (through {})", listener.backend());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

#[cfg(feature = "portal")]
pub mod cue;
mod evdev;
mod keys;
#[cfg(feature = "portal")]
mod portal;
mod x11;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use keys::{find_key, Hotkey, Key, Modifiers, ParseError};

/// Where key presses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A passive grab on the X server (XGrabKey), with XKB's detectable auto-repeat.
    X11,
    /// The XDG desktop portal's GlobalShortcuts (KDE, GNOME 48+, Hyprland): the desktop asks
    /// the user to confirm the key once.
    Portal,
    /// The kernel's input devices under `/dev/input` (needs the `input` group).
    Evdev,
}

impl Backend {
    /// Every backend, in the order they are tried.
    pub const ALL: [Backend; 3] = [Self::X11, Self::Portal, Self::Evdev];

    /// The word `--hotkey-backend` takes.
    pub fn word(self) -> &'static str {
        match self {
            Self::X11 => "x11",
            Self::Portal => "portal",
            Self::Evdev => "evdev",
        }
    }

    /// The backend this session should use: the portal on Wayland, the X server on X11,
    /// the input devices with neither.
    pub fn for_session() -> Backend {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if set("WAYLAND_DISPLAY") {
            Self::Portal
        } else if set("DISPLAY") {
            Self::X11
        } else {
            Self::Evdev
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X11 => "an X11 key grab",
            Self::Portal => "the desktop portal's global shortcuts",
            Self::Evdev => "the input devices",
        })
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.word().eq_ignore_ascii_case(word))
            .ok_or_else(|| format!("unknown hotkey backend {word:?} (x11, portal or evdev)"))
    }
}

/// What the key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// Pressed (auto-repeat while it is held is not reported).
    Pressed,
    /// Released.
    Released,
}

/// Why the hotkey cannot be listened for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HotkeyError {
    /// No X display to grab the key on.
    #[error("an X11 key grab needs an X display, and DISPLAY is not set")]
    NoDisplay,
    /// The X server could not be reached.
    #[error("cannot connect to the X display {display}: {detail}")]
    X11 {
        /// `DISPLAY`.
        display: String,
        /// Why.
        detail: String,
    },
    /// Another program holds the key.
    #[error("{hotkey} is already taken by another program: choose another key with --hotkey")]
    Taken {
        /// The key, as rech writes it.
        hotkey: String,
    },
    /// The keyboard's layout has no key that makes this keysym.
    #[error("no key on this keyboard makes {key} (choose another key with --hotkey)")]
    NotOnKeyboard {
        /// The key's name.
        key: String,
    },
    /// No portal, or one without global shortcuts.
    #[error(
        "no desktop portal with global shortcuts on this session ({detail}): use \
         --hotkey-backend evdev, or bind `rech dictate ctl start` and `stop` in your compositor"
    )]
    NoPortal {
        /// What the bus said.
        detail: String,
    },
    /// The portal or the user refused the shortcut.
    #[error("the desktop did not bind {hotkey}: {detail}")]
    NotBound {
        /// The key.
        hotkey: String,
        /// Why.
        detail: String,
    },
    /// The portal built without its feature.
    #[error("this rech was built without the desktop portal (the `portal` feature)")]
    PortalNotBuilt,
    /// No input device can be read.
    #[error(
        "cannot read the keyboards under {}: add yourself to the input group (sudo usermod -aG \
         input $USER) and log in again, or use another --hotkey-backend",
        dir.display()
    )]
    NoInputAccess {
        /// The directory of input devices.
        dir: PathBuf,
    },
    /// There are no input devices at all.
    #[error("there are no input devices under {}", dir.display())]
    NoInputDevices {
        /// The directory.
        dir: PathBuf,
    },
    /// The listening thread could not be started.
    #[error("cannot start the hotkey thread")]
    Thread,
}

/// Where the evdev backend looks for devices (`/dev/input`; a test points it elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The directory of `event*` devices.
    pub input_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            input_dir: PathBuf::from("/dev/input"),
        }
    }
}

/// What a listener tells its owner.
pub type OnKey = Box<dyn FnMut(KeyEvent) + Send>;

/// State the backends share with their owner.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Raised when the listener is dropped.
    pub stop: AtomicBool,
    /// Presses that were the key repeating while held, not reported.
    pub repeats: AtomicU64,
}

/// Listens for the hotkey until dropped (the grab or the shortcut is released then).
pub struct Listener {
    backend: Backend,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// What the portal bound the key to, as the desktop describes it.
    bound_as: Option<String>,
    /// The portal's session, closed when the listener goes.
    #[cfg(feature = "portal")]
    _session: Option<portal::Session>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Starts listening for `hotkey` through `backend` (default: [`Backend::for_session`]);
    /// `on_key` is called on a thread of the listener's for each press and release. Fails,
    /// before returning, when the backend cannot deliver the key.
    pub fn start(
        hotkey: &Hotkey,
        backend: Option<Backend>,
        on_key: OnKey,
    ) -> Result<Self, HotkeyError> {
        Self::start_with(hotkey, backend, &Options::default(), on_key)
    }

    /// [`Listener::start`] with options.
    pub fn start_with(
        hotkey: &Hotkey,
        backend: Option<Backend>,
        options: &Options,
        on_key: OnKey,
    ) -> Result<Self, HotkeyError> {
        let backend = backend.unwrap_or_else(Backend::for_session);
        let shared = Arc::new(Shared::default());
        #[cfg(feature = "portal")]
        let mut session = None;
        let (thread, bound_as) = match backend {
            Backend::X11 => (x11::start(hotkey, Arc::clone(&shared), on_key)?, None),
            Backend::Evdev => (
                evdev::start(hotkey, &options.input_dir, Arc::clone(&shared), on_key)?,
                None,
            ),
            #[cfg(feature = "portal")]
            Backend::Portal => {
                let (thread, opened, bound) = portal::start(hotkey, Arc::clone(&shared), on_key)?;
                session = Some(opened);
                (thread, Some(bound))
            }
            #[cfg(not(feature = "portal"))]
            Backend::Portal => return Err(HotkeyError::PortalNotBuilt),
        };
        Ok(Self {
            backend,
            shared,
            thread,
            bound_as,
            #[cfg(feature = "portal")]
            _session: session,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The trigger the desktop bound (the portal's own description), where it said one.
    pub fn bound_as(&self) -> Option<&str> {
        self.bound_as.as_deref()
    }

    /// Presses that were the key repeating while it was held, and were not reported.
    pub fn repeats_ignored(&self) -> u64 {
        self.shared.repeats.load(Ordering::Relaxed)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The X11 thread sees the flag within its poll interval and lets go of the grab; the
        // portal's session is closed with the listener (its thread waits for the bus), and
        // evdev's readers may sit in a blocking read: both are left to end with the process.
        if self.backend == Backend::X11 {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
