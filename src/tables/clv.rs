//! TODO: module doc for the clv_model, clv_validation, clv_forecast table(s).

use super::col;
use super::schema::{column, Kind, TableSchema, Written};

pub static CLV_MODEL: TableSchema = TableSchema {
    name: "clv_model",
    grain: "one row per model parameter",
    key: &[col::MODEL, col::PARAMETER],
    order: "BG/NBD parameters, then Gamma-Gamma",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::MODEL, Kind::Text, "TODO"),
        column(col::PARAMETER, Kind::Text, "TODO"),
        column(col::VALUE, Kind::Float64, "TODO"),
        column(col::STD_ERROR, Kind::Float64, "TODO"),
        column(col::LOG_LIKELIHOOD, Kind::Float64, "TODO"),
        column(col::CUSTOMERS, Kind::Int64, "TODO"),
        column(col::CONVERGED, Kind::Bool, "TODO"),
        column(col::ITERATIONS, Kind::Int64, "TODO"),
        column(col::GRADIENT_NORM, Kind::Float64, "TODO"),
    ],
};

pub static CLV_VALIDATION: TableSchema = TableSchema {
    name: "clv_validation",
    grain: "one row per holdout bucket",
    key: &[col::BUCKET],
    order: "overall first, then buckets by calibration frequency",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::BUCKET, Kind::Text, "TODO"),
        column(col::CUSTOMERS, Kind::Int64, "TODO"),
        column(col::ACTUAL_ORDERS, Kind::Float64, "TODO"),
        column(col::PREDICTED_ORDERS, Kind::Float64, "TODO"),
        column(col::MAE, Kind::Float64, "TODO"),
        column(col::RMSE, Kind::Float64, "TODO"),
        column(col::RELATIVE_BIAS, Kind::Float64, "TODO"),
        column(col::HOLDOUT_DAYS, Kind::Int64, "TODO"),
        column(col::CALIBRATION_END, Kind::Date, "TODO"),
    ],
};

pub static CLV_FORECAST: TableSchema = TableSchema {
    name: "clv_forecast",
    grain: "one row per month of the CLV horizon",
    key: &[col::HORIZON_MONTH],
    order: "by horizon_month",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(col::HORIZON_MONTH, Kind::Int64, "TODO"),
        column(col::FROM_DAY, Kind::Float64, "TODO"),
        column(col::TO_DAY, Kind::Float64, "TODO"),
        column(col::EXPECTED_ORDERS, Kind::Float64, "TODO"),
        column(col::EXPECTED_REVENUE, Kind::Float64, "TODO"),
        column(col::DISCOUNTED_REVENUE, Kind::Float64, "TODO"),
    ],
};
