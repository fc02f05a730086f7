//! Sums over compressed rows of the Pareto/NBD likelihood's terms, and
//! values per row (P(alive) for the predictions), with the "died in
//! (t_x, T]" integral taken from per-day integrals shared by every row of
//! one frequency.
//!
//! The integral's integrand ([`DiedMoments`]) depends on a row only
//! through its frequency x; rows differ in the range (t_x, T], and in the
//! compressed summary both ends are whole days. A frequency held by many
//! rows therefore gets a table: the integral over each day of its span,
//! by the same quadrature as a whole row's range ([`died_moments`]), stored
//! as a disjoint sparse table. Its level k cuts the days into blocks of 2^k
//! and holds, for each day, the integral from that day to its block's middle
//! (first half) or from the middle through that day (second half). Any day
//! range is then the sum of at most two stored parts, both sums of positive
//! terms: nothing cancels, as a difference of prefix sums would for a recent
//! customer (t_x close to T, a tiny integral beside a large one), and a row
//! costs one rescaling instead of a quadrature of 16–32 nodes.
//!
//! A table costs about one quadrature per day of its span, so only
//! frequencies with at least half as many rows as days get one; the others,
//! and any row whose ends are not whole days, are integrated row by row.
//! Frequencies are summed side by side, each building its table when it
//! starts and dropping it when done (memory: a table per busy thread, 12
//! levels × 2048 days × 48 bytes for a three-year daily history): one
//! frequency at a time left a core idle through every table's serial
//! parts and every frequency with fewer rows than a chunk. The sums are
//! added in a fixed order (tabled frequencies in the order of `rows.xs`,
//! each frequency's rows in (T, t_x) order, then the other rows in row
//! order, each in fixed chunks), so results do not depend on the thread
//! count.
//!
//! Why hand-written: the range-query crates of the field answer sums of
//! plain numbers; these are log-scaled five-moment integrals whose parts
//! must be rescaled when added.

use rayon::prelude::*;

use super::compress::RfmRows;
use super::optimize::chunked_sum;
use super::pareto_terms::{
    alive_logs, branches_with, died_moments, died_moments_at, range_nodes, AliveLogs, Branches,
    DiedMoments, RangeNodes,
};
use super::ParetoNbdParams;

/// Longest span a table covers (about 45 years of days); rows beyond it
/// are integrated row by row.
const MAX_SPAN: usize = 1 << 14;

/// No integral: an empty range.
const NOTHING: DiedMoments = DiedMoments {
    ln_scale: f64::NEG_INFINITY,
    sums: [0.0; 5],
};

/// What [`sum_over_rows`] sums: K sums over a chunk of rows, from each
/// row's weight and branches.
pub(super) trait RowSums<const K: usize>: Default {
    fn add(&mut self, w: f64, branches: &Branches);
    fn finish(self) -> [f64; K];
}

/// Σ over the rows of `S`'s K sums, each chunk summed by an `S` of its
/// own, the chunks added in a fixed order (see the module notes).
/// `groups` are the rows' ([`FrequencyGroups::of`]; a fit builds them
/// once for all its evaluations).
pub(super) fn sum_over_rows<const K: usize, S: RowSums<K>>(
    params: &ParetoNbdParams,
    (rows, groups): (&RfmRows, &FrequencyGroups),
) -> [f64; K] {
    let days = DayTerms::of(params, groups);
    // Frequencies side by side, each summed in its fixed chunks; their
    // sums are then added in frequency order, as one at a time would.
    let parts: Vec<[f64; K]> = groups
        .tabled
        .par_iter()
        .map(|members| {
            let table = table_of(params, members, &days);
            chunked_sum::<K, _>(members.len(), |range| {
                let mut sums = S::default();
                for m in &members.rows[range] {
                    sums.add(
                        m.w,
                        &tabled_branches(params, members.x, &table, &days.logs, m),
                    );
                }
                sums.finish()
            })
        })
        .collect();
    let mut total = [0.0; K];
    for part in parts {
        add_into(&mut total, part);
    }
    let rest = &groups.rest;
    let part = chunked_sum::<K, _>(rest.len(), |range| {
        let mut sums = S::default();
        for &i in &rest[range] {
            let i = i as usize;
            sums.add(rows.w[i], &integrated_branches(params, rows, i));
        }
        sums.finish()
    });
    add_into(&mut total, part);
    total
}

