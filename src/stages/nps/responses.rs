//! Survey rows → accepted responses and rejects (the rules and their order
//! are in the [module docs](super)): the row checks of each raw chunk, then
//! the responses after as_of, the exact duplicates and the responses
//! without a matching order. The survey files are read a chunk at a time
//! by `io::surveys` and handed to [`SurveyCheck`], which keeps a compact
//! row per response (a customer code, not the id text) in the partition
//! of its customer, so the rules that need every row of a customer run a
//! partition at a time.

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::{Pipeline, SurveyColumns, SurveysConfig};
use crate::error::{Error, Result};
use crate::stages::nps::checked::{self, Candidate, CheckedRows};
use crate::stages::nps::orders::RespondentOrders;
use crate::stages::nps::survey_part::{Coded, SurveyPart};
use crate::stages::orders::{OrderHistory, RowCounts};
use crate::stages::partition::{Buffered, NoSpill, SpillStore, Stored};
use crate::stages::per_customer::CustomerParts;
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

/// Where the coded survey rows wait until every file is read: up to
/// `held_bytes` in memory, the largest partitions' rows written to
/// `spill` past that, so what is held does not grow with the survey
/// files.
pub struct SurveyMemory<'a> {
    /// Bytes of checked rows, with their id text, held before their ids
    /// are looked up: each lookup reads every part's ids (from disk when
    /// the per-customer results are spilled), so not every chunk.
    pub code_every_bytes: usize,
    /// Bytes of coded rows held in memory in all.
    pub held_bytes: usize,
    pub spill: &'a dyn SpillStore<SurveyPart>,
}

