//! The NPS tables (only with `[surveys]`): `nps_monthly`, `nps_by_cohort`,
//! `nps_by_tier` (with loyalty tiers as well) and `nps_retention`, built
//! from the counts of [`crate::stages::nps`] (README "Definitions", NPS).
//!
//! Categories: promoter 9–10, passive 7–8, detractor 0–6; `nps` =
//! 100 · (promoters − detractors) / responses, in points from −100 to 100,
//! null when there is no response.

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::nps::{
    CohortNps, NpsCategory, NpsCounts, NpsOutput, RetentionCell, TierNps, RETENTION_MONTHS,
};
use crate::tables::schema::col;
use crate::tables::schema::nps::{NPS_BY_COHORT, NPS_BY_TIER, NPS_MONTHLY, NPS_RETENTION};
use crate::tables::schema::values::ratio;

/// The NPS tables of a run with surveys, in publishing order:
/// `nps_monthly`, `nps_by_cohort`, `nps_by_tier` (with tiers),
/// `nps_retention`.
pub fn nps_tables(nps: &NpsOutput, calendar: &Calendar) -> Result<super::NamedFrames> {
    let mut tables = vec![
        (NPS_MONTHLY.name, nps_monthly_table(&nps.monthly, calendar)?),
        (NPS_BY_COHORT.name, nps_by_cohort_table(&nps.cohorts)?),
    ];
    if let Some(tiers) = &nps.by_tier {
        tables.push((NPS_BY_TIER.name, nps_by_tier_table(tiers)?));
    }
    tables.push((NPS_RETENTION.name, nps_retention_table(&nps.retention)?));
    Ok(tables)
}

/// Adds the count columns (responses … nps) of `counts`.
fn add_counts(table: FrameBuilder, counts: &[NpsCounts]) -> Result<FrameBuilder> {
    let pick = |f: fn(&NpsCounts) -> i64| counts.iter().map(f).collect::<Vec<_>>();
    table
        .add(col::RESPONSES, pick(|c| c.responses))?
        .add(col::PROMOTERS, pick(|c| c.promoters))?
        .add(col::PASSIVES, pick(|c| c.passives))?
        .add(col::DETRACTORS, pick(|c| c.detractors))?
        .add(
            col::NPS,
            counts.iter().map(NpsCounts::nps).collect::<Vec<_>>(),
        )
}

/// `nps_monthly`: one row per month of `calendar`.
pub fn nps_monthly_table(counts: &[NpsCounts], calendar: &Calendar) -> Result<DataFrame> {
    let n = calendar.len();
    let table = FrameBuilder::new(&NPS_MONTHLY, n)
        .dates(col::MONTH, (0..n).map(|m| calendar.start(m)).collect())?;
    add_counts(table, counts)?
        .add(
            col::MONTH_COMPLETE,
            (0..n).map(|m| calendar.is_complete(m)).collect::<Vec<_>>(),
        )?
        .finish()
}

/// `nps_by_cohort`: one row per cohort month that has customers.
pub fn nps_by_cohort_table(cohorts: &CohortNps) -> Result<DataFrame> {
    let table = FrameBuilder::new(&NPS_BY_COHORT, cohorts.cohort_month.len())
        .dates(col::COHORT_MONTH, cohorts.cohort_month.clone())?
        .add(col::COHORT_SIZE, cohorts.cohort_size.clone())?
        .add(col::RESPONDENTS, cohorts.respondents.clone())?;
    add_counts(table, &cohorts.counts)?.finish()
}

/// `nps_by_tier`: one row per tier in rank order, tiers without responses
/// included (nps null).
pub fn nps_by_tier_table(tiers: &TierNps) -> Result<DataFrame> {
    let table = FrameBuilder::new(&NPS_BY_TIER, tiers.tier.len())
        .add(col::TIER, tiers.tier.as_slice())?
        .add(col::RESPONDENTS, tiers.respondents.clone())?;
    add_counts(table, &tiers.counts)?.finish()
}

/// `nps_retention`: one row per category (in [`NpsCategory::ALL`] order)
/// and months_after 1…12, zeros included; retention_rate = ordered /
/// respondents, null when no respondent.
pub fn nps_retention_table(
    cells: &[[RetentionCell; RETENTION_MONTHS as usize]],
) -> Result<DataFrame> {
    let rows: Vec<(NpsCategory, i64, &RetentionCell)> = NpsCategory::ALL
        .iter()
        .zip(cells)
        .flat_map(|(&c, row)| (1..).zip(row).map(move |(k, cell)| (c, k, cell)))
        .collect();
    FrameBuilder::new(&NPS_RETENTION, rows.len())
        .add(
            col::NPS_CATEGORY,
            rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        )?
        .add(
            col::MONTHS_AFTER,
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )?
        .add(
            col::RESPONDENTS,
            rows.iter().map(|r| r.2.respondents).collect::<Vec<_>>(),
        )?
        .add(
            col::ORDERED,
            rows.iter().map(|r| r.2.ordered).collect::<Vec<_>>(),
        )?
        .add(
            col::RETENTION_RATE,
            rows.iter()
                .map(|r| ratio(r.2.ordered as f64, r.2.respondents))
                .collect::<Vec<_>>(),
        )?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::nps::tests::{history, responses};
    use crate::stages::nps::{nps_retention, tier_nps, RespondentOrders};

    #[test]
    fn nps_retention_has_every_category_and_month() {
        let r = responses(&[
            (0, "2024-01-06", 10),
            (0, "2024-02-11", 2),
            (1, "2024-01-21", 3),
        ]);
        let h = history();
        let orders = RespondentOrders::read(&r.respondents(), &h).unwrap();
        let table = nps_retention_table(&nps_retention(&r, &orders, h.as_of)).unwrap();
        assert_eq!(table.height(), 36);
    }

    #[test]
    fn nps_by_tier_counts_each_response_under_the_customers_tier() {
        // Customer 0 is Gold: a promoter and a detractor (NPS 0). Customer 1
        // is Bronze: a passive and a promoter (NPS 50). Nobody is Silver.
        let r = responses(&[
            (0, "2024-01-06", 10),
            (0, "2024-02-11", 2),
            (1, "2024-01-21", 8),
            (1, "2024-03-02", 9),
        ]);
        let names = ["Bronze".to_string(), "Silver".into(), "Gold".into()];
        let t = nps_by_tier_table(&tier_nps(&r, &names, &[2, 0])).unwrap();
        let texts: Vec<_> = t
            .column(col::TIER)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(texts, ["Bronze", "Silver", "Gold"]);
        let ints = |name: &str| -> Vec<i64> {
            t.column(name)
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter()
                .collect()
        };
        assert_eq!(ints(col::RESPONDENTS), [1, 0, 1]);
        assert_eq!(ints(col::RESPONSES), [2, 0, 2]);
        assert_eq!(ints(col::PROMOTERS), [1, 0, 1]);
        assert_eq!(ints(col::PASSIVES), [1, 0, 0]);
        assert_eq!(ints(col::DETRACTORS), [0, 0, 1]);
        let nps: Vec<Option<f64>> = t.column(col::NPS).unwrap().f64().unwrap().iter().collect();
        assert_eq!(nps, [Some(50.0), None, Some(0.0)]);
    }
}
