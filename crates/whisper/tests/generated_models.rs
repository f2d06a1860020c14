//! Models written by rech-ggml's generator run in whisper.cpp itself, in every weight type the
//! generator writes.

use rech_ggml::generate::{write_model_file_with_decoder, DecoderOutput, GenerateOptions};
use rech_ggml::model_file::Hparams;

#[test]
fn whisper_cpp_runs_generated_models_of_every_type() {
    // Without a log backend this routes whisper.cpp's chatter to nowhere.
    whisper_rs::install_logging_hooks();
    let dir = tempfile::tempdir().unwrap();
    let audio: Vec<f32> = (0..32_000)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin())
        .collect();
    let mut texts = Vec::new();
    // f16, then q8_0, q5_1 and q4_0 as whisper.cpp's quantiser stores them.
    for ftype in [1, 2007, 2009, 2002] {
        let mut hparams = Hparams::micro();
        hparams.ftype = ftype;
        let path = dir.path().join(format!("micro-{ftype}.bin"));
        write_model_file_with_decoder(
            &path,
            &GenerateOptions { hparams, seed: 1 },
            DecoderOutput::Repeat,
        )
        .unwrap();
        rech_ggml::model_file::inspect(&path).expect("valid model");
        let ctx = whisper_rs::WhisperContext::new_with_params(
            &path,
            whisper_rs::WhisperContextParameters::default(),
        )
        .expect("whisper.cpp loads the generated model");
        let mut state = ctx.create_state().expect("state");
        let mut params =
            whisper_rs::FullParams::new(whisper_rs::SamplingStrategy::Greedy { best_of: 1 });
        params.set_language(Some("ru"));
        params.set_n_threads(2);
        // No sampling at higher temperatures (the repetition would trigger it), and a few
        // tokens are enough to compare.
        params.set_temperature_inc(0.0);
        params.set_max_tokens(12);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        state
            .full(params, &audio)
            .expect("whisper.cpp runs the model");
        let text: Vec<u8> = state
            .as_iter()
            .flat_map(|s| s.to_bytes().unwrap_or_default().to_vec())
            .collect();
        texts.push((ftype, text));
    }
    // The pinned decoder makes the same tokens win whatever the weights' precision.
    assert!(!texts[0].1.is_empty());
    for (ftype, text) in &texts[1..] {
        assert_eq!(
            String::from_utf8_lossy(text),
            String::from_utf8_lossy(&texts[0].1),
            "ftype {ftype} decodes like f16"
        );
    }
}
