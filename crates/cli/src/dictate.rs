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
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use rech::hotkey::{self, Hotkey, Listener, Notifier};
use rech::live::{self, Heard, PushToTalk, Source};
use rech::typing::{Backend, TyperOptions, Typist};
use rech_asr::output::dictation_event_json;
use rech_asr::{
    Dictation, DictationEvent, DictationOptions, TranscribeOptions, VadOptions, VoiceDetector,
};
use rech_audio::CaptureOptions;
use rech_whisper::{EncoderWindow, WhisperOptions};

use crate::control::{self, Control, CtlArgs};

use crate::engine::{self, language_arg, WhisperOnly};
use crate::models::{self, VadWanted};
use crate::{Context, UsageError};

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

    #[command(flatten)]
    gpu: crate::gpu::GpuArgs,

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
    /// $XDG_RUNTIME_DIR/rech-dictate.sock]; while stopped nothing is decoded, and the microphone
    /// only keeps its last 200 ms (closed with --mic-on-demand). With
    /// --input, the file is read only while listening.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1)]
    listen_on: Option<Option<PathBuf>>,

    /// Push-to-talk on a global key: `F9`, `Super+grave`, `Ctrl+Alt+d` (Ctrl, Alt, Shift, Super
    /// with a letter, a digit, F1-F24 or an X key name). Hold it to speak; the phrase is
    /// finished (and typed, with --type) when it is released. With --input, the file is read
    /// only while listening.
    #[arg(long, value_name = "KEY", env = "RECH_HOTKEY")]
    hotkey: Option<Hotkey>,

    /// hold: listen while the key is held; toggle: a press starts, the next press stops.
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        default_value = "hold",
        requires = "hotkey"
    )]
    hotkey_mode: HotkeyModeArg,

    /// Where the key comes from [default: the desktop portal on Wayland, a key grab on X11,
    /// else the input devices].
    #[arg(long, value_enum, value_name = "BACKEND", requires = "hotkey")]
    hotkey_backend: Option<HotkeyBackendArg>,

    /// Push-to-talk: open the microphone only while listening (it is otherwise kept open,
    /// into a ring of the last 200 ms that is neither decoded nor stored, so that a phrase
    /// spoken right at the press keeps its first syllable). -v says how long the device takes
    /// to start.
    #[arg(long, conflicts_with = "input")]
    mic_on_demand: bool,

    /// Push-to-talk: show when listening starts and stops — sound: two short notes, rising
    /// and falling, on the default output; notify: a desktop notification (replaced in
    /// place); none: nothing.
    #[arg(long, value_enum, default_value = "none")]
    cue: CueArg,

    /// Push-to-talk: keep the audio of each phrase (what the recogniser heard) as
    /// DIR/phrase-0001.wav, …
    #[arg(long, value_name = "DIR")]
    save_audio: Option<PathBuf>,
}

/// `--cue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CueArg {
    /// Two short notes on the default sound output.
    Sound,
    /// A desktop notification (the freedesktop notification service on D-Bus).
    Notify,
    /// Nothing.
    None,
}

/// `--hotkey-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HotkeyModeArg {
    /// Listen while the key is held.
    Hold,
    /// A press starts listening, the next press stops it.
    Toggle,
}

/// `--hotkey-backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HotkeyBackendArg {
    /// A passive key grab on the X server (X11, and X11 programs under XWayland).
    X11,
    /// The XDG desktop portal's global shortcuts (KDE, GNOME 48+, Hyprland); the desktop
    /// asks you to confirm the key once.
    Portal,
    /// /dev/input (any desktop; you must be in the `input` group).
    Evdev,
}

impl DictateArgs {
    /// Whether listening is switched (a socket or a key) rather than always on.
    fn push_to_talk(&self) -> bool {
        self.listen_on.is_some() || self.hotkey.is_some()
    }
}

