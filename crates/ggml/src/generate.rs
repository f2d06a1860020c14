//! Writes whisper.cpp ggml model files with seeded random weights, because no real Whisper
//! weights are reachable from the machines that build and test `rech`.
//!
//! whisper.cpp loads and runs such a file exactly like a real model, so loading, the mel
//! spectrogram, encoder, decoder, timestamps, memory and speed are all real; only the words are
//! nonsense. The mel filter bank is a real one (Slaney-style, as Whisper's), the encoder's
//! positional embedding the real sinusoids, and the vocabulary the generator's own: byte-level
//! tokens with Russian syllables, including tokens that split a Cyrillic letter's two UTF-8
//! bytes, so that decoding must assemble text from bytes as it must with real Whisper.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::model_file::{
    expected_tensors, expected_vad_tensors, GgmlType, Hparams, TensorKind, TensorSpec, GGML_MAGIC,
};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Dimensions; `ftype` names the matrices' type: 0 f32, 1 f16, or a quantised type
    /// whisper.cpp's own quantiser writes (2 q4_0, 3 q4_1, 7 q8_0, 8 q5_0, 9 q5_1), optionally
    /// plus 1000 × the quantisation version, as that tool stores it.
    pub hparams: Hparams,
    /// Seed for the weights: the same seed and dimensions give byte-identical files.
    pub seed: u64,
}

/// What the decoder of a generated model emits.
///
/// Random weights make the decoder's output chaotic: the smallest numeric difference (another
/// thread count, another whisper.cpp version) changes how many tokens it emits, and with it the
/// run time. Benchmarks that compare engines need the same work on both sides, so the generator
/// can pin the decoder's output: with the final layer norm's gain at zero, the last hidden state
/// is the layer norm's bias whatever the input, and a bias along one token's embedding makes
/// that token win every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecoderOutput {
    /// Random like every other weight: nonsense text of unpredictable length.
    #[default]
    Random,
    /// End of text at once: each 30 s window costs one encoder pass and a few decoder steps.
    EndOfText,
    /// The same text token every step, until whisper.cpp's per-window token limit: a
    /// deterministic, decoder-heavy load.
    Repeat,
}

/// The token [`DecoderOutput::Repeat`] repeats: `" при"` when the vocabulary has it.
fn repeated_token() -> usize {
    find_token(" при".as_bytes()).unwrap_or(b'a' as usize)
}

/// Text tokens in a multilingual Whisper vocabulary; whisper.cpp numbers the special tokens
/// from here (end of text is 50257 when `n_vocab >= 51865`, 50256 otherwise).
pub const N_TEXT_TOKENS: usize = 50257;

/// Frequency bins of whisper.cpp's 400-point FFT.
const N_FFT_BINS: usize = 201;

/// Writes a complete model file to `w`, tensor by tensor (nothing larger than 64 KiB is held in
/// memory, so even `small` streams). Wrap a file in a `BufWriter`; [`write_model_file`] does.
///
/// Fails with `InvalidInput` when the dimensions are ones whisper.cpp cannot load or the
/// `ftype` is not one of those [`GenerateOptions::hparams`] lists.
pub fn write_model<W: Write>(w: &mut W, opts: &GenerateOptions) -> io::Result<()> {
    write_model_with_decoder(w, opts, DecoderOutput::Random)
}

/// [`write_model`] with the decoder's output pinned as `decoder` says.
pub fn write_model_with_decoder<W: Write>(
    w: &mut W,
    opts: &GenerateOptions,
    decoder: DecoderOutput,
) -> io::Result<()> {
    let h = &opts.hparams;
    h.check()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let weight_type = match h.weight_type() {
        Some(
            ty @ (GgmlType::F32
            | GgmlType::F16
            | GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0),
        ) => ty,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the generator writes ftype 0 (f32), 1 (f16), 2 (q4_0), 3 (q4_1), 7 (q8_0), \
                     8 (q5_0) or 9 (q5_1), not {}",
                    h.ftype
                ),
            ))
        }
    };

    w.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in [
        h.n_vocab,
        h.n_audio_ctx,
        h.n_audio_state,
        h.n_audio_head,
        h.n_audio_layer,
        h.n_text_ctx,
        h.n_text_state,
        h.n_text_head,
        h.n_text_layer,
        h.n_mels,
        h.ftype,
    ] {
        write_i32(w, v)?;
    }

    let n_mels = h.n_mels as usize;
    write_i32(w, h.n_mels)?;
    write_i32(w, N_FFT_BINS as i32)?;
    for v in mel_filters(n_mels) {
        w.write_all(&v.to_le_bytes())?;
    }

    // An English-only model's end-of-text token is 50256, so its file carries one text token
    // fewer: whisper.cpp names the ids past the file's vocabulary itself.
    let n_tokens = if h.is_multilingual() {
        N_TEXT_TOKENS
    } else {
        N_TEXT_TOKENS - 1
    };
    let vocab = vocab_cached();
    write_i32(w, n_tokens as i32)?;
    for token in &vocab[..n_tokens] {
        w.write_all(&(token.len() as u32).to_le_bytes())?;
        w.write_all(token)?;
    }

    let mut buf = Vec::with_capacity(CHUNK_BYTES);
    for spec in expected_tensors(h) {
        let ty = spec.kind.ggml_type(weight_type);
        write_i32(w, spec.shape.len() as i32)?;
        write_i32(w, spec.name.len() as i32)?;
        write_i32(w, ty.id())?;
        for &d in &spec.shape {
            write_i32(w, d as i32)?;
        }
        w.write_all(spec.name.as_bytes())?;
        write_tensor_data(w, &spec, ty, h, opts.seed, decoder, &mut buf)?;
    }
    Ok(())
}

