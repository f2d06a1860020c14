//! The `-f/--format` values of `rech transcribe`, as clap shows them; the writers themselves
//! are rech-asr's ([`rech_asr::output`]), so that every front end writes the same bytes.

use clap::ValueEnum;
use rech_asr::output;
use rech_asr::Transcript;

/// The output formats of `rech transcribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Format {
    /// Plain text, one segment per line.
    Txt,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
    /// JSON with language, duration, segments and words (times in seconds).
    Json,
    /// Tab-separated start, end (milliseconds) and text, with a header line.
    Tsv,
}

impl Format {
    fn writer(self) -> output::Format {
        match self {
            Format::Txt => output::Format::Txt,
            Format::Srt => output::Format::Srt,
            Format::Vtt => output::Format::Vtt,
            Format::Json => output::Format::Json,
            Format::Tsv => output::Format::Tsv,
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        self.writer().extension()
    }

    /// Renders a transcript as a whole file.
    pub fn render(self, transcript: &Transcript) -> String {
        self.writer().render(transcript)
    }
}
