//! The report's figures from the tables with a row per customer
//! (`customers` and the target lists), tallied a row group at a time: at
//! a billion orders `win_back` alone has some 80 M rows, and reading its
//! columns whole took the report step half its memory budget past it.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use polars::prelude::*;

use super::{floats, optional_floats, ReportTables};
use crate::error::Result;
use crate::report::data::{ClvDistribution, TargetCustomer, TargetList};
use crate::tables::schema::customers::CUSTOMERS;
use crate::tables::schema::{col, TableSchema};

/// Customers listed per target list in the report.
const TOP_CUSTOMERS: usize = 10;

/// One target list: its size, actions and its customers of highest value
/// (CLV when the list has any, else revenue; ties by customer id); `None`
/// when the run did not publish it.
pub(super) fn target_list(
    tables: &dyn ReportTables,
    schema: &TableSchema,
) -> Result<Option<TargetList>> {
    let declares = |name: &str| schema.columns.iter().any(|c| c.name == name);
    let mut columns = vec![col::CUSTOMER_ID, col::SUGGESTED_ACTION, col::REVENUE];
    columns.extend(
        [col::CLV, col::TYPICAL_GAP_DAYS]
            .into_iter()
            .filter(|c| declares(c)),
    );
    let mut tally = ListTally::default();
    let published = tables.each_chunk(schema.name, &columns, &mut |chunk| tally.add(chunk))?;
    Ok(published.then(|| tally.into_list(schema.name)))
}

/// What the report shows of a target list, over the rows read so far.
#[derive(Default)]
struct ListTally {
    customers: usize,
    actions: Vec<String>,
    typical_gap_days: Option<f64>,
    by_clv: bool,
    /// The best so far by CLV and by revenue: which one is shown is known
    /// only once every row is read (whether any has a CLV).
    top_by_clv: Vec<TargetCustomer>,
    top_by_revenue: Vec<TargetCustomer>,
}

impl ListTally {
    fn add(&mut self, chunk: &DataFrame) -> Result<()> {
        let ids = chunk.column(col::CUSTOMER_ID)?.cast(&DataType::String)?;
        let rows = ChunkRows {
            ids: ids.str()?,
            clv: optional_floats(chunk, col::CLV)?,
            revenue: floats(chunk, col::REVENUE)?,
        };
        self.customers += chunk.height();
        self.by_clv |= rows.clv.iter().any(Option::is_some);
        add_distinct(&mut self.actions, chunk, col::SUGGESTED_ACTION)?;
        if self.typical_gap_days.is_none() {
            let gaps = optional_floats(chunk, col::TYPICAL_GAP_DAYS)?;
            self.typical_gap_days = gaps.into_iter().flatten().next();
        }
        // A list without a CLV column (`win_back`, `reengage_new`: the
        // largest) is never shown by CLV: no need to rank its rows so.
        if chunk.column(col::CLV).is_ok() {
            keep_best(&mut self.top_by_clv, &rows, &rows.clv, |c| c.clv);
        }
        keep_best(&mut self.top_by_revenue, &rows, &rows.revenue, |c| {
            c.revenue
        });
        Ok(())
    }

    fn into_list(self, name: &str) -> TargetList {
        TargetList {
            name: name.to_string(),
            customers: self.customers,
            actions: self.actions,
            typical_gap_days: self.typical_gap_days,
            by_clv: self.by_clv,
            top: if self.by_clv {
                self.top_by_clv
            } else {
                self.top_by_revenue
            },
        }
    }
}

/// A chunk of a target list's rows, as the ranking reads them.
struct ChunkRows<'a> {
    ids: &'a StringChunked,
    clv: Vec<Option<f64>>,
    revenue: Vec<Option<f64>>,
}

impl ChunkRows<'_> {
    fn id(&self, i: usize) -> &str {
        self.ids.get(i).unwrap_or_default()
    }

    fn customer(&self, i: usize) -> TargetCustomer {
        TargetCustomer {
            customer_id: self.id(i).to_string(),
            clv: self.clv[i],
            revenue: self.revenue[i],
        }
    }
}

/// The report's order of a list's customers: highest value first, a
/// missing value last, ties by customer id. The order is total, so the
/// best of every chunk's best are the list's best.
fn ranked(a: (Option<f64>, &str), b: (Option<f64>, &str)) -> Ordering {
    let key = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
    key(b.0).total_cmp(&key(a.0)).then_with(|| a.1.cmp(b.1))
}

