//! The orders stage's output: every customer's orders and refunds, kept in
//! the customer partitions that built them. The partitions are ranges of
//! ids (`stages::customer_ranges`), each sorted by id, so one after
//! another they hold the customers in id order, with no merged copy (at
//! 100 M orders a copy took 2 GiB and 9 s) and no index (8 bytes a
//! customer) to tell where a customer is.

use rayon::prelude::*;

/// The history of the customers of one partition, in id order, in
/// contiguous vectors.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryPart {
    /// Customer ids in ascending order.
    pub customer_ids: CustomerIds,
    /// Customer `i` owns entries `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    /// Local business date (days since 1970-01-01) of each entry.
    pub day: Vec<i32>,
    /// Entry total in cents; negative for a refund.
    pub cents: Vec<i64>,
    /// Per configured dimension, each customer's value code (see
    /// [`CustomerDimension::customer`]).
    pub dimensions: Vec<Vec<u32>>,
}

impl HistoryPart {
    pub fn customers(&self) -> usize {
        self.customer_ids.len()
    }

    /// The entries of customer `i`: (days, cents).
    pub fn of(&self, i: usize) -> (&[i32], &[i64]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.day[range.clone()], &self.cents[range])
    }
}

/// Orders and refunds on or before as_of, grouped by customer. A
/// customer's code is their rank in id order; their entries are sorted by
/// date.
#[derive(Debug, Clone, Default)]
pub struct OrderHistory {
    /// In id order: every id of a part is below every id of the next.
    parts: Vec<HistoryPart>,
    /// The code of each part's first customer, and then the number of
    /// customers.
    starts: Vec<usize>,
    /// The last date counted (inclusive).
    pub as_of: i32,
    /// The configured dimensions (`[columns] dimensions`), each with every
    /// customer's value; empty without dimensions.
    pub dimensions: Vec<CustomerDimension>,
}

/// One dimension column and the value of each customer: the value on their
/// first order (see `build_orders`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerDimension {
    /// The column's name, which is also its column name in the sliced tables.
    pub name: String,
    /// The distinct values seen in the column, sorted (byte order).
    pub values: Vec<String>,
    /// Per customer (code order), the index of their value in `values`,
    /// or `NO_CODE` when the value is missing (null or blank).
    pub customer: Vec<u32>,
}

impl OrderHistory {
    /// The history of `parts`, one after another in id order (each sorted
    /// by id, every id below those of the next part); each dimension
    /// (name, values) gets its customers' codes from the parts.
    pub fn of_parts(
        parts: Vec<HistoryPart>,
        as_of: i32,
        dimensions: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> OrderHistory {
        let mut last: Option<&str> = None;
        for part in parts.iter().filter(|p| p.customers() > 0) {
            // Out of order, every code and id lookup would be wrong.
            assert!(
                last < Some(part.customer_ids.get(0)),
                "customer partitions in id order"
            );
            last = Some(part.customer_ids.get(part.customers() - 1));
        }
        let mut starts = Vec::with_capacity(parts.len() + 1);
        starts.push(0);
        for part in &parts {
            starts.push(starts[starts.len() - 1] + part.customers());
        }
        let dimensions = dimensions
            .into_iter()
            .enumerate()
            .map(|(d, (name, values))| CustomerDimension {
                name,
                values,
                // An empty part may have no dimension columns at all.
                customer: parts
                    .iter()
                    .flat_map(|part| part.dimensions.get(d).map_or(&[][..], Vec::as_slice))
                    .copied()
                    .collect(),
            })
            .collect();
        OrderHistory {
            parts,
            starts,
            as_of,
            dimensions,
        }
    }

    pub fn customers(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The part customer `c` is in, and their place in it.
    fn locate(&self, c: usize) -> (&HistoryPart, usize) {
        // The last part starting at or before `c`: the empty parts that
        // start there too come before it.
        let p = self.starts[..self.parts.len()].partition_point(|&start| start <= c) - 1;
        (&self.parts[p], c - self.starts[p])
    }

    /// The entries of customer `c`: (days, cents).
    pub fn of(&self, c: usize) -> (&[i32], &[i64]) {
        let (part, i) = self.locate(c);
        part.of(i)
    }

    /// How many parts the customers are stored in.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// How many customers part `p` holds.
    pub fn customers_of_part(&self, p: usize) -> usize {
        self.starts[p + 1] - self.starts[p]
    }

    /// The entries (days, cents) of every customer of part `p`, in code
    /// order.
    pub fn entries_of_part(&self, p: usize) -> impl Iterator<Item = (&[i32], &[i64])> {
        let part = &self.parts[p];
        (0..part.customers()).map(move |i| part.of(i))
    }

    pub fn customer_id(&self, c: usize) -> &str {
        let (part, i) = self.locate(c);
        part.customer_ids.get(i)
    }

    /// The code of customer `id`, if they have an entry.
    pub fn code_of(&self, id: &str) -> Option<usize> {
        // Codes are in id order: the first whose id is not below `id`.
        let (mut below, mut at_or_above) = (0, self.customers());
        while below < at_or_above {
            let mid = below + (at_or_above - below) / 2;
            if self.customer_id(mid) < id {
                below = mid + 1;
            } else {
                at_or_above = mid;
            }
        }
        (below < self.customers() && self.customer_id(below) == id).then_some(below)
    }

    /// Every customer's entries (days, cents) in code order, read in
    /// parallel a part at a time (in order, with no lookup per customer);
    /// a `collect` keeps the code order.
    pub fn par_entries(&self) -> impl ParallelIterator<Item = (&[i32], &[i64])> {
        (0..self.parts.len())
            .into_par_iter()
            .flat_map_iter(|p| self.entries_of_part(p))
    }

    /// Every entry's cents, part by part (in code order).
    pub fn all_cents(&self) -> impl Iterator<Item = &[i64]> {
        self.parts.iter().map(|p| p.cents.as_slice())
    }

    /// The customer ids in code order; the entries are dropped first.
    pub fn into_customer_ids(mut self) -> CustomerIds {
        for part in &mut self.parts {
            (part.offsets, part.day, part.cents) = Default::default();
        }
        // Sized once: growing by doubling would hold up to twice the text.
        let bytes = self.parts.iter().map(|p| p.customer_ids.text.len()).sum();
        let mut ids = CustomerIds {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(self.customers()),
        };
        for part in &mut self.parts {
            ids.append(std::mem::take(&mut part.customer_ids));
        }
        ids
    }

    /// A history for stage tests, from plain (customer id, day, cents)
    /// entries in any order: customers in ascending id order, each one's
    /// entries by date (entries of one day keep their order); no
    /// dimensions (set `dimensions` on the result when a test needs them).
    #[cfg(any(test, feature = "failpoints"))]
    pub fn from_rows(as_of: i32, rows: &[(&str, i32, i64)]) -> OrderHistory {
        OrderHistory::of_parts(vec![HistoryPart::from_rows(rows)], as_of, [])
    }
}

/// Customer ids in code order, in one buffer: a `String` each took 24
/// bytes and an allocation more (0.5 GiB at 19 M customers).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerIds {
    text: String,
    /// Where each id ends in `text` (and the next begins).
    ends: Vec<usize>,
}

impl CustomerIds {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id of customer `c`.
    pub fn get(&self, c: usize) -> &str {
        let start = if c == 0 { 0 } else { self.ends[c - 1] };
        &self.text[start..self.ends[c]]
    }

