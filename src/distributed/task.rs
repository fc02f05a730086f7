//! The one plan node of ours a Ballista cluster runs: [`PartitionTaskExec`],
//! which runs one step of the orders stage on each partition it is given,
//! calling the same per-partition functions as the embedded engine
//! (`stages::orders::steps`; with a spilled history, the `customers`
//! stage's `stages::per_customer::part_results` and the CLV stage's
//! `stages::clv::fold_part` too, and later its `stages::clv::score_part`,
//! `stages::finish::finish_part` and `stages::nps::responses::count_part`).
//!
//! Everything between tasks travels as rows of one schema (`super::rows`).
//! Pieces of orders are in the spill format (`io::spill`); tallies and
//! histories in bincode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use crate::clv::Scorer;
use crate::error::{Error, Result};
use crate::io::list_files::{run_piece_rows, write_list_run};
use crate::io::sorted_clvs::{open_sorted, write_run};
use crate::io::spill::{
    part_file, piece_bytes, piece_from_bytes, read_pieces, write_whole, Spillable, CLV_SCORES,
    CUSTOMERS, HISTORY, SCORE_GAPS, SCORE_LAST_ORDER, SCORE_ORDERS, SCORE_REVENUE,
};
use crate::stages::clv::{fold_part, score_part, PartScoring, ScoredPart};
use crate::stages::clv_scores::{ClvRanks, ClvScores};
use crate::stages::cohorts::CohortGrid;
use crate::stages::finish::{finish_part, FinishSettings, FinishedPart};
use crate::stages::kpis::MonthlyCounts;
use crate::stages::nps::responses::count_part as count_survey_part;
use crate::stages::nps::{NpsCounter, RespondentOrders};
use crate::stages::orders::{steps, CustomerIds, EntriesView, PartEntries};
use crate::stages::part_counts::{
    count_part, count_values, no_tier_moves, Counted, Counting, PartCounts, StoredCounts,
    ValueCounts, WantedCodes,
};
use crate::stages::partition::{OrderPart, Part};
use crate::stages::per_customer::{part_results, store_results, CustomerPart, StoredResults};
use crate::stages::targets::Targets;
use crate::stages::tiers::TierMoves;
use crate::stages::tiers::Tiers;
use crate::stages::validate::LineKeys;

use super::read::{pipeline_of, read_unit, ReadSettings, ReadUnit, UnitFiles};
use super::rows::{
    cluster_error, decode, encode, from_batches, read_encoded, rows_schema, to_batches,
    write_encoded, written, Kind, Row,
};
use super::surveys::{read_survey_unit, survey_part, SurveyReadSettings};

/// A step of the orders stage, run on every partition a task is given.
/// The files named are in `dir`, which every executor must see at the
/// same path (the run's spill directory, inside the output directory).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Task {
    /// Unit of the input → its lines checked and scattered into its file,
    /// its keys and row rejects sent back (`super::read`).
    Read {
        dir: PathBuf,
        units: Vec<ReadUnit>,
        settings: ReadSettings,
    },
    /// Line partition → its orders, one piece per customer partition
    /// (`Piece` rows, routed by customer partition), and its tallies.
    Assemble {
        dir: PathBuf,
        partitions: usize,
        order_id_column: Option<String>,
    },
    /// The pieces of each customer partition, joined and written to
    /// `orders-NNNNN.bin` (compressed when `compress`); other rows pass
    /// through.
    Gather { dir: PathBuf, compress: bool },
    /// Customer partition → its history on `as_of`, its entries and
    /// per-customer results stored as `storage` says (the client's history
    /// and result stores read them back a part at a time), the rest of it
    /// sent back.
    History {
        dir: PathBuf,
        as_of: i32,
        storage: PartStorage,
    },
    /// Customer partition → its CLV scores (`stages::clv::score_part`), by
    /// the client's scorer in the file `scorer` ([`write_scorer`]), from
    /// the per-customer results a history task stored: the scores and
    /// their sorted CLVs written where the client's CLV stores read them
    /// (compressed when `compress`), and what the partition leaves sent
    /// back.
    Score {
        dir: PathBuf,
        scorer: PathBuf,
        compress: bool,
    },
    /// Customer partition → its segment totals, customer totals and target
    /// list runs (`stages::finish::finish_part`), from the results a
    /// history task stored and, with the CLV stage, the scores a score
    /// task stored and the CLVs the client merged: the runs written where
    /// the client merges them (compressed when `compress`), the rest sent
    /// back.
    Finish {
        dir: PathBuf,
        settings: FinishSettings,
        compress: bool,
    },
    /// Customer partition → its checked survey rows, which the survey
    /// read tasks wrote to `dir`, validated and counted
    /// (`stages::nps::responses::count_part`) by `counter`, the customers'
    /// ids, tiers and orders read from what a history task stored;
    /// `starts` is the code of each partition's first customer. What the
    /// partition leaves is sent back.
    Surveys {
        dir: PathBuf,
        counter: NpsCounter,
        starts: Vec<usize>,
    },
    /// Unit of the survey files → its rows checked and routed into its
    /// file, its row counts and rejects sent back (`super::surveys`).
    ReadSurveys {
        dir: PathBuf,
        units: Vec<ReadUnit>,
        settings: SurveyReadSettings,
    },
}

