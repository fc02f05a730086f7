//! Cohorts sliced by dimension: the hand-worked fixture
//! (tests/fixtures/dimensions/, worked out on paper in its README), the
//! `(all)` slice against the same pipeline without dimensions, and the
//! config errors.

use polars::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, RunOptions};

use crate::support::*;

fn fixture(name: &str) -> std::path::PathBuf {
    repo_path(&format!("tests/fixtures/dimensions/{name}"))
}

const SLICED: [&str; 3] = ["cohort_retention", "retention_curve", "kpis_monthly"];

#[test]
fn sliced_tables_match_hand_computation() {
    let c = compute_pipeline(&fixture("pipeline.toml"));
    for table in SLICED {
        let expected = read_expected(&fixture(&format!("expected_{table}.csv")));
        let frame = c.table(table).unwrap();
        assert_frame_matches(frame, &expected, table);
        // The dimension columns lead, in configured order.
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .take(2)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["channel", "country"], "{table}");
    }
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
    // One set of sum checks per dimension.
    for name in ["channel", "country"] {
        let prefix = format!("dimension `{name}`:");
        assert!(
            c.checks
                .iter()
                .filter(|k| k.check.starts_with(&prefix))
                .count()
                >= 5,
            "{:?}",
            c.checks
        );
    }
}

/// The `(all)` slice without its dimension columns.
fn all_slice(frame: &DataFrame, dimensions: &[&str]) -> DataFrame {
    let mut out = frame.clone();
    for name in dimensions {
        let mask = out.column(name).unwrap().str().unwrap().equal("(all)");
        out = out.filter(&mask).unwrap().drop(name).unwrap();
    }
    out
}

#[test]
fn all_slice_equals_the_unsliced_run() {
    let mut pipeline = Pipeline::load(&fixture("pipeline.toml")).unwrap();
    let sliced = compute(&pipeline, &RunOptions::default()).unwrap();
    pipeline.config.columns.dimensions.clear();
    let plain = compute(&pipeline, &RunOptions::default()).unwrap();
    for table in SLICED {
        let whole = plain.table(table).unwrap();
        assert!(
            whole.column("channel").is_err(),
            "{table} unsliced has no dimension column"
        );
        let all = all_slice(sliced.table(table).unwrap(), &["channel", "country"]);
        assert!(all.equals_missing(whole), "{table}:\n{all}\n{whole}");
    }
    // Tables that are not sliced do not change.
    for table in ["customers", "segments"] {
        assert!(sliced
            .table(table)
            .unwrap()
            .equals_missing(plain.table(table).unwrap()));
    }
}

fn load_error(columns_extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "[input]\npath = \"orders.csv\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"qty * price\"\norder_id = \"order_id\"\n{columns_extra}\n"
        ),
    )
    .unwrap();
    match Pipeline::load(&path) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn dimension_config_errors_name_the_dimension() {
    let e = load_error("dimensions = [\"channel\", \"customer_id\"]");
    assert!(
        e.contains("dimensions[1] `customer_id` is the `customer_id` column"),
        "{e}"
    );
    let e = load_error("dimensions = [\"price\"]");
    assert!(e.contains("`price` is the `amount` column"), "{e}");
    let e = load_error("dimensions = [\"order_id\"]");
    assert!(e.contains("`order_id` is the `order_id` column"), "{e}");
    let e = load_error("dimensions = [\"channel\", \"channel\"]");
    assert!(e.contains("listed twice"), "{e}");
    let e = load_error("dimensions = [\"month\"]");
    assert!(e.contains("would clash with the `month` column"), "{e}");
    let e = load_error("dimensions = [\"\"]");
    assert!(e.contains("dimensions[0] is empty"), "{e}");
    let e = load_error("dimension = [\"channel\"]");
    assert!(e.contains("unknown field `dimension`"), "{e}");
    assert_eq!(load_error("dimensions = [\"channel\", \"country\"]"), "");
}

