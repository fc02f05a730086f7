//! Reading a published run back: its manifest and its tables, for the
//! report (`retention report`, `retention show`) and for the run key
//! check of the next run.

use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, SerReader};

use crate::error::{Error, Result};
use crate::io::publish::{MANIFEST_FILE, ROW_GROUP_ROWS};
use crate::manifest::Manifest;
use crate::stages::compare::{RunFigures, RunTables};

/// A published run directory's manifest.
pub fn read_manifest(run_dir: &Path) -> Result<Manifest> {
    let path = run_dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::input(
            &path,
            format!("cannot read the manifest (is this a complete run directory?): {e}"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(&path, format!("the manifest does not parse: {e}")))
}

/// The manifest of the run `OUT/current` points at, if it reads.
pub fn current_manifest(out_dir: &Path) -> Option<Manifest> {
    read_manifest(&out_dir.join("current")).ok()
}

/// The table `name` of a published run directory, all of its columns or
/// only those named; `None` when the run did not write it. A table is the
/// files of its directory (`TABLE/part-NNNNN.parquet`) in order; runs
/// before schema version 7 wrote one `TABLE.parquet` beside the manifest.
pub fn read_table(
    run_dir: &Path,
    name: &str,
    columns: Option<&[&str]>,
) -> Result<Option<DataFrame>> {
    let files = table_files(run_dir, name)?;
    let mut frames = files.iter().map(|path| read_part(path, columns, None));
    let Some(first) = frames.next() else {
        return Ok(None);
    };
    let mut table = first?;
    for frame in frames {
        table
            .vstack_mut(&frame?)
            .map_err(|e| Error::input(run_dir.join(name), format!("parts do not stack: {e}")))?;
    }
    Ok(Some(table))
}

/// The files of table `name`, in part order.
fn table_files(run_dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let single = run_dir.join(format!("{name}.parquet"));
    if single.is_file() {
        return Ok(vec![single]);
    }
    let dir = run_dir.join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut parts: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::input(&dir, format!("cannot list: {e}")))?;
    parts.retain(|p| {
        let file = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        file.starts_with("part-") && file.ends_with(".parquet")
    });
    parts.sort();
    Ok(parts)
}

/// Calls `each` with the named columns of table `name` of a published run
/// directory, a row group's rows at a time in row order, so a table with a
/// row per customer is never read whole; `false` when the run did not
/// write the table.
pub fn each_chunk_of_table(
    run_dir: &Path,
    name: &str,
    columns: &[&str],
    each: &mut dyn FnMut(&DataFrame) -> Result<()>,
) -> Result<bool> {
    each_run_of_rows(run_dir, name, columns, ROW_GROUP_ROWS, each)
}

/// [`each_chunk_of_table`] with chunks of at most `chunk_rows` rows.
fn each_run_of_rows(
    run_dir: &Path,
    name: &str,
    columns: &[&str],
    chunk_rows: usize,
    each: &mut dyn FnMut(&DataFrame) -> Result<()>,
) -> Result<bool> {
    let files = table_files(run_dir, name)?;
    for path in &files {
        let rows = parquet_reader(path)?
            .num_rows()
            .map_err(|e| Error::input(path, format!("cannot read as Parquet: {e}")))?;
        // A file without rows is still read: its columns are checked.
        let mut offset = 0;
        loop {
            let length = chunk_rows.min(rows - offset);
            each(&read_part(path, Some(columns), Some((offset, length)))?)?;
            offset += length;
            if offset == rows {
                break;
            }
        }
    }
    Ok(!files.is_empty())
}

fn parquet_reader(path: &Path) -> Result<ParquetReader<std::fs::File>> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    Ok(ParquetReader::new(file))
}

/// The named columns (all without names) of one file's rows, or of the
/// rows `slice` (offset, length) only.
fn read_part(
    path: &Path,
    columns: Option<&[&str]>,
    slice: Option<(usize, usize)>,
) -> Result<DataFrame> {
    parquet_reader(path)?
        .with_columns(columns.map(|names| names.iter().map(|n| n.to_string()).collect()))
        .with_slice(slice)
        .finish()
        .map_err(|e| Error::input(path, format!("cannot read as Parquet: {e}")))
}

/// A published run directory, read for the comparison with a later run.
pub struct PublishedRunDir {
    pub dir: PathBuf,
    pub figures: RunFigures,
}

impl PublishedRunDir {
    /// The run in `dir`, by its manifest.
    pub fn open(dir: &Path) -> Result<PublishedRunDir> {
        let manifest = read_manifest(dir)?;
        Ok(PublishedRunDir {
            dir: dir.to_path_buf(),
            figures: manifest.figures(),
        })
    }
}

impl RunTables for PublishedRunDir {
    fn table(&self, name: &str, columns: &[&str]) -> Result<Option<DataFrame>> {
        read_table(&self.dir, name, Some(columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn write_part(dir: &Path, part: usize, values: &[i64]) {
        let mut frame =
            df!("n" => values, "text" => values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                .unwrap();
        let file = std::fs::File::create(dir.join(format!("part-{part:05}.parquet"))).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
    }

    /// A table's files read a few rows at a time give its rows in order,
    /// the named columns only, files without rows included; a table the
    /// run did not write is `false`.
    #[test]
    fn a_table_read_in_chunks_is_the_table_read_whole() {
        let run = tempfile::tempdir().unwrap();
        let table = run.path().join("t");
        std::fs::create_dir(&table).unwrap();
        write_part(&table, 0, &[1, 2, 3, 4, 5]);
        write_part(&table, 1, &[]);
        write_part(&table, 2, &[6, 7, 8]);
        let whole = read_table(run.path(), "t", Some(&["n"])).unwrap().unwrap();
        let mut chunks: Vec<usize> = Vec::new();
        let mut stacked = whole.clear();
        let mut each = |chunk: &DataFrame| {
            chunks.push(chunk.height());
            stacked.vstack_mut(chunk)?;
            Ok(())
        };
        assert!(each_run_of_rows(run.path(), "t", &["n"], 2, &mut each).unwrap());
        assert_eq!(chunks, [2, 2, 1, 0, 2, 1]);
        assert!(stacked.equals(&whole));
        assert_eq!(whole.width(), 1);
        let mut never = |_: &DataFrame| -> Result<()> { panic!("no such table") };
        assert!(!each_chunk_of_table(run.path(), "missing", &["n"], &mut never).unwrap());
    }
}
