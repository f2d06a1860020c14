//! Typing on Wayland through the `zwp_virtual_keyboard_v1` protocol (wlroots compositors —
//! sway, Hyprland, river, labwc — and others that offer it). rech uploads a keymap of its own
//! holding exactly the keysyms it types, one per key, so that the user's layout plays no part:
//! the focused client receives that keymap and the keys, and reads the characters from them.

use std::io::{Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use wayland_client::globals::{registry_queue_init, BindError, GlobalListContents};
use wayland_client::protocol::{wl_registry, wl_seat};
use wayland_client::{delegate_noop, Connection, Dispatch, EventQueue, QueueHandle};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1,
    zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1,
};

use crate::keysym::{self, Keysym};
use crate::{Backend, Session, TypeError, Typed};

/// XKB keycodes 9..=255 (evdev codes 1..=247) carry rech's keysyms.
const FIRST_KEYCODE: u32 = 9;
const MAX_KEYS: usize = 247;
/// `wl_keyboard.keymap_format.xkb_v1`.
const KEYMAP_XKB_V1: u32 = 1;
/// Keys sent between two flushes of the socket.
const FLUSH_EVERY: usize = 32;

struct State;

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(State: ignore wl_seat::WlSeat);
delegate_noop!(State: ZwpVirtualKeyboardManagerV1);
delegate_noop!(State: ZwpVirtualKeyboardV1);

/// Why a virtual keyboard could not be had.
pub(crate) enum OpenError {
    /// The compositor does not offer the protocol (GNOME, for one).
    NoVirtualKeyboard,
    Failed(TypeError),
}

pub(crate) struct WaylandTyper {
    conn: Connection,
    queue: EventQueue<State>,
    keyboard: ZwpVirtualKeyboardV1,
    /// The keysyms of the keymap uploaded last: key `i` has keycode `FIRST_KEYCODE + i`.
    keymap: Vec<Keysym>,
    clock: Instant,
    delay: Duration,
}

fn failed(err: impl std::fmt::Display) -> TypeError {
    TypeError::Failed {
        backend: Backend::Wayland,
        message: err.to_string(),
    }
}

