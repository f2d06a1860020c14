//! A loaded GigaAM-v3 model behind rech-asr's engine traits: the files found and checked once
//! (graphs open in ONNX Runtime, vocabulary parsed and matched against the head's classes); the
//! big graph (the CTC model, or RNN-T's encoder) in as many copies as asked for, shared by every
//! recognizer, so that workers need not each hold a copy of the weights; and one recognizer per
//! thread with its own front end, decoding loop and (RNN-T) small graphs.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use rech_asr::{
    CancelToken, Capabilities, Engine, Error, Recognition, Recognizer, Request, Token,
    TokenSegment, SAMPLE_RATE,
};

use crate::decode::{
    ctc_greedy, pieces, rnnt_greedy, Emission, Transducer, Vocabulary, FRAME_SECONDS,
};
use crate::features::{frame_count, FrontEnd, N_FFT};
use crate::files::{self, ModelFiles, Variant};
use crate::graphs::{CtcGraph, DecoderState, Encoded, OpenError, RnntEncoder, RnntHeads};
use crate::GigaamOptions;

/// The engine's name in messages.
pub const ENGINE: &str = "GigaAM-v3";

/// The longest piece of audio given to the model in one call: GigaAM is trained on short
/// utterances (its own `transcribe` refuses more than 25 s), so the pipeline cuts longer
/// audio at pauses into pieces of 11 to 22 s.
pub const MAX_SECONDS: usize = 22;

/// A gap between two tokens this long starts a new segment, in encoder frames (0.8 s).
const PAUSE_FRAMES: usize = 20;

/// A loaded GigaAM-v3 model, shareable between threads.
#[derive(Clone)]
pub struct GigaamEngine {
    shared: Arc<Shared>,
}

struct Shared {
    files: ModelFiles,
    vocab: Vocabulary,
    options: GigaamOptions,
    capabilities: Capabilities,
    /// The copies of the big graph, each run by one recognizer at a time.
    acoustic: AcousticPool,
    /// RNN-T: the small graphs opened to check the model, handed to the first recognizer.
    first: Mutex<Option<RnntHeads>>,
    shown: String,
}

impl std::fmt::Debug for GigaamEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GigaamEngine")
            .field("files", &self.shared.files)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// The graph that holds nearly all of a model's weights and work: the CTC model, or RNN-T's
/// encoder. Each ONNX Runtime session holds its own copy of the weights, and ort runs a session
/// from one thread at a time: a copy per worker runs fastest, one copy for all of them (each
/// run then on all their threads) holds a quarter of the memory at four workers.
enum Acoustic {
    Ctc(CtcGraph),
    Rnnt(RnntEncoder),
}

impl Acoustic {
    fn open(files: &ModelFiles, threads: usize, gpu: Option<u32>) -> Result<Self, OpenError> {
        if files.variant.is_rnnt() {
            RnntEncoder::open(&files.graphs[0], threads, gpu).map(Acoustic::Rnnt)
        } else {
            CtcGraph::open(&files.graphs[0], threads, gpu).map(Acoustic::Ctc)
        }
    }
}

/// The copies of the acoustic graph, all opened when the model loads (one opened later, while
/// the others run, would add the file it reads to their peak); a recognizer that finds every
/// copy busy waits for one.
struct AcousticPool {
    free: Mutex<Vec<Acoustic>>,
    returned: Condvar,
}

impl AcousticPool {
    fn new(copies: Vec<Acoustic>) -> Self {
        Self {
            free: Mutex::new(copies),
            returned: Condvar::new(),
        }
    }

    /// A copy to run, once one is free.
    fn lease(&self) -> Lease<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(acoustic) = free.pop() {
                return Lease {
                    pool: self,
                    acoustic: Some(acoustic),
                };
            }
            free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A copy of the acoustic graph in use; back in the pool when dropped.
struct Lease<'p> {
    pool: &'p AcousticPool,
    acoustic: Option<Acoustic>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(acoustic) = self.acoustic.take() {
            let mut free = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
            free.push(acoustic);
            self.pool.returned.notify_one();
        }
    }
}

/// RNN-T's prediction network and joint for `files`; none for CTC.
fn open_heads(files: &ModelFiles) -> Result<Option<RnntHeads>, OpenError> {
    if files.variant.is_rnnt() {
        RnntHeads::open(&files.graphs[1], &files.graphs[2]).map(Some)
    } else {
        Ok(None)
    }
}

