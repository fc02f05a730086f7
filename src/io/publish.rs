//! Publishing: tables → Parquet files in a new run directory, verified by an
//! independent reader, then made visible in one atomic step.
//!
//! Protocol (SPEC §5): every file is written under a temporary name,
//! fsynced and renamed; each is read back (with Polars' own Parquet reader,
//! independent of the `parquet` crate that wrote it) and compared with what
//! was computed; the manifest is written last; `OUT/current`, a symbolic
//! link to `runs/RUN_ID`, is replaced by a rename, which readers see either
//! before or after, never half-done. A run directory without a manifest is
//! incomplete and is removed by the next run.
//!
//! The order is carried by types: a [`StagedRun`] (a new, empty run
//! directory) becomes [`TablesWritten`] once every table is written and
//! verified; beside them go other files of the run (the report); it
//! becomes a [`SealedRun`] only with its manifest written, which must list
//! exactly the tables written; only a sealed run can be committed;
//! committing flips `current` and yields a [`PublishedRun`], whose cleanup
//! can only produce warnings. A staged, written or sealed run dropped on
//! an error removes its own directory; a published one has nothing that
//! could.
//!
//! What cleanup may delete (never anything else): directories in
//! `OUT/runs/` named like a run id this tool makes ([`is_run_id`]), never
//! through a symbolic link and never the one `current` points at, and the
//! `OUT/.current.PID.tmp` links a killed run left. A symlinked `OUT/runs`,
//! a `current` that is not a symbolic link, and a `.lock` that is not our
//! own regular file are refused before anything is written.

use rayon::prelude::*;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, StringArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{
    ArrowNativeType, DataType as ArrowType, Date32Type as ArrowDate32, Field,
    Float64Type as ArrowFloat64, Int32Type as ArrowInt32, Int64Type as ArrowInt64, Schema,
    TimeUnit as ArrowTimeUnit, TimestampMicrosecondType as ArrowTimestampMicros,
};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use polars::prelude::*;
use polars_arrow::array::Array as _;

use super::atomic::{
    create_temporary, file_name, into_place, open_own_file, temporary_path, why,
    write_file_atomically,
};
use super::value_digest::FrameDigest;
use crate::error::{Error, Result};
use crate::faults;
use crate::manifest::{Manifest, WrittenFile};

/// The manifest's file name; its presence marks a run directory complete.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// A table to publish: held whole, or produced a range of rows at a time.
pub struct Table {
    pub name: &'static str,
    rows: Rows,
}

/// A table's rows produced a range at a time, for a table as large as the
/// data it is built from (one row per customer): publishing builds, writes
/// and checks a piece of a row group at a time, so the table is never held
/// whole beside that data.
pub trait RowSource: Send + Sync {
    fn height(&self) -> usize;

    /// Rows `offset .. offset + length`. Infallible: a source checks when
    /// it is made that it can build its rows, whose columns and types do
    /// not depend on the range.
    fn rows(&self, offset: usize, length: usize) -> DataFrame;
}

enum Rows {
    Whole(DataFrame),
    Produced {
        source: Box<dyn RowSource>,
        /// The whole table, once asked for ([`Table::frame`]).
        whole: std::sync::OnceLock<DataFrame>,
    },
}

impl Table {
    pub fn whole(name: &'static str, frame: DataFrame) -> Table {
        Table {
            name,
            rows: Rows::Whole(frame),
        }
    }

    pub fn produced(name: &'static str, source: Box<dyn RowSource>) -> Table {
        Table {
            name,
            rows: Rows::Produced {
                source,
                whole: std::sync::OnceLock::new(),
            },
        }
    }

    pub fn height(&self) -> usize {
        match &self.rows {
            Rows::Whole(frame) => frame.height(),
            Rows::Produced { source, .. } => source.height(),
        }
    }

    /// Rows `offset .. offset + length`.
    pub fn rows(&self, (offset, length): (usize, usize)) -> DataFrame {
        match &self.rows {
            Rows::Whole(frame) => frame.slice(offset as i64, length),
            Rows::Produced { source, .. } => produce(source.as_ref(), (offset, length)),
        }
    }

    /// The named columns of every row; a produced table's are built a
    /// piece at a time.
    pub fn select(&self, names: &[&str]) -> Result<DataFrame> {
        let mut selected = match &self.rows {
            Rows::Whole(frame) => return Ok(frame.select(names.iter().copied())?),
            Rows::Produced { .. } => self.rows((0, 0)).select(names.iter().copied())?,
        };
        self.each_piece(names, &mut |rows| {
            selected.vstack_mut(rows)?;
            Ok(())
        })?;
        selected.rechunk_mut();
        Ok(selected)
    }

    /// Calls `each` with the named columns of each piece of
    /// [`PUBLISH_PIECE_ROWS`] rows, in order; a produced table's are built
    /// one at a time: a produced table builds every column of the rows it
    /// is asked for, so a piece holds a publishing piece's copy of them,
    /// not a row group's (for `customers` at 10 M orders, about 60 MiB
    /// instead of 450).
    fn each_piece(
        &self,
        names: &[&str],
        each: &mut dyn FnMut(&DataFrame) -> Result<()>,
    ) -> Result<()> {
        for range in ranges_of((0, self.height()), PUBLISH_PIECE_ROWS) {
            each(&self.rows(range).select(names.iter().copied())?)?;
        }
        Ok(())
    }

    /// The whole table. A produced table is built in full the first time
    /// (for tests and library callers; publishing never asks) and kept.
    pub fn frame(&self) -> &DataFrame {
        match &self.rows {
            Rows::Whole(frame) => frame,
            Rows::Produced { source, whole } => {
                whole.get_or_init(|| source.rows(0, source.height()))
            }
        }
    }
}

/// Converts a Polars column to an Arrow array and its field.
fn to_arrow(column: &Column) -> Result<(Field, ArrayRef)> {
    let name = column.name().to_string();
    let unsupported = |what: &str| {
        Error::output(
            PathBuf::from(&name),
            format!("column `{name}` has type {what}, which the publisher does not write"),
        )
    };
    let (dtype, array): (ArrowType, ArrayRef) = match column.dtype() {
        DataType::String => (ArrowType::Utf8, Arc::new(text_array(column.str()?)?)),
        DataType::Int64 => (
            ArrowType::Int64,
            Arc::new(primitive_array::<_, ArrowInt64>(column.i64()?)),
        ),
        DataType::Int32 => (
            ArrowType::Int32,
            Arc::new(primitive_array::<_, ArrowInt32>(column.i32()?)),
        ),
        DataType::Float64 => (
            ArrowType::Float64,
            Arc::new(primitive_array::<_, ArrowFloat64>(column.f64()?)),
        ),
        DataType::Boolean => (
            ArrowType::Boolean,
            Arc::new(column.bool()?.iter().collect::<BooleanArray>()),
        ),
        DataType::Date => {
            let days = column.cast(&DataType::Int32)?;
            (
                ArrowType::Date32,
                Arc::new(primitive_array::<_, ArrowDate32>(days.i32()?)),
            )
        }
        DataType::Datetime(_, _) => {
            let micros = column
                .cast(&DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                ))?
                .cast(&DataType::Int64)?;
            (
                ArrowType::Timestamp(ArrowTimeUnit::Microsecond, Some("UTC".into())),
                Arc::new(
                    primitive_array::<_, ArrowTimestampMicros>(micros.i64()?).with_timezone("UTC"),
                ),
            )
        }
        other => return Err(unsupported(&other.to_string())),
    };
    Ok((Field::new(name, dtype, true), array))
}

// The columns are copied a chunk's values at a time, not value by value
// through Polars' iterators: at 100 M orders those took about a tenth of
// the publish step's CPU time.

/// A Polars numeric column as the Arrow array of the same values.
fn primitive_array<T, A>(column: &ChunkedArray<T>) -> PrimitiveArray<A>
where
    T: PolarsNumericType,
    T::Native: ArrowNativeType,
    A: ArrowPrimitiveType<Native = T::Native>,
{
    let mut values = Vec::with_capacity(column.len());
    for chunk in column.downcast_iter() {
        values.extend_from_slice(chunk.values());
    }
    PrimitiveArray::new(values.into(), nulls_of(column))
}

/// A Polars text column as an Arrow `Utf8` array.
fn text_array(column: &StringChunked) -> Result<StringArray> {
    let name = || column.name().to_string();
    let fail =
        |why: String| Error::output(PathBuf::from(name()), format!("column `{}`: {why}", name()));
    let total: usize = column.downcast_iter().map(|c| c.total_bytes_len()).sum();
    if i32::try_from(total).is_err() {
        return Err(fail("more than 2 GiB of text in one piece".into()));
    }
    let mut offsets = Vec::with_capacity(column.len() + 1);
    offsets.push(0i32);
    let mut bytes = Vec::with_capacity(total);
    // Below 2 GiB in all (checked above), so every offset fits.
    let mut push = |value: &str| {
        bytes.extend_from_slice(value.as_bytes());
        offsets.push(bytes.len() as i32);
    };
    for chunk in column.downcast_iter() {
        // A null's view is not read: its length is not defined.
        match chunk.null_count() {
            0 => chunk.values_iter().for_each(&mut push),
            _ => chunk
                .iter()
                .for_each(|value| push(value.unwrap_or_default())),
        }
    }
    StringArray::try_new(
        OffsetBuffer::new(offsets.into()),
        bytes.into(),
        nulls_of(column),
    )
    .map_err(|e| fail(e.to_string()))
}

