//! A coded survey row: what is kept of a checked row once its customer is
//! found among its partition's customers, while the rules that need all
//! of a customer's responses run on the partition.

use crate::time::PlacedTimestamp;

/// A checked response on or before as_of of a customer with orders,
/// known by their code (the id text, the raw row and the file's other
/// columns are not kept).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coded {
    pub customer: u32,
    pub file: u32,
    pub row: u32,
    pub placed: PlacedTimestamp,
    pub score: u8,
}

impl Coded {
    /// The order that puts exact duplicates (same customer, instant and
    /// score) next to each other, the first by (file, row) first.
    pub fn duplicate_order(&self) -> (u32, i64, u8, u32, u32) {
        let c = self;
        (c.customer, c.placed.utc_micros, c.score, c.file, c.row)
    }

    pub fn same_response(&self, other: &Coded) -> bool {
        (self.customer, self.placed.utc_micros, self.score)
            == (other.customer, other.placed.utc_micros, other.score)
    }
}
