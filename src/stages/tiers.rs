//! Loyalty tiers: each customer's trailing-12-month spend, their tier now
//! and twelve months ago, and the counts behind the `tier_migration` table
//! (its frame and the customers table's tier columns are built in
//! `tables::tiers`).
//!
//! Trailing spend at date d = net revenue (orders minus refunds, in cents)
//! of the entries dated after d − 12 months and on or before d, where
//! d − 12 months is the same calendar date a year earlier (29 February
//! becomes 28 February). The tier at d is the highest tier whose
//! `min_spend` is at most that spend; the first tier has `min_spend = 0`
//! and also takes a negative spend, so every customer has exactly one tier.
//!
//! `tier_migration` grain: month × from_tier × to_tier, the full grid (zero
//! rows kept), from the first cohort month to as_of's month. For month m a
//! customer acquired by the end of m (as_of for as_of's month) is counted
//! once: from their tier at the end of m − 1, or from
//! `config::NEW_TIER` when their first order falls in m, to their
//! tier at the end of m. Customers are
//! scanned in parallel into per-thread count arrays; a customer whose
//! spend has dropped to zero for good (a year after their last entry) is
//! added once to a "settled in the lowest tier from month k" counter and a
//! prefix sum spreads it over the remaining months, so the work is
//! proportional to orders plus active months, not customers × months.

use crate::config::LoyaltyConfig;
use crate::error::{Error, Result};
use crate::stages::calendar::{check_shift, first_order_day_of, Calendar};
use crate::stages::orders::{EntriesView, OrderHistory};
use crate::tables::schema::tiers::movement;
use crate::time::twelve_months_before;

/// Validated tiers, lowest first (sent to a cluster's history tasks).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tiers {
    pub names: Vec<String>,
    /// `min_spend` in cents; the first is 0, strictly increasing.
    pub thresholds: Vec<i64>,
}

impl Tiers {
    /// Tiers of a validated `[loyalty]` section.
    pub fn of(config: &LoyaltyConfig) -> Tiers {
        Tiers::new(
            config
                .tiers
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.trim().to_string(), config.tier_cents(i)))
                .collect(),
        )
    }

    /// Tiers from (name, threshold in cents), lowest first.
    pub fn new(tiers: Vec<(String, i64)>) -> Tiers {
        assert!(
            tiers.len() >= 2 && tiers[0].1 == 0,
            "tiers are validated by the config"
        );
        assert!(tiers.windows(2).all(|w| w[0].1 < w[1].1));
        let (names, thresholds) = tiers.into_iter().unzip();
        Tiers { names, thresholds }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of the tier of a trailing spend: the highest tier whose
    /// threshold is at most `cents`, the lowest for a negative spend.
    pub fn tier_of(&self, cents: i64) -> usize {
        self.thresholds
            .partition_point(|&t| t <= cents)
            .saturating_sub(1)
    }

    /// The index of the top tier.
    pub fn top(&self) -> usize {
        self.len() - 1
    }
}

/// Net cents of a customer's entries dated after `twelve_months_before(d)`
/// and on or before `d` (entries sorted by day).
pub fn trailing_spend(days: &[i32], cents: &[i64], d: i32) -> i64 {
    spend_between(days, cents, twelve_months_before(d), d)
}

/// Net cents of the entries dated after `lower` and on or before `d`.
/// Cannot wrap: a sum over some of one customer's entries is bounded by the
/// run's Σ |cents| (`orders::MAX_ACCEPTED_VOLUME_CENTS`).
fn spend_between(days: &[i32], cents: &[i64], lower: i32, d: i32) -> i64 {
    let from = days.partition_point(|&x| x <= lower);
    let to = days.partition_point(|&x| x <= d);
    cents[from..to.max(from)].iter().sum()
}

/// Per-customer tier columns, in customer-code order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerTiers {
    /// Net spend in the twelve months ending on as_of (always computed).
    pub trailing_12m_cents: Vec<i64>,
    /// Tier index at as_of; `None` without `[loyalty]`.
    pub tier: Option<Vec<usize>>,
    /// Tier index at as_of − 12 months; the inner `None` for customers whose
    /// first order is after that date.
    pub tier_12m_ago: Option<Vec<Option<usize>>>,
}

