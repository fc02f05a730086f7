//! Target lists for a CRM: `win_back`, `at_risk_high_value`,
//! `reengage_new` and `vip`, one table each with the customer id, the
//! numbers that put the customer on the list and a `suggested_action`.
//!
//! The lists are mutually exclusive: each customer is put on the first list
//! whose rule holds, in this precedence (SPEC §4 activity at as_of, W the
//! activity window):
//!
//! 1. `win_back`: not active at as_of (as_of − last order ≥ W).
//! 2. `at_risk_high_value` (only with the CLV stage): active; CLV high (at
//!    least `high_clv_quantile` of all customers have a strictly lower
//!    CLV); `p_alive < p_alive_below`; frequency ≥ 1 and days since the last
//!    order > recency_days / frequency (their usual gap between order days).
//! 3. `reengage_new`: active; exactly one order; the days since the first
//!    order exceed the typical second-order gap: `reengage_after_days` when
//!    set, else the median, over customers with at least two orders, of the
//!    days from their first to their second order (no such customer: nobody).
//! 4. `vip` (only with tiers or the CLV stage): active and in the top
//!    loyalty tier, or with CLV in the top decile (at least
//!    `vip_clv_quantile` of all customers have a strictly lower CLV).
//!
//! Quantiles count customers with a strictly lower value, so ties share a
//! fate and the result does not depend on row order or thread count. A
//! customer whose CLV could not be computed (null) has no quantile: they
//! are counted in no share and qualify for no rule that needs one.
//!
//! The stage puts customers on lists a customer partition at a time and
//! produces each published list's rows as typed structs (customer codes,
//! not ids), then puts each list in its order; their frames are built in
//! `tables::targets`, which looks the ids up.

use rayon::prelude::*;

use crate::config::TargetsConfig;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::CustomerSummary;
use crate::stages::tiers::{CustomerTiers, Tiers};

/// A target list, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetList {
    WinBack,
    AtRiskHighValue,
    ReengageNew,
    Vip,
}

impl TargetList {
    pub fn suggested_action(self) -> &'static str {
        match self {
            TargetList::WinBack => "win-back offer: invite the lapsed customer back",
            TargetList::AtRiskHighValue => {
                "personal retention offer: valuable customer overdue for their next order"
            }
            TargetList::ReengageNew => {
                "second-order incentive: one-time buyer past the usual second-order gap"
            }
            TargetList::Vip => "loyalty reward or early access: keep a top customer engaged",
        }
    }
}

/// Everything the rules need of one customer partition (its customers'
/// codes start at `start`); the CLV scores are every customer's.
pub struct TargetInputs<'a> {
    /// The code of the partition's first customer.
    pub start: usize,
    pub as_of: i32,
    pub summary: &'a CustomerSummary,
    pub window: u32,
    pub tiers: Option<&'a Tiers>,
    pub customer_tiers: &'a CustomerTiers,
    pub clv: Option<&'a ClvScores>,
    pub config: &'a TargetsConfig,
}

/// The figures the rules use that depend on every customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Share of customers with a strictly lower CLV (with the CLV stage),
    /// among those with a CLV; `None` for a customer without one.
    pub clv_quantile: Option<Vec<Option<f64>>>,
    /// The second-order gap in days, doubled (exact for a median of two).
    pub gap_doubled: Option<i64>,
}

impl Targets {
    /// The figures of a run whose customers' CLV scores are `clv` and
    /// whose median second-order gap (doubled) is `median_gap_doubled`.
    pub fn of(
        clv: Option<&ClvScores>,
        median_gap_doubled: Option<i64>,
        config: &TargetsConfig,
    ) -> Targets {
        Targets {
            clv_quantile: clv.map(|scores| share_below_of_known(&scores.clv)),
            gap_doubled: match config.reengage_after_days {
                Some(days) => Some(2 * days as i64),
                None => median_gap_doubled,
            },
        }
    }

    pub fn typical_gap_days(&self) -> Option<f64> {
        self.gap_doubled.map(|g| g as f64 / 2.0)
    }
}

/// For each value, the share of values strictly below it.
pub fn share_below(values: &[f64]) -> Vec<f64> {
    let n = values.len().max(1) as f64;
    crate::stages::customers::ranks_below(values, f64::total_cmp)
        .into_iter()
        .map(|below| below as f64 / n)
        .collect()
}