pub fn run(args: DictateArgs, ctx: &Context) -> Result<ExitCode> {
    if let Some(DictateCommand::Ctl(ctl)) = &args.command {
        control::run_ctl(ctl, ctx.quiet)?;
        return Ok(ExitCode::SUCCESS);
    }
    if engine::list_languages(&args.language)? {
        return Ok(ExitCode::SUCCESS);
    }
    for (given, flag) in [
        (args.mic_on_demand, "--mic-on-demand"),
        (args.save_audio.is_some(), "--save-audio"),
        (args.cue != CueArg::None, "--cue"),
    ] {
        if given && !args.push_to_talk() {
            return Err(UsageError(format!(
                "{flag} is for push-to-talk: give it with --hotkey or --listen-on"
            ))
            .into());
        }
    }
    let clock: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let microphone = CaptureOptions {
        device: args.device.clone(),
        ..CaptureOptions::default()
    };
    // A missing or broken device fails here, before the model is loaded.
    let mut source = match &args.input {
        Some(path) => Source::file(path, args.realtime)?,
        None if args.push_to_talk() && !args.mic_on_demand => {
            Source::microphone_kept_open(microphone, PRE_ROLL, &clock)?
        }
        None => Source::microphone(microphone)?,
    };
    let (options, whisper_options) = options_from(&args)?;
    // The display, the socket and the key are checked before the model is loaded, like the
    // source.
    let typing = Typing::open(&args, ctx)?;
    let control = match (&args.listen_on, &args.hotkey) {
        (Some(path), _) => {
            let path = path.clone().unwrap_or_else(control::default_socket);
            Some(control::bind(&path)?)
        }
        (None, Some(_)) => Some(Control::in_process()),
        (None, None) => None,
    };
    let hotkey = match (&args.hotkey, &control) {
        (Some(key), Some(control)) => Some(listen_for_key(key, &args, control)?),
        _ => None,
    };
    let notifier = match args.cue {
        CueArg::Notify => Some(Cue::Notify(
            Notifier::connect().map_err(|e| UsageError(e.to_string()))?,
        )),
        CueArg::Sound => Some(Cue::Sound(
            rech_audio::tone::Speaker::open()
                .map_err(|e| UsageError(format!("{e}: use --cue notify or none")))?,
        )),
        CueArg::None => None,
    };
    let audio_dir = match &args.save_audio {
        Some(dir) => Some(PhraseAudio::create(dir)?),
        None => None,
    };
    let mut sink = Sink::create(&args, typing)?;

    let only: [WhisperOnly; 2] = [
        ("--full-window", args.full_window),
        ("--flash-attn", args.flash_attn),
    ];
    let (_, engine) = engine::load_model(
        args.model.as_deref(),
        rech::Use::Dictation,
        options.transcribe.language.as_deref(),
        &only,
        rech::EngineOptions {
            whisper: args.gpu.whisper(whisper_options),
            workers: 1,
            model_copies: 0,
            gpu: args.gpu.device(),
        },
        options.threads,
        ctx,
    )?;
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

    let outcome = match &control {
        None => {
            let feed = source.start(&clock)?;
            announce(&feed, ctx);
            let heard = live::listen(
                &mut dictation,
                &feed,
                &ctx.interrupted,
                None,
                &mut |events| sink.emit(events, &clock),
            );
            report_lost(source.stop(feed), ctx);
            let events = dictation.finish()?;
            sink.emit(&events, &clock)?;
            match heard? {
                Heard::Failed(err) => Err(err.into()),
                _ => Ok(()),
            }
        }
        Some(control) => push_to_talk(
            &mut dictation,
            &mut source,
            &mut sink,
            &clock,
            ctx,
            control,
            args.hotkey
                .as_ref()
                .zip(hotkey.as_ref())
                .map(|(key, listener)| describe_key(key, listener)),
            audio_dir,
            notifier,
        ),
    };
    if let Some(listener) = &hotkey {
        log::info!(
            "the key repeated {} times while held (ignored)",
            listener.repeats_ignored()
        );
    }
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

/// `--listen-on` and `--hotkey`: rech::live's push-to-talk, with a line on stderr at each
/// change.
#[allow(clippy::too_many_arguments)]
fn push_to_talk(
    dictation: &mut Dictation,
    source: &mut Source,
    sink: &mut Sink,
    clock: &Arc<OnceLock<Instant>>,
    ctx: &Context,
    control: &Control,
    key: Option<String>,
    mut audio: Option<PhraseAudio>,
    notifier: Option<Cue>,
) -> Result<()> {
    let cue = |listening: bool| {
        if let Some(cue) = &notifier {
            cue.show(listening);
        }
    };
    let say = |line: &str| {
        if !ctx.quiet {
            let _ = writeln!(io::stderr(), "rech: {line}");
        }
    };
    let how = match (key, control.path()) {
        (Some(key), Some(path)) => format!(
            "{key}, or `rech dictate ctl` on {}, controls listening",
            path.display()
        ),
        (Some(key), None) => format!("{key} controls listening"),
        (None, Some(path)) => format!(
            "`rech dictate ctl start|stop|toggle` on {} controls listening",
            path.display()
        ),
        (None, None) => "nothing controls listening".to_owned(),
    };
    if let Some(info) = source.kept_open() {
        if !ctx.quiet {
            let _ = writeln!(
                io::stderr(),
                "rech: the microphone {} ({} Hz) stays open, keeping its last {} ms for the                  next phrase (--mic-on-demand opens it only while listening)",
                info.device.id,
                info.device_rate,
                PRE_ROLL.as_millis()
            );
        }
    }
    let heard = live::push_to_talk(
        dictation,
        source,
        control,
        clock,
        &ctx.interrupted,
        &mut |event| -> Result<()> {
            match event {
                PushToTalk::Waiting => say(&format!("stopped; {how}")),
                PushToTalk::Listening(feed) => {
                    cue(true);
                    announce(feed, ctx);
                    if let Some(audio) = &mut audio {
                        audio.begin()?;
                    }
                    say("listening");
                }
                PushToTalk::Heard(samples) => {
                    if let Some(audio) = &mut audio {
                        audio.write(samples)?;
                    }
                }
                PushToTalk::Events(events) => sink.emit(events, clock)?,
                PushToTalk::Stopped(stopped) => {
                    cue(false);
                    report_lost(stopped, ctx);
                    if let Some(audio) = &mut audio {
                        audio.end()?;
                    }
                    say("stopped");
                }
                _ => {}
            }
            Ok(())
        },
    )?;
    if let Some(audio) = &mut audio {
        audio.end()?;
    }
    match heard {
        Heard::Ended => say("the input has ended"),
        Heard::Failed(err) => return Err(err.into()),
        _ => {}
    }
    Ok(())
}

/// Push-to-talk's pause before the final decode starts early.
const PUSH_TO_TALK_SPECULATION_MS: u32 = 100;

/// How much audio before the press a kept-open microphone hands over.
const PRE_ROLL: Duration = Duration::from_millis(200);

/// `--hotkey`: listens for the key, which switches `control`; fails (one line) when the key
/// cannot be had.
fn listen_for_key(key: &Hotkey, args: &DictateArgs, control: &Control) -> Result<Listener> {
    let backend = args.hotkey_backend.map(|b| match b {
        HotkeyBackendArg::X11 => hotkey::Backend::X11,
        HotkeyBackendArg::Portal => hotkey::Backend::Portal,
        HotkeyBackendArg::Evdev => hotkey::Backend::Evdev,
    });
    let mode = match args.hotkey_mode {
        HotkeyModeArg::Hold => hotkey::Mode::Hold,
        HotkeyModeArg::Toggle => hotkey::Mode::Toggle,
    };
    let mut options = hotkey::Options::default();
    // Where the input devices are: a test plays a keyboard into files of its own.
    if let Some(dir) = std::env::var_os("RECH_INPUT_DIR").filter(|d| !d.is_empty()) {
        options.input_dir = PathBuf::from(dir);
    }
    let on_change = Box::new(move |listening: bool| {
        log::debug!("hotkey: {}", if listening { "start" } else { "stop" });
    });
    Listener::start_with(
        key,
        backend,
        &options,
        hotkey::drive(control.switch(), mode, on_change),
    )
    .map_err(|e| UsageError(e.to_string()).into())
}

/// The key and where it comes from, for the lines on stderr: the desktop's own words for it
/// where the portal gave some.
fn describe_key(key: &Hotkey, listener: &Listener) -> String {
    let shown = listener
        .bound_as()
        .map_or_else(|| key.to_string(), str::to_owned);
    format!("{shown} (through {})", listener.backend())
}

/// `--cue`: how the start and the stop of listening are shown.
enum Cue {
    Notify(Notifier),
    Sound(rech_audio::tone::Speaker),
}

impl Cue {
    /// Shows a start (`true`) or a stop, without waiting for it.
    fn show(&self, listening: bool) {
        match self {
            Self::Notify(notifier) => notifier.show(listening),
            Self::Sound(speaker) => {
                let speaker = speaker.clone();
                let tone = if listening {
                    rech_audio::tone::Tone::Start
                } else {
                    rech_audio::tone::Tone::Stop
                };
                let played = std::thread::Builder::new()
                    .name("rech-cue".into())
                    .spawn(move || {
                        if let Err(e) = speaker.play(tone) {
                            log::warn!("{e}");
                        }
                    });
                if let Err(e) = played {
                    log::warn!("cannot play the cue: {e}");
                }
            }
        }
    }
}

/// `--save-audio`: each phrase's audio, as the recogniser heard it, in a WAV file of its own.
struct PhraseAudio {
    dir: PathBuf,
    next: u32,
    writing: Option<rech_audio::WavRecorder>,
}

impl PhraseAudio {
    fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            next: 1,
            writing: None,
        })
    }

    fn begin(&mut self) -> Result<()> {
        self.end()?;
        let path = self.dir.join(format!("phrase-{:04}.wav", self.next));
        self.next += 1;
        self.writing = Some(rech_audio::WavRecorder::create(&path, 16_000, 1)?);
        Ok(())
    }

    fn write(&mut self, samples: &[f32]) -> Result<()> {
        if let Some(writer) = &mut self.writing {
            writer.write(samples)?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        if let Some(writer) = self.writing.take() {
            let path = writer.path().to_owned();
            let seconds = writer.finalize()?;
            log::info!("kept {:.2} s of audio in {}", seconds, path.display());
        }
        Ok(())
    }
}

