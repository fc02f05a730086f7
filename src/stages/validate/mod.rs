//! Validate: raw rows → typed order lines, or a reject with its reason.
//!
//! Input: raw batches (`stages::raw::RawBatch`, read by `io::input`;
//! source columns in their own types).
//! Output: [`Lines`], one entry per row read, with its status (accepted so
//! far, rejected, excluded by a filter), the customer id, order key, the
//! timestamp placed in the business time zone and the amount in integer
//! cents. Rows are checked in parallel slices; the output keeps input order.

//!
//! The parts: `collector` takes the raw batches in input order and codes
//! the key columns (customer and order ids by `sharded`, on every core;
//! dimensions by one `interner` each, stored as [`CodeVec`]s); `row` checks a
//! batch's rows in parallel slices; `columns` prepares a raw column
//! (timestamp, number, text) for row access.

mod codes;
mod collector;
mod columns;
mod interner;
mod row;
mod sharded;

pub use codes::CodeVec;
pub use collector::LineCollector;
pub use columns::{NumberColumn, TsColumn};

/// Code of a missing key.
pub const NO_CODE: u32 = u32::MAX;

/// What became of a row so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    Valid,
    Rejected,
    Filtered,
}

/// Every row read, typed. Vectors are parallel; entry `i` is one row, in
/// file order and, within a file, in row order (so a line's file and row
/// follow from its index: [`Lines::source`]).
#[derive(Debug, Default)]
pub struct Lines {
    /// Index of the first line of each file read.
    pub file_starts: Vec<usize>,
    pub status: Vec<LineStatus>,
    /// Dense code of the trimmed customer id (its rank among the distinct
    /// ids, so code order is id order); [`NO_CODE`] when missing.
    pub customer: Vec<u32>,
    /// Dense code of the order id; empty without an order-id mapping
    /// (every row its own order).
    pub order: Vec<u32>,
    /// The distinct customer ids, sorted: `customer_values[code]`.
    pub customer_values: Vec<String>,
    pub ts_micros: Vec<i64>,
    pub day: Vec<i32>,
    pub cents: Vec<i64>,
    /// Hash of the row's whole content; empty without an order id.
    pub line_hash: Vec<u64>,
    /// The configured dimension columns (`[columns] dimensions`), in order.
    pub dimension_names: Vec<String>,
    /// Per dimension, the code of each line's trimmed value (its rank among
    /// the dimension's distinct values after [`LineCollector::finish`], so
    /// code order is value order); [`NO_CODE`] when null or blank. Empty
    /// without dimensions: no memory per line then.
    pub dimensions: Vec<CodeVec>,
    /// Per dimension, its distinct values, sorted: `dimension_values[d][code]`.
    pub dimension_values: Vec<Vec<String>>,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    /// The file index and 1-based data row of line `i`.
    pub fn source(&self, i: usize) -> (u32, u32) {
        line_source(&self.file_starts, i)
    }

    fn append(&mut self, mut other: Lines) {
        self.status.append(&mut other.status);
        self.ts_micros.append(&mut other.ts_micros);
        self.day.append(&mut other.day);
        self.cents.append(&mut other.cents);
    }

    fn reserve(&mut self, rows: usize, hashed: bool) {
        self.status.reserve_exact(rows);
        self.customer.reserve_exact(rows);
        if hashed {
            self.order.reserve_exact(rows);
            self.line_hash.reserve_exact(rows);
        }
        self.ts_micros.reserve_exact(rows);
        self.day.reserve_exact(rows);
        self.cents.reserve_exact(rows);
    }
}

/// The file index and 1-based data row of line `i`, given the index of
/// the first line of each file ([`Lines::file_starts`]).
pub fn line_source(file_starts: &[usize], i: usize) -> (u32, u32) {
    let file = file_starts.partition_point(|&start| start <= i) - 1;
    (file as u32, (i - file_starts[file] + 1) as u32)
}

impl Lines {
    fn push_invalid(&mut self, status: LineStatus) {
        self.status.push(status);
        self.ts_micros.push(0);
        self.day.push(0);
        self.cents.push(0);
    }
}
