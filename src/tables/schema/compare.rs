//! The declarations of `restatements`, `run_comparison` and `gates`: what
//! a run found when it compared itself with the run before it (the
//! comparison is `stages::compare`, the frames are built in
//! `tables::compare`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static RESTATEMENTS: TableSchema = TableSchema {
    name: "restatements",
    grain: "one row per restated value (the largest changes first, at most 1,000), then one total per table and column",
    key: &[col::ROW_KIND, col::TABLE_NAME, col::ROW_KEY, col::COLUMN_NAME],
    order: "values by relative change, largest first; then totals in table and column order",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::ROW_KIND,
            Kind::Text,
            "`value`: one restated value; `total`: every restated value of one table and column",
        ),
        column(col::TABLE_NAME, Kind::Text, "the table the value is in"),
        column(
            col::ROW_KEY,
            Kind::Text,
            "the row's key as `column=value` pairs (slice, month, cohort and period…); null for a total",
        ),
        column(col::COLUMN_NAME, Kind::Text, "the restated column"),
        column(
            col::PREVIOUS,
            Kind::Float64,
            "the value in the previous run (a total: the sum over the restated values)",
        ),
        column(col::CURRENT, Kind::Float64, "the value in this run (a total: the sum)"),
        column(
            col::CHANGE,
            Kind::Float64,
            "current − previous; null when either is null",
        ),
        column(
            col::RELATIVE_CHANGE,
            Kind::Float64,
            "change / |previous|; null when previous is 0 or null",
        ),
        column(
            col::RESTATED_VALUES,
            Kind::Int64,
            "1 for a value; for a total, the restated values of its table and column (all of them, not only those listed)",
        ),
    ],
    restatable: None,
};

pub static RUN_COMPARISON: TableSchema = TableSchema {
    name: "run_comparison",
    grain: "one row per compared figure",
    key: &[col::SECTION, col::ITEM],
    order: "run, definitions, rows, totals, inputs, CLV, restated; in each, as computed",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::SECTION,
            Kind::Text,
            "`run`, `definitions`, `rows`, `totals`, `input`, `clv_parameter`, `clv_model`, `restated`",
        ),
        column(
            col::ITEM,
            Kind::Text,
            "the figure: a row count, a total, an input file's path, `model.parameter`, a table",
        ),
        column(col::PREVIOUS, Kind::Float64, "its value in the previous run"),
        column(col::CURRENT, Kind::Float64, "its value in this run"),
        column(col::CHANGE, Kind::Float64, "current − previous"),
        column(
            col::RELATIVE_CHANGE,
            Kind::Float64,
            "change / |previous|; null when previous is 0 or null",
        ),
        column(
            col::STANDARD_ERRORS,
            Kind::Float64,
            "a CLV parameter's change in the previous run's standard errors",
        ),
        column(
            col::PREVIOUS_TEXT,
            Kind::Text,
            "a text value in the previous run (run id, as_of, setting, chosen model)",
        ),
        column(col::CURRENT_TEXT, Kind::Text, "the text value in this run"),
        column(
            col::STATUS,
            Kind::Text,
            "`same`, `changed`, `added`, `removed`; `none` when there is no previous run; `not_compared` with definitions changed",
        ),
    ],
    restatable: None,
};

pub static GATES: TableSchema = TableSchema {
    name: "gates",
    grain: "one row per gate",
    key: &[col::GATE],
    order: "in the order the README lists the gates",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::GATE, Kind::Text, "the gate's key in `[gates]`"),
        column(col::ACTION, Kind::Text, "`fail`, `warn` or `off`"),
        column(
            col::THRESHOLD,
            Kind::Float64,
            "the gate fires when the measured value is above it",
        ),
        column(
            col::MEASURED,
            Kind::Float64,
            "the measured value; null when the gate was not evaluated",
        ),
        column(
            col::OUTCOME,
            Kind::Text,
            "`passed`, `warned`, `accepted` (failed, published with --accept-changes) or `skipped`",
        ),
        column(
            col::DETAIL,
            Kind::Text,
            "what was measured, or why the gate was skipped",
        ),
    ],
    restatable: None,
};

/// Values of `run_comparison.section`.
pub mod section {
    pub const RUN: &str = "run";
    pub const DEFINITIONS: &str = "definitions";
    pub const ROWS: &str = "rows";
    pub const TOTALS: &str = "totals";
    pub const INPUT: &str = "input";
    pub const CLV_PARAMETER: &str = "clv_parameter";
    pub const CLV_MODEL: &str = "clv_model";
    pub const RESTATED: &str = "restated";
}

/// Values of `run_comparison.status` (and `retention diff`'s).
pub mod status {
    /// There is no previous run.
    pub const NONE: &str = "none";
    pub const SAME: &str = "same";
    pub const CHANGED: &str = "changed";
    /// An input file only this run read.
    pub const ADDED: &str = "added";
    /// An input file only the previous run read.
    pub const REMOVED: &str = "removed";
    /// The previous run did not record its definitions.
    pub const UNKNOWN: &str = "unknown";
    /// Restatements were not computed: the definitions differ.
    pub const NOT_COMPARED: &str = "not_compared";
}

/// The `run_comparison` items other parts look up.
pub mod item {
    pub const RUN_ID: &str = "run_id";
    pub const AS_OF: &str = "as_of";
    /// The `definitions` row when they are the same (or unknown).
    pub const DEFINITIONS: &str = "definitions";
    pub const ROWS_READ: &str = "rows_read";
    /// The `clv_model` row naming the chosen purchase model.
    pub const CHOSEN: &str = "chosen";
    /// The `clv_model` row with the chosen model's holdout MAE.
    pub const HOLDOUT_MAE: &str = "holdout_mae";
    /// The `restated` row when restatements were not computed.
    pub const ALL_TABLES: &str = "(all tables)";
    /// The suffix of a `restated` row counting a table's restated values.
    pub const RESTATED_VALUES: &str = ".restated_values";
    /// The suffix of a `restated` row with a table's restated revenue share.
    pub const REVENUE_SHARE: &str = ".revenue_share";
}

/// Values of `restatements.row_kind`.
pub mod row_kind {
    /// One restated value.
    pub const VALUE: &str = "value";
    /// Every restated value of one table and column.
    pub const TOTAL: &str = "total";
}
