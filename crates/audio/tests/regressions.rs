//! Every input the fuzz targets (fuzz/, FUZZING.md) found crashing, hanging or allocating
//! without bound, decoded again: each must end quickly in audio or in one error line that names
//! the file, never in a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rech_audio::{decode_bytes, decode_file};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions")
}

/// What each kept input must now give: a piece of its error message. Files not listed here
/// only need to end cleanly.
const EXPECTED: &[(&str, &str)] = &[
    // symphonia's AAC decoder indexed past a 64-entry table (a panic).
    (
        "adts-ics-index-out-of-bounds.aac",
        "damaged audio data: the aac decoder failed on it",
    ),
    // symphonia's ADTS reader estimates the duration with step_by(frame length 0): a panic.
    (
        "adts-duration-step-by-zero.aac",
        "damaged audio data: the decoder failed on it",
    ),
    // symphonia allocated what these length fields claim (10 GB, 7 GB, 800 MB) before reading.
    (
        "mp4-stsc-count-10gb.m4a",
        "the MP4 table \"stsc\" (624055077 entries) claims 7488660924 bytes, but only 12 remain",
    ),
    (
        "mp4-stsz-count-7gb.m4a",
        "the MP4 table \"stsz\" (1835297138 entries) claims",
    ),
    (
        "flac-vorbis-comment-800mb.flac",
        "a Vorbis comment claims 808464686 bytes",
    ),
    // Found by reading symphonia's Vorbis setup parser, confirmed with the fuzz harness: 178
    // bytes whose one codebook asks for a 960 MB lookup table, which symphonia also fills.
    (
        "ogg-vorbis-codebook-960mb.ogg",
        "a Vorbis codebook claims 10000000 entries",
    ),
    // An A-law WAV with a zero sample rate made symphonia panic building its time base.
    (
        "wav-zero-sample-rate-timebase.wav",
        "sample rate 0 Hz is outside the supported range",
    ),
];

#[test]
fn every_kept_input_ends_in_one_clean_line() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(regressions_dir())
        .expect("tests/regressions exists")
        .map(|e| e.expect("readable directory entry").path())
        .collect();
    paths.sort();
    assert!(paths.len() >= EXPECTED.len());
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let started = Instant::now();
        let result = decode_file(path);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} took {:?}",
            started.elapsed()
        );
        let expected = EXPECTED.iter().find(|(n, _)| *n == name).map(|(_, m)| *m);
        match result {
            Ok(audio) => {
                assert!(expected.is_none(), "{name} decoded, expected an error");
                assert!(audio.samples.iter().all(|s| s.is_finite()), "{name}");
            }
            Err(err) => {
                let message = err.to_string();
                assert!(
                    message.starts_with(&path.display().to_string()),
                    "{message}"
                );
                assert!(!message.contains('\n'), "{message:?}");
                if let Some(expected) = expected {
                    assert!(message.contains(expected), "{name}: {message}");
                }
            }
        }
        // The same bytes from memory (the path standard input takes) end the same way.
        let bytes = std::fs::read(path).unwrap();
        let from_memory = decode_bytes(bytes, Some(&name));
        if let (Err(e), Some(expected)) = (from_memory, expected) {
            assert!(e.to_string().contains(expected), "{name} from memory: {e}");
        }
    }
    for (name, _) in EXPECTED {
        assert!(
            regressions_dir().join(name).is_file(),
            "{name} is listed but missing"
        );
    }
}
