//! `rech dictate`: live dictation from a microphone (or a file fed through the same pipeline,
//! as fast as it decodes or at real-time pace) — one line per finished utterance, optionally
//! with the words appearing while they are spoken, or one JSON event per line for programs.
//!
//! Audio comes from a thread of its own (the capture, or the file reader) over a channel, so
//! that capture never waits for decoding; the main thread hands everything that has piled up
//! to the recogniser at once, which keeps it in step with real time however long a decode
//! takes.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use rech_asr::output::dictation_event_json;
use rech_asr::{
    Dictation, DictationEvent, DictationOptions, TranscribeOptions, VadOptions, VoiceDetector,
};
use rech_audio::{AudioStream, Capture, CaptureOptions};
use rech_typer::{Backend, Typer, TyperOptions};
use rech_whisper::{EncoderWindow, WhisperOptions};

use crate::control::{self, Control, CtlArgs};

use crate::engine::{self, engine_kind, language_arg, refuse_unsupported, WhisperOnly};
use crate::models::{self, VadWanted};
use crate::Context;

/// Samples per chunk a file source sends: 100 ms, as a microphone would deliver them.
const FILE_CHUNK: usize = 1_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DictateFormat {
    /// One line per finished utterance.
    #[value(alias = "txt")]
    Text,
    /// One JSON object per line and event: partial and final.
    Jsonl,
}

/// How `--type` types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TyperArg {
    /// X11's XTest extension.
    X11,
    /// Wayland's virtual keyboard (sway, Hyprland, river, labwc, KDE).
    Wayland,
    /// The clipboard and Control+V (XTest on X11, ydotool on Wayland, else pasted by you).
    Clipboard,
    /// The clipboard, pasted through ydotool's daemon.
    Ydotool,
}

#[derive(Debug, Subcommand)]
pub enum DictateCommand {
    /// Control a `rech dictate --listen-on`: start, stop, toggle or status (bind these to
    /// keys in your window manager).
    Ctl(CtlArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DictateArgs {
    #[command(subcommand)]
    command: Option<DictateCommand>,

    /// Input device: index, id or a unique part of its name (see `rech devices`).
    #[arg(
        short,
        long,
        env = "RECH_DEVICE",
        value_name = "DEVICE",
        conflicts_with = "input"
    )]
    device: Option<String>,

    /// Dictate from an audio file instead of a microphone, through the same pipeline; `-`
    /// reads stdin, where a WAV stream is dictated as it arrives.
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,

    /// With --input: feed the file at real-time pace, as a microphone would.
    #[arg(long, requires = "input")]
    realtime: bool,

    /// Model: a catalogue name (see `rech models list`), the name of a downloaded model, a
    /// whisper.cpp ggml file, or a GigaAM-v3 .onnx file or directory [default:
    /// gigaam-v3-e2e-rnnt-int8 for Russian, small-q8_0 otherwise; downloaded on first use].
    #[arg(short, long, env = "RECH_MODEL", value_name = "NAME|PATH")]
    model: Option<PathBuf>,

    /// Silero VAD model: a file in whisper.cpp format, or silero-v6.2.0 [default:
    /// silero-v6.2.0 when downloaded; without one, speech is detected by its loudness].
    #[arg(long, env = "RECH_VAD_MODEL", value_name = "NAME|PATH")]
    vad_model: Option<PathBuf>,

    /// Detect speech by loudness even when a VAD model is available.
    #[arg(long)]
    no_vad: bool,

    /// Show the words while they are spoken: the line is rewritten in place on a terminal;
    /// with --format jsonl, partial events are printed.
    #[arg(long)]
    partial: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: DictateFormat,

    /// Write to FILE instead of stdout (appended line by line as utterances finish).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Spoken language: an ISO 639-1 code (`ru`) or Whisper's English name (`russian`), `auto`
    /// to detect it for each utterance, or `list` to print the languages.
    #[arg(short, long, default_value = "ru", value_name = "LANG")]
    language: String,

    /// CPU threads for Whisper [default: all cores, at most 8].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,

    /// A pause this long ends an utterance, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(100..=10_000))]
    pause: u32,

    /// Split utterances longer than this many seconds at their quietest point.
    #[arg(long, value_name = "SECONDS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(2..=29))]
    max_utterance: u32,

