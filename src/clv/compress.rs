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

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashTable;
use rayon::prelude::*;

use super::exact_sum::ExactSum;
use super::row_index::{hash_of, packed, RowIndex, RowKeys, RowSlots, NOT_PACKED};
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
/// hot loops vectorisable), plus the distinct-x and distinct-day tables. A
/// row holds its values as indexes into the tables ([`RfmRows::x`],
/// [`RfmRows::t`], [`RfmRows::t_x`] read them), not also as three doubles:
/// at 100 M orders (7 M unique rows, and the holdout's calibration rows
/// beside them) the CLV stage's peak fell by 350 MB, to within a 1 GiB
/// budget's quarter of slack.
#[derive(Debug, Default, Clone)]
pub(crate) struct RfmRows {
    /// Number of customers on the row.
    pub w: Vec<f64>,
    /// Index into `xs` of the row's frequency.
    pub x_idx: Vec<u32>,
    /// Index into `days` of the row's T and of its t_x.
    pub t_idx: Vec<u32>,
    pub t_x_idx: Vec<u32>,
    /// The distinct values of T and t_x, together: a few thousand on a
    /// daily history, so a likelihood takes its logarithms and reciprocals
    /// of α + day once per day and evaluation instead of once per row. In
    /// the order of the rows' T values first seen, then of their t_x
    /// values ([`RfmRows::order_days`]).
    pub days: Vec<f64>,
    /// Distinct frequencies and their total weight.
    pub xs: Vec<f64>,
    pub xs_w: Vec<f64>,
    /// Total weight (customers).
    pub total_w: f64,
}

/// Finds the slot of a distinct value (by its bits) in a table of them
/// ([`slot_of`]).
pub(crate) type ValueSlots = IntMap<u64, u32>;

/// The slot of `value` (by its bits) in `table`, which `slots` index;
/// appended when new.
fn slot_of(slots: &mut ValueSlots, table: &mut Vec<f64>, value: f64) -> u32 {
    let next = table.len() as u32;
    *slots.entry(value.to_bits()).or_insert_with(|| {
        table.push(value);
        next
    })
}

impl RfmRows {
    pub fn len(&self) -> usize {
        self.w.len()
    }

    /// Row `i`'s frequency x.
    #[inline]
    pub fn x(&self, i: usize) -> f64 {
        self.xs[self.x_idx[i] as usize]
    }

    /// Row `i`'s T, in days.
    #[inline]
    pub fn t(&self, i: usize) -> f64 {
        self.days[self.t_idx[i] as usize]
    }

    /// Row `i`'s recency t_x, in days.
    #[inline]
    pub fn t_x(&self, i: usize) -> f64 {
        self.days[self.t_x_idx[i] as usize]
    }

    /// Appends a row of frequency slot `xi` (in `xs`), recency `t_x` and T
    /// `t` with weight `w`; `days` finds the days already in the table.
    /// The caller adds `w` to `xs_w` and `total_w` as it counts them, and
    /// orders the days ([`RfmRows::order_days`]) when every row is in.
    pub(crate) fn push(&mut self, xi: u32, (t_x, t): (f64, f64), w: f64, days: &mut ValueSlots) {
        self.t_idx.push(slot_of(days, &mut self.days, t));
        self.t_x_idx.push(slot_of(days, &mut self.days, t_x));
        self.x_idx.push(xi);
        self.w.push(w);
    }

    /// Renumbers the days into their canonical order: every row's T in row
    /// order, then every row's t_x, each day where it is first seen. The
    /// order depends only on the rows, not on how they were appended.
    pub(crate) fn order_days(&mut self) {
        const UNSEEN: u32 = u32::MAX;
        let mut renumbered = vec![UNSEEN; self.days.len()];
        let mut days = Vec::with_capacity(self.days.len());
        for index in self.t_idx.iter_mut().chain(self.t_x_idx.iter_mut()) {
            let new = &mut renumbered[*index as usize];
            if *new == UNSEEN {
                *new = days.len() as u32;
                days.push(self.days[*index as usize]);
            }
            *index = *new;
        }
        self.days = days;
    }

