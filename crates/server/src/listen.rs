//! Live dictation over WebSocket at `/v1/listen` (the path Deepgram's streaming API made
//! familiar; OpenAI's own realtime API is a different, session-based protocol). The client
//! sends 16-bit little-endian mono PCM in binary messages — 16 kHz unless it says otherwise
//! with `?sample_rate=` or a first `{"type":"config",…}` message — and gets the events of
//! `rech dictate --format jsonl` as text messages: `partial` (with `partial=true`) and `final`.
//! `{"type":"stop"}` (or an empty binary message) ends the audio: the last utterance is
//! finalised, `{"type":"end",…}` follows, and the server closes the socket. A close frame or a
//! dropped connection abandons the stream.
//!
//! Back-pressure: audio goes to the recognizer through a channel of a few messages, and the
//! socket is not read while it is full, so a client that sends faster than the recognizer
//! decodes is slowed down by TCP instead of growing the server's memory.
//!
//! The work ends with its client: the stream's worker and admission permits belong to the
//! recognizer's blocking task as much as to the socket's (a [`StreamSlot`] shared by both, so
//! `rech_workers_busy` and `rech_streams_active` count the stream until both have stopped);
//! the dictation decodes with the stream's cancel token, raised the moment the socket closes,
//! errs or goes quiet for `--idle-timeout`; and a message is pushed in pieces of at most
//! [`PIECE_SECONDS`] of audio, with the token checked between them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use rech_asr::output::dictation_event_json;
use rech_asr::{CancelToken, Dictation, DictationEvent, DictationOptions};
use rech_audio::StreamResampler;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::error::{excerpt, shortened, ApiError};
use crate::pool::{Admitted, CancelOnDrop};
use crate::App;

/// Audio messages waiting for the recognizer before the socket is no longer read.
const AUDIO_QUEUE: usize = 8;
/// Largest message accepted: 1 MiB (32 s of 16 kHz PCM16).
const MAX_MESSAGE: usize = 1 << 20;

/// Close code for a stream the server ended because of its input (RFC 6455 1007/1008 family).
const CLOSE_POLICY: u16 = 1008;
const CLOSE_AWAY: u16 = 1001;

/// The most audio one `Dictation::push` is given, in seconds: a large message (a megabyte at
/// `sample_rate=1000` is nine minutes) is pushed piece by piece, the cancel token read
/// between pieces.
const PIECE_SECONDS: usize = 2;

/// A stream's place in the server: its admission and worker permits, and its count in
/// `streams`. Shared by the socket's handler and the recognizer's blocking task, so that it is
/// given back only when both have stopped.
struct StreamSlot {
    app: Arc<App>,
    _admitted: Admitted,
    _worker: tokio::sync::OwnedSemaphorePermit,
}

impl StreamSlot {
    fn new(app: Arc<App>, admitted: Admitted, worker: tokio::sync::OwnedSemaphorePermit) -> Self {
        app.streams.fetch_add(1, Ordering::SeqCst);
        Self {
            app,
            _admitted: admitted,
            _worker: worker,
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.app.streams.fetch_sub(1, Ordering::SeqCst);
        self.app.stream_ended.notify_waiters();
    }
}

/// How a stream is set up: `?sample_rate=&language=&partial=` or the first text message.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StreamConfig {
    sample_rate: Option<u32>,
    language: Option<String>,
    partial: Option<bool>,
    encoding: Option<String>,
}

/// What the socket side sends the recognizer.
enum Input {
    Audio(Vec<u8>),
}

/// What the recognizer sends back.
enum Output {
    Event(String),
    Failed(String),
    Done { audio_seconds: f64 },
}

/// `GET /v1/listen`: upgrades to a WebSocket when a worker is free.
pub(crate) async fn listen(
    State(app): State<Arc<App>>,
    query: Result<Query<StreamConfig>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let config = match query {
        Ok(Query(config)) => config,
        Err(rejection) => {
            let why = shortened(&rejection.body_text(), 200);
            return ApiError::invalid(format!("bad query parameters: {why}")).into_response();
        }
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::invalid(format!(
                "/v1/listen is a WebSocket endpoint: {}",
                rejection.body_text()
            ))
            .into_response()
        }
    };
    if let Err(err) = check(&app, &config) {
        return err.into_response();
    }
    if app.stopping.load(Ordering::SeqCst) {
        return ApiError::unavailable("the server is shutting down").into_response();
    }
    // A stream holds a worker for its whole length; it never waits in the queue.
    let (Some(admitted), Some(worker)) = (app.pool.admit(), app.pool.try_worker()) else {
        return ApiError::busy(app.retry_after()).into_response();
    };
    let slot = Arc::new(StreamSlot::new(Arc::clone(&app), admitted, worker));
    upgrade
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| stream(socket, app, config, slot))
}

