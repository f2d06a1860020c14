//! `rech transcribe`: decode each input, transcribe it with one loaded model, and write every
//! requested format; one bad input does not stop the others.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context as _, Result};
use clap::Args;
use rech::batch::Step;
use rech::file::{Clip, FileError, FileOptions, Input as Source};
use rech_asr::output::RenderOptions;
use rech_asr::subtitles::CueLimits;
use rech_asr::{Transcriber, Transcript, WindowOptions};

use crate::batch::{expand_inputs, Input, Shard};
use crate::engine::{self, language_arg};
use crate::output::Format;
use crate::progress::{Progress, ProgressMode};
use crate::running::{new_transcriber, RunArgs};
use crate::speakers::SpeakerArgs;
use crate::{Context, Interrupted, UsageError};
use rech::outputs::{self, check_writable_dir, write_atomically, NamingError};

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Audio or video files, or directories of them, to transcribe (WAV, MP3, FLAC, Ogg,
    /// Opus, M4A/MP4/MOV, WebM/MKV, AIFF, CAF, W64; anything else through ffmpeg when it is
    /// installed); `-` reads stdin (a WAV there streams, e.g. from `ffmpeg -i IN -f wav -`).
    // Not required by clap: `-l list` needs none, and none is one usage error at run time.
    #[arg(help_heading = "Input", value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Also transcribe the audio files in subdirectories of directory inputs.
    #[arg(help_heading = "Input", short, long)]
    recursive: bool,

    /// Read more input paths from FILE, one per line (`#` starts a comment; `-` is stdin).
    #[arg(help_heading = "Input", long, value_name = "FILE")]
    from_list: Option<PathBuf>,

    /// Skip inputs whose output files all exist already, so an interrupted batch resumes.
    #[arg(help_heading = "Input", long)]
    skip_existing: bool,

    /// Transcribe only the K-th of N slices of the (sorted) input list, e.g. 3/8, to spread a
    /// batch over N machines.
    #[arg(help_heading = "Input", long, value_name = "K/N")]
    shard: Option<Shard>,

    /// Start this far into each input: seconds (90.5), MM:SS (1:30) or HH:MM:SS, with an
    /// optional fraction. Times in the output stay those of the whole file.
    #[arg(help_heading = "Input", long, value_name = "TIME", value_parser = parse_time)]
    offset: Option<f64>,

    /// Transcribe only this much of each input (after --offset), in the same units.
    #[arg(help_heading = "Input", long, value_name = "TIME", value_parser = parse_positive_time)]
    duration: Option<f64>,

    /// Model: a catalogue name (small, gigaam-v3-e2e-rnnt-int8; see `rech models list`), the
    /// name of a model downloaded with `rech models download --url`, a whisper.cpp ggml file,
    /// or a GigaAM-v3 .onnx file (its other files beside it) or directory [default:
    /// gigaam-v3-e2e-rnnt-int8 for Russian, medium-q8_0 with another -l, auto, --translate or
    /// another Whisper-only option; downloaded on first use].
    #[arg(
        help_heading = "Model",
        short,
        long,
        env = "RECH_MODEL",
        value_name = "NAME|PATH"
    )]
    model: Option<PathBuf>,

    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    speakers: SpeakerArgs,

    /// Output format; repeat or separate with commas for several [default: the extension of
    /// -o FILE, else txt].
    #[arg(
        help_heading = "Output",
        short,
        long = "format",
        value_enum,
        value_delimiter = ',',
        value_name = "FORMAT"
    )]
    formats: Vec<Format>,

    /// Write the result to FILE (`-` for stdout); one input and one format only. Its extension
    /// chooses the format when -f is not given (-o talk.srt writes SRT).
    #[arg(help_heading = "Output", short, long, value_name = "FILE", conflicts_with_all = ["output_dir", "output_template"])]
    output: Option<PathBuf>,

    /// Write one file per input and format into DIR, named after the input (talk.mp3 →
    /// DIR/talk.srt); the files of a directory input keep their subdirectories
    /// (ep1/audio.mp3 → DIR/ep1/audio.srt).
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Name each output file from a template (under --output-dir when given): {stem} (talk),
    /// {name} (talk.mp3), {dir} (the input's directory), {subdir} (its directory under the
    /// directory input it was found in), {ext} (srt), {format} (verbose_json), {lang} (ru).
    /// E.g. '{dir}/{stem}.{ext}' writes beside each input [default: {subdir}/{stem}.{ext}].
    #[arg(help_heading = "Output", long, value_name = "TEMPLATE")]
    output_template: Option<String>,

    /// Subtitles (srt, vtt): characters per line, cut between words.
    #[arg(help_heading = "Output", long, value_name = "N", default_value_t = 42,
          value_parser = clap::value_parser!(u16).range(8..=1000))]
    max_line_width: u16,

    /// Subtitles (srt, vtt): lines per cue.
    #[arg(help_heading = "Output", long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=20))]
    max_line_count: u16,

    /// Subtitles (srt, vtt): seconds a cue may stay on screen.
    #[arg(help_heading = "Output", long, value_name = "SECONDS", default_value_t = 7.0, value_parser = parse_cue_duration)]
    max_cue_duration: f64,

    /// Time every word (JSON gets a `words` list per segment).
    #[arg(help_heading = "Output", long)]
    word_timestamps: bool,

    /// Progress on stderr: bars on a terminal (auto), bars, plain lines every few seconds for
    /// logs and CI, or none.
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        value_name = "HOW",
        default_value = "auto"
    )]
    progress: ProgressMode,
}

