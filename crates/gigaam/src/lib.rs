//! rech's GigaAM-v3 engine: Sber's Russian speech recogniser (CTC or RNN-T head, letters or
//! punctuated SentencePiece pieces) in the ONNX files users download, run by ONNX Runtime
//! (loaded at run time; see [`runtime`]) behind rech-asr's
//! [`Engine`](rech_asr::Engine) trait. The front end ([`features`]) and the decoding
//! ([`decode`]) are in Rust; VAD, cutting long audio, windows and dictation are rech-asr's
//! pipeline. [`onnx`] runs any other graph on the same ONNX Runtime (speaker diarization's
//! models).
#![deny(missing_docs)]
// One call into the C library, in malloc.rs, is the only unsafe code.
#![deny(unsafe_code)]

pub mod decode;
pub mod features;
pub mod files;
mod graphs;
mod malloc;
mod model;
pub mod onnx;
pub mod runtime;

pub use files::{ModelFiles, Variant};
pub use model::{capabilities, GigaamEngine, GigaamRecognizer, ENGINE, MAX_SECONDS};

/// How GigaAM runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GigaamOptions {
    /// CPU threads of each copy of the big graph (the CTC model, or RNN-T's encoder): with
    /// fewer copies than recognizers running at once, the threads of the recognizers that share
    /// one. (The small graphs run on one thread each.)
    pub threads: usize,
    /// How many copies of the big graph (nearly all the weights) the engine's recognizers
    /// share, each run by one at a time: as many as will run at once is fastest, fewer hold less
    /// memory (about 230 MiB a copy of the int8 files). All are opened when the model loads.
    pub copies: usize,
    /// RNN-T: the most tokens emitted per encoder frame (onnx-asr's default is 3).
    pub max_tokens_per_frame: usize,
    /// Run the big graph on this CUDA device through ONNX Runtime's CUDA execution provider
    /// (the library loaded must be the CUDA build, [`runtime::RuntimeKind::Cuda`]); `None`
    /// keeps everything on the CPU. The small graphs and the decoding stay on the CPU.
    pub gpu: Option<u32>,
}

impl Default for GigaamOptions {
    fn default() -> Self {
        Self {
            threads: rech_asr::default_threads(),
            copies: 1,
            max_tokens_per_frame: 3,
            gpu: None,
        }
    }
}
