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
//! transparent huge pages, but for a large input (`use_huge_pages`).

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

/// Turns transparent huge pages on or off for this process (Linux's
/// `PR_SET_THP_DISABLE`); it applies to the faults that follow. The
/// binary turns them off at start, and a run turns them back on for a
/// large input (`run`).
///
/// Why off: mimalloc asks for huge pages on its arenas (`MADV_HUGEPAGE`),
/// and on a kernel whose `defrag` setting is the common `madvise`, a fault
/// on such memory compacts memory synchronously until a free 2 MiB page
/// exists, then zeroes all of it. Measured on the 2-core box, alternating
/// runs: at 10 M orders base pages cut the system time from 6–7 s to
/// 1.5–1.8 s and the run to 0.89× its time; at 2 M customers with CLV the
/// run to 0.86× (the CLV stage from 3.6 s to 2.8 s).
///
/// Why on for a large input: at 100 M orders the interner's and the
/// orders' tables span gigabytes and are read in random order, so base
/// pages miss the TLB on nearly every access and cost 2.5 million more
/// faults; there huge pages took 0.85× and 0.95× the time (two pairs), the
/// system time 32–55 s against 56–57 s.
///
/// `MIMALLOC_ALLOW_THP` in the environment wins (mimalloc reads it at
/// start): this then does nothing. Elsewhere than Linux it does nothing.
pub fn use_huge_pages(huge: bool) {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: a process-wide flag with no pointer argument; a kernel
    // without it returns EINVAL, and then the pages stay as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, u64::from(!huge), 0, 0, 0);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::use_huge_pages;

    /// The kernel's own word on this process (`THP_enabled` in
    /// /proc/self/status, Linux 5.0 and later).
    fn huge_pages_enabled() -> Option<bool> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
        Some(line.split_whitespace().nth(1)? == "1")
    }

    #[test]
    fn huge_pages_are_turned_off_and_back_on_for_the_process() {
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() || huge_pages_enabled().is_none() {
            return;
        }
        use_huge_pages(false);
        assert_eq!(huge_pages_enabled(), Some(false));
        use_huge_pages(true);
        assert_eq!(huge_pages_enabled(), Some(true));
    }
}
