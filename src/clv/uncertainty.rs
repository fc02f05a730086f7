//! The parameters' sampling uncertainty carried into the predictions: the
//! `_low` / `_high` columns (README "Predictive CLV", intervals).
//!
//! A fit's log-parameters θ are asymptotically normal around the estimate
//! with covariance Σ = H⁻¹ / W, H the Hessian of the mean negative
//! log-likelihood in log-parameters at the optimum and W the customers it
//! was summed over ([`FitReport::inverse_hessian`]). A prediction f(θ) > 0
//! then has ln f(θ̂) ≈ N(ln f(θ), g'Σg / f²) with g = ∂f/∂θ (the delta method
//! on the log scale, so an interval never goes below 0), and its central
//! interval at level c is f·exp(±z·√(g'Σg)/f) with z the normal quantile of
//! (1 + c)/2. The purchase and the spend fits are separate likelihoods (the
//! Gamma-Gamma model assumes spend independent of the purchase process), so
//! their covariances add: a CLV's variance is the purchase part plus the
//! spend part.
//!
//! What an interval includes: the estimation error of the fitted parameters
//! only. It does not include the randomness of a customer's own purchases
//! (how many orders a customer with these expectations really places is a
//! much wider, different interval), nor model misspecification.

use std::ops::Range;

use rayon::prelude::*;

use super::compress::RfmRows;
use super::model::RowsAlive;
use super::rows::{
    expected_by_month, predict_row, AliveExpectations, AliveGroups, CustomerPredictions,
    GroupFigures, Horizon, RowInputs, RowPrediction, RowTable,
};
use super::{FitReport, GammaGammaParams, PurchaseModel};

/// Step in the log-parameters of the forward differences that give a
/// prediction's gradient: its relative error is about the step
/// (truncation) plus 1e-16 / step times the prediction's conditioning
/// (rounding), far below what an interval needs.
const LOG_STEP: f64 = 1e-6;

/// Unique rows per task of the interval pass. Fixed, so the forecast's
/// gradients are added up in the same order whatever the thread count.
const ROW_CHUNK: usize = 4096;

/// Chunks of the interval pass made before they are appended: enough to
/// keep every core busy, few enough to add little to the rows' memory.
const ROW_CHUNKS_AT_ONCE: usize = 64;

/// Covariance of a fit's log-parameters, Σ = H⁻¹ / W. Serialized as its
/// N² entries row by row: serde derives arrays of a given length only.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Vec<f64>", try_from = "Vec<f64>")]
pub struct LogCovariance<const N: usize> {
    matrix: [[f64; N]; N],
}

impl<const N: usize> From<LogCovariance<N>> for Vec<f64> {
    fn from(covariance: LogCovariance<N>) -> Vec<f64> {
        covariance.matrix.iter().flatten().copied().collect()
    }
}

impl<const N: usize> TryFrom<Vec<f64>> for LogCovariance<N> {
    type Error = String;

    fn try_from(entries: Vec<f64>) -> Result<Self, String> {
        if entries.len() != N * N {
            return Err(format!(
                "{} entries for a {N}×{N} covariance",
                entries.len()
            ));
        }
        let matrix = std::array::from_fn(|i| std::array::from_fn(|j| entries[i * N + j]));
        Ok(LogCovariance { matrix })
    }
}

impl<const N: usize> LogCovariance<N> {
    /// The covariance of a converged fit; `None` when the fit did not
    /// converge (its point is not the maximum the asymptotics are about) or
    /// has no positive-definite Hessian, or `N` is not its parameter count.
    pub fn of_fit(report: &FitReport) -> Option<Self> {
        let inverse = report.inverse_hessian.as_ref()?;
        if !report.converged || report.customers == 0 || inverse.len() != N {
            return None;
        }
        let weight = report.customers as f64;
        let mut matrix = [[0.0; N]; N];
        for (i, row) in inverse.iter().enumerate() {
            if row.len() != N {
                return None;
            }
            for (j, v) in row.iter().enumerate() {
                matrix[i][j] = v / weight;
            }
        }
        let usable =
            matrix.iter().flatten().all(|v| v.is_finite()) && (0..N).all(|i| matrix[i][i] > 0.0);
        usable.then_some(LogCovariance { matrix })
    }

