//! The `cohorts`, `kpis` and `tiers` stages' integer counts of one
//! customer partition, made where its entries are, and their sum over the
//! partitions.
//!
//! A cluster's executor counts its partition in the task that builds the
//! partition's history, while it holds the entries, so the client does not
//! read every entry back to count the grid, the months and the tier moves.
//! The run's
//! calendars start at the earliest first order of all customers, which no
//! executor knows then; each partition is counted on calendars of its own
//! instead, from its own earliest first order to as_of. Periods are the
//! same periods on either calendar, so a partition's counts are the run's
//! counts of its customers shifted by the periods between the two starts,
//! and adding the shifted integer counts gives the counts of every
//! customer, in any order.

use crate::error::{Error, Result};
use crate::stages::calendar::Calendar;
use crate::stages::cohorts::{self, CohortGrid};
use crate::stages::kpis::{self, MonthlyCounts};
use crate::stages::orders::EntriesView;
use crate::stages::tiers::{self, MigrationCounts, TierMoves, Tiers};
use crate::time::CohortPeriod;

/// What the counts depend on besides the entries and as_of: the
/// pipeline's `[business]` cohort period and activity window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counting {
    pub cohort_period: CohortPeriod,
    pub activity_window_days: u32,
}

/// Counts on a calendar of their own, which starts at period `first`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counted<T> {
    pub first: i32,
    pub counts: T,
}

/// One partition's cohort grid (as counted, not finished), monthly
/// counts and, with loyalty tiers, tier moves (as counted), each on the
/// partition's own calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct PartCounts {
    pub grid: Counted<CohortGrid>,
    pub monthly: Counted<MonthlyCounts>,
    pub tier_moves: Option<Counted<TierMoves>>,
}

/// The counts of a partition's customers (`entries`) on `as_of`, tier
/// moves by `tiers`; `None` when none of them has an order (refunds alone
/// count nowhere), or when the partition's calendars would be too long,
/// in which case the run's are too and its span check fails the run
/// before the counts are added.
pub fn count_part(
    entries: EntriesView<'_>,
    as_of: i32,
    (on, tiers): (Counting, Option<&Tiers>),
) -> Option<PartCounts> {
    let first = entries.earliest_first_order()?;
    Calendar::check_days(first, as_of, on.cohort_period).ok()?;
    let cohort_calendar = Calendar::from_day(on.cohort_period, first, as_of);
    let calendar = Calendar::from_day(CohortPeriod::Month, first, as_of);
    Some(PartCounts {
        grid: Counted {
            first: cohort_calendar.first,
            counts: cohorts::counted_part(entries, &cohort_calendar),
        },
        monthly: Counted {
            first: calendar.first,
            counts: kpis::counted_part(entries, &calendar, on.activity_window_days),
        },
        tier_moves: tiers.map(|tiers| Counted {
            first: calendar.first,
            counts: tiers::counted_part(entries, &calendar, tiers),
        }),
    })
}

/// Where the partitions' counts wait to be added: on a cluster, files the
/// executors wrote. A stage reads them a partition at a time, so the
/// client holds one partition's counts besides the run's, however many
/// partitions the memory budget asks for (a weekly grid over five years
/// is about a megabyte a partition, and a small budget asks for
/// thousands of partitions).
pub trait StoredCounts: Send + Sync {
    /// The partitions that have counts: those with an order.
    fn partitions(&self) -> &[usize];
    fn grid(&self, p: usize) -> Result<Counted<CohortGrid>>;
    fn monthly(&self, p: usize) -> Result<Counted<MonthlyCounts>>;
    /// Fails when the partition was counted without tiers.
    fn tier_moves(&self, p: usize) -> Result<Counted<TierMoves>>;
}

