//! The three purchase (transaction) models behind one interface: BG/NBD,
//! MBG/NBD and Pareto/NBD, each with four parameters fitted by maximum
//! likelihood on the compressed (frequency, recency, T) rows, and each
//! giving P(alive), expected purchases and P(no purchase) over a horizon.
//!
//! MBG/NBD (Batislam, Denizel & Filiztekin 2007) lets a customer also drop
//! out right after the first purchase, so one-time buyers are not all alive
//! as in BG/NBD; it is BG/NBD's algebra with b + x read as b + x + 1 (see
//! `bgnbd::Dropout`).

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::bgnbd::{self, Dropout};
use super::compress::{CompressedSummary, RfmRows};
use super::hyp2f1;
use super::optimize::{
    fit_penalized, subsample_start, warm_start, AtOptimum, Evaluation, ExactHessian,
};
use super::pareto_days::FrequencyGroups;
use super::{pareto_nbd, BgNbdParams, CustomerSummaryInput, FitReport, ParetoNbdParams};

/// Which purchase model, as `[clv] model` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseModelKind {
    BgNbd,
    ParetoNbd,
    MbgNbd,
}

impl PurchaseModelKind {
    /// Whether a unique row's P(alive) depends on the other rows it is
    /// made beside (Pareto/NBD's per-day tables span the rows of a
    /// frequency, [`RowsAlive::Held`]); the BG/NBD family's is a function
    /// of the row's values alone.
    pub fn alive_depends_on_other_rows(self) -> bool {
        self == PurchaseModelKind::ParetoNbd
    }

    /// Every model, in the order they are fitted and published.
    pub const ALL: [PurchaseModelKind; 3] = [
        PurchaseModelKind::BgNbd,
        PurchaseModelKind::ParetoNbd,
        PurchaseModelKind::MbgNbd,
    ];

    /// The name published in `clv_model.model`.
    pub fn name(self) -> &'static str {
        match self {
            PurchaseModelKind::BgNbd => "bg_nbd",
            PurchaseModelKind::ParetoNbd => "pareto_nbd",
            PurchaseModelKind::MbgNbd => "mbg_nbd",
        }
    }

    /// Parameter names as published, in θ order.
    fn parameter_names(self) -> [&'static str; 4] {
        match self {
            PurchaseModelKind::ParetoNbd => ["r", "alpha", "s", "beta"],
            _ => ["r", "alpha", "a", "b"],
        }
    }
}

/// A purchase model with its parameters (time in days).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PurchaseModel {
    BgNbd(BgNbdParams),
    /// MBG/NBD: the same four parameters as BG/NBD, read with a dropout
    /// chance after the first purchase too.
    MbgNbd(BgNbdParams),
    ParetoNbd(ParetoNbdParams),
}

impl From<&BgNbdParams> for PurchaseModel {
    fn from(params: &BgNbdParams) -> Self {
        PurchaseModel::BgNbd(*params)
    }
}

impl From<BgNbdParams> for PurchaseModel {
    fn from(params: BgNbdParams) -> Self {
        PurchaseModel::BgNbd(params)
    }
}

impl From<&PurchaseModel> for PurchaseModel {
    fn from(model: &PurchaseModel) -> Self {
        *model
    }
}

impl PurchaseModel {
    pub fn kind(&self) -> PurchaseModelKind {
        match self {
            PurchaseModel::BgNbd(_) => PurchaseModelKind::BgNbd,
            PurchaseModel::MbgNbd(_) => PurchaseModelKind::MbgNbd,
            PurchaseModel::ParetoNbd(_) => PurchaseModelKind::ParetoNbd,
        }
    }

    /// The parameters in θ order (r, α, a, b or r, α, s, β).
    pub fn values(&self) -> [f64; 4] {
        match self {
            PurchaseModel::BgNbd(p) | PurchaseModel::MbgNbd(p) => [p.r, p.alpha, p.a, p.b],
            PurchaseModel::ParetoNbd(p) => [p.r, p.alpha, p.s, p.beta],
        }
    }