    /// Encode Whisper's full 30 s window for every decode instead of only the utterance's
    /// length (slower; for comparison).
    #[arg(long)]
    full_window: bool,

    /// Low-memory mode: whisper.cpp's flash attention, which does not hold the encoder's
    /// attention matrices (51 MiB tiny, 69 MiB base, 103 MiB small, 137 MiB medium), but is
    /// 1.6-2x slower on CPU (see BENCHMARKS.md).
    #[arg(long)]
    flash_attn: bool,

    /// Keep utterances that are only known Whisper hallucinations («Продолжение следует...»),
    /// and decoding loops whole instead of cut to one copy.
    #[arg(long)]
    keep_hallucinations: bool,

    /// Type each finished phrase into the focused window, followed by a space (with
    /// --partial, words are typed as soon as they are committed, never to be taken back).
    #[arg(long = "type")]
    type_text: bool,

    /// How to type [default: Wayland's virtual keyboard on Wayland, XTest on X11, the
    /// clipboard where neither is offered].
    #[arg(long, value_enum, value_name = "BACKEND", requires = "type_text")]
    typer: Option<TyperArg>,

    /// Pause after each typed character, in milliseconds, for applications that drop fast
    /// input.
    #[arg(long, value_name = "MS", default_value_t = 0, requires = "type_text",
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    type_delay: u32,

    /// Push-to-talk: listen only between `rech dictate ctl start` and `stop` (or `toggle`),
    /// taken on this socket [default: $RECH_DICTATE_SOCKET, else
    /// $XDG_RUNTIME_DIR/rech-dictate.sock]; the microphone is closed while stopped. With
    /// --input, the file is read only while listening.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1)]
    listen_on: Option<Option<PathBuf>>,
}

/// What the source thread sends.
enum Chunk {
    Audio(Vec<f32>),
    /// The source failed; what it captured before has been sent.
    Failed(anyhow::Error),
}

/// Where audio comes from, opened before the model is loaded so that a bad device or file
/// fails at once.
enum Source {
    Microphone(CaptureOptions),
    File {
        /// `None` while its reader thread has it, and once it has ended.
        stream: Option<Box<AudioStream>>,
        realtime: bool,
    },
}

/// A source being read: its chunks, and the thread that reads them, which gives a file's
/// stream back when stopped before its end.
struct Running {
    rx: Receiver<Chunk>,
    thread: JoinHandle<Option<Box<AudioStream>>>,
    stop: Arc<AtomicBool>,
}

/// Why listening ended.
enum Heard {
    /// The file ended.
    Ended,
    /// `rech dictate ctl stop`.
    Stopped,
    /// Ctrl-C.
    Interrupted,
    /// The source failed; what it delivered before has been heard.
    Failed(anyhow::Error),
}

