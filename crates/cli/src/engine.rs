//! The one place the binary names the engine crates: which engine a model is for (told by the
//! file's content, never its name), refusing options the chosen engine cannot honour, loading
//! it (with the message that tells the user how to repair a bad file), and reading
//! `-l/--language`, for `rech transcribe` and `rech dictate` alike. Everything after loading
//! goes through rech-asr's engine trait; the subcommands only fill in plain options.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use rech_asr::resolve::ResolvedModel;

use crate::models::repair_hint;
use rech_asr::Engine;

use crate::{Context, UsageError};

pub use rech::EngineKind;

/// A decoding option given on the command line, as typed (`--beam-size`), and whether it was
/// given: honoured only by engines whose capabilities say they take decoding options.
pub type WhisperOnly = (&'static str, bool);

/// The one usage error for the first option the model's engine does not honour, and for a
/// language it does not speak, as its capabilities say (`rech::check_wanted`).
fn refuse_unsupported(
    kind: EngineKind,
    options: &[WhisperOnly],
    language: Option<&str>,
) -> Result<()> {
    let capabilities = kind.capabilities();
    let given: Vec<rech::Wanted> = options
        .iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| rech::Wanted::DecodingOption(flag))
        .collect();
    if let Err(rech::Error::Unsupported {
        option,
        engine,
        why,
    }) = rech::check_wanted(&capabilities, &given)
    {
        return Err(UsageError(format!("{option} is for Whisper models: {engine} {why}")).into());
    }
    if let Err(rech::Error::Unsupported { engine, why, .. }) =
        rech::check_wanted(&capabilities, &[rech::Wanted::Language(language)])
    {
        let lang = language.unwrap_or("auto");
        return Err(UsageError(format!(
            "-l {lang}: {engine} {why}; pass a Whisper model (-m) for other languages"
        ))
        .into());
    }
    Ok(())
}

/// The model a command runs: `spec` (`-m`), or the default for `language` and `purpose` (a
/// Whisper model where one of `only` is given), fetched on first use; refused with one line
/// where its engine cannot honour `only` or `language`; then loaded with the engine its
/// content calls for with `options` (Whisper's, how many workers, GigaAM's copies), GigaAM on
/// `threads` threads a worker, fetching ONNX Runtime first where it is missing and rech may go online. A
/// missing, unreadable or damaged Whisper file gets a hint on how to replace it.
pub fn load_model(
    spec: Option<&Path>,
    purpose: rech::Use,
    language: Option<&str>,
    only: &[WhisperOnly],
    options: rech::EngineOptions,
    threads: usize,
    ctx: &Context,
) -> Result<(ResolvedModel, Arc<dyn Engine>)> {
    let (resolved, kind) = choose_model(spec, purpose, language, only, ctx)?;
    // Before anything is fetched: GigaAM takes the GPU in every build, Whisper only in one
    // with a GPU back end.
    if kind == EngineKind::Whisper && options.gpu.is_some() && !rech_whisper::has_gpu_backend() {
        return Err(UsageError(
            "--gpu: this build of rech has no GPU back end for Whisper models (build it with --features cuda, vulkan, metal or hipblas; see the README); GigaAM models take --gpu in every build".into(),
        )
        .into());
    }
    let engine = load(&resolved, kind, options, threads, ctx)?;
    Ok((resolved, engine))
}

/// The model [`load_model`] would load and its engine, without loading or fetching it: an
/// unknown name, or an option or language its engine cannot honour, is one usage error now.
pub fn choose_model(
    spec: Option<&Path>,
    purpose: rech::Use,
    language: Option<&str>,
    only: &[WhisperOnly],
    ctx: &Context,
) -> Result<(ResolvedModel, EngineKind)> {
    let whisper_given = only.iter().any(|(_, given)| *given);
    let default = rech::default_model(language, purpose, whisper_given);
    let resolved = crate::models::resolve_model(spec, default, ctx)?;
    let kind = EngineKind::of(&resolved.path);
    refuse_unsupported(kind, only, language)?;
    Ok((resolved, kind))
}

fn load(
    resolved: &ResolvedModel,
    kind: EngineKind,
    options: rech::EngineOptions,
    threads: usize,
    ctx: &Context,
) -> Result<Arc<dyn Engine>> {
    let mut fetcher = crate::models::fetcher(ctx)?;
    rech::load_engine(&resolved.path, &options, threads, &mut fetcher).map_err(|err| match err {
        rech::Error::Fetch(e) => crate::models::explain(e, None),
        rech::Error::Asr(
            err @ (rech_asr::Error::ModelNotFound { .. }
            | rech_asr::Error::InvalidModel { .. }
            | rech_asr::Error::ModelUnreadable { .. }),
        ) if kind == EngineKind::Whisper => anyhow!("{err}; {}", repair_hint(resolved)),
        // An option value only the engine can judge (a regular expression): still a usage error.
        rech::Error::Asr(rech_asr::Error::InvalidOption(why)) => UsageError(why).into(),
        rech::Error::Asr(err @ rech_asr::Error::PromptTooLong { .. }) => {
            UsageError(format!("--prompt: {err}")).into()
        }
        other => other.into(),
    })
}

/// Routes the engines' own logs into `log`, silent unless asked for.
pub fn install_log_routing() {
    rech_whisper::install_log_routing();
}

/// `-l/--language`: `auto` (detect it) or a language code, lowercased. Anything that cannot be
/// a code is a usage error; whether the engine knows the code is its own check.
pub fn language_arg(text: &str) -> Result<Option<String>> {
    match rech_asr::languages::parse(text) {
        Some(code) => Ok(code.map(str::to_owned)),
        None => Err(UsageError(format!(
            "--language {text:?} is not a language Whisper knows (`-l list` prints the codes)"
        ))
        .into()),
    }
}

/// `-l list`: prints the language codes and names, one per line; true when it did.
pub fn list_languages(text: &str) -> Result<bool> {
    if !text.eq_ignore_ascii_case("list") {
        return Ok(false);
    }
    let mut out = std::io::stdout().lock();
    for (code, name) in rech_asr::languages::LANGUAGES {
        writeln!(out, "{code}\t{name}")?;
    }
    writeln!(out, "auto\tdetect the language")?;
    Ok(true)
}
