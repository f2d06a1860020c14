//! Measures the stack whisper.cpp's prompt tokenizer needs: it recurses through `std::regex`
//! once per character of a word, and a thread whose stack is too small does not panic — the
//! process dies. For each kind of text, at the longest prompt rech lets through (the user's
//! prompt plus the carried context, about 5,000 bytes), this finds the smallest stack that
//! survives by running itself as a child with a given stack, so that `RECOGNIZER_STACK_BYTES`
//! rests on a measurement.
//!
//! Usage: `prompt-stack MODEL [BYTES]` (a whisper.cpp ggml model; the vocabulary decides the
//! tokens); prints a table in KiB.

use std::process::{Command, ExitCode, Stdio};

use whisper_rs::{WhisperContext, WhisperContextParameters};

/// The kinds of text measured: one long word of a kind, and ordinary words.
const KINDS: [(&str, &str); 7] = [
    ("latin", "a"),
    ("digits", "7"),
    ("punctuation", "."),
    ("cyrillic", "я"),
    ("spaces", " "),
    ("mixed symbols", "a1."),
    ("words", "привет мир "),
];

fn text(kind: &str, bytes: usize) -> String {
    let unit = KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or("a", |(_, unit)| unit);
    let mut text = String::new();
    while text.len() + unit.len() <= bytes {
        text.push_str(unit);
    }
    text
}

fn child(model: &str, kind: &str, bytes: usize, stack_kib: usize) -> ExitCode {
    whisper_rs::install_logging_hooks();
    let Ok(ctx) = WhisperContext::new_with_params(model, WhisperContextParameters::default())
    else {
        return ExitCode::from(3);
    };
    let text = text(kind, bytes);
    let worker = std::thread::Builder::new()
        .stack_size(stack_kib << 10)
        .spawn(move || ctx.tokenize(&text, text.len() + 1).map(|t| t.len()));
    match worker.map(|w| w.join()) {
        Ok(Ok(Ok(_))) => ExitCode::SUCCESS,
        _ => ExitCode::from(4),
    }
}

/// Whether tokenising survives on a stack of `stack_kib`.
fn survives(model: &str, kind: &str, bytes: usize, stack_kib: usize) -> bool {
    let Ok(me) = std::env::current_exe() else {
        return false;
    };
    Command::new(me)
        .args([
            "--child",
            model,
            kind,
            &bytes.to_string(),
            &stack_kib.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, model, kind, bytes, stack] = &args[..] {
        if flag == "--child" {
            let (Ok(bytes), Ok(stack)) = (bytes.parse(), stack.parse()) else {
                return ExitCode::from(2);
            };
            return child(model, kind, bytes, stack);
        }
    }
    let (model, bytes) = match &args[..] {
        [model] => (model.clone(), 5_000),
        [model, bytes] => match bytes.parse() {
            Ok(b) => (model.clone(), b),
            Err(_) => {
                eprintln!("prompt-stack: BYTES must be a number");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: prompt-stack MODEL [BYTES]");
            return ExitCode::from(2);
        }
    };
    println!("text kind\tbytes\tsmallest stack (KiB)");
    for (kind, _) in KINDS {
        // The smallest stack in 16 KiB steps, between 64 KiB and 256 MiB.
        let (mut low, mut high) = (4usize, 16_384usize);
        if !survives(&model, kind, bytes, high * 16) {
            println!("{kind}\t{bytes}\tover {} KiB", high * 16);
            continue;
        }
        while low < high {
            let mid = (low + high) / 2;
            if survives(&model, kind, bytes, mid * 16) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        println!("{kind}\t{bytes}\t{}", high * 16);
    }
    ExitCode::SUCCESS
}
