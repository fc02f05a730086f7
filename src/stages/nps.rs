//! NPS: survey responses → `nps_monthly`, `nps_by_cohort`, `nps_retention`.
//!
//! Input: the raw survey frames of [`crate::io::surveys`] (one row per
//! response: customer id, response timestamp or date, 0–10 score) and the
//! order history, which decides who is a customer and when they ordered.
//!
//! Row by row, in this order: a missing customer id, a missing or bad
//! timestamp, a missing, non-integer or out-of-range score rejects the row
//! (the timestamp rules and reasons are those of the order input). Then
//! responses dated after as_of are excluded; exact duplicates (same
//! customer, same instant, same score) are counted and kept once (the first
//! by file and row); a response from a customer with no order on or before
//! as_of is rejected (`response_without_order`), and so is one dated before
//! the customer's first order (`response_before_first_order`), so every
//! accepted response falls in the run's month calendar and belongs to a
//! cohort.
//!
//! Categories: promoter 9–10, passive 7–8, detractor 0–6;
//! nps = 100 · (promoters − detractors) / responses, in points, null when
//! there is no response.
//!
//! Output grains: `nps_monthly` one row per calendar month (first cohort
//! month to as_of's month); `nps_by_cohort` one row per cohort month that
//! has customers; `nps_retention` one row per category × months_after
//! 1…12.

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::{Pipeline, SurveysConfig};
use crate::error::{Error, Result};
use crate::io::input::{InputFile, RawBatch};
use crate::io::publish::Table;
use crate::io::rows::{text_of, ROW_COLUMN};
use crate::io::surveys::read_survey_files;
use crate::stages::calendar::{first_order_day, Calendar};
use crate::stages::checks::Check;
use crate::stages::orders::{OrderHistory, RowCounts};
use crate::stages::rejects::{
    check_reject_share, counts_by_reason, rejects_table, RawText, Reject, RejectReason,
};
use crate::stages::validate::{NumberColumn, TsColumn};
use crate::tables::values::ratio;
use crate::time::{month_end, month_of_day, PlacedTimestamp, TimestampFormat};

/// Months after the first response followed by `nps_retention`.
pub const RETENTION_MONTHS: i64 = 12;

/// The NPS category of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NpsCategory {
    /// 0–6.
    Detractor,
    /// 7–8.
    Passive,
    /// 9–10.
    Promoter,
}

impl NpsCategory {
    /// In published (alphabetical) order.
    pub const ALL: [NpsCategory; 3] = [
        NpsCategory::Detractor,
        NpsCategory::Passive,
        NpsCategory::Promoter,
    ];

    pub fn of(score: u8) -> NpsCategory {
        match score {
            9.. => NpsCategory::Promoter,
            7 | 8 => NpsCategory::Passive,
            _ => NpsCategory::Detractor,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NpsCategory::Detractor => "detractor",
            NpsCategory::Passive => "passive",
            NpsCategory::Promoter => "promoter",
        }
    }
}

/// Response counts of one group (a month, a cohort, a tier).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NpsCounts {
    pub responses: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

impl NpsCounts {
    pub fn add(&mut self, score: u8) {
        self.responses += 1;
        match NpsCategory::of(score) {
            NpsCategory::Promoter => self.promoters += 1,
            NpsCategory::Passive => self.passives += 1,
            NpsCategory::Detractor => self.detractors += 1,
        }
    }

