//! Row checks: a batch's rows, in parallel slices, each into a typed line
//! or a reject with its reason.

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::columns::text_column;
use super::{trim_key, LineStatus, Lines, NumberColumn, TsColumn};
use crate::config::{FilterConfig, Pipeline};
use crate::error::Result;
use crate::expr::{
    decimal_from_f64, parse_decimal, plain_cents, plain_float_cents, to_cents, whole_cents,
    AmountError, AmountExpr, ParseNumberError,
};
use crate::stages::raw::{row_numbers, RawBatch};
use crate::stages::rejects::{Reject, RejectReason, RowProblem};
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

/// One slice of a batch: every row becomes a line (accepted so far,
/// rejected or filtered) and each rejected row a reject.
fn validate_slice(
    pipeline: &Pipeline,
    file: u32,
    frame: &DataFrame,
) -> Result<(Lines, Vec<Reject>)> {
    let columns = SliceColumns::of(pipeline, frame)?;
    let checker = RowChecker::new(pipeline, &columns);
    let n = frame.height();
    // Key codes and line hashes are added by the collector.
    let mut out = Lines {
        status: Vec::with_capacity(n),
        ts_micros: Vec::with_capacity(n),
        day: Vec::with_capacity(n),
        cents: Vec::with_capacity(n),
        ..Default::default()
    };
    let mut rejects = Vec::new();

    for (i, &row) in columns.rows.iter().enumerate() {
        let filtered = columns
            .filters
            .iter()
            .any(|(f, column)| FilterConfig::matches(&pipeline.filters[*f].1, column.get(i)));
        if filtered {
            out.push_invalid(LineStatus::Filtered);
            continue;
        }
        match checker.check_row(i) {
            Ok((placed_micros, day, cents)) => {
                out.status.push(LineStatus::Valid);
                out.ts_micros.push(placed_micros);
                out.day.push(day);
                out.cents.push(cents);
            }
            Err(problem) => {
                rejects.push(Reject::of_row(file, row, problem));
                out.push_invalid(LineStatus::Rejected);
            }
        }
    }
    Ok((out, rejects))
}

/// The columns of one slice that its rows are checked against.
struct SliceColumns {
    /// The 1-based data row of each line (`__row`).
    rows: Vec<u32>,
    customer: StringChunked,
    /// The order-id column, when one is mapped.
    order: Option<StringChunked>,
    ts: TsColumn,
    /// Every column the amount expression names, with its name.
    amounts: Vec<(String, NumberColumn)>,
    /// Each configured filter's column, with the filter's index.
    filters: Vec<(usize, StringChunked)>,
}

impl SliceColumns {
    fn of(pipeline: &Pipeline, frame: &DataFrame) -> Result<SliceColumns> {
        let mapping = &pipeline.config.columns;
        let rows = row_numbers(frame)?;
        let customer = text_column(frame, &mapping.customer_id)?;
        let order = match &mapping.order_id {
            Some(name) => Some(text_column(frame, name)?),
            None => None,
        };
        let ts = TsColumn::of(frame, &mapping.order_ts, "order_ts")?;
        let amounts: Vec<(String, NumberColumn)> = pipeline
            .amount
            .columns()
            .into_iter()
            .map(|name| {
                NumberColumn::of(frame, &name, "amount", "a number or text").map(|c| (name, c))
            })
            .collect::<Result<_>>()?;
        let filters: Vec<(usize, StringChunked)> = pipeline
            .filters
            .iter()
            .enumerate()
            .map(|(i, (name, _))| text_column(frame, name).map(|c| (i, c)))
            .collect::<Result<_>>()?;
        Ok(SliceColumns {
            rows,
            customer,
            order,
            ts,
            amounts,
            filters,
        })
    }
}

/// Checks the rows of one slice: the key columns' values (collected once
/// for fast row access), the timestamp column and its format, the amount
/// columns and how to read them.
struct RowChecker<'a> {
    pipeline: &'a Pipeline,
    customer: Vec<Option<&'a str>>,
    order: Option<Vec<Option<&'a str>>>,
    ts: &'a TsColumn,
    ts_format: TimestampFormat,
    tz: chrono_tz::Tz,
    amounts: &'a [(String, NumberColumn)],
    decimal_comma: bool,
}

