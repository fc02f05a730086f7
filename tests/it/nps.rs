//! NPS from the survey input: the hand-worked fixture
//! (tests/fixtures/nps/README.md, computed on paper), survey rejects, runs
//! of the real binary with and without surveys, and generated data whose
//! promoters must retain better than its detractors.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::cli::TABLES;
use crate::support::*;

fn fixture(name: &str) -> PathBuf {
    repo_path(&format!("tests/fixtures/nps/{name}"))
}

#[test]
fn nps_tables_match_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline.toml"));
    for table in [
        "nps_monthly",
        "nps_by_cohort",
        "nps_by_tier",
        "nps_retention",
    ] {
        let expected = read_expected(&fixture(&format!("expected_{table}.csv")));
        assert_frame_matches(c.table(table).unwrap(), &expected, table);
    }
}

/// The hand-worked fixture's survey file read a row at a time under a
/// budget so small that every chunk's ids are looked up on their own and
/// the per-customer results are spilled: the same NPS tables and rejects
/// (raw records read again from the file) as the hand computation.
#[test]
fn surveys_read_a_row_at_a_time_match_hand_computation() {
    let pipeline = retention::config::Pipeline::load(&fixture("pipeline.toml")).unwrap();
    let spill = tempfile::tempdir().unwrap();
    let options = retention::run::RunOptions {
        chunk_rows: Some(1),
        memory_limit: Some(1),
        spill_parent: Some(spill.path().to_path_buf()),
        ..Default::default()
    };
    let c = retention::run::compute(&pipeline, &options).unwrap();
    assert!(c.resources.results_spilled);
    for table in [
        "nps_monthly",
        "nps_by_cohort",
        "nps_by_tier",
        "nps_retention",
        "rejects",
    ] {
        let expected = read_expected(&fixture(&format!("expected_{table}.csv")));
        assert_frame_matches(c.table(table).unwrap(), &expected, table);
    }
    // The rows rejected once every chunk was read, read again whole.
    let raw = rendered_texts(c.table("rejects").unwrap(), "raw_record");
    assert_eq!(
        (raw[6].as_str(), raw[8].as_str()),
        (
            r#"{"customer_id":"X","response_ts":"2024-04-02 10:00:00","score":"9"}"#,
            r#"{"customer_id":"D","response_ts":"2024-03-01 10:00:00","score":"9"}"#
        )
    );
}

#[test]
fn survey_rejects_and_counts_match_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline.toml"));
    let rejects = c.table("rejects").unwrap();
    let expected = read_expected(&fixture("expected_rejects.csv"));
    assert_frame_matches(rejects, &expected, "rejects");
    // Every reject names the survey file it came from.
    for source in rendered_texts(rejects, "source") {
        assert!(source.ends_with("surveys.csv"), "{source}");
    }
    // The raw record shows the row whole.
    let raw = rendered_texts(rejects, "raw_record");
    assert_eq!(
        raw[4],
        r#"{"customer_id":"D","response_ts":"2024-04-01 10:00:00","score":"8.5"}"#
    );

    let surveys = c.surveys.as_ref().expect("the fixture has surveys");
    let counts = &read_expected(&fixture("expected_counts.csv"))[0];
    let n = |k: &str| counts[k].parse::<u64>().unwrap();
    assert_eq!(surveys.counts.rows_read, n("rows_read"));
    assert_eq!(surveys.counts.accepted, n("accepted"));
    assert_eq!(surveys.counts.rejected, n("rejected"));
    assert_eq!(surveys.counts.excluded(), n("excluded"));
    assert_eq!(surveys.counts.duplicates, n("duplicates"));
    let by_reason: std::collections::HashMap<_, _> =
        surveys.rejects_by_reason.iter().cloned().collect();
    assert_eq!(by_reason["invalid_score"], 2);
    assert_eq!(by_reason["response_without_order"], 2);

    // The order side is untouched by the survey input.
    assert_eq!(c.counts.rows_read, 10);
    assert_eq!(c.counts.rejected, 0);
    assert_eq!(c.counts.excluded_after_as_of, 1);

    let survey_checks: Vec<_> = c
        .checks
        .iter()
        .filter(|k| k.check.starts_with("survey"))
        .collect();
    // Accounting, and the responses of nps_monthly, nps_by_cohort and
    // nps_by_tier each equal to the accepted ones.
    assert_eq!(survey_checks.len(), 4, "{:?}", c.checks);
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
    let accounting = survey_checks
        .iter()
        .find(|k| k.check.contains("rows_read"))
        .unwrap();
    assert_eq!((accounting.expected, accounting.actual), (24, 24));
}

