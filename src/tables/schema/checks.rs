//! The declaration of `checks` (the frames are built in `tables::checks`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static CHECKS: TableSchema = TableSchema {
    name: "checks",
    grain: "one row per reconciliation check",
    key: &[col::CHECK_NAME],
    order: "in the order the checks run",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::CHECK_NAME,
            Kind::Text,
            "what is compared, e.g. `customers = sum of cohort sizes`",
        ),
        column(
            col::EXPECTED,
            Kind::Int64,
            "the reference figure (money in cents)",
        ),
        column(
            col::ACTUAL,
            Kind::Int64,
            "the figure found (money in cents)",
        ),
        column(
            col::PASSED,
            Kind::Bool,
            "expected = actual; always true when published (a failed check fails the run)",
        ),
    ],
    restatable: None,
};