    /// Every `step`-th row from the first, weights kept and the
    /// distinct-x and day tables rebuilt: a deterministic subsample of
    /// the patterns, for a cheap first fit.
    pub fn every(&self, step: usize) -> RfmRows {
        let mut out = RfmRows::default();
        let mut slots = Default::default();
        for i in (0..self.len()).step_by(step.max(1)) {
            out.push_values((self.x(i), self.t_x(i), self.t(i)), self.w[i], &mut slots);
        }
        out.order_days();
        out
    }

    /// Rows of the given (x, t_x, T) values and weights, in order (for
    /// tests, which may give values no customer would have).
    #[cfg(test)]
    pub(crate) fn of_values(values: &[(f64, f64, f64)], weights: &[f64]) -> RfmRows {
        assert_eq!(values.len(), weights.len());
        let mut out = RfmRows::default();
        let mut slots = Default::default();
        for (&row, &w) in values.iter().zip(weights) {
            out.push_values(row, w, &mut slots);
        }
        out.order_days();
        out
    }

    /// Appends a row of the values (x, t_x, T) with weight `w`, and counts
    /// the weight; `slots` find the frequencies and the days already in
    /// the tables.
    fn push_values(
        &mut self,
        (x, t_x, t): (f64, f64, f64),
        w: f64,
        (x_slots, days): &mut (ValueSlots, ValueSlots),
    ) {
        let xi = slot_of(x_slots, &mut self.xs, x);
        self.xs_w.resize(self.xs.len(), 0.0);
        self.push(xi, (t_x, t), w, days);
        self.xs_w[xi as usize] += w;
        self.total_w += w;
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

    /// [`CompressedSummary::of`] from the three columns it reads:
    /// frequency, recency and T in days.
    ///
    /// # Panics
    /// If the columns have different lengths.
    pub fn of_columns(frequency: &[i64], recency_days: &[i64], tenure_days: &[i64]) -> Self {
        let (rows, customer_row) = compress_rfm_columns(frequency, recency_days, tenure_days);
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
    compress_rfm_columns(input.frequency, input.recency_days, input.tenure_days)
}

/// [`compress_rfm`] of the three columns it reads (of equal lengths).
fn compress_rfm_columns(
    frequency: &[i64],
    recency_days: &[i64],
    tenure_days: &[i64],
) -> (RfmRows, Vec<u32>) {
    let clock = std::time::Instant::now();
    // The whole-summary functions hold every customer's columns (24 bytes
    // a customer and more) and a library user's memory is not a run's
    // budget: the faster keyed table, 15 to 30 bytes a unique row.
    let mut folder = RfmFolder::with_slots(RowSlots::Keyed);
    let customer_row = folder.add(frequency, recency_days, tenure_days);
    let (rows, _) = folder.finish();
    tracing::debug!(
        customers = frequency.len(),
        unique_rows = rows.len(),
        seconds = clock.elapsed().as_secs_f64(),
        "compressed"
    );
    (rows, customer_row)
}

/// Unique (x, t_x, T) rows built a batch of customers at a time, in the
/// order their first customer comes: folding a summary's customer
/// partitions in order gives the rows, weights and order of the whole
/// summary, so the fits over them are the same numbers without the
/// summary ever being joined.
#[derive(Default)]
pub(crate) struct RfmFolder {
    rows: RfmRows,
    index: RowIndex,
    x_index: IntMap<i64, u32>,
    days: ValueSlots,
    customers: u64,
}

impl RfmFolder {
    /// An empty fold whose index holds `slots` of each row.
    pub fn with_slots(slots: RowSlots) -> RfmFolder {
        RfmFolder {
            index: RowIndex::with_slots(slots),
            ..RfmFolder::default()
        }
    }

    /// Adds customers given as their frequency, recency and T columns (of
    /// equal lengths); returns each one's row.
    pub fn add(
        &mut self,
        frequency: &[i64],
        recency_days: &[i64],
        tenure_days: &[i64],
    ) -> Vec<u32> {
        assert_same_lengths(frequency, recency_days, tenure_days);
        (0..frequency.len())
            .map(|i| {
                self.add_to_row(
                    sanitize_rfm(frequency[i], recency_days[i], tenure_days[i]),
                    1,
                )
            })
            .collect()
    }

    /// Adds `customers` to the row of a sanitized triple, made when new;
    /// the row.
    fn add_to_row(&mut self, key: (i64, i64, i64), customers: u64) -> u32 {
        let row = self.row_of(key);
        self.rows.w[row as usize] += customers as f64;
        self.rows.xs_w[self.rows.x_idx[row as usize] as usize] += customers as f64;
        self.customers += customers;
        row
    }

    /// The row of a sanitized triple, added with weight 0 when new.
    fn row_of(&mut self, key: (i64, i64, i64)) -> u32 {
        let next = self.rows.len() as u32;
        let row = self.index.row_or_insert(key, next, &self.rows);
        if row == next {
            let (x, t_x, t) = key;
            let rows = &mut self.rows;
            let xi = frequency_slot(&mut self.x_index, (&mut rows.xs, &mut rows.xs_w), x);
            rows.push(xi, (t_x as f64, t as f64), 0.0, &mut self.days);
        }
        row
    }

    /// The rows folded so far, in their order, with their customers:
    /// what a customer partition's fold hands on to be merged
    /// ([`RfmFolder::add_part`]).
    pub fn part(&self) -> RfmPart {
        RfmPart {
            keys: self.triples(),
            customers: self.rows.w.iter().map(|&w| w as u64).collect(),
        }
    }

    /// The triple of each row, in row order: a packed row's from its
    /// values, a wide row's from the index, so a triple beyond 2^53 stays
    /// exact.
    fn triples(&self) -> Vec<(i64, i64, i64)> {
        let rows = &self.rows;
        let mut triples: Vec<_> = (0..rows.len())
            .map(|r| (rows.x(r) as i64, rows.t_x(r) as i64, rows.t(r) as i64))
            .collect();
        for (key, row) in self.index.wide_rows() {
            triples[row as usize] = key;
        }
        triples
    }

    /// Adds the rows of another fold, of customers after these ones, as if
    /// their customers came one by one: a row new here is added in the
    /// part's order, so folding partitions apart and adding them in order
    /// gives the rows, order and weights of one fold (the weights are
    /// counts, exact in a double). Returns each of the part's rows' row
    /// here.
    pub fn add_part(&mut self, part: &RfmPart) -> Vec<u32> {
        let added = part.keys.iter().zip(&part.customers);
        added
            .map(|(&key, &customers)| self.add_to_row(key, customers))
            .collect()
    }

    /// The rows of every customer added, and the index that finds a
    /// customer's row again.
    pub fn finish(mut self) -> (RfmRows, RowIndex) {
        self.rows.total_w = self.customers as f64;
        self.rows.order_days();
        (self.rows, self.index)
    }
}

/// The unique rows one [`RfmFolder`] folded (sanitized triples, in their
/// order) and each one's customers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RfmPart {
    keys: Vec<(i64, i64, i64)>,
    customers: Vec<u64>,
}

impl RowKeys for RfmRows {
    /// Read off the row's values: a packed row's are below 2^21, exact as
    /// doubles.
    fn packed_key(&self, row: u32) -> u64 {
        let r = row as usize;
        let key = (self.x(r) as i64, self.t_x(r) as i64, self.t(r) as i64);
        packed(key).unwrap_or(NOT_PACKED)
    }
}

/// The row of each customer given as their frequency, recency and T
/// columns (of equal lengths), which `row_of` finds from their sanitized
/// triple.
///
/// # Panics
/// If a customer's triple has no row.
pub(crate) fn rows_of_customers(
    (frequency, recency_days, tenure_days): (&[i64], &[i64], &[i64]),
    row_of: impl Fn((i64, i64, i64)) -> Option<u32> + Sync,
) -> Vec<u32> {
    assert_same_lengths(frequency, recency_days, tenure_days);
    (0..frequency.len())
        .into_par_iter()
        .map(|i| {
            let key = sanitize_rfm(frequency[i], recency_days[i], tenure_days[i]);
            row_of(key).expect("a customer of the folded summary")
        })
        .collect()
}

/// # Panics
/// If the frequency, recency and T columns have different lengths.
fn assert_same_lengths(frequency: &[i64], recency_days: &[i64], tenure_days: &[i64]) {
    assert!(
        frequency.len() == recency_days.len() && frequency.len() == tenure_days.len(),
        "frequency, recency and T columns of different lengths"
    );
}

/// The index of frequency `x` in a distinct-frequency table (`xs` and
/// their weights), added with weight 0 when new.
fn frequency_slot(
    index: &mut IntMap<i64, u32>,
    (xs, xs_w): (&mut Vec<f64>, &mut Vec<f64>),
    x: i64,
) -> u32 {
    *index.entry(x).or_insert_with(|| {
        xs.push(x as f64);
        xs_w.push(0.0);
        (xs.len() - 1) as u32
    })
}

/// Compresses customers given as (frequency, recency, T) triples.
#[cfg(test)]
pub(crate) fn compress_triples(customers: &[(i64, i64, i64)]) -> (RfmRows, Vec<u32>) {
    let column = |of: fn(&(i64, i64, i64)) -> i64| customers.iter().map(of).collect::<Vec<_>>();
    compress_rfm_columns(&column(|c| c.0), &column(|c| c.1), &column(|c| c.2))
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

    /// Every `step`-th row, with its weight, and the sums over them.
    pub fn every(&self, step: usize) -> SpendRows {
        let mut out = SpendRows::default();
        let mut x_index: IntMap<i64, u32> = IntMap::default();
        let mut sum_wm = 0.0;
        for i in (0..self.len()).step_by(step.max(1)) {
            let (x, m, w) = (self.x[i], self.m[i], self.w[i]);
            let xi = frequency_slot(&mut x_index, (&mut out.xs, &mut out.xs_w), x as i64);
            out.x.push(x);
            out.m.push(m);
            out.w.push(w);
            out.x_idx.push(xi);
            out.xs_w[xi as usize] += w;
            out.ln_u.push(self.ln_u[i]);
            out.total_w += w;
            out.sum_w_ln_m += w * m.ln();
            sum_wm += w * m;
        }
        out.mean_m = if out.total_w > 0.0 {
            sum_wm / out.total_w
        } else {
            0.0
        };
        out
    }
}

/// Compresses the Gamma-Gamma input (frequency > 0, monetary > 0 only).
pub(crate) fn compress_spend(input: &CustomerSummaryInput) -> SpendRows {
    let mut folder = SpendFolder::default();
    folder.add(input.frequency, input.monetary_value);
    folder.finish()
}

/// Unique (x, m) rows of the Gamma-Gamma-eligible customers, built a batch
/// of customers at a time in the order of their first customer (as
/// [`RfmFolder`]). Monetary values are keyed by their bit pattern: equal
/// amounts are equal doubles because they come from the same cents
/// arithmetic.
#[derive(Default)]
pub(crate) struct SpendFolder {
    rows: SpendRows,
    index: SpendIndex,
    x_index: IntMap<i64, u32>,
    /// Σ m over the customers added, exact: partitions folded apart add
    /// up to the same mean.
    sum_m: ExactSum,
}

/// The row of each (x, m's bits) a [`SpendFolder`] folded. Its table
/// holds row numbers alone and reads a row's key off the rows
/// ([`spend_key`]): a 4-byte slot instead of a map's 24-byte entry, about
/// 170 MB less at 1 B orders' 5.4 M spend rows, which are folded beside
/// the (x, t_x, T) rows at the CLV stage's peak. hashbrown's `HashTable`
/// is the map with the keys left to its user.
#[derive(Default)]
struct SpendIndex {
    table: HashTable<u32>,
    /// Rows whose frequency a double does not hold exactly (from 2^53,
    /// never in a real history), by their key.
    wide: BTreeMap<(i64, u64), u32>,
}

/// Frequencies below this are exact as doubles, so a row's key reads back
/// from its values.
const EXACT_FREQUENCY: i64 = 1 << 53;

impl SpendIndex {
    /// The row of `key`, `next` when it has none yet (the caller adds row
    /// `next` to `rows` then).
    fn row_or_insert(&mut self, key: (i64, u64), next: u32, rows: &SpendRows) -> u32 {
        if key.0 >= EXACT_FREQUENCY {
            return *self.wide.entry(key).or_insert(next);
        }
        let entry = self.table.entry(
            hash_of(key),
            |&row| spend_key(rows, row) == key,
            |&row| hash_of(spend_key(rows, row)),
        );
        *entry.or_insert(next).get()
    }

