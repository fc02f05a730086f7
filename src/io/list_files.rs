//! The target lists' files when the per-customer results are spilled
//! (`stages::targets`): each customer partition's rows of a list, in the
//! list's order, are a run of pieces in a spill file; the runs are merged
//! into one file of pieces of [`PUBLISH_PIECE_ROWS`] rows, which
//! publishing reads a piece at a time. So the lists' rows (some 40 bytes a
//! row and their ids: 80 M rows of `win_back` at 1 B orders) are not held
//! either.
//!
//! A file is its pieces one after another, each as its stored length and
//! its encoded length (8 bytes each), a codec byte and its bincode
//! encoding, compressed by zstd when the spill directory compresses. The
//! pieces are serde values, not the raw vectors of `io::spill`: a list's
//! rows are structs with optional fields.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::publish::PUBLISH_PIECE_ROWS;
use crate::io::spill::SpillDir;
use crate::stages::targets::{merge_runs, ListPiece, TargetList};

/// The codec byte of a piece written as its encoding.
const RAW: u8 = 0;
/// The codec byte of a piece compressed by zstd.
const ZSTD: u8 = 1;
/// zstd's fastest level, as for the other spill files.
const ZSTD_LEVEL: i32 = 1;

/// Rows of all of a list's runs held at once while they are merged (a
/// piece of each run): the runs' pieces are this divided by the number of
/// runs, so many partitions do not multiply what the merge holds.
const MERGE_ROWS: usize = 1 << 20;

/// Writes pieces one after another to a new file.
pub struct PieceWriter {
    path: PathBuf,
    out: BufWriter<File>,
    compress: bool,
    /// Where each piece starts.
    offsets: Vec<u64>,
    written: u64,
}

impl PieceWriter {
    pub fn create(path: &Path, compress: bool) -> Result<PieceWriter> {
        let file = File::create(path).map_err(|e| list_error(path, e))?;
        Ok(PieceWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            compress,
            offsets: Vec::new(),
            written: 0,
        })
    }

    pub fn put<T: Serialize>(&mut self, piece: &T) -> Result<()> {
        let encoded = bincode::serde::encode_to_vec(piece, bincode::config::standard())
            .map_err(|e| list_error(&self.path, std::io::Error::other(e)))?;
        let encoded_len = encoded.len() as u64;
        let (codec, stored) = match self.compress {
            true => (ZSTD, zstd::bulk::compress(&encoded, ZSTD_LEVEL)),
            false => (RAW, Ok(encoded)),
        };
        let stored = stored.map_err(|e| list_error(&self.path, e))?;
        let head = [stored.len() as u64, encoded_len];
        self.offsets.push(self.written);
        (|| {
            self.out.write_all(bytemuck::cast_slice(&head))?;
            self.out.write_all(&[codec])?;
            self.out.write_all(&stored)
        })()
        .map_err(|e| list_error(&self.path, e))?;
        self.written += 17 + stored.len() as u64;
        Ok(())
    }

    /// Flushes the file; where each piece starts, and the bytes written.
    pub fn finish(mut self) -> Result<(Vec<u64>, u64)> {
        self.out.flush().map_err(|e| list_error(&self.path, e))?;
        Ok((self.offsets, self.written))
    }
}

/// Reads one piece at the reader's position; `None` at the end.
fn read_piece<T: DeserializeOwned>(input: &mut impl Read, path: &Path) -> Result<Option<T>> {
    let mut head = [0u8; 17];
    match input.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(list_error(path, e)),
    }
    let length = |at: usize| u64::from_ne_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let (stored, encoded) = (length(0) as usize, length(8) as usize);
    let mut bytes = vec![0u8; stored];
    input
        .read_exact(&mut bytes)
        .map_err(|e| list_error(path, e))?;
    if head[16] == ZSTD {
        bytes = zstd::bulk::decompress(&bytes, encoded).map_err(|e| list_error(path, e))?;
    }
    let (piece, _) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
        .map_err(|e| list_error(path, std::io::Error::other(e)))?;
    Ok(Some(piece))
}

/// The pieces of a file in order, read one at a time. Unbuffered: a
/// piece is read in two calls (its head, then all of it), and a merge has
/// a reader open for every partition's run (up to 4,096).
pub struct PieceReader<T> {
    path: PathBuf,
    input: File,
    _piece: std::marker::PhantomData<fn() -> T>,
}

impl<T> PieceReader<T> {
    pub fn open(path: &Path) -> Result<PieceReader<T>> {
        let input = File::open(path).map_err(|e| list_error(path, e))?;
        Ok(PieceReader {
            path: path.to_path_buf(),
            input,
            _piece: std::marker::PhantomData,
        })
    }
}

impl<T: DeserializeOwned> Iterator for PieceReader<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        read_piece(&mut self.input, &self.path).transpose()
    }
}

