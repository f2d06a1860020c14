//! Who spoke when in a whole recording: pyannote.audio's speaker diarization (the
//! speaker-diarization-3.1 pipeline) stage after stage on the two ONNX networks. Windows of
//! 10 s every second are segmented into three local speakers; each local speaker gets an
//! embedding of the frames it holds alone; the embeddings are clustered into the recording's
//! speakers; and each frame keeps as many of them as the windows counted speaking there.
//! `tests/pyannote.rs` holds every stage to pyannote.audio on the same models and audio.

use std::path::Path;

use rech_asr::Turn;

use crate::aggregate::{aggregate, speaker_count, AggregateOptions, Grid, Windows};
use crate::cluster::{pyannote_cluster, speaker_bounds, ClusterError, ClusterOptions};
use crate::models::{Embedder, ModelError, Segmentation};

/// Sample rate of both networks.
pub const SAMPLE_RATE: usize = 16_000;

/// The most embeddings clustered (a recording of 11 minutes has as many): centroid linkage's
/// cost grows with their cube where they gather round one speaker (measured: 2,700 in 6.5 s,
/// 10,800 in 477 s), so longer recordings are clustered on this many, evenly spread, and every
/// embedding then goes to its nearest centroid. pyannote.audio's speaker-diarization-3.1
/// clusters them all (`max_num_embeddings` is unbounded there).
pub const MAX_CLUSTERED: usize = 2_000;

/// Windows segmented in one run of the network: measured on 2 threads, 19 ms a window in
/// fours against 27 ms one by one, the same values.
const BATCH: usize = 4;

/// How a recording is diarized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiarizeOptions {
    /// The threshold and the bounds on the number of speakers.
    pub clusters: ClusterOptions,
    /// The smallest group of embeddings kept as a speaker of its own.
    pub min_cluster_size: usize,
    /// Samples between two windows.
    pub step: usize,
}

impl Default for DiarizeOptions {
    /// speaker-diarization-3.1's settings.
    fn default() -> Self {
        Self {
            clusters: ClusterOptions {
                threshold: crate::cluster::PYANNOTE_THRESHOLD,
                ..ClusterOptions::default()
            },
            min_cluster_size: crate::cluster::MIN_CLUSTER_SIZE,
            step: SAMPLE_RATE,
        }
    }
}

/// Why a recording could not be diarized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiarizeError {
    /// A network failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The bounds on the number of speakers are wrong.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// What diarization found, stage by stage (the turns are what most callers want).
#[derive(Debug, Clone, PartialEq)]
pub struct Diarization {
    /// Each window's local speakers, frame by frame (1 speaking, 0 not).
    pub segmentations: Windows,
    /// How many people speak in each frame of [`Grid::SEGMENTATION_FRAMES`] from 0 s.
    pub count: Vec<u8>,
    /// Each (window, local speaker)'s speaker, `-2` where that local speaker is silent.
    pub clusters: Vec<i32>,
    /// Each frame's speakers ([`Frames::speakers`] per frame, 1 speaking).
    pub frames: Frames,
    /// Who speaks when, speaker by speaker and then by time.
    pub turns: Vec<Turn>,
}

/// Speakers frame by frame on one timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    /// Where the frames lie.
    pub grid: Grid,
    /// Speakers (columns) per frame.
    pub speakers: usize,
    /// `frames × speakers` values, row after row.
    pub data: Vec<f32>,
}

/// The two networks, ready to diarize.
#[derive(Debug)]
pub struct Diarizer {
    segmentation: Segmentation,
    embedder: Embedder,
    min_samples: usize,
}

impl Diarizer {
    /// Opens the segmentation and embedding models, each on `threads` threads.
    pub fn open(segmentation: &Path, embedding: &Path, threads: usize) -> Result<Self, ModelError> {
        let segmentation = Segmentation::open(segmentation, threads)?;
        let mut embedder = Embedder::open(embedding, threads)?;
        let min_samples = embedder.min_samples();
        Ok(Self {
            segmentation,
            embedder,
            min_samples,
        })
    }

