//! Survey rows → accepted responses and rejects (the rules and their order
//! are in the [module docs](super)): the row checks of each raw chunk, then
//! the responses after as_of, the exact duplicates and the responses
//! without a matching order. The survey files are read a chunk at a time
//! by `io::surveys` and handed to [`SurveyCheck`], which routes each
//! checked row, with its id, to the customer partition whose range of ids
//! holds it, so that looking up the customers and the rules that need
//! every row of a customer run a partition at a time ([`count_part`]),
//! in this process or on a cluster's executors.

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::{Pipeline, SurveyColumns, SurveysConfig};
use crate::error::{Error, Result};
use crate::stages::customer_ranges::CustomerRanges;
use crate::stages::nps::checked::{Candidate, CheckedRows};
use crate::stages::nps::coded::Coded;
use crate::stages::nps::orders::RespondentOrders;
use crate::stages::orders::{CustomerIds, OrderHistory, RowCounts};
use crate::stages::partition::{Buffered, NoSpill, SpillStore, Stored};
use crate::stages::per_customer::{found_in_part, CustomerParts};
use crate::stages::raw::RawText;
use crate::stages::raw::{row_numbers, text_of, InputFile, RawBatch};
use crate::stages::rejects::{check_reject_share, Reject, RejectReason, RowProblem};
use crate::stages::validate::{trim_key, NumberColumn, TsColumn};
use crate::time::{PlacedTimestamp, TimestampFormat};

/// What the survey stage needs of the pipeline.
#[derive(Debug, Clone)]
pub struct SurveyRules {
    /// The survey file's columns for customer id, response time and score.
    pub columns: SurveyColumns,
    /// `[surveys.csv] timestamp_format`; ISO 8601 without it.
    pub timestamp_format: Option<String>,
    /// The business time zone, which places timestamps without an offset.
    pub time_zone: chrono_tz::Tz,
    /// `[rejects] max_reject_ratio`, applied to the survey rows on their own.
    pub max_reject_ratio: f64,
}

impl SurveyRules {
    pub fn of(pipeline: &Pipeline, surveys: &SurveysConfig) -> SurveyRules {
        SurveyRules {
            columns: surveys.columns.clone(),
            timestamp_format: surveys.csv.timestamp_format.clone(),
            time_zone: pipeline.time_zone,
            max_reject_ratio: pipeline.config.rejects.max_reject_ratio,
        }
    }
}

/// Accepted responses, sorted by (customer, date, instant, score), so the
/// first entry of a customer is their first response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Responses {
    /// The customer's index in the order history.
    pub customer: Vec<u32>,
    /// Local business date.
    pub day: Vec<i32>,
    pub ts_micros: Vec<i64>,
    pub score: Vec<u8>,
}

impl Responses {
    pub fn len(&self) -> usize {
        self.score.len()
    }

    pub fn is_empty(&self) -> bool {
        self.score.is_empty()
    }

    /// Indices of each customer's first response.
    pub fn firsts(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).filter(|&i| i == 0 || self.customer[i] != self.customer[i - 1])
    }

    /// The codes of the responding customers, ascending.
    pub fn respondents(&self) -> Vec<u32> {
        self.firsts().map(|i| self.customer[i]).collect()
    }

    /// From the accepted responses in the documented order.
    fn of_sorted(rows: Vec<Coded>) -> Responses {
        let n = rows.len();
        let mut responses = Responses {
            customer: Vec::with_capacity(n),
            day: Vec::with_capacity(n),
            ts_micros: Vec::with_capacity(n),
            score: Vec::with_capacity(n),
        };
        for c in rows {
            responses.customer.push(c.customer);
            responses.day.push(c.placed.local_day);
            responses.ts_micros.push(c.placed.utc_micros);
            responses.score.push(c.score);
        }
        responses
    }
}

