//! The CLV holdout validation: each purchase model refitted on the history
//! up to `as_of − holdout_days` (the calibration period) predicts each
//! calibration customer's repeat order days in the holdout; the actual
//! count is the customer's distinct order days in the holdout (the
//! models' unit: they count purchases in daily periods). The comparison,
//! overall and by calibration frequency, is `clv_validation`, and the
//! overall error is what `[clv] model = "auto"` chooses by.

use crate::clv::{
    expected_orders, fit_purchase_model_on, AtOptimum, CompressedSummary, CompressedSummaryFold,
    FitReport, PurchaseModelKind,
};
use crate::error::Result;
use crate::stages::orders::OrderHistory;

use super::status::warn_if_not_converged;

/// The calibration period's customers: their summaries up to the
/// calibration end (compressed) and their order days in the holdout, in
/// customer order.
pub(super) struct Calibration {
    pub end: i32,
    frequency: Vec<i64>,
    actual: Vec<f64>,
    /// The summary compressed once for every model's refit and predictions.
    compressed: CompressedSummary,
}

impl Calibration {
    /// Every customer who ordered on or before `end`, a few customer
    /// partitions at a time in parallel, folded in customer order into the
    /// compressed summary: no column of every customer's (frequency,
    /// recency, T) is built. With a single purchase model this runs beside
    /// the full-history fits and is what they wait for.
    pub fn of(history: &OrderHistory, end: i32) -> Result<Calibration> {
        let clock = std::time::Instant::now();
        let mut fold = CompressedSummaryFold::default();
        let (mut frequency, mut actual) = (Vec::new(), Vec::new());
        history.fold_in_order(
            |_, entries| {
                let rows = entries
                    .iter()
                    .filter_map(|(d, x)| calibration_row(d, x, end));
                PartColumns::of(rows)
            },
            |part| {
                fold.add(&part.frequency, &part.recency, &part.tenure);
                frequency.extend_from_slice(&part.frequency);
                actual.extend(part.holdout_days.iter().map(|&days| days as f64));
                Ok(())
            },
        )?;
        tracing::debug!(
            seconds = clock.elapsed().as_secs_f64(),
            "calibration summary"
        );
        Ok(Calibration {
            end,
            frequency,
            actual,
            compressed: fold.finish(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }
}

/// Refits `model` on the calibration period (from its full-history fit
/// `full`, whose optimum is close) and compares its holdout predictions
/// with what happened.
pub(super) fn validate_model(
    calibration: &Calibration,
    model: PurchaseModelKind,
    full: &FitReport,
    holdout_days: u32,
    penalizer: f64,
) -> ModelValidation {
    let clock = std::time::Instant::now();
    // Only the refit's parameters are used (its predictions); no
    // standard errors are asked of it.
    let (fitted, calibration_fit) = fit_purchase_model_on(
        model,
        &calibration.compressed,
        penalizer,
        Some(full),
        AtOptimum::ConvergenceOnly,
    );
    tracing::debug!(
        model = model.name(),
        seconds = clock.elapsed().as_secs_f64(),
        iterations = calibration_fit.iterations,
        "calibration fit"
    );
    if !calibration.is_empty() {
        warn_if_not_converged(&calibration_fit, "calibration refit");
    }
    // Expected orders in the holdout; NaN where a customer's cannot be
    // computed: such customers are left out of the validation.
    let predicted = if calibration.is_empty() {
        Vec::new()
    } else {
        expected_orders(fitted, &calibration.compressed, holdout_days as f64)
    };
    // Per calibration customer, NaN where uncomputable: the selection
    // pairs models customer by customer.
    let absolute_errors = predicted
        .iter()
        .zip(&calibration.actual)
        .map(|(p, a)| (p - a).abs())
        .collect();
    let rows = HoldoutRows {
        frequency: &calibration.frequency,
        actual: &calibration.actual,
        predicted: &predicted,
    };
    rows.warn_of_uncomputable(model.name());
    ModelValidation {
        model,
        calibration_fit,
        buckets: bucket_fits(&rows),
        absolute_errors,
    }
}

/// One customer partition's calibration rows as columns.
#[derive(Default)]
struct PartColumns {
    frequency: Vec<i64>,
    recency: Vec<i64>,
    tenure: Vec<i64>,
    holdout_days: Vec<i64>,
}

impl PartColumns {
    fn of(rows: impl Iterator<Item = CalibrationRow>) -> PartColumns {
        let mut columns = PartColumns::default();
        for row in rows {
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
    /// |predicted − actual| holdout order days of every calibration
    /// customer, in customer order; NaN where the prediction cannot be
    /// computed (not published; the model choice compares them in pairs).
    pub absolute_errors: Vec<f64>,
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

/// The calibration customers' frequencies and holdout order days, and one
/// model's predictions for them (NaN where uncomputable), in customer
/// order. Borrowed: the models are validated side by side, and a copy of
/// the first two columns for each would cost 28 MB at 2 M customers.
pub(super) struct HoldoutRows<'a> {
    frequency: &'a [i64],
    actual: &'a [f64],
    predicted: &'a [f64],
}

impl HoldoutRows<'_> {
    /// Says how many customers have no computable holdout prediction: the
    /// validation leaves them out ([`bucket_fits`]).
    fn warn_of_uncomputable(&self, model: &str) {
        let left_out = self.predicted.iter().filter(|p| !p.is_finite()).count();
        if left_out > 0 {
            tracing::warn!(
                customers = left_out,
                model,
                "CLV holdout validation: these customers' holdout predictions cannot be computed at the calibration fit's parameters; clv_validation leaves them out"
            );
        }
    }
}

/// "overall", then calibration frequency 0 … 6 and 7+, over the customers
/// whose prediction could be computed; nothing at all when no customer had
/// ordered by the calibration end (a holdout as long as the history or
/// longer) or none of their predictions could be computed: there is no
/// validation then, not one of zeros.
pub(super) fn bucket_fits(rows: &HoldoutRows) -> Vec<BucketFit> {
    const LABELS: [&str; 9] = ["overall", "0", "1", "2", "3", "4", "5", "6", "7+"];
    if !rows.predicted.iter().any(|p| p.is_finite()) {
        return Vec::new();
    }
    // One pass in customer order: each bucket adds its own customers in
    // that order, as a pass per bucket would (nine passes cost 0.1 s per
    // model at 2 M customers, on one thread).
    let mut sums = [BucketSums::default(); 9];
    let (frequency, actual, predicted) = (rows.frequency, rows.actual, rows.predicted);
    for ((&f, &a), &p) in frequency.iter().zip(actual).zip(predicted) {
        if !p.is_finite() {
            continue; // left out (see `warn_of_uncomputable`)
        }
        sums[0].add(a, p);
        sums[(f.min(7) + 1) as usize].add(a, p);
    }
    LABELS
        .iter()
        .zip(sums)
        .map(|(&label, sums)| sums.fit(label))
        .collect()
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

    #[test]
    fn validation_without_calibration_customers_is_empty_and_empty_buckets_are_plus_zero() {
        let none = HoldoutRows {
            frequency: &[],
            actual: &[],
            predicted: &[],
        };
        assert!(bucket_fits(&none).is_empty());
        // One customer with frequency 2: every other bucket is empty.
        let one = HoldoutRows {
            frequency: &[2],
            actual: &[1.0],
            predicted: &[0.5],
        };
        let buckets = bucket_fits(&one);
        assert_eq!(buckets.len(), 9);
        for b in buckets.iter().filter(|b| b.customers == 0) {
            assert!(b.actual_orders == 0.0 && b.actual_orders.is_sign_positive());
            assert!(b.predicted_orders == 0.0 && b.predicted_orders.is_sign_positive());
            assert_eq!((b.mae, b.rmse, b.relative_bias), (None, None, None));
        }
    }

    #[test]
    fn customers_without_a_holdout_prediction_are_left_out_of_the_validation() {
        let with_uncomputable = HoldoutRows {
            frequency: &[0, 1, 2, 1],
            actual: &[1.0, 2.0, 3.0, 4.0],
            predicted: &[0.5, f64::NAN, 2.5, f64::INFINITY],
        };
        let without = HoldoutRows {
            frequency: &[0, 2],
            actual: &[1.0, 3.0],
            predicted: &[0.5, 2.5],
        };
        let buckets = bucket_fits(&with_uncomputable);
        assert_eq!(buckets, bucket_fits(&without));
        assert_eq!(buckets[0].customers, 2);
        assert_eq!(buckets[2].customers, 0, "frequency 1: both left out");
        // Nobody computable: no validation, as with nobody at all.
        let none_computable = HoldoutRows {
            frequency: &[1],
            actual: &[2.0],
            predicted: &[f64::NAN],
        };
        assert!(bucket_fits(&none_computable).is_empty());
    }
}
