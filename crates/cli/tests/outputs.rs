//! What users feed rech and what they expect back, end to end through the real binary: voice
//! messages and video containers in; `-o`'s extension, mirrored trees, OpenAI's verbose_json,
//! whisper-cli's JSON, subtitles a real parser accepts within their limits, and a header per
//! input on stdout out.

use rech_testkit::needs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rech_testkit::{
    assert_fails_last_line, assert_success, model, run, samples_dir, stdout, test_venv, transcribe,
};

/// The flags every `rech transcribe` of these tests runs with.
const FLAGS: &[&str] = &["--no-fallback", "-t", "1", "--no-vad"];

fn formats_dir() -> PathBuf {
    samples_dir().join("formats")
}

fn json_of(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A Telegram voice message, WebM and MKV with Opus, AIFF, CAF, W64 and M4A: each transcribes,
/// and each reports the duration of the one recording they all hold.
#[test]
fn voice_messages_and_containers_transcribe_with_one_duration() {
    let out = tempfile::tempdir().unwrap();
    let names = [
        "voice.wav",
        "voice.oga",
        "voice.opus",
        "voice.webm",
        "voice.mkv",
        "voice-opus.mp4",
        "voice.m4a",
        "voice.mov",
        "voice.aiff",
        "voice.caf",
        "voice.w64",
    ];
    let mut cmd = transcribe(
        model(),
        FLAGS,
        &[
            "-f",
            "json",
            "--output-template",
            "{name}.{ext}",
            "--output-dir",
        ],
    );
    cmd.arg(out.path());
    for name in names {
        cmd.arg(formats_dir().join(name));
    }
    assert_success(&run(&mut cmd));
    let reference = json_of(&out.path().join("voice.wav.json"))["duration"]
        .as_f64()
        .unwrap();
    for name in names {
        let duration = json_of(&out.path().join(format!("{name}.json")))["duration"]
            .as_f64()
            .unwrap();
        assert!(
            (duration - reference).abs() <= 0.005,
            "{name}: {duration} s against {reference} s"
        );
    }
}

#[test]
fn the_output_extension_chooses_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let srt = dir.path().join("lecture.srt");
    let input = samples_dir().join("privet-16k-mono.wav");
    assert_success(&run(transcribe(model(), FLAGS, &["-o"])
        .arg(&srt)
        .arg(&input)));
    let text = std::fs::read_to_string(&srt).unwrap();
    assert!(text.starts_with("1\n00:00:"), "{text}");
    let vtt = dir.path().join("lecture.VTT");
    assert_success(&run(transcribe(model(), FLAGS, &["-o"])
        .arg(&vtt)
        .arg(&input)));
    assert!(std::fs::read_to_string(&vtt)
        .unwrap()
        .starts_with("WEBVTT\n"));
    // -f wins over the extension.
    let forced = dir.path().join("plain.srt");
    assert_success(&run(transcribe(model(), FLAGS, &["-f", "txt", "-o"])
        .arg(&forced)
        .arg(&input)));
    assert!(!std::fs::read_to_string(&forced).unwrap().contains("-->"));
}

#[test]
fn a_format_name_given_to_o_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = samples_dir().join("privet-16k-mono.wav");
    let out = run(transcribe(model(), FLAGS, &["-o", "srt"])
        .current_dir(dir.path())
        .arg(&input));
    assert_fails_last_line(&out, 2, &["rech: error:", "-f srt"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_output_directory_fails_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nodir/x.txt");
    // A model that does not exist: the check must come before the model is even looked at.
    let mut cmd = rech_testkit::rech();
    cmd.args(["transcribe", "-m", "/nonexistent/model.bin", "-o"])
        .arg(&target)
        .arg(samples_dir().join("privet-16k-mono.wav"));
    let out = run(&mut cmd);
    assert_fails_last_line(&out, 1, &["nodir", "no such file or directory"]);
    let text = rech_testkit::stderr(&out);
    assert!(
        !text.contains(".part") && !text.contains("model.bin"),
        "{text}"
    );
}

#[test]
fn outputs_follow_the_umask_and_keep_an_existing_files_mode() {
    let dir = tempfile::tempdir().unwrap();
    let input = samples_dir().join("privet-16k-mono.wav");
    let fresh = dir.path().join("fresh.txt");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_rech"))
        .args(["transcribe", "--no-fallback", "-t", "1", "--no-vad", "-m"])
        .arg(model())
        .arg("-o")
        .arg(&fresh)
        .arg(&input);
    assert_success(&run(&mut cmd));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o644);
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o604)).unwrap();
    assert_success(&run(transcribe(model(), FLAGS, &["-o"])
        .arg(&fresh)
        .arg(&input)));
    assert_eq!(mode(&fresh), 0o604);
}

