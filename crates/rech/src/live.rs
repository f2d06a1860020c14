//! Live dictation's driver: a source (the microphone, or a file at its own pace or at real
//! time) read on a thread of its own, so that capture never waits for decoding, and the loop
//! that hands everything that has piled up to a [`Dictation`] at once, which keeps it in step
//! with real time however long a decode takes. With a [`Control`], dictation listens only
//! between `start` and `stop` (push-to-talk): the phrase under way is finalised at each stop,
//! a file's stream kept for the next start, and the microphone either closed while stopped
//! (`Source::microphone`, feature `capture`) or kept open into a short ring of the last moments
//! (`Source::microphone_kept_open`), so that a phrase spoken right at the press keeps its
//! first syllable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
#[cfg(feature = "capture")]
use std::sync::Mutex;
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
    /// A microphone kept open while stopped, its last moments in a ring that each start hands
    /// over first.
    #[cfg(feature = "capture")]
    OpenMicrophone(Standby),
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
            #[cfg(feature = "capture")]
            Self::OpenMicrophone(standby) => f
                .debug_struct("OpenMicrophone")
                .field("pre_roll", &standby.keep)
                .finish(),
            Self::File { realtime, stream } => f
                .debug_struct("File")
                .field("realtime", realtime)
                .field("ended", &stream.is_none())
                .finish(),
        }
    }
}

/// A source being read: its chunks, and the thread that reads them (a kept-open microphone's
/// thread outlives its feeds).
pub struct Feed {
    rx: Receiver<Chunk>,
    thread: Option<JoinHandle<Leftover>>,
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

    /// A microphone opened now and kept open until the source is dropped: while stopped, the
    /// last `pre_roll` of audio is kept in a ring (neither decoded nor stored), and each start
    /// hands it over before the live audio, so that a phrase begins that long before the
    /// press.
    #[cfg(feature = "capture")]
    pub fn microphone_kept_open(
        options: rech_audio::CaptureOptions,
        pre_roll: Duration,
        clock: &Arc<OnceLock<Instant>>,
    ) -> Result<Self, LiveError> {
        Ok(Self::OpenMicrophone(Standby::open(
            &options, pre_roll, clock,
        )?))
    }

