//! Survey rows → accepted responses and rejects (the rules and their order
//! are in the [module docs](super)): the row checks of each raw batch, then
//! the responses after as_of, the exact duplicates and the responses
//! without a matching order. Works on the raw batches in memory; the
//! survey files are read by `io::surveys`.

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::{Pipeline, SurveyColumns, SurveysConfig};
use crate::error::{Error, Result};
use crate::stages::calendar::first_order_day_of;
use crate::stages::orders::{OrderHistory, RowCounts};
use crate::stages::per_customer::CustomerParts;
use crate::stages::raw::RawText;
use crate::stages::raw::{row_numbers, text_of, InputFile, RawBatch};
use crate::stages::rejects::{Reject, RejectReason, RowProblem};
use crate::stages::validate::{NumberColumn, TsColumn};
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

    /// From (customer, day, instant, score) rows in the documented order.
    fn of_sorted(rows: Vec<Accepted>) -> Responses {
        let mut responses = Responses::default();
        for (customer, day, ts_micros, score) in rows {
            responses.customer.push(customer);
            responses.day.push(day);
            responses.ts_micros.push(ts_micros);
            responses.score.push(score);
        }
        responses
    }
}

/// Validated survey input.
#[derive(Debug)]
pub struct SurveyValidation {
    pub responses: Responses,
    pub counts: RowCounts,
    pub rejects: Vec<Reject>,
}

/// A row that passed the row checks.
struct Candidate {
    file: u32,
    row: u32,
    id: String,
    placed: PlacedTimestamp,
    score: u8,
}

/// An accepted response: customer index, local day, UTC instant, score.
type Accepted = (u32, i32, i64, u8);

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
    fn check(&self, i: usize) -> std::result::Result<(String, PlacedTimestamp, u8), RowProblem> {
        let id = match self.ids.get(i).map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
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

    /// A 0–10 whole score, or the reason and raw value.
    fn score(&self, i: usize) -> std::result::Result<u8, (RejectReason, Option<String>)> {
        let missing = |raw: Option<&str>| (RejectReason::MissingScore, raw.map(str::to_string));
        let (value, raw) = match &self.scores {
            NumberColumn::Text(ca) => match ca.get(i) {
                Some(text) if !text.trim().is_empty() => (whole_number(text), text.to_string()),
                other => return Err(missing(other)),
            },
            NumberColumn::Int(ca) => match ca.get(i) {
                Some(v) => (Some(v), v.to_string()),
                None => return Err(missing(None)),
            },
            NumberColumn::Float(ca) => match ca.get(i) {
                Some(x) => (whole_float(x), x.to_string()),
                None => return Err(missing(None)),
            },
        };
        match value {
            None => Err((RejectReason::InvalidScore, Some(raw))),
            Some(v) if !(0..=10).contains(&v) => Err((RejectReason::ScoreOutOfRange, Some(raw))),
            Some(v) => Ok(v as u8),
        }
    }
}

/// Rows a survey file's row checks take at a time: the checked rows are
/// moved into the candidates a chunk at a time, so the file's rows are not
/// held twice, once checked and once as candidates.
const CHECK_CHUNK_ROWS: usize = 1 << 16;

/// Row checks of one survey file.
fn check_batch(rules: &SurveyRules, batch: &RawBatch) -> Result<(Vec<Candidate>, Vec<Reject>)> {
    let frame = &batch.frame;
    let rows = row_numbers(frame)?;
    let survey_rows = SurveyRows::of(rules, frame)?;
    // Rejects are few (the reject share bounds them): reserving a
    // candidate for every row keeps the vector from doubling while it
    // fills.
    let mut candidates = Vec::with_capacity(frame.height());
    let mut rejects = Vec::new();
    for start in (0..frame.height()).step_by(CHECK_CHUNK_ROWS) {
        let chunk = start..(start + CHECK_CHUNK_ROWS).min(frame.height());
        let checked: Vec<_> = (chunk.clone().into_par_iter())
            .map(|i| survey_rows.check(i))
            .collect();
        for (i, result) in chunk.zip(checked) {
            match result {
                Ok(row) => candidates.push(Candidate::of(batch.file, rows[i], row)),
                Err(problem) => rejects.push(Reject::of_row(batch.file, rows[i], problem)),
            }
        }
    }
    Ok((candidates, rejects))
}

impl Candidate {
    fn of(file: u32, row: u32, (id, placed, score): (String, PlacedTimestamp, u8)) -> Candidate {
        Candidate {
            file,
            row,
            id,
            placed,
            score,
        }
    }
}

