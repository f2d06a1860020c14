//! Drops the phrases Whisper is known to invent in Russian over silence and noise: credits and
//! sign-offs from the subtitled videos it was trained on. A segment goes only when it consists of
//! nothing but such phrases, so real speech that happens to contain the words survives. Also
//! cuts decoding loops: the same words over and over until the token limit.

/// Known hallucinations, normalised (lowercase, letters and digits only, single spaces).
const RUSSIAN_HALLUCINATIONS: &[&str] = &[
    "субтитры сделал dimatorzok",
    "субтитры делал dimatorzok",
    "субтитры создавал dimatorzok",
    "субтитры подготовлены dimatorzok",
    "dimatorzok",
    "продолжение следует",
    "редактор субтитров а семкин корректор а егорова",
    "редактор субтитров а семкин",
    "корректор а егорова",
    "спасибо за просмотр",
    "спасибо за внимание",
    "подписывайтесь на канал",
    "ставьте лайки и подписывайтесь на канал",
    "субтитры создавал игорь негода",
    "субтитры подогнал симон",
];

/// Lowercases and keeps only letters and digits, separated by single spaces.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out.replace('ё', "е")
}

/// True when `text` is made only of known Russian hallucinations (one or several in a row).
pub fn is_hallucination(text: &str) -> bool {
    let mut rest = normalise(text);
    if rest.is_empty() {
        return false;
    }
    // Remove known phrases, longest first, until nothing changes.
    let mut phrases: Vec<&str> = RUSSIAN_HALLUCINATIONS.to_vec();
    phrases.sort_by_key(|p| std::cmp::Reverse(p.len()));
    loop {
        let before = rest.len();
        for phrase in &phrases {
            rest = rest.replace(phrase, " ");
        }
        rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        if rest.is_empty() {
            return true;
        }
        if rest.len() == before {
            return false;
        }
    }
}

/// A loop is a run of at least this many copies of the same words at the end of a text...
const LOOP_COPIES: usize = 4;
/// ...covering at least this many words (so that «да, да, да» stays).
const LOOP_WORDS: usize = 8;
/// The longest phrase a loop repeats, in words.
const LOOP_PERIOD: usize = 8;

/// Where a decoding loop at the end of `text` begins to repeat itself: the text with the loop
/// cut to its first copy, and how many words were cut; `None` when the text does not end in
/// one. Words are compared lowercased, letters and digits only (case and punctuation aside).
pub fn cut_loop(text: &str) -> Option<(String, usize)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let keys: Vec<String> = words.iter().map(|w| normalise(w)).collect();
    let n = keys.len();
    let mut best: Option<(usize, usize)> = None; // (words kept, words cut)
    for period in 1..=LOOP_PERIOD.min(n / LOOP_COPIES) {
        let tail = &keys[n - period..];
        if tail.iter().all(String::is_empty) {
            continue;
        }
        let mut copies = 1;
        while copies * period + period <= n {
            let start = n - (copies + 1) * period;
            if keys[start..start + period] != *tail {
                break;
            }
            copies += 1;
        }
        if copies >= LOOP_COPIES && copies * period >= LOOP_WORDS {
            let kept = n - (copies - 1) * period;
            if best.is_none_or(|(k, _)| kept < k) {
                best = Some((kept, n - kept));
            }
        }
    }
    best.map(|(kept, cut)| (words[..kept].join(" "), cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_phrases_are_caught_in_any_spelling() {
        assert!(is_hallucination("Субтитры сделал DimaTorzok"));
        assert!(is_hallucination("Продолжение следует..."));
        assert!(is_hallucination(
            "Редактор субтитров А.Семкин Корректор А.Егорова"
        ));
        assert!(is_hallucination("Спасибо за просмотр!"));
        assert!(is_hallucination(
            " Спасибо за просмотр! Продолжение следует... "
        ));
    }

    #[test]
    fn real_speech_survives() {
        assert!(!is_hallucination(
            "Спасибо за просмотр отчёта, перейдём к цифрам"
        ));
        assert!(!is_hallucination("Продолжение следует после перерыва"));
        assert!(!is_hallucination("Привет"));
        assert!(!is_hallucination(""));
        assert!(!is_hallucination("..."));
    }

    #[test]
    fn loops_are_cut_to_one_copy_and_speech_stays() {
        let looped = format!("Ну и вот, {}", "привет ".repeat(60));
        assert_eq!(cut_loop(&looped), Some(("Ну и вот, привет".to_owned(), 59)));
        let phrase = "как дела? Как дела, как дела. как дела как дела";
        assert_eq!(cut_loop(phrase), Some(("как дела?".to_owned(), 8)));
        for speech in [
            "да, да, да",
            "Мы шли, шли, шли и пришли.",
            "",
            "один два три четыре пять шесть семь восемь",
            "- - - - - - - - - -",
        ] {
            assert_eq!(cut_loop(speech), None, "{speech}");
        }
    }
}