pub fn run(args: DictateArgs, ctx: &Context) -> Result<ExitCode> {
    if let Some(DictateCommand::Ctl(ctl)) = &args.command {
        control::run_ctl(ctl, ctx.quiet)?;
        return Ok(ExitCode::SUCCESS);
    }
    if engine::list_languages(&args.language)? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut source = match &args.input {
        Some(path) => Source::File {
            stream: Some(Box::new(rech_audio::open(path)?)),
            realtime: args.realtime,
        },
        None => {
            let options = CaptureOptions {
                device: args.device.clone(),
                ..CaptureOptions::default()
            };
            // Fail on a missing or broken device before loading the model; it is opened for
            // good once the model is ready, so that no audio piles up meanwhile.
            drop(Capture::open(&options)?);
            Source::Microphone(options)
        }
    };
    let (options, whisper_options) = options_from(&args)?;
    // The display and the socket are checked before the model is loaded, like the source.
    let typing = Typing::open(&args, ctx)?;
    let control = match &args.listen_on {
        Some(path) => {
            let path = path.clone().unwrap_or_else(control::default_socket);
            Some(control::bind(&path)?)
        }
        None => None,
    };
    let mut sink = Sink::create(&args, typing)?;

    let default = rech::default_model(
        options.transcribe.language.as_deref(),
        rech::Use::Dictation,
        args.full_window || args.flash_attn,
    );
    let spec = args.model.as_deref().unwrap_or(Path::new(default));
    let resolved = models::resolve_model(Some(spec), default, ctx)?;
    let kind = engine_kind(&resolved.path);
    let only = [
        WhisperOnly {
            flag: "--full-window",
            given: args.full_window,
        },
        WhisperOnly {
            flag: "--flash-attn",
            given: args.flash_attn,
        },
    ];
    refuse_unsupported(kind, &only, options.transcribe.language.as_deref())?;
    let engine = engine::load(&resolved, kind, whisper_options, options.threads, ctx)?;
    let vad = if args.no_vad {
        None
    } else {
        let found = models::resolve_vad(
            args.vad_model.as_deref(),
            VadWanted::DEFAULT,
            "detecting speech by loudness",
            ctx,
        )?;
        match found {
            Some(path) => Some(VoiceDetector::load(&path, VadOptions::default())?),
            None => None,
        }
    };
    let mut dictation = Dictation::new(engine.as_ref(), vad, options)?;

    let clock: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let outcome = match &control {
        None => {
            let running = source.start(&clock, ctx)?;
            let heard = listen(&mut dictation, &running.rx, &mut sink, &clock, ctx, None);
            source.stop(running);
            let events = dictation.finish()?;
            sink.emit(&events, &clock)?;
            match heard? {
                Heard::Failed(err) => Err(err),
                Heard::Ended | Heard::Stopped | Heard::Interrupted => Ok(()),
            }
        }
        Some(control) => push_to_talk(&mut dictation, &mut source, &mut sink, &clock, ctx, control),
    };
    sink.close()?;
    let stats = dictation.stats();
    log::info!(
        "{:.1} s of audio: VAD over {} frames in {:.2} s, {} partial and {} final decodes in {:.2} s",
        stats.audio_seconds,
        stats.vad_frames,
        stats.vad_time.as_secs_f64(),
        stats.partial_decodes,
        stats.final_decodes,
        stats.decode_time.as_secs_f64()
    );
    outcome?;
    Ok(ExitCode::SUCCESS)
}

/// Feeds the recogniser until the source ends or fails, Ctrl-C, or (with a control socket) a
/// stop; everything captured before a stop is heard. The utterance under way is left to the
/// caller to finalise.
fn listen(
    dictation: &mut Dictation,
    rx: &Receiver<Chunk>,
    sink: &mut Sink,
    clock: &OnceLock<Instant>,
    ctx: &Context,
    control: Option<&Control>,
) -> Result<Heard> {
    let mut pending = Vec::new();
    loop {
        if ctx.interrupted.is_cancelled() {
            return Ok(Heard::Interrupted);
        }
        let stopping = control.is_some_and(|c| !c.listening());
        if !stopping {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Chunk::Audio(samples)) => pending.extend_from_slice(&samples),
                Ok(Chunk::Failed(err)) => {
                    let events = dictation.push(&pending)?;
                    sink.emit(&events, clock)?;
                    return Ok(Heard::Failed(err));
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(Heard::Ended),
            }
        }
        // Whatever else has piled up goes in with it.
        let mut failure = None;
        loop {
            match rx.try_recv() {
                Ok(Chunk::Audio(samples)) => pending.extend_from_slice(&samples),
                Ok(Chunk::Failed(err)) => {
                    failure = Some(err);
                    break;
                }
                Err(_) => break,
            }
        }
        let events = dictation.push(&pending)?;
        pending.clear();
        sink.emit(&events, clock)?;
        if let Some(err) = failure {
            return Ok(Heard::Failed(err));
        }
        if stopping {
            return Ok(Heard::Stopped);
        }
    }
}

