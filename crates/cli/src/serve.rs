//! `rech serve`: loads one model and serves it over HTTP or HTTPS — OpenAI's transcription API,
//! live dictation over WebSocket, the web page, probes and metrics (the server itself is
//! `rech-server`); this
//! file only turns the command line into its options and reports where it listens.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::decoding::DecodingArgs;
use crate::engine::{self, language_arg};
use crate::speakers::SpeakerArgs;
use crate::vad::VadArgs;
use crate::{Context, UsageError};
use anyhow::Result;
use clap::Args;
use rech_asr::{DictationOptions, TranscribeOptions};
use rech_server::{describe_size, parse_size, ServeOptions, Server};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model: a catalogue name, the name of a downloaded model, a whisper.cpp ggml file, or a
    /// GigaAM-v3 .onnx file or directory [default: gigaam-v3-e2e-rnnt-int8 for Russian,
    /// medium-q8_0 with another -l].
    #[arg(short, long, env = "RECH_MODEL", value_name = "NAME|PATH")]
    model: Option<PathBuf>,

    /// Address to listen on; 0.0.0.0 (or ::) listens on every interface — set --api-key then.
    #[arg(
        long,
        env = "RECH_HOST",
        default_value = "127.0.0.1",
        value_name = "ADDR"
    )]
    host: String,

    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, env = "RECH_PORT", default_value_t = 8080)]
    port: u16,

    /// Requests transcribed at once, each by its own recognizer; a WebSocket stream holds one
    /// for its whole length.
    #[arg(short, long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,

    /// Requests that may wait for a worker; one more is answered 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(0..=10_000))]
    queue: u16,

    /// Largest upload accepted (1G, 25M, 500K or bytes); a larger one gets 413 before it is
    /// read. Uploads go to disk as they arrive: the default takes an hour of 48 kHz stereo WAV.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    max_upload: u64,

    /// Key clients must send as `Authorization: Bearer KEY` (the WebSocket upgrade of
    /// /v1/listen may pass ?api_key=); /health, /ready and /metrics stay open. Prefer the
    /// RECH_API_KEY variable: other users of the machine can read a command line.
    #[arg(long, env = "RECH_API_KEY", value_name = "KEY", hide_env_values = true)]
    api_key: Option<String>,

    /// A host name clients may reach the server by, besides IP addresses and localhost (a DNS
    /// name, `.example.com` for a domain and its subdomains, `*` for any); repeat for more.
    /// Requests naming other hosts get 403, so that no DNS-rebinding page can reach it.
    #[arg(
        long = "allowed-host",
        env = "RECH_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    allowed_hosts: Vec<String>,

    /// An origin whose web pages may use the server (`https://app.example.com`, or `*`);
    /// repeat for more. Browser requests from other origins get 403: by default only pages the
    /// server itself serves.
    #[arg(
        long = "allow-origin",
        env = "RECH_ALLOW_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    allowed_origins: Vec<String>,

    /// Serve HTTPS (and WSS) with this certificate chain (PEM), so that browsers on other
    /// machines may give the web page's dictation the microphone; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert's certificate.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Language of requests that name none (ISO 639-1 code), or `auto` to detect it.
    #[arg(short, long, default_value = "ru", value_name = "LANG")]
    language: String,

    /// GigaAM: how many copies of the model's encoder (nearly all its weights, about 230 MiB a
    /// copy of the int8 models) the workers share [default: one per worker, the fastest]; 1
    /// holds the least memory, each encoder run then on all the workers' threads.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    model_copies: Option<u16>,

    /// CPU threads per worker [default: all cores (at most 8) divided among the workers].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,

    /// Seconds that in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, value_name = "SECONDS", default_value_t = 25)]
    grace: u64,

    /// The model's name in /v1/models and verbose_json [default: the catalogue name or the
    /// file's name]. Any `model` a request names is served by this model, as whisper.cpp's
    /// server does (clients hard-code whisper-1, whisper-large-v3, …).
    #[arg(long, value_name = "NAME")]
    model_id: Option<String>,

    /// Refuse requests that name another model than --model-id (OpenAI's own names still
    /// mean it): 400 model_not_found.
    #[arg(long)]
    strict_model: bool,

    /// Where uploads are kept while they are transcribed [default: the system's temporary
    /// directory].
    #[arg(long, value_name = "DIR")]
    upload_dir: Option<PathBuf>,

    #[command(flatten)]
    vad: VadArgs,

    #[command(flatten)]
    decoding: DecodingArgs,

    #[command(flatten)]
    speakers: SpeakerArgs,

    /// Seconds a client has to send a request's headers before its connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,

    /// Seconds an upload may make no progress before it is answered 408 and its place freed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    read_timeout: u64,

    /// Seconds a WebSocket stream may send no audio before the server closes it.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout: u64,

    /// Seconds a request may wait for a worker before it is answered 503 with Retry-After.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    queue_timeout: u64,

    /// Connections served at once; more wait until one closes (keep it below the open-files
    /// limit, `ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,

    /// Whisper's low-memory mode for many workers: whisper.cpp's flash attention, which does not
    /// hold the encoder's attention matrices; each worker's state then peaks lower (see
    /// BENCHMARKS.md, "Whisper's workers"), at some speed on CPU.
    #[arg(help_heading = "Performance", long)]
    flash_attn: bool,

    #[command(flatten)]
    gpu: crate::gpu::GpuArgs,
}

