//! Raw input as the readers of [`crate::io`] hand it to the stages: the
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
    pub path: PathBuf,
    pub format: FileFormat,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
