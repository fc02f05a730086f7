//! Restatements: values that both runs call final (their period is
//! complete in both) and that differ. Which tables and columns are final
//! once complete is declared with each table (`TableSchema::restatable`).

use std::collections::HashMap;

use polars::prelude::{DataFrame, DataType};

use super::{change, relative_change, whole_run_mask, RunTables};
use crate::error::Result;
use crate::tables::schema::{self, col, Kind, Restatable, TableSchema};
use crate::time::CohortPeriod;

/// One restated value.
#[derive(Debug, Clone, PartialEq)]
pub struct Restatement {
    pub table: &'static str,
    /// `column=value` pairs of the row's key, dimensions first.
    pub key: String,
    pub column: &'static str,
    pub previous: Option<f64>,
    pub current: Option<f64>,
}

impl Restatement {
    pub fn change(&self) -> Option<f64> {
        change(self.previous, self.current)
    }

    pub fn relative_change(&self) -> Option<f64> {
        relative_change(self.previous, self.current)
    }

    /// How large the change is, for ranking: relative, with a change from
    /// or to null, or from 0, ranked first.
    fn size(&self) -> f64 {
        self.relative_change()
            .map(f64::abs)
            .unwrap_or(f64::INFINITY)
    }
}

/// What one table's comparison found.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRestated {
    pub table: &'static str,
    /// Values compared (rows complete in both runs × restatable columns).
    pub compared: u64,
    pub restated: u64,
    /// Restated values of the integer (count) columns.
    pub restated_counts: u64,
    /// The (all) slice's revenue in rows complete in both runs, in the
    /// previous run, and Σ |change| of it; `None` without a revenue column.
    pub revenue: Option<(f64, f64)>,
}

impl TableRestated {
    /// Counts one value compared (previous `a`, current `b`) of a column
    /// of `kind`; whether it was restated.
    fn count(
        &mut self,
        kind: Kind,
        whole_run_revenue: bool,
        a: Option<f64>,
        b: Option<f64>,
    ) -> bool {
        self.compared += 1;
        if whole_run_revenue {
            let (total, restated) = self.revenue.get_or_insert((0.0, 0.0));
            *total += a.unwrap_or(0.0);
            *restated += match (a, b) {
                (Some(a), Some(b)) => (b - a).abs(),
                _ => 0.0,
            };
        }
        if same(a, b) {
            return false;
        }
        self.restated += 1;
        if kind == Kind::Int64 {
            self.restated_counts += 1;
        }
        true
    }

    /// Σ |restated revenue| / revenue of the complete rows.
    pub fn revenue_share(&self) -> Option<f64> {
        let (total, restated) = self.revenue?;
        match total.abs() > 0.0 {
            true => Some(restated / total.abs()),
            false => Some(if restated > 0.0 { f64::INFINITY } else { 0.0 }),
        }
    }
}

/// Every restated value of every declared table, with per-table totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restated {
    /// All restated values, the largest change first.
    pub values: Vec<Restatement>,
    pub tables: Vec<TableRestated>,
}

impl Restated {
    pub fn restated_counts(&self) -> u64 {
        self.tables.iter().map(|t| t.restated_counts).sum()
    }

    pub fn table(&self, name: &str) -> Option<&TableRestated> {
        self.tables.iter().find(|t| t.table == name)
    }
}

/// Compares every restatable table the two runs both published, both
/// with cohorts of `unit` (their definitions are the same).
pub fn restated(
    (dimensions, unit): (&[String], CohortPeriod),
    previous: &dyn RunTables,
    current: &dyn RunTables,
) -> Result<Restated> {
    let mut out = Restated::default();
    for table in schema::ALL {
        let Some(restatable) = table.restatable else {
            continue;
        };
        let dims: &[String] = if table.sliced { dimensions } else { &[] };
        let keys = key_columns(table, dims, unit);
        let columns = read_columns(&keys, &restatable);
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        let (Some(before), Some(now)) = (
            previous.table(table.name, &columns)?,
            current.table(table.name, &columns)?,
        ) else {
            continue;
        };
        let (values, totals) = compare_table((table, &keys), &restatable, dims, &before, &now)?;
        out.values.extend(values);
        out.tables.push(totals);
    }
    // Stable: equal sizes keep table, row and column order.
    out.values.sort_by(|a, b| b.size().total_cmp(&a.size()));
    Ok(out)
}

/// The key columns of `table` as runs with cohorts of `unit` publish
/// them: the dimensions first (`dims`), then the declared key, a cohort
/// column under the unit's name.
fn key_columns(table: &TableSchema, dims: &[String], unit: CohortPeriod) -> Vec<String> {
    let keys = table.key.iter().map(|&k| table.published_name(k, unit));
    dims.iter()
        .cloned()
        .chain(keys.map(str::to_string))
        .collect()
}

