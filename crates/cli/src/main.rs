//! The `rech` binary: parses the command line, runs one subcommand, and turns every failure
//! into one line on stderr and an exit code (0 success, 1 failure while running, 2 bad usage,
//! 130 interrupted).
#![forbid(unsafe_code)]

mod batch;
mod control;
mod decoding;
mod devices;
mod dictate;
mod engine;
mod eval;
mod gpu;
mod models;
mod output;
mod progress;
mod record;
mod running;
mod serve;
mod speakers;
mod transcribe;
mod vad;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use rech_asr::CancelToken;

/// Russian speech-to-text with Whisper (whisper.cpp) and GigaAM-v3 (ONNX Runtime).
#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn clap_errors_become_one_line_with_their_tips() {
        let rendered = "error: unexpected argument '--typ' found\n\n  tip: a similar argument exists: '--type'\n\nUsage: rech dictate --typ\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "unexpected argument '--typ' found; tip: a similar argument exists: '--type' (see --help)"
        );
        let missing = "error: the following required arguments were not provided:\n  <COMMAND>\n\nUsage: rech dictate ctl <COMMAND>\n";
        assert_eq!(
            one_line(missing),
            "the following required arguments were not provided: <COMMAND> (see --help)"
        );
    }
}

/// The command line, with `--version` saying what this build holds; also returns that report,
/// which `-v` logs.
fn parse_command_line() -> Result<(Cli, &'static str), clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    // Once per process: clap keeps the text for the life of the command.
    let long_version: &'static str = Box::leak(build_info().into_boxed_str());
    let matches = Cli::command()
        .long_version(long_version)
        .try_get_matches_from(speakers::bare_diarize(std::env::args_os()))?;
    Ok((Cli::from_arg_matches(&matches)?, long_version))
}

/// rech's version, then the engines it was built with: whisper.cpp's version and back ends,
/// the CPU features whisper.cpp uses here, and where ONNX Runtime comes from.
fn build_info() -> String {
    let mut backends = vec!["CPU"];
    backends.extend(rech_whisper::compiled_backends());
    let features = rech_whisper::cpu_features();
    format!(
        "{}\nwhisper.cpp {} (back ends: {}{})\nCPU features: {}\nONNX Runtime (GigaAM-v3): loaded at run time (RECH_ORT_LIB, or `rech models download onnxruntime`; for --gpu, its CUDA build `onnxruntime-gpu`)",
        env!("CARGO_PKG_VERSION"),
        rech_whisper::whisper_cpp_version(),
        backends.join(", "),
        if rech_whisper::has_gpu_backend() {
            ""
        } else {
            "; no GPU back end in this build"
        },
        if features.is_empty() {
            "none reported".to_owned()
        } else {
            features.join(" ")
        }
    )
}

#[derive(Debug, Parser)]
#[command(name = "rech", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Print progress details; twice (-vv) adds whisper.cpp's own log.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    verbose: u8,
    /// Print nothing but results and errors.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    quiet: bool,
    /// Never use the network: no model downloads.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "RECH_OFFLINE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    offline: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Transcribe audio files (WAV, MP3, FLAC, OGG, M4A; `-` for stdin) into text or subtitles.
    Transcribe(Box<transcribe::TranscribeArgs>),
    /// List, download, locate and remove models (Whisper, GigaAM-v3, Silero VAD) and ONNX
    /// Runtime.
    Models(models::ModelsArgs),
    /// List the audio input devices (microphones) and what they support.
    Devices(devices::DevicesArgs),
    /// Record from a microphone into a WAV file (16 kHz mono 16-bit unless --native).
    Record(record::RecordArgs),
    /// Live dictation: speak, and each finished phrase is printed as a line.
    Dictate(dictate::DictateArgs),
    /// Serve a model over HTTP(S): OpenAI's transcription API, live dictation over WebSocket,
    /// a web page at / for uploads and dictation, health, readiness and Prometheus metrics.
    Serve(Box<serve::ServeArgs>),
    /// Score transcripts against references: word and character error rates with Russian
    /// normalisation, per system and per recording.
    Eval(eval::EvalArgs),
}

