//! The bad-input walk, second half (the first is in cli.rs): files that are not what their name
//! says, impossible channel counts and rates, headers that claim more than the file holds,
//! inputs that crashed a decoder under fuzzing, and damaged Whisper and VAD models. Each runs the
//! real `rech` binary and checks the exit code, the one-line message naming the file, and that
//! no output file is left behind; the inputs that must work are checked to work.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rech_ggml::generate::{vad_model_bytes as vad_bytes, write_model_file, GenerateOptions};
use rech_ggml::model_file::Hparams;
use rech_testkit::{
    assert_fails, assert_success, model, rech, run, samples_dir, transcribe, write_file,
};

use serde_json::Value;

/// The flags every `rech transcribe` of these tests runs with.
const FLAGS: &[&str] = &["-t", "2", "--no-vad"];

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../audio/tests/regressions")
}

/// A WAV of `frames` frames of a 300 Hz tone at half scale, every channel the same.
fn wav_bytes(spec: hound::WavSpec, frames: usize) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    let rate = f64::from(spec.sample_rate);
    for i in 0..frames {
        let v = 0.5 * (2.0 * std::f64::consts::PI * 300.0 * i as f64 / rate).sin();
        for _ in 0..spec.channels {
            match spec.sample_format {
                hound::SampleFormat::Float => writer.write_sample(v as f32).unwrap(),
                hound::SampleFormat::Int => {
                    let full = ((1i64 << (spec.bits_per_sample - 1)) - 1) as f64;
                    writer.write_sample((v * full) as i32).unwrap()
                }
            }
        }
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

const PCM16: hound::WavSpec = hound::WavSpec {
    channels: 1,
    sample_rate: 16_000,
    bits_per_sample: 16,
    sample_format: hound::SampleFormat::Int,
};

/// Deterministic bytes that look like compressed data.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A PNG: signature, header, 20 KB of compressed-looking image data, end.
fn png_bytes() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    chunk(b"IHDR", &[0, 0, 2, 128, 0, 0, 1, 224, 8, 2, 0, 0, 0]);
    chunk(b"IDAT", &noise(20_000, 1));
    chunk(b"IEND", &[]);
    png
}

/// A baseline JPEG: markers as a camera writes them (APP0, quantisation and Huffman tables,
/// frame, scan) and entropy-coded data with its 0xff bytes stuffed, as in a real one.
fn jpeg_bytes() -> Vec<u8> {
    let mut jpg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
    jpg.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpg.extend_from_slice(&[0xff, 0xdb, 0, 67, 0]);
    jpg.extend_from_slice(&noise(64, 2));
    jpg.extend_from_slice(&[0xff, 0xc0, 0, 11, 8, 1, 224, 2, 128, 1, 1, 0x11, 0]);
    jpg.extend_from_slice(&[0xff, 0xc4, 0, 31, 0]);
    jpg.extend_from_slice(&noise(28, 3));
    jpg.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0]);
    for b in noise(30_000, 4) {
        jpg.push(b);
        if b == 0xff {
            jpg.push(0);
        }
    }
    jpg.extend_from_slice(&[0xff, 0xd9]);
    jpg
}

/// Runs each failing input through `rech transcribe --output-dir`, checking the message, the
/// exit code 1 and that nothing was written.
fn walk(dir: &Path, cases: &[(PathBuf, &str)]) {
    let out_dir = dir.join("out");
    for (path, message) in cases {
        let started = Instant::now();
        let out = run(transcribe(model(), FLAGS, &["--output-dir"])
            .arg(&out_dir)
            .arg(path));
        let shown = path.display().to_string();
        assert_fails(&out, 1, &[&shown, message]);
        // Refused from the header, not after reading or allocating what it claims.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{shown} took {:?}",
            started.elapsed()
        );
        let left: Vec<_> = std::fs::read_dir(&out_dir)
            .map(|d| d.collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{shown} left {left:?}");
    }
}

