//! The CLV stage's per-customer scores as a plain struct: what the CLV
//! stage (`stages::clv`) produces and the customers, segments and
//! targets tables read, in a module of its own so that those stages and
//! the CLV stage do not import one another.

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::Result;
use crate::stages::customers::CustomerSummary;
use crate::stages::part_store::{PartStore, RecentParts};
use crate::tables::schema::values::money;

/// Per-customer CLV columns, in customer-code order.
#[derive(Debug, Clone, Default)]
pub struct ClvScores {
    pub p_alive: Vec<f64>,
    /// `None` where the model's expectation cannot be computed (published
    /// as null; the CLV stage warns how many).
    pub expected_orders: Vec<Option<f64>>,
    /// Probability of no order at all in the horizon.
    pub p_no_order: Vec<f64>,
    pub expected_avg_order_value: Vec<f64>,
    /// `None` exactly where `expected_orders` is.
    pub clv: Vec<Option<f64>>,
    /// Central intervals of `expected_orders` and `clv` from the fitted
    /// parameters' sampling error: (low, high) per customer, NaN where
    /// there is none (published as null). Plain floats, not `Option`s:
    /// these are four per-customer columns, and an `Option<f64>` takes
    /// twice the memory.
    pub expected_orders_interval: Vec<[f64; 2]>,
    pub clv_interval: Vec<[f64; 2]>,
}

/// Where each customer partition's CLV scores go when the per-customer
/// results are stored (the budget cannot hold them for every customer
/// either: some 90 bytes a customer).
pub type ClvScoreStore = dyn PartStore<ClvScores>;

/// Every customer's CLV scores, a customer partition at a time: held, or
/// put in a store as each partition is scored and read back a partition
/// at a time; and every CLV there is, sorted, for the customers' ranks.
pub struct ClvScoreParts {
    held: Vec<Arc<ClvScores>>,
    store: Option<Arc<ClvScoreStore>>,
    recent: RecentParts<ClvScores>,
    parts: usize,
    known: Vec<f64>,
    uncomputable: usize,
}

/// What one partition's scores leave with [`ClvScoreParts`]: the scores
/// when they are held; when they are stored, only their CLVs.
pub struct KeptScores {
    held: Option<ClvScores>,
    known: Vec<f64>,
    uncomputable: usize,
}

impl ClvScoreParts {
    /// No partition yet, of `customers` in all; the scores go to `store`
    /// when there is one.
    pub fn new(store: Option<Arc<ClvScoreStore>>, customers: usize) -> ClvScoreParts {
        ClvScoreParts {
            held: Vec::new(),
            store,
            recent: RecentParts::default(),
            parts: 0,
            // At its size: grown part by part, it could end at twice it.
            known: Vec::with_capacity(customers),
            uncomputable: 0,
        }
    }

    /// Adds the next partition's kept scores (partitions in order).
    pub fn push(&mut self, kept: KeptScores) {
        self.known.extend(kept.known);
        self.uncomputable += kept.uncomputable;
        self.held.extend(kept.held.map(Arc::new));
        self.parts += 1;
    }

    /// Every partition pushed: the CLVs sorted for the ranks.
    pub fn finish(mut self) -> ClvScoreParts {
        self.known.par_sort_unstable_by(f64::total_cmp);
        self.known.shrink_to_fit();
        self
    }

    /// Partition `p`'s scores: held, or read back from the store.
    pub fn part(&self, p: usize) -> Result<Arc<ClvScores>> {
        match &self.store {
            None => Ok(Arc::clone(&self.held[p])),
            Some(store) => self.recent.get(p, || store.get(p)),
        }
    }

    pub fn part_count(&self) -> usize {
        self.parts
    }

    /// Customers whose expected orders (and CLV) could not be computed.
    pub fn uncomputable(&self) -> usize {
        self.uncomputable
    }

    /// The ranks of every customer's CLV.
    pub fn ranks(&self) -> ClvRanks<'_> {
        ClvRanks {
            sorted: &self.known,
        }
    }
}

impl KeptScores {
    /// Partition `p`'s `scores`, put in `store` when there is one (the
    /// partitions in parallel, in any order), and what is kept of them.
    pub fn of(p: usize, scores: ClvScores, store: Option<&ClvScoreStore>) -> Result<KeptScores> {
        let known: Vec<f64> = scores.clv.iter().flatten().copied().collect();
        let uncomputable = scores
            .expected_orders
            .iter()
            .filter(|e| e.is_none())
            .count();
        let held = match store {
            Some(store) => {
                store.put(p, &scores)?;
                None
            }
            None => Some(scores),
        };
        Ok(KeptScores {
            held,
            known,
            uncomputable,
        })
    }
}

