//! The pipeline file (`pipelines/*.toml`): what data to read and how to
//! interpret it. How a run executes (as_of override, output override,
//! threads) comes from the command line instead.
//!
//! Every struct denies unknown keys, so a typo is an error naming the key and
//! its line rather than a silently ignored setting. Relative paths are
//! resolved against the directory of the pipeline file, so a nightly job
//! behaves the same whatever directory cron starts it in.

use crate::config_overrides::{apply, expand_paths, Override};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clv::PurchaseModelKind;
use crate::error::{quote, Error, Result};
use crate::expr::AmountExpr;
use crate::tables::schema::sliced_table_columns;
use crate::time::CohortPeriod;

/// One pipeline, as written in its TOML file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// A short name for the pipeline; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    pub input: InputConfig,
    pub columns: ColumnMapping,
    /// Rows matching any filter are excluded (counted, never rejected).
    #[serde(default)]
    pub filters: Vec<FilterConfig>,
    #[serde(default)]
    pub business: BusinessConfig,
    #[serde(default)]
    pub rejects: RejectsConfig,
    #[serde(default)]
    pub clv: ClvConfig,
    /// Loyalty tiers by trailing-12-month spend; without this section there
    /// are no tiers (null tier columns, no `tier_migration` table).
    #[serde(default)]
    pub loyalty: Option<LoyaltyConfig>,
    #[serde(default)]
    pub targets: TargetsConfig,
    /// Optional NPS survey responses: with it the run also publishes
    /// `nps_monthly`, `nps_by_cohort` and `nps_retention`.
    #[serde(default)]
    pub surveys: Option<SurveysConfig>,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub resources: ResourcesConfig,
    /// Thresholds on what may change since the previous run (README
    /// "Running unattended"); every gate has a default.
    #[serde(default)]
    pub gates: GatesConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// A file path or a glob (`data/orders_*.csv`); matches are read in
    /// lexicographic order of their paths.
    pub path: String,
    #[serde(default)]
    pub format: InputFormat,
    #[serde(default)]
    pub csv: CsvOptions,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum InputFormat {
    /// Decide per file from its extension (`.csv`, `.csv.gz`, `.parquet`).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "csv")]
    Csv,
    #[serde(rename = "csv.gz")]
    CsvGz,
    #[serde(rename = "parquet")]
    Parquet,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field separator, a single character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// `12,50` instead of `12.50` in amount columns.
    #[serde(default)]
    pub decimal_comma: bool,
    /// A chrono `strftime` format for `order_ts` (e.g. `%m/%d/%Y %H:%M`).
    /// Without it ISO 8601 is expected: a date, a date-time, optionally with
    /// `Z` or an offset.
    #[serde(default)]
    pub timestamp_format: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            has_header: true,
            decimal_comma: false,
            timestamp_format: None,
        }
    }
}

/// Which of the user's columns hold the canonical order columns.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    pub customer_id: String,
    pub order_ts: String,
    /// A column name, or an arithmetic expression of columns such as
    /// `Quantity * Price` (operators `+ - * /`, parentheses, numbers; quote
    /// names with spaces in backticks: `` `Unit Price` * Qty ``).
    pub amount: String,
    /// Without it every row is an order of its own.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Columns to slice `cohort_retention`, `retention_curve` and
    /// `kpis_monthly` by (e.g. `["channel", "country"]`): each becomes a
    /// text column of those tables, named as written here. A customer's
    /// value is the one on their first order; the tables hold the
    /// all-customers slice (`(all)` in every dimension column) and, for each
    /// dimension on its own, one slice per value (grouping sets, not the
    /// cross product). Empty (the default): the tables have no dimension
    /// columns.
    #[serde(default)]
    pub dimensions: Vec<String>,
}

/// The survey input: a second file set read like `[input]`, one row per
/// response.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurveysConfig {
    /// A file path or a glob, relative to the pipeline file; matches are
    /// read in lexicographic order of their paths.
    pub path: String,
    #[serde(default)]
    pub format: InputFormat,
    /// CSV options as in `[input.csv]`; `timestamp_format` applies to
    /// `response_ts`.
    #[serde(default)]
    pub csv: CsvOptions,
    #[serde(default)]
    pub columns: SurveyColumns,
}

/// Which of the survey file's columns hold the canonical survey columns.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyColumns {
    /// The same customer ids as in the order input.
    #[serde(default = "default_customer_id")]
    pub customer_id: String,
    /// When the response was given: a timestamp or a date.
    #[serde(default = "default_response_ts")]
    pub response_ts: String,
    /// The 0–10 answer to "how likely are you to recommend us?".
    #[serde(default = "default_score")]
    pub score: String,
}

impl Default for SurveyColumns {
    fn default() -> Self {
        SurveyColumns {
            customer_id: default_customer_id(),
            response_ts: default_response_ts(),
            score: default_score(),
        }
    }
}

fn default_customer_id() -> String {
    "customer_id".to_string()
}
fn default_response_ts() -> String {
    "response_ts".to_string()
}
fn default_score() -> String {
    "score".to_string()
}

/// Excludes rows whose `column` matches. Exactly one condition is given.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    pub column: String,
    #[serde(default)]
    pub starts_with: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    /// `true` excludes rows where the column is empty or missing.
    #[serde(default)]
    pub is_blank: Option<bool>,
}

/// A validated filter condition.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterCondition {
    StartsWith(String),
    Equals(String),
    OneOf(Vec<String>),
    IsBlank,
}

