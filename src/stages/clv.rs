//! CLV stage: fits BG/NBD and Gamma-Gamma on the customers summary, scores
//! every customer, validates on a holdout, and computes the simple CLV.
//!
//! Outputs: the CLV columns of `customers` (p_alive, expected_orders,
//! expected_avg_order_value, clv, clv_simple), the fit reports behind
//! `clv_model` (one row per model × parameter), the holdout validation
//! behind `clv_validation` (overall and by calibration frequency bucket
//! 0 … 6, 7+) and the forecast behind `clv_forecast`; their frames are
//! built in `tables::clv`.
//!
//! Holdout: the models are refitted on the history up to
//! `as_of − holdout_days` (the calibration period) and predict each
//! calibration customer's repeat order days in the holdout; the actual
//! count is the customer's distinct order days in the holdout (the model's
//! unit: BG/NBD counts purchases in daily periods).

use crate::clv::{
    fit_bgnbd, fit_bgnbd_from, fit_gamma_gamma, fit_gamma_gamma_from, predict, BgNbdParams,
    CustomerSummaryInput, FitReport, GammaGammaParams, Prediction, PredictionSettings,
};
use crate::config::ClvConfig;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::CustomerSummary;
use crate::stages::kpis::MonthlyCounts;
use crate::stages::orders::OrderHistory;
use crate::tables::schema::values::money;

/// Days in a month of the CLV horizon (365.25 / 12), SPEC §4.
pub const MONTH_DAYS: f64 = 30.4375;

/// Simple CLV: assume at least a month of observation before extrapolating
/// a purchase rate, and at most ten years of expected lifespan.
const MIN_OBSERVED_DAYS: f64 = 30.4375;
const MAX_LIFESPAN_YEARS: f64 = 10.0;

/// Everything the CLV stage publishes.
pub struct ClvOutput {
    pub scores: ClvScores,
    /// The holdout validation (`clv_validation`).
    pub validation: HoldoutValidation,
    /// Expected orders and revenue per month of the horizon, all customers
    /// (`clv_forecast`).
    pub forecast: Forecast,
    /// Fit reports of the full-history fits, BG/NBD then Gamma-Gamma
    /// (`clv_model`; for logs and the manifest).
    pub fits: Vec<FitReport>,
    /// Customers whose expected orders and CLV could not be computed and
    /// are published as null.
    pub uncomputable: usize,
}

fn monetary(summary: &CustomerSummary) -> Vec<f64> {
    summary
        .repeat_cents
        .iter()
        .zip(&summary.frequency)
        .map(|(&cents, &f)| if f > 0 { money(cents) / f as f64 } else { 0.0 })
        .collect()
}

/// Fits both models, from the default start or, for a refit on related
/// data, from `earlier` fits (BG/NBD, Gamma-Gamma). Gamma-Gamma is used for
/// predictions only when it was fitted on at least one customer and its
/// parameters are usable (finite, q > 1 so the population mean exists).
fn fit_models(
    input: &CustomerSummaryInput,
    earlier: Option<(&FitReport, &FitReport)>,
) -> (BgNbdParams, FitReport, Option<GammaGammaParams>, FitReport) {
    let ((bg, bg_report), (gg, gg_report)) = match earlier {
        None => (fit_bgnbd(input), fit_gamma_gamma(input)),
        Some((bg, gg)) => (fit_bgnbd_from(input, bg), fit_gamma_gamma_from(input, gg)),
    };
    // Without a single repeat buyer there is nothing fitted: the returned
    // point is the optimizer's start, not an estimate.
    let gg_usable =
        (gg_report.customers > 0 && gg.is_valid() && gg.population_mean().is_some()).then_some(gg);
    (bg, bg_report, gg_usable, gg_report)
}

fn warn_if_not_converged(report: &FitReport, what: &str) {
    if !report.converged {
        tracing::warn!(
            model = report.model,
            iterations = report.iterations,
            gradient_norm = report.gradient_norm,
            "{what}: the fit did not converge; its best parameters are used and published with converged = false"
        );
    }
    if on_the_homogeneous_boundary(report) {
        tracing::warn!(
            model = report.model,
            "{what}: the likelihood's optimum is on its boundary (a and b without bound, a/(a+b) fixed: every customer with the same dropout probability), as on short or small histories; a and b are a point on that ridge, and the predictions are those of the limit to within 1/a"
        );
    }
}

