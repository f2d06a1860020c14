//! Live dictation: 16 kHz audio goes in as it is captured, and out come partial hypotheses
//! while a person speaks and one final line per utterance when they pause.
//!
//! The pieces: Silero VAD (or, without a VAD model, an energy rule) judges each 32 ms frame;
//! the [`Endpointer`] turns those verdicts into utterances, with a pre-roll so that the first
//! word is not clipped, an end after a pause, and a split at the quietest point of an utterance
//! that runs too long. While an utterance grows it is re-decoded every few hundred
//! milliseconds and LocalAgreement-2 (two consecutive hypotheses agree) decides which words are
//! committed; when it ends, it is decoded once more for the final text. The engine is told
//! which decodes are partial and which final ([`Purpose`]), so that it can make partials cheap
//! (Whisper encodes only as much audio as the utterance holds, which is where the latency goes).
//!
//! Silero's recurrent state restarts at each call (as in whisper.cpp), so the stream is judged in
//! hops of a few frames, each call seeing about a second of audio before the hop; while idle,
//! a hop that is no louder than the background is not shown to the model at all, so that
//! listening to a quiet room costs next to nothing.

use std::time::{Duration, Instant};

use crate::endpoint::{
    frames, level_db, quietest_frame, Agreement, Boundary, EndpointRules, Endpointer, EnergyRule,
    NoiseFloor, Span, Verdict,
};
use crate::engine::{
    CancelToken, Capabilities, Engine, Purpose, Recognizer, Request, MIN_SAMPLES, SAMPLE_RATE,
};
use crate::error::Error;
use crate::filter::{cut_loop, is_hallucination};
use crate::pipeline::{default_threads, TranscribeOptions};
use crate::text::assemble;
use crate::vad::{VoiceDetector, VAD_FRAME_SAMPLES};

const FRAME: usize = VAD_FRAME_SAMPLES;
/// Frames judged per Silero call while idle, and while an utterance is under way (where the
/// end must be noticed quickly).
const HOP_IDLE: usize = 8;
const HOP_SPEAKING: usize = 4;
/// Frames each Silero call sees in all: the hop plus the frames before it, for its state.
const VAD_WINDOW: usize = 32;
/// No partial decode once the speaker has been quiet this long: the text will not change.
const PARTIAL_QUIET_MS: u32 = 200;
/// A pause this long starts the final decode, before the pause is long enough to end the
/// utterance: the audio the final decode needs is all there by now, and if the speaker goes
/// on, the result is thrown away (the default of [`DictationOptions::speculate_after_ms`]).
const SPECULATE_AFTER_MS: u32 = 250;
/// An utterance never grows past this (just under Whisper's 30 s window), nor past the longest
/// input the engine accepts.
const MAX_UTTERANCE_MS: u32 = 29_000;
/// Decodes get at least this much audio (200 ms), padded with silence.
const MIN_DECODE_SAMPLES: usize = SAMPLE_RATE / 5;

/// How utterances are found and decoded. Plain data; `Default` is tuned for dictation.
#[derive(Debug, Clone, PartialEq)]
pub struct DictationOptions {
    /// Language and the hallucination filter (word times are not used).
    pub transcribe: TranscribeOptions,
    /// CPU threads for the engine.
    pub threads: usize,
    /// Decode the growing utterance and emit [`DictationEvent::Partial`] events.
    pub partials: bool,
    /// Audio between two partial decodes, in milliseconds.
    pub partial_interval_ms: u32,
    /// Audio kept before the detected start of speech, in milliseconds.
    pub pre_roll_ms: u32,
    /// Audio after the last speech given to the final decode, in milliseconds.
    pub post_roll_ms: u32,
    /// A pause this long ends an utterance, in milliseconds.
    pub end_silence_ms: u32,
    /// An utterance with less speech than this is ignored (a cough, a click), in milliseconds.
    pub min_speech_ms: u32,
    /// An utterance longer than this is split at its quietest point, in milliseconds (at most
    /// 29 000).
    pub max_utterance_ms: u32,
    /// Silero speech probability that starts speech; speech goes on down to 0.15 below it.
    pub vad_threshold: f32,
    /// A pause this long starts the utterance's final decode early, in milliseconds; the
    /// result is used if nothing but silence follows (push-to-talk: the key's release finds
    /// the final decoded already), thrown away if the speaker goes on. Below `post_roll_ms`,
    /// the final decode gets only this much audio after the speech.
    pub speculate_after_ms: u32,
}

