//! The "Since the previous run" section: what the run found when it
//! compared itself with the previous run of its output directory
//! (`gates`, `run_comparison`, `restatements`).

use std::fmt::Write as _;

use super::super::data::{comparison_section, item, status, ComparedFigure, GateRow};
use super::super::data::{ReportData, RestatedRow, SincePrevious};
use super::super::format::{self, escape, finite_opt, MISSING};
use super::Cell;
use super::{part, section as page_section, signed_pct, table_with_class, table_with_row_classes};
use crate::stages::compare::gates::Outcome;
use crate::tables::schema::col;

/// The note of a run written before the comparison tables existed.
pub(crate) const NO_COMPARISON: &str = "No comparison (run written before schema version 6)";
/// The note of the first run in an output directory.
pub(crate) const FIRST_RUN: &str =
    "No previous run: this is the first run in this output directory";
/// The note when no value both runs call final changed.
pub(crate) const NO_RESTATEMENTS: &str = "No restated values";
/// Restated values shown, the largest first (the table lists up to 1,000).
const RESTATED_SHOWN: usize = 20;

pub(super) fn section(data: &ReportData) -> String {
    let Some(since) = &data.since_previous else {
        let note = format!("<div class=\"empty\">{}</div>", escape(NO_COMPARISON));
        return page_section(part::CHANGES, "", &note);
    };
    let lead = "What this run found when it compared itself with the run published before it \
                in the same output directory: the gates that decide whether changes may be \
                published, the headline figures side by side, changed input files, and values \
                that both runs call final but that differ (restatements).";
    let mut body = String::new();
    if since.accepted_changes {
        body.push_str(
            "<p class=\"note\"><span class=\"badge fail\">accepted</span> A <code>fail</code> \
             gate fired and the run was published with <code>--accept-changes</code>.</p>",
        );
    }
    match since.previous_run() {
        None => {
            let _ = write!(body, "<p class=\"keys\">{}</p>", escape(FIRST_RUN));
            body.push_str(
                "<p class=\"note\">Nothing to compare with: only the gates that need no \
                 previous run were evaluated.</p><h3>Gates</h3>",
            );
            body.push_str(&gates_table(&since.gates));
        }
        Some(previous) => {
            let _ = write!(
                body,
                "<p class=\"keys\"><span>Previous run: <b>{}</b></span><span>its as of: \
                 <b>{}</b></span><span>this run's as of: <b>{}</b></span></p>",
                escape(&previous.run_id),
                escape(previous.as_of.as_deref().unwrap_or(MISSING)),
                escape(previous.current_as_of.as_deref().unwrap_or(MISSING)),
            );
            body.push_str(&compared_body(since));
        }
    }
    page_section(part::CHANGES, lead, &body)
}

/// Everything shown against a previous run.
fn compared_body(since: &SincePrevious) -> String {
    let mut body = definitions(since);
    body.push_str("<h3>Gates</h3>");
    body.push_str(&gates_table(&since.gates));
    body.push_str("<div class=\"grid2\"><div><h3>Headline figures</h3>");
    body.push_str(&headline_table(&since.headline()));
    body.push_str("</div><div><h3>Input files</h3>");
    body.push_str(&inputs(&since.inputs()));
    body.push_str("</div></div><h3>Restated values</h3>");
    body.push_str(&restated(since));
    body
}

/// A setting's value as the manifest records it (JSON): a string without
/// its quotes, anything else as it is.
fn setting_text(value: Option<&str>) -> String {
    match value {
        Some(v) if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => {
            v[1..v.len() - 1].to_string()
        }
        Some(v) => v.to_string(),
        None => MISSING.to_string(),
    }
}

/// Whether the definitions are the same, or which settings changed.
fn definitions(since: &SincePrevious) -> String {
    let rows = since.definition_rows();
    let changed: Vec<&&ComparedFigure> = rows
        .iter()
        .filter(|r| r.status == status::CHANGED)
        .collect();
    if changed.is_empty() {
        let text = if rows.iter().any(|r| r.status == status::UNKNOWN) {
            "Definitions: the previous run did not record its definitions, so its values \
             were not compared with this run's."
        } else {
            "Definitions: the same as the previous run's, so the two runs' values are \
             compared one by one."
        };
        return format!("<p class=\"note\">{}</p>", escape(text));
    }
    let table_rows: Vec<Vec<Cell>> = changed
        .iter()
        .map(|r| {
            vec![
                Cell::Text(r.item.clone()),
                Cell::Text(setting_text(r.previous_text.as_deref())),
                Cell::Text(setting_text(r.current_text.as_deref())),
            ]
        })
        .collect();
    let mut out = format!(
        "<p class=\"note\"><span class=\"badge warn\">definitions changed</span> {} \
         setting(s) differ from the previous run's: the values are not comparable, so no \
         restatements were computed and the gates about them were skipped.</p>",
        changed.len()
    );
    out.push_str(&table_with_class(
        &[("Setting", false), ("Previous", false), ("Current", false)],
        &table_rows,
        None,
        "compact",
    ));
    out
}

