//! Exact order statistics (the values at given ranks) of integers held in
//! parts, such as the customer partitions' columns: the RFM score cuts and
//! the median second-order gap.
//!
//! A value's 64 bits are found 16 at a time. Each pass counts, per part
//! and then added up, the values that share the digits found so far by
//! their next digit; the count below a digit says which digit the wanted
//! rank falls in. So no part's values are gathered, copied or sorted, a
//! part only gives counts (which add up exactly, unlike a sketch's), and
//! the work is linear: a pass over the values per 16 bits by which they
//! differ (one or two for days and cents), where ranking by a sort of
//! (value, position) pairs took a sort per score.
//!
//! Written here rather than taken from a crate: the selection crates
//! (and `select_nth_unstable`) need every value in one mutable slice,
//! which is what parts held apart must not need.

use rayon::prelude::*;

use crate::error::Result;
use crate::stages::part_store::PartStore;

/// Bits found per pass: a pass's counts per digit are 2^16 integers.
const DIGIT_BITS: u32 = 16;
/// Values counted per task; each task has its own counts.
const CHUNK: usize = 1 << 20;

/// Maps a value to an unsigned key of the same order.
fn key(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

fn value_of(key: u64) -> i64 {
    (key ^ (1 << 63)) as i64
}

/// `x` as an integer in the order [`f64::total_cmp`] gives the floats (the
/// bits of a negative float with all but its sign flipped): floats ranked,
/// merged or sorted as integers.
pub fn total_order_bits(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// The float of [`total_order_bits`]' integer (the flip undoes itself).
pub fn float_of_total_order_bits(bits: i64) -> f64 {
    f64::from_bits(total_order_bits(f64::from_bits(bits as u64)) as u64)
}

/// `k >> bits`, 0 when every bit is shifted out.
fn shift_right(k: u64, bits: u32) -> u64 {
    k.checked_shr(bits).unwrap_or(0)
}

/// Where the search for one rank stands: the high bits of its value found
/// so far, how many low bits are left, and its rank among the values with
/// those high bits.
#[derive(Clone, Copy)]
struct Search {
    high: u64,
    low_bits: u32,
    rank: u64,
}

/// Values in parts, which the order statistics visit a pass at a time:
/// slices held in memory, parts read back from a store on each pass (so
/// that no column of every customer need be held), or a table's column
/// read again (the report's CLV distribution).
pub trait ValueParts<T> {
    /// How many values the parts hold.
    fn count(&self) -> u64;

    /// Every chunk of the values folded into accumulators made by `init`
    /// (on every thread), which `merge` then adds up.
    fn fold_chunks<A: Send>(
        &self,
        init: impl Fn() -> A + Sync + Send,
        fold: impl Fn(A, &[T]) -> A + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> Result<A>;
}

impl<T: Sync> ValueParts<T> for [&[T]] {
    fn count(&self) -> u64 {
        self.iter().map(|p| p.len() as u64).sum()
    }

    fn fold_chunks<A: Send>(
        &self,
        init: impl Fn() -> A + Sync + Send,
        fold: impl Fn(A, &[T]) -> A + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> Result<A> {
        let chunks = self.par_iter().flat_map(|p| p.par_chunks(CHUNK));
        Ok(chunks.fold(&init, fold).reduce(&init, merge))
    }
}

/// The values of parts `0..parts` of `store`, `count` in all; each part
/// is read whole once a pass, the parts in parallel.
pub struct StoredValues<'a, T> {
    pub store: &'a dyn PartStore<Vec<T>>,
    pub parts: usize,
    pub count: u64,
}

impl<'a, T> StoredValues<'a, T> {
    pub fn new(store: &'a dyn PartStore<Vec<T>>, parts: usize, count: u64) -> Self {
        StoredValues {
            store,
            parts,
            count,
        }
    }
}

impl<T: Send + Sync> ValueParts<T> for StoredValues<'_, T> {
    fn count(&self) -> u64 {
        self.count
    }

    fn fold_chunks<A: Send>(
        &self,
        init: impl Fn() -> A + Sync + Send,
        fold: impl Fn(A, &[T]) -> A + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> Result<A> {
        (0..self.parts)
            .into_par_iter()
            .map(|p| Ok(self.store.get(p)?.chunks(CHUNK).fold(init(), &fold)))
            .try_reduce(&init, |a, b| Ok(merge(a, b)))
    }
}

/// The values at `ranks` (0-based, in ascending order of the values;
/// duplicates counted) of every value of `parts`, held.
///
/// # Panics
/// If a rank is not below the number of values.
pub fn values_at_ranks<T>(parts: &[&[T]], ranks: &[u64]) -> Vec<i64>
where
    T: Copy + Into<i64> + Sync,
{
    values_at_ranks_of(parts, ranks).expect("held values are always read")
}

/// [`values_at_ranks`] of values held or stored: a pass over them for
/// their range, then one per 16 bits by which they differ.
///
/// # Panics
/// If a rank is not below the number of values.
pub fn values_at_ranks_of<T, P>(parts: &P, ranks: &[u64]) -> Result<Vec<i64>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    let range = || Ok(key_range(parts)?.expect("a rank below the count: values"));
    ranks_in(parts, ranks, range)
}

/// [`values_at_ranks_of`] for a caller whose own pass over the values
/// found their smallest and largest (`min`, `max`: exactly those) already:
/// one pass fewer.
///
/// # Panics
/// If a rank is not below the number of values.
pub fn values_at_ranks_between<T, P>(
    parts: &P,
    ranks: &[u64],
    (min, max): (i64, i64),
) -> Result<Vec<i64>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    ranks_in(parts, ranks, || Ok((key(min), key(max))))
}

/// The values at `ranks`, searched within the key range `range` gives
/// (asked for only when there is a rank to find).
fn ranks_in<T, P>(
    parts: &P,
    ranks: &[u64],
    range: impl FnOnce() -> Result<(u64, u64)>,
) -> Result<Vec<i64>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    assert_ranks_below_count(parts, ranks);
    if ranks.is_empty() {
        return Ok(Vec::new());
    }
    search_ranks(parts, ranks, range()?)
}

