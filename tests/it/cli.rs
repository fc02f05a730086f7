//! Black-box tests: the real binary on real files in a fresh directory,
//! tables read back with Polars' Parquet reader (the files are written by
//! the `parquet` crate, so this is an independent reader).

use std::io::{Read, Write};
use std::path::Path;

use polars::prelude::*;

use crate::support::*;

pub const TABLES: [&str; 19] = [
    "customers",
    "cohort_retention",
    "retention_curve",
    "kpis_monthly",
    "segments",
    "tier_migration",
    "clv_model",
    "clv_validation",
    "clv_model_selection",
    "clv_forecast",
    "win_back",
    "at_risk_high_value",
    "reengage_new",
    "vip",
    "rejects",
    "checks",
    "restatements",
    "run_comparison",
    "gates",
];

/// The tables about a run's inputs and the run before it (ids, paths,
/// sizes, gates): they differ between runs that publish the same data.
pub const ABOUT_THE_RUN: [&str; 2] = ["run_comparison", "gates"];

fn generate(dir: &Path, file: &str) {
    Generate::new(400, 5, 14)
        .start("2023-01-01")
        .write(dir, file);
}

fn run_ok(dir: &Path) {
    let o = retention(&["run", "pipeline.toml"], dir);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The same history as CSV, gzipped CSV, Parquet and a glob of three CSV
/// files gives identical tables.
#[test]
fn csv_gzip_parquet_and_glob_give_identical_tables() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("csv");
    std::fs::create_dir_all(&base).unwrap();
    generate(&base, "orders.csv");
    write_pipeline(&base, "orders.csv", "");
    run_ok(&base);
    let reference: Vec<DataFrame> = TABLES
        .iter()
        .map(|t| read_table(&base.join("out"), t))
        .collect();
    assert!(reference[0].height() > 300);
    let csv_text = std::fs::read_to_string(base.join("orders.csv")).unwrap();

    // gzip
    let gz = root.path().join("gz");
    std::fs::create_dir_all(&gz).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(gz.join("orders.csv.gz")).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(csv_text.as_bytes()).unwrap();
    encoder.finish().unwrap();
    write_pipeline(&gz, "orders.csv.gz", "");
    run_ok(&gz);

    // Parquet, same seed: same lines, typed columns.
    let pq = root.path().join("parquet");
    std::fs::create_dir_all(&pq).unwrap();
    generate(&pq, "orders.parquet");
    write_pipeline(&pq, "orders.parquet", "");
    run_ok(&pq);

    // A glob over three files, rows dealt out round-robin.
    let glob = root.path().join("glob");
    std::fs::create_dir_all(glob.join("parts")).unwrap();
    let mut lines = csv_text.lines();
    let header = lines.next().unwrap();
    let mut parts = vec![String::from(header) + "\n"; 3];
    for (i, line) in lines.enumerate() {
        parts[i % 3].push_str(line);
        parts[i % 3].push('\n');
    }
    for (i, part) in parts.iter().enumerate() {
        std::fs::write(glob.join(format!("parts/orders_{i}.csv")), part).unwrap();
    }
    write_pipeline(&glob, "parts/orders_*.csv", "");
    run_ok(&glob);

    for dir in [&gz, &pq, &glob] {
        for (t, expected) in TABLES.iter().zip(&reference) {
            if *t == "rejects" || ABOUT_THE_RUN.contains(t) {
                // rejects: empty everywhere, `source` names differ.
                continue;
            }
            let got = read_table(&dir.join("out"), t);
            assert!(
                got.equals_missing(expected),
                "{t} differs for {}:\n{got}\nvs\n{expected}",
                dir.display()
            );
        }
    }
}

