//! Issue 11, the publish, cleanup and lock path, black-box: whatever is in
//! the output directory (a user's files, foreign directories, symbolic
//! links, an old run that cannot be removed), `current` always resolves to
//! a complete run, nothing this tool did not create is touched, the exit
//! code is the documented one, and a later run still works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{retention_command, stderr, write_pipeline, Generate};

fn setup(d: &Path) {
    Generate::new(120, 11, 6).write(d, "orders.csv");
    write_pipeline(d, "orders.csv", "");
    let text = std::fs::read_to_string(d.join("pipeline.toml"))
        .unwrap()
        .replace("dir = \"out\"", "dir = \"out\"\nkeep_runs = 2");
    std::fs::write(d.join("pipeline.toml"), text).unwrap();
}

/// `retention run --force` with `FAILPOINTS` set (empty: none armed).
fn run(d: &Path, failpoints: &str) -> Output {
    retention_command()
        .args(["run", "pipeline.toml", "--force"])
        .current_dir(d)
        .env("FAILPOINTS", failpoints)
        .output()
        .expect("the binary runs")
}

fn assert_exit(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: stdout {}\nstderr {}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
}

/// `OUT/current` is a symbolic link to `runs/RUN_ID`, a directory holding
/// a manifest of that run id and every file the manifest lists. Returns
/// the run id.
fn assert_current_complete(out: &Path) -> String {
    let link = std::fs::read_link(out.join("current")).expect("current is a symbolic link");
    assert_eq!(link.parent(), Some(Path::new("runs")), "{}", link.display());
    let run_dir = out.join(&link);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir.join("_manifest.json")).expect("current has a manifest"),
    )
    .expect("manifest parses");
    let run_id = manifest["run_id"].as_str().unwrap().to_string();
    assert_eq!(link.file_name().unwrap().to_str(), Some(run_id.as_str()));
    for output in manifest["outputs"].as_array().unwrap() {
        let file = run_dir.join(output["file"].as_str().unwrap());
        let bytes = std::fs::metadata(&file).expect("listed file present").len();
        assert_eq!(
            bytes,
            output["bytes"].as_u64().unwrap(),
            "{}",
            file.display()
        );
    }
    assert!(run_dir.join("report.html").is_file());
    run_id
}

/// Every path under `root` (symbolic links not followed) with its kind and
/// contents, to show nothing there changed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let what = if meta.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
            "dir".to_string()
        } else {
            format!("file {:?}", std::fs::read(&path).unwrap())
        };
        found.insert(path.strip_prefix(root).unwrap().to_path_buf(), what);
    }
    found
}

/// The run directories (named like run ids) in `OUT/runs`.
fn run_dirs(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("20"))
        .collect();
    names.sort();
    names
}

#[test]
fn stray_files_in_runs_are_left_alone_and_every_run_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    assert_exit(&run(d, ""), 0, "first run");
    // A user's notes, a file named like a run, a file named like our
    // temporary link, all where cleanup looks.
    std::fs::write(out.join("runs/README.txt"), "what these runs are\n").unwrap();
    std::fs::write(out.join("runs/20000101T000000.000Z-1"), "not a run\n").unwrap();
    std::fs::write(out.join(".current.12.tmp"), "a user's file\n").unwrap();
    let before = [
        ("runs/README.txt", "what these runs are\n"),
        ("runs/20000101T000000.000Z-1", "not a run\n"),
        (".current.12.tmp", "a user's file\n"),
    ];
    for i in 0..3 {
        let o = run(d, "");
        assert_exit(&o, 0, &format!("run {i}"));
        assert!(!stderr(&o).contains("warning:"), "{}", stderr(&o));
        let current = assert_current_complete(&out);
        let runs = run_dirs(&out);
        assert!(runs.contains(&current));
        assert_eq!(runs.len(), 2, "keep_runs = 2: {runs:?}");
        for (file, text) in before {
            assert_eq!(std::fs::read_to_string(out.join(file)).unwrap(), text);
        }
    }
}