fn assert_ranks_below_count<T, P: ValueParts<T> + ?Sized>(parts: &P, ranks: &[u64]) {
    let total = parts.count();
    assert!(
        ranks.iter().all(|&r| r < total),
        "rank below the number of values"
    );
}

/// The values at `ranks` of values whose keys lie in `(min, max)`: one
/// pass per 16 bits by which min and max differ.
fn search_ranks<T, P>(parts: &P, ranks: &[u64], (min, max): (u64, u64)) -> Result<Vec<i64>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    // The bits above the highest one in which min and max differ are
    // shared by every value.
    let low_bits = 64 - (min ^ max).leading_zeros();
    let mut searches: Vec<Search> = ranks
        .iter()
        .map(|&rank| Search {
            high: shift_right(min, low_bits),
            low_bits,
            rank,
        })
        .collect();
    while searches[0].low_bits > 0 {
        next_digit(parts, &mut searches)?;
    }
    Ok(searches.iter().map(|s| value_of(s.high)).collect())
}

/// The smallest and largest key, or `None` without values. Fails when the
/// parts do not hold the values they say (a stored part that is not what
/// was put), which would send a search past every digit.
fn key_range<T, P>(parts: &P) -> Result<Option<(u64, u64)>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    let (min, max, seen) = parts.fold_chunks(
        || (u64::MAX, 0, 0u64),
        |(lo, hi, n), chunk| {
            let (lo, hi) = chunk.iter().fold((lo, hi), |(lo, hi), &v| {
                let k = key(v.into());
                (lo.min(k), hi.max(k))
            });
            (lo, hi, n + chunk.len() as u64)
        },
        |(a, b, m), (c, d, n)| (a.min(c), b.max(d), m + n),
    )?;
    if seen != parts.count() {
        return Err(crate::error::Error::Usage(format!(
            "internal: the parts hold {seen} values, not {}",
            parts.count()
        )));
    }
    Ok((min <= max).then_some((min, max)))
}

