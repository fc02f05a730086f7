//! `cohort_retention` (one row per cohort × period after it) and
//! `retention_curve` (one row per period after acquisition), built from
//! the cohort stage's grid ([`CohortGrid`]); the period unit is the
//! pipeline's `cohort_period` (months, ISO weeks or quarters) and the
//! cohort column is named after it ([`cohort_column`]). Both are sliced by
//! `[columns] dimensions` (see [`super::dimensions`]). Every ratio is null
//! when its denominator is 0.

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::cohorts::{retention_curve, CohortGrid};
use crate::tables::schema::cohorts::{COHORT_RETENTION, RETENTION_CURVE};
use crate::tables::schema::col;
use crate::tables::schema::values::{money, ratio};

/// The rows of `cohort_retention`, column by column.
#[derive(Default)]
struct CohortRows {
    cohort_start: Vec<i32>,
    period: Vec<i64>,
    cohort_size: Vec<i64>,
    active: Vec<i64>,
    retention: Vec<Option<f64>>,
    orders: Vec<i64>,
    revenue_cents: Vec<i64>,
    per_customer: Vec<Option<f64>>,
    cumulative: Vec<Option<f64>>,
    complete: Vec<bool>,
    unbounded: Vec<i64>,
    unbounded_rate: Vec<Option<f64>>,
}

impl CohortRows {
    /// Cohort `c`'s rows, periods 0 ..= as_of's period.
    fn push_cohort(&mut self, grid: &CohortGrid, calendar: &Calendar, c: usize) {
        let size = grid.cohort_size[c];
        // A sum over some of the cohort's entries: cannot wrap (see
        // `orders::MAX_ACCEPTED_VOLUME_CENTS`).
        let mut running_cents = 0i64;
        for k in 0..grid.active[c].len() {
            let cents = grid.revenue_cents[c][k];
            running_cents += cents;
            self.cohort_start.push(calendar.start(c));
            self.period.push(k as i64);
            self.cohort_size.push(size);
            self.active.push(grid.active[c][k]);
            self.retention.push(ratio(grid.active[c][k] as f64, size));
            self.unbounded.push(grid.unbounded[c][k]);
            self.unbounded_rate
                .push(ratio(grid.unbounded[c][k] as f64, size));
            self.orders.push(grid.orders[c][k]);
            self.revenue_cents.push(cents);
            self.per_customer.push(ratio(money(cents), size));
            self.cumulative.push(ratio(money(running_cents), size));
            self.complete.push(calendar.is_complete(c + k));
        }
    }
}

/// The `cohort_retention` table: cohorts with at least one customer, each
/// with periods 0 ..= as_of's period, sorted by cohort, period. The cohort
/// column is named after the unit (`cohort_month`, `cohort_week`,
/// `cohort_quarter`) and holds the cohort period's first day.
pub fn cohort_retention_table(grid: &CohortGrid, calendar: &Calendar) -> Result<DataFrame> {
    let mut rows = CohortRows::default();
    for c in 0..calendar.len() {
        if grid.cohort_size[c] > 0 {
            rows.push_cohort(grid, calendar, c);
        }
    }
    let mut frame = FrameBuilder::new(&COHORT_RETENTION, rows.period.len())
        .dates(col::COHORT_MONTH, rows.cohort_start)?
        .add(col::PERIOD, rows.period)?
        .add(col::COHORT_SIZE, rows.cohort_size)?
        .add(col::ACTIVE_CUSTOMERS, rows.active)?
        .add(col::RETENTION_RATE, rows.retention)?
        .add(col::ORDERS, rows.orders)?
        .money(col::REVENUE, &rows.revenue_cents)?
        .add(col::REVENUE_PER_CUSTOMER, rows.per_customer)?
        .add(col::CUMULATIVE_REVENUE_PER_CUSTOMER, rows.cumulative)?
        .add(col::PERIOD_COMPLETE, rows.complete)?
        .add(col::UNBOUNDED_ACTIVE_CUSTOMERS, rows.unbounded)?
        .add(col::UNBOUNDED_RETENTION_RATE, rows.unbounded_rate)?
        .finish()?;
    // Declared as `cohort_month`; published under the unit's name.
    let published = COHORT_RETENTION.published_name(col::COHORT_MONTH, calendar.unit);
    frame.rename(col::COHORT_MONTH, published.into())?;
    Ok(frame)
}

