//! The one place the binary names an engine crate: loading the model a user asked for (with
//! the message that tells them how to repair a bad file), and reading `-l/--language`, for
//! `rech transcribe` and `rech dictate` alike. Everything after loading goes through
//! rech-asr's engine trait; the subcommands only fill in the engine's plain options.

use std::time::Instant;

use anyhow::{anyhow, Result};
use rech_whisper::{WhisperEngine, WhisperOptions};

use crate::UsageError;
use rech_asr::resolve::{repair_hint, ResolvedModel};

/// Loads the resolved Whisper model with `options`; a missing, unreadable or damaged file gets
/// a hint on how to replace it.
pub fn load_whisper(resolved: &ResolvedModel, options: WhisperOptions) -> Result<WhisperEngine> {
    let started = Instant::now();
    let engine = WhisperEngine::load(&resolved.path, options).map_err(|err| match err {
        rech_asr::Error::ModelNotFound { .. }
        | rech_asr::Error::InvalidModel { .. }
        | rech_asr::Error::ModelUnreadable { .. } => {
            anyhow!("{err}; {}", repair_hint(resolved))
        }
        other => other.into(),
    })?;
    log::info!(
        "loaded {} in {:.2} s",
        resolved.path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(engine)
}

/// Whether a downloaded file is a model the engine can load (the checksum only proves it is
/// the file the user named).
pub fn validate_model_file(path: &std::path::Path) -> Result<(), rech_asr::Error> {
    rech_whisper::validate(path).map(|_| ())
}

/// Routes the engines' own logs into `log`, silent unless asked for.
pub fn install_log_routing() {
    rech_whisper::install_log_routing();
}

/// `-l/--language`: `auto` (detect it) or a language code, lowercased. Anything that cannot be
/// a code is a usage error; whether the engine knows the code is its own check.
pub fn language_arg(text: &str) -> Result<Option<String>> {
    if text == "auto" {
        return Ok(None);
    }
    let lang = text.to_ascii_lowercase();
    if lang.len() > 8 || !lang.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(UsageError(format!("--language {lang:?} is not a language code")).into());
    }
    Ok(Some(lang))
}
