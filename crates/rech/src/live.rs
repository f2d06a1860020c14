//! Live dictation's driver: a source (the microphone, or a file at its own pace or at real
//! time) read on a thread of its own, so that capture never waits for decoding, and the loop
//! that hands everything that has piled up to a [`Dictation`] at once, which keeps it in step
//! with real time however long a decode takes. With a [`Control`] socket, dictation listens
//! only between `start` and `stop` (push-to-talk): the microphone is closed while stopped, a
//! file's stream kept for the next start, and the phrase under way finalised at each stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rech_asr::{CancelToken, Dictation, DictationEvent};
use rech_audio::{AudioError, AudioStream};

use crate::control::Control;

/// Samples per chunk a file source sends: 100 ms, as a microphone would deliver them.
const FILE_CHUNK: usize = 1_600;

/// Why a live source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The file could not be read.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The microphone failed (it went away, or could not be opened).
    #[cfg(feature = "capture")]
    #[error(transparent)]
    Capture(#[from] rech_audio::CaptureError),
    /// The reading thread could not be started.
    #[error("cannot start the {0} thread")]
    Thread(&'static str),
    /// A file source was started again after it had ended.
    #[error("the input has already ended")]
    Ended,
}

/// What the source thread sends.
enum Chunk {
    Audio(Vec<f32>),
    /// The source failed; what it captured before has been sent.
    Failed(LiveError),
}

/// Where live audio comes from.
pub enum Source {
    /// A microphone, opened at each start and closed at each stop.
    #[cfg(feature = "capture")]
    Microphone(rech_audio::CaptureOptions),
    /// A file read in microphone-sized chunks.
    File {
        /// `None` while its reader thread has it, and once it has ended.
        stream: Option<Box<AudioStream>>,
        /// At real-time pace (as a microphone would deliver it), rather than as fast as it
        /// decodes.
        realtime: bool,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "capture")]
            Self::Microphone(options) => f.debug_tuple("Microphone").field(options).finish(),
            Self::File { realtime, stream } => f
                .debug_struct("File")
                .field("realtime", realtime)
                .field("ended", &stream.is_none())
                .finish(),
        }
    }
}

/// A source being read: its chunks, and the thread that reads them.
pub struct Feed {
    rx: Receiver<Chunk>,
    thread: JoinHandle<Leftover>,
    stop: Arc<AtomicBool>,
    /// The device, its rate, channels and sample format (a microphone).
    #[cfg(feature = "capture")]
    pub capture: Option<rech_audio::CaptureInfo>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

/// What a reading thread hands back when it ends.
struct Leftover {
    /// A file's stream, when it was stopped before its end.
    stream: Option<Box<AudioStream>>,
    /// Frames the microphone lost, and its rate.
    dropped: (u64, u32),
}

/// What a stopped source reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stopped {
    /// Frames of audio the microphone lost because the system was too busy to take them.
    pub dropped_frames: u64,
    /// The device's rate, to turn them into time.
    pub device_rate: u32,
}

impl Source {
    /// Opens `path` as a file source.
    pub fn file(path: &std::path::Path, realtime: bool) -> Result<Self, LiveError> {
        Ok(Self::File {
            stream: Some(Box::new(rech_audio::open(path)?)),
            realtime,
        })
    }

    /// A microphone source; the device is opened and closed once now, so that a missing or
    /// broken one fails before any model is loaded (it is opened for good at each start, so
    /// that no audio piles up meanwhile).
    #[cfg(feature = "capture")]
    pub fn microphone(options: rech_audio::CaptureOptions) -> Result<Self, LiveError> {
        drop(rech_audio::Capture::open(&options)?);
        Ok(Self::Microphone(options))
    }

    /// Whether a file source has ended.
    pub fn ended(&self) -> bool {
        matches!(self, Self::File { stream: None, .. })
    }

