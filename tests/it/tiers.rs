//! Loyalty tiers, tier migration and target lists: the hand-worked fixture
//! (tests/fixtures/tiers/README.md), properties on a generated history, and
//! configuration errors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use retention::config::Pipeline;
use retention::generate::{generate, GenerateOptions, GroundTruth};
use retention::run::{compute, Computed, RunOptions};

use crate::support::*;

fn fixture(name: &str) -> PathBuf {
    repo_path(&format!("tests/fixtures/tiers/{name}"))
}

fn check_table(c: &Computed, table: &str) {
    let expected = read_expected(&fixture(&format!("expected_{table}.csv")));
    let frame = c
        .table(table)
        .unwrap_or_else(|| panic!("{table} not published"));
    assert_frame_matches(frame, &expected, table);
}

#[test]
fn fixture_customers_tiers_match_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline.toml"));
    check_table_as(&c, "customers", "customers_tiers");
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
    assert!(c
        .checks
        .iter()
        .any(|k| k.check.contains("tier_migration") && k.actual == 10));
}

fn check_table_as(c: &Computed, table: &str, expected: &str) {
    let rows = read_expected(&fixture(&format!("expected_{expected}.csv")));
    assert_frame_matches(c.table(table).unwrap(), &rows, table);
}

#[test]
fn fixture_tier_migration_matches_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline.toml"));
    let migration = c.table("tier_migration").unwrap();
    // The full grid: 14 months × 4 from × 3 to; the file lists the
    // non-zero rows.
    assert_eq!(migration.height(), 14 * 4 * 3);
    let nonzero = migration
        .filter(
            &migration
                .column("customers")
                .unwrap()
                .as_materialized_series()
                .gt(0)
                .unwrap(),
        )
        .unwrap();
    let expected = read_expected(&fixture("expected_tier_migration.csv"));
    assert_frame_matches(&nonzero, &expected, "tier_migration");
}

#[test]
fn fixture_target_lists_match_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline.toml"));
    check_table(&c, "win_back");
    check_table(&c, "reengage_new");
    check_table(&c, "vip");
    assert!(
        c.table("at_risk_high_value").is_none(),
        "published without CLV"
    );
}

/// A generated history with tiers, CLV and a fixed re-engagement gap (so
/// every list's rule can be checked from the `customers` table alone).
fn generated(dir: &Path, extra: &str) -> Pipeline {
    generate(&GenerateOptions {
        customers: 3000,
        seed: 11,
        start: NaiveDate::from_ymd_opt(2022, 1, 1).unwrap(),
        months: 30,
        out: dir.join("orders.csv"),
        truth: GroundTruth::default(),
        surveys: None,
        memory_limit: 1 << 30,
    })
    .unwrap();
    PipelineFile::over("orders.csv")
        .business(&format!("activity_window_days = {WINDOW}"))
        .rest(&format!("[loyalty]\ntiers = [{{ name = \"Bronze\", min_spend = 0 }}, {{ name = \"Silver\", min_spend = 150 }}, {{ name = \"Gold\", min_spend = 600 }}]\n[targets]\nhigh_clv_quantile = 0.7\np_alive_below = 0.8\nreengage_after_days = 45\n{extra}"))
        .write(dir);
    Pipeline::load(&dir.join("pipeline.toml")).unwrap()
}

const WINDOW: i64 = 120;
const TIERS: [(&str, f64); 3] = [("Bronze", 0.0), ("Silver", 150.0), ("Gold", 600.0)];

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// For each value, the share of values strictly below it (written out
/// independently of the library's quantile code).
fn share_below(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .map(|v| values.iter().filter(|x| *x < v).count() as f64 / values.len() as f64)
        .collect()
}

