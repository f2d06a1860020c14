//! `rech dictate --hotkey` end to end: a real X server (Xvfb) where `xdotool` presses and
//! releases the key through XTest, as a keyboard would, while a real client (`xev`) has the
//! focus and logs what is typed into it; the input devices played into files in the layout
//! the kernel writes; and the bad keys and missing backends that must be one line each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rech_testkit::display::Xvfb;
use rech_testkit::portal::TestPortal;
use rech_testkit::{assert_fails_last_line, model, needs, run, shared_dir, Running};
use serde_json::Value;

fn speech(shared: &Path) -> PathBuf {
    shared.join("audio/ru/human/ru_0024.wav")
}

/// `rech -v dictate` on the speech file at real-time pace, read only while listening, with
/// partials (so the test knows speech is being heard) and `args`.
fn dictate(shared: &Path, args: &[&str]) -> Command {
    dictate_with(model(), shared, args)
}

/// [`dictate`] with another model.
fn dictate_with(model: &Path, shared: &Path, args: &[&str]) -> Command {
    let mut cmd = rech_testkit::rech();
    cmd.args(["-v", "dictate", "--no-vad", "-t", "1", "-f", "jsonl"])
        .args(["--realtime", "--partial"])
        .arg("-m")
        .arg(model)
        .arg("--input")
        .arg(speech(shared))
        .args(args);
    cmd
}

fn xdotool(server: &Xvfb, args: &[&str]) {
    let mut cmd = Command::new("xdotool");
    cmd.args(args);
    server.apply(&mut cmd);
    let out = run(&mut cmd);
    assert!(out.status.success(), "xdotool {args:?} failed");
}

/// The finals' texts, each followed by the space `--type` adds.
fn finals(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "final")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// How many repeats the dictation said it ignored (its -v line at exit).
fn repeats_ignored(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("the key repeated"))
        .unwrap_or_else(|| panic!("no repeat count on stderr: {stderr}"));
    line.split_whitespace()
        .skip_while(|w| *w != "repeated")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"))
}

#[needs(shared, programs(Xvfb setxkbmap xmodmap xev xdotool xset))]
#[test]
fn a_held_key_types_its_phrase_on_release_and_its_repeats_change_nothing() {
    let shared = shared_dir();
    let server = Xvfb::start("us");
    // Auto-repeat after 200 ms, 25 a second: a held key repeats many times in the test.
    let mut xset = Command::new("xset");
    xset.args(["r", "rate", "200", "25"]);
    server.apply(&mut xset);
    assert!(run(&mut xset).status.success());
    let log = server.key_log();

    let mut cmd = dictate(&shared, &["--hotkey", "Super+F9", "--type"]);
    server.apply(&mut cmd);
    let mut dictation = Running::spawn(&mut cmd);
    dictation.wait_for(
        "Super+F9 (through an X11 key grab) controls listening",
        Duration::from_secs(30),
    );

    // The same key for a second dictation is taken: one line, before any model is loaded.
    let mut second = dictate(&shared, &["--hotkey", "super+F9"]);
    server.apply(&mut second);
    assert_fails_last_line(
        &run(&mut second),
        2,
        &["Super+F9 is already taken by another program"],
    );
    // The key without Super is another key, and free: that dictation gets as far as its
    // (missing) model.
    let mut other = dictate_with(
        Path::new("/nonexistent/model.bin"),
        &shared,
        &["--hotkey", "F9"],
    );
    server.apply(&mut other);
    assert_fails_last_line(&run(&mut other), 1, &["/nonexistent/model.bin"]);

    xdotool(&server, &["keydown", "super+F9"]);
    dictation.wait_for("rech: listening", Duration::from_secs(10));
    // Held until speech has been heard and decoded twice, well past the repeat delay.
    dictation.wait_for_output("\"partial\"", Duration::from_secs(30));
    dictation.wait_for_output("\"partial\"", Duration::from_secs(30));
    xdotool(&server, &["keyup", "F9", "super"]);
    dictation.wait_for("rech: stopped", Duration::from_secs(30));
    // The phrase is typed once it is final: the final's text and a space, nothing before.
    dictation.wait_for_output("\"final\"", Duration::from_secs(30));
    let typed = log.settle(Duration::from_millis(500));

    dictation.interrupt();
    let (out, err, code) = dictation.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    let said = finals(&out);
    assert_eq!(said.len(), 1, "one phrase per hold: {out}\n{err}");
    assert_eq!(typed, format!("{} ", said[0]));
    // The key repeated while held, and not one repeat ended or restarted the phrase.
    assert!(repeats_ignored(&err) > 3, "{err}");
    assert_eq!(count(&err, "rech: listening"), 1, "{err}");
    assert_eq!(count(&err, "rech: stopped\n"), 1, "{err}");
}

