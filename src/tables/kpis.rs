//! TODO: module doc for the kpis_monthly table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static KPIS_MONTHLY: TableSchema = TableSchema {
    name: "kpis_monthly",
    grain: "one row per calendar month",
    key: &[col::MONTH],
    order: "by month",
    written: Written::Always,
    sliced: true,
    cohort_named: false,
    columns: &[
        column(col::MONTH, Kind::Date, "TODO"),
        column(col::CUSTOMERS_START, Kind::Int64, "TODO"),
        column(col::CUSTOMERS_END, Kind::Int64, "TODO"),
        column(col::NEW_CUSTOMERS, Kind::Int64, "TODO"),
        column(col::RETAINED, Kind::Int64, "TODO"),
        column(col::CHURNED, Kind::Int64, "TODO"),
        column(col::REACTIVATED, Kind::Int64, "TODO"),
        column(col::CRR, Kind::Float64, "TODO"),
        column(col::CHURN_RATE, Kind::Float64, "TODO"),
        column(col::PURCHASING_CUSTOMERS, Kind::Int64, "TODO"),
        column(col::ORDERS, Kind::Int64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::AOV, Kind::Float64, "TODO"),
        column(col::PURCHASE_FREQUENCY, Kind::Float64, "TODO"),
        column(col::RETURNING_CUSTOMERS, Kind::Int64, "TODO"),
        column(col::REPEAT_CUSTOMER_RATE, Kind::Float64, "TODO"),
        column(col::MONTH_COMPLETE, Kind::Bool, "TODO"),
    ],
};
