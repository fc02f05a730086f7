//! Spill files: partitions of the partitioned plan (`stages::partition`)
//! that do not fit the memory budget, written to a temporary directory in
//! the output directory and read back when their partition is processed.
//!
//! One file per partition and kind (`lines-00007.bin`), each piece
//! appended as it is spilled: its vectors one after the other, each as a
//! codec byte, a length and its values' bytes in this machine's byte
//! order, raw or compressed by zstd a frame at a time. The files live only
//! while the run does, are read only by this binary (the run's own
//! process, or the executors of a cluster run, which must share the byte
//! order) and are never published, so the format is the vectors' own
//! memory: no encoding step, and reading a raw one back is a single copy
//! (an Arrow IPC file would convert each vector to an array and back).
//! Compression costs CPU time and buys disk: a directory compresses when
//! the run's spill might not fit the free disk space otherwise (the run
//! decides, `SpillDir::create`); each vector says how it was written, so
//! a reader needs no setting.
//!
//! The directory (`.spill-PID-N`) is removed when the run ends, and any a
//! killed run left behind is swept by the next run, under the output
//! lock ([`sweep_spill_dirs`]).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::CustomerSummary;
use crate::stages::nps::checked::CheckedRows;
use crate::stages::orders::{CustomerIds, PartEntries};
use crate::stages::part_store::PartStore;
use crate::stages::partition::{KeyBytes, LinePart, OrderPart, Part, SpillStore};
use crate::stages::per_customer::{CustomerPart, ResultStore};
use crate::stages::tiers::CustomerTiers;

const PREFIX: &str = ".spill-";

/// The kind of the line partitions' files; a cluster's executors read
/// them by this name ([`part_file`]).
pub const LINES: &str = "lines";
/// The kind of the order partitions' files.
pub const ORDERS: &str = "orders";
/// The kind of the customer partitions' history files.
pub const HISTORY: &str = "history";
/// The kind of the customer partitions' per-customer results.
pub const CUSTOMERS: &str = "customers";
/// The kind of the customer partitions' customer ids, kept apart from
/// their history's entries.
pub const IDS: &str = "ids";
/// The kinds of the customer partitions' score columns and
/// first-to-second-order gaps, each kept apart from their results.
pub const SCORE_LAST_ORDER: &str = "score-last-order";
pub const SCORE_ORDERS: &str = "score-orders";
pub const SCORE_REVENUE: &str = "score-revenue";
pub const SCORE_GAPS: &str = "score-gaps";
/// The kind of the customer partitions' CLV scores.
pub const CLV_SCORES: &str = "clv-scores";
/// The kind of the checked survey rows, by customer partition.
pub const SURVEYS: &str = "surveys";

/// The file of partition `partition`'s pieces of kind `kind` in `dir`
/// (`lines-00007.bin`).
pub fn part_file(dir: &Path, kind: &str, partition: usize) -> PathBuf {
    dir.join(format!("{kind}-{partition:05}.bin"))
}

/// A run's spill directory; removed with everything in it when dropped.
pub struct SpillDir {
    path: PathBuf,
    /// Whether its files' vectors are compressed.
    compress: bool,
    /// Bytes written to the files in all (the run reports it).
    written: AtomicU64,
}