/// The partitions' cohort grids added on the run's cohort calendar, and
/// finished: [`cohorts::cohort_grid`] of every customer.
pub fn added_grid(stored: &dyn StoredCounts, calendar: &Calendar) -> Result<CohortGrid> {
    let mut grid = CohortGrid::zero(calendar.len());
    for &p in stored.partitions() {
        let part = stored.grid(p)?;
        grid.add_shifted(&part.counts, offset(part.first, calendar)?)?;
    }
    Ok(cohorts::finished(grid))
}

/// The partitions' monthly counts added on the run's month calendar:
/// [`kpis::monthly_counts`] of every customer.
pub fn added_monthly(stored: &dyn StoredCounts, calendar: &Calendar) -> Result<MonthlyCounts> {
    let mut monthly = MonthlyCounts::zero(calendar.len());
    for &p in stored.partitions() {
        let part = stored.monthly(p)?;
        monthly.add_shifted(&part.counts, offset(part.first, calendar)?)?;
    }
    Ok(monthly)
}

/// The partitions' tier moves (by `tiers`) added on the run's month
/// calendar: [`tiers::migration_counts`] of every customer.
pub fn added_migration(
    stored: &dyn StoredCounts,
    calendar: &Calendar,
    tiers: &Tiers,
) -> Result<MigrationCounts> {
    let mut moves = tiers::no_moves(calendar, tiers);
    for &p in stored.partitions() {
        let part = stored.tier_moves(p)?;
        moves.add_shifted(&part.counts, offset(part.first, calendar)?)?;
    }
    Ok(tiers::migration_of(moves, tiers))
}

/// A partition counted without tiers has no moves to add.
pub fn no_tier_moves(p: usize) -> Error {
    Error::Cluster(format!(
        "partition {p}'s counts came without its tier moves"
    ))
}

