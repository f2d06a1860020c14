//! `rech serve` against what a hostile client or web page does (the security review of issue
//! 29, each finding turned into a test on the real binary): prompts that overflowed
//! whisper.cpp's tokenizer, uploads that made ffmpeg read the server's own files, streams whose
//! work outlived their client, clients that stall, DNS-rebinding and cross-origin pages. Each
//! gets a bounded answer, and the server is left healthy and idle.

use rech_testkit::needs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rech_ggml::generate::DecoderOutput;
use rech_testkit::serve::{
    head, multipart, read_reply, start_upload, transcribe, ServeSetup, Served,
};
use rech_testkit::{micro_model, rech, run};

type Setup = ServeSetup;

fn setup() -> Setup {
    ServeSetup::new()
}

/// A short recording's bytes.
fn speech(setup: &Setup) -> Vec<u8> {
    std::fs::read(setup.recording("human/ru_0022.wav")).unwrap()
}

/// Ten minutes of speech: a request that keeps a worker busy for far longer than a test.
fn ten_minutes(setup: &Setup) -> Vec<u8> {
    std::fs::read(setup.long_wav(600)).unwrap()
}

fn whisper_model() -> &'static std::path::Path {
    micro_model(29, DecoderOutput::EndOfText)
}

/// The server's CPU time so far (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `fields` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn assert_healthy(served: &Served) {
    let reply = served.request("GET", "/health", &[], b"");
    assert_eq!(reply.status, 200, "{}", served.stderr());
}

#[needs(shared, venv)]
#[test]
fn prompts_whisper_cannot_take_get_400_and_the_server_lives_on() {
    let setup = setup();
    let mut cmd = rech();
    cmd.arg("serve")
        .arg("-m")
        .arg(whisper_model())
        .arg("--vad-model")
        .arg(setup.vad())
        .args(["-l", "ru", "-t", "1"]);
    let served = Served::start(cmd);
    let speech = speech(&setup);
    // The prompts that aborted the server: 8,000 letters, 65 KB of digits, Cyrillic, spaces.
    let hostile = [
        "a".repeat(8_000),
        "7".repeat(65_000),
        "я".repeat(32_000),
        " ".repeat(65_000),
        "a".repeat(4_000),
    ];
    for prompt in &hostile {
        let reply = served.transcribe(&[("prompt", prompt)], Some(("a.wav", &speech)));
        let message = reply.assert_error(400, Some("prompt"));
        assert!(message.len() < 300, "{message}");
        assert_healthy(&served);
    }
    let reply = served.transcribe(&[("prompt", "Лекция о речи.")], Some(("a.wav", &speech)));
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The CLI refuses the same prompt in one line, before any work.
    let out = run(rech()
        .args([
            "transcribe",
            "-l",
            "ru",
            "--prompt",
            &"a".repeat(8_000),
            "-m",
        ])
        .arg(whisper_model())
        .arg(setup.recording("human/ru_0022.wav")));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--prompt"), "{stderr}");
}

#[needs(shared, venv)]
#[test]
fn ffmpeg_never_opens_the_files_a_playlist_names() {
    let setup = setup();
    let served = setup.serve(&["-w", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let real = setup.recording("human/ru_0022.wav");
    let missing = dir.path().join("no-such-recording.mp3");
    let hls = |target: &std::path::Path| {
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{}\n#EXT-X-ENDLIST\n",
            target.display()
        )
    };
    let concat = |target: &std::path::Path| {
        format!(
            "ffconcat version 1.0\nfile '{0}'\nfile '{0}'\n",
            target.display()
        )
    };
    let mut answers = Vec::new();
    for (name, body) in [
        ("list.au", hls(&real)),
        ("list.au", hls(&missing)),
        ("list.ts", hls(&real)),
        ("list.mpg", concat(&real)),
        ("list.mpg", concat(&missing)),
    ] {
        let reply = served.transcribe(&[], Some((name, body.as_bytes())));
        let message = reply.assert_error(400, Some("file"));
        assert!(
            message.contains("playlist") || message.contains("ffconcat"),
            "{name}: {message}"
        );
        answers.push(message);
    }
    // A file that exists and one that does not get the same answer: neither was opened.
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[3], answers[4]);
    assert_eq!(served.metric("rech_audio_seconds_total"), 0.0);
    assert_healthy(&served);
    // The CLI refuses them in one line too.
    let list = dir.path().join("list.ts");
    std::fs::write(&list, concat(&real)).unwrap();
    let out = run(rech()
        .env("RECH_ORT_LIB", &setup.lib)
        .args(["transcribe", "--no-vad", "-t", "1", "-m"])
        .arg(setup.model())
        .arg(&list));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ffconcat"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// Opens `/v1/listen`; `Err(status)` when the server refused the upgrade.
fn open_stream(
    addr: std::net::SocketAddr,
    query: &str,
) -> Result<tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>, u16> {
    match tungstenite::connect(format!("ws://{addr}/v1/listen{query}")) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("WebSocket: {e}"),
    }
}

