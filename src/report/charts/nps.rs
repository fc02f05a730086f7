//! The NPS charts: NPS and responses per month and NPS per cohort as
//! monthly panels, and the retention of promoters, passives and
//! detractors after their first response.

use chrono::NaiveDate;

use super::super::data::{NpsCohort, NpsMonth, NpsRetention};
use super::super::format::{self, finite_opt};
use super::super::svg::{nice_ticks, x_axis_periods, Kind, LegendItem, Linear, Swatch};
use super::super::svg::{NAVY, RED, TEAL};
use super::frame::{Chart, Frame};
use super::kpi_panels::{kpi_panel, Mark, Panel, Series};
use super::{placeholder, FULL_W};
use crate::stages::nps::NpsCategory;

/// Colour of the passives (between the promoters' and detractors').
const PASSIVE_COLOR: &str = "#9aa3b2";

/// The categories, best first, with their colour and legend name.
const CATEGORIES: [(NpsCategory, &str, &str); 3] = [
    (NpsCategory::Promoter, TEAL, "promoters (9–10)"),
    (NpsCategory::Passive, PASSIVE_COLOR, "passives (7–8)"),
    (NpsCategory::Detractor, RED, "detractors (0–6)"),
];

/// The months' first days and whether each is complete.
fn month_axis(months: &[&NpsMonth]) -> (Vec<NaiveDate>, Vec<bool>) {
    months.iter().map(|m| (m.month, m.month_complete)).unzip()
}

/// NPS per month (sorted months), the month in progress dashed.
pub(crate) fn nps_by_month(months: &[&NpsMonth]) -> String {
    let panel = Panel {
        id: "nps-monthly",
        title: "NPS by month",
        y_title: "NPS (points)",
        kind: Kind::Points,
        series: vec![Series::new(
            "NPS",
            NAVY,
            Mark::Line,
            months.iter().map(|m| finite_opt(m.counts.nps)).collect(),
        )],
    };
    let (dates, complete) = month_axis(months);
    kpi_panel(&panel, &dates, &complete)
}

/// Responses per month (sorted months), stacked by category.
pub(crate) fn responses_by_month(months: &[&NpsMonth]) -> String {
    if months.iter().all(|m| m.counts.responses == 0) {
        return placeholder("No survey responses yet.");
    }
    let count = |f: fn(&NpsMonth) -> i64| months.iter().map(|m| Some(f(m) as f64)).collect();
    let panel = Panel {
        id: "nps-responses",
        title: "Survey responses by month",
        y_title: "responses",
        kind: Kind::Count,
        series: vec![
            Series::new(
                CATEGORIES[0].2,
                TEAL,
                Mark::Up,
                count(|m| m.counts.promoters),
            ),
            Series::new(
                CATEGORIES[1].2,
                PASSIVE_COLOR,
                Mark::Up,
                count(|m| m.counts.passives),
            ),
            Series::new(
                CATEGORIES[2].2,
                RED,
                Mark::Up,
                count(|m| m.counts.detractors),
            ),
        ],
    };
    let (dates, complete) = month_axis(months);
    kpi_panel(&panel, &dates, &complete)
}

/// NPS of each acquisition cohort (sorted cohorts), over all of its
/// customers' responses.
pub(crate) fn nps_by_cohort(cohorts: &[&NpsCohort]) -> String {
    let panel = Panel {
        id: "nps-cohorts",
        title: "NPS by acquisition cohort",
        y_title: "NPS (points)",
        kind: Kind::Points,
        series: vec![Series::new(
            "NPS of the cohort's responses",
            NAVY,
            Mark::Line,
            cohorts.iter().map(|c| finite_opt(c.counts.nps)).collect(),
        )],
    };
    let dates: Vec<NaiveDate> = cohorts.iter().map(|c| c.cohort_month).collect();
    // A cohort is not a period in progress: every one is drawn solid.
    kpi_panel(&panel, &dates, &vec![true; dates.len()])
}

/// One category's points with a rate, by months after the response.
fn category_points(rows: &[NpsRetention], category: NpsCategory) -> Vec<&NpsRetention> {
    let mut points: Vec<&NpsRetention> = rows
        .iter()
        .filter(|r| r.category == category.as_str() && finite_opt(r.retention_rate).is_some())
        .collect();
    points.sort_by_key(|r| r.months_after);
    points
}

/// The share of respondents with an order k months after their first
/// response, one line per category.
pub(crate) fn nps_retention(rows: &[NpsRetention]) -> String {
    let lines: Vec<_> = CATEGORIES
        .iter()
        .map(|&(category, color, name)| (category_points(rows, category), color, name))
        .collect();
    if lines.iter().all(|(points, _, _)| points.is_empty()) {
        return placeholder(
            "No respondent has a complete month after their first response yet, so there is no \
             retention by category to draw.",
        );
    }
    let points = lines.iter().flat_map(|(p, _, _)| p.iter());
    let max_k = points
        .clone()
        .map(|r| r.months_after)
        .max()
        .unwrap_or(1)
        .max(2);
    let y_max = points
        .filter_map(|r| finite_opt(r.retention_rate))
        .fold(0.0f64, f64::max);
    let items: Vec<LegendItem> = lines
        .iter()
        .map(|(_, color, name)| LegendItem::new(Swatch::Line(color.to_string(), false, 2.5), *name))
        .collect();
    let frame = Frame {
        width: FULL_W,
        left: 76.0,
        right: 20.0,
        top: 10.0,
        bottom: 48.0,
        plot_height: 260.0,
        legend: &items,
        legend_gap: 14.0,
        ..Frame::default()
    };
    let mut s = frame.open(
        "nps-retention",
        "Share of respondents with an order in each month after their first response, by NPS \
         category",
    );
    let area = s.area;
    let ticks = nice_ticks(0.0, y_max, 5);
    let ys = s.y_axis(&ticks, Kind::Rate, "ordered (% of respondents)");
    let xs = Linear::new(1.0, max_k as f64, area.x0 + 8.0, area.x1 - 8.0);
    x_axis_periods(
        &mut s,
        area,
        &xs,
        (1, max_k),
        "Months after the first response",
    );
    for (points, color, name) in &lines {
        category_line(&mut s, (&xs, &ys), points, color, name);
    }
    s.finish()
}

/// One category's line (broken where a month has no rate) and its dots
/// with their numbers.
fn category_line(
    s: &mut Chart,
    (xs, ys): (&Linear, &Linear),
    points: &[&NpsRetention],
    color: &str,
    name: &str,
) {
    let points: Vec<(u32, f64, String)> = points
        .iter()
        .map(|p| {
            let rate = finite_opt(p.retention_rate).unwrap_or(0.0);
            let tip = format!(
                "{name}, month {}: {} ordered ({} of {})",
                p.months_after,
                format::pct(rate, 1),
                format::int(p.ordered),
                format::int(p.respondents)
            );
            (p.months_after, rate, tip)
        })
        .collect();
    s.dotted_line((xs, ys), &points, color, "2.5");
}
