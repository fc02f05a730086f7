//! Gauss–Legendre quadrature for the models' integrals that have no
//! well-conditioned closed form.
//!
//! The Pareto/NBD likelihood and P(alive) need ∫ (α+y)^−p (β+y)^−q dy over
//! [t_x, T]; its closed form is a difference of two Gauss hypergeometric
//! functions that cancel when T ≈ t_x and overflow for heavy buyers (the
//! source of the NaNs other implementations report there). The integrand is
//! positive and smooth, so a quadrature of it is positive and exact to
//! rounding with few nodes, if the variable is chosen well:
//! w = ln((m+y)/(m+lo)) with m the smaller of the two shifts. Every factor
//! (c+y)^−p with c ≥ m is then log-concave in w, its logarithm changing by
//! at most p per unit of w, and analytic in a strip of half-width π around
//! the real axis. Panels of width at most 16/rate (rate = the sum of the
//! exponents plus one for the Jacobian m+y) and 4 keep the 16-point rule's
//! error below 1e-16 relative; a range over which the integrand changes by
//! at most two e-folds needs only 8 points for that. The logarithm of the integrand is concave in
//! w, so once it has fallen 50 e-folds below its running maximum the rest of
//! the range contributes less than rounding and is skipped.
//!
//! Why hand-written: the quadrature crates of the field integrate one
//! function at a time on a fixed interval; here several moments of one
//! integrand (value and gradient) are accumulated in a scaled form that
//! cannot overflow, on a transformed variable, and the nodes are twenty
//! lines.

/// Nodes per panel.
pub(crate) const NODES: usize = 16;
/// Nodes per panel of a short range (see [`FEW_NODES_E_FOLDS`]).
pub(crate) const FEW_NODES: usize = 8;
/// Largest panel width in w: with the integrand analytic in a strip of
/// half-width π, the 16-point rule's error on a panel this wide is below
/// 1e-16 relative.
const MAX_PANEL: f64 = 4.0;
/// Largest change of the log-integrand across a panel's width.
const MAX_E_FOLDS_PER_PANEL: f64 = 16.0;
/// Change of the log-integrand across a panel up to which [`FEW_NODES`]
/// nodes are as exact as [`NODES`]. An n-point rule's error on a panel
/// where the log-integrand changes by δ is about e^(2n(1 − ln(8n/δ)))
/// relative (the integrand's growth into the complex plane against the
/// rule's convergence, balanced over the ellipses around the panel): 1e-15
/// for 16 nodes at δ = 16, the bound above, and 2e-17 for 8 nodes at δ =
/// 2. A one-day range of the Pareto/NBD fit's day tables changes by less
/// than that for every frequency below about 2·min(α, β), so their leaves,
/// most of a fit's quadrature nodes, cost half.
const FEW_NODES_E_FOLDS: f64 = 2.0;
/// Fall below the running maximum after which the rest is skipped.
const NEGLIGIBLE_E_FOLDS: f64 = 50.0;

/// The [`NODES`]-point Gauss–Legendre rule on [−1, 1], computed once.
pub(crate) fn gauss_legendre() -> &'static ([f64; NODES], [f64; NODES]) {
    static RULE: std::sync::OnceLock<([f64; NODES], [f64; NODES])> = std::sync::OnceLock::new();
    RULE.get_or_init(legendre_rule::<NODES>)
}

/// The [`FEW_NODES`]-point rule, computed once.
fn few_nodes_rule() -> &'static ([f64; FEW_NODES], [f64; FEW_NODES]) {
    static RULE: std::sync::OnceLock<([f64; FEW_NODES], [f64; FEW_NODES])> =
        std::sync::OnceLock::new();
    RULE.get_or_init(legendre_rule::<FEW_NODES>)
}

/// The N-point Gauss–Legendre rule on [−1, 1]: Newton's method on the
/// Legendre polynomial from the Chebyshev guesses.
fn legendre_rule<const N: usize>() -> ([f64; N], [f64; N]) {
    let n = N;
    let (mut nodes, mut weights) = ([0.0; N], [0.0; N]);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for j in 2..=n {
                let j = j as f64;
                (p0, p1) = (p1, ((2.0 * j - 1.0) * x * p1 - (j - 1.0) * p0) / j);
            }
            derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let step = p1 / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        nodes[i] = x;
        weights[i] = 2.0 / ((1.0 - x * x) * derivative * derivative);
    }
    (nodes, weights)
}