/// `ep1/audio.mp3` and `ep2/audio.mp3`: one command, the tree mirrored, nothing refused.
#[test]
fn output_dir_mirrors_the_input_tree() {
    let input = tempfile::tempdir().unwrap();
    for episode in ["ep1", "ep2"] {
        std::fs::create_dir(input.path().join(episode)).unwrap();
        std::fs::copy(
            samples_dir().join("chisla.mp3"),
            input.path().join(episode).join("audio.mp3"),
        )
        .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let mut cmd = transcribe(model(), FLAGS, &["-r", "-f", "srt,json", "--output-dir"]);
    cmd.arg(out.path()).arg(input.path());
    assert_success(&run(&mut cmd));
    for episode in ["ep1", "ep2"] {
        for ext in ["srt", "json"] {
            let path = out.path().join(episode).join(format!("audio.{ext}"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
    // --skip-existing finds them there.
    let again = run(transcribe(
        model(),
        FLAGS,
        &["-r", "-f", "srt,json", "--skip-existing", "--output-dir"],
    )
    .arg(out.path())
    .arg(input.path()));
    assert_success(&again);
    assert!(rech_testkit::stderr(&again).contains("skipping 2 of 2"));
    // Two JSON formats into one name is refused up front; {format} tells them apart.
    let clash = run(
        transcribe(model(), FLAGS, &["-f", "json,verbose_json", "--output-dir"])
            .arg(out.path())
            .arg(samples_dir().join("chisla.mp3")),
    );
    assert_fails_last_line(&clash, 2, &["would both be written to", "{format}"]);
    let apart = run(transcribe(
        model(),
        FLAGS,
        &[
            "-f",
            "json,verbose_json",
            "--output-template",
            "{stem}.{format}.{ext}",
            "--output-dir",
        ],
    )
    .arg(out.path())
    .arg(samples_dir().join("chisla.mp3")));
    assert_success(&apart);
    assert!(out.path().join("chisla.verbose_json.json").is_file());
}

/// OpenAI's verbose_json, field by field as its API reference (`TranscriptionVerbose`,
/// `TranscriptionSegment`, `TranscriptionWord`) defines it.
#[test]
fn verbose_json_matches_openais_schema() {
    let input = samples_dir().join("pogoda.flac");
    let out =
        run(transcribe(model(), FLAGS, &["-f", "verbose_json", "--word-timestamps"]).arg(&input));
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["task"], "transcribe");
    assert_eq!(v["language"], "russian");
    let duration = v["duration"].as_f64().unwrap();
    assert!((duration - 4.193).abs() < 0.01, "{duration}");
    let segments = v["segments"].as_array().unwrap();
    let mut text = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s["id"].as_u64(), Some(i as u64));
        assert!(s["seek"].is_u64());
        let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        assert!(0.0 <= start && start <= end && end <= duration + 1e-9);
        assert!(s["text"].as_str().unwrap().starts_with(' '));
        text.push(s["text"].as_str().unwrap().trim().to_owned());
        assert!(s["tokens"].is_array());
        for field in [
            "temperature",
            "avg_logprob",
            "compression_ratio",
            "no_speech_prob",
        ] {
            assert!(
                s[field].is_f64() || s[field].is_i64(),
                "{field}: {}",
                s[field]
            );
        }
        assert!(s["avg_logprob"].as_f64().unwrap() <= 0.0);
    }
    assert_eq!(v["text"].as_str().unwrap(), text.join(" "));
    let words = v["words"].as_array().unwrap();
    assert!(!words.is_empty());
    for w in words {
        let keys: Vec<&str> = w.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["word", "start", "end"]);
    }
    // Without word times there are no made-up ones.
    let plain = run(transcribe(model(), FLAGS, &["-f", "verbose_json"]).arg(&input));
    let v: serde_json::Value = serde_json::from_str(&stdout(&plain)).unwrap();
    assert!(v.get("words").is_none());
    let json = run(transcribe(model(), FLAGS, &["-f", "json"]).arg(&input));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert!(v["text"].is_string());
    assert!(v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.get("words").is_none()));
}