    /// Opens the microphone, or resumes reading the file, on a thread of its own; `clock` is
    /// set when the first audio is taken (event times count from it).
    pub fn start(&mut self, clock: &Arc<OnceLock<Instant>>) -> Result<Feed, LiveError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let clock = Arc::clone(clock);
        match self {
            #[cfg(feature = "capture")]
            Self::Microphone(options) => {
                // 25 s of 100 ms chunks: room for a slow decode, and the capture's own ring
                // after.
                let (tx, rx) = mpsc::sync_channel(256);
                let mut capture = rech_audio::Capture::open(options)?;
                let info = capture.info().clone();
                let thread = std::thread::Builder::new()
                    .name("rech-capture".into())
                    .spawn(move || {
                        let _ = clock.set(Instant::now());
                        capture_loop(&mut capture, &tx, &stopped);
                        Leftover {
                            stream: None,
                            dropped: (capture.dropped_frames(), capture.info().device_rate),
                        }
                    })
                    .map_err(|_| LiveError::Thread("capture"))?;
                Ok(Feed {
                    rx,
                    thread,
                    stop,
                    capture: Some(info),
                })
            }
            Self::File { stream, realtime } => {
                let stream = stream.take().ok_or(LiveError::Ended)?;
                let realtime = *realtime;
                let (tx, rx) = mpsc::sync_channel(if realtime { 256 } else { 16 });
                let thread = std::thread::Builder::new()
                    .name("rech-reader".into())
                    .spawn(move || Leftover {
                        stream: file_loop(stream, realtime, &tx, &stopped, &clock),
                        dropped: (0, 0),
                    })
                    .map_err(|_| LiveError::Thread("reader"))?;
                Ok(Feed {
                    rx,
                    thread,
                    stop,
                    #[cfg(feature = "capture")]
                    capture: None,
                })
            }
        }
    }

    /// Stops the thread (closing the microphone) and keeps what is left of a file.
    pub fn stop(&mut self, feed: Feed) -> Stopped {
        feed.stop.store(true, Ordering::SeqCst);
        // Unblock a source waiting on a full channel, then let it end.
        drop(feed.rx);
        let Ok(leftover) = feed.thread.join() else {
            return Stopped::default();
        };
        // Without the `capture` feature a file is the only source.
        #[allow(irrefutable_let_patterns)]
        if let Self::File { stream, .. } = self {
            *stream = leftover.stream;
        }
        Stopped {
            dropped_frames: leftover.dropped.0,
            device_rate: leftover.dropped.1,
        }
    }
}

/// Why listening ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Heard {
    /// The file ended.
    Ended,
    /// The control socket said stop.
    Stopped,
    /// The cancel token was raised.
    Cancelled,
    /// The source failed; what it delivered before has been heard.
    Failed(LiveError),
}

/// Feeds `dictation` from `feed` until the source ends or fails, `cancel` is raised, or (with a
/// `control`) a stop; everything captured before a stop is heard, and every batch of events
/// goes to `on_events`. The utterance under way is left to the caller to finalise
/// ([`Dictation::finish`] or [`Dictation::restart`]).
pub fn listen<E: From<rech_asr::Error>>(
    dictation: &mut Dictation,
    feed: &Feed,
    cancel: &CancelToken,
    control: Option<&Control>,
    on_events: &mut dyn FnMut(&[DictationEvent]) -> Result<(), E>,
) -> Result<Heard, E> {
    let mut pending = Vec::new();
    loop {
        if cancel.is_cancelled() {
            return Ok(Heard::Cancelled);
        }
        let stopping = control.is_some_and(|c| !c.listening());
        if !stopping {
            match feed.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Chunk::Audio(samples)) => pending.extend_from_slice(&samples),
                Ok(Chunk::Failed(err)) => {
                    on_events(&dictation.push(&pending)?)?;
                    return Ok(Heard::Failed(err));
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(Heard::Ended),
            }
        }
        // Whatever else has piled up goes in with it.
        let mut failure = None;
        loop {
            match feed.rx.try_recv() {
                Ok(Chunk::Audio(samples)) => pending.extend_from_slice(&samples),
                Ok(Chunk::Failed(err)) => {
                    failure = Some(err);
                    break;
                }
                Err(_) => break,
            }
        }
        let events = dictation.push(&pending)?;
        pending.clear();
        on_events(&events)?;
        if let Some(err) = failure {
            return Ok(Heard::Failed(err));
        }
        if stopping {
            return Ok(Heard::Stopped);
        }
    }
}

