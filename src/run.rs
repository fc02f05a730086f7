//! One run of a pipeline, stage by stage:
//! load → validate → orders → customers → cohorts → kpis → (dimensions) →
//! (clv) → tiers → (nps, with a survey input) → segments → targets →
//! checks → compare (with the previous run: restatements, gates) →
//! publish. The order history is dropped after nps: the stages after it
//! read only its results. A `fail` gate stops the run before publishing.
//! [`compute`] does everything but the publishing, so tests can look at
//! the tables without touching the file system; [`run`] then publishes
//! them (io::publish: stage, write the tables, write the report, seal with
//! the manifest, commit).
//!
//! Each stage is one call under `StageClock::time`, which records its
//! time and peak memory for the manifest and is the crash point
//! `stage::<name>` of the chaos tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use polars::prelude::DataFrame;
use rayon::prelude::*;

use crate::config::{Pipeline, SpillCompression, SurveysConfig};
use crate::error::{Error, Result};
use crate::io::history::{append_snapshots, HistoryPlan};
use crate::io::input::{
    parquet_rows, raw_records, read_files, resolve_inputs, FileFormat, InputFile, InputSpec,
    CHUNK_ROWS,
};
use crate::io::list_files::ListRuns;
use crate::io::publish::{
    check_output_layout, lock_output, new_run_id, sweep_temporaries, PublishedRun, StagedRun, Table,
};
use crate::io::read_ahead::read_ahead;
use crate::io::remote::output::RemoteOutput;
use crate::io::remote::{sweep_work_dirs, WorkDir};
use crate::io::runs::{current_manifest, PublishedRunDir};
use crate::io::sorted_clvs::ClvRunFiles;
use crate::io::spill::{sweep_spill_dirs, SpillDir, WholeFiles};
use crate::io::surveys::{read_survey_chunks, resolve_survey_inputs, survey_input};
use crate::location::StoreUrl;
use crate::manifest::{
    default_memory_limit, figures_of_run, InputAccount, Manifest, Resources, RunFacts, RunIdentity,
    StageRecord, TableMetadata, WrittenFile, REPORT_FILE, REPORT_STEP,
};
use crate::progress::Progress;
use crate::report::load::ReportTables;
use crate::stages::calendar::Calendar;
use crate::stages::checks::{check, reconcile, require_all_passed, Check, CustomerTotals};
use crate::stages::clv::{clv_stage, simple_clv, ClvElsewhere, ClvOutput};
use crate::stages::clv_scores::{ClvScores, ClvStores};
use crate::stages::cohorts::{cohort_grid, CohortGrid};
use crate::stages::compare::gates::{
    evaluate as evaluate_gates, failed_gates, Freshness, GateResult,
};
use crate::stages::compare::{compare, RunTables};
use crate::stages::customer_ranges::{self, CustomerRanges};
use crate::stages::customers::ScoreStores;
use crate::stages::dimensions::slices;
use crate::stages::finish::{finish_scored, FinishElsewhere, FinishSettings, FinishedPart};
use crate::stages::kpis::{monthly_counts, MonthlyCounts};
use crate::stages::nps::checked::CheckedRows;
use crate::stages::nps::{
    nps_stage, CountedPart, NpsCounter, NpsElsewhere, NpsOutput, NpsPartial, SurveyCheck,
    SurveyMemory, SurveyPartitions, SurveyRules, SurveyValidation,
};
use crate::stages::orders::{
    build_orders, CustomerIds, HistoryStores, OrderHistory, OrderPlan, OrdersOutput, PartEntries,
    PartIds, RowCounts,
};
use crate::stages::part_counts::{self, Counting, StoredCounts};
use crate::stages::partition::{Buffered, LinePart, OrderPart, SpillStore, Stored};
use crate::stages::per_customer::{
    customer_parts, stored_customer_parts, CustomerPart, CustomerParts, PerCustomer, ResultStores,
    StoredResults,
};
use crate::stages::raw::RawBatch;
use crate::stages::rejects::{
    check_reject_share, counts_by_reason, fill_raw, no_orders_error, rows_missing_raw, Reject,
};
use crate::stages::segments::{part_totals, SegmentTotals};
use crate::stages::targets::{joined_lists, part_rows, published_lists, TargetList, Targets};
use crate::stages::tiers::{migration_counts, MigrationCounts, Tiers};
use crate::stages::validate::{LineKeys, LineScatter};
use crate::tables::checks::checks_table;
use crate::tables::clv::clv_tables;
use crate::tables::cohorts::{cohort_retention_table, retention_curve_table};
use crate::tables::compare::{gates_table, restatements_table, run_comparison_table};
use crate::tables::customers::{segments_table, CustomerRows};
use crate::tables::dimensions::sliced_tables;
use crate::tables::kpis::kpis_monthly_table;
use crate::tables::nps::nps_tables;
use crate::tables::rejects::rejects_table;
use crate::tables::schema::{self, TableSchema};
use crate::tables::targets::{ListSource, ListTableRows};
use crate::tables::tiers::tier_migration_table;
use crate::tables::NamedFrames;
use crate::time::{date_of, day_number};

/// How to run (from the command line, not the pipeline file).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub as_of: Option<NaiveDate>,
    pub out_dir: Option<PathBuf>,
    /// Publish even when the current run has the same run key.
    pub force: bool,
    /// Progress bars (drawn only on a terminal).
    pub progress: Progress,
    /// Rows per chunk of input (default [`CHUNK_ROWS`], fewer under a
    /// small memory budget); tests set it small to prove that chunking
    /// changes nothing.
    pub chunk_rows: Option<usize>,
    /// Partitions of the partitioned plan (default from the input's size
    /// and the budget); the tables are the same for any count.
    pub partitions: Option<usize>,
    /// The memory budget in bytes (`--memory-limit`); see [`memory_limit`].
    pub memory_limit: Option<u64>,
    /// Where the spill directory goes (`run` puts it in the output
    /// directory); default the system's temporary directory.
    pub spill_parent: Option<PathBuf>,
    /// The published run to compare with (`run` gives the current one).
    pub compare_with: Option<PathBuf>,
    /// This run's id, as the comparison names it (`run` gives it).
    pub run_id: Option<String>,
    /// Publish although a `fail` gate fired (`--accept-changes`).
    pub accept_changes: bool,
    /// Where the partitioned work runs.
    pub engine: Engine,
}

/// Where the partitioned work runs (`--engine`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// On this process's threads.
    #[default]
    Embedded,
    /// The orders stage on a Ballista cluster (`crate::distributed`,
    /// feature `distributed`): the scheduler at `HOST:PORT`, or one
    /// started in this process with one executor.
    Ballista { scheduler: Option<String> },
}

/// Everything a run computed, before publishing.
pub struct Computed {
    pub files: Vec<InputFile>,
    pub as_of: NaiveDate,
    pub counts: RowCounts,
    pub rejects_by_reason: Vec<(&'static str, u64)>,
    pub customers: u64,
    pub checks: Vec<Check>,
    /// Tables in publishing order.
    pub tables: Vec<Table>,
    pub stages: Vec<StageRecord>,
    /// What the survey input gave, when `[surveys]` is configured.
    pub surveys: Option<SurveyRun>,
    pub resources: Resources,
    /// The latest order date in the input (after as_of too).
    pub latest_order: NaiveDate,
    /// The run it was compared with, and every gate's evaluation.
    pub compared_with: Option<String>,
    pub gates: Vec<GateResult>,
}

/// The survey input's files and row accounting.
pub struct SurveyRun {
    pub files: Vec<InputFile>,
    pub counts: RowCounts,
    pub rejects_by_reason: Vec<(&'static str, u64)>,
}

impl Computed {
    pub fn table(&self, name: &str) -> Option<&DataFrame> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.frame())
    }

    /// The produced table `name`, if the run has it.
    fn table_named(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// A table, or only the named columns of it (a produced table is then
    /// built a piece at a time, never whole).
    pub fn select(&self, name: &str, columns: Option<&[&str]>) -> Result<Option<DataFrame>> {
        let Some(table) = self.table_named(name) else {
            return Ok(None);
        };
        Ok(Some(match columns {
            None => table.frame().clone(),
            Some(names) => table.select(names)?,
        }))
    }

    /// What the manifest records of this run, given every stage's record
    /// (publishing included) and the files written.
    fn facts(&self, stages: Vec<StageRecord>, outputs: Vec<WrittenFile>) -> RunFacts<'_> {
        RunFacts {
            as_of: self.as_of,
            orders: self.orders_account(),
            surveys: self.surveys_account(),
            customers: self.customers,
            checks: &self.checks,
            stages,
            resources: self.resources,
            outputs,
            latest_order: self.latest_order,
            compared_with: self.compared_with.clone(),
            gates: &self.gates,
        }
    }

    /// The survey input's account, when the pipeline has one.
    fn surveys_account(&self) -> Option<InputAccount<'_>> {
        self.surveys.as_ref().map(|s| InputAccount {
            files: &s.files,
            counts: &s.counts,
            rejects_by_reason: &s.rejects_by_reason,
        })
    }

    /// The order input's account, as the manifest records it.
    fn orders_account(&self) -> InputAccount<'_> {
        InputAccount {
            files: &self.files,
            counts: &self.counts,
            rejects_by_reason: &self.rejects_by_reason,
        }
    }
}

impl RunTables for Computed {
    fn table(&self, name: &str, columns: &[&str]) -> Result<Option<DataFrame>> {
        self.select(name, Some(columns))
    }
}

/// A run's tables as its report reads them while it is published: the
/// small ones from memory, those with a row per customer (`each_chunk`)
/// from the files just written and verified in the run's directory,
/// whose columns are read alone. Built again from the stages' results, a
/// piece of `customers` takes every one of its columns, for each of the
/// report's two reads of it (the tiers, the CLV): at 100 M orders the
/// report took 10.3 s that way, 5.7 s from the files.
struct ReportSource<'a> {
    computed: &'a Computed,
    run_dir: &'a Path,
}

impl ReportTables for ReportSource<'_> {
    fn whole(&self, name: &str, columns: Option<&[&str]>) -> Result<Option<DataFrame>> {
        self.computed.select(name, columns)
    }

    fn each_chunk(
        &self,
        name: &str,
        columns: &[&str],
        each: &mut dyn FnMut(&DataFrame) -> Result<()>,
    ) -> Result<bool> {
        if self.computed.table_named(name).is_none() {
            return Ok(false);
        }
        crate::io::runs::each_chunk_of_table(self.run_dir, name, columns, each)
    }
}

/// Times stages and records peak memory after each.
struct StageClock {
    records: Vec<StageRecord>,
    /// When the previous stage ended.
    started: Instant,
}

