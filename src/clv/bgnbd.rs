//! BG/NBD (Fader, Hardie & Lee 2005): likelihood, fit, P(alive) and
//! conditional expected purchases.
//!
//! Model, per customer: while alive, purchases follow a Poisson process with
//! rate λ; after each repeat purchase the customer drops out with probability
//! p. Across customers λ ~ Gamma(r, α) and p ~ Beta(a, b).
//!
//! Log-likelihood of one customer with x repeat purchases, the last at t_x,
//! observed for T (Hardie's note 004, written in log space so nothing
//! overflows for x in the thousands):
//!
//! ```text
//! A1 = lnΓ(r+x) − lnΓ(r) + r·ln α
//! A2 = lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
//! A3 = −(r+x)·ln(α+T)
//! A4 = ln a − ln(b+x−1) − (r+x)·ln(α+t_x)          (only when x > 0)
//! ℓ  = A1 + A2 + ln(e^A3 + [x>0]·e^A4)
//! ```
//!
//! With d = A4 − A3 = ln a − ln(b+x−1) + (r+x)·ln((α+T)/(α+t_x)), the last
//! term is A3 + softplus(d), and P(alive) = 1/(1+e^d) (Hardie's note 021):
//! the same quantity, so the fit and the prediction share one formula.

use statrs::function::gamma::{digamma, ln_gamma};

use super::bgnbd_curvature::{
    add_alive_curvature, add_row_curvature, frequency_curvature, mean_nll_hessian, DropoutRow,
    MAX_BETA_TERMS,
};
use super::compress::{likelihood_row_ok, prediction_row, RfmRows};
use super::hyp2f1::expected_purchases_if_alive;
use super::log_product::LogProduct;
use super::optimize::{chunked_sum, Evaluation};
use super::BgNbdParams;

/// Parameter names as published in `clv_model`.
#[cfg(test)]
const NAMES: [&str; 4] = ["r", "alpha", "a", "b"];

/// ln(1 + e^d) without overflow.
pub(crate) fn softplus(d: f64) -> f64 {
    d.max(0.0) + (-d.abs()).exp().ln_1p()
}

/// 1/(1 + e^−d) without overflow.
pub(crate) fn sigmoid(d: f64) -> f64 {
    if d >= 0.0 {
        1.0 / (1.0 + (-d).exp())
    } else {
        let e = d.exp();
        e / (1.0 + e)
    }
}

/// When a customer of the BG/NBD family may drop out. MBG/NBD (Batislam,
/// Denizel & Filiztekin 2007) is BG/NBD with one more dropout chance, right
/// after the first purchase; every formula of the family is BG/NBD's with
/// b + x − 1 read as b + x − 1 + [`Dropout::extra`] and the "x > 0" branches
/// taken for every x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropout {
    /// After each repeat purchase (BG/NBD).
    AfterRepeatPurchases,
    /// After every purchase, the first included (MBG/NBD).
    AfterEveryPurchase,
}

impl Dropout {
    /// Dropout chances survived by a customer alive with x repeat
    /// purchases, minus x.
    pub(crate) fn extra(self) -> f64 {
        match self {
            Dropout::AfterRepeatPurchases => 0.0,
            Dropout::AfterEveryPurchase => 1.0,
        }
    }

    /// Whether a customer with x repeat purchases can have dropped out.
    fn can_have_dropped(self, x: f64) -> bool {
        x > 0.0 || self == Dropout::AfterEveryPurchase
    }
}

/// The log-odds of "dropped out" vs "alive" for a customer who can have
/// dropped out: d = ln a − ln(b+x−1+e) + (r+x)·ln((α+T)/(α+t_x)), e =
/// [`Dropout::extra`]. The ratio's log is taken as
/// ln1p((T − t_x)/(α + t_x)), exact for recent customers (T ≈ t_x).
fn dropout_log_odds(p: &BgNbdParams, dropout: Dropout, x: f64, t_x: f64, t: f64) -> f64 {
    let logs = (p.a.ln(), ln_dropout_denominator(p, dropout, x));
    log_odds_with(p, logs, x, t_x, t)
}

