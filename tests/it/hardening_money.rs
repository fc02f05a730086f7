//! Integer cents never wrap (issue 11): a line's amount or an order's total
//! beyond the documented bound (|amount| < 10^13 currency units) is
//! rejected `amount_out_of_range`, and a run whose accepted amounts add up
//! (in absolute value) beyond i64 cents fails instead of publishing a
//! wrapped sum. Expectations come from an i128 oracle over the generated
//! lines, written the slow, obvious way.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use proptest::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, Computed, RunOptions};

use crate::support::{doubles, ints, read_table, retention, texts, write_pipeline, PipelineFile};

/// The largest |cents| of a line or an order total (README: below 10^13
/// currency units), restated here rather than taken from the library.
const MAX: i128 = 999_999_999_999_999;

/// i64 cents: the bound on Σ |accepted order total| of a run.
const VOLUME_LIMIT: i128 = i64::MAX as i128;

/// Cents as a plain decimal amount (`-12.05`).
fn amount_text(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()
}

/// One generated order: customer, day offset, line amounts in cents.
#[derive(Debug, Clone)]
struct GenOrder {
    customer: u8,
    day: u16,
    lines: Vec<i128>,
}

impl GenOrder {
    fn date(&self) -> NaiveDate {
        start() + chrono::Duration::days(self.day as i64)
    }
}

/// One CSV row per line: order id, customer, timestamp, amount, sku (so
/// equal amounts in one order are not duplicates), channel.
fn csv_text(orders: &[GenOrder]) -> String {
    let mut text = String::from("order_id,customer_id,order_ts,amount,sku,channel\n");
    for (i, o) in orders.iter().enumerate() {
        for (k, &cents) in o.lines.iter().enumerate() {
            // Whole amounts sometimes without decimals: another parse path.
            let amount = match cents % 100 == 0 && k % 2 == 1 {
                true => (cents / 100).to_string(),
                false => amount_text(cents),
            };
            let channel = ["web", "app"][(i + k) % 2];
            text.push_str(&format!(
                "O{i},c{},{} 12:00:00,{amount},sku{k},{channel}\n",
                o.customer,
                o.date()
            ));
        }
    }
    text
}

/// as_of after every generated day, so nothing is excluded.
fn as_of() -> NaiveDate {
    start() + chrono::Duration::days(500)
}

fn compute_orders(dir: &Path, orders: &[GenOrder]) -> retention::error::Result<Computed> {
    std::fs::write(dir.join("orders.csv"), csv_text(orders)).unwrap();
    PipelineFile::over("orders.csv")
        .columns("dimensions = [\"channel\"]\n")
        .business("activity_window_days = 90")
        .rest("[rejects]\nmax_reject_ratio = 1.0\n[loyalty]\ntiers = [{ name = \"Bronze\", min_spend = 0 }, { name = \"Silver\", min_spend = 1000000000000 }, { name = \"Gold\", min_spend = 9000000000000 }]")
        .write(dir);
    let pipeline = Pipeline::load(&dir.join("pipeline.toml")).unwrap();
    compute(
        &pipeline,
        &RunOptions {
            as_of: Some(as_of()),
            ..Default::default()
        },
    )
}

/// What the README's rules make of the generated orders, in i128.
#[derive(Debug, Default)]
struct Oracle {
    /// 1-based data row → reject reason.
    rejects: BTreeMap<u32, &'static str>,
    /// Customer id → net revenue in cents.
    revenue: BTreeMap<String, i128>,
    /// Month (year * 12 + month0) → net revenue in cents.
    monthly: BTreeMap<i32, i128>,
    accepted_rows: u64,
}

impl Oracle {
    fn total(&self) -> i128 {
        self.revenue.values().sum()
    }
}

