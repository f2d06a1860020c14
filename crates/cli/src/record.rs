//! `rech record`: microphone to a WAV file — 16 kHz mono 16-bit by default, the device's own
//! rate and channels with `--native`. Ctrl-C, `--duration` or a failing device all end with a
//! complete, playable file.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Args;
use rech_audio::{Capture, CaptureOptions, WavRecorder};

use crate::{Context, UsageError};

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The WAV file to write (replaced if it exists).
    #[arg(value_name = "OUT.wav")]
    output: PathBuf,

    /// Input device: index, id or a unique part of its name (see `rech devices`).
    #[arg(short, long, env = "RECH_DEVICE", value_name = "DEVICE")]
    device: Option<String>,

    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,

    /// Keep the device's own sample rate and channels instead of 16 kHz mono.
    #[arg(long)]
    native: bool,
}

pub fn run(args: RecordArgs, ctx: &Context) -> Result<ExitCode> {
    if let Some(seconds) = args.duration {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(UsageError(format!(
                "--duration must be a positive number of seconds, not {seconds}"
            ))
            .into());
        }
    }
    let mut capture = Capture::open(&CaptureOptions {
        device: args.device.clone(),
        native: args.native,
        ..CaptureOptions::default()
    })?;
    let info = capture.info().clone();
    let mut wav = WavRecorder::create(&args.output, info.rate, info.channels)?;
    let channels = usize::from(info.channels);
    let limit = args
        .duration
        .map(|s| (s * f64::from(info.rate)).round() as u64 * channels as u64);
    if !ctx.quiet {
        let _ = writeln!(
            io::stderr(),
            "rech: recording from {} ({} Hz, {} ch, {}) into {} at {} Hz, {} ch; Ctrl-C stops",
            info.device.id,
            info.device_rate,
            info.device_channels,
            info.device_format,
            args.output.display(),
            info.rate,
            info.channels
        );
    }

    let mut buf = Vec::new();
    let mut written: u64 = 0;
    let mut failure = None;
    loop {
        let stop = ctx.interrupted.is_cancelled() || limit.is_some_and(|l| written >= l);
        if stop {
            break;
        }
        buf.clear();
        if let Err(err) = capture.read(&mut buf, Duration::from_millis(100)) {
            failure = Some(err);
            break;
        }
        let take = match limit {
            Some(l) => buf.len().min((l - written) as usize),
            None => buf.len(),
        };
        wav.write(&buf[..take])?;
        written += take as u64;
    }
    if failure.is_none() && limit.is_none_or(|l| written < l) {
        // Ctrl-C: keep what is still in the ring and the resampler's tail.
        buf.clear();
        capture.finish(&mut buf);
        let take = match limit {
            Some(l) => buf.len().min((l - written) as usize),
            None => buf.len(),
        };
        let take = take / channels * channels;
        wav.write(&buf[..take])?;
    }
    let dropped = capture.dropped_frames();
    let overruns = capture.device_overruns();
    drop(capture);
    let path = wav.path().display().to_string();
    let seconds = wav.finalize()?;
    if let Some(err) = failure {
        return Err(anyhow!(
            "{err}; the {seconds:.1} s recorded before are in {path}"
        ));
    }
    if dropped > 0 || overruns > 0 {
        let _ = writeln!(
            io::stderr(),
            "rech: warning: audio was lost: {dropped} frames ({:.2} s) dropped, {overruns} device overruns",
            dropped as f64 / f64::from(info.device_rate)
        );
    }
    if !ctx.quiet {
        let _ = writeln!(io::stderr(), "rech: recorded {seconds:.1} s into {path}");
    }
    Ok(ExitCode::SUCCESS)
}