/// Every CLV there is (customers without one left out), sorted: a
/// customer's CLV quantile is the share of them strictly below theirs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvRanks<'a> {
    sorted: &'a [f64],
}

impl ClvRanks<'_> {
    /// The share of CLVs strictly below `clv`.
    pub fn share_below(&self, clv: f64) -> f64 {
        let below = self.sorted.partition_point(|x| x.total_cmp(&clv).is_lt());
        below as f64 / self.sorted.len().max(1) as f64
    }

    /// Which CLVs have a share strictly below them of at least `quantile`:
    /// a test of one comparison, where [`ClvRanks::share_below`] searches.
    pub fn at_least(&self, quantile: f64) -> ClvThreshold {
        let n = self.sorted.len();
        let share = |below: usize| below as f64 / n.max(1) as f64;
        // The share grows with the count below it, so the counts that
        // reach the quantile are those from the first that does: found by
        // bisecting 0..=n (n + 1 when none does).
        let (mut first, mut past) = (0, n + 1);
        while first < past {
            let mid = first + (past - first) / 2;
            if share(mid) < quantile {
                first = mid + 1;
            } else {
                past = mid;
            }
        }
        match first {
            0 => ClvThreshold::Every,
            k if k > n => ClvThreshold::None,
            k => ClvThreshold::Above(self.sorted[k - 1]),
        }
    }
}

/// The CLVs whose quantile reaches a given one ([`ClvRanks::at_least`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClvThreshold {
    Every,
    /// Those above this CLV (in `f64::total_cmp`'s order).
    Above(f64),
    None,
}

impl ClvThreshold {
    pub fn admits(&self, clv: f64) -> bool {
        match *self {
            ClvThreshold::Every => true,
            ClvThreshold::Above(limit) => clv.total_cmp(&limit).is_gt(),
            ClvThreshold::None => false,
        }
    }
}

#[cfg(test)]
impl ClvScoreParts {
    /// `whole`'s scores held, cut into partitions of the customers
    /// `parts`: for tests of the stages and tables that read them.
    pub fn held_cut(whole: &ClvScores, parts: impl Iterator<Item = Range<usize>>) -> Self {
        let mut all = ClvScoreParts::new(None, whole.clv.len());
        for (p, codes) in parts.enumerate() {
            let cut = ClvScores {
                p_alive: whole.p_alive[codes.clone()].to_vec(),
                expected_orders: whole.expected_orders[codes.clone()].to_vec(),
                p_no_order: whole.p_no_order[codes.clone()].to_vec(),
                expected_avg_order_value: whole.expected_avg_order_value[codes.clone()].to_vec(),
                clv: whole.clv[codes.clone()].to_vec(),
                expected_orders_interval: whole.expected_orders_interval[codes.clone()].to_vec(),
                clv_interval: whole.clv_interval[codes].to_vec(),
            };
            all.push(KeptScores::of(p, cut, None).expect("held scores are kept"));
        }
        all.finish()
    }
}

/// One end of per-customer intervals over `range`, NaN as null.
pub fn interval_end(
    intervals: &[[f64; 2]],
    end: usize,
    range: std::ops::Range<usize>,
) -> Vec<Option<f64>> {
    intervals[range]
        .iter()
        .map(|bounds| bounds[end].is_finite().then_some(bounds[end]))
        .collect()
}

/// Simple CLV assumes at least a month of observation before it
/// extrapolates a customer's purchase rate.
const MIN_OBSERVED_DAYS: f64 = 30.4375;

/// The simple CLV (`clv_simple`, SPEC §4): a customer's average order
/// value × orders per year observed × the expected lifespan, × margin.
/// It needs the lifespan from the KPI stage's monthly churn, not the CLV
/// models, so the CLV stage can run beside the KPIs; the values are
/// computed when the customers table's rows are built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimpleClv {
    /// Expected lifespan in years (`stages::clv::expected_lifespan_years`);
    /// `None` when it cannot be computed, and every value is then null.
    pub lifespan_years: Option<f64>,
    /// `[clv] margin`.
    pub margin: f64,
}

