//! Matroska and WebM: every element that is not a container of elements must fit in its parent
//! (symphonia allocates strings, binaries and blocks of whatever length the file claims), and
//! the audio track's last block may say how much padding to discard at the end.

use super::{Scan, MAX_DEPTH};
use crate::error::AudioError;

const EBML: u32 = 0x1a45_dfa3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114d_9b74;
const INFO: u32 = 0x1549_a966;
const TRACKS: u32 = 0x1654_ae6b;
const TRACK_ENTRY: u32 = 0xae;
const TRACK_NUMBER: u32 = 0xd7;
const TRACK_TYPE: u32 = 0x83;
const CLUSTER: u32 = 0x1f43_b675;
const BLOCK_GROUP: u32 = 0xa0;
const BLOCK: u32 = 0xa1;
const SIMPLE_BLOCK: u32 = 0xa3;
const DISCARD_PADDING: u32 = 0x75a2;
const CUES: u32 = 0x1c53_bb6b;
const CHAPTERS: u32 = 0x1043_a770;
const TAGS: u32 = 0x1254_c367;
const ATTACHMENTS: u32 = 0x1941_a469;
/// `TrackType` of an audio track.
const AUDIO: u64 = 2;

/// Elements made of elements: walked, not read whole, so a length beyond their parent's is
/// only clamped to it (a live recording writes "unknown" or a guess there).
const MASTERS: [u32; 28] = [
    EBML,
    SEGMENT,
    SEEK_HEAD,
    0x4dbb, // Seek
    INFO,
    TRACKS,
    TRACK_ENTRY,
    0xe1,   // Audio
    0xe0,   // Video
    0x6d80, // ContentEncodings
    0x6240, // ContentEncoding
    CLUSTER,
    BLOCK_GROUP,
    0x75a1, // BlockAdditions
    0xa6,   // BlockMore
    0x8e,   // Slices
    CUES,
    0xbb, // CuePoint
    0xb7, // CueTrackPositions
    CHAPTERS,
    0x45b9, // EditionEntry
    0xb6,   // ChapterAtom
    0x80,   // ChapterDisplay
    TAGS,
    0x7373, // Tag
    0x63c0, // Targets
    0x67c8, // SimpleTag
    ATTACHMENTS,
];

/// The children of a segment: a cluster of unknown length ends where one of these begins.
const SEGMENT_CHILDREN: [u32; 8] = [
    SEEK_HEAD,
    INFO,
    TRACKS,
    CLUSTER,
    CUES,
    CHAPTERS,
    TAGS,
    ATTACHMENTS,
];

/// What the walk has seen so far.
#[derive(Debug, Default)]
struct Walk {
    /// The first audio track's number.
    audio_track: Option<u64>,
    /// The track entry being walked.
    entry_number: Option<u64>,
    entry_type: Option<u64>,
    /// The block group being walked: its block's track and its discard padding.
    group_track: Option<u64>,
    group_padding: u64,
    /// Per track, the padding its last block said to discard.
    last_padding: Vec<(u64, u64)>,
}

impl Walk {
    fn block(&mut self, track: u64, padding: u64) {
        match self.last_padding.iter_mut().find(|(t, _)| *t == track) {
            Some(slot) => slot.1 = padding,
            None => self.last_padding.push((track, padding)),
        }
    }

    /// Called when a master element's children are all walked.
    fn finished(&mut self, id: u32) {
        match id {
            TRACK_ENTRY => {
                if self.entry_type == Some(AUDIO) && self.audio_track.is_none() {
                    self.audio_track = self.entry_number;
                }
                self.entry_number = None;
                self.entry_type = None;
            }
            BLOCK_GROUP => {
                if let Some(track) = self.group_track.take() {
                    self.block(track, self.group_padding);
                }
                self.group_padding = 0;
            }
            _ => {}
        }
    }
}

