//! What travels between a cluster's tasks and back to the client: rows of
//! one schema ([`rows_schema`]): a partition number, what the row holds
//! ([`Kind`]), the partition that made it, and a payload in chunks of at
//! most [`CHUNK_BYTES`], so no Arrow message comes near gRPC's size limit
//! whatever a partition's size; and the bincode the payloads (and the
//! small files tasks share) are in.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BinaryArray, RecordBatch, UInt32Array, UInt8Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};

/// Payload bytes per row at most: a Flight message stays far below gRPC's
/// 16 MiB default limit.
pub(super) const CHUNK_BYTES: usize = 4 << 20;

/// What a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A partition to work on (no payload): the input of a step.
    Work = 0,
    /// A piece of one customer partition's orders, from one line partition.
    Piece = 1,
    /// A line partition's tallies (`steps::LinePartOrders`, pieces taken).
    Assembled = 2,
    /// A customer partition's history ([`PartHistory`]).
    History = 3,
    /// Bytes a task wrote to the run's spill directory for one partition
    /// (a `u64`): the run reports them with the client's own.
    Written = 4,
    /// What a customer partition scored by the CLV's scorer leaves
    /// (`stages::clv::ScoredPart`).
    Scored = 5,
    /// What a read task made of a unit of the input
    /// ([`super::read::UnitRead`]).
    Read = 6,
    /// Why a read task refused a unit of the input
    /// ([`super::read::Refusal`]).
    Refused = 7,
    /// What a finished customer partition leaves
    /// (`stages::finish::FinishedPart`).
    Finished = 8,
    /// What a customer partition's survey rows leave once validated and
    /// counted (`stages::nps::CountedPart`).
    SurveysCounted = 9,
    /// What a survey read task made of a unit of the survey files
    /// ([`super::surveys::SurveyUnitRead`]).
    SurveysRead = 10,
}

impl Kind {
    fn of(code: u8) -> Option<Kind> {
        let kinds = [
            Kind::Work,
            Kind::Piece,
            Kind::Assembled,
            Kind::History,
            Kind::Written,
            Kind::Scored,
            Kind::Read,
            Kind::Refused,
            Kind::Finished,
            Kind::SurveysCounted,
            Kind::SurveysRead,
        ];
        kinds.into_iter().find(|k| *k as u8 == code)
    }
}

/// One payload between tasks, whole (its chunks joined).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The partition the row is routed by (the shuffle hashes it).
    pub partition: u32,
    pub kind: Kind,
    /// The partition that made it.
    pub source: u32,
    pub payload: Vec<u8>,
}

/// The schema of every row between tasks.
pub fn rows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("partition", DataType::UInt32, false),
        Field::new("kind", DataType::UInt8, false),
        Field::new("source", DataType::UInt32, false),
        Field::new("seq", DataType::UInt32, false),
        Field::new("payload", DataType::Binary, false),
    ]))
}

/// `rows` as record batches: each payload cut into chunks, a batch
/// holding chunks up to about [`CHUNK_BYTES`].
pub fn to_batches(rows: &[Row]) -> Result<Vec<RecordBatch>> {
    let mut chunks: Vec<(&Row, u32, &[u8])> = Vec::new();
    for row in rows {
        let mut pieces: Vec<&[u8]> = row.payload.chunks(CHUNK_BYTES).collect();
        if pieces.is_empty() {
            pieces.push(&[]);
        }
        chunks.extend(
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, c)| (row, i as u32, c)),
        );
    }
    let mut batches = Vec::new();
    let mut start = 0;
    while start < chunks.len() {
        let mut end = start + 1;
        let mut bytes = chunks[start].2.len();
        while end < chunks.len() && bytes + chunks[end].2.len() <= CHUNK_BYTES {
            bytes += chunks[end].2.len();
            end += 1;
        }
        batches.push(batch_of(&chunks[start..end])?);
        start = end;
    }
    Ok(batches)
}

fn batch_of(chunks: &[(&Row, u32, &[u8])]) -> Result<RecordBatch> {
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(UInt32Array::from_iter_values(
            chunks.iter().map(|c| c.0.partition),
        )),
        Arc::new(UInt8Array::from_iter_values(
            chunks.iter().map(|c| c.0.kind as u8),
        )),
        Arc::new(UInt32Array::from_iter_values(
            chunks.iter().map(|c| c.0.source),
        )),
        Arc::new(UInt32Array::from_iter_values(chunks.iter().map(|c| c.1))),
        Arc::new(BinaryArray::from_iter_values(chunks.iter().map(|c| c.2))),
    ];
    RecordBatch::try_new(rows_schema(), columns).map_err(|e| cluster_error(e.to_string()))
}