    /// % promoters − % detractors, in points; null without responses.
    pub fn nps(&self) -> Option<f64> {
        ratio(
            100.0 * (self.promoters - self.detractors) as f64,
            self.responses,
        )
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
    fn firsts(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).filter(|&i| i == 0 || self.customer[i] != self.customer[i - 1])
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

type RowProblem = (RejectReason, String, Option<String>);

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

/// Checks one row: customer id, then timestamp, then score.
fn check_row(
    i: usize,
    surveys: &SurveysConfig,
    ids: &StringChunked,
    ts: &TsColumn,
    scores: &NumberColumn,
    format: &TimestampFormat,
    tz: chrono_tz::Tz,
) -> std::result::Result<(String, PlacedTimestamp, u8), RowProblem> {
    let columns = &surveys.columns;
    let id = match ids.get(i).map(str::trim) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => {
            return Err((
                RejectReason::MissingCustomerId,
                columns.customer_id.clone(),
                ids.get(i).map(str::to_string),
            ))
        }
    };
    let placed = ts
        .place(i, format, tz)
        .map_err(|(reason, raw)| (reason, columns.response_ts.clone(), raw))?;
    let score_problem =
        |reason: RejectReason, raw: Option<String>| (reason, columns.score.clone(), raw);
    let (value, raw) = match scores {
        NumberColumn::Text(ca) => match ca.get(i) {
            Some(text) if !text.trim().is_empty() => (whole_number(text), text.to_string()),
            other => {
                return Err(score_problem(
                    RejectReason::MissingScore,
                    other.map(str::to_string),
                ))
            }
        },
        NumberColumn::Int(ca) => match ca.get(i) {
            Some(v) => (Some(v), v.to_string()),
            None => return Err(score_problem(RejectReason::MissingScore, None)),
        },
        NumberColumn::Float(ca) => match ca.get(i) {
            Some(x) => (whole_float(x), x.to_string()),
            None => return Err(score_problem(RejectReason::MissingScore, None)),
        },
    };
    match value {
        None => Err(score_problem(RejectReason::InvalidScore, Some(raw))),
        Some(v) if !(0..=10).contains(&v) => {
            Err(score_problem(RejectReason::ScoreOutOfRange, Some(raw)))
        }
        Some(v) => Ok((id, placed, v as u8)),
    }
}

/// Row checks of one survey file.
fn check_batch(
    pipeline: &Pipeline,
    surveys: &SurveysConfig,
    batch: &RawBatch,
) -> Result<(Vec<Candidate>, Vec<Reject>)> {
    let frame = &batch.frame;
    let rows: Vec<u32> = frame
        .column(ROW_COLUMN)?
        .cast(&DataType::UInt32)?
        .u32()?
        .into_no_null_iter()
        .collect();
    let ids = text_of(frame.column(&surveys.columns.customer_id)?)?;
    let ts = TsColumn::of(frame, &surveys.columns.response_ts, "response_ts")?;
    let scores = NumberColumn::of(frame, &surveys.columns.score, "score", "an integer or text")?;
    let format = TimestampFormat::new(surveys.csv.timestamp_format.as_deref());
    let tz = pipeline.time_zone;
    let checked: Vec<_> = (0..frame.height())
        .into_par_iter()
        .map(|i| check_row(i, surveys, &ids, &ts, &scores, &format, tz))
        .collect();
    let mut candidates = Vec::new();
    let mut rejects = Vec::new();
    for (i, result) in checked.into_iter().enumerate() {
        match result {
            Ok((id, placed, score)) => candidates.push(Candidate {
                file: batch.file,
                row: rows[i],
                id,
                placed,
                score,
            }),
            Err((reason, column, value)) => rejects.push(Reject {
                file: batch.file,
                row: rows[i],
                reason,
                column: Some(column),
                value,
                raw: None,
            }),
        }
    }
    Ok((candidates, rejects))
}

/// Validates the survey rows against the order history (see the module
/// docs for the order of the rules).
pub fn validate_responses(
    pipeline: &Pipeline,
    surveys: &SurveysConfig,
    files: &[InputFile],
    batches: &[RawBatch],
    history: &OrderHistory,
) -> Result<SurveyValidation> {
    let mut counts = RowCounts {
        rows_read: batches.iter().map(|b| b.frame.height() as u64).sum(),
        ..Default::default()
    };
    let mut candidates = Vec::new();
    let mut rejects = Vec::new();
    for batch in batches {
        let path = &files[batch.file as usize].path;
        let (c, r) = check_batch(pipeline, surveys, batch).map_err(|e| match e {
            Error::Polars(p) => Error::input(path, p.to_string()),
            Error::Usage(message) => Error::input(path, message),
            other => other,
        })?;
        candidates.extend(c);
        rejects.extend(r);
    }
    let as_of = history.as_of;
    candidates.retain(|c| {
        let keep = c.placed.local_day <= as_of;
        if !keep {
            counts.excluded_after_as_of += 1;
        }
        keep
    });
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
    let mut accepted: Vec<(u32, i32, i64, u8)> = Vec::with_capacity(candidates.len());
    for (k, c) in candidates.iter().enumerate() {
        if k > 0 {
            let p = &candidates[k - 1];
            if p.id == c.id && p.placed.utc_micros == c.placed.utc_micros && p.score == c.score {
                counts.duplicates += 1;
                continue;
            }
        }
        let customer = history.customer_ids.binary_search(&c.id).ok();
        let first = customer.and_then(|code| first_order_day(history, code));
        let problem = match (customer, first) {
            (Some(code), Some(first)) if c.placed.local_day >= first => {
                accepted.push((
                    code as u32,
                    c.placed.local_day,
                    c.placed.utc_micros,
                    c.score,
                ));
                continue;
            }
            (Some(_), Some(_)) => (
                RejectReason::ResponseBeforeFirstOrder,
                surveys.columns.response_ts.clone(),
                None,
            ),
            _ => (
                RejectReason::ResponseWithoutOrder,
                surveys.columns.customer_id.clone(),
                Some(c.id.clone()),
            ),
        };
        rejects.push(Reject {
            file: c.file,
            row: c.row,
            reason: problem.0,
            column: Some(problem.1),
            value: problem.2,
            raw: None,
        });
    }
    accepted.par_sort_unstable();
    counts.accepted = accepted.len() as u64;
    counts.rejected = rejects.len() as u64;
    let mut responses = Responses::default();
    for (customer, day, ts_micros, score) in accepted {
        responses.customer.push(customer);
        responses.day.push(day);
        responses.ts_micros.push(ts_micros);
        responses.score.push(score);
    }
    Ok(SurveyValidation {
        responses,
        counts,
        rejects,
    })
}

/// Counts per group; `group_of_customer[c]` is customer c's group (None:
/// not counted). Also the number of distinct respondents per group.
pub fn counts_by_group(
    responses: &Responses,
    group_of_customer: &[Option<usize>],
    groups: usize,
) -> (Vec<NpsCounts>, Vec<i64>) {
    let mut counts = vec![NpsCounts::default(); groups];
    let mut respondents = vec![0i64; groups];
    for i in 0..responses.len() {
        let c = responses.customer[i] as usize;
        if let Some(g) = group_of_customer[c] {
            counts[g].add(responses.score[i]);
            if i == 0 || responses.customer[i - 1] as usize != c {
                respondents[g] += 1;
            }
        }
    }
    (counts, respondents)
}

/// Counts per calendar month of the response date.
pub fn monthly_nps(responses: &Responses, calendar: &Calendar) -> Vec<NpsCounts> {
    let mut counts = vec![NpsCounts::default(); calendar.len()];
    for (&day, &score) in responses.day.iter().zip(&responses.score) {
        counts[calendar.position_of_day(day)].add(score);
    }
    counts
}

fn count_columns(counts: &[NpsCounts]) -> Vec<Column> {
    let pick = |f: fn(&NpsCounts) -> i64| counts.iter().map(f).collect::<Vec<_>>();
    vec![
        Column::new("responses".into(), pick(|c| c.responses)),
        Column::new("promoters".into(), pick(|c| c.promoters)),
        Column::new("passives".into(), pick(|c| c.passives)),
        Column::new("detractors".into(), pick(|c| c.detractors)),
        Column::new(
            "nps".into(),
            counts.iter().map(NpsCounts::nps).collect::<Vec<_>>(),
        ),
    ]
}

/// `nps_monthly`: month, responses, promoters, passives, detractors, nps,
/// month_complete.
pub fn nps_monthly_table(counts: &[NpsCounts], calendar: &Calendar) -> Result<DataFrame> {
    let n = calendar.len();
    let mut columns = vec![Column::new(
        "month".into(),
        (0..n).map(|m| calendar.start(m)).collect::<Vec<_>>(),
    )
    .cast(&DataType::Date)?];
    columns.extend(count_columns(counts));
    columns.push(Column::new(
        "month_complete".into(),
        (0..n).map(|m| calendar.is_complete(m)).collect::<Vec<_>>(),
    ));
    Ok(DataFrame::new(n, columns)?)
}

/// NPS per cohort: the rows of `nps_by_cohort` before they become a table.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortNps {
    /// First day of each cohort month that has customers, ascending.
    pub cohort_month: Vec<i32>,
    pub cohort_size: Vec<i64>,
    pub respondents: Vec<i64>,
    pub counts: Vec<NpsCounts>,
}