#[needs(shared, venv)]
#[test]
fn a_stream_holds_its_worker_until_its_work_has_stopped() {
    let setup = setup();
    let served = setup.serve(&["-w", "2", "--queue", "8"]);
    // Two workers: two streams, never six.
    let mut open = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..6 {
        match open_stream(served.addr, "") {
            Ok(socket) => open.push(socket),
            Err(status) => refused.push(status),
        }
    }
    assert_eq!(open.len(), 2, "refused: {refused:?}");
    assert_eq!(refused, [429, 429, 429, 429]);
    assert_eq!(served.metric("rech_streams_active"), 2.0);
    drop(open);
    assert_eq!(served.metric_settled("rech_streams_active", 0.0), 0.0);
    // One megabyte at 1 kHz is 524 s of audio; the client leaves at once.
    let mut socket = open_stream(served.addr, "?sample_rate=1000").unwrap();
    let speech = speech(&setup);
    let pcm: Vec<u8> = speech[44..].iter().cycle().take(1 << 20).copied().collect();
    socket
        .send(tungstenite::Message::Binary(pcm.into()))
        .unwrap();
    let busy = served.wait_for_metric("rech_workers_busy", Duration::from_secs(10), |v| v >= 1.0);
    assert_eq!(busy, 1.0, "{}", served.stderr());
    std::thread::sleep(Duration::from_millis(300));
    let closed = Instant::now();
    drop(socket);
    let busy = served.wait_for_metric("rech_workers_busy", Duration::from_secs(5), |v| v == 0.0);
    let freed = closed.elapsed();
    assert_eq!(busy, 0.0, "the orphaned stream still holds its worker");
    assert_eq!(served.metric_settled("rech_streams_active", 0.0), 0.0);
    let before = cpu_seconds(served.pid());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_seconds(served.pid()) - before;
    eprintln!(
        "worker freed {:.0} ms after the close; {used:.2} s of CPU in the 3 s after",
        freed.as_secs_f64() * 1000.0
    );
    assert!(used < 1.0, "the server worked on: {used:.2} s of CPU");
    assert_healthy(&served);
}

