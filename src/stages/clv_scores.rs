//! The CLV stage's per-customer scores as a plain struct: what the CLV
//! stage (`stages::clv`) produces and the customers, segments and
//! targets tables read, in a module of its own so that those stages and
//! the CLV stage do not import one another.

use std::ops::Range;

use crate::stages::customers::CustomerSummary;
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

impl ClvScores {
    /// No customer yet, room for `customers`.
    pub fn with_capacity(customers: usize) -> ClvScores {
        ClvScores {
            p_alive: Vec::with_capacity(customers),
            expected_orders: Vec::with_capacity(customers),
            p_no_order: Vec::with_capacity(customers),
            expected_avg_order_value: Vec::with_capacity(customers),
            clv: Vec::with_capacity(customers),
            expected_orders_interval: Vec::with_capacity(customers),
            clv_interval: Vec::with_capacity(customers),
        }
    }

    /// `next`'s customers after these.
    pub fn append(&mut self, next: ClvScores) {
        self.p_alive.extend(next.p_alive);
        self.expected_orders.extend(next.expected_orders);
        self.p_no_order.extend(next.p_no_order);
        self.expected_avg_order_value
            .extend(next.expected_avg_order_value);
        self.clv.extend(next.clv);
        self.expected_orders_interval
            .extend(next.expected_orders_interval);
        self.clv_interval.extend(next.clv_interval);
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
