//! Seeded mutation: bad rows of random classes are inserted into a clean
//! file; `rejects` must hold exactly those rows with the right reasons, and
//! every other table must equal the clean run's.

use std::path::Path;

use polars::prelude::*;

use crate::cli::{ABOUT_THE_RUN, TABLES};
use crate::support::{read_table, retention, write_pipeline, Generate};

/// A bad row of each class (with its own, new order id) and its reason.
/// Times are Europe/Berlin wall clock (the pipeline's zone).
fn bad_row(class: usize, k: usize) -> (String, &'static str) {
    let id = format!("BAD{k:04}");
    match class {
        0 => (
            format!("{id},,2022-05-01T10:00:00Z,10.00"),
            "missing_customer_id",
        ),
        1 => (
            format!("{id},C000001,not-a-date,10.00"),
            "invalid_timestamp",
        ),
        2 => (format!("{id},C000001,,10.00"), "missing_timestamp"),
        3 => (
            format!("{id},C000001,2022-03-27 02:30:00,10.00"),
            "nonexistent_local_time",
        ),
        4 => (
            format!("{id},C000001,2022-10-30 02:30:00,10.00"),
            "ambiguous_local_time",
        ),
        5 => (
            format!("{id},C000001,2022-05-01T10:00:00Z,twelve"),
            "invalid_amount",
        ),
        6 => (
            format!("{id},C000001,2022-05-01T10:00:00Z,NaN"),
            "non_finite_amount",
        ),
        7 => (
            format!("{id},C000001,2022-05-01T10:00:00Z,"),
            "missing_amount",
        ),
        8 => (
            format!("{id},C000001,1800-01-01T10:00:00Z,10.00"),
            "timestamp_out_of_range",
        ),
        _ => (
            ",C000001,2022-05-01T10:00:00Z,10.00".to_string(),
            "missing_order_id",
        ),
    }
}

fn tables(out: &Path) -> Vec<(&'static str, DataFrame)> {
    TABLES
        .iter()
        .filter(|t| **t != "rejects" && **t != "checks" && !ABOUT_THE_RUN.contains(t))
        .map(|t| (*t, read_table(out, t)))
        .collect()
}

#[test]
fn injected_bad_rows_are_exactly_the_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Generate::new(300, 4, 12)
        .start("2022-01-01")
        .write(d, "clean.csv");
    write_pipeline(d, "clean.csv", "");
    assert!(retention(&["run", "pipeline.toml"], d).status.success());
    let clean = tables(&d.join("out"));
    let text = std::fs::read_to_string(d.join("clean.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines.remove(0);

    let mut state: u64 = 2024;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n
    };
    for case in 0..6 {
        let count = 1 + next(50);
        let mut mutated: Vec<(String, Option<&str>)> =
            lines.iter().map(|l| (l.clone(), None)).collect();
        for k in 0..count {
            let (row, reason) = bad_row(next(10), case * 100 + k);
            let at = next(mutated.len() + 1);
            mutated.insert(at, (row, Some(reason)));
        }
        let mut file = header.clone() + "\n";
        for (row, _) in &mutated {
            file.push_str(row);
            file.push('\n');
        }
        let name = format!("mutated_{case}.csv");
        std::fs::write(d.join(&name), file).unwrap();
        write_pipeline(d, &name, "\n[rejects]\nmax_reject_ratio = 1.0");
        // Each case reads other rows than the last: publish all the same.
        let o = retention(&["run", "pipeline.toml", "--accept-changes"], d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

        let expected: Vec<(i64, &str)> = mutated
            .iter()
            .enumerate()
            .filter_map(|(i, (_, reason))| reason.map(|r| (i as i64 + 1, r)))
            .collect();
        let rejects = read_table(&d.join("out"), "rejects");
        let rows: Vec<i64> = rejects
            .column("row")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let reasons: Vec<Option<&str>> = rejects
            .column("reason")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        let got: Vec<(i64, &str)> = rows
            .into_iter()
            .zip(reasons.into_iter().map(Option::unwrap))
            .collect();
        assert_eq!(got, expected, "case {case}");
        for ((name, want), (_, have)) in clean.iter().zip(tables(&d.join("out"))) {
            assert!(
                want.equals_missing(&have),
                "case {case}: {name} differs from the clean run"
            );
        }
    }
}
