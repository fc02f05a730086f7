//! Where a stage's per-partition output goes when the memory budget cannot
//! hold all of it, and where it is read back from as often as later stages
//! ask: the order history's entries and the per-customer results.
//! `io::spill` writes them to the run's spill directory; stages never touch
//! the file system themselves.

use crate::error::Result;

/// One value per customer partition, put once and read back by index.
pub trait PartStore<T>: Send + Sync {
    fn put(&self, part: usize, value: &T) -> Result<()>;
    fn get(&self, part: usize) -> Result<T>;
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
