//! E[purchases in (T, T+t] | alive at T] for BG/NBD, i.e. FHL 2005 eq. (10)
//! without its P(alive) factor:
//!
//! ```text
//! E = (a+b+x−1)/(a−1) · [1 − (1−z)^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; z)],
//! z = t/(α+T+t),  1−z = (α+T)/(α+T+t)
//! ```
//!
//! Evaluated as written this overflows (₂F₁ ~ (1−z)^−(x+…) for x in the
//! thousands), is 0/0 at a = 1, and divides by a+b+x−1, which is 0 when x = 0
//! and a+b = 1. Euler's transformation ₂F₁(A,B;C;z) = (1−z)^(C−A−B)
//! ₂F₁(C−A, C−B; C; z) removes all three. With a' = a+b−1−r, b' = a−1,
//! c' = a+b+x−1 and L = −ln(1−z) = ln1p(t/(α+T)):
//!
//! ```text
//! (1−z)^(r+x)·₂F₁(r+x, b+x; c'; z) = (1−z)^(a−1) · ₂F₁(a', b'; c'; z)
//! ₂F₁(a', b'; c'; z) = 1 + (b'/c')·Ŝ,  Ŝ = Σ_{n≥1} σₙ,
//! σ₁ = a'·z,  σₙ₊₁ = σₙ·(a'+n)(b'+n)/((c'+n)(n+1))·z
//! E = c'·L·φ((a−1)L) − e^{−(a−1)L}·Ŝ,  φ(v) = (1 − e^{−v})/v  (φ(0) = 1)
//! ```
//!
//! Every σₙ has the sign of (a')ₙ (because b'+1 = a > 0 and c'+1 > 0), so for
//! a' ≥ 0, the usual case (a+b ≥ 1+r), the series has no cancellation. Its
//! terms shrink like zⁿ, so it needs ~37/(1−z) terms at worst; z is close to 1
//! only when α+T is tiny next to the horizon. For a' well below 0 (r much
//! larger than a+b, unusual) the Euler series alternates with large terms,
//! and the original series is summed instead, in scaled form so it cannot
//! overflow.
//!
//! For large a the Euler series is the wrong tool: its terms grow until
//! n ≈ (a−1)·k (k = t/(α+T)), to about e^((a−1)L), so it needs that many
//! terms and overflows once (a−1)·L passes ~700. That is where a fit ends up when the
//! likelihood's optimum is on the boundary a, b → ∞ with a/(a+b) fixed
//! (every customer with the same dropout probability; short or small
//! histories). There the same expectation is computed from its definition,
//! the mean over the posterior dropout probability p ~ Beta(a, b+x) of the
//! expectation for a known p,
//!
//! ```text
//! E = ∫ (1 − (1 + p·k)^−(r+x)) / p · Beta(p; a, b+x) dp,   k = t/(α+T)
//! ```
//!
//! (given p, a customer alive at T makes min(K, G) purchases, K Poisson and
//! G geometric; averaged over the Gamma posterior of the rate), by
//! Gauss–Legendre quadrature over the posterior's ±40 σ: the posterior is
//! then concentrated and smooth, so the quadrature is exact to rounding.

use super::quadrature::gauss_legendre;
use super::BgNbdParams;

/// Relative size of the estimated series tail at which summation stops.
const SERIES_TOL: f64 = 1e-17;
/// Hard cap on series terms: bounds the cost of a pathological row
/// (z within ~1e-7 of 1, i.e. α+T under a millionth of the horizon) to tens of
/// milliseconds. Such a row's value is then a slight underestimate, never NaN.
const MAX_TERMS: usize = 5_000_000;
/// Below this a' the Euler series alternates with terms up to ~2^|a'|; the
/// original series (all terms of one sign after the first) is used instead.
const EULER_MIN_A: f64 = -8.0;
/// Above this (a−1)·L the Euler series needs hundreds of terms growing to
/// e^((a−1)L); the posterior mixture is integrated instead when it is
/// concentrated and smooth ([`MIXTURE_MIN_A`], [`MIXTURE_MIN_B`]).
const SERIES_MAX_GROWTH: f64 = 50.0;
/// Smallest a, and b + x, for the quadrature: the Beta(a, b+x) posterior
/// is then unimodal, smooth at both ends of [0, 1] and at most ~0.1 wide
/// relative to its mean.
const MIXTURE_MIN_A: f64 = 100.0;
const MIXTURE_MIN_B: f64 = 2.0;