/// `value(branches of the row)` of every row, in row order, the integrals
/// taken as in [`sum_over_rows`].
pub(super) fn map_over_rows<F>(
    params: &ParetoNbdParams,
    (rows, groups): (&RfmRows, &FrequencyGroups),
    value: F,
) -> Vec<f64>
where
    F: Fn(&Branches) -> f64 + Sync,
{
    let days = DayTerms::of(params, groups);
    let mut out = vec![f64::NAN; rows.len()];
    let tabled: Vec<Vec<f64>> = groups
        .tabled
        .par_iter()
        .map(|members| {
            let table = table_of(params, members, &days);
            members
                .rows
                .par_iter()
                .map(|m| value(&tabled_branches(params, members.x, &table, &days.logs, m)))
                .collect()
        })
        .collect();
    for (members, values) in groups.tabled.iter().zip(tabled) {
        for (m, v) in members.rows.iter().zip(values) {
            out[m.row as usize] = v;
        }
    }
    let values: Vec<f64> = groups
        .rest
        .par_iter()
        .map(|&i| value(&integrated_branches(params, rows, i as usize)))
        .collect();
    for (&i, v) in groups.rest.iter().zip(values) {
        out[i as usize] = v;
    }
    out
}

/// What every tabled frequency reads of each day up to the last of a
/// tabled row, worked out once an evaluation: its [`AliveLogs`], and the
/// nodes of the day's integral ([`RangeNodes`]).
struct DayTerms {
    logs: Vec<AliveLogs>,
    nodes: Vec<Option<RangeNodes>>,
}

impl DayTerms {
    fn of(params: &ParetoNbdParams, groups: &FrequencyGroups) -> DayTerms {
        let days = groups.last_day;
        DayTerms {
            logs: (0..=days).map(|t| alive_logs(params, t as f64)).collect(),
            nodes: (0..days)
                .into_par_iter()
                .map(|d| range_nodes(params, d as f64, d as f64 + 1.0))
                .collect(),
        }
    }
}

/// The table of a frequency's rows `members`, over their span.
fn table_of(params: &ParetoNbdParams, members: &Members, days: &DayTerms) -> DayTable {
    let (first, end) = members.span;
    DayTable::build(params, members.x, (first, end), &days.nodes)
}

/// The branches of a row `m` of frequency `x`, whose table is `table`.
#[inline]
fn tabled_branches(
    params: &ParetoNbdParams,
    x: f64,
    table: &DayTable,
    day_logs: &[AliveLogs],
    m: &Member,
) -> Branches {
    let (t_x, t) = (m.t_x as usize, m.t as usize);
    let died = table.range(t_x, t);
    branches_with(params, x, day_logs[t], &died)
}

/// The branches of row `i`, its integral by quadrature.
fn integrated_branches(params: &ParetoNbdParams, rows: &RfmRows, i: usize) -> Branches {
    let (x, t) = (rows.x(i), rows.t(i));
    let died = died_moments(params, x, rows.t_x(i), t);
    branches_with(params, x, alive_logs(params, t), &died)
}

fn add_into<const K: usize>(total: &mut [f64; K], part: [f64; K]) {
    for (t, p) in total.iter_mut().zip(part) {
        *t += p;
    }
}

/// The rows split by whether their frequency gets a table.
pub(super) struct FrequencyGroups {
    /// The frequencies that get a table, in the order of `rows.xs`.
    tabled: Vec<Members>,
    /// Rows integrated one by one, in row order.
    rest: Vec<u32>,
    /// The last day of any tabled row.
    last_day: usize,
}