#[test]
fn published_run_has_manifest_metadata_and_atomic_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "orders.csv");
    write_pipeline(d, "orders.csv", "");
    let o = retention(&["run", "pipeline.toml", "--as-of", "2023-12-31"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("published run"), "{stdout}");

    let current = d.join("out/current");
    let link = std::fs::read_link(&current).unwrap();
    assert!(link.starts_with("runs"), "{}", link.display());
    // current.json names the same run, for readers without symbolic links.
    let pointer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/current.json")).unwrap()).unwrap();
    assert_eq!(pointer["path"].as_str().unwrap(), link.to_str().unwrap());
    assert_eq!(
        pointer["run_id"].as_str().unwrap(),
        link.file_name().unwrap().to_str().unwrap()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["as_of"], "2023-12-31");
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), TABLES.len());
    for output in outputs {
        let table = output["table"].as_str().unwrap();
        let frame = read_table(&d.join("out"), table);
        assert_eq!(
            frame.height() as u64,
            output["rows"].as_u64().unwrap(),
            "{table}"
        );
    }
    let rows = &manifest["rows"];
    let sum = ["accepted", "rejected", "excluded", "duplicates"]
        .iter()
        .map(|k| rows[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(rows["read"].as_u64().unwrap(), sum);
    assert!(rows["excluded_after_as_of"].as_u64().unwrap() > 0);
    assert!(manifest["stages"].as_array().unwrap().len() >= 8);

    // Key-value metadata, read with the parquet crate's own reader.
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(current.join("kpis_monthly/part-00000.parquet")).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| {
        kv.iter()
            .find(|e| e.key == k)
            .and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("metadata `{k}` missing"))
    };
    assert_eq!(get("retention.as_of"), "2023-12-31");
    assert_eq!(get("retention.time_zone"), "Europe/Berlin");
    assert_eq!(get("retention.activity_window_days"), "120");
    assert_eq!(get("retention.schema_version"), "7");
    assert_eq!(get("retention.cohort_period"), "month");
    // The same pairs on the embedded Arrow schema (base64 of its IPC
    // message), which is what pyarrow and pandas show as the schema's
    // metadata: each key and value is in it as written.
    let arrow_schema = base64_decode(&get("ARROW:schema"));
    for key in [
        "retention.as_of",
        "retention.run_id",
        "retention.schema_version",
    ] {
        for needle in [key.to_string(), get(key)] {
            assert!(
                arrow_schema
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes()),
                "`{needle}` missing from the embedded Arrow schema"
            );
        }
    }
    let compression = reader.metadata().row_group(0).column(0).compression();
    assert!(
        format!("{compression:?}").starts_with("ZSTD"),
        "{compression:?}"
    );

    // Types as SPEC §5 says.
    let customers = read_table(&d.join("out"), "customers");
    assert_eq!(
        customers.column("first_order_date").unwrap().dtype(),
        &DataType::Date
    );
    assert_eq!(
        customers.column("revenue").unwrap().dtype(),
        &DataType::Float64
    );
    assert_eq!(
        customers.column("customer_id").unwrap().dtype(),
        &DataType::String
    );

    // A second run (forced: same inputs) flips `current` to a new run and
    // keeps the first.
    let o = retention(&["run", "pipeline.toml", "--force"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read_link(&current).unwrap(), link);
    assert_eq!(std::fs::read_dir(d.join("out/runs")).unwrap().count(), 2);
}

#[test]
fn bad_pipeline_is_exit_2_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "orders.csv");
    let path = write_pipeline(d, "orders.csv", "colour = \"blue\"");
    let o = retention(&["run", path.to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("colour") && err.contains("line"), "{err}");

    write_pipeline(d, "orders.csv", "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Europe/Berlin", "Mars/Olympus");
    std::fs::write(&path, text).unwrap();
    let o = retention(&["validate", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Mars/Olympus"), "{}", stderr(&o));

    let o = retention(&["run"], d);
    assert_eq!(
        o.status.code(),
        Some(2),
        "missing argument is a usage error"
    );
}

#[test]
fn input_problems_are_exit_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pipeline(d, "missing.csv", "");
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.csv"), "{}", stderr(&o));

    std::fs::write(
        d.join("orders.csv"),
        "order_id,client,order_ts,amount\n1,a,2024-01-01,3\n",
    )
    .unwrap();
    write_pipeline(d, "orders.csv", "");
    // A mapped column the file lacks: the pipeline is invalid for this
    // input, exit 2 (README "Exit codes"), for `run` and `validate` alike.
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(2));
    let o = retention(&["validate", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("orders.csv") && err.contains("`customer_id`") && err.contains("`client`"),
        "{err}"
    );
    assert!(!d.join("out/current").exists(), "nothing published");

    write_pipeline(d, "none_*.csv", "");
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("matches no file"), "{}", stderr(&o));
}

#[test]
fn too_many_rejects_fail_the_run_and_publish_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("orders.csv"),
        "order_id,customer_id,order_ts,amount\n1,a,2024-01-01 10:00:00,3\n2,b,not a date,4\n",
    )
    .unwrap();
    write_pipeline(d, "orders.csv", "");
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("row 2") && err.contains("invalid_timestamp") && err.contains("order_ts"),
        "{err}"
    );
    assert!(!d.join("out/current").exists());
}