/// What the acoustic graph made of one piece: CTC log-probabilities (values, frames,
/// classes), or RNN-T's encoder output.
enum Acoustics {
    LogProbs(Vec<f32>, usize, usize),
    Encoded(Encoded),
}

fn open_error(path: &str, e: OpenError) -> Error {
    match e {
        OpenError::Runtime(reason) => Error::EngineUnavailable { reason },
        OpenError::Model(reason) => unusable(path, reason),
    }
}

fn unusable(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::UnusableModel {
        path: path.to_owned(),
        kind: ENGINE,
        reason: reason.to_string(),
    }
}

impl GigaamEngine {
    /// The files of the model `path` names (one of its `.onnx` files, or a directory holding
    /// one model), without opening them: what a caller checks before fetching ONNX Runtime.
    pub fn find_files(path: &Path) -> Result<ModelFiles, Error> {
        let shown = path.display().to_string();
        let meta = rech_asr::model_metadata(path)?;
        if meta.is_dir() {
            files::from_dir(path)
        } else {
            files::from_file(path)
        }
        .map_err(|e| unusable(&shown, e))
    }

    /// Loads the model `path` names: one of its `.onnx` files, or a directory holding one
    /// model. The graphs are opened and run once on a moment of silence, so that a damaged
    /// file, a graph that is not GigaAM's or a vocabulary that does not fit the head fails here,
    /// before any work.
    pub fn load(path: &Path, options: GigaamOptions) -> Result<Self, Error> {
        let shown = path.display().to_string();
        let files = Self::find_files(path)?;
        let text = std::fs::read_to_string(&files.vocab).map_err(|e| {
            unusable(
                &shown,
                format!(
                    "cannot read {}: {}",
                    file_name(&files.vocab),
                    rech_asr::describe_io(&e)
                ),
            )
        })?;
        let vocab = Vocabulary::parse(&text)
            .map_err(|e| unusable(&shown, format!("{}: {e}", file_name(&files.vocab))))?;
        if vocab.len() != files.variant.classes() {
            return Err(unusable(
                &shown,
                format!(
                    "{} has {} pieces, and GigaAM-v3 {} has {} classes",
                    file_name(&files.vocab),
                    vocab.len(),
                    files.variant.stem(),
                    files.variant.classes()
                ),
            ));
        }
        let encoder_threads = options.threads.max(1);
        let copies = options.copies;
        let gpu = options.gpu;
        let acoustic =
            Acoustic::open(&files, encoder_threads, gpu).map_err(|e| open_error(&shown, e))?;
        let heads = open_heads(&files).map_err(|e| open_error(&shown, e))?;
        let engine = Self {
            shared: Arc::new(Shared {
                capabilities: capabilities(),
                files,
                vocab,
                options,
                acoustic: AcousticPool::new(vec![acoustic]),
                first: Mutex::new(None),
                shown,
            }),
        };
        // One run on silence: the head must give one row of the vocabulary's size per frame.
        let mut probe = GigaamRecognizer {
            engine: engine.clone(),
            heads,
            front: FrontEnd::new(),
        };
        let classes = probe
            .classes(&vec![0.0; SAMPLE_RATE / 2])
            .map_err(|e| unusable(&engine.shared.shown, e))?;
        if classes != engine.shared.vocab.len() {
            return Err(unusable(
                &engine.shared.shown,
                format!(
                    "the model has {classes} classes and {} has {} pieces",
                    file_name(&engine.shared.files.vocab),
                    engine.shared.vocab.len()
                ),
            ));
        }
        *engine
            .shared
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = probe.heads.take();
        for _ in 1..copies.max(1) {
            let copy = Acoustic::open(&engine.shared.files, encoder_threads, gpu)
                .map_err(|e| open_error(&engine.shared.shown, e))?;
            engine
                .shared
                .acoustic
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(copy);
        }
        Ok(engine)
    }

    /// The model's files.
    pub fn files(&self) -> &ModelFiles {
        &self.shared.files
    }

    /// Which variant it is.
    pub fn variant(&self) -> Variant {
        self.shared.files.variant
    }
}

impl Engine for GigaamEngine {
    fn capabilities(&self) -> &Capabilities {
        &self.shared.capabilities
    }