/// How a fit ended, as `clv_model.fit_status` publishes it.
pub fn fit_status(report: &FitReport) -> &'static str {
    if report.customers == 0 {
        "not_fitted"
    } else if report.converged {
        "converged"
    } else if on_the_homogeneous_boundary(report) {
        "on_boundary"
    } else {
        "not_converged"
    }
}

/// Whether a BG/NBD fit ran off along a, b → ∞ (a/(a+b) fixed): both past
/// 10⁴, where the Beta(a, b) mixing distribution is narrower than 1 % of
/// its mean.
fn on_the_homogeneous_boundary(report: &FitReport) -> bool {
    let value = |name: &str| {
        report
            .parameters
            .iter()
            .find(|(parameter, _, _)| *parameter == name)
            .map(|(_, value, _)| *value)
    };
    report.model == "bg_nbd"
        && !report.converged
        && value("a").is_some_and(|a| a > 1e4)
        && value("b").is_some_and(|b| b > 1e4)
}

/// Runs the CLV stage.
pub fn clv_stage(
    history: &OrderHistory,
    summary: &CustomerSummary,
    monthly: &MonthlyCounts,
    config: &ClvConfig,
) -> ClvOutput {
    let monetary_value = monetary(summary);
    let input = CustomerSummaryInput {
        frequency: &summary.frequency,
        recency_days: &summary.recency_days,
        tenure_days: &summary.tenure_days,
        monetary_value: &monetary_value,
    };
    let clock = std::time::Instant::now();
    let (bg, bg_report, gg, gg_report) = fit_models(&input, None);
    tracing::debug!(seconds = clock.elapsed().as_secs_f64(), "clv fits");
    warn_if_not_converged(&bg_report, "BG/NBD");
    warn_if_not_converged(&gg_report, "Gamma-Gamma");
    let settings = PredictionSettings {
        horizon_months: config.horizon_months,
        month_days: MONTH_DAYS,
        discount_rate_monthly: config.discount_rate_monthly,
    };
    let clock = std::time::Instant::now();
    let mut predictions = predict(&bg, gg.as_ref(), &input, &settings);
    if gg.is_none() && !summary.frequency.iter().any(|&f| f > 0) {
        // No repeat buyer at all: no spend model and no repeat spend to
        // average. The plain average order value is the honest guess.
        let orders: i64 = summary.orders.iter().sum();
        let aov = money(summary.revenue_cents.iter().sum()) / orders.max(1) as f64;
        for p in &mut predictions {
            p.expected_avg_order_value = aov;
            p.clv = p
                .expected_orders_by_month
                .iter()
                .enumerate()
                .map(|(j, n)| n * aov / (1.0 + settings.discount_rate_monthly).powi(j as i32 + 1))
                .sum();
        }
    }
    tracing::debug!(seconds = clock.elapsed().as_secs_f64(), "clv predictions");
    let scores = scores(&predictions, summary, monthly);
    let uncomputable = scores
        .expected_orders
        .iter()
        .filter(|e| e.is_none())
        .count();
    if uncomputable > 0 {
        tracing::warn!(
            customers = uncomputable,
            "CLV: the BG/NBD expected orders of these customers cannot be computed at the fitted parameters (see clv_model); their expected_orders and clv are null, and the forecast months they would add to are null"
        );
    }
    let forecast = forecast(&predictions, &settings);
    let clock = std::time::Instant::now();
    let validation = validation(history, config.holdout_days, (&bg_report, &gg_report));
    tracing::debug!(
        seconds = clock.elapsed().as_secs_f64(),
        "clv holdout validation"
    );
    ClvOutput {
        scores,
        validation,
        forecast,
        fits: vec![bg_report, gg_report],
        uncomputable,
    }
}

/// Turns predictions into columns. Expected orders and CLV that could not
/// be computed (NaN) become `None`, published as null. The other three
/// have closed forms that are finite by construction (`clv::predict`).
fn scores(
    predictions: &[Prediction],
    summary: &CustomerSummary,
    monthly: &MonthlyCounts,
) -> ClvScores {
    let computed = |x: f64| x.is_finite().then_some(x);
    let lifespan = expected_lifespan_years(monthly);
    debug_assert!(predictions.iter().all(|p| {
        p.p_alive.is_finite() && p.p_no_order.is_finite() && p.expected_avg_order_value.is_finite()
    }));
    ClvScores {
        p_alive: predictions.iter().map(|p| p.p_alive).collect(),
        expected_orders: predictions
            .iter()
            .map(|p| computed(p.expected_orders))
            .collect(),
        p_no_order: predictions.iter().map(|p| p.p_no_order).collect(),
        expected_avg_order_value: predictions
            .iter()
            .map(|p| p.expected_avg_order_value)
            .collect(),
        clv: predictions.iter().map(|p| computed(p.clv)).collect(),
        clv_simple: (0..summary.orders.len())
            .map(|i| {
                let orders = summary.orders[i] as f64;
                let aov = money(summary.revenue_cents[i]) / orders;
                let observed = (summary.tenure_days[i] as f64).max(MIN_OBSERVED_DAYS);
                let per_year = orders * 365.25 / observed;
                lifespan.map(|years| aov * per_year * years)
            })
            .collect(),
    }
}

