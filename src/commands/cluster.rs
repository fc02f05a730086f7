//! `retention cluster scheduler|executor`: the processes of a Ballista
//! cluster (`crate::distributed`), in a build with the `distributed`
//! feature.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::cli::ClusterRole;
use crate::error::{Error, Result};

pub fn run(role: ClusterRole) -> Result<()> {
    #[cfg(feature = "distributed")]
    {
        use crate::distributed::{run_executor, run_scheduler, ExecutorOptions};
        match role {
            ClusterRole::Scheduler { bind } => run_scheduler(address(&bind, "--bind")?),
            ClusterRole::Executor {
                scheduler,
                bind,
                work_dir,
                concurrency,
            } => run_executor(ExecutorOptions {
                scheduler: address(&scheduler, "--scheduler")?,
                bind: reachable(address(&bind, "--bind")?)?,
                work_dir,
                concurrency: concurrency.map(|n| n as usize),
            }),
        }
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = role;
        Err(not_built())
    }
}

/// The error of a cluster command or `--engine ballista` in a build
/// without the cluster engine.
pub fn not_built() -> Error {
    Error::Usage(
        "this build of retention has no cluster engine: build it with \
         `cargo build --release --features distributed` (see the README, \"On a cluster\")"
            .into(),
    )
}

/// An executor's --bind: the address other processes reach it at, so not
/// a wildcard one.
#[cfg_attr(not(feature = "distributed"), allow(dead_code))]
fn reachable(bind: SocketAddr) -> Result<SocketAddr> {
    match bind.ip().is_unspecified() {
        true => Err(Error::Usage(format!(
            "--bind `{bind}`: the scheduler and the other executors reach an executor at this \
             address, so it must name a host, not a wildcard"
        ))),
        false => Ok(bind),
    }
}

/// HOST:PORT resolved to its first address.
pub fn address(text: &str, flag: &str) -> Result<SocketAddr> {
    let usage = |why: String| Error::Usage(format!("{flag} `{text}`: {why}"));
    text.to_socket_addrs()
        .map_err(|e| usage(format!("not a HOST:PORT address ({e})")))?
        .next()
        .ok_or_else(|| usage("names no address".into()))
}
