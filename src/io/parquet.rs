//! Reading Parquet input with the `parquet` crate's Arrow reader, in chunks
//! of rows.
//!
//! Every column type a Parquet file can hold is either read exactly or
//! refused with an error naming the file and the column:
//! - a mapped column becomes one of the few Polars types the stages read:
//!   text, `Int64`, `Float64`, `Date` or a microsecond `Datetime`. Decimals
//!   and unsigned 64-bit values beyond `i64` become their exact decimal
//!   text (read later to cents without a binary float); binary values
//!   become text when they are UTF-8 (else an error naming the row);
//!   lists, structs, times, durations and intervals are refused.
//! - for duplicate detection every column of the file, mapped or not, is
//!   hashed exactly (`line_hash`).
//!
//! Polars' own reader is not used: it panics on decimals, structs,
//! dictionaries and half floats unless a feature is compiled in for each.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType as ArrowType, Date32Type, Float64Type, Int64Type, TimeUnit as ArrowUnit,
};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::ProjectionMask;
use polars::prelude::*;
use polars_arrow::array::Utf8Array;
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::ArrowDataType as PolarsArrowType;
use polars_arrow::offset::OffsetsBuffer;
use rayon::prelude::*;

use super::line_hash::LineHasher;
use crate::error::{Error, Result};
use crate::stages::raw::ROW_COLUMN;

/// Rows decoded at a time: bounds the Arrow buffers beside the chunk.
const BATCH_ROWS: usize = 64 * 1024;

/// One chunk of a Parquet file: `__row` and the mapped columns, and when
/// asked the hash of every row's whole content.
pub struct ParquetChunk {
    pub frame: DataFrame,
    pub line_hash: Option<Vec<u64>>,
}

/// An opened Parquet file: its metadata, read once.
pub struct ParquetInput<'p> {
    path: &'p Path,
    metadata: ArrowReaderMetadata,
}

impl<'p> ParquetInput<'p> {
    pub fn open(path: &'p Path) -> Result<ParquetInput<'p>> {
        let file = File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
        let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| Error::input(path, format!("cannot read as Parquet: {e}")))?;
        Ok(ParquetInput { path, metadata })
    }

    /// The number of data rows, from the metadata.
    pub fn rows(&self) -> Result<usize> {
        usize::try_from(self.metadata.metadata().file_metadata().num_rows())
            .map_err(|_| Error::input(self.path, "the Parquet metadata gives a negative row count"))
    }

    /// The names of the file's top-level columns, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.metadata
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Reads the chunks `[k·chunk_rows, (k+1)·chunk_rows)` for which
    /// `wanted(first row, rows)` holds (rows 1-based), in order, handing
    /// each to `each`. `mapped` are the columns kept (they must exist);
    /// with `hash_lines` every column is hashed too.
    pub fn read_chunks(
        &self,
        mapped: &[String],
        hash_lines: bool,
        chunk_rows: usize,
        wanted: impl Fn(usize, usize) -> bool,
        mut each: impl FnMut(ParquetChunk) -> Result<()>,
    ) -> Result<()> {
        let rows = self.rows()?;
        let mapped_at = self.mappable_columns(mapped)?;
        let plan = self.chunk_plan(mapped, &mapped_at, hash_lines)?;
        if rows == 0 {
            // An empty file (an empty daily partition) still gives one
            // empty chunk, as a header-only CSV file does, so every file
            // has its place in the line numbering.
            return each(self.empty_chunk(mapped, &mapped_at, hash_lines)?);
        }
        for (offset, len) in chunk_ranges(rows, chunk_rows.max(1), wanted) {
            each(self.read_chunk(&plan, offset, len)?)?;
        }
        Ok(())
    }

    /// Where each mapped column is in the file; an error for a column of a
    /// type that cannot be mapped.
    fn mappable_columns(&self, mapped: &[String]) -> Result<Vec<usize>> {
        let schema = self.metadata.schema();
        let mapped_at: Vec<usize> = mapped
            .iter()
            .map(|name| self.column_index(name))
            .collect::<Result<_>>()?;
        for (&at, name) in mapped_at.iter().zip(mapped) {
            let dtype = schema.field(at).data_type();
            if !is_mappable(dtype) {
                return Err(Error::input(
                    self.path,
                    format!(
                        "column `{name}` has type {dtype}: a mapped column must be text, a number, a decimal, a date or a timestamp"
                    ),
                ));
            }
        }
        Ok(mapped_at)
    }

