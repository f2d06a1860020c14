//! Typing on X11 through the XTest extension. A character the current layout has on a key is
//! typed with that key (and Shift where it sits on the second level); any other character —
//! Cyrillic on a `us` layout, «—» or «…» on a `ru` one, or everything while another group or
//! Caps Lock is active — is typed through a spare keycode that rech maps to the character's
//! keysym for the time it needs it, and clears again when it is done.

use std::collections::HashMap;
use std::thread::sleep;
use std::time::Duration;

use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::protocol::xproto::{
    ConnectionExt as _, KeyButMask, Keycode, Window, KEY_PRESS_EVENT, KEY_RELEASE_EVENT,
};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use crate::keysym::{self, Keysym, CAPS_LOCK, CONTROL_L, NO_SYMBOL, SHIFT_L};
use crate::{Backend, Session, TypeError, Typed};

/// How long clients get to read the keys typed with a spare keycode before it is given another
/// keysym: they look a keycode up when they handle its event, against the mapping of that moment.
const SETTLE: Duration = Duration::from_millis(50);

/// One character's keys.
#[derive(Clone, Copy)]
enum Stroke {
    /// A key of the layout, inside a modifier (Shift) where given.
    Key(Keycode, Option<Keycode>),
    /// A keysym of rech's own on a spare keycode.
    Own(char, Keysym),
}

/// The keyboard as the X server has it when a phrase is typed.
struct Layout {
    /// Characters on keys of the layout: keycode and whether Shift is needed.
    keys: HashMap<char, (Keycode, bool)>,
    shift: Option<Keycode>,
    control: Option<Keycode>,
    caps_lock: Option<Keycode>,
    /// Caps Lock is on.
    locked: bool,
    /// What `plain` would be with Caps Lock off.
    plain_without_lock: bool,
    /// Keycodes with no keysym at all, not in use by rech.
    free: Vec<Keycode>,
    /// No modifier held or locked and the first group active: the layout's keys type what
    /// their first two levels say.
    plain: bool,
}

pub(crate) struct X11Typer {
    conn: RustConnection,
    root: Window,
    min_keycode: Keycode,
    max_keycode: Keycode,
    delay: Duration,
    /// rech's keysyms on spare keycodes, least recently used first.
    scratch: Vec<(Keycode, Keysym)>,
}

fn failed(err: impl std::fmt::Display) -> TypeError {
    TypeError::Failed {
        backend: Backend::X11,
        message: err.to_string(),
    }
}

impl X11Typer {
    /// Connects to the session's X display; `Ok(None)` when the server has no XTest extension.
    pub(crate) fn open(session: &Session, delay: Duration) -> Result<Option<Self>, TypeError> {
        let display = session.x11.as_deref();
        let (conn, screen) = x11rb::connect(display).map_err(|e| TypeError::Unavailable {
            backend: Backend::X11,
            reason: format!(
                "cannot connect to the X server {}: {e}",
                display.unwrap_or("(DISPLAY is not set)")
            ),
        })?;
        if conn
            .extension_information(xtest::X11_EXTENSION_NAME)
            .map_err(failed)?
            .is_none()
        {
            return Ok(None);
        }
        let setup = conn.setup();
        let root = setup
            .roots
            .get(screen)
            .map(|s| s.root)
            .ok_or_else(|| failed(format!("the X server has no screen {screen}")))?;
        let (min_keycode, max_keycode) = (setup.min_keycode, setup.max_keycode);
        Ok(Some(Self {
            conn,
            root,
            min_keycode,
            max_keycode,
            delay,
            scratch: Vec::new(),
        }))
    }

