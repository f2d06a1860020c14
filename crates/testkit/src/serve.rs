//! Driving a real `rech serve` from tests: start it on a free loopback port and read the
//! address it prints, and talk HTTP/1.1 to it over plain sockets — multipart forms built by
//! hand, bodies sent slowly or cut off, connections dropped mid-request — because those faults
//! are what the tests are about, and an HTTP client library hides them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server tests serve: the shared GigaAM-v3 micro model (random weights, real
/// architecture) with the shared Silero VAD, ONNX Runtime from the test environment, and the
/// shared Russian recordings.
pub struct ServeSetup {
    /// The shared test data.
    pub shared: PathBuf,
    /// ONNX Runtime's library.
    pub lib: PathBuf,
}

impl Default for ServeSetup {
    fn default() -> Self {
        Self::new()
    }
}

impl ServeSetup {
    /// The setup; a test that makes one carries `#[needs(shared, venv)]`.
    pub fn new() -> Self {
        Self {
            shared: crate::shared_dir(),
            lib: crate::ort_lib(),
        }
    }

    /// The GigaAM-v3 micro model.
    pub fn model(&self) -> PathBuf {
        self.shared
            .join("models/gigaam-v3-micro/v3_e2e_rnnt_encoder.onnx")
    }

    /// The Silero VAD model.
    pub fn vad(&self) -> PathBuf {
        self.shared.join("models/ggml-silero-v6.2.0.bin")
    }

    /// A shared recording, by its path under `audio/ru`.
    pub fn recording(&self, name: &str) -> PathBuf {
        self.shared.join("audio/ru").join(name)
    }

    /// `n` distinct recordings: the human ones, then the synthetic ones.
    pub fn recordings(&self, n: usize) -> Vec<PathBuf> {
        let manifest = std::fs::read_to_string(self.shared.join("audio/ru/manifest.tsv"))
            .expect("read the shared audio's manifest");
        let files: Vec<PathBuf> = manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
            .map(|p| self.recording(p))
            .take(n)
            .collect();
        assert_eq!(
            files.len(),
            n,
            "the shared audio has fewer than {n} recordings"
        );
        files
    }

    /// `rech serve` with the micro model, one thread per worker, and `args`.
    pub fn serve(&self, args: &[&str]) -> Served {
        let mut cmd = crate::rech();
        cmd.env("RECH_ORT_LIB", &self.lib)
            .arg("serve")
            .arg("-m")
            .arg(self.model())
            .arg("--vad-model")
            .arg(self.vad())
            .args(["-t", "1"])
            .args(args);
        Served::start(cmd)
    }

    /// What `rech transcribe` makes of `file` in `format`, with the same model.
    pub fn cli(&self, file: &Path, format: &str) -> String {
        self.cli_with(file, format, &[])
    }

    /// What `rech transcribe` makes of `file` in `format` with the same model and `args`.
    pub fn cli_with(&self, file: &Path, format: &str, args: &[&str]) -> String {
        self.cli_model(&self.model(), file, format, args)
    }

    /// The text `rech transcribe` makes of `file` with `model` and `args` (and the same VAD and
    /// threads).
    pub fn cli_text_with(&self, model: &Path, file: &Path, args: &[&str]) -> String {
        let json: serde_json::Value =
            serde_json::from_str(&self.cli_model(model, file, "json", args)).expect("rech's JSON");
        json["text"].as_str().expect("a text").to_owned()
    }

    /// What `rech transcribe` makes of `file` in `format` with `model` and `args`.
    fn cli_model(&self, model: &Path, file: &Path, format: &str, args: &[&str]) -> String {
        let mut cmd = crate::rech();
        cmd.env("RECH_ORT_LIB", &self.lib)
            .arg("transcribe")
            .arg("-m")
            .arg(model)
            .arg("--vad-model")
            .arg(self.vad())
            .args(["-t", "1", "-f", format])
            .args(args)
            .arg(file);
        let out = crate::run(&mut cmd);
        crate::assert_success(&out);
        crate::stdout(&out)
    }

