//! The line collector: raw batches, in input order, into [`Lines`] and row
//! rejects.

use super::interner::Interner;
use super::row::validate_batch;
use super::sharded::ShardedInterner;
use super::{CodeVec, Lines, NO_CODE};
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::stages::raw::RawBatch;
use crate::stages::raw::RawText;
use crate::stages::rejects::Reject;

/// Validates raw batches one at a time, in input order, into [`Lines`] and
/// row rejects (with their raw records), so only one batch of raw input is
/// held in memory at once.
pub struct LineCollector<'a> {
    pipeline: &'a Pipeline,
    lines: Lines,
    rejects: Vec<Reject>,
    customers: ShardedInterner,
    orders: Option<ShardedInterner>,
    /// One interner per dimension column.
    dimensions: Vec<Interner>,
    current_file: Option<u32>,
}

impl<'a> LineCollector<'a> {
    /// `expected_rows` (when known) reserves the line vectors up front, so
    /// they are not over-allocated by doubling.
    pub fn new(pipeline: &'a Pipeline, expected_rows: usize) -> LineCollector<'a> {
        let hashed = pipeline.config.columns.order_id.is_some();
        let mut lines = Lines::default();
        lines.reserve(expected_rows, hashed);
        let names = &pipeline.config.columns.dimensions;
        lines.dimension_names = names.clone();
        // One byte a line until a dimension has 255 values (then it widens).
        lines.dimensions = names
            .iter()
            .map(|_| CodeVec::U8(Vec::with_capacity(expected_rows)))
            .collect();
        // Size the key tables for the expected rows (known for Parquet), so
        // they do not rehash tens of millions of entries as they grow: order
        // lines are typically 1–2 per order and orders several per customer.
        LineCollector {
            pipeline,
            lines,
            rejects: Vec::new(),
            customers: ShardedInterner::with_values(expected_rows / 16),
            orders: hashed.then(|| ShardedInterner::in_order_of_appearance(expected_rows / 2)),
            dimensions: names.iter().map(|_| Interner::with_values(0)).collect(),
            current_file: None,
        }
    }

    /// Validates one batch (the next rows of file `batch.file`; `path`
    /// names it in errors). `on_rows` is told how many rows each finished
    /// slice had (progress).
    pub fn push(
        &mut self,
        path: &std::path::Path,
        batch: &RawBatch,
        on_rows: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let as_input_error = |e: Error| input_error(path, e);
        self.start_batch(path, batch)?;
        let (validated, dimensions_done, customer_codes, order_codes) =
            self.check_and_code(batch, on_rows);
        dimensions_done.map_err(as_input_error)?;
        let (batch_lines, mut batch_rejects) = validated.map_err(as_input_error)?;
        if !batch_rejects.is_empty() {
            let rows: Vec<u32> = batch_rejects.iter().map(|r| r.row).collect();
            RawText::of_rows(batch, &rows)
                .map_err(as_input_error)?
                .fill(batch_rejects.iter_mut());
        }
        self.lines.append(batch_lines);
        self.rejects.append(&mut batch_rejects);
        if let Some(hashes) = &batch.line_hash {
            self.lines.line_hash.extend_from_slice(hashes);
        }
        self.lines
            .customer
            .extend(customer_codes.map_err(as_input_error)?);
        if let Some(codes) = order_codes.map_err(as_input_error)? {
            self.lines.order.extend(codes);
        }
        debug_assert_eq!(self.lines.customer.len(), self.lines.len());
        Ok(())
    }

    /// Refuses a batch that would take the lines past u32 indices, and
    /// records where a new file's lines start.
    fn start_batch(&mut self, path: &std::path::Path, batch: &RawBatch) -> Result<()> {
        // Line indices are u32 throughout (half the memory of usize).
        if self.lines.len() + batch.frame.height() >= NO_CODE as usize {
            return Err(Error::input(
                path,
                format!(
                    "the input has more than {} rows in all: split the history into several runs",
                    NO_CODE - 1
                ),
            ));
        }
        // One start per file index, files that gave no batch included, so
        // `Lines::source` maps a line to its own file whatever came before.
        if self.current_file != Some(batch.file) {
            self.current_file = Some(batch.file);
            while self.lines.file_starts.len() <= batch.file as usize {
                self.lines.file_starts.push(self.lines.len());
            }
        }
        Ok(())
    }

    /// Checks the batch's rows and codes its key and dimension columns
    /// (dimension codes are appended to the lines as they are made).
    fn check_and_code(&mut self, batch: &RawBatch, on_rows: &(dyn Fn(u64) + Sync)) -> BatchOutcome {
        // Checking rows and coding the two key columns are independent: run
        // them side by side (each key column is coded by its shards in
        // parallel; dimensions, with few values, by one interner each).
        let pipeline = self.pipeline;
        let mapping = &pipeline.config.columns;
        let (customers, orders) = (&mut self.customers, &mut self.orders);
        let first_line = self.lines.len();
        let (dimensions, dimension_codes) = (&mut self.dimensions, &mut self.lines.dimensions);
        let ((validated, dimensions_done), (customer_codes, order_codes)) = rayon::join(
            || {
                rayon::join(
                    || validate_batch(pipeline, batch, on_rows),
                    || {
                        for ((interner, name), codes) in dimensions
                            .iter_mut()
                            .zip(&mapping.dimensions)
                            .zip(dimension_codes.iter_mut())
                        {
                            interner.dimension_codes(&batch.frame, name, codes)?;
                        }
                        Ok::<(), Error>(())
                    },
                )
            },
            || {
                rayon::join(
                    || customers.codes(&batch.frame, &mapping.customer_id, first_line),
                    || match (orders, &mapping.order_id) {
                        (Some(interner), Some(name)) => {
                            interner.codes(&batch.frame, name, first_line).map(Some)
                        }
                        _ => Ok(None),
                    },
                )
            },
        );
        (validated, dimensions_done, customer_codes, order_codes)
    }

    /// The lines, with customer codes renumbered so that code order is id
    /// order and order codes dense, and the row rejects.
    pub fn finish(self) -> (Lines, Vec<Reject>) {
        let LineCollector {
            mut lines,
            rejects,
            customers,
            orders,
            dimensions,
            ..
        } = self;
        if let Some(orders) = orders {
            orders.by_first_line(lines.len()).apply(&mut lines.order);
        }
        for (interner, codes) in dimensions.into_iter().zip(lines.dimensions.iter_mut()) {
            let (rank, values) = interner.ranked();
            codes.remap(&rank);
            lines.dimension_values.push(values);
        }
        let (rank, values) = customers.ranked();
        rank.apply(&mut lines.customer);
        lines.customer_values = values;
        (lines, rejects)
    }
}

/// What [`LineCollector::check_and_code`] gives back, each part failing on
/// its own: the batch's lines and row rejects, whether the dimension
/// columns were coded, the customer codes and the order codes (when an
/// order id is mapped).
type BatchOutcome = (
    Result<(Lines, Vec<Reject>)>,
    Result<()>,
    Result<Vec<u32>>,
    Result<Option<Vec<u32>>>,
);

/// An error reading batch columns, as an error of the input file `path`.
fn input_error(path: &std::path::Path, e: Error) -> Error {
    match e {
        Error::Polars(p) => Error::input(path, p.to_string()),
        // A mapped column of a type we cannot read: the file is at fault.
        Error::Usage(message) => Error::input(path, message),
        other => other,
    }
}
