//! The partitioned plan: lines split by order id, orders by customer id,
//! each partition grouped on its own and spilled to disk when the memory
//! budget is passed. None of that may change a table: random messy
//! histories (dimensions, tiers, surveys, refunds, exact duplicates, bad
//! lines, orders whose lines name two customers, missing ids), split over
//! two files and read in small chunks, must give the same tables for 1, 2,
//! 7 and 64 partitions, on 1 and 2 threads, spilled or not.

use std::path::Path;

use proptest::prelude::*;
use retention::config::{Pipeline, SpillCompression};
use retention::run::{compute, Computed, Engine, RunOptions};

use crate::support::PipelineFile;

/// One generated order line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    order: String,
    customer: String,
    day: u32,
    minute: u32,
    amount: String,
    channel: &'static str,
}

impl Line {
    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.order,
            self.customer,
            timestamp(self.day, self.minute),
            self.amount,
            self.channel
        )
    }
}

fn timestamp(day: u32, minute: u32) -> String {
    let at = chrono::NaiveDate::from_ymd_opt(2023, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        + chrono::Duration::days(day as i64)
        + chrono::Duration::minutes(minute as i64);
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What can happen to an order's lines besides being plain.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Twist {
    Plain,
    Refund,
    Duplicate,
    BadLine,
    SecondCustomer,
    NoOrderId,
    BlankCustomer,
}

fn twist() -> impl Strategy<Value = Twist> {
    prop_oneof![
        12 => Just(Twist::Plain),
        2 => Just(Twist::Refund),
        2 => Just(Twist::Duplicate),
        1 => Just(Twist::BadLine),
        1 => Just(Twist::SecondCustomer),
        1 => Just(Twist::NoOrderId),
        1 => Just(Twist::BlankCustomer),
    ]
}

/// One order: (customer, day, minute, line amounts in cents, twist,
/// channel).
pub(crate) type GenOrder = (u32, u32, u32, Vec<u32>, Twist, usize);

pub(crate) fn order() -> impl Strategy<Value = GenOrder> {
    (
        0..25u32,
        0..540u32,
        0..1440u32,
        prop::collection::vec(1..20_000u32, 1..4),
        twist(),
        0..3usize,
    )
}

const CHANNELS: [&str; 3] = ["email", "paid", ""];

/// The lines of the generated orders, in a shuffled order.
pub(crate) fn lines(orders: &[GenOrder], shuffle: &[usize]) -> Vec<Line> {
    let mut lines = Vec::new();
    for (o, (customer, day, minute, amounts, twist, channel)) in orders.iter().enumerate() {
        let mut order_lines: Vec<Line> = amounts
            .iter()
            .enumerate()
            .map(|(k, cents)| Line {
                order: format!("O{o}"),
                customer: format!("C{customer}"),
                day: *day,
                minute: minute + k as u32,
                amount: format!("{}.{:02}", cents / 100, cents % 100),
                channel: CHANNELS[(channel + k) % 3],
            })
            .collect();
        let first = order_lines[0].clone();
        match twist {
            Twist::Plain => {}
            Twist::Refund => order_lines
                .iter_mut()
                .for_each(|l| l.amount = format!("-{}", l.amount)),
            Twist::Duplicate => order_lines.push(first),
            Twist::BadLine => order_lines.push(Line {
                amount: "lots".into(),
                ..first
            }),
            Twist::SecondCustomer => order_lines.push(Line {
                customer: format!("C{}", customer + 1),
                ..first
            }),
            Twist::NoOrderId => order_lines[0].order = String::new(),
            Twist::BlankCustomer => order_lines[0].customer = " ".into(),
        }
        lines.extend(order_lines);
    }
    let n = lines.len();
    let mut shuffled: Vec<(usize, Line)> = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| (shuffle[i % shuffle.len()].wrapping_mul(i + 1) % (n + 7), l))
        .collect();
    shuffled.sort_by_key(|(k, _)| *k);
    shuffled.into_iter().map(|(_, l)| l).collect()
}

