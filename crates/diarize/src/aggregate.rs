//! Overlapping windows' frame scores put back on one timeline, as pyannote.audio aggregates
//! them: each window's frames land on the global frame grid at the frame nearest its start,
//! scores are summed (optionally weighted by a Hamming window, with warm-up margins left out)
//! and divided by how many windows covered the frame; and the number of people speaking at
//! once, frame by frame, counted that way.

/// A grid of frames or windows, as pyannote.core's `SlidingWindow`: the first one starts at
/// `start`, each lasts `duration`, one every `step` (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Start of the first, in seconds.
    pub start: f64,
    /// Length of each, in seconds.
    pub duration: f64,
    /// Seconds from one to the next.
    pub step: f64,
}

impl Grid {
    /// The frames of segmentation-3.0's output: its receptive field, 991 samples every 270.
    pub const SEGMENTATION_FRAMES: Grid = Grid {
        start: 0.0,
        duration: 991.0 / 16_000.0,
        step: 270.0 / 16_000.0,
    };

    /// The index of the one whose middle is nearest `t` (ties to even, as numpy's `rint`).
    pub fn closest(&self, t: f64) -> i64 {
        ((t - self.start - 0.5 * self.duration) / self.step).round_ties_even() as i64
    }
}

/// Scores of overlapping windows: `windows` windows on the grid `chunks`, each of `frames`
/// frames of `classes` values, row after row (`NaN` marks a missing value).
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// Where the windows lie.
    pub chunks: Grid,
    /// Frames per window.
    pub frames: usize,
    /// Values per frame.
    pub classes: usize,
    /// `windows × frames × classes` values.
    pub data: Vec<f32>,
}

impl Windows {
    /// How many windows there are.
    pub fn count(&self) -> usize {
        self.data.len() / (self.frames * self.classes).max(1)
    }

    /// The windows without their first and last `warm_up` shares of frames (ratios of a
    /// window), as pyannote.audio's `Inference.trim`.
    pub fn trim(&self, warm_up: (f64, f64)) -> Windows {
        let left = (self.frames as f64 * warm_up.0).round() as usize;
        let right = (self.frames as f64 * warm_up.1).round() as usize;
        let kept = self.frames.saturating_sub(left + right);
        let mut data = Vec::with_capacity(self.count() * kept * self.classes);
        for window in self.data.chunks((self.frames * self.classes).max(1)) {
            if kept == 0 || window.len() < (left + kept) * self.classes {
                continue;
            }
            data.extend_from_slice(&window[left * self.classes..(left + kept) * self.classes]);
        }
        Windows {
            chunks: Grid {
                start: self.chunks.start + warm_up.0 * self.chunks.duration,
                duration: (1.0 - warm_up.0 - warm_up.1) * self.chunks.duration,
                step: self.chunks.step,
            },
            frames: kept,
            classes: self.classes,
            data,
        }
    }
}

/// How windows are aggregated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregateOptions {
    /// Seconds at the start and at the end of every window that count (almost) nothing.
    pub warm_up: (f64, f64),
    /// Weigh each window's frames by a Hamming window.
    pub hamming: bool,
    /// The value of frames no window scored.
    pub missing: f32,
    /// Sum without dividing by the number of windows.
    pub skip_average: bool,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        Self {
            warm_up: (0.0, 0.0),
            hamming: false,
            missing: f32::NAN,
            skip_average: false,
        }
    }
}

/// Weight of what the warm-up margins contribute.
const EPSILON: f64 = 1e-12;

