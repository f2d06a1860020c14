//! The plain result types every engine's output ends up in: a [`Transcript`] of [`Segment`]s
//! with timed [`Word`]s, times in seconds from the start of the audio given.

/// The result of a transcription. Times are seconds from the start of the audio given.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Language of the speech (ISO 639-1), as requested or detected.
    pub language: String,
    /// Length of the audio, in seconds.
    pub duration: f64,
    /// Segments in order; `0 ≤ start ≤ end ≤ duration`.
    pub segments: Vec<Segment>,
    /// Whether the words' times were measured (word timestamps were asked for). When not, each
    /// word's text and probability are real but its times only placeholders, and outputs leave
    /// them out.
    pub word_times: bool,
    /// Who speaks, when the transcript is diarized ([`Segment::speaker`] indexes this);
    /// empty otherwise.
    pub speakers: Vec<Speaker>,
}

impl Transcript {
    /// Checks the invariant every transcript keeps: `0 ≤ start ≤ end ≤ duration` for every
    /// segment, segments in order of their start, and every word inside its segment. `Err`
    /// names the first segment or word that breaks it.
    pub fn check_times(&self) -> Result<(), String> {
        let mut last = 0.0;
        for s in &self.segments {
            if !(last <= s.start && s.start <= s.end && s.end <= self.duration) {
                return Err(format!(
                    "segment {s:?} is out of order or outside 0..={}",
                    self.duration
                ));
            }
            if let Some(w) = s
                .words
                .iter()
                .find(|w| !(s.start <= w.start && w.start <= w.end && w.end <= s.end))
            {
                return Err(format!("word {w:?} is outside its segment {s:?}"));
            }
            last = s.start;
        }
        Ok(())
    }

    /// Seconds each of [`Self::speakers`] speaks (the sum of their segments' spans).
    pub fn speaking_seconds(&self) -> Vec<f64> {
        let mut seconds = vec![0.0; self.speakers.len()];
        for s in &self.segments {
            if let Some(total) = s.speaker.and_then(|i| seconds.get_mut(i)) {
                *total += s.end - s.start;
            }
        }
        seconds
    }

    /// The whole text, segments joined by single spaces.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|s| s.text.as_str()).collect();
        parts.join(" ")
    }
}

/// A stretch of text with its time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// The text, trimmed.
    pub text: String,
    /// Timed words (empty unless word timestamps were asked for).
    pub words: Vec<Word>,
    /// The model's estimate that this window holds no speech.
    pub no_speech_probability: f32,
    /// Who speaks it: an index into [`Transcript::speakers`], when the transcript is
    /// diarized. A segment never holds two speakers.
    pub speaker: Option<usize>,
}

/// One voice of a diarized transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    /// What outputs call the speaker: a given name, or a numbered label (`Спикер 1`).
    pub label: String,
    /// Whether the label is a name the caller gave (OpenAI's `diarized_json` writes numbered
    /// speakers as `A`, `B`, …, and given names as they are).
    pub named: bool,
}

/// A word with its time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// The word, without surrounding spaces (punctuation attached).
    pub text: String,
    /// Mean probability of the word's tokens.
    pub probability: f32,
}
