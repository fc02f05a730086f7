//! The input read on the executors. The client cuts the input into units
//! ([`ReadUnit`]): a Parquet file into ranges of one chunk's rows (the
//! row counts are in the files' footers), a CSV file whole (where its
//! rows fall is not known before it is read). A read task checks and
//! scatters each unit's lines with the embedded engine's own
//! `stages::validate::LineScatter`, a chunk at a time, and writes each
//! chunk's pieces, one per line partition, to the unit's file; only the
//! unit's keys (its counts, dimension values and customer sample), its
//! row rejects and where each piece starts come back ([`UnitRead`]). The
//! client merges the keys (`stages::validate::units`), and each assemble
//! task reads a line partition's pieces from every unit's file, shifted
//! onto the whole input's line numbers and dimension codes
//! ([`UnitFiles::line_part`]). An input the user must fix (a file that
//! cannot be read, a mapped column it lacks) is sent back as a
//! [`Refusal`], so the run fails as the embedded one does, with its exit
//! code, instead of as a failed job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::rows::{cluster_error, decode, encode, payloads, read_encoded, written, Kind, Row};
use crate::config::{Pipeline, PipelineConfig};
use crate::error::{Error, Result};
use crate::io::input::{read_chunks_where, InputSpec};
use crate::io::spill::{read_pieces_at, PieceFile};
use crate::stages::partition::{LinePart, Part};
use crate::stages::raw::{FileFormat, InputFile};
use crate::stages::rejects::Reject;
use crate::stages::validate::units::{merge_units, shifted, UnitKeys, UnitShift};
use crate::stages::validate::{LineKeys, LineScatter, NO_CODE};

/// One unit of the input a read task reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadUnit {
    /// The file's index in the run's input.
    pub file: u32,
    pub path: PathBuf,
    pub format: FileFormat,
    /// A Parquet file's rows: the first (0-based) and how many; `None`
    /// for the whole file.
    pub rows: Option<(usize, usize)>,
}

impl ReadUnit {
    /// The unit's file as the readers take it.
    pub(super) fn input(&self) -> InputFile {
        InputFile {
            path: self.path.clone(),
            format: self.format,
            size: 0,
            modified: None,
            source: None,
        }
    }

    /// Whether the chunk of the file that starts at row `first` (1-based)
    /// is the unit's: every chunk of a whole file is.
    pub(super) fn holds_chunk(&self, first: usize) -> bool {
        self.rows
            .is_none_or(|(start, rows)| (start..start + rows).contains(&(first - 1)))
    }
}

/// How the read tasks read and scatter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadSettings {
    /// The client's pipeline settings, as JSON: rows are checked as the
    /// client would check them.
    pub config: String,
    /// Line partitions.
    pub partitions: usize,
    /// Every how many lines a customer id is sampled.
    pub sample_step: usize,
    /// Rows read at a time: a Parquet unit's rows are one such chunk.
    pub chunk_rows: usize,
    /// Whether the units' files are compressed.
    pub compress: bool,
}

/// What a read task sends back of one unit.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct UnitRead {
    pub keys: UnitKeys,
    pub rejects: Vec<Reject>,
    pub index: PieceIndex,
}

/// Where a unit's pieces start in its file: per chunk read, the start of
/// each line partition's piece ([`NO_PIECE`] when it had no line).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PieceIndex {
    pub partitions: usize,
    /// Chunk after chunk, `partitions` starts each.
    pub starts: Vec<u64>,
}

/// The start of a piece that is not in the file (no line of the chunk
/// went to its partition).
pub(super) const NO_PIECE: u64 = u64::MAX;

impl PieceIndex {
    /// Where line partition `p`'s pieces start, chunk after chunk.
    pub(super) fn starts_of(&self, p: usize) -> Vec<u64> {
        let per_chunk = self.starts.chunks(self.partitions.max(1));
        let starts = per_chunk.map(|chunk| chunk[p]);
        starts.filter(|&s| s != NO_PIECE).collect()
    }
}

/// An input a read task refused: what the embedded engine's read would
/// have failed with.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Refusal {
    Input { path: PathBuf, message: String },
    Mapping { path: PathBuf, message: String },
}