    fn from_values(kind: PurchaseModelKind, [r, alpha, c, d]: [f64; 4]) -> Self {
        match kind {
            PurchaseModelKind::BgNbd => PurchaseModel::BgNbd(BgNbdParams {
                r,
                alpha,
                a: c,
                b: d,
            }),
            PurchaseModelKind::MbgNbd => PurchaseModel::MbgNbd(BgNbdParams {
                r,
                alpha,
                a: c,
                b: d,
            }),
            PurchaseModelKind::ParetoNbd => PurchaseModel::ParetoNbd(ParetoNbdParams {
                r,
                alpha,
                s: c,
                beta: d,
            }),
        }
    }

    /// The same model with parameter `k` (θ order) multiplied by e^step:
    /// a step of `step` in its logarithm.
    pub(crate) fn with_log_step(&self, k: usize, step: f64) -> Self {
        let mut values = self.values();
        values[k] *= step.exp();
        PurchaseModel::from_values(self.kind(), values)
    }

    /// True when every parameter is finite and positive.
    pub fn is_valid(&self) -> bool {
        self.values().iter().all(|v| v.is_finite() && *v > 0.0)
    }

    /// Log-likelihood of one customer (x repeat purchases, the last at t_x,
    /// observed for T days); −∞ outside the domain, never NaN.
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        match self {
            PurchaseModel::BgNbd(p) => bgnbd::bgnbd_log_likelihood(p, x, t_x, t),
            PurchaseModel::MbgNbd(p) => {
                bgnbd::family_log_likelihood(p, Dropout::AfterEveryPurchase, x, t_x, t)
            }
            PurchaseModel::ParetoNbd(p) => pareto_nbd::pareto_nbd_log_likelihood(p, x, t_x, t),
        }
    }

    /// P(alive at T | x, t_x, T).
    pub fn probability_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        match self {
            PurchaseModel::BgNbd(p) => bgnbd::probability_alive(p, x, t_x, t),
            PurchaseModel::MbgNbd(p) => {
                bgnbd::family_probability_alive(p, Dropout::AfterEveryPurchase, x, t_x, t)
            }
            PurchaseModel::ParetoNbd(p) => pareto_nbd::pareto_nbd_probability_alive(p, x, t_x, t),
        }
    }

    /// [`PurchaseModel::probability_alive`] of every row of `rows`
    /// (compressed, so read as they are), in row order. The BG/NBD family's
    /// take their per-frequency logarithms once; Pareto/NBD's take their
    /// integrals from the per-day tables of its fit, not from a quadrature
    /// per row.
    pub(crate) fn alive_probabilities(&self, rows: &RfmRows) -> Vec<f64> {
        match self.rows_alive(rows) {
            RowsAlive::Made(alive) => (0..rows.len())
                .into_par_iter()
                .map(|i| alive.of(i))
                .collect(),
            RowsAlive::Held(all) => all,
        }
    }

    /// [`PurchaseModel::alive_probabilities`] read a row at a time, with
    /// as little held for every row as the model allows.
    pub(crate) fn rows_alive<'r>(&self, rows: &'r RfmRows) -> RowsAlive<'r> {
        let family = |p, dropout| RowsAlive::Made(bgnbd::FamilyAlive::new(p, dropout, rows));
        match self {
            PurchaseModel::BgNbd(p) => family(p, Dropout::AfterRepeatPurchases),
            PurchaseModel::MbgNbd(p) => family(p, Dropout::AfterEveryPurchase),
            PurchaseModel::ParetoNbd(p) => {
                RowsAlive::Held(pareto_nbd::alive_probabilities(p, rows))
            }
        }
    }

    /// E[purchases in (T, T+h] | alive at T]; NaN where it cannot be
    /// computed, never a made-up number.
    pub(crate) fn expected_purchases_if_alive(&self, x: f64, t: f64, horizon: f64) -> f64 {
        match self {
            PurchaseModel::BgNbd(p) => hyp2f1::expected_purchases_if_alive(p, x, t, horizon),
            // A live MBG/NBD customer has survived x + 1 dropout chances:
            // BG/NBD's expression with b + 1 (posterior Beta(a, b+x+1)).
            PurchaseModel::MbgNbd(p) => {
                let shifted = BgNbdParams { b: p.b + 1.0, ..*p };
                hyp2f1::expected_purchases_if_alive(&shifted, x, t, horizon)
            }
            PurchaseModel::ParetoNbd(p) => {
                pareto_nbd::expected_purchases_if_alive(p, x, t, horizon)
            }
        }
    }

    /// P(no purchase in (T, T+h] | alive at T). In the BG/NBD family a live
    /// customer can only drop out after a purchase, so that is the
    /// posterior Poisson's zero: ((α+T)/(α+T+h))^(r+x).
    pub(crate) fn p_no_purchase_if_alive(&self, x: f64, t: f64, horizon: f64) -> f64 {
        match self {
            PurchaseModel::BgNbd(p) | PurchaseModel::MbgNbd(p) => {
                (-(p.r + x) * (horizon.max(0.0) / (p.alpha + t)).ln_1p()).exp()
            }
            PurchaseModel::ParetoNbd(p) => pareto_nbd::p_no_purchase_if_alive(p, x, t, horizon),
        }
    }

    /// Conditional expected purchases in (T, T+h] given the history:
    /// P(alive) × E[purchases | alive]. NaN where it cannot be computed.
    pub fn conditional_expected_purchases(&self, x: f64, t_x: f64, t: f64, horizon: f64) -> f64 {
        let x = x.max(0.0);
        let t = t.max(0.0);
        self.probability_alive(x, t_x, t) * self.expected_purchases_if_alive(x, t, horizon)
    }
}

