//! Orders: typed lines → orders and refunds per customer (SPEC §3).
//!
//! Steps, in this order: drop exact duplicate lines (only with an order id:
//! same order id and identical line content); reject every line of an order
//! with a bad line, or whose lines name different customers, or whose total
//! is out of range (`amount_out_of_range`, see `expr::MAX_AMOUNT_CENTS`);
//! sum lines into orders (timestamp and date of the earliest line); fix
//! as_of (the latest order date unless given; refunds do not count);
//! exclude orders after as_of; reject refunds without an earlier order;
//! fail the run when the accepted amounts are too large in total for i64
//! cents (see [`MAX_ACCEPTED_VOLUME_CENTS`]), so no later sum can wrap.
//!
//! Output grain: [`OrderHistory`], one entry per order or refund, grouped by
//! customer (customers in ascending id order) and sorted by date within a
//! customer. Every downstream table is derived from it.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::expr::{amount_in_range, cents_text};
use crate::stages::rejects::{Reject, RejectReason};
use crate::stages::validate::{CodeVec, LineStatus, Lines, NO_CODE};
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
    /// The configured dimensions (`[columns] dimensions`), each with every
    /// customer's value; empty without dimensions.
    pub dimensions: Vec<CustomerDimension>,
}

/// One dimension column and the value of each customer: the value on their
/// first order (see [`build_orders`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerDimension {
    /// The column's name, which is also its column name in the sliced tables.
    pub name: String,
    /// The distinct values seen in the column, sorted (byte order).
    pub values: Vec<String>,
    /// Per customer (history order), the index of their value in `values`,
    /// or [`NO_CODE`] when the value is missing (null or blank).
    pub customer: Vec<u32>,
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

/// Orders (and refunds) assembled from their lines, one entry per order,
/// as parallel vectors (compact: 32 bytes an order).
#[derive(Default)]
struct Orders {
    /// Customer code; [`NO_CODE`] once the order is set aside (after
    /// as_of, or a rejected refund).
    customer: Vec<u32>,
    day: Vec<i32>,
    ts_micros: Vec<i64>,
    cents: Vec<i64>,
    /// Index of the order's first line in input order: the last tie-break.
    first_line: Vec<u32>,
    /// Where the order's lines start in the kept-line list; they end where
    /// the next order's start.
    kept_start: Vec<u32>,
    /// Per dimension, the order's value code (see [`build_orders`]).
    dimensions: Vec<CodeVec>,
}

impl Orders {
    fn len(&self) -> usize {
        self.customer.len()
    }
}

