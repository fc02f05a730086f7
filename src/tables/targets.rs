//! The CRM target lists ([`crate::stages::targets`], README "Target
//! lists"): `win_back`, `at_risk_high_value`, `reengage_new` and `vip`,
//! one row per customer on the list, each customer on at most one list,
//! with the figures that put them there and a fixed `suggested_action`.
//! `win_back` and `reengage_new` are always written, `at_risk_high_value`
//! with the CLV stage, `vip` with tiers or the CLV stage.

use std::ops::Range;
use std::sync::Arc;

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::io::list_files::StoredList;
use crate::io::publish::RowSource;
use crate::stages::per_customer::PerCustomer;
use crate::stages::targets::{AtRiskRow, ListRows, ReengageRow, TargetList, VipRow, WinBackRow};
use crate::stages::tiers::Tiers;
use crate::tables::schema::col;
use crate::tables::schema::targets::{AT_RISK_HIGH_VALUE, REENGAGE_NEW, VIP, WIN_BACK};
use crate::tables::schema::TableSchema;

/// The declaration of a list's table.
pub fn list_schema(list: TargetList) -> &'static TableSchema {
    match list {
        TargetList::WinBack => &WIN_BACK,
        TargetList::AtRiskHighValue => &AT_RISK_HIGH_VALUE,
        TargetList::ReengageNew => &REENGAGE_NEW,
        TargetList::Vip => &VIP,
    }
}

/// A list's rows in the table's order: held (customer codes, named by
/// the per-customer results' ids), or merged into a spill file with their
/// ids when the per-customer results are spilled.
pub enum ListSource {
    Held(ListRows),
    Stored(StoredList),
}

