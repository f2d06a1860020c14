//! Who spoke when, once it is known: speakers numbered or named as the caller asks,
//! transcripts of one speaker each (the channels of a call recording) merged onto one
//! timeline, and diarization's speaker turns given to a transcript's words and segments.

use crate::transcript::{Speaker, Transcript};

/// The label numbered speakers get when no pattern is given: `Спикер 1`, `Спикер 2`, ….
pub const DEFAULT_SPEAKER_LABEL: &str = "Спикер {n}";

/// How speakers are called in outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerNaming {
    /// A label with `{n}` for the speaker's number, from 1 ([`DEFAULT_SPEAKER_LABEL`]).
    pub pattern: String,
    /// Names for the first speakers, in order (the channels' order, or the order in which
    /// speakers are first heard); those beyond get the pattern.
    pub names: Vec<String>,
}

impl Default for SpeakerNaming {
    fn default() -> Self {
        Self {
            pattern: DEFAULT_SPEAKER_LABEL.to_owned(),
            names: Vec::new(),
        }
    }
}

impl SpeakerNaming {
    /// Why this naming cannot label speakers apart, if it cannot: a pattern without `{n}`, an
    /// empty or duplicated name, a name with a line break.
    pub fn problem(&self) -> Option<String> {
        if !self.pattern.contains("{n}") {
            return Some(format!(
                "the speaker label {} has no {{n}} for the speaker's number",
                quoted(&self.pattern)
            ));
        }
        for (i, name) in self.names.iter().enumerate() {
            if name.trim().is_empty() {
                return Some(format!("speaker name {} is empty", i + 1));
            }
            if name.contains(['\n', '\r']) {
                return Some(format!("speaker name {} has a line break", quoted(name)));
            }
            if self.names[..i].contains(name) {
                return Some(format!("the speaker name {} is given twice", quoted(name)));
            }
        }
        None
    }

    /// `count` speakers, named or numbered.
    pub fn speakers(&self, count: usize) -> Vec<Speaker> {
        (0..count)
            .map(|i| match self.names.get(i) {
                Some(name) => Speaker {
                    label: name.trim().to_owned(),
                    named: true,
                },
                None => Speaker {
                    label: self.pattern.replace("{n}", &(i + 1).to_string()),
                    named: false,
                },
            })
            .collect()
    }
}

/// A name or label as an error message quotes it: its first 40 characters, so that a
/// server's error never echoes a whole field a client sent.
fn quoted(text: &str) -> String {
    const SHOWN: usize = 40;
    let head: String = text.chars().take(SHOWN).collect();
    if head.len() < text.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// One transcript of transcripts that each hold one speaker (the channels of a recording, in
/// order): every segment keeps its times and gets its speaker, and segments are ordered by
/// their start — speech at the same time on two channels stays, once on each side.
pub fn merge_speakers(parts: Vec<Transcript>, naming: &SpeakerNaming) -> Transcript {
    let speakers = naming.speakers(parts.len());
    let language = parts
        .iter()
        .map(|t| t.language.as_str())
        .find(|l| *l != "und")
        .or_else(|| parts.first().map(|t| t.language.as_str()))
        .unwrap_or("und")
        .to_owned();
    let duration = parts.iter().map(|t| t.duration).fold(0.0, f64::max);
    let word_times = !parts.is_empty() && parts.iter().all(|t| t.word_times);
    let mut segments: Vec<_> = parts
        .into_iter()
        .enumerate()
        .flat_map(|(speaker, t)| {
            t.segments.into_iter().map(move |mut s| {
                s.speaker = Some(speaker);
                s
            })
        })
        .collect();
    // Stable: at the same start, the earlier channel first.
    segments.sort_by(|a, b| a.start.total_cmp(&b.start));
    Transcript {
        language,
        duration,
        segments,
        word_times,
        speakers,
    }
}

/// A stretch of time in which one speaker speaks, as diarization finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// Which speaker (diarization's own numbering).
    pub speaker: usize,
}

