//! The CLV stage's per-customer scores as a plain struct: what the CLV
//! stage (`stages::clv`) produces and the customers, segments and
//! targets tables read, in a module of its own so that those stages and
//! the CLV stage do not import one another.

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
    pub clv_simple: Vec<Option<f64>>,
    /// Central intervals of `expected_orders` and `clv` from the fitted
    /// parameters' sampling error: (low, high) per customer, NaN where
    /// there is none (published as null). Plain floats, not `Option`s:
    /// these are four per-customer columns, and an `Option<f64>` takes
    /// twice the memory.
    pub expected_orders_interval: Vec<[f64; 2]>,
    pub clv_interval: Vec<[f64; 2]>,
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
