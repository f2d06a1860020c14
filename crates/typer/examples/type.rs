//! Types its arguments into the focused window, for trying a backend by hand and for the typing
//! benchmark: `cargo run -p rech-typer --example type -- [--typer NAME] [--delay MS] TEXT…`.

use std::time::{Duration, Instant};

use rech_typer::{Backend, Typer, TyperOptions};

fn main() {
    let mut options = TyperOptions::default();
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--typer" => {
                options.backend = Some(match args.next().as_deref() {
                    Some("x11") => Backend::X11,
                    Some("wayland") => Backend::Wayland,
                    Some("clipboard") => Backend::Clipboard,
                    Some("ydotool") => Backend::Ydotool,
                    other => fail(&format!("unknown typer {other:?}")),
                })
            }
            "--delay" => {
                let ms = args.next().and_then(|v| v.parse().ok());
                options.key_delay =
                    Duration::from_millis(ms.unwrap_or_else(|| fail("--delay takes milliseconds")));
            }
            _ => words.push(arg),
        }
    }
    let text = words.join(" ");
    let mut typer = Typer::open(&options).unwrap_or_else(|e| fail(&e.to_string()));
    if let Some(notice) = typer.notice() {
        eprintln!("type: {notice}");
    }
    let started = Instant::now();
    let typed = typer
        .type_text(&text)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "type: {} characters with {} in {seconds:.6} s{}",
        typed.chars,
        typer.backend(),
        if typed.untyped.is_empty() {
            String::new()
        } else {
            format!("; not typed: {:?}", typed.untyped)
        }
    );
}

fn fail(message: &str) -> ! {
    eprintln!("type: error: {message}");
    std::process::exit(1);
}
