//! What the allocator does with freed memory. The binary's global
//! allocator is mimalloc (`main.rs`), which by default gives freed pages
//! back to the system 10 ms after they empty. A run allocates and frees
//! chunk-sized buffers over and over (each input chunk's columns, its
//! checked lines, each row group being published), so every new buffer
//! was fresh pages that the kernel zeroes on first touch: measured at
//! 10 M orders, 14–24 % of the run's CPU samples were that zeroing, and
//! the system time varied from 2 to 9 s with the host's state.
//!
//! Keeping freed pages for reuse removes it (at 100 M orders the system
//! time fell from 111 to 63 s and the run from 207 to 180 s), but the
//! process then holds its high-water mark: the peak grew by 10–20 % (1.6
//! to 1.8 GiB at 10 M orders, 8.7 to 9.7 GiB at 100 M). So pages are kept
//! only when the budget has room for that (`run`); a run near its budget
//! keeps the default, which holds the peak within it.
//!
//! Whatever the budget, the process takes its memory in base pages, not
//! transparent huge pages (`use_base_pages`).

/// mimalloc's `mi_option_purge_delay`: its place in v3's `mi_option_e`
/// (`mimalloc.h`), which the Rust bindings do not name. Checked by its
/// effect: with -1 a 10 M-order run took 5 thousand minor page faults
/// instead of 100–200 thousand.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory is kept for reuse for the rest of the process (`keep`),
/// or given back after mimalloc's default delay. An explicit
/// `MIMALLOC_PURGE_DELAY` in the environment wins. With another global
/// allocator (the library's tests) this sets an option of an unused one.
pub fn keep_freed_memory(keep: bool) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    let delay_ms = if keep { -1 } else { 10 };
    // SAFETY: sets one option of the linked mimalloc; every value is
    // valid (-1: never purge).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay_ms) };
}

/// Turns transparent huge pages off for this process (Linux's
/// `PR_SET_THP_DISABLE`), before the run allocates anything large.
///
/// Why: mimalloc asks for huge pages on its arenas (`MADV_HUGEPAGE`), and
/// on a kernel whose `defrag` setting is the common `madvise`, a fault on
/// such memory compacts memory synchronously until a free 2 MiB page
/// exists, then zeroes all of it. A run faults in gigabytes of fresh
/// memory once and reads most of it a few times, so the TLB savings
/// never pay for that. Measured on the 2-core box, alternating runs: at
/// 10 M orders the system time fell from 6–7 s to 1.5–1.8 s; at 2 M
/// customers with CLV the whole run went from 15–18 s to 13.5–15.5 s and
/// the CLV stage from 3.2–4.0 s to 2.7–3.1 s.
///
/// `MIMALLOC_ALLOW_THP` in the environment wins (mimalloc reads it at
/// start). Elsewhere than Linux this does nothing.
pub fn use_base_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: a process-wide flag with no pointer argument; a kernel
    // without it returns EINVAL, and then the pages stay as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
