//! `retention`: customer-retention analytics for e-commerce order histories.
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! io::input      files (CSV, CSV.gz, Parquet, globs) → raw frames
//! stages::validate   raw rows → typed lines (cents, local dates) | rejects
//! stages::orders     lines → orders & refunds per customer (OrderHistory)
//! stages::customers  → customers (BTYD summary, RFM)
//! stages::cohorts    → cohort_retention, retention_curve
//! stages::kpis       → kpis_monthly
//! stages::dimensions the three tables above sliced by `[columns] dimensions`
//! stages::clv        → CLV columns, clv_model, clv_validation, clv_forecast (math in clv/)
//! stages::segments   → segments
//! stages::tiers      → trailing_12m_spend, tier, tier_12m_ago, tier_migration
//! stages::targets    → win_back, at_risk_high_value, reengage_new, vip
//! stages::nps        surveys (io::surveys) → nps_monthly, nps_by_cohort, nps_retention
//! stages::checks     → reconciliation (fails the run on any mismatch)
//! io::publish        tables → Parquet in OUT/runs/RUN_ID, verified, report.html
//!                    (report/), manifest last, then OUT/current
//! ```
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
pub mod time;
