//! TODO: module doc for the customers, segments table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static CUSTOMERS: TableSchema = TableSchema {
    name: "customers",
    grain: "one row per customer",
    key: &[col::CUSTOMER_ID],
    order: "by customer_id",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "TODO"),
        column(col::COHORT_MONTH, Kind::Date, "TODO"),
        column(col::FIRST_ORDER_DATE, Kind::Date, "TODO"),
        column(col::LAST_ORDER_DATE, Kind::Date, "TODO"),
        column(col::ORDERS, Kind::Int64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::AVG_ORDER_VALUE, Kind::Float64, "TODO"),
        column(col::FREQUENCY, Kind::Int64, "TODO"),
        column(col::RECENCY_DAYS, Kind::Int64, "TODO"),
        column(col::TENURE_DAYS, Kind::Int64, "TODO"),
        column(col::MONETARY_VALUE, Kind::Float64, "TODO"),
        column(col::DAYS_SINCE_LAST_ORDER, Kind::Int64, "TODO"),
        column(col::R_SCORE, Kind::Int32, "TODO"),
        column(col::F_SCORE, Kind::Int32, "TODO"),
        column(col::M_SCORE, Kind::Int32, "TODO"),
        column(col::RFM_SEGMENT, Kind::Text, "TODO"),
        column(col::P_ALIVE, Kind::Float64, "TODO"),
        column(col::EXPECTED_ORDERS, Kind::Float64, "TODO"),
        column(col::P_NO_ORDER, Kind::Float64, "TODO"),
        column(col::EXPECTED_AVG_ORDER_VALUE, Kind::Float64, "TODO"),
        column(col::CLV, Kind::Float64, "TODO"),
        column(col::CLV_SIMPLE, Kind::Float64, "TODO"),
        column(col::TRAILING_12M_SPEND, Kind::Float64, "TODO"),
        column(col::TIER, Kind::Text, "TODO"),
        column(col::TIER_12M_AGO, Kind::Text, "TODO"),
    ],
};

pub static SEGMENTS: TableSchema = TableSchema {
    name: "segments",
    grain: "one row per RFM segment",
    key: &[col::RFM_SEGMENT],
    order: "segments in the order of the RFM rules",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::RFM_SEGMENT, Kind::Text, "TODO"),
        column(col::CUSTOMERS, Kind::Int64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::SHARE_OF_REVENUE, Kind::Float64, "TODO"),
        column(col::AVG_REVENUE, Kind::Float64, "TODO"),
        column(col::AVG_CLV, Kind::Float64, "TODO"),
        column(col::AVG_P_ALIVE, Kind::Float64, "TODO"),
    ],
};
