//! Key interning on every core: the customer and order ids of a batch are
//! coded by [`SHARDS`] interners at once, each owning the values whose
//! hash falls in its shard, instead of by one interner on one thread
//! (the largest single cost of validation at 100 M lines).
//!
//! While batches arrive a code is provisional: the value's code within its
//! shard and the shard, packed. [`ShardedInterner::by_first_line`] and
//! [`ShardedInterner::ranked`] then give the final codes; the collector
//! applies them to every line with [`Recode::apply`].

use polars::prelude::*;
use rayon::prelude::*;

use super::interner::{key_hash, Interner};
use super::NO_CODE;
use crate::error::{Error, Result};
use crate::stages::raw::text_of;

/// Bits of a provisional code that name its shard.
const SHARD_BITS: u32 = 4;
/// Fixed (not the thread count), so codes are the same on every machine.
const SHARDS: usize = 1 << SHARD_BITS;
/// Where in the hash the shard is taken from: above the bits the hash
/// table indexes its buckets by and below the 7 it tags slots with, so
/// the values of one shard still spread over its whole table.
const SHARD_SHIFT: u32 = 48;
/// Largest code within one shard: a provisional code must stay below
/// [`NO_CODE`].
const MAX_LOCAL: u32 = (NO_CODE >> SHARD_BITS) - 1;

pub(super) struct ShardedInterner {
    shards: Vec<Interner>,
    /// Per shard, the line each local code was first seen on; kept only
    /// for [`ShardedInterner::by_first_line`].
    first_lines: Option<Vec<Vec<u32>>>,
}

/// How provisional codes become final ones: the final code of each
/// shard's local codes.
pub(super) struct Recode(Vec<Vec<u32>>);

fn shard_of(hash: u64) -> usize {
    (hash >> SHARD_SHIFT) as usize & (SHARDS - 1)
}

fn unpack(code: u32) -> (usize, u32) {
    ((code as usize) & (SHARDS - 1), code >> SHARD_BITS)
}

impl ShardedInterner {
    /// Room for about `values` distinct values in all; codes to be
    /// numbered by first appearance ([`ShardedInterner::by_first_line`]),
    /// the values themselves not kept.
    pub(super) fn in_order_of_appearance(values: usize) -> ShardedInterner {
        let each = values / SHARDS;
        ShardedInterner {
            shards: (0..SHARDS).map(|_| Interner::with_capacity(each)).collect(),
            first_lines: Some((0..SHARDS).map(|_| Vec::with_capacity(each)).collect()),
        }
    }

    /// One that keeps every value, for [`ShardedInterner::ranked`].
    pub(super) fn with_values(values: usize) -> ShardedInterner {
        let each = values / SHARDS;
        ShardedInterner {
            shards: (0..SHARDS).map(|_| Interner::with_values(each)).collect(),
            first_lines: None,
        }
    }