#[test]
fn whisper_json_has_whisper_clis_layout() {
    let out =
        run(transcribe(model(), FLAGS, &["-f", "whisper-json"])
            .arg(samples_dir().join("pogoda.flac")));
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["result"]["language"], "ru");
    for entry in v["transcription"].as_array().unwrap() {
        assert!(entry["timestamps"]["from"].as_str().unwrap().contains(','));
        assert!(
            entry["offsets"]["to"].as_u64().unwrap() >= entry["offsets"]["from"].as_u64().unwrap()
        );
    }
}

/// SRT and WebVTT with tight limits, parsed by the `srt` and `webvtt-py` packages: every cue
/// within the limits, none empty in time, none overlapping.
#[needs(venv)]
#[test]
fn subtitles_within_limits_parse_with_real_parsers() {
    let venv = test_venv();
    let dir = tempfile::tempdir().unwrap();
    let input = samples_dir().join("chisla.mp3");
    // A model that writes many words, so that there is something to cut.
    let mut cmd = rech_testkit::rech();
    cmd.arg("transcribe")
        .arg("-m")
        .arg(rech_testkit::looping_model())
        .args([
            "--no-fallback",
            "-t",
            "1",
            "--no-vad",
            "--keep-hallucinations",
        ]);
    cmd.args([
        "-f",
        "srt,vtt",
        "--max-line-width",
        "16",
        "--max-line-count",
        "1",
        "--max-cue-duration",
        "1.5",
        "--output-dir",
    ]);
    cmd.arg(dir.path()).arg(&input).stdin(Stdio::null());
    assert_success(&run(&mut cmd));
    let script = r#"
import sys, srt, webvtt
width, count, longest = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
subs = list(srt.parse(open(sys.argv[1], encoding="utf-8").read()))
assert subs, "no cues"
last = None
for s in subs:
    d = (s.end - s.start).total_seconds()
    assert 0 < d <= longest + 0.001, (s.index, d)
    lines = s.content.split("\n")
    assert 1 <= len(lines) <= count, lines
    assert all(len(l) <= width or " " not in l for l in lines), lines
    assert last is None or last <= s.start, (s.index, last, s.start)
    last = s.end
vtt = webvtt.read(sys.argv[2])
assert len(vtt.captions) == len(subs), (len(vtt.captions), len(subs))
for c, s in zip(vtt.captions, subs):
    assert c.text == s.content, (c.text, s.content)
print(len(subs))
"#;
    let out = run(Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("chisla.srt"))
        .arg(dir.path().join("chisla.vtt"))
        .args(["16", "1", "1.5"]));
    assert_success(&out);
    assert!(stdout(&out).trim().parse::<usize>().unwrap() > 1);
}

#[test]
fn several_inputs_on_stdout_each_get_a_header() {
    let a = samples_dir().join("privet-16k-mono.wav");
    let b = samples_dir().join("pogoda.flac");
    let out = run(transcribe(model(), FLAGS, &[]).arg(&a).arg(&b));
    assert_success(&out);
    let text = stdout(&out);
    let first = format!("==> {} <==\n", a.display());
    let second = format!("==> {} <==\n", b.display());
    assert!(text.starts_with(&first), "{text}");
    assert!(text.contains(&format!("\n\n{second}")), "{text}");
    // -q: the texts alone, as before.
    let quiet = run(transcribe(model(), FLAGS, &["-q"]).arg(&a).arg(&b));
    assert!(!stdout(&quiet).contains("==>"));
}
