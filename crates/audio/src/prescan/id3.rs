//! ID3v2 tags before the audio (MP3 and others): every frame's length must fit in the tag, as
//! symphonia reads each frame whole; unsynchronisation undone as symphonia undoes it.

use super::Scan;
use crate::error::AudioError;

impl Scan<'_> {
    /// Checks an ID3v2 tag at `at`; returns where it ends, where the probe resumes.
    pub(super) fn id3v2(&mut self, at: u64) -> Result<u64, AudioError> {
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
}

/// A 28-bit ID3v2 "syncsafe" integer (7 bits per byte).
pub(super) fn syncsafe(b: &[u8]) -> u64 {
    b.iter()
        .take(4)
        .fold(0, |n, &x| (n << 7) | u64::from(x & 0x7f))
}

/// Undoes ID3v2 unsynchronisation (`ff 00` back to `ff`), as symphonia does for v2.2/v2.3 tags.
pub(super) fn resynchronise(data: &[u8]) -> Vec<u8> {
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
