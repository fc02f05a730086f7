//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV";
//! Hardie's note 025): likelihood, fit and conditional expected order value.
//!
//! Per customer, order values are Gamma(p, ν); across customers
//! ν ~ Gamma(q, γ). The mean m of a customer's x repeat orders then has the
//! density (note 025, eq. 1a)
//!
//! ```text
//! f(m | x) = Γ(px+q) / (Γ(px)Γ(q)) · γ^q · m^(px−1) · x^(px) / (γ + m·x)^(px+q)
//! ```
//!
//! whose log is evaluated as
//! lnΓ(px+q) − lnΓ(px) − lnΓ(q) − q·ln1p(mx/γ) − px·ln1p(γ/(mx)) − ln m,
//! algebraically the same but without the cancelling large logs.

use statrs::function::gamma::{digamma, ln_gamma};

use super::compress::{compress_spend, SpendRows};
use super::optimize::{chunked_sum, fit_penalized, subsample_start, warm_start, AtOptimum};
use super::{CustomerSummaryInput, FitReport, GammaGammaParams};

/// Parameter names as published in `clv_model`.
const NAMES: [&str; 3] = ["p", "q", "gamma"];

/// Log-density of a customer's mean repeat order value `m` given `x` repeat
/// orders. Returns −∞ (density 0) for parameters outside the domain or data
/// outside the model's support (x ≤ 0, m ≤ 0, non-finite); never NaN.
pub fn gamma_gamma_log_likelihood(params: &GammaGammaParams, x: f64, m: f64) -> f64 {
    let data_ok = x > 0.0 && x.is_finite() && m > 0.0 && m.is_finite();
    if !(params.is_valid() && data_ok) {
        return f64::NEG_INFINITY;
    }
    let GammaGammaParams { p, q, gamma } = *params;
    let px = p * x;
    let u = m * x;
    let ll = ln_gamma(px + q)
        - ln_gamma(px)
        - ln_gamma(q)
        - q * (u / gamma).ln_1p()
        - px * (gamma / u).ln_1p()
        - m.ln();
    if ll.is_nan() {
        f64::NEG_INFINITY
    } else {
        ll
    }
}

/// Expected value of a future order: for x > 0 and m > 0 the posterior mean
/// (γ + m·x)·p/(p·x + q − 1) (a credibility-weighted blend of the customer's
/// own mean and the population mean); for x = 0 (or no usable m) the
/// population mean p·γ/(q−1). `None` where that expectation does not exist
/// (q−1+px ≤ 0, resp. q ≤ 1) or the parameters are invalid.
pub fn conditional_expected_order_value(params: &GammaGammaParams, x: f64, m: f64) -> Option<f64> {
    if !params.is_valid() {
        return None;
    }
    if x > 0.0 && m.is_finite() && m > 0.0 {
        let denom = params.p * x + params.q - 1.0;
        let v = (params.gamma + m * x) * params.p / denom;
        (denom > 0.0 && v.is_finite()).then_some(v)
    } else {
        params.population_mean()
    }
}

/// Mean negative log-likelihood over the compressed rows and its gradient
/// with respect to θ = (ln p, ln q, ln γ). With u = m·x:
///
/// ```text
/// ∂ℓ/∂p = x·(ψ(px+q) − ψ(px) − ln1p(γ/u))
/// ∂ℓ/∂q = ψ(px+q) − ψ(q) − ln1p(u/γ)
/// ∂ℓ/∂γ = x·(q·m − p·γ) / (γ·(γ+u))
/// ```
pub(crate) fn mean_nll(rows: &SpendRows, theta: &[f64; 3]) -> (f64, [f64; 3]) {
    let [p, q, gamma] = theta.map(f64::exp);
    let bad = (f64::INFINITY, [f64::NAN; 3]);
    if ![p, q, gamma].iter().all(|v| v.is_finite() && *v > 0.0) || rows.total_w <= 0.0 {
        return bad;
    }
    let (lg_q, dg_q) = (ln_gamma(q), digamma(q));
    let (mut ll, mut gp, mut gq) = (0.0, 0.0, 0.0);
    for (&x, &w) in rows.xs.iter().zip(&rows.xs_w) {
        let px = p * x;
        ll += w * (ln_gamma(px + q) - ln_gamma(px) - lg_q);
        let dg = digamma(px + q);
        gp += w * x * (dg - digamma(px));
        gq += w * (dg - dg_q);
    }
    let ln_g = gamma.ln();
    let sums = chunked_sum::<4, _>(rows.len(), |range| {
        let mut s = [0.0; 4];
        for i in range {
            let (x, m, w) = (rows.x[i], rows.m[i], rows.w[i]);
            let u = m * x;
            // ln(1+u/γ) and ln(1+γ/u) differ by ln(u/γ): take ln1p of the
            // smaller ratio (accurate) and add the difference to get the
            // larger (well conditioned, both terms positive).
            let (l_ug, l_gu) = if u > gamma {
                let l_gu = (gamma / u).ln_1p();
                (l_gu + (rows.ln_u[i] - ln_g), l_gu)
            } else {
                let l_ug = (u / gamma).ln_1p();
                (l_ug, l_ug + (ln_g - rows.ln_u[i]))
            };
            s[0] += w * (-q * l_ug - p * x * l_gu);
            s[1] += w * (-x * l_gu);
            s[2] += w * (-l_ug);
            // Already multiplied by γ (log-parameter chain rule).
            s[3] += w * x * (q * m - p * gamma) / (gamma + u);
        }
        s
    });
    ll += sums[0] - rows.sum_w_ln_m;
    gp += sums[1];
    gq += sums[2];
    let total = rows.total_w;
    let grad = [gp * p, gq * q, sums[3]].map(|g| -g / total);
    (-ll / total, grad)
}

