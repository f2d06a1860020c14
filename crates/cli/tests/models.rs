//! `rech models` and first-run downloads, end to end: the real `rech` binary against a real
//! HTTP server on 127.0.0.1 (`RECH_MODEL_BASE_URL`) serving a generated model, with every model
//! directory a temporary one (`RECH_MODELS_DIR`). Nothing here reaches beyond 127.0.0.1.

use rech_testkit::needs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use rech_asr::catalog::{self, DEFAULT_MODEL, DEFAULT_VAD_MODEL};
use rech_asr::download::sha256_file;
use rech_ggml::generate::{write_model_file, GenerateOptions};
use rech_ggml::model_file::Hparams;
use rech_testkit::http::{Fault, TestServer};
use rech_testkit::{assert_fails_last_line as assert_fails, assert_success, run, stderr, stdout};

const CUSTOM: &str = "/mirror/ggml-micro.bin";
const VAD_PATH: &str = "/ggml-org/whisper-vad/resolve/main/ggml-silero-v6.2.0.bin";

fn wav() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/privet-16k-mono.wav")
}

/// The real Silero VAD file from `../shared/models` (or `RECH_SHARED_DIR`), if present.
fn real_vad() -> Vec<u8> {
    let shared = rech_testkit::shared_dir();
    std::fs::read(shared.join("models/ggml-silero-v6.2.0.bin")).expect("read the VAD model")
}

/// A generated micro model: its file, bytes and sha256, made once per test run.
fn micro() -> &'static (PathBuf, Vec<u8>, String) {
    static MODEL: OnceLock<(PathBuf, Vec<u8>, String)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("models-micro.bin");
        let opts = GenerateOptions {
            hparams: Hparams::micro(),
            seed: 11,
        };
        write_model_file(&path, &opts).expect("generate the test model");
        let bytes = std::fs::read(&path).unwrap();
        let sha = sha256_file(&path).unwrap();
        (path, bytes, sha)
    })
}

/// A server serving the micro model at [`CUSTOM`].
fn server() -> TestServer {
    let server = TestServer::start();
    server.serve(CUSTOM, micro().1.clone());
    server
}

/// `rech` with its model directory in `models`, catalogue downloads going to `server`, and
/// downloads allowed.
fn rech(server: &TestServer, models: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rech").unwrap();
    cmd.env_remove("RECH_MODEL")
        .env_remove("RECH_VAD_MODEL")
        .env_remove("RECH_OFFLINE")
        .env("RECH_MODELS_DIR", models)
        .env("RECH_MODEL_BASE_URL", server.base_url())
        .env("RECH_DOWNLOAD_TIMEOUT", "5")
        .env("RUST_BACKTRACE", "0");
    cmd
}

fn custom_download(server: &TestServer, models: &Path, sha256: &str) -> Command {
    let mut cmd = rech(server, models);
    cmd.args([
        "models",
        "download",
        "--url",
        &server.url(CUSTOM),
        "--sha256",
    ])
    .arg(sha256)
    .args(["--name", "micro"]);
    cmd
}

/// The names in a directory, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_list_shows_every_catalogue_model_and_what_is_downloaded() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    std::fs::write(models.path().join("ggml-my-finetune.bin"), b"weights").unwrap();
    let out = run(rech(&server, models.path()).args(["models", "list"]));
    assert_success(&out);
    let text = stdout(&out);
    for entry in catalog::CATALOG {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(entry.name))
            .unwrap_or_else(|| panic!("{} missing from\n{text}", entry.name));
        assert!(line.contains(entry.summary), "{line}");
        let is_default = [
            DEFAULT_MODEL,
            catalog::DEFAULT_RUSSIAN_MODEL,
            DEFAULT_VAD_MODEL,
        ]
        .contains(&entry.name);
        assert_eq!(line.contains(" * "), is_default, "{line}");
    }
    assert!(text.contains("my-finetune"), "{text}");
    assert!(!text.contains(".en"), "{text}");
    assert!(stderr(&out).contains(&models.path().display().to_string()));
    assert!(server.requests().is_empty());
}

