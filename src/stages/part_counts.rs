//! The `cohorts`, `kpis` and `tiers` stages' integer counts of one
//! customer partition, and the `dimensions` stage's of each dimension
//! value among its customers, made where its entries are, and their sums
//! over the partitions.
//!
//! A cluster's executor counts its partition in the task that builds the
//! partition's history, while it holds the entries, so the client does not
//! read every entry back to count the grid, the months, the tier moves and
//! the slices. The run's calendars start at the earliest first order of all customers, which no
//! executor knows then; each partition is counted on calendars of its own
//! instead, from its own earliest first order to as_of. Periods are the
//! same periods on either calendar, so a partition's counts are the run's
//! counts of its customers shifted by the periods between the two starts,
//! and adding the shifted integer counts gives the counts of every
//! customer, in any order.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::error::{Error, Result};
use crate::stages::calendar::Calendar;
use crate::stages::cohorts::{self, CohortGrid};
use crate::stages::kpis::{self, MonthlyCounts};
use crate::stages::orders::EntriesView;
use crate::stages::part_store;
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
    let PartCalendars { cohort, month } = part_calendars(entries, as_of, on.cohort_period)?;
    Some(PartCounts {
        grid: Counted {
            first: cohort.first,
            counts: cohorts::counted_part(entries, &cohort),
        },
        monthly: Counted {
            first: month.first,
            counts: kpis::counted_part(entries, &month, on.activity_window_days),
        },
        tier_moves: tiers.map(|tiers| Counted {
            first: month.first,
            counts: tiers::counted_part(entries, &month, tiers),
        }),
    })
}

/// The calendars a partition's counts are on: from its earliest first
/// order to as_of, in the cohort unit and in months.
struct PartCalendars {
    cohort: Calendar,
    month: Calendar,
}

/// `None` when none of the partition's customers has an order, or when
/// its calendars would be too long (see [`count_part`]).
fn part_calendars(
    entries: EntriesView<'_>,
    as_of: i32,
    unit: CohortPeriod,
) -> Option<PartCalendars> {
    let first = entries.earliest_first_order()?;
    Calendar::check_days(first, as_of, unit).ok()?;
    Some(PartCalendars {
        cohort: Calendar::from_day(unit, first, as_of),
        month: Calendar::from_day(CohortPeriod::Month, first, as_of),
    })
}

/// One dimension value's counts in a partition: the cohort grid (as
/// counted) and monthly counts of its customers whose value code is
/// `code`, on the partition's calendars.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValueCounts {
    pub code: u32,
    pub grid: Counted<CohortGrid>,
    pub monthly: Counted<MonthlyCounts>,
}

/// Bytes of the value counts a partition's count of one dimension holds
/// at a time (on each executor thread): the values are counted in batches
/// of as many as fit.
const VALUE_BATCH_BYTES: usize = 16 << 20;

/// Bytes of one slice's counts, a cohort grid of `periods` periods and
/// monthly counts of `months` months, as they are held while counted.
pub fn slice_bytes(periods: usize, months: usize) -> usize {
    // A grid's four triangles and its cohort sizes; eight monthly columns.
    8 * (2 * periods * (periods + 1) + periods + 8 * months)
}

/// The counts of each value of dimension `d` among a partition's
/// customers (`entries`) on `as_of`, on the calendars of [`count_part`],
/// handed to `each` in code order; the values are counted a batch at a
/// time, so at most [`VALUE_BATCH_BYTES`] of them are held. Nothing when
/// [`count_part`] counts nothing.
pub fn count_values(
    entries: EntriesView<'_>,
    (as_of, on, d): (i32, Counting, usize),
    mut each: impl FnMut(ValueCounts) -> Result<()>,
) -> Result<()> {
    let Some(PartCalendars { cohort, month }) = part_calendars(entries, as_of, on.cohort_period)
    else {
        return Ok(());
    };
    let codes = entries.codes(d);
    let present: Vec<u32> = codes
        .iter()
        .copied()
        .collect::<BTreeSet<u32>>()
        .into_iter()
        .collect();
    let per_batch = (VALUE_BATCH_BYTES / slice_bytes(cohort.len(), month.len())).max(1);
    let window = on.activity_window_days;
    for batch in present.chunks(per_batch) {
        let group_of = |i: usize| batch.binary_search(&codes[i]).ok();
        let grids = cohorts::counted_part_by_group(entries, &cohort, batch.len(), group_of);
        let months = kpis::counted_part_by_group(entries, (&month, window), batch.len(), group_of);
        for ((&code, grid), monthly) in batch.iter().zip(grids).zip(months) {
            each(ValueCounts {
                code,
                grid: Counted {
                    first: cohort.first,
                    counts: grid,
                },
                monthly: Counted {
                    first: month.first,
                    counts: monthly,
                },
            })?;
        }
    }
    Ok(())
}

