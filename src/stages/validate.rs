//! Validate: raw rows → typed order lines, or a reject with its reason.
//!
//! Input: the raw frames of `io::input` (source columns in their own types).
//! Output: [`Lines`], one entry per row read, with its status (accepted so
//! far, rejected, excluded by a filter), the customer id, order key, the
//! timestamp placed in the business time zone and the amount in integer
//! cents. Rows are checked in parallel slices; the output keeps input order.

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::config::{FilterConfig, Pipeline};
use crate::error::{Error, Result};
use crate::expr::{
    decimal_from_f64, parse_decimal, plain_cents, plain_float_cents, to_cents, whole_cents,
    AmountError, AmountExpr, ParseNumberError,
};
use crate::io::input::RawBatch;
use crate::io::rows::{text_of, ROW_COLUMN};
use crate::stages::rejects::{RawText, Reject, RejectReason};
use crate::time::{
    checked_date_of, date_of, parse_timestamp, place_date, place_instant, place_local,
    PlacedTimestamp, TimestampError, TimestampFormat,
};

/// 1900-01-01 and 2200-12-31 as day numbers: the accepted order dates.
const MIN_DAY: i32 = -25_567;
const MAX_DAY: i32 = 84_370;

/// Code of a missing key.
pub const NO_CODE: u32 = u32::MAX;

/// Rows handled per parallel task.
const SLICE_ROWS: usize = 256 * 1024;

/// What became of a row so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    Valid,
    Rejected,
    Filtered,
}

/// Every row read, typed. Vectors are parallel; entry `i` is one row, in
/// file order and, within a file, in row order (so a line's file and row
/// follow from its index: [`Lines::source`]).
#[derive(Debug, Default)]
pub struct Lines {
    /// Index of the first line of each file read.
    pub file_starts: Vec<usize>,
    pub status: Vec<LineStatus>,
    /// Dense code of the trimmed customer id (its rank among the distinct
    /// ids, so code order is id order); [`NO_CODE`] when missing.
    pub customer: Vec<u32>,
    /// Dense code of the order id; empty without an order-id mapping
    /// (every row its own order).
    pub order: Vec<u32>,
    /// The distinct customer ids, sorted: `customer_values[code]`.
    pub customer_values: Vec<String>,
    pub ts_micros: Vec<i64>,
    pub day: Vec<i32>,
    pub cents: Vec<i64>,
    /// Hash of the row's whole content; empty without an order id.
    pub line_hash: Vec<u64>,
    /// The configured dimension columns (`[columns] dimensions`), in order.
    pub dimension_names: Vec<String>,
    /// Per dimension, the code of each line's trimmed value (its rank among
    /// the dimension's distinct values after [`LineCollector::finish`], so
    /// code order is value order); [`NO_CODE`] when null or blank. Empty
    /// without dimensions: no memory per line then.
    pub dimensions: Vec<CodeVec>,
    /// Per dimension, its distinct values, sorted: `dimension_values[d][code]`.
    pub dimension_values: Vec<Vec<String>>,
}

/// Codes stored as narrow as the largest code allows: one byte while a
/// dimension has fewer than 255 values, two below 65,535, four beyond. The
/// widest value of each width stands for [`NO_CODE`]. Dimension columns have
/// few values in practice, but nothing here assumes it.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeVec {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Default for CodeVec {
    fn default() -> Self {
        CodeVec::U8(Vec::new())
    }
}