/// How a history task stores its partition: every customer partition's
/// entries go to the history's spill file in the shared directory,
/// compressed when `compress`, whether or not the client's budget could
/// hold them, so that everything per customer is made where the entries
/// are. The task makes the partition's per-customer results (the
/// `customers` stage's work, tier columns by `tiers`) from the entries it
/// holds and writes them to the results' spill file, where the client's
/// result store reads them: the client never reads the entries back for
/// them. It also counts the partition's cohort grid, monthly counts and
/// (with `tiers`) tier moves as `counting` says.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartStorage {
    pub compress: bool,
    pub tiers: Option<Tiers>,
    /// With the CLV stage: the holdout's calibration end. The task then
    /// also folds the partition's results and entries for the CLV's fits
    /// (`stages::clv::fold_part`) into its fold file ([`fold_file`]),
    /// which the client adds up instead of reading the results and
    /// entries back.
    pub clv_calibration_end: Option<i32>,
    pub counting: Counting,
}

/// A customer partition's history as a history task sends it back:
/// without its entries, with what the join needs of them and what is kept
/// of the results it stored.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PartHistory {
    pub history: steps::CustomerPartHistory,
    pub stored: StoredPart,
}

/// What a history task that stored its partition's entries and results
/// sends back of them.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StoredPart {
    pub entries: steps::EntryFacts,
    pub results: StoredResults,
    /// Whether the task wrote the partition's counts ([`CountFiles`]):
    /// not when no customer of the partition has an order.
    pub counted: bool,
    /// Per dimension, where each value's counts are in its file.
    pub values: Vec<ValueIndex>,
}

/// Where each value's counts are in a partition's file of one
/// dimension's value counts ([`value_counts_file`]): the values' codes
/// in code order, and the offset of each one's record, then the end.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValueIndex {
    pub codes: Vec<u32>,
    pub offsets: Vec<u64>,
}

/// The file of customer partition `p`'s orders, written by `Gather`.
fn orders_file(dir: &Path, p: usize) -> PathBuf {
    dir.join(format!("orders-{p:05}.bin"))
}

/// The file of customer partition `p`'s CLV fold, written by a history
/// task that stores the partition's results.
pub fn fold_file(dir: &Path, p: usize) -> PathBuf {
    dir.join(format!("clv-fold-{p:05}.bin"))
}

/// The file of customer partition `p`'s calibration columns, which the
/// CLV's holdout comparison reads, written with its fold.
pub fn holdout_file(dir: &Path, p: usize) -> PathBuf {
    dir.join(format!("clv-holdout-{p:05}.bin"))
}

/// The files of customer partition `p`'s counts (cohort grid, monthly
/// counts, tier moves), written by its history task; a file each, so
/// each stage that adds them reads only its own.
fn counts_files(dir: &Path, p: usize) -> [PathBuf; 3] {
    ["grid", "monthly", "moves"].map(|kind| dir.join(format!("counts-{kind}-{p:05}.bin")))
}

/// The file of customer partition `p`'s counts of dimension `d`'s values.
fn value_counts_file(dir: &Path, p: usize, d: usize) -> PathBuf {
    dir.join(format!("counts-values-{d}-{p:05}.bin"))
}

/// Writes partition `p`'s counts of each value of dimension `d`
/// (`count_values`) to [`value_counts_file`], a record a value, each
/// encoded and compressed on its own (a small partition's grid is mostly
/// zeros), through a temporary file; their index and the bytes written.
fn write_value_counts(
    dir: &Path,
    (p, d): (usize, usize),
    entries: EntriesView<'_>,
    (as_of, counting): (i32, Counting),
) -> Result<(ValueIndex, u64)> {
    let path = value_counts_file(dir, p, d);
    let staged = path.with_extension("partial");
    let failed = |e: std::io::Error| Error::io(format!("writing `{}`", staged.display()), e);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&staged).map_err(failed)?);
    let mut index = ValueIndex {
        offsets: vec![0],
        ..Default::default()
    };
    count_values(entries, (as_of, counting, d), |value| {
        let record = zstd::bulk::compress(&encode(&value)?, 1).map_err(failed)?;
        std::io::Write::write_all(&mut out, &record).map_err(failed)?;
        index.codes.push(value.code);
        index
            .offsets
            .push(index.offsets.last().copied().unwrap_or(0) + record.len() as u64);
        Ok(())
    })?;
    std::io::Write::flush(&mut out).map_err(failed)?;
    drop(out);
    std::fs::rename(&staged, &path).map_err(failed)?;
    let bytes = index.offsets.last().copied().unwrap_or(0);
    Ok((index, bytes))
}

