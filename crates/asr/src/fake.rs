//! A made-up engine for the pipeline's unit tests, so that VAD, cutting, windows and dictation
//! are tested here without any real engine (the real ones test themselves against the pipeline
//! in their own crates).

use std::sync::{Arc, Mutex};

use crate::engine::{
    CancelToken, Capabilities, Engine, Recognition, Recognizer, Request, Token, TokenSegment,
    MIN_SAMPLES, SAMPLE_RATE,
};
use crate::error::Error;

/// What the fake engine says about the audio it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Nothing at all (a decoder that ends the text at once).
    Nothing,
    /// One word, «при», per started half second: any audio has text.
    Repeat,
    /// One word made from the samples' values: the same audio always reads the same, and
    /// different audio differently.
    Digest,
    /// One word: the number of samples given.
    Length,
    /// This text, whatever the audio.
    Says(&'static str),
}

/// The fake engine; [`FakeEngine::contexts`] records the context of every call.
#[derive(Debug, Clone)]
pub(crate) struct FakeEngine {
    pub caps: Capabilities,
    reply: Reply,
    contexts: Arc<Mutex<Vec<Option<String>>>>,
}

impl FakeEngine {
    /// An engine that takes any length and a prompt, and does not hallucinate.
    pub fn new(reply: Reply) -> Self {
        Self {
            caps: Capabilities {
                engine: "fake",
                languages: vec!["ru".to_owned(), "en".to_owned()],
                detects_language: true,
                min_samples: MIN_SAMPLES,
                max_samples: None,
                takes_prompt: true,
                word_times: true,
                hallucinates_on_silence: false,
                split_at_removed_pauses: false,
                decoding_options: true,
            },
            reply,
            contexts: Arc::default(),
        }
    }

    /// The contexts the recognizers were called with, in order.
    pub fn contexts(&self) -> Vec<Option<String>> {
        self.contexts.lock().unwrap().clone()
    }
}

impl Engine for FakeEngine {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn recognizer(&self, _threads: usize) -> Result<Box<dyn Recognizer>, Error> {
        Ok(Box::new(self.clone()))
    }
}

impl Recognizer for FakeEngine {
    fn check(&self, request: &Request) -> Result<(), Error> {
        match &request.language {
            Some(lang) if !self.caps.supports_language(lang) => Err(Error::InvalidOption(format!(
                "unknown language code {lang:?}"
            ))),
            _ => Ok(()),
        }
    }

    fn recognize(
        &mut self,
        samples: &[f32],
        request: &Request,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(f32),
    ) -> Result<Recognition, Error> {
        assert!(samples.len() >= self.caps.min_samples, "{}", samples.len());
        if let Some(max) = self.caps.max_samples {
            assert!(samples.len() <= max, "{} > {max}", samples.len());
        }
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        self.contexts.lock().unwrap().push(request.context.clone());
        let end = samples.len() as f64 / SAMPLE_RATE as f64;
        let word = |text: String, start: f64, end: f64| Token {
            bytes: format!(" {text}").into_bytes(),
            start,
            end,
            probability: 0.5,
        };
        let tokens = match self.reply {
            Reply::Nothing => Vec::new(),
            Reply::Repeat => {
                let count = samples.len().div_ceil(SAMPLE_RATE / 2);
                (0..count)
                    .map(|i| {
                        let start = i as f64 * 0.5;
                        word("при".to_owned(), start, (start + 0.5).min(end))
                    })
                    .collect()
            }
            Reply::Digest => {
                let digest = samples.iter().fold(0u64, |h, s| {
                    (h ^ u64::from(s.to_bits())).wrapping_mul(0x0100_0000_01b3)
                });
                vec![word(format!("w{:x}", digest % 0xffff), 0.0, end)]
            }
            Reply::Length => vec![word(samples.len().to_string(), 0.0, end)],
            Reply::Says(text) => vec![word(text.to_owned(), 0.0, end)],
        };
        progress(1.0);
        let segments = if tokens.is_empty() {
            Vec::new()
        } else {
            vec![TokenSegment {
                start: 0.0,
                end,
                tokens,
                no_speech_probability: 0.0,
            }]
        };
        Ok(Recognition {
            detected_language: request.language.is_none().then(|| "kk".to_owned()),
            segments,
        })
    }
}