    /// What every chunk of one read shares.
    fn chunk_plan<'m>(
        &self,
        mapped: &'m [String],
        mapped_at: &[usize],
        hash_lines: bool,
    ) -> Result<ChunkPlan<'m>> {
        let hasher = match hash_lines {
            true => Some(self.line_hasher()?),
            false => None,
        };
        // Columns read: the mapped ones, or all of them for the hashes. A
        // projected batch has them in file order.
        let roots: Vec<usize> = match hash_lines {
            true => (0..self.metadata.schema().fields().len()).collect(),
            false => {
                let mut roots = mapped_at.to_vec();
                roots.sort_unstable();
                roots
            }
        };
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), roots.iter().copied());
        // Where each kept column sits in the projected batches.
        let projected: Vec<usize> = mapped_at
            .iter()
            .map(|at| roots.iter().position(|r| r == at).expect("projected"))
            .collect();
        Ok(ChunkPlan {
            mapped,
            mask,
            projected,
            hasher,
            group_starts: self.row_group_starts(),
        })
    }

    /// Rows `offset + 1 ..= offset + len`. The chunk's rows within each
    /// row group are one piece with a reader of its own, so pieces decode
    /// in parallel (one reader decodes on one thread); each is then hashed
    /// and converted, and the pieces are stacked in order.
    fn read_chunk(&self, plan: &ChunkPlan, offset: usize, len: usize) -> Result<ParquetChunk> {
        let pieces = pieces_of(&plan.group_starts, offset, len);
        let covered: usize = pieces.iter().map(|p| p.rows).sum();
        if covered != len {
            return Err(Error::input(
                self.path,
                format!(
                    "rows {}..{}: the row groups hold {covered} of them (the file's metadata disagrees with itself)",
                    offset + 1,
                    offset + len
                ),
            ));
        }
        let converted: Vec<(Option<Vec<u64>>, DataFrame)> = pieces
            .par_iter()
            .map(|piece| self.read_piece(plan, piece, (offset, len)))
            .collect::<Result<_>>()?;
        let mut frame: Option<DataFrame> = None;
        let mut hashes = plan.hasher.as_ref().map(|_| Vec::with_capacity(len));
        for (part_hashes, part) in converted {
            if let (Some(all), Some(more)) = (hashes.as_mut(), part_hashes) {
                all.extend(more);
            }
            stack(&mut frame, part)?;
        }
        let mut frame = frame.expect("a chunk has rows");
        frame.rechunk_mut_par();
        let frame = frame.with_row_index(ROW_COLUMN.into(), Some(offset as IdxSize + 1))?;
        Ok(ParquetChunk {
            frame,
            line_hash: hashes,
        })
    }

    /// One piece of a chunk, decoded, hashed (with a hasher) and converted
    /// to a Polars frame of the mapped columns.
    fn read_piece(
        &self,
        plan: &ChunkPlan,
        piece: &Piece,
        chunk: (usize, usize),
    ) -> Result<(Option<Vec<u64>>, DataFrame)> {
        let batches = self.decode(&plan.mask, &plan.group_starts, piece, chunk)?;
        let mut first_row = piece.start + 1;
        let mut frame: Option<DataFrame> = None;
        let mut hashes = plan.hasher.as_ref().map(|_| Vec::with_capacity(piece.rows));
        // Batches of BATCH_ROWS bound the Arrow buffers beside the Polars
        // frame they become.
        for batch in batches {
            if let (Some(all), Some(hasher)) = (hashes.as_mut(), &plan.hasher) {
                let hashed = hasher
                    .hash(&batch)
                    .map_err(|e| Error::input(self.path, format!("cannot compare lines: {e}")))?;
                all.extend(hashed);
            }
            let columns = plan
                .projected
                .iter()
                .zip(plan.mapped)
                .map(|(&at, name)| to_polars(name, batch.column(at), first_row, self.path))
                .collect::<Result<Vec<_>>>()?;
            first_row += batch.num_rows();
            stack(&mut frame, DataFrame::new(batch.num_rows(), columns)?)?;
        }
        Ok((hashes, frame.expect("a piece has rows")))
    }

    /// A chunk with no rows: the mapped columns in the types a chunk of
    /// this file would have, and `__row`.
    fn empty_chunk(
        &self,
        mapped: &[String],
        mapped_at: &[usize],
        hash_lines: bool,
    ) -> Result<ParquetChunk> {
        let schema = self.metadata.schema();
        let columns = mapped_at
            .iter()
            .zip(mapped)
            .map(|(&at, name)| {
                let empty = arrow::array::new_empty_array(schema.field(at).data_type());
                to_polars(name, &empty, 1, self.path)
            })
            .collect::<Result<Vec<_>>>()?;
        let frame = DataFrame::new(0, columns)?.with_row_index(ROW_COLUMN.into(), Some(1))?;
        Ok(ParquetChunk {
            frame,
            line_hash: hash_lines.then(Vec::new),
        })
    }

    /// The first row (0-based) of each row group, then the row count.
    /// Row groups are the unit a reader decodes on its own.
    fn row_group_starts(&self) -> Vec<usize> {
        let mut starts = vec![0];
        for group in self.metadata.metadata().row_groups() {
            let last = *starts.last().expect("starts with 0");
            starts.push(last + usize::try_from(group.num_rows()).unwrap_or(0));
        }
        starts
    }

    /// Decodes one piece (rows of one row group) with a reader of its own.
    /// `chunk` (first row, rows) names the rows in an error.
    fn decode(
        &self,
        mask: &ProjectionMask,
        group_starts: &[usize],
        piece: &Piece,
        chunk: (usize, usize),
    ) -> Result<Vec<RecordBatch>> {
        let fail = |what: String| {
            Error::input(
                self.path,
                format!("rows {}..{}: {what}", chunk.0 + 1, chunk.0 + chunk.1),
            )
        };
        // A file of its own: a cloned handle would share one file offset
        // with the readers decoding other pieces at the same time.
        let file = File::open(self.path)
            .map_err(|e| Error::input(self.path, format!("cannot open: {e}")))?;
        let skip = piece.start - group_starts[piece.group];
        let selection = RowSelection::from(vec![
            RowSelector::skip(skip),
            RowSelector::select(piece.rows),
        ]);
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_projection(mask.clone())
                .with_row_groups(vec![piece.group])
                .with_row_selection(selection)
                .with_batch_size(BATCH_ROWS.min(piece.rows))
                .build()
                .map_err(|e| fail(format!("cannot read as Parquet: {e}")))?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("cannot read as Parquet: {e}")))?;
        let got: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if got != piece.rows || got == 0 {
            return Err(fail(format!(
                "read {got} rows, expected {} (did the file change during the run?)",
                piece.rows
            )));
        }
        Ok(batches)
    }

    fn column_index(&self, name: &str) -> Result<usize> {
        let fields = self.metadata.schema().fields();
        let mut at = fields.iter().enumerate().filter(|(_, f)| f.name() == name);
        match (at.next(), at.next()) {
            (Some((i, _)), None) => Ok(i),
            (Some(_), Some(_)) => Err(Error::input(
                self.path,
                format!("column `{name}` appears more than once"),
            )),
            (None, _) => Err(Error::input(
                self.path,
                format!("mapped column `{name}` not found"),
            )),
        }
    }

    /// The row hasher over every column, or an error naming a column whose
    /// type has no exact encoding.
    fn line_hasher(&self) -> Result<LineHasher> {
        let schema = self.metadata.schema();
        let types: Vec<ArrowType> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        LineHasher::for_types(&types).map_err(|dtype| {
            let name = schema
                .fields()
                .iter()
                .find(|f| f.data_type() == &dtype)
                .map_or("?", |f| f.name().as_str());
            Error::input(
                self.path,
                format!(
                    "column `{name}` has type {dtype}, which cannot be compared exactly to find duplicate lines"
                ),
            )
        })
    }
}

