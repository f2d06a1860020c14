//! Transcription: owned, plain options in; a plain [`Transcript`] out. whisper-rs's borrowed
//! parameter types stay inside this file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use whisper_rs::{FullParams, SamplingStrategy, WhisperState};

use crate::error::Error;
use crate::ffi;
use crate::filter::is_hallucination;
use crate::model::Model;
use crate::text::{assemble, RawSegment, RawToken};
use crate::vad::{SpeechOnly, SpeechSpan, VoiceDetector};

const SAMPLE_RATE: f64 = 16_000.0;
/// whisper.cpp refuses less than 100 ms of audio.
const MIN_SAMPLES: usize = 1_600;

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    /// The most likely token at each step: fastest.
    Greedy,
    /// Beam search over `beam_size` hypotheses: slower, sometimes more accurate.
    BeamSearch {
        /// Number of beams (whisper.cpp's default is 5).
        beam_size: u32,
    },
}

/// How much of Whisper's 30 s window [`Transcriber::transcribe_utterance`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderWindow {
    /// The full 30 s window, whatever the audio's length: what Whisper was trained on.
    Full,
    /// Only as many encoder positions as the audio fills, plus a short margin (whisper.cpp's
    /// `audio_ctx`): a 3 s utterance costs a tenth of a full window.
    Fitted,
}

/// Whisper's window: 30 s of 16 kHz samples.
const WINDOW_SAMPLES: usize = 480_000;

/// Encoder positions per second of audio (1500 for 30 s).
const AUDIO_CTX_PER_SECOND: usize = 50;

/// The `audio_ctx` for `samples` of audio: its positions plus 0.64 s of margin, in steps of
/// 32 positions, within the model's window.
fn fitted_audio_ctx(samples: usize, n_audio_ctx: i32) -> i32 {
    let needed = samples.div_ceil(SAMPLE_RATE as usize / AUDIO_CTX_PER_SECOND) + 32;
    let stepped = needed.div_ceil(32) * 32;
    (stepped.min(i32::MAX as usize) as i32).min(n_audio_ctx)
}

/// Settings [`Transcriber::transcribe_utterance`] adds to a whisper.cpp run.
#[derive(Debug, Clone, Copy)]
struct UtteranceRun {
    audio_ctx: i32,
    max_tokens: i32,
}

/// What to transcribe and how. Plain owned data: build it once, reuse it for many files.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeOptions {
    /// Spoken language as an ISO 639-1 code (`ru`), or `None` to detect it.
    pub language: Option<String>,
    /// Translate into English instead of transcribing.
    pub translate: bool,
    /// Greedy or beam search.
    pub decoding: Decoding,
    /// Sampling temperature of the first attempt (0 = deterministic).
    pub temperature: f32,
    /// Retry a window at higher temperatures when the text looks like a loop or is unlikely.
    pub temperature_fallback: bool,
    /// Text that precedes the audio: names, terms, the style of punctuation wanted.
    pub initial_prompt: Option<String>,
    /// CPU threads for whisper.cpp.
    pub threads: usize,
    /// Fill each segment's `words` with timed words.
    pub word_timestamps: bool,
    /// Split segments so that none is longer than this many characters.
    pub max_segment_chars: Option<u32>,
    /// Drop segments that are only known Russian hallucinations («Продолжение следует...»).
    pub filter_hallucinations: bool,
    /// How much of the 30 s window the encoder runs over when the audio (after VAD, the speech
    /// it kept) is shorter than one window. [`EncoderWindow::Fitted`] makes a 5 s file cost a
    /// sixth of the encoder work; with real models it can cost some accuracy, since Whisper
    /// was trained on full windows. Longer audio always uses full windows.
    pub encoder_window: EncoderWindow,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: Some("ru".to_owned()),
            translate: false,
            decoding: Decoding::Greedy,
            temperature: 0.0,
            temperature_fallback: true,
            initial_prompt: None,
            threads: default_threads(),
            word_timestamps: false,
            max_segment_chars: None,
            filter_hallucinations: true,
            encoder_window: EncoderWindow::Full,
        }
    }
}

/// All available cores, at most 8 (whisper.cpp gains little beyond that on CPU).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .min(8)
}

/// The result of a transcription. Times are seconds from the start of the audio given.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Language of the speech (ISO 639-1), as requested or detected.
    pub language: String,
    /// Length of the audio, in seconds.
    pub duration: f64,
    /// Segments in order; `0 ≤ start ≤ end ≤ duration`.
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// The whole text, segments joined by single spaces.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|s| s.text.as_str()).collect();
        parts.join(" ")
    }
}

