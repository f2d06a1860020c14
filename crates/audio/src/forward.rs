//! A forward-only input (standard input, a pipe, a socket) that can go back to its start while
//! a header is being parsed. A WAV piped in then streams in bounded memory instead of being
//! read whole first.

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

/// Bytes kept for going back: far more than any WAV header with its metadata chunks, small
/// enough not to matter. Past it the input is forward-only.
const PREFIX_LIMIT: usize = 1 << 20;

/// Wraps a reader that cannot seek. Every byte read is kept until [`PREFIX_LIMIT`] bytes have
/// been read, so until then the reader can seek anywhere within what it has read; after that
/// the kept bytes are dropped and it can only go forward.
pub(crate) struct ForwardInput<R> {
    inner: R,
    /// Every byte taken from `inner`, while `replayable`.
    prefix: Vec<u8>,
    /// Whether `prefix` still holds every byte taken from `inner`.
    replayable: bool,
    /// Position of the next byte to hand out.
    pos: u64,
    /// Bytes taken from `inner` so far.
    taken: u64,
}

impl<R: Read> ForwardInput<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            prefix: Vec::new(),
            replayable: true,
            pos: 0,
            taken: 0,
        }
    }

    /// Overwrites bytes already read (and kept) at `offset`, so that a header can be corrected
    /// before it is parsed again. False when those bytes are no longer kept.
    pub(crate) fn patch(&mut self, offset: usize, bytes: &[u8]) -> bool {
        match self.prefix.get_mut(offset..offset + bytes.len()) {
            Some(kept) if self.replayable => {
                kept.copy_from_slice(bytes);
                true
            }
            _ => false,
        }
    }

    /// Bytes held for going back (for tests of the memory bound).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.prefix.capacity()
    }
}

impl<R: Read> Read for ForwardInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.taken {
            // Only reachable while replayable: seeking back is refused otherwise.
            let start = self.pos as usize;
            let n = buf.len().min(self.prefix.len() - start);
            buf[..n].copy_from_slice(&self.prefix[start..start + n]);
            self.pos += n as u64;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        if self.replayable {
            if self.prefix.len() + n <= PREFIX_LIMIT {
                self.prefix.extend_from_slice(&buf[..n]);
            } else {
                self.replayable = false;
                self.prefix = Vec::new();
            }
        }
        self.taken += n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Seek for ForwardInput<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(_) => None,
        };
        match target {
            Some(t) if t == self.pos => Ok(t),
            Some(t) if self.replayable && t <= self.taken => {
                self.pos = t;
                Ok(t)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the input is a stream and cannot be re-read from there",
            )),
        }
    }
}

