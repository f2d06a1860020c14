//! Kaldi's log mel filterbank (`compute-fbank-feats`), as kaldi-native-fbank and torchaudio's
//! `compliance.kaldi.fbank` compute it: frames of 25 ms every 10 ms (only whole frames, Kaldi's
//! `snip_edges`), the DC offset removed, pre-emphasis, a window, the power spectrum of the frame
//! zero-padded to a power of two, triangular mel bands (mel = 1127 ln(1 + f/700)) from 20 Hz to
//! the Nyquist frequency, and the natural log floored at `f32::EPSILON`. No dither: the same
//! input always gives the same features.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// The window applied to each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// `0.54 − 0.46 cos(2πn/(N−1))`: what pyannote's WeSpeaker front end asks for.
    #[default]
    Hamming,
    /// Kaldi's default: the Hann window to the power 0.85.
    Povey,
    /// `0.5 − 0.5 cos(2πn/(N−1))`.
    Hanning,
}

/// How the features are computed; the defaults are the speaker-embedding models'.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FbankOptions {
    /// Input sample rate in hertz.
    pub sample_rate: u32,
    /// Mel bands per frame.
    pub mel_bins: usize,
    /// Frame length in milliseconds.
    pub frame_length_ms: f32,
    /// Frame shift in milliseconds.
    pub frame_shift_ms: f32,
    /// The window.
    pub window: Window,
    /// Pre-emphasis coefficient (0 turns it off).
    pub preemphasis: f32,
    /// Lowest band edge in hertz.
    pub low_freq: f32,
    /// Highest band edge in hertz; zero or less counts from the Nyquist frequency down.
    pub high_freq: f32,
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            mel_bins: 80,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            window: Window::Hamming,
            preemphasis: 0.97,
            low_freq: 20.0,
            high_freq: 0.0,
        }
    }
}

/// Why a filterbank cannot be made with the options given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FbankError {
    /// The options do not make a filterbank (a frame of no samples, bands outside the
    /// spectrum, no bands).
    #[error("invalid filterbank options: {0}")]
    Invalid(String),
}

/// A filterbank ready to run: window, mel weights and FFT plan made once.
pub struct Fbank {
    options: FbankOptions,
    frame_length: usize,
    frame_shift: usize,
    window: Vec<f32>,
    /// Per band: the first FFT bin it weighs and its weights from there.
    bands: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for Fbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fbank")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Kaldi's mel scale.
fn mel(hz: f32) -> f32 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

impl Fbank {
    /// A filterbank for `options`.
    pub fn new(options: FbankOptions) -> Result<Self, FbankError> {
        let invalid = |why: String| Err(FbankError::Invalid(why));
        let rate = options.sample_rate as f32;
        let frame_length = (rate * options.frame_length_ms / 1000.0) as usize;
        let frame_shift = (rate * options.frame_shift_ms / 1000.0) as usize;
        if frame_length == 0 || frame_shift == 0 || options.mel_bins == 0 {
            return invalid(format!("{options:?}"));
        }
        let padded = frame_length.next_power_of_two();
        let nyquist = rate / 2.0;
        let high = if options.high_freq > 0.0 {
            options.high_freq
        } else {
            nyquist + options.high_freq
        };
        if !(0.0 <= options.low_freq && options.low_freq < high && high <= nyquist) {
            return invalid(format!(
                "bands from {} Hz to {high} Hz at {rate} Hz",
                options.low_freq
            ));
        }
        let n = frame_length as f64;
        let window = (0..frame_length)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * i as f64 / (n - 1.0);
                let hann = 0.5 - 0.5 * phase.cos();
                (match options.window {
                    Window::Hamming => 0.54 - 0.46 * phase.cos(),
                    Window::Povey => hann.powf(0.85),
                    Window::Hanning => hann,
                }) as f32
            })
            .collect();
        // Kaldi's bands: evenly spaced in mel, each a triangle over the FFT bins below the
        // Nyquist bin whose mel lies strictly inside it.
        let (mel_low, mel_high) = (mel(options.low_freq), mel(high));
        let delta = (mel_high - mel_low) / (options.mel_bins + 1) as f32;
        let bin_width = rate / padded as f32;
        let bands = (0..options.mel_bins)
            .map(|b| {
                let left = mel_low + b as f32 * delta;
                let (center, right) = (left + delta, left + 2.0 * delta);
                let weights: Vec<(usize, f32)> = (0..padded / 2)
                    .filter_map(|i| {
                        let m = mel(bin_width * i as f32);
                        if m > left && m < right {
                            let w = if m <= center {
                                (m - left) / (center - left)
                            } else {
                                (right - m) / (right - center)
                            };
                            Some((i, w))
                        } else {
                            None
                        }
                    })
                    .collect();
                let first = weights.first().map_or(0, |&(i, _)| i);
                (first, weights.into_iter().map(|(_, w)| w).collect())
            })
            .collect();
        Ok(Self {
            options,
            frame_length,
            frame_shift,
            window,
            bands,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(padded),
        })
    }

    /// Mel bands per frame.
    pub fn bins(&self) -> usize {
        self.options.mel_bins
    }

    /// Whole frames in `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        if samples < self.frame_length {
            0
        } else {
            1 + (samples - self.frame_length) / self.frame_shift
        }
    }

    /// The features of `samples`: [`Self::frames`] rows of [`Self::bins`] values, row after
    /// row. Samples are taken as they are: Kaldi-trained models expect 16-bit sample values
    /// (multiply `[-1, 1]` audio by 32768).
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let frames = self.frames(samples.len());
        let mut out = Vec::with_capacity(frames * self.bins());
        let mut frame = self.fft.make_input_vec();
        let mut spectrum: Vec<Complex<f32>> = self.fft.make_output_vec();
        let mut power = vec![0.0f32; spectrum.len()];
        for f in 0..frames {
            let start = f * self.frame_shift;
            let input = &samples[start..start + self.frame_length];
            let mean = input.iter().sum::<f32>() / self.frame_length as f32;
            frame.iter_mut().for_each(|x| *x = 0.0);
            for (x, &s) in frame.iter_mut().zip(input) {
                *x = s - mean;
            }
            let k = self.options.preemphasis;
            if k != 0.0 {
                for i in (1..self.frame_length).rev() {
                    frame[i] -= k * frame[i - 1];
                }
                frame[0] -= k * frame[0];
            }
            for (x, w) in frame.iter_mut().zip(&self.window) {
                *x *= w;
            }
            // The input is scratch space for the FFT; its lengths always match.
            let _ = self.fft.process(&mut frame, &mut spectrum);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (first, weights) in &self.bands {
                let energy: f32 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                out.push(energy.max(f32::EPSILON).ln());
            }
        }
        out
    }
}

