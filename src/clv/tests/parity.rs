//! Parity with the `lifetimes` Python package (0.11.3).
//!
//! Inputs, in [`super::golden_dir`] (`tests/golden/clv/`):
//! * `customers.csv`: the summary our tool produced for the repo's
//!   golden dataset (copy of `tests/golden/expected/customers.csv`, 2,812
//!   customers);
//! * `lifetimes_golden.json`: made from it by `make_lifetimes_golden.py`
//!   (same folder) (BetaGeoFitter and GammaGammaFitter,
//!   penalizer 0, time in days).
//!
//! Tolerance 1e-4 relative for parameters, log-likelihoods and predictions.
//! Predictions are compared at lifetimes' parameters, so the test checks the
//! prediction formulas on their own; the parameters are compared separately.

use super::{assert_close, golden_dir};
use crate::clv::{
    conditional_expected_purchases, fit_bgnbd, fit_gamma_gamma, predict, probability_alive,
    BgNbdParams, CustomerSummaryInput, GammaGammaParams, PredictionSettings,
};

const REL: f64 = 1e-4;

struct Csv {
    ids: Vec<String>,
    frequency: Vec<i64>,
    recency: Vec<i64>,
    tenure: Vec<i64>,
    monetary: Vec<f64>,
}

fn read_summary_csv() -> Csv {
    // The summary our tool produced for the golden data set.
    let path = golden_dir().join("../expected/customers.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header line").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (ci, cf, cr, ct, cm) = (
        col("customer_id"),
        col("frequency"),
        col("recency_days"),
        col("tenure_days"),
        col("monetary_value"),
    );
    let mut csv = Csv {
        ids: vec![],
        frequency: vec![],
        recency: vec![],
        tenure: vec![],
        monetary: vec![],
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        csv.ids.push(f[ci].to_string());
        csv.frequency.push(f[cf].parse().expect("frequency"));
        csv.recency.push(f[cr].parse().expect("recency_days"));
        csv.tenure.push(f[ct].parse().expect("tenure_days"));
        csv.monetary.push(f[cm].parse().expect("monetary_value"));
    }
    csv
}

fn read_golden() -> serde_json::Value {
    let path = golden_dir().join("lifetimes_golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON")
}

fn num(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64().unwrap_or_else(|| panic!("number at {path:?}"))
}

fn column(v: &serde_json::Value, name: &str) -> Vec<f64> {
    v["per_customer"][name]
        .as_array()
        .unwrap_or_else(|| panic!("per_customer.{name}"))
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn max_rel(got: &[f64], want: &[f64], floor: f64) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(floor))
        .fold(0.0, f64::max)
}

#[test]
fn parameters_and_log_likelihoods_match_lifetimes() {
    let csv = read_summary_csv();
    let g = read_golden();
    let input = CustomerSummaryInput {
        frequency: &csv.frequency,
        recency_days: &csv.recency,
        tenure_days: &csv.tenure,
        monetary_value: &csv.monetary,
    };
    assert_eq!(csv.ids.len() as f64, num(&g, &["customers"]));

    let (bg, rep) = fit_bgnbd(&input);
    assert!(rep.converged, "{rep:?}");
    let lt_bg = BgNbdParams {
        r: num(&g, &["bg_nbd", "params", "r"]),
        alpha: num(&g, &["bg_nbd", "params", "alpha"]),
        a: num(&g, &["bg_nbd", "params", "a"]),
        b: num(&g, &["bg_nbd", "params", "b"]),
    };
    let lt_ll = num(&g, &["bg_nbd", "log_likelihood"]);
    eprintln!(
        "bg/nbd ours {bg:?} ll {} | lifetimes {lt_bg:?} ll {lt_ll}",
        rep.log_likelihood
    );
    // Our optimum may only be better than lifetimes' (its BFGS stops at a
    // gradient of 1e-7), never worse.
    assert!(
        rep.log_likelihood >= lt_ll - 1e-6 * lt_ll.abs(),
        "{} < {lt_ll}",
        rep.log_likelihood
    );
    for (name, ours, theirs) in [
        ("r", bg.r, lt_bg.r),
        ("alpha", bg.alpha, lt_bg.alpha),
        ("a", bg.a, lt_bg.a),
        ("b", bg.b, lt_bg.b),
    ] {
        eprintln!("  {name}: rel diff {:e}", (ours - theirs).abs() / theirs);
        assert_close(ours, theirs, REL, 0.0, name);
    }
    assert_close(
        rep.log_likelihood,
        lt_ll,
        1e-9,
        0.0,
        "bg/nbd log-likelihood",
    );

    let (gg, rep) = fit_gamma_gamma(&input);
    assert!(rep.converged, "{rep:?}");
    assert_eq!(rep.customers as f64, num(&g, &["gamma_gamma", "customers"]));
    let lt_gg = GammaGammaParams {
        p: num(&g, &["gamma_gamma", "params", "p"]),
        q: num(&g, &["gamma_gamma", "params", "q"]),
        gamma: num(&g, &["gamma_gamma", "params", "v"]),
    };
    let lt_ll = num(&g, &["gamma_gamma", "log_likelihood"]);
    eprintln!(
        "gamma-gamma ours {gg:?} ll {} | lifetimes {lt_gg:?} ll {lt_ll}",
        rep.log_likelihood
    );
    assert!(rep.log_likelihood >= lt_ll - 1e-6 * lt_ll.abs());
    for (name, ours, theirs) in [
        ("p", gg.p, lt_gg.p),
        ("q", gg.q, lt_gg.q),
        ("gamma", gg.gamma, lt_gg.gamma),
    ] {
        eprintln!("  {name}: rel diff {:e}", (ours - theirs).abs() / theirs);
        assert_close(ours, theirs, REL, 0.0, name);
    }
    assert_close(
        rep.log_likelihood,
        lt_ll,
        1e-9,
        0.0,
        "gamma-gamma log-likelihood",
    );
}

