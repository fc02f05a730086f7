//! Predictive customer lifetime value: a purchase model (BG/NBD, MBG/NBD or
//! Pareto/NBD) for the purchase process and Gamma-Gamma for spend per order
//! (SPEC §4 "Predictive CLV").
//!
//! The module is self-contained math on the per-customer BTYD summary
//! (frequency, recency, tenure T, monetary value; time in days). It knows
//! nothing about Polars or Parquet: the pipeline hands it slices and gets
//! plain structs back.
//!
//! * [`fit_purchase_model`] (and [`fit_bgnbd`]) / [`fit_gamma_gamma`]: maximum likelihood over the
//!   log-parameters, on the summary compressed to unique rows with integer
//!   weights, so ten million customers cost what their few hundred thousand
//!   distinct (frequency, recency, T) patterns cost. The fit never returns NaN
//!   parameters: a fit that does not converge says so in [`FitReport`] and
//!   returns the best point it found.
//! * [`predict()`]: per customer P(alive), expected orders over the horizon and
//!   by month, P(no order), expected order value and discounted CLV; computed
//!   once per unique (frequency, recency, T) row and joined back.
//! * [`CompressedSummary`]: that compression, built once per summary and
//!   shared by the fits ([`fit_purchase_model_on`]) and the predictions
//!   ([`predict_with_intervals`], [`expected_orders`]) over it.
//! * [`SummaryFold`] and [`Scorer`]: the same fits and predictions with the
//!   customers given a batch at a time (a pipeline's partitions), so no
//!   column of every customer is needed: the rows are folded batch by batch
//!   and each batch is scored on its own, to the same numbers.
//!
//! References: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy
//! Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2);
//! Hardie's notes 004 (BG/NBD likelihood), 021 (P(alive)) and 025
//! (Gamma-Gamma); Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value
//! Curves for Customer Base Analysis", JMR 42(4); Schmittlein, Morrison &
//! Colombo (1987), "Counting Your Customers", Management Science 33(1), and
//! Fader & Hardie's note 008 (Pareto/NBD likelihood); Batislam, Denizel &
//! Filiztekin (2007), "Empirical validation and comparison of models for
//! customer base analysis", IJRM 24(3) (MBG/NBD).

mod batches;
mod bgnbd;
mod bgnbd_curvature;
mod compress;
mod exact_sum;
mod gamma_gamma;
mod hyp2f1;
mod log_product;
mod model;
mod optimize;
mod pareto_days;
mod pareto_nbd;
mod pareto_terms;
mod predict;
mod quadrature;
mod row_index;
mod row_spend;
mod rows;
mod uncertainty;

#[cfg(test)]
mod tests;

pub use batches::{
    FoldedSummary, RowMemory, Scorer, Scoring, ScoringBatch, SummaryFold, SummaryFoldPart,
    UniqueRows, UniqueRowsFold, UniqueRowsPart,
};
pub use bgnbd::{bgnbd_log_likelihood, conditional_expected_purchases, probability_alive};
pub use compress::CompressedSummary;
#[cfg(test)]
pub(crate) use exact_sum::online_exact_sum;
pub use exact_sum::ExactSum;
pub use gamma_gamma::{
    conditional_expected_order_value, fit_gamma_gamma, fit_gamma_gamma_from, fit_gamma_gamma_with,
    gamma_gamma_log_likelihood,
};
pub use model::{
    fit_bgnbd, fit_bgnbd_from, fit_purchase_model, fit_purchase_model_on, PurchaseModel,
    PurchaseModelKind,
};
pub use optimize::AtOptimum;
pub use pareto_nbd::{pareto_nbd_log_likelihood, pareto_nbd_probability_alive};
pub use predict::{expected_orders, predict, predict_with_intervals};
pub use rows::CustomerPredictions;
pub use uncertainty::{
    log_scale_interval, ForecastGradients, LogCovariance, PredictionIntervals, Uncertainty,
};

