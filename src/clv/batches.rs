//! The CLV over customers given a batch at a time, in customer order (a
//! pipeline's customer partitions), so that no column of every customer is
//! ever joined: the fits' unique rows are folded batch by batch
//! ([`SummaryFold`]), and once the models are fitted each batch is scored
//! on its own ([`Scorer`]). Folded in order, the batches give the rows,
//! weights and sums of folding the customers at once, so the fits, the
//! scores and the forecast's weights are the numbers the whole-summary
//! functions ([`super::predict_with_intervals`]) give.

use std::borrow::Cow;

use rayon::prelude::*;

use super::compress::{RfmFolder, RfmPart, RfmRows, RowIndex, SpendFolder, SpendPart, SpendRows};
use super::gamma_gamma::fit_spend_rows;
use super::model::fit_purchase_model_rows;
use super::predict::{expected_orders_of_rows, OrderValue};
use super::row_spend::RowSpend;
use super::rows::{finite_or, predict_rows, AliveGroups, CustomerPredictions, Horizon, RowTable};
use super::uncertainty::{
    customer_intervals, rows_with_spread, ForecastGradients, PredictionIntervals, RowSpread,
    Uncertainty,
};
use super::{
    AtOptimum, CustomerSummaryInput, FitReport, GammaGammaParams, PredictionSettings,
    PurchaseModel, PurchaseModelKind,
};

/// Unique (frequency, recency, T) rows folded a batch of customers at a
/// time, in customer order, without any customer's row: the rows and
/// weights of compressing the joined columns ([`super::CompressedSummary`]),
/// and customers given again find their rows ([`UniqueRows::rows_of`]).
/// Reading the customers twice costs time where a column of every
/// customer's row would cost memory (4 bytes a customer, and whatever
/// else is kept beside it per customer).
#[derive(Default)]
pub struct UniqueRowsFold {
    folder: RfmFolder,
}

impl UniqueRowsFold {
    /// Adds the next customers, given as their frequency, recency and T
    /// columns in days; returns each one's row.
    ///
    /// # Panics
    /// If the columns have different lengths.
    pub fn add(
        &mut self,
        frequency: &[i64],
        recency_days: &[i64],
        tenure_days: &[i64],
    ) -> Vec<u32> {
        self.folder.add(frequency, recency_days, tenure_days)
    }

    /// What this fold holds, to be merged into another
    /// ([`UniqueRowsFold::add_part`]): a customer partition's rows folded
    /// where its customers are (a cluster's executor).
    pub fn into_part(self) -> UniqueRowsPart {
        UniqueRowsPart(self.folder.part())
    }

    /// Adds another fold's rows, of the customers after these ones: parts
    /// folded apart and added in customer order give the rows, order and
    /// weights of folding their customers here. Returns each of the
    /// part's rows' row here.
    pub fn add_part(&mut self, part: &UniqueRowsPart) -> Vec<u32> {
        self.folder.add_part(&part.0)
    }

    pub fn finish(self) -> UniqueRows {
        let (rows, index) = self.folder.finish();
        UniqueRows { rows, index }
    }
}

/// The unique rows of some customers and each row's customer count, as
/// [`UniqueRowsFold::into_part`] hands them on.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UniqueRowsPart(RfmPart);

/// The unique rows of every customer folded, and the index that finds a
/// customer's row again.
#[derive(Clone)]
pub struct UniqueRows {
    rows: RfmRows,
    index: RowIndex,
}

impl UniqueRows {
    /// Customers folded.
    pub fn customers(&self) -> f64 {
        self.rows.total_w
    }

    /// Unique rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no customer was folded.
    pub fn is_empty(&self) -> bool {
        self.rows.len() == 0
    }

    /// Each customer's row, found by the fold's index (which panics on a
    /// customer not folded).
    pub fn rows_of(
        &self,
        frequency: &[i64],
        recency_days: &[i64],
        tenure_days: &[i64],
    ) -> Vec<u32> {
        self.index.rows_of(frequency, recency_days, tenure_days)
    }

    /// [`super::fit_purchase_model_on`] over the rows.
    pub fn fit_purchase_model(
        &self,
        kind: PurchaseModelKind,
        penalizer: f64,
        earlier: Option<&FitReport>,
        at_optimum: AtOptimum,
    ) -> (PurchaseModel, FitReport) {
        fit_purchase_model_rows(kind, &self.rows, penalizer, earlier, at_optimum)
    }

    /// [`super::expected_orders`] of each row (not of each customer): a
    /// customer's is their row's.
    pub fn expected_orders(&self, model: impl Into<PurchaseModel>, days: f64) -> Vec<f64> {
        expected_orders_of_rows(&model.into(), &self.rows, days)
    }
}