#[test]
fn validate_checks_inputs_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "orders.csv");
    write_pipeline(d, "orders.csv", "");
    let o = retention(&["validate", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        shown.contains("is valid") && shown.contains("month cohorts"),
        "{shown}"
    );
    assert!(!d.join("out").exists());
}

#[test]
fn generate_is_deterministic_by_seed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "a.csv");
    generate(d, "b.csv");
    let a = std::fs::read(d.join("a.csv")).unwrap();
    assert_eq!(a, std::fs::read(d.join("b.csv")).unwrap());
    Generate::new(400, 6, 14)
        .start("2023-01-01")
        .write(d, "c.csv");
    assert_ne!(a, std::fs::read(d.join("c.csv")).unwrap());
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("a.csv.truth.json")).unwrap()).unwrap();
    assert_eq!(truth["truth"]["r"], 0.9);

    // `--out x.csv.gz` writes gzip: the same text once decompressed.
    generate(d, "a.csv.gz");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(d.join("a.csv.gz")).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    assert_eq!(text, a);
}

/// The shipped Online Retail II pipeline on a small hand-made file in that
/// layout. Expected numbers worked out by hand (see the comments).
#[test]
fn online_retail_pipeline_on_hand_made_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("pipelines")).unwrap();
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::copy(
        repo_path("pipelines/online_retail.toml"),
        d.join("pipelines/online_retail.toml"),
    )
    .unwrap();
    std::fs::copy(
        repo_path("tests/fixtures/online_retail/online_retail_small.csv"),
        d.join("data/online_retail_small.csv"),
    )
    .unwrap();
    let o = retention(&["run", "pipelines/online_retail.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.join("out/online_retail");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("current/_manifest.json")).unwrap())
            .unwrap();
    // 15 rows: 3 filtered (blank customer, two C invoices), 1 duplicate
    // line, 1 rejected (Quantity `six`), 10 accepted.
    let rows = &manifest["rows"];
    assert_eq!(rows["read"], 15);
    assert_eq!(rows["excluded_by_filter"], 3);
    assert_eq!(rows["duplicates"], 1);
    assert_eq!(rows["rejected"], 1);
    assert_eq!(rows["accepted"], 10);
    assert_eq!(manifest["as_of"], "2010-02-10");

    let rejects = read_table(&out, "rejects");
    assert_eq!(rejects.height(), 1);
    let get = |c: &str| rejects.column(c).unwrap().get(0).unwrap().to_string();
    assert_eq!(get("row"), "14");
    assert_eq!(get("reason"), "\"invalid_amount\"");
    assert_eq!(get("column_name"), "\"Quantity\"");
    assert_eq!(get("value"), "\"six\"");
    assert!(get("raw_record").contains("13078.0"));

    // customers: 12347.0 (18.00), 13078.0 (59.50 + 29.70), 13085.0
    // (83.40 + 81.00, 30.60 the same day, 13.52), 16321.0 (30.00 + 15.30).
    let customers = read_table(&out, "customers");
    let ids: Vec<Option<&str>> = customers
        .column("customer_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    let ids: Vec<&str> = ids.into_iter().flatten().collect();
    assert_eq!(ids, ["12347.0", "13078.0", "13085.0", "16321.0"]);
    let revenue = numbers(&customers, "revenue");
    assert_eq!(revenue, [18.0, 89.2, 208.52, 45.3]);
    let orders = numbers(&customers, "orders");
    assert_eq!(orders, [1.0, 2.0, 3.0, 2.0]);
    let frequency = numbers(&customers, "frequency");
    assert_eq!(frequency, [0.0, 1.0, 1.0, 1.0]);
    let recency = numbers(&customers, "recency_days");
    assert_eq!(recency, [0.0, 34.0, 50.0, 49.0]);
    let tenure = numbers(&customers, "tenure_days");
    assert_eq!(tenure, [0.0, 71.0, 71.0, 57.0]);

    // kpis: Dec 2009 (3 new, 4 orders, 284.50), Jan 2010 (S=E=3, 2
    // orders, 43.22), Feb 2010 to as_of (S=3, N=1, E=4, 2 orders, 33.30).
    let kpis = read_table(&out, "kpis_monthly");
    let col = |c: &str| numbers(&kpis, c);
    assert_eq!(col("customers_start"), [0.0, 3.0, 3.0]);
    assert_eq!(col("customers_end"), [3.0, 3.0, 4.0]);
    assert_eq!(col("new_customers"), [3.0, 0.0, 1.0]);
    assert_eq!(col("orders"), [4.0, 2.0, 2.0]);
    assert_eq!(col("revenue"), [284.5, 43.22, 33.3]);
    assert_eq!(col("returning_customers"), [0.0, 2.0, 1.0]);
}

/// Not a terminal (cron, CI): plain log lines, no progress bars, no colour.
#[test]
fn no_progress_bars_or_colour_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "orders.csv");
    write_pipeline(d, "orders.csv", "");
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(err.contains("stage done"), "log lines expected: {err}");
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "terminal control in: {err:?}"
    );
    // --timings adds the stage table to stderr, nothing to stdout.
    let o = retention(&["-q", "run", "pipeline.toml", "--force", "--timings"], d);
    assert!(o.status.success());
    let err = stderr(&o);
    for stage in [
        "load", "validate", "orders", "kpis", "clv", "publish", "report",
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(stage)),
            "{stage} missing: {err}"
        );
    }
    assert!(!String::from_utf8_lossy(&o.stdout).contains("peak RSS MiB"));
    // -q keeps stderr to warnings and errors (on this short history the
    // Pareto/NBD calibration refit may warn that its optimum is on the
    // boundary).
    let o = retention(&["-q", "run", "pipeline.toml", "--force"], d);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.contains(" WARN ")),
        "{err}"
    );
    assert!(!err.contains(" INFO "), "{err}");
}