/// Builds orders from validated lines.
///
/// Dimensions (`[columns] dimensions`): an order's value is that of its
/// earliest line (by timestamp, the line that dates the order); when
/// several lines share that timestamp, the smallest of their non-missing
/// values (byte order), missing only when all of them are null or blank. A
/// customer's value is that of their first order (refunds are not orders):
/// the earliest by (date, timestamp), so the first order of
/// [`OrderHistory`]; when several orders share that instant, again the
/// smallest non-missing value. Ties go by value, never by row position, so
/// the result does not depend on input row order. `rejects` gains the order-level
/// rejects (raw records still to fill in) and loses the row rejects of
/// lines dropped as duplicates. `order_id_column` names the mapped
/// order-id column, if any. Takes the lines by value to free each part as
/// soon as it is used: at 100 million orders memory is the constraint.
pub fn build_orders(
    mut lines: Lines,
    rejects: &mut Vec<Reject>,
    order_id_column: Option<&str>,
    as_of: Option<i32>,
) -> Result<OrdersOutput> {
    let has_order_id = order_id_column.is_some();
    let mut counts = RowCounts {
        rows_read: lines.len() as u64,
        ..Default::default()
    };
    counts.excluded_by_filter = lines
        .status
        .par_iter()
        .filter(|s| **s == LineStatus::Filtered)
        .count() as u64;

    // Lines of one order next to each other, in line order, which is
    // (file, row) order: a counting sort on the dense order codes, linear in
    // the lines and 8 bytes a line (a comparison sort of (order, hash, line)
    // keys took 16 bytes a line and most of this stage at 100 M lines). Lines
    // without an order id (rejected) belong to no order and are left out.
    // Without an order-id mapping every line is its own order.
    let mut slots: Vec<u32>;
    let group_ends: Option<Vec<u32>> = if has_order_id {
        let codes = lines
            .order
            .par_iter()
            .filter(|&&c| c != NO_CODE)
            .max()
            .map_or(0, |&c| c as usize + 1);
        // ends[c] starts as the start of group c and, after the scatter, is
        // its end (the start of group c + 1).
        let mut ends = vec![0u32; codes + 1];
        for (i, &code) in lines.order.iter().enumerate() {
            if code != NO_CODE && lines.status[i] != LineStatus::Filtered {
                ends[code as usize + 1] += 1;
            }
        }
        for c in 1..ends.len() {
            ends[c] += ends[c - 1];
        }
        slots = vec![0; ends[codes] as usize];
        for (i, &code) in lines.order.iter().enumerate() {
            if code != NO_CODE && lines.status[i] != LineStatus::Filtered {
                slots[ends[code as usize] as usize] = i as u32;
                ends[code as usize] += 1;
            }
        }
        ends.pop();
        Some(ends)
    } else {
        slots = (0..lines.len() as u32)
            .filter(|&i| lines.status[i as usize] != LineStatus::Filtered)
            .collect();
        None
    };
    lines.order = Vec::new();

    let mut duplicate_rows: HashSet<(u32, u32)> = HashSet::new();
    let mut kept: Vec<u32> = Vec::with_capacity(slots.len());
    let mut orders = Orders {
        dimensions: lines
            .dimensions
            .iter()
            .map(|_| CodeVec::default())
            .collect(),
        ..Default::default()
    };
    let groups = group_ends.as_ref().map_or(slots.len(), Vec::len);
    for g in 0..groups {
        let (start, end) = match &group_ends {
            Some(ends) => (
                if g == 0 { 0 } else { ends[g - 1] as usize },
                ends[g] as usize,
            ),
            None => (g, g + 1),
        };
        if start == end {
            continue; // every line of this order was filtered out
        }
        // Equal lines next to each other: by line hash, then line order.
        if end - start > 1 {
            slots[start..end].sort_unstable_by_key(|&i| (lines.line_hash[i as usize], i));
        }
        // Drop exact duplicates: same order and same line hash, keep the
        // first by (file, row).
        let group_start = kept.len();
        for k in start..end {
            let i = slots[k] as usize;
            let is_duplicate =
                k > start && lines.line_hash[i] == lines.line_hash[slots[k - 1] as usize];
            if is_duplicate {
                counts.duplicates += 1;
                if lines.status[i] == LineStatus::Rejected {
                    duplicate_rows.insert(lines.source(i));
                }
            } else {
                kept.push(i as u32);
            }
        }
        let group = &kept[group_start..];
        let any_bad = group
            .iter()
            .any(|&i| lines.status[i as usize] == LineStatus::Rejected);
        let first_customer = lines.customer[group[0] as usize];
        let customers_differ = !any_bad
            && group
                .iter()
                .any(|&i| lines.customer[i as usize] != first_customer);
        // Summed in i128: up to 2^32 lines of at most MAX_AMOUNT_CENTS each
        // cannot overflow it, so an order total never wraps.
        let total: i128 = group.iter().map(|&i| lines.cents[i as usize] as i128).sum();
        let problem = if any_bad {
            // The value (the order id) is filled in from the raw row.
            Some((RejectReason::OrderHasBadLine, order_id_column, None))
        } else if customers_differ {
            Some((RejectReason::ConflictingCustomerId, order_id_column, None))
        } else if !amount_in_range(total) {
            // Like a refund's reject, the value is the order total.
            Some((
                RejectReason::AmountOutOfRange,
                None,
                Some(cents_text(total)),
            ))
        } else {
            None
        };
        if let Some((reason, column, value)) = problem {
            for &i in group {
                if lines.status[i as usize] == LineStatus::Valid {
                    lines.status[i as usize] = LineStatus::Rejected;
                    let (file, row) = lines.source(i as usize);
                    rejects.push(Reject {
                        file,
                        row,
                        reason,
                        column: column.map(str::to_string),
                        value: value.clone(),
                        raw: None,
                    });
                }
            }
            // Only accepted orders' lines stay listed: an order's lines end
            // where the next one's start.
            kept.truncate(group_start);
        } else {
            // The earliest line dates the order; ties keep the earlier day.
            let earliest = *group
                .iter()
                .min_by_key(|&&i| (lines.ts_micros[i as usize], lines.day[i as usize]))
                .expect("an order has lines") as usize;
            orders.customer.push(first_customer);
            orders.day.push(lines.day[earliest]);
            orders.ts_micros.push(lines.ts_micros[earliest]);
            // In range: checked above.
            orders.cents.push(total as i64);
            // The order's first line in input order (the group is sorted by
            // line hash): the last tie-break between orders.
            orders
                .first_line
                .push(*group.iter().min().expect("an order has lines"));
            orders.kept_start.push(group_start as u32);
            let dates = |i: usize| (lines.ts_micros[i], lines.day[i]);
            for (codes, line_codes) in orders.dimensions.iter_mut().zip(&lines.dimensions) {
                // NO_CODE is the largest code: a value beats a blank.
                let code = group
                    .iter()
                    .map(|&i| i as usize)
                    .filter(|&i| dates(i) == dates(earliest))
                    .map(|i| line_codes.get(i))
                    .min()
                    .unwrap_or(NO_CODE);
                codes.push(code);
            }
        }
    }
    drop(slots);
    // What is left of the lines: where they came from, and the ids. The
    // per-line vectors are freed here, before the customer grouping below
    // allocates (at 100 M lines they are gigabytes).
    let Lines {
        file_starts,
        customer_values,
        dimension_names,
        dimension_values,
        status,
        customer,
        order,
        ts_micros,
        day,
        cents,
        line_hash,
        dimensions,
    } = lines;
    drop((
        status, customer, order, ts_micros, day, cents, line_hash, dimensions,
    ));
    let source = |i: u32| {
        let i = i as usize;
        let file = file_starts.partition_point(|&start| start <= i) - 1;
        (file as u32, (i - file_starts[file] + 1) as u32)
    };
    if !duplicate_rows.is_empty() {
        rejects.retain(|r| !duplicate_rows.contains(&(r.file, r.row)));
    }

    let latest_order_day = (0..orders.len())
        .filter(|&o| orders.cents[o] >= 0)
        .map(|o| orders.day[o])
        .max();
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

    // First order date per customer code, over orders on or before as_of.
    let mut first_order: Vec<i32> = vec![i32::MAX; customer_values.len()];
    for o in 0..orders.len() {
        if orders.cents[o] >= 0 && orders.day[o] <= as_of {
            let c = orders.customer[o] as usize;
            first_order[c] = first_order[c].min(orders.day[o]);
        }
    }

    // Each customer's dimension values: those of the first order by (date,
    // timestamp), ties to the smallest code (NO_CODE is the largest).
    let mut first_dimensions: Vec<Vec<u32>> = Vec::new();
    if !orders.dimensions.is_empty() {
        first_dimensions = vec![vec![NO_CODE; customer_values.len()]; orders.dimensions.len()];
        let mut first_instant: Vec<(i32, i64)> = vec![(i32::MAX, i64::MAX); customer_values.len()];
        for o in 0..orders.len() {
            if orders.cents[o] < 0 || orders.day[o] > as_of {
                continue;
            }
            let c = orders.customer[o] as usize;
            let instant = (orders.day[o], orders.ts_micros[o]);
            if instant < first_instant[c] {
                first_instant[c] = instant;
                for (d, codes) in orders.dimensions.iter().enumerate() {
                    first_dimensions[d][c] = codes.get(o);
                }
            } else if instant == first_instant[c] {
                for (d, codes) in orders.dimensions.iter().enumerate() {
                    first_dimensions[d][c] = first_dimensions[d][c].min(codes.get(o));
                }
            }
        }
        orders.dimensions = Vec::new();
    }

    // Set aside orders after as_of and rejected refunds; count the rest
    // per customer.
    let mut per_customer: Vec<usize> = vec![0; customer_values.len() + 1];
    for o in 0..orders.len() {
        let lines_of = orders.kept_start[o] as usize
            ..orders
                .kept_start
                .get(o + 1)
                .map_or(kept.len(), |&s| s as usize);
        let n_lines = lines_of.len() as u64;
        if orders.day[o] > as_of {
            counts.excluded_after_as_of += n_lines;
            orders.customer[o] = NO_CODE;
            continue;
        }
        if orders.cents[o] < 0 {
            let reason = match first_order[orders.customer[o] as usize] {
                i32::MAX => Some(RejectReason::RefundWithoutOrder),
                first if orders.day[o] < first => Some(RejectReason::RefundBeforeFirstOrder),
                _ => None,
            };
            if let Some(reason) = reason {
                for &i in &kept[lines_of] {
                    let (file, row) = source(i);
                    rejects.push(Reject {
                        file,
                        row,
                        reason,
                        column: None,
                        value: Some(format!("{:.2}", orders.cents[o] as f64 / 100.0)),
                        raw: None,
                    });
                }
                orders.customer[o] = NO_CODE;
                continue;
            }
        }
        counts.accepted += n_lines;
        per_customer[orders.customer[o] as usize + 1] += 1;
    }
    counts.rejected = rejects.len() as u64;
    drop(kept);

    // Group by customer code (code order is id order) with a counting
    // sort, then order each customer's entries by date, timestamp and first
    // line, so the history is the same whatever the thread count.
    for c in 1..per_customer.len() {
        per_customer[c] += per_customer[c - 1];
    }
    let starts = per_customer;
    let accepted = *starts.last().expect("at least one entry");
    if accepted == 0 {
        return Err(Error::NoOrders {
            as_of: date_of(as_of).to_string(),
            rows_read: counts.rows_read,
        });
    }
    let mut slots: Vec<u32> = vec![0; accepted];
    let mut cursor = starts.clone();
    for o in 0..orders.len() {
        let c = orders.customer[o];
        if c != NO_CODE {
            slots[cursor[c as usize]] = o as u32;
            cursor[c as usize] += 1;
        }
    }
    drop(cursor);
    slots
        .par_chunk_by_mut(|&a, &b| orders.customer[a as usize] == orders.customer[b as usize])
        .for_each(|entries| {
            entries.sort_unstable_by_key(|&o| {
                let o = o as usize;
                (orders.day[o], orders.ts_micros[o], orders.first_line[o])
            })
        });

    let mut history = OrderHistory {
        as_of,
        day: slots.par_iter().map(|&o| orders.day[o as usize]).collect(),
        cents: slots
            .par_iter()
            .map(|&o| orders.cents[o as usize])
            .collect(),
        ..Default::default()
    };
    drop(slots);
    history.dimensions = dimension_names
        .into_iter()
        .zip(dimension_values)
        .map(|(name, values)| CustomerDimension {
            name,
            values,
            customer: Vec::new(),
        })
        .collect();
    for (c, id) in customer_values.into_iter().enumerate() {
        if starts[c + 1] > starts[c] {
            history.customer_ids.push(id);
            history.offsets.push(starts[c]);
            for (dimension, first) in history.dimensions.iter_mut().zip(&first_dimensions) {
                dimension.customer.push(first[c]);
            }
        }
    }
    history.offsets.push(accepted);
    let accepted_cents = accepted_amount(&history.cents)?;
    Ok(OrdersOutput {
        history,
        counts,
        accepted_cents,
    })
}