/// The records of the values `index` lists for which `wanted` holds, read
/// from `path` (one read from the first to the last of them).
fn read_value_counts(
    path: &Path,
    index: &ValueIndex,
    wanted: &WantedCodes<'_>,
) -> Result<Vec<ValueCounts>> {
    let chosen: Vec<usize> = (0..index.codes.len())
        .filter(|&i| wanted(index.codes[i]))
        .collect();
    let (Some(&first), Some(&last)) = (chosen.first(), chosen.last()) else {
        return Ok(Vec::new());
    };
    let (start, end) = (index.offsets[first], index.offsets[last + 1]);
    let failed = |e: std::io::Error| Error::io(format!("reading `{}`", path.display()), e);
    let mut file = std::fs::File::open(path).map_err(failed)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).map_err(failed)?;
    let mut bytes = vec![0; (end - start) as usize];
    std::io::Read::read_exact(&mut file, &mut bytes).map_err(failed)?;
    chosen
        .iter()
        .map(|&i| {
            let at = |o: u64| (o - start) as usize;
            let record = &bytes[at(index.offsets[i])..at(index.offsets[i + 1])];
            let plain = zstd::stream::decode_all(record).map_err(failed)?;
            decode(&plain)
        })
        .collect()
}

/// Writes partition `p`'s counts to [`counts_files`]; the bytes written.
fn write_counts(dir: &Path, p: usize, counts: &PartCounts) -> Result<u64> {
    let [grid, monthly, moves] = counts_files(dir, p);
    let mut bytes = write_encoded(&grid, &counts.grid)? + write_encoded(&monthly, &counts.monthly)?;
    if let Some(tier_moves) = &counts.tier_moves {
        bytes += write_encoded(&moves, tier_moves)?;
    }
    Ok(bytes)
}

/// The customer partitions' counts the history tasks wrote to the run's
/// spill directory, read where a stage adds them, a few partitions at a
/// time.
pub struct CountFiles {
    pub dir: PathBuf,
    /// The partitions whose tasks wrote counts.
    pub partitions: Vec<usize>,
    /// By partition, the index of each dimension's value counts.
    pub values: Vec<Vec<ValueIndex>>,
}

impl StoredCounts for CountFiles {
    fn partitions(&self) -> &[usize] {
        &self.partitions
    }

    fn grid(&self, p: usize) -> Result<Counted<CohortGrid>> {
        read_encoded(&counts_files(&self.dir, p)[0])
    }

    fn monthly(&self, p: usize) -> Result<Counted<MonthlyCounts>> {
        read_encoded(&counts_files(&self.dir, p)[1])
    }

    fn tier_moves(&self, p: usize) -> Result<Counted<TierMoves>> {
        let path = &counts_files(&self.dir, p)[2];
        if !path.exists() {
            return Err(no_tier_moves(p));
        }
        read_encoded(path)
    }

    fn value_counts(
        &self,
        p: usize,
        d: usize,
        wanted: &WantedCodes<'_>,
    ) -> Result<Vec<ValueCounts>> {
        let index = self
            .values
            .get(p)
            .and_then(|dims| dims.get(d))
            .ok_or_else(|| {
                cluster_error(format!(
                    "partition {p} sent no counts of dimension {d}'s values"
                ))
            })?;
        read_value_counts(&value_counts_file(&self.dir, p, d), index, wanted)
    }
}

/// The file of what is known of all lines, written by the client.
pub fn keys_file(dir: &Path) -> PathBuf {
    dir.join("line-keys.bin")
}

impl Task {
    /// The task's output rows from its input rows.
    pub fn run(&self, input: Vec<Row>) -> Result<Vec<Row>> {
        // The executor-kill test: an executor that dies in a task.
        crate::faults::crash_point("cluster::task");
        match self {
            Task::Read {
                dir,
                units,
                settings,
            } => {
                let pipeline = pipeline_of(settings)?;
                each_unit(&input, units, |unit| {
                    read_unit(dir, unit, settings, &pipeline)
                })
            }
            Task::Assemble {
                dir,
                partitions,
                order_id_column,
            } => {
                let keys = read_keys(dir)?;
                let units = UnitFiles::read(dir)?;
                let mut out = Vec::new();
                for row in work(&input) {
                    let step = (&keys, order_id_column.as_deref(), *partitions);
                    out.extend(assemble(dir, (row.partition, &units), step)?);
                }
                Ok(out)
            }
            Task::Gather { dir, compress } => gather(dir, *compress, input),
            Task::History {
                dir,
                as_of,
                storage,
            } => {
                let keys = read_keys(dir)?;
                let mut out = Vec::new();
                for row in work(&input) {
                    out.extend(history(dir, row.partition, (*as_of, storage), &keys)?);
                }
                Ok(out)
            }
            Task::Score {
                dir,
                scorer,
                compress,
            } => {
                let scorer = read_scorer(scorer)?;
                let (how, scorer) = (scorer.0, &scorer.1);
                let mut out = Vec::new();
                for row in work(&input) {
                    out.extend(score(dir, row.partition, (scorer, how), *compress)?);
                }
                Ok(out)
            }
            Task::Finish {
                dir,
                settings,
                compress,
            } => {
                let sorted = settings.clv.then(|| open_sorted(dir)).transpose()?;
                let ranks = sorted.as_deref().map(ClvRanks::of);
                let targets =
                    Targets::of(ranks, settings.scoring.gap_doubled(), &settings.targets)?;
                let mut out = Vec::new();
                for row in work(&input) {
                    let how = (settings, &targets, *compress);
                    out.extend(finish(dir, row.partition, how)?);
                }
                Ok(out)
            }
            Task::Surveys {
                dir,
                counter,
                starts,
            } => work(&input)
                .map(|row| count_surveys(dir, row.partition, (counter, starts)))
                .collect(),
            Task::ReadSurveys {
                dir,
                units,
                settings,
            } => each_unit(&input, units, |unit| read_survey_unit(dir, unit, settings)),
        }
    }
}

