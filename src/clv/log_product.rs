//! Sums of logarithms as the logarithm of a product: the likelihood sums
//! add ln(1 + odds) for every row, and a multiplication costs a tenth of a
//! logarithm.
//!
//! Why hand-written: a running product with a flush is four lines, and
//! the crates of the field offer logarithms, not this trade.

/// Largest factor [`LogProduct::push`] takes: with the product flushed
/// above [`LogProduct::FLUSH_ABOVE`], no product overflows.
pub(super) const MAX_FACTOR: f64 = 1e120;

/// Σ ln(factorᵢ) over factors in [1, [`MAX_FACTOR`]) as the logarithm of
/// their running product, taken when the product grows large and at the
/// end. The product's rounding (a part in 2^53 a factor) adds to the sum
/// about what the logarithms' own would.
pub(super) struct LogProduct {
    ln_flushed: f64,
    product: f64,
}

impl LogProduct {
    const FLUSH_ABOVE: f64 = 1e150;

    pub(super) fn new() -> LogProduct {
        LogProduct {
            ln_flushed: 0.0,
            product: 1.0,
        }
    }

    #[inline]
    pub(super) fn push(&mut self, factor: f64) {
        debug_assert!((1.0..MAX_FACTOR).contains(&factor), "factor {factor}");
        self.product *= factor;
        if self.product > Self::FLUSH_ABOVE {
            self.ln_flushed += self.product.ln();
            self.product = 1.0;
        }
    }

    /// Σ ln(factorᵢ) so far.
    pub(super) fn ln(&self) -> f64 {
        self.ln_flushed + self.product.ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Factors whose product would overflow many times over are flushed
    /// to their logarithm on the way; factors near 1 are summed as
    /// closely as their logarithms; no factor adds nothing.
    #[test]
    fn sums_the_logarithms_of_large_and_small_factors() {
        let mut product = LogProduct::new();
        let mut want = 0.0;
        for i in 0..10_000 {
            let factor = 1.0 + (i % 97) as f64 * 1e118;
            product.push(factor);
            want += f64::ln(factor);
        }
        assert!((product.ln() - want).abs() <= 1e-13 * want);
        let (mut near_one, mut want) = (LogProduct::new(), 0.0);
        for i in 0..10_000 {
            let factor = 1.0 + f64::from(i % 89) * 1e-3;
            near_one.push(factor);
            want += f64::ln_1p(f64::from(i % 89) * 1e-3);
        }
        assert!((near_one.ln() - want).abs() <= 1e-12 * want);
        assert_eq!(LogProduct::new().ln(), 0.0);
    }
}
