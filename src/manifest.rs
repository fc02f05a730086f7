//! The run manifest (`_manifest.json`): what a run read, did and wrote.
//! Written last: its presence marks a run directory complete.
//!
//! Also what every published Parquet file says about its run (its
//! key-value metadata, [`TableMetadata`], keys in [`keys`]): a file copied
//! out of its run directory still names its run, as_of and settings.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::Pipeline;
use crate::stages::checks::Check;
use crate::stages::compare::gates::{GateResult, Outcome};
use crate::stages::compare::{InputFigure, RowFigures, RunFigures};
use crate::stages::orders::RowCounts;
use crate::stages::raw::InputFile;

/// The report's file name in a run directory.
pub const REPORT_FILE: &str = "report.html";

/// Version of the published table schemas; bumped on any change to a
/// table's columns or their meaning.
/// Version 2: `cohort_retention` and `retention_curve` gained the
/// unbounded retention columns and `cohort_period` chooses the cohort unit;
/// `customers` gained the loyalty tier columns; new tables `tier_migration`
/// and the target lists.
/// Version 3: `clv_model` gained `fit_status` and `uncomputable_customers`;
/// `customers.expected_orders` and `clv` (and the `clv_forecast` figures)
/// are null where the model cannot compute them, never 0; `clv_validation`
/// has no rows when no customer ordered before the calibration end.
/// Version 4: the Pareto/NBD and MBG/NBD models (`[clv] model`),
/// `clv_model.chosen`, `clv_validation.model`, and the
/// `clv_model_selection` table.
/// Version 5: the interval columns (`_low`, `_high`) of `customers`
/// (expected orders, CLV) and `clv_forecast`; `checks.check` renamed
/// `check_name` and `rejects.column` `column_name` (SQL reserved words);
/// no −0.0 in any table.
/// Version 6: the tables `restatements`, `run_comparison` and `gates`
/// (the comparison with the previous run).
/// Version 7: each table in its own directory, `TABLE/part-NNNNN.parquet`
/// (one file per 4 Mi rows), instead of `TABLE.parquet`.
pub const SCHEMA_VERSION: u32 = 7;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool_version: String,
    pub run_id: String,
    /// Hash of config, input fingerprints, requested as_of and tool version.
    pub run_key: String,
    pub pipeline: String,
    pub pipeline_path: String,
    /// `--set` overrides and `${VAR}` expansions of the pipeline file for
    /// this run (`Pipeline::overrides`); absent when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipeline_overrides: Vec<String>,
    pub as_of: String,
    pub time_zone: String,
    pub activity_window_days: u32,
    /// The cohort unit (`month`, `week`, `quarter`); runs written before
    /// the setting existed were monthly.
    #[serde(default = "default_cohort_period")]
    pub cohort_period: String,
    /// The dimension columns of `cohort_retention`, `retention_curve` and
    /// `kpis_monthly` (`[columns] dimensions`); empty when unsliced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
    /// The run's wall time in seconds, from its start to its manifest's
    /// sealing (the report's step included), by the monotonic clock. Less
    /// than the stages' sum when stages overlap: the CLV and NPS stages run
    /// beside the descriptive ones. Absent in runs written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    pub inputs: Vec<InputRecord>,
    pub rows: RowRecord,
    pub rejects_by_reason: Vec<(String, u64)>,
    pub customers: u64,
    /// The survey input, when the pipeline has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surveys: Option<SurveysRecord>,
    pub stages: Vec<StageRecord>,
    /// The memory budget, partitions and spilling; absent in runs written
    /// before the partitioned plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    pub checks: Vec<CheckRecord>,
    pub outputs: Vec<WrittenFile>,
    /// The run's HTML report, beside the tables.
    #[serde(default)]
    pub report: Option<String>,
    /// The settings that define the values (`Pipeline::definitions`):
    /// two runs are compared value by value only when these agree. Absent
    /// in runs before schema version 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitions: Option<BTreeMap<String, String>>,
    /// The latest order date in the input (after as_of too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_order: Option<String>,
    /// The run this one was compared with (the previous `current`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<String>,
    /// Every gate's evaluation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateResult>,
    /// Published with `--accept-changes` although a `fail` gate fired.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accepted_changes: bool,
}

