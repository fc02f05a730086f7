//! Every per-customer result, kept a customer partition at a time once
//! the order history is dropped: what the `customers` table, the
//! `segments` totals and the target lists are built from.
//!
//! The `customers` stage reads each partition's history once and gives
//! its summary (before RFM scoring) and tier columns, and takes over its
//! customers' ids. When the memory budget is short, each partition's
//! results go to a [`PartStore`] as they are made, and the three columns
//! the RFM cuts are taken over and the second-order gaps to stores of
//! their own ([`ScoreStores`]); the cuts and the median second-order gap
//! are then order statistics over those stores, read back a column at a
//! time ([`Scoring::of_stored`]), and a stored partition is scored each
//! time it is read back. So at no point are the results, the ids or the
//! score columns of every customer held (at 1 B orders they took about
//! 100, 18 and 25 bytes a customer: 19, 3.5 and 4.8 GB). The CLV stage's
//! scores of each partition go to a store of their own then (about 90
//! bytes a customer); only every CLV, sorted, is held for the target
//! lists' quantiles (8 bytes a customer with a CLV).

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use crate::config::TargetsConfig;
use crate::error::Result;
use crate::stages::clv_scores::{ClvScoreParts, ClvScores, ClvStores, SimpleClv};
use crate::stages::customers::{summarize_part, CustomerSummary, ScoreStores, Scoring};
use crate::stages::orders::{CustomerIds, EntriesView, OrderHistory, PartIds};
use crate::stages::part_store::{self, PartStore, RecentParts};
use crate::stages::targets::TargetInputs;
use crate::stages::tiers::{tiers_of_part, CustomerTiers, Tiers};

/// One customer partition's per-customer results, in code order, with
/// the customers' ids: once the history is dropped, nothing else holds
/// them, so no stage after it holds every customer's id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerPart {
    pub ids: CustomerIds,
    pub summary: CustomerSummary,
    pub tiers: CustomerTiers,
}

/// Where stored partitions' results go; their customer ids can be read
/// back alone. A lookup of ids (the survey rows' customers) needs no
/// other column: reading and scoring every column of every partition
/// took 5–6 s a lookup at 100 M orders.
pub trait ResultStore: PartStore<CustomerPart> {
    /// Partition `part`'s customer ids.
    fn ids(&self, part: usize) -> Result<CustomerIds>;
}

/// Every partition's results, held (scored) or in a store (scored when
/// read back).
pub struct CustomerParts {
    /// The code of each part's first customer, then the customer count.
    starts: Vec<usize>,
    /// Each part, when held.
    held: Vec<Arc<CustomerPart>>,
    store: Option<Arc<dyn ResultStore>>,
    scoring: Scoring,
    /// The stored parts read back last.
    recent: RecentParts<CustomerPart>,
}

/// What one partition gave: its results (held), or what is kept of them
/// once stored.
enum Built {
    Held {
        part: Box<CustomerPart>,
        gaps: Vec<i64>,
    },
    Stored(StoredResults),
}

/// Where the per-customer results are stored when the budget cannot hold
/// them: each partition's results, and apart from them the columns they
/// are scored over (read back a column at a time). A cluster's executors
/// write the same files.
#[derive(Clone)]
pub struct ResultStores {
    pub parts: Arc<dyn ResultStore>,
    pub scores: ScoreStores,
    /// The CLV stage's scores of each partition, and its CLVs sorted (the
    /// client's alone: a cluster's executors do not score).
    pub clv: ClvStores,
}

/// What is kept of a partition's results once they and its score columns
/// are stored: how many customers it has, and how many of them a
/// first-to-second-order gap. A cluster's executor sends this back for
/// the results it stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredResults {
    pub customers: u64,
    pub gaps: u64,
}

impl StoredResults {
    /// Whether these are a partition of `customers` customers' (a cluster
    /// run checks what its executors sent).
    fn fits(&self, customers: usize) -> bool {
        self.customers == customers as u64 && self.gaps <= self.customers
    }
}

