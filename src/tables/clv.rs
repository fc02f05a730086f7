//! The CLV stage's tables ([`crate::stages::clv`], README "Predictive
//! CLV"): `clv_model`, the fitted purchase models and Gamma-Gamma with
//! their fit diagnostics; `clv_validation`, each purchase model refitted on
//! the calibration period (up to as_of − holdout_days) against the holdout;
//! `clv_model_selection`, the purchase models side by side and which one
//! scored the customers; `clv_forecast`, the expected orders and revenue
//! of all customers per month of the horizon. Written only with `[clv]
//! enabled`. No NaN or infinity is published: a non-finite figure is null.

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::clv::FitReport;
use crate::error::Result;
use crate::stages::clv::{
    fit_status, BucketFit, ClvOutput, Forecast, HoldoutValidation, SelectionRow,
};
use crate::tables::schema::clv::{CLV_FORECAST, CLV_MODEL, CLV_MODEL_SELECTION, CLV_VALIDATION};
use crate::tables::schema::col;

/// The four CLV tables, in publishing order.
pub fn clv_tables(output: &ClvOutput) -> Result<super::NamedFrames> {
    let scored = Scored {
        model: output.chosen.name(),
        gamma_gamma: output.gamma_gamma_used,
        uncomputable: output.uncomputable,
    };
    Ok(vec![
        (CLV_MODEL.name, clv_model_table(&output.fits, &scored)?),
        (
            CLV_VALIDATION.name,
            clv_validation_table(&output.validation)?,
        ),
        (
            CLV_MODEL_SELECTION.name,
            clv_model_selection_table(&output.selection)?,
        ),
        (CLV_FORECAST.name, clv_forecast_table(&output.forecast)?),
    ])
}

/// Which fits scored the customers.
pub struct Scored<'a> {
    /// The purchase model's name.
    pub model: &'a str,
    /// Whether Gamma-Gamma gave the expected order values.
    pub gamma_gamma: bool,
    /// Customers the purchase model could not score.
    pub uncomputable: usize,
}

impl Scored<'_> {
    fn chosen(&self, model: &str) -> bool {
        model == self.model || (model == "gamma_gamma" && self.gamma_gamma)
    }

    /// Gamma-Gamma's fallbacks are exact means, so it scores everyone; a
    /// purchase model that did not score has no count.
    fn uncomputable(&self, model: &str) -> Option<i64> {
        match model {
            "gamma_gamma" => Some(0),
            m if m == self.model => Some(self.uncomputable as i64),
            _ => None,
        }
    }
}