/// Responses grouped by the responding customer's cohort.
pub fn cohort_nps(responses: &Responses, history: &OrderHistory, calendar: &Calendar) -> CohortNps {
    let cohort_of: Vec<Option<usize>> = (0..history.customers())
        .map(|c| first_order_day(history, c).map(|d| calendar.position_of_day(d)))
        .collect();
    let mut size = vec![0i64; calendar.len()];
    for p in cohort_of.iter().flatten() {
        size[*p] += 1;
    }
    let (counts, respondents) = counts_by_group(responses, &cohort_of, calendar.len());
    let keep: Vec<usize> = (0..calendar.len()).filter(|&p| size[p] > 0).collect();
    CohortNps {
        cohort_month: keep.iter().map(|&p| calendar.start(p)).collect(),
        cohort_size: keep.iter().map(|&p| size[p]).collect(),
        respondents: keep.iter().map(|&p| respondents[p]).collect(),
        counts: keep.iter().map(|&p| counts[p]).collect(),
    }
}

/// `nps_by_cohort`: cohort_month, cohort_size, respondents, responses,
/// promoters, passives, detractors, nps.
pub fn nps_by_cohort_table(cohorts: &CohortNps) -> Result<DataFrame> {
    let mut columns = vec![
        Column::new("cohort_month".into(), cohorts.cohort_month.clone()).cast(&DataType::Date)?,
        Column::new("cohort_size".into(), cohorts.cohort_size.clone()),
        Column::new("respondents".into(), cohorts.respondents.clone()),
    ];
    columns.extend(count_columns(&cohorts.counts));
    Ok(DataFrame::new(cohorts.cohort_month.len(), columns)?)
}

