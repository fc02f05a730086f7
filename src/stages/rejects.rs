//! Rejects: the closed list of reasons a row can be refused for, one
//! rejected row ([`Reject`]: its file, 1-based data row, reason, the
//! offending column and value, and the row's mapped fields as a JSON object
//! so an operator can see it whole), the raw records made from raw rows
//! ([`RawText`]), and the reject ratio's limit and messages. The `rejects`
//! table is built from them in `tables::rejects`.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::stages::raw::{InputFile, RawText};
use crate::tables::schema::rejects::REJECTS;

/// Why a row was rejected. The `as_str` names are published and stable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
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
    /// NaN or infinite (also a division by zero in the amount expression).
    NonFiniteAmount,
    /// A line's amount, or an order's total, beyond
    /// `expr::MAX_AMOUNT_CENTS` in magnitude.
    AmountOutOfRange,
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
            RejectReason::AmountOutOfRange => "amount_out_of_range",
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reject {
    pub file: u32,
    pub row: u32,
    pub reason: RejectReason,
    /// The source column at fault, when one is.
    pub column: Option<String>,
    /// Its raw value (null when missing).
    pub value: Option<String>,
    /// The row's mapped fields as a JSON object, filled in from the raw
    /// input (see [`RawText`]).
    pub raw: Option<String>,
}

/// Why a row is rejected: the reason, the column at fault and its
/// raw value.
pub type RowProblem = (RejectReason, String, Option<String>);

impl Reject {
    /// The reject of a file's row (a row check's, or a survey rule's that
    /// needs every row), the column at fault named; its raw record is
    /// filled in from the raw input afterwards.
    pub fn of_row(file: u32, row: u32, (reason, column, value): RowProblem) -> Reject {
        Reject {
            file,
            row,
            reason,
            column: Some(column),
            value,
            raw: None,
        }
    }
}

/// How a raw record fills in the rejects (the rows are read in
/// `stages::raw`).
impl RawText {
    /// Fills in the raw record (and, for order-level rejects that name a
    /// column, its raw value) of every reject whose row is held here.
    pub fn fill<'r>(&self, rejects: impl IntoIterator<Item = &'r mut Reject>) {
        for r in rejects {
            if r.raw.is_some() || r.file != self.file {
                continue;
            }
            let Ok(position) = self.rows.binary_search(&r.row) else {
                continue;
            };
            if r.value.is_none() {
                r.value = r.column.as_deref().and_then(|name| {
                    let (_, text) = self.columns.iter().find(|(n, _)| n == name)?;
                    text.get(position).map(str::to_string)
                });
            }
            let fields: BTreeMap<&str, Option<&str>> = self
                .columns
                .iter()
                .map(|(name, text)| (name.as_str(), text.get(position)))
                .collect();
            r.raw = Some(serde_json::to_string(&fields).unwrap_or_default());
        }
    }
}

/// The data rows of the rejects whose raw record is still missing
/// (order-level rejects, found after the raw input was dropped), by file:
/// files ascending, each file's rows ascending. What
/// the input reader reads again (`io::input::raw_records`).
pub fn rows_missing_raw(rejects: &[Reject]) -> Vec<(u32, Vec<u32>)> {
    let mut missing: Vec<(u32, u32)> = rejects
        .iter()
        .filter(|r| r.raw.is_none())
        .map(|r| (r.file, r.row))
        .collect();
    missing.sort_unstable();
    missing
        .chunk_by(|a, b| a.0 == b.0)
        .map(|group| (group[0].0, group.iter().map(|&(_, row)| row).collect()))
        .collect()
}

/// Fills in the raw records still missing from the rows read again
/// ([`rows_missing_raw`]).
pub fn fill_raw(rejects: &mut [Reject], texts: &[RawText]) {
    let mut missing: Vec<&mut Reject> = rejects.iter_mut().filter(|r| r.raw.is_none()).collect();
    missing.sort_unstable_by_key(|r| (r.file, r.row));
    for group in missing.chunk_by_mut(|a, b| a.file == b.file) {
        let file = group[0].file;
        for text in texts.iter().filter(|t| t.file == file) {
            text.fill(group.iter_mut().map(|r| &mut **r));
        }
    }
}

/// Fails with `error::Error::TooManyRejects` (naming the first
/// reject by file, row and column, and the most frequent reasons) when more
/// than `max_share` of the `read` rows were rejected, and warns when any
/// were. `what` says whose rows these are ("rows", "survey rows"),
/// `file_label` how a file is named ("", "survey file ").
pub fn check_reject_share(
    rejects: &[Reject],
    files: &[InputFile],
    read: u64,
    max_share: f64,
    what: &str,
    file_label: &str,
) -> Result<()> {
    let rejected = rejects.len() as u64;
    let share = rejected as f64 / read.max(1) as f64;
    if share > max_share {
        return Err(crate::error::Error::TooManyRejects {
            rejected,
            read,
            ratio: share,
            max: max_share,
            first: format!(
                "{}; top reasons: {}",
                first_reject(rejects, files, file_label),
                top_reasons(rejects)
            ),
        });
    }
    if rejected > 0 {
        tracing::warn!(
            rejected,
            rows_read = read,
            reasons = ?counts_by_reason(rejects),
            "{what} rejected (published in the {} table)",
            REJECTS.name
        );
    }
    Ok(())
}

/// The error for a run left without a valid order: when rows were
/// rejected, the reject ratio, the top reasons and the first reject (by
/// file, row and column) are added to the as_of explanation (rows after
/// as_of may be the real cause, so it is kept).
pub fn no_orders_error(
    rejects: &[Reject],
    files: &[InputFile],
    read: u64,
    no_orders: crate::error::Error,
) -> crate::error::Error {
    let Some(first) = rejects.iter().min_by_key(|r| (r.file, r.row)) else {
        return no_orders;
    };
    crate::error::Error::input(
        &files[first.file as usize].path,
        format!(
            "{no_orders}: {} of {read} rows rejected (reject ratio {:.4}); top reasons: {}; first: {}",
            rejects.len(),
            rejects.len() as f64 / read.max(1) as f64,
            top_reasons(rejects),
            first_reject(rejects, files, "")
        ),
    )
}

/// The first reject by file and row, e.g. "`orders.csv` row 3:
/// invalid_amount in column `amount`".
fn first_reject(rejects: &[Reject], files: &[InputFile], file_label: &str) -> String {
    rejects
        .iter()
        .min_by_key(|r| (r.file, r.row))
        .map(|r| {
            format!(
                "{file_label}`{}` row {}: {}{}",
                files[r.file as usize].path.display(),
                r.row,
                r.reason.as_str(),
                r.column
                    .as_ref()
                    .map(|c| format!(" in column `{c}`"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// The three most frequent reasons with their counts.
fn top_reasons(rejects: &[Reject]) -> String {
    counts_by_reason(rejects)
        .iter()
        .take(3)
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(file: u32, row: u32, raw: Option<&str>) -> Reject {
        Reject {
            file,
            row,
            reason: RejectReason::OrderHasBadLine,
            column: None,
            value: None,
            raw: raw.map(str::to_string),
        }
    }

    #[test]
    fn rows_missing_raw_by_file_and_row() {
        let rejects = [
            reject(1, 7, None),
            reject(0, 9, None),
            reject(1, 3, None),
            reject(0, 2, Some("{}")),
            reject(0, 4, None),
        ];
        assert_eq!(
            rows_missing_raw(&rejects),
            [(0, vec![4, 9]), (1, vec![3, 7])]
        );
        assert!(rows_missing_raw(&[reject(0, 1, Some("{}"))]).is_empty());
    }
}