/// Where one input's results go.
enum Destination {
    /// Standard output; with a header line per input when there are several.
    Stdout {
        headers: bool,
    },
    File(PathBuf),
    /// A file per input (outer) and format (inner, in the order of the formats).
    Files(Vec<Vec<PathBuf>>),
}

pub fn run(args: TranscribeArgs, ctx: &Context) -> Result<ExitCode> {
    if engine::list_languages(&args.run.language)? {
        return Ok(ExitCode::SUCCESS);
    }
    // Before any input is looked at: a wrong language is one usage error, not one per file.
    language_arg(&args.run.language)?;
    let formats = formats_of(&args)?;
    let inputs = expand_inputs(
        &args.inputs,
        args.recursive,
        args.from_list.as_deref(),
        args.shard,
        ctx.quiet,
    )?;
    if inputs.is_empty() {
        if let Some(shard) = args.shard {
            log::warn!("shard {}/{} has no inputs", shard.index, shard.count);
            return Ok(ExitCode::SUCCESS);
        }
        return Err(UsageError(
            "no inputs to transcribe (give files or directories, `-` for stdin, or --from-list)"
                .into(),
        )
        .into());
    }
    let destination = plan_destination(&args, &inputs, &formats, ctx)?;
    let render = RenderOptions {
        cues: CueLimits {
            max_line_width: usize::from(args.max_line_width),
            max_line_count: usize::from(args.max_line_count),
            max_cue_duration: args.max_cue_duration,
        },
    };
    let jobs = usize::from(args.run.jobs).min(inputs.len()).max(1);
    let (options, whisper_options) = args.run.options(args.word_timestamps)?;
    let threads = args.run.threads_per_job(jobs);
    let mut options = FileOptions {
        transcribe: options,
        windows: WindowOptions {
            window_seconds: args.run.window,
            ..WindowOptions::default()
        },
        clip: Clip {
            offset: args.offset.unwrap_or(0.0),
            duration: args.duration,
        },
        prompt: None,
        speakers: args.speakers.speakers(threads)?,
    };

    let work: Vec<usize> = (0..inputs.len())
        .filter(|&i| !(args.skip_existing && outputs_exist(&destination, i)))
        .collect();
    let skipped = inputs.len() - work.len();
    if skipped > 0 && !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "rech: skipping {skipped} of {} inputs whose outputs exist",
            inputs.len()
        );
    }
    if work.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let total = work.len();
    // Before any model is resolved or fetched: an input that is missing, empty or not audio
    // is one line now, and a run with nothing left to transcribe downloads nothing. An input
    // the options cannot apply to (speakers by channel on one channel) is a usage error.
    let mut kept = Vec::with_capacity(work.len());
    for i in work {
        match rech::file::check(&inputs[i].path, &options) {
            Ok(()) => kept.push(i),
            Err(e @ (FileError::OneChannel { .. } | FileError::NotAFile { .. })) => {
                return Err(UsageError(format!("--diarize channels: {e}")).into());
            }
            Err(e) => {
                let _ = writeln!(io::stderr(), "rech: error: {e}");
            }
        }
    }
    let work = kept;
    let unreadable = total - work.len();
    if work.is_empty() {
        return Ok(summary(unreadable, total));
    }

    let (_, engine) = engine::load_model(
        args.model.as_deref(),
        rech::Use::Files,
        options.transcribe.language.as_deref(),
        &args.run.whisper_only(),
        args.run.engine_options(whisper_options, jobs),
        threads,
        ctx,
    )?;
    let engine = engine.as_ref();
    crate::speakers::prepare(&mut options.speakers, threads, ctx)?;
    let vad_path = args.run.vad.model(ctx)?;
    let vad_options = args.run.vad.options();
    if let Some(path) = &vad_path {
        log::info!("voice activity detection with {}", path.display());
    }
    let make = || new_transcriber(engine, threads, vad_path.as_deref(), &vad_options, ctx);
    // Fail before any work if the model or VAD cannot make a transcriber.
    let first = make()?;

    let progress = Progress::new(args.progress, ctx.quiet, work.len());
    let failed = AtomicUsize::new(0);
    let stdout = Mutex::new(OrderedStdout::new(&work));
    let shared = Shared {
        inputs: &inputs,
        work: &work,
        formats: &formats,
        render: &render,
        destination: &destination,
        options: &options,
        progress: &progress,
        failed: &failed,
        stdout: &stdout,
        ctx,
    };
    let finished = rech::batch::run(
        jobs,
        work.len(),
        first,
        &make,
        &ctx.interrupted,
        &|slot, t| transcribe_slot(slot, t, &shared),
    );
    progress.finish();
    finished?;
    Ok(summary(failed.load(Ordering::SeqCst) + unreadable, total))
}

