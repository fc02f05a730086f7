//! The building blocks of the predictions per unique (frequency, recency,
//! T) row, shared by the point predictions (`predict.rs`) and their
//! intervals (`uncertainty.rs`): the horizon, the (frequency, T)
//! groups with a live customer's expected purchases, one row's figures
//! from its P(alive) and its group's, and the customers joined to their
//! rows' figures (`CustomerPredictions`).

use std::borrow::Cow;

use rayon::prelude::*;

use super::compress::{IntMap, RfmRows};
use super::{Prediction, PredictionSettings, PurchaseModel};

/// Row-level results (independent of spend). A row's expected orders in
/// each month of the horizon are not kept: they are made again from its
/// P(alive) and its group's expectations when a customer's are read
/// ([`RowTable::by_month`]). Kept, they were a shared vector of every row
/// (about 130 bytes a row with a 12-month horizon), and at 100 M orders
/// the 7 M unique rows' were most of the CLV stage's peak.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct RowPrediction {
    pub p_alive: f64,
    pub expected_orders: f64,
    pub p_no_order: f64,
    /// `Σ_j by_month[j]/(1+d)^j`: CLV per unit of order value.
    pub discounted_orders: f64,
}

/// Every unique row's predictions, and what a row's months are made from:
/// its (frequency, T) group and the groups' expected purchases if alive
/// under the scoring model.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct RowTable {
    rows: Vec<RowPrediction>,
    groups: AliveGroups,
    alive: AliveExpectations,
}

impl RowTable {
    /// `alive` must hold the scoring model's expectations alone.
    pub(super) fn new(
        rows: Vec<RowPrediction>,
        groups: AliveGroups,
        alive: AliveExpectations,
    ) -> RowTable {
        debug_assert_eq!(alive.models, 1);
        debug_assert_eq!(rows.len(), groups.group_of_row.len());
        RowTable {
            rows,
            groups,
            alive,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The horizon's months.
    pub(super) fn months(&self) -> usize {
        self.alive.months
    }

    pub(super) fn row(&self, row: usize) -> &RowPrediction {
        &self.rows[row]
    }

    /// Row `row`'s expected orders in each month of the horizon into
    /// `months` (the horizon's length), as [`predict_row`] made them: NaN
    /// every month where its expected orders cannot be computed.
    pub(super) fn by_month(&self, row: usize, months: &mut [f64]) {
        let alive = self.alive.of(self.groups.of_row(row), 0);
        let (_, total) = expected_by_month(self.rows[row].p_alive, alive, months);
        if total.is_none() {
            months.fill(f64::NAN);
        }
    }
}

/// Replaces a non-finite value by `fallback`, for quantities whose fallback
/// is exact (a probability clamped to its range, a discount factor that
/// underflows). Expected orders never go through here: where they cannot be
/// computed they stay NaN and the pipeline publishes null.
pub(super) fn finite_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        fallback
    }
}

/// The horizon: its months, their length, and each month's discount factor.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Horizon {
    pub months: usize,
    pub month_days: f64,
    /// 1/(1+d)^j for month j = 1 … months.
    pub discount: Vec<f64>,
}

impl Horizon {
    /// Settings outside their domain read as an empty month and no
    /// discounting (see [`predict()`]).
    pub(super) fn of(settings: &PredictionSettings) -> Horizon {
        let month_days = if settings.month_days.is_finite() && settings.month_days >= 0.0 {
            settings.month_days
        } else {
            0.0
        };
        let d = settings.discount_rate_monthly;
        let d = if d.is_finite() && d > -1.0 { d } else { 0.0 };
        let months = settings.horizon_months as usize;
        Horizon {
            months,
            month_days,
            discount: (1..=months)
                .map(|j| finite_or((1.0 + d).powf(-(j as f64)), 0.0))
                .collect(),
        }
    }

    pub(super) fn days(&self) -> f64 {
        self.months as f64 * self.month_days
    }
}

