//! Cohorts: the `cohort_retention` grid (one row per cohort × period,
//! every period from 0 to as_of's period, zero rows kept) and the
//! `retention_curve` (one row per period, weighted over the cohorts whose
//! period is complete).
//!
//! The period unit is the pipeline's `cohort_period` (the calendar's unit):
//! months, ISO weeks or quarters. A cohort is the period of a customer's
//! first order. Period k of an order is the number of whole periods from
//! the cohort period to the order's period. Refunds count in revenue only,
//! in the period of their own date.
//!
//! Two retention counts per cohort × period k:
//! - bounded (`active_customers`): cohort customers with an order in
//!   period k;
//! - unbounded (`unbounded_active_customers`): cohort customers with an
//!   order in period k or any later period up to as_of, i.e. whose last
//!   order is in period k or later. It is taken at as_of, so it can still
//!   grow for every k while time passes (not only in incomplete periods);
//!   it never increases with k, it is at least the bounded count, and it
//!   equals cohort_size at k = 0.
//!
//! This stage produces the integer [`CohortGrid`] and the curve's
//! [`CurveCounts`]; the tables and their ratios are built by
//! `tables::cohorts`.

use std::ops::Range;

use crate::error::Result;
use crate::stages::calendar::{check_shift, first_order_day_of, Calendar};
use crate::stages::orders::{EntriesView, OrderHistory};

/// Integer totals per cohort × period, indexed `[cohort][period]` by
/// calendar positions (a cohort's period k is calendar period cohort + k).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CohortGrid {
    pub cohort_size: Vec<i64>,
    pub active: Vec<Vec<i64>>,
    /// Customers whose last order is in period k or later.
    pub unbounded: Vec<Vec<i64>>,
    pub orders: Vec<Vec<i64>>,
    pub revenue_cents: Vec<Vec<i64>>,
}

impl CohortGrid {
    pub fn zero(periods: usize) -> CohortGrid {
        CohortGrid {
            cohort_size: vec![0; periods],
            active: (0..periods).map(|c| vec![0; periods - c]).collect(),
            unbounded: (0..periods).map(|c| vec![0; periods - c]).collect(),
            orders: (0..periods).map(|c| vec![0; periods - c]).collect(),
            revenue_cents: (0..periods).map(|c| vec![0; periods - c]).collect(),
        }
    }

    fn add(mut self, other: CohortGrid) -> CohortGrid {
        self.add_from(&other);
        self
    }

    /// Adds `other` cell by cell (same calendar). Revenue cannot wrap when
    /// the two grids count different customers (as every caller does): a
    /// cell then adds each accepted entry at most once, bounded by the run's
    /// Σ |cents| (`orders::MAX_ACCEPTED_VOLUME_CENTS`).
    pub fn add_from(&mut self, other: &CohortGrid) {
        self.add_at(other, 0);
    }

    /// Adds `other`, counted on a calendar of the same unit and as_of that
    /// starts `offset` periods later (a customer partition's own, from its
    /// earliest first order): its cohort c is this grid's c + offset, with
    /// as many periods. Both as counted, or both [`finished`]. Fails when
    /// the calendars do not line up so.
    pub fn add_shifted(&mut self, other: &CohortGrid, offset: usize) -> Result<()> {
        let periods = (other.cohort_size.len(), self.cohort_size.len());
        check_shift("cohort counts", periods.0, offset, periods.1)?;
        self.add_at(other, offset);
        Ok(())
    }

    /// Adds `other`'s cohort c to this grid's c + `offset`.
    fn add_at(&mut self, other: &CohortGrid, offset: usize) {
        for c in 0..other.cohort_size.len() {
            let to = c + offset;
            self.cohort_size[to] += other.cohort_size[c];
            for k in 0..other.active[c].len() {
                self.active[to][k] += other.active[c][k];
                self.unbounded[to][k] += other.unbounded[c][k];
                self.orders[to][k] += other.orders[c][k];
                self.revenue_cents[to][k] += other.revenue_cents[c][k];
            }
        }
    }
}

/// The grid of one part's customers (`entries`) on `calendar`, as counted
/// (not yet [`finished`]): what a cluster's executor counts of its
/// partition while it holds the entries, on the partition's own calendar.
pub fn counted_part(entries: EntriesView<'_>, calendar: &Calendar) -> CohortGrid {
    let mut one = counted_part_by_group(entries, calendar, 1, |_| Some(0));
    one.pop().expect("one group")
}

/// [`counted_part`] of each of `groups` groups of the part's customers:
/// customer `i` is counted in group `group_of(i)`, or nowhere for `None`.
pub fn counted_part_by_group(
    entries: EntriesView<'_>,
    calendar: &Calendar,
    groups: usize,
    group_of: impl Fn(usize) -> Option<usize>,
) -> Vec<CohortGrid> {
    let mut grids = vec![CohortGrid::zero(calendar.len()); groups];
    for (i, (days, cents)) in entries.iter().enumerate() {
        if let Some(g) = group_of(i) {
            count_customer(&mut grids[g], days, cents, calendar);
        }
    }
    grids
}

