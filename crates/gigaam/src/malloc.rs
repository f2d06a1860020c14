//! Keeps the memory of ONNX Runtime's large, short-lived buffers from staying with the process.
//!
//! glibc serves a large allocation with its own mapping, returned to the system when it is
//! freed, but each such free raises the size from which it does so (up to 32 MiB): after the
//! first runs, ONNX Runtime's buffers of a few MiB come from the heap, whose freed middle is
//! not returned. A GigaAM transcription's peak then landed on one of two levels 113 MiB apart
//! from run to run of the same file (BENCHMARKS.md, "Memory that stays flat for any length");
//! with the threshold fixed at glibc's starting 128 KiB, on the lower one every time, as fast.
//! Whisper is not helped (its peak is the same) and lost time with it (base, 600 s: 31.3 s
//! against 26.6 s, medians of 2), so this is set only where ONNX Runtime is started.

/// glibc's own starting threshold, kept instead of raised.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes glibc's mmap threshold at [`THRESHOLD`], unless the user set it
/// (`MALLOC_MMAP_THRESHOLD_` or a `glibc.malloc` tunable); elsewhere, nothing.
pub(crate) fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
        if !chosen {
            // SAFETY: mallopt only changes the allocator's parameters (under its own lock);
            // it takes no pointers.
            #[allow(unsafe_code)]
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
            }
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Bytes glibc holds in its own mappings now.
    #[allow(unsafe_code)]
    fn mapped() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    #[test]
    fn a_large_buffer_freed_once_still_gets_a_mapping_of_its_own_the_next_time() {
        super::return_large_buffers();
        let size = 8 << 20;
        // Freeing a mapped buffer is what used to raise the threshold past its size.
        drop(std::hint::black_box(vec![1u8; size]));
        let before = mapped();
        let again = std::hint::black_box(vec![1u8; size]);
        let during = mapped();
        drop(again);
        assert!(
            during >= before + size,
            "the second {size} bytes came from the heap: mapped {before} then {during}"
        );
    }
}
