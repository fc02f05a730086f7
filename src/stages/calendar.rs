//! The run's calendars: consecutive periods (months for the KPIs; months,
//! ISO weeks or quarters for cohorts) from the period of the first order
//! to as_of's period, with each period's first and last day and whether it
//! is complete.

use crate::error::{Error, Result};
use crate::stages::orders::OrderHistory;
use crate::time::{date_of, CohortPeriod};

/// The most months a run's month calendar may hold (the first cohort month
/// to as_of's month): 100 years. `kpis_monthly`, `tier_migration` and
/// `nps_monthly` have a row (tier_migration a grid) per month.
pub const MAX_MONTHS: usize = 1_200;

/// The most periods the cohort calendar may hold, in any unit (weekly:
/// about 23 years). The cohort grid holds a cell per cohort × later period,
/// about periods² / 2 of them (one grid per thread while counting, one more
/// per dimension slice), so it is bounded before anything is allocated:
/// 1,200 periods are about 23 MB a grid.
pub const MAX_COHORT_PERIODS: usize = 1_200;

/// Periods `first ..= last` of one run, in one unit (period indices as in
/// [`CohortPeriod::index_of_day`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calendar {
    pub unit: CohortPeriod,
    pub first: i32,
    pub last: i32,
    pub as_of: i32,
    starts: Vec<i32>,
    ends: Vec<i32>,
    /// The position of each day's period, from the first period's first
    /// day to the last one's last: the stages ask once per order and
    /// customer, and a binary search over the periods there was a third
    /// of the KPI count's time (2 M customers, 36 months).
    position_by_day: Vec<u32>,
}

impl Calendar {
    /// The month calendar of a history: its first cohort month (the month
    /// of the earliest first order) to as_of's month.
    pub fn of(history: &OrderHistory) -> Calendar {
        Calendar::of_unit(history, CohortPeriod::Month)
    }

    /// The calendar of a history in `unit`: the period of the earliest
    /// first order to as_of's period.
    pub fn of_unit(history: &OrderHistory, unit: CohortPeriod) -> Calendar {
        Calendar::from_day(unit, earliest_first_order(history), history.as_of)
    }

    /// Fails when the month calendar or the `cohort_unit` calendar of a
    /// history would exceed [`MAX_MONTHS`] or [`MAX_COHORT_PERIODS`], before
    /// either (or any table over them) is allocated.
    pub fn check_span(history: &OrderHistory, cohort_unit: CohortPeriod) -> Result<()> {
        Calendar::check_days(earliest_first_order(history), history.as_of, cohort_unit)
    }

    /// [`Calendar::check_span`] of calendars from the day `first` to
    /// `as_of`.
    pub fn check_days(first: i32, as_of: i32, cohort_unit: CohortPeriod) -> Result<()> {
        // The cohort unit first: with weeks it is the one that binds, and
        // its error says so.
        span_within(first, as_of, cohort_unit, MAX_COHORT_PERIODS)?;
        span_within(first, as_of, CohortPeriod::Month, MAX_MONTHS)
    }

    /// The calendar in `unit` from the period of the day `first` to
    /// as_of's period.
    pub fn from_day(unit: CohortPeriod, first: i32, as_of: i32) -> Calendar {
        Calendar::new(unit, unit.index_of_day(first), as_of)
    }

    pub fn new(unit: CohortPeriod, first: i32, as_of: i32) -> Calendar {
        let last = unit.index_of_day(as_of);
        let periods = first..=last;
        let starts: Vec<i32> = periods.clone().map(|p| unit.start(p)).collect();
        let ends: Vec<i32> = periods.map(|p| unit.end(p)).collect();
        Calendar {
            unit,
            first,
            last,
            as_of,
            position_by_day: position_by_day(&starts, &ends),
            starts,
            ends,
        }
    }

    /// Number of periods.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Position of a period index in the calendar.
    pub fn position(&self, period: i32) -> usize {
        (period - self.first) as usize
    }

    /// Position of the period containing `day` (which must be in range).
    pub fn position_of_day(&self, day: i32) -> usize {
        let offset = usize::try_from(day - self.starts[0]).expect("a day before the calendar");
        match self.position_by_day.get(offset) {
            Some(&position) => position as usize,
            // After the last period's end: the last period, as before.
            None => self.starts.len() - 1,
        }
    }

    pub fn start(&self, position: usize) -> i32 {
        self.starts[position]
    }

    /// The period's last day, or as_of for as_of's own period: the date at
    /// which "end of period" figures are taken.
    pub fn end_or_as_of(&self, position: usize) -> i32 {
        self.ends[position].min(self.as_of)
    }

    /// A period is complete when its last day is on or before as_of.
    pub fn is_complete(&self, position: usize) -> bool {
        self.ends[position] <= self.as_of
    }
}

