//! Voice-activity detection with Silero VAD (the model whisper.cpp ships, run by our own
//! forward pass in `silero.rs`), and the bookkeeping that lets us transcribe only the speech
//! while every timestamp still refers to the original recording.

use std::path::{Path, PathBuf};

use rech_ggml::model_file::{self, ModelFileError};

use crate::engine::SAMPLE_RATE as RATE;
use crate::error::{Error, VadModelError};
use crate::silero::{self, LstmState, Scratch, Silero};

/// The sample rate as a float, for converting sample counts to seconds.
const RATE_F64: f64 = RATE as f64;

/// Samples in one step of Silero VAD at 16 kHz (32 ms): the unit of
/// [`VoiceDetector::speech_probabilities`].
pub const VAD_FRAME_SAMPLES: usize = silero::CHUNK;

/// A stretch of speech, in seconds from the start of the audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechSpan {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
}

/// How speech is told from silence.
#[derive(Debug, Clone, PartialEq)]
pub struct VadOptions {
    /// Speech probability above which a frame counts as speech.
    pub threshold: f32,
    /// Shorter bursts of speech are ignored, in milliseconds.
    pub min_speech_ms: u32,
    /// Shorter pauses do not split speech, in milliseconds.
    pub min_silence_ms: u32,
    /// Padding added on both sides of each span, in milliseconds, so that no word is clipped.
    pub speech_pad_ms: u32,
    /// Speech running longer than this, in seconds, is split (at its quietest frame, as
    /// whisper.cpp does); `None` never splits.
    pub max_speech_s: Option<f32>,
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 300,
            speech_pad_ms: 200,
            max_speech_s: None,
        }
    }
}

impl VadOptions {
    /// Refuses settings that mean nothing: a threshold outside 0..=1, a maximum that is not
    /// above zero.
    pub fn check(&self) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::InvalidOption(format!(
                "VAD threshold {} is outside 0..=1",
                self.threshold
            )));
        }
        if let Some(max) = self.max_speech_s.filter(|m| !(m.is_finite() && *m > 0.0)) {
            return Err(Error::InvalidOption(format!(
                "VAD maximum speech length {max} s is not above zero"
            )));
        }
        Ok(())
    }
}

/// A loaded Silero VAD model.
pub struct VoiceDetector {
    // Boxed: the weights' vectors and the scratch buffers' handles would make the detector, and
    // every enum holding one, most of a kilobyte.
    model: Box<Silero>,
    scratch: Box<Scratch>,
    path: PathBuf,
    options: VadOptions,
}

impl std::fmt::Debug for VoiceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceDetector")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl VoiceDetector {
    /// Loads a Silero VAD model in whisper.cpp's ggml format (`ggml-silero-v6.2.0.bin`).
    ///
    /// The whole file is checked first ([`model_file::read_vad`]), so a Whisper model or a
    /// damaged file gets a message saying what is wrong with it. The detector runs on the
    /// calling thread (about 0.06 s for 100 s of audio here: more threads would cost more in
    /// synchronisation than they save).
    pub fn load(path: &Path, options: VadOptions) -> Result<Self, Error> {
        options.check()?;
        let bad = |reason: VadModelError| Error::InvalidVadModel {
            path: path.display().to_string(),
            reason,
        };
        let tensors = read_vad_file(path).map_err(bad)?;
        let model = Silero::new(&tensors).map_err(bad)?;
        Ok(Self {
            model: Box::new(model),
            scratch: Box::default(),
            path: path.to_owned(),
            options,
        })
    }

    /// Where the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The speech probability of each [`VAD_FRAME_SAMPLES`]-sample frame of 16 kHz mono audio
    /// (the last frame zero-padded), appended to `out`. The model's recurrent state starts
    /// afresh at every call, as in whisper.cpp: streaming callers overlap their calls a little.
    pub fn speech_probabilities(
        &mut self,
        samples: &[f32],
        out: &mut Vec<f32>,
    ) -> Result<(), Error> {
        let mut state = LstmState::default();
        self.model.run(samples, &mut state, &mut self.scratch, out);
        Ok(())
    }

    /// Finds the speech in 16 kHz mono audio, padded and merged, in order.
    pub fn detect(&mut self, samples: &[f32]) -> Result<Vec<SpeechSpan>, Error> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let mut probs = Vec::new();
        self.speech_probabilities(samples, &mut probs)?;
        let params = SegmentParams {
            threshold: self.options.threshold,
            min_speech_ms: i64::from(self.options.min_speech_ms),
            min_silence_ms: i64::from(self.options.min_silence_ms),
            max_speech_s: self.options.max_speech_s.unwrap_or(f32::MAX),
            ..SegmentParams::default()
        };
        let total = samples.len() as f64 / RATE_F64;
        let pad = f64::from(self.options.speech_pad_ms) / 1000.0;
        let mut spans: Vec<SpeechSpan> = Vec::new();
        for (start_cs, end_cs) in segments_from_probs(&probs, &params) {
            let start = (centiseconds(start_cs) - pad).max(0.0);
            let end = (centiseconds(end_cs) + pad).min(total);
            if end <= start {
                continue;
            }
            match spans.last_mut() {
                Some(last) if start <= last.end => last.end = last.end.max(end),
                _ => spans.push(SpeechSpan { start, end }),
            }
        }
        Ok(spans)
    }
}