/// The exit code of a run in which `failed` of `total` inputs failed, with a line that counts
/// them when there were several.
fn summary(failed: usize, total: usize) -> ExitCode {
    if failed == 0 {
        return ExitCode::SUCCESS;
    }
    if total > 1 {
        let _ = writeln!(
            io::stderr(),
            "rech: {failed} of {total} inputs failed, {} transcribed",
            total - failed
        );
    }
    ExitCode::FAILURE
}

/// What every worker thread reads.
struct Shared<'a> {
    inputs: &'a [Input],
    /// Indices into `inputs` still to do, in order.
    work: &'a [usize],
    formats: &'a [Format],
    render: &'a RenderOptions,
    destination: &'a Destination,
    options: &'a FileOptions,
    progress: &'a Progress,
    failed: &'a AtomicUsize,
    stdout: &'a Mutex<OrderedStdout>,
    ctx: &'a Context,
}

/// The `slot`-th input still to do, transcribed and delivered: a failure is one line and
/// counts; Ctrl-C and a closed stdout end the batch.
fn transcribe_slot(
    slot: usize,
    transcriber: &mut Transcriber,
    shared: &Shared<'_>,
) -> Step<anyhow::Error> {
    if shared.ctx.interrupted.is_cancelled() {
        return Step::Stop(Interrupted.into());
    }
    let index = shared.work[slot];
    let input = &shared.inputs[index].path;
    let label = if shared.inputs.len() > 1 {
        format!("[{}/{}] {}", slot + 1, shared.work.len(), display(input))
    } else {
        display(input)
    };
    let mut seconds = 0.0;
    let transcribed = transcribe_one(input, &label, transcriber, shared);
    // The engine state may be broken after a panic: this input fails, the next gets a new one.
    let step = match &transcribed {
        Err(FileError::Panicked { .. }) => Step::Renew,
        _ => Step::Next,
    };
    let result = transcribed.map_err(file_error).and_then(|transcript| {
        // The audio transcribed, without what --offset skipped.
        seconds = (transcript.duration - shared.options.clip.offset).max(0.0);
        deliver(index, input, &transcript, shared)
    });
    shared.progress.file_done(seconds);
    match result {
        Ok(()) => step,
        Err(err) if err.downcast_ref::<Interrupted>().is_some() || crate::is_broken_pipe(&err) => {
            Step::Stop(err)
        }
        Err(err) => {
            shared.failed.fetch_add(1, Ordering::SeqCst);
            shared.progress.println(&format!("rech: error: {err:#}"));
            let done = shared
                .stdout
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .complete(index, None);
            match done {
                Ok(()) => step,
                Err(e) => Step::Stop(e),
            }
        }
    }
}

