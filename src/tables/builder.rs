//! Building a table's frame column by column, each column checked against
//! the declaration as it is added, so a builder cannot publish a column
//! its table does not declare or a type it does not declare.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::tables::schema::values::money;
use crate::tables::schema::TableSchema;

/// A table's frame under construction, columns in declaration order.
pub struct FrameBuilder {
    schema: &'static TableSchema,
    height: usize,
    columns: Vec<Column>,
}

impl FrameBuilder {
    pub fn new(schema: &'static TableSchema, height: usize) -> FrameBuilder {
        FrameBuilder {
            schema,
            height,
            columns: Vec::new(),
        }
    }

    /// Adds `values` as column `name`, cast to the declared type (a no-op
    /// when the values already have it).
    pub fn add<T, Phantom>(self, name: &'static str, values: T) -> Result<FrameBuilder>
    where
        Phantom: ?Sized,
        Series: NamedFrom<T, Phantom>,
    {
        self.push(Column::new(name.into(), values))
    }

    /// Adds day numbers (days since 1970-01-01) as a DATE column.
    pub fn dates(self, name: &'static str, days: Vec<i32>) -> Result<FrameBuilder> {
        self.add(name, days)
    }

    /// Adds cents as currency units (DOUBLE).
    pub fn money(self, name: &'static str, cents: &[i64]) -> Result<FrameBuilder> {
        self.add(name, cents.iter().map(|&c| money(c)).collect::<Vec<_>>())
    }

    /// Adds an all-null column of the declared type.
    pub fn nulls(self, name: &'static str) -> Result<FrameBuilder> {
        let dtype = self.schema.column(name).kind.dtype();
        let height = self.height;
        self.push(Column::full_null(name.into(), height, &dtype))
    }

    /// Adds a column built elsewhere (its name must be declared). Values
    /// are cast to the declared type only where no value can change: day
    /// numbers to DATE, a narrower integer to a wider one. Any other
    /// difference is an error, never a silent conversion.
    pub fn push(mut self, column: Column) -> Result<FrameBuilder> {
        let declared = self.schema.column(column.name().as_str()).kind.dtype();
        let column = match column.dtype() {
            actual if actual == &declared => column,
            actual if casts_exactly(actual, &declared) => column.cast(&declared)?,
            actual => {
                return Err(Error::output(
                    Path::new(self.schema.name),
                    format!(
                        "column `{}` built as {actual}, declared {declared}",
                        column.name()
                    ),
                ))
            }
        };
        let column = if declared == DataType::Float64 {
            without_negative_zero(column)?
        } else {
            column
        };
        self.columns.push(column);
        Ok(self)
    }

    /// The frame, once every declared column was added in order.
    pub fn finish(self) -> Result<DataFrame> {
        let built: Vec<&str> = self.columns.iter().map(|c| c.name().as_str()).collect();
        let declared: Vec<&str> = self.schema.columns.iter().map(|c| c.name).collect();
        if built != declared {
            return Err(Error::output(
                Path::new(self.schema.name),
                format!("built with columns {built:?}, declared {declared:?}"),
            ));
        }
        Ok(DataFrame::new(self.height, self.columns)?)
    }
}

/// −0.0 as 0.0. A negative zero (0 × −1, a tiny negative figure rounded)
/// equals 0 but prints as `-0.0` in most readers, where it looks like a
/// bug; adding 0.0 turns it into 0.0 and leaves every other value as it is.
fn without_negative_zero(column: Column) -> Result<Column> {
    let values = column.f64()?;
    let negative_zero = |v: f64| v == 0.0 && v.is_sign_negative();
    if !values.iter().flatten().any(negative_zero) {
        return Ok(column);
    }
    let name = column.name().clone();
    Ok(values
        .apply_values(|v| v + 0.0)
        .into_series()
        .with_name(name)
        .into_column())
}

/// Whether every value of type `from` is the same value in type `to`.
fn casts_exactly(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    matches!(
        (from, to),
        (Int32, Date)
            | (Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32, Int64)
            | (Int8 | Int16 | UInt8 | UInt16, Int32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::schema::checks::CHECKS;
    use crate::tables::schema::col;

    fn checks_frame(expected: Column) -> Result<DataFrame> {
        FrameBuilder::new(&CHECKS, 1)
            .add(col::CHECK_NAME, vec!["a = b"])?
            .push(expected)?
            .add(col::ACTUAL, vec![1i64])?
            .add(col::PASSED, vec![true])?
            .finish()
    }

    #[test]
    fn exact_casts_are_made_and_lossy_ones_refused() {
        let widened = checks_frame(Column::new(col::EXPECTED.into(), vec![1i32])).unwrap();
        assert_eq!(
            widened.column(col::EXPECTED).unwrap().dtype(),
            &DataType::Int64
        );
        let lossy = checks_frame(Column::new(col::EXPECTED.into(), vec![1.5f64]));
        let message = lossy.unwrap_err().to_string();
        assert!(message.contains("`expected` built as f64"), "{message}");
    }

    #[test]
    fn a_missing_or_misplaced_column_is_refused() {
        let missing = FrameBuilder::new(&CHECKS, 1)
            .add(col::CHECK_NAME, vec!["a = b"])
            .unwrap()
            .finish();
        assert!(missing.is_err());
        let misplaced = FrameBuilder::new(&CHECKS, 1)
            .add(col::EXPECTED, vec![1i64])
            .unwrap()
            .add(col::CHECK_NAME, vec!["a = b"])
            .unwrap()
            .add(col::ACTUAL, vec![1i64])
            .unwrap()
            .add(col::PASSED, vec![true])
            .unwrap()
            .finish();
        assert!(misplaced.is_err());
    }

    /// No table carries −0.0: it is published as 0.0, nulls and other
    /// values untouched.
    #[test]
    fn negative_zero_becomes_zero() {
        use crate::tables::schema::clv::CLV_FORECAST;
        let values = vec![Some(-0.0), Some(-1.5), None, Some(0.0)];
        let column = Column::new(col::EXPECTED_ORDERS.into(), values);
        let cleaned = without_negative_zero(column).unwrap();
        let got: Vec<Option<u64>> = cleaned
            .f64()
            .unwrap()
            .iter()
            .map(|v| v.map(f64::to_bits))
            .collect();
        let want = [
            Some(0.0f64.to_bits()),
            Some((-1.5f64).to_bits()),
            None,
            Some(0.0f64.to_bits()),
        ];
        assert_eq!(got, want);
        assert_eq!(cleaned.name().as_str(), col::EXPECTED_ORDERS);
        // Through the builder, as every table is built.
        let frame = FrameBuilder::new(&CLV_FORECAST, 1)
            .add(col::HORIZON_MONTH, vec![1i64])
            .unwrap()
            .add(col::FROM_DAY, vec![-0.0f64])
            .unwrap();
        let from_day = frame.columns[1].f64().unwrap().get(0).unwrap();
        assert!(from_day.is_sign_positive());
    }
}
