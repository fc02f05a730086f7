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

/// Every CLV there is (customers without one left out), sorted in
/// [`f64::total_cmp`]'s order: held, or in a spill file read back a block
/// at a time (`io::sorted_clvs`). Reading may fail only in the second.
pub trait SortedClvs: Send + Sync {
    /// How many there are.
    fn count(&self) -> usize;
    /// How many are strictly below `clv`.
    fn count_below(&self, clv: f64) -> Result<usize>;
    /// The one at `rank` (0 the lowest; `rank < count`).
    fn at_rank(&self, rank: usize) -> Result<f64>;
}

impl SortedClvs for Vec<f64> {
    fn count(&self) -> usize {
        self.len()
    }

    fn count_below(&self, clv: f64) -> Result<usize> {
        Ok(self.partition_point(|x| x.total_cmp(&clv).is_lt()))
    }

    fn at_rank(&self, rank: usize) -> Result<f64> {
        Ok(self[rank])
    }
}

/// Where each customer partition's CLVs go, sorted, when the scores are
/// stored, and what merges them into one sorted sequence: held, they
/// would take 8 bytes a customer (1.5 GB at 1 B orders).
pub trait ClvRunStore: Send + Sync {
    /// Partition `part`'s CLVs, sorted (the partitions in parallel, in any
    /// order).
    fn put_run(&self, part: usize, sorted: &[f64]) -> Result<()>;
    /// The runs of the partitions `0..runs`, merged.
    fn merged(&self, runs: usize) -> Result<Box<dyn SortedClvs>>;
}

/// Where the CLV stage's per-customer output goes when the per-customer
/// results are stored: each partition's scores, and its CLVs sorted.
#[derive(Clone)]
pub struct ClvStores {
    pub scores: Arc<ClvScoreStore>,
    pub ranks: Arc<dyn ClvRunStore>,
}

/// Every customer's CLV scores, a customer partition at a time: held, or
/// put in a store as each partition is scored and read back a partition
/// at a time; and every CLV there is, sorted, for the customers' ranks.
pub struct ClvScoreParts {
    held: Vec<Arc<ClvScores>>,
    stores: Option<ClvStores>,
    recent: RecentParts<ClvScores>,
    parts: usize,
    /// The held partitions' CLVs, until every partition is in.
    known: Vec<f64>,
    /// Every CLV sorted, once every partition is in.
    sorted: Box<dyn SortedClvs>,
    uncomputable: usize,
}

/// What one partition's scores leave with [`ClvScoreParts`]: the scores
/// and their CLVs when they are held; when they are stored, nothing but
/// a count.
pub struct KeptScores {
    held: Option<(ClvScores, Vec<f64>)>,
    uncomputable: usize,
}

impl ClvScoreParts {
    /// No partition yet, of `customers` in all; the scores go to `stores`
    /// when there are some.
    pub fn new(stores: Option<ClvStores>, customers: usize) -> ClvScoreParts {
        // At its size: grown part by part, it could end at twice it.
        let known = match stores {
            None => Vec::with_capacity(customers),
            Some(_) => Vec::new(),
        };
        ClvScoreParts {
            held: Vec::new(),
            stores,
            recent: RecentParts::default(),
            parts: 0,
            known,
            sorted: Box::new(Vec::new()),
            uncomputable: 0,
        }
    }

    /// Adds the next partition's kept scores (partitions in order).
    pub fn push(&mut self, kept: KeptScores) {
        self.uncomputable += kept.uncomputable;
        if let Some((scores, known)) = kept.held {
            self.known.extend(known);
            self.held.push(Arc::new(scores));
        }
        self.parts += 1;
    }

    /// Every partition pushed: the CLVs sorted for the ranks (the stored
    /// partitions' runs merged).
    pub fn finish(mut self) -> Result<ClvScoreParts> {
        self.sorted = match &self.stores {
            Some(stores) => stores.ranks.merged(self.parts)?,
            None => {
                let mut known = std::mem::take(&mut self.known);
                known.par_sort_unstable_by(f64::total_cmp);
                known.shrink_to_fit();
                Box::new(known)
            }
        };
        Ok(self)
    }

