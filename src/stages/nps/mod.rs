//! NPS: survey responses → the counts of `nps_monthly`, `nps_by_cohort`,
//! `nps_by_tier` (with loyalty tiers) and `nps_retention`, whose frames are
//! built in `tables::nps`.
//!
//! Input: the raw survey chunks, as `io::surveys` reads them, checked one
//! at a time by [`SurveyCheck`] (one row per response: customer id,
//! response timestamp or date, 0–10 score), and the order history, which
//! decides who is a customer and when they ordered. The checked rows are
//! gathered by customer partition, and each partition's accepted
//! responses are counted on their own ([`NpsCounter`]); all of a
//! customer's responses are in one partition, so the tables are the
//! partitions' counts added up ([`NpsPartial`], [`nps_stage`]).
//!
//! Rules ([`responses`]), row by row, in this order: a missing customer id, a missing or bad
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
//! has customers; `nps_by_tier` one row per tier, lowest first;
//! `nps_retention` one row per category × months_after 1…12.

pub mod checked;
pub mod coded;
pub mod orders;
pub mod responses;

pub use orders::RespondentOrders;
pub use responses::{
    check_chunk, CheckedChunk, CountedPart, Responses, SurveyCheck, SurveyMemory, SurveyPartitions,
    SurveyRules, SurveyValidation,
};

