//! Checks: reconciliation of the run's numbers before anything is
//! published (SPEC §5, `checks` table, built in `tables::checks`).
//! A failed check fails the run.

use crate::error::{Error, Result};
use crate::stages::cohorts::CohortGrid;
use crate::stages::customers::CustomerSummary;
use crate::stages::kpis::MonthlyCounts;
use crate::stages::orders::RowCounts;
use crate::tables::schema::cohorts::COHORT_RETENTION;
use crate::tables::schema::customers::CUSTOMERS;
use crate::tables::schema::kpis::KPIS_MONTHLY;

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

/// A money check: `actual` is summed in i128, so a table whose cells had
/// wrapped in i64 could not agree with `expected` by wrapping the same way
/// (the run-wide bound in `stages::orders` keeps every cell from wrapping;
/// this is the second line of defence). An `actual` beyond i64 is shown
/// as the nearest i64 and fails.
pub fn money_check(name: &str, expected: i64, actual: i128) -> Check {
    let shown = actual.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    Check {
        passed: expected as i128 == actual,
        ..check(name, expected, shown)
    }
}

/// Σ of cents in i128 (see [`money_check`]).
pub fn wide_sum<'a>(cents: impl Iterator<Item = &'a i64>) -> i128 {
    cents.map(|&c| c as i128).sum()
}

/// What the reconciliation reads of the customer summaries: their
/// customers, revenue (in i128, see [`money_check`]) and orders, added up
/// a customer partition at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerTotals {
    pub customers: i64,
    pub revenue_cents: i128,
    pub orders: i64,
}

impl CustomerTotals {
    pub fn of(summary: &CustomerSummary) -> CustomerTotals {
        CustomerTotals {
            customers: summary.orders.len() as i64,
            revenue_cents: wide_sum(summary.revenue_cents.iter()),
            orders: summary.orders.iter().sum(),
        }
    }
}

impl std::ops::Add for CustomerTotals {
    type Output = CustomerTotals;

    fn add(self, other: CustomerTotals) -> CustomerTotals {
        CustomerTotals {
            customers: self.customers + other.customers,
            revenue_cents: self.revenue_cents + other.revenue_cents,
            orders: self.orders + other.orders,
        }
    }
}

/// Every reconciliation check of a run. Money is compared in exact cents.
pub fn reconcile(
    counts: &RowCounts,
    accepted_cents: i64,
    totals: CustomerTotals,
    grid: &CohortGrid,
    monthly: &MonthlyCounts,
) -> Vec<Check> {
    let customers = totals.customers;
    vec![
        check(
            "rows_read = accepted + rejected + excluded + duplicates",
            counts.rows_read as i64,
            (counts.accepted + counts.rejected + counts.excluded() + counts.duplicates) as i64,
        ),
        money_check(
            &format!("revenue_cents: {} = accepted", CUSTOMERS.name),
            accepted_cents,
            totals.revenue_cents,
        ),
        money_check(
            &format!("revenue_cents: {} = accepted", KPIS_MONTHLY.name),
            accepted_cents,
            wide_sum(monthly.revenue_cents.iter()),
        ),
        money_check(
            &format!("revenue_cents: {} = accepted", COHORT_RETENTION.name),
            accepted_cents,
            wide_sum(grid.revenue_cents.iter().flatten()),
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
            &format!("orders: {} = {}", CUSTOMERS.name, KPIS_MONTHLY.name),
            totals.orders,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables whose cents wrapped i64 add up, wrapping again, to a wrapped
    /// accepted amount: the money checks must not pass then.
    #[test]
    fn money_checks_fail_on_sums_beyond_i64() {
        let wrapped = i64::MAX.wrapping_add(1);
        let summary = CustomerSummary {
            revenue_cents: vec![i64::MAX, 1],
            orders: vec![1, 1],
            ..Default::default()
        };
        let mut grid = CohortGrid::zero(2);
        grid.revenue_cents[0] = vec![i64::MAX, 1];
        let mut monthly = MonthlyCounts::zero(2);
        monthly.revenue_cents = vec![i64::MAX, 1];
        let totals = CustomerTotals::of(&summary);
        let checks = reconcile(&RowCounts::default(), wrapped, totals, &grid, &monthly);
        let money: Vec<&Check> = checks
            .iter()
            .filter(|c| c.check.starts_with("revenue_cents"))
            .collect();
        assert_eq!(money.len(), 3);
        for c in money {
            assert!(!c.passed, "{c:?}");
            assert_eq!(c.actual, i64::MAX, "shown as the nearest i64");
        }
        // Sums that fit still pass.
        let checks = reconcile(
            &RowCounts::default(),
            i64::MAX,
            CustomerTotals::of(&summary_of(i64::MAX)),
            &grid_of(i64::MAX),
            &monthly_of(i64::MAX),
        );
        assert!(checks
            .iter()
            .filter(|c| c.check.starts_with("revenue_cents"))
            .all(|c| c.passed));
    }

    fn summary_of(cents: i64) -> CustomerSummary {
        CustomerSummary {
            revenue_cents: vec![cents - 1, 1],
            orders: vec![1, 1],
            ..Default::default()
        }
    }

    fn grid_of(cents: i64) -> CohortGrid {
        let mut grid = CohortGrid::zero(2);
        grid.revenue_cents[0] = vec![cents - 1, 1];
        grid
    }

    fn monthly_of(cents: i64) -> MonthlyCounts {
        let mut monthly = MonthlyCounts::zero(2);
        monthly.revenue_cents = vec![cents - 1, 1];
        monthly
    }
}
