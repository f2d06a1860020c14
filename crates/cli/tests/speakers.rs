//! Speaker labels on the real path: `rech transcribe --diarize channels` on a call made of
//! two real voices, one per channel, with one overlap — every segment's speaker is the channel
//! that carries it, the overlap is transcribed on both sides, and every format says who
//! speaks; `rech transcribe --diarize` (by voice, random-weight models) gives every word the
//! speaker pyannote.audio's own pipeline hears there; `rech serve` answers `diarized_json`
//! with the same segments; bad input is one line.

use std::path::{Path, PathBuf};

use rech_testkit::serve::{write_wav, ServeSetup};
use rech_testkit::{assert_fails, diarize, needs, run};

/// `rech transcribe --diarize channels` of the call, as `format`, with `args`.
fn call(setup: &ServeSetup, format: &str, args: &[&str]) -> String {
    let (path, _) = setup.call_wav();
    let mut all = vec!["--diarize", "channels"];
    all.extend(args);
    setup.cli_with(&path, format, &all)
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

/// The recording pyannote.audio diarized for the fixtures, as a WAV.
fn fixture_recording(fixtures: &serde_json::Value) -> PathBuf {
    let path = rech_testkit::tmp_dir().join("diarize-pipeline.wav");
    write_wav(&path, 1, diarize::pipeline_samples(fixtures));
    path
}

/// `rech transcribe --diarize` (by voice, the random-weight models) of `file`.
fn by_voice(setup: &ServeSetup, file: &Path, format: &str, args: &[&str]) -> String {
    let mut all = diarize::model_args();
    all.extend(args.iter().map(|a| (*a).to_owned()));
    // A bare --diarize before the input: by voice.
    all.push("--diarize".into());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    setup.cli_with(file, format, &all)
}

#[needs(shared, venv)]
#[test]
fn every_word_gets_the_speaker_pyannote_hears_there() {
    let setup = ServeSetup::new();
    let fixtures = diarize::fixtures();
    let wav = fixture_recording(&fixtures);
    let json: serde_json::Value = serde_json::from_str(&by_voice(
        &setup,
        &wav,
        "json",
        &["--speakers", "2", "--word-timestamps"],
    ))
    .unwrap();
    // pyannote.audio's turns for two speakers on this recording, with these models.
    let turns: Vec<(f64, f64, u64)> = fixtures["pipeline"]["runs"]["speakers-2"]["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_f64().unwrap(),
                t[1].as_f64().unwrap(),
                t[2].as_u64().unwrap(),
            )
        })
        .collect();
    // Each word that one speaker alone covers in pyannote's turns must carry that speaker
    // (under rech's label): the same label for the same pyannote speaker throughout.
    let mut label_of = std::collections::BTreeMap::new();
    let mut checked = 0;
    for segment in json["segments"].as_array().unwrap() {
        for word in segment["words"].as_array().unwrap() {
            let (start, end) = (
                word["start"].as_f64().unwrap(),
                word["end"].as_f64().unwrap(),
            );
            let covering: Vec<u64> = turns
                .iter()
                .filter(|&&(from, to, _)| from < end && to > start)
                .map(|&(_, _, s)| s)
                .collect();
            let whole = turns
                .iter()
                .any(|&(from, to, _)| from <= start && to >= end);
            if !whole || covering.iter().any(|&s| s != covering[0]) {
                continue;
            }
            let label = word["speaker"].as_str().unwrap().to_owned();
            assert_eq!(
                segment["speaker"].as_str(),
                Some(label.as_str()),
                "{segment}"
            );
            let expected = label_of.entry(covering[0]).or_insert_with(|| label.clone());
            assert_eq!(*expected, label, "{word} in pyannote's turns {covering:?}");
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} words were unambiguous: {json}"
    );
    assert_eq!(label_of.len(), 2, "{label_of:?}");
    let speakers = json["speakers"].as_array().unwrap();
    assert_eq!(speakers.len(), 2, "{json}");
}

