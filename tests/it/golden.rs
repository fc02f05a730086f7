//! Golden outputs: tests/golden/expected/*.csv were produced by an
//! independent DuckDB SQL implementation of SPEC §4 (tests/golden/golden.sql,
//! regenerate with `make golden`) on a generated history. The cohort tables
//! are compared for monthly, weekly and quarterly cohorts.

use crate::support::*;

fn check(table: &str) {
    check_variant(table, "");
}

/// Compares `table` of `tests/golden/pipeline{suffix}.toml` with
/// `tests/golden/expected/{table}{suffix}.csv`.
fn check_variant(table: &str, suffix: &str) {
    let c = compute_pipeline(&repo_path(&format!("tests/golden/pipeline{suffix}.toml")));
    let expected = read_expected(&repo_path(&format!(
        "tests/golden/expected/{table}{suffix}.csv"
    )));
    assert_frame_matches(c.table(table).unwrap(), &expected, table);
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
}

#[test]
fn customers_match_duckdb() {
    check("customers");
}

#[test]
fn cohort_retention_matches_duckdb() {
    check("cohort_retention");
}

#[test]
fn retention_curve_matches_duckdb() {
    check("retention_curve");
}

#[test]
fn kpis_monthly_match_duckdb() {
    check("kpis_monthly");
}

#[test]
fn weekly_cohort_retention_matches_duckdb() {
    check_variant("cohort_retention", "_week");
}

#[test]
fn weekly_retention_curve_matches_duckdb() {
    check_variant("retention_curve", "_week");
}

#[test]
fn quarterly_cohort_retention_matches_duckdb() {
    check_variant("cohort_retention", "_quarter");
}

#[test]
fn quarterly_retention_curve_matches_duckdb() {
    check_variant("retention_curve", "_quarter");
}