#[test]
fn predictions_match_lifetimes_at_its_parameters() {
    let csv = read_summary_csv();
    let g = read_golden();
    let input = CustomerSummaryInput {
        frequency: &csv.frequency,
        recency_days: &csv.recency,
        tenure_days: &csv.tenure,
        monetary_value: &csv.monetary,
    };
    let bg = BgNbdParams {
        r: num(&g, &["bg_nbd", "params", "r"]),
        alpha: num(&g, &["bg_nbd", "params", "alpha"]),
        a: num(&g, &["bg_nbd", "params", "a"]),
        b: num(&g, &["bg_nbd", "params", "b"]),
    };
    let gg = GammaGammaParams {
        p: num(&g, &["gamma_gamma", "params", "p"]),
        q: num(&g, &["gamma_gamma", "params", "q"]),
        gamma: num(&g, &["gamma_gamma", "params", "v"]),
    };
    let n = csv.ids.len();
    let x = |i: usize| csv.frequency[i] as f64;
    let p_alive: Vec<f64> = (0..n)
        .map(|i| probability_alive(&bg, x(i), csv.recency[i] as f64, csv.tenure[i] as f64))
        .collect();
    let e365: Vec<f64> = (0..n)
        .map(|i| {
            conditional_expected_purchases(
                &bg,
                x(i),
                csv.recency[i] as f64,
                csv.tenure[i] as f64,
                365.0,
            )
        })
        .collect();
    // lifetimes' customer_lifetime_value(time=12, freq="D", discount_rate=0.01)
    // uses 30-day months.
    let settings = PredictionSettings {
        horizon_months: 12,
        month_days: 30.0,
        discount_rate_monthly: 0.01,
    };
    let preds = predict(bg, Some(&gg), &input, &settings);
    let aov: Vec<f64> = preds.iter().map(|p| p.expected_avg_order_value).collect();
    let clv: Vec<f64> = preds.iter().map(|p| p.clv).collect();
    let pa_pred: Vec<f64> = preds.iter().map(|p| p.p_alive).collect();

    // Relative differences, with a floor of 1e-12 under tiny expectations
    // (absolute differences there are far below anything published).
    let checks = [
        ("p_alive", max_rel(&p_alive, &column(&g, "p_alive"), 1e-12)),
        (
            "p_alive via predict",
            max_rel(&pa_pred, &column(&g, "p_alive"), 1e-12),
        ),
        (
            "expected_purchases_365",
            max_rel(&e365, &column(&g, "expected_purchases_365"), 1e-12),
        ),
        (
            "expected_avg_profit",
            max_rel(&aov, &column(&g, "expected_avg_profit"), 1e-12),
        ),
        (
            "clv_12m_30d_1pct",
            max_rel(&clv, &column(&g, "clv_12m_30d_1pct"), 1e-12),
        ),
    ];
    for (name, rel) in checks {
        eprintln!("{name}: max rel diff {rel:e}");
        assert!(rel <= REL, "{name}: max relative difference {rel:e}");
    }
}

