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

use polars::prelude::*;
use rayon::prelude::*;

use crate::error::Result;
use crate::stages::calendar::{first_order_day, Calendar};
use crate::stages::orders::OrderHistory;
use crate::tables::values::{money, ratio};

/// Integer totals per cohort × period, indexed `[cohort][period]` by
/// calendar positions (a cohort's period k is calendar period cohort + k).
#[derive(Debug, Clone, PartialEq)]
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
        for c in 0..self.cohort_size.len() {
            self.cohort_size[c] += other.cohort_size[c];
            for k in 0..self.active[c].len() {
                self.active[c][k] += other.active[c][k];
                self.unbounded[c][k] += other.unbounded[c][k];
                self.orders[c][k] += other.orders[c][k];
                self.revenue_cents[c][k] += other.revenue_cents[c][k];
            }
        }
    }
}

/// Counts every customer into the grid, in parallel over customers; integer
/// sums make the result independent of how the work is split. The
/// calendar's unit is the cohort period.
pub fn cohort_grid(history: &OrderHistory, calendar: &Calendar) -> CohortGrid {
    grid_over(history.customers(), |i| i, history, calendar)
}

/// [`cohort_grid`] over the customers `members` (history indices) only: one
/// slice of a dimension.
pub fn cohort_grid_of(history: &OrderHistory, calendar: &Calendar, members: &[u32]) -> CohortGrid {
    grid_over(members.len(), |i| members[i] as usize, history, calendar)
}

/// Counts customers `customer_at(0 .. count)`. One grid per thread, each
/// over a contiguous share of the customers: a grid is cohorts × periods
/// cells, and rayon's `fold` would make one per work split (sixteen and
/// more on two threads), multiplying the stage's memory.
fn grid_over(
    count: usize,
    customer_at: impl Fn(usize) -> usize + Sync,
    history: &OrderHistory,
    calendar: &Calendar,
) -> CohortGrid {
    let periods = calendar.len();
    let shares = rayon::current_num_threads().clamp(1, count.max(1));
    let share = count.div_ceil(shares);
    let mut grid = (0..shares)
        .into_par_iter()
        .map(|s| {
            let mut grid = CohortGrid::zero(periods);
            for i in s * share..((s + 1) * share).min(count) {
                count_customer(&mut grid, customer_at(i), history, calendar);
            }
            grid
        })
        .reduce(|| CohortGrid::zero(periods), CohortGrid::add);
    // While counting, `unbounded[c][k]` holds the customers whose last
    // order is in period k (one cell per customer, however many periods
    // they span); the suffix sums turn it into "period k or later".
    for row in &mut grid.unbounded {
        let mut later = 0;
        for cell in row.iter_mut().rev() {
            later += *cell;
            *cell = later;
        }
    }
    grid
}