/// The key columns `keys`, the completeness column and the restatable
/// columns.
fn read_columns(keys: &[String], restatable: &Restatable) -> Vec<String> {
    let mut columns: Vec<String> = keys.to_vec();
    columns.push(restatable.complete.to_string());
    columns.extend(restatable.columns.iter().map(|c| c.to_string()));
    columns
}

/// One table's restated values and totals, its rows matched by the key
/// columns `key_names`.
fn compare_table(
    (table, key_names): (&'static TableSchema, &[String]),
    restatable: &Restatable,
    dims: &[String],
    before: &DataFrame,
    now: &DataFrame,
) -> Result<(Vec<Restatement>, TableRestated)> {
    let before_rows = Rows::of(before, key_names, restatable)?;
    let now_rows = Rows::of(now, key_names, restatable)?;
    let index: HashMap<&str, usize> = before_rows
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut values = Vec::new();
    let mut totals = TableRestated {
        table: table.name,
        compared: 0,
        restated: 0,
        restated_counts: 0,
        revenue: None,
    };
    let whole_before = whole_run_mask(before, dims)?;
    for (i, key) in now_rows.keys.iter().enumerate() {
        let Some(&j) = index.get(key.as_str()) else {
            continue;
        };
        if !(before_rows.complete[j] && now_rows.complete[i]) {
            continue;
        }
        for (c, &column) in restatable.columns.iter().enumerate() {
            let (a, b) = (before_rows.values[c][j], now_rows.values[c][i]);
            let kind = table.column(column).kind;
            let whole_run_revenue = column == col::REVENUE && whole_before[j];
            if !totals.count(kind, whole_run_revenue, a, b) {
                continue;
            }
            values.push(Restatement {
                table: table.name,
                key: key.clone(),
                column,
                previous: a,
                current: b,
            });
        }
    }
    if restatable.columns.contains(&col::REVENUE) {
        totals.revenue.get_or_insert((0.0, 0.0));
    }
    Ok((values, totals))
}

/// Equal values, null equal to null.
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// A table's rows as key text, completeness and values.
struct Rows {
    keys: Vec<String>,
    complete: Vec<bool>,
    /// One vector per restatable column.
    values: Vec<Vec<Option<f64>>>,
}

impl Rows {
    fn of(frame: &DataFrame, key_names: &[String], restatable: &Restatable) -> Result<Rows> {
        let mut keys = vec![String::new(); frame.height()];
        for name in key_names {
            let text = frame.column(name)?.cast(&DataType::String)?;
            let text = text.as_materialized_series().str()?.clone();
            for (key, value) in keys.iter_mut().zip(text.iter()) {
                if !key.is_empty() {
                    key.push_str(", ");
                }
                key.push_str(&format!("{name}={}", value.unwrap_or("null")));
            }
        }
        let complete = frame
            .column(restatable.complete)?
            .as_materialized_series()
            .bool()?
            .clone();
        let complete = complete.iter().map(|c| c == Some(true)).collect();
        let values = restatable
            .columns
            .iter()
            .map(|name| -> Result<Vec<Option<f64>>> {
                let values = frame.column(name)?.cast(&DataType::Float64)?;
                Ok(values.as_materialized_series().f64()?.iter().collect())
            })
            .collect::<Result<_>>()?;
        Ok(Rows {
            keys,
            complete,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use polars::prelude::*;
    use proptest::prelude::*;

    use super::*;

    /// One run's tables: `kpis_monthly` only.
    struct Kpis(DataFrame);

    impl RunTables for Kpis {
        fn table(&self, name: &str, columns: &[&str]) -> Result<Option<DataFrame>> {
            match name == schema::kpis::KPIS_MONTHLY.name {
                true => Ok(Some(self.0.select(columns.iter().copied())?)),
                false => Ok(None),
            }
        }
    }

    /// A `kpis_monthly` frame with the restatable columns: month `i` has
    /// `orders[i]` orders, `cents[i]` revenue and completeness
    /// `complete[i]`; every other count is the month's day number.
    fn kpis(months: &[i32], orders: &[Option<i64>], cents: &[i64], complete: &[bool]) -> Kpis {
        let restatable = schema::kpis::KPIS_MONTHLY.restatable.unwrap();
        let mut columns = vec![
            Column::new(col::MONTH.into(), months)
                .cast(&DataType::Date)
                .unwrap(),
            Column::new(col::MONTH_COMPLETE.into(), complete),
        ];
        for name in restatable.columns {
            columns.push(match *name {
                col::ORDERS => Column::new((*name).into(), orders),
                col::REVENUE => {
                    let money: Vec<f64> = cents.iter().map(|c| *c as f64 / 100.0).collect();
                    Column::new((*name).into(), money)
                }
                _ => Column::new(
                    (*name).into(),
                    months.iter().map(|&m| m as i64).collect::<Vec<_>>(),
                ),
            });
        }
        Kpis(DataFrame::new(months.len(), columns).unwrap())
    }

    #[test]
    fn hand_worked_restatements_of_kpis_monthly() {
        // Day numbers of 2024-01-01, 02-01, 03-01, 04-01.
        let months = [19723, 19754, 19783, 19814];
        let before = kpis(
            &months[..3],
            &[Some(10), Some(20), Some(30)],
            &[1000, 2000, 3000],
            &[true, true, false],
        );
        // January: revenue −2.50 (a late refund). February: one order
        // more. March was incomplete before: not a restatement. April is new.
        let after = kpis(
            &months,
            &[Some(10), Some(21), Some(35), Some(1)],
            &[750, 2000, 3500, 100],
            &[true, true, true, false],
        );
        let found = restated((&[], CohortPeriod::Month), &before, &after).unwrap();
        let values: Vec<(&str, &str, Option<f64>)> = found
            .values
            .iter()
            .map(|r| (r.key.as_str(), r.column, r.change()))
            .collect();
        // Largest relative change first: revenue −25 %, then orders +5 %.
        assert_eq!(
            values,
            [
                ("month=2024-01-01", col::REVENUE, Some(-2.5)),
                ("month=2024-02-01", col::ORDERS, Some(1.0)),
            ]
        );
        let table = found.table("kpis_monthly").unwrap();
        assert_eq!((table.restated, table.restated_counts), (2, 1));
        // Two months complete in both × ten columns.
        assert_eq!(table.compared, 20);
        assert_eq!(table.revenue, Some((30.0, 2.5)));
        assert_eq!(table.revenue_share(), Some(2.5 / 30.0));
    }

    #[test]
    fn a_value_that_becomes_null_is_restated_and_ranked_first() {
        let months = [19723, 19754];
        let before = kpis(&months, &[Some(1), Some(100)], &[0, 0], &[true, true]);
        let after = kpis(&months, &[Some(2), None], &[0, 0], &[true, true]);
        let found = restated((&[], CohortPeriod::Month), &before, &after).unwrap();
        assert_eq!(found.values.len(), 2);
        assert_eq!(found.values[0].current, None);
        assert_eq!(found.values[0].change(), None);
        assert_eq!(found.values[1].relative_change(), Some(1.0));
    }

    proptest! {
        /// Against a brute force over (month, column) pairs keyed by date:
        /// the restated pairs are exactly those complete in both runs with
        /// different values, whatever the months each run has.
        #[test]
        fn restated_values_are_the_changed_final_values(
            rows in proptest::collection::vec(
                (0..30i32, any::<bool>(), any::<bool>(), 0..3i64, 0..3i64, 0..4i64, 0..4i64),
                1..25,
            ),
        ) {
            let mut by_month: BTreeMap<i32, _> = BTreeMap::new();
            for row in rows {
                by_month.insert(19000 + 31 * row.0, row);
            }
            let months: Vec<i32> = by_month.keys().copied().collect();
            let rows: Vec<_> = by_month.values().copied().collect();
            // The current run lacks every third month of the previous one.
            let kept: Vec<usize> = (0..rows.len()).filter(|i| i % 3 != 2).collect();
            let before = kpis(
                &months,
                &rows.iter().map(|r| Some(r.3)).collect::<Vec<_>>(),
                &rows.iter().map(|r| r.5).collect::<Vec<_>>(),
                &rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            );
            let after = kpis(
                &kept.iter().map(|&i| months[i]).collect::<Vec<_>>(),
                &kept.iter().map(|&i| Some(rows[i].4)).collect::<Vec<_>>(),
                &kept.iter().map(|&i| rows[i].6).collect::<Vec<_>>(),
                &kept.iter().map(|&i| rows[i].2).collect::<Vec<_>>(),
            );
            let found = restated((&[], CohortPeriod::Month), &before, &after).unwrap();
            let mut expected = 0;
            let mut revenue = (0.0, 0.0);
            for &i in &kept {
                let r = rows[i];
                if r.1 && r.2 {
                    expected += usize::from(r.3 != r.4) + usize::from(r.5 != r.6);
                    revenue.0 += r.5 as f64 / 100.0;
                    revenue.1 += (r.6 - r.5).abs() as f64 / 100.0;
                }
            }
            prop_assert_eq!(found.values.len(), expected);
            let table = found.table("kpis_monthly").unwrap();
            prop_assert_eq!(table.restated as usize, expected);
            let (total, changed) = table.revenue.unwrap();
            prop_assert!((total - revenue.0).abs() < 1e-9 && (changed - revenue.1).abs() < 1e-9);
            let sizes: Vec<f64> = found.values.iter().map(|v| v.size()).collect();
            prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        }
    }
}
