//! What each unique (frequency, recency, T) row's customers spend, summed
//! exactly, so the forecast's revenue weights (`uncertainty::RowWeights`)
//! are folded with the rows, in one pass, and do not depend on the order
//! or the batches the customers come in: a partition's partial sums merge
//! with the others' to the same numbers.
//!
//! Gamma-Gamma's expected order value of a repeat buyer is
//! (γ + m·x)·p / (p·x + q − 1), linear in the spend m·x, and a row's
//! customers share x. So Σ value and Σ value·∂ln value/∂ln θ over a row
//! are closed forms in two figures: the number of the row's customers
//! whose spend Gamma-Gamma reads, and the sum of their spends.

use std::collections::BTreeMap;

use super::compress::gg_eligible;
use super::exact_sum::{mantissa_and_shift, ExactSum, LOWEST_EXPONENT};

/// The fixed-point sums' unit is 2^-64: every double from 2^-12 up with
/// all 53 bits (any money amount of a cent or more), and every sum below
/// 2^62, is held exactly in an `i128`.
const UNIT_EXPONENT: i32 = -64;
/// Fixed-point sums stay below 2^126 in magnitude, so two of them add
/// without overflow.
const FIXED_LIMIT: u128 = 1 << 126;

/// Per unique row, the customers whose spend Gamma-Gamma reads
/// ([`gg_eligible`]) and the sum of their spends m·x, exact.
///
/// A row's sum is a fixed-point `i128` while its terms are multiples of
/// 2^-64 and it stays below 2^126; a row with any other term moves to a
/// full [`ExactSum`] (about 550 bytes), which takes every double. The sums
/// are exact either way, so which rows moved does not change any value.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RowSpend {
    /// By row: the customers are in no row order, so a row's figures lie
    /// together (24 bytes a row).
    rows: Vec<RowSums>,
    /// Rows whose sums left the fixed point, by row.
    wide: BTreeMap<u32, ExactSum>,
}

/// A row's sums. The fixed-point sum is held as two 64-bit halves: an
/// `i128` field would align the row to 16 bytes and pad it to 32, a third
/// more memory at 7 M rows. A row moved to `wide` holds [`MOVED`].
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct RowSums {
    fixed_low: u64,
    fixed_high: i64,
    eligible: u64,
}

/// The fixed-point sum of a row whose sums are in `wide`: below −2^126,
/// so no sum the fixed point holds ([`checked_fixed`]).
const MOVED: i128 = i128::MIN;

const _: () = assert!(std::mem::size_of::<RowSums>() == 24);

impl RowSums {
    /// The sum in units of 2^-64, or [`MOVED`].
    fn fixed(&self) -> i128 {
        (i128::from(self.fixed_high) << 64) | i128::from(self.fixed_low)
    }

    fn set_fixed(&mut self, fixed: i128) {
        self.fixed_low = fixed as u64;
        self.fixed_high = (fixed >> 64) as i64;
    }

    fn in_wide(&self) -> bool {
        self.fixed() == MOVED
    }

    /// What of the row's sum the fixed point holds: 0 once moved (its
    /// `wide` sum holds all of it).
    fn fixed_part(&self) -> i128 {
        match self.in_wide() {
            true => 0,
            false => self.fixed(),
        }
    }
}

impl RowSpend {
    /// Adds customers: each one's row, frequency x and monetary value m.
    pub fn add(&mut self, rows: &[u32], frequency: &[i64], monetary_value: &[f64]) {
        for ((&row, &x), &m) in rows.iter().zip(frequency).zip(monetary_value) {
            if gg_eligible(x, m) {
                self.add_term(row, m * x as f64);
            }
        }
    }

    /// The row's sums, made when new.
    fn row_mut(&mut self, row: u32) -> &mut RowSums {
        let r = row as usize;
        if r >= self.rows.len() {
            self.rows.resize(r + 1, RowSums::default());
        }
        &mut self.rows[r]
    }

    /// Adds one customer's `spend` to the row, moving the row to an
    /// [`ExactSum`] when the fixed point cannot hold the term or the
    /// total.
    fn add_term(&mut self, row: u32, spend: f64) {
        let sums = self.row_mut(row);
        sums.eligible += 1;
        if !sums.in_wide() {
            if let Some(total) = to_fixed(spend).and_then(|term| checked_fixed(sums.fixed() + term))
            {
                sums.set_fixed(total);
                return;
            }
        }
        let wide = self.wide_mut(row);
        wide.add(spend);
    }

    /// The row's [`ExactSum`], holding its fixed-point sum once moved.
    fn wide_mut(&mut self, row: u32) -> &mut ExactSum {
        let sums = self.row_mut(row);
        let moved = (!sums.in_wide()).then(|| exact_of_fixed(sums.fixed()));
        sums.set_fixed(MOVED);
        let wide = self.wide.entry(row).or_default();
        if let Some(moved) = moved {
            wide.merge(&moved);
        }
        wide
    }