/// A `rate` for [`integrate`] when f = (a+y)^−p·(b+y)^−q (p, q ≥ 0) on
/// [lo, hi] with m = min(a, b): d ln(f·(m+y))/dw = 1 − p·(m+y)/(a+y) −
/// q·(m+y)/(b+y), and each ratio rises with y toward 1 (its shift is at
/// least m), so its value at hi bounds it. A factor whose shift lies far
/// beyond the range is then nearly constant in w and adds almost nothing
/// however large its exponent; bounding by p + q + 1 instead made such an
/// integral cost billions of panels (the Pareto/NBD fit walks toward
/// s, β → ∞ with s/β fixed on short histories).
pub(crate) fn power_pair_rate(a: f64, p: f64, b: f64, q: f64, hi: f64) -> f64 {
    let m = a.min(b);
    let ratio = |c: f64| {
        let r = (m + hi) / (c + hi);
        if r.is_finite() {
            r.min(1.0)
        } else {
            1.0
        }
    };
    1.0 + p * ratio(a) + q * ratio(b)
}

/// ∫ f(y)·g_k(y) dy over [lo, hi] for k = 0 … K−1, as `e^ln_scale · sums[k]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScaledIntegrals<const K: usize> {
    pub ln_scale: f64,
    pub sums: [f64; K],
}

impl<const K: usize> ScaledIntegrals<K> {
    /// ln ∫ f·g_0 (−∞ for an empty range).
    pub fn ln_first(&self) -> f64 {
        self.ln_scale + self.sums[0].ln()
    }
}

/// Integrates a positive f with g_k moments over [lo, hi] (lo ≤ hi, both
/// finite), in the variable w = ln((m+y)/(m+lo)), m + lo > 0. `rate`
/// bounds |d ln(f(y)·(m+y))/dw| (see the module notes); `point(y,
/// ln(m+y))` returns (ln f(y), [g_0(y) … g_{K−1}(y)]), with ln(m+y) given
/// because it is known without a logarithm. ln f must be concave in w.
///
/// Cost: per node one exponential here plus what `point` spends; the
/// node positions within a panel are shared by every panel of the call.
pub(crate) fn integrate<const K: usize>(
    lo: f64,
    hi: f64,
    m: f64,
    rate: f64,
    point: impl Fn(f64, f64) -> (f64, [f64; K]),
) -> ScaledIntegrals<K> {
    match NodePlan::of(lo, hi, m, rate) {
        None => ScaledIntegrals::empty(),
        Some(plan) if plan.few_nodes => plan.panels.sum(few_nodes_rule(), m, point),
        Some(plan) => plan.panels.sum(gauss_legendre(), m, point),
    }
}

/// Where [`integrate`] puts its nodes for a range: its panels and rule.
pub(crate) struct NodePlan {
    panels: Panels,
    few_nodes: bool,
}

/// One node of a single-panel [`FEW_NODES`] plan: y, ln(m+y), and its
/// weight (the rule's, times the panel's half-width).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PlannedNode {
    pub y: f64,
    pub ln_shifted: f64,
    pub weight: f64,
}

impl NodePlan {
    /// The plan of [`integrate`]`(lo, hi, m, rate, …)`; `None` for an
    /// empty or unusable range.
    pub(crate) fn of(lo: f64, hi: f64, m: f64, rate: f64) -> Option<NodePlan> {
        let base = m + lo;
        let width = ((m + hi) / base).ln();
        let usable = width.is_finite() && width > 0.0 && base > 0.0;
        if !usable {
            return None;
        }
        let step = MAX_PANEL.min(MAX_E_FOLDS_PER_PANEL / rate.max(1e-300));
        let panels = (width / step).ceil().max(1.0);
        let h = width / panels;
        Some(NodePlan {
            panels: Panels {
                base,
                ln_base: base.ln(),
                h,
                count: panels as u64,
            },
            few_nodes: rate * h <= FEW_NODES_E_FOLDS,
        })
    }

    /// Whether it is one panel of [`FEW_NODES`] nodes.
    pub(crate) fn is_one_short_panel(&self) -> bool {
        self.few_nodes && self.panels.count == 1
    }

    /// Its nodes, when it is one panel of [`FEW_NODES`] nodes: the same
    /// for every integrand whose rate allows that, so a caller can work
    /// out what the integrands share once (the Pareto/NBD day tables).
    pub(crate) fn single_panel_nodes(&self, m: f64) -> Option<[PlannedNode; FEW_NODES]> {
        if !self.is_one_short_panel() {
            return None;
        }
        let (nodes, weights) = few_nodes_rule();
        let placed = self.panels.place(0, &self.panels.offsets(nodes));
        Some(std::array::from_fn(|j| {
            let (shifted, ln_shifted) = placed[j];
            PlannedNode {
                y: shifted - m,
                ln_shifted,
                weight: 0.5 * self.panels.h * weights[j],
            }
        }))
    }
}