/// The `retention_curve` table: for each period k from 0 to the longest
/// period, the cohorts whose period k is complete, their customers, how
/// many were active in period k (and in period k or later), and the
/// weighted rates retained / customers (null when no cohort has completed
/// period k).
pub fn retention_curve_table(grid: &CohortGrid, calendar: &Calendar) -> Result<DataFrame> {
    let curve = retention_curve(grid, calendar);
    let periods = calendar.len();
    let rate = |counts: &[i64]| -> Vec<Option<f64>> {
        (0..periods)
            .map(|k| ratio(counts[k] as f64, curve.customers[k]))
            .collect()
    };
    FrameBuilder::new(&RETENTION_CURVE, periods)
        .add(col::PERIOD, (0..periods as i64).collect::<Vec<_>>())?
        .add(col::COHORTS, curve.cohorts.clone())?
        .add(col::CUSTOMERS, curve.customers.clone())?
        .add(col::RETAINED, curve.retained.clone())?
        .add(col::RETENTION_RATE, rate(&curve.retained))?
        .add(col::UNBOUNDED_RETAINED, curve.unbounded.clone())?
        .add(col::UNBOUNDED_RETENTION_RATE, rate(&curve.unbounded))?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::cohorts::cohort_grid;
    use crate::stages::cohorts::tests::history;
    use crate::tables::schema::Options;
    use crate::time::CohortPeriod;

    #[test]
    fn cohort_tables_conform_to_their_declarations_in_every_unit() {
        let h = history();
        for unit in [
            CohortPeriod::Month,
            CohortPeriod::Week,
            CohortPeriod::Quarter,
        ] {
            let calendar = Calendar::of_unit(&h, unit);
            let grid = cohort_grid(&h, &calendar).unwrap();
            let options = Options {
                cohort_period: unit,
                ..Options::default()
            };
            let table = cohort_retention_table(&grid, &calendar).unwrap();
            COHORT_RETENTION.conforms(&table, &options).unwrap();
            let curve = retention_curve_table(&grid, &calendar).unwrap();
            RETENTION_CURVE.conforms(&curve, &options).unwrap();
        }
    }

    #[test]
    fn the_cohort_column_names_its_period() {
        use crate::tables::schema::{cohort_column, period_of_cohort_column};
        // Moved from `time`, where it tested `CohortPeriod::from_cohort_column`.
        assert_eq!(
            period_of_cohort_column(col::COHORT_WEEK),
            Some(CohortPeriod::Week)
        );
        for unit in [
            CohortPeriod::Month,
            CohortPeriod::Week,
            CohortPeriod::Quarter,
        ] {
            assert_eq!(period_of_cohort_column(cohort_column(unit)), Some(unit));
        }
        assert_eq!(period_of_cohort_column(col::PERIOD), None);
    }

    #[test]
    fn weekly_tables_name_the_cohort_column_and_count_unbounded_retention() {
        let h = history();
        let calendar = Calendar::of_unit(&h, CohortPeriod::Week);
        let grid = cohort_grid(&h, &calendar).unwrap();
        let table = cohort_retention_table(&grid, &calendar).unwrap();
        assert!(table.column(col::COHORT_WEEK).is_ok());
        let curve = retention_curve_table(&grid, &calendar).unwrap();
        // Weeks 0-2 are complete (2024-01-21 <= as_of); week 3 is not.
        let unbounded: Vec<i64> = curve
            .column(col::UNBOUNDED_RETAINED)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(unbounded, vec![2, 1, 1, 0]);
    }
}