    /// The fewest samples an embedding is made of.
    pub fn min_samples(&self) -> usize {
        self.min_samples
    }

    /// Each window's local speakers, frame by frame: windows every `step` samples over 16 kHz
    /// `samples`, the last one padded.
    pub fn segment(&mut self, samples: &[f32], step: usize) -> Result<Windows, ModelError> {
        let chunks = self.segmentation.slide(samples, step)?;
        let mut data = Vec::new();
        for chunk in &chunks {
            data.extend(self.local_speakers_of(&chunk.scores));
        }
        let frames = chunks.first().map_or(0, |c| {
            c.scores.len() / self.segmentation.powerset().classes()
        });
        Ok(self.windows(step, frames, data))
    }

    /// Windows of local speakers every `step` samples, `frames` each, holding `data`.
    fn windows(&self, step: usize, frames: usize, data: Vec<f32>) -> Windows {
        let powerset = self.segmentation.powerset();
        Windows {
            chunks: Grid {
                start: 0.0,
                duration: self.segmentation.window() as f64 / SAMPLE_RATE as f64,
                step: step as f64 / SAMPLE_RATE as f64,
            },
            frames,
            classes: powerset.speakers(),
            data,
        }
    }

    fn local_speakers_of(&self, scores: &[f32]) -> Vec<f32> {
        let powerset = self.segmentation.powerset();
        powerset.hard(scores).into_iter().map(f32::from).collect()
    }

    /// The embedding of each (window, local speaker), window after window (see
    /// [`Self::window_embeddings`]).
    pub fn embeddings(
        &mut self,
        samples: &[f32],
        segmentations: &Windows,
    ) -> Result<Vec<Option<Vec<f32>>>, ModelError> {
        let window = (segmentations.chunks.duration * SAMPLE_RATE as f64).round() as usize;
        let (frames, speakers) = (segmentations.frames, segmentations.classes);
        let mut out = Vec::with_capacity(segmentations.count() * speakers);
        for (k, local) in segmentations
            .data
            .chunks(frames * speakers)
            .enumerate()
            .take(segmentations.count())
        {
            let start = ((segmentations.chunks.start + k as f64 * segmentations.chunks.step)
                * SAMPLE_RATE as f64)
                .round() as usize;
            let audio = &samples[start.min(samples.len())..(start + window).min(samples.len())];
            out.extend(self.window_embeddings(audio, window, local, speakers)?);
        }
        Ok(out)
    }

    /// The embedding of each local speaker of one window (`audio`, padded with silence to
    /// `window` samples; `local`, its local speakers frame by frame): the fbank of the whole
    /// window (centred), the feature frames where that speaker speaks alone (or, where that is
    /// too little, where it speaks at all); `None` where even that is too little.
    pub fn window_embeddings(
        &mut self,
        audio: &[f32],
        window: usize,
        local: &[f32],
        speakers: usize,
    ) -> Result<Vec<Option<Vec<f32>>>, ModelError> {
        let frames = local.len() / speakers.max(1);
        let feature_frames = self.embedder.frames(window);
        let bins = self.embedder.bins();
        let min_frames = (frames as f64 * self.min_samples as f64 / window as f64).ceil() as usize;
        let min_features = self.embedder.frames(self.min_samples).max(1);
        let nearest = nearest_frames(frames, feature_frames);
        let mut padded = audio[..audio.len().min(window)].to_vec();
        padded.resize(window, 0.0);
        let features = self.embedder.features(&padded);
        let mut out = Vec::with_capacity(speakers);
        for s in 0..speakers {
            let speaking = |f: usize| local[f * speakers + s] > 0.0;
            let alone = |f: usize| {
                speaking(f) && local[f * speakers..(f + 1) * speakers].iter().sum::<f32>() < 2.0
            };
            let clean = (0..frames).filter(|&f| alone(f)).count();
            let chosen: Vec<f32> = if clean > min_frames {
                select(&features, bins, &nearest, alone)
            } else {
                select(&features, bins, &nearest, speaking)
            };
            out.push(if chosen.len() / bins < min_features {
                None
            } else {
                Some(self.embedder.embed_features(&chosen)?)
            });
        }
        Ok(out)
    }