fn oracle(orders: &[GenOrder]) -> Oracle {
    let mut out = Oracle::default();
    let mut first_row = 1u32;
    // Orders that survive the line and total checks: (order, first row, total).
    let mut valid: Vec<(&GenOrder, u32, i128)> = Vec::new();
    for o in orders {
        let rows = first_row..first_row + o.lines.len() as u32;
        first_row = rows.end;
        let line_bad: Vec<bool> = o.lines.iter().map(|c| c.abs() > MAX).collect();
        let total: i128 = o.lines.iter().sum();
        if line_bad.iter().any(|&b| b) {
            for (row, bad) in rows.zip(line_bad) {
                let reason = if bad {
                    "amount_out_of_range"
                } else {
                    "order_has_bad_line"
                };
                out.rejects.insert(row, reason);
            }
        } else if total.abs() > MAX {
            for row in rows {
                out.rejects.insert(row, "amount_out_of_range");
            }
        } else {
            valid.push((o, rows.start, total));
        }
    }
    let mut first_order: BTreeMap<u8, NaiveDate> = BTreeMap::new();
    for (o, _, total) in &valid {
        if *total >= 0 {
            let first = first_order.entry(o.customer).or_insert(o.date());
            *first = (*first).min(o.date());
        }
    }
    for (o, row, total) in valid {
        let refund_reason = match first_order.get(&o.customer) {
            _ if total >= 0 => None,
            None => Some("refund_without_order"),
            Some(&first) if o.date() < first => Some("refund_before_first_order"),
            Some(_) => None,
        };
        let rows = row..row + o.lines.len() as u32;
        match refund_reason {
            Some(reason) => {
                for row in rows {
                    out.rejects.insert(row, reason);
                }
            }
            None => {
                out.accepted_rows += o.lines.len() as u64;
                *out.revenue.entry(format!("c{}", o.customer)).or_default() += total;
                let month = o.date().year() * 12 + o.date().month0() as i32;
                *out.monthly.entry(month).or_default() += total;
            }
        }
    }
    out
}

/// Line amounts in cents: at and around the bound (both signs), typical
/// amounts, anything within the bound, the 50,000,000,000,000,000
/// units, and beyond i64 cents.
fn line_cents() -> impl Strategy<Value = i128> {
    prop_oneof![
        3 => prop_oneof![Just(MAX), Just(-MAX), Just(MAX + 1), Just(-MAX - 1)],
        2 => MAX / 2 - 3..MAX / 2 + 3,
        2 => -5_000i128..20_000,
        2 => -MAX..=MAX,
        1 => Just(5 * 10i128.pow(18)),
        1 => -(10i128.pow(22))..10i128.pow(22),
    ]
}

fn orders_strategy() -> impl Strategy<Value = Vec<GenOrder>> {
    let order = (0u8..3, 0u16..400, prop::collection::vec(line_cents(), 1..6)).prop_map(
        |(customer, day, lines)| GenOrder {
            customer,
            day,
            lines,
        },
    );
    prop::collection::vec(order, 1..40).prop_map(|mut orders| {
        // At least one ordinary order, so there is something to compute.
        orders.insert(
            0,
            GenOrder {
                customer: 0,
                day: 0,
                lines: vec![1234],
            },
        );
        orders
    })
}

/// How a run publishes cents: as currency units in a DOUBLE.
fn published(cents: i128) -> f64 {
    cents as f64 / 100.0
}

