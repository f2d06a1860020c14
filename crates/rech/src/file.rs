//! The one per-file path, for library users, `rech transcribe` and `rech serve` alike: open any
//! file rech reads as a stream, cut the part asked for (`offset`, `duration`), transcribe it
//! window by window in flat memory, put the times back onto the whole file — and contain an
//! engine's panic as an error of this file, so that one input cannot end a batch or a server.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rech_asr::{
    CancelToken, Segment, SpeakerNaming, TranscribeOptions, Transcriber, Transcript, WindowOptions,
    WindowedTranscription, SAMPLE_RATE,
};
use rech_audio::{AudioError, AudioStream, SourceInfo};

/// Why one file could not be transcribed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened or decoded.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Recognition failed (or was cancelled: [`rech_asr::Error::Cancelled`]).
    #[error("{}: {source}", path.display())]
    Asr {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<rech_asr::Error>,
    },
    /// The offset asked for is past the end of the audio.
    #[error("{}: the offset {offset:.3} s is past the end of the audio ({length:.3} s)", path.display())]
    OffsetPastEnd {
        /// The file.
        path: PathBuf,
        /// The offset, in seconds.
        offset: f64,
        /// The audio's length, in seconds.
        length: f64,
    },
    /// Speakers by channel were asked for, and the file has one channel.
    #[error("{}: one channel only; telling speakers apart by channel needs a recording with one speaker on each", path.display())]
    OneChannel {
        /// The file.
        path: PathBuf,
    },
    /// Speakers by channel were asked for on a stream (standard input), which cannot be read
    /// once per channel.
    #[error("{}: telling speakers apart by channel reads the input once per channel, and a stream cannot be read twice; save it to a file first", path.display())]
    NotAFile {
        /// The stream's name.
        path: PathBuf,
    },
    /// Speaker diarization by voice failed (a model that cannot be opened or run, or
    /// [`Diarize::Voices`] without [`Speakers::models`]).
    #[error("{}: speaker labels: {message}", path.display())]
    Diarize {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The engine panicked on this file; the transcriber that ran it should not be used again.
    #[error("{}: the engine failed ({message})", path.display())]
    Panicked {
        /// The file.
        path: PathBuf,
        /// The panic's message, when it had one.
        message: String,
    },
}

impl FileError {
    /// Whether the work was cancelled rather than failed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Asr { source, .. } if matches!(**source, rech_asr::Error::Cancelled))
    }
}

/// The part of a file to transcribe: everything, or `duration` seconds from `offset`. Times in
/// the transcript stay those of the whole file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Clip {
    /// Seconds skipped at the start.
    pub offset: f64,
    /// Seconds kept after the offset (`None`: the rest).
    pub duration: Option<f64>,
}

impl Clip {
    /// How much of an input of `seconds` is transcribed.
    pub fn length_of(&self, seconds: f64) -> f64 {
        let rest = (seconds - self.offset).max(0.0);
        match self.duration {
            Some(keep) => rest.min(keep),
            None => rest,
        }
    }

    fn cutter(&self) -> Cutter {
        let samples = |seconds: f64| (seconds * SAMPLE_RATE as f64).round() as usize;
        Cutter {
            offset: self.offset,
            skip: samples(self.offset),
            keep: self.duration.map(samples),
        }
    }
}

/// How a file is transcribed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileOptions {
    /// Language, word times, the hallucination filter.
    pub transcribe: TranscribeOptions,
    /// How long recordings are cut into windows.
    pub windows: WindowOptions,
    /// The part of the file.
    pub clip: Clip,
    /// Text that precedes the audio (names, terms), for engines that take a prompt.
    pub prompt: Option<String>,
    /// Who spoke when, and what speakers are called.
    pub speakers: Speakers,
}

/// Who spoke when: whether and how a transcript is diarized, and what speakers are called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Speakers {
    /// How speakers are told apart.
    pub diarize: Diarize,
    /// Their labels or names ([`SpeakerNaming`]: `Спикер 1`, … by default).
    pub naming: SpeakerNaming,
    /// How many speakers there are, when known ([`Diarize::Voices`]).
    pub count: SpeakerCount,
    /// The speaker-diarization networks ([`Diarize::Voices`]); [`crate::ModelBuilder::load`]
    /// fills them in from the catalogue when they are not given.
    pub models: Option<SpeakerModels>,
}

/// How many speakers a recording has, when the caller knows ([`Diarize::Voices`]; otherwise
/// a distance threshold decides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpeakerCount {
    /// Exactly this many.
    pub exactly: Option<usize>,
    /// At least this many.
    pub min: Option<usize>,
    /// At most this many.
    pub max: Option<usize>,
}

