//! The CLV over customers given a batch at a time, in customer order (a
//! pipeline's customer partitions), so that no column of every customer is
//! ever joined: the fits' unique rows are folded batch by batch
//! ([`SummaryFold`]), and once the models are fitted each batch is scored
//! on its own ([`Scorer`]), from every row's figures held or, short of
//! memory, from the batch's own rows made again ([`RowMemory`]). Folded in
//! order, the batches give the rows, weights and sums of folding the
//! customers at once, so the fits, the scores and the forecast's weights
//! are the numbers the whole-summary functions
//! ([`super::predict_with_intervals`]) give.

use std::borrow::Cow;

use rayon::prelude::*;

use super::compress::{
    rows_of_customers, RfmFolder, RfmPart, RfmRows, SpendFolder, SpendPart, SpendRows,
};
use super::gamma_gamma::fit_spend_rows;
use super::model::fit_purchase_model_rows;
use super::predict::{expected_orders_of_rows, OrderValue};
use super::row_index::{KeyedIndex, RowIndex, RowSlots};
use super::row_spend::RowSpend;
use super::rows::{
    finite_or, predict_rows, predict_rows_of_groups, AliveGroups, CustomerPredictions, GroupLookup,
    Horizon, RowTable,
};
use super::uncertainty::{
    batch_rows_with_spread, customer_intervals, forecast_gradients, rows_with_spread,
    scoring_and_moved, ForecastGradients, PredictionIntervals, RowSpread, Uncertainty,
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
    /// An empty fold whose index suits `memory`
    /// ([`RowMemory::row_slots`]): with room, each row's key beside its
    /// number, so a lookup reads no row; short of memory, numbers alone.
    pub fn new(memory: RowMemory) -> UniqueRowsFold {
        UniqueRowsFold {
            folder: RfmFolder::with_slots(memory.row_slots()),
        }
    }

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
        let columns = (frequency, recency_days, tenure_days);
        rows_of_customers(columns, |key| self.index.row_of(key, &self.rows))
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
    /// An empty fold whose index suits `memory` ([`UniqueRowsFold::new`]).
    pub fn new(memory: RowMemory) -> SummaryFold {
        SummaryFold {
            rfm: UniqueRowsFold::new(memory),
            ..SummaryFold::default()
        }
    }

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
        let UniqueRows { rows, index } = self.rfm.finish();
        FoldedSummary {
            rows,
            index: Some(index),
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
    rows: RfmRows,
    /// The index that finds a customer's row, unless dropped
    /// ([`FoldedSummary::drop_row_index`]).
    index: Option<RowIndex>,
    spend: SpendRows,
    row_spend: RowSpend,
}

impl FoldedSummary {
    /// Customers folded.
    pub fn customers(&self) -> f64 {
        self.rows.total_w
    }

    /// Unique (frequency, monetary value) rows of Gamma-Gamma.
    pub fn spend_rows(&self) -> usize {
        self.spend.len()
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
        fit_purchase_model_rows(kind, &self.rows, penalizer, None, at_optimum)
    }

    /// Frees the index that finds a customer's row (about 6 bytes a
    /// row), which only a scorer that holds every row's figures reads:
    /// scored [`RowMemory::PerBatch`] by a model whose rows allow it.
    pub fn drop_row_index(&mut self) {
        self.index = None;
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
        (settings, memory): (&PredictionSettings, RowMemory),
    ) -> Scoring {
        let order_value = OrderValue::with_repeat_mean(gg, self.repeat_mean());
        let FoldedSummary {
            rows,
            index,
            row_spend,
            ..
        } = self;
        let by_batch = memory.by_batch(model.kind());
        let index = match by_batch {
            true => None,
            false => Some(index.expect("the fold's row index, dropped only for scoring by batch")),
        };
        let groups = AliveGroups::of(&rows);
        tracing::debug!(
            rows = rows.len(),
            groups = groups.len(),
            by_batch,
            "clv scoring"
        );
        Scoring {
            model,
            order_value,
            horizon: Horizon::of(settings),
            groups,
            rows,
            index,
            row_spend,
        }
    }
}

/// What a [`Scorer`] holds of the unique rows while it scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowMemory {
    /// Every row's figures and the fold's index of the rows (about 70
    /// bytes a row): each customer's row's figures are read, not made.
    HoldRows,
    /// Nothing per unique row, where the purchase model allows it (the
    /// BG/NBD family): each batch's own rows are folded and their figures
    /// made from their groups'. Scoring takes more time (at 100 M orders
    /// 18 s instead of 13 s), and its memory is the groups' and a batch's.
    PerBatch,
}

impl RowMemory {
    /// Whether `kind`'s scorer makes each batch's rows: short of memory,
    /// unless its rows' figures are made beside each other (Pareto/NBD).
    pub fn by_batch(self, kind: PurchaseModelKind) -> bool {
        self == RowMemory::PerBatch && !kind.alive_depends_on_other_rows()
    }

