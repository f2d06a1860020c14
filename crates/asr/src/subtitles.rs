//! Cutting a transcript into subtitle cues people can read: at most so many characters per
//! line and so many lines per cue, no cue on screen longer than a few seconds, cuts only
//! between words, and no cue that is empty in time or overlaps the next. A segment is one
//! thought of the engine's, often 20 s and 300 characters long; a cue is what fits on a screen.

use crate::transcript::{Segment, Transcript};

/// How cues are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CueLimits {
    /// Characters per line (42 is the usual broadcast figure).
    pub max_line_width: usize,
    /// Lines per cue.
    pub max_line_count: usize,
    /// Seconds a cue may stay on screen.
    pub max_cue_duration: f64,
}

impl Default for CueLimits {
    fn default() -> Self {
        Self {
            max_line_width: 42,
            max_line_count: 2,
            max_cue_duration: 7.0,
        }
    }
}

/// One subtitle: its span and its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// Seconds.
    pub start: f64,
    /// Seconds, after `start`.
    pub end: f64,
    /// One to `max_line_count` lines, none empty.
    pub lines: Vec<String>,
    /// Who speaks it, when the transcript is diarized: a cue never holds two speakers.
    pub speaker: Option<usize>,
}

/// Shortest cue: one millisecond, the resolution SRT and WebVTT write.
const MIN_CUE: f64 = 0.001;

/// A word with the span it is shown for.
struct Timed<'a> {
    text: &'a str,
    start: f64,
    end: f64,
}

/// The words of `segment` with times: measured ones when the transcript has them, otherwise
/// spread over the segment in proportion to their length (a cut then lands near, not at, the
/// word's real time; nothing else is known).
fn timed_words<'a>(segment: &'a Segment, measured: bool) -> Vec<Timed<'a>> {
    let letters = |text: &str| text.split_whitespace().collect::<String>();
    let words_cover_text = segment
        .words
        .iter()
        .map(|w| letters(&w.text))
        .collect::<String>()
        == letters(&segment.text);
    if measured && !segment.words.is_empty() && words_cover_text {
        return segment
            .words
            .iter()
            .map(|w| Timed {
                text: w.text.trim(),
                start: w.start,
                end: w.end,
            })
            .filter(|w| !w.text.is_empty())
            .collect();
    }
    let words: Vec<&str> = segment.text.split_whitespace().collect();
    let chars: usize = words.iter().map(|w| w.chars().count() + 1).sum();
    let span = segment.end - segment.start;
    let mut at = 0usize;
    words
        .into_iter()
        .map(|text| {
            let len = text.chars().count() + 1;
            let start = segment.start + span * at as f64 / chars.max(1) as f64;
            at += len;
            let end = segment.start + span * at as f64 / chars.max(1) as f64;
            Timed { text, start, end }
        })
        .collect()
}

