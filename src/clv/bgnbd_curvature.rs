//! The Hessian of the BG/NBD family's log-likelihood in closed form, so a
//! fit's Newton steps and standard errors cost one pass over the rows
//! instead of the four more gradient passes of differencing it.
//!
//! Per row, with d the dropout log-odds of [`super::bgnbd`], w₄ = σ(d),
//! v = w₄(1 − w₄), Δ = ln((α+T)/(α+t_x)) and D = ∂d/∂(r, α, a, b) =
//! (Δ, (r+x)·(1/(α+T) − 1/(α+t_x)), 1/a, −1/(b+x−1+e)), the part
//! −(r+x)·ln(α+T) + softplus(d) has the Hessian
//!
//! ```text
//! v·D·Dᵀ + w₄·∂²d + ∂²[−(r+x)·ln(α+T)]
//! ∂²d:  (r,α) 1/(α+T) − 1/(α+t_x), (α,α) (r+x)·(1/(α+t_x)² − 1/(α+T)²),
//!       (a,a) −1/a², (b,b) 1/(b+x−1+e)²
//! ∂²[−(r+x)·ln(α+T)]:  (r,α) −1/(α+T), (α,α) (r+x)/(α+T)²
//! ```
//!
//! (only the last line where no dropout is possible). The Γ and Beta terms
//! depend on x alone; for a whole x their second derivatives are sums of
//! one-signed terms (ψ′(r+x) − ψ′(r) = −Σ 1/(r+k)², and likewise for the
//! Beta ratio), as the gradient's are in [`super::bgnbd`].

use super::compress::RfmRows;

/// Largest whole n for which the Beta ratio ln[B(a, b+n)/B(a, b)] and its
/// derivatives are summed term by term, here and in [`super::bgnbd`].
pub(super) const MAX_BETA_TERMS: f64 = 100_000.0;

/// The upper triangle of a 4 × 4 Hessian in (r, α, a, b), in the order its
/// sums are kept.
pub(super) const UPPER: [(usize, usize); 10] = [
    (0, 0),
    (0, 1),
    (0, 2),
    (0, 3),
    (1, 1),
    (1, 2),
    (1, 3),
    (2, 2),
    (2, 3),
    (3, 3),
];
const R_R: usize = 0;
const R_ALPHA: usize = 1;
const ALPHA_ALPHA: usize = 4;
const A_A: usize = 7;
const A_B: usize = 8;
const B_B: usize = 9;

/// What a row that can have dropped out adds to the Hessian, besides its
/// weight: its values of the pass over the rows.
pub(super) struct DropoutRow {
    /// r + x.
    pub rx: f64,
    /// ln((α+T)/(α+t_x)).
    pub delta: f64,
    /// 1/(α+T) and 1/(α+t_x).
    pub inv_t: f64,
    pub inv_t_x: f64,
    /// 1/a and 1/(b+x−1+e).
    pub inv_a: f64,
    pub inv_bx1: f64,
    /// e^−|d| and whether d ≥ 0: w₄ and 1 − w₄ without cancellation.
    pub exp_abs_d: f64,
    pub d_positive: bool,
}

/// Adds `w` times the row's Hessian (upper triangle) to `h`.
pub(super) fn add_row_curvature(h: &mut [f64; 10], w: f64, row: &DropoutRow) {
    let e = row.exp_abs_d;
    let (w4, w1) = if row.d_positive {
        (1.0 / (1.0 + e), e / (1.0 + e))
    } else {
        (e / (1.0 + e), 1.0 / (1.0 + e))
    };
    let (it, itx) = (row.inv_t, row.inv_t_x);
    let grad_d = [row.delta, row.rx * (it - itx), row.inv_a, -row.inv_bx1];
    let scaled = grad_d.map(|g| w * (w4 * w1) * g);
    for (k, &(i, j)) in UPPER.iter().enumerate() {
        h[k] += scaled[i] * grad_d[j];
    }
    // w₄·∂²d plus the alive branch's own terms, gathered so that every
    // sum is of one sign.
    h[R_ALPHA] += w * -(w1 * it + w4 * itx);
    h[ALPHA_ALPHA] += w * (row.rx * (w1 * it * it + w4 * itx * itx));
    h[A_A] += w * -(w4 * row.inv_a * row.inv_a);
    h[B_B] += w * (w4 * row.inv_bx1 * row.inv_bx1);
}

/// Adds `w` times the Hessian of −(r+x)·ln(α+T) (a row that cannot have
/// dropped out, r + x = `rx`, 1/(α+T) = `inv_t`) to `h`.
pub(super) fn add_alive_curvature(h: &mut [f64; 10], w: f64, rx: f64, inv_t: f64) {
    h[R_ALPHA] += w * -inv_t;
    h[ALPHA_ALPHA] += w * (rx * inv_t * inv_t);
}

