//! The server's errors: [`ServeError`] for what stops the server from starting or running, and
//! `ApiError`, every failed request as OpenAI's error body
//! (`{"error": {"message", "type", "param", "code"}}`) with its HTTP status, so that the
//! OpenAI SDKs raise the exception they would raise against the hosted API.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What keeps the server from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound (in use, no permission, not an address of this host).
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address as given.
        addr: String,
        /// Why, as the system said it.
        reason: String,
    },
    /// The model or VAD could not make the workers' recognizers.
    #[error(transparent)]
    Engine(#[from] rech_asr::Error),
    /// The upload directory is not usable.
    #[error("upload directory {path}: {reason}")]
    UploadDir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The runtime could not start or the listener failed.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    /// An option has a value the server cannot take.
    #[error("{0}")]
    InvalidOption(String),
}

/// A failed request, rendered as OpenAI renders it.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400: the request cannot be served as it is.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 about one field of the request.
    pub fn invalid_param(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            param: Some(param),
            ..Self::invalid(message)
        }
    }

    /// 401: no key, or not the server's.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            code: Some("invalid_api_key"),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
        }
    }

    /// 404: a path the server does not have.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// 413: the upload is larger than `--max-upload`.
    pub fn too_large(limit: u64) -> Self {
        Self {
            param: Some("file"),
            code: Some("file_too_large"),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!(
                    "the upload is larger than this server's limit of {}",
                    describe_size(limit)
                ),
            )
        }
    }

    /// 429: every worker is busy and the queue is full.
    pub fn busy(retry_after: u64) -> Self {
        Self {
            code: Some("rate_limit_exceeded"),
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "the server is busy: every worker is transcribing and the queue is full; retry later",
            )
        }
    }

    /// 503: the server is shutting down, or cut the request off when its grace period ended.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
        }
    }

    /// 403: a browser page from an origin the server does not trust, or a host name it does not
    /// answer to (a DNS-rebinding page).
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            ..Self::new(StatusCode::FORBIDDEN, "invalid_request_error", message)
        }
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{} is not a method of this endpoint", excerpt(method, 16)),
        )
    }

    /// 408: the client stopped sending its request.
    pub fn timeout(seconds: u64) -> Self {
        Self {
            code: Some("request_timeout"),
            ..Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                format!("the request body made no progress for {seconds} s"),
            )
        }
    }

    /// 500: the server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The error with a `code`.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// OpenAI's error body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
        .to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The access log's line for a request refused before it was served: why, never the key.
pub(crate) fn log_refused(request: &axum::extract::Request, why: &str) {
    log::info!(
        target: "rech_server::access",
        "refused {} {}: {why}",
        request.method(),
        excerpt(request.uri().path(), 200)
    );
}

/// What a client sent, quoted for an error message and cut to `max` characters: an answer never
/// echoes a megabyte back.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let head: String = text.chars().take(max).collect();
    if head.len() < text.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// A message (a parser's complaint, which may quote the input) cut to `max` characters.
pub(crate) fn shortened(text: &str, max: usize) -> String {
    let head: String = text.chars().take(max).collect();
    if head.len() < text.len() {
        format!("{head}…")
    } else {
        head
    }
}

/// `25 MB`, `1.5 GB`, `512 bytes`: sizes in the units `--max-upload` takes.
pub fn describe_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let value = bytes as f64 / unit as f64;
            return if bytes % unit == 0 {
                format!("{} {name}", bytes / unit)
            } else {
                format!("{value:.1} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// `25M`, `1G`, `500K`, `25MB`, `1048576`: binary units, as `--max-upload` takes them.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let digits = upper.trim_end_matches(['B', 'I']);
    let (number, unit) = match digits.char_indices().last() {
        Some((i, c @ ('K' | 'M' | 'G'))) => (&digits[..i], c),
        _ => (digits, ' '),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 25M)"))?;
    let scale = match unit {
        'K' => 1u64 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => 1,
    };
    let bytes = value * scale as f64;
    if !(1.0..=f64::from(u32::MAX) * 16.0).contains(&bytes) {
        return Err(format!("{text:?} is not a usable size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_openais() {
        let err = ApiError::invalid_param("response_format", "bad");
        let value: serde_json::Value = serde_json::from_str(&err.body()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"error": {"message": "bad", "type": "invalid_request_error",
                "param": "response_format", "code": null}})
        );
    }

    #[test]
    fn busy_says_when_to_retry() {
        let response = ApiError::busy(3).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("ru", 16), "\"ru\"");
        assert_eq!(excerpt(&"я".repeat(1000), 4), "\"яяяя\"…");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(describe_size(25 << 20), "25 MiB");
        assert_eq!(describe_size(1536 << 20), "1.5 GiB");
        assert_eq!(describe_size(100), "100 bytes");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("25M"), Ok(25 << 20));
        assert_eq!(parse_size("25MB"), Ok(25 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("500K"), Ok(500 << 10));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1M").is_err());
    }
}
