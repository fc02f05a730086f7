//! The loyalty tiers' table ([`crate::stages::tiers`], README "Loyalty
//! tiers" and "tier_migration"): `tier_migration`, how many customers moved
//! from which tier to which in each month, written only with `[loyalty]`;
//! and the customers table's tier columns (trailing_12m_spend, tier,
//! tier_12m_ago).

use polars::prelude::{Column, DataFrame};

use super::builder::FrameBuilder;
use crate::config::NEW_TIER;
use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::tiers::{movement, CustomerTiers, MigrationCounts, Tiers};
use crate::tables::schema::col;
use crate::tables::schema::tiers::TIER_MIGRATION;
use crate::tables::schema::values::money;

/// The `tier_migration` table, sorted by month, then from_tier
/// ([`NEW_TIER`] first, then lowest to highest tier), then to_tier (lowest
/// to highest).
pub fn tier_migration_table(
    counts: &MigrationCounts,
    calendar: &Calendar,
    tiers: &Tiers,
) -> Result<DataFrame> {
    let t = tiers.len();
    let cells: Vec<(usize, usize, usize)> = (0..counts.months)
        .flat_map(|m| (0..=t).flat_map(move |from| (0..t).map(move |to| (m, from, to))))
        .collect();
    let from_name = |from: usize| {
        if from == 0 {
            NEW_TIER
        } else {
            tiers.names[from - 1].as_str()
        }
    };
    FrameBuilder::new(&TIER_MIGRATION, cells.len())
        .dates(col::MONTH, pick(&cells, |c| calendar.start(c.0)))?
        .add(col::FROM_TIER, pick(&cells, |c| from_name(c.1)))?
        .add(col::TO_TIER, pick(&cells, |c| tiers.names[c.2].as_str()))?
        .add(col::MOVEMENT, pick(&cells, |c| movement(c.1, c.2)))?
        .add(
            col::CUSTOMERS,
            pick(&cells, |&(m, f, t)| counts.get(m, f, t)),
        )?
        .add(
            col::MONTH_COMPLETE,
            pick(&cells, |c| calendar.is_complete(c.0)),
        )?
        .finish()
}

/// `value` of each (month, from, to) cell.
fn pick<T>(cells: &[(usize, usize, usize)], value: impl Fn(&(usize, usize, usize)) -> T) -> Vec<T> {
    cells.iter().map(value).collect()
}

/// The tier columns of `customers`: trailing_12m_spend, tier, tier_12m_ago
/// (both null without tiers), of the customers at `range`.
pub fn tier_columns(
    customer_tiers: &CustomerTiers,
    tiers: Option<&Tiers>,
    range: std::ops::Range<usize>,
) -> Vec<Column> {
    let n = range.len();
    let name = |i: usize| tiers.map(|t| t.names[i].as_str());
    let tier: Vec<Option<&str>> = match &customer_tiers.tier {
        Some(v) => v[range.clone()].iter().map(|&i| name(i)).collect(),
        None => vec![None; n],
    };
    let ago: Vec<Option<&str>> = match &customer_tiers.tier_12m_ago {
        Some(v) => v[range.clone()].iter().map(|i| i.and_then(name)).collect(),
        None => vec![None; n],
    };
    vec![
        Column::new(
            col::TRAILING_12M_SPEND.into(),
            customer_tiers.trailing_12m_cents[range]
                .iter()
                .map(|&c| money(c))
                .collect::<Vec<_>>(),
        ),
        Column::new(col::TIER.into(), tier),
        Column::new(col::TIER_12M_AGO.into(), ago),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::schema::customers::CUSTOMERS;
    use crate::tables::schema::Options;
    use crate::time::{day_number, CohortPeriod};
    use chrono::NaiveDate;

    fn tiers() -> Tiers {
        Tiers::new(vec![("Bronze".into(), 0), ("Gold".into(), 10_000)])
    }

    #[test]
    fn migration_table_conforms_with_the_full_grid() {
        let as_of = day_number(NaiveDate::from_ymd_opt(2024, 2, 10).unwrap());
        let first = CohortPeriod::Month.index_of_day(as_of) - 1;
        let calendar = Calendar::new(CohortPeriod::Month, first, as_of);
        // 2 months × (new + 2 tiers) × 2 tiers.
        let mut counts = vec![0; 12];
        counts[0] = 1; // January: new → Bronze
        counts[6 + 2 + 1] = 1; // February: Bronze → Gold
        let counts = MigrationCounts {
            months: 2,
            tiers: 2,
            counts,
        };
        let frame = tier_migration_table(&counts, &calendar, &tiers()).unwrap();
        TIER_MIGRATION
            .conforms(&frame, &Options::default())
            .unwrap();
        assert_eq!(frame.height(), 12);
        let from = frame.column(col::FROM_TIER).unwrap().str().unwrap().clone();
        let moves = frame.column(col::MOVEMENT).unwrap().str().unwrap().clone();
        let customers = frame.column(col::CUSTOMERS).unwrap().i64().unwrap().clone();
        assert_eq!(
            (from.get(0), moves.get(0), customers.get(0)),
            (Some(NEW_TIER), Some("new"), Some(1))
        );
        assert_eq!(
            (from.get(9), moves.get(9), customers.get(9)),
            (Some("Bronze"), Some("up"), Some(1))
        );
        let complete = frame
            .column(col::MONTH_COMPLETE)
            .unwrap()
            .bool()
            .unwrap()
            .clone();
        assert_eq!(
            (complete.get(0), complete.get(11)),
            (Some(true), Some(false))
        );
    }

    #[test]
    fn tier_columns_are_the_last_columns_of_customers() {
        let by_customer = CustomerTiers {
            trailing_12m_cents: vec![12_345, 0],
            tier: Some(vec![1, 0]),
            tier_12m_ago: Some(vec![Some(0), None]),
        };
        let columns = tier_columns(&by_customer, Some(&tiers()), 0..2);
        let names: Vec<&str> = columns.iter().map(|c| c.name().as_str()).collect();
        let declared: Vec<&str> = CUSTOMERS.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, declared[declared.len() - 3..]);
        for c in &columns {
            assert_eq!(c.dtype(), &CUSTOMERS.column(c.name()).kind.dtype());
        }
        assert_eq!(columns[0].f64().unwrap().get(0), Some(123.45));
        let second = tier_columns(&by_customer, Some(&tiers()), 1..2);
        assert_eq!(second[0].f64().unwrap().get(0), Some(0.0));
        assert_eq!(second[2].null_count(), 1);
        let without = tier_columns(
            &CustomerTiers {
                trailing_12m_cents: vec![5],
                ..Default::default()
            },
            None,
            0..1,
        );
        assert_eq!(without[1].null_count(), 1);
        assert_eq!(
            without[1].dtype(),
            &CUSTOMERS.column(col::TIER).kind.dtype()
        );
    }
}
