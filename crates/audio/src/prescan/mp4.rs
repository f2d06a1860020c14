//! MP4 atoms and their sample tables (`stsc`, `stsz`, `stco`, `trun`…): every count symphonia
//! allocates from must fit in the atom that holds it; the first audio track's edit list is noted
//! for gapless trimming.

use super::{Fields, Scan, MAX_DEPTH};
use crate::error::AudioError;
use crate::gapless::Mp4Edit;

impl Scan<'_> {
    /// Checks the atoms between `start` and `end` (nested `depth` deep in `parent`).
    pub(super) fn mp4_atoms(
        &mut self,
        start: u64,
        end: u64,
        depth: u32,
        parent: &str,
    ) -> Result<(), AudioError> {
        if depth > MAX_DEPTH {
            return Err(self.malformed(format!("MP4 atoms nested more than {MAX_DEPTH} deep")));
        }
        let mut pos = start;
        while end - pos >= 8 {
            let mut header = [0u8; 16];
            let got = self.read_at(pos, &mut header)?;
            let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
            let kind = [header[4], header[5], header[6], header[7]];
            let name = String::from_utf8_lossy(&kind).into_owned();
            let (header_len, size) = match size32 {
                0 => (8, end - pos),
                1 if got >= 16 => {
                    let mut large = [0u8; 8];
                    large.copy_from_slice(&header[8..16]);
                    (16, u64::from_be_bytes(large))
                }
                1 => return Ok(()),
                n => (8, u64::from(n)),
            };
            let available = end - pos;
            let top_level_data =
                depth == 0 && matches!(&kind, b"mdat" | b"free" | b"skip" | b"wide");
            if size < header_len {
                return Err(self.malformed(format!(
                    "the MP4 atom {name:?} in {parent} is {size} bytes long, shorter than its header"
                )));
            }
            if size > available {
                if top_level_data {
                    // A download cut short inside the audio data: decode what is there.
                    return Ok(());
                }
                return Err(self.too_long(
                    &format!("the MP4 atom {name:?} in {parent}"),
                    size,
                    available,
                ));
            }
            let body = pos + header_len;
            let body_len = size - header_len;
            self.mp4_atom(&kind, &name, body, body_len, depth)?;
            pos += size;
        }
        Ok(())
    }

    /// Checks one atom's contents.
    pub(super) fn mp4_atom(
        &mut self,
        kind: &[u8; 4],
        name: &str,
        body: u64,
        len: u64,
        depth: u32,
    ) -> Result<(), AudioError> {
        let end = body + len;
        let full = |what: &str, min: u64| -> Option<String> {
            (len < min).then(|| {
                format!("the MP4 atom {what:?} is {len} bytes long, expected at least {min}")
            })
        };
        match kind {
            b"trak" => {
                self.mp4.handler = None;
                self.mp4.media_timescale = None;
                self.mp4.edit = None;
                self.mp4_atoms(body, end, depth + 1, name)?;
                if self.mp4.handler == Some(*b"soun") && !self.mp4.audio_seen {
                    self.mp4.audio_seen = true;
                    if let (Some((media_time, duration)), Some(scale)) =
                        (self.mp4.edit, self.mp4.media_timescale)
                    {
                        self.mp4.audio = Some((media_time, scale, duration));
                    }
                }
                Ok(())
            }
            b"moov" | b"mdia" | b"minf" | b"stbl" | b"edts" | b"dinf" | b"udta" | b"mvex"
            | b"moof" | b"traf" | b"mfra" | b"ilst" | b"wave" | b"sinf" | b"schi" => {
                self.mp4_atoms(body, end, depth + 1, name)
            }
            b"mvhd" | b"mdhd" => {
                // version, flags, then creation and modification times (32 or 64 bits each),
                // then the timescale.
                let fields = self.bytes_at(body, len.min(24))?;
                let at = if fields.first() == Some(&1) { 20 } else { 12 };
                if let Some(b) = fields.get(at..at + 4) {
                    let scale = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    if kind == b"mvhd" {
                        self.mp4.movie_timescale = Some(scale);
                    } else {
                        self.mp4.media_timescale = Some(scale);
                    }
                }
                Ok(())
            }
            b"elst" => {
                self.mp4.edit = self.mp4_edit_list(body, len)?;
                Ok(())
            }
            b"meta" => {
                if let Some(e) = full(name, 4) {
                    return Err(self.malformed(e));
                }
                self.mp4_atoms(body + 4, end, depth + 1, name)
            }
            b"hdlr" => match full(name, 24) {
                Some(e) => Err(self.malformed(e)),
                None => {
                    // QuickTime has a second, data handler in `minf`: the media's comes first.
                    if self.mp4.handler.is_none() {
                        let fields = self.bytes_at(body, 12)?;
                        self.mp4.handler = fields.get(8..12).map(|b| [b[0], b[1], b[2], b[3]]);
                    }
                    Ok(())
                }
            },
            b"stsd" => {
                if let Some(e) = full(name, 8) {
                    return Err(self.malformed(e));
                }
                // Sample entries: each an atom whose children follow fixed fields.
                let mut pos = body + 8;
                while end - pos >= 8 {
                    let mut h = [0u8; 18];
                    let got = self.read_at(pos, &mut h)?;
                    let size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
                    let entry = String::from_utf8_lossy(&h[4..8]).into_owned();
                    if size < 8 || size > end - pos {
                        return Err(self.too_long(
                            &format!("the MP4 sample entry {entry:?}"),
                            size,
                            end - pos,
                        ));
                    }
                    // The audio sample entries symphonia reads: 28 bytes of fields (version
                    // 0), 44 (1) or 64 (2), then atoms. Others (video, text) it skips.
                    let version = if got >= 18 {
                        u16::from_be_bytes([h[16], h[17]])
                    } else {
                        0
                    };
                    let fixed = match version {
                        1 => 44,
                        2 => 64,
                        _ => 28,
                    };
                    if AUDIO_SAMPLE_ENTRIES.contains(&&h[4..8]) && size - 8 >= fixed {
                        self.mp4_atoms(pos + 8 + fixed, pos + size, depth + 1, &entry)?;
                    }
                    pos += size;
                }
                Ok(())
            }
            // Tables: a full-box header, then a count of fixed-size entries.
            b"stsc" => self.mp4_table(name, body, len, 4, 12),
            b"stco" | b"stss" => self.mp4_table(name, body, len, 4, 4),
            b"co64" | b"stts" | b"ctts" => self.mp4_table(name, body, len, 4, 8),
            b"stsz" => self.mp4_stsz(body, len),
            b"trun" => self.mp4_trun(body, len),
            b"tfhd" | b"trex" => self.mp4_default_size(kind, body, len),
            _ => Ok(()),
        }
    }

    /// An edit list: `(media_time, segment_duration)` when it presents one stretch of the media
    /// (after any empty edits, which only delay the start); `None` for what rech does not
    /// follow (several stretches, a changed rate). Its length is checked as a table's.
    pub(super) fn mp4_edit_list(
        &mut self,
        body: u64,
        len: u64,
    ) -> Result<Option<(u64, u64)>, AudioError> {
        let data = self.bytes_at(body, len.min(4 + 4 + 20 * 8))?;
        let version = data.first().copied().unwrap_or(0);
        let entry = if version == 1 { 20 } else { 12 };
        self.mp4_table("elst", body, len, 4, entry as u64)?;
        let count = data
            .get(4..8)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let mut presented = None;
        for i in 0..count as usize {
            let Some(e) = data.get(8 + i * entry..8 + (i + 1) * entry) else {
                return Ok(None);
            };
            let (duration, media_time, rate) = if version == 1 {
                let mut d = [0u8; 8];
                let mut t = [0u8; 8];
                d.copy_from_slice(&e[..8]);
                t.copy_from_slice(&e[8..16]);
                (u64::from_be_bytes(d), i64::from_be_bytes(t), &e[16..20])
            } else {
                let d = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                let t = i32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                (u64::from(d), i64::from(t), &e[8..12])
            };
            if media_time == -1 {
                continue;
            }
            if presented.is_some() || rate != [0, 1, 0, 0] || media_time < 0 {
                return Ok(None);
            }
            presented = Some((media_time as u64, duration));
        }
        Ok(presented)
    }

    /// A table: `skip` bytes (version, flags), a `u32` count, then `count` entries of
    /// `entry` bytes.
    pub(super) fn mp4_table(
        &mut self,
        name: &str,
        body: u64,
        len: u64,
        skip: u64,
        entry: u64,
    ) -> Result<(), AudioError> {
        let mut count = [0u8; 4];
        if len < skip + 4 || self.read_at(body + skip, &mut count)? < 4 {
            return Err(self.malformed(format!(
                "the MP4 atom {name:?} is too short for its entry count"
            )));
        }
        let count = u64::from(u32::from_be_bytes(count));
        let claimed = count * entry;
        let available = len - skip - 4;
        if claimed > available {
            return Err(self.too_long(
                &format!("the MP4 table {name:?} ({count} entries)"),
                claimed,
                available,
            ));
        }
        Ok(())
    }

    /// `stsz`: a constant sample size, or one size per sample; no sample can be larger than
    /// the file (symphonia allocates a packet of that size).
    pub(super) fn mp4_stsz(&mut self, body: u64, len: u64) -> Result<(), AudioError> {
        let mut head = [0u8; 12];
        if len < 12 || self.read_at(body, &mut head)? < 12 {
            return Err(self.malformed("the MP4 atom \"stsz\" is too short".to_owned()));
        }
        let constant = u64::from(u32::from_be_bytes([head[4], head[5], head[6], head[7]]));
        let count = u64::from(u32::from_be_bytes([head[8], head[9], head[10], head[11]]));
        if constant != 0 {
            return self.sample_size(constant);
        }
        let claimed = count * 4;
        if claimed > len - 12 {
            return Err(self.too_long(
                &format!("the MP4 table \"stsz\" ({count} entries)"),
                claimed,
                len - 12,
            ));
        }
        let sizes = self.bytes_at(body + 12, claimed)?;
        for size in sizes.chunks_exact(4) {
            self.sample_size(u64::from(u32::from_be_bytes([
                size[0], size[1], size[2], size[3],
            ])))?;
        }
        Ok(())
    }

    /// `trun`: per-sample fields chosen by its flags.
    pub(super) fn mp4_trun(&mut self, body: u64, len: u64) -> Result<(), AudioError> {
        let data = self.bytes_at(body, len)?;
        let mut r = Fields::new(&data);
        let (Some(flags), Some(count)) = (r.u32_be(), r.u32_be()) else {
            return Err(self.malformed("the MP4 atom \"trun\" is too short".to_owned()));
        };
        let flags = flags & 0x00ff_ffff;
        let optional = [0x1, 0x4].iter().filter(|&&f| flags & f != 0).count() as u64 * 4;
        if !r.skip(optional) {
            return Err(self.malformed("the MP4 atom \"trun\" is too short".to_owned()));
        }
        let fields = [0x100, 0x200, 0x400, 0x800];
        let per_sample = fields.iter().filter(|&&f| flags & f != 0).count() as u64 * 4;
        let claimed = u64::from(count) * per_sample;
        if claimed > r.remaining() {
            return Err(self.too_long(
                &format!("the MP4 table \"trun\" ({count} entries)"),
                claimed,
                r.remaining(),
            ));
        }
        if flags & 0x200 != 0 {
            for _ in 0..count {
                if flags & 0x100 != 0 {
                    r.skip(4);
                }
                let size = r.u32_be().unwrap_or(0);
                self.sample_size(u64::from(size))?;
                r.skip(per_sample - 4 - if flags & 0x100 != 0 { 4 } else { 0 });
            }
        }
        Ok(())
    }

    /// `tfhd` and `trex` carry a default sample size.
    pub(super) fn mp4_default_size(
        &mut self,
        kind: &[u8; 4],
        body: u64,
        len: u64,
    ) -> Result<(), AudioError> {
        let data = self.bytes_at(body, len)?;
        let mut r = Fields::new(&data);
        let flags = r.u32_be().unwrap_or(0) & 0x00ff_ffff;
        let size = if kind == b"trex" {
            // track id, default description index, default duration, then the size.
            r.skip(12).then(|| r.u32_be()).flatten()
        } else if flags & 0x10 != 0 {
            // track id, then the optional fields before it.
            let before = [0x1u32, 0x2, 0x8]
                .iter()
                .map(|&f| {
                    if flags & f == 0 {
                        0
                    } else if f == 0x1 {
                        8
                    } else {
                        4
                    }
                })
                .sum::<u64>();
            r.skip(4 + before).then(|| r.u32_be()).flatten()
        } else {
            None
        };
        match size {
            Some(size) => self.sample_size(u64::from(size)),
            None => Ok(()),
        }
    }

    pub(super) fn sample_size(&self, size: u64) -> Result<(), AudioError> {
        if size > self.len {
            return Err(self.too_long("an MP4 sample", size, self.len));
        }
        Ok(())
    }
}

/// What the MP4 walk has seen of the tracks so far.
#[derive(Debug, Default)]
pub(super) struct Mp4Notes {
    movie_timescale: Option<u32>,
    /// The track being walked: its handler, media timescale and single edit.
    handler: Option<[u8; 4]>,
    media_timescale: Option<u32>,
    edit: Option<(u64, u64)>,
    /// The first audio track's `(media_time, media_timescale, segment_duration)`.
    audio: Option<(u64, u32, u64)>,
    audio_seen: bool,
}

impl Mp4Notes {
    pub(super) fn edit(&self) -> Option<Mp4Edit> {
        let (media_time, media_timescale, segment_duration) = self.audio?;
        Some(Mp4Edit {
            media_time,
            media_timescale,
            segment_duration,
            movie_timescale: self.movie_timescale?,
        })
    }
}

/// Sample entry types symphonia parses as audio (`read_audio_sample_entry`).
pub(super) const AUDIO_SAMPLE_ENTRIES: [&[u8]; 16] = [
    b"mp4a", b"alac", b"fLaC", b"Opus", b".mp3", b"lpcm", b"wave", b"alaw", b"ulaw", b"raw ",
    b"sowt", b"twos", b"in24", b"in32", b"fl32", b"fl64",
];
