//! Ogg's header packets: Vorbis comments (also FLAC's), FLAC-in-Ogg metadata, and the codebooks
//! of a Vorbis setup header, whose lookup tables symphonia sizes from two numbers in the file.

use super::{Fields, Scan};
use crate::error::AudioError;

impl Scan<'_> {
    /// Walks the Ogg pages from `at`, joins the first packets of each logical stream and checks
    /// the comment headers symphonia parses from them.
    pub(super) fn ogg(&mut self, at: u64) -> Result<(), AudioError> {
        struct Stream {
            serial: u32,
            packets: Vec<Vec<u8>>,
            partial: Vec<u8>,
        }
        let mut streams: Vec<Stream> = Vec::new();
        let mut pos = at;
        loop {
            let mut header = [0u8; 27];
            if self.read_at(pos, &mut header)? < header.len() || &header[..4] != b"OggS" {
                break; // the end, or a damaged page symphonia resynchronises past
            }
            let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
            let mut lacing = vec![0u8; usize::from(header[26])];
            if self.read_at(pos + 27, &mut lacing)? < lacing.len() {
                break;
            }
            let body_len: u64 = lacing.iter().map(|&l| u64::from(l)).sum();
            let body = self.bytes_at(pos + 27 + lacing.len() as u64, body_len)?;
            let index = match streams.iter().position(|s| s.serial == serial) {
                Some(i) => i,
                None => {
                    streams.push(Stream {
                        serial,
                        packets: Vec::new(),
                        partial: Vec::new(),
                    });
                    streams.len() - 1
                }
            };
            let stream = &mut streams[index];
            let mut offset = 0usize;
            for &l in &lacing {
                let l = usize::from(l);
                if stream.packets.len() < OGG_HEADER_PACKETS {
                    let end = (offset + l).min(body.len());
                    stream
                        .partial
                        .extend_from_slice(&body[offset.min(end)..end]);
                    if l < 255 {
                        stream.packets.push(std::mem::take(&mut stream.partial));
                    }
                }
                offset += l;
            }
            if streams
                .iter()
                .all(|s| s.packets.len() >= OGG_HEADER_PACKETS)
            {
                break;
            }
            pos += 27 + lacing.len() as u64 + body_len;
        }
        for stream in &streams {
            let is_flac = stream
                .packets
                .first()
                .is_some_and(|p| p.starts_with(b"\x7fFLAC"));
            if is_flac {
                // After the first packet, one metadata block per packet until the last one;
                // audio frames (0xff...) follow.
                for packet in stream.packets.iter().skip(1) {
                    if packet.len() < 4 || packet[0] == 0xff {
                        break;
                    }
                    let kind = packet[0] & 0x7f;
                    let size = u64::from(u32::from_be_bytes([0, packet[1], packet[2], packet[3]]));
                    let available = packet.len() as u64 - 4;
                    if size > available {
                        return Err(self.too_long("a FLAC metadata block", size, available));
                    }
                    self.flac_block(kind, &packet[4..])?;
                    if packet[0] & 0x80 != 0 {
                        break;
                    }
                }
                continue;
            }
            for packet in &stream.packets {
                if let Some(comment) = packet.strip_prefix(b"\x03vorbis") {
                    self.vorbis_comment(comment, "a Vorbis comment")?;
                } else if let Some(setup) = packet.strip_prefix(b"\x05vorbis") {
                    self.vorbis_codebooks(setup)?;
                } else if let Some(comment) = packet.strip_prefix(b"OpusTags") {
                    self.vorbis_comment(comment, "an Opus comment")?;
                }
            }
        }
        Ok(())
    }

    /// A Vorbis comment (without packet framing): vendor string, count, comments, every
    /// length little-endian.
    pub(super) fn vorbis_comment(&self, data: &[u8], what: &str) -> Result<(), AudioError> {
        let mut r = Fields::new(data);
        let Some(vendor) = r.u32_le() else {
            return Ok(());
        };
        if !r.skip(u64::from(vendor)) {
            return Err(self.too_long(what, u64::from(vendor), r.remaining()));
        }
        let Some(count) = r.u32_le() else {
            return Ok(());
        };
        for _ in 0..count {
            let Some(len) = r.u32_le() else {
                return Ok(()); // symphonia stops at the end of the data
            };
            if !r.skip(u64::from(len)) {
                return Err(self.too_long(what, u64::from(len), r.remaining()));
            }
        }
        Ok(())
    }
}

