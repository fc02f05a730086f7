//! The line scatter: raw batches, in input order, checked row by row and
//! split by key hash into the partitions of the partitioned plan
//! (`stages::partition`). Keys are not coded here: a partition codes its
//! own when it is grouped, so no table of every id is ever held, and the
//! coding runs on every core, one partition per task.

use polars::prelude::*;
use rayon::prelude::*;

use super::interner::{key_hash, Interner};
use super::row::validate_batch;
use super::{trim_key, CodeVec, LineStatus, Lines, NO_CODE};
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::stages::customer_ranges::{CustomerRanges, LineSample};
use crate::stages::partition::{partition_of, KeyBytes, LinePart};
use crate::stages::raw::{text_of, RawBatch, RawText};
use crate::stages::rejects::Reject;

/// Checks raw batches one at a time, in input order, and splits their
/// lines by partition; keeps the row rejects (with their raw records) and
/// what the orders stage needs to know of all lines.
pub struct LineScatter<'a> {
    pipeline: &'a Pipeline,
    partitions: usize,
    keys: LineKeys,
    rejects: Vec<Reject>,
    /// One interner per dimension column: dimensions have few values, so
    /// one table each for the whole input is small.
    dimensions: Vec<Interner>,
    current_file: Option<u32>,
    /// Customer ids of a sample of the lines, where the customer
    /// partitions' ranges are cut (`stages::customer_ranges`).
    customer_sample: LineSample,
}

/// What is known of all lines once they are scattered: where each file's
/// lines start, how many were read and filtered, and the dimensions'
/// values.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct LineKeys {
    /// Index of the first line of each file read.
    pub file_starts: Vec<usize>,
    pub rows_read: u64,
    pub excluded_by_filter: u64,
    /// The configured dimension columns, in order.
    pub dimension_names: Vec<String>,
    /// Per dimension, its distinct values, sorted.
    pub dimension_values: Vec<Vec<String>>,
    /// Per dimension, the rank (final code) of each provisional code.
    pub dimension_ranks: Vec<Vec<u32>>,
    /// Which customer partition each customer id goes to.
    pub customer_ranges: CustomerRanges,
}

