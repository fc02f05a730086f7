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

/// A published table of the run `OUT/current` points at: the files of its
/// directory (`TABLE/part-NNNNN.parquet`) in order, each read with Polars'
/// Parquet reader (the files are written by the `parquet` crate, so this
/// is an independent reader).
pub fn read_table(out: &Path, table: &str) -> DataFrame {
    let dir = out.join("current").join(table);
    let mut parts: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    parts.sort();
    assert!(!parts.is_empty(), "no part in {}", dir.display());
    let mut frames = parts.iter().map(|path| {
        let file = std::fs::File::open(path).unwrap();
        ParquetReader::new(file).finish().expect("readable parquet")
    });
    let mut whole = frames.next().unwrap();
    for frame in frames {
        whole.vstack_mut(&frame).unwrap();
    }
    whole
}

/// A `retention generate` command line: `customers` customers over
/// `months` months from random seed `seed`, optionally from a start month
/// and with a survey file; [`Generate::write`] runs it.
pub struct Generate {
    customers: u32,
    seed: u32,
    months: u32,
    start: Option<String>,
    surveys: Option<String>,
}

impl Generate {
    pub fn new(customers: u32, seed: u32, months: u32) -> Generate {
        Generate {
            customers,
            seed,
            months,
            start: None,
            surveys: None,
        }
    }

    pub fn start(self, date: &str) -> Generate {
        let start = Some(date.to_string());
        Generate { start, ..self }
    }

    pub fn surveys(self, file: &str) -> Generate {
        let surveys = Some(file.to_string());
        Generate { surveys, ..self }
    }

    /// The arguments, `generate` first, the history written to `out`.
    pub fn args(&self, out: &str) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "generate".into(),
            "--customers".into(),
            self.customers.to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ];
        if let Some(start) = &self.start {
            args.extend(["--start".into(), start.clone()]);
        }
        args.extend(["--months".into(), self.months.to_string()]);
        args.extend(["--out".into(), out.to_string()]);
        if let Some(surveys) = &self.surveys {
            args.extend(["--surveys".into(), surveys.clone()]);
        }
        args
    }

    /// Writes the history to `dir/out`; fails the test, with the binary's
    /// stderr, if generating fails.
    pub fn write(&self, dir: &Path, out: &str) {
        let args = self.args(out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = retention(&args, dir);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