impl Default for DictationOptions {
    fn default() -> Self {
        Self {
            transcribe: TranscribeOptions::default(),
            threads: default_threads(),
            partials: false,
            partial_interval_ms: 500,
            pre_roll_ms: 400,
            post_roll_ms: 200,
            end_silence_ms: 600,
            min_speech_ms: 250,
            max_utterance_ms: 20_000,
            vad_threshold: 0.5,
            speculate_after_ms: SPECULATE_AFTER_MS,
        }
    }
}

/// What dictation reports.
#[derive(Debug, Clone, PartialEq)]
pub enum DictationEvent {
    /// The utterance under way so far. `committed` is a prefix of `text` and of every later
    /// partial's and the final's text: it never changes. An empty `text` withdraws an earlier
    /// partial (the utterance turned out to hold nothing).
    Partial {
        /// Words two consecutive hypotheses agreed on.
        committed: String,
        /// The committed words followed by the newest hypothesis for the rest.
        text: String,
    },
    /// A finished utterance. Times are seconds from the start of the stream.
    Final {
        /// Start of speech.
        start: f64,
        /// End of speech.
        end: f64,
        /// The text; never empty.
        text: String,
    },
}

/// Counters for the curious (`rech dictate -v`) and for benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DictationStats {
    /// Seconds of audio pushed.
    pub audio_seconds: f64,
    /// Frames judged by Silero (a frame seen by several overlapping calls counts each time).
    pub vad_frames: u64,
    /// Time spent in Silero.
    pub vad_time: Duration,
    /// Partial decodes.
    pub partial_decodes: u64,
    /// Final decodes, including those started early at a pause.
    pub final_decodes: u64,
    /// Final decodes started at a pause that the speaker then went on from: wasted work.
    pub wasted_decodes: u64,
    /// Time spent decoding.
    pub decode_time: Duration,
    /// Utterances dropped for holding too little speech.
    pub dropped: u64,
}

/// A final decode started as soon as the speaker paused, for the utterance as it stood.
struct Speculation {
    span: Span,
    audio_end: u64,
    hypothesis: String,
}

/// How frames are judged.
enum Detector {
    Silero(VoiceDetector),
    Energy,
}

/// Streaming recognition of one audio stream. Feed it with [`push`](Self::push); call
/// [`finish`](Self::finish) at the end of the stream.
pub struct Dictation {
    recognizer: Box<dyn Recognizer>,
    capabilities: Capabilities,
    cancel: CancelToken,
    detector: Detector,
    options: DictationOptions,
    rule: EnergyRule,
    endpointer: Endpointer,
    floor: NoiseFloor,
    /// Audio from absolute sample `base` on.
    audio: Vec<f32>,
    base: u64,
    /// (level dB, floor dB) of frames from absolute frame `levels_base` on.
    levels: Vec<(f32, f32)>,
    levels_base: u64,
    agreement: Agreement,
    /// Whether a partial with text was emitted for the utterance under way.
    partial_shown: bool,
    /// Stream position (samples) the last partial decode reached.
    last_partial_at: u64,
    probs: Vec<f32>,
    speculation: Option<Speculation>,
    stats: DictationStats,
    /// Seconds of audio in the streams before this one (see [`Dictation::restart`]).
    offset: f64,
}