/// The run's time is its wall time, recorded in the manifest: the CLV
/// stage runs beside the descriptive stages, so the stages' sum is more.
#[test]
fn took_is_the_runs_wall_time_not_the_stages_sum() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "orders.csv");
    write_pipeline(d, "orders.csv", "");
    let clock = std::time::Instant::now();
    let o = retention(&["run", "pipeline.toml", "--timings"], d);
    let outside = clock.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/current/_manifest.json")).unwrap())
            .unwrap();
    let wall = manifest["wall_seconds"].as_f64().expect("wall_seconds");
    let stages = manifest["stages"].as_array().unwrap();
    let seconds = |s: &serde_json::Value| s["seconds"].as_f64().unwrap();
    // Every stage ran within the run, and the run within the process.
    assert!(
        stages.iter().all(|s| seconds(s) <= wall),
        "{wall} {stages:?}"
    );
    assert!(wall <= outside, "{wall} > {outside}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("took {wall:.2} s,")),
        "{wall}: {stdout}"
    );
    let err = stderr(&o);
    let whole = err
        .lines()
        .find(|l| l.starts_with("whole run"))
        .unwrap_or_else(|| panic!("no whole-run line: {err}"));
    assert_eq!(
        whole.split_whitespace().nth(2),
        Some(format!("{wall:.3}").as_str()),
        "{whole}"
    );
    // The page's stage table ends with publishing, made before the
    // report's step: its whole run is the wall time less that step.
    let report_step = stages.iter().find(|s| s["stage"] == "report").unwrap();
    let page = std::fs::read_to_string(d.join("out/current/report.html")).unwrap();
    let row = &page[page.find(">Whole run<").expect("a whole-run row")..];
    let cell = &row[row.find("class=\"num\">").unwrap() + 12..];
    let shown: f64 = cell[..cell.find(" s</td>").unwrap()].parse().unwrap();
    let expected = wall - seconds(report_step);
    assert!(
        (shown - expected).abs() <= 0.006,
        "{shown} against {expected}"
    );
}