/// Writes a model to `path` atomically: into a temporary file in the same directory, renamed
/// over `path` once complete, so a crash never leaves a half-written model under the real name.
pub fn write_model_file(path: &Path, opts: &GenerateOptions) -> io::Result<()> {
    write_model_file_with_decoder(path, opts, DecoderOutput::Random)
}

/// A Silero VAD v6.2.0 model file in whisper.cpp's format with the real architecture and zero
/// weights (885,098 bytes, the size of the real `ggml-silero-v6.2.0.bin`): what the validator
/// accepts, for tests that damage one thing at a time. It detects no speech.
pub fn vad_model_bytes() -> Vec<u8> {
    let mut b = GGML_MAGIC.to_le_bytes().to_vec();
    let put = |b: &mut Vec<u8>, v: i32| b.extend_from_slice(&v.to_le_bytes());
    put(&mut b, 10);
    b.extend_from_slice(b"silero-16k");
    // Version 6.2.0, window 512, context 64, 4 encoder layers (in, out, kernel each), LSTM
    // 128 in, 128 hidden, decoder 128 in, 1 out.
    for v in [
        6, 2, 0, 512, 64, 4, 129, 128, 3, 128, 64, 3, 64, 64, 3, 64, 128, 3, 128, 128, 128, 1,
    ] {
        put(&mut b, v);
    }
    for spec in expected_vad_tensors() {
        let ty = spec.kind.ggml_type(GgmlType::F16);
        put(&mut b, spec.shape.len() as i32);
        put(&mut b, spec.name.len() as i32);
        put(&mut b, ty.id());
        for &d in &spec.shape {
            put(&mut b, d as i32);
        }
        b.extend_from_slice(spec.name.as_bytes());
        b.resize(b.len() + (spec.n_elements() * ty.block_bytes()) as usize, 0);
    }
    b
}

/// [`write_model_file`] with the decoder's output pinned as `decoder` says.
pub fn write_model_file_with_decoder(
    path: &Path,
    opts: &GenerateOptions,
    decoder: DecoderOutput,
) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write_model_with_decoder(&mut w, opts, decoder)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the original error is what the caller needs to see.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

fn write_i32<W: Write>(w: &mut W, v: i32) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

const CHUNK_BYTES: usize = 64 * 1024;

/// How a tensor's values are made, from its name and kind.
#[derive(Debug, Clone)]
enum Init {
    /// Whisper's encoder positional embedding is fixed sinusoids, not learned.
    Sinusoids,
    /// Every value the same (layer-norm gains 1, layer-norm biases 0).
    Constant(f32),
    /// Zero-mean noise with this standard deviation.
    Noise(f32),
    /// The final layer norm's bias when the decoder's output is pinned: given values.
    Values(Vec<f32>),
}

/// The pinned token's logit. The bias is the token's embedding `e` scaled so that
/// `scale × |e|² ≈ PIN_LOGIT`; every other logit is `scale × e·e'`, noise with a standard
/// deviation of `PIN_LOGIT / √n_state` (2.5 for micro, under 1 for real sizes), so the target
/// outweighs even the summed probability of the 1501 timestamp tokens at every step.
const PIN_LOGIT: f32 = 20.0;

/// Standard deviation of the token embedding (which is also the output projection).
const TOKEN_EMBEDDING_STD: f32 = 0.02;

