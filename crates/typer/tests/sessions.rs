//! Each backend against a real display server started by the test — Xvfb with `us` and `ru`
//! layouts, headless sway — and a real client that logs the characters it receives: what
//! arrives must be the text, byte for byte, whatever the layout, the modifiers or the number
//! of distinct characters.

use rech_testkit::needs;
use std::process::Command;
use std::time::Duration;

use rech_testkit::display::{Sway, Xvfb};
use rech_typer::{Backend, Session, TypeError, Typer, TyperOptions};
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::ConnectionExt as _;

/// Cyrillic with «ёЁ», digits, Latin and Russian punctuation, a dash no layout has on a key.
const PHRASE: &str = "Привет, мир! Ёж — 25%. «Съешь же ещё этих мягких булок», да? (a-Z) №7; ";

fn x11_session(server: &Xvfb) -> Session {
    Session {
        x11: Some(server.display().to_owned()),
        ..Session::default()
    }
}

fn wayland_session(sway: &Sway) -> Session {
    Session {
        wayland: Some(sway.socket()),
        ..Session::default()
    }
}

fn open(session: &Session, backend: Backend) -> Typer {
    let options = TyperOptions {
        backend: Some(backend),
        ..TyperOptions::default()
    };
    Typer::open_in(&options, session).unwrap_or_else(|e| panic!("open {backend}: {e}"))
}

/// The X server's keyboard mapping, keycode by keycode.
fn keyboard_mapping(display: &str) -> Vec<u32> {
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let setup = conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    conn.get_keyboard_mapping(min, max - min + 1)
        .unwrap()
        .reply()
        .unwrap()
        .keysyms
}

#[needs(programs(Xvfb setxkbmap xmodmap xev))]
#[test]
fn x11_types_russian_text_exactly_on_us_and_ru_layouts() {
    for layout in ["us", "ru", "ru,us"] {
        let server = Xvfb::start(layout);
        let before = keyboard_mapping(server.display());
        let log = server.key_log();
        let mut typer = open(&x11_session(&server), Backend::X11);
        let typed = typer.type_text(PHRASE).unwrap();
        assert_eq!(typed.chars, PHRASE.chars().count());
        assert!(typed.untyped.is_empty(), "{typed:?}");
        let got = log.wait_for(PHRASE.chars().count(), Duration::from_secs(10));
        assert_eq!(got, PHRASE, "layout {layout}");
        // The spare keycodes rech borrowed are given back.
        drop(typer);
        assert_eq!(
            keyboard_mapping(server.display()),
            before,
            "layout {layout}"
        );
    }
}

#[needs(programs(Xvfb setxkbmap xmodmap xev xdotool))]
#[test]
fn x11_with_caps_lock_on_still_types_the_text_as_it_is() {
    let server = Xvfb::start("ru");
    let log = server.key_log();
    let status = Command::new("xdotool")
        .args(["key", "Caps_Lock"])
        .env("DISPLAY", server.display())
        .status()
        .unwrap();
    assert!(status.success());
    let mut typer = open(&x11_session(&server), Backend::X11);
    typer.type_text(PHRASE).unwrap();
    assert_eq!(
        log.wait_for(PHRASE.chars().count(), Duration::from_secs(10)),
        PHRASE
    );
}

#[needs(programs(Xvfb setxkbmap xmodmap xev))]
#[test]
fn x11_more_distinct_characters_than_spare_keycodes_still_come_out_right() {
    let server = Xvfb::start("us");
    // Every Cyrillic letter of Russian and Ukrainian, Greek, and symbols: far more
    // characters than a `us` keyboard has keycodes to spare, so keycodes are reused.
    let text: String = ('А'..='я')
        .chain("ёЁєЄіІїЇґҐ".chars())
        .chain('Α'..='Ω')
        .chain('α'..='ω')
        .chain("€£¥©®™°±×÷…‰′″←↑→↓∞≈≠≤≥".chars())
        .filter(|c| !c.is_control() && *c != '\u{3a2}')
        .collect();
    let log = server.key_log();
    let mut typer = open(&x11_session(&server), Backend::X11);
    let typed = typer.type_text(&text).unwrap();
    assert!(typed.untyped.is_empty(), "{typed:?}");
    assert_eq!(
        log.wait_for(text.chars().count(), Duration::from_secs(20)),
        text
    );
}

#[needs(programs(sway wev wtype setpriv))]
#[test]
fn wayland_virtual_keyboard_types_the_text_exactly() {
    let sway = Sway::start();
    let log = sway.key_log();
    let session = wayland_session(&sway);
    let mut typer = open(&session, Backend::Wayland);
    // Two phrases: the second needs keysyms the first keymap lacked.
    typer.type_text(PHRASE).unwrap();
    typer.type_text("Ъ ЭЮЯ — 1990 г.; ").unwrap();
    let want = format!("{PHRASE}Ъ ЭЮЯ — 1990 г.; ");
    assert_eq!(
        log.wait_for(want.chars().count(), Duration::from_secs(10)),
        want
    );
}

