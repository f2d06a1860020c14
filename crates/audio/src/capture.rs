//! Microphone capture: lists input devices, opens one, and turns whatever it delivers (any
//! sample format, rate and channel count) into 16 kHz mono `f32` — or hands the device's own
//! frames through unchanged for recording.
//!
//! cpal calls us on a real-time thread. That callback only converts samples to `f32` while
//! copying them into a lock-free single-producer ring buffer (`rtrb`): no lock, no allocation,
//! no printing. Everything else — downmixing, resampling, noticing errors — happens on the
//! reading side, in [`Capture::read`]. When the reader falls behind and the ring is full, the
//! callback drops the new frames and counts them; [`Capture::dropped_frames`] reports them.
//!
//! Devices come from cpal's default host: its own PulseAudio client when a PulseAudio server
//! (or PipeWire's) is reachable, ALSA otherwise. Going through ALSA's PulseAudio plugin instead
//! makes cpal's capture thread spin on the plugin's poll descriptor (70–90 % of a core measured
//! here while listening to silence, against about 1 % with the direct client).
//!
//! No cpal type appears in this module's public API: devices, configurations and errors are
//! our own plain data, so that upgrading cpal stays a change to this file.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use crate::resample::StreamResampler;
use crate::SAMPLE_RATE;

/// How long the ring buffer can hold the device's audio while the reader is busy.
const RING_SECONDS: f64 = 4.0;
/// How often [`Capture::read`] looks for new frames while it waits.
const POLL: Duration = Duration::from_millis(5);

/// An input device as the system lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Position in [`input_devices`]'s list: what `--device 2` selects.
    pub index: usize,
    /// The system's identifier: a PulseAudio source name (`alsa_input.usb-…`), or for ALSA the
    /// PCM name (`default`, `hw:CARD=0,DEV=0`).
    pub id: String,
    /// A human-readable name (the first line of the system's description, or the id).
    pub name: String,
    /// Whether this is the system's default input.
    pub is_default: bool,
}

/// A range of configurations a device can capture in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRange {
    /// Interleaved channels.
    pub channels: u16,
    /// Lowest sample rate, in hertz.
    pub min_rate: u32,
    /// Highest sample rate, in hertz.
    pub max_rate: u32,
    /// Sample format as cpal names it: `f32`, `i16`, `i24`, `u8`, …
    pub format: String,
}

/// What a device offers for capture, found by opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCapabilities {
    /// The configuration [`Capture::open`] would use (rate = `min_rate` = `max_rate`).
    pub default: Option<ConfigRange>,
    /// Every supported configuration range.
    pub ranges: Vec<ConfigRange>,
}

/// What to capture from, and in what form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Which input: an exact id or name, a device's index in [`input_devices`], or a part of a
    /// name or id that matches one device only (case-insensitive). `None` is the default input.
    pub device: Option<String>,
    /// Hand out the device's own rate and channels (interleaved) instead of 16 kHz mono.
    pub native: bool,
    /// Report the device as gone when it delivers nothing for this long. A working device
    /// delivers frames continuously, silence included; some failures (a sound server that
    /// died under ALSA's PulseAudio plugin) are never reported otherwise. `None` waits forever.
    pub stall_timeout: Option<Duration>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            device: None,
            native: false,
            stall_timeout: Some(Duration::from_secs(5)),
        }
    }
}

/// The configuration a capture runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureInfo {
    /// The device captured from.
    pub device: DeviceInfo,
    /// The device's sample rate, in hertz.
    pub device_rate: u32,
    /// The device's channel count.
    pub device_channels: u16,
    /// The device's sample format (`f32`, `i16`, …).
    pub device_format: String,
    /// Rate of what [`Capture::read`] returns: 16 kHz, or the device's with `native`.
    pub rate: u32,
    /// Interleaved channels of what [`Capture::read`] returns: 1, or the device's with `native`.
    pub channels: u16,
}

