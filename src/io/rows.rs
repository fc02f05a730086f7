//! Raw rows as the input readers give them: the row-number column every
//! raw frame carries, and a raw column's values as text. Shared by the
//! readers ([`crate::io::csv`], [`crate::io::parquet`]), [`crate::io::input`]
//! and the stages that turn raw rows into lines or reject records.

use polars::prelude::*;

use crate::time::checked_date_of;

/// Name of the row-number column added to every raw frame.
pub const ROW_COLUMN: &str = "__row";

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
