//! Sums of doubles that do not depend on the order of their terms: each
//! term is added exactly to a fixed-point integer that spans every finite
//! double (the "small superaccumulator" of Neal, 2015, "Fast exact
//! summation using small and large superaccumulators", arXiv:1505.05571),
//! and only the final value is rounded, once, to the nearest double.
//!
//! Written here rather than taken from a crate because the sum must be
//! split and merged: a partition's (or, on a cluster, an executor's)
//! partial sum is added to the others' exactly, and must travel between
//! processes. The exact-summation crates (`accurate`'s `OnlineExactSum`,
//! `xsum`) keep their accumulators private, so a partial can neither be
//! sent nor rebuilt. The one rounding step is `accurate`'s correctly
//! rounded `i_fast_sum_in_place` (Zhu & Hayes, 2009), fed this sum's
//! chunks, each of which is a double exactly.

use serde::{Deserialize, Serialize};

/// Bits of the fixed-point integer per chunk. Each chunk is kept in an
/// `i64`, so a chunk can take many 32-bit additions before its carry must
/// move up.
const CHUNK_BITS: u32 = 32;
/// The integer's unit is the smallest subnormal, 2^-1074; a double's
/// mantissa (53 bits) shifted by up to 2045 bits spans chunks 0 … 65; one
/// more holds the carries out of the top and the sign.
const CHUNKS: usize = 67;
/// Additions between carry propagations: each adds less than 2^32 in
/// magnitude to a chunk, which starts below 2^32, so 2^30 of them stay far
/// inside an `i64`.
const ADDS_BEFORE_CARRY: u32 = 1 << 30;
/// The exponent of chunk 0's lowest bit.
pub(super) const LOWEST_EXPONENT: i32 = -1074;

/// An exact sum of doubles. Non-finite terms are kept apart: any NaN, or
/// infinities of both signs, make the value NaN, and an infinity of one
/// sign makes it that infinity (as adding them in any order would).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    /// The fixed-point integer, least significant chunk first; chunk k
    /// weighs 2^(32k − 1074). Chunks may hold more than 32 bits (and be
    /// negative) until their carries are propagated.
    chunks: Vec<i64>,
    /// Additions since the carries were last propagated.
    adds: u32,
    /// The sum of the non-finite terms (0 when there is none).
    non_finite: f64,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            chunks: vec![0; CHUNKS],
            adds: 0,
            non_finite: 0.0,
        }
    }
}

/// A finite double's magnitude as (mantissa, shift) with
/// |x| = mantissa · 2^(shift − 1074): subnormals have no hidden bit and
/// the exponent of biased exponent 1.
pub(super) fn mantissa_and_shift(x: f64) -> (u64, u32) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as u32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (fraction, 0)
    } else {
        (fraction | (1u64 << 52), biased - 1)
    }
}

