//! Speakers from speaker embeddings: agglomerative clustering with centroid linkage over
//! unit-length embeddings (the distance between two groups is the Euclidean distance between
//! their mean embeddings), cut where merging would join groups farther apart than a threshold,
//! or at a number of speakers given or bounded by the caller. It is scipy's
//! `linkage(method="centroid")` and `fcluster(criterion="distance")`, which pyannote's
//! agglomerative clustering builds on; `tests/cluster.rs` holds it to scipy.

/// One merge of the dendrogram, as scipy's linkage matrix writes it: groups `a` and `b` (an
/// embedding's index below `n`, else `n + step` for the group made at that step) joined at
/// `distance`, giving a group of `size` embeddings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merge {
    /// The first group.
    pub a: usize,
    /// The second group.
    pub b: usize,
    /// The distance between their centroids.
    pub distance: f64,
    /// Embeddings in the merged group.
    pub size: usize,
}

/// How many speakers to find.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterOptions {
    /// Groups farther apart than this (Euclidean, between unit-length centroids: 0 to 2) are
    /// different speakers.
    pub threshold: f64,
    /// Exactly this many speakers, when known.
    pub speakers: Option<usize>,
    /// At least this many speakers.
    pub min_speakers: Option<usize>,
    /// At most this many speakers.
    pub max_speakers: Option<usize>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            threshold: 0.7,
            speakers: None,
            min_speakers: None,
            max_speakers: None,
        }
    }
}

/// Why embeddings could not be clustered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// The bounds on the number of speakers contradict each other.
    #[error("at least {min} and at most {max} speakers cannot both hold")]
    Bounds {
        /// The lower bound.
        min: usize,
        /// The upper bound.
        max: usize,
    },
    /// Embeddings of different lengths, or with a value that is not finite.
    #[error("embedding {index} is not like the others (length or a value that is not finite)")]
    BadEmbedding {
        /// Its index.
        index: usize,
    },
}

/// `embedding` scaled to unit length (left as it is when it is all zeros).
pub fn unit(embedding: &[f32]) -> Vec<f64> {
    let norm = embedding
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 1.0 };
    embedding.iter().map(|&v| f64::from(v) * scale).collect()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// The dendrogram of `points` under centroid linkage: `points.len() − 1` merges in order.
/// Each step joins the two nearest groups. Every group keeps its nearest neighbour; a merge
/// measures the merged group against every other (one pass), and a group whose neighbour was
/// merged keeps its old distance as a lower bound and finds its new neighbour only when that
/// bound comes up as the smallest (Müllner's generic algorithm): a chain of groups that all
/// had one neighbour no longer costs a pass each, which made ten thousand embeddings take
/// hours.
pub fn centroid_linkage(points: &[Vec<f64>]) -> Vec<Merge> {
    let n = points.len();
    let mut centroid: Vec<Vec<f64>> = points.to_vec();
    let mut size = vec![1usize; n];
    // Scipy's id of the group in each slot.
    let mut id: Vec<usize> = (0..n).collect();
    let mut active = vec![true; n];
    let nearest_of = |slot: usize, centroid: &[Vec<f64>], active: &[bool]| {
        let mut best = (f64::INFINITY, usize::MAX);
        for other in 0..centroid.len() {
            if other != slot && active[other] {
                let d = distance(&centroid[slot], &centroid[other]);
                if d < best.0 {
                    best = (d, other);
                }
            }
        }
        best
    };
    let mut nearest: Vec<(f64, usize)> =
        (0..n).map(|s| nearest_of(s, &centroid, &active)).collect();
    // Whether a slot's distance is only a lower bound (its neighbour was merged away).
    let mut stale = vec![false; n];
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    for step in 0..n.saturating_sub(1) {
        let i = loop {
            let Some(i) = (0..n)
                .filter(|&s| active[s])
                .min_by(|&x, &y| nearest[x].0.total_cmp(&nearest[y].0))
            else {
                return merges;
            };
            if !stale[i] {
                break i;
            }
            nearest[i] = nearest_of(i, &centroid, &active);
            stale[i] = false;
        };
        let (d, j) = nearest[i];
        let (lo, hi) = (i.min(j), i.max(j));
        let (a, b) = (id[lo].min(id[hi]), id[lo].max(id[hi]));
        let merged = size[lo] + size[hi];
        let (wl, wh) = (size[lo] as f64, size[hi] as f64);
        let joined: Vec<f64> = centroid[lo]
            .iter()
            .zip(&centroid[hi])
            .map(|(x, y)| (wl * x + wh * y) / (wl + wh))
            .collect();
        centroid[lo] = joined;
        size[lo] = merged;
        id[lo] = n + step;
        active[hi] = false;
        merges.push(Merge {
            a,
            b,
            distance: d,
            size: merged,
        });
        // The merged group's neighbour; every group's distance to it; and a group whose
        // neighbour was one of the two keeps its old distance as a lower bound (no other
        // group moved) unless the merged group is nearer still.
        nearest[lo] = nearest_of(lo, &centroid, &active);
        stale[lo] = false;
        for other in 0..n {
            if other == lo || !active[other] {
                continue;
            }
            let to_merged = distance(&centroid[other], &centroid[lo]);
            if to_merged < nearest[other].0 {
                nearest[other] = (to_merged, lo);
                stale[other] = false;
            } else if nearest[other].1 == lo || nearest[other].1 == hi {
                stale[other] = true;
            }
        }
    }
    merges
}