/// What push-to-talk tells its caller, besides the dictation's events.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushToTalk<'a> {
    /// Waiting for `start`.
    Waiting,
    /// Listening: the source was started.
    Listening(&'a Feed),
    /// Stopped by the control socket; the phrase under way was finalised.
    Stopped(Stopped),
    /// The dictation's events.
    Events(&'a [DictationEvent]),
}

/// Push-to-talk: waits for `start` on `control`, listens until `stop`, finalises the phrase
/// under way, and waits again; the source is closed while stopped. Ends when a file source
/// ends ([`Heard::Ended`]), `cancel` is raised, or the source fails.
pub fn push_to_talk<E>(
    dictation: &mut Dictation,
    source: &mut Source,
    control: &Control,
    clock: &Arc<OnceLock<Instant>>,
    cancel: &CancelToken,
    on: &mut dyn FnMut(PushToTalk<'_>) -> Result<(), E>,
) -> Result<Heard, E>
where
    E: From<rech_asr::Error> + From<LiveError>,
{
    on(PushToTalk::Waiting)?;
    loop {
        while !control.listening() {
            if cancel.is_cancelled() {
                return Ok(Heard::Cancelled);
            }
            control.wait(Duration::from_millis(100));
        }
        if source.ended() {
            return Ok(Heard::Ended);
        }
        let feed = source.start(clock)?;
        on(PushToTalk::Listening(&feed))?;
        let heard = listen(dictation, &feed, cancel, Some(control), &mut |events| {
            on(PushToTalk::Events(events))
        });
        let stopped = source.stop(feed);
        on(PushToTalk::Events(&dictation.restart()?))?;
        match heard? {
            Heard::Stopped => on(PushToTalk::Stopped(stopped))?,
            other => return Ok(other),
        }
    }
}

#[cfg(feature = "capture")]
fn capture_loop(capture: &mut rech_audio::Capture, tx: &SyncSender<Chunk>, stop: &AtomicBool) {
    let mut buf = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        buf.clear();
        match capture.read(&mut buf, Duration::from_millis(100)) {
            Ok(0) => {}
            Ok(_) => {
                if tx.send(Chunk::Audio(std::mem::take(&mut buf))).is_err() {
                    return;
                }
            }
            Err(err) => {
                let _ = tx.send(Chunk::Failed(err.into()));
                return;
            }
        }
    }
}

/// Sends the file in microphone-sized chunks; returns the stream when stopped before its end.
fn file_loop(
    mut stream: Box<AudioStream>,
    realtime: bool,
    tx: &SyncSender<Chunk>,
    stop: &AtomicBool,
    clock: &OnceLock<Instant>,
) -> Option<Box<AudioStream>> {
    clock.get_or_init(Instant::now);
    // Real-time pace counts from this start: a stopped file does not catch up afterwards.
    let start = Instant::now();
    let mut decoded = Vec::new();
    let mut sent: u64 = 0;
    let mut more = true;
    while !stop.load(Ordering::SeqCst) && (more || !decoded.is_empty()) {
        while more && decoded.len() < FILE_CHUNK {
            match stream.next_chunk(&mut decoded) {
                Ok(m) => more = m,
                Err(err) => {
                    let _ = tx.send(Chunk::Failed(err.into()));
                    return None;
                }
            }
        }
        let n = decoded.len().min(FILE_CHUNK);
        let chunk: Vec<f32> = decoded.drain(..n).collect();
        sent += n as u64;
        if realtime {
            // A microphone delivers a chunk once its last sample has been spoken.
            let due = start + Duration::from_secs_f64(sent as f64 / 16_000.0);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        if tx.send(Chunk::Audio(chunk)).is_err() {
            break;
        }
    }
    // Stopped with audio left: what was decoded ahead is dropped, as a microphone's would be.
    (more && stop.load(Ordering::SeqCst)).then_some(stream)
}
