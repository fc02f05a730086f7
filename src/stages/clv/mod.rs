//! CLV stage: fits the purchase models (BG/NBD, Pareto/NBD, MBG/NBD; one
//! or all of them, `[clv] model`) and Gamma-Gamma on the customers
//! summary, validates every purchase model on a holdout, scores every
//! customer with the chosen one (with intervals from the fits' sampling
//! error, `[clv] interval`), and computes the simple CLV. The calibration
//! summary is built while the fits run, and with one candidate model its
//! holdout and the scoring run side by side; short of memory (the
//! per-customer results spilled) all of this runs one after the other and
//! the scorer holds nothing per unique row (`clv::RowMemory`). The
//! customers' summaries are read a partition at a time and never joined:
//! the fits' unique rows are folded over the partitions in code order
//! (`clv::SummaryFold`; or each partition folded where it is,
//! [`fold_part`], and the folds added in order), and each partition is
//! scored on its own (`clv::Scorer`), to the numbers of the whole summary.
//! The scores are kept a partition at a time
//! (`stages::clv_scores::ClvScoreParts`), in the spill directory when the
//! per-customer results are there too, with every CLV sorted for the
//! target lists' quantiles.
//!
//! Outputs: the CLV columns of `customers` (p_alive, expected_orders,
//! expected_avg_order_value, clv, clv_simple, the `_low` / `_high`
//! bounds), the fit reports behind
//! `clv_model` (one row per model × parameter), the holdout validation
//! behind `clv_validation` (per model: overall and by calibration
//! frequency bucket 0 … 6, 7+), the model choice behind
//! `clv_model_selection` and the forecast behind `clv_forecast`; their
//! frames are built in `tables::clv`. The holdout is in `holdout`, the
//! choice in `selection`.

mod holdout;
mod selection;
mod status;

use holdout::{calibration_columns, calibration_part, HoldoutCustomers};
pub use holdout::{BucketFit, HoldoutValidation, ModelValidation, PairedErrors, PartColumns};
pub use selection::SelectionRow;
pub use status::fit_status;

use crate::clv::{
    AtOptimum, CustomerPredictions, CustomerSummaryInput, ExactSum, FitReport, FoldedSummary,
    ForecastGradients, GammaGammaParams, LogCovariance, PredictionIntervals, PredictionSettings,
    PurchaseModel, PurchaseModelKind, RowMemory, Scorer, SummaryFold, SummaryFoldPart, Uncertainty,
    UniqueRowsFold, UniqueRowsPart,
};
use crate::config::ClvConfig;
use crate::error::Result;
use crate::stages::clv_scores::{ClvScoreParts, ClvScores, ClvStores, KeptScores, SimpleClv};
use crate::stages::customers::CustomerSummary;
use crate::stages::kpis::MonthlyCounts;
use crate::stages::orders::{EntriesView, OrderHistory};
use crate::stages::part_store;
use crate::stages::per_customer::CustomerParts;
use crate::tables::schema::values::money;
use holdout::{compare, refit, Calibration};
use rayon::prelude::*;
use selection::selection_rows;
use status::warn_if_not_converged;
use std::ops::Range;

/// Days in a month of the CLV horizon (365.25 / 12), SPEC §4.
pub const MONTH_DAYS: f64 = 30.4375;

/// Simple CLV: at most ten years of expected lifespan.
const MAX_LIFESPAN_YEARS: f64 = 10.0;

/// Everything the CLV stage publishes.
pub struct ClvOutput {
    /// Every customer's scores, a customer partition at a time.
    pub scores: ClvScoreParts,
    /// The holdout validation of every fitted purchase model
    /// (`clv_validation`).
    pub validation: HoldoutValidation,
    /// Expected orders and revenue per month of the horizon, all customers
    /// (`clv_forecast`).
    pub forecast: Forecast,
    /// The full-history fits: every purchase model fitted, in
    /// [`PurchaseModelKind::ALL`] order, then Gamma-Gamma (`clv_model`).
    pub fits: Vec<FitReport>,
    /// One row per fitted purchase model (`clv_model_selection`).
    pub selection: Vec<SelectionRow>,
    /// The purchase model that scored the customers.
    pub chosen: PurchaseModelKind,
    /// Whether Gamma-Gamma's fit gave the expected order values (otherwise
    /// a plain mean did, see `clv::predict`).
    pub gamma_gamma_used: bool,
    /// Customers whose expected orders and CLV could not be computed and
    /// are published as null.
    pub uncomputable: usize,
}

fn monetary(summary: &CustomerSummary) -> Vec<f64> {
    summary
        .repeat_cents
        .iter()
        .zip(&summary.frequency)
        .map(|(&cents, &f)| if f > 0 { money(cents) / f as f64 } else { 0.0 })
        .collect()
}

/// `f` of a part's summary as the models read it (`monetary_value` is
/// the part's [`monetary`] values).
fn with_input<T>(
    summary: &CustomerSummary,
    monetary_value: &[f64],
    f: impl FnOnce(&CustomerSummaryInput) -> T,
) -> T {
    f(&CustomerSummaryInput {
        frequency: &summary.frequency,
        recency_days: &summary.recency_days,
        tenure_days: &summary.tenure_days,
        monetary_value,
    })
}

/// What the stage folds of every customer before it fits: the models'
/// unique rows, and what the plain order value falls back to.
struct Folded {
    summary: FoldedSummary,
    totals: PartTotals,
}

