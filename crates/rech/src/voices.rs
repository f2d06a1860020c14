//! Speakers by voice for the per-file path: rech-diarize's streaming pipeline hears the same
//! decoded audio as the transcriber, and its turns give the transcript's words their speakers.
//! The networks are opened once per thread and kept for the next file. They run on the
//! transcriber's thread, in turn with it: on a thread of their own beside it, both took twice
//! as long on two cores (measured: 22–26 s against 18 s for the 105 s recording).

use std::cell::RefCell;
use std::path::Path;

use rech_asr::{Transcript, SAMPLE_RATE};
use rech_diarize::cluster::{ClusterOptions, PYANNOTE_THRESHOLD};
use rech_diarize::pipeline::{DiarizeOptions, Diarizer, Stream};

use crate::file::{FileError, FileOptions, Listener, SpeakerModels, WithListener};

thread_local! {
    /// This thread's diarizer and the models it was opened from.
    static DIARIZER: RefCell<Option<(SpeakerModels, Diarizer)>> = const { RefCell::new(None) };
}

/// Opens `models` as a diarizer (the check [`crate::ModelBuilder::load`] makes before any
/// file).
pub(crate) fn open(models: &SpeakerModels) -> Result<Diarizer, rech_diarize::models::ModelError> {
    Diarizer::open(&models.segmentation, &models.embedding, models.threads)
}

/// Runs `transcribe` with a listener that diarizes what it hears by voice (asking the engine
/// for word times where it has them, so that speakers are given word by word).
pub(crate) fn listen(
    path: &Path,
    options: &FileOptions,
    word_times: bool,
    transcribe: &mut WithListener<'_>,
) -> Result<Transcript, FileError> {
    let failed = |message: String| FileError::Diarize {
        path: path.to_owned(),
        message,
    };
    let models = options
        .speakers
        .models
        .clone()
        .ok_or_else(|| failed("no speaker models were given".to_owned()))?;
    if let Some(problem) = options.speakers.count.problem() {
        return Err(failed(problem));
    }
    DIARIZER.with(|cell| {
        let mut cached = cell.borrow_mut();
        let diarizer = match cached.as_mut() {
            Some((opened, diarizer)) if *opened == models => diarizer,
            _ => {
                *cached = None;
                let diarizer = open(&models).map_err(|e| failed(e.to_string()))?;
                &mut cached.insert((models, diarizer)).1
            }
        };
        let count = options.speakers.count;
        let mut listener = VoiceListener {
            path,
            stream: diarizer.stream(SAMPLE_RATE),
            options: DiarizeOptions {
                clusters: ClusterOptions {
                    threshold: PYANNOTE_THRESHOLD,
                    speakers: count.exactly,
                    min_speakers: count.min,
                    max_speakers: count.max,
                },
                ..DiarizeOptions::default()
            },
            naming: &options.speakers.naming,
            keep_words: options.transcribe.word_timestamps,
            busy: std::time::Duration::ZERO,
        };
        let mut asked = options.clone();
        asked.transcribe.word_timestamps |= word_times;
        transcribe(&mut listener, &asked)
    })
}

struct VoiceListener<'a> {
    path: &'a Path,
    stream: Stream<'a>,
    options: DiarizeOptions,
    naming: &'a rech_asr::SpeakerNaming,
    /// Whether the caller asked for word times (asked for here only to place speakers).
    keep_words: bool,
    /// Time spent diarizing.
    busy: std::time::Duration,
}

impl Listener for VoiceListener<'_> {
    fn push(&mut self, samples: &[f32]) -> Result<(), FileError> {
        let started = std::time::Instant::now();
        let pushed = self.stream.push(samples).map_err(|e| FileError::Diarize {
            path: self.path.to_owned(),
            message: e.to_string(),
        });
        self.busy += started.elapsed();
        pushed
    }

    fn finish(&mut self, transcript: Transcript) -> Result<Transcript, FileError> {
        let started = std::time::Instant::now();
        let diarization = self
            .stream
            .finish(&self.options)
            .map_err(|e| FileError::Diarize {
                path: self.path.to_owned(),
                message: e.to_string(),
            })?;
        log::info!(
            "{}: speaker labels took {:.2} s ({:.2} s of it after the audio), {} turns",
            self.path.display(),
            (self.busy + started.elapsed()).as_secs_f64(),
            started.elapsed().as_secs_f64(),
            diarization.turns.len()
        );
        let mut transcript = rech_asr::assign_speakers(transcript, &diarization.turns, self.naming);
        if !self.keep_words {
            transcript.word_times = false;
            for segment in &mut transcript.segments {
                segment.words.clear();
            }
        }
        Ok(transcript)
    }
}
