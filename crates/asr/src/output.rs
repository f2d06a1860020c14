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
    /// `diarized_json`: OpenAI's diarized transcription (`gpt-4o-transcribe-diarize`): segments
    /// with their speaker.
    DiarizedJson,
}

/// What shapes an output beyond the transcript itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RenderOptions {
    /// How subtitles (SRT, WebVTT) are cut into cues.
    pub cues: CueLimits,
}

impl Format {
    /// Every format, in the order front ends list them.
    pub const ALL: [Format; 8] = [
        Format::Txt,
        Format::Srt,
        Format::Vtt,
        Format::Json,
        Format::Tsv,
        Format::VerboseJson,
        Format::WhisperJson,
        Format::DiarizedJson,
    ];

    /// The format's name, as `-f` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::VerboseJson => "verbose_json",
            Format::WhisperJson => "whisper-json",
            Format::DiarizedJson => "diarized_json",
            other => other.extension(),
        }
    }

    /// The format's file extension, without the dot (the JSON formats share `json`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Json | Format::VerboseJson | Format::WhisperJson | Format::DiarizedJson => {
                "json"
            }
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
            Format::Txt => "Plain text, one segment per line (`Спикер 1: ` where the speaker changes)",
            Format::Srt => "SubRip subtitles",
            Format::Vtt => "WebVTT subtitles",
            Format::Json => {
                "JSON with language, duration, text, segments and words (times in seconds)"
            }
            Format::Tsv => {
                "Tab-separated start, end (milliseconds), speaker (when diarized) and text, with a header line"
            }
            Format::VerboseJson => "OpenAI's verbose_json (what the OpenAI API returns)",
            Format::WhisperJson => {
                "whisper-cli's -oj JSON (tokens as with -ojf when words are timed)"
            }
            Format::DiarizedJson => "OpenAI's diarized_json: segments with their speaker",
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
            Format::DiarizedJson => diarized_json(transcript),
        }
    }
}

fn txt(t: &Transcript) -> String {
    let mut out = String::new();
    let mut previous = None;
    for segment in &t.segments {
        if let Some(label) = label(t, segment.speaker).filter(|_| segment.speaker != previous) {
            out.push_str(label);
            out.push_str(": ");
        }
        previous = segment.speaker;
        out.push_str(&one_line(&segment.text));
        out.push('\n');
    }
    out
}

