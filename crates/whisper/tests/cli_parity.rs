//! rech decodes as whisper-cli does: the same text as a direct whisper.cpp call that fills
//! `whisper_full_params` exactly as whisper-cli 1.8.3's `examples/cli/cli.cpp` does under its
//! default options (flash attention off on both), greedy and beam, with and without
//! temperature fallback, on a generated model that decodes nonsense — which is what makes the
//! fallback passes (five sampled candidates each) run.

#[path = "../../../examples/common/whisper_cli.rs"]
mod whisper_cli;

use rech_testkit::needs;
use std::ffi::{CStr, CString};
use std::path::Path;

use rech_asr::{TranscribeOptions, Transcriber};
use rech_ggml::generate::DecoderOutput;
use rech_testkit::{micro_model, shared_dir};
use rech_whisper::{Decoding, WhisperEngine, WhisperOptions};
use whisper_rs::whisper_rs_sys as sys;

/// whisper-cli's own choices, as its command line takes them.
#[derive(Debug, Clone, Copy)]
struct CliRun {
    /// `-bs N` (whisper-cli's default is 5; 1 is greedy).
    beam_size: i32,
    /// `-nf`.
    no_fallback: bool,
}

const THREADS: i32 = 2;

/// One segment: start and end in centiseconds, and its text.
type Segment = (i64, i64, String);

/// What `whisper-cli -m MODEL -l ru -t 2 -nfa [-bs N] [-nf] FILE` computes, through the C API:
/// cli.cpp's parameter block, field by field, from `whisper_full_default_params(GREEDY)`.
fn whisper_cli(model: &Path, samples: &[f32], run: CliRun) -> Vec<Segment> {
    let model = CString::new(model.to_str().unwrap()).unwrap();
    let language = CString::new("ru").unwrap();
    let empty = CString::new("").unwrap();
    // SAFETY: plain calls into whisper.cpp with pointers that outlive them.
    unsafe {
        let mut cparams = sys::whisper_context_default_params();
        cparams.use_gpu = true;
        cparams.flash_attn = false;
        let ctx = sys::whisper_init_from_file_with_params(model.as_ptr(), cparams);
        assert!(!ctx.is_null(), "whisper.cpp loads the model");

        let w = whisper_cli::params(&language, &empty, THREADS, run.beam_size, run.no_fallback);

        let status = sys::whisper_full(ctx, w, samples.as_ptr(), samples.len() as i32);
        assert_eq!(status, 0, "whisper_full");
        let segments = (0..sys::whisper_full_n_segments(ctx))
            .map(|i| {
                let text = CStr::from_ptr(sys::whisper_full_get_segment_text(ctx, i));
                // whisper-cli prints a segment's bytes as they are, a character cut between
                // two segments included; rech drops such a fragment.
                let text = String::from_utf8_lossy(text.to_bytes()).replace('\u{FFFD}', "");
                (
                    sys::whisper_full_get_segment_t0(ctx, i),
                    sys::whisper_full_get_segment_t1(ctx, i),
                    text.trim().to_owned(),
                )
            })
            .filter(|(_, _, text)| !text.is_empty())
            .collect();
        sys::whisper_free(ctx);
        segments
    }
}

/// The same audio through rech's engine and pipeline, with the options that mean the same.
fn rech(model: &Path, samples: &[f32], run: CliRun) -> Vec<Segment> {
    let defaults = WhisperOptions::default();
    let options = WhisperOptions {
        decoding: if run.beam_size > 1 {
            Decoding::BeamSearch {
                beam_size: run.beam_size as u32,
            }
        } else {
            Decoding::Greedy
        },
        temperature_increment: if run.no_fallback {
            0.0
        } else {
            defaults.temperature_increment
        },
        // whisper-cli splits segments between tokens when asked to; rech's default between
        // words only matters with a length limit, which neither sets.
        ..defaults
    };
    let engine = WhisperEngine::load(model, options).expect("rech loads the model");
    let mut transcriber = Transcriber::new(&engine, THREADS as usize).unwrap();
    let transcript = transcriber
        .transcribe(
            samples,
            &TranscribeOptions {
                language: Some("ru".into()),
                ..TranscribeOptions::default()
            },
        )
        .expect("rech transcribes");
    transcript
        .segments
        .iter()
        .map(|s| {
            (
                (s.start * 100.0).round() as i64,
                (s.end * 100.0).round() as i64,
                s.text.trim().to_owned(),
            )
        })
        .collect()
}

/// Real speech: one recording (under a window) and five in a row (two windows).
fn recordings(shared: &Path) -> Vec<(String, Vec<f32>)> {
    let dir = shared.join("audio/ru/human");
    let read = |name: &str| {
        rech_audio::decode_file(&dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .samples
    };
    let long: Vec<f32> = [
        "ru_0022.wav",
        "ru_0024.wav",
        "ru_0025.wav",
        "ru_0027.wav",
        "ru_0030.wav",
    ]
    .iter()
    .flat_map(|name| read(name))
    .collect();
    vec![
        ("ru_0030.wav".to_owned(), read("ru_0030.wav")),
        ("five recordings".to_owned(), long),
    ]
}

#[needs(shared)]
#[test]
fn rech_decodes_as_whisper_cli_with_and_without_fallback() {
    let shared = shared_dir();
    rech_whisper::install_log_routing();
    let model = micro_model(11, DecoderOutput::Random);
    let mut fallback_ran = false;
    for (name, samples) in recordings(&shared) {
        for run in [
            CliRun {
                beam_size: 1,
                no_fallback: true,
            },
            CliRun {
                beam_size: 1,
                no_fallback: false,
            },
            CliRun {
                beam_size: 5,
                no_fallback: true,
            },
            CliRun {
                beam_size: 5,
                no_fallback: false,
            },
        ] {
            // rech ends no segment after the audio does; whisper.cpp's last timestamp token
            // can point past it.
            let end_cs = (samples.len() as f64 / 160.0).round() as i64;
            let clamp = |segments: Vec<Segment>| -> Vec<Segment> {
                segments
                    .into_iter()
                    .map(|(t0, t1, text)| (t0.min(end_cs), t1.min(end_cs), text))
                    .collect()
            };
            let reference = clamp(whisper_cli(model, &samples, run));
            let ours = rech(model, &samples, run);
            assert!(
                !reference.is_empty(),
                "{name} {run:?}: whisper.cpp wrote nothing"
            );
            assert_eq!(ours, reference, "{name} {run:?}");
            if !run.no_fallback {
                let without = whisper_cli(
                    model,
                    &samples,
                    CliRun {
                        no_fallback: true,
                        ..run
                    },
                );
                fallback_ran |= without != reference;
            }
        }
    }
    // Otherwise the fallback cases would compare nothing the no-fallback ones did not.
    assert!(fallback_ran, "temperature fallback never changed the text");
}