impl<'a> RowChecker<'a> {
    fn new(pipeline: &'a Pipeline, columns: &'a SliceColumns) -> RowChecker<'a> {
        let csv = &pipeline.config.input.csv;
        RowChecker {
            pipeline,
            customer: columns.customer.iter().collect(),
            order: columns.order.as_ref().map(|ca| ca.iter().collect()),
            ts: &columns.ts,
            ts_format: TimestampFormat::new(csv.timestamp_format.as_deref()),
            tz: pipeline.time_zone,
            amounts: &columns.amounts,
            decimal_comma: csv.decimal_comma,
        }
    }

    /// Row `i` as (UTC timestamp in microseconds, local business day,
    /// cents), or why it is rejected.
    fn check_row(&self, i: usize) -> std::result::Result<(i64, i32, i64), RowProblem> {
        self.check_keys(i)?;
        let mapping = &self.pipeline.config.columns;
        let placed = self
            .ts
            .place(i, &self.ts_format, self.tz)
            .map_err(|(reason, raw)| (reason, mapping.order_ts.clone(), raw))?;
        let cents = match self.plain_cents(i) {
            Some(cents) => cents,
            None => self.evaluated_cents(i)?,
        };
        Ok((placed.utc_micros, placed.local_day, cents))
    }

    /// A customer id, and an order id when one is mapped, that are neither
    /// null nor blank.
    fn check_keys(&self, i: usize) -> std::result::Result<(), RowProblem> {
        let mapping = &self.pipeline.config.columns;
        match self.customer[i].map(trim_key) {
            Some(id) if !id.is_empty() => {}
            other => {
                return Err((
                    RejectReason::MissingCustomerId,
                    mapping.customer_id.clone(),
                    other.map(str::to_string),
                ))
            }
        };
        if let (Some(order), Some(name)) = (&self.order, &mapping.order_id) {
            if order[i].is_none_or(|s| trim_key(s).is_empty()) {
                return Err((
                    RejectReason::MissingOrderId,
                    name.clone(),
                    order[i].map(str::to_string),
                ));
            }
        }
        Ok(())
    }

    /// The common case, one plain amount column, skips the decimal
    /// machinery: the cents of row `i` when the amount is a single column
    /// with a plain value, else `None` (then [`Self::evaluated_cents`]).
    fn plain_cents(&self, i: usize) -> Option<i64> {
        let AmountExpr::Column(name) = &self.pipeline.amount else {
            return None;
        };
        let decimal_comma = self.decimal_comma;
        let fast = self.amounts.first().and_then(|(_, column)| match column {
            NumberColumn::Text(ca) => ca.get(i).and_then(|t| plain_cents(t, decimal_comma)),
            NumberColumn::Int(ca) => ca.get(i).and_then(whole_cents),
            NumberColumn::Float(ca) => ca.get(i).and_then(plain_float_cents),
        });
        if fast.is_some() {
            debug_assert_eq!(&self.amounts[0].0, name);
        }
        fast
    }

    /// The amount expression evaluated on row `i` in decimals, in cents,
    /// or the problem with the amount column at fault.
    fn evaluated_cents(&self, i: usize) -> std::result::Result<i64, RowProblem> {
        let lookup = |name: &str| self.amount_value(i, name);
        let amount_problem = |reason: RejectReason, name: String| {
            let value = self.raw_amount(i, &name);
            (reason, name, value)
        };
        let mapping = &self.pipeline.config.columns;
        match self.pipeline.amount.eval(&lookup) {
            Ok(value) => to_cents(value).ok_or_else(|| {
                amount_problem(RejectReason::AmountOutOfRange, mapping.amount.clone())
            }),
            Err(AmountError::Missing(name)) => {
                Err(amount_problem(RejectReason::MissingAmount, name))
            }
            Err(AmountError::NotNumeric(name)) => {
                Err(amount_problem(RejectReason::InvalidAmount, name))
            }
            Err(AmountError::NotFinite(name)) => {
                Err(amount_problem(RejectReason::NonFiniteAmount, name))
            }
            Err(AmountError::OutOfRange(name)) => {
                Err(amount_problem(RejectReason::AmountOutOfRange, name))
            }
        }
    }

    /// Row `i`'s value of amount column `name` as a decimal.
    fn amount_value(&self, i: usize, name: &str) -> std::result::Result<Decimal, AmountError> {
        let column = self
            .amounts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| AmountError::Missing(name.to_string()))?;
        let parsed = match column {
            NumberColumn::Text(ca) => match ca.get(i) {
                None => Err(ParseNumberError::Empty),
                Some(text) => parse_decimal(text, self.decimal_comma),
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
    }

    /// Row `i`'s raw value of amount column `name`, as the reject shows it.
    fn raw_amount(&self, i: usize, name: &str) -> Option<String> {
        self.amounts
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| match c {
                NumberColumn::Text(ca) => ca.get(i).map(str::to_string),
                NumberColumn::Int(ca) => ca.get(i).map(|v| v.to_string()),
                NumberColumn::Float(ca) => ca.get(i).map(|v| v.to_string()),
            })
    }
}