/// Breaks `words` into lines of at most `width` characters (a longer word gets a line of its
/// own).
fn lines_of(words: &[&str], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in words {
        let fits = current.chars().count() + 1 + word.chars().count() <= width;
        if !current.is_empty() && !fits {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Cuts the transcript into cues within `limits`.
pub fn cues(transcript: &Transcript, limits: &CueLimits) -> Vec<Cue> {
    let width = limits.max_line_width.max(1);
    let count = limits.max_line_count.max(1);
    let mut cues: Vec<Cue> = Vec::new();
    for segment in &transcript.segments {
        let words = timed_words(segment, transcript.word_times);
        let first_cue = cues.len();
        let mut pending: Vec<&Timed<'_>> = Vec::new();
        let flush = |pending: &mut Vec<&Timed<'_>>, cues: &mut Vec<Cue>| {
            if let (Some(first), Some(last)) = (pending.first(), pending.last()) {
                let texts: Vec<&str> = pending.iter().map(|w| w.text).collect();
                cues.push(Cue {
                    start: first.start,
                    end: last.end.max(first.start),
                    lines: lines_of(&texts, width),
                    speaker: segment.speaker,
                });
            }
            pending.clear();
        };
        for word in &words {
            if let Some(first) = pending.first() {
                let mut texts: Vec<&str> = pending.iter().map(|w| w.text).collect();
                texts.push(word.text);
                let too_many_lines = lines_of(&texts, width).len() > count;
                let too_long = word.end - first.start > limits.max_cue_duration;
                if too_many_lines || too_long {
                    flush(&mut pending, &mut cues);
                }
            }
            pending.push(word);
            // A sentence that ends is a good place to cut, once the cue has a line's worth.
            let ends_sentence = word.text.ends_with(['.', '!', '?', '…']);
            let chars: usize = pending.iter().map(|w| w.text.chars().count() + 1).sum();
            if ends_sentence && chars > width {
                flush(&mut pending, &mut cues);
            }
        }
        flush(&mut pending, &mut cues);
        // The segment's own bounds hold its first and last cue.
        if let Some(first) = cues.get_mut(first_cue) {
            first.start = first.start.min(segment.start);
        }
        if cues.len() > first_cue {
            if let Some(last) = cues.last_mut() {
                last.end = last.end.max(segment.end);
            }
        }
    }
    settle(cues, width)
}

/// Orders cues and makes their spans valid: a cue ends no later than the next begins, and one
/// left shorter than [`MIN_CUE`] joins its neighbour rather than flash for no time at all.
/// Cues of two speakers may overlap (both speak; players show both), and never join.
fn settle(mut cues: Vec<Cue>, width: usize) -> Vec<Cue> {
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out: Vec<Cue> = Vec::with_capacity(cues.len());
    for mut cue in cues {
        if let Some(prev) = out.last_mut().filter(|prev| prev.speaker == cue.speaker) {
            if prev.end > cue.start {
                prev.end = cue.start;
            }
            if prev.end - prev.start < MIN_CUE {
                // Too short to show: its words go to the next cue, which starts where it did.
                let lines = std::mem::take(&mut prev.lines);
                let words: Vec<&str> = lines
                    .iter()
                    .chain(&cue.lines)
                    .flat_map(|l| l.split(' '))
                    .collect();
                cue.lines = lines_of(&words, width);
                cue.start = prev.start;
                out.pop();
            }
        }
        out.push(cue);
    }
    if let Some(last) = out.last_mut() {
        if last.end - last.start < MIN_CUE {
            last.end = last.start + MIN_CUE;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Word;

    fn segment(start: f64, end: f64, text: &str, words: &[(&str, f64, f64)]) -> Segment {
        Segment {
            speaker: None,
            start,
            end,
            text: text.to_owned(),
            words: words
                .iter()
                .map(|&(text, start, end)| Word {
                    start,
                    end,
                    text: text.to_owned(),
                    probability: 0.9,
                })
                .collect(),
            no_speech_probability: 0.0,
        }
    }

    fn transcript(segments: Vec<Segment>, word_times: bool) -> Transcript {
        Transcript {
            speakers: Vec::new(),
            language: "ru".into(),
            duration: 100.0,
            segments,
            word_times,
        }
    }

    #[test]
    fn long_segments_become_cues_of_two_short_lines_cut_between_words() {
        let text = "Сегодня мы поговорим о том, как устроена речь и почему её так трудно \
                    распознавать машине, особенно когда говорят быстро.";
        let t = transcript(vec![segment(0.0, 12.0, text, &[])], false);
        let cues = cues(&t, &CueLimits::default());
        assert!(cues.len() >= 2, "{cues:?}");
        let mut words = Vec::new();
        for cue in &cues {
            assert!((1..=2).contains(&cue.lines.len()), "{cue:?}");
            assert!(cue.lines.iter().all(|l| l.chars().count() <= 42), "{cue:?}");
            assert!(cue.end - cue.start <= 7.0 + 1e-9, "{cue:?}");
            words.extend(cue.lines.iter().flat_map(|l| l.split(' ')));
        }
        // Nothing lost, nothing cut mid-word.
        assert_eq!(
            words.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        for pair in cues.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{pair:?}");
        }
    }

    #[test]
    fn measured_word_times_set_the_cuts() {
        let words = [("Раз,", 0.0, 0.5), ("два,", 4.0, 4.5), ("три.", 9.0, 9.5)];
        let t = transcript(vec![segment(0.0, 9.5, "Раз, два, три.", &words)], true);
        let cues = cues(&t, &CueLimits::default());
        assert_eq!(cues.len(), 2, "{cues:?}");
        assert_eq!((cues[0].start, cues[0].end), (0.0, 4.5));
        assert_eq!(cues[0].lines, ["Раз, два,"]);
        assert_eq!((cues[1].start, cues[1].end), (9.0, 9.5));
    }

    #[test]
    fn no_zero_length_or_overlapping_cues() {
        // Three segments at one instant (a token in a VAD join), and one overlapping the next.
        let t = transcript(
            vec![
                segment(89.98, 89.98, "а", &[]),
                segment(89.98, 89.98, "б", &[]),
                segment(89.98, 91.0, "в", &[]),
                segment(90.5, 92.0, "г", &[]),
            ],
            false,
        );
        let cues = cues(&t, &CueLimits::default());
        for cue in &cues {
            assert!(cue.end - cue.start >= MIN_CUE - 1e-12, "{cues:?}");
        }
        for pair in cues.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{cues:?}");
        }
        let all: Vec<&str> = cues
            .iter()
            .flat_map(|c| c.lines.iter().map(String::as_str))
            .collect();
        assert_eq!(all.join(" "), "а б в г");
    }
}