    /// From a covariance matrix of the log-parameters (tests).
    #[cfg(test)]
    pub(crate) fn from_matrix(matrix: [[f64; N]; N]) -> Self {
        LogCovariance { matrix }
    }

    /// g'Σg: the variance of a prediction whose gradient in the
    /// log-parameters is `g`.
    pub fn variance_along(&self, g: &[f64; N]) -> f64 {
        let mut total = 0.0;
        for i in 0..N {
            for j in 0..N {
                total += g[i] * self.matrix[i][j] * g[j];
            }
        }
        total
    }
}

/// What the intervals are computed from: the scoring purchase model's
/// covariance, Gamma-Gamma's when it gave the order values, and the level.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Uncertainty {
    pub purchase: LogCovariance<4>,
    /// `None` when the order values do not come from a converged
    /// Gamma-Gamma fit: then CLV and revenue have no interval (a plain mean
    /// has sampling error too, which is not modelled here).
    pub spend: Option<LogCovariance<3>>,
    /// Central coverage, 0 < level < 1 (`[clv] interval`).
    pub level: f64,
}

impl Uncertainty {
    /// The normal quantile z with P(|Z| ≤ z) = level.
    pub fn z(&self) -> f64 {
        std::f64::consts::SQRT_2 * statrs::function::erf::erf_inv(self.level)
    }
}

/// The interval f·exp(±z·√variance_of_ln_f): NaN bounds when `value` or
/// the variance is not finite (published as null), (0, 0) for a value of
/// exactly 0 (no customer alive, nothing to vary).
pub fn log_scale_interval(value: f64, variance_of_ln: f64, z: f64) -> [f64; 2] {
    if value == 0.0 && variance_of_ln.is_finite() {
        return [0.0, 0.0];
    }
    if !(value.is_finite() && value > 0.0 && variance_of_ln.is_finite() && variance_of_ln >= 0.0) {
        return [f64::NAN; 2];
    }
    let spread = (z * variance_of_ln.sqrt()).exp();
    [value / spread, value * spread]
}

/// ∂ ln(order value)/∂(ln p, ln q, ln γ) for the value that
/// [`super::conditional_expected_order_value`] returns: the posterior mean
/// (γ + m·x)·p/(p·x + q − 1) for x > 0 and m > 0, the population mean
/// p·γ/(q − 1) otherwise. Zero where that value does not exist (the
/// caller then uses the customer's own mean, which no parameter moves).
pub fn order_value_log_gradient(params: &GammaGammaParams, x: f64, m: f64) -> [f64; 3] {
    let GammaGammaParams { p, q, gamma } = *params;
    if x > 0.0 && m.is_finite() && m > 0.0 {
        let denominator = p * x + q - 1.0;
        if denominator <= 0.0 {
            return [0.0; 3];
        }
        [
            1.0 - p * x / denominator,
            -q / denominator,
            gamma / (gamma + m * x),
        ]
    } else if q > 1.0 {
        [1.0, -q / (q - 1.0), 1.0]
    } else {
        [0.0; 3]
    }
}

/// The intervals of [`super::predict_with_intervals`]'s figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionIntervals {
    /// Per customer, (low, high) of the expected orders over the horizon;
    /// NaN (null) where they cannot be computed.
    pub expected_orders: Vec<[f64; 2]>,
    /// Per customer, (low, high) of the CLV (revenue); NaN without a spend
    /// covariance ([`Uncertainty::spend`]).
    pub clv: Vec<[f64; 2]>,
    /// The gradients of the horizon's monthly totals.
    pub forecast: ForecastGradients,
}

