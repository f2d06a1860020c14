//! What rech's tests share, in one place: finding the shared test data (`../shared`), models
//! generated once per test run, the real `rech` binary with a hermetic environment, running it
//! with a time limit, checking its one-line errors, and a local HTTP server for downloads.
//! A dev-dependency only.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod diarize;
pub mod display;
pub mod formats;
pub mod http;
pub mod portal;
mod running;
pub mod serve;

/// `#[needs(shared)]`, `#[needs(venv)]`: a test whose data is missing is reported as ignored.
pub use rech_testkit_macros::needs;
pub use running::Running;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use rech_ggml::generate::{write_model_file_with_decoder, DecoderOutput, GenerateOptions};
use rech_ggml::model_file::Hparams;

/// The workspace's root directory.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's own audio samples (`samples/`).
pub fn samples_dir() -> PathBuf {
    workspace_dir().join("samples")
}

/// `RECH_SHARED_DIR`, or `../shared` beside the workspace. A test that calls it carries
/// `#[needs(shared)]`, which reports it as ignored where the data is missing; called anyway, it
/// fails with the reason.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("RECH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("../shared"));
    if dir.join("models/ggml-silero-v6.2.0.bin").is_file() && dir.join("audio/ru/human").is_dir() {
        return dir;
    }
    panic!(
        "shared test data not found at {} (set RECH_SHARED_DIR; a test that needs it carries #[needs(shared)])",
        dir.display()
    )
}

/// Where the tests' generated files go: the target directory's `tmp` (what Cargo calls
/// `CARGO_TARGET_TMPDIR`), found from the running test binary (`target/debug/deps/…`).
pub fn tmp_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|target| target.join("tmp")))
        .unwrap_or_else(std::env::temp_dir)
}

/// The Python environment `scripts/install-deps.sh` makes for the tests (`.venv-test` in the
/// workspace, or `RECH_TEST_VENV`): pinned onnxruntime (whose wheel ships the ONNX Runtime
/// library rech loads) and onnx-asr (the reference GigaAM implementation). A test that calls it
/// carries `#[needs(venv)]`; called anyway without it, it fails with the reason.
pub fn test_venv() -> PathBuf {
    let venv = std::env::var_os("RECH_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join(".venv-test"));
    if venv.join("bin/python").is_file() {
        return venv;
    }
    panic!(
        "the test Python environment is not at {} (run scripts/install-deps.sh, or set RECH_TEST_VENV)",
        venv.display()
    )
}

/// The ONNX Runtime library to test with: `RECH_ORT_LIB`, or the one in the onnxruntime wheel
/// of [`test_venv`] (`#[needs(venv)]`).
pub fn ort_lib() -> PathBuf {
    if let Some(path) = std::env::var_os("RECH_ORT_LIB").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let venv = test_venv();
    let lib = std::fs::read_dir(venv.join("lib"))
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/onnxruntime/capi"))
        .find(|capi| capi.is_dir())
        .and_then(|capi| {
            std::fs::read_dir(capi)
                .ok()?
                .flatten()
                .map(|f| f.path())
                .find(|f| {
                    f.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so."))
                })
        });
    lib.unwrap_or_else(|| {
        panic!(
            "no libonnxruntime.so in {} (run scripts/install-deps.sh)",
            venv.display()
        )
    })
}

/// The `onnxruntime` wheel `scripts/install-deps.sh` keeps in `.venv-test/wheels` (the one
/// rech fetches ONNX Runtime from), for tests that serve it from a local mirror
/// (`#[needs(venv)]`).
pub fn ort_wheel(name: &str) -> PathBuf {
    let wheel = test_venv().join("wheels").join(name);
    assert!(
        wheel.is_file(),
        "{} is missing (run scripts/install-deps.sh)",
        wheel.display()
    );
    wheel
}

/// The names of the entries in `dir`, sorted: what a command left there.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The Whisper model the binary's tests transcribe with: micro dimensions, random weights
/// (its text is nonsense, its work real).
pub fn model() -> &'static Path {
    micro_model(11, DecoderOutput::Random)
}

/// A Whisper model whose decoder repeats one token up to whisper.cpp's limit: every window
/// decodes as much as it can (for dictation, typing and timing tests).
pub fn looping_model() -> &'static Path {
    micro_model(11, DecoderOutput::Repeat)
}

