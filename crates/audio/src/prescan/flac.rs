//! FLAC's metadata blocks: each block's length must fit in the file, and the comments and
//! pictures inside must fit in their block.

use super::{Fields, Scan};
use crate::error::AudioError;

impl Scan<'_> {
    /// Checks the metadata blocks of a native FLAC stream starting at `at` (`fLaC`).
    pub(super) fn flac(&mut self, at: u64) -> Result<(), AudioError> {
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
    pub(super) fn flac_block(&self, kind: u8, block: &[u8]) -> Result<(), AudioError> {
        match kind {
            4 => self.vorbis_comment(block, "a Vorbis comment"),
            6 => self.flac_picture(block),
            _ => Ok(()),
        }
    }

    /// A FLAC picture block: type, MIME type, description, four numbers, data; lengths
    /// big-endian.
    pub(super) fn flac_picture(&self, data: &[u8]) -> Result<(), AudioError> {
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
}