/// Trailing spend and tiers of every customer.
pub fn customer_tiers(history: &OrderHistory, tiers: Option<&Tiers>) -> Result<CustomerTiers> {
    let parts = history.map_parts(|_, entries| tiers_of_part(entries, history.as_of, tiers))?;
    let mut all = CustomerTiers::default();
    for part in parts {
        all.append(part);
    }
    Ok(all)
}

/// Trailing spend and tiers of the customers of one partition, on
/// `as_of`.
pub fn tiers_of_part(entries: EntriesView, as_of: i32, tiers: Option<&Tiers>) -> CustomerTiers {
    let year_ago = twelve_months_before(as_of);
    let two_years_ago = twelve_months_before(year_ago);
    let rows: Vec<(i64, i64, Option<i32>)> = entries
        .iter()
        .map(|(days, cents)| {
            (
                spend_between(days, cents, year_ago, as_of),
                spend_between(days, cents, two_years_ago, year_ago),
                first_order_day_of(days, cents),
            )
        })
        .collect();
    CustomerTiers {
        trailing_12m_cents: rows.iter().map(|r| r.0).collect(),
        tier: tiers.map(|t| rows.iter().map(|r| t.tier_of(r.0)).collect()),
        tier_12m_ago: tiers.map(|t| {
            rows.iter()
                .map(|r| {
                    r.2.filter(|&first| first <= year_ago)
                        .map(|_| t.tier_of(r.1))
                })
                .collect()
        }),
    }
}

impl CustomerTiers {
    /// Appends the customers of `other` after these.
    pub fn append(&mut self, mut other: CustomerTiers) {
        self.trailing_12m_cents
            .append(&mut other.trailing_12m_cents);
        append_present(&mut self.tier, other.tier);
        append_present(&mut self.tier_12m_ago, other.tier_12m_ago);
    }
}

/// `other` after `values`, when there are values (with `[loyalty]`).
fn append_present<T>(values: &mut Option<Vec<T>>, other: Option<Vec<T>>) {
    match (values.as_mut(), other) {
        (Some(v), Some(mut o)) => v.append(&mut o),
        (None, Some(o)) => *values = Some(o),
        (_, None) => {}
    }
}

/// Customer counts per month × from (0 = new, 1 + tier) × to (tier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationCounts {
    pub months: usize,
    pub tiers: usize,
    /// `counts[(m * (tiers + 1) + from) * tiers + to]`.
    pub counts: Vec<i64>,
}

impl MigrationCounts {
    pub fn get(&self, month: usize, from: usize, to: usize) -> i64 {
        self.counts[(month * (self.tiers + 1) + from) * self.tiers + to]
    }

    /// Σ customers of a month.
    pub fn month_total(&self, month: usize) -> i64 {
        let width = (self.tiers + 1) * self.tiers;
        self.counts[month * width..(month + 1) * width].iter().sum()
    }
}

/// Tier moves as counted: the [`MigrationCounts`] cells but for the
/// customers settled in the lowest tier, counted once in the month they
/// settle from. A thread's accumulator, or a customer partition's counts
/// (a cluster's executor counts its partition on its own calendar).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TierMoves {
    counts: Vec<i64>,
    settled_from: Vec<i64>,
}

impl TierMoves {
    fn zero(months: usize, tiers: usize) -> TierMoves {
        TierMoves {
            counts: vec![0; months * (tiers + 1) * tiers],
            settled_from: vec![0; months],
        }
    }

    fn add(mut self, other: TierMoves) -> TierMoves {
        self.add_at(&other, 0);
        self
    }

    /// Adds `other`, counted with the same tiers on a month calendar with
    /// the same as_of that starts `offset` months later: its month m is
    /// this one's m + offset. Fails when the two do not line up so.
    pub fn add_shifted(&mut self, other: &TierMoves, offset: usize) -> Result<()> {
        let months = (other.settled_from.len(), self.settled_from.len());
        check_shift("tier moves", months.0, offset, months.1)?;
        // As many tiers: as many cells a month.
        if other.counts.len() * months.1 != self.counts.len() * months.0 {
            return Err(Error::Cluster(
                "a partition's tier moves were counted with other tiers".into(),
            ));
        }
        self.add_at(other, offset);
        Ok(())
    }