impl FilterConfig {
    pub fn condition(&self) -> std::result::Result<FilterCondition, String> {
        let mut conditions = Vec::new();
        if let Some(prefix) = &self.starts_with {
            conditions.push(FilterCondition::StartsWith(prefix.clone()));
        }
        if let Some(value) = &self.equals {
            conditions.push(FilterCondition::Equals(value.clone()));
        }
        if let Some(values) = &self.one_of {
            conditions.push(FilterCondition::OneOf(values.clone()));
        }
        if self.is_blank == Some(true) {
            conditions.push(FilterCondition::IsBlank);
        }
        match conditions.len() {
            1 => Ok(conditions.remove(0)),
            0 => Err(format!(
                "filter on `{}` has no condition: expected one of `starts_with`, `equals`, `one_of`, `is_blank = true`",
                quote(&self.column)
            )),
            _ => Err(format!(
                "filter on `{}` has {} conditions: expected exactly one (write two [[filters]] to exclude both)",
                quote(&self.column),
                conditions.len()
            )),
        }
    }

    /// Whether a raw value matches (and so the row is excluded).
    pub fn matches(condition: &FilterCondition, value: Option<&str>) -> bool {
        match condition {
            FilterCondition::StartsWith(prefix) => value.is_some_and(|v| v.starts_with(prefix)),
            FilterCondition::Equals(expected) => value == Some(expected.as_str()),
            FilterCondition::OneOf(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
            FilterCondition::IsBlank => value.is_none_or(|v| v.trim().is_empty()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessConfig {
    /// IANA time zone in which order dates and months are counted.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// A customer is active while their last order is fewer than this many
    /// days ago (SPEC §4). At least 31.
    #[serde(default = "default_window")]
    pub activity_window_days: u32,
    /// Fixed as_of date (inclusive); `--as-of` overrides it. Without either,
    /// as_of is the latest order date in the input. A TOML date
    /// (`as_of = 2024-05-31`) or a string.
    #[serde(default, deserialize_with = "deserialize_date", skip_serializing)]
    pub as_of: Option<NaiveDate>,
    /// The unit of the cohort grid and the retention curve: `month`
    /// (default), `week` (ISO weeks, Monday to Sunday) or `quarter`
    /// (calendar quarters), in local dates of `time_zone`. It names the
    /// cohort column of `cohort_retention` (`cohort_month`, `cohort_week`,
    /// `cohort_quarter`); `kpis_monthly` and `customers.cohort_month` stay
    /// monthly whatever it is.
    #[serde(default)]
    pub cohort_period: CohortPeriod,
}

impl Default for BusinessConfig {
    fn default() -> Self {
        BusinessConfig {
            time_zone: default_time_zone(),
            activity_window_days: default_window(),
            as_of: None,
            cohort_period: CohortPeriod::Month,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RejectsConfig {
    /// The run fails when more than this share of the rows read is
    /// rejected; below it, rejects are published with a warning.
    #[serde(default = "default_max_reject_ratio")]
    pub max_reject_ratio: f64,
}

impl Default for RejectsConfig {
    fn default() -> Self {
        RejectsConfig {
            max_reject_ratio: default_max_reject_ratio(),
        }
    }
}

/// Settings of the predictive CLV stage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClvConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_horizon")]
    pub horizon_months: u32,
    #[serde(default = "default_discount")]
    pub discount_rate_monthly: f64,
    #[serde(default = "default_holdout")]
    pub holdout_days: u32,
    /// The purchase model that scores customers.
    #[serde(default)]
    pub model: ClvModelChoice,
    /// Share of revenue that is profit: `clv` and `clv_simple` are revenue
    /// × margin (1 = revenue).
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// L2 penalty on the models' log-parameters, added to the mean negative
    /// log-likelihood (0 = plain maximum likelihood).
    #[serde(default)]
    pub penalizer: f64,
    /// Central coverage of the `_low` / `_high` columns (expected orders,
    /// CLV, the forecast) from the fitted parameters' sampling error.
    #[serde(default = "default_interval")]
    pub interval: f64,
}

impl Default for ClvConfig {
    fn default() -> Self {
        ClvConfig {
            enabled: true,
            horizon_months: default_horizon(),
            discount_rate_monthly: default_discount(),
            holdout_days: default_holdout(),
            model: ClvModelChoice::default(),
            margin: default_margin(),
            penalizer: 0.0,
            interval: default_interval(),
        }
    }
}

/// `[clv] model`: one purchase model, or `auto` (every model is fitted and
/// the one with the lowest holdout error scores the customers). The
/// default is `auto`: no one model fits every shop, and the holdout says
/// which fits this one (README "Predictive CLV"); a single model is
/// cheaper, BG/NBD the cheapest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClvModelChoice {
    #[default]
    Auto,
    BgNbd,
    ParetoNbd,
    MbgNbd,
}

impl ClvModelChoice {
    /// The models to fit: all of them for `auto`.
    pub fn candidates(self) -> Vec<PurchaseModelKind> {
        match self {
            ClvModelChoice::Auto => PurchaseModelKind::ALL.to_vec(),
            ClvModelChoice::BgNbd => vec![PurchaseModelKind::BgNbd],
            ClvModelChoice::ParetoNbd => vec![PurchaseModelKind::ParetoNbd],
            ClvModelChoice::MbgNbd => vec![PurchaseModelKind::MbgNbd],
        }
    }
}

/// Loyalty tiers: a customer's tier is the highest tier whose `min_spend`
/// is at most their net revenue over the trailing twelve months.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyConfig {
    /// At least two tiers, lowest first, thresholds strictly increasing; the
    /// first tier's `min_spend` must be 0 (it is the floor and also takes
    /// customers whose trailing spend is negative).
    pub tiers: Vec<TierConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    /// Trailing-12-month net spend (currency units) from which the tier
    /// applies; rounded to cents.
    pub min_spend: f64,
}

/// The name of the `from_tier` of customers acquired during the month in
/// `tier_migration`; no tier may be called this.
pub const NEW_TIER: &str = "(new)";

/// The most loyalty tiers: `tier_migration` has a row per month × from ×
/// to tier (1,200 months × 21 × 20 at most).
pub const MAX_TIERS: usize = 20;

/// The highest `min_spend` (currency units): its cents, and any sum of
/// them, stay far inside 64-bit integers.
pub const MAX_MIN_SPEND: f64 = 1e15;

/// The most `[columns] dimensions`: each keeps a running cohort grid of its
/// own while the slices are computed.
pub const MAX_DIMENSIONS: usize = 10;

/// The longest day count a key may hold (`activity_window_days`,
/// `holdout_days`, `reengage_after_days`): 100 years, longer than any
/// accepted history, and far from overflowing date arithmetic.
pub const MAX_DAYS: u32 = 36_525;

/// The first and last date `as_of` may be: the accepted order dates
/// (`MIN_DAY..=MAX_DAY` in `stages::validate`).
pub fn as_of_range() -> std::ops::RangeInclusive<NaiveDate> {
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
    date(1900, 1, 1)..=date(2200, 12, 31)
}

/// The problem with an as_of date (`what` names where it was given), if
/// it is out of range.
pub fn as_of_problem(what: &str, as_of: NaiveDate) -> Option<String> {
    let range = as_of_range();
    (!range.contains(&as_of)).then(|| {
        format!(
            "{what} {as_of}: expected a date from {} to {} (the range of accepted order dates)",
            range.start(),
            range.end()
        )
    })
}

impl LoyaltyConfig {
    /// Every problem with the tiers, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tiers.len() < 2 {
            problems.push(format!(
                "[loyalty] tiers: {} tier(s) given: expected at least two (the lowest with `min_spend = 0`)",
                self.tiers.len()
            ));
        }
        if self.tiers.len() > MAX_TIERS {
            problems.push(format!(
                "[loyalty] tiers: {} tiers given: expected at most {MAX_TIERS}",
                self.tiers.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, tier) in self.tiers.iter().enumerate() {
            let name = tier.name.trim();
            if name.is_empty() {
                problems.push(format!(
                    "[loyalty] tiers[{i}].name is empty: expected a name"
                ));
            } else if name == NEW_TIER {
                problems.push(format!(
                    "[loyalty] tiers[{i}].name `{NEW_TIER}` is reserved (tier_migration uses it for customers acquired in the month)"
                ));
            } else if !seen.insert(name) {
                problems.push(format!(
                    "[loyalty] tiers[{i}].name `{}` is used twice: expected unique tier names",
                    quote(name)
                ));
            }
            if !(0.0..=MAX_MIN_SPEND).contains(&tier.min_spend) {
                problems.push(format!(
                    "[loyalty] tiers[{i}].min_spend = {}: expected an amount from 0 to {MAX_MIN_SPEND:e}",
                    tier.min_spend
                ));
            }
            if i == 0 && tier.min_spend != 0.0 {
                problems.push(format!(
                    "[loyalty] tiers[0].min_spend = {}: expected 0 (the lowest tier is the floor, so every customer has a tier)",
                    tier.min_spend
                ));
            }
            if i > 0 && self.tier_cents(i) <= self.tier_cents(i - 1) {
                problems.push(format!(
                    "[loyalty] tiers[{i}].min_spend = {} (`{}`) is not above tiers[{}].min_spend = {}: expected strictly increasing thresholds, lowest tier first",
                    tier.min_spend,
                    quote(name),
                    i - 1,
                    self.tiers[i - 1].min_spend
                ));
            }
        }
        problems
    }

    /// Threshold of tier `i` in cents, rounded half away from zero like
    /// every amount: through the decimal the TOML number was written as,
    /// so `2.675` is 268 cents (binary rounding of 267.49999… would give
    /// 267). A value the load check refuses (not finite, beyond 1e15)
    /// saturates, so comparing thresholds while checking never panics.
    pub fn tier_cents(&self, i: usize) -> i64 {
        use rust_decimal::prelude::ToPrimitive;
        use rust_decimal::{Decimal, RoundingStrategy};
        let min_spend = self.tiers[i].min_spend;
        crate::expr::decimal_from_f64(min_spend)
            .ok()
            .and_then(|d| d.checked_mul(Decimal::ONE_HUNDRED))
            .map(|c| c.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
            .and_then(|c| c.to_i64())
            .unwrap_or(if min_spend > 0.0 { i64::MAX } else { i64::MIN })
    }
}

/// Thresholds of the target lists (`win_back`, `at_risk_high_value`,
/// `reengage_new`, `vip`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsConfig {
    /// `at_risk_high_value`: a customer's CLV is high when at least this
    /// share of all customers has a strictly lower CLV (0.8: the top 20%).
    #[serde(default = "default_high_clv_quantile")]
    pub high_clv_quantile: f64,
    /// `at_risk_high_value`: probability alive strictly below this.
    #[serde(default = "default_p_alive_below")]
    pub p_alive_below: f64,
    /// `reengage_new`: one-time buyers whose first order is more than this
    /// many days ago. Default: the median gap between first and second
    /// order over customers with at least two orders.
    #[serde(default)]
    pub reengage_after_days: Option<u32>,
    /// `vip`: top CLV when at least this share of all customers has a
    /// strictly lower CLV (0.9: the top decile).
    #[serde(default = "default_vip_clv_quantile")]
    pub vip_clv_quantile: f64,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        TargetsConfig {
            high_clv_quantile: default_high_clv_quantile(),
            p_alive_below: default_p_alive_below(),
            reengage_after_days: None,
            vip_clv_quantile: default_vip_clv_quantile(),
        }
    }
}

impl TargetsConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("high_clv_quantile", self.high_clv_quantile),
            ("vip_clv_quantile", self.vip_clv_quantile),
        ] {
            if !(0.0..1.0).contains(&value) {
                problems.push(format!(
                    "[targets] {key} = {value}: expected a number from 0 to below 1 (0.8 is the top 20%)"
                ));
            }
        }
        if let Some(days) = self.reengage_after_days.filter(|&d| d > MAX_DAYS) {
            problems.push(format!(
                "[targets] reengage_after_days = {days}: expected 0 to {MAX_DAYS} days"
            ));
        }
        if !(0.0..=1.0).contains(&self.p_alive_below) {
            problems.push(format!(
                "[targets] p_alive_below = {}: expected a probability from 0 to 1",
                self.p_alive_below
            ));
        }
        problems
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Output root: runs go to `DIR/runs/RUN_ID/`, `DIR/current` points at
    /// the latest published one.
    #[serde(default = "default_out_dir")]
    pub dir: PathBuf,
    /// Complete runs to keep (at least 2); older ones are removed.
    #[serde(default = "default_keep_runs")]
    pub keep_runs: u32,
    /// Tables whose every run is also kept under
    /// `DIR/history/<table>/as_of=YYYY-MM-DD/` (README "History").
    #[serde(default)]
    pub history: Vec<String>,
    /// History partitions more than this many days before the run's as_of
    /// are removed; default: kept.
    #[serde(default)]
    pub history_keep_days: Option<u32>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: default_out_dir(),
            keep_runs: default_keep_runs(),
            history: Vec::new(),
            history_keep_days: None,
        }
    }
}

