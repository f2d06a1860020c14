//! The evdev backend: reads key events from every `event*` device under `/dev/input` (the
//! kernel's view, below any display server, so it works on any compositor but needs the
//! `input` group), keeps track of the modifiers held on any keyboard, and picks up keyboards
//! plugged in later. Devices are only read, never grabbed: the key still reaches the focused
//! window.

use std::collections::HashSet;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Hotkey, HotkeyError, KeyEvent, OnKey, Shared};

/// `struct input_event` on 64-bit Linux: a 16-byte time, then type, code and value.
const EVENT_SIZE: usize = 24;
const EV_KEY: u16 = 1;
/// How often the directory is looked at for new devices.
const RESCAN: Duration = Duration::from_secs(1);

/// Left and right codes of each modifier, in `Modifiers`' order: Ctrl, Alt, Shift, Super.
const MODIFIER_CODES: [[u16; 2]; 4] = [[29, 97], [56, 100], [42, 54], [125, 126]];

/// What the readers share.
struct State {
    hotkey: Hotkey,
    /// Modifier and other keys held now, on any device.
    down: HashSet<u16>,
    /// Whether the hotkey's press was reported and its release not yet.
    held: bool,
    on_key: OnKey,
}

impl State {
    fn modifiers_match(&self) -> bool {
        let m = self.hotkey.modifiers;
        let wanted = [m.ctrl, m.alt, m.shift, m.super_key];
        MODIFIER_CODES
            .iter()
            .zip(wanted)
            .all(|(codes, want)| codes.iter().any(|c| self.down.contains(c)) == want)
    }