/// The Hessian (upper triangle, in (r, α, a, b)) of the log-likelihood's
/// terms that do not depend on recency: r·ln α per customer, and per
/// distinct frequency x its Γ(r+x)/Γ(r) and Beta ratio B(a, b+x+e)/B(a, b).
/// `None` when a frequency is not whole or above `MAX_BETA_TERMS` (the
/// term sums do not apply; the fit then differences the gradient).
pub(super) fn frequency_curvature(
    rows: &RfmRows,
    [r, alpha, a, b]: [f64; 4],
    e: f64,
) -> Option<[f64; 10]> {
    let mut h = [0.0; 10];
    h[R_ALPHA] = rows.total_w / alpha;
    h[ALPHA_ALPHA] = -rows.total_w * r / (alpha * alpha);
    for (&x, &w) in rows.xs.iter().zip(&rows.xs_w) {
        let n = x + e;
        if x.fract() != 0.0 || !(0.0..=MAX_BETA_TERMS).contains(&n) {
            return None;
        }
        let mut rr = 0.0;
        for k in 0..x as u32 {
            let rk = r + f64::from(k);
            rr -= 1.0 / (rk * rk);
        }
        let (mut ab, mut bb) = (0.0, 0.0);
        for k in 0..n as u32 {
            let (bk, abk) = (b + f64::from(k), a + b + f64::from(k));
            ab += 1.0 / (abk * abk);
            // 1/(a+b+k)² − 1/(b+k)², without the cancellation.
            bb -= a * (a + 2.0 * bk) / (bk * bk * abk * abk);
        }
        h[R_R] += w * rr;
        h[A_A] += w * ab;
        h[A_B] += w * ab;
        h[B_B] += w * bb;
    }
    Some(h)
}

/// The mean NLL's Hessian in log-parameters θ = ln(r, α, a, b) from the
/// log-likelihood's gradient and Hessian in (r, α, a, b) (the rows' part
/// and the `frequency` part, upper triangles): with p = e^θ,
/// ∂²ℓ/∂θᵢ∂θⱼ = pᵢ·pⱼ·∂²ℓ/∂pᵢ∂pⱼ + [i = j]·pᵢ·∂ℓ/∂pᵢ, negated and divided
/// by the total weight.
pub(super) fn mean_nll_hessian(
    theta: &[f64; 4],
    (natural_grad, rows_hessian): (&[f64; 4], &[f64; 10]),
    frequency: &[f64; 10],
    total_w: f64,
) -> [[f64; 4]; 4] {
    let p = theta.map(f64::exp);
    let mut hessian = [[0.0; 4]; 4];
    for (k, &(i, j)) in UPPER.iter().enumerate() {
        let mut v = p[i] * p[j] * (rows_hessian[k] + frequency[k]);
        if i == j {
            v += p[i] * natural_grad[i];
        }
        hessian[i][j] = -v / total_w;
        hessian[j][i] = -v / total_w;
    }
    hessian
}

#[cfg(test)]
mod tests {
    use super::super::bgnbd::{family_mean_nll, family_mean_nll_with_hessian, Dropout};
    use crate::clv::compress::compress_triples;
    use proptest::prelude::*;

    const DROPOUTS: [Dropout; 2] = [Dropout::AfterRepeatPurchases, Dropout::AfterEveryPurchase];

    proptest! {
        /// The closed form equals central differences of the analytic
        /// gradient (truncation ~h², rounding ~1e-16/h at h = 1e-5), and
        /// the pass that computes it gives the gradient pass's value and
        /// gradient bit for bit.
        #[test]
        fn hessian_matches_differences_of_the_gradient(
            theta in (-2.0f64..2.0, 0.0f64..5.0, -2.0f64..4.0, -2.0f64..4.0),
            customers in proptest::collection::vec((0i64..30, 0i64..400, 0i64..400), 1..200),
        ) {
            let theta = [theta.0, theta.1, theta.2, theta.3];
            let (rows, _) = compress_triples(&customers);
            for dropout in DROPOUTS {
                let (value, grad, hessian) = family_mean_nll_with_hessian(&rows, &theta, dropout)
                    .expect("whole frequencies, parameters in the domain");
                let (want_value, want_grad) = family_mean_nll(&rows, &theta, dropout);
                prop_assert_eq!(value.to_bits(), want_value.to_bits());
                prop_assert_eq!(grad.map(f64::to_bits), want_grad.map(f64::to_bits));
                let scale = hessian.iter().flatten().fold(1e-3f64, |m, v| m.max(v.abs()));
                let h = 1e-5;
                for j in 0..4 {
                    let (mut up, mut down) = (theta, theta);
                    up[j] += h;
                    down[j] -= h;
                    let (gu, gd) = (
                        family_mean_nll(&rows, &up, dropout).1,
                        family_mean_nll(&rows, &down, dropout).1,
                    );
                    for i in 0..4 {
                        let differenced = (gu[i] - gd[i]) / (2.0 * h);
                        prop_assert!(
                            (hessian[i][j] - differenced).abs() <= 1e-6 * scale,
                            "{:?} ({}, {}): {} against {}", dropout, i, j, hessian[i][j], differenced
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_closed_form_for_a_frequency_that_is_not_whole() {
        let (mut rows, _) = compress_triples(&[(2, 30, 60), (0, 0, 60)]);
        for x in rows.xs.iter_mut() {
            if *x > 0.0 {
                *x += 0.5;
            }
        }
        let theta = [0.0, 2.0, 0.0, 1.0];
        for dropout in DROPOUTS {
            assert!(family_mean_nll(&rows, &theta, dropout).0.is_finite());
            assert!(family_mean_nll_with_hessian(&rows, &theta, dropout).is_none());
        }
    }
}
