//! TODO: module doc for the cohort_retention, retention_curve table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static COHORT_RETENTION: TableSchema = TableSchema {
    name: "cohort_retention",
    grain: "one row per cohort and period after it",
    key: &[col::COHORT_MONTH, col::PERIOD],
    order: "by cohort, then period",
    written: Written::Always,
    sliced: true,
    cohort_named: true,
    columns: &[
        column(col::COHORT_MONTH, Kind::Date, "TODO"),
        column(col::PERIOD, Kind::Int64, "TODO"),
        column(col::COHORT_SIZE, Kind::Int64, "TODO"),
        column(col::ACTIVE_CUSTOMERS, Kind::Int64, "TODO"),
        column(col::RETENTION_RATE, Kind::Float64, "TODO"),
        column(col::ORDERS, Kind::Int64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::REVENUE_PER_CUSTOMER, Kind::Float64, "TODO"),
        column(col::CUMULATIVE_REVENUE_PER_CUSTOMER, Kind::Float64, "TODO"),
        column(col::PERIOD_COMPLETE, Kind::Bool, "TODO"),
        column(col::UNBOUNDED_ACTIVE_CUSTOMERS, Kind::Int64, "TODO"),
        column(col::UNBOUNDED_RETENTION_RATE, Kind::Float64, "TODO"),
    ],
};

pub static RETENTION_CURVE: TableSchema = TableSchema {
    name: "retention_curve",
    grain: "one row per period after acquisition",
    key: &[col::PERIOD],
    order: "by period",
    written: Written::Always,
    sliced: true,
    cohort_named: false,
    columns: &[
        column(col::PERIOD, Kind::Int64, "TODO"),
        column(col::COHORTS, Kind::Int64, "TODO"),
        column(col::CUSTOMERS, Kind::Int64, "TODO"),
        column(col::RETAINED, Kind::Int64, "TODO"),
        column(col::RETENTION_RATE, Kind::Float64, "TODO"),
        column(col::UNBOUNDED_RETAINED, Kind::Int64, "TODO"),
        column(col::UNBOUNDED_RETENTION_RATE, Kind::Float64, "TODO"),
    ],
};
