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
/// only those named; `None` when the run did not write it.
pub fn read_table(
    run_dir: &Path,
    name: &str,
    columns: Option<&[&str]>,
) -> Result<Option<DataFrame>> {
    let path = run_dir.join(format!("{name}.parquet"));
    if !path.is_file() {
        return Ok(None);
    }
    let file =
        std::fs::File::open(&path).map_err(|e| Error::input(&path, format!("cannot open: {e}")))?;
    ParquetReader::new(file)
        .with_columns(columns.map(|names| names.iter().map(|n| n.to_string()).collect()))
        .finish()
        .map(Some)
        .map_err(|e| Error::input(&path, format!("cannot read as Parquet: {e}")))
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