impl SpeakerCount {
    /// Why these bounds cannot hold, if they cannot: a count of 0, or a minimum above the
    /// maximum.
    pub fn problem(&self) -> Option<String> {
        for (what, value) in [
            ("the number of speakers", self.exactly),
            ("the least number of speakers", self.min),
            ("the largest number of speakers", self.max),
        ] {
            if value == Some(0) {
                return Some(format!("{what} must be 1 or more"));
            }
        }
        match (self.min, self.max) {
            (Some(min), Some(max)) if min > max => Some(format!(
                "at least {min} and at most {max} speakers cannot both hold"
            )),
            _ => None,
        }
    }
}

/// The two networks of speaker diarization by voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerModels {
    /// pyannote's segmentation-3.0 (or a model of its shape), in ONNX.
    pub segmentation: PathBuf,
    /// A WeSpeaker speaker-embedding model (fbank in, an embedding out), in ONNX.
    pub embedding: PathBuf,
    /// Threads each network runs on.
    pub threads: usize,
}

/// How speakers are told apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diarize {
    /// Not at all: the transcript has no speakers.
    #[default]
    Off,
    /// One speaker per channel (call-centre and phone recordings, two-microphone interviews):
    /// each channel is transcribed alone, with voice-activity detection on that channel, and
    /// its segments are that channel's speaker's; where both speak at once, both are
    /// transcribed. The file is read once per channel (standard input cannot be).
    Channels,
    /// By voice, in any recording (interviews, meetings): pyannote's speaker-diarization
    /// pipeline (segmentation-3.0, a WeSpeaker embedding, agglomerative clustering) runs on the
    /// audio as it is decoded, and every word gets the speaker who speaks most while it is
    /// said; a segment is split where the speaker changes.
    Voices,
}

/// Checks, cheaply and before any model is loaded, that `path` can be transcribed with
/// `options`: a readable audio file (or `-`) as [`rech_audio::check`] says, and, for speakers
/// by channel, a file (not a stream) with two channels or more.
pub fn check(path: &Path, options: &FileOptions) -> Result<(), FileError> {
    rech_audio::check(path)?;
    if options.speakers.diarize == Diarize::Channels {
        if path == Path::new("-") {
            return Err(FileError::NotAFile {
                path: path.to_owned(),
            });
        }
        if rech_audio::open(path)?.info().channels < 2 {
            return Err(FileError::OneChannel {
                path: path.to_owned(),
            });
        }
    }
    Ok(())
}

/// A file opened for transcription: its stream and what its header says.
pub struct Input {
    path: PathBuf,
    stream: AudioStream,
    /// Whether `path` is a file that can be opened again (once per channel).
    file: bool,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("path", &self.path)
            .field("source", self.stream.info())
            .finish()
    }
}

impl Input {
    /// Opens `path` (any format rech reads; the content decides).
    pub fn open(path: &Path) -> Result<Self, FileError> {
        Ok(Self {
            path: path.to_owned(),
            stream: rech_audio::open(path)?,
            file: path != Path::new("-"),
        })
    }

    /// An input over a stream opened elsewhere (stdin, a pipe), shown as `name`.
    pub fn from_stream(name: impl Into<PathBuf>, stream: AudioStream) -> Self {
        Self {
            path: name.into(),
            stream,
            file: false,
        }
    }

    /// What the container says: rate, channels, format, duration when known.
    pub fn info(&self) -> &SourceInfo {
        self.stream.info()
    }

