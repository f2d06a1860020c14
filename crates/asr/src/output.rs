//! One writer per output format over a [`Transcript`], and the JSON of a dictation event: each
//! returns the bytes, and the caller decides where they go (stdout, a file written atomically,
//! an HTTP response, a WebSocket), so that every front end writes the same bytes.

use serde::Serialize;

use crate::dictation::DictationEvent;
use crate::subtitles::{cues, CueLimits};
use crate::transcript::{Segment, Transcript};

/// The file formats a transcript can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `txt`
    Txt,
    /// `srt`
    Srt,
    /// `vtt`
    Vtt,
    /// `json`: rech's own schema.
    Json,
    /// `tsv`
    Tsv,
    /// `verbose_json`: OpenAI's transcription `verbose_json`, field for field.
    VerboseJson,
    /// `whisper-json`: whisper-cli's `-oj`/`-ojf` layout.
    WhisperJson,
}

/// What shapes an output beyond the transcript itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RenderOptions {
    /// How subtitles (SRT, WebVTT) are cut into cues.
    pub cues: CueLimits,
}

impl Format {
    /// Every format, in the order front ends list them.
    pub const ALL: [Format; 7] = [
        Format::Txt,
        Format::Srt,
        Format::Vtt,
        Format::Json,
        Format::Tsv,
        Format::VerboseJson,
        Format::WhisperJson,
    ];

    /// The format's name, as `-f` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::VerboseJson => "verbose_json",
            Format::WhisperJson => "whisper-json",
            other => other.extension(),
        }
    }

    /// The format's file extension, without the dot (the three JSON formats share `json`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Json | Format::VerboseJson | Format::WhisperJson => "json",
            Format::Tsv => "tsv",
        }
    }

    /// The format a file name's extension stands for (`talk.srt` → SRT; `.json` is rech's
    /// own JSON).
    pub fn from_extension(extension: &str) -> Option<Format> {
        let extension = extension.to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == extension && f.extension() == extension)
    }

    /// What the format holds, in a few words (for help texts).
    pub fn description(self) -> &'static str {
        match self {
            Format::Txt => "Plain text, one segment per line",
            Format::Srt => "SubRip subtitles",
            Format::Vtt => "WebVTT subtitles",
            Format::Json => {
                "JSON with language, duration, text, segments and words (times in seconds)"
            }
            Format::Tsv => "Tab-separated start, end (milliseconds) and text, with a header line",
            Format::VerboseJson => "OpenAI's verbose_json (what the OpenAI API returns)",
            Format::WhisperJson => {
                "whisper-cli's -oj JSON (tokens as with -ojf when words are timed)"
            }
        }
    }

    /// Renders a transcript as a whole file, with the default options.
    pub fn render(self, transcript: &Transcript) -> String {
        self.render_with(transcript, &RenderOptions::default())
    }

    /// Renders a transcript as a whole file.
    pub fn render_with(self, transcript: &Transcript, options: &RenderOptions) -> String {
        match self {
            Format::Txt => txt(transcript),
            Format::Srt => srt(transcript, &options.cues),
            Format::Vtt => vtt(transcript, &options.cues),
            Format::Json => json(transcript),
            Format::Tsv => tsv(transcript),
            Format::VerboseJson => verbose_json(transcript),
            Format::WhisperJson => whisper_json(transcript),
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

fn srt(t: &Transcript, limits: &CueLimits) -> String {
    let mut out = String::new();
    for (i, cue) in cues(t, limits).iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(cue.start, ','),
            timestamp(cue.end, ','),
            cue.lines.join("\n")
        ));
    }
    out
}

fn vtt(t: &Transcript, limits: &CueLimits) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues(t, limits) {
        // "-->" inside a cue would end it early.
        let text = cue.lines.join("\n").replace("-->", "->");
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(cue.start, '.'),
            timestamp(cue.end, '.'),
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
    text: String,
    segments: Vec<JsonSegment<'a>>,
}

#[derive(Serialize)]
struct JsonSegment<'a> {
    start: f64,
    end: f64,
    text: &'a str,
    /// Only when word times were computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<Vec<JsonWord<'a>>>,
    no_speech_probability: f64,
}

#[derive(Serialize)]
struct JsonWord<'a> {
    start: f64,
    end: f64,
    text: &'a str,
    probability: f64,
}

fn pretty(value: &impl Serialize) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_default();
    out.push('\n');
    out
}

