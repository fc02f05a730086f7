//! Publishing: tables → Parquet files in a new run directory, verified by an
//! independent reader, then made visible in one atomic step.
//!
//! Protocol (SPEC §5): every file is written under a temporary name,
//! fsynced and renamed; each is read back (with Polars' own Parquet reader,
//! independent of the `parquet` crate that wrote it) and compared with what
//! was computed; the manifest is written last; `OUT/current`, a symbolic
//! link to `runs/RUN_ID`, is replaced by a rename, which readers see either
//! before or after, never half-done. A run directory without a manifest is
//! incomplete and is removed by the next run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit as ArrowTimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::faults;

/// The manifest's file name; its presence marks a run directory complete.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// A table to publish.
pub struct Table {
    pub name: &'static str,
    pub frame: DataFrame,
}

/// What was written for one table.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct WrittenFile {
    pub table: String,
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Converts a Polars column to an Arrow array and its field.
fn to_arrow(column: &Column) -> Result<(Field, ArrayRef)> {
    let name = column.name().to_string();
    let unsupported = |what: &str| {
        Error::output(
            PathBuf::from(&name),
            format!("column `{name}` has type {what}, which the publisher does not write"),
        )
    };
    let (dtype, array): (ArrowType, ArrayRef) = match column.dtype() {
        DataType::String => (
            ArrowType::Utf8,
            Arc::new(column.str()?.iter().collect::<StringArray>()),
        ),
        DataType::Int64 => (
            ArrowType::Int64,
            Arc::new(column.i64()?.iter().collect::<Int64Array>()),
        ),
        DataType::Int32 => (
            ArrowType::Int32,
            Arc::new(column.i32()?.iter().collect::<Int32Array>()),
        ),
        DataType::Float64 => (
            ArrowType::Float64,
            Arc::new(column.f64()?.iter().collect::<Float64Array>()),
        ),
        DataType::Boolean => (
            ArrowType::Boolean,
            Arc::new(column.bool()?.iter().collect::<BooleanArray>()),
        ),
        DataType::Date => {
            let days = column.cast(&DataType::Int32)?;
            (
                ArrowType::Date32,
                Arc::new(days.i32()?.iter().collect::<Date32Array>()),
            )
        }
        DataType::Datetime(_, _) => {
            let micros = column
                .cast(&DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                ))?
                .cast(&DataType::Int64)?;
            (
                ArrowType::Timestamp(ArrowTimeUnit::Microsecond, Some("UTC".into())),
                Arc::new(
                    micros
                        .i64()?
                        .iter()
                        .collect::<TimestampMicrosecondArray>()
                        .with_timezone("UTC"),
                ),
            )
        }
        other => return Err(unsupported(&other.to_string())),
    };
    Ok((Field::new(name, dtype, true), array))
}

/// Writes one table as Parquet (zstd, chunk statistics, key-value metadata)
/// to `path`, through a temporary file that is fsynced and renamed.
pub fn write_parquet(frame: &DataFrame, path: &Path, metadata: &[(String, String)]) -> Result<u64> {
    let mut fields = Vec::with_capacity(frame.width());
    let mut arrays = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        let (field, array) = to_arrow(column)?;
        fields.push(field);
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::output(path, format!("cannot assemble the table: {e}")))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ))
        .build();
    let temporary = temporary_path(path);
    let file_name = file_name(path);
    let write = || -> std::result::Result<u64, Box<dyn std::error::Error>> {
        let file = File::create(&temporary)?;
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties))?;
        writer.write(&batch)?;
        faults::io_point(&format!("publish::enospc::{file_name}"))?;
        let file = writer.into_inner()?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    };
    let bytes = write().map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        Error::output(&temporary, format!("cannot write: {e}"))
    })?;
    faults::crash_point(&format!("publish::temp_written::{file_name}"));
    std::fs::rename(&temporary, path)
        .map_err(|e| Error::output(path, format!("cannot rename into place: {e}")))?;
    faults::crash_point(&format!("publish::renamed::{file_name}"));
    Ok(bytes)
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Reads a written file back with Polars and compares it with the frame it
/// was written from: column names, types, row count and every value.
pub fn verify_parquet(frame: &DataFrame, path: &Path) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::output(path, format!("cannot reopen: {e}")))?;
    let read = ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::output(path, format!("cannot read back: {e}")))?;
    let expected: Vec<(String, DataType)> = frame
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), published_dtype(c.dtype())))
        .collect();
    let found: Vec<(String, DataType)> = read
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), published_dtype(c.dtype())))
        .collect();
    if expected != found {
        return Err(Error::output(
            path,
            format!("schema read back differs: expected {expected:?}, found {found:?}"),
        ));
    }
    if read.height() != frame.height() {
        return Err(Error::output(
            path,
            format!(
                "row count read back differs: expected {}, found {}",
                frame.height(),
                read.height()
            ),
        ));
    }
    let comparable = |df: &DataFrame| -> Result<DataFrame> {
        let columns = df
            .columns()
            .iter()
            .map(|c| c.cast(&published_dtype(c.dtype())))
            .collect::<PolarsResult<Vec<_>>>()?;
        Ok(DataFrame::new(df.height(), columns)?)
    };
    if !comparable(frame)?.equals_missing(&comparable(&read)?) {
        return Err(Error::output(
            path,
            "values read back differ from those computed",
        ));
    }
    Ok(())
}

