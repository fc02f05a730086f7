//! History snapshots (`[output] history`): after a run is published, each
//! selected table is copied to `OUT/history/<table>/as_of=YYYY-MM-DD/`, a
//! Hive-style partition per as_of, so BI tools can trend a column across
//! nights (`keep_runs` prunes only the run directories). A partition is
//! built beside its final place and swapped in with one rename, so a
//! reader sees the old snapshot of that as_of or the new one, never a
//! mix; `history_keep_days` prunes old partitions. The run is published
//! before any of this: a problem here is a warning, never a failed run.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::faults;
use crate::io::publish::sync_dir;

/// The history's directory in the output directory.
pub const HISTORY_DIR: &str = "history";

/// What to snapshot and for how long.
pub struct HistoryPlan<'a> {
    pub tables: &'a [String],
    /// Partitions whose as_of is more than this many days before the
    /// run's are removed; `None` keeps them all.
    pub keep_days: Option<u32>,
}

/// Snapshots the tables of `run_dir` (a published run of `as_of`) into
/// `OUT/history`; returns the problems, one warning each.
pub fn append_snapshots(
    out_dir: &Path,
    run_dir: &Path,
    as_of: NaiveDate,
    plan: &HistoryPlan,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for table in plan.tables {
        let snapshot = snapshot_table(out_dir, run_dir, table, as_of)
            .and_then(|table_dir| prune(&table_dir, as_of, plan.keep_days));
        if let Err(e) = snapshot {
            warnings.push(format!("history of `{table}`: {e}"));
        }
    }
    warnings
}

/// The partition directory's name for `as_of`.
pub fn partition_name(as_of: NaiveDate) -> String {
    format!("as_of={as_of}")
}

/// Whether the partition named `name` (`as_of=YYYY-MM-DD`) is more than
/// `keep_days` before `as_of`; anything else by that name is kept.
pub fn is_expired(name: &str, as_of: NaiveDate, keep_days: u32) -> bool {
    let oldest = as_of - chrono::Days::new(u64::from(keep_days));
    name.strip_prefix("as_of=")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_some_and(|d| d < oldest)
}

/// Copies one table's part files into its partition for `as_of`; returns
/// the table's history directory.
fn snapshot_table(
    out_dir: &Path,
    run_dir: &Path,
    table: &str,
    as_of: NaiveDate,
) -> Result<PathBuf> {
    let source = run_dir.join(table);
    if !source.is_dir() {
        return Err(Error::output(&source, "this run did not write the table"));
    }
    let table_dir = out_dir.join(HISTORY_DIR).join(table);
    std::fs::create_dir_all(&table_dir)
        .map_err(|e| Error::output(&table_dir, format!("cannot create: {e}")))?;
    sweep_staging(&table_dir);
    let target = table_dir.join(partition_name(as_of));
    let staging = table_dir.join(format!(
        ".{}.{}.tmp",
        partition_name(as_of),
        std::process::id()
    ));
    std::fs::create_dir(&staging)
        .map_err(|e| Error::output(&staging, format!("cannot create: {e}")))?;
    let filled = fill(&source, &staging).and_then(|()| swap_in(&staging, &target));
    // After a swap `staging` holds the replaced snapshot; after a failure
    // the partial copy. Either way it goes.
    let _ = std::fs::remove_dir_all(&staging);
    filled?;
    sync_dir(&table_dir)?;
    Ok(table_dir)
}

/// Links (or, across file systems, copies) every part file of `source`
/// into `staging`, and flushes it. The run's files are never written
/// again, so sharing them is safe and costs no space.
fn fill(source: &Path, staging: &Path) -> Result<()> {
    let entries = std::fs::read_dir(source)
        .map_err(|e| Error::output(source, format!("cannot list: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::output(source, format!("cannot list: {e}")))?;
        let to = staging.join(entry.file_name());
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to)
                .map_err(|e| Error::output(&to, format!("cannot copy: {e}")))?;
        }
    }
    sync_dir(staging)?;
    faults::crash_point("history::staged");
    Ok(())
}

/// Puts `staging` in `target`'s place: a new partition by one rename; a
/// republished one by exchanging the two directories in one step (Linux),
/// so `target` is never missing; elsewhere by two renames.
fn swap_in(staging: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return std::fs::rename(staging, target)
            .map_err(|e| Error::output(target, format!("cannot rename into place: {e}")));
    }
    exchange(staging, target).map_err(|e| Error::output(target, format!("cannot replace: {e}")))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (path(a)?, path(b)?);
    // SAFETY: two valid NUL-terminated paths; the call reads nothing else.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    match done {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    // No atomic exchange: the old partition moves aside first, so for a
    // moment the as_of has no snapshot (never a mixed one).
    let aside = b.with_extension("old");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

/// Removes partitions built by runs that were killed (`.as_of=….tmp`).
fn sweep_staging(table_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(table_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with(".as_of=") && name.ends_with(".tmp");
        if ours && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the partitions of `table_dir` whose as_of is more than
/// `keep_days` before `as_of` (none without a limit).
fn prune(table_dir: &Path, as_of: NaiveDate, keep_days: Option<u32>) -> Result<()> {
    let Some(days) = keep_days else {
        return Ok(());
    };
    let entries = std::fs::read_dir(table_dir)
        .map_err(|e| Error::output(table_dir, format!("cannot list: {e}")))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_expired(&name, as_of, days) {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| Error::output(entry.path(), format!("cannot remove: {e}")))?;
        }
    }
    Ok(())
}