/// whisper.cpp's `<|0.00|>` in a multilingual vocabulary.
const FIRST_TIMESTAMP: usize = 50_364;

/// The bias that makes each `(token, logit)` come out with about that logit: a sum of the
/// tokens' embedding rows, drawn exactly as the embedding itself is written (same seed, same
/// order), each scaled so that `scale × |e|² ≈ logit`.
fn pinned_bias(seed: u64, n_state: usize, targets: &[(usize, f32)]) -> Vec<f32> {
    let expected_norm = n_state as f32 * TOKEN_EMBEDDING_STD * TOKEN_EMBEDDING_STD;
    let mut bias = vec![0.0f32; n_state];
    for &(token, logit) in targets {
        let mut rng = SplitMix64::new(seed ^ fnv1a(b"decoder.token_embedding.weight"));
        for _ in 0..token as u64 * n_state as u64 {
            rng.normal();
        }
        let scale = logit / expected_norm;
        for b in &mut bias {
            *b += rng.normal() * TOKEN_EMBEDDING_STD * scale;
        }
    }
    bias
}

fn init_for(spec: &TensorSpec, decoder: DecoderOutput, seed: u64) -> Init {
    let name = spec.name.as_str();
    // whisper.cpp suppresses end-of-text as the very first token, so `EndOfText` also favours
    // the first timestamp (chosen first), then end of text (timestamps are barred right after
    // a lone timestamp).
    let pinned = match decoder {
        DecoderOutput::Random => None,
        DecoderOutput::EndOfText => Some(vec![
            (N_TEXT_TOKENS, PIN_LOGIT),
            (FIRST_TIMESTAMP, PIN_LOGIT * 0.75),
        ]),
        DecoderOutput::Repeat => Some(vec![(repeated_token(), PIN_LOGIT)]),
    };
    if let Some(targets) = pinned {
        if name == "decoder.ln.weight" {
            return Init::Constant(0.0);
        }
        if name == "decoder.ln.bias" {
            return Init::Values(pinned_bias(seed, spec.shape[0] as usize, &targets));
        }
    }
    let is_ln = name.contains("ln.") || name.contains("ln_post.");
    if name == "encoder.positional_embedding" {
        Init::Sinusoids
    } else if is_ln && name.ends_with(".weight") {
        Init::Constant(1.0)
    } else if is_ln {
        Init::Constant(0.0)
    } else if name.ends_with(".bias") || name == "decoder.positional_embedding" {
        Init::Noise(0.01)
    } else if name == "decoder.token_embedding.weight" {
        // Also the output projection: small values keep the first logits near uniform.
        Init::Noise(TOKEN_EMBEDDING_STD)
    } else {
        // A matrix or convolution: 1/sqrt(fan-in) keeps activations at unit scale through the
        // layers (ne[0] is the input dimension; a conv kernel also spans 3 frames).
        let fan_in: i64 = match spec.kind {
            TensorKind::Conv => spec.shape[0] * spec.shape[1],
            _ => spec.shape[0],
        };
        Init::Noise(1.0 / (fan_in.max(1) as f32).sqrt())
    }
}

fn write_tensor_data<W: Write>(
    w: &mut W,
    spec: &TensorSpec,
    ty: GgmlType,
    h: &Hparams,
    seed: u64,
    decoder: DecoderOutput,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let init = init_for(spec, decoder, seed);
    // Seeding per tensor name makes a tensor's values independent of the order of writing.
    let mut rng = SplitMix64::new(seed ^ fnv1a(spec.name.as_bytes()));
    let n = spec.n_elements();
    let width = h.n_audio_state.max(1) as u64;
    // Quantised types are written a block at a time: rows are whole blocks (the validator
    // insists), so consecutive values fill each block as ggml's quantiser reads them.
    let mut block = [0.0f32; QUANT_BLOCK];
    for i in 0..n {
        let v = match &init {
            Init::Sinusoids => sinusoid(i / width, i % width, width),
            Init::Constant(c) => *c,
            Init::Noise(std) => rng.normal() * std,
            Init::Values(values) => values[i as usize % values.len()],
        };
        match ty {
            GgmlType::F32 => buf.extend_from_slice(&v.to_le_bytes()),
            GgmlType::F16 => buf.extend_from_slice(&f32_to_f16(v).to_le_bytes()),
            _ => {
                let at = (i % QUANT_BLOCK as u64) as usize;
                block[at] = v;
                if at == QUANT_BLOCK - 1 {
                    quantize_block(ty, &block, buf)?;
                }
            }
        }
        if buf.len() >= CHUNK_BYTES {
            w.write_all(buf)?;
            buf.clear();
        }
    }
    w.write_all(buf)?;
    buf.clear();
    Ok(())
}

