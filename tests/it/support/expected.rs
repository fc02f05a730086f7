//! Running a pipeline in-process, and comparing a frame with a CSV file
//! of expectations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, Computed, RunOptions};

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs every stage of a pipeline file (no publishing).
pub fn compute_pipeline(path: &Path) -> Computed {
    let pipeline = Pipeline::load(path).expect("pipeline loads");
    compute(&pipeline, &RunOptions::default()).expect("pipeline computes")
}

/// A CSV file of expectations: header, then rows of plain fields (these
/// files contain no quoted commas).
pub fn read_expected(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// An expected number: `a/b`, a decimal, or empty for null.
pub fn parse_expected_number(text: &str) -> Option<Option<f64>> {
    let t = text.trim();
    if t.is_empty() {
        return Some(None);
    }
    if let Some((a, b)) = t.split_once('/') {
        let (a, b) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
        return Some(Some(a / b));
    }
    t.parse::<f64>().ok().map(Some)
}

/// A cell of a frame as text (dates ISO, booleans true/false, null empty),
/// or as a number when it is numeric.
pub enum Cell {
    Text(String),
    Number(Option<f64>),
}

pub fn cell(frame: &DataFrame, column: &str, row: usize) -> Cell {
    let value = frame
        .column(column)
        .unwrap_or_else(|_| panic!("column `{column}` missing"))
        .get(row)
        .expect("row in range");
    match value {
        AnyValue::Null => Cell::Number(None),
        AnyValue::Int64(v) => Cell::Number(Some(v as f64)),
        AnyValue::Int32(v) => Cell::Number(Some(v as f64)),
        AnyValue::UInt32(v) => Cell::Number(Some(v as f64)),
        AnyValue::Float64(v) => Cell::Number(Some(v)),
        AnyValue::Boolean(v) => Cell::Text(v.to_string()),
        AnyValue::Date(d) => Cell::Text(retention::time::date_of(d).to_string()),
        AnyValue::String(s) => Cell::Text(s.to_string()),
        AnyValue::StringOwned(s) => Cell::Text(s.to_string()),
        other => Cell::Text(other.to_string()),
    }
}

/// Compares a frame with expected rows (same order), column by column.
/// Numbers agree to a relative 1e-9 (the expectations are exact fractions
/// or shortest decimals; the frame holds doubles).
pub fn assert_frame_matches(frame: &DataFrame, expected: &[HashMap<String, String>], what: &str) {
    assert_eq!(
        frame.height(),
        expected.len(),
        "{what}: row count differs\n{frame}"
    );
    let mut problems = Vec::new();
    for (row, fields) in expected.iter().enumerate() {
        let mut columns: Vec<&String> = fields.keys().collect();
        columns.sort();
        for column in columns {
            let want = &fields[column];
            match cell(frame, column, row) {
                Cell::Text(got) => {
                    if got != *want {
                        problems.push(format!(
                            "{what} row {row} `{column}`: expected `{want}`, got `{got}`"
                        ));
                    }
                }
                Cell::Number(got) => {
                    let want_number = parse_expected_number(want).unwrap_or_else(|| {
                        panic!("{what} row {row} `{column}`: `{want}` is not a number")
                    });
                    let same = match (got, want_number) {
                        (None, None) => true,
                        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                        _ => false,
                    };
                    if !same {
                        problems.push(format!(
                            "{what} row {row} `{column}`: expected `{want}`, got {got:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
