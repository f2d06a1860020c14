//! Russian speech-to-text for Rust programs: the one crate to add.
//!
//! ```no_run
//! let model = rech::Model::load_default("ru")?; // GigaAM-v3, ONNX Runtime and Silero VAD, fetched and verified on first use
//! let transcript = model.transcribe_file("talk.mp3")?; // any format rech reads, VAD, windows, flat memory
//! print!("{}", rech::Format::Srt.render(&transcript));
//! # Ok::<(), rech::Error>(())
//! ```
//!
//! # What happens on first use
//!
//! [`Model::load_default`] picks the default model for the language: Sber's GigaAM-v3 (e2e
//! RNN-T, int8, 216 MiB; punctuated, cased Russian) for `ru`, Whisper `medium-q8_0` for the
//! others. A model that is not in the model directory is downloaded there and checked against
//! the catalogue's sha256; a model of several files is assembled in `NAME.part/` and appears
//! under its name only when every file is verified, and an interrupted download resumes.
//! GigaAM runs on ONNX Runtime, which rech loads at run time: the library named by
//! `RECH_ORT_LIB` (or `ORT_DYLIB_PATH`), else its own copy in the model directory, fetched once
//! from the `onnxruntime` wheel on PyPI and verified the same way. The Silero VAD model (a few
//! MiB) is fetched too, and when it cannot be had, transcription goes on without VAD.
//!
//! The model directory is `RECH_MODELS_DIR`, else the platform's cache (`~/.cache/rech` on
//! Linux); [`ModelBuilder::model_dir`] chooses another. `RECH_MODEL_BASE_URL` points the
//! downloads at a mirror.
//!
//! # Offline
//!
//! [`ModelBuilder::offline`] (or `RECH_OFFLINE=1`) forbids downloads: a model that is not
//! there is [`FetchError::Offline`], and a missing VAD model turns VAD off. Put the files in
//! place beforehand (the `rech models download` command, or copy a model directory), or pass
//! paths: [`Model::load`] takes a whisper.cpp `ggml-*.bin` file or a GigaAM-v3 `.onnx` file
//! (its vocabulary beside it) or directory.
//!
//! # Control
//!
//! ```no_run
//! use rech::{Model, Vad};
//! let model = Model::builder()
//!     .model("small")          // a catalogue name, a downloaded model's name, or a path
//!     .language("en")
//!     .threads(4)
//!     .vad(Vad::Required)
//!     .word_timestamps(true)
//!     .on_fetch(|event| eprintln!("{event:?}"))
//!     .load()?;
//! # Ok::<(), rech::Error>(())
//! ```
//!
//! A [`Model`] may be shared between threads; [`Model::transcribe_file`] keeps the per-thread
//! state it made for reuse. For a worker thread of your own, [`Model::transcriber`] gives a
//! [`Transcriber`] that holds its engine state and VAD across files; its
//! [`Transcriber::windowed`] takes samples as they come (from a socket, a pipe) and keeps one
//! window in memory. [`Model::dictation`] is live dictation: push samples, get partial and
//! final text.
//!
//! # Speakers
//!
//! [`Diarize::Voices`] labels speakers by voice in any recording: pyannote's
//! speaker-diarization pipeline (segmentation-3.0, a WeSpeaker embedding, agglomerative
//! clustering) hears the audio as it is decoded, and every word gets the speaker who speaks
//! most while it is said. The networks are the catalogue's, fetched on first use, or your own
//! ([`SpeakerModels`]); [`SpeakerCount`] fixes or bounds the number of speakers. A call
//! recorded with one speaker per channel gets exact labels with [`Diarize::Channels`]: each
//! channel is transcribed on its own (VAD on that channel), its segments are its speaker's, and
//! speech at the same time on both is transcribed on both. Every output format then says who
//! speaks (`Спикер 1: …` in text, voice spans in WebVTT, `speaker` in JSON, OpenAI's
//! [`Format::DiarizedJson`]).
//!
//! ```no_run
//! use rech::{Diarize, Model, SpeakerCount, SpeakerNaming, Speakers};
//! let model = Model::builder()
//!     .speakers(Speakers {
//!         diarize: Diarize::Voices,
//!         count: SpeakerCount { exactly: Some(2), ..Default::default() },
//!         naming: SpeakerNaming { names: vec!["Ведущий".into(), "Гость".into()], ..Default::default() },
//!         ..Default::default()
//!     })
//!     .load()?;
//! let transcript = model.transcribe_file("interview.mp3")?;
//! print!("{}", rech::Format::Txt.render(&transcript)); // Ведущий: …  Гость: …
//! # Ok::<(), rech::Error>(())
//! ```
//!
//! # Threads
//!
//! Each transcriber runs on [`ModelBuilder::threads`] CPU threads (default: all cores, at most
//! 8). Running N transcribers at once, give each about cores / N. Every thread that runs a
//! recognizer needs [`RECOGNIZER_STACK_BYTES`] of stack (whisper.cpp's prompt tokenizer
//! recurses): spawn worker threads with `std::thread::Builder::stack_size`.
//!
//! # Errors
//!
//! Every error is typed data: [`FetchError`] says which model and path, and whether trying
//! again may help ([`FetchError::retry_may_help`]); [`FileError`] names the file; an engine's
//! panic on one file is [`FileError::Panicked`], not the end of the program. No function
//! prints.
//!
//! # Features
//!
//! `gigaam` (GigaAM-v3 on ONNX Runtime), `whisper` (whisper.cpp, built from source) and
//! `diarize` (speakers by voice, on the same ONNX Runtime) are on by default; `capture` adds microphones (`rech::audio::Capture`, needs ALSA's headers);
//! `typing` types dictation into the focused window on X11 and Wayland (`rech::typing`);
//! `hotkey` listens for a global push-to-talk key (`rech::hotkey`). The
//! parts stay usable on their own: [`asr`] (the pipeline, VAD, dictation, output formats),
//! [`audio`] (any file or microphone to 16 kHz mono).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod batch;
pub mod control;
mod engines;
mod error;
pub mod eval;
pub mod fetch;
pub mod file;
#[cfg(feature = "hotkey")]
pub mod hotkey;
pub mod inputs;
pub mod live;
mod model;
pub mod outputs;
#[cfg(unix)]
pub mod threads;
#[cfg(feature = "typing")]
pub mod typing;
#[cfg(feature = "diarize")]
mod voices;

