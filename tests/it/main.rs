//! The one integration-test binary (each test binary links Polars again).
//! Tiers: hand-worked fixture, golden outputs from an independent DuckDB
//! implementation, properties on generated order sets, and black-box runs
//! of the real binary on real files.

mod chaos;
mod chunks;
mod cli;
mod cli_errors;
#[cfg(feature = "distributed")]
mod cluster;
mod clv;
mod compare;
mod dimensions;
mod golden;
mod handworked;
mod hardening_config;
mod hardening_input;
mod hardening_money;
mod hardening_publish;
mod history;
mod mutation;
mod nps;
mod partitions;
mod properties;
mod readers;
mod remote_storage;
mod report;
mod safety;
mod support;
mod tables;
mod tiers;
