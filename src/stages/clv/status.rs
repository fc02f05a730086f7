//! How a CLV fit ended (`clv_model.fit_status`) and the warnings about it;
//! shared by the stage, its holdout refits and the model choice.

use crate::clv::FitReport;

/// Warns about a fit that did not converge or ran off to the boundary.
pub(super) fn warn_if_not_converged(report: &FitReport, what: &str) {
    if report.customers > 0 && !report.converged && !on_the_homogeneous_boundary(report) {
        tracing::warn!(
            model = report.model,
            iterations = report.iterations,
            gradient_norm = report.gradient_norm,
            "{what}: the fit did not converge; its best parameters are used and published with converged = false"
        );
    }
    if let Some(b) = boundary_of(report.model).filter(|_| on_the_homogeneous_boundary(report)) {
        let [first, second] = b.pair;
        tracing::warn!(
            model = report.model,
            "{what}: the likelihood's optimum is on its boundary ({first} and {second} without bound, {} fixed: every customer with the same {}), as on short or small histories; {first} and {second} are a point on that ridge, and the predictions are those of the limit to within 1/{first}",
            b.fixed,
            b.shared
        );
    }
}

/// A purchase model's homogeneous boundary: the two parameters that run
/// off together, the ratio that stays fixed, and what every customer then
/// has in common.
struct Boundary {
    pair: [&'static str; 2],
    fixed: &'static str,
    shared: &'static str,
}

fn boundary_of(model: &str) -> Option<Boundary> {
    match model {
        "bg_nbd" | "mbg_nbd" => Some(Boundary {
            pair: ["a", "b"],
            fixed: "a/(a+b)",
            shared: "dropout probability",
        }),
        "pareto_nbd" => Some(Boundary {
            pair: ["s", "beta"],
            fixed: "s/beta",
            shared: "dropout rate",
        }),
        _ => None,
    }
}

/// How a fit ended, as `clv_model.fit_status` publishes it.
pub fn fit_status(report: &FitReport) -> &'static str {
    if report.customers == 0 {
        "not_fitted"
    } else if report.converged {
        "converged"
    } else if on_the_homogeneous_boundary(report) {
        "on_boundary"
    } else {
        "not_converged"
    }
}

/// Whether a BG/NBD or MBG/NBD fit ran off along a, b → ∞ (a/(a+b)
/// fixed), or a Pareto/NBD fit along s, β → ∞ (s/β fixed): both past 10⁴,
/// where the mixing distribution of the dropout probability (Beta(a, b))
/// or rate (Gamma(s, β)) is narrower than 1 % of its mean.
fn on_the_homogeneous_boundary(report: &FitReport) -> bool {
    let value = |name: &str| {
        report
            .parameters
            .iter()
            .find(|(parameter, _, _)| *parameter == name)
            .map(|(_, value, _)| *value)
    };
    let past = |name: &str| value(name).is_some_and(|v| v > 1e4);
    !report.converged
        && boundary_of(report.model).is_some_and(|b| b.pair.iter().all(|name| past(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fit report of `model` whose last two parameters are `names`.
    fn report_of(
        model: &'static str,
        names: [&'static str; 2],
        values: [f64; 2],
        converged: bool,
    ) -> FitReport {
        FitReport {
            model,
            parameters: vec![
                ("r", 0.7, None),
                ("alpha", 50.0, None),
                (names[0], values[0], None),
                (names[1], values[1], None),
            ],
            log_likelihood: -100.0,
            customers: 102,
            iterations: 60,
            gradient_norm: 1e-6,
            converged,
            inverse_hessian: None,
        }
    }

    #[test]
    fn a_fit_running_off_along_a_and_b_is_named_as_on_the_boundary() {
        let report =
            |a: f64, b: f64, converged: bool| report_of("bg_nbd", ["a", "b"], [a, b], converged);
        assert!(on_the_homogeneous_boundary(&report(1.9e6, 4.9e6, false)));
        assert!(!on_the_homogeneous_boundary(&report(1.9e6, 4.9e6, true)));
        assert!(!on_the_homogeneous_boundary(&report(0.8, 2.4, false)));
        assert!(!on_the_homogeneous_boundary(&report(1.9e6, 3.0, false)));
        assert_eq!(fit_status(&report(1.9e6, 4.9e6, false)), "on_boundary");
        assert_eq!(fit_status(&report(0.8, 2.4, false)), "not_converged");
        let pareto = |s: f64, beta: f64| report_of("pareto_nbd", ["s", "beta"], [s, beta], false);
        assert_eq!(fit_status(&pareto(3.0e6, 1.2e9)), "on_boundary");
        assert_eq!(fit_status(&pareto(0.8, 1.2e9)), "not_converged");
        assert_eq!(fit_status(&report(0.8, 2.4, true)), "converged");
        let unfitted = FitReport {
            customers: 0,
            ..report(0.8, 2.4, false)
        };
        assert_eq!(fit_status(&unfitted), "not_fitted");
    }
}
