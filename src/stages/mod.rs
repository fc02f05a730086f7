//! The pipeline's stages, in the order data flows through them:
//! validate → orders → customers → cohorts → kpis → dimensions (the cohort
//! and KPI tables sliced by `[columns] dimensions`) → clv → tiers → nps →
//! segments → targets → checks → compare (the run against the previous
//! one, whose tables `run` reads through `io`).
//! Each stage is a function from the previous stage's output to its own,
//! in memory: the raw input comes in as [`raw`] batches read by
//! `io`, no stage touches the file system or imports `io`, and
//! every stage returns typed results (counts, per-customer columns, list
//! rows), which `tables` turns into the published frames. Stages
//! may refer to `tables::schema` (table names in check labels, how a ratio
//! is published) but never to `tables`.
//! [`clv_scores`] is shared rather than a stage (the CLV stage's
//! per-customer scores, read by the customers, segments and targets
//! tables), so no stage imports another just for it; so is
//! [`order_statistics`] (exact ranks and quantiles of values held in
//! parts, which the customer partitions' partials merge into).

pub mod calendar;
pub mod checks;
pub mod clv;
pub mod clv_scores;
pub mod cohorts;
pub mod compare;
pub mod customer_ranges;
pub mod customers;
pub mod dimensions;
pub mod finish;
pub mod kpis;
pub mod nps;
pub mod order_statistics;
pub mod orders;
pub mod part_counts;
pub mod part_store;
pub mod partition;
pub mod per_customer;
pub mod raw;
pub mod rejects;
pub mod segments;
pub mod targets;
pub mod tiers;
pub mod validate;