impl Folded {
    /// Every customer of `parts`, folded a part at a time in code order,
    /// its index made for `memory` ([`SummaryFold::new`]). Each part is
    /// folded apart into its own unique rows on every core, and only those
    /// are added here in order (one thread): the rows, weights and sums of
    /// adding the customers one by one, with fewer lookups in the index of
    /// every row.
    fn of(parts: &CustomerParts, memory: RowMemory) -> Result<Folded> {
        let clock = std::time::Instant::now();
        let mut fold = SummaryFold::new(memory);
        let mut totals = PartTotals::default();
        parts.fold_in_order(
            |_, part| {
                // The cluster tests: a client that folds the results itself.
                crate::faults::crash_point("clv::folded_here");
                summary_part(&part.summary)
            },
            |_, (part, part_totals)| {
                fold.add_part(&part);
                totals.add(&part_totals);
                Ok(())
            },
        )?;
        Ok(Folded::finished(fold, totals, clock))
    }

    /// What `fold` and `totals` hold, the time since `clock` logged.
    fn finished(fold: SummaryFold, totals: PartTotals, clock: std::time::Instant) -> Folded {
        let summary = fold.finish();
        tracing::debug!(
            customers = summary.customers(),
            unique_rows = summary.unique_rows(),
            spend_rows = summary.spend_rows(),
            seconds = clock.elapsed().as_secs_f64(),
            "clv summary folded"
        );
        Folded { summary, totals }
    }

    /// The customer partitions' folds made elsewhere ([`fold_part`]),
    /// read a few at a time and added in partition order: the fold of
    /// [`Folded::of`], and the calibration period's of
    /// [`Calibration::of`] up to `calibration_end`.
    fn of_parts(
        elsewhere: &dyn ClvElsewhere,
        partitions: usize,
        calibration_end: i32,
    ) -> Result<(Folded, Calibration)> {
        let clock = std::time::Instant::now();
        // Read from elsewhere only when the results are stored, short of
        // memory: the indexes hold row numbers alone.
        let (mut fold, mut calibration) = (SummaryFold::default(), UniqueRowsFold::default());
        let mut totals = PartTotals::default();
        part_store::fold_in_order(
            partitions,
            |p| elsewhere.fold_part(p),
            |part| {
                if part.calibration_end != calibration_end {
                    return Err(crate::error::Error::Cluster(format!(
                        "a customer partition's CLV fold ended its calibration on day {}, not {calibration_end}",
                        part.calibration_end
                    )));
                }
                rayon::join(
                    || fold.add_part(&part.summary),
                    || calibration.add_part(&part.calibration),
                );
                totals.add(&part.totals);
                Ok(())
            },
        )?;
        let folded = Folded::finished(fold, totals, clock);
        Ok((folded, Calibration::of_parts(calibration_end, calibration)))
    }
}

/// What customers add to the plain order value's fallback.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct PartTotals {
    /// Whether any customer has a repeat order.
    any_repeat: bool,
    orders: i64,
    revenue_cents: i64,
}

impl PartTotals {
    fn of(summary: &CustomerSummary) -> PartTotals {
        PartTotals {
            any_repeat: summary.frequency.iter().any(|&f| f > 0),
            orders: summary.orders.iter().sum(),
            revenue_cents: summary.revenue_cents.iter().sum(),
        }
    }

    fn add(&mut self, other: &PartTotals) {
        self.any_repeat |= other.any_repeat;
        self.orders += other.orders;
        self.revenue_cents += other.revenue_cents;
    }

    /// No repeat buyer at all: no spend model and no repeat spend to
    /// average. The plain average order value is the honest guess.
    fn plain_order_value(&self) -> f64 {
        money(self.revenue_cents) / self.orders.max(1) as f64
    }
}

/// What the CLV stage folds of one customer partition before it fits,
/// made where the partition is ([`fold_part`], a cluster's executor) and
/// added in partition order by the stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClvFoldPart {
    summary: SummaryFoldPart,
    calibration: UniqueRowsPart,
    /// The calibration end the part was folded to (the stage checks it).
    calibration_end: i32,
    totals: PartTotals,
}

/// One customer partition's share of the folds the CLV stage fits on:
/// its per-customer summaries' unique rows and sums, and its calibration
/// rows up to `calibration_end` from its history's `entries`; and the
/// calibration columns the holdout comparison reads of it. The one
/// function that folds a partition apart, on a cluster's executor.
pub fn fold_part(
    summary: &CustomerSummary,
    entries: EntriesView<'_>,
    calibration_end: i32,
) -> (ClvFoldPart, PartColumns) {
    let (summary_part, totals) = summary_part(summary);
    let columns = calibration_columns(entries, calibration_end);
    let part = ClvFoldPart {
        summary: summary_part,
        calibration: calibration_part(&columns),
        calibration_end,
        totals,
    };
    (part, columns)
}

/// One customer partition's summaries folded apart into their unique rows
/// and sums, and what they add to the plain order value's fallback.
fn summary_part(summary: &CustomerSummary) -> (SummaryFoldPart, PartTotals) {
    let monetary_value = monetary(summary);
    let mut fold = SummaryFold::default();
    with_input(summary, &monetary_value, |input| fold.add(input));
    (fold.into_part(), PartTotals::of(summary))
}

/// Fits every candidate purchase model on the full history, side by side.
fn fit_purchase_models(
    candidates: &[PurchaseModelKind],
    summary: &FoldedSummary,
    penalizer: f64,
) -> Vec<(PurchaseModel, FitReport)> {
    candidates
        .par_iter()
        .map(|&kind| {
            let clock = std::time::Instant::now();
            let fitted = summary.fit_purchase_model(kind, penalizer, AtOptimum::Hessian);
            tracing::debug!(
                model = kind.name(),
                seconds = clock.elapsed().as_secs_f64(),
                "clv fit"
            );
            warn_if_not_converged(&fitted.1, "full-history fit");
            fitted
        })
        .collect()
}