/// A score as a whole number: `9`, `09`, ` 9 `, `9.0` are 9; `8.5`, `nine`
/// are not whole numbers.
fn whole_number(text: &str) -> Option<i64> {
    let t = text.trim();
    t.parse::<i64>().ok().or_else(|| {
        t.parse::<f64>().ok().and_then(|x| match x.is_infinite() {
            // A number too large for a float (`1e400`), not `inf`.
            true if t.bytes().any(|b| b.is_ascii_digit()) => Some(x as i64),
            _ => whole_float(x),
        })
    })
}

/// A whole float as an integer; beyond i64 it saturates, so a huge whole
/// score is out of range rather than invalid.
fn whole_float(x: f64) -> Option<i64> {
    (x.is_finite() && x.fract() == 0.0).then_some(x as i64)
}

/// The survey columns of one raw batch, typed for the row checks.
struct SurveyRows<'a> {
    columns: &'a SurveyColumns,
    format: TimestampFormat,
    time_zone: chrono_tz::Tz,
    ids: StringChunked,
    ts: TsColumn,
    scores: NumberColumn,
}

impl<'a> SurveyRows<'a> {
    fn of(rules: &'a SurveyRules, frame: &DataFrame) -> Result<SurveyRows<'a>> {
        let columns = &rules.columns;
        Ok(SurveyRows {
            columns,
            format: TimestampFormat::new(rules.timestamp_format.as_deref()),
            time_zone: rules.time_zone,
            ids: text_of(frame.column(&columns.customer_id)?)?,
            ts: TsColumn::of(frame, &columns.response_ts, "response_ts")?,
            scores: NumberColumn::of(frame, &columns.score, "score", "an integer or text")?,
        })
    }

    /// Checks one row: customer id, then timestamp, then score.
    fn check(&self, i: usize) -> std::result::Result<(&str, PlacedTimestamp, u8), RowProblem> {
        let id = match self.ids.get(i).map(trim_key) {
            Some(id) if !id.is_empty() => id,
            _ => {
                return Err((
                    RejectReason::MissingCustomerId,
                    self.columns.customer_id.clone(),
                    self.ids.get(i).map(str::to_string),
                ))
            }
        };
        let placed = self
            .ts
            .place(i, &self.format, self.time_zone)
            .map_err(|(reason, raw)| (reason, self.columns.response_ts.clone(), raw))?;
        let score = self
            .score(i)
            .map_err(|(reason, raw)| (reason, self.columns.score.clone(), raw))?;
        Ok((id, placed, score))
    }

    /// A 0–10 whole score, or the reason and raw value (made only for a
    /// reject: most rows have none).
    fn score(&self, i: usize) -> std::result::Result<u8, (RejectReason, Option<String>)> {
        let missing = |raw: Option<&str>| (RejectReason::MissingScore, raw.map(str::to_string));
        let value = match &self.scores {
            NumberColumn::Text(ca) => match ca.get(i) {
                Some(text) if !text.trim().is_empty() => whole_number(text),
                other => return Err(missing(other)),
            },
            NumberColumn::Int(ca) => match ca.get(i) {
                Some(v) => Some(v),
                None => return Err(missing(None)),
            },
            NumberColumn::Float(ca) => match ca.get(i) {
                Some(x) => whole_float(x),
                None => return Err(missing(None)),
            },
        };
        match value {
            Some(v) if (0..=10).contains(&v) => Ok(v as u8),
            None => Err((RejectReason::InvalidScore, Some(self.raw_score(i)))),
            Some(_) => Err((RejectReason::ScoreOutOfRange, Some(self.raw_score(i)))),
        }
    }

    /// Row `i`'s score as the reject shows it: the text, or the number.
    fn raw_score(&self, i: usize) -> String {
        match &self.scores {
            NumberColumn::Text(ca) => ca.get(i).unwrap_or_default().to_string(),
            NumberColumn::Int(ca) => ca.get(i).map(|v| v.to_string()).unwrap_or_default(),
            NumberColumn::Float(ca) => ca.get(i).map(|x| x.to_string()).unwrap_or_default(),
        }
    }
}

/// Rows a survey file's row checks take at a time: the results are moved
/// into the rows waiting for the lookup a chunk at a time, so a raw
/// chunk's rows are not all held twice, once checked and once waiting.
const CHECK_CHUNK_ROWS: usize = 1 << 16;

/// A raw chunk's row checks: the rows that pass, but for those dated after
/// as_of, which are only counted, go to `into` (straight into the rows
/// waiting for the lookup: a chunk's rows of their own would be copied
/// there once more). Returns the rejects, in row order, and the rows after
/// as_of.
fn check_batch(
    (rules, as_of): (&SurveyRules, i32),
    batch: &RawBatch,
    into: &mut CheckedRows,
) -> Result<(Vec<Reject>, u64)> {
    let frame = &batch.frame;
    let numbers = row_numbers(frame)?;
    let survey_rows = SurveyRows::of(rules, frame)?;
    let (mut rejects, mut after_as_of) = (Vec::new(), 0);
    for start in (0..frame.height()).step_by(CHECK_CHUNK_ROWS) {
        let chunk = start..(start + CHECK_CHUNK_ROWS).min(frame.height());
        let results: Vec<_> = (chunk.clone().into_par_iter())
            .map(|i| survey_rows.check(i))
            .collect();
        for (i, result) in chunk.zip(results) {
            let at = (batch.file, numbers[i]);
            match result {
                Ok((_, placed, _)) if placed.local_day > as_of => after_as_of += 1,
                Ok((id, placed, score)) => into.push(at, id, placed, score),
                Err(problem) => rejects.push(Reject::of_row(at.0, at.1, problem)),
            }
        }
    }
    Ok((rejects, after_as_of))
}

/// One chunk of a survey file checked: its rows, those dated after as_of,
/// its row rejects (their raw records filled in) and its checked rows
/// routed to the customer partitions, a piece each.
#[derive(Debug, Default)]
pub struct CheckedChunk {
    pub rows_read: u64,
    pub after_as_of: u64,
    pub rejects: Vec<Reject>,
    pub pieces: Vec<CheckedRows>,
}

/// `batch`, a chunk of the survey file at `path`, checked by `rules` on
/// as_of and routed to `partitions`; an error names the file. The
/// embedded engine and a cluster's read tasks check a chunk so.
pub fn check_chunk(
    rules: (&SurveyRules, i32),
    partitions: &SurveyPartitions,
    (path, batch): (&std::path::Path, &RawBatch),
) -> Result<CheckedChunk> {
    let checked = || -> Result<CheckedChunk> {
        let mut rows = CheckedRows::default();
        let (mut rejects, after_as_of) = check_batch(rules, batch, &mut rows)?;
        if !rejects.is_empty() {
            let numbers: Vec<u32> = rejects.iter().map(|r| r.row).collect();
            RawText::of_rows(batch, &numbers)?.fill(rejects.iter_mut());
        }
        let ranges = partitions.ranges;
        let pieces = rows.route(partitions.count, |id| ranges.partition_of(id.as_bytes()));
        Ok(CheckedChunk {
            rows_read: batch.frame.height() as u64,
            after_as_of,
            rejects,
            pieces,
        })
    };
    checked().map_err(|e| match e {
        Error::Polars(p) => Error::input(path, p.to_string()),
        Error::Usage(message) => Error::input(path, message),
        other => other,
    })
}

/// Where the checked survey rows wait, by customer partition, until every
/// file is read: up to `held_bytes` in memory, the largest partitions'
/// rows written to `spill` past that, so what is held does not grow with
/// the survey files.
pub struct SurveyMemory<'a> {
    pub held_bytes: usize,
    pub spill: &'a dyn SpillStore<CheckedRows>,
}

