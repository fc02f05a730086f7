//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987): likelihood, P(alive),
//! conditional expected purchases and P(no purchase).
//!
//! Model, per customer: while alive, purchases follow a Poisson process with
//! rate λ; the lifetime is exponential with rate μ. Across customers
//! λ ~ Gamma(r, α) and μ ~ Gamma(s, β).
//!
//! Likelihood of one customer with x repeat purchases, the last at t_x,
//! observed for T (Fader & Hardie's note 008, eq. 2, in integral form):
//!
//! ```text
//! L = Γ(r+x)·α^r·β^s / Γ(r) · [E + s·I]
//! E = (α+T)^−(r+x) · (β+T)^−s                       (alive at T)
//! I = ∫_{t_x}^{T} (α+y)^−(r+x) · (β+y)^−(s+1) dy      (died in (t_x, T])
//! ```
//!
//! The usual closed form of s·I is a difference of two Gauss hypergeometric
//! functions, which cancel for recent customers (T ≈ t_x), need a case split
//! at α = β, and overflow for heavy buyers: the NaNs other implementations
//! report there. Here I is integrated by Gauss–Legendre quadrature of its
//! positive integrand in a variable where it is smooth
//! ([`super::quadrature`]), in log-space, together with the moments its
//! gradient needs. Nothing cancels, no case split exists, and the result is
//! never NaN for valid parameters. P(alive) = E/(E + s·I) is the same pair of
//! terms. The fit's sums over millions of rows, and the predictions'
//! P(alive) of every row, take I from per-day integrals shared by the rows
//! of one frequency ([`super::pareto_days`]);
//! both take a customer's terms from [`super::pareto_terms`].

use statrs::function::gamma::{digamma, ln_gamma};

use super::bgnbd::{sigmoid, softplus};
use super::compress::{likelihood_row_ok, prediction_row, RfmRows};
use super::log_product::{LogProduct, MAX_FACTOR};
use super::pareto_days::{map_over_rows, sum_over_rows, FrequencyGroups, RowSums};
use super::pareto_terms::{branches, Branches};
use super::quadrature::{integrate, power_pair_rate};
use super::ParetoNbdParams;

/// Log-likelihood of one customer: x repeat purchases, the last at t_x, over
/// an observation period T (`t`), in days. −∞ (likelihood 0) for
/// parameters outside the model's domain or impossible data; never NaN.
/// t_x is read as 0 when x = 0 (the first purchase).
pub fn pareto_nbd_log_likelihood(params: &ParetoNbdParams, x: f64, t_x: f64, t: f64) -> f64 {
    if !params.is_valid() || !likelihood_row_ok(x, t_x, t) {
        return f64::NEG_INFINITY;
    }
    let t_x = if x > 0.0 { t_x } else { 0.0 };
    let r = params.r;
    let b = branches(params, x, t_x, t);
    let ll = ln_gamma(r + x) - ln_gamma(r) + b.ln_alive + softplus(b.ln_died() - b.ln_alive);
    if ll.is_nan() {
        f64::NEG_INFINITY
    } else {
        ll
    }
}

/// P(alive at T | x, t_x, T) = E/(E + s·I). Inputs are read as in
/// [`super::CustomerSummaryInput`]; never NaN for valid parameters.
pub fn pareto_nbd_probability_alive(params: &ParetoNbdParams, x: f64, t_x: f64, t: f64) -> f64 {
    let (x, t_x, t) = prediction_row(x, t_x, t);
    let b = branches(params, x, t_x, t);
    let p = sigmoid(b.ln_alive - b.ln_died());
    if p.is_nan() {
        1.0
    } else {
        p
    }
}

/// [`pareto_nbd_probability_alive`] of every row of `rows` (compressed,
/// so read as they are), in row order: the integrals from the per-day
/// tables of the fit's sums, not a quadrature per row.
pub(crate) fn alive_probabilities(params: &ParetoNbdParams, rows: &RfmRows) -> Vec<f64> {
    let groups = FrequencyGroups::of(rows);
    map_over_rows(params, (rows, &groups), |b| {
        let p = sigmoid(b.ln_alive - b.ln_died());
        if p.is_nan() {
            1.0
        } else {
            p
        }
    })
}

