//! Recognition with whisper.cpp: rech-asr's generic [`Request`] and this engine's
//! [`WhisperOptions`] in, token bytes with times out. whisper-rs's borrowed parameter types stay
//! inside this file.

use rech_asr::{
    CancelToken, Error, Purpose, Recognition, Recognizer, Request, Token, TokenSegment,
    MIN_SAMPLES, SAMPLE_RATE,
};
use whisper_rs::WhisperState;

use crate::ffi::{self, RawParams, RawState};
use crate::model::WhisperEngine;
use crate::{Decoding, EncoderWindow, WhisperOptions, ENGINE};

/// Whisper's window: 30 s of 16 kHz samples.
const WINDOW_SAMPLES: usize = 480_000;

/// Encoder positions per second of audio (1500 for 30 s).
const AUDIO_CTX_PER_SECOND: usize = 50;

/// The `audio_ctx` for `samples` of audio: its positions plus 0.64 s of margin, in steps of
/// 32 positions, within the model's window.
fn fitted_audio_ctx(samples: usize, n_audio_ctx: i32) -> i32 {
    let needed = samples.div_ceil(SAMPLE_RATE / AUDIO_CTX_PER_SECOND) + 32;
    let stepped = needed.div_ceil(32) * 32;
    (stepped.min(i32::MAX as usize) as i32).min(n_audio_ctx)
}

/// The most tokens a dictated utterance of `samples` may decode to: Russian speech runs at up
/// to about 9 tokens a second, so more is a decoding loop.
fn utterance_max_tokens(samples: usize) -> u32 {
    let seconds = samples as f64 / SAMPLE_RATE as f64;
    (16.0 + 10.0 * seconds).ceil() as u32
}

/// The prompt of one call: the user's prompt, then the text that preceded the audio.
fn prompt(user: Option<&str>, context: Option<&str>) -> Option<String> {
    match (user, context) {
        (Some(user), Some(context)) => Some(format!("{user} {context}")),
        (Some(only), None) | (None, Some(only)) => Some(only.to_owned()),
        (None, None) => None,
    }
}

/// whisper.cpp's parameters for `options`, field by field as whisper-cli 1.8.3 sets them
/// (`examples/cli/cli.cpp`), from whisper.cpp's defaults for the strategy. `greedy.best_of` is
/// set under beam search too: whisper.cpp samples its fallback candidates from it whatever the
/// strategy.
fn decoding_params(options: &WhisperOptions, suppressed_tokens: &[i32]) -> RawParams {
    let mut params = RawParams::new(match options.decoding {
        Decoding::Greedy => None,
        Decoding::BeamSearch { beam_size } => Some(beam_size),
    });
    let fields = params.fields();
    fields.greedy.best_of = options.best_of.clamp(1, crate::MAX_DECODERS) as i32;
    fields.translate = options.translate;
    fields.temperature = options.temperature;
    fields.temperature_inc = options.temperature_increment;
    fields.entropy_thold = options.entropy_threshold;
    fields.logprob_thold = options.logprob_threshold;
    fields.no_speech_thold = options.no_speech_threshold;
    fields.suppress_nst = options.suppress_non_speech;
    if let Some(max) = options.max_context_tokens {
        fields.n_max_text_ctx = max.min(i32::MAX as u32) as i32;
    }
    if !suppressed_tokens.is_empty() {
        params.set_suppressed_tokens(suppressed_tokens.to_vec());
    }
    params
}

/// Settings an utterance adds to a whisper.cpp run.
#[derive(Debug, Clone, Copy)]
struct UtteranceRun {
    audio_ctx: i32,
    max_tokens: i32,
}

/// whisper.cpp's per-run state over a [`WhisperEngine`]: one per thread.
pub struct WhisperRecognizer {
    engine: WhisperEngine,
    state: WhisperState,
    /// `state`'s pointers, for calling whisper.cpp with rech's own parameter block.
    raw: RawState,
    threads: usize,
    /// Whether `state` has decoded anything.
    used: bool,
    /// Whether a new recording began after `state` was used: the next run gets a fresh state.
    stale: bool,
}