    /// Transcribes the input with `transcriber`; `progress` hears the seconds of audio done.
    /// A panic of the engine is [`FileError::Panicked`]; the transcriber should then be
    /// replaced.
    pub fn transcribe(
        self,
        transcriber: &mut Transcriber,
        options: &FileOptions,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Transcript, FileError> {
        self.transcribe_streamed(transcriber, options, cancel, progress, &mut |_| {})
    }

    /// [`transcribe`](Self::transcribe), with the text handed to `on_text` as each window is
    /// done (windows of [`FileOptions::windows`]; the whole file when it is shorter): the pieces
    /// joined as they come are the transcript's [`text`](Transcript::text). With speakers
    /// (`Diarize::Channels` or `Voices`), the text comes once, at the end.
    pub fn transcribe_streamed(
        mut self,
        transcriber: &mut Transcriber,
        options: &FileOptions,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f64),
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Transcript, FileError> {
        let path = self.path.clone();
        let mut told = TextSoFar::default();
        let outcome = catch_unwind(AssertUnwindSafe(|| match options.speakers.diarize {
            Diarize::Off => run(
                &self.path,
                &mut self.stream,
                transcriber,
                options,
                cancel,
                progress,
                None,
                &mut |segments| told.tell(segments, on_text),
            ),
            Diarize::Channels => self.by_channel(transcriber, options, cancel, progress),
            Diarize::Voices => {
                let word_times = transcriber.capabilities().word_times;
                let (path, stream) = (&self.path, &mut self.stream);
                listen_for_voices(path, options, word_times, &mut |listener, options| {
                    run(
                        path,
                        stream,
                        transcriber,
                        options,
                        cancel,
                        progress,
                        Some(listener),
                        &mut |_| {},
                    )
                })
            }
        }));
        if let Ok(Ok(transcript)) = &outcome {
            if options.speakers.diarize != Diarize::Off {
                told.tell(&transcript.segments, on_text);
            }
        }
        outcome.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(FileError::Panicked { path, message })
        })
    }

    /// [`Diarize::Channels`]: each channel transcribed alone, the parts merged with their
    /// speakers. Progress runs over the channels in turn, scaled to the file's length.
    fn by_channel(
        &mut self,
        transcriber: &mut Transcriber,
        options: &FileOptions,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Transcript, FileError> {
        let channels = self.info().channels;
        if channels < 2 {
            return Err(FileError::OneChannel {
                path: self.path.clone(),
            });
        }
        let length = self
            .info()
            .duration()
            .map_or(0.0, |d| options.clip.length_of(d));
        let share = f64::from(channels);
        let mut parts = Vec::with_capacity(usize::from(channels));
        for channel in 0..channels {
            if !self.file {
                return Err(FileError::NotAFile {
                    path: self.path.clone(),
                });
            }
            let mut stream = rech_audio::open_channel(&self.path, channel)?;
            let before = f64::from(channel) * length / share;
            let mut report = |seconds: f64| progress(before + seconds / share);
            parts.push(run(
                &self.path,
                &mut stream,
                transcriber,
                options,
                cancel,
                &mut report,
                None,
                &mut |_| {},
            )?);
        }
        Ok(rech_asr::merge_speakers(parts, &options.speakers.naming))
    }
}

/// What hears a file's audio beside its transcriber, and then gives the transcript speakers.
pub(crate) trait Listener {
    /// The next samples of the clip.
    fn push(&mut self, samples: &[f32]) -> Result<(), FileError>;
    /// The transcript of everything pushed, with its speakers.
    fn finish(&mut self, transcript: Transcript) -> Result<Transcript, FileError>;
}

/// The transcription `transcribe` makes (with the options it is given) with a listener that
/// diarizes by voice.
pub(crate) type WithListener<'a> =
    dyn FnMut(&mut dyn Listener, &FileOptions) -> Result<Transcript, FileError> + 'a;

#[cfg(feature = "diarize")]
fn listen_for_voices(
    path: &Path,
    options: &FileOptions,
    word_times: bool,
    transcribe: &mut WithListener<'_>,
) -> Result<Transcript, FileError> {
    crate::voices::listen(path, options, word_times, transcribe)
}

#[cfg(not(feature = "diarize"))]
fn listen_for_voices(
    path: &Path,
    _options: &FileOptions,
    _word_times: bool,
    _transcribe: &mut WithListener<'_>,
) -> Result<Transcript, FileError> {
    Err(FileError::Diarize {
        path: path.to_owned(),
        message: "this build of rech has no speaker diarization (feature `diarize`)".to_owned(),
    })
}

/// What of a transcript's text has been handed out, so that the pieces join into
/// [`Transcript::text`].
#[derive(Debug, Default)]
struct TextSoFar {
    /// Segments told.
    segments: usize,
    /// Whether any text has been told (the next piece starts with the joining space).
    any: bool,
}

impl TextSoFar {
    /// Tells `on_text` the text of the segments of `all` not told yet.
    fn tell(&mut self, all: &[Segment], on_text: &mut dyn FnMut(&str)) {
        let new = all.get(self.segments..).unwrap_or_default();
        self.segments = self.segments.max(all.len());
        if new.is_empty() {
            return;
        }
        let joined: Vec<&str> = new.iter().map(|s| s.text.as_str()).collect();
        let text = joined.join(" ");
        let piece = if self.any { format!(" {text}") } else { text };
        self.any = true;
        on_text(&piece);
    }
}

