//! End-to-end runs of `rech transcribe` over many files and long recordings: directories,
//! list files, parallel jobs, resuming with --skip-existing, sharding (and the Kubernetes archive
//! Job's own command, shard by shard, one shard killed and resumed), and windowed
//! transcription of a recording longer than a window.

use rech_testkit::needs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use rech_testkit::{file_names, model, samples_dir, shared_dir, transcribe};

/// The flags every `rech transcribe` of these tests runs with.
const FLAGS: &[&str] = &["--no-fallback", "-t", "1"];

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A directory tree of samples: three at the top, two in a subdirectory, one non-audio file.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for (from, to) in [
        ("privet-16k-mono.wav", "a.wav"),
        ("pogoda.flac", "b.flac"),
        ("chisla.mp3", "c.mp3"),
        ("privet.ogg", "sub/d.ogg"),
        ("privet.m4a", "sub/e.m4a"),
    ] {
        std::fs::copy(samples_dir().join(from), dir.path().join(to)).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not audio").unwrap();
    dir
}

#[test]
fn directories_recursively_in_parallel() {
    let input = tree();
    let out = tempfile::tempdir().unwrap();
    ok(&transcribe(
        model(),
        FLAGS,
        &["-r", "-j", "2", "-f", "json", "--output-dir"],
    )
    .arg(out.path())
    .arg(input.path())
    .output()
    .unwrap());
    // The tree is mirrored: sub/d.ogg → sub/d.json.
    assert_eq!(
        file_names(out.path()),
        ["a.json", "b.json", "c.json", "sub"]
    );
    assert_eq!(file_names(&out.path().join("sub")), ["d.json", "e.json"]);
    for name in ["a.json", "b.json", "c.json", "sub/d.json", "sub/e.json"] {
        let text = std::fs::read_to_string(out.path().join(name)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["language"], "ru", "{name}");
    }
    // Without -r only the top level.
    let flat = tempfile::tempdir().unwrap();
    ok(&transcribe(model(), FLAGS, &["--output-dir"])
        .arg(flat.path())
        .arg(input.path())
        .output()
        .unwrap());
    assert_eq!(file_names(flat.path()), ["a.txt", "b.txt", "c.txt"]);
}

#[test]
fn parallel_jobs_print_in_input_order() {
    let input = tree();
    let serial = ok(&transcribe(model(), FLAGS, &["-r"])
        .arg(input.path())
        .output()
        .unwrap());
    let parallel = ok(&transcribe(model(), FLAGS, &["-r", "-j", "3"])
        .arg(input.path())
        .output()
        .unwrap());
    assert_eq!(serial, parallel);
}

/// A recording's text does not depend on what the same worker transcribed before it: with beam
/// search and temperature fallback (the two that kept state in whisper.cpp from one call to
/// the next), one recording given three times reads the same three times, alone or in jobs.
#[test]
fn a_recording_reads_the_same_whatever_came_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let copies: Vec<PathBuf> = ["a.wav", "b.wav", "c.wav"]
        .iter()
        .map(|name| {
            let path = dir.path().join(name);
            std::fs::copy(samples_dir().join("privet-16k-mono.wav"), &path).unwrap();
            path
        })
        .collect();
    for decoding in [&["--beam-size", "2"][..], &["--best-of", "2"][..]] {
        let alone = ok(&transcribe(model(), &["-t", "1"], decoding)
            .arg(&copies[0])
            .output()
            .unwrap());
        for jobs in ["1", "2"] {
            let batch = ok(&transcribe(model(), &["-t", "1", "-j", jobs], decoding)
                .args(&copies)
                .output()
                .unwrap());
            let texts: Vec<&str> = batch
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with("==>"))
                .collect();
            assert_eq!(texts, [alone.trim(); 3], "{decoding:?} -j {jobs}");
        }
    }
}