/// The valid values of a Polars column, as Arrow keeps them (`None`: all).
fn nulls_of<T: PolarsDataType>(column: &ChunkedArray<T>) -> Option<NullBuffer> {
    if column.null_count() == 0 {
        return None;
    }
    let mut valid = Vec::with_capacity(column.len());
    for chunk in column.downcast_iter() {
        match chunk.validity() {
            Some(bits) => valid.extend(bits.iter()),
            None => valid.resize(valid.len() + chunk.len(), true),
        }
    }
    Some(NullBuffer::from(valid))
}

/// Rows a produced table builds in one task: a quarter of a publishing
/// piece ([`PUBLISH_PIECE_ROWS`]), so a piece is built on every core
/// while the one before it is encoded.
const PRODUCED_PIECE_ROWS: usize = 32 * 1024;

/// Rows `offset .. offset + length` of `source`, built in pieces on the
/// thread pool: a source builds its rows on one thread, and the
/// `customers` table's row groups, built to be written and again to be
/// checked, would otherwise end the publish step on one core.
fn produce(source: &dyn RowSource, (offset, length): (usize, usize)) -> DataFrame {
    if length <= PRODUCED_PIECE_ROWS {
        return source.rows(offset, length);
    }
    let starts: Vec<usize> = (offset..offset + length)
        .step_by(PRODUCED_PIECE_ROWS)
        .collect();
    let mut pieces: Vec<DataFrame> = starts
        .into_par_iter()
        .map(|start| source.rows(start, PRODUCED_PIECE_ROWS.min(offset + length - start)))
        .collect();
    // The pieces stay chunks of one frame: writing converts a column
    // value by value, and comparing reads across chunks.
    let mut rows = pieces.remove(0);
    for piece in pieces {
        rows.vstack_mut_owned(piece)
            .expect("pieces of one source have the same columns");
    }
    rows
}

/// Rows in a row group: the `parquet` crate's default. A table is
/// converted, written and read back a piece of a row group at a time
/// ([`PUBLISH_PIECE_ROWS`]), so publishing holds a few pieces' copies of a
/// table and one row group's encoded pages, not the whole table twice more.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;

/// The row groups of the rows `offset .. offset + length`, in order.
fn row_groups_of(rows: (usize, usize)) -> impl Iterator<Item = (usize, usize)> {
    ranges_of(rows, ROW_GROUP_ROWS)
}

/// The rows `offset .. offset + length` in ranges of `step` rows (the last
/// shorter), in order.
fn ranges_of((start, length): (usize, usize), step: usize) -> impl Iterator<Item = (usize, usize)> {
    (start..start + length)
        .step_by(step)
        .map(move |offset| (offset, step.min(start + length - offset)))
}

/// Rows a row group is built, converted, encoded and checked in at a
/// time (the most: a tight budget takes fewer, [`publish_piece_rows`]). A
/// row group of `customers` whole (a million rows of some thirty columns,
/// as a frame and again as Arrow arrays, twice more to check it) took about
/// 450 MiB beside the run's own data whatever the input's size: 10 M orders
/// under a 256 MiB budget peaked at 755 MiB in publishing.
pub const PUBLISH_PIECE_ROWS: usize = 128 * 1024;

/// Rows in a data page at most. The writer cuts a column without nulls
/// into runs of this many rows from the start of each piece it is given,
/// so pages end at the same rows, and files are the same bytes, for any
/// piece size that is a multiple of it (the `parquet` crate's default,
/// 20,000, divides none).
const PAGE_ROWS: usize = 16 * 1024;

/// Rows a piece of a row group holds under the memory budget `limit`:
/// [`PUBLISH_PIECE_ROWS`] unless that would take more than about a tenth
/// of the budget, down to [`PAGE_ROWS`]. A row of `customers` is about 250
/// bytes as a frame and as many again as Arrow arrays, and a piece is
/// encoded while the next is built: at 10 M orders under 256 MiB, pieces
/// of 128 Ki rows took the run's peak to 364.5 MiB in publishing, 1.42
/// times the budget. Smaller pieces cost time (a trial with 32 Ki-row
/// pieces at every budget, and produced tables built in smaller tasks
/// too, made the 10 M run a tenth slower), so ample budgets keep the
/// largest.
pub fn publish_piece_rows(limit: u64) -> usize {
    const BYTES_A_ROW_IN_FLIGHT: u64 = 750;
    let fitting = usize::try_from(limit / 10 / BYTES_A_ROW_IN_FLIGHT).unwrap_or(usize::MAX);
    (fitting / PAGE_ROWS * PAGE_ROWS).clamp(PAGE_ROWS, PUBLISH_PIECE_ROWS)
}

/// The least memory budget under which every table's parts are written
/// side by side ([`StagedRun::write_tables`]). A part being written holds
/// two pieces of [`PUBLISH_PIECE_ROWS`] rows (about 100 MiB each for
/// `customers`, at 750 bytes a row) and its row group's encoded pages, and
/// the thread pool may start several parts while others wait on their
/// columns. At 8 GiB eight pieces are a tenth of the budget, as one piece
/// is at the least budget with pieces of the most rows
/// ([`publish_piece_rows`]).
pub const PARTS_SIDE_BY_SIDE_LIMIT: u64 = 8 << 30;

/// Rows in one file of a table (`TABLE/part-NNNNN.parquet`): four row
/// groups, so a large table (a shop's `customers`) is several files that
/// engines such as Spark and Trino read in parallel.
pub const PART_ROWS: usize = 4 * ROW_GROUP_ROWS;

/// The row ranges of a table's parts; a table without rows has one empty
/// part, so readers of its directory still find its schema.
pub fn parts(rows: usize) -> Vec<(usize, usize)> {
    match rows {
        0 => vec![(0, 0)],
        _ => (0..rows)
            .step_by(PART_ROWS)
            .map(|offset| (offset, PART_ROWS.min(rows - offset)))
            .collect(),
    }
}

/// The file of part `index` of `table`, relative to the run directory.
pub fn part_file(table: &str, index: usize) -> String {
    format!("{table}/part-{index:05}.parquet")
}

/// Rows of a table as one Arrow record batch (to be written to `path`).
fn to_record_batch(rows: &DataFrame, path: &Path) -> Result<RecordBatch> {
    // Converted side by side: a row group of `customers` is some thirty
    // columns of a million values.
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = rows
        .columns()
        .par_iter()
        .map(to_arrow)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::output(path, format!("cannot assemble the table: {e}")))
}

/// A piece of a written file, as [`write_parquet`] built it: its rows
/// (offset in the file, length) and the digest of their values.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenPiece {
    pub rows: (usize, usize),
    pub digest: FrameDigest,
}

/// Writes the rows `part` (offset, length) of a table as Parquet (zstd,
/// chunk statistics, key-value metadata) to `path`, through a temporary
/// file that is fsynced and renamed, encoding `piece_rows` rows at a time
/// (a multiple of [`PAGE_ROWS`]: the file is the same bytes for any).
/// Returns the file's size and its pieces, in order, for
/// [`verify_parquet`].
pub fn write_parquet(
    table: &Table,
    (part, piece_rows): ((usize, usize), usize),
    path: &Path,
    metadata: &[(String, String)],
) -> Result<(u64, Vec<WrittenPiece>)> {
    let (schema, properties) = schema_and_properties(table, path, metadata)?;
    let temporary = temporary_path(path);
    let file_name = table_file_name(path);
    let file = create_temporary(&temporary)?;
    let mut written = Vec::new();
    let write = || -> std::result::Result<u64, Box<dyn std::error::Error>> {
        // ArrowWriter puts the Arrow schema in the footer; its lower-level
        // parts let the columns of a row group be encoded side by side.
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
        let (mut writer, columns) = writer.into_serialized_writer()?;
        for (index, range) in row_groups_of(part).enumerate() {
            let (chunks, pieces) =
                encode_row_group(table, (&columns, index), (range, piece_rows), &schema, path)?;
            // The pieces' rows of the table, as rows of this file.
            written.extend(pieces.into_iter().map(|mut piece| {
                piece.rows.0 -= part.0;
                piece
            }));
            let mut row_group = writer.next_row_group()?;
            for chunk in chunks {
                chunk.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
        }
        faults::io_point(&format!("publish::enospc::{file_name}"))?;
        let file = writer.into_inner()?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    };
    let bytes = into_place(write(), &temporary, path, &file_name)?;
    Ok((bytes, written))
}

/// The Arrow schema a table is written with (its columns, with the
/// key-value `metadata`) and the writer's settings: zstd, chunk
/// statistics, row groups of [`ROW_GROUP_ROWS`], the metadata in the
/// footer too.
fn schema_and_properties(
    table: &Table,
    path: &Path,
    metadata: &[(String, String)],
) -> Result<(Arc<Schema>, WriterProperties)> {
    // The schema from an empty slice: a table without rows has one too.
    // The key-value pairs go on the Arrow schema as well as in the footer:
    // the Arrow schema embedded in the file is what pyarrow and pandas
    // show as the schema's metadata.
    let columns = to_record_batch(&table.rows((0, 0)), path)?.schema();
    let schema = Arc::new(Schema::new_with_metadata(
        columns.fields().clone(),
        metadata
            .iter()
            .cloned()
            .collect::<std::collections::HashMap<_, _>>(),
    ));
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ))
        .build();
    Ok((schema, properties))
}

