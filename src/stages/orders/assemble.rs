//! Orders of one line partition: its lines' keys coded, lines grouped
//! into orders, exact duplicates dropped, bad orders rejected, and each
//! accepted order sent to the partition of its customer.

use std::collections::HashSet;

use rayon::prelude::*;

use super::{Orders, RowCounts};
use crate::expr::{amount_in_range, cents_text};
use crate::stages::customer_ranges::CustomerRanges;
use crate::stages::partition::{KeyBytes, LinePart, OrderPart};
use crate::stages::rejects::{Reject, RejectReason};
use crate::stages::validate::{key_hash, CodeVec, Interner, LineKeys, LineStatus, Lines, NO_CODE};

/// What one line partition gives: its accepted orders, one piece per
/// customer partition, and what it set aside.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct LinePartOrders {
    /// Not sent with the rest: the pieces travel on their own.
    #[serde(skip)]
    pub pieces: Vec<OrderPart>,
    pub rejects: Vec<Reject>,
    /// (file, row) of the rejected lines dropped as duplicates: their row
    /// rejects are withdrawn.
    pub duplicate_rows: HashSet<(u32, u32)>,
    pub duplicates: u64,
    /// The latest date of an order (not a refund), if any: as_of's
    /// default.
    pub latest_order_day: Option<i32>,
}

/// The orders of line partition `part`, sent to `partitions` customer
/// partitions. `order_id_column` names the mapped order-id column, if any.
pub fn orders_of_part(
    part: LinePart,
    keys: &LineKeys,
    order_id_column: Option<&str>,
    partitions: usize,
) -> LinePartOrders {
    let (mut lines, customers) = coded_lines(part, keys);
    let (mut slots, group_ends) = group_lines_by_order(&lines, order_id_column.is_some());
    lines.order = Vec::new();
    lines.customer = customer_codes(&customers, &slots, group_ends.as_deref(), lines.len());
    let mut rejects = Vec::new();
    let mut counts = RowCounts::default();
    let Assembled {
        orders,
        kept,
        duplicate_rows,
    } = assemble_orders(
        &mut lines,
        &mut slots,
        group_ends.as_deref(),
        order_id_column,
        &mut rejects,
        &mut counts,
    );
    drop(slots);
    let latest_order_day = (0..orders.len())
        .filter(|&o| orders.cents[o] >= 0)
        .map(|o| orders.day[o])
        .max();
    let ranges = &keys.customer_ranges;
    let pieces = by_customer_partition(&orders, &kept, &lines, &customers, ranges, partitions);
    LinePartOrders {
        pieces,
        rejects,
        duplicate_rows,
        duplicates: counts.duplicates,
        latest_order_day,
    }
}

/// The customer ids of a line partition, each line's found by its start.
struct CustomerIds {
    ids: KeyBytes,
    /// Where each line's key entry starts ([`KeyBytes::starts`]).
    start: Vec<usize>,
}

impl CustomerIds {
    fn new(ids: KeyBytes) -> CustomerIds {
        let start = ids.starts();
        CustomerIds { ids, start }
    }

    /// The customer id of line `i`.
    fn of(&self, i: usize) -> &[u8] {
        self.ids.get(i, self.start[i])
    }
}

/// Customer codes that tell apart the ids within each order, which is all
/// the grouping needs (an order's lines must name one customer): a line's
/// code is its order's first line if it names the same id, else its own
/// index. Comparing the few lines of an order is cheaper than coding every
/// line's id in a hash table; the orders are coded by customer in their
/// own partitions. `slots` and `group_ends` as from
/// [`group_lines_by_order`].
fn customer_codes(
    customers: &CustomerIds,
    slots: &[u32],
    group_ends: Option<&[u32]>,
    lines: usize,
) -> Vec<u32> {
    let mut codes: Vec<u32> = (0..lines as u32).collect();
    let Some(ends) = group_ends else {
        return codes; // every line its own order
    };
    let mut start = 0;
    for &end in ends {
        let group = &slots[start..end as usize];
        start = end as usize;
        let Some((&first, rest)) = group.split_first() else {
            continue;
        };
        let id = customers.of(first as usize);
        for &i in rest {
            if customers.of(i as usize) == id {
                codes[i as usize] = first;
            }
        }
    }
    codes
}

/// Each line's order id coded by first appearance (`orders`: about how
/// many orders there are).
fn order_codes(ids: &KeyBytes, orders: usize) -> Vec<u32> {
    let mut interner = Interner::with_capacity(orders);
    // An order's lines mostly come one after another: a line with the
    // previous line's order id takes its code without a lookup in a table
    // of millions (about a third of the lines of the bench's histories).
    let mut previous: Option<(&[u8], u32)> = None;
    ids.iter()
        .map(|id| match previous {
            Some((last, code)) if last == id => code,
            _ => {
                let code = interner.code_hashed(id, key_hash(id));
                previous = Some((id, code));
                code
            }
        })
        .collect()
}

