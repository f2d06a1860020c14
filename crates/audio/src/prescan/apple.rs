//! Apple's containers, CAF and AIFF/AIFC: chunk lengths must fit in the file (symphonia reads
//! CAF's magic cookie whole and sizes its packet table from a count in the file), and the rate
//! and channel count must be ones rech converts.

use super::Scan;
use crate::error::AudioError;

impl Scan<'_> {
    /// CAF: an 8-byte file header, then chunks with a 64-bit length; the audio data chunk may
    /// say -1, "to the end of the file".
    pub(super) fn caf(&mut self, at: u64) -> Result<(), AudioError> {
        let mut pos = at + 8;
        // From the `desc` chunk: bytes and frames per packet.
        let mut packing = None;
        while self.len - pos.min(self.len) >= 12 {
            let mut header = [0u8; 12];
            self.read_at(pos, &mut header)?;
            let kind = [header[0], header[1], header[2], header[3]];
            let mut size = [0u8; 8];
            size.copy_from_slice(&header[4..]);
            let size = i64::from_be_bytes(size);
            let body = pos + 12;
            let available = self.len - body;
            let what = format!("the CAF chunk {:?}", String::from_utf8_lossy(&kind));
            if &kind == b"data" && (size == -1 || size as u64 > available) {
                // To the end of the file, or a download cut short in the audio.
                return Ok(());
            }
            if size < 0 || size as u64 > available {
                return Err(self.too_long(&what, size.unsigned_abs(), available));
            }
            let size = size as u64;
            match &kind {
                b"desc" => {
                    let desc = self.bytes_at(body, size.min(32))?;
                    let field = |i: usize| {
                        desc.get(i..i + 4)
                            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    };
                    let rate = desc
                        .get(..8)
                        .map(|b| f64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
                        .unwrap_or(0.0);
                    let (Some(bytes), Some(frames), Some(channels)) =
                        (field(16), field(20), field(24))
                    else {
                        return Err(self.malformed(format!("{what} is {size} bytes long")));
                    };
                    let rate = if (1.0..1e7).contains(&rate) {
                        rate as u32
                    } else {
                        0
                    };
                    let channels = u16::try_from(channels).unwrap_or(u16::MAX);
                    crate::limits::check_stream(self.name, channels, rate)?;
                    packing = Some((bytes, frames));
                }
                b"pakt" => {
                    let table = self.bytes_at(body, size.min(8))?;
                    let packets = table
                        .get(..8)
                        .map_or(0, |b| i64::from_be_bytes(b.try_into().unwrap_or([0; 8])));
                    // symphonia reserves one entry per packet: at least a byte each in a
                    // variable table, at least a packet's bytes each in the file otherwise.
                    let limit = match packing {
                        Some((0, _)) | Some((_, 0)) | None => size,
                        Some((bytes, _)) => self.len / u64::from(bytes),
                    };
                    if packets < 0 || packets as u64 > limit {
                        return Err(self.malformed(format!(
                            "the CAF packet table claims {packets} packets, more than the \
                             file can hold"
                        )));
                    }
                }
                _ => {}
            }
            pos = body + size;
        }
        Ok(())
    }

    /// AIFF and AIFC: `FORM`, then chunks with a 32-bit big-endian length, padded to even.
    pub(super) fn aiff(&mut self, at: u64) -> Result<(), AudioError> {
        let mut pos = at + 12;
        while self.len - pos.min(self.len) >= 8 {
            let mut header = [0u8; 8];
            self.read_at(pos, &mut header)?;
            let kind = [header[0], header[1], header[2], header[3]];
            let size = u64::from(u32::from_be_bytes([
                header[4], header[5], header[6], header[7],
            ]));
            let body = pos + 8;
            let available = self.len - body;
            if size > available {
                if &kind == b"SSND" {
                    return Ok(());
                }
                let what = format!("the AIFF chunk {:?}", String::from_utf8_lossy(&kind));
                return Err(self.too_long(&what, size, available));
            }
            if &kind == b"COMM" {
                let comm = self.bytes_at(body, size.min(18))?;
                if comm.len() < 18 {
                    return Err(self.malformed(format!(
                        "the AIFF chunk \"COMM\" is {size} bytes long, expected at least 18"
                    )));
                }
                let channels = u16::from_be_bytes([comm[0], comm[1]]);
                let rate = extended_to_rate(&comm[8..18]);
                crate::limits::check_stream(self.name, channels, rate)?;
            }
            pos = body + size + (size & 1);
        }
        Ok(())
    }
}

/// AIFF's sample rate, an 80-bit IEEE 754 extended float, as whole hertz (0 for anything that
/// is not a positive rate below 2^32).
fn extended_to_rate(b: &[u8]) -> u32 {
    let exponent = i32::from(u16::from_be_bytes([b[0], b[1]]) & 0x7fff) - 16383;
    let mut mantissa = [0u8; 8];
    mantissa.copy_from_slice(&b[2..10]);
    let mantissa = u64::from_be_bytes(mantissa);
    if b[0] & 0x80 != 0 || !(0..32).contains(&exponent) {
        return 0;
    }
    (mantissa >> (63 - exponent)) as u32
}

#[cfg(test)]
mod tests {
    use super::extended_to_rate;

    #[test]
    fn extended_rates() {
        // 44100 and 16000 as AIFF writes them.
        assert_eq!(
            extended_to_rate(&[0x40, 0x0e, 0xac, 0x44, 0, 0, 0, 0, 0, 0]),
            44_100
        );
        assert_eq!(
            extended_to_rate(&[0x40, 0x0c, 0xfa, 0, 0, 0, 0, 0, 0, 0]),
            16_000
        );
        assert_eq!(
            extended_to_rate(&[0xc0, 0x0c, 0xfa, 0, 0, 0, 0, 0, 0, 0]),
            0
        );
        assert_eq!(
            extended_to_rate(&[0x7f, 0xff, 0xfa, 0, 0, 0, 0, 0, 0, 0]),
            0
        );
        assert_eq!(extended_to_rate(&[0; 10]), 0);
    }
}
