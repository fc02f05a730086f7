//! The interner that gives every distinct key value (customer id, order
//! id, dimension value) a dense code.

use polars::prelude::*;
use rayon::prelude::*;

use super::{CodeVec, NO_CODE};
use crate::error::Result;
use crate::stages::raw::text_of;

/// Distinct key values (trimmed text) with dense codes in order of first
/// appearance. Values of up to 15 bytes (nearly every customer and order
/// id) are stored inline in the table, so a lookup touches one slot and
/// compares 16 bytes; longer ones live in a side buffer. At 100 million
/// order ids this takes about a third of the memory of a map from owned
/// strings. Written here because no crate offers an append-only interner
/// that keeps short keys inline in a table of codes.
#[derive(Default)]
pub(super) struct Interner {
    table: hashbrown::HashTable<Slot>,
    /// The bytes of values longer than [`INLINE`].
    long: Vec<u8>,
    /// The key of every code, in code order; kept only when the values are
    /// wanted back ([`Interner::with_values`]).
    by_code: Option<Vec<Key>>,
    next_code: u32,
    hasher: ahash::RandomState,
}

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
    pub(super) fn with_capacity(values: usize) -> Interner {
        Interner {
            table: hashbrown::HashTable::with_capacity(values),
            ..Default::default()
        }
    }

    /// An interner that also keeps every value, for [`Interner::ranked`].
    pub(super) fn with_values(capacity: usize) -> Interner {
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

    fn code(&mut self, value: &str) -> u32 {
        let Interner {
            table,
            long,
            by_code,
            next_code,
            hasher,
        } = self;
        let value = value.as_bytes();
        let hash = hasher.hash_one(value);
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
            |slot| hasher.hash_one(Interner::bytes(long, &slot.key)),
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

    /// Codes of a frame column's trimmed text values; [`NO_CODE`] for nulls
    /// and blanks.
    pub(super) fn codes(&mut self, frame: &DataFrame, column: &str) -> Result<Vec<u32>> {
        let text = text_of(frame.column(column)?)?;
        let mut codes = Vec::with_capacity(text.len());
        for value in text.iter() {
            // A blank id is a missing one: no code, so blank rows are
            // neither grouped nor taken for duplicates of one another.
            codes.push(match value.map(str::trim) {
                None | Some("") => NO_CODE,
                Some(v) => self.code(v),
            });
        }
        Ok(codes)
    }

    /// Appends the codes of a dimension column's trimmed text values to
    /// `out`; [`NO_CODE`] for nulls and blank values.
    pub(super) fn dimension_codes(
        &mut self,
        frame: &DataFrame,
        column: &str,
        out: &mut CodeVec,
    ) -> Result<()> {
        let text = text_of(frame.column(column)?)?;
        for value in text.iter() {
            let code = match value.map(str::trim) {
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
    pub(super) fn ranked(self) -> (Vec<u32>, Vec<String>) {
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
        codes.remap(&rank);
        assert_eq!(values, vec!["email".to_string(), "paid".to_string()]);
        let got: Vec<u32> = (0..codes.len()).map(|i| codes.get(i)).collect();
        assert_eq!(got, vec![1, NO_CODE, 0, NO_CODE, 1]);
    }

    #[test]
    fn interner_codes_short_and_long_ids_apart_and_ranks_them_by_bytes() {
        // 15 bytes fit inline, 16 do not; a long id sharing a short one's
        // prefix, and ids that are equal only after trimming.
        let ids = [
            "C-0000000000001",      // 15 bytes: inline
            "C-00000000000010",     // 16 bytes: side buffer
            "C-0000000000001",      // the first again
            "  C-00000000000010  ", // the second, padded
            "an id far longer than fifteen bytes",
            "", // blank: no code
            "B",
        ];
        let frame = df!("id" => ids).unwrap();
        let mut interner = Interner::with_values(0);
        let codes = interner.codes(&frame, "id").unwrap();
        assert_eq!(codes[0], codes[2]);
        assert_eq!(codes[1], codes[3]);
        assert_ne!(codes[0], codes[1]);
        assert_eq!(codes[5], NO_CODE);
        let (rank, values) = interner.ranked();
        assert_eq!(
            values,
            [
                "B",
                "C-0000000000001",
                "C-00000000000010",
                "an id far longer than fifteen bytes"
            ]
        );
        let ranked: Vec<u32> = codes
            .iter()
            .map(|&c| if c == NO_CODE { c } else { rank[c as usize] })
            .collect();
        assert_eq!(ranked, [1, 2, 1, 2, 3, NO_CODE, 0]);
    }
}