/// Decodes `input` as a stream and transcribes it window by window (rech's one per-file
/// path): memory stays flat however long the recording is.
fn transcribe_one(
    input: &Path,
    label: &str,
    transcriber: &mut Transcriber,
    shared: &Shared<'_>,
) -> Result<Transcript, FileError> {
    let started = Instant::now();
    let name = display(input);
    let input = if input.as_os_str() == "-" {
        Source::from_stream(display(input), rech_audio::open(input)?)
    } else {
        Source::open(input)?
    };
    let source = input.info().clone();
    let clip = shared.options.clip;
    let bar = shared
        .progress
        .file_bar(label, source.duration().map(|d| clip.length_of(d)));
    let mut report = |seconds: f64| bar.audio_done(seconds, started.elapsed().as_secs_f64());
    let result = input.transcribe(
        transcriber,
        shared.options,
        &shared.ctx.interrupted,
        &mut report,
    );
    bar.finish(result.as_ref().ok().map(|t| t.duration));
    let transcript = result?;
    let elapsed = started.elapsed().as_secs_f64();
    log::info!(
        "{name}: {:.1} s of audio ({} Hz, {} ch, {}) in {:.2} s, {}, {} segments",
        transcript.duration,
        source.sample_rate,
        source.channels,
        source.format,
        elapsed,
        crate::progress::speed(elapsed / transcript.duration.max(1e-9)),
        transcript.segments.len()
    );
    Ok(transcript)
}

/// A file's failure in the binary's words (Ctrl-C is [`Interrupted`]).
fn file_error(err: FileError) -> anyhow::Error {
    match err {
        e if e.is_cancelled() => Interrupted.into(),
        FileError::OffsetPastEnd {
            path,
            offset,
            length,
        } => anyhow!(
            "{}: --offset {} is past the end of the audio ({})",
            path.display(),
            crate::progress::clock(offset),
            crate::progress::clock(length)
        ),
        other => other.into(),
    }
}

/// A time on the command line: seconds (`90.5`), `MM:SS` or `HH:MM:SS`, with an optional
/// fraction.
fn parse_time(text: &str) -> Result<f64, String> {
    let invalid = || format!("{text:?} is not a time (seconds, MM:SS or HH:MM:SS)");
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() > 3 {
        return Err(invalid());
    }
    let mut seconds = 0.0;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let value: f64 = if last {
            part.parse().map_err(|_| invalid())?
        } else {
            part.parse::<u32>().map_err(|_| invalid())?.into()
        };
        if !value.is_finite() || value < 0.0 || (i > 0 && value >= 60.0) {
            return Err(invalid());
        }
        seconds = seconds * 60.0 + value;
    }
    Ok(seconds)
}

/// A time above zero.
fn parse_positive_time(text: &str) -> Result<f64, String> {
    match parse_time(text)? {
        t if t > 0.0 => Ok(t),
        _ => Err(format!("{text:?} is not a duration above zero")),
    }
}

