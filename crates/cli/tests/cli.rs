//! End-to-end runs of the real `rech` binary on real audio with a generated model: every sample
//! format into every output format, VAD on real speech, and every bad input to its one-line
//! error, its exit code and no output file.

use rech_testkit::needs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rech_testkit::formats::{check_all_formats, check_json, sample_stem, SAMPLES};
use rech_testkit::{
    assert_fails, assert_fails_last_line, assert_success, model, rech, run, samples_dir,
    shared_dir, stderr, stdout, transcribe, write_file, Running,
};

/// The flags every `rech transcribe` of these tests runs with.
const FLAGS: &[&str] = &["-t", "2"];

#[test]
fn every_sample_into_every_format() {
    let out_dir = tempfile::tempdir().unwrap();
    let names = SAMPLES;
    let inputs: Vec<PathBuf> = names.iter().map(|n| samples_dir().join(n)).collect();
    let out = run(transcribe(
        model(),
        FLAGS,
        &[
            "-f",
            "txt,srt,vtt,json,tsv",
            "--word-timestamps",
            "--output-dir",
        ],
    )
    .arg(out_dir.path())
    .args(&inputs));
    assert_success(&out);
    for name in names {
        check_all_formats(out_dir.path(), sample_stem(name));
    }
    // Nothing else was left behind: exactly five files per input.
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        names.len() * 5
    );
}

#[test]
fn plain_text_on_stdout_by_default_and_stdin_input() {
    let out = run(transcribe(model(), FLAGS, &[]).arg(samples_dir().join("privet-16k-mono.wav")));
    assert_success(&out);
    let by_path = stdout(&out);
    assert!(!by_path.contains('\u{FFFD}'));

    let file = std::fs::File::open(samples_dir().join("privet-16k-mono.wav")).unwrap();
    let out = transcribe(model(), FLAGS, &["-"])
        .stdin(file)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        by_path,
        "stdin gives the same result as the path"
    );

    // What `ffmpeg -i talk.mkv -f wav - | rech transcribe -` sends: the sizes a pipe cannot
    // fill in left at 0xFFFFFFFF. The audio then lasts until the pipe ends.
    let mut piped = std::fs::read(samples_dir().join("privet-16k-mono.wav")).unwrap();
    piped[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let data = piped.windows(4).position(|w| w == b"data").unwrap();
    piped[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let piped_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(piped_file.path(), &piped).unwrap();
    let stdin = std::fs::File::open(piped_file.path()).unwrap();
    let out = transcribe(model(), FLAGS, &["-"])
        .stdin(stdin)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out), by_path, "a sizeless WAV on stdin reads whole");
}

/// The speed and memory switches change how the work is done, not what comes out well formed.
#[test]
fn flash_attention_and_a_fitted_window_still_give_a_transcript() {
    let wav = samples_dir().join("privet-16k-mono.wav");
    for extra in [
        &["--flash-attn"][..],
        &["--fit-window"],
        &["--flash-attn", "--fit-window"],
    ] {
        let mut args = vec!["-f", "json"];
        args.extend_from_slice(extra);
        let out = run(transcribe(model(), FLAGS, &args).arg(&wav));
        assert_success(&out);
        let v = check_json(&stdout(&out));
        assert!(v["duration"].as_f64().unwrap() > 0.5, "{extra:?}");
    }
}

#[needs(shared)]
#[test]
fn real_speech_to_json_and_a_single_output_file() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.json");
    let out = run(
        transcribe(model(), FLAGS, &["-f", "json", "--no-vad", "-o"])
            .arg(&target)
            .arg(shared.join("audio/ru/human/ru_0032.wav")),
    );
    assert_success(&out);
    assert!(stdout(&out).is_empty());
    let v = check_json(&std::fs::read_to_string(&target).unwrap());
    assert!((v["duration"].as_f64().unwrap() - 9.375).abs() < 0.001);
}