/// A gate's outcome as a badge: green when passed, amber when it fired
/// and the run was published anyway, grey when not evaluated.
fn outcome_badge(outcome: &str) -> String {
    let class = if outcome == Outcome::Passed.label() {
        "pass"
    } else if outcome == Outcome::Failed.label() {
        "fail"
    } else if outcome == Outcome::Skipped.label() {
        "none"
    } else {
        "warn"
    };
    format!("<span class=\"badge {class}\">{}</span>", escape(outcome))
}

/// Every gate with what it measured; the gates that fired highlighted.
fn gates_table(gates: &[GateRow]) -> String {
    if gates.is_empty() {
        return "<p class=\"note\">No gates recorded.</p>".to_string();
    }
    let cells: Vec<Vec<Cell>> = gates
        .iter()
        .map(|g| {
            vec![
                Cell::Text(g.gate.clone()),
                Cell::Text(g.action.clone()),
                Cell::Num(finite_opt(g.threshold).map_or_else(|| MISSING.into(), format::plain)),
                Cell::Num(finite_opt(g.measured).map_or_else(|| MISSING.into(), format::plain)),
                Cell::Html(outcome_badge(&g.outcome)),
                Cell::Html(format!(
                    "<span class=\"detail\">{}</span>",
                    escape(&g.detail)
                )),
            ]
        })
        .collect();
    let rows: Vec<(&[Cell], &str)> = cells
        .iter()
        .zip(gates)
        .map(|(c, g)| (c.as_slice(), if g.fired() { "flagged" } else { "" }))
        .collect();
    table_with_row_classes(
        &[
            ("Gate", false),
            ("Action", false),
            ("Threshold", true),
            ("Measured", true),
            ("Outcome", false),
            ("Detail", false),
        ],
        &rows,
        None,
        "compact",
    )
}

/// A headline figure's name for people.
fn figure_label(f: &ComparedFigure) -> String {
    match (f.section.as_str(), f.item.as_str()) {
        (comparison_section::CLV_MODEL, item::CHOSEN) => "CLV model (chosen)".to_string(),
        (comparison_section::CLV_MODEL, item::HOLDOUT_MAE) => {
            "Chosen model's holdout MAE".to_string()
        }
        (_, name) => {
            let words = name.replace('_', " ");
            let mut chars = words.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    }
}

/// A headline or restated value (`name` its item or column): money for
/// revenue, else a plain number.
fn figure_value(name: &str, v: Option<f64>) -> String {
    match finite_opt(v) {
        Some(v) if name == col::REVENUE => format::money(v),
        Some(v) => format::plain(v),
        None => MISSING.to_string(),
    }
}

/// The previous, current and changed value of a figure as cells; a text
/// figure (the chosen model) shows its texts and whether it changed.
fn figure_cells(f: &ComparedFigure) -> Vec<Cell> {
    if f.previous_text.is_some() || f.current_text.is_some() {
        let text = |t: &Option<String>| t.clone().unwrap_or_else(|| MISSING.to_string());
        return vec![
            Cell::Num(text(&f.previous_text)),
            Cell::Num(text(&f.current_text)),
            Cell::Num(f.status.clone()),
            Cell::Num(MISSING.to_string()),
        ];
    }
    let change = finite_opt(f.change).map_or_else(
        || MISSING.to_string(),
        |c| format::signed(c, figure_value(&f.item, Some(c))),
    );
    vec![
        Cell::Num(figure_value(&f.item, f.previous)),
        Cell::Num(figure_value(&f.item, f.current)),
        Cell::Num(change),
        Cell::Num(signed_pct(f.relative_change)),
    ]
}

/// Rows, totals and the CLV model in both runs; changed rows highlighted.
fn headline_table(figures: &[&ComparedFigure]) -> String {
    if figures.is_empty() {
        return "<p class=\"note\">No headline figures recorded.</p>".to_string();
    }
    let cells: Vec<Vec<Cell>> = figures
        .iter()
        .map(|f| {
            let mut row = vec![Cell::Text(figure_label(f))];
            row.extend(figure_cells(f));
            row
        })
        .collect();
    let rows: Vec<(&[Cell], &str)> = cells
        .iter()
        .zip(figures)
        .map(|(c, f)| {
            let class = if f.status == status::CHANGED {
                "flagged"
            } else {
                ""
            };
            (c.as_slice(), class)
        })
        .collect();
    table_with_row_classes(
        &[
            ("Figure", false),
            ("Previous", true),
            ("Current", true),
            ("Change", true),
            ("Relative", true),
        ],
        &rows,
        None,
        "compact",
    )
}

/// The input files that were added, removed or changed.
fn inputs(files: &[&ComparedFigure]) -> String {
    let changed: Vec<&&ComparedFigure> =
        files.iter().filter(|f| f.status != status::SAME).collect();
    if changed.is_empty() {
        return format!(
            "<p class=\"note\">All {} input files are the same as in the previous run (size and \
             modification time).</p>",
            files.len()
        );
    }
    let size = |v: Option<f64>| {
        finite_opt(v)
            .filter(|b| *b >= 0.0)
            .map_or_else(|| MISSING.to_string(), |b| format::bytes(b as u64))
    };
    let rows: Vec<Vec<Cell>> = changed
        .iter()
        .map(|f| {
            vec![
                Cell::Html(format!("<span class=\"path\">{}</span>", escape(&f.item))),
                Cell::Text(f.status.clone()),
                Cell::Num(size(f.previous)),
                Cell::Num(size(f.current)),
            ]
        })
        .collect();
    let mut out = table_with_class(
        &[
            ("File", false),
            ("Change", false),
            ("Previous size", true),
            ("Current size", true),
        ],
        &rows,
        None,
        "compact",
    );
    let same = files.len() - changed.len();
    if same > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{same} more input file(s) unchanged.</p>"
        );
    }
    out
}

