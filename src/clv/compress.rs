//! Compression of the per-customer summary to unique rows with weights.
//!
//! Both likelihoods depend on a customer only through (frequency, recency, T)
//! (BG/NBD) or (frequency, monetary value) (Gamma-Gamma), and daily data has
//! few distinct patterns, so sums over customers become weighted sums over
//! unique rows. The terms that depend on frequency alone (the Γ and ψ
//! functions, the expensive part) are further grouped by distinct frequency.
//!
//! Row order is first-seen order of the input, so every floating-point sum in
//! the fits has a fixed association and the results do not depend on the
//! thread count or on hash-map iteration order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::CustomerSummaryInput;

/// A small multiplicative hasher for integer keys. SipHash (std's default)
/// defends against adversarial keys, which these are not, and costs several
/// times more on the 10-million-row hot path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        // Fx-style combine; the finaliser in `finish` spreads entropy to the
        // low bits that the table uses for bucket selection.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        // murmur3's 64-bit finaliser.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub(crate) type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// One customer's (x, t_x, T) read defensively (see [`CustomerSummaryInput`]):
/// the returned triple always satisfies 0 ≤ t_x ≤ T, x ≥ 0, and t_x = 0 when
/// x = 0 (recency carries no information then, and merging those rows makes
/// the compression tighter).
pub(crate) fn sanitize_rfm(x: i64, t_x: i64, t: i64) -> (i64, i64, i64) {
    let t = t.max(0);
    let x = x.max(0);
    let t_x = if x == 0 { 0 } else { t_x.clamp(0, t) };
    (x, t_x, t)
}

/// Whether one customer's (x, t_x, T) can be evaluated by a likelihood:
/// whole x ≥ 0, T ≥ 0 and, when x > 0, 0 ≤ t_x ≤ T (all finite). Shared by
/// every purchase model's one-customer log-likelihood.
pub(crate) fn likelihood_row_ok(x: f64, t_x: f64, t: f64) -> bool {
    x.is_finite()
        && x >= 0.0
        && t.is_finite()
        && t >= 0.0
        && (x == 0.0 || (t_x.is_finite() && t_x >= 0.0 && t_x <= t))
}

/// One customer's (x, t_x, T) read defensively for a prediction, as
/// [`super::CustomerSummaryInput`] documents: NaN or negative x reads as 0,
/// negative T as 0, t_x clamped to [0, T], and t_x = 0 when x = 0.
pub(crate) fn prediction_row(x: f64, t_x: f64, t: f64) -> (f64, f64, f64) {
    let x = if x.is_nan() { 0.0 } else { x.max(0.0) };
    let t = t.max(0.0);
    let t_x = if x > 0.0 { t_x.clamp(0.0, t) } else { 0.0 };
    (x, t_x, t)
}

/// True when a customer enters the Gamma-Gamma fit.
pub(crate) fn gg_eligible(x: i64, m: f64) -> bool {
    x > 0 && m.is_finite() && m > 0.0
}

/// Unique (x, t_x, T) rows as parallel columns (structure of arrays keeps the
/// hot loops vectorisable), plus the distinct-x table.
#[derive(Debug, Default, Clone)]
pub(crate) struct RfmRows {
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
    /// Number of customers on the row.
    pub w: Vec<f64>,
    /// Index into `xs` of the row's frequency.
    pub x_idx: Vec<u32>,
    /// Distinct frequencies and their total weight.
    pub xs: Vec<f64>,
    pub xs_w: Vec<f64>,
    /// Total weight (customers).
    pub total_w: f64,
}

impl RfmRows {
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Every `step`-th row from the first, weights kept and the
    /// distinct-x table rebuilt: a deterministic subsample of the
    /// patterns, for a cheap first fit.
    pub fn every(&self, step: usize) -> RfmRows {
        let mut out = RfmRows::default();
        let mut x_index: IntMap<u64, u32> = IntMap::default();
        for i in (0..self.len()).step_by(step.max(1)) {
            let next_x = out.xs.len() as u32;
            let xi = *x_index.entry(self.x[i].to_bits()).or_insert_with(|| {
                out.xs.push(self.x[i]);
                out.xs_w.push(0.0);
                next_x
            });
            out.x.push(self.x[i]);
            out.t_x.push(self.t_x[i]);
            out.t.push(self.t[i]);
            out.w.push(self.w[i]);
            out.x_idx.push(xi);
            out.xs_w[xi as usize] += self.w[i];
            out.total_w += self.w[i];
        }
        out
    }
}