    /// Partition `p`'s scores: held, or read back from the store.
    pub fn part(&self, p: usize) -> Result<Arc<ClvScores>> {
        match &self.stores {
            None => Ok(Arc::clone(&self.held[p])),
            Some(stores) => self.recent.get(p, || stores.scores.get(p)),
        }
    }

    pub fn part_count(&self) -> usize {
        self.parts
    }

    /// Customers whose expected orders (and CLV) could not be computed.
    pub fn uncomputable(&self) -> usize {
        self.uncomputable
    }

    /// The ranks of every customer's CLV ([`ClvScoreParts::finish`]ed).
    pub fn ranks(&self) -> ClvRanks<'_> {
        ClvRanks::of(self.sorted.as_ref())
    }
}

impl KeptScores {
    /// Partition `p`'s `scores`, put in `stores` when there are some (the
    /// partitions in parallel, in any order), and what is kept of them.
    pub fn of(p: usize, scores: ClvScores, stores: Option<&ClvStores>) -> Result<KeptScores> {
        let uncomputable = scores.uncomputable();
        let held = match stores {
            Some(stores) => {
                stores.scores.put(p, &scores)?;
                stores.ranks.put_run(p, &scores.sorted_clvs())?;
                None
            }
            None => {
                let known = scores.clv.iter().flatten().copied().collect();
                Some((scores, known))
            }
        };
        Ok(KeptScores { held, uncomputable })
    }

    /// A partition whose scores and sorted CLVs another process put in
    /// the stores' files, with `uncomputable` customers without expected
    /// orders.
    pub fn stored(uncomputable: usize) -> KeptScores {
        KeptScores {
            held: None,
            uncomputable,
        }
    }
}

impl ClvScores {
    /// Customers whose expected orders (and CLV) could not be computed.
    pub fn uncomputable(&self) -> usize {
        self.expected_orders.iter().filter(|e| e.is_none()).count()
    }

    /// Every CLV there is, sorted in [`f64::total_cmp`]'s order (the run
    /// of a partition whose scores are stored).
    pub fn sorted_clvs(&self) -> Vec<f64> {
        let mut known: Vec<f64> = self.clv.iter().flatten().copied().collect();
        known.sort_unstable_by(f64::total_cmp);
        known
    }
}

/// Every CLV there is, sorted: a customer's CLV quantile is the share of
/// them strictly below theirs.
#[derive(Clone, Copy)]
pub struct ClvRanks<'a> {
    sorted: &'a dyn SortedClvs,
}