/// ln(b + x − 1 + e) of [`dropout_log_odds`]. b + x − 1 + e ≥ b > 0 where
/// a dropout is possible; the floor only guards fractional x.
fn ln_dropout_denominator(p: &BgNbdParams, dropout: Dropout, x: f64) -> f64 {
    (p.b + x - 1.0 + dropout.extra())
        .max(f64::MIN_POSITIVE)
        .ln()
}

/// [`dropout_log_odds`] with ln a and ln(b + x − 1 + e) given, so a caller
/// can take them once for many customers.
fn log_odds_with(p: &BgNbdParams, (ln_a, ln_bx1): (f64, f64), x: f64, t_x: f64, t: f64) -> f64 {
    ln_a - ln_bx1 + (p.r + x) * ((t - t_x) / (p.alpha + t_x)).ln_1p()
}

/// Log-likelihood of one customer: x repeat purchases, the last at t_x, over
/// an observation period T (`t`), in days. Stable log-space form (Fader,
/// Hardie & Lee 2005; Hardie's note 004).
///
/// Returns −∞ (likelihood 0) for parameters outside the model's domain or
/// impossible data (negative or non-finite values, t_x > T when x > 0); never
/// NaN. x should be a whole number.
pub fn bgnbd_log_likelihood(params: &BgNbdParams, x: f64, t_x: f64, t: f64) -> f64 {
    family_log_likelihood(params, Dropout::AfterRepeatPurchases, x, t_x, t)
}

/// [`bgnbd_log_likelihood`] for the BG/NBD family member `dropout`.
pub(crate) fn family_log_likelihood(
    params: &BgNbdParams,
    dropout: Dropout,
    x: f64,
    t_x: f64,
    t: f64,
) -> f64 {
    if !params.is_valid() || !likelihood_row_ok(x, t_x, t) {
        return f64::NEG_INFINITY;
    }
    let BgNbdParams { r, alpha, a, b } = *params;
    let e = dropout.extra();
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let (a2, _, _) = beta_ratio(a, b, x + e);
    let a3 = -(r + x) * (alpha + t).ln();
    let t_x = if x > 0.0 { t_x } else { 0.0 };
    let tail = if dropout.can_have_dropped(x) {
        a3 + softplus(dropout_log_odds(params, dropout, x, t_x, t))
    } else {
        a3
    };
    let ll = a1 + a2 + tail;
    if ll.is_nan() {
        f64::NEG_INFINITY
    } else {
        ll
    }
}

/// `P(alive at T | x, t_x, T) = 1 / (1 + [x>0]·a/(b+x−1)·((α+T)/(α+t_x))^(r+x))`
/// (Hardie's note 021). 1 when x = 0: in BG/NBD a customer can only drop out
/// right after a repeat purchase. Inputs are read as in
/// [`CustomerSummaryInput`] (t_x clamped to [0, T]); never NaN for valid
/// parameters.
pub fn probability_alive(params: &BgNbdParams, x: f64, t_x: f64, t: f64) -> f64 {
    family_probability_alive(params, Dropout::AfterRepeatPurchases, x, t_x, t)
}

/// [`probability_alive`] for the BG/NBD family member `dropout`.
pub(crate) fn family_probability_alive(
    params: &BgNbdParams,
    dropout: Dropout,
    x: f64,
    t_x: f64,
    t: f64,
) -> f64 {
    let (x, t_x, t) = prediction_row(x, t_x, t);
    if !dropout.can_have_dropped(x) {
        return 1.0;
    }
    alive_of_log_odds(dropout_log_odds(params, dropout, x, t_x, t))
}

/// P(alive) from the dropout log-odds d: 1/(1 + e^d), and 1 where d is
/// NaN (parameters outside the model's domain).
fn alive_of_log_odds(d: f64) -> f64 {
    let p = sigmoid(-d);
    if p.is_nan() {
        1.0
    } else {
        p
    }
}

/// [`family_probability_alive`] of the rows of `rows` (compressed, so
/// read as they are), bit for bit the same, made when a row's is read, with ln a taken once and ln(b + x − 1 + e) once per distinct
/// frequency. Nothing is held per row: the intervals read five models'
/// P(alive) of every row, and held they were 40 bytes a row.
pub(crate) struct FamilyAlive<'r> {
    params: BgNbdParams,
    dropout: Dropout,
    ln_a: f64,
    /// ln(b + x − 1 + e) of each of `rows.xs`.
    ln_bx1: Vec<f64>,
    rows: &'r RfmRows,
}

