//! The real binary, run in a work directory, and what it published.

use std::path::Path;
use std::process::{Command, Output};

use polars::prelude::*;

/// The `retention` binary built for these tests, not yet run.
pub fn retention_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_retention"))
}

/// Runs the binary with `args` in `cwd` and waits for it.
pub fn retention(args: &[&str], cwd: &Path) -> Output {
    retention_command()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A published table of the run `OUT/current` points at, read with
/// Polars' Parquet reader (the files are written by the `parquet` crate,
/// so this is an independent reader).
pub fn read_table(out: &Path, table: &str) -> DataFrame {
    let path = out.join("current").join(format!("{table}.parquet"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().expect("readable parquet")
}