/// Broad kinds of device failure, so that callers can decide whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceFailure {
    /// Another program holds the device. Retrying after a while may succeed.
    Busy,
    /// The device is gone (unplugged, its sound server stopped). Retrying makes sense only
    /// once it is back.
    Gone,
    /// The system refused access. Retrying will not help until permissions change.
    PermissionDenied,
    /// The device cannot capture in any configuration rech can use. Retrying will not help.
    Unsupported,
    /// Anything else the audio system reported. Retrying rarely helps.
    Other,
}

impl DeviceFailure {
    fn describe(self) -> &'static str {
        match self {
            Self::Busy => "the device is busy (another program may be using it)",
            Self::Gone => "the device is not available (unplugged, or its sound server stopped)",
            Self::PermissionDenied => "permission denied (is the user in the audio group?)",
            Self::Unsupported => "the device cannot capture in a configuration rech can use",
            Self::Other => "the audio system reported an error",
        }
    }
}

/// Why listing, opening or reading an input device failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The system has no input device at all. Not worth retrying until one is connected.
    #[error("no audio input device found (connect a microphone, or start a sound server such as PulseAudio or PipeWire)")]
    NoDevices,
    /// No device matches what was asked for; `available` lists the input devices.
    #[error("no input device matches {wanted:?}; input devices: {}", list_devices(.available))]
    UnknownDevice {
        /// What was asked for.
        wanted: String,
        /// The input devices there are.
        available: Vec<DeviceInfo>,
    },
    /// A name part matches several devices.
    #[error("{wanted:?} matches several input devices: {}; give the full id or the index", list_devices(.matches))]
    AmbiguousDevice {
        /// What was asked for.
        wanted: String,
        /// The devices it matches.
        matches: Vec<DeviceInfo>,
    },
    /// The device exists but could not be opened for capture.
    #[error("cannot open input device {device:?}: {}{}", .kind.describe(), detail_suffix(.detail))]
    Open {
        /// The device's id.
        device: String,
        /// What kind of failure it was.
        kind: DeviceFailure,
        /// What the audio system said, lowercase.
        detail: String,
    },
    /// The device failed while capturing; what was captured before is still returned.
    #[error("input device {device:?} failed while recording: {}{}", .kind.describe(), detail_suffix(.detail))]
    Stream {
        /// The device's id.
        device: String,
        /// What kind of failure it was.
        kind: DeviceFailure,
        /// What the audio system said, lowercase.
        detail: String,
    },
}

fn list_devices(devices: &[DeviceInfo]) -> String {
    if devices.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = devices
        .iter()
        .map(|d| {
            let default = if d.is_default { ", default" } else { "" };
            if d.name == d.id {
                format!("{} {}{default}", d.index, d.id)
            } else {
                format!("{} {} ({}{default})", d.index, d.id, d.name)
            }
        })
        .collect();
    names.join(", ")
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// Maps cpal's error kinds onto ours.
fn failure_of(err: &cpal::Error) -> DeviceFailure {
    use cpal::ErrorKind as K;
    match err.kind() {
        K::DeviceBusy => DeviceFailure::Busy,
        K::DeviceNotAvailable | K::HostUnavailable | K::StreamInvalidated => DeviceFailure::Gone,
        K::PermissionDenied => DeviceFailure::PermissionDenied,
        K::UnsupportedConfig | K::UnsupportedOperation => DeviceFailure::Unsupported,
        _ => DeviceFailure::Other,
    }
}

/// What the audio system said about `err`, as one lowercase line without a trailing period:
/// the last thing alsa-lib complained about (the most specific), otherwise cpal's message.
fn detail_of(err: &cpal::Error, system: &SystemLog) -> String {
    let text = match (system.last_line(), err.message()) {
        (Some(line), _) => line,
        (None, Some(message)) => message.to_owned(),
        (None, None) => String::new(),
    };
    one_line(&text)
}

/// The first line of `text`, lowercased at the start unless its first word is a name with
/// capitals inside ("ALSA", "PulseAudio"), without a trailing period.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let line = line.trim_end_matches('.');
    let first_word = line.split_whitespace().next().unwrap_or_default();
    if first_word.chars().skip(1).any(char::is_uppercase) {
        line.to_owned()
    } else {
        crate::error::lowercase_first(line)
    }
}

