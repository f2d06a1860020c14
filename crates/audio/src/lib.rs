//! Turns any audio file the user has into what Whisper eats: 16 kHz mono `f32`, decoded and
//! resampled as a stream so that a long recording's original-rate signal is never held whole.
//!
//! The public surface is small: [`open`] gives an [`AudioStream`] that yields 16 kHz chunks,
//! [`decode_file`] reads a whole file into an [`Audio`]. WAV goes through `hound`; MP3, FLAC,
//! Ogg, AAC/M4A/MOV, WebM/Matroska, AIFF and CAF through `symphonia`, with Opus (in Ogg, WebM,
//! Matroska and MP4) decoded by libopus and W64 read here; encoder delay and padding are
//! trimmed, so every format of one recording has the same length. What none of these reads
//! (AC-3, WMA, AMR, …) goes through `ffmpeg` when it is installed ([`ffmpeg_program`]). `-`
//! reads standard input; [`decode_bytes`] and [`open_bytes`] take an input that is already in
//! memory.
//!
//! Microphones too: [`input_devices`] lists them, [`Capture`] records from one (through cpal)
//! and hands out the same 16 kHz mono `f32`, or the device's own frames; [`WavRecorder`]
//! writes a recording to a WAV file that stays valid while it grows.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "capture")]
mod capture;
mod decode;
mod error;
mod ffmpeg;
mod forward;
mod gapless;
mod guard;
mod limits;
mod opus;
mod prescan;
mod resample;
mod source;
#[cfg(feature = "capture")]
pub mod tone;
mod w64;
mod wav_writer;

#[cfg(feature = "capture")]
pub use capture::{
    capabilities, input_devices, select_device, Capture, CaptureError, CaptureInfo, CaptureOptions,
    ConfigRange, DeviceCapabilities, DeviceFailure, DeviceInfo,
};
pub use decode::{
    check, decode_bytes, decode_file, open, open_bytes, open_channel, open_reader, Audio,
    AudioStream,
};
pub use error::AudioError;
pub use ffmpeg::ffmpeg_program;
pub use resample::{resample_to_16k, StreamResampler, UnsupportedRate};
pub use source::SourceInfo;
pub use wav_writer::WavRecorder;

/// The sample rate every stream is converted to, in hertz: what Whisper expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// File extensions that [`open`] decodes itself, lowercase and without the dot.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "w64", "mp3", "flac", "ogg", "oga", "opus", "m4a", "m4b", "mp4", "mov", "aac",
    "webm", "weba", "mkv", "mka", "aif", "aiff", "aifc", "caf",
];

/// File extensions of audio (and video with audio) that [`open`] decodes through ffmpeg when
/// ffmpeg is installed.
pub const FFMPEG_EXTENSIONS: &[&str] = &[
    "ac3", "eac3", "dts", "wma", "asf", "wmv", "amr", "awb", "3gp", "3g2", "avi", "mpg", "mpeg",
    "ts", "mts", "m2ts", "vob", "ape", "wv", "mpc", "tta", "ra", "rm", "mp2", "mpa", "flv", "aa3",
    "oma", "spx", "gsm", "au", "snd", "voc", "dv",
];
