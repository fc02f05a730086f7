//! Properties on generated order sets: reconciliation identities, a
//! brute-force oracle for the activity KPIs, a brute-force oracle for the
//! cohort grid and retention curve (both retention variants, every cohort
//! unit), and independence from thread count and input row order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use proptest::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, Computed, RunOptions};

use crate::support::{dates, floats, ints, texts, PipelineFile};

/// One generated order: customer, day offset, line amounts in cents, and
/// the dimension values of its first line (later lines shift them).
#[derive(Debug, Clone)]
struct GenOrder {
    customer: u8,
    day: u16,
    lines: Vec<i32>,
    channel: u8,
    country: u8,
}

/// Channel values (the blank one is `(missing)`) and countries.
const CHANNELS: [&str; 4] = ["email", "organic", "", "paid"];
const COUNTRIES: [&str; 3] = ["DE", "GB", " "];

/// The dimension values of line `k` of an order.
fn line_dimensions(o: &GenOrder, k: usize) -> (&'static str, &'static str) {
    (
        CHANNELS[(o.channel as usize + k) % CHANNELS.len()],
        COUNTRIES[(o.country as usize + k) % COUNTRIES.len()],
    )
}

fn orders_strategy() -> impl Strategy<Value = Vec<GenOrder>> {
    let order = (
        0u8..12,
        0u16..420,
        prop::collection::vec(-4000i32..20000, 1..4),
        0u8..4,
        0u8..3,
    )
        .prop_map(|(customer, day, lines, channel, country)| GenOrder {
            customer,
            day,
            lines,
            channel,
            country,
        });
    prop::collection::vec(order, 1..60).prop_map(|mut orders| {
        // At least one real order, so there is something to compute.
        orders[0].lines = vec![1234];
        orders
    })
}

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()
}

fn csv_rows(orders: &[GenOrder]) -> Vec<String> {
    let mut rows = Vec::new();
    for (i, o) in orders.iter().enumerate() {
        let date = start() + chrono::Duration::days(o.day as i64);
        for (k, cents) in o.lines.iter().enumerate() {
            let sign = if *cents < 0 { "-" } else { "" };
            let (channel, country) = line_dimensions(o, k);
            rows.push(format!(
                "O{i},c{:02},{date} 12:00:{k:02},{sign}{}.{:02},sku{k},{channel},{country}",
                o.customer,
                cents.abs() / 100,
                cents.abs() % 100
            ));
        }
    }
    rows
}

const WINDOW: i64 = 45;

fn compute_rows(dir: &Path, rows: &[String], as_of: Option<NaiveDate>) -> Computed {
    compute_rows_by(dir, rows, as_of, "month")
}

/// [`compute_rows`] with `[business] cohort_period = "{unit}"`.
fn compute_rows_by(dir: &Path, rows: &[String], as_of: Option<NaiveDate>, unit: &str) -> Computed {
    compute_rows_with(dir, rows, as_of, unit, false)
}

