//! TODO: module doc for the nps_monthly, nps_by_cohort, nps_by_tier, nps_retention table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static NPS_MONTHLY: TableSchema = TableSchema {
    name: "nps_monthly",
    grain: "one row per calendar month",
    key: &[col::MONTH],
    order: "by month",
    written: Written::WithSurveys,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::MONTH, Kind::Date, "TODO"),
        column(col::RESPONSES, Kind::Int64, "TODO"),
        column(col::PROMOTERS, Kind::Int64, "TODO"),
        column(col::PASSIVES, Kind::Int64, "TODO"),
        column(col::DETRACTORS, Kind::Int64, "TODO"),
        column(col::NPS, Kind::Float64, "TODO"),
        column(col::MONTH_COMPLETE, Kind::Bool, "TODO"),
    ],
};

pub static NPS_BY_COHORT: TableSchema = TableSchema {
    name: "nps_by_cohort",
    grain: "one row per acquisition month",
    key: &[col::COHORT_MONTH],
    order: "by cohort_month",
    written: Written::WithSurveys,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::COHORT_MONTH, Kind::Date, "TODO"),
        column(col::COHORT_SIZE, Kind::Int64, "TODO"),
        column(col::RESPONDENTS, Kind::Int64, "TODO"),
        column(col::RESPONSES, Kind::Int64, "TODO"),
        column(col::PROMOTERS, Kind::Int64, "TODO"),
        column(col::PASSIVES, Kind::Int64, "TODO"),
        column(col::DETRACTORS, Kind::Int64, "TODO"),
        column(col::NPS, Kind::Float64, "TODO"),
    ],
};

pub static NPS_BY_TIER: TableSchema = TableSchema {
    name: "nps_by_tier",
    grain: "one row per loyalty tier",
    key: &[col::TIER],
    order: "tiers in rank order",
    written: Written::WithSurveysAndLoyalty,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::TIER, Kind::Text, "TODO"),
        column(col::RESPONDENTS, Kind::Int64, "TODO"),
        column(col::RESPONSES, Kind::Int64, "TODO"),
        column(col::PROMOTERS, Kind::Int64, "TODO"),
        column(col::PASSIVES, Kind::Int64, "TODO"),
        column(col::DETRACTORS, Kind::Int64, "TODO"),
        column(col::NPS, Kind::Float64, "TODO"),
    ],
};

pub static NPS_RETENTION: TableSchema = TableSchema {
    name: "nps_retention",
    grain: "one row per NPS category and month after the response",
    key: &[col::NPS_CATEGORY, col::MONTHS_AFTER],
    order: "by category, then months_after",
    written: Written::WithSurveys,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::NPS_CATEGORY, Kind::Text, "TODO"),
        column(col::MONTHS_AFTER, Kind::Int64, "TODO"),
        column(col::RESPONDENTS, Kind::Int64, "TODO"),
        column(col::ORDERED, Kind::Int64, "TODO"),
        column(col::RETENTION_RATE, Kind::Float64, "TODO"),
    ],
};
