//! The client side of `--engine ballista`: the reading of the input and
//! the orders stage as Ballista jobs, their steps the embedded engine's
//! (`stages::validate::LineScatter`, `stages::orders::steps`).
//!
//! 1. The read job ([`read_on_cluster`], `super::read`): each unit of the
//!    input read, checked and scattered into line pieces on an executor,
//!    written to the unit's file in the run's spill directory, which
//!    every executor sees; the client merges what the units know of
//!    their lines and writes it there.
//! 2. Job one: each line partition read from the units' files and
//!    assembled into orders on an executor; the pieces of orders
//!    shuffled by customer partition (Ballista's hash
//!    shuffle, over Arrow Flight); each customer partition's pieces joined
//!    into a file. The line partitions' tallies come back to the client,
//!    which fixes as_of from them (the latest order date over every
//!    partition, when not given): the one barrier of the stage.
//! 3. Job two: each customer partition's history on as_of, on an executor.
//!    The history is always spilled on a cluster, whatever the memory
//!    budget (`stages::orders::OrderPlan::history`): each executor writes
//!    its partitions' entries to the history's spill files, makes their
//!    per-customer results from the entries it holds (the `customers`
//!    stage's work) and writes them, the partitions' ids and score columns
//!    with them, to the results' spill files; only the customer counts,
//!    dimension value counts and tallies come back, and the client joins
//!    them in id order as the embedded engine does. The client reads the
//!    score columns, the entries and the results a partition at a time, as
//!    the embedded engine reads its own.
//!
//!    With the CLV stage on, the same task folds the partition's results
//!    and entries for the CLV's fits into a fold file, which the client
//!    adds up in partition order ([`ClusterParts`]).
//! 4. With the CLV stage on, a later job scores the CLV of each customer
//!    partition on an executor ([`ClusterParts`]), once the client has
//!    fitted the models.
//! 5. A last job finishes each customer partition on an executor
//!    ([`ClusterParts`]): its segment totals, its customer totals for the
//!    checks and its target list runs, which the client merges.
//!
//! Every partition must report exactly once in each job; a missing one
//! fails the run rather than publish a table without its customers.

use std::path::Path;
use std::sync::Arc;

use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::DataFusionError;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::TryStreamExt;

use super::cluster::{runtime, start_in_process};
use super::codec::physical_codec;
use super::read::{merge_reads, units_of, ReadLines, ReadSettings, UnitFiles};
use super::rows::{
    cluster_error, decode, encode, from_batches, payloads, read_encoded, rows_schema, to_batches,
    Kind, Row,
};
use super::surveys::{merge_survey_reads, SurveyReadSettings, SurveyUnitRead};
use super::task::{
    fold_file, holdout_file, keys_file, write_scorer, CountFiles, PartHistory, PartStorage,
    PartitionTaskExec, Task,
};
use crate::clv::Scorer;
use crate::config::{ClvConfig, Pipeline};
use crate::error::{Error, Result};
use crate::io::spill::SpillDir;
use crate::stages::clv::{
    calibration_end, ClvElsewhere, ClvFoldPart, PartColumns, PartScoring, ScoredPart,
};
use crate::stages::finish::{FinishElsewhere, FinishSettings, FinishedPart};
use crate::stages::nps::{
    CheckedChunk, CountedPart, NpsCounter, NpsElsewhere, NpsPartial, SurveyPartitions,
};
use crate::stages::orders::{steps, EntryStore, OrdersOutput, RowCounts};
use crate::stages::part_counts::Counting;
use crate::stages::per_customer::StoredResults;
use crate::stages::raw::InputFile;
use crate::stages::rejects::Reject;
use crate::stages::tiers::Tiers;
use crate::stages::validate::LineKeys;

/// Where the orders stage runs on a cluster.
pub struct ClusterRun<'a> {
    /// `HOST:PORT` of the scheduler; `None` starts one, with one executor,
    /// in this process.
    pub scheduler: Option<&'a str>,
    /// The run's spill directory: every executor must see it at this path.
    pub dir: &'a Path,
    /// Whether the files written there are compressed (the orders files
    /// the executors write; the client's line files follow its store).
    pub compress: bool,
}

