//! Transcription of recordings of any length in bounded memory: audio is fed in chunks, cut into
//! windows of about a minute at the quietest point near each window's end, and transcribed
//! window by window; timestamps are shifted onto the recording's timeline and each window is
//! primed with the text before it, so nothing is lost or repeated at a cut.

use crate::engine::{MIN_SAMPLES, SAMPLE_RATE};
use crate::error::Error;
use crate::pipeline::{quietest_cut, TranscribeOptions, Transcriber};
use crate::transcript::{Segment, Transcript};

/// Characters of the previous window's text given to the next window as its context (for
/// engines that take a prompt): enough for the last sentence or two, well under Whisper's
/// 224-token prompt limit.
const CARRIED_CHARS: usize = 200;

/// How a long recording is cut into windows.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOptions {
    /// Target window length in seconds; a window is cut once this much audio is buffered.
    pub window_seconds: f64,
    /// The cut is made at the quietest point of this many seconds before the window's end.
    pub search_seconds: f64,
}

impl Default for WindowOptions {
    /// Windows of a minute: what a long recording holds beyond a short one is one window's
    /// samples and what the engine makes of them (whisper.cpp copies a window's samples, padded,
    /// and computes its whole spectrogram first), so a minute keeps an hour's peak within a few
    /// MB of a 106 s recording's, where three minutes added 25 MB (BENCHMARKS.md, "Memory that
    /// stays flat"). Each cut falls in the quietest moment of the window's last 15 s.
    fn default() -> Self {
        Self {
            window_seconds: 60.0,
            search_seconds: 15.0,
        }
    }
}

/// Feeds a [`Transcriber`] window by window. Memory holds one window of samples, whatever the
/// length of the recording.
pub struct WindowedTranscription<'t> {
    transcriber: &'t mut Transcriber,
    options: TranscribeOptions,
    windows: WindowOptions,
    buffer: Vec<f32>,
    /// Samples before `buffer[0]`, already transcribed.
    consumed: usize,
    segments: Vec<Segment>,
    language: Option<String>,
    carried_text: String,
}

impl<'t> WindowedTranscription<'t> {
    /// Starts a windowed transcription with `options`. Engines that take a prompt get the end
    /// of the text so far with each window (after any prompt of their own options).
    pub fn new(
        transcriber: &'t mut Transcriber,
        options: &TranscribeOptions,
        windows: &WindowOptions,
    ) -> Self {
        let window = (windows.window_seconds.max(30.0) * SAMPLE_RATE as f64) as usize;
        transcriber.start_recording();
        Self {
            transcriber,
            options: options.clone(),
            windows: windows.clone(),
            buffer: Vec::with_capacity(window + SAMPLE_RATE * 10),
            consumed: 0,
            segments: Vec::new(),
            language: None,
            carried_text: String::new(),
        }
    }

    /// Gives the first window `text` as the text before it (a prompt sent with one request:
    /// names, terms, the punctuation wanted), for engines that take a prompt; later windows
    /// get the end of the text so far, as always.
    pub fn with_context(mut self, text: &str) -> Self {
        self.carried_text = text.trim().to_owned();
        self
    }

    /// The segments of the windows transcribed so far, times on the whole recording.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Seconds of audio transcribed so far (whole windows).
    pub fn transcribed_seconds(&self) -> f64 {
        self.consumed as f64 / SAMPLE_RATE as f64
    }

    /// Adds 16 kHz mono samples; transcribes every window that is complete. `progress` gets the
    /// seconds of audio transcribed so far, during and after each window.
    pub fn push(&mut self, samples: &[f32], progress: &mut dyn FnMut(f64)) -> Result<(), Error> {
        self.buffer.extend_from_slice(samples);
        let window = self.window_samples();
        while self.buffer.len() >= window {
            let cut = self.cut_point(window);
            self.transcribe_front(cut, progress)?;
        }
        Ok(())
    }