/// A line partition as [`Lines`] (customer codes still to make:
/// [`customer_codes`]) and its customer ids: order ids coded by first
/// appearance, so an order's lines group in input order; dimension codes
/// final (ranks), so the smallest code is the smallest value.
fn coded_lines(part: LinePart, keys: &LineKeys) -> (Lines, CustomerIds) {
    let LinePart {
        line,
        rejected,
        ts_micros,
        day,
        cents,
        line_hash,
        dimensions,
        customer,
        order,
    } = part;
    let customers = CustomerIds::new(customer);
    let order = order_codes(&order, line.len() / 2);
    let status = rejected
        .into_iter()
        .map(|r| match r {
            true => LineStatus::Rejected,
            false => LineStatus::Valid,
        })
        .collect();
    let dimensions = dimensions
        .into_par_iter()
        .zip(&keys.dimension_ranks)
        .map(|(codes, rank)| {
            let mut coded = CodeVec::default();
            for code in codes {
                coded.push(match code {
                    NO_CODE => NO_CODE,
                    c => rank[c as usize],
                });
            }
            coded
        })
        .collect();
    let lines = Lines {
        file_starts: keys.file_starts.clone(),
        global: line,
        status,
        customer: Vec::new(),
        order,
        ts_micros,
        day,
        cents,
        line_hash,
        dimensions,
    };
    (lines, customers)
}

/// The accepted orders as pieces of the `partitions` customer
/// partitions, by the range of their customer's id: each order with its
/// customer's id, input line indices and dimension values.
fn by_customer_partition(
    orders: &Orders,
    kept: &[u32],
    lines: &Lines,
    customers: &CustomerIds,
    ranges: &CustomerRanges,
    partitions: usize,
) -> Vec<OrderPart> {
    assert!(
        ranges.partitions() <= partitions,
        "ranges cut for this plan"
    );
    let mut pieces: Vec<OrderPart> = (0..partitions)
        .map(|_| OrderPart::with_dimensions(orders.dimensions.len()))
        .collect();
    for o in 0..orders.len() {
        // An order's customer code is one of its lines.
        let id = customers.of(orders.customer[o] as usize);
        let piece = &mut pieces[ranges.partition_of(id)];
        piece.customer.push(id);
        piece.day.push(orders.day[o]);
        piece.ts_micros.push(orders.ts_micros[o]);
        piece.cents.push(orders.cents[o]);
        piece
            .first_line
            .push(lines.global(orders.first_line[o] as usize));
        let start = orders.kept_start[o] as usize;
        let end = orders
            .kept_start
            .get(o + 1)
            .map_or(kept.len(), |&s| s as usize);
        piece.line_count.push((end - start) as u32);
        piece
            .lines
            .extend(kept[start..end].iter().map(|&i| lines.global(i as usize)));
        for (codes, order_codes) in piece.dimensions.iter_mut().zip(&orders.dimensions) {
            codes.push(order_codes.get(o));
        }
    }
    pieces
}

/// Lines of one order next to each other, in line order, which is
/// (file, row) order: a counting sort on the dense order codes, linear in
/// the lines and 8 bytes a line (a comparison sort of (order, hash, line)
/// keys took 16 bytes a line and most of this stage at 100 M lines). Every
/// line of a partition belongs to an order (the scatter leaves out filtered
/// lines and lines without an order id); without an order-id mapping every
/// line is its own order. Returns the line indices (slots) and, with an
/// order id, the end of each order's slots.
fn group_lines_by_order(lines: &Lines, has_order_id: bool) -> (Vec<u32>, Option<Vec<u32>>) {
    if !has_order_id {
        return ((0..lines.len() as u32).collect(), None);
    }
    let codes = lines.order.iter().max().map_or(0, |&c| c as usize + 1);
    // ends[c] starts as the start of group c and, after the scatter, is
    // its end (the start of group c + 1).
    let mut ends = vec![0u32; codes + 1];
    for &code in &lines.order {
        ends[code as usize + 1] += 1;
    }
    for c in 1..ends.len() {
        ends[c] += ends[c - 1];
    }
    let mut slots = vec![0; lines.len()];
    for (i, &code) in lines.order.iter().enumerate() {
        slots[ends[code as usize] as usize] = i as u32;
        ends[code as usize] += 1;
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