/// Where the history goes on a cluster: the client's store of its entries
/// (whose files the executors write), the loyalty tiers the executors'
/// per-customer results and tier moves need, the CLV stage's settings
/// when it runs (the executors fold the results for its fits), and what
/// the cohorts' and KPIs' counts depend on (the executors count each
/// partition).
pub struct SpilledHistory {
    pub store: Arc<EntryStore>,
    pub tiers: Option<Tiers>,
    pub clv: Option<ClvConfig>,
    pub counting: Counting,
}

/// The orders stage's output on a cluster and what is kept of each
/// customer partition's per-customer results, which the executors put in
/// the results' spill files (`crate::io::spill::CUSTOMERS`).
pub struct ClusterOrders {
    pub orders: OrdersOutput,
    pub stored_results: Vec<StoredResults>,
    /// The cohort grid, monthly counts and tier moves of each customer
    /// partition with an order, on the partition's own calendars, in the
    /// files the executors wrote.
    pub part_counts: CountFiles,
    /// Bytes the executors wrote to the run's spill directory (orders,
    /// history and results files; not Ballista's own shuffle files).
    pub spilled_bytes: u64,
}

/// [`crate::stages::orders::build_orders`] on a cluster: the same inputs,
/// the same output. The executors write each customer partition's entries
/// and results to `history`'s spill files, and only the rest of the
/// history comes back: the client holds no partition's entries but the
/// one a stage reads, on a cluster as under a small budget.
pub fn build_orders_on_cluster(
    cluster: &ClusterRun,
    (units, keys, rejects): (&UnitFiles, &LineKeys, &mut Vec<Reject>),
    order_id_column: Option<&str>,
    as_of: Option<i32>,
    history: SpilledHistory,
) -> Result<ClusterOrders> {
    let partitions = units.partitions;
    let dir = absolute(cluster.dir)?;
    let cluster = ClusterRun {
        dir: &dir,
        ..*cluster
    };
    write_keys(cluster.dir, units, keys)?;
    let runtime = runtime()?;
    let client = runtime.block_on(Client::connect(cluster.scheduler))?;
    let mut counts = RowCounts {
        rows_read: keys.rows_read,
        excluded_by_filter: keys.excluded_by_filter,
        ..Default::default()
    };
    let assemble = assemble_plan(&cluster, partitions, order_id_column)?;
    let rows = runtime.block_on(client.run(assemble))?;
    let mut spilled_bytes = written_bytes(&rows)?;
    let assembled = payloads(&rows, Kind::Assembled, partitions)?;
    let latest_order_day = steps::add_assembled(assembled, rejects, &mut counts);
    let as_of = steps::resolve_as_of(as_of, latest_order_day, counts.rows_read)?;
    let storage = PartStorage {
        compress: cluster.compress,
        tiers: history.tiers.clone(),
        clv_calibration_end: history.clv.as_ref().map(|c| calibration_end(as_of, c)),
        counting: history.counting,
    };
    let plan = history_plan(cluster.dir, partitions, (as_of, storage))?;
    let rows = runtime.block_on(client.run(plan))?;
    spilled_bytes += written_bytes(&rows)?;
    let histories = payloads(&rows, Kind::History, partitions)?;
    // Detached tasks of an in-process cluster end with the runtime.
    runtime.shutdown_background();
    let joined = JoinedOn {
        as_of,
        latest_order_day,
        store: history.store,
        dir: cluster.dir.to_path_buf(),
    };
    let mut made = join_histories(histories, joined, (keys, rejects), counts)?;
    made.spilled_bytes = spilled_bytes;
    Ok(made)
}

/// The bytes the `Written` rows among `rows` say their tasks wrote.
fn written_bytes(rows: &[Row]) -> Result<u64> {
    let written = rows.iter().filter(|r| r.kind == Kind::Written);
    written.map(|r| decode::<u64>(&r.payload)).sum()
}

/// What joining the histories needs besides them.
struct JoinedOn {
    as_of: i32,
    latest_order_day: Option<i32>,
    /// The history's store, where the entries went.
    store: Arc<EntryStore>,
    /// The run's spill directory, where the counts went.
    dir: std::path::PathBuf,
}

