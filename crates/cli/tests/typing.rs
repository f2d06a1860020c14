//! `rech dictate --type` end to end: real Russian speech through the real pipeline into a real
//! display server started by the test — Xvfb with a `us` and with a `ru` layout, headless
//! sway — where a real client logs what it receives. What arrives must be the final events'
//! text, byte for byte, each phrase followed by a space. Also the control socket of
//! `--listen-on` and `rech dictate ctl` (the microphone side of push-to-talk is tested with
//! PulseAudio in tests/capture.rs).

use rech_testkit::needs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rech_testkit::display::{Sway, Xvfb};
use rech_testkit::{assert_fails_last_line, assert_success, model, run, shared_dir, Running};
use serde_json::Value;

fn speech(shared: &Path) -> PathBuf {
    shared.join("audio/ru/human/ru_0024.wav")
}

/// `rech dictate` on the file with `model`, as fast as it decodes unless told otherwise.
fn dictate_with(model: &Path, input: &Path, args: &[&str]) -> Command {
    let mut cmd = rech_testkit::rech();
    cmd.args(["dictate", "--no-vad", "-t", "1", "-f", "jsonl"])
        .arg("-m")
        .arg(model)
        .arg("--input")
        .arg(input)
        .args(args);
    cmd
}

/// [`dictate_with`] the random model, utterances cut at 2 s so that there are several
/// phrases to type.
fn dictate(input: &Path, args: &[&str]) -> Command {
    let mut cmd = dictate_with(model(), input, &["--max-utterance", "2"]);
    cmd.args(args);
    cmd
}

/// What typing the finals must give: each final's text and a space.
fn typed_finals(out: &Output) -> String {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let finals: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "final")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(finals.len() >= 2, "{text}");
    finals.iter().map(|t| format!("{t} ")).collect()
}

#[needs(shared, programs(Xvfb setxkbmap xmodmap xev))]
#[test]
fn finals_are_typed_into_an_x11_window_exactly_on_us_and_ru_layouts() {
    let shared = shared_dir();
    for layout in ["us", "ru"] {
        let server = Xvfb::start(layout);
        let log = server.key_log();
        let mut cmd = dictate(&speech(&shared), &["--type"]);
        server.apply(&mut cmd);
        let out = run(&mut cmd);
        assert_success(&out);
        let want = typed_finals(&out);
        // Every phrase has been typed by the time rech exits; nothing else comes after.
        let got = log.settle(Duration::from_millis(300));
        assert_eq!(got, want, "layout {layout}");
        assert!(want.chars().any(|c| ('а'..='я').contains(&c)), "{want}");
    }
}

#[needs(shared, programs(sway wev wtype setpriv))]
#[test]
fn finals_are_typed_into_a_wayland_window_exactly() {
    let shared = shared_dir();
    let sway = Sway::start();
    let log = sway.key_log();
    let mut cmd = dictate(&speech(&shared), &["--type", "--typer", "wayland"]);
    sway.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_success(&out);
    assert_eq!(log.settle(Duration::from_millis(300)), typed_finals(&out));
}

#[needs(shared, programs(Xvfb setxkbmap xmodmap xev))]
#[test]
fn with_partials_committed_words_are_typed_early_and_the_whole_equals_the_finals() {
    let shared = shared_dir();
    let server = Xvfb::start("ru");
    let log = server.key_log();
    let mut cmd = dictate_with(
        model(),
        &speech(&shared),
        &["--type", "--partial", "--realtime", "--max-utterance", "4"],
    );
    server.apply(&mut cmd);
    let out = run(&mut cmd);
    assert_success(&out);
    assert_eq!(log.settle(Duration::from_millis(300)), typed_finals(&out));
}

