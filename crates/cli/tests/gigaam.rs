//! `rech transcribe` and `rech dictate` with GigaAM-v3 models, end to end: the real binary on
//! every sample format into every output format, its text against onnx-asr's, a recording
//! longer than one piece, dictation, and every bad input (a model missing a file, damaged or
//! not ONNX, a vocabulary that does not fit, Whisper-only options, ONNX Runtime missing, too
//! old or not a library) to one line, its exit code and no output file. Models:
//! `../shared/models/gigaam-v3-micro` (random weights, real architecture); ONNX Runtime: the
//! wheel's library in `.venv-test` (scripts/install-deps.sh).

use rech_testkit::needs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rech_testkit::formats::{check_all_formats, check_json, sample_stem, SAMPLES};
use rech_testkit::{
    assert_fails, assert_fails_last_line, assert_success, file_names, ort_lib, rech, run,
    samples_dir, shared_dir, stderr, stdout, test_venv, write_file,
};
use serde_json::Value;

/// The shared data and the ONNX Runtime library (`#[needs(shared, venv)]`).
fn setup() -> (PathBuf, PathBuf) {
    (shared_dir(), ort_lib())
}

fn micro(shared: &Path) -> PathBuf {
    shared.join("models/gigaam-v3-micro")
}

/// `rech` with ONNX Runtime found through `RECH_ORT_LIB`.
fn rech_ort(lib: &Path) -> Command {
    let mut cmd = rech();
    cmd.env("RECH_ORT_LIB", lib);
    cmd
}

fn transcribe(lib: &Path, model: &Path, args: &[&str]) -> Command {
    let mut cmd = rech_ort(lib);
    cmd.arg("transcribe")
        .arg("-m")
        .arg(model)
        .args(["-t", "2"])
        .args(args);
    cmd
}

#[needs(shared, venv)]
#[test]
fn every_sample_into_every_format() {
    let (shared, lib) = setup();
    let model = micro(&shared).join("v3_e2e_rnnt_encoder.onnx");
    let out_dir = tempfile::tempdir().unwrap();
    let names = SAMPLES;
    let inputs: Vec<PathBuf> = names.iter().map(|n| samples_dir().join(n)).collect();
    let out = run(transcribe(
        &lib,
        &model,
        &["-f", "txt,srt,vtt,json,tsv", "--output-dir"],
    )
    .arg(out_dir.path())
    .args(&inputs));
    assert_success(&out);
    for name in names {
        check_all_formats(out_dir.path(), sample_stem(name));
    }
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        names.len() * 5
    );
}

/// The text onnx-asr 0.12.0 gives for `wav` with `variant`.
fn onnx_asr_text(shared: &Path, variant: &str, wav: &Path) -> String {
    let venv = test_venv();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../gigaam/tests/onnx_asr_reference.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(script)
        .arg("recognize")
        .arg(micro(shared))
        .arg(variant)
        .arg(wav)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["text"].as_str().unwrap().trim().to_owned()
}

#[needs(shared, venv)]
#[test]
fn the_text_is_onnx_asrs_for_every_variant() {
    let (shared, lib) = setup();
    let wav = shared.join("audio/ru/human/ru_0031.wav");
    for (variant, file) in [
        ("ctc", "v3_ctc.onnx"),
        ("rnnt", "v3_rnnt_joint.onnx"),
        ("e2e_ctc", "v3_e2e_ctc.onnx"),
        ("e2e_rnnt", "v3_e2e_rnnt_decoder.onnx"),
    ] {
        let out = run(transcribe(&lib, &micro(&shared).join(file), &[]).arg(&wav));
        assert_success(&out);
        // One line per segment; segments end where a word starts, so a space joins them.
        let ours = stdout(&out).lines().collect::<Vec<_>>().join(" ");
        assert_eq!(ours, onnx_asr_text(&shared, variant, &wav), "{variant}");
    }
}