impl Scan<'_> {
    /// Walks a Matroska file from its EBML header at `at`.
    pub(super) fn matroska(&mut self, at: u64) -> Result<(), AudioError> {
        let mut walk = Walk::default();
        self.ebml_children(at, self.len, false, 0, &mut walk)?;
        if let Some(track) = walk.audio_track {
            self.notes.mkv_end_padding_ns = walk
                .last_padding
                .iter()
                .find(|(t, _)| *t == track)
                .map(|(_, padding)| *padding)
                .filter(|&padding| padding > 0);
        }
        Ok(())
    }

    /// Walks the elements between `start` and `end`; returns where the walk stopped. In a
    /// cluster of unknown length (`open_cluster`), that is where the next segment child starts.
    fn ebml_children(
        &mut self,
        start: u64,
        end: u64,
        open_cluster: bool,
        depth: u32,
        walk: &mut Walk,
    ) -> Result<u64, AudioError> {
        if depth > MAX_DEPTH {
            return Err(self.malformed(format!(
                "Matroska elements nested more than {MAX_DEPTH} deep"
            )));
        }
        let mut pos = start;
        while pos < end {
            let mut head = [0u8; 12];
            let want = usize::try_from(end - pos).unwrap_or(12).min(12);
            let got = self.read_at(pos, &mut head[..want])?;
            let head = &head[..got];
            let Some((id, id_len)) = vint(head, true).map(|(id, len)| (id as u32, len)) else {
                if head.len() < 4 && pos + head.len() as u64 == self.len {
                    // A download cut short inside an element header.
                    return Ok(end);
                }
                return Err(self.malformed(format!("no Matroska element starts at byte {pos}")));
            };
            if open_cluster && SEGMENT_CHILDREN.contains(&id) {
                return Ok(pos);
            }
            let Some((size, size_len)) = vint(&head[id_len..], false) else {
                if pos + head.len() as u64 == self.len {
                    return Ok(end);
                }
                return Err(self.malformed(format!(
                    "the Matroska element {id:#x} at byte {pos} has no valid length"
                )));
            };
            let data = pos + (id_len + size_len) as u64;
            let unknown = size == (1u64 << (7 * size_len)) - 1;
            if MASTERS.contains(&id) {
                let child_end = if unknown {
                    end
                } else {
                    data.saturating_add(size).min(end)
                };
                let stop =
                    self.ebml_children(data, child_end, unknown && id == CLUSTER, depth + 1, walk)?;
                walk.finished(id);
                pos = if unknown { stop } else { child_end };
                continue;
            }
            // symphonia reads the one-byte "unknown" length as zero; longer ones as they are.
            let size = if unknown && size_len == 1 { 0 } else { size };
            let available = end - data.min(end);
            if size > available {
                if data.saturating_add(size) > self.len && size <= self.len {
                    // A download cut short inside an element: decode what is there.
                    return Ok(end);
                }
                return Err(self.too_long(
                    &format!("the Matroska element {id:#x}"),
                    size,
                    available,
                ));
            }
            self.ebml_leaf(id, data, size, walk)?;
            pos = data + size;
        }
        Ok(pos)
    }

    /// Notes what the gapless trimming needs from one element that holds data.
    fn ebml_leaf(
        &mut self,
        id: u32,
        data: u64,
        size: u64,
        walk: &mut Walk,
    ) -> Result<(), AudioError> {
        match id {
            TRACK_NUMBER | TRACK_TYPE | DISCARD_PADDING if (1..=8).contains(&size) => {
                let bytes = self.bytes_at(data, size)?;
                let value = bytes.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
                match id {
                    TRACK_NUMBER => walk.entry_number = Some(value),
                    TRACK_TYPE => walk.entry_type = Some(value),
                    _ => {
                        // Signed: a negative padding means nothing here.
                        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
                        walk.group_padding = if negative { 0 } else { value };
                    }
                }
            }
            SIMPLE_BLOCK | BLOCK => {
                let bytes = self.bytes_at(data, size.min(8))?;
                if let Some((track, _)) = vint(&bytes, false) {
                    if id == SIMPLE_BLOCK {
                        walk.block(track, 0);
                    } else {
                        walk.group_track = Some(track);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// An EBML variable-length integer at the start of `bytes`: its value and length. IDs keep
/// their length marker (`id`), lengths lose it.
fn vint(bytes: &[u8], id: bool) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > if id { 4 } else { 8 } {
        return None;
    }
    let rest = bytes.get(1..len)?;
    let lead = if id {
        u64::from(first)
    } else {
        u64::from(first) & (0xff >> len)
    };
    let value = rest.iter().fold(lead, |v, &b| v << 8 | u64::from(b));
    Some((value, len))
}

#[cfg(test)]
mod tests {
    use super::vint;

    #[test]
    fn variable_length_integers() {
        assert_eq!(
            vint(&[0x1a, 0x45, 0xdf, 0xa3], true),
            Some((0x1a45_dfa3, 4))
        );
        assert_eq!(vint(&[0x81], false), Some((1, 1)));
        assert_eq!(vint(&[0x40, 0x02], false), Some((2, 2)));
        assert_eq!(
            vint(&[0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], false).map(|v| v.1),
            Some(8)
        );
        assert_eq!(vint(&[0x00, 1], false), None);
        assert_eq!(vint(&[0x08, 1, 2, 3, 4], true), None);
        assert_eq!(vint(&[0x40], false), None);
    }
}