/// Writes the lines as two CSV files (split at `split`), survey
/// responses, and a pipeline over both files with a dimension, tiers and
/// surveys.
pub(crate) fn write_history(dir: &Path, lines: &[Line], split: usize) {
    let split = split.min(lines.len());
    let header = "order_id,customer_id,order_ts,amount,channel\n";
    for (name, part) in [
        ("orders-1.csv", &lines[..split]),
        ("orders-2.csv", &lines[split..]),
    ] {
        let mut text = String::from(header);
        for line in part {
            text.push_str(&line.csv());
            text.push('\n');
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut surveys = String::from("customer_id,response_ts,score\n");
    for c in 0..25 {
        surveys.push_str(&format!("C{c},{},{}\n", timestamp(c * 20, 0), c % 11));
    }
    // Duplicates of rows read chunks before them, an id no customer has
    // (twice), a bad score.
    for c in 0..5 {
        surveys.push_str(&format!("C{c},{},{}\n", timestamp(c * 20, 0), c % 11));
    }
    surveys.push_str(&format!(
        "X1,{},9\nX1,{},9\n",
        timestamp(3, 0),
        timestamp(3, 0)
    ));
    surveys.push_str(&format!("C3,{},11\n", timestamp(90, 0)));
    std::fs::write(dir.join("surveys.csv"), surveys).unwrap();
    PipelineFile::over("orders-*.csv")
        .columns("dimensions = [\"channel\"]\n")
        .business("time_zone = \"Europe/Berlin\"\nactivity_window_days = 90")
        .rest(
            "[rejects]\nmax_reject_ratio = 1.0\n[loyalty]\ntiers = [{ name = \"Bronze\", min_spend = 0 }, { name = \"Silver\", min_spend = 200 }]\n[surveys]\npath = \"surveys.csv\"",
        )
        .write(dir);
}

fn run(dir: &Path, partitions: usize, memory_limit: Option<u64>) -> Computed {
    run_with(dir, partitions, memory_limit, Engine::Embedded)
}

/// `dir`'s pipeline in 7-row chunks on `partitions` partitions, spilling
/// into `dir`, on `engine`.
pub(crate) fn run_with(
    dir: &Path,
    partitions: usize,
    memory_limit: Option<u64>,
    engine: Engine,
) -> Computed {
    let pipeline = Pipeline::load(&dir.join("pipeline.toml")).unwrap();
    compute_with(dir, &pipeline, partitions, memory_limit, engine)
}

/// [`run_with`] under the budget `limit`, with `[resources]
/// spill_compression` set to `compression`.
pub(crate) fn run_spilling(
    dir: &Path,
    partitions: usize,
    (limit, compression): (u64, SpillCompression),
    engine: Engine,
) -> Computed {
    let mut pipeline = Pipeline::load(&dir.join("pipeline.toml")).unwrap();
    pipeline.config.resources.spill_compression = compression;
    compute_with(dir, &pipeline, partitions, Some(limit), engine)
}

fn compute_with(
    dir: &Path,
    pipeline: &Pipeline,
    partitions: usize,
    memory_limit: Option<u64>,
    engine: Engine,
) -> Computed {
    compute(
        pipeline,
        &RunOptions {
            chunk_rows: Some(7),
            partitions: Some(partitions),
            memory_limit,
            spill_parent: Some(dir.to_path_buf()),
            engine,
            ..Default::default()
        },
    )
    .unwrap()
}

pub(crate) fn assert_same_tables(expected: &Computed, other: &Computed, what: &str) {
    assert_eq!(
        expected.tables.iter().map(|t| t.name).collect::<Vec<_>>(),
        other.tables.iter().map(|t| t.name).collect::<Vec<_>>(),
        "{what}"
    );
    for (a, b) in expected.tables.iter().zip(&other.tables) {
        assert!(
            a.frame().equals_missing(b.frame()),
            "{} differs with {what}:\n{}\n{}",
            a.name,
            a.frame(),
            b.frame()
        );
    }
    assert_eq!(expected.counts, other.counts, "{what}");
    assert_eq!(
        expected.rejects_by_reason, other.rejects_by_reason,
        "{what}"
    );
}

/// A budget so small that every piece of every partition is spilled.
pub(crate) const SPILL_EVERYTHING: u64 = 1;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn partitions_threads_and_spilling_change_no_table(
        orders in prop::collection::vec(order(), 30..90),
        shuffle in prop::collection::vec(0..1000usize, 1..20),
        split in 0..200usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_history(d, &lines(&orders, &shuffle), split);
        let expected = run(d, 1, None);
        // The twists happened: each leaves its mark.
        let twisted = |t: fn(&Twist) -> bool| orders.iter().any(|o| t(&o.4));
        let reasons: Vec<&str> = expected.rejects_by_reason.iter().map(|(r, _)| *r).collect();
        if twisted(|t| matches!(t, Twist::Duplicate)) {
            prop_assert!(expected.counts.duplicates > 0);
        }
        if twisted(|t| matches!(t, Twist::SecondCustomer)) {
            prop_assert!(reasons.contains(&"conflicting_customer_id"), "{reasons:?}");
        }
        if twisted(|t| matches!(t, Twist::BadLine)) {
            prop_assert!(reasons.contains(&"order_has_bad_line"), "{reasons:?}");
        }
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for partitions in [1, 2, 7, 64] {
                let other = pool.install(|| run(d, partitions, None));
                let what = format!("{partitions} partitions, {threads} threads, no spill");
                assert_same_tables(&expected, &other, &what);
                prop_assert!(!other.resources.history_spilled, "{what}");
                prop_assert!(!other.resources.results_spilled, "{what}");
                // Compressed spills on the larger counts only: the codec
                // is per vector, whatever the partition count.
                let compression = match partitions {
                    1 | 2 => SpillCompression::None,
                    _ => SpillCompression::Zstd,
                };
                let spill = (SPILL_EVERYTHING, compression);
                let other = pool.install(|| run_spilling(d, partitions, spill, Engine::Embedded));
                let what = format!("{partitions} partitions, {threads} threads, {compression:?} spill");
                assert_same_tables(&expected, &other, &what);
                prop_assert!(other.resources.spilled_bytes > 0, "{what}: nothing spilled");
                prop_assert!(other.resources.history_spilled, "{what}: the history was held");
                prop_assert!(other.resources.results_spilled, "{what}: the results were held");
                prop_assert_eq!(other.resources.spill_compressed, compression == SpillCompression::Zstd);
            }
        }
        // Spill directories are removed when the run ends.
        assert_no_spill_dirs(d);
    }
}

/// No spill directory is left in `dir`.
pub(crate) fn assert_no_spill_dirs(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".spill-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
