//! Turns an engine's tokens into words and segments from their raw bytes, for every engine.
//!
//! Whisper's byte-level BPE can split one Cyrillic letter (two bytes in UTF-8) across two
//! tokens, and even across two segments. Decoding token by token would put U+FFFD into Russian
//! words, so bytes are joined first and decoded only at word and segment boundaries; bytes that
//! never form valid UTF-8 are dropped rather than shown as U+FFFD.

use crate::engine::TokenSegment;
use crate::transcript::{Segment, Word};

/// Builds segments and words from an engine's tokens, carrying a letter split across a segment
/// boundary into the next segment. A token whose bytes start with a space starts a word; bytes
/// that never form valid UTF-8 are dropped.
pub fn assemble(mut raw: Vec<TokenSegment>) -> Vec<Segment> {
    carry_split_letters(&mut raw);
    raw.into_iter().map(assemble_segment).collect()
}

/// Moves the bytes of an incomplete UTF-8 sequence at the end of a segment to the start of the
/// next segment's first token.
fn carry_split_letters(raw: &mut [TokenSegment]) {
    for i in 0..raw.len().saturating_sub(1) {
        let Some(last) = raw[i].tokens.last_mut() else {
            continue;
        };
        let tail = incomplete_tail_len(&last.bytes);
        if tail == 0 {
            continue;
        }
        let carried = last.bytes.split_off(last.bytes.len() - tail);
        match raw[i + 1].tokens.first_mut() {
            Some(first) => {
                let mut joined = carried;
                joined.extend_from_slice(&first.bytes);
                first.bytes = joined;
            }
            None => raw[i].tokens.last_mut().into_iter().for_each(|t| {
                t.bytes.extend_from_slice(&carried);
            }),
        }
    }
}

/// Length of a trailing UTF-8 sequence that has started but not finished.
pub(crate) fn incomplete_tail_len(bytes: &[u8]) -> usize {
    // A sequence is at most 4 bytes: look back at most 3 for its lead byte.
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Decodes UTF-8, dropping bytes that are not part of a valid sequence.
pub(crate) fn decode_dropping_invalid(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // SAFETY-free: from_utf8 just told us this prefix is valid.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let skip = e.error_len().unwrap_or(rest.len());
                bytes = &rest[skip..];
            }
        }
    }
}

fn assemble_segment(raw: TokenSegment) -> Segment {
    let mut words = Vec::new();
    let mut current: Option<(Vec<u8>, f64, f64, Vec<f32>)> = None;
    let mut all_bytes = Vec::new();
    for token in &raw.tokens {
        all_bytes.extend_from_slice(&token.bytes);
        let starts_word = token.bytes.first() == Some(&b' ');
        match &mut current {
            Some((bytes, _, end, probs)) if !starts_word => {
                bytes.extend_from_slice(&token.bytes);
                *end = token.end;
                probs.push(token.probability);
            }
            _ => {
                if let Some(done) = current.take() {
                    push_word(&mut words, done);
                }
                current = Some((
                    token.bytes.clone(),
                    token.start,
                    token.end,
                    vec![token.probability],
                ));
            }
        }
    }
    if let Some(done) = current.take() {
        push_word(&mut words, done);
    }
    Segment {
        speaker: None,
        start: raw.start,
        end: raw.end.max(raw.start),
        text: decode_dropping_invalid(&all_bytes).trim().to_owned(),
        words,
        no_speech_probability: raw.no_speech_probability,
    }
}

fn push_word(words: &mut Vec<Word>, (bytes, start, end, probs): (Vec<u8>, f64, f64, Vec<f32>)) {
    let text = decode_dropping_invalid(&bytes).trim().to_owned();
    if text.is_empty() {
        return;
    }
    let probability = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
    words.push(Word {
        start,
        end: end.max(start),
        text,
        probability,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Token;
    use rech_ggml::generate::{find_token, vocabulary};

    fn token(bytes: &[u8], start: f64) -> Token {
        Token {
            bytes: bytes.to_vec(),
            start,
            end: start + 0.1,
            probability: 0.5,
        }
    }

    fn segment(tokens: Vec<Token>) -> TokenSegment {
        TokenSegment {
            start: tokens.first().map_or(0.0, |t| t.start),
            end: tokens.last().map_or(0.0, |t| t.end),
            tokens,
            no_speech_probability: 0.0,
        }
    }

    #[test]
    fn incomplete_tails() {
        let ya = "я".as_bytes();
        assert_eq!(incomplete_tail_len(b"abc"), 0);
        assert_eq!(incomplete_tail_len(ya), 0);
        assert_eq!(incomplete_tail_len(&ya[..1]), 1);
        assert_eq!(incomplete_tail_len(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail_len(&[0x80]), 0);
    }

    #[test]
    fn invalid_bytes_are_dropped_not_replaced() {
        assert_eq!(decode_dropping_invalid(b"a\xD0b\xFFc"), "abc");
        assert_eq!(decode_dropping_invalid("привет".as_bytes()), "привет");
    }

    /// Tokens from the generator's vocabulary that split Cyrillic letters, as a real BPE does,
    /// must give whole Russian words, within a segment and across a segment boundary.
    #[test]
    fn letters_split_between_tokens_come_out_whole() {
        let vocab = vocabulary();
        let privet = " привет".as_bytes();
        // " пр" + "и" split in the middle of "и" + the rest: [" пр\xD0"] ["\xB8вет"].
        let cut = " пр".len() + 1;
        let (head, tail) = privet.split_at(cut);
        let head_id = find_token(head);
        let tail_id = find_token(tail);
        // Fall back to single-byte tokens, which every byte-level vocabulary has.
        let pieces: Vec<Vec<u8>> = match (head_id, tail_id) {
            (Some(h), Some(t)) => vec![vocab[h].clone(), vocab[t].clone()],
            _ => privet
                .iter()
                .map(|b| vocab[find_token(&[*b]).expect("byte token")].clone())
                .collect(),
        };
        assert!(
            pieces.iter().any(|p| std::str::from_utf8(p).is_err()),
            "the test must use tokens that are not valid UTF-8 on their own"
        );
        let tokens = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| token(p, i as f64 * 0.1))
            .collect();
        let out = assemble(vec![segment(tokens)]);
        assert_eq!(out[0].text, "привет");
        assert_eq!(out[0].words.len(), 1);
        assert_eq!(out[0].words[0].text, "привет");
        assert!(!out[0].text.contains('\u{FFFD}'));

        // The same word split across two segments lands whole in the second.
        let bytes = " мир да".as_bytes();
        let first = segment(vec![token(&bytes[..2], 0.0)]); // " \xD0"
        let second = segment(vec![token(&bytes[2..7], 1.0), token(&bytes[7..], 1.2)]);
        let out = assemble(vec![first, second]);
        assert_eq!(out[0].text, "");
        assert_eq!(out[1].text, "мир да");
        assert_eq!(
            out[1]
                .words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>(),
            ["мир", "да"]
        );
    }

    #[test]
    fn words_take_the_times_of_their_tokens() {
        let out = assemble(vec![segment(vec![
            token(" да".as_bytes(), 0.0),
            token(" не".as_bytes(), 0.5),
            token("т".as_bytes(), 0.6),
        ])]);
        let words = &out[0].words;
        assert_eq!(words.len(), 2);
        assert_eq!(words[1].text, "нет");
        assert_eq!((words[1].start, words[1].end), (0.5, 0.7));
    }
}
