//! The declaration of `tier_migration` (the frames are built in `tables::tiers`).

use super::col;
use super::table::{column, Kind, Restatable, TableSchema, Written};

pub static TIER_MIGRATION: TableSchema = TableSchema {
    name: "tier_migration",
    grain: "one row per month, from tier and to tier (the full grid, zero rows kept)",
    key: &[col::MONTH, col::FROM_TIER, col::TO_TIER],
    order: "by month, then from_tier (`(new)` first, then lowest to highest tier), then to_tier (lowest to highest)",
    written: Written::WithLoyalty,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::MONTH,
            Kind::Date,
            "first day of the month, from the first cohort month to as_of's month",
        ),
        column(
            col::FROM_TIER,
            Kind::Text,
            "tier at the end of the previous month, or `(new)` when the first order falls in the month",
        ),
        column(col::TO_TIER, Kind::Text, "tier at the end of the month (as_of for as_of's month)"),
        column(
            col::MOVEMENT,
            Kind::Text,
            "`new`, `up`, `down` or `same` (from_tier to to_tier)",
        ),
        column(
            col::CUSTOMERS,
            Kind::Int64,
            "customers acquired by the month's end who made this move (0 kept)",
        ),
        column(
            col::MONTH_COMPLETE,
            Kind::Bool,
            "whether the month's last day is on or before as_of",
        ),
    ],
    restatable: Some(Restatable {
        complete: col::MONTH_COMPLETE,
        columns: &[col::CUSTOMERS],
    }),
};

/// Values of `tier_migration.movement`.
pub mod movement {
    /// The customer's first month with a tier.
    pub const NEW: &str = "new";
    pub const UP: &str = "up";
    pub const DOWN: &str = "down";
    pub const SAME: &str = "same";
}
