//! Encoder delay and padding that symphonia 0.5 leaves in: MP4 edit lists (AAC's 1024 or 2112
//! priming frames, Opus's pre-skip) and Matroska's Opus pre-skip and `DiscardPadding`. Without
//! trimming them an M4A is about 90 ms longer than the recording it holds, and every timestamp
//! is shifted by the priming.

/// What the container says about the audio track's real extent, gathered by `prescan` while it
/// walks the container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ContainerNotes {
    /// The container `prescan` found (symphonia does not say which reader it chose).
    pub container: Container,
    /// The first audio track's edit in an MP4: where the presented audio starts, and how long
    /// it lasts.
    pub mp4_edit: Option<Mp4Edit>,
    /// Nanoseconds of padding the last Matroska block of each track says to discard, for the
    /// track that is decoded (Matroska numbers tracks from 1; `prescan` keeps the lowest audio
    /// track's).
    pub mkv_end_padding_ns: Option<u64>,
}

/// The containers whose gapless information rech handles itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Container {
    Mp4,
    Matroska,
    #[default]
    Other,
}

/// One MP4 edit-list entry, with the timescales it counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mp4Edit {
    /// Start of the presented audio, in the media timescale.
    pub media_time: u64,
    pub media_timescale: u32,
    /// Length of the presented audio, in the movie timescale.
    pub segment_duration: u64,
    pub movie_timescale: u32,
}

impl Mp4Edit {
    /// Frames to skip and to keep at `rate` hertz.
    pub fn frames(&self, rate: u32) -> (u64, u64) {
        let at = |value: u64, scale: u32| -> u64 {
            (u128::from(value) * u128::from(rate) / u128::from(scale.max(1)))
                .try_into()
                .unwrap_or(u64::MAX)
        };
        (
            at(self.media_time, self.media_timescale),
            at(self.segment_duration, self.movie_timescale),
        )
    }
}

/// Drops `skip` frames at the start, keeps at most `limit`, and drops the last `tail` frames
/// of a stream of mono samples.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    skip: u64,
    limit: Option<u64>,
    tail: usize,
    held: Vec<f32>,
    emitted: u64,
}

impl Trimmer {
    pub fn new(skip: u64, limit: Option<u64>, tail: u64) -> Self {
        Self {
            skip,
            limit,
            tail: usize::try_from(tail).unwrap_or(usize::MAX),
            held: Vec::new(),
            emitted: 0,
        }
    }

    /// Whether it changes anything.
    pub fn is_identity(&self) -> bool {
        self.skip == 0 && self.limit.is_none() && self.tail == 0
    }

    /// Appends what survives of `block` to `out`.
    pub fn push(&mut self, mut block: &[f32], out: &mut Vec<f32>) {
        let skipped = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(block.len());
        block = &block[skipped..];
        self.skip -= skipped as u64;
        let room = self.limit.map_or(u64::MAX, |l| l - self.emitted.min(l));
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(block.len());
        block = &block[..take];
        if self.tail == 0 {
            out.extend_from_slice(block);
            self.emitted += block.len() as u64;
            return;
        }
        self.held.extend_from_slice(block);
        let ready = self.held.len().saturating_sub(self.tail);
        out.extend(self.held.drain(..ready));
        self.emitted += ready as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mut t: Trimmer, blocks: &[usize]) -> Vec<f32> {
        let mut next = 0.0;
        let mut out = Vec::new();
        for &n in blocks {
            let block: Vec<f32> = (0..n)
                .map(|_| {
                    next += 1.0;
                    next
                })
                .collect();
            t.push(&block, &mut out);
        }
        out
    }

    #[test]
    fn skips_limits_and_drops_the_tail_across_blocks() {
        assert_eq!(run(Trimmer::new(3, None, 0), &[2, 2, 2]), [4.0, 5.0, 6.0]);
        assert_eq!(run(Trimmer::new(1, Some(3), 0), &[2, 5]), [2.0, 3.0, 4.0]);
        assert_eq!(run(Trimmer::new(0, None, 3), &[2, 2, 2]), [1.0, 2.0, 3.0]);
        assert_eq!(run(Trimmer::new(2, None, 10), &[4]), Vec::<f32>::new());
        assert!(Trimmer::new(0, None, 0).is_identity());
    }

    #[test]
    fn edit_frames_at_the_decoded_rate() {
        let edit = Mp4Edit {
            media_time: 1024,
            media_timescale: 16_000,
            segment_duration: 3_383,
            movie_timescale: 1000,
        };
        assert_eq!(edit.frames(16_000), (1024, 54_128));
        assert_eq!(edit.frames(48_000), (3072, 162_384));
    }
}