/// Jobs that share one copy of the model's big graph (`--model-copies 1`) transcribe as a copy
/// each does, and as one job alone: both kinds of model (the CTC graph, RNN-T's encoder).
#[needs(shared, venv)]
#[test]
fn jobs_sharing_one_copy_of_the_model_read_the_same() {
    let (shared, lib) = setup();
    let inputs: Vec<PathBuf> = ["ru_0022", "ru_0024", "ru_0025", "ru_0031", "ru_0035"]
        .iter()
        .map(|n| shared.join(format!("audio/ru/human/{n}.wav")))
        .collect();
    for file in ["v3_ctc.onnx", "v3_e2e_rnnt_encoder.onnx"] {
        let model = micro(&shared).join(file);
        let texts = |args: &[&str]| {
            let out = run(transcribe(&lib, &model, args).args(&inputs));
            assert_success(&out);
            stdout(&out)
        };
        let alone = texts(&["-j", "1"]);
        assert_eq!(alone.matches("==>").count(), inputs.len());
        assert_eq!(texts(&["-j", "3"]), alone, "{file}: a copy each");
        assert_eq!(
            texts(&["-j", "3", "--model-copies", "1"]),
            alone,
            "{file}: one copy for three jobs"
        );
    }
}

/// Five recordings joined with pauses (about 40 s): more than one 22 s piece.
fn joined(shared: &Path, dir: &Path) -> (PathBuf, f64) {
    let mut samples = Vec::new();
    for name in ["ru_0024", "ru_0025", "ru_0031", "ru_0032", "ru_0035"] {
        let path = shared.join(format!("audio/ru/human/{name}.wav"));
        samples.extend(rech_audio::decode_file(&path).unwrap().samples);
        samples.extend(std::iter::repeat_n(0.0f32, 24_000));
    }
    let path = dir.join("joined.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for s in &samples {
        w.write_sample((s * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    (path, samples.len() as f64 / 16_000.0)
}

#[needs(shared, venv)]
#[test]
fn a_long_recording_is_cut_into_pieces_and_mapped_back() {
    let (shared, lib) = setup();
    let dir = tempfile::tempdir().unwrap();
    let (wav, seconds) = joined(&shared, dir.path());
    assert!(seconds > 30.0, "{seconds}");
    let model = micro(&shared).join("v3_ctc.onnx");
    let vad = shared.join("models/ggml-silero-v6.2.0.bin");
    let mut texts: Vec<String> = Vec::new();
    for extra in [&["--no-vad"][..], &["--vad-model", vad.to_str().unwrap()]] {
        let out = run(transcribe(&lib, &model, &["-f", "json"])
            .args(extra)
            .arg(&wav));
        assert_success(&out);
        let v = check_json(&stdout(&out));
        assert!((v["duration"].as_f64().unwrap() - seconds).abs() < 0.01);
        let segments = v["segments"].as_array().unwrap();
        let last = segments.last().unwrap()["end"].as_f64().unwrap();
        // Text from the second half lands in the second half: pieces are mapped back.
        assert!(
            last > 25.0 && last <= seconds,
            "{extra:?}: last segment ends at {last}"
        );
        texts.push(v["segments"].to_string());
    }
    // VAD changes what the model hears (the pauses go), so the pieces and the text differ.
    assert_ne!(texts[0], texts[1]);
}

#[needs(shared, venv)]
#[test]
fn dictation_with_gigaam_gives_a_final_per_utterance() {
    let (shared, lib) = setup();
    let dir = tempfile::tempdir().unwrap();
    let (wav, _) = joined(&shared, dir.path());
    let out = run(rech_ort(&lib)
        .args(["dictate", "-t", "2", "--format", "jsonl", "--partial", "-m"])
        .arg(micro(&shared).join("v3_e2e_ctc.onnx"))
        .arg("--vad-model")
        .arg(shared.join("models/ggml-silero-v6.2.0.bin"))
        .arg("--input")
        .arg(&wav));
    assert_success(&out);
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let finals: Vec<&Value> = events.iter().filter(|e| e["type"] == "final").collect();
    assert_eq!(finals.len(), 5, "{events:?}");
    for f in finals {
        assert!(!f["text"].as_str().unwrap().is_empty());
    }
}

#[needs(shared, venv)]
#[test]
fn whisper_only_options_and_other_languages_are_usage_errors() {
    let (shared, lib) = setup();
    let model = micro(&shared).join("v3_ctc.onnx");
    let wav = samples_dir().join("privet-16k-mono.wav");
    for (args, needle) in [
        (
            &["--beam-size", "3"][..],
            "--beam-size is for Whisper models",
        ),
        (&["--translate"], "--translate is for Whisper models"),
        (&["--prompt", "Лекция."], "--prompt is for Whisper models"),
        (&["--fit-window"], "--fit-window is for Whisper models"),
        (&["--flash-attn"], "--flash-attn is for Whisper models"),
        (&["--max-len", "20"], "--max-len is for Whisper models"),
        (&["-l", "en"], "GigaAM-v3 transcribes Russian only"),
    ] {
        let out = run(transcribe(&lib, &model, args).arg(&wav));
        assert_fails(&out, 2, &[needle]);
    }
    let out = run(rech_ort(&lib)
        .args(["dictate", "--full-window", "-m"])
        .arg(&model)
        .arg("--input")
        .arg(&wav));
    assert_fails(&out, 2, &["--full-window is for Whisper models"]);
    let out = run(rech_ort(&lib)
        .args(["serve", "--port", "0", "--flash-attn", "-m"])
        .arg(&model));
    assert_fails(&out, 2, &["--flash-attn is for Whisper models"]);
}

/// A copy of the ctc model's files in a directory of its own, to damage.
fn ctc_copy(shared: &Path, dir: &Path) -> PathBuf {
    for name in ["v3_ctc.onnx", "v3_vocab.txt", "config.json"] {
        std::fs::copy(micro(shared).join(name), dir.join(name)).unwrap();
    }
    dir.join("v3_ctc.onnx")
}

#[needs(shared, venv)]
#[test]
fn bad_models_are_one_line_and_nothing_is_written() {
    let (shared, lib) = setup();
    let wav = samples_dir().join("privet-16k-mono.wav");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let output = d.join("out.txt");
    let expect = |model: &Path, needles: &[&str]| {
        let out = run(transcribe(&lib, model, &["-o"]).arg(&output).arg(&wav));
        assert_fails(&out, 1, needles);
        assert!(!output.exists(), "{model:?} left an output file");
    };

    // A file of the model is missing.
    let missing = d.join("missing");
    std::fs::create_dir(&missing).unwrap();
    let model = ctc_copy(&shared, &missing);
    std::fs::remove_file(missing.join("v3_vocab.txt")).unwrap();
    expect(&model, &["v3_vocab.txt is missing beside it"]);
    expect(&missing, &["holds no GigaAM-v3 model"]);

    // Truncated, and not ONNX at all.
    let cut = d.join("cut");
    std::fs::create_dir(&cut).unwrap();
    let model = ctc_copy(&shared, &cut);
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    expect(&model, &["is not a usable GigaAM-v3 model", "v3_ctc.onnx"]);
    std::fs::write(&model, b"not an onnx file at all").unwrap();
    expect(&model, &["is not a usable GigaAM-v3 model", "v3_ctc.onnx"]);

    // The vocabulary of another variant.
    let vocab = d.join("vocab");
    std::fs::create_dir(&vocab).unwrap();
    let model = ctc_copy(&shared, &vocab);
    std::fs::copy(
        micro(&shared).join("v3_e2e_ctc_vocab.txt"),
        vocab.join("v3_vocab.txt"),
    )
    .unwrap();
    expect(&model, &["v3_vocab.txt has 257 pieces", "34 classes"]);

    // An ONNX file under a Whisper name is GigaAM's by content, and says its name is wrong.
    let renamed = d.join("ggml-small.bin");
    std::fs::copy(micro(&shared).join("v3_ctc.onnx"), &renamed).unwrap();
    expect(&renamed, &["ggml-small.bin is not a GigaAM-v3 file name"]);
    // And a Whisper file given as a GigaAM one is Whisper's by content.
    let whisper = write_file(d, "v3_e2e_ctc.onnx", b"lmgg\x00\x00\x00\x00");
    expect(&whisper, &["not a usable whisper model"]);
}

#[needs(shared, venv)]
#[test]
fn onnx_runtime_missing_too_old_or_not_a_library() {
    let (shared, _lib) = setup();
    let model = micro(&shared).join("v3_ctc.onnx");
    let wav = samples_dir().join("privet-16k-mono.wav");
    let dir = tempfile::tempdir().unwrap();
    let run_with = |lib: &Path| {
        let out = dir.path().join("out.txt");
        let result = run(transcribe(lib, &model, &["-o"]).arg(&out).arg(&wav));
        assert!(!out.exists());
        result
    };
    let out = run_with(&dir.path().join("libonnxruntime.so.1.32.0"));
    assert_fails(
        &out,
        1,
        &[
            "is not a usable ONNX Runtime library (no such file)",
            "RECH_ORT_LIB",
        ],
    );
    let text = write_file(dir.path(), "libonnxruntime.so", b"not a library");
    let out = run_with(&text);
    assert_fails(
        &out,
        1,
        &["is not a usable ONNX Runtime library", "RECH_ORT_LIB"],
    );

    // A library that says it is ONNX Runtime 1.20.0, built here with the C compiler
    // whisper.cpp's build already needs.
    let source = write_file(
        dir.path(),
        "old.c",
        b"typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } Base;\n\
          static const void *api(unsigned v) { (void)v; return 0; }\n\
          static const char *version(void) { return \"1.20.0\"; }\n\
          static const Base base = { api, version };\n\
          const Base *OrtGetApiBase(void) { return &base; }\n",
    );
    let old = dir.path().join("libonnxruntime.so.1.20.0");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&old)
        .arg(&source)
        .status()
        .expect("run cc");
    assert!(built.success());
    let out = run_with(&old);
    assert_fails(
        &out,
        1,
        &["is ONNX Runtime 1.20.0, older than 1.", "RECH_ORT_LIB"],
    );
    assert!(!stderr(&out).contains("panicked"));
}

/// `kind`'s wheel (kept by scripts/install-deps.sh) and the path it has under PyPI's host.
fn runtime_wheel(kind: rech_gigaam::runtime::RuntimeKind) -> (Vec<u8>, &'static str) {
    let archive = kind.archive().expect("a runtime archive for this platform");
    let wheel = rech_testkit::ort_wheel(archive.wheel.name);
    let path = archive
        .wheel
        .url
        .strip_prefix(rech_gigaam::runtime::PYPI_FILES)
        .unwrap();
    (std::fs::read(wheel).unwrap(), path)
}

/// `rech` allowed online, with its models in `models` and PyPI at `server`.
fn online(models: &Path, server: &rech_testkit::http::TestServer) -> Command {
    let mut cmd = rech();
    cmd.env_remove("RECH_OFFLINE")
        .env("RECH_MODELS_DIR", models)
        .env("RECH_ORT_BASE_URL", server.base_url())
        .env("RECH_DOWNLOAD_TIMEOUT", "10");
    cmd
}

/// The row of `rech models list` for `name`, with the models in `models`.
fn listed_row(models: &Path, name: &str) -> String {
    let out = run(rech()
        .env("RECH_MODELS_DIR", models)
        .args(["models", "list"]));
    assert_success(&out);
    stdout(&out)
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{name} is not listed: {}", stdout(&out)))
}

/// On first use with the network allowed, rech fetches ONNX Runtime from the onnxruntime wheel
/// (here from a local mirror through `RECH_ORT_BASE_URL`), verified, and then transcribes;
/// a damaged wheel is refused with one line and leaves no library behind.
#[needs(shared, venv)]
#[test]
fn onnx_runtime_is_fetched_on_first_use_and_verified() {
    use rech_gigaam::runtime::{library_name, RuntimeKind};
    use rech_testkit::http::TestServer;
    let shared = shared_dir();
    let (wheel, path) = runtime_wheel(RuntimeKind::Cpu);
    let model = micro(&shared).join("v3_ctc.onnx");
    let wav = samples_dir().join("privet-16k-mono.wav");
    let models = tempfile::tempdir().unwrap();

    // Offline, the error says how to get it.
    let out = run(rech()
        .env("RECH_MODELS_DIR", models.path())
        .args(["transcribe", "-m"])
        .arg(&model)
        .arg(&wav));
    assert_fails(
        &out,
        1,
        &["rech models download onnxruntime", "RECH_ORT_LIB"],
    );

    // A wheel with other bytes: the checksum stops it.
    let bad = TestServer::start();
    bad.serve(path, vec![0u8; wheel.len()]);
    let out = run(online(models.path(), &bad)
        .args(["transcribe", "-m"])
        .arg(&model)
        .arg(&wav));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("sha256"), "{}", stderr(&out));
    let lib = library_name(RuntimeKind::Cpu);
    let installed = models.path().join("onnxruntime-1.32.0").join(&lib);
    assert!(!installed.exists());

    let good = TestServer::start();
    good.serve(path, wheel);
    let out = run(online(models.path(), &good)
        .args(["transcribe", "-m"])
        .arg(&model)
        .arg(&wav));
    assert_success(&out);
    assert!(
        stderr(&out).contains("downloading ONNX Runtime 1.32.0"),
        "{}",
        stderr(&out)
    );
    assert!(installed.is_file());
    assert!(!stdout(&out).trim().is_empty());
    // The wheel itself is not kept; the list says the runtime is there.
    assert_eq!(file_names(installed.parent().unwrap()), [lib]);
    let row = listed_row(models.path(), "onnxruntime");
    assert!(row.contains(" yes "), "{row}");
}

/// `--gpu` with GigaAM: ONNX Runtime's CUDA build is fetched on first use (here from a local
/// mirror through `RECH_ORT_BASE_URL`), verified, and its three libraries installed. Where no
/// NVIDIA GPU is (CI), the run ends in one line that says why and writes nothing: never a
/// quiet fallback to the CPU; with `RECH_TEST_GPU=1` (a machine with a usable GPU, CUDA 13
/// and cuDNN 9), its text must be the CPU's. The CPU build named by
/// `RECH_ORT_LIB` refuses `--gpu` in one line, and the CUDA build without `--gpu` transcribes
/// on the CPU exactly as the CPU build does.
#[needs(shared, venv)]
#[test]
fn gigaam_on_the_gpu_fetches_the_cuda_build_and_never_falls_back_quietly() {
    use rech_gigaam::runtime::{library_name, RuntimeKind};
    use rech_testkit::http::TestServer;
    let (shared, lib) = setup();
    let model = micro(&shared).join("v3_ctc.onnx");
    let wav = samples_dir().join("privet-16k-mono.wav");

    let cpu = run(transcribe(&lib, &model, &[]).arg(&wav));
    assert_success(&cpu);
    assert!(!stdout(&cpu).trim().is_empty());

    // The CPU build has no CUDA: one line that says which build to use, from every command
    // that loads a model.
    let out = run(transcribe(&lib, &model, &["--gpu"]).arg(&wav));
    assert_fails(&out, 1, &["without CUDA", "onnxruntime-gpu 1.31.1"]);
    assert!(stdout(&out).is_empty());
    let out = run(rech_ort(&lib)
        .args(["serve", "--port", "0", "--gpu-device", "0", "-m"])
        .arg(&model));
    assert_fails_last_line(&out, 1, &["without CUDA"]);
    let out = run(rech_ort(&lib)
        .args(["dictate", "--gpu", "-m"])
        .arg(&model)
        .arg("--input")
        .arg(&wav));
    assert_fails_last_line(&out, 1, &["without CUDA"]);

    let (wheel, path) = runtime_wheel(RuntimeKind::Cuda);
    let server = TestServer::start();
    server.serve(path, wheel);
    let models = tempfile::tempdir().unwrap();
    let out = run(online(models.path(), &server)
        .args(["transcribe", "--gpu", "-t", "2", "-m"])
        .arg(&model)
        .arg(&wav));
    let err = stderr(&out);
    assert!(
        err.contains("downloading ONNX Runtime 1.31.1 with CUDA"),
        "{err}"
    );
    let dir = models.path().join("onnxruntime-gpu-1.31.1");
    assert_eq!(
        file_names(&dir),
        [
            "libonnxruntime.so.1.31.1",
            "libonnxruntime_providers_cuda.so",
            "libonnxruntime_providers_shared.so"
        ]
    );
    // A usable GPU cannot be told from device files or driver packages (either may be there
    // without one): whoever runs this on a machine with one says so.
    if std::env::var_os("RECH_TEST_GPU").is_some_and(|v| v == "1") {
        assert_success(&out);
        assert_eq!(stdout(&out), stdout(&cpu));
    } else {
        assert!(
            out.status.code() == Some(1),
            "--gpu ran on this machine: set RECH_TEST_GPU=1 if it has a usable GPU\n{err}"
        );
        assert_fails_last_line(&out, 1, &["GigaAM cannot run on the GPU", "CUDA 13"]);
        assert!(stdout(&out).is_empty());
    }

    // Without --gpu, the CUDA build runs GigaAM on the CPU like the CPU build.
    let gpu_lib = dir.join(library_name(RuntimeKind::Cuda));
    let out = run(transcribe(&gpu_lib, &model, &[]).arg(&wav));
    assert_success(&out);
    assert_eq!(stdout(&out), stdout(&cpu));

    let row = listed_row(models.path(), "onnxruntime-gpu");
    assert!(row.contains(" yes ") && row.contains("--gpu"), "{row}");
}
