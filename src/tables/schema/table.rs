//! What a table declaration is made of, and the check that a frame
//! matches its declaration.

use polars::prelude::{DataFrame, DataType};

use crate::time::CohortPeriod;

/// A published column's type: what Polars holds and what the Parquet file
/// carries (README "Outputs": dates are DATE, money DOUBLE, ids strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int32,
    Int64,
    Float64,
    Date,
    Bool,
}

impl Kind {
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Text => DataType::String,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Date => DataType::Date,
            Kind::Bool => DataType::Boolean,
        }
    }

    /// The type as the README and DuckDB name it.
    pub fn sql_name(self) -> &'static str {
        match self {
            Kind::Text => "VARCHAR",
            Kind::Int32 => "INTEGER",
            Kind::Int64 => "BIGINT",
            Kind::Float64 => "DOUBLE",
            Kind::Date => "DATE",
            Kind::Bool => "BOOLEAN",
        }
    }
}

/// One declared column.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSchema {
    pub name: &'static str,
    pub kind: Kind,
    /// One line for a reader of the table.
    pub doc: &'static str,
}

/// Shorthand for declarations.
pub const fn column(name: &'static str, kind: Kind, doc: &'static str) -> ColumnSchema {
    ColumnSchema { name, kind, doc }
}

/// Which pipelines publish a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Always,
    WithClv,
    WithLoyalty,
    /// `vip`: by the top tier, the top CLV quantile or both.
    WithLoyaltyOrClv,
    WithSurveys,
    WithSurveysAndLoyalty,
}

impl Written {
    pub fn applies(self, options: &Options) -> bool {
        match self {
            Written::Always => true,
            Written::WithClv => options.clv,
            Written::WithLoyalty => options.loyalty,
            Written::WithLoyaltyOrClv => options.loyalty || options.clv,
            Written::WithSurveys => options.surveys,
            Written::WithSurveysAndLoyalty => options.surveys && options.loyalty,
        }
    }
}

/// The pipeline options that change which tables are published and their
/// columns.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub clv: bool,
    pub loyalty: bool,
    pub surveys: bool,
    /// `[columns] dimensions`: text columns put first in the sliced tables.
    pub dimensions: Vec<String>,
    pub cohort_period: CohortPeriod,
}

/// One published table, declared once.
#[derive(Debug)]
pub struct TableSchema {
    /// The file name without `.parquet`.
    pub name: &'static str,
    /// What one row is.
    pub grain: &'static str,
    /// The columns that identify a row (the grain as columns), before any
    /// dimension columns.
    pub key: &'static [&'static str],
    /// The order of the rows.
    pub order: &'static str,
    pub written: Written,
    /// Sliced by `[columns] dimensions`: one text column per dimension goes
    /// first and joins the key.
    pub sliced: bool,
    /// Has the cohort column, named after `[business] cohort_period`
    /// (declared as `cohort_month`).
    pub cohort_named: bool,
    pub columns: &'static [ColumnSchema],
    /// Which values are fixed once their period is complete, so that a
    /// change between two runs is a restatement (`None`: the table's
    /// values may move with as_of, or are not about periods).
    pub restatable: Option<Restatable>,
}

/// The values of a table that a later run must not change: `columns` in
/// rows whose `complete` column is true in both runs. Only the measured
/// counts and amounts are listed; ratios derived from them follow them,
/// and columns that look forward to as_of (the unbounded retention
/// columns) legitimately move every night.
#[derive(Debug, Clone, Copy)]
pub struct Restatable {
    /// The BOOLEAN column that says the row's period is over.
    pub complete: &'static str,
    pub columns: &'static [&'static str],
}

impl TableSchema {
    /// The column names and types a pipeline with `options` publishes, in
    /// order.
    pub fn columns_for(&self, options: &Options) -> Vec<(String, DataType)> {
        let dimensions: &[String] = if self.sliced {
            &options.dimensions
        } else {
            &[]
        };
        let dimensions = dimensions.iter().map(|d| (d.clone(), DataType::String));
        let declared = self.columns.iter().map(|c| {
            let name = self.published_name(c.name, options.cohort_period);
            (name.to_string(), c.kind.dtype())
        });
        dimensions.chain(declared).collect()
    }

    /// The name the declared column `name` is published under with
    /// cohorts of `unit`: a `cohort_named` table's cohort column is named
    /// after the unit, every other column as declared.
    pub fn published_name(&self, name: &'static str, unit: CohortPeriod) -> &'static str {
        match self.cohort_named && name == super::col::COHORT_MONTH {
            true => cohort_column(unit),
            false => name,
        }
    }

    /// The declared column `name` (panics on a name that is not declared:
    /// a programming error caught by the table tests).
    pub fn column(&self, name: &str) -> &ColumnSchema {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("`{name}` is not a column of `{}`", self.name))
    }

    /// Whether `frame` has exactly the declared columns and types, in
    /// order; the first difference otherwise.
    pub fn conforms(&self, frame: &DataFrame, options: &Options) -> Result<(), String> {
        let expected = self.columns_for(options);
        let actual: Vec<(String, DataType)> = frame
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().clone()))
            .collect();
        if expected == actual {
            return Ok(());
        }
        let shown = |cols: &[(String, DataType)]| {
            cols.iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(format!(
            "table `{}` does not match its declaration: expected [{}], built [{}]",
            self.name,
            shown(&expected),
            shown(&actual)
        ))
    }
}

/// The cohort column of a table with cohorts: `cohort_month` (kept for
/// monthly cohorts), `cohort_week` or `cohort_quarter`, each the DATE the
/// cohort's period starts on.
pub fn cohort_column(period: CohortPeriod) -> &'static str {
    use super::col::{COHORT_MONTH, COHORT_QUARTER, COHORT_WEEK};
    match period {
        CohortPeriod::Month => COHORT_MONTH,
        CohortPeriod::Week => COHORT_WEEK,
        CohortPeriod::Quarter => COHORT_QUARTER,
    }
}

/// The period whose cohort column is `name`, if it is one.
pub fn period_of_cohort_column(name: &str) -> Option<CohortPeriod> {
    [
        CohortPeriod::Month,
        CohortPeriod::Week,
        CohortPeriod::Quarter,
    ]
    .into_iter()
    .find(|&p| cohort_column(p) == name)
}
