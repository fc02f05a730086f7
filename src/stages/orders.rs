//! Orders: typed lines → orders and refunds per customer (SPEC §3).
//!
//! Steps, in this order: drop exact duplicate lines (only with an order id:
//! same order id and identical line content); reject every line of an order
//! with a bad line, or whose lines name different customers; sum lines into
//! orders (timestamp and date of the earliest line); fix as_of (the latest
//! order date unless given; refunds do not count); exclude orders after
//! as_of; reject refunds without an earlier order.
//!
//! Output grain: [`OrderHistory`], one entry per order or refund, grouped by
//! customer (customers in ascending id order) and sorted by date within a
//! customer. Every downstream table is derived from it.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::stages::rejects::{Reject, RejectReason};
use crate::stages::validate::{LineStatus, Lines, NO_CODE};
use crate::time::date_of;

/// Orders and refunds on or before as_of, grouped by customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderHistory {
    /// Customer ids in ascending order; a customer's index is its code.
    pub customer_ids: Vec<String>,
    /// Customer `c` owns entries `offsets[c]..offsets[c + 1]`.
    pub offsets: Vec<usize>,
    /// Local business date (days since 1970-01-01) of each order.
    pub day: Vec<i32>,
    /// Order total in cents; negative for a refund.
    pub cents: Vec<i64>,
    /// The last date counted (inclusive).
    pub as_of: i32,
}

impl OrderHistory {
    pub fn customers(&self) -> usize {
        self.customer_ids.len()
    }

    /// The entries of customer `c`: (days, cents).
    pub fn of(&self, c: usize) -> (&[i32], &[i64]) {
        let range = self.offsets[c]..self.offsets[c + 1];
        (&self.day[range.clone()], &self.cents[range])
    }
}

/// How every row read was accounted for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RowCounts {
    pub rows_read: u64,
    /// Rows that became part of an order or refund on or before as_of.
    pub accepted: u64,
    pub rejected: u64,
    /// Rows excluded by a configured filter.
    pub excluded_by_filter: u64,
    /// Rows of orders dated after as_of.
    pub excluded_after_as_of: u64,
    /// Exact duplicate lines dropped (each kept once).
    pub duplicates: u64,
}

impl RowCounts {
    pub fn excluded(&self) -> u64 {
        self.excluded_by_filter + self.excluded_after_as_of
    }
}

/// The orders stage's result.
#[derive(Debug)]
pub struct OrdersOutput {
    pub history: OrderHistory,
    pub counts: RowCounts,
    /// Σ cents of every accepted order and refund.
    pub accepted_cents: i64,
}

/// One order (or refund) assembled from its lines.
struct Order {
    /// Index of a line of the order (for the customer id).
    first_line: usize,
    ts_micros: i64,
    day: i32,
    cents: i64,
    /// Positions of its lines in the sorted line index.
    lines: std::ops::Range<usize>,
}