/// (1 − e^{−v})/v, continuous at 0.
fn phi(v: f64) -> f64 {
    if v.abs() < 1e-300 {
        1.0
    } else {
        -(-v).exp_m1() / v
    }
}

/// Geometric-rate estimate of a series tail after a term `next` whose
/// successor ratio is `ratio`, given that ratios tend to z.
fn tail_small(next: f64, ratio: f64, z: f64, sum: f64) -> bool {
    let rate = ratio.abs().max(z);
    rate < 1.0 && next.abs() / (1.0 - rate) <= SERIES_TOL * sum.abs()
}

/// Expected purchases in the next `horizon` days for a customer alive at
/// T = `t` with x repeat purchases. 0 for a non-positive or non-finite
/// horizon; ≥ 0 for valid parameters, and NaN (never a made-up number)
/// where no form here can compute it.
pub(crate) fn expected_purchases_if_alive(p: &BgNbdParams, x: f64, t: f64, horizon: f64) -> f64 {
    if horizon.is_nan() || horizon <= 0.0 || !p.is_valid() {
        return 0.0;
    }
    let horizon = horizon.min(f64::MAX);
    let k = horizon / (p.alpha + t);
    let l = k.ln_1p();
    let z = k / (1.0 + k);
    if z.is_nan() || z <= 0.0 {
        return 0.0;
    }
    let a_euler = p.a + p.b - 1.0 - p.r;
    let mixture =
        (p.a - 1.0) * l > SERIES_MAX_GROWTH && p.a >= MIXTURE_MIN_A && p.b + x >= MIXTURE_MIN_B;
    let e = if mixture {
        posterior_mixture_form(p, x, k)
    } else if a_euler >= EULER_MIN_A || (p.a - 1.0).abs() < 1e-7 {
        euler_form(p, x, z, l)
    } else {
        original_form(p, x, z, l)
    };
    if e.is_finite() {
        e.max(0.0)
    } else {
        f64::NAN
    }
}

/// Gauss–Legendre panels (of `quadrature::NODES` nodes) over the
/// posterior's ±[`MIXTURE_SIGMAS`] σ.
const MIXTURE_PANELS: usize = 16;
const MIXTURE_SIGMAS: f64 = 40.0;

/// E[purchases in k·(α+T) days | alive] as the mean over p ~ Beta(a, b+x)
/// of (1 − (1 + p·k)^−(r+x))/p (see the module notes). The density is used
/// relative to its value at the mean and the quadrature divided by the
/// quadrature of the density itself, so the Beta function (whose logarithm
/// is ~10⁷ for a ~ 10⁶ and would cost precision) never enters.
fn posterior_mixture_form(p: &BgNbdParams, x: f64, k: f64) -> f64 {
    let (big_a, big_b, s) = (p.a, p.b + x, p.r + x);
    let mean = big_a / (big_a + big_b);
    let sd = (mean * (1.0 - mean) / (big_a + big_b + 1.0)).sqrt();
    let lo = (mean - MIXTURE_SIGMAS * sd).max(0.0);
    let hi = (mean + MIXTURE_SIGMAS * sd).min(1.0);
    let ln_density = |q: f64| (big_a - 1.0) * q.ln() + (big_b - 1.0) * (-q).ln_1p();
    let at_mean = ln_density(mean);
    let (nodes, weights) = gauss_legendre();
    let width = (hi - lo) / MIXTURE_PANELS as f64;
    let (mut mass, mut total) = (0.0, 0.0);
    for panel in 0..MIXTURE_PANELS {
        let middle = lo + (panel as f64 + 0.5) * width;
        for (node, weight) in nodes.iter().zip(weights) {
            let q = middle + 0.5 * width * node;
            if q <= 0.0 || q >= 1.0 {
                continue;
            }
            let density = (ln_density(q) - at_mean).exp() * weight;
            let purchases = -(-s * (q * k).ln_1p()).exp_m1() / q;
            mass += density;
            total += density * purchases;
        }
    }
    total / mass
}

