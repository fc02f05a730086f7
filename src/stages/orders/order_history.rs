//! The orders stage's output: every customer's orders and refunds, kept in
//! the customer partitions that built them. The partitions are ranges of
//! ids (`stages::customer_ranges`), each sorted by id, so one after
//! another they hold the customers in id order, with no merged copy (at
//! 100 M orders a copy took 2 GiB and 9 s) and no index (8 bytes a
//! customer) to tell where a customer is.
//!
//! When the memory budget cannot hold every entry, the orders stage writes
//! each part's entries to an [`EntryStore`] and its customer ids to an
//! [`IdStore`] as the part is built (the dimension codes with the
//! entries), and keeps only its customer count and how many customers
//! have each dimension value. The `customers` stage takes the ids over
//! ([`OrderHistory::take_ids`]); every stage reads the
//! history a part at a time ([`OrderHistory::with_part`] and the folds
//! and maps over it), so a part is read back, used and dropped, and the
//! stages hold at most one part per thread.

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::Result;
use crate::stages::part_store::{self, PartStore};
use crate::stages::validate::NO_CODE;

/// The history of the customers of one partition, in id order, in
/// contiguous vectors.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryPart {
    /// Customer ids in ascending order; empty once taken out to a store
    /// ([`HistoryPart::take_ids`]).
    pub customer_ids: CustomerIds,
    /// How many customers the part has once their ids are taken out.
    #[serde(default)]
    pub stored_ids: Option<usize>,
    /// Customer `i` owns entries `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    /// Local business date (days since 1970-01-01) of each entry.
    pub day: Vec<i32>,
    /// Entry total in cents; negative for a refund.
    pub cents: Vec<i64>,
    /// Per configured dimension, each customer's value code (see
    /// [`CustomerDimension::group`]); moved out with the entries
    /// ([`HistoryPart::take_entries`]).
    pub dimensions: Vec<Vec<u32>>,
    /// Per dimension, how many of the part's customers have each value
    /// code, by code: what is kept of the codes once they are moved out
    /// with the entries (the value slices' customer counts).
    #[serde(default)]
    pub code_counts: Vec<Vec<(u32, usize)>>,
}

impl HistoryPart {
    pub fn customers(&self) -> usize {
        self.stored_ids.unwrap_or(self.customer_ids.len())
    }

    /// How many of the part's customers have each value code of dimension
    /// `d`, by code: counted from the codes while the part holds them.
    fn counts_of_codes(&self, d: usize) -> Vec<(u32, usize)> {
        match self.dimensions.get(d) {
            Some(codes) if !codes.is_empty() => count_codes(codes),
            _ => self.code_counts.get(d).cloned().unwrap_or_default(),
        }
    }

    /// Moves the customer ids out (to a store), keeping their count.
    pub fn take_ids(&mut self) -> CustomerIds {
        self.stored_ids = Some(self.customers());
        std::mem::take(&mut self.customer_ids)
    }
}

/// How many times each code occurs, by code.
fn count_codes(codes: &[u32]) -> Vec<(u32, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    codes
        .iter()
        .for_each(|&code| *counts.entry(code).or_insert(0) += 1);
    counts.into_iter().collect()
}

/// The entries of one part, owned: what an [`EntryStore`] keeps. The
/// dimension codes go with them: the stages that read them read the
/// entries too, and held beside a spilled history they took 4 bytes a
/// customer per dimension (0.75 GB each at a billion orders).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartEntries {
    /// Customer `i` owns entries `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    pub day: Vec<i32>,
    pub cents: Vec<i64>,
    /// Per dimension, each customer's value code.
    pub dimensions: Vec<Vec<u32>>,
}

/// The entries of one part, borrowed from a held part or from entries read
/// back from the store.
#[derive(Debug, Clone, Copy)]
pub struct EntriesView<'a> {
    offsets: &'a [usize],
    day: &'a [i32],
    cents: &'a [i64],
    dimensions: &'a [Vec<u32>],
}

