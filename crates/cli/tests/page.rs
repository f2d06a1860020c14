//! `rech serve`'s web page in a real headless Chromium (crates/cli/tests/page_browser.py drives
//! it over the DevTools protocol): a recording uploaded through the page reads as `rech
//! transcribe` writes it and downloads as its SRT; dictation from Chromium's fake microphone
//! (a WAV of two phrases) gives one final per phrase at the file's times, and the page shows
//! exactly the finals the server sent; a server with a key asks for it and says when it is
//! wrong; and the form works without JavaScript, from curl. Each state's screenshot is kept
//! in a directory the failure message names.

use rech_testkit::needs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rech_testkit::serve::{write_wav, ServeSetup, Served};
use serde_json::Value;

/// Runs one scenario of page_browser.py; its JSON. Screenshots go to a directory that is
/// removed when the scenario succeeds and named when it fails.
fn browse(scenario: &str, served: &Served, args: &[&Path], words: &[&str]) -> Value {
    browse_at(
        &format!("http://{}", served.addr),
        scenario,
        served,
        args,
        words,
    )
}

/// [`browse`] at `base` (`https://rech.test:PORT`: Chromium maps rech.test to this machine).
fn browse_at(base: &str, scenario: &str, served: &Served, args: &[&Path], words: &[&str]) -> Value {
    let shots = rech_testkit::tmp_dir().join(format!("page-shots-{scenario}"));
    let _ = std::fs::remove_dir_all(&shots);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page_browser.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(scenario)
        .arg(base)
        .arg(&shots)
        .args(args)
        .args(words)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the browser's {scenario} failed (screenshots in {}):\n{}\nserver:\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr),
        served.stderr()
    );
    let _ = std::fs::remove_dir_all(&shots);
    serde_json::from_slice(&out.stdout).expect("the scenario's JSON")
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[needs(shared, venv, programs(chromium))]
#[test]
fn a_recording_dropped_on_the_page_reads_and_downloads_as_rech_transcribe_writes_it() {
    let setup = ServeSetup::new();
    let served = setup.serve(&[]);
    let file = setup.recording("human/ru_0030.wav");
    let got = browse("upload", &served, &[&file], &[]);
    assert_eq!(got["state"], "done", "{got}");
    let text = setup.cli_text(&file);
    assert!(!text.is_empty());
    assert_eq!(words(got["text"].as_str().unwrap()), words(&text));
    // The SRT button's download: the bytes `rech transcribe -f srt` writes, named after the file.
    assert_eq!(got["srt"].as_str().unwrap(), setup.cli(&file, "srt"));
    assert_eq!(got["srt_name"], "ru_0030.srt");
    assert_eq!(
        got["formats"],
        serde_json::json!(["text", "srt", "vtt", "verbose_json"])
    );
    // One passage per segment, each with its start time; the search keeps those with the word.
    let verbose: Value = serde_json::from_str(&setup.cli(&file, "verbose_json")).unwrap();
    let segments = got["segments"].as_array().unwrap();
    assert_eq!(
        segments.len(),
        verbose["segments"].as_array().unwrap().len()
    );
    assert!(segments[0].as_str().unwrap().starts_with("00:0"), "{got}");
    let word = got["search"]["word"].as_str().unwrap();
    let with_word = segments
        .iter()
        .filter(|s| s.as_str().unwrap().to_lowercase().contains(word))
        .count();
    assert!(with_word >= 1);
    assert_eq!(got["search"]["shown"], with_word);
}

/// Two shared phrases with pauses around them, as the fake microphone's file; the spans of
/// speech `rech dictate --input` finds in it.
fn two_phrases(setup: &ServeSetup) -> PathBuf {
    let read = |name: &str| -> Vec<i16> {
        hound::WavReader::open(setup.recording(name))
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect()
    };
    let silence = |seconds: f64| vec![0i16; (seconds * 16_000.0) as usize];
    let samples = [
        silence(0.5),
        read("human/ru_0022.wav"),
        silence(2.0),
        read("human/ru_0025.wav"),
        silence(3.0),
    ]
    .concat();
    let path = rech_testkit::tmp_dir().join("page-two-phrases.wav");
    write_wav(&path, 1, samples);
    path
}

#[needs(shared, venv, programs(chromium))]
#[test]
fn dictation_in_the_browser_streams_the_microphone_and_shows_the_servers_finals() {
    let setup = ServeSetup::new();
    let served = setup.serve(&[]);
    let wav = two_phrases(&setup);
    let reference = dictated_by_rech(&setup, &wav);
    let got = browse("dictate", &served, &[&wav], &["2"]);
    assert_dictated(&got, &reference);
}