/// The unique (frequency, T) pairs of the rows: a live customer's
/// expected purchases depend on nothing else.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct AliveGroups {
    group_of_row: Vec<u32>,
    x: Vec<f64>,
    t: Vec<f64>,
}

impl AliveGroups {
    pub(super) fn of(rows: &RfmRows) -> AliveGroups {
        let mut index: IntMap<(u64, u64), u32> = IntMap::default();
        let mut groups = AliveGroups {
            group_of_row: Vec::with_capacity(rows.len()),
            x: Vec::new(),
            t: Vec::new(),
        };
        for (x, t) in (0..rows.len()).map(|i| (rows.x(i), rows.t(i))) {
            let next = groups.x.len() as u32;
            let group = *index.entry((x.to_bits(), t.to_bits())).or_insert_with(|| {
                groups.x.push(x);
                groups.t.push(t);
                next
            });
            groups.group_of_row.push(group);
        }
        groups
    }

    /// E[purchases in (T, T + j·month_days] | alive at T] for j = 1 …
    /// months, for every group and each of `models` (NaN where it cannot
    /// be computed). A group's values for all the models lie side by side,
    /// so a row reads one block of memory for all of them: the rows visit
    /// the groups in no order, and at tens of thousands of groups separate
    /// tables per model would cost a cache miss per model and row.
    pub(super) fn expectations(
        &self,
        models: &[PurchaseModel],
        horizon: &Horizon,
    ) -> AliveExpectations {
        let months = horizon.months;
        let block = months * models.len();
        let mut cumulative = vec![0.0; self.x.len() * block];
        if block > 0 {
            cumulative
                .par_chunks_mut(block)
                .enumerate()
                .for_each(|(g, out)| {
                    for (model, out) in models.iter().zip(out.chunks_mut(months)) {
                        for (j, value) in out.iter_mut().enumerate() {
                            let days = (j + 1) as f64 * horizon.month_days;
                            *value = model.expected_purchases_if_alive(self.x[g], self.t[g], days);
                        }
                    }
                });
        }
        AliveExpectations {
            months,
            models: models.len(),
            cumulative,
        }
    }

    /// P(no purchase in the horizon | alive at T) of every group, which
    /// depends on nothing else of a row (for Pareto/NBD it is a
    /// quadrature: once per group, not per row).
    pub(super) fn no_purchase(&self, model: &PurchaseModel, horizon: &Horizon) -> Vec<f64> {
        (0..self.x.len())
            .into_par_iter()
            .map(|g| model.p_no_purchase_if_alive(self.x[g], self.t[g], horizon.days()))
            .collect()
    }

    /// The number of groups.
    pub(super) fn len(&self) -> usize {
        self.x.len()
    }

    /// The group of row `row`.
    pub(super) fn of_row(&self, row: usize) -> usize {
        self.group_of_row[row] as usize
    }
}

/// [`AliveGroups::expectations`]' values.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct AliveExpectations {
    months: usize,
    models: usize,
    cumulative: Vec<f64>,
}

impl AliveExpectations {
    /// Group `group`'s cumulative expectations under model `model` (an
    /// index into the models they were computed for).
    pub(super) fn of(&self, group: usize, model: usize) -> &[f64] {
        let start = (group * self.models + model) * self.months;
        &self.cumulative[start..start + self.months]
    }

    /// Model `model`'s expectations alone.
    pub(super) fn only(&self, model: usize) -> AliveExpectations {
        let cumulative = (0..self.cumulative.len() / (self.months * self.models).max(1))
            .flat_map(|group| self.of(group, model).iter().copied())
            .collect();
        AliveExpectations {
            months: self.months,
            models: 1,
            cumulative,
        }
    }
}

/// What a row's predictions read of its (frequency, T) group: the
/// group's expectations under one or more models ([`AliveExpectations`])
/// and, under the scoring model, P(no purchase | alive).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct GroupFigures {
    pub alive: AliveExpectations,
    pub none_if_alive: Vec<f64>,
}