    /// Takes one key event: code, and value (0 release, 1 press, 2 repeat).
    fn key(&mut self, code: u16, value: i32, shared: &Shared) {
        match value {
            1 => {
                if code == self.hotkey.key.evdev && !self.held && self.modifiers_match() {
                    self.held = true;
                    (self.on_key)(KeyEvent::Pressed);
                }
                self.down.insert(code);
            }
            0 => {
                self.down.remove(&code);
                // The key's release ends the press, whatever happened to the modifiers.
                if code == self.hotkey.key.evdev && self.held {
                    self.held = false;
                    (self.on_key)(KeyEvent::Released);
                }
            }
            2 if code == self.hotkey.key.evdev && self.held => {
                shared.repeats.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// The `event*` entries of `dir`.
fn devices(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("event"))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Opens every device that can be read, and watches the directory for more.
pub(crate) fn start(
    hotkey: &Hotkey,
    dir: &Path,
    shared: Arc<Shared>,
    on_key: OnKey,
) -> Result<Option<JoinHandle<()>>, HotkeyError> {
    let no_access = || HotkeyError::NoInputAccess {
        dir: dir.to_owned(),
    };
    let present = devices(dir).map_err(|e| match e.kind() {
        ErrorKind::NotFound => HotkeyError::NoInputDevices {
            dir: dir.to_owned(),
        },
        _ => no_access(),
    })?;
    if present.is_empty() {
        return Err(HotkeyError::NoInputDevices {
            dir: dir.to_owned(),
        });
    }
    let mut opened = Vec::new();
    for path in &present {
        match File::open(path) {
            Ok(file) => opened.push((path.clone(), file)),
            Err(e) => log::debug!("cannot read {}: {e}", path.display()),
        }
    }
    if opened.is_empty() {
        return Err(no_access());
    }
    let state = Arc::new(Mutex::new(State {
        hotkey: *hotkey,
        down: HashSet::new(),
        held: false,
        on_key,
    }));
    let mut known: HashSet<PathBuf> = present.into_iter().collect();
    for (path, file) in opened {
        spawn_reader(path, file, Arc::clone(&state), Arc::clone(&shared))?;
    }
    let dir = dir.to_owned();
    let watcher = std::thread::Builder::new()
        .name("rech-hotkey-devices".into())
        .spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(RESCAN);
                let Ok(now) = devices(&dir) else { continue };
                for path in now {
                    if known.contains(&path) {
                        continue;
                    }
                    // A device that cannot be read yet (udev has not set its group) is tried
                    // again at the next look.
                    if let Ok(file) = File::open(&path) {
                        log::debug!("reading the new input device {}", path.display());
                        known.insert(path.clone());
                        let _ = spawn_reader(path, file, Arc::clone(&state), Arc::clone(&shared));
                    }
                }
            }
        })
        .map_err(|_| HotkeyError::Thread)?;
    Ok(Some(watcher))
}

fn spawn_reader(
    path: PathBuf,
    mut file: File,
    state: Arc<Mutex<State>>,
    shared: Arc<Shared>,
) -> Result<(), HotkeyError> {
    std::thread::Builder::new()
        .name("rech-hotkey-evdev".into())
        .spawn(move || {
            let mut buf = [0u8; EVENT_SIZE * 64];
            let mut filled = 0;
            while !shared.stop.load(Ordering::SeqCst) {
                match file.read(&mut buf[filled..]) {
                    // A device blocks until it has events; a plain file (a test's) ends, and
                    // is read again as it grows.
                    Ok(0) => std::thread::sleep(Duration::from_millis(10)),
                    Ok(n) => {
                        filled += n;
                        let whole = filled / EVENT_SIZE * EVENT_SIZE;
                        if let Ok(mut state) = state.lock() {
                            for event in buf[..whole].chunks_exact(EVENT_SIZE) {
                                let kind = u16::from_ne_bytes([event[16], event[17]]);
                                let code = u16::from_ne_bytes([event[18], event[19]]);
                                let value = i32::from_ne_bytes([
                                    event[20], event[21], event[22], event[23],
                                ]);
                                if kind == EV_KEY && !shared.stop.load(Ordering::SeqCst) {
                                    state.key(code, value, &shared);
                                }
                            }
                        }
                        buf.copy_within(whole..filled, 0);
                        filled -= whole;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Unplugged (ENODEV): the device's thread ends.
                        log::debug!("stopped reading {}: {e}", path.display());
                        return;
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|_| HotkeyError::Thread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::mpsc;

    /// One `struct input_event` as the kernel writes it.
    fn encode_event(kind: u16, code: u16, value: i32) -> [u8; EVENT_SIZE] {
        let mut event = [0u8; EVENT_SIZE];
        event[16..18].copy_from_slice(&kind.to_ne_bytes());
        event[18..20].copy_from_slice(&code.to_ne_bytes());
        event[20..24].copy_from_slice(&value.to_ne_bytes());
        event
    }

    fn key(file: &mut File, code: u16, value: i32) {
        file.write_all(&encode_event(EV_KEY, code, value)).unwrap();
        // EV_SYN, as a keyboard sends after each key.
        file.write_all(&encode_event(0, 0, 0)).unwrap();
        file.flush().unwrap();
    }

    #[test]
    fn presses_with_the_modifiers_held_on_any_device_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut keyboard = File::create(dir.path().join("event0")).unwrap();
        std::fs::write(dir.path().join("mouse0"), b"").unwrap();
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let hotkey: Hotkey = "Super+grave".parse().unwrap();
        let watcher = start(
            &hotkey,
            dir.path(),
            Arc::clone(&shared),
            Box::new(move |e| tx.send(e).unwrap()),
        )
        .unwrap();
        let wait = || rx.recv_timeout(Duration::from_secs(5)).unwrap();

        // grave alone is not the hotkey.
        key(&mut keyboard, 41, 1);
        key(&mut keyboard, 41, 0);
        // Super on this keyboard, grave held with repeats, released.
        key(&mut keyboard, 125, 1);
        key(&mut keyboard, 41, 1);
        assert_eq!(wait(), KeyEvent::Pressed);
        key(&mut keyboard, 41, 2);
        key(&mut keyboard, 41, 2);
        // Super let go first: the release of grave still ends the press.
        key(&mut keyboard, 125, 0);
        key(&mut keyboard, 41, 0);
        assert_eq!(wait(), KeyEvent::Released);
        assert_eq!(shared.repeats.load(Ordering::Relaxed), 2);

        // A keyboard plugged in later: Super held on the first, grave on the second (which is
        // read from its start once it is found, within a second).
        key(&mut keyboard, 126, 1);
        let mut second = File::create(dir.path().join("event7")).unwrap();
        key(&mut second, 41, 1);
        assert_eq!(wait(), KeyEvent::Pressed);
        key(&mut second, 41, 0);
        assert_eq!(wait(), KeyEvent::Released);
        assert!(rx.try_recv().is_err());
        shared.stop.store(true, Ordering::SeqCst);
        drop(watcher);
    }

    #[test]
    fn a_missing_or_empty_directory_is_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let hotkey: Hotkey = "F9".parse().unwrap();
        let shared = Arc::new(Shared::default());
        let err = start(&hotkey, dir.path(), Arc::clone(&shared), Box::new(|_| {})).unwrap_err();
        assert!(matches!(err, HotkeyError::NoInputDevices { .. }), "{err}");
        let err = start(&hotkey, &dir.path().join("none"), shared, Box::new(|_| {})).unwrap_err();
        assert!(matches!(err, HotkeyError::NoInputDevices { .. }), "{err}");
    }
}