/// A model's mean negative log-likelihood and gradient in log-parameters
/// over `rows`, with what its sums need besides the rows built once for
/// every evaluation of a fit.
struct Objective<'r> {
    rows: &'r RfmRows,
    sums: LikelihoodSums,
}

/// How a model's likelihood is summed over the rows.
enum LikelihoodSums {
    /// The BG/NBD family, with its dropout rule.
    BgFamily(Dropout),
    /// Pareto/NBD, with the rows grouped by frequency.
    Pareto(FrequencyGroups),
}

impl<'r> Objective<'r> {
    fn new(kind: PurchaseModelKind, rows: &'r RfmRows) -> Self {
        let sums = match kind {
            PurchaseModelKind::BgNbd => LikelihoodSums::BgFamily(Dropout::AfterRepeatPurchases),
            PurchaseModelKind::MbgNbd => LikelihoodSums::BgFamily(Dropout::AfterEveryPurchase),
            PurchaseModelKind::ParetoNbd => LikelihoodSums::Pareto(FrequencyGroups::of(rows)),
        };
        Objective { rows, sums }
    }

    fn eval(&self, theta: &[f64; 4]) -> (f64, [f64; 4]) {
        match &self.sums {
            LikelihoodSums::BgFamily(dropout) => bgnbd::family_mean_nll(self.rows, theta, *dropout),
            LikelihoodSums::Pareto(groups) => pareto_nbd::mean_nll((self.rows, groups), theta),
        }
    }

    /// The value, gradient and Hessian in one pass, for the models whose
    /// Hessian has a closed form (the BG/NBD family; Pareto/NBD's would
    /// need second moments of its died-integral, so its fits difference
    /// the gradient).
    fn eval_with_hessian(&self, theta: &[f64; 4]) -> Option<Evaluation<4>> {
        match &self.sums {
            LikelihoodSums::BgFamily(dropout) => {
                bgnbd::family_mean_nll_with_hessian(self.rows, theta, *dropout)
            }
            LikelihoodSums::Pareto(_) => None,
        }
    }

