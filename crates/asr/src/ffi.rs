//! Every `unsafe` block of rech-asr lives here: the C callbacks that whisper.cpp calls during
//! `whisper_full` for progress and cancellation; and for the Silero VAD network (`silero.rs`), a
//! bounds-checked matrix product over `matrixmultiply`'s raw-pointer `sgemm`, and the switch to
//! a build of its loops that uses AVX2 when the CPU has it.
//!
//! whisper-rs's own `set_abort_callback_safe` reads its boxed closure with the wrong type (see
//! DESIGN.md), and its safe progress callback leaks a box per call, so we install plain
//! `extern "C"` trampolines whose user data points at values that outlive the call.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use whisper_rs::FullParams;

use crate::silero::{LstmState, Scratch, Silero};

/// A progress sink whisper.cpp can call: it receives whole percents.
pub(crate) type ProgressFn<'a> = &'a mut dyn FnMut(i32);

/// Makes whisper.cpp stop as soon as `flag` is raised.
///
/// The caller must keep `flag` alive until `whisper_full` has returned; the transcriber holds
/// it in an `Arc` for the whole call.
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

/// A row-major matrix inside a slice: `rows` × `cols` values, element (i, j) at
/// `offset + i * row_stride + j`. Rows may be further apart than `cols` (a column range of a
/// wider matrix, or every second row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MatrixView {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

impl MatrixView {
    /// Whether every element lies inside a slice of `len` values.
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return self.offset <= len;
        }
        (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|v| v.checked_add(self.offset))
            .and_then(|v| v.checked_add(self.cols))
            .is_some_and(|end| end <= len && end <= isize::MAX as usize)
    }
}

/// `c = a · bᵀ` over views: `a` is m × k, `b` is n × k (so bᵀ is k × n), `c` is m × n; what
/// `c` held is overwritten. Runs `matrixmultiply`'s `sgemm`, which picks AVX2/FMA kernels at run
/// time.
///
/// # Panics
///
/// When the views' shapes disagree, a view reaches outside its slice, or rows of `c` overlap:
/// bugs in the caller, which only passes the fixed shapes of the Silero network.
pub(crate) fn matmul_bt(
    a: &[f32],
    av: MatrixView,
    b: &[f32],
    bv: MatrixView,
    c: &mut [f32],
    cv: MatrixView,
) {
    let (m, k, n) = (av.rows, av.cols, bv.rows);
    assert!(
        bv.cols == k
            && cv.rows == m
            && cv.cols == n
            && av.fits(a.len())
            && bv.fits(b.len())
            && cv.fits(c.len())
            && (m <= 1 || cv.row_stride >= n),
        "matmul_bt: views {av:?} · {bv:?}ᵀ -> {cv:?} do not fit slices of {}, {} and {}",
        a.len(),
        b.len(),
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for row in 0..m {
            let at = cv.offset + row * cv.row_stride;
            c[at..at + n].fill(0.0);
        }
        return;
    }
    // The views fit in their slices (checked above), so these strides fit in isize.
    let (rsa, rsb, rsc) = (
        av.row_stride as isize,
        bv.row_stride as isize,
        cv.row_stride as isize,
    );
    // SAFETY: every element sgemm touches is inside its slice: `a` is read as m rows of k values
    // from `av.offset` (row stride rsa, column stride 1), `b` as the k × n matrix bᵀ, that is n
    // rows of k values from `bv.offset` (row stride 1, column stride rsb), and `c` is written as
    // m rows of n values from `cv.offset` (row stride rsc, column stride 1) — all checked above
    // by `fits`. `c` is a unique borrow, so it aliases neither `a` nor `b`; its rows do not
    // overlap (checked above); with beta = 0 sgemm does not read `c`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr().add(av.offset),
            rsa,
            1,
            b.as_ptr().add(bv.offset),
            1,
            rsb,
            0.0,
            c.as_mut_ptr().add(cv.offset),
            rsc,
            1,
        );
    }
}

/// Runs [`Silero::run_block`], compiled with AVX2 enabled when the CPU has it: its loops (the
/// LSTM's matrix-vector product, activations, f16 rounding) then run 8 lanes wide instead of 4,
/// and the result is the same (the lanes are independent; no fused multiply-adds are enabled).
pub(crate) fn run_vectorised(
    model: &Silero,
    samples: &[f32],
    state: &mut LstmState,
    scratch: &mut Scratch,
    out: &mut Vec<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn run_block_avx2(
            model: &Silero,
            samples: &[f32],
            state: &mut LstmState,
            scratch: &mut Scratch,
            out: &mut Vec<f32>,
        ) {
            model.run_block_inline(samples, state, scratch, out);
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), which is all that calling a
            // function compiled with `target_feature(enable = "avx2")` requires; the function
            // itself is safe Rust.
            unsafe { run_block_avx2(model, samples, state, scratch, out) };
            return;
        }
    }
    model.run_block(samples, state, scratch, out);
}
