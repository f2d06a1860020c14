//! Who spoke when, once it is known: speakers numbered or named as the caller asks, and
//! transcripts of one speaker each (the channels of a call recording) merged onto one timeline.

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
                "the speaker label {:?} has no {{n}} for the speaker's number",
                self.pattern
            ));
        }
        for (i, name) in self.names.iter().enumerate() {
            if name.trim().is_empty() {
                return Some(format!("speaker name {} is empty", i + 1));
            }
            if name.contains(['\n', '\r']) {
                return Some(format!("speaker name {name:?} has a line break"));
            }
            if self.names[..i].contains(name) {
                return Some(format!("the speaker name {name:?} is given twice"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Segment;

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
}