/// Copies the fixture's inputs into a fresh directory with a pipeline
/// whose `[surveys]` section is `surveys` (empty: none).
fn fixture_dir(surveys: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(fixture("orders.csv"), d.join("orders.csv")).unwrap();
    std::fs::copy(fixture("surveys.csv"), d.join("surveys.csv")).unwrap();
    PipelineFile::over("orders.csv")
        .business("time_zone = \"America/New_York\"\nas_of = 2024-05-25")
        .rest(&format!("[rejects]\nmax_reject_ratio = 0.6\n\n{surveys}"))
        .write(d);
    dir
}

fn manifest(d: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(d.join("out/current/_manifest.json")).unwrap()).unwrap()
}

#[test]
fn without_surveys_no_nps_tables_are_published() {
    let dir = fixture_dir("");
    let d = dir.path();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(d);
    let tables: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["table"].as_str().unwrap())
        .collect();
    // This fixture has no [loyalty] section, so no tier_migration either.
    let expected: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|t| *t != "tier_migration")
        .collect();
    assert_eq!(tables, expected);
    assert!(m.get("surveys").is_none(), "{m}");
    assert!(!d.join("out/current/nps_monthly").exists());
    let checks = read_table(&d.join("out"), "checks");
    assert!(!rendered_texts(&checks, "check_name")
        .iter()
        .any(|c| c.contains("survey")));
}

#[test]
fn with_surveys_the_binary_publishes_nps_tables_and_survey_rows() {
    // The fixture's tiers (pipeline.toml), so nps_by_tier is published too.
    let dir = fixture_dir(
        "[loyalty]\ntiers = [{ name = \"Bronze\", min_spend = 0 }, { name = \"Silver\", min_spend = 30 }, { name = \"Gold\", min_spend = 50 }]\n[surveys]\npath = \"surveys.csv\"",
    );
    let d = dir.path();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(d);
    let tables: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["table"].as_str().unwrap())
        .collect();
    for t in [
        "nps_monthly",
        "nps_by_cohort",
        "nps_by_tier",
        "nps_retention",
    ] {
        assert!(tables.contains(&t), "{tables:?}");
    }
    let rows = &m["surveys"]["rows"];
    assert_eq!(rows["read"], 24);
    assert_eq!(rows["accepted"], 10);
    assert_eq!(rows["rejected"], 12);
    assert_eq!(rows["excluded_after_as_of"], 1);
    assert_eq!(rows["duplicates"], 1);
    assert!(m["surveys"]["inputs"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("surveys.csv"));
    // The order rows are counted apart from the survey rows.
    assert_eq!(m["rows"]["read"], 10);

    // Read back with an independent reader: the hand-worked numbers.
    let out = d.join("out");
    for table in [
        "nps_monthly",
        "nps_by_cohort",
        "nps_by_tier",
        "nps_retention",
    ] {
        let expected = read_expected(&fixture(&format!("expected_{table}.csv")));
        assert_frame_matches(&read_table(&out, table), &expected, table);
    }
    let rejects = read_table(&out, "rejects");
    assert_eq!(rejects.height(), 12);
    let checks = read_table(&out, "checks");
    let names = rendered_texts(&checks, "check_name");
    assert!(names
        .iter()
        .any(|c| c == "survey rows_read = accepted + rejected + excluded + duplicates"));

    // A changed survey file is a new run, not "already published".
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("already published"));
    let mut text = std::fs::read_to_string(d.join("surveys.csv")).unwrap();
    text.push_str("A,2024-05-11 10:00:00,3\n");
    std::fs::write(d.join("surveys.csv"), text).unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("published run"));
    assert_eq!(manifest(d)["surveys"]["rows"]["accepted"], 11);
}