/// Customers folded a batch at a time into what the fits need: the unique
/// (frequency, recency, T) rows and the Gamma-Gamma (frequency, monetary)
/// rows, each in the order of its first customer; and each unique row's
/// spends, which the forecast's intervals weigh its rows by.
#[derive(Default)]
pub struct SummaryFold {
    rfm: UniqueRowsFold,
    spend: SpendFolder,
    row_spend: RowSpend,
}

impl SummaryFold {
    /// Adds a batch of customers; batches must come in customer order.
    ///
    /// # Panics
    /// If the input's columns have different lengths.
    pub fn add(&mut self, input: &CustomerSummaryInput) {
        input.assert_lengths();
        let (rfm, spend, row_spend) = (&mut self.rfm, &mut self.spend, &mut self.row_spend);
        rayon::join(
            || {
                let rows = rfm.add(input.frequency, input.recency_days, input.tenure_days);
                row_spend.add(&rows, input.frequency, input.monetary_value);
            },
            || spend.add(input.frequency, input.monetary_value),
        );
    }

    /// What this fold holds, to be merged into another
    /// ([`SummaryFold::add_part`]).
    pub fn into_part(self) -> SummaryFoldPart {
        SummaryFoldPart {
            spend: self.spend.part(),
            rfm: self.rfm.into_part(),
            row_spend: self.row_spend,
        }
    }

    /// Adds another fold's rows and sums, of the customers after these
    /// ones: the same rows, weights and exact sums as folding those
    /// customers here.
    pub fn add_part(&mut self, part: &SummaryFoldPart) {
        let (rfm, spend, row_spend) = (&mut self.rfm, &mut self.spend, &mut self.row_spend);
        rayon::join(
            || {
                let rows = rfm.add_part(&part.rfm);
                row_spend.merge(&part.row_spend, &rows);
            },
            || spend.add_part(&part.spend),
        );
    }

    /// What every customer added folds into.
    pub fn finish(self) -> FoldedSummary {
        FoldedSummary {
            rows: self.rfm.finish(),
            spend: self.spend.finish(),
            row_spend: self.row_spend.finish(),
        }
    }
}

/// What a [`SummaryFold`] of some customers holds, without its indexes:
/// a customer partition's share, folded where the partition is.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SummaryFoldPart {
    rfm: UniqueRowsPart,
    spend: SpendPart,
    /// By the part's own row numbers.
    row_spend: RowSpend,
}

/// Every customer's unique rows, without any customer's: the fits run on
/// them, and [`FoldedSummary::into_scoring`] scores batches of customers.
#[derive(Clone)]
pub struct FoldedSummary {
    rows: UniqueRows,
    spend: SpendRows,
    row_spend: RowSpend,
}

impl FoldedSummary {
    /// Customers folded.
    pub fn customers(&self) -> f64 {
        self.rows.customers()
    }

    /// Unique (frequency, recency, T) rows.
    pub fn unique_rows(&self) -> usize {
        self.rows.len()
    }

    /// [`super::fit_purchase_model_on`] over the folded rows.
    pub fn fit_purchase_model(
        &self,
        kind: PurchaseModelKind,
        penalizer: f64,
        at_optimum: AtOptimum,
    ) -> (PurchaseModel, FitReport) {
        self.rows
            .fit_purchase_model(kind, penalizer, None, at_optimum)
    }

    /// [`super::fit_gamma_gamma_with`] over the folded rows.
    pub fn fit_gamma_gamma(&self, penalizer: f64) -> (GammaGammaParams, FitReport) {
        fit_spend_rows(&self.spend, penalizer, None)
    }

    /// The mean monetary value of the repeat buyers (0 without any), as
    /// the order values fall back to.
    fn repeat_mean(&self) -> f64 {
        finite_or(self.spend.mean_m, 0.0)
    }

    /// Frees Gamma-Gamma's rows (about one per repeat buyer) once it is
    /// fitted: scoring reads only their mean.
    pub fn drop_spend_rows(&mut self) {
        self.spend = SpendRows {
            mean_m: self.spend.mean_m,
            ..SpendRows::default()
        };
    }

    /// Scoring by `model`, with Gamma-Gamma's parameters `gg` when they
    /// give the order values (as [`super::predict()`] takes them). It takes
    /// the fold, so that what the customers' scoring does not read (the
    /// rows, their customers' spends) is freed once the rows' figures are
    /// made, before a customer is scored.
    pub fn into_scoring(
        self,
        model: PurchaseModel,
        gg: Option<&GammaGammaParams>,
        settings: &PredictionSettings,
    ) -> Scoring {
        let order_value = OrderValue::with_repeat_mean(gg, self.repeat_mean());
        let FoldedSummary {
            rows: UniqueRows { rows, index },
            row_spend,
            ..
        } = self;
        Scoring {
            model,
            order_value,
            horizon: Horizon::of(settings),
            groups: AliveGroups::of(&rows),
            rows,
            index,
            row_spend,
        }
    }
}

