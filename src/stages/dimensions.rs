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
//! A slice is a dimension and one of its values; its tables are computed
//! by the same per-customer code as the whole run, in parallel over the
//! history's parts, each customer counted into the slice of the value
//! code their part holds for them. A read of the history counts many of a
//! dimension's slices at once (as many as [`SLICES_READ_BYTES`] holds), so
//! no slice needs a list of its customers and the history, spilled or
//! not, is read about once per dimension, not once per value. On a
//! cluster the history is not read here at all: the executors count each
//! partition's values (`part_counts::count_values`) and their counts are
//! added in the same batches of values.

use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::checks::{check, money_check, wide_sum, Check};
use crate::stages::cohorts::{cohort_grids_by_value, CohortGrid};
use crate::stages::kpis::{monthly_counts_by_value, MonthlyCounts};
use crate::stages::orders::OrderHistory;
use crate::stages::part_counts::{added_by_value, slice_bytes, StoredCounts};
use crate::tables::schema::cohorts::COHORT_RETENTION;
use crate::tables::schema::col;
use crate::tables::schema::kpis::KPIS_MONTHLY;
use std::ops::Range;

/// The integer cents the sliced tables' `revenue` column is summed in (a
/// name in the checks' labels).
const REVENUE_CENTS: &str = "revenue_cents";

/// The label of the all-customers slice in a dimension column.
pub const ALL: &str = "(all)";
/// The label of customers whose first order has no value (null or blank).
pub const MISSING: &str = "(missing)";

/// One slice: a label per dimension and which customers it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// One label per dimension, in configured order: [`ALL`] except for the
    /// dimension the slice is a value of.
    pub labels: Vec<String>,
    /// The dimension this slice is a value of and the value's group
    /// (`CustomerDimension::group`: the missing value last); `None` for
    /// the `(all)` slice.
    pub value: Option<(usize, usize)>,
    /// How many customers it has.
    pub customers: usize,
}

/// The slices of a history in table order: `(all)`, then per dimension
/// its values that have customers (byte order, `(missing)` last). Without
/// dimensions, the `(all)` slice alone.
pub fn slices(history: &OrderHistory) -> Vec<Slice> {
    let n = history.dimensions.len();
    let mut out = vec![Slice {
        labels: vec![ALL.to_string(); n],
        value: None,
        customers: history.customers(),
    }];
    for (d, dimension) in history.dimensions.iter().enumerate() {
        let missing = dimension.values.len();
        for (group, customers) in history.value_counts(d).into_iter().enumerate() {
            if customers == 0 {
                continue;
            }
            let mut labels = vec![ALL.to_string(); n];
            labels[d] = match group == missing {
                true => MISSING.to_string(),
                false => dimension.values[group].clone(),
            };
            out.push(Slice {
                labels,
                value: Some((d, group)),
                customers,
            });
        }
    }
    out
}

/// Bytes of the slices' counts that one read of the history fills, on
/// every thread together: the slices of a read each hold a cohort grid and
/// monthly counts per thread while it runs.
pub const SLICES_READ_BYTES: usize = 64 << 20;

/// How many value groups of a dimension one read of the history counts:
/// at least one, else as many as [`SLICES_READ_BYTES`] holds.
fn groups_per_read(run: &WholeRun) -> usize {
    let (periods, months) = (run.cohort_calendar.len(), run.calendar.len());
    let per_group = slice_bytes(periods, months) * rayon::current_num_threads();
    (SLICES_READ_BYTES / per_group.max(1)).max(1)
}

/// The whole run's inputs to slicing: the history, both calendars, the
/// activity window and the `(all)` slice's counts, already computed; and
/// when a cluster's executors counted each partition's values, their
/// counts.
pub struct WholeRun<'a> {
    pub history: &'a OrderHistory,
    pub counted: Option<&'a dyn StoredCounts>,
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

impl DimensionSums {
    fn zero(run: &WholeRun) -> DimensionSums {
        DimensionSums {
            grid: CohortGrid::zero(run.cohort_calendar.len()),
            monthly: MonthlyCounts::zero(run.calendar.len()),
        }
    }

    fn add(&mut self, grid: &CohortGrid, monthly: &MonthlyCounts) {
        self.grid.add_from(grid);
        self.monthly.add_from(monthly);
    }

    /// The checks of the dimension `name`: these sums against the `(all)`
    /// slice's counts.
    fn checks(&self, name: &str, run: &WholeRun) -> Vec<Check> {
        dimension_checks(name, run.grid, run.monthly, &self.grid, &self.monthly)
    }
}

