//! A global push-to-talk key driving live dictation: rech-hotkey's press and release (an X11
//! grab, the desktop portal's GlobalShortcuts, or `/dev/input`) turned into a [`Control`]'s
//! start and stop, held or toggled.
//!
//! [`Control`]: crate::control::Control

pub use rech_hotkey::cue::{CueError, Notifier};
pub use rech_hotkey::{
    find_key, Backend, Hotkey, HotkeyError, Key, KeyEvent, Listener, Modifiers, OnKey, Options,
    ParseError,
};

use crate::control::Switch;

/// How the key drives listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Listening while the key is held: the release ends the phrase.
    #[default]
    Hold,
    /// A press starts listening, the next press stops it.
    Toggle,
}

/// What the key does to `switch` in `mode`; `on_change` hears each start (`true`) and stop
/// (`false`) the key caused, on the listener's thread.
pub fn drive(switch: Switch, mode: Mode, mut on_change: Box<dyn FnMut(bool) + Send>) -> OnKey {
    Box::new(move |event| {
        let after = match (mode, event) {
            (Mode::Hold, KeyEvent::Pressed) => switch.set(true).then_some(true),
            (Mode::Hold, KeyEvent::Released) => switch.set(false).then_some(false),
            (Mode::Toggle, KeyEvent::Pressed) => Some(switch.toggle()),
            (Mode::Toggle, KeyEvent::Released) => None,
        };
        if let Some(listening) = after {
            on_change(listening);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use std::sync::mpsc;

    #[test]
    fn hold_listens_while_held_and_toggle_flips_on_each_press() {
        let control = Control::in_process();
        let (tx, rx) = mpsc::channel();
        let mut hold = drive(
            control.switch(),
            Mode::Hold,
            Box::new(move |on| tx.send(on).unwrap()),
        );
        hold(KeyEvent::Pressed);
        assert!(control.listening());
        hold(KeyEvent::Released);
        assert!(!control.listening());
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [true, false]);

        let mut toggle = drive(control.switch(), Mode::Toggle, Box::new(|_| {}));
        toggle(KeyEvent::Pressed);
        toggle(KeyEvent::Released);
        assert!(control.listening());
        toggle(KeyEvent::Pressed);
        toggle(KeyEvent::Released);
        assert!(!control.listening());
    }
}