#[test]
fn a_model_from_a_url_is_verified_and_then_usable_by_name() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let out = run(&mut custom_download(&server, models.path(), &micro().2));
    assert_success(&out);
    assert!(stderr(&out).contains("verified"), "{}", stderr(&out));
    assert_eq!(files(models.path()), ["ggml-micro.bin"]);
    assert_eq!(
        std::fs::read(models.path().join("ggml-micro.bin")).unwrap(),
        micro().1
    );

    let out = run(rech(&server, models.path()).args(["models", "path", "micro"]));
    assert_success(&out);
    assert_eq!(
        stdout(&out).trim(),
        models.path().join("ggml-micro.bin").display().to_string()
    );

    // Offline from here on: a downloaded model needs no network.
    let out = run(rech(&server, models.path())
        .env("RECH_OFFLINE", "1")
        .args(["transcribe", "-t", "2", "-m", "micro"])
        .arg(wav()));
    assert_success(&out);

    // Downloading it again checks the copy and fetches nothing.
    let out = run(&mut custom_download(&server, models.path(), &micro().2));
    assert_success(&out);
    assert!(stderr(&out).contains("intact"), "{}", stderr(&out));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let step = 200_000;
    // Five cuts in a row: this run gives up with the bytes it got...
    for _ in 0..5 {
        server.push_fault(Fault::CutAfter(step));
    }
    let out = run(&mut custom_download(&server, models.path(), &micro().2));
    assert_fails(&out, 1, &[&server.url(CUSTOM), "again: it resumes"]);
    let part = models.path().join("ggml-micro.bin.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 5 * step);
    assert!(!models.path().join("ggml-micro.bin").exists());

    // ...and the next one asks only for the rest.
    let out = run(&mut custom_download(&server, models.path(), &micro().2));
    assert_success(&out);
    assert_eq!(files(models.path()), ["ggml-micro.bin"]);
    assert_eq!(
        std::fs::read(models.path().join("ggml-micro.bin")).unwrap(),
        micro().1
    );
    let log = server.requests();
    assert_eq!(log.len(), 6, "{log:?}");
    for (i, request) in log.iter().enumerate() {
        let expected = (i > 0).then_some(i as u64 * step);
        assert_eq!(request.range_start, expected, "{log:?}");
    }
    assert_eq!(log[5].status, 206);
}

#[test]
fn a_checksum_mismatch_shows_both_sums_and_leaves_nothing() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let wrong = "ab".repeat(32);
    let out = run(&mut custom_download(&server, models.path(), &wrong));
    assert_fails(&out, 1, &["checksum mismatch", &wrong, &micro().2]);
    assert!(
        files(models.path()).is_empty(),
        "{:?}",
        files(models.path())
    );
}

#[test]
fn a_catalogue_download_from_a_mirror_is_checked_against_the_catalogue() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let vad = catalog::find(DEFAULT_VAD_MODEL).unwrap();
    // Right size, wrong bytes.
    server.serve(VAD_PATH, vec![7u8; vad.size() as usize]);
    let out = run(rech(&server, models.path()).args(["models", "download", vad.name]));
    assert_fails(
        &out,
        1,
        &[
            "checksum mismatch",
            vad.file().sha256,
            &server.url(VAD_PATH),
            "rech models download silero-v6.2.0",
        ],
    );
    assert!(
        files(models.path()).is_empty(),
        "{:?}",
        files(models.path())
    );
}