/// Computes the cohort grid and monthly counts of every slice, in
/// `slices` order, and hands each to `visit` (which builds that slice's
/// tables); returns, per dimension, the checks that its values add up to
/// the `(all)` slice. A read of the history, in parallel over its parts,
/// counts the following slices of one dimension whose value groups are
/// within [`groups_per_read`] of the first's, so only those slices' counts
/// are held at a time (plus one running sum per dimension for the checks).
pub fn for_each_slice(
    run: &WholeRun,
    slices: &[Slice],
    visit: impl FnMut(&Slice, &CohortGrid, &MonthlyCounts) -> Result<()>,
) -> Result<Vec<Check>> {
    for_each_slice_in_reads(run, slices, groups_per_read(run), visit)
}

/// [`for_each_slice`], a read of the history counting the slices of at
/// most `per_read` value groups.
fn for_each_slice_in_reads(
    run: &WholeRun,
    slices: &[Slice],
    per_read: usize,
    mut visit: impl FnMut(&Slice, &CohortGrid, &MonthlyCounts) -> Result<()>,
) -> Result<Vec<Check>> {
    let dimensions = &run.history.dimensions;
    let mut sums: Vec<DimensionSums> = dimensions
        .iter()
        .map(|_| DimensionSums::zero(run))
        .collect();
    let mut rest = slices;
    while let Some((slice, after)) = rest.split_first() {
        let Some((d, first)) = slice.value else {
            visit(slice, run.grid, run.monthly)?;
            rest = after;
            continue;
        };
        let in_read = |s: &Slice| matches!(s.value, Some((e, g)) if e == d && g < first + per_read);
        let (read, later) = rest.split_at(rest.iter().take_while(|s| in_read(s)).count());
        let last = read.last().and_then(|s| s.value).map_or(first, |(_, g)| g);
        let (grids, monthly) = counts_by_value(run, (d, first..last + 1))?;
        for slice in read {
            let g = slice.value.map_or(0, |(_, g)| g - first);
            visit(slice, &grids[g], &monthly[g])?;
            sums[d].add(&grids[g], &monthly[g]);
        }
        rest = later;
    }
    Ok(dimensions
        .iter()
        .zip(&sums)
        .flat_map(|(dimension, sum)| sum.checks(&dimension.name, run))
        .collect())
}