impl GroupFigures {
    /// The figures of `groups` under `models`, the scoring model first.
    pub(super) fn of(
        groups: &AliveGroups,
        models: &[PurchaseModel],
        horizon: &Horizon,
    ) -> GroupFigures {
        GroupFigures {
            alive: groups.expectations(models, horizon),
            none_if_alive: groups.no_purchase(&models[0], horizon),
        }
    }
}

/// Every group's [`GroupFigures`], found by the group's (frequency, T):
/// made once over every unique row, they give the figures of the groups
/// of any batch's rows ([`GroupLookup::figures_of`]), so a batch's rows
/// are scored without a table of every row. A group's figures depend on
/// nothing but its (frequency, T), so they are the same numbers either way.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct GroupLookup {
    group_of: IntMap<(u64, u64), u32>,
    figures: GroupFigures,
}

impl GroupLookup {
    /// The figures of `groups` under `models` (the scoring model first),
    /// found by their (frequency, T).
    pub(super) fn of(
        groups: &AliveGroups,
        models: &[PurchaseModel],
        horizon: &Horizon,
    ) -> GroupLookup {
        let group_of = (0..groups.x.len())
            .map(|g| ((groups.x[g].to_bits(), groups.t[g].to_bits()), g as u32))
            .collect();
        GroupLookup {
            group_of,
            figures: GroupFigures::of(groups, models, horizon),
        }
    }

    /// The figures of the groups this was made of, in their order.
    pub(super) fn figures(&self) -> &GroupFigures {
        &self.figures
    }

    /// The figures of `groups`, each of which must be one of the groups
    /// this was made of, in their order.
    ///
    /// # Panics
    /// If a group is not one of those.
    pub(super) fn figures_of(&self, groups: &AliveGroups) -> GroupFigures {
        let AliveExpectations { months, models, .. } = self.figures.alive;
        let found: Vec<usize> = (0..groups.x.len())
            .map(|g| {
                let key = (groups.x[g].to_bits(), groups.t[g].to_bits());
                *self.group_of.get(&key).expect("a group of the folded rows") as usize
            })
            .collect();
        let block = months * models;
        let cumulative = found
            .iter()
            .flat_map(|&g| &self.figures.alive.cumulative[g * block..(g + 1) * block])
            .copied()
            .collect();
        GroupFigures {
            alive: AliveExpectations {
                months,
                models,
                cumulative,
            },
            none_if_alive: found
                .iter()
                .map(|&g| self.figures.none_if_alive[g])
                .collect(),
        }
    }
}

/// P(alive), and the conditional expected orders in each month of the
/// horizon (into `months`) with their total over the horizon; `None` when
/// the expected orders cannot be computed. `p_alive` is the row's
/// ([`PurchaseModel::alive_probabilities`]), `alive` its cumulative
/// expected purchases if alive ([`AliveExpectations`]).
pub(super) fn expected_by_month(
    p_alive: f64,
    alive: &[f64],
    months: &mut [f64],
) -> (f64, Option<f64>) {
    let p_alive = finite_or(p_alive, 1.0).clamp(0.0, 1.0);
    let mut previous = 0.0;
    for (month, &if_alive) in months.iter_mut().zip(alive) {
        let cumulative = p_alive * if_alive;
        if cumulative.is_nan() {
            return (p_alive, None);
        }
        // Cumulative expectations are non-decreasing in exact arithmetic;
        // clamp rounding noise so no month is negative.
        let cumulative = cumulative.max(previous);
        *month = cumulative - previous;
        previous = cumulative;
    }
    (p_alive, Some(previous))
}

/// What a row's predictions are made of: its P(alive), and its group's
/// cumulative expected purchases if alive ([`AliveExpectations`]) and P(no
/// purchase | alive) ([`AliveGroups::no_purchase`]).
pub(super) struct RowInputs<'a> {
    pub p_alive: f64,
    pub alive: &'a [f64],
    pub none_if_alive: f64,
}

