//! Segments: one row per named RFM segment (all of them, empty ones kept,
//! sorted by name) with customers, revenue and share of revenue. The CLV
//! averages stay null until the CLV stage provides per-customer values.

use polars::prelude::*;

use crate::error::Result;
use crate::stages::customers::{money, ratio, CustomerSummary, SEGMENTS};

pub fn segments_table(summary: &CustomerSummary) -> Result<DataFrame> {
    let mut names: Vec<&str> = SEGMENTS.to_vec();
    names.sort_unstable();
    let mut customers = vec![0i64; names.len()];
    let mut revenue = vec![0i64; names.len()];
    for (segment, cents) in summary.segment.iter().zip(&summary.revenue_cents) {
        let i = names
            .iter()
            .position(|n| n == segment)
            .expect("every segment is listed");
        customers[i] += 1;
        revenue[i] += cents;
    }
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
            Column::new("customers".into(), customers),
            Column::new(
                "revenue".into(),
                revenue.iter().map(|&c| money(c)).collect::<Vec<_>>(),
            ),
            Column::new("share_of_revenue".into(), share),
            Column::new("avg_revenue".into(), avg_revenue),
            Column::full_null("avg_clv".into(), n, &DataType::Float64),
            Column::full_null("avg_p_alive".into(), n, &DataType::Float64),
        ],
    )?)
}