    /// The ids of the customers in `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Vec<&str> {
        range.map(|c| self.get(c)).collect()
    }

    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// Appends the ids of `other` after these.
    fn append(&mut self, other: CustomerIds) {
        let shift = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|end| end + shift));
    }
}

#[cfg(any(test, feature = "failpoints"))]
impl HistoryPart {
    /// A part from plain (customer id, day, cents) entries, as
    /// [`OrderHistory::from_rows`]; no dimensions.
    pub fn from_rows(rows: &[(&str, i32, i64)]) -> HistoryPart {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|&(customer, day, _)| (customer, day));
        let mut part = HistoryPart::default();
        for (i, &(customer, day, cents)) in rows.iter().enumerate() {
            if i == 0 || rows[i - 1].0 != customer {
                part.customer_ids.push(customer);
                part.offsets.push(i);
            }
            part.day.push(day);
            part.cents.push(cents);
        }
        part.offsets.push(rows.len());
        part
    }
}

/// Two histories are equal when they have the same customers with the same
/// entries, as_of and dimensions, however they are split into parts.
impl PartialEq for OrderHistory {
    fn eq(&self, other: &OrderHistory) -> bool {
        self.as_of == other.as_of
            && self.dimensions == other.dimensions
            && self.customers() == other.customers()
            && (0..self.customers())
                .all(|c| self.customer_id(c) == other.customer_id(c) && self.of(c) == other.of(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Customers spread over two parts in id order, with empty parts
    /// before, between and after them.
    fn split() -> OrderHistory {
        let a = HistoryPart::from_rows(&[("a", 4, 40), ("b", 1, 10)]);
        let b = HistoryPart::from_rows(&[("c", 5, 50), ("d", 2, 20), ("d", 3, 30)]);
        let empty = HistoryPart::default;
        OrderHistory::of_parts(vec![empty(), a, empty(), b, empty()], 9, [])
    }

    #[test]
    fn customers_are_found_in_their_parts() {
        let h = split();
        let ids: Vec<&str> = (0..4).map(|c| h.customer_id(c)).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(h.of(3), (&[2, 3][..], &[20, 30][..]));
        for (c, id) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(h.code_of(id), Some(c));
        }
        for absent in ["", "bb", "e"] {
            assert_eq!(h.code_of(absent), None);
        }
        let ids = h.clone().into_customer_ids();
        assert_eq!(ids.slice(0..4), ["a", "b", "c", "d"]);
        assert_eq!((ids.len(), ids.get(3), ids.slice(1..1).len()), (4, "d", 0));
        let stored: Vec<_> = (0..h.part_count())
            .flat_map(|p| h.entries_of_part(p))
            .collect();
        assert_eq!(
            stored,
            [
                (&[4][..], &[40][..]),
                (&[1][..], &[10][..]),
                (&[5][..], &[50][..]),
                (&[2, 3][..], &[20, 30][..]),
            ]
        );
        let one = OrderHistory::from_rows(
            9,
            &[
                ("d", 3, 30),
                ("a", 4, 40),
                ("b", 1, 10),
                ("c", 5, 50),
                ("d", 2, 20),
            ],
        );
        assert_eq!(h, one);
    }

    #[test]
    #[should_panic(expected = "customer partitions in id order")]
    fn parts_out_of_id_order_are_refused() {
        let a = HistoryPart::from_rows(&[("a", 4, 40), ("c", 1, 10)]);
        let b = HistoryPart::from_rows(&[("b", 5, 50)]);
        OrderHistory::of_parts(vec![a, b], 9, []);
    }
}
