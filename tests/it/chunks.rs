//! Parquet input is read and validated in chunks, and order-level rejects
//! get their raw records by reading the file again. Neither may change a
//! table: a messy history whose problem rows sit far apart (an order's bad
//! line at the end of the file, a duplicate line hundreds of rows after its
//! original) must give the same tables at every chunk size, and the same as
//! the CSV it came from.

use std::path::Path;

use polars::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, Computed, RunOptions};

use crate::support::{write_pipeline, Generate};

/// Appends problem rows to a generated CSV history and returns the rejects
/// they must produce, as (reason, order id) pairs.
fn make_messy_csv(dir: &Path) -> Vec<(&'static str, String)> {
    Generate::new(200, 11, 12)
        .start("2022-01-01")
        .write(dir, "clean.csv");
    let clean = std::fs::read_to_string(dir.join("clean.csv")).unwrap();
    // The four order columns (generated values hold no commas).
    let mut rows: Vec<String> = clean
        .lines()
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
        .collect();
    let header = rows.remove(0);
    assert_eq!(header, "order_id,customer_id,order_ts,amount");
    // An order whose first line is near the start and whose bad line is the
    // last row of the file.
    rows.insert(3, "SPLIT-1,C000001,2022-02-01T10:00:00Z,5.00".into());
    // Lines of one order naming two customers, far apart.
    rows.insert(10, "CONFLICT-1,C000002,2022-02-02T10:00:00Z,7.00".into());
    // An exact duplicate of an early line, much later.
    let duplicated = rows[5].clone();
    let middle = rows.len() / 2;
    rows.insert(middle, duplicated);
    rows.insert(
        middle + 1,
        "CONFLICT-1,C000003,2022-02-02T11:00:00Z,7.00".into(),
    );
    // A refund by a customer who never ordered.
    rows.push("REFUND-1,NOBODY,2022-03-01T10:00:00Z,-4.00".into());
    rows.push("SPLIT-1,C000001,2022-02-01T10:05:00Z,lots".into());
    let mut text = header;
    for row in rows {
        text.push('\n');
        text.push_str(&row);
    }
    text.push('\n');
    std::fs::write(dir.join("orders.csv"), text).unwrap();
    vec![
        ("order_has_bad_line", "SPLIT-1".into()),
        ("invalid_amount", "SPLIT-1".into()),
        ("conflicting_customer_id", "CONFLICT-1".into()),
        ("conflicting_customer_id", "CONFLICT-1".into()),
        ("refund_without_order", "REFUND-1".into()),
    ]
}

/// The same rows as Parquet, every column as text (values round-trip).
fn write_parquet_copy(dir: &Path) {
    let mut frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(dir.join("orders.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let file = std::fs::File::create(dir.join("orders.parquet")).unwrap();
    // Small row groups, so chunks cut across them.
    ParquetWriter::new(file)
        .with_row_group_size(Some(10))
        .finish(&mut frame)
        .unwrap();
}

fn run(pipeline: &Path, chunk_rows: Option<usize>) -> Computed {
    let pipeline = Pipeline::load(pipeline).unwrap();
    compute(
        &pipeline,
        &RunOptions {
            chunk_rows,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A table with the rejects' `source` column dropped (it names the file,
/// which differs between the CSV and the Parquet copy).
fn comparable(c: &Computed, table: &str) -> DataFrame {
    let frame = c.table(table).unwrap().clone();
    match table {
        "rejects" => frame.drop("source").unwrap(),
        _ => frame,
    }
}

#[test]
fn chunk_size_changes_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let expected_rejects = make_messy_csv(d);
    write_parquet_copy(d);
    let csv_pipeline = write_pipeline(d, "orders.csv", "");
    let csv = run(&csv_pipeline, None);
    std::fs::rename(&csv_pipeline, d.join("csv.toml")).unwrap();
    let parquet_pipeline = write_pipeline(d, "orders.parquet", "");

    // The problem rows are rejected with the right reasons, each with its
    // raw record (order-level ones included).
    let rejects = csv.table("rejects").unwrap();
    assert_eq!(rejects.height(), expected_rejects.len(), "{rejects}");
    let reasons = rejects.column("reason").unwrap().str().unwrap();
    let raw = rejects.column("raw_record").unwrap().str().unwrap();
    for (reason, order_id) in &expected_rejects {
        let found = (0..rejects.height()).any(|i| {
            reasons.get(i) == Some(*reason)
                && raw
                    .get(i)
                    .is_some_and(|r| r.contains(&format!("\"order_id\":\"{order_id}\"")))
        });
        assert!(found, "no {reason} reject of {order_id}: {rejects}");
    }
    assert_eq!(csv.counts.duplicates, 1);

    let parquet_whole = run(&parquet_pipeline, None);
    for chunk_rows in [1, 7, 64, 1000] {
        let chunked = run(&parquet_pipeline, Some(chunk_rows));
        for table in chunked.tables.iter().map(|t| t.name) {
            let (a, b) = (
                comparable(&parquet_whole, table),
                comparable(&chunked, table),
            );
            assert!(
                a.equals_missing(&b),
                "{table} differs with chunks of {chunk_rows} rows:\n{a}\n{b}"
            );
        }
        assert_eq!(chunked.counts, parquet_whole.counts);
    }
    for table in csv.tables.iter().map(|t| t.name) {
        let (a, b) = (comparable(&csv, table), comparable(&parquet_whole, table));
        assert!(
            a.equals_missing(&b),
            "{table}: CSV and Parquet differ:\n{a}\n{b}"
        );
    }
}

/// Key interning runs on every core (customer and order ids coded by hash
/// shards) while the next chunk is read: neither the thread count nor the
/// chunking may change a table. Each combination is run in a pool of its
/// own and compared with the whole file read on the default pool.
#[test]
fn thread_count_and_read_ahead_change_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_messy_csv(d);
    write_parquet_copy(d);
    let pipeline = write_pipeline(d, "orders.parquet", "");
    let whole = run(&pipeline, None);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for chunk_rows in [None, Some(7), Some(64)] {
            let other = pool.install(|| run(&pipeline, chunk_rows));
            for table in whole.tables.iter().map(|t| t.name) {
                let (a, b) = (comparable(&whole, table), comparable(&other, table));
                assert!(
                    a.equals_missing(&b),
                    "{table} differs on {threads} threads, chunks {chunk_rows:?}:\n{a}\n{b}"
                );
            }
            assert_eq!(other.counts, whole.counts);
        }
    }
}

/// The input is read on a thread of its own, a chunk ahead: an error the
/// reader meets in a later file (after earlier chunks were validated)
/// still ends the run with that file's error, and nothing hangs.
#[test]
fn a_reader_error_in_a_later_file_ends_the_run_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_messy_csv(d);
    std::fs::rename(d.join("orders.csv"), d.join("orders_1.csv")).unwrap();
    std::fs::remove_file(d.join("clean.csv")).unwrap();
    // The second file lacks the mapped `amount` column.
    std::fs::write(
        d.join("orders_2.csv"),
        "order_id,customer_id,order_ts\nX-1,C000001,2022-05-01T10:00:00Z\n",
    )
    .unwrap();
    let pipeline = write_pipeline(d, "orders_*.csv", "");
    let pipeline = Pipeline::load(&pipeline).unwrap();
    for chunk_rows in [None, Some(7)] {
        let options = RunOptions {
            chunk_rows,
            ..Default::default()
        };
        let error = compute(&pipeline, &options).err().expect("the run fails");
        let text = error.to_string();
        assert!(
            text.contains("orders_2.csv") && text.contains("`amount` not found"),
            "{text}"
        );
    }
}