/// Sends a finished transcript where it goes.
fn deliver(index: usize, input: &Path, transcript: &Transcript, shared: &Shared<'_>) -> Result<()> {
    let render = |format: &Format| format.render_with(transcript, shared.render);
    match shared.destination {
        Destination::Stdout { headers } => {
            let mut bytes = Vec::new();
            if *headers {
                // As `head` and `tail` mark each file among several.
                bytes.extend_from_slice(format!("==> {} <==\n", display(input)).as_bytes());
            }
            for format in shared.formats {
                bytes.extend_from_slice(render(format).as_bytes());
            }
            if *headers {
                bytes.push(b'\n');
            }
            shared
                .stdout
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .complete(index, Some(bytes))?;
        }
        Destination::File(path) => {
            write_atomically(path, render(&shared.formats[0]).as_bytes())
                .with_context(|| format!("{}: cannot save the result", display(input)))?;
        }
        Destination::Files(paths) => {
            for (format, path) in shared.formats.iter().zip(&paths[index]) {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        anyhow!(
                            "cannot create {}: {}",
                            parent.display(),
                            outputs::describe(&e)
                        )
                    })?;
                }
                write_atomically(path, render(format).as_bytes())
                    .with_context(|| format!("{}: cannot save the result", display(input)))?;
            }
        }
    }
    Ok(())
}

/// Whether every output file of input `index` exists (for `--skip-existing`).
fn outputs_exist(destination: &Destination, index: usize) -> bool {
    match destination {
        Destination::Stdout { .. } => false,
        Destination::File(path) => path.is_file(),
        Destination::Files(paths) => paths[index].iter().all(|p| p.is_file()),
    }
}

/// Prints results on stdout in input order, whichever job finishes first.
struct OrderedStdout {
    /// Input indices in the order their results must appear.
    order: Vec<usize>,
    /// Position in `order` of the next result to print.
    next: usize,
    /// Finished results waiting for their turn (`None`: the input failed, nothing to print).
    ready: BTreeMap<usize, Option<Vec<u8>>>,
}

impl OrderedStdout {
    fn new(order: &[usize]) -> Self {
        Self {
            order: order.to_vec(),
            next: 0,
            ready: BTreeMap::new(),
        }
    }

    fn complete(&mut self, index: usize, bytes: Option<Vec<u8>>) -> Result<()> {
        self.ready.insert(index, bytes);
        let mut out = io::stdout().lock();
        while let Some(&due) = self.order.get(self.next) {
            let Some(result) = self.ready.remove(&due) else {
                break;
            };
            if let Some(bytes) = result {
                out.write_all(&bytes).context("cannot write to stdout")?;
            }
            self.next += 1;
        }
        out.flush().context("cannot write to stdout")?;
        Ok(())
    }
}

fn parse_cue_duration(s: &str) -> Result<f64, String> {
    let seconds: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.5..=600.0).contains(&seconds) {
        return Err("a cue lasts 0.5 to 600 seconds".into());
    }
    Ok(seconds)
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

/// The formats asked for: `-f`, else the one `-o FILE`'s extension names, else txt. An `-o`
/// that is only a format's name (whisper-cli's `-osrt` habit) is a usage error.
fn formats_of(args: &TranscribeArgs) -> Result<Vec<Format>> {
    if let Some(output) = &args.output {
        let text = output.to_string_lossy();
        if let Some(format) = Format::ALL
            .iter()
            .find(|f| f.name() == text || f.extension() == text)
        {
            if !output.exists() {
                return Err(UsageError(format!(
                    "-o {text} names a file called {text:?}; for the format, use -f {} \
                     (and -o FILE for where it goes)",
                    format.name()
                ))
                .into());
            }
        }
    }
    if !args.formats.is_empty() {
        return Ok(dedup(&args.formats));
    }
    let from_extension = args
        .output
        .as_ref()
        .and_then(|o| o.extension())
        .and_then(|e| e.to_str())
        .and_then(rech_asr::output::Format::from_extension)
        .map(Format);
    Ok(vec![from_extension.unwrap_or(Format::TXT)])
}

