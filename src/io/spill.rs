//! Spill files: partitions of the partitioned plan (`stages::partition`)
//! that do not fit the memory budget, written to a temporary directory in
//! the output directory and read back when their partition is processed.
//!
//! One file per partition and kind (`lines-00007.bin`), each piece
//! appended as it is spilled: its vectors one after the other, each as a
//! length and its values' bytes in this machine's byte order. The files
//! live only while the run does, are read only by this binary (the run's
//! own process, or the executors of a cluster run, which must share the
//! byte order) and are never published, so the format is the vectors' own
//! memory: no encoding step, and reading one back is a single copy (an
//! Arrow IPC file would convert each vector to an array and back).
//!
//! The directory (`.spill-PID-N`) is removed when the run ends, and any a
//! killed run left behind is swept by the next run, under the output
//! lock ([`sweep_spill_dirs`]).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::stages::partition::{KeyBytes, LinePart, OrderPart, Part, SpillStore};

const PREFIX: &str = ".spill-";

/// The kind of the line partitions' files; a cluster's executors read
/// them by this name ([`part_file`]).
pub const LINES: &str = "lines";
/// The kind of the order partitions' files.
pub const ORDERS: &str = "orders";

/// The file of partition `partition`'s pieces of kind `kind` in `dir`
/// (`lines-00007.bin`).
pub fn part_file(dir: &Path, kind: &str, partition: usize) -> PathBuf {
    dir.join(format!("{kind}-{partition:05}.bin"))
}

/// A run's spill directory; removed with everything in it when dropped.
pub struct SpillDir {
    path: PathBuf,
    /// Bytes written to the files in all (the run reports it).
    written: AtomicU64,
}

