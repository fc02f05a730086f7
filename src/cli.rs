//! The command line (the only module that knows clap). Flags describe how a
//! run executes; what data to read lives in the pipeline file.

use crate::config_overrides::Override;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::clv::PurchaseModelKind;
use crate::config::parse_memory_limit;

#[derive(Debug, Parser)]
#[command(
    name = "retention",
    version,
    about = "Customer-retention analytics for e-commerce order histories",
    long_about = "Loads an order history (CSV or Parquet), builds acquisition cohorts (monthly, \
weekly or quarterly), retention curves and retention KPIs, and publishes them as Parquet tables \
that BI tools read directly.\n\nStart with:  retention run pipelines/sample.toml",
    after_help = "Exit codes: 0 success, 1 run failed (nothing published), 2 bad usage or invalid pipeline."
)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// `run --engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineName {
    Embedded,
    Ballista,
}

/// `retention cluster`'s processes.
#[derive(Debug, Subcommand)]
pub enum ClusterRole {
    /// The scheduler: plans jobs and hands their tasks to executors.
    Scheduler {
        /// The address to listen on, HOST:PORT (port 0: any free port,
        /// printed at start).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
        bind: String,
    },
    /// An executor: polls the scheduler for tasks and runs them. It
    /// listens on one port, --bind's (Arrow Flight: shuffle data and
    /// results), and needs no other.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// The address to listen on, HOST:PORT; other processes reach the
        /// executor at this address, so it must not be a wildcard.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
        bind: String,
        /// Where shuffle files go (default: a directory named after the
        /// port in the system's temporary directory).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// Tasks run at once (default: every core).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        concurrency: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every stage of a pipeline and publish its tables.
    ///
    /// Tables are written to OUT/runs/RUN_ID/ and published by pointing
    /// OUT/current at that directory once every file is written and verified.
    Run(RunArgs),
    /// Run a process of a Ballista cluster for `run --engine ballista`
    /// (a build with the `distributed` feature). Input files and the
    /// output directory must be at the same paths on every process.
    Cluster {
        #[command(subcommand)]
        role: ClusterRole,
    },
    /// Check a pipeline file and its input files without writing anything.
    Validate {
        /// The pipeline file.
        pipeline: PathBuf,
        /// Set a pipeline key, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Override>,
    },
    /// Rebuild the HTML report of the latest run (OUT/current) or of a run
    /// directory (OUT/runs/RUN_ID).
    Report {
        /// Output root (uses OUT/current) or a run directory; default `out`,
        /// the default `[output] dir`.
        #[arg(default_value = "out")]
        out: PathBuf,
    },
    /// Print the latest run's headline: KPIs, retention curve, segments.
    Show {
        /// Output root (uses OUT/current) or a run directory; default `out`,
        /// the default `[output] dir`.
        #[arg(default_value = "out")]
        out: PathBuf,
    },
    /// Compare two published runs: what a run compares with the previous
    /// one (definitions, rows, totals, inputs, CLV parameters, restated
    /// values), between any two.
    Diff {
        /// The earlier run: a run id, a run directory, an output directory
        /// (its current run), `current` or `previous` (the run the current
        /// one was compared with).
        previous: String,
        /// The later run, named the same ways.
        current: String,
        /// The output directory run ids, `current` and `previous` are
        /// looked up in; default `out`, the default `[output] dir`.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// Print the comparison as JSON (schema: docs/diff.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic order history with known ground truth.
    ///
    /// Customers buy by a BG/NBD process (or `--model`'s) and spend by
    /// Gamma-Gamma; the parameters are written beside the data as
    /// PATH.truth.json.
    Generate(GenerateArgs),
}

/// `retention run`'s flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file, e.g. pipelines/sample.toml.
    pub pipeline: PathBuf,
    /// Compute as of this date (YYYY-MM-DD, inclusive, 1900-01-01 to
    /// 2200-12-31). Default: the pipeline's as_of, else the latest order
    /// date in the input.
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    pub as_of: Option<NaiveDate>,
    /// Output root, instead of the pipeline's [output] dir.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads, 1 to 1024 (default: all cores).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Run and publish even if the current run used the same pipeline,
    /// inputs and as_of.
    #[arg(long)]
    pub force: bool,
    /// Publish even when a `fail` gate fires (the comparison with the
    /// previous run, `[gates]`); the manifest and the `gates` table
    /// record that it did. Without it such a run publishes nothing and
    /// exits with code 3.
    #[arg(long)]
    pub accept_changes: bool,
    /// Memory budget, e.g. 1GiB or 512MiB (at least 256MiB): order
    /// lines and orders that do not fit are spilled to a temporary
    /// directory in the output directory. Overrides `[resources]
    /// memory_limit`; default half the machine's memory. The tables
    /// are the same whatever the budget.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<u64>,
    /// Partitions the work is split into by customer and order id
    /// (1 to 4096; default from the input's size and the memory
    /// budget). The tables are the same for any count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub partitions: Option<u32>,
    /// Print each stage's wall time and peak memory to stderr at the end.
    #[arg(long)]
    pub timings: bool,
    /// Where the partitioned work runs: `embedded` (this process, the
    /// default) or `ballista` (an Apache DataFusion Ballista cluster
    /// of `retention cluster` processes: the orders stage runs on its
    /// executors; needs a build with the `distributed` feature). The
    /// tables are the same on either.
    #[arg(long, value_enum, default_value_t = EngineName::Embedded)]
    pub engine: EngineName,
    /// The cluster's scheduler, HOST:PORT, with `--engine ballista`;
    /// without it a scheduler and an executor start in this process.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: Option<String>,
    /// Set a pipeline key for this run, e.g. --set clv.model=auto or
    /// --set input.path=/data/orders.csv (repeatable; VALUE is a TOML
    /// value, else text). Paths may also use ${VAR} and ${VAR:-default}.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<Override>,
}