/// The rows of one frequency that gets a table, in (T, t_x) order, with
/// what their terms read copied side by side. A frequency's rows are
/// scattered through the summary's columns (rows are in first-seen order),
/// so reading them there cost a cache line per column and row, and those
/// loads bounded the sums. In (T, t_x) order, consecutive rows read the
/// table near where the last one did, where in first-seen order each row
/// read two entries anywhere in a table of about a megabyte: the
/// Pareto/NBD fit at 2 M customers took 1.27 s instead of 1.46 s (medians
/// of five pairs).
struct Members {
    x: f64,
    /// The first day and the end (exclusive) of the rows' ranges.
    span: (usize, usize),
    rows: Vec<Member>,
}

/// One row of a [`Members`]: its index, its (t_x, T) in whole days and its
/// weight.
struct Member {
    row: u32,
    t_x: u32,
    t: u32,
    w: f64,
}

impl Members {
    fn len(&self) -> usize {
        self.rows.len()
    }
}

impl FrequencyGroups {
    pub(super) fn of(rows: &RfmRows) -> FrequencyGroups {
        // Sized first: grown by doubling, the groups' vectors were copied
        // over and over, most of this function's time.
        let mut counts = vec![0usize; rows.xs.len()];
        for &x in &rows.x_idx {
            counts[x as usize] += 1;
        }
        let mut groups: Vec<Members> = rows
            .xs
            .iter()
            .zip(counts)
            .map(|(&x, count)| Members {
                x,
                span: (usize::MAX, 0),
                rows: Vec::with_capacity(count),
            })
            .collect();
        let mut rest = Vec::new();
        for i in 0..rows.len() {
            match whole_days(rows.t_x(i), rows.t(i)) {
                Some((lo, hi)) => {
                    let group = &mut groups[rows.x_idx[i] as usize];
                    group.span = (group.span.0.min(lo), group.span.1.max(hi));
                    group.rows.push(Member {
                        row: i as u32,
                        t_x: lo as u32,
                        t: hi as u32,
                        w: rows.w[i],
                    });
                }
                None => rest.push(i as u32),
            }
        }
        let (mut tabled, untabled): (Vec<Members>, Vec<Members>) =
            groups.into_iter().partition(|group| {
                let days = group.span.1.saturating_sub(group.span.0);
                !group.rows.is_empty() && 2 * group.len() >= days && days <= MAX_SPAN
            });
        // (t_x, T) is unique within a frequency.
        tabled.par_iter_mut().for_each(|group| {
            group
                .rows
                .par_sort_unstable_by_key(|m| (u64::from(m.t) << 32) | u64::from(m.t_x));
        });
        rest.extend(untabled.iter().flat_map(|g| g.rows.iter().map(|m| m.row)));
        rest.sort_unstable();
        let last_day = tabled.iter().map(|g| g.span.1).max().unwrap_or(0);
        FrequencyGroups {
            tabled,
            rest,
            last_day,
        }
    }
}

/// (t_x, T) as whole days within a table's reach.
fn whole_days(t_x: f64, t: f64) -> Option<(usize, usize)> {
    let whole = |v: f64| v >= 0.0 && v <= MAX_SPAN as f64 && v.fract() == 0.0;
    (whole(t_x) && whole(t) && t_x <= t).then_some((t_x as usize, t as usize))
}

/// One frequency's per-day integrals over days `first..end`, as a disjoint
/// sparse table (see the module notes).
struct DayTable {
    first: usize,
    /// levels[0][d]: the integral over day `first + d`, i.e. over
    /// [first + d, first + d + 1]. levels[k], k ≥ 1: blocks of 2^k days.
    levels: Vec<Vec<DiedMoments>>,
}

