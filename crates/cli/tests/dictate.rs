//! `rech dictate` end to end, fed from files through the same pipeline a microphone uses:
//! endpointing on real Russian speech (Silero VAD from ../shared and a generated model whose
//! decoder repeats one token, so that every utterance has text), silence and noise that must
//! give nothing, the committed prefix of partial results, and every bad input to its one-line
//! error. The microphone itself is tested through PulseAudio in tests/capture.rs.

use rech_testkit::needs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rech_testkit::{assert_fails, assert_success, looping_model, run, shared_dir, stderr};
use serde_json::Value;

/// The five recordings joined for the endpointing test: one passage read by one speaker, each
/// without an inner pause as long as the 600 ms that ends an utterance.
const RECORDINGS: [&str; 5] = ["ru_0024", "ru_0025", "ru_0031", "ru_0032", "ru_0035"];
const GAP_SECONDS: f64 = 1.5;
const TOLERANCE: f64 = 0.3;

fn rech() -> Command {
    let mut cmd = rech_testkit::rech();
    // Devices come from ALSA (and the fake configurations below), never from a sound server
    // that happens to run on the machine.
    cmd.env("PULSE_SERVER", "unix:/nonexistent/rech-test/native")
        .env_remove("PULSE_RUNTIME_PATH")
        .env_remove("XDG_RUNTIME_DIR");
    cmd
}

/// `rech dictate -m <model> -t 1 …`; one thread, because the micro model's steps are too small
/// to share.
fn dictate(args: &[&str]) -> Command {
    let mut cmd = rech();
    cmd.arg("dictate")
        .arg("-m")
        .arg(looping_model())
        .args(["-t", "1"])
        .args(args);
    cmd
}

