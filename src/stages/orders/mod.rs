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
//!
//! The work is partitioned (`stages::partition`): `assemble` makes the
//! orders of one line partition (lines of an order are in one), `history`
//! the history of one customer partition (orders of a customer are in
//! one), each on any core; as_of is merged between the two. Customer
//! partitions are ranges of ids (`stages::customer_ranges`), so their
//! histories, one after another, are the customers in id order
//! (`order_history`).

mod assemble;
mod history;
mod order_history;

pub use order_history::{
    first_order_day_of, CustomerDimension, CustomerIds, EntriesView, EntryStore, HistoryPart,
    HistoryStores, IdStore, OrderHistory, PartEntries, PartIds,
};

use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::expr::cents_text;
use crate::stages::partition::{Buffered, LinePart, OrderPart, SpillStore, Stored};
use crate::stages::rejects::Reject;
use crate::stages::validate::{CodeVec, LineKeys};
use crate::time::date_of;

/// How every row read was accounted for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The latest order date in the input, after as_of too (refunds do
    /// not count).
    pub latest_order_day: i32,
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

/// How the orders stage holds its partitions: the customer partitions'
/// pieces stay in memory up to [`OrderPlan::buffer`], then go to `spill`;
/// with `history`, each customer partition's entries (and ids, with an id
/// store) go to those stores as soon as its history is built (the budget
/// cannot hold them all), and the history keeps only their dimension
/// codes (and ids, without an id store).
pub struct OrderPlan<'s> {
    /// The most bytes of order pieces held.
    pub buffer_bytes: usize,
    /// The bytes the order pieces and the line pieces still held from
    /// reading share (what the grouping's working memory leaves of the
    /// budget): held lines leave the orders less, down to a sixth of
    /// `buffer_bytes`.
    pub room_bytes: usize,
    pub spill: &'s dyn SpillStore<OrderPart>,
    pub history: Option<HistoryStores>,
}

impl OrderPlan<'_> {
    /// The bytes of order pieces held while `lines_held` bytes of line
    /// pieces are: at 100 M orders under 410 MiB the lines held from
    /// reading (up to 60 % of the budget) and a full order buffer (30 %)
    /// took the run to 1.40 times its budget.
    pub fn buffer(&self, lines_held: usize) -> usize {
        let least = self.buffer_bytes / 6;
        (self.room_bytes.saturating_sub(lines_held)).clamp(least, self.buffer_bytes)
    }
}