impl SpillDir {
    /// Creates `.spill-PID-N` in `parent` (the output directory), N
    /// counting the runs of this process (library users may compute
    /// several at once); its files are compressed when `compress`.
    pub fn create(parent: &Path, compress: bool) -> Result<SpillDir> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{PREFIX}{}-{run}", std::process::id()));
        // A directory of this name is a leftover of an earlier process
        // with the same pid: no live run uses it.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| spill_error(&path, e))?;
        Ok(SpillDir {
            path,
            compress,
            written: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn compresses(&self) -> bool {
        self.compress
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Counts `bytes` that another process wrote to the directory's files
    /// (a cluster's executors: the directory is shared with them).
    pub fn add_written(&self, bytes: u64) {
        self.written.fetch_add(bytes, Ordering::Relaxed);
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

/// One value per customer partition of a kind (`history`, `customers`)
/// in a spill directory, one whole file each, read back as often as the
/// stages ask; it keeps the directory (and so the files) until dropped.
pub struct WholeFiles<T> {
    dir: Arc<SpillDir>,
    kind: &'static str,
    _value: std::marker::PhantomData<fn() -> T>,
}

impl<T> WholeFiles<T> {
    pub fn new(dir: Arc<SpillDir>, kind: &'static str) -> WholeFiles<T> {
        WholeFiles {
            dir,
            kind,
            _value: std::marker::PhantomData,
        }
    }
}

impl<T: Spillable> PartStore<T> for WholeFiles<T> {
    fn put(&self, part: usize, value: &T) -> Result<()> {
        let path = part_file(&self.dir.path, self.kind, part);
        let written = write_whole(&path, value, self.dir.compress)?;
        self.dir.written.fetch_add(written, Ordering::Relaxed);
        crate::faults::crash_point(&format!("spill::{}_written", self.kind));
        Ok(())
    }

    fn get(&self, part: usize) -> Result<T> {
        let path = part_file(&self.dir.path, self.kind, part);
        let mut pieces = read_pieces::<T>(&path)?;
        match (pieces.pop(), pieces.is_empty()) {
            (Some(value), true) => Ok(value),
            _ => Err(spill_error(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not the one piece a whole file holds",
                ),
            )),
        }
    }
}

impl ResultStore for WholeFiles<CustomerPart> {
    /// The ids at the head of the part's file, the rest not read.
    fn ids(&self, part: usize) -> Result<CustomerIds> {
        let path = part_file(&self.dir.path, self.kind, part);
        let file = File::open(&path).map_err(|e| spill_error(&path, e))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let (ids, _) = CustomerIds::read(&mut input).map_err(|e| spill_error(&path, e))?;
        Ok(ids)
    }
}

/// Bytes free for this user on the file system of `path`; `None` when
/// that cannot be told.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a struct of the
    // size statvfs writes; both outlive the call.
    let status = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    (status == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
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
        write_to(file, &path, pieces, self.dir.compress)
    }
}

impl<T: Part + Spillable> SpillStore<T> for SpillFiles<'_, T> {
    fn put(&self, partition: usize, piece: &T) -> Result<()> {
        let written = self.append(partition, std::slice::from_ref(piece))?;
        self.dir.written.fetch_add(written, Ordering::Relaxed);
        crate::faults::crash_point("spill::piece_written");
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
/// that runs again rewrites it); compressed when `compress`. Returns the
/// bytes written.
pub fn write_whole<T: Spillable>(path: &Path, piece: &T, compress: bool) -> Result<u64> {
    let staged = path.with_extension("partial");
    let file = File::create(&staged).map_err(|e| spill_error(&staged, e))?;
    let written = write_to(file, &staged, std::slice::from_ref(piece), compress)?;
    std::fs::rename(&staged, path).map_err(|e| spill_error(path, e))?;
    Ok(written)
}

/// Writes `pieces` to `file` (at `path`, for errors), compressed when
/// `compress`; returns the bytes written.
fn write_to<T: Spillable>(file: File, path: &Path, pieces: &[T], compress: bool) -> Result<u64> {
    let mut out = counted_writer(file, path, compress)?;
    pieces
        .iter()
        .try_for_each(|piece| piece.write(&mut out))
        .and_then(|()| out.out.inner.flush())
        .map_err(|e| spill_error(path, e))?;
    Ok(out.out.written)
}

/// A spill-format writer to `file` (at `path`, for errors), buffered,
/// that counts the bytes written.
fn counted_writer(
    file: File,
    path: &Path,
    compress: bool,
) -> Result<VecWriter<Counting<BufWriter<File>>>> {
    let counting = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
    };
    VecWriter::new(counting, compress).map_err(|e| spill_error(path, e))
}

/// A file of pieces of several partitions, written in one go by one
/// writer (a cluster's read unit: its lines, block after block, each
/// block a piece per partition), that says where each piece starts, so a
/// reader of one partition reads its pieces alone ([`read_pieces_at`]).
/// Staged as a temporary file renamed into place by [`PieceFile::finish`],
/// as [`write_whole`] does.
pub struct PieceFile {
    staged: PathBuf,
    path: PathBuf,
    out: VecWriter<Counting<BufWriter<File>>>,
}

impl PieceFile {
    pub fn create(path: &Path, compress: bool) -> Result<PieceFile> {
        let staged = path.with_extension("partial");
        let file = File::create(&staged).map_err(|e| spill_error(&staged, e))?;
        let out = counted_writer(file, &staged, compress)?;
        Ok(PieceFile {
            staged,
            path: path.to_path_buf(),
            out,
        })
    }

    /// Appends `piece`; returns where it starts in the file.
    pub fn put<T: Spillable>(&mut self, piece: &T) -> Result<u64> {
        let start = self.out.out.written;
        piece
            .write(&mut self.out)
            .map_err(|e| spill_error(&self.staged, e))?;
        Ok(start)
    }

    /// The file in place; returns its bytes.
    pub fn finish(mut self) -> Result<u64> {
        let staged = &self.staged;
        self.out
            .out
            .inner
            .flush()
            .map_err(|e| spill_error(staged, e))?;
        std::fs::rename(staged, &self.path).map_err(|e| spill_error(&self.path, e))?;
        Ok(self.out.out.written)
    }
}

/// The pieces of the [`PieceFile`] `path` that start at `starts`
/// (ascending), in that order.
pub fn read_pieces_at<T: Spillable>(path: &Path, starts: &[u64]) -> Result<Vec<T>> {
    use std::io::{Seek, SeekFrom};
    if starts.is_empty() {
        return Ok(Vec::new());
    }
    let file = File::open(path).map_err(|e| spill_error(path, e))?;
    crate::faults::io_point("spill::read").map_err(|e| spill_error(path, e))?;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut at = 0;
    let mut pieces = Vec::with_capacity(starts.len());
    for &start in starts {
        // Pieces next to each other are read on without a seek (which
        // would drop the reader's buffer).
        if start != at {
            input
                .seek(SeekFrom::Start(start))
                .map_err(|e| spill_error(path, e))?;
        }
        let (piece, bytes) = T::read(&mut input).map_err(|e| spill_error(path, e))?;
        pieces.push(piece);
        at = start + bytes;
    }
    Ok(pieces)
}

/// A piece in the spill format, as bytes (what the cluster engine sends
/// between tasks).
pub fn piece_bytes<T: Spillable>(piece: &T) -> Vec<u8> {
    let mut out = VecWriter::new(Vec::new(), false).expect("no compressor to make");
    piece
        .write(&mut out)
        .expect("writing to memory does not fail");
    out.out
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
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()>;
    /// One piece and the bytes it took.
    fn read(input: &mut impl Read) -> std::io::Result<(Self, u64)>;
}

/// The codec byte of a vector written as its values' bytes.
const RAW: u8 = 0;
/// The codec byte of a vector written as zstd frames.
const ZSTD: u8 = 1;
/// Bytes of a vector compressed at a time: all that compressing or
/// decompressing one adds to memory, whatever its size.
const FRAME_BYTES: usize = 1 << 20;
/// zstd's fastest level. On the line pieces of the 10 M-order benchmark
/// it took them to 0.48 of their size at about 240 MB/s a core (level 3:
/// 0.44 at 135 MB/s; LZ4: 0.59 at 350 MB/s).
const ZSTD_LEVEL: i32 = 1;

/// Writes vectors in the spill format ([`Spillable`]), raw or compressed.
pub struct VecWriter<W> {
    out: W,
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl<W: Write> VecWriter<W> {
    fn new(out: W, compress: bool) -> std::io::Result<VecWriter<W>> {
        let compressor = match compress {
            true => Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
            false => None,
        };
        Ok(VecWriter { out, compressor })
    }

    /// Writes `values`: the codec byte, their count, then their bytes,
    /// raw or as frames of at most [`FRAME_BYTES`] (each its compressed
    /// length and its bytes).
    fn put<T: Pod>(&mut self, values: &[T]) -> std::io::Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(values);
        let codec = if self.compressor.is_some() { ZSTD } else { RAW };
        self.out.write_all(&[codec])?;
        self.out.write_all(&(values.len() as u64).to_ne_bytes())?;
        let Some(compressor) = &mut self.compressor else {
            return self.out.write_all(bytes);
        };
        for frame in bytes.chunks(FRAME_BYTES) {
            let packed = compressor.compress(frame)?;
            self.out.write_all(&(packed.len() as u32).to_ne_bytes())?;
            self.out.write_all(&packed)?;
        }
        Ok(())
    }

    fn put_count(&mut self, count: usize) -> std::io::Result<()> {
        self.out.write_all(&(count as u64).to_ne_bytes())
    }
}

/// Reads one vector written by [`VecWriter::put`], counting its bytes in
/// `read`.
fn get_vec<T: Pod>(input: &mut impl Read, read: &mut u64) -> std::io::Result<Vec<T>> {
    let mut head = [0u8; 9];
    input.read_exact(&mut head)?;
    let len = u64::from_ne_bytes(head[1..].try_into().expect("8 bytes")) as usize;
    let mut values = vec![T::zeroed(); len];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    *read += 9;
    match head[0] {
        RAW => {
            input.read_exact(bytes)?;
            *read += bytes.len() as u64;
        }
        ZSTD => *read += get_frames(input, bytes)?,
        codec => return Err(invalid(format!("unknown codec {codec}"))),
    }
    Ok(values)
}

/// Fills `bytes` from the zstd frames that follow in `input`; returns the
/// bytes read.
fn get_frames(input: &mut impl Read, bytes: &mut [u8]) -> std::io::Result<u64> {
    let mut decompressor = zstd::bulk::Decompressor::new()?;
    let mut packed = Vec::new();
    let mut read = 0;
    for frame in bytes.chunks_mut(FRAME_BYTES) {
        let mut len = [0u8; 4];
        input.read_exact(&mut len)?;
        packed.resize(u32::from_ne_bytes(len) as usize, 0);
        input.read_exact(&mut packed)?;
        if decompressor.decompress_to_buffer(&packed, frame)? != frame.len() {
            return Err(invalid("a frame shorter than written".to_string()));
        }
        read += 4 + packed.len() as u64;
    }
    Ok(read)
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Writes a count of vectors, then each.
fn put_vecs<W: Write, T: Pod>(out: &mut VecWriter<W>, vecs: &[Vec<T>]) -> std::io::Result<()> {
    out.put_count(vecs.len())?;
    vecs.iter().try_for_each(|d| out.put(d))
}

/// Reads what [`put_vecs`] wrote.
fn get_vecs<T: Pod>(input: &mut impl Read, read: &mut u64) -> std::io::Result<Vec<Vec<T>>> {
    let mut count = [0u8; 8];
    input.read_exact(&mut count)?;
    *read += 8;
    (0..u64::from_ne_bytes(count))
        .map(|_| get_vec(input, read))
        .collect()
}

fn put_keys<W: Write>(out: &mut VecWriter<W>, keys: &KeyBytes) -> std::io::Result<()> {
    let (len, bytes) = keys.parts();
    out.put(len)?;
    out.put(bytes)
}

fn get_keys(input: &mut impl Read, read: &mut u64) -> std::io::Result<KeyBytes> {
    let len = get_vec(input, read)?;
    let bytes = get_vec(input, read)?;
    Ok(KeyBytes::from_parts(len, bytes))
}

impl Spillable for LinePart {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        out.put(&self.line)?;
        let rejected: Vec<u8> = self.rejected.iter().map(|&r| r as u8).collect();
        out.put(&rejected)?;
        out.put(&self.ts_micros)?;
        out.put(&self.day)?;
        out.put(&self.cents)?;
        out.put(&self.line_hash)?;
        put_vecs(out, &self.dimensions)?;
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
            dimensions: get_vecs(input, &mut read)?,
            customer: get_keys(input, &mut read)?,
            order: get_keys(input, &mut read)?,
        };
        Ok((part, read))
    }
}

impl Spillable for OrderPart {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        put_keys(out, &self.customer)?;
        out.put(&self.day)?;
        out.put(&self.ts_micros)?;
        out.put(&self.cents)?;
        out.put(&self.first_line)?;
        out.put(&self.line_count)?;
        out.put(&self.lines)?;
        put_vecs(out, &self.dimensions)
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
            dimensions: get_vecs(input, &mut read)?,
        };
        Ok((part, read))
    }
}

