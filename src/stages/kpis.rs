//! Monthly KPIs: one row per calendar month from the first cohort month to
//! as_of's month (SPEC §4).
//!
//! Activity: a customer is active at date d when their first order is on or
//! before d and their latest order on or before d is fewer than W days
//! before d (d − last ≤ W − 1). S is taken the day before the month starts,
//! E on the month's last day (as_of for as_of's month). Refunds are not
//! activity and not orders; they only reduce the revenue of their month.
//!
//! This stage produces the integer [`MonthlyCounts`]; the `kpis_monthly`
//! table and its ratios are built from them by `tables::kpis`.

use std::ops::Range;

use crate::error::Result;
use crate::stages::calendar::{check_shift, Calendar};
use crate::stages::orders::{EntriesView, OrderHistory};

/// Integer counts per calendar month.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MonthlyCounts {
    pub customers_start: Vec<i64>,
    pub customers_end: Vec<i64>,
    pub new_customers: Vec<i64>,
    pub retained: Vec<i64>,
    pub purchasing_customers: Vec<i64>,
    pub orders: Vec<i64>,
    pub revenue_cents: Vec<i64>,
    pub returning_customers: Vec<i64>,
}

impl MonthlyCounts {
    pub fn zero(months: usize) -> MonthlyCounts {
        MonthlyCounts {
            customers_start: vec![0; months],
            customers_end: vec![0; months],
            new_customers: vec![0; months],
            retained: vec![0; months],
            purchasing_customers: vec![0; months],
            orders: vec![0; months],
            revenue_cents: vec![0; months],
            returning_customers: vec![0; months],
        }
    }

    fn add(mut self, other: MonthlyCounts) -> MonthlyCounts {
        self.add_from(&other);
        self
    }

    /// Every count column, in table order.
    pub fn columns(&self) -> [&Vec<i64>; 8] {
        [
            &self.customers_start,
            &self.customers_end,
            &self.new_customers,
            &self.retained,
            &self.purchasing_customers,
            &self.orders,
            &self.revenue_cents,
            &self.returning_customers,
        ]
    }

    /// Adds `other` month by month (same calendar). Revenue cannot wrap
    /// when the two count different customers (as every caller does): a
    /// month then adds each accepted entry at most once, bounded by the
    /// run's Σ |cents| (`orders::MAX_ACCEPTED_VOLUME_CENTS`).
    pub fn add_from(&mut self, other: &MonthlyCounts) {
        self.add_at(other, 0);
    }

    /// Adds `other`, counted on a month calendar with the same as_of that
    /// starts `offset` months later (a customer partition's own, from its
    /// earliest first order): its month m is this one's m + offset. Fails
    /// when the calendars do not line up so.
    pub fn add_shifted(&mut self, other: &MonthlyCounts, offset: usize) -> Result<()> {
        let months = (other.orders.len(), self.orders.len());
        check_shift("monthly counts", months.0, offset, months.1)?;
        self.add_at(other, offset);
        Ok(())
    }

