//! Crash consistency (needs the `failpoints` feature, which `make test`
//! enables): the real binary is killed at every step of a run and at
//! random moments, disks fill up, runs collide, a reader watches
//! `current`; after each, an invariant checker verifies what a dashboard
//! would see, and a clean rerun publishes exactly what an uninterrupted run
//! publishes.

#![cfg(feature = "failpoints")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use polars::prelude::*;

use crate::cli::TABLES;
use crate::support::{retention_command, write_pipeline, Generate};

fn run_with(d: &Path, failpoints: &str, extra: &[&str]) -> Output {
    let mut command = retention_command();
    command
        .args(["run", "pipeline.toml", "--force"])
        .args(extra)
        .current_dir(d)
        .env("FAILPOINTS", failpoints);
    command.output().expect("the binary runs")
}

fn setup(d: &Path, customers: &str) {
    Generate::new(customers.parse().unwrap(), 17, 20)
        .surveys("surveys.csv")
        .write(d, "orders.csv");
    // Every stage runs: dimensions and a survey input too.
    write_pipeline(d, "orders.csv", "");
    let text = std::fs::read_to_string(d.join("pipeline.toml"))
        .unwrap()
        .replace(
            "order_id = \"order_id\"",
            "order_id = \"order_id\"\ndimensions = [\"channel\", \"country\"]",
        )
        .replace("[output]", "[surveys]\npath = \"surveys.csv\"\n\n[output]")
        .replace("dir = \"out\"", "dir = \"out\"\nkeep_runs = 3");
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
}

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a dashboard sees through `current`: it resolves, its manifest
/// parses, every listed file reads fully with the listed row count and
/// checksum, and carries the manifest's run id. Returns the tables.
fn check_invariants(out: &Path) -> BTreeMap<String, DataFrame> {
    let run_dir: PathBuf = std::fs::canonicalize(out.join("current")).expect("current resolves");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir.join("_manifest.json")).expect("manifest present"),
    )
    .expect("manifest parses");
    let run_id = manifest["run_id"].as_str().unwrap();
    let mut tables = BTreeMap::new();
    for output in manifest["outputs"].as_array().unwrap() {
        let path = run_dir.join(output["file"].as_str().unwrap());
        assert_eq!(
            sha256(&path),
            output["sha256"].as_str().unwrap(),
            "{}",
            path.display()
        );
        let frame = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .expect("reads fully");
        assert_eq!(frame.height() as u64, output["rows"].as_u64().unwrap());
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        let file_run = kv
            .iter()
            .find(|e| e.key == "retention.run_id")
            .and_then(|e| e.value.clone());
        assert_eq!(
            file_run.as_deref(),
            Some(run_id),
            "a file of another run in {}",
            run_dir.display()
        );
        tables.insert(output["table"].as_str().unwrap().to_string(), frame);
    }
    assert!(run_dir.join("report.html").is_file());
    tables
}

/// Equal tables; `run_comparison` and `gates` describe a run against the
/// one before it, which differs between a recovered sequence and the
/// reference, so only their presence is compared.
fn assert_same_tables(a: &BTreeMap<String, DataFrame>, b: &BTreeMap<String, DataFrame>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, frame) in a {
        if crate::cli::ABOUT_THE_RUN.contains(&name.as_str()) {
            continue;
        }
        assert!(
            frame.equals_missing(&b[name]),
            "{name} differs after recovery"
        );
    }
}

/// No temporaries or incomplete runs left once a clean run has finished.
fn assert_clean(out: &Path) {
    for entry in std::fs::read_dir(out).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "temporary {name} left in {}",
            out.display()
        );
    }
    for run in std::fs::read_dir(out.join("runs")).unwrap().flatten() {
        assert!(
            run.path().join("_manifest.json").is_file(),
            "incomplete run {} left",
            run.path().display()
        );
        for file in std::fs::read_dir(run.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "temporary {name} left");
        }
    }
}

