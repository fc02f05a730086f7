//! Customers: one row per customer with the BTYD summary (frequency,
//! recency, tenure, monetary value, as in the `lifetimes` package with daily
//! periods), revenue net of refunds, and RFM scores and segment.
//!
//! RFM scores are quintiles over all customers, ties sharing a score:
//! `score = 1 + ⌊5 · (customers with a strictly worse value) / customers⌋`,
//! where worse means more days since the last order (R), fewer orders (F)
//! or less revenue (M). The named segment follows [`rfm_segment`].
//!
//! Each customer partition is summarized on its own; the partitions are
//! then merged, the RFM cuts and the median second-order gap being exact
//! order statistics of their columns (`order_statistics`), so this is the
//! shape the per-partition passes of a run within the budget (or on a
//! cluster's executors) take.
//!
//! This stage produces the [`CustomerSummary`]; the `customers` table is
//! built from it by `tables::customers`.

use rayon::prelude::*;

use crate::error::Result;
use crate::stages::order_statistics::{doubled_median, quintile_cuts, quintile_score};
use crate::stages::orders::OrderHistory;

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

/// Builds the summary of every customer in `history`: each customer
/// partition summarized on its own, then merged.
pub fn summarize_customers(history: &OrderHistory) -> Result<CustomerSummary> {
    summarize_in_batches(history, SUMMARY_BATCH)
}

/// [`summarize_customers`], partitions of about `batch` customers at a
/// time.
fn summarize_in_batches(history: &OrderHistory, batch: usize) -> Result<CustomerSummary> {
    let mut all = CustomerSummary::with_capacity(history.customers());
    let mut gaps = Vec::new();
    for batch in part_batches(history, batch) {
        let parts: Vec<PartSummary> = batch
            .into_par_iter()
            .map(|p| history.with_part(p, |e| summarize_part(e.iter(), history.as_of)))
            .collect::<Result<_>>()?;
        for part in parts {
            all.append(part.summary);
            gaps.push(part.gaps);
        }
    }
    Ok(merge_scores(all, &gaps))
}

/// Customers summarized at a time, about: only a batch of partitions'
/// summaries is held beside the joined columns (all of them beside the
/// columns took the peak of a 100 M-order run from 4.5 to 5.3 GiB under a
/// 4 GiB budget).
const SUMMARY_BATCH: usize = 2 << 20;

/// The history's partitions in runs of consecutive ones holding about
/// `customers` customers (at least one partition a run).
fn part_batches(history: &OrderHistory, customers: usize) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut held) = (0, 0);
    for p in 0..history.part_count() {
        held += history.customers_of_part(p);
        if held >= customers || p + 1 == history.part_count() {
            batches.push(start..p + 1);
            (start, held) = (p + 1, 0);
        }
    }
    batches
}

/// One customer partition's summary before RFM scoring (the scores
/// depend on every partition's values), with its customers' days from
/// the first to the second order.
struct PartSummary {
    summary: CustomerSummary,
    gaps: Vec<i64>,
}

/// The summary of the customers whose entries are `entries`, in code
/// order, on `as_of`.
fn summarize_part<'h>(
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

/// The summary of every partition joined (`all`), scored: the median
/// gap and the RFM cuts are order statistics over the partitions'
/// values (`gaps` holds each partition's), exact as if taken over one
/// column.
fn merge_scores(mut all: CustomerSummary, gaps: &[Vec<i64>]) -> CustomerSummary {
    let gaps: Vec<&[i64]> = gaps.iter().map(Vec::as_slice).collect();
    all.second_order_gap_doubled = doubled_median(&gaps);
    // Fewer days since the last order is better, so a later last order
    // scores higher: the same order as that of the last order's dates.
    let cuts = [
        quintile_cuts(&[all.last_order_day.as_slice()]),
        quintile_cuts(&[all.orders.as_slice()]),
        quintile_cuts(&[all.revenue_cents.as_slice()]),
    ];
    all.score(&cuts);
    all
}

impl CustomerSummary {
    /// Customer `c`'s RFM segment. Not stored: it follows from the scores,
    /// and a column of names took 16 bytes a customer.
    pub fn segment(&self, c: usize) -> &'static str {
        rfm_segment(self.r_score[c], self.f_score[c], self.m_score[c])
    }

    /// An empty summary with room for `n` customers in each column.
    fn with_capacity(n: usize) -> CustomerSummary {
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

    /// Appends the customers of `other` (before scoring) after these.
    fn append(&mut self, mut other: CustomerSummary) {
        self.first_order_day.append(&mut other.first_order_day);
        self.last_order_day.append(&mut other.last_order_day);
        self.orders.append(&mut other.orders);
        self.revenue_cents.append(&mut other.revenue_cents);
        self.frequency.append(&mut other.frequency);
        self.recency_days.append(&mut other.recency_days);
        self.tenure_days.append(&mut other.tenure_days);
        self.repeat_cents.append(&mut other.repeat_cents);
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
    use crate::stages::orders::HistoryPart;

    /// How the customers are split into partitions, and the partitions
    /// into batches, changes nothing: one part, one customer a part, and
    /// parts of two and three customers with empty parts between them, in
    /// batches of 1, 2 and 3 customers, give the summary of one part.
    #[test]
    fn summary_is_the_same_in_any_parts() {
        let rows: Vec<(String, i32, i64)> = (0..20)
            .map(|i| {
                (
                    format!("c{}", i % 7),
                    (i * 13) % 17,
                    (i as i64 * 37) % 23 - 5,
                )
            })
            .collect();
        let rows: Vec<(&str, i32, i64)> =
            rows.iter().map(|(c, d, x)| (c.as_str(), *d, *x)).collect();
        let whole = summarize_customers(&OrderHistory::from_rows(40, &rows)).unwrap();
        assert_eq!(whole.orders.len(), 7);
        for per_part in [1, 2, 3] {
            let mut parts = vec![HistoryPart::default()];
            for first in (0..7).step_by(per_part) {
                let ids: Vec<String> = (first..7.min(first + per_part))
                    .map(|c| format!("c{c}"))
                    .collect();
                let of_part: Vec<_> = rows
                    .iter()
                    .copied()
                    .filter(|(c, _, _)| ids.iter().any(|id| id == c))
                    .collect();
                parts.push(HistoryPart::from_rows(&of_part));
                parts.push(HistoryPart::default());
            }
            let history = OrderHistory::of_parts(parts, 40, []);
            for batch in [1, 2, 3, SUMMARY_BATCH] {
                let summary = summarize_in_batches(&history, batch).unwrap();
                assert_eq!(summary, whole, "{per_part} a part, batches of {batch}");
            }
        }
    }

    /// The second order is the second entry that is not a refund, even on
    /// the first order's day; one order and refunds give no gap.
    #[test]
    fn second_order_gap_skips_refunds() {
        let history = OrderHistory::from_rows(
            100,
            &[
                ("a", 10, 500),
                ("a", 12, -500),
                ("a", 20, 700),
                ("a", 30, 100),
                ("b", 5, 100),
                ("b", 5, 200),
                ("c", 7, 100),
                ("c", 9, -100),
            ],
        );
        // Gaps 10 (a) and 0 (b): median 5, doubled 10.
        assert_eq!(
            summarize_customers(&history)
                .unwrap()
                .second_order_gap_doubled,
            Some(10)
        );
        let one = OrderHistory::from_rows(100, &[("c", 7, 100), ("c", 9, -100)]);
        assert_eq!(
            summarize_customers(&one).unwrap().second_order_gap_doubled,
            None
        );
    }

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
