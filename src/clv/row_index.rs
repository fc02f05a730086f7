//! The index that finds a customer's unique (x, t_x, T) row: the fold's,
//! where a customer with a new triple adds a row, and a scorer's that
//! holds every row's figures.
//!
//! Short of memory its table holds row numbers alone, and a row's key is
//! read off where the rows are ([`RowKeys`]): about 6 bytes a row instead
//! of the 20 of a map from keys to rows, 100 MB less at 100 M orders' 7 M
//! rows, where the CLV stage's fold was a run's peak. A lookup then reads
//! the row's values beside the table, a second dependent cache miss. With
//! room, each slot holds the row's packed key beside its number
//! ([`RowSlots`]) and a lookup reads no row. hashbrown's `HashTable` is
//! the map with the keys left to its user.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hashbrown::HashTable;

/// What a [`RowIndex`]'s table holds of each row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum RowSlots {
    /// The row's number alone (a 4-byte slot and hashbrown's control
    /// byte, about 6 to 11 bytes a row); a lookup reads the row's key off
    /// the rows.
    #[default]
    Numbers,
    /// The row's packed key beside its number (a 12-byte slot and the
    /// control byte, about 15 to 30 bytes a row); a lookup reads no row.
    Keyed,
}

/// The row of every (x, t_x, T) folded: the lookups take the rows, whose
/// keys a [`RowSlots::Numbers`] table reads ([`RowKeys`]).
#[derive(Default, Clone)]
pub(crate) struct RowIndex {
    /// Rows whose key packs ([`packed`]): every real history's.
    packed: Table,
    /// Rows whose values do not pack, by their triple: none in a real
    /// history, so an ordered map does.
    wide: BTreeMap<(i64, i64, i64), u32>,
}

/// The packed rows' table, as [`RowSlots`] says.
#[derive(Clone)]
enum Table {
    Numbers(HashTable<u32>),
    Keyed(HashTable<KeyedSlot>),
}

impl Table {
    /// An empty table that holds `slots`.
    fn of(slots: RowSlots) -> Table {
        match slots {
            RowSlots::Numbers => Table::Numbers(HashTable::new()),
            RowSlots::Keyed => Table::Keyed(HashTable::new()),
        }
    }
}

impl Default for Table {
    fn default() -> Table {
        Table::of(RowSlots::default())
    }
}

/// A row's packed key and number in 12 bytes: a `(u64, u32)` pads to 16.
#[derive(Clone, Copy)]
struct KeyedSlot {
    key: [u32; 2],
    row: u32,
}

impl KeyedSlot {
    fn new(bits: u64, row: u32) -> KeyedSlot {
        KeyedSlot {
            key: [bits as u32, (bits >> 32) as u32],
            row,
        }
    }

    fn bits(&self) -> u64 {
        u64::from(self.key[0]) | (u64::from(self.key[1]) << 32)
    }
}

/// Where a [`RowIndex`] reads its rows' packed keys.
pub(crate) trait RowKeys: Sync {
    /// The packed key of `row` ([`packed`]), or [`NOT_PACKED`] for a row
    /// of the index's wide ones.
    fn packed_key(&self, row: u32) -> u64;
}

/// Never a packed key, which has 63 bits.
pub(crate) const NOT_PACKED: u64 = u64::MAX;

impl RowKeys for [u64] {
    fn packed_key(&self, row: u32) -> u64 {
        self[row as usize]
    }
}

/// The tables' hash of a row's key (a packed key here, a spend row's in
/// `compress::SpendIndex`): fixed seeds, as nothing depends on them (rows
/// are numbered in the order they come).
pub(crate) fn hash_of(key: impl std::hash::Hash) -> u64 {
    const HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
        0x726f_7773_2062_7920,
        0x6b65_7920_6f66_2074,
        0x6865_2066_6f6c_6420,
        0x2878_2c74_782c_5429,
    );
    HASHER.hash_one(key)
}

impl RowIndex {
    /// An empty index whose table holds `slots`.
    pub fn with_slots(slots: RowSlots) -> RowIndex {
        RowIndex {
            packed: Table::of(slots),
            wide: BTreeMap::new(),
        }
    }

