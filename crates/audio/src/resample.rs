//! Streaming conversion of mono audio at any rate to 16 kHz with rubato's sinc resampler:
//! input goes in fixed-size chunks, so memory stays flat however long the recording is.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Indexing, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use crate::SAMPLE_RATE;

/// Input frames handed to rubato per call: small enough for the microphone, large enough
/// that the per-call overhead vanishes for files.
const CHUNK_FRAMES: usize = 1024;

/// Filter length and table resolution of the sinc filter. Building the table takes a few
/// milliseconds, nothing next to transcription, but it would dominate every run of a fuzz
/// target: the `fuzzing` feature (for the fuzz targets only) makes it 16 times smaller.
#[cfg(not(feature = "fuzzing"))]
const SINC_TAPS: usize = 256;
#[cfg(not(feature = "fuzzing"))]
const SINC_OVERSAMPLING: usize = 256;
#[cfg(feature = "fuzzing")]
const SINC_TAPS: usize = 64;
#[cfg(feature = "fuzzing")]
const SINC_OVERSAMPLING: usize = 64;

/// Lowest and highest input rates accepted. 1 kHz is below any real speech recording (8 kHz
/// telephone audio must work); 768 kHz is the highest rate audio interfaces offer.
pub const MIN_INPUT_RATE: u32 = 1_000;
/// See [`MIN_INPUT_RATE`].
pub const MAX_INPUT_RATE: u32 = 768_000;

/// Resamples a mono stream to 16 kHz, chunk by chunk.
///
/// Feed it with [`push`](Self::push) as samples arrive and call [`finish`](Self::finish) once
/// at the end: the output then has exactly `round(input_len × 16000 / input_rate)` samples,
/// aligned with the input (the filter's delay is removed).
pub struct StreamResampler {
    /// `None` when the input is already at 16 kHz: samples pass straight through.
    inner: Option<Async<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    delay_left: usize,
    input_frames: u64,
    output_frames: u64,
    ratio: f64,
}

/// The input rate is outside what [`StreamResampler`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "sample rate {0} Hz is outside the supported range ({MIN_INPUT_RATE}..={MAX_INPUT_RATE} Hz)"
)]
pub struct UnsupportedRate(pub u32);

impl StreamResampler {
    /// A resampler from `input_rate` hertz to 16 kHz.
    pub fn new(input_rate: u32) -> Result<Self, UnsupportedRate> {
        if !(MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&input_rate) {
            return Err(UnsupportedRate(input_rate));
        }
        let ratio = f64::from(SAMPLE_RATE) / f64::from(input_rate);
        let inner = if input_rate == SAMPLE_RATE {
            None
        } else {
            // 256 taps with a squared Blackman-Harris window keep aliasing and ripple far
            // below what Whisper can hear (the unit test below measures > 60 dB).
            let params =
                SincInterpolationParameters::new(SINC_TAPS, WindowFunction::BlackmanHarris2)
                    .oversampling_factor(SINC_OVERSAMPLING)
                    .interpolation(SincInterpolationType::Cubic);
            let resampler =
                Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK_FRAMES, 1, FixedAsync::Input)
                    .map_err(|_| UnsupportedRate(input_rate))?;
            Some(resampler)
        };
        let delay_left = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            inner,
            pending: Vec::with_capacity(CHUNK_FRAMES * 2),
            scratch: Vec::new(),
            delay_left,
            input_frames: 0,
            output_frames: 0,
            ratio,
        })
    }

    /// Adds `input` (mono, at the input rate) and appends whatever 16 kHz output is ready.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.input_frames += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.output_frames += input.len() as u64;
            return;
        }
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        while self.pending.len() - consumed >= CHUNK_FRAMES {
            self.process_chunk(consumed, None, out);
            consumed += CHUNK_FRAMES;
        }
        self.pending.drain(..consumed);
    }

    /// Flushes the filter's tail; call once after the last [`push`](Self::push).
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.inner.is_none() {
            return;
        }
        let expected = (self.input_frames as f64 * self.ratio).round() as u64;
        let mut partial = self.pending.len();
        while self.output_frames < expected {
            self.process_chunk(0, Some(partial), out);
            // After the real tail, feed silence until the delayed output has all come out.
            partial = 0;
        }
        self.pending.clear();
        let surplus = (self.output_frames - expected) as usize;
        out.truncate(out.len() - surplus.min(out.len()));
        self.output_frames = expected;
    }

    fn process_chunk(&mut self, offset: usize, partial: Option<usize>, out: &mut Vec<f32>) {
        let Some(resampler) = self.inner.as_mut() else {
            return;
        };
        let out_frames = resampler.output_frames_max();
        self.scratch.resize(out_frames, 0.0);
        if partial.is_some() {
            // rubato reads a full chunk even when told that only part of it is valid.
            self.pending
                .resize(CHUNK_FRAMES.max(self.pending.len()), 0.0);
        }
        let in_frames = self.pending.len() - offset;
        let indexing = Indexing {
            input_offset: offset,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        // The buffers are sized from the resampler's own requirements above, so rubato has
        // nothing to reject: a failure here is a bug in this function, not bad input.
        let input = InterleavedSlice::new(&self.pending[..], 1, offset + in_frames)
            .expect("input buffer sized from its own length");
        let mut output = InterleavedSlice::new_mut(&mut self.scratch[..], 1, out_frames)
            .expect("output buffer sized from output_frames_max");
        let (_, written) = resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .expect("chunk sizes follow input_frames_next and output_frames_max");
        let skip = self.delay_left.min(written);
        self.delay_left -= skip;
        out.extend_from_slice(&self.scratch[skip..written]);
        self.output_frames += (written - skip) as u64;
    }
}

