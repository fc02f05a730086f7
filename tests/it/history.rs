//! Issue 16, history snapshots: `[output] history` keeps each run's
//! selected tables under `OUT/history/<table>/as_of=YYYY-MM-DD/`, one
//! partition per as_of, replaced when that as_of is republished, pruned by
//! `history_keep_days`, read back by directory.

use std::path::Path;

use polars::prelude::*;

use crate::support::{read_table, retention, stderr, Generate, PipelineFile};

/// Every part file of a directory, in order, stacked.
fn read_dir_parts(dir: &Path) -> DataFrame {
    let mut parts: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    let mut frames = parts.iter().map(|p| {
        ParquetReader::new(std::fs::File::open(p).unwrap())
            .finish()
            .unwrap()
    });
    let mut whole = frames.next().expect("a part");
    for frame in frames {
        whole.vstack_mut(&frame).unwrap();
    }
    whole
}

fn partitions(out: &Path, table: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("history").join(table))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn run(d: &Path, as_of: &str, extra: &[&str]) {
    let mut args = vec!["run", "pipeline.toml", "--force", "--as-of", as_of];
    args.extend(extra);
    let o = retention(&args, d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning: run"), "{}", stderr(&o));
}

#[test]
fn three_runs_two_as_of_dates_and_a_republish() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Generate::new(200, 21, 12)
        .start("2023-01-01")
        .write(d, "orders.csv");
    let history = "[output]\nhistory = [\"kpis_monthly\", \"customers\"]\n";
    let text = PipelineFile::over("orders.csv")
        .text()
        .replace("[output]\n", history);
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
    let out = d.join("out");

    run(d, "2023-10-31", &[]);
    let october = out.join("history/kpis_monthly/as_of=2023-10-31");
    let october_frame = read_dir_parts(&october);
    assert!(october_frame.equals_missing(&read_table(&out, "kpis_monthly")));
    run(d, "2023-11-30", &[]);
    assert_eq!(
        partitions(&out, "kpis_monthly"),
        ["as_of=2023-10-31", "as_of=2023-11-30"]
    );
    assert_eq!(partitions(&out, "customers").len(), 2);
    // A leftover of a killed run is swept by the next.
    let leftover = out.join("history/kpis_monthly/.as_of=2023-11-30.1.tmp");
    std::fs::create_dir(&leftover).unwrap();

    // November again, over a changed input: its partition is replaced.
    let mut orders = std::fs::read_to_string(d.join("orders.csv")).unwrap();
    let first = orders.lines().nth(1).unwrap().to_string();
    let fields: Vec<&str> = first.split(',').collect();
    let refund = format!(
        "R-1,{},2023-11-15T12:00:00Z,-5.00{}\n",
        fields[1],
        ",".repeat(fields.len() - 4)
    );
    orders.push_str(&refund);
    std::fs::write(d.join("orders.csv"), orders).unwrap();
    run(d, "2023-11-30", &["--accept-changes"]);
    assert!(!leftover.exists());
    assert_eq!(
        partitions(&out, "kpis_monthly"),
        ["as_of=2023-10-31", "as_of=2023-11-30"]
    );
    let november = read_dir_parts(&out.join("history/kpis_monthly/as_of=2023-11-30"));
    assert!(november.equals_missing(&read_table(&out, "kpis_monthly")));
    let revenue = |f: &DataFrame| f.column("revenue").unwrap().f64().unwrap().sum().unwrap();
    let before = read_dir_parts(
        &out.join("runs")
            .join(previous_run(&out))
            .join("kpis_monthly"),
    );
    assert!((revenue(&before) - revenue(&november) - 5.0).abs() < 1e-6);
    // October is untouched.
    assert!(read_dir_parts(&october).equals_missing(&october_frame));

    // Partitions more than 20 days before as_of go.
    run(d, "2023-11-30", &["--set", "output.history_keep_days=20"]);
    assert_eq!(partitions(&out, "kpis_monthly"), ["as_of=2023-11-30"]);
    assert_eq!(partitions(&out, "customers"), ["as_of=2023-11-30"]);
}

/// The names of the staging directories left in a table's history.
fn staging_dirs(out: &Path, table: &str) -> Vec<String> {
    let names = std::fs::read_dir(out.join("history").join(table)).unwrap();
    names
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect()
}

/// Killed after a republished partition was staged but before it was
/// swapped in, and killed right after the snapshots: the run is published
/// either way; the partition is the old snapshot or the new one, whole;
/// the next run sweeps the staging directory and leaves the new one.
#[test]
fn killed_while_snapshotting_the_run_stands_and_the_next_run_completes_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Generate::new(200, 22, 12)
        .start("2023-01-01")
        .write(d, "orders.csv");
    let history = "[output]\nhistory = [\"kpis_monthly\"]\n";
    let text = PipelineFile::over("orders.csv")
        .text()
        .replace("[output]\n", history);
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
    let out = d.join("out");
    let partition = out.join("history/kpis_monthly/as_of=2023-10-31");
    run(d, "2023-10-31", &[]);
    let old = read_dir_parts(&partition);
    let mut orders = std::fs::read_to_string(d.join("orders.csv")).unwrap();
    let fields: Vec<String> = orders
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let comma = ",".repeat(fields.len() - 4);
    orders.push_str(&format!(
        "R-2,{},2023-10-15T12:00:00Z,-7.00{comma}\n",
        fields[1]
    ));
    std::fs::write(d.join("orders.csv"), orders).unwrap();
    for (point, snapshot_replaced) in [("history::staged", false), ("publish::history", true)] {
        let o = crate::support::retention_command()
            .args(["run", "pipeline.toml", "--force", "--as-of", "2023-10-31"])
            .args(["--accept-changes"])
            .env("FAILPOINTS", format!("{point}=return"))
            .current_dir(d)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(9), "{point}: {}", stderr(&o));
        let published = read_table(&out, "kpis_monthly");
        assert!(
            !published.equals_missing(&old),
            "{point}: the new run is current"
        );
        let expected = if snapshot_replaced { &published } else { &old };
        assert!(
            read_dir_parts(&partition).equals_missing(expected),
            "{point}"
        );
        assert_eq!(
            staging_dirs(&out, "kpis_monthly").len(),
            usize::from(!snapshot_replaced)
        );
        run(d, "2023-10-31", &["--accept-changes"]);
        assert!(read_dir_parts(&partition).equals_missing(&read_table(&out, "kpis_monthly")));
        assert!(staging_dirs(&out, "kpis_monthly").is_empty(), "{point}");
    }
}

fn previous_run(out: &Path) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("current/_manifest.json")).unwrap())
            .unwrap();
    manifest["compared_with"].as_str().unwrap().to_string()
}

#[test]
fn an_unknown_history_table_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = PipelineFile::over("orders.csv")
        .text()
        .replace("[output]\n", "[output]\nhistory = [\"customer\"]\n");
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
    let o = retention(&["validate", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("[output] history: `customer` is not a table"),
        "{}",
        stderr(&o)
    );
}
