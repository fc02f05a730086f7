//! The gates: thresholds on what changed since the previous run, each
//! `fail` (nothing is published, exit code 3) or `warn` (published, said
//! in the log, the `gates` table and the report). Defaults and meanings:
//! `config::GatesConfig` and README "Running unattended".

use chrono::NaiveDate;

use super::{Comparison, Definitions};
use crate::config::{GateAction, GateSetting, GatesConfig};
use crate::tables::schema;
use crate::tables::schema::compare::item;

/// Added to both reject ratios before dividing, so that a first rejected
/// row after none is not an infinite rise (one row in 10,000).
pub const REJECT_RATIO_FLOOR: f64 = 0.0001;

/// What a gate concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Warned,
    /// A `fail` gate fired: the run is not published.
    Failed,
    /// A `fail` gate fired and `--accept-changes` published the run anyway.
    Accepted,
    /// Not evaluated: switched off, no previous run, or nothing to measure.
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Warned => "warned",
            Outcome::Failed => "failed",
            Outcome::Accepted => "accepted",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One gate's evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GateResult {
    pub gate: String,
    pub action: GateAction,
    pub threshold: f64,
    pub measured: Option<f64>,
    pub outcome: Outcome,
    /// What was measured, or why the gate was skipped.
    pub detail: String,
}

impl GateResult {
    /// The line an operator reads.
    pub fn describe(&self) -> String {
        let measured = self
            .measured
            .map(|m| format!("{m:.6}"))
            .unwrap_or_else(|| "—".into());
        format!(
            "gate `{}` {}: measured {measured}, threshold {} ({}); {}",
            self.gate,
            self.outcome.label(),
            self.threshold,
            action_label(self.action),
            self.detail
        )
    }
}

pub fn action_label(action: GateAction) -> &'static str {
    match action {
        GateAction::Fail => "fail",
        GateAction::Warn => "warn",
        GateAction::Off => "off",
    }
}

/// How fresh the input is: the latest order against the date the run is
/// for (as_of when given, else today in the business time zone).
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    pub latest_order: NaiveDate,
    pub reference: NaiveDate,
    /// Whether `reference` is a given as_of (else today).
    pub as_of_given: bool,
}

/// A measured value and what it is, or why there is none.
type Measurement = Result<(f64, String), String>;

/// Every gate of `config`, in declaration order.
pub fn evaluate(
    config: &GatesConfig,
    comparison: &Comparison,
    freshness: Freshness,
    accept_changes: bool,
) -> Vec<GateResult> {
    config
        .all()
        .into_iter()
        .map(|(name, setting)| {
            let measurement = measure(name, comparison, freshness);
            judge(name, setting, measurement, accept_changes)
        })
        .collect()
}

fn judge(
    name: &str,
    setting: GateSetting,
    measurement: Measurement,
    accept_changes: bool,
) -> GateResult {
    let (measured, detail) = match (setting.action, measurement) {
        (GateAction::Off, _) => (None, "switched off".to_string()),
        (_, Ok((value, detail))) => (Some(value), detail),
        (_, Err(reason)) => (None, reason),
    };
    let fired = measured.is_some_and(|m| m > setting.threshold);
    let outcome = match (measured, fired, setting.action) {
        (None, _, _) => Outcome::Skipped,
        (Some(_), false, _) => Outcome::Passed,
        (Some(_), true, GateAction::Warn) => Outcome::Warned,
        (Some(_), true, _) if accept_changes => Outcome::Accepted,
        (Some(_), true, _) => Outcome::Failed,
    };
    GateResult {
        gate: name.to_string(),
        action: setting.action,
        threshold: setting.threshold,
        measured,
        outcome,
        detail,
    }
}

