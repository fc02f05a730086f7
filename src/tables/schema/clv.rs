//! The declaration of `clv_model`, `clv_validation`, `clv_forecast` (the frames are built in `tables::clv`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static CLV_MODEL: TableSchema = TableSchema {
    name: "clv_model",
    grain: "one row per model parameter",
    key: &[col::MODEL, col::PARAMETER],
    order: "BG/NBD parameters, then Gamma-Gamma",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::MODEL,
            Kind::Text,
            "the model: `bg_nbd` or `gamma_gamma`",
        ),
        column(
            col::PARAMETER,
            Kind::Text,
            "the parameter: r, alpha, a, b (BG/NBD) or p, q, gamma (Gamma-Gamma)",
        ),
        column(
            col::VALUE,
            Kind::Float64,
            "its maximum-likelihood estimate (time in days); null if not finite",
        ),
        column(
            col::STD_ERROR,
            Kind::Float64,
            "its standard error from the inverse Hessian; null when unavailable",
        ),
        column(
            col::LOG_LIKELIHOOD,
            Kind::Float64,
            "the model's total log-likelihood at the estimate (on each of its rows)",
        ),
        column(
            col::CUSTOMERS,
            Kind::Int64,
            "customers the model was fitted on (Gamma-Gamma: those with repeat orders)",
        ),
        column(
            col::CONVERGED,
            Kind::Bool,
            "true only for an interior maximum located to about 1e-6",
        ),
        column(
            col::ITERATIONS,
            Kind::Int64,
            "optimizer iterations of the fit",
        ),
        column(
            col::GRADIENT_NORM,
            Kind::Float64,
            "norm of the mean log-likelihood's gradient in log-parameters at the estimate",
        ),
        column(
            col::FIT_STATUS,
            Kind::Text,
            "`converged`, `not_converged`, `on_boundary` (BG/NBD with a, b without bound: the homogeneous-dropout limit) or `not_fitted` (no customer to fit)",
        ),
        column(
            col::UNCOMPUTABLE_CUSTOMERS,
            Kind::Int64,
            "customers whose predictions from this model could not be computed (their expected_orders and clv are null)",
        ),
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
        column(
            col::BUCKET,
            Kind::Text,
            "`overall`, or the calibration frequency `0` … `6`, `7+`",
        ),
        column(
            col::CUSTOMERS,
            Kind::Int64,
            "customers with an order on or before calibration_end in the bucket",
        ),
        column(
            col::ACTUAL_ORDERS,
            Kind::Float64,
            "Σ distinct order days in the holdout",
        ),
        column(
            col::PREDICTED_ORDERS,
            Kind::Float64,
            "Σ predicted repeat order days in the holdout, by the calibration refit",
        ),
        column(
            col::MAE,
            Kind::Float64,
            "mean absolute error per customer; null for an empty bucket",
        ),
        column(
            col::RMSE,
            Kind::Float64,
            "root mean square error per customer; null for an empty bucket",
        ),
        column(
            col::RELATIVE_BIAS,
            Kind::Float64,
            "(Σ predicted − Σ actual) / Σ actual; null when Σ actual is 0",
        ),
        column(
            col::HOLDOUT_DAYS,
            Kind::Int64,
            "length of the holdout in days (`[clv] holdout_days`)",
        ),
        column(
            col::CALIBRATION_END,
            Kind::Date,
            "last day of the calibration period: as_of − holdout_days",
        ),
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
        column(
            col::HORIZON_MONTH,
            Kind::Int64,
            "month j of the horizon, 1 … horizon_months",
        ),
        column(
            col::FROM_DAY,
            Kind::Float64,
            "the month's start in days after as_of: (j − 1) · 30.4375",
        ),
        column(
            col::TO_DAY,
            Kind::Float64,
            "the month's end in days after as_of: j · 30.4375",
        ),
        column(
            col::EXPECTED_ORDERS,
            Kind::Float64,
            "expected orders of all customers in the month",
        ),
        column(
            col::EXPECTED_REVENUE,
            Kind::Float64,
            "Σ expected orders × expected order value over customers",
        ),
        column(
            col::DISCOUNTED_REVENUE,
            Kind::Float64,
            "expected_revenue / (1 + discount_rate_monthly)^j",
        ),
    ],
};