fn json(t: &Transcript) -> String {
    pretty(&JsonTranscript {
        language: &t.language,
        duration: secs(t.duration),
        text: t.text(),
        segments: t
            .segments
            .iter()
            .map(|s| JsonSegment {
                start: secs(s.start),
                end: secs(s.end),
                text: &s.text,
                words: t.word_times.then(|| {
                    s.words
                        .iter()
                        .map(|w| JsonWord {
                            start: secs(w.start),
                            end: secs(w.end),
                            text: &w.text,
                            probability: prob(w.probability),
                        })
                        .collect()
                }),
                no_speech_probability: prob(s.no_speech_probability),
            })
            .collect(),
    })
}

/// OpenAI's `verbose_json` (`TranscriptionVerbose` in its API reference), in its field order.
#[derive(Serialize)]
struct VerboseJson<'a> {
    task: &'static str,
    language: &'a str,
    duration: f64,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<Vec<VerboseSegment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<Vec<VerboseWord<'a>>>,
}

#[derive(Serialize)]
struct VerboseSegment {
    id: usize,
    seek: u64,
    start: f64,
    end: f64,
    text: String,
    tokens: Vec<u32>,
    temperature: f64,
    avg_logprob: f64,
    compression_ratio: f64,
    no_speech_prob: f64,
}

#[derive(Serialize)]
struct VerboseWord<'a> {
    word: &'a str,
    start: f64,
    end: f64,
}

/// OpenAI's verbose JSON. Its fields that describe Whisper's decoder are filled with what rech
/// knows: `tokens` is empty (token ids are the engine's, not the transcript's), `seek` is the
/// segment's start in 10 ms frames, `temperature` 0, `avg_logprob` the mean log-probability of
/// the segment's words, `compression_ratio` computed from the text as OpenAI computes it.
pub(crate) fn verbose_json(t: &Transcript) -> String {
    openai_verbose_json(t, true, t.word_times)
}

/// OpenAI's `verbose_json` as its transcription endpoint returns it for
/// `timestamp_granularities`: `segments` when `segments` is set, `words` when `words` is set
/// and the transcript has measured word times.
pub fn openai_verbose_json(t: &Transcript, segments: bool, words: bool) -> String {
    let language = crate::languages::name(&t.language).unwrap_or(&t.language);
    pretty(&VerboseJson {
        task: "transcribe",
        language,
        duration: secs(t.duration),
        text: t.text(),
        segments: segments.then(|| {
            t.segments
                .iter()
                .enumerate()
                .map(|(id, s)| VerboseSegment {
                    id,
                    seek: (s.start * 100.0).floor().max(0.0) as u64,
                    start: secs(s.start),
                    end: secs(s.end),
                    text: format!(" {}", s.text),
                    tokens: Vec::new(),
                    temperature: 0.0,
                    avg_logprob: avg_logprob(s),
                    compression_ratio: compression_ratio(&s.text),
                    no_speech_prob: prob(s.no_speech_probability),
                })
                .collect()
        }),
        words: (words && t.word_times).then(|| {
            t.segments
                .iter()
                .flat_map(|s| &s.words)
                .map(|w| VerboseWord {
                    word: w.text.trim(),
                    start: secs(w.start),
                    end: secs(w.end),
                })
                .collect()
        }),
    })
}

fn avg_logprob(s: &Segment) -> f64 {
    if s.words.is_empty() {
        return 0.0;
    }
    let sum: f64 = s
        .words
        .iter()
        .map(|w| f64::from(w.probability.max(1e-6)).ln())
        .sum();
    (sum / s.words.len() as f64 * 1000.0).round() / 1000.0
}

/// The text's length over its zlib-compressed length, OpenAI whisper's repetition measure.
fn compression_ratio(text: &str) -> f64 {
    use std::io::Write as _;
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_or(bytes.len(), |c| c.len());
    (bytes.len() as f64 / compressed.max(1) as f64 * 1000.0).round() / 1000.0
}

/// whisper-cli's `-oj` layout: `params`, `result` and `transcription`, each entry with
/// `timestamps` (SRT-style) and `offsets` (milliseconds); with word times, each entry has the
/// `tokens` list `-ojf` writes (one per word, with `p`).
#[derive(Serialize)]
struct WhisperCliJson<'a> {
    params: WhisperCliParams<'a>,
    result: WhisperCliParams<'a>,
    transcription: Vec<WhisperCliEntry<'a>>,
}

#[derive(Serialize)]
struct WhisperCliParams<'a> {
    language: &'a str,
}

#[derive(Serialize)]
struct WhisperCliSpan {
    from: String,
    to: String,
}