/// [`share_below`] among the values that exist; `None` for a missing one
/// (a CLV that could not be computed has no rank).
fn share_below_of_known(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let mut shares = share_below(&known).into_iter();
    values
        .iter()
        .map(|v| v.and_then(|_| shares.next()))
        .collect()
}

/// The list of the partition's customer `c` (its index in the partition),
/// if any.
pub fn list_of(inputs: &TargetInputs, targets: &Targets, c: usize) -> Option<TargetList> {
    let s = inputs.summary;
    let config = inputs.config;
    let code = inputs.start + c;
    let since_last = inputs.as_of as i64 - s.last_order_day[c] as i64;
    if since_last >= inputs.window as i64 {
        return Some(TargetList::WinBack);
    }
    let quantile = targets.clv_quantile.as_ref().and_then(|q| q[code]);
    if let Some(scores) = inputs.clv {
        let overdue = s.frequency[c] >= 1 && since_last * s.frequency[c] > s.recency_days[c];
        if quantile.is_some_and(|q| q >= config.high_clv_quantile)
            && scores.p_alive[code] < config.p_alive_below
            && overdue
        {
            return Some(TargetList::AtRiskHighValue);
        }
    }
    let gap_doubled = targets.gap_doubled;
    if s.orders[c] == 1 && gap_doubled.is_some_and(|g| 2 * s.tenure_days[c] > g) {
        return Some(TargetList::ReengageNew);
    }
    let in_top_tier = inputs
        .tiers
        .zip(inputs.customer_tiers.tier.as_ref())
        .is_some_and(|(t, tier)| tier[c] == t.top());
    let top_clv = quantile.is_some_and(|q| q >= config.vip_clv_quantile);
    (in_top_tier || top_clv).then_some(TargetList::Vip)
}

/// Which lists a run publishes: `win_back` and `reengage_new` always,
/// `at_risk_high_value` with the CLV stage, `vip` with tiers or CLV.
pub fn published_lists(has_tiers: bool, has_clv: bool) -> Vec<TargetList> {
    let mut lists = vec![TargetList::WinBack];
    if has_clv {
        lists.push(TargetList::AtRiskHighValue);
    }
    lists.push(TargetList::ReengageNew);
    if has_tiers || has_clv {
        lists.push(TargetList::Vip);
    }
    lists
}

/// One `win_back` row: a lapsed customer (`customer`: their code).
#[derive(Debug, Clone, PartialEq)]
pub struct WinBackRow {
    pub customer: u32,
    pub last_order_day: i32,
    pub days_since_last_order: i64,
    pub orders: i64,
    pub revenue_cents: i64,
}

/// One `at_risk_high_value` row: a valuable customer overdue for their
/// next order.
#[derive(Debug, Clone, PartialEq)]
pub struct AtRiskRow {
    pub customer: u32,
    pub clv: f64,
    pub clv_quantile: f64,
    pub p_alive: f64,
    pub frequency: i64,
    pub recency_days: i64,
    /// recency_days / frequency: the usual gap between order days.
    pub usual_gap_days: f64,
    pub days_since_last_order: i64,
    pub revenue_cents: i64,
}

/// One `reengage_new` row: a one-time buyer past the typical gap.
#[derive(Debug, Clone, PartialEq)]
pub struct ReengageRow {
    pub customer: u32,
    pub first_order_day: i32,
    pub days_since_first_order: i64,
    /// The same for every row ([`Targets::typical_gap_days`]).
    pub typical_gap_days: Option<f64>,
    pub revenue_cents: i64,
}

/// One `vip` row; the tier figures (`tier`: an index into the tier names)
/// are `None` without tiers, the CLV figures without the CLV stage.
#[derive(Debug, Clone, PartialEq)]
pub struct VipRow {
    pub customer: u32,
    pub tier: Option<usize>,
    pub trailing_12m_cents: i64,
    pub top_tier: Option<bool>,
    pub clv: Option<f64>,
    pub clv_quantile: Option<f64>,
    pub top_clv: Option<bool>,
    pub revenue_cents: i64,
}

/// The rows of one published list.
#[derive(Debug, Clone, PartialEq)]
pub enum ListRows {
    WinBack(Vec<WinBackRow>),
    AtRiskHighValue(Vec<AtRiskRow>),
    ReengageNew(Vec<ReengageRow>),
    Vip(Vec<VipRow>),
}

