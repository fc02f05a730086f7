//! One Pareto/NBD customer's two likelihood terms, alive at T and died in
//! (t_x, T], with their gradients: shared by the one-customer functions
//! ([`super::pareto_nbd`]) and the fit's sums over rows
//! ([`super::pareto_days`]), which differ only in where the died integral
//! comes from.

use super::quadrature::{
    integrate, power_pair_rate, NodePlan, PlannedNode, ScaledIntegrals, FEW_NODES,
};
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
    let ln_alpha = p.alpha.ln();
    let rate = power_pair_rate(p.alpha, p.r + x, p.beta, p.s + 1.0, hi);
    integrate(lo, hi, p.alpha.min(p.beta), rate, |y, _| {
        DiedPoint::at(p, y).integrand(p, ln_alpha, x)
    })
}

/// What the integrand of I reads at y, whatever the frequency: ln1p(y/α),
/// y/(α+y), ln1p(y/β) and y/(β+y).
#[derive(Debug, Clone, Copy)]
pub(super) struct DiedPoint {
    ua: f64,
    a_share: f64,
    ub: f64,
    b_share: f64,
}

impl DiedPoint {
    fn at(p: &ParetoNbdParams, y: f64) -> DiedPoint {
        DiedPoint {
            ua: (y / p.alpha).ln_1p(),
            a_share: y / (p.alpha + y),
            ub: (y / p.beta).ln_1p(),
            b_share: y / (p.beta + y),
        }
    }

    /// ln g at this point for frequency x (`ln_alpha` = ln α), and the
    /// moments' factors ([`DiedMoments`]).
    #[inline]
    fn integrand(&self, p: &ParetoNbdParams, ln_alpha: f64, x: f64) -> (f64, [f64; 5]) {
        let DiedPoint {
            ua,
            a_share,
            ub,
            b_share,
        } = *self;
        (
            -p.r * ua - x * (ln_alpha + ua) - (p.s + 1.0) * ub,
            [1.0, ua, a_share, ub, b_share],
        )
    }
}

/// The nodes of a short range (a day) that its quadrature uses for every
/// frequency whose integrand changes little across it (most of them), with
/// what the integrand reads at each: worked out once for all frequencies,
/// where each frequency's quadrature took two logarithms a node.
pub(super) struct RangeNodes([(PlannedNode, DiedPoint); FEW_NODES]);

/// [`RangeNodes`] of [lo, hi]; `None` when the range takes more than one
/// panel of the short rule whatever the frequency.
pub(super) fn range_nodes(p: &ParetoNbdParams, lo: f64, hi: f64) -> Option<RangeNodes> {
    let m = p.alpha.min(p.beta);
    // The smallest rate any frequency has: its plan is one short panel
    // if any frequency's is, at the same nodes.
    let nodes = NodePlan::of(lo, hi, m, 1.0)?.single_panel_nodes(m)?;
    Some(RangeNodes(nodes.map(|n| (n, DiedPoint::at(p, n.y)))))
}

/// [`died_moments`] over [lo, hi], from `nodes` (its [`range_nodes`]) when
/// frequency x's quadrature would use them: the same terms, added in the
/// same order, so the same result to the bit.
pub(super) fn died_moments_at(
    p: &ParetoNbdParams,
    x: f64,
    (lo, hi): (f64, f64),
    nodes: Option<&RangeNodes>,
) -> DiedMoments {
    let m = p.alpha.min(p.beta);
    let rate = power_pair_rate(p.alpha, p.r + x, p.beta, p.s + 1.0, hi);
    let shared = nodes
        .filter(|_| NodePlan::of(lo, hi, m, rate).is_some_and(|plan| plan.is_one_short_panel()));
    let Some(RangeNodes(nodes)) = shared else {
        return died_moments(p, x, lo, hi);
    };
    let ln_alpha = p.alpha.ln();
    let mut out = DiedMoments::empty();
    for (node, point) in nodes {
        let (ln_f, g) = point.integrand(p, ln_alpha, x);
        out.add_node(ln_f + node.ln_shifted, node.weight, g);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A day's integral from its shared nodes is its own quadrature's to
    /// the bit, for the frequencies whose quadrature uses those nodes and
    /// for those whose does not (a heavy buyer's integrand changes too
    /// fast across a day), on short and long histories and with α < 1
    /// (where the first days are too wide for one short panel).
    #[test]
    fn shared_nodes_give_each_frequency_its_own_quadrature_to_the_bit() {
        let fits = [
            ParetoNbdParams {
                r: 1.45,
                alpha: 119.7,
                s: 1.58,
                beta: 762.9,
            },
            ParetoNbdParams {
                r: 0.55,
                alpha: 0.4,
                s: 0.61,
                beta: 11.7,
            },
        ];
        let (mut shared, mut alone) = (0, 0);
        for p in &fits {
            let m = p.alpha.min(p.beta);
            for x in [0.0, 1.0, 3.0, 40.0, 300.0, 2000.0] {
                for day in [0.0, 1.0, 5.0, 364.0, 1094.0] {
                    let range = (day, day + 1.0);
                    let nodes = range_nodes(p, range.0, range.1);
                    let got = died_moments_at(p, x, range, nodes.as_ref());
                    let want = died_moments(p, x, range.0, range.1);
                    assert_eq!(got.ln_scale.to_bits(), want.ln_scale.to_bits());
                    for k in 0..5 {
                        assert_eq!(got.sums[k].to_bits(), want.sums[k].to_bits(), "x {x}");
                    }
                    let rate = power_pair_rate(p.alpha, p.r + x, p.beta, p.s + 1.0, range.1);
                    let short = NodePlan::of(range.0, range.1, m, rate)
                        .is_some_and(|plan| plan.is_one_short_panel());
                    if nodes.is_some() && short {
                        shared += 1;
                    } else {
                        alone += 1;
                    }
                }
            }
        }
        assert!(shared > 20 && alone > 5, "shared {shared}, alone {alone}");
    }
}