    /// Provisional codes of a frame column's trimmed text values;
    /// [`NO_CODE`] for nulls and blanks (a blank id is a missing one, so
    /// blank rows are neither grouped nor taken for duplicates). The
    /// frame's rows are lines `first_line..` of the input.
    pub(super) fn codes(
        &mut self,
        frame: &DataFrame,
        column: &str,
        first_line: usize,
    ) -> Result<Vec<u32>> {
        let text = text_of(frame.column(column)?)?;
        let text = text.rechunk();
        let values = text.downcast_iter().next();
        let value = |i: u32| values.and_then(|a| a.get(i as usize)).map(str::trim);
        let hashes = key_hashes(&text);
        let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); SHARDS];
        for (i, &hash) in hashes.iter().enumerate() {
            if hash != MISSING {
                rows_of[shard_of(hash)].push(i as u32);
            }
        }
        let codes: Vec<std::sync::atomic::AtomicU32> = (0..hashes.len())
            .map(|_| std::sync::atomic::AtomicU32::new(NO_CODE))
            .collect();
        let keep_first_lines = self.first_lines.is_some();
        let mut no_lines = vec![Vec::new(); SHARDS];
        let first_lines = self.first_lines.as_mut().unwrap_or(&mut no_lines);
        self.shards
            .par_iter_mut()
            .zip(first_lines.par_iter_mut())
            .zip(rows_of.par_iter())
            .enumerate()
            .try_for_each(|(shard, ((interner, firsts), rows))| {
                for &i in rows {
                    let value = value(i).expect("only rows with a value").as_bytes();
                    let local = interner.code_hashed(value, hashes[i as usize]);
                    if local > MAX_LOCAL {
                        return Err(too_many_values(column));
                    }
                    if local as usize == firsts.len() && keep_first_lines {
                        firsts.push((first_line + i as usize) as u32);
                    }
                    let code = local << SHARD_BITS | shard as u32;
                    codes[i as usize].store(code, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(())
            })?;
        Ok(codes.into_iter().map(|c| c.into_inner()).collect())
    }

    /// Final codes `0..distinct` in order of first appearance, as one
    /// interner fed line by line would give: lines with the same code stay
    /// near each other in code order, which keeps the orders stage's
    /// grouping by code cache-friendly. `lines` is the number of lines
    /// read. Needs [`ShardedInterner::in_order_of_appearance`].
    pub(super) fn by_first_line(self, lines: usize) -> Recode {
        let ShardedInterner {
            shards,
            first_lines,
        } = self;
        // The hash tables first: at 100 M lines they are the larger part.
        drop(shards);
        let first_lines = first_lines.expect("made in_order_of_appearance");
        // Which code each line introduced, if any; then one pass in line
        // order numbers them. Linear, where sorting the codes by first
        // line would not be.
        let mut introduced = vec![NO_CODE; lines];
        for (shard, firsts) in first_lines.iter().enumerate() {
            for (local, &line) in firsts.iter().enumerate() {
                introduced[line as usize] = (local as u32) << SHARD_BITS | shard as u32;
            }
        }
        let mut finals: Vec<Vec<u32>> = first_lines.iter().map(|f| vec![0; f.len()]).collect();
        let codes_in_line_order = introduced.into_iter().filter(|&c| c != NO_CODE);
        for (next, code) in codes_in_line_order.enumerate() {
            let (shard, local) = unpack(code);
            finals[shard][local as usize] = next as u32;
        }
        Recode(finals)
    }

    /// Final codes that are ranks in byte order (so code order is value
    /// order, as for a single interner's [`Interner::ranked`]), and the
    /// values in that order. Needs [`ShardedInterner::with_values`].
    pub(super) fn ranked(self) -> (Recode, Vec<String>) {
        let shards = &self.shards;
        let mut order: Vec<(u32, u32)> = shards
            .iter()
            .enumerate()
            .flat_map(|(s, interner)| (0..interner.len()).map(move |local| (s as u32, local)))
            .collect();
        let value = |&(s, local): &(u32, u32)| shards[s as usize].value(local);
        order.par_sort_unstable_by(|a, b| value(a).cmp(value(b)));
        let mut ranks: Vec<Vec<u32>> = shards.iter().map(|i| vec![0; i.len() as usize]).collect();
        for (rank, &(s, local)) in order.iter().enumerate() {
            ranks[s as usize][local as usize] = rank as u32;
        }
        let values = order
            .par_iter()
            .map(|key| String::from_utf8_lossy(value(key)).into_owned())
            .collect();
        (Recode(ranks), values)
    }
}

impl Recode {
    /// Replaces provisional codes by final ones ([`NO_CODE`] stays).
    pub(super) fn apply(&self, codes: &mut [u32]) {
        let Recode(finals) = self;
        codes
            .par_iter_mut()
            .filter(|c| **c != NO_CODE)
            .for_each(|c| {
                let (shard, local) = unpack(*c);
                *c = finals[shard][local as usize];
            });
    }
}

/// Rows hashed per parallel task.
const PIECE_ROWS: usize = 64 * 1024;

/// The hash of a missing key (null or blank). A value whose hash is this
/// is given the next one down (hashes only choose a slot; the interner
/// compares the values themselves).
const MISSING: u64 = u64::MAX;

/// Each row's trimmed value's [`key_hash`] ([`MISSING`] when null or
/// blank), computed in parallel pieces, in row order. `text` is one chunk.
fn key_hashes(text: &StringChunked) -> Vec<u64> {
    let Some(array) = text.downcast_iter().next() else {
        return Vec::new();
    };
    let mut hashes = Vec::with_capacity(array.len());
    (0..array.len())
        .into_par_iter()
        .with_min_len(PIECE_ROWS)
        .map(|i| match array.get(i).map(str::trim) {
            None | Some("") => MISSING,
            Some(v) => key_hash(v.as_bytes()).min(MISSING - 1),
        })
        .collect_into_vec(&mut hashes);
    hashes
}