/// Encodes (and compresses) the rows `range` of `table` as row group
/// `index` of `columns`, a piece of `piece_rows` rows at a time: the
/// next piece is built while one is encoded, and a piece's columns are
/// encoded on the thread pool (one table's file is written by one thread,
/// and the largest table, `customers`, would otherwise hold the publish
/// step on one core). The chunks come back in the schema's column order,
/// as `ArrowWriter` would write them, with the pieces (their rows of the
/// table and digests).
fn encode_row_group(
    table: &Table,
    (columns, index): (&ArrowRowGroupWriterFactory, usize),
    (range, piece_rows): ((usize, usize), usize),
    schema: &Arc<Schema>,
    path: &Path,
) -> std::result::Result<(Vec<ArrowColumnChunk>, Vec<WrittenPiece>), Box<dyn std::error::Error>> {
    assert_eq!(piece_rows % PAGE_ROWS, 0, "pieces end where pages do");
    let mut writers = columns.create_column_writers(index)?;
    let mut digests = Vec::new();
    let batch_of = |piece| -> Result<(RecordBatch, FrameDigest)> {
        let rows = table.rows(piece);
        let (batch, digest) =
            rayon::join(|| to_record_batch(&rows, path), || digest_of(&rows, path));
        let batch = batch?
            .with_schema(schema.clone())
            .map_err(|e| Error::output(path, format!("cannot assemble the table: {e}")))?;
        Ok((batch, digest?))
    };
    let pieces: Vec<(usize, usize)> = ranges_of(range, piece_rows).collect();
    let mut next = pieces.first().map(|&piece| batch_of(piece));
    for (&piece, following) in pieces
        .iter()
        .zip(pieces.iter().skip(1).map(Some).chain([None]))
    {
        let (batch, digest) = next
            .take()
            .expect("a piece is built before it is encoded")?;
        digests.push(WrittenPiece {
            rows: piece,
            digest,
        });
        let (encoded, built) = rayon::join(
            || encode_piece(&mut writers, &batch),
            || following.map(|&piece| batch_of(piece)),
        );
        encoded?;
        next = built;
    }
    let chunks = writers
        .into_par_iter()
        .map(|writer| writer.close())
        .collect::<parquet::errors::Result<_>>()?;
    Ok((chunks, digests))
}

/// Adds the rows of `batch` to the row group's column `writers`, the
/// columns side by side.
fn encode_piece(
    writers: &mut [ArrowColumnWriter],
    batch: &RecordBatch,
) -> parquet::errors::Result<()> {
    let mut leaves = Vec::with_capacity(writers.len());
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        leaves.extend(compute_leaves(field, array)?);
    }
    if leaves.len() != writers.len() {
        return Err(parquet::errors::ParquetError::General(format!(
            "{} leaf columns for {} column writers",
            leaves.len(),
            writers.len()
        )));
    }
    writers
        .par_iter_mut()
        .zip(leaves)
        .try_for_each(|(writer, leaf)| writer.write(&leaf))
}

/// Reads a written file back with Polars and compares it with the rows
/// `part` of the table it was written from: column names, types and row
/// count with the table's, and every value, a piece at a time, by the
/// digests [`write_parquet`] took of the pieces it wrote (`written`),
/// which must cover the file's rows in order.
pub fn verify_parquet(
    table: &Table,
    part: (usize, usize),
    path: &Path,
    written: &[WrittenPiece],
) -> Result<()> {
    let reader = ReadBack::open(path)?;
    let expected = published_schema(&table.rows((0, 0)));
    let found = published_schema(&reader.rows((0, 0))?);
    if expected != found {
        return Err(Error::output(
            path,
            format!("schema read back differs: expected {expected:?}, found {found:?}"),
        ));
    }
    let rows = reader.row_count()?;
    if rows != part.1 {
        return Err(Error::output(
            path,
            format!(
                "row count read back differs: expected {}, found {rows}",
                part.1,
            ),
        ));
    }
    if !covers_in_order(written, rows) {
        return Err(Error::output(
            path,
            format!(
                "the {} pieces digested when it was written do not cover its {rows} rows one after another",
                written.len()
            ),
        ));
    }
    compare_pieces(&reader, written, &expected, path)
}