impl std::fmt::Debug for Dictation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictation")
            .field("options", &self.options)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Dictation {
    /// Dictation with `engine`, judging speech with `vad` (Silero) or, when `None`, by energy
    /// (less reliable in noise).
    pub fn new(
        engine: &dyn Engine,
        vad: Option<VoiceDetector>,
        options: DictationOptions,
    ) -> Result<Self, Error> {
        if !(0.05..=0.95).contains(&options.vad_threshold) {
            return Err(Error::InvalidOption(format!(
                "VAD threshold {} is outside 0.05..=0.95",
                options.vad_threshold
            )));
        }
        let capabilities = engine.capabilities().clone();
        let longest_ms = capabilities
            .max_samples
            .map_or(MAX_UTTERANCE_MS, |n| (n * 1000 / SAMPLE_RATE) as u32)
            .min(MAX_UTTERANCE_MS);
        let mut options = options;
        options.max_utterance_ms = options.max_utterance_ms.clamp(2_000, longest_ms.max(2_000));
        let recognizer = engine.recognizer(options.threads)?;
        recognizer.check(&Request {
            language: options.transcribe.language.clone(),
            context: None,
            word_timestamps: false,
            purpose: Purpose::Final,
            temperature: options.transcribe.temperature,
        })?;
        let endpointer = Endpointer::new(EndpointRules {
            end_silence: frames(options.end_silence_ms),
            min_speech: frames(options.min_speech_ms),
        });
        Ok(Self {
            recognizer,
            capabilities,
            cancel: CancelToken::new(),
            detector: match vad {
                Some(vad) => Detector::Silero(vad),
                None => Detector::Energy,
            },
            options,
            rule: EnergyRule::default(),
            endpointer,
            floor: NoiseFloor::new(),
            audio: Vec::new(),
            base: 0,
            levels: Vec::new(),
            levels_base: 0,
            agreement: Agreement::default(),
            partial_shown: false,
            last_partial_at: 0,
            probs: Vec::new(),
            speculation: None,
            stats: DictationStats::default(),
            offset: 0.0,
        })
    }

    /// Whether speech is judged by Silero VAD (rather than by energy).
    pub fn uses_vad_model(&self) -> bool {
        matches!(self.detector, Detector::Silero(_))
    }

    /// The token that makes a decode under way stop with [`Error::Cancelled`] when raised.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Makes `token` the one that stops a decode under way (a server ties a stream's work to
    /// its client this way: the client leaves, the token is raised, the decode stops).
    pub fn with_cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Counters so far.
    pub fn stats(&self) -> &DictationStats {
        &self.stats
    }

    /// Whether an utterance is under way.
    pub fn in_utterance(&self) -> bool {
        self.endpointer.current().is_some()
    }

    /// Adds 16 kHz mono samples and returns what they brought about. Decodes run inside this
    /// call; push whatever has accumulated at once rather than chunk by chunk when decoding
    /// falls behind, and at most one partial decode runs per call.
    ///
    /// Once the speaker has paused for a quarter of a second, the final decode of the utterance
    /// runs in that call already, so that the final can be emitted the moment the pause is long
    /// enough to end the utterance.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<DictationEvent>, Error> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        self.audio.extend_from_slice(samples);
        self.stats.audio_seconds += samples.len() as f64 / SAMPLE_RATE as f64;
        let mut events = Vec::new();
        self.measure_levels();
        self.judge(false, &mut events)?;
        if events.is_empty() && !self.maybe_speculate()? {
            self.maybe_partial(&mut events)?;
        }
        self.trim();
        Ok(events)
    }

    /// Ends the stream: the utterance under way, if any, is decoded and finalised.
    pub fn finish(&mut self) -> Result<Vec<DictationEvent>, Error> {
        let mut events = Vec::new();
        self.measure_levels();
        self.judge(true, &mut events)?;
        if let Some(boundary) = self.endpointer.flush() {
            self.on_boundary(boundary, &mut events)?;
        }
        Ok(events)
    }

    /// Ends the stream as [`finish`](Self::finish) does, and readies the recogniser for a new
    /// one that follows after a gap (push-to-talk: the microphone was closed in between). The
    /// model, its state and the statistics are kept; times in later events go on from the end
    /// of this stream, the gap left out.
    pub fn restart(&mut self) -> Result<Vec<DictationEvent>, Error> {
        let events = self.finish()?;
        self.offset += self.total() as f64 / SAMPLE_RATE as f64;
        self.endpointer = Endpointer::new(EndpointRules {
            end_silence: frames(self.options.end_silence_ms),
            min_speech: frames(self.options.min_speech_ms),
        });
        self.floor = NoiseFloor::new();
        self.audio.clear();
        self.base = 0;
        self.levels.clear();
        self.levels_base = 0;
        self.agreement = Agreement::default();
        self.partial_shown = false;
        self.last_partial_at = 0;
        self.probs.clear();
        self.speculation = None;
        Ok(events)
    }

    fn total(&self) -> u64 {
        self.base + self.audio.len() as u64
    }

    /// Level and floor of every new complete frame.
    fn measure_levels(&mut self) {
        let complete = self.total() / FRAME as u64;
        let mut next = self.levels_base + self.levels.len() as u64;
        while next < complete {
            let from = (next * FRAME as u64 - self.base) as usize;
            let db = level_db(&self.audio[from..from + FRAME]);
            let floor = self.floor.push(db);
            self.levels.push((db, floor));
            next += 1;
        }
    }

    fn level(&self, frame: u64) -> (f32, f32) {
        self.levels[(frame - self.levels_base) as usize]
    }

    /// Verdicts for the measured frames not yet judged, hop by hop; `all` judges a last,
    /// shorter hop too (end of stream).
    fn judge(&mut self, all: bool, events: &mut Vec<DictationEvent>) -> Result<(), Error> {
        let measured = self.levels_base + self.levels.len() as u64;
        loop {
            let next = self.endpointer.position();
            let available = (measured - next) as usize;
            let hop = if self.in_utterance() {
                HOP_SPEAKING
            } else {
                HOP_IDLE
            };
            let hop = if available >= hop {
                hop
            } else if all && available > 0 {
                available
            } else {
                return Ok(());
            };
            let verdicts = self.verdicts(next, hop)?;
            for verdict in verdicts {
                if let Some(boundary) = self.endpointer.push(verdict) {
                    self.on_boundary(boundary, events)?;
                }
                self.maybe_split(events)?;
            }
        }
    }

    fn verdicts(&mut self, first: u64, hop: usize) -> Result<Vec<Verdict>, Error> {
        let frames = first..first + hop as u64;
        match &mut self.detector {
            Detector::Energy => Ok(frames
                .map(|f| {
                    let (db, floor) = self.levels[(f - self.levels_base) as usize];
                    Verdict {
                        speech: self.rule.is_speech(db, floor),
                        keep: self.rule.keeps_speech(db, floor),
                    }
                })
                .collect()),
            Detector::Silero(vad) => {
                let idle = self.endpointer.current().is_none();
                let gate_open = frames.clone().any(|f| {
                    let (db, floor) = self.levels[(f - self.levels_base) as usize];
                    self.rule.opens_gate(db, floor)
                });
                if idle && !gate_open {
                    return Ok(vec![
                        Verdict {
                            speech: false,
                            keep: false
                        };
                        hop
                    ]);
                }
                let oldest = self.base.div_ceil(FRAME as u64);
                let from = first
                    .saturating_sub((VAD_WINDOW - hop.min(VAD_WINDOW)) as u64)
                    .max(oldest);
                let to = first + hop as u64;
                let a = (from * FRAME as u64 - self.base) as usize;
                let b = (to * FRAME as u64 - self.base) as usize;
                self.probs.clear();
                let started = Instant::now();
                vad.speech_probabilities(&self.audio[a..b], &mut self.probs)?;
                self.stats.vad_time += started.elapsed();
                self.stats.vad_frames += to - from;
                let on = self.options.vad_threshold;
                let off = (on - 0.15).max(0.01);
                let skip = (first - from) as usize;
                Ok(self
                    .probs
                    .iter()
                    .skip(skip)
                    .take(hop)
                    .map(|&p| Verdict {
                        speech: p >= on,
                        keep: p >= off,
                    })
                    .collect())
            }
        }
    }

    fn on_boundary(
        &mut self,
        boundary: Boundary,
        events: &mut Vec<DictationEvent>,
    ) -> Result<(), Error> {
        match boundary {
            Boundary::Started(frame) => {
                self.discard_speculation();
                self.agreement = Agreement::default();
                self.partial_shown = false;
                self.last_partial_at = frame * FRAME as u64;
            }
            Boundary::Ended(span) => {
                let post = ms_to_samples(self.options.post_roll_ms) as u64;
                let end = (span.end * FRAME as u64 + post).min(self.total());
                self.finalise(span, end, events)?;
            }
            Boundary::Dropped(_) => {
                self.discard_speculation();
                self.stats.dropped += 1;
                self.withdraw_partial(events);
            }
        }
        Ok(())
    }

    /// Splits an utterance that reached the maximum length at its quietest frame in its second
    /// half, and finalises the part before.
    fn maybe_split(&mut self, events: &mut Vec<DictationEvent>) -> Result<(), Error> {
        let Some(span) = self.endpointer.current() else {
            return Ok(());
        };
        let now = self.endpointer.position();
        let max = frames(self.options.max_utterance_ms) as u64;
        if now - span.start < max {
            return Ok(());
        }
        let search_from = span.start + max / 2;
        let levels: Vec<f32> = (self.levels_base..now).map(|f| self.level(f).0).collect();
        let offset = |f: u64| (f - self.levels_base) as usize;
        let cut = quietest_frame(&levels, offset(search_from)..offset(now))
            .map_or(now, |i| self.levels_base + i as u64);
        if let Some(first) = self.endpointer.split_at(cut) {
            self.discard_speculation();
            self.finalise(first, cut * FRAME as u64, events)?;
            self.agreement = Agreement::default();
            self.partial_shown = false;
            self.last_partial_at = cut * FRAME as u64;
        }
        Ok(())
    }

    /// The audio an utterance is decoded from: the pre-roll before its start, up to `end`.
    fn utterance_audio(&self, span: Span, end: u64) -> &[f32] {
        let pre = ms_to_samples(self.options.pre_roll_ms) as u64;
        let from = (span.start * FRAME as u64)
            .saturating_sub(pre)
            .max(self.base);
        let end = end.clamp(from, self.total());
        &self.audio[(from - self.base) as usize..(end - self.base) as usize]
    }

    fn finalise(
        &mut self,
        span: Span,
        end: u64,
        events: &mut Vec<DictationEvent>,
    ) -> Result<(), Error> {
        let hypothesis = match self.speculation.take() {
            // The same speech, and after it no more than silence the early decode did not
            // hear (its post-roll may be shorter).
            Some(early)
                if early.span.start == span.start
                    && early.span.end == span.end
                    && early.audio_end <= end =>
            {
                log::debug!("final: the early decode's");
                early.hypothesis
            }
            early => {
                if early.is_some() {
                    self.stats.wasted_decodes += 1;
                }
                log::debug!(
                    "final: decoding now (early decode: {})",
                    if early.is_some() {
                        "another span"
                    } else {
                        "none"
                    }
                );
                let audio = self.utterance_audio(span, end).to_vec();
                let hypothesis = self.decode(&audio, Purpose::Final)?;
                self.stats.final_decodes += 1;
                hypothesis
            }
        };
        let text = self.agreement.finish(&hypothesis);
        let invented = self.options.transcribe.filter_hallucinations
            && self.capabilities.hallucinates_on_silence
            && is_hallucination(&text);
        if text.is_empty() || invented {
            self.withdraw_partial(events);
        } else {
            events.push(DictationEvent::Final {
                start: self.offset + (span.start * FRAME as u64) as f64 / SAMPLE_RATE as f64,
                end: self.offset + (span.end * FRAME as u64) as f64 / SAMPLE_RATE as f64,
                text,
            });
        }
        self.partial_shown = false;
        Ok(())
    }

    fn withdraw_partial(&mut self, events: &mut Vec<DictationEvent>) {
        if self.partial_shown {
            events.push(DictationEvent::Partial {
                committed: String::new(),
                text: String::new(),
            });
            self.partial_shown = false;
        }
    }

    fn discard_speculation(&mut self) {
        if self.speculation.take().is_some() {
            self.stats.wasted_decodes += 1;
        }
    }

    /// Runs the final decode early when the speaker has paused
    /// ([`DictationOptions::speculate_after_ms`]); returns whether it did.
    fn maybe_speculate(&mut self) -> Result<bool, Error> {
        let Some(span) = self.endpointer.current() else {
            return Ok(false);
        };
        let trailing = self.endpointer.trailing_silence();
        let pause = trailing >= frames(self.options.speculate_after_ms).max(1)
            && trailing < frames(self.options.end_silence_ms)
            && span.voiced >= frames(self.options.min_speech_ms);
        let audio_end = (span.end * FRAME as u64 + ms_to_samples(self.options.post_roll_ms) as u64)
            .min(self.total());
        let current = self
            .speculation
            .as_ref()
            .is_some_and(|s| s.span.start == span.start && s.span.end == span.end);
        if !pause || current {
            return Ok(false);
        }
        self.discard_speculation();
        log::debug!(
            "early final decode after {} ms of pause, {:.2} s of audio past the speech",
            trailing as u64 * FRAME as u64 * 1000 / SAMPLE_RATE as u64,
            (self.total() - span.end * FRAME as u64) as f64 / SAMPLE_RATE as f64
        );
        let audio = self.utterance_audio(span, audio_end).to_vec();
        let hypothesis = self.decode(&audio, Purpose::Final)?;
        self.stats.final_decodes += 1;
        self.speculation = Some(Speculation {
            span,
            audio_end,
            hypothesis,
        });
        Ok(true)
    }

    fn maybe_partial(&mut self, events: &mut Vec<DictationEvent>) -> Result<(), Error> {
        if !self.options.partials {
            return Ok(());
        }
        let Some(span) = self.endpointer.current() else {
            return Ok(());
        };
        let total = self.total();
        let due =
            total - self.last_partial_at >= ms_to_samples(self.options.partial_interval_ms) as u64;
        let speaking = self.endpointer.trailing_silence() < frames(PARTIAL_QUIET_MS);
        let enough = span.voiced >= frames(self.options.min_speech_ms);
        if !(due && speaking && enough) {
            return Ok(());
        }
        let audio = self.utterance_audio(span, total).to_vec();
        let hypothesis = self.decode(&audio, Purpose::Partial)?;
        self.stats.partial_decodes += 1;
        self.last_partial_at = total;
        let (committed, text) = self.agreement.update(&hypothesis);
        if text.is_empty() && !self.partial_shown {
            return Ok(());
        }
        self.partial_shown = !text.is_empty();
        events.push(DictationEvent::Partial { committed, text });
        Ok(())
    }

    /// Decodes an utterance into one line of text.
    fn decode(&mut self, audio: &[f32], purpose: Purpose) -> Result<String, Error> {
        let min = MIN_DECODE_SAMPLES
            .max(MIN_SAMPLES)
            .max(self.capabilities.min_samples);
        let padded;
        let audio = if audio.len() < min {
            padded = {
                let mut v = audio.to_vec();
                v.resize(min, 0.0);
                v
            };
            &padded[..]
        } else {
            audio
        };
        let request = Request {
            language: self.options.transcribe.language.clone(),
            context: None,
            word_timestamps: false,
            purpose,
            temperature: self.options.transcribe.temperature,
        };
        let started = Instant::now();
        let result = self
            .recognizer
            .recognize(audio, &request, &self.cancel, &mut |_| {});
        self.stats.decode_time += started.elapsed();
        let texts: Vec<String> = assemble(result?.segments)
            .into_iter()
            .map(|s| s.text)
            .collect();
        let text = texts.join(" ").trim().to_owned();
        // A decoding loop (the engine repeating itself up to its token limit) is never shown:
        // only the words before it and one copy of what it repeated.
        let guarded = self.options.transcribe.filter_hallucinations
            && self.capabilities.hallucinates_on_silence;
        let looped = match guarded {
            true => cut_loop(&text),
            false => None,
        };
        Ok(match looped {
            Some((cut, dropped)) => {
                // Not a warning: it would break the line a terminal rewrites in place.
                log::info!("dictation: cut a decoding loop ({dropped} repeated words)");
                cut
            }
            None => text,
        })
    }

    /// Drops audio and levels nobody will need again: everything before the pre-roll of the
    /// utterance under way, or before what the next VAD call and a new utterance's pre-roll
    /// could reach.
    fn trim(&mut self) {
        let pre = ms_to_samples(self.options.pre_roll_ms) as u64;
        let next_frame = self.endpointer.position();
        let vad_reach = next_frame.saturating_sub(VAD_WINDOW as u64) * FRAME as u64;
        let mut keep = (next_frame * FRAME as u64)
            .saturating_sub(pre)
            .min(vad_reach);
        if let Some(span) = self.endpointer.current() {
            keep = keep.min((span.start * FRAME as u64).saturating_sub(pre));
        }
        let keep = keep.min(self.total());
        // Move memory only once a few seconds have piled up.
        if keep > self.base + 4 * SAMPLE_RATE as u64 {
            let drop = (keep - self.base) as usize;
            self.audio.drain(..drop);
            self.base = keep;
        }
        let keep_levels = match self.endpointer.current() {
            Some(span) => span.start,
            None => next_frame,
        };
        if keep_levels > self.levels_base + 256 {
            let drop = (keep_levels - self.levels_base) as usize;
            self.levels.drain(..drop.min(self.levels.len()));
            self.levels_base += drop as u64;
        }
    }
}