/// A time in whisper.cpp's VAD centiseconds, in seconds, rounded the way whisper.cpp's API
/// hands it out (as an `f32`).
fn centiseconds(cs: i64) -> f64 {
    f64::from(cs as f32) / 100.0
}

/// Reads a Silero VAD model file, after checking all of it: a Whisper model, a damaged or cut
/// off file each get a message saying what is wrong ([`model_file::read_vad`]).
fn read_vad_file(path: &Path) -> Result<model_file::VadTensors, VadModelError> {
    let meta = std::fs::metadata(path).map_err(VadModelError::Io)?;
    if meta.is_dir() {
        return Err(VadModelError::IsADirectory);
    }
    model_file::read_vad(path).map_err(|e| match e {
        ModelFileError::Io(e) => VadModelError::Io(e),
        ModelFileError::BadMagic { found } => VadModelError::NotGgml { found },
        e => VadModelError::File(e),
    })
}

/// The settings of whisper.cpp's `whisper_vad_segments_from_probs` (`whisper_vad_params`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentParams {
    /// A frame at or above this probability is speech.
    pub threshold: f32,
    /// Speech shorter than this is dropped, in milliseconds.
    pub min_speech_ms: i64,
    /// Silence shorter than this does not end speech, in milliseconds.
    pub min_silence_ms: i64,
    /// Longer speech is split, in seconds (above 100,000: never).
    pub max_speech_s: f32,
    /// Padding added around each segment, in milliseconds.
    pub speech_pad_ms: i64,
}

impl Default for SegmentParams {
    /// whisper-rs's defaults, except that no padding is added (we pad and merge ourselves).
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 100,
            max_speech_s: f32::MAX,
            speech_pad_ms: 0,
        }
    }
}