/// How a run used memory and disk.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resources {
    /// The budget (`--memory-limit`, `[resources] memory_limit` or the
    /// default).
    pub memory_limit_bytes: u64,
    /// Partitions the lines and orders were split into.
    pub partitions: u64,
    /// Bytes written to spill files (0: everything fit in memory); on a
    /// cluster, those its executors wrote to the run's spill directory too.
    pub spilled_bytes: u64,
    /// Whether the spill files were compressed (`[resources]
    /// spill_compression`); absent in manifests from before the setting.
    #[serde(default)]
    pub spill_compressed: bool,
    /// Whether the order history (every customer's entries) was kept in
    /// spill files and read back a partition at a time by the stages
    /// after `orders`; absent in manifests from before it could be.
    #[serde(default)]
    pub history_spilled: bool,
    /// Whether the per-customer results (summaries and tier columns) were
    /// kept in spill files and read back a partition at a time for the
    /// `customers` table, the segments and the target lists; absent in
    /// manifests from before they could be.
    #[serde(default)]
    pub results_spilled: bool,
}

/// What was written for one table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WrittenFile {
    pub table: String,
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// The survey input's files and how its rows were accounted for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SurveysRecord {
    pub inputs: Vec<InputRecord>,
    pub rows: RowRecord,
    pub rejects_by_reason: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputRecord {
    pub path: String,
    pub format: String,
    pub size_bytes: u64,
    /// Modification time, RFC 3339 UTC.
    pub modified: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowRecord {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub excluded: u64,
    pub excluded_by_filter: u64,
    pub excluded_after_as_of: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub seconds: f64,
    /// Peak resident memory of the process so far, after the stage.
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRecord {
    pub check: String,
    pub expected: i64,
    pub actual: i64,
    pub passed: bool,
}

/// Peak resident set size of this process (Linux `VmHWM`), 0 elsewhere.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The memory this process may use: the machine's (Linux `MemTotal`), or
/// its control group's limit when lower; `None` when neither is known.
pub fn machine_memory_bytes() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    // cgroup v2; "max" (no limit) does not parse.
    let group = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|max| max.trim().parse::<u64>().ok());
    match (total, group) {
        (Some(t), Some(g)) => Some(t.min(g)),
        (t, g) => t.or(g),
    }
}

/// The memory budget when none is given (`--memory-limit`, `[resources]
/// memory_limit`): half of [`machine_memory_bytes`], 4 GiB when that is
/// unknown.
pub fn default_memory_limit() -> u64 {
    machine_memory_bytes().map_or(4 << 30, |m| m / 2)
}

fn default_cohort_period() -> String {
    "month".to_string()
}

/// The stage record of the HTML report's step, made after publishing's:
/// the manifest has it, the page's own stage table cannot.
pub const REPORT_STEP: &str = "report";

impl StageRecord {
    /// The record of a stage that just ended after `seconds`, with the
    /// peak memory so far.
    pub fn ended(stage: &str, seconds: f64) -> StageRecord {
        StageRecord {
            stage: stage.to_string(),
            seconds,
            peak_rss_bytes: peak_rss_bytes(),
        }
    }
}

/// Which run this is: its id (the run directory's name), its run key and
/// when it started.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run_id: String,
    /// Hash of config, input fingerprints, requested as_of and tool version.
    pub run_key: String,
    pub started_at: DateTime<Utc>,
    /// The same moment by the monotonic clock, which the run's wall time
    /// is measured with (the system clock may be set while a run goes on).
    pub clock: Instant,
}

impl RunIdentity {
    /// Seconds since the run started.
    pub fn elapsed_seconds(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }
}

/// One input's files and how its rows were accounted for (the order
/// input, or the survey input).
pub struct InputAccount<'a> {
    pub files: &'a [InputFile],
    pub counts: &'a RowCounts,
    pub rejects_by_reason: &'a [(&'static str, u64)],
}

/// What a run computed and wrote, as its manifest records it.
pub struct RunFacts<'a> {
    pub as_of: NaiveDate,
    pub orders: InputAccount<'a>,
    pub surveys: Option<InputAccount<'a>>,
    pub customers: u64,
    pub checks: &'a [Check],
    /// Every stage, publishing included.
    pub stages: Vec<StageRecord>,
    pub resources: Resources,
    /// The tables written, in publishing order.
    pub outputs: Vec<WrittenFile>,
    pub latest_order: NaiveDate,
    pub compared_with: Option<String>,
    pub gates: &'a [GateResult],
}