    /// The wide rows with their keys.
    fn wide_rows(&self) -> impl Iterator<Item = ((i64, u64), u32)> + '_ {
        self.wide.iter().map(|(&key, &row)| (key, row))
    }
}

/// A spend row's key read off its values: exact unless the row is wide.
fn spend_key(rows: &SpendRows, row: u32) -> (i64, u64) {
    let r = row as usize;
    (rows.x[r] as i64, rows.m[r].to_bits())
}

/// The unique (x, m) rows one [`SpendFolder`] folded, in their order, as
/// (x, m's bits, customers), and the exact Σ m of their customers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SpendPart {
    rows: Vec<(i64, u64, u64)>,
    sum_m: ExactSum,
}

impl SpendFolder {
    /// Adds customers given as their frequency and monetary value columns
    /// (of equal lengths); the ineligible ones are left out.
    pub fn add(&mut self, frequency: &[i64], monetary_value: &[f64]) {
        assert_eq!(
            frequency.len(),
            monetary_value.len(),
            "SpendFolder: columns of different lengths"
        );
        for (&x, &m) in frequency.iter().zip(monetary_value) {
            if !gg_eligible(x, m) {
                continue;
            }
            self.add_to_row((x, m.to_bits()), 1);
            self.sum_m.add(m);
        }
    }