/// The type a column has once published and read back (timestamps are
/// normalized to microseconds UTC).
fn published_dtype(dtype: &DataType) -> DataType {
    match dtype {
        DataType::Datetime(_, _) => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        other => other.clone(),
    }
}

/// Writes `bytes` to `path` through an fsynced temporary and a rename.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = temporary_path(path);
    let file_name = file_name(path);
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        faults::io_point(&format!("publish::enospc::{file_name}"))?;
        file.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        Error::output(&temporary, format!("cannot write: {e}"))
    })?;
    faults::crash_point(&format!("publish::temp_written::{file_name}"));
    std::fs::rename(&temporary, path)
        .map_err(|e| Error::output(path, format!("cannot rename into place: {e}")))?;
    faults::crash_point(&format!("publish::renamed::{file_name}"));
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Flushes a directory entry list (new files and renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::output(dir, format!("cannot sync directory: {e}")))
}

/// Points `OUT/current` at `runs/RUN_ID` in one atomic rename.
pub fn flip_current(out_dir: &Path, run_id: &str) -> Result<()> {
    let link = out_dir.join("current");
    let temporary = out_dir.join(format!(".current.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let target = Path::new("runs").join(run_id);
    std::os::unix::fs::symlink(&target, &temporary)
        .map_err(|e| Error::output(&temporary, format!("cannot create link: {e}")))?;
    faults::crash_point("publish::link_created");
    std::fs::rename(&temporary, &link)
        .map_err(|e| Error::output(&link, format!("cannot replace link: {e}")))?;
    faults::crash_point("publish::current_flipped");
    sync_dir(out_dir)
}

/// The run directory `OUT/current` points at, if any.
pub fn current_run(out_dir: &Path) -> Option<String> {
    let target = std::fs::read_link(out_dir.join("current")).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Removes incomplete run directories (no manifest) other than `keep`, and
/// complete ones beyond the newest `keep_runs`, never the one `current`
/// points at. Run ids sort by time, so name order is age order.
pub fn sweep_runs(out_dir: &Path, keep_runs: usize, keep: &str) -> Result<Vec<String>> {
    let runs_dir = out_dir.join("runs");
    let current = current_run(out_dir);
    let mut complete = Vec::new();
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(&runs_dir) {
        Ok(entries) => entries,
        Err(_) => return Ok(removed),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == keep || Some(&name) == current.as_ref() {
            continue;
        }
        if entry.path().join(MANIFEST_FILE).is_file() {
            complete.push(name);
        } else {
            std::fs::remove_dir_all(entry.path()).map_err(|e| {
                Error::output(entry.path(), format!("cannot remove incomplete run: {e}"))
            })?;
            removed.push(name);
        }
    }
    complete.sort();
    // `keep` and `current` count towards keep_runs.
    let protected = 1 + usize::from(current.as_deref().is_some_and(|c| c != keep));
    let allowed = keep_runs.saturating_sub(protected);
    let excess = complete.len().saturating_sub(allowed);
    for name in complete.into_iter().take(excess) {
        let path = runs_dir.join(&name);
        std::fs::remove_dir_all(&path)
            .map_err(|e| Error::output(&path, format!("cannot remove old run: {e}")))?;
        removed.push(name);
    }
    Ok(removed)
}

/// SHA-256 of a file, hex (recorded in the manifest so a reader can check
/// a file is the one the run wrote).
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file =
        File::open(path).map_err(|e| Error::output(path, format!("cannot reopen: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)
            .map_err(|e| Error::output(path, format!("cannot read back: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The single-writer lock on an output directory, held for the whole run
/// and released when dropped (or when the process dies: the OS drops
/// `flock` locks with the process, so a killed run never leaves a stale
/// lock behind).
pub struct OutputLock {
    _file: File,
}

/// Takes the exclusive lock on `OUT/.lock`, or fails naming the holder.
pub fn lock_output(out_dir: &Path) -> Result<OutputLock> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::output(out_dir, format!("cannot create the output directory: {e}")))?;
    let path = out_dir.join(".lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::output(&path, format!("cannot open the lock file: {e}")))?;
    match file.try_lock() {
        Ok(()) => {
            let holder = format!(
                "pid {} started {}\n",
                std::process::id(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            // Best effort: the holder line is for the operator's message only.
            let _ = file.set_len(0);
            let _ = file.write_all(holder.as_bytes());
            let _ = file.sync_all();
            Ok(OutputLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(Error::Locked {
                path,
                holder: holder.trim().to_string(),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::output(&path, format!("cannot lock: {e}")))
        }
    }
}

/// Removes temporaries a killed run may have left in the output root.
pub fn sweep_temporaries(out_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(out_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".current.") && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