impl Manifest {
    /// The manifest of `run` (finished now), which wrote [`REPORT_FILE`]
    /// beside its tables.
    pub fn new(pipeline: &Pipeline, run: &RunIdentity, facts: RunFacts) -> Manifest {
        let business = &pipeline.config.business;
        Manifest {
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: run.run_id.clone(),
            run_key: run.run_key.clone(),
            pipeline: pipeline.name.clone(),
            pipeline_path: pipeline.path.display().to_string(),
            pipeline_overrides: pipeline.overrides.clone(),
            as_of: facts.as_of.to_string(),
            time_zone: pipeline.time_zone.name().to_string(),
            activity_window_days: business.activity_window_days,
            cohort_period: business.cohort_period.name().to_string(),
            dimensions: pipeline.config.columns.dimensions.clone(),
            started_at: timestamp(run.started_at),
            finished_at: timestamp(Utc::now()),
            wall_seconds: Some(run.elapsed_seconds()),
            inputs: input_records(facts.orders.files),
            rows: RowRecord::from(facts.orders.counts),
            rejects_by_reason: reason_counts(facts.orders.rejects_by_reason),
            customers: facts.customers,
            surveys: facts.surveys.map(|s| SurveysRecord {
                inputs: input_records(s.files),
                rows: RowRecord::from(s.counts),
                rejects_by_reason: reason_counts(s.rejects_by_reason),
            }),
            stages: facts.stages,
            resources: Some(facts.resources),
            checks: facts.checks.iter().map(CheckRecord::from).collect(),
            outputs: facts.outputs,
            report: Some(REPORT_FILE.to_string()),
            definitions: Some(pipeline.definitions()),
            latest_order: Some(facts.latest_order.to_string()),
            compared_with: facts.compared_with,
            accepted_changes: facts.gates.iter().any(|g| g.outcome == Outcome::Accepted),
            gates: facts.gates.to_vec(),
        }
    }

    /// The run's wall time through publishing: without the report's
    /// step, which comes after everything else, as the report page's
    /// stage table ends with publishing. `None` in runs written before the
    /// wall time was recorded.
    pub fn seconds_to_published(&self) -> Option<f64> {
        let report: f64 = self
            .stages
            .iter()
            .filter(|s| s.stage == REPORT_STEP)
            .map(|s| s.seconds)
            .sum();
        self.wall_seconds.map(|wall| wall - report)
    }

    /// The run's peak memory: the highest of its stages' (each the
    /// process's high-water mark when it ended); 0 without stages.
    pub fn peak_rss_bytes(&self) -> u64 {
        let stages = self.stages.iter().map(|s| s.peak_rss_bytes);
        stages.max().unwrap_or(0)
    }

    /// What the comparison with a later run needs of this one.
    pub fn figures(&self) -> RunFigures {
        let inputs = self
            .inputs
            .iter()
            .chain(self.surveys.iter().flat_map(|s| s.inputs.iter()));
        RunFigures {
            run_id: self.run_id.clone(),
            as_of: self.as_of.clone(),
            tool_version: self.tool_version.clone(),
            schema_version: self.schema_version,
            definitions: self.definitions.clone(),
            dimensions: self.dimensions.clone(),
            rows: row_figures(&self.rows),
            customers: self.customers,
            inputs: inputs.map(InputFigure::from).collect(),
        }
    }
}

/// [`Manifest::figures`] of a run not yet published: the same figures,
/// from the same records.
pub fn figures_of_run(
    pipeline: &Pipeline,
    run_id: &str,
    as_of: NaiveDate,
    orders: &InputAccount,
    surveys: Option<&InputAccount>,
    customers: u64,
) -> RunFigures {
    let files = orders
        .files
        .iter()
        .chain(surveys.iter().flat_map(|s| s.files.iter()));
    RunFigures {
        run_id: run_id.to_string(),
        as_of: as_of.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: SCHEMA_VERSION,
        definitions: Some(pipeline.definitions()),
        dimensions: pipeline.config.columns.dimensions.clone(),
        rows: row_figures(&RowRecord::from(orders.counts)),
        customers,
        inputs: files
            .map(|f| InputFigure::from(&InputRecord::from(f)))
            .collect(),
    }
}