#[test]
fn files_that_are_not_audio_whatever_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = "Это не звук, а текст: список покупок.\n".repeat(50);
    let not_audio = "not a recognised audio file";
    walk(
        d,
        &[
            (write_file(d, "photo.wav", &png_bytes()), not_audio),
            (write_file(d, "photo.mp3", &png_bytes()), not_audio),
            (write_file(d, "camera.mp3", &jpeg_bytes()), not_audio),
            (write_file(d, "camera.m4a", &jpeg_bytes()), not_audio),
            (write_file(d, "notes.mp3", text.as_bytes()), not_audio),
            (write_file(d, "notes.flac", text.as_bytes()), not_audio),
            (write_file(d, "random.ogg", &noise(50_000, 5)), not_audio),
        ],
    );
}

/// A header-only PCM16 WAV with its `fmt ` fields overwritten: channels at byte 22, rate at
/// 24, byte rate at 28, block align at 32.
fn patched_wav(channels: u16, rate: u32) -> Vec<u8> {
    let mut b = wav_bytes(PCM16, 1600);
    b[22..24].copy_from_slice(&channels.to_le_bytes());
    b[24..28].copy_from_slice(&rate.to_le_bytes());
    let block = u32::from(channels) * 2;
    b[28..32].copy_from_slice(&(rate.wrapping_mul(block)).to_le_bytes());
    b[32..34].copy_from_slice(&(block as u16).to_le_bytes());
    b
}

#[test]
fn impossible_channel_counts_and_sample_rates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec255 = hound::WavSpec {
        channels: 255,
        ..PCM16
    };
    walk(
        d,
        &[
            (
                write_file(d, "zero.wav", &patched_wav(0, 16_000)),
                "zero channels",
            ),
            (
                write_file(d, "many.wav", &wav_bytes(spec255, 100)),
                "255 channels (at most 64 are supported)",
            ),
            (
                write_file(d, "one-hertz.wav", &patched_wav(1, 1)),
                "sample rate 1 Hz is outside the supported range",
            ),
            (
                write_file(d, "ten-megahertz.wav", &patched_wav(1, 10_000_000)),
                "sample rate 10000000 Hz is outside the supported range",
            ),
            // An A-law WAV (read by symphonia) with a zero rate: it made symphonia panic.
            (
                regressions_dir().join("wav-zero-sample-rate-timebase.wav"),
                "sample rate 0 Hz is outside the supported range",
            ),
        ],
    );
}

#[test]
fn headers_that_claim_more_than_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A WAV whose data chunk claims 4 GB but holds 0.1 s.
    let mut huge = wav_bytes(PCM16, 1600);
    huge[40..44].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    walk(
        d,
        &[
            (write_file(d, "huge.wav", &huge), "the file is truncated"),
            // Fuzzing found these: symphonia would have allocated 10 GB, 7 GB and 800 MB.
            (
                regressions_dir().join("mp4-stsc-count-10gb.m4a"),
                "damaged audio data: the MP4 table \"stsc\"",
            ),
            (
                regressions_dir().join("mp4-stsz-count-7gb.m4a"),
                "damaged audio data: the MP4 table \"stsz\"",
            ),
            (
                regressions_dir().join("flac-vorbis-comment-800mb.flac"),
                "damaged audio data: a Vorbis comment claims 808464686 bytes",
            ),
        ],
    );
}

#[test]
fn a_decoder_crash_is_one_clean_line() {
    let dir = tempfile::tempdir().unwrap();
    // symphonia's AAC decoder indexes out of bounds on this ADTS stream.
    walk(
        dir.path(),
        &[(
            regressions_dir().join("adts-ics-index-out-of-bounds.aac"),
            "damaged audio data: the aac decoder failed on it",
        )],
    );
}