fn work(input: &[Row]) -> impl Iterator<Item = &Row> {
    input.iter().filter(|r| r.kind == Kind::Work)
}

/// `read` of each unit of `units` the task was given, its rows joined.
fn each_unit(
    input: &[Row],
    units: &[ReadUnit],
    read: impl Fn((u32, &ReadUnit)) -> Result<Vec<Row>>,
) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for row in work(input) {
        let u = row.partition;
        let unit = units.get(u as usize).ok_or_else(|| {
            cluster_error(format!("a read task was given unit {u} of {}", units.len()))
        })?;
        out.extend(read((u, unit))?);
    }
    Ok(out)
}

fn read_keys(dir: &Path) -> Result<LineKeys> {
    read_encoded(&keys_file(dir))
}

/// `steps::orders_of_part` on line partition `p`, read from the units'
/// files.
fn assemble(
    dir: &Path,
    (p, units): (u32, &UnitFiles),
    (keys, order_id_column, partitions): (&LineKeys, Option<&str>, usize),
) -> Result<Vec<Row>> {
    let part = units.line_part(dir, p as usize)?;
    let mut orders = steps::orders_of_part(part, keys, order_id_column, partitions);
    let mut rows: Vec<Row> = std::mem::take(&mut orders.pieces)
        .iter()
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(customer_partition, piece)| Row {
            partition: customer_partition as u32,
            kind: Kind::Piece,
            source: p,
            payload: piece_bytes(piece),
        })
        .collect();
    rows.push(Row::own(p, Kind::Assembled, &orders)?);
    Ok(rows)
}

/// Joins each customer partition's pieces (in line-partition order, so a
/// rerun writes the same file) into its orders file.
fn gather(dir: &Path, compress: bool, input: Vec<Row>) -> Result<Vec<Row>> {
    let mut pieces: BTreeMap<u32, Vec<OrderPart>> = BTreeMap::new();
    let mut passed = Vec::new();
    for row in input {
        if row.kind != Kind::Piece {
            passed.push(row);
            continue;
        }
        let piece = piece_from_bytes(&row.payload)
            .ok_or_else(|| cluster_error("a piece of orders did not decode"))?;
        pieces.entry(row.partition).or_default().push(piece);
    }
    for (p, parts) in pieces {
        let path = orders_file(dir, p as usize);
        let bytes = write_whole(&path, &OrderPart::concat(parts), compress)?;
        passed.push(written(p, bytes)?);
    }
    Ok(passed)
}

/// `steps::history_of_part` on customer partition `p`, its entries and
/// results stored as `storage` says: the `Written` row, then the
/// `History` row.
fn history(
    dir: &Path,
    p: u32,
    (as_of, storage): (i32, &PartStorage),
    keys: &LineKeys,
) -> Result<Vec<Row>> {
    let part = OrderPart::concat(read_pieces(&orders_file(dir, p as usize))?);
    let mut history = steps::history_of_part(part, as_of, &keys.file_starts);
    let (stored, bytes) = store_part(dir, p, (&mut history, as_of), storage)?;
    let history = PartHistory { history, stored };
    let sent = Row::own(p, Kind::History, &history)?;
    Ok(vec![written(p, bytes)?, sent])
}

