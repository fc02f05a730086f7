//! Building a table's frame column by column, each column checked against
//! the declaration as it is added, so a builder cannot publish a column
//! its table does not declare or a type it does not declare.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::schema::values::money;
use crate::schema::TableSchema;

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

    /// Adds a column built elsewhere (its name must be declared).
    pub fn push(mut self, column: Column) -> Result<FrameBuilder> {
        let declared = self.schema.column(column.name().as_str());
        let column = if column.dtype() == &declared.kind.dtype() {
            column
        } else {
            column.cast(&declared.kind.dtype())?
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