/// `retention generate`'s flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of customers (1 to 1,000,000,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_GENERATED_CUSTOMERS))]
    pub customers: u64,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First day of the first acquisition month (1900-01-01 to
    /// 2200-12-31; the history must end by 2200-12-31).
    #[arg(long, value_name = "DATE", default_value = "2021-01-01", value_parser = parse_start)]
    pub start: NaiveDate,
    /// Months of history (1 to 1200).
    #[arg(long, default_value_t = 36, value_parser = clap::value_parser!(u32).range(1..=1200))]
    pub months: u32,
    /// Output file: .csv or .parquet.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Also write NPS survey responses (customer_id, response_ts,
    /// score 0-10) to this file: .csv or .parquet.
    #[arg(long, value_name = "PATH")]
    pub surveys: Option<PathBuf>,
    /// Worker threads, 1 to 1024 (default: all cores).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Memory budget, e.g. 1GiB or 512MiB (at least 256MiB): a history
    /// whose lines do not fit in a quarter of it is simulated and written
    /// a time window at a time. Default half the machine's memory. The
    /// file is the same whatever the budget.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<u64>,
    /// The purchase model customers follow: bg_nbd (dropout after each
    /// repeat purchase), mbg_nbd (after every purchase) or pareto_nbd
    /// (at an exponential time).
    #[arg(long, value_name = "MODEL", default_value = "bg_nbd", value_parser = parse_model)]
    pub model: PurchaseModelKind,
}

/// `generate --model`: a purchase model's name.
fn parse_model(text: &str) -> Result<PurchaseModelKind, String> {
    PurchaseModelKind::ALL
        .into_iter()
        .find(|m| m.name() == text)
        .ok_or_else(|| format!("`{text}`: expected bg_nbd, mbg_nbd or pareto_nbd"))
}

/// The most customers `generate` writes.
pub const MAX_GENERATED_CUSTOMERS: u64 = 1_000_000_000;

/// The most worker threads (`--threads`).
pub const MAX_THREADS: usize = 1024;

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| format!("expected YYYY-MM-DD ({e})"))
}

/// `--as-of`: a date in the range of accepted order dates.
fn parse_as_of(text: &str) -> Result<NaiveDate, String> {
    let date = parse_date(text)?;
    let range = crate::config::as_of_range();
    match range.contains(&date) {
        true => Ok(date),
        false => Err(format!(
            "expected a date from {} to {} (the range of accepted order dates)",
            range.start(),
            range.end()
        )),
    }
}

/// `generate --start`: a date in the range of accepted order dates.
fn parse_start(text: &str) -> Result<NaiveDate, String> {
    parse_as_of(text)
}

/// `--threads`: 1 to [`MAX_THREADS`].
fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_THREADS}")),
    }
}