/// Fits Gamma-Gamma; its parameters are used for predictions only when it
/// was fitted on at least one customer and they are usable (finite, q > 1
/// so the population mean exists).
fn fit_spend_model(
    summary: &FoldedSummary,
    penalizer: f64,
) -> (Option<GammaGammaParams>, FitReport) {
    let clock = std::time::Instant::now();
    let (gg, report) = summary.fit_gamma_gamma(penalizer);
    tracing::debug!(
        seconds = clock.elapsed().as_secs_f64(),
        iterations = report.iterations,
        "gamma-gamma fit"
    );
    if report.customers == 0 {
        tracing::warn!(
            "Gamma-Gamma: no customer has a repeat order with a positive amount, so there is nothing to fit (clv_model says not_fitted); expected order values fall back to plain averages (README, Predictive CLV)"
        );
    }
    warn_if_not_converged(&report, "full-history fit");
    // Without a single repeat buyer there is nothing fitted: the returned
    // point is the optimizer's start, not an estimate.
    let usable =
        (report.customers > 0 && gg.is_valid() && gg.population_mean().is_some()).then_some(gg);
    (usable, report)
}

/// Runs the CLV stage. It reads the history and the customers' summaries
/// a partition at a time (never joined), so it can run beside the
/// descriptive stages (the simple CLV, which needs the KPIs, is
/// [`simple_clv`]). The scores go to `stores` when there are some (when
/// the per-customer results are stored); then, with `elsewhere` (a
/// cluster's executors), the partitions' folds are read from there
/// instead of folding their results and entries here, the partitions are
/// scored there, and only their counts and totals come back.
pub fn clv_stage(
    history: &OrderHistory,
    (parts, stores, elsewhere): (&CustomerParts, Option<ClvStores>, Option<&dyn ClvElsewhere>),
    config: &ClvConfig,
) -> Result<ClvOutput> {
    let candidates = config.model.candidates();
    let calibration_end = calibration_end(history.as_of, config);
    let elsewhere = elsewhere.filter(|_| stores.is_some());
    // With the per-customer results stored the run is short of memory:
    // the scorer then holds nothing per unique row.
    let memory = match stores {
        Some(_) => RowMemory::PerBatch,
        None => RowMemory::HoldRows,
    };
    let (fitted, calibration) = fit_with_calibration(
        (history, parts, elsewhere),
        (&candidates, memory),
        (calibration_end, config.penalizer),
    )?;
    let (
        Folded {
            summary: folded,
            totals,
        },
        (purchase, (gg, gg_report)),
    ) = fitted?;
    let scoring = ScoringInputs {
        parts,
        totals,
        settings: PredictionSettings {
            horizon_months: config.horizon_months,
            month_days: MONTH_DAYS,
            discount_rate_monthly: config.discount_rate_monthly,
        },
        gg: gg.as_ref(),
        gg_report: &gg_report,
        config,
        stores,
        elsewhere,
        memory,
    };
    // Short of memory with one candidate model, the scorer is made before
    // the calibration's rows are folded, so the full history's rows and
    // spends are freed by then.
    let to_score = match (&calibration, purchase.as_slice()) {
        (None, [(model, report)]) => {
            ToScore::Ready(Box::new(scoring.scorer(folded, *model, report)))
        }
        _ => ToScore::Fold(Box::new(folded)),
    };
    let calibration = match calibration {
        Some(calibration) => calibration?,
        None => Calibration::of(history, calibration_end, memory)?,
    };
    let mut fits: Vec<FitReport> = purchase.iter().map(|(_, report)| report.clone()).collect();
    // The comparison reads the calibration customers again: their
    // columns where they were folded, or the history here.
    let columns_of;
    let customers = match elsewhere {
        Some(elsewhere) => {
            columns_of = move |p| elsewhere.holdout_part(p);
            HoldoutCustomers::Elsewhere(&columns_of, parts.part_count())
        }
        None => HoldoutCustomers::History(history),
    };
    let (validation, selection, scored) = validate_and_score(
        (customers, calibration),
        &purchase,
        &fits,
        (scoring, to_score),
    )?;
    let Scored {
        model,
        scores,
        forecast,
    } = scored;
    let uncomputable = warn_uncomputable(&scores, model.kind());
    fits.push(gg_report.clone());
    Ok(ClvOutput {
        scores,
        validation,
        forecast,
        fits,
        selection,
        chosen: model.kind(),
        gamma_gamma_used: gg.is_some(),
        uncomputable,
    })
}

/// The last day of the holdout validation's calibration period, for a
/// history on `as_of`.
pub fn calibration_end(as_of: i32, config: &ClvConfig) -> i32 {
    as_of - config.holdout_days as i32
}

/// Customers whose expected orders (and CLV) cannot be computed under the
/// scoring model `model`; the run says so when there are any.
fn warn_uncomputable(scores: &ClvScoreParts, model: PurchaseModelKind) -> usize {
    let uncomputable = scores.uncomputable();
    if uncomputable > 0 {
        tracing::warn!(
            customers = uncomputable,
            model = model.name(),
            "CLV: the expected orders of these customers cannot be computed at the fitted parameters (see clv_model); their expected_orders and clv are null, and the forecast months they would add to are null"
        );
    }
    uncomputable
}

/// Each fitted purchase model with its report.
type PurchaseFits = Vec<(PurchaseModel, FitReport)>;
/// Gamma-Gamma's parameters (when usable) and its report.
type SpendFit = (Option<GammaGammaParams>, FitReport);