/// Values per block of every quantised type the generator writes.
const QUANT_BLOCK: usize = 32;

/// Appends one block of 32 values in ggml's layout for `ty` (ggml-common.h), rounded the way
/// ggml's reference quantisers round (`quantize_row_*_ref`), so a generated quantised model
/// holds what quantising the same f32 weights with whisper.cpp's tool would.
fn quantize_block(ty: GgmlType, x: &[f32; QUANT_BLOCK], out: &mut Vec<u8>) -> io::Result<()> {
    // Scale and offset of the "_1" types: the range [min, max] in 2^bits − 1 steps.
    let min_max = || {
        x.iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    };
    // The "_0" types scale by the value of largest magnitude, sign included, so that it lands
    // exactly on the most negative level.
    let signed_max = || {
        x.iter()
            .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
    };
    let inverse = |d: f32| if d != 0.0 { 1.0 / d } else { 0.0 };
    match ty {
        GgmlType::Q8_0 => {
            let amax = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = inverse(d);
            out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
            out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
        }
        GgmlType::Q4_0 | GgmlType::Q5_0 => {
            let levels = if ty == GgmlType::Q4_0 { 16.0 } else { 32.0 };
            let d = signed_max() / -(levels / 2.0);
            let id = inverse(d);
            let q =
                x.map(|v| ((v * id + levels / 2.0 + 0.5) as i8).clamp(0, levels as i8 - 1) as u8);
            out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
            push_nibbles(ty == GgmlType::Q5_0, &q, out);
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 => {
            let levels = if ty == GgmlType::Q4_1 { 16.0 } else { 32.0 };
            let (lo, hi) = min_max();
            let d = (hi - lo) / (levels - 1.0);
            let id = inverse(d);
            let q = x.map(|v| (((v - lo) * id + 0.5) as i8).clamp(0, levels as i8 - 1) as u8);
            out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
            out.extend_from_slice(&f32_to_f16(lo).to_le_bytes());
            push_nibbles(ty == GgmlType::Q5_1, &q, out);
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the generator does not write {ty} blocks"),
            ))
        }
    }
    Ok(())
}

/// The packed part of a 4- or 5-bit block: for 5 bits first a 32-bit little-endian word of the
/// fifth bits (value j's at bit j), then value j's and value j+16's low four bits share byte j.
fn push_nibbles(fifth_bit: bool, q: &[u8], out: &mut Vec<u8>) {
    if fifth_bit {
        let high = q
            .iter()
            .enumerate()
            .fold(0u32, |acc, (j, &v)| acc | (u32::from(v >> 4 & 1) << j));
        out.extend_from_slice(&high.to_le_bytes());
    }
    let half = q.len() / 2;
    out.extend((0..half).map(|j| (q[j] & 0x0f) | (q[j + half] & 0x0f) << 4));
}

/// Whisper's `sinusoids(length, channels)`: sines in the first half of the channels, cosines
/// in the second, timescales from 1 to 10000.
fn sinusoid(position: u64, channel: u64, channels: u64) -> f32 {
    let half = (channels / 2).max(1);
    let step = (10000f64).ln() / ((half as f64) - 1.0).max(1.0);
    let k = channel % half;
    let t = position as f64 * (-step * k as f64).exp();
    if channel < half {
        t.sin() as f32
    } else {
        t.cos() as f32
    }
}

