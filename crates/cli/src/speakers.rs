//! Who spoke when, as `rech transcribe` and `rech serve` take it: `--diarize`, the number of
//! speakers, the speaker models, the speakers' names and the label of numbered ones, read into
//! `rech::file::Speakers` in one place.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use rech::asr::SpeakerNaming;
use rech::file::{Diarize, SpeakerCount, SpeakerModels, Speakers};

use crate::UsageError;

/// How speakers are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiarizeArg {
    /// By voice, in any recording: pyannote's speaker diarization (segmentation-3.0, a
    /// WeSpeaker embedding, clustering); the models are downloaded on first use.
    Voices,
    /// One speaker per channel (calls, two-microphone interviews): each channel is transcribed
    /// on its own, and where both speak at once, both are.
    Channels,
}

/// The speaker options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Speakers")]
pub struct SpeakerArgs {
    /// Label every segment with who speaks it: `voices` (the default when HOW is left out) tells
    /// speakers apart by voice in any recording; `channels` is exact for recordings with one
    /// speaker per channel (each channel is read and transcribed on its own).
    #[arg(
        long,
        value_enum,
        value_name = "HOW",
        num_args = 0..=1,
        default_missing_value = "voices"
    )]
    pub diarize: Option<DiarizeArg>,

    /// The number of speakers, when known (--diarize voices).
    #[arg(long = "speakers", value_name = "N", value_parser = clap::value_parser!(u16).range(1..), requires = "diarize")]
    pub exactly: Option<u16>,

    /// At least this many speakers (--diarize voices).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), requires = "diarize", conflicts_with = "exactly")]
    pub min_speakers: Option<u16>,

    /// At most this many speakers (--diarize voices).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), requires = "diarize", conflicts_with = "exactly")]
    pub max_speakers: Option<u16>,

    /// Speaker segmentation model, an ONNX file shaped as pyannote's segmentation-3.0
    /// [default: the catalogue's pyannote-wespeaker-resnet34, downloaded on first use].
    #[arg(long, value_name = "FILE", requires = "embedding_model")]
    pub segmentation_model: Option<PathBuf>,

    /// Speaker embedding model, an ONNX WeSpeaker file (fbank in, embedding out) [default: the
    /// catalogue's].
    #[arg(long, value_name = "FILE", requires = "segmentation_model")]
    pub embedding_model: Option<PathBuf>,

    /// Names for the speakers, in channel order or the order they are first heard, separated by
    /// commas ('Оператор,Клиент'); speakers beyond them are numbered.
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        requires = "diarize"
    )]
    pub speaker_names: Vec<String>,

    // The placeholder itself cannot be written here: clap turns it into a line break in help
    // text (clap-rs/clap#5196), but not in the default it shows.
    /// The label of a numbered speaker: the pattern with the speaker's number in place of the
    /// letter n in braces.
    #[arg(
        long,
        value_name = "PATTERN",
        default_value = rech::asr::DEFAULT_SPEAKER_LABEL,
        requires = "diarize"
    )]
    pub speaker_label: String,
}

impl SpeakerArgs {
    /// The speakers these ask for (the models, when given, on `threads` threads); names, a
    /// label or counts that cannot hold are a usage error.
    pub fn speakers(&self, threads: usize) -> Result<Speakers> {
        let naming = SpeakerNaming {
            pattern: self.speaker_label.clone(),
            names: self.speaker_names.clone(),
        };
        if let Some(problem) = naming.problem() {
            return Err(UsageError(format!("--speaker-names/--speaker-label: {problem}")).into());
        }
        let count = SpeakerCount {
            exactly: self.exactly.map(usize::from),
            min: self.min_speakers.map(usize::from),
            max: self.max_speakers.map(usize::from),
        };
        if let Some(problem) = count.problem() {
            return Err(UsageError(format!("--min-speakers/--max-speakers: {problem}")).into());
        }
        let by_voice = self.diarize == Some(DiarizeArg::Voices);
        let voice_only = [
            ("--speakers", self.exactly.is_some()),
            ("--min-speakers", self.min_speakers.is_some()),
            ("--max-speakers", self.max_speakers.is_some()),
            ("--segmentation-model", self.segmentation_model.is_some()),
        ];
        if let Some((flag, _)) = voice_only.iter().find(|(_, given)| *given && !by_voice) {
            return Err(UsageError(format!(
                "{flag} is for --diarize voices: with --diarize channels each channel is one speaker"
            ))
            .into());
        }
        let models = match (&self.segmentation_model, &self.embedding_model) {
            (Some(segmentation), Some(embedding)) => Some(SpeakerModels {
                segmentation: segmentation.clone(),
                embedding: embedding.clone(),
                threads,
            }),
            _ => None,
        };
        Ok(Speakers {
            diarize: match self.diarize {
                None => Diarize::Off,
                Some(DiarizeArg::Channels) => Diarize::Channels,
                Some(DiarizeArg::Voices) => Diarize::Voices,
            },
            naming,
            count,
            models,
        })
    }
}

/// Makes `speakers` ready before any audio is read: for `--diarize voices`, the models given
/// or the catalogue's (downloaded on first use, with ONNX Runtime), opened once.
pub fn prepare(speakers: &mut Speakers, threads: usize, ctx: &crate::Context) -> Result<()> {
    if speakers.diarize != Diarize::Voices {
        return Ok(());
    }
    let mut fetcher = crate::models::fetcher(ctx)?;
    rech::prepare_speakers(speakers, threads, &mut fetcher).map_err(|err| match err {
        rech::Error::Fetch(e) => crate::models::explain(e, None),
        other => other.into(),
    })
}

/// The command line with a bare `--diarize` before an input (`rech transcribe --diarize
/// talk.mp3`) read as `--diarize=voices`: clap would take the input for `--diarize`'s value.
pub fn bare_diarize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let args: Vec<OsString> = args.into_iter().collect();
    let mut out = Vec::with_capacity(args.len());
    let mut rest = false;
    for (i, arg) in args.iter().enumerate() {
        if rest || arg != "--diarize" {
            rest |= arg == "--";
            out.push(arg.clone());
            continue;
        }
        let next = args.get(i + 1).and_then(|a| a.to_str());
        let takes_next = next
            .is_some_and(|next| next.starts_with('-') || DiarizeArg::from_str(next, true).is_ok());
        out.push(if takes_next || next.is_none() {
            arg.clone()
        } else {
            OsString::from("--diarize=voices")
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(line: &[&str]) -> Vec<String> {
        bare_diarize(line.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn a_bare_diarize_before_an_input_means_voices() {
        assert_eq!(
            rewritten(&["rech", "transcribe", "--diarize", "talk.mp3"]),
            ["rech", "transcribe", "--diarize=voices", "talk.mp3"]
        );
        for kept in [
            &["rech", "transcribe", "--diarize", "channels", "call.wav"][..],
            &["rech", "transcribe", "--diarize", "-f", "srt", "a.wav"],
            &["rech", "transcribe", "a.wav", "--diarize"],
            &["rech", "transcribe", "--", "--diarize", "a.wav"],
        ] {
            assert_eq!(rewritten(kept), *kept);
        }
    }
}