/// Expected customer lifespan in years for the simple CLV: 1 / annual
/// churn, where annual churn = 1 − (1 − m)^12 and m is the pooled monthly
/// churn rate (Σ churned / Σ customers at month start) over the last twelve
/// complete months; capped at ten years; `None` when no month had
/// customers at its start.
pub fn expected_lifespan_years(monthly: &MonthlyCounts) -> Option<f64> {
    // The last month is as_of's month; it is complete only when as_of is a
    // month end, and the caller's counts do not say, so it is left out.
    let months = monthly.customers_start.len();
    let last_complete = months.saturating_sub(1);
    let first = last_complete.saturating_sub(12);
    let (mut churned, mut start) = (0i64, 0i64);
    for m in first..last_complete {
        churned += monthly.churned(m);
        start += monthly.customers_start[m];
    }
    if start == 0 {
        return None;
    }
    let monthly_churn = churned as f64 / start as f64;
    let annual_churn = 1.0 - (1.0 - monthly_churn).powi(12);
    Some(if annual_churn > 0.0 {
        (1.0 / annual_churn).min(MAX_LIFESPAN_YEARS)
    } else {
        MAX_LIFESPAN_YEARS
    })
}

/// The horizon's months summed over all customers (`clv_forecast`).
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Days in a month of the horizon: month j runs from (j − 1)·month_days
    /// to j·month_days after as_of.
    pub month_days: f64,
    /// Per month j = 1 … horizon: expected orders of all customers; `None`
    /// when some customer's cannot be computed (a sum without them would
    /// be a wrong number).
    pub expected_orders: Vec<Option<f64>>,
    /// Per month: expected orders × each customer's expected order value.
    pub expected_revenue: Vec<Option<f64>>,
    /// Per month j: expected revenue / (1 + d)^j.
    pub discounted_revenue: Vec<Option<f64>>,
}

/// One row per month j of the horizon (days (j − 1)·30.4375 to
/// j·30.4375 after as_of): expected orders of all customers, expected
/// revenue (× each customer's expected order value), and that revenue
/// discounted by (1 + d)^j. Summed in customer order, so the result is the
/// same on every run.
fn forecast(predictions: &[Prediction], settings: &PredictionSettings) -> Forecast {
    let months = settings.horizon_months as usize;
    let mut orders = vec![0.0f64; months];
    let mut revenue = vec![0.0f64; months];
    for p in predictions {
        let value = p.expected_avg_order_value;
        for (j, &n) in p.expected_orders_by_month.iter().enumerate().take(months) {
            // A NaN month makes the total NaN: published as null.
            orders[j] += n;
            revenue[j] += n * value;
        }
    }
    let computed = |x: f64| x.is_finite().then_some(x);
    let discounted = (0..months)
        .map(|j| computed(revenue[j] / (1.0 + settings.discount_rate_monthly).powi(j as i32 + 1)))
        .collect();
    Forecast {
        month_days: settings.month_days,
        expected_orders: orders.into_iter().map(computed).collect(),
        expected_revenue: revenue.into_iter().map(computed).collect(),
        discounted_revenue: discounted,
    }
}

/// The calibration summary of one customer (orders up to `cal_end`) and
/// its order days in the holdout, or `None` when the customer's first
/// order is after `cal_end`.
fn calibration_row(days: &[i32], cents: &[i64], cal_end: i32) -> Option<(i64, i64, i64, f64, i64)> {
    let mut order_days: Vec<i32> = Vec::new();
    let mut holdout_days = 0i64;
    let mut last_holdout_day = None;
    let mut repeat_cents = 0i64;
    for (&d, &c) in days.iter().zip(cents) {
        if c < 0 {
            continue;
        }
        if d <= cal_end {
            if order_days.last() != Some(&d) {
                order_days.push(d);
            }
            if d != order_days[0] {
                repeat_cents += c;
            }
        } else if last_holdout_day != Some(d) {
            holdout_days += 1;
            last_holdout_day = Some(d);
        }
    }
    let first = *order_days.first()?;
    let last = *order_days.last()?;
    let frequency = order_days.len() as i64 - 1;
    let monetary = if frequency > 0 {
        money(repeat_cents) / frequency as f64
    } else {
        0.0
    };
    Some((
        frequency,
        (last - first) as i64,
        (cal_end - first) as i64,
        monetary,
        holdout_days,
    ))
}