/// The microphone being listened to, on stderr.
fn announce(feed: &live::Feed, ctx: &Context) {
    if let (Some(info), false) = (&feed.capture, ctx.quiet) {
        let _ = writeln!(
            io::stderr(),
            "rech: listening to {} ({} Hz, {} ch, {}); Ctrl-C stops",
            info.device.id,
            info.device_rate,
            info.device_channels,
            info.device_format
        );
    }
}

/// Audio the microphone lost, on stderr.
fn report_lost(stopped: live::Stopped, ctx: &Context) {
    if stopped.dropped_frames > 0 && !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "rech: warning: {} frames ({:.2} s) of audio were lost (the system was too busy)",
            stopped.dropped_frames,
            stopped.dropped_frames as f64 / f64::from(stopped.device_rate.max(1))
        );
    }
}

/// Dictation's options and the Whisper engine's.
fn options_from(args: &DictateArgs) -> Result<(DictationOptions, WhisperOptions)> {
    let options = DictationOptions {
        transcribe: TranscribeOptions {
            language: language_arg(&args.language)?,
            word_timestamps: false,
            filter_hallucinations: !args.keep_hallucinations,
            temperature: None,
        },
        threads: args
            .threads
            .map_or_else(rech_asr::default_threads, usize::from),
        partials: args.partial,
        end_silence_ms: args.pause,
        max_utterance_ms: args.max_utterance * 1000,
        // Push-to-talk: the release ends the phrase, and usually comes a moment after the last
        // word; the final decode starts after 100 ms of pause, so that it is done (or nearly)
        // by then. Hands-free, the 250 ms default: a pause ends the phrase anyway.
        speculate_after_ms: if args.push_to_talk() {
            PUSH_TO_TALK_SPECULATION_MS
        } else {
            DictationOptions::default().speculate_after_ms
        },
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
    typist: Typist,
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
        let typist = Typist::open(&options, args.partial)?;
        if let (Some(notice), false) = (typist.typer().notice(), ctx.quiet) {
            let _ = writeln!(io::stderr(), "rech: {notice}");
        }
        log::info!("typing with {}", typist.typer().backend());
        Ok(Some(Self {
            typist,
            quiet: ctx.quiet,
        }))
    }

    fn on(&mut self, event: &DictationEvent) -> Result<()> {
        match self.typist.on(event)? {
            Some(typed) if !typed.untyped.is_empty() && !self.quiet => {
                let _ = writeln!(
                    io::stderr(),
                    "rech: warning: {} could not type {:?}",
                    self.typist.typer().backend(),
                    typed.untyped
                );
            }
            _ => {}
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
