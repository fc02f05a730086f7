//! The CLV holdout validation: each purchase model refitted on the history
//! up to `as_of − holdout_days` (the calibration period) predicts each
//! calibration customer's repeat order days in the holdout; the actual
//! count is the customer's distinct order days in the holdout (the
//! models' unit: they count purchases in daily periods). The comparison,
//! overall and by calibration frequency, is `clv_validation`, and the
//! overall error is what `[clv] model = "auto"` chooses by. The
//! calibration customers are read from the history twice (folded into
//! unique rows for the refits, then compared with their predictions), so
//! nothing is held per customer.

use crate::clv::{
    AtOptimum, FitReport, PurchaseModelKind, RowMemory, UniqueRows, UniqueRowsFold, UniqueRowsPart,
};
use crate::error::Result;
use crate::stages::orders::{EntriesView, OrderHistory};
use crate::stages::part_store;

use super::status::warn_if_not_converged;

/// The calibration period: its customers' summaries up to the calibration
/// end, folded into their unique rows. No column of the calibration
/// customers is kept: the comparison reads them from the history again
/// ([`compare`]), so what the holdout holds grows with the distinct
/// (frequency, recency, T) rows, not with the customers.
pub(super) struct Calibration {
    pub end: i32,
    /// The unique rows, for every model's refit and predictions.
    rows: UniqueRows,
}

impl Calibration {
    /// Every customer who ordered on or before `end`, a few customer
    /// partitions at a time in parallel, folded in customer order: each
    /// partition into its own unique rows on every core
    /// ([`calibration_part`]), and those added here in order. With a
    /// single purchase model this runs beside the full-history fits and is
    /// what they wait for. With room (`memory`), its index holds each
    /// row's key, so the comparison's lookups read no row
    /// ([`UniqueRowsFold::new`]).
    pub fn of(history: &OrderHistory, end: i32, memory: RowMemory) -> Result<Calibration> {
        let clock = std::time::Instant::now();
        let mut fold = UniqueRowsFold::new(memory);
        history.fold_in_order(
            |_, entries| {
                // The cluster tests: a client that reads the history for it.
                crate::faults::crash_point("clv::folded_here");
                calibration_part(&PartColumns::of(entries.iter(), end))
            },
            |part| {
                fold.add_part(&part);
                Ok(())
            },
        )?;
        tracing::debug!(
            seconds = clock.elapsed().as_secs_f64(),
            "calibration summary"
        );
        Ok(Calibration {
            end,
            rows: fold.finish(),
        })
    }

