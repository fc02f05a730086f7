//! The frame builders: they turn the stages' typed results into the
//! published frames, one module per table family, each frame checked
//! against its declaration in [`crate::schema`] as it is built
//! ([`builder::FrameBuilder`]).
//!
//! `tables` depends on `stages` and `schema`, never the reverse: stages
//! produce typed structs and import nothing from here.

pub mod builder;
pub mod checks;
pub mod clv;
pub mod cohorts;
pub mod customers;
pub mod dimensions;
pub mod kpis;
pub mod nps;
pub mod rejects;
pub mod targets;
pub mod tiers;

use polars::prelude::DataFrame;

/// Frames under their tables' names, in publishing order.
pub type NamedFrames = Vec<(&'static str, DataFrame)>;