/// The folded rows and their fits, and the calibration's rows: read
/// from where the partitions were folded (`elsewhere`), folded side by
/// side, or, short of memory, the calibration left to the caller (`None`)
/// to fold once what the full history's scoring does not read is freed.
fn fit_with_calibration(
    (history, parts, elsewhere): (&OrderHistory, &CustomerParts, Option<&dyn ClvElsewhere>),
    (candidates, memory): (&[PurchaseModelKind], RowMemory),
    (calibration_end, penalizer): (i32, f64),
) -> Result<(Result<FoldedAndFits>, Option<Result<Calibration>>)> {
    let fit = |folded: Folded| fit_and_free(folded, (candidates, memory), penalizer);
    Ok(match elsewhere {
        // The partitions were folded where they are: only their folds
        // are read.
        Some(elsewhere) => {
            let (folded, calibration) =
                Folded::of_parts(elsewhere, parts.part_count(), calibration_end)?;
            (Ok(fit(folded)), Some(Ok(calibration)))
        }
        None if memory == RowMemory::PerBatch => (Folded::of(parts, memory).map(fit), None),
        // The calibration summary reads the history customer by customer,
        // which the fits do not need: it is built while they run.
        None => {
            let (fitted, calibration) = rayon::join(
                || Folded::of(parts, memory).map(fit),
                || Calibration::of(history, calibration_end, memory),
            );
            (fitted, Some(calibration))
        }
    })
}

/// The folded rows and the fits over them.
type FoldedAndFits = (Folded, (PurchaseFits, SpendFit));

/// The fits of `candidates` over the folded rows; then what scoring will
/// not read is freed: Gamma-Gamma's rows (scoring reads their mean) and,
/// when every candidate scores by batch under `memory`, the index that
/// finds a customer's row.
fn fit_and_free(
    mut folded: Folded,
    (candidates, memory): (&[PurchaseModelKind], RowMemory),
    penalizer: f64,
) -> FoldedAndFits {
    let fits = fit_all(candidates, &folded.summary, penalizer);
    let summary = &mut folded.summary;
    summary.drop_spend_rows();
    if candidates.iter().all(|&kind| memory.by_batch(kind)) {
        summary.drop_row_index();
    }
    (folded, fits)
}

/// The purchase models and Gamma-Gamma fitted on the full history, side
/// by side.
fn fit_all(
    candidates: &[PurchaseModelKind],
    summary: &FoldedSummary,
    penalizer: f64,
) -> (PurchaseFits, SpendFit) {
    let clock = std::time::Instant::now();
    let fits = rayon::join(
        || fit_purchase_models(candidates, summary, penalizer),
        || fit_spend_model(summary, penalizer),
    );
    tracing::debug!(seconds = clock.elapsed().as_secs_f64(), "clv fits");
    fits
}

/// Validates every candidate on the holdout, chooses, and scores the
/// customers with the chosen one. With a single candidate the choice is
/// known before the validation, so the two run side by side, unless the
/// per-customer results are stored: the budget then holds neither the
/// history nor, measured at 100 M orders under 1 GiB, the calibration's
/// rows beside the scorer's (1,467 MiB side by side), so the validation
/// frees its rows before the scorer's are made (or the scorer was made
/// before the calibration's rows, [`ToScore::Ready`]).
fn validate_and_score(
    calibration: (HoldoutCustomers<'_>, Calibration),
    purchase: &[(PurchaseModel, FitReport)],
    reports: &[FitReport],
    (scoring, to_score): (ScoringInputs, ToScore),
) -> Result<(HoldoutValidation, Vec<SelectionRow>, Scored)> {
    let folded = match to_score {
        ToScore::Ready(ready) => {
            let validation = validation(calibration, scoring.config, purchase)?;
            let selection = selection_rows(reports, &validation);
            return Ok((validation, selection, scoring.score_with(*ready)?));
        }
        ToScore::Fold(folded) => *folded,
    };
    if let ([(model, report)], None) = (purchase, &scoring.stores) {
        let config = scoring.config;
        let (validation, scored) = rayon::join(
            || validation(calibration, config, purchase),
            || scoring.score(folded, *model, report),
        );
        let validation = validation?;
        let selection = selection_rows(reports, &validation);
        return Ok((validation, selection, scored?));
    }
    let validation = validation(calibration, scoring.config, purchase)?;
    let selection = selection_rows(reports, &validation);
    let chosen = selection.iter().position(|row| row.chosen).unwrap_or(0);
    let (model, report) = &purchase[chosen];
    if purchase.len() > 1 {
        tracing::info!(
            model = model.kind().name(),
            "CLV: model chosen by holdout error"
        );
    }
    let scored = scoring.score(folded, *model, report)?;
    Ok((validation, selection, scored))
}

/// What scoring the customers needs besides the purchase model and the
/// fold's rows.
struct ScoringInputs<'a> {
    parts: &'a CustomerParts,
    /// What the plain order value falls back to.
    totals: PartTotals,
    settings: PredictionSettings,
    /// Gamma-Gamma's parameters when they give the order values.
    gg: Option<&'a GammaGammaParams>,
    gg_report: &'a FitReport,
    config: &'a ClvConfig,
    /// Where the scores go, when the per-customer results are stored.
    stores: Option<ClvStores>,
    /// Where the partitions are scored when their results are stored
    /// (a cluster's executors); in this process without.
    elsewhere: Option<&'a dyn ClvElsewhere>,
    /// What the scorer holds of the unique rows.
    memory: RowMemory,
}

/// What the customers are scored from: the fold's rows, or the scorer
/// made from them already. Both boxed: their headers differ by hundreds
/// of bytes.
enum ToScore {
    Fold(Box<FoldedSummary>),
    Ready(Box<ReadyScorer>),
}