/// Builds orders from validated lines. `rejects` gains the order-level
/// rejects and loses the row rejects of lines dropped as duplicates.
/// `order_id_column` names the mapped order-id column, if any.
pub fn build_orders(
    lines: &Lines,
    rejects: &mut Vec<Reject>,
    order_id_column: Option<&str>,
    as_of: Option<i32>,
) -> Result<OrdersOutput> {
    let has_order_id = order_id_column.is_some();
    let mut counts = RowCounts {
        rows_read: lines.len() as u64,
        ..Default::default()
    };
    let mut status = lines.status.clone();
    counts.excluded_by_filter = status
        .iter()
        .filter(|s| **s == LineStatus::Filtered)
        .count() as u64;

    // Lines of one order next to each other; equal lines next to each other.
    let mut idx: Vec<usize> = (0..lines.len())
        .filter(|&i| status[i] != LineStatus::Filtered)
        .collect();
    if has_order_id {
        // Sort contiguous keys rather than indices with looked-up keys (far
        // fewer cache misses). Line index order is (file, row) order.
        let mut keys: Vec<(u32, u64, u32)> = idx
            .iter()
            .map(|&i| (lines.order[i], lines.line_hash[i], i as u32))
            .collect();
        keys.par_sort_unstable();
        idx = keys.into_iter().map(|k| k.2 as usize).collect();
    }

    let mut duplicate_rows: HashSet<(u32, u32)> = HashSet::new();
    let mut kept: Vec<usize> = Vec::with_capacity(idx.len());
    let mut orders: Vec<Order> = Vec::new();
    let mut start = 0;
    while start < idx.len() {
        let mut end = start + 1;
        // Lines without an order id (rejected) are never grouped with, or
        // taken for duplicates of, one another.
        let keyed = has_order_id && lines.order[idx[start]] != NO_CODE;
        if keyed {
            while end < idx.len() && lines.order[idx[end]] == lines.order[idx[start]] {
                end += 1;
            }
        }
        // Drop exact duplicates: same order and same line hash, keep the
        // first by (file, row).
        let group_start = kept.len();
        for k in start..end {
            let i = idx[k];
            let is_duplicate =
                keyed && k > start && lines.line_hash[i] == lines.line_hash[idx[k - 1]];
            if is_duplicate {
                counts.duplicates += 1;
                if status[i] == LineStatus::Rejected {
                    duplicate_rows.insert((lines.file[i], lines.row[i]));
                }
            } else {
                kept.push(i);
            }
        }
        let group = &kept[group_start..];
        let any_bad = group.iter().any(|&i| status[i] == LineStatus::Rejected);
        let customers_differ = !any_bad
            && group
                .iter()
                .any(|&i| lines.customer[i] != lines.customer[group[0]]);
        if any_bad || customers_differ {
            let reason = if any_bad {
                RejectReason::OrderHasBadLine
            } else {
                RejectReason::ConflictingCustomerId
            };
            for &i in group {
                if status[i] == LineStatus::Valid {
                    status[i] = LineStatus::Rejected;
                    // The value (the order id) is filled in from the raw row.
                    rejects.push(Reject {
                        file: lines.file[i],
                        row: lines.row[i],
                        reason,
                        column: order_id_column.map(str::to_string),
                        value: None,
                    });
                }
            }
        } else {
            // The earliest line dates the order; ties keep the earlier day.
            let earliest = *group
                .iter()
                .min_by_key(|&&i| (lines.ts_micros[i], lines.day[i]))
                .expect("an order has lines");
            orders.push(Order {
                first_line: group[0],
                ts_micros: lines.ts_micros[earliest],
                day: lines.day[earliest],
                cents: group.iter().map(|&i| lines.cents[i]).sum(),
                lines: group_start..kept.len(),
            });
        }
        start = end;
    }
    if !duplicate_rows.is_empty() {
        rejects.retain(|r| !duplicate_rows.contains(&(r.file, r.row)));
    }

    let latest_order_day = orders.iter().filter(|o| o.cents >= 0).map(|o| o.day).max();
    let as_of = match (as_of, latest_order_day) {
        (Some(day), _) => day,
        (None, Some(day)) => day,
        (None, None) => {
            return Err(Error::NoOrders {
                as_of: "(none: the input has no valid order)".into(),
                rows_read: counts.rows_read,
            })
        }
    };

    let customer_of = |o: &Order| lines.customer[o.first_line];
    // First order date per customer code, over orders on or before as_of.
    let mut first_order: Vec<i32> = vec![i32::MAX; lines.customer_values.len()];
    for o in orders.iter().filter(|o| o.cents >= 0 && o.day <= as_of) {
        let c = customer_of(o) as usize;
        first_order[c] = first_order[c].min(o.day);
    }

    let mut accepted: Vec<&Order> = Vec::with_capacity(orders.len());
    for o in &orders {
        let n_lines = o.lines.len() as u64;
        if o.day > as_of {
            counts.excluded_after_as_of += n_lines;
            continue;
        }
        if o.cents < 0 {
            let reason = match first_order[customer_of(o) as usize] {
                i32::MAX => Some(RejectReason::RefundWithoutOrder),
                first if o.day < first => Some(RejectReason::RefundBeforeFirstOrder),
                _ => None,
            };
            if let Some(reason) = reason {
                for &i in &kept[o.lines.clone()] {
                    rejects.push(Reject {
                        file: lines.file[i],
                        row: lines.row[i],
                        reason,
                        column: None,
                        value: Some(format!("{:.2}", o.cents as f64 / 100.0)),
                    });
                }
                continue;
            }
        }
        counts.accepted += n_lines;
        accepted.push(o);
    }
    counts.rejected = rejects.len() as u64;

    if accepted.is_empty() {
        return Err(Error::NoOrders {
            as_of: date_of(as_of).to_string(),
            rows_read: counts.rows_read,
        });
    }

    // Group by customer id (ascending), then date, timestamp and first line
    // position, so the history is the same whatever the thread count.
    let mut keys: Vec<(u32, i32, i64, u32, u32)> = accepted
        .iter()
        .enumerate()
        .map(|(k, o)| {
            (
                customer_of(o),
                o.day,
                o.ts_micros,
                o.first_line as u32,
                k as u32,
            )
        })
        .collect();
    keys.par_sort_unstable();
    let accepted: Vec<&Order> = keys.iter().map(|k| accepted[k.4 as usize]).collect();
    let mut history = OrderHistory {
        as_of,
        day: Vec::with_capacity(accepted.len()),
        cents: Vec::with_capacity(accepted.len()),
        ..Default::default()
    };
    let mut accepted_cents = 0i64;
    for (k, o) in accepted.iter().enumerate() {
        if k == 0 || customer_of(o) != customer_of(accepted[k - 1]) {
            let code = customer_of(o);
            debug_assert_ne!(code, NO_CODE);
            history
                .customer_ids
                .push(lines.customer_values[code as usize].clone());
            history.offsets.push(k);
        }
        history.day.push(o.day);
        history.cents.push(o.cents);
        accepted_cents += o.cents;
    }
    history.offsets.push(accepted.len());
    Ok(OrdersOutput {
        history,
        counts,
        accepted_cents,
    })
}