/// The shard limit, far past any real input (about 4 billion distinct
/// values), as an error rather than a wrong code.
fn too_many_values(column: &str) -> Error {
    Error::Usage(format!(
        "column `{column}` has more than {} distinct values in one of {SHARDS} hash shards: split the history into several runs",
        MAX_LOCAL as u64 + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_codes(interner: ShardedInterner, mut codes: Vec<u32>) -> (Vec<u32>, Vec<String>) {
        let (recode, values) = interner.ranked();
        recode.apply(&mut codes);
        (codes, values)
    }

    #[test]
    fn codes_short_and_long_ids_apart_and_ranks_them_by_bytes() {
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
        let mut interner = ShardedInterner::with_values(0);
        let codes = interner.codes(&frame, "id", 0).unwrap();
        assert_eq!(codes[0], codes[2]);
        assert_eq!(codes[1], codes[3]);
        assert_ne!(codes[0], codes[1]);
        assert_eq!(codes[5], NO_CODE);
        let (ranked, values) = final_codes(interner, codes);
        assert_eq!(
            values,
            [
                "B",
                "C-0000000000001",
                "C-00000000000010",
                "an id far longer than fifteen bytes"
            ]
        );
        assert_eq!(ranked, [1, 2, 1, 2, 3, NO_CODE, 0]);
    }

    #[test]
    fn codes_across_batches_and_shards_match_a_map_of_strings() {
        // Brute force: ranks from a BTreeSet of every id seen, over batches
        // of several chunks, with nulls, blanks and repeats.
        let ids: Vec<Option<String>> = (0..5000u32)
            .map(|i| match i % 97 {
                0 => None,
                1 => Some("   ".into()),
                _ => Some(format!(" id-{} ", (i * 7919) % 1300)),
            })
            .collect();
        let mut interner = ShardedInterner::with_values(16);
        let mut codes = Vec::new();
        for batch in ids.chunks(700) {
            // Two chunks: the values are read chunk by chunk.
            let (head, tail) = batch.split_at(batch.len() / 2);
            let mut frame = df!("id" => head.to_vec()).unwrap();
            frame
                .vstack_mut(&df!("id" => tail.to_vec()).unwrap())
                .unwrap();
            assert_eq!(frame.first_col_n_chunks(), 2);
            codes.extend(interner.codes(&frame, "id", codes.len()).unwrap());
        }
        let (ranked, values) = final_codes(interner, codes);
        let distinct: std::collections::BTreeSet<&str> = ids
            .iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(
            values,
            distinct.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        for (id, code) in ids.iter().zip(&ranked) {
            match id.as_deref().map(str::trim) {
                None | Some("") => assert_eq!(*code, NO_CODE),
                Some(v) => assert_eq!(values[*code as usize], v),
            }
        }
    }

    #[test]
    fn codes_by_first_line_number_ids_in_order_of_appearance() {
        // Two batches; ids repeat across them, with blanks between.
        let ids: Vec<String> = (0..3000)
            .map(|i| match i % 11 {
                0 => " ".to_string(),
                _ => format!("o{}", (i * 31) % 1000),
            })
            .collect();
        let mut interner = ShardedInterner::in_order_of_appearance(0);
        let mut codes = Vec::new();
        for batch in ids.chunks(1700) {
            let frame = df!("id" => batch.to_vec()).unwrap();
            codes.extend(interner.codes(&frame, "id", codes.len()).unwrap());
        }
        interner.by_first_line(ids.len()).apply(&mut codes);
        // Brute force: number each id at its first appearance.
        let mut seen: Vec<&str> = Vec::new();
        for (id, code) in ids.iter().zip(&codes) {
            if id.trim().is_empty() {
                assert_eq!(*code, NO_CODE);
                continue;
            }
            let expected = match seen.iter().position(|s| *s == id) {
                Some(at) => at,
                None => {
                    seen.push(id);
                    seen.len() - 1
                }
            };
            assert_eq!(*code as usize, expected, "{id}");
        }
        assert_eq!(seen.len(), 1000);
    }
}