#[test]
fn infinite_float_samples_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let float = hound::WavSpec {
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
        ..PCM16
    };
    let mut bytes = wav_bytes(float, 16_000);
    // Sample 8000 (0.5 s) becomes +inf, sample 9000 -inf.
    bytes[44 + 4 * 8000..44 + 4 * 8001].copy_from_slice(&f32::INFINITY.to_le_bytes());
    bytes[44 + 4 * 9000..44 + 4 * 9001].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
    let path = write_file(dir.path(), "inf.wav", &bytes);
    walk(
        dir.path(),
        &[(path, "NaN or infinite samples (first at 0.500 s)")],
    );
}

#[test]
fn garbage_and_nothing_on_stdin() {
    for (bytes, message) in [
        (png_bytes(), "<stdin>: not a recognised audio file"),
        (Vec::new(), "<stdin>: the file is empty"),
    ] {
        let mut child = transcribe(model(), FLAGS, &["-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, &bytes).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert_fails(&out, 1, &[message]);
        assert!(out.stdout.is_empty());
    }
}

/// Audio in another container than its name says, and the channel layouts and rates of
/// telephones and studios: all must transcribe.
#[test]
fn misnamed_telephone_and_surround_audio_works() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let copy = |from: &str, to: &str| {
        let to = d.join(to);
        std::fs::copy(samples_dir().join(from), &to).unwrap();
        to
    };
    let phone = hound::WavSpec {
        sample_rate: 8_000,
        ..PCM16
    };
    let surround = hound::WavSpec {
        channels: 8,
        sample_rate: 96_000,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let inputs = [
        copy("pogoda.flac", "flac-named.wav"),
        copy("chisla.mp3", "mp3-named.flac"),
        copy("privet.ogg", "ogg-named.mp3"),
        copy("privet.m4a", "m4a-named.ogg"),
        copy("privet-16k-mono.wav", "wav-named.m4a"),
        write_file(d, "phone-8k-mono.wav", &wav_bytes(phone, 16_000)),
        write_file(d, "surround-7.1-96k.wav", &wav_bytes(surround, 192_000)),
    ];
    let out_dir = d.join("out");
    let out = run(transcribe(model(), FLAGS, &["-f", "json", "--output-dir"])
        .arg(&out_dir)
        .args(&inputs));
    assert_success(&out);
    for input in &inputs {
        let stem = input.file_stem().unwrap().to_str().unwrap();
        let json = std::fs::read_to_string(out_dir.join(format!("{stem}.json")))
            .unwrap_or_else(|e| panic!("{stem}.json: {e}"));
        let v: Value = serde_json::from_str(&json).unwrap();
        let duration = v["duration"].as_f64().unwrap();
        assert!(duration > 1.0, "{stem}: {duration} s");
        if stem.starts_with("phone") || stem.starts_with("surround") {
            assert!((duration - 2.0).abs() < 0.01, "{stem}: {duration} s");
        }
    }
}

#[test]
fn damaged_vad_models() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wav = samples_dir().join("privet-16k-mono.wav");
    let vad = vad_bytes();
    let mut wrong_window = vad.clone();
    // n_window (512) sits after the magic, the type's length and name, and the version.
    wrong_window[4 + 4 + 10 + 12..4 + 4 + 10 + 16].copy_from_slice(&0i32.to_le_bytes());
    let mut many_layers = vad.clone();
    many_layers[4 + 4 + 10 + 20..4 + 4 + 10 + 24].copy_from_slice(&i32::MAX.to_le_bytes());
    let cases: Vec<(PathBuf, &str)> = vec![
        (d.join("missing.bin"), "no such file"),
        (d.to_owned(), "is a directory"),
        (write_file(d, "empty.bin", b""), "empty"),
        (
            write_file(d, "text.bin", b"# not a model\n"),
            "not a ggml model file",
        ),
        (
            write_file(d, "cut.bin", &vad[..vad.len() / 2]),
            "the file is truncated",
        ),
        (
            write_file(d, "header-only.bin", &vad[..4 + 4 + 10 + 4 * 22]),
            "has no weights",
        ),
        (
            write_file(d, "window.bin", &wrong_window),
            "hyperparameter n_window is 0, expected 512",
        ),
        (
            write_file(d, "layers.bin", &many_layers),
            "hyperparameter n_encoder_layers is 2147483647",
        ),
        (model().to_owned(), "it is a Whisper model (n_vocab 51865)"),
    ];
    let out_dir = d.join("out");
    for (path, message) in cases {
        let out = run(rech()
            .arg("transcribe")
            .arg("-m")
            .arg(model())
            .args(["-t", "2", "--vad-model"])
            .arg(&path)
            .arg("--output-dir")
            .arg(&out_dir)
            .arg(&wav));
        let shown = path.display().to_string();
        assert_fails(&out, 1, &[&shown, "is not a usable VAD model", message]);
        let left: Vec<_> = std::fs::read_dir(&out_dir)
            .map(|d| d.collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{shown} left {left:?}");
    }
}

#[test]
fn damaged_whisper_models() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wav = samples_dir().join("privet-16k-mono.wav");
    let good = std::fs::read(model()).unwrap();
    let field = |i: usize| 4 + 4 * i..8 + 4 * i;
    let mut ftype = good.clone();
    ftype[field(10)].copy_from_slice(&5i32.to_le_bytes()); // whisper.cpp aborts on it
    let mut vocab = good.clone();
    vocab[field(0)].copy_from_slice(&i32::MAX.to_le_bytes());
    // The first tensor header (after the header, mel filters and vocabulary) claims
    // 2^31 x 2^31 values.
    let mel_end = 4 + 44 + 8 + 80 * 201 * 4;
    let mut at = mel_end + 4;
    let tokens = i32::from_le_bytes(good[mel_end..mel_end + 4].try_into().unwrap());
    for _ in 0..tokens {
        at += 4 + u32::from_le_bytes(good[at..at + 4].try_into().unwrap()) as usize;
    }
    let mut enormous = good.clone();
    enormous[at + 12..at + 16].copy_from_slice(&i32::MAX.to_le_bytes());
    enormous[at + 16..at + 20].copy_from_slice(&i32::MAX.to_le_bytes());
    // Well formed, but whisper.cpp aborts on its f32 convolution kernels at the first encode.
    let f32_weights = d.join("f32.bin");
    let mut hparams = Hparams::micro();
    hparams.ftype = 0;
    write_model_file(&f32_weights, &GenerateOptions { hparams, seed: 1 }).unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (f32_weights, "its weights are f32"),
        (
            write_file(d, "silero.bin", &vad_bytes()),
            "it is a Silero VAD model, not a Whisper model",
        ),
        (
            write_file(d, "ftype.bin", &ftype),
            "hyperparameter ftype is 5",
        ),
        (
            write_file(d, "vocab.bin", &vocab),
            "hyperparameter n_vocab is 2147483647",
        ),
        (
            write_file(d, "enormous.bin", &enormous),
            "has shape [2147483647, 2147483647]",
        ),
        (
            write_file(d, "magic.bin", &[b"GGUF".as_slice(), &good[4..]].concat()),
            "not a whisper.cpp ggml model",
        ),
    ];
    let out_dir = d.join("out");
    for (path, message) in cases {
        let started = Instant::now();
        let out = run(rech()
            .arg("transcribe")
            .arg("-m")
            .arg(&path)
            .arg("--output-dir")
            .arg(&out_dir)
            .arg(&wav));
        let shown = path.display().to_string();
        assert_fails(&out, 1, &[&shown, message]);
        assert!(started.elapsed() < Duration::from_secs(30));
        let left: Vec<_> = std::fs::read_dir(&out_dir)
            .map(|d| d.collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{shown} left {left:?}");
    }
}