/// The piece that starts at `offset` of the file `path`.
fn read_piece_at<T: DeserializeOwned>(path: &Path, offset: u64) -> Result<T> {
    let mut file = File::open(path).map_err(|e| list_error(path, e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| list_error(path, e))?;
    read_piece(&mut file, path)?
        .ok_or_else(|| list_error(path, std::io::ErrorKind::UnexpectedEof.into()))
}

/// A list merged into a file of pieces of `piece_rows` rows (the last
/// shorter), read back by row range.
pub struct StoredList {
    list: TargetList,
    path: PathBuf,
    offsets: Vec<u64>,
    piece_rows: usize,
    rows: usize,
    /// Keeps the spill directory, and so the file, while the list is read.
    _dir: Arc<SpillDir>,
}

impl StoredList {
    pub fn list(&self) -> TargetList {
        self.list
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The pieces holding the rows `range`, each with the range of its
    /// rows among them.
    pub fn pieces_in(&self, range: Range<usize>) -> Result<Vec<(ListPiece, Range<usize>)>> {
        let first = range.start / self.piece_rows;
        let last = range.end.div_ceil(self.piece_rows).min(self.offsets.len());
        (first..last)
            .map(|k| {
                let start = k * self.piece_rows;
                let piece: ListPiece = read_piece_at(&self.path, self.offsets[k])?;
                let within =
                    range.start.max(start) - start..range.end.min(start + piece.len()) - start;
                Ok((piece, within))
            })
            .filter(|piece| !matches!(piece, Ok((_, within)) if within.is_empty()))
            .collect()
    }
}

/// A list's runs (one file a customer partition, each in the list's
/// order), merged into the file `path` of `dir` a piece of `piece_rows`
/// rows at a time; the runs' files are removed once merged. The bytes
/// written are added to `dir`'s count.
fn merge_into(
    (list, runs): (TargetList, Vec<PathBuf>),
    (path, piece_rows): (PathBuf, usize),
    dir: &Arc<SpillDir>,
) -> Result<StoredList> {
    let readers = runs
        .iter()
        .map(|run| PieceReader::<ListPiece>::open(run))
        .collect::<Result<Vec<_>>>()?;
    let mut out = PieceWriter::create(&path, dir.compresses())?;
    let mut rows = 0;
    merge_runs(list, readers, piece_rows, |piece| {
        rows += piece.len();
        out.put(&piece)
    })?;
    let (offsets, written) = out.finish()?;
    for run in &runs {
        std::fs::remove_file(run).map_err(|e| list_error(run, e))?;
    }
    dir.add_written(written);
    crate::faults::crash_point("spill::list_merged");
    Ok(StoredList {
        list,
        path,
        offsets,
        piece_rows,
        rows,
        _dir: Arc::clone(dir),
    })
}

/// A pipeline run's target lists in its spill directory: each
/// partition's rows of a list written as a sorted run, then each list's
/// runs merged into one file.
pub struct ListRuns {
    dir: Arc<SpillDir>,
    /// Rows in a run's piece.
    run_piece_rows: usize,
    /// Rows in a merged list's piece: what publishing asks for at a time.
    piece_rows: usize,
}

impl ListRuns {
    /// The runs of `runs` partitions in `dir`.
    pub fn new(dir: Arc<SpillDir>, runs: usize) -> ListRuns {
        ListRuns {
            dir,
            run_piece_rows: run_piece_rows(runs),
            piece_rows: PUBLISH_PIECE_ROWS,
        }
    }

    /// Runs and merged lists in pieces of `rows` rows: for tests of
    /// ranges across pieces.
    #[cfg(test)]
    pub fn in_pieces_of(self, rows: usize) -> ListRuns {
        ListRuns {
            run_piece_rows: rows,
            piece_rows: rows,
            ..self
        }
    }

    /// Writes the rows of `piece` (one partition's rows of its list, in
    /// the list's order; the partition's first customer's code is
    /// `start`) as a run; `None` when it has none.
    pub fn write_run(&self, piece: ListPiece, start: usize) -> Result<Option<PathBuf>> {
        let how = (self.run_piece_rows, self.dir.compresses());
        let Some((path, written)) = write_list_run(self.dir.path(), (piece, start), how)? else {
            return Ok(None);
        };
        self.dir.add_written(written);
        crate::faults::crash_point("spill::list_run_written");
        Ok(Some(path))
    }

    /// `list`'s runs (in any order) merged into one stored list.
    pub fn merge(&self, list: TargetList, runs: Vec<PathBuf>) -> Result<StoredList> {
        let path = self.dir.path().join(format!("list-{list:?}.bin"));
        merge_into((list, runs), (path, self.piece_rows), &self.dir)
    }
}

/// Rows in a run's piece when there are `runs` runs to merge: the merge
/// holds a piece of each.
pub fn run_piece_rows(runs: usize) -> usize {
    (MERGE_ROWS / runs.max(1)).clamp(256, 64 * 1024)
}

/// Writes `piece` (one partition's rows of its list, in the list's order;
/// the partition's first customer's code is `start`, which names the
/// file) as a run in the directory `dir`, in pieces of `run_piece_rows`
/// rows, compressed when `compress`: its file and the bytes written,
/// `None` when it has no rows. A cluster's task writes its partitions'
/// runs so too; written through a temporary file renamed into place, as a
/// task that runs again rewrites them.
pub fn write_list_run(
    dir: &Path,
    (piece, start): (ListPiece, usize),
    (run_piece_rows, compress): (usize, bool),
) -> Result<Option<(PathBuf, u64)>> {
    if piece.is_empty() {
        return Ok(None);
    }
    let list = piece.rows.list();
    let path = dir.join(format!("list-{list:?}-{start:012}.bin"));
    let staged = path.with_extension("partial");
    let mut out = PieceWriter::create(&staged, compress)?;
    for run_piece in piece.split(run_piece_rows) {
        out.put(&run_piece)?;
    }
    let (_, written) = out.finish()?;
    std::fs::rename(&staged, &path).map_err(|e| list_error(&path, e))?;
    Ok(Some((path, written)))
}

/// A list file's I/O error, naming the file.
fn list_error(path: &Path, e: std::io::Error) -> Error {
    Error::io(
        format!(
            "output `{}`: cannot use the target list's spill file",
            crate::error::shown_path(path)
        ),
        e,
    )
}