/// Decodes `stream` (of the file at `path`) and transcribes the clip's part of it window by
/// window, times put back onto the whole file; `diarizer`, when given, hears the same audio
/// and gives the transcript its speakers; `on_segments` hears every window's segments once
/// they are done (all of them, so far).
#[allow(clippy::too_many_arguments)]
fn run(
    path: &Path,
    stream: &mut AudioStream,
    transcriber: &mut Transcriber,
    options: &FileOptions,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(f64),
    mut diarizer: Option<&mut dyn Listener>,
    on_segments: &mut dyn FnMut(&[Segment]),
) -> Result<Transcript, FileError> {
    let asr = |source| FileError::Asr {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let mut cutter = options.clip.cutter();
    let mut run = WindowedTranscription::new(transcriber, &options.transcribe, &options.windows);
    if let Some(prompt) = options.prompt.as_deref() {
        run = run.with_context(prompt);
    }
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        let mut more = stream.next_chunk(&mut chunk)?;
        more &= cutter.keep(&mut chunk);
        if let Some(diarizer) = diarizer.as_deref_mut() {
            diarizer.push(&chunk)?;
        }
        let before = run.segments().len();
        run.push(&chunk, progress).map_err(asr)?;
        if run.segments().len() > before {
            on_segments(run.segments());
        }
        if !more {
            break;
        }
        if cancel.is_cancelled() {
            return Err(asr(rech_asr::Error::Cancelled));
        }
    }
    if let Some(length) = cutter.ended_inside_offset() {
        return Err(FileError::OffsetPastEnd {
            path: path.to_owned(),
            offset: cutter.offset,
            length,
        });
    }
    let mut transcript = run.finish(progress).map_err(asr)?;
    on_segments(&transcript.segments);
    if let Some(diarizer) = diarizer {
        transcript = diarizer.finish(transcript)?;
    }
    cutter.shift_times(&mut transcript);
    Ok(transcript)
}

/// Cuts the clip's part from the stream of samples as it is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cutter {
    /// Seconds skipped at the start.
    offset: f64,
    /// Samples still to skip.
    skip: usize,
    /// Samples still to keep (`None`: all the rest).
    keep: Option<usize>,
}

impl Cutter {
    /// Cuts `chunk` (the next samples of the input) down to the clip's part of it; false once
    /// nothing more is wanted.
    fn keep(&mut self, chunk: &mut Vec<f32>) -> bool {
        let skipped = self.skip.min(chunk.len());
        chunk.drain(..skipped);
        self.skip -= skipped;
        match &mut self.keep {
            None => true,
            Some(left) => {
                chunk.truncate(*left);
                *left -= chunk.len();
                *left > 0
            }
        }
    }

    /// The input's length, when it ended before the offset was reached.
    fn ended_inside_offset(&self) -> Option<f64> {
        (self.skip > 0).then(|| self.offset - self.skip as f64 / SAMPLE_RATE as f64)
    }

    /// Makes the clip's times those of the whole input.
    fn shift_times(&self, transcript: &mut Transcript) {
        if self.offset == 0.0 {
            return;
        }
        transcript.duration += self.offset;
        for segment in &mut transcript.segments {
            segment.start += self.offset;
            segment.end += self.offset;
            for word in &mut segment.words {
                word.start += self.offset;
                word.end += self.offset;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_keeps_its_part_of_the_stream_and_times_stay_the_files() {
        let clip = Clip {
            offset: 1.0,
            duration: Some(0.5),
        };
        assert_eq!(clip.length_of(10.0), 0.5);
        assert!((clip.length_of(1.2) - 0.2).abs() < 1e-9);
        assert_eq!(clip.length_of(0.5), 0.0);
        let mut cutter = clip.cutter();
        let mut chunk: Vec<f32> = (0..12_000).map(|i| i as f32).collect();
        assert!(cutter.keep(&mut chunk), "still inside the offset");
        assert!(chunk.is_empty());
        assert_eq!(
            cutter.ended_inside_offset(),
            Some(0.75),
            "a 0.75 s input would end here"
        );
        let mut chunk: Vec<f32> = (12_000..30_000).map(|i| i as f32).collect();
        assert!(!cutter.keep(&mut chunk), "the duration is reached");
        assert_eq!(chunk.len(), 8_000);
        assert_eq!(chunk[0], 16_000.0);
        let mut transcript = Transcript {
            speakers: Vec::new(),
            language: "ru".into(),
            duration: 0.5,
            segments: vec![rech_asr::Segment {
                speaker: None,
                start: 0.0,
                end: 0.5,
                text: "да".into(),
                words: Vec::new(),
                no_speech_probability: 0.0,
            }],
            word_times: false,
        };
        cutter.shift_times(&mut transcript);
        let segment = &transcript.segments[0];
        assert_eq!((segment.start, segment.end), (1.0, 1.5));
        assert_eq!(transcript.duration, 1.5);
    }
}