#[needs(shared, venv)]
#[test]
fn served_speakers_by_voice_are_the_clis() {
    let setup = ServeSetup::new();
    let fixtures = diarize::fixtures();
    let wav = fixture_recording(&fixtures);
    let mut args: Vec<String> = vec![
        "--diarize".into(),
        "voices".into(),
        "--speakers".into(),
        "2".into(),
    ];
    args.extend(diarize::model_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let served = setup.serve(&args);
    let bytes = std::fs::read(&wav).unwrap();
    let cli = by_voice(&setup, &wav, "diarized_json", &["--speakers", "2"]);
    for form in [
        &[("response_format", "diarized_json")][..],
        &[("response_format", "diarized_json"), ("diarize", "voices")],
    ] {
        let reply = served.transcribe(form, Some(("talk.wav", &bytes)));
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), cli);
    }
    let labels: std::collections::BTreeSet<String> =
        serde_json::from_str::<serde_json::Value>(&cli).unwrap()["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["speaker"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(labels.len(), 2, "{cli}");
    // A server started without the speaker models says so for `diarize=voices`.
    let plain = setup.serve(&[]);
    let reply = plain.transcribe(&[("diarize", "voices")], Some(("talk.wav", &bytes)));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("speaker models"), "{}", reply.text());
}

#[needs(shared, venv)]
#[test]
fn bad_speaker_models_and_counts_are_one_line_and_write_nothing() {
    let setup = ServeSetup::new();
    let mono = setup.recording("human/ru_0022.wav");
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("segmentation.onnx");
    let bytes = std::fs::read(diarize::data().join("segmentation-micro.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let embedding = diarize::data().join("embedding-micro.onnx");
    let missing = dir.path().join("missing.onnx");
    for (segmentation, embedding, needle) in [
        (&truncated, &embedding, "segmentation.onnx"),
        (&missing, &embedding, "missing.onnx"),
        (&embedding, &embedding, "not a speaker segmentation model"),
    ] {
        let out = run(rech_testkit::rech()
            .env("RECH_ORT_LIB", &setup.lib)
            .args(["transcribe", "--diarize", "voices", "-m"])
            .arg(setup.model())
            .arg("--no-vad")
            .arg("--segmentation-model")
            .arg(segmentation)
            .arg("--embedding-model")
            .arg(embedding)
            .arg("--output-dir")
            .arg(&out_dir)
            .arg(&mono));
        assert_fails(&out, 1, &["speaker labels", needle]);
        assert_eq!(rech_testkit::stderr(&out).lines().count(), 1, "{out:?}");
    }
    for (flags, needle) in [
        (&["--speakers", "0"][..], "--speakers"),
        (
            &["--min-speakers", "3", "--max-speakers", "2"],
            "cannot both hold",
        ),
        (
            &["--speakers", "2", "--min-speakers", "1"],
            "cannot be used with",
        ),
    ] {
        let out = run(rech_testkit::rech()
            .args(["transcribe", "--diarize", "voices"])
            .args(flags)
            .arg(&mono));
        assert_fails(&out, 2, &[needle]);
    }
    let out = run(rech_testkit::rech()
        .args(["transcribe", "--diarize", "channels", "--speakers", "2"])
        .arg(&mono));
    assert_fails(&out, 2, &["--speakers is for --diarize voices"]);
    // Offline without the catalogue's speaker models: one line saying how to get them,
    // before any audio is read.
    let out = run(rech_testkit::rech()
        .env("RECH_ORT_LIB", &setup.lib)
        .env("RECH_OFFLINE", "1")
        .env("RECH_MODELS_DIR", dir.path().join("models"))
        .args(["transcribe", "--no-vad", "-m"])
        .arg(setup.model())
        .arg("--output-dir")
        .arg(&out_dir)
        .arg("--diarize")
        .arg(&mono));
    assert_fails(
        &out,
        1,
        &["rech models download pyannote-wespeaker-resnet34"],
    );
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}