#[test]
fn foreign_directories_and_links_in_runs_are_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    assert_exit(&run(d, ""), 0, "first run");
    let runs = out.join("runs");
    // A user's experiment, an archive that even has a manifest (it sorts
    // before every run id, so it would be "oldest"), a link named like a
    // run id to a user's directory, and a link to a user's directory.
    std::fs::create_dir_all(runs.join("experiment_7")).unwrap();
    std::fs::write(runs.join("experiment_7/results.csv"), "a,b\n1,2\n").unwrap();
    std::fs::create_dir_all(runs.join("0000_archive")).unwrap();
    std::fs::write(runs.join("0000_archive/_manifest.json"), "{}").unwrap();
    std::fs::write(runs.join("0000_archive/customers.parquet"), "PAR1").unwrap();
    let precious = d.join("precious");
    std::fs::create_dir_all(precious.join("sub")).unwrap();
    std::fs::write(precious.join("sub/data.csv"), "x\n").unwrap();
    std::os::unix::fs::symlink(&precious, runs.join("20000101T000000.000Z-7")).unwrap();
    std::os::unix::fs::symlink(&precious, runs.join("shared")).unwrap();
    let foreign = |s: BTreeMap<PathBuf, String>| -> BTreeMap<PathBuf, String> {
        s.into_iter()
            .filter(|(p, _)| {
                !p.to_string_lossy().starts_with("20") || p.starts_with("20000101T000000.000Z-7")
            })
            .filter(|(p, _)| !p.as_os_str().is_empty())
            .collect()
    };
    let foreign_before = foreign(snapshot(&runs));
    let precious_before = snapshot(&precious);
    for i in 0..3 {
        let o = run(d, "");
        assert_exit(&o, 0, &format!("run {i}"));
        assert!(!stderr(&o).contains("warning:"), "{}", stderr(&o));
        let current = assert_current_complete(&out);
        assert_eq!(foreign(snapshot(&runs)), foreign_before, "run {i}");
        assert_eq!(snapshot(&precious), precious_before, "run {i}");
        let ours = run_dirs(&out);
        assert!(ours.contains(&current));
        assert_eq!(ours.len(), 2, "keep_runs = 2: {ours:?}");
    }
}

#[test]
fn a_symlinked_runs_directory_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    // The target holds a user's files, one of them named like a run
    // without a manifest (what cleanup removes in a real runs directory).
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("20000101T000000.000Z-1")).unwrap();
    std::fs::write(elsewhere.join("20000101T000000.000Z-1/notes.txt"), "mine\n").unwrap();
    std::fs::create_dir_all(elsewhere.join("photos")).unwrap();
    std::fs::write(elsewhere.join("photos/a.jpg"), "jpeg").unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("runs")).unwrap();
    let before = snapshot(&elsewhere);
    for i in 0..2 {
        let o = run(d, "");
        assert_exit(&o, 1, &format!("run {i}"));
        let err = stderr(&o);
        assert!(
            err.contains("runs") && err.contains("symbolic link"),
            "{err}"
        );
        assert_eq!(snapshot(&elsewhere), before);
        assert!(std::fs::symlink_metadata(out.join("current")).is_err());
    }
    // Once the user puts a real directory there, runs work.
    std::fs::remove_file(out.join("runs")).unwrap();
    assert_exit(&run(d, ""), 0, "after the link is gone");
    assert_current_complete(&out);
    assert_eq!(snapshot(&elsewhere), before);
}

#[test]
fn a_lock_that_is_not_our_own_regular_file_is_refused_and_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    assert_exit(&run(d, ""), 0, "first run");
    let published = assert_current_complete(&out);
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "a user's file\n").unwrap();
    let lock = out.join(".lock");
    type Plant = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Plant)> = vec![
        (
            "a symbolic link to a user's file",
            Box::new(|lock: &Path| {
                std::os::unix::fs::symlink("../victim.txt", lock).unwrap();
            }),
        ),
        (
            "a dangling symbolic link",
            Box::new(|lock: &Path| {
                std::os::unix::fs::symlink("../created_by_us.txt", lock).unwrap();
            }),
        ),
        (
            "a hard link to a user's file",
            Box::new(|lock: &Path| {
                std::fs::hard_link(lock.parent().unwrap().join("../victim.txt"), lock).unwrap();
            }),
        ),
        (
            "a directory",
            Box::new(|lock: &Path| std::fs::create_dir(lock).unwrap()),
        ),
        (
            "a named pipe",
            Box::new(|lock: &Path| {
                let made = Command::new("mkfifo").arg(lock).status().unwrap();
                assert!(made.success());
            }),
        ),
    ];
    for (what, plant) in cases {
        if std::fs::symlink_metadata(&lock).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir(&lock).unwrap();
        } else {
            let _ = std::fs::remove_file(&lock);
        }
        plant(&lock);
        let o = run(d, "");
        assert_exit(&o, 1, what);
        let err = stderr(&o);
        assert!(err.contains(".lock"), "{what}: {err}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "a user's file\n",
            "{what}"
        );
        assert!(!d.join("created_by_us.txt").exists(), "{what}");
        assert_eq!(assert_current_complete(&out), published, "{what}");
    }
    // Our own lock file back: runs work again.
    std::fs::remove_file(&lock).unwrap();
    assert_exit(&run(d, ""), 0, "with the lock removed");
    assert_current_complete(&out);
}

