//! Deciding, frame by frame, where an utterance starts and ends — kept apart from the engines
//! and from the VAD model so that the rules can be tested on made-up frame sequences.
//!
//! A frame is [`VAD_FRAME_SAMPLES`] samples (32 ms). Each frame gets a level in dBFS (for the
//! energy fallback, and for a cheap gate that spares the VAD model from running on plain
//! silence) and a speech verdict, from Silero's probability or from the energy rule.

use std::collections::VecDeque;

use crate::vad::VAD_FRAME_SAMPLES;

/// Frames per second (16 kHz / 512).
pub(crate) const FRAMES_PER_SECOND: f64 = 16_000.0 / VAD_FRAME_SAMPLES as f64;

/// Converts milliseconds into whole frames, at least one.
pub(crate) fn frames(ms: u32) -> usize {
    ((f64::from(ms) / 1000.0 * FRAMES_PER_SECOND).round() as usize).max(1)
}

/// Level of one frame in dBFS (RMS; -100 for digital silence).
pub(crate) fn level_db(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return -100.0;
    }
    let power = frame.iter().map(|&s| s * s).sum::<f32>() / frame.len() as f32;
    if power <= 1e-10 {
        -100.0
    } else {
        (10.0 * power.log10()).max(-100.0)
    }
}

/// Tracks the background level: the 10th percentile of frame levels over the last few
/// seconds. Speech has enough short dips between sounds that the percentile stays near the
/// room's noise, while the noise itself may drift.
#[derive(Debug, Clone)]
pub(crate) struct NoiseFloor {
    recent: VecDeque<f32>,
    window: usize,
    sorted: Vec<f32>,
}

impl NoiseFloor {
    pub fn new() -> Self {
        let window = (5.0 * FRAMES_PER_SECOND) as usize;
        Self {
            recent: VecDeque::with_capacity(window),
            window,
            sorted: Vec::with_capacity(window),
        }
    }

    /// Adds a frame's level; returns the floor including it.
    pub fn push(&mut self, db: f32) -> f32 {
        if self.recent.len() == self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(db);
        self.floor()
    }

    pub fn floor(&mut self) -> f32 {
        if self.recent.is_empty() {
            return -100.0;
        }
        self.sorted.clear();
        self.sorted.extend(self.recent.iter().copied());
        self.sorted.sort_by(f32::total_cmp);
        self.sorted[self.sorted.len() / 10]
    }
}

/// The energy rules: a frame this far above the floor (and above an absolute minimum) is
/// speech for the fallback detector; a quieter one is not worth asking the VAD model about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EnergyRule {
    /// dB above the floor for "speech" (fallback) …
    pub speech_above_floor: f32,
    /// … and the absolute minimum level of speech.
    pub speech_min_db: f32,
    /// dB above the floor below which the VAD model is not consulted while idle.
    pub gate_above_floor: f32,
    /// Absolute level below which the VAD model is not consulted while idle.
    pub gate_min_db: f32,
}

impl Default for EnergyRule {
    fn default() -> Self {
        Self {
            speech_above_floor: 12.0,
            speech_min_db: -50.0,
            gate_above_floor: 6.0,
            gate_min_db: -65.0,
        }
    }
}

impl EnergyRule {
    pub fn is_speech(&self, db: f32, floor: f32) -> bool {
        db >= floor + self.speech_above_floor && db >= self.speech_min_db
    }

    /// Whether the fallback keeps an utterance going: a softer rule, as Silero's lower "off"
    /// threshold does.
    pub fn keeps_speech(&self, db: f32, floor: f32) -> bool {
        db >= floor + self.speech_above_floor / 2.0 && db >= self.speech_min_db - 5.0
    }

    pub fn opens_gate(&self, db: f32, floor: f32) -> bool {
        db >= floor + self.gate_above_floor && db >= self.gate_min_db
    }
}

/// One frame's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Clearly speech: starts an utterance, and marks where it ends.
    pub speech: bool,
    /// At least possibly speech: keeps an utterance going.
    pub keep: bool,
}

/// The endpointer's timing rules, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndpointRules {
    /// Silence that ends an utterance.
    pub end_silence: usize,
    /// Less speech than this in an utterance and it is dropped (a cough, a click).
    pub min_speech: usize,
}

/// An utterance found by the endpointer, in frames from the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// First speech frame.
    pub start: u64,
    /// One past the last clear speech frame.
    pub end: u64,
    /// Frames judged speech in it.
    pub voiced: usize,
}

/// What the endpointer decided at a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// An utterance began at this frame.
    Started(u64),
    /// An utterance ended; it was long enough to keep.
    Ended(Span),
    /// An utterance ended but held too little speech.
    Dropped(Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Speaking {
        start: u64,
        /// One past the last frame with `speech`.
        end: u64,
        /// The last frame with `keep`.
        last_kept: u64,
        voiced: usize,
    },
}