/// The flat groups of a dendrogram over `n` embeddings cut at `threshold`: each embedding's
/// group, numbered from 0 in the order groups first appear. Two embeddings share a group when
/// the largest merge distance on the way to their common ancestor is at most `threshold`
/// (scipy's `fcluster(criterion="distance")`; with centroid linkage a later merge can be
/// nearer than an earlier one, and then joins what the earlier one joined).
pub fn cut(merges: &[Merge], n: usize, threshold: f64) -> Vec<usize> {
    let mut max_inside = vec![0.0f64; n + merges.len()];
    for (step, m) in merges.iter().enumerate() {
        max_inside[n + step] = m.distance.max(max_inside[m.a]).max(max_inside[m.b]);
    }
    groups(merges, n, |step| max_inside[n + step] <= threshold)
}

/// The groups left after the first `steps` merges of the dendrogram: exactly `n − steps` of
/// them, numbered as [`cut`] numbers them.
pub fn after_merges(merges: &[Merge], n: usize, steps: usize) -> Vec<usize> {
    groups(merges, n, |step| step < steps)
}

/// The groups made by the merges `apply` keeps.
fn groups(merges: &[Merge], n: usize, apply: impl Fn(usize) -> bool) -> Vec<usize> {
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut parent: Vec<usize> = (0..n).collect();
    // An embedding of each group made, to find its set.
    let mut member: Vec<usize> = (0..n).collect();
    for (step, m) in merges.iter().enumerate() {
        member.push(member[m.a]);
        if apply(step) {
            let (ra, rb) = (
                root(&mut parent, member[m.a]),
                root(&mut parent, member[m.b]),
            );
            parent[rb] = ra;
        }
    }
    let mut label_of_root = std::collections::HashMap::new();
    (0..n)
        .map(|i| {
            let r = root(&mut parent, i);
            let next = label_of_root.len();
            *label_of_root.entry(r).or_insert(next)
        })
        .collect()
}

