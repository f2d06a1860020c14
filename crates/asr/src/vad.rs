//! Voice-activity detection with whisper.cpp's Silero model, and the bookkeeping that lets us
//! transcribe only the speech while every timestamp still refers to the original recording.

use std::path::{Path, PathBuf};

use whisper_rs::{WhisperVadContext, WhisperVadContextParams, WhisperVadParams};

use crate::error::{describe_io, Error};
use crate::model_file::{self, ModelFileError, GGML_MAGIC};

const SAMPLE_RATE: f64 = 16_000.0;

/// Samples in one step of Silero VAD at 16 kHz (32 ms): the unit of
/// [`VoiceDetector::speech_probabilities`].
pub const VAD_FRAME_SAMPLES: usize = 512;

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
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 300,
            speech_pad_ms: 200,
        }
    }
}

/// A loaded Silero VAD model.
pub struct VoiceDetector {
    ctx: WhisperVadContext,
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
    /// The header is checked first: whisper.cpp would crash on a Whisper model given here.
    pub fn load(path: &Path, threads: usize, options: VadOptions) -> Result<Self, Error> {
        check_vad_file(path)?;
        crate::model::install_log_routing();
        let shown = path.display().to_string();
        let path_str = path.to_str().ok_or_else(|| Error::InvalidVadModel {
            path: shown.clone(),
            detail: "the path is not valid UTF-8".to_owned(),
        })?;
        let mut params = WhisperVadContextParams::new();
        params.set_n_threads(threads.clamp(1, 64) as i32);
        params.set_use_gpu(false);
        let ctx = WhisperVadContext::new(path_str, params).map_err(|_| Error::InvalidVadModel {
            path: shown,
            detail: "whisper.cpp could not load it (run with -v to see its log)".to_owned(),
        })?;
        Ok(Self {
            ctx,
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
    /// afresh at every call: streaming callers overlap their calls a little.
    pub fn speech_probabilities(
        &mut self,
        samples: &[f32],
        out: &mut Vec<f32>,
    ) -> Result<(), Error> {
        if samples.is_empty() {
            return Ok(());
        }
        self.ctx
            .detect_speech(samples)
            .map_err(|_| Error::Whisper {
                what: "detecting speech",
                code: -1,
            })?;
        out.extend_from_slice(self.ctx.probabilities());
        Ok(())
    }

    /// Finds the speech in 16 kHz mono audio, padded and merged, in order.
    pub fn detect(&mut self, samples: &[f32]) -> Result<Vec<SpeechSpan>, Error> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = WhisperVadParams::new();
        params.set_threshold(self.options.threshold);
        params.set_min_speech_duration(self.options.min_speech_ms as i32);
        params.set_min_silence_duration(self.options.min_silence_ms as i32);
        params.set_speech_pad(0);
        let segments = self
            .ctx
            .segments_from_samples(params, samples)
            .map_err(|_| Error::Whisper {
                what: "detecting speech",
                code: -1,
            })?;
        let total = samples.len() as f64 / SAMPLE_RATE;
        let pad = f64::from(self.options.speech_pad_ms) / 1000.0;
        let mut spans: Vec<SpeechSpan> = Vec::new();
        // whisper.cpp reports VAD segments in centiseconds.
        for seg in segments {
            let start = (f64::from(seg.start) / 100.0 - pad).max(0.0);
            let end = (f64::from(seg.end) / 100.0 + pad).min(total);
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

/// Refuses files that are not Silero VAD models before whisper.cpp reads them: its loader trusts
/// the header's lengths and layer count (a Whisper model or a damaged file makes it read out of
/// bounds or abort), and it runs on uninitialised weights when the file is cut short. So the
/// whole file is walked first ([`model_file::inspect_vad`]).
fn check_vad_file(path: &Path) -> Result<(), Error> {
    let shown = path.display().to_string();
    let bad = |detail: String| Error::InvalidVadModel {
        path: shown.clone(),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(describe_io(&e)))?;
    if meta.is_dir() {
        return Err(bad("is a directory".to_owned()));
    }
    match model_file::inspect_vad(path) {
        Ok(_) => Ok(()),
        Err(ModelFileError::Io(e)) => Err(bad(describe_io(&e))),
        Err(ModelFileError::BadMagic { found }) => Err(bad(format!(
            "not a ggml model file (magic 0x{found:08x}, expected 0x{GGML_MAGIC:08x})"
        ))),
        Err(e) => Err(bad(e.to_string())),
    }
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
            let from = ((span.start * SAMPLE_RATE) as usize).min(samples.len());
            let to = ((span.end * SAMPLE_RATE).ceil() as usize).min(samples.len());
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
        let t = (seconds.max(0.0) * SAMPLE_RATE) as usize;
        let mut previous_end = None;
        for &(joined, original, len) in &self.pieces {
            if t < joined {
                // In the gap before this piece.
                return match (is_start, previous_end) {
                    (false, Some(end)) => end,
                    _ => original as f64 / SAMPLE_RATE,
                };
            }
            if t <= joined + len {
                return (original + (t - joined)) as f64 / SAMPLE_RATE;
            }
            previous_end = Some((original + len) as f64 / SAMPLE_RATE);
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

    #[test]
    fn a_whisper_model_is_not_a_vad_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        let mut bytes = 0x6767_6d6c_u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&51_865_i32.to_le_bytes());
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(&path, bytes).unwrap();
        let err = check_vad_file(&path).unwrap_err().to_string();
        assert!(err.contains("not a Silero VAD model"), "{err}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(check_vad_file(&path).is_err());
        assert!(check_vad_file(dir.path()).is_err());
    }
}