/// The tables a run of [`setup`]'s pipeline publishes, in order: the
/// usual ones and, before `rejects`, the NPS tables of its survey input.
fn published_tables() -> Vec<&'static str> {
    let mut tables = TABLES.to_vec();
    let at = tables.iter().position(|t| *t == "rejects").unwrap();
    tables.splice(
        at..at,
        [
            "nps_monthly",
            "nps_by_cohort",
            "nps_by_tier",
            "nps_retention",
        ],
    );
    tables
}

/// Every crash point of a run, in order.
fn kill_points() -> Vec<String> {
    let mut points: Vec<String> = [
        "load",
        "validate",
        "orders",
        "customers",
        "cohorts",
        "kpis",
        "dimensions",
        "clv",
        "segments",
        "tiers",
        "targets",
        "nps",
        "checks",
        "compare",
    ]
    .iter()
    .map(|s| format!("stage::{s}"))
    .collect();
    points.push("publish::run_dir_created".into());
    for table in published_tables() {
        let file = format!("{table}/part-00000.parquet");
        points.push(format!("publish::temp_written::{file}"));
        points.push(format!("publish::renamed::{file}"));
        points.push(format!("publish::verified::{table}"));
    }
    for file in ["report.html", "_manifest.json"] {
        points.push(format!("publish::temp_written::{file}"));
        points.push(format!("publish::renamed::{file}"));
    }
    points.extend(
        [
            "publish::link_created",
            "publish::current_flipped",
            "publish::swept",
        ]
        .map(String::from),
    );
    points
}

/// Sets up a 300-customer history in `d`, runs it uninterrupted and
/// returns its published tables: what every later check compares with.
fn first_good_run(d: &Path) -> BTreeMap<String, DataFrame> {
    setup(d, "300");
    let o = run_with(d, "", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_invariants(&d.join("out"))
}

#[test]
fn killed_at_every_step_the_last_good_run_stays_and_a_rerun_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reference = first_good_run(d);
    let points = kill_points();
    assert!(points.len() >= 30, "only {} kill points", points.len());
    for point in &points {
        let o = run_with(d, &format!("{point}=return"), &[]);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            Some(9),
            "{point}: the run was not killed by SIGKILL: {:?}",
            o.status
        );
        check_invariants(&d.join("out"));
        let o = run_with(d, "", &[]);
        assert!(
            o.status.success(),
            "{point}: rerun failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_same_tables(&reference, &check_invariants(&d.join("out")));
        assert_clean(&d.join("out"));
    }
    eprintln!("survived {} kill points", points.len());
}

/// The spill directories in `out` (`.spill-PID`).
fn spill_dirs(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".spill-"))
        .collect()
}

/// Killed while partitions are written to spill files, while a spilled
/// partition is read back and grouped, while the order history or the
/// per-customer results are written out, or while the target lists' runs
/// or the sorted CLVs' runs are written or merged: `current` still shows
/// the last good run, the spill files stay behind, and the next run sweeps
/// them and publishes the same tables.
#[test]
fn killed_while_spilling_the_last_good_run_stays_and_the_spill_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reference = first_good_run(d);
    // A budget of one byte: every piece of every partition is spilled.
    let spill_all = "run::memory_limit_bytes=return(1)";
    let o = run_with(d, spill_all, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/current/_manifest.json")).unwrap())
            .unwrap();
    assert!(m["resources"]["spilled_bytes"].as_u64().unwrap() > 0, "{m}");
    assert_eq!(m["resources"]["history_spilled"], true, "{m}");
    assert_eq!(m["resources"]["results_spilled"], true, "{m}");
    assert_same_tables(&reference, &check_invariants(&d.join("out")));
    for point in [
        "spill::piece_written",
        "spill::partition_read",
        "spill::history_written",
        "spill::customers_written",
        "spill::list_run_written",
        "spill::list_merged",
        "spill::clv_run_written",
        "spill::clv_merged",
    ] {
        let o = run_with(d, &format!("{spill_all};{point}=return"), &[]);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(9), "{point}: {:?}", o.status);
        assert_same_tables(&reference, &check_invariants(&d.join("out")));
        assert_eq!(spill_dirs(&d.join("out")).len(), 1, "{point}");
        let o = run_with(d, "", &[]);
        assert!(o.status.success(), "{point}: rerun failed");
        assert_same_tables(&reference, &check_invariants(&d.join("out")));
        assert!(spill_dirs(&d.join("out")).is_empty(), "{point}");
        assert_clean(&d.join("out"));
    }
}