/// Finds one more digit of every search (all have the same bits left):
/// counts the values under each distinct set of high bits by their next
/// digit, and moves each search into the digit its rank falls in.
fn next_digit<T, P>(parts: &P, searches: &mut [Search]) -> Result<()>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    let low_bits = searches[0].low_bits;
    let digit_bits = DIGIT_BITS.min(low_bits);
    let below = low_bits - digit_bits;
    let mut highs: Vec<u64> = searches.iter().map(|s| s.high).collect();
    highs.sort_unstable();
    highs.dedup();
    let counts = digit_counts(parts, &highs, (low_bits, below), 1 << digit_bits)?;
    for s in searches.iter_mut() {
        let counts = &counts[highs.binary_search(&s.high).expect("a search's high bits")];
        let mut digit = 0;
        while s.rank >= counts[digit] {
            s.rank -= counts[digit];
            digit += 1;
        }
        s.high = (s.high << digit_bits) | digit as u64;
        s.low_bits = below;
    }
    Ok(())
}

/// Per entry of `highs`, how many values whose bits above `low_bits` are
/// that entry have each digit (the `digits` values of the bits from
/// `below` up to `low_bits`).
fn digit_counts<T, P>(
    parts: &P,
    highs: &[u64],
    (low_bits, below): (u32, u32),
    digits: usize,
) -> Result<Vec<Vec<u64>>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    let mask = digits as u64 - 1;
    let empty = || vec![vec![0u64; digits]; highs.len()];
    let count = |mut counts: Vec<Vec<u64>>, chunk: &[T]| {
        for &v in chunk {
            let k = key(v.into());
            let high = shift_right(k, low_bits);
            if let Some(h) = highs.iter().position(|&x| x == high) {
                counts[h][(shift_right(k, below) & mask) as usize] += 1;
            }
        }
        counts
    };
    let add = |mut a: Vec<Vec<u64>>, b: Vec<Vec<u64>>| {
        for (x, y) in a.iter_mut().zip(b) {
            x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
        }
        a
    };
    parts.fold_chunks(empty, count, add)
}

/// The four cuts of quintile scores: `1 + ⌊5 · below / n⌋`, where
/// `below` counts the values strictly below a value's, is at least
/// `k + 1` exactly when the value is above the value at rank
/// `⌈k · n / 5⌉ − 1`. Empty without values.
pub fn quintile_cuts<T, P>(parts: &P) -> Result<Vec<i64>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    let n = parts.count();
    if n == 0 {
        return Ok(Vec::new());
    }
    let ranks: Vec<u64> = (1..=4).map(|k| (k * n).div_ceil(5) - 1).collect();
    values_at_ranks_of(parts, &ranks)
}

/// A value's quintile score under `cuts` ([`quintile_cuts`]).
pub fn quintile_score(cuts: &[i64], value: i64) -> i32 {
    1 + cuts.iter().filter(|&&cut| value > cut).count() as i32
}

