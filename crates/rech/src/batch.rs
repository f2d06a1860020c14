//! Many inputs on several threads that share one loaded engine: each thread has a state of its
//! own (a transcriber: the engine's per-thread state and the VAD), made once and made again
//! after an engine panic; items are handed out in order to whichever thread is free; the first
//! error that must end the batch ends it, and raises the cancel token so that the other
//! threads' engine calls return soon. What is done with each item is the caller's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rech_asr::{CancelToken, RECOGNIZER_STACK_BYTES};

/// What a job tells the batch after an item.
#[derive(Debug)]
pub enum Step<E> {
    /// On to the next item.
    Next,
    /// On to the next item with a new state: the engine panicked on this one, and the state it
    /// left may be broken.
    Renew,
    /// End the batch with this error (the user interrupted, the output is gone).
    Stop(E),
}

/// Runs `job(position, state)` for every position in `0..count`, each handed to the next free
/// one of `jobs` threads (each with [`RECOGNIZER_STACK_BYTES`] of stack). The first thread
/// starts with `first` (made by the caller beforehand, so that a model that cannot make one
/// fails before any work); the others, and a thread whose job asked to [`Step::Renew`], call
/// `make`. Returns the first [`Step::Stop`] error (or a failure to make a state or start a
/// thread), after raising `cancel` and letting every thread finish its item.
pub fn run<S, E>(
    jobs: usize,
    count: usize,
    first: S,
    make: &(dyn Fn() -> Result<S, E> + Sync),
    cancel: &CancelToken,
    job: &(dyn Fn(usize, &mut S) -> Step<E> + Sync),
) -> Result<(), E>
where
    S: Send,
    E: Send + From<std::io::Error>,
{
    let next = AtomicUsize::new(0);
    let fatal: Mutex<Option<E>> = Mutex::new(None);
    let stop = |err: E| {
        fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(err);
        cancel.cancel();
    };
    let stopped = || fatal.lock().map(|f| f.is_some()).unwrap_or(true);
    let work = |mut state: S| loop {
        if stopped() {
            return;
        }
        let position = next.fetch_add(1, Ordering::SeqCst);
        if position >= count {
            return;
        }
        match job(position, &mut state) {
            Step::Next => {}
            Step::Renew => match make() {
                Ok(fresh) => state = fresh,
                Err(e) => return stop(e),
            },
            Step::Stop(e) => return stop(e),
        }
    };
    std::thread::scope(|scope| {
        let mut first = Some(first);
        for _ in 0..jobs.max(1) {
            let state = first.take();
            let (work, stop) = (&work, &stop);
            let spawned = std::thread::Builder::new()
                .name("rech-worker".into())
                // whisper.cpp's prompt tokenizer recurses: see RECOGNIZER_STACK_BYTES.
                .stack_size(RECOGNIZER_STACK_BYTES)
                .spawn_scoped(scope, move || match state.map_or_else(make, Ok) {
                    Ok(state) => work(state),
                    Err(e) => stop(e),
                });
            if let Err(e) = spawned {
                stop(E::from(e));
            }
        }
    });
    match fatal.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_states_renewed_and_the_first_stop_wins() {
        let done = Mutex::new(Vec::new());
        let made = AtomicUsize::new(0);
        let make = || -> Result<usize, std::io::Error> { Ok(made.fetch_add(1, Ordering::SeqCst)) };
        let cancel = CancelToken::new();
        run(
            3,
            10,
            100,
            &make,
            &cancel,
            &|position, _state: &mut usize| {
                done.lock().unwrap().push(position);
                if position == 4 {
                    Step::Renew
                } else {
                    Step::Next
                }
            },
        )
        .unwrap();
        let mut done = done.into_inner().unwrap();
        done.sort();
        assert_eq!(done, (0..10).collect::<Vec<_>>());
        // Two more threads, and one renewal.
        assert_eq!(made.load(Ordering::SeqCst), 3);
        assert!(!cancel.is_cancelled());

        let err = run(2, 100, 0, &make, &cancel, &|position, _: &mut usize| {
            if position == 3 {
                Step::Stop(std::io::Error::other("stop"))
            } else {
                Step::Next
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "stop");
        assert!(cancel.is_cancelled());
    }
}
