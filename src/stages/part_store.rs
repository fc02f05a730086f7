//! Where a stage's per-partition output goes when the memory budget cannot
//! hold all of it, and where it is read back from as often as later stages
//! ask: the order history's entries and the per-customer results.
//! `io::spill` writes them to the run's spill directory; stages never touch
//! the file system themselves.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;

/// One value per customer partition, put once and read back by index.
pub trait PartStore<T>: Send + Sync {
    fn put(&self, part: usize, value: &T) -> Result<()>;
    fn get(&self, part: usize) -> Result<T>;
}

/// `each` of the parts `0..count`, a few at a time in parallel, and `fold`
/// of their results in part order: for what must be added in order,
/// without every part's result held at once. The parts come in windows
/// of one a thread, and the next window is made while the one before is
/// folded, so a fold that takes its time (the CLV stage's unique rows,
/// the holdout's sums) does not leave the other cores waiting. At most
/// two windows' results are held: two a thread, as when each window was
/// made and then folded.
///
/// The first error in part order is returned, and no part from it on is
/// folded (one after it may have been made).
pub fn fold_in_order<T: Send>(
    count: usize,
    each: impl Fn(usize) -> Result<T> + Sync,
    mut fold: impl FnMut(T) -> Result<()> + Send,
) -> Result<()> {
    use rayon::prelude::*;
    let window = rayon::current_num_threads().max(1);
    let make = |w: usize| -> Result<Vec<T>> {
        (w * window..((w + 1) * window).min(count))
            .into_par_iter()
            .map(&each)
            .collect()
    };
    let windows = count.div_ceil(window);
    let mut made = match windows {
        0 => return Ok(()),
        _ => make(0)?,
    };
    for next in 1..=windows {
        let (folded, next_made) = rayon::join(
            || made.into_iter().try_for_each(&mut fold),
            || match next < windows {
                true => make(next),
                false => Ok(Vec::new()),
            },
        );
        folded?;
        made = next_made?;
    }
    Ok(())
}

/// The parts of a store read back last, kept for the readers that ask
/// for the same part again soon (the `customers` table asks for its rows
/// a piece at a time, several pieces a part, on every thread): at most
/// two a thread.
pub struct RecentParts<T> {
    kept: Mutex<VecDeque<(usize, Arc<T>)>>,
}

impl<T> Default for RecentParts<T> {
    fn default() -> Self {
        RecentParts {
            kept: Mutex::new(VecDeque::new()),
        }
    }
}

impl<T> RecentParts<T> {
    /// Part `p`: kept, or made by `read` and kept.
    pub fn get(&self, p: usize, read: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        if let Some((_, part)) = self.lock().iter().find(|(q, _)| *q == p) {
            return Ok(Arc::clone(part));
        }
        let part = Arc::new(read()?);
        let mut kept = self.lock();
        if kept.len() >= 2 * rayon::current_num_threads() {
            kept.pop_front();
        }
        kept.push_back((p, Arc::clone(&part)));
        Ok(part)
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(usize, Arc<T>)>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A part store in memory: what the spill files hold, for the stages' own
/// tests (the runs' tests use the files).
#[cfg(test)]
pub struct MemoryParts<T>(pub std::sync::Mutex<std::collections::HashMap<usize, T>>);

#[cfg(test)]
impl<T> Default for MemoryParts<T> {
    fn default() -> Self {
        MemoryParts(Default::default())
    }
}

#[cfg(test)]
impl<T: Clone + Send> PartStore<T> for MemoryParts<T> {
    fn put(&self, part: usize, value: &T) -> Result<()> {
        self.0.lock().unwrap().insert(part, value.clone());
        Ok(())
    }

    fn get(&self, part: usize) -> Result<T> {
        Ok(self.0.lock().unwrap()[&part].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::fold_in_order;
    use crate::error::Error;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Folds `count` parts whose results are their numbers, `fail_make`
    /// and `fail_fold` failing where they say; what was folded and the
    /// result, and the most results held (made, not yet folded) at once.
    fn fold_parts(
        count: usize,
        fail_make: Option<usize>,
        fail_fold: Option<usize>,
    ) -> (Vec<usize>, Result<(), String>, usize) {
        let (held, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut folded = Vec::new();
        let result = fold_in_order(
            count,
            |p| {
                if Some(p) == fail_make {
                    return Err(Error::Usage(format!("make {p}")));
                }
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                Ok(p)
            },
            |p| {
                held.fetch_sub(1, Ordering::SeqCst);
                if Some(p) == fail_fold {
                    return Err(Error::Usage(format!("fold {p}")));
                }
                folded.push(p);
                Ok(())
            },
        );
        let result = result.map_err(|e| e.to_string());
        (folded, result, most.into_inner())
    }

    #[test]
    fn every_part_is_folded_once_in_order_with_two_windows_held_at_most() {
        let threads = rayon::current_num_threads();
        for count in [0, 1, 2, 3, 7, 64, 65] {
            let (folded, result, most) = fold_parts(count, None, None);
            assert_eq!(folded, (0..count).collect::<Vec<_>>(), "{count} parts");
            assert!(result.is_ok());
            assert!(
                most <= 2 * threads,
                "{most} results held, {threads} threads"
            );
        }
    }

    #[test]
    fn the_first_error_in_part_order_is_returned_and_nothing_after_it_folded() {
        for (count, fail_make, fail_fold, first_error) in [
            (10, Some(6), Some(3), "fold 3"),
            (10, Some(3), Some(6), "make 3"),
            (10, Some(0), None, "make 0"),
            (10, None, Some(9), "fold 9"),
        ] {
            let (folded, result, _) = fold_parts(count, fail_make, fail_fold);
            let error = result.expect_err("a part fails");
            assert!(error.contains(first_error), "{error}");
            // Nothing from the failing part on is folded; a failed make
            // leaves the earlier parts of its window unfolded too.
            let stop = fail_make.into_iter().chain(fail_fold).min().unwrap();
            assert_eq!(folded, (0..folded.len()).collect::<Vec<_>>());
            match first_error.starts_with("fold") {
                true => assert_eq!(folded.len(), stop),
                false => assert!(folded.len() <= stop),
            }
        }
    }
}