impl<'a> EntriesView<'a> {
    pub fn customers(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// How many dimensions the part has codes of (an empty part may have
    /// none).
    pub fn dimension_count(&self) -> usize {
        self.dimensions.len()
    }

    /// Each customer's value code in dimension `d` (an empty part may have
    /// no dimension columns at all).
    pub fn codes(&self, d: usize) -> &'a [u32] {
        self.dimensions.get(d).map_or(&[][..], Vec::as_slice)
    }

    /// The entries of the part's customer `i`: (days, cents).
    pub fn of(&self, i: usize) -> (&'a [i32], &'a [i64]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.day[range.clone()], &self.cents[range])
    }

    /// Every customer's entries, in code order.
    pub fn iter(self) -> impl Iterator<Item = (&'a [i32], &'a [i64])> {
        (0..self.customers()).map(move |i| self.of(i))
    }

    /// The earliest first order of the part's customers.
    pub fn earliest_first_order(self) -> Option<i32> {
        self.iter()
            .filter_map(|(days, cents)| first_order_day_of(days, cents))
            .min()
    }
}

/// The date of a customer's first order (refunds excluded), from their
/// entries.
pub fn first_order_day_of(days: &[i32], cents: &[i64]) -> Option<i32> {
    days.iter()
        .zip(cents)
        .find(|(_, &x)| x >= 0)
        .map(|(&d, _)| d)
}

impl PartEntries {
    pub fn view(&self) -> EntriesView<'_> {
        EntriesView {
            offsets: &self.offsets,
            day: &self.day,
            cents: &self.cents,
            dimensions: &self.dimensions,
        }
    }
}

impl HistoryPart {
    pub fn view(&self) -> EntriesView<'_> {
        EntriesView {
            offsets: &self.offsets,
            day: &self.day,
            cents: &self.cents,
            dimensions: &self.dimensions,
        }
    }

    /// Moves the entries and dimension codes out, leaving the ids and the
    /// codes' counts.
    pub fn take_entries(&mut self) -> PartEntries {
        // Taken a second time, the part has no codes left to count: the
        // counts made the first time stay.
        if !self.dimensions.is_empty() {
            self.code_counts = (0..self.dimensions.len())
                .map(|d| self.counts_of_codes(d))
                .collect();
        }
        PartEntries {
            offsets: std::mem::take(&mut self.offsets),
            day: std::mem::take(&mut self.day),
            cents: std::mem::take(&mut self.cents),
            dimensions: std::mem::take(&mut self.dimensions),
        }
    }
}

/// Where parts' entries go when the budget cannot hold them all.
pub type EntryStore = dyn PartStore<PartEntries>;

/// Where parts' customer ids go when the budget cannot hold them all
/// (18 bytes a customer, 3.5 GB at a billion orders): apart from the
/// entries, which every stage reads, where only the `customers` stage
/// reads the ids.
pub type IdStore = dyn PartStore<CustomerIds>;

/// The stores a spilled history's parts are in: the entries always, the
/// customer ids when they are not held (a cluster's executors send them
/// back with each part).
#[derive(Clone)]
pub struct HistoryStores {
    pub entries: Arc<EntryStore>,
    pub ids: Option<Arc<IdStore>>,
}

impl std::fmt::Debug for HistoryStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HistoryStores(ids stored: {})", self.ids.is_some())
    }
}

/// Each part's customer ids, taken out of a history for the per-customer
/// results ([`OrderHistory::take_ids`]): held, or in their store.
pub enum PartIds {
    Held(Vec<std::sync::Mutex<CustomerIds>>),
    Stored(Arc<IdStore>),
}

impl PartIds {
    /// Part `p`'s ids, moved out when held (each part's are taken once).
    pub fn take(&self, p: usize) -> Result<CustomerIds> {
        match self {
            PartIds::Held(parts) => {
                let mut ids = parts[p].lock().unwrap_or_else(|e| e.into_inner());
                Ok(std::mem::take(&mut *ids))
            }
            PartIds::Stored(store) => store.get(p),
        }
    }
}

