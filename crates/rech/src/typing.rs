//! Dictation typed into the focused window: which text of a dictation is new at each event
//! (committed words while a phrase goes on, the rest of it when it ends), typed by rech-typer
//! on X11 or Wayland, in any keyboard layout.

use rech_asr::DictationEvent;
pub use rech_typer::{Backend, Session, TypeError, Typed, Typer, TyperOptions};

/// What of a dictation has been typed, and so what is new at each event. With partials,
/// committed words — which never change — are typed as soon as they come; at the end of a
/// phrase, the rest of it follows with a space. Pure: no window is touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypedSoFar {
    /// What of the phrase under way has been typed already: committed words.
    typed: String,
    partials: bool,
}

impl TypedSoFar {
    /// Starts with nothing typed; `partials`: type committed words before the phrase ends.
    pub fn new(partials: bool) -> Self {
        Self {
            typed: String::new(),
            partials,
        }
    }

    /// The text to type for `event`, if there is any that has not been typed.
    pub fn next(&mut self, event: &DictationEvent) -> Option<String> {
        match event {
            DictationEvent::Partial { committed, .. } => {
                if !self.partials || committed.len() <= self.typed.len() {
                    return None;
                }
                let new = committed.strip_prefix(self.typed.as_str())?.to_owned();
                self.typed.clone_from(committed);
                Some(new)
            }
            DictationEvent::Final { text, .. } => {
                let typed = std::mem::take(&mut self.typed);
                let rest = match text.strip_prefix(typed.as_str()) {
                    Some(rest) => rest,
                    None => {
                        // Not expected (committed words are a prefix of the final): what was
                        // typed stays, and the rest after the common part follows it.
                        let common = typed
                            .char_indices()
                            .zip(text.chars())
                            .take_while(|((_, a), b)| a == b)
                            .last()
                            .map_or(0, |((i, a), _)| i + a.len_utf8());
                        log::warn!("the final text differs from the words typed already");
                        &text[common..]
                    }
                };
                Some(format!("{rest} "))
            }
        }
    }
}

/// Types a dictation into the focused window as its events arrive ([`TypedSoFar`] over a
/// [`Typer`]).
#[derive(Debug)]
pub struct Typist {
    typer: Typer,
    so_far: TypedSoFar,
}

impl Typist {
    /// Opens the session's typer (see [`Typer::open`]); `partials` as in [`TypedSoFar::new`].
    pub fn open(options: &TyperOptions, partials: bool) -> Result<Self, TypeError> {
        Ok(Self {
            typer: Typer::open(options)?,
            so_far: TypedSoFar::new(partials),
        })
    }

    /// The typer, for its backend and its notice.
    pub fn typer(&self) -> &Typer {
        &self.typer
    }

    /// Types what `event` adds; `None` when it adds nothing. Characters the backend could
    /// not type are in the result's `untyped`.
    pub fn on(&mut self, event: &DictationEvent) -> Result<Option<Typed>, TypeError> {
        match self.so_far.next(event) {
            Some(text) => self.typer.type_text(&text).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(committed: &str) -> DictationEvent {
        DictationEvent::Partial {
            text: format!("{committed} и ещё"),
            committed: committed.to_owned(),
        }
    }

    fn last(text: &str) -> DictationEvent {
        DictationEvent::Final {
            text: text.to_owned(),
            start: 0.0,
            end: 1.0,
        }
    }

    #[test]
    fn committed_words_are_typed_once_and_the_final_adds_the_rest() {
        let mut so_far = TypedSoFar::new(true);
        assert_eq!(so_far.next(&partial("")), None);
        assert_eq!(so_far.next(&partial("Привет")).as_deref(), Some("Привет"));
        assert_eq!(so_far.next(&partial("Привет")), None);
        assert_eq!(
            so_far.next(&partial("Привет, мир")).as_deref(),
            Some(", мир")
        );
        assert_eq!(
            so_far.next(&last("Привет, мир и всё.")).as_deref(),
            Some(" и всё. ")
        );
        // The next phrase starts from nothing.
        assert_eq!(so_far.next(&partial("Да")).as_deref(), Some("Да"));
    }

    #[test]
    fn without_partials_only_finals_are_typed() {
        let mut so_far = TypedSoFar::new(false);
        assert_eq!(so_far.next(&partial("Привет")), None);
        assert_eq!(so_far.next(&last("Привет.")).as_deref(), Some("Привет. "));
    }

    #[test]
    fn a_final_that_departs_from_the_typed_words_types_only_what_follows_the_common_part() {
        let mut so_far = TypedSoFar::new(true);
        so_far.next(&partial("Ёжик в"));
        assert_eq!(
            so_far.next(&last("Ёжик на поляне")).as_deref(),
            Some("на поляне ")
        );
    }
}