    /// Adds another fold's sums (a partial of other customers), exactly:
    /// its row r is row `rows[r]` here (a customer partition's rows are
    /// numbered its own way, `RfmFolder::add_part`).
    pub fn merge(&mut self, other: &RowSpend, rows: &[u32]) {
        for (r, theirs) in other.rows.iter().enumerate() {
            let row = rows[r];
            let sums = self.row_mut(row);
            sums.eligible += theirs.eligible;
            let total = (!sums.in_wide())
                .then(|| checked_fixed(sums.fixed() + theirs.fixed_part()))
                .flatten();
            match total {
                Some(total) => sums.set_fixed(total),
                None => self
                    .wide_mut(row)
                    .merge(&exact_of_fixed(theirs.fixed_part())),
            }
        }
        for (&r, sum) in &other.wide {
            self.wide_mut(rows[r as usize]).merge(sum);
        }
    }

    /// The sums, their spare room given back (the rows grew one at a
    /// time).
    pub fn finish(mut self) -> RowSpend {
        self.rows.shrink_to_fit();
        self
    }

    /// The row's customers with a spend Gamma-Gamma reads.
    pub fn eligible(&self, row: usize) -> u64 {
        self.rows.get(row).map_or(0, |sums| sums.eligible)
    }

    /// The sum of their spends, rounded once to the nearest double.
    pub fn spend(&self, row: usize) -> f64 {
        match self.rows.get(row) {
            Some(sums) if sums.in_wide() => self.wide[&(row as u32)].value(),
            Some(sums) => fixed_value(sums.fixed()),
            None => 0.0,
        }
    }
}

/// `x` in units of 2^-64, when it is a whole number of them below the
/// limit: read off its bits (a float test of wholeness, or a conversion
/// to `i128`, costs a library call per customer).
fn to_fixed(x: f64) -> Option<i128> {
    if !x.is_finite() {
        return None;
    }
    // |x| = mantissa · 2^(exponent + UNIT_EXPONENT).
    let (mantissa, shift) = mantissa_and_shift(x);
    let exponent = shift as i32 + LOWEST_EXPONENT - UNIT_EXPONENT;
    let magnitude = if exponent >= 0 {
        // mantissa < 2^53, so the term stays below 2^(53 + exponent).
        if 53 + exponent > 126 {
            return None;
        }
        (mantissa as i128) << exponent
    } else if mantissa.trailing_zeros() as i32 >= -exponent || mantissa == 0 {
        (mantissa >> (-exponent).min(63)) as i128
    } else {
        return None; // bits below the unit
    };
    Some(if x < 0.0 { -magnitude } else { magnitude })
}

fn checked_fixed(total: i128) -> Option<i128> {
    (total.unsigned_abs() < FIXED_LIMIT).then_some(total)
}

/// The nearest double: the cast rounds to nearest, and the scaling is
/// exact (a nonzero sum is at least 2^-64, far above the subnormals).
fn fixed_value(fixed: i128) -> f64 {
    fixed as f64 * 2f64.powi(UNIT_EXPONENT)
}