/// A scorer of one purchase model, and the intervals' uncertainty it was
/// made with.
struct ReadyScorer {
    model: PurchaseModel,
    scorer: Scorer,
    uncertainty: Option<Uncertainty>,
}

/// The customers scored by one purchase model, and the forecast.
struct Scored {
    model: PurchaseModel,
    scores: ClvScoreParts,
    forecast: Forecast,
}

impl ScoringInputs<'_> {
    /// Every customer's scores and the forecast, a partition at a time,
    /// from the rows `folded`, which the scorer takes.
    fn score(
        &self,
        folded: FoldedSummary,
        model: PurchaseModel,
        report: &FitReport,
    ) -> Result<Scored> {
        self.score_with(self.scorer(folded, model, report))
    }

    /// The scorer of `model`, fitted as `report` says, from the rows
    /// `folded`, which it takes.
    fn scorer(
        &self,
        folded: FoldedSummary,
        model: PurchaseModel,
        report: &FitReport,
    ) -> ReadyScorer {
        let clock = std::time::Instant::now();
        let uncertainty = uncertainty(self.config, report, self.gg.is_some(), self.gg_report);
        let scoring = folded.into_scoring(model, self.gg, (&self.settings, self.memory));
        let scorer = match &uncertainty {
            None => scoring.without_intervals(),
            Some(uncertainty) => scoring.with_intervals(uncertainty),
        };
        tracing::debug!(seconds = clock.elapsed().as_secs_f64(), "clv scorer");
        ReadyScorer {
            model,
            scorer,
            uncertainty,
        }
    }

    /// Every customer's scores and the forecast, a partition at a time,
    /// by a scorer made already.
    fn score_with(&self, ready: ReadyScorer) -> Result<Scored> {
        let clock = std::time::Instant::now();
        let ReadyScorer {
            model,
            scorer,
            uncertainty,
        } = ready;
        let (scores, totals) = self.scores(&scorer)?;
        let gradients = scorer.forecast_gradients().zip(uncertainty.as_ref());
        let forecast = forecast(totals, &self.settings, gradients);
        tracing::debug!(seconds = clock.elapsed().as_secs_f64(), "clv predictions");
        Ok(Scored {
            model,
            scores,
            forecast,
        })
    }

    /// Every customer's scores (in the store, when there is one), and the
    /// forecast's monthly totals: scored here a partition at a time or,
    /// when the results are stored and there is somewhere else to score
    /// them, there.
    fn scores(&self, scorer: &Scorer) -> Result<(ClvScoreParts, MonthlyTotals)> {
        let fallback =
            (self.gg.is_none() && !self.totals.any_repeat).then(|| self.totals.plain_order_value());
        let how = PartScoring {
            fallback,
            margin: self.config.margin,
        };
        let mut totals = MonthlyTotals::new(scorer.months());
        let mut all = ClvScoreParts::new(self.stores.clone(), self.parts.customers());
        if let (Some(elsewhere), Some(_)) = (self.elsewhere, &self.stores) {
            for part in elsewhere.score(scorer, how, self.parts.part_count())? {
                totals.merge(&part.totals);
                all.push(KeptScores::stored(part.uncomputable));
            }
            return Ok((all.finish()?, totals));
        }
        self.parts.fold_in_order(
            |p, part| -> Result<_> {
                // The cluster tests: a client that scores a partition itself.
                crate::faults::crash_point("clv::scored_here");
                let (scores, part_totals) = score_part(scorer, &part.summary, how);
                Ok((
                    part_totals,
                    KeptScores::of(p, scores, self.stores.as_ref())?,
                ))
            },
            |_, scored| {
                let (part_totals, kept) = scored?;
                totals.merge(&part_totals);
                all.push(kept);
                Ok(())
            },
        )?;
        Ok((all.finish()?, totals))
    }
}

/// What scoring a customer partition takes besides the scorer.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct PartScoring {
    /// Every customer's order value when there is neither a spend model
    /// nor a repeat buyer to take one from.
    pub fallback: Option<f64>,
    /// The margin the CLVs are multiplied by.
    pub margin: f64,
}

/// One customer partition's scores and its part of the forecast's monthly
/// totals: the one function that scores a partition, in this process or
/// on a cluster's executor.
pub fn score_part(
    scorer: &Scorer,
    summary: &CustomerSummary,
    how: PartScoring,
) -> (ClvScores, MonthlyTotals) {
    let monetary_value = monetary(summary);
    let batch = with_input(summary, &monetary_value, |i| scorer.batch(i));
    let (mut predictions, intervals) = scorer.predict(batch);
    if let Some(value) = how.fallback {
        predictions.set_order_value(value);
    }
    let mut totals = MonthlyTotals::new(scorer.months());
    totals.add(&predictions);
    (scores(&predictions, intervals, how.margin), totals)
}

/// The CLV stage's per-customer work outside this process: on a
/// cluster's executors, which hold the partitions' per-customer results
/// and folded them ([`fold_part`]) when they made them.
pub trait ClvElsewhere: Send + Sync {
    /// Customer partition `p`'s fold.
    fn fold_part(&self, p: usize) -> Result<ClvFoldPart>;

    /// Customer partition `p`'s calibration columns, made with its fold.
    fn holdout_part(&self, p: usize) -> Result<PartColumns>;

    /// Each of the `partitions` partitions scored by `scorer` as `how`
    /// says ([`score_part`]), its scores put where the run's CLV stores
    /// read them (`ClvStores`); what each leaves, in partition order.
    fn score(
        &self,
        scorer: &Scorer,
        how: PartScoring,
        partitions: usize,
    ) -> Result<Vec<ScoredPart>>;
}

/// What a partition scored elsewhere leaves: its customers without
/// expected orders, and its part of the monthly totals.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ScoredPart {
    pub uncomputable: usize,
    pub totals: MonthlyTotals,
}