    /// The microphone's device, rate and format, when it is kept open.
    #[cfg(feature = "capture")]
    pub fn kept_open(&self) -> Option<&rech_audio::CaptureInfo> {
        match self {
            Self::OpenMicrophone(standby) => Some(&standby.info),
            _ => None,
        }
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
                let opening = Instant::now();
                let mut capture = rech_audio::Capture::open(options)?;
                let info = capture.info().clone();
                let thread = std::thread::Builder::new()
                    .name("rech-capture".into())
                    .spawn(move || {
                        let _ = clock.set(Instant::now());
                        capture_loop(&mut capture, &tx, &stopped, opening);
                        Leftover {
                            stream: None,
                            dropped: (capture.dropped_frames(), capture.info().device_rate),
                        }
                    })
                    .map_err(|_| LiveError::Thread("capture"))?;
                Ok(Feed {
                    rx,
                    thread: Some(thread),
                    stop,
                    capture: Some(info),
                })
            }
            #[cfg(feature = "capture")]
            Self::OpenMicrophone(standby) => standby.feed(stop),
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
                    thread: Some(thread),
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
        #[cfg(feature = "capture")]
        if let Self::OpenMicrophone(standby) = self {
            return standby.pause();
        }
        let Some(Ok(leftover)) = feed.thread.map(JoinHandle::join) else {
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
    listen_and_tap(dictation, feed, cancel, control, &mut |heard| match heard {
        Listened::Events(events) => on_events(events),
        Listened::Audio(_) => Ok(()),
    })
}

/// What [`listen_and_tap`] hands its caller: the audio, just before the recogniser gets it,
/// and the events that came of it.
enum Listened<'a> {
    Audio(&'a [f32]),
    Events(&'a [DictationEvent]),
}

fn listen_and_tap<E: From<rech_asr::Error>>(
    dictation: &mut Dictation,
    feed: &Feed,
    cancel: &CancelToken,
    control: Option<&Control>,
    on: &mut dyn FnMut(Listened<'_>) -> Result<(), E>,
) -> Result<Heard, E> {
    let mut pending = Vec::new();
    let mut hear = |dictation: &mut Dictation, pending: &mut Vec<f32>| -> Result<(), E> {
        if !pending.is_empty() {
            on(Listened::Audio(pending))?;
        }
        let events = dictation.push(pending)?;
        pending.clear();
        on(Listened::Events(&events))
    };
    loop {
        if cancel.is_cancelled() {
            return Ok(Heard::Cancelled);
        }
        let stopping = control.is_some_and(|c| !c.listening());
        if !stopping {
            // With a control, a stop is seen within 20 ms: the release of a push-to-talk key
            // is waited on by the user.
            let wait = Duration::from_millis(if control.is_some() { 20 } else { 100 });
            match feed.rx.recv_timeout(wait) {
                Ok(Chunk::Audio(samples)) => pending.extend_from_slice(&samples),
                Ok(Chunk::Failed(err)) => {
                    hear(dictation, &mut pending)?;
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
        hear(dictation, &mut pending)?;
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
    /// Stopped by the control; the phrase under way was finalised.
    Stopped(Stopped),
    /// The dictation's events.
    Events(&'a [DictationEvent]),
    /// Audio about to be given to the recogniser (for keeping what each phrase heard).
    Heard(&'a [f32]),
}

/// Push-to-talk: waits for `start` on `control`, listens until `stop`, finalises the phrase
/// under way, and waits again; while stopped, nothing is read from a file, a microphone is closed
/// or (kept open) only fills its ring. Ends when a file source
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
        let heard = listen_and_tap(dictation, &feed, cancel, Some(control), &mut |heard| {
            on(match heard {
                Listened::Audio(samples) => PushToTalk::Heard(samples),
                Listened::Events(events) => PushToTalk::Events(events),
            })
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
fn capture_loop(
    capture: &mut rech_audio::Capture,
    tx: &SyncSender<Chunk>,
    stop: &AtomicBool,
    opening: Instant,
) {
    let mut buf = Vec::new();
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        buf.clear();
        match capture.read(&mut buf, Duration::from_millis(100)) {
            Ok(0) => {}
            Ok(_) => {
                if std::mem::take(&mut first) {
                    log::info!(
                        "the microphone took {} ms from opening to its first audio",
                        opening.elapsed().as_millis()
                    );
                }
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

/// A microphone kept open between phrases (see [`Source::microphone_kept_open`]).
#[cfg(feature = "capture")]
pub struct Standby {
    state: Arc<Mutex<StandbyState>>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    info: rech_audio::CaptureInfo,
    /// Samples the ring keeps.
    keep: usize,
    /// The capture's dropped frames when the feed under way started.
    dropped_at_start: u64,
}

#[cfg(feature = "capture")]
struct StandbyState {
    /// The last moments before a start.
    ring: std::collections::VecDeque<f32>,
    keep: usize,
    /// Where audio goes while listening.
    tx: Option<SyncSender<Chunk>>,
    /// The device failed while nobody was listening.
    failed: Option<LiveError>,
    /// The capture's dropped frames so far.
    dropped: u64,
}

#[cfg(feature = "capture")]
impl Standby {
    fn open(
        options: &rech_audio::CaptureOptions,
        pre_roll: Duration,
        clock: &Arc<OnceLock<Instant>>,
    ) -> Result<Self, LiveError> {
        let opening = Instant::now();
        let mut capture = rech_audio::Capture::open(options)?;
        let info = capture.info().clone();
        let keep = (pre_roll.as_secs_f64() * 16_000.0).round() as usize;
        let state = Arc::new(Mutex::new(StandbyState {
            ring: std::collections::VecDeque::with_capacity(keep + 3_200),
            keep,
            tx: None,
            failed: None,
            dropped: 0,
        }));
        let quit = Arc::new(AtomicBool::new(false));
        let (shared, quitting, clock) = (Arc::clone(&state), Arc::clone(&quit), Arc::clone(clock));
        let thread = std::thread::Builder::new()
            .name("rech-capture".into())
            .spawn(move || standby_loop(&mut capture, &shared, &quitting, &clock, opening))
            .map_err(|_| LiveError::Thread("capture"))?;
        Ok(Self {
            state,
            quit,
            thread: Some(thread),
            info,
            keep,
            dropped_at_start: 0,
        })
    }

    /// Starts a feed: the ring first, then live audio.
    fn feed(&mut self, stop: Arc<AtomicBool>) -> Result<Feed, LiveError> {
        let (tx, rx) = mpsc::sync_channel(256);
        let mut state = self
            .state
            .lock()
            .map_err(|_| LiveError::Thread("capture"))?;
        if let Some(failed) = state.failed.take() {
            return Err(failed);
        }
        let before: Vec<f32> = state.ring.drain(..).collect();
        if !before.is_empty() {
            // The channel is new and empty: this never waits.
            let _ = tx.try_send(Chunk::Audio(before));
        }
        state.tx = Some(tx);
        self.dropped_at_start = state.dropped;
        Ok(Feed {
            rx,
            thread: None,
            stop,
            capture: Some(self.info.clone()),
        })
    }

    /// Back to the ring; what the feed lost.
    fn pause(&mut self) -> Stopped {
        let Ok(mut state) = self.state.lock() else {
            return Stopped::default();
        };
        state.tx = None;
        state.ring.clear();
        Stopped {
            dropped_frames: state.dropped - self.dropped_at_start,
            device_rate: self.info.device_rate,
        }
    }
}

#[cfg(feature = "capture")]
impl Drop for Standby {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A kept-open microphone's thread: into the ring while nobody listens, to the feed while
/// somebody does.
#[cfg(feature = "capture")]
fn standby_loop(
    capture: &mut rech_audio::Capture,
    state: &Mutex<StandbyState>,
    quit: &AtomicBool,
    clock: &OnceLock<Instant>,
    opening: Instant,
) {
    let mut buf = Vec::new();
    let mut first = true;
    while !quit.load(Ordering::SeqCst) {
        buf.clear();
        let read = capture.read(&mut buf, Duration::from_millis(100));
        let Ok(mut shared) = state.lock() else { return };
        match read {
            Ok(0) => {}
            Ok(_) => {
                if std::mem::take(&mut first) {
                    let _ = clock.set(Instant::now());
                    log::info!(
                        "the microphone took {} ms from opening to its first audio",
                        opening.elapsed().as_millis()
                    );
                }
                shared.dropped = capture.dropped_frames();
                match shared.tx.clone() {
                    Some(tx) => {
                        // Sent without the lock: a full channel (a decode 25 s behind) holds
                        // the capture back, as it does for a microphone opened on demand.
                        drop(shared);
                        let _ = tx.send(Chunk::Audio(std::mem::take(&mut buf)));
                    }
                    None => {
                        shared.ring.extend(buf.drain(..));
                        let excess = shared.ring.len().saturating_sub(shared.keep);
                        shared.ring.drain(..excess);
                    }
                }
            }
            Err(err) => {
                match shared.tx.take() {
                    Some(tx) => {
                        let _ = tx.send(Chunk::Failed(err.into()));
                    }
                    None => shared.failed = Some(err.into()),
                }
                return;
            }
        }
    }
}
