//! Validate: raw rows → typed order lines, or a reject with its reason.
//!
//! Input: the raw frames of `io::input` (source columns in their own types).
//! Output: [`Lines`], one entry per row read, with its status (accepted so
//! far, rejected, excluded by a filter), the customer id, order key, the
//! timestamp placed in the business time zone and the amount in integer
//! cents. Rows are checked in parallel slices; the output keeps input order.

use std::collections::HashMap;

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::config::{FilterConfig, Pipeline};
use crate::error::{Error, Result};
use crate::expr::{
    decimal_from_f64, parse_decimal, plain_cents, plain_float_cents, to_cents, AmountError,
    AmountExpr, ParseNumberError,
};
use crate::io::input::{InputFile, RawBatch, ROW_COLUMN};
use crate::stages::rejects::{Reject, RejectReason};
use crate::time::{
    date_of, parse_timestamp, place_date, place_instant, place_local, TimestampError,
    TimestampFormat,
};

/// 1900-01-01 and 2200-12-31 as day numbers: the accepted order dates.
const MIN_DAY: i32 = -25_567;
const MAX_DAY: i32 = 84_370;

/// Code of a missing key.
pub const NO_CODE: u32 = u32::MAX;

/// Rows handled per parallel task.
const SLICE_ROWS: usize = 256 * 1024;

/// What became of a row so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    Valid,
    Rejected,
    Filtered,
}

/// Every row read, typed. Vectors are parallel; entry `i` is one row.
#[derive(Debug, Default)]
pub struct Lines {
    pub file: Vec<u32>,
    pub row: Vec<u32>,
    pub status: Vec<LineStatus>,
    /// Dense code of the trimmed customer id (its rank among the distinct
    /// ids, so code order is id order); [`NO_CODE`] when missing.
    pub customer: Vec<u32>,
    /// Dense code of the order id; the line's own index without an
    /// order-id mapping (every row its own order).
    pub order: Vec<u32>,
    /// The distinct customer ids, sorted: `customer_values[code]`.
    pub customer_values: Vec<String>,
    pub ts_micros: Vec<i64>,
    pub day: Vec<i32>,
    pub cents: Vec<i64>,
    pub line_hash: Vec<u64>,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    fn append(&mut self, mut other: Lines) {
        self.file.append(&mut other.file);
        self.row.append(&mut other.row);
        self.status.append(&mut other.status);
        self.ts_micros.append(&mut other.ts_micros);
        self.day.append(&mut other.day);
        self.cents.append(&mut other.cents);
        self.line_hash.append(&mut other.line_hash);
    }
}

/// A source column prepared for row access in one of the shapes we accept.
enum TsColumn {
    Text(StringChunked),
    Days(Int32Chunked),
    /// Microseconds; `true` when the column carries a time zone (an instant)
    /// rather than a naive wall-clock time.
    Micros(Int64Chunked, bool),
}

enum NumberColumn {
    Text(StringChunked),
    Int(Int64Chunked),
    Float(Float64Chunked),
}