fn row_figures(r: &RowRecord) -> RowFigures {
    RowFigures {
        read: r.read,
        accepted: r.accepted,
        rejected: r.rejected,
        excluded: r.excluded,
        duplicates: r.duplicates,
    }
}

impl From<&InputRecord> for InputFigure {
    fn from(r: &InputRecord) -> InputFigure {
        InputFigure {
            path: r.path.clone(),
            size_bytes: r.size_bytes,
            modified: r.modified.clone(),
        }
    }
}

/// RFC 3339 UTC to the millisecond (`started_at`, `finished_at`).
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn input_records(files: &[InputFile]) -> Vec<InputRecord> {
    files.iter().map(InputRecord::from).collect()
}

fn reason_counts(by_reason: &[(&'static str, u64)]) -> Vec<(String, u64)> {
    by_reason.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

impl From<&InputFile> for InputRecord {
    fn from(f: &InputFile) -> InputRecord {
        InputRecord {
            path: f.name(),
            format: f.format.name().to_string(),
            size_bytes: f.size,
            modified: f
                .modified
                .map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

impl From<&RowCounts> for RowRecord {
    fn from(c: &RowCounts) -> RowRecord {
        RowRecord {
            read: c.rows_read,
            accepted: c.accepted,
            rejected: c.rejected,
            excluded: c.excluded(),
            excluded_by_filter: c.excluded_by_filter,
            excluded_after_as_of: c.excluded_after_as_of,
            duplicates: c.duplicates,
        }
    }
}

impl From<&Check> for CheckRecord {
    fn from(c: &Check) -> CheckRecord {
        CheckRecord {
            check: c.check.clone(),
            expected: c.expected,
            actual: c.actual,
            passed: c.passed,
        }
    }
}

/// The keys of the key-value metadata of every published Parquet file, in
/// the order they are written.
pub mod keys {
    /// The table's name.
    pub const TABLE: &str = "retention.table";
    pub const RUN_ID: &str = "retention.run_id";
    pub const AS_OF: &str = "retention.as_of";
    pub const TIME_ZONE: &str = "retention.time_zone";
    pub const ACTIVITY_WINDOW_DAYS: &str = "retention.activity_window_days";
    pub const COHORT_PERIOD: &str = "retention.cohort_period";
    pub const SCHEMA_VERSION: &str = "retention.schema_version";
    pub const TOOL_VERSION: &str = "retention.tool_version";
    /// The dimension columns, a JSON array; only with dimensions.
    pub const DIMENSIONS: &str = "retention.dimensions";
}

/// The key-value metadata of a run's Parquet files: each file's table
/// name, then what every file of the run shares.
pub struct TableMetadata {
    shared: Vec<(String, String)>,
}

impl TableMetadata {
    pub fn of(pipeline: &Pipeline, run_id: &str, as_of: NaiveDate) -> TableMetadata {
        let business = &pipeline.config.business;
        let dimensions = &pipeline.config.columns.dimensions;
        let mut shared: Vec<(String, String)> = [
            (keys::RUN_ID, run_id.to_string()),
            (keys::AS_OF, as_of.to_string()),
            (keys::TIME_ZONE, pipeline.time_zone.name().to_string()),
            (
                keys::ACTIVITY_WINDOW_DAYS,
                business.activity_window_days.to_string(),
            ),
            (
                keys::COHORT_PERIOD,
                business.cohort_period.name().to_string(),
            ),
            (keys::SCHEMA_VERSION, SCHEMA_VERSION.to_string()),
            (keys::TOOL_VERSION, env!("CARGO_PKG_VERSION").to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        // Only with dimensions, so unsliced runs write what they always did;
        // a JSON array, since a column name may hold a comma.
        if !dimensions.is_empty() {
            shared.push((
                keys::DIMENSIONS.to_string(),
                serde_json::Value::from(dimensions.clone()).to_string(),
            ));
        }
        TableMetadata { shared }
    }

    /// The metadata of the file of `table`.
    pub fn for_table(&self, table: &str) -> Vec<(String, String)> {
        std::iter::once((keys::TABLE.to_string(), table.to_string()))
            .chain(self.shared.iter().cloned())
            .collect()
    }
}
