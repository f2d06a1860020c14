//! Decodes every sample in `samples/` and every WAV encoding hound can write, and walks the bad
//! inputs a user meets (empty, truncated, not audio, NaN samples) to their errors.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rech_audio::{decode_file, open, open_reader, AudioError, SAMPLE_RATE};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

/// Decodes a sample and checks its length against what `samples/README.md` documents.
fn check_sample(name: &str, seconds: f64, rate: u32, channels: u16, format: &str) {
    let audio = decode_file(&samples_dir().join(name)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audio.source.sample_rate, rate, "{name}");
    assert_eq!(audio.source.channels, channels, "{name}");
    assert_eq!(audio.source.format, format, "{name}");
    // MP3 and AAC decoders add encoder padding; WAV and FLAC are exact.
    let tolerance = if matches!(format, "mp3" | "aac" | "vorbis") {
        0.08
    } else {
        0.002
    };
    assert!(
        (audio.duration() - seconds).abs() < tolerance,
        "{name}: {} s, expected {seconds} s",
        audio.duration()
    );
    let peak = audio.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    // The samples are normalised to -3 dBFS (0.708); resampling may overshoot a little.
    assert!((0.5..=0.85).contains(&peak), "{name}: peak {peak}");
    // 0.3 s of digital silence leads every sample.
    let lead = &audio.samples[..3200];
    assert!(lead.iter().all(|s| s.abs() < 0.02), "{name}: noisy lead-in");
}

#[test]
fn wav_16k_mono() {
    check_sample("privet-16k-mono.wav", 3.284, 16_000, 1, "wav");
}

#[test]
fn wav_44k_stereo() {
    check_sample("pogoda-44k-stereo.wav", 2.141, 44_100, 2, "wav");
}

#[test]
fn wav_48k_float() {
    check_sample("chisla-48k-mono-f32.wav", 2.011, 48_000, 1, "wav");
}

#[test]
fn wav_24bit_extensible() {
    check_sample("ryba-24bit-stereo.wav", 2.049, 22_050, 2, "wav");
}

#[test]
fn flac() {
    check_sample("pogoda.flac", 4.193, 16_000, 1, "flac");
}

#[test]
fn ogg_vorbis() {
    check_sample("privet.ogg", 2.295, 48_000, 2, "vorbis");
}

#[test]
fn mp3() {
    check_sample("chisla.mp3", 4.531, 44_100, 1, "mp3");
}

#[test]
fn m4a_aac() {
    check_sample("privet.m4a", 3.536, 44_100, 1, "aac");
}

fn write_wav(path: &Path, spec: hound::WavSpec, frames: usize, value: impl Fn(usize) -> f64) {
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let v = value(i);
        for _ in 0..spec.channels {
            match spec.sample_format {
                hound::SampleFormat::Float => writer.write_sample(v as f32).unwrap(),
                hound::SampleFormat::Int => {
                    let full = ((1i64 << (spec.bits_per_sample - 1)) - 1) as f64;
                    writer.write_sample((v * full).round() as i32).unwrap()
                }
            }
        }
    }
    writer.finalize().unwrap();
}

fn tone(rate: u32) -> impl Fn(usize) -> f64 {
    move |i| 0.5 * (2.0 * std::f64::consts::PI * 300.0 * i as f64 / f64::from(rate)).sin()
}

#[test]
fn every_wav_encoding_and_channel_count() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (8, hound::SampleFormat::Int, 1, 8_000),
        (16, hound::SampleFormat::Int, 2, 44_100),
        (24, hound::SampleFormat::Int, 6, 48_000),
        (32, hound::SampleFormat::Int, 1, 32_000),
        (32, hound::SampleFormat::Float, 8, 96_000),
    ];
    for (bits, format, channels, rate) in cases {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        };
        let path = dir.path().join(format!("t{bits}-{channels}-{rate}.wav"));
        write_wav(&path, spec, rate as usize / 2, tone(rate));
        let audio = decode_file(&path).unwrap_or_else(|e| panic!("{bits} bit: {e}"));
        assert_eq!(audio.samples.len(), SAMPLE_RATE as usize / 2, "{bits} bit");
        // Averaging identical channels keeps the amplitude: the tone's peak stays near 0.5.
        let peak = audio.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(
            (peak - 0.5).abs() < 0.02,
            "{bits}-bit {channels} ch: peak {peak}"
        );
    }
}