/// Builds orders from the scattered lines (`lines`, one partition per
/// order key; `keys` what is known of all lines) and adds the order-level
/// rejects to `rejects` (raw records still to fill in), less the row
/// rejects of lines dropped as duplicates.
///
/// Dimensions (`[columns] dimensions`): an order's value is that of its
/// earliest line (by timestamp, the line that dates the order); when
/// several lines share that timestamp, the smallest of their non-missing
/// values (byte order), missing only when all of them are null or blank. A
/// customer's value is that of their first order (refunds are not orders):
/// the earliest by (date, timestamp), so the first order of
/// [`OrderHistory`]; when several orders share that instant, again the
/// smallest non-missing value. Ties go by value, never by row position, so
/// the result does not depend on input row order. `order_id_column` names
/// the mapped order-id column, if any.
pub fn build_orders(
    lines: Stored<'_, LinePart>,
    keys: &LineKeys,
    rejects: &mut Vec<Reject>,
    order_id_column: Option<&str>,
    as_of: Option<i32>,
    plan: &OrderPlan,
) -> Result<OrdersOutput> {
    let mut counts = RowCounts {
        rows_read: keys.rows_read,
        excluded_by_filter: keys.excluded_by_filter,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let elapsed = || format!("{:.3}", started.elapsed().as_secs_f64());
    let (orders, latest_order_day) =
        assemble_partitions(lines, keys, order_id_column, plan, rejects, &mut counts)?;
    let as_of = resolve_as_of(as_of, latest_order_day, counts.rows_read)?;
    tracing::debug!(seconds = elapsed(), "orders assembled");
    let stores = plan.history.as_ref();
    let (histories, entries) = history_partitions(orders, as_of, keys, stores)?;
    let parts = steps::add_histories(histories, rejects, &mut counts);
    tracing::debug!(seconds = elapsed(), "histories built");
    let joined = steps::Joined::of(as_of, entries, plan.history.clone())?;
    let output = steps::finish_joined(parts, joined, keys, rejects, counts, latest_order_day)?;
    tracing::debug!(seconds = elapsed(), "histories joined");
    Ok(output)
}

/// Every line partition grouped into orders, one partition per task; the
/// orders go on, by customer, into the customer partitions as each task
/// ends. Adds the order rejects to `rejects` (withdrawing the row rejects
/// of lines dropped as duplicates) and counts the duplicates; returns the
/// customer partitions and the latest order date.
fn assemble_partitions<'s>(
    lines: Stored<'_, LinePart>,
    keys: &LineKeys,
    order_id_column: Option<&str>,
    plan: &OrderPlan<'s>,
    rejects: &mut Vec<Reject>,
    counts: &mut RowCounts,
) -> Result<(Stored<'s, OrderPart>, Option<i32>)> {
    let partitions = lines.partitions();
    let buffer = plan.buffer(lines.held_bytes());
    let pieces = Mutex::new(Buffered::new(partitions, buffer, plan.spill));
    let assembled: Vec<steps::LinePartOrders> = (0..partitions)
        .into_par_iter()
        .map(|p| {
            let part = lines.take(p)?;
            let mut orders = steps::orders_of_part(part, keys, order_id_column, partitions);
            let by_customer = std::mem::take(&mut orders.pieces);
            let mut pieces = pieces.lock().expect("not poisoned");
            // The lines taken so far leave the orders more room.
            pieces.set_budget(plan.buffer(lines.held_bytes()));
            pieces.add(by_customer)?;
            Ok(orders)
        })
        .collect::<Result<_>>()?;
    drop(lines);
    let latest_order_day = steps::add_assembled(assembled, rejects, counts);
    let orders = pieces.into_inner().expect("not poisoned").into_stored();
    Ok((orders, latest_order_day))
}

/// Every customer partition's history on `as_of`, one partition per
/// task; with `stores`, each part's entries (and ids) go there as soon as
/// it is built. Besides the histories, what the stage needs of their entries:
/// their amounts and earliest first order.
fn history_partitions(
    orders: Stored<'_, OrderPart>,
    as_of: i32,
    keys: &LineKeys,
    stores: Option<&HistoryStores>,
) -> Result<(Vec<steps::CustomerPartHistory>, steps::EntryFacts)> {
    let built: Vec<_> = (0..orders.partitions())
        .into_par_iter()
        .map(|p| {
            let mut part = steps::history_of_part(orders.take(p)?, as_of, &keys.file_starts);
            let facts = steps::EntryFacts::of(&part.history);
            if let Some(stores) = stores {
                stores.entries.put(p, &part.history.take_entries())?;
                if let Some(ids) = &stores.ids {
                    ids.put(p, &part.history.take_ids())?;
                }
            }
            Ok((part, facts))
        })
        .collect::<Result<_>>()?;
    let facts = built.iter().map(|(_, facts)| *facts);
    let facts = facts.fold(steps::EntryFacts::default(), |a, b| a + b);
    Ok((built.into_iter().map(|(part, _)| part).collect(), facts))
}

/// Σ |cents| and Σ cents of entries, exact: at most 2^32 entries of at
/// most `MAX_AMOUNT_CENTS` each fit an i128.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Amounts {
    volume: i128,
    total: i128,
}

impl Amounts {
    pub fn of(cents: &[i64]) -> Amounts {
        cents
            .par_iter()
            .map(|&c| Amounts {
                volume: (c as i128).abs(),
                total: c as i128,
            })
            .reduce(Amounts::default, Amounts::add)
    }

    fn add(self, other: Amounts) -> Amounts {
        Amounts {
            volume: self.volume + other.volume,
            total: self.total + other.total,
        }
    }
}

