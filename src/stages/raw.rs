//! Raw input as the readers of `io` hand it to the stages: the
//! input files, the rows of one file as read ([`RawBatch`]), the
//! row-number column every raw frame carries and a raw value as text. Pure
//! data, here rather than in `io` so that stages take raw rows without
//! importing the readers.

use std::path::PathBuf;
use std::time::SystemTime;

use polars::prelude::*;

use crate::time::checked_date_of;

/// Name of the row-number column added to every raw frame.
pub const ROW_COLUMN: &str = "__row";

/// One input file and what the manifest records about it.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The file the readers read: the input itself, or a local copy of an
    /// object-store input.
    pub path: PathBuf,
    pub format: FileFormat,
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// The object-store URL a local copy was fetched from.
    pub source: Option<String>,
}

impl InputFile {
    /// The input as the manifest, the rejects and messages name it: its
    /// URL when it was fetched from object storage, else its path.
    pub fn name(&self) -> String {
        self.source
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FileFormat {
    Csv,
    CsvGz,
    Parquet,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::CsvGz => "csv.gz",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// The rows of one input file as read, before any interpretation.
pub struct RawBatch {
    /// Index of the file in the resolved input list.
    pub file: u32,
    /// `__row` (1-based data row) and the mapped source columns, in the
    /// file's own types.
    pub frame: DataFrame,
    /// A hash of every column of each row (its whole line content), present
    /// when an order id is mapped, for dropping exact duplicate lines.
    pub line_hash: Option<Vec<u64>>,
}

/// The `__row` numbers of a raw frame (1-based data rows of its file).
pub fn row_numbers(frame: &DataFrame) -> PolarsResult<Vec<u32>> {
    Ok(frame
        .column(ROW_COLUMN)?
        .cast(&DataType::UInt32)?
        .u32()?
        .into_no_null_iter()
        .collect())
}

/// A column's values as text, as Polars renders them, except that dates
/// and timestamps beyond chrono's calendar (a Parquet DATE of 2^31 − 1
/// days, a timestamp at the end of `i64`), which Polars panics on, are
/// rendered by hand (`day 2147483647`, `9223372036854775807 µs`).
pub fn text_of(column: &Column) -> PolarsResult<StringChunked> {
    let physical = column.to_physical_repr();
    let renderable = match column.dtype() {
        DataType::Date => physical
            .i32()?
            .iter()
            .flatten()
            .all(|d| checked_date_of(d).is_some()),
        DataType::Datetime(unit, _) => {
            let to_micros = |v: i64| match unit {
                TimeUnit::Nanoseconds => Some(v.div_euclid(1_000)),
                TimeUnit::Microseconds => Some(v),
                TimeUnit::Milliseconds => v.checked_mul(1_000),
            };
            physical.i64()?.iter().flatten().all(|v| {
                to_micros(v).is_some_and(|m| chrono::DateTime::from_timestamp_micros(m).is_some())
            })
        }
        _ => true,
    };
    if renderable {
        return Ok(column.cast(&DataType::String)?.str()?.clone());
    }
    Ok(match column.dtype() {
        DataType::Date => physical
            .i32()?
            .iter()
            .map(|d| {
                d.map(|d| checked_date_of(d).map_or_else(|| format!("day {d}"), |x| x.to_string()))
            })
            .collect(),
        _ => physical
            .i64()?
            .iter()
            .map(|v| v.map(|v| v.to_string()))
            .collect(),
    })
}

/// Some rows of one raw batch, their mapped columns as text: what the raw
/// records of the rejects among them are made from. Only the wanted rows
/// are converted (a batch is millions of rows, its rejects a handful).
pub struct RawText {
    pub(crate) file: u32,
    /// The data rows held, ascending; `columns` are in the same order.
    pub(crate) rows: Vec<u32>,
    pub(crate) columns: Vec<(String, StringChunked)>,
}

impl RawText {
    /// The rows of `batch` among the data rows `wanted` (others ignored).
    pub fn of_rows(batch: &RawBatch, wanted: &[u32]) -> crate::error::Result<RawText> {
        let height = batch.frame.height();
        let first_row = match height {
            0 => 1,
            _ => batch
                .frame
                .column(ROW_COLUMN)?
                .cast(&DataType::UInt32)?
                .u32()?
                .get(0)
                .unwrap_or(1),
        };
        let mut rows: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|&r| r >= first_row && ((r - first_row) as usize) < height)
            .collect();
        rows.sort_unstable();
        rows.dedup();
        let positions = IdxCa::from_vec(
            "".into(),
            rows.iter().map(|&r| (r - first_row) as IdxSize).collect(),
        );
        let taken = batch.frame.take(&positions)?;
        let mut columns = Vec::new();
        for column in taken.columns() {
            if column.name().as_str() == ROW_COLUMN {
                continue;
            }
            // Timestamps as their physical integers: Polars cannot render an
            // out-of-range timestamp as text, and a reject may be one.
            let text = match column.dtype() {
                DataType::Datetime(_, _) => column.to_physical_repr().cast(&DataType::String)?,
                // Dates beyond chrono's calendar by hand (Polars panics).
                _ => text_of(column)?.into_column(),
            };
            columns.push((column.name().to_string(), text.str()?.clone()));
        }
        Ok(RawText {
            file: batch.file,
            rows,
            columns,
        })
    }
}
