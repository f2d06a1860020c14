//! The HTTP API: the router, OpenAI's transcription endpoint and model list, the probes and
//! the metrics, and the layers every request passes (API key, counting, panics into 500).
//! Requests are validated as OpenAI validates them, and answered in its shapes, so that its
//! SDKs behave against rech as against the hosted API.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rech::file::{Clip, Diarize, FileError, FileOptions, Input, Speakers};
use rech_asr::output::{openai_json, openai_verbose_json, Format};
use rech_asr::{CancelToken, TranscribeOptions, Transcriber, Transcript};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::{excerpt, log_refused, ApiError};
use crate::pool::{panic_message, CancelOnDrop, JobFailure};
use crate::upload::{read_form, Form};
use crate::App;

/// Room for the form's text fields and boundaries beside the file.
pub(crate) const FORM_OVERHEAD: u64 = 1 << 20;

/// OpenAI's model names, which clients send by default: they mean the loaded model here.
const OPENAI_MODELS: [&str; 4] = [
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
];

pub(crate) fn router(app: Arc<App>) -> Router {
    let body_limit = app.options.max_upload.saturating_add(FORM_OVERHEAD);
    let v1 = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route("/v1/listen", get(crate::listen::listen))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), authorize));
    let open = Router::new()
        .route("/", get(crate::page::index))
        .route("/page/{asset}", get(crate::page::asset))
        .route("/page/transcribe", post(crate::page::transcribe_form))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics));
    v1.merge(open)
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), count))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|request: Request| async move {
            ApiError::method_not_allowed(request.method().as_str())
        })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            crate::browser::guard,
        ))
        .layer(middleware::from_fn(access_log))
        .layer(DefaultBodyLimit::max(
            usize::try_from(body_limit).unwrap_or(usize::MAX),
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            crate::linger::linger,
        ))
        .layer(CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                log::error!("a request handler panicked: {}", panic_message(&panic));
                ApiError::internal("the server failed while answering").into_response()
            },
        ))
        .with_state(app)
}

/// Counts every answer by endpoint and status for `/metrics`.
async fn count(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    app.metrics.request(&endpoint, response.status().as_u16());
    response
}