/// Which customer partition holds each id: the partitions are ranges of
/// ids (`stages::customer_ranges`), so a response goes to the one partition
/// where its customer can be, and is looked up among that partition's
/// customers alone.
#[derive(Clone, Copy)]
pub struct SurveyPartitions<'a> {
    pub ranges: &'a CustomerRanges,
    /// The history's partitions (the ranges may make fewer: the last are
    /// then empty).
    pub count: usize,
}

/// The survey rows validated a chunk at a time as the files are read
/// (see the module docs for the order of the rules), against the customers
/// on `as_of`: each chunk's row checks and their rejects' raw records, the
/// responses after as_of counted, and the rows routed to the customer
/// partition of their id. [`SurveyCheck::finish`] applies the rules that
/// need all of a customer's responses, a partition at a time: the ids
/// looked up among the partition's customers, then duplicates, then the
/// responses without a matching order.
pub struct SurveyCheck<'a> {
    rules: &'a SurveyRules,
    files: &'a [InputFile],
    partitions: SurveyPartitions<'a>,
    as_of: i32,
    counts: RowCounts,
    /// The checked rows, by the partition of their id.
    checked: Buffered<'a, CheckedRows>,
    rejects: Vec<Reject>,
}

/// Validated survey input: `counted` holds what the caller's `count` made
/// of each customer partition's accepted responses, in partition order.
#[derive(Debug)]
pub struct SurveyValidation<T> {
    pub counted: Vec<T>,
    pub counts: RowCounts,
    pub rejects: Vec<Reject>,
}