/// One row's predictions, and its expected orders in each month of the
/// horizon into `months` (the caller's, so rows do not allocate them one
/// by one; NaN every month where the expected orders cannot be computed).
pub(super) fn predict_row(
    inputs: RowInputs,
    horizon: &Horizon,
    months: &mut [f64],
) -> RowPrediction {
    let (p_alive, total) = expected_by_month(inputs.p_alive, inputs.alive, months);
    let p_no_order = p_no_order(p_alive, inputs.none_if_alive);
    let Some(expected_orders) = total else {
        // Expected orders that cannot be computed (see
        // `hyp2f1::expected_purchases_if_alive`) and the CLV built on them
        // are NaN, published as null; P(alive) and P(no order) have closed
        // forms and stand.
        months.fill(f64::NAN);
        return RowPrediction {
            p_alive,
            expected_orders: f64::NAN,
            p_no_order,
            discounted_orders: f64::NAN,
        };
    };
    RowPrediction {
        p_alive,
        expected_orders,
        discounted_orders: discounted(months, horizon),
        p_no_order,
    }
}

/// Σ_j months[j]/(1+d)^j, summed in month order.
fn discounted(months: &[f64], horizon: &Horizon) -> f64 {
    months
        .iter()
        .zip(&horizon.discount)
        .fold(0.0, |total, (month, factor)| total + month * factor)
}

/// P(no purchase in the horizon): dropped out, or alive and none
/// (`PurchaseModel::p_no_purchase_if_alive`, `p_none_if_alive`).
fn p_no_order(p_alive: f64, p_none_if_alive: f64) -> f64 {
    finite_or((1.0 - p_alive) + p_alive * p_none_if_alive, 1.0).clamp(0.0, 1.0)
}

/// Every row's predictions under `model`, in row order (`groups` are the
/// rows').
pub(super) fn predict_rows(
    model: &PurchaseModel,
    rows: &RfmRows,
    groups: AliveGroups,
    horizon: &Horizon,
) -> RowTable {
    let figures = GroupFigures::of(&groups, std::slice::from_ref(model), horizon);
    predict_rows_of_groups(model, rows, (groups, figures), horizon)
}

/// [`predict_rows`] with the groups' figures made already (the scoring
/// model's alone).
pub(super) fn predict_rows_of_groups(
    model: &PurchaseModel,
    rows: &RfmRows,
    (groups, figures): (AliveGroups, GroupFigures),
    horizon: &Horizon,
) -> RowTable {
    let GroupFigures {
        alive,
        none_if_alive,
    } = figures;
    let p_alive = model.rows_alive(rows);
    let predictions = (0..rows.len())
        .into_par_iter()
        .map_init(
            || vec![0.0; horizon.months],
            |months, i| {
                let group = groups.of_row(i);
                let inputs = RowInputs {
                    p_alive: p_alive.of(i),
                    alive: alive.of(group, 0),
                    none_if_alive: none_if_alive[group],
                };
                predict_row(inputs, horizon, months)
            },
        )
        .collect();
    RowTable::new(predictions, groups, alive)
}

/// Every customer's [`Prediction`], held as each unique row's figures and
/// each customer's row and order value: the same figures without a
/// [`Prediction`] per customer, which at millions of customers cost a
/// shared month vector's reference count per customer, touched by every
/// thread, and 0.05–0.1 s at 2 M customers to drop on one thread.
///
/// The rows' figures and the customers' rows are borrowed or owned: a
/// batch of customers scored on its own borrows the figures of every row
/// and owns its customers' rows.
pub struct CustomerPredictions<'s> {
    rows: Cow<'s, RowTable>,
    customer_row: Cow<'s, [u32]>,
    order_value: Vec<f64>,
}