    fn has_exact_hessian(&self) -> bool {
        matches!(self.sums, LikelihoodSums::BgFamily(_))
    }
}

fn start_values(kind: PurchaseModelKind, rows: &RfmRows) -> [f64; 4] {
    match kind {
        PurchaseModelKind::ParetoNbd => {
            let p = pareto_nbd::start_values(rows);
            [p.r, p.alpha, p.s, p.beta]
        }
        _ => {
            let p = bgnbd::start_values(rows);
            [p.r, p.alpha, p.a, p.b]
        }
    }
}

/// [`subsample_start`] for a purchase model.
fn purchase_subsample_start(
    kind: PurchaseModelKind,
    rows: &RfmRows,
    penalizer: f64,
) -> Option<([f64; 4], [[f64; 4]; 4])> {
    subsample_start::<4>(rows.len(), |step| {
        let clock = std::time::Instant::now();
        let sample = rows.every(step);
        let objective = Objective::new(kind, &sample);
        let exact = |theta: &[f64; 4]| objective.eval_with_hessian(theta);
        let (_, report) = fit_penalized(
            kind.name(),
            kind.parameter_names(),
            (
                |theta: &[f64; 4]| objective.eval(theta),
                objective
                    .has_exact_hessian()
                    .then_some(&exact as ExactHessian<4>),
            ),
            (start_values(kind, &sample).map(f64::ln), None),
            penalizer,
            AtOptimum::Hessian,
            sample.total_w,
        );
        tracing::debug!(
            model = kind.name(),
            unique_rows = sample.len(),
            iterations = report.iterations,
            seconds = clock.elapsed().as_secs_f64(),
            "subsample fit"
        );
        report
    })
}

/// Fits `kind` by maximum likelihood (time in days) on every customer of
/// `input`, compressed to unique rows, with an optional L2 `penalizer` on
/// the log-parameters (0 = none). With `earlier` (a converged fit of the
/// same model on related data, e.g. the full history for a calibration
/// refit) the search starts from its point and curvature. The parameters
/// are always finite and positive; a fit that did not reach an interior
/// optimum says so in its report.
///
/// # Panics
/// If the input's columns have different lengths.
pub fn fit_purchase_model(
    kind: PurchaseModelKind,
    input: &CustomerSummaryInput,
    penalizer: f64,
    earlier: Option<&FitReport>,
) -> (PurchaseModel, FitReport) {
    let summary = CompressedSummary::of(input);
    fit_purchase_model_on(kind, &summary, penalizer, earlier, AtOptimum::Hessian)
}

/// [`fit_purchase_model`] on a summary compressed already, measuring
/// `at_optimum` at the end ([`AtOptimum::ConvergenceOnly`] for a refit
/// that only predicts: its report then has no standard errors).
pub fn fit_purchase_model_on(
    kind: PurchaseModelKind,
    summary: &CompressedSummary,
    penalizer: f64,
    earlier: Option<&FitReport>,
    at_optimum: AtOptimum,
) -> (PurchaseModel, FitReport) {
    fit_purchase_model_rows(kind, &summary.rows, penalizer, earlier, at_optimum)
}