impl<'a> SurveyCheck<'a> {
    pub fn new(
        (rules, files): (&'a SurveyRules, &'a [InputFile]),
        (partitions, as_of): (SurveyPartitions<'a>, i32),
        memory: SurveyMemory<'a>,
    ) -> SurveyCheck<'a> {
        let checked = Buffered::new(partitions.count, memory.held_bytes, memory.spill);
        SurveyCheck {
            rules,
            files,
            partitions,
            as_of,
            counts: RowCounts::default(),
            checked,
            rejects: Vec::new(),
        }
    }

    /// One chunk of a survey file (the file's chunks in row order); an
    /// error names the file.
    pub fn add(&mut self, batch: &RawBatch) -> Result<()> {
        let path = &self.files[batch.file as usize].path;
        let rules = (self.rules, self.as_of);
        let chunk = check_chunk(rules, &self.partitions, (path, batch))?;
        self.add_checked(chunk)
    }

    /// A chunk checked by [`check_chunk`], here or in another process
    /// (which keeps its routed rows: `pieces` is then empty), the chunks
    /// in file and row order.
    pub fn add_checked(&mut self, mut chunk: CheckedChunk) -> Result<()> {
        self.counts.rows_read += chunk.rows_read;
        self.counts.excluded_after_as_of += chunk.after_as_of;
        self.rejects.append(&mut chunk.rejects);
        self.checked.add(chunk.pieces)
    }

    /// The rules that need every row, a customer partition at a time (as
    /// many in parallel as there are threads): each row's customer found
    /// among the partition's customers in `parts`, the duplicates counted
    /// and dropped, then each response matched with its customer's first
    /// order in `history` (the partition's respondents read alone), and
    /// `count` of the accepted responses and their respondents' orders
    /// ([`count_part`]). Fails when the rejects are more than `[rejects]`
    /// allows. The rejects found here have no raw record yet: their rows
    /// are read again (`stages::rejects::rows_missing_raw`).
    pub fn finish<T: Send>(
        self,
        (history, parts): (&OrderHistory, &CustomerParts),
        count: impl Fn(&Responses, &RespondentOrders) -> Result<T> + Sync,
    ) -> Result<SurveyValidation<T>> {
        debug_assert_eq!(
            parts.part_count(),
            history.part_count(),
            "the history's parts"
        );
        self.finish_with(|checked| {
            // Every partition in parallel, not a few at a time in order:
            // only what the counts keep and the rejects come back, and
            // rayon works on as many partitions at once as it has threads.
            (0..checked.partitions())
                .into_par_iter()
                .map(|p| {
                    let rows = checked.take(p)?;
                    let start = parts.codes_of(p).start;
                    let orders_of = |read: &[u32]| RespondentOrders::read_part(p, read, history);
                    match rows.is_empty() {
                        // A partition without a row reads nothing.
                        true => {
                            count_part(rows, (&CustomerIds::default(), start), orders_of, &count)
                        }
                        false => parts
                            .with_ids(p, |ids| count_part(rows, (ids, start), orders_of, &count))?,
                    }
                })
                .collect()
        })
    }

