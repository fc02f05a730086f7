//! The reconciliation checks of a run ([`crate::stages::checks`], README
//! "Reconciliation"): one row per check, in the order the checks run
//! (orders, dimensions, tiers, surveys). Every published check passed: a
//! failed check fails the run before anything is written.

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use super::col;
use super::schema::{column, Kind, TableSchema, Written};
use crate::error::Result;
use crate::stages::checks::Check;

pub static CHECKS: TableSchema = TableSchema {
    name: "checks",
    grain: "one row per reconciliation check",
    key: &[col::CHECK],
    order: "in the order the checks run",
    written: Written::Always,
    sliced: false,
    cohort_named: false,
    columns: &[
        column(
            col::CHECK,
            Kind::Text,
            "what is compared, e.g. `customers = sum of cohort sizes`",
        ),
        column(
            col::EXPECTED,
            Kind::Int64,
            "the reference figure (money in cents)",
        ),
        column(
            col::ACTUAL,
            Kind::Int64,
            "the figure found (money in cents)",
        ),
        column(
            col::PASSED,
            Kind::Bool,
            "expected = actual; always true when published (a failed check fails the run)",
        ),
    ],
};

/// `checks`: one row per check, in the order given.
pub fn checks_table(checks: &[Check]) -> Result<DataFrame> {
    let pick = |f: fn(&Check) -> i64| checks.iter().map(f).collect::<Vec<_>>();
    FrameBuilder::new(&CHECKS, checks.len())
        .add(
            col::CHECK,
            checks.iter().map(|c| c.check.as_str()).collect::<Vec<_>>(),
        )?
        .add(col::EXPECTED, pick(|c| c.expected))?
        .add(col::ACTUAL, pick(|c| c.actual))?
        .add(
            col::PASSED,
            checks.iter().map(|c| c.passed).collect::<Vec<_>>(),
        )?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::checks::{check, money_check};
    use crate::tables::Options;

    #[test]
    fn checks_table_conforms() {
        let checks = [
            check("customers = sum of cohort sizes", 3, 3),
            money_check("revenue", 5, 5),
        ];
        let frame = checks_table(&checks).unwrap();
        CHECKS.conforms(&frame, &Options::default()).unwrap();
        assert_eq!(frame.height(), 2);
        assert!(checks_table(&[]).unwrap().height() == 0);
        CHECKS
            .conforms(&checks_table(&[]).unwrap(), &Options::default())
            .unwrap();
    }
}
