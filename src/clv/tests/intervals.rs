//! The `_low` / `_high` intervals (`clv::uncertainty`), checked two
//! independent ways:
//!
//! * against brute force: parameters drawn from the fits' asymptotic normal
//!   distribution, every prediction recomputed at each draw with plain
//!   [`predict`], and the spread of the results compared with the delta
//!   method's;
//! * by coverage: over many data sets simulated from known parameters, the
//!   80 % interval of the population forecast contains the forecast at the
//!   true parameters (for the same customers) about 80 % of the time.

use rayon::prelude::*;

use super::sim::{simulate, Rng, Summary, Truth};
use crate::clv::{
    fit_gamma_gamma, fit_purchase_model, predict, predict_with_intervals, CompressedSummary,
    FitReport, GammaGammaParams, LogCovariance, Prediction, PredictionIntervals,
    PredictionSettings, PurchaseModel, PurchaseModelKind, Uncertainty,
};

/// CDNOW-like parameters, time in days (FHL 2005's weekly α of 4.41 × 7),
/// and the Gamma-Gamma estimates of Fader, Hardie & Lee's note 025.
pub(super) const TRUTH: Truth = Truth {
    r: 0.243,
    alpha: 30.9,
    a: 0.793,
    b: 2.426,
    p: 6.25,
    q: 3.74,
    gamma: 15.44,
};

fn settings(horizon_months: u32) -> PredictionSettings {
    PredictionSettings {
        horizon_months,
        ..PredictionSettings::default()
    }
}

/// BG/NBD and Gamma-Gamma fitted to one data set, with the uncertainty of
/// both.
struct Fitted {
    model: PurchaseModel,
    report: FitReport,
    gg: GammaGammaParams,
    gg_report: FitReport,
    uncertainty: Uncertainty,
}

impl Fitted {
    /// Both models fitted to `data`, intervals at `level`.
    fn to(data: &Summary, level: f64) -> Fitted {
        let (model, report) =
            fit_purchase_model(PurchaseModelKind::BgNbd, &data.input(), 0.0, None);
        let (gg, gg_report) = fit_gamma_gamma(&data.input());
        let uncertainty = Uncertainty {
            purchase: LogCovariance::of_fit(&report).expect("a converged purchase fit"),
            spend: Some(LogCovariance::of_fit(&gg_report).expect("a converged Gamma-Gamma fit")),
            level,
        };
        Fitted {
            model,
            report,
            gg,
            gg_report,
            uncertainty,
        }
    }

    /// The customers of `data` scored, with their intervals.
    fn score(
        &self,
        data: &Summary,
        settings: &PredictionSettings,
    ) -> (Vec<Prediction>, PredictionIntervals) {
        score(
            self.model,
            Some(&self.gg),
            &self.uncertainty,
            data,
            settings,
        )
    }
}

/// The customers of `data` scored by `model` (and `gg` when given), with
/// their intervals.
fn score(
    model: PurchaseModel,
    gg: Option<&GammaGammaParams>,
    uncertainty: &Uncertainty,
    data: &Summary,
    settings: &PredictionSettings,
) -> (Vec<Prediction>, PredictionIntervals) {
    let summary = CompressedSummary::of(&data.input());
    let (predictions, intervals) = predict_with_intervals(
        model,
        gg,
        &data.input(),
        &summary,
        settings,
        Some(uncertainty),
    );
    (
        predictions.to_vec(),
        intervals.expect("an uncertainty was given"),
    )
}

/// Lower Cholesky factor of Σ = inverse Hessian / customers (the fit
/// report's definition of the covariance of the log-parameters).
fn cholesky_of_covariance(report: &FitReport) -> Vec<Vec<f64>> {
    let h = report.inverse_hessian.as_ref().unwrap();
    let n = h.len();
    let w = report.customers as f64;
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            let a = h[i][j] / w;
            l[i][j] = if i == j {
                (a - s).sqrt()
            } else {
                (a - s) / l[j][j]
            };
        }
    }
    l
}

/// exp(ln θ̂ + L·z) for a standard normal vector z.
fn draw(report: &FitReport, l: &[Vec<f64>], rng: &mut Rng) -> Vec<f64> {
    let z: Vec<f64> = (0..l.len()).map(|_| rng.normal()).collect();
    report
        .parameters
        .iter()
        .enumerate()
        .map(|(i, p)| (p.1.ln() + (0..=i).map(|k| l[i][k] * z[k]).sum::<f64>()).exp())
        .collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (below, frac) = (position.floor() as usize, position.fract());
    sorted[below] + frac * (sorted[(below + 1).min(sorted.len() - 1)] - sorted[below])
}

/// The standard deviation of ln f over the draws, from the spread of its
/// 10 % and 90 % quantiles (robust to the odd extreme draw), and the median
/// of f.
fn spread_of_draws(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let z = 1.2815515655446004;
    let sd = (quantile(&values, 0.9).ln() - quantile(&values, 0.1).ln()) / (2.0 * z);
    (sd, quantile(&values, 0.5))
}

