//! One run of a pipeline, stage by stage:
//! load → validate → orders → customers → cohorts → kpis → clv → segments →
//! tiers → targets → nps (with a survey input) → checks → publish.
//! [`compute`] does everything but the publishing, so tests can look at
//! the tables without touching the file system.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{NaiveDate, SecondsFormat, Utc};
use polars::prelude::DataFrame;

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::io::input::{
    parquet_rows, raw_records, read_chunks, resolve_inputs, FileFormat, InputFile, InputSpec,
    CHUNK_ROWS,
};
use crate::io::publish::{
    check_output_layout, lock_output, new_run_id, sha256_file, sweep_temporaries, verify_parquet,
    write_file_atomically, write_parquet, PublishedRun, StagedRun, Table, MANIFEST_FILE,
};
use crate::io::surveys::{read_survey_files, resolve_survey_inputs};
use crate::manifest::{
    peak_rss_bytes, CheckRecord, InputRecord, Manifest, RowRecord, StageRecord, SurveysRecord,
    WrittenFile, SCHEMA_VERSION,
};
use crate::progress::Progress;
use crate::stages::calendar::Calendar;
use crate::stages::checks::{check, reconcile, require_all_passed, Check};
use crate::stages::clv::clv_stage;
use crate::stages::cohorts::cohort_grid;
use crate::stages::customers::summarize_customers;
use crate::stages::dimensions::slices;
use crate::stages::kpis::monthly_counts;
use crate::stages::nps::{nps_stage, SurveyRules};
use crate::stages::orders::{build_orders, RowCounts};
use crate::stages::rejects::{
    check_reject_share, counts_by_reason, fill_raw, no_orders_error, rows_missing_raw,
};
use crate::stages::targets::{assign_targets, target_lists, TargetInputs};
use crate::stages::tiers::{customer_tiers, migration_counts, Tiers};
use crate::stages::validate::LineCollector;
use crate::tables;
use crate::tables::checks::checks_table;
use crate::tables::clv::clv_tables;
use crate::tables::cohorts::{cohort_retention_table, retention_curve_table};
use crate::tables::customers::{customers_table, segments_table};
use crate::tables::dimensions::sliced_tables;
use crate::tables::kpis::kpis_monthly_table;
use crate::tables::nps::nps_tables;
use crate::tables::rejects::rejects_table;
use crate::tables::targets::target_tables;
use crate::tables::tiers::{tier_columns, tier_migration_table, TIER_MIGRATION};
use crate::time::{date_of, day_number};

/// The report's file name in a run directory.
pub const REPORT_FILE: &str = "report.html";

/// How to run (from the command line, not the pipeline file).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub as_of: Option<NaiveDate>,
    pub out_dir: Option<PathBuf>,
    /// Publish even when the current run has the same run key.
    pub force: bool,
    /// Progress bars (drawn only on a terminal).
    pub progress: Progress,
    /// Rows per chunk of Parquet input (default [`CHUNK_ROWS`]); tests set
    /// it small to prove that chunking changes nothing.
    pub chunk_rows: Option<usize>,
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
            .map(|t| &t.frame)
    }
}

/// Times stages and records peak memory after each.
struct StageClock {
    records: Vec<StageRecord>,
    started: Instant,
}

impl StageClock {
    fn new() -> StageClock {
        StageClock {
            records: Vec::new(),
            started: Instant::now(),
        }
    }

    fn done(&mut self, stage: &str) {
        self.record(stage, self.started.elapsed().as_secs_f64());
    }

    /// Records a stage whose time was summed over interleaved pieces (load
    /// and validate alternate chunk by chunk).
    fn record(&mut self, stage: &str, seconds: f64) {
        crate::faults::crash_point(&format!("stage::{stage}"));
        tracing::info!(stage, seconds = format!("{seconds:.3}"), "stage done");
        self.records.push(StageRecord {
            stage: stage.to_string(),
            seconds,
            peak_rss_bytes: peak_rss_bytes(),
        });
        self.started = Instant::now();
    }
}

