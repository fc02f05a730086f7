//! The report's input: plain structs that the pipeline fills from the tables
//! and the manifest of one run, plus a few look-ups over them.
//!
//! Nothing here depends on Polars; the caller converts its data frames into
//! these rows. Rates are fractions (0.25 = 25%), money is currency-neutral,
//! and every optional number is `None` where the table holds a null. The
//! renderers also treat NaN and infinities as missing.

use chrono::NaiveDate;

use super::format::month_index;
pub use crate::time::CohortPeriod;

/// Everything one report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportData {
    /// Facts of the run (manifest).
    pub facts: RunFacts,
    /// The unit of cohorts and periods in `cohorts` and `curve`.
    pub cohort_period: CohortPeriod,
    /// `cohort_retention`, one cell per cohort × period.
    pub cohorts: Vec<CohortCell>,
    /// `retention_curve`, one point per period.
    pub curve: Vec<CurvePoint>,
    /// `kpis_monthly`, one row per month.
    pub kpis: Vec<KpiMonth>,
    /// `segments`, one row per RFM segment.
    pub segments: Vec<SegmentRow>,
    /// The CLV stage's outputs; `None` while the stage is disabled or absent.
    pub clv: Option<ClvSection>,
}

/// Facts about the run, from its manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts {
    /// The run's id.
    pub run_id: String,
    /// The pipeline file (or its name).
    pub pipeline: String,
    /// The as-of date of the run.
    pub as_of: NaiveDate,
    /// IANA name of the business time zone.
    pub time_zone: String,
    /// The activity window W in days.
    pub activity_window_days: u32,
    /// Input files: path and size in bytes.
    pub inputs: Vec<(String, u64)>,
    /// Rows read from all inputs.
    pub rows_read: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows rejected (see `reject_reasons`).
    pub rejected: u64,
    /// Rows excluded by filters or dated after as_of.
    pub excluded: u64,
    /// Exact duplicate rows dropped.
    pub duplicates: u64,
    /// Customers in the run.
    pub customers: u64,
    /// Rejected rows by reason.
    pub reject_reasons: Vec<(String, u64)>,
    /// Reconciliation checks: name, expected, actual, passed.
    pub checks: Vec<(String, i64, i64, bool)>,
    /// Stages: name, wall time in seconds, peak resident memory in bytes.
    pub stages: Vec<(String, f64, u64)>,
}

/// One cell of `cohort_retention`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CohortCell {
    /// First day of the cohort's period (month, week or quarter).
    pub cohort_start: NaiveDate,
    /// Periods since the cohort period (0 = the cohort period itself).
    pub period: u32,
    /// Customers in the cohort.
    pub cohort_size: i64,
    /// Cohort customers with an order in this period.
    pub active_customers: i64,
    /// `active_customers / cohort_size`.
    pub retention_rate: Option<f64>,
    /// Share of the cohort with an order in this period or a later one
    /// (up to as_of); `None` when the table predates the column.
    pub unbounded_retention_rate: Option<f64>,
    /// The period's revenue divided by the cohort size.
    pub revenue_per_customer: Option<f64>,
    /// Revenue per customer summed over periods 0 to this one.
    pub cumulative_revenue_per_customer: Option<f64>,
    /// Whether the period has ended on or before as_of.
    pub period_complete: bool,
}

/// One point of `retention_curve`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurvePoint {
    /// Periods since the cohort period.
    pub period: u32,
    /// Cohorts whose period is complete.
    pub cohorts: i64,
    /// Their customers.
    pub customers: i64,
    /// Their customers active in the period.
    pub retained: i64,
    /// `retained / customers`; `None` when no cohort completed the period.
    pub retention_rate: Option<f64>,
    /// Their customers with an order in the period or a later one.
    pub unbounded_retained: i64,
    /// `unbounded_retained / customers`; `None` as `retention_rate`, or
    /// when the table predates the column.
    pub unbounded_retention_rate: Option<f64>,
}

/// One row of `kpis_monthly`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiMonth {
    /// First day of the month.
    pub month: NaiveDate,
    /// Active customers the day before the month (S).
    pub customers_start: i64,
    /// Active customers at the month's end, or at as_of (E).
    pub customers_end: i64,
    /// Customers whose first order is in the month (N).
    pub new_customers: i64,
    /// Active at both the start and the end.
    pub retained: i64,
    /// `S − retained`.
    pub churned: i64,
    /// `E − retained − N`.
    pub reactivated: i64,
    /// Customer retention rate `(E − N) / S`.
    pub crr: Option<f64>,
    /// `churned / S`.
    pub churn_rate: Option<f64>,
    /// Customers with an order in the month.
    pub purchasing_customers: i64,
    /// Orders in the month.
    pub orders: i64,
    /// Net revenue in the month.
    pub revenue: f64,
    /// Average order value.
    pub aov: Option<f64>,
    /// Returning purchasing customers / purchasing customers.
    pub repeat_customer_rate: Option<f64>,
    /// Whether the month ended on or before as_of.
    pub month_complete: bool,
}

