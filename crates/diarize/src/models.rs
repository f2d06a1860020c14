//! The two networks of speaker diarization, run on the ONNX Runtime rech loads for GigaAM:
//! [`Segmentation`] (pyannote's segmentation-3.0 as sherpa-onnx exports it: 10 s of audio in,
//! powerset scores for three local speakers per 17 ms frame out) and [`Embedder`] (a WeSpeaker
//! network as WeSpeaker and sherpa-onnx export it: centred Kaldi fbank in, one embedding of the
//! voice out). Inputs and outputs are checked against what those files declare, so that a wrong
//! file is one clear error rather than a shape mismatch deep in a run.

use std::path::{Path, PathBuf};

use rech_gigaam::onnx::{FloatTensor, OnnxError, OnnxModel};

use crate::fbank::{subtract_mean, Fbank, FbankOptions};
use crate::powerset::Powerset;

/// Why a diarization model could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// ONNX Runtime could not open or run it.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// The file opens but is not the kind of model asked for.
    #[error("{}: not a {kind} model ({why})", path.display())]
    WrongModel {
        /// The file.
        path: PathBuf,
        /// The kind wanted.
        kind: &'static str,
        /// What does not fit.
        why: String,
    },
}

fn wrong(path: &Path, kind: &'static str, why: String) -> ModelError {
    ModelError::WrongModel {
        path: path.to_owned(),
        kind,
        why,
    }
}

/// pyannote's segmentation-3.0: powerset scores for three local speakers, frame by frame.
#[derive(Debug)]
pub struct Segmentation {
    model: OnnxModel,
    powerset: Powerset,
    window: usize,
}

impl Segmentation {
    /// The samples of one window (10 s at 16 kHz).
    pub const WINDOW: usize = 160_000;
    /// Samples between two output frames (the receptive field's step).
    pub const FRAME_STEP: usize = 270;
    /// Samples one output frame sees (the receptive field's length).
    pub const FRAME_LENGTH: usize = 991;

    /// Opens a segmentation model on `threads` threads.
    pub fn open(path: &Path, threads: usize) -> Result<Self, ModelError> {
        const KIND: &str = "speaker segmentation";
        let model = OnnxModel::open(path, threads)?;
        if model.inputs().len() != 1 || model.outputs().len() != 1 {
            return Err(wrong(
                path,
                KIND,
                format!("inputs {:?}, outputs {:?}", model.inputs(), model.outputs()),
            ));
        }
        let number = |key: &str, default: usize| {
            model
                .metadata(key)
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(default)
        };
        // sherpa-onnx's exports say what they are.
        if model.metadata("framework").is_some()
            || model
                .metadata("model_type")
                .is_some_and(|t| !t.contains("segmentation"))
        {
            return Err(wrong(
                path,
                KIND,
                "its metadata names another kind".to_owned(),
            ));
        }
        let speakers = number("num_speakers", 3);
        let together = number("powerset_max_classes", 2);
        let window = number("window_size", Self::WINDOW);
        let powerset = Powerset::new(speakers, together);
        if number("num_classes", powerset.classes()) != powerset.classes()
            || number("sample_rate", 16_000) != 16_000
            || number("receptive_field_shift", Self::FRAME_STEP) != Self::FRAME_STEP
        {
            return Err(wrong(
                path,
                KIND,
                "its metadata describes another model".to_owned(),
            ));
        }
        Ok(Self {
            model,
            powerset,
            window,
        })
    }

    /// The powerset the model scores.
    pub fn powerset(&self) -> &Powerset {
        &self.powerset
    }

    /// Samples per window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The log-probability of each powerset class in each frame of one window of 16 kHz
    /// samples in `[-1, 1]` (a shorter one is padded with silence, as pyannote pads the last
    /// window): frames, then classes, row after row.
    pub fn scores(&mut self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        Ok(self.scores_of(&[samples])?.remove(0))
    }

    /// [`Self::scores`] of several windows in one run of the network (faster per window; the
    /// same values).
    pub fn scores_of(&mut self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut data = Vec::with_capacity(windows.len() * self.window);
        for samples in windows {
            let at = data.len();
            data.extend_from_slice(&samples[..samples.len().min(self.window)]);
            data.resize(at + self.window, 0.0);
        }
        let input = FloatTensor {
            shape: vec![windows.len(), 1, self.window],
            data,
        };
        let name = self.model.inputs()[0].clone();
        let mut out = self.model.run(&[(&name, &input)])?;
        let y = out.remove(0);
        if y.shape.len() != 3
            || y.shape[0] != windows.len()
            || y.shape[2] != self.powerset.classes()
        {
            return Err(ModelError::Onnx(OnnxError::Run {
                path: self.model.path().to_owned(),
                detail: format!("scores of shape {:?}", y.shape),
            }));
        }
        let per = y.shape[1] * y.shape[2];
        Ok(y.data.chunks(per.max(1)).map(<[f32]>::to_vec).collect())
    }
}

