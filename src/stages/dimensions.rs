//! Dimensions: `cohort_retention`, `retention_curve` and `kpis_monthly`
//! sliced by the configured dimension columns (`[columns] dimensions`).
//!
//! Input: [`OrderHistory`] with each customer's value per dimension (the
//! value on their first order, see `orders::build_orders`). Output: the
//! slices, each a set of customers with one label per dimension, and the
//! three tables stacked slice by slice under one text column per dimension.
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
//! same per-customer code as the whole run, in parallel over the slice's
//! customers, without copying the history.

use polars::prelude::*;

use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::checks::{check, money_check, wide_sum, Check};
use crate::stages::cohorts::{
    cohort_grid_of, cohort_retention_table, retention_curve_table, CohortGrid,
};
use crate::stages::kpis::{kpis_monthly_table, monthly_counts_of, MonthlyCounts};
use crate::stages::orders::OrderHistory;
use crate::stages::validate::NO_CODE;

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

/// `frame` with one constant text column per dimension in front.
fn labelled(frame: DataFrame, names: &[String], labels: &[String]) -> Result<DataFrame> {
    let height = frame.height();
    let mut columns: Vec<Column> = names
        .iter()
        .zip(labels)
        .map(|(name, label)| Column::new(name.as_str().into(), vec![label.as_str(); height]))
        .collect();
    columns.extend(frame.columns().iter().cloned());
    Ok(DataFrame::new(height, columns)?)
}

fn stacked(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut frames = frames.into_iter();
    let mut out = frames.next().expect("the (all) slice");
    for frame in frames {
        out.vstack_mut(&frame)?;
    }
    out.rechunk_mut();
    Ok(out)
}

/// The three sliced tables and, per dimension, the checks that its values
/// add up to the `(all)` slice.
pub struct SlicedTables {
    pub cohort_retention: DataFrame,
    pub retention_curve: DataFrame,
    pub kpis_monthly: DataFrame,
    /// Per dimension: sums over its values against the `(all)` slice.
    pub checks: Vec<Check>,
}

/// Per dimension, the running sums over its value slices.
struct DimensionSums {
    grid: CohortGrid,
    monthly: MonthlyCounts,
}

/// Computes `cohort_retention`, `retention_curve` and `kpis_monthly` for
/// every slice and stacks them under the dimension columns. `grid` and
/// `monthly` are the whole run's (the `(all)` slice), already computed.
/// Slices are computed one after another, each in parallel over its
/// customers, so only one slice's grid is held at a time (plus one running
/// sum per dimension for the checks).
pub fn sliced_tables(
    history: &OrderHistory,
    slices: &[Slice],
    cohort_calendar: &Calendar,
    calendar: &Calendar,
    window: u32,
    grid: &CohortGrid,
    monthly: &MonthlyCounts,
) -> Result<SlicedTables> {
    let names: Vec<String> = history.dimensions.iter().map(|d| d.name.clone()).collect();
    let mut sums: Vec<DimensionSums> = names
        .iter()
        .map(|_| DimensionSums {
            grid: CohortGrid::zero(cohort_calendar.len()),
            monthly: MonthlyCounts::zero(calendar.len()),
        })
        .collect();
    let (mut retention, mut curve, mut kpis) = (Vec::new(), Vec::new(), Vec::new());
    for slice in slices {
        let (slice_grid, slice_monthly) = match &slice.members {
            None => (grid.clone(), monthly.clone()),
            Some(members) => (
                cohort_grid_of(history, cohort_calendar, members),
                monthly_counts_of(history, calendar, window, members),
            ),
        };
        retention.push(labelled(
            cohort_retention_table(&slice_grid, cohort_calendar)?,
            &names,
            &slice.labels,
        )?);
        curve.push(labelled(
            retention_curve_table(&slice_grid, cohort_calendar)?,
            &names,
            &slice.labels,
        )?);
        kpis.push(labelled(
            kpis_monthly_table(&slice_monthly, calendar)?,
            &names,
            &slice.labels,
        )?);
        if let Some(d) = slice.dimension {
            let sum = &mut sums[d];
            sum.grid.add_from(&slice_grid);
            sum.monthly.add_from(&slice_monthly);
        }
    }
    let mut checks = Vec::new();
    for (name, sum) in names.iter().zip(&sums) {
        checks.extend(dimension_checks(
            name,
            grid,
            monthly,
            &sum.grid,
            &sum.monthly,
        ));
    }
    Ok(SlicedTables {
        cohort_retention: stacked(retention)?,
        retention_curve: stacked(curve)?,
        kpis_monthly: stacked(kpis)?,
        checks,
    })
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
    let cells = |v: &[Vec<i64>]| v.iter().flatten().sum::<i64>();
    let label = |what: &str| format!("dimension `{name}`: sum over values of {what} = (all)");
    let grid_columns = |g: &CohortGrid| {
        [
            g.active.clone(),
            g.unbounded.clone(),
            g.orders.clone(),
            g.revenue_cents.clone(),
        ]
    };
    let grid_cells_differing = grid
        .cohort_size
        .iter()
        .zip(&grid_sum.cohort_size)
        .filter(|(a, b)| a != b)
        .count()
        + grid_columns(grid)
            .iter()
            .zip(grid_columns(grid_sum).iter())
            .map(|(a, b)| {
                a.iter()
                    .flatten()
                    .zip(b.iter().flatten())
                    .filter(|(x, y)| x != y)
                    .count()
            })
            .sum::<usize>();
    let monthly_cells_differing = monthly
        .columns()
        .iter()
        .zip(monthly_sum.columns().iter())
        .map(|(a, b)| a.iter().zip(b.iter()).filter(|(x, y)| x != y).count())
        .sum::<usize>();
    vec![
        check(
            &label("cohort_retention cohort_size"),
            total(&grid.cohort_size),
            total(&grid_sum.cohort_size),
        ),
        money_check(
            &label("cohort_retention revenue_cents"),
            cells(&grid.revenue_cents),
            wide_sum(grid_sum.revenue_cents.iter().flatten()),
        ),
        check(
            &label("kpis_monthly new_customers"),
            total(&monthly.new_customers),
            total(&monthly_sum.new_customers),
        ),
        check(
            &label("kpis_monthly customers_start"),
            total(&monthly.customers_start),
            total(&monthly_sum.customers_start),
        ),
        check(
            &label("kpis_monthly customers_end"),
            total(&monthly.customers_end),
            total(&monthly_sum.customers_end),
        ),
        check(
            &label("kpis_monthly orders"),
            total(&monthly.orders),
            total(&monthly_sum.orders),
        ),
        money_check(
            &label("kpis_monthly revenue_cents"),
            total(&monthly.revenue_cents),
            wide_sum(monthly_sum.revenue_cents.iter()),
        ),
        check(
            &format!("dimension `{name}`: cohort_retention cells where the sum over values differs from (all)"),
            0,
            grid_cells_differing as i64,
        ),
        check(
            &format!("dimension `{name}`: kpis_monthly cells where the sum over values differs from (all)"),
            0,
            monthly_cells_differing as i64,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::orders::CustomerDimension;

    #[test]
    fn slices_are_all_then_each_dimension_by_value_missing_last() {
        let history = OrderHistory {
            dimensions: vec![
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
            ],
            ..OrderHistory::from_rows(0, &[("a", 0, 1), ("b", 0, 1), ("c", 0, 1)])
        };
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