impl<R: Read + Send + Sync> MediaSource for ForwardInput<R> {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

/// Data lengths from here up are placeholders, not sizes: 0xFFFFFFFF (ffmpeg) and the ~2 GB
/// that arecord writes before it knows how long it will record.
const PLACEHOLDER_LEN: u32 = 0x7FFF_0000;

/// Where a WAV stream's `data` chunk declares its length, and the stream's bytes per frame,
/// when that length is a placeholder ([`PLACEHOLDER_LEN`]): what `ffmpeg -f wav -` and
/// `arecord -t wav` write, since a pipe cannot be rewound to fill it in. Reads the chunks before `data` from `input`, which is left wherever
/// that ends. `None` for a WAV with a real length, or anything unexpected (hound then judges).
pub(crate) fn unsized_data_chunk(input: &mut dyn Read) -> io::Result<Option<(usize, u16)>> {
    let mut riff = [0u8; 12];
    input.read_exact(&mut riff)?;
    let mut at = riff.len();
    let mut block_align = None;
    loop {
        let mut header = [0u8; 8];
        input.read_exact(&mut header)?;
        at += header.len();
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        // Chunks are padded to even sizes.
        let body = len as usize + (len % 2) as usize;
        match &header[..4] {
            b"data" => {
                return Ok(match block_align {
                    Some(align) if len >= PLACEHOLDER_LEN && align > 0 => Some((at - 4, align)),
                    _ => None,
                });
            }
            b"fmt " if (16..=1024).contains(&len) => {
                let mut fmt = vec![0u8; body];
                input.read_exact(&mut fmt)?;
                block_align = Some(u16::from_le_bytes([fmt[12], fmt[13]]));
            }
            // Metadata chunks (LIST, fact, …) are skipped, within what is kept for going back.
            _ if at + body <= PREFIX_LIMIT / 2 => {
                io::copy(&mut input.take(body as u64), &mut io::sink())?;
            }
            _ => return Ok(None),
        }
        at += body;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `chunk` bytes per call, as a pipe does.
    struct Pipe {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn pipe(len: usize) -> ForwardInput<Pipe> {
        ForwardInput::new(Pipe {
            data: (0..len).map(|i| (i % 251) as u8).collect(),
            at: 0,
            chunk: 1000,
        })
    }

    /// A WAV header as ffmpeg writes it into a pipe: sizes 0xFFFFFFFF, a LIST chunk before
    /// `data`.
    fn piped_header(data_len: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        // PCM, 2 channels, 44.1 kHz, 176400 bytes/s, 4 bytes per frame, 16 bits.
        for v in [1u16, 2] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&44_100u32.to_le_bytes());
        h.extend_from_slice(&176_400u32.to_le_bytes());
        for v in [4u16, 16] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(b"LIST");
        h.extend_from_slice(&25u32.to_le_bytes());
        h.extend_from_slice(&[b'x'; 26]); // 25 bytes and the pad byte
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        h.extend_from_slice(&[0u8; 64]);
        h
    }

    #[test]
    fn finds_the_length_of_a_sizeless_data_chunk_past_metadata() {
        let header = piped_header(u32::MAX);
        let found = unsized_data_chunk(&mut &header[..]).unwrap();
        let (offset, align) = found.expect("a sizeless data chunk");
        assert_eq!(align, 4);
        assert_eq!(&header[offset - 4..offset], b"data");
        assert_eq!(&header[offset..offset + 4], &u32::MAX.to_le_bytes());
        // arecord's placeholder, about 2 GB, is one too.
        let arecord = piped_header(0x7FFF_FFFF);
        assert!(unsized_data_chunk(&mut &arecord[..]).unwrap().is_some());
        // A real length is left alone, and so is anything that is not a WAV header.
        assert_eq!(
            unsized_data_chunk(&mut &piped_header(400)[..]).unwrap(),
            None
        );
        assert!(unsized_data_chunk(&mut &b"RIFF"[..]).is_err());
    }

    #[test]
    fn goes_back_within_what_it_read_and_replays_it_exactly() {
        let mut input = pipe(10_000);
        let mut first = [0u8; 3000];
        input.read_exact(&mut first).unwrap();
        input.seek(SeekFrom::Start(100)).unwrap();
        let mut again = vec![0u8; 5000];
        input.read_exact(&mut again).unwrap();
        assert_eq!(&again[..2900], &first[100..]);
        let expected: Vec<u8> = (100..5100).map(|i| (i % 251) as u8).collect();
        assert_eq!(again, expected);
        assert_eq!(input.stream_position().unwrap(), 5100);
        input.rewind().unwrap();
        let mut all = Vec::new();
        input.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 10_000);
        assert!(all.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }

    #[test]
    fn forgets_what_it_read_past_the_limit_and_then_refuses_to_go_back() {
        let mut input = pipe(PREFIX_LIMIT + 50_000);
        let mut sink = vec![0u8; 8192];
        let mut total = 0;
        loop {
            let n = input.read(&mut sink).unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, PREFIX_LIMIT + 50_000);
        assert_eq!(
            input.held(),
            0,
            "the kept bytes are released past the limit"
        );
        let err = input.rewind().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(input.seek(SeekFrom::End(0)).is_err());
        // Staying in place is always allowed (BufReader asks for the position this way).
        assert_eq!(input.stream_position().unwrap(), total as u64);
    }
}