/// One window of a recording and its scores ([`Segmentation::slide`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Where the window starts, in samples.
    pub start: usize,
    /// Log-probabilities of the powerset classes, frames then classes.
    pub scores: Vec<f32>,
}

impl Segmentation {
    /// Scores `samples` (16 kHz, `[-1, 1]`) window by window, a window every `step` samples,
    /// as pyannote.audio's `Inference` slides: every whole window from the start, then one more
    /// padded with silence where samples remain after the last (or where the recording is
    /// shorter than one window).
    pub fn slide(&mut self, samples: &[f32], step: usize) -> Result<Vec<Chunk>, ModelError> {
        let step = step.max(1);
        let whole = if samples.len() >= self.window {
            (samples.len() - self.window) / step + 1
        } else {
            0
        };
        let last = samples.len() < self.window || (samples.len() - self.window) % step > 0;
        let mut chunks = Vec::with_capacity(whole + usize::from(last));
        for k in 0..whole + usize::from(last) {
            let start = k * step;
            let end = (start + self.window).min(samples.len());
            chunks.push(Chunk {
                start,
                scores: self.scores(&samples[start..end])?,
            });
        }
        Ok(chunks)
    }
}

/// A speaker-embedding network (WeSpeaker ResNet34 and the like): one vector per voice.
#[derive(Debug)]
pub struct Embedder {
    model: OnnxModel,
    fbank: Fbank,
    /// Whether the network takes `[-1, 1]` samples' fbank (sherpa-onnx's `normalize_samples`)
    /// rather than 16-bit sample values'.
    normalized: bool,
    dimension: usize,
}

impl Embedder {
    /// Opens an embedding model on `threads` threads.
    pub fn open(path: &Path, threads: usize) -> Result<Self, ModelError> {
        const KIND: &str = "speaker embedding";
        let model = OnnxModel::open(path, threads)?;
        if model.inputs().len() != 1 || model.outputs().is_empty() {
            return Err(wrong(
                path,
                KIND,
                format!("inputs {:?}, outputs {:?}", model.inputs(), model.outputs()),
            ));
        }
        if model
            .metadata("model_type")
            .is_some_and(|t| t.contains("segmentation"))
        {
            return Err(wrong(path, KIND, "it is a segmentation model".to_owned()));
        }
        let normalized = model
            .metadata("normalize_samples")
            .is_some_and(|v| v.trim() == "1");
        let dimension = model
            .metadata("output_dim")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(256);
        Ok(Self {
            model,
            fbank: Fbank::new(FbankOptions::default())
                .map_err(|e| wrong(path, KIND, e.to_string()))?,
            normalized,
            dimension,
        })
    }

    /// Values per embedding.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The embedding of 16 kHz samples in `[-1, 1]` (at least 25 ms).
    pub fn embed(&mut self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        let features = self.features(samples);
        self.embed_features(&features)
    }

    /// The network's input for 16 kHz samples in `[-1, 1]`: their fbank, centred over all
    /// frames ([`Self::frames`] rows of [`Self::bins`] values).
    pub fn features(&self, samples: &[f32]) -> Vec<f32> {
        let scale = if self.normalized { 1.0 } else { 32_768.0 };
        let scaled: Vec<f32> = samples.iter().map(|s| s * scale).collect();
        let mut features = self.fbank.compute(&scaled);
        subtract_mean(&mut features, self.fbank.bins());
        features
    }

    /// Feature frames in `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        self.fbank.frames(samples)
    }

    /// Values per feature frame.
    pub fn bins(&self) -> usize {
        self.fbank.bins()
    }

    /// The fewest samples (up to half a second) whose embedding is a number, found as
    /// pyannote.audio finds it for an ONNX WeSpeaker model: by bisection, a shorter input's
    /// statistics pooling dividing by zero (or the network refusing so short an input).
    pub fn min_samples(&mut self) -> usize {
        let (mut lower, mut upper) = (2usize, 8_000usize);
        let mut middle = (lower + upper) / 2;
        // Any sound: only the number of frames decides.
        let noise: Vec<f32> = (0..upper as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 16) as f32 / 65_536.0) - 0.5)
            .collect();
        while lower + 1 < upper {
            let usable = self.frames(middle) > 0
                && self
                    .embed(&noise[..middle])
                    .is_ok_and(|e| e.iter().all(|v| !v.is_nan()));
            if usable {
                upper = middle;
            } else {
                lower = middle;
            }
            middle = (lower + upper) / 2;
        }
        upper
    }

    /// The embedding of centred fbank features (frames of 80 values, row after row).
    pub fn embed_features(&mut self, features: &[f32]) -> Result<Vec<f32>, ModelError> {
        let bins = self.fbank.bins();
        let input = FloatTensor {
            shape: vec![1, features.len() / bins, bins],
            data: features.to_vec(),
        };
        let name = self.model.inputs()[0].clone();
        let mut out = self.model.run(&[(&name, &input)])?;
        let embs = out.remove(0);
        Ok(embs.data)
    }
}