impl<'a> ClvRanks<'a> {
    /// The ranks of the CLVs in `sorted` (every customer's).
    pub fn of(sorted: &'a dyn SortedClvs) -> ClvRanks<'a> {
        ClvRanks { sorted }
    }

    /// The share of CLVs strictly below `clv`.
    pub fn share_below(&self, clv: f64) -> Result<f64> {
        let below = self.sorted.count_below(clv)?;
        Ok(below as f64 / self.sorted.count().max(1) as f64)
    }

    /// Which CLVs have a share strictly below them of at least `quantile`:
    /// a test of one comparison, where [`ClvRanks::share_below`] searches.
    pub fn at_least(&self, quantile: f64) -> Result<ClvThreshold> {
        let n = self.sorted.count();
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
        Ok(match first {
            0 => ClvThreshold::Every,
            k if k > n => ClvThreshold::None,
            k => ClvThreshold::Above(self.sorted.at_rank(k - 1)?),
        })
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

/// Sorted runs in memory, merged by sorting them together: what the spill
/// files do, for the stages' own tests (the runs' tests use the files).
#[cfg(test)]
#[derive(Default)]
pub struct MemoryRuns(std::sync::Mutex<std::collections::BTreeMap<usize, Vec<f64>>>);

#[cfg(test)]
impl ClvRunStore for MemoryRuns {
    fn put_run(&self, part: usize, sorted: &[f64]) -> Result<()> {
        self.0.lock().unwrap().insert(part, sorted.to_vec());
        Ok(())
    }

    fn merged(&self, runs: usize) -> Result<Box<dyn SortedClvs>> {
        let held = self.0.lock().unwrap();
        let mut all: Vec<f64> = (0..runs).flat_map(|p| held[&p].clone()).collect();
        all.sort_unstable_by(f64::total_cmp);
        Ok(Box::new(all))
    }
}

#[cfg(test)]
impl ClvScoreParts {
    /// `whole`'s scores held, cut into partitions of the customers
    /// `parts`: for tests of the stages and tables that read them.
    pub fn held_cut(whole: &ClvScores, parts: impl Iterator<Item = Range<usize>>) -> Self {
        Self::cut(whole, parts, None)
    }

    /// [`ClvScoreParts::held_cut`], the scores put in `stores` when there
    /// are some.
    pub fn cut(
        whole: &ClvScores,
        parts: impl Iterator<Item = Range<usize>>,
        stores: Option<ClvStores>,
    ) -> Self {
        let mut all = ClvScoreParts::new(stores.clone(), whole.clv.len());
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
            all.push(KeptScores::of(p, cut, stores.as_ref()).expect("scores are kept"));
        }
        all.finish().expect("scores are ranked")
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
    /// partition a cut; stored in memory when `stored`.
    fn with_clvs(clv: &[Option<f64>], cuts: &[Range<usize>], stored: bool) -> ClvScoreParts {
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
        let stores = stored.then(|| ClvStores {
            scores: Arc::new(crate::stages::part_store::MemoryParts::default()),
            ranks: Arc::new(MemoryRuns::default()),
        });
        ClvScoreParts::cut(&whole, cuts.iter().cloned(), stores)
    }

    /// By hand: of the CLVs 3, 1 and 2 (a fourth customer has none, and
    /// counts in no share), 3 has two of three below it.
    #[test]
    fn customers_without_a_clv_count_in_no_share_and_ties_tie() {
        for stored in [false, true] {
            let clv = [Some(3.0), None, Some(1.0), Some(2.0)];
            let scores = with_clvs(&clv, &[0..1, 1..4], stored);
            let ranks = scores.ranks();
            assert_eq!(ranks.share_below(3.0).unwrap(), 2.0 / 3.0);
            assert_eq!(ranks.share_below(1.0).unwrap(), 0.0);
            assert_eq!(ranks.share_below(2.0).unwrap(), 1.0 / 3.0);
            assert_eq!(scores.uncomputable(), 1);
            assert_eq!(scores.part_count(), 2);
            assert_eq!(
                scores.part(1).unwrap().clv,
                vec![None, Some(1.0), Some(2.0)]
            );
            let tied = [Some(3.0), Some(1.0), Some(3.0), Some(2.0)];
            let tied = with_clvs(&tied, &[0..2, 2..4], stored);
            let shares: Vec<f64> = [3.0, 1.0, 2.0]
                .map(|v| tied.ranks().share_below(v).unwrap())
                .to_vec();
            assert_eq!(shares, [0.5, 0.0, 0.25]);
        }
    }

    proptest! {
        /// Against counting by brute force: a CLV's share is the count of
        /// CLVs strictly below it (in `f64::total_cmp`'s order, -0 below
        /// +0) over the count of CLVs, wherever the partitions are cut;
        /// and a threshold admits exactly the CLVs whose share reaches its
        /// quantile, quantiles at a share's exact value included; held or
        /// stored.
        #[test]
        fn shares_and_thresholds_match_counting(
            clv in prop::collection::vec(
                prop::option::weighted(0.8, prop::sample::select(
                    vec![-2.5, -0.0, 0.0, 0.1, 1.25, 7.0, 1e300])),
                0..40),
            cut in 0usize..40,
            quantile in 0.0f64..1.0,
            stored: bool,
        ) {
            let cut = cut.min(clv.len());
            let scores = with_clvs(&clv, &[0..cut, cut..clv.len()], stored);
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
                prop_assert_eq!(ranks.share_below(v).unwrap(), share(v));
                for &q in &quantiles {
                    let admits = ranks.at_least(q).unwrap().admits(v);
                    prop_assert_eq!(admits, share(v) >= q, "{} at {}", v, q);
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
