//! Sony Wave64 (`.w64`): WAV with 64-bit lengths and GUID chunk names, what recorders and DAWs
//! write when a take may pass 4 GB. Neither hound nor symphonia reads it, and its chunks are
//! simple enough to read here: `fmt ` is WAV's, `data` is interleaved PCM or float.

use std::io::{self, Read, SeekFrom};

use symphonia::core::io::MediaSource;

use crate::error::AudioError;
use crate::limits::{check_stream, read_up_to, unsupported};
use crate::source::{downmix_into, BlockSource, Mix, SourceInfo};

/// The file's first GUID ("riff" in W64's spelling).
const RIFF: [u8; 16] = [
    0x72, 0x69, 0x66, 0x66, 0x2e, 0x91, 0xcf, 0x11, 0xa5, 0xd6, 0x28, 0xdb, 0x04, 0xc1, 0x00, 0x00,
];
/// The tail every W64 chunk GUID but `riff` shares after its four-letter name.
const TAIL: [u8; 12] = [
    0xf3, 0xac, 0xd3, 0x11, 0x8c, 0xd1, 0x00, 0xc0, 0x4f, 0x8e, 0xdb, 0x8a,
];
/// Frames decoded per block.
const BLOCK_FRAMES: usize = 4096;

/// Whether `magic` (the file's first bytes, at least 12) starts a Wave64 file.
pub(crate) fn is_w64(magic: &[u8]) -> bool {
    magic.len() >= 12 && magic[..12] == RIFF[..12]
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// Unsigned 8-bit, or signed little-endian 16, 24 or 32-bit integers.
    Int(u16),
    Float32,
    Float64,
}

pub(crate) struct W64Source {
    input: Box<dyn MediaSource>,
    info: SourceInfo,
    name: String,
    encoding: Encoding,
    block_align: usize,
    remaining: u64,
    bytes: Vec<u8>,
    interleaved: Vec<f32>,
    mix: Mix,
}

impl W64Source {
    pub fn new(mut input: Box<dyn MediaSource>, len: u64, name: &str) -> Result<Self, AudioError> {
        let io_err = |source| AudioError::Io {
            path: name.to_owned(),
            source,
        };
        let malformed = |detail: &str| AudioError::Malformed {
            path: name.to_owned(),
            detail: detail.to_owned(),
        };
        // riff GUID, length, wave GUID.
        let mut pos = 40u64;
        let mut format: Option<Vec<u8>> = None;
        loop {
            input.seek(SeekFrom::Start(pos)).map_err(io_err)?;
            let mut header = [0u8; 24];
            if read_up_to(&mut input, &mut header).map_err(io_err)? < header.len() {
                return Err(if format.is_some() {
                    malformed("the W64 file has no data chunk")
                } else {
                    malformed("the W64 file has no fmt chunk")
                });
            }
            let mut size = [0u8; 8];
            size.copy_from_slice(&header[16..]);
            let size = u64::from_le_bytes(size);
            if size < 24 {
                return Err(malformed("a W64 chunk is shorter than its header"));
            }
            let body_len = size - 24;
            let known = header[4..16] == TAIL;
            if known && &header[..4] == b"data" {
                let Some(fmt) = format else {
                    return Err(malformed("the W64 data chunk comes before its fmt chunk"));
                };
                // A recording cut short: decode what is there.
                let available = len.saturating_sub(pos + 24);
                return Self::with_format(input, name, &fmt, body_len.min(available));
            }
            if body_len > len.saturating_sub(pos + 24) {
                return Err(AudioError::Malformed {
                    path: name.to_owned(),
                    detail: format!(
                        "a W64 chunk claims {body_len} bytes, but only {} remain",
                        len.saturating_sub(pos + 24)
                    ),
                });
            }
            if known && &header[..4] == b"fmt " {
                let mut fmt = vec![0u8; body_len.min(64) as usize];
                input.read_exact(&mut fmt).map_err(io_err)?;
                format = Some(fmt);
            }
            // Chunks are aligned to 8 bytes.
            pos += size.div_ceil(8) * 8;
        }
    }