/// JSON events from stdout, one per line.
fn events(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn finals(events: &[Value]) -> Vec<(f64, f64, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "final")
        .map(|e| {
            (
                e["start"].as_f64().unwrap(),
                e["end"].as_f64().unwrap(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn read_wav(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1), "{path:?}");
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

fn write_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Where the speech in a recording is, by its loudness alone (independent of Silero): 20 ms
/// frames at least 12 dB above the recording's background (its 10th-percentile frame), in
/// runs of at least 60 ms; from the first such run to the end of the last.
fn speech_bounds(samples: &[f32]) -> (f64, f64) {
    let db: Vec<f32> = samples
        .chunks(320)
        .map(|c| {
            let p = c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32;
            10.0 * p.max(1e-10).log10()
        })
        .collect();
    let mut sorted = db.clone();
    sorted.sort_by(f32::total_cmp);
    let floor = sorted[sorted.len() / 10];
    let loud: Vec<bool> = db.iter().map(|&d| d > floor + 12.0).collect();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < loud.len() {
        if loud[i] {
            let start = i;
            while i < loud.len() && loud[i] {
                i += 1;
            }
            if i - start >= 3 {
                runs.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    let first = runs.first().expect("speech in the recording").0;
    let last = runs.last().expect("speech in the recording").1;
    (first as f64 * 0.02, last as f64 * 0.02)
}

/// The five recordings joined with 1.5 s of silence, and where their speech is.
fn joined(shared: &Path, dir: &Path) -> (PathBuf, Vec<(f64, f64)>) {
    let mut all = Vec::new();
    let mut bounds = Vec::new();
    for name in RECORDINGS {
        let samples = read_wav(&shared.join(format!("audio/ru/human/{name}.wav")));
        let offset = all.len() as f64 / 16_000.0;
        let (a, b) = speech_bounds(&samples);
        bounds.push((offset + a, offset + b));
        all.extend_from_slice(&samples);
        all.extend(std::iter::repeat_n(0.0, (GAP_SECONDS * 16_000.0) as usize));
    }
    let path = dir.join("joined.wav");
    write_wav(&path, &all);
    (path, bounds)
}

#[needs(shared)]
#[test]
fn five_recordings_give_five_finals_at_the_right_times() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let (input, truth) = joined(&shared, dir.path());
    let vad = shared.join("models/ggml-silero-v6.2.0.bin");
    let out = run(dictate(&["--format", "jsonl", "--input"])
        .arg(&input)
        .arg("--vad-model")
        .arg(&vad));
    assert_success(&out);
    let got = finals(&events(&out));
    assert_eq!(got.len(), 5, "finals {got:?}, speech at {truth:?}");
    for ((start, end, text), (a, b)) in got.iter().zip(&truth) {
        assert!(
            (start - a).abs() <= TOLERANCE && (end - b).abs() <= TOLERANCE,
            "final {start:.3}..{end:.3}, speech {a:.3}..{b:.3} (all: {got:?})"
        );
        assert!(!text.is_empty() && !text.contains('\u{FFFD}'), "{text:?}");
    }

    // The same stream as text: one line per utterance, to stdout or to a file.
    let out = run(dictate(&["--input"])
        .arg(&input)
        .arg("--vad-model")
        .arg(&vad));
    assert_success(&out);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    let file = dir.path().join("dictated.txt");
    let out = run(dictate(&["--input"])
        .arg(&input)
        .arg("--vad-model")
        .arg(&vad)
        .arg("-o")
        .arg(&file));
    assert_success(&out);
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

/// `path`'s bytes with the RIFF and data sizes a live pipe gets (`arecord -t wav`,
/// `ffmpeg -f wav -`): unknown, left at 0xFFFFFFFF. Returns them and where the samples start.
fn as_sizeless_stream(path: &Path) -> (Vec<u8>, usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    bytes[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    (bytes, data + 8)
}

/// `arecord -t wav | rech dictate --input -`: the pipe is read as it comes, so an utterance
/// is finalised while the pipe is still open, not when it closes.
#[needs(shared)]
#[test]
fn dictation_from_a_pipe_finalises_utterances_while_the_pipe_is_open() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let (input, truth) = joined(&shared, dir.path());
    let (stream, samples_start) = as_sizeless_stream(&input);
    let vad = shared.join("models/ggml-silero-v6.2.0.bin");
    let mut child = dictate(&["--format", "jsonl", "--input", "-", "--vad-model"])
        .arg(&vad)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first two utterances and the pause after the second; the rest is held back.
    let split = samples_start + 2 * ((truth[1].1 + GAP_SECONDS - 0.2) * 16_000.0) as usize;
    stdin.write_all(&stream[..split]).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut early = Vec::new();
    while early
        .iter()
        .filter(|e: &&Value| e["type"] == "final")
        .count()
        < 2
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => early.push(serde_json::from_str(&line).unwrap()),
            Err(_) => {
                let _ = child.kill();
                panic!("no two finals within 120 s while the pipe was open: {early:?}");
            }
        }
    }
    stdin.write_all(&stream[split..]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let mut all = early;
    all.extend(
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(&l).unwrap()),
    );
    let got = finals(&all);
    assert_eq!(got.len(), 5, "finals {got:?}, speech at {truth:?}");
    for ((start, end, _), (a, b)) in got.iter().zip(&truth) {
        assert!(
            (start - a).abs() <= TOLERANCE && (end - b).abs() <= TOLERANCE,
            "final {start:.3}..{end:.3}, speech {a:.3}..{b:.3} (all: {got:?})"
        );
    }
}

#[needs(shared)]
#[test]
fn the_energy_fallback_finds_the_utterances_too() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let (input, truth) = joined(&shared, dir.path());
    // No VAD model anywhere (the model directory is empty): loudness decides, and rech says so.
    let out = run(dictate(&["--format", "jsonl", "--input"]).arg(&input));
    assert_success(&out);
    assert!(
        stderr(&out).contains("detecting speech by loudness"),
        "{}",
        stderr(&out)
    );
    let got = finals(&events(&out));
    assert_eq!(got.len(), 5, "finals {got:?}, speech at {truth:?}");
    for ((start, end, _), (a, b)) in got.iter().zip(&truth) {
        // Loudness is a cruder judge than Silero: the bounds only roughly.
        assert!(
            (start - a).abs() <= 0.5 && (end - b).abs() <= 0.5,
            "final {start:.3}..{end:.3}, speech {a:.3}..{b:.3}"
        );
    }
}

#[needs(shared)]
#[test]
fn silence_and_low_noise_give_no_final() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    write_wav(&silence, &vec![0.0; 16_000 * 8]);
    // White noise at about -50 dBFS, from a fixed generator.
    let mut state = 0x2545_f491_u32;
    let noise: Vec<f32> = (0..16_000 * 8)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 0.011
        })
        .collect();
    let noisy = dir.path().join("noise.wav");
    write_wav(&noisy, &noise);
    for input in [&silence, &noisy] {
        let mut runs = vec![dictate(&["--format", "jsonl", "--no-vad", "--input"])];
        let mut with_vad = dictate(&["--format", "jsonl", "--vad-model"]);
        with_vad
            .arg(shared.join("models/ggml-silero-v6.2.0.bin"))
            .arg("--input");
        runs.push(with_vad);
        for mut cmd in runs {
            let out = run(cmd.arg(input));
            assert_success(&out);
            assert!(out.stdout.is_empty(), "{input:?}: {:?}", events(&out));
        }
    }
}

#[needs(shared)]
#[test]
fn partials_never_change_their_committed_prefix() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let mut audio = Vec::new();
    for name in ["ru_0024", "ru_0031"] {
        audio.extend(read_wav(&shared.join(format!("audio/ru/human/{name}.wav"))));
    }
    let input = dir.path().join("two.wav");
    write_wav(&input, &audio);
    let out = run(dictate(&["--format", "jsonl", "--partial", "--input"])
        .arg(&input)
        .arg("--vad-model")
        .arg(shared.join("models/ggml-silero-v6.2.0.bin")));
    assert_success(&out);
    let events = events(&out);
    assert_eq!(finals(&events).len(), 2, "{events:?}");
    let mut committed: Vec<String> = Vec::new();
    let mut partials = 0;
    let mut committed_words = 0;
    for event in &events {
        let text = event["text"].as_str().unwrap();
        for earlier in &committed {
            assert!(
                text.starts_with(earlier.as_str()),
                "{text:?} does not extend the committed {earlier:?}"
            );
        }
        match event["type"].as_str() {
            Some("partial") => {
                partials += 1;
                let c = event["committed"].as_str().unwrap();
                assert!(text.starts_with(c), "{event}");
                committed_words = committed_words.max(c.split_whitespace().count());
                committed.push(c.to_owned());
            }
            Some("final") => committed.clear(),
            other => panic!("unknown event type {other:?}"),
        }
    }
    assert!(partials >= 2, "{events:?}");
    assert!(
        committed_words > 0,
        "nothing was ever committed: {events:?}"
    );
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let out = run(dictate(&["--input"]).arg(&missing));
    assert_fails(&out, 1, &["missing.wav", "no such file"]);

    let text = dir.path().join("notes.wav");
    std::fs::write(
        &text,
        "this is not audio, just text pretending to be a WAV file\n",
    )
    .unwrap();
    let out = run(dictate(&["--input"]).arg(&text));
    assert_fails(&out, 1, &["notes.wav", "not a recognised audio file"]);

    let out = run(&mut dictate(&["--realtime"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// ALSA configurations that stand in for machines with no input at all, and with a
/// microphone that cannot be opened.
fn alsa_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const FAKE_DEVICES: &str = r#"
pcm.fakemic {
    type null
    hint { show on description "Fake Microphone" }
}
pcm.broken {
    type hw
    card 99
    hint { show on description "Broken Microphone" }
}
"#;

#[test]
fn device_errors_name_the_device_and_list_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let fake = alsa_config(dir.path(), "fake.conf", FAKE_DEVICES);
    let none = alsa_config(dir.path(), "none.conf", "# no devices at all\n");
    for sub in [&["dictate"][..], &["record", "out.wav"][..]] {
        let mut cmd = if sub[0] == "dictate" {
            dictate(&[])
        } else {
            let mut c = rech();
            c.args(sub);
            c
        };
        let out = run(cmd
            .current_dir(dir.path())
            .env("ALSA_CONFIG_PATH", &fake)
            .args(["--device", "webcam"]));
        assert_fails(
            &out,
            1,
            &[
                "no input device matches \"webcam\"",
                "fakemic (Fake Microphone)",
                "broken (Broken Microphone)",
            ],
        );
    }
    let out = run(dictate(&["--device", "broken"]).env("ALSA_CONFIG_PATH", &fake));
    assert_fails(&out, 1, &["cannot open input device \"broken\""]);

    let out = run(dictate(&[]).env("ALSA_CONFIG_PATH", &none));
    assert_fails(&out, 1, &["no audio input device found"]);
    let out = run(rech().arg("devices").env("ALSA_CONFIG_PATH", &none));
    assert_fails(&out, 1, &["no audio input device found"]);

    let out = run(rech()
        .args(["record", "x.wav", "--device", "broken"])
        .current_dir(dir.path())
        .env("ALSA_CONFIG_PATH", &fake));
    assert_fails(&out, 1, &["cannot open input device \"broken\""]);
    assert!(!dir.path().join("x.wav").exists());
}

#[test]
fn a_working_device_records_and_is_listed() {
    // ALSA's null device delivers silence: enough to check the recording path end to end
    // without a sound server (tests/capture.rs does it with real speech through PulseAudio).
    let dir = tempfile::tempdir().unwrap();
    let fake = alsa_config(dir.path(), "fake.conf", FAKE_DEVICES);
    let out = run(rech().arg("devices").env("ALSA_CONFIG_PATH", &fake));
    assert_success(&out);
    let listing = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(listing.contains("fakemic  Fake Microphone"), "{listing}");
    assert!(listing.contains("records 48000 Hz"), "{listing}");

    let wav = dir.path().join("quiet.wav");
    let out = run(rech()
        .args(["record", "--device", "fake", "--duration", "0.5"])
        .arg(&wav)
        .env("ALSA_CONFIG_PATH", &fake));
    assert_success(&out);
    let reader = hound::WavReader::open(&wav).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16)
    );
    assert_eq!(reader.duration(), 8_000);
}