/// Runs every stage up to (not including) publishing.
pub fn compute(pipeline: &Pipeline, options: &RunOptions) -> Result<Computed> {
    let files = resolve_inputs(&InputSpec::orders(pipeline))?;
    compute_files(pipeline, files, options)
}

/// [`compute`] over an already resolved list of input files.
pub fn compute_files(
    pipeline: &Pipeline,
    files: Vec<InputFile>,
    options: &RunOptions,
) -> Result<Computed> {
    let mut clock = StageClock::new();
    let has_order_id = pipeline.config.columns.order_id.is_some();
    // Load and validate alternate, one chunk of raw input at a time, so the
    // raw input never has to fit in memory at once.
    let expected_rows: usize = files
        .iter()
        .filter(|f| f.format == FileFormat::Parquet)
        .map(|f| parquet_rows(&f.path))
        .sum::<Result<usize>>()?;
    let all_parquet = files.iter().all(|f| f.format == FileFormat::Parquet);
    let bar = options.progress.stage(
        "load and validate",
        all_parquet.then_some(expected_rows as u64),
        "rows",
    );
    let chunk_rows = options.chunk_rows.unwrap_or(CHUNK_ROWS);
    let mut collector = LineCollector::new(pipeline, expected_rows);
    let (mut load_seconds, mut validate_seconds) = (0.0, 0.0);
    let mut reading = Instant::now();
    let input = InputSpec::orders(pipeline);
    for (i, file) in files.iter().enumerate() {
        read_chunks(&input, i as u32, file, has_order_id, chunk_rows, |batch| {
            load_seconds += reading.elapsed().as_secs_f64();
            let validating = Instant::now();
            collector.push(&file.path, &batch, &|n| bar.inc(n))?;
            drop(batch);
            validate_seconds += validating.elapsed().as_secs_f64();
            reading = Instant::now();
            Ok(())
        })?;
        load_seconds += reading.elapsed().as_secs_f64();
        reading = Instant::now();
    }
    bar.finish();
    let finishing = Instant::now();
    let (lines, mut rejects) = collector.finish();
    validate_seconds += finishing.elapsed().as_secs_f64();
    clock.record("load", load_seconds);
    clock.record("validate", validate_seconds);

    let as_of = options
        .as_of
        .or(pipeline.config.business.as_of)
        .map(day_number);
    let order_id_column = pipeline.config.columns.order_id.as_deref();
    let rows_read = lines.len() as u64;
    let orders =
        build_orders(lines, &mut rejects, order_id_column, as_of).map_err(|e| match e {
            Error::NoOrders { .. } => no_orders_error(&rejects, &files, rows_read, e),
            other => other,
        })?;
    let counts = orders.counts;
    let by_reason = counts_by_reason(&rejects);
    debug_assert_eq!(rejects.len() as u64, counts.rejected);
    check_reject_share(
        &rejects,
        &files,
        counts.rows_read,
        pipeline.config.rejects.max_reject_ratio,
        "rows",
        "",
    )?;
    let texts = raw_records(&input, &files, &rows_missing_raw(&rejects), chunk_rows)?;
    fill_raw(&mut rejects, &texts);
    let rejects_frame = rejects_table(&rejects, &files)?;
    drop(rejects);
    let history = orders.history;
    // Before any per-period table is allocated (README "Pipelines", limits).
    Calendar::check_span(&history, pipeline.config.business.cohort_period)?;
    clock.done("orders");

    let summary = summarize_customers(&history);
    clock.done("customers");

    let calendar = Calendar::of(&history);
    // The cohort grid has its own unit; KPIs stay monthly.
    let cohort_calendar = Calendar::of_unit(&history, pipeline.config.business.cohort_period);
    let grid = cohort_grid(&history, &cohort_calendar);
    let mut cohorts_frame = cohort_retention_table(&grid, &cohort_calendar)?;
    let mut curve_frame = retention_curve_table(&grid, &cohort_calendar)?;
    clock.done("cohorts");

    let window = pipeline.config.business.activity_window_days;
    let monthly = monthly_counts(&history, &calendar, window);
    let mut kpis_frame = kpis_monthly_table(&monthly, &calendar)?;
    clock.done("kpis");

    // With dimensions, the three tables are replaced by their slices (the
    // (all) slice first, equal to the tables just computed).
    let mut dimension_checks = Vec::new();
    if !history.dimensions.is_empty() {
        let sliced = sliced_tables(
            &history,
            &slices(&history),
            &cohort_calendar,
            &calendar,
            window,
            &grid,
            &monthly,
        )?;
        cohorts_frame = sliced.cohort_retention;
        curve_frame = sliced.retention_curve;
        kpis_frame = sliced.kpis_monthly;
        dimension_checks = sliced.checks;
        clock.done("dimensions");
    }

    let clv = if pipeline.config.clv.enabled {
        let output = clv_stage(&history, &summary, &monthly, &pipeline.config.clv);
        clock.done("clv");
        Some(output)
    } else {
        None
    };
    let clv_frames = match &clv {
        Some(output) => clv_tables(output)?,
        None => Vec::new(),
    };
    let scores = clv.as_ref().map(|c| &c.scores);
    let segments_frame = segments_table(&summary, scores)?;
    clock.done("segments");

    let tiers = pipeline.config.loyalty.as_ref().map(Tiers::of);
    let by_customer = customer_tiers(&history, tiers.as_ref());
    let migration = tiers
        .as_ref()
        .map(|t| migration_counts(&history, &calendar, t));
    let migration_frame = match (&migration, &tiers) {
        (Some(m), Some(t)) => Some(tier_migration_table(m, &calendar, t)?),
        _ => None,
    };
    clock.done("tiers");

    let target_inputs = TargetInputs {
        history: &history,
        summary: &summary,
        window,
        tiers: tiers.as_ref(),
        customer_tiers: &by_customer,
        clv: scores,
        config: &pipeline.config.targets,
    };
    let targets = assign_targets(&target_inputs);
    let target_frames = target_tables(&target_lists(&target_inputs, &targets))?;
    let customers_frame = customers_table(
        &history,
        &summary,
        scores,
        tier_columns(&by_customer, tiers.as_ref()),
    )?;
    clock.done("targets");

    let nps = match &pipeline.config.surveys {
        Some(surveys) => {
            let survey_files = resolve_survey_inputs(pipeline)?;
            let batches = read_survey_files(pipeline, surveys, &survey_files)?;
            let tier_of = match (&tiers, &by_customer.tier) {
                (Some(t), Some(of)) => Some((t.names.as_slice(), of.as_slice())),
                _ => None,
            };
            let output = nps_stage(
                &SurveyRules::of(pipeline, surveys),
                &survey_files,
                batches,
                &history,
                &calendar,
                tier_of,
            )?;
            clock.done("nps");
            Some((survey_files, output))
        }
        None => None,
    };

    let mut checks = reconcile(&counts, orders.accepted_cents, &summary, &grid, &monthly);
    checks.extend(dimension_checks);
    if let Some(m) = &migration {
        checks.push(check(
            "customers = sum of tier_migration in as_of's month",
            summary.orders.len() as i64,
            m.month_total(calendar.len() - 1),
        ));
    }
    let mut nps_frames = Vec::new();
    let mut survey_run = None;
    let mut rejects_frame = rejects_frame;
    if let Some((survey_files, n)) = nps {
        // Survey rejects after the order rejects; `source` tells them apart.
        rejects_frame = rejects_frame.vstack(&rejects_table(&n.rejects, &survey_files)?)?;
        rejects_frame.rechunk_mut();
        nps_frames = nps_tables(&n, &calendar)?;
        checks.extend(n.checks);
        survey_run = Some(SurveyRun {
            files: survey_files,
            counts: n.counts,
            rejects_by_reason: n.rejects_by_reason,
        });
    }
    require_all_passed(&checks)?;
    let checks_frame = checks_table(&checks)?;
    clock.done("checks");

    let computed = Computed {
        files,
        as_of: date_of(history.as_of),
        counts,
        rejects_by_reason: by_reason,
        customers: history.customers() as u64,
        checks,
        tables: vec![
            Table {
                name: "customers",
                frame: customers_frame,
            },
            Table {
                name: "cohort_retention",
                frame: cohorts_frame,
            },
            Table {
                name: "retention_curve",
                frame: curve_frame,
            },
            Table {
                name: "kpis_monthly",
                frame: kpis_frame,
            },
            Table {
                name: "segments",
                frame: segments_frame,
            },
        ]
        .into_iter()
        .chain(migration_frame.map(|frame| Table {
            name: TIER_MIGRATION.name,
            frame,
        }))
        .chain(
            clv_frames
                .into_iter()
                .chain(target_frames)
                .map(|(name, frame)| Table { name, frame }),
        )
        .chain(
            nps_frames
                .into_iter()
                .map(|(name, frame)| Table { name, frame }),
        )
        .chain([
            Table {
                name: "rejects",
                frame: rejects_frame,
            },
            Table {
                name: "checks",
                frame: checks_frame,
            },
        ])
        .collect(),
        stages: clock.records,
        surveys: survey_run,
    };
    check_declared(pipeline, &computed)?;
    Ok(computed)
}

