//! Measures how fast rech-audio decodes and resamples a file to 16 kHz mono, in multiples of
//! real time, streaming it chunk by chunk the way `rech transcribe` does.
//!
//! Usage: `cargo run --release -p rech-audio --example decode-throughput -- FILE [RUNS]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: decode-throughput FILE [RUNS]");
        return ExitCode::from(2);
    };
    let runs: usize = match args.next().map(|r| r.parse()) {
        None => 5,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("decode-throughput: RUNS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let mut times = Vec::with_capacity(runs);
    let mut seconds = 0.0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut stream = match rech_audio::open(&path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("decode-throughput: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut chunk = Vec::new();
        let mut samples = 0usize;
        loop {
            chunk.clear();
            match stream.next_chunk(&mut chunk) {
                Ok(true) => samples += chunk.len(),
                Ok(false) => break,
                Err(e) => {
                    eprintln!("decode-throughput: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        times.push(started.elapsed().as_secs_f64());
        seconds = samples as f64 / f64::from(rech_audio::SAMPLE_RATE);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{}\t{:.1} s of audio\tmedian {:.3} s\t{:.0}x real time",
        path.display(),
        seconds,
        median,
        seconds / median
    );
    ExitCode::SUCCESS
}
