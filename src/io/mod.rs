//! Files in and out: reading inputs ([`input`], in chunks through the
//! readers in [`csv`] and [`parquet`], and the optional survey input
//! through the same readers in [`surveys`]; [`rows`] holds what raw frames
//! share: the row-number column and a raw value as text) and publishing
//! outputs ([`publish`]). Nothing else in the crate touches the file system.

pub mod csv;
pub mod input;
pub mod parquet;
pub mod publish;
pub mod rows;
pub mod surveys;