/// Periods from the run calendar's first to `first`, which cannot be
/// before it: the run's calendar starts at every partition's earliest
/// first order or before.
fn offset(first: i32, calendar: &Calendar) -> Result<usize> {
    usize::try_from(first - calendar.first).map_err(|_| {
        Error::Cluster(format!(
            "a partition's counts start at period {first}, before the run's calendar ({})",
            calendar.first
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::cohorts::cohort_grid;
    use crate::stages::kpis::monthly_counts;
    use crate::stages::orders::{HistoryPart, OrderHistory};
    use crate::stages::tiers::migration_counts;
    use proptest::prelude::*;

    /// A customer's entries (day, cents), in day order, refunds after the
    /// first order only, as validation leaves them.
    fn customer() -> impl Strategy<Value = Vec<(i32, i64)>> {
        let entry = (0..1_500i32, -300..5_000i64);
        prop::collection::vec(entry, 1..6).prop_map(|mut entries| {
            entries.sort_unstable();
            entries[0].1 = entries[0].1.abs();
            entries
        })
    }

    fn unit() -> impl Strategy<Value = CohortPeriod> {
        prop::sample::select(vec![
            CohortPeriod::Month,
            CohortPeriod::Week,
            CohortPeriod::Quarter,
        ])
    }

    /// The parts of `customers` (ids in their order), cut after the
    /// customers `cuts`.
    fn parts_of(customers: &[Vec<(i32, i64)>], cuts: &[usize]) -> Vec<HistoryPart> {
        let ids: Vec<String> = (0..customers.len()).map(|c| format!("c{c:03}")).collect();
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(customers.len())).collect();
        bounds.extend([0, customers.len()]);
        bounds.sort_unstable();
        let part = |range: std::ops::Range<usize>| {
            let rows: Vec<(&str, i32, i64)> = range
                .flat_map(|c| customers[c].iter().map(move |&(d, x)| (c, d, x)))
                .map(|(c, d, x)| (ids[c].as_str(), d, x))
                .collect();
            HistoryPart::from_rows(&rows)
        };
        bounds.windows(2).map(|w| part(w[0]..w[1])).collect()
    }

    /// Counts held in memory, partition `p` the `p`-th.
    struct Held {
        counts: Vec<PartCounts>,
        partitions: Vec<usize>,
    }

    impl Held {
        fn of(counts: Vec<PartCounts>) -> Held {
            let partitions = (0..counts.len()).collect();
            Held { counts, partitions }
        }
    }

    impl StoredCounts for Held {
        fn partitions(&self) -> &[usize] {
            &self.partitions
        }

        fn grid(&self, p: usize) -> Result<Counted<CohortGrid>> {
            Ok(self.counts[p].grid.clone())
        }

        fn monthly(&self, p: usize) -> Result<Counted<MonthlyCounts>> {
            Ok(self.counts[p].monthly.clone())
        }

        fn tier_moves(&self, p: usize) -> Result<Counted<TierMoves>> {
            self.counts[p]
                .tier_moves
                .clone()
                .ok_or_else(|| no_tier_moves(p))
        }
    }

    proptest! {
        /// Each part counted on its own calendars, the counts added on the
        /// run's: the grid and the monthly counts of the whole history,
        /// in every cohort unit, however the customers are cut into parts
        /// and in whatever order the parts are added.
        #[test]
        fn parts_counted_apart_add_up_to_the_whole_history(
            customers in prop::collection::vec(customer(), 0..40),
            cuts in prop::collection::vec(0..40usize, 0..5),
            cohort_period in unit(),
            window in 1..400u32,
            reversed in any::<bool>(),
        ) {
            let as_of = 1_600;
            let on = Counting { cohort_period, activity_window_days: window };
            let tiers = Tiers::new(vec![("Low".into(), 0), ("Mid".into(), 3_000), ("High".into(), 9_000)]);
            let counted: Vec<PartCounts> = parts_of(&customers, &cuts)
                .iter()
                .filter_map(|part| count_part(part.view(), as_of, (on, Some(&tiers))))
                .collect();
            let whole = OrderHistory::of_parts(parts_of(&customers, &[]), as_of, []);
            let cohort_calendar = Calendar::of_unit(&whole, cohort_period);
            let calendar = Calendar::of(&whole);
            let mut added = counted;
            if reversed {
                added.reverse();
            }
            let added = Held::of(added);
            prop_assert_eq!(
                added_grid(&added, &cohort_calendar).unwrap(),
                cohort_grid(&whole, &cohort_calendar).unwrap()
            );
            prop_assert_eq!(
                added_monthly(&added, &calendar).unwrap(),
                monthly_counts(&whole, &calendar, window).unwrap()
            );
            prop_assert_eq!(
                added_migration(&added, &calendar, &tiers).unwrap(),
                migration_counts(&whole, &calendar, &tiers).unwrap()
            );
        }
    }

    /// A part whose calendar starts before the run's does not fit it.
    #[test]
    fn counts_from_before_the_run_calendar_are_an_error() {
        let part = HistoryPart::from_rows(&[("a", 10, 500), ("a", 100, 700)]);
        let on = Counting {
            cohort_period: CohortPeriod::Month,
            activity_window_days: 30,
        };
        let tiers = Tiers::new(vec![("Low".into(), 0), ("High".into(), 1_000)]);
        let counted = Held::of(vec![
            count_part(part.view(), 200, (on, Some(&tiers))).unwrap()
        ]);
        let later = Calendar::from_day(CohortPeriod::Month, 100, 200);
        assert!(added_grid(&counted, &later).is_err());
        assert!(added_monthly(&counted, &later).is_err());
        assert!(added_migration(&counted, &later, &tiers).is_err());
        // Counted without tiers: no moves to add.
        let untiered = Held::of(vec![count_part(part.view(), 200, (on, None)).unwrap()]);
        let run = Calendar::from_day(CohortPeriod::Month, 10, 200);
        assert!(added_migration(&untiered, &run, &tiers).is_err());
        assert!(added_migration(&counted, &run, &tiers).is_ok());
        // A calendar longer at the end (another as_of) does not fit either.
        let longer = Calendar::from_day(CohortPeriod::Month, 10, 400);
        assert!(added_grid(&counted, &longer).is_err());
    }
}
