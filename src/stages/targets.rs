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
//! `tables::targets`, which looks the ids up. When the per-customer
//! results are spilled, each partition's rows of a list are put in the
//! list's order with their ids ([`ListPiece`]), stored as a run, and the
//! runs merged ([`merge_runs`]); `io::list_files` keeps them on disk.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use rayon::prelude::*;

use crate::config::TargetsConfig;
use crate::error::Result;
use crate::stages::clv_scores::{ClvRanks, ClvScores, ClvThreshold};
use crate::stages::customers::CustomerSummary;
use crate::stages::order_statistics::total_order_bits;
use crate::stages::orders::CustomerIds;
use crate::stages::tiers::{CustomerTiers, Tiers};

/// A target list, in precedence order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
/// codes start at `start`), the CLV scores included.
pub struct TargetInputs<'a> {
    /// The code of the partition's first customer.
    pub start: usize,
    pub as_of: i32,
    pub summary: &'a CustomerSummary,
    pub window: u32,
    pub tiers: Option<&'a Tiers>,
    pub customer_tiers: &'a CustomerTiers,
    /// The partition's CLV scores, with the CLV stage.
    pub clv: Option<&'a ClvScores>,
    pub config: &'a TargetsConfig,
}

/// The figures the rules use that depend on every customer.
#[derive(Clone)]
pub struct Targets<'a> {
    /// Every customer's CLV ranked, with the CLV stage.
    pub clv: Option<ClvQuantiles<'a>>,
    /// The second-order gap in days, doubled (exact for a median of two).
    pub gap_doubled: Option<i64>,
}

/// The ranks of every customer's CLV and the CLVs that reach the rules'
/// quantiles: a rule compares a CLV with a threshold, and only a listed
/// customer's quantile is looked up.
#[derive(Clone, Copy)]
pub struct ClvQuantiles<'a> {
    pub ranks: ClvRanks<'a>,
    /// The CLVs of at least `high_clv_quantile`.
    high: ClvThreshold,
    /// The CLVs of at least `vip_clv_quantile`.
    vip: ClvThreshold,
}

impl<'a> Targets<'a> {
    /// The figures of a run whose customers' CLVs are ranked by `clv` and
    /// whose median second-order gap (doubled) is `median_gap_doubled`.
    pub fn of(
        clv: Option<ClvRanks<'a>>,
        median_gap_doubled: Option<i64>,
        config: &TargetsConfig,
    ) -> Result<Targets<'a>> {
        let quantiles = |ranks: ClvRanks<'a>| -> Result<_> {
            Ok(ClvQuantiles {
                ranks,
                high: ranks.at_least(config.high_clv_quantile)?,
                vip: ranks.at_least(config.vip_clv_quantile)?,
            })
        };
        Ok(Targets {
            clv: clv.map(quantiles).transpose()?,
            gap_doubled: match config.reengage_after_days {
                Some(days) => Some(2 * days as i64),
                None => median_gap_doubled,
            },
        })
    }

    pub fn typical_gap_days(&self) -> Option<f64> {
        self.gap_doubled.map(|g| g as f64 / 2.0)
    }
}