    /// Transcribes what is left and returns the whole transcript.
    pub fn finish(mut self, progress: &mut dyn FnMut(f64)) -> Result<Transcript, Error> {
        let total = self.consumed + self.buffer.len();
        if total < MIN_SAMPLES {
            return Err(Error::AudioTooShort {
                millis: (total * 1000 / SAMPLE_RATE) as u64,
            });
        }
        if self.buffer.len() >= MIN_SAMPLES {
            let rest = self.buffer.len();
            self.transcribe_front(rest, progress)?;
        }
        // A tail under 100 ms cannot hold a word: it only counts towards the duration.
        let duration = total as f64 / SAMPLE_RATE as f64;
        let language = self
            .language
            .or_else(|| self.options.language.clone())
            .unwrap_or_else(|| "und".to_owned());
        progress(duration);
        Ok(Transcript {
            speakers: Vec::new(),
            language,
            duration,
            segments: self.segments,
            word_times: self.options.word_timestamps,
        })
    }

    fn window_samples(&self) -> usize {
        (self.windows.window_seconds.max(30.0) * SAMPLE_RATE as f64) as usize
    }

    /// Where to end the next window: the quietest 50 ms frame in the search zone before
    /// `window`, so that the cut falls in a pause rather than in a word.
    fn cut_point(&self, window: usize) -> usize {
        let search = (self.windows.search_seconds.max(1.0) * SAMPLE_RATE as f64) as usize;
        quietest_cut(&self.buffer[..window], search)
    }

    /// The options the next window is transcribed with, and the text before it: the language
    /// found in the first window, and the end of the text so far.
    fn window_request(&self) -> (TranscribeOptions, Option<String>) {
        let mut options = self.options.clone();
        if self.language.is_some() && options.language.is_none() {
            // Detect once, on the first window; later windows use what was found.
            options.language = self.language.clone();
        }
        let takes_prompt = self.transcriber.capabilities().takes_prompt;
        let context =
            (takes_prompt && !self.carried_text.is_empty()).then(|| self.carried_text.clone());
        (options, context)
    }

    fn transcribe_front(&mut self, cut: usize, progress: &mut dyn FnMut(f64)) -> Result<(), Error> {
        let offset = self.consumed as f64 / SAMPLE_RATE as f64;
        let window_len = cut as f64 / SAMPLE_RATE as f64;
        let (options, context) = self.window_request();
        let transcript = self.transcriber.transcribe_after(
            &self.buffer[..cut],
            &options,
            context,
            &mut |fraction| progress(offset + f64::from(fraction) * window_len),
        )?;
        if self.language.is_none() {
            self.language = Some(transcript.language.clone());
        }
        let text = transcript.text();
        if !text.is_empty() {
            self.carried_text = tail_chars(&format!("{} {text}", self.carried_text), CARRIED_CHARS);
        }
        for mut segment in transcript.segments {
            segment.start += offset;
            segment.end += offset;
            for word in &mut segment.words {
                word.start += offset;
                word.end += offset;
            }
            self.segments.push(segment);
        }
        self.buffer.drain(..cut);
        self.consumed += cut;
        Ok(())
    }
}

/// The last `n` characters of `text`, starting at a word boundary when there is one.
fn tail_chars(text: &str, n: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= n {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - n).collect();
    match tail.find(' ') {
        Some(space) => tail[space + 1..].to_owned(),
        None => tail,
    }
}