#[needs(shared, programs(Xvfb setxkbmap xmodmap xev xdotool))]
#[test]
fn in_toggle_mode_one_press_starts_and_the_next_stops() {
    let shared = shared_dir();
    let server = Xvfb::start("ru");
    let mut cmd = dictate(
        &shared,
        &["--hotkey", "Ctrl+Alt+d", "--hotkey-mode", "toggle"],
    );
    server.apply(&mut cmd);
    let mut dictation = Running::spawn(&mut cmd);
    // A Russian layout has no Latin d: the key is where a US keyboard has it, which makes в
    // here (pressed as such: xdotool would press a spare key for a d).
    dictation.wait_for(
        "Ctrl+Alt+d (through an X11 key grab)",
        Duration::from_secs(30),
    );
    xdotool(&server, &["key", "ctrl+alt+Cyrillic_ve"]);
    dictation.wait_for("rech: listening", Duration::from_secs(10));
    // Released long ago, still listening: it is heard and decoded.
    dictation.wait_for_output("\"partial\"", Duration::from_secs(30));
    xdotool(&server, &["key", "ctrl+alt+Cyrillic_ve"]);
    dictation.wait_for("rech: stopped", Duration::from_secs(30));
    dictation.wait_for_output("\"final\"", Duration::from_secs(30));
    xdotool(&server, &["key", "ctrl+alt+Cyrillic_ve"]);
    // The file goes on where it stopped and ends.
    dictation.wait_for("the input has ended", Duration::from_secs(30));
    let (out, err, code) = dictation.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(finals(&out).len() >= 2, "{out}\n{err}");
    assert_eq!(count(&err, "rech: listening"), 2, "{err}");
}

/// One `struct input_event` (64-bit Linux) for a key: code, and 1 press, 0 release, 2 repeat.
fn input_event(code: u16, value: i32) -> Vec<u8> {
    let mut event = vec![0u8; 24];
    event[16..18].copy_from_slice(&1u16.to_ne_bytes());
    event[18..20].copy_from_slice(&code.to_ne_bytes());
    event[20..24].copy_from_slice(&value.to_ne_bytes());
    event
}

fn play(device: &Path, keys: &[(u16, i32)]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(device)
        .unwrap();
    for &(code, value) in keys {
        file.write_all(&input_event(code, value)).unwrap();
    }
    file.flush().unwrap();
}

#[needs(shared)]
#[test]
fn the_input_devices_drive_push_to_talk_with_no_display_at_all() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let keyboard = dir.path().join("event3");
    play(&keyboard, &[]);
    let mut cmd = dictate(&shared, &["--hotkey", "F9", "--hotkey-backend", "evdev"]);
    cmd.env("RECH_INPUT_DIR", dir.path());
    let mut dictation = Running::spawn(&mut cmd);
    dictation.wait_for("F9 (through the input devices)", Duration::from_secs(30));
    // KEY_F9 is 67: pressed, repeating, released.
    play(&keyboard, &[(67, 1)]);
    dictation.wait_for("rech: listening", Duration::from_secs(10));
    dictation.wait_for_output("\"partial\"", Duration::from_secs(30));
    play(&keyboard, &[(67, 2), (67, 2), (67, 0)]);
    dictation.wait_for("rech: stopped", Duration::from_secs(30));
    dictation.wait_for_output("\"final\"", Duration::from_secs(30));
    dictation.interrupt();
    let (out, err, code) = dictation.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(finals(&out).len(), 1, "{out}\n{err}");
    assert_eq!(repeats_ignored(&err), 2, "{err}");
}