/// The survey rows validated a chunk at a time as the files are read
/// (see the module docs for the order of the rules), against the customers
/// in `parts` on `as_of`: each chunk's row checks and their rejects' raw
/// records, the responses after as_of counted, the ids turned into
/// customer codes and the rows gathered by customer partition.
/// [`SurveyCheck::finish`] applies the rules that need all of a customer's
/// responses, duplicates then the responses without a matching order, a
/// partition at a time.
pub struct SurveyCheck<'a> {
    rules: &'a SurveyRules,
    files: &'a [InputFile],
    parts: &'a CustomerParts,
    as_of: i32,
    counts: RowCounts,
    /// Checked rows whose ids are not yet looked up.
    pending: CheckedRows,
    code_every_bytes: usize,
    /// The coded rows, by the partition of their customer.
    coded: Buffered<'a, SurveyPart>,
    /// Responses from ids no customer has: rejected once their duplicates
    /// are counted, so they keep their id (the reject's value).
    unknown: Vec<Candidate>,
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
        (parts, as_of): (&'a CustomerParts, i32),
        memory: SurveyMemory<'a>,
    ) -> SurveyCheck<'a> {
        SurveyCheck {
            rules,
            files,
            parts,
            as_of,
            counts: RowCounts::default(),
            pending: CheckedRows::default(),
            code_every_bytes: memory.code_every_bytes,
            coded: Buffered::new(parts.part_count(), memory.held_bytes, memory.spill),
            unknown: Vec::new(),
            rejects: Vec::new(),
        }
    }

    /// One chunk of a survey file (the file's chunks in row order); an
    /// error names the file.
    pub fn add(&mut self, batch: &RawBatch) -> Result<()> {
        let path = &self.files[batch.file as usize].path;
        self.add_chunk(batch).map_err(|e| match e {
            Error::Polars(p) => Error::input(path, p.to_string()),
            Error::Usage(message) => Error::input(path, message),
            other => other,
        })
    }

    fn add_chunk(&mut self, batch: &RawBatch) -> Result<()> {
        self.counts.rows_read += batch.frame.height() as u64;
        let checks = (self.rules, self.as_of);
        let (mut rejects, after_as_of) = check_batch(checks, batch, &mut self.pending)?;
        if !rejects.is_empty() {
            let rows: Vec<u32> = rejects.iter().map(|r| r.row).collect();
            RawText::of_rows(batch, &rows)?.fill(rejects.iter_mut());
            self.rejects.append(&mut rejects);
        }
        self.counts.excluded_after_as_of += after_as_of;
        let full = self.pending.len() > checked::MAX_ROWS / 2;
        match full || self.pending.bytes() > self.code_every_bytes {
            true => self.code_pending(),
            false => Ok(()),
        }
    }

    /// Looks up the customer of each pending row (their ids sorted, as
    /// the customer codes are, and each part's ids read once) and adds the
    /// rows of known customers to their partitions, in id order.
    fn code_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let order = pending.order_by_id();
        let ids: Vec<&str> = order.iter().map(|&i| pending.id(i as usize)).collect();
        let started = std::time::Instant::now();
        let codes = self.parts.codes_of_ids(&ids)?;
        let seconds = format!("{:.3}", started.elapsed().as_secs_f64());
        tracing::debug!(
            rows = ids.len(),
            seconds,
            "survey rows' customers looked up"
        );
        drop(ids);
        let mut pieces = self.pieces_for(&codes);
        for (&i, code) in order.iter().zip(codes) {
            match code {
                Some(customer) => pieces[self.parts.part_of_code(customer)]
                    .push(&pending.coded(i as usize, customer)),
                None => self.unknown.push(pending.candidate(i as usize)),
            }
        }
        self.coded.add(pieces)
    }

    /// An empty piece for each partition, with room for exactly the rows
    /// of `codes` it will hold: the pieces are held until every file is
    /// read, and vectors grown a row at a time would hold up to twice
    /// their rows.
    fn pieces_for(&self, codes: &[Option<u32>]) -> Vec<SurveyPart> {
        let mut rows = vec![0; self.parts.part_count()];
        for &code in codes.iter().flatten() {
            rows[self.parts.part_of_code(code)] += 1;
        }
        rows.into_iter().map(SurveyPart::with_capacity).collect()
    }

    /// The rules that need every row, a customer partition at a time (as
    /// many in parallel as there are threads): the duplicates counted and
    /// dropped, then each response matched with its customer's first
    /// order in `history` (the partition's respondents read alone), and
    /// `count` of the accepted responses and their respondents' orders
    /// ([`count_part`]). Fails when the rejects are more than `[rejects]`
    /// allows. The rejects found here have no raw record yet: their rows
    /// are read again (`stages::rejects::rows_missing_raw`).
    pub fn finish<T: Send>(
        self,
        history: &OrderHistory,
        count: impl Fn(&Responses, &RespondentOrders) -> Result<T> + Sync,
    ) -> Result<SurveyValidation<T>> {
        debug_assert_eq!(
            self.parts.part_count(),
            history.part_count(),
            "the history's parts"
        );
        self.finish_with(|coded| {
            // Every partition in parallel, not a few at a time in order:
            // only what the counts keep and the late rows come back, and
            // rayon works on as many partitions at once as it has threads.
            (0..coded.partitions())
                .into_par_iter()
                .map(|p| {
                    let orders_of = |read: &[u32]| RespondentOrders::read_part(p, read, history);
                    count_part(coded.take(p)?, orders_of, &count)
                })
                .collect()
        })
    }

    /// [`SurveyCheck::finish`], each partition's coded rows validated and
    /// counted by `count_parts` ([`count_part`] of each, in partition
    /// order), which may do so in another process once the rows are all
    /// in the spill files.
    pub fn finish_with<T>(
        mut self,
        count_parts: impl FnOnce(Stored<'_, SurveyPart>) -> Result<Vec<CountedPart<T>>>,
    ) -> Result<SurveyValidation<T>> {
        self.code_pending()?;
        let unknown = drop_duplicates(std::mem::take(&mut self.unknown), &mut self.counts);
        self.reject_without_customer(unknown);
        let coded = std::mem::replace(&mut self.coded, Buffered::new(0, 0, &NoSpill));
        let coded = coded.into_stored();
        tracing::debug!(
            partitions = coded.partitions(),
            spilled = coded.spilled(),
            held_bytes = coded.held_bytes(),
            "survey rows gathered by customer partition"
        );
        let counted = self.add_up(count_parts(coded)?)?;
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
    /// duplicate rows counted and its late rows rejected.
    fn add_up<T>(&mut self, parts: Vec<CountedPart<T>>) -> Result<Vec<T>> {
        debug_assert_eq!(parts.len(), self.parts.part_count(), "every partition");
        let (mut counted, mut late) = (Vec::with_capacity(parts.len()), Vec::new());
        for mut part in parts {
            counted.push(part.counted);
            self.counts.accepted += part.accepted;
            self.counts.duplicates += part.duplicates;
            late.append(&mut part.late);
        }
        self.reject_late(late)?;
        Ok(counted)
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

    /// Rejects the responses of known customers that no order matches
    /// (`true`: the customer has a first order, after the response), in
    /// customer order.
    fn reject_late(&mut self, late: Vec<(Coded, bool)>) -> Result<()> {
        let columns = &self.rules.columns;
        let without: Vec<u32> = late
            .iter()
            .filter(|(_, first)| !first)
            .map(|(c, _)| c.customer)
            .collect();
        let mut ids = self.parts.ids_of(&without)?.into_iter();
        for (c, has_first_order) in late {
            let problem = match has_first_order {
                true => (
                    RejectReason::ResponseBeforeFirstOrder,
                    columns.response_ts.clone(),
                    None,
                ),
                false => (
                    RejectReason::ResponseWithoutOrder,
                    columns.customer_id.clone(),
                    ids.next(),
                ),
            };
            self.rejects.push(Reject::of_row(c.file, c.row, problem));
        }
        Ok(())
    }
}

/// What one customer partition's coded rows leave once validated:
/// `count` of its accepted responses, how many it accepted and dropped
/// as exact duplicates, and the responses no order matches (`true`: the
/// customer has a first order, after the response), in customer order.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CountedPart<T> {
    pub counted: T,
    pub accepted: u64,
    pub duplicates: u64,
    pub late: Vec<(Coded, bool)>,
}

/// One partition's coded rows (`part`) validated and counted: without
/// their exact duplicates, and matched with their customer's first order
/// (`orders_of` the partition's respondents, codes ascending): on or
/// after it they are accepted, sorted by (customer, date, instant,
/// score), and `count` of them and their respondents' orders is kept;
/// the others are late (`response_before_first_order`, or
/// `response_without_order` for a customer with only refunds). The
/// embedded engine and a cluster's executors both validate a partition
/// so.
pub fn count_part<T>(
    part: SurveyPart,
    orders_of: impl FnOnce(&[u32]) -> Result<RespondentOrders>,
    count: impl FnOnce(&Responses, &RespondentOrders) -> Result<T>,
) -> Result<CountedPart<T>> {
    let mut coded = part.into_coded();
    coded.par_sort_unstable_by_key(Coded::duplicate_order);
    let before = coded.len();
    coded.dedup_by(|c, kept| kept.same_response(c));
    let duplicates = (before - coded.len()) as u64;
    let mut read: Vec<u32> = coded.iter().map(|c| c.customer).collect();
    read.dedup();
    // A partition without a row reads nothing.
    let orders = match read.is_empty() {
        true => RespondentOrders::default(),
        false => orders_of(&read)?,
    };
    let first_order_of = |c: &Coded| {
        let k = read.binary_search(&c.customer).expect("a respondent");
        orders.first_day[k]
    };
    // The late moved out in place: the accepted are most rows.
    let (mut accepted, mut late) = (coded, Vec::new());
    accepted.retain(|c| match first_order_of(c) {
        Some(first) if c.placed.local_day >= first => true,
        first => {
            late.push((*c, first.is_some()));
            false
        }
    });
    accepted.par_sort_unstable_by_key(|c| {
        (c.customer, c.placed.local_day, c.placed.utc_micros, c.score)
    });
    let responses = Responses::of_sorted(accepted);
    let orders = orders.of_kept(&read, &responses.respondents());
    Ok(CountedPart {
        counted: count(&responses, &orders)?,
        accepted: responses.len() as u64,
        duplicates,
        late,
    })
}

/// The candidates without exact duplicates (same customer, instant and
/// score), each kept once: the first by (file, row). Counted in `counts`.
fn drop_duplicates(mut candidates: Vec<Candidate>, counts: &mut RowCounts) -> Vec<Candidate> {
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
    counts.duplicates += (before - candidates.len()) as u64;
    candidates
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
