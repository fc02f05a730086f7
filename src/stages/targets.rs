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
//! fate and the result does not depend on row order or thread count.

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::TargetsConfig;
use crate::error::Result;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::CustomerSummary;
use crate::stages::orders::OrderHistory;
use crate::stages::tiers::{CustomerTiers, Tiers};
use crate::tables::values::money;

/// A target list, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetList {
    WinBack,
    AtRiskHighValue,
    ReengageNew,
    Vip,
}

impl TargetList {
    pub fn table(self) -> &'static str {
        match self {
            TargetList::WinBack => "win_back",
            TargetList::AtRiskHighValue => "at_risk_high_value",
            TargetList::ReengageNew => "reengage_new",
            TargetList::Vip => "vip",
        }
    }

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
    pub history: &'a OrderHistory,
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
    /// Share of customers with a strictly lower CLV (with the CLV stage).
    pub clv_quantile: Option<Vec<f64>>,
    /// The second-order gap in days, doubled (exact for a median of two).
    pub gap_doubled: Option<i64>,
}

impl Targets {
    pub fn typical_gap_days(&self) -> Option<f64> {
        self.gap_doubled.map(|g| g as f64 / 2.0)
    }
}

/// Days from each customer's first to their second order (refunds are not
/// orders), for customers with at least two orders.
fn second_order_gaps(history: &OrderHistory) -> Vec<i64> {
    (0..history.customers())
        .into_par_iter()
        .filter_map(|c| {
            let (days, cents) = history.of(c);
            let mut orders = days.iter().zip(cents).filter(|(_, &x)| x >= 0);
            let first = orders.next()?.0;
            let second = orders.next()?.0;
            Some((second - first) as i64)
        })
        .collect()
}

/// The median of the values, doubled so it stays an integer.
fn doubled_median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.par_sort_unstable();
    let n = values.len();
    Some(values[(n - 1) / 2] + values[n / 2])
}

/// For each value, the share of values strictly below it.
pub fn share_below(values: &[f64]) -> Vec<f64> {
    let n = values.len().max(1) as f64;
    crate::stages::customers::ranks_below(values, f64::total_cmp)
        .into_iter()
        .map(|below| below as f64 / n)
        .collect()
}

