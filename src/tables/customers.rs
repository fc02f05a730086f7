//! `customers` (one row per customer: the BTYD summary, RFM scores and
//! segment, CLV scores and loyalty tier) and `segments` (one row per named
//! RFM segment), built from the customer stage's [`CustomerSummary`], the
//! segment totals ([`segment_totals`]) and, when the CLV stage ran, its
//! [`ClvScores`]. With the CLV stage off the CLV columns are null; without
//! `[loyalty]` the tier columns are null (`trailing_12m_spend` is always
//! there). Every ratio is null when its denominator is 0.

use std::ops::Range;
use std::sync::Arc;

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::Result;
use crate::io::publish::RowSource;
use crate::stages::clv_scores::{interval_end, ClvScores, SimpleClv};
use crate::stages::customers::CustomerSummary;
use crate::stages::per_customer::{CustomerPart, PerCustomer};
use crate::stages::segments::SegmentTotals;
use crate::tables::schema::col;
use crate::tables::schema::customers::{CUSTOMERS, SEGMENTS};
use crate::tables::schema::values::{money, ratio};
use crate::tables::tiers::tier_columns;
use crate::time::{month_of_day, month_start};

/// The `customers` table, one row per customer in id order, built a range
/// of rows at a time when published (see [`RowSource`]) from the stages'
/// per-customer results. The CLV columns are null when the CLV stage is
/// switched off; the loyalty tier columns go last (null without
/// `[loyalty]`, but for the trailing spend).
pub struct CustomerRows {
    results: Arc<PerCustomer>,
}

impl CustomerRows {
    /// The table's rows, checked against its declaration once here: no
    /// range can build differently typed columns.
    pub fn new(results: Arc<PerCustomer>) -> Result<CustomerRows> {
        let rows = CustomerRows { results };
        rows.build(0..rows.results.parts.customers().min(1))?;
        Ok(rows)
    }

    /// The rows of the customers in `codes`, a customer partition's at a
    /// time.
    fn build(&self, codes: Range<usize>) -> Result<DataFrame> {
        let parts = &self.results.parts;
        let mut frames = Vec::new();
        for (p, of_part) in parts.parts_in(codes.clone()) {
            let start = parts.codes_of(p).start;
            let clv = self.results.clv_of_part(p)?;
            let part = (&*parts.part(p)?, clv.as_deref());
            frames.push(self.build_part(part, start, of_part)?);
        }
        let mut frames = frames.into_iter();
        let Some(mut frame) = frames.next() else {
            // No customers: the columns of none.
            let none = ClvScores::default();
            let clv = self.results.clv.as_ref().map(|_| &none);
            return self.build_part(
                (&CustomerPart::default(), clv),
                codes.start,
                codes.start..codes.start,
            );
        };
        for later in frames {
            frame.vstack_mut_owned(later)?;
        }
        Ok(frame)
    }

    /// The rows of `part`'s customers `codes` (its first customer's code
    /// is `start`; `clv` its CLV scores, with the CLV stage).
    fn build_part(
        &self,
        (part, clv): (&CustomerPart, Option<&ClvScores>),
        start: usize,
        codes: Range<usize>,
    ) -> Result<DataFrame> {
        let s = &part.summary;
        let range = codes.start - start..codes.end - start;
        let as_of = self.results.as_of as i64;
        let values = |v: &[i64]| v[range.clone()].to_vec();
        let days = |v: &[i32]| v[range.clone()].to_vec();
        let cohort: Vec<i32> = s.first_order_day[range.clone()]
            .iter()
            .map(|&d| month_start(month_of_day(d)))
            .collect();
        let avg_order_value: Vec<Option<f64>> = range
            .clone()
            .map(|i| ratio(money(s.revenue_cents[i]), s.orders[i]))
            .collect();
        let monetary_value: Vec<f64> = range
            .clone()
            .map(|i| ratio(money(s.repeat_cents[i]), s.frequency[i]).unwrap_or(0.0))
            .collect();
        let days_since_last: Vec<i64> = s.last_order_day[range.clone()]
            .iter()
            .map(|&d| as_of - d as i64)
            .collect();
        let frame = FrameBuilder::new(&CUSTOMERS, range.len())
            .add(col::CUSTOMER_ID, part.ids.slice(range.clone()))?
            .dates(col::COHORT_MONTH, cohort)?
            .dates(col::FIRST_ORDER_DATE, days(&s.first_order_day))?
            .dates(col::LAST_ORDER_DATE, days(&s.last_order_day))?
            .add(col::ORDERS, values(&s.orders))?
            .money(col::REVENUE, &s.revenue_cents[range.clone()])?
            .add(col::AVG_ORDER_VALUE, avg_order_value)?
            .add(col::FREQUENCY, values(&s.frequency))?
            .add(col::RECENCY_DAYS, values(&s.recency_days))?
            .add(col::TENURE_DAYS, values(&s.tenure_days))?
            .add(col::MONETARY_VALUE, monetary_value)?
            .add(col::DAYS_SINCE_LAST_ORDER, days_since_last)?
            .add(col::R_SCORE, days(&s.r_score))?
            .add(col::F_SCORE, days(&s.f_score))?
            .add(col::M_SCORE, days(&s.m_score))?
            .add(
                col::RFM_SEGMENT,
                range.clone().map(|c| s.segment(c)).collect::<Vec<_>>(),
            )?;
        let simple = self.results.clv.as_ref().map(|(_, simple)| simple);
        let clv = clv.zip(simple);
        let mut frame = with_clv_scores(frame, clv, s, range.clone())?;
        for column in tier_columns(&part.tiers, self.results.tiers.as_ref(), range) {
            frame = frame.push(column)?;
        }
        frame.finish()
    }
}