/// Three recordings joined by 2 s of silence: with VAD no segment lies inside a silence.
#[needs(shared)]
#[test]
fn vad_keeps_segments_out_of_silence() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let joined = dir.path().join("joined.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&joined, spec).unwrap();
    let mut silences = Vec::new();
    let mut t = 0.0;
    for (i, name) in ["ru_0022.wav", "ru_0025.wav", "ru_0031.wav"]
        .iter()
        .enumerate()
    {
        if i > 0 {
            for _ in 0..32_000 {
                writer.write_sample(0i16).unwrap();
            }
            silences.push((t, t + 2.0));
            t += 2.0;
        }
        let mut reader = hound::WavReader::open(shared.join("audio/ru/human").join(name)).unwrap();
        let n = reader.len();
        for s in reader.samples::<i16>() {
            writer.write_sample(s.unwrap()).unwrap();
        }
        t += f64::from(n) / 16_000.0;
    }
    writer.finalize().unwrap();

    let out = run(transcribe(
        model(),
        FLAGS,
        &["-f", "json", "--word-timestamps", "--vad-model"],
    )
    .arg(shared.join("models/ggml-silero-v6.2.0.bin"))
    .arg(&joined));
    assert_success(&out);
    let v = check_json(&stdout(&out));
    let segments = v["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    for s in segments {
        let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        for &(a, b) in &silences {
            assert!(
                !(start >= a && end <= b),
                "segment {start}..{end} lies inside the silence {a}..{b}"
            );
        }
    }
}

/// whisper-cli's decoding knobs reach whisper.cpp: suppressing every text token leaves no text,
/// `--offset`/`--duration` transcribe a part of the file on its own timeline, and a bad value is
/// one line.
#[needs(shared)]
#[test]
fn decoding_knobs_reach_whisper_cpp() {
    let shared = shared_dir();
    let wav = shared.join("audio/ru/human/ru_0030.wav");
    let json = |args: &[&str]| {
        let out = run(transcribe(
            model(),
            FLAGS,
            &[&["--no-vad", "-f", "json"], args].concat(),
        )
        .arg(&wav));
        assert_success(&out);
        check_json(&stdout(&out))
    };
    let text = |v: &serde_json::Value| v["text"].as_str().unwrap().trim().to_owned();
    let plain = json(&[]);
    assert!(!text(&plain).is_empty());
    // Byte-wise (`-u`), as whisper.cpp's std::regex matches: a token can hold part of a letter.
    assert_eq!(text(&json(&["--suppress-regex", "(?s-u).*"])), "");
    let beam = json(&["--beam-size", "2", "--best-of", "2", "--max-context", "0"]);
    assert!(!text(&beam).is_empty());

    let part = json(&["--offset", "2.5", "--duration", "0:04"]);
    let segments = part["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    for s in segments {
        let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        assert!(
            start >= 2.5 && end <= 6.5 + 1e-6,
            "{start}..{end} outside 2.5..6.5"
        );
    }

    for (args, needle) in [
        (&["--suppress-regex", "(["][..], "not a regular expression"),
        (&["--best-of", "9"], "--best-of"),
        (&["--temperature", "2"], "outside 0..=1"),
        (&["--offset", "1:75"], "not a time"),
        (&["--no-vad", "--vad-pad", "30"], "--vad-pad"),
    ] {
        let out = run(transcribe(model(), FLAGS, args).arg(&wav));
        assert_fails(&out, 2, &[needle]);
    }
    // An offset past the end is that file's error, named as such.
    let out = run(transcribe(model(), FLAGS, &["--no-vad", "--offset", "1:00"]).arg(&wav));
    assert_fails(
        &out,
        1,
        &["--offset 1:00 is past the end of the audio (0:10)"],
    );
}

