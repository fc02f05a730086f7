//! `retention generate`: write a synthetic order history.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::clv::PurchaseModelKind;
use crate::error::{shown_path, Error, Result};
use crate::generate::{generate, truth_path, GenerateOptions, GroundTruth};

/// What `generate` was asked for.
pub struct Request {
    pub customers: u64,
    pub seed: u64,
    pub start: NaiveDate,
    pub months: u32,
    pub out: PathBuf,
    pub surveys: Option<PathBuf>,
    pub model: PurchaseModelKind,
}

pub fn run(request: Request, threads: Option<usize>) -> Result<()> {
    let Request {
        customers,
        seed,
        start,
        months,
        out,
        surveys,
        model,
    } = request;
    // The history must stay within the accepted order dates, or a run on
    // it would reject every late row.
    let last_day = start
        .checked_add_months(chrono::Months::new(months))
        .and_then(|end| end.pred_opt());
    if last_day.is_none_or(|day| !crate::config::as_of_range().contains(&day)) {
        return Err(Error::Usage(format!(
            "--start {start} with --months {months} ends after {}: expected a history within the accepted order dates",
            crate::config::as_of_range().end()
        )));
    }
    super::set_threads(threads);
    let summary = generate(&GenerateOptions {
        customers,
        seed,
        start,
        months,
        out: out.clone(),
        surveys,
        truth: GroundTruth {
            purchase_model: model,
            ..GroundTruth::default()
        },
    })?;
    println!(
        "wrote {}: {} customers, {} orders, {} refunds, {} lines ({} to {})",
        shown_path(std::path::Path::new(&summary.path)),
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
            shown_path(std::path::Path::new(&s.path)),
            s.responses,
            s.respondents
        );
    }
    println!("ground truth: {}", shown_path(&truth_path(&out)));
    Ok(())
}
