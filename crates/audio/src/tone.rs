//! Two short notes on the default output device: the sound push-to-talk plays when listening
//! starts (rising) and stops (falling), through the same audio system as capture (cpal: its
//! PulseAudio client, else ALSA), with no player program and no GUI toolkit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use crate::capture::SystemLog;

/// Which cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Listening started: two rising notes.
    Start,
    /// Listening stopped: two falling notes.
    Stop,
}

impl Tone {
    /// The notes, in hertz, each [`NOTE`] long.
    pub fn notes(self) -> [f32; 2] {
        match self {
            Self::Start => [660.0, 880.0],
            Self::Stop => [880.0, 660.0],
        }
    }
}

/// How long each note lasts.
pub const NOTE: Duration = Duration::from_millis(70);
/// Loud enough to hear, well below full scale.
const LEVEL: f32 = 0.25;
/// Fade in and out of each note, so that it starts and ends without a click.
const FADE: Duration = Duration::from_millis(6);
/// The longest a tone waits to be played out (a sound server may buffer up to two seconds
/// before it starts a stream).
const LONGEST: Duration = Duration::from_secs(3);

/// Why a tone cannot be played.
#[derive(Debug, thiserror::Error)]
#[error("cannot play a sound on the default output: {0}")]
pub struct ToneError(String);

/// The default output device and its format, checked: playing on it later should work.
#[derive(Debug, Clone)]
pub struct Speaker {
    name: String,
}

impl Speaker {
    /// Finds the default output device and its default format.
    pub fn open() -> Result<Self, ToneError> {
        let (device, _) = default_output()?;
        let name = device
            .description()
            .map(|d| d.name().trim().to_owned())
            .unwrap_or_else(|_| "the default output".to_owned());
        Ok(Self { name })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Plays `tone` and returns once it has been played (about 150 ms).
    pub fn play(&self, tone: Tone) -> Result<(), ToneError> {
        play(tone)
    }
}

fn default_output() -> Result<(cpal::Device, cpal::SupportedStreamConfig), ToneError> {
    // alsa-lib's complaints stay off the terminal; the last one explains a failure.
    let log = SystemLog::capture();
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or_else(|| ToneError("there is no output device".to_owned()))?;
    let config = device.default_output_config().map_err(|e| {
        let said = log
            .last_line()
            .or_else(|| e.message().map(str::to_owned))
            .unwrap_or_else(|| "no usable format".to_owned());
        ToneError(said)
    })?;
    Ok((device, config))
}

/// The tone's samples, mono, at `rate`.
pub fn samples(tone: Tone, rate: u32) -> Vec<f32> {
    let per_note = (NOTE.as_secs_f64() * f64::from(rate)) as usize;
    let fade = (FADE.as_secs_f64() * f64::from(rate)).max(1.0) as usize;
    let mut out = Vec::with_capacity(per_note * 2);
    for frequency in tone.notes() {
        let step = std::f32::consts::TAU * frequency / rate as f32;
        for i in 0..per_note {
            let edge = i.min(per_note - 1 - i);
            let envelope = (edge as f32 / fade as f32).min(1.0);
            out.push(LEVEL * envelope * (step * i as f32).sin());
        }
    }
    out
}

/// Plays `tone` on the default output device; returns once it has been played.
pub fn play(tone: Tone) -> Result<(), ToneError> {
    let (device, config) = default_output()?;
    let rate = config.sample_rate();
    let channels = usize::from(config.channels().max(1));
    let wave = Arc::new(samples(tone, rate));
    // A 20 ms buffer: the sound server then starts the stream at once and reports when the
    // notes will be heard (with its default buffer it may hold seconds before it plays).
    let stream_config = cpal::StreamConfig {
        channels: config.channels(),
        sample_rate: rate,
        buffer_size: cpal::BufferSize::Fixed(rate / 50),
    };
    let heard = Arc::new(Mutex::new(None));
    let played = Played {
        wave: Arc::clone(&wave),
        channels,
        rate,
        heard: Arc::clone(&heard),
    };
    let stream = match config.sample_format() {
        SampleFormat::F32 => build::<f32>(&device, &stream_config, played),
        SampleFormat::I16 => build::<i16>(&device, &stream_config, played),
        SampleFormat::I32 => build::<i32>(&device, &stream_config, played),
        SampleFormat::U16 => build::<u16>(&device, &stream_config, played),
        SampleFormat::F64 => build::<f64>(&device, &stream_config, played),
        other => {
            return Err(ToneError(format!(
                "its sample format {other} is not supported"
            )))
        }
    }
    .map_err(|e| ToneError(e.message().unwrap_or("it cannot be opened").to_owned()))?;
    stream
        .play()
        .map_err(|e| ToneError(e.message().unwrap_or("it does not start").to_owned()))?;
    // Open until the device has played the notes: the stream's callback says when the last
    // of them will be heard.
    let opened = Instant::now();
    loop {
        let until = *heard.lock().unwrap_or_else(|p| p.into_inner());
        match until {
            Some(at) if Instant::now() >= at => break,
            _ if opened.elapsed() >= LONGEST => break,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    Ok(())
}

/// What a tone's stream plays, and when its last note will have been heard.
struct Played {
    wave: Arc<Vec<f32>>,
    channels: usize,
    rate: u32,
    heard: Arc<Mutex<Option<Instant>>>,
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    played: Played,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let Played {
        wave,
        channels,
        rate,
        heard,
    } = played;
    let position = AtomicUsize::new(0);
    let on_data = move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
        let start = position.load(Ordering::Relaxed);
        let mut at = start;
        for frame in data.chunks_mut(channels) {
            let value = wave.get(at).copied().unwrap_or(0.0);
            for sample in frame {
                *sample = T::from_sample(value);
            }
            at += 1;
        }
        position.store(at, Ordering::Relaxed);
        if start < wave.len() && at >= wave.len() {
            // The buffer holding the end of the tone is played this long from now.
            let stamp = info.timestamp();
            let delay = stamp.playback.duration_since(stamp.callback);
            let into = Duration::from_secs_f64((wave.len() - start) as f64 / f64::from(rate));
            let mut heard = heard.lock().unwrap_or_else(|p| p.into_inner());
            *heard = Some(Instant::now() + delay + into + Duration::from_millis(50));
        }
    };
    // A failing tone is not worth more than its silence: the cue is a courtesy.
    let on_error = |_: cpal::Error| {};
    device.build_output_stream::<T, _, _>(*config, on_data, on_error, Some(Duration::from_secs(5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_rise_to_start_and_fall_to_stop_without_clicks() {
        let wave = samples(Tone::Start, 16_000);
        let per_note = 16_000 * 70 / 1000;
        assert_eq!(wave.len(), per_note * 2);
        // Each note starts and ends at silence and peaks at the level.
        for note in wave.chunks(per_note) {
            assert!(note[0].abs() < 1e-6 && note[per_note - 1].abs() < 0.05);
            let peak = note.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            assert!((peak - LEVEL).abs() < 0.01, "{peak}");
        }
        // Zero crossings give the pitch: 660 then 880 Hz.
        let pitch = |note: &[f32]| {
            let crossings = note
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count();
            crossings as f32 / 2.0 / 0.07
        };
        let (first, second) = wave.split_at(per_note);
        assert!((pitch(first) - 660.0).abs() < 20.0, "{}", pitch(first));
        assert!((pitch(second) - 880.0).abs() < 20.0, "{}", pitch(second));
        assert_eq!(Tone::Stop.notes(), [880.0, 660.0]);
    }
}
