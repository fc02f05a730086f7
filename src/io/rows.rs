//! What the readers ([`crate::io::csv`], [`crate::io::parquet`],
//! [`crate::io::input`]) share about raw frames: the row-number column and
//! a raw value as text, defined with the other raw-input types in
//! [`crate::stages::raw`] (pure data the stages take in) and re-exported
//! here for the readers.

pub use crate::stages::raw::{text_of, ROW_COLUMN};
