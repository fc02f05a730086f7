//! Per-customer predictions from a fitted purchase model and Gamma-Gamma.
//!
//! Everything that depends on (frequency, recency, T) is computed once per
//! unique row (in parallel) and joined back; only the order value, which
//! depends on (frequency, monetary value), is computed per customer. The
//! costly part of a row, a live customer's expected purchases over each
//! month of the horizon (a hypergeometric series per month), depends on
//! frequency and T only, not recency: it is computed once per unique
//! (frequency, T) pair, of which there are far fewer (67 thousand for 1.24
//! million rows at 10 million orders).

use std::borrow::Cow;

use rayon::prelude::*;

use super::compress::{gg_eligible, CompressedSummary, RfmRows};
use super::exact_sum::ExactSum;
use super::row_spend::RowSpend;
use super::rows::{
    expected_by_month, finite_or, predict_rows, AliveGroups, CustomerPredictions, Horizon,
};
use super::uncertainty::{
    customer_intervals, order_value_log_gradient, rows_with_spread, PredictionIntervals,
    RowWeights, Uncertainty,
};
use super::{
    conditional_expected_order_value, CustomerSummaryInput, GammaGammaParams, Prediction,
    PredictionSettings, PurchaseModel,
};

/// Predictions for every customer of `input`, in its order.
///
/// * `p_alive`, `expected_orders`, `expected_orders_by_month`, `p_no_order`:
///   the purchase model (a `&BgNbdParams` reads as BG/NBD), horizon `horizon_months · month_days` days after as_of.
/// * `expected_avg_order_value`: with `gg = Some(params)`, the Gamma-Gamma
///   conditional mean (γ + m·x)·p/(p·x + q − 1) for customers with
///   frequency > 0 and monetary > 0, and the population mean p·γ/(q−1) for
///   everyone else. With `gg = None` (pass `None` when the Gamma-Gamma fit did
///   not converge or had no customers), or where the Gamma-Gamma expectation
///   does not exist (q ≤ 1), the fallback is the plain mean monetary value of
///   the repeat buyers (0 if there are none); a repeat buyer whose posterior
///   mean does not exist (p·x + q ≤ 1) keeps their own mean.
/// * `clv = Σ_j expected_orders_by_month[j] · expected_avg_order_value / (1+d)^j`.
///
/// Never NaN but in one case: a customer whose expected orders cannot be
/// computed (no form of the expectation converges for their row) gets NaN
/// expected orders, months and CLV, never a made-up number; the pipeline
/// publishes them as null and says so. Invalid BG/NBD parameters give
/// p_alive 1 and no expected orders (BG/NBD family) or p_alive of the
/// formula and no expected orders (Pareto/NBD); settings outside
/// [`PredictionSettings::validate`]'s domain are read as month_days 0 (an
/// empty horizon) and discount rate 0.
///
/// # Panics
/// If the input's columns have different lengths.
pub fn predict(
    model: impl Into<PurchaseModel>,
    gg: Option<&GammaGammaParams>,
    input: &CustomerSummaryInput,
    settings: &PredictionSettings,
) -> Vec<Prediction> {
    let summary = CompressedSummary::of(input);
    predict_with_intervals(model, gg, input, &summary, settings, None)
        .0
        .to_vec()
}

/// [`predict()`]'s figures held by row (see [`CustomerPredictions`]), and
/// with `uncertainty` the intervals of its figures from the parameters'
/// sampling error (`uncertainty` module): per customer for expected orders
/// and CLV, and the forecast's gradients. The predictions are the same
/// with or without it.
///
/// # Panics
/// If `summary` is not `input`'s (another customer count).
pub fn predict_with_intervals<'s>(
    model: impl Into<PurchaseModel>,
    gg: Option<&GammaGammaParams>,
    input: &CustomerSummaryInput,
    summary: &'s CompressedSummary,
    settings: &PredictionSettings,
    uncertainty: Option<&Uncertainty>,
) -> (CustomerPredictions<'s>, Option<PredictionIntervals>) {
    input.assert_lengths();
    assert_eq!(
        summary.customers(),
        input.len(),
        "the summary of another input"
    );
    let model: PurchaseModel = model.into();
    let horizon = Horizon::of(settings);
    let (rows, customer_row) = (&summary.rows, &summary.customer_row);
    let order_value = OrderValue::new(gg, input);
    let aov: Vec<f64> = (0..input.len())
        .into_par_iter()
        .map(|i| order_value.of(input.frequency[i], input.monetary_value[i]))
        .collect();
    let groups = AliveGroups::of(rows);
    let Some(uncertainty) = uncertainty else {
        let table = predict_rows(&model, rows, groups, &horizon);
        let predictions = CustomerPredictions::new(Cow::Owned(table), customer_row.into(), aov);
        return (predictions, None);
    };
    let spend_gradient =
        |i: usize| order_value.log_gradient(input.frequency[i], input.monetary_value[i]);
    let mut spend = RowSpend::default();
    spend.add(customer_row, input.frequency, input.monetary_value);
    let weights_of = |range| order_value.row_weights_of(rows, &spend, range);
    let (table, spread, forecast) = rows_with_spread(
        &model,
        rows,
        groups,
        &weights_of,
        &horizon,
        &uncertainty.purchase,
    );
    let predictions = CustomerPredictions::new(Cow::Owned(table), customer_row.into(), aov);
    let intervals = customer_intervals(&predictions, &spread, &spend_gradient, uncertainty);
    (
        predictions,
        Some(PredictionIntervals {
            forecast,
            ..intervals
        }),
    )
}

