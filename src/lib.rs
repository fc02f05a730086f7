//! `retention`: customer-retention analytics for e-commerce order histories.
//!
//! # Reading the code, from `main.rs` to publish
//!
//! ```text
//! main.rs            parse the command line (cli), set up logging, run the
//!                    command, map errors to exit codes (0, 1, 2)
//! cli                the command line (the only module that knows clap)
//! commands::{run, validate, report, generate}
//!                    one module per subcommand, each a `run` function
//! config             the pipeline file (pipelines/*.toml): what to read and
//!                    how to interpret it; every problem names its key
//! run                one run, stage by stage: `compute` (every stage, no
//!                    file written) then publish; times stages, builds the
//!                    manifest
//! ```
//!
//! Data flows one way through `run`, one module per stage:
//!
//! ```text
//! io::input          files (CSV, CSV.gz, Parquet, globs) → raw frames in
//!                    chunks, through io::csv and io::parquet; io::rows is
//!                    what raw frames share (the `__row` column, raw text)
//! stages::validate   raw rows → typed lines (cents, local dates) | rejects
//!                    (stages::rejects: reasons and the `rejects` table)
//! stages::orders     lines → orders & refunds per customer (OrderHistory)
//! stages::calendar   the run's months (and cohort weeks or quarters)
//! stages::customers  → customers (BTYD summary, RFM)
//! stages::cohorts    → cohort_retention, retention_curve
//! stages::kpis       → kpis_monthly
//! stages::dimensions the three tables above sliced by `[columns] dimensions`
//! stages::clv        → CLV columns (stages::clv_scores), clv_model,
//!                    clv_validation, clv_forecast (math in clv/)
//! stages::segments   → segments
//! stages::tiers      → trailing_12m_spend, tier, tier_12m_ago, tier_migration
//! stages::targets    → win_back, at_risk_high_value, reengage_new, vip
//! stages::nps        surveys (io::surveys) → nps_monthly, nps_by_cohort,
//!                    nps_by_tier, nps_retention
//! stages::checks     → checks (reconciliation; fails the run on a mismatch)
//! io::publish        tables → Parquet in OUT/runs/RUN_ID, verified, report.html
//!                    (report/), manifest last (manifest), then OUT/current
//! ```
//!
//! Beside the flow: `stages::columns` (how amounts and ratios are
//! published), `report` (the HTML report and `retention show`, from a
//! run's tables: report::load), `generate` (`retention generate`: a
//! synthetic history with known ground truth), `expr` (the `amount`
//! expression, exact in decimal), `time` (days, months, time zones),
//! `error` (the error type; every message names where), `progress`
//! (progress bars on a terminal), `faults` (crash and I/O-error points for
//! the tests, with the `failpoints` feature).
//!
//! Money is integer cents inside the pipeline, so every sum is exact and the
//! same whatever the thread count; it becomes DOUBLE only when published.

pub mod cli;
pub mod clv;
pub mod commands;
pub mod config;
pub mod error;
pub mod expr;
pub mod faults;
pub mod generate;
pub mod io;
pub mod manifest;
pub mod progress;
pub mod report;
pub mod run;
pub mod stages;
pub mod tables;
pub mod time;
