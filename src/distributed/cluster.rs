//! The processes of a cluster, all this binary: a scheduler, executors
//! (`retention cluster scheduler|executor`), and the in-process cluster of
//! one scheduler and one executor that `--engine ballista` starts when no
//! scheduler is given.
//!
//! Executors poll the scheduler for work (Ballista's pull mode): an
//! executor listens on one port only, for Arrow Flight (the shuffle and
//! the results), and a scheduler never dials an executor.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::{BallistaCodec, BallistaLogicalExtensionCodec};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use super::codec::physical_codec;
use super::rows::cluster_error;
use crate::error::{Error, Result};

/// Seconds without a poll after which the scheduler takes an executor for
/// dead and runs its tasks elsewhere. Ballista's default is 180 s; an
/// executor in pull mode polls at least every 5 s while busy.
const EXECUTOR_TIMEOUT_SECONDS: u64 = 20;
const EXPIRY_CHECK_SECONDS: u64 = 2;

/// Fails when no scheduler answers at `address` (`HOST:PORT`): a run on
/// a cluster checks it before reading its input, so a wrong address or a
/// scheduler that is down costs seconds, not the input's validation.
/// (The channel is closed again: the jobs open their own.)
pub fn check_scheduler(address: &str) -> Result<()> {
    let url = format!("http://{address}");
    let connect = async {
        let attempt = SchedulerGrpcClient::connect(url.clone());
        tokio::time::timeout(std::time::Duration::from_secs(10), attempt).await
    };
    match runtime()?.block_on(connect) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable_scheduler(address, &e.to_string())),
        Err(_) => Err(unreachable_scheduler(address, "no answer within 10 s")),
    }
}

fn unreachable_scheduler(address: &str, why: &str) -> Error {
    cluster_error(format!(
        "the scheduler at {address} cannot be reached ({why}); nothing is published"
    ))
}

/// The runtime of a cluster process or of a client run.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the cluster client's runtime", e))
}

/// `retention cluster scheduler`: serves until the process is stopped.
pub fn run_scheduler(bind: SocketAddr) -> Result<()> {
    runtime()?.block_on(async {
        let (address, server) = start_scheduler(bind).await?;
        eprintln!("scheduler listening on {address} (stop it with Ctrl-C or SIGTERM)");
        tokio::select! {
            served = server => served
                .map_err(|e| cluster_error(e.to_string()))?
                .map_err(|e| cluster_error(format!("scheduler: {e}"))),
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminated() => Ok(()),
        }
    })
}

async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

type Served = tokio::task::JoinHandle<ballista_core::error::Result<()>>;

/// A scheduler on `bind` (port 0: any free port), with our codec; returns
/// the address it listens on and its server's task.
pub async fn start_scheduler(bind: SocketAddr) -> Result<(SocketAddr, Served)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| Error::io(format!("binding the scheduler to {bind}"), e))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::io("reading the scheduler's address", e))?;
    let config = SchedulerConfig {
        bind_host: address.ip().to_string(),
        bind_port: address.port(),
        external_host: address.ip().to_string(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        override_physical_codec: Some(physical_codec()),
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECONDS,
        expire_dead_executor_interval_seconds: EXPIRY_CHECK_SECONDS,
        ..Default::default()
    };
    let failed = |e: ballista_core::error::BallistaError| cluster_error(format!("scheduler: {e}"));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed)?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(failed)?;
    let server = tokio::spawn(start_grpc_service_with_listener(listener, scheduler));
    Ok((address, server))
}

/// What `retention cluster executor` was given.
pub struct ExecutorOptions {
    pub scheduler: SocketAddr,
    pub bind: SocketAddr,
    pub work_dir: Option<PathBuf>,
    /// Tasks at once (default: every core).
    pub concurrency: Option<usize>,
}

/// `retention cluster executor`: polls the scheduler for tasks until the
/// process gets Ctrl-C or SIGTERM (then finishes its running tasks).
/// Fails at once when the scheduler cannot be reached.
pub fn run_executor(options: ExecutorOptions) -> Result<()> {
    let work_dir = options.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("retention-executor-{}", options.bind.port()))
    });
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| Error::output(&work_dir, format!("cannot create the work directory: {e}")))?;
    let host = options.bind.ip().to_string();
    let config = ExecutorProcessConfig {
        bind_host: host.clone(),
        external_host: Some(host),
        port: options.bind.port(),
        // Bound in Ballista's push mode only; never in ours.
        grpc_port: options.bind.port().wrapping_add(1),
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        vcores: options.concurrency.unwrap_or(0),
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        override_physical_codec: Some(physical_codec()),
        ..Default::default()
    };
    eprintln!(
        "executor on {} polling the scheduler at {} (stop it with Ctrl-C or SIGTERM)",
        options.bind, options.scheduler
    );
    runtime()?
        .block_on(start_executor_process(Arc::new(config)))
        .map_err(|e| cluster_error(format!("executor: {e}")))
}

/// A scheduler and one executor in this process, on loopback ports the
/// system picks; returns the scheduler's address. They stop when the
/// runtime they were started on is dropped.
pub async fn start_in_process(executor_tasks: usize) -> Result<SocketAddr> {
    let (address, _server) = start_scheduler(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let scheduler = SchedulerGrpcClient::connect(format!("http://{address}"))
        .await
        .map_err(|e| cluster_error(format!("connecting to the in-process scheduler: {e}")))?;
    let config_producer: ConfigProducer = Arc::new(ballista_core::utils::default_config_producer);
    let runtime = Arc::new(RuntimeEnv::default());
    let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(runtime.clone()));
    let codec = BallistaCodec::new(
        Arc::new(BallistaLogicalExtensionCodec::default()),
        physical_codec(),
    );
    ballista_executor::new_standalone_executor_from_builder(
        scheduler,
        executor_tasks,
        config_producer,
        runtime_producer,
        codec,
        Default::default(),
    )
    .await
    .map_err(|e| cluster_error(format!("in-process executor: {e}")))?;
    Ok(address)
}
