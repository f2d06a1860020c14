//! Fuzzes rech-audio on any bytes: format recognition and every symphonia reader and decoder
//! rech uses (MP3, FLAC, OGG/Vorbis, AAC/M4A, ADTS, and WAV encodings hound refuses).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rech_fuzz::decode(data, "fuzz");
});
