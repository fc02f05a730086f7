//! The report's input: plain structs that the pipeline fills from the tables
//! and the manifest of one run, plus a few look-ups over them.
//!
//! Nothing here depends on Polars; the caller converts its data frames into
//! these rows. Rates are fractions (0.25 = 25%), money is currency-neutral,
//! and every optional number is `None` where the table holds a null. The
//! renderers also treat NaN and infinities as missing.

use std::collections::BTreeMap;

use chrono::NaiveDate;

pub use super::clv_distribution::ClvDistribution;
use super::format::month_index;
use crate::stages::compare::gates::Outcome;
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
    /// The comparison with the previous run; `None` for a run written
    /// before schema version 6, which has none.
    pub since_previous: Option<SincePrevious>,
    /// Loyalty tiers; `None` without `[loyalty]` (no `tier_migration`).
    pub tiers: Option<TierSection>,
    /// The target lists the run published.
    pub targets: TargetSection,
    /// NPS survey results; `None` without `[surveys]` (no `nps_monthly`).
    pub nps: Option<NpsSection>,
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
    /// The run's wall time through publishing, which is less than the
    /// stages' sum when stages ran side by side; `None` for runs that did
    /// not record it (the page then shows the stages' sum).
    pub whole_run_seconds: Option<f64>,
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
    /// The distribution of the customers' CLVs; `None` when no CLV is
    /// finite.
    pub distribution: Option<ClvDistribution>,
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

// The values of `run_comparison` and `restatements` the report looks up,
// declared with those tables.
pub(crate) use crate::tables::schema::compare::{
    item, row_kind::VALUE as RESTATED_VALUE, section as comparison_section, status,
};

/// What the run found when it compared itself with the previous run: the
/// rows of `run_comparison`, `gates` and `restatements`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SincePrevious {
    /// Every row of `run_comparison`.
    pub comparison: Vec<ComparedFigure>,
    /// Every row of `gates`.
    pub gates: Vec<GateRow>,
    /// Every row of `restatements`: the largest values, then the totals.
    pub restatements: Vec<RestatedRow>,
    /// Published with `--accept-changes` although a `fail` gate fired.
    pub accepted_changes: bool,
}

/// One row of `run_comparison`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComparedFigure {
    pub section: String,
    pub item: String,
    pub previous: Option<f64>,
    pub current: Option<f64>,
    pub change: Option<f64>,
    pub relative_change: Option<f64>,
    pub previous_text: Option<String>,
    pub current_text: Option<String>,
    pub status: String,
}

/// One row of `gates`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateRow {
    pub gate: String,
    /// `fail`, `warn` or `off`.
    pub action: String,
    pub threshold: Option<f64>,
    /// `None` when the gate was not evaluated.
    pub measured: Option<f64>,
    /// `passed`, `warned`, `accepted` or `skipped`.
    pub outcome: String,
    pub detail: String,
}

impl GateRow {
    /// Whether the gate fired (warned, or failed and was accepted).
    pub(crate) fn fired(&self) -> bool {
        [Outcome::Warned, Outcome::Accepted, Outcome::Failed]
            .iter()
            .any(|o| o.label() == self.outcome)
    }
}

/// One row of `restatements`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestatedRow {
    /// `value` or `total`.
    pub row_kind: String,
    pub table: String,
    /// The restated row, e.g. `month=2024-03-01`; `None` for a total.
    pub row_key: Option<String>,
    pub column: String,
    pub previous: Option<f64>,
    pub current: Option<f64>,
    pub change: Option<f64>,
    pub relative_change: Option<f64>,
    /// 1 for a value; all restated values of the table and column for a
    /// total.
    pub restated_values: i64,
}

/// The previous run, as `run_comparison` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousRun {
    pub run_id: String,
    pub as_of: Option<String>,
    pub current_as_of: Option<String>,
}

impl SincePrevious {
    fn rows_of<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a ComparedFigure> {
        self.comparison.iter().filter(move |r| r.section == section)
    }

    /// The previous run; `None` for the first run in its output directory.
    pub(crate) fn previous_run(&self) -> Option<PreviousRun> {
        let find = |name: &str| {
            self.rows_of(comparison_section::RUN)
                .find(|r| r.item == name)
        };
        let run = find(item::RUN_ID).filter(|r| r.status != status::NONE)?;
        let as_of = find(item::AS_OF);
        Some(PreviousRun {
            run_id: run.previous_text.clone().unwrap_or_default(),
            as_of: as_of.and_then(|r| r.previous_text.clone()),
            current_as_of: as_of.and_then(|r| r.current_text.clone()),
        })
    }

    /// The `definitions` rows: one `same` or `unknown` row, or one row per
    /// changed setting.
    pub(crate) fn definition_rows(&self) -> Vec<&ComparedFigure> {
        self.rows_of(comparison_section::DEFINITIONS).collect()
    }

    /// The headline figures: rows, totals and the CLV model.
    pub(crate) fn headline(&self) -> Vec<&ComparedFigure> {
        let wanted = [
            comparison_section::ROWS,
            comparison_section::TOTALS,
            comparison_section::CLV_MODEL,
        ];
        self.comparison
            .iter()
            .filter(|r| wanted.contains(&r.section.as_str()))
            .collect()
    }

    /// Every input file of either run.
    pub(crate) fn inputs(&self) -> Vec<&ComparedFigure> {
        self.rows_of(comparison_section::INPUT).collect()
    }

