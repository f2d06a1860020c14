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
         talk/b.wav\tКТО-ТО ПОСТУЧАЛ В ДВЕРЬ!\n",
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

#[needs(shared, venv)]
#[test]
fn models_run_on_the_recordings_and_are_scored_side_by_side() {
    let setup = ServeSetup::new();
    let dir = tempfile::tempdir().unwrap();
    let names = ["human/ru_0022.wav", "human/ru_0024.wav"];
    let mut manifest = String::from("path\treference\n");
    for name in names {
        manifest.push_str(&format!(
            "{}\tНад этой машиной он ткнул трубкой\n",
            setup.recording(name).display()
        ));
    }
    std::fs::write(dir.path().join("refs.tsv"), manifest).unwrap();
    let whisper = micro_model(5, DecoderOutput::Random);
    let gigaam = setup.model();
    let out = run(rech_testkit::rech()
        .current_dir(dir.path())
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
        .arg("-m")
        .arg(&gigaam)
        .arg("-m")
        .arg(whisper)
        .arg("refs.tsv"));
    rech_testkit::assert_success(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let systems = json["systems"].as_array().unwrap();
    assert_eq!(systems.len(), 2);
    for (system, model) in systems.iter().zip([gigaam.as_path(), whisper]) {
        assert_eq!(system["files"], 2);
        assert!(system["real_time_factor"].as_f64().unwrap() > 0.0);
        assert!(system["audio_seconds"].as_f64().unwrap() > 15.0);
        // What was scored is what `rech transcribe` writes for each recording, normalised.
        for (file, name) in system["per_file"].as_array().unwrap().iter().zip(names) {
            let text = setup.cli_text_with(model, &setup.recording(name));
            assert_eq!(
                file["hypothesis"],
                rech::eval::normalize(&text),
                "{model:?} {name}"
            );
        }
    }
    let out = run(rech_testkit::rech()
        .current_dir(dir.path())
        .env("RECH_OFFLINE", "1")
        .args(["eval", "-m", "/nonexistent/model.bin", "refs.tsv"]));
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}