/// `rech transcribe -m MODEL FLAGS ARGS` in the hermetic environment of [`rech`], stdin
/// closed: the one way the tests build a transcription.
pub fn transcribe(model: &Path, flags: &[&str], args: &[&str]) -> Command {
    let mut cmd = rech();
    cmd.arg("transcribe")
        .arg("-m")
        .arg(model)
        .args(flags)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// A Whisper model with random weights, micro dimensions and the decoder pinned as `decoder`
/// says, written once (atomically, so that test binaries running at once can share it) and
/// then reused by every test that asks for the same seed and decoder.
pub fn micro_model(seed: u64, decoder: DecoderOutput) -> &'static Path {
    static MADE: Mutex<Option<HashMap<(u64, String), &'static Path>>> = Mutex::new(None);
    let key = (seed, format!("{decoder:?}").to_lowercase());
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let made = made.get_or_insert_with(HashMap::new);
    if let Some(done) = made.get(&key) {
        return done;
    }
    let dir = tmp_dir();
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let path = dir.join(format!("micro-{}-{seed}.bin", key.1));
    let part = dir.join(format!(
        "micro-{}-{seed}.{}.part",
        key.1,
        std::process::id()
    ));
    let opts = GenerateOptions {
        hparams: Hparams::micro(),
        seed,
    };
    write_model_file_with_decoder(&part, &opts, decoder).expect("generate the test model");
    std::fs::rename(&part, &path).expect("move the test model into place");
    let done: &'static Path = Box::leak(path.into_boxed_path());
    made.insert(key, done);
    done
}

/// The real `rech` binary, hermetic: no network, no model or device from the caller's
/// environment, and a model directory that does not exist instead of the user's cache (which
/// may hold a VAD model that would switch VAD on).
pub fn rech() -> Command {
    let mut cmd = Command::cargo_bin("rech").expect("the rech binary is built");
    cmd.env_remove("RECH_MODEL")
        .env_remove("RECH_VAD_MODEL")
        .env_remove("RECH_DEVICE")
        .env_remove("RECH_ORT_LIB")
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("RECH_ORT_BASE_URL")
        .env_remove("RECH_DICTATE_SOCKET")
        .env_remove("RECH_HOTKEY")
        .env_remove("RECH_INPUT_DIR")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("RECH_OFFLINE", "1")
        .env("RECH_MODELS_DIR", tmp_dir().join("no-models"))
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// Runs `cmd` (stdin closed) to completion, killing it after `limit`: no test can hang. Its
/// output is read while it runs, so that a command that prints more than a pipe holds does
/// not wait for a reader for ever.
pub fn run_with_limit(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "the command ran longer than {limit:?}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs `cmd` (stdin closed) to completion, within five minutes.
pub fn run(cmd: &mut Command) -> Output {
    run_with_limit(cmd, Duration::from_secs(300))
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout as text, which must be valid UTF-8.
#[track_caller]
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test file");
    path
}

/// The command succeeded; otherwise fails showing its exit code, stderr and stdout.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status.code(),
        stderr(out),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Exit code `code`, and stderr is exactly one `rech: error: …` line naming every needle; no
/// panic text.
#[track_caller]
pub fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "expected one line, got:\n{err}");
    assert_error_line(&err, needles);
}

/// Exit code `code`, and the last stderr line is a `rech: error: …` line naming every needle
/// (progress or warnings may come before it); no panic text.
#[track_caller]
pub fn assert_fails_last_line(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_error_line(err.lines().last().unwrap_or_default(), needles);
    assert!(!err.contains("panicked"), "{err}");
}

#[track_caller]
fn assert_error_line(line: &str, needles: &[&str]) {
    assert!(line.starts_with("rech: error: "), "{line}");
    for needle in needles {
        assert!(line.contains(needle), "{line:?} should mention {needle:?}");
    }
    assert!(
        !line.contains("panicked") && !line.contains("RUST_BACKTRACE"),
        "{line}"
    );
}

/// The largest difference between two equally long lists of values: how far an output is
/// from its reference.
pub fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "the lists differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A JSON array of numbers as `f64`s.
pub fn json_numbers(value: &serde_json::Value) -> Vec<f64> {
    value
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

/// jiwer's scores (pinned in `.venv-test`) of `(reference, hypothesis)` pairs: `pairs[i]`
/// and all pairs together (`words`, `chars`), each with its `rate` as text (the shortest that
/// reads back to the same double) and its hits, substitutions, deletions and insertions.
pub fn jiwer(pairs: &[(String, String)]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("jiwer_score.py");
    python_reference(&script, &[], &serde_json::json!(pairs))
}

/// What a reference implementation in the test environment says: `script` run by
/// `.venv-test`'s Python with `args`, `input` written to its standard input as JSON, its
/// standard output read as JSON. A failing script fails the test with its stderr.
pub fn python_reference(
    script: &Path,
    args: &[&std::ffi::OsStr],
    input: &serde_json::Value,
) -> serde_json::Value {
    use std::io::Write as _;
    let mut child = Command::new(test_venv().join("bin/python"))
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    let mut stdin = child.stdin.take().expect("the reference's stdin");
    stdin
        .write_all(input.to_string().as_bytes())
        .expect("write to the reference");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for the reference");
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reference's JSON")
}
