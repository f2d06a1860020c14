//! `rech serve` end to end: the real binary on a free loopback port, driven by the official
//! OpenAI Python client, curl, raw sockets and a WebSocket client, on the shared Russian
//! recordings with the random-weight GigaAM-v3 micro model (real architecture, so every text is
//! the one the engine really produces). Each answer is checked against `rech transcribe` on the
//! same file; the faults — a full queue, an upload over the limit, a wrong key, garbage and
//! truncated audio, a client that vanishes, SIGTERM mid-request — each get the answer OpenAI
//! would give and leave the server serving.

use rech_testkit::needs;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rech_testkit::serve::{head, multipart, read_reply, start_upload, transcribe, ServeSetup};
use rech_testkit::{assert_success, rech, run, stdout, test_venv};
use serde_json::Value;

type Setup = ServeSetup;

fn setup() -> Setup {
    ServeSetup::new()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[needs(shared, venv)]
#[test]
fn the_openai_sdk_gets_every_format_as_from_the_hosted_api() {
    let setup = setup();
    let venv = test_venv();
    let served = setup.serve(&["--api-key", "sekret", "--model-id", "micro"]);
    let file = setup.recording("human/ru_0030.wav");
    let (call, _) = setup.call_wav();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(format!("http://{}/v1", served.addr))
        .arg(&file)
        .arg("sekret")
        .arg(&call)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        served.stderr()
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();

    let text = setup.cli_text(&file);
    assert!(!text.is_empty());
    assert_eq!(got["json"]["type"], "Transcription");
    assert_eq!(got["json"]["text"], text.as_str());
    assert_eq!(got["text"]["value"], format!("{text}\n").as_str());
    // Subtitles: exactly what `rech transcribe` writes.
    assert_eq!(got["srt"]["value"], setup.cli(&file, "srt").as_str());
    assert_eq!(got["vtt"]["value"], setup.cli(&file, "vtt").as_str());

    // verbose_json, parsed by the SDK into its own model: every field it knows is filled.
    let verbose = &got["verbose_json"]["value"];
    assert_eq!(got["verbose_json"]["type"], "TranscriptionVerbose");
    assert_eq!(verbose["language"], "russian");
    assert_eq!(verbose["text"], text.as_str());
    let cli: Value = serde_json::from_str(&setup.cli(&file, "verbose_json")).unwrap();
    assert_eq!(verbose["duration"], cli["duration"]);
    let segments = verbose["segments"].as_array().unwrap();
    assert_eq!(segments.len(), cli["segments"].as_array().unwrap().len());
    for (ours, theirs) in segments.iter().zip(cli["segments"].as_array().unwrap()) {
        for key in [
            "id",
            "start",
            "end",
            "text",
            "avg_logprob",
            "compression_ratio",
        ] {
            assert_eq!(ours[key], theirs[key], "{key}");
        }
    }
    let words = verbose["words"].as_array().expect("words were asked for");
    assert!(!words.is_empty());
    let joined: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert_eq!(
        joined.join(" "),
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    for w in words {
        assert!(w["start"].as_f64().unwrap() <= w["end"].as_f64().unwrap());
    }
    // Segments only (the default granularity): no words.
    let plain = &got["verbose_json_segments"]["value"];
    assert!(plain["words"].is_null(), "{plain}");
    assert!(!plain["segments"].as_array().unwrap().is_empty());

    assert_eq!(got["models"], serde_json::json!(["micro"]));
    assert_eq!(got["wrong_key"]["class"], "AuthenticationError");
    assert_eq!(got["wrong_key"]["status"], 401);
    assert_eq!(got["bad_format"]["class"], "BadRequestError");
    assert_eq!(got["bad_format"]["param"], "response_format");
    assert_eq!(got["bad_audio"]["class"], "BadRequestError");
    assert_eq!(got["bad_audio"]["param"], "file");
    assert!(
        !got["bad_audio"]["message"]
            .as_str()
            .unwrap()
            .contains("rech-upload"),
        "temporary names stay inside: {}",
        got["bad_audio"]
    );
    assert_eq!(got["bad_language"]["class"], "BadRequestError");
    assert_eq!(got["bad_language"]["param"], "language");

    // diarized_json, parsed by the SDK into its own model: the segments `rech transcribe
    // --diarize channels` writes, the named speaker by name and the other as OpenAI letters it.
    assert_eq!(got["diarized_json"]["type"], "TranscriptionDiarized");
    let diarized = &got["diarized_json"]["value"];
    let cli: Value = serde_json::from_str(&setup.cli_with(
        &call,
        "diarized_json",
        &["--diarize", "channels", "--speaker-names", "Оператор"],
    ))
    .unwrap();
    assert_eq!(diarized["text"], cli["text"]);
    let segments = diarized["segments"].as_array().unwrap();
    assert_eq!(segments.len(), cli["segments"].as_array().unwrap().len());
    for (ours, theirs) in segments.iter().zip(cli["segments"].as_array().unwrap()) {
        for field in ["type", "id", "start", "end", "text", "speaker"] {
            assert_eq!(ours[field], theirs[field], "{field}: {ours}");
        }
    }
    let speakers: Vec<&str> = segments
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert!(
        speakers.contains(&"Оператор") && speakers.contains(&"B"),
        "{speakers:?}"
    );
}

#[needs(shared, venv)]
#[test]
fn the_openai_sdk_streams_the_text_window_by_window() {
    let setup = setup();
    let venv = test_venv();
    let served = setup.serve(&[]);
    // 100 s: two of the server's windows (the first cut in the quiet of 45–60 s, the rest
    // shorter than a window), so two pieces of text before the whole.
    let file = setup.long_wav(100);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_stream.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(format!("http://{}/v1", served.addr))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        served.stderr()
    );
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let (done, deltas) = events.split_last().expect("events");
    assert_eq!(done["class"], "TranscriptionTextDoneEvent", "{events:?}");
    assert_eq!(done["type"], "transcript.text.done");
    assert_eq!(deltas.len(), 2, "{events:?}");
    let mut joined = String::new();
    for delta in deltas {
        assert_eq!(delta["class"], "TranscriptionTextDeltaEvent");
        assert_eq!(delta["type"], "transcript.text.delta");
        joined += delta["delta"].as_str().unwrap();
    }
    // The pieces make the whole, and the whole is what `rech transcribe` writes.
    let text = setup.cli_text(&file);
    assert!(!text.is_empty());
    assert_eq!(done["text"], text.as_str());
    assert_eq!(joined, text);

    // Streamed text only comes as text: subtitles and verbose_json are refused, as is a
    // stream that is neither true nor false.
    let wav = read(&setup.recording("human/ru_0022.wav"));
    for fields in [
        [("stream", "true"), ("response_format", "srt")],
        [("stream", "yes"), ("response_format", "json")],
    ] {
        let reply = served.transcribe(&fields, Some(("a.wav", &wav)));
        reply.assert_error(400, Some("stream"));
    }
    // include[] puts whole documents in the last event (what the web page downloads): only
    // with stream=true, and only formats the API has.
    for fields in [
        [("include[]", "srt"), ("response_format", "json")],
        [("stream", "true"), ("include[]", "tsv")],
    ] {
        let reply = served.transcribe(&fields, Some(("a.wav", &wav)));
        reply.assert_error(400, Some("include"));
    }
    let reply = served.transcribe(
        &[
            ("stream", "true"),
            ("include[]", "logprobs"),
            ("include[]", "vtt"),
        ],
        Some(("a.wav", &wav)),
    );
    let body = reply.text();
    let done: Value = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .next_back()
        .expect("events");
    assert_eq!(done["type"], "transcript.text.done");
    let file = setup.recording("human/ru_0022.wav");
    assert_eq!(done["documents"]["vtt"], setup.cli(&file, "vtt").as_str());
    assert_eq!(
        done["documents"].as_object().unwrap().len(),
        1,
        "logprobs adds nothing: {done}"
    );
}

#[needs(shared, venv)]
#[test]
fn curl_posts_a_multipart_form() {
    let setup = setup();
    let served = setup.serve(&[]);
    let file = setup.recording("human/ru_0024.wav");
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "-F"])
        .arg(format!("file=@{}", file.display()))
        .args(["-F", "model=whisper-1", "-F", "response_format=json"])
        .arg(format!("http://{}/v1/audio/transcriptions", served.addr))
        .output()
        .expect("curl is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["text"], setup.cli_text(&file).as_str());
    assert_eq!(
        json.as_object().unwrap().len(),
        1,
        "OpenAI's json is the text alone"
    );

    let health = served.request("GET", "/health", &[], b"");
    assert_eq!(health.status, 200);
    let ready = served.request("GET", "/ready", &[], b"");
    assert_eq!(ready.status, 200, "{}", ready.text());
    let metrics = served.request("GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains(
            "rech_requests_total{endpoint=\"/v1/audio/transcriptions\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(served.metric("rech_audio_seconds_total") > 8.0);
    let missing = served.request("GET", "/v1/nothing", &[], b"");
    missing.assert_error(404, None);
}

#[needs(shared, venv)]
#[test]
fn sixteen_clients_on_two_workers_each_get_their_own_text() {
    let setup = setup();
    let files = setup.recordings(16);
    let served = setup.serve(&["-w", "2", "--queue", "16"]);
    let audio: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();
    // One by one first: what each file's answer must be.
    let expected: Vec<String> = audio
        .iter()
        .map(|bytes| {
            let reply = served.transcribe(&[], Some(("a.wav", bytes)));
            assert_eq!(reply.status, 200, "{}", reply.text());
            reply.json()["text"].as_str().unwrap().to_owned()
        })
        .collect();
    let distinct: std::collections::HashSet<&String> = expected.iter().collect();
    assert!(
        distinct.len() >= 12,
        "the recordings must give distinct texts: {expected:?}"
    );
    let served = &served;
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = audio
            .iter()
            .map(|bytes| {
                scope.spawn(move || {
                    let reply =
                        served.transcribe(&[("model", "whisper-1")], Some(("a.wav", bytes)));
                    let text = if reply.status == 200 {
                        reply.json()["text"].as_str().unwrap().to_owned()
                    } else {
                        reply.text()
                    };
                    (reply.status, text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, ((status, text), want)) in answers.iter().zip(&expected).enumerate() {
        assert_eq!(*status, 200, "request {i}: {text}");
        assert_eq!(text, want, "request {i} got another request's answer");
    }
    assert_eq!(served.metric("rech_workers_busy"), 0.0);
    assert_eq!(
        served.metric("rech_requests_total{endpoint=\"/v1/audio/transcriptions\",status=\"200\"}"),
        32.0
    );
}

#[needs(shared, venv)]
#[test]
fn a_full_queue_is_answered_429_with_retry_after_and_the_server_recovers() {
    let setup = setup();
    let served = setup.serve(&["-w", "1", "--queue", "1"]);
    let file = read(&setup.recording("human/ru_0022.wav"));
    // Two clients that send their heads and half their bodies, then stall: one runs (its
    // upload is being read), one waits; both hold their places.
    let mut stalled: Vec<TcpStream> = (0..2)
        .map(|_| start_upload(served.addr, "a.wav", &file, 0.5))
        .collect();
    served.wait_for_metric("rech_queue_depth", Duration::from_secs(10), |v| v >= 2.0);
    let started = Instant::now();
    let rejected = served.transcribe(&[], Some(("a.wav", &file)));
    rejected.assert_error(429, None);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "429 comes at once"
    );
    let retry: u64 = rejected
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(served.request("GET", "/ready", &[], b"").status, 503);
    // The stalled clients finish their bodies (the same form: its boundary is fixed) and are
    // answered.
    let (_, body) = multipart(&[], Some(("a.wav", &file)));
    for s in &mut stalled {
        s.write_all(&body[body.len() / 2..]).unwrap();
    }
    for mut s in stalled {
        let reply = read_reply(&mut s);
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(served.transcribe(&[], Some(("a.wav", &file))).status, 200);
    assert_eq!(served.request("GET", "/ready", &[], b"").status, 200);
}

#[needs(shared, venv)]
#[test]
fn an_upload_over_the_limit_is_refused_without_being_held_in_memory() {
    let setup = setup();
    let served = setup.serve(&["--max-upload", "48M"]);
    // Announced too large: 413 before a byte of the body is read.
    let mut s = TcpStream::connect(served.addr).unwrap();
    s.write_all(&head(
        "POST",
        "/v1/audio/transcriptions",
        &[("Content-Type", "multipart/form-data; boundary=x")],
        Some(200 << 20),
    ))
    .unwrap();
    let reply = read_reply(&mut s);
    reply.assert_error(413, Some("file"));

    // Chunked, with no length announced: refused once 48 MiB are passed.
    let mut s = TcpStream::connect(served.addr).unwrap();
    s.write_all(&head(
        "POST",
        "/v1/audio/transcriptions",
        &[
            ("Content-Type", "multipart/form-data; boundary=x"),
            ("Transfer-Encoding", "chunked"),
        ],
        None,
    ))
    .unwrap();
    let opening =
        b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n";
    let send_chunk = |s: &mut TcpStream, data: &[u8]| {
        s.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
        s.write_all(data)?;
        s.write_all(b"\r\n")
    };
    send_chunk(&mut s, opening).unwrap();
    let block = vec![0x55u8; 1 << 20];
    for _ in 0..64 {
        if send_chunk(&mut s, &block).is_err() {
            break; // the server answered and closed
        }
    }
    let reply = read_reply(&mut s);
    reply.assert_error(413, Some("file"));

    // Under the limit, 40 MiB of garbage is stored on disk, not in memory, then refused 400.
    let before = served.rss_kib();
    let garbage = vec![0x42u8; 40 << 20];
    let reply = served.transcribe(&[], Some(("noise.bin", &garbage)));
    reply.assert_error(400, Some("file"));
    let grown_mib = served.rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 20,
        "memory grew by {grown_mib} MiB for a 40 MiB upload"
    );
    assert_eq!(
        served
            .transcribe(
                &[],
                Some(("a.wav", &read(&setup.recording("human/ru_0022.wav"))))
            )
            .status,
        200
    );
}

#[needs(shared, venv)]
#[test]
fn keys_are_checked_before_anything_is_read() {
    let setup = setup();
    let served = setup.serve(&["--api-key", "sekret"]);
    let file = read(&setup.recording("human/ru_0022.wav"));
    let (content_type, body) = multipart(&[], Some(("a.wav", &file)));
    let post = |auth: Option<&str>| {
        let mut headers = vec![("Content-Type", content_type.as_str())];
        if let Some(auth) = auth {
            headers.push(("Authorization", auth));
        }
        served.request("POST", "/v1/audio/transcriptions", &headers, &body)
    };
    assert!(post(None).assert_error(401, None).contains("API key"));
    post(Some("Bearer wrong")).assert_error(401, None);
    post(Some("Basic sekret")).assert_error(401, None);
    assert_eq!(post(Some("Bearer sekret")).status, 200);
    assert_eq!(served.request("GET", "/v1/models", &[], b"").status, 401);
    // The probes and metrics stay open for Kubernetes and Prometheus.
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(served.request("GET", path, &[], b"").status, 200, "{path}");
    }
}

#[needs(shared, venv)]
#[test]
fn bad_requests_get_400_with_the_field_named() {
    let setup = setup();
    let served = setup.serve(&[]);
    let wav = read(&setup.recording("human/ru_0022.wav"));
    /// What is wrong, the form's fields, its file, and the field the error must name.
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<(&'a str, Vec<u8>)>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "garbage",
            vec![],
            Some(("a.mp3", b"\xff\xfb garbage, not an mp3 at all".repeat(50))),
            "file",
        ),
        (
            "cut inside the header",
            vec![],
            Some(("a.wav", wav[..30].to_vec())),
            "file",
        ),
        (
            "header only",
            vec![],
            Some(("a.wav", wav[..44].to_vec())),
            "file",
        ),
        ("empty", vec![], Some(("a.wav", Vec::new())), "file"),
        ("no file", vec![("model", "whisper-1")], None, "file"),
        (
            "unknown format",
            vec![("response_format", "docx")],
            Some(("a.wav", wav.clone())),
            "response_format",
        ),
        (
            "unknown language",
            vec![("language", "klingon")],
            Some(("a.wav", wav.clone())),
            "language",
        ),
        (
            "language GigaAM lacks",
            vec![("language", "en")],
            Some(("a.wav", wav.clone())),
            "language",
        ),
        (
            "temperature",
            vec![("temperature", "7")],
            Some(("a.wav", wav.clone())),
            "temperature",
        ),
        (
            "granularity",
            vec![
                ("response_format", "verbose_json"),
                ("timestamp_granularities[]", "letter"),
            ],
            Some(("a.wav", wav.clone())),
            "timestamp_granularities",
        ),
        (
            "granularity without verbose_json",
            vec![("timestamp_granularities[]", "word")],
            Some(("a.wav", wav.clone())),
            "timestamp_granularities",
        ),
    ];
    for (what, fields, file, param) in &cases {
        let reply = served.transcribe(fields, file.as_ref().map(|(n, b)| (*n, b.as_slice())));
        let message = reply.assert_error(400, Some(param));
        assert!(!message.is_empty(), "{what}");
    }
    // A WAV cut in half: refused as rech transcribe refuses it, saying so.
    let truncated = served.transcribe(&[], Some(("a.wav", &wav[..wav.len() / 2])));
    let message = truncated.assert_error(400, Some("file"));
    assert!(message.contains("truncated"), "{message}");
    // Not multipart at all, and a multipart body cut short.
    let json = served.request(
        "POST",
        "/v1/audio/transcriptions",
        &[("Content-Type", "application/json")],
        br#"{"file": "talk.wav"}"#,
    );
    json.assert_error(400, None);
    // A form whose body ends before its closing boundary.
    let (content_type, body) = multipart(&[], Some(("a.wav", &wav)));
    let reply = served.request(
        "POST",
        "/v1/audio/transcriptions",
        &[("Content-Type", &content_type)],
        &body[..body.len() - 30],
    );
    reply.assert_error(400, None);
    assert_eq!(served.transcribe(&[], Some(("a.wav", &wav))).status, 200);
    assert_eq!(served.metric("rech_panics_total"), 0.0);

    // Any model name a client hard-codes is served by this model, which verbose_json names;
    // --strict-model refuses the names that are neither its own nor OpenAI's.
    let reply = served.transcribe(
        &[
            ("model", "whisper-large-v3"),
            ("response_format", "verbose_json"),
        ],
        Some(("a.wav", &wav)),
    );
    assert_eq!(reply.status, 200);
    let verbose: Value = serde_json::from_str(&reply.text()).unwrap();
    let listed: Value =
        serde_json::from_str(&served.request("GET", "/v1/models", &[], b"").text()).unwrap();
    assert_eq!(verbose["model"], listed["data"][0]["id"]);
    assert!(verbose["model"].as_str().is_some_and(|m| !m.is_empty()));
    let strict = setup.serve(&["--strict-model"]);
    let refused = strict.transcribe(&[("model", "gpt-5-ultra")], Some(("a.wav", &wav)));
    let message = refused.assert_error(400, Some("model"));
    assert!(message.contains("is not served here"), "{message}");
    assert_eq!(
        strict
            .transcribe(&[("model", "whisper-1")], Some(("a.wav", &wav)))
            .status,
        200
    );
}

#[needs(shared, venv)]
#[test]
fn a_client_that_disconnects_frees_its_worker() {
    let setup = setup();
    let served = setup.serve(&["-w", "1", "--queue", "0"]);
    let long = read(&setup.long_wav(600));
    let s = start_upload(served.addr, "long.wav", &long, 1.0);
    let busy = served.wait_for_metric("rech_workers_busy", Duration::from_secs(20), |v| v >= 1.0);
    assert_eq!(
        busy,
        1.0,
        "the long request never started:\n{}",
        served.stderr()
    );
    let busy_since = Instant::now();
    drop(s);
    let busy = served.wait_for_metric("rech_workers_busy", Duration::from_secs(20), |v| v == 0.0);
    assert_eq!(busy, 0.0, "the worker is still busy");
    let freed_after = busy_since.elapsed();
    let short = read(&setup.recording("human/ru_0022.wav"));
    let started = Instant::now();
    assert_eq!(served.transcribe(&[], Some(("a.wav", &short))).status, 200);
    eprintln!(
        "worker freed {:.2} s after the disconnect; the next request took {:.2} s",
        freed_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // Ten minutes of audio take far longer than that to transcribe here.
    assert!(served.metric("rech_audio_seconds_total") < 600.0);
}

#[needs(shared, venv)]
#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let setup = setup();
    let mut served = setup.serve(&["-w", "2", "--grace", "60"]);
    let file = setup.long_wav(120);
    let expected = setup.cli_text(&file);
    let audio = read(&file);
    let addr = served.addr;
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let audio = audio.clone();
            std::thread::spawn(move || transcribe(addr, &[], Some(("long.wav", &audio))))
        })
        .collect();
    served.wait_for_metric("rech_workers_busy", Duration::from_secs(20), |v| v >= 2.0);
    let code = served.terminate(Duration::from_secs(90));
    for client in clients {
        let reply = client.join().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["text"], expected.as_str());
    }
    assert_eq!(code, Some(0), "{}", served.stderr());
    assert!(TcpStream::connect(addr).is_err(), "the port is closed");
}

