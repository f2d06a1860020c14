//! How a model transcribes, as `rech transcribe` and `rech eval` both take it: the language,
//! Whisper's decoding, VAD, hallucination filtering, jobs, threads and the GPU, read into
//! rech's options in one place so that a model scored by `rech eval` runs as `rech transcribe`
//! runs it.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use rech_asr::{Engine, TranscribeOptions, Transcriber};
use rech_whisper::WhisperOptions;

use crate::decoding::DecodingArgs;
use crate::engine::{language_arg, WhisperOnly};
use crate::gpu::GpuArgs;
use crate::vad::VadArgs;
use crate::Context;

/// The options that decide what a model makes of a recording and how fast.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Spoken language: an ISO 639-1 code (`ru`) or Whisper's English name (`russian`), `auto`
    /// to detect it, or `list` to print the languages.
    #[arg(
        help_heading = "Model",
        short,
        long,
        default_value = "ru",
        value_name = "LANG"
    )]
    pub language: String,

    #[command(flatten)]
    pub decoding: DecodingArgs,

    #[command(flatten)]
    pub vad: VadArgs,

    /// Keep segments that are only known Whisper hallucinations («Продолжение следует...»),
    /// and decoding loops (the same words over and over) whole instead of cut to one copy.
    #[arg(help_heading = "Output", long)]
    pub keep_hallucinations: bool,

    /// Length of the windows a long recording is cut into, in seconds (cut at a pause).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, hide = true,
          value_parser = parse_window)]
    pub window: f64,

    /// Transcribe N files at once, sharing one loaded model.
    #[arg(help_heading = "Performance", short, long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// GigaAM: how many copies of the model's encoder (nearly all its weights, about 230 MiB a
    /// copy of the int8 models) the jobs share [default: one per job, the fastest]; 1 holds the
    /// least memory, each encoder run then on all the jobs' threads.
    #[arg(help_heading = "Performance", long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub model_copies: Option<u16>,

    /// CPU threads per job [default: all cores, at most 8, shared among -j jobs].
    #[arg(help_heading = "Performance", short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,

    #[command(flatten)]
    pub gpu: GpuArgs,

    /// Low-memory mode: whisper.cpp's flash attention, which does not hold the encoder's
    /// attention matrices (51 MiB tiny, 69 MiB base, 103 MiB small, 137 MiB medium), but is
    /// 1.6-2x slower on CPU (see BENCHMARKS.md).
    #[arg(help_heading = "Performance", long)]
    pub flash_attn: bool,
}

impl RunArgs {
    /// The transcription options and Whisper's, with the GPU refused in a build without one.
    pub fn options(&self, word_timestamps: bool) -> Result<(TranscribeOptions, WhisperOptions)> {
        let language = language_arg(&self.language)?;
        let options = TranscribeOptions {
            language,
            word_timestamps,
            filter_hallucinations: !self.keep_hallucinations,
            temperature: None,
        };
        let whisper = self.gpu.whisper(WhisperOptions {
            flash_attention: self.flash_attn,
            ..self.decoding.whisper_options()?
        });
        Ok((options, whisper))
    }

    /// The engine's options for `jobs` jobs at once, with Whisper's `whisper`.
    pub fn engine_options(&self, whisper: WhisperOptions, jobs: usize) -> rech::EngineOptions {
        rech::EngineOptions {
            whisper,
            workers: jobs,
            model_copies: self.model_copies.map_or(0, usize::from),
            gpu: self.gpu.device(),
        }
    }

    /// The options only Whisper can honour, as given.
    pub fn whisper_only(&self) -> Vec<WhisperOnly> {
        let mut options = self.decoding.whisper_only();
        options.push(("--flash-attn", self.flash_attn));
        options
    }

    /// Threads per job when `jobs` run at once: `-t`, or the cores shared between the jobs
    /// rather than oversubscribed.
    pub fn threads_per_job(&self, jobs: usize) -> usize {
        match self.threads {
            Some(threads) => usize::from(threads),
            None => (rech_asr::default_threads() / jobs.max(1)).max(1),
        }
    }
}

/// A transcriber for one job: the engine on `threads` threads, cancelled with Ctrl-C, with
/// Silero VAD from `vad_path` when it is on.
pub fn new_transcriber(
    engine: &dyn Engine,
    threads: usize,
    vad_path: Option<&Path>,
    vad_options: &rech_asr::VadOptions,
    ctx: &Context,
) -> Result<Transcriber> {
    let mut transcriber = Transcriber::new(engine, threads)?;
    transcriber.set_cancel_token(ctx.interrupted.clone());
    if let Some(path) = vad_path {
        let detector = rech_asr::VoiceDetector::load(path, vad_options.clone())?;
        transcriber = transcriber.with_vad(detector);
    }
    Ok(transcriber)
}

fn parse_window(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (30.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a window length (30 to 3600 seconds)")),
    }
}