/// What every chunk of one read shares: the columns decoded (`mask`),
/// where the mapped ones sit in a decoded batch, the line hasher (when
/// exact duplicate lines are dropped) and where each row group starts.
struct ChunkPlan<'m> {
    mapped: &'m [String],
    mask: ProjectionMask,
    projected: Vec<usize>,
    hasher: Option<LineHasher>,
    group_starts: Vec<usize>,
}

/// The chunks of a file of `rows` rows, as (offset, rows), that `wanted`
/// (first row 1-based, rows) keeps.
fn chunk_ranges(
    rows: usize,
    chunk_rows: usize,
    wanted: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize)> {
    (0..rows)
        .step_by(chunk_rows)
        .map(|offset| (offset, chunk_rows.min(rows - offset)))
        .filter(|&(offset, len)| wanted(offset + 1, len))
        .collect()
}

/// `part` appended below `frame` (or as it, for the first part).
fn stack(frame: &mut Option<DataFrame>, part: DataFrame) -> Result<()> {
    match frame.as_mut() {
        None => *frame = Some(part),
        Some(frame) => {
            frame.vstack_mut(&part)?;
        }
    }
    Ok(())
}

/// The rows of one chunk that lie in one row group: `rows` rows from
/// `start` (0-based, in the file), all in row group `group`.
struct Piece {
    group: usize,
    start: usize,
    rows: usize,
}