/// [`fit_purchase_model_on`] on the unique rows alone.
pub(crate) fn fit_purchase_model_rows(
    kind: PurchaseModelKind,
    rows: &RfmRows,
    penalizer: f64,
    earlier: Option<&FitReport>,
    at_optimum: AtOptimum,
) -> (PurchaseModel, FitReport) {
    let warm = earlier
        .filter(|e| e.model == kind.name())
        .and_then(warm_start::<4>)
        .or_else(|| purchase_subsample_start(kind, rows, penalizer));
    let (start, curvature) = match warm {
        Some((theta, hinv)) => (theta, Some(hinv)),
        None => (start_values(kind, rows).map(f64::ln), None),
    };
    // Passes over the rows, for the debug log: gradients, and gradients
    // with the Hessian.
    let passes = [AtomicU32::new(0), AtomicU32::new(0)];
    let objective = Objective::new(kind, rows);
    let exact = |theta: &[f64; 4]| {
        passes[1].fetch_add(1, Ordering::Relaxed);
        objective.eval_with_hessian(theta)
    };
    let (values, report) = fit_penalized(
        kind.name(),
        kind.parameter_names(),
        (
            |theta: &[f64; 4]| {
                passes[0].fetch_add(1, Ordering::Relaxed);
                objective.eval(theta)
            },
            objective
                .has_exact_hessian()
                .then_some(&exact as ExactHessian<4>),
        ),
        (start, curvature),
        penalizer,
        at_optimum,
        rows.total_w,
    );
    let [evaluations, hessian_evaluations] = passes.map(AtomicU32::into_inner);
    tracing::debug!(
        model = kind.name(),
        unique_rows = rows.len(),
        evaluations,
        hessian_evaluations,
        iterations = report.iterations,
        "purchase model fit"
    );
    (PurchaseModel::from_values(kind, values), report)
}

/// Fits BG/NBD by maximum likelihood (time in days) on all customers.
///
/// The summary is compressed to unique (frequency, recency, T) rows first.
/// The returned parameters are always finite and positive; when the optimum
/// is not found (e.g. every customer is a one-time buyer, where a and b are
/// not identified and r → 0) the report says `converged = false` and the
/// parameters are the best point found.
///
/// # Panics
/// If the input's columns have different lengths.
pub fn fit_bgnbd(input: &CustomerSummaryInput) -> (BgNbdParams, FitReport) {
    bg_nbd_of(fit_purchase_model(
        PurchaseModelKind::BgNbd,
        input,
        0.0,
        None,
    ))
}

/// [`fit_bgnbd`] started from an earlier BG/NBD fit on related data (its
/// parameters and curvature, see `optimize::warm_start`); the default start
/// when that fit has no usable curvature. Same optimum, fewer iterations.
pub fn fit_bgnbd_from(
    input: &CustomerSummaryInput,
    earlier: &FitReport,
) -> (BgNbdParams, FitReport) {
    bg_nbd_of(fit_purchase_model(
        PurchaseModelKind::BgNbd,
        input,
        0.0,
        Some(earlier),
    ))
}

fn bg_nbd_of((model, report): (PurchaseModel, FitReport)) -> (BgNbdParams, FitReport) {
    match model {
        PurchaseModel::BgNbd(params) => (params, report),
        other => unreachable!("a BG/NBD fit returned {other:?}"),
    }
}

/// A model's P(alive) of each row of a summary, bit for bit
/// [`PurchaseModel::alive_probabilities`]'s.
pub(crate) enum RowsAlive<'r> {
    /// The BG/NBD family's, made when a row's is read from logarithms
    /// taken once per distinct frequency.
    Made(bgnbd::FamilyAlive<'r>),
    /// Pareto/NBD's, made for every row at once and held: its integrals
    /// come from per-day tables that a frequency's rows share, and made
    /// for a few rows at a time those tables would be made again for each.
    Held(Vec<f64>),
}

impl RowsAlive<'_> {
    /// Row `row`'s P(alive).
    pub(crate) fn of(&self, row: usize) -> f64 {
        match self {
            RowsAlive::Made(alive) => alive.of(row),
            RowsAlive::Held(all) => all[row],
        }
    }
}

/// The mean negative log-likelihood and gradient of `kind` on `input`, for
/// tests of the gradients.
#[cfg(test)]
pub(crate) fn objective_for_tests(
    kind: PurchaseModelKind,
    input: &CustomerSummaryInput,
    theta: &[f64; 4],
) -> (f64, [f64; 4]) {
    let summary = CompressedSummary::of(input);
    Objective::new(kind, &summary.rows).eval(theta)
}
