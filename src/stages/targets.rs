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
//! The stage puts customers on lists and produces each published list's
//! rows, in order, as typed structs; their frames are built in
//! `tables::targets`.

use rayon::prelude::*;

use crate::config::TargetsConfig;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::CustomerSummary;
use crate::stages::orders::CustomerIds;
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

/// Everything the rules need, per customer in customer-code order.
pub struct TargetInputs<'a> {
    /// Customer ids in code order.
    pub customer_ids: &'a CustomerIds,
    pub as_of: i32,
    pub summary: &'a CustomerSummary,
    pub window: u32,
    pub tiers: Option<&'a Tiers>,
    pub customer_tiers: &'a CustomerTiers,
    pub clv: Option<&'a ClvScores>,
    pub config: &'a TargetsConfig,
}

/// Each customer's list (or none), and the figures the rules used.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub list: Vec<Option<TargetList>>,
    /// Share of customers with a strictly lower CLV (with the CLV stage),
    /// among those with a CLV; `None` for a customer without one.
    pub clv_quantile: Option<Vec<Option<f64>>>,
    /// The second-order gap in days, doubled (exact for a median of two).
    pub gap_doubled: Option<i64>,
}

impl Targets {
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

/// Puts every customer on at most one list.
pub fn assign_targets(inputs: &TargetInputs) -> Targets {
    let s = inputs.summary;
    let as_of = inputs.as_of as i64;
    let config = inputs.config;
    let gap_doubled = match config.reengage_after_days {
        Some(days) => Some(2 * days as i64),
        None => s.second_order_gap_doubled,
    };
    let clv_quantile = inputs.clv.map(|scores| share_below_of_known(&scores.clv));
    let top_tier = inputs
        .tiers
        .zip(inputs.customer_tiers.tier.as_ref())
        .map(|(t, tier)| (t.top(), tier));
    let list = (0..s.orders.len())
        .into_par_iter()
        .map(|c| {
            let since_last = as_of - s.last_order_day[c] as i64;
            if since_last >= inputs.window as i64 {
                return Some(TargetList::WinBack);
            }
            if let (Some(scores), Some(q)) = (inputs.clv, &clv_quantile) {
                let overdue =
                    s.frequency[c] >= 1 && since_last * s.frequency[c] > s.recency_days[c];
                if q[c].is_some_and(|q| q >= config.high_clv_quantile)
                    && scores.p_alive[c] < config.p_alive_below
                    && overdue
                {
                    return Some(TargetList::AtRiskHighValue);
                }
            }
            if s.orders[c] == 1 && gap_doubled.is_some_and(|g| 2 * s.tenure_days[c] > g) {
                return Some(TargetList::ReengageNew);
            }
            let in_top_tier = top_tier.is_some_and(|(top, tier)| tier[c] == top);
            let top_clv = clv_quantile
                .as_ref()
                .is_some_and(|q| q[c].is_some_and(|q| q >= config.vip_clv_quantile));
            (in_top_tier || top_clv).then_some(TargetList::Vip)
        })
        .collect();
    Targets {
        list,
        clv_quantile,
        gap_doubled,
    }
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

/// One `win_back` row: a lapsed customer.
#[derive(Debug, Clone, PartialEq)]
pub struct WinBackRow<'a> {
    pub customer_id: &'a str,
    pub last_order_day: i32,
    pub days_since_last_order: i64,
    pub orders: i64,
    pub revenue_cents: i64,
}

/// One `at_risk_high_value` row: a valuable customer overdue for their
/// next order.
#[derive(Debug, Clone, PartialEq)]
pub struct AtRiskRow<'a> {
    pub customer_id: &'a str,
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
pub struct ReengageRow<'a> {
    pub customer_id: &'a str,
    pub first_order_day: i32,
    pub days_since_first_order: i64,
    /// The same for every row ([`Targets::typical_gap_days`]).
    pub typical_gap_days: Option<f64>,
    pub revenue_cents: i64,
}

/// One `vip` row; the tier figures are `None` without tiers, the CLV
/// figures without the CLV stage.
#[derive(Debug, Clone, PartialEq)]
pub struct VipRow<'a> {
    pub customer_id: &'a str,
    pub tier: Option<&'a str>,
    pub trailing_12m_cents: i64,
    pub top_tier: Option<bool>,
    pub clv: Option<f64>,
    pub clv_quantile: Option<f64>,
    pub top_clv: Option<bool>,
    pub revenue_cents: i64,
}

