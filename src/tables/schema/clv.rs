//! The declaration of `clv_model`, `clv_validation`, `clv_model_selection`, `clv_forecast` (the frames are built in `tables::clv`).

use super::col;
use super::table::{column, Kind, TableSchema, Written};

pub static CLV_MODEL: TableSchema = TableSchema {
    name: "clv_model",
    grain: "one row per model parameter",
    key: &[col::MODEL, col::PARAMETER],
    order: "purchase models (bg_nbd, pareto_nbd, mbg_nbd: those fitted), then Gamma-Gamma",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::MODEL,
            Kind::Text,
            "the model: `bg_nbd`, `pareto_nbd`, `mbg_nbd` (purchase models) or `gamma_gamma` (spend)",
        ),
        column(
            col::PARAMETER,
            Kind::Text,
            "the parameter: r, alpha, a, b (BG/NBD, MBG/NBD), r, alpha, s, beta (Pareto/NBD) or p, q, gamma (Gamma-Gamma)",
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
            "`converged`, `not_converged`, `on_boundary` (BG/NBD and MBG/NBD with a, b without bound, Pareto/NBD with s, β without bound: the homogeneous-dropout limit) or `not_fitted` (no customer to fit)",
        ),
        column(
            col::UNCOMPUTABLE_CUSTOMERS,
            Kind::Int64,
            "customers whose predictions from this model could not be computed (their expected_orders and clv are null); null for a model that did not score the customers",
        ),
        column(
            col::CHOSEN,
            Kind::Bool,
            "true for the purchase model that scored the customers, and for Gamma-Gamma when its fit gave the expected order values",
        ),
    ],
    restatable: None,
};

pub static CLV_VALIDATION: TableSchema = TableSchema {
    name: "clv_validation",
    grain: "one row per purchase model and holdout bucket",
    key: &[col::MODEL, col::BUCKET],
    order: "by model as in clv_model; overall first, then buckets by calibration frequency",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::MODEL,
            Kind::Text,
            "the purchase model refitted on the calibration period: `bg_nbd`, `pareto_nbd` or `mbg_nbd`",
        ),
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
    restatable: None,
};

pub static CLV_MODEL_SELECTION: TableSchema = TableSchema {
    name: "clv_model_selection",
    grain: "one row per fitted purchase model",
    key: &[col::MODEL],
    order: "bg_nbd, pareto_nbd, mbg_nbd (those fitted)",
    written: Written::WithClv,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::MODEL,
            Kind::Text,
            "the purchase model: `bg_nbd`, `pareto_nbd` or `mbg_nbd`",
        ),
        column(
            col::CHOSEN,
            Kind::Bool,
            "true for the model that scored the customers: the lowest aic among the models tied on holdout_mae (holdout_mae_tied); aic alone without a holdout",
        ),
        column(
            col::FIT_STATUS,
            Kind::Text,
            "how the full-history fit ended, as in clv_model",
        ),
        column(
            col::LOG_LIKELIHOOD,
            Kind::Float64,
            "total log-likelihood of the full-history fit (time in days)",
        ),
        column(
            col::PARAMETER_COUNT,
            Kind::Int64,
            "free parameters k (4 for each model)",
        ),
        column(
            col::CUSTOMERS,
            Kind::Int64,
            "customers n of the full-history fit",
        ),
        column(
            col::AIC,
            Kind::Float64,
            "2k − 2·log_likelihood; null when the log-likelihood is not finite",
        ),
        column(
            col::BIC,
            Kind::Float64,
            "k·ln(n) − 2·log_likelihood; null when the log-likelihood is not finite",
        ),
        column(
            col::PARAM_R,
            Kind::Float64,
            "r, the purchase rates' Gamma shape (every model)",
        ),
        column(
            col::PARAM_ALPHA,
            Kind::Float64,
            "alpha, the purchase rates' Gamma rate, in days (every model)",
        ),
        column(
            col::PARAM_A,
            Kind::Float64,
            "a of the dropout probability's Beta (BG/NBD, MBG/NBD); null for Pareto/NBD",
        ),
        column(
            col::PARAM_B,
            Kind::Float64,
            "b of the dropout probability's Beta (BG/NBD, MBG/NBD); null for Pareto/NBD",
        ),
        column(
            col::PARAM_S,
            Kind::Float64,
            "s, the dropout rates' Gamma shape (Pareto/NBD); null otherwise",
        ),
        column(
            col::PARAM_BETA,
            Kind::Float64,
            "beta, the dropout rates' Gamma rate, in days (Pareto/NBD); null otherwise",
        ),
        column(
            col::HOLDOUT_CUSTOMERS,
            Kind::Int64,
            "calibration customers in the holdout comparison; null without a holdout",
        ),
        column(
            col::HOLDOUT_MAE,
            Kind::Float64,
            "mean absolute error of the holdout order days per customer (clv_validation's overall row)",
        ),
        column(
            col::HOLDOUT_RMSE,
            Kind::Float64,
            "root mean square error of the holdout order days per customer",
        ),
        column(
            col::HOLDOUT_RELATIVE_BIAS,
            Kind::Float64,
            "(Σ predicted − Σ actual) / Σ actual over the holdout",
        ),
        column(
            col::HOLDOUT_MAE_TIED,
            Kind::Bool,
            "true when holdout_mae is within two standard errors (of the paired per-customer differences) of the lowest: tied models are told apart by aic; null without a holdout",
        ),
    ],
    restatable: None,
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
            col::EXPECTED_ORDERS_LOW,
            Kind::Float64,
            "lower end of expected_orders' central interval ([clv] interval) from the purchase fit's sampling error; null when it cannot be computed",
        ),
        column(
            col::EXPECTED_ORDERS_HIGH,
            Kind::Float64,
            "upper end of that interval",
        ),
        column(
            col::EXPECTED_REVENUE,
            Kind::Float64,
            "Σ expected orders × expected order value over customers",
        ),
        column(
            col::EXPECTED_REVENUE_LOW,
            Kind::Float64,
            "lower end of expected_revenue's central interval from the purchase and Gamma-Gamma fits' sampling error; null when it cannot be computed",
        ),
        column(
            col::EXPECTED_REVENUE_HIGH,
            Kind::Float64,
            "upper end of that interval",
        ),
        column(
            col::DISCOUNTED_REVENUE,
            Kind::Float64,
            "expected_revenue / (1 + discount_rate_monthly)^j",
        ),
        column(
            col::DISCOUNTED_REVENUE_LOW,
            Kind::Float64,
            "expected_revenue_low / (1 + discount_rate_monthly)^j",
        ),
        column(
            col::DISCOUNTED_REVENUE_HIGH,
            Kind::Float64,
            "expected_revenue_high / (1 + discount_rate_monthly)^j",
        ),
    ],
    restatable: None,
};
