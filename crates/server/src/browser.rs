//! What keeps web pages out: a server without a key on loopback is reachable by every page the
//! user opens, through the browser. Two checks run before anything else:
//!
//! - **Host**: a DNS-rebinding page reaches `127.0.0.1` under its own name, so a request whose
//!   `Host` is a name the server was not told to answer to is refused (403). IP addresses and
//!   `localhost` are always accepted: a page cannot rebind them.
//! - **Origin**: browsers send `Origin` with every cross-origin POST and WebSocket upgrade (a
//!   multipart POST needs no preflight, and WebSockets ignore CORS altogether). Such requests
//!   are refused (403) unless the origin is the server's own or one it was told to trust; the
//!   trusted ones get CORS headers and their preflights answered, so that their pages can read
//!   the answers.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{excerpt, log_refused, ApiError};
use crate::App;

/// The Host and Origin checks, then the request.
pub(crate) async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    if let Some(host) = &host {
        if !host_allowed(host, &app.options.allowed_hosts) {
            log_refused(&request, &format!("host {}", excerpt(host, 64)));
            return ApiError::forbidden(
                "host_not_allowed",
                format!(
                    "this server does not answer to the host {}: add it to the server's allowed hosts",
                    excerpt(host, 64)
                ),
            )
            .into_response();
        }
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let same = host.as_deref().is_some_and(|h| same_origin(&origin, h));
    let trusted = same || origin_listed(&origin, &app.options.allowed_origins);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let checked = preflight
        || request.uri().path() == "/v1/listen"
        || !matches!(*request.method(), Method::GET | Method::HEAD);
    if checked && !trusted {
        log_refused(&request, &format!("origin {}", excerpt(&origin, 64)));
        return ApiError::forbidden(
            "origin_not_allowed",
            format!(
                "pages from {} may not use this server: add the origin to the server's allowed origins",
                excerpt(&origin, 64)
            ),
        )
        .into_response();
    }
    if same {
        return next.run(request).await;
    }
    let allow_origin = HeaderValue::from_str(&origin).ok();
    if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        if let Some(value) = allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }
    let mut response = next.run(request).await;
    if trusted {
        if let Some(value) = allow_origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    response
}

/// `host` (a `Host` header: a name or address and maybe a port) split into the lowercase name
/// and the port.
fn split_authority(authority: &str) -> (String, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        return match rest.split_once(']') {
            Some((address, tail)) => (
                address.to_ascii_lowercase(),
                tail.strip_prefix(':').filter(|p| !p.is_empty()),
            ),
            None => (authority.to_ascii_lowercase(), None),
        };
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (
            name.to_ascii_lowercase(),
            Some(port).filter(|p| !p.is_empty()),
        ),
        _ => (authority.to_ascii_lowercase(), None),
    }
}

/// Whether the server answers to `host`: any IP address, `localhost` and its subdomains, and
/// the names in `allowed` (`name`, `.domain` for it and its subdomains, `*` for any).
pub(crate) fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let (name, _) = split_authority(host.trim());
    let name = name.trim_end_matches('.');
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    allowed.iter().any(|entry| {
        let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        entry == "*"
            || entry == name
            || entry
                .strip_prefix('.')
                .is_some_and(|domain| name == domain || name.ends_with(&format!(".{domain}")))
    })
}

/// Whether `origin` (`scheme://host[:port]`) is the server reached as `host`.
pub(crate) fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let (origin_name, origin_port) = split_authority(authority);
    let (host_name, host_port) = split_authority(host.trim());
    origin_name == host_name
        && origin_port.unwrap_or(default_port) == host_port.unwrap_or(default_port)
}

/// Whether `origin` is one of `allowed` (exact, without a trailing slash, case aside; `*` is
/// any).
pub(crate) fn origin_listed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    origin != "null"
        && allowed.iter().any(|entry| {
            let entry = entry.trim().trim_end_matches('/');
            entry == "*" || entry.eq_ignore_ascii_case(origin)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn addresses_and_localhost_are_always_answered() {
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.0.0.7:8080",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:1",
        ] {
            assert!(host_allowed(host, &[]), "{host}");
        }
    }

    #[test]
    fn other_names_only_when_allowed() {
        assert!(!host_allowed("attacker.example:8080", &[]));
        assert!(!host_allowed("localhost.attacker.example", &[]));
        let allowed = list(&["rech.internal", ".example.com"]);
        assert!(host_allowed("rech.internal:8080", &allowed));
        assert!(host_allowed("RECH.internal.", &allowed));
        assert!(host_allowed("example.com", &allowed));
        assert!(host_allowed("a.b.example.com:443", &allowed));
        assert!(!host_allowed("badexample.com", &allowed));
        assert!(host_allowed("anything", &list(&["*"])));
    }

    #[test]
    fn same_origin_compares_name_and_port() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://localhost", "localhost:80"));
        assert!(same_origin("https://rech.example", "rech.example"));
        assert!(!same_origin("http://127.0.0.1:9999", "127.0.0.1:8080"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:8080"));
        assert!(!same_origin("null", "127.0.0.1:8080"));
        assert!(!same_origin("file://", "127.0.0.1:8080"));
    }

    #[test]
    fn listed_origins() {
        let allowed = list(&["https://app.example.com/"]);
        assert!(origin_listed("https://app.example.com", &allowed));
        assert!(!origin_listed("https://app.example.com.evil", &allowed));
        assert!(origin_listed("http://x", &list(&["*"])));
        assert!(!origin_listed("null", &list(&["*"])));
    }
}
