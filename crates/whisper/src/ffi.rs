//! Every `unsafe` block of rech-whisper lives here: whisper.cpp's `whisper_full` called with a
//! parameter block rech fills itself, and the C callbacks it calls for progress and
//! cancellation.
//!
//! whisper-rs 0.16's `FullParams` cannot set `greedy.best_of` under beam search (so fallback
//! passes would sample one candidate where whisper-cli samples five), nor `suppress_regex`;
//! its `set_abort_callback_safe` casts its user data to the wrong type (the boxed closure is
//! read as the closure itself), and its safe progress callback leaks a box per call. So rech builds whisper.cpp's own
//! `whisper_full_params` ([`RawParams`]) and calls `whisper_full_with_state` on the context and
//! state pointers whisper.cpp hands to its callbacks ([`RawState::capture`]); results are read
//! back through whisper-rs's [`WhisperState`], which owns the same state.

use std::ffi::{c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use whisper_rs::whisper_rs_sys as sys;
use whisper_rs::{FullParams, SamplingStrategy, WhisperState};

/// A progress sink whisper.cpp can call: it receives whole percents.
pub(crate) type ProgressFn<'a> = &'a mut dyn FnMut(i32);

/// whisper.cpp's context and state pointers behind a [`WhisperState`] (and the context it
/// holds): valid for as long as that state lives, which its owner guarantees by keeping both
/// in one struct.
pub(crate) struct RawState {
    ctx: *mut sys::whisper_context,
    state: *mut sys::whisper_state,
}

// SAFETY: the pointers are only used by the one recognizer that owns the state, on whichever
// thread it runs; whisper.cpp's state has no thread affinity.
unsafe impl Send for RawState {}

impl RawState {
    /// Learns `state`'s pointers from whisper.cpp itself: a run over a second of silence whose
    /// encoder-begin callback records them and stops the run before any encoding. `None` if
    /// whisper.cpp never called back.
    pub(crate) fn capture(state: &mut WhisperState) -> Option<Self> {
        unsafe extern "C" fn record(
            ctx: *mut sys::whisper_context,
            state: *mut sys::whisper_state,
            user_data: *mut c_void,
        ) -> bool {
            // SAFETY: user_data is the `Option<RawState>` below, alive for the whole call.
            let slot = unsafe { &mut *(user_data as *mut Option<RawState>) };
            *slot = Some(RawState { ctx, state });
            false
        }
        let mut slot: Option<RawState> = None;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        // A fixed language, so that no detection runs the encoder before the callback.
        params.set_language(Some("en"));
        params.set_n_threads(1);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        // SAFETY: `record` matches whisper.cpp's encoder-begin callback and writes only the
        // slot passed with it, which outlives the call.
        unsafe {
            params.set_start_encoder_callback(Some(record));
            params.set_start_encoder_callback_user_data(
                &mut slot as *mut Option<RawState> as *mut c_void,
            );
        }
        let silence = vec![0.0f32; 16_000];
        // The run is stopped on purpose: its result says nothing.
        let _ = state.full(params, &silence);
        slot
    }
}

/// whisper.cpp's `whisper_full_params`, with the strings it points at kept alive beside it.
pub(crate) struct RawParams {
    raw: sys::whisper_full_params,
    language: Option<CString>,
    initial_prompt: Option<CString>,
    suppressed: Vec<c_int>,
}

impl RawParams {
    /// whisper.cpp's defaults for greedy decoding, or for beam search with `beam_size` beams
    /// (`whisper_full_default_params`, as whisper-cli starts from them).
    pub(crate) fn new(beam_size: Option<u32>) -> Self {
        let strategy = match beam_size {
            Some(_) => sys::whisper_sampling_strategy_WHISPER_SAMPLING_BEAM_SEARCH,
            None => sys::whisper_sampling_strategy_WHISPER_SAMPLING_GREEDY,
        };
        // SAFETY: a plain C function returning a struct by value.
        let mut raw = unsafe { sys::whisper_full_default_params(strategy as _) };
        if let Some(beams) = beam_size {
            raw.beam_search.beam_size = beams.min(c_int::MAX as u32) as c_int;
        }
        raw.print_special = false;
        raw.print_progress = false;
        raw.print_realtime = false;
        raw.print_timestamps = false;
        Self {
            raw,
            language: None,
            initial_prompt: None,
            suppressed: Vec::new(),
        }
    }

    /// The plain-data fields (numbers and flags); the pointer fields are set by the methods
    /// below, which keep what they point at alive.
    pub(crate) fn fields(&mut self) -> &mut sys::whisper_full_params {
        &mut self.raw
    }

    /// The language code, or `auto` to detect it. A string with a NUL is refused earlier.
    pub(crate) fn set_language(&mut self, language: &str) {
        self.language = CString::new(language).ok();
    }

    /// The text that precedes the audio.
    pub(crate) fn set_initial_prompt(&mut self, prompt: &str) {
        self.initial_prompt = CString::new(prompt).ok();
    }

    /// Tokens that are never emitted: their logits are set to minus infinity at each step, where
    /// and as whisper.cpp's own `suppress_regex` does it. (rech matches the regular expression
    /// itself: an invalid pattern given to whisper.cpp's `std::regex` would throw through C.)
    pub(crate) fn set_suppressed_tokens(&mut self, tokens: Vec<c_int>) {
        self.suppressed = tokens;
    }
}

/// What whisper.cpp called back with during one [`full`] run.
pub(crate) struct Callbacks<'a> {
    /// Raised to stop the run.
    pub(crate) abort: &'a AtomicBool,
    /// Receives progress in whole percents.
    pub(crate) progress: ProgressFn<'a>,
}