impl Refusal {
    /// `e` as a refusal, when it is the input's fault.
    pub(super) fn of(e: Error) -> std::result::Result<Refusal, Error> {
        match e {
            Error::Input { path, message } => Ok(Refusal::Input { path, message }),
            Error::Mapping { path, message } => Ok(Refusal::Mapping { path, message }),
            other => Err(other),
        }
    }

    /// The run's error, the file named as the client names it where the
    /// task named `unit`'s absolute path.
    pub(super) fn into_error(self, unit: &ReadUnit, files: &[InputFile]) -> Error {
        let shown = |path: PathBuf| match path == unit.path {
            true => files[unit.file as usize].path.clone(),
            false => path,
        };
        match self {
            Refusal::Input { path, message } => Error::input(shown(path), message),
            Refusal::Mapping { path, message } => Error::Mapping {
                path: shown(path),
                message,
            },
        }
    }
}

/// The file of unit `u`'s lines.
fn unit_file(dir: &Path, u: usize) -> PathBuf {
    dir.join(format!("lines-unit-{u:05}.bin"))
}

/// The file of every unit's shift and index, written by the client for
/// the assemble tasks.
fn units_file(dir: &Path) -> PathBuf {
    dir.join("line-units.bin")
}

/// The units of `files`: each Parquet file in ranges of `chunk_rows`
/// rows (one, empty, for an empty file), each CSV file whole.
pub fn units_of(files: &[InputFile], chunk_rows: usize) -> Result<Vec<ReadUnit>> {
    let chunk_rows = chunk_rows.max(1);
    let mut units = Vec::new();
    for (f, file) in files.iter().enumerate() {
        // Executors have working directories of their own.
        let path = std::path::absolute(&file.path)
            .map_err(|e| Error::input(&file.path, format!("cannot make the path absolute: {e}")))?;
        let unit = |rows| ReadUnit {
            file: f as u32,
            path: path.clone(),
            format: file.format,
            rows,
        };
        match file.format {
            FileFormat::Parquet => {
                let rows = crate::io::parquet::parquet_rows(&file.path)?;
                let starts = (0..rows.max(1)).step_by(chunk_rows);
                units.extend(starts.map(|s| unit(Some((s, chunk_rows.min(rows - s))))));
            }
            FileFormat::Csv | FileFormat::CsvGz => units.push(unit(None)),
        }
    }
    Ok(units)
}

/// The read tasks' work: unit `u`, read, checked and scattered, its
/// pieces written to its file. Its rows: `Written` and `Read`, or
/// `Refused` alone.
pub fn read_unit(
    dir: &Path,
    (u, unit): (u32, &ReadUnit),
    settings: &ReadSettings,
    pipeline: &Pipeline,
) -> Result<Vec<Row>> {
    match scatter_unit(dir, (u, unit), settings, pipeline) {
        Ok((read, bytes)) => Ok(vec![written(u, bytes)?, Row::own(u, Kind::Read, &read)?]),
        Err(e) => Ok(vec![Row::own(u, Kind::Refused, &Refusal::of(e)?)?]),
    }
}

/// The pipeline a read task checks rows by.
pub fn pipeline_of(settings: &ReadSettings) -> Result<Pipeline> {
    pipeline_of_config(&settings.config)
}

/// The pipeline of the client's settings `config` (JSON).
pub(super) fn pipeline_of_config(config: &str) -> Result<Pipeline> {
    let config: PipelineConfig = serde_json::from_str(config)
        .map_err(|e| cluster_error(format!("the pipeline sent to a read task: {e}")))?;
    Pipeline::of_config(config)
}