/// The list of the partition's customer `c` (its index in the partition),
/// if any.
pub fn list_of(inputs: &TargetInputs, targets: &Targets, c: usize) -> Option<TargetList> {
    let s = inputs.summary;
    let config = inputs.config;
    let since_last = inputs.as_of as i64 - s.last_order_day[c] as i64;
    if since_last >= inputs.window as i64 {
        return Some(TargetList::WinBack);
    }
    let clv = inputs.clv.and_then(|scores| scores.clv[c]).zip(targets.clv);
    if let Some(scores) = inputs.clv {
        let overdue = s.frequency[c] >= 1 && since_last * s.frequency[c] > s.recency_days[c];
        if clv.is_some_and(|(v, q)| q.high.admits(v))
            && scores.p_alive[c] < config.p_alive_below
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
    let top_clv = clv.is_some_and(|(v, q)| q.vip.admits(v));
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

/// `$body` with `$r` bound to the rows of whichever list `$rows` holds.
macro_rules! on_rows {
    ($rows:expr, $r:ident => $body:expr) => {
        match $rows {
            ListRows::WinBack($r) => $body,
            ListRows::AtRiskHighValue($r) => $body,
            ListRows::ReengageNew($r) => $body,
            ListRows::Vip($r) => $body,
        }
    };
}

/// [`on_rows`] giving rows of the same list.
macro_rules! map_rows {
    ($rows:expr, $r:ident => $body:expr) => {
        match $rows {
            ListRows::WinBack($r) => ListRows::WinBack($body),
            ListRows::AtRiskHighValue($r) => ListRows::AtRiskHighValue($body),
            ListRows::ReengageNew($r) => ListRows::ReengageNew($body),
            ListRows::Vip($r) => ListRows::Vip($body),
        }
    };
}

/// One `win_back` row: a lapsed customer (`customer`: their code).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WinBackRow {
    pub customer: u32,
    pub last_order_day: i32,
    pub days_since_last_order: i64,
    pub orders: i64,
    pub revenue_cents: i64,
}

/// One `at_risk_high_value` row: a valuable customer overdue for their
/// next order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
        on_rows!(self, r => r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The code of row `i`'s customer.
    pub fn customer(&self, i: usize) -> u32 {
        on_rows!(self, r => r[i].customer)
    }

    /// Row `i`'s place in the list's order.
    pub fn key(&self, i: usize) -> RowKey {
        on_rows!(self, r => r[i].key())
    }

    /// The rows `range`, as rows of their own.
    fn slice(&self, range: Range<usize>) -> ListRows {
        map_rows!(self, r => r[range].to_vec())
    }

    fn reserve(&mut self, rows: usize) {
        on_rows!(self, r => r.reserve(rows))
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

    /// Appends `other`'s row `i` (of the same list), its customer's code
    /// set to `customer`.
    fn push_from(&mut self, other: &ListRows, i: usize, customer: u32) {
        match (self, other) {
            (ListRows::WinBack(a), ListRows::WinBack(b)) => a.push(b[i].with_customer(customer)),
            (ListRows::AtRiskHighValue(a), ListRows::AtRiskHighValue(b)) => {
                a.push(b[i].with_customer(customer))
            }
            (ListRows::ReengageNew(a), ListRows::ReengageNew(b)) => {
                a.push(b[i].with_customer(customer))
            }
            (ListRows::Vip(a), ListRows::Vip(b)) => a.push(b[i].with_customer(customer)),
            _ => unreachable!("rows of one list are added to that list"),
        }
    }

    /// Puts the rows in the list's published order, best first: by revenue
    /// (win_back, reengage_new), CLV (at_risk_high_value) or trailing
    /// spend (vip), descending; ties broken by customer id (codes are in
    /// id order). See [`ListRow::key`].
    pub fn sort(&mut self) {
        on_rows!(self, r => r.par_sort_unstable_by_key(ListRow::key))
    }
}

/// A row's place in its list's order: the list's figure descending, then
/// the customer's code (codes are in id order).
pub type RowKey = (Reverse<i64>, u32);

/// A row of a list: its place in the list's order, and the row again for
/// another customer code (a stored list's pieces number their rows' ids).
pub trait ListRow: Clone {
    fn key(&self) -> RowKey;
    fn with_customer(&self, customer: u32) -> Self;
}

macro_rules! list_row {
    ($row:ty, |$r:ident| $figure:expr) => {
        impl ListRow for $row {
            fn key(&self) -> RowKey {
                let $r = self;
                (Reverse($figure), self.customer)
            }

            fn with_customer(&self, customer: u32) -> Self {
                Self {
                    customer,
                    ..self.clone()
                }
            }
        }
    };
}

// The published orders: by revenue (win_back, reengage_new), CLV
// (at_risk_high_value) or trailing spend (vip), descending.
list_row!(WinBackRow, |r| r.revenue_cents);
list_row!(ReengageRow, |r| r.revenue_cents);
// A CLV's order as one key with the others' cents.
list_row!(AtRiskRow, |r| total_order_bits(r.clv));
list_row!(VipRow, |r| r.trailing_12m_cents);

/// Rows of one list in its order, each with its customer's id: `ids[i]`
/// is row `i`'s. A stored list's runs and pieces, which the customer codes
/// alone cannot name once the ids are not held; in a merged piece a row's
/// `customer` is its place in `ids`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ListPiece {
    pub rows: ListRows,
    pub ids: CustomerIds,
}

impl ListPiece {
    pub fn empty(list: TargetList) -> ListPiece {
        ListPiece {
            rows: ListRows::empty(list),
            ids: CustomerIds::default(),
        }
    }

    /// `rows` (in their list's order) with the id of each row's customer.
    pub fn of<'a>(rows: ListRows, id_of: impl Fn(usize) -> &'a str) -> ListPiece {
        let ids = CustomerIds::of((0..rows.len()).map(|i| id_of(rows.customer(i) as usize)));
        ListPiece { rows, ids }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows in pieces of at most `rows` rows, in order.
    pub fn split(self, rows: usize) -> Vec<ListPiece> {
        (0..self.len())
            .step_by(rows.max(1))
            .map(|start| {
                let range = start..(start + rows).min(self.len());
                ListPiece {
                    rows: self.rows.slice(range.clone()),
                    ids: CustomerIds::of(range.map(|i| self.ids.get(i))),
                }
            })
            .collect()
    }

    /// Appends `other`'s rows (of the same list) after these.
    #[cfg(test)]
    pub fn append(&mut self, other: ListPiece) {
        self.rows.append(other.rows);
        self.ids.append(other.ids);
    }

    /// Appends `from`'s row `i`, its customer numbered by its place here.
    fn push_from(&mut self, from: &ListPiece, i: usize) {
        self.rows.push_from(&from.rows, i, self.ids.len() as u32);
        self.ids.push(from.ids.get(i));
    }
}

/// Merges `runs` (each a list's rows in the list's order, a piece at a
/// time, customers numbered by code) into the list's order, handing
/// `emit` pieces of `piece_rows` rows (the last shorter) whose rows'
/// customers are numbered by their place in the piece. A heap of the runs'
/// next rows: at 1 B orders `win_back` has some 80 M rows in hundreds of
/// runs.
pub fn merge_runs<I>(
    list: TargetList,
    runs: Vec<I>,
    piece_rows: usize,
    mut emit: impl FnMut(ListPiece) -> Result<()>,
) -> Result<()>
where
    I: Iterator<Item = Result<ListPiece>>,
{
    let mut heads = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for mut run in runs {
        if let Some(piece) = next_rows(&mut run)? {
            heap.push(Reverse((piece.rows.key(0), heads.len())));
            heads.push((run, piece, 0));
        }
    }
    let mut out = ListPiece::empty(list);
    while let Some(Reverse((_, h))) = heap.pop() {
        let (run, piece, next) = &mut heads[h];
        out.push_from(piece, *next);
        if out.len() == piece_rows {
            emit(std::mem::replace(&mut out, ListPiece::empty(list)))?;
        }
        *next += 1;
        if *next == piece.len() {
            match next_rows(run)? {
                Some(following) => (*piece, *next) = (following, 0),
                None => continue,
            }
        }
        heap.push(Reverse((piece.rows.key(*next), h)));
    }
    if !out.is_empty() {
        emit(out)?;
    }
    Ok(())
}

/// A run's next piece that has rows.
fn next_rows<I>(run: &mut I) -> Result<Option<ListPiece>>
where
    I: Iterator<Item = Result<ListPiece>>,
{
    for piece in run {
        let piece = piece?;
        if !piece.is_empty() {
            return Ok(Some(piece));
        }
    }
    Ok(None)
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

/// The rows of one partition's customers on each of `lists` (an error
/// only when the CLVs' ranks cannot be read back).
pub fn part_rows(
    inputs: &TargetInputs,
    targets: &Targets,
    lists: &[TargetList],
) -> Result<Vec<ListRows>> {
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
            ListRows::AtRiskHighValue(r) => r.push(at_risk_row(inputs, targets, c)?),
            ListRows::ReengageNew(r) => r.push(reengage_row(inputs, targets, c)),
            ListRows::Vip(r) => r.push(vip_row(inputs, targets, c)?),
        }
    }
    Ok(rows)
}