impl DayTable {
    /// The table of frequency x over days `first..end`; `nodes` are the
    /// days' [`RangeNodes`] (from day 0; any missing are integrated
    /// alone).
    fn build(
        params: &ParetoNbdParams,
        x: f64,
        (first, end): (usize, usize),
        nodes: &[Option<RangeNodes>],
    ) -> DayTable {
        let days = end - first;
        let size = days.next_power_of_two().max(2);
        let leaves: Vec<DiedMoments> = (0..size)
            .into_par_iter()
            .map(|d| {
                let day = first + d;
                if d < days {
                    let range = (day as f64, day as f64 + 1.0);
                    let nodes = nodes.get(day).and_then(Option::as_ref);
                    died_moments_at(params, x, range, nodes)
                } else {
                    NOTHING
                }
            })
            .collect();
        let mut levels = vec![leaves];
        let mut half = 1;
        while half < size {
            let level = block_sums(&levels[0], half);
            levels.push(level);
            half *= 2;
        }
        DayTable { first, levels }
    }

    /// The integral over [lo, hi] (whole days within the table's span).
    #[inline]
    fn range(&self, lo: usize, hi: usize) -> DiedMoments {
        if lo >= hi {
            return NOTHING;
        }
        let (l, r) = (lo - self.first, hi - 1 - self.first);
        if l == r {
            return self.levels[0][l];
        }
        let k = (usize::BITS - (l ^ r).leading_zeros()) as usize;
        add(&self.levels[k][l], &self.levels[k][r])
    }
}

/// One level of the table: blocks of 2·`half` leaves, each entry the sum
/// from its leaf to the block's middle (first half, summed leftwards) or
/// from the middle through its leaf (second half).
fn block_sums(leaves: &[DiedMoments], half: usize) -> Vec<DiedMoments> {
    let mut level = vec![NOTHING; leaves.len()];
    for start in (0..leaves.len()).step_by(2 * half) {
        let middle = start + half;
        let mut acc = NOTHING;
        for i in (start..middle).rev() {
            acc = add(&leaves[i], &acc);
            level[i] = acc;
        }
        acc = NOTHING;
        for j in middle..start + 2 * half {
            acc = add(&acc, &leaves[j]);
            level[j] = acc;
        }
    }
    level
}