#[needs(programs(sway wev wtype setpriv))]
#[test]
fn wayland_text_with_more_characters_than_one_keymap_holds_is_typed_in_several() {
    let sway = Sway::start();
    let log = sway.key_log();
    let mut typer = open(&wayland_session(&sway), Backend::Wayland);
    // 300 distinct characters; a keymap holds 247.
    let text: String = ('А'..='я').chain('一'..='\u{4f0b}').take(300).collect();
    typer.type_text(&text).unwrap();
    assert_eq!(
        log.wait_for(text.chars().count(), Duration::from_secs(20)),
        text
    );
}

#[needs(programs(Xvfb setxkbmap xmodmap xev xclip))]
#[test]
fn the_clipboard_on_x11_holds_the_phrase_and_control_v_is_pressed() {
    let server = Xvfb::start("ru");
    let log = server.key_log();
    let mut typer = open(&x11_session(&server), Backend::Clipboard);
    assert!(typer.notice().is_some());
    typer.type_text(PHRASE).unwrap();
    // Control+V reaches the window as the control character it makes (SYN), on a layout with
    // no V at all.
    assert_eq!(log.wait_for(1, Duration::from_secs(10)), "\u{16}");
    let pasted = Command::new("xclip")
        .args(["-selection", "clipboard", "-out"])
        .env("DISPLAY", server.display())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&pasted.stdout), PHRASE);
}

#[needs(programs(sway wev wtype setpriv wl-copy wl-paste))]
#[test]
fn the_clipboard_on_wayland_without_ydotool_leaves_the_paste_to_the_user() {
    let sway = Sway::start();
    let session = wayland_session(&sway);
    let mut typer = open(&session, Backend::Clipboard);
    let notice = typer.notice().unwrap_or_default().to_owned();
    if !rech_testkit::display::ydotool_running() {
        assert!(notice.contains("paste it with Control+V"), "{notice}");
    }
    typer.type_text(PHRASE).unwrap();
    let mut paste = Command::new("wl-paste");
    sway.apply(&mut paste);
    let pasted = paste.arg("--no-newline").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&pasted.stdout), PHRASE);
}

#[test]
fn a_missing_session_or_backend_is_a_clear_error() {
    let none = Typer::open_in(&TyperOptions::default(), &Session::default());
    assert!(matches!(none, Err(TypeError::NoSession)), "{none:?}");
    let x_only = Session {
        x11: Some(":9999".into()),
        ..Session::default()
    };
    let wayland = TyperOptions {
        backend: Some(Backend::Wayland),
        ..TyperOptions::default()
    };
    let err = Typer::open_in(&wayland, &x_only).unwrap_err().to_string();
    assert_eq!(err, "cannot type with wayland: WAYLAND_DISPLAY is not set");
    let err = Typer::open_in(&TyperOptions::default(), &x_only)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot type with x11: cannot connect to the X server :9999"),
        "{err}"
    );
}

#[needs(programs(Xvfb setxkbmap xmodmap xev xdotool))]
#[test]
fn x11_with_the_second_group_active_types_the_text_as_it_is() {
    // `us,ru` switched to its second group (Russian).
    let server = Xvfb::start("us,ru");
    let log = server.key_log();
    let toggle = Command::new("xdotool")
        .args(["key", "ISO_Next_Group"])
        .env("DISPLAY", server.display())
        .status()
        .unwrap();
    assert!(toggle.success());
    let mut typer = open(&x11_session(&server), Backend::X11);
    typer.type_text(PHRASE).unwrap();
    assert_eq!(
        log.wait_for(PHRASE.chars().count(), Duration::from_secs(10)),
        PHRASE
    );
}

#[needs(programs(Xvfb setxkbmap xmodmap xev xdotool))]
#[test]
fn x11_modifiers_the_user_holds_are_released_for_the_phrase_and_pressed_again() {
    let server = Xvfb::start("ru");
    let log = server.key_log();
    // Control held down, as by a push-to-talk binding still pressed.
    let xdotool = |args: &[&str]| {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", server.display())
            .status()
            .unwrap();
        assert!(status.success());
    };
    xdotool(&["keydown", "Control_L"]);
    let mut typer = open(&x11_session(&server), Backend::X11);
    typer.type_text(PHRASE).unwrap();
    assert_eq!(
        log.wait_for(PHRASE.chars().count(), Duration::from_secs(10)),
        PHRASE
    );
    // Still held afterwards: the next key is Control+V, the control character SYN.
    xdotool(&["key", "v"]);
    assert_eq!(
        log.wait_for(PHRASE.chars().count() + 1, Duration::from_secs(10)),
        format!("{PHRASE}\u{16}")
    );
    xdotool(&["keyup", "Control_L"]);
}