/// The per-customer summary the models are fitted on (SPEC §4 conventions,
/// time in days). All four slices must have the same length; one entry per
/// customer, in the caller's order, which is also the order of
/// [`predict()`]'s output.
///
/// Rows that break the summary's invariants are not rejected (the pipeline
/// validates upstream); they are read defensively so nothing downstream can
/// become NaN: negative T or frequency count as 0, recency is clamped to
/// `[0, T]`, recency is ignored when frequency is 0, and a monetary value that
/// is not finite and positive excludes the customer from the Gamma-Gamma fit.
#[derive(Debug, Clone, Copy)]
pub struct CustomerSummaryInput<'a> {
    /// Repeat purchase days (distinct order days − 1).
    pub frequency: &'a [i64],
    /// Last order day − first order day.
    pub recency_days: &'a [i64],
    /// as_of − first order day (the BTYD "T").
    pub tenure_days: &'a [i64],
    /// Mean amount per repeat order day (0 when frequency is 0).
    pub monetary_value: &'a [f64],
}

impl<'a> CustomerSummaryInput<'a> {
    /// Builds an input after checking that the four columns line up, for
    /// callers that prefer an error to the panic documented on the fit and
    /// predict functions.
    pub fn new(
        frequency: &'a [i64],
        recency_days: &'a [i64],
        tenure_days: &'a [i64],
        monetary_value: &'a [f64],
    ) -> Result<Self, ClvError> {
        let input = Self {
            frequency,
            recency_days,
            tenure_days,
            monetary_value,
        };
        input.check_lengths()?;
        Ok(input)
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    /// True when there are no customers.
    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    fn check_lengths(&self) -> Result<(), ClvError> {
        let n = self.frequency.len();
        let lens = [
            self.recency_days.len(),
            self.tenure_days.len(),
            self.monetary_value.len(),
        ];
        if lens.iter().all(|&l| l == n) {
            Ok(())
        } else {
            Err(ClvError::LengthMismatch {
                frequency: n,
                recency: lens[0],
                tenure: lens[1],
                monetary: lens[2],
            })
        }
    }

    /// Panics with a clear message on mismatched columns: that is a bug in the
    /// caller, and silently truncating would publish wrong numbers.
    fn assert_lengths(&self) {
        if let Err(e) = self.check_lengths() {
            panic!("CustomerSummaryInput: {e}");
        }
    }
}

/// Errors of this module. Only input shape can be wrong; numerical trouble is
/// reported through [`FitReport::converged`] instead, so a nightly run still
/// publishes something explainable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClvError {
    /// The summary columns have different lengths.
    #[error(
        "column lengths differ: frequency {frequency}, recency_days {recency}, \
         tenure_days {tenure}, monetary_value {monetary}"
    )]
    LengthMismatch {
        frequency: usize,
        recency: usize,
        tenure: usize,
        monetary: usize,
    },
    /// A prediction setting is outside its domain.
    #[error("invalid prediction settings: {0}")]
    Settings(&'static str),
}

/// BG/NBD parameters, time in days: purchase rates λ ~ Gamma(shape r, rate α);
/// dropout probability after each purchase p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbdParams {
    /// True when every parameter is finite and positive, the model's domain.
    pub fn is_valid(&self) -> bool {
        [self.r, self.alpha, self.a, self.b]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }
}

/// Pareto/NBD parameters, time in days: purchase rates λ ~ Gamma(shape r,
/// rate α); lifetimes exponential with rate μ ~ Gamma(shape s, rate β).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParetoNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbdParams {
    /// True when every parameter is finite and positive, the model's domain.
    pub fn is_valid(&self) -> bool {
        [self.r, self.alpha, self.s, self.beta]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }
}

/// Gamma-Gamma parameters: order values z ~ Gamma(shape p, rate ν) per
/// customer; ν ~ Gamma(shape q, rate γ) across customers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGammaParams {
    /// True when every parameter is finite and positive, the model's domain.
    pub fn is_valid(&self) -> bool {
        [self.p, self.q, self.gamma]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }

    /// Population mean order value p·γ/(q−1); `None` when q ≤ 1, where the
    /// mean does not exist.
    pub fn population_mean(&self) -> Option<f64> {
        if !self.is_valid() || self.q <= 1.0 {
            return None;
        }
        let mean = self.p * self.gamma / (self.q - 1.0);
        mean.is_finite().then_some(mean)
    }
}

