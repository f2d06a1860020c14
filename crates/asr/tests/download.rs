//! The downloader against a real HTTP server on 127.0.0.1 serving a generated model: a full
//! download, resuming after a cut connection or an earlier run, a server that ignores `Range`,
//! checksum and size mismatches, 404, stalls, two downloads of the same file at once, and
//! cancellation. Nothing here touches the network beyond 127.0.0.1.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rech_asr::download::{
    download, sha256_file, sibling, DownloadError, DownloadEvent, DownloadOutcome, DownloadRequest,
};
use rech_asr::CancelToken;
use rech_ggml::generate::{write_model, GenerateOptions};
use rech_ggml::model_file::Hparams;
use rech_testkit::http::{Fault, TestServer};

const PATH: &str = "/models/ggml-micro.bin";

/// A generated micro model and its sha256, made once.
fn model() -> &'static (Vec<u8>, String) {
    static MODEL: OnceLock<(Vec<u8>, String)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut bytes = Vec::new();
        let opts = GenerateOptions {
            hparams: Hparams::micro(),
            seed: 7,
        };
        write_model(&mut bytes, &opts).expect("generate a model");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        std::fs::write(&path, &bytes).unwrap();
        let sha = sha256_file(&path).unwrap();
        (bytes, sha)
    })
}

fn server() -> TestServer {
    let server = TestServer::start();
    server.serve(PATH, model().0.clone());
    server
}

fn request(server: &TestServer, dir: &Path) -> DownloadRequest {
    DownloadRequest {
        url: server.url(PATH),
        dest: dir.join("ggml-micro.bin"),
        sha256: model().1.clone(),
        size: Some(model().0.len() as u64),
        timeout: Duration::from_secs(5),
    }
}

fn run(request: &DownloadRequest) -> (Result<DownloadOutcome, DownloadError>, Vec<DownloadEvent>) {
    let mut events = Vec::new();
    let result = download(request, None, &mut |e| events.push(e.clone()));
    (result, events)
}

/// The files left in `dir`, sorted.
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

#[track_caller]
fn assert_installed(request: &DownloadRequest) {
    assert_eq!(
        std::fs::read(&request.dest).expect("the model is in place"),
        model().0
    );
    assert!(
        !sibling(&request.dest, "part").exists(),
        "partial file left"
    );
}

#[test]
fn a_full_download_is_verified_and_moved_into_place() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, &dir.path().join("new/models"));
    let (result, events) = run(&request);
    let len = model().0.len() as u64;
    assert_eq!(
        result.unwrap(),
        DownloadOutcome::Downloaded {
            bytes: len,
            resumed_from: 0
        }
    );
    assert_installed(&request);
    assert!(events.contains(&DownloadEvent::Started {
        total: Some(len),
        resumed_from: 0
    }));
    assert!(events.contains(&DownloadEvent::Progress { downloaded: len }));
    assert_eq!(events.last(), Some(&DownloadEvent::Verifying));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].range_start, None);

    // A second call finds the file and fetches nothing.
    let (result, _) = run(&request);
    assert_eq!(result.unwrap(), DownloadOutcome::AlreadyPresent);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_cut_connection_resumes_with_a_range_request() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    let cut = model().0.len() as u64 / 3;
    server.push_fault(Fault::CutAfter(cut));
    let (result, events) = run(&request);
    result.unwrap();
    assert_installed(&request);
    let log = server.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].range_start, log[0].status), (None, 200));
    assert_eq!((log[1].range_start, log[1].status), (Some(cut), 206));
    assert!(events
        .iter()
        .any(|e| matches!(e, DownloadEvent::Retrying { downloaded, .. } if *downloaded == cut)));
}

#[test]
fn redirects_are_followed_and_keep_the_range() {
    let server = server();
    server.serve("/cdn/blob", model().0.clone());
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    let cut = 123_456;
    server.push_fault(Fault::RedirectTo("/cdn/blob"));
    server.push_fault(Fault::CutAfter(cut));
    server.push_fault(Fault::RedirectTo("/cdn/blob"));
    run(&request).0.unwrap();
    assert_installed(&request);
    let log: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| (r.path, r.range_start, r.status))
        .collect();
    assert_eq!(
        log,
        [
            (PATH.to_owned(), None, 302),
            ("/cdn/blob".to_owned(), None, 200),
            (PATH.to_owned(), Some(cut), 302),
            ("/cdn/blob".to_owned(), Some(cut), 206),
        ]
    );
}

#[test]
fn a_partial_file_from_an_earlier_run_is_resumed() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    let half = model().0.len() / 2;
    std::fs::write(sibling(&request.dest, "part"), &model().0[..half]).unwrap();
    let (result, events) = run(&request);
    assert_eq!(
        result.unwrap(),
        DownloadOutcome::Downloaded {
            bytes: model().0.len() as u64,
            resumed_from: half as u64
        }
    );
    assert_installed(&request);
    assert_eq!(server.requests()[0].range_start, Some(half as u64));
    assert!(events.contains(&DownloadEvent::Started {
        total: Some(model().0.len() as u64),
        resumed_from: half as u64
    }));
}

#[test]
fn a_server_that_ignores_range_gets_a_fresh_download() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    std::fs::write(sibling(&request.dest, "part"), &model().0[..1000]).unwrap();
    server.push_fault(Fault::IgnoreRange);
    run(&request).0.unwrap();
    assert_installed(&request);
    assert_eq!(server.requests()[0].status, 200);
}