    /// A diarization fed as the audio is decoded: windows are segmented and embedded as soon
    /// as their samples are in, so that memory holds one window of audio and a few bytes per
    /// window whatever the recording's length.
    pub fn stream(&mut self, step: usize) -> Stream<'_> {
        Stream {
            window: self.segmentation.window(),
            step: step.max(1),
            buffer: Vec::new(),
            buffer_start: 0,
            next: 0,
            total: 0,
            pending: Vec::new(),
            local: Vec::new(),
            embeddings: Vec::new(),
            diarizer: self,
        }
    }

    /// Who speaks when in 16 kHz `samples`.
    pub fn diarize(
        &mut self,
        samples: &[f32],
        options: &DiarizeOptions,
    ) -> Result<Diarization, DiarizeError> {
        let mut stream = self.stream(options.step);
        stream.push(samples)?;
        stream.finish(options)
    }
}

/// A diarization in progress ([`Diarizer::stream`]).
#[derive(Debug)]
pub struct Stream<'a> {
    diarizer: &'a mut Diarizer,
    window: usize,
    step: usize,
    /// Samples from `buffer_start` on.
    buffer: Vec<f32>,
    buffer_start: usize,
    /// Where the next window starts.
    next: usize,
    /// Samples pushed.
    total: usize,
    /// Windows whose samples are in, waiting to be segmented together.
    pending: Vec<Vec<f32>>,
    /// The windows' local speakers so far.
    local: Vec<f32>,
    /// Their embeddings so far.
    embeddings: Vec<Option<Vec<f32>>>,
}

impl Stream<'_> {
    /// Takes the next 16 kHz samples of the recording.
    pub fn push(&mut self, samples: &[f32]) -> Result<(), ModelError> {
        self.buffer.extend_from_slice(samples);
        self.total += samples.len();
        while self.next + self.window <= self.total {
            let from = self.next - self.buffer_start;
            self.pending
                .push(self.buffer[from..from + self.window].to_vec());
            self.next += self.step;
            if self.pending.len() == BATCH {
                self.windows_done()?;
            }
        }
        let done = self.next.min(self.total) - self.buffer_start;
        self.buffer.drain(..done);
        self.buffer_start += done;
        Ok(())
    }

    /// Segments the pending windows in one run, then embeds their local speakers.
    fn windows_done(&mut self) -> Result<(), ModelError> {
        let pending = std::mem::take(&mut self.pending);
        let audio: Vec<&[f32]> = pending.iter().map(Vec::as_slice).collect();
        let scores = self.diarizer.segmentation.scores_of(&audio)?;
        let speakers = self.diarizer.segmentation.powerset().speakers();
        for (audio, scores) in audio.iter().zip(&scores) {
            let local = self.diarizer.local_speakers_of(scores);
            let embeddings =
                self.diarizer
                    .window_embeddings(audio, self.window, &local, speakers)?;
            self.local.extend(local);
            self.embeddings.extend(embeddings);
        }
        Ok(())
    }

    /// Seconds of audio pushed so far.
    pub fn seconds(&self) -> f64 {
        self.total as f64 / SAMPLE_RATE as f64
    }

    /// Who speaks when in everything pushed: the last window (padded with silence) where
    /// samples are left after the last whole one, then the speakers found over all windows.
    /// The stream is spent: push to a new one for the next recording.
    pub fn finish(&mut self, options: &DiarizeOptions) -> Result<Diarization, DiarizeError> {
        let whole = self.total >= self.window;
        if !whole || (self.total - self.window) % self.step > 0 {
            let from = self.next.min(self.total) - self.buffer_start;
            self.pending.push(self.buffer[from..].to_vec());
        }
        if !self.pending.is_empty() {
            self.windows_done()?;
        }
        // Each window has one embedding per local speaker.
        let frames = self.local.len() / self.embeddings.len().max(1);
        let segmentations =
            self.diarizer
                .windows(self.step, frames, std::mem::take(&mut self.local));
        after_embeddings(segmentations, &self.embeddings, options)
    }
}

