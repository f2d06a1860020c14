//! Checks of rech's output formats that the end-to-end tests share: a JSON transcript's shape and
//! times, subtitle cues, and the five files of one input agreeing with each other.

use std::path::Path;

use serde_json::Value;

/// Every sample in `samples/`: each WAV flavour and each compressed format rech reads.
pub const SAMPLES: [&str; 8] = [
    "privet-16k-mono.wav",
    "pogoda-44k-stereo.wav",
    "chisla-48k-mono-f32.wav",
    "ryba-24bit-stereo.wav",
    "pogoda.flac",
    "privet.ogg",
    "chisla.mp3",
    "privet.m4a",
];

/// The base name rech gives a sample's outputs with `--output-dir` when all [`SAMPLES`] are
/// transcribed at once: its stem, or its whole name where two samples share a stem.
pub fn sample_stem(name: &str) -> &str {
    match name {
        "privet.ogg" | "privet.m4a" => name,
        _ => Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(name),
    }
}

/// Checks a JSON transcript: shape, and every segment inside the audio and in order.
pub fn check_json(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).expect("valid JSON");
    assert_eq!(v["language"], "ru");
    assert!(v["text"].is_string(), "no top-level text");
    let duration = v["duration"].as_f64().unwrap();
    assert!(duration > 0.0);
    let mut last_start = 0.0;
    for s in v["segments"].as_array().unwrap() {
        let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        assert!(
            0.0 <= start && start <= end && end <= duration + 1e-9,
            "segment {start}..{end} outside 0..{duration}"
        );
        assert!(start >= last_start, "segments out of order");
        last_start = start;
        assert!(s["text"].is_string());
        assert!(!s["text"].as_str().unwrap().contains('\u{FFFD}'));
        // Words only when their times were measured (--word-timestamps).
        for w in s["words"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let (ws, we) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
            assert!(
                start <= ws && ws <= we && we <= end,
                "word {ws}..{we} outside {start}..{end}"
            );
        }
    }
    v
}

/// Seconds of a subtitle time stamp (`HH:MM:SS,mmm` with `sep` before the milliseconds).
pub fn parse_srt_time(t: &str, sep: char) -> f64 {
    let (hms, ms) = t.split_once(sep).expect("milliseconds");
    let parts: Vec<f64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{t}");
    assert_eq!(ms.len(), 3, "{t}");
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2] + ms.parse::<f64>().unwrap() / 1000.0
}

/// Checks subtitle cues: numbered (SRT) or not, times in order, inside the audio, never empty
/// in time and never overlapping, at most two lines of at most 42 characters (rech's defaults)
/// and seven seconds. Returns the cues' words, in order.
pub fn check_cues(blocks: &[&str], sep: char, numbered: bool, duration: f64) -> Vec<String> {
    let mut last_end = 0.0;
    let mut words = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let mut lines = block.lines();
        if numbered {
            assert_eq!(lines.next().unwrap(), (i + 1).to_string());
        }
        let timing = lines.next().unwrap();
        let (a, b) = timing.split_once(" --> ").expect("cue timing");
        let (a, b) = (parse_srt_time(a, sep), parse_srt_time(b, sep));
        assert!(
            last_end <= a && a < b && b <= duration + 0.001,
            "{timing} after {last_end}"
        );
        assert!(b - a <= 7.0 + 0.001, "{timing}: longer than 7 s");
        last_end = b;
        let text: Vec<&str> = lines.collect();
        assert!(
            (1..=2).contains(&text.len()),
            "cue {timing} has {} lines",
            text.len()
        );
        for line in text {
            assert!(
                line.chars().count() <= 42 || !line.contains(' '),
                "{line:?} is too wide"
            );
            words.extend(line.split_whitespace().map(str::to_owned));
        }
    }
    words
}

/// Checks the five files rech wrote for one input (`stem.json`, `.srt`, `.vtt`, `.tsv`,
/// `.txt`) against each other.
pub fn check_all_formats(dir: &Path, stem: &str) {
    let json = std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap();
    let v = check_json(&json);
    let duration = v["duration"].as_f64().unwrap();
    let n = v["segments"].as_array().unwrap().len();

    let words: Vec<String> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["text"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();

    let srt = std::fs::read_to_string(dir.join(format!("{stem}.srt"))).unwrap();
    let blocks: Vec<&str> = srt.split("\n\n").filter(|b| !b.trim().is_empty()).collect();
    assert_eq!(blocks.is_empty(), n == 0);
    // Every word of the transcript, in order, cut between words into cues.
    assert_eq!(check_cues(&blocks, ',', true, duration), words);

    let vtt = std::fs::read_to_string(dir.join(format!("{stem}.vtt"))).unwrap();
    let body = vtt.strip_prefix("WEBVTT\n\n").expect("WEBVTT header");
    let blocks: Vec<&str> = body
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(blocks.is_empty(), n == 0);
    assert_eq!(check_cues(&blocks, '.', false, duration).len(), words.len());

    let tsv = std::fs::read_to_string(dir.join(format!("{stem}.tsv"))).unwrap();
    let mut lines = tsv.lines();
    assert_eq!(lines.next(), Some("start\tend\ttext"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), n);
    for row in rows {
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 3, "{row}");
        let (a, b): (u64, u64) = (cols[0].parse().unwrap(), cols[1].parse().unwrap());
        assert!(a <= b && b as f64 <= duration * 1000.0 + 1.0);
    }

    let txt = std::fs::read_to_string(dir.join(format!("{stem}.txt"))).unwrap();
    assert_eq!(txt.lines().count(), n);
}
