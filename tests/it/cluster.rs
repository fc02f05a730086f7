//! The Ballista engine (`--engine ballista`, feature `distributed`)
//! against the embedded one: the messy histories of the partition tests
//! (dimensions, tiers, surveys, refunds, duplicates, bad lines, orders
//! whose lines name two customers, missing ids, two files read in small
//! chunks) must give the same tables, rejects and counts on an in-process
//! cluster and on a real one of three processes (a scheduler and two
//! executors of this binary, on loopback ports), and a run whose cluster
//! cannot be reached must fail and publish nothing.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use retention::config::SpillCompression;
use retention::run::{Computed, Engine};

use crate::partitions::{
    assert_no_spill_dirs, assert_same_tables, lines, order, run_spilling, run_with, write_history,
    SPILL_EVERYTHING,
};
use crate::support::{read_table, retention, retention_command, stderr};

fn run_on(dir: &Path, partitions: usize, engine: Engine) -> Computed {
    run_with(dir, partitions, None, engine)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn an_in_process_cluster_gives_the_embedded_tables(
        orders in prop::collection::vec(order(), 30..90),
        shuffle in prop::collection::vec(0..1000usize, 1..20),
        split in 0..200usize,
        cohort_period in prop::sample::select(vec!["month", "week", "quarter"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_history(d, &lines(&orders, &shuffle), split);
        // The executors count each partition's cohort grid on its own
        // calendar, in the pipeline's unit.
        set_cohort_period(d, cohort_period);
        let expected = run_on(d, 7, Engine::Embedded);
        // The embedded run holds its history; a cluster's executors store
        // every partition's entries and per-customer results whatever the
        // budget, and the client's stages read them back.
        prop_assert!(!expected.resources.history_spilled);
        for partitions in [1, 7] {
            let other = run_on(d, partitions, Engine::Ballista { scheduler: None });
            assert_same_tables(&expected, &other, &format!("ballista, {partitions} partitions"));
            prop_assert!(other.resources.history_spilled, "{partitions}: the history came back");
            prop_assert!(other.resources.results_spilled, "{partitions}: the results were held");
        }
        // Budgets that would spill the lines of an embedded run, in part
        // or whole: on a cluster the executors read and split the lines
        // whatever the budget (so the bytes written no longer grow with
        // it); the last run compresses its spill files (the executors
        // write their line and orders files so too).
        let mut spilled = Vec::new();
        let spills = [
            (SPILL_SOME, SpillCompression::None),
            (SPILL_EVERYTHING, SpillCompression::None),
            (SPILL_SOME, SpillCompression::Zstd),
        ];
        for spill in spills {
            let other = run_spilling(d, 7, spill, Engine::Ballista { scheduler: None });
            assert_same_tables(&expected, &other, &format!("ballista, spill {spill:?}"));
            prop_assert!(other.resources.history_spilled, "{:?}: the history came back", spill);
            prop_assert!(other.resources.results_spilled, "{:?}: the results were held", spill);
            spilled.push(other.resources.spilled_bytes);
        }
        prop_assert!(spilled.iter().all(|&b| b > 0), "{:?}", spilled);
        // The same lines as Parquet: the read tasks take each file in
        // units of a chunk's rows (7 here), read side by side.
        as_parquet(d);
        let expected = run_on(d, 7, Engine::Embedded);
        let other = run_on(d, 7, Engine::Ballista { scheduler: None });
        assert_same_tables(&expected, &other, "ballista, Parquet in units");
        // Its tables are built from the spilled results until it is dropped.
        drop(other);
        assert_no_spill_dirs(d);
    }
}

/// `dir`'s order files as Parquet (every column text, row groups of 5
/// rows, so chunks cut across them), the pipeline reading those.
fn as_parquet(dir: &Path) {
    use polars::prelude::*;
    for name in ["orders-1", "orders-2"] {
        let mut frame = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(dir.join(format!("{name}.csv"))))
            .unwrap()
            .finish()
            .unwrap();
        let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap();
        ParquetWriter::new(file)
            .with_row_group_size(Some(5))
            .finish(&mut frame)
            .unwrap();
    }
    let path = dir.join("pipeline.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("orders-*.csv"), "{text}");
    std::fs::write(&path, text.replace("orders-*.csv", "orders-*.parquet")).unwrap();
}

/// `dir`'s pipeline with cohorts of `unit` (`[business] cohort_period`).
fn set_cohort_period(dir: &Path, unit: &str) {
    let path = dir.join("pipeline.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let business = "[business]\n";
    assert!(text.contains(business), "{text}");
    let with_unit = format!("{business}cohort_period = \"{unit}\"\n");
    std::fs::write(&path, text.replacen(business, &with_unit, 1)).unwrap();
}

/// A memory budget under which some of these histories' line pieces are
/// spilled and the last stay in memory (pieces are spilled down to half of
/// the 60 % share lines get).
const SPILL_SOME: u64 = 1_000;

/// [`fixed_history`] in `dir`, published by the embedded engine into
/// `embedded`.
fn published_embedded(dir: &Path) {
    fixed_history(dir);
    let embedded = retention(&["run", "pipeline.toml", "-q", "--out", "embedded"], dir);
    assert!(embedded.status.success(), "{}", stderr(&embedded));
}

/// The tables a run published into `out` are those of
/// [`published_embedded`].
fn assert_published_embedded_tables(dir: &Path, out: &str) {
    for name in ["customers", "cohort_retention", "kpis_monthly", "rejects"] {
        let (a, b) = (
            read_table(&dir.join("embedded"), name),
            read_table(&dir.join(out), name),
        );
        assert!(a.equals_missing(&b), "{name} differs in {out}:\n{a}\n{b}");
    }
}

/// A history of the partition tests, the same every time.
fn fixed_history(dir: &Path) {
    let mut runner = TestRunner::deterministic();
    let orders = prop::collection::vec(order(), 80..81)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let shuffle: Vec<usize> = (0..13).map(|i| i * 37 + 5).collect();
    write_history(dir, &lines(&orders, &shuffle), 70);
}

/// Processes of a test cluster, stopped (killed) when dropped.
struct Cluster {
    scheduler: SocketAddr,
    processes: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Waits until something listens on `address`.
fn wait_listening(address: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} never listened on {address}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn(args: &[&str], fault: Option<&str>) -> Child {
    let mut command = retention_command();
    if let Some(fault) = fault {
        command.env("FAILPOINTS", fault);
    }
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

impl Cluster {
    /// A scheduler and `executors` executors, each its own process.
    fn start(executors: usize, work: &Path) -> Cluster {
        let scheduler = free_port();
        let address = scheduler.to_string();
        let mut cluster = Cluster {
            scheduler,
            processes: vec![spawn(&["cluster", "scheduler", "--bind", &address], None)],
        };
        wait_listening(scheduler, "the scheduler");
        for _ in 0..executors {
            cluster.add_executor(work, None);
        }
        cluster
    }

    /// Starts one more executor (with `FAILPOINTS=fault` when given);
    /// returns its index in `processes`.
    fn add_executor(&mut self, work: &Path, fault: Option<&str>) -> usize {
        let bind = free_port();
        let (scheduler, address) = (self.scheduler.to_string(), bind.to_string());
        let work_dir = work.join(format!("executor-{}", bind.port()));
        let args = [
            "cluster",
            "executor",
            "--scheduler",
            &scheduler,
            "--bind",
            &address,
            "--work-dir",
            work_dir.to_str().unwrap(),
            "--concurrency",
            "2",
        ];
        self.processes.push(spawn(&args, fault));
        wait_listening(bind, "an executor");
        self.processes.len() - 1
    }

    /// `retention run` of `dir`'s pipeline on this cluster into `out`,
    /// started, not waited for.
    fn start_run(&self, dir: &Path, out: &str, partitions: usize) -> Child {
        let scheduler = self.scheduler.to_string();
        retention_command()
            .args(["run", "pipeline.toml", "-q", "--out", out])
            .args(["--partitions", &partitions.to_string()])
            .args(["--engine", "ballista", "--scheduler", &scheduler])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn a_cluster_of_three_processes_gives_the_embedded_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_history(d);
    let cluster = Cluster::start(2, d);
    let expected = run_on(d, 5, Engine::Embedded);
    for partitions in [3, 16] {
        let engine = Engine::Ballista {
            scheduler: Some(cluster.scheduler.to_string()),
        };
        let other = run_on(d, partitions, engine);
        assert_same_tables(
            &expected,
            &other,
            &format!("3 processes, {partitions} partitions"),
        );
    }
    // The executor processes store the history's entries and results in
    // spill files whatever the budget; under one that spills everything,
    // every file is compressed.
    let engine = Engine::Ballista {
        scheduler: Some(cluster.scheduler.to_string()),
    };
    let spilling = (SPILL_EVERYTHING, SpillCompression::Zstd);
    let other = run_spilling(d, 16, spilling, engine);
    assert_same_tables(&expected, &other, "3 processes, history spilled");
    assert!(other.resources.history_spilled && other.resources.results_spilled);
    // Its tables are built from the spilled results until it is dropped.
    drop(other);
    assert_no_spill_dirs(d);
}

#[test]
fn the_command_line_runs_on_a_cluster_and_publishes_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_history(d);
    let cluster = Cluster::start(2, d);
    let embedded = retention(&["run", "pipeline.toml", "-q", "--out", "embedded"], d);
    assert!(embedded.status.success(), "{}", stderr(&embedded));
    let scheduler = cluster.scheduler.to_string();
    let on_cluster = retention(
        &[
            "run",
            "pipeline.toml",
            "-q",
            "--out",
            "cluster",
            "--engine",
            "ballista",
            "--scheduler",
            &scheduler,
        ],
        d,
    );
    assert!(on_cluster.status.success(), "{}", stderr(&on_cluster));
    assert_every_table_equal(d, "cluster");
    // More partitions than tasks: each task works on several (16
    // partitions in 3 tasks), each gather task joins several partitions'
    // pieces.
    let grouped = retention_command()
        .args([
            "run",
            "pipeline.toml",
            "-q",
            "--out",
            "grouped",
            "--partitions",
            "16",
        ])
        .args(["--engine", "ballista", "--scheduler", &scheduler])
        .env("FAILPOINTS", "cluster::max_tasks=return(3)")
        .current_dir(d)
        .output()
        .unwrap();
    assert!(grouped.status.success(), "{}", stderr(&grouped));
    assert_every_table_equal(d, "grouped");
    // An in-process cluster on one thread, the history spilled: its
    // executor scores the CLV on the pool whose only thread the client's
    // CLV stage waits on (it runs the pool's work while it waits).
    let one_thread = retention_command()
        .args(["run", "pipeline.toml", "-q", "--out", "one-thread"])
        .args([
            "--partitions",
            "5",
            "--threads",
            "1",
            "--engine",
            "ballista",
        ])
        .env("FAILPOINTS", "run::memory_limit_bytes=return(1)")
        .current_dir(d)
        .output()
        .unwrap();
    assert!(one_thread.status.success(), "{}", stderr(&one_thread));
    assert_every_table_equal(d, "one-thread");
}

/// Every table published into `out` (but the comparison with the
/// previous run) equals the one published into `embedded`.
fn assert_every_table_equal(d: &Path, out: &str) {
    let tables = std::fs::read_dir(d.join("embedded/current")).unwrap();
    let mut compared = 0;
    for entry in tables.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() || name == "run_comparison" {
            continue;
        }
        let (a, b) = (
            read_table(&d.join("embedded"), &name),
            read_table(&d.join(out), &name),
        );
        assert!(a.equals_missing(&b), "{name} differs in {out}:\n{a}\n{b}");
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} tables compared");
}

/// Whatever the budget, the executors read, check and split the input,
/// make the per-customer results beside
/// the entries they store, count the partitions' cohort grids and monthly
/// counts (each dimension value's too), fold the results (and the entries' calibration rows) for the
/// CLV's fits, make the calibration columns the holdout comparison reads,
/// score them with the client's CLV scorer, make each partition's
/// segment totals and target list rows, read and check the survey files
/// and validate and count each partition's survey responses: a client
/// that would read the input or the survey files, or make the results,
/// count, fold, compare, score, finish a partition or count its survey
/// responses itself is killed (crash points on those paths), and yet the run on the cluster
/// publishes the embedded engine's tables. The same armed client on the
/// embedded engine, its history spilled or held, is killed by each point,
/// so all are on paths the cluster run does not take.
#[test]
fn executors_read_the_input_and_make_count_fold_score_and_list_everything_per_customer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    published_embedded(d);
    let cluster = Cluster::start(2, d);
    let tiny = "run::memory_limit_bytes=return(1)";
    let results_here = "customers::from_history=return";
    let counted_here = "describe::counted_here=return";
    let sliced_here = "dimensions::counted_here=return";
    let (folded_here, scored_here) = ("clv::folded_here=return", "clv::scored_here=return");
    let compared_here = "clv::compared_here=return";
    let read_here = "run::read_here=return";
    let finished_here = "run::finished_here=return";
    let surveys_here = "run::surveys_counted_here=return";
    let surveys_read_here = "run::surveys_read_here=return";
    let run = |out: &str, engine: &[&str], armed: &str| {
        retention_command()
            // A few partitions: the tiny budget alone would ask for many.
            .args([
                "run",
                "pipeline.toml",
                "-q",
                "--partitions",
                "5",
                "--out",
                out,
            ])
            .args(engine)
            .env("FAILPOINTS", armed)
            .current_dir(d)
            .output()
            .unwrap()
    };
    let points = [
        read_here,
        results_here,
        counted_here,
        sliced_here,
        folded_here,
        compared_here,
        scored_here,
        finished_here,
        surveys_here,
        surveys_read_here,
    ];
    let budgets = [(tiny, "spilling"), ("", "holding")];
    for (point, (budget, label)) in points.iter().flat_map(|p| budgets.map(|b| (p, b))) {
        let out = format!(
            "embedded-{label}-{}",
            point.replace("::", "-").replace('=', "-")
        );
        let embedded = run(&out, &[], &format!("{budget};{point}"));
        assert!(
            !embedded.status.success() && !d.join(&out).join("current").exists(),
            "the embedded run ({budget}) did not pass {point}: {}",
            stderr(&embedded)
        );
    }
    let scheduler = cluster.scheduler.to_string();
    let engine = ["--engine", "ballista", "--scheduler", &scheduler];
    let armed = points.join(";");
    for (out, budget) in [("cluster", ""), ("cluster-spilling", tiny)] {
        let on_cluster = run(out, &engine, &format!("{budget};{armed}"));
        assert!(on_cluster.status.success(), "{}", stderr(&on_cluster));
        assert_every_table_equal(d, out);
    }
}

/// An input the user must fix, orders or surveys, fails a cluster run as
/// it fails an embedded one: the same exit code and message (the
/// executors that read it send the error back), and nothing published.
#[test]
fn a_bad_input_fails_on_the_cluster_as_it_does_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_history(d);
    let cluster = Cluster::start(2, d);
    let scheduler = cluster.scheduler.to_string();
    let pipeline = std::fs::read_to_string(d.join("pipeline.toml")).unwrap();
    let unmapped = pipeline.replace("dimensions = [\"channel\"]", "dimensions = [\"region\"]");
    assert_ne!(unmapped, pipeline);
    std::fs::write(d.join("unmapped.toml"), unmapped).unwrap();
    // A second file whose row has more fields than its header.
    let broken = pipeline.replace("orders-*.csv", "broken-*.csv");
    std::fs::write(d.join("broken.toml"), broken).unwrap();
    std::fs::copy(d.join("orders-1.csv"), d.join("broken-1.csv")).unwrap();
    let mut text = std::fs::read_to_string(d.join("orders-2.csv")).unwrap();
    text.push_str("O1,C1,2023-01-01 10:00:00,1.00,web,extra,fields\n");
    std::fs::write(d.join("broken-2.csv"), text).unwrap();
    // The same faults in the survey files, which the executors read too.
    let surveys = "path = \"surveys.csv\"";
    assert!(pipeline.contains(surveys));
    let unmapped_surveys = pipeline.replace(
        surveys,
        &format!("{surveys}\n[surveys.columns]\nscore = \"rating\""),
    );
    std::fs::write(d.join("unmapped-surveys.toml"), unmapped_surveys).unwrap();
    let broken_surveys = pipeline.replace(surveys, "path = \"broken-surveys.csv\"");
    std::fs::write(d.join("broken-surveys.toml"), broken_surveys).unwrap();
    let mut text = std::fs::read_to_string(d.join("surveys.csv")).unwrap();
    text.push_str("C1,2023-01-01 10:00:00,9,extra\n");
    std::fs::write(d.join("broken-surveys.csv"), text).unwrap();
    // The survey files are read after the orders stage, whose warnings
    // (timed, and some from threads) come first: their error lines match
    // (`false`), the orders' whole output.
    let cases = [
        ("unmapped.toml", 2, true),
        ("broken.toml", 1, true),
        ("unmapped-surveys.toml", 2, false),
        ("broken-surveys.toml", 1, false),
    ];
    for (pipeline, code, whole) in cases {
        let shown = |text: String| match whole {
            true => text,
            false => text.lines().last().unwrap_or_default().to_string(),
        };
        let run = |out: &str, engine: &[&str]| {
            let mut args = vec!["run", pipeline, "-q", "--out", out];
            args.extend(engine);
            retention(&args, d)
        };
        let embedded = run("embedded", &[]);
        let on_cluster = run(
            "cluster",
            &["--engine", "ballista", "--scheduler", &scheduler],
        );
        assert_eq!(embedded.status.code(), Some(code), "{}", stderr(&embedded));
        assert_eq!(
            on_cluster.status.code(),
            Some(code),
            "{}",
            stderr(&on_cluster)
        );
        let message = shown(stderr(&embedded));
        assert!(message.contains("error: input"), "{pipeline}: {message}");
        assert_eq!(shown(stderr(&on_cluster)), message, "{pipeline}");
        assert!(!d.join("cluster/current").exists(), "{pipeline}: published");
    }
}

#[test]
fn an_unreachable_scheduler_fails_the_run_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_history(d);
    let nobody = free_port().to_string();
    let output = retention(
        &[
            "run",
            "pipeline.toml",
            "--out",
            "out",
            "--engine",
            "ballista",
            "--scheduler",
            &nobody,
        ],
        d,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    // Found before the input is read: not when the first job is sent.
    assert!(
        message.contains(&format!(
            "cluster: the scheduler at {nobody} cannot be reached"
        )),
        "{message}"
    );
    assert!(!message.contains("stage done"), "{message}");
    assert!(!d.join("out/current").exists(), "something was published");
}

/// An executor killed with SIGKILL in the middle of a run (it kills itself
/// in its first task; a second executor starts only once it is dead): the
/// run either finishes with the embedded tables (the scheduler reruns the
/// lost tasks on the other executor) or fails with exit 1 and publishes
/// nothing; never a wrong table.
#[test]
fn an_executor_killed_mid_run_never_gives_a_wrong_table() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    published_embedded(d);
    let mut cluster = Cluster::start(0, d);
    let doomed = cluster.add_executor(d, Some("cluster::task=return"));
    let started = Instant::now();
    let run = cluster.start_run(d, "cluster", 8);
    let killed = cluster.processes[doomed].wait().unwrap();
    assert_eq!(
        killed.signal(),
        Some(9),
        "the executor was not killed in a task"
    );
    cluster.add_executor(d, None);
    let on_cluster = run.wait_with_output().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    match on_cluster.status.code() {
        Some(0) => {
            assert_published_embedded_tables(d, "cluster");
            eprintln!("executor killed: the run finished with the same tables in {seconds:.1} s");
        }
        Some(1) => {
            assert!(
                !d.join("cluster/current").exists(),
                "a failed run published"
            );
            eprintln!(
                "executor killed: the run failed in {seconds:.1} s: {}",
                stderr(&on_cluster)
            );
        }
        other => panic!("exit {other:?}: {}", stderr(&on_cluster)),
    }
}

/// A spill file that fails to read on an executor, as a file on a shared
/// directory may: failing once, the task runs again and the run publishes
/// the embedded tables; failing every time, the run fails with exit 1,
/// names the file and publishes nothing (which also shows the fault
/// reached the executors' reads).
#[test]
fn a_failed_read_of_a_spill_file_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    published_embedded(d);
    let mut cluster = Cluster::start(0, d);
    cluster.add_executor(d, Some("spill::read=1*return"));
    let once = cluster.start_run(d, "once", 4).wait_with_output().unwrap();
    assert!(once.status.success(), "{}", stderr(&once));
    assert_published_embedded_tables(d, "once");
    drop(cluster);
    let mut cluster = Cluster::start(0, d);
    cluster.add_executor(d, Some("spill::read=return"));
    let always = cluster
        .start_run(d, "always", 4)
        .wait_with_output()
        .unwrap();
    assert_eq!(always.status.code(), Some(1), "{}", stderr(&always));
    assert!(
        stderr(&always).contains("cannot use the spill file"),
        "{}",
        stderr(&always)
    );
    assert!(!d.join("always/current").exists(), "a failed run published");
}

/// The scheduler lost in the middle of a run (its executor's tasks are
/// slowed, so the job is still running when the scheduler is killed):
/// exit 1 with a message that names the cluster, nothing published, and
/// no hang.
#[test]
fn a_scheduler_lost_mid_run_fails_the_run_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixed_history(d);
    let mut cluster = Cluster::start(0, d);
    cluster.add_executor(d, Some("cluster::task=sleep(3000)"));
    let mut run = cluster.start_run(d, "out", 4);
    std::thread::sleep(Duration::from_millis(1500));
    cluster.processes[0].kill().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while run.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            run.kill().unwrap();
            panic!("the run hangs without its scheduler");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = run.wait_with_output().unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("cluster:"), "{message}");
    assert!(!d.join("out/current").exists(), "something was published");
    eprintln!("scheduler lost: {message}");
}

/// Other processes reach an executor at its --bind address: a wildcard
/// one is a usage error.
#[test]
fn an_executor_on_a_wildcard_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "cluster",
        "executor",
        "--scheduler",
        "127.0.0.1:9",
        "--bind",
        "0.0.0.0:0",
    ];
    let output = retention(&args, dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("wildcard"), "{}", stderr(&output));
}