impl<'r> FamilyAlive<'r> {
    pub(crate) fn new(params: &BgNbdParams, dropout: Dropout, rows: &'r RfmRows) -> Self {
        FamilyAlive {
            params: *params,
            dropout,
            ln_a: params.a.ln(),
            ln_bx1: rows
                .xs
                .iter()
                .map(|&x| ln_dropout_denominator(params, dropout, x))
                .collect(),
            rows,
        }
    }

    /// Row `i`'s P(alive).
    pub(crate) fn of(&self, i: usize) -> f64 {
        let rows = self.rows;
        let (x, t_x, t) = (rows.x(i), rows.t_x(i), rows.t(i));
        if !self.dropout.can_have_dropped(x) {
            return 1.0;
        }
        let logs = (self.ln_a, self.ln_bx1[rows.x_idx[i] as usize]);
        alive_of_log_odds(log_odds_with(&self.params, logs, x, t_x, t))
    }
}

/// Conditional expected number of purchases in (T, T+`horizon`] given the
/// history (x, t_x, T): FHL 2005 eq. (10), P(alive) × E[purchases | alive].
/// 0 for a non-positive horizon; NaN where the expectation cannot be
/// computed (see `hyp2f1`), never a made-up number.
pub fn conditional_expected_purchases(
    params: &BgNbdParams,
    x: f64,
    t_x: f64,
    t: f64,
    horizon: f64,
) -> f64 {
    let x = x.max(0.0);
    let t = t.max(0.0);
    probability_alive(params, x, t_x, t) * expected_purchases_if_alive(params, x, t, horizon)
}

/// Mean negative log-likelihood over the compressed rows and its gradient
/// with respect to θ = (ln r, ln α, ln a, ln b).
///
/// The Γ/ψ terms depend on x alone and are summed over distinct x; the rest
/// is summed over unique rows. Partial derivatives (w₄ = sigmoid(d) is the
/// weight of the "dropped out after t_x" branch, Δ = ln((α+T)/(α+t_x))):
///
/// ```text
/// ∂ℓ/∂r = ψ(r+x) − ψ(r) + ln α − ln(α+T) + w₄·Δ
/// ∂ℓ/∂α = r/α − (r+x)·((1−w₄)/(α+T) + w₄/(α+t_x))
/// ∂ℓ/∂a = ψ(a+b) − ψ(a+b+x) + w₄/a
/// ∂ℓ/∂b = ψ(a+b) + ψ(b+x) − ψ(b) − ψ(a+b+x) − w₄/(b+x−1)
/// ```
///
/// The fits call [`family_mean_nll`] with BG/NBD's dropout rule.
#[cfg(test)]
pub(crate) fn mean_nll(rows: &RfmRows, theta: &[f64; 4]) -> (f64, [f64; 4]) {
    family_mean_nll(rows, theta, Dropout::AfterRepeatPurchases)
}

/// [`mean_nll`] for the BG/NBD family member `dropout` (b + x read as
/// b + x + e in the Γ/ψ terms, e = [`Dropout::extra`]).
pub(crate) fn family_mean_nll(
    rows: &RfmRows,
    theta: &[f64; 4],
    dropout: Dropout,
) -> (f64, [f64; 4]) {
    match family_sums::<false>(rows, theta, dropout) {
        Some(sums) => (sums.value, sums.grad),
        None => (f64::INFINITY, [f64::NAN; 4]),
    }
}

/// [`family_mean_nll`] with its Hessian in log-parameters, in one pass over
/// the rows (see [`super::bgnbd_curvature`]); `None` outside the domain and
/// where the Hessian's closed form does not apply (a frequency that is not
/// whole).
pub(crate) fn family_mean_nll_with_hessian(
    rows: &RfmRows,
    theta: &[f64; 4],
    dropout: Dropout,
) -> Option<Evaluation<4>> {
    let sums = family_sums::<true>(rows, theta, dropout)?;
    let frequency = frequency_curvature(rows, theta.map(f64::exp), dropout.extra())?;
    let hessian = mean_nll_hessian(
        theta,
        (&sums.natural_grad, &sums.rows_hessian),
        &frequency,
        rows.total_w,
    );
    let finite = sums.value.is_finite() && hessian.iter().flatten().all(|v| v.is_finite());
    finite.then_some((sums.value, sums.grad, hessian))
}

