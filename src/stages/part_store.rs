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
