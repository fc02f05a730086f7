//! The declaration of `kpis_monthly` (the frames are built in `tables::kpis`).

use super::col;
use super::table::{column, Kind, Restatable, TableSchema, Written};

pub static KPIS_MONTHLY: TableSchema = TableSchema {
    name: "kpis_monthly",
    grain: "one row per calendar month, the first cohort month ..= as_of's month",
    key: &[col::MONTH],
    order: "by month",
    written: Written::Always,
    sliced: true,
    cohort_named: false,
    columns: &[
        column(col::MONTH, Kind::Date, "The month's first day."),
        column(
            col::CUSTOMERS_START,
            Kind::Int64,
            "S: customers active on the day before the month starts.",
        ),
        column(
            col::CUSTOMERS_END,
            Kind::Int64,
            "E: customers active on the month's last day (as_of for as_of's month).",
        ),
        column(
            col::NEW_CUSTOMERS,
            Kind::Int64,
            "N: customers whose first order is in the month.",
        ),
        column(
            col::RETAINED,
            Kind::Int64,
            "Customers active at both the start and the end of the month.",
        ),
        column(col::CHURNED, Kind::Int64, "S − retained."),
        column(col::REACTIVATED, Kind::Int64, "E − retained − N."),
        column(
            col::CRR,
            Kind::Float64,
            "Customer retention rate (E − N) / S; can exceed 1 when reactivations outnumber churn.",
        ),
        column(col::CHURN_RATE, Kind::Float64, "churned / S."),
        column(
            col::PURCHASING_CUSTOMERS,
            Kind::Int64,
            "Customers with an order in the month.",
        ),
        column(
            col::ORDERS,
            Kind::Int64,
            "Orders in the month (refunds excluded).",
        ),
        column(
            col::REVENUE,
            Kind::Float64,
            "Net revenue of the month, refunds in the month of their own date.",
        ),
        column(
            col::AOV,
            Kind::Float64,
            "Average order value: revenue / orders.",
        ),
        column(
            col::PURCHASE_FREQUENCY,
            Kind::Float64,
            "orders / purchasing_customers.",
        ),
        column(
            col::RETURNING_CUSTOMERS,
            Kind::Int64,
            "Purchasing customers whose first order is before the month.",
        ),
        column(
            col::REPEAT_CUSTOMER_RATE,
            Kind::Float64,
            "returning_customers / purchasing_customers.",
        ),
        column(
            col::MONTH_COMPLETE,
            Kind::Bool,
            "Whether the month's last day is on or before as_of.",
        ),
    ],
    restatable: Some(Restatable {
        complete: col::MONTH_COMPLETE,
        columns: &[
            col::CUSTOMERS_START,
            col::CUSTOMERS_END,
            col::NEW_CUSTOMERS,
            col::RETAINED,
            col::CHURNED,
            col::REACTIVATED,
            col::PURCHASING_CUSTOMERS,
            col::ORDERS,
            col::REVENUE,
            col::RETURNING_CUSTOMERS,
        ],
    }),
};
