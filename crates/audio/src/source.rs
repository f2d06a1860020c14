//! What every decoder has in common, apart from how it decodes: what the input was
//! ([`SourceInfo`]), the face a decoder shows the stream ([`BlockSource`]), and the downmix
//! they all use; shared by `decode.rs` and the decoders beside it (`w64.rs`).

use crate::error::AudioError;

/// What the input was before conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Container or codec, lowercase: `wav`, `mp3`, `flac`, `vorbis`, `aac`, ….
    pub format: String,
    /// The input's own sample rate in hertz.
    pub sample_rate: u32,
    /// The input's own channel count (all are averaged into one).
    pub channels: u16,
    /// Frames (samples per channel) the header announces, when it does.
    pub frames: Option<u64>,
}

impl SourceInfo {
    /// Duration the header announces, in seconds, when it does.
    pub fn duration(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / f64::from(self.sample_rate))
    }
}

/// One decoder behind a common face: appends mono samples at the input's own rate.
pub(crate) trait BlockSource: Send {
    fn info(&self) -> &SourceInfo;
    /// Appends the next block of mono samples; returns `false` when the input has ended.
    fn next_block(&mut self, mono: &mut Vec<f32>) -> Result<bool, AudioError>;
    /// How the channels become one, before the first block.
    fn set_mix(&mut self, mix: Mix);
    /// Decodes ahead what the stream's info needs (a channel count some decoders learn only
    /// from the first frame), once the mix is set.
    fn prime(&mut self) -> Result<(), AudioError> {
        Ok(())
    }
}

/// How a decoder's channels become the one channel rech transcribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// Every channel averaged: one voice of the whole recording.
    #[default]
    Average,
    /// One channel alone, counting from 0 (one speaker of a call recorded per channel).
    Channel(u16),
}

/// Makes one channel of interleaved frames, as `mix` says (an out-of-range channel averages:
/// the stream refuses it as soon as its channel count is known).
pub(crate) fn downmix_into(interleaved: &[f32], channels: usize, mix: Mix, mono: &mut Vec<f32>) {
    if let Mix::Channel(pick) = mix {
        let pick = usize::from(pick);
        if pick < channels {
            mono.extend(interleaved.chunks_exact(channels).map(|frame| frame[pick]));
            return;
        }
    }
    if channels == 1 {
        mono.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    mono.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}
