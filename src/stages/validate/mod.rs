//! Validate: raw rows → typed order lines, or a reject with its reason.
//!
//! Input: raw batches (`stages::raw::RawBatch`, read by `io::input`;
//! source columns in their own types).
//! Output: [`Lines`], one entry per row read, with its status (accepted so
//! far, rejected, excluded by a filter), the customer id, order key, the
//! timestamp placed in the business time zone and the amount in integer
//! cents. Rows are checked in parallel slices; the output keeps input order.

//!
//! The parts: `scatter` takes the raw batches in input order, has `row`
//! check their rows in parallel slices, codes the dimension columns (one
//! `interner` each) and splits the lines by key hash into the partitions
//! of `stages::partition`, keys as text; `units` merges the keys of
//! input units scattered apart (a cluster's read tasks); `columns` prepares a raw column
//! (timestamp, number, text) for row access. [`Lines`] is the typed form
//! of one partition's lines, keys coded (by the orders stage).

mod codes;
mod columns;
mod interner;
mod row;
mod scatter;
pub mod units;

pub use codes::CodeVec;
pub use columns::{NumberColumn, TsColumn};
pub use interner::{key_hash, Interner};
pub use scatter::{LineKeys, LineScatter};

/// Code of a missing key.
pub const NO_CODE: u32 = u32::MAX;

/// `value` without leading and trailing whitespace, as [`str::trim`]: a
/// key value is trimmed several times a line (its check, its hash, its
/// copy), and `str::trim` decodes a character at each end through a
/// general pattern search, 5 % of a 100 M-order run's CPU time. A value
/// whose first and last bytes are ASCII other than whitespace (nearly
/// every id and dimension value) is returned as it is after two byte
/// reads; any other goes to `str::trim`.
#[inline]
pub fn trim_key(value: &str) -> &str {
    let kept = |b: &u8| b.is_ascii() && !matches!(b, b'\t'..=b'\r' | b' ');
    match value.as_bytes() {
        [first, .., last] if kept(first) && kept(last) => value,
        [only] if kept(only) => value,
        _ => value.trim(),
    }
}

/// What became of a row so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    Valid,
    Rejected,
    Filtered,
}

/// Rows read, typed. Vectors are parallel; entry `i` is one row, in file
/// order and, within a file, in row order. A batch's rows (from `row`), or
/// one partition's (the orders stage), whose input indices are in
/// `global` (so a line's file and row follow from its index:
/// [`Lines::source`]).
#[derive(Debug, Default)]
pub struct Lines {
    /// Index of the first line of each file read.
    pub file_starts: Vec<usize>,
    /// The input index of each line; empty when entry `i` is line `i`.
    pub global: Vec<u32>,
    pub status: Vec<LineStatus>,
    /// Code of the trimmed customer id (equal ids, equal codes);
    /// [`NO_CODE`] when missing.
    pub customer: Vec<u32>,
    /// Dense code of the order id, in order of first appearance; empty
    /// without an order-id mapping (every row its own order).
    pub order: Vec<u32>,
    pub ts_micros: Vec<i64>,
    pub day: Vec<i32>,
    pub cents: Vec<i64>,
    /// Hash of the row's whole content; empty without an order id.
    pub line_hash: Vec<u64>,
    /// Per dimension (`[columns] dimensions`, in order), the code of each
    /// line's trimmed value (its rank among the dimension's distinct
    /// values, so code order is value order: [`LineKeys`]); [`NO_CODE`]
    /// when null or blank. Empty without dimensions.
    pub dimensions: Vec<CodeVec>,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    /// The input index of entry `i`.
    pub fn global(&self, i: usize) -> u32 {
        match self.global.is_empty() {
            true => i as u32,
            false => self.global[i],
        }
    }

    /// The file index and 1-based data row of entry `i`.
    pub fn source(&self, i: usize) -> (u32, u32) {
        line_source(&self.file_starts, self.global(i) as usize)
    }

    fn append(&mut self, mut other: Lines) {
        self.status.append(&mut other.status);
        self.ts_micros.append(&mut other.ts_micros);
        self.day.append(&mut other.day);
        self.cents.append(&mut other.cents);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every character `str::trim` may keep or drop at an end: ASCII
    /// whitespace and its neighbours (0x1C–0x1F are not whitespace),
    /// Unicode whitespace of two and three bytes, and other multi-byte
    /// characters.
    fn edge_char() -> impl Strategy<Value = char> {
        prop::sample::select(vec![
            ' ', '\t', '\n', '\x0B', '\x0C', '\r', '\x1C', '\x1F', '\x08', '\x0E', '\0', 'a', 'Z',
            '0', '~', '\x7F', '\u{85}', '\u{A0}', '\u{2003}', '\u{3000}', '\u{FEFF}', 'é', '中',
            '😀',
        ])
    }

    proptest! {
        #[test]
        fn trim_key_is_str_trim(chars in prop::collection::vec(edge_char(), 0..6)) {
            let value: String = chars.into_iter().collect();
            prop_assert_eq!(trim_key(&value), value.trim());
        }
    }

    #[test]
    fn trim_key_keeps_plain_ids_and_trims_padded_ones() {
        assert_eq!(trim_key("C000123"), "C000123");
        assert_eq!(trim_key(" C000123\t"), "C000123");
        assert_eq!(trim_key("x"), "x");
        assert_eq!(trim_key(" "), "");
        assert_eq!(trim_key(""), "");
        assert_eq!(trim_key("\u{A0}id\u{3000}"), "id");
    }
}