/// A fresh whisper.cpp state over `engine`, and its pointers.
fn new_state(engine: &WhisperEngine) -> Result<(WhisperState, RawState), Error> {
    let mut state = engine.ctx.create_state().map_err(|_| Error::Engine {
        engine: ENGINE,
        what: "allocating its state (error code -1)".to_owned(),
    })?;
    let raw = RawState::capture(&mut state).ok_or_else(|| Error::Engine {
        engine: ENGINE,
        what: "starting a run (it never reached the encoder)".to_owned(),
    })?;
    Ok((state, raw))
}

impl WhisperRecognizer {
    pub(crate) fn new(engine: &WhisperEngine, threads: usize) -> Result<Self, Error> {
        let (state, raw) = new_state(engine)?;
        Ok(Self {
            engine: engine.clone(),
            state,
            raw,
            threads,
            used: false,
            stale: false,
        })
    }

    /// Decodes one utterance (100 ms to 30 s) for dictation: one segment, no timestamps, nothing
    /// carried over from earlier calls, at most `max_tokens` tokens (a guard against decoding
    /// loops), and the encoder run over `window`.
    pub fn utterance(
        &mut self,
        samples: &[f32],
        request: &Request,
        cancel: &CancelToken,
        window: EncoderWindow,
        max_tokens: u32,
    ) -> Result<Recognition, Error> {
        self.check(request)?;
        if samples.len() < MIN_SAMPLES {
            return Err(too_short(samples.len()));
        }
        let n_audio_ctx = self.engine.shared.info.hparams.n_audio_ctx;
        let audio_ctx = match window {
            EncoderWindow::Full => 0,
            EncoderWindow::Fitted => fitted_audio_ctx(samples.len(), n_audio_ctx),
        };
        let run = UtteranceRun {
            audio_ctx,
            // whisper.cpp stops after the token that reaches its limit: one more.
            max_tokens: max_tokens.clamp(2, 448) as i32 - 1,
        };
        self.run_whisper(samples, request, cancel, &mut |_| {}, Some(run))
    }

    fn run_whisper(
        &mut self,
        samples: &[f32],
        request: &Request,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f32),
        utterance: Option<UtteranceRun>,
    ) -> Result<Recognition, Error> {
        if self.stale {
            // whisper.cpp's state carries more than the text from one call to the next: the
            // first decoder's random generator (temperature fallback samples with it) and,
            // with beam search, something that made the same file decode three different ways
            // when given three times in a row. A recording's text must not depend on what the
            // same worker decoded before it (a batch, -j, a server's earlier requests), so
            // each recording gets the state a fresh process would have.
            (self.state, self.raw) = new_state(&self.engine)?;
            self.stale = false;
        }
        self.used = true;
        let options = &self.engine.shared.options;
        let mut params = decoding_params(options, &self.engine.shared.suppressed_tokens);
        params.set_language(request.language.as_deref().unwrap_or("auto"));
        let fields = params.fields();
        fields.n_threads = self.threads.clamp(1, 64) as i32;
        if let Some(temperature) = request.temperature {
            fields.temperature = temperature;
        }
        if request.purpose == Purpose::Partial {
            // A partial hypothesis is thrown away soon: never worth a retry.
            fields.temperature_inc = 0.0;
        }
        fields.token_timestamps = request.word_timestamps;
        // whisper.cpp keeps the text it decoded in the state and, unless told otherwise, hands
        // it to the next call as context: the previous file's last words would steer this
        // one's first (beam search made `rech transcribe a.wav b.wav` and `rech transcribe
        // b.wav` differ). Each call starts from the context rech gives it (the prompt, the
        // previous window's text); within the call whisper.cpp still carries its own.
        fields.no_context = true;
        if let Some(max) = options.max_segment_chars {
            fields.max_len = max.min(i32::MAX as u32) as i32;
            fields.split_on_word = options.split_on_word;
        }
        if let Some(run) = utterance {
            fields.single_segment = true;
            fields.no_timestamps = true;
            fields.audio_ctx = run.audio_ctx;
            fields.max_tokens = run.max_tokens;
        } else if options.encoder_window == EncoderWindow::Fitted && samples.len() <= WINDOW_SAMPLES
        {
            // Only within one window: whisper.cpp applies audio_ctx to every window it steps
            // through, and a fitted context on a full window would drop its end.
            let n_audio_ctx = self.engine.shared.info.hparams.n_audio_ctx;
            fields.audio_ctx = fitted_audio_ctx(samples.len(), n_audio_ctx);
        }
        // No context tokens wanted: the previous window's text is not given either.
        let context = request
            .context
            .as_deref()
            .filter(|_| options.max_context_tokens != Some(0));
        let prompt = prompt(options.initial_prompt.as_deref(), context);
        if let Some(prompt) = &prompt {
            params.set_initial_prompt(prompt);
        }
        let mut on_percent = |percent: i32| progress(percent.clamp(0, 100) as f32 / 100.0);
        let mut callbacks = ffi::Callbacks {
            abort: cancel.as_flag(),
            progress: &mut on_percent,
        };
        let status = ffi::full(&mut self.raw, &mut params, samples, &mut callbacks);
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if status != 0 {
            return Err(Error::Engine {
                engine: ENGINE,
                what: format!("transcribing (error code {status})"),
            });
        }
        let detected_language = match &request.language {
            Some(_) => None,
            None => Some(
                whisper_rs::get_lang_str(self.state.full_lang_id_from_state())
                    .unwrap_or("und")
                    .to_owned(),
            ),
        };
        Ok(Recognition {
            detected_language,
            segments: self.collect_segments(request.word_timestamps),
        })
    }

    fn collect_segments(&self, timed_tokens: bool) -> Vec<TokenSegment> {
        let ctx = &self.engine.ctx;
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
                tokens.push(Token {
                    bytes: bytes.to_vec(),
                    start: t0,
                    end: t1,
                    probability: data.p,
                });
            }
            raw.push(TokenSegment {
                start,
                end,
                tokens,
                no_speech_probability: segment.no_speech_probability(),
            });
        }
        raw
    }
}