impl ListSource {
    pub fn list(&self) -> TargetList {
        match self {
            ListSource::Held(rows) => rows.list(),
            ListSource::Stored(stored) => stored.list(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ListSource::Held(rows) => rows.len(),
            ListSource::Stored(stored) => stored.rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One list's table, built a range of its rows at a time when published
/// (see [`RowSource`]).
pub struct ListTableRows {
    results: Arc<PerCustomer>,
    rows: ListSource,
}

impl ListTableRows {
    /// The list's rows, checked against its declaration once here.
    pub fn new(results: Arc<PerCustomer>, rows: ListSource) -> Result<ListTableRows> {
        let rows = ListTableRows { results, rows };
        rows.build(0..rows.rows.len().min(1))?;
        Ok(rows)
    }

    pub fn name(&self) -> &'static str {
        list_schema(self.rows.list()).name
    }

    fn build(&self, range: Range<usize>) -> Result<DataFrame> {
        let tiers = self.results.tiers.as_ref();
        let stored = match &self.rows {
            ListSource::Held(rows) => {
                let ids = |c| self.results.parts.held_id(c as usize);
                return list_table(rows, range, &Names { ids: &ids, tiers });
            }
            ListSource::Stored(stored) => stored,
        };
        let mut frames = stored.pieces_in(range)?.into_iter().map(|(piece, within)| {
            list_table(
                &piece.rows,
                within,
                &Names {
                    ids: &|c| piece.ids.get(c as usize),
                    tiers,
                },
            )
        });
        let Some(first) = frames.next() else {
            let rows = ListRows::empty(stored.list());
            let ids = |_| unreachable!("no rows, no ids");
            return list_table(&rows, 0..0, &Names { ids: &ids, tiers });
        };
        let mut frame = first?;
        for later in frames {
            frame.vstack_mut_owned(later?)?;
        }
        Ok(frame)
    }
}

impl RowSource for ListTableRows {
    fn height(&self) -> usize {
        self.rows.len()
    }

    fn rows(&self, offset: usize, length: usize) -> DataFrame {
        self.build(offset..offset + length)
            .expect("the list's columns were checked when its rows were made")
    }
}

/// What the rows' codes name: the customers' ids (by a row's `customer`)
/// and the tiers.
pub struct Names<'a> {
    pub ids: &'a dyn Fn(u32) -> &'a str,
    pub tiers: Option<&'a Tiers>,
}

impl<'a> Names<'a> {
    fn ids<R>(&self, rows: &[R], customer: impl Fn(&R) -> u32) -> Vec<&'a str> {
        rows.iter().map(|r| (self.ids)(customer(r))).collect()
    }
}

/// The rows `range` of one list's table.
pub fn list_table(rows: &ListRows, range: Range<usize>, names: &Names) -> Result<DataFrame> {
    match rows {
        ListRows::WinBack(rows) => win_back_table(&rows[range], names),
        ListRows::AtRiskHighValue(rows) => at_risk_table(&rows[range], names),
        ListRows::ReengageNew(rows) => reengage_table(&rows[range], names),
        ListRows::Vip(rows) => vip_table(&rows[range], names),
    }
}

/// `values` picked from each row.
fn pick<R, T>(rows: &[R], value: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

/// The last column of every list.
fn suggested_action(list: TargetList, n: usize) -> Vec<&'static str> {
    vec![list.suggested_action(); n]
}

fn win_back_table(rows: &[WinBackRow], names: &Names) -> Result<DataFrame> {
    let n = rows.len();
    FrameBuilder::new(&WIN_BACK, n)
        .add(col::CUSTOMER_ID, names.ids(rows, |r| r.customer))?
        .dates(col::LAST_ORDER_DATE, pick(rows, |r| r.last_order_day))?
        .add(
            col::DAYS_SINCE_LAST_ORDER,
            pick(rows, |r| r.days_since_last_order),
        )?
        .add(col::ORDERS, pick(rows, |r| r.orders))?
        .money(col::REVENUE, &pick(rows, |r| r.revenue_cents))?
        .add(
            col::SUGGESTED_ACTION,
            suggested_action(TargetList::WinBack, n),
        )?
        .finish()
}

fn at_risk_table(rows: &[AtRiskRow], names: &Names) -> Result<DataFrame> {
    let n = rows.len();
    FrameBuilder::new(&AT_RISK_HIGH_VALUE, n)
        .add(col::CUSTOMER_ID, names.ids(rows, |r| r.customer))?
        .add(col::CLV, pick(rows, |r| r.clv))?
        .add(col::CLV_QUANTILE, pick(rows, |r| r.clv_quantile))?
        .add(col::P_ALIVE, pick(rows, |r| r.p_alive))?
        .add(col::FREQUENCY, pick(rows, |r| r.frequency))?
        .add(col::RECENCY_DAYS, pick(rows, |r| r.recency_days))?
        .add(col::USUAL_GAP_DAYS, pick(rows, |r| r.usual_gap_days))?
        .add(
            col::DAYS_SINCE_LAST_ORDER,
            pick(rows, |r| r.days_since_last_order),
        )?
        .money(col::REVENUE, &pick(rows, |r| r.revenue_cents))?
        .add(
            col::SUGGESTED_ACTION,
            suggested_action(TargetList::AtRiskHighValue, n),
        )?
        .finish()
}

fn reengage_table(rows: &[ReengageRow], names: &Names) -> Result<DataFrame> {
    let n = rows.len();
    FrameBuilder::new(&REENGAGE_NEW, n)
        .add(col::CUSTOMER_ID, names.ids(rows, |r| r.customer))?
        .dates(col::FIRST_ORDER_DATE, pick(rows, |r| r.first_order_day))?
        .add(
            col::DAYS_SINCE_FIRST_ORDER,
            pick(rows, |r| r.days_since_first_order),
        )?
        .add(col::TYPICAL_GAP_DAYS, pick(rows, |r| r.typical_gap_days))?
        .money(col::REVENUE, &pick(rows, |r| r.revenue_cents))?
        .add(
            col::SUGGESTED_ACTION,
            suggested_action(TargetList::ReengageNew, n),
        )?
        .finish()
}

fn vip_table(rows: &[VipRow], names: &Names) -> Result<DataFrame> {
    let n = rows.len();
    FrameBuilder::new(&VIP, n)
        .add(col::CUSTOMER_ID, names.ids(rows, |r| r.customer))?
        .add(
            col::TIER,
            pick(rows, |r| {
                r.tier.zip(names.tiers).map(|(i, t)| t.names[i].as_str())
            }),
        )?
        .money(
            col::TRAILING_12M_SPEND,
            &pick(rows, |r| r.trailing_12m_cents),
        )?
        .add(col::TOP_TIER, pick(rows, |r| r.top_tier))?
        .add(col::CLV, pick(rows, |r| r.clv))?
        .add(col::CLV_QUANTILE, pick(rows, |r| r.clv_quantile))?
        .add(col::TOP_CLV, pick(rows, |r| r.top_clv))?
        .money(col::REVENUE, &pick(rows, |r| r.revenue_cents))?
        .add(col::SUGGESTED_ACTION, suggested_action(TargetList::Vip, n))?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::list_files::ListRuns;
    use crate::io::spill::SpillDir;
    use crate::stages::orders::CustomerIds;
    use crate::stages::orders::OrderHistory;
    use crate::stages::per_customer::held_parts;
    use crate::stages::targets::{joined_lists, part_rows, published_lists, ListPiece, Targets};
    use crate::tables::schema::Options;

    /// The per-customer results of the history `rows` on day 620, in one
    /// partition, held; no CLV and no tiers.
    fn results_of(rows: &[(&str, i32, i64)]) -> Arc<PerCustomer> {
        let h = OrderHistory::from_rows(620, rows);
        Arc::new(PerCustomer {
            parts: held_parts(&h),
            as_of: h.as_of,
            clv: None,
            tiers: None,
            window: 365,
            targets: Default::default(),
        })
    }

    /// Any range of a list's rows is that slice of the whole list: five
    /// lapsed customers (win_back) and two one-time buyers past the gap
    /// of a customer with two orders (reengage_new).
    #[test]
    fn any_range_of_a_list_is_that_slice_of_the_whole_list() {
        let mut rows = vec![("m", 600, 100), ("m", 610, 100)];
        for (i, id) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            rows.push((id, 10 + i as i32, 100 * i as i64 + 50));
        }
        rows.extend([("x", 580, 300), ("y", 590, 200)]);
        let results = results_of(&rows);
        let part = results.parts.part(0).unwrap();
        let inputs = results.target_inputs((&part, 0), None);
        let targets = Targets::of(
            None,
            part.summary.second_order_gap_doubled,
            &results.targets,
        )
        .unwrap();
        let published = published_lists(false, false);
        let rows = part_rows(&inputs, &targets, &published).unwrap();
        let lists = joined_lists(&published, vec![rows]);
        let sizes: Vec<usize> = lists.iter().map(ListRows::len).collect();
        assert_eq!(sizes, [5, 2]);
        for list in lists {
            let n = list.len();
            let rows = ListTableRows::new(results.clone(), ListSource::Held(list)).unwrap();
            let whole = rows.rows(0, n);
            for (offset, length) in [(0, 0), (0, 1), (1, 1), (1, n - 1), (n, 0)] {
                let part = rows.rows(offset, length);
                assert!(part.equals_missing(&whole.slice(offset as i64, length)));
            }
        }
    }

