//! The per-run HTML report: one self-contained HTML5 page with inline CSS
//! and inline SVG, no JavaScript and no external resources.
//!
//! The page is also well-formed XML (every element closed, attributes
//! quoted, only XML's own entities), so tests can parse it with an XML
//! parser. All text from the data is escaped.

use std::fmt::Write as _;

mod changes;
mod nps;
mod targets;
mod tiers;

#[cfg(test)]
pub(crate) use changes::{FIRST_RUN, NO_COMPARISON, NO_RESTATEMENTS};
#[cfg(test)]
pub(crate) use nps::NO_SURVEYS;
#[cfg(test)]
pub(crate) use targets::NO_LISTS;
#[cfg(test)]
pub(crate) use tiers::NO_TIERS;

use crate::tables::schema::cohorts::COHORT_RETENTION;

use super::charts::{self, bucket_key, is_overall};
use super::data::{
    ClvSection, CohortCell, CohortPeriod, ForecastMonth, KpiMonth, ModelParameter, ReportData,
    RunFacts, SegmentRow, ValidationBucket,
};
use super::format::{self, escape, finite, finite_opt, MISSING};

/// Headings of the page's sections, in order (tests look for them).
pub const HEADINGS: [&str; 11] = [
    "Since the previous run",
    "Cohort retention",
    "Retention curve",
    "Monthly KPIs",
    "Revenue per customer by cohort",
    "Customer segments",
    "Customer lifetime value (CLV)",
    "Loyalty tiers",
    "Target lists",
    "Net Promoter Score (NPS)",
    "Run facts",
];

/// Anchors of the sections, matching [`HEADINGS`].
const ANCHORS: [&str; 11] = [
    "changes", "cohorts", "curve", "kpis", "ltv", "segments", "clv", "tiers", "targets", "nps",
    "run",
];

/// Where each section is in [`HEADINGS`] and [`ANCHORS`].
mod part {
    pub const CHANGES: usize = 0;
    pub const COHORTS: usize = 1;
    pub const CURVE: usize = 2;
    pub const KPIS: usize = 3;
    pub const LTV: usize = 4;
    pub const SEGMENTS: usize = 5;
    pub const CLV: usize = 6;
    pub const TIERS: usize = 7;
    pub const TARGETS: usize = 8;
    pub const NPS: usize = 9;
    pub const RUN: usize = 10;
}

/// The note shown in the CLV section when there is no CLV output.
pub(crate) const CLV_DISABLED: &str = "CLV stage disabled or not yet available.";

