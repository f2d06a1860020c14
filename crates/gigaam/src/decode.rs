//! From the heads' log-probabilities to tokens with times, and from tokens to text: greedy CTC
//! (the most likely class per frame, repeats collapsed, blanks dropped) and greedy RNN-T (a few
//! symbols per encoder frame at most), with the vocabulary's pieces joined the way onnx-asr
//! joins them, so that the same model gives the same text here and there.

/// Seconds per encoder frame: 10 ms features, subsampled four times.
pub const FRAME_SECONDS: f64 = 0.04;

/// A vocabulary: one piece per class id, `▁` already turned into a space; the blank class
/// (`<blk>`) is the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    pieces: Vec<String>,
    blank: usize,
}

/// Why a vocabulary file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabularyError {
    /// A line is not `piece id`.
    #[error("line {line} is not \"piece id\"")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// The ids are not 0, 1, 2, … in order.
    #[error("line {line} has id {id}, expected {expected}")]
    OutOfOrder {
        /// 1-based line number.
        line: usize,
        /// The id found.
        id: usize,
        /// The id expected there.
        expected: usize,
    },
    /// There is no `<blk>` piece.
    #[error("it has no <blk> piece")]
    NoBlank,
}

impl Vocabulary {
    /// Parses onnx-asr's vocabulary format: one `piece id` per line, ids from 0 in order.
    pub fn parse(text: &str) -> Result<Self, VocabularyError> {
        let mut pieces = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() && i + 1 == text.lines().count() {
                break;
            }
            let (piece, id) = line
                .rsplit_once(' ')
                .ok_or(VocabularyError::BadLine { line: i + 1 })?;
            let id: usize = id
                .parse()
                .map_err(|_| VocabularyError::BadLine { line: i + 1 })?;
            if id != pieces.len() {
                return Err(VocabularyError::OutOfOrder {
                    line: i + 1,
                    id,
                    expected: pieces.len(),
                });
            }
            pieces.push(piece.replace('\u{2581}', " "));
        }
        let blank = pieces
            .iter()
            .position(|p| p == "<blk>")
            .ok_or(VocabularyError::NoBlank)?;
        Ok(Self { pieces, blank })
    }

    /// Classes, the blank included.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether there are no classes (never, for a parsed vocabulary).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The blank class.
    pub fn blank(&self) -> usize {
        self.blank
    }

    /// The piece of class `id`.
    pub fn piece(&self, id: usize) -> &str {
        self.pieces.get(id).map_or("", String::as_str)
    }
}

/// One decoded token: its class and the encoder frames it spans (`first..=last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emission {
    /// Class id.
    pub id: usize,
    /// The frame it was emitted at.
    pub first: usize,
    /// The last frame it covers (CTC: the end of its run of frames).
    pub last: usize,
}

/// The index of the largest value, the first one on ties (as numpy's `argmax`).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Greedy CTC over `frames` rows of `classes` log-probabilities: the most likely class per
/// frame, a class repeated in consecutive frames counted once, blanks dropped.
pub fn ctc_greedy(log_probs: &[f32], frames: usize, classes: usize, blank: usize) -> Vec<Emission> {
    let mut out: Vec<Emission> = Vec::new();
    let mut previous = blank;
    for t in 0..frames {
        let id = argmax(&log_probs[t * classes..(t + 1) * classes]);
        if id != blank && id == previous {
            if let Some(last) = out.last_mut() {
                last.last = t;
            }
        } else if id != blank {
            out.push(Emission {
                id,
                first: t,
                last: t,
            });
        }
        previous = id;
    }
    out
}

/// One step of a transducer: the joint's log-probabilities for encoder frame `frame` after the
/// tokens emitted so far (the last one is what the prediction network sees).
pub trait Transducer {
    /// Why a step can fail (an ONNX Runtime error).
    type Error;

    /// The joint's output for `frame` given the prediction network's state after `last`
    /// (`None` at the start).
    fn step(&mut self, frame: usize, last: Option<usize>) -> Result<&[f32], Self::Error>;

    /// Makes the state after `token` the current one (called when a token is emitted).
    fn advance(&mut self);
}

/// Greedy RNN-T: per encoder frame, emit the most likely class until it is the blank or
/// `max_per_frame` tokens were emitted, then move to the next frame (onnx-asr's loop).
pub fn rnnt_greedy<T: Transducer>(
    model: &mut T,
    frames: usize,
    blank: usize,
    max_per_frame: usize,
) -> Result<Vec<Emission>, T::Error> {
    let mut out: Vec<Emission> = Vec::new();
    let mut t = 0;
    let mut emitted = 0;
    while t < frames {
        let last = out.last().map(|e| e.id);
        let id = argmax(model.step(t, last)?);
        if id != blank {
            model.advance();
            out.push(Emission {
                id,
                first: t,
                last: t,
            });
            emitted += 1;
        }
        if id == blank || emitted == max_per_frame {
            t += 1;
            emitted = 0;
        }
    }
    Ok(out)
}

