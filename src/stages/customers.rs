//! Customers: one row per customer with the BTYD summary (frequency,
//! recency, tenure, monetary value, as in the `lifetimes` package with daily
//! periods), revenue net of refunds, and RFM scores and segment.
//!
//! RFM scores are quintiles over all customers, ties sharing a score:
//! `score = 1 + ⌊5 · (customers with a strictly worse value) / customers⌋`,
//! where worse means more days since the last order (R), fewer orders (F)
//! or less revenue (M). The named segment follows [`rfm_segment`].
//!
//! Each customer partition is summarized on its own ([`summarize_part`]);
//! the RFM cuts and the median second-order gap are then exact order
//! statistics over every partition's columns ([`Scoring`]), so a
//! partition's summary can be scored without the others being held
//! (`stages::per_customer` drives the partitions and keeps their results).
//!
//! The `customers` table is built from the summaries by
//! `tables::customers`.

use std::sync::Arc;

use rayon::prelude::*;

use crate::error::Result;
use crate::stages::order_statistics::{
    doubled_median, quintile_cuts, quintile_score, StoredValues,
};
use crate::stages::part_store::PartStore;

/// The per-customer summary, in customer-code order (ascending id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerSummary {
    pub first_order_day: Vec<i32>,
    pub last_order_day: Vec<i32>,
    pub orders: Vec<i64>,
    pub revenue_cents: Vec<i64>,
    pub frequency: Vec<i64>,
    pub recency_days: Vec<i64>,
    pub tenure_days: Vec<i64>,
    /// Σ cents over repeat order days (all order days but the first).
    pub repeat_cents: Vec<i64>,
    pub r_score: Vec<i32>,
    pub f_score: Vec<i32>,
    pub m_score: Vec<i32>,
    /// The median, over customers with at least two orders, of the days
    /// from their first to their second order (refunds are not orders),
    /// doubled so that it stays an integer; `None` without such customers.
    pub second_order_gap_doubled: Option<i64>,
}

/// Per-customer values before RFM scoring.
#[derive(Debug, Clone, Copy)]
struct Row {
    first: i32,
    last: i32,
    orders: i64,
    revenue: i64,
    order_days: i64,
    repeat_cents: i64,
    /// The date of the second order, if any.
    second: Option<i32>,
}

fn summarize(days: &[i32], cents: &[i64]) -> Row {
    let mut row = Row {
        first: i32::MAX,
        last: i32::MIN,
        orders: 0,
        revenue: 0,
        order_days: 0,
        repeat_cents: 0,
        second: None,
    };
    let mut previous_day = None;
    // Cannot wrap: each sum adds each of the customer's entries at most
    // once, bounded by the run's Σ |cents| (`orders::MAX_ACCEPTED_VOLUME_CENTS`).
    for (&day, &amount) in days.iter().zip(cents) {
        row.revenue += amount;
        if amount < 0 {
            continue; // a refund: revenue only
        }
        row.orders += 1;
        if row.orders == 2 {
            row.second = Some(day);
        }
        row.first = row.first.min(day);
        row.last = row.last.max(day);
        if previous_day != Some(day) {
            row.order_days += 1;
            previous_day = Some(day);
        }
        if day != row.first {
            row.repeat_cents += amount;
        }
    }
    row
}

/// One customer partition's summary before RFM scoring (the scores
/// depend on every partition's values), with its customers' days from
/// the first to the second order.
pub struct PartSummary {
    pub summary: CustomerSummary,
    pub gaps: Vec<i64>,
}

/// The summary of the customers whose entries are `entries`, in code
/// order, on `as_of`.
pub fn summarize_part<'h>(
    entries: impl Iterator<Item = (&'h [i32], &'h [i64])>,
    as_of: i32,
) -> PartSummary {
    let mut summary = CustomerSummary::default();
    let mut gaps = Vec::new();
    for (days, cents) in entries {
        let row = summarize(days, cents);
        summary.push(&row, as_of);
        // Entries are in date order: the first order is the earliest.
        gaps.extend(row.second.map(|d| (d - row.first) as i64));
    }
    PartSummary { summary, gaps }
}

/// Where a partition's score columns and gaps go when its results are
/// stored (by the embedded engine, or a cluster's executors writing the
/// same files): a store each, so that a pass of the
/// order statistics reads one column (at a billion orders the three
/// columns and the gaps are some 5 GB, which the budget cannot hold).
#[derive(Clone)]
pub struct ScoreStores {
    pub last_order_day: Arc<dyn PartStore<Vec<i32>>>,
    pub orders: Arc<dyn PartStore<Vec<i64>>>,
    pub revenue_cents: Arc<dyn PartStore<Vec<i64>>>,
    pub gaps: Arc<dyn PartStore<Vec<i64>>>,
}

