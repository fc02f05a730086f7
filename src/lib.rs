//! `retention`: customer-retention analytics for e-commerce order histories.
//!
//! # Reading the code, from `main.rs` to publish
//!
//! ```text
//! main.rs            parse the command line (cli), set up logging, run the
//!                    command, map errors to exit codes (0, 1, 2)
//! cli                the command line (the only module that knows clap)
//! commands::{run, validate, report, generate}
//!                    one module per subcommand, each a `run` function that
//!                    calls the library and prints the result
//! config             the pipeline file (pipelines/*.toml): what to read and
//!                    how to interpret it; `Pipeline::load` runs one check_*
//!                    per concern and reports every problem, naming its key
//! config_overrides   `--set KEY=VALUE` and `${VAR}` in path keys, applied
//!                    to the parsed file before config types it
//! run                one run as a list of stages, each timed by
//!                    `StageClock::time` (the manifest's `stages`):
//!                    `compute` (every stage, no file written), then
//!                    `publish` (below)
//! ```
//!
//! Data flows one way through `run`: `io` reads, `stages` compute typed
//! results in memory (no stage touches a file or imports `io`), `tables`
//! turns them into the published frames, `io::publish` writes them.
//! `tables::schema` is the leaf they all refer to for table and column
//! names.
//!
//! ```text
//! io::input          the order input: files (CSV, CSV.gz, Parquet, globs) →
//!                    raw frames in chunks (stages::raw: RawBatch, the
//!                    `__row` column), through io::csv and io::parquet;
//!                    one InputSpec for orders and surveys; also the raw
//!                    records of rejected rows
//! io::surveys        the survey input, read the same way
//! stages::validate   raw rows → typed lines (cents, local dates) | rejects
//!                    (stages::rejects: the reasons), split by key hash
//!                    into partitions (stages::partition)
//! stages::orders     lines → orders & refunds per customer (OrderHistory):
//!                    line partitions (by order id) → orders → customer
//!                    partitions → histories, indexed in id order; pieces
//!                    over the memory budget go to io::spill files
//! stages::calendar   the run's months (and cohort weeks or quarters)
//! stages::customers  per customer: BTYD summary, RFM scores
//! stages::cohorts    the cohort grid
//! stages::kpis       the monthly counts
//! stages::dimensions the cohort grid and counts per `[columns] dimensions`
//!                    slice
//! stages::clv        purchase models + Gamma-Gamma fits, holdout, choice,
//!                    predictions and their intervals (the maths in clv/),
//!                    per-customer scores (stages::clv_scores)
//! stages::segments   RFM segments
//! stages::tiers      trailing 12-month spend, tiers, tier migration
//! stages::targets    the target lists' members
//! stages::nps        survey responses → NPS by month, cohort, tier
//! stages::checks     reconciliation (fails the run on a mismatch)
//! tables::schema     every published table declared once (name, grain,
//!                    key, order, when written, typed columns with their
//!                    docs), one file per table family; schema::col: every
//!                    column name; schema::values: money and ratios. Every
//!                    frame is checked against its declaration before
//!                    publishing (schema::check_published)
//! tables             the frame builders, one file per table family
//!                    (customers, cohorts, kpis, dimensions, clv, tiers,
//!                    targets, nps, rejects, checks) on tables::builder
//! manifest           the run manifest (`_manifest.json`) and the metadata
//!                    every published Parquet file carries
//! io::publish        the publish protocol, in types: StagedRun (new run
//!                    directory) → write_tables (Parquet, each verified) →
//!                    report.html (report/) → seal (manifest last) →
//!                    commit (flip OUT/current, then OUT/current.json and
//!                    OUT/views.sql: io::views) → PublishedRun (clean up)
//! io::runs           a published run read back: its manifest (the next
//!                    run's key check) and its tables (`retention report`)
//! io::remote         object storage (`location`: which paths are URLs):
//!                    inputs fetched to a work directory; an output's
//!                    lease, then the run published locally, uploaded,
//!                    read back, and made current by one conditional put
//!                    of OUT/current.json
//! ```
//!
//! Beside the flow: `report` (the HTML report and `retention show`, from a
//! run's tables: report::load), `generate` (`retention generate`: a
//! synthetic history with known ground truth), `expr` (the `amount`
//! expression, exact in decimal), `time` (days, months, time zones),
//! `error` (the error type; every message names where), `progress`
//! (progress bars on a terminal), `faults` (crash and I/O-error points for
//! the tests, with the `failpoints` feature).
//!
//! Money is integer cents inside the pipeline, so every sum is exact and the
//! same whatever the thread count; it becomes DOUBLE only when published
//! (tables::schema::values: money, ratio).

pub mod allocator;
pub mod cli;
pub mod clv;
pub mod commands;
pub mod config;
pub mod config_overrides;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod error;
pub mod expr;
pub mod faults;
pub mod generate;
pub mod io;
pub mod location;
pub mod manifest;
pub mod progress;
pub mod report;
pub mod run;
pub mod stages;
pub mod tables;
pub mod time;
