//! The one key syntax rech takes everywhere (`Super+grave`, `F9`, `Ctrl+Alt+d`) and what each
//! backend calls the same key: an X keysym, a Linux input event code, and the trigger string of
//! the freedesktop shortcuts specification (`LOGO+grave`) that the portal wants.

use std::fmt;
use std::str::FromStr;

/// The modifiers a hotkey can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Modifiers {
    /// Control.
    pub ctrl: bool,
    /// Alt.
    pub alt: bool,
    /// Shift.
    pub shift: bool,
    /// Super (the Windows or Command key; the shortcuts specification's LOGO).
    pub super_key: bool,
}

/// A key that is not a modifier, as every backend names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The name rech writes (an X keysym name: `grave`, `F9`, `d`).
    pub name: &'static str,
    /// Its X keysym.
    pub keysym: u32,
    /// Its Linux input event code (`KEY_*` in `linux/input-event-codes.h`).
    pub evdev: u16,
}

/// A key with its modifiers: what `--hotkey` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hotkey {
    /// The modifiers held with the key.
    pub modifiers: Modifiers,
    /// The key itself.
    pub key: Key,
}

/// Why a hotkey could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing was given.
    #[error("the hotkey is empty: give a key such as F9, Super+grave or Ctrl+Alt+d")]
    Empty,
    /// A part is neither a modifier nor a key rech knows.
    #[error(
        "unknown key {0:?} in the hotkey: use Ctrl, Alt, Shift or Super with a letter, a digit, \
         F1-F24 or a key name such as grave, space, Pause, Scroll_Lock, Insert, Menu"
    )]
    UnknownKey(String),
    /// Only modifiers were given, or a modifier came last.
    #[error("the hotkey {0:?} has no key after its modifiers (for example Super+grave)")]
    NoKey(String),
    /// Two keys that are not modifiers.
    #[error("the hotkey {0:?} names more than one key: one key, after any modifiers")]
    TwoKeys(String),
}

/// Keys by name: (name, keysym, evdev code). Letters, digits and F-keys are added by
/// [`find_key`].
const NAMED: &[(&str, u32, u16)] = &[
    ("grave", 0x60, 41),
    ("minus", 0x2d, 12),
    ("equal", 0x3d, 13),
    ("bracketleft", 0x5b, 26),
    ("bracketright", 0x5d, 27),
    ("backslash", 0x5c, 43),
    ("semicolon", 0x3b, 39),
    ("apostrophe", 0x27, 40),
    ("comma", 0x2c, 51),
    ("period", 0x2e, 52),
    ("slash", 0x2f, 53),
    ("space", 0x20, 57),
    ("Escape", 0xff1b, 1),
    ("Tab", 0xff09, 15),
    ("Return", 0xff0d, 28),
    ("BackSpace", 0xff08, 14),
    ("Insert", 0xff63, 110),
    ("Delete", 0xffff, 111),
    ("Home", 0xff50, 102),
    ("End", 0xff57, 107),
    ("Page_Up", 0xff55, 104),
    ("Page_Down", 0xff56, 109),
    ("Left", 0xff51, 105),
    ("Up", 0xff52, 103),
    ("Right", 0xff53, 106),
    ("Down", 0xff54, 108),
    ("Print", 0xff61, 99),
    ("Menu", 0xff67, 127),
    ("Pause", 0xff13, 119),
    ("Scroll_Lock", 0xff14, 70),
];

/// Other spellings people write for the named keys.
const ALIASES: &[(&str, &str)] = &[
    ("backtick", "grave"),
    ("`", "grave"),
    ("esc", "Escape"),
    ("enter", "Return"),
    ("pageup", "Page_Up"),
    ("pagedown", "Page_Down"),
    ("scrolllock", "Scroll_Lock"),
    ("printscreen", "Print"),
    ("ins", "Insert"),
    ("del", "Delete"),
];

/// Letters by their evdev codes (QWERTY positions, which is what the kernel reports).
const LETTER_CODES: [u16; 26] = [
    30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45,
    21, 44,
];
const LETTER_NAMES: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "w", "x", "y", "z",
];
const DIGIT_NAMES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const F_NAMES: [&str; 24] = [
    "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12", "F13", "F14", "F15",
    "F16", "F17", "F18", "F19", "F20", "F21", "F22", "F23", "F24",
];

/// The key called `word` (case does not matter except that a single letter is that letter).
pub fn find_key(word: &str) -> Option<Key> {
    let lower = word.to_ascii_lowercase();
    if lower.len() == 1 {
        let c = lower.as_bytes()[0];
        if c.is_ascii_lowercase() {
            let i = usize::from(c - b'a');
            return Some(Key {
                name: LETTER_NAMES[i],
                keysym: u32::from(c),
                evdev: LETTER_CODES[i],
            });
        }
        if c.is_ascii_digit() {
            let i = usize::from(c - b'0');
            return Some(Key {
                name: DIGIT_NAMES[i],
                keysym: u32::from(c),
                // KEY_1 is 2 … KEY_9 is 10, KEY_0 is 11.
                evdev: if i == 0 { 11 } else { 1 + i as u16 },
            });
        }
    }
    if let Some(n) = lower
        .strip_prefix('f')
        .and_then(|n| n.parse::<usize>().ok())
    {
        if (1..=24).contains(&n) && !lower[1..].starts_with('0') {
            let evdev = match n {
                1..=10 => 58 + n as u16,
                11 => 87,
                12 => 88,
                _ => 183 + (n as u16 - 13),
            };
            return Some(Key {
                name: F_NAMES[n - 1],
                keysym: 0xffbe + n as u32 - 1,
                evdev,
            });
        }
    }
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map_or(word, |(_, name)| *name);
    NAMED
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(canonical))
        .map(|&(name, keysym, evdev)| Key {
            name,
            keysym,
            evdev,
        })
}

