//! Rejects: the closed list of reasons a row can be refused for, and the
//! `rejects` table (one row per rejected input row, with its source file,
//! 1-based data row, reason, the offending column and value, and the row's
//! mapped fields as a JSON object so an operator can see it whole).

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::error::Result;
use crate::io::input::{InputFile, RawBatch, ROW_COLUMN};

/// Why a row was rejected. The `as_str` names are published and stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    MissingCustomerId,
    MissingOrderId,
    MissingTimestamp,
    InvalidTimestamp,
    NonexistentLocalTime,
    AmbiguousLocalTime,
    /// A date before 1900 or after 2200: a placeholder or a unit mix-up.
    TimestampOutOfRange,
    MissingAmount,
    InvalidAmount,
    NonFiniteAmount,
    /// Another line of the same order was rejected.
    OrderHasBadLine,
    /// Lines of one order name different customers.
    ConflictingCustomerId,
    RefundWithoutOrder,
    RefundBeforeFirstOrder,
    /// Survey response without a score.
    MissingScore,
    /// Survey score that is not a whole number.
    InvalidScore,
    /// Survey score that is a whole number outside 0–10.
    ScoreOutOfRange,
    /// Survey response from a customer with no order on or before as_of.
    ResponseWithoutOrder,
    /// Survey response dated before the customer's first order.
    ResponseBeforeFirstOrder,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingCustomerId => "missing_customer_id",
            RejectReason::MissingOrderId => "missing_order_id",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::NonexistentLocalTime => "nonexistent_local_time",
            RejectReason::AmbiguousLocalTime => "ambiguous_local_time",
            RejectReason::TimestampOutOfRange => "timestamp_out_of_range",
            RejectReason::MissingAmount => "missing_amount",
            RejectReason::InvalidAmount => "invalid_amount",
            RejectReason::NonFiniteAmount => "non_finite_amount",
            RejectReason::OrderHasBadLine => "order_has_bad_line",
            RejectReason::ConflictingCustomerId => "conflicting_customer_id",
            RejectReason::RefundWithoutOrder => "refund_without_order",
            RejectReason::RefundBeforeFirstOrder => "refund_before_first_order",
            RejectReason::MissingScore => "missing_score",
            RejectReason::InvalidScore => "invalid_score",
            RejectReason::ScoreOutOfRange => "score_out_of_range",
            RejectReason::ResponseWithoutOrder => "response_without_order",
            RejectReason::ResponseBeforeFirstOrder => "response_before_first_order",
        }
    }
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub file: u32,
    pub row: u32,
    pub reason: RejectReason,
    /// The source column at fault, when one is.
    pub column: Option<String>,
    /// Its raw value (null when missing).
    pub value: Option<String>,
}

/// Builds the `rejects` table, sorted by source file order and row.
pub fn rejects_table(
    rejects: &[Reject],
    files: &[InputFile],
    batches: &[RawBatch],
) -> Result<DataFrame> {
    let mut sorted: Vec<&Reject> = rejects.iter().collect();
    sorted.sort_by_key(|r| (r.file, r.row));
    let mut source = Vec::with_capacity(sorted.len());
    let mut row = Vec::with_capacity(sorted.len());
    let mut reason = Vec::with_capacity(sorted.len());
    let mut column = Vec::with_capacity(sorted.len());
    let mut value = Vec::with_capacity(sorted.len());
    let mut raw = Vec::with_capacity(sorted.len());
    // The text of each file's mapped columns, made once per file with rejects.
    let mut text_columns: Option<(u32, Vec<(String, StringChunked)>)> = None;
    for r in sorted {
        if text_columns.as_ref().is_none_or(|(f, _)| *f != r.file) {
            text_columns = Some((r.file, as_text(&batches[r.file as usize])?));
        }
        let columns = &text_columns.as_ref().expect("set above").1;
        source.push(files[r.file as usize].path.to_string_lossy().into_owned());
        row.push(r.row as i64);
        reason.push(r.reason.as_str());
        column.push(r.column.clone());
        // Order-level rejects name the column; their value is the raw one.
        let raw_value = || {
            let name = r.column.as_deref()?;
            let (_, text) = columns.iter().find(|(n, _)| n == name)?;
            text.get(r.row as usize - 1).map(str::to_string)
        };
        value.push(r.value.clone().or_else(raw_value));
        raw.push(raw_record(columns, r.row));
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new("source".into(), source),
        Column::new("row".into(), row),
        Column::new("reason".into(), reason),
        Column::new("column".into(), column),
        Column::new("value".into(), value),
        Column::new("raw_record".into(), raw),
    ])?)
}

fn as_text(batch: &RawBatch) -> Result<Vec<(String, StringChunked)>> {
    let mut out = Vec::new();
    for column in batch.frame.columns() {
        if column.name().as_str() == ROW_COLUMN {
            continue;
        }
        // Timestamps as their physical integers: Polars cannot render an
        // out-of-range timestamp as text, and a reject may be one.
        let text = match column.dtype() {
            DataType::Datetime(_, _) => column.to_physical_repr().cast(&DataType::String)?,
            _ => column.cast(&DataType::String)?,
        };
        let text = text.str()?.clone();
        out.push((column.name().to_string(), text));
    }
    Ok(out)
}

/// The mapped fields of one raw row as a JSON object (column → text, null
/// for missing). Raw frames hold every row, so data row `row` is at
/// position `row - 1`.
fn raw_record(columns: &[(String, StringChunked)], row: u32) -> String {
    let position = row as usize - 1;
    let fields: BTreeMap<&str, Option<&str>> = columns
        .iter()
        .map(|(name, text)| (name.as_str(), text.get(position)))
        .collect();
    serde_json::to_string(&fields).unwrap_or_default()
}

/// Reject counts by reason, most frequent first (for logs and the manifest).
pub fn counts_by_reason(rejects: &[Reject]) -> Vec<(&'static str, u64)> {
    let mut counts: BTreeMap<RejectReason, u64> = BTreeMap::new();
    for r in rejects {
        *counts.entry(r.reason).or_default() += 1;
    }
    let mut out: Vec<(&'static str, u64)> =
        counts.into_iter().map(|(k, v)| (k.as_str(), v)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out
}
