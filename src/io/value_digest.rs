//! A digest of a frame's values, column by column: how a published file is
//! checked against what was computed without building its rows twice.
//!
//! Publishing used to build every piece of a table again after writing it
//! and compare the rebuilt frame with the one read back from the file: at
//! 100 M orders that rebuild was about 5 of the publish step's 17.5 s. Now
//! each piece's digest is taken as it is built for writing, and the piece
//! read back must have the same digest.
//!
//! A column's digest is two 128-bit XXH3 hashes (the `xxhash-rust` crate,
//! which Polars already builds): one of where its nulls are, one of its
//! values. Both are taken over a canonical byte stream, so how Polars
//! chunks a column, and whether a column without nulls carries a validity
//! bitmap, do not change them:
//!
//! - where the nulls are: the lengths (8 bytes each) of the column's
//!   alternating runs of values and nulls, a run of values first (of
//!   length 0 when the column starts with a null);
//! - the values, nulls left out: numbers (dates and timestamps by their
//!   integer) by their native bytes, floats by their bits (so -0.0 and 0.0
//!   differ, and a NaN equals only itself); booleans one byte each; text
//!   each value's byte length (8 bytes) then its bytes.
//!
//! Runs of values are hashed straight from the column's buffers, and a
//! chunk of nulls costs nothing a row. Two different pieces hash alike by
//! chance with probability about 2^-128 a column; the hash is not meant to
//! withstand someone crafting values, which a run's own tables are not.

use polars::prelude::*;
use polars_arrow::array::Array as _;
use polars_arrow::bitmap::utils::SlicesIterator;
use polars_arrow::bitmap::Bitmap;
use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

/// Per column, in order, the digest of where its nulls are and of its
/// values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDigest(Vec<ColumnDigest>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ColumnDigest {
    nulls: u128,
    values: u128,
}

impl FrameDigest {
    /// The digest of `frame`'s columns (side by side: a piece of
    /// `customers` is some thirty columns). Fails for a column type that
    /// is not published (nested, categorical, …).
    pub fn of(frame: &DataFrame) -> PolarsResult<FrameDigest> {
        let columns = frame
            .columns()
            .par_iter()
            .map(column_digest)
            .collect::<PolarsResult<Vec<_>>>()?;
        Ok(FrameDigest(columns))
    }

    /// The index of the first column whose digest differs from `other`'s
    /// (or the first one past the shorter), `None` when they are equal.
    pub fn first_difference(&self, other: &FrameDigest) -> Option<usize> {
        let differs = self.0.iter().zip(&other.0).position(|(a, b)| a != b);
        match (differs, self.0.len() == other.0.len()) {
            (Some(i), _) => Some(i),
            (None, true) => None,
            (None, false) => Some(self.0.len().min(other.0.len())),
        }
    }
}

fn column_digest(column: &Column) -> PolarsResult<ColumnDigest> {
    let series = column.as_materialized_series().to_physical_repr();
    let mut hasher = ColumnHasher::default();
    match series.dtype() {
        DataType::Int32 => numbers(series.i32()?, &mut hasher),
        DataType::Int64 => numbers(series.i64()?, &mut hasher),
        DataType::Float64 => numbers(series.f64()?, &mut hasher),
        DataType::Boolean => booleans(series.bool()?, &mut hasher),
        DataType::String => texts(series.str()?, &mut hasher),
        other => polars_bail!(
            ComputeError: "column `{}` has type {other}, which cannot be checked after writing",
            column.name()
        ),
    }
    Ok(hasher.finish())
}

/// The two streams of a column being digested.
#[derive(Default)]
struct ColumnHasher {
    nulls: Xxh3,
    values: Xxh3,
    /// Whether the current run is of nulls, and its length so far.
    in_nulls: bool,
    run: u64,
}

impl ColumnHasher {
    /// Adds `rows` rows that are all values, or all nulls.
    fn add_run(&mut self, nulls: bool, rows: usize) {
        if rows == 0 {
            return;
        }
        if nulls != self.in_nulls {
            self.nulls.update(&self.run.to_le_bytes());
            (self.in_nulls, self.run) = (nulls, 0);
        }
        self.run += rows as u64;
    }

    /// Adds a chunk of `len` rows whose validity is `validity`, and hands
    /// each run of values (start, length) to `values`.
    fn add_chunk(
        &mut self,
        validity: Option<&Bitmap>,
        len: usize,
        mut values: impl FnMut(&mut Xxh3, usize, usize),
    ) {
        let Some(bits) = validity.filter(|bits| bits.unset_bits() > 0) else {
            self.add_run(false, len);
            values(&mut self.values, 0, len);
            return;
        };
        let mut at = 0;
        for (start, length) in SlicesIterator::new(bits) {
            self.add_run(true, start - at);
            self.add_run(false, length);
            values(&mut self.values, start, length);
            at = start + length;
        }
        self.add_run(true, len - at);
    }

    fn finish(mut self) -> ColumnDigest {
        self.nulls.update(&self.run.to_le_bytes());
        ColumnDigest {
            nulls: self.nulls.digest128(),
            values: self.values.digest128(),
        }
    }
}

fn numbers<T: PolarsNumericType>(column: &ChunkedArray<T>, hasher: &mut ColumnHasher) {
    for chunk in column.downcast_iter() {
        let all = chunk.values().as_slice();
        hasher.add_chunk(chunk.validity(), chunk.len(), |values, start, length| {
            values.update(bytemuck::cast_slice(&all[start..start + length]));
        });
    }
}