fn ms_to_samples(ms: u32) -> usize {
    (u64::from(ms) * SAMPLE_RATE as u64 / 1000) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEngine, Reply};

    /// Silence with tone bursts ("speech" for the energy rule) at the given (start, end) seconds.
    fn bursts(seconds: f64, at: &[(f64, f64)]) -> Vec<f32> {
        let n = (seconds * SAMPLE_RATE as f64) as usize;
        let mut v: Vec<f32> = (0..n)
            .map(|i| 0.001 * ((i * 7919 % 1000) as f32 / 500.0 - 1.0))
            .collect();
        for &(a, b) in at {
            for (i, s) in v
                .iter_mut()
                .enumerate()
                .take((b * SAMPLE_RATE as f64) as usize)
                .skip((a * SAMPLE_RATE as f64) as usize)
            {
                *s = 0.3 * (i as f32 * 0.07).sin() * (1.0 + 0.5 * (i as f32 * 0.003).sin());
            }
        }
        v
    }

    fn options() -> DictationOptions {
        DictationOptions {
            threads: 1,
            ..Default::default()
        }
    }

    fn run(d: &mut Dictation, audio: &[f32], chunk: usize) -> Vec<DictationEvent> {
        let mut events = Vec::new();
        for piece in audio.chunks(chunk) {
            events.extend(d.push(piece).unwrap());
        }
        events.extend(d.finish().unwrap());
        events
    }

    fn finals(events: &[DictationEvent]) -> Vec<(f64, f64)> {
        events
            .iter()
            .filter_map(|e| match e {
                DictationEvent::Final { start, end, .. } => Some((*start, *end)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn energy_endpointing_finds_each_burst_with_its_bounds() {
        let model = FakeEngine::new(Reply::Repeat);
        let mut d = Dictation::new(&model, None, options()).unwrap();
        let audio = bursts(9.0, &[(1.0, 2.5), (4.0, 4.9), (6.0, 8.2)]);
        let events = run(&mut d, &audio, 1_600);
        let got = finals(&events);
        assert_eq!(got.len(), 3, "{events:?}");
        for ((start, end), (a, b)) in got.iter().zip([(1.0, 2.5), (4.0, 4.9), (6.0, 8.2)]) {
            assert!((start - a).abs() < 0.1 && (end - b).abs() < 0.1, "{got:?}");
        }
    }

    #[test]
    fn a_restart_finalises_the_utterance_under_way_and_times_go_on_after_it() {
        let model = FakeEngine::new(Reply::Repeat);
        let mut d = Dictation::new(&model, None, options()).unwrap();
        // Push-to-talk released in the middle of speech: the utterance ends there.
        let mut events = Vec::new();
        for piece in bursts(3.0, &[(1.0, 3.0)]).chunks(1_600) {
            events.extend(d.push(piece).unwrap());
        }
        assert!(d.in_utterance());
        events.extend(d.restart().unwrap());
        assert!(!d.in_utterance());
        let first = finals(&events);
        assert_eq!(first.len(), 1, "{events:?}");
        assert!((first[0].0 - 1.0).abs() < 0.1, "{first:?}");
        // Pressed again: the new stream starts clean, its times after the first's 3 s.
        let second = finals(&run(&mut d, &bursts(4.0, &[(1.0, 2.5)]), 1_600));
        assert_eq!(second.len(), 1, "{second:?}");
        assert!(
            (second[0].0 - 4.0).abs() < 0.1 && (second[0].1 - 5.5).abs() < 0.1,
            "{second:?}"
        );
    }

    #[test]
    fn the_pre_roll_reaches_back_before_the_speech() {
        let model = FakeEngine::new(Reply::Repeat);
        let mut d = Dictation::new(&model, None, options()).unwrap();
        d.push(&bursts(3.0, &[(2.0, 3.0)])).unwrap();
        let span = d.endpointer.current().expect("speech under way");
        let audio = d.utterance_audio(span, d.total());
        let pre = audio.len() as f64 / 16_000.0 - (3.0 - span.start as f64 * 0.032);
        assert!(pre >= 0.3, "pre-roll {pre}");
    }

    #[test]
    fn silence_and_blips_give_nothing_and_long_speech_is_split() {
        let model = FakeEngine::new(Reply::Repeat);
        let mut d = Dictation::new(&model, None, options()).unwrap();
        let events = run(&mut d, &bursts(6.0, &[(2.0, 2.1)]), 4_000);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(d.stats().dropped, 1);

        // 7 s of speech with a quiet dip at 4.5 s and a 4 s limit: split at the dip.
        let mut d = Dictation::new(
            &model,
            None,
            DictationOptions {
                max_utterance_ms: 4_000,
                ..options()
            },
        )
        .unwrap();
        let audio = bursts(9.0, &[(1.0, 4.5), (4.6, 8.0)]);
        let got = finals(&run(&mut d, &audio, 3_200));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            (got[0].1 - 4.5).abs() < 0.15 && (got[1].0 - 4.55).abs() < 0.15,
            "{got:?}"
        );
    }

    #[test]
    fn the_final_decode_starts_at_the_pause_and_gives_the_same_text() {
        let model = FakeEngine::new(Reply::Digest);
        let audio = bursts(8.0, &[(0.5, 2.0), (2.4, 3.0), (4.5, 6.5)]);
        // In 100 ms chunks, as a microphone delivers: each final is decoded at the pause.
        let mut live = Dictation::new(&model, None, options()).unwrap();
        let live_events = run(&mut live, &audio, 1_600);
        // All at once: the pauses are only seen complete, so nothing is decoded early.
        let mut batch = Dictation::new(&model, None, options()).unwrap();
        let batch_events = run(&mut batch, &audio, audio.len());
        assert_eq!(live_events, batch_events);
        assert_eq!(finals(&live_events).len(), 2, "{live_events:?}");
        // The 400 ms pause inside the first utterance started a decode that was thrown away.
        assert_eq!(live.stats().wasted_decodes, 1);
        assert_eq!(live.stats().final_decodes, 3);
        assert_eq!(batch.stats().final_decodes, 2);
    }

    #[test]
    fn a_release_soon_after_the_speech_finds_its_final_decoded_already() {
        let model = FakeEngine::new(Reply::Digest);
        // Push-to-talk: 2 s of speech, released 200 ms after it (before the 250 ms default
        // pause, and with less than the 200 ms post-roll past the detected end).
        let audio = bursts(3.2, &[(1.0, 3.0)]);
        let release = |speculate_after_ms: u32| {
            let mut d = Dictation::new(
                &model,
                None,
                DictationOptions {
                    speculate_after_ms,
                    ..options()
                },
            )
            .unwrap();
            let mut events = Vec::new();
            for piece in audio.chunks(1_600) {
                events.extend(d.push(piece).unwrap());
            }
            let decodes_before_release = d.stats().final_decodes;
            events.extend(d.restart().unwrap());
            (events, decodes_before_release, d.stats().clone())
        };
        // Default: nothing was decoded before the release; the release decodes.
        let (late, before, stats) = release(250);
        assert_eq!((before, stats.final_decodes), (0, 1), "{late:?}");
        // 100 ms: decoded during the pause, and that decode is the final, text and times.
        let (early, before, stats) = release(100);
        assert_eq!((before, stats.final_decodes), (1, 1), "{early:?}");
        assert_eq!(stats.wasted_decodes, 0);
        assert_eq!(finals(&early).len(), 1);
        assert_eq!(finals(&early), finals(&late));
    }

    #[test]
    fn partials_keep_their_committed_prefix() {
        let model = FakeEngine::new(Reply::Repeat);
        let mut d = Dictation::new(
            &model,
            None,
            DictationOptions {
                partials: true,
                ..options()
            },
        )
        .unwrap();
        let events = run(&mut d, &bursts(5.0, &[(0.5, 3.5)]), 1_600);
        let mut committed: Vec<String> = Vec::new();
        let mut partials = 0;
        for e in &events {
            let text = match e {
                DictationEvent::Partial { committed: c, text } => {
                    partials += 1;
                    assert!(text.starts_with(c.as_str()));
                    committed.push(c.clone());
                    text
                }
                DictationEvent::Final { text, .. } => text,
            };
            for c in &committed {
                assert!(text.starts_with(c.as_str()), "{c:?} then {text:?}");
            }
        }
        assert!(partials >= 3, "{events:?}");
        assert!(matches!(events.last(), Some(DictationEvent::Final { .. })));
        assert!(d.stats().partial_decodes >= 3);
    }
}