    /// The text `rech transcribe` makes of `file`.
    pub fn cli_text(&self, file: &Path) -> String {
        let json: serde_json::Value =
            serde_json::from_str(&self.cli(file, "json")).expect("rech's JSON");
        json["text"].as_str().expect("a text").to_owned()
    }

    /// A 16 kHz mono WAV of `seconds` of the shared recordings, one after another (made once
    /// per test run).
    pub fn long_wav(&self, seconds: usize) -> PathBuf {
        let path = crate::tmp_dir().join(format!("serve-long-{seconds}.wav"));
        if path.is_file() {
            return path;
        }
        let mut samples: Vec<i16> = Vec::new();
        let sources = self.recordings(12);
        'fill: loop {
            for source in &sources {
                let mut reader = hound::WavReader::open(source).expect("a shared recording");
                if reader.spec().sample_rate != 16_000 {
                    continue;
                }
                samples.extend(reader.samples::<i16>().map(|s| s.expect("a sample")));
                if samples.len() >= seconds * 16_000 {
                    break 'fill;
                }
            }
        }
        samples.truncate(seconds * 16_000);
        write_wav(&path, 1, samples);
        path
    }

    /// A 16 kHz stereo "call" of two voices from the shared recordings, one per channel, with
    /// silences between turns and one overlap: returns the file and, per channel, the spans
    /// (seconds) where its voice speaks. Made once per test run.
    pub fn call_wav(&self) -> (PathBuf, [Vec<(f64, f64)>; 2]) {
        // (channel, recording, start in seconds)
        let turns = [
            (0, "human/voxforge_sovse_ru_test.wav", 0.5),
            (1, "human/pisets_test_sound_ru.wav", 9.5),
            (0, "synthetic/speech_to_phrase/gen_01.wav", 14.0),
            // Overlaps the turn before it by about a second and a half.
            (1, "synthetic/speech_to_phrase/gen_05.wav", 15.2),
        ];
        let mut channels: [Vec<i16>; 2] = [Vec::new(), Vec::new()];
        let mut spans: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for (channel, name, start) in turns {
            let mut reader =
                hound::WavReader::open(self.recording(name)).expect("a shared recording");
            assert_eq!(reader.spec().sample_rate, 16_000, "{name}");
            let voice: Vec<i16> = reader
                .samples::<i16>()
                .map(|s| s.expect("a sample"))
                .collect();
            let at = (start * 16_000.0) as usize;
            let samples = &mut channels[channel];
            samples.resize(samples.len().max(at), 0);
            samples.extend(&voice);
            spans[channel].push((start, start + voice.len() as f64 / 16_000.0));
        }
        let frames = channels.iter().map(Vec::len).max().unwrap_or(0) + 16_000;
        let path = crate::tmp_dir().join("call-2ch.wav");
        if !path.is_file() {
            let interleaved = (0..frames)
                .flat_map(|i| channels.iter().map(move |c| c.get(i).copied().unwrap_or(0)));
            write_wav(&path, 2, interleaved);
        }
        (path, spans)
    }
}

/// Writes 16 kHz 16-bit `samples` (interleaved, `channels` of them) to `path` under the test
/// directory, through a file of this process's own, so that test binaries running at once can
/// share the result.
pub fn write_wav(path: &Path, channels: u16, samples: impl IntoIterator<Item = i16>) {
    std::fs::create_dir_all(crate::tmp_dir()).expect("create the test directory");
    let part = path.with_extension(format!("{}.part", std::process::id()));
    let spec = hound::WavSpec {
        channels,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&part, spec).expect("write a test WAV");
    for s in samples {
        writer.write_sample(s).expect("write a test WAV");
    }
    writer.finalize().expect("write a test WAV");
    std::fs::rename(&part, path).expect("move a test WAV into place");
}

