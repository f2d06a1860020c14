//! Entry points for cargo fuzz (feature `fuzzing`, not for other users): the request surface
//! without a socket — the multipart form as the transcription endpoint reads and checks it, the
//! WebSocket control messages and query, and the Host, Origin and key checks — so that
//! `fuzz/` can feed them any bytes. Each function panics only where rech-server itself would.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use rech_asr::{Capabilities, Engine, Recognizer};

/// The multipart boundary [`form`] reads `body` with.
pub const BOUNDARY: &str = "rechfuzz";

/// An engine that can do everything a form may ask for (languages, prompts, word times) and
/// recognises nothing: only the checks run.
#[derive(Debug)]
struct Permissive(Capabilities);

impl Engine for Permissive {
    fn capabilities(&self) -> &Capabilities {
        &self.0
    }

    fn recognizer(&self, _threads: usize) -> Result<Box<dyn Recognizer>, rech_asr::Error> {
        Err(rech_asr::Error::InvalidOption(
            "no recognizer while fuzzing".into(),
        ))
    }

    fn check_prompt(&self, prompt: &str) -> Result<(), rech_asr::Error> {
        if prompt.len() > 4096 {
            return Err(rech_asr::Error::PromptTooLong {
                engine: "fuzz",
                length: format!("{} bytes", prompt.len()),
                limit: "4096 bytes".into(),
            });
        }
        Ok(())
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime for fuzzing")
    })
}

/// Reads `body` as a `multipart/form-data` form with [`BOUNDARY`] (any file part stored in
/// `dir`), as `POST /v1/audio/transcriptions` does, and checks its fields; returns whether the
/// request would be accepted. Every refusal must be one of the API's errors, with a message
/// of bounded length.
pub fn form(body: &[u8], dir: &Path) -> bool {
    let engine = Permissive(Capabilities {
        engine: "fuzz",
        languages: vec!["ru".into(), "en".into()],
        detects_language: true,
        min_samples: 1600,
        max_samples: None,
        takes_prompt: true,
        word_times: true,
        hallucinates_on_silence: false,
        split_at_removed_pauses: false,
        decoding_options: false,
    });
    let options = crate::ServeOptions::default();
    let request = Request::builder()
        .method("POST")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body.to_vec()))
        .expect("a request");
    let outcome = runtime().block_on(async {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| crate::error::ApiError::invalid("not multipart"))?;
        let form =
            crate::upload::read_form(multipart, dir, 1 << 20, Duration::from_secs(5), &|_| Ok(()))
                .await?;
        crate::api::Params::from_form(&form, &options, &engine)
    });
    match outcome {
        Ok(_) => true,
        Err(err) => {
            assert!(
                err.message.chars().count() < 600,
                "an error message of {} characters",
                err.message.chars().count()
            );
            false
        }
    }
}

/// Reads `text` as a WebSocket control message and `query` as `/v1/listen`'s query; returns
/// whether the message was accepted.
pub fn control(text: &str, query: &str) -> bool {
    let _ = serde_urlencoded::from_str::<crate::listen::StreamConfig>(query);
    match crate::listen::control(text, false) {
        Ok(_) => true,
        Err(message) => {
            assert!(message.chars().count() < 600, "{message}");
            false
        }
    }
}

/// Checks `host` and `origin` as the Host and Origin guard does, with `allowed` as both the
/// allowed hosts and origins.
pub fn host_and_origin(host: &str, origin: &str, allowed: &[String]) -> (bool, bool) {
    (
        crate::browser::host_allowed(host, allowed),
        crate::browser::same_origin(origin, host) || crate::browser::origin_listed(origin, allowed),
    )
}