/// Keeps in `best` the [`TOP_CUSTOMERS`] of `best` and the chunk's rows of
/// highest `value` (`value_of` reads it back from a kept customer),
/// highest first.
fn keep_best(
    best: &mut Vec<TargetCustomer>,
    rows: &ChunkRows,
    value: &[Option<f64>],
    value_of: fn(&TargetCustomer) -> Option<f64>,
) {
    let before = |&a: &usize, &b: &usize| ranked((value[a], rows.id(a)), (value[b], rows.id(b)));
    let mut order: Vec<usize> = (0..value.len()).collect();
    // The chunk's ten first without sorting a million rows.
    if order.len() > TOP_CUSTOMERS {
        order.select_nth_unstable_by(TOP_CUSTOMERS - 1, before);
        order.truncate(TOP_CUSTOMERS);
    }
    best.extend(order.into_iter().map(|i| rows.customer(i)));
    best.sort_by(|a, b| ranked((value_of(a), &a.customer_id), (value_of(b), &b.customer_id)));
    best.truncate(TOP_CUSTOMERS);
}

/// Adds the distinct non-null values of a text column not yet in `seen`,
/// in order of appearance.
fn add_distinct(seen: &mut Vec<String>, frame: &DataFrame, name: &str) -> Result<()> {
    let column = frame.column(name)?.cast(&DataType::String)?;
    for value in column.str()?.iter().flatten() {
        if !seen.iter().any(|s| s == value) {
            seen.push(value.to_string());
        }
    }
    Ok(())
}

/// Customers per tier named in the `tier` column of `customers` (null
/// tiers not counted); `None` when the run has no `customers` table.
pub(super) fn tier_counts(tables: &dyn ReportTables) -> Result<Option<BTreeMap<String, i64>>> {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let published = tables.each_chunk(CUSTOMERS.name, &[col::TIER], &mut |chunk| {
        let tiers = chunk.column(col::TIER)?.cast(&DataType::String)?;
        for tier in tiers.str()?.iter().flatten() {
            match counts.get_mut(tier) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(tier.to_string(), 1);
                }
            }
        }
        Ok(())
    })?;
    Ok(published.then_some(counts))
}