impl Spillable for PartEntries {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        out.put(&self.offsets)?;
        out.put(&self.day)?;
        out.put(&self.cents)?;
        put_vecs(out, &self.dimensions)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(PartEntries, u64)> {
        let mut read = 0;
        let entries = PartEntries {
            offsets: get_vec(input, &mut read)?,
            day: get_vec(input, &mut read)?,
            cents: get_vec(input, &mut read)?,
            dimensions: get_vecs(input, &mut read)?,
        };
        Ok((entries, read))
    }
}

/// A customer partition's checked survey rows, their ids' text included.
impl Spillable for CheckedRows {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        out.put(self.text.as_bytes())?;
        out.put(&self.ends)?;
        out.put(&self.utc_micros)?;
        out.put(&self.local_day)?;
        out.put(&self.file)?;
        out.put(&self.row)?;
        out.put(&self.score)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(CheckedRows, u64)> {
        let mut read = 0;
        let text = String::from_utf8(get_vec::<u8>(input, &mut read)?)
            .map_err(|_| invalid("survey ids that are not UTF-8".to_string()))?;
        let rows = CheckedRows {
            text,
            ends: get_vec(input, &mut read)?,
            utc_micros: get_vec(input, &mut read)?,
            local_day: get_vec(input, &mut read)?,
            file: get_vec(input, &mut read)?,
            row: get_vec(input, &mut read)?,
            score: get_vec(input, &mut read)?,
        };
        let ends_fit = rows
            .ends
            .last()
            .is_none_or(|&end| end as usize == rows.text.len())
            && rows.ends.is_sorted()
            && rows
                .ends
                .iter()
                .all(|&end| rows.text.is_char_boundary(end as usize));
        let n = rows.score.len();
        let columns = [rows.ends.len(), rows.utc_micros.len(), rows.local_day.len()];
        let same_length = columns
            .iter()
            .chain(&[rows.file.len(), rows.row.len()])
            .all(|&k| k == n);
        match ends_fit && same_length {
            true => Ok((rows, read)),
            false => Err(invalid("survey rows whose columns do not fit".to_string())),
        }
    }
}

