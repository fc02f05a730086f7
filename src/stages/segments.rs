//! Segments: per named RFM segment (all of them, empty ones kept, sorted
//! by name) its customers, revenue, and the sums of CLV and probability
//! alive when the CLV stage ran. The `segments` table is built from these
//! totals by `tables::customers`.

use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::{CustomerSummary, SEGMENTS};

/// Totals per segment, in segment-name order.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentTotals {
    pub names: Vec<&'static str>,
    pub customers: Vec<i64>,
    pub revenue_cents: Vec<i64>,
    /// Σ clv and Σ p_alive over the segment's customers; `None` when the
    /// CLV stage is off. A segment's Σ clv is `None` when one of its
    /// customers' CLV could not be computed.
    pub clv_sum: Option<Vec<Option<f64>>>,
    pub alive_sum: Option<Vec<f64>>,
}

pub fn segment_totals(summary: &CustomerSummary, clv: Option<&ClvScores>) -> SegmentTotals {
    let mut names: Vec<&'static str> = SEGMENTS.to_vec();
    names.sort_unstable();
    let mut customers = vec![0i64; names.len()];
    // Sums of customers' revenue, each customer in one segment: they add
    // each accepted entry at most once and cannot wrap (see
    // `orders::MAX_ACCEPTED_VOLUME_CENTS`).
    let mut revenue = vec![0i64; names.len()];
    let mut clv_sum = vec![Some(0.0f64); names.len()];
    let mut alive_sum = vec![0.0f64; names.len()];
    for (c, cents) in summary.revenue_cents.iter().enumerate() {
        let segment = summary.segment(c);
        let i = names
            .iter()
            .position(|&n| n == segment)
            .expect("every segment is listed");
        customers[i] += 1;
        revenue[i] += cents;
        if let Some(scores) = clv {
            // Summed in customer order: the same result on every run.
            clv_sum[i] = clv_sum[i].zip(scores.clv[c]).map(|(sum, clv)| sum + clv);
            alive_sum[i] += scores.p_alive[c];
        }
    }
    SegmentTotals {
        names,
        customers,
        revenue_cents: revenue,
        clv_sum: clv.map(|_| clv_sum),
        alive_sum: clv.map(|_| alive_sum),
    }
}
