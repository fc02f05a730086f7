//! The declaration of `rejects` (the frames are built in `tables::rejects`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static REJECTS: TableSchema = TableSchema {
    name: "rejects",
    grain: "one row per rejected input row",
    key: &[col::SOURCE, col::ROW],
    order: "by source, then row",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::SOURCE, Kind::Text, "path of the input file the row came from"),
        column(col::ROW, Kind::Int64, "1-based data row in that file (header not counted)"),
        column(col::REASON, Kind::Text, "why the row was rejected, one name from the closed list (e.g. `invalid_amount`)"),
        column(col::COLUMN_NAME, Kind::Text, "the source column at fault; null when no single column is"),
        column(col::VALUE, Kind::Text, "that column's raw value (for an order total out of range, the total); null when missing"),
        column(col::RAW_RECORD, Kind::Text, "the row's mapped source columns as a JSON object of their raw text"),
    ],
    restatable: None,
};
