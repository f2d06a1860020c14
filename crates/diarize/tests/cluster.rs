//! rech-diarize's clustering against scipy (the pinned wheel in the test environment) on the
//! same embeddings: the same dendrogram (merges, distances within 1e-9, sizes), the same groups
//! at every threshold, and the same groups when a number of speakers is fixed. The embeddings
//! are voices scattered around a few centres, from a fixed seed, so that real inversions of
//! centroid linkage occur.

use std::path::Path;

use rech_diarize::cluster::{after_merges, centroid_linkage, cut, unit};
use rech_testkit::{json_numbers, needs, python_reference};

/// `speakers` centres in `dim` dimensions and `per` noisy embeddings of each, interleaved.
fn voices(seed: u64, speakers: usize, per: usize, dim: usize, noise: f32) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        // xorshift64*, mapped to [-1, 1).
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let bits = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..speakers)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    let mut out = Vec::new();
    for _ in 0..per {
        for c in &centres {
            out.push(c.iter().map(|v| v + noise * next()).collect());
        }
    }
    out
}

fn scipy(embeddings: &[Vec<f32>], thresholds: &[f64], counts: &[usize]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scipy_cluster.py");
    let request = serde_json::json!({
        "embeddings": embeddings, "thresholds": thresholds, "counts": counts,
    });
    python_reference(&script, &[], &request)
}

fn labels(value: &serde_json::Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

#[needs(venv)]
#[test]
fn dendrograms_and_groups_equal_scipys() {
    let thresholds = [0.2, 0.5, 0.7, 0.9, 1.2, 1.6];
    let counts = [1, 2, 3, 5, 8];
    let mut inversions = 0;
    for (seed, speakers, per, dim, noise) in [
        (1, 3, 12, 16, 0.3),
        (2, 5, 10, 64, 0.6),
        (3, 2, 40, 256, 0.9),
        (4, 8, 6, 32, 1.5),
    ] {
        let embeddings = voices(seed, speakers, per, dim, noise);
        let n = embeddings.len();
        let points: Vec<Vec<f64>> = embeddings.iter().map(|e| unit(e)).collect();
        let ours = centroid_linkage(&points);
        let theirs = scipy(&embeddings, &thresholds, &counts);
        let merges = theirs["merges"].as_array().unwrap();
        assert_eq!(ours.len(), merges.len(), "seed {seed}");
        for (step, (m, row)) in ours.iter().zip(merges).enumerate() {
            let row = json_numbers(row);
            assert_eq!(
                (m.a, m.b, m.size),
                (row[0] as usize, row[1] as usize, row[3] as usize),
                "seed {seed}, step {step}"
            );
            assert!(
                (m.distance - row[2]).abs() < 1e-9,
                "seed {seed}, step {step}: {} against {}",
                m.distance,
                row[2]
            );
        }
        inversions += ours
            .windows(2)
            .filter(|w| w[1].distance < w[0].distance)
            .count();
        for (t, expected) in thresholds.iter().zip(theirs["cuts"].as_array().unwrap()) {
            assert_eq!(
                cut(&ours, n, *t),
                labels(expected),
                "seed {seed}, threshold {t}"
            );
        }
        for (k, expected) in counts.iter().zip(theirs["fixed"].as_array().unwrap()) {
            assert_eq!(
                after_merges(&ours, n, n - k),
                labels(expected),
                "seed {seed}, {k} speakers"
            );
        }
    }
    assert!(
        inversions > 0,
        "no inversion of centroid linkage was exercised"
    );
}