#[needs(shared)]
#[test]
fn typing_without_a_session_or_with_a_missing_backend_is_one_line_before_the_model_loads() {
    let shared = shared_dir();
    let input = speech(&shared);
    // No model is loaded: a missing one would be the error otherwise.
    let mut none = dictate_with(Path::new("/nonexistent/model.bin"), &input, &["--type"]);
    assert_fails_last_line(
        &run(&mut none),
        1,
        &[
            "no graphical session to type into",
            "WAYLAND_DISPLAY",
            "DISPLAY",
        ],
    );
    let mut wayland = dictate(&input, &["--type", "--typer", "wayland"]);
    wayland.env("DISPLAY", ":12345");
    assert_fails_last_line(
        &run(&mut wayland),
        1,
        &["cannot type with wayland: WAYLAND_DISPLAY is not set"],
    );
    let mut x11 = dictate(&input, &["--type", "--typer", "x11"]);
    x11.env("DISPLAY", ":12345");
    assert_fails_last_line(&run(&mut x11), 1, &["cannot type with x11", ":12345"]);
    // --typer means nothing without --type.
    let out = run(dictate(&input, &["--typer", "x11"]).env("DISPLAY", ":1"));
    assert_eq!(out.status.code(), Some(2));
}

fn ctl(socket: &Path, command: &str) -> Output {
    run(rech_testkit::rech()
        .args(["dictate", "ctl", command, "--socket"])
        .arg(socket))
}

fn answer(out: &Output) -> String {
    assert_success(out);
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

#[needs(shared)]
#[test]
fn the_control_socket_starts_stops_and_toggles_and_is_taken_once() {
    let shared = shared_dir();
    let dir = rech_testkit::tmp_dir().join(format!("ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("dictate.sock");
    let _ = std::fs::remove_file(&socket);

    // Nobody there yet.
    assert_fails_last_line(
        &ctl(&socket, "start"),
        2,
        &[
            "no `rech dictate --listen-on` is running at",
            "dictate.sock",
        ],
    );

    // ru_0024 (8.4 s) at real-time pace, heard only while listening.
    let mut cmd = dictate(
        &speech(&shared),
        &["--realtime", "--partial", "--listen-on"],
    );
    cmd.arg(&socket);
    let mut dictation = Running::spawn(&mut cmd);
    dictation.wait_for("controls listening", Duration::from_secs(30));
    assert_eq!(answer(&ctl(&socket, "status")), "stopped");

    // A path that is not a socket is never removed to make room.
    let file = dir.join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let mut on_file = dictate(&speech(&shared), &["--listen-on"]);
    on_file.arg(&file);
    assert_fails_last_line(
        &run(&mut on_file),
        2,
        &["exists and is not a socket", "notes.txt"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    // A second dictation on the same socket is refused; the first keeps it.
    let mut second = dictate(&speech(&shared), &["--listen-on"]);
    second.arg(&socket);
    assert_fails_last_line(&run(&mut second), 2, &["is taken", "dictate.sock"]);
    assert_eq!(answer(&ctl(&socket, "status")), "stopped");

    assert_eq!(answer(&ctl(&socket, "start")), "listening");
    dictation.wait_for("rech: listening", Duration::from_secs(10));
    // Stopped once speech has been heard and decoded (its first partial), not after a guess.
    dictation.wait_for_output("\"partial\"", Duration::from_secs(30));
    assert_eq!(answer(&ctl(&socket, "stop")), "stopped");
    dictation.wait_for("rech: stopped", Duration::from_secs(30));
    assert_eq!(answer(&ctl(&socket, "status")), "stopped");

    // Nothing is read while stopped: the file goes on where it stopped, and ends. The pause is
    // what is tested (two seconds of real time the file must not advance in), not a wait.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(answer(&ctl(&socket, "toggle")), "listening");
    dictation.wait_for("the input has ended", Duration::from_secs(30));
    let (out, err, code) = dictation.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    let finals: Vec<(f64, f64)> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "final")
        .map(|e| (e["start"].as_f64().unwrap(), e["end"].as_f64().unwrap()))
        .collect();
    assert!(finals.len() >= 2, "{out}\n{err}");
    // The whole file was heard once, in two stretches: times run on across the pause and
    // stay within the file's 8.4 s.
    let last = finals.last().unwrap().1;
    assert!(last <= 8.5, "{finals:?}");
    assert!(
        finals.windows(2).all(|w| w[0].1 <= w[1].0 + 1e-9),
        "{finals:?}"
    );
    // The socket went with the dictation.
    assert!(!socket.exists());
    assert_fails_last_line(
        &ctl(&socket, "status"),
        2,
        &["no `rech dictate --listen-on`"],
    );
}