#[test]
fn streaming_yields_the_same_samples_in_chunks() {
    let path = samples_dir().join("pogoda-44k-stereo.wav");
    let whole = decode_file(&path).unwrap();
    let mut stream = open(&path).unwrap();
    let mut chunks = 0;
    let mut streamed = Vec::new();
    while stream.next_chunk(&mut streamed).unwrap() {
        chunks += 1;
    }
    assert!(chunks > 10, "only {chunks} chunks: not streaming");
    assert_eq!(streamed, whole.samples);
}

/// A forward-only reader, as standard input is: no seeking, at most 4 KiB per read, and a count
/// of the bytes handed out so far.
struct Pipe {
    data: Vec<u8>,
    handed_out: Arc<AtomicUsize>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let at = self.handed_out.load(Ordering::Relaxed);
        let n = buf.len().min(4096).min(self.data.len() - at);
        buf[..n].copy_from_slice(&self.data[at..at + n]);
        self.handed_out.store(at + n, Ordering::Relaxed);
        Ok(n)
    }
}

fn pipe(data: Vec<u8>) -> (Pipe, Arc<AtomicUsize>) {
    let handed_out = Arc::new(AtomicUsize::new(0));
    let pipe = Pipe {
        data,
        handed_out: Arc::clone(&handed_out),
    };
    (pipe, handed_out)
}

#[test]
fn every_sample_through_a_pipe_decodes_as_the_file_does() {
    for entry in std::fs::read_dir(samples_dir()).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "wav" | "mp3" | "flac" | "ogg" | "m4a") {
            continue;
        }
        let whole = decode_file(&path).unwrap();
        let (reader, _) = pipe(std::fs::read(&path).unwrap());
        let mut stream = open_reader(reader, "<pipe>").unwrap_or_else(|e| panic!("{e}"));
        let mut piped = Vec::new();
        while stream.next_chunk(&mut piped).unwrap() {}
        assert_eq!(stream.info(), &whole.source, "{}", path.display());
        assert_eq!(piped, whole.samples, "{}", path.display());
    }
}

/// What `ffmpeg -f wav -` writes: RIFF and data sizes 0xFFFFFFFF, since a pipe cannot be
/// rewound to fill them in.
fn unsized_wav(seconds: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    write_wav(&path, spec, seconds * 16_000, tone(16_000));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    bytes[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes
}

#[test]
fn a_long_wav_through_a_pipe_streams_instead_of_being_read_whole() {
    let data = unsized_wav(600);
    let total = data.len();
    let (reader, handed_out) = pipe(data);
    let mut stream = open_reader(reader, "<stdin>").unwrap();
    let mut samples = Vec::new();
    assert!(stream.next_chunk(&mut samples).unwrap());
    let read_for_first_chunk = handed_out.load(Ordering::Relaxed);
    assert!(
        read_for_first_chunk < 2 << 20,
        "{read_for_first_chunk} of {total} bytes read before the first chunk"
    );
    while stream.next_chunk(&mut samples).unwrap() {}
    assert_eq!(samples.len(), 600 * 16_000);
    assert_eq!(handed_out.load(Ordering::Relaxed), total);

    // With sizes unknown, the end of the pipe is the end of the audio, wherever it falls: a
    // trailing odd byte is half a sample and is dropped.
    let mut cut = unsized_wav(2);
    cut.truncate(44 + 2 * 15_000 + 1);
    let (reader, _) = pipe(cut);
    let mut stream = open_reader(reader, "<stdin>").unwrap();
    let mut samples = Vec::new();
    while stream.next_chunk(&mut samples).unwrap() {}
    assert_eq!(samples.len(), 15_000);
}

fn error_for(bytes: &[u8], name: &str) -> AudioError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    decode_file(&path).expect_err("decoding should fail")
}