    /// [`SurveyCheck::finish`], each partition's checked rows validated and
    /// counted by `count_parts` ([`count_part`] of each, in partition
    /// order), which may do so in another process once the rows are all
    /// in the spill files.
    pub fn finish_with<T>(
        mut self,
        count_parts: impl FnOnce(Stored<'_, CheckedRows>) -> Result<Vec<CountedPart<T>>>,
    ) -> Result<SurveyValidation<T>> {
        let checked = std::mem::replace(&mut self.checked, Buffered::new(0, 0, &NoSpill));
        let checked = checked.into_stored();
        tracing::debug!(
            partitions = checked.partitions(),
            spilled = checked.spilled(),
            held_bytes = checked.held_bytes(),
            "survey rows gathered by customer partition"
        );
        let counted = self.add_up(count_parts(checked)?);
        self.counts.rejected = self.rejects.len() as u64;
        check_reject_share(
            &self.rejects,
            self.files,
            self.counts.rows_read,
            self.rules.max_reject_ratio,
            "survey rows",
            "survey file ",
        )?;
        Ok(SurveyValidation {
            counted,
            counts: self.counts,
            rejects: self.rejects,
        })
    }

    /// Each partition's count, in partition order, its accepted and
    /// duplicate rows counted and its rejects added: those of ids no
    /// customer has (in id order, as the partitions are), then those no
    /// order matches.
    fn add_up<T>(&mut self, parts: Vec<CountedPart<T>>) -> Vec<T> {
        debug_assert_eq!(parts.len(), self.partitions.count, "every partition");
        let mut late = Vec::new();
        let mut counted = Vec::with_capacity(parts.len());
        for part in parts {
            self.counts.accepted += part.accepted;
            self.counts.duplicates += part.duplicates;
            self.reject_without_customer(part.unknown);
            late.extend(part.late);
            counted.push(part.counted);
        }
        self.reject_late(late);
        counted
    }

    /// Rejects the responses of ids no customer has.
    fn reject_without_customer(&mut self, unknown: Vec<Candidate>) {
        let column = &self.rules.columns.customer_id;
        self.rejects.extend(unknown.into_iter().map(|c| {
            let problem = (
                RejectReason::ResponseWithoutOrder,
                column.clone(),
                Some(c.id),
            );
            Reject::of_row(c.file, c.row, problem)
        }));
    }

    /// Rejects the responses of known customers that no order matches, in
    /// customer order.
    fn reject_late(&mut self, late: Vec<Late>) {
        let columns = &self.rules.columns;
        for late in late {
            let problem = match late.id_without_order {
                None => (
                    RejectReason::ResponseBeforeFirstOrder,
                    columns.response_ts.clone(),
                    None,
                ),
                Some(id) => (
                    RejectReason::ResponseWithoutOrder,
                    columns.customer_id.clone(),
                    Some(id),
                ),
            };
            let c = late.coded;
            self.rejects.push(Reject::of_row(c.file, c.row, problem));
        }
    }
}

/// A response of a known customer that no order matches.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Late {
    pub coded: Coded,
    /// The customer's id when they have no first order (only refunds:
    /// `response_without_order`, which names the id); none when their
    /// first order is after the response (`response_before_first_order`).
    pub id_without_order: Option<String>,
}

/// What one customer partition's checked rows leave once validated:
/// `count` of its accepted responses, how many it accepted and dropped
/// as exact duplicates, the responses of ids no customer has (in id
/// order) and those no order matches (in customer order).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CountedPart<T> {
    pub counted: T,
    pub accepted: u64,
    pub duplicates: u64,
    pub unknown: Vec<Candidate>,
    pub late: Vec<Late>,
}

