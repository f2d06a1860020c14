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
//!
//! This file finds the container and holds what every walk shares (bounded reads, the errors);
//! each container has a file of its own: `mp4.rs`, `flac.rs`, `ogg.rs` (with Vorbis), `riff.rs`,
//! `id3.rs`, `matroska.rs`, `apple.rs` (CAF and AIFF).

use std::io::{self, SeekFrom};

use symphonia::core::io::MediaSource;

use crate::error::AudioError;
use crate::gapless::{Container, ContainerNotes};

mod apple;
mod flac;
mod id3;
mod matroska;
mod mp4;
mod ogg;
mod riff;

use mp4::Mp4Notes;

/// symphonia's probe stops looking for a marker after this many bytes.
const PROBE_SEARCH_LIMIT: u64 = 1024 * 1024;
/// Nesting deeper than this is not a real file.
const MAX_DEPTH: u32 = 16;

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
