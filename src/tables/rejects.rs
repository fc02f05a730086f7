//! TODO: module doc for the rejects table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static REJECTS: TableSchema = TableSchema {
    name: "rejects",
    grain: "one row per rejected input row",
    key: &[col::SOURCE, col::ROW],
    order: "by source, then row",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::SOURCE, Kind::Text, "TODO"),
        column(col::ROW, Kind::Int64, "TODO"),
        column(col::REASON, Kind::Text, "TODO"),
        column(col::COLUMN, Kind::Text, "TODO"),
        column(col::VALUE, Kind::Text, "TODO"),
        column(col::RAW_RECORD, Kind::Text, "TODO"),
    ],
};