/// The largest Σ |cents| of a run's accepted orders and refunds: i64's.
///
/// Why this bound makes every money sum safe: every sum the later stages
/// take (a customer's revenue or repeat spend, a trailing-12-month window,
/// a cohort cell and its running total, a month of `kpis_monthly`, a
/// segment, a dimension value's slice and the sum over a dimension's
/// values, the reconciliation totals, the CLV inputs) adds up each accepted
/// entry at most once, so it and each of its partial sums is at most
/// Σ |cents| in magnitude, and fits i64 when that does, in any order and
/// however the work is split between threads.
pub const MAX_ACCEPTED_VOLUME_CENTS: i128 = i64::MAX as i128;

/// Σ cents of the accepted orders and refunds, after checking that their
/// Σ |cents| is at most [`MAX_ACCEPTED_VOLUME_CENTS`] (see there); fails the
/// run otherwise, rather than publish a wrapped sum.
fn accepted_amount(cents: &[i64]) -> Result<i64> {
    // i128: at most 2^32 entries of at most MAX_AMOUNT_CENTS each. One
    // pass gives Σ |cents| and Σ cents together.
    let (volume, total) = cents
        .par_iter()
        .map(|&c| ((c as i128).abs(), c as i128))
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if volume > MAX_ACCEPTED_VOLUME_CENTS {
        return Err(Error::AmountsOutOfRange {
            volume: cents_text(volume),
            limit: cents_text(MAX_ACCEPTED_VOLUME_CENTS),
        });
    }
    // |total| ≤ volume, checked above.
    Ok(total as i64)
}