/// One row of `segments`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentRow {
    /// Segment name, e.g. "Champions" or "Can't lose them".
    pub rfm_segment: String,
    /// Customers in the segment.
    pub customers: i64,
    /// Their net revenue.
    pub revenue: f64,
    /// The segment's share of all revenue.
    pub share_of_revenue: Option<f64>,
    /// Average CLV; `None` until the CLV stage runs.
    pub avg_clv: Option<f64>,
    /// Average probability of being alive; `None` until the CLV stage runs.
    pub avg_p_alive: Option<f64>,
}

/// Outputs of the CLV stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClvSection {
    /// CLV of every customer that has one (for the distribution).
    pub clv_values: Vec<f64>,
    /// Customers whose CLV could not be computed (null in `customers`).
    pub uncomputable: usize,
    /// Fitted model parameters.
    pub parameters: Vec<ModelParameter>,
    /// The purchase model that scored the customers, when the run says
    /// (runs before schema version 4 had one model and no `chosen`).
    pub chosen_model: Option<String>,
    /// Holdout validation by bucket, of the chosen purchase model.
    pub validation: Vec<ValidationBucket>,
    /// The forecast of all customers per month of the horizon
    /// (`clv_forecast`).
    pub forecast: Vec<ForecastMonth>,
}

/// One month of `clv_forecast`: expected orders and revenue with their
/// intervals (`None` where null, and in runs before schema version 5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForecastMonth {
    pub month: i64,
    pub orders: Option<f64>,
    pub orders_interval: Option<(f64, f64)>,
    pub revenue: Option<f64>,
    pub revenue_interval: Option<(f64, f64)>,
}

/// One fitted parameter of a CLV model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelParameter {
    /// Model name, e.g. "BG/NBD" or "Gamma-Gamma".
    pub model: String,
    /// Parameter name, e.g. "r" or "alpha".
    pub parameter: String,
    /// Estimate.
    pub value: f64,
    /// Standard error, when the fit produced one.
    pub std_error: Option<f64>,
    /// Log-likelihood of the model's fit.
    pub log_likelihood: f64,
    /// How the fit ended: `converged`, `not_converged`, `on_boundary` or
    /// `not_fitted` (runs before schema version 3: `converged` or
    /// `not_converged`).
    pub fit_status: String,
    /// Whether the model scored the customers.
    pub chosen: bool,
}

/// Holdout validation of one bucket of customers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationBucket {
    /// "overall", "0" … "6" or "7+".
    pub bucket: String,
    /// Customers in the bucket.
    pub customers: i64,
    /// Orders they placed in the holdout period.
    pub actual_orders: f64,
    /// Orders the model predicted for the holdout period.
    pub predicted_orders: f64,
    /// Mean absolute error per customer.
    pub mae: Option<f64>,
    /// Root mean squared error per customer.
    pub rmse: Option<f64>,
    /// `(predicted − actual) / actual`.
    pub relative_bias: Option<f64>,
}

impl ReportData {
    /// The KPI rows sorted by month.
    pub(crate) fn kpis_sorted(&self) -> Vec<&KpiMonth> {
        let mut rows: Vec<&KpiMonth> = self.kpis.iter().collect();
        rows.sort_by_key(|k| k.month);
        rows
    }

    /// The last complete month and the calendar month before it, when the
    /// table has that one.
    pub(crate) fn last_complete_month(&self) -> Option<(&KpiMonth, Option<&KpiMonth>)> {
        let last = self
            .kpis
            .iter()
            .filter(|k| k.month_complete)
            .max_by_key(|k| k.month)?;
        let want = month_index(last.month) - 1;
        let before = self.kpis.iter().find(|k| month_index(k.month) == want);
        Some((last, before))
    }

    /// Segments sorted by revenue, largest first (ties by name).
    pub(crate) fn segments_by_revenue(&self) -> Vec<&SegmentRow> {
        let mut rows: Vec<&SegmentRow> = self.segments.iter().collect();
        rows.sort_by(|a, b| {
            let ra = if a.revenue.is_finite() {
                a.revenue
            } else {
                0.0
            };
            let rb = if b.revenue.is_finite() {
                b.revenue
            } else {
                0.0
            };
            rb.total_cmp(&ra)
                .then_with(|| a.rfm_segment.cmp(&b.rfm_segment))
        });
        rows
    }

    /// Checks that passed, and all checks.
    pub(crate) fn checks_passed(&self) -> (usize, usize) {
        let passed = self.facts.checks.iter().filter(|c| c.3).count();
        (passed, self.facts.checks.len())
    }
}