fn check(app: &App, config: &StreamConfig) -> Result<(), ApiError> {
    if let Some(rate) = config.sample_rate {
        StreamResampler::new(rate)
            .map_err(|e| ApiError::invalid_param("sample_rate", e.to_string()))?;
    }
    if let Some(encoding) = &config.encoding {
        if !matches!(encoding.as_str(), "pcm_s16le" | "linear16") {
            return Err(ApiError::invalid_param(
                "encoding",
                format!(
                    "{}: the stream must be 16-bit little-endian PCM (pcm_s16le)",
                    excerpt(encoding, 32)
                ),
            ));
        }
    }
    if let Some(language) = &config.language {
        let code = language.to_ascii_lowercase();
        if !app.pool.engine().capabilities().supports_language(&code) {
            return Err(ApiError::invalid_param(
                "language",
                format!(
                    "this server's model does not transcribe {}",
                    excerpt(language, 16)
                ),
            ));
        }
    }
    Ok(())
}

async fn stream(
    mut socket: WebSocket,
    app: Arc<App>,
    mut config: StreamConfig,
    slot: Arc<StreamSlot>,
) {
    let (audio_tx, audio_rx) = mpsc::channel::<Input>(AUDIO_QUEUE);
    let (events_tx, mut events_rx) = mpsc::channel::<Output>(64);
    let cancel = CancelToken::new();
    // However this function ends (a return, or the task dropped at shutdown), the work stops.
    let _stop_work = CancelOnDrop::new(cancel.clone());
    let idle_timeout = app.options.idle_timeout;
    let mut idle_deadline = tokio::time::Instant::now() + idle_timeout;
    let mut slot = Some(slot);
    let mut audio_tx = Some(audio_tx);
    let mut audio_rx = Some(audio_rx);
    let mut events_tx = Some(events_tx);
    let mut pending: Option<Vec<u8>> = None;
    let mut started = false;
    let mut stopping = app.stop_signal.subscribe();
    let mut server_stopping = false;
    let mut grace_over = app.grace_over.subscribe();

    loop {
        // The recognizer starts with the first audio (or the end), once the config is known.
        let start_now = !started && (pending.is_some() || audio_tx.is_none());
        if start_now {
            started = true;
            let (Some(rx), Some(tx)) = (audio_rx.take(), events_tx.take()) else {
                break;
            };
            let options = dictation_options(&app, &config);
            let rate = config.sample_rate.unwrap_or(16_000);
            let app = Arc::clone(&app);
            let cancel = cancel.clone();
            let slot = slot.take();
            tokio::task::spawn_blocking(move || {
                // The worker stays taken until the recognizer has stopped.
                let _slot = slot;
                recognize(&app, options, rate, rx, &tx, &cancel);
            });
        }
        // Set inside the branches, applied once the select has let go of the sender.
        let mut end_audio = false;
        tokio::select! {
            output = events_rx.recv(), if started => match output {
                Some(Output::Event(json)) => {
                    if socket.send(Message::Text(json.into())).await.is_err() {
                        cancel.cancel();
                        return;
                    }
                }
                Some(Output::Done { audio_seconds }) => {
                    let end = serde_json::json!({"type": "end", "duration": (audio_seconds * 1000.0).round() / 1000.0});
                    let _ = socket.send(Message::Text(end.to_string().into())).await;
                    let code = if server_stopping { CLOSE_AWAY } else { 1000 };
                    close(&mut socket, code, "").await;
                    return;
                }
                Some(Output::Failed(message)) => {
                    let error = serde_json::json!({"type": "error", "message": message});
                    let _ = socket.send(Message::Text(error.to_string().into())).await;
                    close(&mut socket, CLOSE_POLICY, "recognition failed").await;
                    return;
                }
                None => return,
            },
            message = socket.recv(), if pending.is_none() && audio_tx.is_some() => match message {
                Some(Ok(Message::Binary(bytes))) if bytes.is_empty() => end_audio = true,
                Some(Ok(Message::Binary(bytes))) => {
                    idle_deadline = tokio::time::Instant::now() + idle_timeout;
                    pending = Some(bytes.to_vec());
                }
                Some(Ok(Message::Text(text))) => match control(&text, started) {
                    Ok(Control::Config(new)) => {
                        if let Err(err) = check(&app, &new) {
                            fail(&mut socket, &err.message).await;
                            return;
                        }
                        config = merge(config, new);
                    }
                    Ok(Control::Stop) => end_audio = true,
                    Err(message) => {
                        cancel.cancel();
                        fail(&mut socket, &message).await;
                        return;
                    }
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                // A close frame, an error or a vanished client: nobody is left to answer.
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    cancel.cancel();
                    return;
                }
            },
            permit = reserve(audio_tx.as_ref()), if pending.is_some() => match permit {
                Some(permit) => {
                    permit.send(Input::Audio(pending.take().unwrap_or_default()));
                    idle_deadline = tokio::time::Instant::now() + idle_timeout;
                }
                None => {
                    cancel.cancel();
                    return;
                }
            },
            // Only while the socket is read: a client held back by a full queue is not idle.
            () = tokio::time::sleep_until(idle_deadline), if audio_tx.is_some() && pending.is_none() => {
                cancel.cancel();
                let message = format!(
                    "no audio for {} s: the stream is closed",
                    idle_timeout.as_secs()
                );
                let error = serde_json::json!({"type": "error", "message": message});
                let _ = socket.send(Message::Text(error.to_string().into())).await;
                close(&mut socket, CLOSE_POLICY, "no audio").await;
                return;
            }
            () = crate::raised(&mut grace_over) => {
                cancel.cancel();
                close(&mut socket, CLOSE_AWAY, "the server is shutting down").await;
                return;
            }
            changed = stopping.changed(), if !server_stopping => {
                // Shutdown: stop taking audio, finalise what was said, close.
                server_stopping = true;
                if changed.is_ok() {
                    end_audio = true;
                    pending = None;
                }
            }
        }
        if end_audio {
            audio_tx = None;
        }
    }
}