    /// Adds `customers` to the row of (x, m's bits), made when new.
    fn add_to_row(&mut self, (x, m_bits): (i64, u64), customers: u64) {
        let next = self.rows.x.len() as u32;
        let row = self.index.row_or_insert((x, m_bits), next, &self.rows);
        let rows = &mut self.rows;
        if row == next {
            let xi = frequency_slot(&mut self.x_index, (&mut rows.xs, &mut rows.xs_w), x);
            rows.x.push(x as f64);
            rows.m.push(f64::from_bits(m_bits));
            rows.w.push(0.0);
            rows.x_idx.push(xi);
        }
        let customers = customers as f64;
        rows.w[row as usize] += customers;
        rows.xs_w[rows.x_idx[row as usize] as usize] += customers;
        rows.total_w += customers;
    }

    /// The rows folded so far, for [`SpendFolder::add_part`].
    pub fn part(&self) -> SpendPart {
        let customers = |row: usize| self.rows.w[row] as u64;
        let mut rows: Vec<_> = (0..self.rows.len())
            .map(|row| {
                let (x, m_bits) = spend_key(&self.rows, row as u32);
                (x, m_bits, customers(row))
            })
            .collect();
        // A wide row's key from the index: its x is not exact in `rows`.
        for ((x, m_bits), row) in self.index.wide_rows() {
            rows[row as usize] = (x, m_bits, customers(row as usize));
        }
        SpendPart {
            rows,
            sum_m: self.sum_m.clone(),
        }
    }

