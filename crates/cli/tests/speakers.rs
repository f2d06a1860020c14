//! Speaker labels on the real path: `rech transcribe --diarize channels` on a call made of
//! two real voices, one per channel, with one overlap — every segment's speaker is the channel
//! that carries it, the overlap is transcribed on both sides, and every format says who
//! speaks; `rech serve` answers `diarized_json` with the same segments; bad input is one line.

use rech_testkit::serve::ServeSetup;
use rech_testkit::{assert_fails, assert_success, needs, run, stdout};

/// `rech transcribe --diarize channels` of the call, as `format`, with `args`.
fn call(setup: &ServeSetup, format: &str, args: &[&str]) -> String {
    let (path, _) = setup.call_wav();
    let out = run(rech_testkit::rech()
        .env("RECH_ORT_LIB", &setup.lib)
        .arg("transcribe")
        .arg("-m")
        .arg(setup.model())
        .arg("--vad-model")
        .arg(setup.vad())
        .args(["-t", "1", "--diarize", "channels", "-f", format])
        .args(args)
        .arg(path));
    assert_success(&out);
    stdout(&out)
}

#[needs(shared, venv)]
#[test]
fn each_channel_is_its_speaker_and_the_overlap_is_heard_on_both_sides() {
    let setup = ServeSetup::new();
    let (_, spans) = setup.call_wav();
    let json: serde_json::Value = serde_json::from_str(&call(&setup, "json", &[])).unwrap();
    let segments = json["segments"].as_array().unwrap();
    let mut heard = [0, 0];
    for segment in segments {
        let speaker = segment["speaker"].as_str().unwrap();
        let channel = match speaker {
            "Спикер 1" => 0,
            "Спикер 2" => 1,
            other => panic!("speaker {other:?}"),
        };
        let (start, end) = (
            segment["start"].as_f64().unwrap(),
            segment["end"].as_f64().unwrap(),
        );
        // Inside one of its own channel's turns (VAD pads speech by 0.2 s).
        assert!(
            spans[channel]
                .iter()
                .any(|&(from, to)| start >= from - 0.35 && end <= to + 0.35),
            "{segment} is not inside a turn of channel {channel}: {spans:?}"
        );
        heard[channel] += 1;
    }
    assert!(heard[0] >= 2 && heard[1] >= 2, "{heard:?}: {json}");
    // Both sides of the overlap (14.0–16.7 s on the left, 15.2–17.8 s on the right).
    let overlap = |channel: &str| {
        segments.iter().any(|s| {
            s["speaker"] == channel
                && s["start"].as_f64().unwrap() < 16.7
                && s["end"].as_f64().unwrap() > 15.2
        })
    };
    assert!(overlap("Спикер 1") && overlap("Спикер 2"), "{json}");
    let speakers = json["speakers"].as_array().unwrap();
    assert_eq!(speakers.len(), 2, "{json}");
    assert!(speakers
        .iter()
        .all(|s| s["seconds"].as_f64().unwrap() > 1.0));
}

#[needs(shared, venv)]
#[test]
fn names_and_labels_reach_every_format() {
    let setup = ServeSetup::new();
    let names = ["--speaker-names", "Оператор,Клиент"];
    let txt = call(&setup, "txt", &names);
    assert!(txt.starts_with("Оператор: "), "{txt}");
    assert!(txt.contains("\nКлиент: "), "{txt}");
    let srt = call(&setup, "srt", &names);
    assert!(
        srt.contains("\nОператор: ") && srt.contains("\nКлиент: "),
        "{srt}"
    );
    let vtt = call(&setup, "vtt", &["--speaker-label", "Голос {n}"]);
    assert!(
        vtt.contains("<v Голос 1>") && vtt.contains("<v Голос 2>"),
        "{vtt}"
    );
    let tsv = call(&setup, "tsv", &[]);
    assert!(tsv.starts_with("start\tend\tspeaker\ttext\n"), "{tsv}");
    let diarized: serde_json::Value =
        serde_json::from_str(&call(&setup, "diarized_json", &[])).unwrap();
    let labels: Vec<&str> = diarized["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"A") && labels.contains(&"B"), "{diarized}");
    assert_eq!(diarized["segments"][0]["type"], "transcript.text.segment");
}

#[needs(shared, venv)]
#[test]
fn serve_answers_diarized_json_with_the_same_segments() {
    let setup = ServeSetup::new();
    let (path, _) = setup.call_wav();
    let bytes = std::fs::read(&path).unwrap();
    let served = setup.serve(&[]);
    let reply = served.transcribe(
        &[
            ("response_format", "diarized_json"),
            ("diarize", "channels"),
            ("known_speaker_names[]", "Оператор"),
        ],
        Some(("call.wav", &bytes)),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        call(&setup, "diarized_json", &["--speaker-names", "Оператор"])
    );
    let mono = setup.recording("human/ru_0022.wav");
    let reply = served.transcribe(
        &[("diarize", "channels")],
        Some(("mono.wav", &std::fs::read(mono).unwrap())),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("\"param\":\"diarize\""),
        "{}",
        reply.text()
    );
    let reply = served.transcribe(&[("diarize", "auto")], Some(("call.wav", &bytes)));
    assert_eq!(reply.status, 400, "{}", reply.text());
}

#[needs(shared)]
#[test]
fn bad_speaker_input_is_one_line_and_writes_nothing() {
    let shared = rech_testkit::shared_dir();
    let mono = shared.join("audio/ru/human/ru_0022.wav");
    let dir = tempfile::tempdir().unwrap();
    let out = run(rech_testkit::rech()
        .args([
            "transcribe",
            "-m",
            "/nonexistent/model.bin",
            "--diarize",
            "channels",
        ])
        .arg("--output-dir")
        .arg(dir.path())
        .arg(&mono));
    assert_fails(
        &out,
        2,
        &["--diarize channels:", "ru_0022.wav: one channel only"],
    );
    assert_eq!(rech_testkit::stderr(&out).lines().count(), 1, "{out:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    for (flags, needle) in [
        (&["--speaker-label", "Спикер"][..], "has no {n}"),
        (&["--speaker-names", "А,А"][..], "given twice"),
    ] {
        let out = run(rech_testkit::rech()
            .args(["transcribe", "--diarize", "channels"])
            .args(flags)
            .arg(&mono));
        assert_fails(&out, 2, &[needle]);
    }
    let out = run(rech_testkit::rech()
        .args(["transcribe", "--diarize", "channels", "-"])
        .stdin(std::fs::File::open(&mono).unwrap()));
    assert_fails(&out, 2, &["save it to a file first"]);
}