/// The distribution of every customer's CLV (the uncomputable, null or
/// not finite, left out), and how many were left out; `None` when the run
/// has no `customers` table or no CLV in it. The column is read a few
/// times (`ClvDistribution::of_passes`), never held.
pub(super) fn clv_distribution(
    tables: &dyn ReportTables,
) -> Result<Option<(ClvDistribution, usize)>> {
    let left_out = Cell::new(0);
    let pass = |each: &mut dyn FnMut(&[f64]) -> Result<()>| -> Result<()> {
        let mut uncomputable = 0;
        tables.each_chunk(CUSTOMERS.name, &[col::CLV], &mut |chunk| {
            let clv = floats(chunk, col::CLV)?;
            uncomputable += clv.iter().filter(|v| v.is_none()).count();
            let known: Vec<f64> = clv.into_iter().flatten().collect();
            each(&known)
        })?;
        // Every pass counts the same customers.
        left_out.set(uncomputable);
        Ok(())
    };
    let distribution = ClvDistribution::of_passes(&pass)?;
    Ok(distribution.map(|d| (d, left_out.get())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::schema::targets::{AT_RISK_HIGH_VALUE, REENGAGE_NEW, VIP, WIN_BACK};
    use proptest::prelude::*;

    /// A table handed out in chunks cut at `cuts`.
    struct Chunked {
        frame: DataFrame,
        cuts: Vec<usize>,
    }

    impl ReportTables for Chunked {
        fn whole(&self, _: &str, _: Option<&[&str]>) -> Result<Option<DataFrame>> {
            Ok(Some(self.frame.clone()))
        }

        fn each_chunk(
            &self,
            _: &str,
            columns: &[&str],
            each: &mut dyn FnMut(&DataFrame) -> Result<()>,
        ) -> Result<bool> {
            let mut bounds = vec![0];
            bounds.extend(self.cuts.iter().map(|&c| c.min(self.frame.height())));
            bounds.push(self.frame.height());
            bounds.sort_unstable();
            for pair in bounds.windows(2) {
                let chunk = self.frame.slice(pair[0] as i64, pair[1] - pair[0]);
                each(&chunk.select(columns.iter().copied())?)?;
            }
            Ok(true)
        }
    }

    type Row = (Option<f64>, Option<f64>, Option<&'static str>, Option<f64>);

    fn list_frame(rows: &[Row]) -> DataFrame {
        let ids: Vec<String> = (0..rows.len())
            .map(|i| format!("c{:03}", (i * 37) % 101))
            .collect();
        df!(
            col::CUSTOMER_ID => ids,
            col::CLV => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            col::REVENUE => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            col::SUGGESTED_ACTION => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            col::TYPICAL_GAP_DAYS => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    /// The list as the report shows it, from every row at once: sorted
    /// whole by value (finite only), then by id.
    fn brute_force(frame: &DataFrame, schema: &TableSchema) -> TargetList {
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
        let declared = |name: &str| schema.columns.iter().any(|c| c.name == name);
        let column = |name: &str| -> Vec<Option<f64>> {
            let values = frame.column(name).unwrap().f64().unwrap().iter();
            values
                .map(|v| finite(v).filter(|_| declared(name)))
                .collect()
        };
        let (clv, revenue) = (column(col::CLV), column(col::REVENUE));
        let ids = frame
            .column(col::CUSTOMER_ID)
            .unwrap()
            .str()
            .unwrap()
            .clone();
        let by_clv = clv.iter().any(Option::is_some);
        let mut all: Vec<TargetCustomer> = (0..frame.height())
            .map(|i| TargetCustomer {
                customer_id: ids.get(i).unwrap().to_string(),
                clv: clv[i],
                revenue: revenue[i],
            })
            .collect();
        let value = |c: &TargetCustomer| if by_clv { c.clv } else { c.revenue };
        all.sort_by(|a, b| {
            let key = |c: &TargetCustomer| value(c).unwrap_or(f64::NEG_INFINITY);
            key(b)
                .total_cmp(&key(a))
                .then(a.customer_id.cmp(&b.customer_id))
        });
        all.truncate(TOP_CUSTOMERS);
        let mut actions: Vec<String> = Vec::new();
        let action = frame
            .column(col::SUGGESTED_ACTION)
            .unwrap()
            .str()
            .unwrap()
            .clone();
        for a in action.iter().flatten() {
            if !actions.iter().any(|s| s == a) {
                actions.push(a.to_string());
            }
        }
        let gap = column(col::TYPICAL_GAP_DAYS).into_iter().flatten().next();
        TargetList {
            name: schema.name.to_string(),
            customers: frame.height(),
            actions,
            typical_gap_days: gap,
            by_clv,
            top: all,
        }
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            Just(Some(f64::NAN)),
            Just(Some(f64::INFINITY)),
            (0..6i32).prop_map(|v| Some(f64::from(v) * 12.5)),
        ]
    }

    fn row() -> impl Strategy<Value = Row> {
        let action = prop_oneof![Just(None), Just(Some("call")), Just(Some("mail"))];
        let gap = prop_oneof![Just(None), (1..90i32).prop_map(|d| Some(f64::from(d)))];
        (value(), value(), action, gap)
    }

    proptest! {
        /// Any chunking gives the list that sorting every row gives:
        /// ties in value, missing and non-finite values, lists with and
        /// without a CLV, empty chunks and lists shorter than ten.
        #[test]
        fn a_list_tallied_in_chunks_is_the_list_sorted_whole(
            rows in prop::collection::vec(row(), 0..60),
            cuts in prop::collection::vec(0..60usize, 0..6),
            clv_known in any::<bool>(),
            list in 0..4usize,
        ) {
            let schema = [&WIN_BACK, &AT_RISK_HIGH_VALUE, &REENGAGE_NEW, &VIP][list];
            let mut rows = rows;
            if !clv_known {
                rows.iter_mut().for_each(|r| r.0 = None);
            }
            let tables = Chunked { frame: list_frame(&rows), cuts };
            let tallied = target_list(&tables, schema).unwrap().unwrap();
            prop_assert_eq!(tallied, brute_force(&tables.frame, schema));
        }
    }

    /// Tier counts and CLV values add up over chunks; null and non-finite
    /// CLVs are counted as uncomputable, never as values.
    #[test]
    fn tiers_and_clv_values_add_up_over_chunks() {
        let frame = df!(
            col::TIER => [Some("gold"), None, Some("base"), Some("gold"), Some("base"), Some("gold")],
            col::CLV => [Some(1.5), None, Some(f64::NAN), Some(0.0), Some(f64::INFINITY), Some(7.0)],
        )
        .unwrap();
        let tables = Chunked {
            frame,
            cuts: vec![2, 2, 5],
        };
        let counts = tier_counts(&tables).unwrap().unwrap();
        let expected = BTreeMap::from([("base".to_string(), 2), ("gold".to_string(), 3)]);
        assert_eq!(counts, expected);
        let (distribution, uncomputable) = clv_distribution(&tables).unwrap().unwrap();
        assert_eq!(uncomputable, 3);
        assert_eq!(
            Some(distribution),
            ClvDistribution::of_values(&[1.5, 0.0, 7.0])
        );
    }
}