#[test]
fn generated_history_tiers_migration_and_lists_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = generated(dir.path(), "");
    let c = compute(&pipeline, &RunOptions::default()).unwrap();
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
    let customers = c.table("customers").unwrap();
    let n = customers.height();
    let ids = optional_texts(customers, "customer_id");
    let tier = optional_texts(customers, "tier");
    let ago = optional_texts(customers, "tier_12m_ago");
    let spend = floats(customers, "trailing_12m_spend");
    let first = day_numbers(customers, "first_order_date");
    let year_ago =
        retention::time::day_number(c.as_of.checked_sub_months(chrono::Months::new(12)).unwrap());
    let tier_rank = |name: &str| TIERS.iter().position(|t| t.0 == name).unwrap();

    // Every customer has exactly one tier: the highest threshold reached by
    // the trailing spend (the lowest below zero).
    let mut by_tier = [0i64; 3];
    for i in 0..n {
        let name = tier[i].as_deref().expect("every customer has a tier");
        let s = cents(spend[i].unwrap());
        let want = TIERS.iter().rposition(|t| cents(t.1) <= s).unwrap_or(0);
        assert_eq!(tier_rank(name), want, "customer {:?}", ids[i]);
        by_tier[want] += 1;
        assert_eq!(ago[i].is_none(), first[i] > year_ago, "{:?}", ids[i]);
    }
    assert!(by_tier.iter().all(|&k| k > 0), "{by_tier:?}");

    // Migration: Σ per month = customers acquired by the month's end; the
    // to-tiers of a month are the from-tiers of the next; the last month's
    // to-tiers are the customers' tiers at as_of.
    let migration = c.table("tier_migration").unwrap();
    let kpis = c.table("kpis_monthly").unwrap();
    let new_customers = ints(kpis, "new_customers");
    let months = day_numbers(migration, "month");
    let from = optional_texts(migration, "from_tier");
    let to = optional_texts(migration, "to_tier");
    let count = ints(migration, "customers");
    let month_list: Vec<i32> = months
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(month_list.len(), kpis.height());
    let mut total = vec![0i64; month_list.len()];
    let mut to_by = vec![[0i64; 3]; month_list.len()];
    let mut from_by = vec![[0i64; 4]; month_list.len()];
    for r in 0..migration.height() {
        let m = month_list.binary_search(&months[r]).unwrap();
        total[m] += count[r];
        to_by[m][tier_rank(to[r].as_deref().unwrap())] += count[r];
        let f = match from[r].as_deref().unwrap() {
            "(new)" => 0,
            name => 1 + tier_rank(name),
        };
        from_by[m][f] += count[r];
    }
    let mut acquired = 0;
    for m in 0..month_list.len() {
        acquired += new_customers[m];
        assert_eq!(total[m], acquired, "month {m}");
        assert_eq!(from_by[m][0], new_customers[m], "month {m}");
        if m > 0 {
            assert_eq!(&from_by[m][1..], &to_by[m - 1][..], "month {m}");
        }
    }
    assert_eq!(to_by[month_list.len() - 1], by_tier);
    assert_eq!(acquired, n as i64);

    // Lists: recompute each customer's list from the customers table.
    let days_since = ints(customers, "days_since_last_order");
    let orders = ints(customers, "orders");
    let frequency = ints(customers, "frequency");
    let recency = ints(customers, "recency_days");
    let tenure = ints(customers, "tenure_days");
    let p_alive: Vec<f64> = floats(customers, "p_alive")
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let clv: Vec<f64> = floats(customers, "clv")
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let revenue = floats(customers, "revenue");
    let q = share_below(&clv);
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for i in 0..n {
        let active = days_since[i] < WINDOW;
        let list = if !active {
            Some("win_back")
        } else if q[i] >= 0.7
            && p_alive[i] < 0.8
            && frequency[i] >= 1
            && days_since[i] as f64 > recency[i] as f64 / frequency[i] as f64
        {
            Some("at_risk_high_value")
        } else if orders[i] == 1 && tenure[i] > 45 {
            Some("reengage_new")
        } else if tier[i].as_deref() == Some("Gold") || q[i] >= 0.9 {
            Some("vip")
        } else {
            None
        };
        if let Some(list) = list {
            expected
                .entry(list)
                .or_default()
                .insert(ids[i].clone().unwrap());
        }
    }
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_deref().unwrap(), i))
        .collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for list in ["win_back", "at_risk_high_value", "reengage_new", "vip"] {
        let table = c.table(list).unwrap();
        let members = optional_texts(table, "customer_id");
        let got: BTreeSet<String> = members.iter().map(|m| m.clone().unwrap()).collect();
        assert_eq!(got.len(), members.len(), "{list}: a customer twice");
        assert!(!got.is_empty(), "{list} is empty on 3000 customers");
        assert_eq!(
            &got,
            expected.get(list).unwrap_or(&BTreeSet::new()),
            "{list}"
        );
        for m in &got {
            assert!(seen.insert(m.clone()), "{m} is on two lists");
        }
        // Sorted best first, ties by customer id.
        let key = |id: &str| -> (f64, String) {
            let i = index[id];
            let k = match list {
                "win_back" | "reengage_new" => revenue[i].unwrap(),
                "at_risk_high_value" => clv[i],
                _ => spend[i].unwrap(),
            };
            (-k, id.to_string())
        };
        let keys: Vec<(f64, String)> = members.iter().map(|m| key(m.as_deref().unwrap())).collect();
        assert!(
            keys.windows(2)
                .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
            "{list} not sorted"
        );
        let actions = optional_texts(table, "suggested_action");
        assert!(actions
            .iter()
            .all(|a| a.as_deref().is_some_and(|a| !a.is_empty())));
    }
}