#[needs(shared)]
#[test]
fn a_hotkey_that_cannot_be_had_is_one_line_before_the_model_loads() {
    let shared = shared_dir();
    let fails = |args: &[&str], envs: &[(&str, &str)], code: i32, needles: &[&str]| {
        let mut cmd = dictate_with(Path::new("/nonexistent/model.bin"), &shared, args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out: Output = run(&mut cmd);
        assert_fails_last_line(&out, code, needles);
    };
    fails(
        &["--hotkey", "Super+grav"],
        &[],
        2,
        &["unknown key \"grav\""],
    );
    fails(
        &["--hotkey", "Ctrl+Alt"],
        &[],
        2,
        &["has no key after its modifiers"],
    );
    fails(
        &["--hotkey", "F9", "--hotkey-backend", "x11"],
        &[],
        2,
        &["an X11 key grab needs an X display, and DISPLAY is not set"],
    );
    fails(
        &["--hotkey", "F9", "--hotkey-backend", "evdev"],
        &[("RECH_INPUT_DIR", "/nonexistent/input")],
        2,
        &["there are no input devices under /nonexistent/input"],
    );
    // A session bus with nobody on it: no portal.
    fails(
        &["--hotkey", "F9", "--hotkey-backend", "portal"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
        2,
        &["no desktop portal with global shortcuts on this session"],
    );
    fails(
        &["--listen-on", "/tmp/rech-cue-test.sock", "--cue", "notify"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
        2,
        &["no desktop notifications on this session", "use --cue none"],
    );
    fails(
        &["--save-audio", "/tmp/x"],
        &[],
        2,
        &["--save-audio is for push-to-talk: give it with --hotkey or --listen-on"],
    );
}

#[needs(shared, programs(dbus-daemon))]
#[test]
fn on_wayland_the_portal_binds_the_key_and_its_press_and_release_drive_dictation() {
    let shared = shared_dir();
    let portal = TestPortal::start(false);
    // A Wayland session (no --hotkey-backend): the portal is the way.
    let mut cmd = dictate(&shared, &["--hotkey", "Super+grave", "--cue", "notify"]);
    cmd.env("WAYLAND_DISPLAY", "wayland-rech-test")
        .env("DBUS_SESSION_BUS_ADDRESS", portal.address());
    let mut dictation = Running::spawn(&mut cmd);
    // The desktop's own words for the key are shown.
    dictation.wait_for(
        "Press LOGO+grave (through the desktop portal's global shortcuts) controls listening",
        Duration::from_secs(30),
    );
    let asked = portal.asked();
    assert_eq!(
        asked.bound,
        [("dictate".to_owned(), "LOGO+grave".to_owned())]
    );

    portal.press();
    dictation.wait_for("rech: listening", Duration::from_secs(10));
    dictation.wait_for_output("\"partial\"", Duration::from_secs(30));
    // Activated again while held (a desktop that repeats): nothing changes.
    portal.press();
    portal.release();
    dictation.wait_for("rech: stopped", Duration::from_secs(30));
    dictation.wait_for_output("\"final\"", Duration::from_secs(30));
    dictation.interrupt();
    let (out, err, code) = dictation.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(finals(&out).len(), 1, "{out}\n{err}");
    assert_eq!(repeats_ignored(&err), 1, "{err}");
    assert_eq!(count(&err, "rech: listening"), 1, "{err}");
    // The session is closed on the way out: the desktop forgets the binding.
    assert!(
        portal
            .wait_until(Duration::from_secs(5), |a| a.closed)
            .closed
    );

    // The user cancels the desktop's dialog: one line, before any model is loaded.
    let refusing = TestPortal::start(true);
    let mut cmd = dictate_with(
        Path::new("/nonexistent/model.bin"),
        &shared,
        &["--hotkey", "F9", "--hotkey-backend", "portal"],
    );
    cmd.env("DBUS_SESSION_BUS_ADDRESS", refusing.address());
    assert_fails_last_line(
        &run(&mut cmd),
        2,
        &["the desktop did not bind F9: the dialog was cancelled"],
    );
}

#[needs(shared, programs(Xvfb setxkbmap xmodmap dbus-daemon))]
#[test]
fn the_systemd_unit_runs_a_command_this_rech_accepts() {
    let shared = shared_dir();
    let unit = std::fs::read_to_string(
        rech_testkit::workspace_dir().join("deploy/systemd/rech-dictate.service"),
    )
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("%h/.cargo/bin/rech"));
    let args: Vec<&str> = words.collect();
    assert_eq!(args[..2], ["dictate", "--type"], "{exec}");
    // The unit's own command line, on an X display with a notification service: everything it
    // asks for is had (typing, the key, the notifications) up to the model, missing here.
    let server = Xvfb::start("us");
    let desktop = TestPortal::start(false);
    let mut cmd = rech_testkit::rech();
    cmd.args(&args)
        .args(["-m", "/nonexistent/model.bin", "--input"])
        .arg(speech(&shared))
        .env("DBUS_SESSION_BUS_ADDRESS", desktop.address());
    server.apply(&mut cmd);
    assert_fails_last_line(
        &run(&mut cmd),
        1,
        &["model file not found: /nonexistent/model.bin"],
    );
}
