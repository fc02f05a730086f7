//! The run's calendars: consecutive periods (months for the KPIs; months,
//! ISO weeks or quarters for cohorts) from the period of the first order
//! to as_of's period, with each period's first and last day and whether it
//! is complete.

use crate::stages::orders::OrderHistory;
use crate::time::CohortPeriod;

/// Periods `first ..= last` of one run, in one unit (period indices as in
/// [`CohortPeriod::index_of_day`]).
#[derive(Debug, Clone)]
pub struct Calendar {
    pub unit: CohortPeriod,
    pub first: i32,
    pub last: i32,
    pub as_of: i32,
    starts: Vec<i32>,
    ends: Vec<i32>,
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
        let first_day = (0..history.customers())
            .filter_map(|c| first_order_day(history, c))
            .min()
            .unwrap_or(history.as_of);
        Calendar::new(unit, unit.index_of_day(first_day), history.as_of)
    }

    pub fn new(unit: CohortPeriod, first: i32, as_of: i32) -> Calendar {
        let last = unit.index_of_day(as_of);
        let periods = first..=last;
        Calendar {
            unit,
            first,
            last,
            as_of,
            starts: periods.clone().map(|p| unit.start(p)).collect(),
            ends: periods.map(|p| unit.end(p)).collect(),
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
        self.starts.partition_point(|&start| start <= day) - 1
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

/// The date of a customer's first order (refunds excluded).
pub fn first_order_day(history: &OrderHistory, c: usize) -> Option<i32> {
    let (days, cents) = history.of(c);
    days.iter()
        .zip(cents)
        .find(|(_, &x)| x >= 0)
        .map(|(&d, _)| d)
}