/// The utterance state machine: idle until a clear speech frame, speaking until
/// `end_silence` frames pass without even possible speech.
#[derive(Debug, Clone)]
pub(crate) struct Endpointer {
    rules: EndpointRules,
    state: State,
    /// Index of the next frame.
    next: u64,
}

impl Endpointer {
    pub fn new(rules: EndpointRules) -> Self {
        Self {
            rules,
            state: State::Idle,
            next: 0,
        }
    }

    /// The frame index the next verdict is for.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The utterance under way, if any (its end so far).
    pub fn current(&self) -> Option<Span> {
        match self.state {
            State::Idle => None,
            State::Speaking {
                start, end, voiced, ..
            } => Some(Span { start, end, voiced }),
        }
    }

    /// Frames since the last possible speech frame of the utterance under way.
    pub fn trailing_silence(&self) -> usize {
        match self.state {
            State::Idle => 0,
            State::Speaking { last_kept, .. } => (self.next - last_kept - 1) as usize,
        }
    }

    pub fn push(&mut self, verdict: Verdict) -> Option<Boundary> {
        let frame = self.next;
        self.next += 1;
        match &mut self.state {
            State::Idle => {
                if verdict.speech {
                    self.state = State::Speaking {
                        start: frame,
                        end: frame + 1,
                        last_kept: frame,
                        voiced: 1,
                    };
                    return Some(Boundary::Started(frame));
                }
                None
            }
            State::Speaking {
                start,
                end,
                last_kept,
                voiced,
            } => {
                if verdict.speech {
                    *end = frame + 1;
                    *voiced += 1;
                }
                if verdict.keep || verdict.speech {
                    *last_kept = frame;
                    return None;
                }
                if (frame - *last_kept) as usize >= self.rules.end_silence {
                    let span = Span {
                        start: *start,
                        end: *end,
                        voiced: *voiced,
                    };
                    self.state = State::Idle;
                    return Some(if span.voiced >= self.rules.min_speech {
                        Boundary::Ended(span)
                    } else {
                        Boundary::Dropped(span)
                    });
                }
                None
            }
        }
    }

    /// Ends the utterance under way now (end of stream); `None` when idle.
    pub fn flush(&mut self) -> Option<Boundary> {
        let span = self.current()?;
        self.state = State::Idle;
        Some(if span.voiced >= self.rules.min_speech {
            Boundary::Ended(span)
        } else {
            Boundary::Dropped(span)
        })
    }

    /// Cuts the utterance under way at `frame` (a too-long utterance split): the part before is
    /// returned, and the utterance goes on from `frame`.
    pub fn split_at(&mut self, frame: u64) -> Option<Span> {
        let State::Speaking {
            start,
            end,
            last_kept,
            voiced,
        } = self.state
        else {
            return None;
        };
        let frame = frame.clamp(start + 1, self.next.max(start + 1));
        let before = Span {
            start,
            end: end.min(frame),
            voiced: voiced.min((frame - start) as usize),
        };
        self.state = State::Speaking {
            start: frame,
            end: end.max(frame + 1),
            last_kept: last_kept.max(frame),
            voiced: voiced.saturating_sub(before.voiced).max(1),
        };
        Some(before)
    }
}

/// The quietest point to cut `levels` (frame levels in dB) at: the middle of the quietest
/// 160 ms stretch, looked for in `search` (indices into `levels`). Ties go to the latest, so
/// that the first part is as long as possible.
pub(crate) fn quietest_frame(levels: &[f32], search: std::ops::Range<usize>) -> Option<usize> {
    const SMOOTH: usize = 5;
    let search = search.start.min(levels.len())..search.end.min(levels.len());
    if search.is_empty() {
        return None;
    }
    let mut best: Option<(f32, usize)> = None;
    for i in search {
        let from = i.saturating_sub(SMOOTH / 2);
        let to = (i + SMOOTH / 2 + 1).min(levels.len());
        let mean = levels[from..to].iter().sum::<f32>() / (to - from) as f32;
        if best.is_none_or(|(b, _)| mean <= b) {
            best = Some((mean, i));
        }
    }
    best.map(|(_, i)| i)
}

/// LocalAgreement-2 over words: what two consecutive hypotheses agree on becomes committed and
/// never changes; the rest of the newest hypothesis is tentative.
#[derive(Debug, Clone, Default)]
pub(crate) struct Agreement {
    committed: Vec<String>,
    previous: Vec<String>,
}

impl Agreement {
    /// Takes a new hypothesis; returns (committed text, committed + tentative text).
    ///
    /// Hypotheses are compared after their first words are replaced by the committed ones, so
    /// that a model changing its mind about an already committed word does not stop the
    /// agreement on what follows.
    pub fn update(&mut self, hypothesis: &str) -> (String, String) {
        let words: Vec<String> = hypothesis.split_whitespace().map(str::to_owned).collect();
        let aligned = self.aligned(&words);
        let agreed = self
            .previous
            .iter()
            .zip(&aligned)
            .take_while(|(a, b)| a == b)
            .count();
        if agreed > self.committed.len() {
            self.committed = aligned[..agreed].to_vec();
        }
        let text = aligned.join(" ");
        self.previous = aligned;
        (self.committed.join(" "), text)
    }