/// Without a VAD model VAD is off, and one line says so with the command that installs it,
/// whether the model was a file or a catalogue name; `-q` and `--no-vad` silence it.
#[test]
fn vad_off_is_said_once_whatever_way_the_model_was_named() {
    let wav = samples_dir().join("privet-16k-mono.wav");
    let notice = "rech: VAD off: no Silero VAD model (run `rech models download silero-v6.2.0`";
    let out = run(transcribe(model(), FLAGS, &[]).arg(&wav));
    assert_success(&out);
    let err = stderr(&out);
    assert_eq!(err.matches(notice).count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for quiet in ["-q", "--no-vad"] {
        let out = run(transcribe(model(), FLAGS, &[quiet]).arg(&wav));
        assert_success(&out);
        assert!(
            !stderr(&out).contains("VAD off"),
            "{quiet}: {}",
            stderr(&out)
        );
    }
    // A downloaded model named from the catalogue follows the same rule.
    let models = tempfile::tempdir().unwrap();
    std::fs::copy(model(), models.path().join("ggml-custom-micro.bin")).unwrap();
    let out = run(rech()
        .env("RECH_MODELS_DIR", models.path())
        .args(["transcribe", "-t", "2", "-m", "custom-micro"])
        .arg(&wav));
    assert_success(&out);
    assert_eq!(stderr(&out).matches(notice).count(), 1, "{}", stderr(&out));
}

/// `--progress plain` is for logs: a line per file with the audio done and the speed, where
/// the default prints nothing when stderr is not a terminal; `--version` names whisper.cpp's
/// version, the back ends and the CPU features.
#[test]
fn plain_progress_for_logs_and_a_version_that_says_what_is_inside() {
    let wav = samples_dir().join("privet-16k-mono.wav");
    let out = run(transcribe(model(), FLAGS, &["--no-vad", "--progress", "plain"]).arg(&wav));
    assert_success(&out);
    let err = stderr(&out);
    let done = err
        .lines()
        .find(|l| l.contains("privet-16k-mono.wav: done, 0:0"))
        .unwrap_or_else(|| panic!("no plain line: {err}"));
    assert!(done.contains("× real time ("), "{done}");
    let out = run(transcribe(model(), FLAGS, &["--no-vad"]).arg(&wav));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    let out = run(rech().arg("--version"));
    assert_success(&out);
    let text = stdout(&out);
    for needle in [
        "rech 0.1",
        "whisper.cpp 1.8.3",
        "back ends: CPU",
        "CPU features: ",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let out = run(transcribe(model(), FLAGS, &["--gpu"]).arg(&wav));
    assert_fails(&out, 2, &["--gpu", "no GPU back end"]);
}

/// Offline with no model downloaded: one line with the command to download the default model
/// later and the flag to point at a file.
#[test]
fn without_a_model_the_error_says_what_to_do() {
    // Russian (the default language) would use GigaAM; language detection needs Whisper.
    for (args, default) in [
        (&[][..], rech_asr::catalog::DEFAULT_RUSSIAN_MODEL),
        (&["-l", "auto"], rech_asr::catalog::DEFAULT_MODEL),
    ] {
        let out = run(rech()
            .arg("transcribe")
            .args(args)
            .arg(samples_dir().join("privet-16k-mono.wav")));
        assert_fails(
            &out,
            1,
            &[
                &format!("rech models download {default}"),
                "--model PATH",
                "--offline",
            ],
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let wav = samples_dir().join("privet-16k-mono.wav");
    let out = run(transcribe(model(), FLAGS, &["-o", "x.txt"])
        .arg(&wav)
        .arg(&wav));
    assert_fails(&out, 2, &["--output-dir"]);
    let out = run(transcribe(model(), FLAGS, &["-f", "srt,json"]).arg(&wav));
    assert_fails(&out, 2, &["--output-dir"]);
    let out = run(transcribe(model(), FLAGS, &["--vad"]).arg(&wav));
    assert_fails(&out, 2, &["--vad-model"]);
    let out = run(transcribe(model(), FLAGS, &["-f", "doc"]).arg(&wav));
    assert_eq!(out.status.code(), Some(2));
    let out = run(rech().arg("transcribe"));
    assert_eq!(out.status.code(), Some(2));
}

/// Every mistake clap catches is one `rech: error:` line with clap's tip, exit code 2; help and
/// version still print in full and exit 0.
#[test]
fn command_line_mistakes_are_one_line_with_the_tip() {
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["trancribe"],
            &["unrecognized subcommand 'trancribe'", "'transcribe'"],
        ),
        (
            &["dictate", "--typ"],
            &["unexpected argument '--typ'", "'--type'"],
        ),
        (
            &["dictate", "--type", "--typer", "foo"],
            &["invalid value 'foo'", "x11, wayland"],
        ),
        (
            &["transcribe", "--jobs", "0", "x.wav"],
            &["invalid value '0' for '--jobs"],
        ),
        (&["dictate", "ctl"], &["were not provided", "<COMMAND>"]),
    ];
    for (args, needles) in cases {
        let out = run(rech().args(args));
        assert_fails_last_line(&out, 2, needles);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("rech: error: "), "{args:?}: {err}");
    }
    // `-f txt` is dictation's `text` too (as transcribe names it): the missing file is the error.
    let out = run(rech().args(["dictate", "-f", "txt", "--input", "/nonexistent/a.wav"]));
    assert_fails_last_line(&out, 1, &["/nonexistent/a.wav"]);
    let help = run(rech().args(["dictate", "--help"]));
    assert_success(&help);
    assert!(stdout(&help).contains("--listen-on"));
    assert_success(&run(rech().arg("--version")));
    // Each option shows its default once.
    for command in ["transcribe", "dictate", "serve", "record"] {
        let help = stdout(&run(rech().args([command, "--help"])));
        let mut option = String::new();
        let mut defaults = 0;
        for line in help.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with('-') && line.len() - trimmed.len() <= 6 {
                option = trimmed.to_owned();
                defaults = 0;
            }
            defaults += line.matches("[default:").count();
            assert!(defaults <= 1, "{command} {option}: the default twice");
        }
    }
    // transcribe's options come in groups, as whisper-cli users look for them.
    let help = stdout(&run(rech().args(["transcribe", "--help"])));
    for heading in [
        "Input:",
        "Model:",
        "Output:",
        "Performance:",
        "Voice-activity detection:",
        "Decoding (Whisper models):",
        "Global options:",
    ] {
        assert!(help.lines().any(|l| l == heading), "no {heading}\n{help}");
    }
}