/// The mean NLL and its gradient in log-parameters, and with `HESSIAN` the
/// log-likelihood's sums for its Hessian; `None` outside the domain.
fn family_sums<const HESSIAN: bool>(
    rows: &RfmRows,
    theta: &[f64; 4],
    dropout: Dropout,
) -> Option<FamilySums> {
    let [r, alpha, a, b] = theta.map(f64::exp);
    let e = dropout.extra();
    if ![r, alpha, a, b].iter().all(|v| v.is_finite() && *v > 0.0) || rows.total_w <= 0.0 {
        return None;
    }
    let ln_alpha = alpha.ln();
    let [mut ll, mut gr, mut ga, mut gb] = frequency_terms(rows, r, a, b, e);
    let total = rows.total_w;
    ll += total * r * ln_alpha;
    gr += total * ln_alpha;
    let mut galpha = total * r / alpha;

    let sums = row_terms::<HESSIAN>(rows, [r, alpha, a, b], e);
    ll += sums[0];
    gr += sums[1];
    galpha += sums[2];
    ga += sums[3];
    gb += sums[4];

    // Chain rule to log-parameters (∂/∂ln θ = θ·∂/∂θ), negate, per customer.
    let natural = [gr, galpha, ga, gb];
    let grad = [gr * r, galpha * alpha, ga * a, gb * b].map(|g| -g / total);
    Some(FamilySums {
        value: -ll / total,
        grad,
        natural_grad: natural,
        rows_hessian: std::array::from_fn(|k| sums[ROW_GRADIENT_SUMS + k]),
    })
}

/// What [`family_sums`] gives.
struct FamilySums {
    pub value: f64,
    /// Of the mean NLL, in log-parameters.
    pub grad: [f64; 4],
    /// Of the log-likelihood, in (r, α, a, b).
    pub natural_grad: [f64; 4],
    /// The rows' part of the log-likelihood's Hessian in (r, α, a, b), its
    /// upper triangle ([`super::bgnbd_curvature::UPPER`]); zeros unless
    /// asked for.
    pub rows_hessian: [f64; 10],
}

/// Sums of [`row_terms`] before its Hessian's: the value and four
/// derivatives.
const ROW_GRADIENT_SUMS: usize = 5;

/// The terms of the mean NLL's sum per unique (x, t_x, T) row, with their
/// derivatives in r, α, a and b (not yet in log-parameters), e =
/// [`Dropout::extra`]; with `HESSIAN` also their second derivatives (the
/// upper triangle, [`add_row_curvature`]).
fn row_terms<const HESSIAN: bool>(rows: &RfmRows, [r, alpha, a, b]: [f64; 4], e: f64) -> [f64; 15] {
    // From tables of what depends on one of a row's values only: ln and 1/
    // of α + day per distinct day, and of b + x − 1 + e per distinct
    // frequency (unused, and possibly NaN, for x = 0 in BG/NBD, where no
    // dropout is possible).
    debug_assert_eq!(rows.t_idx.len(), rows.len(), "rows without a day index");
    let ln_a = a.ln();
    let inv_a = 1.0 / a;
    let (ln_day, inv_day) = logs_and_reciprocals(rows.days.iter().map(|d| alpha + d));
    let (ln_bx1, inv_bx1) = logs_and_reciprocals(rows.xs.iter().map(|x| b + x - 1.0 + e));
    chunked_sum::<15, _>(rows.len(), |range| {
        let mut s = [0.0; 15];
        let mut softplus_tails = LogProduct::new();
        for i in range {
            let (x, t_x, t, w) = (rows.x(i), rows.t_x(i), rows.t(i), rows.w[i]);
            let (ti, txi) = (rows.t_idx[i] as usize, rows.t_x_idx[i] as usize);
            let l3 = ln_day[ti];
            let rx = r + x;
            if x > 0.0 || e > 0.0 {
                let xi = rows.x_idx[i] as usize;
                let delta = ((t - t_x) * inv_day[txi]).ln_1p();
                let d = ln_a - ln_bx1[xi] + rx * delta;
                let (w4, e) = add_value(&mut s[0], &mut softplus_tails, w, (-rx * l3, d));
                s[1] += w * (-l3 + w4 * delta);
                s[2] += w * (-rx * ((1.0 - w4) * inv_day[ti] + w4 * inv_day[txi]));
                s[3] += w * (w4 * inv_a);
                s[4] += w * (-w4 * inv_bx1[xi]);
                if HESSIAN {
                    let row = DropoutRow {
                        rx,
                        delta,
                        inv_t: inv_day[ti],
                        inv_t_x: inv_day[txi],
                        inv_a,
                        inv_bx1: inv_bx1[xi],
                        exp_abs_d: e,
                        d_positive: d >= 0.0,
                    };
                    add_row_curvature(hessian_sums(&mut s), w, &row);
                }
            } else {
                s[0] += w * (-rx * l3);
                s[1] += w * (-l3);
                s[2] += w * (-rx * inv_day[ti]);
                if HESSIAN {
                    add_alive_curvature(hessian_sums(&mut s), w, rx, inv_day[ti]);
                }
            }
        }
        s[0] += softplus_tails.ln();
        s
    })
}

