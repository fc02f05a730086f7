//! Issue 15, the comparison with the previous run, black-box: each
//! scenario runs the real binary twice in one output directory and checks
//! `restatements`, `run_comparison`, `gates`, the exit code and
//! `current`. Expectations are worked out from the input files alone.

use std::path::Path;
use std::process::Output;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use polars::prelude::DataFrame;

use crate::support::{
    floats, ints, optional_texts, read_table, retention, stderr, stdout, texts, Generate,
    PipelineFile,
};

/// The exit code of a run stopped by a `fail` gate (README).
const GATE_EXIT: i32 = 3;

/// A 12-month history of 300 customers split into two files by line
/// (a line's order stays whole: files split at an order boundary).
fn two_files(d: &Path) {
    Generate::new(300, 15, 12)
        .start("2023-01-01")
        .write(d, "all.csv");
    let text = std::fs::read_to_string(d.join("all.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let mut cut = rows.len() / 2;
    while order_id(rows[cut]) == order_id(rows[cut - 1]) {
        cut += 1;
    }
    std::fs::create_dir_all(d.join("orders")).unwrap();
    for (name, part) in [("a.csv", &rows[..cut]), ("b.csv", &rows[cut..])] {
        let body = format!("{header}\n{}\n", part.join("\n"));
        std::fs::write(d.join("orders").join(name), body).unwrap();
    }
    std::fs::remove_file(d.join("all.csv")).unwrap();
}

fn order_id(line: &str) -> &str {
    line.split(',').next().unwrap()
}

/// The pipeline over `orders/*.csv`, with `gates` lines under `[gates]`
/// (every other gate at its default, the staleness gate included).
fn pipeline(d: &Path, business: &str, gates: &str) {
    let rest = format!("[gates]\n{gates}");
    PipelineFile::over("orders/*.csv")
        .business(business)
        .rest(&rest)
        .write(d);
}

fn run(d: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "pipeline.toml", "--force"];
    args.extend(extra);
    retention(&args, d)
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}\n{}", stdout(o), stderr(o));
}

fn current_run_id(out: &Path) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("current/_manifest.json")).unwrap())
            .unwrap();
    manifest["run_id"].as_str().unwrap().to_string()
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("current/_manifest.json")).unwrap()).unwrap()
}

/// `gate` → (outcome, measured).
fn gates(out: &Path) -> Vec<(String, String, Option<f64>)> {
    let frame = read_table(out, "gates");
    let (names, outcomes) = (texts(&frame, "gate"), texts(&frame, "outcome"));
    let measured = floats(&frame, "measured");
    names
        .into_iter()
        .zip(outcomes)
        .zip(measured)
        .map(|((g, o), m)| (g, o, m))
        .collect()
}

fn gate<'a>(
    all: &'a [(String, String, Option<f64>)],
    name: &str,
) -> &'a (String, String, Option<f64>) {
    all.iter()
        .find(|g| g.0 == name)
        .unwrap_or_else(|| panic!("gate {name}"))
}

/// The `run_comparison` row `section`/`item`: (previous, current, status).
fn compared(frame: &DataFrame, section: &str, item: &str) -> (Option<f64>, Option<f64>, String) {
    let sections = texts(frame, "section");
    let items = texts(frame, "item");
    let i = (0..frame.height())
        .find(|&i| sections[i] == section && items[i] == item)
        .unwrap_or_else(|| panic!("run_comparison {section}/{item}"));
    (
        floats(frame, "previous")[i],
        floats(frame, "current")[i],
        texts(frame, "status")[i].clone(),
    )
}

#[test]
fn only_as_of_advancing_restates_nothing_and_passes_every_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, "", "");
    let out = d.join("out");
    let first = run(d, &["--as-of", "2023-10-31"]);
    assert_ok(&first);
    assert!(stdout(&first).contains("compared with: no previous run"));
    let none = read_table(&out, "run_comparison");
    assert_eq!(compared(&none, "run", "run_id").2, "none");
    let previous = current_run_id(&out);
    let second = run(d, &["--as-of", "2023-11-30"]);
    assert_ok(&second);
    assert_eq!(read_table(&out, "restatements").height(), 0);
    let comparison = read_table(&out, "run_comparison");
    let previous_text = optional_texts(&comparison, "previous_text");
    assert_eq!(previous_text[0].as_deref(), Some(previous.as_str()));
    assert_eq!(
        compared(&comparison, "definitions", "definitions").2,
        "same"
    );
    let (before, now, status) = compared(&comparison, "restated", "kpis_monthly.restated_values");
    assert_eq!((before, now, status.as_str()), (None, Some(0.0), "same"));
    // Months complete in both runs: January to October.
    let all = gates(&out);
    for (name, outcome, _) in &all {
        assert!(
            outcome == "passed" || (name == "clv_parameter_shift" && outcome == "warned"),
            "{name}: {outcome}"
        );
    }
    assert_eq!(gate(&all, "restated_counts").2, Some(0.0));
    assert_eq!(gate(&all, "rows_read_drop").2, Some(0.0));
    assert_eq!(manifest(&out)["compared_with"], previous.as_str());
}