    /// The calibration period from its customer partitions' rows, folded
    /// where the partitions are ([`calibration_part`]) and added here in
    /// partition order: the rows of [`Calibration::of`].
    pub fn of_parts(end: i32, rows: UniqueRowsFold) -> Calibration {
        Calibration {
            end,
            rows: rows.finish(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One customer partition's calibration columns up to `end`, from its
/// entries: where it is folded ([`calibration_part`]) and, on a cluster,
/// what the comparison reads of it ([`HoldoutCustomers::Elsewhere`]).
pub fn calibration_columns(entries: EntriesView<'_>, end: i32) -> PartColumns {
    PartColumns::of(entries.iter(), end)
}

/// One customer partition's calibration rows, from its calibration
/// columns: its share of [`Calibration::of`], to be added in partition
/// order ([`Calibration::of_parts`]).
pub(super) fn calibration_part(part: &PartColumns) -> UniqueRowsPart {
    let mut fold = UniqueRowsFold::default();
    fold.add(&part.frequency, &part.recency, &part.tenure);
    fold.into_part()
}

/// One purchase model refitted on the calibration period, and its
/// expected repeat order days in the holdout for each unique calibration
/// row (NaN where they cannot be computed).
pub(super) struct Refit {
    model: PurchaseModelKind,
    fit: FitReport,
    predicted: Vec<f64>,
}

/// Refits `model` on the calibration period (from its full-history fit
/// `full`, whose optimum is close) and predicts each calibration row's
/// holdout order days.
pub(super) fn refit(
    calibration: &Calibration,
    model: PurchaseModelKind,
    full: &FitReport,
    holdout_days: u32,
    penalizer: f64,
) -> Refit {
    let clock = std::time::Instant::now();
    // Only the refit's parameters are used (its predictions); no
    // standard errors are asked of it.
    let (fitted, fit) = calibration.rows.fit_purchase_model(
        model,
        penalizer,
        Some(full),
        AtOptimum::ConvergenceOnly,
    );
    tracing::debug!(
        model = model.name(),
        seconds = clock.elapsed().as_secs_f64(),
        iterations = fit.iterations,
        "calibration fit"
    );
    if !calibration.is_empty() {
        warn_if_not_converged(&fit, "calibration refit");
    }
    let predicted = if calibration.is_empty() {
        Vec::new()
    } else {
        calibration
            .rows
            .expected_orders(fitted, holdout_days as f64)
    };
    Refit {
        model,
        fit,
        predicted,
    }
}

/// A partition's calibration columns, read from where they were made.
pub(super) type PartColumnsOf<'a> = dyn Fn(usize) -> Result<PartColumns> + Sync + 'a;

/// Where the comparison reads the calibration customers from.
pub(super) enum HoldoutCustomers<'a> {
    /// Their entries, in this process.
    History(&'a OrderHistory),
    /// Each of the partitions' calibration columns, made where its
    /// entries are (a cluster's executors, [`calibration_columns`]): read
    /// by the function, for each of the partitions.
    Elsewhere(&'a PartColumnsOf<'a>, usize),
}

impl HoldoutCustomers<'_> {
    /// `fold` of each partition's calibration columns up to `end`, with
    /// `rows_of` them, in partition order; a few partitions are read and
    /// mapped at a time in parallel.
    fn fold_in_order<T: Send>(
        &self,
        end: i32,
        rows_of: impl Fn(&PartColumns) -> T + Sync,
        mut fold: impl FnMut(PartColumns, T) -> Result<()> + Send,
    ) -> Result<()> {
        let with_rows = |part: PartColumns| {
            let rows = rows_of(&part);
            (part, rows)
        };
        let fold = |(part, rows)| fold(part, rows);
        match self {
            HoldoutCustomers::History(history) => history.fold_in_order(
                |_, entries| {
                    // The cluster tests: a client that reads the history
                    // for the comparison.
                    crate::faults::crash_point("clv::compared_here");
                    with_rows(calibration_columns(entries, end))
                },
                fold,
            ),
            HoldoutCustomers::Elsewhere(columns_of, partitions) => {
                part_store::fold_in_order(*partitions, |p| columns_of(p).map(with_rows), fold)
            }
        }
    }
}

/// Compares each refit's predictions with what happened in the holdout,
/// customer by customer: the calibration customers are read again a few
/// partitions at a time in parallel, and every sum is added in customer
/// order, as over columns of every calibration customer.
pub(super) fn compare(
    customers: HoldoutCustomers<'_>,
    calibration: &Calibration,
    refits: Vec<Refit>,
    holdout_days: u32,
) -> Result<HoldoutValidation> {
    let clock = std::time::Instant::now();
    let mut sums = HoldoutSums::new(refits.len());
    if !calibration.is_empty() {
        let predicted: Vec<&[f64]> = refits.iter().map(|r| r.predicted.as_slice()).collect();
        let rows = &calibration.rows;
        customers.fold_in_order(
            calibration.end,
            |part| rows.rows_of(&part.frequency, &part.recency, &part.tenure),
            |part, rows| {
                sums.add_part(&part, &rows, &predicted);
                Ok(())
            },
        )?;
    }
    tracing::debug!(
        seconds = clock.elapsed().as_secs_f64(),
        "clv holdout comparison"
    );
    let models = refits
        .into_iter()
        .zip(sums.models)
        .map(|(refit, model_sums)| {
            model_sums.warn_of_uncomputable(refit.model.name());
            ModelValidation {
                model: refit.model,
                calibration_fit: refit.fit,
                buckets: model_sums.bucket_fits(),
            }
        })
        .collect();
    Ok(HoldoutValidation {
        holdout_days,
        calibration_end: calibration.end,
        models,
        paired: sums.paired,
    })
}

/// The comparison's running sums: each model's buckets and the paired
/// differences of every two models' absolute errors.
struct HoldoutSums {
    models: Vec<ModelSums>,
    paired: PairedErrors,
    /// One customer's absolute error under each model (reused).
    errors: Vec<f64>,
}

impl HoldoutSums {
    fn new(models: usize) -> HoldoutSums {
        HoldoutSums {
            models: (0..models).map(|_| ModelSums::default()).collect(),
            paired: PairedErrors::new(models),
            errors: vec![0.0; models],
        }
    }

    /// Adds a partition's customers in their order; `rows` are their
    /// calibration rows and `predicted[m]` model m's prediction by row.
    fn add_part(&mut self, part: &PartColumns, rows: &[u32], predicted: &[&[f64]]) {
        for (i, &row) in rows.iter().enumerate() {
            let (frequency, actual) = (part.frequency[i], part.holdout_days[i] as f64);
            for (m, model) in self.models.iter_mut().enumerate() {
                let p = predicted[m][row as usize];
                model.add(frequency, actual, p);
                // NaN where the prediction is: the pairs leave it out.
                self.errors[m] = (p - actual).abs();
            }
            self.paired.add_customer(&self.errors);
        }
    }
}

/// One model's sums: "overall", then calibration frequency 0 … 6 and 7+,
/// over the customers whose prediction could be computed, and how many
/// could not.
#[derive(Default)]
struct ModelSums {
    buckets: [BucketSums; 9],
    uncomputable: u64,
}

impl ModelSums {
    fn add(&mut self, frequency: i64, actual: f64, predicted: f64) {
        if !predicted.is_finite() {
            self.uncomputable += 1;
            return; // left out (see `warn_of_uncomputable`)
        }
        self.buckets[0].add(actual, predicted);
        self.buckets[(frequency.min(7) + 1) as usize].add(actual, predicted);
    }

    /// Says how many customers have no computable holdout prediction: the
    /// validation leaves them out.
    fn warn_of_uncomputable(&self, model: &str) {
        if self.uncomputable > 0 {
            tracing::warn!(
                customers = self.uncomputable,
                model,
                "CLV holdout validation: these customers' holdout predictions cannot be computed at the calibration fit's parameters; clv_validation leaves them out"
            );
        }
    }

    /// The buckets' fits; nothing at all when no customer had ordered by
    /// the calibration end (a holdout as long as the history or longer) or
    /// none of their predictions could be computed: there is no validation
    /// then, not one of zeros.
    fn bucket_fits(&self) -> Vec<BucketFit> {
        const LABELS: [&str; 9] = ["overall", "0", "1", "2", "3", "4", "5", "6", "7+"];
        if self.buckets[0].customers == 0 {
            return Vec::new();
        }
        LABELS
            .iter()
            .zip(self.buckets)
            .map(|(&label, sums)| sums.fit(label))
            .collect()
    }
}

/// The differences of every two models' absolute holdout errors, added
/// customer by customer over the customers both could predict, as running
/// moments: what the tie between two models is decided by, without a
/// column of every customer's errors.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedErrors {
    models: usize,
    /// Pair (i, j), i < j, holds the moments of error j − error i; row
    /// after row of the upper triangle.
    pairs: Vec<DifferenceMoments>,
}

impl PairedErrors {
    /// No customer yet, for `models` models.
    pub fn new(models: usize) -> PairedErrors {
        PairedErrors {
            models,
            pairs: vec![DifferenceMoments::default(); models * models.saturating_sub(1) / 2],
        }
    }

    /// Adds one customer's absolute error under each model (NaN or
    /// infinite where the model's prediction is not computable: the pairs
    /// with that model leave the customer out).
    pub(super) fn add_customer(&mut self, errors: &[f64]) {
        debug_assert_eq!(errors.len(), self.models);
        let mut pair = 0;
        for (i, a) in errors.iter().enumerate() {
            for b in &errors[i + 1..] {
                if a.is_finite() && b.is_finite() {
                    self.pairs[pair].add(b - a);
                }
                pair += 1;
            }
        }
    }

    /// The moments of `other`'s error minus `best`'s (two models).
    pub(super) fn between(&self, best: usize, other: usize) -> DifferenceMoments {
        let (i, j) = (best.min(other), best.max(other));
        // Pairs before row i: (m−1) + (m−2) + … + (m−i).
        let row_start = i * self.models - i * (i + 1) / 2;
        let moments = self.pairs[row_start + (j - i - 1)];
        if best < other {
            moments
        } else {
            moments.reversed()
        }
    }
}

/// Count, mean and sum of squared deviations from the mean of a sequence
/// of differences, updated one at a time (Welford's method: no second pass
/// over the differences, and no cancellation as in Σd² − (Σd)²/n).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct DifferenceMoments {
    n: u64,
    mean: f64,
    squared_deviations: f64,
}

impl DifferenceMoments {
    fn add(&mut self, d: f64) {
        self.n += 1;
        let delta = d - self.mean;
        self.mean += delta / self.n as f64;
        self.squared_deviations += delta * (d - self.mean);
    }