/// NPS by loyalty tier: every response of a customer counts under the
/// customer's tier at as_of (`tier_of_customer[c]`, an index into
/// `tier_names`, which are in rank order, lowest first). One row per tier in
/// that order, tiers without responses included (nps null): tier,
/// respondents, responses, promoters, passives, detractors, nps.
pub fn nps_by_tier_table(
    responses: &Responses,
    tier_names: &[String],
    tier_of_customer: &[usize],
) -> Result<DataFrame> {
    let group_of: Vec<Option<usize>> = tier_of_customer.iter().map(|&t| Some(t)).collect();
    let (counts, respondents) = counts_by_group(responses, &group_of, tier_names.len());
    let mut columns = vec![
        Column::new("tier".into(), tier_names),
        Column::new("respondents".into(), respondents),
    ];
    columns.extend(count_columns(&counts));
    Ok(DataFrame::new(tier_names.len(), columns)?)
}

/// One cell of `nps_retention`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionCell {
    /// First responses in this category whose month m + k is complete.
    pub respondents: i64,
    /// Of them, customers with an order (not a refund) in month m + k.
    pub ordered: i64,
}

/// For each category (in [`NpsCategory::ALL`] order) and k = 1…12: each
/// customer's first response gives the category (its score) and month m (its
/// date); the customer counts for k when month m + k is complete, and as
/// ordered when they have an order in month m + k.
pub fn nps_retention(
    responses: &Responses,
    history: &OrderHistory,
) -> Vec<[RetentionCell; RETENTION_MONTHS as usize]> {
    let mut cells = vec![[RetentionCell::default(); RETENTION_MONTHS as usize]; 3];
    for i in responses.firsts() {
        let category = NpsCategory::of(responses.score[i]);
        let row = NpsCategory::ALL
            .iter()
            .position(|c| *c == category)
            .expect("every category is listed");
        let m = month_of_day(responses.day[i]);
        let (days, cents) = history.of(responses.customer[i] as usize);
        let mut order_months: Vec<i32> = days
            .iter()
            .zip(cents)
            .filter(|(_, &x)| x >= 0)
            .map(|(&d, _)| month_of_day(d))
            .collect();
        order_months.dedup();
        for k in 1..=RETENTION_MONTHS as i32 {
            if month_end(m + k) > history.as_of {
                break;
            }
            let cell = &mut cells[row][k as usize - 1];
            cell.respondents += 1;
            if order_months.binary_search(&(m + k)).is_ok() {
                cell.ordered += 1;
            }
        }
    }
    cells
}

