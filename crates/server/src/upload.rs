//! Reading an OpenAI transcription request's multipart form as it arrives: the `file` part is
//! streamed into a temporary file (memory holds one chunk, whatever the upload's size) and
//! refused with 413 the moment it passes `--max-upload`; the other parts are short text
//! fields, each bounded by what it can mean (a language code is a few bytes). A form that
//! makes no progress for the read timeout is answered 408, freeing its place. The temporary file keeps the upload's extension, which rech-audio
//! takes as a hint, and is deleted when the request is done with it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use axum::extract::multipart::{Multipart, MultipartError};
use axum::http::StatusCode;
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

use crate::error::{excerpt, shortened, ApiError};

/// Longest text field accepted when the field has no bound of its own (unknown fields, which
/// OpenAI's clients may add and rech ignores).
const MAX_FIELD_BYTES: usize = 4 * 1024;
/// Longest field name shown in a message.
const SHOWN_NAME: usize = 40;

/// The name of one of OpenAI's fields, as errors name it.
fn known_param(name: &str) -> Option<&'static str> {
    [
        "language",
        "response_format",
        "temperature",
        "timestamp_granularities",
        "model",
        "prompt",
        "diarize",
        "known_speaker_names",
        "stream",
        "include",
    ]
    .into_iter()
    .find(|known| name.trim_end_matches("[]") == *known)
}

/// The most bytes a field may hold: what its values can mean. A prompt's own limit is the
/// engine's (Whisper: 224 tokens, 4 KiB), checked once the form is read.
fn field_limit(name: &str) -> usize {
    match name {
        "language" => 16,
        "response_format" | "temperature" => 32,
        "timestamp_granularities" | "timestamp_granularities[]" => 16,
        "model" => 256,
        "prompt" => 8 * 1024,
        "diarize" | "stream" | "include" | "include[]" => 32,
        "known_speaker_names" | "known_speaker_names[]" => 256,
        _ => MAX_FIELD_BYTES,
    }
}
/// Most parts a form may have.
const MAX_FIELDS: usize = 64;

/// The uploaded audio, on disk.
#[derive(Debug)]
pub(crate) struct Upload {
    pub file: NamedTempFile,
    pub bytes: u64,
    _live: Live,
}

/// Uploads on disk, process-wide: a job still running when the server exits (past its grace
/// period, cancelled but not yet stopped) would otherwise leave its upload behind.
static LIVE: std::sync::Mutex<std::collections::BTreeSet<std::path::PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// An upload's place in [`LIVE`], given up when the upload is dropped (and its file removed).
#[derive(Debug)]
struct Live(std::path::PathBuf);

impl Live {
    fn new(path: &Path) -> Self {
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned());
        Self(path.to_owned())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Removes every upload still on disk (at exit, once the workers had their moment to stop);
/// how many there were.
pub(crate) fn remove_leftovers() -> usize {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let count = live.len();
    for path in std::mem::take(&mut *live) {
        let _ = std::fs::remove_file(path);
    }
    count
}

/// A transcription request's form.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pub upload: Option<Upload>,
    /// Every text field by name, in order of arrival (`timestamp_granularities[]` repeats).
    pub fields: HashMap<String, Vec<String>>,
}

impl Form {
    /// The last value of `name`, if it was sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of `name` (and of `name[]`, as form encoders write lists).
    pub fn all(&self, name: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for key in [name.to_owned(), format!("{name}[]")] {
            if let Some(values) = self.fields.get(&key) {
                out.extend(values.iter().map(String::as_str));
            }
        }
        out
    }
}

/// Reads the whole form, the `file` part into a temporary file in `dir`.
pub(crate) async fn read_form(
    mut multipart: Multipart,
    dir: &Path,
    max_upload: u64,
    read_timeout: Duration,
    before_file: &(dyn Fn(&Form) -> Result<(), ApiError> + Sync),
) -> Result<Form, ApiError> {
    // Each wait for more of the body is bounded: a client that stops sending is cut off.
    let timed_out = || ApiError::timeout(read_timeout.as_secs().max(1));
    let mut form = Form::default();
    let mut parts = 0;
    while let Some(mut field) = timeout(read_timeout, multipart.next_field())
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| multipart_error(&e, max_upload))?
    {
        parts += 1;
        if parts > MAX_FIELDS {
            return Err(ApiError::invalid(format!(
                "the form has more than {MAX_FIELDS} parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            before_file(&form)?;
            if form.upload.is_some() {
                return Err(ApiError::invalid_param(
                    "file",
                    "the form has two `file` parts",
                ));
            }
            let suffix = field.file_name().map(extension_suffix).unwrap_or_default();
            let file = tempfile::Builder::new()
                .prefix("rech-upload-")
                .suffix(&suffix)
                .tempfile_in(dir)
                .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
            let std_file = file
                .as_file()
                .try_clone()
                .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
            let mut out = tokio::fs::File::from_std(std_file);
            let mut bytes: u64 = 0;
            while let Some(chunk) = timeout(read_timeout, field.chunk())
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| multipart_error(&e, max_upload))?
            {
                bytes += chunk.len() as u64;
                if bytes > max_upload {
                    return Err(ApiError::too_large(max_upload));
                }
                out.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
            }
            out.flush()
                .await
                .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
            let live = Live::new(file.path());
            form.upload = Some(Upload {
                file,
                bytes,
                _live: live,
            });
        } else {
            let limit = field_limit(&name);
            let mut text = Vec::new();
            while let Some(chunk) = timeout(read_timeout, field.chunk())
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| multipart_error(&e, max_upload))?
            {
                text.extend_from_slice(&chunk);
                if text.len() > limit {
                    let message = format!(
                        "the form field {} is longer than {limit} bytes",
                        excerpt(&name, SHOWN_NAME)
                    );
                    return Err(match known_param(&name) {
                        Some(param) => ApiError::invalid_param(param, message),
                        None => ApiError::invalid(message),
                    });
                }
            }
            let text = String::from_utf8(text).map_err(|_| {
                ApiError::invalid(format!(
                    "the form field {} is not UTF-8 text",
                    excerpt(&name, SHOWN_NAME)
                ))
            })?;
            form.fields.entry(name).or_default().push(text);
        }
    }
    Ok(form)
}

/// `.mp3` from `talk.mp3`, or nothing when the name has no plausible extension.
fn extension_suffix(file_name: &str) -> String {
    Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_default()
}

fn multipart_error(err: &MultipartError, max_upload: u64) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(max_upload);
    }
    ApiError::invalid(format!(
        "malformed multipart form: {}",
        shortened(&err.body_text(), 200)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_extensions_reach_the_file_name() {
        assert_eq!(extension_suffix("talk.MP3"), ".mp3");
        assert_eq!(extension_suffix("voice.ogg"), ".ogg");
        assert_eq!(extension_suffix("noext"), "");
        assert_eq!(extension_suffix("a.b/../../x"), "");
        assert_eq!(extension_suffix("x.verylongextension"), "");
    }

    #[test]
    fn lists_are_read_with_and_without_brackets() {
        let mut form = Form::default();
        form.fields
            .insert("timestamp_granularities[]".into(), vec!["word".into()]);
        form.fields
            .insert("timestamp_granularities".into(), vec!["segment".into()]);
        assert_eq!(form.all("timestamp_granularities"), ["segment", "word"]);
        assert_eq!(form.get("language"), None);
    }
}