impl Transcriber {
    /// Transcribes a whole buffer window by window (see [`WindowedTranscription`]).
    pub fn transcribe_windowed(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        windows: &WindowOptions,
    ) -> Result<Transcript, Error> {
        let mut run = WindowedTranscription::new(self, options, windows);
        for chunk in samples.chunks(SAMPLE_RATE * 10) {
            run.push(chunk, &mut |_| {})?;
        }
        run.finish(&mut |_| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEngine, Reply};

    #[test]
    fn tails_start_at_words() {
        assert_eq!(tail_chars("один два три", 100), "один два три");
        assert_eq!(tail_chars("один два три", 5), "три");
        assert_eq!(tail_chars("абвгд", 3), "вгд");
    }

    fn transcriber(reply: Reply) -> (FakeEngine, Transcriber) {
        let engine = FakeEngine::new(reply);
        let transcriber = Transcriber::new(&engine, 1).unwrap();
        (engine, transcriber)
    }

    /// Loud bursts separated by silences: the cut must land in a silence.
    fn bursts(seconds: usize) -> Vec<f32> {
        (0..seconds * SAMPLE_RATE)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                if (t % 7.0) < 5.0 {
                    0.3 * (t * 900.0).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn cuts_fall_in_pauses_and_windows_cover_everything() {
        let (_engine, mut t) = transcriber(Reply::Nothing);
        let options = TranscribeOptions::default();
        let windows = WindowOptions {
            window_seconds: 30.0,
            search_seconds: 10.0,
        };
        let audio = bursts(100);
        let mut run = WindowedTranscription::new(&mut t, &options, &windows);
        let mut cuts = Vec::new();
        for chunk in audio.chunks(4_000) {
            let before = run.consumed;
            run.push(chunk, &mut |_| {}).unwrap();
            if run.consumed != before {
                cuts.push(run.consumed);
            }
        }
        let transcript = run.finish(&mut |_| {}).unwrap();
        assert!((transcript.duration - 100.0).abs() < 1e-9);
        assert!(cuts.len() >= 3, "{cuts:?}");
        for cut in cuts {
            let t = cut as f32 / SAMPLE_RATE as f32;
            assert!(t % 7.0 >= 5.0, "cut at {t} s is inside a burst");
        }
    }

    /// Each window after the first is primed with the end of the text before it (engines put
    /// their own prompt in front: `rech-whisper`'s tests check that).
    #[test]
    fn the_next_window_is_primed_with_the_text_before_it() {
        let (engine, mut t) = transcriber(Reply::Repeat);
        let options = TranscribeOptions::default();
        let windows = WindowOptions {
            window_seconds: 30.0,
            search_seconds: 5.0,
        };
        let mut run = WindowedTranscription::new(&mut t, &options, &windows);
        let audio = bursts(45);
        let mut pushed = 0;
        while run.consumed == 0 {
            run.push(&audio[pushed..pushed + 4_000], &mut |_| {})
                .unwrap();
            pushed += 4_000;
        }
        let first_text: String = run
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!first_text.trim().is_empty());
        assert!(!run.carried_text.is_empty());
        assert!(run.carried_text.chars().count() <= CARRIED_CHARS);
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat(&first_text).ends_with(&flat(&run.carried_text)),
            "carried {:?} is not the end of {first_text:?}",
            run.carried_text
        );
        let context = run.window_request().1.unwrap();
        assert_eq!(context, run.carried_text);
        run.push(&audio[pushed..], &mut |_| {}).unwrap();
        run.finish(&mut |_| {}).unwrap();
        assert_eq!(engine.contexts(), [None, Some(context)]);
    }

    #[test]
    fn segments_move_onto_the_recording_timeline() {
        let (_engine, mut t) = transcriber(Reply::Repeat);
        let options = TranscribeOptions::default();
        let windows = WindowOptions {
            window_seconds: 30.0,
            search_seconds: 5.0,
        };
        let transcript = t
            .transcribe_windowed(&bursts(70), &options, &windows)
            .unwrap();
        assert!(!transcript.segments.is_empty());
        assert_eq!(transcript.duration, 70.0);
        transcript.check_times().unwrap();
        // Text from a later window starts after the first window, and no segment of one
        // window overlaps one of the next: nothing is transcribed twice at a cut.
        assert!(transcript.segments.last().unwrap().start > 30.0);
        for pair in transcript.segments.windows(2) {
            assert!(pair[0].end <= pair[1].start + 1e-9, "{pair:?}");
        }
    }
}
