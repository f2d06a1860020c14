//! `rech serve` as a library: an OpenAI-compatible transcription server
//! (`POST /v1/audio/transcriptions`, `GET /v1/models`) with live dictation over WebSocket
//! (`/v1/listen`), a web page for people at `/`, health and readiness probes and Prometheus
//! metrics, over HTTP or HTTPS ([`Tls`]), serving one loaded [`Engine`] with a fixed number of
//! workers and a bounded queue.
//!
//! ```no_run
//! # fn demo(engine: std::sync::Arc<dyn rech_asr::Engine>) -> Result<(), rech_server::ServeError> {
//! let server = rech_server::Server::bind(rech_server::ServeOptions::default(), engine)?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(rech_asr::CancelToken::new())?; // until the token is raised
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod browser;
mod connections;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod linger;
mod listen;
mod metrics;
mod page;
mod pool;
mod tls;
mod upload;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rech_asr::{
    CancelToken, DictationOptions, Engine, TranscribeOptions, VadOptions, WindowOptions,
};

pub use error::{describe_size, parse_size, ServeError};
pub use tls::Tls;

use metrics::Metrics;
use pool::Pool;

/// How the server runs. Plain data; `Default` is loopback port 8080, one worker.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (`127.0.0.1`, `0.0.0.0`, `::`).
    pub host: String,
    /// Port; 0 picks a free one (see [`Server::local_addr`]).
    pub port: u16,
    /// Recognizers, each transcribing one request (or serving one stream) at a time.
    pub workers: usize,
    /// CPU threads per worker.
    pub threads: usize,
    /// Requests that may wait for a worker beyond those running; one more gets 429.
    pub queue: usize,
    /// Largest upload accepted, in bytes; a larger one gets 413 before it is read whole.
    pub max_upload: u64,
    /// The key clients must send (`Authorization: Bearer KEY`); `None` lets anyone in.
    pub api_key: Option<String>,
    /// The model's name in `GET /v1/models` and `verbose_json`. Any `model` a client sends
    /// means this model (clients hard-code names such as `whisper-1`), unless `strict_model`.
    pub model_id: String,
    /// Refuse a `model` other than `model_id` and OpenAI's own names (400 `model_not_found`).
    pub strict_model: bool,
    /// How long in-flight requests and streams get to finish after shutdown is asked for.
    pub grace: Duration,
    /// Where uploads are stored while they are transcribed (the system's temporary directory
    /// when `None`).
    pub upload_dir: Option<PathBuf>,
    /// The Silero VAD model the workers skip silence with, and streams find speech with.
    pub vad_model: Option<PathBuf>,
    /// The VAD's tuning (threshold, shortest speech and silence, padding), as
    /// `rech transcribe` takes it.
    pub vad: VadOptions,
    /// Transcription defaults: the language of requests that name none, the hallucination
    /// filter.
    pub transcribe: TranscribeOptions,
    /// How long recordings are cut into windows.
    pub windows: WindowOptions,
    /// Dictation defaults for WebSocket streams (pauses, partial interval).
    pub dictation: DictationOptions,
    /// Who spoke when, unless a request's `diarize` and `known_speaker_names[]` say otherwise.
    pub speakers: rech::file::Speakers,
    /// How long a client has to send a request's headers before its connection is closed.
    pub header_timeout: Duration,
    /// How long an upload may make no progress before it is answered 408 and its place freed.
    pub read_timeout: Duration,
    /// How long a WebSocket stream may send no audio before it is closed.
    pub idle_timeout: Duration,
    /// How long an admitted request may wait for a worker before it is answered 503.
    pub queue_timeout: Duration,
    /// Connections served at once; more wait in the system's queue until one closes.
    pub max_connections: usize,
    /// Names clients may use in `Host` besides IP addresses and `localhost` (`rech.example.com`,
    /// `.example.com` for every subdomain, `*` for any name). A request naming another host is
    /// refused (421), so that a DNS-rebinding page cannot reach the server.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://app.example.com`, or `*`) whose pages may call the API from a browser
    /// besides the server's own; a request with another `Origin` is refused (403).
    pub allowed_origins: Vec<String>,
    /// HTTPS and WSS with this certificate ([`Tls::load`]); plain HTTP when `None`.
    pub tls: Option<Tls>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            workers: 1,
            threads: rech_asr::default_threads(),
            queue: 16,
            max_upload: 1 << 30,
            api_key: None,
            model_id: "rech".to_owned(),
            strict_model: false,
            grace: Duration::from_secs(25),
            upload_dir: None,
            vad_model: None,
            vad: VadOptions::default(),
            transcribe: TranscribeOptions::default(),
            windows: WindowOptions::default(),
            dictation: DictationOptions::default(),
            speakers: rech::file::Speakers::default(),
            header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(60),
            max_connections: 512,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            tls: None,
        }
    }
}

/// What every request handler reads.
pub(crate) struct App {
    pub options: ServeOptions,
    pub pool: Arc<Pool>,
    pub metrics: Metrics,
    pub upload_dir: PathBuf,
    /// Raised when shutdown starts: `/ready` says no, streams are ended.
    pub stopping: AtomicBool,
    pub stop_signal: tokio::sync::watch::Sender<bool>,
    /// Raised when the grace period is over: what is still in flight is answered 503 (requests)
    /// or closed (streams), its work cancelled.
    pub grace_over: tokio::sync::watch::Sender<bool>,
    pub streams: AtomicUsize,
    /// Woken whenever a stream ends.
    pub stream_ended: tokio::sync::Notify,
}

