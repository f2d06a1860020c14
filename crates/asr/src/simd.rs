//! Every `unsafe` block of rech-asr lives here, for the Silero VAD network (`silero.rs`): a
//! bounds-checked matrix product over `matrixmultiply`'s raw-pointer `sgemm`, and the switch to
//! a build of the network's loops that uses AVX2 when the CPU has it. Nothing here knows the
//! network: it runs any [`Kernel`].

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

/// Work whose loops are worth compiling twice, once for AVX2: its [`Kernel::run`] and everything
/// it calls must be `#[inline(always)]`, so that the copy inside [`run_with_avx2`] is compiled
/// with the feature enabled.
pub(crate) trait Kernel {
    /// Does the work.
    fn run(&mut self);
}

/// Runs `kernel`, compiled with AVX2 enabled when the CPU has it: loops then run 8 lanes wide
/// instead of 4, and the result is the same (the lanes are independent; no fused multiply-adds
/// are enabled).
pub(crate) fn run_with_avx2<K: Kernel>(kernel: &mut K) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn run_avx2<K: Kernel>(kernel: &mut K) {
            kernel.run();
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), which is all that calling a
            // function compiled with `target_feature(enable = "avx2")` requires; the function
            // itself is safe Rust.
            unsafe { run_avx2(kernel) };
            return;
        }
    }
    kernel.run();
}