/// [`compute_rows_by`], sliced by `channel` and `country` when `dimensions`.
fn compute_rows_with(
    dir: &Path,
    rows: &[String],
    as_of: Option<NaiveDate>,
    unit: &str,
    dimensions: bool,
) -> Computed {
    let dimensions = match dimensions {
        true => "dimensions = [\"channel\", \"country\"]\n",
        false => "",
    };
    let mut text = String::from("order_id,customer_id,order_ts,amount,sku,channel,country\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(dir.join("orders.csv"), text).unwrap();
    PipelineFile::over("orders.csv")
        .columns(dimensions)
        .business(&format!("activity_window_days = {WINDOW}\ncohort_period = \"{unit}\""))
        .rest("[rejects]\nmax_reject_ratio = 1.0\n[loyalty]\ntiers = [{ name = \"Bronze\", min_spend = 0 }, { name = \"Silver\", min_spend = 150 }, { name = \"Gold\", min_spend = 400 }]")
        .write(dir);
    let pipeline = Pipeline::load(&dir.join("pipeline.toml")).unwrap();
    compute(
        &pipeline,
        &RunOptions {
            as_of,
            ..Default::default()
        },
    )
    .unwrap()
}

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// The activity KPIs computed the slow, obvious way from the generated
/// orders: per month and customer, look at every order.
// Written as SPEC §4 states it (d − last ≤ W − 1), not simplified.
#[allow(clippy::int_plus_one)]
fn oracle(orders: &[GenOrder], as_of: NaiveDate) -> BTreeMap<i32, [i64; 5]> {
    let date = |o: &GenOrder| start() + chrono::Duration::days(o.day as i64);
    let total = |o: &GenOrder| o.lines.iter().map(|&c| c as i64).sum::<i64>();
    let real: Vec<&GenOrder> = orders
        .iter()
        .filter(|o| total(o) >= 0 && date(o) <= as_of)
        .collect();
    let customers: BTreeSet<u8> = real.iter().map(|o| o.customer).collect();
    let first_month = real.iter().map(|o| month_index(date(o))).min().unwrap();
    let active = |c: u8, d: NaiveDate| {
        real.iter()
            .any(|o| o.customer == c && date(o) <= d && (d - date(o)).num_days() <= WINDOW - 1)
    };
    let mut out = BTreeMap::new();
    for m in first_month..=month_index(as_of) {
        let month_start = NaiveDate::from_ymd_opt(m / 12, (m % 12) as u32 + 1, 1).unwrap();
        let next = month_start
            .checked_add_months(chrono::Months::new(1))
            .unwrap();
        let end = (next - chrono::Duration::days(1)).min(as_of);
        let before = month_start - chrono::Duration::days(1);
        let mut row = [0i64; 5]; // S, E, N, retained, revenue cents
        for &c in &customers {
            let first = real
                .iter()
                .filter(|o| o.customer == c)
                .map(|o| date(o))
                .min()
                .unwrap();
            let s = active(c, before);
            let e = active(c, end);
            row[0] += s as i64;
            row[1] += e as i64;
            row[2] += (month_index(first) == m) as i64;
            row[3] += (s && e) as i64;
        }
        // Revenue: real orders and accepted refunds dated in m.
        for o in orders
            .iter()
            .filter(|o| date(o) <= as_of && month_index(date(o)) == m)
        {
            let first = real
                .iter()
                .filter(|x| x.customer == o.customer)
                .map(|x| date(x))
                .min();
            let accepted = total(o) >= 0 || first.is_some_and(|f| date(o) >= f);
            if accepted {
                row[4] += total(o);
            }
        }
        out.insert(m, row);
    }
    out
}

/// Tier thresholds of the generated pipelines, in cents.
const TIERS: [(&str, i64); 3] = [("Bronze", 0), ("Silver", 15_000), ("Gold", 40_000)];

/// `tier_migration` the slow, obvious way: for every month and customer,
/// sum the accepted orders and refunds of the trailing twelve months at the
/// two month ends. Keys (month index, from, to), zero counts left out.
fn tier_oracle(orders: &[GenOrder], as_of: NaiveDate) -> BTreeMap<(i32, String, String), i64> {
    let date = |o: &GenOrder| start() + chrono::Duration::days(o.day as i64);
    let total = |o: &GenOrder| o.lines.iter().map(|&c| c as i64).sum::<i64>();
    let first_order = |c: u8| {
        orders
            .iter()
            .filter(|o| o.customer == c && total(o) >= 0 && date(o) <= as_of)
            .map(date)
            .min()
    };
    let customers: BTreeMap<u8, NaiveDate> = (0u8..12)
        .filter_map(|c| first_order(c).map(|f| (c, f)))
        .collect();
    let accepted = |o: &GenOrder| {
        date(o) <= as_of
            && customers
                .get(&o.customer)
                .is_some_and(|&f| date(o) >= f || total(o) >= 0)
    };
    let tier_at = |c: u8, d: NaiveDate| {
        let from = d.checked_sub_months(chrono::Months::new(12)).unwrap();
        let spend: i64 = orders
            .iter()
            .filter(|o| o.customer == c && accepted(o) && date(o) > from && date(o) <= d)
            .map(total)
            .sum();
        TIERS
            .iter()
            .rev()
            .find(|t| t.1 <= spend)
            .unwrap_or(&TIERS[0])
            .0
            .to_string()
    };
    let first_month = customers.values().map(|&f| month_index(f)).min().unwrap();
    let mut out = BTreeMap::new();
    for m in first_month..=month_index(as_of) {
        let month_start = NaiveDate::from_ymd_opt(m / 12, (m % 12) as u32 + 1, 1).unwrap();
        let next = month_start
            .checked_add_months(chrono::Months::new(1))
            .unwrap();
        let end = (next - chrono::Duration::days(1)).min(as_of);
        let before = month_start - chrono::Duration::days(1);
        for (&c, &first) in &customers {
            if first > end {
                continue;
            }
            let from = if first >= month_start {
                "(new)".to_string()
            } else {
                tier_at(c, before)
            };
            *out.entry((m, from, tier_at(c, end))).or_insert(0) += 1;
        }
    }
    out
}

/// The oracle's own period arithmetic: (index, first day, last day) of the
/// period of `unit` containing `d`; consecutive periods differ by one.
fn period_of(unit: &str, d: NaiveDate) -> (i64, NaiveDate, NaiveDate) {
    let month_first = |y: i32, m0: u32| NaiveDate::from_ymd_opt(y, m0 + 1, 1).unwrap();
    match unit {
        "week" => {
            let monday = d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64);
            // 2024-01-01 was a Monday.
            let anchor = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
            let index = (monday - anchor).num_days().div_euclid(7);
            (index, monday, monday + chrono::Duration::days(6))
        }
        "quarter" => {
            let q0 = d.month0() / 3;
            let first = month_first(d.year(), q0 * 3);
            let next = first.checked_add_months(chrono::Months::new(3)).unwrap();
            (
                d.year() as i64 * 4 + q0 as i64,
                first,
                next - chrono::Duration::days(1),
            )
        }
        _ => {
            let first = month_first(d.year(), d.month0());
            let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
            (
                month_index(d) as i64,
                first,
                next - chrono::Duration::days(1),
            )
        }
    }
}