/// The equal panels of an [`integrate`] call in w: `count` of width `h`
/// from w = 0, where m + y = `base` (ln `ln_base`).
struct Panels {
    base: f64,
    ln_base: f64,
    h: f64,
    count: u64,
}

impl Panels {
    /// Where the rule's `nodes` fall within a panel, in w from its middle
    /// (½·h·node_j), and their exponentials: w of node j in panel p is
    /// (p + ½)·h + ½·h·node_j, so its exponential is the panel's times
    /// the node's, and its logarithm needs none.
    fn offsets<const N: usize>(&self, nodes: &[f64; N]) -> ([f64; N], [f64; N]) {
        let offsets: [f64; N] = std::array::from_fn(|j| 0.5 * self.h * nodes[j]);
        (offsets, offsets.map(f64::exp))
    }

    /// (m + y, ln(m + y)) of each node of panel `panel`, from the nodes'
    /// [`Panels::offsets`].
    fn place<const N: usize>(
        &self,
        panel: u64,
        (offsets, growth): &([f64; N], [f64; N]),
    ) -> [(f64, f64); N] {
        let middle = (panel as f64 + 0.5) * self.h;
        let at_middle = self.base * middle.exp();
        std::array::from_fn(|j| (at_middle * growth[j], self.ln_base + middle + offsets[j]))
    }

    /// The integral by the N-point rule `(nodes, weights)` on each panel.
    fn sum<const K: usize, const N: usize>(
        &self,
        (nodes, weights): &([f64; N], [f64; N]),
        m: f64,
        point: impl Fn(f64, f64) -> (f64, [f64; K]),
    ) -> ScaledIntegrals<K> {
        let mut out = ScaledIntegrals::empty();
        let offsets = self.offsets(nodes);
        let mut previous = f64::NEG_INFINITY;
        for panel in 0..self.count {
            let mut last = f64::NEG_INFINITY;
            for (j, (shifted, ln_shifted)) in self.place(panel, &offsets).into_iter().enumerate() {
                let (ln_f, g) = point(shifted - m, ln_shifted);
                // The integrand in w: f(y)·(m + y).
                let ln_term = ln_f + ln_shifted;
                if out.add_node(ln_term, 0.5 * self.h * weights[j], g) {
                    previous = last;
                    last = ln_term;
                }
            }
            let falling = last < previous;
            if falling && last < out.ln_scale - NEGLIGIBLE_E_FOLDS {
                break;
            }
        }
        out
    }
}

impl<const K: usize> ScaledIntegrals<K> {
    /// Nothing integrated yet: zero at scale −∞.
    pub(crate) fn empty() -> ScaledIntegrals<K> {
        ScaledIntegrals {
            ln_scale: f64::NEG_INFINITY,
            sums: [0.0; K],
        }
    }