impl<'s> CustomerPredictions<'s> {
    pub(super) fn new(
        rows: Cow<'s, RowTable>,
        customer_row: Cow<'s, [u32]>,
        order_value: Vec<f64>,
    ) -> CustomerPredictions<'s> {
        debug_assert_eq!(customer_row.len(), order_value.len());
        CustomerPredictions {
            rows,
            customer_row,
            order_value,
        }
    }

    /// Customers.
    pub fn len(&self) -> usize {
        self.customer_row.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customer_row.is_empty()
    }

    /// The customer's unique row.
    pub(super) fn row_index(&self, customer: usize) -> usize {
        self.customer_row[customer] as usize
    }

    fn row(&self, customer: usize) -> &RowPrediction {
        self.rows.row(self.row_index(customer))
    }

    pub fn p_alive(&self, customer: usize) -> f64 {
        self.row(customer).p_alive
    }

    /// NaN where they cannot be computed.
    pub fn expected_orders(&self, customer: usize) -> f64 {
        self.row(customer).expected_orders
    }

    /// The customer's expected orders in each month of the horizon, into
    /// `months` (the horizon's length); NaN every month where they cannot
    /// be computed.
    pub fn expected_orders_by_month(&self, customer: usize, months: &mut [f64]) {
        self.rows.by_month(self.row_index(customer), months);
    }

    pub fn p_no_order(&self, customer: usize) -> f64 {
        self.row(customer).p_no_order
    }

    pub fn expected_avg_order_value(&self, customer: usize) -> f64 {
        self.order_value[customer]
    }

    /// The revenue CLV: the order value × the row's discounted orders;
    /// NaN exactly when the expected orders are (the order value is
    /// finite).
    pub fn clv(&self, customer: usize) -> f64 {
        self.order_value[customer] * self.row(customer).discounted_orders
    }

    /// Every customer's order value set to `value` (the caller's fallback
    /// when there is neither a spend model nor a repeat buyer).
    pub fn set_order_value(&mut self, value: f64) {
        self.order_value.fill(value);
    }

    /// One [`Prediction`] per customer, in customer order (a row's months
    /// shared by its customers).
    pub fn to_vec(&self) -> Vec<Prediction> {
        let by_month: Vec<std::sync::Arc<[f64]>> = (0..self.rows.len())
            .into_par_iter()
            .map(|row| {
                let mut months = vec![0.0; self.rows.months()];
                self.rows.by_month(row, &mut months);
                months.into()
            })
            .collect();
        (0..self.len())
            .into_par_iter()
            .map(|i| {
                let row = self.row(i);
                Prediction {
                    p_alive: row.p_alive,
                    expected_orders: row.expected_orders,
                    expected_orders_by_month: by_month[self.row_index(i)].clone(),
                    p_no_order: row.p_no_order,
                    expected_avg_order_value: self.order_value[i],
                    clv: self.clv(i),
                }
            })
            .collect()
    }
}

#[cfg(test)]
impl<'s> CustomerPredictions<'s> {
    /// Customers of rows given by (P(alive), cumulative expected orders if
    /// alive at the end of each month, P(no order)), undiscounted, each
    /// row a group of its own, for tests of what is made of them.
    pub fn of_rows_for_tests(
        rows: &[(f64, Vec<f64>, f64)],
        customer_row: &'s [u32],
        order_value: Vec<f64>,
    ) -> CustomerPredictions<'s> {
        let months = rows.first().map_or(0, |row| row.1.len());
        let mut scratch = vec![0.0; months];
        let predictions = rows
            .iter()
            .map(|(p_alive, alive, p_no_order)| {
                let (p_alive, total) = expected_by_month(*p_alive, alive, &mut scratch);
                let total = total.unwrap_or(f64::NAN);
                RowPrediction {
                    p_alive,
                    expected_orders: total,
                    discounted_orders: total,
                    p_no_order: *p_no_order,
                }
            })
            .collect();
        let groups = AliveGroups {
            group_of_row: (0..rows.len() as u32).collect(),
            x: vec![0.0; rows.len()],
            t: vec![0.0; rows.len()],
        };
        let alive = AliveExpectations {
            months,
            models: 1,
            cumulative: rows.iter().flat_map(|row| row.1.iter().copied()).collect(),
        };
        let table = RowTable::new(predictions, groups, alive);
        CustomerPredictions::new(Cow::Owned(table), customer_row.into(), order_value)
    }
}