    /// The row of a sanitized triple, `next` when it has none yet (the
    /// caller adds row `next` to `rows` then).
    pub fn row_or_insert<K: RowKeys + ?Sized>(
        &mut self,
        key: (i64, i64, i64),
        next: u32,
        rows: &K,
    ) -> u32 {
        let Some(bits) = packed(key) else {
            return *self.wide.entry(key).or_insert(next);
        };
        match &mut self.packed {
            Table::Numbers(table) => {
                let entry = table.entry(
                    hash_of(bits),
                    |&row| rows.packed_key(row) == bits,
                    |&row| hash_of(rows.packed_key(row)),
                );
                *entry.or_insert(next).get()
            }
            Table::Keyed(table) => {
                let entry = table.entry(
                    hash_of(bits),
                    |slot| slot.bits() == bits,
                    |slot| hash_of(slot.bits()),
                );
                entry.or_insert(KeyedSlot::new(bits, next)).get().row
            }
        }
    }

    /// The row of a sanitized triple, the rows' keys read off `rows`.
    pub fn row_of<K: RowKeys + ?Sized>(&self, key: (i64, i64, i64), rows: &K) -> Option<u32> {
        let Some(bits) = packed(key) else {
            return self.wide.get(&key).copied();
        };
        match &self.packed {
            Table::Numbers(table) => table
                .find(hash_of(bits), |&row| rows.packed_key(row) == bits)
                .copied(),
            Table::Keyed(table) => table
                .find(hash_of(bits), |slot| slot.bits() == bits)
                .map(|slot| slot.row),
        }
    }

    /// The rows whose values do not pack, with their triples.
    pub fn wide_rows(&self) -> impl Iterator<Item = ((i64, i64, i64), u32)> + '_ {
        self.wide.iter().map(|(&key, &row)| (key, row))
    }

    /// Whether the table holds the rows' keys ([`RowSlots::Keyed`]).
    fn holds_keys(&self) -> bool {
        matches!(self.packed, Table::Keyed(_))
    }

    /// The packed key of each of `count` rows from a keyed table
    /// ([`NOT_PACKED`] for a wide row); empty from a table of numbers.
    fn keys_held(&self, count: usize) -> Vec<u64> {
        let Table::Keyed(table) = &self.packed else {
            return Vec::new();
        };
        let mut keys = vec![NOT_PACKED; count];
        for slot in table {
            keys[slot.row as usize] = slot.bits();
        }
        keys
    }
}

/// A [`RowIndex`] that finds rows without them, for a scorer that holds
/// every row's figures but not the rows: a keyed table alone, or a table
/// of numbers with the rows' packed keys beside it (8 bytes a row). It
/// serializes as its keys; the table is made again where it is read (a
/// cluster's executors).
pub(crate) struct KeyedIndex {
    /// Each row's packed key, unless the table holds them.
    keys: Vec<u64>,
    rows: usize,
    index: RowIndex,
}

impl KeyedIndex {
    /// The index of `count` rows, their keys read off `rows` unless the
    /// index's table holds them.
    pub fn of<K: RowKeys + ?Sized>(index: RowIndex, rows: &K, count: usize) -> KeyedIndex {
        let keys = match index.holds_keys() {
            true => Vec::new(),
            false => (0..count as u32).map(|row| rows.packed_key(row)).collect(),
        };
        KeyedIndex {
            keys,
            rows: count,
            index,
        }
    }

    /// The row of a sanitized triple.
    pub fn row_of(&self, key: (i64, i64, i64)) -> Option<u32> {
        self.index.row_of(key, self.keys.as_slice())
    }

    /// Each row's packed key, in row order.
    fn row_keys(&self) -> Cow<'_, [u64]> {
        match self.index.holds_keys() {
            true => Cow::Owned(self.index.keys_held(self.rows)),
            false => Cow::Borrowed(&self.keys),
        }
    }

    /// The index of rows with these packed keys and wide rows.
    fn of_keys(keys: Vec<u64>, wide: BTreeMap<(i64, i64, i64), u32>) -> KeyedIndex {
        let packed_rows = keys.iter().filter(|&&bits| bits != NOT_PACKED).count();
        let mut packed = HashTable::with_capacity(packed_rows);
        for (row, &bits) in keys.iter().enumerate() {
            if bits != NOT_PACKED {
                packed.insert_unique(hash_of(bits), row as u32, |&r| hash_of(keys[r as usize]));
            }
        }
        KeyedIndex {
            rows: keys.len(),
            keys,
            index: RowIndex {
                packed: Table::Numbers(packed),
                wide,
            },
        }
    }
}