/// Every file-level problem ends with exit 1 and a message naming the file
/// and what was expected; none panics.
#[test]
fn bad_files_fail_cleanly_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = "order_id,customer_id,order_ts,amount\n1,c1,2024-01-01 10:00:00,3.50\n2,c2,2024-01-02 11:00:00,4\n";
    let mut gz = Vec::new();
    {
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        e.write_all(good.repeat(50).as_bytes()).unwrap();
        e.finish().unwrap();
    }
    gz.truncate(gz.len() / 2);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not_parquet.parquet",
            b"PAR1 this is not parquet".to_vec(),
            "Parquet",
        ),
        ("truncated.csv.gz", gz, "gzip"),
        ("empty.csv", Vec::new(), "empty"),
        (
            "header_only.csv",
            b"order_id,customer_id,order_ts,amount\n".to_vec(),
            "no valid orders",
        ),
        (
            "bad_utf8.csv",
            b"order_id,customer_id,order_ts,amount\n1,c\xff,2024-01-01,3\n".to_vec(),
            "utf-8",
        ),
        (
            "quotes.csv",
            b"order_id,customer_id,order_ts,amount\n1,\"c1,2024-01-01,3\n2,c2,2024-01-02,4\n"
                .to_vec(),
            "quote",
        ),
        (
            "ragged.csv",
            b"order_id,customer_id,order_ts,amount\n1,c1,2024-01-01,3\n2,c2,2024-01-02,4,9\n"
                .to_vec(),
            "more fields",
        ),
        (
            "renamed.csv",
            b"order_id,client,order_ts,amount\n1,c1,2024-01-01,3\n".to_vec(),
            "`customer_id`",
        ),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(d.join(name), bytes).unwrap();
        write_pipeline(d, name, "");
        let o = retention(&["run", "pipeline.toml"], d);
        let err = stderr(&o);
        // A renamed key column is a mapping the file lacks: exit 2.
        let code = if name == "renamed.csv" { 2 } else { 1 };
        assert_eq!(o.status.code(), Some(code), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected `{expected}` in {err}"
        );
        if expected != "no valid orders" {
            assert!(err.contains(name), "{name} not named in {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    assert!(!d.join("out/current").exists());
}

/// Row-level problems go to `rejects` with their reason; the run goes on.
#[test]
fn bad_rows_are_rejected_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = [
        "1,c1,2024-03-01 10:00:00,10.00",  // fine
        "2,,2024-03-01 10:00:00,10.00",    // missing customer
        "3,c2,yesterday,10.00",            // bad timestamp
        "4,c2,,10.00",                     // missing timestamp
        "5,c2,2024-03-10 02:30:00,10.00",  // skipped by DST in New York
        "6,c2,2024-11-03 01:30:00,10.00",  // happens twice in New York
        "7,c2,2024-03-02 10:00:00,NaN",    // not finite
        "8,c2,2024-03-02 10:00:00,12.5.1", // not a number
        "9,c2,2024-03-02 10:00:00,",       // missing amount
        "10,c3,0001-01-01 00:00:00,5.00",  // placeholder date
        "11,c4,2024-03-03 10:00:00,-5.00", // refund without an order
        "12,c1,2024-03-04 10:00:00,7.00",  // fine
    ];
    let mut text = String::from("order_id,customer_id,order_ts,amount\n");
    for r in rows {
        text.push_str(r.split("  //").next().unwrap().trim());
        text.push('\n');
    }
    std::fs::write(d.join("orders.csv"), text).unwrap();
    write_pipeline(d, "orders.csv", "");
    let p = std::fs::read_to_string(d.join("pipeline.toml"))
        .unwrap()
        .replace("Europe/Berlin", "America/New_York")
        + "[rejects]\nmax_reject_ratio = 1.0\n";
    std::fs::write(d.join("pipeline.toml"), p).unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let rejects = read_table(&d.join("out"), "rejects");
    let reasons: Vec<String> = rejects
        .column("reason")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    assert_eq!(
        reasons,
        [
            "missing_customer_id",
            "invalid_timestamp",
            "missing_timestamp",
            "nonexistent_local_time",
            "ambiguous_local_time",
            "non_finite_amount",
            "invalid_amount",
            "missing_amount",
            "timestamp_out_of_range",
            "refund_without_order",
        ]
    );
    let rows: Vec<i64> = rejects
        .column("row")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(rows, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(read_table(&d.join("out"), "customers").height(), 1);
}

/// A mapped column of a type that cannot hold what it maps to.
#[test]
fn wrong_typed_column_fails_naming_file_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut frame = df!(
        "order_id" => ["1", "2"],
        "customer_id" => ["a", "b"],
        "order_ts" => [true, false],
        "amount" => [1.0, 2.0]
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(d.join("typed.parquet")).unwrap())
        .finish(&mut frame)
        .unwrap();
    write_pipeline(d, "typed.parquet", "");
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("typed.parquet") && err.contains("expected text, date or timestamp"),
        "{err}"
    );
}

