//! What the NPS rules and tables read of the responding customers' orders.

use crate::error::Result;
use crate::stages::calendar::first_order_day_of;
use crate::stages::orders::{EntriesView, OrderHistory};
use crate::time::month_of_day;

/// What the NPS tables read of the responding customers' orders, one
/// entry per respondent in code order: read from the history in one pass
/// that decodes only the respondents.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RespondentOrders {
    /// The day of each one's first order (not a refund), which gives their
    /// cohort.
    pub first_day: Vec<Option<i32>>,
    /// The months (`month_of_day`) each one ordered in (not refunds),
    /// ascending.
    pub months: Vec<Vec<i32>>,
}

impl RespondentOrders {
    /// Reads the orders of `respondents` (codes, ascending), all parts at
    /// once: for the tests (the run reads a part at a time).
    #[cfg(test)]
    pub fn read(respondents: &[u32], history: &OrderHistory) -> Result<RespondentOrders> {
        let read = history.map_members(respondents, of_customer)?;
        Ok(RespondentOrders::of_read(read))
    }

    /// [`RespondentOrders::read`] of `respondents` that are all customers
    /// of the history's part `p`: only that part is read.
    pub fn read_part(
        p: usize,
        respondents: &[u32],
        history: &OrderHistory,
    ) -> Result<RespondentOrders> {
        let read = history.map_part_members(p, respondents, of_customer)?;
        Ok(RespondentOrders::of_read(read))
    }

    /// [`RespondentOrders::read_part`] from the entries of a part whose
    /// first customer's code is `start` (as a cluster's executor reads
    /// them from the history task's file).
    pub fn of_entries(
        (entries, start): (EntriesView<'_>, usize),
        respondents: &[u32],
    ) -> RespondentOrders {
        let of_code = |&c: &u32| {
            let (days, cents) = entries.of(c as usize - start);
            of_customer(days, cents)
        };
        RespondentOrders::of_read(respondents.iter().map(of_code).collect())
    }

    fn of_read(read: Vec<(Option<i32>, Vec<i32>)>) -> RespondentOrders {
        let (first_day, months) = read.into_iter().unzip();
        RespondentOrders { first_day, months }
    }

    /// The entries of `kept`, which are some of `read`, the codes these
    /// entries are of (both ascending).
    pub fn of_kept(self, read: &[u32], kept: &[u32]) -> RespondentOrders {
        debug_assert_eq!(read.len(), self.first_day.len());
        let mut keep = kept.iter().peekable();
        let entries = (read.iter().zip(self.first_day).zip(self.months))
            .filter(|((&code, _), _)| keep.next_if_eq(&&code).is_some())
            .map(|((_, first), months)| (first, months));
        let kept_orders = RespondentOrders::of_read(entries.collect());
        debug_assert_eq!(kept_orders.first_day.len(), kept.len(), "kept among read");
        kept_orders
    }
}

/// A customer's first order day and the months they ordered in.
fn of_customer(days: &[i32], cents: &[i64]) -> (Option<i32>, Vec<i32>) {
    (first_order_day_of(days, cents), order_months(days, cents))
}

/// The distinct months of a customer's orders (not refunds), ascending.
fn order_months(days: &[i32], cents: &[i64]) -> Vec<i32> {
    let mut months: Vec<i32> = days
        .iter()
        .zip(cents)
        .filter(|(_, &x)| x >= 0)
        .map(|(&d, _)| month_of_day(d))
        .collect();
    months.dedup();
    months
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_entries_are_those_of_the_kept_codes() {
        let orders = RespondentOrders {
            first_day: vec![Some(1), None, Some(3), Some(4)],
            months: vec![vec![1], vec![], vec![3], vec![4, 5]],
        };
        let kept = orders.of_kept(&[2, 5, 8, 9], &[2, 8, 9]);
        assert_eq!(kept.first_day, [Some(1), Some(3), Some(4)]);
        assert_eq!(kept.months, [vec![1], vec![3], vec![4, 5]]);
    }
}