impl serde::Serialize for KeyedIndex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.row_keys(), &self.index.wide).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for KeyedIndex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (keys, wide) = <(Vec<u64>, BTreeMap<(i64, i64, i64), u32>)>::deserialize(deserializer)?;
        Ok(KeyedIndex::of_keys(keys, wide))
    }
}

/// Bits per value of a packed (x, t_x, T) key: whole days below 2²¹
/// (5,700 years), which every real history is.
pub(crate) const PACKED_BITS: u32 = 21;

/// A sanitized (x, t_x, T) as one integer when all three fit
/// [`PACKED_BITS`].
pub(crate) fn packed((x, t_x, t): (i64, i64, i64)) -> Option<u64> {
    let limit = 1i64 << PACKED_BITS;
    ((0..limit).contains(&x) && (0..limit).contains(&t_x) && (0..limit).contains(&t))
        .then_some(((x as u64) << (2 * PACKED_BITS)) | ((t_x as u64) << PACKED_BITS) | t as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_triple_packs_only_when_every_value_fits() {
        let top = (1i64 << PACKED_BITS) - 1;
        assert_eq!(packed((0, 0, 0)), Some(0));
        assert_eq!(
            packed((1, 2, 3)),
            Some((1 << (2 * PACKED_BITS)) | (2 << PACKED_BITS) | 3)
        );
        assert!(packed((top, top, top)).is_some());
        assert_eq!(packed((top + 1, 0, 0)), None);
        assert_eq!(packed((0, top + 1, 0)), None);
        assert_eq!(packed((0, 0, top + 1)), None);
    }

    /// A value: mostly small days, now and then one that does not pack.
    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => 0i64..40,
            1 => (1i64 << PACKED_BITS) - 2..(1i64 << PACKED_BITS) + 2,
            1 => (1i64 << 60)..(1i64 << 60) + 3,
        ]
    }

    /// Triples indexed as they come by an index with `slots`, the rows'
    /// keys in a vector: each must find the row of its first occurrence
    /// (by brute force), in the index and in its keyed index after a
    /// serialize round trip; a triple never indexed finds none.
    fn check_rows_of_first_occurrences(
        slots: RowSlots,
        triples: &[(i64, i64, i64)],
        absent: (i64, i64, i64),
    ) -> Result<(), TestCaseError> {
        let (mut index, mut keys) = (RowIndex::with_slots(slots), Vec::<u64>::new());
        let mut firsts: Vec<(i64, i64, i64)> = Vec::new();
        for &key in triples {
            let next = keys.len() as u32;
            let row = index.row_or_insert(key, next, keys.as_slice());
            if row == next {
                keys.push(packed(key).unwrap_or(NOT_PACKED));
            }
            let first = firsts.iter().position(|&k| k == key).unwrap_or_else(|| {
                firsts.push(key);
                firsts.len() - 1
            });
            prop_assert_eq!(row, first as u32);
        }
        let config = bincode::config::standard();
        let keyed = KeyedIndex::of(index.clone(), keys.as_slice(), keys.len());
        let bytes = bincode::serde::encode_to_vec(&keyed, config).expect("serialize");
        let back: KeyedIndex = bincode::serde::decode_from_slice(&bytes, config)
            .expect("deserialize")
            .0;
        prop_assert_eq!(back.keys.as_slice(), keys.as_slice());
        for (row, &key) in firsts.iter().enumerate() {
            prop_assert_eq!(index.row_of(key, keys.as_slice()), Some(row as u32));
            prop_assert_eq!(keyed.row_of(key), Some(row as u32));
            prop_assert_eq!(back.row_of(key), Some(row as u32));
        }
        let absent_row = firsts.iter().position(|&k| k == absent).map(|r| r as u32);
        prop_assert_eq!(index.row_of(absent, keys.as_slice()), absent_row);
        prop_assert_eq!(keyed.row_of(absent), absent_row);
        prop_assert_eq!(back.row_of(absent), absent_row);
        Ok(())
    }

    proptest! {
        #[test]
        fn every_triple_finds_the_row_of_its_first_occurrence(
            triples in proptest::collection::vec((value(), value(), value()), 0..200),
            absent in (value(), value(), value()),
        ) {
            for slots in [RowSlots::Numbers, RowSlots::Keyed] {
                check_rows_of_first_occurrences(slots, &triples, absent)?;
            }
        }
    }
}
