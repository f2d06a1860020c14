//! Drops the phrases Whisper is known to invent in Russian over silence and noise: credits and
//! sign-offs from the subtitled videos it was trained on. A segment goes only when it consists of
//! nothing but such phrases, so real speech that happens to contain the words survives.

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
}
