//! The distribution of customer CLV that the report draws
//! (`charts::clv`): its headline figures and a histogram cut at the 99th
//! percentile, computed from values that can be read more than once (the
//! `customers` table's column, a chunk at a time) without holding them:
//! one pass for the count, sum and range, the exact median and 99th
//! percentile from `stages::order_statistics` (a pass per 16 bits by which
//! the values differ, from that range), and one pass for the bins. Held, every CLV took 8
//! bytes a customer (1.5 GB at a billion orders).

use super::svg::{nice_ticks, Ticks};
use crate::error::Result;
use crate::stages::order_statistics::{
    float_of_total_order_bits, total_order_bits, values_at_ranks_between, ValueParts,
};

/// Bins the histogram aims at between its ends.
const BINS: usize = 40;

/// The CLV distribution's figures and histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvDistribution {
    /// Customers with a finite CLV.
    pub customers: u64,
    /// Values that are not finite (not counted).
    pub missing: u64,
    /// The nearest-rank median and 99th percentile.
    pub median: f64,
    pub p99: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Customers above the 99th percentile (not drawn).
    pub cut: u64,
    /// Customers in each bin of [`ClvDistribution::bins`].
    pub counts: Vec<u64>,
}

/// Hands every value to the callback, a chunk at a time, each time it is
/// called: one pass over the values.
pub type Pass<'a> = dyn Fn(&mut dyn FnMut(&[f64]) -> Result<()>) -> Result<()> + 'a;

impl ClvDistribution {
    /// The distribution of `values`, held; `None` when none is finite.
    pub fn of_values(values: &[f64]) -> Option<ClvDistribution> {
        let pass = |each: &mut dyn FnMut(&[f64]) -> Result<()>| each(values);
        Self::of_passes(&pass).expect("held values are always read")
    }

    /// The distribution of the values `pass` hands over (the same ones on
    /// every call); `None` when none is finite.
    pub fn of_passes(pass: &Pass) -> Result<Option<ClvDistribution>> {
        let Some(range) = Range::of(pass)? else {
            return Ok(None);
        };
        let n = range.customers;
        // Nearest rank, as `charts::percentile` takes it of sorted values.
        let rank = |q: f64| ((q * n as f64).ceil() as u64).clamp(1, n) - 1;
        let keys = FloatKeys { pass, count: n };
        // The range pass found the smallest and largest already.
        let between = (FloatKey(range.min).into(), FloatKey(range.max).into());
        let at = values_at_ranks_between(&keys, &[rank(0.5), rank(0.99)], between)?;
        let (median, p99) = (
            float_of_total_order_bits(at[0]),
            float_of_total_order_bits(at[1]),
        );
        let bins = bins_of(range.min, p99);
        let (counts, shown) = bin_counts(pass, &bins, p99)?;
        Ok(Some(ClvDistribution {
            customers: n,
            missing: range.missing,
            median,
            p99,
            mean: range.sum / n as f64,
            min: range.min,
            max: range.max,
            cut: n - shown,
            counts,
        }))
    }

    /// The bins' edges: from `lo` to `hi` in steps of `step`, from the
    /// lowest value (or 0, when none is negative) to the 99th percentile.
    pub(crate) fn bins(&self) -> Ticks {
        bins_of(self.min, self.p99)
    }
}

fn bins_of(min: f64, p99: f64) -> Ticks {
    let lo = min.min(0.0);
    let hi = if p99 > lo { p99 } else { lo + 1.0 };
    nice_ticks(lo, hi, BINS)
}