/// Subtracts each band's mean over all frames (cepstral mean normalisation), as speaker
/// embedding front ends do before the network.
pub fn subtract_mean(features: &mut [f32], bins: usize) {
    if bins == 0 || features.len() < bins {
        return;
    }
    let frames = features.len() / bins;
    let mut means = vec![0.0f64; bins];
    for row in features.chunks_exact(bins) {
        for (m, &v) in means.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    for row in features.chunks_exact_mut(bins) {
        for (v, m) in row.iter_mut().zip(&means) {
            *v -= (*m / frames as f64) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_whole_and_bands_cover_the_spectrum_once_each_way() {
        let fbank = Fbank::new(FbankOptions::default()).unwrap();
        assert_eq!(fbank.frames(399), 0);
        assert_eq!(fbank.frames(400), 1);
        assert_eq!(fbank.frames(16_000), 98);
        // Neighbouring triangles overlap so that, between the first band's centre and the
        // last one's, the weights of every FFT bin add to 1.
        let mut sum = vec![0.0f32; 256];
        for (first, weights) in &fbank.bands {
            for (i, w) in weights.iter().enumerate() {
                sum[first + i] += w;
            }
        }
        let delta = (mel(8000.0) - mel(20.0)) / 81.0;
        let inside = |i: usize| {
            let m = mel(31.25 * i as f32);
            m >= mel(20.0) + delta && m <= mel(20.0) + 80.0 * delta
        };
        let checked: Vec<usize> = (0..256).filter(|&i| inside(i)).collect();
        assert!(checked.len() > 230, "{}", checked.len());
        for i in checked {
            assert!((sum[i] - 1.0).abs() < 1e-4, "bin {i}: {}", sum[i]);
        }
    }

    #[test]
    fn silence_is_the_floor_and_a_tone_lights_its_band() {
        let fbank = Fbank::new(FbankOptions::default()).unwrap();
        let silent = fbank.compute(&[0.0; 1600]);
        assert!(silent.iter().all(|&v| v == f32::EPSILON.ln()));
        let tone: Vec<f32> = (0..1600)
            .map(|i| 10_000.0 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let features = fbank.compute(&tone);
        let first = &features[..80];
        let loudest = (0..80)
            .max_by(|&a, &b| first[a].total_cmp(&first[b]))
            .unwrap();
        // 1 kHz is mel 999.99: band 24 of 80 between mel(20) and mel(8000) peaks nearest it.
        let centre = |b: usize| {
            let (lo, hi) = (mel(20.0), mel(8000.0));
            lo + (b + 1) as f32 * (hi - lo) / 81.0
        };
        assert!((centre(loudest) - mel(1000.0)).abs() < (mel(8000.0) - mel(20.0)) / 81.0);
    }

    #[test]
    fn the_mean_of_every_band_is_taken_out() {
        let mut features = vec![1.0, 10.0, 3.0, 20.0];
        subtract_mean(&mut features, 2);
        assert_eq!(features, [-1.0, -5.0, 1.0, 5.0]);
    }
}
