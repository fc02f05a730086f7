//! Raw columns prepared for row access: a bad value in a row becomes that
//! row's reject rather than a failed column.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::stages::raw::text_of;
use crate::stages::rejects::RejectReason;
use crate::time::{
    checked_date_of, date_of, parse_timestamp, place_date, place_instant, place_local,
    PlacedTimestamp, TimestampError, TimestampFormat,
};

/// 1900-01-01 and 2200-12-31 as day numbers: the accepted order dates.
const MIN_DAY: i32 = -25_567;
const MAX_DAY: i32 = 84_370;

/// A timestamp column (orders' `order_ts`, surveys' `response_ts`)
/// prepared for row access in one of the shapes we accept.
pub enum TsColumn {
    Text(StringChunked),
    Days(Int32Chunked),
    /// Microseconds; `true` when the column carries a time zone (an instant)
    /// rather than a naive wall-clock time.
    Micros(Int64Chunked, bool),
}

impl TsColumn {
    /// Column `name` of `frame`; `role` names it in the error for a column
    /// of another type (e.g. "order_ts").
    pub fn of(frame: &DataFrame, name: &str, role: &str) -> Result<TsColumn> {
        let column = frame.column(name)?;
        Ok(match column.dtype() {
            DataType::String => TsColumn::Text(column.str()?.clone()),
            DataType::Date => TsColumn::Days(column.cast(&DataType::Int32)?.i32()?.clone()),
            DataType::Datetime(_, tz) => {
                let has_zone = tz.is_some();
                let micros = column
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, tz.clone()))?
                    .cast(&DataType::Int64)?;
                TsColumn::Micros(micros.i64()?.clone(), has_zone)
            }
            other => {
                return Err(Error::Usage(format!(
                    "column `{name}` ({role}) has type {other}: expected text, date or timestamp"
                )))
            }
        })
    }

    /// Row `i` placed on the business calendar, or why it cannot be: the
    /// reject reason and the raw value. Dates outside 1900–2200 are
    /// placeholders (0001-01-01, 9999-12-31) or unit mix-ups, and would also
    /// stretch the month calendar absurdly.
    pub fn place(
        &self,
        i: usize,
        format: &TimestampFormat,
        tz: chrono_tz::Tz,
    ) -> std::result::Result<PlacedTimestamp, (RejectReason, Option<String>)> {
        let problem = |e: TimestampError, raw: Option<String>| {
            let reason = match e {
                TimestampError::Missing => RejectReason::MissingTimestamp,
                TimestampError::Unparseable => RejectReason::InvalidTimestamp,
                TimestampError::Nonexistent => RejectReason::NonexistentLocalTime,
                TimestampError::Ambiguous => RejectReason::AmbiguousLocalTime,
                TimestampError::OutOfRange => RejectReason::TimestampOutOfRange,
            };
            (reason, raw)
        };
        let placed = match self {
            TsColumn::Text(ca) => match ca.get(i) {
                None => Err(problem(TimestampError::Missing, None)),
                Some(text) => parse_timestamp(text, format, tz)
                    .map_err(|e| problem(e, Some(text.to_string()))),
            },
            TsColumn::Days(ca) => match ca.get(i) {
                None => Err(problem(TimestampError::Missing, None)),
                Some(day) => checked_date_of(day)
                    .ok_or(TimestampError::OutOfRange)
                    .and_then(|date| place_date(date, tz))
                    .map_err(|e| {
                        let raw =
                            checked_date_of(day).map_or(format!("day {day}"), |d| d.to_string());
                        problem(e, Some(raw))
                    }),
            },
            TsColumn::Micros(ca, is_instant) => match ca.get(i) {
                None => Err(problem(TimestampError::Missing, None)),
                Some(micros) if *is_instant => {
                    place_instant(micros, tz).map_err(|e| problem(e, Some(micros.to_string())))
                }
                Some(micros) => match chrono::DateTime::from_timestamp_micros(micros) {
                    Some(dt) => place_local(dt.naive_utc(), tz)
                        .map_err(|e| problem(e, Some(dt.naive_utc().to_string()))),
                    None => Err(problem(
                        TimestampError::OutOfRange,
                        Some(micros.to_string()),
                    )),
                },
            },
        }?;
        if !(MIN_DAY..=MAX_DAY).contains(&placed.local_day) {
            return Err((
                RejectReason::TimestampOutOfRange,
                Some(date_of(placed.local_day).to_string()),
            ));
        }
        Ok(placed)
    }
}

/// A numeric column (orders' amount columns, surveys' `score`) prepared
/// for row access: text is parsed row by row, so a bad value becomes a
/// reject rather than a failed column.
pub enum NumberColumn {
    Text(StringChunked),
    Int(Int64Chunked),
    Float(Float64Chunked),
}

impl NumberColumn {
    /// Column `name` of `frame`; `role` and `expected` word the error for a
    /// column of another type (e.g. "amount", "a number or text").
    pub fn of(frame: &DataFrame, name: &str, role: &str, expected: &str) -> Result<NumberColumn> {
        let column = frame.column(name)?;
        let dtype = column.dtype();
        Ok(if dtype.is_string() {
            NumberColumn::Text(column.str()?.clone())
        } else if dtype.is_integer() {
            NumberColumn::Int(column.cast(&DataType::Int64)?.i64()?.clone())
        } else if dtype.is_float() {
            NumberColumn::Float(column.cast(&DataType::Float64)?.f64()?.clone())
        } else {
            return Err(Error::Usage(format!(
                "column `{name}` ({role}) has type {dtype}: expected {expected}"
            )));
        })
    }
}

pub(super) fn text_column(frame: &DataFrame, name: &str) -> Result<StringChunked> {
    Ok(text_of(frame.column(name)?)?)
}