#[needs(shared, venv)]
#[test]
fn clients_that_stall_are_cut_off_and_their_places_freed() {
    let setup = setup();
    let served = setup.serve(&[
        "-w",
        "1",
        "--queue",
        "1",
        "--header-timeout",
        "1",
        "--read-timeout",
        "1",
        "--idle-timeout",
        "1",
        "--queue-timeout",
        "1",
    ]);
    // Headers that never end: the connection is closed.
    let mut partial = TcpStream::connect(served.addr).unwrap();
    partial
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    partial
        .write_all(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = partial.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "open after {:?}",
        started.elapsed()
    );
    // An upload that stops after 100 bytes: 408, and the place is free again.
    let speech = speech(&setup);
    let (content_type, body) = multipart(&[], Some(("a.wav", &speech)));
    let mut stalled = TcpStream::connect(served.addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stalled
        .write_all(&head(
            "POST",
            "/v1/audio/transcriptions",
            &[("Content-Type", &content_type)],
            Some(body.len() as u64),
        ))
        .unwrap();
    stalled.write_all(&body[..100]).unwrap();
    let reply = read_reply(&mut stalled);
    reply.assert_error(408, None);
    assert_eq!(served.metric_settled("rech_queue_depth", 0.0), 0.0);
    // A WebSocket that sends no audio is closed with a reason.
    let mut socket = open_stream(served.addr, "").unwrap();
    let mut reason = String::new();
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => reason = text.to_string(),
            Ok(tungstenite::Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(reason.contains("no audio"), "{reason}");
    assert_eq!(served.metric_settled("rech_workers_busy", 0.0), 0.0);
    // A request that waits for the busy worker longer than --queue-timeout: 503, Retry-After.
    let long = ten_minutes(&setup);
    let addr = served.addr;
    let holder = std::thread::spawn(move || {
        let _upload = start_upload(addr, "long.wav", &long, 1.0);
        std::thread::sleep(Duration::from_secs(4));
        // Leaves: the job is cancelled.
    });
    served.wait_for_metric("rech_workers_busy", Duration::from_secs(20), |v| v >= 1.0);
    let reply = served.transcribe(&[], Some(("a.wav", &speech)));
    reply.assert_error(503, None);
    assert!(reply.header("retry-after").is_some());
    holder.join().unwrap();
    assert_eq!(served.metric_settled("rech_workers_busy", 0.0), 0.0);
    assert_healthy(&served);
}

#[needs(shared, venv)]
#[test]
fn pages_from_elsewhere_and_rebound_names_are_refused() {
    let setup = setup();
    let served = setup.serve(&["--allowed-host", "rech.internal"]);
    let speech = speech(&setup);
    let (content_type, body) = multipart(&[], Some(("a.wav", &speech)));
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Type", content_type.as_str())];
        all.extend_from_slice(headers);
        served.request("POST", "/v1/audio/transcriptions", &all, &body)
    };
    // A DNS-rebinding page: its own name in Host.
    let mut s = TcpStream::connect(served.addr).unwrap();
    s.write_all(
        b"GET /v1/models HTTP/1.1\r\nHost: attacker.example:8080\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let refused = read_reply(&mut s).assert_error(403, None);
    assert!(refused.contains("attacker.example"), "{refused}");
    let mut s = TcpStream::connect(served.addr).unwrap();
    s.write_all(
        b"GET /v1/models HTTP/1.1\r\nHost: rech.internal:8080\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_reply(&mut s).status, 200);
    // A foreign page's form POST (no preflight) and WebSocket.
    post(&[("Origin", "http://evil.example")]).assert_error(403, None);
    assert_eq!(post(&[("Origin", "http://localhost")]).status, 200);
    assert!(served.metric("rech_audio_seconds_total") > 0.0);
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/v1/listen",
        served.addr
    ))
    .unwrap();
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    match tungstenite::connect(request) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign page's WebSocket: {:?}", other.map(|_| ())),
    }
    // Every rejection is OpenAI's JSON, bounded in size.
    served
        .request("DELETE", "/v1/models", &[], b"")
        .assert_error(405, None);
    match tungstenite::connect(format!("ws://{}/v1/listen?sample_rate=lots", served.addr)) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body = response.body().as_deref().unwrap_or_default();
            let json: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert!(json["error"]["message"].is_string());
        }
        other => panic!("a bad sample rate: {:?}", other.map(|_| ())),
    }
    let huge = "x".repeat(1 << 20);
    let reply = served.transcribe(&[("language", &huge)], Some(("a.wav", &speech)));
    reply.assert_error(400, Some("language"));
    assert!(reply.body.len() < 1024, "{} bytes", reply.body.len());
    assert_healthy(&served);
}

#[needs(shared, venv)]
#[test]
fn keys_come_in_the_header_or_once_on_the_websocket_upgrade() {
    let setup = setup();
    let served = setup.serve(&["--api-key", "s3cret/+="]);
    assert_eq!(
        served
            .request(
                "GET",
                "/v1/models",
                &[("Authorization", "bearer s3cret/+=")],
                b""
            )
            .status,
        200
    );
    assert_eq!(
        served
            .request(
                "GET",
                "/v1/models",
                &[("Authorization", "BEARER s3cret/+=")],
                b""
            )
            .status,
        200
    );
    served
        .request("GET", "/v1/models?api_key=s3cret%2F%2B%3D", &[], b"")
        .assert_error(401, None);
    let key = "s3cret%2F%2B%3D";
    assert!(open_stream(served.addr, &format!("?api_key={key}")).is_ok());
    assert_eq!(
        open_stream(served.addr, &format!("?api_key={key}&api_key=other")).err(),
        Some(401)
    );
}

