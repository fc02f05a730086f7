//! Survey rows that passed the row checks, waiting for their customers to
//! be looked up: their ids' text in one buffer rather than a `String` a
//! row, which cost an allocation to make, one to free and 24 bytes on top
//! of the text. With a `String` a row, sorting 19.8 M checked rows by id
//! and placing them in their partitions took 4.5 s of the checks' 11.7 s;
//! sorted on an id prefix beside each row's index, 3.1 s (one run each).

use rayon::prelude::*;

use crate::stages::nps::survey_part::Coded;
use crate::time::PlacedTimestamp;

/// One checked row, without its id: 24 bytes, where a
/// [`PlacedTimestamp`] field with its padding would make it 32.
#[derive(Debug, Clone, Copy)]
struct CheckedRow {
    utc_micros: i64,
    local_day: i32,
    file: u32,
    row: u32,
    score: u8,
}

impl CheckedRow {
    fn placed(&self) -> PlacedTimestamp {
        PlacedTimestamp {
            utc_micros: self.utc_micros,
            local_day: self.local_day,
        }
    }
}

/// Rows at most between lookups: [`CheckedRows::order_by_id`] numbers
/// them with `u32`s (a budget of terabytes would reach it, and each chunk
/// adds fewer rows than the margin).
pub const MAX_ROWS: usize = u32::MAX as usize;

/// Checked rows in the order they were added, each with its id.
#[derive(Debug, Default)]
pub struct CheckedRows {
    /// Every row's id, one after the other.
    text: String,
    /// Where each row's id ends in `text`.
    ends: Vec<usize>,
    rows: Vec<CheckedRow>,
}

/// A checked row with its id as text: a response whose id no customer
/// has, kept to be rejected with its id.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub file: u32,
    pub row: u32,
    pub id: String,
    pub placed: PlacedTimestamp,
    pub score: u8,
}

impl CheckedRows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes the rows hold, their text included.
    pub fn bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.rows.capacity() * std::mem::size_of::<CheckedRow>()
    }

    pub fn push(&mut self, (file, row): (u32, u32), id: &str, placed: PlacedTimestamp, score: u8) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
        self.rows.push(CheckedRow {
            utc_micros: placed.utc_micros,
            local_day: placed.local_day,
            file,
            row,
            score,
        });
    }

    /// Row `i`'s id.
    #[inline]
    pub fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The rows' indices ordered by id (equal ids in the order added): the
    /// order a lookup among the customers needs. Sorted on each id's first
    /// eight bytes and its length, held beside its index: two ids of at
    /// most eight bytes are then ordered without their text, and only
    /// longer ids with equal prefixes are compared whole.
    pub fn order_by_id(&self) -> Vec<u32> {
        assert!(self.len() <= MAX_ROWS, "checked rows beyond a u32 index");
        let mut keys: Vec<(u64, u32, u32)> = (0..self.len())
            .map(|i| {
                let id = self.id(i);
                let len = u32::try_from(id.len()).unwrap_or(u32::MAX);
                (id_prefix(id), len, i as u32)
            })
            .collect();
        keys.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| match a.1 <= 8 && b.1 <= 8 {
                    // Equal prefixes: the shorter id is the longer one
                    // without its last bytes (NULs), so comes first.
                    true => a.1.cmp(&b.1),
                    false => self.id(a.2 as usize).cmp(self.id(b.2 as usize)),
                })
                .then(a.2.cmp(&b.2))
        });
        keys.into_iter().map(|(_, _, i)| i).collect()
    }

    /// Row `i` as the response of customer `customer`.
    pub fn coded(&self, i: usize, customer: u32) -> Coded {
        let r = &self.rows[i];
        Coded {
            customer,
            file: r.file,
            row: r.row,
            placed: r.placed(),
            score: r.score,
        }
    }

    /// Row `i` with its id as text.
    pub fn candidate(&self, i: usize) -> Candidate {
        let r = &self.rows[i];
        Candidate {
            file: r.file,
            row: r.row,
            id: self.id(i).to_string(),
            placed: r.placed(),
            score: r.score,
        }
    }
}

/// The first eight bytes of `id`, zero-padded, as a number that orders as
/// the text does: when two prefixes differ, their ids differ in the same
/// direction (a shorter id's padding is never above the longer one's byte
/// there); equal prefixes leave the order to the whole text.
fn id_prefix(id: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = id.len().min(8);
    bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn placed(day: i32) -> PlacedTimestamp {
        PlacedTimestamp {
            utc_micros: day as i64 * 86_400_000_000,
            local_day: day,
        }
    }

    fn rows_of(ids: &[String]) -> CheckedRows {
        let mut rows = CheckedRows::default();
        for (i, id) in ids.iter().enumerate() {
            rows.push((0, i as u32 + 1), id, placed(i as i32), (i % 11) as u8);
        }
        rows
    }

    /// Ids of a few bytes from a small alphabet with NUL and bytes above
    /// ASCII, so equal prefixes, ids that are prefixes of others and
    /// padding-like bytes all occur.
    fn ids() -> impl Strategy<Value = Vec<String>> {
        let id = proptest::collection::vec(
            prop_oneof![Just('\0'), Just('A'), Just('B'), Just('é'), Just('z')],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>());
        proptest::collection::vec(id, 0..200)
    }

    proptest! {
        /// The order is the text's, equal ids in the order added: the
        /// same as a stable sort of the ids themselves.
        #[test]
        fn ordered_by_id_as_a_stable_sort_of_the_text(ids in ids()) {
            let rows = rows_of(&ids);
            let mut expected: Vec<u32> = (0..ids.len() as u32).collect();
            expected.sort_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
            prop_assert_eq!(rows.order_by_id(), expected);
        }

        /// Each row keeps its id and fields, however many ids are before it.
        #[test]
        fn rows_keep_their_ids_and_fields(first in ids(), second in ids()) {
            let mut rows = rows_of(&first);
            for (i, id) in second.iter().enumerate() {
                rows.push((0, i as u32 + 1), id, placed(i as i32), (i % 11) as u8);
            }
            let all: Vec<(&String, usize)> = first
                .iter()
                .enumerate()
                .chain(second.iter().enumerate())
                .map(|(i, id)| (id, i))
                .collect();
            prop_assert_eq!(rows.len(), all.len());
            for (i, (id, k)) in all.into_iter().enumerate() {
                let c = rows.candidate(i);
                prop_assert_eq!(rows.id(i), id.as_str());
                prop_assert_eq!(&c.id, id);
                prop_assert_eq!((c.row, c.score, c.placed), (k as u32 + 1, (k % 11) as u8, placed(k as i32)));
                let coded = rows.coded(i, 7);
                prop_assert_eq!((coded.customer, coded.row, coded.placed), (7, k as u32 + 1, placed(k as i32)));
            }
        }
    }

    #[test]
    fn a_row_takes_24_bytes() {
        assert_eq!(std::mem::size_of::<CheckedRow>(), 24);
    }

    #[test]
    fn prefixes_order_as_the_text_when_they_differ() {
        let ids = [
            "",
            "\0",
            "A",
            "A\0",
            "A\0B",
            "AB",
            "ABCDEFGH",
            "ABCDEFGHI",
            "ABCDEFGI",
            "é",
        ];
        for a in ids {
            for b in ids {
                if id_prefix(a) != id_prefix(b) {
                    assert_eq!(id_prefix(a).cmp(&id_prefix(b)), a.cmp(b), "{a:?} {b:?}");
                }
            }
        }
    }
}