/// `--listen-on`: waits for `rech dictate ctl start`, listens until `stop`, finalises the
/// phrase under way, and waits again; the source is closed while stopped.
fn push_to_talk(
    dictation: &mut Dictation,
    source: &mut Source,
    sink: &mut Sink,
    clock: &Arc<OnceLock<Instant>>,
    ctx: &Context,
    control: &Control,
) -> Result<()> {
    let say = |line: &str| {
        if !ctx.quiet {
            let _ = writeln!(io::stderr(), "rech: {line}");
        }
    };
    say(&format!(
        "stopped; `rech dictate ctl start|stop|toggle` on {} controls listening",
        control.path().display()
    ));
    loop {
        while !control.listening() {
            if ctx.interrupted.is_cancelled() {
                return Ok(());
            }
            control.wait(Duration::from_millis(100));
        }
        if source.ended() {
            say("the input has ended");
            return Ok(());
        }
        let running = source.start(clock, ctx)?;
        say("listening");
        let heard = listen(dictation, &running.rx, sink, clock, ctx, Some(control));
        source.stop(running);
        let events = dictation.restart()?;
        sink.emit(&events, clock)?;
        match heard? {
            Heard::Stopped => say("stopped"),
            Heard::Ended => {
                say("the input has ended");
                return Ok(());
            }
            Heard::Interrupted => return Ok(()),
            Heard::Failed(err) => return Err(err),
        }
    }
}

impl Source {
    fn ended(&self) -> bool {
        matches!(self, Source::File { stream: None, .. })
    }

    /// Opens the microphone, or resumes reading the file, on a thread of its own.
    fn start(&mut self, clock: &Arc<OnceLock<Instant>>, ctx: &Context) -> Result<Running> {
        match self {
            Source::Microphone(options) => start_capture(options, clock, ctx),
            Source::File { stream, realtime } => {
                let stream = stream
                    .take()
                    .ok_or_else(|| anyhow!("the input has already ended"))?;
                start_reader(stream, *realtime, clock)
            }
        }
    }

    /// Stops the thread (closing the microphone) and keeps what is left of a file.
    fn stop(&mut self, running: Running) {
        running.stop.store(true, Ordering::SeqCst);
        // Unblock a source waiting on a full channel, then let it end.
        drop(running.rx);
        let rest = running.thread.join().ok().flatten();
        if let Source::File { stream, .. } = self {
            *stream = rest;
        }
    }
}

fn start_capture(
    options: &CaptureOptions,
    clock: &Arc<OnceLock<Instant>>,
    ctx: &Context,
) -> Result<Running> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let clock = Arc::clone(clock);
    // 25 s of 100 ms chunks: room for a slow decode, and the capture's own ring after.
    let (tx, rx) = mpsc::sync_channel(256);
    let mut capture = Capture::open(options)?;
    if !ctx.quiet {
        let info = capture.info();
        let _ = writeln!(
            io::stderr(),
            "rech: listening to {} ({} Hz, {} ch, {}); Ctrl-C stops",
            info.device.id,
            info.device_rate,
            info.device_channels,
            info.device_format
        );
    }
    let quiet = ctx.quiet;
    let handle = std::thread::Builder::new()
        .name("rech-capture".into())
        .spawn(move || {
            let _ = clock.set(Instant::now());
            capture_loop(&mut capture, &tx, &stopped);
            let dropped = capture.dropped_frames();
            if dropped > 0 && !quiet {
                let _ = writeln!(
                    io::stderr(),
                    "rech: warning: {dropped} frames ({:.2} s) of audio were lost (the system was too busy)",
                    dropped as f64 / f64::from(capture.info().device_rate)
                );
            }
            None
        })
        .context("cannot start the capture thread")?;
    Ok(Running {
        rx,
        thread: handle,
        stop,
    })
}

fn start_reader(
    stream: Box<AudioStream>,
    realtime: bool,
    clock: &Arc<OnceLock<Instant>>,
) -> Result<Running> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let clock = Arc::clone(clock);
    let (tx, rx) = mpsc::sync_channel(if realtime { 256 } else { 16 });
    let handle = std::thread::Builder::new()
        .name("rech-reader".into())
        .spawn(move || file_loop(stream, realtime, &tx, &stopped, &clock))
        .context("cannot start the reader thread")?;
    Ok(Running {
        rx,
        thread: handle,
        stop,
    })
}

fn capture_loop(capture: &mut Capture, tx: &SyncSender<Chunk>, stop: &AtomicBool) {
    let mut buf = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        buf.clear();
        match capture.read(&mut buf, Duration::from_millis(100)) {
            Ok(0) => {}
            Ok(_) => {
                if tx.send(Chunk::Audio(std::mem::take(&mut buf))).is_err() {
                    return;
                }
            }
            Err(err) => {
                let _ = tx.send(Chunk::Failed(err.into()));
                return;
            }
        }
    }
}