/// The delta method's standard deviation of ln f, recovered from an
/// interval f·exp(±z·sd).
fn spread_of_interval([low, high]: [f64; 2], z: f64) -> f64 {
    (high / low).ln() / (2.0 * z)
}

/// Per-customer and forecast intervals agree with the spread of the same
/// figures recomputed at 600 parameter draws: their standard deviation on
/// the log scale within 15 % (the draws' own sampling error is about 4 %),
/// and the estimate within a quarter of a standard deviation of the draws'
/// median.
#[test]
fn delta_intervals_match_parameter_draws() {
    let data = simulate(2_000, &TRUTH, 30.0, 546.0, 1.0, 11);
    let fit = Fitted::to(&data, 0.8);
    let settings = settings(3);
    let (base, intervals) = fit.score(&data, &settings);
    let draws = figures_at_draws(&data, &fit, &settings, 600);
    let uncertainty = fit.uncertainty;
    let z = uncertainty.z();
    let mut checked = Vec::new();
    for (n, &c) in CUSTOMERS.iter().enumerate() {
        checked.push((
            format!("customer {c} expected orders"),
            2 * n,
            base[c].expected_orders,
            intervals.expected_orders[c],
        ));
        checked.push((
            format!("customer {c} clv"),
            2 * n + 1,
            base[c].clv,
            intervals.clv[c],
        ));
    }
    for (m, j) in [0usize, 2].into_iter().enumerate() {
        let (orders, revenue) = totals(&base, j);
        let at = 2 * CUSTOMERS.len() + 2 * m;
        checked.push((
            format!("forecast month {} orders", j + 1),
            at,
            orders,
            intervals.forecast.orders_interval(j, orders, &uncertainty),
        ));
        checked.push((
            format!("forecast month {} revenue", j + 1),
            at + 1,
            revenue,
            intervals
                .forecast
                .revenue_interval(j, revenue, &uncertainty),
        ));
    }
    for (what, index, estimate, interval) in checked {
        let (sd_draws, median) = spread_of_draws(draws.iter().map(|d| d[index]).collect());
        let sd_delta = spread_of_interval(interval, z);
        assert!(
            (sd_delta / sd_draws - 1.0).abs() < 0.15,
            "{what}: delta sd {sd_delta:.5} vs draws {sd_draws:.5}"
        );
        assert!(
            (estimate.ln() - median.ln()).abs() < 0.25 * sd_draws,
            "{what}: estimate {estimate} vs draws' median {median} (sd of ln {sd_draws:.5})"
        );
    }
}

/// The checked figures (each of [`CUSTOMERS`]' expected orders and CLV,
/// then forecast months 1 and 3's orders and revenue) recomputed with plain
/// [`predict`] at `count` parameter draws from the fits' normal.
fn figures_at_draws(
    data: &Summary,
    fit: &Fitted,
    settings: &PredictionSettings,
    count: u64,
) -> Vec<Vec<f64>> {
    let (l, l_gg) = (
        cholesky_of_covariance(&fit.report),
        cholesky_of_covariance(&fit.gg_report),
    );
    (0..count)
        .into_par_iter()
        .map(|seed| {
            let mut rng = Rng::new(1_000 + seed);
            let v = draw(&fit.report, &l, &mut rng);
            let g = draw(&fit.gg_report, &l_gg, &mut rng);
            let moved = PurchaseModel::BgNbd(crate::clv::BgNbdParams {
                r: v[0],
                alpha: v[1],
                a: v[2],
                b: v[3],
            });
            let gg = GammaGammaParams {
                p: g[0],
                q: g[1],
                gamma: g[2],
            };
            let predictions = predict(moved, Some(&gg), &data.input(), settings);
            let mut figures: Vec<f64> = CUSTOMERS
                .iter()
                .flat_map(|&c| [predictions[c].expected_orders, predictions[c].clv])
                .collect();
            for j in [0, 2] {
                let (orders, revenue) = totals(&predictions, j);
                figures.extend([orders, revenue]);
            }
            figures
        })
        .collect()
}

/// Customers of the simulated data set picked for the per-customer check:
/// a one-time buyer, light and heavy repeat buyers (`simulate` with seed 11
/// gives them frequencies 0, 1, 3 and more; the test only needs variety).
const CUSTOMERS: [usize; 5] = [0, 1, 2, 5, 8];