pub fn run(args: ServeArgs, ctx: &Context) -> Result<ExitCode> {
    if engine::list_languages(&args.language)? {
        return Ok(ExitCode::SUCCESS);
    }
    let language = language_arg(&args.language)?;
    let workers = usize::from(args.workers);
    let threads = match args.threads {
        Some(threads) => usize::from(threads),
        None => (rech_asr::default_threads() / workers).max(1),
    };
    let mut speakers = args.speakers.speakers(threads)?;
    if args.api_key.as_deref().is_some_and(str::is_empty) {
        return Err(UsageError("--api-key must not be empty".into()).into());
    }
    // Checked before a model is loaded (or downloaded).
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(rech_server::Tls::load(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut whisper_only = args.decoding.whisper_only();
    whisper_only.push(("--flash-attn", args.flash_attn));
    let (resolved, engine) = engine::load_model(
        args.model.as_deref(),
        rech::Use::Server,
        language.as_deref(),
        &whisper_only,
        rech::EngineOptions {
            whisper: args.gpu.whisper(rech_whisper::WhisperOptions {
                flash_attention: args.flash_attn,
                ..args.decoding.whisper_options()?
            }),
            workers,
            model_copies: args.model_copies.map_or(0, usize::from),
            gpu: args.gpu.device(),
        },
        threads,
        ctx,
    )?;
    let model_id = args.model_id.clone().unwrap_or_else(|| {
        resolved.name.clone().unwrap_or_else(|| {
            let path = &resolved.path;
            let name = if path.is_dir() {
                path.file_name()
            } else {
                path.file_stem()
            };
            name.map_or_else(|| "rech".to_owned(), |n| n.to_string_lossy().into_owned())
        })
    });
    crate::speakers::prepare(&mut speakers, threads, ctx)?;
    let vad_model = args.vad.model(ctx)?;
    let options = ServeOptions {
        host: args.host.clone(),
        port: args.port,
        workers,
        threads,
        queue: usize::from(args.queue),
        max_upload: args.max_upload,
        api_key: args.api_key.clone(),
        model_id: model_id.clone(),
        strict_model: args.strict_model,
        grace: Duration::from_secs(args.grace),
        upload_dir: args.upload_dir.clone(),
        vad_model,
        vad: args.vad.options(),
        transcribe: TranscribeOptions {
            language: language.clone(),
            ..TranscribeOptions::default()
        },
        windows: rech_asr::WindowOptions::default(),
        dictation: DictationOptions::default(),
        speakers,
        header_timeout: Duration::from_secs(args.header_timeout),
        read_timeout: Duration::from_secs(args.read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        queue_timeout: Duration::from_secs(args.queue_timeout),
        max_connections: args.max_connections as usize,
        allowed_hosts: args.allowed_hosts.clone(),
        allowed_origins: args.allowed_origins.clone(),
        tls,
    };
    let server = Server::bind(options, engine)?;
    let addr = server.local_addr();
    if !addr.ip().is_loopback() && args.api_key.is_none() {
        // Not hidden by -q: whoever runs it exposed without a key must see it.
        let _ = writeln!(
            io::stderr(),
            "rech: WARNING: anyone who can reach {scheme}://{addr} can use this server: it listens \
             beyond this machine without an API key; set RECH_API_KEY (or --api-key)"
        );
    }
    if !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "rech: serving {model_id} on {scheme}://{addr} ({workers} worker{} × {threads} thread{}, queue {}, uploads up to {}); Ctrl-C stops",
            if workers == 1 { "" } else { "s" },
            if threads == 1 { "" } else { "s" },
            args.queue,
            describe_size(args.max_upload),
        );
    }
    server.run(ctx.interrupted.clone())?;
    if !ctx.quiet {
        let _ = writeln!(io::stderr(), "rech: stopped");
    }
    Ok(ExitCode::SUCCESS)
}
