//! Checks the length fields symphonia trusts, before symphonia reads them.
//!
//! symphonia 0.5's container readers allocate whatever a length or count in the file says and
//! only then try to read that much: a 200-byte M4A whose `stsc` atom claims 4 billion entries
//! makes it allocate 50 GB, a FLAC whose comment claims 4 GB allocates 4 GB (fuzzing found both,
//! see FUZZING.md). An allocation that fails aborts the process, which no `catch_unwind` can
//! stop. So this module finds the container the way symphonia's probe does (the first marker
//! in the stream, after any ID3v2 tags) and walks the structures whose lengths symphonia
//! allocates from: MP4 atoms and their sample tables, FLAC metadata blocks, Vorbis comments
//! and pictures (in FLAC and in Ogg), ID3v2 frames, RIFF chunks. Every such length must fit in
//! what encloses it, so nothing symphonia allocates from them exceeds the input's own size.
//!
//! Audio data itself (MP3 and ADTS frames, FLAC frames, Ogg pages, `mdat`) is not walked: its
//! sizes are small by design or bounded by reading. Matroska is walked whole (`matroska`): its
//! blocks are elements like any other, with lengths symphonia allocates from.
//!
//! While it walks, it also notes what symphonia 0.5 ignores about where the audio really starts
//! and ends (MP4 edit lists, Matroska's discard padding; see `gapless`).

use std::io::{self, SeekFrom};

use symphonia::core::io::MediaSource;

use crate::error::AudioError;
use crate::gapless::{Container, ContainerNotes, Mp4Edit};

mod apple;
mod matroska;

/// symphonia's probe stops looking for a marker after this many bytes.
const PROBE_SEARCH_LIMIT: u64 = 1024 * 1024;
/// Nesting deeper than this is not a real file.
const MAX_DEPTH: u32 = 16;
/// Ogg header packets checked per logical stream (Vorbis and Opus comments are the second;
/// FLAC-in-Ogg metadata blocks follow the first).
const OGG_HEADER_PACKETS: usize = 16;

/// Sample entry types symphonia parses as audio (`read_audio_sample_entry`).
const AUDIO_SAMPLE_ENTRIES: [&[u8]; 16] = [
    b"mp4a", b"alac", b"fLaC", b"Opus", b".mp3", b"lpcm", b"wave", b"alaw", b"ulaw", b"raw ",
    b"sowt", b"twos", b"in24", b"in32", b"fl32", b"fl64",
];

/// Second bytes of the MPEG audio and ADTS sync words symphonia registers (after `0xff`).
const SYNC_SECOND_BYTES: [u8; 19] = [
    0xf1, 0xfe, 0xff, 0xf6, 0xf7, 0xe6, 0xe7, 0xfc, 0xfd, 0xf4, 0xf5, 0xe4, 0xe5, 0xfa, 0xfb, 0xf2,
    0xf3, 0xe2, 0xe3,
];

/// Walks `input` (`len` bytes) as described in the module documentation. The input's position
/// afterwards is unspecified: rewind it.
pub(crate) fn check(
    input: &mut dyn MediaSource,
    len: u64,
    name: &str,
) -> Result<ContainerNotes, AudioError> {
    let mut scan = Scan {
        input,
        len,
        name,
        mp4: Mp4Notes::default(),
        notes: ContainerNotes::default(),
    };
    let mut from = 0;
    while let Some((at, marker)) = scan.find_marker(from)? {
        match marker {
            Marker::Id3 => from = scan.id3v2(at)?,
            Marker::Flac => scan.flac(at)?,
            Marker::Mp4 => {
                scan.mp4_atoms(at.saturating_sub(4), len, 0, "file")?;
                scan.notes.mp4_edit = scan.mp4.edit();
                scan.notes.container = Container::Mp4;
            }
            Marker::Ogg => scan.ogg(at)?,
            Marker::Riff => scan.riff(at)?,
            Marker::Ebml => {
                scan.matroska(at)?;
                scan.notes.container = Container::Matroska;
            }
            Marker::Caf => scan.caf(at)?,
            Marker::Aiff => scan.aiff(at)?,
            Marker::Frames => {}
        }
        if marker != Marker::Id3 {
            break;
        }
    }
    Ok(scan.notes)
}