/// The rows of `batches`, chunks joined, ordered by (partition, kind,
/// source): the same order whatever order the batches came in.
pub fn from_batches(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut chunks: BTreeMap<(u32, u8, u32, u32), &[u8]> = BTreeMap::new();
    for batch in batches {
        let column = |i: usize| batch.column(i).as_any();
        let bad = || cluster_error("a task sent rows of another schema");
        let partition = column(0).downcast_ref::<UInt32Array>().ok_or_else(bad)?;
        let kind = column(1).downcast_ref::<UInt8Array>().ok_or_else(bad)?;
        let source = column(2).downcast_ref::<UInt32Array>().ok_or_else(bad)?;
        let seq = column(3).downcast_ref::<UInt32Array>().ok_or_else(bad)?;
        let payload = column(4).downcast_ref::<BinaryArray>().ok_or_else(bad)?;
        for i in 0..batch.num_rows() {
            let key = (
                partition.value(i),
                kind.value(i),
                source.value(i),
                seq.value(i),
            );
            chunks.insert(key, payload.value(i));
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for ((partition, kind, source, seq), bytes) in chunks {
        let kind = Kind::of(kind).ok_or_else(|| cluster_error("a row of an unknown kind"))?;
        match rows.last_mut() {
            Some(last)
                if seq > 0
                    && (last.partition, last.kind, last.source) == (partition, kind, source) =>
            {
                last.payload.extend_from_slice(bytes)
            }
            _ if seq > 0 => return Err(cluster_error("a payload lost its first chunk")),
            _ => rows.push(Row {
                partition,
                kind,
                source,
                payload: bytes.to_vec(),
            }),
        }
    }
    Ok(rows)
}

impl Row {
    /// The row of kind `kind` partition `p` made for itself, `value`
    /// encoded.
    pub(super) fn own<T: serde::Serialize>(p: u32, kind: Kind, value: &T) -> Result<Row> {
        Ok(Row {
            partition: p,
            kind,
            source: p,
            payload: encode(value)?,
        })
    }
}

/// The row that says a task wrote `bytes` to the spill directory for
/// partition `p`.
pub(super) fn written(p: u32, bytes: u64) -> Result<Row> {
    Row::own(p, Kind::Written, &bytes)
}

/// Writes `value` encoded to `path` through a temporary file, so a task
/// run again replaces it whole; the bytes written.
pub(super) fn write_encoded<T: serde::Serialize>(path: &Path, value: &T) -> Result<u64> {
    let bytes = encode(value)?;
    let staged = path.with_extension("partial");
    std::fs::write(&staged, &bytes)
        .and_then(|()| std::fs::rename(&staged, path))
        .map_err(|e| Error::io(format!("writing `{}`", path.display()), e))?;
    Ok(bytes.len() as u64)
}

/// The value [`write_encoded`] wrote to `path`.
pub fn read_encoded<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading `{}`", path.display()), e))?;
    decode(&bytes)
}

pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| cluster_error(format!("cannot encode a task's result: {e}")))
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|e| cluster_error(format!("cannot decode a task's result: {e}")))
}

pub fn cluster_error(message: impl Into<String>) -> Error {
    Error::Cluster(message.into())
}

/// The payloads of kind `kind`, decoded, one from each of `partitions`
/// partitions, in partition order.
pub(super) fn payloads<T: serde::de::DeserializeOwned>(
    rows: &[Row],
    kind: Kind,
    partitions: usize,
) -> Result<Vec<T>> {
    let of_kind: Vec<&Row> = rows.iter().filter(|r| r.kind == kind).collect();
    let reported: Vec<u32> = of_kind.iter().map(|r| r.source).collect();
    if reported != (0..partitions as u32).collect::<Vec<_>>() {
        return Err(cluster_error(format!(
            "{kind:?}: {} of {partitions} partitions reported; nothing is published",
            reported.len()
        )));
    }
    of_kind.iter().map(|r| decode(&r.payload)).collect()
}