    /// A recognizer: its own front end and small graphs (on one thread); the big graph's copies
    /// and their threads are the engine's ([`GigaamOptions`]), so `threads` is not used.
    fn recognizer(&self, _threads: usize) -> Result<Box<dyn Recognizer>, Error> {
        let first = self
            .shared
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let heads = match first {
            Some(heads) => Some(heads),
            None => {
                open_heads(&self.shared.files).map_err(|e| open_error(&self.shared.shown, e))?
            }
        };
        Ok(Box::new(GigaamRecognizer {
            engine: self.clone(),
            heads,
            front: FrontEnd::new(),
        }))
    }
}

/// One thread's front end, decoding state and (RNN-T) small graphs; the big graph is the
/// engine's.
pub struct GigaamRecognizer {
    engine: GigaamEngine,
    /// RNN-T's prediction network and joint (`None` for CTC, and after a run that panicked,
    /// which opens them again).
    heads: Option<RnntHeads>,
    front: FrontEnd,
}

/// The RNN-T decoding step over one utterance's encoder output, with the prediction network's
/// output cached until a token is emitted (as onnx-asr does).
struct Stepper<'g> {
    graphs: &'g mut RnntHeads,
    encoded: &'g Encoded,
    blank: usize,
    state: DecoderState,
    /// The prediction for the current state, and the state it leads to after its token.
    cached: Option<(Vec<f32>, DecoderState)>,
    frame: Vec<f32>,
    row: Vec<f32>,
}

impl Transducer for Stepper<'_> {
    type Error = Error;

    fn step(&mut self, frame: usize, last: Option<usize>) -> Result<&[f32], Error> {
        let cached = match self.cached.take() {
            Some(cached) => cached,
            None => self
                .graphs
                .predict(last.unwrap_or(self.blank), &self.state)?,
        };
        let e = self.encoded;
        self.frame.clear();
        self.frame
            .extend((0..e.dim).map(|d| e.data[d * e.frames + frame]));
        self.row = self.graphs.join(&self.frame, &cached.0)?;
        self.cached = Some(cached);
        Ok(&self.row)
    }

    fn advance(&mut self) {
        if let Some((_, next)) = self.cached.take() {
            self.state = next;
        }
    }
}

impl GigaamRecognizer {
    /// The acoustic graph over `samples`, run on a copy free for it.
    fn acoustics(&mut self, samples: &[f32]) -> Result<Acoustics, Error> {
        let frames = frame_count(samples.len());
        let features = self.front.features(samples);
        let shared = &self.engine.shared;
        let mut lease = shared.acoustic.lease();
        Ok(match lease.acoustic.as_mut() {
            Some(Acoustic::Ctc(ctc)) => {
                let (log_probs, t, classes) = ctc.run(&features, frames)?;
                Acoustics::LogProbs(log_probs, t, classes)
            }
            Some(Acoustic::Rnnt(encoder)) => Acoustics::Encoded(encoder.encode(&features, frames)?),
            None => return Err(unusable(&shared.shown, "no acoustic graph")),
        })
    }

    /// RNN-T's small graphs, opened again where a failed run dropped them.
    fn heads(&mut self) -> Result<RnntHeads, Error> {
        match self.heads.take() {
            Some(heads) => Ok(heads),
            None => open_heads(&self.engine.shared.files)
                .map_err(|e| open_error(&self.engine.shared.shown, e))?
                .ok_or_else(|| unusable(&self.engine.shared.shown, "no prediction network")),
        }
    }

    /// Runs the model over `samples`: the emitted tokens and the encoder frames there are.
    fn emissions(
        &mut self,
        samples: &[f32],
        cancel: &CancelToken,
    ) -> Result<(Vec<Emission>, usize), Error> {
        let frames = frame_count(samples.len());
        let blank = self.engine.shared.vocab.blank();
        // onnx-asr's lengths: what the two stride-2 convolutions leave.
        let valid = |t: usize| ((frames.max(1) - 1) / 4 + 1).min(t);
        match self.acoustics(samples)? {
            Acoustics::LogProbs(log_probs, t, classes) => {
                Ok((ctc_greedy(&log_probs, valid(t), classes, blank), valid(t)))
            }
            Acoustics::Encoded(encoded) => {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let mut heads = self.heads()?;
                let mut stepper = Stepper {
                    graphs: &mut heads,
                    encoded: &encoded,
                    blank,
                    state: DecoderState::default(),
                    cached: None,
                    frame: Vec::with_capacity(encoded.dim),
                    row: Vec::new(),
                };
                let max = self.engine.shared.options.max_tokens_per_frame.max(1);
                let emitted = rnnt_greedy(&mut stepper, valid(encoded.frames), blank, max);
                self.heads = Some(heads);
                Ok((emitted?, valid(encoded.frames)))
            }
        }
    }