/// E[purchases in (T, T+h] | alive at T]: the posterior mean rate
/// (r+x)/(α+T) times the expected time alive in the next h days,
/// E[(1 − e^{−μh})/μ] = (β+T)·(1 − ((β+T)/(β+T+h))^(s−1))/(s−1), written
/// with expm1 so s → 1 (where it tends to (β+T)·ln(1 + h/(β+T))) is exact.
pub(crate) fn expected_purchases_if_alive(
    p: &ParetoNbdParams,
    x: f64,
    t: f64,
    horizon: f64,
) -> f64 {
    if horizon.is_nan() || horizon <= 0.0 || !p.is_valid() {
        return 0.0;
    }
    let bt = p.beta + t;
    let u = (horizon / bt).ln_1p();
    let sm1 = p.s - 1.0;
    let time_alive = if sm1.abs() * u < 1e-12 {
        bt * u
    } else {
        bt * -(-sm1 * u).exp_m1() / sm1
    };
    let e = (p.r + x) / (p.alpha + t) * time_alive;
    if e.is_finite() {
        e.max(0.0)
    } else {
        f64::NAN
    }
}

/// P(no purchase in (T, T+h] | alive at T). Given λ and μ, the first
/// purchase comes before death and before h with probability
/// ∫_0^h λ·e^{−(λ+μ)v} dv; over the posterior Gamma(r+x, α+T) ×
/// Gamma(s, β+T) that is ∫_0^h (r+x)/(α'+v)·(α'/(α'+v))^(r+x)·(β'/(β'+v))^s dv
/// with α' = α+T, β' = β+T, integrated like I.
pub(crate) fn p_no_purchase_if_alive(p: &ParetoNbdParams, x: f64, t: f64, horizon: f64) -> f64 {
    if horizon.is_nan() || horizon <= 0.0 || !p.is_valid() {
        return 1.0;
    }
    let rx = p.r + x;
    let (a, b) = (p.alpha + t, p.beta + t);
    // ln rx + rx·ln a + s·ln b − (rx+1)·ln(a+v) − s·ln(b+v), with the large
    // terms cancelled exactly (see [`super::pareto_terms::Branches`]).
    let ln_front = rx.ln() - a.ln();
    let buys = integrate(
        0.0,
        horizon.min(f64::MAX),
        a.min(b),
        power_pair_rate(a, rx + 1.0, b, p.s, horizon),
        |v, _| {
            let ln_density = ln_front - (rx + 1.0) * (v / a).ln_1p() - p.s * (v / b).ln_1p();
            (ln_density, [1.0])
        },
    );
    let bought = buys.ln_first().exp();
    (1.0 - bought).clamp(0.0, 1.0)
}

/// Mean negative log-likelihood over the compressed rows and its gradient
/// with respect to θ = (ln r, ln α, ln s, ln β). The Γ/ψ terms depend on x
/// alone and are summed over distinct x; the rest per unique row, where
/// ln(E + s·I) = ln E + softplus(ln(s·I) − ln E) and its gradient is the
/// two branches' gradients weighted by P(alive) and 1 − P(alive).
/// `groups` are the rows' ([`FrequencyGroups::of`]).
pub(crate) fn mean_nll(
    (rows, groups): (&RfmRows, &FrequencyGroups),
    theta: &[f64; 4],
) -> (f64, [f64; 4]) {
    let [r, alpha, s, beta] = theta.map(f64::exp);
    let params = ParetoNbdParams { r, alpha, s, beta };
    if !params.is_valid() || rows.total_w <= 0.0 {
        return (f64::INFINITY, [f64::NAN; 4]);
    }
    let (lg_r, dg_r) = (ln_gamma(r), digamma(r));
    let mut ll = 0.0;
    let mut grad = [0.0; 4];
    for (&x, &w) in rows.xs.iter().zip(&rows.xs_w) {
        ll += w * (ln_gamma(r + x) - lg_r);
        grad[0] += w * r * (digamma(r + x) - dg_r);
    }
    let sums = sum_over_rows::<5, ChunkSums>(&params, (rows, groups));
    ll += sums[0];
    for k in 0..4 {
        grad[k] += sums[k + 1];
    }
    let total = rows.total_w;
    (-ll / total, grad.map(|g| -g / total))
}

/// The fit's sums over one chunk of rows: Σ w·ln(E + s·I) and its
/// gradient, Σ w·(P(alive)·∂ln E + (1 − P(alive))·∂ln(s·I)). From the
/// odds s·I/E, ln(E + s·I) = ln E + ln(1 + odds), and the logarithms of
/// the rows of weight 1 (most of a fit's) are taken of their product
/// ([`LogProduct`]): a row costs no logarithm, where it cost two (a
/// quarter of the sums' time at 2 M customers).
struct ChunkSums {
    sums: [f64; 5],
    unit_rows: LogProduct,
}