/// Over 400 data sets of 1,500 customers simulated from [`TRUTH`], the
/// 80 % interval of the forecast's months 1 and 6 (orders and revenue)
/// contains the forecast at the true parameters for the same customers in
/// 73 %–87 % of them: the binomial standard deviation of the observed rate
/// at 400 data sets is 2 points, so the band is 3.5 of them either side.
#[test]
fn forecast_intervals_cover_the_truth_about_eighty_percent_of_the_time() {
    const DATA_SETS: u64 = 400;
    let settings = settings(6);
    let true_model = PurchaseModel::BgNbd(crate::clv::BgNbdParams {
        r: TRUTH.r,
        alpha: TRUTH.alpha,
        a: TRUTH.a,
        b: TRUTH.b,
    });
    let true_gg = GammaGammaParams {
        p: TRUTH.p,
        q: TRUTH.q,
        gamma: TRUTH.gamma,
    };
    let covered: Vec<[bool; 4]> = (0..DATA_SETS)
        .into_par_iter()
        .map(|seed| {
            let data = simulate(1_500, &TRUTH, 30.0, 546.0, 1.0, 500 + seed);
            let fit = Fitted::to(&data, 0.8);
            let (base, intervals) = fit.score(&data, &settings);
            let (forecast, uncertainty) = (intervals.forecast, fit.uncertainty);
            let truth = predict(true_model, Some(&true_gg), &data.input(), &settings);
            let mut out = [false; 4];
            for (n, j) in [0usize, 5].into_iter().enumerate() {
                let (orders, revenue) = totals(&base, j);
                let (true_orders, true_revenue) = totals(&truth, j);
                out[2 * n] = inside(
                    forecast.orders_interval(j, orders, &uncertainty),
                    true_orders,
                );
                out[2 * n + 1] = inside(
                    forecast.revenue_interval(j, revenue, &uncertainty),
                    true_revenue,
                );
            }
            out
        })
        .collect();
    let names = [
        "month 1 orders",
        "month 1 revenue",
        "month 6 orders",
        "month 6 revenue",
    ];
    assert_coverage(&covered, &names, (0.73, 0.87));
}

/// The same for the other two purchase models' expected orders (their
/// simulated customers have no spend): 300 data sets each, a band of 3.5
/// binomial standard deviations (2.3 points) either side of 80 %.
#[test]
fn pareto_and_mbg_intervals_cover_the_truth_about_eighty_percent_of_the_time() {
    const DATA_SETS: u64 = 300;
    let settings = settings(6);
    let truths = [
        PurchaseModel::ParetoNbd(crate::clv::ParetoNbdParams {
            r: 0.55,
            alpha: 74.0,
            s: 0.6,
            beta: 82.0,
        }),
        PurchaseModel::MbgNbd(crate::clv::BgNbdParams {
            r: 0.5,
            alpha: 20.0,
            a: 0.8,
            b: 4.0,
        }),
    ];
    for truth_model in truths {
        let covered: Vec<[bool; 2]> = (0..DATA_SETS)
            .into_par_iter()
            .map(|seed| {
                let data = super::sim::simulate_purchases(
                    1_500,
                    &truth_model,
                    30.0,
                    546.0,
                    1.0,
                    900 + seed,
                );
                let kind = truth_model.kind();
                let (model, report) = fit_purchase_model(kind, &data.input(), 0.0, None);
                let uncertainty = Uncertainty {
                    purchase: LogCovariance::of_fit(&report).expect("a converged fit"),
                    spend: None,
                    level: 0.8,
                };
                let (base, intervals) = score(model, None, &uncertainty, &data, &settings);
                let forecast = intervals.forecast;
                let truth = predict(truth_model, None, &data.input(), &settings);
                [0usize, 5].map(|j| {
                    let interval = forecast.orders_interval(j, totals(&base, j).0, &uncertainty);
                    inside(interval, totals(&truth, j).0)
                })
            })
            .collect();
        let name = truth_model.kind().name();
        let names = [
            format!("{name} month 1 orders"),
            format!("{name} month 6 orders"),
        ];
        assert_coverage(&covered, &names, (0.735, 0.865));
    }
}

/// Month j's expected orders and revenue summed over the customers.
fn totals(predictions: &[Prediction], j: usize) -> (f64, f64) {
    let orders: f64 = predictions
        .iter()
        .map(|p| p.expected_orders_by_month[j])
        .sum();
    let revenue: f64 = predictions
        .iter()
        .map(|p| p.expected_orders_by_month[j] * p.expected_avg_order_value)
        .sum();
    (orders, revenue)
}

fn inside([low, high]: [f64; 2], value: f64) -> bool {
    low <= value && value <= high
}

#[track_caller]
fn assert_coverage<const K: usize>(
    covered: &[[bool; K]],
    names: &[impl std::fmt::Display; K],
    (lowest, highest): (f64, f64),
) {
    for (k, name) in names.iter().enumerate() {
        let rate = covered.iter().filter(|c| c[k]).count() as f64 / covered.len() as f64;
        eprintln!("coverage of the 80% interval, {name}: {rate:.3}");
        assert!(
            (lowest..=highest).contains(&rate),
            "{name}: covered {rate:.3} of the time"
        );
    }
}