#[test]
fn survey_rejects_name_their_file_and_row_across_a_glob() {
    let dir = fixture_dir("[surveys]\npath = \"surveys/part_*.csv\"");
    let d = dir.path();
    std::fs::create_dir_all(d.join("surveys")).unwrap();
    std::fs::write(
        d.join("surveys/part_1.csv"),
        "customer_id,response_ts,score\nA,2024-01-12,10\nB,2024-01-25,x\n",
    )
    .unwrap();
    std::fs::write(
        d.join("surveys/part_2.csv"),
        "customer_id,response_ts,score\nC,2024-02-08,8\nD,2024-03-15,3\nZ,2024-03-15,3\n",
    )
    .unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let rejects = read_table(&d.join("out"), "rejects");
    let source = rendered_texts(&rejects, "source");
    assert_eq!(rejects.height(), 2, "{rejects}");
    assert!(source[0].ends_with("part_1.csv"), "{source:?}");
    assert!(source[1].ends_with("part_2.csv"), "{source:?}");
    assert_eq!(ints(&rejects, "row"), [2, 3]);
    assert_eq!(
        rendered_texts(&rejects, "reason"),
        ["invalid_score", "response_without_order"]
    );
    assert_eq!(
        rendered_texts(&rejects, "column_name"),
        ["score", "customer_id"]
    );
    assert_eq!(rendered_texts(&rejects, "value"), ["x", "Z"]);
    let monthly = read_table(&d.join("out"), "nps_monthly");
    assert_eq!(ints(&monthly, "responses"), [1, 1, 1, 0, 0]);
}

#[test]
fn too_many_survey_rejects_fail_the_run_naming_the_first() {
    let dir = fixture_dir("[surveys]\npath = \"surveys.csv\"");
    let d = dir.path();
    let text = std::fs::read_to_string(d.join("pipeline.toml")).unwrap();
    std::fs::write(
        d.join("pipeline.toml"),
        text.replace("max_reject_ratio = 0.6", "max_reject_ratio = 0.2"),
    )
    .unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("surveys.csv") && err.contains("row 7") && err.contains("missing_customer_id"),
        "{err}"
    );
    assert!(!d.join("out/current").exists());
}