    /// Adds `other`'s month m to this one's m + `offset`.
    fn add_at(&mut self, other: &MonthlyCounts, offset: usize) {
        let pairs = [
            (&mut self.customers_start, &other.customers_start),
            (&mut self.customers_end, &other.customers_end),
            (&mut self.new_customers, &other.new_customers),
            (&mut self.retained, &other.retained),
            (&mut self.purchasing_customers, &other.purchasing_customers),
            (&mut self.orders, &other.orders),
            (&mut self.revenue_cents, &other.revenue_cents),
            (&mut self.returning_customers, &other.returning_customers),
        ];
        for (mine, theirs) in pairs {
            for (a, b) in mine[offset..].iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }

    pub fn churned(&self, m: usize) -> i64 {
        self.customers_start[m] - self.retained[m]
    }

    pub fn reactivated(&self, m: usize) -> i64 {
        self.customers_end[m] - self.retained[m] - self.new_customers[m]
    }
}

/// Whether a customer whose order days (ascending, refunds excluded) are
/// `order_days` is active at `date`. `cursor` is the number of order days
/// on or before the previous (earlier or equal) date asked; it only moves
/// forward, so a customer's months are scanned in linear time.
fn active_at(order_days: &[i32], cursor: &mut usize, date: i32, window: i32) -> bool {
    while *cursor < order_days.len() && order_days[*cursor] <= date {
        *cursor += 1;
    }
    *cursor > 0 && date - order_days[*cursor - 1] < window
}

/// Adds one customer's months to `counts`.
fn count_customer(
    counts: &mut MonthlyCounts,
    days: &[i32],
    cents: &[i64],
    calendar: &Calendar,
    window: i32,
    order_days: &mut Vec<i32>,
) {
    order_days.clear();
    for (&d, &x) in days.iter().zip(cents) {
        if x >= 0 && order_days.last() != Some(&d) {
            order_days.push(d);
        }
    }
    let Some(&first) = order_days.first() else {
        return;
    };
    let last = *order_days.last().expect("non-empty");
    let cohort = calendar.position_of_day(first);
    counts.new_customers[cohort] += 1;

    // Activity at each month's start and end, from the cohort month to the
    // month after activity can last (later months see the customer inactive
    // at both dates).
    let last_relevant = calendar.position_of_day((last + window).min(calendar.as_of));
    let mut cursor = 0;
    for m in cohort..=last_relevant {
        let at_start = active_at(order_days, &mut cursor, calendar.start(m) - 1, window);
        let at_end = active_at(order_days, &mut cursor, calendar.end_or_as_of(m), window);
        counts.customers_start[m] += at_start as i64;
        counts.customers_end[m] += at_end as i64;
        counts.retained[m] += (at_start && at_end) as i64;
    }

    // Purchases and revenue per month.
    let mut last_purchase_month = usize::MAX;
    for (&day, &amount) in days.iter().zip(cents) {
        let m = calendar.position_of_day(day);
        counts.revenue_cents[m] += amount;
        if amount >= 0 {
            counts.orders[m] += 1;
            if last_purchase_month != m {
                counts.purchasing_customers[m] += 1;
                counts.returning_customers[m] += (m > cohort) as i64;
                last_purchase_month = m;
            }
        }
    }
}

/// The monthly counts of one part's customers (`entries`) on `calendar`:
/// what a cluster's executor counts of its partition while it holds the
/// entries, on the partition's own calendar.
pub fn counted_part(entries: EntriesView<'_>, calendar: &Calendar, window: u32) -> MonthlyCounts {
    let mut one = counted_part_by_group(entries, (calendar, window), 1, |_| Some(0));
    one.pop().expect("one group")
}

/// [`counted_part`] of each of `groups` groups of the part's customers:
/// customer `i` is counted in group `group_of(i)`, or nowhere for `None`.
pub fn counted_part_by_group(
    entries: EntriesView<'_>,
    (calendar, window): (&Calendar, u32),
    groups: usize,
    group_of: impl Fn(usize) -> Option<usize>,
) -> Vec<MonthlyCounts> {
    let mut counts = vec![MonthlyCounts::zero(calendar.len()); groups];
    let mut order_days = Vec::new();
    for (i, (days, cents)) in entries.iter().enumerate() {
        if let Some(g) = group_of(i) {
            let group = &mut counts[g];
            count_customer(group, days, cents, calendar, window as i32, &mut order_days);
        }
    }
    counts
}

/// Counts every customer's months, in parallel over the history's parts.
pub fn monthly_counts(
    history: &OrderHistory,
    calendar: &Calendar,
    window: u32,
) -> Result<MonthlyCounts> {
    let months = calendar.len();
    let (counts, _) = history.fold_customers(
        || (MonthlyCounts::zero(months), Vec::new()),
        |(counts, scratch), days, cents| {
            count_customer(counts, days, cents, calendar, window as i32, scratch)
        },
        |a, b| (a.0.add(b.0), a.1),
    )?;
    Ok(counts)
}

/// [`monthly_counts`] of each of a dimension's value slices: `by_value`
/// is the dimension and the groups of its values
/// (`OrderHistory::fold_by_value`), one count each. Each accumulator has
/// its scratch vector of order days.
pub fn monthly_counts_by_value(
    history: &OrderHistory,
    calendar: &Calendar,
    window: u32,
    by_value: (usize, Range<usize>),
) -> Result<Vec<MonthlyCounts>> {
    let months = calendar.len();
    let counts = history.fold_by_value(
        by_value,
        || (MonthlyCounts::zero(months), Vec::new()),
        |(counts, scratch), days, cents| {
            count_customer(counts, days, cents, calendar, window as i32, scratch)
        },
        |a, b| (a.0.add(b.0), a.1),
    )?;
    Ok(counts.into_iter().map(|(counts, _)| counts).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_window_edges() {
        let days = [100, 150];
        let mut cursor = 0;
        assert!(!active_at(&days, &mut cursor, 99, 40));
        assert!(active_at(&days, &mut cursor, 100, 40));
        assert!(active_at(&days, &mut cursor, 139, 40)); // 39 days after
        assert!(!active_at(&days, &mut cursor, 140, 40)); // 40 days after
        assert!(active_at(&days, &mut cursor, 150, 40));
    }
}
