//! TODO: module doc for the win_back, at_risk_high_value, reengage_new, vip table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static WIN_BACK: TableSchema = TableSchema {
    name: "win_back",
    grain: "one row per lapsed customer",
    key: &[col::CUSTOMER_ID],
    order: "TODO",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "TODO"),
        column(col::LAST_ORDER_DATE, Kind::Date, "TODO"),
        column(col::DAYS_SINCE_LAST_ORDER, Kind::Int64, "TODO"),
        column(col::ORDERS, Kind::Int64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::SUGGESTED_ACTION, Kind::Text, "TODO"),
    ],
};

pub static AT_RISK_HIGH_VALUE: TableSchema = TableSchema {
    name: "at_risk_high_value",
    grain: "one row per at-risk high-value customer",
    key: &[col::CUSTOMER_ID],
    order: "TODO",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "TODO"),
        column(col::CLV, Kind::Float64, "TODO"),
        column(col::CLV_QUANTILE, Kind::Float64, "TODO"),
        column(col::P_ALIVE, Kind::Float64, "TODO"),
        column(col::FREQUENCY, Kind::Int64, "TODO"),
        column(col::RECENCY_DAYS, Kind::Int64, "TODO"),
        column(col::USUAL_GAP_DAYS, Kind::Float64, "TODO"),
        column(col::DAYS_SINCE_LAST_ORDER, Kind::Int64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::SUGGESTED_ACTION, Kind::Text, "TODO"),
    ],
};

pub static REENGAGE_NEW: TableSchema = TableSchema {
    name: "reengage_new",
    grain: "one row per one-time buyer to re-engage",
    key: &[col::CUSTOMER_ID],
    order: "TODO",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "TODO"),
        column(col::FIRST_ORDER_DATE, Kind::Date, "TODO"),
        column(col::DAYS_SINCE_FIRST_ORDER, Kind::Int64, "TODO"),
        column(col::TYPICAL_GAP_DAYS, Kind::Float64, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::SUGGESTED_ACTION, Kind::Text, "TODO"),
    ],
};

pub static VIP: TableSchema = TableSchema {
    name: "vip",
    grain: "one row per VIP customer",
    key: &[col::CUSTOMER_ID],
    order: "TODO",
    written: Written::WithLoyaltyOrClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "TODO"),
        column(col::TIER, Kind::Text, "TODO"),
        column(col::TRAILING_12M_SPEND, Kind::Float64, "TODO"),
        column(col::TOP_TIER, Kind::Bool, "TODO"),
        column(col::CLV, Kind::Float64, "TODO"),
        column(col::CLV_QUANTILE, Kind::Float64, "TODO"),
        column(col::TOP_CLV, Kind::Bool, "TODO"),
        column(col::REVENUE, Kind::Float64, "TODO"),
        column(col::SUGGESTED_ACTION, Kind::Text, "TODO"),
    ],
};
