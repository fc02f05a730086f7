//! Every CLV, sorted, in the spill directory when the per-customer results
//! are spilled (`stages::clv_scores`): held, the CLVs take 8 bytes a
//! customer (1.5 GB at 1 B orders), and the target lists need them only
//! for the rank of a few listed customers and two thresholds. Each
//! customer partition's CLVs are written sorted as a run; once every
//! partition is scored the runs are merged into one file, and a rank is
//! read back a block at a time, where an index of each block's first
//! value (held: 1/256 of the file) points.
//!
//! The files are raw values in this machine's byte order, never
//! compressed, whatever the spill directory does: a rank is one read at
//! an offset known without reading anything before it.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::spill::{part_file, SpillDir};
use crate::stages::clv_scores::{ClvRunStore, SortedClvs};
use crate::stages::order_statistics::total_order_bits;

/// The kind of the customer partitions' sorted CLVs.
pub const CLV_RUNS: &str = "clv-run";
/// The file of every CLV, sorted.
const SORTED_FILE: &str = "clv-sorted.bin";
/// The first value of each of its blocks, for a cluster's executors,
/// which open the sorted file by its path ([`open_sorted`]).
const FIRSTS_FILE: &str = "clv-sorted-firsts.bin";

/// Values of a block, the unit read back for a rank: 2 KiB.
const BLOCK_VALUES: usize = 256;

/// Values of all the runs held at once while they are merged: each run
/// reads this divided by the number of runs at a time (at least
/// [`BLOCK_VALUES`]), so many partitions do not multiply what the merge
/// holds.
const MERGE_VALUES: usize = 1 << 20;

/// The sorted CLVs' files in a spill directory.
pub struct ClvRunFiles {
    dir: Arc<SpillDir>,
}

impl ClvRunFiles {
    pub fn new(dir: Arc<SpillDir>) -> ClvRunFiles {
        ClvRunFiles { dir }
    }
}

/// Writes partition `part`'s sorted CLVs as its run in the spill
/// directory `dir`, through a temporary file renamed into place (a
/// cluster's task that runs again rewrites it); the bytes written.
pub fn write_run(dir: &Path, part: usize, sorted: &[f64]) -> Result<u64> {
    let path = part_file(dir, CLV_RUNS, part);
    let staged = path.with_extension("partial");
    let mut out = File::create(&staged).map_err(|e| clv_error(&staged, e))?;
    out.write_all(bytemuck::cast_slice(sorted))
        .map_err(|e| clv_error(&staged, e))?;
    std::fs::rename(&staged, &path).map_err(|e| clv_error(&path, e))?;
    Ok(std::mem::size_of_val(sorted) as u64)
}

impl ClvRunStore for ClvRunFiles {
    fn put_run(&self, part: usize, sorted: &[f64]) -> Result<()> {
        let written = write_run(self.dir.path(), part, sorted)?;
        self.dir.add_written(written);
        crate::faults::crash_point("spill::clv_run_written");
        Ok(())
    }

    fn merged(&self, runs: usize) -> Result<Box<dyn SortedClvs>> {
        let paths: Vec<PathBuf> = (0..runs)
            .map(|p| part_file(self.dir.path(), CLV_RUNS, p))
            .collect();
        let path = self.dir.path().join(SORTED_FILE);
        let sorted = merge_runs(&paths, &path)?;
        let firsts = self.dir.path().join(FIRSTS_FILE);
        std::fs::write(&firsts, bytemuck::cast_slice(&sorted.firsts))
            .map_err(|e| clv_error(&firsts, e))?;
        self.dir
            .add_written(8 * (sorted.len + sorted.firsts.len()) as u64);
        for run in &paths {
            std::fs::remove_file(run).map_err(|e| clv_error(run, e))?;
        }
        crate::faults::crash_point("spill::clv_merged");
        Ok(Box::new(SortedClvFile {
            sorted,
            _dir: Some(Arc::clone(&self.dir)),
        }))
    }
}

