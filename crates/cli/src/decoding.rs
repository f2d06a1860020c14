//! How Whisper decodes, as `rech transcribe` takes it: whisper-cli's knobs under whisper-cli's
//! names and defaults (beam, best-of, temperature fallback and its thresholds, context,
//! suppression), read into rech-whisper's options in one place.

use anyhow::Result;
use clap::Args;
use rech_whisper::{Decoding, EncoderWindow, WhisperOptions};

use crate::engine::WhisperOnly;
use crate::UsageError;

/// Whisper's decoding options. Each is an `Option` so that a GigaAM run can tell which were
/// given; the defaults are rech-whisper's, which are whisper-cli 1.8.3's.
#[derive(Debug, Args)]
#[command(next_help_heading = "Decoding (Whisper models)")]
pub struct DecodingArgs {
    /// Beam search with N beams instead of greedy decoding (whisper-cli's default is 5: slower,
    /// sometimes better).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub beam_size: Option<u32>,

    /// Candidates sampled at each fallback temperature, the likeliest kept [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub best_of: Option<u32>,

    /// Sampling temperature of the first attempt [default: 0, deterministic].
    #[arg(long, value_name = "T", value_parser = unit_interval)]
    pub temperature: Option<f32>,

    /// Added to the temperature each time a window is decoded again because its text looked
    /// like a loop or was unlikely [default: 0.2; 0 never retries].
    #[arg(long, value_name = "T", value_parser = unit_interval)]
    pub temperature_inc: Option<f32>,

    /// Do not retry at higher temperatures when decoding fails (faster, may loop); the same as
    /// --temperature-inc 0.
    #[arg(long, conflicts_with = "temperature_inc")]
    pub no_fallback: bool,

    /// Retry a window whose last tokens' entropy is below this: repeated text [default: 2.4].
    #[arg(long, value_name = "X", value_parser = finite, allow_negative_numbers = true)]
    pub entropy_thold: Option<f32>,

    /// Retry a window whose mean token log-probability is below this [default: -1.0].
    #[arg(long, value_name = "X", value_parser = finite, allow_negative_numbers = true)]
    pub logprob_thold: Option<f32>,

    /// A window more likely than this to hold no speech, and unlikely text, is dropped as
    /// silence [default: 0.6].
    #[arg(long, value_name = "P", value_parser = unit_interval)]
    pub no_speech_thold: Option<f32>,

    /// At most N tokens of the preceding text as context; 0 decodes every window on its own
    /// (slower to drift into a loop, worse at names) [default: whisper.cpp's 16384].
    #[arg(long, value_name = "N")]
    pub max_context: Option<u32>,

    /// Never write non-speech tokens (music notes, brackets, speaker labels).
    #[arg(long)]
    pub suppress_nst: bool,

    /// Never write a token whose whole text matches REGEX (Rust regex syntax, over the token's
    /// UTF-8; `(?-u)` matches bytes, as whisper-cli does), e.g. '[0-9]+' to spell numbers out.
    #[arg(long, value_name = "REGEX")]
    pub suppress_regex: Option<String>,

    /// Text that precedes the audio: names, terms, punctuation style.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// Translate into English instead of transcribing.
    #[arg(long)]
    pub translate: bool,

    /// Split segments longer than N characters.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_len: Option<u32>,

    /// With --max-len, split only between words [default: true; false splits between any two
    /// tokens, as whisper-cli does without --split-on-word].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          require_equals = true, requires = "max_len")]
    pub split_on_word: Option<bool>,

    /// Encode only as much of Whisper's 30 s window as a short input fills (after VAD, the
    /// speech it kept): a 5 s file costs a sixth of the encoder work. Whisper was trained on
    /// full windows, so real models can lose some accuracy; longer inputs are not affected.
    #[arg(long)]
    pub fit_window: bool,
}

