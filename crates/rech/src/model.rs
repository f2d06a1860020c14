//! [`Model`]: a loaded speech model with its VAD and options, ready to transcribe files from
//! any thread; [`ModelBuilder`] for control over where models come from and how they run; and
//! [`Transcriber`], one thread's reusable state.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rech_asr::resolve::ModelSettings;
use rech_asr::{
    CancelToken, Capabilities, Dictation, DictationOptions, Engine, Transcript, VadOptions,
    VoiceDetector,
};

use crate::engines::{self, default_model, EngineOptions, Use, Wanted};
use crate::error::{Error, FetchError};
use crate::fetch::{FetchEvent, Fetcher, OnFetchEvent, VadModel, VadWanted};
use crate::file::{Clip, FileError, FileOptions, Input};

/// Whether to find speech with Silero VAD before recognition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Vad {
    /// Use the VAD model when it is downloaded or can be fetched; otherwise go on without it.
    #[default]
    Auto,
    /// Use it, or fail to load.
    Required,
    /// Transcribe everything, silence included.
    Off,
}

/// A speech model, loaded, with its VAD and options: share it between threads (`Arc<Model>`)
/// or call it from one.
///
/// ```no_run
/// let model = rech::Model::load_default("ru")?;
/// let transcript = model.transcribe_file("talk.mp3")?;
/// print!("{}", rech::Format::Srt.render(&transcript));
/// # Ok::<(), rech::Error>(())
/// ```
pub struct Model {
    engine: Arc<dyn Engine>,
    path: PathBuf,
    name: Option<String>,
    vad_model: Option<PathBuf>,
    vad_options: VadOptions,
    threads: usize,
    file: FileOptions,
    cancel: CancelToken,
    /// Transcribers given back after use, so that `transcribe_file` does not open the engine's
    /// sessions again for every file.
    idle: Mutex<Vec<rech_asr::Transcriber>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("engine", &self.capabilities().engine)
            .field("vad_model", &self.vad_model)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// The default model for `language` (an ISO 639-1 code): GigaAM-v3 for Russian, Whisper
    /// otherwise; the model, ONNX Runtime and the Silero VAD model are downloaded and verified
    /// into the model directory on first use.
    pub fn load_default(language: &str) -> Result<Self, Error> {
        Self::builder().language(language).load()
    }

    /// A model by catalogue name (`small`, `gigaam-v3-e2e-rnnt-int8`), the name of a model
    /// downloaded from elsewhere, a whisper.cpp file, or a GigaAM-v3 `.onnx` file or
    /// directory; a catalogue model is downloaded on first use.
    pub fn load(name_or_path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::builder().model(name_or_path).load()
    }

    /// Control over where models come from and how they run.
    pub fn builder() -> ModelBuilder {
        ModelBuilder::default()
    }

    /// What the engine can do (languages, prompt, word times).
    pub fn capabilities(&self) -> &Capabilities {
        self.engine.capabilities()
    }

    /// The loaded engine, for code that drives rech-asr's pipeline itself.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The model's file (or directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's catalogue (or downloaded) name, when it was found by name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The Silero VAD model in use, if any.
    pub fn vad_model(&self) -> Option<&Path> {
        self.vad_model.as_deref()
    }

    /// The options every file is transcribed with.
    pub fn file_options(&self) -> &FileOptions {
        &self.file
    }

