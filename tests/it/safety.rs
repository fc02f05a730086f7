//! Running unattended: single writer, idempotent reruns, repair of what a
//! killed run left behind, retention of old runs.

use std::path::Path;

use crate::support::{read_table, retention, write_pipeline, Generate};

fn setup(d: &Path, extra: &str) {
    Generate::new(150, 9, 8).write(d, "orders.csv");
    write_pipeline(d, "orders.csv", extra);
}

fn runs(d: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.join("out/runs"))
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn rerun_with_same_inputs_is_already_published_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "");
    assert!(retention(&["run", "pipeline.toml"], d).status.success());
    let first = runs(d);
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("already published as {}", first[0])),
        "{stdout}"
    );
    assert_eq!(runs(d), first);

    // A different as_of is a different run.
    let o = retention(&["run", "pipeline.toml", "--as-of", "2021-06-30"], d);
    assert!(o.status.success());
    assert_eq!(runs(d).len(), 2);

    // Same contents whatever the thread count.
    let before = read_table(&d.join("out"), "kpis_monthly");
    let o = retention(
        &[
            "run",
            "pipeline.toml",
            "--as-of",
            "2021-06-30",
            "--threads",
            "1",
            "--force",
        ],
        d,
    );
    assert!(o.status.success());
    assert_eq!(runs(d).len(), 3);
    assert!(read_table(&d.join("out"), "kpis_monthly").equals_missing(&before));
}

#[test]
fn second_writer_exits_1_naming_the_holder_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "");
    std::fs::create_dir_all(d.join("out")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.join("out/.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        d.join("out/.lock"),
        "pid 4242 started 2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("locked by another run") && err.contains("pid 4242"),
        "{err}"
    );
    assert!(!d.join("out/runs").exists() && !d.join("out/current").exists());
    drop(lock);
    assert!(retention(&["run", "pipeline.toml"], d).status.success());
}

#[test]
fn leftovers_of_a_killed_run_are_swept_and_old_runs_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "");
    let text = std::fs::read_to_string(d.join("pipeline.toml"))
        .unwrap()
        .replace("dir = \"out\"", "dir = \"out\"\nkeep_runs = 2");
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
    assert!(retention(&["run", "pipeline.toml"], d).status.success());
    // What a run killed mid-publish leaves: a run directory without a
    // manifest, a half-written file, a temporary link.
    std::fs::create_dir_all(d.join("out/runs/20000101T000000.000Z-1")).unwrap();
    std::fs::write(
        d.join("out/runs/20000101T000000.000Z-1/customers.parquet.tmp"),
        b"PAR",
    )
    .unwrap();
    std::os::unix::fs::symlink("runs/nowhere", d.join("out/.current.77.tmp")).unwrap();
    for _ in 0..3 {
        assert!(retention(&["run", "pipeline.toml", "--force"], d)
            .status
            .success());
    }
    let left = runs(d);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.iter().any(|r| r.starts_with("2000")));
    assert!(!d.join("out/.current.77.tmp").exists());
    let current = std::fs::read_link(d.join("out/current")).unwrap();
    assert!(left.iter().any(|r| current.ends_with(r)));
}