/// Validates every row of `batches`, returning typed lines and the rejects
/// found row by row (order-level rejects come later, in `orders`).
/// `on_rows` is told how many rows each finished slice had (progress).
pub fn validate(
    pipeline: &Pipeline,
    files: &[InputFile],
    batches: &[RawBatch],
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<(Lines, Vec<Reject>)> {
    let mut lines = Lines::default();
    let mut rejects = Vec::new();
    for batch in batches {
        let path = &files[batch.file as usize].path;
        let (batch_lines, batch_rejects) =
            validate_batch(pipeline, batch, on_rows).map_err(|e| match e {
                Error::Polars(p) => Error::input(path, p.to_string()),
                // A mapped column of a type we cannot read: the file is at fault.
                Error::Usage(message) => Error::input(path, message),
                other => other,
            })?;
        lines.append(batch_lines);
        rejects.extend(batch_rejects);
    }
    let mapping = &pipeline.config.columns;
    // The two key columns are independent: code them side by side.
    let clock = std::time::Instant::now();
    let (customers, orders) = rayon::join(
        || dense_codes(batches, &mapping.customer_id, true),
        || match &mapping.order_id {
            Some(name) => dense_codes(batches, name, false).map(|(codes, _)| codes),
            None => Ok((0..lines.len() as u32).collect()),
        },
    );
    tracing::debug!(seconds = clock.elapsed().as_secs_f64(), "key codes");
    (lines.customer, lines.customer_values) = customers?;
    lines.order = orders?;
    Ok((lines, rejects))
}

/// Dense codes of a key column across all batches (trimmed text; codes
/// ranked by value when `sorted`, so sorting by code sorts by value), and
/// the distinct values in code order. A hash map over borrowed strings:
/// several times faster than ranking with a string sort, and no string is
/// copied per row.
fn dense_codes(
    batches: &[RawBatch],
    column: &str,
    sorted: bool,
) -> Result<(Vec<u32>, Vec<String>)> {
    let texts: Vec<StringChunked> = batches
        .iter()
        .map(|b| {
            Ok(b.frame
                .column(column)?
                .cast(&DataType::String)?
                .str()?
                .clone())
        })
        .collect::<Result<_>>()?;
    let rows: usize = texts.iter().map(|t| t.len()).sum();
    let mut ids: HashMap<&str, u32, ahash::RandomState> = HashMap::default();
    let mut distinct: Vec<&str> = Vec::new();
    let mut codes: Vec<u32> = Vec::with_capacity(rows);
    for text in &texts {
        for value in text.iter() {
            let code = match value.map(str::trim) {
                None => NO_CODE,
                Some(v) => *ids.entry(v).or_insert_with(|| {
                    distinct.push(v);
                    (distinct.len() - 1) as u32
                }),
            };
            codes.push(code);
        }
    }
    if !sorted {
        return Ok((codes, Vec::new()));
    }
    // Renumber so that code order is value order.
    let mut order: Vec<u32> = (0..distinct.len() as u32).collect();
    order.par_sort_unstable_by_key(|&c| distinct[c as usize]);
    let mut rank = vec![0u32; distinct.len()];
    for (new, &old) in order.iter().enumerate() {
        rank[old as usize] = new as u32;
    }
    codes
        .par_iter_mut()
        .filter(|c| **c != NO_CODE)
        .for_each(|c| *c = rank[*c as usize]);
    let values = order
        .iter()
        .map(|&c| distinct[c as usize].to_string())
        .collect();
    Ok((codes, values))
}

fn validate_batch(
    pipeline: &Pipeline,
    batch: &RawBatch,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<(Lines, Vec<Reject>)> {
    let height = batch.frame.height();
    let slices: Vec<(usize, usize)> = (0..height)
        .step_by(SLICE_ROWS)
        .map(|start| (start, SLICE_ROWS.min(height - start)))
        .collect();
    let results: Vec<Result<(Lines, Vec<Reject>)>> = slices
        .par_iter()
        .map(|&(start, len)| {
            let frame = batch.frame.slice(start as i64, len);
            let hashes = batch.line_hash.as_ref().map(|h| &h[start..start + len]);
            let result = validate_slice(pipeline, batch.file, &frame, hashes);
            on_rows(len as u64);
            result
        })
        .collect();
    let mut lines = Lines::default();
    let mut rejects = Vec::new();
    for result in results {
        let (l, r) = result?;
        lines.append(l);
        rejects.extend(r);
    }
    Ok((lines, rejects))
}

fn text_column(frame: &DataFrame, name: &str) -> Result<StringChunked> {
    Ok(frame.column(name)?.cast(&DataType::String)?.str()?.clone())
}

fn ts_column(frame: &DataFrame, name: &str) -> Result<TsColumn> {
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
                "column `{name}` (order_ts) has type {other}: expected text, date or timestamp"
            )))
        }
    })
}

fn number_column(frame: &DataFrame, name: &str) -> Result<NumberColumn> {
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
            "column `{name}` (amount) has type {dtype}: expected a number or text"
        )));
    })
}