/// Appends a refund of `cents` for the customer of the file's first order,
/// one hour after it; returns the refund's day and the customer's first
/// order day (UTC, the pipeline's time zone).
fn add_refund(d: &Path, cents: i64) -> (NaiveDate, NaiveDate) {
    let path = d.join("orders/a.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().nth(1).unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    let (customer, ts) = (fields[1], fields[2]);
    let customer_rows = text
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some(customer));
    let first_ts = customer_rows
        .map(|l| {
            l.split(',')
                .nth(2)
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap()
        })
        .min()
        .unwrap();
    let refund_at = ts.parse::<DateTime<Utc>>().unwrap().max(first_ts) + chrono::Duration::hours(1);
    let extra_fields = ",".repeat(fields.len() - 4);
    let line = format!(
        "R-LATE,{customer},{},-{}.{:02}{extra_fields}\n",
        refund_at.format("%Y-%m-%dT%H:%M:%SZ"),
        cents / 100,
        cents % 100
    );
    std::fs::write(&path, format!("{text}{line}")).unwrap();
    (refund_at.date_naive(), first_ts.date_naive())
}

/// The first day of `day`'s period in `unit` (ISO weeks from Monday) and
/// the period's index, by the calendar's own definitions.
fn period_of(day: NaiveDate, unit: &str) -> (NaiveDate, i64) {
    let months = |d: NaiveDate| d.year() as i64 * 12 + d.month0() as i64;
    let first_of = |year, month0: u32| NaiveDate::from_ymd_opt(year, month0 + 1, 1).unwrap();
    match unit {
        "month" => (first_of(day.year(), day.month0()), months(day)),
        "quarter" => (
            first_of(day.year(), day.month0() / 3 * 3),
            months(day).div_euclid(3),
        ),
        "week" => {
            let monday = day - chrono::Duration::days(day.weekday().num_days_from_monday() as i64);
            let epoch_monday = NaiveDate::from_ymd_opt(1970, 1, 5).unwrap();
            (monday, (monday - epoch_monday).num_days().div_euclid(7))
        }
        _ => unreachable!("a cohort unit"),
    }
}

/// In every cohort unit: the second run reads the first run's cohort
/// table under the unit's column name (`cohort_week`, ...) and restates
/// the refund's cohort cell under it.
#[test]
fn a_late_refund_restates_exactly_its_month_and_its_cohort_cell() {
    for unit in ["month", "week", "quarter"] {
        late_refund_restated_in(unit);
    }
}