#[test]
fn killed_at_random_moments_nothing_is_half_published() {
    let kills: usize = std::env::var("RETENTION_CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "20000");
    // The shortest of three whole runs: one slowed by the other tests on
    // the machine would put most kill times after a later run's end.
    let mut full = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let o = run_with(d, "", &[]);
        assert!(o.status.success());
        full = full.min(started.elapsed());
    }
    let reference = check_invariants(&d.join("out"));
    // A fixed-seed sequence of kill times spread over a whole run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    for _ in 0..kills {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = (state >> 11) as f64 / (1u64 << 53) as f64;
        let delay = full.mul_f64(fraction * 1.1);
        let mut child = retention_command()
            .args(["run", "pipeline.toml", "--force"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        killed += usize::from(status.code().is_none());
        check_invariants(&d.join("out"));
    }
    let o = run_with(d, "", &[]);
    assert!(o.status.success());
    assert_same_tables(&reference, &check_invariants(&d.join("out")));
    assert_clean(&d.join("out"));
    eprintln!("{killed} of {kills} runs killed mid-way (run takes {full:?}); all consistent");
    assert!(
        killed >= kills / 2,
        "too few runs were actually killed: {killed}"
    );
}

#[test]
fn disk_full_fails_naming_the_path_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "300");
    assert!(run_with(d, "", &[]).status.success());
    let before = std::fs::read_link(d.join("out/current")).unwrap();
    for file in [
        "customers/part-00000.parquet",
        "report.html",
        "_manifest.json",
    ] {
        let o = run_with(d, &format!("publish::enospc::{file}=return"), &[]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(file) && err.contains("No space left on device"),
            "{err}"
        );
        assert_eq!(std::fs::read_link(d.join("out/current")).unwrap(), before);
        check_invariants(&d.join("out"));
        assert_clean(&d.join("out"));
    }
    assert!(run_with(d, "", &[]).status.success());
    assert_clean(&d.join("out"));
}

#[test]
fn of_two_concurrent_runs_exactly_one_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "200");
    for trial in 0..20 {
        let before = std::fs::read_dir(d.join("out/runs"))
            .map(|r| r.count())
            .unwrap_or(0);
        // The lock holder pauses while holding it, so the runs overlap.
        let spawn = || {
            retention_command()
                .args(["run", "pipeline.toml", "--force"])
                .current_dir(d)
                .env("FAILPOINTS", "run::locked=sleep(400)")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "trial {trial}: {} successes", ok);
        let loser = if a.status.success() { &b } else { &a };
        assert_eq!(loser.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&loser.stderr).contains("locked by another run"));
        let after = std::fs::read_dir(d.join("out/runs")).unwrap().count();
        assert!(
            after == before + 1 || after == 3,
            "trial {trial}: {before} -> {after} runs"
        );
        check_invariants(&d.join("out"));
    }
}

#[test]
fn a_reader_of_current_never_sees_a_mix_during_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    setup(&d, "200");
    let text = std::fs::read_to_string(d.join("pipeline.toml"))
        .unwrap()
        .replace("keep_runs = 3", "keep_runs = 30");
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
    assert!(run_with(&d, "", &[]).status.success());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (d, stop) = (d.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                check_invariants(&d.join("out"));
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..20 {
        assert!(run_with(&d, "", &[]).status.success());
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("the reader never saw a mix");
    assert!(reads > 20, "only {reads} reads");
    eprintln!("{reads} consistent reads during 20 publishes");
}