    /// The moments of the negated differences: every rounding in
    /// [`DifferenceMoments::add`] is symmetric in sign, so these are
    /// exactly what adding −d would have given.
    fn reversed(self) -> DifferenceMoments {
        DifferenceMoments {
            mean: -self.mean,
            ..self
        }
    }

    /// The mean difference and its standard error; `None` with fewer
    /// than two differences.
    pub(super) fn mean_and_standard_error(&self) -> Option<(f64, f64)> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let variance = self.squared_deviations / (n - 1.0);
        Some((self.mean, (variance / n).sqrt()))
    }
}

/// One customer partition's calibration rows as columns: its customers
/// who ordered on or before the calibration end, in their order.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartColumns {
    frequency: Vec<i64>,
    recency: Vec<i64>,
    tenure: Vec<i64>,
    holdout_days: Vec<i64>,
}

impl PartColumns {
    /// The calibration rows of a partition's customers, given as their
    /// entries (days, cents), up to `end`.
    fn of<'a>(customers: impl Iterator<Item = (&'a [i32], &'a [i64])>, end: i32) -> PartColumns {
        let mut columns = PartColumns::default();
        for row in customers.filter_map(|(days, cents)| calibration_row(days, cents, end)) {
            columns.frequency.push(row.frequency);
            columns.recency.push(row.recency);
            columns.tenure.push(row.tenure);
            columns.holdout_days.push(row.holdout_days);
        }
        columns
    }
}

