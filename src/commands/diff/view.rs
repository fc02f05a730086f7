//! What `retention diff` prints: the comparison of two published runs as
//! a plain, serializable view ([`DiffView`], the `--json` output, its
//! schema in `docs/diff.schema.json`) and as terminal text
//! ([`render_text`]). Pure: the command reads the runs.

use serde::Serialize;

use crate::stages::compare::{Comparison, Definitions, Restatement};
use crate::tables::schema::compare::status;

/// At most this many restated values are shown (the largest first); the
/// totals count them all.
pub const SHOWN_RESTATEMENTS: usize = 20;

/// The `--json` document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffView {
    pub previous: RunRef,
    pub current: RunRef,
    /// `same`, `changed` or `unknown` (a run before schema version 6).
    pub definitions: &'static str,
    pub changed_settings: Vec<SettingChange>,
    pub figures: Vec<FigureChange>,
    pub inputs: Vec<InputChangeView>,
    pub clv_parameters: Vec<ParameterView>,
    /// `None` when the definitions differ: values are not compared.
    pub restated: Option<RestatedView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRef {
    pub run_id: String,
    pub as_of: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SettingChange {
    pub setting: String,
    pub previous: Option<String>,
    pub current: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FigureChange {
    pub section: String,
    pub item: String,
    pub previous: Option<f64>,
    pub current: Option<f64>,
    pub change: Option<f64>,
    pub relative_change: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputChangeView {
    pub path: String,
    pub status: &'static str,
    pub previous_bytes: Option<u64>,
    pub current_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParameterView {
    pub model: String,
    pub parameter: String,
    pub previous: f64,
    pub current: f64,
    pub standard_errors: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RestatedView {
    pub total_values: u64,
    pub tables: Vec<TableRestatedView>,
    /// The largest restated values, at most [`SHOWN_RESTATEMENTS`].
    pub largest: Vec<RestatedValueView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableRestatedView {
    pub table: String,
    pub compared_values: u64,
    pub restated_values: u64,
    pub restated_revenue_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RestatedValueView {
    pub table: String,
    pub row_key: String,
    pub column: String,
    pub previous: Option<f64>,
    pub current: Option<f64>,
    pub change: Option<f64>,
    pub relative_change: Option<f64>,
}

/// A JSON number, or null for what is not a finite number (JSON has no
/// NaN).
fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

impl DiffView {
    /// The view of `comparison`, which compared its current run with a
    /// previous one.
    pub fn of(comparison: &Comparison) -> Option<DiffView> {
        let against = comparison.against.as_ref()?;
        let (definitions, changed_settings) = match &against.definitions {
            Definitions::Same => (status::SAME, Vec::new()),
            Definitions::Unknown => (status::UNKNOWN, Vec::new()),
            Definitions::Changed(changes) => (status::CHANGED, setting_changes(changes)),
        };
        Some(DiffView {
            previous: RunRef {
                run_id: against.previous_run_id.clone(),
                as_of: against.previous_as_of.clone(),
            },
            current: RunRef {
                run_id: comparison.current_run_id.clone(),
                as_of: comparison.current_as_of.clone(),
            },
            definitions,
            changed_settings,
            figures: figure_changes(comparison),
            inputs: against
                .inputs
                .iter()
                .map(|f| InputChangeView {
                    path: f.path.clone(),
                    status: f.change.label(),
                    previous_bytes: f.previous_bytes,
                    current_bytes: f.current_bytes,
                })
                .collect(),
            clv_parameters: against
                .parameters
                .iter()
                .map(|p| ParameterView {
                    model: p.model.clone(),
                    parameter: p.parameter.clone(),
                    previous: p.previous,
                    current: p.current,
                    standard_errors: finite(p.standard_errors()),
                })
                .collect(),
            restated: against.restated.as_ref().map(restated_view),
        })
    }
}

fn setting_changes(changes: &[(String, Option<String>, Option<String>)]) -> Vec<SettingChange> {
    changes
        .iter()
        .map(|(setting, previous, current)| SettingChange {
            setting: setting.clone(),
            previous: previous.clone(),
            current: current.clone(),
        })
        .collect()
}

fn figure_changes(comparison: &Comparison) -> Vec<FigureChange> {
    comparison
        .figures
        .iter()
        .map(|f| FigureChange {
            section: f.section.to_string(),
            item: f.item.clone(),
            previous: finite(f.previous),
            current: finite(f.current),
            change: finite(f.change()),
            relative_change: finite(f.relative_change()),
        })
        .collect()
}

fn restated_view(restated: &crate::stages::compare::Restated) -> RestatedView {
    RestatedView {
        total_values: restated.values.len() as u64,
        tables: restated
            .tables
            .iter()
            .map(|t| TableRestatedView {
                table: t.table.to_string(),
                compared_values: t.compared,
                restated_values: t.restated,
                restated_revenue_share: finite(t.revenue_share()),
            })
            .collect(),
        largest: restated
            .values
            .iter()
            .take(SHOWN_RESTATEMENTS)
            .map(value_view)
            .collect(),
    }
}

fn value_view(r: &Restatement) -> RestatedValueView {
    RestatedValueView {
        table: r.table.to_string(),
        row_key: r.key.clone(),
        column: r.column.to_string(),
        previous: finite(r.previous),
        current: finite(r.current),
        change: finite(r.change()),
        relative_change: finite(r.relative_change()),
    }
}

/// A number for the terminal: integers as integers, others to 6
/// significant digits; a dash for none.
fn number(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format_significant(v),
    }
}

fn format_significant(v: f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// A relative change as a signed percentage.
fn percent(value: Option<f64>) -> String {
    match value {
        None => String::new(),
        Some(v) => format!("{:+.2}%", 100.0 * v),
    }
}

/// The terminal summary.
pub fn render_text(view: &DiffView) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "{} (as_of {}) → {} (as_of {})",
        view.previous.run_id, view.previous.as_of, view.current.run_id, view.current.as_of
    ));
    line(format!("definitions: {}", view.definitions));
    for s in &view.changed_settings {
        line(format!(
            "  {}: {} → {}",
            s.setting,
            s.previous.as_deref().unwrap_or("(unset)"),
            s.current.as_deref().unwrap_or("(unset)")
        ));
    }
    for text in figure_lines(&view.figures) {
        line(text);
    }
    for text in input_lines(&view.inputs) {
        line(text);
    }
    for text in parameter_lines(&view.clv_parameters) {
        line(text);
    }
    for text in restated_lines(view.restated.as_ref()) {
        line(text);
    }
    out
}

fn figure_lines(figures: &[FigureChange]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut section = "";
    for f in figures {
        if f.section != section {
            section = &f.section;
            lines.push(format!("{section}:"));
        }
        let changed = match f.change {
            Some(c) if c != 0.0 => format!("  {} {}", number(Some(c)), percent(f.relative_change)),
            Some(_) => "  same".into(),
            None => String::new(),
        };
        lines.push(format!(
            "  {:<16} {:>14} → {:<14}{}",
            f.item,
            number(f.previous),
            number(f.current),
            changed
        ));
    }
    lines
}

fn input_lines(inputs: &[InputChangeView]) -> Vec<String> {
    let changed: Vec<&InputChangeView> =
        inputs.iter().filter(|f| f.status != status::SAME).collect();
    let mut lines = vec![format!(
        "inputs: {} file(s), {} unchanged",
        inputs.len(),
        inputs.len() - changed.len()
    )];
    for f in changed {
        let bytes = |b: Option<u64>| b.map(|b| b.to_string()).unwrap_or_else(|| "—".into());
        lines.push(format!(
            "  {:<8} {} ({} → {} bytes)",
            f.status,
            f.path,
            bytes(f.previous_bytes),
            bytes(f.current_bytes)
        ));
    }
    lines
}

fn parameter_lines(parameters: &[ParameterView]) -> Vec<String> {
    if parameters.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["CLV parameters (change in the previous run's standard errors):".into()];
    for p in parameters {
        let shift = p
            .standard_errors
            .map(|s| format!("{s:.2} se"))
            .unwrap_or_else(|| "— se".into());
        lines.push(format!(
            "  {:<20} {:>12} → {:<12} {}",
            format!("{}.{}", p.model, p.parameter),
            number(Some(p.previous)),
            number(Some(p.current)),
            shift
        ));
    }
    lines
}

fn restated_lines(restated: Option<&RestatedView>) -> Vec<String> {
    let Some(r) = restated else {
        return vec!["restatements: not computed (the definitions differ)".into()];
    };
    let mut lines = vec![format!("restatements: {} value(s)", r.total_values)];
    for t in &r.tables {
        let share = t
            .restated_revenue_share
            .map(|s| format!(", {:.4}% of revenue", 100.0 * s))
            .unwrap_or_default();
        lines.push(format!(
            "  {:<18} {} of {} values{}",
            t.table, t.restated_values, t.compared_values, share
        ));
    }
    if !r.largest.is_empty() {
        lines.push(format!("largest (at most {SHOWN_RESTATEMENTS}):"));
    }
    for v in &r.largest {
        lines.push(format!(
            "  {} [{}] {}: {} → {} ({} {})",
            v.table,
            v.row_key,
            v.column,
            number(v.previous),
            number(v.current),
            number(v.change),
            percent(v.relative_change)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::compare::{
        Against, Figure, FileChange, InputChange, ParameterShift, Restated, TableRestated,
    };

    fn figure(section: &'static str, item: &str, previous: f64, current: f64) -> Figure {
        Figure {
            section,
            item: item.into(),
            previous: Some(previous),
            current: Some(current),
        }
    }

    /// A late refund of 12.34 in March 2023, one file added, one CLV
    /// parameter moved by 4 standard errors.
    fn comparison(definitions: Definitions) -> Comparison {
        let refund = |table: &'static str, key: &str| Restatement {
            table,
            key: key.into(),
            column: "revenue",
            previous: Some(1234.5),
            current: Some(1222.16),
        };
        let restated = Restated {
            values: vec![
                refund("cohort_retention", "cohort_month=2023-01-01, period=2"),
                refund("kpis_monthly", "month=2023-03-01"),
            ],
            tables: vec![TableRestated {
                table: "kpis_monthly",
                compared: 120,
                restated: 1,
                restated_counts: 0,
                revenue: Some((24_680.0, 12.34)),
            }],
        };
        let same = definitions.same();
        Comparison {
            current_run_id: "20240402T010000.000Z-2".into(),
            current_as_of: "2024-04-01".into(),
            against: Some(Against {
                previous_run_id: "20240401T010000.000Z-1".into(),
                previous_as_of: "2024-03-31".into(),
                definitions,
                restated: same.then_some(restated),
                inputs: vec![
                    InputChange {
                        path: "orders/a.csv".into(),
                        change: FileChange::Same,
                        previous_bytes: Some(100),
                        current_bytes: Some(100),
                    },
                    InputChange {
                        path: "orders/b.csv".into(),
                        change: FileChange::Added,
                        previous_bytes: None,
                        current_bytes: Some(40),
                    },
                ],
                parameters: vec![ParameterShift {
                    model: "bg_nbd".into(),
                    parameter: "r".into(),
                    previous: 0.5,
                    current: 0.58,
                    previous_std_error: Some(0.02),
                }],
                previous_reject_ratio: 0.0,
            }),
            figures: vec![
                figure("rows", "rows_read", 1000.0, 1040.0),
                figure("totals", "revenue", 24_680.0, 25_100.5),
            ],
            texts: Vec::new(),
            current_reject_ratio: 0.0,
        }
    }

    #[test]
    fn the_terminal_summary() {
        let same = DiffView::of(&comparison(Definitions::Same)).unwrap();
        insta::assert_snapshot!("diff_same_definitions", render_text(&same));
        let changes = vec![(
            "business.time_zone".to_string(),
            Some("\"UTC\"".to_string()),
            Some("\"Europe/Berlin\"".to_string()),
        )];
        let changed = DiffView::of(&comparison(Definitions::Changed(changes))).unwrap();
        insta::assert_snapshot!("diff_changed_definitions", render_text(&changed));
    }

    #[test]
    fn the_json_document_follows_its_schema() {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/diff.schema.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for definitions in [Definitions::Same, Definitions::Unknown] {
            let view = DiffView::of(&comparison(definitions)).unwrap();
            let document = serde_json::to_value(&view).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&document)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{errors:#?}");
        }
        // The schema is strict: an unknown key is an error.
        let mut document =
            serde_json::to_value(DiffView::of(&comparison(Definitions::Same)).unwrap()).unwrap();
        document["extra"] = serde_json::json!(1);
        assert!(!validator.is_valid(&document));
    }

    #[test]
    fn a_number_that_is_not_finite_is_null_in_json() {
        let mut c = comparison(Definitions::Same);
        c.figures[0].current = Some(f64::NAN);
        let view = DiffView::of(&c).unwrap();
        assert_eq!(view.figures[0].current, None);
        assert_eq!(view.figures[0].change, None);
    }
}