/// The label of speaker `speaker` of `t`, when the transcript is diarized.
fn label(t: &Transcript, speaker: Option<usize>) -> Option<&str> {
    speaker
        .and_then(|i| t.speakers.get(i))
        .map(|s| s.label.as_str())
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
        let speaker = label(t, cue.speaker).map(|l| format!("{l}: "));
        out.push_str(&format!(
            "{}\n{} --> {}\n{}{}\n\n",
            i + 1,
            timestamp(cue.start, ','),
            timestamp(cue.end, ','),
            speaker.unwrap_or_default(),
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
        // A voice span names the speaker; its annotation ends at the first '>'.
        let voice =
            label(t, cue.speaker).map(|l| format!("<v {}>", l.replace(['>', '&', '<'], "")));
        out.push_str(&format!(
            "{} --> {}\n{}{}\n\n",
            timestamp(cue.start, '.'),
            timestamp(cue.end, '.'),
            voice.unwrap_or_default(),
            text
        ));
    }
    out
}

fn tsv(t: &Transcript) -> String {
    let diarized = !t.speakers.is_empty();
    let mut out = String::from(if diarized {
        "start\tend\tspeaker\ttext\n"
    } else {
        "start\tend\ttext\n"
    });
    for s in &t.segments {
        let speaker = match label(t, s.speaker) {
            Some(label) => format!("{}\t", label.replace('\t', " ")),
            None if diarized => "\t".to_owned(),
            None => String::new(),
        };
        out.push_str(&format!(
            "{}\t{}\t{speaker}{}\n",
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
    /// Only when diarized: each speaker and how long they speak.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    speakers: Vec<JsonSpeaker<'a>>,
    segments: Vec<JsonSegment<'a>>,
}

#[derive(Serialize)]
struct JsonSpeaker<'a> {
    speaker: &'a str,
    seconds: f64,
}

#[derive(Serialize)]
struct JsonSegment<'a> {
    start: f64,
    end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    speaker: Option<&'a str>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    speaker: Option<&'a str>,
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
        speakers: t
            .speakers
            .iter()
            .zip(t.speaking_seconds())
            .map(|(speaker, seconds)| JsonSpeaker {
                speaker: &speaker.label,
                seconds: secs(seconds),
            })
            .collect(),
        segments: t
            .segments
            .iter()
            .map(|s| JsonSegment {
                start: secs(s.start),
                end: secs(s.end),
                speaker: label(t, s.speaker),
                text: &s.text,
                words: t.word_times.then(|| {
                    s.words
                        .iter()
                        .map(|w| JsonWord {
                            start: secs(w.start),
                            end: secs(w.end),
                            text: &w.text,
                            probability: prob(w.probability),
                            speaker: label(t, s.speaker),
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

/// OpenAI's `diarized_json` (`gpt-4o-transcribe-diarize`), in its field order: numbered
/// speakers are `A`, `B`, … as OpenAI writes them, given names stay; a transcript that is not
/// diarized is one speaker, `A`. `usage` is the audio's duration in whole seconds.
fn diarized_json(t: &Transcript) -> String {
    #[derive(Serialize)]
    struct Diarized<'a> {
        task: &'static str,
        duration: f64,
        text: String,
        segments: Vec<DiarizedSegment<'a>>,
        usage: Usage,
    }
    #[derive(Serialize)]
    struct DiarizedSegment<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: String,
        start: f64,
        end: f64,
        text: &'a str,
        speaker: String,
    }
    #[derive(Serialize)]
    struct Usage {
        #[serde(rename = "type")]
        kind: &'static str,
        seconds: u64,
    }
    let speaker = |index: Option<usize>| {
        let i = index.unwrap_or(0);
        match t.speakers.get(i) {
            Some(s) if s.named => s.label.clone(),
            _ => letters(i),
        }
    };
    pretty(&Diarized {
        task: "transcribe",
        duration: secs(t.duration),
        text: t.text(),
        segments: t
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| DiarizedSegment {
                kind: "transcript.text.segment",
                id: format!("seg_{i}"),
                start: secs(s.start),
                end: secs(s.end),
                text: &s.text,
                speaker: speaker(s.speaker),
            })
            .collect(),
        usage: Usage {
            kind: "duration",
            seconds: t.duration.max(0.0).ceil() as u64,
        },
    })
}

/// `A` … `Z`, then `AA`, `AB`, … as spreadsheets count columns.
fn letters(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
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
            speakers: Vec::new(),
            language: "ru".into(),
            duration: 3723.5,
            segments: vec![
                Segment {
                    speaker: None,
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
                    speaker: None,
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

    /// A call of two speakers: the operator named, the caller numbered; two phrases of the
    /// caller in a row, and one overlap.
    fn call() -> Transcript {
        let segment = |start: f64, end: f64, text: &str, speaker: usize| Segment {
            start,
            end,
            text: text.into(),
            words: vec![],
            no_speech_probability: 0.0,
            speaker: Some(speaker),
        };
        Transcript {
            language: "ru".into(),
            duration: 10.2,
            segments: vec![
                segment(0.5, 2.0, "Алло.", 0),
                segment(2.5, 4.0, "Здравствуйте.", 1),
                segment(4.5, 6.0, "У меня вопрос.", 1),
                segment(5.5, 7.0, "Слушаю.", 0),
            ],
            word_times: false,
            speakers: crate::SpeakerNaming {
                names: vec!["Оператор".into()],
                ..crate::SpeakerNaming::default()
            }
            .speakers(2),
        }
    }

    #[test]
    fn every_format_says_who_speaks() {
        let t = call();
        assert_eq!(
            Format::Txt.render(&t),
            "Оператор: Алло.\nСпикер 2: Здравствуйте.\nУ меня вопрос.\nОператор: Слушаю.\n"
        );
        let srt = Format::Srt.render(&t);
        assert!(
            srt.starts_with("1\n00:00:00,500 --> 00:00:02,000\nОператор: Алло.\n\n"),
            "{srt}"
        );
        // The two speakers' overlapping phrases stay whole, each in its own cue.
        assert!(
            srt.contains("00:00:04,500 --> 00:00:06,000\nСпикер 2: У меня вопрос."),
            "{srt}"
        );
        assert!(
            srt.contains("00:00:05,500 --> 00:00:07,000\nОператор: Слушаю."),
            "{srt}"
        );
        let vtt = Format::Vtt.render(&t);
        assert!(
            vtt.contains("00:00:02.500 --> 00:00:04.000\n<v Спикер 2>Здравствуйте.\n"),
            "{vtt}"
        );
        assert_eq!(
            Format::Tsv.render(&t).lines().take(2).collect::<Vec<_>>(),
            ["start\tend\tspeaker\ttext", "500\t2000\tОператор\tАлло."]
        );
        let json: serde_json::Value = serde_json::from_str(&Format::Json.render(&t)).unwrap();
        assert_eq!(json["segments"][1]["speaker"], "Спикер 2");
        assert_eq!(
            json["speakers"],
            serde_json::json!([
                {"speaker": "Оператор", "seconds": 3.0},
                {"speaker": "Спикер 2", "seconds": 3.0}
            ])
        );
        let diarized: serde_json::Value =
            serde_json::from_str(&Format::DiarizedJson.render(&t)).unwrap();
        assert_eq!(
            diarized["segments"][1],
            serde_json::json!({
                "type": "transcript.text.segment", "id": "seg_1", "start": 2.5, "end": 4.0,
                "text": "Здравствуйте.", "speaker": "B"
            })
        );
        assert_eq!(diarized["segments"][0]["speaker"], "Оператор");
        assert_eq!(
            diarized["usage"],
            serde_json::json!({"type": "duration", "seconds": 11})
        );
        assert_eq!(diarized["task"], "transcribe");
    }

    #[test]
    fn a_transcript_without_speakers_is_written_as_before() {
        let t = transcript();
        assert!(!Format::Json.render(&t).contains("speaker"));
        assert!(Format::Tsv.render(&t).starts_with("start\tend\ttext\n"));
        assert!(!Format::Txt.render(&t).contains(':'));
        let diarized: serde_json::Value =
            serde_json::from_str(&Format::DiarizedJson.render(&t)).unwrap();
        assert_eq!(diarized["segments"][1]["speaker"], "A");
        assert_eq!(letters(25), "Z");
        assert_eq!(letters(26), "AA");
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
