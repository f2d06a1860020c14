//! The X11 backend: a passive grab of the key on the root window (so it reaches rech whatever
//! has the focus, and no other client sees it), with XKB's detectable auto-repeat so that a
//! held key sends one press and one release; the grab goes with the connection.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::ReplyError;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, GrabMode, Keycode, ModMask};
use x11rb::protocol::{ErrorKind, Event};
use x11rb::rust_connection::RustConnection;

use crate::{Hotkey, HotkeyError, KeyEvent, OnKey, Shared};

/// Keysyms of the modifier keys whose modifier bits the server may have moved.
const SUPER_L: u32 = 0xffeb;
const SUPER_R: u32 = 0xffec;
const ALT_L: u32 = 0xffe9;
const NUM_LOCK: u32 = 0xff7f;

fn x11_error(detail: impl std::fmt::Display) -> HotkeyError {
    HotkeyError::X11 {
        display: std::env::var("DISPLAY").unwrap_or_default(),
        detail: detail.to_string(),
    }
}

/// Grabs the key and listens on a thread of its own.
pub(crate) fn start(
    hotkey: &Hotkey,
    shared: Arc<Shared>,
    mut on_key: OnKey,
) -> Result<Option<JoinHandle<()>>, HotkeyError> {
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        return Err(HotkeyError::NoDisplay);
    }
    let (conn, screen) = x11rb::connect(None).map_err(x11_error)?;
    let root = conn.setup().roots[screen].root;
    let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
    let mapping = conn
        .get_keyboard_mapping(min, max - min + 1)
        .map_err(x11_error)?
        .reply()
        .map_err(x11_error)?;
    let per = usize::from(mapping.keysyms_per_keycode).max(1);
    let keycodes_of = |keysym: u32| -> Vec<Keycode> {
        mapping
            .keysyms
            .chunks(per)
            .enumerate()
            .filter(|(_, syms)| syms.contains(&keysym))
            .map(|(i, _)| min + i as u8)
            .collect()
    };
    let mut keycodes = keycodes_of(hotkey.key.keysym);
    if keycodes.is_empty() {
        // A layout without the symbol (`ru` alone has no Latin d): the key where a US
        // keyboard has it. X servers number keys as the kernel does, plus 8.
        let keycode = hotkey.key.evdev + 8;
        if !(u16::from(min)..=u16::from(max)).contains(&keycode) {
            return Err(HotkeyError::NotOnKeyboard {
                key: hotkey.key.name.to_owned(),
            });
        }
        log::debug!(
            "no key makes {} in this layout: grabbing the key where a US layout has it",
            hotkey.key.name
        );
        keycodes.push(keycode as Keycode);
    }

    // Which modifier bit each modifier key sets on this server (Alt is Mod1 and Super Mod4
    // almost everywhere, but the map says).
    let modmap = conn
        .get_modifier_mapping()
        .map_err(x11_error)?
        .reply()
        .map_err(x11_error)?;
    let per_modifier = (modmap.keycodes.len() / 8).max(1);
    let bit_of = |keysyms: &[u32], default: ModMask| -> ModMask {
        let codes: Vec<Keycode> = keysyms.iter().flat_map(|&k| keycodes_of(k)).collect();
        modmap
            .keycodes
            .chunks(per_modifier)
            .position(|held| held.iter().any(|k| *k != 0 && codes.contains(k)))
            .map_or(default, |i| ModMask::from(1u16 << i))
    };
    let alt = bit_of(&[ALT_L], ModMask::M1);
    let super_bit = bit_of(&[SUPER_L, SUPER_R], ModMask::M4);
    let num_lock = bit_of(&[NUM_LOCK], ModMask::M2);

    let m = hotkey.modifiers;
    let mut mask = ModMask::from(0u16);
    for (on, bit) in [
        (m.ctrl, ModMask::CONTROL),
        (m.shift, ModMask::SHIFT),
        (m.alt, alt),
        (m.super_key, super_bit),
    ] {
        if on {
            mask |= bit;
        }
    }
    // Caps Lock and Num Lock change the modifier state the grab is matched against: grab
    // the key with each of them on too.
    let variants = [
        mask,
        mask | ModMask::LOCK,
        mask | num_lock,
        mask | ModMask::LOCK | num_lock,
    ];
    for &keycode in &keycodes {
        for modifiers in variants {
            let grabbed = conn
                .grab_key(
                    false,
                    root,
                    modifiers,
                    keycode,
                    GrabMode::ASYNC,
                    GrabMode::ASYNC,
                )
                .map_err(x11_error)?
                .check();
            match grabbed {
                Ok(()) => {}
                Err(ReplyError::X11Error(e)) if e.error_kind == ErrorKind::Access => {
                    return Err(HotkeyError::Taken {
                        hotkey: hotkey.to_string(),
                    })
                }
                Err(e) => return Err(x11_error(e)),
            }
        }
    }
    let detectable = detectable_auto_repeat(&conn);
    log::debug!(
        "grabbed {hotkey} (keycodes {keycodes:?}, modifiers {mask:?}); detectable auto-repeat: \
         {detectable}"
    );
    conn.flush().map_err(x11_error)?;

    let thread = std::thread::Builder::new()
        .name("rech-hotkey-x11".into())
        .spawn(move || {
            let mut held = false;
            let fd = conn.stream().as_raw_fd();
            while !shared.stop.load(Ordering::SeqCst) {
                let event = match conn.poll_for_event() {
                    Ok(Some(event)) => event,
                    Ok(None) => {
                        wait_readable(fd, 100);
                        continue;
                    }
                    Err(e) => {
                        log::warn!("the X display went away: {e}");
                        break;
                    }
                };
                match event {
                    Event::KeyPress(e) if keycodes.contains(&e.detail) => {
                        if held {
                            shared.repeats.fetch_add(1, Ordering::Relaxed);
                        } else {
                            held = true;
                            on_key(KeyEvent::Pressed);
                        }
                    }
                    Event::KeyRelease(e) if keycodes.contains(&e.detail) && held => {
                        // Without detectable auto-repeat, a repeat is a release followed at
                        // once by a press with the same time.
                        if !detectable && repeats_at_once(&conn, e.detail, e.time) {
                            shared.repeats.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        held = false;
                        on_key(KeyEvent::Released);
                    }
                    _ => {}
                }
            }
            for &keycode in &keycodes {
                for modifiers in variants {
                    let _ = conn.ungrab_key(keycode, root, modifiers);
                }
            }
            let _ = conn.flush();
        })
        .map_err(|_| HotkeyError::Thread)?;
    Ok(Some(thread))
}

