//! Properties on generated order sets: reconciliation identities, a
//! brute-force oracle for the activity KPIs, and independence from thread
//! count and input row order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use proptest::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, Computed, RunOptions};

/// One generated order: customer, day offset, line amounts in cents.
#[derive(Debug, Clone)]
struct GenOrder {
    customer: u8,
    day: u16,
    lines: Vec<i32>,
}

fn orders_strategy() -> impl Strategy<Value = Vec<GenOrder>> {
    let order = (
        0u8..12,
        0u16..420,
        prop::collection::vec(-4000i32..20000, 1..4),
    )
        .prop_map(|(customer, day, lines)| GenOrder {
            customer,
            day,
            lines,
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
            rows.push(format!(
                "O{i},c{:02},{date} 12:00:{k:02},{sign}{}.{:02},sku{k}",
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
    let mut text = String::from("order_id,customer_id,order_ts,amount,sku\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(dir.join("orders.csv"), text).unwrap();
    std::fs::write(
        dir.join("pipeline.toml"),
        format!(
            "[input]\npath = \"orders.csv\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\norder_id = \"order_id\"\n[business]\nactivity_window_days = {WINDOW}\n[rejects]\nmax_reject_ratio = 1.0\n[loyalty]\ntiers = [{{ name = \"Bronze\", min_spend = 0 }}, {{ name = \"Silver\", min_spend = 150 }}, {{ name = \"Gold\", min_spend = 400 }}]\n"
        ),
    )
    .unwrap();
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

fn ints(frame: &DataFrame, column: &str) -> Vec<i64> {
    frame
        .column(column)
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

fn floats(frame: &DataFrame, column: &str) -> Vec<Option<f64>> {
    frame
        .column(column)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect()
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
    fn tables_do_not_depend_on_threads_or_row_order(orders in orders_strategy()) {
        let rows = csv_rows(&orders);
        let one = tempfile::tempdir().unwrap();
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let a = single.install(|| compute_rows(one.path(), &rows, None));
        let two = tempfile::tempdir().unwrap();
        let mut reversed = rows.clone();
        reversed.reverse();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let b = pool.install(|| compute_rows(two.path(), &reversed, None));
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
}