/// A fitted parameter: (name, value, standard error), as in [`FitReport`].
type Parameter = (&'static str, f64, Option<f64>);

/// A column: `f` of each row.
fn each<R, T>(rows: &[R], f: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// A published figure: null when not finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// `clv_model`: one row per model × parameter, in the order of the fit
/// reports and of their parameters; non-finite figures are null.
pub fn clv_model_table(fits: &[FitReport], scored: &Scored) -> Result<DataFrame> {
    let rows: Vec<(&FitReport, &Parameter)> = fits
        .iter()
        .flat_map(|r| r.parameters.iter().map(move |p| (r, p)))
        .collect();
    FrameBuilder::new(&CLV_MODEL, rows.len())
        .add(col::MODEL, each(&rows, |(r, _)| r.model))?
        .add(col::PARAMETER, each(&rows, |(_, p)| p.0))?
        .add(col::VALUE, each(&rows, |(_, p)| finite(p.1)))?
        .add(col::STD_ERROR, each(&rows, |(_, p)| p.2.and_then(finite)))?
        .add(
            col::LOG_LIKELIHOOD,
            each(&rows, |(r, _)| finite(r.log_likelihood)),
        )?
        .add(col::CUSTOMERS, each(&rows, |(r, _)| r.customers as i64))?
        .add(col::CONVERGED, each(&rows, |(r, _)| r.converged))?
        .add(col::ITERATIONS, each(&rows, |(r, _)| r.iterations as i64))?
        .add(
            col::GRADIENT_NORM,
            each(&rows, |(r, _)| finite(r.gradient_norm)),
        )?
        .add(col::FIT_STATUS, each(&rows, |(r, _)| fit_status(r)))?
        .add(
            col::UNCOMPUTABLE_CUSTOMERS,
            each(&rows, |(r, _)| scored.uncomputable(r.model)),
        )?
        .add(col::CHOSEN, each(&rows, |(r, _)| scored.chosen(r.model)))?
        .finish()
}

/// `clv_validation`: one row per purchase model and bucket, "overall"
/// first for each model.
pub fn clv_validation_table(validation: &HoldoutValidation) -> Result<DataFrame> {
    let (models, b): (Vec<&str>, Vec<_>) = validation
        .models
        .iter()
        .flat_map(|m| m.buckets.iter().map(move |b| (m.model.name(), b)))
        .unzip();
    let n = b.len();
    FrameBuilder::new(&CLV_VALIDATION, n)
        .add(col::MODEL, models)?
        .add(col::BUCKET, b.iter().map(|x| x.label).collect::<Vec<_>>())?
        .add(
            col::CUSTOMERS,
            b.iter().map(|x| x.customers).collect::<Vec<_>>(),
        )?
        .add(
            col::ACTUAL_ORDERS,
            b.iter().map(|x| x.actual_orders).collect::<Vec<_>>(),
        )?
        .add(
            col::PREDICTED_ORDERS,
            b.iter().map(|x| x.predicted_orders).collect::<Vec<_>>(),
        )?
        .add(col::MAE, b.iter().map(|x| x.mae).collect::<Vec<_>>())?
        .add(col::RMSE, b.iter().map(|x| x.rmse).collect::<Vec<_>>())?
        .add(
            col::RELATIVE_BIAS,
            b.iter().map(|x| x.relative_bias).collect::<Vec<_>>(),
        )?
        .add(col::HOLDOUT_DAYS, vec![validation.holdout_days as i64; n])?
        .dates(col::CALIBRATION_END, vec![validation.calibration_end; n])?
        .finish()
}

/// `clv_model_selection`: one row per fitted purchase model.
pub fn clv_model_selection_table(rows: &[SelectionRow]) -> Result<DataFrame> {
    let parameter = |name: &str| -> Vec<Option<f64>> {
        each(rows, |r| {
            let found = r.fit.parameters.iter().find(|p| p.0 == name);
            found.and_then(|p| finite(p.1))
        })
    };
    let holdout = |f: fn(&BucketFit) -> Option<f64>| each(rows, |r| r.holdout.as_ref().and_then(f));
    FrameBuilder::new(&CLV_MODEL_SELECTION, rows.len())
        .add(col::MODEL, each(rows, |r| r.model.name()))?
        .add(col::CHOSEN, each(rows, |r| r.chosen))?
        .add(col::FIT_STATUS, each(rows, |r| fit_status(&r.fit)))?
        .add(
            col::LOG_LIKELIHOOD,
            each(rows, |r| finite(r.fit.log_likelihood)),
        )?
        .add(
            col::PARAMETER_COUNT,
            each(rows, |r| r.fit.parameters.len() as i64),
        )?
        .add(col::CUSTOMERS, each(rows, |r| r.fit.customers as i64))?
        .add(col::AIC, each(rows, |r| r.aic))?
        .add(col::BIC, each(rows, |r| r.bic))?
        .add(col::PARAM_R, parameter("r"))?
        .add(col::PARAM_ALPHA, parameter("alpha"))?
        .add(col::PARAM_A, parameter("a"))?
        .add(col::PARAM_B, parameter("b"))?
        .add(col::PARAM_S, parameter("s"))?
        .add(col::PARAM_BETA, parameter("beta"))?
        .add(
            col::HOLDOUT_CUSTOMERS,
            each(rows, |r| r.holdout.as_ref().map(|h| h.customers)),
        )?
        .add(col::HOLDOUT_MAE, holdout(|h| h.mae))?
        .add(col::HOLDOUT_RMSE, holdout(|h| h.rmse))?
        .add(col::HOLDOUT_RELATIVE_BIAS, holdout(|h| h.relative_bias))?
        .add(col::HOLDOUT_MAE_TIED, each(rows, |r| r.tied_with_best))?
        .finish()
}

/// `clv_forecast`: one row per month j = 1 … horizon, days
/// (j − 1)·month_days to j·month_days after as_of.
pub fn clv_forecast_table(forecast: &Forecast) -> Result<DataFrame> {
    let months = forecast.expected_orders.len();
    let day = |j: usize| j as f64 * forecast.month_days;
    FrameBuilder::new(&CLV_FORECAST, months)
        .add(col::HORIZON_MONTH, (1..=months as i64).collect::<Vec<_>>())?
        .add(col::FROM_DAY, (0..months).map(day).collect::<Vec<_>>())?
        .add(col::TO_DAY, (1..=months).map(day).collect::<Vec<_>>())?
        .add(col::EXPECTED_ORDERS, forecast.expected_orders.clone())?
        .add(
            col::EXPECTED_ORDERS_LOW,
            forecast.expected_orders_interval.low.clone(),
        )?
        .add(
            col::EXPECTED_ORDERS_HIGH,
            forecast.expected_orders_interval.high.clone(),
        )?
        .add(col::EXPECTED_REVENUE, forecast.expected_revenue.clone())?
        .add(
            col::EXPECTED_REVENUE_LOW,
            forecast.expected_revenue_interval.low.clone(),
        )?
        .add(
            col::EXPECTED_REVENUE_HIGH,
            forecast.expected_revenue_interval.high.clone(),
        )?
        .add(col::DISCOUNTED_REVENUE, forecast.discounted_revenue.clone())?
        .add(
            col::DISCOUNTED_REVENUE_LOW,
            forecast.discounted_revenue_interval.low.clone(),
        )?
        .add(
            col::DISCOUNTED_REVENUE_HIGH,
            forecast.discounted_revenue_interval.high.clone(),
        )?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::PurchaseModelKind;
    use crate::stages::clv::{Bounds, BucketFit, ModelValidation, PairedErrors};
    use crate::tables::schema::Options;

    fn report(model: &'static str, parameters: Vec<(&'static str, f64, Option<f64>)>) -> FitReport {
        FitReport {
            model,
            parameters,
            log_likelihood: -12.5,
            customers: 3,
            iterations: 7,
            gradient_norm: 1e-9,
            converged: true,
            inverse_hessian: None,
        }
    }

    #[test]
    fn model_table_conforms_and_nulls_non_finite_figures() {
        let fits = [
            report(
                "bg_nbd",
                vec![("r", 0.5, Some(0.1)), ("alpha", f64::NAN, None)],
            ),
            report("gamma_gamma", vec![("p", 2.0, Some(f64::INFINITY))]),
        ];
        let scored = Scored {
            model: "bg_nbd",
            gamma_gamma: true,
            uncomputable: 3,
        };
        let frame = clv_model_table(&fits, &scored).unwrap();
        CLV_MODEL.conforms(&frame, &Options::default()).unwrap();
        assert_eq!(frame.height(), 3);
        let value = frame.column(col::VALUE).unwrap().f64().unwrap().clone();
        assert_eq!(value.get(1), None);
        let se = frame.column(col::STD_ERROR).unwrap().f64().unwrap().clone();
        assert_eq!((se.get(0), se.get(2)), (Some(0.1), None));
        let model = frame.column(col::MODEL).unwrap().str().unwrap().clone();
        assert_eq!(model.get(2), Some("gamma_gamma"));
        let status = frame
            .column(col::FIT_STATUS)
            .unwrap()
            .str()
            .unwrap()
            .clone();
        assert_eq!(status.get(0), Some("converged"));
        let uncomputable = frame.column(col::UNCOMPUTABLE_CUSTOMERS).unwrap();
        let uncomputable = uncomputable.i64().unwrap().clone();
        let uncomputable: Vec<Option<i64>> = (0..3).map(|i| uncomputable.get(i)).collect();
        assert_eq!(uncomputable, [Some(3), Some(3), Some(0)]);
        let chosen = frame.column(col::CHOSEN).unwrap().bool().unwrap().clone();
        let chosen: Vec<Option<bool>> = (0..3).map(|i| chosen.get(i)).collect();
        assert_eq!(chosen, [Some(true); 3]);
        // A purchase model that did not score the customers has no count.
        let other = Scored {
            model: "pareto_nbd",
            gamma_gamma: false,
            uncomputable: 0,
        };
        let frame = clv_model_table(&fits, &other).unwrap();
        let uncomputable = frame.column(col::UNCOMPUTABLE_CUSTOMERS).unwrap();
        let uncomputable = uncomputable.i64().unwrap().clone();
        let uncomputable: Vec<Option<i64>> = (0..3).map(|i| uncomputable.get(i)).collect();
        assert_eq!(uncomputable, [None, None, Some(0)]);
        let chosen = frame.column(col::CHOSEN).unwrap().bool().unwrap().clone();
        let chosen: Vec<Option<bool>> = (0..3).map(|i| chosen.get(i)).collect();
        assert_eq!(chosen, [Some(false); 3]);
    }

    #[test]
    fn validation_table_conforms() {
        let bucket = |label, customers| BucketFit {
            label,
            customers,
            actual_orders: 2.0,
            predicted_orders: 1.5,
            mae: (customers > 0).then_some(0.5),
            rmse: (customers > 0).then_some(0.5),
            relative_bias: Some(-0.25),
        };
        let validation = HoldoutValidation {
            holdout_days: 90,
            calibration_end: 19_000,
            models: vec![ModelValidation {
                model: PurchaseModelKind::MbgNbd,
                calibration_fit: report("mbg_nbd", vec![("r", 0.5, None)]),
                buckets: vec![bucket("overall", 4), bucket("0", 0)],
            }],
            paired: PairedErrors::new(1),
        };
        let frame = clv_validation_table(&validation).unwrap();
        CLV_VALIDATION
            .conforms(&frame, &Options::default())
            .unwrap();
        assert_eq!(frame.height(), 2);
        let mae = frame.column(col::MAE).unwrap().f64().unwrap().clone();
        assert_eq!((mae.get(0), mae.get(1)), (Some(0.5), None));
        let model = frame.column(col::MODEL).unwrap().str().unwrap().clone();
        assert_eq!(model.get(1), Some("mbg_nbd"));
    }

    #[test]
    fn forecast_table_conforms_with_month_bounds() {
        let forecast = Forecast {
            month_days: 30.4375,
            expected_orders: vec![Some(1.0), Some(2.0)],
            expected_revenue: vec![Some(10.0), Some(20.0)],
            discounted_revenue: vec![Some(9.9), Some(19.6)],
            expected_orders_interval: Bounds {
                low: vec![Some(0.9), None],
                high: vec![Some(1.1), None],
            },
            expected_revenue_interval: Bounds {
                low: vec![Some(9.0), None],
                high: vec![Some(11.0), None],
            },
            discounted_revenue_interval: Bounds {
                low: vec![Some(8.9), None],
                high: vec![Some(10.9), None],
            },
        };
        let frame = clv_forecast_table(&forecast).unwrap();
        CLV_FORECAST.conforms(&frame, &Options::default()).unwrap();
        let to = frame.column(col::TO_DAY).unwrap().f64().unwrap().clone();
        assert_eq!(to.get(1), Some(60.875));
        let month = frame
            .column(col::HORIZON_MONTH)
            .unwrap()
            .i64()
            .unwrap()
            .clone();
        assert_eq!(month.get(0), Some(1));
        let high = frame
            .column(col::EXPECTED_REVENUE_HIGH)
            .unwrap()
            .f64()
            .unwrap()
            .clone();
        assert_eq!((high.get(0), high.get(1)), (Some(11.0), None));
    }
}