    /// Adds `other`'s month m to this one's m + `offset`.
    fn add_at(&mut self, other: &TierMoves, offset: usize) {
        let cells = self.counts.len() / self.settled_from.len().max(1);
        for (a, b) in self.counts[offset * cells..].iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (a, b) in self.settled_from[offset..]
            .iter_mut()
            .zip(&other.settled_from)
        {
            *a += b;
        }
    }
}

/// Each month's end (as_of for as_of's month) and the day twelve months
/// before it: the trailing window of the month is `(lower, end]`.
struct MonthWindows {
    end: Vec<i32>,
    lower: Vec<i32>,
}

impl MonthWindows {
    fn of(calendar: &Calendar) -> MonthWindows {
        let end: Vec<i32> = (0..calendar.len())
            .map(|m| calendar.end_or_as_of(m))
            .collect();
        let lower = end.iter().map(|&d| twelve_months_before(d)).collect();
        MonthWindows { end, lower }
    }
}

/// Adds one customer's months to `acc`.
fn migrate_customer(
    acc: &mut TierMoves,
    days: &[i32],
    cents: &[i64],
    cohort: usize,
    windows: &MonthWindows,
    tiers: &Tiers,
) {
    let n_tiers = tiers.len();
    let last_entry = *days.last().expect("a customer has entries");
    // `spend` is always the sum of the window entries[lo..hi], some of
    // the customer's entries: it cannot wrap (see
    // `orders::MAX_ACCEPTED_VOLUME_CENTS`).
    let (mut lo, mut hi, mut spend) = (0usize, 0usize, 0i64);
    let mut previous: Option<usize> = None;
    for m in cohort..windows.end.len() {
        if m > cohort && windows.lower[m - 1] >= last_entry {
            // Zero spend at the end of m − 1 and at every later month end:
            // lowest → lowest from m on.
            acc.settled_from[m] += 1;
            return;
        }
        let (d, lower) = (windows.end[m], windows.lower[m]);
        while hi < days.len() && days[hi] <= d {
            spend += cents[hi];
            hi += 1;
        }
        while lo < hi && days[lo] <= lower {
            spend -= cents[lo];
            lo += 1;
        }
        let to = tiers.tier_of(spend);
        let from = previous.map_or(0, |t| t + 1);
        acc.counts[(m * (n_tiers + 1) + from) * n_tiers + to] += 1;
        previous = Some(to);
    }
}

/// Adds one customer's months to `acc`, from the month of their first
/// order (none without one).
fn count_customer(
    acc: &mut TierMoves,
    (days, cents): (&[i32], &[i64]),
    (calendar, windows): (&Calendar, &MonthWindows),
    tiers: &Tiers,
) {
    if let Some(first) = first_order_day_of(days, cents) {
        let cohort = calendar.position_of_day(first);
        migrate_customer(acc, days, cents, cohort, windows, tiers);
    }
}

/// Counts every customer's tier moves, in parallel over the history's
/// parts.
pub fn migration_counts(
    history: &OrderHistory,
    calendar: &Calendar,
    tiers: &Tiers,
) -> Result<MigrationCounts> {
    let (months, n_tiers) = (calendar.len(), tiers.len());
    let windows = MonthWindows::of(calendar);
    let acc = history.fold_customers(
        || TierMoves::zero(months, n_tiers),
        |acc, days, cents| count_customer(acc, (days, cents), (calendar, &windows), tiers),
        TierMoves::add,
    )?;
    Ok(migration_of(acc, tiers))
}

/// The tier moves of one part's customers (`entries`) on the month
/// calendar `calendar`: what a cluster's executor counts of its partition
/// while it holds the entries, on the partition's own calendar.
pub fn counted_part(entries: EntriesView<'_>, calendar: &Calendar, tiers: &Tiers) -> TierMoves {
    let windows = MonthWindows::of(calendar);
    let mut acc = TierMoves::zero(calendar.len(), tiers.len());
    for customer in entries.iter() {
        count_customer(&mut acc, customer, (calendar, &windows), tiers);
    }
    acc
}

/// The migration counts of every customer from their moves as counted
/// (all of them, on the run's calendar): each settled customer spread
/// over the months from the one they settle from.
pub fn migration_of(acc: TierMoves, tiers: &Tiers) -> MigrationCounts {
    let (months, n_tiers) = (acc.settled_from.len(), tiers.len());
    let mut counts = acc.counts;
    let mut settled = 0;
    for m in 0..months {
        settled += acc.settled_from[m];
        // from = lowest tier (1 + 0), to = lowest tier (0).
        counts[(m * (n_tiers + 1) + 1) * n_tiers] += settled;
    }
    MigrationCounts {
        months,
        tiers: n_tiers,
        counts,
    }
}