impl StageClock {
    fn new() -> StageClock {
        StageClock {
            records: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Runs one stage and records it as `stage`. Its time counts from the
    /// end of the previous stage, so the glue between two stages is timed
    /// with the second. A failed stage is not recorded: the run stops.
    fn time<T>(&mut self, stage: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let value = run()?;
        self.record(stage, self.started.elapsed().as_secs_f64());
        Ok(value)
    }

    /// Runs `main` on this clock and `side` on a clock of its own, side by
    /// side on the thread pool; the side's records follow the main's. Both
    /// run to their end even when one fails (the first error is returned),
    /// and the next stage's time counts from when both have ended: the
    /// recorded times of the two sides overlap.
    fn beside<A: Send, B: Send>(
        &mut self,
        main: impl FnOnce(&mut StageClock) -> Result<A> + Send,
        side: impl FnOnce(&mut StageClock) -> Result<B> + Send,
    ) -> Result<(A, B)> {
        let mut side_clock = StageClock::new();
        let (a, b) = rayon::join(|| main(self), || side(&mut side_clock));
        self.records.append(&mut side_clock.records);
        self.started = Instant::now();
        Ok((a?, b?))
    }

    /// Records a stage: directly for one whose time was summed over
    /// interleaved pieces (load and validate alternate chunk by chunk).
    /// The chaos tests kill a run here, at `stage::<name>`.
    fn record(&mut self, stage: &str, seconds: f64) {
        crate::faults::crash_point(&format!("stage::{stage}"));
        tracing::info!(stage, seconds = format!("{seconds:.3}"), "stage done");
        self.records.push(StageRecord::ended(stage, seconds));
        self.started = Instant::now();
    }
}

/// Runs every stage up to (not including) publishing.
pub fn compute(pipeline: &Pipeline, options: &RunOptions) -> Result<Computed> {
    let files = resolve_inputs(&InputSpec::orders(pipeline))?;
    compute_files(pipeline, files, options)
}

/// [`compute`] over an already resolved list of input files: the stages in
/// order, then the tables in publishing order, the comparison with the
/// previous run last, checked against their declarations.
pub fn compute_files(
    pipeline: &Pipeline,
    files: Vec<InputFile>,
    options: &RunOptions,
) -> Result<Computed> {
    check_engine(&options.engine)?;
    let mut clock = StageClock::new();
    let mut computed = stages_to_checks(pipeline, files, options, &mut clock)?;
    clock.time("compare", || {
        compare_stage(pipeline, options, &mut computed)
    })?;
    computed.stages = clock.records;
    check_declared(pipeline, &computed)?;
    Ok(computed)
}

/// Fails before the input is read when the run's engine cannot run it:
/// a cluster whose scheduler does not answer, or `--engine ballista` in
/// a build without the cluster engine.
fn check_engine(engine: &Engine) -> Result<()> {
    match engine {
        Engine::Embedded => Ok(()),
        #[cfg(feature = "distributed")]
        Engine::Ballista { scheduler } => match scheduler {
            Some(address) => crate::distributed::check_scheduler(address),
            None => Ok(()), // started by the run itself
        },
        #[cfg(not(feature = "distributed"))]
        Engine::Ballista { .. } => Err(crate::commands::cluster::not_built()),
    }
}

/// The stages from reading the input to the checks, and their tables;
/// not yet compared with the previous run (its stage records are in
/// `clock`).
fn stages_to_checks(
    pipeline: &Pipeline,
    files: Vec<InputFile>,
    options: &RunOptions,
    clock: &mut StageClock,
) -> Result<Computed> {
    let (orders, mut resources, spill) = partitioned_orders(pipeline, &files, options, clock)?;
    let OrdersStage {
        history,
        customer_ranges,
        on_executors,
        counts,
        accepted_cents,
        latest_order_day,
        rejects_by_reason,
        rejects,
    } = orders;
    let there = parts_elsewhere(&options.engine, &spill, on_executors.is_some());
    let history = (history, on_executors, there.as_ref().map(|t| &*t.clv));
    let counted_there = there.as_ref().map(|t| Arc::clone(&t.nps));
    let budget = (resources.memory_limit_bytes, &spill);
    let surveys_read = SurveyReads::within(options, budget, (customer_ranges, counted_there));
    let o = stages_over_history(
        (pipeline, surveys_read),
        history,
        (&spill, &mut resources),
        clock,
    )?;
    let results = Arc::new(o.per_customer);
    let finish_there = there.as_ref().map(|t| &*t.finish);
    let finished = segments_and_targets((&results, finish_there), (&spill, &mut resources), clock)?;
    let rejects = match &o.nps {
        // Survey rejects after the order rejects; `source` tells them apart.
        Some(n) => stack_rejects(rejects, &n.rejects)?,
        None => rejects,
    };
    let (checks, checks_frame) = clock.time("checks", || {
        checks_stage(
            (&counts, accepted_cents),
            match finished.customer_totals {
                Some(totals) => totals,
                None => customer_totals(&results.parts)?,
            },
            &o.described,
            o.tier_check.clone(),
            o.nps.as_ref(),
        )
    })?;
    let (as_of, customer_count) = (results.as_of, results.parts.customers());
    let frames = StageFrames {
        described: o.described,
        segments: finished.segments,
        tier_migration: o.tier_migration,
        clv: o.clv_frames,
        rejects,
        checks: checks_frame,
    };
    let (published, surveys) = published_tables(results, finished.lists, frames, o.nps)?;
    Ok(Computed {
        files,
        as_of: date_of(as_of),
        counts,
        rejects_by_reason,
        customers: customer_count as u64,
        checks,
        tables: published,
        stages: Vec::new(),
        surveys,
        resources,
        latest_order: date_of(latest_order_day),
        compared_with: None,
        gates: Vec::new(),
    })
}

/// The spill files a spilled history's entries and ids go to.
fn history_stores(spill: &Arc<SpillDir>) -> HistoryStores {
    use crate::io::spill::{HISTORY, IDS};
    HistoryStores {
        entries: Arc::new(WholeFiles::<PartEntries>::new(Arc::clone(spill), HISTORY)),
        ids: Some(Arc::new(WholeFiles::<CustomerIds>::new(
            Arc::clone(spill),
            IDS,
        ))),
    }
}

/// The spill files the per-customer results go to: each partition's
/// results, and each of its score columns apart.
fn result_stores(spill: &Arc<SpillDir>) -> ResultStores {
    use crate::io::spill::{
        CLV_SCORES, CUSTOMERS, SCORE_GAPS, SCORE_LAST_ORDER, SCORE_ORDERS, SCORE_REVENUE,
    };
    let column = |kind| Arc::new(WholeFiles::<Vec<i64>>::new(Arc::clone(spill), kind));
    ResultStores {
        parts: Arc::new(WholeFiles::<CustomerPart>::new(
            Arc::clone(spill),
            CUSTOMERS,
        )),
        scores: ScoreStores {
            last_order_day: Arc::new(WholeFiles::<Vec<i32>>::new(
                Arc::clone(spill),
                SCORE_LAST_ORDER,
            )),
            orders: column(SCORE_ORDERS),
            revenue_cents: column(SCORE_REVENUE),
            gaps: column(SCORE_GAPS),
        },
        clv: ClvStores {
            scores: Arc::new(WholeFiles::<ClvScores>::new(Arc::clone(spill), CLV_SCORES)),
            ranks: Arc::new(ClvRunFiles::new(Arc::clone(spill))),
        },
    }
}

/// What a cluster's executors made of the customer partitions while they
/// held the entries they stored: what is kept of the per-customer results
/// they stored, and the partitions' cohort grids, monthly counts and tier
/// moves (of those with an order).
struct MadeOnExecutors {
    results: Vec<StoredResults>,
    counts: Box<dyn StoredCounts>,
}

/// The history, what a cluster's executors made of it (none on the
/// embedded engine), and where the CLV stage finds the folds of their
/// results and scores them (the same executors).
type ExecutorsHistory<'a> = (
    OrderHistory,
    Option<MadeOnExecutors>,
    Option<&'a dyn ClvElsewhere>,
);

/// Where a cluster's executors do the per-customer work after the orders
/// stage, for the customer partitions whose results they stored.
struct PartsElsewhere {
    /// Where the CLV stage finds the partitions' folds and scores them.
    clv: Box<dyn ClvElsewhere>,
    /// Where the stages `segments` and `targets` finish them.
    finish: Box<dyn FinishElsewhere>,
    /// Where the stage `nps` validates and counts their survey rows.
    nps: Arc<dyn NpsElsewhere>,
}

/// On a cluster whose executors stored the per-customer results
/// (`stored`), the same executors; otherwise none, and this process does
/// that work.
fn parts_elsewhere(engine: &Engine, spill: &Arc<SpillDir>, stored: bool) -> Option<PartsElsewhere> {
    match engine {
        #[cfg(feature = "distributed")]
        Engine::Ballista { scheduler } if stored => {
            use crate::distributed::ClusterParts;
            let cluster = || ClusterParts::new(scheduler.clone(), spill.clone());
            Some(PartsElsewhere {
                clv: Box::new(cluster()),
                finish: Box::new(cluster()),
                nps: Arc::new(cluster()),
            })
        }
        _ => {
            let _ = (spill, stored);
            None
        }
    }
}

/// [`stages_over_orders`], the per-customer results spilled when the
/// history was (the budget holds neither beside the other; a cluster's
/// executors stored them already when `stored` is given); `resources`
/// says whether the results were spilled.
fn stages_over_history(
    pipeline: (&Pipeline, SurveyReads),
    (history, stored, scoring): ExecutorsHistory<'_>,
    (spill, resources): (&Arc<SpillDir>, &mut Resources),
    clock: &mut StageClock,
) -> Result<OverOrders> {
    let result_store = resources.history_spilled.then(|| result_stores(spill));
    let results = (result_store, stored, scoring);
    let over = stages_over_orders(pipeline, history, results, clock)?;
    resources.results_spilled = over.per_customer.parts.stored();
    Ok(over)
}

/// What the stages `segments` and `targets` give.
struct Finished {
    segments: DataFrame,
    lists: Vec<ListSource>,
    /// The checks' customer totals, when the executors that finished the
    /// partitions added them up too.
    customer_totals: Option<CustomerTotals>,
}

/// The stages `segments` and `targets`, over the per-customer results a
/// customer partition at a time: held, each stage on its own; stored,
/// each partition read back once and finished, here or on the executors
/// `there` that stored them, the lists in `spill`. `resources` completed
/// with the bytes spilled.
fn segments_and_targets(
    (results, there): (&PerCustomer, Option<&dyn FinishElsewhere>),
    (spill, resources): (&Arc<SpillDir>, &mut Resources),
    clock: &mut StageClock,
) -> Result<Finished> {
    let finished = match there {
        Some(there) => finished_elsewhere((results, there), spill, clock)?,
        None if results.parts.stored() => finished_here(results, spill, clock)?,
        None => Finished {
            // The cluster test: a client that finishes the partitions itself.
            segments: clock.time("segments", || {
                crate::faults::crash_point("run::finished_here");
                segments_table(&segment_stage(results)?)
            })?,
            lists: clock.time("targets", || target_stage(results))?,
            customer_totals: None,
        },
    };
    // Every spill file is written by now, the target lists' last (the
    // results' and the lists' are read while the tables are published;
    // their stores keep the directory).
    resources.spilled_bytes = spill.written();
    Ok(finished)
}

/// [`segments_and_targets`] on the executors `there`: each partition
/// finished there (`stages::finish::finish_part`), timed as the stage
/// `segments` (the lists' runs included).
fn finished_elsewhere(
    (results, there): (&PerCustomer, &dyn FinishElsewhere),
    spill: &Arc<SpillDir>,
    clock: &mut StageClock,
) -> Result<Finished> {
    let settings = finish_settings(results);
    let parts = clock.time("segments", || there.finish(&settings))?;
    let runs = ListRuns::new(Arc::clone(spill), settings.starts.len());
    finished_parts((parts, &settings), &runs, clock)
}

/// [`segments_and_targets`] over the partitions this process stored: each
/// one read back once and finished as a cluster's executor finishes it
/// (`stages::finish::finish_scored`), timed as the stage `segments` (the
/// lists' runs included).
fn finished_here(
    results: &PerCustomer,
    spill: &Arc<SpillDir>,
    clock: &mut StageClock,
) -> Result<Finished> {
    let settings = finish_settings(results);
    let clv = results.clv.as_ref().map(|(scores, _)| scores.ranks());
    let targets = Targets::of(clv, results.parts.gap_doubled(), &results.targets)?;
    let runs = ListRuns::new(Arc::clone(spill), results.parts.part_count());
    let parts = clock.time("segments", || {
        let parts = results.parts.map_indexed(|p, part| -> Result<_> {
            // The cluster test: a client that finishes the partitions itself.
            crate::faults::crash_point("run::finished_here");
            let clv = results.clv_of_part(p)?;
            let (segments, totals, pieces) =
                finish_scored((p, part), clv.as_deref(), &targets, &settings)?;
            // A partition's first code names its runs' files.
            let start = settings.starts[p];
            let runs = pieces.into_iter().map(|piece| runs.write_run(piece, start));
            Ok(FinishedPart {
                segments,
                totals,
                runs: runs.collect::<Result<_>>()?,
            })
        })?;
        parts.into_iter().collect::<Result<Vec<_>>>()
    })?;
    finished_parts((parts, &settings), &runs, clock)
}

/// What finishing a partition needs of the run's per-customer results.
fn finish_settings(results: &PerCustomer) -> FinishSettings {
    FinishSettings {
        as_of: results.as_of,
        window: results.window,
        tiers: results.tiers.clone(),
        targets: results.targets.clone(),
        scoring: results.parts.scoring().clone(),
        lists: published_lists(results.tiers.is_some(), results.clv.is_some()),
        starts: results.parts.part_starts(),
        clv: results.clv.is_some(),
    }
}

/// The finished partitions' totals added up (exact in any order) and each
/// list's runs merged by `list_runs` (the stage `targets`).
fn finished_parts(
    (parts, settings): (Vec<FinishedPart>, &FinishSettings),
    list_runs: &ListRuns,
    clock: &mut StageClock,
) -> Result<Finished> {
    let mut segments = SegmentTotals::zero();
    if settings.clv {
        segments = segments.with_zero_clv();
    }
    let mut customer_totals = CustomerTotals::default();
    let mut runs = Vec::with_capacity(parts.len());
    for part in parts {
        segments.add(&part.segments);
        customer_totals = customer_totals + part.totals;
        runs.push(part.runs);
    }
    let lists = clock.time("targets", || merged_lists(list_runs, &settings.lists, runs))?;
    Ok(Finished {
        segments: segments_table(&segments)?,
        lists,
        customer_totals: Some(customer_totals),
    })
}

/// The stage `segments` over held results: each partition's totals, and
/// with the CLV stage the sums of its scores, added in customer order.
fn segment_stage(results: &PerCustomer) -> Result<SegmentTotals> {
    let mut totals = SegmentTotals::zero();
    if results.clv.is_some() {
        totals = totals.with_zero_clv();
    }
    results.parts.fold_in_order(
        |p, part| -> Result<_> { Ok((part_totals(&part.summary), results.clv_of_part(p)?)) },
        |_, of_part| {
            let ((part, segments), clv) = of_part?;
            totals.add(&part);
            if let Some(scores) = clv {
                totals.add_clv(&segments, &scores);
            }
            Ok(())
        },
    )?;
    Ok(totals)
}

/// The totals the reconciliation reads of every customer, over held
/// results (stored ones are added up as they are finished).
fn customer_totals(parts: &CustomerParts) -> Result<CustomerTotals> {
    let totals = parts.map_parts(|_, part| CustomerTotals::of(&part.summary))?;
    Ok(totals
        .into_iter()
        .fold(CustomerTotals::default(), |a, b| a + b))
}

/// Compares the run with `options.compare_with` (the previous run) and
/// evaluates the gates: adds `restatements`, `run_comparison` and
/// `gates`. A previous run that cannot be read is reported and the run
/// is compared with none.
fn compare_stage(pipeline: &Pipeline, options: &RunOptions, computed: &mut Computed) -> Result<()> {
    let previous = options.compare_with.as_deref().and_then(|dir| {
        match PublishedRunDir::open(dir) {
            Ok(run) => Some(run),
            Err(e) => {
                tracing::warn!(error = %e, "the previous run cannot be read: compared with none");
                None
            }
        }
    });
    let figures = figures_of_run(
        pipeline,
        options.run_id.as_deref().unwrap_or(UNPUBLISHED_RUN),
        computed.as_of,
        &computed.orders_account(),
        computed.surveys_account().as_ref(),
        computed.customers,
    );
    let previous_side = previous
        .as_ref()
        .map(|run| (&run.figures, run as &dyn RunTables));
    let comparison = compare(previous_side, (&figures, &*computed))?;
    let gates = evaluate_gates(
        &pipeline.config.gates,
        &comparison,
        freshness(pipeline, options, computed),
        options.accept_changes,
    );
    let restated = comparison
        .against
        .as_ref()
        .and_then(|a| a.restated.as_ref());
    let tables = [
        table(
            &schema::compare::RESTATEMENTS,
            restatements_table(restated)?,
        ),
        table(
            &schema::compare::RUN_COMPARISON,
            run_comparison_table(&comparison)?,
        ),
        table(&schema::compare::GATES, gates_table(&gates)?),
    ];
    computed.tables.extend(tables);
    computed.compared_with = previous.map(|run| run.figures.run_id);
    computed.gates = gates;
    Ok(())
}

/// The id a computed run is compared under before it has one.
const UNPUBLISHED_RUN: &str = "(not published)";

/// The latest order against as_of when given, else today in the business
/// time zone.
fn freshness(pipeline: &Pipeline, options: &RunOptions, computed: &Computed) -> Freshness {
    let given = options.as_of.or(pipeline.config.business.as_of);
    let today = Utc::now().with_timezone(&pipeline.time_zone).date_naive();
    Freshness {
        latest_order: computed.latest_order,
        reference: given.unwrap_or(today),
        as_of_given: given.is_some(),
    }
}

/// The frames of every table but those built from the per-customer
/// results.
struct StageFrames {
    described: Described,
    segments: DataFrame,
    tier_migration: Option<DataFrame>,
    clv: NamedFrames,
    rejects: DataFrame,
    checks: DataFrame,
}

/// Every table in publishing order (that of the declarations,
/// `schema::ALL`), the customers table and the target lists produced a
/// row group at a time from the per-customer results; and what the
/// manifest records of the survey input.
fn published_tables(
    results: Arc<PerCustomer>,
    lists: Vec<ListSource>,
    frames: StageFrames,
    nps: Option<SurveyStage>,
) -> Result<(Vec<Table>, Option<SurveyRun>)> {
    let customers = CustomerRows::new(results.clone())?;
    let described = frames.described;
    let mut published = vec![
        Table::produced(schema::customers::CUSTOMERS.name, Box::new(customers)),
        table(
            &schema::cohorts::COHORT_RETENTION,
            described.cohort_retention,
        ),
        table(&schema::cohorts::RETENTION_CURVE, described.retention_curve),
        table(&schema::kpis::KPIS_MONTHLY, described.kpis_monthly),
        table(&schema::customers::SEGMENTS, frames.segments),
    ];
    if let Some(frame) = frames.tier_migration {
        published.push(table(&schema::tiers::TIER_MIGRATION, frame));
    }
    published.extend(named(frames.clv));
    for list in lists {
        let rows = ListTableRows::new(results.clone(), list)?;
        published.push(Table::produced(rows.name(), Box::new(rows)));
    }
    let surveys = nps.map(|n| survey_tables_and_run(n, &mut published));
    published.push(table(&schema::rejects::REJECTS, frames.rejects));
    published.push(table(&schema::checks::CHECKS, frames.checks));
    Ok((published, surveys))
}

/// What the stages that read the orders themselves give. The orders are
/// dropped once they have run (every later stage reads their results), so
/// they are not held beside the target lists and the tables.
struct OverOrders {
    per_customer: PerCustomer,
    described: Described,
    clv_frames: NamedFrames,
    /// With `[loyalty]`: the tier migration table and its check.
    tier_migration: Option<DataFrame>,
    tier_check: Option<Check>,
    nps: Option<SurveyStage>,
}

/// The result stores of a run whose history was spilled, what a
/// cluster's executors made of it, and where the CLV stage finds the
/// folds of their results and scores them then.
type StoredResultsAndScoring<'a> = (
    Option<ResultStores>,
    Option<MadeOnExecutors>,
    Option<&'a dyn ClvElsewhere>,
);