#[test]
fn new_tables_do_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = generated(dir.path(), "");
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| compute(&pipeline, &RunOptions::default()).unwrap())
    };
    let (a, b) = (run(1), run(3));
    for table in [
        "customers",
        "tier_migration",
        "win_back",
        "at_risk_high_value",
        "reengage_new",
        "vip",
    ] {
        let (x, y) = (a.table(table).unwrap(), b.table(table).unwrap());
        assert!(x.equals_missing(y), "{table} differs");
    }
}

#[test]
fn without_loyalty_tiers_are_null_and_lists_follow_the_stages() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("pipeline.toml")).unwrap();
    let text = text[..text.find("[loyalty]").unwrap()].to_string() + "[output]\ndir = \"out\"\n";
    std::fs::copy(fixture("orders.csv"), dir.path().join("orders.csv")).unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let c = compute_pipeline(&dir.path().join("pipeline.toml"));
    let customers = c.table("customers").unwrap();
    assert_eq!(column(customers, "tier").null_count(), customers.height());
    assert_eq!(
        column(customers, "tier_12m_ago").null_count(),
        customers.height()
    );
    // The trailing spend does not need tiers.
    assert_eq!(
        floats(customers, "trailing_12m_spend")[0],
        Some(50.0),
        "customer A"
    );
    // No tiers and no CLV: no tier_migration, no vip, no at_risk list.
    for absent in ["tier_migration", "vip", "at_risk_high_value"] {
        assert!(c.table(absent).is_none(), "{absent} published");
    }
    assert_eq!(c.table("win_back").unwrap().height(), 5);
    assert!(!c.checks.iter().any(|k| k.check.contains("tier_migration")));
}

fn load_with(loyalty_and_targets: &str) -> Result<Pipeline, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.toml");
    std::fs::write(
        &path,
        format!(
            "[input]\npath = \"orders.csv\"\n[columns]\ncustomer_id = \"c\"\norder_ts = \"t\"\namount = \"a\"\n{loyalty_and_targets}\n"
        ),
    )
    .unwrap();
    Pipeline::load(&path).map_err(|e| e.to_string())
}

#[test]
fn bad_loyalty_and_targets_configs_are_rejected_naming_the_key() {
    let tiers = |t: &str| format!("[loyalty]\ntiers = [{t}]");
    let cases = [
        (
            tiers(r#"{ name = "A", min_spend = 0 }, { name = "A", min_spend = 10 }"#),
            "tiers[1].name `A` is used twice",
        ),
        (
            tiers(
                r#"{ name = "A", min_spend = 0 }, { name = "B", min_spend = 10 }, { name = "C", min_spend = 10 }"#,
            ),
            "tiers[2].min_spend",
        ),
        (
            tiers(r#"{ name = "A", min_spend = 5 }, { name = "B", min_spend = 10 }"#),
            "tiers[0].min_spend = 5",
        ),
        (tiers(r#"{ name = "A", min_spend = 0 }"#), "[loyalty] tiers"),
        (
            tiers(r#"{ name = "(new)", min_spend = 0 }, { name = "B", min_spend = 10 }"#),
            "tiers[0].name `(new)` is reserved",
        ),
        (
            tiers(r#"{ name = "A", min_spend = 0 }, { name = "B", min_spend = -10 }"#),
            "tiers[1].min_spend = -10",
        ),
        (
            tiers(
                r#"{ name = "A", min_spend = 0, colour = "red" }, { name = "B", min_spend = 1 }"#,
            ),
            "colour",
        ),
        (
            "[targets]\nhigh_clv_quantile = 1.5".to_string(),
            "[targets] high_clv_quantile = 1.5",
        ),
        (
            "[targets]\np_alive_below = -0.1".to_string(),
            "[targets] p_alive_below",
        ),
        ("[targets]\nvip = 3".to_string(), "vip"),
    ];
    for (text, wanted) in cases {
        let err = load_with(&text).expect_err(&text);
        assert!(err.contains(wanted), "{text}\n→ {err}\n(wanted `{wanted}`)");
    }
    // Integers and decimals are both accepted as thresholds.
    let ok = load_with(&tiers(
        r#"{ name = "A", min_spend = 0 }, { name = "B", min_spend = 99.5 }"#,
    ));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn bad_loyalty_config_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(fixture("orders.csv"), d.join("orders.csv")).unwrap();
    let text = std::fs::read_to_string(fixture("pipeline.toml"))
        .unwrap()
        .replace("min_spend = 300", "min_spend = 100");
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
    for command in ["validate", "run"] {
        let o = retention(&[command, "pipeline.toml"], d);
        assert_eq!(o.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("[loyalty] tiers[2].min_spend"), "{err}");
    }
    assert!(!d.join("out").join("current").exists());
}