/// [`part_rows`] of a partition whose customers' ids are `ids`, each
/// list's rows put in its order with their ids: the runs of a stored
/// partition.
pub fn sorted_pieces(
    inputs: &TargetInputs,
    targets: &Targets,
    lists: &[TargetList],
    ids: &CustomerIds,
) -> Result<Vec<ListPiece>> {
    let pieces = part_rows(inputs, targets, lists)?
        .into_iter()
        .map(|mut rows| {
            rows.sort();
            ListPiece::of(rows, |c| ids.get(c - inputs.start))
        });
    Ok(pieces.collect())
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

fn at_risk_row(inputs: &TargetInputs, targets: &Targets, c: usize) -> Result<AtRiskRow> {
    let s = inputs.summary;
    let scores = inputs.clv.expect("the list needs CLV");
    let ranks = targets.clv.expect("the list needs CLV").ranks;
    let clv = scores.clv[c].expect("on the list only with a CLV");
    Ok(AtRiskRow {
        customer: code(inputs, c),
        clv,
        clv_quantile: ranks.share_below(clv)?,
        p_alive: scores.p_alive[c],
        frequency: s.frequency[c],
        recency_days: s.recency_days[c],
        usual_gap_days: s.recency_days[c] as f64 / s.frequency[c] as f64,
        days_since_last_order: days_since_last_order(inputs, c),
        revenue_cents: s.revenue_cents[c],
    })
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

fn vip_row(inputs: &TargetInputs, targets: &Targets, c: usize) -> Result<VipRow> {
    let tier = inputs
        .tiers
        .zip(inputs.customer_tiers.tier.as_ref())
        .map(|(t, tier)| (t, tier[c]));
    let clv = inputs.clv.and_then(|x| x.clv[c]);
    let ranked = clv.zip(targets.clv);
    Ok(VipRow {
        customer: code(inputs, c),
        tier: tier.map(|(_, i)| i),
        trailing_12m_cents: inputs.customer_tiers.trailing_12m_cents[c],
        top_tier: tier.map(|(t, i)| i == t.top()),
        clv,
        clv_quantile: ranked.map(|(v, q)| q.ranks.share_below(v)).transpose()?,
        top_clv: ranked.map(|(v, q)| q.vip.admits(v)),
        revenue_cents: inputs.summary.revenue_cents[c],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// At-risk rows of customers `0..n` (ids `c{code}`) with CLVs from a
    /// few values, negative and tied among them.
    fn at_risk_rows(n: u32, rng: &mut ChaCha8Rng) -> Vec<AtRiskRow> {
        let clvs = [-2.5, -0.0, 0.0, 1.25, 1.25, 7.0, 1e9];
        (0..n)
            .map(|customer| AtRiskRow {
                customer,
                clv: clvs[rng.random_range(0..clvs.len())],
                clv_quantile: 0.5,
                p_alive: 0.25,
                frequency: 2,
                recency_days: 30,
                usual_gap_days: 15.0,
                days_since_last_order: customer as i64,
                revenue_cents: 100,
            })
            .collect()
    }

    /// Win-back rows of customers `0..n` with revenues from a few values.
    fn win_back_rows(n: u32, rng: &mut ChaCha8Rng) -> Vec<WinBackRow> {
        (0..n)
            .map(|customer| WinBackRow {
                customer,
                last_order_day: 100,
                days_since_last_order: 400,
                orders: 1,
                revenue_cents: rng.random_range(-3..5) * 1000,
            })
            .collect()
    }

    /// `rows` dealt to `runs` runs at random, each in the list's order and
    /// in pieces of one to four rows, as a stored list's runs are.
    fn runs_of(rows: ListRows, runs: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<ListPiece>> {
        let mut dealt: Vec<ListRows> = (0..runs).map(|_| ListRows::empty(rows.list())).collect();
        for i in 0..rows.len() {
            dealt[rng.random_range(0..runs)].push_from(&rows, i, rows.customer(i));
        }
        dealt
            .into_iter()
            .map(|mut run| {
                run.sort();
                let ids: Vec<String> = (0..rows.len()).map(|c| format!("c{c}")).collect();
                ListPiece::of(run, |c| ids[c].as_str()).split(rng.random_range(1..5))
            })
            .collect()
    }

    /// Merged runs give the list's rows in the order a plain sort by the
    /// published rule gives (figure descending, ties by code), in pieces
    /// of the size asked for, each row numbered by its place in its piece
    /// and named by its own customer's id.
    #[test]
    fn merged_runs_are_the_list_in_order_in_pieces() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (n, runs, piece_rows) in [(0, 3, 2), (1, 1, 1), (40, 5, 3), (200, 9, 7), (57, 64, 4)] {
            let mut at_risk = at_risk_rows(n, &mut rng);
            let mut win_back = win_back_rows(n, &mut rng);
            let lists = [
                ListRows::AtRiskHighValue(at_risk.clone()),
                ListRows::WinBack(win_back.clone()),
            ];
            at_risk.sort_by(|a, b| b.clv.total_cmp(&a.clv).then(a.customer.cmp(&b.customer)));
            win_back.sort_by(|a, b| {
                (b.revenue_cents.cmp(&a.revenue_cents)).then(a.customer.cmp(&b.customer))
            });
            let expected = [
                ListRows::AtRiskHighValue(at_risk),
                ListRows::WinBack(win_back),
            ];
            for (rows, expected) in lists.into_iter().zip(expected) {
                let list = rows.list();
                let dealt = runs_of(rows, runs, &mut rng);
                let dealt = dealt.into_iter().map(|r| r.into_iter().map(Ok)).collect();
                let mut pieces = Vec::new();
                merge_runs(list, dealt, piece_rows, |piece| {
                    pieces.push(piece);
                    Ok(())
                })
                .unwrap();
                let sizes: Vec<usize> = pieces.iter().map(ListPiece::len).collect();
                let whole = (0..n as usize).step_by(piece_rows);
                let wanted: Vec<usize> = whole.map(|s| piece_rows.min(n as usize - s)).collect();
                assert_eq!(
                    sizes, wanted,
                    "{list:?}: {n} rows in pieces of {piece_rows}"
                );
                let mut merged = ListRows::empty(list);
                for piece in &pieces {
                    for i in 0..piece.len() {
                        assert_eq!(piece.rows.customer(i), i as u32);
                        let code = expected.customer(merged.len());
                        assert_eq!(piece.ids.get(i), format!("c{code}"));
                        merged.push_from(&piece.rows, i, code);
                    }
                }
                assert_eq!(merged, expected, "{list:?}: {n} rows from {runs} runs");
            }
        }
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
