//! whisper.cpp's ggml model files, in plain Rust with nothing but `std`: [`model_file`] reads and
//! checks Whisper and Silero VAD models before anything trusts them (whisper.cpp aborts or
//! mis-loads on damaged files), and [`generate`] writes Whisper models with random weights and
//! real dimensions for tests and benchmarks. No engine lives here, so that the readers can be
//! fuzzed on their own.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod generate;
pub mod model_file;