/// What a fit did, for the `clv_model` table and the run log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FitReport {
    /// `"bg_nbd"`, `"pareto_nbd"`, `"mbg_nbd"` or `"gamma_gamma"`.
    pub model: &'static str,
    /// (name, value, standard error). The standard error comes from the
    /// inverse Hessian of the total negative log-likelihood at the returned
    /// point, or at the point of the last Newton step before it when that
    /// step was below 1e-4 in log-parameters (it then differs by about the
    /// step's size, relative); `None` when that Hessian is not positive definite (the
    /// likelihood is flat or the point is not a maximum).
    pub parameters: Vec<(&'static str, f64, Option<f64>)>,
    /// Total log-likelihood at the returned parameters, time in days
    /// (0 when there were no usable customers).
    pub log_likelihood: f64,
    /// Customers the likelihood was summed over (for Gamma-Gamma only those
    /// with frequency > 0 and monetary value > 0).
    pub customers: u64,
    /// Optimizer iterations (quasi-Newton plus final Newton steps).
    pub iterations: u32,
    /// Euclidean norm of the gradient of the mean (per customer) negative
    /// log-likelihood with respect to the log-parameters, at the returned
    /// point.
    pub gradient_norm: f64,
    /// True when the returned point is an interior local maximum located to
    /// about 1e-6 relative precision in every parameter: positive-definite
    /// Hessian, Newton step below 1e-6 in log-parameters, no parameter at the
    /// search box's edge.
    pub converged: bool,
    /// Inverse Hessian of the mean negative log-likelihood in
    /// log-parameters at the returned point (row-major), when positive
    /// definite: the curvature a related refit can start from.
    #[serde(skip)]
    pub inverse_hessian: Option<Vec<Vec<f64>>>,
}

/// Per-customer predictions, in the input's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Probability the customer is still "alive" at as_of (1 when frequency
    /// is 0, as in the BG/NBD model a customer can only drop out right after a
    /// repeat purchase).
    pub p_alive: f64,
    /// Conditional expected orders (purchase days) in the horizon,
    /// `horizon_months · month_days` days after as_of.
    pub expected_orders: f64,
    /// Expected orders in horizon month j (days (j−1)·month_days to
    /// j·month_days after as_of), j = 1..=horizon_months; they sum to
    /// `expected_orders` up to rounding. Shared by the customers of one
    /// unique (frequency, recency, T) row: one copy per row, not per customer
    /// (at tens of millions of customers that is gigabytes).
    pub expected_orders_by_month: std::sync::Arc<[f64]>,
    /// Probability of no order in the horizon:
    /// (1 − P(alive)) + P(alive)·((α+T)/(α+T+t))^(r+x).
    pub p_no_order: f64,
    /// Expected value of a future order (Gamma-Gamma conditional mean, or the
    /// population mean; see [`predict()`]).
    pub expected_avg_order_value: f64,
    /// `Σ_j expected_orders_by_month[j] · expected_avg_order_value / (1+d)^j`.
    pub clv: f64,
}

/// Horizon and discounting for [`predict()`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PredictionSettings {
    /// Number of months predicted (12 in the default pipeline).
    pub horizon_months: u32,
    /// Days in a month: 30.4375 (= 365.25/12) by default; 30 reproduces the
    /// `lifetimes` package's `customer_lifetime_value(freq="D")`.
    pub month_days: f64,
    /// Monthly discount rate d; month j is discounted by (1+d)^j.
    pub discount_rate_monthly: f64,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        Self {
            horizon_months: 12,
            month_days: 30.4375,
            discount_rate_monthly: 0.01,
        }
    }
}

impl PredictionSettings {
    /// Checks the settings' domain: month_days finite and ≥ 0, discount rate
    /// finite and > −1. [`predict()`] does not fail on bad settings (it treats a
    /// bad month length as 0 and a bad discount rate as 0, see there); call
    /// this where they are read from configuration.
    pub fn validate(&self) -> Result<(), ClvError> {
        if !(self.month_days.is_finite() && self.month_days >= 0.0) {
            return Err(ClvError::Settings("month_days must be finite and >= 0"));
        }
        if !(self.discount_rate_monthly.is_finite() && self.discount_rate_monthly > -1.0) {
            return Err(ClvError::Settings(
                "discount_rate_monthly must be finite and > -1",
            ));
        }
        Ok(())
    }
}
