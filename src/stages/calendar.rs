//! The run's month calendar: from the first cohort month to as_of's month,
//! with each month's first and last day and whether it is complete.

use crate::stages::orders::OrderHistory;
use crate::time::{month_end, month_of_day, month_start};

/// Months `first_month ..= last_month` of one run (month indices as in
/// [`crate::time`]).
#[derive(Debug, Clone)]
pub struct Calendar {
    pub first_month: i32,
    pub last_month: i32,
    pub as_of: i32,
    starts: Vec<i32>,
    ends: Vec<i32>,
}

impl Calendar {
    /// The calendar of a history: its first cohort month (the month of the
    /// earliest first order) to as_of's month.
    pub fn of(history: &OrderHistory) -> Calendar {
        let first_day = (0..history.customers())
            .filter_map(|c| first_order_day(history, c))
            .min()
            .unwrap_or(history.as_of);
        Calendar::new(month_of_day(first_day), history.as_of)
    }

    pub fn new(first_month: i32, as_of: i32) -> Calendar {
        let last_month = month_of_day(as_of);
        let months = first_month..=last_month;
        Calendar {
            first_month,
            last_month,
            as_of,
            starts: months.clone().map(month_start).collect(),
            ends: months.map(month_end).collect(),
        }
    }

    /// Number of months.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Position of a month index in the calendar.
    pub fn position(&self, month: i32) -> usize {
        (month - self.first_month) as usize
    }

    /// Position of the month containing `day` (which must be in range).
    pub fn position_of_day(&self, day: i32) -> usize {
        self.starts.partition_point(|&start| start <= day) - 1
    }

    pub fn start(&self, position: usize) -> i32 {
        self.starts[position]
    }

    /// The month's last day, or as_of for as_of's own month: the date at
    /// which "end of month" figures are taken.
    pub fn end_or_as_of(&self, position: usize) -> i32 {
        self.ends[position].min(self.as_of)
    }

    /// A month is complete when its last day is on or before as_of.
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