/// Speech segments from per-frame speech probabilities, in centiseconds: whisper.cpp 1.8.3's
/// `whisper_vad_segments_from_probs`, step for step (Silero's own `get_speech_timestamps` with a
/// hysteresis threshold, then merging segments less than 200 ms apart, dropping short ones and
/// padding), so that the same probabilities give the same segments.
///
/// whisper.cpp does its sample arithmetic in 32-bit `int`; here it is 64-bit, which changes
/// nothing below 2^31 samples (37 hours) and durations of about 134 s, where its products
/// overflow.
pub(crate) fn segments_from_probs(probs: &[f32], params: &SegmentParams) -> Vec<(i64, i64)> {
    const RATE: i64 = 16_000;
    const WINDOW: i64 = VAD_FRAME_SAMPLES as i64;
    const INT_MAX: i64 = i32::MAX as i64;
    let threshold = params.threshold;
    let min_silence = RATE * params.min_silence_ms / 1000;
    let audio_len = probs.len() as i64 * WINDOW;
    let min_speech = RATE * params.min_speech_ms / 1000;
    let pad = RATE * params.speech_pad_ms / 1000;
    let max_speech = if params.max_speech_s > 100_000.0 {
        INT_MAX / 2
    } else {
        // As whisper.cpp: whole seconds, less a window and both paddings.
        let samples = RATE * (params.max_speech_s as i64) - WINDOW - 2 * pad;
        if !(0..=INT_MAX).contains(&samples) {
            INT_MAX / 2
        } else {
            samples
        }
    };
    // A silence this long marks where over-long speech may be split (Silero's 98 ms).
    let min_silence_at_max_speech = RATE * 98 / 1000;
    let mut neg_threshold = threshold - 0.15;
    if neg_threshold < 0.01 {
        neg_threshold = 0.01;
    }

    let mut speeches: Vec<(i64, i64)> = Vec::new();
    let mut in_speech = false;
    // 0 means "none", as in whisper.cpp (where a real 0 is then treated as none too).
    let mut temp_end = 0i64;
    let mut prev_end = 0i64;
    let mut next_start = 0i64;
    let mut speech_start = 0i64;
    let mut has_speech = false;
    for (i, &prob) in probs.iter().enumerate() {
        let sample = WINDOW * i as i64;
        if prob >= threshold && temp_end != 0 {
            temp_end = 0;
            if next_start < prev_end {
                next_start = sample;
            }
        }
        if prob >= threshold && !in_speech {
            in_speech = true;
            speech_start = sample;
            has_speech = true;
            continue;
        }
        if in_speech && sample - speech_start > max_speech {
            if prev_end != 0 {
                speeches.push((speech_start, prev_end));
                has_speech = true;
                if next_start < prev_end {
                    in_speech = false;
                    has_speech = false;
                } else {
                    speech_start = next_start;
                }
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
            } else {
                speeches.push((speech_start, sample));
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
                in_speech = false;
                has_speech = false;
                continue;
            }
        }
        if prob < neg_threshold && in_speech {
            if temp_end == 0 {
                temp_end = sample;
            }
            if sample - temp_end > min_silence_at_max_speech {
                prev_end = temp_end;
            }
            if sample - temp_end < min_silence {
                continue;
            }
            if temp_end - speech_start > min_speech {
                speeches.push((speech_start, temp_end));
            }
            prev_end = 0;
            next_start = 0;
            temp_end = 0;
            in_speech = false;
            has_speech = false;
        }
    }
    if has_speech && audio_len - speech_start > min_speech {
        speeches.push((speech_start, audio_len));
    }

    // Merge segments less than 200 ms apart.
    let max_merge_gap = RATE * 200 / 1000;
    let mut i = 0;
    while i + 1 < speeches.len() {
        if speeches[i + 1].0 - speeches[i].1 < max_merge_gap {
            speeches[i].1 = speeches[i + 1].1;
            speeches.remove(i + 1);
        } else {
            i += 1;
        }
    }
    speeches.retain(|&(start, end)| end - start >= min_speech);

    // Padding: a gap shorter than two paddings is split between its neighbours.
    let n = speeches.len();
    for i in 0..n {
        if i == 0 {
            speeches[0].0 = if speeches[0].0 > pad {
                speeches[0].0 - pad
            } else {
                0
            };
        }
        if i + 1 < n {
            let silence = speeches[i + 1].0 - speeches[i].1;
            // C's integer division truncates toward zero, as Rust's does.
            let half = silence / 2;
            if silence < 2 * pad {
                speeches[i].1 += half;
                speeches[i + 1].0 = if speeches[i + 1].0 > half {
                    speeches[i + 1].0 - half
                } else {
                    0
                };
            } else {
                speeches[i].1 = (speeches[i].1 + pad).min(audio_len);
                speeches[i + 1].0 = if speeches[i + 1].0 > pad {
                    speeches[i + 1].0 - pad
                } else {
                    0
                };
            }
        } else {
            speeches[i].1 = (speeches[i].1 + pad).min(audio_len);
        }
    }
    speeches
        .into_iter()
        .map(|(start, end)| (samples_to_cs(start), samples_to_cs(end)))
        .collect()
}

/// whisper.cpp's `samples_to_cs`: samples at 16 kHz to centiseconds, rounded half up.
fn samples_to_cs(samples: i64) -> i64 {
    ((samples as f64 / RATE_F64) * 100.0 + 0.5) as i64
}

/// Speech cut out of a recording and joined, with the way back to the original timeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpeechOnly {
    /// The joined speech, 16 kHz mono.
    pub samples: Vec<f32>,
    /// (start in `samples`, start in the original, length), in samples.
    pieces: Vec<(usize, usize, usize)>,
}

/// Silence put between joined spans, so that words of two spans do not run together.
const GAP_SAMPLES: usize = 1_600;

impl SpeechOnly {
    /// Joins `spans` of `samples` with short silences between them.
    pub fn gather(samples: &[f32], spans: &[SpeechSpan]) -> Self {
        let mut out = Vec::new();
        let mut pieces = Vec::with_capacity(spans.len());
        for span in spans {
            let from = ((span.start * RATE_F64) as usize).min(samples.len());
            let to = ((span.end * RATE_F64).ceil() as usize).min(samples.len());
            if to <= from {
                continue;
            }
            if !out.is_empty() {
                out.resize(out.len() + GAP_SAMPLES, 0.0);
            }
            pieces.push((out.len(), from, to - from));
            out.extend_from_slice(&samples[from..to]);
        }
        Self {
            samples: out,
            pieces,
        }
    }