/// What the pipeline publishes: predictions at *our* fitted parameters. They
/// differ from lifetimes' by the parameters' ~1e-7 disagreement only.
#[test]
fn predictions_at_our_fit_match_lifetimes() {
    let csv = read_summary_csv();
    let g = read_golden();
    let input = CustomerSummaryInput {
        frequency: &csv.frequency,
        recency_days: &csv.recency,
        tenure_days: &csv.tenure,
        monetary_value: &csv.monetary,
    };
    let (bg, _) = fit_bgnbd(&input);
    let (gg, _) = fit_gamma_gamma(&input);
    let settings = PredictionSettings {
        horizon_months: 12,
        month_days: 30.0,
        discount_rate_monthly: 0.01,
    };
    let preds = predict(bg, Some(&gg), &input, &settings);
    let pick = |f: fn(&crate::clv::Prediction) -> f64| preds.iter().map(f).collect::<Vec<f64>>();
    for (name, ours, col) in [
        ("p_alive", pick(|p| p.p_alive), "p_alive"),
        (
            "expected_avg_order_value",
            pick(|p| p.expected_avg_order_value),
            "expected_avg_profit",
        ),
        ("clv", pick(|p| p.clv), "clv_12m_30d_1pct"),
    ] {
        let rel = max_rel(&ours, &column(&g, col), 1e-12);
        eprintln!("{name} at our fit: max rel diff {rel:e}");
        assert!(rel <= REL, "{name}: {rel:e}");
    }
}

/// Pareto/NBD and MBG/NBD against `lifetimes`' ParetoNBDFitter and
/// ModifiedBetaGeoFitter (`lifetimes_models_golden.json`, made by
/// `make_lifetimes_models_golden.py`, which polishes lifetimes' fits on its
/// own likelihoods): parameters and log-likelihoods to 1e-4, predictions at
/// lifetimes' parameters to 1e-6.
#[test]
fn pareto_and_mbg_match_lifetimes() {
    use crate::clv::{fit_purchase_model, ParetoNbdParams, PurchaseModel};
    let csv = read_summary_csv();
    let path = golden_dir().join("lifetimes_models_golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let g: serde_json::Value = serde_json::from_str(&text).expect("golden JSON");
    assert_eq!(csv.ids.len() as f64, num(&g, &["customers"]));
    let ids: Vec<&str> = g["per_customer"]["customer_id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids, csv.ids.iter().map(String::as_str).collect::<Vec<_>>());
    let input = CustomerSummaryInput {
        frequency: &csv.frequency,
        recency_days: &csv.recency,
        tenure_days: &csv.tenure,
        monetary_value: &csv.monetary,
    };
    let p = |model: &str, name: &str| num(&g, &[model, "params", name]);
    let theirs = [
        PurchaseModel::ParetoNbd(ParetoNbdParams {
            r: p("pareto_nbd", "r"),
            alpha: p("pareto_nbd", "alpha"),
            s: p("pareto_nbd", "s"),
            beta: p("pareto_nbd", "beta"),
        }),
        PurchaseModel::MbgNbd(BgNbdParams {
            r: p("mbg_nbd", "r"),
            alpha: p("mbg_nbd", "alpha"),
            a: p("mbg_nbd", "a"),
            b: p("mbg_nbd", "b"),
        }),
    ];
    for (model, prefix) in theirs.iter().zip(["pareto", "mbg"]) {
        let name = model.kind().name();
        let (ours, report) = fit_purchase_model(model.kind(), &input, 0.0, None);
        assert!(report.converged, "{report:?}");
        for (k, (parameter, _, _)) in report.parameters.iter().enumerate() {
            let what = format!("{name} {parameter}");
            assert_close(ours.values()[k], model.values()[k], REL, 0.0, &what);
        }
        let ll = num(&g, &[name, "log_likelihood"]);
        assert_close(report.log_likelihood, ll, 1e-9, 0.0, &format!("{name} ll"));

        let horizon = num(&g, &["settings", "expected_purchases_t_days"]);
        let x = |i: usize| csv.frequency[i] as f64;
        let (t_x, t) = (
            |i: usize| csv.recency[i] as f64,
            |i: usize| csv.tenure[i] as f64,
        );
        let n = csv.ids.len();
        let alive: Vec<f64> = (0..n)
            .map(|i| model.probability_alive(x(i), t_x(i), t(i)))
            .collect();
        let want = column(&g, &format!("{prefix}_p_alive"));
        assert!(max_rel(&alive, &want, 1e-12) < 1e-6, "{name} P(alive)");
        let expected: Vec<f64> = (0..n)
            .map(|i| model.conditional_expected_purchases(x(i), t_x(i), t(i), horizon))
            .collect();
        let want = column(&g, &format!("{prefix}_expected_purchases_365"));
        assert!(
            max_rel(&expected, &want, 1e-12) < 1e-6,
            "{name} expected purchases"
        );
        if let PurchaseModel::ParetoNbd(_) = model {
            let none: Vec<f64> = (0..n)
                .map(|i| {
                    let p = alive[i];
                    (1.0 - p) + p * model.p_no_purchase_if_alive(x(i), t(i), horizon)
                })
                .collect();
            let want = column(&g, "pareto_p_no_purchase_365");
            assert!(max_rel(&none, &want, 1e-12) < 1e-6, "{name} P(no purchase)");
        }
    }
}
