//! How close a transcript is to a reference: Russian text normalised so that spelling choices
//! are not counted as errors (case, «ё», punctuation, digits against words), and word and
//! character error rates from the fewest edits, as jiwer counts them.

/// Cardinal numbers' words, nominative masculine.
const UNITS: [&str; 20] = [
    "ноль",
    "один",
    "два",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
    "десять",
    "одиннадцать",
    "двенадцать",
    "тринадцать",
    "четырнадцать",
    "пятнадцать",
    "шестнадцать",
    "семнадцать",
    "восемнадцать",
    "девятнадцать",
];
const TENS: [&str; 10] = [
    "",
    "",
    "двадцать",
    "тридцать",
    "сорок",
    "пятьдесят",
    "шестьдесят",
    "семьдесят",
    "восемьдесят",
    "девяносто",
];
const HUNDREDS: [&str; 10] = [
    "",
    "сто",
    "двести",
    "триста",
    "четыреста",
    "пятьсот",
    "шестьсот",
    "семьсот",
    "восемьсот",
    "девятьсот",
];

/// Abbreviations that stand for one phrase only, and that phrase.
const ABBREVIATIONS: [(&str, &str); 4] = [
    ("т.е.", "то есть"),
    ("т.к.", "так как"),
    ("и т.д.", "и так далее"),
    ("и т.п.", "и тому подобное"),
];

/// Words for 1 to 999, in the gender of what they count (`feminine`: «одна», «две», as before
/// «тысяча»).
fn below_thousand(n: u64, feminine: bool, out: &mut Vec<&'static str>) {
    let (h, rest) = ((n / 100) as usize, n % 100);
    if h > 0 {
        out.push(HUNDREDS[h]);
    }
    let (t, u) = if rest < 20 {
        (0, rest as usize)
    } else {
        ((rest / 10) as usize, (rest % 10) as usize)
    };
    if t > 0 {
        out.push(TENS[t]);
    }
    if u > 0 || (h == 0 && t == 0 && rest > 0) {
        out.push(match (u, feminine) {
            (1, true) => "одна",
            (2, true) => "две",
            _ => UNITS[u],
        });
    }
}

/// The form of a counted noun after `n`: one (1, 21, …), few (2–4, 22–24, …) or many.
fn form(n: u64, forms: [&'static str; 3]) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=14) => forms[2],
        (1, _) => forms[0],
        (2..=4, _) => forms[1],
        _ => forms[2],
    }
}

/// `n` in Russian words, nominative masculine (`23` → «двадцать три», `2000` → «две тысячи»,
/// `1000000` → «миллион»: a leading one of thousands, millions or billions is not said).
/// Numbers of a trillion or more are read digit by digit.
pub fn spell_number(n: u64) -> String {
    if n == 0 {
        return UNITS[0].to_owned();
    }
    if n >= 1_000_000_000_000 {
        return n
            .to_string()
            .chars()
            .map(|d| UNITS[d.to_digit(10).unwrap_or(0) as usize])
            .collect::<Vec<_>>()
            .join(" ");
    }
    let mut words = Vec::new();
    let groups = [
        (
            1_000_000_000,
            ["миллиард", "миллиарда", "миллиардов"],
            false,
        ),
        (1_000_000, ["миллион", "миллиона", "миллионов"], false),
        (1_000, ["тысяча", "тысячи", "тысяч"], true),
    ];
    let mut rest = n;
    for (size, names, feminine) in groups {
        let count = rest / size;
        rest %= size;
        if count == 0 {
            continue;
        }
        if !(count == 1 && words.is_empty()) {
            below_thousand(count, feminine, &mut words);
        }
        words.push(form(count, names));
    }
    if rest > 0 {
        below_thousand(rest, false, &mut words);
    }
    words.join(" ")
}

/// Whether `c` is punctuation or a quote to be dropped (a hyphen inside a word stays).
fn is_mark(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace()
}