/// Splits the chunk `[offset, offset + len)` at row-group boundaries
/// (`group_starts` from [`ParquetInput::row_group_starts`]).
fn pieces_of(group_starts: &[usize], offset: usize, len: usize) -> Vec<Piece> {
    let end = offset + len;
    group_starts
        .windows(2)
        .enumerate()
        .filter_map(|(group, bounds)| {
            let start = bounds[0].max(offset);
            let stop = bounds[1].min(end);
            (start < stop).then_some(Piece {
                group,
                start,
                rows: stop - start,
            })
        })
        .collect()
}

/// Whether a column of this type can be mapped (see [`to_polars`]).
fn is_mappable(dtype: &ArrowType) -> bool {
    use ArrowType as T;
    match dtype {
        T::Null
        | T::Boolean
        | T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::UInt8
        | T::UInt16
        | T::UInt32
        | T::UInt64
        | T::Float16
        | T::Float32
        | T::Float64
        | T::Utf8
        | T::LargeUtf8
        | T::Utf8View
        | T::Binary
        | T::LargeBinary
        | T::BinaryView
        | T::FixedSizeBinary(_)
        | T::Decimal32(_, _)
        | T::Decimal64(_, _)
        | T::Decimal128(_, _)
        | T::Decimal256(_, _)
        | T::Date32
        | T::Date64
        | T::Timestamp(_, _) => true,
        T::Dictionary(_, values) => is_mappable(values),
        _ => false,
    }
}

/// One mapped column of a batch as a Polars column; `first_row` (1-based)
/// names rows in errors.
fn to_polars(name: &str, array: &ArrayRef, first_row: usize, path: &Path) -> Result<Column> {
    use ArrowType as T;
    let cast_to = |to: &ArrowType| {
        cast(array, to).map_err(|e| Error::input(path, format!("column `{name}`: {e}")))
    };
    let series = match array.data_type() {
        T::Dictionary(_, values) => {
            let plain = cast_to(values)?;
            return to_polars(name, &plain, first_row, path);
        }
        T::Null => Series::full_null(name.into(), array.len(), &DataType::String),
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 => {
            int64_series(name, &cast_to(&T::Int64)?)
        }
        // Always the exact decimal text, never a wrapped or nulled number:
        // values beyond i64 need it, and the type must not depend on which
        // rows a piece holds (pieces of one file are stacked together).
        T::UInt64 => text_series(name, &cast_to(&T::Utf8)?)?,
        T::Float16 | T::Float32 | T::Float64 => {
            let values = cast_to(&T::Float64)?;
            let values = values.as_primitive::<Float64Type>();
            Float64Chunked::from_vec_validity(
                name.into(),
                values.values().to_vec(),
                validity_of(values),
            )
            .into_series()
        }
        // Exact decimal text: `12.30` for a decimal(18,2) 1230.
        T::Decimal32(_, _)
        | T::Decimal64(_, _)
        | T::Decimal128(_, _)
        | T::Decimal256(_, _)
        | T::Utf8
        | T::LargeUtf8
        | T::Utf8View => text_series(name, &cast_to(&T::Utf8)?)?,
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => {
            binary_text_series(name, &cast_to(&T::LargeBinary)?, first_row, path)?
        }
        // Kept boolean: text where a key is wanted, refused as a timestamp
        // or an amount by the validate stage.
        T::Boolean => {
            BooleanChunked::from_iter_options(name.into(), array.as_boolean().iter()).into_series()
        }
        T::Date32 => {
            let days = array.as_primitive::<Date32Type>();
            Int32Chunked::from_vec_validity(name.into(), days.values().to_vec(), validity_of(days))
                .into_date()
                .into_series()
        }
        T::Date64 => micros_series(name, &cast_to(&T::Int64)?, 1_000, 1, None),
        T::Timestamp(unit, zone) => {
            let (multiply, divide) = match unit {
                ArrowUnit::Second => (1_000_000, 1),
                ArrowUnit::Millisecond => (1_000, 1),
                ArrowUnit::Microsecond => (1, 1),
                ArrowUnit::Nanosecond => (1, 1_000),
            };
            // With a zone the values are instants; the zone's name does not
            // change them.
            let zone = zone.as_ref().map(|_| TimeZone::UTC);
            micros_series(name, &cast_to(&T::Int64)?, multiply, divide, zone)
        }
        other => {
            return Err(Error::input(
                path,
                format!(
                    "column `{name}` has type {other}: a mapped column must be text, a number, a decimal, a date or a timestamp"
                ),
            ))
        }
    };
    Ok(series.into_column())
}