/// No tier moves on the month calendar `calendar`, to add partitions'
/// moves to.
pub fn no_moves(calendar: &Calendar, tiers: &Tiers) -> TierMoves {
    TierMoves::zero(calendar.len(), tiers.len())
}

/// The `movement` of a (from, to) cell of [`MigrationCounts`] (from 0 =
/// new, else 1 + tier): `new` for customers acquired in the month, else
/// `up`, `down` or `same`.
pub fn movement(from: usize, to: usize) -> &'static str {
    match from {
        0 => movement::NEW,
        f if f - 1 < to => movement::UP,
        f if f - 1 > to => movement::DOWN,
        _ => movement::SAME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::day_number;
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        day_number(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    fn tiers() -> Tiers {
        Tiers::new(vec![
            ("Bronze".into(), 0),
            ("Silver".into(), 25_000),
            ("Gold".into(), 100_000),
        ])
    }

    #[test]
    fn tier_is_the_highest_threshold_reached() {
        let t = tiers();
        assert_eq!(t.tier_of(-500), 0);
        assert_eq!(t.tier_of(0), 0);
        assert_eq!(t.tier_of(24_999), 0);
        assert_eq!(t.tier_of(25_000), 1);
        assert_eq!(t.tier_of(99_999), 1);
        assert_eq!(t.tier_of(100_000), 2);
        assert_eq!(t.tier_of(i64::MAX), 2);
    }

    #[test]
    fn trailing_window_excludes_its_first_day_and_includes_the_last() {
        let days = [day(2023, 5, 20), day(2023, 5, 21), day(2024, 5, 20)];
        let cents = [100, 200, 400];
        assert_eq!(trailing_spend(&days, &cents, day(2024, 5, 20)), 600);
        assert_eq!(trailing_spend(&days, &cents, day(2024, 5, 19)), 300);
        assert_eq!(trailing_spend(&days, &cents, day(2023, 5, 20)), 100);
        // 29 February: the window starts after 28 February a year earlier.
        let days = [day(2023, 2, 28), day(2023, 3, 1)];
        assert_eq!(trailing_spend(&days, &[1, 2], day(2024, 2, 29)), 2);
    }

    #[test]
    fn migration_counts_a_customer_once_per_month_from_acquisition() {
        // One customer: 100.00 in January 2024 (Bronze), 200.00 in
        // February (300.00: Silver) and nothing after. In January 2025 the
        // January order leaves the window (200.00: Bronze); from March 2025
        // the window is empty for good (the settled counter).
        let history = OrderHistory::from_rows(
            day(2025, 4, 15),
            &[
                ("a", day(2024, 1, 10), 10_000),
                ("a", day(2024, 2, 10), 20_000),
            ],
        );
        let calendar = Calendar::of(&history);
        let t = tiers();
        let counts = migration_counts(&history, &calendar, &t).unwrap();
        assert_eq!(counts.months, 16);
        assert_eq!(counts.get(0, 0, 0), 1); // Jan 2024: new → Bronze
        assert_eq!(counts.get(1, 1, 1), 1); // Feb: Bronze → Silver
        for m in 2..=11 {
            assert_eq!(counts.get(m, 2, 1), 1, "month {m}"); // Silver → Silver
        }
        assert_eq!(counts.get(12, 2, 0), 1); // Jan 2025: Silver → Bronze
        assert_eq!(counts.get(13, 1, 0), 1); // Feb 2025: Bronze → Bronze
        assert_eq!(counts.get(14, 1, 0), 1); // Mar 2025 (settled)
        assert_eq!(counts.get(15, 1, 0), 1); // Apr 2025 (settled)
        for m in 0..16 {
            assert_eq!(counts.month_total(m), 1, "month {m}");
        }
    }

    #[test]
    fn movements() {
        assert_eq!(movement(0, 2), "new");
        assert_eq!(movement(1, 1), "up");
        assert_eq!(movement(3, 0), "down");
        assert_eq!(movement(2, 1), "same");
    }
}