impl DecodingArgs {
    /// The engine options these ask for, over rech-whisper's defaults.
    pub fn whisper_options(&self) -> Result<WhisperOptions> {
        if self.prompt.as_deref().is_some_and(|p| p.contains('\0')) {
            return Err(UsageError("--prompt must not contain NUL characters".into()).into());
        }
        // Before any model is downloaded; the token count needs the model (engine.rs).
        if let Some(prompt) = self.prompt.as_deref() {
            if prompt.len() > rech_whisper::MAX_PROMPT_BYTES {
                return Err(UsageError(format!(
                    "--prompt is {} bytes long; Whisper takes at most {} tokens ({} bytes)",
                    prompt.len(),
                    rech_whisper::MAX_PROMPT_TOKENS,
                    rech_whisper::MAX_PROMPT_BYTES
                ))
                .into());
            }
        }
        let defaults = WhisperOptions::default();
        Ok(WhisperOptions {
            translate: self.translate,
            decoding: match self.beam_size {
                Some(beam_size) => Decoding::BeamSearch { beam_size },
                None => Decoding::Greedy,
            },
            best_of: self.best_of.unwrap_or(defaults.best_of),
            temperature: self.temperature.unwrap_or(defaults.temperature),
            temperature_increment: if self.no_fallback {
                0.0
            } else {
                self.temperature_inc
                    .unwrap_or(defaults.temperature_increment)
            },
            entropy_threshold: self.entropy_thold.unwrap_or(defaults.entropy_threshold),
            logprob_threshold: self.logprob_thold.unwrap_or(defaults.logprob_threshold),
            no_speech_threshold: self.no_speech_thold.unwrap_or(defaults.no_speech_threshold),
            max_context_tokens: self.max_context,
            suppress_non_speech: self.suppress_nst,
            suppress_regex: self.suppress_regex.clone(),
            initial_prompt: self.prompt.clone(),
            max_segment_chars: self.max_len,
            split_on_word: self.split_on_word.unwrap_or(defaults.split_on_word),
            encoder_window: if self.fit_window {
                EncoderWindow::Fitted
            } else {
                EncoderWindow::Full
            },
            ..defaults
        })
    }

    /// The options here, as given, for refusing them with a GigaAM model.
    pub fn whisper_only(&self) -> Vec<WhisperOnly> {
        vec![
            ("--translate", self.translate),
            ("--beam-size", self.beam_size.is_some()),
            ("--best-of", self.best_of.is_some()),
            ("--temperature", self.temperature.is_some()),
            ("--temperature-inc", self.temperature_inc.is_some()),
            ("--entropy-thold", self.entropy_thold.is_some()),
            ("--logprob-thold", self.logprob_thold.is_some()),
            ("--no-speech-thold", self.no_speech_thold.is_some()),
            ("--max-context", self.max_context.is_some()),
            ("--suppress-nst", self.suppress_nst),
            ("--suppress-regex", self.suppress_regex.is_some()),
            ("--prompt", self.prompt.is_some()),
            ("--fit-window", self.fit_window),
            ("--max-len", self.max_len.is_some()),
        ]
    }
}

/// A number from 0 to 1.
fn unit_interval(text: &str) -> Result<f32, String> {
    let value = finite(text)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside 0..=1"))
    }
}

/// A finite number.
fn finite(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(format!("{text:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        decoding: DecodingArgs,
    }

    fn options(args: &[&str]) -> WhisperOptions {
        let probe = Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        probe.decoding.whisper_options().unwrap()
    }

    #[test]
    fn defaults_are_whisper_clis() {
        let defaults = options(&[]);
        assert_eq!(defaults, WhisperOptions::default());
        assert_eq!(defaults.best_of, 5);
        assert_eq!(defaults.temperature_increment, 0.2);
        assert_eq!(defaults.entropy_threshold, 2.4);
        assert_eq!(defaults.logprob_threshold, -1.0);
        assert_eq!(defaults.no_speech_threshold, 0.6);
    }

    #[test]
    fn every_knob_reaches_the_engine() {
        let o = options(&[
            "--beam-size=5",
            "--best-of=3",
            "--temperature=0.1",
            "--temperature-inc=0.3",
            "--entropy-thold=2.0",
            "--logprob-thold",
            "-0.5",
            "--no-speech-thold=0.4",
            "--max-context=0",
            "--suppress-nst",
            "--suppress-regex=[0-9]+",
            "--max-len=20",
            "--split-on-word=false",
        ]);
        assert_eq!(o.decoding, Decoding::BeamSearch { beam_size: 5 });
        assert_eq!(
            (o.best_of, o.temperature, o.temperature_increment),
            (3, 0.1, 0.3)
        );
        assert_eq!(
            (
                o.entropy_threshold,
                o.logprob_threshold,
                o.no_speech_threshold
            ),
            (2.0, -0.5, 0.4)
        );
        assert_eq!(o.max_context_tokens, Some(0));
        assert!(o.suppress_non_speech);
        assert_eq!(o.suppress_regex.as_deref(), Some("[0-9]+"));
        assert_eq!((o.max_segment_chars, o.split_on_word), (Some(20), false));
        assert_eq!(options(&["--no-fallback"]).temperature_increment, 0.0);
    }

    #[test]
    fn out_of_range_values_are_usage_errors() {
        for bad in [
            &["--beam-size=9"][..],
            &["--best-of=0"],
            &["--temperature=1.5"],
            &["--no-speech-thold=nan"],
            &["--no-fallback", "--temperature-inc=0.2"],
            &["--split-on-word"],
        ] {
            let args = std::iter::once("probe").chain(bad.iter().copied());
            assert!(Probe::try_parse_from(args).is_err(), "{bad:?} was taken");
        }
    }
}
