//! Every published table, declared once: its name, grain, key, row order,
//! when it is written and its columns with their types and a line of
//! documentation (one module per table family, the types in [`table`]);
//! every column name, written once ([`col`]); and how an amount and a
//! ratio are published ([`values`]).
//!
//! A leaf of the crate: it depends on nothing but `time` (the cohort
//! unit), so the stages (check labels, ratios), the configuration (names a
//! dimension may not take), the frame builders in `tables` and the
//! report can all refer to it. Every frame a run publishes is checked
//! against its declaration before it is written ([`check_published`]), so
//! the schema version changes only when a declaration does.

pub mod checks;
pub mod clv;
pub mod cohorts;
pub mod col;
pub mod compare;
pub mod customers;
pub mod kpis;
pub mod nps;
pub mod rejects;
pub mod table;
pub mod targets;
pub mod tiers;
pub mod values;

use polars::prelude::DataFrame;

pub use table::{
    cohort_column, column, period_of_cohort_column, ColumnSchema, Kind, Options, Restatable,
    TableSchema, Written,
};

use crate::time::CohortPeriod;

/// Every published table, in publishing order.
pub static ALL: [&TableSchema; 23] = [
    &customers::CUSTOMERS,
    &cohorts::COHORT_RETENTION,
    &cohorts::RETENTION_CURVE,
    &kpis::KPIS_MONTHLY,
    &customers::SEGMENTS,
    &tiers::TIER_MIGRATION,
    &clv::CLV_MODEL,
    &clv::CLV_VALIDATION,
    &clv::CLV_MODEL_SELECTION,
    &clv::CLV_FORECAST,
    &targets::WIN_BACK,
    &targets::AT_RISK_HIGH_VALUE,
    &targets::REENGAGE_NEW,
    &targets::VIP,
    &nps::NPS_MONTHLY,
    &nps::NPS_BY_COHORT,
    &nps::NPS_BY_TIER,
    &nps::NPS_RETENTION,
    &rejects::REJECTS,
    &checks::CHECKS,
    &compare::RESTATEMENTS,
    &compare::RUN_COMPARISON,
    &compare::GATES,
];

/// The declaration of the table named `name`.
pub fn schema_of(name: &str) -> Option<&'static TableSchema> {
    ALL.iter().copied().find(|t| t.name == name)
}

/// Checks that a run publishes exactly the tables its options call for,
/// in order, each matching its declaration; the first difference
/// otherwise (a programming error: the run stops before writing).
pub fn check_published<'a>(
    published: impl IntoIterator<Item = (&'a str, &'a DataFrame)>,
    options: &Options,
) -> Result<(), String> {
    let expected: Vec<&str> = ALL
        .iter()
        .filter(|t| t.written.applies(options))
        .map(|t| t.name)
        .collect();
    let mut names = Vec::new();
    for (name, frame) in published {
        let schema = schema_of(name).ok_or_else(|| format!("table `{name}` is not declared"))?;
        schema.conforms(frame, options)?;
        names.push(name);
    }
    if names != expected {
        return Err(format!(
            "the run publishes {names:?}, the declarations call for {expected:?}"
        ));
    }
    Ok(())
}

/// The tables sliced by `[columns] dimensions`.
pub static SLICED: [&TableSchema; 3] = [
    &cohorts::COHORT_RETENTION,
    &cohorts::RETENTION_CURVE,
    &kpis::KPIS_MONTHLY,
];

/// The columns of the sliced tables, each once, in declaration order (the
/// cohort column under every unit's name): a dimension may not be named
/// after one, since its column would clash with it.
pub fn sliced_table_columns() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for table in SLICED {
        for column in table.columns {
            let spellings: Vec<&'static str> =
                match table.cohort_named && column.name == col::COHORT_MONTH {
                    true => [
                        CohortPeriod::Month,
                        CohortPeriod::Week,
                        CohortPeriod::Quarter,
                    ]
                    .map(cohort_column)
                    .to_vec(),
                    false => vec![column.name],
                };
            for name in spellings {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliced_table_columns_are_the_names_a_dimension_may_not_take() {
        let before: &[&str] = &[
            "cohort_month",
            "cohort_week",
            "cohort_quarter",
            "period",
            "cohort_size",
            "active_customers",
            "retention_rate",
            "orders",
            "revenue",
            "revenue_per_customer",
            "cumulative_revenue_per_customer",
            "period_complete",
            "unbounded_active_customers",
            "unbounded_retention_rate",
            "cohorts",
            "customers",
            "retained",
            "unbounded_retained",
            "month",
            "customers_start",
            "customers_end",
            "new_customers",
            "churned",
            "reactivated",
            "crr",
            "churn_rate",
            "purchasing_customers",
            "aov",
            "purchase_frequency",
            "returning_customers",
            "repeat_customer_rate",
            "month_complete",
        ];
        assert_eq!(sliced_table_columns(), before);
    }
}
