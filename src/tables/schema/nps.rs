//! The declaration of `nps_monthly`, `nps_by_cohort`, `nps_by_tier`, `nps_retention` (the frames are built in `tables::nps`).

use super::col;
use super::table::{column, ColumnSchema, Kind, Restatable, TableSchema, Written};

/// The count columns every NPS table but `nps_retention` ends with (before
/// `month_complete` in `nps_monthly`).
const COUNT_COLUMNS: [ColumnSchema; 5] = [
    column(
        col::RESPONSES,
        Kind::Int64,
        "accepted survey responses counted in the row",
    ),
    column(col::PROMOTERS, Kind::Int64, "responses scored 9 or 10"),
    column(col::PASSIVES, Kind::Int64, "responses scored 7 or 8"),
    column(col::DETRACTORS, Kind::Int64, "responses scored 0 to 6"),
    column(
        col::NPS,
        Kind::Float64,
        "100 · (promoters − detractors) / responses, in points; null without responses",
    ),
];

const RESPONDENTS_DOC: &str = "customers with at least one response counted in the row";

pub static NPS_MONTHLY: TableSchema = TableSchema {
    name: "nps_monthly",
    grain: "one row per calendar month",
    key: &[col::MONTH],
    order: "by month",
    written: Written::WithSurveys,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::MONTH, Kind::Date, "first day of the month of the responses' local dates (first cohort month to as_of's month)"),
        COUNT_COLUMNS[0],
        COUNT_COLUMNS[1],
        COUNT_COLUMNS[2],
        COUNT_COLUMNS[3],
        COUNT_COLUMNS[4],
        column(col::MONTH_COMPLETE, Kind::Bool, "whether the month's last day is on or before as_of"),
    ],
    restatable: Some(Restatable {
        complete: col::MONTH_COMPLETE,
        columns: &[col::RESPONSES, col::PROMOTERS, col::PASSIVES, col::DETRACTORS],
    }),
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
        column(
            col::COHORT_MONTH,
            Kind::Date,
            "first day of the month of the customers' first order (cohorts with customers only)",
        ),
        column(col::COHORT_SIZE, Kind::Int64, "customers in the cohort"),
        column(col::RESPONDENTS, Kind::Int64, RESPONDENTS_DOC),
        COUNT_COLUMNS[0],
        COUNT_COLUMNS[1],
        COUNT_COLUMNS[2],
        COUNT_COLUMNS[3],
        COUNT_COLUMNS[4],
    ],
    restatable: None,
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
        column(
            col::TIER,
            Kind::Text,
            "loyalty tier at as_of of the responding customers (every tier, lowest first)",
        ),
        column(col::RESPONDENTS, Kind::Int64, RESPONDENTS_DOC),
        COUNT_COLUMNS[0],
        COUNT_COLUMNS[1],
        COUNT_COLUMNS[2],
        COUNT_COLUMNS[3],
        COUNT_COLUMNS[4],
    ],
    restatable: None,
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
        column(
            col::NPS_CATEGORY,
            Kind::Text,
            "category of the customer's first response: `detractor`, `passive` or `promoter`",
        ),
        column(
            col::MONTHS_AFTER,
            Kind::Int64,
            "months k after the first response's month, 1 to 12",
        ),
        column(
            col::RESPONDENTS,
            Kind::Int64,
            "customers of the category whose month m + k is complete",
        ),
        column(
            col::ORDERED,
            Kind::Int64,
            "those of them with an order (not a refund) in month m + k",
        ),
        column(
            col::RETENTION_RATE,
            Kind::Float64,
            "ordered / respondents; null without respondents",
        ),
    ],
    restatable: None,
};
