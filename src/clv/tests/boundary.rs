//! Predictions where the BG/NBD likelihood's optimum lies on its boundary
//! (a, b → ∞ with a/(a+b) fixed: every customer with the same dropout
//! probability), as fits on short or small histories end up. The expected
//! purchases there once overflowed to NaN and were published as 0.
//!
//! The expected values are from `make_boundary_values.py` in the golden
//! folder ([`super::golden_dir`]; mpmath, 50 digits: the Gauss series of FHL
//! 2005 eq. (10) summed term by term, checked against the mean over the
//! Beta posterior of the dropout probability by quadrature), read from
//! `boundary_values.txt` as the script printed them.

use super::{assert_close, golden_dir};
use crate::clv::hyp2f1::{euler_form_for_tests, expected_purchases_if_alive};
use crate::clv::BgNbdParams;

/// The parameter sets of `make_boundary_values.py`, in its order.
const PARAMS: [BgNbdParams; 3] = [
    BgNbdParams {
        r: 0.5,
        alpha: 20.0,
        a: 300.0,
        b: 800.0,
    },
    BgNbdParams {
        r: 1.7,
        alpha: 45.0,
        a: 5.0e4,
        b: 1.2e5,
    },
    BgNbdParams {
        r: 0.9,
        alpha: 12.0,
        a: 1.9e6,
        b: 4.9e6,
    },
];

/// (param set, x, T, horizon, E[purchases | alive]) rows of the golden file.
fn golden_rows() -> Vec<(usize, f64, f64, f64, f64)> {
    let text = std::fs::read_to_string(golden_dir().join("boundary_values.txt")).unwrap();
    let rows: Vec<_> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('(')?.strip_suffix("),"))
        .map(|row| {
            let v: Vec<f64> = row.split(',').map(|f| f.trim().parse().unwrap()).collect();
            (v[0] as usize, v[1], v[2], v[3], v[4])
        })
        .collect();
    assert_eq!(rows.len(), 24, "every row of boundary_values.txt");
    rows
}

#[test]
fn expected_purchases_for_large_a_and_b_match_arbitrary_precision() {
    for (set, x, t, horizon, want) in golden_rows() {
        let got = expected_purchases_if_alive(&PARAMS[set], x, t, horizon);
        let what = format!("set {set}, x {x}, T {t}, horizon {horizon}");
        assert_close(got, want, 1e-11, 0.0, &what);
    }
}

/// Where both forms are well conditioned (a ≥ 100, (a − 1)·z a little
/// either side of the switch), the Euler series and the posterior mixture
/// agree: the switch is invisible in the published numbers.
#[test]
fn series_and_posterior_mixture_agree_at_the_switch() {
    let mut compared = 0;
    for &(a, b, x) in &[
        (120.0, 300.0, 0.0),
        (400.0, 90.0, 4.0),
        (2500.0, 2500.0, 12.0),
    ] {
        let p = BgNbdParams {
            r: 1.3,
            alpha: 30.0,
            a,
            b,
        };
        for &t in &[5.0, 60.0, 400.0] {
            for &horizon in &[30.4375, 365.25] {
                let k: f64 = horizon / (p.alpha + t);
                // The series' terms grow to e^growth: past ~600 they near
                // overflow, and it is no reference.
                let growth = (a - 1.0) * k.ln_1p();
                if growth > 600.0 {
                    continue;
                }
                let series = euler_form_for_tests(&p, x, k);
                let got = expected_purchases_if_alive(&p, x, t, horizon);
                let what = format!("a {a}, b {b}, x {x}, T {t}, horizon {horizon}");
                assert_close(got, series, 1e-10, 0.0, &what);
                compared += usize::from(growth > 50.0);
            }
        }
    }
    // Most of these went through the mixture.
    assert!(compared >= 8, "{compared} comparisons with the mixture");
}

/// The homogeneous-dropout limit has a closed form: with dropout
/// probability π = a/(a+b) after every purchase, E = (1 − (1 + π·k)^−(r+x))/π.
/// At a, b ~ 10¹² the prediction is that limit to ~1e-6 (the posterior's
/// spread). (The old series ran to its five-million-term cap here.)
#[test]
fn far_on_the_boundary_the_prediction_is_the_homogeneous_limit() {
    let p = BgNbdParams {
        r: 0.8,
        alpha: 15.0,
        a: 2.0e12,
        b: 6.0e12,
    };
    let pi = p.a / (p.a + p.b);
    for &(x, t) in &[(0.0, 3.0), (2.0, 40.0), (9.0, 300.0)] {
        let k: f64 = 365.25 / (p.alpha + t);
        let limit = -(-(p.r + x) * (pi * k).ln_1p()).exp_m1() / pi;
        let got = expected_purchases_if_alive(&p, x, t, 365.25);
        assert_close(got, limit, 1e-6, 0.0, &format!("x {x}, T {t}"));
    }
}

/// Pareto/NBD's boundary: s, β → ∞ with μ = s/β fixed, every customer's
/// lifetime exponential with the same rate μ. The likelihood tends to
/// Γ(r+x)·α^r/Γ(r)·[e^−μT·(α+T)^−(r+x) + μ·∫_{t_x}^T e^−μy·(α+y)^−(r+x) dy],
/// integrated here by a fine Simpson rule; at s = 10⁹ the two differ by
/// about 1e-8 relative (μ·y²/2β and y/β over the range). Fits on short
/// histories walk toward this boundary, and while the quadrature's panel
/// count followed the size of the exponents rather than how much the
/// integrand changes, one such likelihood took billions of panels and a
/// run never ended.
#[test]
fn pareto_nbd_far_on_the_boundary_is_the_exponential_lifetime_limit() {
    use crate::clv::{pareto_nbd_log_likelihood, ParetoNbdParams};
    use statrs::function::gamma::ln_gamma;
    let mu = 1.0 / 400.0;
    let p = ParetoNbdParams {
        r: 0.5,
        alpha: 20.0,
        s: 1.0e9,
        beta: 1.0e9 / mu,
    };
    for &(x, t_x, t) in &[(0.0, 0.0, 30.0), (3.0, 100.0, 600.0), (12.0, 590.0, 600.0)] {
        let rx = p.r + x;
        let g = |y: f64| (-mu * y - rx * (p.alpha + y).ln()).exp();
        let n = 200_000;
        let h = (t - t_x) / n as f64;
        let inner: f64 = (1..n)
            .map(|i| g(t_x + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
            .sum();
        let died = if t > t_x {
            mu * (g(t_x) + g(t) + inner) * h / 3.0
        } else {
            0.0
        };
        let limit = ln_gamma(rx) - ln_gamma(p.r) + p.r * p.alpha.ln() + (g(t) + died).ln();
        let got = pareto_nbd_log_likelihood(&p, x, t_x, t);
        assert_close(got, limit, 1e-7, 0.0, &format!("x {x}, t_x {t_x}, T {t}"));
    }
}
