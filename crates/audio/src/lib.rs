//! Turns any audio file the user has into what Whisper eats: 16 kHz mono `f32`, decoded and
//! resampled as a stream so that a long recording's original-rate signal is never held whole.
//!
//! The public surface is small: [`open`] gives an [`AudioStream`] that yields 16 kHz chunks,
//! [`decode_file`] reads a whole file into an [`Audio`]. WAV goes through `hound`; MP3, FLAC,
//! OGG/Vorbis and AAC/M4A through `symphonia`. `-` reads standard input; [`decode_bytes`] and
//! [`open_bytes`] take an input that is already in memory.
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
mod forward;
mod guard;
mod limits;
mod prescan;
mod resample;
mod wav_writer;

#[cfg(feature = "capture")]
pub use capture::{
    capabilities, input_devices, select_device, Capture, CaptureError, CaptureInfo, CaptureOptions,
    ConfigRange, DeviceCapabilities, DeviceFailure, DeviceInfo,
};
pub use decode::{
    decode_bytes, decode_file, open, open_bytes, open_reader, Audio, AudioStream, SourceInfo,
};
pub use error::AudioError;
pub use resample::{resample_to_16k, StreamResampler, UnsupportedRate};
pub use wav_writer::WavRecorder;

/// The sample rate every stream is converted to, in hertz: what Whisper expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// File extensions that [`open`] can decode, lowercase and without the dot.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "mp3", "flac", "ogg", "oga", "m4a", "mp4", "aac",
];
