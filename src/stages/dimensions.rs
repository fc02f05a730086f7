//! Dimensions: `cohort_retention`, `retention_curve` and `kpis_monthly`
//! sliced by the configured dimension columns (`[columns] dimensions`).
//!
//! Input: [`OrderHistory`] with each customer's value per dimension (the
//! value on their first order, see `orders::build_orders`). Output: the
//! slices, each a set of customers with one label per dimension, each
//! slice's cohort grid and monthly counts ([`for_each_slice`]), and the
//! checks that every dimension's values add up to the `(all)` slice. The
//! three tables, stacked slice by slice under one text column per
//! dimension, are built by `tables::dimensions`.
//!
//! Slices are grouping sets, one dimension at a time, not the cross
//! product: first the all-customers slice (`(all)` in every dimension
//! column), then for each dimension in configured order one slice per
//! value (values in byte order, then `(missing)` for null or blank), the
//! other dimension columns `(all)`. So `channel = 'email' AND country =
//! '(all)'` selects one slice, and summing a count column over the values
//! of one dimension gives the `(all)` slice. Every definition is applied
//! within a slice's customers, over the run's calendar (every slice has the
//! same months and periods as the whole run).
//!
//! A slice is a list of customer indices; its tables are computed by the
//! same per-customer code as the whole run, in parallel over the history's
//! parts (each reads the slice's customers it holds), without copying the
//! history.

use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::checks::{check, money_check, wide_sum, Check};
use crate::stages::cohorts::{cohort_grid_of, CohortGrid};
use crate::stages::kpis::{monthly_counts_of, MonthlyCounts};
use crate::stages::orders::OrderHistory;
use crate::stages::validate::NO_CODE;
use crate::tables::schema::cohorts::COHORT_RETENTION;
use crate::tables::schema::col;
use crate::tables::schema::kpis::KPIS_MONTHLY;

/// The integer cents the sliced tables' `revenue` column is summed in (a
/// name in the checks' labels).
const REVENUE_CENTS: &str = "revenue_cents";

/// The label of the all-customers slice in a dimension column.
pub const ALL: &str = "(all)";
/// The label of customers whose first order has no value (null or blank).
pub const MISSING: &str = "(missing)";

/// One slice: a label per dimension and its customers.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// One label per dimension, in configured order: [`ALL`] except for the
    /// dimension the slice is a value of.
    pub labels: Vec<String>,
    /// The dimension this slice is a value of; `None` for the `(all)` slice.
    pub dimension: Option<usize>,
    /// History indices of the slice's customers, ascending; `None` for the
    /// `(all)` slice (every customer).
    pub members: Option<Vec<u32>>,
}

/// The slices of a history in table order: `(all)`, then per dimension
/// its values that have customers (byte order, `(missing)` last). Without
/// dimensions, the `(all)` slice alone.
pub fn slices(history: &OrderHistory) -> Vec<Slice> {
    let n = history.dimensions.len();
    let mut out = vec![Slice {
        labels: vec![ALL.to_string(); n],
        dimension: None,
        members: None,
    }];
    for (d, dimension) in history.dimensions.iter().enumerate() {
        // Group customers by code; the missing value is the last group.
        let missing = dimension.values.len();
        let group = |code: u32| match code {
            NO_CODE => missing,
            code => code as usize,
        };
        let mut sizes = vec![0usize; missing + 1];
        for &code in &dimension.customer {
            sizes[group(code)] += 1;
        }
        let mut members: Vec<Vec<u32>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
        for (c, &code) in dimension.customer.iter().enumerate() {
            members[group(code)].push(c as u32);
        }
        for (v, customers) in members.into_iter().enumerate() {
            if customers.is_empty() {
                continue;
            }
            let mut labels = vec![ALL.to_string(); n];
            labels[d] = match v == missing {
                true => MISSING.to_string(),
                false => dimension.values[v].clone(),
            };
            out.push(Slice {
                labels,
                dimension: Some(d),
                members: Some(customers),
            });
        }
    }
    out
}

/// The whole run's inputs to slicing: the history, both calendars, the
/// activity window and the `(all)` slice's counts, already computed.
pub struct WholeRun<'a> {
    pub history: &'a OrderHistory,
    /// The cohort grid's calendar (the `cohort_period` unit).
    pub cohort_calendar: &'a Calendar,
    /// The month calendar of the KPIs.
    pub calendar: &'a Calendar,
    pub window: u32,
    pub grid: &'a CohortGrid,
    pub monthly: &'a MonthlyCounts,
}

/// Per dimension, the running sums over its value slices.
struct DimensionSums {
    grid: CohortGrid,
    monthly: MonthlyCounts,
}

/// Computes the cohort grid and monthly counts of every slice, in
/// `slices` order, and hands each to `visit` (which builds that slice's
/// tables); returns, per dimension, the checks that its values add up to
/// the `(all)` slice. Slices are computed one after another, each in
/// parallel over its customers, so only one slice's grid is held at a time
/// (plus one running sum per dimension for the checks).
pub fn for_each_slice(
    run: &WholeRun,
    slices: &[Slice],
    mut visit: impl FnMut(&Slice, &CohortGrid, &MonthlyCounts) -> Result<()>,
) -> Result<Vec<Check>> {
    let dimensions = &run.history.dimensions;
    let mut sums: Vec<DimensionSums> = dimensions
        .iter()
        .map(|_| DimensionSums {
            grid: CohortGrid::zero(run.cohort_calendar.len()),
            monthly: MonthlyCounts::zero(run.calendar.len()),
        })
        .collect();
    for slice in slices {
        let Some(members) = &slice.members else {
            visit(slice, run.grid, run.monthly)?;
            continue;
        };
        let grid = cohort_grid_of(run.history, run.cohort_calendar, members)?;
        let monthly = monthly_counts_of(run.history, run.calendar, run.window, members)?;
        visit(slice, &grid, &monthly)?;
        if let Some(d) = slice.dimension {
            sums[d].grid.add_from(&grid);
            sums[d].monthly.add_from(&monthly);
        }
    }
    Ok(dimensions
        .iter()
        .zip(&sums)
        .flat_map(|(dimension, sum)| {
            dimension_checks(
                &dimension.name,
                run.grid,
                run.monthly,
                &sum.grid,
                &sum.monthly,
            )
        })
        .collect())
}