/// The stages `customers`, `cohorts`, `kpis`, `dimensions`, `clv`,
/// `tiers` and `nps`, over the order history, which is dropped after them;
/// the per-customer results go to (or, with `stored`, are in) the result
/// store when there is one, and the CLV stage scores them where `scoring`
/// says (in this process without); the survey input is read as
/// `surveys_read` says. The CLV stage reads only the history and the
/// customer summaries, so it runs beside the descriptive stages: on a
/// busy pool each side's parallel work fills the other's serial
/// stretches (the optimizer's steps, the table builders).
fn stages_over_orders(
    (pipeline, surveys_read): (&Pipeline, SurveyReads),
    mut history: OrderHistory,
    (stores, on_executors, scoring): StoredResultsAndScoring<'_>,
    clock: &mut StageClock,
) -> Result<OverOrders> {
    let config = &pipeline.config;
    let tiers = config.loyalty.as_ref().map(Tiers::of);
    let clv_stores = stores.as_ref().map(|stores| stores.clv.clone());
    let (stored, counted) = match on_executors {
        Some(made) => (Some(made.results), Some(made.counts)),
        None => (None, None),
    };
    let results = (stores, stored);
    let parts = clock.time("customers", || {
        let ids = history.take_ids();
        customers_stage((&history, ids), tiers.as_ref(), results)
    })?;
    let (beside, clv) = clock.beside(
        |clock| {
            let pipeline = (pipeline, surveys_read);
            let history = (&history, counted.as_deref());
            descriptive_stages(pipeline, history, (tiers.as_ref(), &parts), clock)
        },
        |clock| clv(pipeline, &history, (&parts, clv_stores, scoring), clock),
    )?;
    let Descriptive {
        described,
        tiers: tier_stage,
        nps,
    } = beside;
    let tier_check = tier_stage.migration_check(parts.customers(), &described.calendar);
    let simple = simple_clv(&described.monthly, &config.clv);
    let (clv, clv_frames) = match clv {
        Some((output, frames)) => (Some((output.scores, simple)), frames),
        None => (None, Vec::new()),
    };
    let per_customer = PerCustomer {
        as_of: history.as_of,
        parts,
        clv,
        tiers,
        window: config.business.activity_window_days,
        targets: config.targets.clone(),
    };
    Ok(OverOrders {
        per_customer,
        described,
        clv_frames,
        tier_migration: tier_stage.migration_table,
        tier_check,
        nps,
    })
}

/// The stage `customers`: every partition's per-customer results made from
/// the history and its customers' `ids` (put in `stores` when there are)
/// or, when a cluster's executors made them (ids and score columns
/// included) beside the history's spilled entries, read from `stores` as
/// needed, `stored` being what they sent back of them.
fn customers_stage(
    (history, ids): (&OrderHistory, PartIds),
    tiers: Option<&Tiers>,
    (stores, stored): (Option<ResultStores>, Option<Vec<StoredResults>>),
) -> Result<CustomerParts> {
    match (stores, stored) {
        (stores, None) => customer_parts((history, Some(&ids)), tiers, stores.as_ref()),
        (Some(stores), Some(stored)) => stored_customer_parts(history, stored, &stores),
        (None, Some(_)) => Err(Error::Cluster(
            "the executors stored the per-customer results of a history that was not spilled"
                .into(),
        )),
    }
}

