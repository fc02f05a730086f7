//! `retention generate`: a synthetic order history with known ground truth.
//!
//! Customers are acquired over `months` months, with monthly growth and a
//! year-end peak. Each then buys by the BG/NBD process (Fader, Hardie & Lee
//! 2005): while alive, purchases arrive as a Poisson process with rate
//! λ ~ Gamma(r, α) per day; after each repeat purchase the customer dies
//! with probability p ~ Beta(a, b). Order values follow Gamma-Gamma (Fader,
//! Hardie & Lee 2004): z ~ Gamma(shape p_gg, rate ν), ν ~ Gamma(q, rate γ).
//! A small share of orders is split into lines, and a small share is
//! partly refunded a few days later.
//!
//! Every customer draws from its own ChaCha stream (seed, customer index),
//! so the output depends on the seed only, not on the thread count. The
//! parameters are written beside the data as `PATH.truth.json`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// True parameters of the simulated population.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// BG/NBD shape of the purchase-rate distribution.
    pub r: f64,
    /// BG/NBD scale of the purchase-rate distribution, in days.
    pub alpha: f64,
    /// BG/NBD dropout Beta parameters.
    pub a: f64,
    pub b: f64,
    /// Gamma-Gamma spend parameters.
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    /// Share of orders partly refunded later.
    pub refund_share: f64,
    /// Share of orders written as several lines.
    pub multi_line_share: f64,
    /// Monthly growth of acquisitions.
    pub monthly_growth: f64,
}

impl Default for GroundTruth {
    fn default() -> Self {
        GroundTruth {
            r: 0.9,
            alpha: 60.0,
            a: 0.8,
            b: 3.0,
            p: 6.0,
            q: 4.0,
            gamma: 15.0,
            refund_share: 0.02,
            multi_line_share: 0.3,
            monthly_growth: 0.02,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub customers: u64,
    pub seed: u64,
    pub start: NaiveDate,
    pub months: u32,
    pub out: PathBuf,
    pub truth: GroundTruth,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateSummary {
    pub path: String,
    pub customers: u64,
    pub orders: u64,
    pub refunds: u64,
    pub lines: u64,
    pub seed: u64,
    pub start: String,
    pub end_exclusive: String,
    pub time_unit: &'static str,
    pub truth: GroundTruth,
}

/// One output row (an order line).
struct Line {
    ts_micros: i64,
    customer: u64,
    order_seq: u32,
    /// Set for refund rows.
    refund: bool,
    cents: i64,
}

fn month_weight(truth: &GroundTruth, start: NaiveDate, m: u32) -> f64 {
    let month_of_year = (start.month0() + m) % 12;
    let season = match month_of_year {
        10 => 1.3, // November
        11 => 1.5, // December
        0 => 0.8,  // January
        _ => 1.0,
    };
    (1.0 + truth.monthly_growth).powi(m as i32) * season
}

fn generate_customer(
    options: &GenerateOptions,
    starts: &[i64],
    weights: &[f64],
    i: u64,
) -> Vec<Line> {
    let truth = &options.truth;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(i);
    let end = *starts.last().expect("months > 0");
    // Acquisition month by weight, instant uniform within the month.
    let total: f64 = weights.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    let mut month = 0;
    while month + 1 < weights.len() && pick >= weights[month] {
        pick -= weights[month];
        month += 1;
    }
    let t0 =
        starts[month] + (rng.random::<f64>() * (starts[month + 1] - starts[month]) as f64) as i64;

    let rate = Gamma::new(truth.r, 1.0 / truth.alpha)
        .expect("valid")
        .sample(&mut rng)
        .max(1e-12);
    let dropout = Beta::new(truth.a, truth.b).expect("valid").sample(&mut rng);
    let nu = Gamma::new(truth.q, 1.0 / truth.gamma)
        .expect("valid")
        .sample(&mut rng);
    let spend = Gamma::new(truth.p, 1.0 / nu).expect("valid");
    let gap = Exp::new(rate).expect("positive rate");

    let mut lines = Vec::new();
    let mut t = t0;
    let mut seq = 0u32;
    loop {
        let value = spend.sample(&mut rng).max(0.01);
        let cents = (value * 100.0).round().max(1.0) as i64;
        seq += 1;
        let parts = if rng.random::<f64>() < truth.multi_line_share {
            rng.random_range(2..=3)
        } else {
            1
        };
        let mut left = cents;
        for part in 0..parts {
            let share = if part + 1 == parts { left } else { left / 2 };
            left -= share;
            lines.push(Line {
                ts_micros: t + part as i64 * 1_000_000,
                customer: i,
                order_seq: seq,
                refund: false,
                cents: share,
            });
        }
        if rng.random::<f64>() < truth.refund_share {
            let when = t + (rng.random_range(1..=30) as i64) * MICROS_PER_DAY;
            if when < end {
                let refunded = ((cents as f64) * rng.random_range(0.2..=1.0)).round() as i64;
                lines.push(Line {
                    ts_micros: when,
                    customer: i,
                    order_seq: seq,
                    refund: true,
                    cents: -refunded.max(1),
                });
            }
        }
        // After each repeat purchase the customer may drop out for good (in
        // BG/NBD the first purchase, at time 0, is not a dropout chance).
        if seq > 1 && rng.random::<f64>() < dropout {
            break;
        }
        // In f64 first: a near-zero rate gives gaps far beyond i64 microseconds.
        let next = t as f64 + gap.sample(&mut rng) * MICROS_PER_DAY as f64;
        if next >= end as f64 {
            break;
        }
        t = next as i64;
    }
    lines
}

/// Generates and writes the history.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary> {
    if options.months == 0 || options.customers == 0 {
        return Err(Error::Usage(
            "--customers and --months must be at least 1".into(),
        ));
    }
    let starts: Vec<i64> = (0..=options.months)
        .map(|m| {
            let date = options
                .start
                .checked_add_months(chrono::Months::new(m))
                .expect("date in range");
            date.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp_micros()
        })
        .collect();
    let weights: Vec<f64> = (0..options.months)
        .map(|m| month_weight(&options.truth, options.start, m))
        .collect();
    let mut lines: Vec<Line> = (0..options.customers)
        .into_par_iter()
        .flat_map_iter(|i| generate_customer(options, &starts, &weights, i))
        .collect();
    // Exports are in time order; ties broken by customer and order.
    lines.par_sort_unstable_by_key(|l| (l.ts_micros, l.customer, l.order_seq, l.refund));

    let width = options.customers.to_string().len().max(6);
    let is_parquet = options
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if let Some(parent) = options.out.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::output(parent, format!("cannot create directory: {e}")))?;
        }
    }
    if is_parquet {
        write_parquet(&options.out, &lines, width)?;
    } else {
        write_csv(&options.out, &lines, width)?;
    }
    let refunds = lines.iter().filter(|l| l.refund).count() as u64;
    let mut order_keys: Vec<(u64, u32)> = lines
        .iter()
        .filter(|l| !l.refund)
        .map(|l| (l.customer, l.order_seq))
        .collect();
    order_keys.par_sort_unstable();
    order_keys.dedup();
    let summary = GenerateSummary {
        path: options.out.display().to_string(),
        customers: options.customers,
        orders: order_keys.len() as u64,
        refunds,
        lines: lines.len() as u64,
        seed: options.seed,
        start: options.start.to_string(),
        end_exclusive: DateTime::from_timestamp_micros(*starts.last().expect("months > 0"))
            .expect("in range")
            .date_naive()
            .to_string(),
        time_unit: "days",
        truth: options.truth.clone(),
    };
    let truth_path = truth_path(&options.out);
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| Error::output(&truth_path, e.to_string()))?;
    std::fs::write(&truth_path, json)
        .map_err(|e| Error::output(&truth_path, format!("cannot write: {e}")))?;
    Ok(summary)
}