/// Start values: p = 1, q = 2 and γ = mean m, so the population mean p·γ/(q−1)
/// starts at the observed mean.
fn start_values(rows: &SpendRows) -> GammaGammaParams {
    let gamma = if rows.mean_m.is_finite() && rows.mean_m > 0.0 {
        rows.mean_m
    } else {
        1.0
    };
    GammaGammaParams {
        p: 1.0,
        q: 2.0,
        gamma,
    }
}

/// Fits Gamma-Gamma by maximum likelihood on the customers with
/// frequency > 0 and a finite monetary value > 0, compressed to unique
/// (frequency, monetary) rows.
///
/// With no such customer the start values are returned with
/// `converged = false`, `customers = 0`: pass `None` to [`super::predict()`]
/// then, so everyone gets the observed mean order value instead.
///
/// # Panics
/// If the input's columns have different lengths.
pub fn fit_gamma_gamma(input: &CustomerSummaryInput) -> (GammaGammaParams, FitReport) {
    fit_gamma_gamma_with(input, 0.0, None)
}

/// [`fit_gamma_gamma`] started from an earlier fit on related data (see
/// [`super::fit_bgnbd_from`]).
pub fn fit_gamma_gamma_from(
    input: &CustomerSummaryInput,
    earlier: &FitReport,
) -> (GammaGammaParams, FitReport) {
    fit_gamma_gamma_with(input, 0.0, Some(earlier))
}

/// [`fit_gamma_gamma`] with an L2 `penalizer` on the log-parameters (0 =
/// none) and, with `earlier` (a converged Gamma-Gamma fit on related data),
/// a warm start from its point and curvature.
///
/// # Panics
/// If the input's columns have different lengths.
pub fn fit_gamma_gamma_with(
    input: &CustomerSummaryInput,
    penalizer: f64,
    earlier: Option<&FitReport>,
) -> (GammaGammaParams, FitReport) {
    input.assert_lengths();
    fit_spend_rows(&compress_spend(input), penalizer, earlier)
}

/// [`fit_gamma_gamma_with`] on the unique (x, m) rows alone.
pub(crate) fn fit_spend_rows(
    rows: &SpendRows,
    penalizer: f64,
    earlier: Option<&FitReport>,
) -> (GammaGammaParams, FitReport) {
    match earlier
        .filter(|e| e.model == "gamma_gamma")
        .and_then(warm_start::<3>)
        .or_else(|| {
            // Spend rows hardly compress (an order value is nearly unique).
            subsample_start::<3>(rows.len(), |step| {
                fit_rows_penalized(&rows.every(step), None, penalizer).1
            })
        }) {
        Some((theta, hinv)) => fit(rows, theta, Some(hinv), penalizer),
        None => fit_rows_penalized(rows, None, penalizer),
    }
}

/// Fit on compressed rows from `start` (or the default start values), for
/// tests that start from chosen points.
#[cfg(test)]
pub(crate) fn fit_rows(
    rows: &SpendRows,
    start: Option<GammaGammaParams>,
) -> (GammaGammaParams, FitReport) {
    fit_rows_penalized(rows, start, 0.0)
}

fn fit_rows_penalized(
    rows: &SpendRows,
    start: Option<GammaGammaParams>,
    penalizer: f64,
) -> (GammaGammaParams, FitReport) {
    let s = start.unwrap_or_else(|| start_values(rows));
    fit(rows, [s.p, s.q, s.gamma].map(f64::ln), None, penalizer)
}

fn fit(
    rows: &SpendRows,
    theta: [f64; 3],
    curvature: Option<[[f64; 3]; 3]>,
    penalizer: f64,
) -> (GammaGammaParams, FitReport) {
    let ([p, q, gamma], report) = fit_penalized(
        "gamma_gamma",
        NAMES,
        (|theta: &[f64; 3]| mean_nll(rows, theta), None),
        (theta, curvature),
        penalizer,
        AtOptimum::Hessian,
        rows.total_w,
    );
    (GammaGammaParams { p, q, gamma }, report)
}