fn euler_form(p: &BgNbdParams, x: f64, z: f64, l: f64) -> f64 {
    let ap = p.a + p.b - 1.0 - p.r;
    let bp = p.a - 1.0;
    let cp = p.a + p.b + x - 1.0;
    let mut term = ap * z; // σ₁
    let mut sum = 0.0;
    let mut n = 1.0;
    for _ in 0..MAX_TERMS {
        sum += term;
        let ratio = (ap + n) * (bp + n) / ((cp + n) * (n + 1.0)) * z;
        let next = term * ratio;
        if next == 0.0 || tail_small(next, ratio, z, sum) {
            break;
        }
        term = next;
        n += 1.0;
    }
    let v = (p.a - 1.0) * l;
    cp * l * phi(v) - (-v).exp() * sum
}

/// E = [c'·(1 − K) − K·Σₙ c'·τₙ]/(a − 1) with K = (1−z)^(r+x) and τₙ the
/// terms of ₂F₁(r+x, b+x; c'; z). Summed with c' folded into the terms (so
/// c' → 0 is harmless) and with a running power-of-two scale (the terms can
/// reach e^(x·L)).
fn original_form(p: &BgNbdParams, x: f64, z: f64, l: f64) -> f64 {
    let big_a = p.r + x;
    let big_b = p.b + x;
    let cp = p.a + p.b + x - 1.0;
    let mut term = big_a * big_b * z; // c'·τ₁
    let mut sum = 0.0;
    let mut ln_scale = 0.0;
    let mut n = 1.0;
    const RESCALE: f64 = 1e200;
    for _ in 0..MAX_TERMS {
        sum += term;
        let ratio = (big_a + n) * (big_b + n) / ((cp + n) * (n + 1.0)) * z;
        let next = term * ratio;
        if next == 0.0 || tail_small(next, ratio, z, sum) {
            break;
        }
        term = next;
        if sum.abs() > RESCALE {
            sum /= RESCALE;
            term /= RESCALE;
            ln_scale += RESCALE.ln();
        }
        n += 1.0;
    }
    let ln_k = -big_a * l;
    let k_sum = if sum > 0.0 {
        (ln_k + ln_scale + sum.ln()).exp()
    } else {
        -(ln_k + ln_scale + (-sum).ln()).exp()
    };
    (cp * -ln_k.exp_m1() - k_sum) / (p.a - 1.0)
}

/// The Euler series at k = horizon/(α+T), whatever the size of a: for
/// tests that compare it with the other forms.
#[cfg(test)]
pub(crate) fn euler_form_for_tests(p: &BgNbdParams, x: f64, k: f64) -> f64 {
    euler_form(p, x, k / (1.0 + k), k.ln_1p())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both branches are exact where both are well conditioned (a' a little
    /// below 0, where the Euler series has only a couple of negative terms).
    #[test]
    fn euler_and_original_series_agree() {
        for &(r, alpha, a, b) in &[
            (2.0, 10.0, 0.6, 1.1),
            (3.5, 40.0, 2.2, 0.9),
            (1.2, 5.0, 0.4, 0.3),
        ] {
            let p = BgNbdParams { r, alpha, a, b };
            for &x in &[0.0, 1.0, 7.0, 60.0] {
                for &(t, h) in &[(0.0, 30.0), (100.0, 365.0), (700.0, 10.0)] {
                    let k: f64 = h / (alpha + t);
                    let (z, l) = (k / (1.0 + k), k.ln_1p());
                    let e1 = euler_form(&p, x, z, l);
                    let e2 = original_form(&p, x, z, l);
                    assert!(
                        (e1 - e2).abs() <= 1e-10 * e1.abs().max(1e-12),
                        "{p:?} x={x} T={t} t={h}: {e1} vs {e2}"
                    );
                }
            }
        }
    }

    /// At a = 1 exactly the textbook formula is 0/0; the Euler form is not,
    /// and is continuous there.
    #[test]
    fn continuous_at_a_equal_one() {
        let mk = |a| BgNbdParams {
            r: 0.7,
            alpha: 20.0,
            a,
            b: 2.5,
        };
        for &x in &[0.0, 3.0] {
            let at = expected_purchases_if_alive(&mk(1.0), x, 50.0, 365.0);
            let near = expected_purchases_if_alive(&mk(1.0 + 1e-9), x, 50.0, 365.0);
            assert!(at.is_finite() && at > 0.0);
            assert!((at - near).abs() < 1e-7 * at, "{at} vs {near}");
        }
    }
}
