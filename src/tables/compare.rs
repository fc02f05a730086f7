//! `restatements`, `run_comparison` and `gates`, from the comparison with
//! the previous run ([`crate::stages::compare`]).

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::stages::compare::gates::{action_label, GateResult};
use crate::stages::compare::{
    change, relative_change, Comparison, Definitions, Restated, Restatement,
};
use crate::tables::schema::col;
use crate::tables::schema::compare::{
    item, row_kind, section, status, GATES, RESTATEMENTS, RUN_COMPARISON,
};

/// At most this many restated values are listed, the largest first; the
/// totals count them all.
pub const MAX_RESTATEMENT_ROWS: usize = 1_000;

/// One row of `restatements`.
struct RestatementRow {
    kind: &'static str,
    table: &'static str,
    key: Option<String>,
    column: &'static str,
    previous: Option<f64>,
    current: Option<f64>,
    restated_values: i64,
}

/// `restatements`: the largest restated values, then one total per table
/// and column (empty without a comparable previous run).
pub fn restatements_table(restated: Option<&Restated>) -> Result<DataFrame> {
    let rows = match restated {
        Some(r) => restatement_rows(r),
        None => Vec::new(),
    };
    let change = |r: &RestatementRow| change(r.previous, r.current);
    let relative = |r: &RestatementRow| relative_change(r.previous, r.current);
    FrameBuilder::new(&RESTATEMENTS, rows.len())
        .add(
            col::ROW_KIND,
            rows.iter().map(|r| r.kind).collect::<Vec<_>>(),
        )?
        .add(
            col::TABLE_NAME,
            rows.iter().map(|r| r.table).collect::<Vec<_>>(),
        )?
        .add(
            col::ROW_KEY,
            rows.iter().map(|r| r.key.as_deref()).collect::<Vec<_>>(),
        )?
        .add(
            col::COLUMN_NAME,
            rows.iter().map(|r| r.column).collect::<Vec<_>>(),
        )?
        .add(
            col::PREVIOUS,
            rows.iter().map(|r| r.previous).collect::<Vec<_>>(),
        )?
        .add(
            col::CURRENT,
            rows.iter().map(|r| r.current).collect::<Vec<_>>(),
        )?
        .add(col::CHANGE, rows.iter().map(change).collect::<Vec<_>>())?
        .add(
            col::RELATIVE_CHANGE,
            rows.iter().map(relative).collect::<Vec<_>>(),
        )?
        .add(
            col::RESTATED_VALUES,
            rows.iter().map(|r| r.restated_values).collect::<Vec<_>>(),
        )?
        .finish()
}

fn restatement_rows(restated: &Restated) -> Vec<RestatementRow> {
    let mut rows: Vec<RestatementRow> = restated
        .values
        .iter()
        .take(MAX_RESTATEMENT_ROWS)
        .map(|r| RestatementRow {
            kind: row_kind::VALUE,
            table: r.table,
            key: Some(r.key.clone()),
            column: r.column,
            previous: r.previous,
            current: r.current,
            restated_values: 1,
        })
        .collect();
    rows.extend(totals(&restated.values));
    rows
}

/// One total per table and column, in the order they first appear in the
/// tables' declarations (the values are sorted by size, so regroup).
fn totals(values: &[Restatement]) -> Vec<RestatementRow> {
    let mut groups: Vec<(&'static str, &'static str)> =
        values.iter().map(|r| (r.table, r.column)).collect();
    let order = |(table, column): &(&str, &str)| {
        let t = crate::tables::schema::ALL
            .iter()
            .position(|s| s.name == *table);
        let c = crate::tables::schema::schema_of(table)
            .and_then(|s| s.columns.iter().position(|d| d.name == *column));
        (t, c)
    };
    groups.sort_by_key(order);
    groups.dedup();
    groups
        .into_iter()
        .map(|(table, column)| {
            let mine: Vec<&Restatement> = values
                .iter()
                .filter(|r| r.table == table && r.column == column)
                .collect();
            let sum =
                |f: fn(&Restatement) -> Option<f64>| mine.iter().map(|r| f(r)).sum::<Option<f64>>();
            RestatementRow {
                kind: row_kind::TOTAL,
                table,
                key: None,
                column,
                previous: sum(|r| r.previous),
                current: sum(|r| r.current),
                restated_values: mine.len() as i64,
            }
        })
        .collect()
}

