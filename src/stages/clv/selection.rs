//! Which purchase model scores the customers (`[clv] model = "auto"`), and
//! the rows of `clv_model_selection`.
//!
//! The criterion is out-of-sample first: the mean absolute error of the
//! per-customer holdout order days (the "overall" row of `clv_validation`),
//! because the models exist to predict the next months, and MAE does not
//! let a few heavy buyers decide as RMSE would. But the three models often
//! predict almost alike, and a holdout MAE that is lower by less than its
//! sampling noise says nothing. So the models whose MAE is within two
//! standard errors of the lowest one — the standard error of the mean of
//! the paired per-customer differences of absolute errors, the same
//! customers under both models — count as tied with it, and among them
//! the one with the lowest AIC on the full history is chosen: the
//! likelihood, which uses every purchase, decides what the holdout cannot.
//! When there is no holdout validation at all (no customer ordered before
//! the calibration end), AIC alone decides. A model that could not be
//! fitted (no customers) is never chosen.

use crate::clv::{FitReport, PurchaseModelKind};

use super::holdout::{BucketFit, DifferenceMoments, HoldoutValidation, PairedErrors};
use super::status::fit_status;

/// Standard errors of the paired difference within which a higher MAE
/// counts as tied with the lowest.
const TIE_STANDARD_ERRORS: f64 = 2.0;

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
    /// Whether its holdout MAE is within the noise of the lowest (the
    /// lowest itself included); `None` without a holdout MAE.
    pub tied_with_best: Option<bool>,
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
/// holdout `validation` (same order, same models), with the chosen one
/// marked.
pub fn selection_rows(fits: &[FitReport], validation: &HoldoutValidation) -> Vec<SelectionRow> {
    let mut rows: Vec<SelectionRow> = fits
        .iter()
        .zip(&validation.models)
        .map(|(fit, validation)| {
            let (aic, bic) = information_criteria(fit);
            SelectionRow {
                model: validation.model,
                fit: fit.clone(),
                aic,
                bic,
                holdout: validation.overall().cloned(),
                tied_with_best: None,
                chosen: false,
            }
        })
        .collect();
    mark_ties(&mut rows, &validation.paired);
    if let Some(i) = choose(&rows) {
        rows[i].chosen = true;
    }
    rows
}

fn eligible(row: &SelectionRow) -> bool {
    fit_status(&row.fit) != "not_fitted"
}

fn mae(row: &SelectionRow) -> Option<f64> {
    row.holdout.as_ref().and_then(|h| h.mae)
}

/// Marks every eligible model with a holdout MAE as tied with the lowest
/// or not (see the module notes).
fn mark_ties(rows: &mut [SelectionRow], paired: &PairedErrors) {
    let best = (0..rows.len())
        .filter(|&i| eligible(&rows[i]) && mae(&rows[i]).is_some())
        .min_by(|&i, &j| {
            let (a, b) = (
                mae(&rows[i]).unwrap_or(f64::INFINITY),
                mae(&rows[j]).unwrap_or(f64::INFINITY),
            );
            a.total_cmp(&b).then(i.cmp(&j))
        });
    let Some(best) = best else {
        return;
    };
    for (i, row) in rows.iter_mut().enumerate() {
        if eligible(row) && mae(row).is_some() {
            let tied = i == best || within_noise(paired.between(best, i));
            row.tied_with_best = Some(tied);
        }
    }
}

/// Whether the mean of `other − best` over the customers both could
/// predict is at most [`TIE_STANDARD_ERRORS`] standard errors of that
/// mean; a tie with fewer than two customers to compare.
fn within_noise(differences: DifferenceMoments) -> bool {
    match differences.mean_and_standard_error() {
        None => true,
        Some((mean, standard_error)) => mean <= TIE_STANDARD_ERRORS * standard_error,
    }
}

/// The index of the model to score with: the lowest AIC among the models
/// tied with the lowest holdout MAE, or among all eligible models without
/// a holdout; `None` only when no model was fitted at all.
fn choose(rows: &[SelectionRow]) -> Option<usize> {
    let aic = |i: usize| rows[i].aic.unwrap_or(f64::INFINITY);
    let tied: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].tied_with_best == Some(true))
        .collect();
    let pool: Vec<usize> = if tied.is_empty() {
        (0..rows.len()).filter(|&i| eligible(&rows[i])).collect()
    } else {
        tied
    };
    pool.into_iter()
        .min_by(|&i, &j| aic(i).total_cmp(&aic(j)).then(i.cmp(&j)))
}

