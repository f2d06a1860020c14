//! `-f/--format` of `rech transcribe` as clap sees it: the values, their help and their order
//! come from rech-asr's writers ([`rech_asr::output::Format`]), so that every front end lists
//! and writes the same formats.

use clap::builder::PossibleValue;
use clap::ValueEnum;
use rech_asr::output;

/// An output format given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format(pub output::Format);

impl Format {
    /// The plain-text format, which several inputs can share on stdout.
    pub const TXT: Format = Format(output::Format::Txt);

    /// Every format rech writes.
    pub const ALL: [Format; output::Format::ALL.len()] = {
        let mut all = [Format::TXT; output::Format::ALL.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = Format(output::Format::ALL[i]);
            i += 1;
        }
        all
    };
}

impl std::ops::Deref for Format {
    type Target = output::Format;

    fn deref(&self) -> &output::Format {
        &self.0
    }
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.description()))
    }
}