/// One row of `run_comparison`.
#[derive(Default)]
struct ComparisonRow {
    section: &'static str,
    item: String,
    previous: Option<f64>,
    current: Option<f64>,
    standard_errors: Option<f64>,
    previous_text: Option<String>,
    current_text: Option<String>,
    status: &'static str,
}

/// `run_comparison`: the run against the previous one, figure by figure.
pub fn run_comparison_table(comparison: &Comparison) -> Result<DataFrame> {
    let rows = comparison_rows(comparison);
    let change = |r: &ComparisonRow| change(r.previous, r.current);
    let relative = |r: &ComparisonRow| relative_change(r.previous, r.current);
    FrameBuilder::new(&RUN_COMPARISON, rows.len())
        .add(
            col::SECTION,
            rows.iter().map(|r| r.section).collect::<Vec<_>>(),
        )?
        .add(
            col::ITEM,
            rows.iter().map(|r| r.item.as_str()).collect::<Vec<_>>(),
        )?
        .add(
            col::PREVIOUS,
            rows.iter().map(|r| r.previous).collect::<Vec<_>>(),
        )?
        .add(
            col::CURRENT,
            rows.iter().map(|r| r.current).collect::<Vec<_>>(),
        )?
        .add(col::CHANGE, rows.iter().map(change).collect::<Vec<_>>())?
        .add(
            col::RELATIVE_CHANGE,
            rows.iter().map(relative).collect::<Vec<_>>(),
        )?
        .add(
            col::STANDARD_ERRORS,
            rows.iter().map(|r| r.standard_errors).collect::<Vec<_>>(),
        )?
        .add(
            col::PREVIOUS_TEXT,
            rows.iter()
                .map(|r| r.previous_text.as_deref())
                .collect::<Vec<_>>(),
        )?
        .add(
            col::CURRENT_TEXT,
            rows.iter()
                .map(|r| r.current_text.as_deref())
                .collect::<Vec<_>>(),
        )?
        .add(
            col::STATUS,
            rows.iter().map(|r| r.status).collect::<Vec<_>>(),
        )?
        .finish()
}

/// `same` or `changed` for two values of either kind.
fn status_of<T: PartialEq>(
    previous: &Option<T>,
    current: &Option<T>,
    compared: bool,
) -> &'static str {
    match (compared, previous == current) {
        (false, _) => status::NONE,
        (true, true) => status::SAME,
        (true, false) => status::CHANGED,
    }
}

fn comparison_rows(comparison: &Comparison) -> Vec<ComparisonRow> {
    let against = comparison.against.as_ref();
    let compared = against.is_some();
    let mut rows = vec![
        ComparisonRow {
            section: section::RUN,
            item: item::RUN_ID.into(),
            previous_text: against.map(|a| a.previous_run_id.clone()),
            current_text: Some(comparison.current_run_id.clone()),
            status: if compared {
                status::CHANGED
            } else {
                status::NONE
            },
            ..Default::default()
        },
        ComparisonRow {
            section: section::RUN,
            item: item::AS_OF.into(),
            previous_text: against.map(|a| a.previous_as_of.clone()),
            current_text: Some(comparison.current_as_of.clone()),
            status: status_of(
                &against.map(|a| a.previous_as_of.clone()),
                &Some(comparison.current_as_of.clone()),
                compared,
            ),
            ..Default::default()
        },
    ];
    if let Some(a) = against {
        rows.extend(definition_rows(&a.definitions));
    }
    for f in &comparison.figures {
        rows.push(ComparisonRow {
            section: f.section,
            item: f.item.clone(),
            previous: f.previous,
            current: f.current,
            status: status_of(&f.previous, &f.current, compared),
            ..Default::default()
        });
    }
    for t in &comparison.texts {
        rows.push(ComparisonRow {
            section: t.section,
            item: t.item.clone(),
            previous_text: t.previous.clone(),
            current_text: t.current.clone(),
            status: status_of(&t.previous, &t.current, compared),
            ..Default::default()
        });
    }
    if let Some(a) = against {
        rows.extend(against_rows(a));
    }
    rows
}

