//! Every published table: declared once in [`schema`] (a leaf: names,
//! types, docs), and built here from the stages' typed results, one module
//! per table family, each frame checked against its declaration as it is
//! built ([`builder::FrameBuilder`]).
//!
//! The builders depend on `stages`, never the reverse: stages produce
//! typed structs and refer only to `tables::schema` (names in check
//! labels, how a ratio is published), never to a builder.

pub mod builder;
pub mod checks;
pub mod clv;
pub mod cohorts;
pub mod compare;
pub mod customers;
pub mod dimensions;
pub mod kpis;
pub mod nps;
pub mod rejects;
pub mod schema;
pub mod targets;
pub mod tiers;

use polars::prelude::DataFrame;

/// Frames under their tables' names, in publishing order.
pub type NamedFrames = Vec<(&'static str, DataFrame)>;
