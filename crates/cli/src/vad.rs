//! Voice-activity detection as `rech transcribe` takes it: on or off, which Silero model, and
//! whisper-cli's tuning flags, read into rech-asr's options in one place.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use rech_asr::VadOptions;

use crate::models::{self, VadWanted};
use crate::Context;

/// The VAD options of `rech transcribe`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Voice-activity detection")]
pub struct VadArgs {
    /// Skip silence with Silero VAD (on by default once the VAD model is downloaded; this
    /// fails if it cannot be had).
    #[arg(long, conflicts_with = "no_vad")]
    pub vad: bool,

    /// Transcribe everything, silence included.
    #[arg(long)]
    pub no_vad: bool,

    /// Silero VAD model: a file in whisper.cpp format, or silero-v6.2.0 [default: silero-v6.2.0,
    /// downloaded on first use].
    #[arg(long, env = "RECH_VAD_MODEL", value_name = "NAME|PATH")]
    pub vad_model: Option<PathBuf>,

    /// Speech probability above which a 32 ms frame is speech [default: 0.5].
    #[arg(long, value_name = "P", value_parser = probability)]
    pub vad_threshold: Option<f32>,

    /// Shorter bursts of speech are ignored, in milliseconds [default: 250].
    #[arg(long, value_name = "MS")]
    pub vad_min_speech: Option<u32>,

    /// Shorter pauses do not end speech, in milliseconds [default: 300].
    #[arg(long, value_name = "MS")]
    pub vad_min_silence: Option<u32>,

    /// Milliseconds of audio kept on both sides of speech, so that no word is clipped
    /// [default: 200].
    #[arg(long, value_name = "MS")]
    pub vad_pad: Option<u32>,

    /// Split speech that runs longer than this many seconds without a pause [default: never].
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub vad_max_speech: Option<f32>,
}

impl VadArgs {
    /// The detector's settings, over rech-asr's defaults.
    pub fn options(&self) -> VadOptions {
        let defaults = VadOptions::default();
        VadOptions {
            threshold: self.vad_threshold.unwrap_or(defaults.threshold),
            min_speech_ms: self.vad_min_speech.unwrap_or(defaults.min_speech_ms),
            min_silence_ms: self.vad_min_silence.unwrap_or(defaults.min_silence_ms),
            speech_pad_ms: self.vad_pad.unwrap_or(defaults.speech_pad_ms),
            max_speech_s: self.vad_max_speech.or(defaults.max_speech_s),
        }
    }

    /// Whether a tuning flag was given (they mean nothing with --no-vad).
    fn tuned(&self) -> Option<&'static str> {
        [
            (self.vad_threshold.is_some(), "--vad-threshold"),
            (self.vad_min_speech.is_some(), "--vad-min-speech"),
            (self.vad_min_silence.is_some(), "--vad-min-silence"),
            (self.vad_pad.is_some(), "--vad-pad"),
            (self.vad_max_speech.is_some(), "--vad-max-speech"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// The VAD model to use, if any: `--no-vad` wins; `--vad` insists on one (downloading it if
    /// needed); otherwise VAD follows [`VadWanted::DEFAULT`], and one line says when it is off.
    pub fn model(&self, ctx: &Context) -> Result<Option<PathBuf>> {
        if self.no_vad {
            if let Some(flag) = self.tuned() {
                return Err(crate::UsageError(format!(
                    "{flag} tunes VAD, which --no-vad turns off"
                ))
                .into());
            }
            return Ok(None);
        }
        let wanted = if self.vad {
            VadWanted::Required
        } else {
            VadWanted::DEFAULT
        };
        models::resolve_vad(
            self.vad_model.as_deref(),
            wanted,
            "transcribing silence too",
            ctx,
        )
    }
}

fn probability(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a probability from 0 to 1")),
    }
}

fn positive_seconds(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds above zero")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        vad: VadArgs,
    }

    fn parse(args: &[&str]) -> Result<VadArgs, clap::Error> {
        Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied())).map(|p| p.vad)
    }

    #[test]
    fn tuning_flags_reach_the_detector() {
        assert_eq!(parse(&[]).unwrap().options(), VadOptions::default());
        let tuned = parse(&[
            "--vad-threshold=0.35",
            "--vad-min-speech=100",
            "--vad-min-silence=500",
            "--vad-pad=30",
            "--vad-max-speech=20",
        ])
        .unwrap()
        .options();
        assert_eq!(
            tuned,
            VadOptions {
                threshold: 0.35,
                min_speech_ms: 100,
                min_silence_ms: 500,
                speech_pad_ms: 30,
                max_speech_s: Some(20.0),
            }
        );
        for bad in ["--vad-threshold=1.5", "--vad-max-speech=0", "--vad-pad=-1"] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
    }
}