/// What the stages beside the CLV stage give.
struct Descriptive {
    described: Described,
    tiers: TierStage,
    nps: Option<SurveyStage>,
}

/// The stages `cohorts`, `kpis`, `dimensions`, `tiers` and `nps` (which
/// reads the survey input as `surveys_read` says, and finds the
/// respondents' ids, and with `tiers` their tiers, in `parts`); the
/// cohorts', KPIs' and tiers' counts are added from `counted` when a
/// cluster's executors counted the partitions.
fn descriptive_stages(
    (pipeline, surveys_read): (&Pipeline, SurveyReads),
    (history, counted): (&OrderHistory, Option<&dyn StoredCounts>),
    (tiers, parts): (Option<&Tiers>, &CustomerParts),
    clock: &mut StageClock,
) -> Result<Descriptive> {
    let described = describe(pipeline, (history, counted), clock)?;
    let tier_stage = clock.time("tiers", || {
        tier_stage((history, counted), &described.calendar, tiers)
    })?;
    let months = (&described.calendar, &described.monthly);
    let nps = nps(
        (pipeline, surveys_read),
        (history, parts),
        months,
        tiers,
        clock,
    )?;
    Ok(Descriptive {
        described,
        tiers: tier_stage,
        nps,
    })
}

/// The stages `load`, `validate` and `orders` on the partitioned plan:
/// the plan sized to the input and the memory budget, the spill directory
/// for what does not fit (removed when the last store that uses it goes),
/// and what the run used so far.
fn partitioned_orders(
    pipeline: &Pipeline,
    files: &[InputFile],
    options: &RunOptions,
    clock: &mut StageClock,
) -> Result<(OrdersStage, Resources, Arc<SpillDir>)> {
    let parquet_rows: usize = files
        .iter()
        .filter(|f| f.format == FileFormat::Parquet)
        .map(|f| parquet_rows(&f.path))
        .sum::<Result<usize>>()?;
    let limit = memory_limit(pipeline, options);
    let rows = estimated_rows(files, parquet_rows);
    let plan = PartitionPlan::of(options, rows, limit, pipeline.config.clv.enabled);
    crate::allocator::keep_freed_memory(room_to_keep_freed_memory(rows, limit));
    crate::allocator::use_huge_pages(rows >= HUGE_PAGES_FROM_ROWS);
    let spill = spill_dir(pipeline, options, rows)?;
    let stores = (
        spill.store(crate::io::spill::LINES),
        spill.store(crate::io::spill::ORDERS),
    );
    // The history's stores keep the directory until the history is dropped.
    let history_store = plan.spill_history.then(|| history_stores(&spill));
    let scattered = scattered_lines(
        (pipeline, files, options),
        &plan,
        (&stores.0, &spill),
        parquet_rows,
        clock,
    )?;
    let orders = clock.time("orders", || {
        orders_stage(
            pipeline,
            files,
            options,
            &plan,
            (&stores.1, &spill, history_store),
            scattered,
        )
    })?;
    let resources = Resources {
        memory_limit_bytes: limit,
        partitions: plan.partitions as u64,
        // The history's spill files, read back by the later stages, are
        // all written by now.
        spilled_bytes: spill.written(),
        spill_compressed: spill.compresses(),
        history_spilled: orders.history.spilled_parts() > 0,
        results_spilled: false,
    };
    Ok((orders, resources, spill))
}

/// The run's spill directory, where `options` put it (the output
/// directory; the system's temporary directory for library callers that
/// give none), compressed as `[resources] spill_compression` decides for
/// `rows` input rows. Shared: the order history's store keeps it until
/// the history is dropped.
fn spill_dir(pipeline: &Pipeline, options: &RunOptions, rows: u64) -> Result<Arc<SpillDir>> {
    let spill_parent = options
        .spill_parent
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let compress = compress_spills(
        pipeline.config.resources.spill_compression,
        &spill_parent,
        rows,
    );
    Ok(Arc::new(SpillDir::create(&spill_parent, compress)?))
}

/// How a run splits its work and holds it in memory: the partition count,
/// the rows read per chunk, how many bytes of line and order pieces stay
/// in memory before they are spilled, and which lines' customer ids are
/// sampled to cut the customer partitions' ranges.
struct PartitionPlan {
    partitions: usize,
    chunk_rows: usize,
    sample_step: usize,
    line_buffer: usize,
    order_buffer: usize,
    /// What the order pieces share with the line pieces still held.
    order_room: usize,
    /// Whether each customer partition's entries go to spill files as
    /// soon as its history is built, for the later stages to read back a
    /// partition at a time.
    spill_history: bool,
}

/// Bytes a scattered order line takes, ids of about a dozen bytes
/// included (`partition::LinePart`); for sizing partitions.
const LINE_BYTES: u64 = 64;
/// Input rows per byte of a CSV file, for sizing partitions before the
/// rows are counted: a typical order line is 40–80 bytes of text.
const CSV_BYTES_PER_ROW: u64 = 40;

impl PartitionPlan {
    /// The plan for `rows` input rows (an estimate for CSV) within the
    /// memory budget `limit`. Shares of the budget: line pieces 60 % while
    /// the input is read (besides two raw chunks, sized to 5 % each);
    /// then the line partitions being grouped, one per thread at about
    /// three times their size while their keys are coded, at most 30 %,
    /// and order pieces at most 30 % of what that and the line pieces
    /// still held leave of 90 % (at least 5 %). The history is spilled as
    /// [`HISTORY_BYTES_PER_LINE`] says (and [`CLV_BYTES_PER_LINE`] with the
    /// CLV stage on, `clv`).
    fn of(options: &RunOptions, rows: u64, limit: u64, clv: bool) -> PartitionPlan {
        let threads = rayon::current_num_threads() as u64;
        let share = |percent: u64| (limit / 100 * percent) as usize;
        let lines = rows * LINE_BYTES;
        let needed = (lines * 3 * threads).div_ceil((limit / 100 * 30).max(1));
        let partitions = options
            .partitions
            .unwrap_or_else(|| (needed as usize).clamp(DEFAULT_PARTITIONS, MAX_PARTITIONS));
        let chunk_rows = chunk_rows_within(options, limit);
        let samples = partitions as u64 * customer_ranges::SAMPLES_PER_PARTITION;
        let grouping = (lines * 3 * threads / (partitions as u64).max(1)) as usize;
        PartitionPlan {
            partitions,
            chunk_rows,
            sample_step: (rows / samples).max(1) as usize,
            line_buffer: share(60),
            order_buffer: share(30),
            order_room: share(90).saturating_sub(grouping.min(share(30))),
            spill_history: matches!(options.engine, Engine::Ballista { .. })
                || rows.saturating_mul(held_bytes_per_line(clv)) > limit / 2,
        }
    }
}

/// Bytes of the order history per input line: its entries (a day and
/// cents per order) and customer ids, measured at 12.8 on the generated
/// histories of 100 M and 1 B orders (1.47 lines an order). The history
/// is spilled when the input's would take more than half the budget: then
/// it and the per-customer results cannot both be held. Below that the
/// peak is set by the orders stage's grouping (at 100 M orders under 4
/// GiB, 4.5 GiB with the history held or spilled), and spilling it only
/// costs the stages their reads (6 % of the run's time there).
const HISTORY_BYTES_PER_LINE: u64 = 13;

/// Bytes per input line of what the CLV stage holds while it scores, on
/// top of the history and the per-customer results when they are held:
/// its fits' unique (frequency, recency, T) rows with their index, the
/// forecast's weights and the predictions being made, about 160 bytes a
/// row, and on the generated histories one row for 12 lines at 10 M
/// orders (1.23 M rows, 14.7 M lines), one for 21 at 100 M. Without it
/// the history of 10 M orders was held under a 512 MiB budget, and the
/// CLV stage took the run to 730 MiB (1.43 times) with the history and
/// the results beside its rows.
const CLV_BYTES_PER_LINE: u64 = 14;

/// The bytes per input line weighed against half the budget to decide
/// whether the history is spilled.
fn held_bytes_per_line(clv: bool) -> u64 {
    HISTORY_BYTES_PER_LINE + if clv { CLV_BYTES_PER_LINE } else { 0 }
}

/// Whether the run's spill files are compressed: as `[resources]
/// spill_compression` says, or (`auto`) when the input's lines, should
/// they all be spilled, would take more than half the disk space free
/// where the spill directory goes (`parent`). Warns when they might not
/// fit even so (about half their size compressed): the run goes on, since
/// the budget may hold more of them than that assumes, and a full disk
/// stops it with a clear error.
fn compress_spills(choice: SpillCompression, parent: &Path, rows: u64) -> bool {
    let lines = rows.saturating_mul(LINE_BYTES);
    let free = crate::io::spill::free_bytes(parent);
    let compress = match choice {
        SpillCompression::Zstd => true,
        SpillCompression::None => false,
        SpillCompression::Auto => free.is_some_and(|free| lines > free / 2),
    };
    let spill = if compress { lines / 2 } else { lines };
    if let Some(free) = free.filter(|&free| spill > free) {
        tracing::warn!(
            "the spill may not fit on the disk: the input's lines take about {} MB{}, {} MB are free in {}",
            spill / 1_000_000,
            if compress { " compressed" } else { "" },
            free / 1_000_000,
            crate::error::shown_path(parent)
        );
    }
    compress
}

/// Input lines from which a run uses transparent huge pages
/// (`allocator::use_huge_pages`). Measured, alternating runs: base pages
/// took 0.89× the time at 14.6 M lines (10 M orders), huge pages 0.85× and
/// 0.95× at 146 M lines (100 M orders). The threshold lies between the
/// two.
const HUGE_PAGES_FROM_ROWS: u64 = 50_000_000;

/// Whether the budget `limit` holds every input line's bytes with a
/// quarter to spare. Then the run's peak stays inside it even with freed
/// memory kept for reuse (`allocator`), which adds 10–20 % to the peak:
/// measured 1.8 GiB at 10 M orders and 9.7 GiB at 100 M orders under an
/// 11.8 GiB budget (8.7 GiB given back). Under a tighter budget (100 M
/// orders in 4 GiB, 10 M in 1 GiB) the peak is near the budget already,
/// and freed memory is given back.
fn room_to_keep_freed_memory(rows: u64, limit: u64) -> bool {
    rows.saturating_mul(LINE_BYTES).saturating_mul(5) / 4 <= limit
}

/// Partitions at least (more when the input is large for the budget):
/// enough for every core of a large machine to have several, so one slow
/// partition does not hold up the rest.
const DEFAULT_PARTITIONS: usize = 64;
const MAX_PARTITIONS: usize = 4096;
/// Bytes of a raw input row in memory, for sizing chunks.
const RAW_ROW_BYTES: usize = 256;
const MIN_CHUNK_ROWS: usize = 64 * 1024;