/// Adds a row's log-likelihood term, w·(`alive` + softplus(d)), to
/// `value`, and returns sigmoid(d) and e^−|d|: softplus(d) = max(d, 0) +
/// ln(1 + e^−|d|) and sigmoid(d) from one exponential. For a row of
/// weight 1 (most of a fit's) the logarithm goes into `tails`' product
/// instead: a logarithm a row less.
#[inline]
fn add_value(
    value: &mut f64,
    tails: &mut LogProduct,
    w: f64,
    (alive, d): (f64, f64),
) -> (f64, f64) {
    let e = (-d.abs()).exp();
    if w == 1.0 {
        *value += alive + d.max(0.0);
        tails.push(1.0 + e);
    } else {
        *value += w * (alive + d.max(0.0) + e.ln_1p());
    }
    let sigmoid = if d >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (sigmoid, e)
}

/// The Hessian's part of [`row_terms`]' sums.
fn hessian_sums(sums: &mut [f64; 15]) -> &mut [f64; 10] {
    let (_, hessian) = sums.split_at_mut(ROW_GRADIENT_SUMS);
    hessian.try_into().expect("15 sums, 5 before the Hessian's")
}

/// ln v and 1/v of each value.
fn logs_and_reciprocals(values: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<f64>) {
    values.map(|v| (v.ln(), 1.0 / v)).unzip()
}

/// The terms of the mean NLL's sum that depend on x alone, summed over the
/// distinct frequencies with their weights: the log-likelihood's Γ(r+x)/Γ(r)
/// and Beta-ratio parts and their derivatives in r, a and b.
fn frequency_terms(rows: &RfmRows, r: f64, a: f64, b: f64, e: f64) -> [f64; 4] {
    let (lg_r, dg_r) = (ln_gamma(r), digamma(r));
    let mut sums = [0.0; 4];
    for (&x, &w) in rows.xs.iter().zip(&rows.xs_w) {
        let (beta_ln, beta_da, beta_db) = beta_ratio(a, b, x + e);
        sums[0] += w * (ln_gamma(r + x) - lg_r + beta_ln);
        sums[1] += w * (digamma(r + x) - dg_r);
        sums[2] += w * beta_da;
        sums[3] += w * beta_db;
    }
    sums
}

/// ln[B(a, b+n)/B(a, b)] and its derivatives in a and b: by terms for a
/// whole n ([`beta_ratio_by_terms`]), else by Γ and ψ.
fn beta_ratio(a: f64, b: f64, n: f64) -> (f64, f64, f64) {
    beta_ratio_by_terms(a, b, n).unwrap_or_else(|| {
        let (dg_ab, dg_b) = (digamma(a + b), digamma(b));
        let (bn, abn) = (b + n, a + b + n);
        (
            ln_gamma(a + b) + ln_gamma(bn) - ln_gamma(b) - ln_gamma(abn),
            dg_ab - digamma(abn),
            dg_ab + digamma(bn) - dg_b - digamma(abn),
        )
    })
}

