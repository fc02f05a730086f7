//! The input read in units, each checked and scattered on its own (on a
//! cluster, by the executors: a unit is a whole CSV file or a range of a
//! Parquet file's rows). A unit's scatter numbers its lines from 0 and
//! codes its dimension values with interners of its own; [`merge_units`]
//! makes the keys of the whole input from the units' keys, and each
//! unit's [`UnitShift`] turns its lines into the lines one scatter of the
//! whole input gives ([`shifted`]): the same line numbers and the same
//! final dimension codes. Only the customer ranges differ, cut from a
//! sample of other lines, which never changes a result
//! (`stages::customer_ranges`).

use super::scatter::{LineKeys, LineScatter};
use super::NO_CODE;
use crate::stages::customer_ranges::CustomerRanges;
use crate::stages::partition::LinePart;
use crate::stages::rejects::Reject;

/// What one unit's scatter knows of its lines.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnitKeys {
    /// The file the unit's rows are of.
    pub file: u32,
    pub rows_read: u64,
    pub excluded_by_filter: u64,
    /// Per dimension, the unit's distinct values, sorted.
    pub dimension_values: Vec<Vec<String>>,
    /// Per dimension, the rank among them of each code the unit's lines
    /// carry.
    pub dimension_ranks: Vec<Vec<u32>>,
    /// Customer ids of a sample of the unit's lines.
    pub customer_sample: Vec<Vec<u8>>,
}

impl UnitKeys {
    /// What `scatter` (of a unit of file `file`, its lines numbered from
    /// 0) knows of its lines, and its row rejects.
    pub fn of(scatter: LineScatter, file: u32) -> (UnitKeys, Vec<Reject>) {
        let (keys, customer_sample, rejects) = scatter.finish_uncut();
        let unit = UnitKeys {
            file,
            rows_read: keys.rows_read,
            excluded_by_filter: keys.excluded_by_filter,
            dimension_values: keys.dimension_values,
            dimension_ranks: keys.dimension_ranks,
            customer_sample,
        };
        (unit, rejects)
    }
}

/// How one unit's lines become lines of the whole input.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnitShift {
    /// The input index of the unit's line 0.
    pub first_line: u32,
    /// Per dimension, the final code (rank among the whole input's
    /// values) of each code the unit's lines carry.
    pub dimension_codes: Vec<Vec<u32>>,
}

/// The keys of the whole input read as `units` (in input order: by file,
/// then by row) of `files` files, with `dimension_names`, cut into
/// `partitions` customer partitions; and each unit's shift. The keys'
/// dimension ranks are the identity: shifted lines carry final codes.
/// The caller has checked that the lines fit `u32` indices.
pub fn merge_units(
    units: Vec<UnitKeys>,
    (files, dimension_names): (usize, &[String]),
    partitions: usize,
) -> (LineKeys, Vec<UnitShift>) {
    let first_lines: Vec<u64> = units
        .iter()
        .scan(0u64, |read, unit| {
            let first = *read;
            *read += unit.rows_read;
            Some(first)
        })
        .collect();
    let rows_read = units.iter().map(|u| u.rows_read).sum::<u64>();
    let file_starts = (0..files as u32)
        .map(|f| {
            let at = units.partition_point(|u| u.file < f);
            first_lines.get(at).copied().unwrap_or(rows_read) as usize
        })
        .collect();
    let dimension_values: Vec<Vec<String>> = (0..dimension_names.len())
        .map(|d| merged_values(units.iter().map(|u| &u.dimension_values[d])))
        .collect();
    let shifts = units
        .iter()
        .zip(&first_lines)
        .map(|(unit, &first)| UnitShift {
            first_line: u32::try_from(first).expect("the caller checked the line count"),
            dimension_codes: final_codes(unit, &dimension_values),
        })
        .collect();
    let mut sample = Vec::new();
    let mut excluded_by_filter = 0;
    for unit in units {
        sample.extend(unit.customer_sample);
        excluded_by_filter += unit.excluded_by_filter;
    }
    let keys = LineKeys {
        file_starts,
        rows_read,
        excluded_by_filter,
        dimension_names: dimension_names.to_vec(),
        dimension_ranks: dimension_values
            .iter()
            .map(|values| (0..values.len() as u32).collect())
            .collect(),
        dimension_values,
        customer_ranges: CustomerRanges::of_sample(sample, partitions),
    };
    (keys, shifts)
}