impl ExactSum {
    /// The sum of no terms: 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a term, exactly.
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.non_finite += x;
            return;
        }
        if x == 0.0 {
            return;
        }
        if self.adds == ADDS_BEFORE_CARRY {
            self.propagate_carries();
        }
        self.adds += 1;
        let (mantissa, shift) = mantissa_and_shift(x);
        // The signed mantissa shifted into place, split into two 32-bit
        // chunks without sign and a signed top: v = c0 + c1·2^32 + c2·2^64.
        let signed = if x < 0.0 {
            -(mantissa as i64)
        } else {
            mantissa as i64
        };
        let v = (signed as i128) << (shift % CHUNK_BITS);
        let first = (shift / CHUNK_BITS) as usize;
        let chunks = &mut self.chunks[first..first + 3];
        chunks[0] += (v as i64) & 0xffff_ffff;
        chunks[1] += ((v >> 32) as i64) & 0xffff_ffff;
        chunks[2] += (v >> 64) as i64;
    }

    /// Adds another sum's terms, exactly.
    pub fn merge(&mut self, other: &ExactSum) {
        self.propagate_carries();
        let mut other = other.clone();
        other.propagate_carries();
        for (mine, theirs) in self.chunks.iter_mut().zip(&other.chunks) {
            *mine += theirs;
        }
        // Each chunk now holds up to two chunks' worth.
        self.adds = 2;
        self.non_finite += other.non_finite;
    }

    /// The exact sum rounded to the nearest double (ties to even), or the
    /// non-finite terms' sum when there were any; ±infinity when the sum
    /// is beyond the largest double.
    pub fn value(&self) -> f64 {
        if self.non_finite != 0.0 {
            return self.non_finite;
        }
        let mut normal = self.clone();
        normal.propagate_carries();
        // After propagation chunks 0 … 65 are in [0, 2^32) and the sign
        // is the top chunk's; a negative sum is rounded as its magnitude
        // (rounding to nearest is symmetric).
        let negative = normal.chunks[CHUNKS - 1] < 0;
        if negative {
            normal.chunks.iter_mut().for_each(|c| *c = -*c);
            normal.propagate_carries();
        }
        let magnitude = normal.magnitude();
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }

    /// The value of a sum whose carries are propagated and which is not
    /// negative: every chunk is a double exactly (fewer than 32 bits times
    /// a power of two in range), and their sum is the integer's value.
    fn magnitude(&self) -> f64 {
        let mut terms: Vec<f64> = self
            .chunks
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0)
            .map(|(k, &c)| c as f64 * power_of_two(CHUNK_BITS as i32 * k as i32 + LOWEST_EXPONENT))
            .collect();
        if terms.iter().any(|t| t.is_infinite()) {
            return f64::INFINITY;
        }
        if terms.is_empty() {
            // `i_fast_sum_in_place` reads past an empty slice (0.4.1).
            return 0.0;
        }
        accurate::sum::i_fast_sum_in_place(&mut terms)
    }

    /// Moves every chunk's bits above its 32 into the next chunk, so
    /// chunks 0 … 65 hold 32 bits each, without sign.
    fn propagate_carries(&mut self) {
        for k in 0..CHUNKS - 1 {
            let carry = self.chunks[k] >> CHUNK_BITS;
            self.chunks[k] -= carry << CHUNK_BITS;
            self.chunks[k + 1] += carry;
        }
        self.adds = 0;
    }
}

/// 2^e as a double (subnormal below 2^-1022, infinite above 2^1023).
fn power_of_two(e: i32) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e - LOWEST_EXPONENT))
    }
}