fn validate_slice(
    pipeline: &Pipeline,
    file: u32,
    frame: &DataFrame,
    hashes: Option<&[u64]>,
) -> Result<(Lines, Vec<Reject>)> {
    let mapping = &pipeline.config.columns;
    let csv = &pipeline.config.input.csv;
    let tz = pipeline.time_zone;
    let ts_format = TimestampFormat::new(csv.timestamp_format.as_deref());
    let n = frame.height();

    let rows: Vec<u32> = frame
        .column(ROW_COLUMN)?
        .cast(&DataType::UInt32)?
        .u32()?
        .into_no_null_iter()
        .collect();
    let customer_ca = text_column(frame, &mapping.customer_id)?;
    let customer_values: Vec<Option<&str>> = customer_ca.iter().collect();
    let order_ca = match &mapping.order_id {
        Some(name) => Some(text_column(frame, name)?),
        None => None,
    };
    let order_values: Option<Vec<Option<&str>>> = order_ca.as_ref().map(|ca| ca.iter().collect());
    let ts = ts_column(frame, &mapping.order_ts)?;
    let amount_columns: Vec<(String, NumberColumn)> = pipeline
        .amount
        .columns()
        .into_iter()
        .map(|name| number_column(frame, &name).map(|c| (name, c)))
        .collect::<Result<_>>()?;
    let filter_columns: Vec<(usize, StringChunked)> = pipeline
        .filters
        .iter()
        .enumerate()
        .map(|(i, (name, _))| text_column(frame, name).map(|c| (i, c)))
        .collect::<Result<_>>()?;

    let mut out = Lines {
        file: vec![file; n],
        row: rows,
        status: Vec::with_capacity(n),
        ts_micros: Vec::with_capacity(n),
        day: Vec::with_capacity(n),
        cents: Vec::with_capacity(n),
        line_hash: hashes.map(<[u64]>::to_vec).unwrap_or_else(|| vec![0; n]),
        // Key codes are assigned over all files at once, after the rows.
        ..Default::default()
    };
    let mut rejects = Vec::new();

    for i in 0..n {
        let filtered = filter_columns
            .iter()
            .any(|(f, column)| FilterConfig::matches(&pipeline.filters[*f].1, column.get(i)));
        if filtered {
            out.push_invalid(LineStatus::Filtered);
            continue;
        }
        let checked = check_row(
            i,
            &customer_values,
            order_values.as_deref(),
            mapping,
            &ts,
            &ts_format,
            tz,
            &amount_columns,
            pipeline,
            csv.decimal_comma,
        );
        match checked {
            Ok((placed_micros, day, cents)) => {
                out.status.push(LineStatus::Valid);
                out.ts_micros.push(placed_micros);
                out.day.push(day);
                out.cents.push(cents);
            }
            Err((reason, column, value)) => {
                rejects.push(Reject {
                    file,
                    row: out.row[i],
                    reason,
                    column: Some(column),
                    value,
                });
                out.push_invalid(LineStatus::Rejected);
            }
        }
    }
    Ok((out, rejects))
}

impl Lines {
    fn push_invalid(&mut self, status: LineStatus) {
        self.status.push(status);
        self.ts_micros.push(0);
        self.day.push(0);
        self.cents.push(0);
    }
}

type RowProblem = (RejectReason, String, Option<String>);

