//! The declaration of `cohort_retention`, `retention_curve` (the frames are built in `tables::cohorts`).

use super::col;
use super::table::{column, Kind, Restatable, TableSchema, Written};

pub static COHORT_RETENTION: TableSchema = TableSchema {
    name: "cohort_retention",
    grain: "one row per cohort with customers and period 0 ..= as_of's period after it",
    key: &[col::COHORT_MONTH, col::PERIOD],
    order: "by cohort, then period",
    written: Written::Always,
    sliced: true,
    cohort_named: true,
    columns: &[
        column(
            col::COHORT_MONTH,
            Kind::Date,
            "First day of the cohort's period (named cohort_week or cohort_quarter for those units).",
        ),
        column(
            col::PERIOD,
            Kind::Int64,
            "Whole periods from the cohort's period (0 for the cohort's own).",
        ),
        column(
            col::COHORT_SIZE,
            Kind::Int64,
            "Customers whose first order is in the cohort's period.",
        ),
        column(
            col::ACTIVE_CUSTOMERS,
            Kind::Int64,
            "Cohort customers with an order in the period.",
        ),
        column(
            col::RETENTION_RATE,
            Kind::Float64,
            "active_customers / cohort_size.",
        ),
        column(
            col::ORDERS,
            Kind::Int64,
            "The cohort's orders in the period (refunds excluded).",
        ),
        column(
            col::REVENUE,
            Kind::Float64,
            "The cohort's net revenue in the period, with its refunds dated then.",
        ),
        column(
            col::REVENUE_PER_CUSTOMER,
            Kind::Float64,
            "revenue / cohort_size.",
        ),
        column(
            col::CUMULATIVE_REVENUE_PER_CUSTOMER,
            Kind::Float64,
            "The cohort's revenue in periods 0 ..= period, / cohort_size.",
        ),
        column(
            col::PERIOD_COMPLETE,
            Kind::Bool,
            "Whether the period's last day is on or before as_of.",
        ),
        column(
            col::UNBOUNDED_ACTIVE_CUSTOMERS,
            Kind::Int64,
            "Cohort customers with an order in the period or any later one up to as_of.",
        ),
        column(
            col::UNBOUNDED_RETENTION_RATE,
            Kind::Float64,
            "unbounded_active_customers / cohort_size.",
        ),
    ],
    restatable: Some(Restatable {
        complete: col::PERIOD_COMPLETE,
        columns: &[col::COHORT_SIZE, col::ACTIVE_CUSTOMERS, col::ORDERS, col::REVENUE],
    }),
};

pub static RETENTION_CURVE: TableSchema = TableSchema {
    name: "retention_curve",
    grain: "one row per period after acquisition, 0 ..= the longest period",
    key: &[col::PERIOD],
    order: "by period",
    written: Written::Always,
    sliced: true,
    cohort_named: false,
    columns: &[
        column(
            col::PERIOD,
            Kind::Int64,
            "Whole periods after the cohort's period.",
        ),
        column(
            col::COHORTS,
            Kind::Int64,
            "Cohorts whose period `period` is complete.",
        ),
        column(col::CUSTOMERS, Kind::Int64, "Those cohorts' total size."),
        column(
            col::RETAINED,
            Kind::Int64,
            "Their customers active in that period.",
        ),
        column(
            col::RETENTION_RATE,
            Kind::Float64,
            "retained / customers (weighted over the cohorts).",
        ),
        column(
            col::UNBOUNDED_RETAINED,
            Kind::Int64,
            "Their customers with an order in that period or later (up to as_of).",
        ),
        column(
            col::UNBOUNDED_RETENTION_RATE,
            Kind::Float64,
            "unbounded_retained / customers.",
        ),
    ],
    restatable: None,
};
