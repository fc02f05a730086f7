//! The history of one customer partition: its orders' customer ids
//! coded in id order, orders after as_of and refunds without an earlier
//! order set aside, and each customer's entries sorted.

use rayon::prelude::*;

use super::order_history::HistoryPart;
use super::{Orders, RowCounts};
use crate::stages::partition::OrderPart;
use crate::stages::rejects::{Reject, RejectReason};
use crate::stages::validate::{key_hash, line_source, CodeVec, Interner, NO_CODE};

/// What one customer partition gives: its customers' history (in id
/// order), the rejects of its refunds, and how many lines were accepted
/// and excluded after as_of.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CustomerPartHistory {
    pub history: HistoryPart,
    pub rejects: Vec<Reject>,
    pub counts: RowCounts,
}

/// The history of customer partition `part` on `as_of`; `file_starts`
/// as in `validate::LineKeys`.
pub fn history_of_part(part: OrderPart, as_of: i32, file_starts: &[usize]) -> CustomerPartHistory {
    let (mut orders, kept, customer_values) = coded_orders(part);
    let customers = customer_values.len();
    let first_order = first_order_days(&orders, as_of, customers);
    let first_dimensions = first_dimensions(&orders, as_of, customers);
    orders.dimensions = Vec::new();
    let mut rejects = Vec::new();
    let mut counts = RowCounts::default();
    let per_customer = set_aside(
        &mut orders,
        &kept,
        as_of,
        &first_order,
        file_starts,
        &mut rejects,
        &mut counts,
    );
    drop(kept);
    let (slots, starts) = group_by_customer(&orders, per_customer);
    let history = history_of(&orders, slots, &starts, customer_values, &first_dimensions);
    CustomerPartHistory {
        history,
        rejects,
        counts,
    }
}

/// A customer partition's orders as [`Orders`], customer codes ranked by
/// id (so code order is id order), with their kept lines and the sorted
/// ids.
fn coded_orders(part: OrderPart) -> (Orders, Vec<u32>, Vec<String>) {
    let OrderPart {
        customer,
        day,
        ts_micros,
        cents,
        first_line,
        line_count,
        lines,
        dimensions,
    } = part;
    let mut interner = Interner::with_values(day.len() / 4);
    let mut codes: Vec<u32> = customer
        .iter()
        .map(|id| interner.code_hashed(id, key_hash(id)))
        .collect();
    drop(customer);
    let (rank, customer_values) = interner.ranked();
    codes.par_iter_mut().for_each(|c| *c = rank[*c as usize]);
    let mut kept_start = Vec::with_capacity(line_count.len());
    let mut start = 0u32;
    for n in line_count {
        kept_start.push(start);
        start += n;
    }
    let orders = Orders {
        customer: codes,
        day,
        ts_micros,
        cents,
        first_line,
        kept_start,
        dimensions: dimensions
            .into_iter()
            .map(|codes| {
                let mut coded = CodeVec::default();
                codes.into_iter().for_each(|c| coded.push(c));
                coded
            })
            .collect(),
    };
    (orders, lines, customer_values)
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
/// start (`starts[c]..starts[c + 1]`).
fn group_by_customer(orders: &Orders, mut per_customer: Vec<usize>) -> (Vec<u32>, Vec<usize>) {
    for c in 1..per_customer.len() {
        per_customer[c] += per_customer[c - 1];
    }
    let starts = per_customer;
    let accepted = *starts.last().expect("a start per customer and one past");
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
    (slots, starts)
}

/// The partition's history: the entries of `slots` (history order) and
/// the customers that have any, with their ids and first-order dimension
/// values (the dimensions' names and values are set when the parts are
/// joined).
fn history_of(
    orders: &Orders,
    slots: Vec<u32>,
    starts: &[usize],
    customer_values: Vec<String>,
    first_dimensions: &[Vec<u32>],
) -> HistoryPart {
    let mut history = HistoryPart {
        day: slots.iter().map(|&o| orders.day[o as usize]).collect(),
        cents: slots.iter().map(|&o| orders.cents[o as usize]).collect(),
        dimensions: vec![Vec::new(); first_dimensions.len()],
        ..Default::default()
    };
    drop(slots);
    for (c, id) in customer_values.into_iter().enumerate() {
        if starts[c + 1] > starts[c] {
            history.customer_ids.push(&id);
            history.offsets.push(starts[c]);
            for (dimension, first) in history.dimensions.iter_mut().zip(first_dimensions) {
                dimension.push(first[c]);
            }
        }
    }
    history
        .offsets
        .push(*starts.last().expect("a start per customer and one past"));
    history
}
