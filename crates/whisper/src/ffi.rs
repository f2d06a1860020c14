//! Every `unsafe` block of rech-whisper lives here: the C callbacks that whisper.cpp calls during
//! `whisper_full` for progress and cancellation.
//!
//! whisper-rs's own `set_abort_callback_safe` reads its boxed closure with the wrong type (see
//! DESIGN.md), and its safe progress callback leaks a box per call, so we install plain
//! `extern "C"` trampolines whose user data points at values that outlive the call.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use whisper_rs::FullParams;

/// A progress sink whisper.cpp can call: it receives whole percents.
pub(crate) type ProgressFn<'a> = &'a mut dyn FnMut(i32);

/// Makes whisper.cpp stop as soon as `flag` is raised.
///
/// The caller must keep `flag` alive until `whisper_full` has returned; the recognizer borrows
/// it from the cancellation token for the whole call.
pub(crate) fn install_abort_flag(params: &mut FullParams<'_, '_>, flag: &AtomicBool) {
    unsafe extern "C" fn abort_trampoline(user_data: *mut c_void) -> bool {
        // SAFETY: user_data is the `&AtomicBool` installed below, alive for the whole call.
        let flag = unsafe { &*(user_data as *const AtomicBool) };
        flag.load(Ordering::Relaxed)
    }
    // SAFETY: the trampoline only reads an AtomicBool through the pointer we pass with it;
    // the pointer stays valid while `params` is used (see the function's contract).
    unsafe {
        params.set_abort_callback(Some(abort_trampoline));
        params.set_abort_callback_user_data(flag as *const AtomicBool as *mut c_void);
    }
}

/// Sends whisper.cpp's progress (in percent) to `sink`.
///
/// `sink` is a `&mut &mut dyn FnMut(i32)` so that the user data is a thin pointer; the caller
/// must keep it alive and unaliased until `whisper_full` has returned.
pub(crate) fn install_progress(params: &mut FullParams<'_, '_>, sink: &mut ProgressFn<'_>) {
    unsafe extern "C" fn progress_trampoline(
        _ctx: *mut whisper_rs::WhisperSysContext,
        _state: *mut whisper_rs::WhisperSysState,
        progress: c_int,
        user_data: *mut c_void,
    ) {
        // SAFETY: user_data is the `&mut ProgressFn` installed below; whisper.cpp calls this
        // from the thread that runs `whisper_full`, so there is no concurrent access.
        let sink = unsafe { &mut *(user_data as *mut ProgressFn<'_>) };
        sink(progress);
    }
    // SAFETY: the trampoline matches whisper.cpp's progress callback signature and only uses
    // the user data we pass with it, which outlives the call (see the function's contract).
    unsafe {
        params.set_progress_callback(Some(progress_trampoline));
        params.set_progress_callback_user_data(sink as *mut ProgressFn<'_> as *mut c_void);
    }
}
