//! `rech eval` on the real binary: transcripts made elsewhere scored against a manifest with
//! Russian normalisation, as a table, JSON and TSV; bad manifest lines are one line each with
//! their number and the rest is still scored (exit 1); a missing manifest is a usage error.

use rech_ggml::generate::DecoderOutput;
use rech_testkit::serve::ServeSetup;
use rech_testkit::{micro_model, needs, run, stderr, stdout};

fn eval(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(rech_testkit::rech().current_dir(dir).arg("eval").args(args))
}

#[test]
fn transcripts_from_elsewhere_are_scored_against_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("refs.tsv"),
        "path\treference\n\
         talk/a.wav\tВ 2021 году «Ёлка» стоила 300 рублей.\n\
         talk/b.wav\tКто-то постучал в дверь\n\
         no tab on this line\n\
         ./talk/a.wav\tдубль\n",
    )
    .unwrap();
    // One system spells the numbers out and leaves a word out; the other is perfect but for
    // case, punctuation and «ё».
    std::fs::write(
        dir.path().join("one.tsv"),
        "talk/a.wav\tв две тысячи двадцать один году елка стоила триста рублей\n\
         talk/b.wav\tкто-то постучал дверь\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("two.tsv"),
        "talk/a.wav\tВ 2021 году ёлка стоила 300 рублей\n\
         talk/b.wav\tКТО-ТО ПОСТУЧАЛ В ДВЕРЬ!\n\
         talk/c.wav\tлишняя строка\n",
    )
    .unwrap();

    let out = eval(
        dir.path(),
        &[
            "--hyp",
            "one.tsv",
            "--hyp",
            "two.tsv",
            "refs.tsv",
            "--per-file",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let errors = stderr(&out);
    assert_eq!(
        errors.lines().collect::<Vec<_>>(),
        [
            "rech: error: refs.tsv:4: no tab between the path and the text",
            "rech: error: refs.tsv:5: ./talk/a.wav is given again (first on line 2)",
            "rech: error: two.tsv:3: talk/c.wav is not in the manifest",
        ]
    );
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("SYSTEM") && lines[0].contains("WER"),
        "{table}"
    );
    // one.tsv: 1 deletion in 14 reference words.
    assert!(
        lines[1].starts_with("one.tsv") && lines[1].contains("7.14%"),
        "{table}"
    );
    assert!(
        lines[2].trim_start().starts_with("talk/a.wav") && lines[2].contains("0.00%"),
        "{table}"
    );
    assert!(
        lines[4].starts_with("two.tsv") && lines[4].contains(" 0.00%"),
        "{table}"
    );

    let out = eval(dir.path(), &["--hyp", "one.tsv", "refs.tsv", "-f", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let one = &json["systems"][0];
    assert_eq!(json["normalized"], true);
    assert_eq!(
        (
            one["name"].as_str(),
            one["files"].as_u64(),
            one["deletions"].as_u64()
        ),
        (Some("one.tsv"), Some(2), Some(1))
    );
    assert_eq!(one["wer"].as_f64(), Some(1.0 / 14.0));

    // As written, the case, the punctuation and the digits count.
    let out = eval(
        dir.path(),
        &[
            "--hyp",
            "two.tsv",
            "refs.tsv",
            "-f",
            "tsv",
            "--no-normalize",
        ],
    );
    let tsv = stdout(&out);
    let total: Vec<&str> = tsv.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(&total[..2], ["two.tsv", "*"]);
    assert!(total[2].parse::<f64>().unwrap() > 0.3, "{tsv}");

    // Aligned word by word, with plain markers off a terminal.
    let out = eval(dir.path(), &["--hyp", "one.tsv", "refs.tsv", "--diff"]);
    let diff = stdout(&out);
    assert!(
        diff.contains("talk/b.wav (one.tsv): кто-то постучал [-в-] дверь\n"),
        "{diff}"
    );
    let two = eval(
        dir.path(),
        &["--hyp", "two.tsv", "refs.tsv", "--diff", "--no-normalize"],
    );
    assert!(
        stdout(&two).contains("В 2021 году [-«Ёлка»-]{+ёлка+} стоила"),
        "{}",
        stdout(&two)
    );

    let out = eval(dir.path(), &["--hyp", "one.tsv", "missing.tsv"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "rech: error: cannot read the manifest: missing.tsv: no such file or directory"
    );
}

/// The shared manifest's reference for each of `names`.
fn shared_references(names: &[&str]) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(rech_testkit::shared_dir().join("audio/ru/manifest.tsv"))
            .expect("the shared manifest");
    names
        .iter()
        .map(|name| {
            manifest
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name}\t")))
                .and_then(|rest| rest.split('\t').next())
                .expect("a reference")
                .to_owned()
        })
        .collect()
}

/// `rech eval -f json --show-normalized` on `refs.tsv` in `dir` with the test VAD, one thread
/// and `args`, offline; its JSON.
fn eval_models(
    setup: &ServeSetup,
    dir: &std::path::Path,
    args: &[&std::ffi::OsStr],
) -> serde_json::Value {
    let out = run(rech_testkit::rech()
        .current_dir(dir)
        .env("RECH_ORT_LIB", &setup.lib)
        .env("RECH_OFFLINE", "1")
        .args([
            "eval",
            "-t",
            "1",
            "-f",
            "json",
            "--show-normalized",
            "--vad-model",
        ])
        .arg(setup.vad())
        .args(args)
        .arg("refs.tsv"));
    rech_testkit::assert_success(&out);
    serde_json::from_str(&stdout(&out)).expect("eval's JSON")
}

#[needs(shared, venv)]
#[test]
fn models_run_on_the_recordings_as_transcribe_runs_them_and_score_as_jiwer() {
    let setup = ServeSetup::new();
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "human/ru_0022.wav",
        "human/ru_0024.wav",
        "human/ru_0025.wav",
    ];
    let mut manifest = String::from("path\treference\n");
    for (name, reference) in names.iter().zip(shared_references(&names)) {
        manifest.push_str(&format!(
            "{}\t{reference}\n",
            setup.recording(name).display()
        ));
    }
    std::fs::write(dir.path().join("refs.tsv"), manifest).unwrap();
    let whisper = micro_model(5, DecoderOutput::Random);
    let gigaam = setup.model();
    // Two models side by side, each in its own process with two jobs.
    let json = eval_models(
        &setup,
        dir.path(),
        &[
            "-j".as_ref(),
            "2".as_ref(),
            "-m".as_ref(),
            gigaam.as_os_str(),
            "-m".as_ref(),
            whisper.as_os_str(),
        ],
    );
    let systems = json["systems"].as_array().unwrap();
    assert_eq!(systems.len(), 2);
    let mut pairs = Vec::new();
    for (system, model) in systems.iter().zip([gigaam.as_path(), whisper]) {
        assert_eq!(system["files"], 3);
        assert!(system["real_time_factor"].as_f64().unwrap() > 0.0);
        assert!(system["audio_seconds"].as_f64().unwrap() > 20.0);
        // The model's own process: more than the binary alone, less than the machine.
        let peak = system["peak_memory_bytes"].as_u64().unwrap();
        assert!(peak > 20 << 20 && peak < 4 << 30, "{peak}");
        // What was scored is what `rech transcribe` writes for each recording, normalised.
        for (file, name) in system["per_file"].as_array().unwrap().iter().zip(names) {
            let text = setup.cli_text_with(model, &setup.recording(name), &[]);
            assert_eq!(
                file["hypothesis"],
                rech::eval::normalize(&text),
                "{model:?} {name}"
            );
            pairs.push((
                file["reference"].as_str().unwrap().to_owned(),
                file["hypothesis"].as_str().unwrap().to_owned(),
            ));
        }
    }
    // The random models' hypotheses against the real references, scored as jiwer scores them.
    let theirs = rech_testkit::jiwer(&pairs);
    let files = systems
        .iter()
        .flat_map(|s| s["per_file"].as_array().unwrap());
    for (i, file) in files.enumerate() {
        for (ours, key) in [("wer", "words"), ("cer", "chars")] {
            let theirs = &theirs["pairs"][i][key];
            let rate: f64 = theirs["rate"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                file[ours].as_f64().unwrap(),
                rate,
                "{ours} of {pairs:?}",
                pairs = pairs[i]
            );
            if key == "words" {
                for count in ["hits", "substitutions", "deletions", "insertions"] {
                    assert_eq!(file[count], theirs[count], "{count} of {:?}", pairs[i]);
                }
            }
        }
    }

    // A decoding option reaches the model's process: beam search scores what `rech transcribe
    // --beam-size 2` writes, which is not what greedy decoding wrote above.
    let beam = eval_models(
        &setup,
        dir.path(),
        &[
            "--beam-size".as_ref(),
            "2".as_ref(),
            "-m".as_ref(),
            whisper.as_os_str(),
        ],
    );
    let beam_files = beam["systems"][0]["per_file"].as_array().unwrap();
    let greedy_files = systems[1]["per_file"].as_array().unwrap();
    for (file, name) in beam_files.iter().zip(names) {
        let text = setup.cli_text_with(whisper, &setup.recording(name), &["--beam-size", "2"]);
        assert_eq!(file["hypothesis"], rech::eval::normalize(&text), "{name}");
    }
    assert!(
        beam_files
            .iter()
            .zip(greedy_files)
            .any(|(b, g)| b["hypothesis"] != g["hypothesis"]),
        "beam search changed nothing: the test shows nothing"
    );

    // Without -m, the default model; here it is not downloaded and downloads are off: one
    // line, after the manifest was read.
    let out = run(rech_testkit::rech()
        .current_dir(dir.path())
        .env("RECH_OFFLINE", "1")
        .args(["eval", "refs.tsv"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .starts_with("rech: error: no model yet: the default model gigaam-v3-e2e-rnnt-int8"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // A model that cannot be loaded is one line, and nothing is scored.
    let out = run(rech_testkit::rech()
        .current_dir(dir.path())
        .env("RECH_OFFLINE", "1")
        .args(["eval", "-m", "/nonexistent/model.bin", "refs.tsv"]));
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // An option the model's engine does not take is refused before anything runs.
    let out = run(rech_testkit::rech()
        .current_dir(dir.path())
        .env("RECH_ORT_LIB", &setup.lib)
        .env("RECH_OFFLINE", "1")
        .args(["eval", "--beam-size", "2", "-m"])
        .arg(whisper)
        .arg("-m")
        .arg(&gigaam)
        .arg("refs.tsv"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "rech: error: --beam-size is for Whisper models: GigaAM-v3 takes none of Whisper's decoding options"
    );
}