/// `[resources]`: how much of the machine a run may use.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesConfig {
    /// The run's memory budget (`1GiB`, `512MiB`, `2GB`); `--memory-limit`
    /// overrides it. Default: half the machine's memory.
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Whether spill files are compressed; the tables are the same
    /// either way.
    #[serde(default)]
    pub spill_compression: SpillCompression,
}

/// `[resources] spill_compression`: zstd costs CPU time (about a second
/// a core per 240 MB spilled) and halves the disk the spill takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpillCompression {
    /// Compressed when the input's lines would take more than half the
    /// free space where the spill directory is.
    #[default]
    Auto,
    Zstd,
    None,
}

/// What a gate does when its measured value is above its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateAction {
    /// Publish nothing and exit with the gate's exit code.
    Fail,
    /// Publish, and say so in the log, the `gates` table and the report.
    Warn,
    /// Not evaluated.
    Off,
}

/// One gate: `{ threshold = 0.01, action = "fail" }`; a key left out
/// keeps the gate's default.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GateSetting {
    pub threshold: f64,
    pub action: GateAction,
}

/// A partly written gate, completed from its default.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GateSettingInput {
    threshold: Option<f64>,
    action: Option<GateAction>,
}

macro_rules! gates_config {
    ($($(#[$doc:meta])* $name:ident: $threshold:expr, $action:ident;)*) => {
        /// `[gates]`: what the run compares with the previous one and
        /// refuses to publish (README "Running unattended"). Each gate
        /// fires when its measured value is above its threshold.
        #[derive(Debug, Clone, Serialize)]
        pub struct GatesConfig {
            $($(#[$doc])* pub $name: GateSetting,)*
        }

        impl Default for GatesConfig {
            fn default() -> Self {
                GatesConfig {
                    $($name: GateSetting { threshold: $threshold, action: GateAction::$action },)*
                }
            }
        }

        impl<'de> Deserialize<'de> for GatesConfig {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Input { $(#[serde(default)] $name: GateSettingInput,)* }
                let input = Input::deserialize(d)?;
                let defaults = GatesConfig::default();
                Ok(GatesConfig {
                    $($name: GateSetting {
                        threshold: input.$name.threshold.unwrap_or(defaults.$name.threshold),
                        action: input.$name.action.unwrap_or(defaults.$name.action),
                    },)*
                })
            }
        }

        impl GatesConfig {
            /// Every gate with its key, in declaration order.
            pub fn all(&self) -> Vec<(&'static str, GateSetting)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

impl GatesConfig {
    /// Thresholds that are not a finite number ≥ 0.
    fn problems(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|(_, g)| !(g.threshold.is_finite() && g.threshold >= 0.0))
            .map(|(name, g)| {
                format!(
                    "[gates] {name} threshold {}: expected a finite number ≥ 0",
                    g.threshold
                )
            })
            .collect()
    }
}

gates_config! {
    /// Rows read fell by more than this share of the previous run's.
    rows_read_drop: 0.01, Fail;
    /// Restated revenue in months both runs call complete, as a share of
    /// those months' revenue.
    restated_revenue_share: 0.001, Warn;
    /// Restated counts (customers, orders, responses) in complete periods.
    restated_counts: 0.0, Warn;
    /// Days from the reference date (as_of when given, else today) back to
    /// the latest order.
    stale_input_days: 3.0, Warn;
    /// The reject ratio divided by the previous run's (each plus 0.0001).
    reject_ratio_rise: 2.0, Warn;
    /// The largest move of a CLV parameter, in the previous run's standard
    /// errors.
    clv_parameter_shift: 3.0, Warn;
    /// The chosen model's holdout MAE, relative rise.
    holdout_error_rise: 0.25, Warn;
}

/// The smallest memory budget accepted: below it the fixed costs of a run
/// (an input chunk, the tables being written) are most of the budget.
pub const MIN_MEMORY_LIMIT: u64 = 256 << 20;

/// A memory size such as `1GiB`, `512MiB`, `2GB` or `1073741824` (bytes),
/// at least [`MIN_MEMORY_LIMIT`].
pub fn parse_memory_limit(text: &str) -> std::result::Result<u64, String> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|_| {
        format!(
            "`{}`: expected a size such as 1GiB, 512MiB or 2GB",
            quote(text)
        )
    })?;
    match size.as_u64() {
        bytes if bytes >= MIN_MEMORY_LIMIT => Ok(bytes),
        _ => Err(format!("`{}`: expected at least 256MiB", quote(text))),
    }
}

/// `value`'s leaves under dotted keys; arrays stay whole (their order
/// matters, e.g. the tiers).
fn flatten_into(
    flat: &mut std::collections::BTreeMap<String, String>,
    prefix: &str,
    value: &serde_json::Value,
) {
    match value.as_object() {
        Some(object) => {
            for (key, child) in object {
                let key = match prefix {
                    "" => key.clone(),
                    _ => format!("{prefix}.{key}"),
                };
                flatten_into(flat, &key, child);
            }
        }
        None => {
            flat.insert(prefix.to_string(), value.to_string());
        }
    }
}

/// Accepts a TOML local date or a `YYYY-MM-DD` string.
fn deserialize_date<'de, D>(deserializer: D) -> std::result::Result<Option<NaiveDate>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DateValue {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match DateValue::deserialize(deserializer)? {
        DateValue::Toml(value) => value.to_string(),
        DateValue::Text(text) => text,
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!("`{}`: expected a date YYYY-MM-DD", quote(&text)))
        })
}

fn default_delimiter() -> char {
    ','
}
fn default_true() -> bool {
    true
}
fn default_time_zone() -> String {
    "UTC".to_string()
}
fn default_window() -> u32 {
    365
}
fn default_max_reject_ratio() -> f64 {
    0.05
}
fn default_horizon() -> u32 {
    12
}
fn default_discount() -> f64 {
    0.01
}
fn default_holdout() -> u32 {
    90
}
fn default_margin() -> f64 {
    1.0
}
fn default_interval() -> f64 {
    0.8
}
fn default_high_clv_quantile() -> f64 {
    0.8
}
fn default_p_alive_below() -> f64 {
    0.5
}
fn default_vip_clv_quantile() -> f64 {
    0.9
}
fn default_out_dir() -> PathBuf {
    PathBuf::from("out")
}
fn default_keep_runs() -> u32 {
    5
}

/// Every problem with `[columns] dimensions`, each naming the dimension.
fn dimension_problems(columns: &ColumnMapping, amount: Option<&AmountExpr>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut keys: Vec<(&str, &str)> = vec![
        ("customer_id", columns.customer_id.as_str()),
        ("order_ts", columns.order_ts.as_str()),
    ];
    if let Some(order_id) = &columns.order_id {
        keys.push(("order_id", order_id.as_str()));
    }
    let amount_columns: Vec<String> = amount.map(|a| a.columns()).unwrap_or_default();
    keys.extend(amount_columns.iter().map(|c| ("amount", c.as_str())));
    let mut seen = std::collections::HashSet::new();
    for (i, name) in columns.dimensions.iter().enumerate() {
        if name.trim().is_empty() {
            problems.push(format!(
                "[columns] dimensions[{i}] is empty: expected a column name such as `channel`"
            ));
            continue;
        }
        let shown = quote(name);
        if let Some((key, _)) = keys.iter().find(|(_, column)| *column == name) {
            problems.push(format!(
                "[columns] dimensions[{i}] `{shown}` is the `{key}` column: a dimension must be a column of its own"
            ));
        }
        if sliced_table_columns().contains(&name.as_str()) {
            problems.push(format!(
                "[columns] dimensions[{i}] `{shown}` would clash with the `{shown}` column of the sliced tables: rename the column in the input"
            ));
        }
        if !seen.insert(name.as_str()) {
            problems.push(format!(
                "[columns] dimensions[{i}] `{shown}` is listed twice: expected each dimension once"
            ));
        }
    }
    problems
}

/// Every out-of-range number of `[business]`, `[rejects]`, `[clv]` and
/// `[output]`, each naming its key and the accepted range. (Loyalty and
/// target keys are checked by their sections.) NaN is out of every range.
fn numeric_problems(config: &PipelineConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let mut days = |key: &str, value: u32, min: u32| {
        if !(min..=MAX_DAYS).contains(&value) {
            problems.push(format!(
                "{key} = {value}: expected {min} to {MAX_DAYS} days"
            ));
        }
    };
    let business = &config.business;
    days(
        "[business] activity_window_days",
        business.activity_window_days,
        31,
    );
    days("[clv] holdout_days", config.clv.holdout_days, 1);
    if let Some(problem) = business
        .as_of
        .and_then(|as_of| as_of_problem("[business] as_of =", as_of))
    {
        problems.push(problem);
    }
    let ratio = config.rejects.max_reject_ratio;
    if !(0.0..=1.0).contains(&ratio) {
        problems.push(format!(
            "[rejects] max_reject_ratio = {ratio}: expected a number from 0 to 1"
        ));
    }
    if !(1..=120).contains(&config.clv.horizon_months) {
        problems.push(format!(
            "[clv] horizon_months = {}: expected 1 to 120",
            config.clv.horizon_months
        ));
    }
    if !(0.0..1.0).contains(&config.clv.discount_rate_monthly) {
        problems.push(format!(
            "[clv] discount_rate_monthly = {}: expected a number from 0 to below 1 (0.01 is 1% a month)",
            config.clv.discount_rate_monthly
        ));
    }
    let margin = config.clv.margin;
    if !(margin > 0.0 && margin <= 1.0) {
        problems.push(format!(
            "[clv] margin = {margin}: expected a share above 0 and at most 1 (0.3 for a 30% margin; 1 = revenue)"
        ));
    }
    let penalizer = config.clv.penalizer;
    if !(0.0..=100.0).contains(&penalizer) {
        problems.push(format!(
            "[clv] penalizer = {penalizer}: expected a number from 0 (none) to 100"
        ));
    }
    let interval = config.clv.interval;
    if !(interval > 0.0 && interval < 1.0) {
        problems.push(format!(
            "[clv] interval = {interval}: expected a coverage above 0 and below 1 (0.8 for a central 80% interval)"
        ));
    }
    if let Some(limit) = &config.resources.memory_limit {
        if let Err(problem) = parse_memory_limit(limit) {
            problems.push(format!("[resources] memory_limit = {problem}"));
        }
    }
    if config.output.keep_runs < 2 {
        problems.push(format!(
            "[output] keep_runs = {}: expected at least 2",
            config.output.keep_runs
        ));
    }
    if config.columns.dimensions.len() > MAX_DIMENSIONS {
        problems.push(format!(
            "[columns] dimensions: {} given: expected at most {MAX_DIMENSIONS}",
            config.columns.dimensions.len()
        ));
    }
    problems
}

/// The problem with a CSV delimiter, if any: it must be one ASCII
/// character that is not the quote character or a line break.
fn delimiter_problem(section: &str, delimiter: char) -> Option<String> {
    let usable = delimiter.is_ascii() && !matches!(delimiter, '"' | '\n' | '\r');
    (!usable).then(|| {
        format!(
            "{section} delimiter `{}`: expected a single ASCII character other than `\"` or a line break",
            quote(&delimiter.to_string())
        )
    })
}

/// What checking a pipeline's settings parsed: the time zone, the amount
/// expression and the filters' conditions.
struct Checked {
    time_zone: chrono_tz::Tz,
    amount: AmountExpr,
    filters: Vec<(String, FilterCondition)>,
}

/// Every problem with a pipeline's settings, each naming its key, in the
/// order of the checks below; none: what the checks parsed.
fn check_settings(config: &PipelineConfig) -> std::result::Result<Checked, Vec<String>> {
    let mut problems = Vec::new();
    let time_zone = check_time_zone(&config.business).map_err(|p| problems.push(p));
    problems.extend(numeric_problems(config));
    problems.extend(delimiter_problem("[input.csv]", config.input.csv.delimiter));
    if let Some(loyalty) = &config.loyalty {
        problems.extend(loyalty.problems());
    }
    problems.extend(config.targets.problems());
    problems.extend(config.gates.problems());
    problems.extend(history_problems(&config.output));
    if let Some(surveys) = &config.surveys {
        problems.extend(delimiter_problem("[surveys.csv]", surveys.csv.delimiter));
        problems.extend(survey_column_problems(&surveys.columns));
    }
    let amount = check_amount(&config.columns).map_err(|p| problems.push(p));
    problems.extend(dimension_problems(&config.columns, amount.as_ref().ok()));
    let filters = check_filters(&config.filters).map_err(|p| problems.extend(p));
    match (time_zone, amount, filters) {
        (Ok(time_zone), Ok(amount), Ok(filters)) if problems.is_empty() => Ok(Checked {
            time_zone,
            amount,
            filters,
        }),
        _ => Err(problems),
    }
}

/// `[output] history`: names of published tables, each once.
fn history_problems(output: &OutputConfig) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, name) in output.history.iter().enumerate() {
        if crate::tables::schema::schema_of(name).is_none() {
            let known: Vec<&str> = crate::tables::schema::ALL.iter().map(|t| t.name).collect();
            problems.push(format!(
                "[output] history: `{}` is not a table (one of {})",
                quote(name),
                known.join(", ")
            ));
        } else if output.history[..i].contains(name) {
            problems.push(format!(
                "[output] history: `{}` is listed twice",
                quote(name)
            ));
        }
    }
    problems
}

