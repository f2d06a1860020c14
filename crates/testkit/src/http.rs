//! A real HTTP/1.1 file server on 127.0.0.1 for download tests, with faults on demand: a
//! connection cut mid-file, a server that stalls, one that ignores `Range`, error statuses.
//!
//! Written on `std::net` rather than taken from a server crate because the tests need exact
//! control over the socket: a server library keeps connections alive and pads or finishes
//! responses, so it cannot cut a transfer at byte N or go silent in the middle of a body.
//! Part of rech-testkit, the one home of what rech's tests share.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the server does to one request. Faults are used up one per request, in order; with
/// none left, files are served normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send the headers and this many body bytes, then close the connection.
    CutAfter(u64),
    /// Send the headers and this many body bytes, then go silent (until the server stops).
    StallAfter(u64),
    /// Accept the connection and never answer.
    StallBeforeResponse,
    /// Answer 200 with the whole file even when a `Range` was asked for.
    IgnoreRange,
    /// Answer with this status and no file.
    Status(u16),
    /// Answer `302 Found` pointing at this path (as Hugging Face sends downloads to its CDN).
    RedirectTo(&'static str),
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Request path.
    pub path: String,
    /// `N` of `Range: bytes=N-`, when asked for.
    pub range_start: Option<u64>,
    /// Status answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    files: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    faults: Mutex<VecDeque<Fault>>,
    log: Mutex<Vec<Logged>>,
    throttle: Mutex<Option<(usize, Duration)>>,
    stop: AtomicBool,
}

/// The server; it stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Inner::default());
        let shared = Arc::clone(&inner);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                thread::spawn(move || handle(stream, &shared));
            }
        });
        Self {
            addr,
            inner,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, for `RECH_MODEL_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Serves `bytes` at `path`.
    pub fn serve(&self, path: &str, bytes: Vec<u8>) {
        self.inner
            .files
            .lock()
            .unwrap()
            .insert(path.to_owned(), Arc::new(bytes));
    }

    /// Queues a fault for the next request without one.
    pub fn push_fault(&self, fault: Fault) {
        self.inner.faults.lock().unwrap().push_back(fault);
    }

    /// Sends bodies `chunk` bytes at a time with `delay` between chunks.
    pub fn throttle(&self, chunk: usize, delay: Duration) {
        *self.inner.throttle.lock().unwrap() = Some((chunk, delay));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.inner.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn handle(mut stream: TcpStream, inner: &Inner) {
    let Some((path, range_start)) = read_request(&stream) else {
        return;
    };
    let fault = inner.faults.lock().unwrap().pop_front();
    let file = inner.files.lock().unwrap().get(&path).cloned();
    let log = |status| {
        inner.log.lock().unwrap().push(Logged {
            path: path.clone(),
            range_start,
            status,
        })
    };
    if fault == Some(Fault::StallBeforeResponse) {
        log(0);
        stall(inner);
        return;
    }
    let file = match (fault, file) {
        (Some(Fault::RedirectTo(target)), _) => {
            log(302);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        (Some(Fault::Status(status)), _) => {
            log(status);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        (_, None) => {
            log(404);
            let body = "no such file";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        (_, Some(file)) => file,
    };
    let len = file.len() as u64;
    let (status, start) = match range_start {
        Some(start) if fault != Some(Fault::IgnoreRange) => {
            if start >= len {
                log(416);
                let _ = write!(
                    stream,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                return;
            }
            (206, start)
        }
        _ => (200, 0),
    };
    log(status);
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        if status == 206 { "Partial Content" } else { "OK" },
        len - start
    );
    if status == 206 {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{}/{len}\r\n",
            len - 1
        ));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let body = &file[start as usize..];
    let limit = match fault {
        Some(Fault::CutAfter(n) | Fault::StallAfter(n)) => (n as usize).min(body.len()),
        _ => body.len(),
    };
    let throttle = *inner.throttle.lock().unwrap();
    let (chunk, delay) = throttle.unwrap_or((1 << 16, Duration::ZERO));
    for piece in body[..limit].chunks(chunk.max(1)) {
        if inner.stop.load(Ordering::SeqCst) || stream.write_all(piece).is_err() {
            return;
        }
        let _ = stream.flush();
        if !delay.is_zero() {
            thread::sleep(delay);
        }
    }
    let _ = stream.flush();
    if let Some(Fault::StallAfter(_)) = fault {
        stall(inner);
        return;
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Holds the connection open and silent until the server stops (at most a minute).
fn stall(inner: &Inner) {
    let until = Instant::now() + Duration::from_secs(60);
    while !inner.stop.load(Ordering::SeqCst) && Instant::now() < until {
        thread::sleep(Duration::from_millis(20));
    }
}

/// The path and `Range` start of a GET request; `None` for anything unreadable.
fn read_request(stream: &TcpStream) -> Option<(String, Option<u64>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (_method, path) = (parts.next()?, parts.next()?.to_owned());
    let mut range_start = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range_start = value
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split('-').next())
                    .and_then(|n| n.parse().ok());
            }
        }
    }
    Some((path, range_start))
}