/// One customer's calibration summary (orders up to the calibration end,
/// in days) and their order days in the holdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CalibrationRow {
    pub frequency: i64,
    pub recency: i64,
    pub tenure: i64,
    pub holdout_days: i64,
}

/// The calibration summary of one customer (orders up to `cal_end`) and
/// its order days in the holdout, or `None` when the customer's first
/// order is after `cal_end`.
pub(super) fn calibration_row(days: &[i32], cents: &[i64], cal_end: i32) -> Option<CalibrationRow> {
    // Entries are sorted by day, so a new day is one unlike the last.
    let mut first_day = None;
    let mut last_day = 0;
    let mut order_days = 0i64;
    let mut holdout_days = 0i64;
    let mut last_holdout_day = None;
    for (&d, &c) in days.iter().zip(cents) {
        if c < 0 {
            continue;
        }
        if d <= cal_end {
            first_day.get_or_insert(d);
            if order_days == 0 || d != last_day {
                order_days += 1;
                last_day = d;
            }
        } else if last_holdout_day != Some(d) {
            holdout_days += 1;
            last_holdout_day = Some(d);
        }
    }
    let first = first_day?;
    Some(CalibrationRow {
        frequency: order_days - 1,
        recency: (last_day - first) as i64,
        tenure: (cal_end - first) as i64,
        holdout_days,
    })
}

/// The holdout validation (`clv_validation`): each purchase model refitted
/// on the calibration period, its predictions for the holdout compared
/// with what happened, overall and by calibration frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutValidation {
    pub holdout_days: u32,
    /// The calibration period's last day (as_of − holdout_days).
    pub calibration_end: i32,
    /// One per fitted purchase model, in fitting order.
    pub models: Vec<ModelValidation>,
    /// The paired differences of the models' absolute errors, customer by
    /// customer (not published; the model choice compares them).
    pub paired: PairedErrors,
}

/// One purchase model's holdout validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelValidation {
    pub model: PurchaseModelKind,
    /// The calibration refit (for its status; not published).
    pub calibration_fit: FitReport,
    /// "overall", then calibration frequency 0 … 6 and 7+; empty when no
    /// customer ordered before the calibration end.
    pub buckets: Vec<BucketFit>,
}