impl WaylandTyper {
    /// Connects to the session's compositor and makes a virtual keyboard on its first seat.
    pub(crate) fn open(session: &Session, delay: Duration) -> Result<Self, OpenError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            OpenError::Failed(TypeError::Unavailable {
                backend: Backend::Wayland,
                reason: format!("cannot connect to the Wayland compositor: {e}"),
            })
        };
        let socket = session
            .wayland
            .as_ref()
            .ok_or_else(|| unavailable(&"WAYLAND_DISPLAY is not set"))?;
        let stream = UnixStream::connect(socket)
            .map_err(|e| unavailable(&format!("{}: {e}", socket.display())))?;
        let conn = Connection::from_socket(stream).map_err(|e| unavailable(&e))?;
        let (globals, mut queue) =
            registry_queue_init::<State>(&conn).map_err(|e| OpenError::Failed(failed(e)))?;
        let qh = queue.handle();
        let seat: wl_seat::WlSeat = globals.bind(&qh, 1..=1, ()).map_err(|e| match e {
            BindError::NotPresent => OpenError::Failed(TypeError::Unavailable {
                backend: Backend::Wayland,
                reason: "the compositor has no seat".into(),
            }),
            other => OpenError::Failed(failed(other)),
        })?;
        let manager: ZwpVirtualKeyboardManagerV1 =
            globals.bind(&qh, 1..=1, ()).map_err(|e| match e {
                BindError::NotPresent => OpenError::NoVirtualKeyboard,
                other => OpenError::Failed(failed(other)),
            })?;
        let keyboard = manager.create_virtual_keyboard(&seat, &qh, ());
        queue
            .roundtrip(&mut State)
            .map_err(|e| OpenError::Failed(failed(e)))?;
        Ok(Self {
            conn,
            queue,
            keyboard,
            keymap: Vec::new(),
            clock: Instant::now(),
            delay,
        })
    }

    pub(crate) fn type_text(&mut self, text: &str) -> Result<Typed, TypeError> {
        let mut typed = Typed::default();
        let mut strokes: Vec<(char, Keysym)> = Vec::new();
        for c in text.chars() {
            match keysym::for_char(c) {
                Some(sym) => strokes.push((c, sym)),
                None => typed.untyped.push(c),
            }
        }
        // A phrase with more distinct characters than a keymap holds goes in several keymaps.
        let mut rest = strokes.as_slice();
        while !rest.is_empty() {
            let mut needed: Vec<Keysym> = Vec::new();
            let mut take = 0;
            for &(_, sym) in rest {
                if !needed.contains(&sym) {
                    if needed.len() == MAX_KEYS {
                        break;
                    }
                    needed.push(sym);
                }
                take += 1;
            }
            self.ensure_keymap(&needed)?;
            for (i, &(_, sym)) in rest[..take].iter().enumerate() {
                let index = self.keymap.iter().position(|&k| k == sym).unwrap_or(0);
                // Wayland's key codes are evdev's: XKB's minus 8.
                let key = FIRST_KEYCODE + index as u32 - 8;
                let time = self.now();
                self.keyboard.key(time, key, 1);
                self.keyboard.key(time, key, 0);
                typed.chars += 1;
                if !self.delay.is_zero() {
                    self.conn.flush().map_err(failed)?;
                    sleep(self.delay);
                } else if (i + 1) % FLUSH_EVERY == 0 {
                    self.conn.flush().map_err(failed)?;
                }
            }
            rest = &rest[take..];
        }
        self.queue.roundtrip(&mut State).map_err(failed)?;
        Ok(typed)
    }

    /// Uploads a keymap holding `needed` (and what the last one held, while it fits) unless
    /// the last one already holds them all.
    fn ensure_keymap(&mut self, needed: &[Keysym]) -> Result<(), TypeError> {
        let missing: Vec<Keysym> = needed
            .iter()
            .copied()
            .filter(|s| !self.keymap.contains(s))
            .collect();
        if missing.is_empty() && !self.keymap.is_empty() {
            return Ok(());
        }
        let mut keymap = self.keymap.clone();
        keymap.extend(&missing);
        if keymap.len() > MAX_KEYS {
            keymap = needed.to_vec();
        }
        let text = keymap_text(&keymap);
        let mut file = tempfile::tempfile().map_err(failed)?;
        file.write_all(text.as_bytes()).map_err(failed)?;
        // The size counts the terminating NUL, as compositors read the keymap as a C string.
        file.write_all(&[0]).map_err(failed)?;
        file.flush().map_err(failed)?;
        file.rewind().map_err(failed)?;
        self.keyboard
            .keymap(KEYMAP_XKB_V1, file.as_fd(), text.len() as u32 + 1);
        self.keyboard.modifiers(0, 0, 0, 0);
        // The compositor has read the keymap (and sent it on to the focused client) before any
        // key that needs it.
        self.queue.roundtrip(&mut State).map_err(failed)?;
        self.keymap = keymap;
        Ok(())
    }

    fn now(&self) -> u32 {
        // Milliseconds on the keyboard's own clock; wraps after 49 days, as Wayland's do.
        self.clock.elapsed().as_millis() as u32
    }
}

impl Drop for WaylandTyper {
    fn drop(&mut self) {
        self.keyboard.destroy();
        let _ = self.conn.flush();
    }
}

/// An XKB keymap with one key per keysym, each on a single level.
fn keymap_text(keysyms: &[Keysym]) -> String {
    let mut codes = String::new();
    let mut symbols = String::new();
    for (i, &sym) in keysyms.iter().enumerate() {
        let keycode = FIRST_KEYCODE + i as u32;
        codes.push_str(&format!("    <K{keycode}> = {keycode};\n"));
        symbols.push_str(&format!(
            "    key <K{keycode}> {{ [ {} ] }};\n",
            keysym::xkb_name(sym)
        ));
    }
    format!(
        "xkb_keymap {{\n\
         xkb_keycodes \"rech\" {{\n    minimum = 8;\n    maximum = 255;\n{codes}}};\n\
         xkb_types \"rech\" {{ include \"complete\" }};\n\
         xkb_compatibility \"rech\" {{ include \"complete\" }};\n\
         xkb_symbols \"rech\" {{\n{symbols}}};\n\
         }};\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keymap_holds_one_key_per_keysym_in_order() {
        let syms: Vec<Keysym> = "Пр,".chars().filter_map(keysym::for_char).collect();
        let text = keymap_text(&syms);
        assert!(text.contains("<K9> = 9;"), "{text}");
        assert!(text.contains("key <K9> { [ U041F ] };"), "{text}");
        assert!(text.contains("key <K10> { [ U0440 ] };"), "{text}");
        assert!(text.contains("key <K11> { [ U002C ] };"), "{text}");
        assert!(text.contains("maximum = 255;"));
        // Balanced braces: xkbcommon rejects the whole keymap otherwise.
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}