/// Orders and refunds on or before as_of, grouped by customer. A
/// customer's code is their rank in id order; their entries are sorted by
/// date.
#[derive(Debug, Clone, Default)]
pub struct OrderHistory {
    /// In id order: every id of a part is below every id of the next.
    parts: Vec<HistoryPart>,
    /// The code of each part's first customer, and then the number of
    /// customers.
    starts: Vec<usize>,
    /// The last date counted (inclusive).
    pub as_of: i32,
    /// The configured dimensions (`[columns] dimensions`), each with every
    /// customer's value; empty without dimensions.
    pub dimensions: Vec<CustomerDimension>,
    /// Where the entries (and maybe the ids) of the parts not held are.
    spilled: Option<HistoryStores>,
    /// The earliest first order (refunds excluded) of any customer, known
    /// when the parts are joined: the calendars start there.
    earliest_first_order: Option<i32>,
}

/// One dimension column: its name and values. Each customer's value (the
/// value on their first order, see `build_orders`) is in the part that
/// holds them ([`HistoryPart::dimensions`]), not in a column of every
/// customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerDimension {
    /// The column's name, which is also its column name in the sliced tables.
    pub name: String,
    /// The distinct values seen in the column, sorted (byte order).
    pub values: Vec<String>,
}

impl CustomerDimension {
    /// The group of a customer whose value code is `code`: the index of
    /// their value in `values`, or `values.len()` when the value is
    /// missing (`NO_CODE`: null or blank).
    pub fn group(&self, code: u32) -> usize {
        match code {
            NO_CODE => self.values.len(),
            code => code as usize,
        }
    }
}

