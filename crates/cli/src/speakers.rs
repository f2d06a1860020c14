//! Who spoke when, as `rech transcribe` and `rech serve` take it: `--diarize`, the speakers'
//! names and the label of numbered ones, read into `rech::file::Speakers` in one place.

use anyhow::Result;
use clap::{Args, ValueEnum};
use rech::asr::SpeakerNaming;
use rech::file::{Diarize, Speakers};

use crate::UsageError;

/// How speakers are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiarizeArg {
    /// One speaker per channel (calls, two-microphone interviews): each channel is transcribed
    /// on its own, and where both speak at once, both are.
    Channels,
}

/// The speaker options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Speakers")]
pub struct SpeakerArgs {
    /// Label every segment with who speaks it: `channels` for recordings with one speaker per
    /// channel (each channel is read and transcribed on its own).
    #[arg(long, value_enum, value_name = "HOW")]
    pub diarize: Option<DiarizeArg>,

    /// Names for the speakers, in channel order, separated by commas ('Оператор,Клиент');
    /// speakers beyond them are numbered.
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        requires = "diarize"
    )]
    pub speaker_names: Vec<String>,

    /// The label of a numbered speaker, {n} standing for the number [default: 'Спикер {n}'].
    #[arg(long, value_name = "PATTERN", requires = "diarize")]
    pub speaker_label: Option<String>,
}

impl SpeakerArgs {
    /// The speakers these ask for; names or a label that cannot tell speakers apart are a
    /// usage error.
    pub fn speakers(&self) -> Result<Speakers> {
        let naming = SpeakerNaming {
            pattern: self
                .speaker_label
                .clone()
                .unwrap_or_else(|| rech::asr::DEFAULT_SPEAKER_LABEL.to_owned()),
            names: self.speaker_names.clone(),
        };
        if let Some(problem) = naming.problem() {
            return Err(UsageError(format!("--speaker-names/--speaker-label: {problem}")).into());
        }
        Ok(Speakers {
            diarize: match self.diarize {
                None => Diarize::Off,
                Some(DiarizeArg::Channels) => Diarize::Channels,
            },
            naming,
        })
    }
}