#[test]
fn a_damaged_partial_file_is_replaced_by_one_fresh_download() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    std::fs::write(sibling(&request.dest, "part"), vec![0xAB; 5000]).unwrap();
    let (result, events) = run(&request);
    result.unwrap();
    assert_installed(&request);
    let log = server.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].range_start, Some(5000));
    assert_eq!(log[1].range_start, None);
    assert!(events.iter().any(
        |e| matches!(e, DownloadEvent::Retrying { reason, .. } if reason.contains("checksum"))
    ));
}

#[test]
fn a_checksum_mismatch_leaves_nothing_behind() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut request = request(&server, dir.path());
    request.sha256 = "0".repeat(64);
    let err = run(&request).0.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, DownloadError::ChecksumMismatch { .. }),
        "{text}"
    );
    assert!(text.contains(&"0".repeat(64)), "{text}");
    assert!(text.contains(&model().1), "{text}");
    assert!(text.contains(&server.url(PATH)), "{text}");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[test]
fn a_server_offering_another_size_is_refused_before_writing() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut request = request(&server, dir.path());
    request.size = Some(model().0.len() as u64 + 1);
    let err = run(&request).0.unwrap_err();
    assert!(matches!(err, DownloadError::WrongSize { .. }), "{err}");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[test]
fn not_found_is_an_error_naming_the_url() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut request = request(&server, dir.path());
    request.url = server.url("/models/ggml-missing.bin");
    let err = run(&request).0.unwrap_err();
    assert!(
        matches!(err, DownloadError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("/models/ggml-missing.bin"),
        "{err}"
    );
    assert!(err.to_string().contains("404"), "{err}");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[test]
fn a_silent_server_times_out() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut request = request(&server, dir.path());
    request.timeout = Duration::from_millis(500);
    server.push_fault(Fault::StallBeforeResponse);
    let started = Instant::now();
    let err = run(&request).0.unwrap_err();
    assert!(matches!(err, DownloadError::Stalled { .. }), "{err}");
    assert!(err.to_string().contains("stalled"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[test]
fn a_stall_mid_file_is_resumed_after_the_timeout() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut request = request(&server, dir.path());
    request.timeout = Duration::from_millis(500);
    server.push_fault(Fault::StallAfter(100_000));
    run(&request).0.unwrap();
    assert_installed(&request);
    assert_eq!(server.requests()[1].range_start, Some(100_000));
}

#[test]
fn a_server_that_keeps_stalling_gives_up_and_keeps_the_partial_file() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut request = request(&server, dir.path());
    request.timeout = Duration::from_millis(300);
    server.push_fault(Fault::StallAfter(10_000));
    server.push_fault(Fault::StallBeforeResponse);
    let err = run(&request).0.unwrap_err();
    assert!(matches!(err, DownloadError::Stalled { .. }), "{err}");
    assert_eq!(
        std::fs::metadata(sibling(&request.dest, "part"))
            .unwrap()
            .len(),
        10_000
    );
    assert!(!request.dest.exists());
    // The next run picks up where this one stopped.
    run(&request).0.unwrap();
    assert_installed(&request);
    assert_eq!(server.requests().last().unwrap().range_start, Some(10_000));
}

#[test]
fn an_unreachable_server_fails_fast() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let request = DownloadRequest {
        url: format!("http://127.0.0.1:{port}/ggml-micro.bin"),
        dest: dir.path().join("ggml-micro.bin"),
        sha256: model().1.clone(),
        size: None,
        timeout: Duration::from_secs(5),
    };
    let err = run(&request).0.unwrap_err();
    assert!(matches!(err, DownloadError::Network { .. }), "{err}");
    assert!(!request.dest.exists());
}

#[test]
fn two_downloads_of_the_same_file_fetch_it_once() {
    let server = server();
    server.throttle(1 << 16, Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    let waited = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let request = request.clone();
            let waited = Arc::clone(&waited);
            std::thread::spawn(move || {
                download(&request, None, &mut |e| {
                    if *e == DownloadEvent::WaitingForLock {
                        waited.store(true, Ordering::SeqCst);
                    }
                })
            })
        })
        .collect();
    let mut outcomes: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    outcomes.sort_by_key(|o| matches!(o, DownloadOutcome::AlreadyPresent));
    assert!(matches!(outcomes[0], DownloadOutcome::Downloaded { .. }));
    assert_eq!(outcomes[1], DownloadOutcome::AlreadyPresent);
    assert!(waited.load(Ordering::SeqCst));
    assert_installed(&request);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn cancelling_keeps_the_partial_file_for_later() {
    let server = server();
    server.throttle(1 << 15, Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let request = request(&server, dir.path());
    let cancel = CancelToken::new();
    let err = download(&request, Some(&cancel), &mut |e| {
        if matches!(e, DownloadEvent::Progress { downloaded } if *downloaded > 100_000) {
            cancel.cancel();
        }
    })
    .unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled), "{err}");
    let kept = std::fs::metadata(sibling(&request.dest, "part"))
        .unwrap()
        .len();
    assert!(kept > 100_000, "{kept}");
    run(&request).0.unwrap();
    assert_installed(&request);
    assert_eq!(server.requests().last().unwrap().range_start, Some(kept));
}