// The columns below are copied whole (values, offsets, validity) rather
// than value by value through a builder: that took about 5 % of the
// `validate` stage's CPU time at 100 M orders.

fn int64_series(name: &str, array: &ArrayRef) -> Series {
    let values = array.as_primitive::<Int64Type>();
    Int64Chunked::from_vec_validity(name.into(), values.values().to_vec(), validity_of(values))
        .into_series()
}

/// Text as a Polars column: Polars' own cast makes its views from the
/// copied offsets and bytes.
fn text_series(name: &str, array: &ArrayRef) -> Result<Series> {
    let values = array.as_string::<i32>();
    let offsets = OffsetsBuffer::try_from(values.value_offsets().to_vec())?;
    let bytes = values.value_data().to_vec().into();
    let text =
        Utf8Array::<i32>::try_new(PolarsArrowType::Utf8, offsets, bytes, validity_of(values))?;
    Ok(Series::from_arrow(name.into(), Box::new(text))?)
}

/// Which values of `array` are valid, as Polars keeps it (`None`: all).
fn validity_of(array: &dyn Array) -> Option<Bitmap> {
    array.nulls().map(|nulls| nulls.iter().collect())
}

/// Binary values as text when they are UTF-8 (old writers store text
/// without the UTF-8 annotation); any other bytes are an error naming the
/// row, since they cannot be compared or shown as text.
fn binary_text_series(
    name: &str,
    array: &ArrayRef,
    first_row: usize,
    path: &Path,
) -> Result<Series> {
    let values = array.as_binary::<i64>();
    let text: Vec<Option<&str>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|e| {
                Error::input(
                    path,
                    format!(
                        "row {} column `{name}`: the binary value is not UTF-8 text (invalid byte at offset {})",
                        first_row + i,
                        e.valid_up_to()
                    ),
                )
            }),
        })
        .collect::<Result<_>>()?;
    Ok(StringChunked::from_iter_options(name.into(), text.into_iter()).into_series())
}

/// Timestamps in microseconds. Values beyond the `i64` microsecond range
/// saturate to its ends, which no calendar can place: they are rejected as
/// out of range, not wrapped into another date.
fn micros_series(
    name: &str,
    array: &ArrayRef,
    multiply: i64,
    divide: i64,
    zone: Option<TimeZone>,
) -> Series {
    let values = array.as_primitive::<Int64Type>();
    let micros = values
        .values()
        .iter()
        .map(|v| v.saturating_mul(multiply).div_euclid(divide))
        .collect();
    Int64Chunked::from_vec_validity(name.into(), micros, validity_of(values))
        .into_datetime(polars::prelude::TimeUnit::Microseconds, zone)
        .into_series()
}

/// The number of data rows of a Parquet file, from its metadata.
pub fn parquet_rows(path: &Path) -> Result<usize> {
    ParquetInput::open(path)?.rows()
}