/// The orders stage in its steps, for an engine that runs the partitions
/// elsewhere (the Ballista engine, `crate::distributed`): each line
/// partition's orders ([`orders_of_part`]), their tallies added up
/// ([`add_assembled`]), as_of ([`resolve_as_of`]), each customer
/// partition's history ([`history_of_part`]), their tallies
/// ([`add_histories`]), and the joined history ([`finish`]). Run in this
/// order they are [`build_orders`], whatever runs each partition.
pub mod steps {
    use super::*;

    pub use super::assemble::{orders_of_part, LinePartOrders};
    pub use super::history::{history_of_part, CustomerPartHistory};
    pub use super::resolve_as_of;

    /// Adds up the line partitions' tallies (their pieces already taken):
    /// their order rejects go to `rejects`, less the row rejects of lines
    /// dropped as duplicates; returns the latest order date.
    pub fn add_assembled(
        assembled: Vec<LinePartOrders>,
        rejects: &mut Vec<Reject>,
        counts: &mut RowCounts,
    ) -> Option<i32> {
        let mut latest_order_day = None;
        let mut duplicate_rows = std::collections::HashSet::new();
        let mut order_rejects = Vec::new();
        for part in assembled {
            counts.duplicates += part.duplicates;
            latest_order_day = latest_order_day.max(part.latest_order_day);
            duplicate_rows.extend(part.duplicate_rows);
            order_rejects.extend(part.rejects);
        }
        if !duplicate_rows.is_empty() {
            rejects.retain(|r| !duplicate_rows.contains(&(r.file, r.row)));
        }
        rejects.append(&mut order_rejects);
        latest_order_day
    }

    /// Adds up the customer partitions' tallies: their refund rejects go
    /// to `rejects` and their lines are counted as accepted or excluded
    /// after as_of. Returns the histories, in partition order.
    pub fn add_histories(
        histories: Vec<CustomerPartHistory>,
        rejects: &mut Vec<Reject>,
        counts: &mut RowCounts,
    ) -> Vec<HistoryPart> {
        let mut parts = Vec::with_capacity(histories.len());
        for part in histories {
            counts.accepted += part.counts.accepted;
            counts.excluded_after_as_of += part.counts.excluded_after_as_of;
            rejects.extend(part.rejects);
            parts.push(part.history);
        }
        parts
    }

    /// The stage's output from the customer partitions' histories, held
    /// whole: fails when no order was accepted or the amounts are too
    /// large in total.
    pub fn finish(
        parts: Vec<HistoryPart>,
        as_of: i32,
        keys: &LineKeys,
        rejects: &mut [Reject],
        counts: RowCounts,
        latest_order_day: Option<i32>,
    ) -> Result<OrdersOutput> {
        let amounts = parts.iter().map(|p| Amounts::of(&p.cents));
        let joined = Joined {
            as_of,
            accepted_cents: accepted_amount(amounts.fold(Amounts::default(), Amounts::add))?,
            stored: None,
        };
        finish_joined(parts, joined, keys, rejects, counts, latest_order_day)
    }