#[test]
fn the_first_run_fetches_the_default_model_from_the_mirror_and_verifies_it() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let default = catalog::find(DEFAULT_MODEL).unwrap();
    let path = default
        .file()
        .url
        .strip_prefix(catalog::UPSTREAM_HOST)
        .unwrap();
    // No real weights can be had here: the mirror serves a generated model under the default
    // model's name, which the catalogue's size (and sha256) must refuse.
    server.serve(path, micro().1.clone());
    // `-l auto`: language detection is Whisper's, so the default model is the Whisper one.
    let out = run(rech(&server, models.path())
        .args(["transcribe", "-l", "auto"])
        .arg(wav()));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("downloading {DEFAULT_MODEL}")),
        "{err}"
    );
    assert_fails(
        &out,
        1,
        &[
            &server.url(path),
            &default.size().to_string(),
            &format!("rech models download {DEFAULT_MODEL}"),
            "--model PATH",
        ],
    );
    assert_eq!(server.requests().len(), 1);
    assert!(
        files(models.path()).is_empty(),
        "{:?}",
        files(models.path())
    );
}

/// Russian, the default language, gets GigaAM-v3 on first run: all its files are fetched from
/// the mirror into a directory of their own and checked; a file with other bytes stops the
/// download, and no model directory appears (all or nothing).
#[test]
fn the_first_run_in_russian_fetches_gigaam_all_or_nothing() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let default = catalog::find(catalog::DEFAULT_RUSSIAN_MODEL).unwrap();
    assert_eq!(default.kind, catalog::ModelKind::Gigaam);
    let first = default.files[0]
        .url
        .strip_prefix(catalog::UPSTREAM_HOST)
        .unwrap();
    // No real weights here: the mirror serves other bytes, which the catalogue refuses.
    server.serve(first, micro().1.clone());
    let out = run(rech(&server, models.path()).arg("transcribe").arg(wav()));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("downloading {}", default.name)),
        "{err}"
    );
    assert_fails(
        &out,
        1,
        &[
            &server.url(first),
            &format!("rech models download {}", default.name),
        ],
    );
    assert!(!models.path().join(default.name).exists());
    // A Whisper-only option picks Whisper's default instead.
    let out = run(rech(&server, models.path())
        .env("RECH_OFFLINE", "1")
        .args(["transcribe", "--beam-size", "2"])
        .arg(wav()));
    assert_fails(&out, 1, &[&format!("rech models download {DEFAULT_MODEL}")]);
}

/// `rech models download` with no names fetches what a first run in Russian needs: the GigaAM
/// model, ONNX Runtime and the VAD model, each reported on its own (here from a mirror that
/// has none of them).
#[test]
fn downloading_without_names_fetches_the_russian_first_run() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let out = run(rech(&server, models.path())
        .env("RECH_ORT_BASE_URL", server.base_url())
        .args(["models", "download"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for needle in [
        "downloading gigaam-v3-e2e-rnnt-int8",
        "downloading ONNX Runtime",
        "downloading silero-v6.2.0",
        "3 of 3 downloads failed",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from {err}");
    }
    assert!(!models.path().join(catalog::DEFAULT_RUSSIAN_MODEL).exists());
}

#[needs(shared)]
#[test]
fn vad_is_downloaded_when_asked_for_and_used_by_default_afterwards() {
    let vad = real_vad();
    let server = server();
    server.serve(VAD_PATH, vad.clone());
    let models = tempfile::tempdir().unwrap();
    let out = run(rech(&server, models.path())
        .args(["transcribe", "-t", "2", "--vad", "-m"])
        .arg(&micro().0)
        .arg(wav()));
    assert_success(&out);
    assert!(
        stderr(&out).contains("downloading silero-v6.2.0"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(models.path().join("ggml-silero-v6.2.0.bin")).unwrap(),
        vad
    );

    // Now on by default, offline.
    let out = run(rech(&server, models.path())
        .env("RECH_OFFLINE", "1")
        .args(["transcribe", "-v", "-t", "2", "-m"])
        .arg(&micro().0)
        .arg(wav()));
    assert_success(&out);
    assert!(
        stderr(&out).contains("voice activity detection with"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests().len(), 1);
}

#[needs(shared)]
#[test]
fn a_damaged_catalogue_model_is_reported_at_load_and_repaired_by_download() {
    let vad = real_vad();
    let server = server();
    server.serve(VAD_PATH, vad.clone());
    let models = tempfile::tempdir().unwrap();
    // A truncated Whisper model where `small` would be.
    let small = models.path().join("ggml-small.bin");
    std::fs::write(&small, &micro().1[..micro().1.len() / 2]).unwrap();
    let out = run(rech(&server, models.path())
        .env("RECH_OFFLINE", "1")
        .args(["transcribe", "-m", "small"])
        .arg(wav()));
    assert_fails(
        &out,
        1,
        &[
            &small.display().to_string(),
            "damaged",
            "rech models download small",
        ],
    );

    // A damaged VAD model is noticed by `download` and replaced.
    let dest = models.path().join("ggml-silero-v6.2.0.bin");
    std::fs::write(&dest, &vad[..1000]).unwrap();
    let out = run(rech(&server, models.path()).args(["models", "download", "silero-v6.2.0"]));
    assert_success(&out);
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), vad);
}

#[test]
fn not_found_names_the_url_and_the_command_to_retry() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let out = run(rech(&server, models.path()).args(["models", "download", "small"]));
    assert_fails(
        &out,
        1,
        &[
            "HTTP 404",
            "/ggerganov/whisper.cpp/resolve/main/ggml-small.bin",
            "rech models download small",
        ],
    );
    assert!(
        files(models.path()).is_empty(),
        "{:?}",
        files(models.path())
    );
}

#[test]
fn a_stalled_server_times_out_with_a_clear_error() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    server.push_fault(Fault::StallBeforeResponse);
    let started = Instant::now();
    let mut cmd = custom_download(&server, models.path(), &micro().2);
    let out = run(cmd.env("RECH_DOWNLOAD_TIMEOUT", "1"));
    assert_fails(
        &out,
        1,
        &["stalled", "nothing received for 1 s", "HTTPS_PROXY"],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        files(models.path()).is_empty(),
        "{:?}",
        files(models.path())
    );
}

