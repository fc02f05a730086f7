//! The sliced tables: `cohort_retention`, `retention_curve` and
//! `kpis_monthly` for every slice of `[columns] dimensions`, each slice's
//! frame under one constant text column per dimension, stacked in slice
//! order (the `(all)` slice first, equal row for row to the unsliced
//! table). The slices and their counts come from `stages::dimensions`.

use polars::prelude::{Column, DataFrame};

use super::cohorts::{cohort_retention_table, retention_curve_table};
use super::kpis::kpis_monthly_table;
use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::checks::Check;
use crate::stages::cohorts::CohortGrid;
use crate::stages::dimensions::{for_each_slice, Slice, WholeRun};
use crate::stages::kpis::MonthlyCounts;
use crate::stages::orders::OrderHistory;
use crate::stages::part_counts::StoredCounts;

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

/// Computes `cohort_retention`, `retention_curve` and `kpis_monthly` for
/// every slice and stacks them under the dimension columns. `grid` and
/// `monthly` are the whole run's (the `(all)` slice), already computed.
pub fn sliced_tables(
    (history, counted): (&OrderHistory, Option<&dyn StoredCounts>),
    slices: &[Slice],
    cohort_calendar: &Calendar,
    calendar: &Calendar,
    window: u32,
    grid: &CohortGrid,
    monthly: &MonthlyCounts,
) -> Result<SlicedTables> {
    let run = WholeRun {
        history,
        counted,
        cohort_calendar,
        calendar,
        window,
        grid,
        monthly,
    };
    let names: Vec<String> = history.dimensions.iter().map(|d| d.name.clone()).collect();
    let (mut retention, mut curve, mut kpis) = (Vec::new(), Vec::new(), Vec::new());
    let checks = for_each_slice(&run, slices, |slice, grid, monthly| {
        let labels = &slice.labels;
        let cohorts = cohort_retention_table(grid, cohort_calendar)?;
        retention.push(labelled(cohorts, &names, labels)?);
        let retention_curve = retention_curve_table(grid, cohort_calendar)?;
        curve.push(labelled(retention_curve, &names, labels)?);
        kpis.push(labelled(
            kpis_monthly_table(monthly, calendar)?,
            &names,
            labels,
        )?);
        Ok(())
    })?;
    Ok(SlicedTables {
        cohort_retention: stacked(retention)?,
        retention_curve: stacked(curve)?,
        kpis_monthly: stacked(kpis)?,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::cohorts::cohort_grid;
    use crate::stages::dimensions::slices;
    use crate::stages::kpis::monthly_counts;
    use crate::tables::schema::cohorts::{COHORT_RETENTION, RETENTION_CURVE};
    use crate::tables::schema::kpis::KPIS_MONTHLY;
    use crate::tables::schema::Options;
    use crate::time::CohortPeriod;

    #[test]
    fn sliced_tables_conform_to_their_declarations() {
        // Customers a and c in channel `email`, b without a channel.
        let mut history = OrderHistory::from_rows(
            19_800,
            &[
                ("a", 19_723, 1_000),
                ("a", 19_760, 500),
                ("b", 19_730, 700),
                ("c", 19_790, -100),
            ],
        );
        let no_code = crate::stages::validate::NO_CODE;
        history.set_dimensions(vec![("channel", vec!["email"], vec![0, no_code, 0])]);
        let unit = CohortPeriod::Week;
        let cohort_calendar = Calendar::of_unit(&history, unit);
        let calendar = Calendar::of(&history);
        let grid = cohort_grid(&history, &cohort_calendar).unwrap();
        let monthly = monthly_counts(&history, &calendar, 90).unwrap();
        let all = slices(&history);
        let sliced = sliced_tables(
            (&history, None),
            &all,
            &cohort_calendar,
            &calendar,
            90,
            &grid,
            &monthly,
        )
        .unwrap();
        let options = Options {
            dimensions: vec!["channel".into()],
            cohort_period: unit,
            ..Options::default()
        };
        COHORT_RETENTION
            .conforms(&sliced.cohort_retention, &options)
            .unwrap();
        RETENTION_CURVE
            .conforms(&sliced.retention_curve, &options)
            .unwrap();
        KPIS_MONTHLY
            .conforms(&sliced.kpis_monthly, &options)
            .unwrap();
        // Three slices: (all), email, (missing).
        assert_eq!(sliced.kpis_monthly.height(), 3 * calendar.len());
        assert!(
            sliced.checks.iter().all(|c| c.passed),
            "{:?}",
            sliced.checks
        );
    }
}