/// Each day's period position, from `starts[0]` to the last end (periods
/// are consecutive: each starts the day after the one before ends).
fn position_by_day(starts: &[i32], ends: &[i32]) -> Vec<u32> {
    let mut positions = Vec::new();
    for (position, (&start, &end)) in starts.iter().zip(ends).enumerate() {
        debug_assert_eq!(start, starts[0] + positions.len() as i32);
        positions.extend((start..=end).map(|_| position as u32));
    }
    positions
}

/// The earliest first order of a history (as_of when it has none), found
/// when its parts were joined.
fn earliest_first_order(history: &OrderHistory) -> i32 {
    history.earliest_first_order().unwrap_or(history.as_of)
}

/// Fails unless counts of `what` over `periods` periods, counted on a
/// calendar that starts `offset` periods after the run's and ends with it
/// (a customer partition's own), fit the run's `run_periods` periods.
pub fn check_shift(what: &str, periods: usize, offset: usize, run_periods: usize) -> Result<()> {
    if periods + offset == run_periods {
        return Ok(());
    }
    Err(Error::Cluster(format!(
        "a partition's {what} over {periods} periods do not fit {run_periods} periods from period {offset}"
    )))
}

/// Periods of `unit` from the one holding `first` to the one holding
/// `as_of`, at most `limit`.
fn span_within(first: i32, as_of: i32, unit: CohortPeriod, limit: usize) -> Result<()> {
    let periods = unit.index_of_day(as_of) as i64 - unit.index_of_day(first) as i64 + 1;
    if periods <= limit as i64 {
        return Ok(());
    }
    Err(Error::CalendarTooLong {
        first_order: date_of(first).to_string(),
        as_of: date_of(as_of).to_string(),
        periods,
        unit: unit.name(),
        limit,
        hint: match unit {
            CohortPeriod::Week => {
                ", or use monthly or quarterly cohorts ([business] cohort_period)"
            }
            _ => "",
        },
    })
}

pub use crate::stages::orders::first_order_day_of;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::day_number;
    use chrono::NaiveDate;

    fn day(text: &str) -> i32 {
        day_number(NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap())
    }

    /// Periods from `first` to `as_of` counted by walking the calendar one
    /// period at a time (independent of the index arithmetic).
    fn walked(first: i32, as_of: i32, unit: CohortPeriod) -> i64 {
        let (mut start, mut n) = (unit.start(unit.index_of_day(first)), 0);
        while start <= as_of {
            n += 1;
            start = unit.end(unit.index_of_day(start)) + 1;
        }
        n
    }

    #[test]
    fn span_limit_is_inclusive_and_counts_partial_periods() {
        // 1,200 months: January 1925 to December 2024.
        let first = day("1925-01-31");
        assert_eq!(walked(first, day("2024-12-01"), CohortPeriod::Month), 1_200);
        assert!(span_within(first, day("2024-12-01"), CohortPeriod::Month, MAX_MONTHS).is_ok());
        let e = span_within(first, day("2025-01-01"), CohortPeriod::Month, MAX_MONTHS).unwrap_err();
        let text = e.to_string();
        for part in ["1925-01-31", "2025-01-01", "1201 months", "at most 1200"] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn span_limit_in_weeks_and_quarters() {
        for (unit, first, as_of) in [
            (CohortPeriod::Week, "2001-01-01", "2024-01-01"),
            (CohortPeriod::Week, "1900-01-01", "2200-12-31"),
            (CohortPeriod::Quarter, "1900-01-01", "2200-12-31"),
            (CohortPeriod::Quarter, "1950-02-03", "2024-06-30"),
            (CohortPeriod::Month, "1900-01-01", "2200-12-31"),
        ] {
            let (first, as_of) = (day(first), day(as_of));
            let n = walked(first, as_of, unit);
            let ok = span_within(first, as_of, unit, MAX_COHORT_PERIODS).is_ok();
            assert_eq!(ok, n <= MAX_COHORT_PERIODS as i64, "{unit:?}: {n} periods");
            if !ok {
                let text = span_within(first, as_of, unit, MAX_COHORT_PERIODS)
                    .unwrap_err()
                    .to_string();
                assert!(text.contains(&format!("{n} {}s", unit.name())), "{text}");
            }
        }
    }

    proptest::proptest! {
        /// The day table gives every day's period as its definition: the
        /// last period starting on or before the day (first day through a
        /// few days past as_of's period), in each unit.
        #[test]
        fn position_of_day_is_the_period_containing_the_day(
            unit in proptest::sample::select(vec![
                CohortPeriod::Month,
                CohortPeriod::Week,
                CohortPeriod::Quarter,
            ]),
            first_day in -20_000i32..30_000,
            span in 0i32..3_000,
        ) {
            let calendar = Calendar::new(unit, unit.index_of_day(first_day), first_day + span);
            let start = unit.start(unit.index_of_day(first_day));
            let after = unit.end(calendar.last) + 40;
            for day in start..=after {
                let expected = (0..calendar.len())
                    .filter(|&p| calendar.start(p) <= day)
                    .max()
                    .unwrap();
                proptest::prop_assert_eq!(calendar.position_of_day(day), expected, "day {}", day);
            }
        }
    }
}
