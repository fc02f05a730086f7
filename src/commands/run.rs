//! `retention run`: run a pipeline and publish its tables.

use crate::cli::{EngineName, RunArgs};

use crate::config::Pipeline;
use crate::error::{shown_path, terminal_text, Result};
use crate::location::StoreUrl;
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::run::{run as run_pipeline, Engine, RunOptions, RunOutcome, RunResult};
use crate::stages::compare::gates::Outcome;

pub fn run(request: RunArgs, progress: Progress) -> Result<()> {
    let engine = engine(request.engine, request.scheduler.clone())?;
    super::set_threads(request.threads);
    let pipeline = Pipeline::load_with(&request.pipeline, &request.set)?;
    let options = RunOptions {
        as_of: request.as_of,
        out_dir: request.out,
        force: request.force,
        accept_changes: request.accept_changes,
        progress,
        memory_limit: request.memory_limit,
        partitions: request.partitions.map(|n| n as usize),
        engine,
        ..Default::default()
    };
    let timings = request.timings;
    let outcome = match run_pipeline(&pipeline, &options)? {
        RunResult::Published(outcome) => outcome,
        RunResult::AlreadyPublished { run_id, .. } => {
            println!(
                "already published as {run_id}: same pipeline, inputs and as_of (use --force to run again)"
            );
            return Ok(());
        }
    };
    print_published(&outcome);
    print_gates(&outcome.manifest);
    if timings {
        print_timings(&outcome.manifest);
    }
    print_totals(&outcome.manifest);
    // Published all the same (exit 0); the log above has each problem.
    if !outcome.warnings.is_empty() {
        eprintln!(
            "warning: run {} is published, but {} cleanup step(s) after publishing failed: {}",
            outcome.manifest.run_id,
            outcome.warnings.len(),
            terminal_text(&outcome.warnings.join("; "))
        );
    }
    Ok(())
}

/// The engine of `--engine` and `--scheduler`, checked before any input is
/// read.
fn engine(name: EngineName, scheduler: Option<String>) -> Result<Engine> {
    match name {
        EngineName::Embedded if scheduler.is_some() => Err(crate::error::Error::Usage(
            "--scheduler needs --engine ballista".into(),
        )),
        EngineName::Embedded => Ok(Engine::Embedded),
        EngineName::Ballista if !cfg!(feature = "distributed") => Err(super::cluster::not_built()),
        EngineName::Ballista => {
            if let Some(address) = &scheduler {
                super::cluster::address(address, "--scheduler")?;
            }
            Ok(Engine::Ballista { scheduler })
        }
    }
}

/// Where the run went and what it holds.
fn print_published(outcome: &RunOutcome) {
    let m = &outcome.manifest;
    // OUT/runs/RUN_ID → OUT/current, shown without `..` detours.
    let out_root = outcome
        .run_dir
        .parent()
        .and_then(|p| p.parent())
        .map(|p| {
            p.canonicalize()
                .unwrap_or_else(|_| p.to_path_buf())
                .join("current")
        })
        .unwrap_or_default();
    // In object storage there is no `current` link: the run's own URL,
    // which OUT/current.json names.
    let tables = match StoreUrl::of_path(&outcome.run_dir) {
        Some(url) => url.to_string(),
        None => shown_path(&out_root),
    };
    println!("published run {} (as_of {})", m.run_id, m.as_of);
    println!("  tables:   {tables}");
    if let Some(report) = &m.report {
        println!("  report:   {tables}/{}", terminal_text(report));
    }
    println!(
        "  rows:     {} read, {} accepted, {} rejected, {} excluded, {} duplicates",
        m.rows.read, m.rows.accepted, m.rows.rejected, m.rows.excluded, m.rows.duplicates
    );
    println!("  customers: {}", m.customers);
    // A large table is several part files: one line per table.
    let mut tables: Vec<(&str, u64)> = Vec::new();
    for output in &m.outputs {
        match tables.last_mut() {
            Some((table, rows)) if *table == output.table => *rows += output.rows,
            _ => tables.push((&output.table, output.rows)),
        }
    }
    for (table, rows) in tables {
        println!("  {table:<18} {rows:>10} rows");
    }
}

/// The previous run it was compared with, and every gate that warned or
/// was accepted (on stderr, like other warnings).
fn print_gates(m: &Manifest) {
    match &m.compared_with {
        Some(previous) => println!("  compared with run {previous}"),
        None => println!("  compared with: no previous run"),
    }
    for gate in &m.gates {
        if matches!(gate.outcome, Outcome::Warned | Outcome::Accepted) {
            eprintln!("warning: {}", terminal_text(&gate.describe()));
        }
    }
}

/// `--timings`: each stage's time, its share of the run's wall time and
/// the peak memory after it, then the whole run; on stderr so stdout stays
/// the run's result. Stages that run side by side (CLV and NPS beside the
/// descriptive ones) make the shares add up to more than 100 %.
fn print_timings(m: &Manifest) {
    let wall = run_seconds(m);
    eprintln!(
        "{:<10} {:>9} {:>6} {:>13}",
        "stage", "seconds", "share", "peak RSS MiB"
    );
    for s in &m.stages {
        eprintln!(
            "{:<10} {:>9.3} {:>5.1}% {:>13.1}",
            s.stage,
            s.seconds,
            100.0 * s.seconds / wall.max(f64::MIN_POSITIVE),
            mib(s.peak_rss_bytes)
        );
    }
    eprintln!(
        "{:<10} {:>9.3} {:>6} {:>13.1}",
        "whole run",
        wall,
        "",
        mib(m.peak_rss_bytes())
    );
}

/// The run's time and peak memory.
fn print_totals(m: &Manifest) {
    println!(
        "  took {:.2} s, peak memory {:.1} MiB",
        run_seconds(m),
        mib(m.peak_rss_bytes())
    );
}

/// The run's wall time; for a run written before it was recorded, the
/// stages' sum (more than the wall time where stages overlapped).
fn run_seconds(m: &Manifest) -> f64 {
    m.wall_seconds
        .unwrap_or_else(|| m.stages.iter().map(|s| s.seconds).sum())
}

/// `bytes` in mebibytes.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
