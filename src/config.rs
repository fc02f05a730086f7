//! The pipeline file (`pipelines/*.toml`): what data to read and how to
//! interpret it. How a run executes (as_of override, output override,
//! threads) comes from the command line instead.
//!
//! Every struct denies unknown keys, so a typo is an error naming the key and
//! its line rather than a silently ignored setting. Relative paths are
//! resolved against the directory of the pipeline file, so a nightly job
//! behaves the same whatever directory cron starts it in.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::expr::AmountExpr;
use crate::time::CohortPeriod;

/// One pipeline, as written in its TOML file.
#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
                self.column
            )),
            _ => Err(format!(
                "filter on `{}` has {} conditions: expected exactly one (write two [[filters]] to exclude both)",
                self.column,
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

#[derive(Debug, Clone, Deserialize)]
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
    #[serde(default, deserialize_with = "deserialize_date")]
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

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
}

impl Default for ClvConfig {
    fn default() -> Self {
        ClvConfig {
            enabled: true,
            horizon_months: default_horizon(),
            discount_rate_monthly: default_discount(),
            holdout_days: default_holdout(),
        }
    }
}

/// Loyalty tiers: a customer's tier is the highest tier whose `min_spend`
/// is at most their net revenue over the trailing twelve months.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyConfig {
    /// At least two tiers, lowest first, thresholds strictly increasing; the
    /// first tier's `min_spend` must be 0 (it is the floor and also takes
    /// customers whose trailing spend is negative).
    pub tiers: Vec<TierConfig>,
}

#[derive(Debug, Clone, Deserialize)]
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
                    "[loyalty] tiers[{i}].name `{name}` is used twice: expected unique tier names"
                ));
            }
            if !tier.min_spend.is_finite() || tier.min_spend < 0.0 || tier.min_spend > 1e15 {
                problems.push(format!(
                    "[loyalty] tiers[{i}].min_spend = {}: expected a number from 0",
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
                    name,
                    i - 1,
                    self.tiers[i - 1].min_spend
                ));
            }
        }
        problems
    }

    /// Threshold of tier `i` in cents (half away from zero).
    pub fn tier_cents(&self, i: usize) -> i64 {
        (self.tiers[i].min_spend * 100.0).round() as i64
    }
}

/// Thresholds of the target lists (`win_back`, `at_risk_high_value`,
/// `reengage_new`, `vip`).
#[derive(Debug, Clone, Deserialize)]
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
        if !(0.0..=1.0).contains(&self.p_alive_below) {
            problems.push(format!(
                "[targets] p_alive_below = {}: expected a probability from 0 to 1",
                self.p_alive_below
            ));
        }
        problems
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Output root: runs go to `DIR/runs/RUN_ID/`, `DIR/current` points at
    /// the latest published one.
    #[serde(default = "default_out_dir")]
    pub dir: PathBuf,
    /// Complete runs to keep (at least 2); older ones are removed.
    #[serde(default = "default_keep_runs")]
    pub keep_runs: u32,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: default_out_dir(),
            keep_runs: default_keep_runs(),
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
        .map_err(|_| serde::de::Error::custom(format!("`{text}`: expected a date YYYY-MM-DD")))
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

/// Columns of the sliced tables (`cohort_retention`, `retention_curve`,
/// `kpis_monthly`) that a dimension may not be named after, since the
/// dimension column would clash with them.
pub const SLICED_TABLE_COLUMNS: &[&str] = &[
    "cohort_month",
    "cohort_week",
    "cohort_quarter",
    "period",
    "cohort_size",
    "active_customers",
    "retention_rate",
    "orders",
    "revenue",
    "revenue_per_customer",
    "cumulative_revenue_per_customer",
    "period_complete",
    "unbounded_active_customers",
    "unbounded_retention_rate",
    "cohorts",
    "customers",
    "retained",
    "unbounded_retained",
    "month",
    "customers_start",
    "customers_end",
    "new_customers",
    "churned",
    "reactivated",
    "crr",
    "churn_rate",
    "purchasing_customers",
    "aov",
    "purchase_frequency",
    "returning_customers",
    "repeat_customer_rate",
    "month_complete",
];

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
        if let Some((key, _)) = keys.iter().find(|(_, column)| *column == name) {
            problems.push(format!(
                "[columns] dimensions[{i}] `{name}` is the `{key}` column: a dimension must be a column of its own"
            ));
        }
        if SLICED_TABLE_COLUMNS.contains(&name.as_str()) {
            problems.push(format!(
                "[columns] dimensions[{i}] `{name}` would clash with the `{name}` column of the sliced tables: rename the column in the input"
            ));
        }
        if !seen.insert(name.as_str()) {
            problems.push(format!(
                "[columns] dimensions[{i}] `{name}` is listed twice: expected each dimension once"
            ));
        }
    }
    problems
}