fn late_refund_restated_in(unit: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, &format!("cohort_period = \"{unit}\""), "");
    let out = d.join("out");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    let header = std::fs::read_to_string(d.join("orders/a.csv")).unwrap();
    assert!(header.starts_with("order_id,customer_id,order_ts,amount"));
    let (refund_day, first_day) = add_refund(d, 1234);
    let (month, _) = period_of(refund_day, "month");
    let (cohort, cohort_index) = period_of(first_day, unit);
    let period = period_of(refund_day, unit).1 - cohort_index;
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    let restatements = read_table(&out, "restatements");
    let kinds = texts(&restatements, "row_kind");
    let values: Vec<usize> = (0..restatements.height())
        .filter(|&i| kinds[i] == "value")
        .collect();
    let tables = texts(&restatements, "table_name");
    let columns = texts(&restatements, "column_name");
    let keys = optional_texts(&restatements, "row_key");
    let changes = floats(&restatements, "change");
    let mut found: Vec<(String, String, String, f64)> = values
        .iter()
        .map(|&i| {
            let key = keys[i].clone().unwrap();
            (
                tables[i].clone(),
                key,
                columns[i].clone(),
                changes[i].unwrap(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = vec![
        (
            "cohort_retention".to_string(),
            format!("cohort_{unit}={cohort}, period={period}"),
            "revenue".to_string(),
            -12.34,
        ),
        (
            "kpis_monthly".to_string(),
            format!("month={month}"),
            "revenue".to_string(),
            -12.34,
        ),
    ];
    assert_eq!(found.len(), 2, "{unit}: {found:?}");
    for (f, e) in found.iter().zip(&expected) {
        assert_eq!((&f.0, &f.1, &f.2), (&e.0, &e.1, &e.2), "{unit}");
        assert!((f.3 - e.3).abs() < 1e-9, "{f:?}");
    }
    // One total per table and column, counting each value.
    assert_eq!(kinds.iter().filter(|k| *k == "total").count(), 2);
    let all = gates(&out);
    let share = gate(&all, "restated_revenue_share");
    assert!(share.2.unwrap() > 0.0);
    assert_eq!(gate(&all, "restated_counts").2, Some(0.0));
}

#[test]
fn a_removed_input_file_fails_the_rows_read_gate_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, "", "");
    let out = d.join("out");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    let before = current_run_id(&out);
    let runs_before = std::fs::read_dir(out.join("runs")).unwrap().count();
    std::fs::remove_file(d.join("orders/b.csv")).unwrap();
    let failed = run(d, &["--as-of", "2023-12-31"]);
    assert_eq!(failed.status.code(), Some(GATE_EXIT), "{}", stderr(&failed));
    let message = stderr(&failed);
    assert!(
        message.contains("gate `rows_read_drop` failed"),
        "{message}"
    );
    assert!(message.contains("threshold 0.01 (fail)"), "{message}");
    assert!(message.contains("--accept-changes"), "{message}");
    assert_eq!(current_run_id(&out), before);
    assert_eq!(
        std::fs::read_dir(out.join("runs")).unwrap().count(),
        runs_before
    );
    // Accepted: published, and the run says so.
    let accepted = run(d, &["--as-of", "2023-12-31", "--accept-changes"]);
    assert_ok(&accepted);
    assert_ne!(current_run_id(&out), before);
    assert_eq!(gate(&gates(&out), "rows_read_drop").1, "accepted");
    assert_eq!(manifest(&out)["accepted_changes"], true);
    let comparison = read_table(&out, "run_comparison");
    let removed = compared(&comparison, "input", "orders/b.csv");
    assert_eq!(removed.2, "removed");
    assert_eq!(removed.1, None);
}

#[test]
fn a_duplicated_input_file_adds_rows_read_but_restates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, "", "");
    let out = d.join("out");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    std::fs::copy(d.join("orders/a.csv"), d.join("orders/c.csv")).unwrap();
    let copied_rows = std::fs::read_to_string(d.join("orders/a.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    assert_eq!(read_table(&out, "restatements").height(), 0);
    let comparison = read_table(&out, "run_comparison");
    let (before, now, _) = compared(&comparison, "rows", "rows_read");
    assert_eq!(now.unwrap() - before.unwrap(), copied_rows as f64);
    let (_, duplicates, _) = compared(&comparison, "rows", "duplicates");
    assert_eq!(duplicates, Some(copied_rows as f64));
    assert_eq!(compared(&comparison, "input", "orders/c.csv").2, "added");
    assert_eq!(compared(&comparison, "input", "orders/a.csv").2, "same");
    assert_eq!(gate(&gates(&out), "rows_read_drop").1, "passed");
}

#[test]
fn a_changed_time_zone_changes_the_definitions_and_computes_no_restatements() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, "time_zone = \"UTC\"", "");
    let out = d.join("out");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    pipeline(d, "time_zone = \"America/Los_Angeles\"", "");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    assert_eq!(read_table(&out, "restatements").height(), 0);
    let comparison = read_table(&out, "run_comparison");
    assert_eq!(
        compared(&comparison, "definitions", "business.time_zone").2,
        "changed"
    );
    let i = texts(&comparison, "item")
        .iter()
        .position(|i| i == "business.time_zone")
        .unwrap();
    assert_eq!(
        optional_texts(&comparison, "current_text")[i].as_deref(),
        Some("\"America/Los_Angeles\"")
    );
    assert_eq!(
        compared(&comparison, "restated", "(all tables)").2,
        "not_compared"
    );
    let all = gates(&out);
    for name in [
        "restated_revenue_share",
        "restated_counts",
        "clv_parameter_shift",
    ] {
        assert_eq!(gate(&all, name).1, "skipped", "{name}");
    }
    assert_eq!(gate(&all, "rows_read_drop").1, "passed");
}