    /// What the folds' indexes hold of each row. With room, each row's
    /// key beside its number, so a lookup reads no row: at 100 M orders
    /// (7 M rows; medians of five alternating runs) the holdout validation
    /// took 3.9 s instead of 5.3 s and the scorer 4.9 s instead of 5.6 s,
    /// for about 70 MB more a fold. Short of memory, the numbers alone.
    pub(crate) fn row_slots(self) -> RowSlots {
        match self {
            RowMemory::HoldRows => RowSlots::Keyed,
            RowMemory::PerBatch => RowSlots::Numbers,
        }
    }
}

/// A purchase model and the order values, ready to make a [`Scorer`]
/// from the fold's rows, which it holds until the scorer is made.
pub struct Scoring {
    rows: RfmRows,
    /// Unless the scorer makes each batch's rows.
    index: Option<RowIndex>,
    row_spend: RowSpend,
    model: PurchaseModel,
    order_value: OrderValue,
    horizon: Horizon,
    groups: AliveGroups,
}

/// A batch's customers as scoring sees them: each one's unique row, order
/// value and the value's log-gradient in the Gamma-Gamma parameters; and,
/// when the scorer makes each batch's rows, those rows' figures (and
/// spreads, with intervals).
pub struct ScoringBatch {
    own: Option<(RowTable, Vec<RowSpread>)>,
    rows: Vec<u32>,
    values: Vec<f64>,
    value_gradients: Vec<[f64; 3]>,
}

impl Scoring {
    /// The scorer without intervals. The rows are freed when it returns.
    pub fn without_intervals(self) -> Scorer {
        let Scoring {
            rows,
            index,
            row_spend,
            model,
            order_value,
            horizon,
            groups,
        } = self;
        // Read by the forecast's intervals alone: freed before the rows'
        // figures are made.
        drop(row_spend);
        let figures = match index {
            Some(index) => RowFigures::Held {
                table: predict_rows(&model, &rows, groups, &horizon),
                spread: Vec::new(),
                index: KeyedIndex::of(index, &rows, rows.len()),
            },
            None => RowFigures::OfBatch(GroupLookup::of(&groups, &[model], &horizon)),
        };
        Scorer {
            model,
            order_value,
            horizon,
            figures,
            spread: None,
        }
    }

    /// The scorer with intervals from `uncertainty`, and the forecast's
    /// gradients over every row.
    pub fn with_intervals(self, uncertainty: &Uncertainty) -> Scorer {
        let (model, order_value, horizon) =
            (self.model, self.order_value.clone(), self.horizon.clone());
        let (figures, forecast) = match self.index {
            Some(_) => self.held_with_spread(uncertainty),
            None => self.of_batch_with_spread(uncertainty),
        };
        Scorer {
            model,
            order_value,
            horizon,
            figures,
            spread: Some(Spread {
                forecast,
                uncertainty: *uncertainty,
            }),
        }
    }

    /// Every row's figures and spread, held, and the forecast's gradients.
    fn held_with_spread(self, uncertainty: &Uncertainty) -> (RowFigures, ForecastGradients) {
        let (rows, row_spend, order_value) = (&self.rows, &self.row_spend, &self.order_value);
        let weights_of = |range| order_value.row_weights_of(rows, row_spend, range);
        let (table, spread, forecast) = rows_with_spread(
            &self.model,
            rows,
            self.groups,
            &weights_of,
            &self.horizon,
            &uncertainty.purchase,
        );
        let index = self.index.expect("the held rows' index");
        let index = KeyedIndex::of(index, &self.rows, self.rows.len());
        (
            RowFigures::Held {
                index,
                table,
                spread,
            },
            forecast,
        )
    }

    /// The groups' figures under the five models of the spreads, and the
    /// forecast's gradients over every row, whose revenue weights are made
    /// from the rows' spends a window of rows at a time.
    fn of_batch_with_spread(self, uncertainty: &Uncertainty) -> (RowFigures, ForecastGradients) {
        let models = scoring_and_moved(&self.model);
        let groups = GroupLookup::of(&self.groups, &models, &self.horizon);
        let (rows, row_spend, order_value) = (&self.rows, &self.row_spend, &self.order_value);
        let weights_of = |range| order_value.row_weights_of(rows, row_spend, range);
        let forecast = forecast_gradients(
            &models,
            rows,
            (&self.groups, groups.figures()),
            &weights_of,
            (&self.horizon, &uncertainty.purchase),
        );
        (RowFigures::OfBatch(groups), forecast)
    }
}

/// The forecast's gradients and what the customers' spreads come from.
#[derive(serde::Serialize, serde::Deserialize)]
struct Spread {
    forecast: ForecastGradients,
    uncertainty: Uncertainty,
}

