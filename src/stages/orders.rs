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
use crate::stages::validate::{line_source, CodeVec, LineStatus, Lines, NO_CODE};
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

    /// A history for stage tests, from plain (customer id, day, cents)
    /// entries in any order: customers in ascending id order, each one's
    /// entries by date (entries of one day keep their order); no
    /// dimensions (set `dimensions` on the result when a test needs them).
    #[cfg(any(test, feature = "failpoints"))]
    pub fn from_rows(as_of: i32, rows: &[(&str, i32, i64)]) -> OrderHistory {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|&(customer, day, _)| (customer, day));
        let mut history = OrderHistory {
            as_of,
            ..Default::default()
        };
        for (i, &(customer, day, cents)) in rows.iter().enumerate() {
            if i == 0 || rows[i - 1].0 != customer {
                history.customer_ids.push(customer.to_string());
                history.offsets.push(i);
            }
            history.day.push(day);
            history.cents.push(cents);
        }
        history.offsets.push(rows.len());
        history
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
    let mut counts = RowCounts {
        rows_read: lines.len() as u64,
        excluded_by_filter: lines
            .status
            .par_iter()
            .filter(|s| **s == LineStatus::Filtered)
            .count() as u64,
        ..Default::default()
    };
    let (mut slots, group_ends) = group_lines_by_order(&lines, order_id_column.is_some());
    lines.order = Vec::new();
    let Assembled {
        mut orders,
        kept,
        duplicate_rows,
    } = assemble_orders(
        &mut lines,
        &mut slots,
        group_ends.as_deref(),
        order_id_column,
        rejects,
        &mut counts,
    );
    drop((slots, group_ends));
    let keys = LineKeys::of(lines);
    if !duplicate_rows.is_empty() {
        rejects.retain(|r| !duplicate_rows.contains(&(r.file, r.row)));
    }

    let as_of = resolve_as_of(&orders, as_of, counts.rows_read)?;
    let customers = keys.customer_values.len();
    let first_order = first_order_days(&orders, as_of, customers);
    let first_dimensions = first_dimensions(&orders, as_of, customers);
    orders.dimensions = Vec::new();
    let per_customer = set_aside(
        &mut orders,
        &kept,
        as_of,
        &first_order,
        &keys.file_starts,
        rejects,
        &mut counts,
    );
    counts.rejected = rejects.len() as u64;
    drop(kept);

    let (slots, starts) = group_by_customer(&orders, per_customer, as_of, counts.rows_read)?;
    let history = history_of(&orders, slots, &starts, as_of, keys, &first_dimensions);
    let accepted_cents = accepted_amount(&history.cents)?;
    Ok(OrdersOutput {
        history,
        counts,
        accepted_cents,
    })
}

/// Lines of one order next to each other, in line order, which is
/// (file, row) order: a counting sort on the dense order codes, linear in
/// the lines and 8 bytes a line (a comparison sort of (order, hash, line)
/// keys took 16 bytes a line and most of this stage at 100 M lines). Lines
/// without an order id (rejected) belong to no order and are left out;
/// so are filtered lines. Without an order-id mapping every line is its
/// own order. Returns the line indices (slots) and, with an order id, the
/// end of each order's slots.
fn group_lines_by_order(lines: &Lines, has_order_id: bool) -> (Vec<u32>, Option<Vec<u32>>) {
    if !has_order_id {
        let slots = (0..lines.len() as u32)
            .filter(|&i| lines.status[i as usize] != LineStatus::Filtered)
            .collect();
        return (slots, None);
    }
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
    let mut slots = vec![0; ends[codes] as usize];
    for (i, &code) in lines.order.iter().enumerate() {
        if code != NO_CODE && lines.status[i] != LineStatus::Filtered {
            slots[ends[code as usize] as usize] = i as u32;
            ends[code as usize] += 1;
        }
    }
    ends.pop();
    (slots, Some(ends))
}

/// The orders assembled from their lines, with what they leave behind.
struct Assembled {
    orders: Orders,
    /// The lines of the accepted orders, order by order (see
    /// [`Orders::kept_start`]).
    kept: Vec<u32>,
    /// (file, row) of the rejected lines dropped as duplicates: their row
    /// rejects are withdrawn.
    duplicate_rows: HashSet<(u32, u32)>,
}