/// Unit `u` scattered into its file; what is sent back of it, and the
/// file's bytes.
fn scatter_unit(
    dir: &Path,
    (u, unit): (u32, &ReadUnit),
    settings: &ReadSettings,
    pipeline: &Pipeline,
) -> Result<(UnitRead, u64)> {
    let spec = InputSpec::orders(pipeline);
    let file = unit.input();
    let hash_lines = pipeline.config.columns.order_id.is_some();
    let partitions = settings.partitions;
    let mut scatter = LineScatter::new(pipeline, partitions, settings.sample_step);
    let mut out = PieceFile::create(&unit_file(dir, u as usize), settings.compress)?;
    let mut index = PieceIndex {
        partitions,
        starts: Vec::new(),
    };
    let wanted = |first: usize, _| unit.holds_chunk(first);
    let chunk_rows = settings.chunk_rows;
    read_chunks_where(
        &spec,
        unit.file,
        &file,
        hash_lines,
        chunk_rows,
        wanted,
        |batch| {
            for piece in scatter.push(&file.path, &batch, &|_| {})? {
                let start = match piece.is_empty() {
                    true => NO_PIECE,
                    false => out.put(&piece)?,
                };
                index.starts.push(start);
            }
            Ok(())
        },
    )?;
    let bytes = out.finish()?;
    let (keys, rejects) = UnitKeys::of(scatter, unit.file);
    let read = UnitRead {
        keys,
        rejects,
        index,
    };
    Ok((read, bytes))
}

/// The lines as the read tasks left them: each unit's file, index and
/// shift onto the whole input.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct UnitFiles {
    /// Line partitions.
    pub partitions: usize,
    pub shifts: Vec<UnitShift>,
    pub indexes: Vec<PieceIndex>,
}

/// What the client makes of the read tasks' rows: the whole input's keys,
/// its row rejects (in input order) and the units' files.
pub struct ReadLines {
    pub keys: LineKeys,
    pub rejects: Vec<Reject>,
    pub units: UnitFiles,
}

/// The read tasks' rows of `units` merged: the first refusal (in input
/// order) as the run's error; else the keys of the input `files` with
/// `dimension_names`, cut into `partitions` customer partitions.
pub fn merge_reads(
    rows: &[Row],
    units: &[ReadUnit],
    (files, dimension_names): (&[InputFile], &[String]),
    partitions: usize,
) -> Result<ReadLines> {
    let refused = rows.iter().filter(|r| r.kind == Kind::Refused);
    if let Some(first) = refused.min_by_key(|r| r.source) {
        let unit = &units[first.source as usize];
        return Err(decode::<Refusal>(&first.payload)?.into_error(unit, files));
    }
    let reads: Vec<UnitRead> = payloads(rows, Kind::Read, units.len())?;
    let rows_read: u64 = reads.iter().map(|r| r.keys.rows_read).sum();
    // Line indices are u32 throughout (half the memory of usize).
    if rows_read >= NO_CODE as u64 {
        let path = files.last().map_or(PathBuf::new(), |f| f.path.clone());
        return Err(Error::input(
            path,
            format!(
                "the input has more than {} rows in all: split the history into several runs",
                NO_CODE - 1
            ),
        ));
    }
    let mut unit_keys = Vec::with_capacity(reads.len());
    let mut rejects = Vec::new();
    let mut indexes = Vec::with_capacity(reads.len());
    for read in reads {
        unit_keys.push(read.keys);
        rejects.extend(read.rejects);
        indexes.push(read.index);
    }
    let (keys, shifts) = merge_units(unit_keys, (files.len(), dimension_names), partitions);
    Ok(ReadLines {
        keys,
        rejects,
        units: UnitFiles {
            partitions,
            shifts,
            indexes,
        },
    })
}

impl UnitFiles {
    /// Written where the assemble tasks read it ([`UnitFiles::read`]).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = units_file(dir);
        std::fs::write(&path, encode(self)?)
            .map_err(|e| Error::output(&path, format!("cannot write the read units: {e}")))
    }

    pub fn read(dir: &Path) -> Result<Arc<UnitFiles>> {
        read_encoded(&units_file(dir)).map(Arc::new)
    }

    /// Line partition `p` whole: its pieces of every unit, in input order,
    /// shifted onto the whole input.
    pub fn line_part(&self, dir: &Path, p: usize) -> Result<LinePart> {
        let mut pieces = Vec::new();
        for (u, (index, shift)) in self.indexes.iter().zip(&self.shifts).enumerate() {
            let read: Vec<LinePart> = read_pieces_at(&unit_file(dir, u), &index.starts_of(p))?;
            pieces.extend(read.into_iter().map(|piece| shifted(piece, shift)));
        }
        Ok(LinePart::concat(pieces))
    }
}