/// cpal reports a sound server that went away as a generic back-end error.
fn refine(kind: DeviceFailure, detail: &str) -> DeviceFailure {
    let lower = detail.to_lowercase();
    if kind == DeviceFailure::Other
        && (lower.contains("connection refused") || lower.contains("broken pipe"))
    {
        DeviceFailure::Gone
    } else {
        kind
    }
}

/// Keeps alsa-lib's messages (it prints to stderr while devices are probed: "Cannot get card
/// index for 0", "Cannot open device /dev/dsp") off the terminal for as long as it lives, on
/// this thread, and keeps the last of them for error messages.
pub(crate) struct SystemLog {
    #[cfg(target_os = "linux")]
    buffer: Option<std::rc::Rc<std::cell::RefCell<alsa::Output>>>,
}

impl SystemLog {
    pub(crate) fn capture() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            buffer: alsa::Output::local_error_handler().ok(),
        }
    }

    pub(crate) fn last_line(&self) -> Option<String> {
        #[cfg(target_os = "linux")]
        if let Some(buffer) = &self.buffer {
            let text = buffer.borrow().to_string();
            return text
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(|l| l.to_owned());
        }
        None
    }
}

/// ALSA plugins that appear in the system's device hints but are no microphone: rate and
/// channel converters that need a slave device, the null device (silence), and the JACK and
/// OSS bridges, which on a typical system only print connection errors. They can still be
/// chosen by their exact id.
const HIDDEN_DEVICES: &[&str] = &[
    "null",
    "lavrate",
    "samplerate",
    "speexrate",
    "speex",
    "upmix",
    "vdownmix",
    "jack",
    "oss",
    "usbstream",
];

/// Lists the devices that can capture, the default first.
///
/// Devices are not opened here (opening some ALSA plugins has side effects); use
/// [`capabilities`] for what a device offers.
pub fn input_devices() -> Result<Vec<DeviceInfo>, CaptureError> {
    let _log = SystemLog::capture();
    Ok(enumerate()?
        .listed
        .into_iter()
        .map(|(info, _)| info)
        .collect())
}

/// Opens `device` briefly to ask which configurations it can capture in.
pub fn capabilities(device: &DeviceInfo) -> Result<DeviceCapabilities, CaptureError> {
    let quiet = SystemLog::capture();
    let dev = enumerate()?
        .find(&device.id)
        .ok_or_else(|| CaptureError::Open {
            device: device.id.clone(),
            kind: DeviceFailure::Gone,
            detail: String::new(),
        })?;
    drop(quiet);
    let log = SystemLog::capture();
    let open_error = |err: cpal::Error| {
        let detail = detail_of(&err, &log);
        CaptureError::Open {
            device: device.id.clone(),
            kind: refine(failure_of(&err), &detail),
            detail,
        }
    };
    let ranges = dev
        .supported_input_configs()
        .map_err(open_error)?
        .map(|range| ConfigRange {
            channels: range.channels(),
            min_rate: range.min_sample_rate(),
            max_rate: range.max_sample_rate(),
            format: range.sample_format().to_string(),
        })
        .collect();
    let default = dev.default_input_config().ok().map(|c| ConfigRange {
        channels: c.channels(),
        min_rate: c.sample_rate(),
        max_rate: c.sample_rate(),
        format: c.sample_format().to_string(),
    });
    Ok(DeviceCapabilities { default, ranges })
}

/// The system's input devices with their cpal handles.
struct Enumeration {
    /// What [`input_devices`] shows, default first, indexed.
    listed: Vec<(DeviceInfo, cpal::Device)>,
    /// Hidden plugins, selectable by exact id only.
    hidden: Vec<(DeviceInfo, cpal::Device)>,
}