    /// Adds a node whose integrand is e^`ln_term` (in w), times `weight`,
    /// with moments `g`, rescaling to the largest term so far; false (and
    /// nothing added) when `ln_term` is not finite.
    #[inline]
    pub(crate) fn add_node(&mut self, ln_term: f64, weight: f64, g: [f64; K]) -> bool {
        if !ln_term.is_finite() {
            return false;
        }
        if ln_term > self.ln_scale {
            let shrink = (self.ln_scale - ln_term).exp();
            for s in &mut self.sums {
                *s *= shrink;
            }
            self.ln_scale = ln_term;
        }
        let term = weight * (ln_term - self.ln_scale).exp();
        for (s, gk) in self.sums.iter_mut().zip(g) {
            *s += term * gk;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ∫_lo^hi (a+y)^−p (b+y)^−q dy by a plain composite Simpson rule on a
    /// fine grid: an independent check, slow but simple.
    fn simpson(lo: f64, hi: f64, a: f64, p: f64, b: f64, q: f64) -> f64 {
        let n = 2_000_000;
        let h = (hi - lo) / n as f64;
        let f = |y: f64| (a + y).powf(-p) * (b + y).powf(-q);
        let mut s = f(lo) + f(hi);
        for i in 1..n {
            s += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    }

    #[test]
    fn matches_a_fine_simpson_rule_and_power_moments() {
        for &(lo, hi, a, p, b, q) in &[
            (0.0, 700.0, 20.0, 0.7, 35.0, 1.6),
            (100.0, 101.0, 5.0, 3.0, 2.0, 1.1),
            (3.0, 1000.0, 80.0, 40.5, 12.0, 1.9),
            (0.0, 50.0, 0.01, 0.2, 40.0, 1.01),
        ] {
            let m = f64::min(a, b);
            let got = integrate(lo, hi, m, p + q + 1.0, |y, _| {
                (-p * (a + y).ln() - q * (b + y).ln(), [1.0, 1.0 / (a + y)])
            });
            let want = simpson(lo, hi, a, p, b, q);
            let value = got.ln_first().exp();
            assert!(
                (value - want).abs() <= 1e-9 * want,
                "{lo} {hi} {a} {p} {b} {q}: {value:e} vs {want:e}"
            );
            // The moment with 1/(a+y) is the integral with p + 1.
            let moment = (got.ln_scale + got.sums[1].ln()).exp();
            let want = simpson(lo, hi, a, p + 1.0, b, q);
            assert!(
                (moment - want).abs() <= 1e-9 * want,
                "{moment:e} vs {want:e}"
            );
        }
    }

    /// Exponents in the thousands: the integral is e^−thousands, kept as a
    /// logarithm, and equals the closed form of the one-factor case.
    #[test]
    fn huge_exponents_stay_in_log_space() {
        let (lo, hi, a, p) = (10.0, 900.0, 30.0, 5000.0);
        let got = integrate(lo, hi, a, p + 1.0, |_, ln_a_y| (-p * ln_a_y, [1.0]));
        // ∫ (a+y)^−p = (a+lo)^(1−p)/(p−1) · [1 − ((a+hi)/(a+lo))^(1−p)].
        let fall = ((1.0 - p) * ((a + hi) / (a + lo)).ln()).exp();
        let want = (1.0 - p) * (a + lo).ln() - (p - 1.0).ln() + (-fall).ln_1p();
        assert!(
            (got.ln_first() - want).abs() < 1e-12 * want.abs(),
            "{} vs {want}",
            got.ln_first()
        );
    }

    /// Short ranges, where the log-integrand changes by up to
    /// [`FEW_NODES_E_FOLDS`] and the 8-point rule is used, agree with the
    /// 16-point rule on the same panel to rounding (value and moment).
    #[test]
    fn few_nodes_on_short_ranges_match_the_sixteen_point_rule() {
        let (mut checked, mut largest) = (0, 0.0f64);
        for &(lo, a, b) in &[(0.0, 0.3, 2.0), (40.0, 120.0, 800.0), (900.0, 3.0, 1e4)] {
            for &p in &[0.5, 3.0, 40.0, 310.0, 400.0, 2000.0] {
                let q = 1.6;
                let m = f64::min(a, b);
                for &len in &[1.0, 0.25, 3.0] {
                    let hi = lo + len;
                    let rate = power_pair_rate(a, p, b, q, hi);
                    let width = ((m + hi) / (m + lo)).ln();
                    if rate * width > FEW_NODES_E_FOLDS {
                        continue;
                    }
                    let point =
                        |y: f64, _: f64| (-p * (a + y).ln() - q * (b + y).ln(), [1.0, y / (a + y)]);
                    let got = integrate(lo, hi, m, rate, point);
                    let panels = Panels {
                        base: m + lo,
                        ln_base: (m + lo).ln(),
                        h: width,
                        count: 1,
                    };
                    let want = panels.sum(gauss_legendre(), m, point);
                    let (g, w) = (got.ln_first(), want.ln_first());
                    assert!(
                        (g - w).abs() <= 4e-16 * w.abs().max(1.0),
                        "{lo} {a} {b} {p} {len}"
                    );
                    let (gm, wm) = (got.sums[1] / got.sums[0], want.sums[1] / want.sums[0]);
                    assert!((gm - wm).abs() <= 1e-15 * wm, "{lo} {a} {b} {p} {len}");
                    checked += 1;
                    largest = largest.max(rate * width);
                }
            }
        }
        assert!(checked >= 20, "only {checked} short ranges");
        assert!(
            largest > 0.9 * FEW_NODES_E_FOLDS,
            "largest change {largest}"
        );
    }

    #[test]
    fn an_empty_range_is_zero() {
        let got = integrate(5.0, 5.0, 1.0, 3.0, |y, _| (-(1.0 + y).ln(), [1.0]));
        assert_eq!(got.ln_first(), f64::NEG_INFINITY);
    }
}
