//! The web page at `/`: people, not only programs, can use a self-hosted server. Its HTML, CSS
//! and JavaScript are embedded in the binary (no fonts, scripts or CDNs from elsewhere, so it
//! works offline), in Russian unless the browser prefers English, and it calls the public API
//! as any client does. Without JavaScript, its form posts to `/page/transcribe`, which answers
//! with a page of the transcript and its downloads — what a basic browser or `curl -F` gets.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rech_asr::Transcript;

use crate::api::{document, receive, ResponseFormat};
use crate::error::ApiError;
use crate::upload::Form;
use crate::App;

const INDEX: &str = include_str!("../page/index.html");
const RESULT: &str = include_str!("../page/result.html");
const STRINGS: &str = include_str!("../page/strings.json");
const APP_JS: &str = include_str!("../page/app.js");
const APP_CSS: &str = include_str!("../page/app.css");
const WORKLET_JS: &str = include_str!("../page/worklet.js");

/// What the page may load and connect to: itself only (blob: for the recordings it plays).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; media-src 'self' blob:; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// The page's languages: Russian first (the default), then English.
const LANGUAGES: [&str; 2] = ["ru", "en"];

type Strings = BTreeMap<String, String>;

/// Each language's strings, read from the embedded `strings.json` once.
fn strings(lang: &str) -> &'static Strings {
    static TABLES: OnceLock<BTreeMap<String, Strings>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        // Embedded and checked by a unit test: it parses.
        serde_json::from_str(STRINGS).unwrap_or_default()
    });
    static EMPTY: OnceLock<Strings> = OnceLock::new();
    tables
        .get(lang)
        .or_else(|| tables.get(LANGUAGES[0]))
        .unwrap_or_else(|| EMPTY.get_or_init(Strings::new))
}