/// `nps_retention`: nps_category, months_after, respondents, ordered,
/// retention_rate (ordered / respondents, null when no respondent).
pub fn nps_retention_table(
    cells: &[[RetentionCell; RETENTION_MONTHS as usize]],
) -> Result<DataFrame> {
    let mut category = Vec::new();
    let mut months_after = Vec::new();
    let mut respondents = Vec::new();
    let mut ordered = Vec::new();
    let mut rate = Vec::new();
    for (c, row) in NpsCategory::ALL.iter().zip(cells) {
        for (k, cell) in row.iter().enumerate() {
            category.push(c.as_str());
            months_after.push(k as i64 + 1);
            respondents.push(cell.respondents);
            ordered.push(cell.ordered);
            rate.push(ratio(cell.ordered as f64, cell.respondents));
        }
    }
    Ok(DataFrame::new(
        category.len(),
        vec![
            Column::new("nps_category".into(), category),
            Column::new("months_after".into(), months_after),
            Column::new("respondents".into(), respondents),
            Column::new("ordered".into(), ordered),
            Column::new("retention_rate".into(), rate),
        ],
    )?)
}

/// What the NPS stage gives the run.
pub struct NpsOutput {
    pub files: Vec<InputFile>,
    pub counts: RowCounts,
    pub rejects_by_reason: Vec<(&'static str, u64)>,
    /// Survey rejects, in the `rejects` table's layout.
    pub rejects: DataFrame,
    pub checks: Vec<Check>,
    /// `nps_monthly`, `nps_by_cohort`, `nps_retention`.
    pub tables: Vec<Table>,
}

/// Reads and validates the survey input and builds the NPS tables.
pub fn nps_stage(
    pipeline: &Pipeline,
    surveys: &SurveysConfig,
    files: Vec<InputFile>,
    history: &OrderHistory,
    calendar: &Calendar,
    tiers: Option<(&[String], &[usize])>,
) -> Result<NpsOutput> {
    let batches = read_survey_files(pipeline, surveys, &files)?;
    let mut validated = validate_responses(pipeline, surveys, &files, &batches, history)?;
    let counts = validated.counts;
    if !validated.rejects.is_empty() {
        for batch in &batches {
            let rows: Vec<u32> = validated
                .rejects
                .iter()
                .filter(|r| r.file == batch.file)
                .map(|r| r.row)
                .collect();
            RawText::of_rows(batch, &rows)?.fill(validated.rejects.iter_mut());
        }
    }
    let rejects = rejects_table(&validated.rejects, &files)?;
    drop(batches);
    let by_reason = counts_by_reason(&validated.rejects);
    debug_assert_eq!(validated.rejects.len() as u64, counts.rejected);
    check_reject_share(
        &validated.rejects,
        &files,
        counts.rows_read,
        pipeline.config.rejects.max_reject_ratio,
        "survey rows",
        "survey file ",
    )?;
    let responses = &validated.responses;
    let monthly = monthly_nps(responses, calendar);
    let cohorts = cohort_nps(responses, history, calendar);
    let retention = nps_retention(responses, history);
    let mut checks = survey_checks(&counts, &monthly, &cohorts);
    let by_tier = match tiers {
        Some((names, of_customer)) => {
            let frame = nps_by_tier_table(responses, names, of_customer)?;
            let total: i64 = frame.column("responses")?.i64()?.sum().unwrap_or(0);
            checks.push(Check {
                check: "survey responses: nps_by_tier = accepted".into(),
                expected: counts.accepted as i64,
                actual: total,
                passed: counts.accepted as i64 == total,
            });
            Some(frame)
        }
        None => None,
    };
    let mut tables = vec![
        Table {
            name: "nps_monthly",
            frame: nps_monthly_table(&monthly, calendar)?,
        },
        Table {
            name: "nps_by_cohort",
            frame: nps_by_cohort_table(&cohorts)?,
        },
        Table {
            name: "nps_retention",
            frame: nps_retention_table(&retention)?,
        },
    ];
    if let Some(frame) = by_tier {
        tables.insert(
            2,
            Table {
                name: "nps_by_tier",
                frame,
            },
        );
    }
    Ok(NpsOutput {
        files,
        counts,
        rejects_by_reason: by_reason,
        rejects,
        checks,
        tables,
    })
}

/// The survey rows' accounting, and the responses of both count tables
/// against the accepted rows.
pub fn survey_checks(counts: &RowCounts, monthly: &[NpsCounts], cohorts: &CohortNps) -> Vec<Check> {
    let check = |name: &str, expected: u64, actual: i64| Check {
        check: name.to_string(),
        expected: expected as i64,
        actual,
        passed: expected as i64 == actual,
    };
    vec![
        check(
            "survey rows_read = accepted + rejected + excluded + duplicates",
            counts.rows_read,
            (counts.accepted + counts.rejected + counts.excluded() + counts.duplicates) as i64,
        ),
        check(
            "survey responses: nps_monthly = accepted",
            counts.accepted,
            monthly.iter().map(|c| c.responses).sum(),
        ),
        check(
            "survey responses: nps_by_cohort = accepted",
            counts.accepted,
            cohorts.counts.iter().map(|c| c.responses).sum(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::day_number;
    use chrono::NaiveDate;

    fn day(s: &str) -> i32 {
        day_number(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    /// Two customers: A orders in Jan, Feb and Apr 2024; B in Jan only.
    fn history() -> OrderHistory {
        OrderHistory {
            customer_ids: vec!["A".into(), "B".into()],
            offsets: vec![0, 3, 4],
            day: vec![
                day("2024-01-05"),
                day("2024-02-10"),
                day("2024-04-01"),
                day("2024-01-20"),
            ],
            cents: vec![1000, 500, 700, 900],
            as_of: day("2024-04-15"),
            dimensions: Vec::new(),
        }
    }

    fn responses(rows: &[(u32, &str, u8)]) -> Responses {
        let mut r = Responses::default();
        for &(c, d, s) in rows {
            r.customer.push(c);
            r.day.push(day(d));
            r.ts_micros.push(day(d) as i64 * 86_400_000_000);
            r.score.push(s);
        }
        r
    }

    #[test]
    fn categories_and_nps() {
        assert_eq!(NpsCategory::of(0), NpsCategory::Detractor);
        assert_eq!(NpsCategory::of(6), NpsCategory::Detractor);
        assert_eq!(NpsCategory::of(7), NpsCategory::Passive);
        assert_eq!(NpsCategory::of(8), NpsCategory::Passive);
        assert_eq!(NpsCategory::of(9), NpsCategory::Promoter);
        assert_eq!(NpsCategory::of(10), NpsCategory::Promoter);
        let mut c = NpsCounts::default();
        assert_eq!(c.nps(), None);
        for s in [10, 9, 8, 3] {
            c.add(s);
        }
        // 2 of 4 promoters, 1 of 4 detractors: 50 − 25 = 25 points.
        assert_eq!(c.nps(), Some(25.0));
    }

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

    #[test]
    fn retention_follows_first_response_into_complete_months() {
        let h = history();
        // A: first response Jan (score 10), a later one ignored; B: Jan (3).
        let r = responses(&[
            (0, "2024-01-06", 10),
            (0, "2024-02-11", 2),
            (1, "2024-01-21", 3),
        ]);
        let cells = nps_retention(&r, &h);
        let promoter = &cells[2];
        let detractor = &cells[0];
        // as_of 2024-04-15: Feb and Mar complete (k = 1, 2), Apr not.
        assert_eq!(
            promoter[0],
            RetentionCell {
                respondents: 1,
                ordered: 1
            }
        );
        assert_eq!(
            promoter[1],
            RetentionCell {
                respondents: 1,
                ordered: 0
            }
        );
        assert_eq!(promoter[2], RetentionCell::default());
        assert_eq!(
            detractor[0],
            RetentionCell {
                respondents: 1,
                ordered: 0
            }
        );
        assert_eq!(
            detractor[1],
            RetentionCell {
                respondents: 1,
                ordered: 0
            }
        );
        assert_eq!(cells[1], [RetentionCell::default(); 12]);
        let table = nps_retention_table(&cells).unwrap();
        assert_eq!(table.height(), 36);
    }

    #[test]
    fn nps_by_tier_counts_each_response_under_the_customers_tier() {
        // Customer 0 is Gold: a promoter and a detractor (NPS 0). Customer 1
        // is Bronze: a passive and a promoter (NPS 50). Nobody is Silver.
        let r = responses(&[
            (0, "2024-01-06", 10),
            (0, "2024-02-11", 2),
            (1, "2024-01-21", 8),
            (1, "2024-03-02", 9),
        ]);
        let names = ["Bronze".to_string(), "Silver".into(), "Gold".into()];
        let t = nps_by_tier_table(&r, &names, &[2, 0]).unwrap();
        let texts: Vec<_> = t
            .column("tier")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(texts, ["Bronze", "Silver", "Gold"]);
        let ints = |name: &str| -> Vec<i64> {
            t.column(name)
                .unwrap()
                .i64()
                .unwrap()
                .into_no_null_iter()
                .collect()
        };
        assert_eq!(ints("respondents"), [1, 0, 1]);
        assert_eq!(ints("responses"), [2, 0, 2]);
        assert_eq!(ints("promoters"), [1, 0, 1]);
        assert_eq!(ints("passives"), [1, 0, 0]);
        assert_eq!(ints("detractors"), [0, 0, 1]);
        let nps: Vec<Option<f64>> = t.column("nps").unwrap().f64().unwrap().iter().collect();
        assert_eq!(nps, [Some(50.0), None, Some(0.0)]);
    }

    #[test]
    fn monthly_and_cohort_counts_add_up() {
        let h = history();
        let calendar = Calendar::of(&h);
        let r = responses(&[
            (0, "2024-01-06", 10),
            (0, "2024-02-11", 2),
            (1, "2024-01-21", 8),
        ]);
        let monthly = monthly_nps(&r, &calendar);
        assert_eq!(monthly.len(), 4);
        assert_eq!(monthly[0].responses, 2);
        assert_eq!(monthly[0].nps(), Some(50.0));
        assert_eq!(monthly[1].detractors, 1);
        assert_eq!(monthly[2].nps(), None);
        let cohorts = cohort_nps(&r, &h, &calendar);
        assert_eq!(cohorts.cohort_month, vec![day("2024-01-01")]);
        assert_eq!(cohorts.cohort_size, vec![2]);
        assert_eq!(cohorts.respondents, vec![2]);
        assert_eq!(cohorts.counts[0].responses, 3);
    }
}