impl ScoreStores {
    /// Puts partition `p`'s score columns (from its `summary`) and `gaps`.
    pub fn put(&self, p: usize, summary: &CustomerSummary, gaps: &Vec<i64>) -> Result<()> {
        self.last_order_day.put(p, &summary.last_order_day)?;
        self.orders.put(p, &summary.orders)?;
        self.revenue_cents.put(p, &summary.revenue_cents)?;
        self.gaps.put(p, gaps)
    }
}

/// The columns the RFM cuts are taken over, of one partition held: the
/// last order dates, the orders and the revenues.
#[derive(Debug, Clone, Copy)]
pub struct ScoreSlices<'a> {
    pub last_order_day: &'a [i32],
    pub orders: &'a [i64],
    pub revenue_cents: &'a [i64],
}

/// What scores a partition's summary: the RFM cuts and the median
/// second-order gap, order statistics over every partition's values
/// (exact, as if taken over one column).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scoring {
    cuts: [Vec<i64>; 3],
    gap_doubled: Option<i64>,
}

impl Scoring {
    /// The scoring of the partitions whose columns are `columns` and
    /// whose customers' first-to-second-order gaps are `gaps`.
    pub fn of(columns: &[ScoreSlices], gaps: &[&[i64]]) -> Scoring {
        let last: Vec<&[i32]> = columns.iter().map(|c| c.last_order_day).collect();
        let orders: Vec<&[i64]> = columns.iter().map(|c| c.orders).collect();
        let revenue: Vec<&[i64]> = columns.iter().map(|c| c.revenue_cents).collect();
        let held = "held values are always read";
        Scoring {
            // Fewer days since the last order is better, so a later last
            // order scores higher: the same order as that of the dates.
            cuts: [
                quintile_cuts(&last[..]).expect(held),
                quintile_cuts(&orders[..]).expect(held),
                quintile_cuts(&revenue[..]).expect(held),
            ],
            gap_doubled: doubled_median(gaps).expect(held),
        }
    }

    /// [`Scoring::of`] the columns and gaps in `stores`, of `parts`
    /// partitions of `customers` customers and `gaps` gaps in all, read
    /// back a column at a time.
    pub fn of_stored(
        stores: &ScoreStores,
        parts: usize,
        (customers, gaps): (u64, u64),
    ) -> Result<Scoring> {
        let last = StoredValues::new(&*stores.last_order_day, parts, customers);
        let orders = StoredValues::new(&*stores.orders, parts, customers);
        let revenue = StoredValues::new(&*stores.revenue_cents, parts, customers);
        let gaps = StoredValues::new(&*stores.gaps, parts, gaps);
        Ok(Scoring {
            cuts: [
                quintile_cuts(&last)?,
                quintile_cuts(&orders)?,
                quintile_cuts(&revenue)?,
            ],
            gap_doubled: doubled_median(&gaps)?,
        })
    }

    /// The median second-order gap, doubled.
    pub fn gap_doubled(&self) -> Option<i64> {
        self.gap_doubled
    }

    /// Sets a partition's R, F and M scores and the run's second-order gap.
    pub fn apply(&self, summary: &mut CustomerSummary) {
        summary.score(&self.cuts);
        summary.second_order_gap_doubled = self.gap_doubled;
    }
}