use crate::error::Result;
use crate::stages::calendar::Calendar;
use crate::stages::checks::Check;
use crate::stages::kpis::MonthlyCounts;
use crate::stages::orders::RowCounts;
use crate::stages::rejects::{counts_by_reason, Reject};
use crate::tables::schema::nps::{NPS_BY_COHORT, NPS_BY_TIER, NPS_MONTHLY};
use crate::tables::schema::values::ratio;
use crate::time::{month_end, month_of_day};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Counts per group; `group_of_respondent[k]` is the group of the k-th
/// responding customer in code order (None: not counted), so nothing is
/// held for the customers who did not respond. Also the number of
/// distinct respondents per group.
pub fn counts_by_group(
    responses: &Responses,
    group_of_respondent: &[Option<usize>],
    groups: usize,
) -> (Vec<NpsCounts>, Vec<i64>) {
    let mut counts = vec![NpsCounts::default(); groups];
    let mut respondents = vec![0i64; groups];
    // Responses are in customer order: a respondent's follow one another.
    let mut k = 0;
    for i in 0..responses.len() {
        let first = i == 0 || responses.customer[i - 1] != responses.customer[i];
        if first && i > 0 {
            k += 1;
        }
        if let Some(g) = group_of_respondent[k] {
            counts[g].add(responses.score[i]);
            respondents[g] += first as i64;
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

/// NPS per cohort: the rows of `nps_by_cohort` before they become a table.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortNps {
    /// First day of each cohort month that has customers, ascending.
    pub cohort_month: Vec<i32>,
    pub cohort_size: Vec<i64>,
    pub respondents: Vec<i64>,
    pub counts: Vec<NpsCounts>,
}

/// Responses grouped by the responding customer's cohort (the month of
/// their first order). `cohort_size`: the customers whose first order is
/// in each calendar month, which the run has counted already as
/// `kpis_monthly`'s new customers, so no other customer is read here.
/// The run counts a partition at a time ([`NpsCounter`]); this counts
/// some responses at once, for the tests.
#[cfg(test)]
pub fn cohort_nps(
    responses: &Responses,
    orders: &RespondentOrders,
    calendar: &Calendar,
    cohort_size: &[i64],
) -> CohortNps {
    let by_month = counts_by_cohort_month(responses, orders, calendar);
    CohortNps::of(by_month, calendar, cohort_size)
}

/// Counts per calendar month of the respondent's first order, and the
/// distinct respondents of each.
fn counts_by_cohort_month(
    responses: &Responses,
    orders: &RespondentOrders,
    calendar: &Calendar,
) -> (Vec<NpsCounts>, Vec<i64>) {
    let cohort_of_respondent: Vec<Option<usize>> = (orders.first_day.iter())
        .map(|first| first.map(|d| calendar.position_of_day(d)))
        .collect();
    counts_by_group(responses, &cohort_of_respondent, calendar.len())
}

impl CohortNps {
    /// The cohorts that have customers, of the counts and respondents per
    /// calendar month.
    fn of(
        (counts, respondents): (Vec<NpsCounts>, Vec<i64>),
        calendar: &Calendar,
        cohort_size: &[i64],
    ) -> CohortNps {
        let keep: Vec<usize> = (0..calendar.len())
            .filter(|&p| cohort_size[p] > 0)
            .collect();
        CohortNps {
            cohort_month: keep.iter().map(|&p| calendar.start(p)).collect(),
            cohort_size: keep.iter().map(|&p| cohort_size[p]).collect(),
            respondents: keep.iter().map(|&p| respondents[p]).collect(),
            counts: keep.iter().map(|&p| counts[p]).collect(),
        }
    }
}

/// One cell of `nps_retention`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    orders: &RespondentOrders,
    as_of: i32,
) -> Vec<[RetentionCell; RETENTION_MONTHS as usize]> {
    let mut cells = vec![[RetentionCell::default(); RETENTION_MONTHS as usize]; 3];
    let firsts: Vec<usize> = responses.firsts().collect();
    for (&i, order_months) in firsts.iter().zip(&orders.months) {
        let category = NpsCategory::of(responses.score[i]);
        let row = NpsCategory::ALL
            .iter()
            .position(|c| *c == category)
            .expect("every category is listed");
        let m = month_of_day(responses.day[i]);
        for k in 1..=RETENTION_MONTHS as i32 {
            if month_end(m + k) > as_of {
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

/// NPS by loyalty tier: the rows of `nps_by_tier` before they become a
/// table, one per tier in rank order (lowest first), tiers without
/// responses included.
#[derive(Debug, Clone, PartialEq)]
pub struct TierNps {
    pub tier: Vec<String>,
    pub respondents: Vec<i64>,
    pub counts: Vec<NpsCounts>,
}

/// Every response of a customer counts under the customer's tier at as_of
/// (`tier_of_respondent[k]`, the k-th responding customer's in code
/// order: an index into `tier_names`, which are in rank order, lowest
/// first). For the tests: the run counts a partition at a time
/// ([`NpsCounter`]).
#[cfg(test)]
pub fn tier_nps(
    responses: &Responses,
    tier_names: &[String],
    tier_of_respondent: &[usize],
) -> TierNps {
    let (counts, respondents) = counts_by_tier(responses, tier_names.len(), tier_of_respondent);
    TierNps {
        tier: tier_names.to_vec(),
        respondents,
        counts,
    }
}

/// Counts per tier (of `tiers`), and the distinct respondents of each.
fn counts_by_tier(
    responses: &Responses,
    tiers: usize,
    tier_of_respondent: &[usize],
) -> (Vec<NpsCounts>, Vec<i64>) {
    let group_of: Vec<Option<usize>> = tier_of_respondent.iter().map(|&t| Some(t)).collect();
    counts_by_group(responses, &group_of, tiers)
}

/// The counts of every NPS table over the responses of some customers
/// (one customer partition's). All of a customer's responses are in one
/// partition, so the partitions' counts added up are the whole run's,
/// the distinct respondents included.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NpsPartial {
    /// Per calendar month of the response date.
    pub monthly: Vec<NpsCounts>,
    /// Per calendar month of the respondent's first order: the counts,
    /// and the distinct respondents.
    pub by_cohort_month: (Vec<NpsCounts>, Vec<i64>),
    /// Per tier, with loyalty tiers: the counts, and the distinct
    /// respondents.
    pub by_tier: Option<(Vec<NpsCounts>, Vec<i64>)>,
    /// Per category in [`NpsCategory::ALL`] order.
    pub retention: Vec<[RetentionCell; RETENTION_MONTHS as usize]>,
}

impl NpsPartial {
    /// No response: over `months` calendar months, and `tiers` tiers with
    /// loyalty tiers.
    pub fn zero(months: usize, tiers: Option<usize>) -> NpsPartial {
        let counts = |groups| (vec![NpsCounts::default(); groups], vec![0; groups]);
        NpsPartial {
            monthly: vec![NpsCounts::default(); months],
            by_cohort_month: counts(months),
            by_tier: tiers.map(counts),
            retention: vec![[RetentionCell::default(); RETENTION_MONTHS as usize]; 3],
        }
    }

    /// Adds `other`'s counts, which are over as many months and tiers.
    pub fn add(&mut self, other: &NpsPartial) {
        add_each(&mut self.monthly, &other.monthly);
        add_each(&mut self.by_cohort_month.0, &other.by_cohort_month.0);
        add_each(&mut self.by_cohort_month.1, &other.by_cohort_month.1);
        if let (Some(to), Some(from)) = (&mut self.by_tier, &other.by_tier) {
            add_each(&mut to.0, &from.0);
            add_each(&mut to.1, &from.1);
        }
        for (to, from) in self.retention.iter_mut().zip(&other.retention) {
            add_each(to, from);
        }
    }
}

/// `to[i] += from[i]` for every i; both are as long.
fn add_each<T: std::ops::AddAssign + Copy>(to: &mut [T], from: &[T]) {
    debug_assert_eq!(to.len(), from.len());
    to.iter_mut().zip(from).for_each(|(t, &f)| *t += f);
}

impl std::ops::AddAssign for NpsCounts {
    fn add_assign(&mut self, other: NpsCounts) {
        self.responses += other.responses;
        self.promoters += other.promoters;
        self.passives += other.passives;
        self.detractors += other.detractors;
    }
}

impl std::ops::AddAssign for RetentionCell {
    fn add_assign(&mut self, other: RetentionCell) {
        self.respondents += other.respondents;
        self.ordered += other.ordered;
    }
}

/// Counts one customer partition's accepted responses for every NPS
/// table (what [`SurveyCheck::finish`] asks of each partition); sent to
/// a cluster's executors, which count there.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NpsCounter {
    /// The run's month calendar.
    pub calendar: Calendar,
    pub as_of: i32,
    /// With loyalty tiers: how many.
    pub tiers: Option<usize>,
}

impl NpsCounter {
    /// The counts of `responses`, `orders` being their respondents'; with
    /// loyalty tiers, `tiers_of` gives the tier of each respondent (codes
    /// ascending) at as_of.
    pub fn count(
        &self,
        (responses, orders): (&Responses, &RespondentOrders),
        tiers_of: impl FnOnce(&[u32]) -> Result<Vec<usize>>,
    ) -> Result<NpsPartial> {
        let by_tier = |tiers: usize| -> Result<_> {
            let respondents = responses.respondents();
            let of_respondent = match respondents.is_empty() {
                true => Vec::new(),
                false => tiers_of(&respondents)?,
            };
            Ok(counts_by_tier(responses, tiers, &of_respondent))
        };
        Ok(NpsPartial {
            monthly: monthly_nps(responses, &self.calendar),
            by_cohort_month: counts_by_cohort_month(responses, orders, &self.calendar),
            by_tier: self.tiers.map(by_tier).transpose()?,
            retention: nps_retention(responses, orders, self.as_of),
        })
    }
}

/// Where the survey files are read and checked, and the customer
/// partitions' rows validated and counted ([`responses::count_part`] by
/// `counter`), when other processes hold the customers: each partition's
/// counts, in partition order, `starts` being the code of each one's
/// first customer.
pub trait NpsElsewhere: Send + Sync {
    /// The survey `files` of `pipeline` read there `chunk_rows` rows at a
    /// time, checked on as_of and routed to `partitions`, where
    /// [`NpsElsewhere::count`] finds them: each unit's counts and row
    /// rejects as a checked chunk without its rows, in file and row order.
    fn check(
        &self,
        pipeline: &crate::config::Pipeline,
        files: (&[crate::stages::raw::InputFile], usize),
        on: (i32, &SurveyPartitions),
    ) -> Result<Vec<CheckedChunk>>;

    fn count(
        &self,
        counter: &NpsCounter,
        starts: &[usize],
    ) -> Result<Vec<responses::CountedPart<NpsPartial>>>;
}

/// What the NPS stage gives the run: the survey rows' accounting and
/// rejects, and the counts of every NPS table.
pub struct NpsOutput {
    pub counts: RowCounts,
    pub rejects_by_reason: Vec<(&'static str, u64)>,
    /// Survey rejects, raw records filled in: the `rejects` rows of the
    /// survey files.
    pub rejects: Vec<Reject>,
    pub checks: Vec<Check>,
    /// `nps_monthly`, one per calendar month.
    pub monthly: Vec<NpsCounts>,
    /// `nps_by_cohort`.
    pub cohorts: CohortNps,
    /// `nps_by_tier`, with loyalty tiers.
    pub by_tier: Option<TierNps>,
    /// `nps_retention`, per category in [`NpsCategory::ALL`] order.
    pub retention: Vec<[RetentionCell; RETENTION_MONTHS as usize]>,
}

/// The NPS tables' counts: the partitions' counts of the validated survey
/// rows added up (the rejects' raw records filled in). `calendar`: the
/// run's month calendar, and `kpi_counts` its monthly counts (whose new
/// customers are the cohorts' sizes). `tier_names`: the tier names in
/// rank order, with loyalty tiers.
pub fn nps_stage(
    validated: SurveyValidation<NpsPartial>,
    (calendar, kpi_counts): (&Calendar, &MonthlyCounts),
    tier_names: Option<&[String]>,
) -> NpsOutput {
    let counts = validated.counts;
    let rejects_by_reason = counts_by_reason(&validated.rejects);
    debug_assert_eq!(validated.rejects.len() as u64, counts.rejected);
    let mut whole = NpsPartial::zero(calendar.len(), tier_names.map(<[String]>::len));
    validated.counted.iter().for_each(|part| whole.add(part));
    let cohorts = CohortNps::of(whole.by_cohort_month, calendar, &kpi_counts.new_customers);
    let by_tier = tier_names
        .zip(whole.by_tier)
        .map(|(names, (counts, respondents))| TierNps {
            tier: names.to_vec(),
            respondents,
            counts,
        });
    let checks = survey_checks(&counts, &whole.monthly, &cohorts, by_tier.as_ref());
    NpsOutput {
        counts,
        rejects_by_reason,
        retention: whole.retention,
        rejects: validated.rejects,
        checks,
        monthly: whole.monthly,
        cohorts,
        by_tier,
    }
}

/// The survey rows' accounting, and the responses of the count tables
/// (`nps_by_tier` with tiers) against the accepted rows.
pub fn survey_checks(
    counts: &RowCounts,
    monthly: &[NpsCounts],
    cohorts: &CohortNps,
    by_tier: Option<&TierNps>,
) -> Vec<Check> {
    let check = |name: &str, expected: u64, actual: i64| Check {
        check: name.to_string(),
        expected: expected as i64,
        actual,
        passed: expected as i64 == actual,
    };
    let responses = |counts: &[NpsCounts]| counts.iter().map(|c| c.responses).sum();
    let mut checks = vec![
        check(
            "survey rows_read = accepted + rejected + excluded + duplicates",
            counts.rows_read,
            (counts.accepted + counts.rejected + counts.excluded() + counts.duplicates) as i64,
        ),
        check(
            &format!("survey responses: {} = accepted", NPS_MONTHLY.name),
            counts.accepted,
            responses(monthly),
        ),
        check(
            &format!("survey responses: {} = accepted", NPS_BY_COHORT.name),
            counts.accepted,
            responses(&cohorts.counts),
        ),
    ];
    if let Some(tiers) = by_tier {
        checks.push(check(
            &format!("survey responses: {} = accepted", NPS_BY_TIER.name),
            counts.accepted,
            responses(&tiers.counts),
        ));
    }
    checks
}

/// Stage tests, and the histories and responses the table tests
/// (`tables::nps`) build on.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::SurveyColumns;
    use crate::stages::customer_ranges::CustomerRanges;
    use crate::stages::kpis::monthly_counts;
    use crate::stages::orders::{HistoryPart, OrderHistory};
    use crate::stages::partition::{MemorySpill, NoSpill};
    use crate::stages::per_customer::{customer_parts, held_parts, CustomerParts};
    use crate::stages::raw::{FileFormat, InputFile, RawBatch, RawText};
    use crate::stages::rejects::{fill_raw, rows_missing_raw};
    use crate::stages::tiers::Tiers;
    use crate::time::day_number;
    use checked::CheckedRows;
    use chrono::NaiveDate;

    pub(crate) fn day(s: &str) -> i32 {
        day_number(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    /// Two customers: A orders in Jan, Feb and Apr 2024; B in Jan only.
    pub(crate) fn history() -> OrderHistory {
        OrderHistory::from_rows(
            day("2024-04-15"),
            &[
                ("A", day("2024-01-05"), 1000),
                ("A", day("2024-02-10"), 500),
                ("A", day("2024-04-01"), 700),
                ("B", day("2024-01-20"), 900),
            ],
        )
    }

    pub(crate) fn responses(rows: &[(u32, &str, u8)]) -> Responses {
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
    fn retention_follows_first_response_into_complete_months() {
        let h = history();
        // A: first response Jan (score 10), a later one ignored; B: Jan (3).
        let r = responses(&[
            (0, "2024-01-06", 10),
            (0, "2024-02-11", 2),
            (1, "2024-01-21", 3),
        ]);
        let orders = RespondentOrders::read(&r.respondents(), &h).unwrap();
        let cells = nps_retention(&r, &orders, h.as_of);
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
        let orders = RespondentOrders::read(&r.respondents(), &h).unwrap();
        let jan_feb_apr = [day("2024-01-05"), day("2024-02-10"), day("2024-04-01")];
        assert_eq!(
            orders,
            RespondentOrders {
                first_day: vec![Some(day("2024-01-05")), Some(day("2024-01-20"))],
                months: vec![
                    jan_feb_apr.map(month_of_day).to_vec(),
                    vec![month_of_day(day("2024-01-20"))]
                ],
            }
        );
        // A and B both first ordered in January.
        let cohorts = cohort_nps(&r, &orders, &calendar, &[2, 0, 0, 0]);
        assert_eq!(cohorts.cohort_month, vec![day("2024-01-01")]);
        assert_eq!(cohorts.cohort_size, vec![2]);
        assert_eq!(cohorts.respondents, vec![2]);
        assert_eq!(cohorts.counts[0].responses, 3);
    }

    /// The one survey file of the in-memory tests.
    fn survey_file() -> [InputFile; 1] {
        [InputFile {
            path: "surveys.csv".into(),
            format: FileFormat::Csv,
            size: 0,
            modified: None,
            source: None,
        }]
    }

    /// The default survey columns, timestamps without an offset in UTC.
    pub(crate) fn utc_rules(max_reject_ratio: f64) -> SurveyRules {
        SurveyRules {
            columns: SurveyColumns::default(),
            timestamp_format: None,
            time_zone: chrono_tz::UTC,
            max_reject_ratio,
        }
    }

    /// The survey rows of one in-memory file: `__row`, customer id,
    /// response time, score, all text as a CSV gives them.
    pub(crate) fn survey_batch(rows: &[(&str, &str, &str)]) -> RawBatch {
        use crate::stages::raw::ROW_COLUMN;
        use polars::prelude::{Column, DataFrame};
        let pick = |k: usize| -> Vec<&str> { rows.iter().map(|r| [r.0, r.1, r.2][k]).collect() };
        let columns = SurveyColumns::default();
        let frame = DataFrame::new_infer_height(vec![
            Column::new(
                ROW_COLUMN.into(),
                (1..=rows.len() as u32).collect::<Vec<_>>(),
            ),
            Column::new(columns.customer_id.as_str().into(), pick(0)),
            Column::new(columns.response_ts.as_str().into(), pick(1)),
            Column::new(columns.score.as_str().into(), pick(2)),
        ])
        .unwrap();
        RawBatch {
            file: 0,
            frame,
            line_hash: None,
        }
    }

    /// Checked rows held in memory whatever their size.
    fn in_memory() -> SurveyMemory<'static> {
        SurveyMemory {
            held_bytes: usize::MAX,
            spill: &NoSpill,
        }
    }

    /// [`SurveyCheck`] of `batches` (a chunk each) held as `memory` says,
    /// `count` of each partition's accepted responses; the raw records of
    /// the rejects it finds at the end taken from the batches, as the run
    /// reads them again from the files. The history's parts are the
    /// ranges of `ranges`. `as_executors`: each partition validated
    /// apart, its respondents' orders read from its entries alone, as a
    /// cluster's executor does.
    fn validated_in_chunks<T: Send>(
        (rules, files): (&SurveyRules, &[InputFile]),
        batches: &[RawBatch],
        (history, parts, ranges): (&OrderHistory, &CustomerParts, &CustomerRanges),
        (memory, as_executors): (SurveyMemory, bool),
        count: impl Fn(&Responses, &RespondentOrders) -> Result<T> + Sync,
    ) -> Result<SurveyValidation<T>> {
        let partitions = SurveyPartitions {
            ranges,
            count: parts.part_count(),
        };
        let customers = (partitions, history.as_of);
        let mut check = SurveyCheck::new((rules, files), customers, memory);
        for batch in batches {
            check.add(batch)?;
        }
        let mut validated = match as_executors {
            true => check.finish_with(|checked| {
                let each = |p: usize| {
                    let start = parts.codes_of(p).start;
                    let orders_of = |read: &[u32]| {
                        history.with_part(p, |e| RespondentOrders::of_entries((e, start), read))
                    };
                    let rows = checked.take(p)?;
                    parts.with_ids(p, |ids| {
                        responses::count_part(rows, (ids, start), orders_of, &count)
                    })?
                };
                (0..parts.part_count()).map(each).collect()
            })?,
            false => check.finish((history, parts), count)?,
        };
        let wanted = rows_missing_raw(&validated.rejects);
        let mut texts = Vec::new();
        for (file, rows) in &wanted {
            for batch in batches.iter().filter(|b| b.file == *file) {
                texts.push(RawText::of_rows(batch, rows)?);
            }
        }
        fill_raw(&mut validated.rejects, &texts);
        Ok(validated)
    }

    /// The whole stage on rows held in memory (no file is read): every
    /// rule of the module docs once, the accounting, the raw records of the
    /// rejects and the counts behind each table.
    #[test]
    fn nps_stage_on_in_memory_rows() {
        let batch = survey_batch(&[
            ("A", "2024-01-06 10:00:00", "10"),
            ("A", "2024-01-06 10:00:00", "10"), // duplicate
            ("B", "2024-01-21", "3"),
            ("C", "2024-02-01", "9"),   // response_without_order
            ("B", "2024-01-10", "8"),   // response_before_first_order
            (" ", "2024-02-01", "9"),   // missing_customer_id
            ("A", "2024-02-11", "8.5"), // invalid_score
            ("A", "2024-05-01", "9"),   // after as_of
            ("A", "2024-03-01", "7"),
        ]);
        let files = survey_file();
        let rules = utc_rules(1.0);
        let h = history();
        let calendar = Calendar::of(&h);
        // A spent $22 in the last twelve months (Gold), B $9 (Bronze).
        let tiers = Tiers::new(vec![("Bronze".into(), 0), ("Gold".into(), 1_500)]);
        let ids = h.clone().take_ids();
        let parts = customer_parts((&h, Some(&ids)), Some(&tiers), None).unwrap();
        assert_eq!(parts.tiers_of(&[0, 1]).unwrap(), [1, 0]);
        let counter = NpsCounter {
            calendar: calendar.clone(),
            as_of: h.as_of,
            tiers: Some(2),
        };
        let count = |r: &Responses, o: &RespondentOrders| {
            counter.count((r, o), |codes| parts.tiers_of(codes))
        };
        let one_part = CustomerRanges::default();
        let customers = (&h, &parts, &one_part);
        let validated = validated_in_chunks(
            (&rules, &files),
            &[batch],
            customers,
            (in_memory(), false),
            count,
        );
        let out = nps_stage(
            validated.unwrap(),
            (&calendar, &monthly_counts(&h, &calendar, 90).unwrap()),
            Some(&tiers.names),
        );

        let c = out.counts;
        assert_eq!(
            (
                c.rows_read,
                c.accepted,
                c.rejected,
                c.excluded(),
                c.duplicates
            ),
            (9, 3, 4, 1, 1)
        );
        let mut reasons: Vec<_> = out
            .rejects
            .iter()
            .map(|r| (r.row, r.reason.as_str()))
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                (4, "response_without_order"),
                (5, "response_before_first_order"),
                (6, "missing_customer_id"),
                (7, "invalid_score"),
            ]
        );
        let invalid = out.rejects.iter().find(|r| r.row == 7).unwrap();
        assert_eq!(invalid.value.as_deref(), Some("8.5"));
        assert_eq!(
            invalid.raw.as_deref(),
            Some(r#"{"customer_id":"A","response_ts":"2024-02-11","score":"8.5"}"#)
        );
        assert!(out.rejects.iter().all(|r| r.raw.is_some()));

        // January: A's 10 and B's 3 (NPS 0); March: A's 7.
        let responses: Vec<i64> = out.monthly.iter().map(|m| m.responses).collect();
        assert_eq!(responses, [2, 0, 1, 0]);
        assert_eq!(out.monthly[0].nps(), Some(0.0));
        assert_eq!(out.monthly[2].passives, 1);
        assert_eq!(out.cohorts.counts[0].responses, 3);
        assert_eq!(out.cohorts.respondents, [2]);
        // A and B are January's cohort, as kpis_monthly counts them.
        assert_eq!(out.cohorts.cohort_size, [2]);
        let tiers = out.by_tier.as_ref().unwrap();
        assert_eq!(tiers.respondents, [1, 1]);
        assert_eq!(tiers.counts[0].detractors, 1);
        assert_eq!(tiers.counts[1].responses, 2);
        // A's first response is a promoter's; B's a detractor's.
        assert_eq!(out.retention[2][0].respondents, 1);
        assert_eq!(out.retention[0][0].respondents, 1);
        assert_eq!(out.checks.len(), 4);
        assert!(out.checks.iter().all(|k| k.passed), "{:?}", out.checks);
    }

    #[test]
    fn too_many_survey_rejects_fail_the_stage() {
        let batch = survey_batch(&[("A", "2024-01-06", "11"), ("A", "2024-01-07", "9")]);
        let files = survey_file();
        let rules = utc_rules(0.25);
        let h = history();
        let parts = held_parts(&h);
        let count = |_: &Responses, _: &RespondentOrders| Ok(());
        let one_part = CustomerRanges::default();
        let customers = (&h, &parts, &one_part);
        let how = (in_memory(), false);
        let err = validated_in_chunks((&rules, &files), &[batch], customers, how, count)
            .err()
            .unwrap();
        let message = err.to_string();
        assert!(message.contains("score_out_of_range"), "{message}");
    }

    /// One generated survey row: customer (A and B have orders, R only a
    /// refund, Z none, and a blank id), day after 2024-01-01, hour, score
    /// (11 is out of range).
    type GenRow = (usize, i32, u32, u8);
    const GEN_IDS: [&str; 5] = ["A", "B", "R", "Z", " "];

    /// What the module docs' rules give for `rows` of one file, row by
    /// row in file order: the accepted responses (customer code, day,
    /// score) in the documented order, the rejects (row, reason, value),
    /// and the excluded and duplicate counts.
    #[allow(clippy::type_complexity)]
    fn survey_oracle(
        rows: &[GenRow],
        as_of: i32,
    ) -> (
        Vec<(u32, i32, u8)>,
        Vec<(u32, &'static str, String)>,
        u64,
        u64,
    ) {
        let first_order = |id: &str| match id {
            "A" => Some(day("2024-01-05")),
            "B" => Some(day("2024-01-20")),
            _ => None,
        };
        let (mut accepted, mut rejects) = (Vec::new(), Vec::new());
        let (mut excluded, mut duplicates) = (0, 0);
        let mut seen = std::collections::HashSet::new();
        for (i, &(who, offset, hour, score)) in rows.iter().enumerate() {
            let (row, id, d) = (i as u32 + 1, GEN_IDS[who], day("2024-01-01") + offset);
            if id.trim().is_empty() {
                rejects.push((row, "missing_customer_id", id.to_string()));
            } else if score > 10 {
                rejects.push((row, "score_out_of_range", score.to_string()));
            } else if d > as_of {
                excluded += 1;
            } else if !seen.insert((id, d, hour, score)) {
                duplicates += 1;
            } else {
                match first_order(id) {
                    Some(first) if d >= first => {
                        accepted.push(((who as u32), d, hour, score));
                    }
                    Some(_) => {
                        let ts = gen_timestamp(offset, hour);
                        rejects.push((row, "response_before_first_order", ts));
                    }
                    None => rejects.push((row, "response_without_order", id.to_string())),
                }
            }
        }
        accepted.sort();
        let accepted = accepted.into_iter().map(|(c, d, _, s)| (c, d, s)).collect();
        rejects.sort();
        (accepted, rejects, excluded, duplicates)
    }

    fn gen_timestamp(offset: i32, hour: u32) -> String {
        let date = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(offset as u64);
        format!("{date}T{hour:02}:00:00Z")
    }

    /// The generated surveys' history: A and B have orders, R only a
    /// refund; split into parts by `split` (0: one part), with empty
    /// parts among them; and the parts' ranges of ids.
    fn split_history(split: usize) -> (OrderHistory, CustomerRanges) {
        let a = [
            ("A", day("2024-01-05"), 1000),
            ("A", day("2024-02-10"), 500),
        ];
        let (b, r) = (
            [("B", day("2024-01-20"), 900)],
            [("R", day("2024-02-01"), -500)],
        );
        let part = |rows: &[&[(&str, i32, i64)]]| HistoryPart::from_rows(&rows.concat());
        let (parts, bounds) = match split {
            0 => (vec![part(&[&a, &b, &r])], vec![]),
            1 => (vec![part(&[&a]), part(&[&b, &r])], vec!["B"]),
            2 => (
                vec![part(&[&a, &b]), part(&[]), part(&[&r])],
                vec!["C", "R"],
            ),
            _ => (
                vec![part(&[]), part(&[&a]), part(&[&b]), part(&[&r]), part(&[])],
                vec!["A", "B", "R", "S"],
            ),
        };
        let ranges = CustomerRanges::of_bounds(&bounds);
        (OrderHistory::of_parts(parts, day("2024-04-15"), []), ranges)
    }

    /// The partitions' accepted responses one after the other.
    fn concat_responses(parts: &[Responses]) -> Responses {
        let mut whole = Responses::default();
        for part in parts {
            whole.customer.extend(&part.customer);
            whole.day.extend(&part.day);
            whole.ts_micros.extend(&part.ts_micros);
            whole.score.extend(&part.score);
        }
        whole
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The survey rows validated in chunks of any size, routed to the
        /// history's parts by their ids' ranges (one part or several, empty
        /// ones among them), the checked rows held or every one spilled, each
        /// partition validated by the embedded engine or as a cluster's
        /// executor does, give what the rules give row by row: duplicates across chunks
        /// are kept once (the first), the rejects found at the end have
        /// their raw values. The partitions' NPS counts added up are
        /// those of all the accepted responses counted at once.
        #[test]
        fn survey_checks_in_chunks_follow_the_rules_row_by_row(
            rows in proptest::collection::vec((0..5usize, 0..120i32, 0..2u32, 0..12u8), 1..60),
            chunk in 1..20usize,
            split in 0..4usize,
            spill_all in proptest::bool::ANY,
            as_executors in proptest::bool::ANY,
        ) {
            let (h, ranges) = split_history(split);
            let ids = h.clone().take_ids();
            let tiers = Tiers::new(vec![("Bronze".into(), 0), ("Gold".into(), 1_200)]);
            let parts = customer_parts((&h, Some(&ids)), Some(&tiers), None).unwrap();
            let text: Vec<(String, String, String)> = rows
                .iter()
                .map(|&(who, offset, hour, score)| {
                    (GEN_IDS[who].to_string(), gen_timestamp(offset, hour), score.to_string())
                })
                .collect();
            let borrowed: Vec<(&str, &str, &str)> =
                text.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
            let whole = survey_batch(&borrowed);
            let chunks: Vec<RawBatch> = (0..rows.len())
                .step_by(chunk)
                .map(|at| RawBatch {
                    file: 0,
                    frame: whole.frame.slice(at as i64, chunk),
                    line_hash: None,
                })
                .collect();
            let files = survey_file();
            let rules = utc_rules(1.0);
            let spill = MemorySpill::<CheckedRows>::default();
            let memory = SurveyMemory {
                held_bytes: if spill_all { 0 } else { usize::MAX },
                spill: &spill,
            };
            let calendar = Calendar::of(&h);
            let counter = NpsCounter { calendar: calendar.clone(), as_of: h.as_of, tiers: Some(2) };
            let tiers_of = |codes: &[u32]| parts.tiers_of(codes);
            let count = |r: &Responses, o: &RespondentOrders| Ok((r.clone(), counter.count((r, o), tiers_of)?));
            let customers = (&h, &parts, &ranges);
            let how = (memory, as_executors);
            let got = validated_in_chunks((&rules, &files), &chunks, customers, how, count).unwrap();

            let (accepted, rejects, excluded, duplicates) = survey_oracle(&rows, h.as_of);
            let (of_parts, partials): (Vec<Responses>, Vec<NpsPartial>) =
                got.counted.iter().cloned().unzip();
            proptest::prop_assert_eq!(of_parts.len(), h.part_count());
            let r = concat_responses(&of_parts);
            let got_accepted: Vec<(u32, i32, u8)> =
                (0..r.len()).map(|i| (r.customer[i], r.day[i], r.score[i])).collect();
            proptest::prop_assert_eq!(got_accepted, accepted);
            let mut added = NpsPartial::zero(calendar.len(), Some(2));
            partials.iter().for_each(|p| added.add(p));
            let at_once = RespondentOrders::read(&r.respondents(), &h).unwrap();
            proptest::prop_assert_eq!(added, counter.count((&r, &at_once), tiers_of).unwrap());
            let mut got_rejects: Vec<(u32, &str, String)> = got
                .rejects
                .iter()
                .map(|r| (r.row, r.reason.as_str(), r.value.clone().unwrap_or_default()))
                .collect();
            got_rejects.sort();
            proptest::prop_assert_eq!(&got_rejects, &rejects);
            proptest::prop_assert!(got.rejects.iter().all(|r| r.raw.is_some()));
            let c = &got.counts;
            proptest::prop_assert_eq!(c.rows_read, rows.len() as u64);
            proptest::prop_assert_eq!((c.excluded(), c.duplicates), (excluded, duplicates));
            proptest::prop_assert_eq!(c.accepted + c.rejected, (rows.len() as u64) - excluded - duplicates);
        }
    }
}