/// The median of the values, doubled so it stays an integer (exact for
/// the mean of the middle two); `None` without values.
pub fn doubled_median<T, P>(parts: &P) -> Result<Option<i64>>
where
    T: Copy + Into<i64> + Sync,
    P: ValueParts<T> + ?Sized,
{
    let n = parts.count();
    if n == 0 {
        return Ok(None);
    }
    let middle = values_at_ranks_of(parts, &[(n - 1) / 2, n / 2])?;
    Ok(Some(middle.iter().sum()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::part_store::MemoryParts;
    use proptest::prelude::*;

    /// Values from narrow ranges (many ties), wide ones and the extremes.
    fn values() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            proptest::collection::vec(-3i64..4, 1..60),
            proptest::collection::vec(-100_000i64..100_000, 1..60),
            proptest::collection::vec(any::<i64>(), 1..60),
            proptest::collection::vec(
                prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)],
                1..20
            ),
        ]
    }

    /// Splits `values` into parts at the given cut points (empty parts
    /// included).
    fn parts_of(values: &[i64], cuts: &[usize]) -> Vec<Vec<i64>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (values.len() + 1)).collect();
        cuts.sort_unstable();
        let mut bounds = vec![0];
        bounds.extend(cuts);
        bounds.push(values.len());
        bounds
            .windows(2)
            .map(|w| values[w[0]..w[1]].to_vec())
            .collect()
    }

    /// The brute-force quintile score: values strictly below, counted.
    fn counted_score(values: &[i64], v: i64) -> i32 {
        let below = values.iter().filter(|&&x| x < v).count();
        1 + (5 * below / values.len()) as i32
    }

    proptest! {
        /// Every rank's value is that of the sorted values, however the
        /// values are split into parts.
        #[test]
        fn ranks_are_those_of_the_sorted_values(
            values in values(),
            cuts in proptest::collection::vec(0usize..100, 0..5),
        ) {
            let parts = parts_of(&values, &cuts);
            let parts: Vec<&[i64]> = parts.iter().map(Vec::as_slice).collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let ranks: Vec<u64> = (0..sorted.len() as u64).rev().collect();
            let found = values_at_ranks(&parts, &ranks);
            let expected: Vec<i64> = ranks.iter().map(|&r| sorted[r as usize]).collect();
            prop_assert_eq!(&found, &expected);
            // The same parts read back from a store on every pass.
            let store = MemoryParts::default();
            parts.iter().enumerate().for_each(|(p, v)| store.put(p, &v.to_vec()).unwrap());
            let stored = StoredValues::new(&store, parts.len(), sorted.len() as u64);
            prop_assert_eq!(values_at_ranks_of(&stored, &ranks).unwrap(), expected);
            // A count the stored parts do not hold fails, never misleads.
            let short = StoredValues::new(&store, parts.len(), sorted.len() as u64 + 1);
            prop_assert!(values_at_ranks_of(&short, &ranks).is_err());
            prop_assert_eq!(
                quintile_cuts(&stored).unwrap(),
                quintile_cuts(&parts[..]).unwrap()
            );
        }

        /// Scores from the cuts are those of counting, for every value.
        #[test]
        fn cut_scores_are_counted_scores(
            values in values(),
            cuts in proptest::collection::vec(0usize..100, 0..5),
        ) {
            let parts = parts_of(&values, &cuts);
            let parts: Vec<&[i64]> = parts.iter().map(Vec::as_slice).collect();
            let quintiles = quintile_cuts(&parts[..]).unwrap();
            for &v in &values {
                prop_assert_eq!(quintile_score(&quintiles, v), counted_score(&values, v));
            }
        }
    }

    #[test]
    fn quintiles_share_scores_on_ties() {
        let scores = |values: &[i64]| -> Vec<i32> {
            let cuts = quintile_cuts(&[values][..]).unwrap();
            values.iter().map(|&v| quintile_score(&cuts, v)).collect()
        };
        assert_eq!(
            scores(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(scores(&[7, 7, 7]), [1, 1, 1]);
        assert_eq!(scores(&[1, 1, 1, 1, 9]), [1, 1, 1, 1, 5]);
        let none: [&[i64]; 2] = [&[], &[]];
        assert!(quintile_cuts(&none[..]).unwrap().is_empty());
    }

    #[test]
    fn medians_are_doubled_and_exact() {
        let median = |v: &[i64]| doubled_median(&[v][..]).unwrap();
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(14));
        assert_eq!(median(&[10, 3]), Some(13));
        assert_eq!(median(&[5, 1, 9, 30]), Some(14));
        let parts: [&[i64]; 3] = [&[5, 1], &[], &[9, 30]];
        assert_eq!(doubled_median(&parts[..]).unwrap(), Some(14));
    }

    #[test]
    fn narrow_values_are_found_in_one_pass_of_counts() {
        // i32 days, as the recency score reads them.
        let days: Vec<i32> = (0..1000).map(|d| 19_000 + d % 365).collect();
        assert_eq!(values_at_ranks(&[&days[..]], &[0, 999]), [19_000, 19_364]);
        assert!(values_at_ranks::<i32>(&[&[]], &[]).is_empty());
    }
}