const CSS: &str = r#"
:root { --ink: #1d2433; --muted: #5f6b7a; --line: #e3e6eb; --navy: #1f3b73; --bg: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.page { max-width: 1280px; margin: 0 auto; padding: 24px 20px 40px; }
header.top { background: #ffffff; border-radius: 10px; padding: 22px 24px; border: 1px solid var(--line); }
h1 { margin: 0 0 4px; font-size: 26px; color: var(--navy); }
h2 { margin: 0 0 6px; font-size: 20px; color: var(--navy); }
h3 { margin: 18px 0 6px; font-size: 15px; }
.facts { margin: 0; color: var(--muted); }
.facts strong { color: var(--ink); }
.status { display: inline-block; margin: 10px 0 0; padding: 3px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; }
.status.ok { background: #e3f4ea; color: #1f6b3d; }
.status.fail { background: #fbe4e6; color: #9b1c28; }
.status.none { background: #eceff3; color: var(--muted); }
.glance { margin-top: 16px; }
.glance-title { margin: 0 0 8px; color: var(--muted); font-size: 13px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fbfcfd; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile .delta { font-size: 12px; font-variant-numeric: tabular-nums; }
.good { color: #1f7a45; } .bad { color: #b3261e; } .flat { color: var(--muted); }
nav.toc { margin: 14px 0; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; }
nav.toc a { color: var(--navy); text-decoration: none; border-bottom: 1px dotted var(--navy); }
section { background: #ffffff; border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; margin-top: 18px; }
.lead { margin: 0 0 12px; color: var(--muted); max-width: 980px; }
.note { margin: 6px 0 10px; color: var(--muted); font-size: 13px; }
.keys { margin: 10px 0 0; font-size: 14px; }
.keys span { display: inline-block; margin-right: 18px; }
.keys b { font-variant-numeric: tabular-nums; }
.empty { border: 1px dashed #c3c9d3; border-radius: 8px; padding: 22px; color: var(--muted); background: #fafbfc; text-align: center; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px 22px; }
.grid2 > div { min-width: 0; }
.panel h3 { margin: 6px 0 2px; }
svg.chart { display: block; max-width: 100%; height: auto; overflow: visible; }
svg .tick { font-size: 11px; fill: #4a5363; }
svg .axis-title { font-size: 12px; fill: #4a5363; font-weight: 600; }
svg .legend { font-size: 11px; fill: #2c3442; }
svg .legend-head { font-weight: 600; }
svg .label { font-size: 12px; fill: #1d2433; }
svg .mark { font-size: 11px; fill: #b2551c; font-weight: 600; }
svg .cell { font-size: 10px; fill: #1d2433; }
svg .cell-dark { fill: #ffffff; }
svg .cell-partial { paint-order: stroke; stroke: #ffffff; stroke-width: 2.5px; stroke-linejoin: round; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f1f3f7; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
tr.total td { font-weight: 600; border-top: 2px solid #cfd5de; }
td .path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.badge.pass { background: #e3f4ea; color: #1f6b3d; }
.badge.fail { background: #fbe4e6; color: #9b1c28; }
.badge.warn { background: #fff0d1; color: #8a4b00; }
.badge.none { background: #eceff3; color: var(--muted); }
.status.warn { background: #fff0d1; color: #8a4b00; text-decoration: none; }
tbody tr.flagged td { background: #fff7e3; }
tbody tr.flagged td:first-child { box-shadow: inset 3px 0 0 #e0a030; }
td .detail, td .rule { display: inline-block; white-space: normal; min-width: 240px; max-width: 560px; }
.track { display: inline-block; width: 70px; height: 9px; margin-right: 8px; vertical-align: middle; text-align: left; }
.bar { display: block; height: 9px; background: #9db5d6; border-radius: 2px; }
.after-bar { display: inline-block; min-width: 52px; }
table.compact th, table.compact td { padding: 4px 7px; white-space: nowrap; }
footer { margin-top: 18px; color: var(--muted); font-size: 12px; text-align: center; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
"#;

/// One table cell: escaped text or trusted markup made by this module.
enum Cell {
    Text(String),
    Num(String),
    Html(String),
    NumHtml(String),
}

/// A table with headers (`true` = right-aligned number column).
fn table(headers: &[(&str, bool)], rows: &[Vec<Cell>], total: Option<Vec<Cell>>) -> String {
    table_with_class(headers, rows, total, "")
}

/// [`table`] with a CSS class on the table element.
fn table_with_class(
    headers: &[(&str, bool)],
    rows: &[Vec<Cell>],
    total: Option<Vec<Cell>>,
    class: &str,
) -> String {
    let rows: Vec<(&[Cell], &str)> = rows.iter().map(|r| (r.as_slice(), "")).collect();
    table_with_row_classes(headers, &rows, total, class)
}

/// [`table_with_class`] with a CSS class on each row (empty: none).
fn table_with_row_classes(
    headers: &[(&str, bool)],
    rows: &[(&[Cell], &str)],
    total: Option<Vec<Cell>>,
    class: &str,
) -> String {
    let mut out = if class.is_empty() {
        String::from("<div class=\"scroll\"><table>")
    } else {
        format!("<div class=\"scroll\"><table class=\"{class}\">")
    };
    if headers.iter().any(|h| !h.0.is_empty()) {
        out.push_str("<thead><tr>");
        for (h, num) in headers {
            let class = if *num { " class=\"num\"" } else { "" };
            let _ = write!(out, "<th{class}>{}</th>", escape(h));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    let write_row = |out: &mut String, row: &[Cell], class: &str| {
        let _ = write!(out, "<tr{class}>");
        for c in row {
            let _ = match c {
                Cell::Text(t) => write!(out, "<td>{}</td>", escape(t)),
                Cell::Num(t) => write!(out, "<td class=\"num\">{}</td>", escape(t)),
                Cell::Html(h) => write!(out, "<td>{h}</td>"),
                Cell::NumHtml(h) => write!(out, "<td class=\"num\">{h}</td>"),
            };
        }
        out.push_str("</tr>");
    };
    for (row, class) in rows {
        let class = if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{class}\"")
        };
        write_row(&mut out, row, &class);
    }
    if let Some(t) = total {
        write_row(&mut out, &t, " class=\"total\"");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A pass/fail badge.
fn badge(ok: bool, yes: &str, no: &str) -> String {
    if ok {
        format!("<span class=\"badge pass\">{}</span>", escape(yes))
    } else {
        format!("<span class=\"badge fail\">{}</span>", escape(no))
    }
}

/// A number after a bar of `fraction` of a fixed-width track, so that the
/// bars of one column line up.
fn inline_bar(fraction: f64, text: &str) -> String {
    let w = if fraction.is_finite() {
        (fraction.clamp(0.0, 1.0) * 100.0).round()
    } else {
        0.0
    };
    format!(
        "<span class=\"track\"><span class=\"bar\" style=\"width:{w:.0}%\"></span></span>\
         <span class=\"after-bar\">{}</span>",
        escape(text)
    )
}

/// A section with its anchor, heading and body.
fn section(index: usize, lead: &str, body: &str) -> String {
    let lead = if lead.is_empty() {
        String::new()
    } else {
        format!("<p class=\"lead\">{}</p>", escape(lead))
    };
    format!(
        "<section id=\"{}\"><h2>{}</h2>{lead}{body}</section>\n",
        ANCHORS[index],
        escape(HEADINGS[index])
    )
}

/// Renders the whole report as one HTML page.
pub fn render_html(data: &ReportData) -> String {
    let mut out = String::with_capacity(512 * 1024);
    let f = &data.facts;
    out.push_str(
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n",
    );
    out.push_str("<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    let _ = writeln!(
        out,
        "<title>Retention report · as of {} · {}</title>",
        f.as_of.format("%Y-%m-%d"),
        escape(&f.pipeline)
    );
    let _ = writeln!(
        out,
        "<style>{CSS}</style>\n</head>\n<body>\n<div class=\"page\">"
    );
    out.push_str(&header(data));
    out.push_str("<nav class=\"toc\">");
    for (a, h) in ANCHORS.iter().zip(HEADINGS) {
        let _ = write!(out, "<a href=\"#{a}\">{}</a>", escape(h));
    }
    out.push_str("</nav>\n<main>\n");
    out.push_str(&changes::section(data));
    out.push_str(&cohort_section(data));
    out.push_str(&curve_section(data));
    out.push_str(&kpi_section(data));
    out.push_str(&ltv_section(data));
    out.push_str(&segment_section(data));
    out.push_str(&clv_section(data));
    out.push_str(&tiers::section(data));
    out.push_str(&targets::section(data));
    out.push_str(&nps::section(data));
    out.push_str(&run_section(data));
    let _ = write!(
        out,
        "</main>\n<footer>retention · run {} · one self-contained file: no scripts, no external \
         resources. Hover over chart marks for exact numbers.</footer>\n</div>\n</body>\n</html>\n",
        escape(&f.run_id)
    );
    out
}

/// The page header: title, facts line, check status and headline tiles.
fn header(data: &ReportData) -> String {
    let f = &data.facts;
    let mut out = String::from("<header class=\"top\"><h1>Customer retention report</h1>");
    let _ = write!(
        out,
        "<p class=\"facts\">As of <strong>{}</strong> ({}) · <strong>{}</strong> customers · \
         activity window {} days · {} rows read, {} accepted · run <strong>{}</strong> · \
         pipeline <strong>{}</strong></p>",
        f.as_of.format("%-d %B %Y"),
        escape(&f.time_zone),
        format::uint(f.customers),
        f.activity_window_days,
        format::uint(f.rows_read),
        format::uint(f.accepted),
        escape(&f.run_id),
        escape(&f.pipeline)
    );
    let (passed, total) = data.checks_passed();
    let status = if total == 0 {
        "<p class=\"status none\">No reconciliation checks recorded</p>".to_string()
    } else if passed == total {
        format!("<p class=\"status ok\">All {total} reconciliation checks passed</p>")
    } else {
        format!(
            "<p class=\"status fail\">{} of {total} reconciliation checks failed</p>",
            total - passed
        )
    };
    out.push_str(&status);
    out.push_str(&gates_status(data));
    out.push_str(&glance(data));
    out.push_str("</header>\n");
    out
}

/// A pill naming the gates that fired since the previous run, if any.
fn gates_status(data: &ReportData) -> String {
    let Some(since) = &data.since_previous else {
        return String::new();
    };
    let fired = since.fired_gates();
    if fired.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = fired.iter().map(|g| g.gate.as_str()).collect();
    format!(
        " <a class=\"status warn\" href=\"#{}\">{} since the previous run: {}</a>",
        ANCHORS[part::CHANGES],
        if fired.len() == 1 {
            "1 gate fired".to_string()
        } else {
            format!("{} gates fired", fired.len())
        },
        escape(&names.join(", "))
    )
}

/// Headline tiles for the last complete month against the month before.
fn glance(data: &ReportData) -> String {
    let Some((now, before)) = data.last_complete_month() else {
        return "<div class=\"glance\"><p class=\"glance-title\">No month is complete yet, so \
                there are no monthly headline figures.</p></div>"
            .to_string();
    };
    let mut out = String::from("<div class=\"glance\">");
    let _ = write!(
        out,
        "<p class=\"glance-title\">Last complete month: <strong>{}</strong>{}</p><div class=\"tiles\">",
        format::month_name(now.month),
        before.map_or_else(
            || " (no earlier month to compare with)".to_string(),
            |b| format!(", change against {}", format::month_name(b.month))
        )
    );
    let rate_tile = |label: &str, get: fn(&KpiMonth) -> Option<f64>, higher_good: bool| {
        let v = finite_opt(get(now));
        let b = before.and_then(|b| finite_opt(get(b)));
        let delta = v.zip(b).map(|(v, b)| v - b);
        tile(
            label,
            &format::pct_opt(v),
            &format::change_pp(v, b),
            direction(delta, higher_good),
        )
    };
    let active_delta = before.map(|b| now.customers_end - b.customers_end);
    out.push_str(&tile(
        "Active customers (month end)",
        &format::int(now.customers_end),
        &active_delta.map_or_else(|| MISSING.to_string(), format::change_int),
        direction(active_delta.map(|d| d as f64), true),
    ));
    out.push_str(&rate_tile("Customer retention rate", |k| k.crr, true));
    out.push_str(&rate_tile("Churn rate", |k| k.churn_rate, false));
    out.push_str(&rate_tile(
        "Repeat-customer rate",
        |k| k.repeat_customer_rate,
        true,
    ));
    let money_tile = |label: &str, v: Option<f64>, b: Option<f64>| {
        tile(
            label,
            &format::money_opt(v),
            &format::change_money(v, b),
            direction(v.zip(b).map(|(v, b)| v - b), true),
        )
    };
    out.push_str(&money_tile(
        "Average order value",
        finite_opt(now.aov),
        before.and_then(|b| finite_opt(b.aov)),
    ));
    out.push_str(&money_tile(
        "Revenue",
        finite(now.revenue),
        before.and_then(|b| finite(b.revenue)),
    ));
    out.push_str("</div></div>");
    out
}

/// CSS class for a change: good, bad or flat.
fn direction(delta: Option<f64>, higher_good: bool) -> &'static str {
    match delta.filter(|d| d.is_finite()) {
        Some(d) if d.abs() < 1e-12 => "flat",
        Some(d) if (d > 0.0) == higher_good => "good",
        Some(_) => "bad",
        None => "flat",
    }
}

fn tile(label: &str, value: &str, delta: &str, class: &str) -> String {
    let arrow = match (class, delta.starts_with('-')) {
        ("flat", _) => "",
        (_, true) => "▼ ",
        (_, false) => "▲ ",
    };
    format!(
        "<div class=\"tile\"><div class=\"label\">{}</div><div class=\"value\">{}</div>\
         <div class=\"delta {class}\">{arrow}{}</div></div>",
        escape(label),
        escape(value),
        escape(delta)
    )
}

/// Weekly cohorts shown in the heatmap: about a year. Years of weekly
/// cohorts would make rows a few pixels high; the full grid is in
/// `cohort_retention.parquet`.
const HEATMAP_WEEKLY_COHORTS: usize = 53;

fn cohort_section(data: &ReportData) -> String {
    let unit = data.cohort_period;
    let noun = format::period_noun(unit);
    let mut cells: Vec<CohortCell> = data.cohorts.clone();
    let mut lead = format!(
        "Each row is a cohort: the customers whose first order fell in that {noun}. Each column \
         counts the {noun}s since then, and a cell shows the share of the cohort that ordered in \
         that {noun} ({noun} 0, the first {noun}, is always 100%). Darker means more customers \
         came back. Hatched, lighter cells are {noun}s still in progress, whose share can still \
         grow. Hover over a cell for the exact numbers."
    );
    if unit == CohortPeriod::Week {
        let starts: std::collections::BTreeSet<_> = cells.iter().map(|c| c.cohort_start).collect();
        if starts.len() > HEATMAP_WEEKLY_COHORTS {
            let first_shown = starts
                .iter()
                .nth(starts.len() - HEATMAP_WEEKLY_COHORTS)
                .copied()
                .unwrap_or_default();
            cells.retain(|c| c.cohort_start >= first_shown);
            let _ = write!(
                lead,
                " Only the latest {HEATMAP_WEEKLY_COHORTS} of {} weekly cohorts are shown; \
                 every cohort is in {}.parquet.",
                starts.len(),
                COHORT_RETENTION.name
            );
        }
    }
    section(part::COHORTS, &lead, &charts::cohort_heatmap(&cells, unit))
}

fn curve_section(data: &ReportData) -> String {
    let unit = data.cohort_period;
    let noun = format::period_noun(unit);
    let mut body = charts::retention_curve(&data.curve, &data.cohorts, unit);
    let key_periods: &[u32] = match unit {
        CohortPeriod::Month => &[1, 2, 3, 6, 12, 24, 36],
        CohortPeriod::Week => &[1, 2, 4, 8, 13, 26, 52],
        CohortPeriod::Quarter => &[1, 2, 4, 8, 12],
    };
    let title = format::period_plural(unit).trim_end_matches('s');
    let keys: Vec<String> = key_periods
        .iter()
        .filter_map(|&k| {
            let p = data.curve.iter().find(|p| p.period == k)?;
            let r = finite_opt(p.retention_rate)?;
            let later = finite_opt(p.unbounded_retention_rate)
                .map(|u| format!(" ({} then or later)", format::pct(u, 1)))
                .unwrap_or_default();
            Some(format!(
                "<span>{title} {k}: <b>{}</b>{}</span>",
                escape(&format::pct(r, 1)),
                escape(&later)
            ))
        })
        .collect();
    if !keys.is_empty() {
        let _ = write!(body, "<p class=\"keys\">{}</p>", keys.join(""));
    }
    let lead = format!(
        "Share of customers who order again N {noun}s after their first {noun}, over all cohorts \
         that have completed {noun} N, weighted by cohort size (thick line). {title} 0 is 100% by \
         definition and is left out so that the differences after it stay visible. Thin lines: \
         the most recent cohorts with at least three complete {noun}s after their first. \
         \"Then or later\" counts customers with an order in {noun} N or any later {noun} up to \
         as_of."
    );
    section(part::CURVE, &lead, &body)
}

fn kpi_section(data: &ReportData) -> String {
    let kpis = data.kpis_sorted();
    let lead = format!(
        "A customer is active while their last order is less than {} days old. Retention rate \
         (CRR) = (active at month end − new customers) ÷ active at month start; it can exceed \
         100% when reactivated customers outnumber churned ones. Churn rate = customers who \
         stopped being active ÷ active at month start. Hover over a month for its values.",
        data.facts.activity_window_days
    );
    if kpis.is_empty() {
        return section(
            part::KPIS,
            &lead,
            &charts::placeholder("No monthly figures yet."),
        );
    }
    let months: Vec<_> = kpis.iter().map(|k| k.month).collect();
    let complete: Vec<bool> = kpis.iter().map(|k| k.month_complete).collect();
    let mut body = String::new();
    if let Some(last) = kpis.last().filter(|k| !k.month_complete) {
        let _ = write!(
            body,
            "<p class=\"note\">{} is still in progress (figures up to {}); it is drawn hatched, \
             with dashed lines.</p>",
            escape(&format::month_name(last.month)),
            data.facts.as_of.format("%-d %B %Y")
        );
    }
    body.push_str("<div class=\"grid2\">");
    for panel in charts::kpi_panel_specs(&kpis) {
        let _ = write!(
            body,
            "<div class=\"panel\"><h3>{}</h3>{}</div>",
            escape(panel.title),
            charts::kpi_panel(&panel, &months, &complete)
        );
    }
    body.push_str("</div>");
    section(part::KPIS, &lead, &body)
}

fn ltv_section(data: &ReportData) -> String {
    section(
        part::LTV,
        &format!(
            "Average revenue per acquired customer, added up {noun} by {noun} since the first \
             order, for the twelve most recent cohorts that have a complete {noun} (complete \
             {noun}s only). A cohort whose line runs higher has earned more per customer by the \
             same age.",
            noun = format::period_noun(data.cohort_period)
        ),
        &charts::ltv_curves(&data.cohorts, data.cohort_period),
    )
}

fn segment_section(data: &ReportData) -> String {
    let lead = "Customers scored 1–5 on recency, frequency and money spent (RFM) and grouped \
                into segments. Sorted by revenue. Average CLV and P(alive) come from the CLV \
                stage and show “—” while it has not run.";
    let rows = data.segments_by_revenue();
    if rows.is_empty() {
        return section(
            part::SEGMENTS,
            lead,
            &charts::placeholder("No segments yet."),
        );
    }
    let total_customers: i64 = rows.iter().map(|r| r.customers).sum();
    let total_revenue: f64 = rows.iter().filter_map(|r| finite(r.revenue)).sum();
    let top_share = rows
        .iter()
        .filter_map(|r| finite_opt(r.share_of_revenue))
        .fold(0.0f64, f64::max);
    let table_rows: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let rev_share = finite_opt(r.share_of_revenue);
            vec![
                Cell::Text(r.rfm_segment.clone()),
                Cell::Num(format::int(r.customers)),
                Cell::Num(format::share(r.customers as f64, total_customers as f64)),
                Cell::Num(format::money(r.revenue)),
                Cell::NumHtml(inline_bar(
                    if top_share > 0.0 {
                        rev_share.unwrap_or(0.0) / top_share
                    } else {
                        0.0
                    },
                    &format::pct_opt(rev_share),
                )),
                Cell::Num(if r.customers > 0 {
                    format::money(r.revenue / r.customers as f64)
                } else {
                    MISSING.to_string()
                }),
                Cell::Num(format::money_opt(r.avg_clv)),
                Cell::Num(format::pct_opt(r.avg_p_alive)),
            ]
        })
        .collect();
    let total = vec![
        Cell::Text("All segments".to_string()),
        Cell::Num(format::int(total_customers)),
        Cell::Num(if total_customers > 0 {
            "100.0%".to_string()
        } else {
            MISSING.to_string()
        }),
        Cell::Num(format::money(total_revenue)),
        Cell::Num(String::new()),
        Cell::Num(if total_customers > 0 {
            format::money(total_revenue / total_customers as f64)
        } else {
            MISSING.to_string()
        }),
        Cell::Num(String::new()),
        Cell::Num(String::new()),
    ];
    let mut body = table(
        &[
            ("Segment", false),
            ("Customers", true),
            ("% of customers", true),
            ("Revenue", true),
            ("% of revenue", true),
            ("Revenue per customer", true),
            ("Avg CLV", true),
            ("Avg P(alive)", true),
        ],
        &table_rows,
        Some(total),
    );
    body.push_str("<h3>Share of customers and of revenue</h3>");
    body.push_str(&charts::segment_shares(&rows));
    section(part::SEGMENTS, lead, &body)
}

fn clv_section(data: &ReportData) -> String {
    let Some(clv) = &data.clv else {
        return section(
            part::CLV,
            "",
            &format!("<div class=\"empty\">{}</div>", escape(CLV_DISABLED)),
        );
    };
    section(
        part::CLV,
        "Customer lifetime value: the discounted revenue each customer is expected to bring over \
         the model's horizon (BG/NBD-style purchase model with a spend model). P(alive) is the \
         probability that a customer has not silently churned.",
        &clv_body(data, clv),
    )
}

fn clv_body(data: &ReportData, clv: &ClvSection) -> String {
    let mut body = String::new();
    if clv.uncomputable > 0 {
        body.push_str(&format!(
            "<p class=\"note\"><span class=\"badge fail\">not computed</span> The expected \
             orders and CLV of {} customers could not be computed at the fitted parameters: \
             they are null in <code>customers</code>, left out below, and the forecast months \
             are null.</p>",
            format::int(clv.uncomputable as i64)
        ));
    }
    body.push_str("<h3>Distribution of customer lifetime value</h3>");
    body.push_str(&charts::clv_histogram(clv.distribution.as_ref()));

    body.push_str("<h3>CLV by segment</h3><div class=\"grid2\"><div>");
    let segs = data.segments_by_revenue();
    body.push_str(&charts::segment_clv(&segs));
    body.push_str("</div><div>");
    body.push_str(&segment_clv_table(&segs));
    body.push_str("</div></div><h3>Model parameters</h3>");
    body.push_str(&parameters_table(&clv.parameters));
    if !clv.forecast.is_empty() {
        body.push_str(
            "<h3>Forecast</h3><p class=\"note\">Expected orders and revenue of all customers \
             per month after as_of. The intervals (<code>[clv] interval</code>, 80&#160;% by \
             default) cover the fitted parameters' sampling error only, not how the \
             customers' own purchases vary.</p>",
        );
        body.push_str(&forecast_table(&clv.forecast));
    }

    let which = clv.chosen_model.as_deref().map_or(String::new(), |m| {
        format!(
            " Shown for {}, the model that scores the customers (clv_validation has every fitted model).",
            escape(m)
        )
    });
    body.push_str(&format!(
        "<h3>Holdout validation</h3><p class=\"note\">Orders placed in the holdout period, \
         actual against what the model predicted from the data before it, per bucket of \
         customers. Relative bias = (predicted − actual) ÷ actual.{which}</p><div class=\"grid2\"><div>",
    ));
    body.push_str(&charts::validation_bars(&clv.validation));
    body.push_str("</div><div>");
    body.push_str(&validation_table(&clv.validation));
    body.push_str("</div></div>");
    body
}

/// Customers, revenue share, average CLV and P(alive) per segment.
fn segment_clv_table(segs: &[&SegmentRow]) -> String {
    if segs.is_empty() {
        return charts::placeholder("No segments yet.");
    }
    let rows: Vec<Vec<Cell>> = segs
        .iter()
        .map(|r| {
            vec![
                Cell::Text(r.rfm_segment.clone()),
                Cell::Num(format::int(r.customers)),
                Cell::Num(format::pct_opt(r.share_of_revenue)),
                Cell::Num(format::money_opt(r.avg_clv)),
                Cell::Num(format::pct_opt(r.avg_p_alive)),
            ]
        })
        .collect();
    table_with_class(
        &[
            ("Segment", false),
            ("Customers", true),
            ("Revenue share", true),
            ("Avg CLV", true),
            ("Avg P(alive)", true),
        ],
        &rows,
        None,
        "compact",
    )
}

/// The forecast per month of the horizon, with the intervals.
fn forecast_table(forecast: &[ForecastMonth]) -> String {
    let interval = |bounds: Option<(f64, f64)>, show: fn(f64) -> String| {
        bounds.map_or_else(
            || MISSING.to_string(),
            |(low, high)| format!("{} – {}", show(low), show(high)),
        )
    };
    let orders = |v: f64| format::fixed(v, 1);
    let rows: Vec<Vec<Cell>> = forecast
        .iter()
        .map(|m| {
            vec![
                Cell::Num(format::int(m.month)),
                Cell::Num(format::num_opt(m.orders, 1)),
                Cell::Num(interval(m.orders_interval, orders)),
                Cell::Num(format::money_opt(m.revenue)),
                Cell::Num(interval(m.revenue_interval, format::money)),
            ]
        })
        .collect();
    table_with_class(
        &[
            ("Month", true),
            ("Expected orders", true),
            ("Interval", true),
            ("Expected revenue", true),
            ("Interval", true),
        ],
        &rows,
        None,
        "compact",
    )
}

/// The CLV models' fitted parameters.
fn parameters_table(parameters: &[ModelParameter]) -> String {
    if parameters.is_empty() {
        return charts::placeholder("The CLV models have no fitted parameters yet.");
    }
    // The model, its log-likelihood and its fit status show once, on
    // the model's first row.
    let rows: Vec<Vec<Cell>> = parameters
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let first = i == 0 || parameters[i - 1].model != p.model;
            let once = |text: String| if first { text } else { String::new() };
            vec![
                Cell::Text(once(p.model.clone())),
                Cell::Text(p.parameter.clone()),
                Cell::Num(format::param(p.value)),
                Cell::Num(
                    finite_opt(p.std_error).map_or_else(|| MISSING.to_string(), format::param),
                ),
                Cell::Num(once(format::fixed(p.log_likelihood, 2))),
                Cell::Html(if first {
                    badge(p.fit_status == "converged", &p.fit_status, &p.fit_status)
                } else {
                    String::new()
                }),
                Cell::Text(once(if p.chosen { "yes" } else { "" }.to_string())),
            ]
        })
        .collect();
    table_with_class(
        &[
            ("Model", false),
            ("Parameter", false),
            ("Estimate", true),
            ("Std. error", true),
            ("Log-likelihood", true),
            ("Fit", false),
            ("Scores customers", false),
        ],
        &rows,
        None,
        "compact",
    )
}

/// The holdout validation per bucket, the overall row first.
fn validation_table(validation: &[ValidationBucket]) -> String {
    let mut buckets: Vec<_> = validation.iter().collect();
    buckets.sort_by(|a, b| {
        let (oa, ob) = (is_overall(&a.bucket), is_overall(&b.bucket));
        let (ka, kb) = (bucket_key(&a.bucket), bucket_key(&b.bucket));
        ob.cmp(&oa)
            .then(ka.0.cmp(&kb.0))
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.cmp(&kb.2))
    });
    if buckets.is_empty() {
        return charts::placeholder("No validation buckets yet.");
    }
    let rows: Vec<Vec<Cell>> = buckets
        .iter()
        .map(|b| {
            vec![
                Cell::Text(b.bucket.clone()),
                Cell::Num(format::int(b.customers)),
                Cell::Num(format::fixed(b.actual_orders, 1)),
                Cell::Num(format::fixed(b.predicted_orders, 1)),
                Cell::Num(format::num_opt(b.mae, 3)),
                Cell::Num(format::num_opt(b.rmse, 3)),
                Cell::Num(signed_pct(b.relative_bias)),
            ]
        })
        .collect();
    table_with_class(
        &[
            ("Bucket", false),
            ("Customers", true),
            ("Actual", true),
            ("Predicted", true),
            ("MAE", true),
            ("RMSE", true),
            ("Rel. bias", true),
        ],
        &rows,
        None,
        "compact",
    )
}

/// A percentage with its sign (`+` above zero), or the missing mark.
fn signed_pct(r: Option<f64>) -> String {
    finite_opt(r).map_or_else(
        || MISSING.to_string(),
        |r| {
            let t = format::pct(r, 1);
            if r > 0.0 {
                format!("+{t}")
            } else {
                t
            }
        },
    )
}

fn run_section(data: &ReportData) -> String {
    let f = &data.facts;
    let mut body = String::from("<div class=\"grid2\"><div><h3>Run</h3>");
    body.push_str(&run_table(f));
    body.push_str("<h3>Input rows</h3>");
    body.push_str(&input_rows(f));
    body.push_str("<h3>Input files</h3>");
    body.push_str(&input_files(f));
    body.push_str("</div><div><h3>Top reject reasons</h3>");
    body.push_str(&reject_reasons(f));
    body.push_str("<h3>Reconciliation checks</h3>");
    body.push_str(&checks_table(f));
    body.push_str("<h3>Stage timings</h3>");
    body.push_str(&stage_timings(f));
    body.push_str("</div></div>");
    section(part::RUN, "", &body)
}

/// The run's identity: id, pipeline, as-of date, time zone, window.
fn run_table(f: &RunFacts) -> String {
    let kv = |k: &str, v: String| vec![Cell::Text(k.to_string()), Cell::Text(v)];
    table(
        &[("", false), ("", false)],
        &[
            kv("Run id", f.run_id.clone()),
            kv("Pipeline", f.pipeline.clone()),
            kv("As of", f.as_of.format("%Y-%m-%d").to_string()),
            kv("Time zone", f.time_zone.clone()),
            kv(
                "Activity window",
                format!("{} days", f.activity_window_days),
            ),
            kv("Customers", format::uint(f.customers)),
        ],
        None,
    )
}

/// Rows read and where they went, with whether they add up.
fn input_rows(f: &RunFacts) -> String {
    let read = f.rows_read as f64;
    let row = |k: &str, v: u64| {
        vec![
            Cell::Text(k.to_string()),
            Cell::Num(format::uint(v)),
            Cell::Num(format::share(v as f64, read)),
        ]
    };
    let mut out = table(
        &[("", false), ("Rows", true), ("% of read", true)],
        &[
            row("Read", f.rows_read),
            row("Accepted", f.accepted),
            row("Rejected", f.rejected),
            row("Excluded (filters, after as of)", f.excluded),
            row("Duplicates", f.duplicates),
        ],
        None,
    );
    let sum = f
        .accepted
        .saturating_add(f.rejected)
        .saturating_add(f.excluded)
        .saturating_add(f.duplicates);
    let _ = write!(
        out,
        "<p class=\"note\">{} read = accepted + rejected + excluded + duplicates</p>",
        badge(sum == f.rows_read, "balanced", "does not balance")
    );
    out
}

/// The input files and their sizes.
fn input_files(f: &RunFacts) -> String {
    if f.inputs.is_empty() {
        return "<p class=\"note\">No input files recorded.</p>".to_string();
    }
    let rows: Vec<Vec<Cell>> = f
        .inputs
        .iter()
        .map(|(p, b)| {
            vec![
                Cell::Html(format!("<span class=\"path\">{}</span>", escape(p))),
                Cell::Num(format::bytes(*b)),
            ]
        })
        .collect();
    let total: u64 = f.inputs.iter().map(|i| i.1).fold(0u64, u64::saturating_add);
    let total_row = (f.inputs.len() > 1).then(|| {
        vec![
            Cell::Text(format!("{} files", f.inputs.len())),
            Cell::Num(format::bytes(total)),
        ]
    });
    table(&[("Path", false), ("Size", true)], &rows, total_row)
}

/// The ten most frequent reject reasons.
fn reject_reasons(f: &RunFacts) -> String {
    let mut reasons: Vec<&(String, u64)> = f.reject_reasons.iter().filter(|r| r.1 > 0).collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if reasons.is_empty() {
        return "<p class=\"note\">No rows were rejected.</p>".to_string();
    }
    let all: u64 = reasons.iter().map(|r| r.1).sum();
    let rows: Vec<Vec<Cell>> = reasons
        .iter()
        .take(10)
        .map(|(reason, n)| {
            vec![
                Cell::Text(reason.clone()),
                Cell::Num(format::uint(*n)),
                Cell::Num(format::share(*n as f64, all as f64)),
            ]
        })
        .collect();
    let mut out = table(
        &[("Reason", false), ("Rows", true), ("% of rejected", true)],
        &rows,
        None,
    );
    if reasons.len() > 10 {
        let _ = write!(
            out,
            "<p class=\"note\">{} more reasons not shown.</p>",
            reasons.len() - 10
        );
    }
    out
}

/// The reconciliation checks with their result.
fn checks_table(f: &RunFacts) -> String {
    if f.checks.is_empty() {
        return "<p class=\"note\">No checks recorded.</p>".to_string();
    }
    let rows: Vec<Vec<Cell>> = f
        .checks
        .iter()
        .map(|(name, expected, actual, passed)| {
            vec![
                Cell::Text(name.clone()),
                Cell::Num(format::int(*expected)),
                Cell::Num(format::int(*actual)),
                Cell::Html(badge(*passed, "pass", "FAIL")),
            ]
        })
        .collect();
    table(
        &[
            ("Check", false),
            ("Expected", true),
            ("Actual", true),
            ("Result", false),
        ],
        &rows,
        None,
    )
}

/// Wall time (as bars against the slowest stage) and peak memory per
/// stage, and the whole run's (its wall time, not the stages' sum, where
/// it was recorded: stages run side by side).
fn stage_timings(f: &RunFacts) -> String {
    if f.stages.is_empty() {
        return "<p class=\"note\">No stage timings recorded.</p>".to_string();
    }
    let total = finite_opt(f.whole_run_seconds)
        .unwrap_or_else(|| f.stages.iter().filter_map(|s| finite(s.1)).sum());
    let slowest = f
        .stages
        .iter()
        .filter_map(|s| finite(s.1))
        .fold(0.0f64, f64::max);
    let rows: Vec<Vec<Cell>> = f
        .stages
        .iter()
        .map(|(name, secs, rss)| {
            let frac = if slowest > 0.0 { secs / slowest } else { 0.0 };
            vec![
                Cell::Text(name.clone()),
                Cell::NumHtml(inline_bar(frac, &format::seconds(*secs))),
                Cell::Num(format::bytes(*rss)),
            ]
        })
        .collect();
    let peak = f.stages.iter().map(|s| s.2).max().unwrap_or(0);
    table(
        &[("Stage", false), ("Wall time", true), ("Peak memory", true)],
        &rows,
        Some(vec![
            Cell::Text("Whole run".to_string()),
            Cell::Num(format::seconds(total)),
            Cell::Num(format::bytes(peak)),
        ]),
    )
}