/// Why an order is rejected: the reason, the column named in its rejects
/// and the value shown (`None`: filled in from the raw row).
type OrderProblem<'a> = (RejectReason, Option<&'a str>, Option<String>);

/// Each order's distinct lines, checked: an accepted order is summed into
/// `Orders`; every line of a rejected one becomes a reject (`rejects`) and
/// its status `Rejected`. `group_ends` as from [`group_lines_by_order`].
fn assemble_orders(
    lines: &mut Lines,
    slots: &mut [u32],
    group_ends: Option<&[u32]>,
    order_id_column: Option<&str>,
    rejects: &mut Vec<Reject>,
    counts: &mut RowCounts,
) -> Assembled {
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
    let groups = group_ends.map_or(slots.len(), <[u32]>::len);
    for g in 0..groups {
        let (start, end) = match group_ends {
            Some(ends) => (
                if g == 0 { 0 } else { ends[g - 1] as usize },
                ends[g] as usize,
            ),
            None => (g, g + 1),
        };
        if start == end {
            continue; // every line of this order was filtered out
        }
        let group_start = kept.len();
        let group = &mut slots[start..end];
        keep_distinct_lines(lines, group, &mut kept, &mut duplicate_rows, counts);
        let group = &kept[group_start..];
        match check_order(lines, group, order_id_column) {
            Ok(total) => orders.push(lines, group, group_start, total),
            Err(problem) => {
                reject_order_lines(lines, group, problem, rejects);
                // Only accepted orders' lines stay listed: an order's lines
                // end where the next one's start.
                kept.truncate(group_start);
            }
        }
    }
    Assembled {
        orders,
        kept,
        duplicate_rows,
    }
}

/// Appends one order's lines to `kept`, less exact duplicates: same order
/// and same line hash, keeping the first by (file, row). A dropped line's
/// row reject, if any, is withdrawn (`duplicate_rows`).
fn keep_distinct_lines(
    lines: &Lines,
    group: &mut [u32],
    kept: &mut Vec<u32>,
    duplicate_rows: &mut HashSet<(u32, u32)>,
    counts: &mut RowCounts,
) {
    // Equal lines next to each other: by line hash, then line order.
    if group.len() > 1 {
        group.sort_unstable_by_key(|&i| (lines.line_hash[i as usize], i));
    }
    for k in 0..group.len() {
        let i = group[k] as usize;
        let is_duplicate = k > 0 && lines.line_hash[i] == lines.line_hash[group[k - 1] as usize];
        if is_duplicate {
            counts.duplicates += 1;
            if lines.status[i] == LineStatus::Rejected {
                duplicate_rows.insert(lines.source(i));
            }
        } else {
            kept.push(i as u32);
        }
    }
}

/// The order total of one order's (distinct) lines, or why the order is
/// rejected: a bad line, lines naming different customers, a total out of
/// range (in that order of precedence).
fn check_order<'a>(
    lines: &Lines,
    group: &[u32],
    order_id_column: Option<&'a str>,
) -> std::result::Result<i128, OrderProblem<'a>> {
    let any_bad = group
        .iter()
        .any(|&i| lines.status[i as usize] == LineStatus::Rejected);
    if any_bad {
        // The value (the order id) is filled in from the raw row.
        return Err((RejectReason::OrderHasBadLine, order_id_column, None));
    }
    let first_customer = lines.customer[group[0] as usize];
    if group
        .iter()
        .any(|&i| lines.customer[i as usize] != first_customer)
    {
        return Err((RejectReason::ConflictingCustomerId, order_id_column, None));
    }
    // Summed in i128: up to 2^32 lines of at most MAX_AMOUNT_CENTS each
    // cannot overflow it, so an order total never wraps.
    let total: i128 = group.iter().map(|&i| lines.cents[i as usize] as i128).sum();
    if !amount_in_range(total) {
        // Like a refund's reject, the value is the order total.
        return Err((
            RejectReason::AmountOutOfRange,
            None,
            Some(cents_text(total)),
        ));
    }
    Ok(total)
}

/// Rejects every line of a rejected order that was not rejected already.
fn reject_order_lines(
    lines: &mut Lines,
    group: &[u32],
    (reason, column, value): OrderProblem,
    rejects: &mut Vec<Reject>,
) {
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
}