#[cfg(test)]
mod tests {
    use super::super::holdout::ModelValidation;
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

    /// The holdout validation of models whose customers' absolute errors
    /// are given (each model's MAE their mean; no holdout for a model
    /// without errors), the errors paired customer by customer as the
    /// comparison pairs them (NaN past a model's errors: left out).
    fn holdout(models: &[(PurchaseModelKind, &[f64])]) -> HoldoutValidation {
        let customers = models.iter().map(|(_, e)| e.len()).max().unwrap_or(0);
        let mut paired = PairedErrors::new(models.len());
        for c in 0..customers {
            let errors: Vec<f64> = models
                .iter()
                .map(|(_, e)| e.get(c).copied().unwrap_or(f64::NAN))
                .collect();
            paired.add_customer(&errors);
        }
        HoldoutValidation {
            holdout_days: 90,
            calibration_end: 1_000,
            models: models.iter().map(|&(m, e)| validation(m, e)).collect(),
            paired,
        }
    }

    fn validation(model: PurchaseModelKind, errors: &[f64]) -> ModelValidation {
        let mae = errors.iter().sum::<f64>() / errors.len() as f64;
        let buckets = if errors.is_empty() {
            Vec::new()
        } else {
            vec![BucketFit {
                label: "overall",
                customers: errors.len() as i64,
                actual_orders: 5.0,
                predicted_orders: 5.0,
                mae: Some(mae),
                rmse: Some(mae),
                relative_bias: Some(0.0),
            }]
        };
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

    /// Errors of 200 customers: `base` plus a per-customer pattern, so
    /// paired differences have a known spread.
    fn errors(base: f64, wobble: f64) -> Vec<f64> {
        (0..200)
            .map(|i| base + wobble * if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect()
    }

    #[test]
    fn a_clearly_lower_holdout_error_wins() {
        // Pareto/NBD has the lowest AIC, but BG/NBD's errors are lower for
        // every customer: no tie.
        let fits = [
            fit("bg_nbd", -100.0, 50),
            fit("pareto_nbd", -90.0, 50),
            fit("mbg_nbd", -95.0, 50),
        ];
        let rows = selection_rows(
            &fits,
            &holdout(&[
                (BgNbd, &errors(0.5, 0.1)),
                (ParetoNbd, &errors(0.6, 0.1)),
                (MbgNbd, &errors(0.7, 0.1)),
            ]),
        );
        assert_eq!(chosen(&rows), ["bg_nbd"]);
        assert_eq!(rows[0].aic, Some(208.0));
        assert_eq!(rows[0].bic, Some(4.0 * 50f64.ln() + 200.0));
        let ties: Vec<_> = rows.iter().map(|r| r.tied_with_best).collect();
        assert_eq!(ties, [Some(true), Some(false), Some(false)]);
    }

    #[test]
    fn errors_within_their_noise_are_a_tie_that_aic_decides() {
        // Pareto/NBD's MAE is higher by 0.001, but the paired differences
        // swing by ±0.2 per customer: standard error 0.2/√200 ≈ 0.014.
        let fits = [
            fit("bg_nbd", -100.0, 50),
            fit("pareto_nbd", -90.0, 50),
            fit("mbg_nbd", -95.0, 50),
        ];
        let pareto: Vec<f64> = errors(0.5, 0.1)
            .iter()
            .enumerate()
            .map(|(i, e)| e + 0.001 + if i % 4 < 2 { 0.2 } else { -0.2 })
            .collect();
        let rows = selection_rows(
            &fits,
            &holdout(&[
                (BgNbd, &errors(0.5, 0.1)),
                (ParetoNbd, &pareto),
                (MbgNbd, &errors(0.9, 0.1)),
            ]),
        );
        assert_eq!(chosen(&rows), ["pareto_nbd"], "tied on MAE, lower AIC");
        assert_eq!(rows[2].tied_with_best, Some(false));
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
            &holdout(&[(BgNbd, &[]), (ParetoNbd, &[]), (MbgNbd, &[])]),
        );
        assert_eq!(chosen(&rows), ["mbg_nbd"]);
        assert_eq!(rows[1].aic, None);
        assert!(rows.iter().all(|r| r.tied_with_best.is_none()));
        let rows = selection_rows(
            &fits,
            &holdout(&[
                (BgNbd, &errors(0.9, 0.1)),
                (ParetoNbd, &errors(0.1, 0.1)),
                (MbgNbd, &[]),
            ]),
        );
        assert_eq!(chosen(&rows), ["bg_nbd"]);
    }
}