/// The orders stage's output from the customer partitions' histories,
/// their entries in the store's files and their per-customer results in
/// the results'.
fn join_histories(
    histories: Vec<PartHistory>,
    on: JoinedOn,
    (keys, rejects): (&LineKeys, &mut Vec<Reject>),
    mut counts: RowCounts,
) -> Result<ClusterOrders> {
    let facts = histories.iter().map(|h| &h.stored.entries);
    let facts = facts.fold(steps::EntryFacts::default(), |a, b| a + *b);
    let (histories, stored): (Vec<_>, Vec<_>) =
        histories.into_iter().map(|h| (h.history, h.stored)).unzip();
    let parts = steps::add_histories(histories, rejects, &mut counts);
    let (as_of, latest) = (on.as_of, on.latest_order_day);
    let counted = stored.iter().enumerate().filter(|(_, s)| s.counted);
    let partitions = counted.map(|(p, _)| p).collect();
    let (stored_results, values) = stored.into_iter().map(|s| (s.results, s.values)).unzip();
    let part_counts = CountFiles {
        dir: on.dir,
        partitions,
        values,
    };
    let stored = (on.store, facts);
    let orders = steps::finish_stored(parts, stored, as_of, (keys, rejects), counts, latest)?;
    Ok(ClusterOrders {
        orders,
        stored_results,
        part_counts,
        spilled_bytes: 0,
    })
}

/// The line keys and the units' shifts and indexes, where the assemble
/// tasks read them.
fn write_keys(dir: &Path, units: &UnitFiles, keys: &LineKeys) -> Result<()> {
    let path = keys_file(dir);
    std::fs::write(&path, encode(keys)?)
        .map_err(|e| Error::output(&path, format!("cannot write the line keys: {e}")))?;
    units.write(dir)
}

/// `dir` as an absolute path: executors have working directories of their
/// own.
fn absolute(dir: &Path) -> Result<std::path::PathBuf> {
    std::path::absolute(dir)
        .map_err(|e| Error::output(dir, format!("cannot make the path absolute: {e}")))
}

/// What the client asks of the read tasks: line partitions, every how
/// many lines a customer id is sampled, rows read at a time.
pub struct ReadPlan {
    pub partitions: usize,
    pub sample_step: usize,
    pub chunk_rows: usize,
}

/// The input `files` of `pipeline` read, checked and scattered into line
/// partitions by the cluster's executors (`super::read`): the whole
/// input's keys and row rejects, the units' files the assemble tasks
/// read, and the bytes the tasks wrote.
pub fn read_on_cluster(
    cluster: &ClusterRun,
    (pipeline, files): (&Pipeline, &[InputFile]),
    plan: &ReadPlan,
) -> Result<(ReadLines, u64)> {
    let dir = absolute(cluster.dir)?;
    let units = units_of(files, plan.chunk_rows)?;
    let config = serde_json::to_string(&pipeline.config)
        .map_err(|e| cluster_error(format!("cannot encode the pipeline: {e}")))?;
    let settings = ReadSettings {
        config,
        partitions: plan.partitions,
        sample_step: plan.sample_step,
        chunk_rows: plan.chunk_rows,
        compress: cluster.compress,
    };
    let read = Task::Read {
        dir,
        units: units.clone(),
        settings,
    };
    let job = Arc::new(PartitionTaskExec::new(read, work_source(units.len())?));
    let rows = run_job(cluster.scheduler, job)?;
    let dimensions = &pipeline.config.columns.dimensions;
    let lines = merge_reads(&rows, &units, (files, dimensions), plan.partitions)?;
    Ok((lines, written_bytes(&rows)?))
}

/// Tasks a step is split into at most, whatever the partition count: a
/// task works on several partitions when there are more, so a small
/// memory budget (which asks for up to 4,096 partitions) does not make
/// thousands of tasks and a shuffle from each to each (the shuffle writes
/// a file per task and output). 256 keeps a cluster of a few hundred task
/// slots busy.
const MAX_TASKS: usize = 256;

