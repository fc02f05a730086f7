//! Segments: per named RFM segment (all of them, empty ones kept, sorted
//! by name) its customers, revenue, and the sums of CLV and probability
//! alive when the CLV stage ran. The `segments` table is built from these
//! totals by `tables::customers`.

use crate::clv::ExactSum;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::{CustomerSummary, SEGMENTS};

/// Totals per segment, in segment-name order (a cluster's executor sends
/// a partition's back without the names, which are always the same).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SegmentTotals {
    #[serde(skip, default = "sorted_names")]
    pub names: Vec<&'static str>,
    pub customers: Vec<i64>,
    pub revenue_cents: Vec<i64>,
    /// Per segment, the CLV sums of its customers; `None` when the CLV
    /// stage is off.
    clv: Option<Vec<ClvSums>>,
}

/// Σ clv and Σ p_alive over a segment's customers, exact: the same to the
/// last bit however the customers are ordered or partitioned, and a
/// partition's sums merge with the others'.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct ClvSums {
    clv: ExactSum,
    /// Whether a customer's CLV could not be computed: the segment's
    /// Σ clv is then `None`, as a sum without them would be wrong.
    uncomputable: bool,
    alive: ExactSum,
}

impl ClvSums {
    fn merge(&mut self, other: &ClvSums) {
        self.clv.merge(&other.clv);
        self.uncomputable |= other.uncomputable;
        self.alive.merge(&other.alive);
    }
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
        clv: None,
    };
    (totals, segments)
}

impl SegmentTotals {
    /// No customers.
    pub fn zero() -> SegmentTotals {
        part_totals(&CustomerSummary::default()).0
    }

    /// Adds another partition's totals: its CLV sums too when both have
    /// them.
    pub fn add(&mut self, other: &SegmentTotals) {
        for (a, b) in self.customers.iter_mut().zip(&other.customers) {
            *a += b;
        }
        for (a, b) in self.revenue_cents.iter_mut().zip(&other.revenue_cents) {
            *a += b;
        }
        if let (Some(mine), Some(theirs)) = (&mut self.clv, &other.clv) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.merge(b);
            }
        }
    }

    /// Σ clv per segment, rounded once (`None` for a segment with a CLV
    /// that could not be computed); `None` when the CLV stage is off.
    pub fn clv_sum(&self) -> Option<Vec<Option<f64>>> {
        let sums = self.clv.as_ref()?;
        Some(
            sums.iter()
                .map(|s| (!s.uncomputable).then(|| s.clv.value()))
                .collect(),
        )
    }

    /// Σ p_alive per segment, rounded once; `None` when the CLV stage is
    /// off.
    pub fn alive_sum(&self) -> Option<Vec<f64>> {
        let sums = self.clv.as_ref()?;
        Some(sums.iter().map(|s| s.alive.value()).collect())
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
        self.clv = Some(vec![ClvSums::default(); self.names.len()]);
        self
    }

    /// Adds the CLV sums of the next customers: `segments` are their
    /// segment indexes, as `scores` are their scores (in any order: the
    /// sums are exact).
    ///
    /// # Panics
    /// Without [`SegmentTotals::with_zero_clv`] first.
    pub fn add_clv(&mut self, segments: &[u8], scores: &ClvScores) {
        let sums = self
            .clv
            .as_mut()
            .expect("the CLV sums are started before they are added to");
        for (c, &i) in segments.iter().enumerate() {
            let sum = &mut sums[i as usize];
            match scores.clv[c] {
                Some(clv) => sum.clv.add(clv),
                None => sum.uncomputable = true,
            }
            sum.alive.add(scores.p_alive[c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::online_exact_sum;
    use proptest::prelude::*;

    /// Customers as (segment index, CLV, p_alive).
    type Customer = (u8, Option<f64>, f64);

    fn totals_of(customers: &[Customer]) -> SegmentTotals {
        let segments: Vec<u8> = customers.iter().map(|c| c.0).collect();
        let scores = ClvScores {
            clv: customers.iter().map(|c| c.1).collect(),
            p_alive: customers.iter().map(|c| c.2).collect(),
            ..ClvScores::default()
        };
        SegmentTotals::zero().with_clv(&segments, &scores)
    }

    fn customer() -> impl Strategy<Value = Customer> {
        let clv = prop_oneof![
            12 => (0.0f64..5_000.0).prop_map(Some),
            2 => (1e-9f64..1e-3).prop_map(Some),
            1 => Just(None),
        ];
        (0u8..SEGMENTS.len() as u8, clv, 0.0f64..1.0)
    }

    proptest! {
        /// Each segment's sums are its customers' exact sums rounded once,
        /// `None` for a CLV that could not be computed, whatever the order
        /// and however the customers are split into partitions merged.
        #[test]
        fn clv_sums_are_exact_whatever_the_order_and_split(
            customers in prop::collection::vec(customer(), 0..200),
            rotation in 0usize..200,
            cut in 0usize..200,
        ) {
            let segments = SEGMENTS.len();
            let want_clv: Vec<Option<f64>> = (0..segments)
                .map(|s| {
                    let of: Vec<Option<f64>> = customers
                        .iter()
                        .filter(|c| c.0 as usize == s)
                        .map(|c| c.1)
                        .collect();
                    let all: Option<Vec<f64>> = of.into_iter().collect();
                    all.map(|terms| online_exact_sum(&terms))
                })
                .collect();
            let want_alive: Vec<f64> = (0..segments)
                .map(|s| {
                    let terms: Vec<f64> =
                        customers.iter().filter(|c| c.0 as usize == s).map(|c| c.2).collect();
                    online_exact_sum(&terms)
                })
                .collect();
            let bits = |v: &[Option<f64>]| -> Vec<Option<u64>> {
                v.iter().map(|x| x.map(f64::to_bits)).collect()
            };
            let alive_bits = |v: &[f64]| -> Vec<u64> { v.iter().map(|x| x.to_bits()).collect() };

            let mut turned = customers.clone();
            let turn = rotation.min(turned.len());
            turned.rotate_left(turn);
            let (a, b) = turned.split_at(cut.min(turned.len()));
            let mut merged = totals_of(a);
            merged.add(&totals_of(b));
            for totals in [totals_of(&customers), merged] {
                let clv = totals.clv_sum().expect("CLV sums");
                let alive = totals.alive_sum().expect("CLV sums");
                prop_assert_eq!(bits(&clv), bits(&want_clv));
                prop_assert_eq!(alive_bits(&alive), alive_bits(&want_alive));
                let counted: i64 = totals.customers.iter().sum();
                prop_assert_eq!(counted, 0, "with_clv adds no customer counts");
            }
        }
    }

    /// Without the CLV stage there are no CLV sums, and merging a
    /// partition's totals without them leaves them absent.
    #[test]
    fn without_clv_there_are_no_sums() {
        let mut totals = SegmentTotals::zero();
        totals.add(&SegmentTotals::zero());
        assert_eq!((totals.clv_sum(), totals.alive_sum()), (None, None));
    }
}