/// One partition's checked rows (`rows`) validated and counted: each
/// row's customer found among the partition's customers (`ids`, the
/// first's code being `start`), the exact duplicates dropped, and the
/// rows matched with their customer's first order (`orders_of` the
/// partition's respondents, codes ascending): on or after it they are
/// accepted, sorted by (customer, date, instant, score), and `count` of
/// them and their respondents' orders is kept; the others are late
/// (`response_before_first_order`, or `response_without_order` for a
/// customer with only refunds). The embedded engine and a cluster's
/// executors both validate a partition so.
pub fn count_part<T>(
    rows: CheckedRows,
    (ids, start): (&CustomerIds, usize),
    orders_of: impl FnOnce(&[u32]) -> Result<RespondentOrders>,
    count: impl FnOnce(&Responses, &RespondentOrders) -> Result<T>,
) -> Result<CountedPart<T>> {
    let (coded, unknown) = coded_rows(&rows, (ids, start));
    drop(rows);
    let (unknown, unknown_duplicates) = drop_duplicates(unknown);
    let (coded, duplicates) = without_duplicates(coded);
    let mut read: Vec<u32> = coded.iter().map(|c| c.customer).collect();
    read.dedup();
    let orders = match read.is_empty() {
        true => RespondentOrders::default(),
        false => orders_of(&read)?,
    };
    let (accepted, late) = matched_with_first_orders(coded, (&read, &orders), (ids, start));
    let responses = Responses::of_sorted(accepted);
    let orders = orders.of_kept(&read, &responses.respondents());
    Ok(CountedPart {
        counted: count(&responses, &orders)?,
        accepted: responses.len() as u64,
        duplicates: duplicates + unknown_duplicates,
        unknown,
        late,
    })
}

/// `coded` without its exact duplicates (each response kept once, the
/// first by file and row), and how many were dropped.
fn without_duplicates(mut coded: Vec<Coded>) -> (Vec<Coded>, u64) {
    coded.par_sort_unstable_by_key(Coded::duplicate_order);
    let before = coded.len();
    coded.dedup_by(|c, kept| kept.same_response(c));
    let dropped = (before - coded.len()) as u64;
    (coded, dropped)
}

/// The responses `coded` on or after their customer's first order
/// (`orders` of the respondents `read`), sorted by (customer, date,
/// instant, score); and the others, late, in the order of `coded`, with
/// the id (among `ids`, the first's code `start`) of a customer who has
/// no first order.
fn matched_with_first_orders(
    coded: Vec<Coded>,
    (read, orders): (&[u32], &RespondentOrders),
    (ids, start): (&CustomerIds, usize),
) -> (Vec<Coded>, Vec<Late>) {
    let first_order_of = |c: &Coded| {
        let k = read.binary_search(&c.customer).expect("a respondent");
        orders.first_day[k]
    };
    // The late moved out in place: the accepted are most rows.
    let (mut accepted, mut late) = (coded, Vec::new());
    accepted.retain(|c| match first_order_of(c) {
        Some(first) if c.placed.local_day >= first => true,
        first => {
            let id_without_order = match first {
                Some(_) => None,
                None => Some(ids.get(c.customer as usize - start).to_string()),
            };
            late.push(Late {
                coded: *c,
                id_without_order,
            });
            false
        }
    });
    accepted.par_sort_unstable_by_key(|c| {
        (c.customer, c.placed.local_day, c.placed.utc_micros, c.score)
    });
    (accepted, late)
}