/// The sum of two scaled integrals, at the larger scale.
#[inline]
fn add(a: &DiedMoments, b: &DiedMoments) -> DiedMoments {
    let (big, small) = if a.ln_scale >= b.ln_scale {
        (a, b)
    } else {
        (b, a)
    };
    if big.ln_scale == f64::NEG_INFINITY {
        return NOTHING;
    }
    let shrink = (small.ln_scale - big.ln_scale).exp();
    DiedMoments {
        ln_scale: big.ln_scale,
        sums: std::array::from_fn(|k| big.sums[k] + small.sums[k] * shrink),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ParetoNbdParams {
        ParetoNbdParams {
            r: 0.55,
            alpha: 10.6,
            s: 0.61,
            beta: 11.7,
        }
    }

    fn close(a: &DiedMoments, b: &DiedMoments, tol: f64) -> bool {
        let scale_ok = (a.ln_first() - b.ln_first()).abs() <= tol;
        let ratios = (1..5).all(|k| {
            let (ma, mb) = (a.sums[k] / a.sums[0], b.sums[k] / b.sums[0]);
            (ma - mb).abs() <= tol * mb.abs().max(1e-300)
        });
        scale_ok && ratios
    }

    /// Every range of a table equals the same range integrated directly,
    /// for a light and a heavy buyer (an exponent of 300 makes the far days
    /// hundreds of e-folds smaller than the near ones).
    #[test]
    fn every_range_equals_its_direct_integral() {
        let p = params();
        for &(x, first, end) in &[(0.0, 0, 37), (3.0, 5, 70), (300.0, 2, 41)] {
            let nodes: Vec<_> = (0..end)
                .map(|d| range_nodes(&p, d as f64, d as f64 + 1.0))
                .collect();
            let table = DayTable::build(&p, x, (first, end), &nodes);
            for lo in first..end {
                for hi in lo + 1..=end {
                    let got = table.range(lo, hi);
                    let want = died_moments(&p, x, lo as f64, hi as f64);
                    assert!(close(&got, &want, 1e-12), "x {x} [{lo}, {hi}]");
                }
            }
            assert_eq!(
                table.range(first + 3, first + 3).ln_first(),
                f64::NEG_INFINITY
            );
        }
    }

    /// Rows of a table's frequencies (0 and 2 interleaved, every (t_x, T)
    /// up to 40 days) and two rows integrated one by one (a rare frequency and a
    /// fractional day).
    fn mixed_rows() -> RfmRows {
        let mut values = Vec::new();
        for t in 0..40 {
            values.push((0.0, 0.0, t as f64));
            for t_x in 0..=t {
                values.push((2.0, t_x as f64, t as f64));
            }
        }
        values.extend([(7.0, 3.0, 30.0), (2.0, 2.5, 30.0)]);
        // Weights 1, 2, 3 in turn, so a row's weight must follow it.
        let weights: Vec<f64> = (0..values.len()).map(|i| 1.0 + (i % 3) as f64).collect();
        RfmRows::of_values(&values, &weights)
    }

    /// Sums for the tests: a weighted term, a term that is not
    /// weighted, a gradient moment and the weight.
    fn test_term(w: f64, b: &Branches) -> [f64; 4] {
        let ln_died = b.ln_died();
        let died = if ln_died.is_finite() { ln_died } else { 0.0 };
        [w * b.ln_alive, died, b.grad_died[1], w]
    }

    #[derive(Default)]
    struct TestSums([f64; 4]);

    impl RowSums<4> for TestSums {
        fn add(&mut self, w: f64, branches: &Branches) {
            add_into(&mut self.0, test_term(w, branches));
        }

        fn finish(self) -> [f64; 4] {
            self.0
        }
    }

    /// The sums over rows match row-by-row quadrature whichever rows get
    /// a table, and fractional days fall back to it.
    #[test]
    fn sums_match_row_by_row_quadrature() {
        let rows = mixed_rows();
        let groups = FrequencyGroups::of(&rows);
        assert_eq!(groups.tabled.len(), 2);
        assert_eq!(groups.rest.len(), 2);
        let p = params();
        let got = sum_over_rows::<4, TestSums>(&p, (&rows, &FrequencyGroups::of(&rows)));
        let mut want = [0.0; 4];
        for i in 0..rows.len() {
            let (x, t) = (rows.x(i), rows.t(i));
            let died = died_moments(&p, x, rows.t_x(i), t);
            add_into(
                &mut want,
                test_term(rows.w[i], &branches_with(&p, x, alive_logs(&p, t), &died)),
            );
        }
        for k in 0..4 {
            assert!(
                (got[k] - want[k]).abs() <= 1e-11 * want[k].abs(),
                "{k}: {} vs {}",
                got[k],
                want[k]
            );
        }
    }

    /// The values per row are row-by-row quadrature's, in row order, for
    /// the tabled rows and the others alike.
    #[test]
    fn values_per_row_match_row_by_row_quadrature() {
        let rows = mixed_rows();
        let p = params();
        let value = |b: &Branches| b.ln_alive - b.ln_died();
        let got = map_over_rows(&p, (&rows, &FrequencyGroups::of(&rows)), value);
        assert_eq!(got.len(), rows.len());
        for (i, got) in got.into_iter().enumerate() {
            let (x, t) = (rows.x(i), rows.t(i));
            let died = died_moments(&p, x, rows.t_x(i), t);
            let want = value(&branches_with(&p, x, alive_logs(&p, t), &died));
            if want.is_infinite() {
                assert_eq!(got, want, "row {i}");
            } else {
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "row {i}: {got} vs {want}"
                );
            }
        }
    }
}