/// Rows of a raw chunk (of the order input, and of the survey input) read
/// at a time within the budget `limit`: 5 % of it (`--chunk-rows` sets
/// them). A raw chunk takes a few hundred bytes a row as Arrow columns.
fn chunk_rows_within(options: &RunOptions, limit: u64) -> usize {
    options.chunk_rows.unwrap_or_else(|| {
        ((limit / 100 * 5) as usize / RAW_ROW_BYTES).clamp(MIN_CHUNK_ROWS, CHUNK_ROWS)
    })
}

/// The memory budget: `--memory-limit`, else `[resources] memory_limit`,
/// else half the machine's memory (4 GiB when that is unknown).
fn memory_limit(pipeline: &Pipeline, options: &RunOptions) -> u64 {
    // Test hook: a budget below the command line's minimum.
    crate::faults::value_point("run::memory_limit_bytes")
        .or(options.memory_limit)
        .or_else(|| pipeline.memory_limit())
        .unwrap_or_else(default_memory_limit)
}

/// Input rows: counted for Parquet, estimated from the size for CSV.
fn estimated_rows(files: &[InputFile], parquet_rows: usize) -> u64 {
    let csv_bytes: u64 = files
        .iter()
        .map(|f| match f.format {
            FileFormat::Parquet => 0,
            // Gzipped text is about a fifth of the text's size.
            FileFormat::CsvGz => f.size * 5,
            FileFormat::Csv => f.size,
        })
        .sum();
    parquet_rows as u64 + csv_bytes / CSV_BYTES_PER_ROW
}

/// The lines scattered by partition, with what is known of all of them
/// and the row rejects.
struct Scattered<'s> {
    lines: ScatteredLines<'s>,
    keys: LineKeys,
    rejects: Vec<Reject>,
}

/// Where the scattered lines are.
enum ScatteredLines<'s> {
    /// Split here, held or spilled as the budget says.
    Here(Stored<'s, LinePart>),
    /// Split by a cluster's read tasks, in the files of the input's units.
    #[cfg(feature = "distributed")]
    OnExecutors(crate::distributed::UnitFiles),
}

/// The order input read, checked and split by partition: here, or on the
/// executors of a cluster run.
fn scattered_lines<'s>(
    (pipeline, files, options): (&Pipeline, &[InputFile], &RunOptions),
    plan: &PartitionPlan,
    (store, spill): (&'s dyn SpillStore<LinePart>, &SpillDir),
    expected_rows: usize,
    clock: &mut StageClock,
) -> Result<Scattered<'s>> {
    match &options.engine {
        #[cfg(feature = "distributed")]
        Engine::Ballista { scheduler } => {
            let cluster = crate::distributed::ClusterRun {
                scheduler: scheduler.as_deref(),
                dir: spill.path(),
                compress: spill.compresses(),
            };
            read_on_executors((pipeline, files, options), plan, (&cluster, spill), clock)
        }
        _ => {
            let _ = spill;
            load_and_validate(pipeline, files, options, plan, store, expected_rows, clock)
        }
    }
}

/// The stages `load` and `validate` on a cluster's executors: one job
/// whose tasks read units of the input and split their lines, in files
/// the assemble tasks read (`distributed::read_on_cluster`). Both stages'
/// time is `validate`'s: the executors read and check side by side.
#[cfg(feature = "distributed")]
fn read_on_executors<'s>(
    (pipeline, files, options): (&Pipeline, &[InputFile], &RunOptions),
    plan: &PartitionPlan,
    (cluster, spill): (&crate::distributed::ClusterRun, &SpillDir),
    clock: &mut StageClock,
) -> Result<Scattered<'s>> {
    let bar = options.progress.stage("load and validate", None, "rows");
    let started = Instant::now();
    let read = crate::distributed::ReadPlan {
        partitions: plan.partitions,
        sample_step: plan.sample_step,
        chunk_rows: plan.chunk_rows,
    };
    let (read, written) = crate::distributed::read_on_cluster(cluster, (pipeline, files), &read)?;
    spill.add_written(written);
    bar.finish();
    clock.record("load", 0.0);
    clock.record("validate", started.elapsed().as_secs_f64());
    Ok(Scattered {
        lines: ScatteredLines::OnExecutors(read.units),
        keys: read.keys,
        rejects: read.rejects,
    })
}

/// The stages `load` and `validate`, overlapped: a reader thread reads the
/// input one chunk ahead while the previous chunk is validated and split
/// by partition, so the cores that decoding leaves idle validate, and the
/// raw input in memory is at most two chunks whatever its size. `validate`
/// records the time spent validating, `load` the time validation waited
/// for the reader, so the stages' times still add up to the run's.
fn load_and_validate<'s>(
    pipeline: &Pipeline,
    files: &[InputFile],
    options: &RunOptions,
    plan: &PartitionPlan,
    store: &'s dyn SpillStore<LinePart>,
    expected_rows: usize,
    clock: &mut StageClock,
) -> Result<Scattered<'s>> {
    // The cluster test: a cluster run's client never reads the input.
    crate::faults::crash_point("run::read_here");
    let all_parquet = files.iter().all(|f| f.format == FileFormat::Parquet);
    let bar = options.progress.stage(
        "load and validate",
        all_parquet.then_some(expected_rows as u64),
        "rows",
    );
    let mut scatter = LineScatter::new(pipeline, plan.partitions, plan.sample_step);
    let mut buffered: Buffered<'s, LinePart> =
        Buffered::new(plan.partitions, plan.line_buffer, store).spilling_side_by_side();
    let input = InputSpec::orders(pipeline);
    let has_order_id = pipeline.config.columns.order_id.is_some();
    let chunk_rows = plan.chunk_rows;
    let read = move |each: &mut dyn FnMut(RawBatch) -> Result<()>| {
        read_files(&input, files, has_order_id, chunk_rows, each)
    };
    let times = read_ahead(read, |batch| {
        let path = &files[batch.file as usize].path;
        let pieces = scatter.push(path, &batch, &|n| bar.inc(n))?;
        drop(batch);
        buffered.add(pieces)
    })?;
    tracing::debug!(seconds = format!("{:.3}", times.reading), "input read");
    bar.finish();
    let finishing = Instant::now();
    let (keys, rejects) = scatter.finish();
    clock.record("load", times.waiting);
    clock.record(
        "validate",
        times.consuming + finishing.elapsed().as_secs_f64(),
    );
    Ok(Scattered {
        lines: ScatteredLines::Here(buffered.into_stored()),
        keys,
        rejects,
    })
}