/// Customer partition `p`'s per-customer results made from its history's
/// entries on `as_of`, both written to their spill files (the entries
/// taken out of the history), and with a calibration end the CLV's fold
/// of both; what is sent back of them, and the bytes written.
fn store_part(
    dir: &Path,
    p: u32,
    (history, as_of): (&mut steps::CustomerPartHistory, i32),
    storage: &PartStorage,
) -> Result<(StoredPart, u64)> {
    let PartStorage {
        compress,
        tiers,
        clv_calibration_end,
        counting,
    } = storage;
    let compress = *compress;
    let p = p as usize;
    let entries = steps::EntryFacts::of(&history.history);
    let counts = count_part(history.history.view(), as_of, (*counting, tiers.as_ref()));
    let mut bytes = match &counts {
        Some(counts) => write_counts(dir, p, counts)?,
        None => 0,
    };
    let view = history.history.view();
    let mut values = Vec::new();
    for d in 0..view.dimension_count() {
        let (index, written) = write_value_counts(dir, (p, d), view, (as_of, *counting))?;
        values.push(index);
        bytes += written;
    }
    // The results carry the ids: the client need not hold them.
    let ids = history.history.take_ids();
    let made = part_results((ids, history.history.view()), as_of, tiers.as_ref());
    if let Some(end) = *clv_calibration_end {
        let (fold, holdout) = fold_part(&made.0.summary, history.history.view(), end);
        bytes += write_encoded(&fold_file(dir, p), &fold)?;
        bytes += write_encoded(&holdout_file(dir, p), &holdout)?;
    }
    let put = |part: &CustomerPart, gaps: &Vec<i64>| {
        bytes += write_results(dir, p, (part, gaps), compress)?;
        Ok(())
    };
    let results = store_results(made, put)?;
    let path = part_file(dir, HISTORY, p);
    bytes += write_whole(&path, &history.history.take_entries(), compress)?;
    let stored = StoredPart {
        entries,
        results,
        counted: counts.is_some(),
        values,
    };
    Ok((stored, bytes))
}

/// Writes partition `p`'s results and score columns to the files the
/// client's result stores read (`run::result_stores`); the bytes written.
fn write_results(
    dir: &Path,
    p: usize,
    (part, gaps): (&CustomerPart, &Vec<i64>),
    compress: bool,
) -> Result<u64> {
    let s = &part.summary;
    let file = |kind| part_file(dir, kind, p);
    Ok(write_whole(&file(CUSTOMERS), part, compress)?
        + write_whole(&file(SCORE_LAST_ORDER), &s.last_order_day, compress)?
        + write_whole(&file(SCORE_ORDERS), &s.orders, compress)?
        + write_whole(&file(SCORE_REVENUE), &s.revenue_cents, compress)?
        + write_whole(&file(SCORE_GAPS), gaps, compress)?)
}

/// Customer partition `p`'s CLV scores from its stored results, written
/// to the CLV's spill files: the `Written` and `Scored` rows.
fn score(
    dir: &Path,
    p: u32,
    (scorer, how): (&Scorer, PartScoring),
    compress: bool,
) -> Result<Vec<Row>> {
    let part = p as usize;
    let results = read_one::<CustomerPart>(&part_file(dir, CUSTOMERS, part), "results")?;
    let (scores, totals) = score_part(scorer, &results.summary, how);
    let bytes = write_whole(&part_file(dir, CLV_SCORES, part), &scores, compress)?
        + write_run(dir, part, &scores.sorted_clvs())?;
    let scored = ScoredPart {
        uncomputable: scores.uncomputable(),
        totals,
    };
    Ok(vec![
        written(p, bytes)?,
        Row::own(p, Kind::Scored, &scored)?,
    ])
}

/// The one piece of a partition's file `path` that holds its `what`.
fn read_one<T: Spillable>(path: &Path, what: &str) -> Result<T> {
    let mut pieces = read_pieces::<T>(path)?;
    match (pieces.pop(), pieces.is_empty()) {
        (Some(one), true) => Ok(one),
        _ => Err(cluster_error(format!(
            "`{}` does not hold one partition's {what}",
            path.display()
        ))),
    }
}

/// Customer partition `p` finished (`stages::finish::finish_part`) from
/// its stored results and scores, `targets` being the figures of every
/// customer: its list runs written, the `Written` and `Finished` rows.
fn finish(
    dir: &Path,
    p: u32,
    (settings, targets, compress): (&FinishSettings, &Targets, bool),
) -> Result<Vec<Row>> {
    let part = p as usize;
    let results = read_one::<CustomerPart>(&part_file(dir, CUSTOMERS, part), "results")?;
    let scores = match settings.clv {
        true => Some(read_one::<ClvScores>(
            &part_file(dir, CLV_SCORES, part),
            "CLV scores",
        )?),
        false => None,
    };
    let (segments, totals, pieces) =
        finish_part((part, results), scores.as_ref(), targets, settings)?;
    let (mut bytes, mut runs) = (0, Vec::new());
    let how = (run_piece_rows(settings.starts.len()), compress);
    for piece in pieces {
        let run = write_list_run(dir, (piece, settings.starts[part]), how)?;
        bytes += run.as_ref().map_or(0, |(_, written)| *written);
        runs.push(run.map(|(path, _)| path));
    }
    let finished = FinishedPart {
        segments,
        totals,
        runs,
    };
    Ok(vec![
        written(p, bytes)?,
        Row::own(p, Kind::Finished, &finished)?,
    ])
}

