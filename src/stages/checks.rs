//! Checks: reconciliation of the run's numbers before anything is
//! published (SPEC §5, `checks` table). A failed check fails the run.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::stages::cohorts::CohortGrid;
use crate::stages::customers::CustomerSummary;
use crate::stages::kpis::MonthlyCounts;
use crate::stages::orders::RowCounts;

/// One reconciliation: a name, what was expected and what was found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    pub check: String,
    pub expected: i64,
    pub actual: i64,
    pub passed: bool,
}

pub fn check(name: &str, expected: i64, actual: i64) -> Check {
    Check {
        check: name.to_string(),
        expected,
        actual,
        passed: expected == actual,
    }
}

/// Every reconciliation check of a run. Money is compared in exact cents.
pub fn reconcile(
    counts: &RowCounts,
    accepted_cents: i64,
    summary: &CustomerSummary,
    grid: &CohortGrid,
    monthly: &MonthlyCounts,
) -> Vec<Check> {
    let customers = summary.orders.len() as i64;
    let grid_cents: i64 = grid.revenue_cents.iter().flatten().sum();
    vec![
        check(
            "rows_read = accepted + rejected + excluded + duplicates",
            counts.rows_read as i64,
            (counts.accepted + counts.rejected + counts.excluded() + counts.duplicates) as i64,
        ),
        check(
            "revenue_cents: customers = accepted",
            accepted_cents,
            summary.revenue_cents.iter().sum(),
        ),
        check(
            "revenue_cents: kpis_monthly = accepted",
            accepted_cents,
            monthly.revenue_cents.iter().sum(),
        ),
        check(
            "revenue_cents: cohort_retention = accepted",
            accepted_cents,
            grid_cents,
        ),
        check(
            "customers = sum of cohort sizes",
            customers,
            grid.cohort_size.iter().sum(),
        ),
        check(
            "customers = sum of new customers",
            customers,
            monthly.new_customers.iter().sum(),
        ),
        check(
            "orders: customers = kpis_monthly",
            summary.orders.iter().sum(),
            monthly.orders.iter().sum(),
        ),
    ]
}

/// Fails with the first failed check.
pub fn require_all_passed(checks: &[Check]) -> Result<()> {
    match checks.iter().find(|c| !c.passed) {
        None => Ok(()),
        Some(c) => Err(Error::Check {
            check: c.check.clone(),
            expected: c.expected.to_string(),
            actual: c.actual.to_string(),
        }),
    }
}

pub fn checks_table(checks: &[Check]) -> Result<DataFrame> {
    Ok(DataFrame::new(
        checks.len(),
        vec![
            Column::new(
                "check".into(),
                checks.iter().map(|c| c.check.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "expected".into(),
                checks.iter().map(|c| c.expected).collect::<Vec<_>>(),
            ),
            Column::new(
                "actual".into(),
                checks.iter().map(|c| c.actual).collect::<Vec<_>>(),
            ),
            Column::new(
                "passed".into(),
                checks.iter().map(|c| c.passed).collect::<Vec<_>>(),
            ),
        ],
    )?)
}