/// `-l` takes codes and Whisper's names in any case, refuses anything else once and before any
/// input is read or model loaded, and `-l list` prints them all.
#[test]
fn languages_are_checked_before_any_work_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let batch: Vec<PathBuf> = (0..5)
        .map(|i| {
            let path = dir.path().join(format!("{i}.wav"));
            std::fs::copy(samples_dir().join("privet-16k-mono.wav"), &path).unwrap();
            path
        })
        .collect();
    for bad in ["xx", "klingon", "r1"] {
        // The model does not exist: the language must be the error, and the only one.
        let out = run(rech()
            .args(["transcribe", "-m", "/nonexistent/model.bin", "-l", bad])
            .args(&batch));
        assert_fails_last_line(&out, 2, &[bad, "is not a language", "-l list"]);
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    for good in ["RU", "russian", "Russian", "en", "auto"] {
        let out = run(rech()
            .args(["transcribe", "-m", "/nonexistent/model.bin", "-l", good])
            .args(&batch));
        let err = stderr(&out);
        assert!(!err.contains("is not a language"), "{good}: {err}");
        assert!(err.contains("/nonexistent/model.bin"), "{good}: {err}");
    }
    for command in ["transcribe", "dictate", "serve"] {
        let out = run(rech().args([command, "-l", "list"]));
        assert_success(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().any(|l| l == "ru\trussian"), "{text}");
        assert_eq!(
            text.lines().count(),
            rech_asr::languages::LANGUAGES.len() + 1
        );
    }
}