/// A column of one partition.
impl<T: Pod> Spillable for Vec<T> {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        out.put(self)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(Vec<T>, u64)> {
        let mut read = 0;
        let column = get_vec(input, &mut read)?;
        Ok((column, read))
    }
}

impl Spillable for CustomerIds {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        let (text, ends) = self.raw_parts();
        out.put(text.as_bytes())?;
        out.put(ends)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(CustomerIds, u64)> {
        let mut read = 0;
        let text = String::from_utf8(get_vec::<u8>(input, &mut read)?)
            .map_err(|_| invalid("customer ids that are not UTF-8".to_string()))?;
        let ends = get_vec::<usize>(input, &mut read)?;
        let ids = CustomerIds::from_raw_parts(text, ends)
            .ok_or_else(|| invalid("customer ids cut where no id ends".to_string()))?;
        Ok((ids, read))
    }
}

/// A tier index in a spilled vector: `NO_TIER` where a customer has none.
const NO_TIER: u64 = u64::MAX;

/// A partition's per-customer results, before RFM scoring (a stored part
/// is scored when read back).
impl Spillable for CustomerPart {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        self.ids.write(out)?;
        let s = &self.summary;
        debug_assert!(s.r_score.is_empty(), "parts are stored before scoring");
        for days in [&s.first_order_day, &s.last_order_day] {
            out.put(days)?;
        }
        for column in [
            &s.orders,
            &s.revenue_cents,
            &s.frequency,
            &s.recency_days,
            &s.tenure_days,
            &s.repeat_cents,
        ] {
            out.put(column)?;
        }
        let t = &self.tiers;
        out.put(&t.trailing_12m_cents)?;
        let tier: Option<Vec<u64>> = t
            .tier
            .as_ref()
            .map(|v| v.iter().map(|&i| i as u64).collect());
        put_vecs(out, tier.as_slice())?;
        let ago: Option<Vec<u64>> = t
            .tier_12m_ago
            .as_ref()
            .map(|v| v.iter().map(|i| i.map_or(NO_TIER, |i| i as u64)).collect());
        put_vecs(out, ago.as_slice())
    }

    fn read(input: &mut impl Read) -> std::io::Result<(CustomerPart, u64)> {
        let (ids, mut read) = CustomerIds::read(input)?;
        let first_order_day = get_vec(input, &mut read)?;
        let last_order_day = get_vec(input, &mut read)?;
        let mut columns = (0..6)
            .map(|_| get_vec::<i64>(input, &mut read))
            .collect::<std::io::Result<Vec<_>>>()?
            .into_iter();
        let mut next = || columns.next().expect("six columns");
        let summary = CustomerSummary {
            first_order_day,
            last_order_day,
            orders: next(),
            revenue_cents: next(),
            frequency: next(),
            recency_days: next(),
            tenure_days: next(),
            repeat_cents: next(),
            ..Default::default()
        };
        let trailing_12m_cents = get_vec(input, &mut read)?;
        let tier = get_vecs::<u64>(input, &mut read)?.pop();
        let ago = get_vecs::<u64>(input, &mut read)?.pop();
        let tiers = CustomerTiers {
            trailing_12m_cents,
            tier: tier.map(|v| v.into_iter().map(|i| i as usize).collect()),
            tier_12m_ago: ago.map(|v| {
                v.into_iter()
                    .map(|i| (i != NO_TIER).then_some(i as usize))
                    .collect()
            }),
        };
        Ok((
            CustomerPart {
                ids,
                summary,
                tiers,
            },
            read,
        ))
    }
}