/// Per horizon month j, the gradients of the totals over all customers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForecastGradients {
    /// ∂(Σ expected orders in month j)/∂θ_purchase.
    pub orders: Vec<[f64; 4]>,
    /// ∂(Σ expected orders in month j × order value)/∂θ_purchase.
    pub revenue_purchase: Vec<[f64; 4]>,
    /// ∂(Σ expected orders in month j × order value)/∂θ_spend.
    pub revenue_spend: Vec<[f64; 3]>,
}

impl ForecastGradients {
    fn zeros(months: usize) -> Self {
        ForecastGradients {
            orders: vec![[0.0; 4]; months],
            revenue_purchase: vec![[0.0; 4]; months],
            revenue_spend: vec![[0.0; 3]; months],
        }
    }

    fn add(&mut self, other: &ForecastGradients) {
        add_rows(&mut self.orders, &other.orders);
        add_rows(&mut self.revenue_purchase, &other.revenue_purchase);
        add_rows(&mut self.revenue_spend, &other.revenue_spend);
    }

    /// The interval of month j's expected orders, whose total is `orders`.
    pub fn orders_interval(&self, j: usize, orders: f64, uncertainty: &Uncertainty) -> [f64; 2] {
        let variance = uncertainty.purchase.variance_along(&self.orders[j]);
        log_scale_interval(orders, relative(variance, orders), uncertainty.z())
    }

    /// The interval of month j's expected revenue, whose total is
    /// `revenue`; NaN without a spend covariance.
    pub fn revenue_interval(&self, j: usize, revenue: f64, uncertainty: &Uncertainty) -> [f64; 2] {
        let Some(spend) = &uncertainty.spend else {
            return [f64::NAN; 2];
        };
        let variance = uncertainty
            .purchase
            .variance_along(&self.revenue_purchase[j])
            + spend.variance_along(&self.revenue_spend[j]);
        log_scale_interval(revenue, relative(variance, revenue), uncertainty.z())
    }
}

fn add_rows<const N: usize>(total: &mut [[f64; N]], part: &[[f64; N]]) {
    for (t, p) in total.iter_mut().zip(part) {
        add_scaled(t, 1.0, p);
    }
}

/// The variance of ln f from that of f: var / f² (0 for f = 0, whose
/// interval is (0, 0)).
fn relative(variance: f64, value: f64) -> f64 {
    if value == 0.0 {
        0.0
    } else {
        variance / (value * value)
    }
}

/// What the customers of one unique (frequency, recency, T) row add to the
/// forecast's revenue: Σ of their order values A, and Σ A·∂ln A/∂θ_spend.
/// (Their number, which the forecast's orders add up, is the row's weight
/// in the summary, `RfmRows::w`: the same count of the same customers.)
/// `predict::OrderValue::row_weights_of` makes them from the row's spends.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct RowWeights {
    pub value: f64,
    pub value_gradient: [f64; 3],
}

/// A row's predictions' variances on the log scale from the purchase
/// parameters: of its expected orders and of its discounted orders (the
/// CLV per unit of order value).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct RowSpread {
    ln_orders: f64,
    ln_discounted: f64,
}

/// The scoring model and its four copies moved in one log-parameter each,
/// whose differences give the predictions' gradients.
pub(super) fn scoring_and_moved(model: &PurchaseModel) -> [PurchaseModel; 5] {
    std::array::from_fn(|k| match k {
        0 => *model,
        _ => model.with_log_step(k - 1, LOG_STEP),
    })
}

/// The row predictions (as [`predict_rows`]) with each row's spread and the
/// forecast's gradients, from forward differences in each log-parameter;
/// the rows' weights are made a window of rows at a time by `weights_of`.
pub(super) fn rows_with_spread(
    model: &PurchaseModel,
    rows: &RfmRows,
    groups: AliveGroups,
    weights_of: &WeightsOf,
    horizon: &Horizon,
    covariance: &LogCovariance<4>,
) -> (RowTable, Vec<RowSpread>, ForecastGradients) {
    let models = scoring_and_moved(model);
    let figures = GroupFigures::of(&groups, &models, horizon);
    let evaluated = Evaluated::new(&models, rows, &groups, &figures);
    let pass = SpreadPass {
        horizon,
        covariance,
        weights_of: Some(weights_of),
        keep_rows: true,
    };
    let (predictions, spread, forecast) = pass.run(&evaluated, rows.len());
    let scoring_alive = figures.alive.only(0);
    let table = RowTable::new(predictions, groups, scoring_alive);
    (table, spread, forecast)
}