impl Enumeration {
    fn find(self, id: &str) -> Option<cpal::Device> {
        self.listed
            .into_iter()
            .chain(self.hidden)
            .find(|(info, _)| info.id == id)
            .map(|(_, dev)| dev)
    }
}

fn enumerate() -> Result<Enumeration, CaptureError> {
    let host = cpal::default_host();
    let default = host.default_input_device();
    let default_id = default.as_ref().and_then(|d| d.id().ok());
    let devices = host.input_devices().map_err(|err| CaptureError::Open {
        device: "(all)".to_owned(),
        kind: failure_of(&err),
        detail: err.message().unwrap_or_default().to_owned(),
    })?;
    let describe = |dev: &cpal::Device, is_default: bool| -> Option<DeviceInfo> {
        let id = dev.id().ok()?.id().to_owned();
        let name = dev
            .description()
            .map(|d| d.name().trim().to_owned())
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.clone());
        Some(DeviceInfo {
            index: 0,
            id,
            name,
            is_default,
        })
    };
    let mut listed = Vec::new();
    let mut hidden = Vec::new();
    for dev in devices {
        let is_default = default_id.is_some() && dev.id().ok() == default_id;
        let Some(info) = describe(&dev, is_default) else {
            continue;
        };
        if HIDDEN_DEVICES.contains(&info.id.as_str()) {
            hidden.push((info, dev));
        } else {
            listed.push((info, dev));
        }
    }
    // The system's default input is not always among its hints (ALSA's `default` is listed
    // only when a sound server configures it); it is the device users mean most often, so it
    // is always offered when there is any input at all.
    if !listed.is_empty() && !listed.iter().any(|(info, _)| info.is_default) {
        if let Some(dev) = default {
            if let Some(info) = describe(&dev, true) {
                let info = DeviceInfo {
                    name: "the system's default input".to_owned(),
                    ..info
                };
                listed.push((info, dev));
            }
        }
    }
    listed.sort_by_key(|(info, _)| !info.is_default);
    for (index, (info, _)) in listed.iter_mut().enumerate() {
        info.index = index;
    }
    Ok(Enumeration { listed, hidden })
}

/// Picks one device from `devices` as [`CaptureOptions::device`] describes.
pub fn select_device<'a>(
    devices: &'a [DeviceInfo],
    wanted: Option<&str>,
) -> Result<&'a DeviceInfo, CaptureError> {
    if devices.is_empty() {
        return Err(CaptureError::NoDevices);
    }
    let unknown = || CaptureError::UnknownDevice {
        wanted: wanted.unwrap_or("default").to_owned(),
        available: devices.to_vec(),
    };
    let Some(wanted) = wanted.map(str::trim) else {
        return devices.iter().find(|d| d.is_default).ok_or_else(unknown);
    };
    if let Some(d) = devices.iter().find(|d| d.id == wanted) {
        return Ok(d);
    }
    if let Some(d) = devices.iter().find(|d| d.name.eq_ignore_ascii_case(wanted)) {
        return Ok(d);
    }
    if !wanted.is_empty() && wanted.bytes().all(|b| b.is_ascii_digit()) {
        return match wanted.parse::<usize>().ok().and_then(|i| devices.get(i)) {
            Some(d) => Ok(d),
            None => Err(unknown()),
        };
    }
    let needle = wanted.to_lowercase();
    let matches: Vec<&DeviceInfo> = devices
        .iter()
        .filter(|d| {
            !needle.is_empty()
                && (d.id.to_lowercase().contains(&needle)
                    || d.name.to_lowercase().contains(&needle))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(unknown()),
        several => Err(CaptureError::AmbiguousDevice {
            wanted: wanted.to_owned(),
            matches: several.iter().map(|d| (*d).clone()).collect(),
        }),
    }
}

