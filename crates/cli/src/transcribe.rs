//! `rech transcribe`: decode each input, transcribe it with one loaded model, and write every
//! requested format; one bad input does not stop the others.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context as _, Result};
use clap::Args;
use rech_asr::{Decoding, Model, TranscribeOptions, Transcriber, VadOptions, VoiceDetector};

use crate::files::{check_writable_dir, write_atomically};
use crate::models::{self, ResolvedModel, VadWanted};
use crate::output::Format;
use crate::progress::transcription_bar;
use crate::{Context, Interrupted, UsageError};

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Audio files to transcribe (WAV, MP3, FLAC, OGG/Vorbis, AAC/M4A); `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Whisper model: a catalogue name (small, large-v3-turbo-q5_0; see `rech models list`),
    /// the name of a model downloaded with `rech models download --url`, or a whisper.cpp ggml
    /// file [default: medium-q8_0, downloaded on first use].
    #[arg(short, long, env = "RECH_MODEL", value_name = "NAME|PATH")]
    model: Option<PathBuf>,

    /// Spoken language (ISO 639-1 code), or `auto` to detect it.
    #[arg(short, long, default_value = "ru", value_name = "LANG")]
    language: String,

    /// Output format; repeat or separate with commas for several.
    #[arg(
        short,
        long = "format",
        value_enum,
        value_delimiter = ',',
        default_value = "txt",
        value_name = "FORMAT"
    )]
    formats: Vec<Format>,

    /// Write the result to FILE (`-` for stdout); one input and one format only.
    #[arg(short, long, value_name = "FILE", conflicts_with = "output_dir")]
    output: Option<PathBuf>,

    /// Write one file per input and format into DIR, named after the input (talk.mp3 → talk.srt;
    /// talk.mp3.srt when another input is also called talk).
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Skip silence with Silero VAD (on by default once the VAD model is downloaded; this
    /// downloads it if needed).
    #[arg(long, conflicts_with = "no_vad")]
    vad: bool,

    /// Transcribe everything, silence included.
    #[arg(long)]
    no_vad: bool,

    /// Silero VAD model: a file in whisper.cpp format, or silero-v6.2.0 [default: silero-v6.2.0
    /// when downloaded].
    #[arg(long, env = "RECH_VAD_MODEL", value_name = "NAME|PATH")]
    vad_model: Option<PathBuf>,

    /// CPU threads [default: all cores, at most 8].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,

    /// Beam search with N beams instead of greedy decoding (slower, sometimes better).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=16))]
    beam_size: Option<u32>,

    /// Text that precedes the audio: names, terms, punctuation style.
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,

    /// Time every word (JSON gets a `words` list per segment).
    #[arg(long)]
    word_timestamps: bool,

    /// Translate into English instead of transcribing.
    #[arg(long)]
    translate: bool,

    /// Split segments longer than N characters (at word boundaries).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_len: Option<u32>,

    /// Do not retry at higher temperatures when decoding fails (faster, may loop).
    #[arg(long)]
    no_fallback: bool,

    /// Keep segments that are only known Whisper hallucinations («Продолжение следует...»).
    #[arg(long)]
    keep_hallucinations: bool,
}

/// Where one input's results go.
enum Destination {
    Stdout,
    File(PathBuf),
    /// A directory, and the base name of each input's files there, in input order.
    Dir(PathBuf, Vec<String>),
}

pub fn run(args: TranscribeArgs, ctx: &Context) -> Result<ExitCode> {
    let formats = dedup(&args.formats);
    let destination = plan_destination(&args, &formats)?;
    let options = options_from(&args)?;

    let resolved = models::resolve_whisper(args.model.as_deref(), ctx)?;
    let started = Instant::now();
    let model = Model::load(&resolved.path).map_err(|e| model_error(e, &resolved))?;
    log::info!(
        "loaded {} in {:.2} s",
        resolved.path.display(),
        started.elapsed().as_secs_f64()
    );

    let mut transcriber = Transcriber::new(&model)?;
    transcriber.set_cancel_flag(Arc::clone(&ctx.interrupted));
    if let Some(vad_path) = vad_model(&args, resolved.from_catalog, ctx)? {
        // One thread: Silero's graph is tiny and runs once per 32 ms step, so handing each step
        // to several threads costs far more than it saves (3.3 s of audio: 45 ms on 1 thread,
        // 14.6 s on 2 threads of a busy 2-core machine).
        let detector = VoiceDetector::load(&vad_path, 1, VadOptions::default())?;
        log::info!("voice activity detection with {}", vad_path.display());
        transcriber = transcriber.with_vad(detector);
    }

    let total = args.inputs.len();
    let mut failed = 0;
    for (index, input) in args.inputs.iter().enumerate() {
        if ctx.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
        let label = if total > 1 {
            format!("[{}/{}] {}", index + 1, total, display(input))
        } else {
            display(input)
        };
        match transcribe_one(
            input,
            index,
            &label,
            &mut transcriber,
            &options,
            &formats,
            &destination,
            ctx,
        ) {
            Ok(()) => {}
            Err(err) if err.downcast_ref::<Interrupted>().is_some() => return Err(err),
            Err(err) if crate::is_broken_pipe(&err) => return Err(err),
            Err(err) => {
                failed += 1;
                let _ = writeln!(io::stderr(), "rech: error: {err:#}");
            }
        }
    }
    if failed == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    if total > 1 {
        let _ = writeln!(
            io::stderr(),
            "rech: {failed} of {total} inputs failed, {} transcribed",
            total - failed
        );
    }
    Ok(ExitCode::FAILURE)
}

#[allow(clippy::too_many_arguments)]
fn transcribe_one(
    input: &Path,
    index: usize,
    label: &str,
    transcriber: &mut Transcriber,
    options: &TranscribeOptions,
    formats: &[Format],
    destination: &Destination,
    ctx: &Context,
) -> Result<()> {
    let bar = transcription_bar(ctx.quiet, label);
    bar.set_message("decoding");
    let started = Instant::now();
    let audio = rech_audio::decode_file(input)?;
    let decoded = started.elapsed();
    bar.set_message("transcribing");
    let result = transcriber.transcribe_with_progress(&audio.samples, options, &mut |fraction| {
        bar.set_position((fraction * 1000.0) as u64);
    });
    bar.finish_and_clear();
    let transcript = match result {
        Ok(t) => t,
        Err(rech_asr::Error::Cancelled) => return Err(Interrupted.into()),
        Err(e) => return Err(anyhow!("{}: {e}", display(input))),
    };
    let elapsed = started.elapsed().as_secs_f64();
    log::info!(
        "{}: {:.1} s of audio ({} Hz, {} ch, {}) in {:.2} s (decoding {:.2} s), {:.3}× real time, {} segments",
        display(input),
        transcript.duration,
        audio.source.sample_rate,
        audio.source.channels,
        audio.source.format,
        elapsed,
        decoded.as_secs_f64(),
        elapsed / transcript.duration.max(1e-9),
        transcript.segments.len()
    );
    match destination {
        Destination::Stdout => {
            let mut out = io::stdout().lock();
            for format in formats {
                out.write_all(format.render(&transcript).as_bytes())
                    .context("cannot write to stdout")?;
            }
            out.flush().context("cannot write to stdout")?;
        }
        Destination::File(path) => {
            write_atomically(path, formats[0].render(&transcript).as_bytes())?;
        }
        Destination::Dir(dir, names) => {
            for format in formats {
                let path = dir.join(format!("{}.{}", names[index], format.extension()));
                write_atomically(&path, format.render(&transcript).as_bytes())?;
            }
        }
    }
    Ok(())
}

fn dedup(formats: &[Format]) -> Vec<Format> {
    let mut out = Vec::new();
    for f in formats {
        if !out.contains(f) {
            out.push(*f);
        }
    }
    out
}

fn plan_destination(args: &TranscribeArgs, formats: &[Format]) -> Result<Destination> {
    if args.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(UsageError("standard input (-) can be read only once".into()).into());
    }
    if let Some(output) = &args.output {
        if args.inputs.len() > 1 || formats.len() > 1 {
            return Err(UsageError(
                "--output takes one input and one format; use --output-dir for more".into(),
            )
            .into());
        }
        if output.as_os_str() == "-" {
            return Ok(Destination::Stdout);
        }
        if output.is_dir() {
            return Err(UsageError(format!(
                "--output {} is a directory; did you mean --output-dir?",
                output.display()
            ))
            .into());
        }
        return Ok(Destination::File(output.clone()));
    }
    if let Some(dir) = &args.output_dir {
        let names = output_names(&args.inputs)?;
        check_writable_dir(dir)?;
        return Ok(Destination::Dir(dir.clone(), names));
    }
    if formats.len() > 1 {
        return Err(UsageError("several formats need --output-dir DIR".into()).into());
    }
    if args.inputs.len() > 1 && formats[0] != Format::Txt {
        return Err(UsageError(format!(
            "several inputs in {} format need --output-dir DIR (only txt can share stdout)",
            formats[0].extension()
        ))
        .into());
    }
    Ok(Destination::Stdout)
}

fn options_from(args: &TranscribeArgs) -> Result<TranscribeOptions> {
    let language = match args.language.as_str() {
        "auto" => None,
        lang => Some(lang.to_ascii_lowercase()),
    };
    if args.prompt.as_deref().is_some_and(|p| p.contains('\0')) {
        return Err(UsageError("--prompt must not contain NUL characters".into()).into());
    }
    Ok(TranscribeOptions {
        language,
        translate: args.translate,
        decoding: match args.beam_size {
            Some(beam_size) => Decoding::BeamSearch { beam_size },
            None => Decoding::Greedy,
        },
        temperature: 0.0,
        temperature_fallback: !args.no_fallback,
        initial_prompt: args.prompt.clone(),
        threads: args
            .threads
            .map_or_else(rech_asr::default_threads, usize::from),
        word_timestamps: args.word_timestamps,
        max_segment_chars: args.max_len,
        filter_hallucinations: !args.keep_hallucinations,
    })
}

/// The VAD model to use, if any: `--no-vad` wins; `--vad` insists on one (downloading it if
/// needed); otherwise VAD is on whenever the model is there, and a first-run catalogue model
/// brings it along.
fn vad_model(
    args: &TranscribeArgs,
    model_from_catalog: bool,
    ctx: &Context,
) -> Result<Option<PathBuf>> {
    if args.no_vad {
        return Ok(None);
    }
    let wanted = if args.vad {
        VadWanted::Required
    } else if model_from_catalog {
        VadWanted::Fetch
    } else {
        VadWanted::IfPresent
    };
    models::resolve_vad(args.vad_model.as_deref(), wanted, ctx)
}

fn model_error(err: rech_asr::Error, model: &ResolvedModel) -> anyhow::Error {
    match err {
        rech_asr::Error::ModelNotFound { .. }
        | rech_asr::Error::InvalidModel { .. }
        | rech_asr::Error::ModelUnreadable { .. } => {
            anyhow!("{err}; {}", models::repair_hint(model))
        }
        other => other.into(),
    }
}

/// Base names for each input's output files: the stem (`talk` for talk.mp3), or the whole file
/// name (`talk.mp3`) when several inputs share a stem. Inputs that still collide (the same file
/// name in two directories) are a usage error rather than a silent overwrite.
fn output_names(inputs: &[PathBuf]) -> Result<Vec<String>> {
    let mut stem_count: HashMap<String, usize> = HashMap::new();
    for input in inputs {
        *stem_count.entry(output_stem(input)).or_default() += 1;
    }
    let mut seen: HashMap<String, &Path> = HashMap::new();
    let mut names = Vec::with_capacity(inputs.len());
    for input in inputs {
        let stem = output_stem(input);
        let name = if stem_count[&stem] > 1 {
            input
                .file_name()
                .map_or(stem, |n| n.to_string_lossy().into_owned())
        } else {
            stem
        };
        if let Some(other) = seen.insert(name.clone(), input) {
            return Err(UsageError(format!(
                "{} and {} would both be written as {name}.*; transcribe them into different directories",
                other.display(),
                input.display()
            ))
            .into());
        }
        names.push(name);
    }
    Ok(names)
}

fn output_stem(input: &Path) -> String {
    if input.as_os_str() == "-" {
        return "stdin".to_owned();
    }
    input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_owned())
}

fn display(input: &Path) -> String {
    if input.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        input.display().to_string()
    }
}