#[test]
fn a_user_file_or_directory_named_current_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    std::fs::create_dir_all(out.join("current")).unwrap();
    std::fs::write(out.join("current/dashboard.sql"), "select 1;\n").unwrap();
    let o = run(d, "");
    assert_exit(&o, 1, "a directory named current");
    assert!(stderr(&o).contains("current") && stderr(&o).contains("a directory"));
    assert_eq!(
        std::fs::read_to_string(out.join("current/dashboard.sql")).unwrap(),
        "select 1;\n"
    );
    assert!(!out.join("runs").exists() || run_dirs(&out).is_empty());

    std::fs::rename(out.join("current"), d.join("moved")).unwrap();
    std::fs::write(out.join("current"), "my notes\n").unwrap();
    let o = run(d, "");
    assert_exit(&o, 1, "a file named current");
    assert!(stderr(&o).contains("a regular file"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("current")).unwrap(),
        "my notes\n"
    );
    assert!(!out.join("runs").exists() || run_dirs(&out).is_empty());

    std::fs::remove_file(out.join("current")).unwrap();
    assert_exit(&run(d, ""), 0, "once moved away");
    assert_current_complete(&out);
}

/// Makes a path immutable (`chattr +i`: not even root can remove it) for
/// the guard's lifetime; `None` where the file system does not support it.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn an_old_run_that_cannot_be_removed_is_a_warning_and_current_stays_published() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    assert_exit(&run(d, ""), 0, "first run");
    // An incomplete run a killed run left, that cannot be removed.
    let stuck = out.join("runs/20000101T000000.000Z-1");
    std::fs::create_dir_all(&stuck).unwrap();
    std::fs::write(stuck.join("customers.parquet.tmp"), "PAR").unwrap();
    let Some(guard) = Immutable::set(&stuck.join("customers.parquet.tmp")) else {
        eprintln!("chattr +i unsupported here: see the failpoint test instead");
        return;
    };
    let mut published = Vec::new();
    for i in 0..3 {
        let o = run(d, "");
        assert_exit(&o, 0, &format!("run {i}"));
        let err = stderr(&o);
        assert!(
            err.contains("warning:")
                && err.contains("is published")
                && err.contains("20000101T000000.000Z-1"),
            "{err}"
        );
        let current = assert_current_complete(&out);
        assert!(String::from_utf8_lossy(&o.stdout).contains(&current));
        published.push(current);
        assert!(stuck.is_dir());
    }
    // Old complete runs were still pruned around the stuck one.
    let ours = run_dirs(&out);
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert!(ours.contains(&published[2]) && ours.contains(&published[1]));
    drop(guard);
    let o = run(d, "");
    assert_exit(&o, 0, "once removable");
    assert!(!stderr(&o).contains("warning:"));
    assert!(!stuck.exists());
    assert_current_complete(&out);
}

#[cfg(feature = "failpoints")]
#[test]
fn any_cleanup_failure_after_the_flip_is_a_warning_never_a_deleted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let out = d.join("out");
    assert_exit(&run(d, ""), 0, "first run");
    assert_exit(&run(d, ""), 0, "second run");
    // Both kinds of removal fail: an old complete run beyond keep_runs,
    // and an incomplete one.
    std::fs::create_dir_all(out.join("runs/20000101T000000.000Z-1")).unwrap();
    let before = run_dirs(&out);
    let o = run(d, "publish::sweep::remove=return");
    assert_exit(&o, 0, "with removals failing");
    let err = stderr(&o);
    assert!(
        err.contains("warning:") && err.contains("2 cleanup step(s)"),
        "{err}"
    );
    let current = assert_current_complete(&out);
    let after = run_dirs(&out);
    assert!(
        before.iter().all(|r| after.contains(r)),
        "{before:?} -> {after:?}"
    );
    assert!(after.contains(&current));
    // The next run cleans up.
    let o = run(d, "");
    assert_exit(&o, 0, "clean run");
    assert!(!stderr(&o).contains("warning:"));
    assert_current_complete(&out);
    assert_eq!(run_dirs(&out).len(), 2);
}
