//! Per-customer predictions from a fitted purchase model and Gamma-Gamma.
//!
//! Everything that depends on (frequency, recency, T) is computed once per
//! unique row (in parallel) and joined back; only the order value, which
//! depends on (frequency, monetary value), is computed per customer.

use rayon::prelude::*;

use super::compress::{compress_rfm, gg_eligible, RfmRows};
use super::{
    conditional_expected_order_value, CustomerSummaryInput, GammaGammaParams, Prediction,
    PredictionSettings, PurchaseModel,
};

/// Row-level results (independent of spend).
struct RowPrediction {
    p_alive: f64,
    expected_orders: f64,
    by_month: std::sync::Arc<[f64]>,
    p_no_order: f64,
    /// `Σ_j by_month[j]/(1+d)^j`: CLV per unit of order value.
    discounted_orders: f64,
}

/// Replaces a non-finite value by `fallback`, for quantities whose fallback
/// is exact (a probability clamped to its range, a discount factor that
/// underflows). Expected orders never go through here: where they cannot be
/// computed they stay NaN and the pipeline publishes null.
fn finite_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        fallback
    }
}

fn predict_row(
    model: &PurchaseModel,
    x: f64,
    t_x: f64,
    t: f64,
    months: usize,
    month_days: f64,
    discount: &[f64],
) -> RowPrediction {
    let p_alive = finite_or(model.probability_alive(x, t_x, t), 1.0).clamp(0.0, 1.0);
    let mut by_month = Vec::with_capacity(months);
    let mut previous = 0.0;
    let mut discounted_orders = 0.0;
    for (j, disc) in discount.iter().enumerate() {
        let cumulative =
            p_alive * model.expected_purchases_if_alive(x, t, (j + 1) as f64 * month_days);
        if cumulative.is_nan() {
            return RowPrediction::uncomputable(p_alive, months, model, x, t, month_days);
        }
        // Cumulative expectations are non-decreasing in exact arithmetic;
        // clamp rounding noise so no month is negative.
        let cumulative = cumulative.max(previous);
        let month = cumulative - previous;
        by_month.push(month);
        discounted_orders += month * disc;
        previous = cumulative;
    }
    RowPrediction {
        p_alive,
        expected_orders: previous,
        by_month: by_month.into(),
        p_no_order: p_no_order(model, p_alive, x, t, months as f64 * month_days),
        discounted_orders,
    }
}

/// P(no purchase in `horizon` days): dropped out, or alive and none
/// (`PurchaseModel::p_no_purchase_if_alive`).
fn p_no_order(model: &PurchaseModel, p_alive: f64, x: f64, t: f64, horizon: f64) -> f64 {
    let p_none_if_alive = model.p_no_purchase_if_alive(x, t, horizon);
    finite_or((1.0 - p_alive) + p_alive * p_none_if_alive, 1.0).clamp(0.0, 1.0)
}

impl RowPrediction {
    /// A row whose expected orders cannot be computed (see
    /// `hyp2f1::expected_purchases_if_alive`): they and the CLV built on
    /// them are NaN, published as null; P(alive) and P(no order) have
    /// closed forms and stand.
    fn uncomputable(
        p_alive: f64,
        months: usize,
        model: &PurchaseModel,
        x: f64,
        t: f64,
        month_days: f64,
    ) -> RowPrediction {
        RowPrediction {
            p_alive,
            expected_orders: f64::NAN,
            by_month: vec![f64::NAN; months].into(),
            p_no_order: p_no_order(model, p_alive, x, t, months as f64 * month_days),
            discounted_orders: f64::NAN,
        }
    }
}

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
    input.assert_lengths();
    let model: PurchaseModel = model.into();
    let month_days = if settings.month_days.is_finite() && settings.month_days >= 0.0 {
        settings.month_days
    } else {
        0.0
    };
    let d = settings.discount_rate_monthly;
    let d = if d.is_finite() && d > -1.0 { d } else { 0.0 };
    let months = settings.horizon_months as usize;
    let discount: Vec<f64> = (1..=months)
        .map(|j| finite_or((1.0 + d).powf(-(j as f64)), 0.0))
        .collect();

    let (rows, customer_row): (RfmRows, Vec<u32>) = compress_rfm(input);
    let row_preds: Vec<RowPrediction> = (0..rows.len())
        .into_par_iter()
        .map(|i| {
            predict_row(
                &model,
                rows.x[i],
                rows.t_x[i],
                rows.t[i],
                months,
                month_days,
                &discount,
            )
        })
        .collect();

    let repeat_mean = repeat_buyer_mean(input);
    let gg = gg.filter(|g| g.is_valid());
    let population = gg.and_then(|g| g.population_mean()).unwrap_or(repeat_mean);

    customer_row
        .par_iter()
        .enumerate()
        .map(|(i, &row)| {
            let rp = &row_preds[row as usize];
            let (x, m) = (input.frequency[i], input.monetary_value[i]);
            let aov = match gg {
                None => repeat_mean,
                Some(g) if gg_eligible(x, m) => {
                    conditional_expected_order_value(g, x as f64, m).unwrap_or(m)
                }
                Some(_) => population,
            };
            let aov = finite_or(aov, 0.0);
            Prediction {
                p_alive: rp.p_alive,
                expected_orders: rp.expected_orders,
                expected_orders_by_month: rp.by_month.clone(),
                p_no_order: rp.p_no_order,
                expected_avg_order_value: aov,
                // NaN exactly when the expected orders are (aov is finite).
                clv: aov * rp.discounted_orders,
            }
        })
        .collect()
}

/// Mean monetary value over customers with frequency > 0 and a usable
/// monetary value; 0 when there are none.
fn repeat_buyer_mean(input: &CustomerSummaryInput) -> f64 {
    let (sum, n) = input
        .frequency
        .iter()
        .zip(input.monetary_value)
        .filter(|(&x, &m)| gg_eligible(x, m))
        .fold((0.0, 0u64), |(s, n), (_, &m)| (s + m, n + 1));
    if n == 0 {
        0.0
    } else {
        finite_or(sum / n as f64, 0.0)
    }
}