/// Each embedding's speaker, numbered from 0 in order of first appearance: centroid linkage
/// over the unit-length embeddings, cut at the threshold; where that gives a number of
/// speakers the options fix or exclude, the groups left when the number wanted remain.
pub fn cluster(
    embeddings: &[Vec<f32>],
    options: &ClusterOptions,
) -> Result<Vec<usize>, ClusterError> {
    let n = embeddings.len();
    if let Some(index) = embeddings
        .iter()
        .position(|e| e.len() != embeddings[0].len() || e.iter().any(|v| !v.is_finite()))
    {
        return Err(ClusterError::BadEmbedding { index });
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let clamp = |k: usize| k.clamp(1, n);
    let min = clamp(options.speakers.or(options.min_speakers).unwrap_or(1));
    let max = clamp(options.speakers.or(options.max_speakers).unwrap_or(n));
    if let (Some(lo), Some(hi)) = (options.min_speakers, options.max_speakers) {
        if lo > hi {
            return Err(ClusterError::Bounds { min: lo, max: hi });
        }
    }
    let points: Vec<Vec<f64>> = embeddings.iter().map(|e| unit(e)).collect();
    let merges = centroid_linkage(&points);
    let by_threshold = cut(&merges, n, options.threshold);
    let found = by_threshold.iter().max().map_or(0, |m| m + 1);
    let wanted = found.clamp(min, max.max(min));
    Ok(if wanted == found {
        by_threshold
    } else {
        // Outside the bounds: the groups agglomeration leaves when that many remain.
        after_merges(&merges, n, n - wanted)
    })
}

/// Flat groups of a dendrogram over `n` embeddings, numbered as scipy's `fcluster` numbers
/// them: a walk from the root, first group before second, gives each group its number when it
/// first meets it. `whole(step)` says whether the group made at that merge is kept whole
/// (everything below it is then one group).
fn flat(merges: &[Merge], n: usize, whole: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut labels = vec![0usize; n];
    if n == 0 {
        return labels;
    }
    // Whether each merge's group and everything below it are kept whole.
    let mut kept = vec![false; merges.len()];
    for (step, merge) in merges.iter().enumerate() {
        let below = |id: usize| id < n || kept[id - n];
        kept[step] = whole(step) && below(merge.a) && below(merge.b);
    }
    let mut next = 0;
    let mut stack = vec![n + merges.len().saturating_sub(1)];
    if merges.is_empty() {
        stack = vec![0];
    }
    while let Some(id) = stack.pop() {
        if id < n || kept[id - n] {
            let mut leaves = vec![id];
            while let Some(node) = leaves.pop() {
                if node < n {
                    labels[node] = next;
                } else {
                    leaves.extend([merges[node - n].a, merges[node - n].b]);
                }
            }
            next += 1;
        } else {
            // The first group is walked first: pushed last.
            stack.push(merges[id - n].b);
            stack.push(merges[id - n].a);
        }
    }
    labels
}

/// scipy's `fcluster(criterion="distance")`, numbered as scipy numbers (from 0): groups whose
/// merges all lie at or below `threshold`.
pub fn fcluster(merges: &[Merge], n: usize, threshold: f64) -> Vec<usize> {
    flat(merges, n, |step| merges[step].distance <= threshold)
}

/// The smallest cluster pyannote keeps as a speaker of its own (speaker-diarization-3.1).
pub const MIN_CLUSTER_SIZE: usize = 12;

/// pyannote's threshold for speaker-diarization-3.1 (its `config.yaml`).
pub const PYANNOTE_THRESHOLD: f64 = 0.7045654963945799;

/// How many speakers `n` embeddings may make, as pyannote's `set_num_clusters` reads the
/// bounds: (at least, at most, exactly when both agree).
pub fn speaker_bounds(
    n: usize,
    options: &ClusterOptions,
) -> Result<(usize, usize, Option<usize>), ClusterError> {
    let clamp = |k: usize| k.min(n).max(1);
    let min = clamp(options.speakers.or(options.min_speakers).unwrap_or(1));
    let max = clamp(options.speakers.or(options.max_speakers).unwrap_or(n));
    if min > max {
        return Err(ClusterError::Bounds { min, max });
    }
    Ok((
        min,
        max,
        if min == max {
            Some(min)
        } else {
            options.speakers
        },
    ))
}

fn mean(points: &[&[f64]]) -> Vec<f64> {
    let mut sum = vec![0.0; points.first().map_or(0, |p| p.len())];
    for point in points {
        for (s, v) in sum.iter_mut().zip(point.iter()) {
            *s += v;
        }
    }
    sum.iter().map(|s| s / points.len() as f64).collect()
}

/// scipy's cosine distance: `1 − u·v / (|u| |v|)`.
pub fn cosine_distance(u: &[f64], v: &[f64]) -> f64 {
    let dot: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
    let uu: f64 = u.iter().map(|a| a * a).sum();
    let vv: f64 = v.iter().map(|a| a * a).sum();
    1.0 - dot / (uu.sqrt() * vv.sqrt())
}

/// Each embedding's speaker as pyannote's `AgglomerativeClustering.cluster` finds it (centroid
/// linkage over unit-length embeddings, cut at the threshold): groups of fewer than
/// `min_cluster_size` embeddings (at most a tenth of them) are given to the nearest larger
/// group; where the larger groups are more or fewer than the bounds allow, the cut is moved
/// along the dendrogram, nearest the threshold first, until they fit (or as near as it
/// gets). Speakers are numbered from 0 in scipy's order.
pub fn pyannote_cluster(
    embeddings: &[Vec<f64>],
    options: &ClusterOptions,
    min_cluster_size: usize,
) -> Result<Vec<usize>, ClusterError> {
    let n = embeddings.len();
    let (min, max, exactly) = speaker_bounds(n, options)?;
    let min_cluster_size =
        min_cluster_size.min(((0.1 * n as f64).round_ties_even() as usize).max(1));
    if n <= 1 {
        return Ok(vec![0; n]);
    }
    let points: Vec<Vec<f64>> = embeddings
        .iter()
        .map(|e| {
            let norm = e.iter().map(|v| v * v).sum::<f64>().sqrt();
            e.iter().map(|v| v / norm).collect()
        })
        .collect();
    let merges = centroid_linkage(&points);
    let large_of = |clusters: &[usize]| {
        let mut counts = vec![0usize; clusters.iter().max().map_or(0, |m| m + 1)];
        for &c in clusters {
            counts[c] += 1;
        }
        counts
    };
    let mut clusters = fcluster(&merges, n, options.threshold);
    let mut counts = large_of(&clusters);
    let large = |counts: &[usize]| counts.iter().filter(|&&c| c >= min_cluster_size).count();
    let found = large(&counts);
    let wanted = if found < min {
        Some(min)
    } else if found > max {
        Some(max)
    } else {
        exactly
    };
    if let Some(wanted) = wanted.filter(|&w| w != found) {
        // Cut after a number of merges instead, the cuts whose merge distance is nearest the
        // threshold first.
        let mut order: Vec<usize> = (0..merges.len()).collect();
        order.sort_by(|&x, &y| {
            (merges[x].distance - options.threshold)
                .abs()
                .total_cmp(&(merges[y].distance - options.threshold).abs())
        });
        let after = |step: usize| flat(&merges, n, |s| s <= step);
        let (mut best_step, mut best) = (n - 1, 1usize);
        for step in order {
            if merges[step].size < min_cluster_size {
                continue;
            }
            clusters = after(step);
            counts = large_of(&clusters);
            let found = large(&counts);
            if found.abs_diff(wanted) < best.abs_diff(wanted) {
                (best_step, best) = (step, found);
            }
            if found == wanted {
                break;
            }
        }
        if best != wanted {
            clusters = after(best_step);
            counts = large_of(&clusters);
        }
    }
    if large(&counts) == 0 {
        return Ok(vec![0; n]);
    }
    let members = |k: usize| -> Vec<&[f64]> {
        (0..n)
            .filter(|&i| clusters[i] == k)
            .map(|i| points[i].as_slice())
            .collect()
    };
    let (large_ids, small_ids): (Vec<usize>, Vec<usize>) =
        (0..counts.len()).partition(|&k| counts[k] >= min_cluster_size);
    if small_ids.is_empty() {
        return Ok(clusters);
    }
    let large_centroids: Vec<Vec<f64>> = large_ids.iter().map(|&k| mean(&members(k))).collect();
    let mut moved = clusters.clone();
    for &small in &small_ids {
        let centroid = mean(&members(small));
        let mut nearest = (f64::INFINITY, 0);
        for (i, large) in large_centroids.iter().enumerate() {
            let d = cosine_distance(large, &centroid);
            if d < nearest.0 {
                nearest = (d, i);
            }
        }
        for (m, &c) in moved.iter_mut().zip(&clusters) {
            if c == small {
                *m = large_ids[nearest.1];
            }
        }
    }
    // Numbered again from 0, in the order of the numbers left (numpy's `unique`).
    let mut left: Vec<usize> = moved.clone();
    left.sort_unstable();
    left.dedup();
    Ok(moved
        .iter()
        .map(|c| left.binary_search(c).unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` points around each of `centres`, `spread` apart.
    fn blobs(centres: &[[f32; 3]], count: usize, spread: f32) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for i in 0..count {
            for c in centres {
                let wobble = spread * ((i as f32 * 1.7).sin());
                out.push(vec![c[0] + wobble, c[1] - wobble, c[2] + wobble * 0.5]);
            }
        }
        out
    }

    #[test]
    fn separate_voices_become_separate_speakers() {
        let points = blobs(
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            5,
            0.05,
        );
        let labels = cluster(&points, &ClusterOptions::default()).unwrap();
        assert_eq!(&labels[..3], [0, 1, 2]);
        for (i, l) in labels.iter().enumerate() {
            assert_eq!(*l, i % 3);
        }
    }

    #[test]
    fn the_number_of_speakers_can_be_fixed_or_bounded() {
        let points = blobs(
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            4,
            0.05,
        );
        let count = |options: ClusterOptions| {
            let labels = cluster(&points, &options).unwrap();
            labels.iter().max().map_or(0, |m| m + 1)
        };
        let with = |speakers, min, max| ClusterOptions {
            speakers,
            min_speakers: min,
            max_speakers: max,
            ..ClusterOptions::default()
        };
        assert_eq!(count(with(Some(2), None, None)), 2);
        assert_eq!(count(with(Some(5), None, None)), 5);
        assert_eq!(count(with(None, None, Some(2))), 2);
        assert_eq!(count(with(None, Some(4), None)), 4);
        assert_eq!(count(with(Some(100), None, None)), points.len());
        assert_eq!(
            cluster(&points, &with(None, Some(3), Some(2))),
            Err(ClusterError::Bounds { min: 3, max: 2 })
        );
        assert_eq!(cluster(&[], &ClusterOptions::default()), Ok(vec![]));
        assert_eq!(
            cluster(
                &[vec![1.0, 0.0], vec![f32::NAN, 0.0]],
                &ClusterOptions::default()
            ),
            Err(ClusterError::BadEmbedding { index: 1 })
        );
    }
}
