//! The index that finds a customer's unique (x, t_x, T) row: the fold's,
//! where a customer with a new triple adds a row, and a scorer's that
//! holds every row's figures.
//!
//! Its table holds row numbers alone; a row's key is read off where the
//! rows are ([`RowKeys`]). That is about 6 bytes a row instead of the 20
//! of a map from keys to rows: 100 MB less at 100 M orders' 7 M rows,
//! where the CLV stage's fold is a run's peak short of memory. A lookup
//! reads the row's values beside the table, so it costs a cache miss or
//! two more. hashbrown's `HashTable` is the map with the keys left out.

use std::hash::{BuildHasher, BuildHasherDefault};

use hashbrown::HashTable;
use rayon::prelude::*;

use super::compress::{assert_same_lengths, sanitize_rfm, IntHasher, IntMap, RfmRows};

/// The row of every (x, t_x, T) folded, its keys read off the rows
/// ([`RowKeys`]): the lookups take them.
#[derive(Default, Clone)]
pub(crate) struct RowIndex {
    /// Rows whose key packs ([`packed`]): every real history's.
    packed: HashTable<u32>,
    /// Rows whose values do not pack, by their triple.
    wide: IntMap<(i64, i64, i64), u32>,
}

/// Where a [`RowIndex`] reads its rows' packed keys.
pub(crate) trait RowKeys: Sync {
    /// The packed key of `row`, or [`NOT_PACKED`] for a row of the
    /// index's `wide` map.
    fn packed_key(&self, row: u32) -> u64;
}

/// Never a packed key, which has 63 bits.
const NOT_PACKED: u64 = u64::MAX;

impl RowKeys for RfmRows {
    /// Read off the row's values: a packed row's are below 2^21, exact as
    /// doubles.
    fn packed_key(&self, row: u32) -> u64 {
        let r = row as usize;
        let key = (self.x(r) as i64, self.t_x(r) as i64, self.t(r) as i64);
        packed(key).unwrap_or(NOT_PACKED)
    }
}

impl RowKeys for [u64] {
    fn packed_key(&self, row: u32) -> u64 {
        self[row as usize]
    }
}

/// The table's hash of a packed key.
fn hash_of(bits: u64) -> u64 {
    BuildHasherDefault::<IntHasher>::default().hash_one(bits)
}

