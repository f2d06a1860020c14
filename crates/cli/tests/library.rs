//! The `rech` crate as a Rust user meets it, against the binary: the crate page's three lines
//! (with `Model::load(path)`) give the bytes `rech transcribe` writes, for a GigaAM-v3 model and
//! a Whisper model; and `rech serve` and `rech transcribe`, which share one per-file path, give
//! the same bytes for the same file and options, VAD tuning included; speakers by voice set
//! through `ModelBuilder::speakers` give the binary's `--diarize voices` bytes.

use std::path::Path;

use rech_ggml::generate::DecoderOutput;
use rech_testkit::serve::{without_served_model, ServeSetup, Served};
use rech_testkit::{assert_success, micro_model, needs, run, stdout};

/// What `rech transcribe` writes on stdout for `file` with `model`, the shared VAD model and
/// `args`.
fn cli(setup: &ServeSetup, model: &Path, file: &Path, args: &[&str]) -> String {
    let out = run(rech_testkit::rech()
        .env("RECH_ORT_LIB", &setup.lib)
        .arg("transcribe")
        .arg("-m")
        .arg(model)
        .arg("--vad-model")
        .arg(setup.vad())
        .args(args)
        .arg(file));
    assert_success(&out);
    stdout(&out)
}

/// The crate page's program, with the same model and VAD model as [`cli`] and two threads.
fn library_srt(setup: &ServeSetup, model: &Path, file: &Path) -> String {
    let models = tempfile::tempdir().unwrap();
    let model = rech::Model::builder()
        .model(model)
        .threads(2)
        .vad_model(setup.vad())
        .offline(true)
        .model_dir(models.path())
        .load()
        .expect("load the model");
    let transcript = model.transcribe_file(file).expect("transcribe");
    rech::Format::Srt.render(&transcript)
}

#[needs(shared, venv)]
#[test]
fn the_three_lines_give_the_binarys_bytes_for_both_engines() {
    let setup = ServeSetup::new();
    rech::gigaam::runtime::use_library(&setup.lib).expect("load ONNX Runtime");
    let file = setup.recording("human/ru_0022.wav");
    let whisper = micro_model(5, DecoderOutput::Random);
    for model in [setup.model().as_path(), whisper] {
        let ours = library_srt(&setup, model, &file);
        assert!(ours.contains(" --> "), "{model:?}: {ours}");
        assert_eq!(
            ours,
            cli(&setup, model, &file, &["-t", "2", "-f", "srt"]),
            "{model:?}"
        );
    }
}

#[needs(shared, venv)]
#[test]
fn serve_and_transcribe_give_the_same_bytes_with_the_same_vad_tuning() {
    let setup = ServeSetup::new();
    let file = setup.long_wav(40);
    let bytes = std::fs::read(&file).unwrap();
    let tuning = [
        "--vad-threshold",
        "0.7",
        "--vad-pad",
        "20",
        "--vad-min-silence",
        "120",
    ];
    let served = setup.serve(&tuning);
    for format in ["srt", "verbose_json"] {
        let reply = served.transcribe(&[("response_format", format)], Some(("long.wav", &bytes)));
        assert_eq!(reply.status, 200, "{}", reply.text());
        let served_text = match format {
            "verbose_json" => without_served_model(&reply.text()),
            _ => reply.text(),
        };
        assert_eq!(
            served_text,
            setup.cli_with(&file, format, &tuning),
            "{format}"
        );
    }
    // The tuning is applied, not ignored: without it the segments are others.
    assert_ne!(
        setup.cli_with(&file, "srt", &[]),
        setup.cli_with(&file, "srt", &tuning)
    );
}

#[needs(shared)]
#[test]
fn a_requests_temperature_is_whispers_first_temperature() {
    let setup = ServeSetup::new();
    let whisper = micro_model(5, DecoderOutput::Random);
    let file = setup.recording("human/ru_0022.wav");
    let bytes = std::fs::read(&file).unwrap();
    let mut serve = rech_testkit::rech();
    serve
        .arg("serve")
        .arg("-m")
        .arg(whisper)
        .arg("--vad-model")
        .arg(setup.vad())
        .args(["-t", "1"]);
    let served = Served::start(serve);
    let reply = served.transcribe(
        &[("temperature", "0.9"), ("response_format", "verbose_json")],
        Some(("ru.wav", &bytes)),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = ["-t", "1", "-f", "verbose_json"];
    let sampled = cli(
        &setup,
        whisper,
        &file,
        &[&json[..], &["--temperature", "0.9"]].concat(),
    );
    // One sampling run in a fresh process on each side: the same random draws.
    assert_eq!(without_served_model(&reply.text()), sampled);
    // Applied, not only checked: greedy decoding writes other words.
    assert_ne!(sampled, cli(&setup, whisper, &file, &json));
}

#[needs(shared, venv)]
#[test]
fn speakers_by_voice_in_the_library_are_the_binarys() {
    let setup = ServeSetup::new();
    rech::gigaam::runtime::use_library(&setup.lib).expect("load ONNX Runtime");
    let data = rech_testkit::diarize::data();
    let (segmentation, embedding) = (
        data.join("segmentation-micro.onnx"),
        data.join("embedding-micro.onnx"),
    );
    let file = setup.recording("human/voxforge_sovse_ru_test.wav");
    let models = tempfile::tempdir().unwrap();
    let model = rech::Model::builder()
        .model(setup.model())
        .threads(2)
        .vad_model(setup.vad())
        .offline(true)
        .model_dir(models.path())
        .speakers(rech::Speakers {
            diarize: rech::Diarize::Voices,
            count: rech::SpeakerCount {
                exactly: Some(2),
                ..Default::default()
            },
            models: Some(rech::SpeakerModels {
                segmentation: segmentation.clone(),
                embedding: embedding.clone(),
                threads: 2,
            }),
            ..Default::default()
        })
        .load()
        .expect("load the model");
    let ours = rech::Format::Json.render(&model.transcribe_file(&file).expect("transcribe"));
    assert!(ours.contains("\"speaker\""), "{ours}");
    let theirs = cli(
        &setup,
        setup.model().as_path(),
        &file,
        &[
            "-t",
            "2",
            "-f",
            "json",
            "--diarize",
            "voices",
            "--speakers",
            "2",
            "--segmentation-model",
            segmentation.to_str().unwrap(),
            "--embedding-model",
            embedding.to_str().unwrap(),
        ],
    );
    assert_eq!(ours, theirs);
}