    /// Adds another fold's rows, of customers after these ones, as
    /// [`RfmFolder::add_part`] does.
    pub fn add_part(&mut self, part: &SpendPart) {
        for &(x, m_bits, customers) in &part.rows {
            self.add_to_row((x, m_bits), customers);
        }
        self.sum_m.merge(&part.sum_m);
    }

    /// The rows of every eligible customer added, with their sums.
    pub fn finish(self) -> SpendRows {
        let mut rows = self.rows;
        rows.mean_m = if rows.total_w > 0.0 {
            self.sum_m.value() / rows.total_w
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::row_index::PACKED_BITS;
    use proptest::prelude::*;

    /// Rows as (x, t_x, T) triples, their weights, and each customer's row.
    type Compressed = (Vec<(i64, i64, i64)>, Vec<f64>, Vec<u32>);

    /// The compression by its definition: a linear search for each
    /// customer's sanitized triple among the rows found so far.
    fn naive(customers: &[(i64, i64, i64)]) -> Compressed {
        let mut keys: Vec<(i64, i64, i64)> = Vec::new();
        let mut weights = Vec::new();
        let mut customer_row = Vec::new();
        for &(x, t_x, t) in customers {
            let key = sanitize_rfm(x, t_x, t);
            let row = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                weights.push(0.0);
                keys.len() - 1
            });
            weights[row] += 1.0;
            customer_row.push(row as u32);
        }
        (keys, weights, customer_row)
    }