/// The tasks each step of a run with `partitions` partitions is split
/// into (the tests set fewer, `cluster::max_tasks`, to have tasks of
/// several partitions on a small history).
fn task_count(partitions: usize) -> usize {
    let max = crate::faults::value_point("cluster::max_tasks").map_or(MAX_TASKS, |n| n as usize);
    partitions.clamp(1, max.max(1))
}

/// The `Work` rows of `partitions` partitions, spread over
/// [`task_count`] tasks (partition `p` in task `p mod tasks`): the input
/// of a step. An in-memory source, so the scheduler can give each task
/// its own slice of the partitions (it slices its own sources only).
fn work_source(partitions: usize) -> Result<Arc<dyn ExecutionPlan>> {
    let tasks = task_count(partitions);
    tracing::debug!(partitions, tasks, "a cluster step's tasks");
    let batches = (0..tasks)
        .map(|t| {
            let rows: Vec<Row> = (t..partitions)
                .step_by(tasks)
                .map(|p| Row {
                    partition: p as u32,
                    kind: Kind::Work,
                    source: p as u32,
                    payload: Vec::new(),
                })
                .collect();
            to_batches(&rows)
        })
        .collect::<Result<Vec<Vec<RecordBatch>>>>()?;
    let source =
        MemorySourceConfig::try_new_exec(&batches, rows_schema(), None).map_err(df_error)?;
    Ok(source)
}

/// Job one: assemble, shuffle by customer partition, gather.
fn assemble_plan(
    cluster: &ClusterRun,
    partitions: usize,
    order_id_column: Option<&str>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let assemble = Task::Assemble {
        dir: cluster.dir.to_path_buf(),
        partitions,
        order_id_column: order_id_column.map(str::to_owned),
    };
    let assembled = Arc::new(PartitionTaskExec::new(assemble, work_source(partitions)?));
    // Each gather task joins the pieces of the customer partitions hashed
    // to it, a file each.
    let tasks = task_count(partitions);
    let by_customer = Partitioning::Hash(vec![Arc::new(Column::new("partition", 0))], tasks);
    let shuffled = RepartitionExec::try_new(assembled, by_customer).map_err(df_error)?;
    let gather = Task::Gather {
        dir: cluster.dir.to_path_buf(),
        compress: cluster.compress,
    };
    Ok(Arc::new(PartitionTaskExec::new(gather, Arc::new(shuffled))))
}

/// Job two: each customer partition's history, its entries and results
/// stored as `storage` says.
fn history_plan(
    dir: &Path,
    partitions: usize,
    (as_of, storage): (i32, PartStorage),
) -> Result<Arc<dyn ExecutionPlan>> {
    let history = Task::History {
        dir: dir.to_path_buf(),
        as_of,
        storage,
    };
    Ok(Arc::new(PartitionTaskExec::new(
        history,
        work_source(partitions)?,
    )))
}

/// The per-customer work after the orders stage on a cluster, for the
/// customer partitions whose results the executors stored (a spilled
/// history's): the CLV stage's and the stages `segments` and `targets`'.
///
/// The CLV's folds, which the history tasks wrote beside the results, are
/// read here; the partitions are scored there. For the scores, the client
/// writes its scorer (the fitted rows' figures and the index that finds a
/// customer's row) to the run's spill directory; each executor reads it
/// once and scores its partitions with the embedded engine's own function
/// (`stages::clv::score_part`), writing their scores and sorted CLVs to
/// the CLV's spill files; only each partition's count of uncomputable
/// customers and its exact part of the forecast's monthly totals come
/// back, which add up to the same totals in any order.
///
/// Then each partition is finished there (`stages::finish::finish_part`):
/// its segment and customer totals come back, exact in any order, and its
/// rows of each target list are written as runs that the client merges.
pub struct ClusterParts {
    /// `HOST:PORT` of the scheduler; `None` starts one in this process.
    scheduler: Option<String>,
    spill: Arc<SpillDir>,
}

impl ClusterParts {
    /// The work on the cluster at `scheduler` (or an in-process one), the
    /// files in the run's spill directory `spill`, which every executor
    /// sees.
    pub fn new(scheduler: Option<String>, spill: Arc<SpillDir>) -> ClusterParts {
        ClusterParts { scheduler, spill }
    }