/// Customer partition `p`'s checked survey rows, which the survey read
/// tasks routed there, validated and counted by `counter`: the
/// `SurveysCounted` row. Its customers' ids and tiers are
/// read from the history task's results and its respondents' orders from
/// its entries, only when it has a row.
fn count_surveys(dir: &Path, p: u32, (counter, starts): (&NpsCounter, &[usize])) -> Result<Row> {
    let part = p as usize;
    let start = *starts
        .get(part)
        .ok_or_else(|| cluster_error(format!("no first customer for partition {p}")))?;
    let rows = survey_part(dir, part)?;
    let results = match rows.is_empty() {
        true => None,
        false => Some(read_one::<CustomerPart>(
            &part_file(dir, CUSTOMERS, part),
            "results",
        )?),
    };
    let no_ids = CustomerIds::default();
    let ids = results.as_ref().map_or(&no_ids, |r| &r.ids);
    let orders_of = |read: &[u32]| -> Result<_> {
        let entries = read_one::<PartEntries>(&part_file(dir, HISTORY, part), "entries")?;
        Ok(RespondentOrders::of_entries((entries.view(), start), read))
    };
    let tiers_of = |codes: &[u32]| -> Result<Vec<usize>> {
        let tier = results.as_ref().and_then(|r| r.tiers.tier.as_ref());
        let tier = tier
            .ok_or_else(|| cluster_error(format!("partition {p}'s results have no tier column")))?;
        Ok(codes.iter().map(|&c| tier[c as usize - start]).collect())
    };
    let count = |responses: &_, orders: &_| counter.count((responses, orders), tiers_of);
    let counted = count_survey_part(rows, (ids, start), orders_of, count)?;
    Row::own(p, Kind::SurveysCounted, &counted)
}

/// What a score task reads of the client: the scorer and how to score.
type ScorerFile = (PartScoring, Scorer);

/// Writes the CLV's scorer and `how` to `path`, where every executor reads
/// them ([`Task::Score`]); the bytes written.
pub fn write_scorer(path: &Path, scorer: &Scorer, how: PartScoring) -> Result<u64> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::output(path, format!("cannot write the CLV's scorer: {e}"))
    };
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    let mut out = std::io::BufWriter::new(file);
    let bytes =
        bincode::serde::encode_into_std_write((how, scorer), &mut out, bincode::config::standard())
            .map_err(|e| failed(&e))?;
    std::io::Write::flush(&mut out).map_err(|e| failed(&e))?;
    Ok(bytes as u64)
}

/// The scorer in `path`, read once per process: an executor's score tasks
/// of one run share it (about 70 MB and 0.17 s to read a million unique
/// rows), and the next run's file, another path, replaces it.
fn read_scorer(path: &Path) -> Result<Arc<ScorerFile>> {
    static LAST: std::sync::Mutex<Option<(PathBuf, Arc<ScorerFile>)>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((read, scorer)) = last.as_ref() {
        if read == path {
            return Ok(Arc::clone(scorer));
        }
    }
    *last = None;
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("reading `{}`", path.display()), e))?;
    let clock = std::time::Instant::now();
    let mut input = std::io::BufReader::new(file);
    let scorer: ScorerFile =
        bincode::serde::decode_from_std_read(&mut input, bincode::config::standard())
            .map_err(|e| cluster_error(format!("cannot read the CLV's scorer: {e}")))?;
    tracing::debug!(
        seconds = clock.elapsed().as_secs_f64(),
        "clv scorer read from the client"
    );
    let scorer = Arc::new(scorer);
    *last = Some((path.to_path_buf(), Arc::clone(&scorer)));
    Ok(scorer)
}

/// A [`Task`] over every partition of its input. Its partitions are its
/// input's, taken from the input as it is now: the scheduler gives each
/// task a slice of a stage's partitions and rebuilds the plan with it.
#[derive(Debug)]
pub struct PartitionTaskExec {
    pub task: Task,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl PartitionTaskExec {
    pub fn new(task: Task, input: Arc<dyn ExecutionPlan>) -> PartitionTaskExec {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(rows_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        PartitionTaskExec {
            task,
            input,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for PartitionTaskExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let name = match self.task {
            Task::Read { .. } => "read",
            Task::Assemble { .. } => "assemble",
            Task::Gather { .. } => "gather",
            Task::History { .. } => "history",
            Task::Score { .. } => "score",
            Task::Finish { .. } => "finish",
            Task::Surveys { .. } => "surveys",
            Task::ReadSurveys { .. } => "read surveys",
        };
        write!(f, "PartitionTaskExec: {name}")
    }
}

impl ExecutionPlan for PartitionTaskExec {
    fn name(&self) -> &str {
        "PartitionTaskExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match children.len() {
            1 => Ok(Arc::new(PartitionTaskExec::new(
                self.task.clone(),
                children.swap_remove(0),
            ))),
            n => Err(DataFusionError::Internal(format!(
                "PartitionTaskExec takes one input, not {n}"
            ))),
        }
    }

    /// Reads the whole input partition, then runs the step on a blocking
    /// thread (it is CPU and file work) and streams its rows.
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let task = self.task.clone();
        let output = async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let run = move || -> Result<Vec<RecordBatch>> {
                let rows = task.run(from_batches(&batches)?)?;
                to_batches(&rows)
            };
            let batches = tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .map_err(task_error)?;
            Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
        };
        let stream = futures::stream::once(output).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            rows_schema(),
            stream.boxed(),
        )))
    }
}