/// A stretch of text with its time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// The text, trimmed.
    pub text: String,
    /// Timed words (empty unless word timestamps were asked for).
    pub words: Vec<Word>,
    /// The model's estimate that this window holds no speech.
    pub no_speech_probability: f32,
}

/// A word with its time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// The word, without surrounding spaces (punctuation attached).
    pub text: String,
    /// Mean probability of the word's tokens.
    pub probability: f32,
}

/// Runs a model over audio. Holds whisper.cpp's per-run state, so one transcriber serves one
/// thread; several transcribers can share a [`Model`].
pub struct Transcriber {
    model: Model,
    state: WhisperState,
    vad: Option<VoiceDetector>,
    cancel: Arc<AtomicBool>,
}

impl Transcriber {
    /// A transcriber over `model`, without VAD.
    pub fn new(model: &Model) -> Result<Self, Error> {
        let state = model.ctx.create_state().map_err(|_| Error::Whisper {
            what: "allocating its state",
            code: -1,
        })?;
        Ok(Self {
            model: model.clone(),
            state,
            vad: None,
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Transcribe only the speech that `vad` finds; timestamps still refer to the whole audio.
    pub fn with_vad(mut self, vad: VoiceDetector) -> Self {
        self.vad = Some(vad);
        self
    }

    /// Use `flag` for cancellation: raising it makes a running transcription stop soon and
    /// return [`Error::Cancelled`].
    pub fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = flag;
    }

    /// The flag that cancels a running transcription when raised.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Finds the speech in `samples` with the VAD model, if one is set.
    pub fn detect_speech(&mut self, samples: &[f32]) -> Result<Option<Vec<SpeechSpan>>, Error> {
        match self.vad.as_mut() {
            Some(vad) => vad.detect(samples).map(Some),
            None => Ok(None),
        }
    }

    /// Transcribes 16 kHz mono samples.
    pub fn transcribe(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
    ) -> Result<Transcript, Error> {
        self.transcribe_with_progress(samples, options, &mut |_| {})
    }

    /// Transcribes 16 kHz mono samples, calling `progress` with the fraction done (0 to 1).
    pub fn transcribe_with_progress(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Transcript, Error> {
        self.check_options(options)?;
        if samples.len() < MIN_SAMPLES {
            return Err(Error::AudioTooShort {
                millis: (samples.len() as u64 * 1000) / SAMPLE_RATE as u64,
            });
        }
        let duration = samples.len() as f64 / SAMPLE_RATE;
        let speech = match self.detect_speech(samples)? {
            Some(spans) => {
                if spans.is_empty() {
                    progress(1.0);
                    return Ok(Transcript {
                        language: options.language.clone().unwrap_or_else(|| "und".into()),
                        duration,
                        segments: Vec::new(),
                    });
                }
                let mut only = SpeechOnly::gather(samples, &spans);
                if only.samples.len() < MIN_SAMPLES {
                    only.samples.resize(MIN_SAMPLES, 0.0);
                }
                Some(only)
            }
            None => None,
        };
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let input = speech.as_ref().map_or(samples, |s| &s.samples[..]);
        let raw = self.run_whisper(input, options, progress)?;
        let language = match &options.language {
            Some(lang) => lang.clone(),
            None => whisper_rs::get_lang_str(self.state.full_lang_id_from_state())
                .unwrap_or("und")
                .to_owned(),
        };

        let mut segments = assemble(raw);
        if let Some(speech) = &speech {
            for segment in &mut segments {
                segment.start = speech.to_original(segment.start, true);
                segment.end = speech.to_original(segment.end, false);
                for word in &mut segment.words {
                    word.start = speech.to_original(word.start, true);
                    word.end = speech.to_original(word.end, false);
                }
            }
        }
        let filter = options.filter_hallucinations;
        let keep = |s: &Segment| {
            let invented = filter && is_hallucination(&s.text);
            !s.text.is_empty() && !invented
        };
        segments.retain(keep);
        clamp_times(&mut segments, duration);
        progress(1.0);
        Ok(Transcript {
            language,
            duration,
            segments,
        })
    }

    /// Transcribes one utterance (100 ms to 30 s of 16 kHz mono samples) into a single line of
    /// text, for live dictation: one segment, no timestamps, nothing carried over from earlier
    /// calls, at most `max_tokens` tokens (a guard against decoding loops), and the encoder
    /// run over `window`. VAD and the hallucination filter are the caller's business here.
    pub fn transcribe_utterance(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        window: EncoderWindow,
        max_tokens: u32,
    ) -> Result<String, Error> {
        self.check_options(options)?;
        if samples.len() < MIN_SAMPLES {
            return Err(Error::AudioTooShort {
                millis: (samples.len() as u64 * 1000) / SAMPLE_RATE as u64,
            });
        }
        let n_audio_ctx = self.model.hparams().n_audio_ctx;
        let audio_ctx = match window {
            EncoderWindow::Full => 0,
            EncoderWindow::Fitted => fitted_audio_ctx(samples.len(), n_audio_ctx),
        };
        let run = UtteranceRun {
            audio_ctx,
            // whisper.cpp stops after the token that reaches its limit: one more.
            max_tokens: max_tokens.clamp(2, 448) as i32 - 1,
        };
        let raw = self.run_whisper_with(samples, options, &mut |_| {}, Some(run))?;
        let texts: Vec<String> = assemble(raw).into_iter().map(|s| s.text).collect();
        Ok(texts.join(" ").trim().to_owned())
    }

    fn check_options(&self, options: &TranscribeOptions) -> Result<(), Error> {
        if let Some(lang) = &options.language {
            if whisper_rs::get_lang_id(lang).is_none() {
                return Err(Error::InvalidOption(format!(
                    "unknown language code {lang:?} (use an ISO 639-1 code such as ru, or auto)"
                )));
            }
            if lang != "en" && !self.model.is_multilingual() {
                return Err(Error::InvalidOption(format!(
                    "{} is an English-only model and cannot transcribe {lang:?}",
                    self.model.path().display()
                )));
            }
        }
        if options
            .initial_prompt
            .as_deref()
            .is_some_and(|p| p.contains('\0'))
        {
            return Err(Error::InvalidOption(
                "the prompt contains a NUL character".to_owned(),
            ));
        }
        if let Decoding::BeamSearch { beam_size } = options.decoding {
            if !(1..=16).contains(&beam_size) {
                return Err(Error::InvalidOption(format!(
                    "beam size {beam_size} is outside 1..=16"
                )));
            }
        }
        if !(0.0..=1.0).contains(&options.temperature) {
            return Err(Error::InvalidOption(format!(
                "temperature {} is outside 0..=1",
                options.temperature
            )));
        }
        Ok(())
    }

    fn run_whisper(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Vec<RawSegment>, Error> {
        self.run_whisper_with(samples, options, progress, None)
    }

    fn run_whisper_with(
        &mut self,
        samples: &[f32],
        options: &TranscribeOptions,
        progress: &mut dyn FnMut(f32),
        utterance: Option<UtteranceRun>,
    ) -> Result<Vec<RawSegment>, Error> {
        let strategy = match options.decoding {
            Decoding::Greedy => SamplingStrategy::Greedy { best_of: 1 },
            Decoding::BeamSearch { beam_size } => SamplingStrategy::BeamSearch {
                beam_size: beam_size as i32,
                patience: -1.0,
            },
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(options.threads.clamp(1, 64) as i32);
        params.set_language(Some(options.language.as_deref().unwrap_or("auto")));
        params.set_translate(options.translate);
        params.set_temperature(options.temperature);
        params.set_temperature_inc(if options.temperature_fallback {
            0.2
        } else {
            0.0
        });
        if let Some(prompt) = &options.initial_prompt {
            params.set_initial_prompt(prompt);
        }
        params.set_token_timestamps(options.word_timestamps);
        if let Some(max) = options.max_segment_chars {
            params.set_max_len(max.min(i32::MAX as u32) as i32);
            params.set_split_on_word(true);
        }
        if let Some(run) = utterance {
            params.set_single_segment(true);
            params.set_no_timestamps(true);
            params.set_no_context(true);
            params.set_audio_ctx(run.audio_ctx);
            params.set_max_tokens(run.max_tokens);
        } else if options.encoder_window == EncoderWindow::Fitted && samples.len() <= WINDOW_SAMPLES
        {
            // Only within one window: whisper.cpp applies audio_ctx to every window it steps
            // through, and a fitted context on a full window would drop its end.
            let n_audio_ctx = self.model.hparams().n_audio_ctx;
            params.set_audio_ctx(fitted_audio_ctx(samples.len(), n_audio_ctx));
        }
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);

        let cancel = Arc::clone(&self.cancel);
        ffi::install_abort_flag(&mut params, &cancel);
        let mut on_percent = |percent: i32| progress(percent.clamp(0, 100) as f32 / 100.0);
        let mut sink: ffi::ProgressFn<'_> = &mut on_percent;
        ffi::install_progress(&mut params, &mut sink);

        let result = self.state.full(params, samples);
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        result.map_err(|e| Error::Whisper {
            what: "transcribing",
            code: match e {
                whisper_rs::WhisperError::GenericError(code) => code,
                _ => -1,
            },
        })?;
        Ok(self.collect_segments(options.word_timestamps))
    }

    fn collect_segments(&self, timed_tokens: bool) -> Vec<RawSegment> {
        let ctx = &self.model.ctx;
        let eot = ctx.token_eot();
        let n = self.state.full_n_segments();
        let mut raw = Vec::with_capacity(n.max(0) as usize);
        for i in 0..n {
            let Some(segment) = self.state.get_segment(i) else {
                continue;
            };
            let start = segment.start_timestamp() as f64 / 100.0;
            let end = segment.end_timestamp() as f64 / 100.0;
            let mut tokens = Vec::new();
            for j in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(j) else {
                    continue;
                };
                let id = token.token_id();
                // Special tokens (end of text, language, timestamps, ...) come after eot.
                if id >= eot {
                    continue;
                }
                let Ok(bytes) = ctx.token_to_bytes(id) else {
                    continue;
                };
                let data = token.token_data();
                let (t0, t1) = if timed_tokens && data.t0 >= 0 && data.t1 >= data.t0 {
                    (data.t0 as f64 / 100.0, data.t1 as f64 / 100.0)
                } else {
                    (start, end)
                };
                tokens.push(RawToken {
                    bytes: bytes.to_vec(),
                    start: t0,
                    end: t1,
                    probability: data.p,
                });
            }
            raw.push(RawSegment {
                start,
                end,
                tokens,
                no_speech_probability: segment.no_speech_probability(),
            });
        }
        raw
    }
}

/// Keeps every time inside `0..=duration`, ends after starts, and segments in order.
fn clamp_times(segments: &mut [Segment], duration: f64) {
    let mut floor = 0.0f64;
    for segment in segments {
        segment.start = segment.start.clamp(floor, duration);
        segment.end = segment.end.clamp(segment.start, duration);
        floor = segment.start;
        for word in &mut segment.words {
            word.start = word.start.clamp(segment.start, segment.end);
            word.end = word.end.clamp(word.start, segment.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{write_model_file, GenerateOptions};
    use crate::model_file::Hparams;

    fn micro_model(dir: &std::path::Path) -> Model {
        let path = dir.join("micro.bin");
        let opts = GenerateOptions {
            hparams: Hparams::micro(),
            seed: 7,
        };
        write_model_file(&path, &opts).unwrap();
        Model::load(&path).unwrap()
    }

    fn tone(seconds: f64) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE) as usize)
            .map(|i| 0.3 * (i as f32 * 0.1).sin())
            .collect()
    }

    #[test]
    fn real_inference_gives_ordered_segments_within_the_audio() {
        let dir = tempfile::tempdir().unwrap();
        let model = micro_model(dir.path());
        let mut transcriber = Transcriber::new(&model).unwrap();
        let options = TranscribeOptions {
            word_timestamps: true,
            threads: 2,
            ..Default::default()
        };
        let mut calls = 0;
        let transcript = transcriber
            .transcribe_with_progress(&tone(4.0), &options, &mut |_| calls += 1)
            .unwrap();
        assert_eq!(transcript.language, "ru");
        assert_eq!(transcript.duration, 4.0);
        assert!(calls > 0);
        let mut last = 0.0;
        for s in &transcript.segments {
            assert!(last <= s.start && s.start <= s.end && s.end <= 4.0, "{s:?}");
            assert!(!s.text.contains('\u{FFFD}'));
            last = s.start;
        }
    }

    #[test]
    fn bad_options_and_short_audio_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = micro_model(dir.path());
        let mut transcriber = Transcriber::new(&model).unwrap();
        let err = transcriber
            .transcribe(&tone(0.05), &TranscribeOptions::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the audio is too short (50 ms): at least 100 ms are needed"
        );
        let options = TranscribeOptions {
            language: Some("xx".into()),
            ..Default::default()
        };
        assert!(matches!(
            transcriber.transcribe(&tone(1.0), &options),
            Err(Error::InvalidOption(_))
        ));
    }

    /// A pinned decoder does the same work whatever the thread count: what benchmarks rely on.
    #[test]
    fn pinned_decoders_are_deterministic() {
        use crate::generate::{write_model_file_with_decoder, DecoderOutput};
        let dir = tempfile::tempdir().unwrap();
        let options = TranscribeOptions {
            temperature_fallback: false,
            ..Default::default()
        };
        let mut texts = Vec::new();
        for decoder in [DecoderOutput::EndOfText, DecoderOutput::Repeat] {
            let path = dir.path().join(format!("{decoder:?}.bin"));
            let opts = GenerateOptions {
                hparams: Hparams::micro(),
                seed: 3,
            };
            write_model_file_with_decoder(&path, &opts, decoder).unwrap();
            let model = Model::load(&path).unwrap();
            let mut transcriber = Transcriber::new(&model).unwrap();
            let one = transcriber
                .transcribe(
                    &tone(3.0),
                    &TranscribeOptions {
                        threads: 1,
                        ..options.clone()
                    },
                )
                .unwrap();
            let two = transcriber
                .transcribe(
                    &tone(3.0),
                    &TranscribeOptions {
                        threads: 2,
                        ..options.clone()
                    },
                )
                .unwrap();
            assert_eq!(one.text(), two.text(), "{decoder:?}");
            texts.push(one.text());
        }
        assert_eq!(texts[0], "", "end of text at once");
        assert!(texts[1].starts_with("при при при"), "{}", texts[1]);
    }

    /// A micro model whose decoder repeats one token, so that any encoder output reads the same.
    fn repeat_model(dir: &std::path::Path, seed: u64) -> Model {
        use crate::generate::{write_model_file_with_decoder, DecoderOutput};
        let path = dir.join("repeat.bin");
        let opts = GenerateOptions {
            hparams: Hparams::micro(),
            seed,
        };
        write_model_file_with_decoder(&path, &opts, DecoderOutput::Repeat).unwrap();
        Model::load(&path).unwrap()
    }

    #[test]
    fn utterances_decode_in_a_fitted_window_with_a_token_cap() {
        assert_eq!(fitted_audio_ctx(16_000, 1500), 96);
        assert_eq!(fitted_audio_ctx(1_600, 1500), 64);
        assert_eq!(fitted_audio_ctx(16_000 * 40, 1500), 1500);
        let dir = tempfile::tempdir().unwrap();
        let model = repeat_model(dir.path(), 3);
        let mut transcriber = Transcriber::new(&model).unwrap();
        let options = TranscribeOptions {
            temperature_fallback: false,
            threads: 2,
            ..Default::default()
        };
        for window in [EncoderWindow::Fitted, EncoderWindow::Full] {
            let text = transcriber
                .transcribe_utterance(&tone(2.0), &options, window, 6)
                .unwrap();
            let words = text.split_whitespace().count();
            assert!(
                text.starts_with("при") && (1..=6).contains(&words),
                "{text:?}"
            );
        }
        assert!(matches!(
            transcriber.transcribe_utterance(&tone(0.05), &options, EncoderWindow::Fitted, 6),
            Err(Error::AudioTooShort { .. })
        ));
    }

    #[test]
    fn short_files_can_encode_a_fitted_window() {
        let dir = tempfile::tempdir().unwrap();
        let model = repeat_model(dir.path(), 4);
        let mut transcriber = Transcriber::new(&model).unwrap();
        let options = TranscribeOptions {
            temperature_fallback: false,
            threads: 2,
            ..Default::default()
        };
        let fitted = TranscribeOptions {
            encoder_window: EncoderWindow::Fitted,
            ..options.clone()
        };
        // The pinned decoder reads the same text out of either encoder output.
        let full = transcriber.transcribe(&tone(3.0), &options).unwrap();
        let short = transcriber.transcribe(&tone(3.0), &fitted).unwrap();
        assert!(full.text().starts_with("при"), "{}", full.text());
        assert_eq!(short.text(), full.text());
        assert!(short.segments.iter().all(|s| s.end <= 3.0));
        // Past one window the option changes nothing: every window is encoded whole.
        let long = transcriber.transcribe(&tone(31.0), &fitted).unwrap();
        assert!(long.segments.iter().all(|s| s.end <= 31.0));
        assert!(!long.segments.is_empty());
    }

    #[test]
    fn a_raised_flag_cancels() {
        let dir = tempfile::tempdir().unwrap();
        let model = micro_model(dir.path());
        let mut transcriber = Transcriber::new(&model).unwrap();
        transcriber.cancel_flag().store(true, Ordering::Relaxed);
        let err = transcriber
            .transcribe(&tone(2.0), &TranscribeOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }
}