fn wav_bytes(spec: hound::WavSpec, samples: &[f32]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for &s in samples {
        match spec.sample_format {
            hound::SampleFormat::Float => writer.write_sample(s).unwrap(),
            hound::SampleFormat::Int => writer.write_sample((s * 32767.0) as i16).unwrap(),
        }
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

const PCM16: hound::WavSpec = hound::WavSpec {
    channels: 1,
    sample_rate: 16_000,
    bits_per_sample: 16,
    sample_format: hound::SampleFormat::Int,
};

/// Each bad audio input: exit 1, one line naming the file and the problem, no output file.
#[test]
fn bad_audio_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let good = std::fs::read(samples_dir().join("privet-16k-mono.wav")).unwrap();
    let float = hound::WavSpec {
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
        ..PCM16
    };
    let mut nan = vec![0.1f32; 16_000];
    nan[4_000] = f32::NAN;
    let cases: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("missing.wav"), "no such file"),
        (
            write_file(dir.path(), "empty.wav", b""),
            "the file is empty",
        ),
        (
            write_file(dir.path(), "header.wav", &wav_bytes(PCM16, &[])),
            "no audio samples",
        ),
        (
            write_file(dir.path(), "cut.wav", &good[..good.len() / 2]),
            "the file is truncated",
        ),
        (
            write_file(
                dir.path(),
                "text.wav",
                "Это не звук, а текст.\n".repeat(40).as_bytes(),
            ),
            "not a recognised audio file",
        ),
        (
            write_file(dir.path(), "short.wav", &wav_bytes(PCM16, &[0.1; 800])),
            "too short (50 ms)",
        ),
        (
            write_file(dir.path(), "nan.wav", &wav_bytes(float, &nan)),
            "NaN or infinite samples (first at 0.250 s)",
        ),
    ];
    for (path, message) in cases {
        // --no-vad: without a VAD model, a notice line would come first.
        let out = run(transcribe(model(), FLAGS, &["--no-vad", "--output-dir"])
            .arg(&out_dir)
            .arg(&path));
        let shown = path.display().to_string();
        assert_fails(&out, 1, &[&shown, message]);
        let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
        assert!(left.is_empty(), "{shown} left {left:?}");
    }
    // A directory is expanded into its audio files; one without any is a usage error.
    let empty = tempfile::tempdir().unwrap();
    let out = run(transcribe(model(), FLAGS, &[]).arg(empty.path()));
    assert_fails(
        &out,
        2,
        &[&empty.path().display().to_string(), "no audio files"],
    );
}

#[test]
fn unreadable_input_and_unwritable_output_dir() {
    let dir = tempfile::tempdir().unwrap();
    let wav = write_file(
        dir.path(),
        "locked.wav",
        &std::fs::read(samples_dir().join("privet-16k-mono.wav")).unwrap(),
    );
    let locked_dir = dir.path().join("locked");
    std::fs::create_dir(&locked_dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wav, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // Root ignores permissions: run as nobody when we are root, through setpriv.
    let as_root = std::fs::read(&wav).is_ok();
    let wrap = |args: &[&std::ffi::OsStr]| -> Output {
        let bin = assert_cmd::cargo::cargo_bin("rech");
        let mut cmd = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let model_copy = dir.path().join("m.bin");
        if !model_copy.exists() {
            std::fs::copy(model(), &model_copy).unwrap();
        }
        cmd.arg("transcribe")
            .arg("--no-vad")
            .arg("-m")
            .arg(&model_copy)
            .args(args);
        run(&mut cmd)
    };
    let out = wrap(&[wav.as_os_str()]);
    assert_fails(&out, 1, &[&wav.display().to_string(), "permission denied"]);

    let readable = samples_dir().join("privet-16k-mono.wav");
    let target = locked_dir.join("sub");
    let out = wrap(&[
        "--output-dir".as_ref(),
        target.as_os_str(),
        readable.as_os_str(),
    ]);
    assert_fails(
        &out,
        1,
        &[&target.display().to_string(), "permission denied"],
    );
    let out = wrap(&[
        "--output-dir".as_ref(),
        locked_dir.as_os_str(),
        readable.as_os_str(),
    ]);
    assert_fails(
        &out,
        1,
        &[&locked_dir.display().to_string(), "permission denied"],
    );
    assert_eq!(std::fs::read_dir(&locked_dir).unwrap().count(), 0);

    // A regular file where a directory should be fails for root too.
    let out = run(transcribe(model(), FLAGS, &["--output-dir"])
        .arg(wav.join("sub"))
        .arg(&readable));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[needs(shared)]
#[test]
fn bad_model_files() {
    let dir = tempfile::tempdir().unwrap();
    let wav = samples_dir().join("privet-16k-mono.wav");
    let good = std::fs::read(model()).unwrap();
    let mut cases: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("missing.bin"), "model file not found"),
        (dir.path().to_owned(), "is a directory"),
        (
            write_file(dir.path(), "cut.bin", &good[..good.len() / 2]),
            "truncated",
        ),
        (
            write_file(dir.path(), "text.bin", b"not a model at all\n"),
            "not a whisper.cpp ggml model",
        ),
        (write_file(dir.path(), "empty.bin", b""), "empty"),
    ];
    cases.push((
        shared_dir().join("models/for-tests-ggml-tiny.bin"),
        "has no weights",
    ));
    for (path, message) in cases {
        let out = run(rech().arg("transcribe").arg("-m").arg(&path).arg(&wav));
        assert_fails(&out, 1, &[&path.display().to_string(), message]);
    }
    // A Whisper model given as the VAD model.
    let out = run(transcribe(model(), FLAGS, &["--vad-model"])
        .arg(model())
        .arg(&wav));
    assert_fails(&out, 1, &["not a Silero VAD model"]);
}

