//! Opus through libopus: symphonia 0.5 finds Opus tracks in Ogg, Matroska/WebM and MP4 but has
//! no Opus decoder, and Opus is what voice messages (Telegram, WhatsApp) and browser recordings
//! are. libopus is the reference decoder, bound by the `opus` crate and built from its bundled
//! source, so no system package is needed.

/// Opus always decodes at 48 kHz here: the rate its timestamps, pre-skip and padding count in.
pub(crate) const OPUS_RATE: u32 = 48_000;
/// The longest Opus packet lasts 120 ms.
const MAX_PACKET_FRAMES: usize = OPUS_RATE as usize * 120 / 1000;

/// The identification header, as Ogg (`OpusHead`, little-endian, version 1), Matroska (the
/// same, in `CodecPrivate`) and MP4 (`dOps`, big-endian, version 0, given to us by symphonia
/// behind an `OpusHead` magic) carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpusHead {
    pub channels: u8,
    /// Frames at 48 kHz to discard from the start of the decoded stream.
    pub pre_skip: u16,
    /// Output gain in Q7.8 dB.
    pub gain: i16,
    pub streams: u8,
    pub coupled: u8,
    pub mapping: Vec<u8>,
}

impl OpusHead {
    /// Parses an identification header; `None` when it is not one (or maps channels in a way
    /// no decoder knows).
    pub fn parse(data: &[u8]) -> Option<Self> {
        let body = data.strip_prefix(b"OpusHead")?;
        let version = *body.first()?;
        // The MP4 box is the only version-0 header, and it is big-endian.
        let big_endian = version == 0;
        if version > 15 {
            return None;
        }
        let u16_at = |i: usize| -> Option<u16> {
            let b = [*body.get(i)?, *body.get(i + 1)?];
            Some(if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        let channels = *body.get(1)?;
        let pre_skip = u16_at(2)?;
        let gain = u16_at(8)? as i16;
        let family = *body.get(10)?;
        if channels == 0 {
            return None;
        }
        let (streams, coupled, mapping) = if family == 0 {
            if channels > 2 {
                return None;
            }
            (1, channels - 1, (0..channels).collect())
        } else {
            let streams = *body.get(11)?;
            let coupled = *body.get(12)?;
            let mapping = body.get(13..13 + usize::from(channels))?.to_vec();
            if streams == 0 || coupled > streams {
                return None;
            }
            (streams, coupled, mapping)
        };
        Some(Self {
            channels,
            pre_skip,
            gain,
            streams,
            coupled,
            mapping,
        })
    }

    /// The stereo header libopus assumes when a container gives none (an MP4 without `dOps`).
    pub fn default_for(channels: u8) -> Option<Self> {
        (1..=2).contains(&channels).then(|| Self {
            channels,
            pre_skip: 0,
            gain: 0,
            streams: 1,
            coupled: channels - 1,
            mapping: (0..channels).collect(),
        })
    }
}

/// One Opus stream being decoded to interleaved 48 kHz samples.
pub(crate) struct OpusDecoder {
    decoder: opus::MSDecoder,
    channels: usize,
    scale: f32,
    pcm: Vec<f32>,
}

impl OpusDecoder {
    pub fn new(head: &OpusHead) -> Result<Self, String> {
        let decoder = opus::MSDecoder::new(OPUS_RATE, head.streams, head.coupled, &head.mapping)
            .map_err(|e| format!("libopus refuses the stream's layout ({})", e.description()))?;
        let channels = usize::from(head.channels);
        Ok(Self {
            decoder,
            channels,
            scale: 10f32.powf(f32::from(head.gain) / (20.0 * 256.0)),
            pcm: vec![0.0; MAX_PACKET_FRAMES * channels],
        })
    }

    /// Decodes one packet; returns its interleaved samples.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32], String> {
        if packet.is_empty() {
            return Ok(&[]);
        }
        let frames = self
            .decoder
            .decode_float(packet, &mut self.pcm, false)
            .map_err(|e| e.description().to_owned())?;
        let samples = &mut self.pcm[..frames * self.channels];
        if self.scale != 1.0 {
            for s in samples.iter_mut() {
                *s *= self.scale;
            }
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ogg_and_mp4_headers() {
        // OpusHead v1, stereo, pre-skip 312, 48 kHz, gain 0, family 0.
        let ogg = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let head = OpusHead::parse(ogg).unwrap();
        assert_eq!((head.channels, head.pre_skip, head.coupled), (2, 312, 1));
        // The same as dOps (version 0, big-endian).
        let mp4 = b"OpusHead\x00\x02\x01\x38\x00\x00\xbb\x80\x00\x00\x00";
        assert_eq!(OpusHead::parse(mp4), Some(head));
        assert_eq!(OpusHead::parse(b"OpusHead\x01\x00\x38\x01"), None);
        assert_eq!(OpusHead::parse(b"OpusTags"), None);
        // Family 1 without its table.
        assert_eq!(
            OpusHead::parse(b"OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x04"),
            None
        );
    }

    #[test]
    fn garbage_packets_are_errors_not_crashes() {
        let mut decoder = OpusDecoder::new(&OpusHead::default_for(1).unwrap()).unwrap();
        // A TOC byte promising code-3 frames with a count beyond what follows.
        assert!(decoder.decode(&[0xff, 0xff]).is_err());
        assert!(decoder.decode(&[]).unwrap().is_empty());
    }
}