    /// `hypothesis` with its first words replaced by the committed ones: the final text, which
    /// must extend every committed prefix.
    pub fn finish(&mut self, hypothesis: &str) -> String {
        let words: Vec<String> = hypothesis.split_whitespace().map(str::to_owned).collect();
        let text = self.aligned(&words).join(" ");
        *self = Self::default();
        text
    }

    fn aligned(&self, words: &[String]) -> Vec<String> {
        let mut all = self.committed.clone();
        all.extend(words.iter().skip(self.committed.len()).cloned());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Verdict = Verdict {
        speech: true,
        keep: true,
    };
    const K: Verdict = Verdict {
        speech: false,
        keep: true,
    };
    const N: Verdict = Verdict {
        speech: false,
        keep: false,
    };

    fn run(rules: EndpointRules, verdicts: &[Verdict]) -> Vec<(usize, Boundary)> {
        let mut e = Endpointer::new(rules);
        let mut out = Vec::new();
        for (i, &v) in verdicts.iter().enumerate() {
            if let Some(b) = e.push(v) {
                out.push((i, b));
            }
        }
        if let Some(b) = e.flush() {
            out.push((verdicts.len(), b));
        }
        out
    }

    #[test]
    fn an_utterance_ends_after_the_pause_and_short_pauses_do_not_split() {
        let rules = EndpointRules {
            end_silence: 3,
            min_speech: 2,
        };
        // speech, a 2-frame pause, speech, a soft tail, then silence.
        let v = [N, S, S, N, N, S, K, N, N, N, N];
        let out = run(rules, &v);
        assert_eq!(out[0], (1, Boundary::Started(1)));
        assert_eq!(
            out[1],
            (
                9,
                Boundary::Ended(Span {
                    start: 1,
                    end: 6,
                    voiced: 3
                })
            )
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_blip_is_dropped_and_the_stream_end_flushes() {
        let rules = EndpointRules {
            end_silence: 2,
            min_speech: 3,
        };
        let out = run(rules, &[S, N, N, N, S, S, S]);
        assert!(matches!(out[1], (2, Boundary::Dropped(_))));
        assert_eq!(
            out[3],
            (
                7,
                Boundary::Ended(Span {
                    start: 4,
                    end: 7,
                    voiced: 3
                })
            )
        );
    }

    #[test]
    fn splitting_continues_the_utterance() {
        let rules = EndpointRules {
            end_silence: 5,
            min_speech: 1,
        };
        let mut e = Endpointer::new(rules);
        for _ in 0..10 {
            e.push(S);
        }
        let first = e.split_at(6).unwrap();
        assert_eq!((first.start, first.end, first.voiced), (0, 6, 6));
        let rest = e.current().unwrap();
        assert_eq!((rest.start, rest.end, rest.voiced), (6, 10, 4));
    }

    #[test]
    fn the_quietest_point_is_found() {
        let mut levels = vec![-20.0; 100];
        for l in &mut levels[60..66] {
            *l = -60.0;
        }
        levels[30] = -90.0; // a single dropout is not a pause
        assert_eq!(quietest_frame(&levels, 20..100), Some(63));
        assert_eq!(quietest_frame(&levels, 200..300), None);
    }

    #[test]
    fn the_floor_follows_the_background() {
        let mut floor = NoiseFloor::new();
        for i in 0..200 {
            // -60 dB noise with speech bursts at -20 dB every other half second.
            let db = if (i / 16) % 2 == 0 { -60.0 } else { -20.0 };
            floor.push(db);
        }
        assert_eq!(floor.floor(), -60.0);
        let rule = EnergyRule::default();
        assert!(rule.is_speech(-20.0, -60.0));
        assert!(!rule.is_speech(-55.0, -60.0));
        assert!(!rule.opens_gate(-58.0, -60.0));
        assert!(rule.opens_gate(-50.0, -60.0));
        assert_eq!(level_db(&[0.0; 512]), -100.0);
        assert!((level_db(&[0.5; 512]) - -6.0206).abs() < 1e-3);
    }

    #[test]
    fn committed_words_never_change() {
        let mut a = Agreement::default();
        assert_eq!(a.update("при вет"), (String::new(), "при вет".into()));
        assert_eq!(a.update("привет как"), (String::new(), "привет как".into()));
        assert_eq!(
            a.update("привет как дела"),
            ("привет как".into(), "привет как дела".into())
        );
        // The model changes its mind about a committed word: the committed text stays, and
        // agreement goes on after it.
        assert_eq!(
            a.update("превед как дела у"),
            ("привет как дела".into(), "привет как дела у".into())
        );
        assert_eq!(a.finish("превед"), "привет как дела");
        assert_eq!(
            a.update("новая фраза"),
            (String::new(), "новая фраза".into())
        );
    }
}