impl CodeVec {
    pub fn len(&self) -> usize {
        match self {
            CodeVec::U8(v) => v.len(),
            CodeVec::U16(v) => v.len(),
            CodeVec::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The code at `i` ([`NO_CODE`] for a missing value).
    pub fn get(&self, i: usize) -> u32 {
        match self {
            CodeVec::U8(v) => match v[i] {
                u8::MAX => NO_CODE,
                x => x as u32,
            },
            CodeVec::U16(v) => match v[i] {
                u16::MAX => NO_CODE,
                x => x as u32,
            },
            CodeVec::U32(v) => v[i],
        }
    }

    /// Widens the storage until `code` fits.
    fn fit(&mut self, code: u32) {
        if code == NO_CODE {
            return;
        }
        let widen16 = |v: &[u8]| {
            v.iter()
                .map(|&x| if x == u8::MAX { u16::MAX } else { x as u16 })
                .collect::<Vec<u16>>()
        };
        if let CodeVec::U8(v) = self {
            if code >= u8::MAX as u32 {
                *self = CodeVec::U16(widen16(v));
            }
        }
        if let CodeVec::U16(v) = self {
            if code >= u16::MAX as u32 {
                *self = CodeVec::U32(
                    v.iter()
                        .map(|&x| if x == u16::MAX { NO_CODE } else { x as u32 })
                        .collect(),
                );
            }
        }
    }

    pub fn push(&mut self, code: u32) {
        self.fit(code);
        match self {
            CodeVec::U8(v) => v.push(if code == NO_CODE { u8::MAX } else { code as u8 }),
            CodeVec::U16(v) => v.push(if code == NO_CODE {
                u16::MAX
            } else {
                code as u16
            }),
            CodeVec::U32(v) => v.push(code),
        }
    }

    /// Replaces every code `x` (not [`NO_CODE`]) by `map[x]`; the new codes
    /// must fit the current width (a permutation does).
    fn remap(&mut self, map: &[u32]) {
        match self {
            CodeVec::U8(v) => v
                .par_iter_mut()
                .filter(|x| **x != u8::MAX)
                .for_each(|x| *x = map[*x as usize] as u8),
            CodeVec::U16(v) => v
                .par_iter_mut()
                .filter(|x| **x != u16::MAX)
                .for_each(|x| *x = map[*x as usize] as u16),
            CodeVec::U32(v) => v
                .par_iter_mut()
                .filter(|x| **x != NO_CODE)
                .for_each(|x| *x = map[*x as usize]),
        }
    }
}

impl Lines {
    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    /// The file index and 1-based data row of line `i`.
    pub fn source(&self, i: usize) -> (u32, u32) {
        let file = self.file_starts.partition_point(|&start| start <= i) - 1;
        (file as u32, (i - self.file_starts[file] + 1) as u32)
    }

    fn append(&mut self, mut other: Lines) {
        self.status.append(&mut other.status);
        self.ts_micros.append(&mut other.ts_micros);
        self.day.append(&mut other.day);
        self.cents.append(&mut other.cents);
    }

    fn reserve(&mut self, rows: usize, hashed: bool) {
        self.status.reserve_exact(rows);
        self.customer.reserve_exact(rows);
        if hashed {
            self.order.reserve_exact(rows);
            self.line_hash.reserve_exact(rows);
        }
        self.ts_micros.reserve_exact(rows);
        self.day.reserve_exact(rows);
        self.cents.reserve_exact(rows);
    }
}

/// Validates raw batches one at a time, in input order, into [`Lines`] and
/// row rejects (with their raw records), so only one batch of raw input is
/// held in memory at once.
pub struct LineCollector<'a> {
    pipeline: &'a Pipeline,
    lines: Lines,
    rejects: Vec<Reject>,
    customers: Interner,
    orders: Option<Interner>,
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
            customers: Interner::with_values(expected_rows / 16),
            orders: hashed.then(|| Interner::with_capacity(expected_rows / 2)),
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
        let as_input_error = |e: Error| match e {
            Error::Polars(p) => Error::input(path, p.to_string()),
            // A mapped column of a type we cannot read: the file is at fault.
            Error::Usage(message) => Error::input(path, message),
            other => other,
        };
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
        // Checking rows and coding the two key columns are independent: run
        // them side by side (the interners are sequential, one per column).
        let pipeline = self.pipeline;
        let mapping = &pipeline.config.columns;
        let (customers, orders) = (&mut self.customers, &mut self.orders);
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
                    || customers.codes(&batch.frame, &mapping.customer_id),
                    || match (orders, &mapping.order_id) {
                        (Some(interner), Some(name)) => {
                            interner.codes(&batch.frame, name).map(Some)
                        }
                        _ => Ok(None),
                    },
                )
            },
        );
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

    /// The lines, with customer codes renumbered so that code order is id
    /// order, and the row rejects.
    pub fn finish(self) -> (Lines, Vec<Reject>) {
        let LineCollector {
            mut lines,
            rejects,
            customers,
            orders,
            dimensions,
            ..
        } = self;
        drop(orders);
        for (interner, codes) in dimensions.into_iter().zip(lines.dimensions.iter_mut()) {
            let (rank, values) = interner.ranked();
            codes.remap(&rank);
            lines.dimension_values.push(values);
        }
        let (rank, values) = customers.ranked();
        lines
            .customer
            .par_iter_mut()
            .filter(|c| **c != NO_CODE)
            .for_each(|c| *c = rank[*c as usize]);
        lines.customer_values = values;
        (lines, rejects)
    }
}