    /// What joining the parts needs of their entries, which may be in a
    /// store by then: their amounts and the earliest first order.
    #[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct EntryFacts {
        pub amounts: Amounts,
        pub earliest: Option<i32>,
    }

    impl EntryFacts {
        pub fn of(history: &HistoryPart) -> EntryFacts {
            EntryFacts {
                amounts: Amounts::of(&history.cents),
                earliest: history.view().earliest_first_order(),
            }
        }
    }

    impl std::ops::Add for EntryFacts {
        type Output = EntryFacts;

        fn add(self, other: EntryFacts) -> EntryFacts {
            EntryFacts {
                amounts: self.amounts.add(other.amounts),
                earliest: match (self.earliest, other.earliest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
            }
        }
    }

    /// [`finish_joined`] for parts whose entries went to `store` as they
    /// were built, with what the join needs of them (`entries`, added up).
    pub fn finish_stored(
        parts: Vec<HistoryPart>,
        (store, entries): (std::sync::Arc<EntryStore>, EntryFacts),
        as_of: i32,
        (keys, rejects): (&LineKeys, &mut [Reject]),
        counts: RowCounts,
        latest_order_day: Option<i32>,
    ) -> Result<OrdersOutput> {
        let stores = HistoryStores {
            entries: store,
            ids: None,
        };
        let joined = Joined::of(as_of, entries, Some(stores))?;
        finish_joined(parts, joined, keys, rejects, counts, latest_order_day)
    }

    /// What joining the parts needs besides them: as_of, Σ cents of every
    /// accepted entry, and when the parts' entries went to a store as
    /// they were built, those stores and the earliest first order among
    /// them.
    pub struct Joined {
        pub as_of: i32,
        pub accepted_cents: i64,
        pub stored: Option<(HistoryStores, Option<i32>)>,
    }

    impl Joined {
        /// What joining parts on `as_of` needs, from what their entries
        /// added up to (`entries`) and the store they went to, if any.
        pub fn of(as_of: i32, entries: EntryFacts, store: Option<HistoryStores>) -> Result<Joined> {
            Ok(Joined {
                as_of,
                accepted_cents: accepted_amount(entries.amounts)?,
                stored: store.map(|store| (store, entries.earliest)),
            })
        }
    }

    /// [`finish`] with the parts' amounts already added up.
    pub fn finish_joined(
        parts: Vec<HistoryPart>,
        joined: Joined,
        keys: &LineKeys,
        rejects: &mut [Reject],
        mut counts: RowCounts,
        latest_order_day: Option<i32>,
    ) -> Result<OrdersOutput> {
        let Joined {
            as_of,
            accepted_cents,
            stored,
        } = joined;
        counts.rejected = rejects.len() as u64;
        // Sorted by source, so the rejects are the same for any partition count.
        rejects.par_sort_unstable_by_key(|r| (r.file, r.row));
        if counts.accepted == 0 {
            return Err(Error::NoOrders {
                as_of: date_of(as_of).to_string(),
                rows_read: counts.rows_read,
            });
        }
        let dimensions = keys
            .dimension_names
            .iter()
            .cloned()
            .zip(keys.dimension_values.iter().cloned());
        let history = match stored {
            Some((store, earliest)) => {
                OrderHistory::of_stored_parts(parts, store, earliest, as_of, dimensions)
            }
            None => OrderHistory::of_parts(parts, as_of, dimensions),
        };
        Ok(OrdersOutput {
            history,
            counts,
            accepted_cents,
            latest_order_day: latest_order_day.unwrap_or(as_of),
        })
    }
}

