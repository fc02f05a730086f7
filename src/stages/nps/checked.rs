//! Survey rows that passed the row checks, waiting for their customers to
//! be looked up in their partition: their ids' text in one buffer rather
//! than a `String` a row, which cost an allocation to make, one to free
//! and 24 bytes on top of the text. With a `String` a row, sorting 19.8 M
//! checked rows by id and placing them in their partitions took 4.5 s of
//! the checks' 11.7 s; sorted on an id prefix beside each row's index,
//! 3.1 s (one run each). The other fields are a column each (29 bytes a
//! row and the id), so a partition's rows spill as they are.

use rayon::prelude::*;

use crate::stages::nps::coded::Coded;
use crate::stages::partition::Part;
use crate::time::PlacedTimestamp;

/// Rows at most in one partition: [`CheckedRows::order_by_id`] numbers
/// them with `u32`s (a budget of terabytes would reach it).
pub const MAX_ROWS: usize = u32::MAX as usize;

/// A checked row with its id as text: a response whose id no customer
/// has, kept to be rejected with its id.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    pub file: u32,
    pub row: u32,
    pub id: String,
    pub placed: PlacedTimestamp,
    pub score: u8,
}

/// Checked rows in the order they were added, each with its id; the
/// rows of one customer partition once routed ([`CheckedRows::route`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CheckedRows {
    /// Every row's id, one after the other.
    pub(crate) text: String,
    /// Where each row's id ends in `text`.
    pub(crate) ends: Vec<u64>,
    pub(crate) utc_micros: Vec<i64>,
    pub(crate) local_day: Vec<i32>,
    pub(crate) file: Vec<u32>,
    pub(crate) row: Vec<u32>,
    pub(crate) score: Vec<u8>,
}

impl CheckedRows {
    /// Room for `rows` rows of `text` bytes of ids.
    fn with_capacity(rows: usize, text: usize) -> CheckedRows {
        CheckedRows {
            text: String::with_capacity(text),
            ends: Vec::with_capacity(rows),
            utc_micros: Vec::with_capacity(rows),
            local_day: Vec::with_capacity(rows),
            file: Vec::with_capacity(rows),
            row: Vec::with_capacity(rows),
            score: Vec::with_capacity(rows),
        }
    }

    pub fn len(&self) -> usize {
        self.score.len()
    }

    pub fn is_empty(&self) -> bool {
        self.score.is_empty()
    }

    pub fn push(&mut self, (file, row): (u32, u32), id: &str, placed: PlacedTimestamp, score: u8) {
        self.text.push_str(id);
        self.ends.push(self.text.len() as u64);
        self.utc_micros.push(placed.utc_micros);
        self.local_day.push(placed.local_day);
        self.file.push(file);
        self.row.push(row);
        self.score.push(score);
    }

    /// Row `i` of `from` added.
    fn push_row(&mut self, from: &CheckedRows, i: usize) {
        let placed = from.placed(i);
        self.push(
            (from.file[i], from.row[i]),
            from.id(i),
            placed,
            from.score[i],
        );
    }

    fn placed(&self, i: usize) -> PlacedTimestamp {
        PlacedTimestamp {
            utc_micros: self.utc_micros[i],
            local_day: self.local_day[i],
        }
    }

    /// Row `i`'s id.
    #[inline]
    pub fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The rows split into `partitions` pieces by `partition_of` their id,
    /// each piece in the order added and sized exactly: the pieces are
    /// held until every file is read, and vectors grown a row at a time
    /// would hold up to twice their rows.
    pub fn route(&self, partitions: usize, partition_of: impl Fn(&str) -> usize) -> Vec<Self> {
        let of_row: Vec<u32> = (0..self.len())
            .map(|i| partition_of(self.id(i)) as u32)
            .collect();
        let (mut rows, mut text) = (vec![0; partitions], vec![0; partitions]);
        for (i, &p) in of_row.iter().enumerate() {
            rows[p as usize] += 1;
            text[p as usize] += self.id(i).len();
        }
        let mut pieces: Vec<CheckedRows> = (rows.into_iter().zip(text))
            .map(|(rows, text)| CheckedRows::with_capacity(rows, text))
            .collect();
        for (i, &p) in of_row.iter().enumerate() {
            pieces[p as usize].push_row(self, i);
        }
        pieces
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
        Coded {
            customer,
            file: self.file[i],
            row: self.row[i],
            placed: self.placed(i),
            score: self.score[i],
        }
    }

    /// Row `i` with its id as text.
    pub fn candidate(&self, i: usize) -> Candidate {
        Candidate {
            file: self.file[i],
            row: self.row[i],
            id: self.id(i).to_string(),
            placed: self.placed(i),
            score: self.score[i],
        }
    }
}

impl Part for CheckedRows {
    fn concat(pieces: Vec<CheckedRows>) -> CheckedRows {
        let rows = pieces.iter().map(CheckedRows::len).sum();
        let text = pieces.iter().map(|p| p.text.len()).sum();
        let mut whole = CheckedRows::with_capacity(rows, text);
        for piece in pieces {
            let before = whole.text.len() as u64;
            whole.text.push_str(&piece.text);
            whole.ends.extend(piece.ends.iter().map(|end| before + end));
            whole.utc_micros.extend(piece.utc_micros);
            whole.local_day.extend(piece.local_day);
            whole.file.extend(piece.file);
            whole.row.extend(piece.row);
            whole.score.extend(piece.score);
        }
        whole
    }

    /// Bytes the rows hold, their text included.
    fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + 8 * (self.ends.capacity() + self.utc_micros.capacity())
            + 4 * (self.local_day.capacity() + self.file.capacity() + self.row.capacity())
            + self.score.capacity()
    }

    fn is_empty(&self) -> bool {
        self.score.is_empty()
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

    proptest! {
        /// Routed rows are the rows of each partition in the order added,
        /// and the pieces concatenated in partition order are the rows
        /// sorted (stably) by partition.
        #[test]
        fn routed_rows_keep_their_order_within_each_partition(ids in ids(), partitions in 1..6usize) {
            let rows = rows_of(&ids);
            let partition_of = |id: &str| id.len() % partitions;
            let pieces = rows.route(partitions, partition_of);
            prop_assert_eq!(pieces.len(), partitions);
            for (p, piece) in pieces.iter().enumerate() {
                prop_assert!(piece.heap_bytes() >= piece.len() * 29);
                let wanted: Vec<usize> = (0..ids.len()).filter(|&i| partition_of(&ids[i]) == p).collect();
                prop_assert_eq!(piece.len(), wanted.len());
                for (k, &i) in wanted.iter().enumerate() {
                    prop_assert_eq!(piece.id(k), ids[i].as_str());
                    prop_assert_eq!(piece.coded(k, 3), rows.coded(i, 3));
                }
            }
            let whole = CheckedRows::concat(pieces);
            let mut order: Vec<usize> = (0..ids.len()).collect();
            order.sort_by_key(|&i| partition_of(&ids[i]));
            let got: Vec<(&str, u32)> = (0..whole.len()).map(|k| (whole.id(k), whole.row[k])).collect();
            let expected: Vec<(&str, u32)> = order.iter().map(|&i| (ids[i].as_str(), rows.row[i])).collect();
            prop_assert_eq!(got, expected);
        }
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