    /// `task` run as one job over each of `partitions` partitions, the
    /// bytes its tasks wrote counted with the run's; each partition's
    /// `kind` payload, in partition order.
    fn each_partition<T: serde::de::DeserializeOwned>(
        &self,
        task: Task,
        (partitions, kind): (usize, Kind),
    ) -> Result<Vec<T>> {
        let rows = self.job_rows(task, (partitions, kind))?;
        payloads(&rows, kind, partitions)
    }

    /// `task` run as one job over each of `partitions` partitions (whose
    /// payloads are of `kind`), the bytes its tasks wrote counted with the
    /// run's; every row the tasks sent back.
    fn job_rows(&self, task: Task, (partitions, kind): (usize, Kind)) -> Result<Vec<Row>> {
        let clock = std::time::Instant::now();
        let plan = Arc::new(PartitionTaskExec::new(task, work_source(partitions)?));
        let rows = beside_the_pool(|| run_job(self.scheduler.as_deref(), plan))?;
        tracing::debug!(
            seconds = clock.elapsed().as_secs_f64(),
            ?kind,
            "a job over every partition done on the executors"
        );
        self.spill.add_written(written_bytes(&rows)?);
        Ok(rows)
    }

    /// The spill directory's absolute path, as the executors find it.
    fn dir(&self) -> Result<std::path::PathBuf> {
        std::path::absolute(self.spill.path()).map_err(|e| {
            Error::output(
                self.spill.path(),
                format!("cannot make the path absolute: {e}"),
            )
        })
    }
}

impl FinishElsewhere for ClusterParts {
    fn finish(&self, settings: &FinishSettings) -> Result<Vec<FinishedPart>> {
        let partitions = settings.starts.len();
        let finish = Task::Finish {
            dir: self.dir()?,
            settings: settings.clone(),
            compress: self.spill.compresses(),
        };
        self.each_partition(finish, (partitions, Kind::Finished))
    }
}

impl NpsElsewhere for ClusterParts {
    fn check(
        &self,
        pipeline: &Pipeline,
        (files, chunk_rows): (&[InputFile], usize),
        (as_of, partitions): (i32, &SurveyPartitions),
    ) -> Result<Vec<CheckedChunk>> {
        let dir = self.dir()?;
        let units = units_of(files, chunk_rows)?;
        let config = serde_json::to_string(&pipeline.config)
            .map_err(|e| cluster_error(format!("cannot encode the pipeline: {e}")))?;
        let settings = SurveyReadSettings {
            config,
            as_of,
            ranges: partitions.ranges.clone(),
            partitions: partitions.count,
            chunk_rows,
            compress: self.spill.compresses(),
        };
        let read = Task::ReadSurveys {
            dir: dir.clone(),
            units: units.clone(),
            settings,
        };
        let rows = self.job_rows(read, (units.len(), Kind::SurveysRead))?;
        let reads = merge_survey_reads(&dir, &rows, (&units, files))?;
        Ok(reads.into_iter().map(SurveyUnitRead::checked).collect())
    }

    fn count(
        &self,
        counter: &NpsCounter,
        starts: &[usize],
    ) -> Result<Vec<CountedPart<NpsPartial>>> {
        let surveys = Task::Surveys {
            dir: self.dir()?,
            counter: counter.clone(),
            starts: starts.to_vec(),
        };
        self.each_partition(surveys, (starts.len(), Kind::SurveysCounted))
    }
}

impl ClvElsewhere for ClusterParts {
    /// The fold the history task wrote beside the partition's results.
    fn fold_part(&self, p: usize) -> Result<ClvFoldPart> {
        read_encoded(&fold_file(self.spill.path(), p))
    }

    /// The calibration columns the history task wrote with the fold.
    fn holdout_part(&self, p: usize) -> Result<PartColumns> {
        read_encoded(&holdout_file(self.spill.path(), p))
    }

