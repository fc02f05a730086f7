//! `kpis_monthly`: one row per calendar month from the first cohort month
//! to as_of's month (SPEC §4), built from the KPI stage's integer counts
//! ([`MonthlyCounts`]); every ratio is null when its denominator is 0.
//! Sliced by `[columns] dimensions` (see [`super::dimensions`]).

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::kpis::MonthlyCounts;
use crate::tables::schema::col;
use crate::tables::schema::kpis::KPIS_MONTHLY;
use crate::tables::schema::values::{money, ratio};

/// The `kpis_monthly` table, sorted by month.
pub fn kpis_monthly_table(counts: &MonthlyCounts, calendar: &Calendar) -> Result<DataFrame> {
    let n = calendar.len();
    let c = counts;
    let each = |value: &dyn Fn(usize) -> Option<f64>| (0..n).map(value).collect::<Vec<_>>();
    let crr = each(&|m| {
        ratio(
            (c.customers_end[m] - c.new_customers[m]) as f64,
            c.customers_start[m],
        )
    });
    let churn_rate = each(&|m| ratio(c.churned(m) as f64, c.customers_start[m]));
    let aov = each(&|m| ratio(money(c.revenue_cents[m]), c.orders[m]));
    let purchase_frequency = each(&|m| ratio(c.orders[m] as f64, c.purchasing_customers[m]));
    let repeat_rate = each(&|m| ratio(c.returning_customers[m] as f64, c.purchasing_customers[m]));
    FrameBuilder::new(&KPIS_MONTHLY, n)
        .dates(col::MONTH, (0..n).map(|m| calendar.start(m)).collect())?
        .add(col::CUSTOMERS_START, c.customers_start.clone())?
        .add(col::CUSTOMERS_END, c.customers_end.clone())?
        .add(col::NEW_CUSTOMERS, c.new_customers.clone())?
        .add(col::RETAINED, c.retained.clone())?
        .add(
            col::CHURNED,
            (0..n).map(|m| c.churned(m)).collect::<Vec<_>>(),
        )?
        .add(
            col::REACTIVATED,
            (0..n).map(|m| c.reactivated(m)).collect::<Vec<_>>(),
        )?
        .add(col::CRR, crr)?
        .add(col::CHURN_RATE, churn_rate)?
        .add(col::PURCHASING_CUSTOMERS, c.purchasing_customers.clone())?
        .add(col::ORDERS, c.orders.clone())?
        .money(col::REVENUE, &c.revenue_cents)?
        .add(col::AOV, aov)?
        .add(col::PURCHASE_FREQUENCY, purchase_frequency)?
        .add(col::RETURNING_CUSTOMERS, c.returning_customers.clone())?
        .add(col::REPEAT_CUSTOMER_RATE, repeat_rate)?
        .add(
            col::MONTH_COMPLETE,
            (0..n).map(|m| calendar.is_complete(m)).collect::<Vec<_>>(),
        )?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::schema::Options;
    use crate::time::{day_number, CohortPeriod};
    use chrono::NaiveDate;

    #[test]
    fn kpis_monthly_conforms_to_its_declaration() {
        // Two months, January complete, as_of in February.
        let as_of = day_number(NaiveDate::from_ymd_opt(2024, 2, 10).unwrap());
        let january = CohortPeriod::Month.index_of_day(as_of) - 1;
        let calendar = Calendar::new(CohortPeriod::Month, january, as_of);
        assert_eq!(calendar.len(), 2);
        let mut counts = MonthlyCounts::zero(2);
        counts.new_customers = vec![2, 1];
        counts.customers_end = vec![2, 2];
        counts.customers_start = vec![0, 2];
        counts.retained = vec![0, 1];
        counts.orders = vec![3, 1];
        counts.purchasing_customers = vec![2, 1];
        counts.revenue_cents = vec![4_500, -200];
        let frame = kpis_monthly_table(&counts, &calendar).unwrap();
        KPIS_MONTHLY.conforms(&frame, &Options::default()).unwrap();
        assert_eq!(frame.height(), 2);
        let crr = frame.column(col::CRR).unwrap().f64().unwrap();
        assert_eq!(crr.get(0), None); // S = 0
        assert_eq!(crr.get(1), Some(0.5)); // (2 − 1) / 2
    }
}