/// Where the speech is: the finals of `rech dictate --input` on the same file.
fn dictated_by_rech(setup: &ServeSetup, wav: &Path) -> Vec<Value> {
    let out = rech_testkit::rech()
        .env("RECH_ORT_LIB", &setup.lib)
        .args(["dictate", "-m"])
        .arg(setup.model())
        .arg("--vad-model")
        .arg(setup.vad())
        .arg("--input")
        .arg(wav)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reference: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "final")
        .collect();
    assert_eq!(reference.len(), 2, "{reference:?}");
    reference
}

/// What dictating [`two_phrases`] gave: both phrases at the file's times (`reference`, from
/// `rech dictate --input`), shown as the server sent them.
fn assert_dictated(got: &Value, reference: &[Value]) {
    assert_eq!(got["error"], "", "{got}");
    assert!(got["sent"].as_u64().unwrap() > 50, "audio messages: {got}");
    let frames = got["frames"].as_array().unwrap();
    let finals: Vec<&Value> = frames.iter().filter(|f| f["type"] == "final").collect();
    assert!(
        frames.iter().any(|f| f["type"] == "partial"),
        "partials came"
    );
    assert_eq!(frames.last().unwrap()["type"], "end", "{frames:?}");
    // One final per phrase, where the file's speech is (Chromium resamples its fake microphone
    // to its own rate, so the words of random weights differ; the times may not).
    assert!(finals.len() >= 2, "{finals:?}");
    for (heard, said) in finals.iter().zip(reference) {
        for key in ["start", "end"] {
            let (a, b) = (heard[key].as_f64().unwrap(), said[key].as_f64().unwrap());
            assert!(
                (a - b).abs() <= 0.5,
                "{key}: {a} in the browser, {b} in the file"
            );
        }
    }
    // The page shows exactly the finals that came over the socket.
    let shown: Vec<&str> = got["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let sent: Vec<&str> = finals.iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert_eq!(shown, sent);
}

#[needs(shared, venv, programs(chromium))]
#[test]
fn the_page_asks_for_the_key_once_and_says_when_it_is_wrong() {
    let setup = ServeSetup::new();
    let served = setup.serve(&["--api-key", "sekret"]);
    let got = browse("key", &served, &[], &["wrong", "sekret"]);
    assert_eq!(got["asked"], true);
    let wrong = got["wrong"].as_str().unwrap();
    assert!(wrong.contains("key"), "{wrong}");
    assert_eq!(got["error_after_right_key"], "");
    assert_eq!(got["stored"], "sekret");
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/install-deps.sh)");
    let body = String::from_utf8(out.stdout).unwrap();
    let (body, code) = body.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    &text[from..from + len]
}

fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[needs(shared, venv)]
#[test]
fn the_form_works_without_javascript_from_curl() {
    let setup = ServeSetup::new();
    let served = setup.serve(&["--api-key", "sekret"]);
    let base = format!("http://{}", served.addr);
    let file = setup.recording("human/ru_0024.wav");
    let form_file = format!("file=@{}", file.display());

    // The page and its assets need no key; its language follows the browser.
    let (code, page) = curl(&["-H", "Accept-Language: en-GB,en;q=0.9", &format!("{base}/")]);
    assert_eq!(code, 200);
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("action=\"/page/transcribe\""));
    let (_, russian) = curl(&[&format!("{base}/")]);
    assert!(russian.contains("<html lang=\"ru\">"));
    // The options the served model honours, as /v1/models lists them: GigaAM transcribes
    // Russian only (no language to choose), times words, and tells speakers apart by channel
    // (by voice only with the speaker models).
    let (code, models) = curl(&[
        "-H",
        "Authorization: Bearer sekret",
        &format!("{base}/v1/models"),
    ]);
    assert_eq!(code, 200);
    let models: Value = serde_json::from_str(&models).unwrap();
    let capabilities = &models["data"][0]["capabilities"];
    assert_eq!(capabilities["languages"], serde_json::json!(["ru"]));
    assert_eq!(capabilities["word_timestamps"], true);
    assert_eq!(capabilities["diarize"], serde_json::json!(["channels"]));
    assert!(!page.contains("id=\"language\""));
    assert!(page.contains("id=\"words\""));
    assert!(page.contains("<option value=\"channels\">"));
    assert!(!page.contains("<option value=\"voices\">"));
    for asset in ["app.js", "app.css", "worklet.js"] {
        assert_eq!(curl(&[&format!("{base}/page/{asset}")]).0, 200, "{asset}");
    }

    // The key as the form's field, before the file; without it, a page saying so.
    let (code, refused) = curl(&["-F", &form_file, &format!("{base}/page/transcribe")]);
    assert_eq!(code, 401, "{refused}");
    assert!(refused.contains("id=\"error\""), "{refused}");
    let (code, wrong) = curl(&[
        "-F",
        "api_key=nope",
        "-F",
        &form_file,
        &format!("{base}/page/transcribe"),
    ]);
    assert_eq!(code, 401, "{wrong}");

    let (code, result) = curl(&[
        "-F",
        "api_key=sekret",
        "-F",
        &form_file,
        &format!("{base}/page/transcribe"),
    ]);
    assert_eq!(code, 200, "{result}");
    let text = unescape(between(
        &result,
        "<pre class=\"text\" id=\"text\">",
        "</pre>",
    ));
    assert_eq!(text, setup.cli_text(&file));
    // The SRT link holds the bytes `rech transcribe -f srt` writes.
    let srt = between(
        &result,
        "download=\"transcript.srt\" href=\"data:text/plain;charset=utf-8;base64,",
        "\"",
    );
    let decoded = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(srt.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded.stdout).unwrap(),
        setup.cli(&file, "srt")
    );

    // Bad audio: the page says what went wrong, with the API's status.
    let (code, bad) = curl(&[
        "-F",
        "api_key=sekret",
        "-F",
        "file=@/etc/hostname;filename=x.wav",
        &format!("{base}/page/transcribe"),
    ]);
    assert_eq!(code, 400, "{bad}");
    assert!(bad.contains("could not decode the audio"), "{bad}");
}