/// The stages after the embeddings: the count, the clusters, each frame's speakers, the turns.
fn after_embeddings(
    segmentations: Windows,
    embeddings: &[Option<Vec<f32>>],
    options: &DiarizeOptions,
) -> Result<Diarization, DiarizeError> {
    let count = speaker_count(&segmentations, &Grid::SEGMENTATION_FRAMES, (0.0, 0.0));
    let speakers = segmentations.classes;
    let windows = segmentations.count();
    speaker_bounds(windows * speakers, &options.clusters)?;
    let max_speakers = options
        .clusters
        .speakers
        .or(options.clusters.max_speakers)
        .unwrap_or(usize::MAX);
    let clusters = if count.iter().all(|&c| c == 0) {
        vec![-2; windows * speakers]
    } else if max_speakers < 2 {
        silent_apart(&segmentations, vec![0; windows * speakers])
    } else {
        assign(embeddings, &segmentations, options)?
    };
    let count: Vec<u8> = count
        .iter()
        .map(|&c| usize::from(c).min(max_speakers) as u8)
        .collect();
    let frames = reconstruct(&segmentations, &clusters, &count);
    let turns = turns(&frames);
    Ok(Diarization {
        segmentations,
        count,
        clusters,
        frames,
        turns,
    })
}

/// For each of `to` frames, the nearest of `from` frames as torch's `interpolate(mode =
/// "nearest")` picks it (in single precision, as torch computes it).
fn nearest_frames(from: usize, to: usize) -> Vec<usize> {
    if from == to {
        return (0..to).collect();
    }
    let scale = from as f32 / to as f32;
    (0..to)
        .map(|j| ((j as f32 * scale).floor() as usize).min(from.saturating_sub(1)))
        .collect()
}

/// The feature rows whose nearest segmentation frame `keep` keeps.
fn select(
    features: &[f32],
    bins: usize,
    nearest: &[usize],
    keep: impl Fn(usize) -> bool,
) -> Vec<f32> {
    features
        .chunks_exact(bins)
        .zip(nearest)
        .filter(|(_, &f)| keep(f))
        .flat_map(|(row, _)| row.iter().copied())
        .collect()
}

/// `-2` for every local speaker silent in its window.
fn silent_apart(segmentations: &Windows, mut clusters: Vec<i32>) -> Vec<i32> {
    let (frames, speakers) = (segmentations.frames, segmentations.classes);
    for (k, window) in segmentations.data.chunks(frames * speakers).enumerate() {
        for s in 0..speakers {
            if (0..frames).all(|f| window[f * speakers + s] == 0.0) {
                clusters[k * speakers + s] = -2;
            }
        }
    }
    clusters
}