/// Runs `whisper_full_with_state` over `samples` and returns whisper.cpp's status (0 = done).
pub(crate) fn full(
    state: &mut RawState,
    params: &mut RawParams,
    samples: &[f32],
    callbacks: &mut Callbacks<'_>,
) -> c_int {
    unsafe extern "C" fn abort_trampoline(user_data: *mut c_void) -> bool {
        // SAFETY: user_data is the `&AtomicBool` passed below, alive for the whole call; ggml
        // may ask from any of its threads, which an atomic allows.
        let flag = unsafe { &*(user_data as *const AtomicBool) };
        flag.load(Ordering::Relaxed)
    }
    unsafe extern "C" fn logits_trampoline(
        _ctx: *mut sys::whisper_context,
        _state: *mut sys::whisper_state,
        _tokens: *const sys::whisper_token_data,
        _n_tokens: c_int,
        logits: *mut f32,
        user_data: *mut c_void,
    ) {
        // SAFETY: user_data is the `Vec<c_int>` of token ids passed below, alive for the whole
        // call and only read (whisper.cpp filters its decoders' logits on several threads);
        // `logits` holds one value per vocabulary entry, and every id came from that
        // vocabulary.
        unsafe {
            let suppressed = &*(user_data as *const Vec<c_int>);
            for &id in suppressed {
                *logits.add(id as usize) = f32::NEG_INFINITY;
            }
        }
    }
    unsafe extern "C" fn progress_trampoline(
        _ctx: *mut sys::whisper_context,
        _state: *mut sys::whisper_state,
        progress: c_int,
        user_data: *mut c_void,
    ) {
        // SAFETY: user_data is the `ProgressFn` passed below; whisper.cpp calls this from the
        // thread that runs `whisper_full`, so there is no concurrent access.
        let sink = unsafe { &mut *(user_data as *mut ProgressFn<'_>) };
        sink(progress);
    }
    if samples.is_empty() {
        // whisper.cpp can crash on no samples (whisper-rs guards the same way).
        return -1;
    }
    let mut raw = params.raw;
    raw.language = params
        .language
        .as_ref()
        .map_or(std::ptr::null(), |s| s.as_ptr());
    raw.initial_prompt = params
        .initial_prompt
        .as_ref()
        .map_or(std::ptr::null(), |s| s.as_ptr());
    if !params.suppressed.is_empty() {
        raw.logits_filter_callback = Some(logits_trampoline);
        raw.logits_filter_callback_user_data =
            &params.suppressed as *const Vec<c_int> as *mut c_void;
    }
    raw.abort_callback = Some(abort_trampoline);
    raw.abort_callback_user_data = callbacks.abort as *const AtomicBool as *mut c_void;
    raw.progress_callback = Some(progress_trampoline);
    raw.progress_callback_user_data = &mut callbacks.progress as *mut ProgressFn<'_> as *mut c_void;
    let n_samples = samples.len().min(c_int::MAX as usize) as c_int;
    // SAFETY: the pointers come from whisper.cpp for a state that is still alive (RawState's
    // contract); the strings live in `params` and the callbacks' data in `callbacks`, both
    // borrowed for the whole call; `samples` holds `n_samples` floats.
    unsafe {
        sys::whisper_full_with_state(state.ctx, state.state, raw, samples.as_ptr(), n_samples)
    }
}
