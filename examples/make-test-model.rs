//! Writes a whisper.cpp model with random weights for tests and benchmarks, because no real
//! Whisper weights can be downloaded where `rech` is built and tested.
//!
//! Usage: `cargo run --release -p rech-ggml --example make-test-model -- <micro|tiny|base|small|medium> OUT.bin [--seed N] [--decoder random|eot|repeat] [--type f16|f32|q8_0|q5_1|q5_0|q4_1|q4_0]`
//!
//! `--type` sets the weight matrices' type (f16 by default); quantised types are written as
//! whisper.cpp's own quantiser writes them, so that their speed can be measured here.
//! `--decoder eot` pins the decoder to end each window at once and `--decoder repeat` to repeat
//! one token up to whisper.cpp's limit, so that benchmarks of two engines do the same work.

use std::path::PathBuf;
use std::process::ExitCode;

use rech_ggml::generate::{write_model_file_with_decoder, DecoderOutput, GenerateOptions};
use rech_ggml::model_file::{inspect, Hparams};

const USAGE: &str =
    "usage: make-test-model <micro|tiny|base|small|medium> OUT.bin [--seed N] [--decoder random|eot|repeat] [--type f16|f32|q8_0|q5_1|q5_0|q4_1|q4_0]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (size, hparams, out, seed, decoder) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(why) => {
            eprintln!("make-test-model: {why}; {USAGE}");
            return ExitCode::from(2);
        }
    };
    let opts = GenerateOptions { hparams, seed };
    if let Err(e) = write_model_file_with_decoder(&out, &opts, decoder) {
        eprintln!("make-test-model: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    // Check what was written the way rech checks any model before loading it.
    match inspect(&out) {
        Ok(info) => {
            println!(
                "{}: {size} model, {} bytes ({:.1} MB), {} tensors, seed {seed}",
                out.display(),
                info.file_len,
                info.file_len as f64 / 1e6,
                info.tensor_count
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make-test-model: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

type Parsed<'a> = (&'a str, Hparams, PathBuf, u64, DecoderOutput);

fn parse(args: &[String]) -> Result<Parsed<'_>, String> {
    let mut positional = Vec::new();
    let mut seed = 0u64;
    let mut decoder = DecoderOutput::Random;
    let mut ftype = 1;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--type" {
            // As whisper.cpp's quantiser stores them: the type plus 1000 × quantisation version 2.
            ftype = match it.next().map(String::as_str) {
                Some("f32") => 0,
                Some("f16") => 1,
                Some("q4_0") => 2002,
                Some("q4_1") => 2003,
                Some("q8_0") => 2007,
                Some("q5_0") => 2008,
                Some("q5_1") => 2009,
                other => {
                    return Err(format!(
                        "--type takes f16, f32, q8_0, q5_1, q5_0, q4_1 or q4_0, not {other:?}"
                    ))
                }
            };
        } else if arg == "--decoder" {
            decoder = match it.next().map(String::as_str) {
                Some("random") => DecoderOutput::Random,
                Some("eot") => DecoderOutput::EndOfText,
                Some("repeat") => DecoderOutput::Repeat,
                other => {
                    return Err(format!(
                        "--decoder takes random, eot or repeat, not {other:?}"
                    ))
                }
            };
        } else if arg == "--seed" {
            let value = it.next().ok_or("--seed needs a number")?;
            seed = value
                .parse()
                .map_err(|_| format!("--seed {value:?} is not a non-negative integer"))?;
        } else if let Some(value) = arg.strip_prefix("--seed=") {
            seed = value
                .parse()
                .map_err(|_| format!("--seed {value:?} is not a non-negative integer"))?;
        } else if arg.starts_with('-') && arg.len() > 1 {
            return Err(format!("unknown option {arg:?}"));
        } else {
            positional.push(arg.as_str());
        }
    }
    let [size, out] = positional[..] else {
        return Err(format!("expected 2 arguments, got {}", positional.len()));
    };
    let mut hparams = match size {
        "micro" => Hparams::micro(),
        "tiny" => Hparams::tiny(),
        "base" => Hparams::base(),
        "small" => Hparams::small(),
        "medium" => Hparams::medium(),
        other => return Err(format!("unknown model size {other:?}")),
    };
    hparams.ftype = ftype;
    Ok((size, hparams, PathBuf::from(out), seed, decoder))
}
