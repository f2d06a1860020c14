//! The inputs of `rech transcribe` as the library finds them (`rech::inputs`), in the binary's
//! words: what a directory held that rech cannot read, and the flag that finds more.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rech::inputs::{expand, InputsError};
pub use rech::inputs::{Input, Shard};

use crate::UsageError;

/// The inputs named, directories expanded, `list` appended and `shard`'s slice kept; files a
/// directory holds that rech cannot read are reported on stderr unless `quiet`.
pub fn expand_inputs(
    named: &[PathBuf],
    recursive: bool,
    list: Option<&Path>,
    shard: Option<Shard>,
    quiet: bool,
) -> Result<Vec<Input>> {
    let found = expand(named, recursive, list, shard).map_err(|e| match e {
        InputsError::NoAudio {
            dir,
            subdirectories: true,
        } => UsageError(format!(
            "{}: no audio files in this directory (add -r to search its subdirectories)",
            dir.display()
        ))
        .into(),
        e @ (InputsError::NoAudio { .. } | InputsError::StdinTwice) => {
            UsageError(e.to_string()).into()
        }
        other => anyhow::Error::from(other),
    })?;
    for skipped in found.skipped.iter().filter(|_| !quiet) {
        let count = skipped.files.len();
        let shown: Vec<String> = skipped
            .files
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        let more = count - shown.len();
        eprintln!(
            "rech: {}: skipping {count} file{} rech cannot read ({}{}){}",
            skipped.dir.display(),
            if count == 1 { "" } else { "s" },
            shown.join(", "),
            if more > 0 {
                format!(", {more} more")
            } else {
                String::new()
            },
            if found.ffmpeg {
                ""
            } else {
                "; installing ffmpeg lets rech read more formats"
            }
        );
    }
    Ok(found.inputs)
}
