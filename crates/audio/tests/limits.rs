//! Resource limits: a header's claims never decide how much is allocated, the rate and channel
//! limits hold exactly at their edges, and absurd sample values cannot turn into infinities.

use rech_testkit::needs;
use std::path::{Path, PathBuf};

use rech_audio::{decode_bytes, AudioError, SAMPLE_RATE};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

fn wav(spec: hound::WavSpec, samples: &[f32]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for &s in samples {
        match spec.sample_format {
            hound::SampleFormat::Float => writer.write_sample(s).unwrap(),
            hound::SampleFormat::Int => writer.write_sample((s * 32767.0) as i16).unwrap(),
        }
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

fn spec(rate: u32, channels: u16) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// The samples vector grows with what is decoded, not with what the header announces.
#[track_caller]
fn assert_modest_capacity(bytes: Vec<u8>, name: &str) {
    let audio = decode_bytes(bytes, Some(name)).unwrap_or_else(|e| panic!("{e}"));
    let claimed = audio.source.duration().unwrap_or(0.0);
    assert!(
        claimed > 3600.0,
        "{name}: the patch did not take ({claimed} s)"
    );
    assert!(
        audio.samples.capacity() <= 2 * audio.samples.len() + 70_000,
        "{name}: capacity {} for {} samples",
        audio.samples.capacity(),
        audio.samples.len()
    );
}

#[test]
fn lying_durations_do_not_decide_allocations() {
    // FLAC: STREAMINFO's 36-bit total sample count (bytes 21..26 of the file, low 4 bits of
    // byte 21 first) set to its maximum, about 50 days at 16 kHz.
    let mut flac = std::fs::read(samples_dir().join("pogoda.flac")).unwrap();
    assert_eq!(&flac[..4], b"fLaC");
    flac[21] |= 0x0f;
    flac[22..26].copy_from_slice(&[0xff; 4]);
    assert_modest_capacity(flac, "long.flac");

    // MP3: the Xing/Info header's frame count set to 2^32 - 1 (about 40 years).
    let mut mp3 = std::fs::read(samples_dir().join("chisla.mp3")).unwrap();
    let tag = mp3
        .windows(4)
        .position(|w| w == b"Xing" || w == b"Info")
        .expect("chisla.mp3 has a Xing/Info header");
    assert_ne!(mp3[tag + 7] & 1, 0, "the frame count is present");
    mp3[tag + 8..tag + 12].copy_from_slice(&[0xff; 4]);
    assert_modest_capacity(mp3, "long.mp3");
}

#[test]
fn rate_and_channel_limits_are_exact() {
    let tone: Vec<f32> = (0..800).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
    for (rate, ok) in [
        (999, false),
        (1_000, true),
        (768_000, true),
        (768_001, false),
    ] {
        let result = decode_bytes(wav(spec(rate, 1), &tone), Some("r.wav"));
        assert_eq!(result.is_ok(), ok, "{rate} Hz: {:?}", result.err());
        if let Err(e) = result {
            assert!(
                e.to_string()
                    .contains(&format!("sample rate {rate} Hz is outside")),
                "{e}"
            );
        }
    }
    let frames: Vec<f32> = tone.iter().flat_map(|&s| [s; 64]).collect();
    assert!(decode_bytes(wav(spec(16_000, 64), &frames), Some("c.wav")).is_ok());
    let frames: Vec<f32> = tone.iter().flat_map(|&s| [s; 65]).collect();
    let err = decode_bytes(wav(spec(16_000, 65), &frames), Some("c.wav")).unwrap_err();
    assert!(
        matches!(err, AudioError::Unsupported { .. }) && err.to_string().contains("65 channels"),
        "{err}"
    );
}

#[test]
fn absurd_float_samples_stay_finite() {
    // A square wave at ±f32::MAX: finite, but the filter's overshoot would make it infinite.
    let float = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let samples: Vec<f32> = (0..44_100)
        .map(|i| {
            if (i / 50) % 2 == 0 {
                f32::MAX
            } else {
                -f32::MAX
            }
        })
        .collect();
    let audio = decode_bytes(wav(float, &samples), Some("loud.wav")).unwrap();
    assert_eq!(audio.samples.len(), SAMPLE_RATE as usize);
    assert!(audio.samples.iter().all(|s| s.is_finite()));
}

/// ffmpeg, which the project's scripts install (the test carries `#[needs(programs(ffmpeg))]`).
fn ffmpeg() -> PathBuf {
    rech_audio::ffmpeg_program().expect("ffmpeg on the PATH")
}

/// A file in one of ffmpeg's formats that decodes to more audio than its size can hold (ten
/// minutes of digital silence in 5 KB of WavPack) is refused, not decoded for ever.
#[needs(programs(ffmpeg))]
#[test]
fn ffmpeg_output_is_bounded_by_the_input_size() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("silence.wv");
    let made = std::process::Command::new(ffmpeg)
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
        ])
        .args(["-t", "600"])
        .arg(&bomb)
        .status()
        .unwrap();
    assert!(made.success());
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 600 * 128, "{size} bytes");
    match rech_audio::decode_file(&bomb) {
        Err(e @ AudioError::Malformed { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("more than") && text.contains("bytes"),
                "{text}"
            );
        }
        other => panic!("{:?}", other.map(|a| a.duration())),
    }
}

/// Playlists and lists in a name ffmpeg would take are refused before ffmpeg runs, whether the
/// files they name exist or not.
#[needs(programs(ffmpeg))]
#[test]
fn ffmpeg_never_sees_a_playlist() {
    ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let real = samples_dir().join("privet-16k-mono.wav");
    let missing = dir.path().join("missing.mp3");
    let mut messages = Vec::new();
    for target in [&real, &missing] {
        let list = dir.path().join("list.au");
        std::fs::write(
            &list,
            format!(
                "#EXTM3U\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n",
                target.display()
            ),
        )
        .unwrap();
        match rech_audio::decode_file(&list) {
            Err(e @ AudioError::Unsupported { .. }) => messages.push(e.to_string()),
            other => panic!("{:?}", other.map(|a| a.duration())),
        }
    }
    assert!(messages[0].contains("playlist"), "{}", messages[0]);
    assert_eq!(messages[0], messages[1]);
}