/// Whether `c` is a word character for Python's `re` (`\w`): letters, digits, `_`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The pieces of `emissions`, with spaces kept only where onnx-asr keeps them (its
/// `re.sub(r"\A\s|\s\B|(\s)\b", …)`): a space goes when it is the text's first character
/// or is not followed by a word character (so no space before punctuation, and none doubled).
/// Joined, they are onnx-asr's text; each keeps its own bytes so that the pipeline can time
/// words by their first and last piece.
pub fn pieces(vocab: &Vocabulary, emissions: &[Emission]) -> Vec<String> {
    let raw: Vec<&str> = emissions.iter().map(|e| vocab.piece(e.id)).collect();
    let mut out = Vec::with_capacity(raw.len());
    let mut first = true;
    for (i, piece) in raw.iter().enumerate() {
        let chars: Vec<char> = piece.chars().collect();
        let mut kept = String::with_capacity(piece.len());
        for (j, &c) in chars.iter().enumerate() {
            if c.is_whitespace() {
                let next = chars
                    .get(j + 1)
                    .copied()
                    .or_else(|| raw[i + 1..].iter().find_map(|p| p.chars().next()));
                if !first && next.is_some_and(is_word) {
                    kept.push(' ');
                }
            } else {
                kept.push(c);
            }
            first = false;
        }
        out.push(kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(pieces: &[&str]) -> Vocabulary {
        let text: String = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{p} {i}\n"))
            .collect();
        Vocabulary::parse(&text).unwrap()
    }

    #[test]
    fn vocabularies_parse_and_refuse_nonsense() {
        let v = vocab(&["▁", "а", "▁при", "<blk>"]);
        assert_eq!((v.len(), v.blank()), (4, 3));
        assert_eq!(v.piece(0), " ");
        assert_eq!(v.piece(2), " при");
        assert_eq!(
            Vocabulary::parse("а 0\nб 2\n<blk> 3\n"),
            Err(VocabularyError::OutOfOrder {
                line: 2,
                id: 2,
                expected: 1
            })
        );
        assert_eq!(
            Vocabulary::parse("а0\n"),
            Err(VocabularyError::BadLine { line: 1 })
        );
        assert_eq!(
            Vocabulary::parse("а 0\nб 1\n"),
            Err(VocabularyError::NoBlank)
        );
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        // Classes: 0 "а", 1 "б", 2 blank. Frames: а а _ а б б _
        let rows = [0, 0, 2, 0, 1, 1, 2];
        let mut lp = Vec::new();
        for &c in &rows {
            let mut row = vec![-5.0f32; 3];
            row[c] = -0.1;
            lp.extend(row);
        }
        let out = ctc_greedy(&lp, rows.len(), 3, 2);
        let got: Vec<(usize, usize, usize)> = out.iter().map(|e| (e.id, e.first, e.last)).collect();
        assert_eq!(got, [(0, 0, 1), (0, 3, 3), (1, 4, 5)]);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }

    /// A transducer that wants to emit `wanted[t]` tokens at frame t.
    struct Scripted {
        wanted: Vec<usize>,
        done_here: usize,
        frame: usize,
        row: Vec<f32>,
    }

    impl Transducer for Scripted {
        type Error = ();
        fn step(&mut self, frame: usize, _last: Option<usize>) -> Result<&[f32], ()> {
            if frame != self.frame {
                self.frame = frame;
                self.done_here = 0;
            }
            let token = self.done_here < self.wanted[frame];
            self.row = if token {
                vec![0.0, -9.0]
            } else {
                vec![-9.0, 0.0]
            };
            Ok(&self.row)
        }
        fn advance(&mut self) {
            self.done_here += 1;
        }
    }

    #[test]
    fn rnnt_emits_up_to_the_cap_per_frame() {
        let mut model = Scripted {
            wanted: vec![0, 2, 5, 1],
            done_here: 0,
            frame: 0,
            row: Vec::new(),
        };
        let out = rnnt_greedy(&mut model, 4, 1, 3).unwrap();
        let frames: Vec<usize> = out.iter().map(|e| e.first).collect();
        // Frame 2 wants 5 but gets the cap of 3.
        assert_eq!(frames, [1, 1, 2, 2, 2, 3]);
    }

    #[test]
    fn spaces_are_kept_only_before_words() {
        let v = vocab(&[" при", "вет", " ,", " ", "мир", " .", "!", "<blk>"]);
        let e = |ids: &[usize]| -> Vec<Emission> {
            ids.iter()
                .map(|&id| Emission {
                    id,
                    first: 0,
                    last: 0,
                })
                .collect()
        };
        let p = pieces(&v, &e(&[0, 1, 2, 3, 4, 5, 6]));
        assert_eq!(p, ["при", "вет", ",", " ", "мир", ".", "!"]);
        assert_eq!(p.concat(), "привет, мир.!");
        // The text's first space goes, the next stays (it precedes a word), the last goes.
        assert_eq!(pieces(&v, &e(&[3, 3, 4, 3])).concat(), " мир");
    }
}