    /// Maps a time in the joined audio back to the recording. A time that falls in a gap goes to
    /// the end of the span before it, or with `is_start` to the start of the span after it.
    pub fn to_original(&self, seconds: f64, is_start: bool) -> f64 {
        let t = (seconds.max(0.0) * RATE_F64) as usize;
        let mut previous_end = None;
        for &(joined, original, len) in &self.pieces {
            if t < joined {
                // In the gap before this piece.
                return match (is_start, previous_end) {
                    (false, Some(end)) => end,
                    _ => original as f64 / RATE_F64,
                };
            }
            if t <= joined + len {
                return (original + (t - joined)) as f64 / RATE_F64;
            }
            previous_end = Some((original + len) as f64 / RATE_F64);
        }
        previous_end.unwrap_or(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_speech_maps_back_to_the_recording() {
        let samples: Vec<f32> = (0..160_000).map(|i| i as f32).collect();
        let spans = [
            SpeechSpan {
                start: 1.0,
                end: 2.0,
            },
            SpeechSpan {
                start: 5.0,
                end: 5.5,
            },
        ];
        let only = SpeechOnly::gather(&samples, &spans);
        assert_eq!(only.samples.len(), 16_000 + GAP_SAMPLES + 8_000);
        assert_eq!(only.samples[0], 16_000.0);
        assert_eq!(only.samples[16_000 + GAP_SAMPLES], 80_000.0);
        assert_eq!(only.to_original(0.0, true), 1.0);
        assert_eq!(only.to_original(0.5, true), 1.5);
        // 1.05 s is inside the gap: an end goes back to 2.0, a start forward to 5.0.
        assert_eq!(only.to_original(1.05, false), 2.0);
        assert_eq!(only.to_original(1.05, true), 5.0);
        assert_eq!(only.to_original(1.1 + 0.25, true), 5.25);
        assert_eq!(only.to_original(99.0, false), 5.5);
    }

    /// Probabilities from a pattern of (frames, probability) runs.
    fn runs(pattern: &[(usize, f32)]) -> Vec<f32> {
        pattern
            .iter()
            .flat_map(|&(n, p)| std::iter::repeat_n(p, n))
            .collect()
    }

    fn cs_of_frames(frames: usize) -> i64 {
        samples_to_cs((frames * VAD_FRAME_SAMPLES) as i64)
    }

    #[test]
    fn segments_edge_cases() {
        let params = SegmentParams::default();
        assert!(segments_from_probs(&[], &params).is_empty());
        // All silence, and a burst shorter than min speech (250 ms = 7.8 frames).
        assert!(segments_from_probs(&runs(&[(100, 0.01)]), &params).is_empty());
        assert!(segments_from_probs(&runs(&[(20, 0.0), (7, 0.9), (20, 0.0)]), &params).is_empty());
        // All speech: one segment over the whole audio (to the end of the last frame).
        assert_eq!(
            segments_from_probs(&runs(&[(100, 0.9)]), &params),
            [(0, cs_of_frames(100))]
        );
        // Speech to the very end.
        assert_eq!(
            segments_from_probs(&runs(&[(30, 0.1), (40, 0.6)]), &params),
            [(cs_of_frames(30), cs_of_frames(70))]
        );
        // Speech that starts at frame 0 and stops: the end is where silence began.
        assert_eq!(
            segments_from_probs(&runs(&[(40, 0.9), (30, 0.0)]), &params),
            [(0, cs_of_frames(40))]
        );
        // Between the thresholds (0.35..0.5) speech goes on but does not start.
        assert_eq!(
            segments_from_probs(
                &runs(&[(10, 0.4), (20, 0.9), (20, 0.4), (30, 0.0)]),
                &params
            ),
            [(cs_of_frames(10), cs_of_frames(50))]
        );
        // A pause shorter than min silence (100 ms) does not split; a longer one does, unless
        // the gap is under 200 ms, when the two are merged again.
        let short_pause = runs(&[(20, 0.9), (3, 0.0), (20, 0.9), (30, 0.0)]);
        assert_eq!(
            segments_from_probs(&short_pause, &params),
            [(0, cs_of_frames(43))]
        );
        let long_pause = runs(&[(20, 0.9), (12, 0.0), (20, 0.9), (30, 0.0)]);
        assert_eq!(
            segments_from_probs(&long_pause, &params),
            [(0, cs_of_frames(20)), (cs_of_frames(32), cs_of_frames(52))]
        );
        let merged_pause = runs(&[(20, 0.9), (5, 0.0), (20, 0.9), (30, 0.0)]);
        assert_eq!(
            segments_from_probs(&merged_pause, &params),
            [(0, cs_of_frames(45))]
        );
        // Padding: a gap under two paddings is shared; the ends are clamped to the audio.
        let padded = SegmentParams {
            speech_pad_ms: 300,
            ..SegmentParams::default()
        };
        let pad = 4800;
        let segs = segments_from_probs(&long_pause, &padded);
        let gap = (32 - 20) * 512;
        assert_eq!(
            segs,
            [
                (0, samples_to_cs(20 * 512 + gap / 2)),
                (
                    samples_to_cs(32 * 512 - gap / 2),
                    samples_to_cs(52 * 512 + pad)
                ),
            ]
        );
        assert_eq!(
            segments_from_probs(&runs(&[(100, 0.9)]), &padded),
            [(0, cs_of_frames(100))]
        );
        // Over-long speech (max 3 s here) is split at a pause that did not end it (300 ms,
        // under the 500 ms min silence); pauses of 200 ms or more stay apart.
        let limited = SegmentParams {
            max_speech_s: 3.0,
            min_silence_ms: 500,
            ..SegmentParams::default()
        };
        let mut talk = Vec::new();
        for _ in 0..4 {
            talk.extend(runs(&[(60, 0.9), (10, 0.0)]));
        }
        talk.extend(runs(&[(30, 0.0)]));
        let segs = segments_from_probs(&talk, &limited);
        assert!(segs.len() > 1, "{segs:?}");
        assert!(segs.iter().all(|&(a, b)| b - a <= 300), "{segs:?}");
        // With the default 100 ms min silence, each pause ends speech.
        assert_eq!(segments_from_probs(&talk, &params).len(), 4);
    }

    /// Fed whisper.cpp's own probabilities, the segment logic gives exactly whisper.cpp's
    /// segments, under settings that exercise each of its branches.
    #[rech_testkit::needs(shared)]
    #[test]
    fn segments_match_whisper_cpp_on_its_probabilities() {
        use whisper_rs::{WhisperVadContext, WhisperVadContextParams, WhisperVadParams};
        let shared = rech_testkit::shared_dir();
        whisper_rs::install_logging_hooks();
        let model = shared.join("models/ggml-silero-v6.2.0.bin");
        let mut ctx_params = WhisperVadContextParams::new();
        ctx_params.set_n_threads(1);
        let mut vad = WhisperVadContext::new(model.to_str().unwrap(), ctx_params).unwrap();
        let mut samples = Vec::new();
        for name in ["ru_0022.wav", "ru_0024.wav", "ru_0025.wav", "ru_0027.wav"] {
            let path = shared.join("audio/ru/human").join(name);
            samples.extend(rech_audio::decode_file(&path).unwrap().samples);
            samples.extend(std::iter::repeat_n(0.0f32, 8_000));
        }
        vad.detect_speech(&samples).unwrap();
        let probs = vad.probabilities().to_vec();
        let mut checked = 0;
        for threshold in [0.2f32, 0.5, 0.8] {
            for (min_speech, min_silence) in [(0, 0), (250, 100), (100, 300), (1000, 50)] {
                for max_speech in [f32::MAX, 2.5, 0.1] {
                    for pad in [0, 30, 250] {
                        let mut params = WhisperVadParams::new();
                        params.set_threshold(threshold);
                        params.set_min_speech_duration(min_speech);
                        params.set_min_silence_duration(min_silence);
                        params.set_max_speech_duration(max_speech);
                        params.set_speech_pad(pad);
                        let want: Vec<(f32, f32)> = vad
                            .segments_from_probabilities(params)
                            .unwrap()
                            .map(|s| (s.start, s.end))
                            .collect();
                        let ours = SegmentParams {
                            threshold,
                            min_speech_ms: i64::from(min_speech),
                            min_silence_ms: i64::from(min_silence),
                            max_speech_s: max_speech,
                            speech_pad_ms: i64::from(pad),
                        };
                        let got: Vec<(f32, f32)> = segments_from_probs(&probs, &ours)
                            .into_iter()
                            .map(|(a, b)| (a as f32, b as f32))
                            .collect();
                        assert_eq!(got, want, "{ours:?}");
                        checked += want.len();
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} segments compared");
    }

    #[test]
    fn a_whisper_model_is_not_a_vad_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        let mut bytes = 0x6767_6d6c_u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&51_865_i32.to_le_bytes());
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(&path, bytes).unwrap();
        let err = read_vad_file(&path).unwrap_err().to_string();
        assert!(err.contains("not a Silero VAD model"), "{err}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(matches!(
            read_vad_file(&path),
            Err(VadModelError::NotGgml { found: 0x6c6c_6568 })
        ));
        assert!(matches!(
            read_vad_file(dir.path()),
            Err(VadModelError::IsADirectory)
        ));
    }
}