impl RowSource for CustomerRows {
    fn height(&self) -> usize {
        self.results.parts.customers()
    }

    fn rows(&self, offset: usize, length: usize) -> DataFrame {
        self.build(offset..offset + length)
            .expect("the customers table's columns were checked when its rows were made")
    }
}

/// The CLV columns of the customers at `range` of a partition (`summary`
/// and the CLV scores of its customers): the scores, or nulls without
/// the CLV stage.
fn with_clv_scores(
    frame: FrameBuilder,
    clv: Option<(&ClvScores, &SimpleClv)>,
    summary: &CustomerSummary,
    range: Range<usize>,
) -> Result<FrameBuilder> {
    match clv {
        Some((scores, simple)) => {
            let orders = &scores.expected_orders_interval;
            let clv = &scores.clv_interval;
            frame
                .add(col::P_ALIVE, scores.p_alive[range.clone()].to_vec())?
                .add(
                    col::EXPECTED_ORDERS,
                    scores.expected_orders[range.clone()].to_vec(),
                )?
                .add(
                    col::EXPECTED_ORDERS_LOW,
                    interval_end(orders, 0, range.clone()),
                )?
                .add(
                    col::EXPECTED_ORDERS_HIGH,
                    interval_end(orders, 1, range.clone()),
                )?
                .add(col::P_NO_ORDER, scores.p_no_order[range.clone()].to_vec())?
                .add(
                    col::EXPECTED_AVG_ORDER_VALUE,
                    scores.expected_avg_order_value[range.clone()].to_vec(),
                )?
                .add(col::CLV, scores.clv[range.clone()].to_vec())?
                .add(col::CLV_LOW, interval_end(clv, 0, range.clone()))?
                .add(col::CLV_HIGH, interval_end(clv, 1, range.clone()))?
                .add(col::CLV_SIMPLE, simple.values(summary, range))
        }
        None => frame
            .nulls(col::P_ALIVE)?
            .nulls(col::EXPECTED_ORDERS)?
            .nulls(col::EXPECTED_ORDERS_LOW)?
            .nulls(col::EXPECTED_ORDERS_HIGH)?
            .nulls(col::P_NO_ORDER)?
            .nulls(col::EXPECTED_AVG_ORDER_VALUE)?
            .nulls(col::CLV)?
            .nulls(col::CLV_LOW)?
            .nulls(col::CLV_HIGH)?
            .nulls(col::CLV_SIMPLE),
    }
}