/// `[business] time_zone`: an IANA time zone name.
fn check_time_zone(business: &BusinessConfig) -> std::result::Result<chrono_tz::Tz, String> {
    business.time_zone.parse::<chrono_tz::Tz>().map_err(|_| {
        format!(
            "[business] time_zone `{}` is not an IANA time zone name (e.g. `Europe/Berlin`, `UTC`)",
            quote(&business.time_zone)
        )
    })
}

/// `[columns] amount`: a column name or an expression of columns.
fn check_amount(columns: &ColumnMapping) -> std::result::Result<AmountExpr, String> {
    AmountExpr::parse(&columns.amount).map_err(|e| {
        format!(
            "[columns] amount `{}`: {}",
            quote(&columns.amount),
            quote(&e.to_string())
        )
    })
}

/// `[surveys.columns]`: every column named.
fn survey_column_problems(c: &SurveyColumns) -> Vec<String> {
    [
        ("customer_id", &c.customer_id),
        ("response_ts", &c.response_ts),
        ("score", &c.score),
    ]
    .into_iter()
    .filter(|(_, name)| name.trim().is_empty())
    .map(|(key, _)| format!("[surveys.columns] {key} is empty: expected a column name"))
    .collect()
}

/// `[[filters]]`: exactly one condition each; every problem, in order.
fn check_filters(
    filters: &[FilterConfig],
) -> std::result::Result<Vec<(String, FilterCondition)>, Vec<String>> {
    let mut conditions = Vec::new();
    let mut problems = Vec::new();
    for filter in filters {
        match filter.condition() {
            Ok(condition) => conditions.push((filter.column.clone(), condition)),
            Err(e) => problems.push(format!("[[filters]] {e}")),
        }
    }
    if problems.is_empty() {
        Ok(conditions)
    } else {
        Err(problems)
    }
}