fn header_only_wav() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&path, spec)
        .unwrap()
        .finalize()
        .unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn bad_inputs_give_clear_errors() {
    let missing = decode_file(Path::new("/nonexistent/x.wav")).unwrap_err();
    assert_eq!(missing.to_string(), "/nonexistent/x.wav: no such file");

    let dir = tempfile::tempdir().unwrap();
    let err = decode_file(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("is a directory, not an audio file"),
        "{err}"
    );

    let err = error_for(b"", "empty.wav");
    assert!(matches!(err, AudioError::Empty { .. }), "{err}");

    let err = error_for(
        "это просто текст, а не звук\n".repeat(50).as_bytes(),
        "text.wav",
    );
    assert!(matches!(err, AudioError::UnknownFormat { .. }), "{err}");
    let err = error_for(
        &[0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0, 0, 13],
        "img.mp3",
    );
    assert!(matches!(err, AudioError::UnknownFormat { .. }), "{err}");

    let header = header_only_wav();
    let err = error_for(&header, "header.wav");
    assert!(matches!(err, AudioError::NoSamples { .. }), "{err}");

    let mut truncated = std::fs::read(samples_dir().join("privet-16k-mono.wav")).unwrap();
    truncated.truncate(truncated.len() / 2);
    let err = error_for(&truncated, "cut.wav");
    assert!(matches!(err, AudioError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("the file is truncated"), "{err}");

    let err = error_for(&header[..20], "cut-header.wav");
    assert!(
        matches!(
            err,
            AudioError::Truncated { .. } | AudioError::Malformed { .. }
        ),
        "{err}"
    );
}

#[test]
fn non_finite_float_samples_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    write_wav(
        &path,
        spec,
        16_000,
        |i| if i == 8_000 { f64::NAN } else { 0.1 },
    );
    let err = decode_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the audio contains NaN or infinite samples (first at 0.500 s)",
            path.display()
        )
    );
    write_wav(&path, spec, 16_000, |i| {
        if i == 4_000 {
            f64::INFINITY
        } else {
            0.1
        }
    });
    assert!(matches!(
        decode_file(&path),
        Err(AudioError::NonFiniteSamples { .. })
    ));
}

#[test]
fn zero_channels_and_absurd_rates_are_refused() {
    let mut bytes = header_only_wav();
    // Patch the fmt chunk: channels at byte 22, sample rate at byte 24.
    bytes[22..24].copy_from_slice(&0u16.to_le_bytes());
    let err = error_for(&bytes, "zero.wav");
    assert!(
        matches!(
            err,
            AudioError::Unsupported { .. } | AudioError::Malformed { .. }
        ),
        "{err}"
    );
    let mut bytes = header_only_wav();
    bytes[24..28].copy_from_slice(&1u32.to_le_bytes());
    // The byte rate must agree, or hound refuses the header before we see the rate.
    bytes[28..32].copy_from_slice(&2u32.to_le_bytes());
    let err = error_for(&bytes, "slow.wav");
    assert!(err.to_string().contains("sample rate 1 Hz"), "{err}");
}

/// A 16 kHz stereo WAV, 16-bit (hound reads it) or 64-bit float (symphonia does), with a tone
/// on the left channel and silence on the right.
fn left_only(path: &Path, float64: bool) {
    let frames = 16_000usize;
    let (bits, format): (u16, u16) = if float64 { (64, 3) } else { (16, 1) };
    let block = 2 * bits / 8;
    let data_len = frames as u32 * u32::from(block);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&format.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&(16_000 * u32::from(block)).to_le_bytes());
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&bits.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    let tone = tone(16_000);
    for i in 0..frames {
        for value in [tone(i), 0.0] {
            if float64 {
                bytes.extend_from_slice(&value.to_le_bytes());
            } else {
                bytes.extend_from_slice(&((value * 32767.0).round() as i16).to_le_bytes());
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn energy(path: &Path, channel: u16) -> f32 {
    let mut stream = rech_audio::open_channel(path, channel).unwrap();
    let mut samples = Vec::new();
    while stream.next_chunk(&mut samples).unwrap() {}
    assert!(
        (samples.len() as i64 - 16_000).abs() < 10,
        "{}",
        samples.len()
    );
    samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32
}

#[test]
fn one_channel_alone_through_hound_and_symphonia() {
    let dir = tempfile::tempdir().unwrap();
    for float64 in [false, true] {
        let path = dir.path().join(format!("call-{float64}.wav"));
        left_only(&path, float64);
        // The tone's power is 0.125; averaged with silence it would be a quarter of that.
        let left = energy(&path, 0);
        assert!((left - 0.125).abs() < 0.01, "{float64}: {left}");
        assert!(energy(&path, 1) < 1e-6, "{float64}");
        let mixed = decode_file(&path).unwrap();
        let mixed: f32 =
            mixed.samples.iter().map(|s| s * s).sum::<f32>() / mixed.samples.len() as f32;
        assert!((mixed - 0.125 / 4.0).abs() < 0.005, "{float64}: {mixed}");
        match rech_audio::open_channel(&path, 2) {
            Err(e @ AudioError::NoSuchChannel { .. }) => {
                assert!(
                    e.to_string().ends_with("has 2 channel(s), no channel 3"),
                    "{e}"
                )
            }
            other => panic!("{float64}: {:?}", other.map(|s| s.info().clone())),
        }
    }
    assert!(rech_audio::open_channel(Path::new("-"), 0).is_err());
}