/// The forecast's gradients alone ([`rows_with_spread`]'s third figure),
/// with the rows' weights made a window of rows at a time by `weights_of`
/// (from their spends): neither every row's predictions nor every row's
/// weights are held. The groups' figures are the five models' of
/// [`scoring_and_moved`].
pub(super) fn forecast_gradients(
    models: &[PurchaseModel; 5],
    rows: &RfmRows,
    (groups, figures): (&AliveGroups, &GroupFigures),
    weights_of: &WeightsOf,
    (horizon, covariance): (&Horizon, &LogCovariance<4>),
) -> ForecastGradients {
    let evaluated = Evaluated::new(models, rows, groups, figures);
    let pass = SpreadPass {
        horizon,
        covariance,
        weights_of: Some(weights_of),
        keep_rows: false,
    };
    pass.run(&evaluated, rows.len()).2
}

/// The row predictions and spreads of a batch's own rows, without the
/// forecast: `figures` are their groups' under the five models of
/// [`scoring_and_moved`].
pub(super) fn batch_rows_with_spread(
    models: &[PurchaseModel; 5],
    rows: &RfmRows,
    (groups, figures): (AliveGroups, GroupFigures),
    horizon: &Horizon,
    covariance: &LogCovariance<4>,
) -> (RowTable, Vec<RowSpread>) {
    let evaluated = Evaluated::new(models, rows, &groups, &figures);
    let pass = SpreadPass {
        horizon,
        covariance,
        weights_of: None,
        keep_rows: true,
    };
    let (predictions, spread, _) = pass.run(&evaluated, rows.len());
    let scoring_alive = figures.alive.only(0);
    (RowTable::new(predictions, groups, scoring_alive), spread)
}

/// The weights of a range of rows, in order.
pub(super) type WeightsOf<'a> = dyn Fn(Range<usize>) -> Vec<RowWeights> + Sync + 'a;

/// One pass over the rows with the five models' figures: each row's
/// predictions and spread, and with the rows' weights the forecast's
/// gradients.
struct SpreadPass<'a> {
    horizon: &'a Horizon,
    covariance: &'a LogCovariance<4>,
    weights_of: Option<&'a WeightsOf<'a>>,
    /// Whether the rows' predictions and spreads are returned (or only
    /// the forecast's gradients).
    keep_rows: bool,
}