/// A Slaney-style mel filter bank for 16 kHz audio and a 400-point FFT (librosa's
/// `filters.mel(sr=16000, n_fft=400, n_mels)`, which Whisper ships), row-major: `n_mels` rows
/// of 201 bins.
fn mel_filters(n_mels: usize) -> Vec<f32> {
    const SAMPLE_RATE: f64 = 16000.0;
    let hz_to_mel = |f: f64| {
        // Linear below 1 kHz, logarithmic above (Slaney's Auditory Toolbox).
        let f_sp = 200.0 / 3.0;
        let logstep = (6.4f64).ln() / 27.0;
        if f >= 1000.0 {
            1000.0 / f_sp + (f / 1000.0).ln() / logstep
        } else {
            f / f_sp
        }
    };
    let mel_to_hz = |m: f64| {
        let f_sp = 200.0 / 3.0;
        let logstep = (6.4f64).ln() / 27.0;
        let min_log_mel = 1000.0 / f_sp;
        if m >= min_log_mel {
            1000.0 * (logstep * (m - min_log_mel)).exp()
        } else {
            m * f_sp
        }
    };
    let top = hz_to_mel(SAMPLE_RATE / 2.0);
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(top * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = Vec::with_capacity(n_mels * N_FFT_BINS);
    for m in 0..n_mels {
        let (lo, mid, hi) = (points[m], points[m + 1], points[m + 2]);
        let norm = 2.0 / (hi - lo);
        for k in 0..N_FFT_BINS {
            let f = k as f64 * SAMPLE_RATE / 400.0;
            let rising = (f - lo) / (mid - lo);
            let falling = (hi - f) / (hi - mid);
            out.push((rising.min(falling).max(0.0) * norm) as f32);
        }
    }
    out
}

/// splitmix64: tiny, fast, and good enough for weights that only need to look random.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Roughly standard normal: the sum of four uniforms (Irwin-Hall), rescaled to unit
    /// variance. Bounded by ±3.5, so no weight is ever extreme.
    fn normal(&mut self) -> f32 {
        let x = self.next_u64();
        let sum: f32 = (0..4)
            .map(|i| ((x >> (16 * i)) & 0xFFFF) as f32 / 65536.0)
            .sum();
        (sum - 2.0) * 3f32.sqrt()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// IEEE 754 half precision from single, rounding to nearest even (what ggml and numpy do).
fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        // Infinity stays infinity; NaN stays a (quiet) NaN.
        return sign | 0x7c00 | if man != 0 { 0x0200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    let (half, rem, halfway) = if e <= 0 {
        // Subnormal in f16 (or zero): shift the mantissa with its implicit 1 into place.
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        (m >> shift, m & ((1 << shift) - 1), 1u32 << (shift - 1))
    } else {
        (((e as u32) << 10) | (man >> 13), man & 0x1fff, 0x1000)
    };
    let round_up = rem > halfway || (rem == halfway && half & 1 == 1);
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    sign | (half + u32::from(round_up)) as u16
}

/// The generator's vocabulary: [`N_TEXT_TOKENS`] unique tokens as raw bytes, the same on
/// every call.
///
/// Ids 0..=255 are the single bytes (id = byte value), as in GPT-2's byte-level BPE; a Cyrillic
/// letter's lead byte (0xD0, 0xD1) and continuation bytes (0x80..=0xBF) are thus tokens on
/// their own. After them come Russian words and syllables, with and without a leading space
/// (`" при"`, `"вет"`, `" мир"`, ...), then many tokens that split a letter between tokens:
/// a word or syllable without its last byte (ending in a lead byte, e.g. `b" \xD0\xBF\xD1"`,
/// " п" and half of "р") and without its first byte (starting with a continuation byte, e.g.
/// `b"\x80\xD0\xB8"`, the rest of "р" and "и"). Such a token is not valid UTF-8 on its own; the
/// concatenation of the two examples is `" при"`. Find ids with [`find_token`]; a token splits
/// a letter exactly when `std::str::from_utf8` rejects it.
pub fn vocabulary() -> Vec<Vec<u8>> {
    vocab_cached().to_vec()
}

/// The id of the token with exactly these bytes, if the vocabulary has one.
pub fn find_token(bytes: &[u8]) -> Option<usize> {
    static INDEX: OnceLock<HashMap<Vec<u8>, usize>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            vocab_cached()
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i))
                .collect()
        })
        .get(bytes)
        .copied()
}

fn vocab_cached() -> &'static [Vec<u8>] {
    static VOCAB: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    VOCAB.get_or_init(build_vocabulary)
}

/// Common Russian words; each also appears capitalised and with a leading space.
const WORDS: &[&str] = &[
    "привет",
    "мир",
    "и",
    "в",
    "не",
    "на",
    "я",
    "что",
    "он",
    "с",
    "как",
    "это",
    "по",
    "но",
    "они",
    "к",
    "у",
    "же",
    "вы",
    "за",
    "бы",
    "от",
    "так",
    "его",
    "все",
    "она",
    "да",
    "был",
    "мы",
    "для",
    "речь",
    "слово",
    "текст",
    "сегодня",
    "завтра",
    "хорошо",
    "спасибо",
    "здравствуйте",
    "пожалуйста",
    "Россия",
    "Москва",
    "время",
    "человек",
    "день",
    "год",
    "раз",
    "дело",
    "жизнь",
    "работа",
    "вопрос",
    "говорить",
    "сказать",
    "можно",
    "нужно",
    "очень",
    "тоже",
    "только",
    "ещё",
    "уже",
    "когда",
    "если",
    "или",
    "потом",
    "здесь",
    "там",
    "где",
    "почему",
    "который",
    "быть",
    "есть",
    "нет",
    "мой",
    "твой",
    "наш",
    "один",
    "два",
    "три",
    "четыре",
    "пять",
    "десять",
    "сто",
    "тысяча",
    "первый",
    "новый",
    "большой",
    "русский",
    "язык",
    "голос",
    "запись",
    "звук",
    "тишина",
    "субтитры",
    "продолжение",
    "следует",
    "щука",
    "съезд",
    "объём",
    "ёжик",
    "эхо",
    "юг",
    "яблоко",
    "шёпот",
    "цифра",
];