impl<'a> LineScatter<'a> {
    /// A scatter into `partitions` partitions that samples every
    /// `sample_step`-th line's customer id.
    pub fn new(pipeline: &'a Pipeline, partitions: usize, sample_step: usize) -> LineScatter<'a> {
        let names = &pipeline.config.columns.dimensions;
        LineScatter {
            pipeline,
            partitions,
            keys: LineKeys {
                dimension_names: names.clone(),
                ..Default::default()
            },
            rejects: Vec::new(),
            dimensions: names.iter().map(|_| Interner::with_values(0)).collect(),
            current_file: None,
            customer_sample: LineSample::every(sample_step),
        }
    }

    /// Checks one batch (the next rows of file `batch.file`; `path` names
    /// it in errors) and returns its lines, one piece per partition.
    /// `on_rows` is told how many rows each finished slice had (progress).
    pub fn push(
        &mut self,
        path: &std::path::Path,
        batch: &RawBatch,
        on_rows: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<LinePart>> {
        let as_input_error = |e: Error| input_error(path, e);
        let first_line = self.start_batch(path, batch)?;
        let pipeline = self.pipeline;
        let mapping = &pipeline.config.columns;
        let dimensions = &mut self.dimensions;
        // Checking rows, coding dimensions and reading the keys are
        // independent: side by side.
        let ((validated, dimension_codes), keys) = rayon::join(
            || {
                rayon::join(
                    || validate_batch(pipeline, batch, on_rows),
                    || dimension_codes(dimensions, &mapping.dimensions, &batch.frame),
                )
            },
            || {
                BatchKeys::of(
                    &batch.frame,
                    &mapping.customer_id,
                    mapping.order_id.as_deref(),
                )
            },
        );
        let (lines, mut rejects) = validated.map_err(as_input_error)?;
        let dimension_codes = dimension_codes.map_err(as_input_error)?;
        let keys = keys.map_err(as_input_error)?;
        if !rejects.is_empty() {
            let rows: Vec<u32> = rejects.iter().map(|r| r.row).collect();
            RawText::of_rows(batch, &rows)
                .map_err(as_input_error)?
                .fill(rejects.iter_mut());
        }
        self.rejects.append(&mut rejects);
        self.keys.excluded_by_filter += lines
            .status
            .iter()
            .filter(|s| **s == LineStatus::Filtered)
            .count() as u64;
        self.sample_customers(first_line, &lines, &keys.customer);
        let batch_lines = BatchLines {
            first_line,
            lines: &lines,
            line_hash: batch.line_hash.as_deref(),
            dimensions: &dimension_codes,
            keys: &keys,
        };
        Ok(batch_lines.split(self.partitions))
    }

    /// Refuses a batch that would take the lines past u32 indices, records
    /// where a new file's lines start, and returns the batch's first line.
    fn start_batch(&mut self, path: &std::path::Path, batch: &RawBatch) -> Result<usize> {
        let read = self.keys.rows_read as usize;
        // Line indices are u32 throughout (half the memory of usize).
        if read + batch.frame.height() >= NO_CODE as usize {
            return Err(Error::input(
                path,
                format!(
                    "the input has more than {} rows in all: split the history into several runs",
                    NO_CODE - 1
                ),
            ));
        }
        // One start per file index, files that gave no batch included, so
        // a line maps to its own file whatever came before.
        if self.current_file != Some(batch.file) {
            self.current_file = Some(batch.file);
            while self.keys.file_starts.len() <= batch.file as usize {
                self.keys.file_starts.push(read);
            }
        }
        self.keys.rows_read += batch.frame.height() as u64;
        Ok(read)
    }

    /// Adds the customer ids of the valid sampled lines of a batch whose
    /// first line is `first_line`.
    fn sample_customers(&mut self, first_line: usize, lines: &Lines, customer: &StringChunked) {
        let Some(ids) = customer.downcast_iter().next() else {
            return;
        };
        self.customer_sample.add_lines(first_line, ids.len(), |i| {
            let id = ids.get(i).map_or("", trim_key);
            (lines.status[i] == LineStatus::Valid && !id.is_empty()).then_some(id.as_bytes())
        });
    }

    /// What is known of all lines, with the dimensions' values ranked and
    /// the customer ranges cut, and the row rejects.
    pub fn finish(self) -> (LineKeys, Vec<Reject>) {
        let partitions = self.partitions;
        let (mut keys, sample, rejects) = self.finish_uncut();
        keys.customer_ranges = CustomerRanges::of_sample(sample, partitions);
        (keys, rejects)
    }

    /// The keys with the dimensions' values ranked but the customer
    /// ranges not cut, their sample, and the row rejects: what a read
    /// unit's scatter knows, merged with the other units' before the
    /// ranges are cut (`super::units`).
    pub fn finish_uncut(self) -> (LineKeys, Vec<Vec<u8>>, Vec<Reject>) {
        let LineScatter {
            mut keys,
            rejects,
            dimensions,
            customer_sample,
            ..
        } = self;
        for interner in dimensions {
            let (rank, values) = interner.ranked();
            keys.dimension_ranks.push(rank);
            keys.dimension_values.push(values);
        }
        (keys, customer_sample.into_ids(), rejects)
    }
}

/// Provisional codes of each dimension column of a batch.
fn dimension_codes(
    interners: &mut [Interner],
    names: &[String],
    frame: &DataFrame,
) -> Result<Vec<CodeVec>> {
    interners
        .iter_mut()
        .zip(names)
        .map(|(interner, name)| {
            let mut codes = CodeVec::default();
            interner.dimension_codes(frame, name, &mut codes)?;
            Ok(codes)
        })
        .collect()
}

/// A batch's key columns as text, and the hash of the key each line is
/// partitioned by: its order id when one is mapped, else its customer id.
struct BatchKeys {
    customer: StringChunked,
    order: Option<StringChunked>,
    /// [`MISSING`] for a null or blank key.
    route: Vec<u64>,
}

impl BatchKeys {
    fn of(frame: &DataFrame, customer: &str, order: Option<&str>) -> Result<BatchKeys> {
        let customer = text_of(frame.column(customer)?)?.rechunk().into_owned();
        let order = match order {
            Some(name) => Some(text_of(frame.column(name)?)?.rechunk().into_owned()),
            None => None,
        };
        let route = key_hashes(order.as_ref().unwrap_or(&customer));
        Ok(BatchKeys {
            customer,
            order,
            route,
        })
    }
}

/// One checked batch, ready to be split by partition.
struct BatchLines<'b> {
    first_line: usize,
    lines: &'b Lines,
    line_hash: Option<&'b [u64]>,
    dimensions: &'b [CodeVec],
    keys: &'b BatchKeys,
}

impl BatchLines<'_> {
    /// Which rows go to a partition: with an order id, every row that has
    /// one and is not filtered out (a rejected line still makes its order
    /// bad); without one, the valid rows (each its own order).
    fn goes_to_an_order(&self, i: usize) -> bool {
        let status = self.lines.status[i];
        match self.keys.order {
            Some(_) => status != LineStatus::Filtered && self.keys.route[i] != MISSING,
            None => status == LineStatus::Valid,
        }
    }