fn too_short(samples: usize) -> Error {
    Error::AudioTooShort {
        millis: samples as u64 * 1000 / SAMPLE_RATE as u64,
    }
}

impl Recognizer for WhisperRecognizer {
    fn start_recording(&mut self) {
        self.stale = self.used;
    }

    fn check(&self, request: &Request) -> Result<(), Error> {
        if let Some(t) = request.temperature.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(Error::InvalidOption(format!(
                "temperature {t} is outside 0..=1"
            )));
        }
        if let Some(lang) = &request.language {
            if whisper_rs::get_lang_id(lang).is_none() {
                return Err(Error::InvalidOption(format!(
                    "unknown language code {lang:?} (use an ISO 639-1 code such as ru, or auto)"
                )));
            }
            if lang != "en" && !self.engine.is_multilingual() {
                return Err(Error::InvalidOption(format!(
                    "{} is an English-only model and cannot transcribe {lang:?}",
                    self.engine.path().display()
                )));
            }
        }
        Ok(())
    }

    fn recognize(
        &mut self,
        samples: &[f32],
        request: &Request,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Recognition, Error> {
        match request.purpose {
            Purpose::File => {
                self.check(request)?;
                if samples.len() < MIN_SAMPLES {
                    return Err(too_short(samples.len()));
                }
                self.run_whisper(samples, request, cancel, progress, None)
            }
            Purpose::Partial | Purpose::Final => {
                let window = self.engine.shared.options.utterance_window;
                let max_tokens = utterance_max_tokens(samples.len());
                let result = self.utterance(samples, request, cancel, window, max_tokens)?;
                progress(1.0);
                Ok(result)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WhisperOptions;
    use rech_asr::{TranscribeOptions, Transcriber};
    use rech_ggml::generate::{
        write_model_file, write_model_file_with_decoder, DecoderOutput, GenerateOptions,
    };
    use rech_ggml::model_file::Hparams;

    fn load(path: &std::path::Path, options: WhisperOptions) -> WhisperEngine {
        WhisperEngine::load(path, options).unwrap()
    }

    fn micro_model(dir: &std::path::Path) -> WhisperEngine {
        let path = dir.join("micro.bin");
        let opts = GenerateOptions {
            hparams: Hparams::micro(),
            seed: 7,
        };
        write_model_file(&path, &opts).unwrap();
        load(&path, WhisperOptions::default())
    }

    /// Greedy decoding without temperature fallback: what makes pinned decoders deterministic.
    fn no_fallback() -> WhisperOptions {
        WhisperOptions {
            temperature_increment: 0.0,
            ..WhisperOptions::default()
        }
    }

    fn tone(seconds: f64) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE as f64) as usize)
            .map(|i| 0.3 * (i as f32 * 0.1).sin())
            .collect()
    }

    #[test]
    fn real_inference_gives_ordered_segments_within_the_audio() {
        let dir = tempfile::tempdir().unwrap();
        // The pinned decoder gives text whatever the encoder makes of a tone.
        let model = repeat_model(dir.path(), 7, no_fallback());
        let mut transcriber = Transcriber::new(&model, 2).unwrap();
        let options = TranscribeOptions {
            word_timestamps: true,
            ..Default::default()
        };
        let mut calls = 0;
        let transcript = transcriber
            .transcribe_with_progress(&tone(4.0), &options, &mut |_| calls += 1)
            .unwrap();
        assert_eq!(transcript.language, "ru");
        assert_eq!(transcript.duration, 4.0);
        assert!(calls > 0);
        assert!(!transcript.segments.is_empty());
        transcript.check_times().unwrap();
        for s in &transcript.segments {
            assert!(!s.text.contains('\u{FFFD}'));
            assert!(!s.words.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn bad_options_and_short_audio_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = micro_model(dir.path());
        let mut transcriber = Transcriber::new(&model, 2).unwrap();
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
        let hot = TranscribeOptions {
            temperature: Some(1.5),
            ..Default::default()
        };
        assert_eq!(
            transcriber
                .transcribe(&tone(1.0), &hot)
                .unwrap_err()
                .to_string(),
            "invalid option: temperature 1.5 is outside 0..=1"
        );
        let path = model.path().to_owned();
        for (bad, why) in [
            (
                WhisperOptions {
                    initial_prompt: Some("a\0b".to_owned()),
                    ..WhisperOptions::default()
                },
                "invalid option: the prompt contains a NUL character",
            ),
            (
                WhisperOptions {
                    decoding: Decoding::BeamSearch { beam_size: 9 },
                    ..WhisperOptions::default()
                },
                "invalid option: beam size 9 is outside 1..=8",
            ),
            (
                WhisperOptions {
                    best_of: 0,
                    ..WhisperOptions::default()
                },
                "invalid option: best-of 0 is outside 1..=8",
            ),
            (
                WhisperOptions {
                    temperature_increment: 1.5,
                    ..WhisperOptions::default()
                },
                "invalid option: temperature increment 1.5 is outside 0..=1",
            ),
            (
                WhisperOptions {
                    logprob_threshold: f32::NAN,
                    ..WhisperOptions::default()
                },
                "invalid option: log-probability threshold NaN is not a number",
            ),
        ] {
            let err = WhisperEngine::load(&path, bad).unwrap_err();
            assert_eq!(err.to_string(), why);
        }
    }

    /// The user's prompt comes first, then the text before the audio (the previous window).
    #[test]
    fn prompts_are_the_users_then_the_context() {
        assert_eq!(
            prompt(Some("Лекция."), Some("при при")).as_deref(),
            Some("Лекция. при при")
        );
        assert_eq!(prompt(Some("Лекция."), None).as_deref(), Some("Лекция."));
        assert_eq!(prompt(None, Some("при")).as_deref(), Some("при"));
        assert_eq!(prompt(None, None), None);
        assert_eq!(utterance_max_tokens(3_200), 18);
    }

    /// A pinned decoder does the same work whatever the thread count: what benchmarks rely on.
    #[test]
    fn pinned_decoders_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let options = TranscribeOptions::default();
        let mut texts = Vec::new();
        for decoder in [DecoderOutput::EndOfText, DecoderOutput::Repeat] {
            let path = dir.path().join(format!("{decoder:?}.bin"));
            let opts = GenerateOptions {
                hparams: Hparams::micro(),
                seed: 3,
            };
            write_model_file_with_decoder(&path, &opts, decoder).unwrap();
            let model = load(&path, no_fallback());
            let one = Transcriber::new(&model, 1)
                .unwrap()
                .transcribe(&tone(3.0), &options)
                .unwrap();
            let two = Transcriber::new(&model, 2)
                .unwrap()
                .transcribe(&tone(3.0), &options)
                .unwrap();
            assert_eq!(one.text(), two.text(), "{decoder:?}");
            texts.push(one.text());
        }
        assert_eq!(texts[0], "", "end of text at once");
        // The decoder loops to the token limit, and the pipeline keeps one copy of the loop.
        assert_eq!(texts[1], "при");
    }

    /// A micro model whose decoder repeats one token, so that any encoder output reads the same.
    fn repeat_model(dir: &std::path::Path, seed: u64, options: WhisperOptions) -> WhisperEngine {
        let path = dir.join("repeat.bin");
        let opts = GenerateOptions {
            hparams: Hparams::micro(),
            seed,
        };
        write_model_file_with_decoder(&path, &opts, DecoderOutput::Repeat).unwrap();
        load(&path, options)
    }

    #[test]
    fn utterances_decode_in_a_fitted_window_with_a_token_cap() {
        assert_eq!(fitted_audio_ctx(16_000, 1500), 96);
        assert_eq!(fitted_audio_ctx(1_600, 1500), 64);
        assert_eq!(fitted_audio_ctx(16_000 * 40, 1500), 1500);
        let dir = tempfile::tempdir().unwrap();
        let model = repeat_model(dir.path(), 3, no_fallback());
        let mut recognizer = model.whisper_recognizer(2).unwrap();
        let request = Request {
            purpose: Purpose::Final,
            ..Request::default()
        };
        let cancel = CancelToken::new();
        for window in [EncoderWindow::Fitted, EncoderWindow::Full] {
            let result = recognizer
                .utterance(&tone(2.0), &request, &cancel, window, 6)
                .unwrap();
            let texts: Vec<String> = rech_asr::assemble(result.segments)
                .into_iter()
                .map(|s| s.text)
                .collect();
            let text = texts.join(" ");
            let words = text.split_whitespace().count();
            assert!(
                text.starts_with("при") && (1..=6).contains(&words),
                "{text:?}"
            );
        }
        assert!(matches!(
            recognizer.utterance(&tone(0.05), &request, &cancel, EncoderWindow::Fitted, 6),
            Err(Error::AudioTooShort { .. })
        ));
    }

    #[test]
    fn short_files_can_encode_a_fitted_window() {
        let dir = tempfile::tempdir().unwrap();
        let options = TranscribeOptions::default();
        let full_model = repeat_model(dir.path(), 4, no_fallback());
        let fitted_model = load(
            full_model.path(),
            WhisperOptions {
                encoder_window: EncoderWindow::Fitted,
                ..no_fallback()
            },
        );
        let mut transcriber = Transcriber::new(&full_model, 2).unwrap();
        let mut fitted = Transcriber::new(&fitted_model, 2).unwrap();
        // The pinned decoder reads the same text out of either encoder output.
        let full = transcriber.transcribe(&tone(3.0), &options).unwrap();
        let short = fitted.transcribe(&tone(3.0), &options).unwrap();
        assert!(full.text().starts_with("при"), "{}", full.text());
        assert_eq!(short.text(), full.text());
        assert!(short.segments.iter().all(|s| s.end <= 3.0));
        // Past one window the option changes nothing: every window is encoded whole.
        let long = fitted.transcribe(&tone(31.0), &options).unwrap();
        assert!(long.segments.iter().all(|s| s.end <= 31.0));
        assert!(!long.segments.is_empty());
    }

    #[test]
    fn a_raised_flag_cancels() {
        let dir = tempfile::tempdir().unwrap();
        let model = micro_model(dir.path());
        let mut transcriber = Transcriber::new(&model, 2).unwrap();
        transcriber.cancel_token().cancel();
        let err = transcriber
            .transcribe(&tone(2.0), &TranscribeOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }
}
