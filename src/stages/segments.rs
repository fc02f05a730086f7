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

/// The totals of one summary's customers (every customer, or one
/// partition's), with the CLV sums when `clv` is given (the scores of the
/// same customers).
pub fn segment_totals(summary: &CustomerSummary, clv: Option<&ClvScores>) -> SegmentTotals {
    let (totals, segments) = part_totals(summary);
    match clv {
        Some(scores) => totals.with_clv(&segments, scores),
        None => totals,
    }
}

/// The segment names, sorted: the order of the table and of the indexes
/// [`part_totals`] gives.
fn sorted_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = SEGMENTS.to_vec();
    names.sort_unstable();
    names
}

/// The customer and revenue totals of one partition's summary (no CLV
/// sums), and each of its customers' segment (an index into the sorted
/// names).
pub fn part_totals(summary: &CustomerSummary) -> (SegmentTotals, Vec<u8>) {
    let names = sorted_names();
    let mut customers = vec![0i64; names.len()];
    // Sums of customers' revenue, each customer in one segment: they add
    // each accepted entry at most once and cannot wrap (see
    // `orders::MAX_ACCEPTED_VOLUME_CENTS`).
    let mut revenue = vec![0i64; names.len()];
    let mut segments = Vec::with_capacity(summary.revenue_cents.len());
    for (c, cents) in summary.revenue_cents.iter().enumerate() {
        let segment = summary.segment(c);
        let i = names
            .iter()
            .position(|&n| n == segment)
            .expect("every segment is listed");
        customers[i] += 1;
        revenue[i] += cents;
        segments.push(i as u8);
    }
    let totals = SegmentTotals {
        names,
        customers,
        revenue_cents: revenue,
        clv_sum: None,
        alive_sum: None,
    };
    (totals, segments)
}

impl SegmentTotals {
    /// No customers.
    pub fn zero() -> SegmentTotals {
        part_totals(&CustomerSummary::default()).0
    }

    /// Adds another partition's customer and revenue totals.
    pub fn add(&mut self, other: &SegmentTotals) {
        for (a, b) in self.customers.iter_mut().zip(&other.customers) {
            *a += b;
        }
        for (a, b) in self.revenue_cents.iter_mut().zip(&other.revenue_cents) {
            *a += b;
        }
    }

    /// The totals with the CLV sums of every customer: `segments` are the
    /// customers' segment indexes in code order, as `scores` are.
    pub fn with_clv(self, segments: &[u8], scores: &ClvScores) -> SegmentTotals {
        let mut totals = self.with_zero_clv();
        totals.add_clv(segments, scores);
        totals
    }

    /// The totals with CLV sums of no customer yet ([`SegmentTotals::add_clv`]).
    pub fn with_zero_clv(mut self) -> SegmentTotals {
        self.clv_sum = Some(vec![Some(0.0f64); self.names.len()]);
        self.alive_sum = Some(vec![0.0f64; self.names.len()]);
        self
    }

    /// Adds the CLV sums of the next customers in code order: `segments`
    /// are their segment indexes, as `scores` are their scores. Summed in
    /// customer order, so the sums do not depend on how the customers
    /// were partitioned.
    ///
    /// # Panics
    /// Without [`SegmentTotals::with_zero_clv`] first.
    pub fn add_clv(&mut self, segments: &[u8], scores: &ClvScores) {
        let started = "the CLV sums are started before they are added to";
        let clv_sum = self.clv_sum.as_mut().expect(started);
        let alive_sum = self.alive_sum.as_mut().expect(started);
        for (c, &i) in segments.iter().enumerate() {
            let i = i as usize;
            clv_sum[i] = clv_sum[i].zip(scores.clv[c]).map(|(sum, clv)| sum + clv);
            alive_sum[i] += scores.p_alive[c];
        }
    }
}