/// Which modifier `word` names, if any.
fn modifier(word: &str) -> Option<fn(&mut Modifiers)> {
    match word.to_ascii_lowercase().as_str() {
        "ctrl" | "control" => Some(|m| m.ctrl = true),
        "alt" | "mod1" => Some(|m| m.alt = true),
        "shift" => Some(|m| m.shift = true),
        "super" | "logo" | "win" | "meta" | "mod4" | "cmd" => Some(|m| m.super_key = true),
        _ => None,
    }
}

impl FromStr for Hotkey {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut modifiers = Modifiers::default();
        let mut key = None;
        for word in text.split('+').map(str::trim) {
            if key.is_some() {
                // A key must come last; a modifier after it is as wrong as a second key.
                return Err(match modifier(word) {
                    Some(_) => ParseError::NoKey(text.to_owned()),
                    None => ParseError::TwoKeys(text.to_owned()),
                });
            }
            if let Some(set) = modifier(word) {
                set(&mut modifiers);
            } else {
                key = Some(find_key(word).ok_or_else(|| ParseError::UnknownKey(word.to_owned()))?);
            }
        }
        let key = key.ok_or_else(|| ParseError::NoKey(text.to_owned()))?;
        Ok(Self { modifiers, key })
    }
}

impl Hotkey {
    /// The trigger the freedesktop shortcuts specification writes (`LOGO+grave`, `CTRL+ALT+d`):
    /// what the portal is asked to bind.
    pub fn portal_trigger(&self) -> String {
        let mut parts = Vec::new();
        let m = self.modifiers;
        for (on, name) in [
            (m.ctrl, "CTRL"),
            (m.alt, "ALT"),
            (m.shift, "SHIFT"),
            (m.super_key, "LOGO"),
        ] {
            if on {
                parts.push(name);
            }
        }
        parts.push(self.key.name);
        parts.join("+")
    }
}

impl fmt::Display for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.modifiers;
        for (on, name) in [
            (m.ctrl, "Ctrl"),
            (m.alt, "Alt"),
            (m.shift, "Shift"),
            (m.super_key, "Super"),
        ] {
            if on {
                write!(f, "{name}+")?;
            }
        }
        f.write_str(self.key.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Hotkey {
        text.parse().unwrap()
    }

    #[test]
    fn the_usual_hotkeys_read_as_one_key_with_modifiers() {
        let h = parse("Super+grave");
        assert!(h.modifiers.super_key && !h.modifiers.ctrl);
        assert_eq!((h.key.name, h.key.keysym, h.key.evdev), ("grave", 0x60, 41));
        assert_eq!(h.portal_trigger(), "LOGO+grave");

        let h = parse("ctrl + alt + D");
        assert_eq!(h.to_string(), "Ctrl+Alt+d");
        assert_eq!((h.key.keysym, h.key.evdev), (0x64, 32));
        assert_eq!(h.portal_trigger(), "CTRL+ALT+d");

        for (text, keysym, evdev) in [
            ("F9", 0xffc6, 67),
            ("f1", 0xffbe, 59),
            ("F11", 0xffc8, 87),
            ("F12", 0xffc9, 88),
            ("F13", 0xffca, 183),
            ("F24", 0xffd5, 194),
            ("1", 0x31, 2),
            ("0", 0x30, 11),
            ("scroll_lock", 0xff14, 70),
            ("Pause", 0xff13, 119),
            ("esc", 0xff1b, 1),
            ("backtick", 0x60, 41),
            ("Win+space", 0x20, 57),
        ] {
            let h = parse(text);
            assert_eq!((h.key.keysym, h.key.evdev), (keysym, evdev), "{text}");
        }
        assert_eq!(parse("Meta+Shift+F9").to_string(), "Shift+Super+F9");
    }

    #[test]
    fn wrong_hotkeys_say_what_is_wrong() {
        assert_eq!("".parse::<Hotkey>(), Err(ParseError::Empty));
        assert_eq!(
            "Super+".parse::<Hotkey>(),
            Err(ParseError::UnknownKey(String::new()))
        );
        assert_eq!(
            "Ctrl+Alt".parse::<Hotkey>(),
            Err(ParseError::NoKey("Ctrl+Alt".into()))
        );
        assert_eq!(
            "a+b".parse::<Hotkey>(),
            Err(ParseError::TwoKeys("a+b".into()))
        );
        assert_eq!(
            "F25".parse::<Hotkey>(),
            Err(ParseError::UnknownKey("F25".into()))
        );
        assert_eq!(
            "F09".parse::<Hotkey>(),
            Err(ParseError::UnknownKey("F09".into()))
        );
        assert_eq!(
            "Hyper+x".parse::<Hotkey>(),
            Err(ParseError::UnknownKey("Hyper".into()))
        );
        assert_eq!(
            "F9+Ctrl".parse::<Hotkey>(),
            Err(ParseError::NoKey("F9+Ctrl".into()))
        );
        let message = "Super+grav".parse::<Hotkey>().unwrap_err().to_string();
        assert!(message.contains("\"grav\""), "{message}");
    }
}