    /// A stored list (its runs merged into a spill file of pieces) gives
    /// the held list's table for every range of rows, whatever the
    /// pieces' size, compressed or not.
    #[test]
    fn a_stored_list_gives_the_held_lists_table() {
        let mut rows = vec![("m", 600, 100), ("m", 610, 100)];
        for (i, id) in ["a", "b", "c", "d", "e", "f", "g"].into_iter().enumerate() {
            rows.push((id, 10 + i as i32, 100 * (i as i64 % 3) + 50));
        }
        let results = results_of(&rows);
        let part = results.parts.part(0).unwrap();
        let targets = Targets::of(None, None, &results.targets).unwrap();
        let published = [TargetList::WinBack];
        let inputs = results.target_inputs((&part, 0), None);
        let [win_back] = &joined_lists(
            &published,
            vec![part_rows(&inputs, &targets, &published).unwrap()],
        )[..] else {
            panic!("one list asked for");
        };
        let n = win_back.len();
        assert_eq!(n, 7);
        let held = ListTableRows::new(results.clone(), ListSource::Held(win_back.clone())).unwrap();
        let out = tempfile::tempdir().unwrap();
        for (compress, piece_rows) in [(false, 1), (true, 2), (false, 3), (true, 100)] {
            let dir = Arc::new(SpillDir::create(out.path(), compress).unwrap());
            let runs = ListRuns::new(dir.clone(), 3).in_pieces_of(piece_rows);
            let piece = ListPiece::of(win_back.clone(), |c| results.parts.held_id(c));
            // Three runs, each in the list's order: rows 0, 3, 6 ..
            let written = (0..3)
                .map(|k| {
                    let every_third = piece.clone().split(1).into_iter().skip(k).step_by(3);
                    let mut run = ListPiece::empty(TargetList::WinBack);
                    every_third.for_each(|one| run.append(one));
                    runs.write_run(run, k).unwrap().unwrap()
                })
                .collect();
            let stored = runs.merge(TargetList::WinBack, written).unwrap();
            assert_eq!(stored.rows(), n);
            let stored = ListTableRows::new(results.clone(), ListSource::Stored(stored)).unwrap();
            for offset in 0..=n {
                for length in 0..=n - offset {
                    let (a, b) = (held.rows(offset, length), stored.rows(offset, length));
                    assert!(
                        a.equals_missing(&b),
                        "{offset}+{length}, pieces of {piece_rows}"
                    );
                }
            }
            assert!(dir.written() > 0);
        }
    }

