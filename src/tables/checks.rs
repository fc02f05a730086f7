//! The reconciliation checks of a run ([`crate::stages::checks`], README
//! "Reconciliation"): one row per check, in the order the checks run
//! (orders, dimensions, tiers, surveys). Every published check passed: a
//! failed check fails the run before anything is written.

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::stages::checks::Check;
use crate::tables::schema::checks::CHECKS;
use crate::tables::schema::col;

/// `checks`: one row per check, in the order given.
pub fn checks_table(checks: &[Check]) -> Result<DataFrame> {
    let pick = |f: fn(&Check) -> i64| checks.iter().map(f).collect::<Vec<_>>();
    FrameBuilder::new(&CHECKS, checks.len())
        .add(
            col::CHECK_NAME,
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
    use crate::tables::schema::Options;

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
