//! The index that finds a customer's unique (x, t_x, T) row: the fold's,
//! where a customer with a new triple adds a row, and a scorer's that
//! holds every row's figures.
//!
//! Its table holds row numbers alone; a row's key is read off where the
//! rows are ([`RowKeys`]). That is about 6 bytes a row instead of the 20
//! of a map from keys to rows: 100 MB less at 100 M orders' 7 M rows,
//! where the CLV stage's fold was a run's peak short of memory. A lookup
//! reads the row's values beside the table, so it costs a cache miss or
//! two more. hashbrown's `HashTable` is the map with the keys left out.

use std::collections::BTreeMap;

use hashbrown::HashTable;

/// The row of every (x, t_x, T) folded, its keys read off the rows
/// ([`RowKeys`]): the lookups take them.
#[derive(Default, Clone)]
pub(crate) struct RowIndex {
    /// Rows whose key packs ([`packed`]): every real history's.
    packed: HashTable<u32>,
    /// Rows whose values do not pack, by their triple: none in a real
    /// history, so an ordered map does.
    wide: BTreeMap<(i64, i64, i64), u32>,
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

/// The table's hash of a packed key: fixed seeds, as nothing depends on
/// them (rows are numbered in the order they come).
fn hash_of(bits: u64) -> u64 {
    const HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
        0x726f_7773_2062_7920,
        0x6b65_7920_6f66_2074,
        0x6865_2066_6f6c_6420,
        0x2878_2c74_782c_5429,
    );
    HASHER.hash_one(bits)
}

impl RowIndex {
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
        let entry = self.packed.entry(
            hash_of(bits),
            |&row| rows.packed_key(row) == bits,
            |&row| hash_of(rows.packed_key(row)),
        );
        *entry.or_insert(next).get()
    }

    /// The row of a sanitized triple, the rows' keys read off `rows`.
    pub fn row_of<K: RowKeys + ?Sized>(&self, key: (i64, i64, i64), rows: &K) -> Option<u32> {
        match packed(key) {
            Some(bits) => self
                .packed
                .find(hash_of(bits), |&row| rows.packed_key(row) == bits)
                .copied(),
            None => self.wide.get(&key).copied(),
        }
    }

    /// The rows whose values do not pack, with their triples.
    pub fn wide_rows(&self) -> impl Iterator<Item = ((i64, i64, i64), u32)> + '_ {
        self.wide.iter().map(|(&key, &row)| (key, row))
    }
}

/// A [`RowIndex`] with its rows' packed keys (8 bytes a row), for a
/// scorer that holds every row's figures but not the rows. It serializes
/// as its keys; the table is made again where it is read (a cluster's
/// executors).
pub(crate) struct KeyedIndex {
    keys: Vec<u64>,
    index: RowIndex,
}

impl KeyedIndex {
    /// The index of `count` rows, with their keys read off `rows`.
    pub fn of<K: RowKeys + ?Sized>(index: RowIndex, rows: &K, count: usize) -> KeyedIndex {
        let keys = (0..count as u32).map(|row| rows.packed_key(row)).collect();
        KeyedIndex { keys, index }
    }

    /// The row of a sanitized triple.
    pub fn row_of(&self, key: (i64, i64, i64)) -> Option<u32> {
        self.index.row_of(key, self.keys.as_slice())
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
            keys,
            index: RowIndex { packed, wide },
        }
    }
}

impl serde::Serialize for KeyedIndex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.keys, &self.index.wide).serialize(serializer)
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

    proptest! {
        /// Triples indexed as they come, with their rows' keys in a
        /// vector: each finds the row of its first occurrence (by brute
        /// force), in the index and in the keyed index after a serialize
        /// round trip; a triple never indexed finds none.
        #[test]
        fn every_triple_finds_the_row_of_its_first_occurrence(
            triples in proptest::collection::vec((value(), value(), value()), 0..200),
            absent in (value(), value(), value()),
        ) {
            let (mut index, mut keys) = (RowIndex::default(), Vec::<u64>::new());
            let mut firsts: Vec<(i64, i64, i64)> = Vec::new();
            for &key in &triples {
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
            let back: KeyedIndex = bincode::serde::decode_from_slice(&bytes, config).expect("deserialize").0;
            for (row, &key) in firsts.iter().enumerate() {
                prop_assert_eq!(index.row_of(key, keys.as_slice()), Some(row as u32));
                prop_assert_eq!(back.row_of(key), Some(row as u32));
            }
            let absent_row = firsts.iter().position(|&k| k == absent).map(|r| r as u32);
            prop_assert_eq!(index.row_of(absent, keys.as_slice()), absent_row);
            prop_assert_eq!(back.row_of(absent), absent_row);
        }
    }
}