/// A pipeline that was read and checked: paths resolved, expression parsed,
/// time zone known.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub path: PathBuf,
    pub name: String,
    /// The file's text, hashed into the run key.
    pub source_text: String,
    pub config: PipelineConfig,
    /// `input.path` resolved against the pipeline's directory.
    pub input_pattern: String,
    pub output_dir: PathBuf,
    pub time_zone: chrono_tz::Tz,
    pub amount: AmountExpr,
    pub filters: Vec<(String, FilterCondition)>,
}

impl Pipeline {
    /// Reads and checks a pipeline file. Every problem found is reported at
    /// once, so a user fixes the file in one go.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let config_error = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read the file: {e}")))?;
        let config: PipelineConfig =
            toml::from_str(&text).map_err(|e| config_error(format!("\n{e}")))?;

        let mut problems = Vec::new();
        let time_zone = match config.business.time_zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                problems.push(format!(
                    "[business] time_zone `{}` is not an IANA time zone name (e.g. `Europe/Berlin`, `UTC`)",
                    config.business.time_zone
                ));
                None
            }
        };
        if config.business.activity_window_days < 31 {
            problems.push(format!(
                "[business] activity_window_days = {}: expected at least 31",
                config.business.activity_window_days
            ));
        }
        let ratio = config.rejects.max_reject_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            problems.push(format!(
                "[rejects] max_reject_ratio = {ratio}: expected a number from 0 to 1"
            ));
        }
        if config.output.keep_runs < 2 {
            problems.push(format!(
                "[output] keep_runs = {}: expected at least 2",
                config.output.keep_runs
            ));
        }
        if config.clv.horizon_months == 0 || config.clv.horizon_months > 120 {
            problems.push(format!(
                "[clv] horizon_months = {}: expected 1 to 120",
                config.clv.horizon_months
            ));
        }
        if !(0.0..1.0).contains(&config.clv.discount_rate_monthly) {
            problems.push(format!(
                "[clv] discount_rate_monthly = {}: expected a number from 0 to 1 (0.01 is 1% a month)",
                config.clv.discount_rate_monthly
            ));
        }
        if !config.input.csv.delimiter.is_ascii() {
            problems.push(format!(
                "[input.csv] delimiter `{}`: expected a single ASCII character",
                config.input.csv.delimiter
            ));
        }
        if let Some(loyalty) = &config.loyalty {
            problems.extend(loyalty.problems());
        }
        problems.extend(config.targets.problems());
        if let Some(surveys) = &config.surveys {
            if !surveys.csv.delimiter.is_ascii() {
                problems.push(format!(
                    "[surveys.csv] delimiter `{}`: expected a single ASCII character",
                    surveys.csv.delimiter
                ));
            }
            let c = &surveys.columns;
            for (key, name) in [
                ("customer_id", &c.customer_id),
                ("response_ts", &c.response_ts),
                ("score", &c.score),
            ] {
                if name.trim().is_empty() {
                    problems.push(format!(
                        "[surveys.columns] {key} is empty: expected a column name"
                    ));
                }
            }
        }
        let amount = match AmountExpr::parse(&config.columns.amount) {
            Ok(expr) => Some(expr),
            Err(e) => {
                problems.push(format!("[columns] amount `{}`: {e}", config.columns.amount));
                None
            }
        };
        problems.extend(dimension_problems(&config.columns, amount.as_ref()));
        let mut filters = Vec::new();
        for filter in &config.filters {
            match filter.condition() {
                Ok(condition) => filters.push((filter.column.clone(), condition)),
                Err(e) => problems.push(format!("[[filters]] {e}")),
            }
        }
        if !problems.is_empty() {
            return Err(config_error(format!("\n  - {}", problems.join("\n  - "))));
        }

        let base = path.parent().unwrap_or(Path::new(""));
        let input_pattern = if Path::new(&config.input.path).is_absolute() {
            config.input.path.clone()
        } else {
            base.join(&config.input.path).to_string_lossy().into_owned()
        };
        let output_dir = if config.output.dir.is_absolute() {
            config.output.dir.clone()
        } else {
            base.join(&config.output.dir)
        };
        let name = config.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".to_string())
        });
        Ok(Pipeline {
            path: path.to_path_buf(),
            name,
            source_text: text,
            input_pattern,
            output_dir,
            time_zone: time_zone.unwrap_or(chrono_tz::UTC),
            amount: amount.unwrap_or_else(|| AmountExpr::Column(String::new())),
            filters,
            config,
        })
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