/// A purchase model and the order values, ready to make a [`Scorer`]
/// from the fold's rows, which it holds.
pub struct Scoring {
    rows: RfmRows,
    index: RowIndex,
    row_spend: RowSpend,
    model: PurchaseModel,
    order_value: OrderValue,
    horizon: Horizon,
    groups: AliveGroups,
}

/// A batch's customers as scoring sees them: each one's unique row, order
/// value and the value's log-gradient in the Gamma-Gamma parameters.
pub struct ScoringBatch {
    rows: Vec<u32>,
    values: Vec<f64>,
    value_gradients: Vec<[f64; 3]>,
}

impl Scoring {
    /// The scorer without intervals. Only the rows' figures and the index
    /// are kept: the rows are freed when it returns.
    pub fn without_intervals(self) -> Scorer {
        drop(self.row_spend);
        let rows = predict_rows(&self.model, &self.rows, self.groups, &self.horizon);
        Scorer {
            index: self.index,
            order_value: self.order_value,
            rows,
            spread: None,
        }
    }

    /// The scorer with intervals from `uncertainty`.
    pub fn with_intervals(self, uncertainty: &Uncertainty) -> Scorer {
        let weights = self.order_value.row_weights(&self.rows, &self.row_spend);
        // The spends are in the weights now (32 bytes a row either way):
        // freed before the rows' figures are made beside them.
        drop(self.row_spend);
        let (rows, spread, forecast) = rows_with_spread(
            &self.model,
            &self.rows,
            self.groups,
            &weights,
            &self.horizon,
            &uncertainty.purchase,
        );
        Scorer {
            index: self.index,
            order_value: self.order_value,
            rows,
            spread: Some(Spread {
                rows: spread,
                forecast,
                uncertainty: *uncertainty,
            }),
        }
    }
}

/// The rows' spreads, the forecast's gradients and what they come from.
#[derive(serde::Serialize, serde::Deserialize)]
struct Spread {
    rows: Vec<RowSpread>,
    forecast: ForecastGradients,
    uncertainty: Uncertainty,
}

/// Scores batches of customers, each on its own: every row's figures are
/// computed once, and a batch's customers read their rows'. It serializes
/// with everything it reads, the fold's index of the rows included, so
/// that a cluster's executors score their own partitions with the
/// client's figures.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Scorer {
    /// Finds a customer's row: the fold's own.
    index: RowIndex,
    order_value: OrderValue,
    rows: RowTable,
    spread: Option<Spread>,
}

impl Scorer {
    /// The batch's predictions, and their intervals when the scorer has
    /// them (the batch's customers', with an empty forecast: the
    /// forecast's gradients are [`Scorer::forecast_gradients`]).
    pub fn predict(
        &self,
        batch: ScoringBatch,
    ) -> (CustomerPredictions<'_>, Option<PredictionIntervals>) {
        let ScoringBatch {
            rows,
            values,
            value_gradients,
        } = batch;
        assert!(
            self.spread.is_none() || value_gradients.len() == rows.len(),
            "Scorer::predict takes batches of the same scorer's Scorer::batch"
        );
        let predictions = CustomerPredictions::new(Cow::Borrowed(&self.rows), rows.into(), values);
        let intervals = self.spread.as_ref().map(|spread| {
            let gradient = |i: usize| value_gradients[i];
            customer_intervals(&predictions, &spread.rows, &gradient, &spread.uncertainty)
        });
        (predictions, intervals)
    }

    /// The gradients of the forecast's monthly totals over every
    /// customer, with intervals.
    pub fn forecast_gradients(&self) -> Option<&ForecastGradients> {
        self.spread.as_ref().map(|spread| &spread.forecast)
    }

    /// The horizon's months.
    pub fn months(&self) -> usize {
        self.rows.months()
    }

    /// The batch's rows and order values (its customers in parallel), for
    /// [`Scorer::predict`], with the values' gradients when the scorer has
    /// intervals.
    pub fn batch(&self, input: &CustomerSummaryInput) -> ScoringBatch {
        input.assert_lengths();
        let value = &self.order_value;
        let (x, m) = (input.frequency, input.monetary_value);
        let gradients = self.spread.is_some();
        ScoringBatch {
            rows: self.index.rows_of(x, input.recency_days, input.tenure_days),
            values: (0..input.len())
                .into_par_iter()
                .map(|i| value.of(x[i], m[i]))
                .collect(),
            value_gradients: if gradients {
                (0..input.len())
                    .into_par_iter()
                    .map(|i| value.log_gradient(x[i], m[i]))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}