/// Checks one computed run against the oracle.
fn assert_matches_oracle(c: &Computed, expected: &Oracle) {
    let n = &c.counts;
    assert_eq!(
        n.rows_read,
        n.accepted + n.rejected + n.excluded() + n.duplicates,
        "accounting: {n:?}"
    );
    assert_eq!(n.accepted, expected.accepted_rows, "accepted rows");

    let rejects = c.table("rejects").unwrap();
    let got: BTreeMap<u32, String> = ints(rejects, "row")
        .into_iter()
        .map(|r| r as u32)
        .zip(texts(rejects, "reason"))
        .collect();
    let want: BTreeMap<u32, String> = expected
        .rejects
        .iter()
        .map(|(&r, &reason)| (r, reason.to_string()))
        .collect();
    assert_eq!(got, want, "reject reasons by row");

    for check in &c.checks {
        assert!(check.passed, "check failed: {check:?}");
    }
    let accepted = c
        .checks
        .iter()
        .find(|k| k.check == "revenue_cents: customers = accepted")
        .unwrap();
    assert_eq!(
        accepted.expected as i128,
        expected.total(),
        "accepted cents"
    );

    let customers = c.table("customers").unwrap();
    let got: BTreeMap<String, f64> = texts(customers, "customer_id")
        .into_iter()
        .zip(doubles(customers, "revenue"))
        .collect();
    let want: BTreeMap<String, f64> = expected
        .revenue
        .iter()
        .map(|(id, &cents)| (id.clone(), published(cents)))
        .collect();
    assert_eq!(got, want, "customers.revenue");
    for (id, &cents) in &expected.revenue {
        assert_eq!(got[id].signum(), published(cents).signum(), "{id}: sign");
    }

    // kpis_monthly of the (all) slice: one row per month from the first.
    let kpis = c.table("kpis_monthly").unwrap();
    let all: Vec<bool> = texts(kpis, "channel")
        .iter()
        .map(|v| v == "(all)")
        .collect();
    let revenue: Vec<f64> = doubles(kpis, "revenue")
        .into_iter()
        .zip(&all)
        .filter(|(_, &a)| a)
        .map(|(r, _)| r)
        .collect();
    let first_month = *expected.monthly.keys().next().unwrap();
    for (k, got) in revenue.iter().enumerate() {
        let month = first_month + k as i32;
        let want = published(expected.monthly.get(&month).copied().unwrap_or(0));
        assert_eq!(*got, want, "kpis_monthly revenue, month {month}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Amounts near and beyond the bound, several lines an order and many
    /// orders a customer: no panic, the accounting holds, out-of-range
    /// lines and orders are rejected with the documented reason, and every
    /// published revenue is the exact (i128) sum, of the right sign.
    #[test]
    fn amounts_near_the_bound_never_wrap(orders in orders_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let computed = compute_orders(dir.path(), &orders).expect("the run computes");
        assert_matches_oracle(&computed, &oracle(&orders));
    }
}

/// One order of 10,000 lines at the bound: its total (10^19 cents) wraps
/// i64 to a negative number, which made it a refund; it is out of range.
/// An order of lines at the bound alternating in sign stays exact.
#[test]
fn many_lines_at_the_bound_are_one_out_of_range_order() {
    let dir = tempfile::tempdir().unwrap();
    let huge = GenOrder {
        customer: 1,
        day: 3,
        lines: vec![MAX; 10_000],
    };
    let alternating = GenOrder {
        customer: 2,
        day: 4,
        lines: (0..1001)
            .map(|k| if k % 2 == 0 { MAX } else { -MAX })
            .collect(),
    };
    let ordinary = GenOrder {
        customer: 0,
        day: 0,
        lines: vec![1234],
    };
    let orders = [ordinary, huge, alternating];
    let computed = compute_orders(dir.path(), &orders).unwrap();
    let expected = oracle(&orders);
    assert_eq!(expected.revenue["c2"], MAX);
    assert_eq!(
        expected
            .rejects
            .values()
            .filter(|r| **r == "amount_out_of_range")
            .count(),
        10_000
    );
    assert_matches_oracle(&computed, &expected);
    // The rejects name the order's total as their value.
    let rejects = computed.table("rejects").unwrap();
    let values = texts(rejects, "value");
    assert!(values.iter().all(|v| *v == amount_text(10_000 * MAX)));
}

/// Σ |accepted order total| just under i64 cents computes; one order more
/// fails the run naming the total and the limit, never a wrapped revenue.
#[test]
fn a_run_whose_amounts_exceed_i64_cents_fails() {
    let at_limit = (VOLUME_LIMIT / MAX) as usize; // 9223 orders of MAX
    let order = |i: usize| GenOrder {
        customer: (i % 2) as u8,
        day: (i % 365) as u16,
        lines: vec![MAX],
    };
    let dir = tempfile::tempdir().unwrap();
    let orders: Vec<GenOrder> = (0..at_limit).map(order).collect();
    let computed = compute_orders(dir.path(), &orders).expect("just under the limit");
    assert_matches_oracle(&computed, &oracle(&orders));

    let orders: Vec<GenOrder> = (0..at_limit + 1).map(order).collect();
    assert!(at_limit as i128 * MAX <= VOLUME_LIMIT);
    assert!((at_limit + 1) as i128 * MAX > VOLUME_LIMIT);
    let error = compute_orders(dir.path(), &orders)
        .err()
        .expect("a run beyond i64 cents fails");
    assert_eq!(error.exit_code(), 1);
    let message = error.to_string();
    assert!(
        message.contains(&amount_text((at_limit + 1) as i128 * MAX))
            && message.contains(&amount_text(VOLUME_LIMIT)),
        "{message}"
    );
}

/// The binary on a CSV file: the case (two lines of
/// 50,000,000,000,000,000), an order whose lines are in range but whose
/// total is not, and amounts just under the bound.
#[test]
fn binary_rejects_out_of_range_amounts_and_publishes_exact_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = [
        "order_id,customer_id,order_ts,amount,sku",
        "O1,c1,2024-01-10 10:00:00,50000000000000000,a", // the two lines
        "O1,c1,2024-01-10 10:00:00,50000000000000000,b",
        "O2,c1,2024-01-11 10:00:00,10.00,a",
        "O3,c2,2024-01-12 10:00:00,6000000000000.00,a", // total 10^13: out
        "O3,c2,2024-01-12 10:00:00,4000000000000,b",
        "O4,c2,2024-01-13 10:00:00,6000000000000.00,a", // total just under
        "O4,c2,2024-01-13 10:00:00,3999999999999.99,b",
        "O5,c3,2024-01-14 10:00:00,9999999999999.99,a", // just under
        "O6,c3,2024-01-14 11:00:00,-9999999999999.99,a", // its refund
        "O7,c4,2024-01-15 10:00:00,9999999999999.99,a",
        "O8,c4,2024-01-16 10:00:00,-10000000000000.00,a", // refund out of range
    ];
    std::fs::write(d.join("orders.csv"), rows.join("\n") + "\n").unwrap();
    write_pipeline(d, "orders.csv", "");
    let pipeline = std::fs::read_to_string(d.join("pipeline.toml")).unwrap()
        + "[rejects]\nmax_reject_ratio = 1.0\n";
    std::fs::write(d.join("pipeline.toml"), pipeline).unwrap();
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let out = d.join("out");
    let rejects = read_table(&out, "rejects");
    let got: Vec<(i64, String)> = ints(&rejects, "row")
        .into_iter()
        .zip(texts(&rejects, "reason"))
        .collect();
    let reason = "amount_out_of_range".to_string();
    let want: Vec<(i64, String)> = [1, 2, 4, 5, 11].map(|r| (r, reason.clone())).to_vec();
    assert_eq!(got, want);
    let values: Vec<Option<&str>> = rejects
        .column("value")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        values,
        [
            Some("50000000000000000"),
            Some("50000000000000000"),
            Some("10000000000000.00"),
            Some("10000000000000.00"),
            Some("-10000000000000.00"),
        ]
    );

    let customers = read_table(&out, "customers");
    let revenue: BTreeMap<String, f64> = texts(&customers, "customer_id")
        .into_iter()
        .zip(doubles(&customers, "revenue"))
        .collect();
    let exact = |text: &str| text.parse::<f64>().unwrap();
    assert_eq!(revenue["c1"], exact("10.00"));
    assert_eq!(revenue["c2"], exact("9999999999999.99"));
    assert_eq!(revenue["c3"], 0.0);
    assert_eq!(revenue["c4"], exact("9999999999999.99"));
    // The DOUBLE reads back as the amount, to the cent.
    assert_eq!(format!("{:.2}", revenue["c2"]), "9999999999999.99");

    let checks = read_table(&out, "checks");
    assert!(checks
        .column("passed")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .all(|p| p == Some(true)));
    let names = texts(&checks, "check_name");
    let expected = ints(&checks, "expected");
    let at = names
        .iter()
        .position(|n| n == "revenue_cents: customers = accepted")
        .unwrap();
    assert_eq!(
        expected[at] as i128,
        1000 + 2 * MAX,
        "accepted cents: c1 (10.00) + c2 (MAX) + c3 (0) + c4 (MAX)"
    );
}