impl ListRows {
    /// No rows of `list`.
    pub fn empty(list: TargetList) -> ListRows {
        match list {
            TargetList::WinBack => ListRows::WinBack(Vec::new()),
            TargetList::AtRiskHighValue => ListRows::AtRiskHighValue(Vec::new()),
            TargetList::ReengageNew => ListRows::ReengageNew(Vec::new()),
            TargetList::Vip => ListRows::Vip(Vec::new()),
        }
    }

    pub fn list(&self) -> TargetList {
        match self {
            ListRows::WinBack(_) => TargetList::WinBack,
            ListRows::AtRiskHighValue(_) => TargetList::AtRiskHighValue,
            ListRows::ReengageNew(_) => TargetList::ReengageNew,
            ListRows::Vip(_) => TargetList::Vip,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ListRows::WinBack(r) => r.len(),
            ListRows::AtRiskHighValue(r) => r.len(),
            ListRows::ReengageNew(r) => r.len(),
            ListRows::Vip(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn reserve(&mut self, rows: usize) {
        match self {
            ListRows::WinBack(r) => r.reserve(rows),
            ListRows::AtRiskHighValue(r) => r.reserve(rows),
            ListRows::ReengageNew(r) => r.reserve(rows),
            ListRows::Vip(r) => r.reserve(rows),
        }
    }

    /// Appends `other`'s rows (of the same list) after these.
    fn append(&mut self, other: ListRows) {
        match (self, other) {
            (ListRows::WinBack(a), ListRows::WinBack(mut b)) => a.append(&mut b),
            (ListRows::AtRiskHighValue(a), ListRows::AtRiskHighValue(mut b)) => a.append(&mut b),
            (ListRows::ReengageNew(a), ListRows::ReengageNew(mut b)) => a.append(&mut b),
            (ListRows::Vip(a), ListRows::Vip(mut b)) => a.append(&mut b),
            _ => unreachable!("rows of one list are appended to that list"),
        }
    }

    /// The rows in the list's published order, best first: by revenue
    /// (win_back, reengage_new), CLV (at_risk_high_value) or trailing
    /// spend (vip), descending; ties broken by customer id (codes are in
    /// id order).
    fn sort(&mut self) {
        use std::cmp::Reverse;
        match self {
            ListRows::WinBack(r) => {
                r.par_sort_unstable_by_key(|r| (Reverse(r.revenue_cents), r.customer))
            }
            ListRows::ReengageNew(r) => {
                r.par_sort_unstable_by_key(|r| (Reverse(r.revenue_cents), r.customer))
            }
            ListRows::AtRiskHighValue(r) => r.par_sort_unstable_by(|a, b| {
                b.clv.total_cmp(&a.clv).then(a.customer.cmp(&b.customer))
            }),
            ListRows::Vip(r) => {
                r.par_sort_unstable_by_key(|r| (Reverse(r.trailing_12m_cents), r.customer))
            }
        }
    }
}

/// Every list of `lists` with its rows from every partition (the rows of
/// each, as [`part_rows`] gives them, in part order), in the list's order.
pub fn joined_lists(lists: &[TargetList], parts: Vec<Vec<ListRows>>) -> Vec<ListRows> {
    let mut joined: Vec<ListRows> = lists.iter().map(|&l| ListRows::empty(l)).collect();
    // Sized once: growing by doubling would hold up to twice the rows (at
    // 1 B orders `win_back` has some 80 M).
    for (i, all) in joined.iter_mut().enumerate() {
        all.reserve(parts.iter().map(|p| p[i].len()).sum());
    }
    for part in parts {
        for (all, rows) in joined.iter_mut().zip(part) {
            all.append(rows);
        }
    }
    joined.iter_mut().for_each(ListRows::sort);
    joined
}

/// The rows of one partition's customers on each of `lists`.
pub fn part_rows(inputs: &TargetInputs, targets: &Targets, lists: &[TargetList]) -> Vec<ListRows> {
    let mut rows: Vec<ListRows> = lists.iter().map(|&l| ListRows::empty(l)).collect();
    for c in 0..inputs.summary.orders.len() {
        let Some(list) = list_of(inputs, targets, c) else {
            continue;
        };
        let Some(i) = lists.iter().position(|&l| l == list) else {
            continue;
        };
        match &mut rows[i] {
            ListRows::WinBack(r) => r.push(win_back_row(inputs, c)),
            ListRows::AtRiskHighValue(r) => r.push(at_risk_row(inputs, targets, c)),
            ListRows::ReengageNew(r) => r.push(reengage_row(inputs, targets, c)),
            ListRows::Vip(r) => r.push(vip_row(inputs, targets, c)),
        }
    }
    rows
}

fn days_since_last_order(inputs: &TargetInputs, c: usize) -> i64 {
    inputs.as_of as i64 - inputs.summary.last_order_day[c] as i64
}

/// The code of the partition's customer `c`.
fn code(inputs: &TargetInputs, c: usize) -> u32 {
    (inputs.start + c) as u32
}

fn win_back_row(inputs: &TargetInputs, c: usize) -> WinBackRow {
    let s = inputs.summary;
    WinBackRow {
        customer: code(inputs, c),
        last_order_day: s.last_order_day[c],
        days_since_last_order: days_since_last_order(inputs, c),
        orders: s.orders[c],
        revenue_cents: s.revenue_cents[c],
    }
}

fn at_risk_row(inputs: &TargetInputs, targets: &Targets, c: usize) -> AtRiskRow {
    let s = inputs.summary;
    let at = inputs.start + c;
    let scores = inputs.clv.expect("the list needs CLV");
    let q = targets.clv_quantile.as_ref().expect("the list needs CLV");
    AtRiskRow {
        customer: code(inputs, c),
        clv: scores.clv[at].expect("on the list only with a CLV quantile"),
        clv_quantile: q[at].expect("on the list only with a CLV quantile"),
        p_alive: scores.p_alive[at],
        frequency: s.frequency[c],
        recency_days: s.recency_days[c],
        usual_gap_days: s.recency_days[c] as f64 / s.frequency[c] as f64,
        days_since_last_order: days_since_last_order(inputs, c),
        revenue_cents: s.revenue_cents[c],
    }
}

fn reengage_row(inputs: &TargetInputs, targets: &Targets, c: usize) -> ReengageRow {
    let s = inputs.summary;
    ReengageRow {
        customer: code(inputs, c),
        first_order_day: s.first_order_day[c],
        days_since_first_order: s.tenure_days[c],
        typical_gap_days: targets.typical_gap_days(),
        revenue_cents: s.revenue_cents[c],
    }
}

fn vip_row(inputs: &TargetInputs, targets: &Targets, c: usize) -> VipRow {
    let at = inputs.start + c;
    let tier = inputs
        .tiers
        .zip(inputs.customer_tiers.tier.as_ref())
        .map(|(t, tier)| (t, tier[c]));
    let q = targets.clv_quantile.as_ref().and_then(|q| q[at]);
    VipRow {
        customer: code(inputs, c),
        tier: tier.map(|(_, i)| i),
        trailing_12m_cents: inputs.customer_tiers.trailing_12m_cents[c],
        top_tier: tier.map(|(t, i)| i == t.top()),
        clv: inputs.clv.and_then(|x| x.clv[at]),
        clv_quantile: q,
        top_clv: q.map(|x| x >= inputs.config.vip_clv_quantile),
        revenue_cents: inputs.summary.revenue_cents[c],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_without_a_clv_have_no_quantile_and_count_in_no_share() {
        assert_eq!(
            share_below_of_known(&[Some(3.0), None, Some(1.0), Some(2.0)]),
            vec![Some(2.0 / 3.0), None, Some(0.0), Some(1.0 / 3.0)]
        );
    }

    #[test]
    fn shares_below_tie_together() {
        assert_eq!(
            share_below(&[3.0, 1.0, 3.0, 2.0]),
            vec![0.5, 0.0, 0.5, 0.25]
        );
    }

    #[test]
    fn lists_published_by_configuration() {
        use TargetList::*;
        assert_eq!(published_lists(false, false), vec![WinBack, ReengageNew]);
        assert_eq!(
            published_lists(true, false),
            vec![WinBack, ReengageNew, Vip]
        );
        assert_eq!(
            published_lists(false, true),
            vec![WinBack, AtRiskHighValue, ReengageNew, Vip]
        );
    }
}
