//! `#[needs(shared)]`, `#[needs(venv)]`, `#[needs(programs(ffmpeg))]` and combinations such as
//! `#[needs(shared, programs(Xvfb xev))]`, above a `#[test]`: where what
//! the test needs is missing when it is compiled, the test is marked `#[ignore]` with the
//! reason, so that the runner's summary counts it as not run — never as passed after an early
//! return. Where the data is there, the test is left as it is. In CI (`CI` set) nothing is
//! ignored: a test without its data fails there, loudly.
//!
//! The check happens when the test is compiled: the macro makes the compiler track
//! `RECH_SHARED_DIR`, `RECH_TEST_VENV`, `CI` and `PATH` (through `option_env!`) and a small file of each
//! place it found, so that changing the variables or removing the data rebuilds the test; data
//! added at the default place later needs a rebuild (`cargo clean -p` of the test's crate).

use std::path::{Path, PathBuf};

use proc_macro::{TokenStream, TokenTree};

/// Marks a test `#[ignore]` when the data it needs is missing (see the crate's page).
#[proc_macro_attribute]
pub fn needs(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !has_test_attribute(&item) {
        return "compile_error!(\"#[needs(...)] goes above #[test], so that the test sees the #[ignore] it may add\");"
            .parse()
            .unwrap_or_default();
    }
    let wanted = attr.to_string();
    let mut missing = Vec::new();
    let mut tracked = Vec::new();
    for what in split_top_level(&wanted) {
        if let Some(list) = what
            .strip_prefix("programs")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
        {
            // `wl-copy` arrives as `wl - copy`.
            let list = list.replace(" - ", "-");
            let absent: Vec<&str> = list
                .split([',', ' '])
                .map(str::trim)
                .filter(|p| !p.is_empty() && !on_path(p))
                .collect();
            if !absent.is_empty() {
                missing.push(format!(
                    "{} on the PATH (scripts/install-deps.sh installs them)",
                    absent.join(", ")
                ));
            }
            continue;
        }
        let (found, marker, hint) = match what.as_str() {
            "shared" => {
                let dir = shared_dir();
                let found = dir.join("models/ggml-silero-v6.2.0.bin").is_file()
                    && dir.join("audio/ru/human").is_dir();
                (
                    found,
                    dir.join("models/README.md"),
                    format!(
                        "the shared test data at {} (set RECH_SHARED_DIR)",
                        dir.display()
                    ),
                )
            }
            "venv" => {
                let venv = venv_dir();
                (
                    venv.join("bin/python").is_file(),
                    venv.join("bin/python"),
                    format!(
                        "the test Python environment at {} (run scripts/install-deps.sh)",
                        venv.display()
                    ),
                )
            }
            other => {
                return format!(
                    "compile_error!(\"#[needs({other})]: rech's tests need `shared`, `venv` or `programs(NAME ...)`\");"
                )
                .parse()
                .unwrap_or_default();
            }
        };
        if found {
            if marker.is_file() {
                tracked.push(marker);
            }
        } else {
            missing.push(hint);
        }
    }
    let mut out = TokenStream::new();
    if !missing.is_empty() && std::env::var_os("CI").is_none() {
        let reason = format!("needs {}", missing.join(" and ")).replace('"', "'");
        out.extend(
            format!("#[ignore = {reason:?}]")
                .parse::<TokenStream>()
                .unwrap_or_default(),
        );
    }
    out.extend(item);
    out.extend(tracking(&tracked));
    out
}

/// The comma-separated parts of `text`, commas inside parentheses kept.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether `program` is a file in one of the `PATH`'s directories.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether `item` still carries `#[test]` (it does when `#[needs]` is written above it; below,
/// the test harness has taken the function already and an `#[ignore]` would come too late).
fn has_test_attribute(item: &TokenStream) -> bool {
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                if let Some(TokenTree::Group(g)) = tokens.next() {
                    if g.stream().to_string() == "test" {
                        return true;
                    }
                }
            }
            _ => return false,
        }
    }
    false
}

/// Items that make the compiler rebuild the test when the variables change or a found file
/// goes away (unused constants: nothing reaches the binary).
fn tracking(files: &[PathBuf]) -> TokenStream {
    let mut text = String::from(
        "const _: [Option<&str>; 4] = [option_env!(\"RECH_SHARED_DIR\"), \
         option_env!(\"RECH_TEST_VENV\"), option_env!(\"CI\"), option_env!(\"PATH\")];",
    );
    for file in files {
        text.push_str(&format!(
            "const _: &[u8] = include_bytes!({:?});",
            file.display().to_string()
        ));
    }
    text.parse().unwrap_or_default()
}

/// Where the tests look for the shared data: `RECH_SHARED_DIR`, else `../shared` beside the
/// workspace.
fn shared_dir() -> PathBuf {
    std::env::var_os("RECH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("../shared"))
}

/// The pinned Python environment of `scripts/install-deps.sh`: `RECH_TEST_VENV`, else
/// `.venv-test` in the workspace.
fn venv_dir() -> PathBuf {
    std::env::var_os("RECH_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join(".venv-test"))
}

/// The workspace root, from this crate's own place in it (`crates/testkit/macros`).
fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}
