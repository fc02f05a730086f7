//! TODO: module doc for the checks table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static CHECKS: TableSchema = TableSchema {
    name: "checks",
    grain: "one row per reconciliation check",
    key: &[col::CHECK],
    order: "in the order the checks run",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CHECK, Kind::Text, "TODO"),
        column(col::EXPECTED, Kind::Int64, "TODO"),
        column(col::ACTUAL, Kind::Int64, "TODO"),
        column(col::PASSED, Kind::Bool, "TODO"),
    ],
};