/// Distinct key values (trimmed text) with dense codes in order of first
/// appearance. Values of up to 15 bytes (nearly every customer and order
/// id) are stored inline in the table, so a lookup touches one slot and
/// compares 16 bytes; longer ones live in a side buffer. At 100 million
/// order ids this takes about a third of the memory of a map from owned
/// strings. Written here because no crate offers an append-only interner
/// that keeps short keys inline in a table of codes.
#[derive(Default)]
struct Interner {
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
    fn with_capacity(values: usize) -> Interner {
        Interner {
            table: hashbrown::HashTable::with_capacity(values),
            ..Default::default()
        }
    }

    /// An interner that also keeps every value, for [`Interner::ranked`].
    fn with_values(capacity: usize) -> Interner {
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
    fn codes(&mut self, frame: &DataFrame, column: &str) -> Result<Vec<u32>> {
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
    fn dimension_codes(
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
    fn ranked(self) -> (Vec<u32>, Vec<String>) {
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

/// A timestamp column (orders' `order_ts`, surveys' `response_ts`)
/// prepared for row access in one of the shapes we accept.
pub enum TsColumn {
    Text(StringChunked),
    Days(Int32Chunked),
    /// Microseconds; `true` when the column carries a time zone (an instant)
    /// rather than a naive wall-clock time.
    Micros(Int64Chunked, bool),
}

impl TsColumn {
    /// Column `name` of `frame`; `role` names it in the error for a column
    /// of another type (e.g. "order_ts").
    pub fn of(frame: &DataFrame, name: &str, role: &str) -> Result<TsColumn> {
        let column = frame.column(name)?;
        Ok(match column.dtype() {
            DataType::String => TsColumn::Text(column.str()?.clone()),
            DataType::Date => TsColumn::Days(column.cast(&DataType::Int32)?.i32()?.clone()),
            DataType::Datetime(_, tz) => {
                let has_zone = tz.is_some();
                let micros = column
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, tz.clone()))?
                    .cast(&DataType::Int64)?;
                TsColumn::Micros(micros.i64()?.clone(), has_zone)
            }
            other => {
                return Err(Error::Usage(format!(
                    "column `{name}` ({role}) has type {other}: expected text, date or timestamp"
                )))
            }
        })
    }

    /// Row `i` placed on the business calendar, or why it cannot be: the
    /// reject reason and the raw value. Dates outside 1900–2200 are
    /// placeholders (0001-01-01, 9999-12-31) or unit mix-ups, and would also
    /// stretch the month calendar absurdly.
    pub fn place(
        &self,
        i: usize,
        format: &TimestampFormat,
        tz: chrono_tz::Tz,
    ) -> std::result::Result<PlacedTimestamp, (RejectReason, Option<String>)> {
        let problem = |e: TimestampError, raw: Option<String>| {
            let reason = match e {
                TimestampError::Missing => RejectReason::MissingTimestamp,
                TimestampError::Unparseable => RejectReason::InvalidTimestamp,
                TimestampError::Nonexistent => RejectReason::NonexistentLocalTime,
                TimestampError::Ambiguous => RejectReason::AmbiguousLocalTime,
                TimestampError::OutOfRange => RejectReason::TimestampOutOfRange,
            };
            (reason, raw)
        };
        let placed = match self {
            TsColumn::Text(ca) => match ca.get(i) {
                None => Err(problem(TimestampError::Missing, None)),
                Some(text) => parse_timestamp(text, format, tz)
                    .map_err(|e| problem(e, Some(text.to_string()))),
            },
            TsColumn::Days(ca) => match ca.get(i) {
                None => Err(problem(TimestampError::Missing, None)),
                Some(day) => checked_date_of(day)
                    .ok_or(TimestampError::OutOfRange)
                    .and_then(|date| place_date(date, tz))
                    .map_err(|e| {
                        let raw =
                            checked_date_of(day).map_or(format!("day {day}"), |d| d.to_string());
                        problem(e, Some(raw))
                    }),
            },
            TsColumn::Micros(ca, is_instant) => match ca.get(i) {
                None => Err(problem(TimestampError::Missing, None)),
                Some(micros) if *is_instant => {
                    place_instant(micros, tz).map_err(|e| problem(e, Some(micros.to_string())))
                }
                Some(micros) => match chrono::DateTime::from_timestamp_micros(micros) {
                    Some(dt) => place_local(dt.naive_utc(), tz)
                        .map_err(|e| problem(e, Some(dt.naive_utc().to_string()))),
                    None => Err(problem(
                        TimestampError::OutOfRange,
                        Some(micros.to_string()),
                    )),
                },
            },
        }?;
        if !(MIN_DAY..=MAX_DAY).contains(&placed.local_day) {
            return Err((
                RejectReason::TimestampOutOfRange,
                Some(date_of(placed.local_day).to_string()),
            ));
        }
        Ok(placed)
    }
}

/// A numeric column (orders' amount columns, surveys' `score`) prepared
/// for row access: text is parsed row by row, so a bad value becomes a
/// reject rather than a failed column.
pub enum NumberColumn {
    Text(StringChunked),
    Int(Int64Chunked),
    Float(Float64Chunked),
}

impl NumberColumn {
    /// Column `name` of `frame`; `role` and `expected` word the error for a
    /// column of another type (e.g. "amount", "a number or text").
    pub fn of(frame: &DataFrame, name: &str, role: &str, expected: &str) -> Result<NumberColumn> {
        let column = frame.column(name)?;
        let dtype = column.dtype();
        Ok(if dtype.is_string() {
            NumberColumn::Text(column.str()?.clone())
        } else if dtype.is_integer() {
            NumberColumn::Int(column.cast(&DataType::Int64)?.i64()?.clone())
        } else if dtype.is_float() {
            NumberColumn::Float(column.cast(&DataType::Float64)?.f64()?.clone())
        } else {
            return Err(Error::Usage(format!(
                "column `{name}` ({role}) has type {dtype}: expected {expected}"
            )));
        })
    }
}

fn validate_batch(
    pipeline: &Pipeline,
    batch: &RawBatch,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<(Lines, Vec<Reject>)> {
    let height = batch.frame.height();
    let slices: Vec<(usize, usize)> = (0..height)
        .step_by(SLICE_ROWS)
        .map(|start| (start, SLICE_ROWS.min(height - start)))
        .collect();
    let results: Vec<Result<(Lines, Vec<Reject>)>> = slices
        .par_iter()
        .map(|&(start, len)| {
            let frame = batch.frame.slice(start as i64, len);
            let result = validate_slice(pipeline, batch.file, &frame);
            on_rows(len as u64);
            result
        })
        .collect();
    let mut lines = Lines::default();
    let mut rejects = Vec::new();
    for result in results {
        let (l, r) = result?;
        lines.append(l);
        rejects.extend(r);
    }
    Ok((lines, rejects))
}

fn text_column(frame: &DataFrame, name: &str) -> Result<StringChunked> {
    Ok(text_of(frame.column(name)?)?)
}

fn validate_slice(
    pipeline: &Pipeline,
    file: u32,
    frame: &DataFrame,
) -> Result<(Lines, Vec<Reject>)> {
    let mapping = &pipeline.config.columns;
    let csv = &pipeline.config.input.csv;
    let tz = pipeline.time_zone;
    let ts_format = TimestampFormat::new(csv.timestamp_format.as_deref());
    let n = frame.height();

    let rows: Vec<u32> = frame
        .column(ROW_COLUMN)?
        .cast(&DataType::UInt32)?
        .u32()?
        .into_no_null_iter()
        .collect();
    let customer_ca = text_column(frame, &mapping.customer_id)?;
    let customer_values: Vec<Option<&str>> = customer_ca.iter().collect();
    let order_ca = match &mapping.order_id {
        Some(name) => Some(text_column(frame, name)?),
        None => None,
    };
    let order_values: Option<Vec<Option<&str>>> = order_ca.as_ref().map(|ca| ca.iter().collect());
    let ts = TsColumn::of(frame, &mapping.order_ts, "order_ts")?;
    let amount_columns: Vec<(String, NumberColumn)> = pipeline
        .amount
        .columns()
        .into_iter()
        .map(|name| NumberColumn::of(frame, &name, "amount", "a number or text").map(|c| (name, c)))
        .collect::<Result<_>>()?;
    let filter_columns: Vec<(usize, StringChunked)> = pipeline
        .filters
        .iter()
        .enumerate()
        .map(|(i, (name, _))| text_column(frame, name).map(|c| (i, c)))
        .collect::<Result<_>>()?;

    // Key codes and line hashes are added by the collector.
    let mut out = Lines {
        status: Vec::with_capacity(n),
        ts_micros: Vec::with_capacity(n),
        day: Vec::with_capacity(n),
        cents: Vec::with_capacity(n),
        ..Default::default()
    };
    let mut rejects = Vec::new();

    for (i, &row) in rows.iter().enumerate() {
        let filtered = filter_columns
            .iter()
            .any(|(f, column)| FilterConfig::matches(&pipeline.filters[*f].1, column.get(i)));
        if filtered {
            out.push_invalid(LineStatus::Filtered);
            continue;
        }
        let checked = check_row(
            i,
            &customer_values,
            order_values.as_deref(),
            mapping,
            &ts,
            &ts_format,
            tz,
            &amount_columns,
            pipeline,
            csv.decimal_comma,
        );
        match checked {
            Ok((placed_micros, day, cents)) => {
                out.status.push(LineStatus::Valid);
                out.ts_micros.push(placed_micros);
                out.day.push(day);
                out.cents.push(cents);
            }
            Err((reason, column, value)) => {
                rejects.push(Reject {
                    file,
                    row,
                    reason,
                    column: Some(column),
                    value,
                    raw: None,
                });
                out.push_invalid(LineStatus::Rejected);
            }
        }
    }
    Ok((out, rejects))
}

impl Lines {
    fn push_invalid(&mut self, status: LineStatus) {
        self.status.push(status);
        self.ts_micros.push(0);
        self.day.push(0);
        self.cents.push(0);
    }
}

type RowProblem = (RejectReason, String, Option<String>);

#[allow(clippy::too_many_arguments)]
fn check_row(
    i: usize,
    customer: &[Option<&str>],
    order: Option<&[Option<&str>]>,
    mapping: &crate::config::ColumnMapping,
    ts: &TsColumn,
    ts_format: &TimestampFormat,
    tz: chrono_tz::Tz,
    amount_columns: &[(String, NumberColumn)],
    pipeline: &Pipeline,
    decimal_comma: bool,
) -> std::result::Result<(i64, i32, i64), RowProblem> {
    match customer[i].map(str::trim) {
        Some(id) if !id.is_empty() => {}
        other => {
            return Err((
                RejectReason::MissingCustomerId,
                mapping.customer_id.clone(),
                other.map(str::to_string),
            ))
        }
    };
    if let (Some(order), Some(name)) = (order, &mapping.order_id) {
        if order[i].is_none_or(|s| s.trim().is_empty()) {
            return Err((
                RejectReason::MissingOrderId,
                name.clone(),
                order[i].map(str::to_string),
            ));
        }
    }
    let placed = ts
        .place(i, ts_format, tz)
        .map_err(|(reason, raw)| (reason, mapping.order_ts.clone(), raw))?;
    // The common case, one plain amount column, skips the decimal machinery.
    if let AmountExpr::Column(name) = &pipeline.amount {
        let fast = amount_columns.first().and_then(|(_, column)| match column {
            NumberColumn::Text(ca) => ca.get(i).and_then(|t| plain_cents(t, decimal_comma)),
            NumberColumn::Int(ca) => ca.get(i).and_then(whole_cents),
            NumberColumn::Float(ca) => ca.get(i).and_then(plain_float_cents),
        });
        if let Some(cents) = fast {
            debug_assert_eq!(&amount_columns[0].0, name);
            return Ok((placed.utc_micros, placed.local_day, cents));
        }
    }
    let lookup = |name: &str| -> std::result::Result<Decimal, AmountError> {
        let column = amount_columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| AmountError::Missing(name.to_string()))?;
        let parsed = match column {
            NumberColumn::Text(ca) => match ca.get(i) {
                None => Err(ParseNumberError::Empty),
                Some(text) => parse_decimal(text, decimal_comma),
            },
            NumberColumn::Int(ca) => ca.get(i).map(Decimal::from).ok_or(ParseNumberError::Empty),
            NumberColumn::Float(ca) => match ca.get(i) {
                None => Err(ParseNumberError::Empty),
                Some(x) => decimal_from_f64(x),
            },
        };
        parsed.map_err(|e| match e {
            ParseNumberError::Empty => AmountError::Missing(name.to_string()),
            ParseNumberError::NotNumeric => AmountError::NotNumeric(name.to_string()),
            ParseNumberError::NotFinite => AmountError::NotFinite(name.to_string()),
            ParseNumberError::OutOfRange => AmountError::OutOfRange(name.to_string()),
        })
    };
    let raw_value = |name: &str| -> Option<String> {
        amount_columns
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| match c {
                NumberColumn::Text(ca) => ca.get(i).map(str::to_string),
                NumberColumn::Int(ca) => ca.get(i).map(|v| v.to_string()),
                NumberColumn::Float(ca) => ca.get(i).map(|v| v.to_string()),
            })
    };
    let amount_problem = |reason: RejectReason, name: String| {
        let value = raw_value(&name);
        (reason, name, value)
    };
    let cents = match pipeline.amount.eval(&lookup) {
        Ok(value) => to_cents(value).ok_or_else(|| {
            amount_problem(RejectReason::AmountOutOfRange, mapping.amount.clone())
        })?,
        Err(AmountError::Missing(name)) => {
            return Err(amount_problem(RejectReason::MissingAmount, name))
        }
        Err(AmountError::NotNumeric(name)) => {
            return Err(amount_problem(RejectReason::InvalidAmount, name))
        }
        Err(AmountError::NotFinite(name)) => {
            return Err(amount_problem(RejectReason::NonFiniteAmount, name))
        }
        Err(AmountError::OutOfRange(name)) => {
            return Err(amount_problem(RejectReason::AmountOutOfRange, name))
        }
    };
    Ok((placed.utc_micros, placed.local_day, cents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_widen_as_values_grow_and_keep_missing() {
        let mut codes = CodeVec::default();
        codes.push(3);
        codes.push(NO_CODE);
        assert!(matches!(codes, CodeVec::U8(_)));
        codes.push(254);
        assert!(matches!(codes, CodeVec::U8(_)));
        codes.push(255);
        assert!(matches!(codes, CodeVec::U16(_)));
        codes.push(70_000);
        assert!(matches!(codes, CodeVec::U32(_)));
        codes.push(NO_CODE);
        let got: Vec<u32> = (0..codes.len()).map(|i| codes.get(i)).collect();
        assert_eq!(got, vec![3, NO_CODE, 254, 255, 70_000, NO_CODE]);
    }

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