/// Sends the file in microphone-sized chunks; returns the stream when stopped before its end.
fn file_loop(
    mut stream: Box<AudioStream>,
    realtime: bool,
    tx: &SyncSender<Chunk>,
    stop: &AtomicBool,
    clock: &OnceLock<Instant>,
) -> Option<Box<AudioStream>> {
    clock.get_or_init(Instant::now);
    // Real-time pace counts from this start: a stopped file does not catch up afterwards.
    let start = Instant::now();
    let mut decoded = Vec::new();
    let mut sent: u64 = 0;
    let mut more = true;
    while !stop.load(Ordering::SeqCst) && (more || !decoded.is_empty()) {
        while more && decoded.len() < FILE_CHUNK {
            match stream.next_chunk(&mut decoded) {
                Ok(m) => more = m,
                Err(err) => {
                    let _ = tx.send(Chunk::Failed(err.into()));
                    return None;
                }
            }
        }
        let n = decoded.len().min(FILE_CHUNK);
        let chunk: Vec<f32> = decoded.drain(..n).collect();
        sent += n as u64;
        if realtime {
            // A microphone delivers a chunk once its last sample has been spoken.
            let due = start + Duration::from_secs_f64(sent as f64 / 16_000.0);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        if tx.send(Chunk::Audio(chunk)).is_err() {
            break;
        }
    }
    // Stopped with audio left: what was decoded ahead is dropped, as a microphone's would be.
    (more && stop.load(Ordering::SeqCst)).then_some(stream)
}

/// Dictation's options and the Whisper engine's.
fn options_from(args: &DictateArgs) -> Result<(DictationOptions, WhisperOptions)> {
    let options = DictationOptions {
        transcribe: TranscribeOptions {
            language: language_arg(&args.language)?,
            word_timestamps: false,
            filter_hallucinations: !args.keep_hallucinations,
        },
        threads: args
            .threads
            .map_or_else(rech_asr::default_threads, usize::from),
        partials: args.partial,
        end_silence_ms: args.pause,
        max_utterance_ms: args.max_utterance * 1000,
        ..DictationOptions::default()
    };
    let whisper = WhisperOptions {
        flash_attention: args.flash_attn,
        temperature_increment: 0.0,
        utterance_window: if args.full_window {
            EncoderWindow::Full
        } else {
            EncoderWindow::Fitted
        },
        ..WhisperOptions::default()
    };
    Ok((options, whisper))
}

/// Writes events as they come: text lines (with the partial line rewritten in place on a
/// terminal) or JSON lines.
struct Sink {
    out: Box<dyn Write>,
    format: DictateFormat,
    partials: bool,
    /// Partial text is drawn in place (a terminal, text format).
    live: bool,
    /// A partial line is on screen.
    showing: bool,
    path: Option<PathBuf>,
    typing: Option<Typing>,
}

impl Sink {
    fn create(args: &DictateArgs, typing: Option<Typing>) -> Result<Self> {
        let (out, terminal): (Box<dyn Write>, bool) = match &args.output {
            Some(path) if path != Path::new("-") => {
                let file = File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                (Box::new(BufWriter::new(file)), false)
            }
            _ => (Box::new(io::stdout()), io::stdout().is_terminal()),
        };
        Ok(Self {
            out,
            format: args.format,
            partials: args.partial,
            live: terminal && args.format == DictateFormat::Text && args.partial,
            showing: false,
            path: args.output.clone().filter(|p| p != Path::new("-")),
            typing,
        })
    }

    fn emit(&mut self, events: &[DictationEvent], clock: &OnceLock<Instant>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let at = clock.get().map(|t| t.elapsed().as_secs_f64());
        for event in events {
            match self.format {
                DictateFormat::Jsonl => self.jsonl(event, at)?,
                DictateFormat::Text => self.text(event)?,
            }
        }
        self.out.flush().map_err(|e| self.write_error(e))?;
        // Printed first, typed after: the line is out even when typing is slow or fails.
        if let Some(typing) = &mut self.typing {
            for event in events {
                typing.on(event)?;
            }
        }
        Ok(())
    }

    fn jsonl(&mut self, event: &DictationEvent, at: Option<f64>) -> Result<()> {
        if matches!(event, DictationEvent::Partial { .. }) && !self.partials {
            return Ok(());
        }
        let line = dictation_event_json(event, at);
        writeln!(self.out, "{line}").map_err(|e| self.write_error(e))
    }

    fn text(&mut self, event: &DictationEvent) -> Result<()> {
        match event {
            DictationEvent::Partial { text, .. } => {
                if self.live {
                    let shown = tail_to_width(text);
                    write!(self.out, "\r\x1b[2K{shown}").map_err(|e| self.write_error(e))?;
                    self.showing = !text.is_empty();
                }
                Ok(())
            }
            DictationEvent::Final { text, .. } => {
                if self.showing {
                    write!(self.out, "\r\x1b[2K").map_err(|e| self.write_error(e))?;
                    self.showing = false;
                }
                writeln!(self.out, "{text}").map_err(|e| self.write_error(e))
            }
        }
    }

    fn close(&mut self) -> Result<()> {
        if self.showing {
            write!(self.out, "\r\x1b[2K").map_err(|e| self.write_error(e))?;
            self.showing = false;
        }
        self.out.flush().map_err(|e| self.write_error(e))
    }

    fn write_error(&self, err: io::Error) -> anyhow::Error {
        match &self.path {
            Some(path) => anyhow!(err).context(format!("cannot write to {}", path.display())),
            None => anyhow!(err).context("cannot write to stdout"),
        }
    }
}

/// `--type`: final phrases (and with --partial, committed words) typed into the focused window.
struct Typing {
    typer: Typer,
    /// What of the utterance under way has been typed already: committed words.
    typed: String,
    partials: bool,
    quiet: bool,
}

impl Typing {
    fn open(args: &DictateArgs, ctx: &Context) -> Result<Option<Self>> {
        if !args.type_text {
            return Ok(None);
        }
        let options = TyperOptions {
            backend: args.typer.map(|t| match t {
                TyperArg::X11 => Backend::X11,
                TyperArg::Wayland => Backend::Wayland,
                TyperArg::Clipboard => Backend::Clipboard,
                TyperArg::Ydotool => Backend::Ydotool,
            }),
            key_delay: Duration::from_millis(u64::from(args.type_delay)),
        };
        let typer = Typer::open(&options)?;
        if !ctx.quiet {
            if let Some(notice) = typer.notice() {
                let _ = writeln!(io::stderr(), "rech: {notice}");
            }
        }
        log::info!("typing with {}", typer.backend());
        Ok(Some(Self {
            typer,
            typed: String::new(),
            partials: args.partial,
            quiet: ctx.quiet,
        }))
    }

    fn on(&mut self, event: &DictationEvent) -> Result<()> {
        let text = match event {
            DictationEvent::Partial { committed, .. } => {
                // Committed words never change: they can be typed before the phrase ends.
                if !self.partials || committed.len() <= self.typed.len() {
                    return Ok(());
                }
                let Some(new) = committed.strip_prefix(self.typed.as_str()) else {
                    return Ok(());
                };
                let new = new.to_owned();
                self.typed.clone_from(committed);
                new
            }
            DictationEvent::Final { text, .. } => {
                let typed = std::mem::take(&mut self.typed);
                let rest = match text.strip_prefix(typed.as_str()) {
                    Some(rest) => rest,
                    None => {
                        // Not expected (committed words are a prefix of the final); what was
                        // typed stays, and the rest after the common part follows it.
                        let common = typed
                            .char_indices()
                            .zip(text.chars())
                            .take_while(|((_, a), b)| a == b)
                            .last()
                            .map_or(0, |((i, a), _)| i + a.len_utf8());
                        log::warn!("the final text differs from the words typed already");
                        &text[common..]
                    }
                };
                format!("{rest} ")
            }
        };
        let typed = self.typer.type_text(&text)?;
        if !typed.untyped.is_empty() && !self.quiet {
            let _ = writeln!(
                io::stderr(),
                "rech: warning: {} could not type {:?}",
                self.typer.backend(),
                typed.untyped
            );
        }
        Ok(())
    }
}

/// The end of `text` that fits on one terminal line, so that rewriting it in place works.
fn tail_to_width(text: &str) -> String {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|&w| w >= 20)
        .unwrap_or(80)
        - 1;
    let count = text.chars().count();
    if count <= width {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - (width - 1)).collect();
    format!("…{tail}")
}