    /// CPU threads per transcriber.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Transcribes any file rech reads (WAV, MP3, FLAC, Ogg/Opus, M4A, WebM, … ; ffmpeg for
    /// the rest when installed): VAD, windows of a few minutes, flat memory.
    pub fn transcribe_file(&self, path: impl AsRef<Path>) -> Result<Transcript, Error> {
        let mut transcriber = self.take_transcriber()?;
        let result = transcriber.transcribe_file(path);
        if !matches!(result, Err(Error::File(FileError::Panicked { .. }))) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(transcriber.inner);
        }
        result
    }

    /// Whether the model's cancel token ([`ModelBuilder::cancel_token`]) was raised.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Transcribes 16 kHz mono samples.
    pub fn transcribe_samples(&self, samples: &[f32]) -> Result<Transcript, Error> {
        let mut transcriber = self.take_transcriber()?;
        let result = transcriber.transcribe_samples(samples);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(transcriber.inner);
        result
    }

    fn take_transcriber(&self) -> Result<Transcriber, Error> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(inner) => Ok(Transcriber {
                inner,
                options: self.file.clone(),
                cancel: self.cancel.clone(),
            }),
            None => self.transcriber(),
        }
    }

    /// A transcriber of its own for one thread (its own engine state and VAD), to reuse for
    /// many files.
    pub fn transcriber(&self) -> Result<Transcriber, Error> {
        let mut inner = rech_asr::Transcriber::new(self.engine.as_ref(), self.threads)?;
        inner.set_cancel_token(self.cancel.clone());
        if let Some(detector) = self.voice_detector()? {
            inner = inner.with_vad(detector);
        }
        Ok(Transcriber {
            inner,
            options: self.file.clone(),
            cancel: self.cancel.clone(),
        })
    }

    /// Push-based live dictation over this model: feed it 16 kHz samples as they arrive, get
    /// partial and final text back.
    pub fn dictation(&self, options: DictationOptions) -> Result<Dictation, Error> {
        let options = DictationOptions {
            threads: self.threads,
            ..options
        };
        Ok(
            Dictation::new(self.engine.as_ref(), self.voice_detector()?, options)?
                .with_cancel_token(self.cancel.clone()),
        )
    }

    /// A new Silero detector with the model's tuning, when VAD is on.
    pub fn voice_detector(&self) -> Result<Option<VoiceDetector>, Error> {
        Ok(self
            .vad_model
            .as_deref()
            .map(|path| VoiceDetector::load(path, self.vad_options.clone()))
            .transpose()?)
    }
}

/// One thread's transcriber: the engine's per-thread state and the VAD, reused for each file.
#[derive(Debug)]
pub struct Transcriber {
    inner: rech_asr::Transcriber,
    options: FileOptions,
    cancel: CancelToken,
}

impl Transcriber {
    /// Transcribes any file rech reads, window by window in flat memory.
    pub fn transcribe_file(&mut self, path: impl AsRef<Path>) -> Result<Transcript, Error> {
        self.transcribe_file_with(path, &mut |_| {})
    }

    /// As [`Transcriber::transcribe_file`], telling `progress` the seconds of audio done.
    pub fn transcribe_file_with(
        &mut self,
        path: impl AsRef<Path>,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Transcript, Error> {
        let input = Input::open(path.as_ref())?;
        Ok(input.transcribe(&mut self.inner, &self.options, &self.cancel, progress)?)
    }

    /// Transcribes 16 kHz mono samples held in memory.
    pub fn transcribe_samples(&mut self, samples: &[f32]) -> Result<Transcript, Error> {
        Ok(self.inner.transcribe(samples, &self.options.transcribe)?)
    }

    /// The streaming form: push samples as they are decoded, get the transcript at the end
    /// (memory holds one window).
    pub fn windowed(&mut self) -> rech_asr::WindowedTranscription<'_> {
        let run = rech_asr::WindowedTranscription::new(
            &mut self.inner,
            &self.options.transcribe,
            &self.options.windows,
        );
        match self.options.prompt.as_deref() {
            Some(prompt) => run.with_context(prompt),
            None => run,
        }
    }

    /// The pipeline underneath, for callers that drive it themselves.
    pub fn pipeline(&mut self) -> &mut rech_asr::Transcriber {
        &mut self.inner
    }
}

/// Sets up a [`Model`]: which model, where models live, threads, VAD, engine options,
/// cancellation and download progress.
#[derive(Default)]
pub struct ModelBuilder {
    model: Option<PathBuf>,
    language: Option<String>,
    purpose: Option<Use>,
    threads: Option<usize>,
    vad: Vad,
    vad_model: Option<PathBuf>,
    vad_options: VadOptions,
    engine: EngineOptions,
    file: FileOptions,
    offline: Option<bool>,
    model_dir: Option<PathBuf>,
    cancel: CancelToken,
    on_event: Option<OnFetchEvent>,
}

