//! The declaration of `customers`, `segments` (the frames are built in `tables::customers`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static CUSTOMERS: TableSchema = TableSchema {
    name: "customers",
    grain: "one row per customer",
    key: &[col::CUSTOMER_ID],
    order: "by customer_id (byte order)",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::CUSTOMER_ID, Kind::Text, "The customer's id, as in the input."),
        column(
            col::COHORT_MONTH,
            Kind::Date,
            "First day of the month of the first order (monthly whatever the cohort period).",
        ),
        column(col::FIRST_ORDER_DATE, Kind::Date, "Local date of the first order."),
        column(col::LAST_ORDER_DATE, Kind::Date, "Local date of the latest order."),
        column(col::ORDERS, Kind::Int64, "Orders (refunds not counted)."),
        column(col::REVENUE, Kind::Float64, "Revenue net of refunds."),
        column(col::AVG_ORDER_VALUE, Kind::Float64, "revenue / orders."),
        column(col::FREQUENCY, Kind::Int64, "Distinct order days − 1."),
        column(col::RECENCY_DAYS, Kind::Int64, "Last − first order day."),
        column(col::TENURE_DAYS, Kind::Int64, "as_of − first order day."),
        column(
            col::MONETARY_VALUE,
            Kind::Float64,
            "Mean order total over the order days after the first (0 when frequency is 0).",
        ),
        column(col::DAYS_SINCE_LAST_ORDER, Kind::Int64, "as_of − last order day."),
        column(
            col::R_SCORE,
            Kind::Int32,
            "Recency quintile score 1–5 (fewer days since the last order is better).",
        ),
        column(col::F_SCORE, Kind::Int32, "Frequency quintile score 1–5 (by orders)."),
        column(col::M_SCORE, Kind::Int32, "Monetary quintile score 1–5 (by revenue)."),
        column(
            col::RFM_SEGMENT,
            Kind::Text,
            "Named RFM segment, the first matching rule of the segment table.",
        ),
        column(
            col::P_ALIVE,
            Kind::Float64,
            "Probability that the customer is still active, from the purchase model that scored the customers (null without CLV).",
        ),
        column(
            col::EXPECTED_ORDERS,
            Kind::Float64,
            "Expected orders (order days) over the CLV horizon, from the purchase model that scored the customers (clv_model.chosen); null without CLV or where it cannot be computed.",
        ),
        column(
            col::EXPECTED_ORDERS_LOW,
            Kind::Float64,
            "Lower end of expected_orders' central interval ([clv] interval, 80% by default) from the fitted parameters' sampling error (not the customer's own purchase randomness); null where no interval can be computed.",
        ),
        column(
            col::EXPECTED_ORDERS_HIGH,
            Kind::Float64,
            "Upper end of that interval.",
        ),
        column(
            col::P_NO_ORDER,
            Kind::Float64,
            "Probability of no order in the CLV horizon (null without CLV).",
        ),
        column(
            col::EXPECTED_AVG_ORDER_VALUE,
            Kind::Float64,
            "Gamma-Gamma expected order value (null without CLV).",
        ),
        column(
            col::CLV,
            Kind::Float64,
            "Discounted expected revenue over the CLV horizon (null without CLV).",
        ),
        column(
            col::CLV_LOW,
            Kind::Float64,
            "Lower end of clv's central interval ([clv] interval) from the purchase and Gamma-Gamma fits' sampling error; null where no interval can be computed.",
        ),
        column(col::CLV_HIGH, Kind::Float64, "Upper end of that interval."),
        column(
            col::CLV_SIMPLE,
            Kind::Float64,
            "avg_order_value × purchases per year × expected lifespan in years (null without CLV).",
        ),
        column(
            col::TRAILING_12M_SPEND,
            Kind::Float64,
            "Net revenue in the twelve months ending on as_of.",
        ),
        column(
            col::TIER,
            Kind::Text,
            "Loyalty tier at as_of (null without [loyalty]).",
        ),
        column(
            col::TIER_12M_AGO,
            Kind::Text,
            "Loyalty tier at as_of − 12 months; null without [loyalty] or when the first order is later.",
        ),
    ],
    restatable: None,
};

pub static SEGMENTS: TableSchema = TableSchema {
    name: "segments",
    grain: "one row per named RFM segment, empty ones kept",
    key: &[col::RFM_SEGMENT],
    order: "by segment name (byte order)",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::RFM_SEGMENT, Kind::Text, "The segment's name."),
        column(col::CUSTOMERS, Kind::Int64, "Customers in the segment."),
        column(col::REVENUE, Kind::Float64, "Their revenue net of refunds."),
        column(
            col::SHARE_OF_REVENUE,
            Kind::Float64,
            "The segment's revenue / all customers' revenue.",
        ),
        column(col::AVG_REVENUE, Kind::Float64, "revenue / customers."),
        column(
            col::AVG_CLV,
            Kind::Float64,
            "Mean clv of the segment's customers (null without CLV).",
        ),
        column(
            col::AVG_P_ALIVE,
            Kind::Float64,
            "Mean p_alive of the segment's customers (null without CLV).",
        ),
    ],
    restatable: None,
};