impl SpillDir {
    /// Creates `.spill-PID-N` in `parent` (the output directory), N
    /// counting the runs of this process (library users may compute
    /// several at once).
    pub fn create(parent: &Path) -> Result<SpillDir> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{PREFIX}{}-{run}", std::process::id()));
        // A directory of this name is a leftover of an earlier process
        // with the same pid: no live run uses it.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| spill_error(&path, e))?;
        Ok(SpillDir {
            path,
            written: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// The store of one kind of part (`lines`, `orders`).
    pub fn store<T>(&self, kind: &'static str) -> SpillFiles<'_, T> {
        SpillFiles {
            dir: self,
            kind,
            _part: std::marker::PhantomData,
        }
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the spill directories killed runs left in `out_dir`. Call it
/// holding the output lock: then no live run owns one.
pub fn sweep_spill_dirs(out_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(out_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.strip_prefix(PREFIX).is_some_and(|rest| {
            rest.split_once('-').is_some_and(|(pid, run)| {
                let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
                digits(pid) && digits(run)
            })
        });
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if ours && is_dir {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The spill files of one kind of part in a [`SpillDir`].
pub struct SpillFiles<'d, T> {
    dir: &'d SpillDir,
    kind: &'static str,
    _part: std::marker::PhantomData<fn() -> T>,
}

impl<T> SpillFiles<'_, T> {
    fn file(&self, partition: usize) -> PathBuf {
        part_file(&self.dir.path, self.kind, partition)
    }

    /// Appends `pieces` to `partition`'s file, opened once; returns the
    /// bytes written.
    fn append(&self, partition: usize, pieces: &[T]) -> Result<u64>
    where
        T: Spillable,
    {
        let path = self.file(partition);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| spill_error(&path, e))?;
        write_to(file, &path, pieces)
    }
}

impl<T: Part + Spillable> SpillStore<T> for SpillFiles<'_, T> {
    fn put(&self, partition: usize, piece: &T) -> Result<()> {
        let written = self.append(partition, std::slice::from_ref(piece))?;
        self.dir.written.fetch_add(written, Ordering::Relaxed);
        crate::faults::crash_point("spill::piece_written");
        Ok(())
    }

    fn hand_over(&self, partition: usize, pieces: &[T]) -> Result<()> {
        if !pieces.is_empty() {
            self.append(partition, pieces)?;
        }
        Ok(())
    }

    fn take(&self, partition: usize) -> Result<Vec<T>> {
        let path = self.file(partition);
        let pieces = read_pieces(&path)?;
        if !pieces.is_empty() {
            std::fs::remove_file(&path).map_err(|e| spill_error(&path, e))?;
            crate::faults::crash_point("spill::partition_read");
        }
        Ok(pieces)
    }
}

/// The pieces in the spill file `path`, in the order they were written;
/// none when there is no such file.
pub fn read_pieces<T: Spillable>(path: &Path) -> Result<Vec<T>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(spill_error(path, e)),
    };
    // The retry test: a read that fails once on an executor.
    crate::faults::io_point("spill::read").map_err(|e| spill_error(path, e))?;
    let size = file.metadata().map_err(|e| spill_error(path, e))?.len();
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut pieces = Vec::new();
    let mut read = 0;
    while read < size {
        let (piece, bytes) = T::read(&mut input).map_err(|e| spill_error(path, e))?;
        pieces.push(piece);
        read += bytes;
    }
    Ok(pieces)
}

/// Writes `piece` as the whole spill file `path`, through a temporary
/// file renamed into place, so a reader never sees half of it (a task
/// that runs again rewrites it). Returns the bytes written.
pub fn write_whole<T: Spillable>(path: &Path, piece: &T) -> Result<u64> {
    let staged = path.with_extension("partial");
    let file = File::create(&staged).map_err(|e| spill_error(&staged, e))?;
    let written = write_to(file, &staged, std::slice::from_ref(piece))?;
    std::fs::rename(&staged, path).map_err(|e| spill_error(path, e))?;
    Ok(written)
}

/// Writes `pieces` to `file` (at `path`, for errors); returns the bytes
/// written.
fn write_to<T: Spillable>(file: File, path: &Path, pieces: &[T]) -> Result<u64> {
    let mut out = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
    };
    pieces
        .iter()
        .try_for_each(|piece| piece.write(&mut out))
        .and_then(|()| out.inner.flush())
        .map_err(|e| spill_error(path, e))?;
    Ok(out.written)
}

/// A piece in the spill format, as bytes (what the cluster engine sends
/// between tasks).
pub fn piece_bytes<T: Spillable>(piece: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    piece
        .write(&mut bytes)
        .expect("writing to memory does not fail");
    bytes
}

/// A piece back from [`piece_bytes`]; `None` when `bytes` do not hold
/// exactly one.
pub fn piece_from_bytes<T: Spillable>(mut bytes: &[u8]) -> Option<T> {
    let total = bytes.len() as u64;
    match T::read(&mut bytes) {
        Ok((piece, read)) if read == total => Some(piece),
        _ => None,
    }
}

/// A spill file's I/O error (a full disk, mostly), naming the file.
/// A spill file's error, its I/O error kept as the source: on a cluster's
/// executor that makes the task one the scheduler may run again (a file
/// on a shared directory can fail to read on one machine and not on
/// another).
fn spill_error(path: &Path, e: std::io::Error) -> Error {
    Error::io(
        format!(
            "output `{}`: cannot use the spill file (partitions that exceed the memory budget)",
            crate::error::shown_path(path)
        ),
        e,
    )
}

/// A writer that counts the bytes through it.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A part as a sequence of vectors.
pub trait Spillable: Sized {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()>;
    /// One piece and the bytes it took.
    fn read(input: &mut impl Read) -> std::io::Result<(Self, u64)>;
}

fn put_vec<T: Pod>(out: &mut impl Write, values: &[T]) -> std::io::Result<()> {
    out.write_all(&(values.len() as u64).to_ne_bytes())?;
    out.write_all(bytemuck::cast_slice(values))
}

/// Reads one vector written by [`put_vec`], counting its bytes in `read`.
fn get_vec<T: Pod>(input: &mut impl Read, read: &mut u64) -> std::io::Result<Vec<T>> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let len = u64::from_ne_bytes(len) as usize;
    let mut values = vec![T::zeroed(); len];
    input.read_exact(bytemuck::cast_slice_mut(&mut values))?;
    *read += 8 + (len * std::mem::size_of::<T>()) as u64;
    Ok(values)
}

fn put_dimensions(out: &mut impl Write, dimensions: &[Vec<u32>]) -> std::io::Result<()> {
    out.write_all(&(dimensions.len() as u64).to_ne_bytes())?;
    dimensions.iter().try_for_each(|d| put_vec(out, d))
}

fn get_dimensions(input: &mut impl Read, read: &mut u64) -> std::io::Result<Vec<Vec<u32>>> {
    let mut count = [0u8; 8];
    input.read_exact(&mut count)?;
    *read += 8;
    (0..u64::from_ne_bytes(count))
        .map(|_| get_vec(input, read))
        .collect()
}

fn put_keys(out: &mut impl Write, keys: &KeyBytes) -> std::io::Result<()> {
    put_vec(out, &keys.len)?;
    put_vec(out, &keys.bytes)
}

fn get_keys(input: &mut impl Read, read: &mut u64) -> std::io::Result<KeyBytes> {
    Ok(KeyBytes {
        len: get_vec(input, read)?,
        bytes: get_vec(input, read)?,
    })
}