impl std::fmt::Debug for ModelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBuilder")
            .field("model", &self.model)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl ModelBuilder {
    /// The model: a catalogue name, a downloaded model's name, or a file or directory
    /// [default: the default model for the language].
    pub fn model(mut self, name_or_path: impl AsRef<Path>) -> Self {
        self.model = Some(name_or_path.as_ref().to_owned());
        self
    }

    /// The spoken language (ISO 639-1), or `auto` to detect it where the engine can
    /// [default: `ru`]. It also picks the default model.
    pub fn language(mut self, language: &str) -> Self {
        self.language = Some(language.to_ascii_lowercase());
        self
    }

    /// What the model is for, which picks the default model for languages other than Russian
    /// [default: files].
    pub fn purpose(mut self, purpose: Use) -> Self {
        self.purpose = Some(purpose);
        self
    }

    /// CPU threads per transcriber [default: all cores, at most 8].
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// VAD on, off or when available [default: when available].
    pub fn vad(mut self, vad: Vad) -> Self {
        self.vad = vad;
        self
    }

    /// A Silero VAD model file in whisper.cpp's format [default: the catalogue's, fetched on
    /// first use].
    pub fn vad_model(mut self, path: impl AsRef<Path>) -> Self {
        self.vad_model = Some(path.as_ref().to_owned());
        self
    }

    /// The VAD's tuning (threshold, shortest speech and silence, padding).
    pub fn vad_options(mut self, options: VadOptions) -> Self {
        self.vad_options = options;
        self
    }

    /// Runs the model on GPU `device` (0 is the first): GigaAM through ONNX Runtime's CUDA
    /// build (`onnxruntime-gpu`, fetched on first use; it needs an NVIDIA driver, CUDA 13 and
    /// cuDNN 9), Whisper in a build with a GPU back end (where it is already the default). For
    /// GigaAM a GPU that cannot be used is an error when the model loads, not a quiet fallback;
    /// whisper.cpp logs that it found no device and runs on the CPU.
    pub fn gpu(mut self, device: u32) -> Self {
        self.engine.gpu = Some(device);
        #[cfg(feature = "whisper")]
        {
            self.engine.whisper.gpu = true;
            self.engine.whisper.gpu_device = device;
        }
        self
    }

    /// The engines' own settings (Whisper's decoding options).
    pub fn engine_options(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Word times, the hallucination filter, windows, the part of each file, a prompt.
    pub fn file_options(mut self, options: FileOptions) -> Self {
        self.file = options;
        self
    }

    /// Transcribe only this part of each file.
    pub fn clip(mut self, clip: Clip) -> Self {
        self.file.clip = clip;
        self
    }

    /// Who spoke when ([`Diarize::Channels`](crate::Diarize::Channels): one speaker per
    /// channel), and what speakers are called.
    pub fn speakers(mut self, speakers: crate::Speakers) -> Self {
        self.file.speakers = speakers;
        self
    }

    /// Time every word.
    pub fn word_timestamps(mut self, on: bool) -> Self {
        self.file.transcribe.word_timestamps = on;
        self
    }

    /// Never download: a model that is not there is an error [default: `RECH_OFFLINE`].
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = Some(offline);
        self
    }

    /// Where models are kept [default: `RECH_MODELS_DIR`, else the platform's cache].
    pub fn model_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.model_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Raised, downloads and transcriptions stop early.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Hears downloads as they happen (for a progress bar).
    pub fn on_fetch(mut self, on_event: impl FnMut(&FetchEvent<'_>) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(on_event));
        self
    }

    /// Resolves (downloading on first use), checks and loads the model and the VAD.
    pub fn load(self) -> Result<Model, Error> {
        if let Some(problem) = self.file.speakers.count.problem() {
            return Err(Error::Speakers(problem));
        }
        let language = match self.language.as_deref() {
            None => Some("ru".to_owned()),
            Some("auto") => None,
            Some(code) => Some(code.to_owned()),
        };
        let offline = self.offline.unwrap_or_else(|| {
            std::env::var("RECH_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0")
        });
        let mut settings = ModelSettings::from_env(offline).map_err(FetchError::from)?;
        if let Some(dir) = &self.model_dir {
            settings.store = rech_asr::catalog::ModelStore::new(dir);
        }
        let mut fetcher = Fetcher::new(settings).with_cancel_token(self.cancel.clone());
        if let Some(on_event) = self.on_event {
            fetcher = fetcher.on_event(on_event);
        }
        let purpose = self.purpose.unwrap_or(Use::Files);
        let default = default_model(language.as_deref(), purpose, false);
        let resolved = fetcher.resolve(self.model.as_deref(), default)?;
        let kind = engines::EngineKind::of(&resolved.path);
        let mut wanted = vec![Wanted::Language(language.as_deref())];
        if self.file.prompt.is_some() {
            wanted.push(Wanted::DecodingOption("a prompt"));
        }
        #[cfg(feature = "whisper")]
        if self.engine.whisper != rech_whisper::WhisperOptions::default() {
            wanted.push(Wanted::DecodingOption("Whisper's options"));
        }
        engines::check_wanted(&kind.capabilities(), &wanted)?;
        let threads = self.threads.unwrap_or_else(rech_asr::default_threads);
        let engine = engines::load_engine(&resolved.path, &self.engine, threads, &mut fetcher)?;
        let vad_model = match self.vad {
            Vad::Off => None,
            Vad::Required => fetcher
                .vad(self.vad_model.as_deref(), VadWanted::Required)?
                .path()
                .map(Path::to_owned),
            Vad::Auto => match fetcher.vad(self.vad_model.as_deref(), VadWanted::DEFAULT)? {
                VadModel::Found(path) => Some(path),
                VadModel::Off => None,
                VadModel::Unavailable(why) => {
                    log::warn!("transcribing without voice-activity detection: {why}");
                    None
                }
            },
        };
        let mut file = self.file;
        file.transcribe.language = language;
        prepare_speakers(&mut file.speakers, threads, &mut fetcher)?;
        if let Some(prompt) = file.prompt.as_deref() {
            engine.check_prompt(prompt)?;
        }
        let model = Model {
            engine,
            path: resolved.path,
            name: resolved.name,
            vad_model,
            vad_options: self.vad_options,
            threads,
            file,
            cancel: self.cancel,
            idle: Mutex::new(Vec::new()),
        };
        // A VAD file that cannot be read fails here, not at the first file.
        model.voice_detector()?;
        Ok(model)
    }
}

/// Makes `speakers` ready to transcribe with: for [`crate::Diarize::Voices`], the networks
/// (those given, or the catalogue's with ONNX Runtime, downloaded on first use), opened once
/// here so that a bad file fails before any audio is read. Other ways need nothing.
pub fn prepare_speakers(
    speakers: &mut crate::Speakers,
    threads: usize,
    fetcher: &mut Fetcher,
) -> Result<(), Error> {
    if speakers.diarize != crate::Diarize::Voices {
        return Ok(());
    }
    if let Some(problem) = speakers.count.problem() {
        return Err(Error::Speakers(problem));
    }
    speakers.models = Some(speaker_models(speakers.models.take(), threads, fetcher)?);
    Ok(())
}

#[cfg(feature = "diarize")]
fn speaker_models(
    given: Option<crate::SpeakerModels>,
    threads: usize,
    fetcher: &mut Fetcher,
) -> Result<crate::SpeakerModels, Error> {
    let models = match given {
        Some(models) => models,
        None => {
            let (segmentation, embedding) = fetcher.speaker_models()?;
            crate::SpeakerModels {
                segmentation,
                embedding,
                threads,
            }
        }
    };
    fetcher.runtime(Some("speaker labels"))?;
    crate::voices::open(&models).map_err(|e| Error::Speakers(e.to_string()))?;
    Ok(models)
}

#[cfg(not(feature = "diarize"))]
fn speaker_models(
    _given: Option<crate::SpeakerModels>,
    _threads: usize,
    _fetcher: &mut Fetcher,
) -> Result<crate::SpeakerModels, Error> {
    Err(Error::Speakers(
        "this build of rech has no speaker diarization (feature `diarize`)".to_owned(),
    ))
}