/// English words and pieces, so that mixed text and ASCII punctuation decode too.
const ASCII_PIECES: &[&str] = &[
    "the", "and", "ing", "to", "of", "a", "in", "is", "it", "you", "that", "he", "was", "for",
    "on", "are", "with", "as", "I", "his", "they", "be", "at", "one", "have", "this", "OK",
    "Whisper", "rech", ".", ",", "!", "?", "...", " -", " —", ":", ";", "\"", "«", "»", "(", ")",
    "'s", "n't", "'m",
];

const VOWELS: &[char] = &['а', 'е', 'ё', 'и', 'о', 'у', 'ы', 'э', 'ю', 'я'];
const CONSONANTS: &[char] = &[
    'б', 'в', 'г', 'д', 'ж', 'з', 'й', 'к', 'л', 'м', 'н', 'п', 'р', 'с', 'т', 'ф', 'х', 'ц', 'ч',
    'ш', 'щ',
];

fn build_vocabulary() -> Vec<Vec<u8>> {
    let mut v = Vocab::default();
    for b in 0..=255u8 {
        v.push(vec![b]);
    }
    // Every letter alone and after a space.
    for c in ('а'..='я').chain(['ё']).chain('А'..='Я').chain(['Ё']) {
        v.text(&c.to_string());
    }
    let capitalise = |w: &str| {
        let mut cs = w.chars();
        cs.next()
            .map(|f| f.to_uppercase().chain(cs).collect::<String>())
            .unwrap_or_default()
    };
    for w in WORDS {
        v.text_and_splits(w);
        v.text_and_splits(&capitalise(w));
    }
    for p in [
        "при", "вет", "мир", "ски", "ова", "ние", "ать", "ого", "ение", "ся", "ть",
    ] {
        v.text_and_splits(p);
    }
    for p in ASCII_PIECES {
        v.text(p);
    }
    for n in 0..1000 {
        v.text(&n.to_string());
    }
    // Consonant-vowel syllables and consonant-vowel-consonant ones, with their splits.
    for &c in CONSONANTS {
        for &vowel in VOWELS {
            v.text_and_splits(&format!("{c}{vowel}"));
            v.text_and_splits(&capitalise(&format!("{c}{vowel}")));
        }
    }
    for &c in CONSONANTS {
        for &vowel in VOWELS {
            for &c2 in CONSONANTS {
                v.text_and_splits(&format!("{c}{vowel}{c2}"));
            }
        }
    }
    // Fill the rest with whole two-syllable pieces (there are far more than needed).
    'fill: for &c in CONSONANTS {
        for &vowel in VOWELS {
            for &c2 in CONSONANTS {
                for &vowel2 in VOWELS {
                    if v.full() {
                        break 'fill;
                    }
                    v.text(&format!("{c}{vowel}{c2}{vowel2}"));
                }
            }
        }
    }
    v.tokens
}

#[derive(Default)]
struct Vocab {
    tokens: Vec<Vec<u8>>,
    seen: HashSet<Vec<u8>>,
}

impl Vocab {
    fn full(&self) -> bool {
        self.tokens.len() >= N_TEXT_TOKENS
    }

    fn push(&mut self, t: Vec<u8>) {
        if !self.full() && !t.is_empty() && self.seen.insert(t.clone()) {
            self.tokens.push(t);
        }
    }

    /// The piece and the piece after a space.
    fn text(&mut self, s: &str) {
        self.push(s.as_bytes().to_vec());
        self.push(format!(" {s}").into_bytes());
    }