/// Each customer's conditional expected orders in the next `days` days
/// alone: [`predict()`]'s `expected_orders` for a one-month horizon of
/// that length, without the rest of its work, over a summary compressed
/// already. NaN where they cannot be computed.
pub fn expected_orders(
    model: impl Into<PurchaseModel>,
    summary: &CompressedSummary,
    days: f64,
) -> Vec<f64> {
    let by_row = expected_orders_of_rows(&model.into(), &summary.rows, days);
    summary
        .customer_row
        .iter()
        .map(|&row| by_row[row as usize])
        .collect()
}

/// [`expected_orders`] of each unique row, NaN where it cannot be computed.
pub(super) fn expected_orders_of_rows(
    model: &PurchaseModel,
    rows: &RfmRows,
    days: f64,
) -> Vec<f64> {
    let horizon = Horizon::of(&PredictionSettings {
        horizon_months: 1,
        month_days: days,
        discount_rate_monthly: 0.0,
    });
    let groups = AliveGroups::of(rows);
    let alive = groups.expectations(std::slice::from_ref(model), &horizon);
    let p_alive = model.alive_probabilities(rows);
    (0..rows.len())
        .into_par_iter()
        .map(|i| {
            let mut month = [0.0];
            let alive = alive.of(groups.of_row(i), 0);
            let (_, total) = expected_by_month(p_alive[i], alive, &mut month);
            total.unwrap_or(f64::NAN)
        })
        .collect()
}

/// The expected value of a customer's future order (see [`predict()`]).
/// It owns its few figures, so a scorer sent to another process carries
/// them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct OrderValue {
    gg: Option<GammaGammaParams>,
    repeat_mean: f64,
    population: f64,
}

impl OrderValue {
    fn new(gg: Option<&GammaGammaParams>, input: &CustomerSummaryInput) -> Self {
        Self::with_repeat_mean(gg, repeat_buyer_mean(input))
    }

    /// The order values with the repeat buyers' mean monetary value given
    /// (as [`repeat_buyer_mean`] computes it).
    pub(super) fn with_repeat_mean(gg: Option<&GammaGammaParams>, repeat_mean: f64) -> Self {
        let gg = gg.filter(|g| g.is_valid()).copied();
        let population = gg.and_then(|g| g.population_mean()).unwrap_or(repeat_mean);
        OrderValue {
            gg,
            repeat_mean,
            population,
        }
    }

    pub(super) fn of(&self, x: i64, m: f64) -> f64 {
        let aov = match self.gg {
            None => self.repeat_mean,
            Some(g) if gg_eligible(x, m) => {
                conditional_expected_order_value(&g, x as f64, m).unwrap_or(m)
            }
            Some(_) => self.population,
        };
        finite_or(aov, 0.0)
    }

    /// The weights on the forecast's revenue of each row in `range`, in
    /// order (the forecast makes them a window of rows at a time), Σ A and
    /// Σ A·∂ln A/∂ln(p, q, γ) over its customers, in closed form from its
    /// customers' number and their spends (`spend`): a repeat buyer's A is
    /// (γ + m·x)·p/D with D = p·x + q − 1, linear in the spend m·x, and
    /// everyone else's is a constant. These are the sums of [`Self::of`]
    /// and [`Self::log_gradient`] over the customers, up to rounding;
    /// unlike a sum over them they do not depend on the customers' order.
    /// (A spend so large that (γ + m·x)·p overflows makes the row's
    /// weights infinite, where the customer's own value falls back to m.)
    pub(super) fn row_weights_of(
        &self,
        rows: &RfmRows,
        spend: &RowSpend,
        range: std::ops::Range<usize>,
    ) -> Vec<RowWeights> {
        range.map(|r| self.weights_at(rows, spend, r)).collect()
    }

    /// Row `r`'s [`Self::row_weights_of`].
    fn weights_at(&self, rows: &RfmRows, spend: &RowSpend, r: usize) -> RowWeights {
        let eligible = spend.eligible(r) as f64;
        self.weights_of_row(rows.x(r), (rows.w[r], eligible), spend.spend(r))
    }