/// The holdout validation (`clv_validation`): the models refitted on the
/// calibration period, their predictions for the holdout compared with
/// what happened, overall and by calibration frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutValidation {
    pub holdout_days: u32,
    /// The calibration period's last day (as_of − holdout_days).
    pub calibration_end: i32,
    /// "overall", then calibration frequency 0 … 6 and 7+.
    pub buckets: Vec<BucketFit>,
}

/// How the holdout predictions of one bucket of customers compare.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketFit {
    pub label: &'static str,
    pub customers: i64,
    /// Σ distinct order days in the holdout.
    pub actual_orders: f64,
    /// Σ predicted repeat order days in the holdout.
    pub predicted_orders: f64,
    /// Mean absolute error; `None` for an empty bucket.
    pub mae: Option<f64>,
    /// Root mean square error; `None` for an empty bucket.
    pub rmse: Option<f64>,
    /// (Σ predicted − Σ actual) / Σ actual; `None` when Σ actual is 0.
    pub relative_bias: Option<f64>,
}

/// Each calibration customer's frequency, actual and predicted holdout
/// order days, in customer order.
struct HoldoutRows {
    frequency: Vec<i64>,
    actual: Vec<f64>,
    predicted: Vec<f64>,
}

/// Refit on the calibration period, predict the holdout. The refit starts
/// from the full fit (`fits`), whose optimum is close.
fn validation(
    history: &OrderHistory,
    holdout_days: u32,
    fits: (&FitReport, &FitReport),
) -> HoldoutValidation {
    let calibration_end = history.as_of - holdout_days as i32;
    let rows = holdout_rows(history, holdout_days, calibration_end, fits);
    HoldoutValidation {
        holdout_days,
        calibration_end,
        buckets: bucket_fits(&rows),
    }
}

/// The calibration customers' summaries, refit and holdout predictions.
fn holdout_rows(
    history: &OrderHistory,
    holdout_days: u32,
    cal_end: i32,
    fits: (&FitReport, &FitReport),
) -> HoldoutRows {
    let rows: Vec<(i64, i64, i64, f64, i64)> = (0..history.customers())
        .filter_map(|c| {
            let (days, cents) = history.of(c);
            calibration_row(days, cents, cal_end)
        })
        .collect();
    let frequency: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let recency: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let tenure: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let monetary: Vec<f64> = rows.iter().map(|r| r.3).collect();
    let actual: Vec<f64> = rows.iter().map(|r| r.4 as f64).collect();
    let input = CustomerSummaryInput {
        frequency: &frequency,
        recency_days: &recency,
        tenure_days: &tenure,
        monetary_value: &monetary,
    };
    let predicted = if rows.is_empty() {
        Vec::new()
    } else {
        holdout_predictions(&input, holdout_days, fits)
    };
    let mut holdout = HoldoutRows {
        frequency,
        actual,
        predicted,
    };
    holdout.leave_out_uncomputable();
    holdout
}

impl HoldoutRows {
    /// Leaves out the customers whose holdout prediction cannot be computed
    /// (NaN), with a warning: the validation is of the others.
    fn leave_out_uncomputable(&mut self) {
        let keep: Vec<bool> = self.predicted.iter().map(|p| p.is_finite()).collect();
        let left_out = keep.iter().filter(|k| !**k).count();
        if left_out == 0 {
            return;
        }
        tracing::warn!(
            customers = left_out,
            "CLV holdout validation: these customers' holdout predictions cannot be computed at the calibration fit's parameters; clv_validation leaves them out"
        );
        fn kept<T: Copy>(values: &[T], keep: &[bool]) -> Vec<T> {
            values
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| *v)
                .collect()
        }
        self.frequency = kept(&self.frequency, &keep);
        self.actual = kept(&self.actual, &keep);
        self.predicted = kept(&self.predicted, &keep);
    }
}