    fn score(
        &self,
        scorer: &Scorer,
        how: PartScoring,
        partitions: usize,
    ) -> Result<Vec<ScoredPart>> {
        let dir = self.dir()?;
        // A name of this run's scorer alone: an executor keeps the last
        // scorer it read by its path.
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = dir.join(format!("clv-scorer-{nonce}.bin"));
        let clock = std::time::Instant::now();
        let bytes = write_scorer(&path, scorer, how)?;
        tracing::debug!(
            bytes,
            seconds = clock.elapsed().as_secs_f64(),
            "clv scorer written for the executors"
        );
        self.spill.add_written(bytes);
        let score = Task::Score {
            dir,
            scorer: path,
            compress: self.spill.compresses(),
        };
        self.each_partition(score, (partitions, Kind::Scored))
    }
}

/// `plan` run as one job on the cluster at `scheduler` (an in-process one
/// when `None`), on a runtime of its own; its rows.
fn run_job(scheduler: Option<&str>, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<Row>> {
    let runtime = runtime()?;
    let rows = runtime.block_on(async {
        let client = Client::connect(scheduler).await?;
        client.run(plan).await
    });
    // Detached tasks of an in-process cluster end with the runtime.
    runtime.shutdown_background();
    rows
}

/// `job` on a thread of its own while this thread runs the rayon pool's
/// pending work. The CLV stage waits for the cluster on a pool thread,
/// and an in-process cluster's executor scores on the same pool: a pool
/// thread blocked in the wait would take a worker from it (with
/// `--threads 1`, the only one, and the run would never end).
fn beside_the_pool<T: Send>(job: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let waited = scope.spawn(job);
        while !waited.is_finished() {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        waited
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A connection to a scheduler.
struct Client {
    url: String,
    config: SessionConfig,
}

impl Client {
    async fn connect(scheduler: Option<&str>) -> Result<Client> {
        let address = match scheduler {
            Some(address) => address.to_owned(),
            None => start_in_process(rayon::current_num_threads())
                .await?
                .to_string(),
        };
        Ok(Client {
            url: format!("http://{address}"),
            config: SessionConfig::new_with_ballista().with_ballista_job_name("retention orders"),
        })
    }

    /// Runs `plan` on the cluster and returns its rows.
    async fn run(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<Row>> {
        let codec = physical_codec();
        let session = format!("retention-{}", std::process::id());
        let stream = execute_physical_plan::<PhysicalPlanNode>(
            self.url.clone(),
            &self.config.ballista_config(),
            plan,
            codec.as_ref(),
            session,
            self.config.clone(),
        )
        .await
        .map_err(|e| self.failed(e))?;
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| self.failed(e))?;
        from_batches(&batches)
    }

    fn failed(&self, e: DataFusionError) -> Error {
        cluster_error(format!(
            "the job on the scheduler at {} failed: {e}",
            self.url
        ))
    }
}

fn df_error(e: DataFusionError) -> Error {
    cluster_error(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::collect_partitioned;
    use datafusion::prelude::SessionContext;

    /// The `Work` rows of each task of a step of `partitions` partitions.
    fn tasks_of(partitions: usize) -> Vec<Vec<u32>> {
        let source = work_source(partitions).unwrap();
        let context = SessionContext::new().task_ctx();
        let batches = runtime()
            .unwrap()
            .block_on(collect_partitioned(source, context))
            .unwrap();
        let rows = batches.iter().map(|b| from_batches(b).unwrap());
        rows.map(|rows| rows.iter().map(|r| r.partition).collect())
            .collect()
    }

    /// Up to `MAX_TASKS` partitions, a task each; beyond, every partition
    /// is in exactly one of `MAX_TASKS` tasks, which differ by one
    /// partition at most.
    #[test]
    fn partitions_beyond_the_task_count_share_tasks() {
        assert_eq!(tasks_of(7), (0..7).map(|p| vec![p]).collect::<Vec<_>>());
        let tasks = tasks_of(2 * MAX_TASKS + 5);
        assert_eq!(tasks.len(), MAX_TASKS);
        let sizes: Vec<usize> = tasks.iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|&n| n == 2 || n == 3), "{sizes:?}");
        let mut every: Vec<u32> = tasks.concat();
        every.sort_unstable();
        assert_eq!(every, (0..(2 * MAX_TASKS + 5) as u32).collect::<Vec<_>>());
    }
}