/// Restated values per table and the largest of them.
fn restated(since: &SincePrevious) -> String {
    let rows = since.restated();
    if rows.iter().any(|r| r.status == status::NOT_COMPARED) {
        return "<p class=\"note\">Restatements were not computed: the definitions differ, so \
                the two runs' values are not comparable.</p>"
            .to_string();
    }
    let values = since.restated_values();
    let total = since.restated_count();
    if values.is_empty() && total == 0 {
        let mut out = format!(
            "<p class=\"keys\"><b>{}</b> in the periods both runs call complete.</p>",
            escape(NO_RESTATEMENTS)
        );
        out.push_str(&restated_per_table(&rows));
        return out;
    }
    let mut out = restated_per_table(&rows);
    let shown = values.len().min(RESTATED_SHOWN);
    let _ = write!(
        out,
        "<p class=\"note\">{} restated values in all ({} listed in <code>restatements</code>, \
         the largest relative changes first); the {shown} largest are shown.</p>",
        format::int(total),
        format::int(values.len() as i64),
    );
    out.push_str(&restated_values_table(&values[..shown]));
    out
}

/// A table's restated values and restated share of revenue, as the
/// `restated` rows give them.
type RestatedTable<'a> = (&'a str, Option<f64>, Option<f64>);

/// The `restated` rows gathered per table, in their order.
fn restated_by_table<'a>(rows: &[&'a ComparedFigure]) -> Vec<RestatedTable<'a>> {
    let mut tables: Vec<RestatedTable<'a>> = Vec::new();
    for r in rows {
        let (table, is_count) = match (
            r.item.strip_suffix(item::RESTATED_VALUES),
            r.item.strip_suffix(item::REVENUE_SHARE),
        ) {
            (Some(t), _) => (t, true),
            (None, Some(t)) => (t, false),
            (None, None) => continue,
        };
        if !tables.iter().any(|t| t.0 == table) {
            tables.push((table, None, None));
        }
        if let Some(entry) = tables.iter_mut().find(|t| t.0 == table) {
            let value = if is_count { &mut entry.1 } else { &mut entry.2 };
            *value = finite_opt(r.current);
        }
    }
    tables
}

/// Per table: how many values were restated, and the restated share of its
/// revenue where it has one; tables with restated values highlighted.
fn restated_per_table(rows: &[&ComparedFigure]) -> String {
    let tables = restated_by_table(rows);
    if tables.is_empty() {
        return String::new();
    }
    let cells: Vec<Vec<Cell>> = tables
        .iter()
        .map(|(table, count, share)| {
            vec![
                Cell::Text(table.to_string()),
                Cell::Num(count.map_or_else(|| MISSING.to_string(), format::plain)),
                Cell::Num(share.map_or_else(|| MISSING.to_string(), |s| format::pct(s, 3))),
            ]
        })
        .collect();
    let rows: Vec<(&[Cell], &str)> = cells
        .iter()
        .zip(&tables)
        .map(|(c, t)| {
            (
                c.as_slice(),
                if t.1.unwrap_or(0.0) > 0.0 {
                    "flagged"
                } else {
                    ""
                },
            )
        })
        .collect();
    table_with_row_classes(
        &[
            ("Table", false),
            ("Restated values", true),
            ("Share of revenue", true),
        ],
        &rows,
        None,
        "compact",
    )
}

/// The largest restated values with their previous and current values.
fn restated_values_table(values: &[&RestatedRow]) -> String {
    let rows: Vec<Vec<Cell>> = values
        .iter()
        .map(|r| {
            let change = finite_opt(r.change).map_or_else(
                || MISSING.to_string(),
                |c| format::signed(c, figure_value(&r.column, Some(c))),
            );
            vec![
                Cell::Text(r.table.clone()),
                Cell::Text(r.row_key.clone().unwrap_or_else(|| MISSING.to_string())),
                Cell::Text(r.column.clone()),
                Cell::Num(figure_value(&r.column, r.previous)),
                Cell::Num(figure_value(&r.column, r.current)),
                Cell::Num(change),
                Cell::Num(signed_pct(r.relative_change)),
            ]
        })
        .collect();
    table_with_class(
        &[
            ("Table", false),
            ("Row", false),
            ("Column", false),
            ("Previous", true),
            ("Current", true),
            ("Change", true),
            ("Relative", true),
        ],
        &rows,
        None,
        "compact",
    )
}