/// Where the partitions' counts wait to be added: on a cluster, files the
/// executors wrote. A stage reads them a few partitions at a time (two a
/// core), so the client holds those partitions' counts besides the run's,
/// however many partitions the memory budget asks for (a weekly grid over five years
/// is about a megabyte a partition, and a small budget asks for
/// thousands of partitions).
pub trait StoredCounts: Send + Sync {
    /// The partitions that have counts: those with an order.
    fn partitions(&self) -> &[usize];
    fn grid(&self, p: usize) -> Result<Counted<CohortGrid>>;
    fn monthly(&self, p: usize) -> Result<Counted<MonthlyCounts>>;
    /// Fails when the partition was counted without tiers.
    fn tier_moves(&self, p: usize) -> Result<Counted<TierMoves>>;
    /// The counts of the values of dimension `d` whose codes are
    /// `wanted`, in code order ([`count_values`]).
    fn value_counts(
        &self,
        p: usize,
        d: usize,
        wanted: &WantedCodes<'_>,
    ) -> Result<Vec<ValueCounts>>;
}

/// Which value codes a read of value counts wants.
pub type WantedCodes<'a> = dyn Fn(u32) -> bool + Sync + 'a;

/// The partitions' cohort grids added on the run's cohort calendar, and
/// finished: [`cohorts::cohort_grid`] of every customer.
pub fn added_grid(stored: &dyn StoredCounts, calendar: &Calendar) -> Result<CohortGrid> {
    let mut grid = CohortGrid::zero(calendar.len());
    each_part(
        stored,
        |p| stored.grid(p),
        |part| grid.add_shifted(&part.counts, offset(part.first, calendar)?),
    )?;
    Ok(cohorts::finished(grid))
}

/// The partitions' monthly counts added on the run's month calendar:
/// [`kpis::monthly_counts`] of every customer.
pub fn added_monthly(stored: &dyn StoredCounts, calendar: &Calendar) -> Result<MonthlyCounts> {
    let mut monthly = MonthlyCounts::zero(calendar.len());
    each_part(
        stored,
        |p| stored.monthly(p),
        |part| monthly.add_shifted(&part.counts, offset(part.first, calendar)?),
    )?;
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
    each_part(
        stored,
        |p| stored.tier_moves(p),
        |part| moves.add_shifted(&part.counts, offset(part.first, calendar)?),
    )?;
    Ok(tiers::migration_of(moves, tiers))
}

/// `add` of each stored partition's counts, as `read` reads them: a few
/// partitions read (and decoded) at a time in parallel, so only those are
/// held beside the run's.
fn each_part<T: Send>(
    stored: &dyn StoredCounts,
    read: impl Fn(usize) -> Result<T> + Sync,
    add: impl FnMut(T) -> Result<()> + Send,
) -> Result<()> {
    let partitions = stored.partitions();
    part_store::fold_in_order(partitions.len(), |i| read(partitions[i]), add)
}