impl SpreadPass<'_> {
    fn run(
        &self,
        models: &Evaluated,
        rows: usize,
    ) -> (Vec<RowPrediction>, Vec<RowSpread>, ForecastGradients) {
        let kept = if self.keep_rows { rows } else { 0 };
        let mut predictions = Vec::with_capacity(kept);
        let mut spread = Vec::with_capacity(kept);
        let mut forecast = ForecastGradients::zeros(self.horizon.months);
        // A window of chunks at a time, each appended in order: every chunk
        // made at once was a second copy of every row's predictions.
        let chunks: Vec<usize> = (0..rows.div_ceil(ROW_CHUNK)).collect();
        for window in chunks.chunks(ROW_CHUNKS_AT_ONCE) {
            let done: Vec<_> = window
                .par_iter()
                .map(|&c| {
                    let range = c * ROW_CHUNK..((c + 1) * ROW_CHUNK).min(rows);
                    self.chunk(models, range)
                })
                .collect();
            for (p, s, f) in done {
                if self.keep_rows {
                    predictions.extend(p);
                    spread.extend(s);
                }
                forecast.add(&f);
            }
        }
        (predictions, spread, forecast)
    }

    fn chunk(
        &self,
        models: &Evaluated,
        range: Range<usize>,
    ) -> (Vec<RowPrediction>, Vec<RowSpread>, ForecastGradients) {
        let (horizon, covariance) = (self.horizon, self.covariance);
        let weights = self.weights_of.map(|of| of(range.clone()));
        let kept = if self.keep_rows { range.len() } else { 0 };
        let mut predictions = Vec::with_capacity(kept);
        let mut spread = Vec::with_capacity(kept);
        let mut forecast = ForecastGradients::zeros(horizon.months);
        let mut gradient = vec![[0.0; 4]; horizon.months];
        let mut base_months = vec![0.0; horizon.months];
        let mut months = vec![0.0; horizon.months];
        let first = range.start;
        for i in range {
            let group = models.groups.of_row(i);
            let inputs = RowInputs {
                p_alive: models.p_alive[0].of(i),
                alive: models.alive.of(group, 0),
                none_if_alive: models.none_if_alive[group],
            };
            let base = predict_row(inputs, horizon, &mut base_months);
            models.month_gradients((i, group), &base_months, (&mut gradient, &mut months));
            if self.keep_rows {
                spread.push(row_spread(&gradient, &base, horizon, covariance));
                predictions.push(base);
            }
            if let Some(weights) = &weights {
                let (w, customers) = (&weights[i - first], models.customers[i]);
                for (j, g) in gradient.iter().enumerate() {
                    add_scaled(&mut forecast.orders[j], customers, g);
                    add_scaled(&mut forecast.revenue_purchase[j], w.value, g);
                    add_scaled(
                        &mut forecast.revenue_spend[j],
                        base_months[j],
                        &w.value_gradient,
                    );
                }
            }
        }
        (predictions, spread, forecast)
    }
}

/// A row's spread from its predictions' gradients by month.
fn row_spread(
    gradient: &[[f64; 4]],
    base: &RowPrediction,
    horizon: &Horizon,
    covariance: &LogCovariance<4>,
) -> RowSpread {
    let mut d_orders = [0.0; 4];
    let mut d_discounted = [0.0; 4];
    for (g, discount) in gradient.iter().zip(&horizon.discount) {
        add_scaled(&mut d_orders, 1.0, g);
        add_scaled(&mut d_discounted, *discount, g);
    }
    RowSpread {
        ln_orders: relative(covariance.variance_along(&d_orders), base.expected_orders),
        ln_discounted: relative(
            covariance.variance_along(&d_discounted),
            base.discounted_orders,
        ),
    }
}

/// The scoring model and its four moved copies (each moved in one
/// log-parameter), evaluated: their P(alive) of each row and their
/// expected purchases if alive per (frequency, T) group, and the scoring
/// model's P(no purchase | alive) per group; and each row's customers.
struct Evaluated<'a> {
    p_alive: [RowsAlive<'a>; 5],
    customers: &'a [f64],
    alive: &'a AliveExpectations,
    none_if_alive: &'a [f64],
    groups: &'a AliveGroups,
}

impl<'a> Evaluated<'a> {
    fn new(
        models: &[PurchaseModel; 5],
        rows: &'a RfmRows,
        groups: &'a AliveGroups,
        figures: &'a GroupFigures,
    ) -> Evaluated<'a> {
        Evaluated {
            p_alive: models.each_ref().map(|model| model.rows_alive(rows)),
            customers: &rows.w,
            alive: &figures.alive,
            none_if_alive: &figures.none_if_alive,
            groups,
        }
    }
}

impl Evaluated<'_> {
    /// ∂(expected orders in month j)/∂ln θ_k of one row (its index and
    /// group), from its months under the scoring model (`base`), into
    /// `gradient` (NaN where a moved model cannot compute them); `months`
    /// is scratch space of the horizon's length.
    fn month_gradients(
        &self,
        (row, group): (usize, usize),
        base: &[f64],
        (gradient, months): (&mut [[f64; 4]], &mut [f64]),
    ) {
        for k in 0..4 {
            let alive = self.alive.of(group, k + 1);
            let (_, total) = expected_by_month(self.p_alive[k + 1].of(row), alive, months);
            for (j, g) in gradient.iter_mut().enumerate() {
                g[k] = match total {
                    Some(_) => (months[j] - base[j]) / LOG_STEP,
                    None => f64::NAN,
                };
            }
        }
    }
}

