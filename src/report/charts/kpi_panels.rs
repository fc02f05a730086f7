//! The monthly KPI small multiples: six panels of lines and stacked bars
//! over the months, with months in progress hatched and dashed.

use chrono::NaiveDate;

use super::super::data::KpiMonth;
use super::super::format::{self, finite, finite_opt};
use super::super::svg::{nice_ticks, x_axis_months, Kind, LegendItem, Linear, Swatch};
use super::super::svg::{NAVY, ORANGE, RED, TEAL};
use super::frame::{Chart, Frame};
use super::{placeholder, value_text, HALF_W};

/// How a KPI series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A line through the months.
    Line,
    /// Bars stacked upwards from zero.
    Up,
    /// Bars stacked downwards from zero (the value's magnitude).
    Down,
}

/// One series of a KPI panel.
pub(crate) struct Series {
    pub name: String,
    pub color: &'static str,
    pub mark: Mark,
    pub values: Vec<Option<f64>>,
}

impl Series {
    pub(crate) fn new(
        name: impl Into<String>,
        color: &'static str,
        mark: Mark,
        values: Vec<Option<f64>>,
    ) -> Self {
        Series {
            name: name.into(),
            color,
            mark,
            values,
        }
    }
}

/// One KPI panel.
pub(crate) struct Panel {
    pub id: &'static str,
    pub title: &'static str,
    pub y_title: &'static str,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// The six KPI panels for the sorted months.
pub(crate) fn kpi_panel_specs(kpis: &[&KpiMonth]) -> Vec<Panel> {
    let count = |f: fn(&KpiMonth) -> i64| kpis.iter().map(|k| Some(f(k) as f64)).collect();
    let rate = |f: fn(&KpiMonth) -> Option<f64>| kpis.iter().map(|k| finite_opt(f(k))).collect();
    let revenue = kpis.iter().map(|k| finite(k.revenue)).collect();
    let (line, up, down) = (Mark::Line, Mark::Up, Mark::Down);
    vec![
        Panel {
            id: "kpi-active",
            title: "Active customers",
            y_title: "customers",
            kind: Kind::Count,
            series: vec![
                Series::new("at month end (E)", NAVY, line, count(|k| k.customers_end)),
                Series::new(
                    "at month start (S)",
                    TEAL,
                    line,
                    count(|k| k.customers_start),
                ),
            ],
        },
        Panel {
            id: "kpi-flows",
            title: "New, reactivated and churned customers",
            y_title: "customers per month",
            kind: Kind::Count,
            series: vec![
                Series::new("new", NAVY, up, count(|k| k.new_customers)),
                Series::new("reactivated", TEAL, up, count(|k| k.reactivated)),
                Series::new("churned (below zero)", RED, down, count(|k| k.churned)),
            ],
        },
        Panel {
            id: "kpi-crr",
            title: "Customer retention rate and churn rate",
            y_title: "% of month-start actives",
            kind: Kind::Rate,
            series: vec![
                Series::new("retention rate (CRR)", NAVY, line, rate(|k| k.crr)),
                Series::new("churn rate", RED, line, rate(|k| k.churn_rate)),
            ],
        },
        Panel {
            id: "kpi-repeat",
            title: "Repeat-customer rate",
            y_title: "% of purchasers",
            kind: Kind::Rate,
            series: vec![Series::new(
                "returning customers among purchasers",
                NAVY,
                line,
                rate(|k| k.repeat_customer_rate),
            )],
        },
        Panel {
            id: "kpi-revenue",
            title: "Revenue",
            y_title: "revenue per month",
            kind: Kind::Money,
            series: vec![Series::new("net revenue", NAVY, up, revenue)],
        },
        Panel {
            id: "kpi-aov",
            title: "Average order value",
            y_title: "revenue per order",
            kind: Kind::Money,
            series: vec![Series::new(
                "average order value",
                ORANGE,
                line,
                rate(|k| k.aov),
            )],
        },
    ]
}

/// Bar extents of month `i`: (bottom, top) per bar series, stacking up
/// and down from zero.
fn stacks(panel: &Panel, i: usize) -> Vec<(usize, f64, f64)> {
    let (mut up, mut down) = (0.0f64, 0.0f64);
    let mut out = Vec::new();
    for (si, series) in panel.series.iter().enumerate() {
        let Some(v) = series.values.get(i).copied().flatten() else {
            continue;
        };
        let v = match series.mark {
            Mark::Line => continue,
            Mark::Up => v,
            Mark::Down => -v.abs(),
        };
        if v >= 0.0 {
            out.push((si, up, up + v));
            up += v;
        } else {
            out.push((si, down + v, down));
            down += v;
        }
    }
    out
}

/// The lowest and highest value a panel draws over `n` months: the stacks'
/// ends and the lines' values, always including zero.
fn value_range(panel: &Panel, n: usize) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for i in 0..n {
        for (_, b, t) in stacks(panel, i) {
            lo = lo.min(b);
            hi = hi.max(t);
        }
    }
    for series in panel.series.iter().filter(|s| s.mark == Mark::Line) {
        for v in series.values.iter().flatten() {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    (lo, hi)
}

/// The months of a panel: where each one's band is and whether it is
/// complete.
struct Months<'a> {
    months: &'a [NaiveDate],
    complete: &'a [bool],
    /// Width of one month's band.
    band: f64,
    x0: f64,
}

impl Months<'_> {
    fn len(&self) -> usize {
        self.months.len()
    }