    fn layout(&mut self) -> Result<Layout, TypeError> {
        let count = self.max_keycode - self.min_keycode + 1;
        let reply = self
            .conn
            .get_keyboard_mapping(self.min_keycode, count)
            .map_err(failed)?
            .reply()
            .map_err(failed)?;
        let per = usize::from(reply.keysyms_per_keycode).max(1);
        let mut layout = Layout {
            keys: HashMap::new(),
            shift: None,
            control: None,
            caps_lock: None,
            locked: false,
            plain_without_lock: false,
            free: Vec::new(),
            plain: false,
        };
        let mut still_ours = Vec::new();
        for (offset, syms) in reply.keysyms.chunks(per).enumerate() {
            let keycode = self.min_keycode + offset as u8;
            if let Some(&(_, ours)) = self.scratch.iter().find(|(k, _)| *k == keycode) {
                // A layout switch rewrites the whole mapping; a keycode that lost rech's keysym
                // is the layout's again.
                if syms[0] == ours {
                    still_ours.push(keycode);
                    continue;
                }
            }
            if syms.iter().all(|&s| s == NO_SYMBOL) {
                layout.free.push(keycode);
                continue;
            }
            match syms[0] {
                SHIFT_L => layout.shift = layout.shift.or(Some(keycode)),
                CONTROL_L => layout.control = layout.control.or(Some(keycode)),
                CAPS_LOCK => layout.caps_lock = layout.caps_lock.or(Some(keycode)),
                _ => {}
            }
            for (level, &sym) in syms.iter().take(2).enumerate() {
                if let Some(c) = keysym::to_char(sym) {
                    let entry = layout.keys.entry(c).or_insert((keycode, level == 1));
                    // The first level wins over a shifted one elsewhere.
                    if entry.1 && level == 0 {
                        *entry = (keycode, false);
                    }
                }
            }
        }
        self.scratch.retain(|(k, _)| still_ours.contains(k));
        // Highest first, so that `pop` hands out the lowest.
        layout.free.reverse();
        let pointer = self
            .conn
            .query_pointer(self.root)
            .map_err(failed)?
            .reply()
            .map_err(failed)?;
        let mask = u16::from(pointer.mask);
        // Mod2 is Num Lock, which letters and punctuation do not care about.
        let modifiers = u16::from(
            KeyButMask::SHIFT
                | KeyButMask::LOCK
                | KeyButMask::CONTROL
                | KeyButMask::MOD1
                | KeyButMask::MOD3
                | KeyButMask::MOD4
                | KeyButMask::MOD5,
        );
        // Bits 13 and 14 of the state are XKB's group.
        let group = (mask >> 13) & 3;
        let lock = u16::from(KeyButMask::LOCK);
        layout.locked = mask & lock != 0;
        layout.plain = mask & modifiers == 0 && group == 0;
        layout.plain_without_lock = mask & modifiers & !lock == 0 && group == 0;
        Ok(layout)
    }

    pub(crate) fn type_text(&mut self, text: &str) -> Result<Typed, TypeError> {
        // Modifiers the user holds (the key bound to `rech dictate ctl`, say) would turn the
        // characters into shortcuts: they are released for the phrase and pressed again after,
        // as `xdotool --clearmodifiers` does.
        let held = self.held_modifiers()?;
        for &keycode in &held {
            self.fake(false, keycode)?;
        }
        let typed = self.type_plain(text);
        for &keycode in held.iter().rev() {
            self.fake(true, keycode)?;
        }
        if !held.is_empty() {
            self.sync()?;
        }
        typed
    }

    /// Modifier keys held down now, but not Lock or Num Lock (Mod2), which are locks.
    fn held_modifiers(&self) -> Result<Vec<Keycode>, TypeError> {
        let pressed = self
            .conn
            .query_keymap()
            .map_err(failed)?
            .reply()
            .map_err(failed)?
            .keys;
        let mapping = self
            .conn
            .get_modifier_mapping()
            .map_err(failed)?
            .reply()
            .map_err(failed)?;
        let per = usize::from(mapping.keycodes_per_modifier()).max(1);
        let mut held = Vec::new();
        for (modifier, keycodes) in mapping.keycodes.chunks(per).enumerate() {
            // Shift, Lock, Control, Mod1, …, Mod5.
            if modifier == 1 || modifier == 4 {
                continue;
            }
            for &keycode in keycodes.iter().filter(|&&k| k != 0) {
                let down = pressed[usize::from(keycode / 8)] & (1 << (keycode % 8)) != 0;
                if down && !held.contains(&keycode) {
                    held.push(keycode);
                }
            }
        }
        Ok(held)
    }

    fn type_plain(&mut self, text: &str) -> Result<Typed, TypeError> {
        let mut layout = self.layout()?;
        // Caps Lock would turn rech's own letters upper case: it is switched off for the
        // phrase, and on again after.
        let caps = match (layout.locked, layout.caps_lock) {
            (true, Some(caps)) => {
                self.stroke(caps, None)?;
                layout.plain = layout.plain_without_lock;
                Some(caps)
            }
            _ => None,
        };
        let mut typed = Typed::default();
        let mut strokes = Vec::new();
        for c in text.chars() {
            let Some(sym) = keysym::for_char(c) else {
                typed.untyped.push(c);
                continue;
            };
            let on_layout = layout.keys.get(&c).filter(|_| layout.plain).and_then(
                |&(keycode, shifted)| match (shifted, layout.shift) {
                    (false, _) => Some(Stroke::Key(keycode, None)),
                    (true, Some(shift)) => Some(Stroke::Key(keycode, Some(shift))),
                    (true, None) => None,
                },
            );
            strokes.push(on_layout.unwrap_or(Stroke::Own(c, sym)));
        }
        let capacity = layout.free.len() + self.scratch.len();
        let mut rest = strokes.as_slice();
        while !rest.is_empty() {
            // As many strokes as the spare keycodes can carry at once.
            let mut needed: Vec<Keysym> = Vec::new();
            let mut take = 0;
            for stroke in rest {
                if let Stroke::Own(_, sym) = *stroke {
                    if !needed.contains(&sym) {
                        if needed.len() == capacity {
                            break;
                        }
                        needed.push(sym);
                    }
                }
                take += 1;
            }
            let remapped = self.map_own(&needed, &mut layout.free)?;
            eprintln!(
                "chunk take={take} needed={} capacity={capacity} plain={} remapped={remapped}",
                needed.len(),
                layout.plain
            );
            if remapped {
                // Clients learn of a new mapping from an event and fetch it when they handle
                // it: they get the time to do so before the first key that needs it.
                self.sync()?;
                sleep(SETTLE);
            }
            for stroke in &rest[..take] {
                match *stroke {
                    Stroke::Key(keycode, modifier) => self.stroke(keycode, modifier)?,
                    Stroke::Own(c, sym) => {
                        match self.scratch.iter().find(|(_, s)| *s == sym) {
                            Some(&(keycode, _)) => self.stroke(keycode, None)?,
                            // No spare keycode at all.
                            None => {
                                typed.untyped.push(c);
                                continue;
                            }
                        }
                    }
                }
                typed.chars += 1;
            }
            rest = &rest[take..];
            if !rest.is_empty() {
                // The next group remaps keycodes this one used: its keys are read first.
                self.sync()?;
                sleep(SETTLE);
            }
        }
        if let Some(caps) = caps {
            self.stroke(caps, None)?;
        }
        self.sync()?;
        Ok(typed)
    }