/// One pipeline file for dev and prod: `${VAR}` and `${VAR:-default}` in
/// its paths come from the environment (an unset variable is exit 2
/// naming it and the key), and `--set KEY=VALUE` changes any key for one
/// run; a run with other settings is a new run, not "already published".
#[test]
fn environment_variables_and_set_override_the_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("shop")).unwrap();
    generate(&d.join("shop"), "orders.csv");
    std::fs::write(
        d.join("pipeline.toml"),
        "[input]\npath = \"${SHOP_DATA}/orders.csv\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\norder_id = \"order_id\"\n[output]\ndir = \"${SHOP_OUT:-out}\"\n",
    )
    .unwrap();
    let run = |args: &[&str], data: Option<&str>| {
        let mut command = retention_command();
        command.args(args).current_dir(d).env_remove("SHOP_OUT");
        match data {
            Some(value) => command.env("SHOP_DATA", value),
            None => command.env_remove("SHOP_DATA"),
        };
        command.output().unwrap()
    };
    let unset = run(&["run", "pipeline.toml"], None);
    assert_eq!(unset.status.code(), Some(2));
    let message = stderr(&unset);
    assert!(
        message.contains("[input] path") && message.contains("SHOP_DATA is not set"),
        "{message}"
    );
    let first = run(&["run", "pipeline.toml"], Some("shop"));
    assert!(first.status.success(), "{}", stderr(&first));
    let models = |out: &str| texts(&read_table(&d.join(out), "clv_model_selection"), "model");
    assert_eq!(models("out"), ["bg_nbd", "pareto_nbd", "mbg_nbd"]);
    let again = run(&["run", "pipeline.toml"], Some("shop"));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already published"));
    let set = run(
        &[
            "run",
            "pipeline.toml",
            "--set",
            "clv.model=mbg_nbd",
            "--set",
            "clv.interval=0.9",
        ],
        Some("shop"),
    );
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(String::from_utf8_lossy(&set.stdout).contains("published run"));
    assert_eq!(models("out"), ["mbg_nbd"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/current/_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["pipeline_overrides"],
        serde_json::json!([
            "--set clv.model=mbg_nbd",
            "--set clv.interval=0.9",
            "input.path = \"shop/orders.csv\"",
            "output.dir = \"out\""
        ])
    );
    let bad = run(
        &["validate", "pipeline.toml", "--set", "clv.modle=auto"],
        Some("shop"),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown field `modle`"),
        "{}",
        stderr(&bad)
    );
}

/// `OUT/views.sql` defines one DuckDB view per table of the current run,
/// reading through `OUT/current`, and follows the tables a run publishes:
/// after a run without CLV the CLV tables' views are gone.
#[test]
fn views_sql_names_every_table_of_the_current_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d, "orders.csv");
    let views = |extra: &str| -> Vec<(String, std::path::PathBuf)> {
        write_pipeline(d, "orders.csv", extra);
        let o = retention(&["run", "pipeline.toml", "--force"], d);
        assert!(o.status.success(), "{}", stderr(&o));
        let sql = std::fs::read_to_string(d.join("out/views.sql")).unwrap();
        sql.lines()
            .filter(|l| !l.starts_with("--"))
            .map(|line| {
                let rest = line.strip_prefix("CREATE OR REPLACE VIEW \"").unwrap();
                let (name, rest) = rest.split_once('"').unwrap();
                let path = rest
                    .strip_prefix(" AS SELECT * FROM read_parquet('")
                    .and_then(|p| p.strip_suffix("');"))
                    .unwrap();
                (name.to_string(), std::path::PathBuf::from(path))
            })
            .collect()
    };
    let mut published: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    published.sort();
    for (extra, tables) in [
        ("", published.clone()),
        ("[clv]\nenabled = false", {
            let mut without: Vec<String> = published
                .iter()
                .filter(|t| !t.starts_with("clv_") && *t != "at_risk_high_value")
                .cloned()
                .collect();
            without.sort();
            without
        }),
    ] {
        let got = views(extra);
        let current = std::fs::canonicalize(d.join("out"))
            .unwrap()
            .join("current");
        let names: Vec<String> = got.iter().map(|v| v.0.clone()).collect();
        assert_eq!(names, tables, "{extra}");
        for (name, path) in got {
            assert_eq!(path, current.join(&name).join("*.parquet"));
            let first_part = path.with_file_name("part-00000.parquet");
            assert!(first_part.is_file(), "{}", path.display());
        }
    }
}

/// Standard base64 (with or without padding), for the Parquet footer's
/// `ARROW:schema` entry; written out so the check needs no decoder of the
/// writer's own stack.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let digits: Vec<u32> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | d << (18 - 6 * i));
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}
