//! The hand-worked fixture: every expected number was computed on paper
//! (tests/fixtures/handworked/README.md), not by running the code.

use crate::support::*;

fn fixture(name: &str) -> std::path::PathBuf {
    repo_path(&format!("tests/fixtures/handworked/{name}"))
}

fn computed() -> retention::run::Computed {
    compute_pipeline(&fixture("pipeline.toml"))
}

#[test]
fn customers_match_hand_computation() {
    let c = computed();
    let expected = read_expected(&fixture("expected_customers.csv"));
    assert_frame_matches(c.table("customers").unwrap(), &expected, "customers");
}

#[test]
fn cohort_retention_matches_hand_computation() {
    let c = computed();
    let expected = read_expected(&fixture("expected_cohort_retention.csv"));
    assert_frame_matches(
        c.table("cohort_retention").unwrap(),
        &expected,
        "cohort_retention",
    );
}

#[test]
fn retention_curve_matches_hand_computation() {
    let c = computed();
    let expected = read_expected(&fixture("expected_retention_curve.csv"));
    assert_frame_matches(
        c.table("retention_curve").unwrap(),
        &expected,
        "retention_curve",
    );
}

#[test]
fn kpis_monthly_match_hand_computation() {
    let c = computed();
    let expected = read_expected(&fixture("expected_kpis_monthly.csv"));
    assert_frame_matches(c.table("kpis_monthly").unwrap(), &expected, "kpis_monthly");
}

#[test]
fn rejects_and_row_counts_match_hand_computation() {
    let c = computed();
    let expected = read_expected(&fixture("expected_rejects.csv"));
    assert_frame_matches(c.table("rejects").unwrap(), &expected, "rejects");
    let counts = &read_expected(&fixture("expected_counts.csv"))[0];
    let n = |k: &str| counts[k].parse::<u64>().unwrap();
    assert_eq!(c.counts.rows_read, n("rows_read"));
    assert_eq!(c.counts.accepted, n("accepted"));
    assert_eq!(c.counts.rejected, n("rejected"));
    assert_eq!(c.counts.excluded(), n("excluded"));
    assert_eq!(c.counts.duplicates, n("duplicates"));
    assert_eq!(c.as_of.to_string(), "2024-05-20");
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
}

#[test]
fn quarterly_cohorts_match_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline_quarter.toml"));
    for (table, file) in [
        ("cohort_retention", "expected_quarter_cohort_retention.csv"),
        ("retention_curve", "expected_quarter_retention_curve.csv"),
    ] {
        let expected = read_expected(&fixture(file));
        assert_frame_matches(c.table(table).unwrap(), &expected, table);
    }
    assert!(c
        .table("cohort_retention")
        .unwrap()
        .column("cohort_month")
        .is_err());
    // The KPIs and the customers' cohort_month stay monthly.
    let monthly = computed();
    for table in ["kpis_monthly", "customers"] {
        let (a, b) = (c.table(table).unwrap(), monthly.table(table).unwrap());
        assert!(
            a.equals_missing(b),
            "{table} changed with the cohort period"
        );
    }
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
}

#[test]
fn weekly_cohorts_match_hand_computation() {
    let weekly = |name: &str| fixture(&format!("weekly/{name}"));
    let c = compute_pipeline(&weekly("pipeline.toml"));
    for table in ["cohort_retention", "retention_curve"] {
        let expected = read_expected(&weekly(&format!("expected_{table}.csv")));
        assert_frame_matches(c.table(table).unwrap(), &expected, table);
    }
    // Monthly tables stay monthly: one month, every customer in January.
    let kpis = c.table("kpis_monthly").unwrap();
    assert_eq!(kpis.height(), 1);
    assert_eq!(
        kpis.column("new_customers").unwrap().get(0).unwrap(),
        5i64.into()
    );
    let customers = c.table("customers").unwrap();
    let months = customers.column("cohort_month").unwrap().unique().unwrap();
    assert_eq!(months.len(), 1);
    assert_eq!(c.counts.excluded(), 1);
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
}