/// Text as it is scored: lower case, «ё» as «е», the unambiguous abbreviations written out
/// («т.е.» → «то есть»), punctuation and quotes dropped (a hyphenated word stays one word:
/// «кто-то»), every number written in digits spelled out in words ([`spell_number`]); a
/// number with letters joined to it («5-й», «90-х») is kept as written. Words are separated
/// by single spaces.
pub fn normalize(text: &str) -> String {
    let mut text = text.to_lowercase().replace('ё', "е");
    for (short, long) in ABBREVIATIONS {
        let spaced = short.replace('.', ". ").trim_end().to_owned();
        text = text.replace(&spaced, long).replace(short, long);
    }
    let mut out: Vec<String> = Vec::new();
    for token in text.split_whitespace() {
        let token = token.trim_matches(is_mark);
        // Inside a word only hyphens and apostrophes join; other marks part it («3,5», «a/b»).
        for part in token.split(|c: char| is_mark(c) && c != '-' && c != '\'' && c != '’') {
            let part = part.trim_matches(is_mark);
            if part.is_empty() {
                continue;
            }
            if part.chars().all(|c| c.is_ascii_digit()) {
                match part.parse::<u64>() {
                    // Leading zeros are read one by one («007»).
                    Ok(n) if !(part.len() > 1 && part.starts_with('0')) => {
                        out.push(spell_number(n));
                    }
                    _ => out.extend(
                        part.chars()
                            .map(|d| UNITS[d.to_digit(10).unwrap_or(0) as usize].to_owned()),
                    ),
                }
            } else {
                out.push(part.to_owned());
            }
        }
    }
    out.join(" ")
}

/// The edits that turn a reference into a hypothesis, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Units (words or characters) the same in both.
    pub hits: usize,
    /// Reference units replaced by others.
    pub substitutions: usize,
    /// Reference units missing from the hypothesis.
    pub deletions: usize,
    /// Hypothesis units not in the reference.
    pub insertions: usize,
}

impl ErrorCounts {
    /// Units in the reference.
    pub fn reference(&self) -> usize {
        self.hits + self.substitutions + self.deletions
    }

    /// Edits per reference unit (0 for an empty reference with nothing inserted, as jiwer does
    /// not define it otherwise: then the number of insertions).
    pub fn rate(&self) -> f64 {
        let errors = (self.substitutions + self.deletions + self.insertions) as f64;
        match self.reference() {
            0 => errors,
            n => errors / n as f64,
        }
    }

    /// These counts and `other`'s together (a corpus is scored as one text).
    pub fn add(&mut self, other: &ErrorCounts) {
        self.hits += other.hits;
        self.substitutions += other.substitutions;
        self.deletions += other.deletions;
        self.insertions += other.insertions;
    }
}

/// The fewest edits from `reference` to `hypothesis` (Levenshtein), counted by kind along the
/// alignment rapidfuzz's `editops` (and so jiwer) reports among equally cheap ones: stepping
/// back from the end, a deletion where the cost falls by one to the left, else an insertion
/// where the row above falls the other way, else a match or a substitution.
fn align<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> ErrorCounts {
    let mut counts = ErrorCounts::default();
    for step in steps(reference, hypothesis) {
        match step {
            Step::Same(..) => counts.hits += 1,
            Step::Substitute(..) => counts.substitutions += 1,
            Step::Delete(_) => counts.deletions += 1,
            Step::Insert(_) => counts.insertions += 1,
        }
    }
    counts
}

/// One step of an alignment: indices into the reference and the hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Same(usize, usize),
    Substitute(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// The alignment [`align`] counts, in order from the start.
fn steps<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> Vec<Step> {
    let (n, m) = (reference.len(), hypothesis.len());
    let mut cost = vec![0usize; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in 0..=n {
        cost[at(i, 0)] = i;
    }
    for j in 0..=m {
        cost[at(0, j)] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let change = usize::from(reference[i - 1] != hypothesis[j - 1]);
            cost[at(i, j)] = (cost[at(i - 1, j - 1)] + change)
                .min(cost[at(i - 1, j)] + 1)
                .min(cost[at(i, j - 1)] + 1);
        }
    }
    let mut steps = Vec::with_capacity(n.max(m));
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        if cost[at(i, j)] == cost[at(i - 1, j)] + 1 {
            i -= 1;
            steps.push(Step::Delete(i));
        } else if j > 1 && cost[at(i, j - 1)] + 1 == cost[at(i - 1, j - 1)] {
            j -= 1;
            steps.push(Step::Insert(j));
        } else {
            i -= 1;
            j -= 1;
            steps.push(if reference[i] == hypothesis[j] {
                Step::Same(i, j)
            } else {
                Step::Substitute(i, j)
            });
        }
    }
    steps.extend((0..i).rev().map(Step::Delete));
    steps.extend((0..j).rev().map(Step::Insert));
    steps.reverse();
    steps
}

/// One word of a word-by-word alignment of a hypothesis with its reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aligned {
    /// The same word in both.
    Same(String),
    /// A reference word and the hypothesis word in its place.
    Substituted {
        /// The reference's word.
        reference: String,
        /// The hypothesis's word.
        hypothesis: String,
    },
    /// A reference word the hypothesis lacks.
    Deleted(String),
    /// A hypothesis word the reference lacks.
    Inserted(String),
}

