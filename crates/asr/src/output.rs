//! One writer per output format over a [`Transcript`], and the JSON of a dictation event: each
//! returns the bytes, and the caller decides where they go (stdout, a file written atomically,
//! an HTTP response, a WebSocket), so that every front end writes the same bytes.

use serde::Serialize;

use crate::dictation::DictationEvent;
use crate::transcript::Transcript;

/// The file formats a transcript can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `txt`
    Txt,
    /// `srt`
    Srt,
    /// `vtt`
    Vtt,
    /// `json`
    Json,
    /// `tsv`
    Tsv,
}

impl Format {
    /// Every format, in the order front ends list them.
    pub const ALL: [Format; 5] = [
        Format::Txt,
        Format::Srt,
        Format::Vtt,
        Format::Json,
        Format::Tsv,
    ];

    /// The format's name and file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Json => "json",
            Format::Tsv => "tsv",
        }
    }

    /// What the format holds, in a few words (for help texts).
    pub fn description(self) -> &'static str {
        match self {
            Format::Txt => "Plain text, one segment per line",
            Format::Srt => "SubRip subtitles",
            Format::Vtt => "WebVTT subtitles",
            Format::Json => "JSON with language, duration, segments and words (times in seconds)",
            Format::Tsv => "Tab-separated start, end (milliseconds) and text, with a header line",
        }
    }

    /// Renders a transcript as a whole file.
    pub fn render(self, transcript: &Transcript) -> String {
        match self {
            Format::Txt => txt(transcript),
            Format::Srt => srt(transcript),
            Format::Vtt => vtt(transcript),
            Format::Json => json(transcript),
            Format::Tsv => tsv(transcript),
        }
    }
}

fn txt(t: &Transcript) -> String {
    let mut out = String::new();
    for segment in &t.segments {
        out.push_str(&one_line(&segment.text));
        out.push('\n');
    }
    out
}

/// `HH:MM:SS<sep>mmm`, rounded to the millisecond.
pub fn timestamp(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn srt(t: &Transcript) -> String {
    let mut out = String::new();
    for (i, s) in t.segments.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(s.start, ','),
            timestamp(s.end, ','),
            one_line(&s.text)
        ));
    }
    out
}

fn vtt(t: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in &t.segments {
        // "-->" inside a cue would end it early.
        let text = one_line(&s.text).replace("-->", "->");
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(s.start, '.'),
            timestamp(s.end, '.'),
            text
        ));
    }
    out
}

fn tsv(t: &Transcript) -> String {
    let mut out = String::from("start\tend\ttext\n");
    for s in &t.segments {
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            (s.start * 1000.0).round() as u64,
            (s.end * 1000.0).round() as u64,
            one_line(&s.text).replace('\t', " ")
        ));
    }
    out
}

/// Seconds rounded to the millisecond, so JSON does not show float noise.
fn secs(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// A probability rounded to three digits.
fn prob(p: f32) -> f64 {
    (f64::from(p) * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct JsonTranscript<'a> {
    language: &'a str,
    duration: f64,
    segments: Vec<JsonSegment<'a>>,
}

#[derive(Serialize)]
struct JsonSegment<'a> {
    start: f64,
    end: f64,
    text: &'a str,
    words: Vec<JsonWord<'a>>,
    no_speech_probability: f64,
}

#[derive(Serialize)]
struct JsonWord<'a> {
    start: f64,
    end: f64,
    text: &'a str,
    probability: f64,
}

fn json(t: &Transcript) -> String {
    let doc = JsonTranscript {
        language: &t.language,
        duration: secs(t.duration),
        segments: t
            .segments
            .iter()
            .map(|s| JsonSegment {
                start: secs(s.start),
                end: secs(s.end),
                text: &s.text,
                words: s
                    .words
                    .iter()
                    .map(|w| JsonWord {
                        start: secs(w.start),
                        end: secs(w.end),
                        text: &w.text,
                        probability: prob(w.probability),
                    })
                    .collect(),
                no_speech_probability: prob(s.no_speech_probability),
            })
            .collect(),
    };
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// A dictation event as `rech dictate --format jsonl` writes it, one JSON object without a
/// line break: `{"type":"partial","text":…,"committed":…}` or
/// `{"type":"final","start":…,"end":…,"text":…}`, with `"at"` (seconds since listening
/// started, when the caller knows it) after a final's text. Times are rounded to the
/// millisecond.
pub fn dictation_event_json(event: &DictationEvent, at: Option<f64>) -> String {
    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Json<'a> {
        Partial {
            text: &'a str,
            committed: &'a str,
        },
        Final {
            start: f64,
            end: f64,
            text: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            at: Option<f64>,
        },
    }
    let value = match event {
        DictationEvent::Partial { committed, text } => Json::Partial { text, committed },
        DictationEvent::Final { start, end, text } => Json::Final {
            start: secs(*start),
            end: secs(*end),
            text,
            at: at.map(secs),
        },
    };
    serde_json::to_string(&value).unwrap_or_default()
}