/// Each (window, local speaker)'s speaker, as pyannote's clustering and assignment find them:
/// the embeddings of local speakers who speak are clustered (at most [`MAX_CLUSTERED`] of
/// them); each speaker's centroid is the
/// mean of its embeddings; every local speaker goes to the centroid nearest in cosine
/// distance (one without an embedding to the first); silent ones get `-2`.
pub fn assign(
    embeddings: &[Option<Vec<f32>>],
    segmentations: &Windows,
    options: &DiarizeOptions,
) -> Result<Vec<i32>, ClusterError> {
    let silent = silent_apart(segmentations, vec![0; embeddings.len()]);
    let mut train: Vec<usize> = (0..embeddings.len())
        .filter(|&i| silent[i] != -2 && embeddings[i].is_some())
        .collect();
    if train.len() > MAX_CLUSTERED {
        // pyannote's own `max_num_embeddings`, spread evenly over the recording rather than
        // drawn at random: every embedding is still given to the nearest centroid below.
        train = (0..MAX_CLUSTERED)
            .map(|k| train[k * train.len() / MAX_CLUSTERED])
            .collect();
    }
    let as_f64 = |e: &[f32]| e.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let train_embeddings: Vec<Vec<f64>> = train
        .iter()
        .filter_map(|&i| embeddings[i].as_deref().map(as_f64))
        .collect();
    let (_, max, _) = speaker_bounds(train_embeddings.len(), &options.clusters)?;
    let clusters = if max < 2 {
        vec![0; embeddings.len()]
    } else {
        let found = pyannote_cluster(
            &train_embeddings,
            &options.clusters,
            options.min_cluster_size,
        )?;
        let count = found.iter().max().map_or(0, |m| m + 1);
        let centroids: Vec<Vec<f64>> = (0..count)
            .map(|k| {
                let members: Vec<&Vec<f64>> = train_embeddings
                    .iter()
                    .zip(&found)
                    .filter(|(_, &c)| c == k)
                    .map(|(e, _)| e)
                    .collect();
                let mut sum = vec![0.0; members.first().map_or(0, |m| m.len())];
                for member in &members {
                    for (s, v) in sum.iter_mut().zip(member.iter()) {
                        *s += v;
                    }
                }
                sum.iter()
                    .map(|s| s / members.len().max(1) as f64)
                    .collect()
            })
            .collect();
        embeddings
            .iter()
            .map(|embedding| match embedding {
                None => 0,
                Some(e) => {
                    let e = as_f64(e);
                    let mut best = (f64::NEG_INFINITY, 0);
                    for (k, centroid) in centroids.iter().enumerate() {
                        let score = 2.0 - crate::cluster::cosine_distance(&e, centroid);
                        if score > best.0 {
                            best = (score, k);
                        }
                    }
                    best.1 as i32
                }
            })
            .collect()
    };
    Ok(silent_apart(segmentations, clusters))
}