impl RowIndex {
    /// The row of a sanitized triple, `next` when it has none yet (the
    /// caller adds row `next` to `rows` then).
    pub fn row_or_insert(&mut self, key: (i64, i64, i64), next: u32, rows: &impl RowKeys) -> u32 {
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

    /// The row of each customer given as their frequency, recency and T
    /// columns (of equal lengths), the rows' keys read off `rows`.
    ///
    /// # Panics
    /// If a customer's triple was not folded.
    pub fn rows_of<K: RowKeys + ?Sized>(
        &self,
        rows: &K,
        frequency: &[i64],
        recency_days: &[i64],
        tenure_days: &[i64],
    ) -> Vec<u32> {
        assert_same_lengths(frequency, recency_days, tenure_days);
        (0..frequency.len())
            .into_par_iter()
            .map(|i| {
                let key = sanitize_rfm(frequency[i], recency_days[i], tenure_days[i]);
                let row = match packed(key) {
                    Some(bits) => self
                        .packed
                        .find(hash_of(bits), |&row| rows.packed_key(row) == bits),
                    None => self.wide.get(&key),
                };
                *row.expect("a customer of the folded summary")
            })
            .collect()
    }

    /// The triple of each row, in row order: a packed row's from its
    /// values, a wide row's from the index, so a triple beyond 2^53 stays
    /// exact.
    pub fn triples(&self, rows: &RfmRows) -> Vec<(i64, i64, i64)> {
        let mut triples: Vec<_> = (0..rows.len())
            .map(|r| (rows.x(r) as i64, rows.t_x(r) as i64, rows.t(r) as i64))
            .collect();
        for (&key, &row) in &self.wide {
            triples[row as usize] = key;
        }
        triples
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
    /// The fold's index, with the keys of its `rows`.
    pub fn of(index: RowIndex, rows: &RfmRows) -> KeyedIndex {
        let keys = (0..rows.len() as u32)
            .into_par_iter()
            .map(|row| rows.packed_key(row))
            .collect();
        KeyedIndex { keys, index }
    }

    /// [`RowIndex::rows_of`].
    pub fn rows_of(
        &self,
        frequency: &[i64],
        recency_days: &[i64],
        tenure_days: &[i64],
    ) -> Vec<u32> {
        let keys = self.keys.as_slice();
        self.index
            .rows_of(keys, frequency, recency_days, tenure_days)
    }

    /// The index of rows with these packed keys and wide rows.
    fn of_keys(keys: Vec<u64>, wide: IntMap<(i64, i64, i64), u32>) -> KeyedIndex {
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
        let (keys, wide) = <(Vec<u64>, IntMap<(i64, i64, i64), u32>)>::deserialize(deserializer)?;
        Ok(KeyedIndex::of_keys(keys, wide))
    }
}

/// Bits per value of a packed (x, t_x, T) key: whole days below 2²¹
/// (5,700 years), which every real history is.
pub(crate) const PACKED_BITS: u32 = 21;

/// A sanitized (x, t_x, T) as one integer when all three fit
/// [`PACKED_BITS`].
fn packed((x, t_x, t): (i64, i64, i64)) -> Option<u64> {
    let limit = 1i64 << PACKED_BITS;
    ((0..limit).contains(&x) && (0..limit).contains(&t_x) && (0..limit).contains(&t))
        .then_some(((x as u64) << (2 * PACKED_BITS)) | ((t_x as u64) << PACKED_BITS) | t as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::compress::RfmFolder;
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

    /// A value: mostly small days, now and then one that does not pack
    /// (2^21 and beyond, past 2^53 too).
    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => 0i64..40,
            1 => (1i64 << PACKED_BITS) - 2..(1i64 << PACKED_BITS) + 2,
            1 => (1i64 << 60)..(1i64 << 60) + 3,
        ]
    }

    proptest! {
        /// The fold's index, and the keyed index after a serialize round
        /// trip, find each customer's row: the first customer of the same
        /// sanitized triple's, by brute force.
        #[test]
        fn every_customer_finds_the_row_of_their_triple(
            customers in proptest::collection::vec((value(), value(), value()), 0..200),
        ) {
            let column = |of: fn(&(i64, i64, i64)) -> i64| customers.iter().map(of).collect::<Vec<_>>();
            let (f, r, t) = (column(|c| c.0), column(|c| c.1), column(|c| c.2));
            let mut fold = RfmFolder::default();
            let added = fold.add(&f, &r, &t);
            let (rows, index) = fold.finish();
            let mut firsts: Vec<(i64, i64, i64)> = Vec::new();
            let mut want = Vec::new();
            for &(x, t_x, tt) in &customers {
                let key = sanitize_rfm(x, t_x, tt);
                let row = firsts.iter().position(|&k| k == key).unwrap_or_else(|| {
                    firsts.push(key);
                    firsts.len() - 1
                });
                want.push(row as u32);
            }
            prop_assert_eq!(&added, &want);
            prop_assert_eq!(rows.len(), firsts.len());
            prop_assert_eq!(&index.triples(&rows), &firsts);
            prop_assert_eq!(&index.rows_of(&rows, &f, &r, &t), &want);
            let keyed = KeyedIndex::of(index, &rows);
            let config = bincode::config::standard();
            let bytes = bincode::serde::encode_to_vec(&keyed, config).expect("serialize");
            let back: KeyedIndex = bincode::serde::decode_from_slice(&bytes, config).expect("deserialize").0;
            prop_assert_eq!(&back.rows_of(&f, &r, &t), &want);
        }
    }
}