impl Default for ChunkSums {
    fn default() -> ChunkSums {
        ChunkSums {
            sums: [0.0; 5],
            unit_rows: LogProduct::new(),
        }
    }
}

impl RowSums<5> for ChunkSums {
    #[inline]
    fn add(&mut self, w: f64, b: &Branches) {
        let odds = b.died_odds();
        // False for odds too large to multiply, ∞ and NaN.
        let (p_alive, p_died) = if odds < MAX_FACTOR {
            let factor = 1.0 + odds;
            if w == 1.0 {
                self.sums[0] += b.ln_alive;
                self.unit_rows.push(factor);
            } else {
                self.sums[0] += w * (b.ln_alive + odds.ln_1p());
            }
            let p_alive = 1.0 / factor;
            (p_alive, odds * p_alive)
        } else {
            let (ln_sum, shares) = log_sum_in_logs(b);
            self.sums[0] += w * ln_sum;
            shares
        };
        for k in 0..4 {
            self.sums[k + 1] += w * (p_alive * b.grad_alive[k] + p_died * b.grad_died[k]);
        }
    }

    fn finish(mut self) -> [f64; 5] {
        self.sums[0] += self.unit_rows.ln();
        self.sums
    }
}

/// ln(E + s·I), P(alive) and 1 − P(alive) from the two logarithms, for
/// odds too large to multiply (rare: heavy buyers long gone).
fn log_sum_in_logs(b: &Branches) -> (f64, (f64, f64)) {
    let d = b.ln_died() - b.ln_alive;
    (b.ln_alive + softplus(d), (sigmoid(-d), sigmoid(d)))
}

/// Start values: r and α as for BG/NBD (r = 1, α matching the overall
/// purchase rate; the purchase process is the same), and s = 1 with β the
/// mean observation period, so the expected lifetime starts at the
/// window's length.
pub(crate) fn start_values(rows: &RfmRows) -> ParetoNbdParams {
    let purchases = super::bgnbd::start_values(rows);
    let sum_t: f64 = (0..rows.len()).map(|i| rows.w[i] * rows.t(i)).sum();
    let beta = sum_t / rows.total_w.max(1.0) + 1.0;
    ParetoNbdParams {
        r: purchases.r,
        alpha: purchases.alpha,
        s: 1.0,
        beta: if beta.is_finite() && beta > 0.0 {
            beta
        } else {
            1.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Σ w·ln(E + s·I) and its gradient's sums from the two logarithms,
    /// row by row: the sums as they were before [`ChunkSums`].
    fn sums_in_logs(rows: &[(f64, Branches)]) -> [f64; 5] {
        let mut want = [0.0; 5];
        for (w, b) in rows {
            let (ln_sum, (p_alive, p_died)) = log_sum_in_logs(b);
            want[0] += w * ln_sum;
            for k in 0..4 {
                want[k + 1] += w * (p_alive * b.grad_alive[k] + p_died * b.grad_died[k]);
            }
        }
        want
    }

    /// Rows of weight 1 and not, a customer who bought on their last day
    /// (odds 0) and heavy buyers long gone (odds past what is multiplied)
    /// give the sums of the logarithms.
    #[test]
    fn chunk_sums_equal_the_sums_of_logarithms() {
        let p = ParetoNbdParams {
            r: 1.45,
            alpha: 120.0,
            s: 1.6,
            beta: 760.0,
        };
        let mut rows = Vec::new();
        for i in 0..3000 {
            let x = (i % 40) as f64;
            let t = 30.0 + (i % 1000) as f64;
            let t_x = if x == 0.0 {
                0.0
            } else {
                t * ((i % 7) as f64 / 6.0)
            };
            let w = if i % 5 == 0 {
                1.0 + (i % 3) as f64 * 0.5
            } else {
                1.0
            };
            rows.push((w, branches(&p, x, t_x, t)));
        }
        for x in [400.0, 2000.0] {
            rows.push((1.0, branches(&p, x, 2.0, 1000.0)));
        }
        let odds: Vec<f64> = rows.iter().map(|(_, b)| b.died_odds()).collect();
        assert!(odds.contains(&0.0));
        assert!(odds.iter().any(|&o| o >= MAX_FACTOR || o.is_nan()));
        let mut got = ChunkSums::default();
        for (w, b) in &rows {
            got.add(*w, b);
        }
        let got = got.finish();
        let want = sums_in_logs(&rows);
        for k in 0..5 {
            let scale = want[k].abs().max(1.0);
            assert!(
                (got[k] - want[k]).abs() <= 1e-13 * scale,
                "sum {k}: {} against {}",
                got[k],
                want[k]
            );
        }
    }
}