/// The rows of customers among `ids` (whose first's code is `start`),
/// coded, in id order; the others with their ids, in id order.
fn coded_rows(
    rows: &CheckedRows,
    (ids, start): (&CustomerIds, usize),
) -> (Vec<Coded>, Vec<Candidate>) {
    let order = rows.order_by_id();
    let sorted: Vec<&str> = order.iter().map(|&i| rows.id(i as usize)).collect();
    let mut codes = vec![None; sorted.len()];
    for (i, code) in found_in_part(&sorted, ids, start) {
        codes[i as usize] = Some(code);
    }
    drop(sorted);
    let (mut coded, mut unknown) = (Vec::with_capacity(rows.len()), Vec::new());
    for (&i, code) in order.iter().zip(codes) {
        match code {
            Some(customer) => coded.push(rows.coded(i as usize, customer)),
            None => unknown.push(rows.candidate(i as usize)),
        }
    }
    (coded, unknown)
}

/// The candidates without exact duplicates (same id, instant and score),
/// each kept once: the first by (file, row); and how many were dropped.
/// They are in id order.
fn drop_duplicates(mut candidates: Vec<Candidate>) -> (Vec<Candidate>, u64) {
    // Exact duplicates next to each other, the first by (file, row) first.
    candidates.par_sort_unstable_by(|a, b| {
        (&a.id, a.placed.utc_micros, a.score, a.file, a.row).cmp(&(
            &b.id,
            b.placed.utc_micros,
            b.score,
            b.file,
            b.row,
        ))
    });
    let before = candidates.len();
    candidates.dedup_by(|c, p| {
        p.id == c.id && p.placed.utc_micros == c.placed.utc_micros && p.score == c.score
    });
    let dropped = (before - candidates.len()) as u64;
    (candidates, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_only() {
        assert_eq!(whole_number(" 9 "), Some(9));
        assert_eq!(whole_number("09"), Some(9));
        assert_eq!(whole_number("10.0"), Some(10));
        assert_eq!(whole_number("8.5"), None);
        assert_eq!(whole_number("nine"), None);
        assert_eq!(whole_number("NaN"), None);
        assert_eq!(whole_number("-1"), Some(-1));
    }

    /// A file of more rows than a chunk of the row checks, with bad rows
    /// on both sides of the chunk boundary: every row is a candidate or a
    /// reject, in row order, as checking each row on its own says.
    #[test]
    fn row_checks_across_chunks_keep_every_row_in_order() {
        use crate::stages::nps::tests::{survey_batch, utc_rules};
        let n = CHECK_CHUNK_ROWS + 1_500;
        let ids: Vec<String> = (0..n).map(|i| format!("C{}", i % 977)).collect();
        let bad_score = |i: usize| i.is_multiple_of(997) || i == CHECK_CHUNK_ROWS;
        let no_id = |i: usize| i % 1009 == 5 || i == CHECK_CHUNK_ROWS - 1;
        let rows: Vec<(&str, &str, &str)> = (0..n)
            .map(|i| {
                let id = if no_id(i) { " " } else { ids[i].as_str() };
                let score = if bad_score(i) { "11" } else { "7" };
                (id, "2024-01-06", score)
            })
            .collect();
        let rules = utc_rules(1.0);
        let mut candidates = CheckedRows::default();
        let (rejects, _) =
            check_batch((&rules, i32::MAX), &survey_batch(&rows), &mut candidates).unwrap();
        let expected_rejects: Vec<(u32, RejectReason)> = (0..n)
            .filter_map(|i| match (no_id(i), bad_score(i)) {
                (true, _) => Some((i as u32 + 1, RejectReason::MissingCustomerId)),
                (false, true) => Some((i as u32 + 1, RejectReason::ScoreOutOfRange)),
                _ => None,
            })
            .collect();
        let got: Vec<_> = rejects.iter().map(|r| (r.row, r.reason)).collect();
        assert_eq!(got, expected_rejects);
        let expected: Vec<(u32, &str)> = (0..n)
            .filter(|&i| !no_id(i) && !bad_score(i))
            .map(|i| (i as u32 + 1, ids[i].as_str()))
            .collect();
        let got: Vec<_> = (0..candidates.len())
            .map(|i| (candidates.candidate(i).row, candidates.id(i)))
            .collect();
        assert_eq!(got, expected);
        assert!((0..candidates.len()).all(|i| candidates.candidate(i).score == 7));
    }
}