    /// [`Vocab::text`] plus the forms that cut a two-byte letter at either end: without the
    /// last byte (ending in a lead byte), and, when the piece starts with a two-byte letter,
    /// without the first byte (starting with a continuation byte).
    fn text_and_splits(&mut self, s: &str) {
        self.text(s);
        let b = s.as_bytes();
        let ends_in_two_byte = s.chars().next_back().is_some_and(|c| c.len_utf8() == 2);
        if ends_in_two_byte && b.len() > 2 {
            let head = &b[..b.len() - 1];
            self.push(head.to_vec());
            let mut spaced = vec![b' '];
            spaced.extend_from_slice(head);
            self.push(spaced);
        }
        let starts_two_byte = s.chars().next().is_some_and(|c| c.len_utf8() == 2);
        if starts_two_byte && b.len() > 2 {
            self.push(b[1..].to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_file::inspect_reader;
    use std::io::Cursor;

    fn micro(seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_model(
            &mut out,
            &GenerateOptions {
                hparams: Hparams::micro(),
                seed,
            },
        )
        .expect("writing to a Vec cannot fail");
        out
    }

    #[test]
    fn micro_model_inspects_clean() {
        let b = micro(1);
        let info = inspect_reader(Cursor::new(&b), b.len() as u64).expect("valid model");
        assert_eq!(info.hparams, Hparams::micro());
        assert_eq!(info.vocab_len, N_TEXT_TOKENS);
    }

    #[test]
    fn f32_model_inspects_clean() {
        let mut h = Hparams::micro();
        h.ftype = 0;
        let mut out = Vec::new();
        write_model(
            &mut out,
            &GenerateOptions {
                hparams: h,
                seed: 3,
            },
        )
        .unwrap();
        let info = inspect_reader(Cursor::new(&out), out.len() as u64).expect("valid model");
        assert_eq!(info.hparams.ftype, 0);
        assert!(info.weights_bytes > micro(3).len() as u64);
    }

    /// Reads back a block the way ggml's `dequantize_row_*` does.
    fn dequantize_block(ty: GgmlType, b: &[u8]) -> Vec<f32> {
        let f16 = |at: usize| f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]));
        let nibbles = |from: usize| -> Vec<u32> {
            let low = (0..16).map(|j| u32::from(b[from + j] & 0x0f));
            let high = (0..16).map(|j| u32::from(b[from + j] >> 4));
            low.chain(high).collect()
        };
        let fifth = |at: usize| {
            let bits = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            move |j: usize| (bits >> j & 1) << 4
        };
        match ty {
            GgmlType::Q8_0 => (0..32)
                .map(|j| f16(0) * f32::from(b[2 + j] as i8))
                .collect(),
            GgmlType::Q4_0 => nibbles(2)
                .into_iter()
                .map(|q| f16(0) * (q as f32 - 8.0))
                .collect(),
            GgmlType::Q4_1 => nibbles(4)
                .into_iter()
                .map(|q| f16(0) * q as f32 + f16(2))
                .collect(),
            GgmlType::Q5_0 => {
                let hi = fifth(2);
                nibbles(6)
                    .into_iter()
                    .enumerate()
                    .map(|(j, q)| f16(0) * ((q | hi(j)) as f32 - 16.0))
                    .collect()
            }
            GgmlType::Q5_1 => {
                let hi = fifth(4);
                nibbles(8)
                    .into_iter()
                    .enumerate()
                    .map(|(j, q)| f16(0) * (q | hi(j)) as f32 + f16(2))
                    .collect()
            }
            _ => unreachable!(),
        }
    }

    fn f16_to_f32(h: u16) -> f32 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exp = i32::from(h >> 10 & 0x1f);
        let frac = f32::from(h & 0x3ff);
        sign * match exp {
            0 => frac * 2f32.powi(-24),
            _ => (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
        }
    }

