//! Keeps a panic inside a third-party decoder from reaching the user. symphonia 0.5 panics on
//! some damaged files (fuzzing found an index out of bounds in its AAC decoder and a zero time
//! base in its WAV reader, see FUZZING.md); such a file must end in one clear error line, not a
//! crash and not panic text. Every call into hound or symphonia therefore runs inside
//! [`contain`], which catches the panic and silences its message.
//!
//! This relies on panics unwinding: rech is never built with `panic = "abort"`.
//!
//! With the `fuzzing` feature, a panic whose location is not in hound or symphonia aborts the
//! process instead: the fuzz targets must still see bugs in rech's own code.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`contain`] calls are active on this thread (they may nest).
    static CONTAINING: Cell<u32> = const { Cell::new(0) };
    /// Where the last contained panic on this thread happened (`file:line`).
    static LOCATION: RefCell<String> = const { RefCell::new(String::new()) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `f`; a panic inside it becomes `Err(())` and prints nothing.
///
/// The first call wraps the process's panic hook in one that stays silent while a thread is
/// inside `contain` and defers to the previous hook everywhere else, so panics elsewhere in the
/// program are reported as before. Whatever `f` was working on must be dropped after an
/// `Err`: it may be half-updated.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(Cell::get) == 0 {
                previous(info);
            } else {
                LOCATION.with(|l| *l.borrow_mut() = panic_site(info));
            }
        }));
    });
    CONTAINING.with(|c| c.set(c.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(c.get() - 1));
    #[cfg(feature = "fuzzing")]
    if result.is_err() {
        let at = LOCATION.with(|l| l.borrow().clone());
        if !(at.contains("/symphonia") || at.contains("/hound-")) {
            eprintln!("rech-audio: panic in rech's own code at {at}");
            std::process::abort();
        }
    }
    result.map_err(drop)
}

/// Where a panic happened, as `file:line`.
#[cfg(not(feature = "fuzzing"))]
fn panic_site(info: &panic::PanicHookInfo<'_>) -> String {
    info.location()
        .map(|at| format!("{}:{}", at.file(), at.line()))
        .unwrap_or_default()
}

/// Where a panic happened. When that is inside the standard library (`step_by(0)` called by
/// symphonia, say), the innermost frame outside it and this module, found in a backtrace
/// (slow, and only with debug information: fuzzing builds only).
#[cfg(feature = "fuzzing")]
fn panic_site(info: &panic::PanicHookInfo<'_>) -> String {
    if let Some(at) = info
        .location()
        .filter(|at| !at.file().starts_with("/rustc/"))
    {
        return format!("{}:{}", at.file(), at.line());
    }
    std::backtrace::Backtrace::force_capture()
        .to_string()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("at "))
        .find(|at| !at.starts_with("/rustc/") && !at.contains("guard.rs"))
        .unwrap_or_default()
        .to_owned()
}

/// Where the last panic contained on this thread happened, as `file:line` (empty if none).
#[cfg(test)]
fn last_location() -> String {
    LOCATION.with(|l| l.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_the_count_recovers() {
        assert_eq!(contain(|| 7), Ok(7));
        let caught: Result<(), ()> = contain(|| panic!("decoder bug"));
        assert_eq!(caught, Err(()));
        let nested = contain(|| contain(|| -> u8 { panic!("inner") }).is_err());
        assert_eq!(nested, Ok(true));
        assert_eq!(CONTAINING.with(Cell::get), 0);
        assert!(last_location().contains("guard.rs"), "{}", last_location());
    }
}