/// A mistake in how rech was called: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The run was interrupted by Ctrl-C: exit code 130.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// What every subcommand gets besides its arguments.
pub struct Context {
    /// Suppress everything but results and errors.
    pub quiet: bool,
    /// Verbosity level (count of `-v`).
    pub verbose: u8,
    /// `--offline` / `RECH_OFFLINE`: no network access.
    pub offline: bool,
    /// Raised by the first Ctrl-C; every long operation watches it.
    pub interrupted: CancelToken,
}

fn main() -> ExitCode {
    let (cli, build) = match parse_command_line() {
        Ok(parsed) => parsed,
        Err(err) => return usage_error(&err),
    };
    if matches!(cli.command, Command::Transcribe(_) | Command::Serve(_)) {
        rech::threads::choose_openmp_waiting(matches!(cli.command, Command::Transcribe(_)));
    }
    init_logging(cli.verbose, cli.quiet);
    if let Some(choice) = rech::threads::openmp_choice() {
        log::info!(
            "OpenMP threads wait by {choice}; set OMP_WAIT_POLICY or GOMP_SPINCOUNT to choose"
        );
    }
    for line in build.lines() {
        log::info!("{line}");
    }
    let interrupted = CancelToken::new();
    let flag = interrupted.clone();
    // First Ctrl-C: ask the work to stop cleanly (no partial files). Second: leave now.
    let _ = ctrlc::set_handler(move || {
        if flag.as_flag().swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let ctx = Context {
        quiet: cli.quiet,
        verbose: cli.verbose,
        offline: cli.offline,
        interrupted,
    };
    let result = match cli.command {
        Command::Transcribe(args) => transcribe::run(*args, &ctx),
        Command::Models(args) => models::run(args, &ctx),
        Command::Devices(args) => devices::run(args, &ctx),
        Command::Record(args) => record::run(args, &ctx),
        Command::Dictate(args) => dictate::run(args, &ctx),
        Command::Serve(args) => serve::run(*args, &ctx),
        Command::Eval(args) => eval::run(args, &ctx),
    };
    match result {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// A command line clap rejects, as one `rech: error: …` line with clap's own tip (the
/// similar argument, the values allowed) and exit code 2; help and version are printed as clap
/// prints them.
fn usage_error(err: &clap::Error) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return if err.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let _ = writeln!(
        io::stderr(),
        "rech: error: {}",
        one_line(&err.render().to_string())
    );
    ExitCode::from(2)
}

/// clap's message (the error and its tips, without the usage that follows) on one line: `unexpected argument '--typ' found; tip: a similar argument exists: '--type'`.
fn one_line(rendered: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        match parts.last_mut() {
            // The arguments listed under "were not provided:" go after it.
            Some(last) if last.ends_with(':') => {
                last.push(' ');
                last.push_str(line);
            }
            _ => parts.push(line.to_owned()),
        }
    }
    if parts.is_empty() {
        return "invalid arguments (see --help)".into();
    }
    format!("{} (see --help)", parts.join("; "))
}

fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        // The reader went away (`rech … | head`): not an error worth a message.
        return ExitCode::SUCCESS;
    }
    if err.downcast_ref::<Interrupted>().is_some() {
        let _ = writeln!(io::stderr(), "rech: interrupted");
        return ExitCode::from(130);
    }
    let _ = writeln!(io::stderr(), "rech: error: {err:#}");
    if err.downcast_ref::<UsageError>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// True when the error chain holds a broken pipe on stdout.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8, quiet: bool) {
    // whisper.cpp's log (target `whisper_rs`), symphonia's complaints about the files it
    // probes and the PulseAudio client's (which reports its own disconnection at exit as an
    // error) stay silent unless -vv: our own errors already say what went wrong.
    let filter = match (quiet, verbose) {
        (true, _) => "error,whisper_rs=off,symphonia=off,pulseaudio=off",
        (false, 0) => "warn,whisper_rs=off,symphonia=off,pulseaudio=off",
        (false, 1) => "info,whisper_rs=off,symphonia=off,pulseaudio=off",
        (false, _) => "debug",
    };
    env_logger::Builder::new()
        .parse_filters(filter)
        .parse_env("RECH_LOG")
        .format_timestamp(None)
        .format_target(false)
        .init();
    engine::install_log_routing();
}