    #[test]
    fn quantised_blocks_read_back_within_half_a_step() {
        let mut rng = SplitMix64::new(9);
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
        ] {
            for scale in [1e-3f32, 0.05, 3.0] {
                let mut x = [0.0f32; QUANT_BLOCK];
                x.iter_mut().for_each(|v| *v = rng.normal() * scale);
                let mut out = Vec::new();
                quantize_block(ty, &x, &mut out).unwrap();
                assert_eq!(out.len() as u64, ty.block_bytes(), "{ty}");
                let back = dequantize_block(ty, &out);
                let (lo, hi) = x
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let levels = match ty {
                    GgmlType::Q8_0 => 254.0,
                    GgmlType::Q4_0 | GgmlType::Q4_1 => 15.0,
                    _ => 31.0,
                };
                // Half a quantisation step, plus f16 rounding of the scale and minimum.
                let step = (hi - lo).max(2.0 * lo.abs().max(hi.abs())) / levels;
                for (a, b) in x.iter().zip(&back) {
                    assert!(
                        (a - b).abs() <= 0.5 * step + 2e-3 * scale,
                        "{ty}: {a} vs {b}"
                    );
                }
            }
        }
        // An all-zero block (a zero scale) reads back as zeros, never NaN.
        for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_1] {
            let mut out = Vec::new();
            quantize_block(ty, &[0.0; QUANT_BLOCK], &mut out).unwrap();
            assert!(dequantize_block(ty, &out).iter().all(|&v| v == 0.0), "{ty}");
        }
    }

    #[test]
    fn quantised_models_inspect_clean() {
        for (ftype, ty) in [
            (2007, GgmlType::Q8_0),
            (2009, GgmlType::Q5_1),
            (2, GgmlType::Q4_0),
        ] {
            let mut h = Hparams::micro();
            h.ftype = ftype;
            let mut out = Vec::new();
            write_model(
                &mut out,
                &GenerateOptions {
                    hparams: h,
                    seed: 5,
                },
            )
            .unwrap();
            let info = inspect_reader(Cursor::new(&out), out.len() as u64).expect("valid model");
            assert_eq!(info.hparams.weight_type(), Some(ty));
            assert!(out.len() < micro(5).len(), "{ty} is smaller than f16");
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = micro(42);
        assert_eq!(a, micro(42));
        assert_ne!(a, micro(43));
    }

    #[test]
    fn refuses_what_it_cannot_write() {
        let mut h = Hparams::micro();
        h.ftype = 12; // q4_K: whisper.cpp loads it, the generator does not write it
        let e = write_model(
            &mut io::sink(),
            &GenerateOptions {
                hparams: h,
                seed: 0,
            },
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        h.ftype = 1;
        h.n_audio_head = 3;
        assert!(write_model(
            &mut io::sink(),
            &GenerateOptions {
                hparams: h,
                seed: 0
            }
        )
        .is_err());
    }

    #[test]
    fn vocabulary_is_unique_and_splits_letters() {
        let v = vocabulary();
        assert_eq!(v.len(), N_TEXT_TOKENS);
        assert_eq!(v.iter().collect::<HashSet<_>>().len(), N_TEXT_TOKENS);
        assert_eq!(v, vocabulary(), "deterministic");
        for b in 0..=255u8 {
            assert_eq!(find_token(&[b]), Some(b as usize));
        }
        assert!(find_token(" при".as_bytes()).is_some());
        assert!(find_token("вет".as_bytes()).is_some());
        assert!(find_token(" мир".as_bytes()).is_some());

        // The documented example: " п" + lead byte of "р", then the rest of "р" + "и".
        let head = b" \xD0\xBF\xD1";
        let tail = b"\x80\xD0\xB8";
        let (h, t) = (find_token(head).unwrap(), find_token(tail).unwrap());
        assert!(std::str::from_utf8(&v[h]).is_err());
        assert!(std::str::from_utf8(&v[t]).is_err());
        let joined = [v[h].as_slice(), v[t].as_slice()].concat();
        assert_eq!(std::str::from_utf8(&joined).unwrap(), " при");

        // A good share of tokens split a letter.
        let partial = v.iter().filter(|t| std::str::from_utf8(t).is_err()).count();
        assert!(partial > 5000, "{partial} partial tokens");
        // Single bytes 0x80..=0xFF are 128 of them; whole pieces dominate.
        assert!(partial < N_TEXT_TOKENS / 2, "{partial} partial tokens");
    }

    #[test]
    fn f16_conversion() {
        assert_eq!(f32_to_f16(0.0), 0x0000);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(0.1), 0x2e66);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(70000.0), 0x7c00);
        assert_eq!(f32_to_f16(6.103_515_6e-5), 0x0400); // smallest normal
        assert_eq!(f32_to_f16(5.960_464_5e-8), 0x0001); // smallest subnormal
        assert_eq!(f32_to_f16(1e-9), 0x0000);
        assert_eq!(f32_to_f16(f32::INFINITY), 0x7c00);
        assert_eq!(f32_to_f16(f32::NAN) & 0x7e00, 0x7e00);
        // Ties round to even: 1 + 2^-11 is halfway between 1 and the next f16.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
    }

    #[test]
    fn mel_filters_are_triangles() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80 * 201);
        for row in f.chunks(201) {
            assert!(row.iter().all(|&x| x >= 0.0 && x.is_finite()));
            assert!(row.iter().any(|&x| x > 0.0), "every filter covers some bin");
        }
        // librosa's value for filter 0, bin 1 (sr 16000, n_fft 400, 80 mels, slaney).
        assert!((f[1] - 0.024_862_594).abs() < 1e-6, "{}", f[1]);
        assert_eq!(mel_filters(128).len(), 128 * 201);
    }
}