/// A partition's CLV scores. A score that could not be computed (`None`)
/// is written as NaN: the scores that exist are finite, so NaN reads back
/// as `None` and nothing else does.
impl Spillable for ClvScores {
    fn write<W: Write>(&self, out: &mut VecWriter<W>) -> std::io::Result<()> {
        let nan_for_none =
            |v: &[Option<f64>]| -> Vec<f64> { v.iter().map(|x| x.unwrap_or(f64::NAN)).collect() };
        debug_assert!(self.clv.iter().flatten().all(|v| v.is_finite()));
        out.put(&self.p_alive)?;
        out.put(&nan_for_none(&self.expected_orders))?;
        out.put(&self.p_no_order)?;
        out.put(&self.expected_avg_order_value)?;
        out.put(&nan_for_none(&self.clv))?;
        out.put(&self.expected_orders_interval)?;
        out.put(&self.clv_interval)
    }

    fn read(input: &mut impl Read) -> std::io::Result<(ClvScores, u64)> {
        let mut read = 0;
        let mut column = || get_vec::<f64>(input, &mut read);
        let none_for_nan = |v: Vec<f64>| -> Vec<Option<f64>> {
            v.into_iter().map(|x| (!x.is_nan()).then_some(x)).collect()
        };
        let p_alive = column()?;
        let expected_orders = none_for_nan(column()?);
        let p_no_order = column()?;
        let expected_avg_order_value = column()?;
        let clv = none_for_nan(column()?);
        let expected_orders_interval = get_vec(input, &mut read)?;
        let clv_interval = get_vec(input, &mut read)?;
        let scores = ClvScores {
            p_alive,
            expected_orders,
            p_no_order,
            expected_avg_order_value,
            clv,
            expected_orders_interval,
            clv_interval,
        };
        Ok((scores, read))
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
        for compress in [false, true] {
            pieces_come_back(compress);
        }
    }

