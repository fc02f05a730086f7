//! TODO: module doc for the tier_migration table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static TIER_MIGRATION: TableSchema = TableSchema {
    name: "tier_migration",
    grain: "one row per month, from tier and to tier (the full grid, zero rows kept)",
    key: &[col::MONTH, col::FROM_TIER, col::TO_TIER],
    order: "by month, then from and to tier in tier order",
    written: Written::WithLoyalty,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::MONTH, Kind::Date, "TODO"),
        column(col::FROM_TIER, Kind::Text, "TODO"),
        column(col::TO_TIER, Kind::Text, "TODO"),
        column(col::MOVEMENT, Kind::Text, "TODO"),
        column(col::CUSTOMERS, Kind::Int64, "TODO"),
        column(col::MONTH_COMPLETE, Kind::Bool, "TODO"),
    ],
};