/// The distinct values of several sorted lists, sorted.
fn merged_values<'v>(lists: impl Iterator<Item = &'v Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.flatten().cloned().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Per dimension, the final code of each of `unit`'s codes: its value's
/// place among `values` (every dimension's values, sorted).
fn final_codes(unit: &UnitKeys, values: &[Vec<String>]) -> Vec<Vec<u32>> {
    let dimensions = unit.dimension_ranks.iter().zip(&unit.dimension_values);
    dimensions
        .zip(values)
        .map(|((ranks, own), all)| {
            let code_of = |value: &String| {
                all.binary_search(value)
                    .expect("merged values hold every unit's") as u32
            };
            ranks.iter().map(|&r| code_of(&own[r as usize])).collect()
        })
        .collect()
}

/// A unit's lines as lines of the whole input: their indices moved to
/// the unit's place, their dimension codes made final.
pub fn shifted(mut part: LinePart, shift: &UnitShift) -> LinePart {
    for line in &mut part.line {
        *line += shift.first_line;
    }
    for (codes, finals) in part.dimensions.iter_mut().zip(&shift.dimension_codes) {
        for code in codes.iter_mut().filter(|c| **c != NO_CODE) {
            *code = finals[*code as usize];
        }
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Pipeline, PipelineConfig};
    use crate::stages::partition::Part;
    use crate::stages::raw::{RawBatch, ROW_COLUMN};
    use polars::prelude::{Column, DataFrame};
    use proptest::prelude::*;

    const PARTITIONS: usize = 3;

    fn pipeline() -> Pipeline {
        let text = r#"
            [input]
            path = "orders-*.csv"
            [columns]
            customer_id = "customer_id"
            order_id = "order_id"
            order_ts = "order_ts"
            amount = "amount"
            dimensions = ["channel", "country"]
            [business]
            time_zone = "Europe/Berlin"
        "#;
        let config: PipelineConfig = toml::from_str(text).unwrap();
        Pipeline::of_config(config).unwrap()
    }

    /// One raw row: customer, order, timestamp, amount, channel, country
    /// (blanks and bad values among them).
    type Row = (String, String, String, String, String, String);

    fn row() -> impl Strategy<Value = Row> {
        let pick = |values: &[&'static str]| prop::sample::select(values.to_vec());
        (
            pick(&["C1", "C2", " C3", "C4 ", "", "C5"]),
            pick(&["O1", "O2", "O3", "O4", "O5", ""]),
            pick(&["2023-05-01 10:00:00", "2023-06-02", "not a time", ""]),
            pick(&["10.00", "-3.50", "lots", "7"]),
            pick(&["web", "shop", " app", "", "zz"]),
            pick(&["DE", "FR", "", "AT"]),
        )
            .prop_map(|(c, o, t, a, ch, co)| {
                let s = |v: &str| v.to_string();
                (s(c), s(o), s(t), s(a), s(ch), s(co))
            })
    }

    /// Rows `first..first + rows.len()` (0-based) of file `file` as a
    /// raw batch, with a line hash from the row's content.
    fn batch(file: u32, first: usize, rows: &[Row]) -> RawBatch {
        fn value(r: &Row, k: usize) -> &str {
            [&r.0, &r.1, &r.2, &r.3, &r.4, &r.5][k]
        }
        let pick = |k: usize| -> Vec<&str> { rows.iter().map(|r| value(r, k)).collect() };
        let names = [
            "customer_id",
            "order_id",
            "order_ts",
            "amount",
            "channel",
            "country",
        ];
        let mut columns = vec![Column::new(
            ROW_COLUMN.into(),
            (first as u32 + 1..=(first + rows.len()) as u32).collect::<Vec<_>>(),
        )];
        columns.extend((0..6).map(|k| Column::new(names[k].into(), pick(k))));
        let frame = DataFrame::new_infer_height(columns).unwrap();
        let line_hash = rows
            .iter()
            .map(|r| crate::stages::validate::key_hash(format!("{r:?}").as_bytes()));
        RawBatch {
            file,
            frame,
            line_hash: Some(line_hash.collect()),
        }
    }

    /// Each file's rows cut at `cuts` into units: (file, first row, rows).
    fn units_of(files: &[Vec<Row>], cuts: &[usize]) -> Vec<(u32, usize, usize)> {
        let mut units = Vec::new();
        for (f, rows) in files.iter().enumerate() {
            let mut at: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
            at.extend([0, rows.len()]);
            at.sort_unstable();
            at.dedup();
            // An empty file is one empty unit, as its reader gives one
            // empty chunk.
            if rows.is_empty() {
                units.push((f as u32, 0, 0));
            }
            units.extend(at.windows(2).map(|w| (f as u32, w[0], w[1] - w[0])));
        }
        units
    }

    /// The lines of every partition, dimension codes made final by
    /// `keys`' ranks.
    fn ranked(mut parts: Vec<LinePart>, keys: &LineKeys) -> Vec<LinePart> {
        for part in &mut parts {
            for (codes, ranks) in part.dimensions.iter_mut().zip(&keys.dimension_ranks) {
                for code in codes.iter_mut().filter(|c| **c != NO_CODE) {
                    *code = ranks[*code as usize];
                }
            }
        }
        parts
    }

    /// `pieces` (one per partition, batch after batch) joined by partition.
    fn joined(pieces: Vec<Vec<LinePart>>) -> Vec<LinePart> {
        let mut by_part: Vec<Vec<LinePart>> = (0..PARTITIONS).map(|_| Vec::new()).collect();
        for batch in pieces {
            for (p, piece) in batch.into_iter().enumerate() {
                by_part[p].push(piece);
            }
        }
        by_part.into_iter().map(LinePart::concat).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Units scattered apart, merged and shifted, give the lines, keys
        /// and rejects of one scatter of the whole input, however the
        /// files are cut.
        #[test]
        fn units_merged_give_the_whole_inputs_lines(
            files in prop::collection::vec(prop::collection::vec(row(), 0..25), 1..4),
            cuts in prop::collection::vec(0..30usize, 0..4),
            sample_step in 1..5usize,
        ) {
            let pipeline = pipeline();
            let units = units_of(&files, &cuts);
            let no_progress = |_: u64| {};
            let path = std::path::Path::new("orders.csv");
            let mut whole = LineScatter::new(&pipeline, PARTITIONS, sample_step);
            let mut whole_pieces = Vec::new();
            let mut unit_keys = Vec::new();
            let mut unit_pieces = Vec::new();
            let mut unit_rejects: Vec<Reject> = Vec::new();
            for &(file, first, rows) in &units {
                let rows = &files[file as usize][first..first + rows];
                let raw = batch(file, first, rows);
                whole_pieces.push(whole.push(path, &raw, &no_progress).unwrap());
                let mut own = LineScatter::new(&pipeline, PARTITIONS, sample_step);
                unit_pieces.push(own.push(path, &raw, &no_progress).unwrap());
                let (keys, rejects) = UnitKeys::of(own, file);
                unit_keys.push(keys);
                unit_rejects.extend(rejects);
            }
            let (expected_keys, expected_rejects) = whole.finish();
            let names = &pipeline.config.columns.dimensions;
            let (keys, shifts) = merge_units(unit_keys, (files.len(), names), PARTITIONS);
            prop_assert_eq!(&keys.file_starts, &expected_keys.file_starts);
            prop_assert_eq!(keys.rows_read, expected_keys.rows_read);
            prop_assert_eq!(keys.excluded_by_filter, expected_keys.excluded_by_filter);
            prop_assert_eq!(&keys.dimension_names, &expected_keys.dimension_names);
            prop_assert_eq!(&keys.dimension_values, &expected_keys.dimension_values);
            prop_assert_eq!(unit_rejects, expected_rejects);
            let shifted_pieces = unit_pieces
                .into_iter()
                .zip(&shifts)
                .map(|(pieces, shift)| pieces.into_iter().map(|p| shifted(p, shift)).collect())
                .collect();
            let expected = ranked(joined(whole_pieces), &expected_keys);
            prop_assert_eq!(ranked(joined(shifted_pieces), &keys), expected);
        }
    }
}