/// Subtitle and line formats need one line per segment.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{Segment, Word};

    fn transcript() -> Transcript {
        Transcript {
            language: "ru".into(),
            duration: 3723.5,
            segments: vec![
                Segment {
                    start: 62.345,
                    end: 63.0,
                    text: "Привет, мир.".into(),
                    words: vec![Word {
                        start: 62.345,
                        end: 62.8,
                        text: "Привет,".into(),
                        probability: 0.91234,
                    }],
                    no_speech_probability: 0.01,
                },
                Segment {
                    start: 3722.0,
                    end: 3723.4996,
                    text: "Второй\tсегмент\n--> тут".into(),
                    words: vec![],
                    no_speech_probability: 0.2,
                },
            ],
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(62.345, ','), "00:01:02,345");
        assert_eq!(timestamp(62.345, '.'), "00:01:02.345");
        assert_eq!(timestamp(3723.4996, ','), "01:02:03,500");
        assert_eq!(timestamp(-1.0, ','), "00:00:00,000");
    }

    #[test]
    fn srt_blocks() {
        assert_eq!(
            Format::Srt.render(&transcript()),
            "1\n00:01:02,345 --> 00:01:03,000\nПривет, мир.\n\n\
             2\n01:02:02,000 --> 01:02:03,500\nВторой сегмент --> тут\n\n"
        );
    }

    #[test]
    fn vtt_has_header_and_dots() {
        assert_eq!(
            Format::Vtt.render(&transcript()),
            "WEBVTT\n\n00:01:02.345 --> 00:01:03.000\nПривет, мир.\n\n\
             01:02:02.000 --> 01:02:03.500\nВторой сегмент -> тут\n\n"
        );
    }

    #[test]
    fn tsv_in_milliseconds() {
        assert_eq!(
            Format::Tsv.render(&transcript()),
            "start\tend\ttext\n62345\t63000\tПривет, мир.\n3722000\t3723500\tВторой сегмент --> тут\n"
        );
    }

    #[test]
    fn txt_one_line_per_segment() {
        assert_eq!(
            Format::Txt.render(&transcript()),
            "Привет, мир.\nВторой сегмент --> тут\n"
        );
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&Format::Json.render(&transcript())).unwrap();
        assert_eq!(v["language"], "ru");
        assert_eq!(v["duration"], 3723.5);
        assert_eq!(v["segments"][0]["start"], 62.345);
        assert_eq!(v["segments"][0]["text"], "Привет, мир.");
        assert_eq!(v["segments"][0]["words"][0]["text"], "Привет,");
        assert_eq!(v["segments"][0]["words"][0]["probability"], 0.912);
        assert_eq!(v["segments"][1]["end"], 3723.5);
        assert_eq!(v["segments"][1]["words"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn dictation_events_as_json_lines() {
        let partial = DictationEvent::Partial {
            committed: "при".into(),
            text: "при вет".into(),
        };
        assert_eq!(
            dictation_event_json(&partial, Some(1.0)),
            r#"{"type":"partial","text":"при вет","committed":"при"}"#
        );
        let done = DictationEvent::Final {
            start: 0.4,
            end: 1.23456,
            text: "Привет.".into(),
        };
        assert_eq!(
            dictation_event_json(&done, Some(2.0004)),
            r#"{"type":"final","start":0.4,"end":1.235,"text":"Привет.","at":2.0}"#
        );
        assert_eq!(
            dictation_event_json(&done, None),
            r#"{"type":"final","start":0.4,"end":1.235,"text":"Привет."}"#
        );
    }
}
