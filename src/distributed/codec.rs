//! How our plan node travels between client, scheduler and executors:
//! Ballista's own codec first (its shuffle nodes), ours second. Every
//! process of a cluster is this binary, so all of them build the codec the
//! same way, and the order of the two is the same everywhere (the composed
//! codec tags each node with its codec's position).

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{
    ComposedPhysicalExtensionCodec, PhysicalExtensionCodec, PhysicalProtoConverterExtension,
};

use super::task::{PartitionTaskExec, Task};

/// What starts an encoded [`PartitionTaskExec`] (then its task as JSON): a
/// process of another version fails to decode rather than misreads.
const MAGIC: &[u8] = b"retention-task/1:";

/// Encodes and decodes [`PartitionTaskExec`]; any other node is refused
/// (the composed codec then tries the next).
#[derive(Debug, Default)]
pub struct TaskCodec;

impl PhysicalExtensionCodec for TaskCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let body = buf
            .strip_prefix(MAGIC)
            .ok_or_else(|| DataFusionError::Internal("not a retention task".into()))?;
        let task: Task = serde_json::from_slice(body)
            .map_err(|e| DataFusionError::Internal(format!("a retention task: {e}")))?;
        match inputs {
            [input] => Ok(Arc::new(PartitionTaskExec::new(task, input.clone()))),
            _ => Err(DataFusionError::Internal(
                "a retention task takes one input".into(),
            )),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let exec = node
            .downcast_ref::<PartitionTaskExec>()
            .ok_or_else(|| DataFusionError::Internal(format!("not ours: {}", node.name())))?;
        buf.extend_from_slice(MAGIC);
        serde_json::to_writer(buf, &exec.task)
            .map_err(|e| DataFusionError::Internal(format!("a retention task: {e}")))
    }
}

/// The physical codec of every process of a cluster.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(ComposedPhysicalExtensionCodec::new(vec![
        Arc::new(BallistaPhysicalExtensionCodec::default()),
        Arc::new(TaskCodec),
    ]))
}
