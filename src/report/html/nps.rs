//! The "Net Promoter Score (NPS)" section: NPS by month, by cohort and by
//! tier, and how promoters, passives and detractors kept ordering.

use std::fmt::Write as _;

use super::super::charts;
use super::super::data::{NpsCounts, NpsMonth, NpsRetention, NpsSection, ReportData};
use super::super::format::{self, escape, finite_opt, MISSING};
use super::{part, section as page_section, table_with_class, Cell};
use crate::stages::nps::NpsCategory;

/// The note of a run without surveys.
pub(crate) const NO_SURVEYS: &str =
    "No NPS: the pipeline has no [surveys] section, so there are no survey responses.";

/// Months after the first response shown in the retention table.
const RETENTION_MONTHS: [u32; 4] = [1, 3, 6, 12];

pub(super) fn section(data: &ReportData) -> String {
    let Some(nps) = &data.nps else {
        let note = format!("<div class=\"empty\">{}</div>", escape(NO_SURVEYS));
        return page_section(part::NPS, "", &note);
    };
    let lead = "Net Promoter Score of the survey responses: 100 × (promoters − detractors) ÷ \
                responses, from −100 to 100. Promoters score 9–10, passives 7–8, detractors \
                0–6. A month or cohort without responses has no NPS (a gap in the line, a dash \
                in the tables); the month in progress is hatched and dashed.";
    let mut months: Vec<&NpsMonth> = nps.monthly.iter().collect();
    months.sort_by_key(|m| m.month);
    let mut body = headline(&months);
    body.push_str("<div class=\"grid2\"><div class=\"panel\"><h3>NPS by month</h3>");
    body.push_str(&charts::nps_by_month(&months));
    body.push_str("</div><div class=\"panel\"><h3>Responses by month</h3>");
    body.push_str(&charts::responses_by_month(&months));
    body.push_str("</div><div class=\"panel\"><h3>NPS by acquisition cohort</h3>");
    let mut cohorts: Vec<_> = nps.by_cohort.iter().collect();
    cohorts.sort_by_key(|c| c.cohort_month);
    body.push_str(&charts::nps_by_cohort(&cohorts));
    body.push_str("</div><div><h3>NPS by loyalty tier at as of</h3>");
    body.push_str(&tier_table(nps));
    body.push_str("</div></div>");
    body.push_str(&retention(&nps.retention));
    page_section(part::NPS, lead, &body)
}

/// 100 · (promoters − detractors) / responses of summed counts; `None`
/// without responses.
fn nps_of(promoters: i64, detractors: i64, responses: i64) -> Option<f64> {
    (responses > 0).then(|| 100.0 * (promoters - detractors) as f64 / responses as f64)
}

/// NPS over all responses and in the last complete month.
fn headline(months: &[&NpsMonth]) -> String {
    let sum = |f: fn(&NpsCounts) -> i64| months.iter().map(|m| f(&m.counts)).sum::<i64>();
    let responses = sum(|c| c.responses);
    let all = nps_of(sum(|c| c.promoters), sum(|c| c.detractors), responses);
    let mut out = format!(
        "<p class=\"keys\"><span>All responses: NPS <b>{}</b> ({} responses)</span>",
        format::num_opt(all, 1),
        format::int(responses)
    );
    if let Some(last) = months.iter().rev().find(|m| m.month_complete) {
        let _ = write!(
            out,
            "<span>{}, the last complete month: NPS <b>{}</b> ({} responses)</span>",
            escape(&format::month_name(last.month)),
            format::num_opt(last.counts.nps, 1),
            format::int(last.counts.responses)
        );
    }
    out.push_str("</p>");
    out
}

/// The count cells of an NPS row: responses by category and the NPS.
fn count_cells(c: &NpsCounts) -> Vec<Cell> {
    vec![
        Cell::Num(format::int(c.responses)),
        Cell::Num(format::int(c.promoters)),
        Cell::Num(format::int(c.passives)),
        Cell::Num(format::int(c.detractors)),
        Cell::Num(format::num_opt(c.nps, 1)),
    ]
}

/// NPS per tier of the responding customers, when the run has tiers.
fn tier_table(nps: &NpsSection) -> String {
    let Some(tiers) = &nps.by_tier else {
        return "<p class=\"note\">No loyalty tiers in this run.</p>".to_string();
    };
    let rows: Vec<Vec<Cell>> = tiers
        .iter()
        .map(|t| {
            let mut row = vec![
                Cell::Text(t.tier.clone()),
                Cell::Num(format::int(t.respondents)),
            ];
            row.extend(count_cells(&t.counts));
            row
        })
        .collect();
    table_with_class(
        &[
            ("Tier", false),
            ("Respondents", true),
            ("Responses", true),
            ("Promoters", true),
            ("Passives", true),
            ("Detractors", true),
            ("NPS", true),
        ],
        &rows,
        None,
        "compact",
    )
}

/// The retention of each category after the first response: the chart,
/// and a few months of it as a table.
fn retention(rows: &[NpsRetention]) -> String {
    let mut out = String::from(
        "<h3>Ordering again after the first response, by NPS category</h3><p class=\"note\">Each \
         respondent counts once, in the category of their first response. For k months after \
         that response's month: the share of the category's respondents whose month k is \
         complete who ordered in it.</p>",
    );
    out.push_str(&charts::nps_retention(rows));
    let cell = |category: NpsCategory, k: u32| {
        let row = rows
            .iter()
            .find(|r| r.category == category.as_str() && r.months_after == k);
        Cell::Num(row.filter(|r| r.respondents > 0).map_or_else(
            || MISSING.to_string(),
            |r| {
                let rate = finite_opt(r.retention_rate)
                    .map_or_else(|| MISSING.to_string(), |v| format::pct(v, 1));
                format!("{rate} of {}", format::int(r.respondents))
            },
        ))
    };
    let table_rows: Vec<Vec<Cell>> = [
        NpsCategory::Promoter,
        NpsCategory::Passive,
        NpsCategory::Detractor,
    ]
    .into_iter()
    .map(|c| {
        let mut row = vec![Cell::Text(c.as_str().to_string())];
        row.extend(RETENTION_MONTHS.iter().map(|&k| cell(c, k)));
        row
    })
    .collect();
    let headers: Vec<String> = RETENTION_MONTHS
        .iter()
        .map(|k| format!("Month {k}"))
        .collect();
    let mut header_refs: Vec<(&str, bool)> = vec![("First response", false)];
    header_refs.extend(headers.iter().map(|h| (h.as_str(), true)));
    out.push_str(&table_with_class(
        &header_refs,
        &table_rows,
        None,
        "compact",
    ));
    out
}