/// A self-signed certificate for rech.test, localhost and 127.0.0.1, and its key, in `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=rech.test"])
        .args([
            "-addext",
            "subjectAltName=DNS:rech.test,DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (scripts/install-deps.sh)");
    assert!(status.success());
    (cert, key)
}

#[needs(shared, venv, programs(chromium openssl curl))]
#[test]
fn over_https_a_page_on_the_lan_may_dictate_and_over_http_it_is_told_why_not() {
    let setup = ServeSetup::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "rech");
    let served = setup.serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--allowed-host",
        "rech.test",
    ]);
    assert!(
        served.stderr().contains("on https://"),
        "{}",
        served.stderr()
    );
    let port = served.addr.port();
    let base = format!("https://rech.test:{port}");
    // The page and the API over HTTPS, the certificate checked against the tests' own.
    let resolve = format!("rech.test:{port}:127.0.0.1");
    let (code, page) = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        &format!("{base}/"),
    ]);
    assert_eq!(code, 200);
    assert!(page.contains("id=\"record\""));
    let file = setup.recording("human/ru_0022.wav");
    let (code, json) = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        "-F",
        &format!("file=@{}", file.display()),
        &format!("{base}/v1/audio/transcriptions"),
    ]);
    assert_eq!(code, 200, "{json}");
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["text"], setup.cli_text(&file).as_str());

    // Dictation from a page that is not on localhost: the microphone over WSS.
    let wav = two_phrases(&setup);
    let reference = dictated_by_rech(&setup, &wav);
    let got = browse_at(&base, "dictate", &served, &[&wav], &["2"]);
    assert_dictated(&got, &reference);

    // The same name over plain HTTP: no secure context, and the page says what to do.
    let plain = setup.serve(&["--allowed-host", "rech.test"]);
    let got = browse_at(
        &format!("http://rech.test:{}", plain.addr.port()),
        "insecure",
        &plain,
        &[],
        &[],
    );
    assert_eq!(got["secure"], false);
    assert_eq!(got["state"], "stopped");
    assert!(
        got["message"].as_str().unwrap().contains("--tls-cert"),
        "{got}"
    );
}

#[needs(programs(openssl))]
#[test]
fn a_certificate_that_cannot_serve_is_one_line_before_any_model_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = certificate(dir.path(), "one");
    let (_, other_key) = certificate(dir.path(), "two");
    let missing = dir.path().join("missing.key");
    let serve = |cert: &Path, key: &Path| {
        let out = rech_testkit::rech()
            .args(["serve", "-m", "no-such-model", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };
    let stderr = serve(&cert, &missing);
    assert!(stderr.contains("missing.key"), "{stderr}");
    let stderr = serve(&cert, &other_key);
    assert!(
        stderr.contains("does not go with the certificate"),
        "{stderr}"
    );
    // A key given as the certificate.
    let stderr = serve(&other_key, &other_key);
    assert!(stderr.contains("holds no certificate"), "{stderr}");

    let out = rech_testkit::rech()
        .args(["serve", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