/// Black box: `retention run` on a generated Parquet history sliced by
/// channel and country; the published tables carry the dimension columns.
#[test]
fn run_publishes_dimension_columns_in_parquet() {
    use crate::support::{read_table, retention, Generate};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Generate::new(300, 11, 10)
        .start("2023-01-01")
        .write(d, "orders.parquet");
    std::fs::write(
        d.join("pipeline.toml"),
        "[input]\npath = \"orders.parquet\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\norder_id = \"order_id\"\ndimensions = [\"channel\", \"country\"]\n[business]\nactivity_window_days = 90\n[output]\ndir = \"out\"\n",
    )
    .unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = d.join("out");
    let channels = ["email", "organic", "paid_search", "referral", "social"];
    for table in SLICED {
        let frame = read_table(&out, table);
        for name in ["channel", "country"] {
            let column = frame
                .column(name)
                .unwrap_or_else(|_| panic!("{table}.{name}"));
            assert_eq!(column.dtype(), &DataType::String, "{table}.{name}");
        }
        let channel: Vec<String> = frame
            .column("channel")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect();
        let country: Vec<String> = frame
            .column("country")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect();
        // The (all) slice first, then channels in byte order, then countries.
        assert_eq!(
            (channel[0].as_str(), country[0].as_str()),
            ("(all)", "(all)")
        );
        let mut seen: Vec<&str> = Vec::new();
        for (ch, co) in channel.iter().zip(&country) {
            assert!(ch == "(all)" || co == "(all)", "{table}: no cross product");
            if ch != "(all)" && seen.last() != Some(&ch.as_str()) {
                seen.push(ch);
            }
        }
        assert_eq!(seen, channels, "{table}");
        assert!(
            country.iter().any(|c| c != "(all)"),
            "{table} has country slices"
        );
    }
    // Σ new_customers over the channels = the (all) slice = customers.
    let kpis = read_table(&out, "kpis_monthly");
    let customers = read_table(&out, "customers").height() as i64;
    let channel = kpis.column("channel").unwrap().str().unwrap().clone();
    let new: Vec<i64> = kpis
        .column("new_customers")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let (mut all, mut by_channel) = (0, 0);
    for (c, n) in channel.iter().zip(&new) {
        match c.unwrap() {
            "(all)" => {}
            _ => by_channel += n,
        }
    }
    let country = kpis.column("country").unwrap().str().unwrap().clone();
    for ((c, k), n) in channel.iter().zip(country.iter()).zip(&new) {
        if c == Some("(all)") && k == Some("(all)") {
            all += n;
        }
    }
    assert_eq!((all, by_channel), (customers, customers));
    let checks = read_table(&out, "checks");
    let names = checks.column("check_name").unwrap().str().unwrap().clone();
    assert!(names
        .iter()
        .any(|n| n.unwrap().starts_with("dimension `country`:")));
    let manifest = std::fs::read_to_string(out.join("current/_manifest.json")).unwrap();
    assert!(manifest.contains("\"dimensions\""), "{manifest}");

    // The same history without dimensions: the published (all) slices are
    // its tables, and the report (and `show`) read the (all) slice.
    let plain = std::fs::read_to_string(d.join("pipeline.toml"))
        .unwrap()
        .replace("dimensions = [\"channel\", \"country\"]\n", "")
        .replace("dir = \"out\"", "dir = \"plain\"");
    std::fs::write(d.join("plain.toml"), plain).unwrap();
    let o = retention(&["run", "plain.toml"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for table in SLICED {
        let all = all_slice(&read_table(&out, table), &["channel", "country"]);
        let whole = read_table(&d.join("plain"), table);
        assert!(all.equals_missing(&whole), "{table}:\n{all}\n{whole}");
    }
    let report = |dir: &str| {
        let run = std::fs::canonicalize(d.join(dir).join("current")).unwrap();
        retention::report::load::report_data_from_dir(&run).unwrap()
    };
    let (sliced, whole) = (report("out"), report("plain"));
    assert_eq!(sliced.cohorts, whole.cohorts);
    assert_eq!(sliced.curve, whole.curve);
    assert_eq!(sliced.kpis, whole.kpis);
    let o = retention(&["show", "out"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// More values than one byte holds: codes widen, every value is a slice.
#[test]
fn many_values_widen_the_codes_and_each_is_a_slice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = String::from("customer_id,order_ts,amount,shop\n");
    for c in 0..600 {
        // Two orders each; the second names another shop (first-order rule).
        csv.push_str(&format!(
            "c{c:04},2024-01-{:02},10.00,s{:04}\n",
            c % 28 + 1,
            c / 2
        ));
        csv.push_str(&format!("c{c:04},2024-02-{:02},5.00,other\n", c % 28 + 1));
    }
    std::fs::write(d.join("orders.csv"), csv).unwrap();
    std::fs::write(
        d.join("pipeline.toml"),
        "[input]\npath = \"orders.csv\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\ndimensions = [\"shop\"]\n[clv]\nenabled = false\n",
    )
    .unwrap();
    let c = compute_pipeline(&d.join("pipeline.toml"));
    assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
    let curve = c.table("retention_curve").unwrap();
    let shops: Vec<String> = curve
        .column("shop")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    let mut distinct = shops.clone();
    distinct.dedup();
    // (all), then s0000 … s0299 (two customers each); `other` is never a
    // first order's value.
    assert_eq!(distinct.len(), 301);
    assert_eq!(distinct[0], "(all)");
    assert_eq!(distinct[1], "s0000");
    assert_eq!(distinct[300], "s0299");
    let customers: Vec<i64> = curve
        .column("customers")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    // Period 0 of each shop: its two customers.
    let periods = curve.height() / 301;
    for s in 1..301 {
        assert_eq!(customers[s * periods], 2, "{}", shops[s * periods]);
    }
    assert_eq!(customers[0], 600);
}