    fn pieces_come_back(compress: bool) {
        let out =
            std::env::temp_dir().join(format!("spill-test-{}-{compress}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let dir = SpillDir::create(&out, compress).unwrap();
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
        let surveys = dir.store::<CheckedRows>(SURVEYS);
        let mut survey = CheckedRows::default();
        let at = |utc_micros, local_day| crate::time::PlacedTimestamp {
            utc_micros,
            local_day,
        };
        survey.push((1, u32::MAX), "C\u{e9}7", at(i64::MIN, i32::MIN), 10);
        survey.push((0, 2), "", at(9, -3), 0);
        survey.push((u32::MAX, 0), "x", at(i64::MAX, i32::MAX), 5);
        surveys.put(2, &survey).unwrap();
        surveys.put(2, &CheckedRows::default()).unwrap();
        let back = surveys.take(2).unwrap();
        assert_eq!(back, vec![survey, CheckedRows::default()]);
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
        std::fs::remove_dir_all(&out).unwrap();
    }

    /// Vectors over several frames come back whole; compressed ones take
    /// less room when their values repeat; a file may hold both kinds
    /// (each vector says how it was written).
    #[test]
    fn compressed_vectors_come_back_and_take_less_room() {
        let mut part = line_part(0);
        part.line = (0..700_000).collect();
        part.day = (0..700_000).map(|i| 19_000 + i / 1000).collect();
        part.customer.push(&vec![b'x'; 3 * FRAME_BYTES + 5]);
        let raw = piece_bytes(&part);
        let out = std::env::temp_dir().join(format!("spill-zstd-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let path = out.join("lines-00000.bin");
        let packed = write_whole(&path, &part, true).unwrap();
        assert!(packed * 4 < raw.len() as u64, "{packed} of {}", raw.len());
        let file = OpenOptions::new().append(true).open(&path).unwrap();
        write_to(file, &path, &[line_part(3)], false).unwrap();
        assert_eq!(
            read_pieces::<LinePart>(&path).unwrap(),
            vec![part, line_part(3)]
        );
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] = 7;
        std::fs::write(&path, bytes).unwrap();
        assert!(read_pieces::<LinePart>(&path).is_err());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn history_entries_are_read_back_as_often_as_asked_until_the_directory_goes() {
        let parent = tempfile::tempdir().unwrap();
        for compress in [false, true] {
            let dir = std::sync::Arc::new(SpillDir::create(parent.path(), compress).unwrap());
            let store = WholeFiles::<PartEntries>::new(std::sync::Arc::clone(&dir), HISTORY);
            let entries = PartEntries {
                offsets: vec![0, 2, 3],
                day: vec![i32::MIN, 7, i32::MAX],
                cents: vec![-5, i64::MAX, 0],
                dimensions: vec![vec![0, u32::MAX], vec![2, 1]],
            };
            store.put(3, &entries).unwrap();
            store.put(0, &PartEntries::default()).unwrap();
            for _ in 0..2 {
                assert_eq!(store.get(3).unwrap(), entries);
                assert_eq!(store.get(0).unwrap(), PartEntries::default());
            }
            assert!(dir.written() > 0);
            assert!(store.get(1).is_err(), "a part never put");
            let path = dir.path().to_path_buf();
            drop(dir);
            assert!(path.exists(), "the store keeps the directory");
            drop(store);
            assert!(!path.exists());
        }
    }

    /// A part's customer ids come back as put (empty ids, empty parts and
    /// several-byte characters among them); ends that do not cut the text
    /// into ids are refused.
    #[test]
    fn customer_ids_come_back_and_bad_cuts_are_refused() {
        let parent = tempfile::tempdir().unwrap();
        for compress in [false, true] {
            let dir = std::sync::Arc::new(SpillDir::create(parent.path(), compress).unwrap());
            let store = WholeFiles::<CustomerIds>::new(std::sync::Arc::clone(&dir), IDS);
            let ids = CustomerIds::of(["", "c-1", "ünï", "ünïcode", "z"]);
            store.put(2, &ids).unwrap();
            store.put(0, &CustomerIds::default()).unwrap();
            assert_eq!(store.get(2).unwrap(), ids);
            assert_eq!(store.get(0).unwrap(), CustomerIds::default());
        }
        let text = || "abü".to_string();
        assert!(CustomerIds::from_raw_parts(text(), vec![1, 4]).is_some());
        for bad in [vec![2, 1, 4], vec![1, 5], vec![1, 3], vec![1, 2]] {
            assert!(
                CustomerIds::from_raw_parts(text(), bad.clone()).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_stored_partitions_ids_are_read_back_alone() {
        let parent = tempfile::tempdir().unwrap();
        for compress in [false, true] {
            let dir = std::sync::Arc::new(SpillDir::create(parent.path(), compress).unwrap());
            let store = WholeFiles::<CustomerPart>::new(std::sync::Arc::clone(&dir), CUSTOMERS);
            let mut part = CustomerPart {
                ids: CustomerIds::of(["a", "b-2", "ünï"]),
                ..CustomerPart::default()
            };
            part.summary.orders = vec![1, 2, 3];
            part.tiers.trailing_12m_cents = vec![5, 6, 7];
            store.put(4, &part).unwrap();
            assert_eq!(store.ids(4).unwrap(), part.ids);
            assert_eq!(store.get(4).unwrap(), part, "the whole part is still there");
            assert!(store.ids(3).is_err(), "a part never put");
        }
    }

    /// CLV scores come back bit for bit, a score that could not be
    /// computed as `None` and an interval without ends as NaN; -0 stays
    /// -0 (it ranks below +0).
    #[test]
    fn clv_scores_come_back_with_their_missing_values() {
        let parent = tempfile::tempdir().unwrap();
        let scores = ClvScores {
            p_alive: vec![0.25, 1.0, 0.0],
            expected_orders: vec![Some(1.5), None, Some(-0.0)],
            p_no_order: vec![0.5, 0.0, 1.0],
            expected_avg_order_value: vec![12.5, 3.0, 0.0],
            clv: vec![Some(18.75), None, Some(-0.0)],
            expected_orders_interval: vec![[1.0, 2.0], [f64::NAN; 2], [0.0, 0.0]],
            clv_interval: vec![[f64::NAN; 2], [f64::NAN; 2], [-1.0, 1.0]],
        };
        let bits = |s: &ClvScores| {
            let column = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let options = |v: &[Option<f64>]| -> Vec<Option<u64>> {
                v.iter().map(|x| x.map(f64::to_bits)).collect()
            };
            let pairs = |v: &[[f64; 2]]| column(&v.concat());
            (
                [column(&s.p_alive), column(&s.p_no_order)],
                column(&s.expected_avg_order_value),
                [options(&s.expected_orders), options(&s.clv)],
                [pairs(&s.expected_orders_interval), pairs(&s.clv_interval)],
            )
        };
        for compress in [false, true] {
            let dir = std::sync::Arc::new(SpillDir::create(parent.path(), compress).unwrap());
            let store = WholeFiles::<ClvScores>::new(std::sync::Arc::clone(&dir), CLV_SCORES);
            store.put(1, &scores).unwrap();
            store.put(0, &ClvScores::default()).unwrap();
            assert_eq!(bits(&store.get(1).unwrap()), bits(&scores));
            assert_eq!(bits(&store.get(0).unwrap()), bits(&ClvScores::default()));
        }
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