/// What the intervals come from: the scoring fit's covariance and, when
/// Gamma-Gamma gave the order values, its covariance. `None` (no interval
/// at all, and the run says why) when the scoring fit has none.
fn uncertainty(
    config: &ClvConfig,
    purchase: &FitReport,
    gamma_gamma_used: bool,
    gamma_gamma: &FitReport,
) -> Option<Uncertainty> {
    let Some(covariance) = LogCovariance::of_fit(purchase) else {
        tracing::warn!(
            model = purchase.model,
            fit_status = fit_status(purchase),
            "CLV intervals: the scoring fit did not converge to an interior maximum with a positive-definite Hessian, so there is no sampling distribution to take intervals from; every _low and _high column is null"
        );
        return None;
    };
    let spend = if gamma_gamma_used {
        LogCovariance::of_fit(gamma_gamma)
    } else {
        None
    };
    if spend.is_none() {
        tracing::warn!(
            "CLV intervals: the order values do not come from a converged Gamma-Gamma fit, so clv_low / clv_high and the forecast's revenue intervals are null (expected orders keep theirs)"
        );
    }
    Some(Uncertainty {
        purchase: covariance,
        spend,
        level: config.interval,
    })
}

/// Every candidate refitted on the calibration period and compared with
/// the holdout's `customers`.
fn validation(
    (customers, calibration): (HoldoutCustomers<'_>, Calibration),
    config: &ClvConfig,
    purchase: &[(PurchaseModel, FitReport)],
) -> Result<HoldoutValidation> {
    let clock = std::time::Instant::now();
    if calibration.is_empty() {
        tracing::warn!(
            "CLV holdout validation: no customer ordered before the calibration end (as_of minus holdout_days); clv_validation is empty"
        );
    }
    // Side by side: each refit's serial stretches (the optimizer's steps)
    // leave a core to the others.
    let refits = purchase
        .par_iter()
        .map(|(model, full)| {
            refit(
                &calibration,
                model.kind(),
                full,
                config.holdout_days,
                config.penalizer,
            )
        })
        .collect();
    let validation = compare(customers, &calibration, refits, config.holdout_days)?;
    tracing::debug!(
        seconds = clock.elapsed().as_secs_f64(),
        "clv holdout validation"
    );
    Ok(validation)
}

/// Turns predictions into columns. Expected orders and CLV that could not
/// be computed (NaN) become `None`, published as null. The other three
/// have closed forms that are finite by construction (`clv::predict`).
/// Both CLVs are revenue × `margin` (`[clv] margin`; × 1 is exact).
fn scores(
    predictions: &CustomerPredictions,
    intervals: Option<PredictionIntervals>,
    margin: f64,
) -> ClvScores {
    let (expected_orders_interval, clv_interval) = match intervals {
        Some(i) => {
            let clv = i.clv.into_iter();
            let clv = clv.map(|[low, high]| [low * margin, high * margin]);
            (i.expected_orders, clv.collect())
        }
        None => {
            let none = vec![[f64::NAN; 2]; predictions.len()];
            (none.clone(), none)
        }
    };
    let computed = |x: f64| x.is_finite().then_some(x);
    let column = |of: &(dyn Fn(usize) -> f64 + Sync)| -> Vec<f64> {
        (0..predictions.len()).into_par_iter().map(of).collect()
    };
    let p_alive = column(&|i| predictions.p_alive(i));
    let p_no_order = column(&|i| predictions.p_no_order(i));
    let expected_avg_order_value = column(&|i| predictions.expected_avg_order_value(i));
    debug_assert!([&p_alive, &p_no_order, &expected_avg_order_value]
        .iter()
        .all(|c| c.iter().all(|v| v.is_finite())));
    ClvScores {
        p_alive,
        expected_orders: (0..predictions.len())
            .into_par_iter()
            .map(|i| computed(predictions.expected_orders(i)))
            .collect(),
        p_no_order,
        expected_avg_order_value,
        clv: (0..predictions.len())
            .into_par_iter()
            .map(|i| computed(predictions.clv(i) * margin))
            .collect(),
        expected_orders_interval,
        clv_interval,
    }
}

/// The simple CLV's settings: the expected lifespan from the KPI stage's
/// monthly counts, and `[clv] margin`.
pub fn simple_clv(monthly: &MonthlyCounts, config: &ClvConfig) -> SimpleClv {
    SimpleClv {
        lifespan_years: expected_lifespan_years(monthly),
        margin: config.margin,
    }
}

/// Expected customer lifespan in years for the simple CLV: 1 / annual
/// churn, where annual churn = 1 − (1 − m)^12 and m is the pooled monthly
/// churn rate (Σ churned / Σ customers at month start) over the last twelve
/// complete months; capped at ten years; `None` when no month had
/// customers at its start.
pub fn expected_lifespan_years(monthly: &MonthlyCounts) -> Option<f64> {
    // The last month is as_of's month; it is complete only when as_of is a
    // month end, and the caller's counts do not say, so it is left out.
    let months = monthly.customers_start.len();
    let last_complete = months.saturating_sub(1);
    let first = last_complete.saturating_sub(12);
    let (mut churned, mut start) = (0i64, 0i64);
    for m in first..last_complete {
        churned += monthly.churned(m);
        start += monthly.customers_start[m];
    }
    if start == 0 {
        return None;
    }
    let monthly_churn = churned as f64 / start as f64;
    let annual_churn = 1.0 - (1.0 - monthly_churn).powi(12);
    Some(if annual_churn > 0.0 {
        (1.0 / annual_churn).min(MAX_LIFESPAN_YEARS)
    } else {
        MAX_LIFESPAN_YEARS
    })
}

/// The horizon's months summed over all customers (`clv_forecast`).
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Days in a month of the horizon: month j runs from (j − 1)·month_days
    /// to j·month_days after as_of.
    pub month_days: f64,
    /// Per month j = 1 … horizon: expected orders of all customers; `None`
    /// when some customer's cannot be computed (a sum without them would
    /// be a wrong number).
    pub expected_orders: Vec<Option<f64>>,
    /// Per month: expected orders × each customer's expected order value.
    pub expected_revenue: Vec<Option<f64>>,
    /// Per month j: expected revenue / (1 + d)^j.
    pub discounted_revenue: Vec<Option<f64>>,
    /// The central intervals of the three, from the fitted parameters'
    /// sampling error; null where there is none.
    pub expected_orders_interval: Bounds,
    pub expected_revenue_interval: Bounds,
    pub discounted_revenue_interval: Bounds,
}

