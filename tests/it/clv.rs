//! CLV on generated histories with known parameters: the fits recover the
//! truth, and the published CLV tables are sane.

use chrono::NaiveDate;
use polars::prelude::*;
use retention::config::Pipeline;
use retention::generate::{generate, GenerateOptions, GroundTruth};
use retention::run::{compute, RunOptions};

fn parameter(model: &DataFrame, name: &str) -> (f64, f64) {
    let names = model.column("parameter").unwrap().str().unwrap().clone();
    let i = names.iter().position(|n| n == Some(name)).unwrap();
    let value = model
        .column("value")
        .unwrap()
        .f64()
        .unwrap()
        .get(i)
        .unwrap();
    let se = model
        .column("std_error")
        .unwrap()
        .f64()
        .unwrap()
        .get(i)
        .unwrap();
    (value, se)
}

/// Parameter recovery, three seeds × three parameter sets, 50,000
/// customers each.
///
/// Tolerance: each estimate must lie within 4 of its own standard errors
/// (from the inverse Hessian) of the truth, plus 5% of the truth. Four
/// standard errors is a two-sided 99.99% band for the sampling error of a
/// maximum-likelihood estimate; the 5% covers what the data cannot match
/// exactly: purchases are observed in whole days (two on one day count
/// once) and the holdout-free summary has integer recency and T.
#[test]
fn fits_recover_the_generating_parameters() {
    let sets = [
        (11, GroundTruth::default()),
        (
            12,
            GroundTruth {
                r: 0.5,
                alpha: 30.0,
                a: 1.2,
                b: 5.0,
                p: 3.0,
                q: 6.0,
                gamma: 40.0,
                ..GroundTruth::default()
            },
        ),
        (
            13,
            GroundTruth {
                r: 1.5,
                alpha: 120.0,
                a: 0.5,
                b: 2.0,
                p: 10.0,
                q: 3.0,
                gamma: 8.0,
                ..GroundTruth::default()
            },
        ),
    ];
    let mut report = Vec::new();
    for (seed, truth) in sets {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        generate(&GenerateOptions {
            customers: 50_000,
            seed,
            start: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            months: 36,
            out: d.join("orders.parquet"),
            surveys: None,
            truth: truth.clone(),
        })
        .unwrap();
        std::fs::write(
            d.join("pipeline.toml"),
            "[input]\npath = \"orders.parquet\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\norder_id = \"order_id\"\n",
        )
        .unwrap();
        let pipeline = Pipeline::load(&d.join("pipeline.toml")).unwrap();
        let c = compute(&pipeline, &RunOptions::default()).unwrap();
        let model = c.table("clv_model").unwrap();
        assert!(
            model.column("converged").unwrap().bool().unwrap().all(),
            "{model}"
        );
        for (name, want) in [
            ("r", truth.r),
            ("alpha", truth.alpha),
            ("a", truth.a),
            ("b", truth.b),
            ("p", truth.p),
            ("q", truth.q),
            ("gamma", truth.gamma),
        ] {
            let (got, se) = parameter(model, name);
            let z = (got - want) / se;
            report.push(format!(
                "seed {seed} {name}: {got:.4} vs {want} (se {se:.4}, z {z:+.2})"
            ));
            assert!(
                (got - want).abs() <= 4.0 * se + 0.05 * want,
                "{}",
                report.join("\n")
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn clv_columns_are_complete_and_consistent() {
    let c = crate::support::compute_pipeline(&crate::support::repo_path("pipelines/sample.toml"));
    let customers = c.table("customers").unwrap();
    for column in [
        "p_alive",
        "expected_orders",
        "expected_avg_order_value",
        "clv",
        "clv_simple",
    ] {
        let values = customers.column(column).unwrap().f64().unwrap().clone();
        assert_eq!(values.null_count(), 0, "{column} has nulls");
        assert!(
            values.into_no_null_iter().all(f64::is_finite),
            "{column} not finite"
        );
    }
    let p = customers.column("p_alive").unwrap().f64().unwrap().clone();
    assert!(p.into_no_null_iter().all(|x| (0.0..=1.0).contains(&x)));
    let validation = c.table("clv_validation").unwrap();
    let buckets: Vec<Option<&str>> = validation
        .column("bucket")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        buckets,
        ["overall", "0", "1", "2", "3", "4", "5", "6", "7+"].map(Some)
    );
    // The buckets partition the calibration customers.
    let n: Vec<i64> = validation
        .column("customers")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(n[0], n[1..].iter().sum::<i64>());
    // The forecast's months add up to the customers' expected orders.
    let forecast = c.table("clv_forecast").unwrap();
    assert_eq!(forecast.height(), 12);
    let by_month: f64 = forecast
        .column("expected_orders")
        .unwrap()
        .f64()
        .unwrap()
        .sum()
        .unwrap();
    let total: f64 = customers
        .column("expected_orders")
        .unwrap()
        .f64()
        .unwrap()
        .sum()
        .unwrap();
    assert!(
        (by_month - total).abs() < 1e-6 * total,
        "{by_month} vs {total}"
    );
    let none = customers
        .column("p_no_order")
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    assert!(none.into_no_null_iter().all(|x| (0.0..=1.0).contains(&x)));
    let segments = c.table("segments").unwrap();
    assert_eq!(segments.column("avg_clv").unwrap().null_count(), 0);
}

/// Only one-time buyers: nothing to fit Gamma-Gamma on. The run still
/// publishes, flags the fits, and values orders at the plain average.
#[test]
fn one_time_buyers_only_publish_flagged_fits_and_no_nan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("orders.csv"),
        "order_id,customer_id,order_ts,amount\n1,a,2024-01-01 10:00:00,3.00\n2,b,2024-02-01 10:00:00,5.00\n3,c,2024-03-01 10:00:00,10.00\n",
    )
    .unwrap();
    std::fs::write(
        d.join("pipeline.toml"),
        "[input]\npath = \"orders.csv\"\n[columns]\ncustomer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\norder_id = \"order_id\"\n",
    )
    .unwrap();
    let c = crate::support::compute_pipeline(&d.join("pipeline.toml"));
    let model = c.table("clv_model").unwrap();
    let converged: Vec<Option<bool>> = model
        .column("converged")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert!(
        converged[4..].iter().all(|c| *c == Some(false)),
        "gamma-gamma has no data: {model}"
    );
    let customers = c.table("customers").unwrap();
    let aov: Vec<f64> = customers
        .column("expected_avg_order_value")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(aov, [6.0, 6.0, 6.0]);
    for column in [
        "p_alive",
        "expected_orders",
        "p_no_order",
        "clv",
        "clv_simple",
    ] {
        let v = customers.column(column).unwrap().f64().unwrap().clone();
        assert_eq!(v.null_count(), 0, "{column}");
        assert!(v.into_no_null_iter().all(f64::is_finite), "{column}");
    }
}