    /// The batch's lines, one piece per partition (in row order within
    /// each), built on every core.
    fn split(&self, partitions: usize) -> Vec<LinePart> {
        let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); partitions];
        for (i, &hash) in self.keys.route.iter().enumerate() {
            if self.goes_to_an_order(i) {
                rows_of[partition_of(hash, partitions)].push(i as u32);
            }
        }
        rows_of.par_iter().map(|rows| self.piece(rows)).collect()
    }

    fn piece(&self, rows: &[u32]) -> LinePart {
        let lines = self.lines;
        let at = |i: &u32| *i as usize;
        let mut part = LinePart {
            line: rows
                .iter()
                .map(|&i| (self.first_line + i as usize) as u32)
                .collect(),
            rejected: rows
                .iter()
                .map(|i| lines.status[at(i)] == LineStatus::Rejected)
                .collect(),
            ts_micros: rows.iter().map(|i| lines.ts_micros[at(i)]).collect(),
            day: rows.iter().map(|i| lines.day[at(i)]).collect(),
            cents: rows.iter().map(|i| lines.cents[at(i)]).collect(),
            line_hash: match self.line_hash {
                Some(hashes) => rows.iter().map(|i| hashes[at(i)]).collect(),
                None => Vec::new(),
            },
            dimensions: self
                .dimensions
                .iter()
                .map(|codes| rows.iter().map(|i| codes.get(at(i))).collect())
                .collect(),
            ..Default::default()
        };
        push_trimmed(&self.keys.customer, rows, &mut part.customer);
        if let Some(order) = &self.keys.order {
            push_trimmed(order, rows, &mut part.order);
        }
        part
    }
}

/// Appends the trimmed values of `rows` of a one-chunk text column to
/// `keys` (a null as a missing key).
fn push_trimmed(text: &StringChunked, rows: &[u32], keys: &mut KeyBytes) {
    let array = text.downcast_iter().next();
    // Sized once from the untrimmed lengths (in the views, no text read):
    // growing by doubling copied the keys again and again into new pages.
    // (A key of 255 bytes or more takes 4 more for its length: rare
    // enough to be left to growth.)
    let bytes: usize = array.map_or(0, |array| {
        let views = array.views();
        // A null's view is not read: its length is not defined.
        let length = |i: u32| match array.get(i as usize) {
            Some(_) => views[i as usize].length as usize,
            None => 0,
        };
        rows.iter().map(|&i| length(i)).sum()
    });
    keys.reserve(rows.len(), bytes);
    for &i in rows {
        let value = array.and_then(|a| a.get(i as usize)).map_or("", trim_key);
        keys.push(value.as_bytes());
    }
}

/// The hash of a missing key (null or blank). A key whose hash is this is
/// given the next one down (hashes only choose a partition and a slot;
/// the interners compare the keys themselves).
const MISSING: u64 = u64::MAX;

/// Rows hashed per parallel task.
const PIECE_ROWS: usize = 64 * 1024;

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
        .map(|i| match array.get(i).map(trim_key) {
            None | Some("") => MISSING,
            Some(v) => key_hash(v.as_bytes()).min(MISSING - 1),
        })
        .collect_into_vec(&mut hashes);
    hashes
}

/// An error reading batch columns, as an error of the input file `path`.
fn input_error(path: &std::path::Path, e: Error) -> Error {
    match e {
        Error::Polars(p) => Error::input(path, p.to_string()),
        // A mapped column of a type we cannot read: the file is at fault.
        Error::Usage(message) => Error::input(path, message),
        other => other,
    }
}