/// The cohort grids and monthly counts of dimension `d`'s value groups
/// `groups`: added from the counts a cluster's executors made, or counted
/// over the history here.
fn counts_by_value(
    run: &WholeRun,
    (d, groups): (usize, Range<usize>),
) -> Result<(Vec<CohortGrid>, Vec<MonthlyCounts>)> {
    let calendars = (run.cohort_calendar, run.calendar);
    if let Some(stored) = run.counted {
        let dimension = &run.history.dimensions[d];
        let group_of = |code| dimension.group(code);
        return added_by_value(stored, (d, groups), &group_of, calendars);
    }
    // The cluster tests: a client that reads the history for the slices.
    crate::faults::crash_point("dimensions::counted_here");
    let by_value = (d, groups);
    let grids = cohort_grids_by_value(run.history, run.cohort_calendar, by_value.clone())?;
    let monthly = monthly_counts_by_value(run.history, run.calendar, run.window, by_value)?;
    Ok((grids, monthly))
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
    use crate::stages::cohorts::cohort_grid;
    use crate::stages::kpis::monthly_counts;
    use crate::stages::orders::HistoryPart;
    use crate::stages::part_counts::{Counting, Held};
    use crate::stages::validate::NO_CODE;
    use crate::time::CohortPeriod;
    use proptest::prelude::*;

    #[test]
    fn slices_are_all_then_each_dimension_by_value_missing_last() {
        let mut history = OrderHistory::from_rows(0, &[("a", 0, 1), ("b", 0, 1), ("c", 0, 1)]);
        history.set_dimensions(vec![
            (
                "channel",
                vec!["email", "organic", "unused"],
                vec![1, NO_CODE, 1],
            ),
            ("country", vec!["DE"], vec![0, 0, 0]),
        ]);
        let slice = |a: &str, b: &str, value, customers| Slice {
            labels: vec![a.to_string(), b.to_string()],
            value,
            customers,
        };
        assert_eq!(
            slices(&history),
            vec![
                slice(ALL, ALL, None, 3),
                slice("organic", ALL, Some((0, 1)), 2),
                slice(MISSING, ALL, Some((0, 3)), 1),
                slice(ALL, "DE", Some((1, 0)), 3),
            ]
        );
    }

    /// A customer: their value code and entries (day, cents).
    type Customer = (u32, Vec<(i32, i64)>);

    /// Refunds after the first order only, as validation leaves them.
    fn customer() -> impl Strategy<Value = Customer> {
        let code = prop::sample::select(vec![0, 1, 2, 4, NO_CODE]);
        let entry = (0..400i32, -300..5_000i64);
        (code, prop::collection::vec(entry, 1..5)).prop_map(|(code, mut entries)| {
            entries.sort_unstable();
            entries[0].1 = entries[0].1.abs() + 1;
            (code, entries)
        })
    }

    /// The history of `customers` (ids in their order), cut into parts
    /// after the customers `cuts`, with one dimension of five values.
    fn history_of(customers: &[Customer], cuts: &[usize]) -> OrderHistory {
        let ids: Vec<String> = (0..customers.len()).map(|c| format!("c{c:03}")).collect();
        let rows_of = |range: std::ops::Range<usize>| -> Vec<(&str, i32, i64)> {
            range
                .flat_map(|c| customers[c].1.iter().map(move |&(d, x)| (c, d, x)))
                .map(|(c, d, x)| (ids[c].as_str(), d, x))
                .collect()
        };
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(customers.len())).collect();
        bounds.extend([0, customers.len()]);
        bounds.sort_unstable();
        let parts = bounds
            .windows(2)
            .map(|w| HistoryPart::from_rows(&rows_of(w[0]..w[1])))
            .collect();
        let mut history = OrderHistory::of_parts(parts, 400, []);
        let codes = customers.iter().map(|(code, _)| *code).collect();
        history.set_dimensions(vec![("d", vec!["a", "b", "c", "d", "e"], codes)]);
        history
    }

    proptest! {
        /// Against each slice's history made apart (only its customers):
        /// every slice's grid and monthly counts, however many value
        /// groups a read of the history counts and however the history is
        /// cut into parts; and the same slices and checks added from each
        /// part's value counts made apart (a cluster's way), in any cohort
        /// unit.
        #[test]
        fn slices_counted_in_reads_are_each_slices_own_history(
            customers in prop::collection::vec(customer(), 1..40),
            cuts in prop::collection::vec(0..40usize, 0..4),
            per_read in 1..7usize,
            unit in prop::sample::select(vec![CohortPeriod::Month, CohortPeriod::Week, CohortPeriod::Quarter]),
        ) {
            let history = history_of(&customers, &cuts);
            let cohort_calendar = Calendar::of_unit(&history, unit);
            let calendar = Calendar::of(&history);
            let grid = cohort_grid(&history, &cohort_calendar).unwrap();
            let monthly = monthly_counts(&history, &calendar, 90).unwrap();
            let run = WholeRun {
                history: &history,
                counted: None,
                cohort_calendar: &cohort_calendar,
                calendar: &calendar,
                window: 90,
                grid: &grid,
                monthly: &monthly,
            };
            let all = slices(&history);
            let mut seen = Vec::new();
            let checks = for_each_slice_in_reads(&run, &all, per_read, |slice, grid, monthly| {
                seen.push((slice.clone(), grid.clone(), monthly.clone()));
                Ok(())
            })
            .unwrap();
            prop_assert_eq!(seen.len(), all.len());
            let on = Counting { cohort_period: unit, activity_window_days: 90 };
            let held = Held::of_parts(&history, (on, None), (0..history.part_count()).rev());
            let added = WholeRun { counted: Some(&held), ..run };
            let mut seen_added = Vec::new();
            let checks_added = for_each_slice_in_reads(&added, &all, per_read, |slice, grid, monthly| {
                seen_added.push((slice.clone(), grid.clone(), monthly.clone()));
                Ok(())
            })
            .unwrap();
            prop_assert_eq!(&seen_added, &seen);
            prop_assert_eq!(checks_added, checks);
            for (slice, grid, monthly) in seen {
                let Some((_, group)) = slice.value else { continue };
                let code = |g: usize| if g == 5 { NO_CODE } else { g as u32 };
                let own: Vec<Customer> =
                    customers.iter().filter(|c| c.0 == code(group)).cloned().collect();
                prop_assert_eq!(own.len(), slice.customers);
                let apart = history_of(&own, &[]);
                prop_assert_eq!(&grid, &cohort_grid(&apart, &cohort_calendar).unwrap());
                prop_assert_eq!(&monthly, &monthly_counts(&apart, &calendar, 90).unwrap());
            }
        }
    }
}