/// What the MP4 walk has seen of the tracks so far.
#[derive(Debug, Default)]
struct Mp4Notes {
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
    fn edit(&self) -> Option<Mp4Edit> {
        let (media_time, media_timescale, segment_duration) = self.audio?;
        Some(Mp4Edit {
            media_time,
            media_timescale,
            segment_duration,
            movie_timescale: self.movie_timescale?,
        })
    }
}

/// What symphonia's probe would recognise at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Id3,
    Flac,
    Mp4,
    Ogg,
    Riff,
    /// Matroska and WebM.
    Ebml,
    /// Apple's Core Audio Format.
    Caf,
    /// AIFF and AIFC.
    Aiff,
    /// MPEG audio or ADTS frames: nothing to check.
    Frames,
}

struct Scan<'a> {
    input: &'a mut dyn MediaSource,
    len: u64,
    name: &'a str,
    mp4: Mp4Notes,
    notes: ContainerNotes,
}

impl Scan<'_> {
    fn io(&self, source: io::Error) -> AudioError {
        AudioError::Io {
            path: self.name.to_owned(),
            source,
        }
    }

    /// "`what` claims `claimed` bytes, but only `available` remain".
    fn too_long(&self, what: &str, claimed: u64, available: u64) -> AudioError {
        AudioError::Malformed {
            path: self.name.to_owned(),
            detail: format!("{what} claims {claimed} bytes, but only {available} remain"),
        }
    }

    fn malformed(&self, detail: String) -> AudioError {
        AudioError::Malformed {
            path: self.name.to_owned(),
            detail,
        }
    }

    /// Reads up to `buf.len()` bytes at `at`; returns how many there were.
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> Result<usize, AudioError> {
        self.input
            .seek(SeekFrom::Start(at))
            .map_err(|e| self.io(e))?;
        crate::limits::read_up_to(&mut self.input, buf).map_err(|e| self.io(e))
    }

    /// Reads exactly `n` bytes at `at` into memory; `n` must already be known to fit in the
    /// input.
    fn bytes_at(&mut self, at: u64, n: u64) -> Result<Vec<u8>, AudioError> {
        let mut buf = vec![
            0;
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(self.len as usize)
        ];
        let got = self.read_at(at, &mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// The first position at or after `from` where symphonia's probe would stop, searching as
    /// far as it does.
    fn find_marker(&mut self, from: u64) -> Result<Option<(u64, Marker)>, AudioError> {
        // Read in steps (most markers sit at the start), each overlapping the last by the 16
        // bytes of context the probe needs at a marker.
        const STEP: u64 = 64 * 1024;
        let mut start = from;
        while start < from + PROBE_SEARCH_LIMIT && start < self.len {
            let bytes = self.bytes_at(start, STEP + 15)?;
            for (i, w) in bytes.windows(16).enumerate() {
                let marker = match w {
                    [0xff, second, ..] if SYNC_SECOND_BYTES.contains(second) => Marker::Frames,
                    [b'f', b'L', b'a', b'C', ..] => Marker::Flac,
                    [b'f', b't', b'y', b'p', ..] => Marker::Mp4,
                    [b'R', b'I', b'F', b'F', ..] => Marker::Riff,
                    [b'O', b'g', b'g', b'S', ..] => Marker::Ogg,
                    [0x1a, 0x45, 0xdf, 0xa3, ..] => Marker::Ebml,
                    [b'c', b'a', b'f', b'f', ..] => Marker::Caf,
                    [b'F', b'O', b'R', b'M', _, _, _, _, b'A', b'I', b'F', ..] => Marker::Aiff,
                    [b'I', b'D', b'3', ..] => Marker::Id3,
                    _ => continue,
                };
                return Ok(Some((start + i as u64, marker)));
            }
            start += STEP;
        }
        Ok(None)
    }

    /// Checks an ID3v2 tag at `at`; returns where it ends, where the probe resumes.
    fn id3v2(&mut self, at: u64) -> Result<u64, AudioError> {
        let mut header = [0u8; 10];
        if self.read_at(at, &mut header)? < header.len() {
            return Ok(self.len);
        }
        let (major, flags) = (header[3], header[5]);
        if !(2..=4).contains(&major) {
            // symphonia refuses the tag itself.
            return Ok(self.len);
        }
        let size = syncsafe(&header[6..10]);
        let footer = if major == 4 && flags & 0x10 != 0 {
            10
        } else {
            0
        };
        let available = self.len - at - 10;
        if size > available {
            return Err(self.too_long("the ID3v2 tag", size, available));
        }
        let mut tag = self.bytes_at(at + 10, size)?;
        if flags & 0x80 != 0 && major < 4 {
            tag = resynchronise(&tag);
        }
        let mut pos = 0usize;
        if flags & 0x40 != 0 && major >= 3 {
            // The extended header: its size, then its body (v2.3 excludes the size field).
            let Some(ext) = tag.get(..4) else {
                return Ok(at + 10 + size + footer);
            };
            let ext = if major == 3 {
                u64::from(u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]])) + 4
            } else {
                syncsafe(ext)
            };
            pos = usize::try_from(ext).unwrap_or(usize::MAX);
        }
        let header_len = if major == 2 { 6 } else { 10 };
        while let Some(frame) = tag.get(pos..pos.saturating_add(header_len)) {
            let id_len = if major == 2 { 3 } else { 4 };
            if !frame[..id_len]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                break; // padding
            }
            let size = match major {
                2 => u64::from(u32::from_be_bytes([0, frame[3], frame[4], frame[5]])),
                3 => u64::from(u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]])),
                _ => syncsafe(&frame[4..8]),
            };
            let available = (tag.len() - pos - header_len) as u64;
            if size > available {
                let id = String::from_utf8_lossy(&frame[..id_len]).into_owned();
                return Err(self.too_long(&format!("the ID3v2 frame {id}"), size, available));
            }
            pos += header_len + size as usize;
        }
        Ok(at + 10 + size + footer)
    }

    /// Checks the metadata blocks of a native FLAC stream starting at `at` (`fLaC`).
    fn flac(&mut self, at: u64) -> Result<(), AudioError> {
        let mut pos = at + 4;
        loop {
            let mut header = [0u8; 4];
            if self.read_at(pos, &mut header)? < header.len() {
                return Ok(());
            }
            let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7f);
            let size = u64::from(u32::from_be_bytes([0, header[1], header[2], header[3]]));
            let available = self.len - pos - 4;
            if size > available {
                return Err(self.too_long("a FLAC metadata block", size, available));
            }
            if kind == 4 || kind == 6 {
                let block = self.bytes_at(pos + 4, size)?;
                self.flac_block(kind, &block)?;
            }
            pos += 4 + size;
            if last {
                return Ok(());
            }
        }
    }

    /// Checks a FLAC metadata block that symphonia allocates from: 4 = Vorbis comment,
    /// 6 = picture.
    fn flac_block(&self, kind: u8, block: &[u8]) -> Result<(), AudioError> {
        match kind {
            4 => self.vorbis_comment(block, "a Vorbis comment"),
            6 => self.flac_picture(block),
            _ => Ok(()),
        }
    }

    /// A Vorbis comment (without packet framing): vendor string, count, comments, every
    /// length little-endian.
    fn vorbis_comment(&self, data: &[u8], what: &str) -> Result<(), AudioError> {
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

    /// A FLAC picture block: type, MIME type, description, four numbers, data; lengths
    /// big-endian.
    fn flac_picture(&self, data: &[u8]) -> Result<(), AudioError> {
        let mut r = Fields::new(data);
        let _picture_type = r.u32_be();
        for field in ["MIME type", "description"] {
            let Some(len) = r.u32_be() else {
                return Ok(());
            };
            if !r.skip(u64::from(len)) {
                let what = format!("the {field} of a FLAC picture");
                return Err(self.too_long(&what, u64::from(len), r.remaining()));
            }
        }
        if !r.skip(16) {
            return Ok(());
        }
        if let Some(len) = r.u32_be() {
            if u64::from(len) > r.remaining() {
                return Err(self.too_long("a FLAC picture", u64::from(len), r.remaining()));
            }
        }
        Ok(())
    }

    /// Checks the RIFF chunks up to `data` (symphonia reads the ones before it into memory,
    /// `LIST` sub-chunks included) and the `fmt ` chunk's channel count and rate: symphonia
    /// panics on a zero rate.
    fn riff(&mut self, at: u64) -> Result<(), AudioError> {
        let mut pos = at + 12;
        loop {
            let mut header = [0u8; 8];
            if self.read_at(pos, &mut header)? < header.len() {
                return Ok(());
            }
            let id = [header[0], header[1], header[2], header[3]];
            if &id == b"data" {
                // The data's length may be a placeholder in streamed WAV files: not checked.
                return Ok(());
            }
            let size = u64::from(u32::from_le_bytes([
                header[4], header[5], header[6], header[7],
            ]));
            let available = self.len - pos - 8;
            if size > available {
                let what = format!("the WAV chunk {:?}", String::from_utf8_lossy(&id));
                return Err(self.too_long(&what, size, available));
            }
            if &id == b"fmt " {
                let mut fmt = [0u8; 8];
                if self.read_at(pos + 8, &mut fmt)? == fmt.len() {
                    let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                    crate::limits::check_stream(self.name, channels, rate)?;
                }
            }
            if &id == b"LIST" {
                let list = self.bytes_at(pos + 8, size)?;
                let mut r = Fields::new(list.get(4..).unwrap_or_default());
                while let (Some(_), Some(len)) = (r.u32_le(), r.u32_le()) {
                    let len = u64::from(len);
                    if !r.skip(len) {
                        return Err(self.too_long("a WAV LIST entry", len, r.remaining()));
                    }
                    r.skip(len & 1);
                }
            }
            // Chunks are padded to an even length.
            pos += 8 + size + (size & 1);
        }
    }

    /// Checks the atoms between `start` and `end` (nested `depth` deep in `parent`).
    fn mp4_atoms(
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
    fn mp4_atom(
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
    fn mp4_edit_list(&mut self, body: u64, len: u64) -> Result<Option<(u64, u64)>, AudioError> {
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
    fn mp4_table(
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
    fn mp4_stsz(&mut self, body: u64, len: u64) -> Result<(), AudioError> {
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
    fn mp4_trun(&mut self, body: u64, len: u64) -> Result<(), AudioError> {
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
    fn mp4_default_size(&mut self, kind: &[u8; 4], body: u64, len: u64) -> Result<(), AudioError> {
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

    fn sample_size(&self, size: u64) -> Result<(), AudioError> {
        if size > self.len {
            return Err(self.too_long("an MP4 sample", size, self.len));
        }
        Ok(())
    }

    /// Walks the Ogg pages from `at`, joins the first packets of each logical stream and checks
    /// the comment headers symphonia parses from them.
    fn ogg(&mut self, at: u64) -> Result<(), AudioError> {
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
}

impl Scan<'_> {
    /// Walks the codebooks at the start of a Vorbis setup header. symphonia allocates a codebook's
    /// lookup table, entries × dimensions values, from two numbers that take 40 bits: a 30-byte
    /// packet can ask for 4 TB. Real encoders stay far below the limits checked here.
    fn vorbis_codebooks(&self, setup: &[u8]) -> Result<(), AudioError> {
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
const MAX_VORBIS_ENTRIES: u64 = 1 << 20;
/// Most values accepted in a Vorbis codebook's lookup table (16 MB of `f32`).
const MAX_VORBIS_LOOKUP: u64 = 1 << 22;

/// Reads one codebook the way symphonia does (Vorbis I, section 3.2.1) as far as needed to
/// find the next: returns (entries, dimensions, whether it has a lookup table), or `None` when
/// the bits run out or make no sense.
fn read_codebook(bits: &mut Bits<'_>) -> Option<(u64, u64, bool)> {
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
struct Bits<'a> {
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

/// A 28-bit ID3v2 "syncsafe" integer (7 bits per byte).
fn syncsafe(b: &[u8]) -> u64 {
    b.iter()
        .take(4)
        .fold(0, |n, &x| (n << 7) | u64::from(x & 0x7f))
}

/// Undoes ID3v2 unsynchronisation (`ff 00` back to `ff`), as symphonia does for v2.2/v2.3 tags.
fn resynchronise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut previous = 0u8;
    for &b in data {
        if !(previous == 0xff && b == 0x00) {
            out.push(b);
        }
        previous = b;
    }
    out
}

/// Reads fields from a byte slice without ever going past its end.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn remaining(&self) -> u64 {
        (self.data.len() - self.pos) as u64
    }

    /// Moves `n` bytes on; false (and nothing moved) when fewer remain.
    fn skip(&mut self, n: u64) -> bool {
        if n > self.remaining() {
            return false;
        }
        self.pos += n as usize;
        true
    }

    fn take4(&mut self) -> Option<[u8; 4]> {
        let b = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some([b[0], b[1], b[2], b[3]])
    }

    fn u32_le(&mut self) -> Option<u32> {
        self.take4().map(u32::from_le_bytes)
    }

    fn u32_be(&mut self) -> Option<u32> {
        self.take4().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn run(bytes: &[u8]) -> Result<(), AudioError> {
        check(&mut Cursor::new(bytes.to_vec()), bytes.len() as u64, "t").map(|_| ())
    }

    fn refused(bytes: &[u8], needle: &str) {
        match run(bytes) {
            Err(e) => assert!(e.to_string().contains(needle), "{e}"),
            Ok(()) => panic!("accepted, expected {needle:?}"),
        }
    }

    fn atom(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut a = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        a.extend_from_slice(kind);
        a.extend_from_slice(body);
        a
    }

    fn mp4(moov_children: &[Vec<u8>]) -> Vec<u8> {
        let mut f = atom(b"ftyp", b"M4A \0\0\0\0isom");
        f.extend(atom(b"moov", &moov_children.concat()));
        f
    }

    /// An EBML element: its ID bytes, an 8-byte length, its body.
    fn ebml(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut e = id.to_vec();
        e.push(0x01);
        e.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
        e.extend_from_slice(body);
        e
    }

    #[test]
    fn matroska_lengths_and_discard_padding() {
        let header = ebml(&[0x1a, 0x45, 0xdf, 0xa3], &ebml(&[0x42, 0x82], b"webm"));
        let track = ebml(
            &[0xae],
            &[ebml(&[0xd7], &[1]), ebml(&[0x83], &[2])].concat(),
        );
        let tracks = ebml(&[0x16, 0x54, 0xae, 0x6b], &track);
        let group = [
            ebml(&[0xa1], &[0x81, 0, 0, 0, 0xfc]),
            ebml(&[0x75, 0xa2], &[0x01, 0, 0]),
        ]
        .concat();
        let cluster = ebml(
            &[0x1f, 0x43, 0xb6, 0x75],
            &[ebml(&[0xa3], &[0x81, 0, 0, 0]), ebml(&[0xa0], &group)].concat(),
        );
        let file = [
            header.clone(),
            ebml(
                &[0x18, 0x53, 0x80, 0x67],
                &[tracks.clone(), cluster].concat(),
            ),
        ]
        .concat();
        let notes = check(&mut Cursor::new(file.clone()), file.len() as u64, "t").unwrap();
        assert_eq!(notes.container, Container::Matroska);
        assert_eq!(notes.mkv_end_padding_ns, Some(65_536));
        // A codec private claiming a terabyte inside a few bytes.
        let mut lying = ebml(&[0x63, 0xa2], b"");
        lying[3..10].copy_from_slice(&(1u64 << 40).to_be_bytes()[1..]);
        let file = [
            header,
            ebml(
                &[0x18, 0x53, 0x80, 0x67],
                &[tracks, ebml(&[0xae], &lying)].concat(),
            ),
        ]
        .concat();
        refused(&file, "Matroska element 0x63a2 claims 1099511627776 bytes");
    }

    #[test]
    fn caf_and_aiff_lengths_rates_and_tables() {
        let chunk =
            |kind: &[u8], body: &[u8]| [kind, &(body.len() as i64).to_be_bytes(), body].concat();
        let mut desc = 16_000f64.to_be_bytes().to_vec();
        desc.extend_from_slice(b"lpcm\0\0\0\x0c\0\0\0\x02\0\0\0\x01\0\0\0\x01\0\0\0\x10");
        let caf = |chunks: &[Vec<u8>]| [b"caff\0\x01\0\0".to_vec(), chunks.concat()].concat();
        assert!(run(&caf(&[chunk(b"desc", &desc), chunk(b"data", &[0; 8])])).is_ok());
        let mut kuki = chunk(b"kuki", b"");
        kuki[4..12].copy_from_slice(&(1i64 << 40).to_be_bytes());
        refused(
            &caf(&[chunk(b"desc", &desc), kuki]),
            "the CAF chunk \"kuki\" claims",
        );
        let pakt = chunk(
            b"pakt",
            &[(1i64 << 40).to_be_bytes(), [0; 8], [0; 8]].concat(),
        );
        refused(&caf(&[chunk(b"desc", &desc), pakt]), "packet table claims");
        let mut zero_rate = desc.clone();
        zero_rate[..8].copy_from_slice(&0f64.to_be_bytes());
        refused(&caf(&[chunk(b"desc", &zero_rate)]), "Hz");

        let comm = |rate: [u8; 10]| {
            let body = [&[0, 1, 0, 0, 0, 16, 0, 16][..], &rate].concat();
            [
                b"COMM".to_vec(),
                (body.len() as u32).to_be_bytes().to_vec(),
                body,
            ]
            .concat()
        };
        let aiff = |chunks: Vec<u8>| [b"FORM\0\0\0\0AIFF".to_vec(), chunks].concat();
        assert!(run(&aiff(comm([0x40, 0x0c, 0xfa, 0, 0, 0, 0, 0, 0, 0]))).is_ok());
        refused(&aiff(comm([0; 10])), "Hz");
        refused(
            &aiff(b"NAME\x7f\0\0\0".to_vec()),
            "the AIFF chunk \"NAME\" claims",
        );
    }

    #[test]
    fn mp4_tables_and_atoms() {
        // A table that fits, and one that claims more entries than it holds.
        let fits = atom(b"stco", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9]);
        assert!(run(&mp4(&[fits])).is_ok());
        let lies = atom(b"stco", &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        refused(&mp4(&[lies]), "the MP4 table \"stco\" (4294967295 entries)");
        // A child larger than its parent.
        let mut child = atom(b"trak", &[]);
        child[..4].copy_from_slice(&1000u32.to_be_bytes());
        refused(
            &mp4(&[child]),
            "the MP4 atom \"trak\" in moov claims 1000 bytes",
        );
        // A full box too short for its version and flags.
        refused(&mp4(&[atom(b"meta", &[0, 0])]), "\"meta\" is 2 bytes long");
        // A sample larger than the file.
        let stsz = atom(b"stsz", &[0, 0, 0, 0, 0x7f, 0, 0, 0, 0, 0, 0, 1]);
        refused(&mp4(&[stsz]), "an MP4 sample claims 2130706432 bytes");
        let trun = atom(b"trun", &[0, 0, 2, 0, 0, 0, 0, 1, 0x7f, 0, 0, 0]);
        let mut moof = atom(b"ftyp", b"M4A \0\0\0\0isom");
        moof.extend(atom(b"moof", &atom(b"traf", &trun)));
        refused(&moof, "an MP4 sample claims 2130706432 bytes");
    }

    #[test]
    fn mp4_sample_entries() {
        // An audio entry's children are checked after its 28 bytes of fields...
        let mut mp4a = vec![0u8; 28];
        mp4a.extend(atom(b"esds", &[0; 4]));
        let mut bad = mp4a.clone();
        bad[28..32].copy_from_slice(&500u32.to_be_bytes());
        let stsd = |entry: &[u8; 4], body: &[u8]| {
            let mut b = vec![0, 0, 0, 0, 0, 0, 0, 1];
            b.extend(atom(entry, body));
            atom(b"stsd", &b)
        };
        assert!(run(&mp4(&[stsd(b"mp4a", &mp4a)])).is_ok());
        refused(
            &mp4(&[stsd(b"mp4a", &bad)]),
            "\"esds\" in mp4a claims 500 bytes",
        );
        // ...a video entry's fields are longer and not symphonia's business.
        assert!(run(&mp4(&[stsd(b"avc1", &bad)])).is_ok());
    }

    #[test]
    fn a_cut_off_download_is_left_to_the_decoder() {
        let mut f = mp4(&[]);
        f.extend_from_slice(&1_000_000u32.to_be_bytes());
        f.extend_from_slice(b"mdat");
        f.extend_from_slice(&[0; 100]);
        assert!(run(&f).is_ok());
    }

    fn flac(blocks: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut f = b"fLaC".to_vec();
        for (i, (kind, body)) in blocks.iter().enumerate() {
            let last = if i + 1 == blocks.len() { 0x80 } else { 0 };
            f.push(kind | last);
            f.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            f.extend_from_slice(body);
        }
        f.extend_from_slice(&[0xff, 0xf8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        f
    }

    fn comment(vendor: &[u8], comments: &[&[u8]], lie: Option<u32>) -> Vec<u8> {
        let mut c = (vendor.len() as u32).to_le_bytes().to_vec();
        c.extend_from_slice(vendor);
        c.extend_from_slice(&(comments.len() as u32).to_le_bytes());
        for (i, text) in comments.iter().enumerate() {
            let len = match lie {
                Some(n) if i == 0 => n,
                _ => text.len() as u32,
            };
            c.extend_from_slice(&len.to_le_bytes());
            c.extend_from_slice(text);
        }
        c
    }

    #[test]
    fn flac_comments_and_pictures() {
        let info = (0, vec![0; 34]);
        let good = comment(b"rech", &[b"TITLE=x"], None);
        assert!(run(&flac(&[info.clone(), (4, good)])).is_ok());
        let bad = comment(b"rech", &[b"TITLE=x"], Some(u32::MAX));
        refused(
            &flac(&[info.clone(), (4, bad)]),
            "a Vorbis comment claims 4294967295 bytes",
        );
        let mut picture = vec![0, 0, 0, 3, 0, 0, 0, 9];
        picture.extend_from_slice(b"image/png");
        picture.extend_from_slice(&[0, 0, 0, 0]);
        picture.extend_from_slice(&[0; 16]);
        picture.extend_from_slice(&0x4000_0000u32.to_be_bytes());
        refused(
            &flac(&[info, (6, picture)]),
            "a FLAC picture claims 1073741824 bytes",
        );
    }

    fn ogg_page(serial: u32, packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push((p.len() % 255) as u8);
        }
        let mut page = b"OggS\0\0".to_vec();
        page.extend_from_slice(&[0; 8]);
        page.extend_from_slice(&serial.to_le_bytes());
        page.extend_from_slice(&[0; 8]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        for p in packets {
            page.extend_from_slice(p);
        }
        page
    }

    #[test]
    fn ogg_comment_packets() {
        let mut header = b"\x03vorbis".to_vec();
        header.extend(comment(b"v", &[b"A=b"], Some(0x7fff_ffff)));
        let mut file = ogg_page(7, &[b"\x01vorbis-identification"]);
        file.extend(ogg_page(7, &[&header]));
        file.extend_from_slice(&[0; 16]);
        refused(&file, "a Vorbis comment claims 2147483647 bytes");
        let mut fine = b"\x03vorbis".to_vec();
        fine.extend(comment(b"v", &[b"A=b"], None));
        let mut file = ogg_page(7, &[b"\x01vorbis-identification", &fine]);
        file.extend_from_slice(&[0; 16]);
        assert!(run(&file).is_ok());
    }

    /// Writes bits least significant first.
    fn pack(fields: &[(u64, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut bit = 0;
        for &(value, width) in fields {
            for i in 0..width {
                if bit % 8 == 0 {
                    out.push(0);
                }
                out[bit / 8] |= (((value >> i) & 1) as u8) << (bit % 8);
                bit += 1;
            }
        }
        out
    }

    fn check_setup(setup: &[u8]) -> Result<(), AudioError> {
        let mut empty = Cursor::new(Vec::new());
        let scan = Scan {
            input: &mut empty,
            len: 0,
            name: "t",
            mp4: Mp4Notes::default(),
            notes: ContainerNotes::default(),
        };
        scan.vorbis_codebooks(setup)
    }

    #[test]
    fn vorbis_codebooks_cannot_ask_for_terabytes() {
        // One codebook: 65535 dimensions, 16777215 entries in one run of length 1, lookup
        // type 1: symphonia would allocate 65535 × 16777215 floats (4 TB) from 30 bytes.
        let huge = pack(&[
            (0, 8),
            (0x56_4342, 24),
            (65_535, 16),
            ((1 << 24) - 1, 24),
            (1, 1),
            (0, 5),
            ((1 << 24) - 1, 24),
            (1, 4),
            (0, 64),
            (0, 4),
            (0, 1),
        ]);
        let err = check_setup(&huge).unwrap_err();
        assert!(err.to_string().contains("16777215 entries"), "{err}");
        // A plausible codebook (5000 entries, no lookup table) is walked past; the second
        // asks for 100000 × 200 values.
        let two = pack(&[
            (1, 8),
            (0x56_4342, 24),
            (2, 16),
            (5000, 24),
            (1, 1),
            (0, 5),
            (5000, 13),
            (0, 4),
            (0x56_4342, 24),
            (200, 16),
            (100_000, 24),
            (1, 1),
            (0, 5),
            (100_000, 17),
            (2, 4),
            (0, 64),
            (0, 4),
            (0, 1),
        ]);
        let err = check_setup(&two).unwrap_err();
        assert!(
            err.to_string()
                .contains("a lookup table of 100000 × 200 values"),
            "{err}"
        );
        // Only the first, with room for its lookup values: accepted.
        let mut one = pack(&[
            (0, 8),
            (0x56_4342, 24),
            (2, 16),
            (5000, 24),
            (1, 1),
            (0, 5),
            (5000, 13),
            (2, 4),
            (0, 64),
            (0, 4),
            (0, 1),
        ]);
        one.extend(vec![0u8; 10_000 / 8 + 1]);
        assert!(check_setup(&one).is_ok());
    }

    #[test]
    fn id3v2_frames_and_what_follows() {
        let mut tag = b"ID3\x03\0\0".to_vec();
        let mut frames = b"TIT2".to_vec();
        frames.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
        frames.extend_from_slice(&[0, 0, 0, b'x']);
        tag.extend_from_slice(&[0, 0, 0, frames.len() as u8]);
        tag.extend_from_slice(&frames);
        tag.extend_from_slice(&[0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        refused(&tag, "the ID3v2 frame TIT2 claims 2147483632 bytes");
        // After a good tag, the scan goes on to what follows it: here a FLAC stream with a bad
        // comment.
        let mut tag = b"ID3\x03\0\0\0\0\0\x0b".to_vec();
        tag.extend_from_slice(b"TIT2\0\0\0\x01\0\0x");
        let bad = comment(b"", &[b"x"], Some(1000));
        tag.extend(flac(&[(0, vec![0; 34]), (4, bad)]));
        refused(&tag, "a Vorbis comment claims 1000 bytes");
    }

    #[test]
    fn riff_chunks() {
        let mut wav = b"RIFF\0\0\0\0WAVE".to_vec();
        wav.extend_from_slice(b"fmt \x10\0\0\0");
        wav.extend_from_slice(&[7, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0]);
        let mut list = wav.clone();
        list.extend_from_slice(b"LIST\x10\0\0\0INFOINAM\xff\0\0\0abcd");
        list.extend_from_slice(b"data\x04\0\0\0\0\0\0\0");
        refused(&list, "a WAV LIST entry claims 255 bytes");
        let mut slow = wav.clone();
        slow[24..28].copy_from_slice(&0u32.to_le_bytes());
        slow.extend_from_slice(b"data\x04\0\0\0\0\0\0\0");
        refused(&slow, "sample rate 0 Hz");
        wav.extend_from_slice(b"data\xff\xff\xff\xff\0\0\0\0");
        assert!(
            run(&wav).is_ok(),
            "a streamed WAV's data length is not checked"
        );
    }
}