/// Cells (cohort × period of cohort sizes and each count column) where
/// two grids differ.
fn grid_cells_differing(a: &CohortGrid, b: &CohortGrid) -> usize {
    let counts = |g: &CohortGrid| {
        [
            g.active.clone(),
            g.unbounded.clone(),
            g.orders.clone(),
            g.revenue_cents.clone(),
        ]
    };
    let sizes = a
        .cohort_size
        .iter()
        .zip(&b.cohort_size)
        .filter(|(x, y)| x != y)
        .count();
    sizes
        + counts(a)
            .iter()
            .zip(counts(b).iter())
            .map(|(a, b)| {
                a.iter()
                    .flatten()
                    .zip(b.iter().flatten())
                    .filter(|(x, y)| x != y)
                    .count()
            })
            .sum::<usize>()
}

/// Cells (month × count column) where two monthly counts differ.
fn monthly_cells_differing(a: &MonthlyCounts, b: &MonthlyCounts) -> usize {
    a.columns()
        .iter()
        .zip(b.columns().iter())
        .map(|(a, b)| a.iter().zip(b.iter()).filter(|(x, y)| x != y).count())
        .sum()
}

/// For one dimension: the sums over its values against the `(all)` slice,
/// as totals of the main count columns and as the number of cells (cohort
/// × period, month × count column) where they differ.
fn dimension_checks(
    name: &str,
    grid: &CohortGrid,
    monthly: &MonthlyCounts,
    grid_sum: &CohortGrid,
    monthly_sum: &MonthlyCounts,
) -> Vec<Check> {
    // In i64: each value's slice is a set of customers, each customer in
    // one value's slice, so every sum here adds each accepted order at
    // most once and is bounded by the run-wide bound on Σ |cents|
    // (`orders::MAX_ACCEPTED_VOLUME_CENTS`); the money sums over values
    // are also taken in i128 (`money_check`).
    let total = |v: &[i64]| v.iter().sum::<i64>();
    let label = |table: &str, what: &str| {
        format!("dimension `{name}`: sum over values of {table} {what} = (all)")
    };
    let differing = |table: &str| {
        format!("dimension `{name}`: {table} cells where the sum over values differs from (all)")
    };
    let monthly_check = |column: &str, of: fn(&MonthlyCounts) -> &Vec<i64>| {
        check(
            &label(KPIS_MONTHLY.name, column),
            total(of(monthly)),
            total(of(monthly_sum)),
        )
    };
    vec![
        check(
            &label(COHORT_RETENTION.name, col::COHORT_SIZE),
            total(&grid.cohort_size),
            total(&grid_sum.cohort_size),
        ),
        money_check(
            &label(COHORT_RETENTION.name, REVENUE_CENTS),
            grid.revenue_cents.iter().flatten().sum(),
            wide_sum(grid_sum.revenue_cents.iter().flatten()),
        ),
        monthly_check(col::NEW_CUSTOMERS, |m| &m.new_customers),
        monthly_check(col::CUSTOMERS_START, |m| &m.customers_start),
        monthly_check(col::CUSTOMERS_END, |m| &m.customers_end),
        monthly_check(col::ORDERS, |m| &m.orders),
        money_check(
            &label(KPIS_MONTHLY.name, REVENUE_CENTS),
            total(&monthly.revenue_cents),
            wide_sum(monthly_sum.revenue_cents.iter()),
        ),
        check(
            &differing(COHORT_RETENTION.name),
            0,
            grid_cells_differing(grid, grid_sum) as i64,
        ),
        check(
            &differing(KPIS_MONTHLY.name),
            0,
            monthly_cells_differing(monthly, monthly_sum) as i64,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::orders::CustomerDimension;

    #[test]
    fn slices_are_all_then_each_dimension_by_value_missing_last() {
        let mut history = OrderHistory::from_rows(0, &[("a", 0, 1), ("b", 0, 1), ("c", 0, 1)]);
        history.dimensions = vec![
            CustomerDimension {
                name: "channel".into(),
                values: vec!["email".into(), "organic".into(), "unused".into()],
                customer: vec![1, NO_CODE, 1],
            },
            CustomerDimension {
                name: "country".into(),
                values: vec!["DE".into()],
                customer: vec![0, 0, 0],
            },
        ];
        let got: Vec<(Vec<String>, Option<Vec<u32>>)> = slices(&history)
            .into_iter()
            .map(|s| (s.labels, s.members))
            .collect();
        let l = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        assert_eq!(
            got,
            vec![
                (l(ALL, ALL), None),
                (l("organic", ALL), Some(vec![0, 2])),
                (l(MISSING, ALL), Some(vec![1])),
                (l(ALL, "DE"), Some(vec![0, 1, 2])),
            ]
        );
    }
}