fn definition_rows(definitions: &Definitions) -> Vec<ComparisonRow> {
    let row = |item: &str, status: &'static str| ComparisonRow {
        section: section::DEFINITIONS,
        item: item.to_string(),
        status,
        ..Default::default()
    };
    match definitions {
        Definitions::Same => vec![row(item::DEFINITIONS, status::SAME)],
        Definitions::Unknown => vec![row(item::DEFINITIONS, status::UNKNOWN)],
        Definitions::Changed(changes) => changes
            .iter()
            .map(|(key, before, now)| ComparisonRow {
                previous_text: before.clone(),
                current_text: now.clone(),
                ..row(key, status::CHANGED)
            })
            .collect(),
    }
}

/// Inputs, CLV parameters and per-table restatement counts.
fn against_rows(a: &crate::stages::compare::Against) -> Vec<ComparisonRow> {
    let mut rows: Vec<ComparisonRow> = a
        .inputs
        .iter()
        .map(|f| ComparisonRow {
            section: section::INPUT,
            item: f.path.clone(),
            previous: f.previous_bytes.map(|b| b as f64),
            current: f.current_bytes.map(|b| b as f64),
            status: f.change.label(),
            ..Default::default()
        })
        .collect();
    rows.extend(a.parameters.iter().map(|p| ComparisonRow {
        section: section::CLV_PARAMETER,
        item: format!("{}.{}", p.model, p.parameter),
        previous: Some(p.previous),
        current: Some(p.current),
        standard_errors: p.standard_errors(),
        status: status_of(&Some(p.previous), &Some(p.current), true),
        ..Default::default()
    }));
    let Some(restated) = &a.restated else {
        rows.push(ComparisonRow {
            section: section::RESTATED,
            item: item::ALL_TABLES.into(),
            status: status::NOT_COMPARED,
            ..Default::default()
        });
        return rows;
    };
    for t in &restated.tables {
        let status = if t.restated == 0 {
            status::SAME
        } else {
            status::CHANGED
        };
        rows.push(ComparisonRow {
            section: section::RESTATED,
            item: format!("{}{}", t.table, item::RESTATED_VALUES),
            current: Some(t.restated as f64),
            status,
            ..Default::default()
        });
        if let Some(share) = t.revenue_share() {
            rows.push(ComparisonRow {
                section: section::RESTATED,
                item: format!("{}{}", t.table, item::REVENUE_SHARE),
                current: Some(share),
                status,
                ..Default::default()
            });
        }
    }
    rows
}

/// `gates`: one row per gate.
pub fn gates_table(results: &[GateResult]) -> Result<DataFrame> {
    FrameBuilder::new(&GATES, results.len())
        .add(
            col::GATE,
            results.iter().map(|r| r.gate.as_str()).collect::<Vec<_>>(),
        )?
        .add(
            col::ACTION,
            results
                .iter()
                .map(|r| action_label(r.action))
                .collect::<Vec<_>>(),
        )?
        .add(
            col::THRESHOLD,
            results.iter().map(|r| r.threshold).collect::<Vec<_>>(),
        )?
        .add(
            col::MEASURED,
            results.iter().map(|r| r.measured).collect::<Vec<_>>(),
        )?
        .add(
            col::OUTCOME,
            results
                .iter()
                .map(|r| r.outcome.label())
                .collect::<Vec<_>>(),
        )?
        .add(
            col::DETAIL,
            results
                .iter()
                .map(|r| r.detail.as_str())
                .collect::<Vec<_>>(),
        )?
        .finish()
}