/// The rows of one published list, in its published order.
#[derive(Debug, Clone, PartialEq)]
pub enum ListRows<'a> {
    WinBack(Vec<WinBackRow<'a>>),
    AtRiskHighValue(Vec<AtRiskRow<'a>>),
    ReengageNew(Vec<ReengageRow<'a>>),
    Vip(Vec<VipRow<'a>>),
}

impl ListRows<'_> {
    pub fn list(&self) -> TargetList {
        match self {
            ListRows::WinBack(_) => TargetList::WinBack,
            ListRows::AtRiskHighValue(_) => TargetList::AtRiskHighValue,
            ListRows::ReengageNew(_) => TargetList::ReengageNew,
            ListRows::Vip(_) => TargetList::Vip,
        }
    }
}

/// Every published list (in [`published_lists`] order) with its members,
/// best first (see [`members`]).
pub fn list_members(inputs: &TargetInputs, targets: &Targets) -> Vec<(TargetList, Vec<u32>)> {
    published_lists(inputs.tiers.is_some(), inputs.clv.is_some())
        .into_iter()
        .map(|list| (list, members(inputs, targets, list)))
        .collect()
}

/// The customers on `list`, best first: by revenue (win_back,
/// reengage_new), CLV (at_risk_high_value) or trailing spend (vip),
/// descending; ties broken by customer id (codes are in id order).
fn members(inputs: &TargetInputs, targets: &Targets, list: TargetList) -> Vec<u32> {
    let s = inputs.summary;
    let mut members: Vec<u32> = (0..s.orders.len() as u32)
        .filter(|&c| targets.list[c as usize] == Some(list))
        .collect();
    let clv = |c: u32| inputs.clv.and_then(|x| x.clv[c as usize]);
    let trailing = &inputs.customer_tiers.trailing_12m_cents;
    match list {
        TargetList::WinBack | TargetList::ReengageNew => {
            members.sort_by_key(|&c| (std::cmp::Reverse(s.revenue_cents[c as usize]), c))
        }
        TargetList::AtRiskHighValue => members.sort_by(|&a, &b| {
            let (x, y) = (clv(a).unwrap_or(0.0), clv(b).unwrap_or(0.0));
            y.total_cmp(&x).then(a.cmp(&b))
        }),
        TargetList::Vip => members.sort_by_key(|&c| (std::cmp::Reverse(trailing[c as usize]), c)),
    }
    members
}

/// The rows of `members` (some of `list`'s, in their order).
pub fn list_rows<'a>(
    inputs: &TargetInputs<'a>,
    targets: &Targets,
    list: TargetList,
    members: &[u32],
) -> ListRows<'a> {
    let rows = members.iter().map(|&c| c as usize);
    match list {
        TargetList::WinBack => ListRows::WinBack(rows.map(|c| win_back_row(inputs, c)).collect()),
        TargetList::AtRiskHighValue => {
            ListRows::AtRiskHighValue(rows.map(|c| at_risk_row(inputs, targets, c)).collect())
        }
        TargetList::ReengageNew => {
            ListRows::ReengageNew(rows.map(|c| reengage_row(inputs, targets, c)).collect())
        }
        TargetList::Vip => ListRows::Vip(rows.map(|c| vip_row(inputs, targets, c)).collect()),
    }
}

fn days_since_last_order(inputs: &TargetInputs, c: usize) -> i64 {
    inputs.as_of as i64 - inputs.summary.last_order_day[c] as i64
}

fn win_back_row<'a>(inputs: &TargetInputs<'a>, c: usize) -> WinBackRow<'a> {
    let s = inputs.summary;
    WinBackRow {
        customer_id: inputs.customer_ids.get(c),
        last_order_day: s.last_order_day[c],
        days_since_last_order: days_since_last_order(inputs, c),
        orders: s.orders[c],
        revenue_cents: s.revenue_cents[c],
    }
}

fn at_risk_row<'a>(inputs: &TargetInputs<'a>, targets: &Targets, c: usize) -> AtRiskRow<'a> {
    let s = inputs.summary;
    let scores = inputs.clv.expect("the list needs CLV");
    let q = targets.clv_quantile.as_ref().expect("the list needs CLV");
    AtRiskRow {
        customer_id: inputs.customer_ids.get(c),
        clv: scores.clv[c].expect("on the list only with a CLV quantile"),
        clv_quantile: q[c].expect("on the list only with a CLV quantile"),
        p_alive: scores.p_alive[c],
        frequency: s.frequency[c],
        recency_days: s.recency_days[c],
        usual_gap_days: s.recency_days[c] as f64 / s.frequency[c] as f64,
        days_since_last_order: days_since_last_order(inputs, c),
        revenue_cents: s.revenue_cents[c],
    }
}

fn reengage_row<'a>(inputs: &TargetInputs<'a>, targets: &Targets, c: usize) -> ReengageRow<'a> {
    let s = inputs.summary;
    ReengageRow {
        customer_id: inputs.customer_ids.get(c),
        first_order_day: s.first_order_day[c],
        days_since_first_order: s.tenure_days[c],
        typical_gap_days: targets.typical_gap_days(),
        revenue_cents: s.revenue_cents[c],
    }
}

fn vip_row<'a>(inputs: &TargetInputs<'a>, targets: &Targets, c: usize) -> VipRow<'a> {
    let tier = inputs
        .tiers
        .zip(inputs.customer_tiers.tier.as_ref())
        .map(|(t, tier)| (t, tier[c]));
    let q = targets.clv_quantile.as_ref().and_then(|q| q[c]);
    VipRow {
        customer_id: inputs.customer_ids.get(c),
        tier: tier.map(|(t, i)| t.names[i].as_str()),
        trailing_12m_cents: inputs.customer_tiers.trailing_12m_cents[c],
        top_tier: tier.map(|(t, i)| i == t.top()),
        clv: inputs.clv.and_then(|x| x.clv[c]),
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
