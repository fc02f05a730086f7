//! The published tables read back by the tools users read them with, each
//! table by its directory (`RUN/<table>/`): DuckDB, pyarrow, pandas and
//! Polars from Python, and Spark (tests/python/read_tables.py, run with
//! `.venv-test`'s Python). Every reader must see every table with the
//! manifest's row count and the columns the Rust Parquet reader sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::binary::{read_table, retention, stderr};
use crate::support::repo_path;
use crate::support::s3::test_venv;

/// Runs the reader script with `args`; what each reader saw.
pub fn python_read(args: &[&str]) -> Value {
    let python = test_venv().join("bin").join("python");
    assert!(
        python.is_file(),
        "{} is missing: `make test` installs it",
        python.display()
    );
    let o = Command::new(python)
        .arg(repo_path("tests/python/read_tables.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Each table's rows, as the manifest of `run_dir` lists them.
pub fn manifest_rows(manifest: &Value) -> BTreeMap<String, u64> {
    let mut rows = BTreeMap::new();
    for output in manifest["outputs"].as_array().unwrap() {
        let table = output["table"].as_str().unwrap().to_string();
        *rows.entry(table).or_insert(0) += output["rows"].as_u64().unwrap();
    }
    rows
}

/// Every reader in `seen` saw each table of `rows` with that many rows and
/// with `columns(table)`.
pub fn assert_readers_agree(
    seen: &Value,
    rows: &BTreeMap<String, u64>,
    columns: impl Fn(&str) -> Vec<String>,
) {
    let readers = seen.as_object().unwrap();
    assert!(!readers.is_empty());
    for (reader, tables) in readers {
        for (table, count) in rows {
            let table_seen = &tables[table.as_str()];
            assert_eq!(
                table_seen["rows"].as_u64(),
                Some(*count),
                "{reader} {table}"
            );
            let names: Vec<String> = table_seen["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            assert_eq!(names, columns(table), "{reader} {table}");
        }
    }
}

/// The sample pipeline (every table: dimensions, CLV, tiers, targets,
/// surveys) run into a temporary output; its run directory and manifest.
fn sample_run(out: &Path) -> (PathBuf, Value) {
    let pipeline = repo_path("pipelines/sample.toml");
    let o = retention(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ],
        &repo_path(""),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run_dir = out.join("current").canonicalize().unwrap();
    let manifest = std::fs::read(run_dir.join("_manifest.json")).unwrap();
    (run_dir, serde_json::from_slice(&manifest).unwrap())
}

fn args<'a>(first: &'a [&'a str], rows: &'a BTreeMap<String, u64>) -> Vec<&'a str> {
    first
        .iter()
        .copied()
        .chain(rows.keys().map(String::as_str))
        .collect()
}

fn polars_columns(out: &Path) -> impl Fn(&str) -> Vec<String> + '_ {
    move |table| {
        read_table(out, table)
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect()
    }
}

#[test]
fn duckdb_pyarrow_pandas_and_polars_read_every_table_by_its_directory() {
    let out = tempfile::tempdir().unwrap();
    let (run_dir, manifest) = sample_run(out.path());
    let rows = manifest_rows(&manifest);
    assert!(rows.len() >= 23, "{rows:?}");
    let run_dir = run_dir.to_str().unwrap();
    let seen = python_read(&args(&[run_dir], &rows));
    assert_eq!(seen.as_object().unwrap().len(), 4);
    assert_readers_agree(&seen, &rows, polars_columns(out.path()));
}

/// Spark needs a Java runtime: `.ci/run` installs one when the machine
/// has none; without one this test says so and checks nothing.
#[test]
fn spark_reads_every_table_by_its_directory() {
    let java = Command::new("java").arg("-version").output();
    if !java.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: no Java runtime, so no Spark");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (run_dir, manifest) = sample_run(out.path());
    let rows = manifest_rows(&manifest);
    let seen = python_read(&args(&["--spark", run_dir.to_str().unwrap()], &rows));
    assert_readers_agree(&seen, &rows, polars_columns(out.path()));
}