/// ln[B(a, b+n)/B(a, b)] = lnΓ(a+b) + lnΓ(b+n) − lnΓ(b) − lnΓ(a+b+n) and
/// its derivatives in a and b, for a whole n, as sums over k < n of
/// −ln1p(a/(b+k)), −1/(a+b+k) and a/((b+k)(a+b+k)); None for an n that is
/// not whole or above [`MAX_BETA_TERMS`]. Fits on short histories walk
/// toward a, b → ∞ with a/(a+b) fixed, where the four Γ terms are ~10¹²
/// each and their difference kept only four digits (and the ψ
/// differences fewer), so the fit could not tell its steps from rounding;
/// every term of the sums is small and of one sign.
fn beta_ratio_by_terms(a: f64, b: f64, n: f64) -> Option<(f64, f64, f64)> {
    if n.fract() != 0.0 || !(0.0..=MAX_BETA_TERMS).contains(&n) {
        return None;
    }
    let (mut ln, mut da, mut db) = (0.0, 0.0, 0.0);
    for k in 0..n as u32 {
        let (bk, abk) = (b + f64::from(k), a + b + f64::from(k));
        ln -= (a / bk).ln_1p();
        da -= 1.0 / abk;
        db += a / (bk * abk);
    }
    Some((ln, da, db))
}

/// Start values: r = 1 with α matching the overall purchase rate
/// (α = r/λ̄, λ̄ ≈ Σx/ΣT, both padded by one per customer so zeros are safe),
/// and a = 1, b = 3 (mean dropout probability 1/4). Any start works; these
/// just save iterations.
pub(crate) fn start_values(rows: &RfmRows) -> BgNbdParams {
    let (mut sum_x, mut sum_t) = (0.0, 0.0);
    for i in 0..rows.len() {
        sum_x += rows.w[i] * rows.x(i);
        sum_t += rows.w[i] * rows.t(i);
    }
    let alpha = (sum_t + rows.total_w) / (sum_x + rows.total_w);
    BgNbdParams {
        r: 1.0,
        alpha: if alpha.is_finite() && alpha > 0.0 {
            alpha
        } else {
            1.0
        },
        a: 1.0,
        b: 3.0,
    }
}

/// Fit on compressed rows from `start` (or the default start values).
/// (The pipeline fits through `model::fit_purchase_model`; the tests use
/// this to start from chosen points.)
#[cfg(test)]
pub(crate) fn fit_rows(
    rows: &RfmRows,
    start: Option<BgNbdParams>,
) -> (BgNbdParams, super::FitReport) {
    let start = start.unwrap_or_else(|| start_values(rows));
    let ([r, alpha, a, b], report) = super::optimize::fit_penalized(
        "bg_nbd",
        NAMES,
        (
            |theta: &[f64; 4]| mean_nll(rows, theta),
            Some(&|theta: &[f64; 4]| {
                family_mean_nll_with_hessian(rows, theta, Dropout::AfterRepeatPurchases)
            }),
        ),
        ([start.r, start.alpha, start.a, start.b].map(f64::ln), None),
        0.0,
        super::optimize::AtOptimum::Hessian,
        rows.total_w,
    );
    (BgNbdParams { r, alpha, a, b }, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::compress::compress_triples;
    use proptest::prelude::*;

    proptest! {
        /// A row read from the rows equals the one-customer function bit
        /// for bit, for both dropout rules and parameters from tiny to huge.
        #[test]
        fn rows_alive_are_the_one_customer_ones(
            log_params in proptest::array::uniform4(-8.0f64..12.0),
            customers in proptest::collection::vec((0i64..30, 0i64..400, 0i64..400), 1..300),
        ) {
            let [r, alpha, a, b] = log_params.map(f64::exp);
            let params = BgNbdParams { r, alpha, a, b };
            let (rows, _) = compress_triples(&customers);
            for dropout in [Dropout::AfterRepeatPurchases, Dropout::AfterEveryPurchase] {
                let alive = FamilyAlive::new(&params, dropout, &rows);
                for i in 0..rows.len() {
                    let got = alive.of(i);
                    let want = family_probability_alive(&params, dropout, rows.x(i), rows.t_x(i), rows.t(i));
                    prop_assert_eq!(got.to_bits(), want.to_bits(), "row {} {:?}", i, dropout);
                }
            }
        }
    }
}
