//! The terminal summary of a run (`retention show`): a few aligned tables
//! with the run's headline facts, the last complete month's KPIs against
//! the month before, the start of the retention curve and the top
//! segments by revenue.
//!
//! Plain text only (no colour), so it reads the same in a terminal, a log
//! file or a snapshot test.

use comfy_table::modifiers::UTF8_ROUND_CORNERS;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::data::{CohortPeriod, KpiMonth, ReportData};
use super::format::{self, finite_opt, MISSING};

/// How many segments the summary lists.
const TOP_SEGMENTS: usize = 5;
/// The last period of the retention curve shown.
const LAST_PERIOD: u32 = 6;

/// A table in the summary's style; columns from `right_from` on are
/// right-aligned.
fn new_table(header: Option<Vec<String>>, right_from: usize) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .apply_modifier(UTF8_ROUND_CORNERS)
        .set_content_arrangement(ContentArrangement::Disabled);
    if let Some(h) = header {
        let n = h.len();
        t.set_header(h);
        for i in right_from..n {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    t
}

/// Renders the terminal summary.
pub fn render_show(data: &ReportData) -> String {
    let f = &data.facts;
    let mut out = String::new();
    out.push_str(&format!(
        "retention · run {} · pipeline {}\n\n",
        f.run_id, f.pipeline
    ));
    out.push_str(&facts(data));
    out.push_str("\n\n");
    out.push_str(&last_complete_month(data));
    out.push_str("\n\n");
    out.push_str(&retention_curve(data));
    out.push_str("\n\n");
    out.push_str(&top_segments(data));
    out.push('\n');
    out
}

/// The run's headline facts.
fn facts(data: &ReportData) -> String {
    let f = &data.facts;
    let mut facts = new_table(None, usize::MAX);
    let (passed, total) = data.checks_passed();
    let latest = data.kpis.iter().max_by_key(|k| k.month);
    facts.add_row(vec![
        "As of".to_string(),
        format!("{} ({})", f.as_of.format("%Y-%m-%d"), f.time_zone),
    ]);
    facts.add_row(vec!["Customers".to_string(), format::uint(f.customers)]);
    if let Some(k) = latest {
        facts.add_row(vec![
            "Active customers".to_string(),
            format!(
                "{} at as_of (activity window {} days)",
                format::int(k.customers_end),
                f.activity_window_days
            ),
        ]);
    }
    facts.add_row(vec![
        "Rows".to_string(),
        format!(
            "{} read · {} accepted · {} rejected · {} excluded · {} duplicates",
            format::uint(f.rows_read),
            format::uint(f.accepted),
            format::uint(f.rejected),
            format::uint(f.excluded),
            format::uint(f.duplicates)
        ),
    ]);
    let checks = if total == 0 {
        "none recorded".to_string()
    } else if passed == total {
        format!("all {total} passed")
    } else {
        format!("{} of {total} FAILED", total - passed)
    };
    facts.add_row(vec!["Checks".to_string(), checks]);
    facts.to_string()
}

/// The last complete month's KPIs against the month before.
fn last_complete_month(data: &ReportData) -> String {
    let Some((now, before)) = data.last_complete_month() else {
        return "Last complete month: none yet (no month has ended by as_of).".to_string();
    };
    let before_name = before.map_or_else(|| "before".to_string(), |b| format::month_name(b.month));
    let mut out = format!(
        "Last complete month: {}{}\n",
        format::month_name(now.month),
        before.map_or_else(
            || " (no earlier month to compare with)".to_string(),
            |b| format!(", against {}", format::month_name(b.month))
        )
    );
    let mut t = new_table(
        Some(vec![
            "KPI".to_string(),
            before_name,
            format::month_name(now.month),
            "Change".to_string(),
        ]),
        1,
    );
    let rate_row = |name: &str, get: fn(&KpiMonth) -> Option<f64>| {
        let a = finite_opt(get(now));
        let b = before.and_then(|b| finite_opt(get(b)));
        vec![
            name.to_string(),
            format::pct_opt(b),
            format::pct_opt(a),
            format::change_pp(a, b),
        ]
    };
    t.add_row(rate_row("Customer retention rate", |k| k.crr));
    t.add_row(rate_row("Churn rate", |k| k.churn_rate));
    t.add_row(rate_row("Repeat-customer rate", |k| k.repeat_customer_rate));
    let (a, b) = (finite_opt(now.aov), before.and_then(|b| finite_opt(b.aov)));
    t.add_row(vec![
        "Average order value".to_string(),
        format::money_opt(b),
        format::money_opt(a),
        format::change_money(a, b),
    ]);
    t.add_row(vec![
        "Active customers (month end)".to_string(),
        before.map_or_else(|| MISSING.to_string(), |b| format::int(b.customers_end)),
        format::int(now.customers_end),
        before.map_or_else(
            || MISSING.to_string(),
            |b| format::change_int(now.customers_end - b.customers_end),
        ),
    ]);
    out.push_str(&t.to_string());
    out
}

/// The retention curve, periods 0–6 of the run's cohort unit.
fn retention_curve(data: &ReportData) -> String {
    let unit = data.cohort_period;
    let mut points: Vec<_> = data
        .curve
        .iter()
        .filter(|p| p.period <= LAST_PERIOD)
        .collect();
    points.sort_by_key(|p| p.period);
    let noun = format::period_noun(unit);
    let mut out = format!(
        "Retention curve (all {} cohorts, complete {noun}s only)\n",
        match unit {
            CohortPeriod::Month => "monthly",
            CohortPeriod::Week => "weekly",
            CohortPeriod::Quarter => "quarterly",
        },
    );
    if points.is_empty() {
        out.push_str("No retention curve yet.");
        return out;
    }
    let mut t = new_table(
        Some(
            [
                format::period_plural(unit).trim_end_matches('s'),
                "Cohorts",
                "Customers",
                "Retained",
                "Retention",
                "Or later",
            ]
            .map(String::from)
            .to_vec(),
        ),
        0,
    );
    for p in points {
        t.add_row(vec![
            p.period.to_string(),
            format::int(p.cohorts),
            format::int(p.customers),
            format::int(p.retained),
            format::pct_opt(p.retention_rate),
            format::pct_opt(p.unbounded_retention_rate),
        ]);
    }
    out.push_str(&t.to_string());
    out.push_str(&format!(
        "\n(Or later: an order in that {noun} or any later {noun} up to as_of.)"
    ));
    out
}

/// The top segments by revenue.
fn top_segments(data: &ReportData) -> String {
    let segments = data.segments_by_revenue();
    let mut out = String::from("Top segments by revenue\n");
    if segments.is_empty() {
        out.push_str("No segments yet.");
        return out;
    }
    let mut t = new_table(
        Some(
            ["Segment", "Customers", "Revenue", "Share", "Avg CLV"]
                .map(String::from)
                .to_vec(),
        ),
        1,
    );
    for s in segments.iter().take(TOP_SEGMENTS) {
        t.add_row(vec![
            Cell::new(&s.rfm_segment),
            Cell::new(format::int(s.customers)),
            Cell::new(format::money(s.revenue)),
            Cell::new(format::pct_opt(s.share_of_revenue)),
            Cell::new(format::money_opt(s.avg_clv)),
        ]);
    }
    out.push_str(&t.to_string());
    if segments.len() > TOP_SEGMENTS {
        out.push_str(&format!(
            "\n({} more segments in the report)",
            segments.len() - TOP_SEGMENTS
        ));
    }
    out
}
