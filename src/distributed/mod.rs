//! The Ballista engine (`--engine ballista`, feature `distributed`): the
//! partitioned plan's orders stage on an Apache DataFusion Ballista
//! cluster whose every process is this binary (`retention cluster`).
//!
//! What runs where: executors read, check and scatter the input's lines
//! a unit at a time (`read`) with the embedded engine's functions, and
//! the client merges what the units know of their lines; executors group
//! each line partition into orders, Ballista's hash shuffle moves the
//! orders to their customer partitions, and executors build each customer partition's history,
//! writing its entries to the history's spill files (whatever the memory
//! budget) and making its per-customer results and CLV folds from them;
//! the client joins the histories in id order and runs the later stages
//! over the stored parts, but for the CLV scores, which the executors make
//! with the client's fitted scorer, and each partition's segment totals
//! and target list rows, which they make too ([`ClusterParts`]). Each
//! step on an executor is the embedded engine's own function
//! (`stages::orders::steps`) inside one plan node of ours
//! ([`task::PartitionTaskExec`]), so the definitions have one
//! implementation and the tables are the same on either engine (the
//! differential tests check it).

mod cluster;
mod codec;
mod engine;
mod read;
mod rows;
mod surveys;
mod task;

pub use cluster::{check_scheduler, run_executor, run_scheduler, ExecutorOptions};
pub use engine::{
    build_orders_on_cluster, read_on_cluster, ClusterOrders, ClusterParts, ClusterRun, ReadPlan,
    SpilledHistory,
};
pub use read::{ReadLines, UnitFiles};