/// A running `rech serve`; killed when dropped.
pub struct Served {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `cmd` (a `rech serve …` command, given `--port 0` here) and waits up to a minute
    /// for the line that names its address.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rech serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                // Logged first: whoever is told the address may read the line that gave it.
                {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
                if !sent {
                    if let Some(addr) = line
                        .split("://")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                    {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "rech serve did not say where it listens:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Self {
            child: Some(child),
            addr,
            stderr,
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its resident memory in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Sends SIGTERM (as Kubernetes does) and waits up to `limit` for the exit code.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// One request on a new connection; the whole answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        request(self.addr, method, path, headers, body)
    }

    /// `POST /v1/audio/transcriptions` with these text fields and `file`.
    pub fn transcribe(&self, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Reply {
        transcribe(self.addr, fields, file)
    }

    /// Polls `GET /metrics` until `name`'s value satisfies `ok` or `limit` passes; the last
    /// value read.
    pub fn wait_for_metric(&self, name: &str, limit: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let started = Instant::now();
        loop {
            let value = self.metric(name);
            if ok(value) || started.elapsed() > limit {
                return value;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// A metric's value from `GET /metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let reply = self.request("GET", "/metrics", &[], b"");
        reply
            .text()
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{}", reply.text()))
    }

    /// A gauge once it has settled at `want` (the server counts a closed stream when its task
    /// sees the close, a moment after the client's last read), or its value after 5 s.
    pub fn metric_settled(&self, name: &str, want: f64) -> f64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let value = self.metric(name);
            if value == want || std::time::Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (chunked encoding removed).
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an OpenAI error body with this status and, when given, `param`; returns its
    /// message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, param: Option<&str>) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let value = self.json();
        let error = &value["error"];
        for key in ["message", "type", "param", "code"] {
            assert!(error.get(key).is_some(), "no {key} in {value}");
        }
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{value}");
        }
        error["message"].as_str().unwrap_or_default().to_owned()
    }
}

/// A `multipart/form-data` body: its content type and bytes.
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "rech-test-boundary-7d9f1c";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The request line and headers of a request with a body of `length` bytes.
pub fn head(method: &str, path: &str, headers: &[(&str, &str)], length: Option<u64>) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(length) = length {
        out.push_str(&format!("Content-Length: {length}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// `POST /v1/audio/transcriptions` to `addr` with these text fields and `file` (from any
/// thread: a client of its own).
pub fn transcribe(addr: SocketAddr, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Reply {
    let (content_type, body) = multipart(fields, file);
    request(
        addr,
        "POST",
        "/v1/audio/transcriptions",
        &[("Content-Type", &content_type)],
        &body,
    )
}

/// Starts uploading `audio` as the form's `file` (named `name`) to `addr`: the head and the
/// first `part` (0 to 1) of the body, and nothing read back; the open connection, which the
/// caller stalls, drops or finishes.
pub fn start_upload(addr: SocketAddr, name: &str, audio: &[u8], part: f64) -> TcpStream {
    let (content_type, body) = multipart(&[], Some((name, audio)));
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .write_all(&head(
            "POST",
            "/v1/audio/transcriptions",
            &[("Content-Type", &content_type)],
            Some(body.len() as u64),
        ))
        .expect("send the head");
    let sent = (body.len() as f64 * part.clamp(0.0, 1.0)) as usize;
    stream.write_all(&body[..sent]).expect("send the body");
    stream
}

/// One request on a new connection (`Connection: close`), within two minutes.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("set a timeout");
    let length = (method != "GET" || !body.is_empty()).then_some(body.len() as u64);
    stream
        .write_all(&head(method, path, headers, length))
        .expect("send the request head");
    // The server may answer (413, 401) and close before the body is all sent.
    let _ = stream.write_all(body);
    read_reply(&mut stream)
}

/// Reads a whole HTTP/1.1 answer from `stream`.
pub fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = unchunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// A server's `verbose_json` without the `"model"` line it adds (which model answered), to
/// compare with `rech transcribe -f verbose_json`'s bytes; panics if the line is missing.
pub fn without_served_model(verbose: &str) -> String {
    let (kept, dropped): (Vec<&str>, Vec<&str>) = verbose
        .split_inclusive('\n')
        .partition(|line| !line.starts_with("  \"model\": "));
    assert_eq!(dropped.len(), 1, "no \"model\" line in {verbose}");
    kept.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let reply = parse_reply(raw);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"abcde");
    }
}