/// Adds customer `c` (a history index) to `grid`.
fn count_customer(grid: &mut CohortGrid, c: usize, history: &OrderHistory, calendar: &Calendar) {
    let Some(first) = first_order_day(history, c) else {
        return;
    };
    let cohort = calendar.position_of_day(first);
    grid.cohort_size[cohort] += 1;
    let (days, cents) = history.of(c);
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

/// The `cohort_retention` table: cohorts with at least one customer, each
/// with periods 0 ..= as_of's period, sorted by cohort, period. The cohort
/// column is named after the unit (`cohort_month`, `cohort_week`,
/// `cohort_quarter`) and holds the cohort period's first day.
pub fn cohort_retention_table(grid: &CohortGrid, calendar: &Calendar) -> Result<DataFrame> {
    let mut cohort_start = Vec::new();
    let mut period = Vec::new();
    let mut cohort_size = Vec::new();
    let mut active = Vec::new();
    let mut retention = Vec::new();
    let mut unbounded = Vec::new();
    let mut unbounded_rate = Vec::new();
    let mut orders = Vec::new();
    let mut revenue = Vec::new();
    let mut per_customer = Vec::new();
    let mut cumulative = Vec::new();
    let mut complete = Vec::new();
    for c in 0..calendar.len() {
        let size = grid.cohort_size[c];
        if size == 0 {
            continue;
        }
        // A sum over some of the cohort's entries: cannot wrap (see
        // `orders::MAX_ACCEPTED_VOLUME_CENTS`).
        let mut running_cents = 0i64;
        for k in 0..grid.active[c].len() {
            running_cents += grid.revenue_cents[c][k];
            cohort_start.push(calendar.start(c));
            period.push(k as i64);
            cohort_size.push(size);
            active.push(grid.active[c][k]);
            retention.push(ratio(grid.active[c][k] as f64, size));
            unbounded.push(grid.unbounded[c][k]);
            unbounded_rate.push(ratio(grid.unbounded[c][k] as f64, size));
            orders.push(grid.orders[c][k]);
            revenue.push(money(grid.revenue_cents[c][k]));
            per_customer.push(ratio(money(grid.revenue_cents[c][k]), size));
            cumulative.push(ratio(money(running_cents), size));
            complete.push(calendar.is_complete(c + k));
        }
    }
    let height = period.len();
    Ok(DataFrame::new(
        height,
        vec![
            Column::new(calendar.unit.cohort_column().into(), cohort_start)
                .cast(&DataType::Date)?,
            Column::new("period".into(), period),
            Column::new("cohort_size".into(), cohort_size),
            Column::new("active_customers".into(), active),
            Column::new("retention_rate".into(), retention),
            Column::new("orders".into(), orders),
            Column::new("revenue".into(), revenue),
            Column::new("revenue_per_customer".into(), per_customer),
            Column::new("cumulative_revenue_per_customer".into(), cumulative),
            Column::new("period_complete".into(), complete),
            Column::new("unbounded_active_customers".into(), unbounded),
            Column::new("unbounded_retention_rate".into(), unbounded_rate),
        ],
    )?)
}

/// The `retention_curve` table: for each period k from 0 to the longest
/// period, the cohorts whose period k is complete, their customers, how
/// many were active in period k (and in period k or later), and the
/// weighted rates retained / customers (null when no cohort has completed
/// period k).
pub fn retention_curve_table(grid: &CohortGrid, calendar: &Calendar) -> Result<DataFrame> {
    let periods = calendar.len();
    let mut cohorts = vec![0i64; periods];
    let mut customers = vec![0i64; periods];
    let mut retained = vec![0i64; periods];
    let mut unbounded = vec![0i64; periods];
    for c in 0..periods {
        if grid.cohort_size[c] == 0 {
            continue;
        }
        for k in 0..grid.active[c].len() {
            if calendar.is_complete(c + k) {
                cohorts[k] += 1;
                customers[k] += grid.cohort_size[c];
                retained[k] += grid.active[c][k];
                unbounded[k] += grid.unbounded[c][k];
            }
        }
    }
    let rate: Vec<Option<f64>> = (0..periods)
        .map(|k| ratio(retained[k] as f64, customers[k]))
        .collect();
    let unbounded_rate: Vec<Option<f64>> = (0..periods)
        .map(|k| ratio(unbounded[k] as f64, customers[k]))
        .collect();
    Ok(DataFrame::new(
        periods,
        vec![
            Column::new("period".into(), (0..periods as i64).collect::<Vec<_>>()),
            Column::new("cohorts".into(), cohorts),
            Column::new("customers".into(), customers),
            Column::new("retained".into(), retained),
            Column::new("retention_rate".into(), rate),
            Column::new("unbounded_retained".into(), unbounded),
            Column::new("unbounded_retention_rate".into(), unbounded_rate),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{day_number, CohortPeriod};
    use chrono::NaiveDate;

    fn day(s: &str) -> i32 {
        day_number(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    /// Customer `a`: orders in weeks 0 and 2 of their cohort and a refund
    /// in week 3; customer `b` (same cohort): one order in week 1.
    fn history() -> OrderHistory {
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
        let grid = cohort_grid(&h, &calendar);
        assert_eq!(grid.cohort_size[0], 2);
        // a: weeks 0 and 2 (the 2024-01-21 Sunday is still week 2);
        // b: its zero order on Sunday 2024-01-07 is week 0.
        assert_eq!(grid.active[0], vec![2, 0, 1, 0]);
        // The refund in week 3 is not an order.
        assert_eq!(grid.unbounded[0], vec![2, 1, 1, 0]);
        assert_eq!(grid.revenue_cents[0], vec![1000, 0, 500, -300]);
        let table = cohort_retention_table(&grid, &calendar).unwrap();
        assert!(table.column("cohort_week").is_ok());
        let curve = retention_curve_table(&grid, &calendar).unwrap();
        // Weeks 0-2 are complete (2024-01-21 <= as_of); week 3 is not.
        let unbounded: Vec<i64> = curve
            .column("unbounded_retained")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(unbounded, vec![2, 1, 1, 0]);
    }
}