/// What the callbacks share with the reader: counters and the first fatal error.
#[derive(Default)]
struct Shared {
    /// Frames the callback could not store because the ring was full.
    dropped_frames: AtomicU64,
    /// Frames the device delivered.
    delivered_frames: AtomicU64,
    /// Overruns the device itself reported (audio lost before it reached us).
    device_overruns: AtomicU64,
    /// Set once by the error callback when the stream cannot go on.
    failed: AtomicBool,
    failure: OnceLock<(DeviceFailure, String)>,
}

/// A running capture from one input device.
///
/// Audio accumulates in a ring buffer from the moment [`Capture::open`] returns; call
/// [`read`](Self::read) often enough (the ring holds about four seconds) to keep up.
pub struct Capture {
    /// `None` once handed away for closing (see `Drop`).
    stream: Option<cpal::Stream>,
    consumer: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
    info: CaptureInfo,
    /// `None` with `native`: frames pass through.
    resampler: Option<StreamResampler>,
    mono: Vec<f32>,
    finished: bool,
    stall_timeout: Option<Duration>,
    /// Frames delivered when last checked, and when that count last grew.
    seen_frames: u64,
    last_delivery: Instant,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Opens the input device `options` names (or the default) in its own default
    /// configuration and starts capturing.
    pub fn open(options: &CaptureOptions) -> Result<Self, CaptureError> {
        let quiet = SystemLog::capture();
        let Enumeration { listed, hidden } = enumerate()?;
        drop(quiet);
        let infos: Vec<DeviceInfo> = listed.iter().map(|(info, _)| info.clone()).collect();
        let wanted = options.device.as_deref().map(str::trim);
        let (info, device) = match hidden
            .into_iter()
            .find(|(info, _)| Some(info.id.as_str()) == wanted)
        {
            Some(exact) => exact,
            None => {
                let chosen = select_device(&infos, wanted)?.index;
                listed
                    .into_iter()
                    .nth(chosen)
                    .ok_or(CaptureError::NoDevices)?
            }
        };
        // A fresh log: only what opening this device says.
        let log = SystemLog::capture();
        let open_error = |err: cpal::Error| {
            let detail = detail_of(&err, &log);
            CaptureError::Open {
                device: info.id.clone(),
                kind: refine(failure_of(&err), &detail),
                detail,
            }
        };
        let config = device.default_input_config().map_err(open_error)?;
        let format = config.sample_format();
        let channels = config.channels();
        let rate = config.sample_rate();
        if channels == 0 {
            return Err(CaptureError::Open {
                device: info.id.clone(),
                kind: DeviceFailure::Unsupported,
                detail: "it reports zero channels".to_owned(),
            });
        }
        let resampler = if options.native {
            None
        } else {
            Some(StreamResampler::new(rate).map_err(|e| CaptureError::Open {
                device: info.id.clone(),
                kind: DeviceFailure::Unsupported,
                detail: e.to_string(),
            })?)
        };
        let capacity = (f64::from(rate) * RING_SECONDS) as usize * usize::from(channels);
        let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(4096));
        let shared = Arc::new(Shared::default());
        let stream_config = cpal::StreamConfig {
            channels,
            sample_rate: rate,
            buffer_size: cpal::BufferSize::Default,
        };
        let stream = match format {
            SampleFormat::I8 => build::<i8>(&device, stream_config, producer, &shared),
            SampleFormat::I16 => build::<i16>(&device, stream_config, producer, &shared),
            SampleFormat::I24 => build::<cpal::I24>(&device, stream_config, producer, &shared),
            SampleFormat::I32 => build::<i32>(&device, stream_config, producer, &shared),
            SampleFormat::I64 => build::<i64>(&device, stream_config, producer, &shared),
            SampleFormat::U8 => build::<u8>(&device, stream_config, producer, &shared),
            SampleFormat::U16 => build::<u16>(&device, stream_config, producer, &shared),
            SampleFormat::U24 => build::<cpal::U24>(&device, stream_config, producer, &shared),
            SampleFormat::U32 => build::<u32>(&device, stream_config, producer, &shared),
            SampleFormat::U64 => build::<u64>(&device, stream_config, producer, &shared),
            SampleFormat::F32 => build::<f32>(&device, stream_config, producer, &shared),
            SampleFormat::F64 => build::<f64>(&device, stream_config, producer, &shared),
            other => {
                return Err(CaptureError::Open {
                    device: info.id.clone(),
                    kind: DeviceFailure::Unsupported,
                    detail: format!("sample format {other} is not supported"),
                })
            }
        }
        .map_err(open_error)?;
        let stream = start(stream, options.stall_timeout).map_err(|e| match e {
            Started::Failed(err) => open_error(err),
            Started::TimedOut(limit) => CaptureError::Open {
                device: info.id.clone(),
                kind: DeviceFailure::Gone,
                detail: format!("it delivered no audio within {:.1} s", limit.as_secs_f64()),
            },
        })?;
        let (out_rate, out_channels) = if options.native {
            (rate, channels)
        } else {
            (SAMPLE_RATE, 1)
        };
        Ok(Self {
            stream: Some(stream),
            consumer,
            shared,
            info: CaptureInfo {
                device: info,
                device_rate: rate,
                device_channels: channels,
                device_format: format.to_string(),
                rate: out_rate,
                channels: out_channels,
            },
            resampler,
            mono: Vec::new(),
            finished: false,
            stall_timeout: options.stall_timeout,
            seen_frames: 0,
            last_delivery: Instant::now(),
        })
    }

    /// The device and formats in use.
    pub fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// Frames lost because [`read`](Self::read) was not called often enough (the ring was
    /// full), plus overruns the device reported. Zero in a healthy capture.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped_frames.load(Ordering::Relaxed)
    }

    /// Overruns the device reported (each loses an unknown amount of audio).
    pub fn device_overruns(&self) -> u64 {
        self.shared.device_overruns.load(Ordering::Relaxed)
    }

    /// Frames the device has delivered so far, at the device's rate.
    pub fn delivered_frames(&self) -> u64 {
        self.shared.delivered_frames.load(Ordering::Relaxed)
    }

    /// Appends the audio captured since the last call to `out` — 16 kHz mono, or the device's
    /// own interleaved frames with `native` — waiting up to `timeout` for some to arrive.
    /// Returns how many samples were appended (zero when the timeout passed first).
    ///
    /// When the device has failed, first everything captured before the failure is returned,
    /// then [`CaptureError::Stream`].
    pub fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Result<usize, CaptureError> {
        let deadline = Instant::now() + timeout;
        loop {
            let before = out.len();
            self.drain(out);
            if out.len() > before {
                return Ok(out.len() - before);
            }
            if self.shared.failed.load(Ordering::Acquire) && self.consumer.is_empty() {
                return Err(self.failure());
            }
            let now = Instant::now();
            let delivered = self.delivered_frames();
            if delivered != self.seen_frames {
                self.seen_frames = delivered;
                self.last_delivery = now;
            } else if let Some(limit) = self.stall_timeout {
                let silent = now - self.last_delivery;
                if silent >= limit && self.consumer.is_empty() {
                    self.shared.failed.store(true, Ordering::Release);
                    return Err(CaptureError::Stream {
                        device: self.info.device.id.clone(),
                        kind: DeviceFailure::Gone,
                        detail: format!("no audio arrived for {:.1} s", silent.as_secs_f64()),
                    });
                }
            }
            if now >= deadline {
                return Ok(0);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// Stops capturing and appends what is left, including the resampler's tail. Call once;
    /// a capture dropped without it simply stops.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if !self.shared.failed.load(Ordering::Acquire) {
            if let Some(stream) = &self.stream {
                let _ = stream.pause();
            }
        }
        self.drain(out);
        if let Some(resampler) = self.resampler.as_mut() {
            resampler.finish(out);
        }
    }

    fn failure(&self) -> CaptureError {
        let (kind, detail) = self
            .shared
            .failure
            .get()
            .cloned()
            .unwrap_or((DeviceFailure::Other, String::new()));
        CaptureError::Stream {
            device: self.info.device.id.clone(),
            kind,
            detail,
        }
    }

    /// Moves everything in the ring into `out`, converted.
    fn drain(&mut self, out: &mut Vec<f32>) {
        let channels = usize::from(self.info.device_channels);
        let available = self.consumer.slots() / channels * channels;
        if available == 0 {
            return;
        }
        let Ok(chunk) = self.consumer.read_chunk(available) else {
            return;
        };
        let (first, second) = chunk.as_slices();
        match self.resampler.as_mut() {
            None => {
                out.extend_from_slice(first);
                out.extend_from_slice(second);
            }
            Some(resampler) => {
                self.mono.clear();
                if channels == 1 {
                    self.mono.extend_from_slice(first);
                    self.mono.extend_from_slice(second);
                } else {
                    // A frame can straddle the two slices: walk the samples as one sequence.
                    let scale = 1.0 / channels as f32;
                    let mut sum = 0.0f32;
                    for (i, &s) in first.iter().chain(second).enumerate() {
                        sum += s;
                        if (i + 1) % channels == 0 {
                            self.mono.push(sum * scale);
                            sum = 0.0;
                        }
                    }
                }
                resampler.push(&self.mono, out);
            }
        }
        chunk.commit_all();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if self.shared.failed.load(Ordering::Acquire) {
            // Closing a failed stream can block for good (ALSA's PulseAudio plugin waits on its
            // dead server's main loop forever): close it on a thread of its own, which the
            // process may leave behind when it exits.
            let _ = std::thread::Builder::new()
                .name("rech-capture-close".into())
                .spawn(move || drop(stream));
        } else {
            let _ = stream.pause();
            drop(stream);
        }
    }
}