    /// One row's [`Self::row_weights_of`]: frequency `x`, its customers and
    /// how many of them are repeat buyers Gamma-Gamma reads, and the sum
    /// of those buyers' spends m·x.
    fn weights_of_row(&self, x: f64, (customers, eligible): (f64, f64), spend: f64) -> RowWeights {
        let Some(g) = self.gg else {
            return RowWeights {
                value: customers * self.repeat_mean,
                value_gradient: [0.0; 3],
            };
        };
        let others = customers - eligible;
        let population = finite_or(self.population, 0.0);
        let gradient = order_value_log_gradient(&g, 0.0, 0.0);
        let mut weights = RowWeights {
            value: others * population,
            value_gradient: gradient.map(|d| others * population * d),
        };
        if eligible > 0.0 {
            let denominator = g.p * x + g.q - 1.0;
            if denominator > 0.0 {
                let value = (eligible * g.gamma + spend) * g.p / denominator;
                weights.value += value;
                let repeat = [
                    value * (1.0 - g.p * x / denominator),
                    -value * g.q / denominator,
                    eligible * g.gamma * g.p / denominator,
                ];
                for (total, part) in weights.value_gradient.iter_mut().zip(repeat) {
                    *total += part;
                }
            } else {
                // No posterior mean: each buyer's own mean m, which no
                // parameter moves.
                weights.value += spend / x;
            }
        }
        weights
    }

    /// ∂ ln(value)/∂ ln(p, q, γ); zero for a plain mean, which no
    /// Gamma-Gamma parameter moves.
    pub(super) fn log_gradient(&self, x: i64, m: f64) -> [f64; 3] {
        match self.gg {
            Some(g) if gg_eligible(x, m) => order_value_log_gradient(&g, x as f64, m),
            Some(g) => order_value_log_gradient(&g, 0.0, 0.0),
            None => [0.0; 3],
        }
    }
}

/// Mean monetary value over customers with frequency > 0 and a usable
/// monetary value; 0 when there are none. The sum is exact, as the folds'
/// (`compress::SpendFolder`), so customers folded in parts give the same
/// mean.
fn repeat_buyer_mean(input: &CustomerSummaryInput) -> f64 {
    let mut sum = ExactSum::new();
    let mut n = 0u64;
    let eligible = input.frequency.iter().zip(input.monetary_value);
    for (_, &m) in eligible.filter(|(&x, &m)| gg_eligible(x, m)) {
        sum.add(m);
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        finite_or(sum.value() / n as f64, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::online_exact_sum;
    use proptest::prelude::*;

    /// `got` is `terms`' sum up to a few roundings of their magnitudes.
    fn assert_close(got: f64, terms: &[f64], what: &str) {
        let want = online_exact_sum(terms);
        let scale: f64 = terms.iter().map(|t| t.abs()).sum();
        assert!(
            (got - want).abs() <= 1e-13 * scale,
            "{what}: {got} against {want} (terms {terms:?})"
        );
    }

    /// Gamma-Gamma fits of every kind the order values meet: a population
    /// mean (q > 1), none (q ≤ 1), and small frequencies without a
    /// posterior mean (p·x + q ≤ 1).
    fn fits() -> impl Strategy<Value = Option<GammaGammaParams>> {
        prop_oneof![
            Just(None),
            Just(Some(GammaGammaParams {
                p: 6.25,
                q: 3.74,
                gamma: 15.44
            })),
            Just(Some(GammaGammaParams {
                p: 0.2,
                q: 0.5,
                gamma: 3.0
            })),
            (0.1f64..20.0, 0.2f64..8.0, 0.1f64..50.0)
                .prop_map(|(p, q, gamma)| Some(GammaGammaParams { p, q, gamma })),
        ]
    }

    /// Monetary values: money, and what Gamma-Gamma does not read.
    fn monetary() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (1i64..5_000_000).prop_map(|cents| cents as f64 / 100.0 / 3.0),
            1 => Just(0.0),
            1 => Just(-12.5),
            1 => Just(f64::NAN),
        ]
    }

    proptest! {
        /// A row's closed-form weights are the sums, over its customers, of
        /// their order values and of the values times their log-gradients.
        #[test]
        fn row_weights_are_the_sums_over_the_customers(
            gg in fits(),
            x in 0i64..6,
            monetary_values in prop::collection::vec(monetary(), 1..60),
            repeat_mean in 0.0f64..300.0,
        ) {
            let order_value = OrderValue::with_repeat_mean(gg.as_ref(), repeat_mean);
            let n = monetary_values.len();
            let mut spend = RowSpend::default();
            spend.add(&vec![0; n], &vec![x; n], &monetary_values);
            let counts = (n as f64, spend.eligible(0) as f64);
            let got = order_value.weights_of_row(x as f64, counts, spend.spend(0));

            let values: Vec<f64> = monetary_values.iter().map(|&m| order_value.of(x, m)).collect();
            assert_close(got.value, &values, "Σ value");
            for k in 0..3 {
                let terms: Vec<f64> = monetary_values
                    .iter()
                    .zip(&values)
                    .map(|(&m, &value)| value * order_value.log_gradient(x, m)[k])
                    .collect();
                assert_close(got.value_gradient[k], &terms, &format!("Σ value·gradient {k}"));
            }
        }
    }
}