/// Asks XKB to send a held key's repeats as presses only; whether the server agreed.
fn detectable_auto_repeat(conn: &RustConnection) -> bool {
    let present = conn
        .extension_information(xkb::X11_EXTENSION_NAME)
        .ok()
        .flatten()
        .is_some();
    if !present {
        return false;
    }
    let used = conn
        .xkb_use_extension(1, 0)
        .ok()
        .and_then(|c| c.reply().ok())
        .is_some_and(|r| r.supported);
    if !used {
        return false;
    }
    let flag = xkb::PerClientFlag::DETECTABLE_AUTO_REPEAT;
    conn.xkb_per_client_flags(
        xkb::ID::USE_CORE_KBD.into(),
        flag,
        flag,
        xkb::BoolCtrl::from(0u32),
        xkb::BoolCtrl::from(0u32),
        xkb::BoolCtrl::from(0u32),
    )
    .ok()
    .and_then(|c| c.reply().ok())
    .is_some_and(|r| r.value.contains(flag))
}

/// Whether the next event is a press of the same key at the same time (an old-style repeat);
/// consumes it if so.
fn repeats_at_once(conn: &RustConnection, keycode: Keycode, time: u32) -> bool {
    match conn.poll_for_event() {
        Ok(Some(Event::KeyPress(next))) => next.detail == keycode && next.time == time,
        _ => false,
    }
}

/// Waits until the connection has something to read, or `millis` pass.
fn wait_readable(fd: i32, millis: i32) {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe {
        libc::poll(&mut poll, 1, millis);
    }
}