/// Every order of the history again three days later (new order ids):
/// customers buy about twice as often.
fn double_purchases(d: &Path) {
    for name in ["a.csv", "b.csv"] {
        let path = d.join("orders").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::from(text.as_str());
        for line in text.lines().skip(1) {
            let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
            let ts = fields[2].parse::<DateTime<Utc>>().unwrap() + chrono::Duration::days(3);
            fields[0] = format!("{}-again", fields[0]);
            fields[2] = ts.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
    }
}

#[test]
fn a_changed_purchase_process_fires_the_clv_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, "", "clv_parameter_shift = { action = \"fail\" }");
    let out = d.join("out");
    assert_ok(&run(d, &["--as-of", "2024-01-31"]));
    let before = current_run_id(&out);
    double_purchases(d);
    let failed = run(d, &["--as-of", "2024-01-31"]);
    assert_eq!(failed.status.code(), Some(GATE_EXIT), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("gate `clv_parameter_shift` failed"));
    assert_eq!(current_run_id(&out), before);
    assert_ok(&run(d, &["--as-of", "2024-01-31", "--accept-changes"]));
    let all = gates(&out);
    let shift = gate(&all, "clv_parameter_shift");
    assert_eq!(shift.1, "accepted");
    assert!(shift.2.unwrap() > 3.0);
    // The whole history moved: the list is bounded, the totals count all.
    let restatements = read_table(&out, "restatements");
    let kinds = texts(&restatements, "row_kind");
    let listed = kinds.iter().filter(|k| *k == "value").count();
    let counted: f64 = (0..restatements.height())
        .filter(|&i| kinds[i] == "total")
        .map(|i| ints(&restatements, "restated_values")[i] as f64)
        .sum();
    assert!(
        listed <= 1000 && counted >= listed as f64,
        "{listed} {counted}"
    );
    let comparison = read_table(&out, "run_comparison");
    let per_table: f64 = texts(&comparison, "item")
        .iter()
        .enumerate()
        .filter(|(_, item)| item.ends_with(".restated_values"))
        .map(|(i, _)| floats(&comparison, "current")[i].unwrap())
        .sum();
    assert_eq!(per_table, counted);
}

#[test]
fn an_as_of_beyond_the_data_fires_the_staleness_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(
        d,
        "",
        "stale_input_days = { threshold = 3, action = \"fail\" }",
    );
    let out = d.join("out");
    let latest = std::fs::read_dir(d.join("orders"))
        .unwrap()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            let stamps: Vec<DateTime<Utc>> = text
                .lines()
                .skip(1)
                .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
                .collect();
            stamps
        })
        .max()
        .unwrap()
        .date_naive();
    let as_of = |days: i64| (latest + chrono::Duration::days(days)).to_string();
    // Three days after the latest order: at the threshold, not above it.
    assert_ok(&run(d, &["--as-of", &as_of(3)]));
    assert_eq!(gate(&gates(&out), "stale_input_days").2, Some(3.0));
    let stale = run(d, &["--as-of", &as_of(4)]);
    assert_eq!(stale.status.code(), Some(GATE_EXIT), "{}", stderr(&stale));
    let message = stderr(&stale);
    assert!(
        message.contains("gate `stale_input_days` failed: measured 4"),
        "{message}"
    );
    assert!(
        message.contains(&format!("latest order {latest}")),
        "{message}"
    );
}

/// `retention diff` on the late-refund scenario: by `previous`/`current`,
/// by run id and by run directory, as text and as JSON that follows
/// `docs/diff.schema.json`.
#[test]
fn diff_compares_any_two_published_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_files(d);
    pipeline(d, "", "");
    let out = d.join("out");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    let first = current_run_id(&out);
    let (month, _) = period_of(add_refund(d, 1234).0, "month");
    assert_ok(&run(d, &["--as-of", "2023-12-31"]));
    let second = current_run_id(&out);
    let text = retention(&["diff", "previous", "current"], d);
    assert_ok(&text);
    let summary = stdout(&text);
    assert!(
        summary.starts_with(&format!("{first} (as_of 2023-12-31) → {second}")),
        "{summary}"
    );
    assert!(summary.contains("definitions: same"), "{summary}");
    assert!(summary.contains("restatements: 2 value(s)"), "{summary}");
    assert!(
        summary.contains(&format!("kpis_monthly [month={month}] revenue")),
        "{summary}"
    );
    let run_dir = out.join("runs").join(&first);
    let by_dir = run_dir.to_str().unwrap();
    for (a, b) in [(first.as_str(), second.as_str()), (by_dir, "out")] {
        let json = retention(&["diff", a, b, "--json"], d);
        assert_ok(&json);
        let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(crate::support::repo_path("docs/diff.schema.json")).unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(document["previous"]["run_id"], first.as_str());
        assert_eq!(document["restated"]["total_values"], 2);
        let largest = document["restated"]["largest"].as_array().unwrap();
        let change = largest[0]["change"].as_f64().unwrap();
        assert!((change + 12.34).abs() < 1e-9, "{change}");
    }
    // Backwards, the refund is undone.
    let back = retention(&["diff", &second, &first, "--json"], d);
    let document: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    let change = document["restated"]["largest"][0]["change"]
        .as_f64()
        .unwrap();
    assert!((change - 12.34).abs() < 1e-9, "{change}");
    // Not a run: a usage error naming it.
    let wrong = retention(&["diff", "nonsense", "current"], d);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("`nonsense` is not a published run"));
}