impl ModelValidation {
    /// The "overall" bucket, when there is a validation.
    pub fn overall(&self) -> Option<&BucketFit> {
        self.buckets.first()
    }
}

/// How the holdout predictions of one bucket of customers compare.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketFit {
    pub label: &'static str,
    pub customers: i64,
    /// Σ distinct order days in the holdout.
    pub actual_orders: f64,
    /// Σ predicted repeat order days in the holdout.
    pub predicted_orders: f64,
    /// Mean absolute error; `None` for an empty bucket.
    pub mae: Option<f64>,
    /// Root mean square error; `None` for an empty bucket.
    pub rmse: Option<f64>,
    /// (Σ predicted − Σ actual) / Σ actual; `None` when Σ actual is 0.
    pub relative_bias: Option<f64>,
}

/// Running sums of one bucket. Folded from +0.0: an empty bucket sums to
/// 0, not to the −0.0 an empty f64 sum gives.
#[derive(Debug, Clone, Copy, Default)]
struct BucketSums {
    customers: i64,
    actual: f64,
    predicted: f64,
    absolute_error: f64,
    squared_error: f64,
}

impl BucketSums {
    fn add(&mut self, actual: f64, predicted: f64) {
        self.customers += 1;
        self.actual += actual;
        self.predicted += predicted;
        self.absolute_error += (predicted - actual).abs();
        self.squared_error += (predicted - actual).powi(2);
    }