impl Orders {
    /// Appends the accepted order made of `group` (its lines, listed in
    /// the kept lines from `kept_start`) with its `total` (in range).
    fn push(&mut self, lines: &Lines, group: &[u32], kept_start: usize, total: i128) {
        // The earliest line dates the order; ties keep the earlier day.
        let earliest = *group
            .iter()
            .min_by_key(|&&i| (lines.ts_micros[i as usize], lines.day[i as usize]))
            .expect("an order has lines") as usize;
        self.customer.push(lines.customer[group[0] as usize]);
        self.day.push(lines.day[earliest]);
        self.ts_micros.push(lines.ts_micros[earliest]);
        // In range: checked by `check_order`.
        self.cents.push(total as i64);
        // The order's first line in input order (the group is sorted by
        // line hash): the last tie-break between orders.
        self.first_line
            .push(*group.iter().min().expect("an order has lines"));
        self.kept_start.push(kept_start as u32);
        let dates = |i: usize| (lines.ts_micros[i], lines.day[i]);
        for (codes, line_codes) in self.dimensions.iter_mut().zip(&lines.dimensions) {
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

/// What is left of the lines once orders are assembled: where they came
/// from, and the ids.
struct LineKeys {
    file_starts: Vec<usize>,
    customer_values: Vec<String>,
    dimension_names: Vec<String>,
    dimension_values: Vec<Vec<String>>,
}

impl LineKeys {
    /// The per-line vectors are freed here, before the customer grouping
    /// allocates (at 100 M lines they are gigabytes).
    fn of(lines: Lines) -> LineKeys {
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
        LineKeys {
            file_starts,
            customer_values,
            dimension_names,
            dimension_values,
        }
    }
}

/// as_of as given, else the latest order date (refunds do not count); no
/// order at all fails the run.
fn resolve_as_of(orders: &Orders, as_of: Option<i32>, rows_read: u64) -> Result<i32> {
    let latest_order_day = (0..orders.len())
        .filter(|&o| orders.cents[o] >= 0)
        .map(|o| orders.day[o])
        .max();
    match (as_of, latest_order_day) {
        (Some(day), _) => Ok(day),
        (None, Some(day)) => Ok(day),
        (None, None) => Err(Error::NoOrders {
            as_of: "(none: the input has no valid order)".into(),
            rows_read,
        }),
    }
}

/// First order date per customer code, over orders on or before as_of;
/// `i32::MAX` for a customer without one.
fn first_order_days(orders: &Orders, as_of: i32, customers: usize) -> Vec<i32> {
    let mut first_order: Vec<i32> = vec![i32::MAX; customers];
    for o in 0..orders.len() {
        if orders.cents[o] >= 0 && orders.day[o] <= as_of {
            let c = orders.customer[o] as usize;
            first_order[c] = first_order[c].min(orders.day[o]);
        }
    }
    first_order
}

/// Each customer's dimension values (per dimension, per customer code):
/// those of the first order by (date, timestamp), ties to the smallest code
/// (NO_CODE is the largest). Empty without dimensions.
fn first_dimensions(orders: &Orders, as_of: i32, customers: usize) -> Vec<Vec<u32>> {
    if orders.dimensions.is_empty() {
        return Vec::new();
    }
    let mut first_dimensions = vec![vec![NO_CODE; customers]; orders.dimensions.len()];
    let mut first_instant: Vec<(i32, i64)> = vec![(i32::MAX, i64::MAX); customers];
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
    first_dimensions
}

/// Sets aside orders after as_of and rejected refunds (their customer code
/// becomes [`NO_CODE`]) and counts their lines; returns the number of
/// entries kept per customer, at `per_customer[c + 1]` (ready for the
/// prefix sum of [`group_by_customer`]).
fn set_aside(
    orders: &mut Orders,
    kept: &[u32],
    as_of: i32,
    first_order: &[i32],
    file_starts: &[usize],
    rejects: &mut Vec<Reject>,
    counts: &mut RowCounts,
) -> Vec<usize> {
    let mut per_customer: Vec<usize> = vec![0; first_order.len() + 1];
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
                    let (file, row) = line_source(file_starts, i as usize);
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
    per_customer
}

/// Groups the kept orders by customer code (code order is id order) with
/// a counting sort, then orders each customer's entries by date, timestamp
/// and first line, so the history is the same whatever the thread count.
/// Returns the orders in history order and where each customer's entries
/// start (`starts[c]..starts[c + 1]`); no entry at all fails the run.
fn group_by_customer(
    orders: &Orders,
    mut per_customer: Vec<usize>,
    as_of: i32,
    rows_read: u64,
) -> Result<(Vec<u32>, Vec<usize>)> {
    for c in 1..per_customer.len() {
        per_customer[c] += per_customer[c - 1];
    }
    let starts = per_customer;
    let accepted = *starts.last().expect("at least one entry");
    if accepted == 0 {
        return Err(Error::NoOrders {
            as_of: date_of(as_of).to_string(),
            rows_read,
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
    Ok((slots, starts))
}

/// The history: the entries of `slots` (history order) and the customers
/// that have any, with their ids and first-order dimension values.
fn history_of(
    orders: &Orders,
    slots: Vec<u32>,
    starts: &[usize],
    as_of: i32,
    keys: LineKeys,
    first_dimensions: &[Vec<u32>],
) -> OrderHistory {
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
    history.dimensions = keys
        .dimension_names
        .into_iter()
        .zip(keys.dimension_values)
        .map(|(name, values)| CustomerDimension {
            name,
            values,
            customer: Vec::new(),
        })
        .collect();
    for (c, id) in keys.customer_values.into_iter().enumerate() {
        if starts[c + 1] > starts[c] {
            history.customer_ids.push(id);
            history.offsets.push(starts[c]);
            for (dimension, first) in history.dimensions.iter_mut().zip(first_dimensions) {
                dimension.customer.push(first[c]);
            }
        }
    }
    history
        .offsets
        .push(*starts.last().expect("at least one entry"));
    history
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_rows_groups_by_customer_in_id_order_and_by_date() {
        let history = OrderHistory::from_rows(
            30,
            &[("b", 5, 100), ("a", 20, -50), ("a", 10, 300), ("b", 5, 200)],
        );
        assert_eq!(history.customer_ids, vec!["a", "b"]);
        assert_eq!(history.offsets, vec![0, 2, 4]);
        assert_eq!(history.of(0), (&[10, 20][..], &[300, -50][..]));
        assert_eq!(history.of(1), (&[5, 5][..], &[100, 200][..]));
        assert_eq!(history.as_of, 30);
        assert!(history.dimensions.is_empty());
    }

    /// Order lines held in memory: (customer code, order code, day, cents,
    /// line hash, status), one file, a day's timestamp at midnight UTC.
    fn lines(rows: &[(u32, u32, i32, i64, u64, LineStatus)]) -> Lines {
        let mut lines = Lines {
            file_starts: vec![0],
            customer_values: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        for &(customer, order, day, cents, hash, status) in rows {
            lines.customer.push(customer);
            lines.order.push(order);
            lines.day.push(day);
            lines.ts_micros.push(day as i64 * 86_400_000_000);
            lines.cents.push(cents);
            lines.line_hash.push(hash);
            lines.status.push(status);
        }
        lines
    }

    #[test]
    fn build_orders_sums_lines_drops_duplicates_and_sets_aside_late_orders_and_refunds() {
        use LineStatus::{Filtered, Valid};
        let lines = lines(&[
            (0, 0, 10, 500, 1, Valid),
            (0, 0, 10, 500, 1, Valid), // an exact duplicate
            (0, 0, 10, 250, 2, Valid), // the order's second line
            (1, 1, 5, -100, 3, Valid), // a refund without an order
            (1, 2, 40, 900, 4, Valid), // after as_of
            (0, 3, 20, 100, 5, Valid),
            (0, 4, 20, 700, 6, Filtered),
        ]);
        let mut rejects = Vec::new();
        let out = build_orders(lines, &mut rejects, Some("order_id"), Some(30)).unwrap();
        assert_eq!(
            out.history,
            OrderHistory::from_rows(30, &[("a", 10, 750), ("a", 20, 100)])
        );
        assert_eq!(
            out.counts,
            RowCounts {
                rows_read: 7,
                accepted: 3,
                rejected: 1,
                excluded_by_filter: 1,
                excluded_after_as_of: 1,
                duplicates: 1,
            }
        );
        assert_eq!(out.accepted_cents, 850);
        assert_eq!(
            rejects,
            vec![Reject {
                file: 0,
                row: 4,
                reason: RejectReason::RefundWithoutOrder,
                column: None,
                value: Some("-1.00".into()),
                raw: None,
            }]
        );
    }
}