/// The speaker of the span `start..end`: the one whose turns cover most of it, else (nobody
/// speaks in it) the one whose turn is nearest; `None` without turns. Equal shares go to the
/// lower number.
fn speaker_of(start: f64, end: f64, turns: &[Turn]) -> Option<usize> {
    let mut share: Vec<(usize, f64)> = Vec::new();
    for turn in turns {
        let overlap = end.min(turn.end) - start.max(turn.start);
        if overlap > 0.0 {
            match share.iter_mut().find(|(s, _)| *s == turn.speaker) {
                Some((_, total)) => *total += overlap,
                None => share.push((turn.speaker, overlap)),
            }
        }
    }
    if let Some(&(speaker, _)) = share
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    {
        return Some(speaker);
    }
    let middle = (start + end) / 2.0;
    let distance = |t: &Turn| (t.start - middle).max(middle - t.end).max(0.0);
    turns
        .iter()
        .min_by(|a, b| {
            distance(a)
                .total_cmp(&distance(b))
                .then(a.speaker.cmp(&b.speaker))
        })
        .map(|t| t.speaker)
}

/// `transcript` with a speaker for every segment from diarization's `turns`: with word times,
/// each word gets the speaker who speaks most while it is said, and a segment is split where
/// the speaker changes between two of its words; without them, each segment as a whole.
/// Speakers are numbered in the order they are first heard and named by `naming`.
pub fn assign_speakers(
    transcript: Transcript,
    turns: &[Turn],
    naming: &SpeakerNaming,
) -> Transcript {
    let mut segments = Vec::with_capacity(transcript.segments.len());
    for segment in transcript.segments {
        let by_word = transcript.word_times && !segment.words.is_empty();
        if !by_word {
            let speaker = speaker_of(segment.start, segment.end, turns);
            segments.push(crate::transcript::Segment { speaker, ..segment });
            continue;
        }
        let speakers: Vec<Option<usize>> = segment
            .words
            .iter()
            .map(|w| speaker_of(w.start, w.end, turns))
            .collect();
        if speakers.windows(2).all(|w| w[0] == w[1]) {
            let speaker = speakers[0];
            segments.push(crate::transcript::Segment { speaker, ..segment });
            continue;
        }
        // One segment per run of words of one speaker; the first starts where the segment
        // did, the last ends where it did.
        let count = segment.words.len();
        let mut from = 0;
        while from < count {
            let mut to = from + 1;
            while to < count && speakers[to] == speakers[from] {
                to += 1;
            }
            let words = segment.words[from..to].to_vec();
            let text: Vec<&str> = words.iter().map(|w| w.text.trim()).collect();
            segments.push(crate::transcript::Segment {
                start: if from == 0 {
                    segment.start
                } else {
                    words[0].start
                },
                end: if to == count {
                    segment.end
                } else {
                    words[words.len() - 1].end
                },
                text: text.join(" "),
                speaker: speakers[from],
                no_speech_probability: segment.no_speech_probability,
                words,
            });
            from = to;
        }
    }
    // Numbered in the order they are first heard.
    let mut order: Vec<usize> = Vec::new();
    for s in segments.iter().filter_map(|s| s.speaker) {
        if !order.contains(&s) {
            order.push(s);
        }
    }
    for segment in &mut segments {
        segment.speaker = segment
            .speaker
            .and_then(|s| order.iter().position(|&o| o == s));
    }
    Transcript {
        speakers: naming.speakers(order.len()),
        segments,
        ..transcript
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Segment;

    #[test]
    fn problems_quote_a_short_prefix_of_a_name() {
        // 250 control characters twice: quoted whole, each would be escaped to six.
        let name = "\u{1}".repeat(250);
        let naming = SpeakerNaming {
            names: vec![name.clone(), name],
            ..SpeakerNaming::default()
        };
        let problem = naming.problem().expect("a name given twice");
        assert!(problem.contains("given twice"), "{problem}");
        assert!(problem.chars().count() < 300, "{problem}");
    }

    fn part(duration: f64, spans: &[(f64, f64, &str)]) -> Transcript {
        Transcript {
            language: "ru".into(),
            duration,
            segments: spans
                .iter()
                .map(|&(start, end, text)| Segment {
                    start,
                    end,
                    text: text.into(),
                    words: Vec::new(),
                    no_speech_probability: 0.0,
                    speaker: None,
                })
                .collect(),
            word_times: false,
            speakers: Vec::new(),
        }
    }

    #[test]
    fn channels_merge_onto_one_timeline_and_overlaps_stay_on_both_sides() {
        let left = part(10.0, &[(0.5, 2.0, "Алло."), (4.0, 6.0, "Да, слушаю.")]);
        let right = part(10.0, &[(2.5, 3.5, "Здравствуйте."), (5.0, 7.0, "Вопрос.")]);
        let naming = SpeakerNaming {
            names: vec!["Оператор".into()],
            ..SpeakerNaming::default()
        };
        let merged = merge_speakers(vec![left, right], &naming);
        let order: Vec<(&str, Option<usize>)> = merged
            .segments
            .iter()
            .map(|s| (s.text.as_str(), s.speaker))
            .collect();
        assert_eq!(
            order,
            [
                ("Алло.", Some(0)),
                ("Здравствуйте.", Some(1)),
                ("Да, слушаю.", Some(0)),
                ("Вопрос.", Some(1)),
            ]
        );
        assert_eq!(
            merged.speakers,
            [
                Speaker {
                    label: "Оператор".into(),
                    named: true
                },
                Speaker {
                    label: "Спикер 2".into(),
                    named: false
                }
            ]
        );
        assert_eq!(merged.speaking_seconds(), [3.5, 3.0]);
        merged.check_times().unwrap();
    }

    #[test]
    fn a_naming_that_cannot_tell_speakers_apart_is_refused() {
        let bad = |pattern: &str, names: &[&str]| {
            SpeakerNaming {
                pattern: pattern.into(),
                names: names.iter().map(|n| n.to_string()).collect(),
            }
            .problem()
        };
        assert_eq!(bad("Спикер {n}", &["А", "Б"]), None);
        assert!(bad("Спикер", &[]).unwrap().contains("{n}"));
        assert!(bad("S{n}", &["А", " "]).unwrap().contains("empty"));
        assert!(bad("S{n}", &["А", "А"]).unwrap().contains("twice"));
    }

    fn timed(words: &[(&str, f64, f64)]) -> Transcript {
        use crate::transcript::Word;
        Transcript {
            language: "ru".into(),
            duration: 10.0,
            segments: vec![Segment {
                start: words[0].1 - 0.1,
                end: words[words.len() - 1].2 + 0.1,
                text: words.iter().map(|w| w.0).collect::<Vec<_>>().join(" "),
                words: words
                    .iter()
                    .map(|&(text, start, end)| Word {
                        start,
                        end,
                        text: text.into(),
                        probability: 0.9,
                    })
                    .collect(),
                no_speech_probability: 0.0,
                speaker: None,
            }],
            word_times: true,
            speakers: Vec::new(),
        }
    }

    #[test]
    fn a_segment_is_split_where_the_speaker_changes_between_words() {
        let turns = [
            Turn {
                start: 5.0,
                end: 10.0,
                speaker: 7,
            },
            Turn {
                start: 0.0,
                end: 5.0,
                speaker: 3,
            },
        ];
        let t = timed(&[
            ("Алло,", 3.0, 3.6),
            ("кто", 4.0, 4.5),
            ("Это", 5.5, 6.0),
            ("я.", 6.2, 6.8),
        ]);
        let out = assign_speakers(t, &turns, &SpeakerNaming::default());
        let got: Vec<(&str, Option<usize>, f64, f64)> = out
            .segments
            .iter()
            .map(|s| {
                let ms = |t: f64| (t * 1000.0).round() / 1000.0;
                (s.text.as_str(), s.speaker, ms(s.start), ms(s.end))
            })
            .collect();
        // Numbered as first heard: diarization's 3 is speaker 1 here.
        assert_eq!(
            got,
            [
                ("Алло, кто", Some(0), 2.9, 4.5),
                ("Это я.", Some(1), 5.5, 6.9)
            ]
        );
        assert_eq!(out.speakers.len(), 2);
        out.check_times().unwrap();
    }

    #[test]
    fn without_word_times_the_segment_goes_to_who_speaks_most_or_nearest() {
        let turns = [
            Turn {
                start: 0.0,
                end: 4.0,
                speaker: 0,
            },
            Turn {
                start: 4.0,
                end: 10.0,
                speaker: 1,
            },
        ];
        let mut t = part(10.0, &[(3.0, 7.0, "долго"), (11.0, 12.0, "после")]);
        t.duration = 12.0;
        let out = assign_speakers(t, &turns, &SpeakerNaming::default());
        // 1 s of speaker 0 against 3 s of speaker 1; after every turn, the nearest one.
        assert_eq!(out.segments[0].speaker, Some(0));
        assert_eq!(out.segments[1].speaker, Some(0));
        assert_eq!(out.speakers.len(), 1);
        assert_eq!(
            assign_speakers(
                part(1.0, &[(0.0, 1.0, "а")]),
                &[],
                &SpeakerNaming::default()
            )
            .segments[0]
                .speaker,
            None
        );
    }
}
