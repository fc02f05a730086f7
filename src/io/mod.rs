//! Files in and out: reading inputs ([`input`]: an input spec, resolved to
//! files and read in chunks through the readers in [`csv`] and [`parquet`];
//! the optional survey input through the same code in [`surveys`]; the raw
//! records of rejects read again), handing the stages raw batches in memory
//! ([`crate::stages::raw`]),
//! publishing outputs ([`publish`], with the DuckDB views of the current
//! run in [`views`]; to object storage through [`remote`]) and reading a
//! published run back
//! ([`runs`]: for the report and the next run's key check); partitions
//! that do not fit the memory budget go to [`spill`] files, and the target
//! lists, when the per-customer results are spilled, to [`list_files`]
//! (the CLVs sorted for the lists' ranks to [`sorted_clvs`]). The stages
//! never touch the file system. Outside `io`, only the edges do: `config`
//! reads the pipeline file itself (io depends on config's types, so the
//! reverse would be a cycle), `generate` writes its synthetic files,
//! `commands::report` looks for the run directory it is given, and
//! `manifest` reads the process's peak memory from `/proc`.

pub mod atomic;
pub mod csv;
pub mod history;
pub mod input;
mod line_hash;
pub mod list_files;
pub mod parquet;
pub mod publish;
pub mod read_ahead;
pub mod remote;
pub mod runs;
pub mod sorted_clvs;
pub mod spill;
pub mod surveys;
mod value_digest;
pub mod views;