/// The `segments` table: every named segment, sorted by name, with its
/// customers, revenue, share of revenue, and the average CLV and
/// probability alive (null when the CLV stage is off).
pub fn segments_table(totals: &SegmentTotals) -> Result<DataFrame> {
    let n = totals.names.len();
    let customers = &totals.customers;
    let revenue = &totals.revenue_cents;
    let total: i64 = revenue.iter().sum();
    let share: Vec<Option<f64>> = revenue
        .iter()
        .map(|&r| (total != 0).then(|| r as f64 / total as f64))
        .collect();
    let avg_revenue: Vec<Option<f64>> = (0..n)
        .map(|i| ratio(money(revenue[i]), customers[i]))
        .collect();
    let average = |sums: &Option<Vec<Option<f64>>>| -> Vec<Option<f64>> {
        (0..n)
            .map(|i| sums.as_ref().and_then(|s| ratio(s[i]?, customers[i])))
            .collect()
    };
    let alive_sum = totals
        .alive_sum()
        .map(|sums| sums.into_iter().map(Some).collect());
    FrameBuilder::new(&SEGMENTS, n)
        .add(col::RFM_SEGMENT, totals.names.clone())?
        .add(col::CUSTOMERS, customers.clone())?
        .money(col::REVENUE, revenue)?
        .add(col::SHARE_OF_REVENUE, share)?
        .add(col::AVG_REVENUE, avg_revenue)?
        .add(col::AVG_CLV, average(&totals.clv_sum()))?
        .add(col::AVG_P_ALIVE, average(&alive_sum))?
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::clv_scores::ClvScoreParts;
    use crate::stages::orders::{HistoryPart, OrderHistory};
    use crate::stages::per_customer::{held_parts, summarize_customers};
    use crate::stages::segments::segment_totals;
    use crate::tables::schema::Options;

    /// Customer `a`: two orders and a refund; customer `b`: one order.
    fn history() -> OrderHistory {
        OrderHistory::from_rows(
            19_750,
            &[
                ("a", 19_723, 1_000),
                ("a", 19_730, 500),
                ("a", 19_735, -300),
                ("b", 19_740, 2_000),
            ],
        )
    }

    fn scores() -> ClvScores {
        ClvScores {
            p_alive: vec![0.9, 0.5],
            expected_orders: vec![Some(2.0), None],
            p_no_order: vec![0.1, 0.4],
            expected_avg_order_value: vec![7.5, 20.0],
            clv: vec![Some(14.0), None],
            expected_orders_interval: vec![[1.5, 2.5], [f64::NAN; 2]],
            clv_interval: vec![[10.0, 18.0], [f64::NAN; 2]],
        }
    }

    fn customer_rows(clv: Option<ClvScores>) -> CustomerRows {
        rows_of(history(), clv)
    }

    fn rows_of(h: OrderHistory, clv: Option<ClvScores>) -> CustomerRows {
        let parts = held_parts(&h);
        let codes = (0..parts.part_count()).map(|p| parts.codes_of(p));
        let clv = clv.map(|scores| ClvScoreParts::held_cut(&scores, codes));
        CustomerRows::new(Arc::new(PerCustomer {
            parts,
            as_of: h.as_of,
            clv: clv.map(|scores| {
                let simple = SimpleClv {
                    lifespan_years: Some(2.0),
                    margin: 1.0,
                };
                (scores, simple)
            }),
            tiers: None,
            window: 365,
            targets: Default::default(),
        }))
        .unwrap()
    }

    #[test]
    fn customers_conforms_to_its_declaration_with_and_without_clv() {
        for clv in [None, Some(scores())] {
            let frame = customer_rows(clv).rows(0, 2);
            CUSTOMERS.conforms(&frame, &Options::default()).unwrap();
            assert_eq!(frame.height(), 2);
        }
    }

    /// Rows built a range at a time are the rows of the whole table.
    #[test]
    fn any_range_of_rows_is_that_slice_of_the_whole_table() {
        for clv in [None, Some(scores())] {
            let rows = customer_rows(clv);
            let whole = rows.rows(0, 2);
            for (offset, length) in [(0, 0), (0, 1), (1, 1), (2, 0)] {
                let part = rows.rows(offset, length);
                assert!(part.equals_missing(&whole.slice(offset as i64, length)));
            }
        }
    }

    /// Customers `a` to `e` in partitions of two, none and three: every
    /// range, within a partition or across partitions, is that slice of
    /// the rows of the customers in one partition.
    #[test]
    fn ranges_across_partitions_are_slices_of_the_whole_table() {
        let rows: Vec<(&str, i32, i64)> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, 19_700 + i as i32, 100 * (i as i64 + 1)))
            .collect();
        let one = rows_of(OrderHistory::from_rows(19_750, &rows), None);
        let parts = vec![
            HistoryPart::from_rows(&rows[..2]),
            HistoryPart::default(),
            HistoryPart::from_rows(&rows[2..]),
        ];
        let split = rows_of(OrderHistory::of_parts(parts, 19_750, []), None);
        let whole = one.rows(0, 5);
        assert!(split.rows(0, 5).equals_missing(&whole));
        for (offset, length) in [(0, 0), (1, 1), (1, 2), (2, 3), (0, 5), (5, 0)] {
            let part = split.rows(offset, length);
            assert!(part.equals_missing(&whole.slice(offset as i64, length)));
        }
    }

    #[test]
    fn segments_conforms_to_its_declaration_with_and_without_clv() {
        let summary = summarize_customers(&history()).unwrap();
        for clv in [None, Some(scores())] {
            let frame = segments_table(&segment_totals(&summary, clv.as_ref())).unwrap();
            SEGMENTS.conforms(&frame, &Options::default()).unwrap();
            assert_eq!(frame.height(), 9);
            let avg_clv = frame.column(col::AVG_CLV).unwrap().f64().unwrap();
            assert_eq!(avg_clv.null_count() == 9, clv.is_none());
        }
    }

    /// Customer b's CLV could not be computed: their segment's average CLV
    /// is null (not the average of the others, not 0); a's stands.
    #[test]
    fn a_segment_with_an_uncomputable_clv_has_no_average() {
        let summary = summarize_customers(&history()).unwrap();
        let frame = segments_table(&segment_totals(&summary, Some(&scores()))).unwrap();
        let names = frame
            .column(col::RFM_SEGMENT)
            .unwrap()
            .str()
            .unwrap()
            .clone();
        let avg_clv = frame.column(col::AVG_CLV).unwrap().f64().unwrap().clone();
        let of = |c: usize| {
            let i = names
                .iter()
                .position(|n| n == Some(summary.segment(c)))
                .unwrap();
            avg_clv.get(i)
        };
        assert_ne!(summary.segment(0), summary.segment(1));
        assert_eq!(of(0), Some(14.0));
        assert_eq!(of(1), None);
    }
}