#[test]
fn two_downloads_of_the_same_model_at_once_fetch_it_once() {
    let server = server();
    server.throttle(1 << 16, Duration::from_millis(15));
    let models = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            custom_download(&server, models.path(), &micro().2)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert_success(out);
    }
    assert_eq!(files(models.path()), ["ggml-micro.bin"]);
    assert_eq!(
        std::fs::read(models.path().join("ggml-micro.bin")).unwrap(),
        micro().1
    );
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
}

/// Inputs are checked before any model is resolved: a missing, empty or non-audio input is one
/// line naming it, with or without -m, online or offline, and the mirror hears nothing.
#[test]
fn a_bad_input_is_one_line_before_any_model_is_fetched() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty = rech_testkit::write_file(dir.path(), "empty.wav", b"");
    let text = rech_testkit::write_file(dir.path(), "notes.wav", b"just some words\n");
    let missing = dir.path().join("missing.wav");
    let cases: [(&Path, &str); 3] = [
        (&missing, "no such file"),
        (&empty, "the file is empty"),
        (&text, "not a recognised audio file"),
    ];
    for (input, why) in cases {
        for model in [None, Some("small"), Some(micro().0.to_str().unwrap())] {
            for offline in [false, true] {
                let mut cmd = rech(&server, models.path());
                cmd.arg("transcribe");
                if let Some(model) = model {
                    cmd.args(["-m", model]);
                }
                if offline {
                    cmd.arg("--offline");
                }
                let out = run(cmd.arg(input));
                let shown = input.display().to_string();
                assert_fails(&out, 1, &[&shown, why]);
                assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
            }
        }
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(files(models.path()).is_empty());
    // One good input among bad ones: the bad ones are counted, the good one is transcribed.
    let out = run(rech(&server, models.path())
        .args(["transcribe", "--no-vad", "-m"])
        .arg(&micro().0)
        .arg(&missing)
        .arg(wav()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing.wav: no such file"), "{err}");
    assert!(
        err.contains("rech: 1 of 2 inputs failed, 1 transcribed"),
        "{err}"
    );
    assert!(!stdout(&out).trim().is_empty(), "the good input's text");
}

#[test]
fn offline_nothing_is_fetched_and_the_error_says_what_to_run() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let out = run(rech(&server, models.path()).args(["--offline", "models", "download", "small"]));
    assert_fails(&out, 2, &["--offline"]);
    let out = run(rech(&server, models.path())
        .env("RECH_OFFLINE", "1")
        .args(["transcribe", "-m", "small"])
        .arg(wav()));
    assert_fails(
        &out,
        1,
        &[
            "small is not downloaded",
            "rech models download small",
            "--model PATH",
        ],
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(server.requests().is_empty());
    assert!(files(models.path()).is_empty());
}

#[test]
fn ctrl_c_keeps_the_partial_download_for_the_next_run() {
    let server = server();
    server.throttle(1 << 14, Duration::from_millis(20));
    let models = tempfile::tempdir().unwrap();
    let child = custom_download(&server, models.path(), &micro().2)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let part = models.path().join("ggml-micro.bin.part");
    let started = Instant::now();
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 50_000 {
        assert!(started.elapsed() < Duration::from_secs(20), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept >= 50_000);
    assert!(!models.path().join("ggml-micro.bin").exists());

    server.throttle(1 << 16, Duration::ZERO);
    let out = run(&mut custom_download(&server, models.path(), &micro().2));
    assert_success(&out);
    assert_eq!(files(models.path()), ["ggml-micro.bin"]);
    let last = server.requests().last().cloned().unwrap();
    assert!(last.range_start.is_some_and(|s| s >= kept), "{last:?}");
}

#[test]
fn models_can_be_removed() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    assert_success(&run(&mut custom_download(
        &server,
        models.path(),
        &micro().2,
    )));
    std::fs::write(models.path().join("ggml-base.bin.part"), b"partial").unwrap();
    let out = run(rech(&server, models.path()).args(["models", "remove", "micro", "base"]));
    assert_success(&out);
    assert!(
        files(models.path()).is_empty(),
        "{:?}",
        files(models.path())
    );
    let out = run(rech(&server, models.path()).args(["models", "remove", "micro"]));
    assert_fails(&out, 1, &["micro is not downloaded"]);
}

#[test]
fn bad_names_and_arguments_are_usage_errors() {
    let server = server();
    let models = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["models", "download", "huge"],
            &["huge", "rech models list"],
        ),
        (
            &["models", "download", "small.en"],
            &["English-only", "use small"],
        ),
        (
            &[
                "models",
                "download",
                "--url",
                "http://x/y.bin",
                "--sha256",
                "123",
                "--name",
                "y",
            ],
            &["--sha256"],
        ),
        (
            &[
                "models",
                "download",
                "--url",
                "ftp://x/y.bin",
                "--sha256",
                &"a".repeat(64),
                "--name",
                "y",
            ],
            &["ftp://x/y.bin"],
        ),
        (
            &[
                "models",
                "download",
                "--url",
                "http://x/y.bin",
                "--sha256",
                &"a".repeat(64),
                "--name",
                "small",
            ],
            &["catalogue model name"],
        ),
        (
            &[
                "models",
                "download",
                "--url",
                "http://x/y.bin",
                "--sha256",
                &"a".repeat(64),
                "--name",
                "../up",
            ],
            &["--name"],
        ),
        (
            &["transcribe", "-m", "base.en"],
            &["English-only", "use base"],
        ),
        (
            &["transcribe", "-m", "nonesuch"],
            &["unknown model nonesuch"],
        ),
        (&["transcribe", "-m", "silero-v6.2.0"], &["--vad-model"]),
    ];
    for (args, needles) in cases {
        let mut cmd = rech(&server, models.path());
        cmd.args(*args);
        if args[0] == "transcribe" {
            cmd.arg(wav());
        }
        assert_fails(&run(&mut cmd), 2, needles);
    }
    assert!(server.requests().is_empty());
}