/// Typed Parquet amounts take the integer and float fast paths: the
/// bound holds there too.
#[test]
fn typed_parquet_amounts_are_bounded_alike() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids = ["O1", "O2", "O3", "O4"];
    let customers = ["c1", "c1", "c2", "c2"];
    let ts = [
        "2024-01-10 10:00:00",
        "2024-01-11 10:00:00",
        "2024-01-12 10:00:00",
        "2024-01-13 10:00:00",
    ];
    let cases: [(&str, Column); 2] = [
        (
            "int",
            Column::new(
                "amount".into(),
                [
                    50_000_000_000_000_000i64,
                    10,
                    9_999_999_999_999,
                    10_000_000_000_000,
                ],
            ),
        ),
        (
            "float",
            Column::new("amount".into(), [5e16f64, 10.0, 9_999_999_999_999.99, 1e13]),
        ),
    ];
    for (name, amount) in cases {
        let mut frame = DataFrame::new(
            4,
            vec![
                Column::new("order_id".into(), ids),
                Column::new("customer_id".into(), customers),
                Column::new("order_ts".into(), ts),
                amount,
            ],
        )
        .unwrap();
        let file = std::fs::File::create(d.join(format!("{name}.parquet"))).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
        write_pipeline(d, &format!("{name}.parquet"), "");
        let pipeline = std::fs::read_to_string(d.join("pipeline.toml")).unwrap()
            + "[rejects]\nmax_reject_ratio = 1.0\n";
        std::fs::write(d.join("pipeline.toml"), pipeline).unwrap();
        let c = compute(
            &Pipeline::load(&d.join("pipeline.toml")).unwrap(),
            &RunOptions::default(),
        )
        .unwrap();
        let rejects = c.table("rejects").unwrap();
        let got: Vec<(i64, String)> = ints(rejects, "row")
            .into_iter()
            .zip(texts(rejects, "reason"))
            .collect();
        let reason = "amount_out_of_range".to_string();
        assert_eq!(got, [(1, reason.clone()), (4, reason)], "{name}");
        let customers = c.table("customers").unwrap();
        let revenue = doubles(customers, "revenue");
        let c2 = if name == "int" {
            "9999999999999"
        } else {
            "9999999999999.99"
        };
        assert_eq!(revenue, [10.0, c2.parse::<f64>().unwrap()], "{name}");
    }
}

/// The binary on a run whose amounts add up beyond i64 cents: exit 1, an
/// error naming the total and the limit, and nothing published.
#[test]
fn binary_fails_a_run_beyond_i64_cents_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orders = (VOLUME_LIMIT / MAX) as usize + 1;
    let mut text = String::from("order_id,customer_id,order_ts,amount\n");
    for i in 0..orders {
        let date = start() + chrono::Duration::days((i % 365) as i64);
        text.push_str(&format!(
            "O{i},c{},{date} 10:00:00,{}\n",
            i % 3,
            amount_text(MAX)
        ));
    }
    std::fs::write(d.join("orders.csv"), text).unwrap();
    write_pipeline(d, "orders.csv", "");
    let o = retention(&["run", "pipeline.toml"], d);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&amount_text(orders as i128 * MAX))
            && stderr.contains(&amount_text(VOLUME_LIMIT)),
        "{stderr}"
    );
    assert!(!d.join("out").join("current").exists());
}