    fn fit(self, label: &'static str) -> BucketFit {
        let n = self.customers as f64;
        let (a, p) = (self.actual, self.predicted);
        BucketFit {
            label,
            customers: self.customers,
            actual_orders: a,
            predicted_orders: p,
            mae: (self.customers > 0).then(|| self.absolute_error / n),
            rmse: (self.customers > 0).then(|| (self.squared_error / n).sqrt()),
            relative_bias: (a > 0.0).then(|| (p - a) / a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_row_splits_at_the_cutoff() {
        // Orders on days 10, 10, 20 (refund on 25), 40, 41, 41; cutoff 30.
        let days = [10, 10, 20, 25, 40, 41, 41];
        let cents = [500, 100, 300, -50, 200, 100, 100];
        let row = calibration_row(&days, &cents, 30).unwrap();
        let want = CalibrationRow {
            frequency: 1,
            recency: 10,
            tenure: 20,
            holdout_days: 2,
        };
        assert_eq!(row, want);
        assert!(calibration_row(&[40], &[100], 30).is_none());
    }

    /// One model's bucket fits over customers given as columns.
    fn fits_of(frequency: &[i64], actual: &[f64], predicted: &[f64]) -> Vec<BucketFit> {
        let mut sums = ModelSums::default();
        for i in 0..frequency.len() {
            sums.add(frequency[i], actual[i], predicted[i]);
        }
        sums.bucket_fits()
    }

    #[test]
    fn validation_without_calibration_customers_is_empty_and_empty_buckets_are_plus_zero() {
        assert!(fits_of(&[], &[], &[]).is_empty());
        // One customer with frequency 2: every other bucket is empty.
        let buckets = fits_of(&[2], &[1.0], &[0.5]);
        assert_eq!(buckets.len(), 9);
        for b in buckets.iter().filter(|b| b.customers == 0) {
            assert!(b.actual_orders == 0.0 && b.actual_orders.is_sign_positive());
            assert!(b.predicted_orders == 0.0 && b.predicted_orders.is_sign_positive());
            assert_eq!((b.mae, b.rmse, b.relative_bias), (None, None, None));
        }
    }

    #[test]
    fn customers_without_a_holdout_prediction_are_left_out_of_the_validation() {
        let buckets = fits_of(
            &[0, 1, 2, 1],
            &[1.0, 2.0, 3.0, 4.0],
            &[0.5, f64::NAN, 2.5, f64::INFINITY],
        );
        assert_eq!(buckets, fits_of(&[0, 2], &[1.0, 3.0], &[0.5, 2.5]));
        assert_eq!(buckets[0].customers, 2);
        assert_eq!(buckets[2].customers, 0, "frequency 1: both left out");
        // Nobody computable: no validation, as with nobody at all.
        assert!(fits_of(&[1], &[2.0], &[f64::NAN]).is_empty());
    }

    mod against_columns {
        use proptest::prelude::*;

        use super::super::*;
        use crate::clv::{expected_orders, fit_purchase_model_on, CompressedSummary};
        use crate::stages::orders::HistoryPart;

        /// Customers' (day, cents) entries, refunds among them, up to
        /// sixteen entries so that every frequency bucket (7+ too) fills.
        fn customers() -> impl Strategy<Value = Vec<Vec<(i32, i64)>>> {
            let entry = (0i32..120, prop_oneof![9 => 1i64..5_000, 1 => -500i64..0]);
            proptest::collection::vec(proptest::collection::vec(entry, 1..17), 0..50)
        }

        /// The customers as a history of parts cut at `cuts`, as_of day 120.
        fn history(customers: &[Vec<(i32, i64)>], cuts: &[usize]) -> OrderHistory {
            let ids: Vec<String> = (0..customers.len()).map(|c| format!("c{c:03}")).collect();
            let mut ends: Vec<usize> = cuts.iter().map(|c| c % (customers.len() + 1)).collect();
            ends.extend([0, customers.len()]);
            ends.sort_unstable();
            let parts = ends.windows(2).map(|range| {
                let rows: Vec<(&str, i32, i64)> = (range[0]..range[1])
                    .flat_map(|c| customers[c].iter().map(move |&(d, x)| (c, d, x)))
                    .map(|(c, d, x)| (ids[c].as_str(), d, x))
                    .collect();
                HistoryPart::from_rows(&rows)
            });
            OrderHistory::of_parts(parts.collect(), 120, [])
        }

        /// The buckets by their definition, from columns of every
        /// calibration customer: each bucket's customers with a finite
        /// prediction, summed in customer order.
        fn buckets_by_definition(
            frequency: &[i64],
            actual: &[f64],
            predicted: &[f64],
        ) -> Vec<BucketFit> {
            let labels = ["overall", "0", "1", "2", "3", "4", "5", "6", "7+"];
            if !predicted.iter().any(|p| p.is_finite()) {
                return Vec::new();
            }
            labels
                .iter()
                .enumerate()
                .map(|(b, &label)| {
                    let mut sums = BucketSums::default();
                    for i in 0..frequency.len() {
                        let in_bucket = b == 0 || frequency[i].min(7) + 1 == b as i64;
                        if in_bucket && predicted[i].is_finite() {
                            sums.add(actual[i], predicted[i]);
                        }
                    }
                    sums.fit(label)
                })
                .collect()
        }

        /// Mean of `other − best` errors over the customers both predict,
        /// and its standard error, in two passes.
        fn two_pass(best: &[f64], other: &[f64]) -> Option<(f64, f64)> {
            let d: Vec<f64> = best
                .iter()
                .zip(other)
                .filter(|(b, o)| b.is_finite() && o.is_finite())
                .map(|(b, o)| o - b)
                .collect();
            let n = d.len() as f64;
            if d.len() < 2 {
                return None;
            }
            let mean = d.iter().sum::<f64>() / n;
            let variance = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            Some((mean, (variance / n).sqrt()))
        }

        /// A value as a cluster's executor sends it: encoded, decoded.
        fn sent<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
            let config = bincode::config::standard();
            let bytes = bincode::serde::encode_to_vec(value, config).unwrap();
            bincode::serde::decode_from_slice(&bytes, config).unwrap().0
        }

        /// The calibration as a cluster folds it: each partition's rows
        /// folded apart, sent as bytes and added in partition order; and
        /// its columns, sent for the comparison.
        fn calibration_apart(history: &OrderHistory, end: i32) -> (Calibration, Vec<PartColumns>) {
            let mut fold = UniqueRowsFold::default();
            let mut columns = Vec::new();
            for p in 0..history.part_count() {
                let part = history
                    .with_part(p, |e| sent(&calibration_columns(e, end)))
                    .unwrap();
                fold.add_part(&sent(&calibration_part(&part)));
                columns.push(part);
            }
            (Calibration::of_parts(end, fold), columns)
        }

        fn close(a: f64, b: f64) -> bool {
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            /// The calibration folded a partition at a time and the
            /// comparison read from the history again give the refits,
            /// buckets (bit for bit) and paired moments of columns of every
            /// calibration customer, however the customers are cut into
            /// partitions; folded apart and added up, and compared with
            /// each partition's columns made apart (a cluster's way), the
            /// calibration gives the same refits, buckets and moments.
            #[test]
            fn the_comparison_read_again_is_the_one_over_columns(
                customers in customers(),
                cuts in proptest::collection::vec(0usize..51, 0..5),
                holdout_days in 1u32..100,
            ) {
                let history = history(&customers, &cuts);
                let end = 120 - holdout_days as i32;
                let kinds = PurchaseModelKind::ALL;
                // Columns of every calibration customer, in customer order.
                let rows: Vec<CalibrationRow> = history
                    .map_customers(|d, x| calibration_row(d, x, end))
                    .unwrap()
                    .into_iter()
                    .flatten()
                    .collect();
                let column = |of: fn(&CalibrationRow) -> i64| rows.iter().map(of).collect::<Vec<_>>();
                let frequency = column(|r| r.frequency);
                let actual: Vec<f64> = rows.iter().map(|r| r.holdout_days as f64).collect();
                let compressed = CompressedSummary::of_columns(
                    &frequency,
                    &column(|r| r.recency),
                    &column(|r| r.tenure),
                );

                let calibration = Calibration::of(&history, end, RowMemory::HoldRows).unwrap();
                let mut refits = Vec::new();
                let mut errors = Vec::new();
                let mut expected_fits = Vec::new();
                for kind in kinds {
                    let (_, full) = fit_purchase_model_on(kind, &compressed, 0.0, None, AtOptimum::ConvergenceOnly);
                    refits.push(refit(&calibration, kind, &full, holdout_days, 0.0));
                    let (fitted, fit) = fit_purchase_model_on(kind, &compressed, 0.0, Some(&full), AtOptimum::ConvergenceOnly);
                    let predicted = expected_orders(fitted, &compressed, holdout_days as f64);
                    errors.push(predicted.iter().zip(&actual).map(|(p, a)| (p - a).abs()).collect::<Vec<f64>>());
                    expected_fits.push((fit, buckets_by_definition(&frequency, &actual, &predicted)));
                }
                let validation = compare(HoldoutCustomers::History(&history), &calibration, refits, holdout_days).unwrap();
                let (apart, columns) = calibration_apart(&history, end);
                let refits_apart = kinds.iter().map(|&kind| {
                    let (_, full) = fit_purchase_model_on(kind, &compressed, 0.0, None, AtOptimum::ConvergenceOnly);
                    refit(&apart, kind, &full, holdout_days, 0.0)
                }).collect();
                let columns_of = |p: usize| Ok(columns[p].clone());
                let sent_columns = HoldoutCustomers::Elsewhere(&columns_of, history.part_count());
                let validation_apart = compare(sent_columns, &apart, refits_apart, holdout_days).unwrap();
                for (a, b) in validation.models.iter().zip(&validation_apart.models) {
                    prop_assert_eq!(&a.calibration_fit, &b.calibration_fit);
                    prop_assert_eq!(&a.buckets, &b.buckets);
                }
                prop_assert_eq!(&validation.paired, &validation_apart.paired);

                prop_assert_eq!(validation.calibration_end, end);
                for (model, (fit, buckets)) in validation.models.iter().zip(&expected_fits) {
                    prop_assert_eq!(&model.calibration_fit, fit);
                    prop_assert_eq!(&model.buckets, buckets);
                }
                for best in 0..kinds.len() {
                    for other in (0..kinds.len()).filter(|&o| o != best) {
                        let got = validation.paired.between(best, other).mean_and_standard_error();
                        let want = two_pass(&errors[best], &errors[other]);
                        match (got, want) {
                            (None, None) => {}
                            (Some(g), Some(w)) => prop_assert!(
                                close(g.0, w.0) && close(g.1, w.1),
                                "pair ({best}, {other}): {g:?} against {w:?}"
                            ),
                            _ => prop_assert!(false, "pair ({best}, {other}): {got:?} against {want:?}"),
                        }
                    }
                }
            }
        }
    }
}
