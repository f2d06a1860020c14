//! The work every engine shares, written once: find the speech with Silero VAD and hand the
//! engine only that, cut what is longer than the engine accepts at its quietest points, build
//! text from token bytes, map times back onto the audio given, drop hallucinations (for engines
//! that invent text on silence) and keep every time in order and inside the audio.

use crate::engine::{
    millis, CancelToken, Capabilities, Engine, Purpose, Recognizer, Request, Token, TokenSegment,
    MIN_SAMPLES, SAMPLE_RATE,
};
use crate::error::Error;
use crate::filter::{cut_loop, is_hallucination};
use crate::text::assemble;
use crate::transcript::{Segment, Transcript};
use crate::vad::{SpeechOnly, SpeechSpan, VoiceDetector};

/// Energy is compared over frames of this many samples (50 ms) when looking for a cut.
const CUT_FRAME: usize = 800;

/// What to transcribe, whatever the engine. Plain owned data: build it once, reuse it for many
/// files. How the engine decodes (beam size, temperature fallback, its own prompt) is set in
/// the engine's options when it is loaded; `temperature` overrides one of them per call.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeOptions {
    /// Spoken language as an ISO 639-1 code (`ru`), or `None` to detect it.
    pub language: Option<String>,
    /// Fill each segment's `words` with timed words.
    pub word_timestamps: bool,
    /// Drop segments that are only known Russian hallucinations («Продолжение следует...»),
    /// for engines that produce them, and cut decoding loops (the same words over and over)
    /// to one copy ([`cut_loop`](crate::cut_loop)).
    pub filter_hallucinations: bool,
    /// Sampling temperature of the first decoding attempt (0 to 1), for engines that sample
    /// ([`Capabilities::decoding_options`](crate::Capabilities)); `None` keeps the engine's
    /// own. Others ignore it.
    pub temperature: Option<f32>,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: Some("ru".to_owned()),
            word_timestamps: false,
            filter_hallucinations: true,
            temperature: None,
        }
    }
}

/// All available cores, at most 8 (the engines gain little beyond that on CPU).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .min(8)
}

/// Runs an engine over audio. Holds one recognizer (the engine's per-thread state), so one
/// transcriber serves one thread; several transcribers can share an engine.
pub struct Transcriber {
    capabilities: Capabilities,
    recognizer: Box<dyn Recognizer>,
    vad: Option<VoiceDetector>,
    cancel: CancelToken,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("capabilities", &self.capabilities)
            .field("vad", &self.vad)
            .finish_non_exhaustive()
    }
}

impl Transcriber {
    /// A transcriber over `engine` running on `threads` CPU threads, without VAD.
    pub fn new(engine: &dyn Engine, threads: usize) -> Result<Self, Error> {
        Ok(Self {
            capabilities: engine.capabilities().clone(),
            recognizer: engine.recognizer(threads)?,
            vad: None,
            cancel: CancelToken::new(),
        })
    }

    /// Transcribe only the speech that `vad` finds; timestamps still refer to the whole audio.
    pub fn with_vad(mut self, vad: VoiceDetector) -> Self {
        self.vad = Some(vad);
        self
    }

    /// Use `token` for cancellation: raising it makes a running transcription stop soon and
    /// return [`Error::Cancelled`].
    pub fn set_cancel_token(&mut self, token: CancelToken) {
        self.cancel = token;
    }

    /// The token that cancels a running transcription when raised.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// What the engine can do.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Finds the speech in `samples` with the VAD model, if one is set.
    pub fn detect_speech(&mut self, samples: &[f32]) -> Result<Option<Vec<SpeechSpan>>, Error> {
        match self.vad.as_mut() {
            Some(vad) => vad.detect(samples).map(Some),
            None => Ok(None),
        }
    }

    /// Transcribes 16 kHz mono samples.
    pub fn transcribe(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
    ) -> Result<Transcript, Error> {
        self.transcribe_with_progress(samples, options, &mut |_| {})
    }

