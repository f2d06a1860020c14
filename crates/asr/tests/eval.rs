//! Word and character error rates against jiwer (pinned in the test environment) on the same
//! normalised texts: the shared recordings' references, and hypotheses made from them by
//! known edits (words replaced, dropped, added) from a fixed seed, scored pair by pair and all
//! together. The rates must be equal to the last digit.

use rech_asr::eval::{char_errors, normalize, word_errors, ErrorCounts};
use rech_testkit::{jiwer, needs, shared_dir};

/// `reference` with about a third of its words edited: replaced, dropped or joined by another.
fn edited(reference: &str, seed: &mut u64) -> String {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed % 100
    };
    let mut out = Vec::new();
    for word in reference.split_whitespace() {
        match next() {
            0..=9 => out.push("шум".to_owned()),
            10..=19 => {}
            20..=29 => {
                out.push(word.to_owned());
                out.push("э".to_owned());
            }
            30..=34 => out.push(word.chars().rev().collect()),
            _ => out.push(word.to_owned()),
        }
    }
    out.join(" ")
}

fn check(ours: &ErrorCounts, theirs: &serde_json::Value, what: &str) {
    // Sent as text: Rust's own parsing reads it back to the same double.
    let rate: f64 = theirs["rate"].as_str().unwrap().parse().unwrap();
    assert_eq!(ours.rate(), rate, "{what}: rate");
    let counted = (
        ours.hits,
        ours.substitutions,
        ours.deletions,
        ours.insertions,
    );
    let reference = |key: &str| theirs[key].as_u64().unwrap() as usize;
    assert_eq!(
        counted,
        (
            reference("hits"),
            reference("substitutions"),
            reference("deletions"),
            reference("insertions")
        ),
        "{what}: counts"
    );
}

#[needs(shared, venv)]
#[test]
fn rates_equal_jiwers_to_the_last_digit() {
    let manifest =
        std::fs::read_to_string(shared_dir().join("audio/ru/manifest.tsv")).expect("manifest");
    let mut seed = 0x2026_1206_u64;
    let pairs: Vec<(String, String)> = manifest
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').nth(1))
        .flat_map(|reference| {
            let reference = normalize(reference);
            // Three edited copies of each, and the reference itself.
            let mut copies: Vec<(String, String)> = (0..3)
                .map(|_| (reference.clone(), edited(&reference, &mut seed)))
                .collect();
            copies.push((reference.clone(), reference));
            copies
        })
        .collect();
    assert!(pairs.len() >= 80);
    let theirs = jiwer(&pairs);
    let mut words = ErrorCounts::default();
    let mut chars = ErrorCounts::default();
    for (i, (reference, hypothesis)) in pairs.iter().enumerate() {
        let w = word_errors(reference, hypothesis);
        let c = char_errors(reference, hypothesis);
        let what = format!("{reference:?} against {hypothesis:?}");
        check(
            &w,
            &theirs["pairs"][i]["words"],
            &format!("words of {what}"),
        );
        check(
            &c,
            &theirs["pairs"][i]["chars"],
            &format!("characters of {what}"),
        );
        words.add(&w);
        chars.add(&c);
    }
    check(&words, &theirs["words"], "all words");
    check(&chars, &theirs["chars"], "all characters");
    assert!(words.rate() > 0.1 && words.rate() < 0.6, "{}", words.rate());
}