/// The cohort grids (finished) and monthly counts of dimension `d`'s
/// value groups `groups` (`group_of` a code), each added from every
/// partition's counts of the group's value on the run's calendars
/// (`cohort_calendar`, `calendar`): [`cohorts::cohort_grids_by_value`] and
/// [`kpis::monthly_counts_by_value`].
pub fn added_by_value(
    stored: &dyn StoredCounts,
    (d, groups): (usize, Range<usize>),
    group_of: &(dyn Fn(u32) -> usize + Sync),
    (cohort_calendar, calendar): (&Calendar, &Calendar),
) -> Result<(Vec<CohortGrid>, Vec<MonthlyCounts>)> {
    let mut grids = vec![CohortGrid::zero(cohort_calendar.len()); groups.len()];
    let mut months = vec![MonthlyCounts::zero(calendar.len()); groups.len()];
    let wanted = |code: u32| groups.contains(&group_of(code));
    let read = |p| stored.value_counts(p, d, &wanted);
    each_part(stored, read, |values| {
        for value in values {
            let g = group_of(value.code) - groups.start;
            let grid = &value.grid;
            grids[g].add_shifted(&grid.counts, offset(grid.first, cohort_calendar)?)?;
            let monthly = &value.monthly;
            months[g].add_shifted(&monthly.counts, offset(monthly.first, calendar)?)?;
        }
        Ok(())
    })?;
    Ok((grids.into_iter().map(cohorts::finished).collect(), months))
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

/// Counts held in memory, made of each part of a history as a cluster's
/// executors make them of their partitions: for the tests.
#[cfg(test)]
pub struct Held {
    counts: Vec<Option<PartCounts>>,
    partitions: Vec<usize>,
    /// By part and dimension, its values' counts.
    values: Vec<Vec<Vec<ValueCounts>>>,
}

#[cfg(test)]
impl Held {
    /// Each of `history`'s parts counted on its own calendars on
    /// `history.as_of`; added in `order` (part numbers).
    pub fn of_parts(
        history: &crate::stages::orders::OrderHistory,
        (on, tiers): (Counting, Option<&Tiers>),
        order: impl IntoIterator<Item = usize>,
    ) -> Held {
        let as_of = history.as_of;
        let mut held = Held {
            counts: Vec::new(),
            partitions: Vec::new(),
            values: Vec::new(),
        };
        for p in 0..history.part_count() {
            let (counts, values) = history
                .with_part(p, |entries| {
                    let values = (0..history.dimensions.len()).map(|d| {
                        let mut values = Vec::new();
                        count_values(entries, (as_of, on, d), |v| {
                            values.push(v);
                            Ok(())
                        })
                        .unwrap();
                        values
                    });
                    (count_part(entries, as_of, (on, tiers)), values.collect())
                })
                .unwrap();
            held.counts.push(counts);
            held.values.push(values);
        }
        let counted = |p: &usize| held.counts[*p].is_some();
        held.partitions = order.into_iter().filter(counted).collect();
        held
    }

    fn part(&self, p: usize) -> &PartCounts {
        self.counts[p].as_ref().expect("a counted partition")
    }
}

#[cfg(test)]
impl StoredCounts for Held {
    fn partitions(&self) -> &[usize] {
        &self.partitions
    }

    fn grid(&self, p: usize) -> Result<Counted<CohortGrid>> {
        Ok(self.part(p).grid.clone())
    }

    fn monthly(&self, p: usize) -> Result<Counted<MonthlyCounts>> {
        Ok(self.part(p).monthly.clone())
    }

    fn tier_moves(&self, p: usize) -> Result<Counted<TierMoves>> {
        self.part(p)
            .tier_moves
            .clone()
            .ok_or_else(|| no_tier_moves(p))
    }

    fn value_counts(
        &self,
        p: usize,
        d: usize,
        wanted: &WantedCodes<'_>,
    ) -> Result<Vec<ValueCounts>> {
        let values = self.values[p][d].iter().filter(|v| wanted(v.code));
        Ok(values.cloned().collect())
    }
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
            let cut = OrderHistory::of_parts(parts_of(&customers, &cuts), as_of, []);
            let mut order: Vec<usize> = (0..cut.part_count()).collect();
            if reversed {
                order.reverse();
            }
            let added = Held::of_parts(&cut, (on, Some(&tiers)), order);
            let whole = OrderHistory::of_parts(parts_of(&customers, &[]), as_of, []);
            let cohort_calendar = Calendar::of_unit(&whole, cohort_period);
            let calendar = Calendar::of(&whole);
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
        let history = OrderHistory::of_parts(vec![part], 200, []);
        let on = Counting {
            cohort_period: CohortPeriod::Month,
            activity_window_days: 30,
        };
        let tiers = Tiers::new(vec![("Low".into(), 0), ("High".into(), 1_000)]);
        let counted = Held::of_parts(&history, (on, Some(&tiers)), [0]);
        let later = Calendar::from_day(CohortPeriod::Month, 100, 200);
        assert!(added_grid(&counted, &later).is_err());
        assert!(added_monthly(&counted, &later).is_err());
        assert!(added_migration(&counted, &later, &tiers).is_err());
        // Counted without tiers: no moves to add.
        let untiered = Held::of_parts(&history, (on, None), [0]);
        let run = Calendar::from_day(CohortPeriod::Month, 10, 200);
        assert!(added_migration(&untiered, &run, &tiers).is_err());
        assert!(added_migration(&counted, &run, &tiers).is_ok());
        // A calendar longer at the end (another as_of) does not fit either.
        let longer = Calendar::from_day(CohortPeriod::Month, 10, 400);
        assert!(added_grid(&counted, &longer).is_err());
    }
}
