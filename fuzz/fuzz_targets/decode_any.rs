//! Fuzzes rech-audio on any bytes: format recognition and every reader and decoder rech uses
//! (MP3, FLAC, Ogg Vorbis and Opus, AAC/M4A, ADTS, WebM/Matroska, AIFF, CAF, W64, and WAV
//! encodings hound refuses).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rech_fuzz::decode(data, "fuzz");
});