/// `orders.csv` → `orders.csv.truth.json`.
pub fn truth_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".truth.json");
    out.with_file_name(name)
}

fn order_id(line: &Line, width: usize) -> String {
    let kind = if line.refund { 'R' } else { 'O' };
    format!("{kind}{:0width$}-{:03}", line.customer + 1, line.order_seq)
}

fn customer_id(line: &Line, width: usize) -> String {
    format!("C{:0width$}", line.customer + 1)
}

fn write_csv(path: &Path, lines: &[Line], width: usize) -> Result<()> {
    let io = |e: std::io::Error| Error::output(path, format!("cannot write: {e}"));
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "order_id,customer_id,order_ts,amount").map_err(io)?;
    for line in lines {
        let ts = DateTime::from_timestamp_micros(line.ts_micros).expect("in range");
        let sign = if line.cents < 0 { "-" } else { "" };
        writeln!(
            out,
            "{},{},{},{sign}{}.{:02}",
            order_id(line, width),
            customer_id(line, width),
            ts.format("%Y-%m-%dT%H:%M:%SZ"),
            line.cents.abs() / 100,
            line.cents.abs() % 100
        )
        .map_err(io)?;
    }
    out.flush().map_err(io)
}

fn write_parquet(path: &Path, lines: &[Line], width: usize) -> Result<()> {
    use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "order_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Float64, false),
    ]));
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let fail = |e: &dyn std::fmt::Display| Error::output(path, format!("cannot write: {e}"));
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(|e| fail(&e))?;
    for chunk in lines.chunks(1 << 20) {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|l| order_id(l, width)),
            )),
            Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|l| customer_id(l, width)),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|l| l.ts_micros))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|l| l.cents as f64 / 100.0),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| fail(&e))?;
        writer.write(&batch).map_err(|e| fail(&e))?;
    }
    writer.close().map_err(|e| fail(&e))?;
    Ok(())
}