#[test]
fn one_bad_input_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let bad = write_file(dir.path(), "bad.wav", b"garbage");
    let out = run(transcribe(model(), FLAGS, &["--output-dir"])
        .arg(&out_dir)
        .arg(&bad)
        .arg(samples_dir().join("privet.ogg")));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad.wav"), "{err}");
    assert!(err.contains("1 of 2 inputs failed"), "{err}");
    assert!(out_dir.join("privet.txt").is_file());
    assert!(!out_dir.join("bad.txt").exists());
}

#[test]
fn closed_stdout_is_a_quiet_exit() {
    let mut child = transcribe(model(), FLAGS, &["-f", "json", "--word-timestamps"])
        .arg(samples_dir().join("pogoda.flac"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.status.code() == Some(0),
        "exit {:?}: {err}",
        out.status.code()
    );
}

#[test]
fn ctrl_c_leaves_no_output_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.wav");
    // Five minutes of noise: long enough to be interrupted mid-transcription.
    let noise: Vec<f32> = (0..16_000 * 300)
        .map(|i| ((i as f32 * 12.9898).sin() * 43758.547).fract() * 0.2)
        .collect();
    std::fs::write(&long, wav_bytes(PCM16, &noise)).unwrap();
    let out_dir = dir.path().join("out");
    let mut running = Running::spawn(
        transcribe(model(), FLAGS, &["-v", "--no-fallback", "--output-dir"])
            .arg(&out_dir)
            .arg(&long),
    );
    // Interrupted once the model is loaded (`-v`'s line for it), with the five minutes still
    // ahead.
    running.wait_for(
        &format!("loaded {} in", model().display()),
        Duration::from_secs(60),
    );
    running.interrupt();
    let (_, err, code) = running.finish(Duration::from_secs(60));
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

/// What `rech COMMAND -v` says about OpenMP's waiting, with the machine as it is.
fn openmp_choice(command: &str, env: &[(&str, &str)]) -> Option<String> {
    let mut cmd = rech();
    cmd.env_remove("OMP_WAIT_POLICY")
        .env_remove("GOMP_SPINCOUNT")
        .env_remove("RECH_OPENMP_WAITING")
        .envs(env.iter().copied())
        .args([command, "-v", "-m", "/nonexistent/model.bin"]);
    if command == "transcribe" {
        cmd.arg("/nonexistent/audio.wav");
    }
    let out = cmd.output().unwrap();
    String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .find(|l| l.contains("OpenMP threads wait"))
        .map(str::to_owned)
}

#[test]
fn openmp_threads_sleep_when_the_cores_are_busy_and_as_the_user_says() {
    // Two processes spinning on a machine of two cores (or more: one per core).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut spinners: Vec<std::process::Child> = (0..cores)
        .map(|_| {
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let busy = openmp_choice("transcribe", &[]);
    let serve = openmp_choice("serve", &[]);
    for spinner in &mut spinners {
        let _ = spinner.kill();
        let _ = spinner.wait();
    }
    let busy = busy.expect("transcribe -v says how its threads wait");
    assert!(
        busy.contains("sleeping (other threads kept the cores busy)"),
        "{busy}"
    );
    // The server never spins, whatever the machine is doing.
    let serve = serve.expect("serve -v says how its threads wait");
    assert!(
        serve.ends_with("wait by sleeping; set OMP_WAIT_POLICY or GOMP_SPINCOUNT to choose"),
        "{serve}"
    );
    // Set by hand: left alone, and nothing to say.
    assert_eq!(
        openmp_choice("transcribe", &[("OMP_WAIT_POLICY", "active")]),
        None
    );
    assert_eq!(
        openmp_choice("transcribe", &[("GOMP_SPINCOUNT", "1000")]),
        None
    );
}