/// Why [`start`] failed.
enum Started {
    Failed(cpal::Error),
    TimedOut(Duration),
}

/// Starts `stream`, waiting at most `limit`: cpal's PulseAudio client waits for the first
/// audio before `play` returns, which a source that delivers nothing never sends. A stream
/// that does not start in time is left to its own thread (it cannot be closed either).
fn start(stream: cpal::Stream, limit: Option<Duration>) -> Result<cpal::Stream, Started> {
    let Some(limit) = limit else {
        stream.play().map_err(Started::Failed)?;
        return Ok(stream);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let starter = std::thread::Builder::new()
        .name("rech-start".to_owned())
        .spawn(move || {
            let result = stream.play();
            let _ = tx.send((stream, result));
        });
    if starter.is_err() {
        return Err(Started::Failed(cpal::Error::with_message(
            cpal::ErrorKind::ResourceExhausted,
            "cannot start a thread",
        )));
    }
    match rx.recv_timeout(limit) {
        Ok((stream, Ok(()))) => Ok(stream),
        Ok((_, Err(err))) => Err(Started::Failed(err)),
        Err(_) => Err(Started::TimedOut(limit)),
    }
}

/// Builds the input stream for sample type `T`. The data callback converts to `f32` while it
/// copies whole frames into the ring, and counts the frames that do not fit; it never blocks,
/// locks, allocates or prints.
fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut producer: rtrb::Producer<f32>,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels);
    let on_data = {
        let shared = Arc::clone(shared);
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            let frames = data.len() / channels;
            let fit = frames.min(producer.slots() / channels);
            if let Ok(chunk) = producer.write_chunk_uninit(fit * channels) {
                chunk.fill_from_iter(data.iter().map(|&s| f32::from_sample_(s)));
            }
            shared
                .delivered_frames
                .fetch_add(frames as u64, Ordering::Relaxed);
            if fit < frames {
                shared
                    .dropped_frames
                    .fetch_add((frames - fit) as u64, Ordering::Relaxed);
            }
        }
    };
    let on_error = {
        let shared = Arc::clone(shared);
        move |err: cpal::Error| {
            use cpal::ErrorKind as K;
            match err.kind() {
                // The stream goes on after these.
                K::Xrun => {
                    shared.device_overruns.fetch_add(1, Ordering::Relaxed);
                }
                K::DeviceChanged | K::RealtimeDenied => {}
                // A failing stream may report the same error again and again: keep the first.
                _ if shared.failed.load(Ordering::Acquire) => {}
                _ => {
                    let detail = one_line(err.message().unwrap_or_default());
                    let kind = refine(failure_of(&err), &detail);
                    let _ = shared.failure.set((kind, detail));
                    shared.failed.store(true, Ordering::Release);
                }
            }
        }
    };
    device.build_input_stream::<T, _, _>(config, on_data, on_error, Some(Duration::from_secs(5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(index: usize, id: &str, name: &str, is_default: bool) -> DeviceInfo {
        DeviceInfo {
            index,
            id: id.to_owned(),
            name: name.to_owned(),
            is_default,
        }
    }

    fn devices() -> Vec<DeviceInfo> {
        vec![
            device(0, "default", "Default ALSA Output", true),
            device(1, "pulse", "PulseAudio Sound Server", false),
            device(2, "hw:CARD=USB,DEV=0", "USB Microphone, USB Audio", false),
            device(
                3,
                "plughw:CARD=USB,DEV=0",
                "USB Microphone, USB Audio",
                false,
            ),
        ]
    }

    #[test]
    fn devices_are_found_by_id_name_index_and_unique_part() {
        let all = devices();
        assert_eq!(select_device(&all, None).unwrap().id, "default");
        assert_eq!(select_device(&all, Some("pulse")).unwrap().index, 1);
        assert_eq!(
            select_device(&all, Some("pulseaudio sound server"))
                .unwrap()
                .id,
            "pulse"
        );
        assert_eq!(
            select_device(&all, Some("2")).unwrap().id,
            "hw:CARD=USB,DEV=0"
        );
        assert_eq!(select_device(&all, Some("Sound")).unwrap().id, "pulse");
        assert_eq!(
            select_device(&all, Some("plughw")).unwrap().id,
            "plughw:CARD=USB,DEV=0"
        );
    }

    #[test]
    fn unknown_and_ambiguous_names_list_the_devices() {
        let all = devices();
        let err = select_device(&all, Some("webcam")).unwrap_err().to_string();
        assert!(err.starts_with("no input device matches \"webcam\"; input devices: 0 default (Default ALSA Output, default), 1 pulse"), "{err}");
        assert!(
            err.contains("3 plughw:CARD=USB,DEV=0 (USB Microphone, USB Audio)"),
            "{err}"
        );
        let err = select_device(&all, Some("9")).unwrap_err();
        assert!(matches!(err, CaptureError::UnknownDevice { .. }), "{err}");
        let err = select_device(&all, Some("usb")).unwrap_err().to_string();
        assert!(err.contains("matches several input devices"), "{err}");
        assert_eq!(
            select_device(&[], None).unwrap_err(),
            CaptureError::NoDevices
        );
    }

    #[test]
    fn errors_are_one_lowercase_line() {
        let err = CaptureError::Open {
            device: "default".into(),
            kind: DeviceFailure::Busy,
            detail: "device or resource busy".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot open input device \"default\": the device is busy (another program may be using it) (device or resource busy)"
        );
        assert_eq!(
            one_line("PulseAudio disconnected."),
            "PulseAudio disconnected"
        );
        assert_eq!(
            one_line("ALSA function failed\nmore"),
            "ALSA function failed"
        );
        assert_eq!(one_line("Device busy."), "device busy");
        let text = CaptureError::NoDevices.to_string();
        assert!(!text.contains('\n') && text.starts_with("no audio input"));
    }
}