    /// Puts each of `needed` on a keycode of rech's: kept where it already is, else on a free
    /// keycode, else on the least recently used one that `needed` does not hold. Returns
    /// whether the mapping changed.
    fn map_own(&mut self, needed: &[Keysym], free: &mut Vec<Keycode>) -> Result<bool, TypeError> {
        let mut changed = false;
        for &sym in needed {
            if let Some(i) = self.scratch.iter().position(|&(_, s)| s == sym) {
                let entry = self.scratch.remove(i);
                self.scratch.push(entry);
                continue;
            }
            let keycode = match free.pop() {
                Some(keycode) => keycode,
                None => {
                    let Some(i) = self.scratch.iter().position(|(_, s)| !needed.contains(s)) else {
                        break;
                    };
                    self.scratch.remove(i).0
                }
            };
            self.conn
                .change_keyboard_mapping(1, keycode, 2, &[sym, sym])
                .map_err(failed)?;
            self.scratch.push((keycode, sym));
            changed = true;
        }
        Ok(changed)
    }

    fn fake(&self, press: bool, keycode: Keycode) -> Result<(), TypeError> {
        let kind = if press {
            KEY_PRESS_EVENT
        } else {
            KEY_RELEASE_EVENT
        };
        self.conn
            .xtest_fake_input(kind, keycode, x11rb::CURRENT_TIME, self.root, 0, 0, 0)
            .map_err(failed)?;
        Ok(())
    }

    /// Presses and releases `keycode`, inside `modifier` when given.
    fn stroke(&self, keycode: Keycode, modifier: Option<Keycode>) -> Result<(), TypeError> {
        if let Some(m) = modifier {
            self.fake(true, m)?;
        }
        self.fake(true, keycode)?;
        self.fake(false, keycode)?;
        if let Some(m) = modifier {
            self.fake(false, m)?;
        }
        if !self.delay.is_zero() {
            self.conn.flush().map_err(failed)?;
            sleep(self.delay);
        }
        Ok(())
    }

    /// Control+V, the paste shortcut, whatever letter the layout has on V's key.
    pub(crate) fn paste(&mut self) -> Result<(), TypeError> {
        let mut layout = self.layout()?;
        let control = layout
            .control
            .ok_or_else(|| failed("the keyboard has no Control key"))?;
        let v = match layout.keys.get(&'v') {
            Some(&(keycode, false)) if layout.plain => keycode,
            _ => {
                let v = u32::from('v');
                if self.map_own(&[v], &mut layout.free)? {
                    self.sync()?;
                    sleep(SETTLE);
                }
                self.scratch
                    .iter()
                    .find(|(_, s)| *s == v)
                    .map(|&(keycode, _)| keycode)
                    .ok_or_else(|| failed("no keycode is free for the V of Control+V"))?
            }
        };
        self.stroke(v, Some(control))?;
        self.sync()
    }

    /// Waits until the server has handled everything sent.
    fn sync(&self) -> Result<(), TypeError> {
        self.conn
            .get_input_focus()
            .map_err(failed)?
            .reply()
            .map_err(failed)?;
        Ok(())
    }
}

impl Drop for X11Typer {
    fn drop(&mut self) {
        if self.scratch.is_empty() {
            return;
        }
        // The last keys typed are looked up when their client gets to them.
        let _ = self.sync();
        sleep(SETTLE);
        for &(keycode, _) in &self.scratch {
            let _ = self
                .conn
                .change_keyboard_mapping(1, keycode, 2, &[NO_SYMBOL, NO_SYMBOL]);
        }
        let _ = self.sync();
    }
}