/// A pipeline that was read and checked: paths resolved, expression parsed,
/// time zone known.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub path: PathBuf,
    pub name: String,
    /// The file's text, hashed into the run key, with the `--set`
    /// overrides and `${VAR}` expansions appended.
    pub source_text: String,
    /// What changed the file for this run: each `--set KEY=VALUE` as given,
    /// then each expanded path key as `KEY = "value"` (the manifest's
    /// `pipeline_overrides`).
    pub overrides: Vec<String>,
    pub config: PipelineConfig,
    pub output_dir: PathBuf,
    pub time_zone: chrono_tz::Tz,
    pub amount: AmountExpr,
    pub filters: Vec<(String, FilterCondition)>,
}

impl Pipeline {
    /// Reads and checks a pipeline file. Every problem found is reported at
    /// once, so a user fixes the file in one go.
    pub fn load(path: &Path) -> Result<Pipeline> {
        Pipeline::load_with(path, &[])
    }

    /// [`Pipeline::load`] with `--set` overrides, and `${VAR}` expanded in
    /// the path keys from the environment (`config_overrides`). The run key
    /// covers both: they are appended to the source text it hashes.
    pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Pipeline> {
        let config_error = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read the file: {e}")))?;
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| config_error(format!("\n{e}")))?;
        apply(&mut table, overrides).map_err(config_error)?;
        let expanded = expand_paths(&mut table, |name| std::env::var(name).ok())
            .map_err(|problems| config_error(format!("\n  - {}", problems.join("\n  - "))))?;
        let config: PipelineConfig = if overrides.is_empty() && expanded.is_empty() {
            // As written: errors point at the file's lines.
            toml::from_str(&text).map_err(|e| config_error(format!("\n{e}")))?
        } else {
            toml::Value::Table(table)
                .try_into()
                .map_err(|e| config_error(format!("(with --set and ${{VAR}} applied)\n{e}")))?
        };
        let checked = check_settings(&config)
            .map_err(|problems| config_error(format!("\n  - {}", problems.join("\n  - "))))?;
        let changes: Vec<String> = overrides
            .iter()
            .map(|o| format!("--set {}", o.text()))
            .chain(
                expanded
                    .iter()
                    .map(|(key, value)| format!("{key} = {value:?}")),
            )
            .collect();
        let mut source = text;
        for change in &changes {
            source.push_str(&format!("\n# {change}"));
        }
        let mut pipeline = Pipeline::resolve(path, source, config, checked);
        pipeline.overrides = changes;
        Ok(pipeline)
    }

    /// The pipeline of `config` (another process's, sent whole: a
    /// cluster's read tasks check rows as the client would), checked
    /// again. Its paths are left as they are: the files come resolved.
    pub fn of_config(config: PipelineConfig) -> Result<Pipeline> {
        let path = Path::new("pipeline.toml");
        let checked = check_settings(&config).map_err(|problems| Error::Config {
            path: path.to_path_buf(),
            message: format!("\n  - {}", problems.join("\n  - ")),
        })?;
        Ok(Pipeline::resolve(path, String::new(), config, checked))
    }

    /// A checked pipeline, with its paths resolved against the pipeline
    /// file's directory.
    fn resolve(path: &Path, text: String, config: PipelineConfig, checked: Checked) -> Pipeline {
        let base = path.parent().unwrap_or(Path::new(""));
        // An object-store URL is where it says, not below the pipeline.
        let is_url = crate::location::StoreUrl::of_path(&config.output.dir).is_some();
        let output_dir = if config.output.dir.is_absolute() || is_url {
            config.output.dir.clone()
        } else {
            base.join(&config.output.dir)
        };
        let name = config.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".to_string())
        });
        Pipeline {
            path: path.to_path_buf(),
            name,
            source_text: text,
            overrides: Vec::new(),
            output_dir,
            time_zone: checked.time_zone,
            amount: checked.amount,
            filters: checked.filters,
            config,
        }
    }

    /// The settings that define the tables' values, flattened to
    /// `section.key` → its value as JSON (defaults filled in): two runs
    /// with the same definitions compute every period the same way, so a
    /// changed value is a restatement. Left out: as_of, the input and
    /// survey paths (the files are compared on their own), and the
    /// sections about where and how a run goes (`name`, `[output]`,
    /// `[resources]`, `[gates]`).
    pub fn definitions(&self) -> std::collections::BTreeMap<String, String> {
        let mut value = serde_json::to_value(&self.config).expect("the config serializes");
        let root = value.as_object_mut().expect("a table");
        for key in ["name", "output", "resources", "gates"] {
            root.remove(key);
        }
        for section in ["input", "surveys"] {
            if let Some(table) = root.get_mut(section).and_then(|v| v.as_object_mut()) {
                table.remove("path");
            }
        }
        let mut flat = std::collections::BTreeMap::new();
        flatten_into(&mut flat, "", &value);
        flat
    }

    /// `[resources] memory_limit` in bytes, if set (checked by `load`).
    pub fn memory_limit(&self) -> Option<u64> {
        let limit = self.config.resources.memory_limit.as_deref()?;
        parse_memory_limit(limit).ok()
    }

    /// The source columns the run needs from every input file.
    pub fn needed_columns(&self) -> Vec<String> {
        let c = &self.config.columns;
        let mut names = vec![c.customer_id.clone(), c.order_ts.clone()];
        if let Some(order_id) = &c.order_id {
            names.push(order_id.clone());
        }
        names.extend(self.amount.columns());
        names.extend(self.filters.iter().map(|(column, _)| column.clone()));
        names.extend(c.dimensions.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::day_number;

    /// as_of's range is the accepted order dates: `MIN_DAY` and `MAX_DAY`
    /// of `stages::validate` (days since 1970-01-01).
    #[test]
    fn as_of_range_is_the_accepted_order_dates() {
        let range = as_of_range();
        assert_eq!(day_number(*range.start()), -25_567);
        assert_eq!(day_number(*range.end()), 84_370);
        let day_before = range.start().pred_opt().unwrap();
        let day_after = range.end().succ_opt().unwrap();
        assert!(as_of_problem("x", day_before).is_some());
        assert!(as_of_problem("x", day_after).is_some());
        assert!(as_of_problem("x", *range.start()).is_none());
        assert!(as_of_problem("x", *range.end()).is_none());
    }

    #[test]
    fn delimiters_that_cannot_separate_fields_are_refused() {
        for bad in ['"', '\n', '\r', 'é'] {
            assert!(delimiter_problem("[input.csv]", bad).is_some(), "{bad:?}");
        }
        for good in [',', ';', '\t', '|'] {
            assert!(delimiter_problem("[input.csv]", good).is_none(), "{good:?}");
        }
    }

    /// Every check runs, whatever failed before it, and the problems come
    /// in the order of the checks.
    #[test]
    fn every_problem_is_collected_in_the_order_of_the_checks() {
        let config: PipelineConfig = toml::from_str(
            r#"
            [input]
            path = "orders.csv"
            [columns]
            customer_id = "c"
            order_ts = "t"
            amount = "a *"
            [[filters]]
            column = "status"
            [business]
            time_zone = "Mars/Olympus"
            activity_window_days = 7
            "#,
        )
        .unwrap();
        let Err(problems) = check_settings(&config) else {
            panic!("accepted");
        };
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split([' ', ':']).next().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["[business]", "[business]", "[columns]", "[[filters]]"],
            "{problems:#?}"
        );
        assert!(problems[0].contains("time_zone"), "{}", problems[0]);
        assert!(
            problems[1].contains("activity_window_days"),
            "{}",
            problems[1]
        );
    }

    /// A cluster's read tasks get the client's settings as JSON: every
    /// section comes back as it went, and checks the same.
    #[test]
    fn a_config_sent_as_json_comes_back_the_same() {
        let sample = include_str!("../pipelines/sample.toml");
        let text = format!(
            "{sample}\n[[filters]]\ncolumn = \"status\"\none_of = [\"test\", \"void\"]\n\
             [[filters]]\ncolumn = \"note\"\nis_blank = true\n\
             [resources]\nmemory_limit = \"2GiB\"\nspill_compression = \"zstd\"\n"
        );
        let config: PipelineConfig = toml::from_str(&text).unwrap();
        let sent = serde_json::to_string(&config).unwrap();
        let back: PipelineConfig = serde_json::from_str(&sent).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), sent);
        let pipeline = Pipeline::of_config(back).unwrap();
        assert_eq!(pipeline.filters.len(), 2);
        assert_eq!(pipeline.time_zone, chrono_tz::Europe::London);
        // A setting the checks refuse is refused on the way back too.
        let mut bad = config.clone();
        bad.business.time_zone = "Mars/Olympus".into();
        assert!(matches!(
            Pipeline::of_config(bad),
            Err(Error::Config { .. })
        ));
    }

    /// Tier thresholds round like amounts (half away from zero on the
    /// written decimal), not like the binary float TOML hands us.
    #[test]
    fn tier_thresholds_round_half_away_from_zero_on_the_written_decimal() {
        let tier = |min_spend: f64| TierConfig {
            name: format!("t{min_spend}"),
            min_spend,
        };
        let config = LoyaltyConfig {
            tiers: vec![tier(0.0), tier(2.675), tier(1.005), tier(250.0), tier(1e15)],
        };
        let cents: Vec<i64> = (0..5).map(|i| config.tier_cents(i)).collect();
        assert_eq!(cents, [0, 268, 101, 25_000, 100_000_000_000_000_000]);
    }
}
