//! Pareto/NBD and MBG/NBD: spot values against arbitrary precision,
//! analytic gradients, the compressed objective, and parameter recovery on
//! data simulated from each model.
//!
//! The spot values are from `make_model_spot_values.py` in the golden folder
//! ([`super::golden_dir`]): mpmath at 50 digits, with the hypergeometric
//! closed forms the Rust code avoids (checked there against quadrature).

use super::sim::simulate_purchases;
use super::{assert_close, golden_dir};
use crate::clv::model::objective_for_tests;
use crate::clv::{
    fit_purchase_model, BgNbdParams, ParetoNbdParams, PurchaseModel, PurchaseModelKind,
};

fn model_of(name: &str, v: [f64; 4]) -> PurchaseModel {
    let [r, alpha, c, d] = v;
    match name {
        "pareto_nbd" => PurchaseModel::ParetoNbd(ParetoNbdParams {
            r,
            alpha,
            s: c,
            beta: d,
        }),
        "mbg_nbd" => PurchaseModel::MbgNbd(BgNbdParams {
            r,
            alpha,
            a: c,
            b: d,
        }),
        other => panic!("unknown model {other}"),
    }
}

#[test]
fn formulas_match_arbitrary_precision() {
    let text = std::fs::read_to_string(golden_dir().join("model_spot_values.txt")).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let v: Vec<f64> = f[1..].iter().map(|x| x.parse().unwrap()).collect();
        let model = model_of(f[0], [v[0], v[1], v[2], v[3]]);
        let (x, t_x, t, horizon) = (v[4], v[5], v[6], v[7]);
        let what = |q: &str| format!("{} {:?} x={x} t_x={t_x} T={t}: {q}", f[0], &v[..4]);
        assert_close(
            model.log_likelihood(x, t_x, t),
            v[8],
            1e-12,
            0.0,
            &what("log-likelihood"),
        );
        assert_close(
            model.probability_alive(x, t_x, t),
            v[9],
            1e-11,
            1e-300,
            &what("P(alive)"),
        );
        assert_close(
            model.conditional_expected_purchases(x, t_x, t, horizon),
            v[10],
            1e-10,
            1e-300,
            &what("expected purchases"),
        );
        let p_alive = model.probability_alive(x, t_x, t);
        let p_none = (1.0 - p_alive) + p_alive * model.p_no_purchase_if_alive(x, t, horizon);
        assert_close(p_none, v[11], 1e-11, 0.0, &what("P(no purchase)"));
        rows += 1;
    }
    assert_eq!(rows, 35, "every row of model_spot_values.txt");
}

#[test]
fn analytic_gradients_match_finite_differences() {
    let truth = PurchaseModel::ParetoNbd(ParetoNbdParams {
        r: 0.6,
        alpha: 30.0,
        s: 0.8,
        beta: 60.0,
    });
    let sample = simulate_purchases(2_000, &truth, 30.0, 720.0, 1.0, 7);
    let input = sample.input();
    for kind in [PurchaseModelKind::ParetoNbd, PurchaseModelKind::MbgNbd] {
        // Away from the optimum, with α ≈ β and α = β for Pareto/NBD, and
        // far toward each model's boundary: for Pareto/NBD s, β → ∞
        // (s/β = 1/400), where its gradient once kept only six digits.
        let boundary = [-0.7, 3.0, 1e9f64.ln(), 4e11f64.ln()];
        let mut points = vec![
            [0.3f64, 2.0, -0.5, 1.0],
            [-0.4, 3.4, 0.1, 3.4 + 1e-9],
            [-0.4, 3.4, 0.1, 3.4],
        ];
        if kind == PurchaseModelKind::ParetoNbd {
            points.push(boundary);
        } else {
            // a, b → ∞ with a/(a+b) = 1/5, where the Γ differences of
            // the Beta function once kept only four digits.
            points.push([-0.7, 3.0, 1e9f64.ln(), 4e9f64.ln()]);
        }
        for theta in points {
            let (_, g) = objective_for_tests(kind, &input, &theta);
            for k in 0..4 {
                let h = 1e-6;
                let (mut up, mut dn) = (theta, theta);
                up[k] += h;
                dn[k] -= h;
                let fd = (objective_for_tests(kind, &input, &up).0
                    - objective_for_tests(kind, &input, &dn).0)
                    / (2.0 * h);
                assert_close(
                    g[k],
                    fd,
                    1e-6,
                    1e-9,
                    &format!("{kind:?} d/dθ{k} at {theta:?}"),
                );
            }
        }
    }
}

/// The compressed objective equals the sum of the public one-customer
/// log-likelihoods.
#[test]
fn compressed_objective_equals_sum_of_customer_likelihoods() {
    let truth = PurchaseModel::MbgNbd(BgNbdParams {
        r: 0.5,
        alpha: 20.0,
        a: 0.8,
        b: 4.0,
    });
    let sample = simulate_purchases(3_000, &truth, 30.0, 720.0, 1.0, 11);
    let input = sample.input();
    for model in [
        truth,
        PurchaseModel::ParetoNbd(ParetoNbdParams {
            r: 0.7,
            alpha: 15.0,
            s: 1.4,
            beta: 200.0,
        }),
    ] {
        let theta = model.values().map(f64::ln);
        let (mean, _) = objective_for_tests(model.kind(), &input, &theta);
        let direct: f64 = (0..input.len())
            .map(|i| {
                model.log_likelihood(
                    sample.frequency[i] as f64,
                    sample.recency[i] as f64,
                    sample.tenure[i] as f64,
                )
            })
            .sum();
        let total = -mean * input.len() as f64;
        assert_close(total, direct, 1e-12, 0.0, &format!("{:?}", model.kind()));
    }
}

/// The parameters of `model` with time measured in units of 1/`per_day`
/// days: the rates' scales (α, and β of Pareto/NBD) grow by `per_day`.
fn in_time_units(model: &PurchaseModel, per_day: f64) -> [f64; 4] {
    let mut v = model.values();
    v[1] *= per_day;
    if model.kind() == PurchaseModelKind::ParetoNbd {
        v[3] *= per_day;
    }
    v
}

/// Fits on 5,000 simulated customers per seed recover the generating
/// parameters. Tolerance: 4 standard errors of the fit itself (from its
/// Hessian), so a failure means a bias well beyond sampling error; times
/// are recorded in 1/100 days so integer rounding is negligible (α and β
/// are then in 1/100 days too).
#[test]
fn fits_recover_simulated_parameters() {
    let truths = [
        PurchaseModel::ParetoNbd(ParetoNbdParams {
            r: 0.55,
            alpha: 10.0,
            s: 0.6,
            beta: 12.0,
        }),
        PurchaseModel::MbgNbd(BgNbdParams {
            r: 0.5,
            alpha: 20.0,
            a: 0.8,
            b: 4.0,
        }),
    ];
    for truth in truths {
        for seed in [1, 2, 3] {
            let sample = simulate_purchases(5_000, &truth, 30.0, 720.0, 100.0, seed);
            let (fitted, report) = fit_purchase_model(truth.kind(), &sample.input(), 0.0, None);
            assert!(report.converged, "{report:?}");
            for (k, (name, value, se)) in report.parameters.iter().enumerate() {
                let se = se.expect("standard error");
                let want = in_time_units(&truth, 100.0)[k];
                assert!(
                    (value - want).abs() <= 4.0 * se,
                    "{:?} seed {seed} {name}: {value} vs {want} (se {se})",
                    truth.kind()
                );
                assert_eq!(*value, fitted.values()[k]);
            }
        }
    }
}