/// The page's language: `?lang=` when given, else the first of Russian and English the
/// browser's `Accept-Language` prefers, else Russian.
fn language(query: Option<&str>, headers: &HeaderMap) -> &'static str {
    if let Some(lang) = query.and_then(|q| LANGUAGES.iter().find(|l| **l == q)) {
        return lang;
    }
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut ranked: Vec<(f32, usize, &'static str)> = Vec::new();
    for (position, entry) in accepted.split(',').enumerate() {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let primary = tag.split('-').next().unwrap_or_default();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(lang) = LANGUAGES.iter().find(|l| **l == primary) {
            if quality > 0.0 {
                ranked.push((quality, position, lang));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map_or(LANGUAGES[0], |r| r.2)
}

/// Replaces each `{{name}}` in `template` by `values[name]` (already escaped for HTML).
fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => {
                out.push_str("{{");
                out.push_str(name);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The language's strings, escaped, as template values (with `lang`).
fn values(lang: &'static str) -> BTreeMap<&'static str, String> {
    let mut values: BTreeMap<&'static str, String> = strings(lang)
        .iter()
        .map(|(k, v)| (k.as_str(), escape(v)))
        .collect();
    values.insert("lang", lang.to_owned());
    values
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `?lang=`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PageQuery {
    lang: Option<String>,
}

/// `GET /`.
pub(crate) async fn index(
    State(app): State<Arc<App>>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let lang = language(
        query.as_ref().ok().and_then(|q| q.lang.as_deref()),
        &headers,
    );
    let mut values = values(lang);
    let other = LANGUAGES.iter().find(|l| **l != lang).unwrap_or(&"en");
    values.insert("other_lang", (*other).to_owned());
    // The page's own strings for its script; `<` escaped so that no string ends the element.
    let table = serde_json::to_string(strings(lang))
        .unwrap_or_default()
        .replace('<', "\\u003c");
    values.insert("strings", table);
    values.insert("options", options_html(&app, strings(lang)));
    html(StatusCode::OK, fill(INDEX, &values))
}

/// The form's options the served model honours: a language when it has several, word times
/// when it gives them, speakers by channel (and by voice with the speaker models).
fn options_html(app: &App, strings: &Strings) -> String {
    let s = |key: &str| escape(strings.get(key).map_or(key, String::as_str));
    let capabilities = app.pool.engine().capabilities();
    let mut out = String::new();
    if capabilities.languages.len() > 1 {
        out.push_str(&format!(
            "<label>{} <select id=\"language\" name=\"language\">",
            s("language_label")
        ));
        if capabilities.detects_language {
            out.push_str(&format!(
                "<option value=\"\">{}</option>",
                s("language_auto")
            ));
        }
        for code in &capabilities.languages {
            let name = rech_asr::languages::name(code).unwrap_or(code);
            out.push_str(&format!(
                "<option value=\"{}\">{} ({})</option>",
                escape(code),
                escape(name),
                escape(code)
            ));
        }
        out.push_str("</select></label>");
    }
    if capabilities.word_times {
        out.push_str(&format!(
            "<label><input id=\"words\" type=\"checkbox\" name=\"timestamp_granularities[]\" \
             value=\"word\"> {}</label>",
            s("words_label")
        ));
    }
    out.push_str(&format!(
        "<label>{} <select id=\"speakers\" name=\"diarize\"><option value=\"none\">{}</option>",
        s("speakers_label"),
        s("speakers_none")
    ));
    if app.options.speakers.models.is_some() {
        out.push_str(&format!(
            "<option value=\"voices\">{}</option>",
            s("speakers_voices")
        ));
    }
    out.push_str(&format!(
        "<option value=\"channels\">{}</option></select></label>",
        s("speakers_channels")
    ));
    out
}

/// `GET /page/{asset}`: the page's script, style sheet and audio worklet.
pub(crate) async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "app.js" | "worklet.js" => (
            "text/javascript; charset=utf-8",
            if name == "app.js" { APP_JS } else { WORKLET_JS },
        ),
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        _ => return ApiError::not_found("no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `POST /page/transcribe`: the page's form without JavaScript. The form's `api_key` field
/// (sent before the file, as the page's form orders it) stands for the `Authorization` header.
pub(crate) async fn transcribe_form(
    State(app): State<Arc<App>>,
    query: Result<Query<PageQuery>, QueryRejection>,
    request: Request,
) -> Response {
    let lang = language(
        query.as_ref().ok().and_then(|q| q.lang.as_deref()),
        request.headers(),
    );
    let expected = app.options.api_key.clone();
    let check_key = move |form: &Form| -> Result<(), ApiError> {
        let Some(expected) = &expected else {
            return Ok(());
        };
        match form.get("api_key").map(str::trim) {
            Some(given) if crate::api::same(given.as_bytes(), expected.as_bytes()) => Ok(()),
            Some(given) if !given.is_empty() => {
                Err(ApiError::unauthorized("incorrect API key provided"))
            }
            _ => Err(ApiError::unauthorized(
                "this server needs an API key: enter it in the form's key field",
            )),
        }
    };
    let result = async {
        let received = receive(&app, request, &check_key).await?;
        received.transcribe(&app).await
    }
    .await;
    let mut values = values(lang);
    match result {
        Ok((transcript, params)) => {
            values.insert(
                "heading",
                values.get("result_heading").cloned().unwrap_or_default(),
            );
            values.insert(
                "body",
                result_html(&transcript, &params, &app.options.model_id),
            );
            html(StatusCode::OK, fill(RESULT, &values))
        }
        Err(err) => {
            values.insert(
                "heading",
                values.get("error_heading").cloned().unwrap_or_default(),
            );
            values.insert(
                "body",
                format!(
                    "<p class=\"error\" id=\"error\">{}</p>",
                    escape(&err.message)
                ),
            );
            html(err.status, fill(RESULT, &values))
        }
    }
}

/// The transcript as a page: its text, its segments with their times, and every download as a
/// `data:` link (nothing is kept on the server).
fn result_html(transcript: &Transcript, params: &crate::api::Params, model_id: &str) -> String {
    let mut out = format!(
        "<pre class=\"text\" id=\"text\">{}</pre>\n<ol class=\"segments\">\n",
        escape(&transcript.text())
    );
    for segment in &transcript.segments {
        out.push_str(&format!(
            "<li><time>{}</time>{}</li>\n",
            escape(&rech_asr::output::timestamp(segment.start, '.')),
            escape(segment.text.trim())
        ));
    }
    out.push_str("</ol>\n<p class=\"actions\">");
    for (format, extension) in [
        (ResponseFormat::Text, "txt"),
        (ResponseFormat::Srt, "srt"),
        (ResponseFormat::Vtt, "vtt"),
        (ResponseFormat::VerboseJson, "json"),
    ] {
        let (content_type, body) = document(transcript, format, params, model_id);
        out.push_str(&format!(
            "<a class=\"download\" download=\"transcript.{extension}\" href=\"data:{};base64,{}\">{extension}</a> ",
            content_type.replace(' ', ""),
            base64(body.as_bytes())
        ));
    }
    out.push_str("</p>\n");
    out
}

/// Standard base64 with padding (RFC 4648), for `data:` links.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_string_the_templates_use() {
        let tables: BTreeMap<String, Strings> = serde_json::from_str(STRINGS).unwrap();
        assert_eq!(
            tables.keys().map(String::as_str).collect::<Vec<_>>(),
            ["en", "ru"]
        );
        let generated = [
            "lang",
            "other_lang",
            "strings",
            "options",
            "heading",
            "body",
        ];
        for template in [INDEX, RESULT] {
            for piece in template.split("{{").skip(1) {
                let name = piece.split("}}").next().unwrap();
                if generated.contains(&name) {
                    continue;
                }
                for (lang, table) in &tables {
                    assert!(table.contains_key(name), "{lang} has no {name}");
                }
            }
        }
        // The script's own strings too: every t("…") it calls.
        let mut called = 0;
        for (at, _) in APP_JS.match_indices("t(\"") {
            // `t(` itself, not the end of another name (`createElement("…")`).
            let before = APP_JS[..at].chars().next_back().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' || before == '.' {
                continue;
            }
            let name = APP_JS[at + 3..].split('"').next().unwrap();
            called += 1;
            for (lang, table) in &tables {
                assert!(table.contains_key(name), "{lang} has no {name} (app.js)");
            }
        }
        assert!(called > 10, "app.js calls t() {called} times");
        assert_eq!(tables["ru"].len(), tables["en"].len());
        // The result page's headings, chosen in code.
        for (lang, table) in &tables {
            for name in ["result_heading", "error_heading"] {
                assert!(table.contains_key(name), "{lang} has no {name}");
            }
        }
    }

    #[test]
    fn the_form_without_javascript_sends_its_key_before_its_file() {
        // Browsers send a form's parts in document order, and the server refuses a request
        // without its key when the file part begins.
        let key = INDEX.find("name=\"api_key\"").unwrap();
        let file = INDEX.find("name=\"file\"").unwrap();
        assert!(key < file);
        let form = INDEX.find("<form id=\"upload-form\"").unwrap();
        assert!(form < key);
    }

    #[test]
    fn the_browser_picks_english_or_russian() {
        let mut headers = HeaderMap::new();
        assert_eq!(language(None, &headers), "ru");
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE,en-GB;q=0.8,ru;q=0.7".parse().unwrap(),
        );
        assert_eq!(language(None, &headers), "en");
        headers.insert(header::ACCEPT_LANGUAGE, "ru-RU,en;q=0.9".parse().unwrap());
        assert_eq!(language(None, &headers), "ru");
        headers.insert(header::ACCEPT_LANGUAGE, "fr".parse().unwrap());
        assert_eq!(language(None, &headers), "ru");
        assert_eq!(language(Some("en"), &headers), "en");
        assert_eq!(language(Some("xx"), &headers), "ru");
    }

    #[test]
    fn templates_are_filled_and_text_escaped() {
        let mut values = BTreeMap::new();
        values.insert("a", escape("<b>\"x\" & 'y'"));
        assert_eq!(
            fill("[{{a}}] {{missing}} {{", &values),
            "[&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;] {{missing}} {{"
        );
    }

    #[test]
    fn base64_as_rfc_4648_gives_it() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64("щ".as_bytes()), "0Yk=");
    }
}