/// A step's error as DataFusion's: a file error may be retried by the
/// scheduler (another executor may see the file), anything else fails the
/// job. Either way the message is ours, the file named.
fn task_error(e: Error) -> DataFusionError {
    match e {
        Error::Io { context, source } => DataFusionError::IoError(std::io::Error::new(
            source.kind(),
            format!("{context}: {source}"),
        )),
        other => DataFusionError::Execution(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::rows::CHUNK_BYTES;
    use super::*;
    use crate::stages::clv::{ClvFoldPart, PartColumns};
    use crate::time::CohortPeriod;

    #[test]
    fn rows_survive_batches_in_chunks_whatever_their_order() {
        let big: Vec<u8> = (0..(CHUNK_BYTES * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let rows = vec![
            Row {
                partition: 0,
                kind: Kind::Work,
                source: 0,
                payload: vec![],
            },
            Row {
                partition: 3,
                kind: Kind::Piece,
                source: 1,
                payload: big.clone(),
            },
            Row {
                partition: 3,
                kind: Kind::Piece,
                source: 2,
                payload: vec![7; 10],
            },
            Row {
                partition: 9,
                kind: Kind::History,
                source: 9,
                payload: big,
            },
        ];
        let mut batches = to_batches(&rows).unwrap();
        assert!(
            batches.len() >= 4,
            "the big payloads are cut: {}",
            batches.len()
        );
        batches.reverse();
        assert_eq!(from_batches(&batches).unwrap(), rows);
    }

    /// Orders of customers `a` and `b` (a refund among them) on days
    /// 100 to 103, lines 0.. in order.
    fn orders() -> OrderPart {
        let mut part = OrderPart::default();
        for (i, (id, day, cents)) in [
            ("b", 100, 500),
            ("a", 101, 300),
            ("b", 103, -200),
            ("b", 102, 900),
        ]
        .into_iter()
        .enumerate()
        {
            part.customer.push(id.as_bytes());
            part.day.push(day);
            part.ts_micros.push(day as i64 * 86_400_000_000);
            part.cents.push(cents);
            part.first_line.push(i as u32);
            part.line_count.push(1);
            part.lines.push(i as u32);
        }
        part
    }

    fn file_size(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    /// A history task stores its partition's entries, the per-customer
    /// results made from them and, with a calibration end, their CLV fold;
    /// it sends back what the client keeps of those with the partition's
    /// cohort grid, monthly counts and tier moves, and says how many bytes
    /// it wrote: the sizes of the files.
    #[test]
    fn a_history_task_stores_entries_and_results_and_counts_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let keys = LineKeys {
            file_starts: vec![0],
            ..Default::default()
        };
        std::fs::write(keys_file(d), encode(&keys).unwrap()).unwrap();
        write_whole(&orders_file(d, 3), &orders(), false).unwrap();
        let tiers = Tiers::new(vec![("Low".into(), 0), ("High".into(), 1000)]);
        let counting = Counting {
            cohort_period: CohortPeriod::Week,
            activity_window_days: 30,
        };
        let task = Task::History {
            dir: d.to_path_buf(),
            as_of: 110,
            storage: PartStorage {
                compress: true,
                tiers: Some(tiers.clone()),
                clv_calibration_end: Some(101),
                counting,
            },
        };
        let work = Row {
            partition: 3,
            kind: Kind::Work,
            source: 3,
            payload: vec![],
        };
        let rows = task.run(vec![work]).unwrap();
        let kinds: Vec<Kind> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [Kind::Written, Kind::History]);
        let (history, results) = (part_file(d, HISTORY, 3), part_file(d, CUSTOMERS, 3));
        let scores = [SCORE_LAST_ORDER, SCORE_ORDERS, SCORE_REVENUE, SCORE_GAPS]
            .map(|kind| part_file(d, kind, 3));
        let (fold, holdout) = (fold_file(d, 3), holdout_file(d, 3));
        let counts = counts_files(d, 3);
        let files = [&history, &results, &fold, &holdout]
            .into_iter()
            .chain(&scores)
            .chain(&counts);
        let bytes: u64 = decode(&rows[0].payload).unwrap();
        assert_eq!(bytes, files.map(|f| file_size(f)).sum::<u64>());
        // What the client would have made from the same entries.
        let local = steps::history_of_part(orders(), 110, &keys.file_starts);
        let ids = local.history.customer_ids.clone();
        let (part, gaps) = part_results((ids, local.history.view()), 110, Some(&tiers));
        assert_eq!(part.summary.orders, [1, 2]);
        let (folded, columns) = fold_part(&part.summary, local.history.view(), 101);
        assert_eq!(read_encoded::<ClvFoldPart>(&fold).unwrap(), folded);
        assert_eq!(read_encoded::<PartColumns>(&holdout).unwrap(), columns);
        let sent: PartHistory = decode(&rows[1].payload).unwrap();
        let stored = sent.stored;
        let counted = count_part(local.history.view(), 110, (counting, Some(&tiers))).unwrap();
        let files = CountFiles {
            dir: d.to_path_buf(),
            partitions: vec![3],
            values: Vec::new(),
        };
        assert!(stored.counted && stored.values.is_empty());
        assert_eq!(files.grid(3).unwrap(), counted.grid);
        assert_eq!(files.monthly(3).unwrap(), counted.monthly);
        assert_eq!(Some(files.tier_moves(3).unwrap()), counted.tier_moves);
        assert!(files.tier_moves(4).is_err());
        assert_eq!((stored.results.customers, stored.results.gaps), (2, 1));
        assert_eq!(read_pieces::<Vec<i64>>(&scores[3]).unwrap(), [gaps]);
        assert_eq!(
            read_pieces::<Vec<i64>>(&scores[2]).unwrap(),
            std::slice::from_ref(&part.summary.revenue_cents)
        );
        assert_eq!(part.ids.len(), 2);
        assert_eq!(read_pieces::<CustomerPart>(&results).unwrap(), [part]);
        // The entries and ids went to files; the history keeps their count.
        let sent = &sent.history.history;
        assert!(sent.day.is_empty() && sent.cents.is_empty() && sent.offsets.is_empty());
        assert!(sent.customer_ids.is_empty() && sent.customers() == 2);
    }

    /// Each value's counts written a record at a time and read back by
    /// the codes wanted: the records `count_values` made, whichever codes
    /// are asked for (none, some, the missing value's, all).
    #[test]
    fn value_counts_are_read_back_by_the_codes_wanted() {
        use crate::stages::orders::HistoryPart;
        use crate::stages::validate::NO_CODE;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let rows = [
            ("a", 10, 500),
            ("b", 40, 700),
            ("b", 90, 300),
            ("c", 95, 200),
            ("e", 99, 100),
        ];
        let mut part = HistoryPart::from_rows(&rows);
        part.dimensions = vec![vec![7, NO_CODE, 2, 7]];
        let counting = Counting {
            cohort_period: CohortPeriod::Week,
            activity_window_days: 30,
        };
        let (index, bytes) = write_value_counts(d, (5, 0), part.view(), (120, counting)).unwrap();
        assert_eq!(index.codes, [2, 7, NO_CODE]);
        assert_eq!(bytes, file_size(&value_counts_file(d, 5, 0)));
        let mut made = Vec::new();
        count_values(part.view(), (120, counting, 0), |v| {
            made.push(v);
            Ok(())
        })
        .unwrap();
        let files = CountFiles {
            dir: d.to_path_buf(),
            partitions: vec![5],
            values: vec![Vec::new(); 5]
                .into_iter()
                .chain([vec![index]])
                .collect(),
        };
        let read = |wanted: &WantedCodes<'_>| files.value_counts(5, 0, wanted).unwrap();
        assert_eq!(read(&|_| true), made);
        assert_eq!(read(&|_| false), []);
        assert_eq!(read(&|c| c == 7), made[1..2]);
        assert_eq!(read(&|c| c != 7), [made[0].clone(), made[2].clone()]);
        assert_eq!(read(&|c| c == NO_CODE)[0].grid, made[2].grid);
        assert!(files.value_counts(5, 1, &|_| true).is_err());
    }

    /// A gather task says how many bytes each customer partition's orders
    /// file took.
    #[test]
    fn a_gather_task_counts_the_bytes_of_its_orders_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let piece = |source| Row {
            partition: 5,
            kind: Kind::Piece,
            source,
            payload: piece_bytes(&orders()),
        };
        let task = Task::Gather {
            dir: d.to_path_buf(),
            compress: false,
        };
        let rows = task.run(vec![piece(0), piece(1)]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].kind, rows[0].partition), (Kind::Written, 5));
        let bytes: u64 = decode(&rows[0].payload).unwrap();
        assert_eq!(bytes, file_size(&orders_file(d, 5)));
        let joined = OrderPart::concat(read_pieces(&orders_file(d, 5)).unwrap());
        assert_eq!(joined.day.len(), 8);
    }

    #[test]
    fn a_payload_without_its_first_chunk_is_an_error() {
        let row = Row {
            partition: 1,
            kind: Kind::History,
            source: 1,
            payload: vec![1; CHUNK_BYTES + 1],
        };
        let batches = to_batches(&[row]).unwrap();
        assert!(from_batches(&batches[1..]).is_err());
    }
}
