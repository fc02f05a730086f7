//! The retention curve: the weighted curve of all cohorts with the latest
//! cohorts overlaid.

use chrono::NaiveDate;

use super::super::data::{CohortCell, CohortPeriod, CurvePoint};
use super::super::format::{self, finite_opt};
use super::super::svg::{nice_ticks, x_axis_periods, Kind, LegendItem, Linear, Swatch};
use super::super::svg::{NAVY, ORANGE, RED, TEAL};
use super::frame::{Chart, Frame};
use super::{by_cohort, placeholder, FULL_W};

/// Colours of the overlaid cohorts.
const OVERLAY_COLORS: [&str; 4] = [ORANGE, TEAL, "#7b5ea7", RED];

/// One complete retention point of one cohort.
struct CohortPoint {
    period: u32,
    rate: f64,
    active: i64,
    size: i64,
}

/// A cohort's complete retention points after period 0.
fn cohort_points(cells: &[&CohortCell]) -> Vec<CohortPoint> {
    let mut pts: Vec<CohortPoint> = cells
        .iter()
        .filter(|c| c.period >= 1 && c.period_complete)
        .filter_map(|c| {
            finite_opt(c.retention_rate).map(|rate| CohortPoint {
                period: c.period,
                rate,
                active: c.active_customers,
                size: c.cohort_size,
            })
        })
        .collect();
    pts.sort_by_key(|p| p.period);
    pts
}

/// An overlaid cohort: its first day and its complete points.
type Overlay = (NaiveDate, Vec<CohortPoint>);

/// Weighted retention curve with the latest cohorts that have at least
/// three complete periods after period 0 overlaid.
pub(crate) fn retention_curve(
    curve: &[CurvePoint],
    cells: &[CohortCell],
    unit: CohortPeriod,
) -> String {
    let noun = format::period_noun(unit);
    let mut weighted: Vec<&CurvePoint> = curve
        .iter()
        .filter(|p| p.period >= 1 && finite_opt(p.retention_rate).is_some())
        .collect();
    weighted.sort_by_key(|p| p.period);
    let overlays: Vec<Overlay> = by_cohort(cells)
        .into_iter()
        .rev()
        .map(|(m, cs)| (m, cohort_points(&cs)))
        .filter(|(_, pts)| pts.len() >= 3)
        .take(4)
        .collect();
    if weighted.is_empty() && overlays.is_empty() {
        return placeholder(&format!(
            "No cohort has completed a {noun} after its first {noun} yet, so there is no \
             retention curve to draw."
        ));
    }

    let periods = weighted.iter().map(|p| p.period).chain(
        overlays
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| p.period)),
    );
    let max_p = periods.max().unwrap_or(1).max(2);
    let y_max = weighted
        .iter()
        .filter_map(|p| finite_opt(p.retention_rate))
        .chain(
            overlays
                .iter()
                .flat_map(|(_, pts)| pts.iter().map(|p| p.rate)),
        )
        .fold(0.0f64, f64::max);

    let items = legend_items(&overlays, unit);
    let frame = Frame {
        width: FULL_W,
        left: 76.0,
        right: 20.0,
        top: 10.0,
        bottom: 48.0,
        plot_height: 300.0,
        legend: &items,
        legend_gap: 14.0,
        ..Frame::default()
    };
    let mut s = frame.open(
        "curve",
        &format!("Share of customers active by {noun}s since their first order"),
    );
    let area = s.area;
    let ticks = nice_ticks(0.0, y_max, 5);
    let ys = s.y_axis(&ticks, Kind::Rate, "active customers (% of cohort)");
    let xs = Linear::new(1.0, max_p as f64, area.x0 + 8.0, area.x1 - 8.0);
    x_axis_periods(
        &mut s,
        area,
        &xs,
        (1, max_p),
        &format!("{} since first order", format::period_plural(unit)),
    );
    let scales = (xs, ys);
    draw_overlays(&mut s, &scales, &overlays, unit);
    draw_weighted(&mut s, &scales, &weighted, unit);
    s.finish()
}

/// The weighted curve's legend entry, then one per overlaid cohort.
fn legend_items(overlays: &[Overlay], unit: CohortPeriod) -> Vec<LegendItem> {
    let mut items = vec![LegendItem::new(
        Swatch::Line(NAVY.to_string(), false, 3.0),
        "All cohorts (weighted by cohort size)",
    )];
    for (i, (m, _)) in overlays.iter().enumerate() {
        items.push(LegendItem::new(
            Swatch::Line(OVERLAY_COLORS[i % 4].to_string(), false, 1.8),
            format!("{} cohort", format::period_name(unit, *m)),
        ));
    }
    items
}

/// The overlaid cohorts: a thin line and a dot with a tooltip per point.
fn draw_overlays(
    s: &mut Chart,
    (xs, ys): &(Linear, Linear),
    overlays: &[Overlay],
    unit: CohortPeriod,
) {
    let noun = format::period_noun(unit);
    for (i, (m, pts)) in overlays.iter().enumerate() {
        let color = OVERLAY_COLORS[i % 4];
        let line: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| (xs.map(p.period as f64), ys.map(p.rate)))
            .collect();
        s.polyline(&line, &format!("stroke=\"{color}\" stroke-width=\"1.8\""));
        for p in pts {
            let tip = format!(
                "{} cohort, {noun} {}: {} active ({} of {})",
                format::period_name(unit, *m),
                p.period,
                format::pct(p.rate, 1),
                format::int(p.active),
                format::int(p.size)
            );
            s.circle(
                xs.map(p.period as f64),
                ys.map(p.rate),
                2.5,
                &format!("fill=\"{color}\""),
                Some(&tip),
            );
        }
    }
}

/// The weighted curve, on top of the overlays: a thick line and a dot
/// with a tooltip per period.
fn draw_weighted(
    s: &mut Chart,
    (xs, ys): &(Linear, Linear),
    weighted: &[&CurvePoint],
    unit: CohortPeriod,
) {
    let noun = format::period_noun(unit);
    let points: Vec<(u32, f64, String)> = weighted
        .iter()
        .map(|p| {
            let rate = finite_opt(p.retention_rate).unwrap_or(0.0);
            let tip = format!(
                "All cohorts, {noun} {}: {} active ({} of {} customers in {} cohorts)",
                p.period,
                format::pct(rate, 1),
                format::int(p.retained),
                format::int(p.customers),
                format::int(p.cohorts)
            );
            (p.period, rate, tip)
        })
        .collect();
    // A gap in the periods breaks the line.
    s.dotted_line((xs, ys), &points, NAVY, "3");
}
