//! The run manifest (`_manifest.json`): what a run read, did and wrote.
//! Written last: its presence marks a run directory complete.

use serde::{Deserialize, Serialize};

/// Version of the published table schemas; bumped on any change to a
/// table's columns or their meaning.
/// Version 2: `cohort_retention` and `retention_curve` gained the
/// unbounded retention columns and `cohort_period` chooses the cohort unit;
/// `customers` gained the loyalty tier columns; new tables `tier_migration`
/// and the target lists.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool_version: String,
    pub run_id: String,
    /// Hash of config, input fingerprints, requested as_of and tool version.
    pub run_key: String,
    pub pipeline: String,
    pub pipeline_path: String,
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
    pub inputs: Vec<InputRecord>,
    pub rows: RowRecord,
    pub rejects_by_reason: Vec<(String, u64)>,
    pub customers: u64,
    /// The survey input, when the pipeline has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surveys: Option<SurveysRecord>,
    pub stages: Vec<StageRecord>,
    pub checks: Vec<CheckRecord>,
    pub outputs: Vec<WrittenFile>,
    /// The run's HTML report, beside the tables.
    #[serde(default)]
    pub report: Option<String>,
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

fn default_cohort_period() -> String {
    "month".to_string()
}