#[derive(Serialize)]
struct WhisperCliOffsets {
    from: u64,
    to: u64,
}

#[derive(Serialize)]
struct WhisperCliEntry<'a> {
    timestamps: WhisperCliSpan,
    offsets: WhisperCliOffsets,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<Vec<WhisperCliToken<'a>>>,
}

#[derive(Serialize)]
struct WhisperCliToken<'a> {
    text: &'a str,
    timestamps: WhisperCliSpan,
    offsets: WhisperCliOffsets,
    p: f64,
}

fn span(start: f64, end: f64) -> (WhisperCliSpan, WhisperCliOffsets) {
    let ms = |t: f64| (t.max(0.0) * 1000.0).round() as u64;
    (
        WhisperCliSpan {
            from: timestamp(start, ','),
            to: timestamp(end, ','),
        },
        WhisperCliOffsets {
            from: ms(start),
            to: ms(end),
        },
    )
}

fn whisper_json(t: &Transcript) -> String {
    pretty(&WhisperCliJson {
        params: WhisperCliParams {
            language: &t.language,
        },
        result: WhisperCliParams {
            language: &t.language,
        },
        transcription: t
            .segments
            .iter()
            .map(|s| {
                let (timestamps, offsets) = span(s.start, s.end);
                WhisperCliEntry {
                    timestamps,
                    offsets,
                    text: format!(" {}", s.text),
                    tokens: t.word_times.then(|| {
                        s.words
                            .iter()
                            .map(|w| {
                                let (timestamps, offsets) = span(w.start, w.end);
                                WhisperCliToken {
                                    text: &w.text,
                                    timestamps,
                                    offsets,
                                    p: prob(w.probability),
                                }
                            })
                            .collect()
                    }),
                }
            })
            .collect(),
    })
}

/// OpenAI's `json` response of the transcription endpoint: `{"text": …}`.
pub fn openai_json(t: &Transcript) -> String {
    serde_json::json!({ "text": t.text() }).to_string()
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
            word_times: true,
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
    fn json_has_text_and_words_only_when_timed() {
        let mut t = transcript();
        let v: serde_json::Value = serde_json::from_str(&Format::Json.render(&t)).unwrap();
        assert_eq!(v["text"], "Привет, мир. Второй\tсегмент\n--> тут");
        t.word_times = false;
        let v: serde_json::Value = serde_json::from_str(&Format::Json.render(&t)).unwrap();
        assert!(v["segments"][0].get("words").is_none(), "{v}");
    }

    #[test]
    fn verbose_json_is_openais() {
        let t = transcript();
        let v: serde_json::Value = serde_json::from_str(&Format::VerboseJson.render(&t)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["task", "language", "duration", "text", "segments", "words"]
        );
        assert_eq!(v["language"], "russian");
        let segment = v["segments"][0].as_object().unwrap();
        let keys: Vec<&str> = segment.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "seek",
                "start",
                "end",
                "text",
                "tokens",
                "temperature",
                "avg_logprob",
                "compression_ratio",
                "no_speech_prob"
            ]
        );
        assert_eq!(v["segments"][1]["id"], 1);
        assert_eq!(v["segments"][0]["text"], " Привет, мир.");
        assert_eq!(v["segments"][0]["avg_logprob"], -0.092);
        assert_eq!(
            v["words"][0],
            serde_json::json!({"word": "Привет,", "start": 62.345, "end": 62.8})
        );
        // zlib's ratio on a short text: a little under 1.
        let ratio = v["segments"][0]["compression_ratio"].as_f64().unwrap();
        assert!((0.5..1.0).contains(&ratio), "{ratio}");
        assert!(compression_ratio(&"и снова ".repeat(40)) > 10.0);
    }

    #[test]
    fn whisper_json_is_whisper_clis() {
        let v: serde_json::Value =
            serde_json::from_str(&Format::WhisperJson.render(&transcript())).unwrap();
        assert_eq!(v["result"]["language"], "ru");
        let first = &v["transcription"][0];
        assert_eq!(first["timestamps"]["from"], "00:01:02,345");
        assert_eq!(first["offsets"]["to"], 63000);
        assert_eq!(first["text"], " Привет, мир.");
        assert_eq!(first["tokens"][0]["p"], 0.912);
        assert_eq!(Format::from_extension("SRT"), Some(Format::Srt));
        assert_eq!(Format::from_extension("json"), Some(Format::Json));
        assert_eq!(Format::from_extension("mp3"), None);
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