    /// Ids `a` to `d` for the codes 0 to 3.
    fn ids() -> CustomerIds {
        CustomerIds::of(["a", "b", "c", "d"])
    }

    fn table_of(rows: &ListRows) -> DataFrame {
        let ids = ids();
        let names = Names {
            ids: &|c| ids.get(c as usize),
            tiers: None,
        };
        list_table(rows, 0..rows.len(), &names).unwrap()
    }

    fn lists() -> Vec<ListRows> {
        vec![
            ListRows::WinBack(vec![WinBackRow {
                customer: 0,
                last_order_day: 19_000,
                days_since_last_order: 400,
                orders: 2,
                revenue_cents: 12_345,
            }]),
            ListRows::AtRiskHighValue(vec![AtRiskRow {
                customer: 1,
                clv: 250.0,
                clv_quantile: 0.9,
                p_alive: 0.3,
                frequency: 2,
                recency_days: 60,
                usual_gap_days: 30.0,
                days_since_last_order: 45,
                revenue_cents: 50_000,
            }]),
            ListRows::ReengageNew(vec![ReengageRow {
                customer: 2,
                first_order_day: 19_300,
                days_since_first_order: 40,
                typical_gap_days: Some(32.5),
                revenue_cents: 999,
            }]),
            ListRows::Vip(vec![VipRow {
                customer: 3,
                tier: None,
                trailing_12m_cents: 100_000,
                top_tier: None,
                clv: Some(900.0),
                clv_quantile: Some(0.95),
                top_clv: Some(true),
                revenue_cents: 150_000,
            }]),
        ]
    }

    #[test]
    fn every_list_table_conforms() {
        let tables: Vec<(&str, DataFrame)> = lists()
            .iter()
            .map(|rows| (list_schema(rows.list()).name, table_of(rows)))
            .collect();
        let names: Vec<&str> = tables.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                WIN_BACK.name,
                AT_RISK_HIGH_VALUE.name,
                REENGAGE_NEW.name,
                VIP.name
            ]
        );
        for (name, frame) in &tables {
            let schema = crate::tables::schema::schema_of(name).unwrap();
            schema.conforms(frame, &Options::default()).unwrap();
            assert_eq!(frame.height(), 1, "{name}");
        }
        let revenue = tables[0]
            .1
            .column(col::REVENUE)
            .unwrap()
            .f64()
            .unwrap()
            .clone();
        assert_eq!(revenue.get(0), Some(123.45));
        let action = tables[3]
            .1
            .column(col::SUGGESTED_ACTION)
            .unwrap()
            .str()
            .unwrap()
            .clone();
        assert_eq!(action.get(0), Some(TargetList::Vip.suggested_action()));
    }

    #[test]
    fn empty_lists_conform() {
        for rows in [
            ListRows::WinBack(Vec::new()),
            ListRows::AtRiskHighValue(Vec::new()),
            ListRows::ReengageNew(Vec::new()),
            ListRows::Vip(Vec::new()),
        ] {
            let frame = table_of(&rows);
            list_schema(rows.list())
                .conforms(&frame, &Options::default())
                .unwrap();
            assert_eq!(frame.height(), 0);
        }
    }
}