/// The words of `reference` and `hypothesis` aligned as [`word_errors`] counts them, in order.
pub fn align_words(reference: &str, hypothesis: &str) -> Vec<Aligned> {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
    steps(&r, &h)
        .into_iter()
        .map(|step| match step {
            Step::Same(i, _) => Aligned::Same(r[i].to_owned()),
            Step::Substitute(i, j) => Aligned::Substituted {
                reference: r[i].to_owned(),
                hypothesis: h[j].to_owned(),
            },
            Step::Delete(i) => Aligned::Deleted(r[i].to_owned()),
            Step::Insert(j) => Aligned::Inserted(h[j].to_owned()),
        })
        .collect()
}

/// Word errors of `hypothesis` against `reference` (words split at white space).
pub fn word_errors(reference: &str, hypothesis: &str) -> ErrorCounts {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
    align(&r, &h)
}

/// Character errors of `hypothesis` against `reference`: the texts trimmed, every character
/// counted, the spaces between words included (as jiwer's `cer`).
pub fn char_errors(reference: &str, hypothesis: &str) -> ErrorCounts {
    let r: Vec<char> = reference.trim().chars().collect();
    let h: Vec<char> = hypothesis.trim().chars().collect();
    align(&r, &h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_spelled_as_said() {
        for (n, words) in [
            (0, "ноль"),
            (7, "семь"),
            (13, "тринадцать"),
            (23, "двадцать три"),
            (40, "сорок"),
            (101, "сто один"),
            (999, "девятьсот девяносто девять"),
            (1000, "тысяча"),
            (2021, "две тысячи двадцать один"),
            (21_000, "двадцать одна тысяча"),
            (45_000, "сорок пять тысяч"),
            (112_000, "сто двенадцать тысяч"),
            (1_000_000, "миллион"),
            (3_500_000, "три миллиона пятьсот тысяч"),
            (2_000_000_001, "два миллиарда один"),
        ] {
            assert_eq!(spell_number(n), words, "{n}");
        }
    }

    #[test]
    fn each_rule_of_the_normalisation() {
        for (text, normal) in [
            // Case and «ё».
            ("Ёлка ЗЕЛЁНАЯ", "елка зеленая"),
            // Punctuation and quotes go; hyphenated words stay whole.
            (
                "«Кто-то», — сказал он; (тихо)… Да?!",
                "кто-то сказал он тихо да",
            ),
            // Digits become words, and match the words a reference spells.
            (
                "В 2021 году было 23 ученика",
                "в две тысячи двадцать один году было двадцать три ученика",
            ),
            // A number with letters joined stays as written.
            ("5-й класс, 90-х годов", "5-й класс 90-х годов"),
            // Separators inside numbers part them; leading zeros are read digit by digit.
            ("3,5 и 007", "три пять и ноль ноль семь"),
            // Latin words are kept.
            ("Сервер nginx, версия OK", "сервер nginx версия ok"),
            // Unambiguous abbreviations are written out.
            (
                "т.е. дом, т. к. поздно и т.д.",
                "то есть дом так как поздно и так далее",
            ),
            ("", ""),
        ] {
            assert_eq!(normalize(text), normal, "{text:?}");
        }
    }

    #[test]
    fn edits_are_counted_by_kind() {
        let e = word_errors("а б в г", "а х в г д");
        assert_eq!(
            (e.hits, e.substitutions, e.deletions, e.insertions),
            (3, 1, 0, 1)
        );
        assert_eq!(e.rate(), 0.5);
        let e = word_errors("а б в", "а");
        assert_eq!((e.deletions, e.reference()), (2, 3));
        assert_eq!(word_errors("", "").rate(), 0.0);
        assert_eq!(word_errors("", "а б").rate(), 2.0);
        let c = char_errors(" кот ", "кит");
        assert_eq!((c.hits, c.substitutions), (2, 1));
    }

    #[test]
    fn the_alignment_is_the_one_counted() {
        let aligned = align_words("а б в г", "а х в г д");
        assert_eq!(
            aligned,
            [
                Aligned::Same("а".into()),
                Aligned::Substituted {
                    reference: "б".into(),
                    hypothesis: "х".into()
                },
                Aligned::Same("в".into()),
                Aligned::Same("г".into()),
                Aligned::Inserted("д".into()),
            ]
        );
        assert_eq!(
            align_words("а б", ""),
            [Aligned::Deleted("а".into()), Aligned::Deleted("б".into())]
        );
    }
}