/// Puts every customer on at most one list.
pub fn assign_targets(inputs: &TargetInputs) -> Targets {
    let s = inputs.summary;
    let as_of = inputs.history.as_of as i64;
    let config = inputs.config;
    let gap_doubled = match config.reengage_after_days {
        Some(days) => Some(2 * days as i64),
        None => doubled_median(second_order_gaps(inputs.history)),
    };
    let clv_quantile = inputs.clv.map(|scores| share_below(&scores.clv));
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
                if q[c] >= config.high_clv_quantile
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
                .is_some_and(|q| q[c] >= config.vip_clv_quantile);
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

/// The list tables, in [`published_lists`] order.
pub fn target_tables(
    inputs: &TargetInputs,
    targets: &Targets,
) -> Result<Vec<(&'static str, DataFrame)>> {
    published_lists(inputs.tiers.is_some(), inputs.clv.is_some())
        .into_iter()
        .map(|list| Ok((list.table(), list_table(inputs, targets, list)?)))
        .collect()
}

fn list_table(inputs: &TargetInputs, targets: &Targets, list: TargetList) -> Result<DataFrame> {
    let s = inputs.summary;
    let ids = &inputs.history.customer_ids;
    let as_of = inputs.history.as_of as i64;
    let mut members: Vec<usize> = (0..s.orders.len())
        .filter(|&c| targets.list[c] == Some(list))
        .collect();
    let clv = |c: usize| inputs.clv.map(|x| x.clv[c]);
    let trailing = &inputs.customer_tiers.trailing_12m_cents;
    // Best first; ties broken by customer id (codes are in id order).
    match list {
        TargetList::WinBack | TargetList::ReengageNew => {
            members.sort_by_key(|&c| (std::cmp::Reverse(s.revenue_cents[c]), c))
        }
        TargetList::AtRiskHighValue => members.sort_by(|&a, &b| {
            let (x, y) = (clv(a).unwrap_or(0.0), clv(b).unwrap_or(0.0));
            y.total_cmp(&x).then(a.cmp(&b))
        }),
        TargetList::Vip => members.sort_by_key(|&c| (std::cmp::Reverse(trailing[c]), c)),
    }
    let n = members.len();
    let date = |name: &str, days: Vec<i32>| -> Result<Column> {
        Ok(Column::new(name.into(), days).cast(&DataType::Date)?)
    };
    let pick_i64 = |v: &[i64]| members.iter().map(|&c| v[c]).collect::<Vec<_>>();
    let pick_money = |v: &[i64]| members.iter().map(|&c| money(v[c])).collect::<Vec<_>>();
    let since_last: Vec<i64> = members
        .iter()
        .map(|&c| as_of - s.last_order_day[c] as i64)
        .collect();
    let mut columns = vec![Column::new(
        "customer_id".into(),
        members.iter().map(|&c| ids[c].clone()).collect::<Vec<_>>(),
    )];
    match list {
        TargetList::WinBack => columns.extend([
            date(
                "last_order_date",
                members.iter().map(|&c| s.last_order_day[c]).collect(),
            )?,
            Column::new("days_since_last_order".into(), since_last),
            Column::new("orders".into(), pick_i64(&s.orders)),
            Column::new("revenue".into(), pick_money(&s.revenue_cents)),
        ]),
        TargetList::AtRiskHighValue => {
            let scores = inputs.clv.expect("the list needs CLV");
            let q = targets.clv_quantile.as_ref().expect("the list needs CLV");
            columns.extend([
                Column::new(
                    "clv".into(),
                    members.iter().map(|&c| scores.clv[c]).collect::<Vec<_>>(),
                ),
                Column::new(
                    "clv_quantile".into(),
                    members.iter().map(|&c| q[c]).collect::<Vec<_>>(),
                ),
                Column::new(
                    "p_alive".into(),
                    members
                        .iter()
                        .map(|&c| scores.p_alive[c])
                        .collect::<Vec<_>>(),
                ),
                Column::new("frequency".into(), pick_i64(&s.frequency)),
                Column::new("recency_days".into(), pick_i64(&s.recency_days)),
                Column::new(
                    "usual_gap_days".into(),
                    members
                        .iter()
                        .map(|&c| s.recency_days[c] as f64 / s.frequency[c] as f64)
                        .collect::<Vec<_>>(),
                ),
                Column::new("days_since_last_order".into(), since_last),
                Column::new("revenue".into(), pick_money(&s.revenue_cents)),
            ]);
        }
        TargetList::ReengageNew => columns.extend([
            date(
                "first_order_date",
                members.iter().map(|&c| s.first_order_day[c]).collect(),
            )?,
            Column::new("days_since_first_order".into(), pick_i64(&s.tenure_days)),
            Column::new(
                "typical_gap_days".into(),
                vec![targets.typical_gap_days(); n],
            ),
            Column::new("revenue".into(), pick_money(&s.revenue_cents)),
        ]),
        TargetList::Vip => {
            let tier_name = |c: usize| {
                inputs
                    .tiers
                    .zip(inputs.customer_tiers.tier.as_ref())
                    .map(|(t, tier)| t.names[tier[c]].as_str())
            };
            let top_tier = |c: usize| {
                inputs
                    .tiers
                    .zip(inputs.customer_tiers.tier.as_ref())
                    .map(|(t, tier)| tier[c] == t.top())
            };
            let q = |c: usize| targets.clv_quantile.as_ref().map(|q| q[c]);
            columns.extend([
                Column::new(
                    "tier".into(),
                    members.iter().map(|&c| tier_name(c)).collect::<Vec<_>>(),
                ),
                Column::new("trailing_12m_spend".into(), pick_money(trailing)),
                Column::new(
                    "top_tier".into(),
                    members.iter().map(|&c| top_tier(c)).collect::<Vec<_>>(),
                ),
                Column::new(
                    "clv".into(),
                    members.iter().map(|&c| clv(c)).collect::<Vec<_>>(),
                ),
                Column::new(
                    "clv_quantile".into(),
                    members.iter().map(|&c| q(c)).collect::<Vec<_>>(),
                ),
                Column::new(
                    "top_clv".into(),
                    members
                        .iter()
                        .map(|&c| q(c).map(|x| x >= inputs.config.vip_clv_quantile))
                        .collect::<Vec<_>>(),
                ),
                Column::new("revenue".into(), pick_money(&s.revenue_cents)),
            ]);
        }
    }
    columns.push(Column::new(
        "suggested_action".into(),
        vec![list.suggested_action(); n],
    ));
    Ok(DataFrame::new(n, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_doubled_and_exact() {
        assert_eq!(doubled_median(vec![]), None);
        assert_eq!(doubled_median(vec![7]), Some(14));
        assert_eq!(doubled_median(vec![10, 3]), Some(13));
        assert_eq!(doubled_median(vec![5, 1, 9, 30]), Some(14));
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