/// The windows' scores on the global frame grid `frames` (its start moved to the windows'):
/// the number of global frames, and their values, row after row.
pub fn aggregate(
    windows: &Windows,
    frames: &Grid,
    options: &AggregateOptions,
) -> (usize, Vec<f32>) {
    let (n, per, classes) = (windows.count(), windows.frames, windows.classes);
    if per == 0 || classes == 0 {
        return (0, Vec::new());
    }
    let frames = Grid {
        start: windows.chunks.start,
        ..*frames
    };
    let hamming: Vec<f64> = (0..per)
        .map(|i| {
            if options.hamming && per > 1 {
                0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (per - 1) as f64).cos()
            } else {
                1.0
            }
        })
        .collect();
    let margin = |seconds: f64| (seconds / windows.chunks.duration * per as f64).round() as usize;
    let (left, right) = (margin(options.warm_up.0), margin(options.warm_up.1));
    let warm: Vec<f64> = (0..per)
        .map(|i| {
            if i < left || i + right >= per {
                EPSILON
            } else {
                1.0
            }
        })
        .collect();
    let total = frames.closest(
        windows.chunks.start
            + windows.chunks.duration
            + n.saturating_sub(1) as f64 * windows.chunks.step
            + 0.5 * frames.duration,
    ) + 1;
    let total = total.max(0) as usize;
    let mut sum = vec![0.0f32; total * classes];
    let mut count = vec![0.0f32; total * classes];
    let mut seen = vec![false; total * classes];
    for (k, window) in windows.data.chunks(per * classes).enumerate() {
        let start = windows.chunks.start + k as f64 * windows.chunks.step;
        let first = frames.closest(start + 0.5 * frames.duration).max(0) as usize;
        for i in 0..per {
            let at = first + i;
            if at >= total {
                break;
            }
            let weight = hamming[i] * warm[i];
            for c in 0..classes {
                let value = window[i * classes + c];
                let cell = at * classes + c;
                if value.is_nan() {
                    continue;
                }
                // numpy adds in double precision and stores single.
                sum[cell] = (f64::from(sum[cell]) + f64::from(value) * weight) as f32;
                count[cell] = (f64::from(count[cell]) + weight) as f32;
                seen[cell] = true;
            }
        }
    }
    let values = sum
        .iter()
        .zip(&count)
        .zip(&seen)
        .map(|((&s, &c), &seen)| {
            if !seen {
                options.missing
            } else if options.skip_average {
                s
            } else {
                s / c.max(EPSILON as f32)
            }
        })
        .collect();
    (total, values)
}

/// How many people speak at once in each global frame: every window's active local speakers
/// counted (after its `warm_up` margins, ratios of a window, are left out), averaged over the
/// windows that cover the frame, rounded to the nearest whole number (ties to even), as
/// pyannote.audio's `speaker_count`.
pub fn speaker_count(binarized: &Windows, frames: &Grid, warm_up: (f64, f64)) -> Vec<u8> {
    let trimmed = binarized.trim(warm_up);
    let summed = Windows {
        chunks: trimmed.chunks,
        frames: trimmed.frames,
        classes: 1,
        data: trimmed
            .data
            .chunks(trimmed.classes.max(1))
            .map(|frame| frame.iter().sum())
            .collect(),
    };
    let options = AggregateOptions {
        missing: 0.0,
        ..AggregateOptions::default()
    };
    aggregate(&summed, frames, &options)
        .1
        .iter()
        .map(|&v| v.round_ties_even().clamp(0.0, 255.0) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_windows_average_where_they_meet() {
        // Two windows of four frames, one frame apart: the grid has six frames, the last
        // one past every window (pyannote.audio's count).
        let windows = Windows {
            chunks: Grid {
                start: 0.0,
                duration: 4.0,
                step: 1.0,
            },
            frames: 4,
            classes: 1,
            data: vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, f32::NAN],
        };
        let frames = Grid {
            start: 0.0,
            duration: 1.0,
            step: 1.0,
        };
        let (n, values) = aggregate(&windows, &frames, &AggregateOptions::default());
        assert_eq!(n, 6);
        assert_eq!(&values[..4], [1.0, 0.5, 0.5, 0.5]);
        assert!(
            values[4..].iter().all(|v| v.is_nan()),
            "no window scored them"
        );
        assert_eq!(
            speaker_count(&windows, &frames, (0.0, 0.0)),
            [1, 0, 0, 0, 0, 0]
        );
        // Warm-up margins that leave nothing, and empty windows, give nothing, not a panic.
        assert!(speaker_count(&windows, &frames, (0.5, 0.5)).is_empty());
        let empty = Windows {
            frames: 0,
            ..windows
        };
        assert_eq!(
            aggregate(&empty, &frames, &AggregateOptions::default()),
            (0, vec![])
        );
    }
}