/// total += scale · part.
fn add_scaled<const N: usize>(total: &mut [f64; N], scale: f64, part: &[f64; N]) {
    for (t, p) in total.iter_mut().zip(part) {
        *t += scale * p;
    }
}

/// Each customer's intervals of expected orders and CLV from their row's
/// spread and, for the CLV, their order value's spend gradient.
pub(super) fn customer_intervals(
    predictions: &CustomerPredictions,
    spread: &[RowSpread],
    value_log_gradient: &(impl Fn(usize) -> [f64; 3] + Sync),
    uncertainty: &Uncertainty,
) -> PredictionIntervals {
    let z = uncertainty.z();
    let (expected_orders, clv) = (0..predictions.len())
        .into_par_iter()
        .map(|i| {
            let s = &spread[predictions.row_index(i)];
            let orders = log_scale_interval(predictions.expected_orders(i), s.ln_orders, z);
            let clv = match &uncertainty.spend {
                Some(spend) => {
                    let ln_value = spend.variance_along(&value_log_gradient(i));
                    log_scale_interval(predictions.clv(i), s.ln_discounted + ln_value, z)
                }
                None => [f64::NAN; 2],
            };
            (orders, clv)
        })
        .unzip();
    PredictionIntervals {
        expected_orders,
        clv,
        forecast: ForecastGradients::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::conditional_expected_order_value;

    /// The analytic gradient equals central differences of the order value
    /// itself, for a repeat buyer and for the population mean.
    #[test]
    fn order_value_gradient_matches_differences() {
        let params = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        for (x, m) in [(3.0, 42.5), (0.0, 0.0), (1.0, 7.0), (40.0, 120.0)] {
            let gradient = order_value_log_gradient(&params, x, m);
            let h = 1e-6;
            for k in 0..3 {
                let at = |step: f64| {
                    let mut theta = [params.p.ln(), params.q.ln(), params.gamma.ln()];
                    theta[k] += step;
                    let moved = GammaGammaParams {
                        p: theta[0].exp(),
                        q: theta[1].exp(),
                        gamma: theta[2].exp(),
                    };
                    conditional_expected_order_value(&moved, x, m).unwrap().ln()
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                assert!(
                    (numeric - gradient[k]).abs() < 1e-7,
                    "x={x} m={m} k={k}: {numeric} vs {}",
                    gradient[k]
                );
            }
        }
    }

    #[test]
    fn z_is_the_central_normal_quantile() {
        let covariance = LogCovariance::from_matrix([[1.0; 4]; 4]);
        let at = |level| {
            Uncertainty {
                purchase: covariance,
                spend: None,
                level,
            }
            .z()
        };
        // Reference quantiles of the standard normal (to 1e-12).
        assert!((at(0.8) - 1.2815515655446004).abs() < 1e-12);
        assert!((at(0.95) - 1.959963984540054).abs() < 1e-12);
    }

    #[test]
    fn intervals_are_null_not_zero_when_they_cannot_be_computed() {
        assert!(log_scale_interval(f64::NAN, 0.1, 1.0)[0].is_nan());
        assert!(log_scale_interval(2.0, f64::NAN, 1.0)[1].is_nan());
        assert!(log_scale_interval(2.0, f64::INFINITY, 1.0)[1].is_nan());
        assert_eq!(log_scale_interval(0.0, 0.3, 1.0), [0.0, 0.0]);
        let [low, high] = log_scale_interval(2.0, 0.01, 1.0);
        assert!(
            (low - 2.0 / 0.1f64.exp()).abs() < 1e-15 && (high - 2.0 * 0.1f64.exp()).abs() < 1e-15
        );
    }
}