/// Every CLV sorted, in the files the client's merge wrote in the spill
/// directory `dir`: how a cluster's executor reads the CLVs' ranks.
pub fn open_sorted(dir: &Path) -> Result<Box<dyn SortedClvs>> {
    let path = dir.join(SORTED_FILE);
    let file = File::open(&path).map_err(|e| clv_error(&path, e))?;
    let bytes = file.metadata().map_err(|e| clv_error(&path, e))?.len();
    let firsts_path = dir.join(FIRSTS_FILE);
    let firsts = std::fs::read(&firsts_path).map_err(|e| clv_error(&firsts_path, e))?;
    let len = (bytes / 8) as usize;
    if bytes % 8 != 0 || firsts.len() % 8 != 0 || firsts.len() / 8 != len.div_ceil(BLOCK_VALUES) {
        let e = std::io::Error::other("its size does not match its blocks' first values");
        return Err(clv_error(&path, e));
    }
    let firsts = firsts
        .chunks_exact(8)
        .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let sorted = SortedFile {
        file,
        path,
        len,
        firsts,
    };
    Ok(Box::new(SortedClvFile { sorted, _dir: None }))
}

/// The merged file, open, and each block's first value.
struct SortedFile {
    file: File,
    path: PathBuf,
    len: usize,
    firsts: Vec<f64>,
}

/// Every CLV sorted in a spill file, which lives as long as this does
/// (the client's; an executor's does not own the directory).
struct SortedClvFile {
    sorted: SortedFile,
    _dir: Option<Arc<SpillDir>>,
}

impl SortedClvs for SortedClvFile {
    fn count(&self) -> usize {
        self.sorted.len
    }

    fn count_below(&self, clv: f64) -> Result<usize> {
        let s = &self.sorted;
        // Every value before the last block that starts below `clv` is
        // below it, and every value after that block is not.
        let starting_below = s.firsts.partition_point(|x| x.total_cmp(&clv).is_lt());
        let Some(block) = starting_below.checked_sub(1) else {
            return Ok(0);
        };
        let start = block * BLOCK_VALUES;
        let mut values = [0f64; BLOCK_VALUES];
        let values = &mut values[..BLOCK_VALUES.min(s.len - start)];
        s.read_at(start, values)?;
        Ok(start + values.partition_point(|x| x.total_cmp(&clv).is_lt()))
    }

    fn at_rank(&self, rank: usize) -> Result<f64> {
        let mut value = [0f64];
        self.sorted.read_at(rank, &mut value)?;
        Ok(value[0])
    }
}

impl SortedFile {
    /// Fills `values` from the file's values from `start` on.
    fn read_at(&self, start: usize, values: &mut [f64]) -> Result<()> {
        self.file
            .read_exact_at(bytemuck::cast_slice_mut(values), 8 * start as u64)
            .map_err(|e| clv_error(&self.path, e))
    }
}

/// One run being merged: the values read and not yet taken, and the file.
struct RunReader {
    file: File,
    path: PathBuf,
    /// Values in the file not read yet.
    unread: usize,
    buffer: Vec<f64>,
    next: usize,
}

impl RunReader {
    fn open(path: &Path, buffer_values: usize) -> Result<RunReader> {
        let file = File::open(path).map_err(|e| clv_error(path, e))?;
        let bytes = file.metadata().map_err(|e| clv_error(path, e))?.len();
        Ok(RunReader {
            file,
            path: path.to_path_buf(),
            unread: (bytes / 8) as usize,
            buffer: Vec::with_capacity(buffer_values),
            next: 0,
        })
    }

    /// The run's next value, reading the next buffer when this one is
    /// taken.
    fn peek(&mut self) -> Result<Option<f64>> {
        if self.next == self.buffer.len() {
            let count = self.unread.min(self.buffer.capacity());
            self.buffer.resize(count, 0.0);
            let bytes = bytemuck::cast_slice_mut(&mut self.buffer);
            self.file
                .read_exact(bytes)
                .map_err(|e| clv_error(&self.path, e))?;
            self.unread -= count;
            self.next = 0;
        }
        Ok(self.buffer.get(self.next).copied())
    }
}