#[needs(shared, venv)]
#[test]
fn past_the_grace_period_requests_are_answered_503_and_an_exposed_server_warns() {
    let setup = setup();
    let uploads = tempfile::tempdir().unwrap();
    let upload_dir = uploads.path().display().to_string();
    let mut served = setup.serve(&[
        "--grace",
        "1",
        "-q",
        "--host",
        "0.0.0.0",
        "--upload-dir",
        &upload_dir,
    ]);
    assert!(served.stderr().contains("WARNING"), "{}", served.stderr());
    let long = ten_minutes(&setup);
    let addr = served.addr;
    let client = std::thread::spawn(move || transcribe(addr, &[], Some(("long.wav", &long))));
    served.wait_for_metric("rech_workers_busy", Duration::from_secs(20), |v| v >= 1.0);
    let code = served.terminate(Duration::from_secs(20));
    let reply = client.join().unwrap();
    reply.assert_error(503, None);
    assert_eq!(code, Some(0));
    // The upload of the work cut short is gone with the server.
    let left: Vec<_> = std::fs::read_dir(uploads.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Writes `request` to a new connection to `addr` and reads until the server closes it; what
/// came back. Write and read errors end early: what was read is the evidence.
fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

#[needs(shared, venv)]
#[test]
fn a_refused_upload_is_read_to_its_end_so_its_client_hears_why() {
    // Refused before its body is read (a wrong key in the header; a form whose key field is
    // missing when its file begins), an upload still being sent must get its answer. Closing on
    // unread bytes made curl fail with "Send failure: Broken pipe" (CI saw status 0) now and
    // then; the server now reads the rest first, which leaves the connection fit for the next
    // request: the pipelined `GET /health` is answered only when the refused body was read.
    let setup = setup();
    let served = setup.serve(&["--api-key", "sekret"]);
    let audio = speech(&setup);
    let (content_type, body) = multipart(&[], Some(("speech.wav", &audio)));
    let next = head("GET", "/health", &[], None);
    for (path, key, says) in [
        (
            "/v1/audio/transcriptions",
            "Bearer wrong",
            "incorrect API key",
        ),
        ("/page/transcribe", "", "needs an API key"),
    ] {
        let mut headers = vec![("Content-Type", content_type.as_str())];
        if !key.is_empty() {
            headers.push(("Authorization", key));
        }
        let mut request = keep_alive(head("POST", path, &headers, Some(body.len() as u64)));
        request.extend_from_slice(&body);
        request.extend_from_slice(&next);
        let replies = exchange(served.addr, &request);
        assert!(replies.starts_with("HTTP/1.1 401"), "{path}: {replies}");
        assert!(replies.contains(says), "{path}: {replies}");
        assert!(
            replies.contains("HTTP/1.1 200"),
            "{path}: the next request on the connection went unanswered: {replies}"
        );
    }
    // A client that waits to be told before it sends (`Expect: 100-continue`) is told at once,
    // and not invited to send what was refused.
    let replies = exchange(
        served.addr,
        &head(
            "POST",
            "/v1/audio/transcriptions",
            &[
                ("Content-Type", content_type.as_str()),
                ("Authorization", "Bearer wrong"),
                ("Expect", "100-continue"),
            ],
            Some(body.len() as u64),
        ),
    );
    assert!(replies.starts_with("HTTP/1.1 401"), "{replies}");
    assert!(!replies.contains("100 Continue"), "{replies}");
    assert_healthy(&served);
}

/// A request head from [`head`] without its `Connection: close`.
fn keep_alive(head: Vec<u8>) -> Vec<u8> {
    String::from_utf8(head)
        .unwrap()
        .replace("Connection: close\r\n", "")
        .into_bytes()
}

#[needs(shared, venv)]
#[test]
fn whispers_low_memory_mode_serves_what_rech_transcribe_writes_with_it() {
    // `--flash-attn` reaches the server's workers: the text is `rech transcribe --flash-attn`'s,
    // which (random weights, other arithmetic) differs from the text without it.
    let setup = setup();
    let model = micro_model(31, DecoderOutput::Random);
    let recording = setup.recording("human/ru_0022.wav");
    let cli = |extra: &[&str]| {
        let out = run(rech()
            .args(["transcribe", "-q", "-l", "ru", "-t", "1", "--no-vad"])
            .args(extra)
            .args(["-f", "txt", "-m"])
            .arg(model)
            .arg(&recording));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (with, without) = (cli(&["--flash-attn"]), cli(&[]));
    assert_ne!(with, without, "flash attention changed nothing to tell by");
    let mut cmd = rech();
    cmd.args([
        "serve",
        "--flash-attn",
        "--no-vad",
        "-l",
        "ru",
        "-t",
        "1",
        "-m",
    ])
    .arg(model);
    let served = Served::start(cmd);
    let reply = served.transcribe(
        &[("response_format", "text")],
        Some(("a.wav", &speech(&setup))),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text().trim(), with);
}