/// Zhu & Hayes' online exact sum, as `accurate` has it. Its last step
/// reads past an empty list, which is what its accumulator holds when
/// the terms cancel exactly; that sum is 0 (this module's own test against
/// integers checks zero sums).
#[cfg(test)]
pub(crate) fn online_exact_sum(terms: &[f64]) -> f64 {
    use accurate::traits::*;
    let mut ours = ExactSum::new();
    terms.iter().for_each(|&x| ours.add(x));
    if ours.value() == 0.0 {
        return 0.0;
    }
    terms
        .iter()
        .fold(accurate::sum::OnlineExactSum::zero(), |s, &x| s + x)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum_of(terms: &[f64]) -> f64 {
        let mut sum = ExactSum::new();
        terms.iter().for_each(|&x| sum.add(x));
        sum.value()
    }

    #[test]
    fn sums_that_plain_addition_gets_wrong() {
        assert_eq!(sum_of(&[]), 0.0);
        assert_eq!(sum_of(&[1e308, 1e-308, -1e308]), 1e-308);
        // The doubles nearest 0.1, 0.2 and 0.3 add up to 2^-55 exactly;
        // added in turn they give twice that.
        assert_eq!(sum_of(&[0.1, 0.2, -0.3]), power_of_two(-55));
        assert_eq!(sum_of(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        // The smallest subnormal, and the largest double twice less once.
        let tiny = f64::from_bits(1);
        assert_eq!(sum_of(&[tiny, tiny, tiny]), 3.0 * tiny);
        assert_eq!(sum_of(&[f64::MAX, f64::MAX, -f64::MAX]), f64::MAX);
        assert_eq!(sum_of(&[-5.5, 2.25]), -3.25);
        assert_eq!(sum_of(&[0.1, 0.7, -0.1, -0.7]).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn sums_beyond_the_largest_double_are_infinite() {
        assert_eq!(sum_of(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(sum_of(&[-f64::MAX, -f64::MAX]), f64::NEG_INFINITY);
    }

    #[test]
    fn non_finite_terms_are_never_lost() {
        assert!(sum_of(&[1.0, f64::NAN, 2.0]).is_nan());
        assert_eq!(sum_of(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(sum_of(&[f64::INFINITY, 3.0, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn carries_are_propagated_before_a_chunk_could_overflow() {
        // More additions than a carry interval, each filling its chunks'
        // 32 bits: the total is exact.
        let x = f64::from_bits(0x3fef_ffff_ffff_ffff); // the largest below 1
        let mut sum = ExactSum::new();
        let n = ADDS_BEFORE_CARRY as u64 + 5;
        (0..n).for_each(|_| sum.add(x));
        // n · x = n · (2^53 − 1) · 2^-53, rounded once (Rust rounds an
        // integer to the nearest double).
        let exact = (n as u128) * ((1u128 << 53) - 1);
        assert_eq!(sum.value(), exact as f64 * power_of_two(-53));
    }

    /// Doubles with exponents from 2^-20 to 2^20, which an i128 of unit
    /// 2^-72 holds exactly: the oracle.
    fn moderate() -> impl Strategy<Value = f64> {
        (any::<bool>(), 0u64..(1 << 52), -20i32..20).prop_map(|(negative, fraction, e)| {
            let x = f64::from_bits(((e + 1023) as u64) << 52 | fraction);
            if negative {
                -x
            } else {
                x
            }
        })
    }

    fn fixed_point(x: f64) -> i128 {
        let scaled = x * power_of_two(72);
        assert_eq!(scaled.fract(), 0.0);
        scaled as i128
    }

    proptest! {
        /// The sum equals the exact sum (an integer of unit 2^-72)
        /// rounded once: Rust's i128-to-f64 conversion rounds to nearest,
        /// ties to even.
        #[test]
        fn equals_the_exact_sum_rounded_once(terms in prop::collection::vec(moderate(), 0..200)) {
            let exact: i128 = terms.iter().map(|&x| fixed_point(x)).sum();
            let want = exact as f64 * power_of_two(-72);
            prop_assert_eq!(sum_of(&terms).to_bits(), want.to_bits());
        }

        /// Any order and any split into merged parts give the same bits,
        /// over the whole range of doubles.
        #[test]
        fn order_and_splits_do_not_matter(
            terms in prop::collection::vec(any::<f64>().prop_filter("finite", |x| x.is_finite()), 0..80),
            cuts in prop::collection::vec(0usize..81, 0..4),
            seed in any::<u64>(),
        ) {
            let whole = sum_of(&terms);
            let mut shuffled = terms.clone();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let mut ends: Vec<usize> = cuts.iter().map(|c| c % (terms.len() + 1)).collect();
            ends.extend([0, terms.len()]);
            ends.sort_unstable();
            let mut merged = ExactSum::new();
            for w in ends.windows(2).rev() {
                let mut part = ExactSum::new();
                shuffled[w[0]..w[1]].iter().for_each(|&x| part.add(x));
                merged.merge(&part);
            }
            prop_assert_eq!(merged.value().to_bits(), whole.to_bits());
        }

        /// Agrees with an independent exact summation (Zhu & Hayes'
        /// online algorithm in `accurate`).
        #[test]
        fn agrees_with_online_exact_sum(
            terms in prop::collection::vec(any::<f64>().prop_filter("finite", |x| x.is_finite() && x.abs() < 1e300), 0..80),
        ) {
            prop_assert_eq!(sum_of(&terms).to_bits(), online_exact_sum(&terms).to_bits());
        }
    }
}