/// One expected `cohort_retention` row: cohort start, period, size,
/// bounded active, unbounded active, period complete.
type GridRow = (NaiveDate, i64, i64, i64, i64, bool);

/// The cohort grid the slow, obvious way: for every cohort and period,
/// look at every customer's orders.
fn cohort_oracle(orders: &[GenOrder], as_of: NaiveDate, unit: &str) -> Vec<GridRow> {
    let date = |o: &GenOrder| start() + chrono::Duration::days(o.day as i64);
    let total = |o: &GenOrder| o.lines.iter().map(|&c| c as i64).sum::<i64>();
    let real: Vec<&GenOrder> = orders
        .iter()
        .filter(|o| total(o) >= 0 && date(o) <= as_of)
        .collect();
    // Customer → the periods of their orders.
    let mut periods: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    for o in &real {
        periods
            .entry(o.customer)
            .or_default()
            .push(period_of(unit, date(o)).0);
    }
    let first = |c: &u8| *periods[c].iter().min().unwrap();
    let cohorts: BTreeSet<i64> = periods.keys().map(first).collect();
    let (last_period, _, _) = period_of(unit, as_of);
    // Period index → its first and last day, from any date in it.
    let span = |p: i64| {
        let mut d = as_of;
        while period_of(unit, d).0 > p {
            d -= chrono::Duration::days(1);
        }
        let (_, a, b) = period_of(unit, d);
        (a, b)
    };
    let mut rows = Vec::new();
    for &cohort in &cohorts {
        let members: Vec<&u8> = periods.keys().filter(|c| first(c) == cohort).collect();
        for p in cohort..=last_period {
            let bounded = members.iter().filter(|c| periods[c].contains(&p)).count();
            let unbounded = members
                .iter()
                .filter(|c| periods[c].iter().any(|&q| q >= p))
                .count();
            rows.push((
                span(cohort).0,
                p - cohort,
                members.len() as i64,
                bounded as i64,
                unbounded as i64,
                span(p).1 <= as_of,
            ));
        }
    }
    rows
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn kpis_match_a_brute_force_oracle(orders in orders_strategy(), cut in 0u16..420) {
        let dir = tempfile::tempdir().unwrap();
        let as_of_wanted = start() + chrono::Duration::days(cut as i64);
        // as_of must not precede every real order.
        let first_real = orders.iter().filter(|o| o.lines.iter().sum::<i32>() >= 0)
            .map(|o| start() + chrono::Duration::days(o.day as i64)).min().unwrap();
        let as_of = as_of_wanted.max(first_real);
        let c = compute_rows(dir.path(), &csv_rows(&orders), Some(as_of));
        let kpis = c.table("kpis_monthly").unwrap();
        let expected = oracle(&orders, as_of);
        prop_assert_eq!(kpis.height(), expected.len());
        let (s, e, n, r) = (ints(kpis, "customers_start"), ints(kpis, "customers_end"), ints(kpis, "new_customers"), ints(kpis, "retained"));
        let revenue = floats(kpis, "revenue");
        for (i, (_, want)) in expected.iter().enumerate() {
            prop_assert_eq!([s[i], e[i], n[i], r[i]], [want[0], want[1], want[2], want[3]], "month {}", i);
            prop_assert!((revenue[i].unwrap() - want[4] as f64 / 100.0).abs() < 1e-9);
        }
    }

    #[test]
    fn tier_migration_matches_a_brute_force_oracle(orders in orders_strategy(), cut in 0u16..420) {
        let dir = tempfile::tempdir().unwrap();
        let first_real = orders.iter().filter(|o| o.lines.iter().sum::<i32>() >= 0)
            .map(|o| start() + chrono::Duration::days(o.day as i64)).min().unwrap();
        let as_of = (start() + chrono::Duration::days(cut as i64)).max(first_real);
        let c = compute_rows(dir.path(), &csv_rows(&orders), Some(as_of));
        let migration = c.table("tier_migration").unwrap();
        let months: Vec<i32> = migration.column("month").unwrap().cast(&DataType::Int32).unwrap()
            .i32().unwrap().into_no_null_iter().collect();
        let text = |name: &str| -> Vec<String> {
            migration.column(name).unwrap().str().unwrap().iter().map(|s| s.unwrap().to_string()).collect()
        };
        let (from, to, count) = (text("from_tier"), text("to_tier"), ints(migration, "customers"));
        let mut got = BTreeMap::new();
        for r in 0..migration.height() {
            if count[r] > 0 {
                let m = month_index(retention::time::date_of(months[r]));
                got.insert((m, from[r].clone(), to[r].clone()), count[r]);
            }
        }
        prop_assert_eq!(got, tier_oracle(&orders, as_of));
    }

    #[test]
    fn reconciliation_identities_hold(orders in orders_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let c = compute_rows(dir.path(), &csv_rows(&orders), None);
        prop_assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
        let customers = c.table("customers").unwrap();
        let cohorts = c.table("cohort_retention").unwrap();
        let kpis = c.table("kpis_monthly").unwrap();
        // Σ cohort sizes (one per cohort: take period 0) = customers.
        let periods = ints(cohorts, "period");
        let sizes = ints(cohorts, "cohort_size");
        let total: i64 = periods.iter().zip(&sizes).filter(|(p, _)| **p == 0).map(|(_, s)| s).sum();
        prop_assert_eq!(total, customers.height() as i64);
        // retained + churned = S; E = retained + reactivated + N.
        let (s, e, n) = (ints(kpis, "customers_start"), ints(kpis, "customers_end"), ints(kpis, "new_customers"));
        let (r, ch, re) = (ints(kpis, "retained"), ints(kpis, "churned"), ints(kpis, "reactivated"));
        for m in 0..kpis.height() {
            prop_assert_eq!(r[m] + ch[m], s[m]);
            prop_assert_eq!(e[m], r[m] + re[m] + n[m]);
            prop_assert!(ch[m] >= 0 && re[m] >= 0);
        }
        // Retention ≤ 1, and 1 at period 0.
        for (p, rate) in periods.iter().zip(floats(cohorts, "retention_rate")) {
            let rate = rate.unwrap();
            prop_assert!(rate <= 1.0);
            if *p == 0 { prop_assert_eq!(rate, 1.0); }
        }
        // Revenue agrees across tables (to the cent).
        let cents = |v: Vec<Option<f64>>| v.iter().map(|x| (x.unwrap() * 100.0).round() as i64).sum::<i64>();
        let a = cents(floats(customers, "revenue"));
        prop_assert_eq!(a, cents(floats(kpis, "revenue")));
        prop_assert_eq!(a, cents(floats(cohorts, "revenue")));
        // Rows are all accounted for.
        let k = c.counts;
        prop_assert_eq!(k.rows_read, k.accepted + k.rejected + k.excluded() + k.duplicates);
    }

    #[test]
    fn tables_do_not_depend_on_threads_or_row_order(
        orders in orders_strategy(),
        unit in prop::sample::select(vec!["month", "week", "quarter"]),
        dimensions in any::<bool>(),
    ) {
        let rows = csv_rows(&orders);
        let one = tempfile::tempdir().unwrap();
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let a = single.install(|| compute_rows_with(one.path(), &rows, None, unit, dimensions));
        let two = tempfile::tempdir().unwrap();
        let mut reversed = rows.clone();
        reversed.reverse();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let b = pool.install(|| compute_rows_with(two.path(), &reversed, None, unit, dimensions));
        for table in ["customers", "cohort_retention", "retention_curve", "kpis_monthly", "segments", "tier_migration", "win_back", "at_risk_high_value", "reengage_new", "vip", "checks"] {
            let (x, y) = (a.table(table).unwrap(), b.table(table).unwrap());
            prop_assert!(x.equals_missing(y), "{} differs:\n{}\n{}", table, x, y);
        }
        let reasons = |c: &Computed| {
            let mut v: Vec<String> = c.table("rejects").unwrap().column("reason").unwrap().str().unwrap()
                .iter().map(|s| s.unwrap_or_default().to_string()).collect();
            v.sort();
            v
        };
        prop_assert_eq!(reasons(&a), reasons(&b));
    }

    #[test]
    fn cohorts_match_a_brute_force_oracle(
        orders in orders_strategy(),
        cut in 0u16..420,
        unit in prop::sample::select(vec!["month", "week", "quarter"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let first_real = orders.iter().filter(|o| o.lines.iter().sum::<i32>() >= 0)
            .map(|o| start() + chrono::Duration::days(o.day as i64)).min().unwrap();
        let as_of = (start() + chrono::Duration::days(cut as i64)).max(first_real);
        let c = compute_rows_by(dir.path(), &csv_rows(&orders), Some(as_of), unit);
        prop_assert!(c.checks.iter().all(|k| k.passed), "{:?}", c.checks);
        let grid = c.table("cohort_retention").unwrap();
        let expected = cohort_oracle(&orders, as_of, unit);
        let column = format!("cohort_{unit}");
        let got: Vec<GridRow> = dates(grid, &column).into_iter()
            .zip(ints(grid, "period"))
            .zip(ints(grid, "cohort_size"))
            .zip(ints(grid, "active_customers"))
            .zip(ints(grid, "unbounded_active_customers"))
            .zip(grid.column("period_complete").unwrap().bool().unwrap().iter().map(|b| b.unwrap()))
            .map(|(((((d, p), n), a), u), done)| (d, p, n, a, u, done))
            .collect();
        prop_assert_eq!(&got, &expected);
        // Rates are the counts over the cohort size.
        for (i, rate) in floats(grid, "unbounded_retention_rate").iter().enumerate() {
            prop_assert!((rate.unwrap() - got[i].4 as f64 / got[i].2 as f64).abs() < 1e-12);
        }
        // Unbounded: cohort_size at k = 0, never below the bounded count,
        // never increasing in k.
        for (i, row) in got.iter().enumerate() {
            prop_assert!(row.4 >= row.3);
            if row.1 == 0 {
                prop_assert_eq!(row.4, row.2);
            } else {
                prop_assert!(row.4 <= got[i - 1].4);
            }
        }
        // The curve: per period, the cohorts whose period k is complete.
        let curve = c.table("retention_curve").unwrap();
        let (last, _, _) = period_of(unit, as_of);
        let first_cohort = expected.iter().map(|r| period_of(unit, r.0).0).min().unwrap();
        prop_assert_eq!(curve.height() as i64, last - first_cohort + 1);
        let (cohorts, customers) = (ints(curve, "cohorts"), ints(curve, "customers"));
        let (retained, unbounded) = (ints(curve, "retained"), ints(curve, "unbounded_retained"));
        let unbounded_rate = floats(curve, "unbounded_retention_rate");
        for k in 0..curve.height() {
            let done: Vec<&GridRow> = expected.iter().filter(|r| r.1 == k as i64 && r.5).collect();
            let n: i64 = done.iter().map(|r| r.2).sum();
            let u: i64 = done.iter().map(|r| r.4).sum();
            prop_assert_eq!(cohorts[k], done.len() as i64);
            prop_assert_eq!(customers[k], n);
            prop_assert_eq!(retained[k], done.iter().map(|r| r.3).sum::<i64>());
            prop_assert_eq!(unbounded[k], u);
            prop_assert_eq!(unbounded_rate[k], (n > 0).then(|| u as f64 / n as f64));
        }
    }

    #[test]
    fn dimension_slices_add_up_and_all_is_the_unsliced_table(
        orders in orders_strategy(),
        unit in prop::sample::select(vec!["month", "week", "quarter"]),
        squeeze in any::<bool>(),
    ) {
        // Squeezed into six weeks, a customer often orders twice in a day:
        // first orders tie, and the tie rule must not depend on row order.
        let mut orders = orders;
        if squeeze {
            for o in &mut orders {
                o.day %= 42;
            }
        }
        let rows = csv_rows(&orders);
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let sliced = compute_rows_with(one.path(), &rows, None, unit, true);
        let plain = compute_rows_with(two.path(), &rows, None, unit, false);
        prop_assert!(sliced.checks.iter().all(|k| k.passed), "{:?}", sliced.checks);
        let cohort = format!("cohort_{unit}");
        let tables: [(&str, Vec<&str>, Vec<&str>); 3] = [
            ("cohort_retention", vec![cohort.as_str(), "period"], vec!["cohort_size", "active_customers", "orders", "revenue", "unbounded_active_customers"]),
            ("retention_curve", vec!["period"], vec!["customers", "retained", "unbounded_retained"]),
            ("kpis_monthly", vec!["month"], vec!["customers_start", "customers_end", "new_customers", "retained", "churned", "reactivated", "purchasing_customers", "orders", "revenue", "returning_customers"]),
        ];
        for (table, keys, counts) in &tables {
            let frame = sliced.table(table).unwrap();
            // The (all) slice is the unsliced table, column for column.
            let mut all = frame.clone();
            for d in DIMENSIONS {
                let mask = all.column(d).unwrap().str().unwrap().equal("(all)");
                all = all.filter(&mask).unwrap().drop(d).unwrap();
            }
            let whole = plain.table(table).unwrap();
            prop_assert!(all.equals_missing(whole), "{}: (all) slice differs:\n{}\n{}", table, all, whole);
            // Σ over each dimension's values = the (all) slice, per key.
            for d in DIMENSIONS {
                let (want, got) = slice_sums(frame, keys, counts, d);
                prop_assert_eq!(want, got, "{} by {}", table, d);
            }
        }
        // The same rows reversed, on three threads: the same slices.
        let three = tempfile::tempdir().unwrap();
        let mut reversed = rows.clone();
        reversed.reverse();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let again = pool.install(|| compute_rows_with(three.path(), &reversed, None, unit, true));
        for (table, _, _) in &tables {
            let (x, y) = (sliced.table(table).unwrap(), again.table(table).unwrap());
            prop_assert!(x.equals_missing(y), "{} differs with rows reversed:\n{}\n{}", table, x, y);
        }
        // Each customer is in the slice of their first order's value.
        let kpis = sliced.table("kpis_monthly").unwrap();
        for (d, _) in DIMENSIONS.iter().enumerate() {
            let labels = texts(kpis, DIMENSIONS[d]);
            let new = ints(kpis, "new_customers");
            let mut got: BTreeMap<String, i64> = BTreeMap::new();
            for (label, n) in labels.iter().zip(&new) {
                if label != "(all)" {
                    *got.entry(label.clone()).or_default() += n;
                }
            }
            prop_assert_eq!(got, first_order_values(&orders, d));
        }
    }
}

const DIMENSIONS: [&str; 2] = ["channel", "country"];

/// For dimension `d`: per key, the count columns of the `(all)` slice and
/// their sums over `d`'s value slices (money in cents).
#[allow(clippy::type_complexity)]
fn slice_sums(
    frame: &DataFrame,
    keys: &[&str],
    counts: &[&str],
    d: &str,
) -> (BTreeMap<String, Vec<i64>>, BTreeMap<String, Vec<i64>>) {
    let key_text: Vec<String> = (0..frame.height())
        .map(|r| {
            keys.iter()
                .map(|k| frame.column(k).unwrap().get(r).unwrap().to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    let values: Vec<Vec<i64>> = counts
        .iter()
        .map(|c| match frame.column(c).unwrap().dtype() {
            DataType::Float64 => floats(frame, c)
                .iter()
                .map(|x| (x.unwrap() * 100.0).round() as i64)
                .collect(),
            _ => ints(frame, c),
        })
        .collect();
    let labels: Vec<Vec<String>> = DIMENSIONS.iter().map(|name| texts(frame, name)).collect();
    let mine = DIMENSIONS.iter().position(|n| *n == d).unwrap();
    let (mut all, mut sums) = (BTreeMap::new(), BTreeMap::new());
    for r in 0..frame.height() {
        let row: Vec<i64> = values.iter().map(|v| v[r]).collect();
        let is_all = labels.iter().all(|l| l[r] == "(all)");
        let target = if is_all {
            &mut all
        } else if labels[mine][r] != "(all)" {
            &mut sums
        } else {
            continue;
        };
        let entry = target
            .entry(key_text[r].clone())
            .or_insert_with(|| vec![0; counts.len()]);
        for (e, x) in entry.iter_mut().zip(&row) {
            *e += x;
        }
    }
    // Keys missing from the value slices (cohorts without customers there)
    // count as zero.
    for (key, want) in &all {
        if want.iter().all(|x| *x == 0) {
            sums.entry(key.clone())
                .or_insert_with(|| vec![0; counts.len()]);
        }
    }
    (all, sums)
}

/// Customers per value of dimension `d` (0 channel, 1 country), the slow
/// way: a customer's first order is their earliest order (total ≥ 0) by
/// day (every order's first line is at 12:00:00, so orders on one day tie
/// and the smallest value wins, a blank one last); its value is that of
/// its first line, the earliest. Blank is `(missing)`.
fn first_order_values(orders: &[GenOrder], d: usize) -> BTreeMap<String, i64> {
    let mut first: BTreeMap<u8, (u16, Option<&str>)> = BTreeMap::new();
    for o in orders.iter().filter(|o| o.lines.iter().sum::<i32>() >= 0) {
        let (channel, country) = line_dimensions(o, 0);
        let value = [channel, country][d].trim();
        let value = (!value.is_empty()).then_some(value);
        // None sorts first in Option order: compare with blanks last.
        let better = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(x), Some(y)) => x < y,
            (Some(_), None) => true,
            _ => false,
        };
        first
            .entry(o.customer)
            .and_modify(|(day, v)| {
                if o.day < *day || (o.day == *day && better(value, *v)) {
                    *day = o.day;
                    *v = value;
                }
            })
            .or_insert((o.day, value));
    }
    let mut out = BTreeMap::new();
    for (_, (_, value)) in first {
        *out.entry(value.unwrap_or("(missing)").to_string())
            .or_insert(0) += 1;
    }
    out
}
