//! Customers: one row per customer with the BTYD summary (frequency,
//! recency, tenure, monetary value, as in the `lifetimes` package with daily
//! periods), revenue net of refunds, and RFM scores and segment.
//!
//! RFM scores are quintiles over all customers, ties sharing a score:
//! `score = 1 + ⌊5 · (customers with a strictly worse value) / customers⌋`,
//! where worse means more days since the last order (R), fewer orders (F)
//! or less revenue (M). The named segment follows [`rfm_segment`].
//!
//! This stage produces the [`CustomerSummary`]; the `customers` table is
//! built from it by `tables::customers`.

use rayon::prelude::*;

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

/// Builds the summary of every customer in `history`.
pub fn summarize_customers(history: &OrderHistory) -> CustomerSummary {
    summarize_in_chunks(history, SUMMARY_CHUNK)
}

/// [`summarize_customers`], `chunk` customers at a time.
fn summarize_in_chunks(history: &OrderHistory, chunk: usize) -> CustomerSummary {
    let n = history.customers();
    let as_of = history.as_of;
    let mut s = CustomerSummary::with_capacity(n);
    let mut gaps = Vec::new();
    for start in (0..n).step_by(chunk) {
        let rows: Vec<Row> = (start..n.min(start + chunk))
            .into_par_iter()
            .map(|c| {
                let (days, cents) = history.of(c);
                summarize(days, cents)
            })
            .collect();
        s.push(&rows, as_of);
        // Entries are in date order: the first order is the earliest.
        gaps.extend(
            rows.iter()
                .filter_map(|r| r.second.map(|d| (d - r.first) as i64)),
        );
    }
    s.second_order_gap_doubled = doubled_median(gaps);
    // Fewer days since the last order is better: score the negation of
    // the days since it.
    let recency_goodness: Vec<i64> = s
        .last_order_day
        .iter()
        .map(|&last| last as i64 - as_of as i64)
        .collect();
    s.r_score = quintile_scores(&recency_goodness);
    drop(recency_goodness);
    s.f_score = quintile_scores(&s.orders);
    s.m_score = quintile_scores(&s.revenue_cents);
    s
}

/// Customers summarized at a time: only one chunk's rows are held beside
/// the summary's columns (all of them took 0.9 GiB at 19 M customers).
const SUMMARY_CHUNK: usize = 1 << 20;

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

    /// Appends the customers of `rows`, before RFM scoring.
    fn push(&mut self, rows: &[Row], as_of: i32) {
        self.first_order_day.extend(rows.iter().map(|r| r.first));
        self.last_order_day.extend(rows.iter().map(|r| r.last));
        self.orders.extend(rows.iter().map(|r| r.orders));
        self.revenue_cents.extend(rows.iter().map(|r| r.revenue));
        self.frequency.extend(rows.iter().map(|r| r.order_days - 1));
        self.recency_days
            .extend(rows.iter().map(|r| (r.last - r.first) as i64));
        self.tenure_days
            .extend(rows.iter().map(|r| (as_of - r.first) as i64));
        self.repeat_cents
            .extend(rows.iter().map(|r| r.repeat_cents));
    }
}

/// The median of the values, doubled so it stays an integer (exact for
/// the mean of the middle two).
fn doubled_median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let (_, &mut upper, _) = values.select_nth_unstable(n / 2);
    let lower = match n % 2 {
        1 => upper,
        _ => *values[..n / 2].iter().max().expect("n is even and not 0"),
    };
    Some(lower + upper)
}

/// `1 + ⌊5 · (values strictly below) / n⌋` for each value: equal values get
/// equal scores, the result does not depend on input order.
pub fn quintile_scores(values: &[i64]) -> Vec<i32> {
    let n = values.len().max(1);
    ranks_below(values, i64::cmp)
        .into_iter()
        .map(|below| 1 + (5 * below as usize / n) as i32)
        .collect()
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
    fn median_is_doubled_and_exact() {
        assert_eq!(doubled_median(vec![]), None);
        assert_eq!(doubled_median(vec![7]), Some(14));
        assert_eq!(doubled_median(vec![10, 3]), Some(13));
        assert_eq!(doubled_median(vec![5, 1, 9, 30]), Some(14));
    }

    proptest::proptest! {
        /// Against the middle of the sorted values.
        #[test]
        fn median_is_that_of_the_sorted_values(values in proptest::collection::vec(-50i64..50, 1..40)) {
            let mut sorted = values.clone();
            sorted.sort();
            let n = sorted.len();
            proptest::prop_assert_eq!(
                doubled_median(values),
                Some(sorted[(n - 1) / 2] + sorted[n / 2])
            );
        }
    }

    /// The chunk size changes nothing: chunks of 1, 2 and 3 customers of
    /// 7 give the summary of one chunk.
    #[test]
    fn summary_is_the_same_in_any_chunks() {
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
        let history = OrderHistory::from_rows(40, &rows);
        let whole = summarize_in_chunks(&history, usize::MAX);
        for chunk in [1, 2, 3] {
            assert_eq!(summarize_in_chunks(&history, chunk), whole, "chunk {chunk}");
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
            summarize_customers(&history).second_order_gap_doubled,
            Some(10)
        );
        let one = OrderHistory::from_rows(100, &[("c", 7, 100), ("c", 9, -100)]);
        assert_eq!(summarize_customers(&one).second_order_gap_doubled, None);
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
    fn quintiles_share_scores_on_ties() {
        assert_eq!(
            quintile_scores(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(quintile_scores(&[7, 7, 7]), vec![1, 1, 1]);
        assert_eq!(quintile_scores(&[1, 1, 1, 1, 9]), vec![1, 1, 1, 1, 5]);
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
