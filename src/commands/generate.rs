//! `retention generate`: write a synthetic order history.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::error::Result;
use crate::generate::{generate, truth_path, GenerateOptions, GroundTruth};

pub fn run(
    customers: u64,
    seed: u64,
    start: NaiveDate,
    months: u32,
    out: PathBuf,
    surveys: Option<PathBuf>,
    threads: Option<usize>,
) -> Result<()> {
    super::set_threads(threads);
    let summary = generate(&GenerateOptions {
        customers,
        seed,
        start,
        months,
        out: out.clone(),
        surveys,
        truth: GroundTruth::default(),
    })?;
    println!(
        "wrote {}: {} customers, {} orders, {} refunds, {} lines ({} to {})",
        summary.path,
        summary.customers,
        summary.orders,
        summary.refunds,
        summary.lines,
        summary.start,
        summary.end_exclusive
    );
    if let Some(s) = &summary.surveys {
        println!(
            "wrote {}: {} survey responses from {} customers",
            s.path, s.responses, s.respondents
        );
    }
    println!("ground truth: {}", truth_path(&out).display());
    Ok(())
}
