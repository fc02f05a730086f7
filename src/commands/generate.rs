//! `retention generate`: write a synthetic order history.

use crate::cli::GenerateArgs;
use crate::error::{shown_path, Error, Result};
use crate::generate::{generate, truth_path, GenerateOptions, GroundTruth};
use crate::manifest::default_memory_limit;

pub fn run(request: GenerateArgs) -> Result<()> {
    let GenerateArgs {
        customers,
        seed,
        start,
        months,
        out,
        surveys,
        threads,
        memory_limit,
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
        memory_limit: memory_limit.unwrap_or_else(default_memory_limit),
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