impl OrderHistory {
    /// The history of `parts`, one after another in id order (each sorted
    /// by id, every id below those of the next part); each dimension
    /// (name, values) gets its customers' codes from the parts.
    pub fn of_parts(
        parts: Vec<HistoryPart>,
        as_of: i32,
        dimensions: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> OrderHistory {
        let mut last: Option<&str> = None;
        // Parts whose ids are in a store were checked when they were built.
        for part in parts.iter().filter(|p| !p.customer_ids.is_empty()) {
            // Out of order, every code and id lookup would be wrong.
            assert!(
                last < Some(part.customer_ids.get(0)),
                "customer partitions in id order"
            );
            last = Some(part.customer_ids.get(part.customers() - 1));
        }
        let mut starts = Vec::with_capacity(parts.len() + 1);
        starts.push(0);
        for part in &parts {
            starts.push(starts[starts.len() - 1] + part.customers());
        }
        let dimensions = dimensions
            .into_iter()
            .map(|(name, values)| CustomerDimension { name, values })
            .collect();
        let earliest_first_order = parts
            .par_iter()
            .filter_map(|part| part.view().earliest_first_order())
            .min();
        OrderHistory {
            parts,
            starts,
            as_of,
            dimensions,
            spilled: None,
            earliest_first_order,
        }
    }

    /// The history of `parts` as [`OrderHistory::of_parts`], every part's
    /// entries (and, with an id store, ids) in `stores` (taken out of them
    /// already); `earliest_first_order` is that of all the parts'
    /// customers (the parts hold no entries to find it from).
    pub fn of_stored_parts(
        parts: Vec<HistoryPart>,
        stores: HistoryStores,
        earliest_first_order: Option<i32>,
        as_of: i32,
        dimensions: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> OrderHistory {
        let mut history = OrderHistory::of_parts(parts, as_of, dimensions);
        history.earliest_first_order = earliest_first_order;
        history.spilled = Some(stores);
        history
    }

    /// The earliest first order (refunds excluded) of any customer; `None`
    /// when no customer has an order.
    pub fn earliest_first_order(&self) -> Option<i32> {
        self.earliest_first_order
    }

    /// How many parts have their entries in a store: all or none.
    pub fn spilled_parts(&self) -> usize {
        match self.spilled {
            Some(_) => self.parts.len(),
            None => 0,
        }
    }

    pub fn customers(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Sets the dimensions: each its name, values and every customer's
    /// value code (code order), cut into the parts. For tests.
    #[cfg(test)]
    pub fn set_dimensions(&mut self, dimensions: Vec<(&str, Vec<&str>, Vec<u32>)>) {
        let starts = self.starts.clone();
        for (p, part) in self.parts.iter_mut().enumerate() {
            let codes = |all: &Vec<u32>| all[starts[p]..starts[p + 1]].to_vec();
            part.dimensions = dimensions.iter().map(|(_, _, all)| codes(all)).collect();
        }
        self.dimensions = dimensions
            .into_iter()
            .map(|(name, values, _)| CustomerDimension {
                name: name.into(),
                values: values.into_iter().map(String::from).collect(),
            })
            .collect();
    }

    /// The part customer `c` is in, and their place in it.
    #[cfg(any(test, feature = "failpoints"))]
    fn locate(&self, c: usize) -> (usize, usize) {
        // The last part starting at or before `c`: the empty parts that
        // start there too come before it.
        let p = self.starts[..self.parts.len()].partition_point(|&start| start <= c) - 1;
        (p, c - self.starts[p])
    }

    /// How many parts the customers are stored in.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// How many customers part `p` holds.
    pub fn customers_of_part(&self, p: usize) -> usize {
        self.starts[p + 1] - self.starts[p]
    }

    /// `f` of part `p`'s entries: the part's own when held, else read
    /// back from the store (and dropped after `f`).
    pub fn with_part<T>(&self, p: usize, f: impl FnOnce(EntriesView<'_>) -> T) -> Result<T> {
        match &self.spilled {
            Some(spilled) => {
                let entries = spilled.entries.get(p)?;
                debug_assert_eq!(entries.view().customers(), self.parts[p].customers());
                Ok(f(entries.view()))
            }
            None => Ok(f(self.parts[p].view())),
        }
    }

    /// `f` of every part (its index and entries), the parts in parallel;
    /// the results in part order.
    pub fn map_parts<T: Send>(
        &self,
        f: impl Fn(usize, EntriesView<'_>) -> T + Sync,
    ) -> Result<Vec<T>> {
        (0..self.parts.len())
            .into_par_iter()
            .map(|p| self.with_part(p, |entries| f(p, entries)))
            .collect()
    }

    /// `each` of every part (its index and entries), a few parts at a time
    /// in parallel, and `fold` of the results in part order.
    pub fn fold_in_order<T: Send>(
        &self,
        each: impl Fn(usize, EntriesView<'_>) -> T + Sync,
        fold: impl FnMut(T) -> Result<()> + Send,
    ) -> Result<()> {
        let each = |p| self.with_part(p, |entries| each(p, entries));
        part_store::fold_in_order(self.parts.len(), each, fold)
    }

    /// `f` of every customer's entries (days, cents), in code order, the
    /// parts read in parallel.
    pub fn map_customers<T: Send>(&self, f: impl Fn(&[i32], &[i64]) -> T + Sync) -> Result<Vec<T>> {
        let parts = self.map_parts(|_, entries| entries.iter().map(|(d, x)| f(d, x)).collect())?;
        Ok(concat(parts, self.customers()))
    }

    /// [`OrderHistory::map_customers`] of the customers `members` (codes,
    /// ascending) only, in their order: for the tests (the run reads one
    /// part's members at a time, [`OrderHistory::map_part_members`]).
    #[cfg(test)]
    pub fn map_members<T: Send>(
        &self,
        members: &[u32],
        f: impl Fn(&[i32], &[i64]) -> T + Sync,
    ) -> Result<Vec<T>> {
        let parts = self.map_parts(|p, entries| {
            let of_part = self.member_entries(p, entries, members);
            of_part.map(|(d, x)| f(d, x)).collect()
        })?;
        Ok(concat(parts, members.len()))
    }

    /// `f` of the entries of `members` (codes, ascending) that part `p`
    /// holds, in their order: only that part read.
    pub fn map_part_members<T>(
        &self,
        p: usize,
        members: &[u32],
        f: impl Fn(&[i32], &[i64]) -> T,
    ) -> Result<Vec<T>> {
        self.with_part(p, |entries| {
            let of_part = self.member_entries(p, entries, members);
            of_part.map(|(d, x)| f(d, x)).collect()
        })
    }

    /// Folds every customer's entries into accumulators made by `init`,
    /// then merges them. One accumulator per thread, each over a
    /// contiguous share of the parts: an accumulator may be large (a
    /// cohort grid is cohorts × periods cells), and rayon's `fold` would
    /// make one per work split (sixteen and more on two threads). The
    /// result does not depend on the split when `merge` adds up what
    /// `fold` counts, as for every caller.
    pub fn fold_customers<A: Send>(
        &self,
        init: impl Fn() -> A + Sync,
        fold: impl Fn(&mut A, &[i32], &[i64]) + Sync,
        merge: impl Fn(A, A) -> A + Sync,
    ) -> Result<A> {
        let each_part = |acc: &mut A, _, entries: EntriesView<'_>| {
            entries.iter().for_each(|(d, x)| fold(acc, d, x))
        };
        self.fold_shares(init, each_part, merge)
    }

    /// [`OrderHistory::fold_customers`] of the customers whose value of
    /// dimension `d` is in `groups` ([`CustomerDimension::group`]'s
    /// numbers), into one accumulator per group: a dimension's value
    /// slices counted in one read of the history, from the codes the parts
    /// hold (no list of each value's customers).
    pub fn fold_by_value<A: Send>(
        &self,
        (d, groups): (usize, Range<usize>),
        init: impl Fn() -> A + Sync,
        fold: impl Fn(&mut A, &[i32], &[i64]) + Sync,
        merge: impl Fn(A, A) -> A + Sync,
    ) -> Result<Vec<A>> {
        let dimension = &self.dimensions[d];
        let each_part = |accs: &mut Vec<A>, _: usize, entries: EntriesView<'_>| {
            for (&code, (days, cents)) in entries.codes(d).iter().zip(entries.iter()) {
                let group = dimension.group(code);
                if groups.contains(&group) {
                    fold(&mut accs[group - groups.start], days, cents);
                }
            }
        };
        let init_all = || groups.clone().map(|_| init()).collect::<Vec<A>>();
        let merge_all =
            |a: Vec<A>, b: Vec<A>| a.into_iter().zip(b).map(|(a, b)| merge(a, b)).collect();
        self.fold_shares(init_all, each_part, merge_all)
    }

    /// How many customers have each value of dimension `d`, by
    /// [`CustomerDimension::group`].
    pub fn value_counts(&self, d: usize) -> Vec<usize> {
        let dimension = &self.dimensions[d];
        let mut counts = vec![0; dimension.values.len() + 1];
        for part in &self.parts {
            for (code, n) in part.counts_of_codes(d) {
                counts[dimension.group(code)] += n;
            }
        }
        counts
    }

    /// `each_part` of every part into accumulators made by `init`, one per
    /// thread over a contiguous share of the parts, merged by `merge`.
    fn fold_shares<A: Send>(
        &self,
        init: impl Fn() -> A + Sync,
        each_part: impl Fn(&mut A, usize, EntriesView<'_>) + Sync,
        merge: impl Fn(A, A) -> A + Sync,
    ) -> Result<A> {
        let parts = self.parts.len();
        let shares = rayon::current_num_threads().clamp(1, parts.max(1));
        let share = parts.div_ceil(shares);
        let folded: Vec<A> = (0..shares)
            .into_par_iter()
            .map(|s| {
                let mut acc = init();
                for p in s * share..((s + 1) * share).min(parts) {
                    self.with_part(p, |entries| each_part(&mut acc, p, entries))?;
                }
                Ok(acc)
            })
            .collect::<Result<_>>()?;
        Ok(folded.into_iter().reduce(merge).unwrap_or_else(init))
    }

    /// The entries of the customers among `members` (codes, ascending)
    /// that part `p` holds, in their order; `entries` are the part's.
    fn member_entries<'e, 'm>(
        &self,
        p: usize,
        entries: EntriesView<'e>,
        members: &'m [u32],
    ) -> impl Iterator<Item = (&'e [i32], &'e [i64])> + use<'e, 'm> {
        let start = self.starts[p];
        let held = self.members_of_part(p, members);
        held.iter().map(move |&c| entries.of(c as usize - start))
    }

    /// The codes among `members` (ascending) that part `p` holds.
    fn members_of_part<'m>(&self, p: usize, members: &'m [u32]) -> &'m [u32] {
        let (start, end) = (self.starts[p], self.starts[p + 1]);
        let from = members.partition_point(|&c| (c as usize) < start);
        let to = members.partition_point(|&c| (c as usize) < end);
        &members[from..to]
    }

    /// The id of customer `c`, read from the part that holds it: for tests
    /// and comparisons of small histories (before the ids are taken).
    #[cfg(any(test, feature = "failpoints"))]
    pub fn customer_id(&self, c: usize) -> String {
        let (p, i) = self.locate(c);
        match self.spilled.as_ref().and_then(|s| s.ids.as_ref()) {
            Some(store) => store
                .get(p)
                .expect("a test history's ids can be read")
                .get(i)
                .into(),
            None => self.parts[p].customer_ids.get(i).into(),
        }
    }

    /// The entries (days, cents) of customer `c`, read from the part that
    /// holds them: for tests and comparisons of small histories.
    #[cfg(any(test, feature = "failpoints"))]
    pub fn entries_of(&self, c: usize) -> (Vec<i32>, Vec<i64>) {
        let (p, i) = self.locate(c);
        self.with_part(p, |entries| {
            let (d, x) = entries.of(i);
            (d.to_vec(), x.to_vec())
        })
        .expect("a test history's parts can be read")
    }

    /// Each part's customer ids, moved out of the history (or the store
    /// they are in): the per-customer results carry them from here on.
    pub fn take_ids(&mut self) -> PartIds {
        if let Some(store) = self.spilled.as_ref().and_then(|s| s.ids.clone()) {
            return PartIds::Stored(store);
        }
        let held = self.parts.iter_mut().map(|part| part.take_ids());
        PartIds::Held(held.map(std::sync::Mutex::new).collect())
    }

    /// A history for stage tests, from plain (customer id, day, cents)
    /// entries in any order: customers in ascending id order, each one's
    /// entries by date (entries of one day keep their order); no
    /// dimensions (set `dimensions` on the result when a test needs them).
    #[cfg(any(test, feature = "failpoints"))]
    pub fn from_rows(as_of: i32, rows: &[(&str, i32, i64)]) -> OrderHistory {
        OrderHistory::of_parts(vec![HistoryPart::from_rows(rows)], as_of, [])
    }
}

/// The parts' vectors one after another, in one allocation of `len`.
fn concat<T>(parts: Vec<Vec<T>>, len: usize) -> Vec<T> {
    let mut all = Vec::with_capacity(len);
    for part in parts {
        all.extend(part);
    }
    all
}

/// Customer ids in code order, in one buffer: a `String` each took 24
/// bytes and an allocation more (0.5 GiB at 19 M customers).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerIds {
    text: String,
    /// Where each id ends in `text` (and the next begins).
    ends: Vec<usize>,
}

impl CustomerIds {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id of customer `c`.
    pub fn get(&self, c: usize) -> &str {
        let start = if c == 0 { 0 } else { self.ends[c - 1] };
        &self.text[start..self.ends[c]]
    }

    /// The first place at or after `from` whose id is not below `id`
    /// (ids ascending, as a part's are, and every id before `from` below
    /// `id`). Found by galloping from `from`, then halving: ids asked for
    /// in ascending order each cost the logarithm of their distance from
    /// the one before, not of the whole part (a survey file's millions of
    /// ids are looked up at once).
    pub fn seek(&self, id: &str, from: usize) -> usize {
        let n = self.len();
        let (mut below, mut at_or_above, mut step) = (from, from, 1);
        while at_or_above < n && self.get(at_or_above) < id {
            below = at_or_above + 1;
            at_or_above = (from + step).min(n);
            step *= 2;
        }
        while below < at_or_above {
            let mid = below + (at_or_above - below) / 2;
            if self.get(mid) < id {
                below = mid + 1;
            } else {
                at_or_above = mid;
            }
        }
        below
    }

    /// The ids' text and where each ends in it: what a spill file keeps.
    pub fn raw_parts(&self) -> (&str, &[usize]) {
        (&self.text, &self.ends)
    }

    /// Ids from [`CustomerIds::raw_parts`]; `None` when the ends do not
    /// cut `text` into ids (not ascending, past its end, not at a
    /// character boundary).
    pub fn from_raw_parts(text: String, ends: Vec<usize>) -> Option<CustomerIds> {
        let mut start = 0;
        for &end in &ends {
            if end < start || end > text.len() || !text.is_char_boundary(end) {
                return None;
            }
            start = end;
        }
        (start == text.len()).then_some(CustomerIds { text, ends })
    }

    /// The ids of the customers in `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Vec<&str> {
        range.map(|c| self.get(c)).collect()
    }

    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// `ids`, in their order.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a str>) -> CustomerIds {
        let mut all = CustomerIds::default();
        ids.into_iter().for_each(|id| all.push(id));
        all
    }

