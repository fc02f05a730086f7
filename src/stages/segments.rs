//! Segments: one row per named RFM segment (all of them, empty ones kept,
//! sorted by name) with customers, revenue, share of revenue, and the
//! average CLV and probability alive (null when the CLV stage is off).

use polars::prelude::*;

use crate::error::Result;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::{CustomerSummary, SEGMENTS};
use crate::tables::values::{money, ratio};

pub fn segments_table(summary: &CustomerSummary, clv: Option<&ClvScores>) -> Result<DataFrame> {
    let mut names: Vec<&str> = SEGMENTS.to_vec();
    names.sort_unstable();
    let mut customers = vec![0i64; names.len()];
    // Sums of customers' revenue, each customer in one segment: they add
    // each accepted entry at most once and cannot wrap (see
    // `orders::MAX_ACCEPTED_VOLUME_CENTS`).
    let mut revenue = vec![0i64; names.len()];
    let mut clv_sum = vec![0.0f64; names.len()];
    let mut alive_sum = vec![0.0f64; names.len()];
    for (c, (segment, cents)) in summary
        .segment
        .iter()
        .zip(&summary.revenue_cents)
        .enumerate()
    {
        let i = names
            .iter()
            .position(|n| n == segment)
            .expect("every segment is listed");
        customers[i] += 1;
        revenue[i] += cents;
        if let Some(scores) = clv {
            // Summed in customer order: the same result on every run.
            clv_sum[i] += scores.clv[c];
            alive_sum[i] += scores.p_alive[c];
        }
    }
    let average = |sums: &[f64], i: usize| clv.and_then(|_| ratio(sums[i], customers[i]));
    let total: i64 = revenue.iter().sum();
    let share: Vec<Option<f64>> = revenue
        .iter()
        .map(|&r| (total != 0).then(|| r as f64 / total as f64))
        .collect();
    let n = names.len();
    let avg_revenue: Vec<Option<f64>> = (0..n)
        .map(|i| ratio(money(revenue[i]), customers[i]))
        .collect();
    Ok(DataFrame::new(
        n,
        vec![
            Column::new("rfm_segment".into(), names),
            Column::new("customers".into(), customers.clone()),
            Column::new(
                "revenue".into(),
                revenue.iter().map(|&c| money(c)).collect::<Vec<_>>(),
            ),
            Column::new("share_of_revenue".into(), share),
            Column::new("avg_revenue".into(), avg_revenue),
            Column::new(
                "avg_clv".into(),
                (0..n).map(|i| average(&clv_sum, i)).collect::<Vec<_>>(),
            ),
            Column::new(
                "avg_p_alive".into(),
                (0..n).map(|i| average(&alive_sum, i)).collect::<Vec<_>>(),
            ),
        ],
    )?)
}