/// The orders stage's results: the history, the accounting of the order
/// input's rows and its rejects, as the `rejects` table.
struct OrdersStage {
    history: OrderHistory,
    /// The customer partitions' ranges of ids.
    customer_ranges: CustomerRanges,
    /// What a cluster's executors made of the customer partitions beside
    /// the history's entries they stored.
    on_executors: Option<MadeOnExecutors>,
    counts: RowCounts,
    /// Σ cents of every accepted order and refund.
    accepted_cents: i64,
    latest_order_day: i32,
    rejects_by_reason: Vec<(&'static str, u64)>,
    rejects: DataFrame,
}

/// Lines → orders and refunds per customer; fails when too many rows were
/// rejected, or the history is too long to tabulate.
fn orders_stage(
    pipeline: &Pipeline,
    files: &[InputFile],
    options: &RunOptions,
    plan: &PartitionPlan,
    (store, spill_dir, history): (&dyn SpillStore<OrderPart>, &SpillDir, Option<HistoryStores>),
    scattered: Scattered,
) -> Result<OrdersStage> {
    let Scattered {
        lines,
        keys,
        mut rejects,
    } = scattered;
    let as_of = options
        .as_of
        .or(pipeline.config.business.as_of)
        .map(day_number);
    let order_id_column = pipeline.config.columns.order_id.as_deref();
    let rows_read = keys.rows_read;
    let order_plan = OrderPlan {
        buffer_bytes: plan.order_buffer,
        room_bytes: plan.order_room,
        spill: store,
        history,
    };
    let tiers = pipeline.config.loyalty.as_ref().map(Tiers::of);
    let clv = &pipeline.config.clv;
    let business = &pipeline.config.business;
    let counting = Counting {
        cohort_period: business.cohort_period,
        activity_window_days: business.activity_window_days,
    };
    let (orders, on_executors) = orders_on_engine(
        (&options.engine, spill_dir),
        (lines, &keys, &mut rejects),
        (order_id_column, as_of),
        &order_plan,
        (tiers, clv.enabled.then_some(clv), counting),
    )
    .map_err(|e| match e {
        Error::NoOrders { .. } => no_orders_error(&rejects, files, rows_read, e),
        other => other,
    })?;
    let counts = orders.counts;
    let rejects_by_reason = counts_by_reason(&rejects);
    debug_assert_eq!(rejects.len() as u64, counts.rejected);
    let rejects_frame = order_rejects_table(pipeline, files, plan, &counts, rejects)?;
    // Before any per-period table is allocated (README "Pipelines", limits).
    Calendar::check_span(&orders.history, pipeline.config.business.cohort_period)?;
    Ok(OrdersStage {
        history: orders.history,
        customer_ranges: keys.customer_ranges,
        on_executors,
        counts,
        accepted_cents: orders.accepted_cents,
        latest_order_day: orders.latest_order_day,
        rejects_by_reason,
        rejects: rejects_frame,
    })
}

/// The `rejects` table of the order input; fails when too many rows were
/// rejected. Rejects found once every line was known get their raw
/// records by reading the chunks that hold them again.
fn order_rejects_table(
    pipeline: &Pipeline,
    files: &[InputFile],
    plan: &PartitionPlan,
    counts: &RowCounts,
    mut rejects: Vec<Reject>,
) -> Result<DataFrame> {
    check_reject_share(
        &rejects,
        files,
        counts.rows_read,
        pipeline.config.rejects.max_reject_ratio,
        "rows",
        "",
    )?;
    let wanted = rows_missing_raw(&rejects);
    let texts = raw_records(
        &InputSpec::orders(pipeline),
        files,
        &wanted,
        plan.chunk_rows,
    )?;
    fill_raw(&mut rejects, &texts);
    rejects_table(&rejects, files)
}

/// [`build_orders`] on the run's engine; the Ballista engine's tasks
/// share files in the spill directory `spill_dir`. A cluster's executors
/// store the history's entries and, from them, the per-customer results
/// (tier columns by `tiers`), fold those for the CLV stage with `clv`
/// (enabled) and count the cohort grid, monthly counts (`counting`) and
/// tier moves: what is kept of them comes back.
fn orders_on_engine(
    (engine, spill_dir): (&Engine, &SpillDir),
    (lines, keys, rejects): (ScatteredLines<'_>, &LineKeys, &mut Vec<Reject>),
    (order_id_column, as_of): (Option<&str>, Option<i32>),
    plan: &OrderPlan,
    (tiers, clv, counting): (Option<Tiers>, Option<&crate::config::ClvConfig>, Counting),
) -> Result<(OrdersOutput, Option<MadeOnExecutors>)> {
    match (engine, lines) {
        (Engine::Embedded, ScatteredLines::Here(lines)) => {
            let orders = build_orders(lines, keys, rejects, order_id_column, as_of, plan)?;
            // The later stages make, fold and count what executors would.
            let _ = (tiers, clv, counting);
            Ok((orders, None))
        }
        #[cfg(feature = "distributed")]
        (Engine::Ballista { scheduler }, ScatteredLines::OnExecutors(units)) => {
            let cluster = crate::distributed::ClusterRun {
                scheduler: scheduler.as_deref(),
                dir: spill_dir.path(),
                compress: spill_dir.compresses(),
            };
            // `PartitionPlan::of` spills every cluster run's history.
            let stores = plan.history.clone().ok_or_else(|| {
                Error::Cluster("the run's history has no spill store".to_string())
            })?;
            let history = crate::distributed::SpilledHistory {
                store: stores.entries,
                tiers,
                clv: clv.cloned(),
                counting,
            };
            let made = crate::distributed::build_orders_on_cluster(
                &cluster,
                (&units, keys, rejects),
                order_id_column,
                as_of,
                history,
            )?;
            spill_dir.add_written(made.spilled_bytes);
            let on_executors = MadeOnExecutors {
                results: made.stored_results,
                counts: Box::new(made.part_counts),
            };
            Ok((made.orders, Some(on_executors)))
        }
        #[cfg(not(feature = "distributed"))]
        (Engine::Ballista { .. }, _) => {
            let _ = (spill_dir, tiers, clv, counting);
            Err(crate::commands::cluster::not_built())
        }
        #[cfg(feature = "distributed")]
        _ => Err(Error::Usage(
            "internal: the lines were split where the engine does not read them".into(),
        )),
    }
}

/// The descriptive stages' results: the monthly calendar, the cohort grid
/// and the monthly counts, and the three tables built from them.
struct Described {
    calendar: Calendar,
    grid: CohortGrid,
    monthly: MonthlyCounts,
    cohort_retention: DataFrame,
    retention_curve: DataFrame,
    kpis_monthly: DataFrame,
    /// With dimensions: each dimension's slices add up to the `(all)` one.
    checks: Vec<Check>,
}

/// The stages `cohorts`, `kpis` and, with `[columns] dimensions`,
/// `dimensions`: the grid and the monthly counts counted over the history
/// or, when a cluster's executors counted its partitions, added from
/// their `counted` counts (the dimensions' slices are counted here).
fn describe(
    pipeline: &Pipeline,
    (history, counted): (&OrderHistory, Option<&dyn StoredCounts>),
    clock: &mut StageClock,
) -> Result<Described> {
    let business = &pipeline.config.business;
    let calendar = Calendar::of(history);
    // The cohort grid has its own unit; KPIs stay monthly.
    let cohort_calendar = Calendar::of_unit(history, business.cohort_period);
    let (grid, cohort_retention, retention_curve) = clock.time("cohorts", || {
        let grid = match counted {
            Some(parts) => part_counts::added_grid(parts, &cohort_calendar)?,
            None => counted_here(|| cohort_grid(history, &cohort_calendar))?,
        };
        let cohorts = cohort_retention_table(&grid, &cohort_calendar)?;
        let curve = retention_curve_table(&grid, &cohort_calendar)?;
        Ok((grid, cohorts, curve))
    })?;
    let window = business.activity_window_days;
    let (monthly, kpis_monthly) = clock.time("kpis", || {
        let monthly = match counted {
            Some(parts) => part_counts::added_monthly(parts, &calendar)?,
            None => counted_here(|| monthly_counts(history, &calendar, window))?,
        };
        let kpis = kpis_monthly_table(&monthly, &calendar)?;
        Ok((monthly, kpis))
    })?;
    let mut described = Described {
        calendar,
        grid,
        monthly,
        cohort_retention,
        retention_curve,
        kpis_monthly,
        checks: Vec::new(),
    };
    if history.dimensions.is_empty() {
        return Ok(described);
    }
    // With dimensions, the three tables are replaced by their slices (the
    // (all) slice first, equal to the tables just computed).
    let d = &described;
    let sliced = clock.time("dimensions", || {
        sliced_tables(
            (history, counted),
            &slices(history),
            &cohort_calendar,
            &d.calendar,
            window,
            &d.grid,
            &d.monthly,
        )
    })?;
    described.cohort_retention = sliced.cohort_retention;
    described.retention_curve = sliced.retention_curve;
    described.kpis_monthly = sliced.kpis_monthly;
    described.checks = sliced.checks;
    Ok(described)
}

/// `count` over the history in this process (a cluster's executors count
/// it where its entries are).
fn counted_here<T>(count: impl FnOnce() -> Result<T>) -> Result<T> {
    // The cluster test: a client that counts the grid, the months or the
    // tier moves itself.
    crate::faults::crash_point("describe::counted_here");
    count()
}

/// The stage `clv`, when `[clv] enabled`: the scores and the CLV tables.
fn clv(
    pipeline: &Pipeline,
    history: &OrderHistory,
    (parts, stores, elsewhere): (&CustomerParts, Option<ClvStores>, Option<&dyn ClvElsewhere>),
    clock: &mut StageClock,
) -> Result<Option<(ClvOutput, NamedFrames)>> {
    let config = &pipeline.config.clv;
    if !config.enabled {
        return Ok(None);
    }
    clock
        .time(CLV_STAGE, || {
            let output = clv_stage(history, (parts, stores, elsewhere), config)?;
            let frames = clv_tables(&output)?;
            Ok((output, frames))
        })
        .map(Some)
}

/// Named frames as tables.
fn named(frames: NamedFrames) -> impl Iterator<Item = Table> {
    frames
        .into_iter()
        .map(|(name, frame)| Table::whole(name, frame))
}

/// The tiers stage's results, with `[loyalty]`: the tier migration
/// counts and table (each customer's tier columns are computed with
/// their summary, in the `customers` stage).
struct TierStage {
    migration: Option<MigrationCounts>,
    migration_table: Option<DataFrame>,
}

impl TierStage {
    /// Every customer (`customers` of them) is in exactly one cell of
    /// as_of's month of the migration.
    fn migration_check(&self, customers: usize, calendar: &Calendar) -> Option<Check> {
        self.migration.as_ref().map(|m| {
            check(
                &format!(
                    "customers = sum of {} in as_of's month",
                    schema::tiers::TIER_MIGRATION.name
                ),
                customers as i64,
                m.month_total(calendar.len() - 1),
            )
        })
    }
}

/// The tier migration counts and table, with `[loyalty]` (`tiers`): the
/// counts counted over the history or, when a cluster's executors counted
/// its partitions, added from their `counted` moves.
fn tier_stage(
    (history, counted): (&OrderHistory, Option<&dyn StoredCounts>),
    calendar: &Calendar,
    tiers: Option<&Tiers>,
) -> Result<TierStage> {
    let migration = tiers
        .map(|t| match counted {
            Some(parts) => part_counts::added_migration(parts, calendar, t),
            None => counted_here(|| migration_counts(history, calendar, t)),
        })
        .transpose()?;
    let migration_table = match (&migration, tiers) {
        (Some(m), Some(t)) => Some(tier_migration_table(m, calendar, t)?),
        _ => None,
    };
    Ok(TierStage {
        migration,
        migration_table,
    })
}

/// The stage `targets` over held results: every customer put on at most
/// one list, a customer partition at a time, and each published list's
/// rows in its order.
fn target_stage(results: &PerCustomer) -> Result<Vec<ListSource>> {
    let clv = results.clv.as_ref().map(|(scores, _)| scores.ranks());
    let targets = Targets::of(clv, results.parts.gap_doubled(), &results.targets)?;
    let lists = published_lists(results.tiers.is_some(), clv.is_some());
    let parts = results.parts.map_indexed(|p, part| -> Result<_> {
        let clv = results.clv_of_part(p)?;
        let start = results.parts.codes_of(p).start;
        let inputs = results.target_inputs((part, start), clv.as_deref());
        part_rows(&inputs, &targets, &lists)
    })?;
    let parts = parts.into_iter().collect::<Result<_>>()?;
    let joined = joined_lists(&lists, parts);
    Ok(joined.into_iter().map(ListSource::Held).collect())
}

/// Each of `lists` merged from its runs: `written` holds, per partition,
/// the file of its run of each list (none when it has no rows on it).
fn merged_lists(
    runs: &ListRuns,
    lists: &[TargetList],
    written: Vec<Vec<Option<PathBuf>>>,
) -> Result<Vec<ListSource>> {
    lists
        .par_iter()
        .enumerate()
        .map(|(i, &list)| {
            let of_list = written.iter().filter_map(|part| part[i].clone()).collect();
            Ok(ListSource::Stored(runs.merge(list, of_list)?))
        })
        .collect()
}

/// The NPS stage's results, the survey files they were read from, and
/// the frames built from them (in the stage's time).
struct SurveyStage {
    files: Vec<InputFile>,
    output: NpsOutput,
    /// The NPS tables, in publishing order.
    tables: NamedFrames,
    /// The survey input's rows of the `rejects` table.
    rejects: DataFrame,
}

/// The stage `nps`, when `[surveys]` is configured: the survey files are
/// read here (io), the stage works on the rows in memory. `months`: the
/// month calendar and the KPIs' monthly counts.
fn nps(
    (pipeline, reads): (&Pipeline, SurveyReads),
    (history, parts): (&OrderHistory, &CustomerParts),
    months: (&Calendar, &MonthlyCounts),
    tiers: Option<&Tiers>,
    clock: &mut StageClock,
) -> Result<Option<SurveyStage>> {
    let Some(surveys) = &pipeline.config.surveys else {
        return Ok(None);
    };
    clock
        .time(NPS_STAGE, || {
            let files = resolve_survey_inputs(pipeline)?;
            let tier_names = tiers.map(|t| t.names.as_slice());
            let counter = NpsCounter {
                calendar: months.0.clone(),
                as_of: history.as_of,
                tiers: tier_names.map(<[String]>::len),
            };
            let validated = validated_surveys(
                (pipeline, surveys, &reads),
                &files,
                (history, parts),
                &counter,
            )?;
            let output = nps_stage(validated, months, tier_names);
            let tables = nps_tables(&output, months.0)?;
            let rejects = rejects_table(&output.rejects, &files)?;
            Ok(SurveyStage {
                files,
                output,
                tables,
                rejects,
            })
        })
        .map(Some)
}

/// How the survey input is read within the memory budget, and where its
/// customer partitions are validated and counted.
#[derive(Clone)]
struct SurveyReads {
    /// Rows of a raw chunk, as for the order input.
    chunk_rows: usize,
    /// Bytes of checked rows (29 bytes and the id's text a row) held by
    /// customer partition until every file is read, an eighth of the
    /// budget (the CLV stage runs beside this one); past it the largest
    /// partitions' rows go to `spill`, which costs little: they are
    /// written once and read once. None is held when a cluster's
    /// executors read and count them.
    held_bytes: usize,
    spill: Arc<SpillDir>,
    /// The customer partitions' ranges of ids, which route each row.
    customer_ranges: Arc<CustomerRanges>,
    /// A cluster's executors, which read the survey files and hold the
    /// customers' ids and orders, when they stored the per-customer
    /// results; this process otherwise.
    counted_elsewhere: Option<Arc<dyn NpsElsewhere>>,
}

impl SurveyReads {
    fn within(
        options: &RunOptions,
        (limit, spill): (u64, &Arc<SpillDir>),
        (ranges, counted_elsewhere): (CustomerRanges, Option<Arc<dyn NpsElsewhere>>),
    ) -> SurveyReads {
        SurveyReads {
            chunk_rows: chunk_rows_within(options, limit),
            held_bytes: match counted_elsewhere {
                Some(_) => 0,
                None => (limit / 8) as usize,
            },
            spill: Arc::clone(spill),
            customer_ranges: Arc::new(ranges),
            counted_elsewhere,
        }
    }
}

/// The survey rows of `files`, read a chunk at a time and validated
/// against the customers of `history` and `parts`, each customer
/// partition's accepted responses counted by `counter` (both on a
/// cluster's executors when `reads` says so); the raw records
/// of the rejects found once every chunk was read (duplicates and orders
/// decide them) are read again from the files.
fn validated_surveys(
    (pipeline, surveys, reads): (&Pipeline, &SurveysConfig, &SurveyReads),
    files: &[InputFile],
    (history, parts): (&OrderHistory, &CustomerParts),
    counter: &NpsCounter,
) -> Result<SurveyValidation<NpsPartial>> {
    use crate::io::spill::SURVEYS;
    let rules = SurveyRules::of(pipeline, surveys);
    let partitions = SurveyPartitions {
        ranges: &reads.customer_ranges,
        count: parts.part_count(),
    };
    let spill = reads.spill.store::<CheckedRows>(SURVEYS);
    let memory = SurveyMemory {
        held_bytes: reads.held_bytes,
        spill: &spill,
    };
    let mut check = SurveyCheck::new((&rules, files), (partitions, history.as_of), memory);
    let started = Instant::now();
    let on = (history.as_of, &partitions);
    read_and_check(&mut check, (pipeline, surveys, reads), (files, on))?;
    tracing::debug!(
        seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
        "survey rows read and checked"
    );
    let tiers_of = |codes: &[u32]| parts.tiers_of(codes);
    let mut validated = match &reads.counted_elsewhere {
        Some(there) => check.finish_with(|checked| {
            counted_elsewhere(checked, &**there, (counter, &parts.part_starts()))
        })?,
        None => check.finish((history, parts), |responses, orders| {
            crate::faults::crash_point("run::surveys_counted_here");
            counter.count((responses, orders), tiers_of)
        })?,
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::debug!(
        seconds = format!("{seconds:.3}"),
        "survey responses validated"
    );
    let wanted = rows_missing_raw(&validated.rejects);
    let spec = survey_input(pipeline, surveys);
    let texts = raw_records(&spec, files, &wanted, reads.chunk_rows)?;
    fill_raw(&mut validated.rejects, &texts);
    Ok(validated)
}

/// The survey `files` read and checked into `check`, on as_of and routed
/// to the partitions (`on`): by a cluster's executors when they count the
/// partitions, here otherwise.
fn read_and_check(
    check: &mut SurveyCheck<'_>,
    (pipeline, surveys, reads): (&Pipeline, &SurveysConfig, &SurveyReads),
    (files, on): (&[InputFile], (i32, &SurveyPartitions<'_>)),
) -> Result<()> {
    if let Some(there) = &reads.counted_elsewhere {
        for unit in there.check(pipeline, (files, reads.chunk_rows), on)? {
            check.add_checked(unit)?;
        }
        return Ok(());
    }
    crate::faults::crash_point("run::surveys_read_here");
    // The next chunk is read while one is checked: neither the reader nor
    // the checks keep both cores busy alone.
    let read = |each: &mut dyn FnMut(RawBatch) -> Result<()>| {
        read_survey_chunks(pipeline, surveys, files, reads.chunk_rows, each)
    };
    let times = read_ahead(read, |batch| check.add(&batch))?;
    tracing::debug!(
        reading = format!("{:.3}", times.reading),
        checking = format!("{:.3}", times.consuming),
        "survey rows read and checked here"
    );
    Ok(())
}

/// Every partition's checked survey rows validated and counted by `there`,
/// where they were read and checked: none may be held here.
fn counted_elsewhere(
    checked: Stored<'_, CheckedRows>,
    there: &dyn NpsElsewhere,
    (counter, starts): (&NpsCounter, &[usize]),
) -> Result<Vec<CountedPart<NpsPartial>>> {
    if checked.held_bytes() != 0 {
        return Err(Error::Cluster(format!(
            "{} bytes of survey rows were held, not spilled for the executors",
            checked.held_bytes()
        )));
    }
    there.count(counter, starts)
}

/// The order input's rejects, then the survey input's.
fn stack_rejects(orders: DataFrame, surveys: &DataFrame) -> Result<DataFrame> {
    let mut rejects = orders.vstack(surveys)?;
    rejects.rechunk_mut();
    Ok(rejects)
}

/// The NPS stage's tables, added to `published`, and what the manifest
/// records of the survey input.
fn survey_tables_and_run(nps: SurveyStage, published: &mut Vec<Table>) -> SurveyRun {
    published.extend(named(nps.tables));
    SurveyRun {
        files: nps.files,
        counts: nps.output.counts,
        rejects_by_reason: nps.output.rejects_by_reason,
    }
}

/// The stage `checks`: the reconciliation of the order input (its row
/// counts and accepted cents against every table), then the dimensions',
/// the tier migration's and the surveys' checks. The run fails on any
/// mismatch.
fn checks_stage(
    (counts, accepted_cents): (&RowCounts, i64),
    totals: CustomerTotals,
    described: &Described,
    tier_check: Option<Check>,
    nps: Option<&SurveyStage>,
) -> Result<(Vec<Check>, DataFrame)> {
    let grid = &described.grid;
    let mut checks = reconcile(counts, accepted_cents, totals, grid, &described.monthly);
    checks.extend(described.checks.iter().cloned());
    checks.extend(tier_check);
    checks.extend(
        nps.into_iter()
            .flat_map(|n| n.output.checks.iter().cloned()),
    );
    require_all_passed(&checks)?;
    let frame = checks_table(&checks)?;
    Ok((checks, frame))
}

/// A computed table under its declared name.
fn table(schema: &'static TableSchema, frame: DataFrame) -> Table {
    Table::whole(schema.name, frame)
}

/// Every table the run computed against its declaration in [`schema`]: a
/// mismatch is a programming error, caught before anything is written.
fn check_declared(pipeline: &Pipeline, computed: &Computed) -> Result<()> {
    let config = &pipeline.config;
    let options = schema::Options {
        clv: config.clv.enabled,
        loyalty: config.loyalty.is_some(),
        surveys: config.surveys.is_some(),
        dimensions: config.columns.dimensions.clone(),
        cohort_period: config.business.cohort_period,
    };
    // The columns of an empty slice: a produced table is not built whole.
    let heads: Vec<(&str, DataFrame)> = computed
        .tables
        .iter()
        .map(|t| (t.name, t.rows((0, 0))))
        .collect();
    let published = heads.iter().map(|(name, head)| (*name, head));
    schema::check_published(published, &options)
        .map_err(|message| Error::output(&pipeline.path, message))
}

/// What a published run left behind.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub manifest: Manifest,
    /// What went wrong after the run was published (cleanup of old runs):
    /// the run stands, the operator should look.
    pub warnings: Vec<String>,
}

/// What `run` did.
#[derive(Debug)]
pub enum RunResult {
    Published(Box<RunOutcome>),
    /// The current run has the same run key: nothing to do.
    AlreadyPublished {
        run_id: String,
        run_key: String,
    },
}

/// The run key: a hash of everything that determines a run's tables (the
/// pipeline text, each input's path, size and modification time, the
/// requested as_of and the tool version). Two runs with the same key would
/// publish the same contents.
pub fn run_key(pipeline: &Pipeline, files: &[InputFile], as_of: Option<NaiveDate>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    hasher.update([0]);
    hasher.update(&pipeline.source_text);
    hasher.update([0]);
    for f in files {
        let modified = f
            .modified
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        hasher.update(format!("{}\t{}\t{modified}\n", f.name(), f.size));
    }
    hasher.update(format!("as_of={as_of:?}"));
    crate::io::publish::hex(&hasher.finalize())
}

/// Runs the pipeline and publishes its tables, holding the output
/// directory's lock (or, in object storage, its lease) throughout.
pub fn run(pipeline: &Pipeline, options: &RunOptions) -> Result<RunResult> {
    let out_dir = options
        .out_dir
        .clone()
        .unwrap_or_else(|| pipeline.output_dir.clone());
    // Work directories of killed runs (object-store inputs or output).
    sweep_work_dirs();
    let result = match StoreUrl::of_path(&out_dir) {
        Some(url) => run_to_store(pipeline, options, &url),
        None => run_in(pipeline, options, &out_dir),
    };
    if let Ok(RunResult::Published(outcome)) = &result {
        warn_if_over_budget(&outcome.manifest);
    }
    result
}

/// How far the peak memory may pass the budget before the run says so: a
/// quarter (allocator slack and the stages' own buffers).
const BUDGET_SLACK: f64 = 1.25;

/// Says when the run's peak memory passed its budget by more than
/// [`BUDGET_SLACK`], and why as far as known ([`why_over_budget`]).
fn warn_if_over_budget(manifest: &Manifest) {
    let Some(resources) = &manifest.resources else {
        return;
    };
    let limit = resources.memory_limit_bytes;
    let Some(first) = first_over_budget(&manifest.stages, limit) else {
        return;
    };
    let why = why_over_budget(&first.stage);
    tracing::warn!(
        peak_mib = manifest.peak_rss_bytes() / (1 << 20),
        budget_mib = limit / (1 << 20),
        stage = first.stage.as_str(),
        "the run's peak memory passed its memory budget by more than a quarter, from the stage named on: {why} (README: Scale and memory); the tables are the same under any budget"
    );
}

/// What holds the memory from `stage` on, as far as known: what the
/// budget does not bound yet (README: Scale and memory).
fn why_over_budget(stage: &str) -> &'static str {
    match stage {
        stage if PARTITIONED_STAGES.contains(&stage) => {
            "the budget is smaller than what that stage holds at once"
        }
        REPORT_STEP => "the HTML report reads the published tables a row group at a time (a few columns of up to 1,048,576 customers) beside whatever the run still holds",
        NPS_STAGE => "the NPS stage holds two raw chunks of a survey file (one read while one is checked), up to a quarter of the budget of checked survey rows until their customers are looked up and an eighth of coded ones (the rest spilled), a few customer partitions' responses at a time, and its rejects with their raw records, which `[rejects] max_reject_ratio` bounds but the budget does not; the CLV stage runs beside it",
        CLV_STAGE => "the CLV stage holds its fits' unique (frequency, recency, T) rows (on daily data about one row for 12 input lines): about 55 bytes a row while they are folded, with their index and their customers' spends, and 45 after the fits, beside the holdout's calibration rows and while the forecast is made; short of memory nothing per row while the customers are scored, but with Pareto/NBD (65 bytes a row), which the budget does not bound but leaves room for by spilling the history",
        _ => "after `orders`, every customer's id is held in memory unless the history was spilled (and the target lists' rows when the per-customer results are not spilled), which the budget does not bound yet",
    }
}

/// The CLV stage's name in the run's timings.
const CLV_STAGE: &str = "clv";

/// The NPS stage's name in the run's timings.
const NPS_STAGE: &str = "nps";

/// The stages the memory budget bounds (the partitioned plan's).
const PARTITIONED_STAGES: [&str; 3] = ["load", "validate", "orders"];

/// The first stage after which the peak memory passed `limit` by more
/// than [`BUDGET_SLACK`].
fn first_over_budget(stages: &[StageRecord], limit: u64) -> Option<&StageRecord> {
    stages
        .iter()
        .find(|s| s.peak_rss_bytes as f64 > limit as f64 * BUDGET_SLACK)
}

/// A run whose output is in object storage: with the output's lease held,
/// the current run's manifest and the tables the comparison reads are
/// fetched into a local work directory, the run is published there as in
/// any local output, then uploaded and made current (`io::remote::output`
/// says how).
fn run_to_store(pipeline: &Pipeline, options: &RunOptions, url: &StoreUrl) -> Result<RunResult> {
    let remote = RemoteOutput::open(url)?;
    let work = WorkDir::create()?;
    let local = remote
        .stage_current(work.path(), &crate::stages::compare::tables_read())
        .and_then(|()| run_in(pipeline, options, work.path()));
    let mut outcome = match local {
        Ok(RunResult::Published(outcome)) => outcome,
        other => {
            remote.release();
            return other;
        }
    };
    let output = &pipeline.config.output;
    let plan = HistoryPlan {
        tables: &output.history,
        keep_days: output.history_keep_days,
    };
    let as_of = NaiveDate::parse_from_str(&outcome.manifest.as_of, "%Y-%m-%d")
        .map_err(|e| Error::output(&outcome.run_dir, format!("the manifest's as_of: {e}")))?;
    let published = remote.publish(
        &outcome.run_dir,
        &outcome.run_id,
        output.keep_runs as usize,
        (&plan, as_of),
    )?;
    if !published.removed.is_empty() {
        tracing::info!(removed = ?published.removed, "old or incomplete runs removed");
    }
    outcome.run_dir = PathBuf::from(published.url);
    outcome.warnings.extend(published.warnings);
    Ok(RunResult::Published(outcome))
}

/// [`run`] into the local output directory `out_dir`.
fn run_in(pipeline: &Pipeline, options: &RunOptions, out_dir: &Path) -> Result<RunResult> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let out_dir = out_dir.to_path_buf();
    let _lock = lock_output(&out_dir)?;
    // Test hook: hold the lock a while (`run::locked=sleep(300)`).
    crate::faults::crash_point("run::locked");
    // Before computing: a run that could not be published is not started.
    check_output_layout(&out_dir)?;
    sweep_temporaries(&out_dir);
    sweep_spill_dirs(&out_dir);
    let files = resolve_inputs(&InputSpec::orders(pipeline))?;
    let as_of_requested = options.as_of.or(pipeline.config.business.as_of);
    // Survey files are inputs too: a changed survey file is a new run.
    let survey_files = resolve_survey_inputs(pipeline)?;
    let key = run_key(
        pipeline,
        &[files.as_slice(), survey_files.as_slice()].concat(),
        as_of_requested,
    );
    if !options.force {
        if let Some(current) = current_manifest(&out_dir).filter(|m| m.run_key == key) {
            return Ok(RunResult::AlreadyPublished {
                run_id: current.run_id,
                run_key: key,
            });
        }
    }
    let run = RunIdentity {
        run_id: new_run_id(started_at, std::process::id()),
        run_key: key,
        started_at,
        clock,
    };
    let previous = current_run_dir(&out_dir);
    let options = RunOptions {
        spill_parent: Some(out_dir.clone()),
        compare_with: previous.clone(),
        run_id: Some(run.run_id.clone()),
        ..options.clone()
    };
    let computed = compute_files(pipeline, files, &options)?;
    refuse_failed_gates(&computed, previous.as_deref())?;
    let (manifest, published) = publish(pipeline, &computed, &out_dir, &run)?;
    Ok(RunResult::Published(Box::new(RunOutcome {
        run_id: run.run_id,
        run_dir: published.dir().to_path_buf(),
        manifest,
        warnings: published.warnings().to_vec(),
    })))
}

/// `[output] history`: the published run's selected tables, snapshotted
/// by as_of; a problem is one of the run's warnings.
fn append_history(pipeline: &Pipeline, as_of: NaiveDate, out_dir: &Path, run: &mut PublishedRun) {
    let output = &pipeline.config.output;
    if output.history.is_empty() {
        return;
    }
    let plan = HistoryPlan {
        tables: &output.history,
        keep_days: output.history_keep_days,
    };
    for warning in append_snapshots(out_dir, run.dir(), as_of, &plan) {
        tracing::warn!("{warning}");
        run.warn(warning);
    }
    crate::faults::crash_point("publish::history");
}

/// The run directory `OUT/current` points at, resolved now (old runs may
/// be removed while this one publishes), when it holds a manifest.
fn current_run_dir(out_dir: &Path) -> Option<PathBuf> {
    current_manifest(out_dir)?;
    out_dir.join("current").canonicalize().ok()
}

/// A `fail` gate that fired stops the run before anything is written:
/// `current` stays where it is.
fn refuse_failed_gates(computed: &Computed, previous: Option<&Path>) -> Result<()> {
    let failed = failed_gates(&computed.gates);
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::GatesFailed {
        gates: failed.iter().map(|g| g.describe()).collect(),
        current: previous.map(|p| p.display().to_string()),
    })
}

/// Publishes a computed run in the order io::publish's types enforce:
/// stage a new run directory, write and verify the tables, write the
/// report, seal with the manifest (written last), commit (flip `current`),
/// then remove old and incomplete runs. An error means nothing was
/// published (and the run directory is removed); problems after
/// publishing are the returned run's warnings.
fn publish(
    pipeline: &Pipeline,
    computed: &Computed,
    out_dir: &Path,
    run: &RunIdentity,
) -> Result<(Manifest, PublishedRun)> {
    // Removed again if anything fails before it is published.
    let staged = StagedRun::create(out_dir, &run.run_id)?
        .within_budget(computed.resources.memory_limit_bytes);
    crate::faults::crash_point("publish::run_dir_created");
    let writing = Instant::now();
    let metadata = TableMetadata::of(pipeline, &run.run_id, computed.as_of);
    let written = staged.write_tables(&computed.tables, |table| metadata.for_table(table))?;
    let mut stages = computed.stages.clone();
    stages.push(StageRecord::ended(
        "publish",
        writing.elapsed().as_secs_f64(),
    ));
    let facts = computed.facts(stages, written.outputs().to_vec());
    let mut manifest = Manifest::new(pipeline, run, facts);
    // The report is part of the run: written before the manifest, which
    // records its step (the page's own stage table cannot).
    let reporting = Instant::now();
    let tables = ReportSource {
        computed,
        run_dir: written.dir(),
    };
    let report = crate::report::load::report_data(&manifest, &tables)?;
    written.write_file(REPORT_FILE, crate::report::render_html(&report).as_bytes())?;
    let report_step = StageRecord::ended(REPORT_STEP, reporting.elapsed().as_secs_f64());
    manifest.stages.push(report_step);
    // `Manifest::new` set the wall time to publishing, which the page
    // shows; the manifest's is to its sealing, the report's step included.
    manifest.wall_seconds = Some(run.elapsed_seconds());
    let mut published = written.seal(&manifest)?.commit()?;
    // Published: from here on nothing returns an error.
    let removed = published.clean_up(pipeline.config.output.keep_runs as usize);
    append_history(pipeline, computed.as_of, out_dir, &mut published);
    crate::faults::crash_point("publish::swept");
    if !removed.is_empty() {
        tracing::info!(?removed, "old or incomplete runs removed");
    }
    Ok((manifest, published))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first stage past a quarter over the budget is named; one at
    /// exactly a quarter over is not.
    #[test]
    fn the_first_stage_past_the_budget_by_a_quarter_is_named() {
        let mib = 1u64 << 20;
        let record = |stage: &str, peak: u64| StageRecord {
            stage: stage.into(),
            seconds: 1.0,
            peak_rss_bytes: peak * mib,
        };
        let stages = [
            record("validate", 900),
            record("orders", 1280),
            record("customers", 1500),
            record("kpis", 1700),
        ];
        assert_eq!(
            first_over_budget(&stages, 1024 * mib).unwrap().stage,
            "customers"
        );
        assert_eq!(
            first_over_budget(&stages, 512 * mib).unwrap().stage,
            "validate"
        );
        assert!(first_over_budget(&stages, 2048 * mib).is_none());
        assert!(first_over_budget(&[], mib).is_none());
        // The report's step, recorded after publishing, is seen too, and
        // the warning says what it holds.
        let with_report = [record("publish", 900), record(REPORT_STEP, 1400)];
        let first = first_over_budget(&with_report, 1024 * mib).unwrap();
        assert_eq!(first.stage, REPORT_STEP);
        assert!(why_over_budget(&first.stage).contains("report"));
        assert!(why_over_budget("orders").contains("that stage holds"));
        assert!(why_over_budget(NPS_STAGE).contains("checked survey rows"));
        assert!(why_over_budget("targets").contains("customer's id"));
        assert!(why_over_budget("clv").contains("unique (frequency, recency, T) rows"));
    }

    /// The history (and with it the per-customer results) is spilled when
    /// it would take more than half the budget, and with the CLV stage on
    /// when it and the CLV stage's rows would: the 14.7 M lines of the
    /// generated 10 M orders are held under 1 GiB either way, and under
    /// 512 MiB only with the CLV stage off (with it on, held, the run
    /// peaked at 730 MiB in the CLV stage).
    #[test]
    fn the_history_is_spilled_when_it_and_the_clv_rows_take_half_the_budget() {
        let lines = 14_708_148;
        let mib = 1u64 << 20;
        let spills = |limit: u64, clv: bool| {
            PartitionPlan::of(&RunOptions::default(), lines, limit * mib, clv).spill_history
        };
        assert!(!spills(1024, false) && !spills(1024, true));
        assert!(!spills(512, false));
        assert!(spills(512, true));
        assert!(spills(256, false) && spills(256, true));
    }

    /// `auto` compresses when the lines would take more than half the
    /// free space, which a real file system says; the settings override.
    #[test]
    fn spills_are_compressed_when_the_disk_is_short() {
        let here = std::env::temp_dir();
        let free = crate::io::spill::free_bytes(&here).expect("a file system");
        let rows_filling = |share: u64| free / share / LINE_BYTES;
        assert!(!compress_spills(
            SpillCompression::Auto,
            &here,
            rows_filling(4)
        ));
        assert!(compress_spills(
            SpillCompression::Auto,
            &here,
            rows_filling(1)
        ));
        assert!(compress_spills(SpillCompression::Zstd, &here, 0));
        assert!(!compress_spills(SpillCompression::None, &here, u64::MAX));
        let nowhere = here.join("no such directory").join("below");
        assert_eq!(crate::io::spill::free_bytes(&nowhere), None);
        assert!(!compress_spills(SpillCompression::Auto, &nowhere, u64::MAX));
    }

    /// Both sides run and are recorded, the main side's stages first; a
    /// failure on either side is the result, after both have ended.
    #[test]
    fn stages_beside_each_other_are_all_recorded() {
        let mut clock = StageClock::new();
        let (a, b) = clock
            .beside(
                |c| {
                    c.time("cohorts", || Ok(1))?;
                    c.time("kpis", || Ok(2))
                },
                |c| c.time("clv", || Ok("fitted")),
            )
            .unwrap();
        assert_eq!((a, b), (2, "fitted"));
        let names: Vec<&str> = clock.records.iter().map(|r| r.stage.as_str()).collect();
        assert_eq!(names, ["cohorts", "kpis", "clv"]);

        let side_ran = std::sync::atomic::AtomicBool::new(false);
        let failed = clock.beside(
            |c| {
                c.time("tiers", || {
                    Err::<(), _>(Error::Usage("tiers failed".into()))
                })
            },
            |c| {
                c.time("clv", || {
                    side_ran.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                })
            },
        );
        assert!(failed.is_err());
        assert!(side_ran.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(clock.records.last().unwrap().stage, "clv");
    }
}
