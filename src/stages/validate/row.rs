//! Row checks: a batch's rows, in parallel slices, each into a typed line
//! or a reject with its reason.

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::columns::text_column;
use super::{LineStatus, Lines, NumberColumn, TsColumn};
use crate::config::{FilterConfig, Pipeline};
use crate::error::Result;
use crate::expr::{
    decimal_from_f64, parse_decimal, plain_cents, plain_float_cents, to_cents, whole_cents,
    AmountError, AmountExpr, ParseNumberError,
};
use crate::io::input::RawBatch;
use crate::io::rows::ROW_COLUMN;
use crate::stages::rejects::{Reject, RejectReason};
use crate::time::TimestampFormat;

/// Rows handled per parallel task.
const SLICE_ROWS: usize = 256 * 1024;

pub(super) fn validate_batch(
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
            let result = validate_slice(pipeline, batch.file, &frame);
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

fn validate_slice(
    pipeline: &Pipeline,
    file: u32,
    frame: &DataFrame,
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
    let ts = TsColumn::of(frame, &mapping.order_ts, "order_ts")?;
    let amount_columns: Vec<(String, NumberColumn)> = pipeline
        .amount
        .columns()
        .into_iter()
        .map(|name| NumberColumn::of(frame, &name, "amount", "a number or text").map(|c| (name, c)))
        .collect::<Result<_>>()?;
    let filter_columns: Vec<(usize, StringChunked)> = pipeline
        .filters
        .iter()
        .enumerate()
        .map(|(i, (name, _))| text_column(frame, name).map(|c| (i, c)))
        .collect::<Result<_>>()?;

    // Key codes and line hashes are added by the collector.
    let mut out = Lines {
        status: Vec::with_capacity(n),
        ts_micros: Vec::with_capacity(n),
        day: Vec::with_capacity(n),
        cents: Vec::with_capacity(n),
        ..Default::default()
    };
    let mut rejects = Vec::new();

    for (i, &row) in rows.iter().enumerate() {
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
                    row,
                    reason,
                    column: Some(column),
                    value,
                    raw: None,
                });
                out.push_invalid(LineStatus::Rejected);
            }
        }
    }
    Ok((out, rejects))
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
    let placed = ts
        .place(i, ts_format, tz)
        .map_err(|(reason, raw)| (reason, mapping.order_ts.clone(), raw))?;
    // The common case, one plain amount column, skips the decimal machinery.
    if let AmountExpr::Column(name) = &pipeline.amount {
        let fast = amount_columns.first().and_then(|(_, column)| match column {
            NumberColumn::Text(ca) => ca.get(i).and_then(|t| plain_cents(t, decimal_comma)),
            NumberColumn::Int(ca) => ca.get(i).and_then(whole_cents),
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
            ParseNumberError::OutOfRange => AmountError::OutOfRange(name.to_string()),
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
        Ok(value) => to_cents(value).ok_or_else(|| {
            amount_problem(RejectReason::AmountOutOfRange, mapping.amount.clone())
        })?,
        Err(AmountError::Missing(name)) => {
            return Err(amount_problem(RejectReason::MissingAmount, name))
        }
        Err(AmountError::NotNumeric(name)) => {
            return Err(amount_problem(RejectReason::InvalidAmount, name))
        }
        Err(AmountError::NotFinite(name)) => {
            return Err(amount_problem(RejectReason::NonFiniteAmount, name))
        }
        Err(AmountError::OutOfRange(name)) => {
            return Err(amount_problem(RejectReason::AmountOutOfRange, name))
        }
    };
    Ok((placed.utc_micros, placed.local_day, cents))
}