impl Spillable for LinePart {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        put_vec(out, &self.line)?;
        let rejected: Vec<u8> = self.rejected.iter().map(|&r| r as u8).collect();
        put_vec(out, &rejected)?;
        put_vec(out, &self.ts_micros)?;
        put_vec(out, &self.day)?;
        put_vec(out, &self.cents)?;
        put_vec(out, &self.line_hash)?;
        put_dimensions(out, &self.dimensions)?;
        put_keys(out, &self.customer)?;
        put_keys(out, &self.order)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(LinePart, u64)> {
        let mut read = 0;
        let part = LinePart {
            line: get_vec(input, &mut read)?,
            rejected: get_vec::<u8>(input, &mut read)?
                .into_iter()
                .map(|r| r != 0)
                .collect(),
            ts_micros: get_vec(input, &mut read)?,
            day: get_vec(input, &mut read)?,
            cents: get_vec(input, &mut read)?,
            line_hash: get_vec(input, &mut read)?,
            dimensions: get_dimensions(input, &mut read)?,
            customer: get_keys(input, &mut read)?,
            order: get_keys(input, &mut read)?,
        };
        Ok((part, read))
    }
}

impl Spillable for OrderPart {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        put_keys(out, &self.customer)?;
        put_vec(out, &self.day)?;
        put_vec(out, &self.ts_micros)?;
        put_vec(out, &self.cents)?;
        put_vec(out, &self.first_line)?;
        put_vec(out, &self.line_count)?;
        put_vec(out, &self.lines)?;
        put_dimensions(out, &self.dimensions)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(OrderPart, u64)> {
        let mut read = 0;
        let part = OrderPart {
            customer: get_keys(input, &mut read)?,
            day: get_vec(input, &mut read)?,
            ts_micros: get_vec(input, &mut read)?,
            cents: get_vec(input, &mut read)?,
            first_line: get_vec(input, &mut read)?,
            line_count: get_vec(input, &mut read)?,
            lines: get_vec(input, &mut read)?,
            dimensions: get_dimensions(input, &mut read)?,
        };
        Ok((part, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_part(first: u32) -> LinePart {
        let mut part = LinePart {
            line: vec![first, first + 3],
            rejected: vec![false, true],
            ts_micros: vec![-5, i64::MAX],
            day: vec![i32::MIN, 7],
            cents: vec![-100, 250],
            line_hash: vec![1, u64::MAX],
            dimensions: vec![vec![0, u32::MAX], vec![2, 1]],
            ..Default::default()
        };
        part.customer.push(b"c-1");
        part.customer.push(b"");
        part.order.push("ünïcode order".as_bytes());
        part.order.push(b"o2");
        part
    }

    #[test]
    fn pieces_come_back_in_order_and_the_files_go() {
        let out = std::env::temp_dir().join(format!("spill-test-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let dir = SpillDir::create(&out).unwrap();
        let store = dir.store::<LinePart>("lines");
        store.put(3, &line_part(0)).unwrap();
        store.put(3, &line_part(10)).unwrap();
        store.put(5, &LinePart::default()).unwrap();
        assert!(dir.written() > 0);
        assert_eq!(store.take(3).unwrap(), vec![line_part(0), line_part(10)]);
        assert_eq!(store.take(5).unwrap(), vec![LinePart::default()]);
        assert_eq!(store.take(3).unwrap(), Vec::<LinePart>::new());
        let orders = dir.store::<OrderPart>("orders");
        let mut order = OrderPart::with_dimensions(1);
        order.customer.push(b"c");
        order.day.push(3);
        order.ts_micros.push(4);
        order.cents.push(5);
        order.first_line.push(6);
        order.line_count.push(2);
        order.lines.extend([6, 9]);
        order.dimensions[0].push(1);
        orders.put(0, &order).unwrap();
        assert_eq!(orders.take(0).unwrap(), vec![order]);
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn sweep_removes_only_spill_directories() {
        let out = std::env::temp_dir().join(format!("spill-sweep-{}", std::process::id()));
        for name in [".spill-123-0", ".spill-123", ".spill-x-1", "runs"] {
            std::fs::create_dir_all(out.join(name)).unwrap();
        }
        std::fs::write(out.join(".spill-9-0"), b"a file").unwrap();
        sweep_spill_dirs(&out);
        assert!(!out.join(".spill-123-0").exists());
        for kept in [".spill-123", ".spill-x-1", "runs", ".spill-9-0"] {
            assert!(out.join(kept).exists(), "{kept}");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