/// Per month, the low and the high end of an interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounds {
    pub low: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
}

impl Bounds {
    fn of(intervals: impl Iterator<Item = [f64; 2]>) -> Bounds {
        let computed = |x: f64| x.is_finite().then_some(x);
        let (low, high) = intervals
            .map(|[low, high]| (computed(low), computed(high)))
            .unzip();
        Bounds { low, high }
    }
}

/// Customers per parallel piece of a batch's forecast sums.
const FORECAST_PIECE: usize = 1 << 14;

/// Per month of the horizon, the expected orders and revenue of all
/// customers, as exact sums: the totals are the same, bit for bit, in
/// whatever order, batches, threads or partitions the customers are
/// added, and partial totals (a partition's, an executor's) add up to
/// the same numbers as well.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MonthlyTotals {
    orders: Vec<ExactSum>,
    revenue: Vec<ExactSum>,
}

impl MonthlyTotals {
    fn new(months: usize) -> Self {
        MonthlyTotals {
            orders: vec![ExactSum::new(); months],
            revenue: vec![ExactSum::new(); months],
        }
    }

    /// Adds a batch's customers (pieces of it in parallel).
    fn add(&mut self, predictions: &CustomerPredictions) {
        let months = self.orders.len();
        let pieces: Vec<MonthlyTotals> = (0..predictions.len().div_ceil(FORECAST_PIECE))
            .into_par_iter()
            .map(|k| {
                let start = k * FORECAST_PIECE;
                let end = (start + FORECAST_PIECE).min(predictions.len());
                let mut piece = MonthlyTotals::new(months);
                piece.add_customers(predictions, start..end);
                piece
            })
            .collect();
        pieces.iter().for_each(|piece| self.merge(piece));
    }

    /// Adds customers `range` of `predictions`.
    fn add_customers(&mut self, predictions: &CustomerPredictions, range: Range<usize>) {
        let mut by_month = vec![0.0; self.orders.len()];
        for i in range {
            let value = predictions.expected_avg_order_value(i);
            predictions.expected_orders_by_month(i, &mut by_month);
            for (j, &n) in by_month.iter().enumerate() {
                // A NaN month makes the total NaN: published as null.
                self.orders[j].add(n);
                self.revenue[j].add(n * value);
            }
        }
    }

    /// Adds another's totals.
    fn merge(&mut self, other: &MonthlyTotals) {
        for (mine, theirs) in self.orders.iter_mut().zip(&other.orders) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.revenue.iter_mut().zip(&other.revenue) {
            mine.merge(theirs);
        }
    }

    /// The totals over every customer added, each rounded once: (orders,
    /// revenue) per month.
    fn finish(self) -> (Vec<f64>, Vec<f64>) {
        let values = |sums: Vec<ExactSum>| sums.iter().map(ExactSum::value).collect();
        (values(self.orders), values(self.revenue))
    }
}

