//! Files in and out: reading inputs ([`input`]: an input spec, resolved to
//! files and read in chunks through the readers in [`csv`] and [`parquet`];
//! the optional survey input through the same code in [`surveys`]; the raw
//! records of rejects read again), handing the stages raw batches in memory
//! ([`crate::stages::raw`]),
//! and publishing outputs ([`publish`]). Nothing else in the crate touches
//! the file system.

pub mod csv;
pub mod input;
pub mod parquet;
pub mod publish;
pub mod surveys;
