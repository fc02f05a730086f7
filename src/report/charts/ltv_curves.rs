//! Cumulative revenue per customer (cohort LTV curves).

use chrono::NaiveDate;

use super::super::data::{CohortCell, CohortPeriod};
use super::super::format::{self, finite_opt};
use super::super::svg::{self, nice_ticks, x_axis_periods, Anchor, Kind, Linear};
use super::frame::{Chart, Frame};
use super::{by_cohort, placeholder, FULL_W};

/// Width of the legend right of the plot.
const LEGEND_W: f64 = 220.0;

/// A cohort's first day and its complete (period, cumulative revenue per
/// customer) points.
type CohortLine = (NaiveDate, Vec<(u32, f64)>);

/// The cohorts with at least one complete period, oldest first.
fn cohort_lines(cells: &[CohortCell]) -> Vec<CohortLine> {
    by_cohort(cells)
        .into_iter()
        .map(|(m, cs)| {
            let mut pts: Vec<(u32, f64)> = cs
                .iter()
                .filter(|c| c.period_complete)
                .filter_map(|c| {
                    finite_opt(c.cumulative_revenue_per_customer).map(|v| (c.period, v))
                })
                .collect();
            pts.sort_by_key(|p| p.0);
            (m, pts)
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect()
}

/// Cumulative revenue per customer by period for the last twelve cohorts
/// that have a complete period.
pub(crate) fn ltv_curves(cells: &[CohortCell], unit: CohortPeriod) -> String {
    let noun = format::period_noun(unit);
    let cohorts = cohort_lines(cells);
    let shown: Vec<&CohortLine> = cohorts
        .iter()
        .skip(cohorts.len().saturating_sub(12))
        .collect();
    if shown.is_empty() {
        return placeholder(&format!("No cohort has completed its first {noun} yet."));
    }
    let max_p = shown
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
        .max()
        .unwrap_or(0)
        .max(1);
    let (lo, hi) = shown
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let frame = Frame {
        width: FULL_W,
        left: 76.0,
        right: LEGEND_W + 20.0,
        top: 20.0,
        bottom: 48.0,
        plot_height: 352.0,
        ..Frame::default()
    };
    let mut s = frame.open(
        "ltv",
        &format!("Cumulative revenue per customer by cohort and {noun}s since first order"),
    );
    let area = s.area;
    let ticks = nice_ticks(lo, hi, 6);
    let ys = s.y_axis(&ticks, Kind::Money, "cumulative revenue per customer");
    let xs = Linear::new(0.0, max_p as f64, area.x0 + 8.0, area.x1 - 8.0);
    x_axis_periods(
        &mut s,
        area,
        &xs,
        (0, max_p),
        &format!("{} since first order", format::period_plural(unit)),
    );
    s.text(
        FULL_W - LEGEND_W,
        24.0,
        Anchor::Start,
        "class=\"legend legend-head\"",
        "Cohort: latest value",
    );
    let count = shown.len();
    for (i, cohort) in shown.iter().enumerate() {
        let color = svg::series_color(i);
        cohort_line(&mut s, (&xs, &ys), cohort, color, unit);
        // Newest cohort first in the legend.
        legend_row(&mut s, (count - 1 - i) as f64, cohort, color, unit);
    }
    s.finish()
}

/// One cohort's line, with a dot and a tooltip per period.
fn cohort_line(
    s: &mut Chart,
    (xs, ys): (&Linear, &Linear),
    (m, pts): &CohortLine,
    color: &str,
    unit: CohortPeriod,
) {
    let noun = format::period_noun(unit);
    let line: Vec<(f64, f64)> = pts
        .iter()
        .map(|p| (xs.map(p.0 as f64), ys.map(p.1)))
        .collect();
    s.polyline(&line, &format!("stroke=\"{color}\" stroke-width=\"2\""));
    for p in pts.iter() {
        let tip = format!(
            "{} cohort, {noun}s 0–{}: {} per customer",
            format::period_name(unit, *m),
            p.0,
            format::money(p.1)
        );
        let r = if pts.len() <= 24 { 2.5 } else { 1.5 };
        s.circle(
            xs.map(p.0 as f64),
            ys.map(p.1),
            r,
            &format!("fill=\"{color}\""),
            Some(&tip),
        );
    }
}

/// A cohort's row in the legend right of the plot: its colour, its name
/// and its latest value.
fn legend_row(s: &mut Chart, row: f64, (m, pts): &CohortLine, color: &str, unit: CohortPeriod) {
    let noun = format::period_noun(unit);
    let lx = FULL_W - LEGEND_W;
    let y = 44.0 + row * 22.0;
    s.line(
        lx,
        y - 4.0,
        lx + 18.0,
        y - 4.0,
        &format!("stroke=\"{color}\" stroke-width=\"3\""),
    );
    let last = pts.last().map_or(0.0, |p| p.1);
    let last_p = pts.last().map_or(0, |p| p.0);
    s.text(
        lx + 24.0,
        y,
        Anchor::Start,
        "class=\"legend\"",
        &format!(
            "{}: {} ({}{last_p})",
            format::period_name(unit, *m),
            format::money(last),
            &noun[..1]
        ),
    );
}
