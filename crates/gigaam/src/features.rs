//! GigaAM v3's front end in Rust, so that the ONNX graphs get exactly the features they were
//! trained on: 16 kHz, 320-sample periodic Hann windows every 160 samples without centring,
//! the power spectrum, 64 HTK mel bands from 0 to 8 kHz without normalisation, and
//! `ln(clamp(x, 1e-9, 1e9))`. The checkpoint stores its window and filterbank in bf16, so both
//! are rounded to bf16 here as well (a plain f32 Hann window differs by up to 2e-3).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per analysis window (and FFT length): 20 ms.
pub const N_FFT: usize = 320;
/// Samples between windows: 10 ms.
pub const HOP: usize = 160;
/// Mel bands per frame: the models' `features_size`.
pub const N_MELS: usize = 64;
/// Frequency bins of the power spectrum.
const N_FREQS: usize = N_FFT / 2 + 1;
const SAMPLE_RATE: f32 = 16_000.0;
const CLAMP_MIN: f32 = 1e-9;
const CLAMP_MAX: f32 = 1e9;

/// Feature frames for `samples` samples: `1 + (n − 320) / 160`, none below one window.
pub fn frame_count(samples: usize) -> usize {
    if samples < N_FFT {
        0
    } else {
        1 + (samples - N_FFT) / HOP
    }
}

/// Rounds to the nearest bfloat16 (ties to even), as torch does when a checkpoint stores bf16.
pub fn round_bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1))) & 0xFFFF_0000;
    f32::from_bits(rounded)
}

/// The periodic Hann window of [`N_FFT`] samples, bf16-rounded.
pub fn window() -> Vec<f32> {
    (0..N_FFT)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64;
            round_bf16((0.5 - 0.5 * phase.cos()) as f32)
        })
        .collect()
}

/// The HTK mel filterbank, `[N_FREQS][N_MELS]` (frequency-major), bf16-rounded: torchaudio's
/// `melscale_fbanks(161, 0, 8000, 64, 16000, norm=None, mel_scale="htk")` with its own mix of
/// precisions (the band edges in mels in f64, evenly spaced points rounded to f32, the rest in
/// f32, the power correctly rounded), so that the bf16 rounding lands where the checkpoint's
/// did; torch's own f32 power differs in the last bit at a few points, which moves one entry
/// by one bf16 step (`tests/onnx_asr.rs` holds it to that).
pub fn filterbank() -> Vec<f32> {
    let hz_to_mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let mel_to_hz = |m: f32| 700.0 * ((10f64.powf(f64::from(m / 2595.0)) as f32) - 1.0);
    let linspace = |from: f64, to: f64, n: usize| -> Vec<f32> {
        let step = (to - from) / (n - 1) as f64;
        (0..n).map(|i| (from + step * i as f64) as f32).collect()
    };
    let freqs = linspace(0.0, f64::from(SAMPLE_RATE) / 2.0, N_FREQS);
    let mels = linspace(
        hz_to_mel(0.0),
        hz_to_mel(f64::from(SAMPLE_RATE) / 2.0),
        N_MELS + 2,
    );
    let points: Vec<f32> = mels.iter().map(|&m| mel_to_hz(m)).collect();
    let mut bank = vec![0.0; N_FREQS * N_MELS];
    for (f, &freq) in freqs.iter().enumerate() {
        for m in 0..N_MELS {
            let down = -(points[m] - freq) / (points[m + 1] - points[m]);
            let up = (points[m + 2] - freq) / (points[m + 2] - points[m + 1]);
            bank[f * N_MELS + m] = round_bf16(down.min(up).max(0.0));
        }
    }
    bank
}

/// Computes log-mel features; holds its FFT plan and buffers, so one per thread.
pub struct FrontEnd {
    window: Vec<f32>,
    bank: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd").finish_non_exhaustive()
    }
}

impl Default for FrontEnd {
    fn default() -> Self {
        Self::new()
    }
}

impl FrontEnd {
    /// A front end with GigaAM v3's window and filterbank.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            window: window(),
            bank: filterbank(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            frame: vec![0.0; N_FFT],
            power: vec![0.0; N_FREQS],
            fft,
        }
    }

    /// The features of 16 kHz mono `samples`: `[N_MELS][frames]` (band-major, the models'
    /// `[1, 64, T]` input), [`frame_count`] frames.
    pub fn features(&mut self, samples: &[f32]) -> Vec<f32> {
        let frames = frame_count(samples.len());
        let mut out = vec![0.0; N_MELS * frames];
        for t in 0..frames {
            let start = t * HOP;
            for ((x, &s), &w) in self
                .frame
                .iter_mut()
                .zip(&samples[start..start + N_FFT])
                .zip(&self.window)
            {
                *x = s * w;
            }
            // The lengths are fixed by construction, so the transform cannot fail.
            let _ = self.fft.process_with_scratch(
                &mut self.frame,
                &mut self.spectrum,
                &mut self.scratch,
            );
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.re * c.re + c.im * c.im;
            }
            for m in 0..N_MELS {
                let mut energy = 0.0f32;
                for (f, &p) in self.power.iter().enumerate() {
                    energy += p * self.bank[f * N_MELS + m];
                }
                out[m * frames + t] = energy.clamp(CLAMP_MIN, CLAMP_MAX).ln();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_uncentred_rule() {
        assert_eq!(frame_count(319), 0);
        assert_eq!(frame_count(320), 1);
        assert_eq!(frame_count(479), 1);
        assert_eq!(frame_count(480), 2);
        assert_eq!(frame_count(16_000), 99);
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(round_bf16(1.0), 1.0);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        assert_eq!(round_bf16(1.0 + 2f32.powi(-8)), 1.0);
        assert_eq!(round_bf16(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6));
        assert_eq!(round_bf16(-0.3), -0.30078125);
    }

    #[test]
    fn window_and_filterbank_have_their_shape() {
        let w = window();
        assert_eq!(w[0], 0.0);
        assert_eq!(w[N_FFT / 2], 1.0);
        // Periodic: symmetric about the middle, not about the ends.
        assert_eq!(w[1], w[N_FFT - 1]);
        let bank = filterbank();
        assert_eq!(bank.len(), N_FREQS * N_MELS);
        for m in 0..N_MELS {
            let peak = (0..N_FREQS)
                .map(|f| bank[f * N_MELS + m])
                .fold(0.0, f32::max);
            assert!(peak > 0.0 && peak <= 1.0, "band {m} peaks at {peak}");
        }
    }

    #[test]
    fn a_tone_lights_up_its_band() {
        let tone: Vec<f32> = (0..16_000)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let mut front = FrontEnd::new();
        let features = front.features(&tone);
        let frames = frame_count(tone.len());
        assert_eq!(features.len(), N_MELS * frames);
        let band_of = |t: usize| {
            (0..N_MELS)
                .max_by(|&a, &b| features[a * frames + t].total_cmp(&features[b * frames + t]))
                .unwrap()
        };
        // 1 kHz is mel 1000 of 2840 at 8 kHz: band 22 or so of 64.
        let band = band_of(frames / 2);
        assert!((20..=24).contains(&band), "{band}");
        let silence = front.features(&[0.0; 800]);
        assert!(silence.iter().all(|&x| x == CLAMP_MIN.ln()));
    }
}