/// The finite values' count, sum (in the order handed over) and range, in
/// `f64::total_cmp`'s order; and how many were not finite.
struct Range {
    customers: u64,
    missing: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Range {
    fn of(pass: &Pass) -> Result<Option<Range>> {
        let mut range = Range {
            customers: 0,
            missing: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        };
        pass(&mut |values| {
            for &v in values {
                if !v.is_finite() {
                    range.missing += 1;
                    continue;
                }
                range.customers += 1;
                range.sum += v;
                if v.total_cmp(&range.min).is_lt() {
                    range.min = v;
                }
                if v.total_cmp(&range.max).is_gt() {
                    range.max = v;
                }
            }
            Ok(())
        })?;
        Ok((range.customers > 0).then_some(range))
    }
}

/// Customers per bin among the finite values up to `p99`, and how many
/// those are.
fn bin_counts(pass: &Pass, bins: &Ticks, p99: f64) -> Result<(Vec<u64>, u64)> {
    let nbins = (((bins.hi - bins.lo) / bins.step).round() as usize).max(1);
    let mut counts = vec![0u64; nbins];
    let mut shown = 0;
    pass(&mut |values| {
        for &v in values.iter().filter(|v| v.is_finite() && **v <= p99) {
            let i = ((v - bins.lo) / bins.step).floor().max(0.0) as usize;
            counts[i.min(nbins - 1)] += 1;
            shown += 1;
        }
        Ok(())
    })?;
    Ok((counts, shown))
}

/// A float as an integer of the same order ([`total_order_bits`]), which
/// the order statistics rank.
#[derive(Clone, Copy)]
struct FloatKey(f64);

impl From<FloatKey> for i64 {
    fn from(key: FloatKey) -> i64 {
        total_order_bits(key.0)
    }
}

/// The finite values of a pass as keys, `count` of them: read again on
/// each of the order statistics' passes, on one thread (a report table's
/// chunks come one after another).
struct FloatKeys<'a, 'p> {
    pass: &'a Pass<'p>,
    count: u64,
}

impl ValueParts<FloatKey> for FloatKeys<'_, '_> {
    fn count(&self) -> u64 {
        self.count
    }

    fn fold_chunks<A: Send>(
        &self,
        init: impl Fn() -> A + Sync + Send,
        fold: impl Fn(A, &[FloatKey]) -> A + Sync + Send,
        _merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> Result<A> {
        let mut folded = Some(init());
        (self.pass)(&mut |values| {
            let keys: Vec<FloatKey> = values
                .iter()
                .filter(|v| v.is_finite())
                .map(|&v| FloatKey(v))
                .collect();
            let so_far = folded.take().expect("folded after every chunk");
            folded = Some(fold(so_far, &keys));
            Ok(())
        })?;
        Ok(folded.expect("folded after every chunk"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::report::charts::percentile;

    /// The distribution by its definition: the finite values sorted.
    fn by_sorting(values: &[f64]) -> Option<ClvDistribution> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let p99 = percentile(&sorted, 0.99)?;
        let bins = bins_of(min, p99);
        let nbins = (((bins.hi - bins.lo) / bins.step).round() as usize).max(1);
        let mut counts = vec![0u64; nbins];
        let shown: Vec<f64> = sorted.iter().copied().filter(|v| *v <= p99).collect();
        for v in &shown {
            let i = ((v - bins.lo) / bins.step).floor().max(0.0) as usize;
            counts[i.min(nbins - 1)] += 1;
        }
        Some(ClvDistribution {
            customers: sorted.len() as u64,
            missing: (values.len() - sorted.len()) as u64,
            median: percentile(&sorted, 0.5)?,
            p99,
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min,
            max,
            cut: (sorted.len() - shown.len()) as u64,
            counts,
        })
    }

    /// CLV-like values: many repeated, negative ones, zeros of both signs,
    /// a long tail, and non-finite ones among them.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (0u32..2_000).prop_map(|c| c as f64 * 0.37),
            3 => 0.0f64..1e6,
            1 => -500.0f64..0.0,
            1 => Just(-0.0),
            1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
        ]
    }

    proptest! {
        /// Read in chunks, a pass at a time, the distribution is the one
        /// of the values sorted: the same ranks, range, bins and counts,
        /// and the mean to rounding (the sum's order differs).
        #[test]
        fn passes_over_chunks_give_the_sorted_values_distribution(
            values in proptest::collection::vec(value(), 0..400),
            chunk in 1usize..64,
        ) {
            let pass = |each: &mut dyn FnMut(&[f64]) -> Result<()>| {
                values.chunks(chunk).try_for_each(&mut *each)
            };
            let got = ClvDistribution::of_passes(&pass).unwrap();
            let want = by_sorting(&values);
            match (got, want) {
                (None, None) => {}
                (Some(mut got), Some(want)) => {
                    let scale = want.min.abs().max(want.max.abs());
                    prop_assert!((got.mean - want.mean).abs() <= 1e-12 * scale);
                    got.mean = want.mean;
                    prop_assert_eq!(got, want);
                }
                (got, want) => prop_assert!(false, "{got:?} against {want:?}"),
            }
        }
    }

    #[test]
    fn a_float_key_orders_as_total_cmp_and_comes_back() {
        let floats = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -0.0,
            0.0,
            1e-310,
            3.0,
            f64::MAX,
        ];
        let keys: Vec<i64> = floats.iter().map(|&v| FloatKey(v).into()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (&v, &k) in floats.iter().zip(&keys) {
            assert_eq!(float_of_total_order_bits(k).to_bits(), v.to_bits());
        }
    }
}