#[allow(clippy::too_many_arguments)]
fn check_row(
    i: usize,
    customer: &[Option<&str>],
    order: Option<&[Option<&str>]>,
    mapping: &crate::config::ColumnMapping,
    ts: &TsColumn,
    ts_format: &TimestampFormat,
    tz: chrono_tz::Tz,
    amount_columns: &[(String, NumberColumn)],
    pipeline: &Pipeline,
    decimal_comma: bool,
) -> std::result::Result<(i64, i32, i64), RowProblem> {
    match customer[i].map(str::trim) {
        Some(id) if !id.is_empty() => {}
        other => {
            return Err((
                RejectReason::MissingCustomerId,
                mapping.customer_id.clone(),
                other.map(str::to_string),
            ))
        }
    };
    if let (Some(order), Some(name)) = (order, &mapping.order_id) {
        if order[i].is_none_or(|s| s.trim().is_empty()) {
            return Err((
                RejectReason::MissingOrderId,
                name.clone(),
                order[i].map(str::to_string),
            ));
        }
    }
    let ts_problem = |e: TimestampError, raw: Option<String>| {
        let reason = match e {
            TimestampError::Missing => RejectReason::MissingTimestamp,
            TimestampError::Unparseable => RejectReason::InvalidTimestamp,
            TimestampError::Nonexistent => RejectReason::NonexistentLocalTime,
            TimestampError::Ambiguous => RejectReason::AmbiguousLocalTime,
        };
        (reason, mapping.order_ts.clone(), raw)
    };
    let placed = match ts {
        TsColumn::Text(ca) => match ca.get(i) {
            None => Err(ts_problem(TimestampError::Missing, None)),
            Some(text) => parse_timestamp(text, ts_format, tz)
                .map_err(|e| ts_problem(e, Some(text.to_string()))),
        },
        TsColumn::Days(ca) => match ca.get(i) {
            None => Err(ts_problem(TimestampError::Missing, None)),
            Some(day) => Ok(place_date(date_of(day), tz)),
        },
        TsColumn::Micros(ca, is_instant) => match ca.get(i) {
            None => Err(ts_problem(TimestampError::Missing, None)),
            Some(micros) if *is_instant => {
                place_instant(micros, tz).map_err(|e| ts_problem(e, Some(micros.to_string())))
            }
            Some(micros) => match chrono::DateTime::from_timestamp_micros(micros) {
                Some(dt) => place_local(dt.naive_utc(), tz)
                    .map_err(|e| ts_problem(e, Some(dt.naive_utc().to_string()))),
                None => Err(ts_problem(
                    TimestampError::Unparseable,
                    Some(micros.to_string()),
                )),
            },
        },
    }?;

    // Dates outside 1900–2200 are placeholders (0001-01-01, 9999-12-31) or
    // unit mix-ups; they would also stretch the month calendar absurdly.
    if !(MIN_DAY..=MAX_DAY).contains(&placed.local_day) {
        return Err((
            RejectReason::TimestampOutOfRange,
            mapping.order_ts.clone(),
            Some(date_of(placed.local_day).to_string()),
        ));
    }
    // The common case, one plain amount column, skips the decimal machinery.
    if let AmountExpr::Column(name) = &pipeline.amount {
        let fast = amount_columns.first().and_then(|(_, column)| match column {
            NumberColumn::Text(ca) => ca.get(i).and_then(|t| plain_cents(t, decimal_comma)),
            NumberColumn::Int(ca) => ca.get(i).and_then(|v| v.checked_mul(100)),
            NumberColumn::Float(ca) => ca.get(i).and_then(plain_float_cents),
        });
        if let Some(cents) = fast {
            debug_assert_eq!(&amount_columns[0].0, name);
            return Ok((placed.utc_micros, placed.local_day, cents));
        }
    }
    let lookup = |name: &str| -> std::result::Result<Decimal, AmountError> {
        let column = amount_columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| AmountError::Missing(name.to_string()))?;
        let parsed = match column {
            NumberColumn::Text(ca) => match ca.get(i) {
                None => Err(ParseNumberError::Empty),
                Some(text) => parse_decimal(text, decimal_comma),
            },
            NumberColumn::Int(ca) => ca.get(i).map(Decimal::from).ok_or(ParseNumberError::Empty),
            NumberColumn::Float(ca) => match ca.get(i) {
                None => Err(ParseNumberError::Empty),
                Some(x) => decimal_from_f64(x),
            },
        };
        parsed.map_err(|e| match e {
            ParseNumberError::Empty => AmountError::Missing(name.to_string()),
            ParseNumberError::NotNumeric => AmountError::NotNumeric(name.to_string()),
            ParseNumberError::NotFinite => AmountError::NotFinite(name.to_string()),
        })
    };
    let raw_value = |name: &str| -> Option<String> {
        amount_columns
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| match c {
                NumberColumn::Text(ca) => ca.get(i).map(str::to_string),
                NumberColumn::Int(ca) => ca.get(i).map(|v| v.to_string()),
                NumberColumn::Float(ca) => ca.get(i).map(|v| v.to_string()),
            })
    };
    let amount_problem = |reason: RejectReason, name: String| {
        let value = raw_value(&name);
        (reason, name, value)
    };
    let cents = match pipeline.amount.eval(&lookup) {
        Ok(value) => to_cents(value)
            .ok_or_else(|| amount_problem(RejectReason::NonFiniteAmount, mapping.amount.clone()))?,
        Err(AmountError::Missing(name)) => {
            return Err(amount_problem(RejectReason::MissingAmount, name))
        }
        Err(AmountError::NotNumeric(name)) => {
            return Err(amount_problem(RejectReason::InvalidAmount, name))
        }
        Err(AmountError::NotFinite(name)) => {
            return Err(amount_problem(RejectReason::NonFiniteAmount, name))
        }
    };
    Ok((placed.utc_micros, placed.local_day, cents))
}