/// Each frame's speakers, as pyannote's `reconstruct` and `to_diarization` find them: every
/// window's local speakers replaced by their speakers, summed over the windows that cover a
/// frame, and in each frame the `count` speakers with the highest sums kept (the first one on
/// equal sums).
pub fn reconstruct(segmentations: &Windows, clusters: &[i32], count: &[u8]) -> Frames {
    let (frames, speakers) = (segmentations.frames, segmentations.classes);
    let found = clusters
        .iter()
        .max()
        .map_or(0, |&m| (m + 1).max(0) as usize);
    let mut data = vec![f32::NAN; segmentations.count() * frames * found];
    for (k, window) in segmentations.data.chunks(frames * speakers).enumerate() {
        for s in 0..speakers {
            let Ok(cluster) = usize::try_from(clusters[k * speakers + s]) else {
                continue;
            };
            for f in 0..frames {
                let cell = &mut data[(k * frames + f) * found + cluster];
                let value = window[f * speakers + s];
                *cell = if cell.is_nan() {
                    value
                } else {
                    cell.max(value)
                };
            }
        }
    }
    let clustered = Windows {
        chunks: segmentations.chunks,
        frames,
        classes: found,
        data,
    };
    let options = AggregateOptions {
        missing: 0.0,
        skip_average: true,
        ..AggregateOptions::default()
    };
    let (total, summed) = aggregate(&clustered, &Grid::SEGMENTATION_FRAMES, &options);
    let columns = found.max(count.iter().copied().max().map_or(0, usize::from));
    let rows = total.min(count.len());
    let mut binary = vec![0.0f32; rows * columns];
    for t in 0..rows {
        let row: Vec<f32> = (0..columns)
            .map(|c| {
                if c < found {
                    summed[t * found + c]
                } else {
                    0.0
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..columns).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for &speaker in order.iter().take(usize::from(count[t])) {
            binary[t * columns + speaker] = 1.0;
        }
    }
    Frames {
        grid: Grid {
            start: segmentations.chunks.start,
            ..Grid::SEGMENTATION_FRAMES
        },
        speakers: columns,
        data: binary,
    }
}

/// The turns of frame-by-frame speakers, as pyannote's `Binarize` (no padding, no minimum
/// length) reads them: a turn runs from the middle of its first frame to the middle of the
/// first frame after it (or of the last frame). Speaker after speaker, then by time.
pub fn turns(frames: &Frames) -> Vec<Turn> {
    let columns = frames.speakers;
    let rows = frames.data.len().checked_div(columns).unwrap_or(0);
    let middle = |i: usize| {
        let start = frames.grid.start + i as f64 * frames.grid.step;
        0.5 * (start + (start + frames.grid.duration))
    };
    let mut turns = Vec::new();
    for speaker in 0..columns {
        let active = |i: usize| frames.data[i * columns + speaker] > 0.5;
        let mut open: Option<f64> = None;
        for i in 0..rows {
            match (open, active(i)) {
                (None, true) => open = Some(middle(i)),
                (Some(start), false) => {
                    turns.push(Turn {
                        start,
                        end: middle(i),
                        speaker,
                    });
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(start) = open {
            turns.push(Turn {
                start,
                end: middle(rows - 1),
                speaker,
            });
        }
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_recordings_are_clustered_on_a_spread_and_every_embedding_assigned() {
        // 2,500 windows of one frame, three local speakers each, all speaking: 7,500
        // embeddings, from two voices far apart (local speaker 1 is the second voice).
        let windows = 2_500;
        let segmentations = Windows {
            chunks: Grid {
                start: 0.0,
                duration: 10.0,
                step: 1.0,
            },
            frames: 1,
            classes: 3,
            data: vec![1.0; windows * 3],
        };
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.2 - 0.1
        };
        let embeddings: Vec<Option<Vec<f32>>> = (0..windows * 3)
            .map(|i| {
                let voice = usize::from(i % 3 == 1);
                Some(
                    (0..8)
                        .map(|d| f32::from(u8::from(d % 2 == voice)) + noise())
                        .collect(),
                )
            })
            .collect();
        assert!(embeddings.len() > MAX_CLUSTERED);
        let clusters = assign(&embeddings, &segmentations, &DiarizeOptions::default()).unwrap();
        let first: Vec<i32> = (0..3).map(|s| clusters[s]).collect();
        assert_ne!(first[0], first[1]);
        for (i, &c) in clusters.iter().enumerate() {
            assert_eq!(c, first[i % 3], "embedding {i}");
        }
    }

    #[test]
    fn nearest_frames_are_torchs() {
        // torch.nn.functional.interpolate(torch.arange(589.).view(1, 1, -1), 998).
        let nearest = nearest_frames(589, 998);
        assert_eq!(&nearest[..6], [0, 0, 1, 1, 2, 2]);
        assert_eq!(nearest[997], 588);
        assert_eq!(nearest_frames(4, 4), [0, 1, 2, 3]);
    }

    #[test]
    fn turns_run_from_middle_to_middle() {
        let frames = Frames {
            grid: Grid {
                start: 0.0,
                duration: 2.0,
                step: 1.0,
            },
            speakers: 2,
            data: vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        };
        let turns = turns(&frames);
        let spans: Vec<(f64, f64, usize)> =
            turns.iter().map(|t| (t.start, t.end, t.speaker)).collect();
        assert_eq!(spans, [(1.0, 3.0, 0), (2.0, 4.0, 1)]);
    }
}