/// Sends `file` (16 kHz mono WAV) over `/v1/listen` in 100 ms messages — at real-time pace when
/// `realtime` — then `stop`; returns every event received.
fn stream(addr: std::net::SocketAddr, file: &Path, query: &str, realtime: bool) -> Vec<Value> {
    let url = format!("ws://{addr}/v1/listen{query}");
    let (mut socket, _) = tungstenite::connect(&url).expect("open the WebSocket");
    let mut reader = hound::WavReader::open(file).unwrap();
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let started = Instant::now();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
    }
    let mut events = Vec::new();
    let collect = |socket: &mut tungstenite::WebSocket<_>, events: &mut Vec<Value>| loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                events.push(serde_json::from_str(&text).unwrap())
            }
            Ok(tungstenite::Message::Close(_)) => return false,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return true
            }
            Err(_) => return false,
        }
    };
    for (i, chunk) in samples.chunks(1600).enumerate() {
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
        socket
            .send(tungstenite::Message::Binary(bytes.into()))
            .unwrap();
        if realtime {
            let due = Duration::from_millis(100 * (i as u64 + 1));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        collect(&mut socket, &mut events);
    }
    socket
        .send(tungstenite::Message::Text(r#"{"type":"stop"}"#.into()))
        .unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    while collect(&mut socket, &mut events) {}
    events
}

fn finals(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "final")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

#[needs(shared, venv)]
#[test]
fn a_websocket_stream_gets_the_finals_rech_dictate_prints() {
    let setup = setup();
    let served = setup.serve(&["-w", "2"]);
    // Three recordings with pauses between them: three utterances.
    let file = setup.long_wav(24);
    let mut cmd = rech();
    cmd.env("RECH_ORT_LIB", &setup.lib)
        .arg("dictate")
        .arg("-m")
        .arg(setup.model())
        .arg("--vad-model")
        .arg(setup.vad())
        .args(["-t", "1", "--format", "jsonl", "--input"])
        .arg(&file);
    let out = run(&mut cmd);
    assert_success(&out);
    let dictated: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = finals(&dictated);
    assert!(!want.is_empty());

    // At real-time pace, as a microphone would send it: the finals of `rech dictate`.
    let events = stream(served.addr, &file, "", true);
    assert_eq!(finals(&events), want, "{events:?}");
    let end = events.last().unwrap();
    assert_eq!(end["type"], "end", "{events:?}");
    assert!((end["duration"].as_f64().unwrap() - 24.0).abs() < 0.01);
    let times = |events: &[Value]| -> Vec<(Value, Value)> {
        events
            .iter()
            .filter(|e| e["type"] == "final")
            .map(|e| (e["start"].clone(), e["end"].clone()))
            .collect()
    };
    assert_eq!(times(&events), times(&dictated));
    assert!(
        events.iter().all(|e| e["type"] != "partial"),
        "no partials unless asked"
    );

    // With partials: the words while they are spoken, and the same utterances. (Final texts
    // keep the committed words of the partials, which depend on when the partials ran.)
    let with_partials = stream(served.addr, &file, "?partial=true", false);
    assert!(
        with_partials.iter().any(|e| e["type"] == "partial"),
        "{with_partials:?}"
    );
    assert_eq!(times(&with_partials), times(&dictated));

    // As fast as the socket takes it: the same finals, and the server's memory stays bounded.
    let before = served.rss_kib();
    let fast = stream(served.addr, &setup.long_wav(240), "", false);
    assert!(finals(&fast).len() >= 10, "{fast:?}");
    let grown_mib = served.rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 60,
        "a fast client grew the server by {grown_mib} MiB"
    );
    assert_eq!(served.metric_settled("rech_streams_active", 0.0), 0.0);

    // Another rate, said in the first message.
    let url = format!("ws://{}/v1/listen", served.addr);
    let (mut socket, _) = tungstenite::connect(&url).unwrap();
    socket
        .send(tungstenite::Message::Text(
            r#"{"type":"config","sample_rate":8000}"#.into(),
        ))
        .unwrap();
    let silence = vec![0u8; 16_000];
    socket
        .send(tungstenite::Message::Binary(silence.into()))
        .unwrap();
    socket
        .send(tungstenite::Message::Text(r#"{"type":"stop"}"#.into()))
        .unwrap();
    let mut last = Value::Null;
    while let Ok(message) = socket.read() {
        if let tungstenite::Message::Text(text) = message {
            last = serde_json::from_str(&text).unwrap();
        }
    }
    assert_eq!(last["type"], "end");
    assert!(
        (last["duration"].as_f64().unwrap() - 1.0).abs() < 0.01,
        "{last}"
    );

    // A bad message is an error event and a close, not a hang.
    let (mut socket, _) = tungstenite::connect(&url).unwrap();
    socket
        .send(tungstenite::Message::Text("hello".into()))
        .unwrap();
    match socket.read().unwrap() {
        tungstenite::Message::Text(text) => {
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["type"], "error");
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    let bad_rate = tungstenite::connect(format!("{url}?sample_rate=5"));
    assert!(
        bad_rate.is_err(),
        "an unusable rate is refused before the upgrade"
    );
}

#[needs(shared, venv)]
#[test]
fn the_kubernetes_manifests_run_as_written() {
    let setup = setup();
    let venv = test_venv();
    let deploy = rech_testkit::workspace_dir().join("deploy");
    let out = Command::new(venv.join("bin/python"))
        .arg(rech_testkit::workspace_dir().join("scripts/check-deploy.py"))
        .arg(&deploy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    // The init container downloads what exists.
    let init = strings(&checked["init_args"]);
    assert_eq!(init[..2], ["models", "download"]);
    for name in &init[2..] {
        assert!(
            name == "onnxruntime" || rech_asr::catalog::find(name).is_some(),
            "{name} is not in the catalogue"
        );
    }
    // The container's own arguments start a server (on a free loopback port here) whose
    // probes answer.
    let args = strings(&checked["serve_args"]);
    assert_eq!(args[0], "serve");
    let mut kept: Vec<&str> = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--port" || arg == "--host" {
            rest.next();
        } else {
            kept.push(arg);
        }
    }
    let served = setup.serve(&kept);
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = checked["probes"][probe].as_str().unwrap();
        assert_eq!(
            served.request("GET", path, &[], b"").status,
            200,
            "{probe} {path}"
        );
    }
    let dockerfile = std::fs::read_to_string(deploy.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("USER 10001"),
        "the image runs as a non-root user"
    );
    assert!(
        dockerfile.matches("FROM ").count() >= 2,
        "a multi-stage build"
    );
}
