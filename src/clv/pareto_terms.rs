//! One Pareto/NBD customer's two likelihood terms, alive at T and died in
//! (t_x, T], with their gradients: shared by the one-customer functions
//! ([`super::pareto_nbd`]) and the fit's sums over rows
//! ([`super::pareto_days`]), which differ only in where the died integral
//! comes from.

use super::quadrature::{integrate, power_pair_rate, ScaledIntegrals};
use super::ParetoNbdParams;

/// ln E and s·I, each times α^r·β^s, and their gradients with respect
/// to the log-parameters (ln r, ln α, ln s, ln β) for one customer; s·I
/// is kept as a scale and a factor, its logarithm taken only on request
/// ([`Branches::ln_died`]): the fit's sums need only the ratio of the two
/// terms ([`Branches::died_odds`]), and a logarithm per row was a tenth
/// of their time.
///
/// The factors α^r·β^s are taken into each term, as ln1p(T/α) and
/// ln1p(y/β), rather than added as r·ln α + s·ln β beside −s·ln(β+T): fits on
/// short histories walk toward s, β → ∞ with s/β fixed (every customer's
/// lifetime exponential with one rate), where those two terms are ~10¹⁰
/// each and their difference, the part that matters, kept only six
/// digits; the fit could then not tell its steps from rounding.
pub(super) struct Branches {
    pub ln_alive: f64,
    pub grad_alive: [f64; 4],
    /// s·I = e^(ln_s_over_beta + died_ln_scale) · died_first.
    ln_s_over_beta: f64,
    died_ln_scale: f64,
    died_first: f64,
    pub grad_died: [f64; 4],
}

impl Branches {
    /// ln(s·I); −∞ when t_x = T.
    #[inline]
    pub fn ln_died(&self) -> f64 {
        if self.died_first > 0.0 {
            self.ln_s_over_beta + (self.died_ln_scale + self.died_first.ln())
        } else {
            f64::NEG_INFINITY
        }
    }

    /// s·I / E, the odds that the customer has died: 0 when t_x = T, and
    /// infinite or NaN where it overflows (the caller then works with
    /// [`Branches::ln_died`]).
    #[inline]
    pub fn died_odds(&self) -> f64 {
        self.died_first * (self.ln_s_over_beta + self.died_ln_scale - self.ln_alive).exp()
    }
}

/// ∫ g over [lo, hi] with g = (1+y/α)^−r·(α+y)^−x·(1+y/β)^−(s+1) (the
/// integrand of I times α^r·β^(s+1)), and the moments of ln1p(y/α),
/// y/(α+y), ln1p(y/β) and y/(β+y) its log-parameter gradient needs.
pub(super) type DiedMoments = ScaledIntegrals<5>;

/// [`DiedMoments`] of one range by quadrature.
pub(super) fn died_moments(p: &ParetoNbdParams, x: f64, lo: f64, hi: f64) -> DiedMoments {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let ln_alpha = alpha.ln();
    let rate = power_pair_rate(alpha, r + x, beta, s + 1.0, hi);
    integrate(lo, hi, alpha.min(beta), rate, |y, _| {
        let (ua, ub) = ((y / alpha).ln_1p(), (y / beta).ln_1p());
        (
            -r * ua - x * (ln_alpha + ua) - (s + 1.0) * ub,
            [1.0, ua, y / (alpha + y), ub, y / (beta + y)],
        )
    })
}

/// [`Branches`] of one customer, its integral by quadrature.
pub(super) fn branches(p: &ParetoNbdParams, x: f64, t_x: f64, t: f64) -> Branches {
    branches_with(p, x, alive_logs(p, t), &died_moments(p, x, t_x, t))
}

/// What [`branches_with`] needs of T and the parameters besides the
/// integral: ln1p(T/α), ln1p(T/β), ln s − ln β, ln α, T/(α+T) and
/// T/(β+T). Given apart so a caller can share it between the rows of one
/// T.
#[derive(Debug, Clone, Copy)]
pub(super) struct AliveLogs {
    ua_t: f64,
    ub_t: f64,
    ln_s_over_beta: f64,
    ln_alpha: f64,
    a_share: f64,
    b_share: f64,
}

/// [`AliveLogs`] of a customer observed for T (`t`).
pub(super) fn alive_logs(p: &ParetoNbdParams, t: f64) -> AliveLogs {
    AliveLogs {
        ua_t: (t / p.alpha).ln_1p(),
        ub_t: (t / p.beta).ln_1p(),
        ln_s_over_beta: p.s.ln() - p.beta.ln(),
        ln_alpha: p.alpha.ln(),
        a_share: t / (p.alpha + t),
        b_share: t / (p.beta + t),
    }
}

/// [`Branches`] of a customer with [`AliveLogs`] `logs` of their T, whose
/// died-integral moments over (t_x, T] are `died`.
#[inline]
pub(super) fn branches_with(
    p: &ParetoNbdParams,
    x: f64,
    logs: AliveLogs,
    died: &DiedMoments,
) -> Branches {
    let ParetoNbdParams { r, s, .. } = *p;
    let AliveLogs {
        ua_t,
        ub_t,
        ln_s_over_beta,
        ln_alpha,
        a_share,
        b_share,
    } = logs;
    // (α/(α+T))^r·(α+T)^−x·(β/(β+T))^s
    let ln_alive = -r * ua_t - x * (ln_alpha + ua_t) - s * ub_t;
    let grad_alive = [
        -r * ua_t,
        r * a_share - x * (1.0 - a_share),
        -s * ub_t,
        s * b_share,
    ];
    let i0 = died.sums[0];
    let grad_died = if i0 > 0.0 {
        let inv = 1.0 / i0;
        let m = died.sums.map(|v| v * inv);
        [
            -r * m[1],
            (r + x) * m[2] - x,
            1.0 - s * m[3],
            (s + 1.0) * m[4] - 1.0,
        ]
    } else {
        [0.0; 4]
    };
    Branches {
        ln_alive,
        grad_alive,
        ln_s_over_beta,
        died_ln_scale: died.ln_scale,
        died_first: i0.max(0.0),
        grad_died,
    }
}
