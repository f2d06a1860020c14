//! RIFF (WAV) chunks: each chunk's length must fit in the file.

use super::{Fields, Scan};
use crate::error::AudioError;

impl Scan<'_> {
    /// Checks the RIFF chunks up to `data` (symphonia reads the ones before it into memory,
    /// `LIST` sub-chunks included) and the `fmt ` chunk's channel count and rate: symphonia
    /// panics on a zero rate.
    pub(super) fn riff(&mut self, at: u64) -> Result<(), AudioError> {
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
}
