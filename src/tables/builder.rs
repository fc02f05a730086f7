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
            .add(col::CHECK, vec!["a = b"])?
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
            .add(col::CHECK, vec!["a = b"])
            .unwrap()
            .finish();
        assert!(missing.is_err());
        let misplaced = FrameBuilder::new(&CHECKS, 1)
            .add(col::EXPECTED, vec![1i64])
            .unwrap()
            .add(col::CHECK, vec!["a = b"])
            .unwrap()
            .add(col::ACTUAL, vec![1i64])
            .unwrap()
            .add(col::PASSED, vec![true])
            .unwrap()
            .finish();
        assert!(misplaced.is_err());
    }
}