/// One line per answer at `-v` (target `rech_server::access`): method, path (never the query,
/// which may hold a key), status and time; never a key, a prompt or a body.
async fn access_log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = excerpt(request.uri().path(), 200);
    let started = Instant::now();
    let response = next.run(request).await;
    log::info!(
        target: "rech_server::access",
        "{method} {path} {} {:.0} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// Refuses `/v1` requests without the server's key, before their bodies are read. The key
/// comes as `Authorization: Bearer KEY` (the scheme in any case, RFC 7235); browsers cannot
/// set headers on a WebSocket, so the upgrade of `/v1/listen` alone may pass it as
/// `?api_key=` (URL-encoded, once).
async fn authorize(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.options.api_key else {
        return next.run(request).await;
    };
    let given = match given_key(&request) {
        Ok(given) => given,
        Err(err) => return err.into_response(),
    };
    match given {
        Some(key) if same(key.as_bytes(), expected.as_bytes()) => next.run(request).await,
        Some(_) => {
            log_refused(&request, "incorrect API key");
            ApiError::unauthorized("incorrect API key provided").into_response()
        }
        None => {
            log_refused(&request, "no API key");
            ApiError::unauthorized("no API key provided: send it as `Authorization: Bearer KEY`")
                .into_response()
        }
    }
}

/// The key a request carries, if any (see [`authorize`]).
fn given_key(request: &Request) -> Result<Option<String>, ApiError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default().trim();
        let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer KEY`",
            ));
        }
        return Ok(Some(key.trim().to_owned()));
    }
    let Some(query) = request.uri().query() else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let keys: Vec<&String> = pairs
        .iter()
        .filter(|(name, _)| name == "api_key")
        .map(|(_, value)| value)
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let upgrade = request.uri().path() == "/v1/listen"
        && request
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return Err(ApiError::unauthorized(
            "?api_key= is taken only on the WebSocket upgrade of /v1/listen: send the key as \
             `Authorization: Bearer KEY`",
        ));
    }
    match keys[..] {
        [one] => Ok(Some(one.clone())),
        _ => Err(ApiError::unauthorized("api_key is given more than once")),
    }
}

/// Compares two keys in time that does not depend on where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = a.len() ^ b.len();
    for i in 0..len {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

async fn health() -> impl IntoResponse {
    json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
}

/// Ready while the server is not shutting down and would admit a request.
async fn ready(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"shutting down"}"#.into(),
        );
    }
    if !app.pool.accepting() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"busy"}"#.into(),
        );
    }
    json(StatusCode::OK, r#"{"status":"ready"}"#.into())
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(&app.gauges()),
    )
}

/// OpenAI's model object, with rech's `capabilities`: what a request may ask of the served
/// model (the web page shows only the options it honours).
fn model_object(app: &App) -> serde_json::Value {
    let capabilities = app.pool.engine().capabilities();
    let mut diarize = vec!["channels"];
    if app.options.speakers.models.is_some() {
        diarize.insert(0, "voices");
    }
    serde_json::json!({
        "id": app.options.model_id,
        "object": "model",
        "created": 0,
        "owned_by": "rech",
        "capabilities": {
            "engine": capabilities.engine,
            "languages": capabilities.languages,
            "detects_language": capabilities.detects_language,
            "word_timestamps": capabilities.word_times,
            "prompt": capabilities.takes_prompt,
            "diarize": diarize,
            "stream": true,
        },
    })
}

async fn models(State(app): State<Arc<App>>) -> impl IntoResponse {
    let body = serde_json::json!({
        "object": "list",
        "data": [model_object(&app)],
    });
    json(StatusCode::OK, body.to_string())
}

async fn model(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if id == app.options.model_id {
        json(StatusCode::OK, model_object(&app).to_string()).into_response()
    } else {
        ApiError::not_found(format!("the model {id:?} does not exist"))
            .with_code("model_not_found")
            .into_response()
    }
}

fn json(status: StatusCode, body: String) -> impl IntoResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

/// OpenAI's `response_format`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    Json,
    Text,
    Srt,
    Vtt,
    VerboseJson,
    DiarizedJson,
}

impl ResponseFormat {
    /// Its name, as `response_format` takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
            Self::Srt => "srt",
            Self::Vtt => "vtt",
            Self::VerboseJson => "verbose_json",
            Self::DiarizedJson => "diarized_json",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "json" => Self::Json,
            "text" => Self::Text,
            "srt" => Self::Srt,
            "vtt" => Self::Vtt,
            "verbose_json" => Self::VerboseJson,
            "diarized_json" => Self::DiarizedJson,
            _ => return None,
        })
    }
}

/// A transcription request's fields, checked.
#[derive(Debug)]
pub(crate) struct Params {
    format: ResponseFormat,
    options: TranscribeOptions,
    prompt: Option<String>,
    segments: bool,
    speakers: Speakers,
    /// `stream=true`: server-sent events of the text as each window is done.
    stream: bool,
    /// `include[]` (rech's extension, with `stream=true`): the formats the last event carries
    /// whole, so that one upload gives every download (what the web page asks for).
    documents: Vec<ResponseFormat>,
}

impl Params {
    /// The request's fields checked against the server's `options` and what `engine` can do.
    pub(crate) fn from_form(
        form: &Form,
        options: &crate::ServeOptions,
        engine: &dyn rech_asr::Engine,
    ) -> Result<Self, ApiError> {
        let served = options;
        if let Some(model) = form.get("model").filter(|m| *m != served.model_id) {
            if !served.strict_model {
                log::info!(
                    "asked for the model {}: served by {}",
                    excerpt(model, 64),
                    served.model_id
                );
            } else if !OPENAI_MODELS.contains(&model) {
                return Err(ApiError::invalid_param(
                    "model",
                    format!(
                        "the model {} is not served here; this server serves {:?} \
                         (whisper-1 means it too)",
                        excerpt(model, 64),
                        served.model_id
                    ),
                )
                .with_code("model_not_found"));
            }
        }
        let format = match form.get("response_format") {
            None | Some("") => ResponseFormat::Json,
            Some(name) => ResponseFormat::parse(name).ok_or_else(|| {
                ApiError::invalid_param(
                    "response_format",
                    format!(
                        "{} is not a response format: use json, text, srt, vtt or verbose_json",
                        excerpt(name, 32)
                    ),
                )
            })?,
        };
        let capabilities = engine.capabilities();
        let mut options = served.transcribe.clone();
        if let Some(language) = form.get("language").filter(|l| !l.is_empty()) {
            let code = language.to_ascii_lowercase();
            if rech_asr::languages::name(&code).is_none() {
                return Err(ApiError::invalid_param(
                    "language",
                    format!(
                        "{} is not an ISO-639-1 language code (such as ru)",
                        excerpt(language, 16)
                    ),
                ));
            }
            if !capabilities.supports_language(&code) {
                return Err(ApiError::invalid_param(
                    "language",
                    format!(
                        "this server's model does not transcribe {}",
                        excerpt(language, 16)
                    ),
                )
                .with_code("unsupported_language"));
            }
            options.language = Some(code);
        }
        if let Some(temperature) = form.get("temperature").filter(|t| !t.is_empty()) {
            let value: f32 = temperature.parse().map_err(|_| {
                ApiError::invalid_param(
                    "temperature",
                    format!("{} is not a number", excerpt(temperature, 32)),
                )
            })?;
            if !(0.0..=1.0).contains(&value) {
                return Err(ApiError::invalid_param(
                    "temperature",
                    "the temperature must be between 0 and 1",
                ));
            }
            // As OpenAI's whisper-1: the temperature of the first attempt, where the engine
            // samples at all (GigaAM's decoding is greedy: nothing to set).
            if capabilities.decoding_options {
                options.temperature = Some(value);
            }
        }
        let granularities = form.all("timestamp_granularities");
        let mut segments = granularities.is_empty();
        for granularity in &granularities {
            match *granularity {
                "segment" => segments = true,
                "word" => options.word_timestamps = true,
                other => {
                    return Err(ApiError::invalid_param(
                        "timestamp_granularities",
                        format!(
                            "{} is not a timestamp granularity: use segment or word",
                            excerpt(other, 32)
                        ),
                    ))
                }
            }
        }
        let documents = documents_of(form)?;
        if !granularities.is_empty()
            && format != ResponseFormat::VerboseJson
            && !documents.contains(&ResponseFormat::VerboseJson)
        {
            return Err(ApiError::invalid_param(
                "timestamp_granularities",
                "timestamp_granularities needs response_format verbose_json",
            ));
        }
        if options.word_timestamps && !capabilities.word_times {
            return Err(ApiError::invalid_param(
                "timestamp_granularities",
                format!("{} gives no word times", capabilities.engine),
            ));
        }
        let prompt = form.get("prompt").filter(|p| !p.trim().is_empty());
        if prompt.is_some_and(|p| p.contains('\0')) {
            return Err(ApiError::invalid_param(
                "prompt",
                "the prompt contains a NUL",
            ));
        }
        if let Some(prompt) = prompt.filter(|_| capabilities.takes_prompt) {
            engine.check_prompt(prompt).map_err(|e| match e {
                rech_asr::Error::PromptTooLong { .. } => {
                    ApiError::invalid_param("prompt", e.to_string()).with_code("prompt_too_long")
                }
                other => ApiError::invalid_param("prompt", other.to_string()),
            })?;
        }
        let speakers = speakers_of(form, &served.speakers)?;
        let stream = match form.get("stream") {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::invalid_param(
                    "stream",
                    format!("stream is true or false, not {}", excerpt(other, 16)),
                ))
            }
        };
        if stream && !matches!(format, ResponseFormat::Json | ResponseFormat::Text) {
            return Err(ApiError::invalid_param(
                "stream",
                "stream=true sends the text as server-sent events: use response_format json \
                 or text with it",
            ));
        }
        if !stream && !documents.is_empty() {
            return Err(ApiError::invalid_param(
                "include",
                "include[] with a format sends it in stream=true's last event: without stream, \
                 ask for it as the response_format",
            ));
        }
        Ok(Self {
            format,
            options,
            prompt: prompt
                .filter(|_| capabilities.takes_prompt)
                .map(str::to_owned),
            segments,
            speakers,
            stream,
            documents,
        })
    }
}

/// `include[]`: OpenAI's `logprobs` (which rech has none of, so it is accepted and gives
/// nothing), and rech's extension, the formats a stream's last event carries.
fn documents_of(form: &Form) -> Result<Vec<ResponseFormat>, ApiError> {
    let mut documents = Vec::new();
    for value in form.all("include") {
        if value == "logprobs" {
            continue;
        }
        let format = ResponseFormat::parse(value).ok_or_else(|| {
            ApiError::invalid_param(
                "include",
                format!(
                    "{} cannot be included: use logprobs or a response format (text, srt, vtt, \
                     verbose_json, diarized_json)",
                    excerpt(value, 32)
                ),
            )
        })?;
        if !documents.contains(&format) {
            documents.push(format);
        }
    }
    Ok(documents)
}

/// Who spoke when, as the form asks: `diarize` (`voices` where the server has the speaker
/// models, `channels`, or `none`; the server's `--diarize` when absent) and OpenAI's
/// `known_speaker_names[]`.
fn speakers_of(form: &Form, served: &Speakers) -> Result<Speakers, ApiError> {
    let mut speakers = served.clone();
    match form.get("diarize").map(str::trim) {
        None | Some("") => {}
        Some("channels") => speakers.diarize = Diarize::Channels,
        Some("voices" | "true") if served.models.is_some() => speakers.diarize = Diarize::Voices,
        Some("voices" | "true") => {
            return Err(ApiError::invalid_param(
                "diarize",
                "speakers by voice are off on this server (it was started without the speaker \
                 models); use channels for one speaker per channel",
            ))
        }
        Some("none" | "off" | "false") => speakers.diarize = Diarize::Off,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "diarize",
                format!(
                    "{} is not a way to tell speakers apart: use voices, channels (one speaker \
                     per channel) or none",
                    excerpt(other, 32)
                ),
            ))
        }
    }
    let names = form.all("known_speaker_names");
    if !names.is_empty() {
        if names.len() > MAX_SPEAKER_NAMES {
            return Err(ApiError::invalid_param(
                "known_speaker_names",
                format!("at most {MAX_SPEAKER_NAMES} names"),
            ));
        }
        speakers.naming.names = names.iter().map(|n| n.trim().to_owned()).collect();
        if let Some(problem) = speakers.naming.problem() {
            return Err(ApiError::invalid_param("known_speaker_names", problem));
        }
    }
    Ok(speakers)
}

/// Most `known_speaker_names[]` a request may send (OpenAI takes up to 4).
const MAX_SPEAKER_NAMES: usize = 32;

/// `POST /v1/audio/transcriptions`. A request still in flight when the shutdown's grace
/// period ends is answered 503 (its work is cancelled as the handler is dropped).
async fn transcriptions(State(app): State<Arc<App>>, request: Request) -> Response {
    let mut grace_over = app.grace_over.subscribe();
    tokio::select! {
        result = transcribe(&app, request) => match result {
            Ok(response) => response,
            Err(err) => err.into_response(),
        },
        () = crate::raised(&mut grace_over) => ApiError::unavailable(
            "the server is shutting down and this request did not finish in its grace period",
        )
        .into_response(),
    }
}

async fn transcribe(app: &Arc<App>, request: Request) -> Result<Response, ApiError> {
    let received = receive(app, request, &|_| Ok(())).await?;
    if !received.params.stream {
        let (transcript, params) = received.transcribe(app).await?;
        return Ok(render(&transcript, &params, &app.options.model_id));
    }
    let Received {
        admitted,
        params,
        upload,
    } = received;
    let token = CancelToken::new();
    let guard = CancelOnDrop::new(token.clone());
    let started = Instant::now();
    let temp_path = upload.file.path().to_owned();
    // The text of each window as it is done, then the whole.
    let (texts, streamed) = tokio::sync::mpsc::unbounded_channel::<Streamed>();
    let job = {
        let texts = texts.clone();
        file_job(&params, &app.options, upload, token.clone(), move |text| {
            let _ = texts.send(Streamed::Delta(text.to_owned()));
        })
    };
    // Streamed: the events go out as they come; the job runs on, and the client leaving drops
    // the stream, whose guard cancels the job.
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let result = app.pool.run(token, app.options.queue_timeout, job).await;
        drop(admitted);
        let _ = texts.send(match finished(&app, result, &temp_path, started) {
            Ok(transcript) => {
                Streamed::Done(done_event(&transcript, &params, &app.options.model_id))
            }
            Err(err) => Streamed::Failed(err),
        });
    });
    let events = futures_util::stream::unfold((streamed, Some(guard)), |(mut rx, guard)| async {
        let guard = guard?;
        let item = rx.recv().await?;
        let (event, guard) = match item {
            Streamed::Delta(delta) => (
                Event::default().data(
                    serde_json::json!({"type": "transcript.text.delta", "delta": delta})
                        .to_string(),
                ),
                Some(guard),
            ),
            Streamed::Done(done) => {
                guard.disarm();
                (Event::default().data(done), None)
            }
            Streamed::Failed(err) => {
                guard.disarm();
                (Event::default().event("error").data(err.body()), None)
            }
        };
        Some((Ok::<_, std::convert::Infallible>(event), (rx, guard)))
    });
    Ok(Sse::new(events)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response())
}

/// A request whose form is read and checked, its upload on disk, admitted to the queue.
pub(crate) struct Received {
    admitted: crate::pool::Admitted,
    pub params: Params,
    upload: crate::upload::Upload,
}

/// Reads and checks a transcription form: the declared size first, then admission (429 when
/// the queue is full), then the form, its upload streamed to disk. `before_file` sees the text
/// fields sent before the file, and may refuse the request before the file is read.
pub(crate) async fn receive(
    app: &Arc<App>,
    request: Request,
    before_file: &(dyn Fn(&Form) -> Result<(), ApiError> + Sync),
) -> Result<Received, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > app.options.max_upload.saturating_add(FORM_OVERHEAD)) {
        return Err(ApiError::too_large(app.options.max_upload));
    }
    let Some(admitted) = app.pool.admit() else {
        return Err(ApiError::busy(app.retry_after()));
    };
    let multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| {
            ApiError::invalid(format!(
                "expected a multipart/form-data body: {}",
                rejection.body_text()
            ))
        })?;
    let mut form = read_form(
        multipart,
        &app.upload_dir,
        app.options.max_upload,
        app.options.read_timeout,
        before_file,
    )
    .await?;
    let params = Params::from_form(&form, &app.options, app.pool.engine().as_ref())?;
    let Some(upload) = form.upload.take() else {
        return Err(ApiError::invalid_param(
            "file",
            "the form has no `file` part: send the audio as the `file` field",
        ));
    };
    if upload.bytes == 0 {
        return Err(ApiError::invalid_param(
            "file",
            "the uploaded file is empty",
        ));
    }
    Ok(Received {
        admitted,
        params,
        upload,
    })
}

impl Received {
    /// Transcribes the upload on a worker; the transcript, and the request's parameters.
    pub(crate) async fn transcribe(self, app: &Arc<App>) -> Result<(Transcript, Params), ApiError> {
        let Self {
            admitted,
            params,
            upload,
        } = self;
        let token = CancelToken::new();
        let guard = CancelOnDrop::new(token.clone());
        let started = Instant::now();
        let temp_path = upload.file.path().to_owned();
        let job = file_job(&params, &app.options, upload, token.clone(), |_| {});
        let result = app.pool.run(token, app.options.queue_timeout, job).await;
        guard.disarm();
        drop(admitted);
        Ok((finished(app, result, &temp_path, started)?, params))
    }
}

/// The worker's job for an upload: the file transcribed as `rech transcribe` would, each
/// window's text given to `on_text` as it is done.
fn file_job(
    params: &Params,
    served: &crate::ServeOptions,
    upload: crate::upload::Upload,
    token: CancelToken,
    mut on_text: impl FnMut(&str) + Send + 'static,
) -> impl FnOnce(&mut Transcriber) -> Result<Transcript, FileError> + Send + 'static {
    let options = FileOptions {
        transcribe: params.options.clone(),
        windows: served.windows.clone(),
        clip: Clip::default(),
        prompt: params.prompt.clone(),
        speakers: params.speakers.clone(),
    };
    move |transcriber: &mut Transcriber| {
        // The upload lives as long as its job, even when the client has gone.
        let path = upload.file.path().to_owned();
        let _upload = upload;
        let result = Input::open(&path)?.transcribe_streamed(
            transcriber,
            &options,
            &token,
            &mut |_| {},
            &mut on_text,
        );
        if let Err(FileError::Panicked { message, .. }) = result {
            // Caught where the file was read; the pool replaces the transcriber it broke.
            std::panic::resume_unwind(Box::new(message));
        }
        result
    }
}

/// What a streamed transcription sends, in order.
enum Streamed {
    /// The text of a window just done.
    Delta(String),
    /// The last event, `transcript.text.done`, with the whole text (and the documents asked
    /// for).
    Done(String),
    /// The transcription failed after the stream began.
    Failed(ApiError),
}

/// A finished job's transcript, or the error the client gets; counted in the metrics.
fn finished(
    app: &App,
    result: Result<Transcript, JobFailure<FileError>>,
    temp_path: &std::path::Path,
    started: Instant,
) -> Result<Transcript, ApiError> {
    let transcript = match result {
        Ok(transcript) => transcript,
        Err(JobFailure::Failed(FileError::Audio(err))) => {
            let message = err
                .to_string()
                .replace(&temp_path.display().to_string(), "the uploaded file");
            return Err(ApiError::invalid_param(
                "file",
                format!("could not decode the audio: {message}"),
            )
            .with_code("invalid_audio"));
        }
        Err(JobFailure::Failed(FileError::Asr { source, .. })) => {
            return Err(asr_error(app, *source))
        }
        Err(JobFailure::Failed(FileError::OneChannel { .. })) => {
            return Err(ApiError::invalid_param(
                "diarize",
                "the uploaded file has one channel: diarize=channels needs a recording with \
                 one speaker on each channel",
            ))
        }
        Err(JobFailure::Failed(other)) => return Err(ApiError::internal(other.to_string())),
        Err(JobFailure::QueueTimeout) => {
            let waited = app.options.queue_timeout.as_secs();
            return Err(ApiError {
                retry_after: Some(app.retry_after()),
                ..ApiError::unavailable(format!(
                    "no worker became free in {waited} s: the server is overloaded; retry later"
                ))
            });
        }
        Err(JobFailure::Panicked(message)) => {
            app.metrics.panicked();
            log::error!("a transcription panicked: {message}");
            return Err(ApiError::internal("the server failed while transcribing"));
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    app.metrics.transcribed(transcript.duration, elapsed);
    log::info!(
        "transcribed {:.1} s of audio in {elapsed:.2} s",
        transcript.duration
    );
    Ok(transcript)
}

fn asr_error(app: &App, err: rech_asr::Error) -> ApiError {
    match err {
        rech_asr::Error::AudioTooShort { .. } => {
            ApiError::invalid_param("file", err.to_string()).with_code("audio_too_short")
        }
        rech_asr::Error::InvalidOption(message) => ApiError::invalid(message),
        rech_asr::Error::Cancelled if app.stopping.load(std::sync::atomic::Ordering::SeqCst) => {
            ApiError::unavailable("the server is shutting down")
        }
        rech_asr::Error::Cancelled => ApiError::unavailable("the transcription was cancelled"),
        other => {
            log::error!("transcription failed: {other}");
            ApiError::internal(format!("transcription failed: {other}"))
        }
    }
}

/// `verbose_json` with the model that served the request (`model`, after `task`): clients
/// that asked for another name can see what answered.
fn with_model(verbose: &str, model_id: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(verbose) else {
        return verbose.to_owned();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in fields {
        let after_task = key == "task";
        out.insert(key, value);
        if after_task {
            out.insert("model".into(), model_id.into());
        }
    }
    match serde_json::to_string_pretty(&serde_json::Value::Object(out)) {
        Ok(text) => text + "\n",
        Err(_) => verbose.to_owned(),
    }
}

/// A stream's last event: the whole text, and with `include[]`, each document asked for.
fn done_event(transcript: &Transcript, params: &Params, model_id: &str) -> String {
    let mut event = serde_json::json!({"type": "transcript.text.done", "text": transcript.text()});
    if !params.documents.is_empty() {
        let documents: serde_json::Map<String, serde_json::Value> = params
            .documents
            .iter()
            .map(|&format| {
                let (_, body) = document(transcript, format, params, model_id);
                (format.name().to_owned(), body.into())
            })
            .collect();
        event["documents"] = documents.into();
    }
    event.to_string()
}

fn render(transcript: &Transcript, params: &Params, model_id: &str) -> Response {
    let (content_type, body) = document(transcript, params.format, params, model_id);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// One response format's content type and body.
pub(crate) fn document(
    transcript: &Transcript,
    format: ResponseFormat,
    params: &Params,
    model_id: &str,
) -> (&'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    match format {
        ResponseFormat::Json => ("application/json", openai_json(transcript)),
        ResponseFormat::Text => (TEXT, format!("{}\n", transcript.text())),
        ResponseFormat::Srt => (TEXT, Format::Srt.render(transcript)),
        ResponseFormat::Vtt => (TEXT, Format::Vtt.render(transcript)),
        ResponseFormat::DiarizedJson => {
            ("application/json", Format::DiarizedJson.render(transcript))
        }
        ResponseFormat::VerboseJson => (
            "application/json",
            with_model(
                &openai_verbose_json(transcript, params.segments, params.options.word_timestamps),
                model_id,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn only_openais_formats() {
        for name in ["json", "text", "srt", "vtt", "verbose_json"] {
            assert!(ResponseFormat::parse(name).is_some(), "{name}");
        }
        assert!(ResponseFormat::parse("tsv").is_none());
        assert!(ResponseFormat::parse("JSON").is_none());
    }
}
