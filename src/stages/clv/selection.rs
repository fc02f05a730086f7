//! Which purchase model scores the customers (`[clv] model = "auto"`), and
//! the rows of `clv_model_selection`.
//!
//! The criterion is out-of-sample: the lowest mean absolute error of the
//! per-customer holdout order days (the "overall" row of `clv_validation`),
//! because the models exist to predict the next months, and MAE does not
//! let a few heavy buyers decide as RMSE would. Models whose MAEs are equal
//! to 1e-9 (relative) are told apart by AIC on the full history. When there
//! is no holdout validation at all (no customer ordered before the
//! calibration end), AIC alone decides. A model that could not be fitted
//! (no customers) is never chosen.

use crate::clv::{FitReport, PurchaseModelKind};

use super::fit_status;
use super::holdout::{BucketFit, ModelValidation};

/// MAEs closer than this (relative) count as a tie.
const MAE_TIE: f64 = 1e-9;

/// One row of `clv_model_selection`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRow {
    pub model: PurchaseModelKind,
    /// The full-history fit.
    pub fit: FitReport,
    /// 2k − 2·ℓ; `None` when the log-likelihood is not finite.
    pub aic: Option<f64>,
    /// k·ln(n) − 2·ℓ, n the customers fitted on.
    pub bic: Option<f64>,
    /// The overall holdout comparison of the calibration refit.
    pub holdout: Option<BucketFit>,
    pub chosen: bool,
}

fn information_criteria(fit: &FitReport) -> (Option<f64>, Option<f64>) {
    let k = fit.parameters.len() as f64;
    let ll = fit.log_likelihood;
    if !ll.is_finite() || fit.customers == 0 {
        return (None, None);
    }
    let n = fit.customers as f64;
    (Some(2.0 * k - 2.0 * ll), Some(k * n.ln() - 2.0 * ll))
}

/// The selection table's rows for the full-history `fits` and their
/// `validations` (same order, same models), with the chosen one marked.
pub fn selection_rows(fits: &[FitReport], validations: &[ModelValidation]) -> Vec<SelectionRow> {
    let mut rows: Vec<SelectionRow> = fits
        .iter()
        .zip(validations)
        .map(|(fit, validation)| {
            let (aic, bic) = information_criteria(fit);
            SelectionRow {
                model: validation.model,
                fit: fit.clone(),
                aic,
                bic,
                holdout: validation.overall().cloned(),
                chosen: false,
            }
        })
        .collect();
    if let Some(i) = choose(&rows) {
        rows[i].chosen = true;
    }
    rows
}

/// The index of the model to score with (see the module notes); `None`
/// only when no model was fitted at all.
fn choose(rows: &[SelectionRow]) -> Option<usize> {
    let eligible: Vec<usize> = (0..rows.len())
        .filter(|&i| fit_status(&rows[i].fit) != "not_fitted")
        .collect();
    let aic = |i: usize| rows[i].aic.unwrap_or(f64::INFINITY);
    let mae = |i: usize| rows[i].holdout.as_ref().and_then(|h| h.mae);
    let with_mae: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&i| mae(i).is_some())
        .collect();
    if with_mae.is_empty() {
        return eligible
            .into_iter()
            .min_by(|&i, &j| aic(i).total_cmp(&aic(j)).then(i.cmp(&j)));
    }
    let best = with_mae
        .iter()
        .map(|&i| mae(i).unwrap_or(f64::INFINITY))
        .fold(f64::INFINITY, f64::min);
    with_mae
        .into_iter()
        .filter(|&i| mae(i).is_some_and(|m| m - best <= MAE_TIE * best.abs()))
        .min_by(|&i, &j| aic(i).total_cmp(&aic(j)).then(i.cmp(&j)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(model: &'static str, ll: f64, customers: u64) -> FitReport {
        FitReport {
            model,
            parameters: vec![("r", 1.0, None); 4],
            log_likelihood: ll,
            customers,
            iterations: 10,
            gradient_norm: 0.0,
            converged: true,
            inverse_hessian: None,
        }
    }

    fn validation(model: PurchaseModelKind, mae: Option<f64>) -> ModelValidation {
        let buckets = mae
            .map(|mae| {
                vec![BucketFit {
                    label: "overall",
                    customers: 10,
                    actual_orders: 5.0,
                    predicted_orders: 5.0,
                    mae: Some(mae),
                    rmse: Some(mae),
                    relative_bias: Some(0.0),
                }]
            })
            .unwrap_or_default();
        ModelValidation {
            model,
            calibration_fit: fit(model.name(), -1.0, 10),
            buckets,
        }
    }

    fn chosen(rows: &[SelectionRow]) -> Vec<&'static str> {
        rows.iter()
            .filter(|r| r.chosen)
            .map(|r| r.model.name())
            .collect()
    }

    use PurchaseModelKind::{BgNbd, MbgNbd, ParetoNbd};

    #[test]
    fn the_lowest_holdout_error_wins_and_ties_go_to_the_lower_aic() {
        let fits = [
            fit("bg_nbd", -100.0, 50),
            fit("pareto_nbd", -90.0, 50),
            fit("mbg_nbd", -95.0, 50),
        ];
        let rows = selection_rows(
            &fits,
            &[
                validation(BgNbd, Some(0.5)),
                validation(ParetoNbd, Some(0.6)),
                validation(MbgNbd, Some(0.7)),
            ],
        );
        assert_eq!(chosen(&rows), ["bg_nbd"]);
        assert_eq!(rows[0].aic, Some(208.0));
        assert_eq!(rows[0].bic, Some(4.0 * 50f64.ln() + 200.0));
        let rows = selection_rows(
            &fits,
            &[
                validation(BgNbd, Some(0.5)),
                validation(ParetoNbd, Some(0.5)),
                validation(MbgNbd, Some(0.7)),
            ],
        );
        assert_eq!(
            chosen(&rows),
            ["pareto_nbd"],
            "tie: Pareto/NBD has the lower AIC"
        );
    }

    #[test]
    fn without_a_holdout_aic_decides_and_an_unfitted_model_never_wins() {
        let fits = [
            fit("bg_nbd", -100.0, 50),
            fit("pareto_nbd", -90.0, 0),
            fit("mbg_nbd", -95.0, 50),
        ];
        let rows = selection_rows(
            &fits,
            &[
                validation(BgNbd, None),
                validation(ParetoNbd, None),
                validation(MbgNbd, None),
            ],
        );
        assert_eq!(chosen(&rows), ["mbg_nbd"]);
        assert_eq!(rows[1].aic, None);
        let rows = selection_rows(
            &fits,
            &[
                validation(BgNbd, Some(0.9)),
                validation(ParetoNbd, Some(0.1)),
                validation(MbgNbd, None),
            ],
        );
        assert_eq!(chosen(&rows), ["bg_nbd"]);
    }
}