/// as_of as given, else the latest order date (refunds do not count); no
/// order at all fails the run.
pub fn resolve_as_of(
    as_of: Option<i32>,
    latest_order_day: Option<i32>,
    rows_read: u64,
) -> Result<i32> {
    match (as_of, latest_order_day) {
        (Some(day), _) => Ok(day),
        (None, Some(day)) => Ok(day),
        (None, None) => Err(Error::NoOrders {
            as_of: "(none: the input has no valid order)".into(),
            rows_read,
        }),
    }
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
fn accepted_amount(Amounts { volume, total }: Amounts) -> Result<i64> {
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

    /// Held lines leave the order pieces less room, between a sixth of
    /// their buffer and the whole of it.
    #[test]
    fn held_lines_shrink_the_order_buffer() {
        use crate::stages::partition::NoSpill;
        let plan = OrderPlan {
            buffer_bytes: 600,
            room_bytes: 1_000,
            spill: &NoSpill,
            history: None,
        };
        let buffers = [0, 400, 500, 800, 1_000, 5_000].map(|held| plan.buffer(held));
        assert_eq!(buffers, [600, 600, 500, 200, 100, 100]);
    }

    #[test]
    fn from_rows_groups_by_customer_in_id_order_and_by_date() {
        let history = OrderHistory::from_rows(
            30,
            &[("b", 5, 100), ("a", 20, -50), ("a", 10, 300), ("b", 5, 200)],
        );
        assert_eq!(history.customer_id(0), "a");
        assert_eq!(history.customer_id(1), "b");
        assert_eq!(history.entries_of(0), (vec![10, 20], vec![300, -50]));
        assert_eq!(history.entries_of(1), (vec![5, 5], vec![100, 200]));
        assert_eq!(history.as_of, 30);
        assert!(history.dimensions.is_empty());
    }

    /// Order lines of one file, as scattered into `partitions` partitions
    /// by order id: (customer id, order id, day, cents, line hash); a
    /// day's timestamp at midnight UTC. `filtered` more lines were read
    /// and filtered out (they are in no partition).
    fn scattered(
        rows: &[(&str, &str, i32, i64, u64)],
        filtered: u64,
        partitions: usize,
    ) -> (Vec<LinePart>, LineKeys) {
        use crate::stages::partition::partition_of;
        use crate::stages::validate::key_hash;
        let mut parts: Vec<LinePart> = (0..partitions).map(|_| LinePart::default()).collect();
        for (i, &(customer, order, day, cents, hash)) in rows.iter().enumerate() {
            let part = &mut parts[partition_of(key_hash(order.as_bytes()), partitions)];
            part.line.push(i as u32);
            part.rejected.push(false);
            part.ts_micros.push(day as i64 * 86_400_000_000);
            part.day.push(day);
            part.cents.push(cents);
            part.line_hash.push(hash);
            part.customer.push(customer.as_bytes());
            part.order.push(order.as_bytes());
        }
        let keys = LineKeys {
            file_starts: vec![0],
            rows_read: rows.len() as u64 + filtered,
            excluded_by_filter: filtered,
            ..Default::default()
        };
        (parts, keys)
    }

    /// [`build_orders`] of `rows` (as in [`scattered`]) on `partitions`
    /// partitions, order ids mapped, on as_of 30, with the history's
    /// stores `history` if any.
    fn build_with(
        rows: &[(&str, &str, i32, i64, u64)],
        partitions: usize,
        history: Option<HistoryStores>,
        rejects: &mut Vec<Reject>,
    ) -> OrdersOutput {
        use crate::stages::partition::NoSpill;
        let (parts, keys) = scattered(rows, 1, partitions);
        let mut lines = Buffered::new(partitions, usize::MAX, &NoSpill);
        lines.add(parts).unwrap();
        let plan = OrderPlan {
            buffer_bytes: usize::MAX,
            room_bytes: usize::MAX,
            spill: &NoSpill,
            history,
        };
        let stored = lines.into_stored();
        build_orders(stored, &keys, rejects, Some("order_id"), Some(30), &plan).unwrap()
    }

    #[test]
    fn build_orders_sums_lines_drops_duplicates_and_sets_aside_late_orders_and_refunds() {
        use crate::stages::rejects::RejectReason;
        let rows = [
            ("a", "o1", 10, 500, 1),
            ("a", "o1", 10, 500, 1), // an exact duplicate
            ("a", "o1", 10, 250, 2), // the order's second line
            ("b", "o2", 5, -100, 3), // a refund without an order
            ("b", "o3", 40, 900, 4), // after as_of
            ("a", "o4", 20, 100, 5),
        ];
        // Held, with every part's entries in a store, and with its ids too.
        use crate::stages::part_store::MemoryParts;
        let stored = |ids: bool| {
            Some(HistoryStores {
                entries: std::sync::Arc::new(MemoryParts::default()),
                ids: ids.then(|| std::sync::Arc::new(MemoryParts::default()) as _),
            })
        };
        for (partitions, history) in [1, 2, 7]
            .into_iter()
            .flat_map(|p| [(p, None), (p, stored(false)), (p, stored(true))])
        {
            let spilled = if history.is_some() { partitions } else { 0 };
            let mut rejects = Vec::new();
            let out = build_with(&rows, partitions, history, &mut rejects);
            assert_eq!(
                out.history,
                OrderHistory::from_rows(30, &[("a", 10, 750), ("a", 20, 100)])
            );
            assert_eq!(out.history.spilled_parts(), spilled);
            assert_eq!(out.history.earliest_first_order(), Some(10));
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
}