fn plan_destination(
    args: &TranscribeArgs,
    inputs: &[Input],
    formats: &[Format],
    ctx: &Context,
) -> Result<Destination> {
    if let Some(output) = &args.output {
        if inputs.len() > 1 || formats.len() > 1 {
            return Err(UsageError(
                "--output takes one input and one format; use --output-dir for more".into(),
            )
            .into());
        }
        if output.as_os_str() == "-" {
            return Ok(Destination::Stdout { headers: false });
        }
        if output.is_dir() {
            return Err(UsageError(format!(
                "--output {} is a directory; did you mean --output-dir?",
                output.display()
            ))
            .into());
        }
        // Before any work: an hour transcribed into a directory that is not there is lost.
        check_destination_dir(output)?;
        return Ok(Destination::File(output.clone()));
    }
    if args.output_dir.is_some() || args.output_template.is_some() {
        if let Some(dir) = &args.output_dir {
            check_writable_dir(dir)?;
        }
        let paths = output_paths(args, inputs, formats)?;
        return Ok(Destination::Files(paths));
    }
    if formats.len() > 1 {
        return Err(UsageError("several formats need --output-dir DIR".into()).into());
    }
    if inputs.len() > 1 && formats[0] != Format::TXT {
        return Err(UsageError(format!(
            "several inputs in {} format need --output-dir DIR (only txt can share stdout)",
            formats[0].name()
        ))
        .into());
    }
    Ok(Destination::Stdout {
        headers: inputs.len() > 1 && !ctx.quiet,
    })
}

/// Checks that the directory `-o FILE` goes in exists and takes new files.
fn check_destination_dir(output: &Path) -> Result<()> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(anyhow!(
                "cannot write {}: {} is not a directory",
                output.display(),
                dir.display()
            ))
        }
        Err(e) => {
            return Err(anyhow!(
                "cannot write {}: {}: {}",
                output.display(),
                dir.display(),
                outputs::describe(&e)
            ))
        }
    }
    if output.exists() {
        // An existing file is rewritten; whether that is allowed shows when it is opened.
        return Ok(());
    }
    Ok(check_writable_dir(dir)?)
}

/// Every input's output files, one per format (`rech::outputs::output_paths`), with a bad
/// template or a clash as a usage error that names the flag.
fn output_paths(
    args: &TranscribeArgs,
    inputs: &[Input],
    formats: &[Format],
) -> Result<Vec<Vec<PathBuf>>> {
    let formats: Vec<_> = formats.iter().map(|f| f.0).collect();
    let base = args.output_dir.clone().unwrap_or_default();
    outputs::output_paths(
        args.output_template.as_deref(),
        &base,
        inputs,
        &formats,
        &args.run.language,
    )
    .map_err(|e| {
        UsageError(match e {
            NamingError::Unclosed { template } => {
                format!("--output-template {template:?} has an unclosed {{")
            }
            NamingError::UnknownPlaceholder { placeholder, .. } => format!(
                "--output-template: unknown placeholder {{{placeholder}}} (use {{stem}}, \
                 {{name}}, {{dir}}, {{subdir}}, {{ext}}, {{format}} or {{lang}})"
            ),
            NamingError::Empty { template } => {
                format!("--output-template {template:?} makes an empty file name")
            }
            NamingError::Clash {
                path,
                first,
                second,
            } => {
                let what = if first.0 == second.0 {
                    format!(
                        "the {} and {} outputs of {}",
                        first.1.name(),
                        second.1.name(),
                        first.0.display()
                    )
                } else {
                    format!("{} and {}", first.0.display(), second.0.display())
                };
                format!(
                    "{what} would both be written to {}; name the outputs apart with \
                     --output-template (e.g. {{stem}}.{{format}}.{{ext}})",
                    path.display()
                )
            }
            other => other.to_string(),
        })
        .into()
    })
}

fn display(input: &Path) -> String {
    if input.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        input.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_seconds_or_clock_times() {
        assert_eq!(parse_time("90.5"), Ok(90.5));
        assert_eq!(parse_time("1:30"), Ok(90.0));
        assert_eq!(parse_time("1:02:03.5"), Ok(3723.5));
        for bad in ["", "-1", "1:60", "a", "1:2:3:4", "inf", "1:-5"] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
        assert!(parse_positive_time("0").is_err());
    }
}