/// One row per month j of the horizon (days (j − 1)·30.4375 to
/// j·30.4375 after as_of): expected orders of all customers, expected
/// revenue (× each customer's expected order value), and that revenue
/// discounted by (1 + d)^j, with their intervals from `gradients` (null
/// without), from the totals over every customer.
fn forecast(
    totals: MonthlyTotals,
    settings: &PredictionSettings,
    gradients: Option<(&ForecastGradients, &Uncertainty)>,
) -> Forecast {
    let months = settings.horizon_months as usize;
    let (orders, revenue) = totals.finish();
    let factor = |j: usize| (1.0 + settings.discount_rate_monthly).powi(j as i32 + 1);
    let interval = |of: &dyn Fn(&ForecastGradients, &Uncertainty, usize) -> [f64; 2]| {
        Bounds::of((0..months).map(|j| match gradients {
            Some((g, u)) => of(g, u, j),
            None => [f64::NAN; 2],
        }))
    };
    let revenue_interval =
        |g: &ForecastGradients, u: &Uncertainty, j: usize| g.revenue_interval(j, revenue[j], u);
    let computed = |x: f64| x.is_finite().then_some(x);
    Forecast {
        month_days: settings.month_days,
        expected_orders_interval: interval(&|g, u, j| g.orders_interval(j, orders[j], u)),
        expected_revenue_interval: interval(&revenue_interval),
        discounted_revenue_interval: interval(&|g, u, j| {
            revenue_interval(g, u, j).map(|end| end / factor(j))
        }),
        discounted_revenue: (0..months)
            .map(|j| computed(revenue[j] / factor(j)))
            .collect(),
        expected_orders: orders.into_iter().map(computed).collect(),
        expected_revenue: revenue.into_iter().map(computed).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A customer whose expected orders could not be computed (NaN from
    /// `clv::predict`) is null in the scores and makes the forecast months
    /// null; nothing becomes 0.
    #[test]
    fn uncomputable_predictions_are_null_not_zero() {
        // Two customers, each with a row of their own: expected orders 2
        // (one a month: P(alive) 0.5 of 2 and 4 if alive), and ones that
        // cannot be computed.
        let rows = [(0.5, vec![2.0, 4.0], 0.4), (0.5, vec![f64::NAN; 2], 0.4)];
        let predictions = CustomerPredictions::of_rows_for_tests(&rows, &[0, 1], vec![10.0; 2]);
        let scores = scores(&predictions, None, 1.0);
        assert_eq!(scores.expected_orders, vec![Some(2.0), None]);
        assert_eq!(scores.clv, vec![Some(20.0), None]);
        assert_eq!(scores.p_alive, vec![0.5, 0.5]);
        let settings = PredictionSettings {
            horizon_months: 2,
            month_days: MONTH_DAYS,
            discount_rate_monthly: 0.0,
        };
        let forecast = forecast(totals_of(&[&predictions], 2), &settings, None);
        assert_eq!(forecast.expected_orders, vec![None, None]);
        assert_eq!(forecast.discounted_revenue, vec![None, None]);
        let first = CustomerPredictions::of_rows_for_tests(&rows, &[0], vec![10.0]);
        let forecast = super::forecast(totals_of(&[&first], 2), &settings, None);
        assert_eq!(forecast.expected_revenue, vec![Some(10.0), Some(10.0)]);
        assert_eq!(forecast.expected_orders, vec![Some(1.0), Some(1.0)]);
    }

    /// The totals of batches added in order.
    fn totals_of(batches: &[&CustomerPredictions], months: usize) -> MonthlyTotals {
        let mut totals = MonthlyTotals::new(months);
        for batch in batches {
            totals.add(batch);
        }
        totals
    }

    proptest::proptest! {
        /// The forecast's totals are the exact sums of every customer's
        /// months, rounded once (an independent exact summation,
        /// `accurate`'s online one, gives them), whatever the customers'
        /// order and the batches they come in: bit for bit, with values
        /// whose plain sums depend on their order.
        #[test]
        fn monthly_totals_do_not_depend_on_order_or_batches(
            customers in proptest::collection::vec((0usize..4, -3i32..40), 0..60),
            cuts in proptest::collection::vec(0usize..61, 0..5),
            rotation in 0usize..60,
        ) {
            use crate::clv::online_exact_sum;
            let months = 3;
            // Rows whose months differ by orders of magnitude: each
            // month's expected orders, and (P(alive) 1) their running sums
            // that the rows are given by.
            let by_month: Vec<Vec<f64>> = (0..4)
                .map(|r| (0..months).map(|j| 10f64.powi(r * 5 - j as i32) / 3.0).collect())
                .collect();
            let rows: Vec<(f64, Vec<f64>, f64)> = by_month
                .iter()
                .map(|m| (1.0, m.iter().scan(0.0, |sum, n| { *sum += n; Some(*sum) }).collect(), 0.1))
                .collect();
            // A month as the rows give it back: the difference of running
            // sums, not always the number summed.
            let month = |r: usize, j: usize| {
                let cumulative = &rows[r].1;
                cumulative[j] - if j == 0 { 0.0 } else { cumulative[j - 1] }
            };
            let mut customers = customers;
            let turn = rotation % customers.len().max(1);
            customers.rotate_left(turn);
            let customer_row: Vec<u32> = customers.iter().map(|c| c.0 as u32).collect();
            let value: Vec<f64> = customers.iter().map(|c| c.1 as f64 * 1.1).collect();
            let exact = |term: &dyn Fn(usize, usize) -> f64, j: usize| {
                online_exact_sum(&(0..customers.len()).map(|i| term(i, j)).collect::<Vec<_>>())
            };
            let orders_of = |i: usize, j: usize| month(customer_row[i] as usize, j);
            let revenue_of = |i: usize, j: usize| orders_of(i, j) * value[i];
            let want: (Vec<f64>, Vec<f64>) = (
                (0..months).map(|j| exact(&orders_of, j)).collect(),
                (0..months).map(|j| exact(&revenue_of, j)).collect(),
            );
            let mut ends: Vec<usize> = cuts.iter().map(|c| c % (customers.len() + 1)).collect();
            ends.extend([0, customers.len()]);
            ends.sort_unstable();
            let batches: Vec<CustomerPredictions> = ends
                .windows(2)
                .map(|w| {
                    CustomerPredictions::of_rows_for_tests(
                        &rows,
                        &customer_row[w[0]..w[1]],
                        value[w[0]..w[1]].to_vec(),
                    )
                })
                .collect();
            let batches: Vec<&CustomerPredictions> = batches.iter().collect();
            let got = totals_of(&batches, months).finish();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&got.0), bits(&want.0));
            proptest::prop_assert_eq!(bits(&got.1), bits(&want.1));
        }
    }

    #[test]
    fn lifespan_from_pooled_churn() {
        let monthly = MonthlyCounts {
            customers_start: vec![0, 100, 100, 100],
            customers_end: vec![100, 100, 100, 100],
            new_customers: vec![100, 10, 10, 10],
            retained: vec![0, 90, 90, 90],
            purchasing_customers: vec![0; 4],
            orders: vec![0; 4],
            revenue_cents: vec![0; 4],
            returning_customers: vec![0; 4],
        };
        // Months 0..=2 counted (the last is as_of's own): churn 20 / 200.
        let years = expected_lifespan_years(&monthly).unwrap();
        let annual = 1.0 - 0.9f64.powi(12);
        assert!((years - 1.0 / annual).abs() < 1e-12);
    }
}
