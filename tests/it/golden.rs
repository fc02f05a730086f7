//! Golden outputs: tests/golden/expected/*.csv were produced by an
//! independent DuckDB SQL implementation of SPEC §4 (tests/golden/golden.sql,
//! regenerate with `make golden`) on a generated history.

use crate::common::*;

fn check(table: &str) {
    let c = compute_pipeline(&repo_path("tests/golden/pipeline.toml"));
    let expected = read_expected(&repo_path(&format!("tests/golden/expected/{table}.csv")));
    assert_frame_matches(c.table(table).unwrap(), &expected, table);
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