    /// Appends the ids of `other` after these.
    pub fn append(&mut self, other: CustomerIds) {
        let shift = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|end| end + shift));
    }
}

#[cfg(any(test, feature = "failpoints"))]
impl HistoryPart {
    /// A part from plain (customer id, day, cents) entries, as
    /// [`OrderHistory::from_rows`]; no dimensions.
    pub fn from_rows(rows: &[(&str, i32, i64)]) -> HistoryPart {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|&(customer, day, _)| (customer, day));
        let mut part = HistoryPart::default();
        for (i, &(customer, day, cents)) in rows.iter().enumerate() {
            if i == 0 || rows[i - 1].0 != customer {
                part.customer_ids.push(customer);
                part.offsets.push(i);
            }
            part.day.push(day);
            part.cents.push(cents);
        }
        part.offsets.push(rows.len());
        part
    }
}

/// Two histories are equal when they have the same customers with the same
/// entries, as_of and dimensions, however they are split into parts (and
/// wherever their entries are).
#[cfg(any(test, feature = "failpoints"))]
impl PartialEq for OrderHistory {
    fn eq(&self, other: &OrderHistory) -> bool {
        let codes = |h: &OrderHistory, d| -> Vec<u32> {
            let parts = h.map_parts(|_, entries| entries.codes(d).to_vec());
            parts.expect("a test history's parts can be read").concat()
        };
        self.as_of == other.as_of
            && self.dimensions == other.dimensions
            && (0..self.dimensions.len()).all(|d| codes(self, d) == codes(other, d))
            && self.customers() == other.customers()
            && (0..self.customers()).all(|c| {
                self.customer_id(c) == other.customer_id(c)
                    && self.entries_of(c) == other.entries_of(c)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Customers spread over two parts in id order, with empty parts
    /// before, between and after them.
    fn split() -> OrderHistory {
        let a = HistoryPart::from_rows(&[("a", 4, 40), ("b", 1, 10)]);
        let b = HistoryPart::from_rows(&[("c", 5, 50), ("d", 2, 20), ("d", 3, 30)]);
        let empty = HistoryPart::default;
        OrderHistory::of_parts(vec![empty(), a, empty(), b, empty()], 9, [])
    }

    /// `history` with every part's entries and dimension codes moved to a
    /// store, as a spilled history's are.
    fn stored_copy(history: &OrderHistory) -> OrderHistory {
        let store = Arc::new(part_store::MemoryParts::<PartEntries>::default());
        let mut parts = history.parts.clone();
        for (p, part) in parts.iter_mut().enumerate() {
            store.put(p, &part.take_entries()).unwrap();
        }
        let stores = HistoryStores {
            entries: store,
            ids: None,
        };
        let dimensions = history.dimensions.iter();
        let dimensions = dimensions.map(|d| (d.name.clone(), d.values.clone()));
        let earliest = history.earliest_first_order();
        OrderHistory::of_stored_parts(parts, stores, earliest, history.as_of, dimensions)
    }

    proptest::proptest! {
        /// Ids asked for in ascending order (repeats and absent ones
        /// among them), each sought from where the one before was found,
        /// land where a linear scan puts them.
        #[test]
        fn ascending_ids_are_sought_where_a_scan_finds_them(
            known in proptest::collection::btree_set("[a-e]{0,3}", 0..40),
            mut asked in proptest::collection::vec("[a-e]{0,3}", 0..40),
        ) {
            let ids = CustomerIds::of(known.iter().map(String::as_str));
            asked.sort();
            let mut at = 0;
            for id in &asked {
                at = ids.seek(id, at);
                let scan = known.iter().take_while(|k| k.as_str() < id.as_str()).count();
                proptest::prop_assert_eq!(at, scan, "{}", id);
            }
        }
    }

    #[test]
    fn customers_are_found_in_their_parts() {
        let h = split();
        let ids: Vec<String> = (0..4).map(|c| h.customer_id(c)).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(h.entries_of(3), (vec![2, 3], vec![20, 30]));
        let mut taken = h.clone();
        let ids = taken.take_ids();
        let of_part = |p| ids.take(p).unwrap();
        assert_eq!(of_part(1).slice(0..2), ["a", "b"]);
        assert_eq!(of_part(3).slice(0..2), ["c", "d"]);
        assert!(of_part(3).is_empty(), "each part's ids are taken once");
        // The parts keep their counts and entries.
        assert_eq!((taken.customers(), taken.customers_of_part(3)), (4, 2));
        assert_eq!(taken.entries_of(3), (vec![2, 3], vec![20, 30]));
        let stored = h.map_customers(|d, x| (d.to_vec(), x.to_vec())).unwrap();
        let expected = [
            (vec![4], vec![40]),
            (vec![1], vec![10]),
            (vec![5], vec![50]),
            (vec![2, 3], vec![20, 30]),
        ];
        assert_eq!(stored, expected);
        assert_eq!(
            h.map_members(&[1, 3], |d, _| d.to_vec()).unwrap(),
            [vec![1], vec![2, 3]]
        );
        // Part 3 holds codes 2 and 3; the members of other parts are not its.
        let of_part_3 = h.map_part_members(3, &[1, 3], |d, _| d.to_vec());
        assert_eq!(of_part_3.unwrap(), [vec![2, 3]]);
        let stored_of_part_3 = stored_copy(&h).map_part_members(3, &[2, 3], |_, x| x.to_vec());
        assert_eq!(stored_of_part_3.unwrap(), [vec![50], vec![20, 30]]);
        let count = |n: &mut usize, d: &[i32], _: &[i64]| *n += d.len();
        let orders = h.fold_customers(|| 0, count, |a, b| a + b).unwrap();
        assert_eq!(orders, 5);
        // Values y, none, x and y: by value x, y, none.
        let mut coded = h.clone();
        coded.set_dimensions(vec![("d", vec!["x", "y"], vec![1, NO_CODE, 0, 1])]);
        assert_eq!(coded.value_counts(0), [1, 2, 1]);
        let by_value = |groups| coded.fold_by_value((0, groups), || 0, count, |a, b| a + b);
        assert_eq!(by_value(0..3).unwrap(), [1, 3, 1]);
        assert_eq!(by_value(1..3).unwrap(), [3, 1]);
        let stored = stored_copy(&coded);
        assert!(stored.parts.iter().all(|part| part.dimensions.is_empty()));
        assert_eq!(stored.value_counts(0), [1, 2, 1]);
        let mut again = stored.clone();
        again
            .parts
            .iter_mut()
            .for_each(|part| drop(part.take_entries()));
        assert_eq!(
            again.value_counts(0),
            [1, 2, 1],
            "counts kept when taken twice"
        );
        let by_value = |groups| stored.fold_by_value((0, groups), || 0, count, |a, b| a + b);
        assert_eq!(by_value(0..3).unwrap(), [1, 3, 1]);
        assert_eq!(stored, coded);
        let one = OrderHistory::from_rows(
            9,
            &[
                ("d", 3, 30),
                ("a", 4, 40),
                ("b", 1, 10),
                ("c", 5, 50),
                ("d", 2, 20),
            ],
        );
        assert_eq!(h, one);
    }

    #[test]
    #[should_panic(expected = "customer partitions in id order")]
    fn parts_out_of_id_order_are_refused() {
        let a = HistoryPart::from_rows(&[("a", 4, 40), ("c", 1, 10)]);
        let b = HistoryPart::from_rows(&[("b", 5, 50)]);
        OrderHistory::of_parts(vec![a, b], 9, []);
    }
}