/// Where a scorer finds the figures of a customer's row.
#[derive(serde::Serialize, serde::Deserialize)]
enum RowFigures {
    /// The BG/NBD family's: a row's figures depend on nothing but its
    /// values and its (frequency, T) group's figures, so each batch's
    /// customers are folded into the batch's own unique rows, and their
    /// figures are made from the groups', computed once over every row.
    /// Nothing is held per unique row ([`RowMemory::PerBatch`]).
    OfBatch(GroupLookup),
    /// Every row's figures, made once over every row, and the fold's
    /// index that finds a customer's row: [`RowMemory::HoldRows`], and
    /// always Pareto/NBD's, whose row's P(alive) comes from per-day tables
    /// that the rows of its frequency share (`pareto_days`), so a row's
    /// figures depend on the rows made beside it.
    Held {
        index: KeyedIndex,
        table: RowTable,
        spread: Vec<RowSpread>,
    },
}

/// Scores batches of customers, each on its own, from every row's
/// figures or from the rows' groups' ([`RowFigures`]): the numbers of
/// scoring every customer at once. It serializes with everything it
/// reads, so that a cluster's executors score their own partitions with
/// the client's figures.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Scorer {
    model: PurchaseModel,
    order_value: OrderValue,
    horizon: Horizon,
    figures: RowFigures,
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
            own,
            rows,
            values,
            value_gradients,
        } = batch;
        assert!(
            self.spread.is_none() || value_gradients.len() == rows.len(),
            "Scorer::predict takes batches of the same scorer's Scorer::batch"
        );
        let (table, spread): (Cow<RowTable>, Cow<[RowSpread]>) = match (own, &self.figures) {
            (Some((table, spread)), _) => (Cow::Owned(table), Cow::Owned(spread)),
            (None, RowFigures::Held { table, spread, .. }) => {
                (Cow::Borrowed(table), Cow::Borrowed(spread))
            }
            (None, RowFigures::OfBatch(_)) => {
                panic!("Scorer::predict takes batches of the same scorer's Scorer::batch")
            }
        };
        let predictions = CustomerPredictions::new(table, rows.into(), values);
        let intervals = self.spread.as_ref().map(|s| {
            let gradient = |i: usize| value_gradients[i];
            customer_intervals(&predictions, &spread, &gradient, &s.uncertainty)
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
        self.horizon.months
    }

    /// The batch's unique rows with their figures, each customer's row
    /// among them and their order values (its customers in parallel), for
    /// [`Scorer::predict`], with the values' gradients when the scorer has
    /// intervals.
    pub fn batch(&self, input: &CustomerSummaryInput) -> ScoringBatch {
        input.assert_lengths();
        let (x, m) = (input.frequency, input.monetary_value);
        let ((own, rows), (values, value_gradients)) = rayon::join(
            || match &self.figures {
                RowFigures::OfBatch(groups) => {
                    let (own, rows) = self.own_rows(groups, input);
                    (Some(own), rows)
                }
                RowFigures::Held { index, .. } => {
                    let (r, t) = (input.recency_days, input.tenure_days);
                    (None, rows_of_customers((x, r, t), |key| index.row_of(key)))
                }
            },
            || self.order_values(x, m),
        );
        ScoringBatch {
            own,
            rows,
            values,
            value_gradients,
        }
    }

    /// The batch's own unique rows' figures (and spreads, with
    /// intervals) from their groups', and each customer's row among them.
    fn own_rows(
        &self,
        groups_figures: &GroupLookup,
        input: &CustomerSummaryInput,
    ) -> ((RowTable, Vec<RowSpread>), Vec<u32>) {
        let mut fold = RfmFolder::default();
        let customer_rows = fold.add(input.frequency, input.recency_days, input.tenure_days);
        let (rows, _) = fold.finish();
        let groups = AliveGroups::of(&rows);
        let figures = groups_figures.figures_of(&groups);
        let (table, spread) = match &self.spread {
            None => {
                let table =
                    predict_rows_of_groups(&self.model, &rows, (groups, figures), &self.horizon);
                (table, Vec::new())
            }
            Some(s) => batch_rows_with_spread(
                &scoring_and_moved(&self.model),
                &rows,
                (groups, figures),
                &self.horizon,
                &s.uncertainty.purchase,
            ),
        };
        ((table, spread), customer_rows)
    }

    /// Each customer's order value and, with intervals, its log-gradient.
    fn order_values(&self, x: &[i64], m: &[f64]) -> (Vec<f64>, Vec<[f64; 3]>) {
        let value = &self.order_value;
        let values = (0..x.len())
            .into_par_iter()
            .map(|i| value.of(x[i], m[i]))
            .collect();
        let gradients = if self.spread.is_some() {
            (0..x.len())
                .into_par_iter()
                .map(|i| value.log_gradient(x[i], m[i]))
                .collect()
        } else {
            Vec::new()
        };
        (values, gradients)
    }
}