    /// The centre of month `i`'s band.
    fn cx(&self, i: usize) -> f64 {
        self.x0 + (i as f64 + 0.5) * self.band
    }

    fn is_complete(&self, i: usize) -> bool {
        self.complete.get(i).copied().unwrap_or(true)
    }
}

/// Draws one KPI panel over the months (`complete[i]` tells whether month
/// `i` is complete).
pub(crate) fn kpi_panel(panel: &Panel, months: &[NaiveDate], complete: &[bool]) -> String {
    let n = months.len();
    let has_data = panel
        .series
        .iter()
        .any(|s| s.values.iter().any(|v| v.is_some()));
    if n == 0 || !has_data {
        return placeholder("No month has a value for this measure yet.");
    }
    let items = legend_items(panel, complete.iter().any(|c| !c));
    let frame = Frame {
        width: HALF_W,
        left: 70.0,
        right: 12.0,
        top: 8.0,
        bottom: 26.0,
        plot_height: 190.0,
        legend: &items,
        legend_gap: 10.0,
        hatch: Some("#5f6b7a"),
    };
    let mut s = frame.open(panel.id, panel.title);
    let area = s.area;
    let (lo, hi) = value_range(panel, n);
    let ticks = nice_ticks(lo, hi, 4);
    let m = Months {
        months,
        complete,
        band: area.width() / n as f64,
        x0: area.x0,
    };
    partial_bands(&mut s, &m);
    let ys = s.y_axis(&ticks, panel.kind, panel.y_title);
    bars(&mut s, panel, &m, &ys);
    for series in panel.series.iter().filter(|s| s.mark == Mark::Line) {
        line(&mut s, series, &m, &ys);
    }
    x_axis_months(&mut s, area, months);
    month_tooltips(&mut s, panel, &m);
    s.finish()
}

/// One entry per series, and one for the hatch when a month is in
/// progress (the frame fills in the hatch reference).
fn legend_items(panel: &Panel, any_partial: bool) -> Vec<LegendItem> {
    let mut items: Vec<LegendItem> = panel
        .series
        .iter()
        .map(|s| {
            let swatch = match s.mark {
                Mark::Line => Swatch::Line(s.color.to_string(), false, 2.0),
                Mark::Up | Mark::Down => Swatch::Fill(s.color.to_string()),
            };
            LegendItem::new(swatch, s.name.clone())
        })
        .collect();
    if any_partial {
        items.push(LegendItem::new(
            Swatch::Pattern(String::new(), "#f3f4f7".to_string()),
            "month in progress",
        ));
    }
    items
}

/// A grey, hatched band behind every month in progress.
fn partial_bands(s: &mut Chart, m: &Months<'_>) {
    let area = s.area;
    let hatch = format!("fill=\"{}\"", s.hatch_url);
    for (i, c) in m.complete.iter().enumerate() {
        if !c {
            let x = area.x0 + i as f64 * m.band;
            let h = area.y1 - area.y0;
            s.rect(x, area.y0, m.band, h, "fill=\"#f3f4f7\"", None);
            s.rect(x, area.y0, m.band, h, &hatch, None);
        }
    }
}