impl CustomerSummary {
    /// The columns the RFM cuts are taken over.
    pub fn score_slices(&self) -> ScoreSlices<'_> {
        ScoreSlices {
            last_order_day: &self.last_order_day,
            orders: &self.orders,
            revenue_cents: &self.revenue_cents,
        }
    }

    /// Customer `c`'s RFM segment. Not stored: it follows from the scores,
    /// and a column of names took 16 bytes a customer.
    pub fn segment(&self, c: usize) -> &'static str {
        rfm_segment(self.r_score[c], self.f_score[c], self.m_score[c])
    }

    /// An empty summary with room for `n` customers in each column.
    pub fn with_capacity(n: usize) -> CustomerSummary {
        CustomerSummary {
            first_order_day: Vec::with_capacity(n),
            last_order_day: Vec::with_capacity(n),
            orders: Vec::with_capacity(n),
            revenue_cents: Vec::with_capacity(n),
            frequency: Vec::with_capacity(n),
            recency_days: Vec::with_capacity(n),
            tenure_days: Vec::with_capacity(n),
            repeat_cents: Vec::with_capacity(n),
            ..Default::default()
        }
    }

    /// Appends the customer of `row`, before RFM scoring.
    fn push(&mut self, r: &Row, as_of: i32) {
        self.first_order_day.push(r.first);
        self.last_order_day.push(r.last);
        self.orders.push(r.orders);
        self.revenue_cents.push(r.revenue);
        self.frequency.push(r.order_days - 1);
        self.recency_days.push((r.last - r.first) as i64);
        self.tenure_days.push((as_of - r.first) as i64);
        self.repeat_cents.push(r.repeat_cents);
    }

    /// Sets the R, F and M scores under `cuts` ([`quintile_cuts`] of the
    /// last order dates, the orders and the revenues of every customer).
    fn score(&mut self, [r, f, m]: &[Vec<i64>; 3]) {
        fn scores<T: Copy + Into<i64> + Sync>(cuts: &[i64], values: &[T]) -> Vec<i32> {
            values
                .par_iter()
                .map(|&v| quintile_score(cuts, v.into()))
                .collect()
        }
        self.r_score = scores(r, &self.last_order_day);
        self.f_score = scores(f, &self.orders);
        self.m_score = scores(m, &self.revenue_cents);
    }

    /// Appends the customers of `other` after these (scores too, when
    /// both are scored).
    pub fn append(&mut self, mut other: CustomerSummary) {
        self.first_order_day.append(&mut other.first_order_day);
        self.last_order_day.append(&mut other.last_order_day);
        self.orders.append(&mut other.orders);
        self.revenue_cents.append(&mut other.revenue_cents);
        self.frequency.append(&mut other.frequency);
        self.recency_days.append(&mut other.recency_days);
        self.tenure_days.append(&mut other.tenure_days);
        self.repeat_cents.append(&mut other.repeat_cents);
        self.r_score.append(&mut other.r_score);
        self.f_score.append(&mut other.f_score);
        self.m_score.append(&mut other.m_score);
    }
}

/// For each value, how many values are strictly below it: one sort of
/// (value, position) pairs and a sweep. (A binary search per value costs a
/// cache miss per step: minutes at tens of millions of customers.)
pub fn ranks_below<T: Copy + Send + Sync>(
    values: &[T],
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
) -> Vec<u32> {
    let mut order: Vec<(T, u32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, i as u32))
        .collect();
    order.par_sort_unstable_by(|a, b| cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut below = vec![0u32; values.len()];
    let mut first_equal = 0;
    for k in 0..order.len() {
        if k > 0 && cmp(&order[k].0, &order[k - 1].0).is_ne() {
            first_equal = k;
        }
        below[order[k].1 as usize] = first_equal as u32;
    }
    below
}

/// Named RFM segments, first matching rule wins:
///
/// | segment | rule |
/// | --- | --- |
/// | Champions | R ≥ 4, F ≥ 4, M ≥ 4 |
/// | Loyal | R ≥ 3, F ≥ 4 |
/// | New | R ≥ 4, F = 1 |
/// | Promising | R ≥ 4, F 2–3 |
/// | Need attention | R = 3 |
/// | Can't lose them | R ≤ 2, F ≥ 4, M ≥ 4 |
/// | At risk | R ≤ 2, F ≥ 3 |
/// | Hibernating | R = 2 |
/// | Lost | R = 1 |
pub fn rfm_segment(r: i32, f: i32, m: i32) -> &'static str {
    match (r, f, m) {
        (4.., 4.., 4..) => "Champions",
        (3.., 4.., _) => "Loyal",
        (4.., 1, _) => "New",
        (4.., _, _) => "Promising",
        (3, _, _) => "Need attention",
        (_, 4.., 4..) => "Can't lose them",
        (_, 3.., _) => "At risk",
        (2, _, _) => "Hibernating",
        _ => "Lost",
    }
}

/// Every segment name, in the order of the rules.
pub const SEGMENTS: [&str; 9] = [
    "Champions",
    "Loyal",
    "New",
    "Promising",
    "Need attention",
    "Can't lose them",
    "At risk",
    "Hibernating",
    "Lost",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_follows_lifetimes_conventions() {
        // Days 10, 10 (two orders), 15, a refund on 20, and 30.
        let row = summarize(&[10, 10, 15, 20, 30], &[500, 300, 200, -100, 400]);
        assert_eq!(row.orders, 4);
        assert_eq!(row.order_days, 3); // frequency 2
        assert_eq!(row.revenue, 1300);
        assert_eq!(row.repeat_cents, 600); // mean over repeat days = 3.00
        assert_eq!((row.first, row.last), (10, 30));
    }

    #[test]
    fn every_rfm_cell_has_a_segment() {
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    assert!(SEGMENTS.contains(&rfm_segment(r, f, m)));
                }
            }
        }
        assert_eq!(rfm_segment(5, 5, 5), "Champions");
        assert_eq!(rfm_segment(1, 5, 5), "Can't lose them");
        assert_eq!(rfm_segment(1, 1, 1), "Lost");
    }
}