impl SimpleClv {
    /// The simple CLV of the customers in `range` (customer codes).
    pub fn values(&self, summary: &CustomerSummary, range: Range<usize>) -> Vec<Option<f64>> {
        range
            .map(|i| {
                let orders = summary.orders[i] as f64;
                let aov = money(summary.revenue_cents[i]) / orders;
                let observed = (summary.tenure_days[i] as f64).max(MIN_OBSERVED_DAYS);
                let per_year = orders * 365.25 / observed;
                self.lifespan_years
                    .map(|years| aov * per_year * years * self.margin)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Scores whose CLVs are `clv` (the rest of no interest), one
    /// partition a cut.
    fn with_clvs(clv: &[Option<f64>], cuts: &[Range<usize>]) -> ClvScoreParts {
        let n = clv.len();
        let whole = ClvScores {
            p_alive: vec![0.5; n],
            expected_orders: clv.iter().map(|v| v.map(|_| 1.0)).collect(),
            p_no_order: vec![0.5; n],
            expected_avg_order_value: vec![1.0; n],
            clv: clv.to_vec(),
            expected_orders_interval: vec![[f64::NAN; 2]; n],
            clv_interval: vec![[f64::NAN; 2]; n],
        };
        ClvScoreParts::held_cut(&whole, cuts.iter().cloned())
    }

    /// By hand: of the CLVs 3, 1 and 2 (a fourth customer has none, and
    /// counts in no share), 3 has two of three below it.
    #[test]
    fn customers_without_a_clv_count_in_no_share_and_ties_tie() {
        let scores = with_clvs(&[Some(3.0), None, Some(1.0), Some(2.0)], &[0..1, 1..4]);
        let ranks = scores.ranks();
        assert_eq!(ranks.share_below(3.0), 2.0 / 3.0);
        assert_eq!(ranks.share_below(1.0), 0.0);
        assert_eq!(ranks.share_below(2.0), 1.0 / 3.0);
        assert_eq!(scores.uncomputable(), 1);
        assert_eq!(scores.part_count(), 2);
        assert_eq!(
            scores.part(1).unwrap().clv,
            vec![None, Some(1.0), Some(2.0)]
        );
        let tied = with_clvs(&[Some(3.0), Some(1.0), Some(3.0), Some(2.0)], &[0..2, 2..4]);
        let shares: Vec<f64> = [3.0, 1.0, 2.0]
            .map(|v| tied.ranks().share_below(v))
            .to_vec();
        assert_eq!(shares, [0.5, 0.0, 0.25]);
    }

    proptest! {
        /// Against counting by brute force: a CLV's share is the count of
        /// CLVs strictly below it (in `f64::total_cmp`'s order, -0 below
        /// +0) over the count of CLVs, wherever the partitions are cut;
        /// and a threshold admits exactly the CLVs whose share reaches its
        /// quantile, quantiles at a share's exact value included.
        #[test]
        fn shares_and_thresholds_match_counting(
            clv in prop::collection::vec(
                prop::option::weighted(0.8, prop::sample::select(
                    vec![-2.5, -0.0, 0.0, 0.1, 1.25, 7.0, 1e300])),
                0..40),
            cut in 0usize..40,
            quantile in 0.0f64..1.0,
        ) {
            let cut = cut.min(clv.len());
            let scores = with_clvs(&clv, &[0..cut, cut..clv.len()]);
            let ranks = scores.ranks();
            let known: Vec<f64> = clv.iter().flatten().copied().collect();
            let share = |v: f64| {
                let below = known.iter().filter(|x| x.total_cmp(&v).is_lt()).count();
                below as f64 / known.len().max(1) as f64
            };
            // Quantiles on the shares themselves, where a rounding slip
            // would show.
            let mut quantiles = vec![quantile];
            quantiles.extend((0..known.len()).map(|k| k as f64 / known.len() as f64));
            for &v in &known {
                prop_assert_eq!(ranks.share_below(v), share(v));
                for &q in &quantiles {
                    prop_assert_eq!(ranks.at_least(q).admits(v), share(v) >= q, "{} at {}", v, q);
                }
            }
        }
    }

    /// Hand-worked: $20 in 2 orders over 100 days is 7.305 orders a year
    /// of $10; 2 years at a 50 % margin make 73.05. A customer seen for
    /// 10 days counts as seen for a month.
    #[test]
    fn simple_clv_by_hand() {
        let summary = CustomerSummary {
            orders: vec![2, 1],
            revenue_cents: vec![2_000, 1_000],
            tenure_days: vec![100, 10],
            ..Default::default()
        };
        let simple = SimpleClv {
            lifespan_years: Some(2.0),
            margin: 0.5,
        };
        let values = simple.values(&summary, 0..2);
        assert!((values[0].unwrap() - 73.05).abs() < 1e-12);
        let month = 10.0 * 365.25 / 30.4375 * 2.0 * 0.5;
        assert!((values[1].unwrap() - month).abs() < 1e-12);
        assert_eq!(simple.values(&summary, 1..2).len(), 1);
        let unknown = SimpleClv {
            lifespan_years: None,
            margin: 1.0,
        };
        assert_eq!(unknown.values(&summary, 0..2), vec![None, None]);
    }
}