fn measure(name: &str, comparison: &Comparison, freshness: Freshness) -> Measurement {
    match name {
        "stale_input_days" => Ok(staleness(freshness)),
        "rows_read_drop" => rows_read_drop(comparison),
        "reject_ratio_rise" => reject_ratio_rise(comparison),
        "restated_revenue_share" => restated_revenue_share(comparison),
        "restated_counts" => restated_counts(comparison),
        "clv_parameter_shift" => parameter_shift(comparison),
        "holdout_error_rise" => holdout_error_rise(comparison),
        other => unreachable!("gate `{other}` has no measurement"),
    }
}

fn staleness(f: Freshness) -> (f64, String) {
    let days = (f.reference - f.latest_order).num_days() as f64;
    let reference = match f.as_of_given {
        true => "the given as_of",
        false => "today",
    };
    let detail = format!(
        "latest order {} is {days} days before {reference} {}",
        f.latest_order, f.reference
    );
    (days, detail)
}

/// The previous run, or why a comparing gate is skipped.
fn against(comparison: &Comparison) -> Result<&super::Against, String> {
    comparison
        .against
        .as_ref()
        .ok_or_else(|| "no previous run".to_string())
}

/// The previous run when both define their values the same way.
fn comparable(comparison: &Comparison) -> Result<&super::Against, String> {
    let a = against(comparison)?;
    match &a.definitions {
        Definitions::Same => Ok(a),
        Definitions::Unknown => Err("the previous run did not record its definitions".into()),
        Definitions::Changed(changes) => Err(format!(
            "definitions changed ({})",
            changes
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn rows_read_drop(comparison: &Comparison) -> Measurement {
    against(comparison)?;
    let rows = comparison.figure(item::ROWS_READ).ok_or("no row count")?;
    let (Some(before), Some(now)) = (rows.previous, rows.current) else {
        return Err("no row count".into());
    };
    if before <= 0.0 {
        return Err("the previous run read no rows".into());
    }
    let drop = ((before - now) / before).max(0.0);
    Ok((drop, format!("rows read {before} → {now}")))
}

fn reject_ratio_rise(comparison: &Comparison) -> Measurement {
    let a = against(comparison)?;
    let (before, now) = (a.previous_reject_ratio, comparison.current_reject_ratio);
    let rise = (now + REJECT_RATIO_FLOOR) / (before + REJECT_RATIO_FLOOR);
    Ok((rise, format!("reject ratio {before:.6} → {now:.6}")))
}

fn restated_revenue_share(comparison: &Comparison) -> Measurement {
    let a = comparable(comparison)?;
    let restated = a.restated.as_ref().ok_or("not compared")?;
    let kpis = restated
        .table(schema::kpis::KPIS_MONTHLY.name)
        .ok_or("no kpis_monthly in both runs")?;
    let (total, changed) = kpis.revenue.ok_or("no revenue")?;
    let share = kpis.revenue_share().ok_or("no revenue")?;
    Ok((
        share,
        format!("Σ |restated revenue| {changed:.2} of {total:.2} in months complete in both runs"),
    ))
}

fn restated_counts(comparison: &Comparison) -> Measurement {
    let a = comparable(comparison)?;
    let restated = a.restated.as_ref().ok_or("not compared")?;
    let counts = restated.restated_counts();
    Ok((
        counts as f64,
        format!("{counts} count values restated in complete periods"),
    ))
}

fn parameter_shift(comparison: &Comparison) -> Measurement {
    let a = comparable(comparison)?;
    let largest = a
        .parameters
        .iter()
        .filter_map(|p| Some((p.standard_errors()?, p)))
        .max_by(|x, y| x.0.total_cmp(&y.0))
        .ok_or("no CLV parameter with a standard error in both runs")?;
    let (shift, p) = largest;
    Ok((
        shift,
        format!(
            "{}.{} {:.6} → {:.6} (standard error {:.6})",
            p.model,
            p.parameter,
            p.previous,
            p.current,
            p.previous_std_error.unwrap_or(f64::NAN)
        ),
    ))
}

fn holdout_error_rise(comparison: &Comparison) -> Measurement {
    let _ = comparable(comparison)?;
    let mae = comparison
        .figure(item::HOLDOUT_MAE)
        .ok_or("no CLV holdout")?;
    let (Some(before), Some(now)) = (mae.previous, mae.current) else {
        return Err("no holdout error in both runs".into());
    };
    if before <= 0.0 {
        return Err("the previous holdout error is 0".into());
    }
    Ok((
        (now - before) / before,
        format!("chosen model's holdout MAE {before:.6} → {now:.6}"),
    ))
}

/// The gates that stop the run.
pub fn failed_gates(results: &[GateResult]) -> Vec<&GateResult> {
    results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(threshold: f64, action: GateAction) -> GateSetting {
        GateSetting { threshold, action }
    }

    fn measured(value: f64) -> Measurement {
        Ok((value, String::new()))
    }

    #[test]
    fn a_gate_fires_only_above_its_threshold_and_acts_as_set() {
        let outcome = |value: f64, action: GateAction, accept: bool| {
            judge("g", setting(1.0, action), measured(value), accept).outcome
        };
        assert_eq!(outcome(1.0, GateAction::Fail, false), Outcome::Passed);
        assert_eq!(outcome(1.5, GateAction::Fail, false), Outcome::Failed);
        assert_eq!(outcome(1.5, GateAction::Fail, true), Outcome::Accepted);
        assert_eq!(outcome(1.5, GateAction::Warn, false), Outcome::Warned);
        assert_eq!(outcome(1.5, GateAction::Warn, true), Outcome::Warned);
        let off = judge("g", setting(1.0, GateAction::Off), measured(9.0), false);
        assert_eq!((off.outcome, off.measured), (Outcome::Skipped, None));
        let unmeasured = judge(
            "g",
            setting(1.0, GateAction::Fail),
            Err("why".into()),
            false,
        );
        assert_eq!(unmeasured.outcome, Outcome::Skipped);
        assert_eq!(unmeasured.detail, "why");
    }

    #[test]
    fn without_a_previous_run_only_staleness_is_measured() {
        let comparison = Comparison {
            current_run_id: "r".into(),
            current_as_of: "2024-01-31".into(),
            against: None,
            figures: Vec::new(),
            texts: Vec::new(),
            current_reject_ratio: 0.5,
        };
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
        let freshness = Freshness {
            latest_order: day(20),
            reference: day(31),
            as_of_given: false,
        };
        let results = evaluate(&GatesConfig::default(), &comparison, freshness, false);
        for r in &results {
            let expected = match r.gate.as_str() {
                "stale_input_days" => Outcome::Warned,
                _ => Outcome::Skipped,
            };
            assert_eq!(r.outcome, expected, "{}", r.gate);
        }
        let stale = results
            .iter()
            .find(|r| r.gate == "stale_input_days")
            .unwrap();
        assert_eq!(stale.measured, Some(11.0));
        assert!(failed_gates(&results).is_empty());
    }

    #[test]
    fn the_reject_ratio_rise_is_floored() {
        let mut comparison = Comparison {
            current_run_id: "r".into(),
            current_as_of: "2024-01-31".into(),
            against: Some(super::super::Against {
                previous_run_id: "p".into(),
                previous_as_of: "2024-01-30".into(),
                definitions: Definitions::Same,
                restated: None,
                inputs: Vec::new(),
                parameters: Vec::new(),
                previous_reject_ratio: 0.0,
            }),
            figures: Vec::new(),
            texts: Vec::new(),
            current_reject_ratio: 0.0001,
        };
        let (rise, _) = reject_ratio_rise(&comparison).unwrap();
        assert!((rise - 2.0).abs() < 1e-12);
        comparison.current_reject_ratio = 0.0;
        assert_eq!(reject_ratio_rise(&comparison).unwrap().0, 1.0);
    }
}