    fn with_format(
        input: Box<dyn MediaSource>,
        name: &str,
        fmt: &[u8],
        data_len: u64,
    ) -> Result<Self, AudioError> {
        if fmt.len() < 16 {
            return Err(AudioError::Malformed {
                path: name.to_owned(),
                detail: "the W64 fmt chunk is too short".to_owned(),
            });
        }
        let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
        let mut tag = u16_at(0);
        let channels = u16_at(2);
        let sample_rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
        let block_align = usize::from(u16_at(12));
        let bits = u16_at(14);
        if tag == 0xfffe && fmt.len() >= 26 {
            // WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID.
            tag = u16_at(24);
        }
        check_stream(name, channels, sample_rate)?;
        let encoding = match (tag, bits) {
            (1, 8 | 16 | 24 | 32) => Encoding::Int(bits),
            (3, 32) => Encoding::Float32,
            (3, 64) => Encoding::Float64,
            _ => {
                return Err(unsupported(
                    name,
                    format!("W64 with format tag {tag:#06x} and {bits}-bit samples"),
                ))
            }
        };
        if block_align != usize::from(channels) * usize::from(bits / 8) {
            return Err(AudioError::Malformed {
                path: name.to_owned(),
                detail: format!(
                    "the W64 fmt chunk's block size {block_align} does not fit {channels} \
                     channels of {bits} bits"
                ),
            });
        }
        Ok(Self {
            input,
            info: SourceInfo {
                format: "w64".to_owned(),
                sample_rate,
                channels,
                frames: Some(data_len / block_align as u64),
            },
            name: name.to_owned(),
            encoding,
            block_align,
            remaining: data_len - data_len % block_align as u64,
            bytes: Vec::new(),
            interleaved: Vec::new(),
            mix: Mix::Average,
        })
    }
}

impl BlockSource for W64Source {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_block(&mut self, mono: &mut Vec<f32>) -> Result<bool, AudioError> {
        let want = (BLOCK_FRAMES * self.block_align).min(self.remaining as usize);
        self.bytes.resize(want, 0);
        let got =
            read_up_to(&mut self.input, &mut self.bytes).map_err(|source| AudioError::Io {
                path: self.name.clone(),
                source,
            })?;
        if got < want {
            return Err(AudioError::Truncated {
                path: self.name.clone(),
                detail: io::Error::from(io::ErrorKind::UnexpectedEof).to_string(),
            });
        }
        self.remaining -= got as u64;
        self.interleaved.clear();
        let bytes = &self.bytes[..got];
        match self.encoding {
            Encoding::Int(8) => self
                .interleaved
                .extend(bytes.iter().map(|&b| (f32::from(b) - 128.0) / 128.0)),
            Encoding::Int(bits) => {
                let width = usize::from(bits / 8);
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                self.interleaved.extend(bytes.chunks_exact(width).map(|s| {
                    // Sign-extend from the top byte.
                    let mut v = [0u8; 4];
                    v[4 - width..].copy_from_slice(s);
                    (i32::from_le_bytes([v[0], v[1], v[2], v[3]]) >> (32 - bits)) as f32 * scale
                }));
            }
            Encoding::Float32 => self.interleaved.extend(
                bytes
                    .chunks_exact(4)
                    .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
            ),
            Encoding::Float64 => self.interleaved.extend(bytes.chunks_exact(8).map(|s| {
                let mut v = [0u8; 8];
                v.copy_from_slice(s);
                f64::from_le_bytes(v) as f32
            })),
        }
        downmix_into(
            &self.interleaved,
            usize::from(self.info.channels),
            self.mix,
            mono,
        );
        Ok(self.remaining > 0)
    }

    fn set_mix(&mut self, mix: Mix) {
        self.mix = mix;
    }
}
