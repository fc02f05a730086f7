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

/// `each` of the parts `0..count`, a few at a time in parallel (two a
/// thread), and `fold` of their results in part order: for what must be
/// added in order, without every part's result held at once.
pub fn fold_in_order<T: Send>(
    count: usize,
    each: impl Fn(usize) -> Result<T> + Sync,
    mut fold: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    use rayon::prelude::*;
    let parts: Vec<usize> = (0..count).collect();
    for window in parts.chunks(2 * rayon::current_num_threads()) {
        let done = window
            .par_iter()
            .map(|&p| each(p))
            .collect::<Result<Vec<_>>>()?;
        done.into_iter().try_for_each(&mut fold)?;
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