#[test]
fn survey_config_and_column_errors_name_the_problem() {
    let dir = fixture_dir("[surveys]\npath = \"surveys.csv\"\nweight = 2");
    let o = retention(&["run", "pipeline.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("weight"), "{}", stderr(&o));

    // A mapped column the survey file lacks: an invalid pipeline, exit 2.
    let dir = fixture_dir("[surveys]\npath = \"surveys.csv\"\n[surveys.columns]\nscore = \"nps\"");
    let o = retention(&["validate", "pipeline.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("surveys.csv") && stderr(&o).contains("`nps`"),
        "{}",
        stderr(&o)
    );

    let dir = fixture_dir("[surveys]\npath = \"missing.csv\"");
    let o = retention(&["run", "pipeline.toml"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.csv"), "{}", stderr(&o));
}

fn generate_with_surveys(d: &Path, customers: &str, seed: &str, orders: &str, surveys: &str) {
    Generate::new(customers.parse().unwrap(), seed.parse().unwrap(), 36)
        .start("2021-01-01")
        .surveys(surveys)
        .write(d, orders);
}

/// Pooled over months_after: ordered / respondents of one category.
fn pooled_rate(retention_table: &DataFrame, category: &str) -> (i64, f64) {
    let categories = rendered_texts(retention_table, "nps_category");
    let respondents = ints(retention_table, "respondents");
    let ordered = ints(retention_table, "ordered");
    let (mut r, mut o) = (0, 0);
    for i in 0..categories.len() {
        if categories[i] == category {
            r += respondents[i];
            o += ordered[i];
        }
    }
    (r, o as f64 / r as f64)
}

#[test]
fn generated_surveys_run_end_to_end_and_promoters_retain_better() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate_with_surveys(d, "3000", "11", "orders.csv", "surveys.csv");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("orders.csv.truth.json")).unwrap()).unwrap();
    assert!(truth["truth"]["surveys"]["description"]
        .as_str()
        .unwrap()
        .contains("dropout"));
    let responses = truth["surveys"]["responses"].as_u64().unwrap();
    assert!(responses > 1000, "{truth}");
    crate::support::write_pipeline(d, "orders.csv", "[surveys]\npath = \"surveys.csv\"");
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(d);
    // Every generated response is accepted or, past as_of, excluded.
    let rows = &m["surveys"]["rows"];
    assert_eq!(rows["read"].as_u64().unwrap(), responses);
    assert_eq!(rows["rejected"], 0);
    assert_eq!(rows["duplicates"], 0);

    let table = read_table(&d.join("out"), "nps_retention");
    let (promoters, promoter_rate) = pooled_rate(&table, "promoter");
    let (detractors, detractor_rate) = pooled_rate(&table, "detractor");
    let (passives, passive_rate) = pooled_rate(&table, "passive");
    eprintln!(
        "pooled retention after the first response: promoters {promoter_rate:.3} \
         ({promoters}), passives {passive_rate:.3} ({passives}), detractors {detractor_rate:.3} \
         ({detractors})"
    );
    assert!(promoters > 500 && detractors > 100, "{table}");
    assert!(
        promoter_rate > 1.5 * detractor_rate,
        "promoters {promoter_rate:.3} vs detractors {detractor_rate:.3}\n{table}"
    );
    // Month by month too, over the first six months after the response.
    let categories = rendered_texts(&table, "nps_category");
    let rate: Vec<Option<f64>> = table
        .column("retention_rate")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    for k in 0..6 {
        let d_rate = rate[k].unwrap();
        let p_rate = rate[24 + k].unwrap();
        assert_eq!(
            (&*categories[k], &*categories[24 + k]),
            ("detractor", "promoter")
        );
        assert!(p_rate > d_rate, "k = {}: {p_rate} vs {d_rate}", k + 1);
    }
    let monthly = read_table(&d.join("out"), "nps_monthly");
    assert_eq!(
        ints(&monthly, "responses").iter().sum::<i64>() as u64,
        rows["accepted"].as_u64().unwrap()
    );
}

#[test]
fn csv_and_parquet_surveys_give_identical_nps_tables() {
    let root = tempfile::tempdir().unwrap();
    let mut frames = Vec::new();
    for (name, orders, surveys) in [
        ("csv", "orders.csv", "surveys.csv"),
        ("pq", "orders.parquet", "surveys.parquet"),
    ] {
        let d = root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        generate_with_surveys(&d, "500", "3", orders, surveys);
        crate::support::write_pipeline(&d, orders, &format!("[surveys]\npath = \"{surveys}\""));
        let o = retention(&["run", "pipeline.toml"], &d);
        assert!(o.status.success(), "{}", stderr(&o));
        frames.push(
            ["nps_monthly", "nps_by_cohort", "nps_retention"]
                .map(|t| read_table(&d.join("out"), t)),
        );
    }
    for (a, b) in frames[0].iter().zip(&frames[1]) {
        assert!(a.equals_missing(b), "{a}\nvs\n{b}");
    }
    assert!(ints(&frames[0][0], "responses").iter().sum::<i64>() > 100);
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first four columns of a generated orders CSV.
fn original_columns(csv: &str) -> String {
    csv.lines()
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(",") + "\n")
        .collect()
}

/// Regression guard: adding dimensions and surveys must not move a single
/// existing value. The hash is that of `sample_data/orders.csv` as it was
/// before the dimensions existed (order_id, customer_id, order_ts, amount).
#[test]
fn generate_keeps_existing_columns_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Generate::new(2000, 7, 36)
        .start("2022-01-01")
        .surveys("surveys.csv")
        .write(d, "orders.csv");
    let generated = std::fs::read_to_string(d.join("orders.csv")).unwrap();
    assert_eq!(
        sha256_hex(original_columns(&generated).as_bytes()),
        "9fd99e6d410a2e9d4e6c30651923ed5dd9d61f87c4902176d70aa7ddd194c57e"
    );
    // The shipped sample is exactly `make sample-data`'s output.
    assert_eq!(
        generated,
        std::fs::read_to_string(repo_path("sample_data/orders.csv")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("surveys.csv")).unwrap(),
        std::fs::read_to_string(repo_path("sample_data/surveys.csv")).unwrap()
    );
    // Without --surveys the orders file is the same.
    Generate::new(2000, 7, 36)
        .start("2022-01-01")
        .write(d, "plain.csv");
    assert_eq!(
        generated,
        std::fs::read_to_string(d.join("plain.csv")).unwrap()
    );
}

/// Channel and country: one value per order, the home value on the first
/// order, and now and then a different value on a later one.
#[test]
fn generated_dimensions_are_per_order_and_mostly_stable() {
    let text = std::fs::read_to_string(repo_path("sample_data/orders.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "order_id,customer_id,order_ts,amount,channel,country"
    );
    let mut by_order: std::collections::BTreeMap<String, (String, String, String)> =
        Default::default();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let key = f[0][1..].to_string(); // O… and its refund R… share a key
        let value = (f[1].to_string(), f[4].to_string(), f[5].to_string());
        if let Some(previous) = by_order.get(&key) {
            assert_eq!(previous, &value, "lines of order {key} disagree");
        }
        by_order.insert(key, value);
    }
    let channels = ["organic", "paid_search", "social", "email", "referral"];
    let mut first: std::collections::HashMap<String, (String, String)> = Default::default();
    let (mut later, mut changed) = (0, 0);
    // Keys `CCCCCC-SSS` sort by customer, then order sequence.
    for (customer, channel, country) in by_order.values() {
        assert!(channels.contains(&channel.as_str()), "{channel}");
        assert_eq!(country.len(), 2);
        match first.get(customer) {
            None => {
                first.insert(customer.clone(), (channel.clone(), country.clone()));
            }
            Some(home) => {
                later += 1;
                if home != &(channel.clone(), country.clone()) {
                    changed += 1;
                }
            }
        }
    }
    let share = changed as f64 / later as f64;
    assert!((0.02..0.25).contains(&share), "{changed} of {later}");
}

/// Survey rows reversed and the run on one thread: the same NPS tables.
#[test]
fn nps_tables_do_not_depend_on_row_order_or_threads() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    generate_with_surveys(&a, "800", "9", "orders.csv", "surveys.csv");
    let b = root.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(a.join("orders.csv"), b.join("orders.csv")).unwrap();
    let text = std::fs::read_to_string(a.join("surveys.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    // A bad row and a duplicate in the reversed copy: rejected and counted,
    // the tables unchanged.
    let duplicate = lines[1].to_string();
    lines.push(&duplicate);
    lines.push("C000001,2023-01-01,ten");
    std::fs::write(b.join("surveys.csv"), lines.join("\n") + "\n").unwrap();
    for (d, threads) in [(&a, "2"), (&b, "1")] {
        crate::support::write_pipeline(d, "orders.csv", "[surveys]\npath = \"surveys.csv\"");
        let o = retention(&["run", "pipeline.toml", "--threads", threads], d);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for t in ["nps_monthly", "nps_by_cohort", "nps_retention"] {
        let x = read_table(&a.join("out"), t);
        let y = read_table(&b.join("out"), t);
        assert!(x.equals_missing(&y), "{t}:\n{x}\nvs\n{y}");
    }
    let rows = &manifest(&b)["surveys"]["rows"];
    assert_eq!(rows["duplicates"], 1);
    assert_eq!(rows["rejected"], 1);
}
