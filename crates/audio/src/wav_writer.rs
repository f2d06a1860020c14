//! Writes what a microphone hands us to a 16-bit PCM WAV file as it arrives, and keeps the file
//! valid along the way: the header is brought up to date every second, so that even a
//! recording cut short by a crash or a lost device leaves a file every player can open.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::AudioError;

/// How often the header is rewritten with the current length.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A WAV file being recorded: 16-bit PCM at a fixed rate and channel count.
pub struct WavRecorder {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    path: PathBuf,
    channels: u16,
    rate: u32,
    samples: u64,
    last_flush: Instant,
}

impl std::fmt::Debug for WavRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavRecorder")
            .field("path", &self.path)
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl WavRecorder {
    /// Creates (or truncates) `path` for `channels` interleaved channels at `rate` hertz.
    pub fn create(path: &Path, rate: u32, channels: u16) -> Result<Self, AudioError> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| io_error(path, e))?;
        Ok(Self {
            writer: Some(writer),
            path: path.to_owned(),
            channels,
            rate,
            samples: 0,
            last_flush: Instant::now(),
        })
    }

    /// Appends interleaved samples in -1..1 (louder ones are clipped), whole frames only.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut samples_out = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            samples_out.write_sample(v);
        }
        samples_out.flush().map_err(|e| io_error(&self.path, e))?;
        self.samples += samples.len() as u64;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes buffered samples out and updates the header, so that the file on disk is a
    /// complete WAV file of everything written so far.
    pub fn flush(&mut self) -> Result<(), AudioError> {
        self.last_flush = Instant::now();
        match self.writer.as_mut() {
            Some(writer) => writer.flush().map_err(|e| io_error(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Seconds recorded so far.
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.channels.max(1)) / f64::from(self.rate.max(1))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completes the file; returns the seconds recorded.
    pub fn finalize(mut self) -> Result<f64, AudioError> {
        if let Some(writer) = self.writer.take() {
            writer.finalize().map_err(|e| io_error(&self.path, e))?;
        }
        Ok(self.seconds())
    }
}

fn io_error(path: &Path, err: hound::Error) -> AudioError {
    let source = match err {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    };
    AudioError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_valid_before_and_after_finalize() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.wav");
        let mut rec = WavRecorder::create(&path, 16_000, 1).unwrap();
        rec.write(&[0.0, 0.5, -0.5, 2.0, -2.0]).unwrap();
        rec.flush().unwrap();
        // Readable mid-recording, with the samples so far.
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.len(), 5);
        let seconds = rec.finalize().unwrap();
        assert!((seconds - 5.0 / 16_000.0).abs() < 1e-12);
        let mut reader = hound::WavReader::open(&path).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (16_000, 1, 16)
        );
        let got: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(got, [0, 16384, -16384, 32767, -32767]);
    }

    #[test]
    fn an_unwritable_path_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let err = WavRecorder::create(&dir.path().join("no/such/dir.wav"), 16_000, 1)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("dir.wav: no such file"), "{err}");
    }
}