    /// Values from a small range (so customers share rows), sometimes past
    /// what a packed key holds, and negative ones that sanitizing clamps.
    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => -2i64..12,
            1 => Just((1i64 << PACKED_BITS) - 1),
            1 => (1i64 << PACKED_BITS)..(1i64 << PACKED_BITS) + 3,
        ]
    }

    proptest! {
        #[test]
        fn rows_are_the_distinct_triples_in_first_seen_order(
            customers in proptest::collection::vec((value(), value(), value()), 0..200)
        ) {
            let (keys, weights, want_rows) = naive(&customers);
            let (rows, customer_row) = compress_triples(&customers);
            prop_assert_eq!(customer_row, want_rows);
            let got: Vec<(i64, i64, i64)> = (0..rows.len())
                .map(|i| (rows.x(i) as i64, rows.t_x(i) as i64, rows.t(i) as i64))
                .collect();
            prop_assert_eq!(&got, &keys);
            prop_assert_eq!(&rows.w, &weights);
            prop_assert_eq!(rows.total_w, customers.len() as f64);
            // Each day once, every T first and then every recency, in
            // row order.
            let values: Vec<_> = keys.iter().map(|&(x, t_x, t)| (x as f64, t_x as f64, t as f64)).collect();
            prop_assert_eq!(&rows.days, &canonical_days(&values));
            for (xi, &x) in rows.xs.iter().enumerate() {
                let weight: f64 = (0..rows.len()).filter(|&i| rows.x(i) == x).map(|i| rows.w[i]).sum();
                prop_assert_eq!(rows.xs_w[xi], weight);
            }
        }
    }

    /// Batch sizes that add up to `n`: customers split into parts.
    fn splits(n: usize, cuts: &[usize]) -> Vec<std::ops::Range<usize>> {
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).collect();
        ends.extend([0, n]);
        ends.sort_unstable();
        ends.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// [`value`], or now and then one past 2^53, where neighbours are one
    /// double.
    fn value_or_huge() -> impl Strategy<Value = i64> {
        prop_oneof![9 => value(), 1 => (1i64 << 60)..(1i64 << 60) + 3]
    }

    proptest! {
        /// Folding the customers a part at a time, in any parts (empty
        /// ones among them), gives the rows, weights, sums and customer
        /// rows of folding them at once, for both compressions; and so
        /// does folding each part apart and adding the folds in order
        /// (a cluster's executors, then the client).
        #[test]
        fn folding_in_parts_is_folding_at_once(
            customers in proptest::collection::vec((value_or_huge(), value(), value_or_huge(), 0i64..4), 0..120),
            cuts in proptest::collection::vec(0usize..130, 0..6),
        ) {
            let column = |of: fn(&(i64, i64, i64, i64)) -> i64| customers.iter().map(of).collect::<Vec<_>>();
            let (f, r, t) = (column(|c| c.0), column(|c| c.1), column(|c| c.2));
            // Few distinct amounts, zero and negative ones among them,
            // inexact in binary so that their sum depends on its order.
            let m: Vec<f64> = customers.iter().map(|c| c.3 as f64 * 2.3 - 2.3).collect();
            let (whole, whole_rows) = compress_rfm_columns(&f, &r, &t);
            let mut spend_whole = SpendFolder::default();
            spend_whole.add(&f, &m);
            let spend_whole = spend_whole.finish();
            let (mut rfm, mut spend, mut customer_row) = (RfmFolder::default(), SpendFolder::default(), vec![]);
            let (mut rfm_apart, mut spend_apart) = (RfmFolder::default(), SpendFolder::default());
            for part in splits(customers.len(), &cuts) {
                let p = part.clone();
                customer_row.extend(rfm.add(&f[p.clone()], &r[p.clone()], &t[p.clone()]));
                spend.add(&f[part.clone()], &m[part.clone()]);
                let (mut own_rfm, mut own_spend) = (RfmFolder::default(), SpendFolder::default());
                own_rfm.add(&f[p.clone()], &r[p.clone()], &t[p]);
                own_spend.add(&f[part.clone()], &m[part]);
                rfm_apart.add_part(&own_rfm.part());
                spend_apart.add_part(&own_spend.part());
            }
            let ((rfm, index), spend) = (rfm.finish(), spend.finish());
            prop_assert_eq!(&customer_row, &whole_rows);
            // The index finds every customer's row again.
            let found = rows_of_customers((&f, &r, &t), |key| index.row_of(key, &rfm));
            prop_assert_eq!(found, whole_rows.clone());
            prop_assert_eq!(format!("{rfm:?}"), format!("{whole:?}"));
            prop_assert_eq!(format!("{spend:?}"), format!("{spend_whole:?}"));
            let ((rfm_apart, index_apart), spend_apart) = (rfm_apart.finish(), spend_apart.finish());
            let found = rows_of_customers((&f, &r, &t), |key| index_apart.row_of(key, &rfm_apart));
            prop_assert_eq!(found, whole_rows);
            prop_assert_eq!(format!("{rfm_apart:?}"), format!("{whole:?}"));
            prop_assert_eq!(format!("{spend_apart:?}"), format!("{spend_whole:?}"));
            let eligible = (0..f.len()).filter(|&i| gg_eligible(f[i], m[i])).count();
            prop_assert_eq!(spend.total_w, eligible as f64);
        }
    }

    /// The days in their canonical order, by definition: every row's T
    /// in row order, then every row's t_x, each where first seen.
    fn canonical_days(values: &[(f64, f64, f64)]) -> Vec<f64> {
        let mut days: Vec<f64> = Vec::new();
        for day in values.iter().map(|v| v.2).chain(values.iter().map(|v| v.1)) {
            if !days.iter().any(|d| d.to_bits() == day.to_bits()) {
                days.push(day);
            }
        }
        days
    }

    proptest! {
        /// A subsample holds every `step`-th row's values and weight, in
        /// order, with distinct-x and day tables of its own rows alone.
        #[test]
        fn every_step_th_row_keeps_its_values_and_rebuilds_the_tables(
            customers in proptest::collection::vec((0i64..6, 0i64..50, 0i64..50), 0..150),
            step in 1usize..7,
        ) {
            let (rows, _) = compress_triples(&customers);
            let sample = rows.every(step);
            let kept: Vec<usize> = (0..rows.len()).step_by(step).collect();
            let values = |r: &RfmRows, i: usize| (r.x(i), r.t_x(i), r.t(i));
            prop_assert_eq!(sample.len(), kept.len());
            for (j, &i) in kept.iter().enumerate() {
                prop_assert_eq!(values(&sample, j), values(&rows, i));
                prop_assert_eq!(sample.w[j], rows.w[i]);
            }
            let sampled: Vec<_> = kept.iter().map(|&i| values(&rows, i)).collect();
            prop_assert_eq!(&sample.days, &canonical_days(&sampled));
            let mut xs: Vec<f64> = Vec::new();
            for &(x, _, _) in &sampled {
                if !xs.contains(&x) {
                    xs.push(x);
                }
            }
            prop_assert_eq!(&sample.xs, &xs);
            for (k, &x) in xs.iter().enumerate() {
                let weight: f64 = kept.iter().filter(|&&i| rows.x(i) == x).map(|&i| rows.w[i]).sum();
                prop_assert_eq!(sample.xs_w[k], weight);
            }
            prop_assert_eq!(sample.total_w, kept.iter().map(|&i| rows.w[i]).sum::<f64>());
        }
    }
}