/// Row checks of every batch; an error names the file.
fn check_batches(
    rules: &SurveyRules,
    files: &[InputFile],
    batches: &[RawBatch],
) -> Result<(Vec<Candidate>, Vec<Reject>)> {
    let mut candidates = Vec::new();
    let mut rejects = Vec::new();
    for batch in batches {
        let path = &files[batch.file as usize].path;
        let (c, r) = check_batch(rules, batch).map_err(|e| match e {
            Error::Polars(p) => Error::input(path, p.to_string()),
            Error::Usage(message) => Error::input(path, message),
            other => other,
        })?;
        // The first file's candidates are kept as they are, not copied.
        match candidates.is_empty() {
            true => candidates = c,
            false => candidates.extend(c),
        }
        rejects.extend(r);
    }
    Ok((candidates, rejects))
}

/// Validates the survey rows against the customers of `history` on its
/// `as_of` (see the module docs for the order of the rules): their ids are
/// in `parts`, and only the responding customers' first orders are read.
pub fn validate_responses(
    rules: &SurveyRules,
    files: &[InputFile],
    batches: &[RawBatch],
    (parts, history): (&CustomerParts, &OrderHistory),
) -> Result<SurveyValidation> {
    let as_of = history.as_of;
    let mut counts = RowCounts {
        rows_read: batches.iter().map(|b| b.frame.height() as u64).sum(),
        ..Default::default()
    };
    let (mut candidates, mut rejects) = check_batches(rules, files, batches)?;
    candidates.retain(|c| {
        let keep = c.placed.local_day <= as_of;
        if !keep {
            counts.excluded_after_as_of += 1;
        }
        keep
    });
    let unique = drop_duplicates(candidates, &mut counts);
    // In id order, as the customer codes are.
    let ids: Vec<&str> = unique.iter().map(|c| c.id.as_str()).collect();
    let codes = parts.codes_of_ids(&ids)?;
    drop(ids);
    let first_orders = first_orders_of(&codes, history)?;
    let mut accepted = Vec::with_capacity(unique.len());
    for ((c, code), first) in unique.iter().zip(codes).zip(first_orders) {
        match match_order(c, (code, first), &rules.columns) {
            Ok(response) => accepted.push(response),
            Err(reject) => rejects.push(reject),
        }
    }
    accepted.par_sort_unstable();
    counts.accepted = accepted.len() as u64;
    counts.rejected = rejects.len() as u64;
    Ok(SurveyValidation {
        responses: Responses::of_sorted(accepted),
        counts,
        rejects,
    })
}

/// The first order date of each of `codes` (ascending; `None`, a
/// candidate without a customer, gives `None`), read for those customers
/// alone.
fn first_orders_of(codes: &[Option<usize>], history: &OrderHistory) -> Result<Vec<Option<i32>>> {
    let mut known: Vec<u32> = codes.iter().flatten().map(|&c| c as u32).collect();
    known.dedup();
    let first_orders = history.map_members(&known, first_order_day_of)?;
    let first_order_of = |code: usize| {
        let k = known.binary_search(&(code as u32)).expect("a known code");
        first_orders[k]
    };
    Ok(codes
        .iter()
        .map(|code| code.and_then(first_order_of))
        .collect())
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

/// The response of a customer (whose code is `customer`, if they have
/// one, and first order `first`, if any) with an order on or before its
/// date, or the reject: `response_without_order`,
/// `response_before_first_order`.
fn match_order(
    c: &Candidate,
    (customer, first): (Option<usize>, Option<i32>),
    columns: &SurveyColumns,
) -> std::result::Result<Accepted, Reject> {
    let (reason, column, value) = match (customer, first) {
        (Some(code), Some(first)) if c.placed.local_day >= first => {
            return Ok((
                code as u32,
                c.placed.local_day,
                c.placed.utc_micros,
                c.score,
            ))
        }
        (Some(_), Some(_)) => (
            RejectReason::ResponseBeforeFirstOrder,
            columns.response_ts.clone(),
            None,
        ),
        _ => (
            RejectReason::ResponseWithoutOrder,
            columns.customer_id.clone(),
            Some(c.id.clone()),
        ),
    };
    Err(Reject {
        file: c.file,
        row: c.row,
        reason,
        column: Some(column),
        value,
        raw: None,
    })
}

/// Fills in the raw record of every survey reject from the raw batches,
/// still in memory.
pub fn fill_raw_records(rejects: &mut [Reject], batches: &[RawBatch]) -> Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    for batch in batches {
        let rows: Vec<u32> = rejects
            .iter()
            .filter(|r| r.file == batch.file)
            .map(|r| r.row)
            .collect();
        RawText::of_rows(batch, &rows)?.fill(rejects.iter_mut());
    }
    Ok(())
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
        use crate::stages::nps::tests::survey_batch;
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
        let rules = SurveyRules {
            columns: SurveyColumns::default(),
            timestamp_format: None,
            time_zone: chrono_tz::UTC,
            max_reject_ratio: 1.0,
        };
        let (candidates, rejects) = check_batch(&rules, &survey_batch(&rows)).unwrap();
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
        let got: Vec<_> = candidates.iter().map(|c| (c.row, c.id.as_str())).collect();
        assert_eq!(got, expected);
        assert!(candidates.iter().all(|c| c.score == 7));
    }
}