/// The bar series, stacked; months in progress lighter.
fn bars(s: &mut Chart, panel: &Panel, m: &Months<'_>, ys: &Linear) {
    let bar_w = (m.band * 0.72).max(1.0);
    for i in 0..m.len() {
        for (si, b, t) in stacks(panel, i) {
            let color = panel.series[si].color;
            let faded = if m.is_complete(i) {
                ""
            } else {
                " fill-opacity=\"0.45\""
            };
            s.rect(
                m.cx(i) - bar_w / 2.0,
                ys.map(t),
                bar_w,
                ys.map(b) - ys.map(t),
                &format!("fill=\"{color}\"{faded}"),
                None,
            );
        }
    }
}

/// A line series: solid between complete months, dashed into a partial
/// month, with dots.
fn line(s: &mut Chart, series: &Series, m: &Months<'_>, ys: &Linear) {
    let pts: Vec<Option<(f64, f64)>> = series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|v| (m.cx(i), ys.map(v))))
        .collect();
    let solid = format!("stroke=\"{}\" stroke-width=\"2\"", series.color);
    let dashed = format!("{solid} stroke-dasharray=\"4 3\"");
    let mut run: Vec<(f64, f64)> = Vec::new();
    for i in 0..m.len() {
        let here = pts[i];
        let before = if i > 0 { pts[i - 1] } else { None };
        match (before, here) {
            (Some(a), Some(b)) if m.is_complete(i) && m.is_complete(i - 1) => {
                if run.is_empty() {
                    run.push(a);
                }
                run.push(b);
            }
            (Some(a), Some(b)) => {
                s.polyline(&run, &solid);
                run.clear();
                s.polyline(&[a, b], &dashed);
            }
            _ => {
                s.polyline(&run, &solid);
                run.clear();
            }
        }
    }
    s.polyline(&run, &solid);
    dots(s, series, m, &pts);
}

/// The dots of a line series: hollow in a month in progress; otherwise
/// drawn for a point with no neighbour, or for every point up to two years.
fn dots(s: &mut Chart, series: &Series, m: &Months<'_>, pts: &[Option<(f64, f64)>]) {
    let n = m.len();
    for i in 0..n {
        let Some((x, y)) = pts[i] else { continue };
        let lonely = (i == 0 || pts[i - 1].is_none()) && pts.get(i + 1).is_none_or(|p| p.is_none());
        if !m.is_complete(i) {
            s.circle(
                x,
                y,
                3.0,
                &format!(
                    "fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.5\"",
                    series.color
                ),
                None,
            );
        } else if lonely || n <= 24 {
            s.circle(x, y, 2.5, &format!("fill=\"{}\"", series.color), None);
        }
    }
}

/// One invisible band per month carries the month's tooltip.
fn month_tooltips(s: &mut Chart, panel: &Panel, m: &Months<'_>) {
    let area = s.area;
    for (i, month) in m.months.iter().enumerate() {
        let mut tip = format::month_name(*month);
        if !m.is_complete(i) {
            tip.push_str(" (in progress)");
        }
        for series in &panel.series {
            let v = series.values.get(i).copied().flatten();
            let text = v.map_or_else(
                || format::MISSING.to_string(),
                |v| value_text(panel.kind, v),
            );
            tip.push_str(&format!("\n{}: {text}", series.name));
        }
        s.rect(
            area.x0 + i as f64 * m.band,
            area.y0,
            m.band,
            area.y1 - area.y0,
            "fill=\"#000000\" fill-opacity=\"0\"",
            Some(&tip),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::svg::text_width;
    use super::*;

    #[test]
    fn kpi_axis_titles_fit_their_panels() {
        let panels = kpi_panel_specs(&[]);
        assert_eq!(panels.len(), 6);
        for p in panels {
            // The rotated title must fit the 190-unit plot height.
            assert!(
                text_width(p.y_title, 12.0) <= 190.0,
                "{} is too long",
                p.y_title
            );
        }
    }
}