/// Resamples a whole mono buffer in one go: a convenience over [`StreamResampler`].
pub fn resample_to_16k(input: &[f32], input_rate: u32) -> Result<Vec<f32>, UnsupportedRate> {
    let mut resampler = StreamResampler::new(input_rate)?;
    let mut out = Vec::with_capacity((input.len() as f64 * resampler.ratio) as usize + 16);
    for chunk in input.chunks(4096) {
        resampler.push(chunk, &mut out);
    }
    resampler.finish(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn sine(rate: u32, freq: f64, seconds: f64, amplitude: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    /// Least-squares fit of a sine of known frequency: returns (amplitude, residual RMS).
    fn fit_sine(samples: &[f32], rate: f64, freq: f64) -> (f64, f64) {
        let (mut ss, mut cc, mut sc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &y) in samples.iter().enumerate() {
            let w = 2.0 * PI * freq * i as f64 / rate;
            let (s, c) = w.sin_cos();
            let y = f64::from(y);
            ss += s * s;
            cc += c * c;
            sc += s * c;
            ys += y * s;
            yc += y * c;
        }
        let det = ss * cc - sc * sc;
        let a = (ys * cc - yc * sc) / det;
        let b = (yc * ss - ys * sc) / det;
        let residual: f64 = samples
            .iter()
            .enumerate()
            .map(|(i, &y)| {
                let w = 2.0 * PI * freq * i as f64 / rate;
                let e = f64::from(y) - (a * w.sin() + b * w.cos());
                e * e
            })
            .sum::<f64>()
            / samples.len() as f64;
        ((a * a + b * b).sqrt(), residual.sqrt())
    }

    #[test]
    fn sine_keeps_amplitude_and_stays_clean() {
        let input = sine(44_100, 1000.0, 2.0, 0.5);
        let out = resample_to_16k(&input, 44_100).unwrap();
        assert_eq!(out.len(), 32_000);
        // Skip the edges, where the signal starts and stops abruptly.
        let middle = &out[2_000..30_000];
        let (amplitude, residual_rms) = fit_sine(middle, 16_000.0, 1000.0);
        let gain_db = 20.0 * (amplitude / 0.5).log10();
        let floor_db = 20.0 * (residual_rms / (amplitude / 2f64.sqrt())).log10();
        assert!(gain_db.abs() < 0.1, "gain {gain_db:.4} dB");
        assert!(floor_db < -60.0, "noise/aliasing floor {floor_db:.1} dB");
    }

    #[test]
    fn a_tone_above_8_khz_is_filtered_out() {
        // 12 kHz would alias to 4 kHz if the anti-aliasing filter were missing.
        let input = sine(44_100, 12_000.0, 1.0, 0.5);
        let out = resample_to_16k(&input, 44_100).unwrap();
        let rms = (out[1000..15_000]
            .iter()
            .map(|&x| f64::from(x).powi(2))
            .sum::<f64>()
            / 14_000.0)
            .sqrt();
        assert!(20.0 * (rms / 0.3536).log10() < -60.0, "alias rms {rms}");
    }

    #[test]
    fn streaming_in_odd_pieces_matches_one_go_and_is_aligned() {
        let input = sine(48_000, 440.0, 1.3, 0.4);
        let whole = resample_to_16k(&input, 48_000).unwrap();
        let mut resampler = StreamResampler::new(48_000).unwrap();
        let mut pieces = Vec::new();
        for piece in input.chunks(333) {
            resampler.push(piece, &mut pieces);
        }
        resampler.finish(&mut pieces);
        assert_eq!(whole.len(), pieces.len());
        assert_eq!(whole.len(), 20_800);
        for (a, b) in whole.iter().zip(&pieces) {
            assert!((a - b).abs() < 1e-6);
        }
        // No delay: the output's phase matches a sine generated at 16 kHz directly. rubato
        // reports its delay in whole output frames, so up to half a frame (31 µs) remains:
        // at 440 Hz that is a deviation of at most 0.4 × 2π × 440 / 16000 / 2 ≈ 0.035.
        let reference = sine(16_000, 440.0, 1.3, 0.4);
        let err = whole[500..20_000]
            .iter()
            .zip(&reference[500..20_000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.035, "max deviation from the ideal sine {err}");
    }

    #[test]
    fn sixteen_khz_passes_through_and_bad_rates_are_refused() {
        let input = sine(16_000, 300.0, 0.5, 0.2);
        assert_eq!(resample_to_16k(&input, 16_000).unwrap(), input);
        assert_eq!(StreamResampler::new(0).err(), Some(UnsupportedRate(0)));
        assert!(StreamResampler::new(10_000_000).is_err());
        assert!(StreamResampler::new(8_000).is_ok());
    }

    #[test]
    fn short_and_empty_inputs() {
        assert!(resample_to_16k(&[], 44_100).unwrap().is_empty());
        let out = resample_to_16k(&[0.1; 10], 44_100).unwrap();
        assert_eq!(out.len(), 4);
    }
}
