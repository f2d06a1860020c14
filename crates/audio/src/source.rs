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
}

/// Averages interleaved frames into one channel.
pub(crate) fn downmix_into(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) {
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