/// Reads each piece's rows back and compares their digest with the one
/// taken when they were written; the error names the first column that
/// differs (`columns` are the file's, in order) and the piece's rows.
fn compare_pieces(
    reader: &ReadBack,
    written: &[WrittenPiece],
    columns: &[(String, DataType)],
    path: &Path,
) -> Result<()> {
    for piece in written {
        let read = digest_of(&reader.rows(piece.rows)?, path)?;
        if let Some(column) = piece.digest.first_difference(&read) {
            let name = columns.get(column).map_or("?", |(name, _)| name.as_str());
            let (start, length) = piece.rows;
            return Err(Error::output(
                path,
                format!(
                    "values read back differ from those computed (column `{name}`, rows {start} to {})",
                    start + length
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `pieces` cover a file's `rows` rows one after another from
/// row 0, each row once.
fn covers_in_order(pieces: &[WrittenPiece], rows: usize) -> bool {
    let mut next = 0;
    for &WrittenPiece {
        rows: (start, length),
        ..
    } in pieces
    {
        if start != next {
            return false;
        }
        next = start + length;
    }
    next == rows
}

/// The digest of `rows` as published (timestamps in microseconds UTC), so
/// a piece as computed and as read back are digested alike.
fn digest_of(rows: &DataFrame, path: &Path) -> Result<FrameDigest> {
    FrameDigest::of(&comparable(rows)?)
        .map_err(|e| Error::output(path, format!("cannot check the table: {e}")))
}

/// A written Parquet file read back by Polars, a range of rows at a time;
/// the footer is read once.
struct ReadBack<'p> {
    path: &'p Path,
    metadata: Option<Arc<polars::io::parquet::read::FileMetadata>>,
}

impl<'p> ReadBack<'p> {
    fn open(path: &'p Path) -> Result<ReadBack<'p>> {
        let mut back = ReadBack {
            path,
            metadata: None,
        };
        let metadata = back
            .reader()?
            .get_metadata()
            .map_err(|e| back.failed(e))?
            .clone();
        back.metadata = Some(metadata);
        Ok(back)
    }

    fn reader(&self) -> Result<ParquetReader<File>> {
        let file = File::open(self.path)
            .map_err(|e| Error::output(self.path, format!("cannot reopen: {e}")))?;
        let mut reader = ParquetReader::new(file);
        if let Some(metadata) = &self.metadata {
            reader.set_metadata(metadata.clone());
        }
        Ok(reader)
    }

    fn failed(&self, e: PolarsError) -> Error {
        Error::output(self.path, format!("cannot read back: {e}"))
    }

    fn row_count(&self) -> Result<usize> {
        self.reader()?.num_rows().map_err(|e| self.failed(e))
    }

    /// Rows `offset .. offset + length`.
    fn rows(&self, (offset, length): (usize, usize)) -> Result<DataFrame> {
        self.reader()?
            .with_slice(Some((offset, length)))
            .finish()
            .map_err(|e| self.failed(e))
    }
}

/// Each column's name and published type.
fn published_schema(frame: &DataFrame) -> Vec<(String, DataType)> {
    frame
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), published_dtype(c.dtype())))
        .collect()
}

/// `frame` with each column cast to its published type.
fn comparable(frame: &DataFrame) -> Result<DataFrame> {
    let columns = frame
        .columns()
        .iter()
        .map(|c| c.cast(&published_dtype(c.dtype())))
        .collect::<PolarsResult<Vec<_>>>()?;
    Ok(DataFrame::new(frame.height(), columns)?)
}

/// The type a column has once published and read back (timestamps are
/// normalized to microseconds UTC).
fn published_dtype(dtype: &DataType) -> DataType {
    match dtype {
        DataType::Datetime(_, _) => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        other => other.clone(),
    }
}

/// A table file's name with its table directory (`customers/part-00000.parquet`),
/// as crash points and messages name it.
fn table_file_name(path: &Path) -> String {
    let table = path.parent().map(file_name).unwrap_or_default();
    format!("{table}/{}", file_name(path))
}

/// Flushes a directory entry list (new files and renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::output(dir, format!("cannot sync directory: {e}")))
}

/// A new run id: the start time to the millisecond (UTC) and the process
/// id, so ids sort by start time and two processes never share one.
pub fn new_run_id(started_at: chrono::DateTime<chrono::Utc>, pid: u32) -> String {
    format!("{}-{pid}", started_at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Whether `name` has the shape of a [`new_run_id`] id
/// (`YYYYMMDDTHHMMSS.mmmZ-PID`): the only names in `OUT/runs/` cleanup may
/// remove, so a user's own directory there is never touched.
pub fn is_run_id(name: &str) -> bool {
    fn digits(part: &str, count: std::ops::RangeInclusive<usize>) -> bool {
        count.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    }
    let Some((time, pid)) = name.split_once("Z-") else {
        return false;
    };
    let Some((date, clock)) = time.split_once('T') else {
        return false;
    };
    let Some((seconds, millis)) = clock.split_once('.') else {
        return false;
    };
    // A pid is a u32: at most 10 digits.
    digits(date, 8..=8) && digits(seconds, 6..=6) && digits(millis, 3..=3) && digits(pid, 1..=10)
}

/// What an existing path is, in words, for an error message.
fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Refuses an output directory this tool would have to write or delete
/// through something it does not own: `OUT/runs` must be a real directory
/// (a symbolic link there would make cleanup delete inside its target) and
/// `OUT/current` must be the symbolic link this tool maintains (a user's
/// file or directory of that name is never replaced). Checked before a run
/// computes anything, and again before each step that relies on it.
pub fn check_output_layout(out_dir: &Path) -> Result<()> {
    check_runs_dir(&out_dir.join("runs"))?;
    check_current(&out_dir.join("current"))
}

fn check_runs_dir(runs_dir: &Path) -> Result<()> {
    check_entry(runs_dir, std::fs::FileType::is_dir, |kind| {
        format!(
            "is {kind}, not a directory: retention publishes only into a real `runs` directory \
             (to keep runs on another disk, point [output] dir there instead); move it away"
        )
    })
}

fn check_current(link: &Path) -> Result<()> {
    check_entry(link, std::fs::FileType::is_symlink, |kind| {
        format!(
            "is {kind}, not the symbolic link retention maintains there; retention never \
             replaces it: move it away"
        )
    })
}

/// Ok when nothing is at `path` or it is of the expected type (read without
/// following a link); otherwise the error `complaint(kind found)`.
fn check_entry(
    path: &Path,
    expected: fn(&std::fs::FileType) -> bool,
    complaint: impl Fn(&str) -> String,
) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if expected(&m.file_type()) => Ok(()),
        Ok(m) => Err(Error::output(path, complaint(kind_of(&m)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::output(path, format!("cannot inspect: {e}"))),
    }
}

/// A run directory being written (`OUT/runs/RUN_ID`), not yet visible to
/// readers. Dropped before it is committed (an error or a panic), it
/// removes its directory: nothing points at it.
pub struct StagedRun {
    out_dir: PathBuf,
    run_id: String,
    dir: PathBuf,
    /// Cleared once committed: from then on the directory is published.
    remove_on_drop: bool,
    /// Rows a table is encoded and checked in at a time
    /// ([`publish_piece_rows`]).
    piece_rows: usize,
    /// Whether every table's parts are written side by side
    /// ([`PARTS_SIDE_BY_SIDE_LIMIT`]).
    parts_side_by_side: bool,
}

impl StagedRun {
    /// Creates the (new, empty) run directory.
    pub fn create(out_dir: &Path, run_id: &str) -> Result<StagedRun> {
        let runs_dir = out_dir.join("runs");
        std::fs::create_dir_all(&runs_dir).map_err(|e| {
            Error::output(&runs_dir, format!("cannot create the runs directory: {e}"))
        })?;
        // create_dir_all accepts a symbolic link to a directory.
        check_runs_dir(&runs_dir)?;
        let dir = runs_dir.join(run_id);
        // Not create_dir_all: the directory must be new, so it is ours.
        std::fs::create_dir(&dir)
            .map_err(|e| Error::output(&dir, format!("cannot create the run directory: {e}")))?;
        Ok(StagedRun {
            out_dir: out_dir.to_path_buf(),
            run_id: run_id.to_string(),
            dir,
            remove_on_drop: true,
            piece_rows: PUBLISH_PIECE_ROWS,
            parts_side_by_side: true,
        })
    }

    /// Writes tables in pieces that fit the memory budget `limit`
    /// ([`publish_piece_rows`]); the files are the same bytes.
    pub fn within_budget(mut self, limit: u64) -> StagedRun {
        self.piece_rows = publish_piece_rows(limit);
        self.parts_side_by_side = limit >= PARTS_SIDE_BY_SIDE_LIMIT;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes every table as Parquet into its own directory, one file per
    /// part ([`parts`]), each read back and compared with what was computed
    /// (`metadata` gives a table's key-value metadata). The outputs are
    /// listed in the tables' order, each table's parts in order.
    ///
    /// Every table's parts are written side by side (one file's writer is
    /// one thread) when the budget has room ([`PARTS_SIDE_BY_SIDE_LIMIT`]):
    /// a part's last steps (its file written out, read back, hashed) are
    /// mostly one thread, and with a table's parts one after another the
    /// largest table, `customers`, held the end of publishing on one core
    /// once the others were done. Tables are written side by side, parts
    /// in order, under a smaller budget; short of memory (pieces smaller
    /// than the most) one part at a time, its pieces' columns still
    /// encoded side by side.
    pub fn write_tables(
        self,
        tables: &[Table],
        metadata: impl Fn(&str) -> Vec<(String, String)> + Sync,
    ) -> Result<TablesWritten> {
        for table in tables {
            self.create_table_dir(table)?;
        }
        let metadata: Vec<_> = tables.iter().map(|table| metadata(table.name)).collect();
        let write = |part: &PartToWrite| {
            let table = &tables[part.table];
            self.write_part(table, (part.index, part.rows), &metadata[part.table])
        };
        let outputs = self.write_parts(&PartToWrite::every(tables), write)?;
        for table in tables {
            sync_dir(&self.dir.join(table.name))?;
            faults::crash_point(&format!("publish::verified::{}", table.name));
        }
        Ok(TablesWritten {
            staged: self,
            outputs,
        })
    }

    /// Writes every part with `write` as the budget allows (see
    /// [`StagedRun::write_tables`]); the files in the parts' order.
    fn write_parts(
        &self,
        every_part: &[PartToWrite],
        write: impl Fn(&PartToWrite) -> Result<WrittenFile> + Send + Sync,
    ) -> Result<Vec<WrittenFile>> {
        if self.parts_side_by_side {
            every_part.par_iter().map(&write).collect()
        } else if self.piece_rows < PUBLISH_PIECE_ROWS {
            every_part.iter().map(write).collect()
        } else {
            let written = every_part
                .par_chunk_by(|a, b| a.table == b.table)
                .map(|parts| parts.iter().map(&write).collect::<Result<Vec<_>>>())
                .collect::<Result<Vec<_>>>()?;
            Ok(written.into_iter().flatten().collect())
        }
    }

    /// The directory of `table`'s parts, new like the run directory:
    /// nothing else is in it.
    fn create_table_dir(&self, table: &Table) -> Result<()> {
        let table_dir = self.dir.join(table.name);
        std::fs::create_dir(&table_dir)
            .map_err(|e| Error::output(&table_dir, format!("cannot create: {e}")))
    }

    /// Writes part `index` of `table` (its rows `part`), reads it back
    /// and compares it with the table's rows.
    fn write_part(
        &self,
        table: &Table,
        (index, part): (usize, (usize, usize)),
        metadata: &[(String, String)],
    ) -> Result<WrittenFile> {
        let file = part_file(table.name, index);
        let path = self.dir.join(&file);
        let (bytes, pieces) = write_parquet(table, (part, self.piece_rows), &path, metadata)?;
        verify_parquet(table, part, &path, &pieces)?;
        Ok(WrittenFile {
            table: table.name.to_string(),
            file,
            rows: part.1 as u64,
            bytes,
            sha256: sha256_file(&path)?,
        })
    }
}

/// One file of a table to write: part `index` of table `table` (an index
/// into the tables written), its rows `rows` (offset, length).
struct PartToWrite {
    table: usize,
    index: usize,
    rows: (usize, usize),
}

impl PartToWrite {
    /// Every part of every table, tables in order, each table's parts in
    /// order.
    fn every(tables: &[Table]) -> Vec<PartToWrite> {
        let parts_of = |(table, t): (usize, &Table)| {
            let parts = parts(t.height()).into_iter().enumerate();
            parts.map(move |(index, rows)| PartToWrite { table, index, rows })
        };
        tables.iter().enumerate().flat_map(parts_of).collect()
    }
}

/// A run directory with every table written and verified, not yet sealed.
pub struct TablesWritten {
    staged: StagedRun,
    outputs: Vec<WrittenFile>,
}

impl TablesWritten {
    pub fn dir(&self) -> &Path {
        self.staged.dir()
    }

    /// What was written, table by table (for the manifest).
    pub fn outputs(&self) -> &[WrittenFile] {
        &self.outputs
    }

    /// Writes another file of the run (the report) atomically. Never the
    /// manifest (only `seal` writes it) nor a table (written and verified
    /// by `write_tables`), so the order cannot be bypassed through here.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir().join(name);
        let is_table = self
            .outputs
            .iter()
            .any(|o| o.file == name || o.table == name)
            || name.ends_with(".parquet");
        if name == MANIFEST_FILE || is_table || name.contains('/') {
            return Err(Error::output(
                &path,
                "not a file write_file may write: the manifest and the tables have their own steps",
            ));
        }
        write_file_atomically(&path, bytes)
    }

    /// Writes the manifest last (its presence marks the run complete) once
    /// every file it lists is in place, and flushes the directory. The
    /// manifest must list exactly the tables written.
    pub fn seal(self, manifest: &Manifest) -> Result<SealedRun> {
        let dir = self.dir();
        if manifest.outputs != self.outputs {
            return Err(Error::output(
                dir,
                "the manifest does not list the tables written: the run is not sealed",
            ));
        }
        let listed = manifest
            .outputs
            .iter()
            .map(|o| o.file.as_str())
            .chain(manifest.report.as_deref());
        for file in listed {
            let path = dir.join(file);
            if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
                return Err(Error::output(
                    path,
                    "listed in the manifest but not written: the run is not sealed",
                ));
            }
        }
        let json = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::output(dir, format!("cannot encode the manifest: {e}")))?;
        write_file_atomically(&dir.join(MANIFEST_FILE), &json)?;
        sync_dir(dir)?;
        Ok(SealedRun(self.staged))
    }
}

impl Drop for StagedRun {
    fn drop(&mut self) {
        // Never the run `current` points at, whatever path led here.
        if self.remove_on_drop
            && current_run(&self.out_dir).as_deref() != Some(self.run_id.as_str())
        {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A complete run directory (tables, report, manifest), not yet visible.
pub struct SealedRun(StagedRun);

impl SealedRun {
    /// Publishes the run: points `OUT/current` at it. An error means
    /// `current` was not replaced (and the run directory is removed); once
    /// it is, the run is published and every later problem is a warning.
    pub fn commit(mut self) -> Result<PublishedRun> {
        let staged = &mut self.0;
        flip_current(&staged.out_dir, &staged.run_id)?;
        staged.remove_on_drop = false;
        let mut published = PublishedRun {
            out_dir: staged.out_dir.clone(),
            run_id: staged.run_id.clone(),
            dir: staged.dir.clone(),
            warnings: Vec::new(),
        };
        // The flip is visible already; this only makes it durable sooner.
        if let Err(e) = sync_dir(&published.out_dir) {
            published.warn(e.to_string());
        }
        let pointer = write_current_json(&published.out_dir, &published.run_id);
        let views =
            super::views::write_views(&published.out_dir, &published.dir, &published.run_id);
        for problem in [pointer, views].into_iter().filter_map(Result::err) {
            published.warn(problem.to_string());
        }
        Ok(published)
    }
}

/// A published run: `OUT/current` points at it. Nothing here can fail the
/// run or remove it; cleanup problems are collected as warnings.
#[derive(Debug)]
pub struct PublishedRun {
    out_dir: PathBuf,
    run_id: String,
    dir: PathBuf,
    warnings: Vec<String>,
}

impl PublishedRun {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Problems after publishing (cleanup, syncing), for the operator.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A problem after publishing (cleanup, history): the run stands.
    pub fn warn(&mut self, warning: String) {
        tracing::warn!("after publishing run {}: {warning}", self.run_id);
        self.warnings.push(warning);
    }

    /// Removes incomplete runs and complete ones beyond the newest
    /// `keep_runs` (see [`sweep_runs`]); returns the removed run ids.
    pub fn clean_up(&mut self, keep_runs: usize) -> Vec<String> {
        let sweep = sweep_runs(&self.out_dir, keep_runs, &self.run_id);
        for warning in sweep.warnings {
            self.warn(warning);
        }
        sweep.removed
    }
}

/// Points `OUT/current` at `runs/RUN_ID` in one atomic rename. An error
/// means `current` is unchanged.
fn flip_current(out_dir: &Path, run_id: &str) -> Result<()> {
    let link = out_dir.join("current");
    let temporary = out_dir.join(format!(".current.{}.tmp", std::process::id()));
    remove_link_temporary(&temporary);
    let target = Path::new("runs").join(run_id);
    std::os::unix::fs::symlink(&target, &temporary)
        .map_err(|e| Error::output(&temporary, format!("cannot create link: {e}")))?;
    faults::crash_point("publish::link_created");
    // A user's file named `current` would be silently replaced by the rename.
    let flipped = check_current(&link).and_then(|()| {
        std::fs::rename(&temporary, &link)
            .map_err(|e| Error::output(&link, format!("cannot replace link: {e}")))
    });
    if flipped.is_err() {
        remove_link_temporary(&temporary);
    }
    flipped?;
    faults::crash_point("publish::current_flipped");
    Ok(())
}

/// The file beside the `current` link that names the current run, for
/// readers that cannot follow a symbolic link (object stores, some
/// Windows shares, tools that take a path from a file).
pub const CURRENT_JSON: &str = "current.json";

/// Writes `OUT/current.json` (`run_id`, and `path` relative to OUT)
/// atomically, after `current` was flipped: a reader of either sees a
/// complete run, the new one or, for a moment, the one before.
fn write_current_json(out_dir: &Path, run_id: &str) -> Result<()> {
    let pointer = serde_json::json!({
        "run_id": run_id,
        "path": format!("runs/{run_id}"),
    });
    let mut bytes = serde_json::to_vec_pretty(&pointer)
        .map_err(|e| Error::output(out_dir, format!("cannot encode {CURRENT_JSON}: {e}")))?;
    bytes.push(b'\n');
    write_file_atomically(&out_dir.join(CURRENT_JSON), &bytes)
}

/// Removes `path` if it is one of the `.current.PID.tmp` links this tool
/// makes: a symbolic link (removing it never touches its target).
fn remove_link_temporary(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = std::fs::remove_file(path);
    }
}

/// The run directory `OUT/current` points at, if any.
pub fn current_run(out_dir: &Path) -> Option<String> {
    let target = std::fs::read_link(out_dir.join("current")).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// What a sweep removed, and what it could not do.
#[derive(Debug, Default)]
pub struct Sweep {
    pub removed: Vec<String>,
    pub warnings: Vec<String>,
}

/// Removes incomplete run directories (no manifest) other than `keep`, and
/// complete ones beyond the newest `keep_runs`, never the one `current`
/// points at. Only real directories named like a run id are considered:
/// anything else in `OUT/runs` (a user's file or directory, a symbolic
/// link) is left alone. Run ids sort by time, so name order is age order.
/// Never fails: what cannot be removed is a warning.
pub fn sweep_runs(out_dir: &Path, keep_runs: usize, keep: &str) -> Sweep {
    let runs_dir = out_dir.join("runs");
    let mut sweep = Sweep::default();
    if let Err(e) = check_runs_dir(&runs_dir) {
        sweep.warnings.push(e.to_string());
        return sweep;
    }
    let entries = match std::fs::read_dir(&runs_dir) {
        Ok(entries) => entries,
        Err(e) => {
            sweep.warnings.push(format!(
                "cannot list `{}` to remove old runs: {e}",
                runs_dir.display()
            ));
            return sweep;
        }
    };
    let current = current_run(out_dir);
    let mut complete = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == keep || Some(&name) == current.as_ref() || !is_run_id(&name) {
            continue;
        }
        // DirEntry::file_type does not follow a symbolic link.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let manifest = entry.path().join(MANIFEST_FILE);
        if std::fs::symlink_metadata(&manifest).is_ok_and(|m| m.file_type().is_file()) {
            complete.push(name);
        } else {
            remove_run(&runs_dir, name, "incomplete", &mut sweep);
        }
    }
    complete.sort();
    // `keep` and `current` count towards keep_runs.
    let protected = 1 + usize::from(current.as_deref().is_some_and(|c| c != keep));
    let allowed = keep_runs.saturating_sub(protected);
    let excess = complete.len().saturating_sub(allowed);
    for name in complete.into_iter().take(excess) {
        remove_run(&runs_dir, name, "old", &mut sweep);
    }
    sweep
}

/// Removes one run directory (`remove_dir_all` does not follow symbolic
/// links inside it), recording a failure as a warning.
fn remove_run(runs_dir: &Path, name: String, what: &str, sweep: &mut Sweep) {
    let path = runs_dir.join(&name);
    let removed =
        faults::io_point("publish::sweep::remove").and_then(|()| std::fs::remove_dir_all(&path));
    match removed {
        Ok(()) => sweep.removed.push(name),
        Err(e) => sweep.warnings.push(format!(
            "cannot remove {what} run `{}`: {e}",
            path.display()
        )),
    }
}

/// SHA-256 of a file, hex (recorded in the manifest so a reader can check
/// a file is the one the run wrote).
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file =
        File::open(path).map_err(|e| Error::output(path, format!("cannot reopen: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)
            .map_err(|e| Error::output(path, format!("cannot read back: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The single-writer lock on an output directory, held for the whole run
/// and released when dropped (or when the process dies: the OS drops
/// `flock` locks with the process, so a killed run never leaves a stale
/// lock behind).
pub struct OutputLock {
    _file: File,
}

/// Takes the exclusive lock on `OUT/.lock`, or fails naming the holder.
/// The lock file must be our own regular file: a symbolic link, a special
/// file or a file with other hard links there is refused (exit 1), never
/// followed, truncated or written.
pub fn lock_output(out_dir: &Path) -> Result<OutputLock> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::output(out_dir, format!("cannot create the output directory: {e}")))?;
    let path = out_dir.join(".lock");
    let refuse = |what: String| {
        Error::output(
            &path,
            format!("cannot use as the lock file: {what}; remove it and run again"),
        )
    };
    // A clearer message than the open's, and no open of a device at all.
    if let Ok(m) = std::fs::symlink_metadata(&path) {
        if !m.file_type().is_file() {
            return Err(refuse(format!(
                "it is {}, which retention never follows or writes",
                kind_of(&m)
            )));
        }
    }
    let mut file = open_own_file(&path).map_err(|e| refuse(why(&e)))?;
    match file.try_lock() {
        Ok(()) => {
            let holder = format!(
                "pid {} started {}\n",
                std::process::id(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            // Best effort: the holder line is for the operator's message only.
            let _ = file.set_len(0);
            let _ = file.write_all(holder.as_bytes());
            let _ = file.sync_all();
            Ok(OutputLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            // From the file we opened, not the path (which could change).
            let mut holder = String::new();
            let _ = std::io::Read::read_to_string(&mut file, &mut holder);
            Err(Error::Locked {
                path,
                holder: holder.trim().to_string(),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::output(&path, format!("cannot lock: {e}")))
        }
    }
}

/// Removes the `.current.PID.tmp` links a killed run may have left in the
/// output root (only symbolic links by that name: what this tool makes).
pub fn sweep_temporaries(out_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(out_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_link_temporary_name(&name) {
                remove_link_temporary(&entry.path());
            }
        }
    }
}

/// `.current.PID.tmp`, as [`flip_current`] names its temporary link.
fn is_link_temporary_name(name: &str) -> bool {
    name.strip_prefix(".current.")
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The values of the Arrow array `to_arrow` makes of a column, as
    /// Arrow's own formatter shows them (nulls as `null`).
    fn values_of(column: &Column) -> Vec<String> {
        let (_, array) = to_arrow(column).unwrap();
        let options = arrow::util::display::FormatOptions::default().with_null("null");
        let shown = arrow::util::display::ArrayFormatter::try_new(&array, &options).unwrap();
        (0..array.len())
            .map(|i| shown.value(i).to_string())
            .collect()
    }

    #[test]
    fn columns_with_nulls_across_chunks_keep_every_value() {
        let text = |values: &[Option<&str>]| Series::new("t".into(), values);
        let mut strings = text(&[
            Some("a"),
            None,
            Some("a much longer value than a view holds"),
        ]);
        strings.append(&text(&[None, Some("")])).unwrap();
        assert_eq!(
            values_of(&strings.into_column()),
            [
                "a",
                "null",
                "a much longer value than a view holds",
                "null",
                ""
            ]
        );
        let mut ints = Series::new("i".into(), &[Some(1i64), None]);
        ints.append(&Series::new("i".into(), &[i64::MIN, i64::MAX]))
            .unwrap();
        assert_eq!(
            values_of(&ints.into_column()),
            ["1", "null", &i64::MIN.to_string(), &i64::MAX.to_string()]
        );
        let floats = Series::new("f".into(), &[Some(-0.0f64), None, Some(f64::NAN)]);
        assert_eq!(values_of(&floats.into_column()), ["-0.0", "null", "NaN"]);
        let days = Series::new("d".into(), &[Some(0i32), None, Some(19_723)])
            .cast(&DataType::Date)
            .unwrap();
        assert_eq!(
            values_of(&days.into_column()),
            ["1970-01-01", "null", "2024-01-01"]
        );
        let micros = Series::new("ts".into(), &[None, Some(1_000_000i64)])
            .cast(&DataType::Datetime(
                TimeUnit::Microseconds,
                Some(polars::prelude::TimeZone::UTC),
            ))
            .unwrap();
        assert_eq!(
            values_of(&micros.into_column()),
            ["null", "1970-01-01T00:00:01Z"]
        );
    }

    #[test]
    fn every_run_id_this_tool_makes_has_the_run_id_shape() {
        let times = [
            chrono::Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 28, 23, 59, 59)
                .unwrap()
                + chrono::Duration::milliseconds(999),
            chrono::Utc
                .with_ymd_and_hms(9999, 12, 31, 12, 0, 0)
                .unwrap()
                + chrono::Duration::milliseconds(7),
        ];
        for at in times {
            for pid in [1, 42, std::process::id(), u32::MAX] {
                let id = new_run_id(at, pid);
                assert!(is_run_id(&id), "{id}");
            }
        }
    }

    #[test]
    fn names_not_made_by_this_tool_are_not_run_ids() {
        let good = "20261128T101500.123Z-4242";
        assert!(is_run_id(good));
        for name in [
            "",
            "experiment_7",
            "README.txt",
            "current",
            "_manifest.json",
            "20261128T101500.123Z-",
            "20261128T101500.123Z",
            "20261128T101500Z-4242",
            "20261128T101500.12Z-4242",
            "20261128T101500.1234Z-4242",
            "2026112T101500.123Z-4242",
            "20261128T10150.123Z-4242",
            "20261128-101500.123Z-4242",
            "20261128T101500.123Z-42x",
            "20261128T101500.123Z-12345678901",
            "x20261128T101500.123Z-4242",
            "20261128T101500.123Z-4242.tmp",
            "20261128T101500.123Z-4242/..",
            "2026112８T101500.123Z-4242",
            "20261128T101500.123Z--4242",
        ] {
            assert!(!is_run_id(name), "{name:?} taken for a run id");
        }
        // Every single-character change of a good id outside the digit
        // positions breaks it.
        for (i, c) in good.char_indices() {
            if !c.is_ascii_digit() {
                let mut broken = good.to_string();
                broken.replace_range(i..i + 1, "_");
                assert!(!is_run_id(&broken), "{broken}");
            }
        }
    }

    #[test]
    fn only_link_temporaries_of_this_tool_are_swept() {
        assert!(is_link_temporary_name(".current.77.tmp"));
        for name in [
            ".current..tmp",
            ".current.77",
            "current.77.tmp",
            ".current.x.tmp",
        ] {
            assert!(!is_link_temporary_name(name), "{name}");
        }
    }

    /// A run directory this tool would have written (complete or not).
    fn run_dir(runs: &Path, id: &str, complete: bool) {
        std::fs::create_dir_all(runs.join(id)).unwrap();
        std::fs::write(runs.join(id).join("customers.parquet"), b"PAR1").unwrap();
        if complete {
            std::fs::write(runs.join(id).join(MANIFEST_FILE), b"{}").unwrap();
        }
    }

    #[test]
    fn sweep_removes_only_run_directories_and_never_current() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let runs = out.join("runs");
        let old = ["20000101T000000.000Z-1", "20000102T000000.000Z-1"];
        for id in old {
            run_dir(&runs, id, true);
        }
        run_dir(&runs, "20000103T000000.000Z-1", false);
        let current = "20000104T000000.000Z-1";
        run_dir(&runs, current, true);
        std::os::unix::fs::symlink(Path::new("runs").join(current), out.join("current")).unwrap();
        let new = "20000105T000000.000Z-1";
        run_dir(&runs, new, true);
        // What a user may keep there.
        std::fs::create_dir_all(runs.join("experiment_7")).unwrap();
        std::fs::write(runs.join("experiment_7/results.csv"), b"a,b\n").unwrap();
        run_dir(&runs, "0000_archive", true);
        std::fs::write(runs.join("README.txt"), b"hi").unwrap();
        std::fs::write(runs.join("20000101T000000.000Z-9"), b"a file").unwrap();
        std::fs::create_dir_all(out.join("elsewhere")).unwrap();
        std::fs::write(out.join("elsewhere/keep.txt"), b"keep").unwrap();
        std::os::unix::fs::symlink("../elsewhere", runs.join("20000101T000000.000Z-8")).unwrap();

        let sweep = sweep_runs(out, 3, new);
        assert!(sweep.warnings.is_empty(), "{:?}", sweep.warnings);
        let mut removed = sweep.removed.clone();
        removed.sort();
        // keep_runs 3 = new + current + the newest other complete run.
        assert_eq!(
            removed,
            ["20000101T000000.000Z-1", "20000103T000000.000Z-1"]
        );
        let mut left: Vec<String> = std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "0000_archive",
                "20000101T000000.000Z-8",
                "20000101T000000.000Z-9",
                old[1],
                current,
                new,
                "README.txt",
                "experiment_7",
            ]
        );
        assert_eq!(
            std::fs::read(out.join("elsewhere/keep.txt")).unwrap(),
            b"keep"
        );
    }

    /// A manifest for a run that wrote `outputs` (and no report).
    fn manifest_listing(outputs: Vec<WrittenFile>) -> Manifest {
        use crate::manifest::RowRecord;
        Manifest {
            schema_version: crate::manifest::SCHEMA_VERSION,
            tool_version: String::new(),
            run_id: String::new(),
            run_key: String::new(),
            pipeline: String::new(),
            pipeline_path: String::new(),
            pipeline_overrides: Vec::new(),
            as_of: String::new(),
            time_zone: String::new(),
            activity_window_days: 365,
            cohort_period: String::new(),
            dimensions: Vec::new(),
            started_at: String::new(),
            finished_at: String::new(),
            wall_seconds: None,
            inputs: Vec::new(),
            rows: RowRecord {
                read: 0,
                accepted: 0,
                rejected: 0,
                excluded: 0,
                excluded_by_filter: 0,
                excluded_after_as_of: 0,
                duplicates: 0,
            },
            rejects_by_reason: Vec::new(),
            customers: 0,
            surveys: None,
            stages: Vec::new(),
            resources: None,
            checks: Vec::new(),
            outputs,
            report: None,
            definitions: None,
            latest_order: None,
            compared_with: None,
            gates: Vec::new(),
            accepted_changes: false,
        }
    }

    /// A produced table is handed to its readers a publishing piece at a
    /// time, in order: never a row group of every column.
    #[test]
    fn a_produced_table_is_read_a_piece_at_a_time() {
        let rows = ROW_GROUP_ROWS + PUBLISH_PIECE_ROWS + 5;
        let table = Table::produced("n", Box::new(counting(rows, rows)));
        let (mut next, mut pieces) = (0i64, 0);
        table
            .each_piece(&["n"], &mut |piece| {
                assert!(piece.height() <= PUBLISH_PIECE_ROWS, "{}", piece.height());
                for value in piece.column("n")?.i64()?.into_no_null_iter() {
                    assert_eq!(value, next);
                    next += 1;
                }
                pieces += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(next as usize, rows);
        assert_eq!(pieces, rows.div_ceil(PUBLISH_PIECE_ROWS));
    }

    /// A one-column table whose row `i` holds `i`, plus `drift` from row
    /// `drift_from` on.
    struct Counting {
        rows: usize,
        drift_from: usize,
        drift: i64,
    }

    impl RowSource for Counting {
        fn height(&self) -> usize {
            self.rows
        }

        fn rows(&self, offset: usize, length: usize) -> DataFrame {
            let drift = self.drift;
            let values: Vec<i64> = (offset..offset + length)
                .map(|i| i as i64 + if i >= self.drift_from { drift } else { 0 })
                .collect();
            df!("n" => values).unwrap()
        }
    }

    fn counting(rows: usize, drift_from: usize) -> Counting {
        Counting {
            rows,
            drift_from,
            drift: 0,
        }
    }

    /// A produced table larger than a row group is written in row groups
    /// of the declared size and reads back whole, equal to its rows.
    #[test]
    fn a_produced_table_is_written_a_row_group_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.parquet");
        let rows = 2 * ROW_GROUP_ROWS + 5;
        let table = Table::produced("n", Box::new(counting(rows, rows)));
        let (_, digests) =
            write_parquet(&table, ((0, rows), PUBLISH_PIECE_ROWS), &path, &[]).unwrap();
        verify_parquet(&table, (0, rows), &path, &digests).unwrap();
        let read = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        let expected: Vec<i64> = (0..rows as i64).collect();
        assert!(read.equals(&df!("n" => expected).unwrap()));
        let mut reader = ParquetReader::new(File::open(&path).unwrap());
        let groups = reader.get_metadata().unwrap().row_groups.len();
        assert_eq!(groups, 3);
    }

    /// A range of a produced table longer than one building task, not
    /// aligned to the tasks, comes back whole and in order.
    #[test]
    fn rows_built_in_pieces_are_the_range_in_order() {
        let rows = 4 * PRODUCED_PIECE_ROWS;
        let table = Table::produced("n", Box::new(counting(rows, rows)));
        let (offset, length) = (1000, 3 * PRODUCED_PIECE_ROWS + 17);
        let expected: Vec<i64> = (offset as i64..(offset + length) as i64).collect();
        assert!(table
            .rows((offset, length))
            .equals(&df!("n" => expected).unwrap()));
    }

    /// Selected columns of a produced table, built a row group at a time,
    /// are those columns of the whole table.
    #[test]
    fn columns_of_a_produced_table_are_those_of_the_whole_table() {
        let rows = ROW_GROUP_ROWS + 3;
        let table = Table::produced("n", Box::new(counting(rows, rows)));
        let selected = table.select(&["n"]).unwrap();
        assert_eq!(selected.height(), rows);
        assert!(selected.equals(table.frame()));
        let empty = Table::produced("n", Box::new(counting(0, 0)));
        assert_eq!(empty.select(&["n"]).unwrap().width(), 1);
    }

    /// A table written in pieces of any size the budget picks is the same
    /// bytes: pages end where they would with the largest pieces. Columns
    /// with and without nulls, over a row group and a half.
    #[test]
    fn pieces_of_any_budget_write_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let rows = ROW_GROUP_ROWS + ROW_GROUP_ROWS / 2 + 7;
        let frame = df!(
            "n" => (0..rows as i64).map(|i| i * 7 % 1001).collect::<Vec<_>>(),
            "x" => (0..rows).map(|i| (i % 5 != 0).then_some(i as f64 / 3.0)).collect::<Vec<_>>(),
            "s" => (0..rows).map(|i| format!("c{}", i % 1000)).collect::<Vec<_>>(),
            "b" => (0..rows).map(|i| i % 3 == 0).collect::<Vec<_>>(),
        )
        .unwrap();
        let table = Table::whole("t", frame);
        let metadata = [("retention.run_id".to_string(), "r1".to_string())];
        let bytes_in_pieces_of = |piece_rows: usize| {
            let path = dir.path().join(format!("t{piece_rows}.parquet"));
            let (_, pieces) =
                write_parquet(&table, ((0, rows), piece_rows), &path, &metadata).unwrap();
            verify_parquet(&table, (0, rows), &path, &pieces).unwrap();
            std::fs::read(&path).unwrap()
        };
        let largest = bytes_in_pieces_of(PUBLISH_PIECE_ROWS);
        for limit in [0, 256 << 20, 512 << 20] {
            let piece_rows = publish_piece_rows(limit);
            assert!(piece_rows < PUBLISH_PIECE_ROWS, "{limit}: {piece_rows}");
            assert!(
                bytes_in_pieces_of(piece_rows) == largest,
                "{piece_rows} rows a piece"
            );
        }
    }

    /// Pieces shrink with the budget, in whole pages, between a page and
    /// the largest piece.
    #[test]
    fn pieces_shrink_with_the_budget_in_whole_pages() {
        let mib = 1u64 << 20;
        assert_eq!(publish_piece_rows(256 * mib), 2 * PAGE_ROWS);
        assert_eq!(publish_piece_rows(512 * mib), 4 * PAGE_ROWS);
        assert_eq!(publish_piece_rows(1024 * mib), PUBLISH_PIECE_ROWS);
        assert_eq!(publish_piece_rows(0), PAGE_ROWS);
        assert_eq!(publish_piece_rows(u64::MAX), PUBLISH_PIECE_ROWS);
        for limit in (0..64).map(|step| step * 20 * mib) {
            let rows = publish_piece_rows(limit);
            assert_eq!(rows % PAGE_ROWS, 0, "{limit}");
            assert!(rows >= publish_piece_rows(limit.saturating_sub(20 * mib)));
        }
    }

    /// Columns encoded side by side, a piece at a time, make the very
    /// bytes the plain `ArrowWriter` makes when handed the same pieces:
    /// nulls, strings, floats and booleans, over two row groups, with
    /// key-value metadata. (Handed whole row groups, it makes the same
    /// bytes too: pages end every [`PAGE_ROWS`] rows either way.)
    #[test]
    fn columns_encoded_side_by_side_are_the_plain_writers_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let rows = ROW_GROUP_ROWS + 7;
        let frame = df!(
            "n" => (0..rows as i64).collect::<Vec<_>>(),
            "x" => (0..rows).map(|i| (i % 5 != 0).then_some(i as f64 / 3.0)).collect::<Vec<_>>(),
            "s" => (0..rows).map(|i| (i % 7 != 0).then(|| format!("c{}", i % 1000))).collect::<Vec<_>>(),
            "b" => (0..rows).map(|i| i % 2 == 0).collect::<Vec<_>>(),
        )
        .unwrap();
        let table = Table::whole("t", frame);
        let metadata = [("retention.run_id".to_string(), "r1".to_string())];
        let (_, digests) =
            write_parquet(&table, ((0, rows), PUBLISH_PIECE_ROWS), &path, &metadata).unwrap();

        let (schema, properties) = schema_and_properties(&table, &path, &metadata).unwrap();
        let mut plain = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties)).unwrap();
        // A row group's size is a whole number of pieces.
        for piece in ranges_of((0, rows), PUBLISH_PIECE_ROWS) {
            let batch = to_record_batch(&table.rows(piece), &path).unwrap();
            plain
                .write(&batch.with_schema(schema.clone()).unwrap())
                .unwrap();
        }
        let plain = plain.into_inner().unwrap();
        assert!(std::fs::read(&path).unwrap() == plain, "the bytes differ");
        verify_parquet(&table, (0, rows), &path, &digests).unwrap();
    }

    /// Verification compares every piece with what was written: a file
    /// that differs from the computed rows in its last value only (here
    /// another table's file in its place) is caught, and the message names
    /// the column and the piece's rows.
    #[test]
    fn a_difference_in_a_later_row_group_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.parquet");
        let rows = ROW_GROUP_ROWS + 10;
        let table = Table::produced("n", Box::new(counting(rows, rows - 1)));
        let (_, digests) =
            write_parquet(&table, ((0, rows), PUBLISH_PIECE_ROWS), &path, &[]).unwrap();
        verify_parquet(&table, (0, rows), &path, &digests).unwrap();
        // The same table but for its last row, written in the file's place.
        let shifted = Table::produced(
            "n",
            Box::new(Counting {
                drift: 1,
                ..counting(rows, rows - 1)
            }),
        );
        let (_, shifted_digests) =
            write_parquet(&shifted, ((0, rows), PUBLISH_PIECE_ROWS), &path, &[]).unwrap();
        assert_ne!(digests.last(), shifted_digests.last());
        assert_eq!(
            digests[..digests.len() - 1],
            shifted_digests[..digests.len() - 1]
        );
        assert_eq!(digests.last().unwrap().rows, (ROW_GROUP_ROWS, 10));
        let error = verify_parquet(&table, (0, rows), &path, &digests)
            .unwrap_err()
            .to_string();
        let last = ROW_GROUP_ROWS;
        assert!(
            error.contains(&format!(
                "values read back differ from those computed (column `n`, rows {last} to {rows})"
            )),
            "{error}"
        );
        // Pieces that leave rows out, at the start or the end, or cover
        // some twice, are refused too.
        let twice = [&digests[..], &digests[digests.len() - 1..]].concat();
        for pieces in [&digests[1..], &digests[..digests.len() - 1], &twice[..]] {
            let error = verify_parquet(&table, (0, rows), &path, pieces)
                .unwrap_err()
                .to_string();
            assert!(error.contains("do not cover its"), "{error}");
        }
    }

    /// A table larger than a part is several files in its directory, each
    /// its rows in order; an empty table is one empty file.
    #[test]
    fn a_large_table_is_written_in_parts_in_its_directory() {
        assert_eq!(parts(0), [(0, 0)]);
        assert_eq!(parts(PART_ROWS), [(0, PART_ROWS)]);
        let out = tempfile::tempdir().unwrap();
        let staged = StagedRun::create(out.path(), "20240101T000000.000Z-1").unwrap();
        let rows = PART_ROWS + 3;
        let tables = [
            Table::produced("n", Box::new(counting(rows, rows))),
            Table::produced("empty", Box::new(counting(0, 0))),
        ];
        let written = staged.write_tables(&tables, |_| Vec::new()).unwrap();
        let files: Vec<(&str, u64)> = written
            .outputs()
            .iter()
            .map(|o| (o.file.as_str(), o.rows))
            .collect();
        let expected = [
            ("n/part-00000.parquet", PART_ROWS as u64),
            ("n/part-00001.parquet", 3),
            ("empty/part-00000.parquet", 0),
        ];
        assert_eq!(files, expected);
        let second = ParquetReader::new(File::open(written.dir().join(expected[1].0)).unwrap())
            .finish()
            .unwrap();
        let tail: Vec<i64> = (PART_ROWS as i64..rows as i64).collect();
        assert!(second.equals(&df!("n" => tail).unwrap()));
        let empty = crate::io::runs::read_table(written.dir(), "empty", None)
            .unwrap()
            .unwrap();
        assert_eq!((empty.height(), empty.width()), (0, 1));
        let whole = crate::io::runs::read_table(written.dir(), "n", Some(&["n"]))
            .unwrap()
            .unwrap();
        assert_eq!(whole.height(), rows);
        assert!(written.write_file("n", b"x").is_err());
    }

    /// Parts written side by side, tables side by side with their parts
    /// in order, and one part at a time (the three budgets' ways) list the
    /// same files in the same order, with the same bytes.
    #[test]
    fn every_way_of_writing_parts_lists_the_same_files() {
        let out = tempfile::tempdir().unwrap();
        let listing = |(id, limit): (&str, u64)| {
            let staged = StagedRun::create(out.path(), id)
                .unwrap()
                .within_budget(limit);
            let tables = [
                Table::produced("n", Box::new(counting(PART_ROWS + 5, PART_ROWS))),
                Table::produced("m", Box::new(counting(3, 3))),
            ];
            let written = staged.write_tables(&tables, |_| Vec::new()).unwrap();
            let files = written.outputs().iter();
            files
                .map(|o| (o.file.clone(), o.rows, o.sha256.clone()))
                .collect::<Vec<_>>()
        };
        let side_by_side = listing(("20240101T000000.000Z-1", PARTS_SIDE_BY_SIDE_LIMIT));
        let names: Vec<&str> = side_by_side
            .iter()
            .map(|(file, ..)| file.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "n/part-00000.parquet",
                "n/part-00001.parquet",
                "m/part-00000.parquet"
            ]
        );
        for way in [
            ("20240101T000000.000Z-2", 2 << 30),
            ("20240101T000000.000Z-3", 256 << 20),
        ] {
            assert_eq!(listing(way), side_by_side, "{way:?}");
        }
    }

    /// Only a manifest that lists exactly the tables written seals a run;
    /// a run dropped unsealed leaves nothing behind.
    #[test]
    fn a_run_is_sealed_only_by_a_manifest_of_the_tables_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let table = || {
            let frame = df!("check_name" => ["a"], "passed" => [true]).unwrap();
            Table::whole("checks", frame)
        };
        let no_metadata = |_: &str| Vec::new();
        let id = "20000101T000000.000Z-1";
        let written = StagedRun::create(out, id)
            .unwrap()
            .write_tables(&[table()], no_metadata)
            .unwrap();
        assert_eq!(written.outputs().len(), 1);
        assert_eq!(written.outputs()[0].file, "checks/part-00000.parquet");
        assert!(written.seal(&manifest_listing(Vec::new())).is_err());
        assert!(!out.join("runs").join(id).exists());

        let written = StagedRun::create(out, id)
            .unwrap()
            .write_tables(&[table()], no_metadata)
            .unwrap();
        // The manifest and the tables have their own steps.
        for name in [
            MANIFEST_FILE,
            "checks",
            "checks/part-00000.parquet",
            "other.parquet",
            "x/report.html",
        ] {
            assert!(written.write_file(name, b"{}").is_err(), "{name}");
        }
        written.write_file("report.html", b"<html>").unwrap();
        let manifest = manifest_listing(written.outputs().to_vec());
        let published = written.seal(&manifest).unwrap().commit().unwrap();
        assert!(published.dir().join(MANIFEST_FILE).is_file());
        assert_eq!(current_run(out).as_deref(), Some(id));
    }

    #[test]
    fn sweep_never_deletes_through_a_symlinked_runs_directory() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let target = dir.path().join("target");
        run_dir(&target, "20000101T000000.000Z-1", false);
        std::fs::create_dir_all(&out).unwrap();
        std::os::unix::fs::symlink(&target, out.join("runs")).unwrap();
        let sweep = sweep_runs(&out, 2, "20000102T000000.000Z-1");
        assert!(sweep.removed.is_empty());
        assert_eq!(sweep.warnings.len(), 1, "{:?}", sweep.warnings);
        assert!(target
            .join("20000101T000000.000Z-1/customers.parquet")
            .is_file());
    }
}