fn booleans(column: &BooleanChunked, hasher: &mut ColumnHasher) {
    for chunk in column.downcast_iter() {
        let all = chunk.values();
        hasher.add_chunk(chunk.validity(), chunk.len(), |values, start, length| {
            let bytes: Vec<u8> = (start..start + length)
                .map(|i| u8::from(all.get_bit(i)))
                .collect();
            values.update(&bytes);
        });
    }
}

fn texts(column: &StringChunked, hasher: &mut ColumnHasher) {
    let mut bytes = Vec::new();
    for chunk in column.downcast_iter() {
        hasher.add_chunk(chunk.validity(), chunk.len(), |values, start, length| {
            bytes.clear();
            for i in start..start + length {
                let text = chunk.value(i).as_bytes();
                bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
                bytes.extend_from_slice(text);
            }
            values.update(&bytes);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One row of the test frames: columns `i`, `x`, `b`, `s`.
    type Row = (Option<i64>, Option<f64>, Option<bool>, Option<String>);

    fn digest(frame: &DataFrame) -> FrameDigest {
        FrameDigest::of(frame).unwrap()
    }

    /// `frame` with every column split into chunks at `cuts` (row
    /// indices), as a file read back a row group or page at a time gives.
    fn rechunked(frame: &DataFrame, cuts: &[usize]) -> DataFrame {
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(frame.height())).collect();
        bounds.push(frame.height());
        bounds.sort_unstable();
        let mut start = 0;
        let mut out = frame.slice(0, 0);
        for end in bounds {
            out.vstack_mut(&frame.slice(start as i64, end - start))
                .unwrap();
            start = end;
        }
        out
    }

    fn frame_of(rows: &[Row]) -> DataFrame {
        df!(
            "i" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "x" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "b" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "s" => rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn row() -> impl Strategy<Value = Row> {
        let float = prop::sample::select(vec![0.0, -0.0, 1.5, f64::NAN, f64::INFINITY, -2.25]);
        (
            prop::option::of(-3i64..3),
            prop::option::of(float),
            prop::option::of(any::<bool>()),
            prop::option::of(
                prop::sample::select(vec!["", "a", "ab", "b", "a\0"]).prop_map(String::from),
            ),
        )
    }

    /// The oracle: two rows are the same when every field is, floats by
    /// their bits.
    fn same(a: &[Row], b: &[Row]) -> [bool; 4] {
        let bits = |r: &Row| r.1.map(f64::to_bits);
        [
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0),
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bits(x) == bits(y)),
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.2 == y.2),
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.3 == y.3),
        ]
    }

    proptest! {
        /// Each column's digest is equal exactly when its values are
        /// (nulls, -0.0, NaN and text boundaries included), however the
        /// frames are chunked.
        #[test]
        fn columns_digest_alike_exactly_when_their_values_are_equal(
            a in prop::collection::vec(row(), 0..12),
            b in prop::collection::vec(row(), 0..12),
            cuts_a in prop::collection::vec(0usize..12, 0..4),
            cuts_b in prop::collection::vec(0usize..12, 0..4),
        ) {
            let (da, db) = (digest(&rechunked(&frame_of(&a), &cuts_a)), digest(&rechunked(&frame_of(&b), &cuts_b)));
            let expected = same(&a, &b);
            for (column, equal) in expected.iter().enumerate() {
                prop_assert_eq!(da.0[column] == db.0[column], *equal, "column {}", column);
            }
            prop_assert_eq!(da.first_difference(&db), expected.iter().position(|e| !e));
            prop_assert_eq!(da, digest(&frame_of(&a)));
        }
    }

    /// A null and a value that its slot might hold (0, "", false) differ.
    #[test]
    fn a_null_differs_from_a_zero_value() {
        let nulls =
            df!("i" => [None::<i64>], "s" => [None::<&str>], "b" => [None::<bool>]).unwrap();
        let zeros = df!("i" => [Some(0i64)], "s" => [Some("")], "b" => [Some(false)]).unwrap();
        assert_eq!(digest(&nulls).first_difference(&digest(&zeros)), Some(0));
        for column in ["i", "s", "b"] {
            let one = |f: &DataFrame| digest(&f.select([column]).unwrap());
            assert_ne!(one(&nulls), one(&zeros), "{column}");
        }
    }

    /// A chunk that carries a validity bitmap with every bit set digests
    /// as one without a bitmap (a file read back may give either).
    #[test]
    fn an_all_valid_bitmap_is_no_bitmap() {
        let plain = Int64Chunked::from_vec("i".into(), vec![1, 2, 3]);
        let chunk = plain.downcast_iter().next().unwrap().clone();
        let with_bits = chunk.with_validity(Some(Bitmap::new_with_value(true, 3)));
        let marked = Int64Chunked::with_chunk("i".into(), with_bits);
        assert!(marked.downcast_iter().next().unwrap().validity().is_some());
        assert_eq!(
            digest(&marked.into_series().into_frame()),
            digest(&plain.into_series().into_frame())
        );
    }

    /// Dates and timestamps are checked by their integers; a nested column
    /// is refused.
    #[test]
    fn dates_are_digested_and_nested_columns_refused() {
        let days = Series::new("d".into(), [19_000i32, 19_001]);
        let dates = days.cast(&DataType::Date).unwrap().into_frame();
        let later = (days + 1).cast(&DataType::Date).unwrap().into_frame();
        assert_ne!(digest(&dates), digest(&later));
        let nested = Series::new("l".into(), [Series::new("".into(), [1i64])]).into_frame();
        let error = FrameDigest::of(&nested).unwrap_err().to_string();
        assert!(error.contains("cannot be checked"), "{error}");
    }
}
