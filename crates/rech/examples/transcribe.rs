//! rech's crate page, runnable: `cargo run -p rech --example transcribe -- [MODEL] FILE`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.pop().ok_or("usage: transcribe [MODEL] FILE")?;
    let model = match args.pop() {
        Some(model) => rech::Model::load(model)?,
        None => rech::Model::load_default("ru")?,
    };
    let transcript = model.transcribe_file(file)?;
    print!("{}", rech::Format::Srt.render(&transcript));
    Ok(())
}