/// A fixed-point sum as an [`ExactSum`]: its 42-bit pieces are doubles
/// exactly.
fn exact_of_fixed(fixed: i128) -> ExactSum {
    const PIECE: i32 = 42;
    let mask = (1i128 << PIECE) - 1;
    let mut sum = ExactSum::new();
    sum.add((fixed & mask) as f64 * 2f64.powi(UNIT_EXPONENT));
    sum.add(((fixed >> PIECE) & mask) as f64 * 2f64.powi(UNIT_EXPONENT + PIECE));
    sum.add((fixed >> (2 * PIECE)) as f64 * 2f64.powi(UNIT_EXPONENT + 2 * PIECE));
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::online_exact_sum;
    use proptest::prelude::*;

    /// A row's spend against the oracle: its terms summed exactly at once.
    fn assert_rows_match(fold: &RowSpend, terms: &[Vec<f64>]) {
        for (r, row) in terms.iter().enumerate() {
            assert_eq!(fold.eligible(r), row.len() as u64, "row {r}");
            assert_eq!(
                fold.spend(r).to_bits(),
                online_exact_sum(row).to_bits(),
                "row {r}: {row:?}"
            );
        }
    }

    /// A spend: mostly money amounts (cents over a frequency, times it),
    /// some that leave the fixed point (tiny, huge, subnormal).
    fn spend() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (1i64..10_000_000, 1i64..40).prop_map(|(c, x)| (c as f64 / 100.0 / x as f64) * x as f64),
            1 => 1e-30f64..1e-3,
            1 => 1e20f64..1e300,
            1 => Just(f64::MIN_POSITIVE / 8.0),
        ]
    }

    /// The customers as (row, spend); the frequency is 1, so m·x is m.
    fn customers() -> impl Strategy<Value = Vec<(u32, f64)>> {
        prop::collection::vec((0u32..6, spend()), 0..120)
    }

    fn terms_by_row(customers: &[(u32, f64)]) -> Vec<Vec<f64>> {
        let mut rows = vec![Vec::new(); 6];
        for &(row, spend) in customers {
            rows[row as usize].push(spend);
        }
        rows
    }

    fn fold(customers: &[(u32, f64)]) -> RowSpend {
        let mut fold = RowSpend::default();
        let rows: Vec<u32> = customers.iter().map(|c| c.0).collect();
        let spend: Vec<f64> = customers.iter().map(|c| c.1).collect();
        fold.add(&rows, &vec![1; rows.len()], &spend);
        fold
    }

    proptest! {
        /// Any order, any split into partials merged in any order: each
        /// row's spend is its terms' exact sum, rounded once.
        #[test]
        fn spends_are_exact_whatever_the_order_and_split(
            customers in customers(),
            rotation in 0usize..120,
            cut in 0usize..120,
        ) {
            let want = terms_by_row(&customers);
            assert_rows_match(&fold(&customers), &want);
            let mut turned = customers.clone();
            let turn = rotation.min(turned.len());
            turned.rotate_left(turn);
            let (a, b) = turned.split_at(cut.min(turned.len()));
            let (mut ab, mut ba) = (fold(a), fold(b));
            let same: Vec<u32> = (0..6).collect();
            ab.merge(&fold(b), &same);
            ba.merge(&fold(a), &same);
            assert_rows_match(&ab, &want);
            assert_rows_match(&ba, &want);
        }
    }

    /// Customers Gamma-Gamma does not read add nothing; a row no customer
    /// reached reads as none.
    #[test]
    fn ineligible_customers_are_left_out() {
        let mut fold = RowSpend::default();
        fold.add(
            &[0, 0, 0, 0, 1],
            &[0, 2, 2, 2, 3],
            &[5.0, 0.0, -1.0, f64::NAN, 2.5],
        );
        assert_eq!((fold.eligible(0), fold.spend(0)), (0, 0.0));
        assert_eq!((fold.eligible(1), fold.spend(1)), (1, 7.5));
        assert_eq!((fold.eligible(7), fold.spend(7)), (0, 0.0));
    }

    /// A total that outgrows the fixed point moves to the exact sum with
    /// nothing lost: 2^125 units four times, then 2^11 (which alone
    /// would fit).
    #[test]
    fn a_total_past_the_fixed_point_moves_whole() {
        let big = 2f64.powi(125) * 2f64.powi(UNIT_EXPONENT);
        let mut fold = RowSpend::default();
        fold.add(&[0; 5], &[1; 5], &[big, big, big, big, 2048.0]);
        assert!(fold.wide.contains_key(&0) && fold.rows[0].in_wide());
        assert_eq!(fold.spend(0), 2f64.powi(63) + 2048.0);
        assert_eq!(fold.eligible(0), 5);
    }

    proptest! {
        /// A term's fixed point read off its bits is the term times 2^64
        /// whenever that is a whole number below 2^126, and absent
        /// otherwise.
        #[test]
        fn terms_convert_to_fixed_point_as_their_scaled_value(
            bits in any::<u64>(),
            money in (-10_000_000i64..10_000_000, 1i64..50),
        ) {
            let oracle = |x: f64| {
                let scaled = x * 2f64.powi(64);
                (scaled.is_finite() && scaled.fract() == 0.0 && scaled.abs() < (1u128 << 126) as f64)
                    .then_some(scaled as i128)
            };
            let (cents, x) = money;
            let edges = [
                0.0,
                -0.0,
                2f64.powi(62),
                -2f64.powi(62),
                2f64.powi(62) - 1024.0,
                2f64.powi(-64),
                2f64.powi(-65),
                3.0 * 2f64.powi(-65),
                f64::MIN_POSITIVE,
                f64::from_bits(1),
                f64::INFINITY,
                f64::NAN,
            ];
            let terms = [f64::from_bits(bits), cents as f64 / 100.0 / x as f64 * x as f64];
            for term in terms.into_iter().chain(edges) {
                prop_assert_eq!(to_fixed(term), oracle(term), "{}", term);
            }
        }
    }

    /// The pieces of a fixed-point sum add back to it exactly, negative
    /// and at the limit included.
    #[test]
    fn fixed_sums_convert_exactly() {
        for fixed in [1i128, -1, (1 << 125) + 12345, -(1 << 125) - 1, 3 << 80] {
            assert_eq!(exact_of_fixed(fixed).value(), fixed_value(fixed), "{fixed}");
        }
    }
}