/// Every table the run computed against its declaration in [`tables`]: a
/// mismatch is a programming error, caught before anything is written.
fn check_declared(pipeline: &Pipeline, computed: &Computed) -> Result<()> {
    let config = &pipeline.config;
    let options = tables::Options {
        clv: config.clv.enabled,
        loyalty: config.loyalty.is_some(),
        surveys: config.surveys.is_some(),
        dimensions: config.columns.dimensions.clone(),
        cohort_period: config.business.cohort_period,
    };
    let published = computed.tables.iter().map(|t| (t.name, &t.frame));
    tables::check_published(published, &options)
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
        hasher.update(format!("{}\t{}\t{modified}\n", f.path.display(), f.size));
    }
    hasher.update(format!("as_of={as_of:?}"));
    crate::io::publish::hex(&hasher.finalize())
}

/// The manifest of the run `OUT/current` points at, if it reads.
pub fn current_manifest(out_dir: &std::path::Path) -> Option<Manifest> {
    let bytes = std::fs::read(out_dir.join("current").join(MANIFEST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Runs the pipeline and publishes its tables, holding the output
/// directory's lock throughout.
pub fn run(pipeline: &Pipeline, options: &RunOptions) -> Result<RunResult> {
    let started_at = Utc::now();
    let out_dir = options
        .out_dir
        .clone()
        .unwrap_or_else(|| pipeline.output_dir.clone());
    let _lock = lock_output(&out_dir)?;
    // Test hook: hold the lock a while (`run::locked=sleep(300)`).
    crate::faults::crash_point("run::locked");
    // Before computing: a run that could not be published is not started.
    check_output_layout(&out_dir)?;
    sweep_temporaries(&out_dir);
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
    let computed = compute_files(pipeline, files, options)?;
    let run_id = new_run_id(started_at, std::process::id());
    // Removed again if anything fails before it is published.
    let staged = StagedRun::create(&out_dir, &run_id)?;
    crate::faults::crash_point("publish::run_dir_created");
    let (manifest, published) = publish(pipeline, &computed, staged, &run_id, &key, started_at)?;
    Ok(RunResult::Published(Box::new(RunOutcome {
        run_id,
        run_dir: published.dir().to_path_buf(),
        manifest,
        warnings: published.warnings().to_vec(),
    })))
}

fn input_record(f: &InputFile) -> InputRecord {
    InputRecord {
        path: f.path.display().to_string(),
        format: f.format.name().to_string(),
        size_bytes: f.size,
        modified: f
            .modified
            .map(|t| chrono::DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)),
    }
}

fn row_record(c: &RowCounts) -> RowRecord {
    RowRecord {
        read: c.rows_read,
        accepted: c.accepted,
        rejected: c.rejected,
        excluded: c.excluded(),
        excluded_by_filter: c.excluded_by_filter,
        excluded_after_as_of: c.excluded_after_as_of,
        duplicates: c.duplicates,
    }
}

/// Writes the run's tables, report and manifest into `staged`, publishes
/// it, then removes old and incomplete runs. An error means nothing was
/// published (and `staged` is removed); problems after publishing are the
/// returned run's warnings.
fn publish(
    pipeline: &Pipeline,
    computed: &Computed,
    staged: StagedRun,
    run_id: &str,
    run_key: &str,
    started_at: chrono::DateTime<Utc>,
) -> Result<(Manifest, PublishedRun)> {
    let clock_start = Instant::now();
    let run_dir = staged.dir();
    let business = &pipeline.config.business;
    let dimensions = &pipeline.config.columns.dimensions;
    let metadata = |table: &str| -> Vec<(String, String)> {
        let mut pairs = vec![
            ("retention.table".into(), table.to_string()),
            ("retention.run_id".into(), run_id.to_string()),
            ("retention.as_of".into(), computed.as_of.to_string()),
            (
                "retention.time_zone".into(),
                pipeline.time_zone.name().to_string(),
            ),
            (
                "retention.activity_window_days".into(),
                business.activity_window_days.to_string(),
            ),
            (
                "retention.cohort_period".into(),
                business.cohort_period.name().to_string(),
            ),
            (
                "retention.schema_version".into(),
                SCHEMA_VERSION.to_string(),
            ),
            (
                "retention.tool_version".into(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ];
        // Only with dimensions, so unsliced runs write what they always did;
        // a JSON array, since a column name may hold a comma.
        if !dimensions.is_empty() {
            pairs.push((
                "retention.dimensions".into(),
                serde_json::Value::from(dimensions.clone()).to_string(),
            ));
        }
        pairs
    };
    let mut outputs = Vec::new();
    for table in &computed.tables {
        let file = format!("{}.parquet", table.name);
        let path = run_dir.join(&file);
        let bytes = write_parquet(&table.frame, &path, &metadata(table.name))?;
        verify_parquet(&table.frame, &path)?;
        crate::faults::crash_point(&format!("publish::verified::{}", table.name));
        outputs.push(WrittenFile {
            table: table.name.to_string(),
            file,
            rows: table.frame.height() as u64,
            bytes,
            sha256: sha256_file(&path)?,
        });
    }
    let mut stages = computed.stages.clone();
    stages.push(StageRecord {
        stage: "publish".into(),
        seconds: clock_start.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes(),
    });
    let c = &computed.counts;
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: run_id.to_string(),
        run_key: run_key.to_string(),
        pipeline: pipeline.name.clone(),
        pipeline_path: pipeline.path.display().to_string(),
        as_of: computed.as_of.to_string(),
        time_zone: pipeline.time_zone.name().to_string(),
        activity_window_days: business.activity_window_days,
        cohort_period: business.cohort_period.name().to_string(),
        dimensions: pipeline.config.columns.dimensions.clone(),
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        inputs: computed.files.iter().map(input_record).collect(),
        rows: row_record(c),
        rejects_by_reason: computed
            .rejects_by_reason
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        customers: computed.customers,
        surveys: computed.surveys.as_ref().map(|s| SurveysRecord {
            inputs: s.files.iter().map(input_record).collect(),
            rows: row_record(&s.counts),
            rejects_by_reason: s
                .rejects_by_reason
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }),
        stages,
        checks: computed
            .checks
            .iter()
            .map(|c| CheckRecord {
                check: c.check.clone(),
                expected: c.expected,
                actual: c.actual,
                passed: c.passed,
            })
            .collect(),
        outputs,
        report: Some(REPORT_FILE.to_string()),
    };
    // The report is part of the run: written before the manifest.
    let data =
        crate::report::load::report_data(&manifest, |name| Ok(computed.table(name).cloned()))?;
    write_file_atomically(
        &run_dir.join(REPORT_FILE),
        crate::report::render_html(&data).as_bytes(),
    )?;
    let mut published = staged.seal(&manifest)?.commit()?;
    // Published: from here on nothing returns an error.
    let removed = published.clean_up(pipeline.config.output.keep_runs as usize);
    crate::faults::crash_point("publish::swept");
    if !removed.is_empty() {
        tracing::info!(?removed, "old or incomplete runs removed");
    }
    Ok((manifest, published))
}