#[test]
fn skip_existing_resumes_a_batch() {
    let input = tree();
    let out = tempfile::tempdir().unwrap();
    let first = transcribe(model(), FLAGS, &["--output-dir"])
        .arg(out.path())
        .arg(input.path().join("a.wav"))
        .output()
        .unwrap();
    ok(&first);
    let stamp = std::fs::metadata(out.path().join("a.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let second = transcribe(model(), FLAGS, &["--skip-existing", "--output-dir"])
        .arg(out.path())
        .arg(input.path())
        .output()
        .unwrap();
    ok(&second);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("skipping 1 of 3 inputs"), "{err}");
    assert_eq!(
        std::fs::metadata(out.path().join("a.txt"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp,
        "a.txt was rewritten"
    );
    assert_eq!(file_names(out.path()), ["a.txt", "b.txt", "c.txt"]);
}

#[test]
fn shards_split_a_list_without_overlap() {
    let input = tree();
    let list = input.path().join("list.txt");
    let mut text = String::from("# every sample\n");
    for name in ["a.wav", "b.flac", "c.mp3", "sub/d.ogg", "sub/e.m4a"] {
        text.push_str(&format!("{}\n", input.path().join(name).display()));
    }
    std::fs::write(&list, text).unwrap();
    let mut all = Vec::new();
    for k in 1..=2 {
        let out = tempfile::tempdir().unwrap();
        ok(&transcribe(
            model(),
            FLAGS,
            &["--shard", &format!("{k}/2"), "--output-dir"],
        )
        .arg(out.path())
        .arg("--from-list")
        .arg(&list)
        .output()
        .unwrap());
        all.extend(file_names(out.path()));
    }
    all.sort();
    assert_eq!(all, ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]);

    // The list can come from stdin.
    let out = tempfile::tempdir().unwrap();
    let mut child = transcribe(model(), FLAGS, &["--from-list", "-", "--output-dir"])
        .arg(out.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(std::fs::read(&list).unwrap().as_slice())
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(file_names(out.path()).len(), 5);

    let bad = transcribe(model(), FLAGS, &["--shard", "3/2"])
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// A recording longer than a window: windows are cut at pauses, timestamps land on the whole
/// recording, segments do not overlap across cuts.
#[needs(shared)]
#[test]
fn a_long_recording_is_transcribed_window_by_window() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&long, spec).unwrap();
    let mut total = 0u32;
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("audio/ru/human"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ru_00")
        })
        .collect();
    files.sort();
    for path in files {
        let mut reader = hound::WavReader::open(&path).unwrap();
        for s in reader.samples::<i16>() {
            writer.write_sample(s.unwrap()).unwrap();
            total += 1;
        }
        for _ in 0..24_000 {
            writer.write_sample(0i16).unwrap();
            total += 1;
        }
    }
    writer.finalize().unwrap();
    let seconds = f64::from(total) / 16_000.0;
    assert!(seconds > 90.0);

    let out = ok(&transcribe(
        model(),
        FLAGS,
        &["--window", "30", "-f", "json", "--no-vad"],
    )
    .arg(&long)
    .output()
    .unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!((v["duration"].as_f64().unwrap() - seconds).abs() < 0.001);
    let segments = v["segments"].as_array().unwrap();
    let mut last_end = 0.0;
    for s in segments {
        let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        assert!(
            last_end <= start + 1e-9 && start <= end && end <= seconds,
            "{s}"
        );
        last_end = end;
    }
    assert!(
        segments.iter().any(|s| s["start"].as_f64().unwrap() > 60.0),
        "nothing transcribed after the second window"
    );
}

/// The archive Job's shell command and number of shards, as `scripts/check-deploy.py` reads
/// them from `deploy/kubernetes/archive-job.yaml` (after checking the manifests).
fn archive_job() -> (String, usize) {
    let out = std::process::Command::new(rech_testkit::test_venv().join("bin/python"))
        .arg(rech_testkit::workspace_dir().join("scripts/check-deploy.py"))
        .arg(rech_testkit::workspace_dir().join("deploy"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let archive = &checked["archive"];
    (
        archive["command"].as_str().unwrap().to_owned(),
        archive["shards"].as_u64().unwrap() as usize,
    )
}

/// Pod `index`'s container, here: the Job's command in `sh`, with `rech` on the PATH, the
/// archive and output volumes at `archive` and `out`, and `model` as the model it would have
/// fetched.
fn job_pod(
    command: &str,
    index: usize,
    archive: &Path,
    out: &Path,
    model: &Path,
) -> std::process::Command {
    let rech = rech_testkit::rech();
    let bin = Path::new(rech.get_program()).parent().unwrap().to_owned();
    let command = command
        .replace(
            " --output-dir /out ",
            &format!(" --output-dir '{}' ", out.display()),
        )
        .replace(" /archive", &format!(" '{}'", archive.display()));
    let mut pod = std::process::Command::new("/bin/sh");
    for (key, value) in rech.get_envs() {
        match value {
            Some(value) => pod.env(key, value),
            None => pod.env_remove(key),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    pod.env("PATH", std::env::join_paths(paths).unwrap())
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env("RECH_MODEL", model)
        .args(["-c", &command])
        .stdin(Stdio::null());
    pod
}

/// Every output file under `dir`, relative to it, sorted.
fn outputs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    found.sort();
    found
}

/// The archive Job of deploy/kubernetes, run as its pods run it: its exact command, once per
/// shard in processes at once over one tree, transcribes every recording exactly once (each
/// shard's progress names only its own, and together they name every one once); a shard
/// killed part-way and run again (a retried pod) writes what was left and leaves what it had
/// finished untouched.
#[needs(venv)]
#[test]
fn the_archive_job_transcribes_every_recording_once_and_resumes_a_killed_shard() {
    let (command, shards) = archive_job();
    assert!(shards >= 2);
    let archive = tempfile::tempdir().unwrap();
    let mut recordings = Vec::new();
    for (i, from) in ["privet-16k-mono.wav", "pogoda.flac", "chisla.mp3"]
        .iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let ext = Path::new(from).extension().unwrap().to_str().unwrap();
        let name = PathBuf::from(format!("ep{}/rec{i:02}.{ext}", i % 3));
        std::fs::create_dir_all(archive.path().join(name.parent().unwrap())).unwrap();
        std::fs::copy(samples_dir().join(from), archive.path().join(&name)).unwrap();
        recordings.push(name);
    }
    let out = tempfile::tempdir().unwrap();
    let pods: Vec<_> = (0..shards)
        .map(|index| {
            job_pod(&command, index, archive.path(), out.path(), model())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut seen = Vec::new();
    for pod in pods {
        let done = pod.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&done.stderr).into_owned();
        assert!(done.status.success(), "{log}");
        // Each shard's progress names the recordings it transcribed.
        let mine: Vec<&PathBuf> = recordings
            .iter()
            .filter(|r| log.contains(&r.display().to_string()))
            .collect();
        assert!(!mine.is_empty() && mine.len() < recordings.len(), "{log}");
        seen.extend(mine);
    }
    seen.sort();
    let mut all: Vec<&PathBuf> = recordings.iter().collect();
    all.sort();
    assert_eq!(seen, all, "every recording in exactly one shard");
    let mut expected: Vec<PathBuf> = recordings
        .iter()
        .flat_map(|r| ["txt", "srt"].map(|ext| r.with_extension(ext)))
        .collect();
    expected.sort();
    assert_eq!(outputs(out.path()), expected);

    // Shard 1 of a fresh run, with a model slow enough to be stopped part-way: killed once its
    // first recording is written, then run again.
    let out = tempfile::tempdir().unwrap();
    let slow = rech_testkit::looping_model();
    let mut pod = job_pod(&command, 0, archive.path(), out.path(), slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while outputs(out.path())
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "srt"))
        .count()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "shard 1 wrote nothing"
        );
        assert!(
            pod.try_wait().unwrap().is_none(),
            "shard 1 ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    pod.kill().unwrap();
    pod.wait().unwrap();
    let written = |dir: &Path| -> Vec<(PathBuf, std::time::SystemTime)> {
        outputs(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "srt"))
            .map(|p| {
                let modified = std::fs::metadata(dir.join(&p)).unwrap().modified().unwrap();
                (p, modified)
            })
            .collect()
    };
    let before = written(out.path());
    let finished: Vec<PathBuf> = before
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "srt"))
        .map(|(p, _)| p.with_extension(""))
        .collect();
    let shard: Vec<&PathBuf> = all.iter().copied().step_by(shards).collect();
    assert!(
        finished.len() < shard.len(),
        "shard 1 finished before it was killed: the resume is not tested"
    );
    let again = job_pod(&command, 0, archive.path(), out.path(), slow)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let after = written(out.path());
    for (path, modified) in &before {
        let now = after.iter().find(|(p, _)| p == path).map(|(_, m)| m);
        assert_eq!(now, Some(modified), "{path:?} was written again");
    }
    let mut done: Vec<PathBuf> = after.iter().map(|(p, _)| p.clone()).collect();
    done.sort();
    let mut wanted: Vec<PathBuf> = shard
        .iter()
        .flat_map(|r| ["txt", "srt"].map(|ext| r.with_extension(ext)))
        .collect();
    wanted.sort();
    assert_eq!(
        done, wanted,
        "shard 1 is complete and holds only its own recordings"
    );
}