/// Room in the recognizer's queue; never ready when the queue is gone.
async fn reserve(tx: Option<&mpsc::Sender<Input>>) -> Option<mpsc::Permit<'_, Input>> {
    match tx {
        Some(tx) => tx.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

pub(crate) enum Control {
    Config(StreamConfig),
    Stop,
}

pub(crate) fn control(text: &str, started: bool) -> Result<Control, String> {
    #[derive(Deserialize)]
    struct Message {
        #[serde(rename = "type")]
        kind: String,
        #[serde(flatten)]
        config: StreamConfig,
    }
    let message: Message = serde_json::from_str(text).map_err(|e| {
        let why = shortened(&e.to_string(), 200);
        format!("a text message must be JSON with a \"type\": {why}")
    })?;
    match message.kind.as_str() {
        "stop" | "CloseStream" => Ok(Control::Stop),
        "config" if started => Err("config must come before the audio".into()),
        "config" => Ok(Control::Config(message.config)),
        other => Err(format!(
            "unknown message type {} (use config or stop)",
            excerpt(other, 32)
        )),
    }
}

fn merge(old: StreamConfig, new: StreamConfig) -> StreamConfig {
    StreamConfig {
        sample_rate: new.sample_rate.or(old.sample_rate),
        language: new.language.or(old.language),
        partial: new.partial.or(old.partial),
        encoding: new.encoding.or(old.encoding),
    }
}

fn dictation_options(app: &App, config: &StreamConfig) -> DictationOptions {
    let mut options = app.options.dictation.clone();
    options.threads = app.pool.threads();
    options.transcribe.language = config
        .language
        .as_deref()
        .map(str::to_ascii_lowercase)
        .or_else(|| app.options.transcribe.language.clone());
    options.partials = config.partial.unwrap_or(false);
    options
}

async fn fail(socket: &mut WebSocket, message: &str) {
    let error = serde_json::json!({"type": "error", "message": message});
    let _ = socket.send(Message::Text(error.to_string().into())).await;
    close(socket, CLOSE_POLICY, "bad message").await;
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// The recognizer's side, on a blocking thread: PCM16 in, dictation events out.
fn recognize(
    app: &App,
    options: DictationOptions,
    rate: u32,
    mut audio: mpsc::Receiver<Input>,
    events: &mpsc::Sender<Output>,
    cancel: &CancelToken,
) {
    let partials = options.partials;
    let failed = |message: String| {
        let _ = events.blocking_send(Output::Failed(message));
    };
    let detector = match app.pool.voice_detector() {
        Ok(d) => d,
        Err(e) => return failed(e.to_string()),
    };
    let mut dictation = match Dictation::new(app.pool.engine().as_ref(), detector, options) {
        Ok(d) => d.with_cancel_token(cancel.clone()),
        Err(e) => return failed(e.to_string()),
    };
    let mut resampler = match (rate != 16_000)
        .then(|| StreamResampler::new(rate))
        .transpose()
    {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let clock = Instant::now();
    let mut odd_byte: Option<u8> = None;
    let mut samples = Vec::new();
    let mut resampled = Vec::new();
    let mut total_samples: u64 = 0;
    let emit = |list: &[DictationEvent]| -> bool {
        let at = clock.elapsed().as_secs_f64();
        for event in list {
            if matches!(event, DictationEvent::Partial { .. }) && !partials {
                continue;
            }
            if events
                .blocking_send(Output::Event(dictation_event_json(event, Some(at))))
                .is_err()
            {
                return false;
            }
        }
        true
    };
    // A piece of at most PIECE_SECONDS at the stream's rate (an even number of bytes).
    let piece_bytes = (rate as usize).max(1) * 2 * PIECE_SECONDS;
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(Input::Audio(first)) = audio.blocking_recv() {
        bytes.clear();
        bytes.extend_from_slice(&first);
        // Whatever else has arrived goes in with it, up to a piece: one decode catches up with
        // all of it.
        while bytes.len() < piece_bytes {
            match audio.try_recv() {
                Ok(Input::Audio(more)) => bytes.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        for piece in bytes.chunks(piece_bytes) {
            if cancel.is_cancelled() {
                return;
            }
            samples.clear();
            pcm16(piece, &mut odd_byte, &mut samples);
            let input = match &mut resampler {
                Some(r) => {
                    resampled.clear();
                    r.push(&samples, &mut resampled);
                    &resampled
                }
                None => &samples,
            };
            total_samples += input.len() as u64;
            match dictation.push(input) {
                Ok(list) if emit(&list) => {}
                Ok(_) => return,
                Err(rech_asr::Error::Cancelled) => return,
                Err(e) => return failed(e.to_string()),
            }
        }
    }
    if cancel.is_cancelled() {
        return;
    }
    if let Some(r) = &mut resampler {
        resampled.clear();
        r.finish(&mut resampled);
        total_samples += resampled.len() as u64;
        match dictation.push(&resampled) {
            Ok(list) if emit(&list) => {}
            Ok(_) => return,
            Err(e) => return failed(e.to_string()),
        }
    }
    match dictation.finish() {
        Ok(list) if emit(&list) => {}
        Ok(_) => return,
        Err(e) => return failed(e.to_string()),
    }
    let audio_seconds = total_samples as f64 / 16_000.0;
    app.metrics.streamed(audio_seconds);
    let _ = events.blocking_send(Output::Done { audio_seconds });
}

/// Appends 16-bit little-endian samples as `f32`, carrying an odd byte over to the next message.
fn pcm16(bytes: &[u8], odd_byte: &mut Option<u8>, out: &mut Vec<f32>) {
    let mut rest = bytes;
    if let Some(low) = odd_byte.take() {
        if let Some((&high, tail)) = rest.split_first() {
            out.push(f32::from(i16::from_le_bytes([low, high])) / 32768.0);
            rest = tail;
        } else {
            *odd_byte = Some(low);
            return;
        }
    }
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        out.push(f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0);
    }
    if let [last] = pairs.remainder() {
        *odd_byte = Some(*last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_split_anywhere_reads_the_same() {
        let values: [i16; 4] = [0, 16384, -32768, 32767];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut whole = Vec::new();
        pcm16(&bytes, &mut None, &mut whole);
        for cut in 0..=bytes.len() {
            let mut odd = None;
            let mut split = Vec::new();
            pcm16(&bytes[..cut], &mut odd, &mut split);
            pcm16(&bytes[cut..], &mut odd, &mut split);
            assert_eq!(split, whole, "cut at {cut}");
            assert!(odd.is_none());
        }
        assert_eq!(whole, [0.0, 0.5, -1.0, 32767.0 / 32768.0]);
    }

    #[test]
    fn control_messages() {
        assert!(matches!(
            control(r#"{"type":"stop"}"#, true),
            Ok(Control::Stop)
        ));
        match control(
            r#"{"type":"config","sample_rate":48000,"partial":true}"#,
            false,
        ) {
            Ok(Control::Config(c)) => {
                assert_eq!(c.sample_rate, Some(48_000));
                assert_eq!(c.partial, Some(true));
            }
            _ => panic!("a config"),
        }
        assert!(control(r#"{"type":"config"}"#, true).is_err());
        assert!(control("hello", false).is_err());
        assert!(control(r#"{"type":"dance"}"#, false).is_err());
    }
}
