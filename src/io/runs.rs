//! Reading a published run back: its manifest and its tables, for the
//! report (`retention report`, `retention show`) and for the run key
//! check of the next run.

use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, SerReader};

use crate::error::{Error, Result};
use crate::io::publish::MANIFEST_FILE;
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
    let mut frames = files.iter().map(|path| read_part(path, columns));
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

fn read_part(path: &Path, columns: Option<&[&str]>) -> Result<DataFrame> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    ParquetReader::new(file)
        .with_columns(columns.map(|names| names.iter().map(|n| n.to_string()).collect()))
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