impl App {
    /// Seconds a rejected client should wait: about one transcription.
    pub fn retry_after(&self) -> u64 {
        self.metrics
            .mean_processing_seconds()
            .map_or(1, |s| s.ceil().clamp(1.0, 60.0) as u64)
    }

    pub fn gauges(&self) -> metrics::Gauges {
        metrics::Gauges {
            workers: self.pool.workers(),
            workers_busy: self.pool.busy(),
            queue_depth: self.pool.waiting(),
            queue_capacity: self.pool.queue_capacity(),
            streams: self.streams.load(Ordering::SeqCst),
        }
    }
}

/// A server whose workers are ready and whose port is bound; [`Server::run`] serves.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    app: Arc<App>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Builds every worker's recognizer (so that a model that cannot make one fails here) and
    /// binds the address.
    pub fn bind(options: ServeOptions, engine: Arc<dyn Engine>) -> Result<Self, ServeError> {
        if options.workers == 0 || options.threads == 0 {
            return Err(ServeError::InvalidOption(
                "the server needs at least one worker of one thread".into(),
            ));
        }
        let upload_dir = options
            .upload_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        // Uploads must be storable before the first one arrives.
        tempfile::Builder::new()
            .prefix("rech-upload-")
            .tempfile_in(&upload_dir)
            .map_err(|e| ServeError::UploadDir {
                path: upload_dir.display().to_string(),
                reason: rech_asr::describe_io(&e),
            })?;
        let pool = Pool::new(
            engine,
            options.workers,
            options.threads,
            options.queue,
            options.vad_model.clone(),
            options.vad.clone(),
        )?;
        let addr = format!("{}:{}", bracket_ipv6(&options.host), options.port);
        let listener = TcpListener::bind(&addr).map_err(|e| ServeError::Bind {
            addr: addr.clone(),
            reason: rech_asr::describe_io(&e),
        })?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let (stop_signal, _) = tokio::sync::watch::channel(false);
        let (grace_over, _) = tokio::sync::watch::channel(false);
        if options.max_connections == 0 {
            return Err(ServeError::InvalidOption(
                "the server needs room for at least one connection".into(),
            ));
        }
        let app = App {
            options,
            pool: Arc::new(pool),
            metrics: Metrics::default(),
            upload_dir,
            stopping: AtomicBool::new(false),
            stop_signal,
            grace_over,
            streams: AtomicUsize::new(0),
            stream_ended: tokio::sync::Notify::new(),
        };
        Ok(Self {
            listener,
            addr: local,
            app: Arc::new(app),
        })
    }

    /// The address the server listens on (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` is raised (rech's Ctrl-C and SIGTERM handler raises it); then stops
    /// accepting connections, lets in-flight requests and streams finish within the grace
    /// period, answers what is left 503 (streams are closed), cancels its work, and returns.
    pub fn run(self, stop: CancelToken) -> Result<(), ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // Connections and uploads only: the recognizers work on blocking threads.
            .worker_threads(2)
            .thread_name("rech-serve")
            // Blocking threads run recognizers: whisper.cpp's prompt tokenizer recurses.
            .thread_stack_size(rech_asr::RECOGNIZER_STACK_BYTES)
            .enable_all()
            .build()?;
        let app = self.app;
        let grace = app.options.grace;
        let result = runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let router = api::router(Arc::clone(&app));
            {
                let app = Arc::clone(&app);
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    app.stopping.store(true, Ordering::SeqCst);
                    let _ = app.stop_signal.send(true);
                    log::info!("shutting down: finishing what is in flight");
                });
            }
            let deadline = async {
                while !stop.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(grace).await;
            };
            let finished = async {
                connections::serve(listener, router, &app).await;
                // Upgraded WebSocket connections are not the HTTP server's any more.
                while app.streams.load(Ordering::SeqCst) > 0 {
                    let ended = app.stream_ended.notified();
                    if app.streams.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    ended.await;
                }
            };
            tokio::pin!(finished);
            tokio::select! {
                () = &mut finished => {}
                () = deadline => {
                    log::warn!(
                        "grace period of {} s over: answering {} requests 503 and closing {} streams",
                        grace.as_secs(),
                        app.pool.busy() + app.pool.waiting(),
                        app.streams.load(Ordering::SeqCst)
                    );
                    let _ = app.grace_over.send(true);
                    // Long enough to write the answers; not for the work, which is cancelled.
                    let _ = tokio::time::timeout(Duration::from_secs(2), &mut finished).await;
                }
            }
            Ok::<(), std::io::Error>(())
        });
        // Dropping the handlers cancels their jobs; give the workers a moment to see it.
        runtime.shutdown_timeout(Duration::from_secs(2));
        // A job that has not stopped yet still holds its upload: remove it now.
        let left = upload::remove_leftovers();
        if left > 0 {
            log::info!("removed {left} uploads of work that had not stopped");
        }
        result.map_err(ServeError::Io)
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Waits until the flag behind `rx` is raised (or its sender is gone). `wait_for` keeps a
/// guard that is not `Send`; this drops it before returning.
pub(crate) async fn raised(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|raised| *raised).await.map(|_| ());
}
