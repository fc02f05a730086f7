//! The declaration of `win_back`, `at_risk_high_value`, `reengage_new`, `vip` (the frames are built in `tables::targets`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static WIN_BACK: TableSchema = TableSchema {
    name: "win_back",
    grain: "one row per lapsed customer",
    key: &[col::CUSTOMER_ID],
    order: "by revenue descending, then customer_id",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "the customer"),
        column(
            col::LAST_ORDER_DATE,
            Kind::Date,
            "date of the last order (refunds are not orders)",
        ),
        column(
            col::DAYS_SINCE_LAST_ORDER,
            Kind::Int64,
            "as_of − last_order_date, in days (at least the activity window)",
        ),
        column(col::ORDERS, Kind::Int64, "orders up to as_of"),
        column(
            col::REVENUE,
            Kind::Float64,
            "net revenue up to as_of (orders minus refunds)",
        ),
        column(
            col::SUGGESTED_ACTION,
            Kind::Text,
            "the list's fixed suggestion",
        ),
    ],
    restatable: None,
};

pub static AT_RISK_HIGH_VALUE: TableSchema = TableSchema {
    name: "at_risk_high_value",
    grain: "one row per at-risk high-value customer",
    key: &[col::CUSTOMER_ID],
    order: "by clv descending, then customer_id",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "the customer"),
        column(col::CLV, Kind::Float64, "predicted CLV over the horizon"),
        column(
            col::CLV_QUANTILE,
            Kind::Float64,
            "share of all customers with a strictly lower CLV (at least high_clv_quantile)",
        ),
        column(
            col::P_ALIVE,
            Kind::Float64,
            "probability the customer is still alive (below p_alive_below)",
        ),
        column(col::FREQUENCY, Kind::Int64, "distinct order days − 1"),
        column(
            col::RECENCY_DAYS,
            Kind::Int64,
            "days from the first to the last order day",
        ),
        column(
            col::USUAL_GAP_DAYS,
            Kind::Float64,
            "recency_days / frequency: their usual gap between order days",
        ),
        column(
            col::DAYS_SINCE_LAST_ORDER,
            Kind::Int64,
            "as_of − last order, in days (more than usual_gap_days)",
        ),
        column(
            col::REVENUE,
            Kind::Float64,
            "net revenue up to as_of (orders minus refunds)",
        ),
        column(
            col::SUGGESTED_ACTION,
            Kind::Text,
            "the list's fixed suggestion",
        ),
    ],
    restatable: None,
};

pub static REENGAGE_NEW: TableSchema = TableSchema {
    name: "reengage_new",
    grain: "one row per one-time buyer to re-engage",
    key: &[col::CUSTOMER_ID],
    order: "by revenue descending, then customer_id",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "the customer"),
        column(col::FIRST_ORDER_DATE, Kind::Date, "date of their one order"),
        column(col::DAYS_SINCE_FIRST_ORDER, Kind::Int64, "as_of − first_order_date, in days (more than typical_gap_days)"),
        column(col::TYPICAL_GAP_DAYS, Kind::Float64, "reengage_after_days, or the median days from first to second order; the same on every row"),
        column(col::REVENUE, Kind::Float64, "net revenue up to as_of (orders minus refunds)"),
        column(col::SUGGESTED_ACTION, Kind::Text, "the list's fixed suggestion"),
    ],
    restatable: None,
};

pub static VIP: TableSchema = TableSchema {
    name: "vip",
    grain: "one row per VIP customer",
    key: &[col::CUSTOMER_ID],
    order: "by trailing_12m_spend descending, then customer_id",
    written: Written::WithLoyaltyOrClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "the customer"),
        column(
            col::TIER,
            Kind::Text,
            "loyalty tier at as_of; null without tiers",
        ),
        column(
            col::TRAILING_12M_SPEND,
            Kind::Float64,
            "net spend in the twelve months ending on as_of",
        ),
        column(
            col::TOP_TIER,
            Kind::Bool,
            "whether the tier is the top tier; null without tiers",
        ),
        column(
            col::CLV,
            Kind::Float64,
            "predicted CLV over the horizon; null without the CLV stage",
        ),
        column(
            col::CLV_QUANTILE,
            Kind::Float64,
            "share of all customers with a strictly lower CLV; null without the CLV stage",
        ),
        column(
            col::TOP_CLV,
            Kind::Bool,
            "whether clv_quantile ≥ vip_clv_quantile; null without the CLV stage",
        ),
        column(
            col::REVENUE,
            Kind::Float64,
            "net revenue up to as_of (orders minus refunds)",
        ),
        column(
            col::SUGGESTED_ACTION,
            Kind::Text,
            "the list's fixed suggestion",
        ),
    ],
    restatable: None,
};
