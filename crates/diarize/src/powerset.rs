//! The segmentation model's "powerset" output read as speakers: pyannote's segmentation-3.0
//! scores, for every frame, each set of at most two of its three local speakers (nobody, one
//! of them, or two at once: seven classes), and the likeliest set says who speaks.

/// The sets a powerset model scores, in its order: by size, then in lexicographic order of
/// the speakers (for three speakers and two at most: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Powerset {
    speakers: usize,
    sets: Vec<Vec<usize>>,
}

impl Powerset {
    /// The powerset of `speakers` speakers, at most `max_together` speaking at once.
    pub fn new(speakers: usize, max_together: usize) -> Self {
        let mut sets = Vec::new();
        for size in 0..=max_together.min(speakers) {
            combinations(speakers, size, &mut Vec::new(), 0, &mut sets);
        }
        Self { speakers, sets }
    }

    /// segmentation-3.0's: three speakers, two at most at once.
    pub fn segmentation_3() -> Self {
        Self::new(3, 2)
    }

    /// Classes the model scores per frame.
    pub fn classes(&self) -> usize {
        self.sets.len()
    }

    /// Local speakers per frame.
    pub fn speakers(&self) -> usize {
        self.speakers
    }

    /// The speakers of class `class`.
    pub fn set(&self, class: usize) -> &[usize] {
        &self.sets[class]
    }

    /// Who speaks in each frame of `scores` (frames of [`Self::classes`] scores each, row after
    /// row): the likeliest class's speakers, as 0/1 per speaker (the first of equal scores
    /// wins, as `argmax` does).
    pub fn hard(&self, scores: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(scores.len() / self.classes() * self.speakers);
        for frame in scores.chunks_exact(self.classes()) {
            let best = frame
                .iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > frame[best] { i } else { best });
            let mut row = vec![0u8; self.speakers];
            for &s in &self.sets[best] {
                row[s] = 1;
            }
            out.extend(row);
        }
        out
    }

    /// Each speaker's probability of speaking in each frame, from log-probabilities (the
    /// model's log-softmax output): the sum of the probabilities of the sets that hold them.
    pub fn soft(&self, log_probabilities: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(log_probabilities.len() / self.classes() * self.speakers);
        for frame in log_probabilities.chunks_exact(self.classes()) {
            let mut row = vec![0.0f32; self.speakers];
            for (set, &logp) in self.sets.iter().zip(frame) {
                for &s in set {
                    row[s] += logp.exp();
                }
            }
            out.extend(row);
        }
        out
    }
}

fn combinations(
    n: usize,
    k: usize,
    current: &mut Vec<usize>,
    from: usize,
    out: &mut Vec<Vec<usize>>,
) {
    if current.len() == k {
        out.push(current.clone());
        return;
    }
    for i in from..n {
        current.push(i);
        combinations(n, k, current, i + 1, out);
        current.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_3_scores_seven_sets_in_pyannotes_order() {
        let p = Powerset::segmentation_3();
        assert_eq!(p.classes(), 7);
        let sets: Vec<&[usize]> = (0..7).map(|c| p.set(c)).collect();
        assert_eq!(sets, [&[][..], &[0], &[1], &[2], &[0, 1], &[0, 2], &[1, 2]]);
        assert_eq!(Powerset::new(4, 3).classes(), 1 + 4 + 6 + 4);
    }

    #[test]
    fn the_likeliest_set_says_who_speaks() {
        let p = Powerset::segmentation_3();
        let scores = [
            0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, // nobody
            0.0, 0.0, 0.8, 0.1, 0.0, 0.0, 0.0, // speaker 1
            0.0, 0.0, 0.1, 0.0, 0.0, 0.7, 0.0, // speakers 0 and 2
            0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, // a tie: the first wins
        ];
        assert_eq!(p.hard(&scores), [0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0]);
        let logp: Vec<f32> = [0.1f32, 0.2, 0.1, 0.1, 0.3, 0.1, 0.1]
            .iter()
            .map(|p| p.ln())
            .collect();
        let soft = p.soft(&logp);
        let expected = [0.2 + 0.3 + 0.1, 0.1 + 0.3 + 0.1, 0.1 + 0.1 + 0.1];
        for (got, want) in soft.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{soft:?}");
        }
    }
}