/// Merges the sorted runs in `runs` into the file `path`: a heap of the
/// runs' next values, keyed by their order as integers.
fn merge_runs(runs: &[PathBuf], path: &Path) -> Result<SortedFile> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let buffer_values = (MERGE_VALUES / runs.len().max(1)).max(BLOCK_VALUES);
    let mut readers = runs
        .iter()
        .map(|run| RunReader::open(run, buffer_values))
        .collect::<Result<Vec<_>>>()?;
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (r, reader) in readers.iter_mut().enumerate() {
        if let Some(x) = reader.peek()? {
            heap.push(Reverse((total_order_bits(x), r)));
        }
    }
    let file = File::create(path).map_err(|e| clv_error(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, &file);
    let (mut len, mut firsts) = (0, Vec::new());
    while let Some(Reverse((_, r))) = heap.pop() {
        let reader = &mut readers[r];
        let x = reader.buffer[reader.next];
        reader.next += 1;
        if len % BLOCK_VALUES == 0 {
            firsts.push(x);
        }
        out.write_all(&x.to_ne_bytes())
            .map_err(|e| clv_error(path, e))?;
        len += 1;
        if let Some(next) = reader.peek()? {
            heap.push(Reverse((total_order_bits(next), r)));
        }
    }
    out.flush().map_err(|e| clv_error(path, e))?;
    drop(out);
    let file = File::open(path).map_err(|e| clv_error(path, e))?;
    Ok(SortedFile {
        file,
        path: path.to_path_buf(),
        len,
        firsts,
    })
}

fn clv_error(path: &Path, e: std::io::Error) -> Error {
    Error::io(
        format!(
            "output `{}`: cannot use the spill file of sorted CLVs (customers' CLV ranks beyond the memory budget)",
            crate::error::shown_path(path)
        ),
        e,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values with ties, both zeros and large magnitudes: where an order
    /// slip would show.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            prop::sample::select(vec![-2.5, -0.0, 0.0, 0.1, 1.25, 7.0, 1e300]),
            -1e6f64..1e6,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Against the values sorted in memory: runs of any sizes (empty
        /// ones and ones longer than a block among them) merged into the
        /// file give the same count below every value and a step between
        /// two, and the same value at every rank.
        #[test]
        fn the_merged_file_ranks_as_the_values_sorted_in_memory(
            runs in prop::collection::vec(prop::collection::vec(value(), 0..700), 0..6),
            probes in prop::collection::vec(value(), 0..20),
        ) {
            let out = tempfile::tempdir().unwrap();
            let dir = Arc::new(SpillDir::create(out.path(), false).unwrap());
            let files = ClvRunFiles::new(Arc::clone(&dir));
            for (p, run) in runs.iter().enumerate() {
                let mut run = run.clone();
                run.sort_unstable_by(f64::total_cmp);
                files.put_run(p, &run).unwrap();
            }
            let merged = files.merged(runs.len()).unwrap();
            // As the client's merge gives it, and as an executor opens it.
            let opened = open_sorted(dir.path()).unwrap();
            let mut all: Vec<f64> = runs.concat();
            all.sort_unstable_by(f64::total_cmp);
            let steps: Vec<f64> = all.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
            for sorted in [&merged, &opened] {
                prop_assert_eq!(sorted.count(), all.len());
                for (rank, x) in all.iter().enumerate() {
                    prop_assert_eq!(sorted.at_rank(rank).unwrap().to_bits(), x.to_bits());
                }
                for &probe in all.iter().chain(&probes).chain(&steps) {
                    let below = all.iter().filter(|x| x.total_cmp(&probe).is_lt()).count();
                    prop_assert_eq!(sorted.count_below(probe).unwrap(), below, "{}", probe);
                }
            }
            // The runs are gone; the merged file and its blocks' first
            // values stay while they are used.
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            prop_assert_eq!(left.len(), 2);
        }
    }
}
