//! `#[needs(shared)]`, `#[needs(venv)]`, `#[needs(shared, venv)]` above a `#[test]`: where what
//! the test needs is missing when it is compiled, the test is marked `#[ignore]` with the
//! reason, so that the runner's summary counts it as not run — never as passed after an early
//! return. Where the data is there, the test is left as it is. In CI (`CI` set) nothing is
//! ignored: a test without its data fails there, loudly.
//!
//! The check happens when the test is compiled: the macro makes the compiler track
//! `RECH_SHARED_DIR` and `RECH_TEST_VENV` (through `option_env!`) and a small file of each
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
    for what in wanted.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (found, marker, hint) = match what {
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
                    "compile_error!(\"#[needs({other})]: rech's tests need `shared` or `venv`\");"
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
        "const _: (Option<&str>, Option<&str>, Option<&str>) = \
         (option_env!(\"RECH_SHARED_DIR\"), option_env!(\"RECH_TEST_VENV\"), option_env!(\"CI\"));",
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