/// One partition's results from its customers' `ids` and `entries` on
/// `as_of` (tier columns by `tiers`), not yet scored, and its customers'
/// first-to-second-order gaps.
pub fn part_results(
    (ids, entries): (CustomerIds, EntriesView<'_>),
    as_of: i32,
    tiers: Option<&Tiers>,
) -> (CustomerPart, Vec<i64>) {
    let summarized = summarize_part(entries.iter(), as_of);
    let part = CustomerPart {
        ids,
        summary: summarized.summary,
        tiers: tiers_of_part(entries, as_of, tiers),
    };
    (part, summarized.gaps)
}

/// A partition's results and score columns handed to `put` (its stores),
/// and what is kept of them.
pub fn store_results(
    (part, gaps): (CustomerPart, Vec<i64>),
    put: impl FnOnce(&CustomerPart, &Vec<i64>) -> Result<()>,
) -> Result<StoredResults> {
    put(&part, &gaps)?;
    Ok(StoredResults {
        customers: part.summary.orders.len() as u64,
        gaps: gaps.len() as u64,
    })
}

impl ResultStores {
    /// Puts partition `p`'s results and score columns.
    pub fn put(&self, p: usize, part: &CustomerPart, gaps: &Vec<i64>) -> Result<()> {
        self.parts.put(p, part)?;
        self.scores.put(p, &part.summary, gaps)
    }

    /// The scoring of every partition's stored score columns, `stored`
    /// being what is kept of them.
    fn scoring(&self, stored: &[StoredResults]) -> Result<Scoring> {
        let customers = stored.iter().map(|s| s.customers).sum();
        let gaps = stored.iter().map(|s| s.gaps).sum();
        Scoring::of_stored(&self.scores, stored.len(), (customers, gaps))
    }
}

/// The stage `customers`: every partition's summary and tier columns from
/// one read of its history, with its customers' `ids` (taken out of the
/// history; none for a summary alone), the partitions in parallel; put
/// in `stores` as they are made when there are.
pub fn customer_parts(
    (history, ids): (&OrderHistory, Option<&PartIds>),
    tiers: Option<&Tiers>,
    stores: Option<&ResultStores>,
) -> Result<CustomerParts> {
    // The cluster test: a client whose executors made the results never
    // comes here.
    crate::faults::crash_point("customers::from_history");
    let as_of = history.as_of;
    let built = history.map_parts(|p, entries| -> Result<Built> {
        let ids = ids.map_or(Ok(CustomerIds::default()), |ids| ids.take(p))?;
        let results = part_results((ids, entries), as_of, tiers);
        Ok(match stores {
            Some(stores) => {
                let put = |part: &CustomerPart, gaps: &Vec<i64>| stores.put(p, part, gaps);
                Built::Stored(store_results(results, put)?)
            }
            None => Built::Held {
                part: Box::new(results.0),
                gaps: results.1,
            },
        })
    })?;
    let built: Vec<Built> = built.into_iter().collect::<Result<_>>()?;
    let starts = part_starts(history);
    match stores {
        Some(stores) => {
            let stored: Vec<StoredResults> = built
                .into_iter()
                .map(|b| match b {
                    Built::Stored(stored) => stored,
                    Built::Held { .. } => unreachable!("with stores every part is stored"),
                })
                .collect();
            stored_parts(starts, stored, stores)
        }
        None => {
            let scoring = held_scoring(&built);
            Ok(CustomerParts::scored(starts, built, scoring, None))
        }
    }
}

/// The stage `customers` when something else made each partition's
/// results and put them in `store` (a cluster's executors, beside the
/// history's entries): `stored`, one for each partition of `history`, is
/// what is kept of them.
pub fn stored_customer_parts(
    history: &OrderHistory,
    stored: Vec<StoredResults>,
    stores: &ResultStores,
) -> Result<CustomerParts> {
    let counts = (0..history.part_count()).map(|p| history.customers_of_part(p));
    let matches =
        stored.len() == history.part_count() && stored.iter().zip(counts).all(|(s, n)| s.fits(n));
    if !matches {
        return Err(crate::error::Error::Cluster(
            "the per-customer results made do not match the history's partitions".into(),
        ));
    }
    stored_parts(part_starts(history), stored, stores)
}

/// The parts whose results and score columns are in `stores`, scored by
/// the cuts of all of them (each when read back).
fn stored_parts(
    starts: Vec<usize>,
    stored: Vec<StoredResults>,
    stores: &ResultStores,
) -> Result<CustomerParts> {
    let scoring = stores.scoring(&stored)?;
    let built = stored.into_iter().map(Built::Stored).collect();
    let store = Some(Arc::clone(&stores.parts));
    Ok(CustomerParts::scored(starts, built, scoring, store))
}

/// (index in `ids`, code) of each of `ids` (ascending) that is among
/// `part_ids`, the ids of a part whose first customer's code is `start`:
/// u32 pairs, since a survey file asks for millions of ids at once.
pub fn found_in_part(ids: &[&str], part_ids: &CustomerIds, start: usize) -> Vec<(u32, u32)> {
    let Some(last) = part_ids.len().checked_sub(1) else {
        return Vec::new();
    };
    let from = ids.partition_point(|&id| id < part_ids.get(0));
    let to = ids.partition_point(|&id| id <= part_ids.get(last));
    let mut at = 0;
    let position = |i: usize| {
        at = part_ids.seek(ids[i], at);
        let found = at < part_ids.len() && part_ids.get(at) == ids[i];
        found.then_some((i as u32, (start + at) as u32))
    };
    (from..to).filter_map(position).collect()
}

/// The code of each partition's first customer, then the customer count.
fn part_starts(history: &OrderHistory) -> Vec<usize> {
    let counts = (0..history.part_count()).map(|p| history.customers_of_part(p));
    std::iter::once(0)
        .chain(counts.scan(0, |sum, n| {
            *sum += n;
            Some(*sum)
        }))
        .collect()
}

/// The scoring of partitions whose results are all held.
fn held_scoring(built: &[Built]) -> Scoring {
    let (columns, gaps): (Vec<_>, Vec<_>) = built
        .iter()
        .map(|b| match b {
            Built::Held { part, gaps } => (part.summary.score_slices(), gaps.as_slice()),
            Built::Stored(_) => unreachable!("stored parts are scored from their stores"),
        })
        .unzip();
    Scoring::of(&columns, &gaps)
}

impl CustomerParts {
    /// The parts scored by `scoring`, the cuts of all of them (held parts
    /// scored now, stored ones when read).
    fn scored(
        starts: Vec<usize>,
        built: Vec<Built>,
        scoring: Scoring,
        store: Option<Arc<dyn ResultStore>>,
    ) -> Self {
        let held = built
            .into_par_iter()
            .filter_map(|b| match b {
                Built::Held { part, .. } => Some(part),
                Built::Stored(_) => None,
            })
            .map(|mut part| {
                scoring.apply(&mut part.summary);
                Arc::from(part)
            })
            .collect();
        CustomerParts {
            starts,
            held,
            store,
            scoring,
            recent: RecentParts::default(),
        }
    }

    pub fn customers(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    pub fn part_count(&self) -> usize {
        self.starts.len() - 1
    }

    /// The codes of part `p`'s customers.
    pub fn codes_of(&self, p: usize) -> Range<usize> {
        self.starts[p]..self.starts[p + 1]
    }

    /// The median second-order gap over every customer, doubled.
    pub fn gap_doubled(&self) -> Option<i64> {
        self.scoring.gap_doubled()
    }

    /// What scores every part's summary as it is read back.
    pub fn scoring(&self) -> &Scoring {
        &self.scoring
    }

    /// The code of each part's first customer, in part order.
    pub fn part_starts(&self) -> Vec<usize> {
        (0..self.part_count())
            .map(|p| self.codes_of(p).start)
            .collect()
    }

    /// Whether the parts are in a store rather than held.
    pub fn stored(&self) -> bool {
        self.store.is_some()
    }

    /// Part `p`, scored: held, or read back from the store.
    pub fn part(&self, p: usize) -> Result<Arc<CustomerPart>> {
        let Some(store) = &self.store else {
            return Ok(Arc::clone(&self.held[p]));
        };
        self.recent.get(p, || {
            let mut part = store.get(p)?;
            self.scoring.apply(&mut part.summary);
            Ok(part)
        })
    }

    /// `f` of part `p`'s customer ids: held, or read back alone from the
    /// store (not the part's other columns).
    pub fn with_ids<T>(&self, p: usize, f: impl FnOnce(&CustomerIds) -> T) -> Result<T> {
        match &self.store {
            Some(store) => Ok(f(&store.ids(p)?)),
            None => Ok(f(&self.held[p].ids)),
        }
    }

    /// The id of customer `c`, when the parts are held (the target lists
    /// are held only then; stored lists carry their ids).
    ///
    /// # Panics
    /// If the parts are stored.
    pub fn held_id(&self, c: usize) -> &str {
        let p = self.part_of(c);
        self.held[p].ids.get(c - self.starts[p])
    }

    /// The last part that starts at or before code `c` (the empty parts
    /// that start there too come before it).
    fn part_of(&self, c: usize) -> usize {
        self.starts.partition_point(|&s| s <= c).saturating_sub(1)
    }

    /// The part that holds customer `code`.
    pub fn part_of_code(&self, code: u32) -> usize {
        self.part_of(code as usize)
    }

    /// The parts holding the customers `codes`, and the codes of each.
    pub fn parts_in(&self, codes: Range<usize>) -> Vec<(usize, Range<usize>)> {
        (self.part_of(codes.start)..self.part_count())
            .map(|p| (p, self.codes_of(p)))
            .take_while(|(_, of)| of.start < codes.end)
            .map(|(p, of)| (p, of.start.max(codes.start)..of.end.min(codes.end)))
            .filter(|(_, of)| !of.is_empty())
            .collect()
    }

    /// `f` of every part (the code of its first customer, the part), the
    /// parts in parallel; the results in part order.
    pub fn map_parts<T: Send>(
        &self,
        f: impl Fn(usize, &CustomerPart) -> T + Sync,
    ) -> Result<Vec<T>> {
        self.map_indexed(|p, part| f(self.starts[p], part))
    }

    /// `f` of every part (its index, the part), the parts in parallel; the
    /// results in part order.
    pub fn map_indexed<T: Send>(
        &self,
        f: impl Fn(usize, &CustomerPart) -> T + Sync,
    ) -> Result<Vec<T>> {
        (0..self.part_count())
            .into_par_iter()
            .map(|p| Ok(f(p, &*self.part(p)?)))
            .collect()
    }

    /// `each` of every part (its index, the part), a few parts at a time
    /// in parallel, and `fold` of each part with its result in part order:
    /// for sums that must be added in customer order whatever the
    /// partitioning, without every part's results held at once.
    pub fn fold_in_order<T: Send>(
        &self,
        each: impl Fn(usize, &CustomerPart) -> T + Sync,
        mut fold: impl FnMut(&CustomerPart, T) -> Result<()> + Send,
    ) -> Result<()> {
        part_store::fold_in_order(
            self.part_count(),
            |p| {
                let part = self.part(p)?;
                let result = each(p, &part);
                Ok((part, result))
            },
            |(part, result)| fold(&part, result),
        )
    }

    /// The tiers at as_of of the customers `codes` (ascending), in their
    /// order: the NPS stage's respondents (with `[loyalty]`; without, there
    /// is none to give and the result is empty).
    pub fn tiers_of(&self, codes: &[u32]) -> Result<Vec<usize>> {
        self.each_of(codes, |part, i| {
            part.tiers.tier.as_ref().map(|tier| tier[i])
        })
    }

    /// `value` (of a part and a customer's index in it) of each of the
    /// customers `codes` (ascending) that has one, in their order; only
    /// the parts that hold one of them read, in parallel.
    fn each_of<T: Send>(
        &self,
        codes: &[u32],
        value: impl Fn(&CustomerPart, usize) -> Option<T> + Sync,
    ) -> Result<Vec<T>> {
        debug_assert!(codes.is_sorted(), "codes ascending");
        let mut groups = Vec::new();
        for group in codes.chunk_by(|&a, &b| self.part_of(a as usize) == self.part_of(b as usize)) {
            groups.push((self.part_of(group[0] as usize), group));
        }
        let values = groups
            .into_par_iter()
            .map(|(p, group)| {
                let (part, start) = (self.part(p)?, self.starts[p]);
                let value_of = |&c: &u32| value(&part, c as usize - start);
                Ok(group.iter().filter_map(value_of).collect::<Vec<T>>())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(values.into_iter().flatten().collect())
    }

    /// The summary of every customer joined, in code order: for the CLV
    /// stage, which fits over all of them.
    pub fn whole_summary(&self) -> Result<CustomerSummary> {
        let mut whole = CustomerSummary::with_capacity(self.customers());
        for p in 0..self.part_count() {
            whole.append(self.part(p)?.summary.clone());
        }
        whole.second_order_gap_doubled = self.scoring.gap_doubled();
        Ok(whole)
    }
}

/// The summary of every customer in `history`: each customer partition
/// summarized on its own, then scored by the cuts of all of them.
pub fn summarize_customers(history: &OrderHistory) -> Result<CustomerSummary> {
    customer_parts((history, None), None, None)?.whole_summary()
}

/// The results of `history`'s partitions, held, with their ids: for
/// tests of the stages and tables built from them.
#[cfg(any(test, feature = "failpoints"))]
pub fn held_parts(history: &OrderHistory) -> CustomerParts {
    let ids = history.clone().take_ids();
    customer_parts((history, Some(&ids)), None, None).expect("a held history's results")
}

/// Per customer in code (id) order, and what the target rules need.
pub struct PerCustomer {
    pub as_of: i32,
    pub parts: CustomerParts,
    /// The CLV scores and the simple CLV's settings, with the CLV stage.
    pub clv: Option<(ClvScoreParts, SimpleClv)>,
    /// The loyalty tiers, with `[loyalty]`.
    pub tiers: Option<Tiers>,
    /// The activity window, in days.
    pub window: u32,
    pub targets: TargetsConfig,
}

impl PerCustomer {
    /// Part `p`'s CLV scores, with the CLV stage.
    pub fn clv_of_part(&self, p: usize) -> Result<Option<Arc<ClvScores>>> {
        self.clv
            .as_ref()
            .map(|(scores, _)| scores.part(p))
            .transpose()
    }

    /// What the target rules read of `part`, whose first customer's code
    /// is `start` and whose CLV scores are `clv`.
    pub fn target_inputs<'a>(
        &'a self,
        (part, start): (&'a CustomerPart, usize),
        clv: Option<&'a ClvScores>,
    ) -> TargetInputs<'a> {
        TargetInputs {
            start,
            as_of: self.as_of,
            summary: &part.summary,
            window: self.window,
            tiers: self.tiers.as_ref(),
            customer_tiers: &part.tiers,
            clv,
            config: &self.targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::clv_scores::MemoryRuns;
    use crate::stages::orders::HistoryPart;
    use crate::stages::part_store::MemoryParts;
    use crate::stages::tiers::customer_tiers;

    impl ResultStore for MemoryParts<CustomerPart> {
        fn ids(&self, part: usize) -> Result<CustomerIds> {
            Ok(self.get(part)?.ids)
        }
    }

    /// Result stores in memory, the results' own in `parts`.
    fn memory_stores(parts: Arc<MemoryParts<CustomerPart>>) -> ResultStores {
        ResultStores {
            parts,
            scores: ScoreStores {
                last_order_day: Arc::new(MemoryParts::default()),
                orders: Arc::new(MemoryParts::default()),
                revenue_cents: Arc::new(MemoryParts::default()),
                gaps: Arc::new(MemoryParts::default()),
            },
            clv: ClvStores {
                scores: Arc::new(MemoryParts::default()),
                ranks: Arc::new(MemoryRuns::default()),
            },
        }
    }

    /// Seven customers' entries, refunds among them.
    fn rows() -> Vec<(String, i32, i64)> {
        (0..20)
            .map(|i| {
                (
                    format!("c{}", i % 7),
                    (i * 13) % 17 + 300,
                    (i as i64 * 37) % 23 - 5,
                )
            })
            .collect()
    }

    /// The customers `c0`.. in partitions of `per_part`, an empty
    /// partition before each.
    fn history_in_parts(rows: &[(&str, i32, i64)], per_part: usize) -> OrderHistory {
        let mut parts = vec![];
        for first in (0..7).step_by(per_part) {
            let ids: Vec<String> = (first..7.min(first + per_part))
                .map(|c| format!("c{c}"))
                .collect();
            let of_part: Vec<_> = rows
                .iter()
                .copied()
                .filter(|(c, _, _)| ids.iter().any(|id| id == c))
                .collect();
            parts.push(HistoryPart::default());
            parts.push(HistoryPart::from_rows(&of_part));
        }
        OrderHistory::of_parts(parts, 400, [])
    }

    /// How the customers are split into partitions, and whether the
    /// partitions' results are held or stored, changes nothing: parts of
    /// one, two and three customers with empty parts between them give
    /// the summaries (scores and median gap included) and tier columns of
    /// one part, partition by partition and joined.
    #[test]
    fn results_are_the_same_in_any_parts_held_or_stored() {
        let rows = rows();
        let rows: Vec<(&str, i32, i64)> =
            rows.iter().map(|(c, d, x)| (c.as_str(), *d, *x)).collect();
        let tiers = Tiers::new(vec![("Low".into(), 0), ("High".into(), 40)]);
        let one = OrderHistory::from_rows(400, &rows);
        let whole = summarize_customers(&one).unwrap();
        let whole_tiers = customer_tiers(&one, Some(&tiers)).unwrap();
        assert_eq!(whole.orders.len(), 7);
        assert!(whole.second_order_gap_doubled.is_some());
        for per_part in [1, 2, 3] {
            let history = history_in_parts(&rows, per_part);
            let ids = || history.clone().take_ids();
            let held = customer_parts((&history, Some(&ids())), Some(&tiers), None).unwrap();
            let store = Arc::new(MemoryParts::<CustomerPart>::default());
            let stores = memory_stores(store.clone());
            let stored =
                customer_parts((&history, Some(&ids())), Some(&tiers), Some(&stores)).unwrap();
            assert!(stored.stored() && !held.stored());
            assert_eq!(held.customers(), 7);
            assert_eq!(held.whole_summary().unwrap(), whole, "{per_part} a part");
            assert_eq!(stored.whole_summary().unwrap(), whole, "{per_part} a part");
            let mut joined = CustomerTiers::default();
            let mut joined_ids = CustomerIds::default();
            for p in 0..held.part_count() {
                assert_eq!(held.part(p).unwrap(), stored.part(p).unwrap());
                joined_ids.append(stored.part(p).unwrap().ids.clone());
                assert!(store.0.lock().unwrap()[&p].summary.r_score.is_empty());
                joined.append(held.part(p).unwrap().tiers.clone());
            }
            assert_eq!(joined, whole_tiers, "{per_part} a part");
            let every_id: Vec<String> = (0..7).map(|c| format!("c{c}")).collect();
            assert_eq!(joined_ids.slice(0..7), every_id);
            assert!((0..7).all(|c| held.held_id(c) == every_id[c]));
        }
    }

    /// The parts holding a range of codes, each with its codes: ranges
    /// within a part, across parts and over empty parts.
    #[test]
    fn a_range_of_codes_is_found_in_its_parts() {
        let rows = rows();
        let rows: Vec<(&str, i32, i64)> =
            rows.iter().map(|(c, d, x)| (c.as_str(), *d, *x)).collect();
        // Parts: empty, c0 c1 c2, empty, c3 c4 c5, empty, c6.
        let parts = held_parts(&history_in_parts(&rows, 3));
        assert_eq!(parts.parts_in(0..0), vec![]);
        assert_eq!(parts.parts_in(0..2), vec![(1, 0..2)]);
        assert_eq!(parts.parts_in(2..4), vec![(1, 2..3), (3, 3..4)]);
        assert_eq!(parts.parts_in(0..7), vec![(1, 0..3), (3, 3..6), (5, 6..7)]);
        assert_eq!(parts.parts_in(6..7), vec![(5, 6..7)]);
    }

    /// Ids are found in the part holding them, held or stored, each part's
    /// ids read alone: ids before the first, between parts, after the
    /// last, repeated, and in every part (brute force: the position among
    /// every id).
    #[test]
    fn ids_are_found_in_their_parts() {
        let rows = rows();
        let rows: Vec<(&str, i32, i64)> =
            rows.iter().map(|(c, d, x)| (c.as_str(), *d, *x)).collect();
        let asked = [
            "", "a", "c0", "c0", "c1", "c25", "c3", "c4", "c5", "c6", "c6", "c7", "d",
        ];
        let every_id: Vec<String> = (0..7).map(|c| format!("c{c}")).collect();
        let expected: Vec<Option<u32>> = asked
            .iter()
            .map(|id| every_id.iter().position(|known| known == id))
            .map(|code| code.map(|c| c as u32))
            .collect();
        let codes_of = |parts: &CustomerParts, asked: &[&str]| {
            let mut codes = vec![None; asked.len()];
            for p in 0..parts.part_count() {
                let start = parts.codes_of(p).start;
                let found = parts.with_ids(p, |ids| found_in_part(asked, ids, start));
                for (i, code) in found.unwrap() {
                    assert!(codes[i as usize].is_none(), "found in one part");
                    codes[i as usize] = Some(code);
                }
            }
            codes
        };
        for per_part in [1, 2, 3, 7] {
            let history = history_in_parts(&rows, per_part);
            let stores = memory_stores(Arc::default());
            let ids = history.clone().take_ids();
            let stored = customer_parts((&history, Some(&ids)), None, Some(&stores));
            for parts in [held_parts(&history), stored.unwrap()] {
                assert_eq!(codes_of(&parts, &asked), expected, "{per_part}");
                assert_eq!(codes_of(&parts, &[]), vec![]);
            }
        }
    }

    /// The second order is the second entry that is not a refund, even on
    /// the first order's day; one order and refunds give no gap.
    #[test]
    fn second_order_gap_skips_refunds() {
        let history = OrderHistory::from_rows(
            100,
            &[
                ("a", 10, 500),
                ("a", 12, -500),
                ("a", 20, 700),
                ("a", 30, 100),
                ("b", 5, 100),
                ("b", 5, 200),
                ("c", 7, 100),
                ("c", 9, -100),
            ],
        );
        // Gaps 10 (a) and 0 (b): median 5, doubled 10.
        assert_eq!(
            summarize_customers(&history)
                .unwrap()
                .second_order_gap_doubled,
            Some(10)
        );
        let one = OrderHistory::from_rows(100, &[("c", 7, 100), ("c", 9, -100)]);
        assert_eq!(
            summarize_customers(&one).unwrap().second_order_gap_doubled,
            None
        );
    }
}