/// Expected repeat order days in the holdout of each calibration customer
/// (`input`), by models refitted on the calibration period.
fn holdout_predictions(
    input: &CustomerSummaryInput,
    holdout_days: u32,
    fits: (&FitReport, &FitReport),
) -> Vec<f64> {
    let clock = std::time::Instant::now();
    let (bg, bg_report, gg, _) = fit_models(input, Some(fits));
    tracing::debug!(
        seconds = clock.elapsed().as_secs_f64(),
        iterations = bg_report.iterations,
        "calibration fits"
    );
    warn_if_not_converged(&bg_report, "BG/NBD (calibration)");
    // One "month" of exactly the holdout's length: expected orders in it.
    let settings = PredictionSettings {
        horizon_months: 1,
        month_days: holdout_days as f64,
        discount_rate_monthly: 0.0,
    };
    // NaN where a customer's prediction cannot be computed: such customers
    // are left out of the validation (`holdout_rows`).
    predict(&bg, gg.as_ref(), input, &settings)
        .iter()
        .map(|p| p.expected_orders)
        .collect()
}

/// "overall", then calibration frequency 0 … 6 and 7+; nothing at all when
/// no customer had ordered by the calibration end (a holdout as long as the
/// history or longer): there is no validation then, not one of zeros.
fn bucket_fits(rows: &HoldoutRows) -> Vec<BucketFit> {
    const LABELS: [&str; 9] = ["overall", "0", "1", "2", "3", "4", "5", "6", "7+"];
    if rows.frequency.is_empty() {
        tracing::warn!(
            "CLV holdout validation: no customer ordered before the calibration end (as_of minus holdout_days); clv_validation is empty"
        );
        return Vec::new();
    }
    let (frequency, actual, predicted) = (&rows.frequency, &rows.actual, &rows.predicted);
    let in_bucket = |b: usize, f: i64| b == 0 || (f.min(7) + 1) as usize == b;
    LABELS
        .iter()
        .enumerate()
        .map(|(b, &label)| {
            let members: Vec<usize> = (0..frequency.len())
                .filter(|&i| in_bucket(b, frequency[i]))
                .collect();
            let n = members.len();
            // Folded from +0.0: an empty bucket sums to 0, not to the −0.0
            // an empty f64 sum gives.
            let a = members.iter().fold(0.0, |s, &i| s + actual[i]);
            let p = members.iter().fold(0.0, |s, &i| s + predicted[i]);
            let abs: f64 = members
                .iter()
                .map(|&i| (predicted[i] - actual[i]).abs())
                .sum();
            let sq: f64 = members
                .iter()
                .map(|&i| (predicted[i] - actual[i]).powi(2))
                .sum();
            BucketFit {
                label,
                customers: n as i64,
                actual_orders: a,
                predicted_orders: p,
                mae: (n > 0).then(|| abs / n as f64),
                rmse: (n > 0).then(|| (sq / n as f64).sqrt()),
                relative_bias: (a > 0.0).then(|| (p - a) / a),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_row_splits_at_the_cutoff() {
        // Orders on days 10, 10, 20 (refund on 25), 40, 41, 41; cutoff 30.
        let days = [10, 10, 20, 25, 40, 41, 41];
        let cents = [500, 100, 300, -50, 200, 100, 100];
        let (f, r, t, m, h) = calibration_row(&days, &cents, 30).unwrap();
        assert_eq!((f, r, t, h), (1, 10, 20, 2));
        assert!((m - 3.0).abs() < 1e-12);
        assert!(calibration_row(&[40], &[100], 30).is_none());
    }

    #[test]
    fn validation_without_calibration_customers_is_empty_and_empty_buckets_are_plus_zero() {
        let none = HoldoutRows {
            frequency: Vec::new(),
            actual: Vec::new(),
            predicted: Vec::new(),
        };
        assert!(bucket_fits(&none).is_empty());
        // One customer with frequency 2: every other bucket is empty.
        let one = HoldoutRows {
            frequency: vec![2],
            actual: vec![1.0],
            predicted: vec![0.5],
        };
        let buckets = bucket_fits(&one);
        assert_eq!(buckets.len(), 9);
        for b in buckets.iter().filter(|b| b.customers == 0) {
            assert!(b.actual_orders == 0.0 && b.actual_orders.is_sign_positive());
            assert!(b.predicted_orders == 0.0 && b.predicted_orders.is_sign_positive());
            assert_eq!((b.mae, b.rmse, b.relative_bias), (None, None, None));
        }
    }

    /// A customer whose expected orders could not be computed (NaN from
    /// `clv::predict`) is null in the scores and makes the forecast months
    /// null; nothing becomes 0.
    #[test]
    fn uncomputable_predictions_are_null_not_zero() {
        let prediction = |orders: f64| Prediction {
            p_alive: 0.5,
            expected_orders: orders,
            expected_orders_by_month: vec![orders / 2.0; 2].into(),
            p_no_order: 0.4,
            expected_avg_order_value: 10.0,
            clv: orders * 10.0,
        };
        let predictions = [prediction(2.0), prediction(f64::NAN)];
        let summary = CustomerSummary {
            orders: vec![2, 1],
            revenue_cents: vec![2_000, 1_000],
            tenure_days: vec![100, 50],
            ..Default::default()
        };
        let monthly = MonthlyCounts {
            customers_start: vec![0],
            customers_end: vec![2],
            new_customers: vec![2],
            retained: vec![0],
            purchasing_customers: vec![2],
            orders: vec![3],
            revenue_cents: vec![3_000],
            returning_customers: vec![0],
        };
        let scores = scores(&predictions, &summary, &monthly);
        assert_eq!(scores.expected_orders, vec![Some(2.0), None]);
        assert_eq!(scores.clv, vec![Some(20.0), None]);
        assert_eq!(scores.p_alive, vec![0.5, 0.5]);
        let settings = PredictionSettings {
            horizon_months: 2,
            month_days: MONTH_DAYS,
            discount_rate_monthly: 0.0,
        };
        let forecast = forecast(&predictions, &settings);
        assert_eq!(forecast.expected_orders, vec![None, None]);
        assert_eq!(forecast.discounted_revenue, vec![None, None]);
        let forecast = super::forecast(&predictions[..1], &settings);
        assert_eq!(forecast.expected_revenue, vec![Some(10.0), Some(10.0)]);
        assert_eq!(forecast.expected_orders, vec![Some(1.0), Some(1.0)]);
    }

    #[test]
    fn a_fit_running_off_along_a_and_b_is_named_as_on_the_boundary() {
        let report = |a: f64, b: f64, converged: bool| FitReport {
            model: "bg_nbd",
            parameters: vec![
                ("r", 0.7, None),
                ("alpha", 50.0, None),
                ("a", a, None),
                ("b", b, None),
            ],
            log_likelihood: -100.0,
            customers: 102,
            iterations: 60,
            gradient_norm: 1e-6,
            converged,
            inverse_hessian: None,
        };
        assert!(on_the_homogeneous_boundary(&report(1.9e6, 4.9e6, false)));
        assert!(!on_the_homogeneous_boundary(&report(1.9e6, 4.9e6, true)));
        assert!(!on_the_homogeneous_boundary(&report(0.8, 2.4, false)));
        assert!(!on_the_homogeneous_boundary(&report(1.9e6, 3.0, false)));
        assert_eq!(fit_status(&report(1.9e6, 4.9e6, false)), "on_boundary");
        assert_eq!(fit_status(&report(0.8, 2.4, false)), "not_converged");
        assert_eq!(fit_status(&report(0.8, 2.4, true)), "converged");
        let unfitted = FitReport {
            customers: 0,
            ..report(0.8, 2.4, false)
        };
        assert_eq!(fit_status(&unfitted), "not_fitted");
    }

    #[test]
    fn customers_without_a_holdout_prediction_are_left_out_of_the_validation() {
        let mut rows = HoldoutRows {
            frequency: vec![0, 1, 2],
            actual: vec![1.0, 2.0, 3.0],
            predicted: vec![0.5, f64::NAN, 2.5],
        };
        rows.leave_out_uncomputable();
        assert_eq!(rows.frequency, [0, 2]);
        assert_eq!(rows.actual, [1.0, 3.0]);
        assert_eq!(rows.predicted, [0.5, 2.5]);
    }

    #[test]
    fn lifespan_from_pooled_churn() {
        let monthly = MonthlyCounts {
            customers_start: vec![0, 100, 100, 100],
            customers_end: vec![100, 100, 100, 100],
            new_customers: vec![100, 10, 10, 10],
            retained: vec![0, 90, 90, 90],
            purchasing_customers: vec![0; 4],
            orders: vec![0; 4],
            revenue_cents: vec![0; 4],
            returning_customers: vec![0; 4],
        };
        // Months 0..=2 counted (the last is as_of's own): churn 20 / 200.
        let years = expected_lifespan_years(&monthly).unwrap();
        let annual = 1.0 - 0.9f64.powi(12);
        assert!((years - 1.0 / annual).abs() < 1e-12);
    }
}