    /// Transcribes 16 kHz mono samples, calling `progress` with the fraction done (0 to 1).
    pub fn transcribe_with_progress(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Transcript, Error> {
        self.start_recording();
        self.transcribe_after(samples, options, None, progress)
    }

    /// A new recording begins ([`Recognizer::start_recording`]).
    pub(crate) fn start_recording(&mut self) {
        self.recognizer.start_recording();
    }

    /// [`Self::transcribe_with_progress`] for audio that follows `context`, the text before it
    /// (the previous window of a long recording), which engines that take a prompt are primed
    /// with.
    pub(crate) fn transcribe_after(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        context: Option<String>,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Transcript, Error> {
        let request = Request {
            language: options.language.clone(),
            context,
            word_timestamps: options.word_timestamps,
            purpose: Purpose::File,
            temperature: options.temperature,
        };
        self.recognizer.check(&request)?;
        if samples.len() < MIN_SAMPLES {
            return Err(Error::AudioTooShort {
                millis: millis(samples.len()),
            });
        }
        let duration = samples.len() as f64 / SAMPLE_RATE as f64;
        let speech = match self.detect_speech(samples)? {
            Some(spans) => {
                if spans.is_empty() {
                    progress(1.0);
                    return Ok(Transcript {
                        speakers: Vec::new(),
                        language: options.language.clone().unwrap_or_else(|| "und".into()),
                        duration,
                        segments: Vec::new(),
                        word_times: options.word_timestamps,
                    });
                }
                let mut only = SpeechOnly::gather(samples, &spans);
                if only.samples.len() < MIN_SAMPLES {
                    only.samples.resize(MIN_SAMPLES, 0.0);
                }
                Some(only)
            }
            None => None,
        };
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let input = speech.as_ref().map_or(samples, |s| &s.samples[..]);
        let (raw, detected) = self.recognize_in_pieces(input, &request, progress)?;
        let language = match &options.language {
            Some(lang) => lang.clone(),
            None => detected.unwrap_or_else(|| "und".to_owned()),
        };

        let raw = match &speech {
            Some(speech) if self.capabilities.split_at_removed_pauses => {
                split_at_pauses(raw, speech)
            }
            _ => raw,
        };
        let mut segments = assemble(raw);
        if let Some(speech) = &speech {
            for segment in &mut segments {
                segment.start = speech.to_original(segment.start, true);
                segment.end = speech.to_original(segment.end, false);
                for word in &mut segment.words {
                    word.start = speech.to_original(word.start, true);
                    word.end = speech.to_original(word.end, false);
                }
            }
        }
        // Loops and phrases invented on silence are guarded against only where the engine
        // invents text: a real phrase said four times stays whole with an engine that does not.
        let filter = options.filter_hallucinations && self.capabilities.hallucinates_on_silence;
        if filter {
            for segment in &mut segments {
                cut_segment_loop(segment);
            }
        }
        let keep = |s: &Segment| {
            let invented = filter && is_hallucination(&s.text);
            !s.text.is_empty() && !invented
        };
        segments.retain(keep);
        clamp_times(&mut segments, duration);
        progress(1.0);
        Ok(Transcript {
            speakers: Vec::new(),
            language,
            duration,
            segments,
            word_times: options.word_timestamps && self.capabilities.word_times,
        })
    }

    /// Runs the recognizer over `samples`, in pieces no longer than the engine accepts (cut at
    /// the quietest 50 ms near each piece's end), with times shifted onto `samples`. Returns the
    /// segments and the language the engine detected in the first piece. The cut is looked for in
    /// the second half of each piece, so that pieces are never shorter than half the limit.
    fn recognize_in_pieces(
        &mut self,
        samples: &[f32],
        request: &Request,
        progress: &mut dyn FnMut(f32),
    ) -> Result<(Vec<TokenSegment>, Option<String>), Error> {
        let max = self
            .capabilities
            .max_samples
            .unwrap_or(usize::MAX)
            .max(self.capabilities.min_samples.max(MIN_SAMPLES) * 2);
        let total = samples.len();
        let mut request = request.clone();
        let mut from = 0;
        let mut segments = Vec::new();
        let mut detected = None;
        while from < total {
            let rest = total - from;
            let len = if rest <= max {
                rest
            } else {
                // Keep the last piece long enough for the engine.
                let limit = max.min(rest - self.capabilities.min_samples.max(MIN_SAMPLES));
                quietest_cut(&samples[from..from + limit], limit / 2)
            };
            let piece = &samples[from..from + len];
            let offset = from as f64 / SAMPLE_RATE as f64;
            let (done, share) = (from as f32 / total as f32, len as f32 / total as f32);
            let result =
                self.recognizer
                    .recognize(piece, &request, &self.cancel, &mut |fraction| {
                        progress(done + fraction * share)
                    })?;
            if from == 0 && request.language.is_none() {
                detected = result.detected_language;
                // Later pieces are in the language found in the first.
                request.language = detected.clone();
            }
            for mut segment in result.segments {
                shift(&mut segment, offset);
                segments.push(segment);
            }
            from += len;
        }
        Ok((segments, detected))
    }
}

/// A gap this long between two words (after VAD's gaps are mapped back) ends a segment, for
/// engines that ask for it.
const PAUSE_SECONDS: f64 = 0.8;

/// Splits an engine's segments between two tokens that a pause the VAD took out separates:
/// [`PAUSE_SECONDS`] or more apart on the recording, whatever their distance in the speech
/// the engine heard.
fn split_at_pauses(raw: Vec<TokenSegment>, speech: &SpeechOnly) -> Vec<TokenSegment> {
    let mut out = Vec::with_capacity(raw.len());
    for mut segment in raw {
        let tokens = std::mem::take(&mut segment.tokens);
        let mut current: Vec<Token> = Vec::new();
        for token in tokens {
            if let Some(previous) = current.last() {
                let gap =
                    speech.to_original(token.start, true) - speech.to_original(previous.end, false);
                if gap >= PAUSE_SECONDS {
                    out.push(token_segment(std::mem::take(&mut current), &segment));
                }
            }
            current.push(token);
        }
        out.push(token_segment(current, &segment));
    }
    out
}

/// A segment of `tokens` (part of `whole`), spanning them; `whole`'s span when there are none.
fn token_segment(tokens: Vec<Token>, whole: &TokenSegment) -> TokenSegment {
    TokenSegment {
        start: tokens.first().map_or(whole.start, |t| t.start),
        end: tokens.last().map_or(whole.end, |t| t.end),
        tokens,
        no_speech_probability: whole.no_speech_probability,
    }
}

/// Moves a segment and its tokens `offset` seconds later.
fn shift(segment: &mut TokenSegment, offset: f64) {
    if offset == 0.0 {
        return;
    }
    segment.start += offset;
    segment.end += offset;
    for token in &mut segment.tokens {
        token.start += offset;
        token.end += offset;
    }
}

/// Where to end a piece of `samples` (which is as long as a piece may be): the middle of the
/// quietest 50 ms frame in its last `search` samples, so that the cut falls in a pause rather
/// than in a word. Later frames win ties, so pieces stay as long as they can.
pub(crate) fn quietest_cut(samples: &[f32], search: usize) -> usize {
    let end = samples.len();
    let search = search.min(end / 2);
    let mut best = (f32::INFINITY, end);
    let mut start = end - search;
    while start + CUT_FRAME <= end {
        let energy: f32 = samples[start..start + CUT_FRAME]
            .iter()
            .map(|s| s * s)
            .sum();
        if energy <= best.0 {
            best = (energy, start + CUT_FRAME / 2);
        }
        start += CUT_FRAME / 2;
    }
    best.1
}

/// Cuts a decoding loop at the end of a segment (the same words over and over, which Whisper
/// writes when every fallback temperature failed) to its first copy, with a warning; timed
/// words go with the words they time, and the segment then ends with its last word.
pub(crate) fn cut_segment_loop(segment: &mut Segment) {
    let Some((cut, dropped)) = cut_loop(&segment.text) else {
        return;
    };
    log::warn!(
        "{:.2}-{:.2} s: cut a decoding loop ({dropped} repeated words)",
        segment.start,
        segment.end
    );
    let kept_words = cut.split_whitespace().count();
    if segment.words.len() == segment.text.split_whitespace().count() {
        segment.words.truncate(kept_words);
        if let Some(last) = segment.words.last() {
            segment.end = last.end;
        }
    }
    segment.text = cut;
}

/// Keeps every time inside `0..=duration`, ends after starts, and segments in order.
pub(crate) fn clamp_times(segments: &mut [Segment], duration: f64) {
    let mut floor = 0.0f64;
    for segment in segments {
        segment.start = segment.start.clamp(floor, duration);
        segment.end = segment.end.clamp(segment.start, duration);
        floor = segment.start;
        for word in &mut segment.words {
            word.start = word.start.clamp(segment.start, segment.end);
            word.end = word.end.clamp(word.start, segment.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEngine, Reply};

    fn engine(reply: Reply, max_seconds: Option<usize>) -> FakeEngine {
        let mut engine = FakeEngine::new(reply);
        engine.caps.max_samples = max_seconds.map(|s| s * SAMPLE_RATE);
        engine
    }

    /// Loud 5 s bursts with 2 s silences between them.
    fn bursts(seconds: usize) -> Vec<f32> {
        (0..seconds * SAMPLE_RATE)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                if t % 7.0 < 5.0 {
                    0.3 * (t * 900.0).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn long_input_is_cut_at_pauses_into_pieces_the_engine_accepts() {
        let engine = engine(Reply::Length, Some(20));
        let mut t = Transcriber::new(&engine, 1).unwrap();
        let audio = bursts(65);
        let mut last = 0.0;
        let transcript = t
            .transcribe_with_progress(&audio, &TranscribeOptions::default(), &mut |f| {
                assert!(f >= last && f <= 1.0, "{f} after {last}");
                last = f;
            })
            .unwrap();
        assert_eq!(last, 1.0);
        let lengths: Vec<usize> = transcript
            .segments
            .iter()
            .map(|s| s.text.parse().unwrap())
            .collect();
        assert!(lengths.len() >= 4, "{lengths:?}");
        assert_eq!(lengths.iter().sum::<usize>(), audio.len());
        let mut at = 0.0;
        for (segment, len) in transcript.segments.iter().zip(&lengths) {
            assert!(*len <= 20 * SAMPLE_RATE, "{len}");
            // Each piece's times are shifted to where it starts in the audio.
            assert!((segment.start - at).abs() < 1e-9, "{segment:?} at {at}");
            at += *len as f64 / SAMPLE_RATE as f64;
            // Every cut but the end of the audio falls in a silence.
            if at < 65.0 {
                assert!(at % 7.0 >= 5.0, "cut at {at} s is inside a burst");
            }
        }
    }

    #[test]
    fn the_language_found_in_the_first_piece_is_reported() {
        let engine = engine(Reply::Length, Some(20));
        let mut t = Transcriber::new(&engine, 1).unwrap();
        let options = TranscribeOptions {
            language: None,
            ..Default::default()
        };
        let transcript = t.transcribe(&bursts(30), &options).unwrap();
        assert_eq!(transcript.language, "kk");
        assert_eq!(transcript.segments.len(), 2);
    }

    #[test]
    fn the_hallucination_filter_applies_only_to_engines_that_need_it() {
        for (hallucinates, kept) in [(true, 0), (false, 1)] {
            let mut engine = engine(Reply::Says("Продолжение следует..."), None);
            engine.caps.hallucinates_on_silence = hallucinates;
            let mut t = Transcriber::new(&engine, 1).unwrap();
            let transcript = t
                .transcribe(&bursts(3), &TranscribeOptions::default())
                .unwrap();
            assert_eq!(transcript.segments.len(), kept, "{hallucinates}");
        }
    }

    #[test]
    fn a_phrase_said_four_times_is_cut_only_for_engines_that_loop() {
        const SAID: &str =
            "раз два три четыре раз два три четыре раз два три четыре раз два три четыре";
        for (loops, words) in [(true, 4), (false, 16)] {
            let mut engine = engine(Reply::Says(SAID), None);
            engine.caps.hallucinates_on_silence = loops;
            let mut t = Transcriber::new(&engine, 1).unwrap();
            let transcript = t
                .transcribe(&bursts(1), &TranscribeOptions::default())
                .unwrap();
            let text = transcript.text();
            assert_eq!(text.split_whitespace().count(), words, "{loops}: {text}");
        }
    }

    #[test]
    fn bad_requests_short_audio_and_a_raised_token_are_refused() {
        let engine = engine(Reply::Repeat, None);
        let mut t = Transcriber::new(&engine, 1).unwrap();
        let err = t
            .transcribe(&[0.0; 800], &TranscribeOptions::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the audio is too short (50 ms): at least 100 ms are needed"
        );
        let xx = TranscribeOptions {
            language: Some("xx".to_owned()),
            ..Default::default()
        };
        // The engine refuses the language before any work, even on too little audio.
        assert!(matches!(
            t.transcribe(&[0.0; 800], &xx),
            Err(Error::InvalidOption(_))
        ));
        t.cancel_token().cancel();
        let err = t
            .transcribe(&bursts(2), &TranscribeOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }

    #[test]
    fn times_stay_in_order_and_inside_the_audio() {
        let engine = engine(Reply::Repeat, None);
        let mut t = Transcriber::new(&engine, 1).unwrap();
        let options = TranscribeOptions {
            word_timestamps: true,
            ..Default::default()
        };
        let transcript = t.transcribe(&bursts(4)[..63_000], &options).unwrap();
        assert!(!transcript.segments.is_empty());
        assert!(transcript.segments.iter().all(|s| !s.words.is_empty()));
        transcript.check_times().unwrap();
    }

    #[test]
    fn segments_split_where_vad_removed_a_pause_for_engines_that_ask() {
        // Speech at 0.5–2 s and 4–6 s, joined with 0.1 s between them: 1.5 s + 0.1 s + 2 s.
        let audio = bursts(7);
        let spans = [
            SpeechSpan {
                start: 0.5,
                end: 2.0,
            },
            SpeechSpan {
                start: 4.0,
                end: 6.0,
            },
        ];
        let speech = SpeechOnly::gather(&audio, &spans);
        let token = |text: &str, start: f64| Token {
            bytes: text.as_bytes().to_vec(),
            start,
            end: start + 0.1,
            probability: 1.0,
        };
        // One segment across the join (at 1.5 s of joined speech), the word «тр|и» split by it.
        let raw = vec![TokenSegment {
            start: 0.0,
            end: 3.0,
            tokens: vec![token(" один", 1.0), token(" тр", 1.35), token("и", 1.7)],
            no_speech_probability: 0.0,
        }];
        let parts = split_at_pauses(raw, &speech);
        let texts: Vec<usize> = parts.iter().map(|s| s.tokens.len()).collect();
        assert_eq!(texts, [2, 1]);
        assert_eq!((parts[1].start, parts[1].end), (1.7, 1.8));
    }

    #[test]
    fn cuts_prefer_the_quietest_frame() {
        let mut audio = vec![0.5f32; 16_000];
        audio[12_000..12_800].fill(0.0);
        let cut = quietest_cut(&audio, 8_000);
        assert_eq!(cut, 12_400);
    }
}