/// A summary compressed to its unique (frequency, recency, T) rows, with
/// each customer's row: built once per summary and shared by the fits and
/// the predictions over it (each pass over millions of customers costs).
pub struct CompressedSummary {
    pub(crate) rows: RfmRows,
    pub(crate) customer_row: Vec<u32>,
}

impl CompressedSummary {
    pub fn of(input: &CustomerSummaryInput) -> CompressedSummary {
        input.assert_lengths();
        let (rows, customer_row) = compress_rfm(input);
        CompressedSummary { rows, customer_row }
    }

    /// Customers compressed.
    pub fn customers(&self) -> usize {
        self.customer_row.len()
    }
}

/// Compresses the BG/NBD summary. Returns the rows and, for every customer,
/// the index of its row (used to join predictions back).
pub(crate) fn compress_rfm(input: &CustomerSummaryInput) -> (RfmRows, Vec<u32>) {
    let n = input.len();
    let mut rows = RfmRows::default();
    let mut index: IntMap<(i64, i64, i64), u32> = IntMap::default();
    let mut x_index: IntMap<i64, u32> = IntMap::default();
    let mut customer_row = Vec::with_capacity(n);
    for i in 0..n {
        let key = sanitize_rfm(
            input.frequency[i],
            input.recency_days[i],
            input.tenure_days[i],
        );
        let next = rows.x.len() as u32;
        let row = *index.entry(key).or_insert_with(|| {
            let next_x = rows.xs.len() as u32;
            let xi = *x_index.entry(key.0).or_insert_with(|| {
                rows.xs.push(key.0 as f64);
                rows.xs_w.push(0.0);
                next_x
            });
            rows.x.push(key.0 as f64);
            rows.t_x.push(key.1 as f64);
            rows.t.push(key.2 as f64);
            rows.w.push(0.0);
            rows.x_idx.push(xi);
            next
        });
        rows.w[row as usize] += 1.0;
        rows.xs_w[rows.x_idx[row as usize] as usize] += 1.0;
        customer_row.push(row);
    }
    rows.total_w = n as f64;
    (rows, customer_row)
}

/// Unique (x, m) rows of the Gamma-Gamma-eligible customers.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpendRows {
    pub x: Vec<f64>,
    pub m: Vec<f64>,
    pub w: Vec<f64>,
    pub x_idx: Vec<u32>,
    pub xs: Vec<f64>,
    pub xs_w: Vec<f64>,
    pub total_w: f64,
    /// Weighted mean of m, used for start values.
    pub mean_m: f64,
    /// ln(m·x) of each row: with it the likelihood needs one logarithm per
    /// row and evaluation instead of three.
    pub ln_u: Vec<f64>,
    /// Σ w·ln m: the likelihood's data-only term.
    pub sum_w_ln_m: f64,
}

impl SpendRows {
    pub fn len(&self) -> usize {
        self.x.len()
    }
}

/// Compresses the Gamma-Gamma input (frequency > 0, monetary > 0 only).
/// Monetary values are keyed by their bit pattern: equal amounts are equal
/// doubles because they come from the same cents arithmetic.
pub(crate) fn compress_spend(input: &CustomerSummaryInput) -> SpendRows {
    let mut rows = SpendRows::default();
    let mut index: IntMap<(i64, u64), u32> = IntMap::default();
    let mut x_index: IntMap<i64, u32> = IntMap::default();
    let mut sum_m = 0.0;
    for i in 0..input.len() {
        let x = input.frequency[i];
        let m = input.monetary_value[i];
        if !gg_eligible(x, m) {
            continue;
        }
        let next = rows.x.len() as u32;
        let row = *index.entry((x, m.to_bits())).or_insert_with(|| {
            let next_x = rows.xs.len() as u32;
            let xi = *x_index.entry(x).or_insert_with(|| {
                rows.xs.push(x as f64);
                rows.xs_w.push(0.0);
                next_x
            });
            rows.x.push(x as f64);
            rows.m.push(m);
            rows.w.push(0.0);
            rows.x_idx.push(xi);
            next
        });
        rows.w[row as usize] += 1.0;
        rows.xs_w[rows.x_idx[row as usize] as usize] += 1.0;
        rows.total_w += 1.0;
        sum_m += m;
    }
    rows.mean_m = if rows.total_w > 0.0 {
        sum_m / rows.total_w
    } else {
        0.0
    };
    rows.ln_u = rows
        .x
        .iter()
        .zip(&rows.m)
        .map(|(x, m)| (m * x).ln())
        .collect();
    rows.sum_w_ln_m = rows.w.iter().zip(&rows.m).map(|(w, m)| w * m.ln()).sum();
    rows
}
