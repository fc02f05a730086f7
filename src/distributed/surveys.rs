//! The survey files read on the executors, as the order input is
//! (`super::read`): the client cuts them into the same units, and a read
//! task checks each unit's rows a chunk at a time with the embedded
//! engine's `stages::nps::responses::check_chunk`, writing each chunk's
//! rows, routed to their customer partitions, to the unit's file. Only
//! the unit's row counts and row rejects and where each piece starts come
//! back ([`SurveyUnitRead`]); a survey task then reads its partition's
//! pieces from every unit's file ([`survey_part`]).

use std::path::{Path, PathBuf};

use super::read::{pipeline_of_config, PieceIndex, ReadUnit, Refusal, NO_PIECE};
use super::rows::{decode, encode, payloads, read_encoded, written, Kind, Row};
use crate::error::{Error, Result};
use crate::io::input::read_chunks_where;
use crate::io::spill::{read_pieces_at, PieceFile};
use crate::io::surveys::survey_input;
use crate::stages::customer_ranges::CustomerRanges;
use crate::stages::nps::checked::CheckedRows;
use crate::stages::nps::{check_chunk, CheckedChunk, SurveyPartitions, SurveyRules};
use crate::stages::partition::Part;
use crate::stages::raw::InputFile;
use crate::stages::rejects::Reject;

/// How the survey read tasks check and route the rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SurveyReadSettings {
    /// The client's pipeline settings, as JSON.
    pub config: String,
    pub as_of: i32,
    /// The customer partitions' ranges of ids, and how many partitions.
    pub ranges: CustomerRanges,
    pub partitions: usize,
    /// Rows read at a time: a Parquet unit's rows are one such chunk.
    pub chunk_rows: usize,
    /// Whether the units' files are compressed.
    pub compress: bool,
}

/// What a survey read task sends back of one unit: its row counts and
/// row rejects, and where its pieces start in its file.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SurveyUnitRead {
    pub rows_read: u64,
    pub after_as_of: u64,
    pub rejects: Vec<Reject>,
    pub index: PieceIndex,
}

impl SurveyUnitRead {
    /// The unit's counts and rejects as one checked chunk whose rows stay
    /// in the unit's file.
    pub fn checked(self) -> CheckedChunk {
        CheckedChunk {
            rows_read: self.rows_read,
            after_as_of: self.after_as_of,
            rejects: self.rejects,
            pieces: Vec::new(),
        }
    }
}

/// The file of survey unit `u`'s routed rows.
fn unit_file(dir: &Path, u: usize) -> PathBuf {
    dir.join(format!("surveys-unit-{u:05}.bin"))
}

/// The file of every survey unit's index, written by the client for the
/// survey tasks.
fn indexes_file(dir: &Path) -> PathBuf {
    dir.join("survey-units.bin")
}

/// The survey read tasks' work: unit `u` read, checked and routed, its
/// pieces written to its file. Its rows: `Written` and `SurveysRead`, or
/// `Refused` alone.
pub fn read_survey_unit(
    dir: &Path,
    (u, unit): (u32, &ReadUnit),
    settings: &SurveyReadSettings,
) -> Result<Vec<Row>> {
    match check_unit(dir, (u, unit), settings) {
        Ok((read, bytes)) => Ok(vec![
            written(u, bytes)?,
            Row::own(u, Kind::SurveysRead, &read)?,
        ]),
        Err(e) => Ok(vec![Row::own(u, Kind::Refused, &Refusal::of(e)?)?]),
    }
}

/// Unit `u` checked and routed into its file; what is sent back of it,
/// and the file's bytes.
fn check_unit(
    dir: &Path,
    (u, unit): (u32, &ReadUnit),
    settings: &SurveyReadSettings,
) -> Result<(SurveyUnitRead, u64)> {
    let pipeline = pipeline_of_config(&settings.config)?;
    let surveys = pipeline.config.surveys.as_ref().ok_or_else(|| {
        super::rows::cluster_error("a survey read task was sent a pipeline without surveys")
    })?;
    let (rules, spec) = (
        SurveyRules::of(&pipeline, surveys),
        survey_input(&pipeline, surveys),
    );
    let partitions = SurveyPartitions {
        ranges: &settings.ranges,
        count: settings.partitions,
    };
    let file = unit.input();
    let mut out = PieceFile::create(&unit_file(dir, u as usize), settings.compress)?;
    let mut read = SurveyUnitRead {
        rows_read: 0,
        after_as_of: 0,
        rejects: Vec::new(),
        index: PieceIndex {
            partitions: settings.partitions,
            starts: Vec::new(),
        },
    };
    let wanted = |first: usize, _| unit.holds_chunk(first);
    let each = |batch| {
        let chunk = check_chunk((&rules, settings.as_of), &partitions, (&file.path, &batch))?;
        read.add(chunk, &mut out)
    };
    let chunk_rows = settings.chunk_rows;
    read_chunks_where(&spec, unit.file, &file, false, chunk_rows, wanted, each)?;
    let bytes = out.finish()?;
    Ok((read, bytes))
}

impl SurveyUnitRead {
    /// A chunk of the unit: its counts and rejects kept, its pieces
    /// written to `out`, where each starts noted in the index.
    fn add(&mut self, chunk: CheckedChunk, out: &mut PieceFile) -> Result<()> {
        self.rows_read += chunk.rows_read;
        self.after_as_of += chunk.after_as_of;
        self.rejects.extend(chunk.rejects);
        for piece in chunk.pieces {
            let start = match piece.is_empty() {
                true => NO_PIECE,
                false => out.put(&piece)?,
            };
            self.index.starts.push(start);
        }
        Ok(())
    }
}

/// The survey read tasks' rows of `units` (of the survey `files`): the
/// first refusal (in input order) as the run's error; else each unit's
/// read, in input order, their indexes written to `dir` for the survey
/// tasks.
pub fn merge_survey_reads(
    dir: &Path,
    rows: &[Row],
    (units, files): (&[ReadUnit], &[InputFile]),
) -> Result<Vec<SurveyUnitRead>> {
    let refused = rows.iter().filter(|r| r.kind == Kind::Refused);
    if let Some(first) = refused.min_by_key(|r| r.source) {
        let unit = &units[first.source as usize];
        return Err(decode::<Refusal>(&first.payload)?.into_error(unit, files));
    }
    let reads: Vec<SurveyUnitRead> = payloads(rows, Kind::SurveysRead, units.len())?;
    let indexes: Vec<&PieceIndex> = reads.iter().map(|r| &r.index).collect();
    let path = indexes_file(dir);
    std::fs::write(&path, encode(&indexes)?)
        .map_err(|e| Error::output(&path, format!("cannot write the survey units: {e}")))?;
    Ok(reads)
}

/// Customer partition `p`'s checked survey rows: its pieces of every
/// unit's file, in input order.
pub fn survey_part(dir: &Path, p: usize) -> Result<CheckedRows> {
    let indexes: Vec<PieceIndex> = read_encoded(&indexes_file(dir))?;
    let mut pieces = Vec::new();
    for (u, index) in indexes.iter().enumerate() {
        pieces.extend(read_pieces_at::<CheckedRows>(
            &unit_file(dir, u),
            &index.starts_of(p),
        )?);
    }
    Ok(CheckedRows::concat(pieces))
}