    /// The classes of the head, from one run (for the load-time check).
    fn classes(&mut self, samples: &[f32]) -> Result<usize, String> {
        match self.acoustics(samples).map_err(|e| e.to_string())? {
            Acoustics::LogProbs(_, _, classes) => Ok(classes),
            Acoustics::Encoded(encoded) => {
                let mut heads = self.heads().map_err(|e| e.to_string())?;
                let (prediction, _) = heads
                    .predict(self.engine.shared.vocab.blank(), &DecoderState::default())
                    .map_err(|e| e.to_string())?;
                let frame: Vec<f32> = (0..encoded.dim)
                    .map(|d| encoded.data[d * encoded.frames])
                    .collect();
                let classes = heads
                    .join(&frame, &prediction)
                    .map(|row| row.len())
                    .map_err(|e| e.to_string());
                self.heads = Some(heads);
                classes
            }
        }
    }
}

/// Tokens with times, split into segments at sentence ends and pauses.
fn segments(vocab: &Vocabulary, emissions: &[Emission], frames: usize) -> Vec<TokenSegment> {
    let texts = pieces(vocab, emissions);
    let seconds = |frame: usize| frame as f64 * FRAME_SECONDS;
    let mut out: Vec<TokenSegment> = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut previous: Option<(&Emission, &str)> = None;
    for (i, (e, text)) in emissions.iter().zip(&texts).enumerate() {
        // A token lasts its own frames and one more, unless the next one starts sooner: the
        // heads mark where a token is, not where its sound fades, and a word must not reach
        // across a pause (nor across one the VAD took out, which the pipeline splits at).
        let next_start = emissions.get(i + 1).map_or(frames, |n| n.first);
        let end = (e.last + 2).min(next_start.max(e.last + 1));
        let starts_word = text.starts_with(' ');
        if let Some((p, p_text)) = previous {
            let sentence_end = p_text.ends_with(['.', '!', '?', '…']);
            let pause = e.first.saturating_sub(p.last) >= PAUSE_FRAMES;
            if starts_word && (sentence_end || pause) {
                out.push(segment(std::mem::take(&mut current)));
            }
        }
        current.push(Token {
            bytes: text.as_bytes().to_vec(),
            start: seconds(e.first),
            end: seconds(end),
            probability: 1.0,
        });
        previous = Some((e, text));
    }
    if !current.is_empty() {
        out.push(segment(current));
    }
    out
}

fn segment(tokens: Vec<Token>) -> TokenSegment {
    TokenSegment {
        start: tokens.first().map_or(0.0, |t| t.start),
        end: tokens.last().map_or(0.0, |t| t.end),
        tokens,
        no_speech_probability: 0.0,
    }
}

impl Recognizer for GigaamRecognizer {
    fn check(&self, request: &Request) -> Result<(), Error> {
        match &request.language {
            Some(lang) if lang != "ru" => Err(Error::InvalidOption(format!(
                "{ENGINE} transcribes Russian only, not {lang:?}; use a Whisper model for other languages"
            ))),
            _ => Ok(()),
        }
    }

    fn recognize(
        &mut self,
        samples: &[f32],
        request: &Request,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Recognition, Error> {
        self.check(request)?;
        if samples.len() < N_FFT {
            return Err(Error::AudioTooShort {
                millis: samples.len() as u64 * 1000 / SAMPLE_RATE as u64,
            });
        }
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let (emissions, frames) = self.emissions(samples, cancel)?;
        progress(1.0);
        Ok(Recognition {
            detected_language: request.language.is_none().then(|| "ru".to_owned()),
            segments: segments(&self.engine.shared.vocab, &emissions, frames),
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// What GigaAM-v3 can do: Russian only, at most 22 s per call, token times, no prompt and
/// none of Whisper's decoding options; it neither loops nor invents text on silence, and ends
/// its segments at pauses.
pub fn capabilities() -> Capabilities {
    Capabilities {
        engine: ENGINE,
        languages: vec!["ru".to_owned()],
        detects_language: false,
        min_samples: rech_asr::MIN_SAMPLES,
        max_samples: Some(MAX_SECONDS * SAMPLE_RATE),
        takes_prompt: false,
        word_times: true,
        hallucinates_on_silence: false,
        decoding_options: false,
        split_at_removed_pauses: true,
    }
}