pub use engines::{
    check_wanted, default_model, load_engine, EngineKind, EngineOptions, Use, Wanted,
    DEFAULT_DICTATION_MODEL,
};
pub use error::{Error, FetchError};
pub use file::{Clip, Diarize, FileError, FileOptions, SpeakerCount, SpeakerModels, Speakers};
pub use model::{prepare_speakers, Model, ModelBuilder, Transcriber, Vad};

pub use rech_asr::output::{Format, RenderOptions};
pub use rech_asr::subtitles::CueLimits;
pub use rech_asr::{
    CancelToken, Capabilities, DictationEvent, DictationOptions, Segment, Speaker, SpeakerNaming,
    TranscribeOptions, Transcript, VadOptions, WindowOptions, Word, RECOGNIZER_STACK_BYTES,
    SAMPLE_RATE,
};

/// The engine-agnostic core: the engine traits, VAD, the pipeline, windows, dictation, output
/// formats and the model catalogue.
pub use rech_asr as asr;
/// Any file or microphone to 16 kHz mono `f32`.
pub use rech_audio as audio;
/// GigaAM-v3's engine, for its own options.
#[cfg(feature = "gigaam")]
pub use rech_gigaam as gigaam;
/// Whisper's engine, for its decoding options ([`whisper::WhisperOptions`]).
#[cfg(feature = "whisper")]
pub use rech_whisper as whisper;
