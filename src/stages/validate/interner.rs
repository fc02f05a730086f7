//! The interner that gives every distinct key value (customer id, order
//! id, dimension value) a dense code.

use polars::prelude::*;
use rayon::prelude::*;

use super::{trim_key, CodeVec, NO_CODE};
use crate::error::Result;
use crate::stages::raw::text_of;

/// Distinct key values (trimmed text) with dense codes in order of first
/// appearance. Values of up to 15 bytes (nearly every customer and order
/// id) are stored inline in the table, so a lookup touches one slot and
/// compares 16 bytes; longer ones live in a side buffer. At 100 million
/// order ids this takes about a third of the memory of a map from owned
/// strings. Written here because no crate offers an append-only interner
/// that keeps short keys inline in a table of codes.
pub struct Interner {
    table: hashbrown::HashTable<Slot>,
    /// The bytes of values longer than [`INLINE`].
    long: Vec<u8>,
    /// The key of every code, in code order; kept only when the values are
    /// wanted back ([`Interner::with_values`]).
    by_code: Option<Vec<Key>>,
    next_code: u32,
}

/// The hash of a key value: fixed seeds, so that which shard of a
/// [`super::sharded::ShardedInterner`] a value falls in, and hence its
/// code, is the same from run to run (the tables do not depend on codes,
/// but a reproducible run is easier to reason about).
pub fn key_hash(value: &[u8]) -> u64 {
    KEY_HASHER.hash_one(value)
}

const KEY_HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
    0x5265_7465_6e74_696f,
    0x6e20_6b65_7920_6861,
    0x7368_2073_6565_6473,
    0x2028_6669_7865_6429,
);

/// Longest value stored inline in a [`Key`].
const INLINE: usize = 15;

/// A value: inline (bytes, then the length in the last byte) or, marked by
/// a last byte of 0xFF, a start (8 bytes) and length (4 bytes) in
/// [`Interner::long`].
type Key = [u8; 16];

#[derive(Clone, Copy)]
struct Slot {
    key: Key,
    code: u32,
}

impl Interner {
    pub fn with_capacity(values: usize) -> Interner {
        Interner {
            table: hashbrown::HashTable::with_capacity(values),
            long: Vec::new(),
            by_code: None,
            next_code: 0,
        }
    }

    /// An interner that also keeps every value, for [`Interner::ranked`].
    pub fn with_values(capacity: usize) -> Interner {
        Interner {
            by_code: Some(Vec::with_capacity(capacity)),
            ..Interner::with_capacity(capacity)
        }
    }

    fn bytes<'v>(long: &'v [u8], key: &'v Key) -> &'v [u8] {
        if key[15] as usize <= INLINE {
            &key[..key[15] as usize]
        } else {
            let start = u64::from_le_bytes(key[..8].try_into().expect("8 bytes")) as usize;
            let len = u32::from_le_bytes(key[8..12].try_into().expect("4 bytes")) as usize;
            &long[start..start + len]
        }
    }

    /// The value of `code`; needs [`Interner::with_values`].
    pub fn value(&self, code: u32) -> &[u8] {
        let keys = self.by_code.as_ref().expect("an interner made with_values");
        Interner::bytes(&self.long, &keys[code as usize])
    }

    fn code(&mut self, value: &str) -> u32 {
        self.code_hashed(value.as_bytes(), key_hash(value.as_bytes()))
    }

    /// The code of `value`, whose [`key_hash`] is `hash`.
    pub fn code_hashed(&mut self, value: &[u8], hash: u64) -> u32 {
        let Interner {
            table,
            long,
            by_code,
            next_code,
        } = self;
        let mut inline: Key = [0; 16];
        let short = value.len() <= INLINE;
        if short {
            inline[..value.len()].copy_from_slice(value);
            inline[15] = value.len() as u8;
        }
        let entry = table.entry(
            hash,
            |slot| match short {
                true => slot.key == inline,
                false => slot.key[15] == 0xFF && Interner::bytes(long, &slot.key) == value,
            },
            |slot| key_hash(Interner::bytes(long, &slot.key)),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => e.get().code,
            hashbrown::hash_table::Entry::Vacant(e) => {
                let key = if short {
                    inline
                } else {
                    let mut key: Key = [0xFF; 16];
                    key[..8].copy_from_slice(&(long.len() as u64).to_le_bytes());
                    key[8..12].copy_from_slice(&(value.len() as u32).to_le_bytes());
                    long.extend_from_slice(value);
                    key
                };
                let code = *next_code;
                *next_code += 1;
                e.insert(Slot { key, code });
                if let Some(keys) = by_code {
                    keys.push(key);
                }
                code
            }
        }
    }

    /// Appends the codes of a dimension column's trimmed text values to
    /// `out`; [`NO_CODE`] for nulls and blank values.
    pub fn dimension_codes(
        &mut self,
        frame: &DataFrame,
        column: &str,
        out: &mut CodeVec,
    ) -> Result<()> {
        let text = text_of(frame.column(column)?)?;
        for value in text.iter() {
            let code = match value.map(trim_key) {
                None | Some("") => NO_CODE,
                Some(v) => self.code(v),
            };
            out.push(code);
        }
        Ok(())
    }

    /// The rank of every code among the values in byte order, and the values
    /// in that order. Values come from `&str`, so they are valid UTF-8, and
    /// byte order is string order. Needs [`Interner::with_values`].
    pub fn ranked(self) -> (Vec<u32>, Vec<String>) {
        let Interner {
            table,
            long,
            by_code,
            ..
        } = self;
        drop(table);
        let keys = by_code.expect("an interner made with_values");
        let value = |c: u32| Interner::bytes(&long, &keys[c as usize]);
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.par_sort_unstable_by_key(|&c| value(c));
        let mut rank = vec![0u32; keys.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old as usize] = new as u32;
        }
        let values = order
            .iter()
            .map(|&c| String::from_utf8_lossy(value(c)).into_owned())
            .collect();
        (rank, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::validate::CodeVec;

    #[test]
    fn dimension_codes_are_ranked_by_value_and_blank_is_missing() {
        let frame =
            df!("channel" => [Some(" paid "), None, Some("email"), Some("  "), Some("paid")])
                .unwrap();
        let mut interner = Interner::with_values(0);
        let mut codes = CodeVec::default();
        interner
            .dimension_codes(&frame, "channel", &mut codes)
            .unwrap();
        let (rank, values) = interner.ranked();
        assert_eq!(values, vec!["email".to_string(), "paid".to_string()]);
        let ranked = |c: u32| if c == NO_CODE { c } else { rank[c as usize] };
        let got: Vec<u32> = (0..codes.len()).map(|i| ranked(codes.get(i))).collect();
        assert_eq!(got, vec![1, NO_CODE, 0, NO_CODE, 1]);
    }
}