impl Scan<'_> {
    /// Walks the codebooks at the start of a Vorbis setup header. symphonia allocates a codebook's
    /// lookup table, entries × dimensions values, from two numbers that take 40 bits: a 30-byte
    /// packet can ask for 4 TB. Real encoders stay far below the limits checked here.
    pub(super) fn vorbis_codebooks(&self, setup: &[u8]) -> Result<(), AudioError> {
        let mut bits = Bits::new(setup);
        let Some(count) = bits.read(8) else {
            return Ok(());
        };
        for _ in 0..=count {
            // Whatever does not parse here, symphonia refuses with an error of its own.
            let Some(codebook) = read_codebook(&mut bits) else {
                return Ok(());
            };
            let (entries, dimensions, lookup) = codebook;
            if entries > MAX_VORBIS_ENTRIES {
                return Err(self.malformed(format!(
                    "a Vorbis codebook claims {entries} entries (at most {MAX_VORBIS_ENTRIES} are \
                     accepted)"
                )));
            }
            if lookup && entries * dimensions > MAX_VORBIS_LOOKUP {
                return Err(self.malformed(format!(
                    "a Vorbis codebook claims a lookup table of {entries} × {dimensions} values \
                     (at most {MAX_VORBIS_LOOKUP} are accepted)"
                )));
            }
        }
        Ok(())
    }
}

/// Most entries accepted in a Vorbis codebook: libvorbis writes a few thousand; the format
/// allows 16 million, for which symphonia would build tables of hundreds of megabytes.
pub(super) const MAX_VORBIS_ENTRIES: u64 = 1 << 20;

/// Most values accepted in a Vorbis codebook's lookup table (16 MB of `f32`).
pub(super) const MAX_VORBIS_LOOKUP: u64 = 1 << 22;

/// Reads one codebook the way symphonia does (Vorbis I, section 3.2.1) as far as needed to
/// find the next: returns (entries, dimensions, whether it has a lookup table), or `None` when
/// the bits run out or make no sense.
pub(super) fn read_codebook(bits: &mut Bits<'_>) -> Option<(u64, u64, bool)> {
    if bits.read(24)? != 0x56_4342 {
        return None;
    }
    let dimensions = bits.read(16)?;
    let entries = bits.read(24)?;
    if entries > MAX_VORBIS_ENTRIES {
        // Reported by the caller before anything is walked entry by entry.
        return Some((entries, dimensions, false));
    }
    if bits.read(1)? == 1 {
        // Lengths in runs of ascending length.
        let mut current = 0u64;
        bits.read(5)?;
        while current < entries {
            let width = 64 - (entries - current).leading_zeros();
            current += bits.read(width)?;
        }
        if current > entries {
            return None;
        }
    } else if bits.read(1)? == 1 {
        // Sparse: a flag per entry, a length for the used ones.
        for _ in 0..entries {
            if bits.read(1)? == 1 {
                bits.read(5)?;
            }
        }
    } else {
        bits.skip(entries * 5)?;
    }
    let lookup = bits.read(4)?;
    match lookup {
        0 => Some((entries, dimensions, false)),
        1 | 2 => {
            bits.skip(64)?;
            let value_bits = bits.read(4)? + 1;
            bits.read(1)?;
            let values = if lookup == 1 {
                if dimensions == 0 {
                    return None;
                }
                // As symphonia computes it, in f32, so that the walk stays in step with it.
                let v = (entries as f32).powf(1.0 / dimensions as f32).floor();
                v as u64
            } else {
                entries * dimensions
            };
            if values > MAX_VORBIS_LOOKUP {
                return Some((entries, dimensions, true));
            }
            bits.skip(values * value_bits)?;
            Some((entries, dimensions, true))
        }
        _ => None,
    }
}

/// Reads bits least significant first, as Vorbis packs them.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    bit: u64,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    fn read(&mut self, n: u32) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..n {
            let byte = *self.data.get(usize::try_from(self.bit / 8).ok()?)?;
            value |= u64::from((byte >> (self.bit % 8)) & 1) << i;
            self.bit += 1;
        }
        Some(value)
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let end = self.bit.checked_add(n)?;
        if end > self.data.len() as u64 * 8 {
            return None;
        }
        self.bit = end;
        Some(())
    }
}

/// Ogg header packets checked per logical stream (Vorbis and Opus comments are the second;
/// FLAC-in-Ogg metadata blocks follow the first).
pub(super) const OGG_HEADER_PACKETS: usize = 16;