    /// The `restated` rows: per table, its restated values and share of
    /// revenue (or one `not_compared` row).
    pub(crate) fn restated(&self) -> Vec<&ComparedFigure> {
        self.rows_of(comparison_section::RESTATED).collect()
    }

    /// The restated values listed (the largest first).
    pub(crate) fn restated_values(&self) -> Vec<&RestatedRow> {
        self.restatements
            .iter()
            .filter(|r| r.row_kind == RESTATED_VALUE)
            .collect()
    }

    /// All restated values, listed or not (the totals' counts).
    pub(crate) fn restated_count(&self) -> i64 {
        self.restatements
            .iter()
            .filter(|r| r.row_kind != RESTATED_VALUE)
            .map(|r| r.restated_values)
            .sum()
    }

    /// The gates that fired.
    pub(crate) fn fired_gates(&self) -> Vec<&GateRow> {
        self.gates.iter().filter(|g| g.fired()).collect()
    }
}

/// Loyalty tiers: the customers per tier at as_of and the moves between
/// tiers per month.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierSection {
    /// Customers per tier at as_of (`customers.tier`), lowest tier first.
    pub sizes: Vec<(String, i64)>,
    /// The rows of `tier_migration`.
    pub migration: Vec<TierMove>,
}

/// One row of `tier_migration`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierMove {
    pub month: NaiveDate,
    /// The tier at the end of the month before, or `(new)`.
    pub from_tier: String,
    pub to_tier: String,
    /// `new`, `up`, `down` or `same`.
    pub movement: String,
    pub customers: i64,
    pub month_complete: bool,
}

pub(crate) use crate::tables::schema::tiers::movement;

/// One month of `tier_migration`: customers per movement.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TierMonth {
    pub month: NaiveDate,
    pub new: i64,
    pub up: i64,
    pub down: i64,
    pub same: i64,
    pub month_complete: bool,
}

impl TierSection {
    /// Customers per movement and month, by month.
    pub(crate) fn months(&self) -> Vec<TierMonth> {
        let mut months: BTreeMap<NaiveDate, TierMonth> = BTreeMap::new();
        for m in &self.migration {
            let month = months.entry(m.month).or_insert_with(|| TierMonth {
                month: m.month,
                month_complete: m.month_complete,
                ..TierMonth::default()
            });
            let count = match m.movement.as_str() {
                movement::NEW => &mut month.new,
                movement::UP => &mut month.up,
                movement::DOWN => &mut month.down,
                _ => &mut month.same,
            };
            *count = count.saturating_add(m.customers);
        }
        months.into_values().collect()
    }

    /// The moves of the last complete month.
    pub(crate) fn last_complete_moves(&self) -> Option<(NaiveDate, Vec<&TierMove>)> {
        let last = self
            .migration
            .iter()
            .filter(|m| m.month_complete)
            .map(|m| m.month)
            .max()?;
        let moves = self.migration.iter().filter(|m| m.month == last).collect();
        Some((last, moves))
    }
}

/// The target lists and the settings of their rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetSection {
    /// The published lists, in precedence order.
    pub lists: Vec<TargetList>,
    /// `[targets]` as the manifest's definitions record it; `None` where
    /// a run does not say.
    pub high_clv_quantile: Option<f64>,
    pub p_alive_below: Option<f64>,
    /// `None` also when it is not set (the median gap is used).
    pub reengage_after_days: Option<f64>,
    pub vip_clv_quantile: Option<f64>,
}

/// One target list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetList {
    /// The table's name (`win_back`, …).
    pub name: String,
    /// Customers on the list.
    pub customers: usize,
    /// The distinct suggested actions, in the list's order.
    pub actions: Vec<String>,
    /// `reengage_new`'s days since the first order beyond which a one-time
    /// buyer is on the list (`typical_gap_days`); `None` for other lists.
    pub typical_gap_days: Option<f64>,
    /// Whether the list has CLV values (then `top` is by CLV, else by
    /// revenue).
    pub by_clv: bool,
    /// The ten customers of highest value, highest first.
    pub top: Vec<TargetCustomer>,
}

/// One customer of a target list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetCustomer {
    pub customer_id: String,
    pub clv: Option<f64>,
    pub revenue: Option<f64>,
}

/// The NPS tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsSection {
    /// `nps_monthly`, by month.
    pub monthly: Vec<NpsMonth>,
    /// `nps_by_cohort`, by cohort month.
    pub by_cohort: Vec<NpsCohort>,
    /// `nps_by_tier`, lowest tier first; `None` without tiers.
    pub by_tier: Option<Vec<NpsTier>>,
    /// `nps_retention`.
    pub retention: Vec<NpsRetention>,
}

/// Responses by category and the NPS they give.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsCounts {
    pub responses: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    /// 100 · (promoters − detractors) / responses; `None` without responses.
    pub nps: Option<f64>,
}

/// One month of `nps_monthly`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsMonth {
    pub month: NaiveDate,
    pub counts: NpsCounts,
    pub month_complete: bool,
}

/// One cohort of `nps_by_cohort`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsCohort {
    pub cohort_month: NaiveDate,
    pub cohort_size: i64,
    pub respondents: i64,
    pub counts: NpsCounts,
}

/// One tier of `nps_by_tier`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsTier {
    pub tier: String,
    pub respondents: i64,
    pub counts: NpsCounts,
}

/// One row of `nps_retention`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsRetention {
    /// `promoter`, `passive` or `detractor`.
    pub category: String,
    pub months_after: u32,
    pub respondents: i64,
    pub ordered: i64,
    /// `ordered / respondents`; `None` without respondents.
    pub retention_rate: Option<f64>,
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
