//! Every published table, declared once: its name, grain, key, row order,
//! when it is written and its columns with their types and a line of
//! documentation ([`schema`]); every column name, written once ([`col`]);
//! and the frame builders that turn the stages' typed results into the
//! published frames ([`builder`], [`values`] for amounts and ratios).
//!
//! `tables` depends on `stages`, never the reverse: stages produce typed
//! structs, the builders here turn them into frames. Every frame a run
//! publishes is checked against its declaration before it is written
//! ([`check_published`]), so the schema version changes only when a
//! declaration does.

pub mod builder;
pub mod checks;
pub mod clv;
pub mod cohorts;
pub mod col;
pub mod customers;
pub mod dimensions;
pub mod kpis;
pub mod nps;
pub mod rejects;
pub mod schema;
pub mod targets;
pub mod tiers;
pub mod values;

use polars::prelude::DataFrame;

pub use schema::{Kind, Options, TableSchema, Written};

/// Frames under their tables' names, in publishing order.
pub type NamedFrames = Vec<(&'static str, DataFrame)>;

/// Every published table, in publishing order.
pub static ALL: [&TableSchema; 19] = [
    &customers::CUSTOMERS,
    &cohorts::COHORT_RETENTION,
    &cohorts::RETENTION_CURVE,
    &kpis::KPIS_MONTHLY,
    &customers::SEGMENTS,
    &tiers::TIER_MIGRATION,
    &clv::CLV_MODEL,
    &clv::CLV_VALIDATION,
    &clv::CLV_FORECAST,
    &targets::WIN_BACK,
    &targets::AT_RISK_HIGH_VALUE,
    &targets::REENGAGE_NEW,
    &targets::VIP,
    &nps::NPS_MONTHLY,
    &nps::NPS_BY_COHORT,
    &nps::NPS_BY_TIER,
    &nps::NPS_RETENTION,
    &rejects::REJECTS,
    &checks::CHECKS,
];

/// The declaration of the table named `name`.
pub fn schema_of(name: &str) -> Option<&'static TableSchema> {
    ALL.iter().copied().find(|t| t.name == name)
}

/// Checks that a run publishes exactly the tables its options call for,
/// in order, each matching its declaration; the first difference
/// otherwise (a programming error: the run stops before writing).
pub fn check_published<'a>(
    published: impl IntoIterator<Item = (&'a str, &'a DataFrame)>,
    options: &Options,
) -> Result<(), String> {
    let expected: Vec<&str> = ALL
        .iter()
        .filter(|t| t.written.applies(options))
        .map(|t| t.name)
        .collect();
    let mut names = Vec::new();
    for (name, frame) in published {
        let schema = schema_of(name).ok_or_else(|| format!("table `{name}` is not declared"))?;
        schema.conforms(frame, options)?;
        names.push(name);
    }
    if names != expected {
        return Err(format!(
            "the run publishes {names:?}, the declarations call for {expected:?}"
        ));
    }
    Ok(())
}