/// Counts every customer into the grid, in parallel over the history's
/// parts; integer sums make the result independent of how the work is
/// split. The calendar's unit is the cohort period.
pub fn cohort_grid(history: &OrderHistory, calendar: &Calendar) -> Result<CohortGrid> {
    let periods = calendar.len();
    let grid = history.fold_customers(
        || CohortGrid::zero(periods),
        |grid, days, cents| count_customer(grid, days, cents, calendar),
        CohortGrid::add,
    )?;
    Ok(finished(grid))
}

/// [`cohort_grid`] of each of a dimension's value slices: `by_value` is
/// the dimension and the groups of its values
/// (`OrderHistory::fold_by_value`), one grid each.
pub fn cohort_grids_by_value(
    history: &OrderHistory,
    calendar: &Calendar,
    by_value: (usize, Range<usize>),
) -> Result<Vec<CohortGrid>> {
    let periods = calendar.len();
    let grids = history.fold_by_value(
        by_value,
        || CohortGrid::zero(periods),
        |grid, days, cents| count_customer(grid, days, cents, calendar),
        CohortGrid::add,
    )?;
    Ok(grids.into_iter().map(finished).collect())
}

/// A grid as counted made final: while counting, `unbounded[c][k]` holds
/// the customers whose last order is in period k (one cell per customer,
/// however many periods they span); the suffix sums turn it into "period
/// k or later".
pub fn finished(mut grid: CohortGrid) -> CohortGrid {
    for row in &mut grid.unbounded {
        let mut later = 0;
        for cell in row.iter_mut().rev() {
            later += *cell;
            *cell = later;
        }
    }
    grid
}

/// Adds the customer with entries `days`, `cents` to `grid`.
fn count_customer(grid: &mut CohortGrid, days: &[i32], cents: &[i64], calendar: &Calendar) {
    let Some(first) = first_order_day_of(days, cents) else {
        return;
    };
    let cohort = calendar.position_of_day(first);
    grid.cohort_size[cohort] += 1;
    let mut last_active_period = usize::MAX;
    let mut last_k = 0;
    for (&day, &amount) in days.iter().zip(cents) {
        let position = calendar.position_of_day(day);
        let k = position - cohort;
        grid.revenue_cents[cohort][k] += amount;
        if amount >= 0 {
            grid.orders[cohort][k] += 1;
            if last_active_period != position {
                grid.active[cohort][k] += 1;
                last_active_period = position;
            }
            last_k = k;
        }
    }
    grid.unbounded[cohort][last_k] += 1;
}

/// The retention curve's totals per period k (0 ..= the longest period),
/// over the cohorts whose period k is complete: the `retention_curve`
/// table's counts (README "retention_curve").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveCounts {
    /// Cohorts (with customers) whose period k is complete.
    pub cohorts: Vec<i64>,
    /// Their total size.
    pub customers: Vec<i64>,
    /// Their customers active in period k.
    pub retained: Vec<i64>,
    /// Their customers with an order in period k or later.
    pub unbounded: Vec<i64>,
}

/// Sums the grid's cells over the cohorts whose period k is complete, for
/// each period k of the calendar.
pub fn retention_curve(grid: &CohortGrid, calendar: &Calendar) -> CurveCounts {
    let periods = calendar.len();
    let mut curve = CurveCounts {
        cohorts: vec![0; periods],
        customers: vec![0; periods],
        retained: vec![0; periods],
        unbounded: vec![0; periods],
    };
    for c in 0..periods {
        if grid.cohort_size[c] == 0 {
            continue;
        }
        for k in 0..grid.active[c].len() {
            if calendar.is_complete(c + k) {
                curve.cohorts[k] += 1;
                curve.customers[k] += grid.cohort_size[c];
                curve.retained[k] += grid.active[c][k];
                curve.unbounded[k] += grid.unbounded[c][k];
            }
        }
    }
    curve
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::time::{day_number, CohortPeriod};
    use chrono::NaiveDate;

    fn day(s: &str) -> i32 {
        day_number(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    /// Customer `a`: orders in weeks 0 and 2 of their cohort and a refund
    /// in week 3; customer `b` (same cohort): one order in week 1.
    pub(crate) fn history() -> OrderHistory {
        OrderHistory::from_rows(
            day("2024-01-24"),
            &[
                ("a", day("2024-01-01"), 1000),
                ("a", day("2024-01-21"), 500),
                ("a", day("2024-01-23"), -300),
                ("b", day("2024-01-07"), 0),
            ],
        )
    }

    #[test]
    fn unbounded_counts_the_last_order_period_and_later_ones() {
        let h = history();
        let calendar = Calendar::of_unit(&h, CohortPeriod::Week);
        assert_eq!(calendar.len(), 4);
        let grid = cohort_grid(&h, &calendar).unwrap();
        assert_eq!(grid.cohort_size[0], 2);
        // a: weeks 0 and 2 (the 2024-01-21 Sunday is still week 2);
        // b: its zero order on Sunday 2024-01-07 is week 0.
        assert_eq!(grid.active[0], vec![2, 0, 1, 0]);
        // The refund in week 3 is not an order.
        assert_eq!(grid.unbounded[0], vec![2, 1, 1, 0]);
        assert_eq!(grid.revenue_cents[0], vec![1000, 0, 500, -300]);
        let curve = retention_curve(&grid, &calendar);
        // Weeks 0-2 are complete (2024-01-21 <= as_of); week 3 is not.
        assert_eq!(curve.unbounded, vec![2, 1, 1, 0]);
    }
}
