//! The report's charts, each drawn as one inline SVG from the input rows.
//!
//! Every function returns an HTML fragment: the chart, or an explicit
//! "No data yet" placeholder when there is nothing to draw, so the page
//! never shows an empty or broken chart. Missing and non-finite values are
//! skipped (never plotted, never printed). Incomplete months and periods
//! are drawn lighter and hatched or dashed, and the legends say so.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::data::{CohortCell, CohortPeriod, CurvePoint, KpiMonth, SegmentRow, ValidationBucket};
use super::format::{self, escape, finite, finite_opt};
use super::svg::{
    self, legend, legend_height, nice_ticks, text_width, x_axis_months, x_axis_periods, y_axis,
    Anchor, Area, Kind, LegendItem, Linear, Svg, Swatch, FONT, LIGHT, NAVY, ORANGE, RED, TEAL,
};

/// Width of a full-width chart, in SVG units.
pub(crate) const FULL_W: f64 = 1200.0;
/// Width of a chart that shares a row with another one.
pub(crate) const HALF_W: f64 = 590.0;

/// The placeholder shown instead of a chart that has nothing to draw.
pub(crate) fn placeholder(message: &str) -> String {
    format!(
        "<div class=\"empty\"><strong>No data yet.</strong> {}</div>",
        escape(message)
    )
}

/// How a value of `kind` reads in a tooltip or label.
fn value_text(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Count => format::fixed(v, 0),
        Kind::Money => format::money(v),
        Kind::Rate => format::pct(v, 1),
    }
}

/// The value at the nearest-rank percentile `q` (0–1) of sorted values.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

// ---------------------------------------------------------------------------
// Cohort heatmap

/// Label step for heatmap rows: the smallest step (in periods) that leaves
/// at least `need` units between labelled rows.
pub(crate) fn heatmap_row_step(cell_h: f64, need: f64) -> usize {
    [1usize, 2, 3, 4, 6, 12]
        .into_iter()
        .find(|s| *s as f64 * cell_h >= need)
        .unwrap_or(12)
}

/// Label step for heatmap columns (periods).
pub(crate) fn heatmap_col_step(cell_w: f64, need: f64) -> usize {
    [1usize, 3, 6, 12]
        .into_iter()
        .find(|s| *s as f64 * cell_w >= need)
        .unwrap_or(12)
}

/// Upper end of the heatmap's colour scale: a round value at or above the
/// 95th percentile of complete retention rates after period 0, so the
/// usual 5–40% range is not washed out by period 0's 100%.
fn heatmap_color_max(cells: &[CohortCell]) -> f64 {
    let mut rates: Vec<f64> = cells
        .iter()
        .filter(|c| c.period >= 1 && c.period_complete)
        .filter_map(|c| finite_opt(c.retention_rate))
        .collect();
    rates.sort_by(f64::total_cmp);
    let p95 = percentile(&rates, 0.95).unwrap_or(1.0);
    [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
        .into_iter()
        .find(|m| *m >= p95 - 1e-12)
        .unwrap_or(1.0)
}

/// Cohorts × periods, coloured by retention rate.
pub(crate) fn cohort_heatmap(cells: &[CohortCell], unit: CohortPeriod) -> String {
    let noun = format::period_noun(unit);
    let mut sizes: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for c in cells {
        let e = sizes.entry(c.cohort_start).or_insert(0);
        *e = (*e).max(c.cohort_size);
    }
    if sizes.is_empty() {
        return placeholder("No cohort has customers yet.");
    }
    let rows: BTreeMap<NaiveDate, usize> = sizes.keys().enumerate().map(|(i, m)| (*m, i)).collect();
    let max_period = cells.iter().map(|c| c.period).max().unwrap_or(0) as usize;
    let n_cols = max_period + 1;
    let n_rows = rows.len();

    let (left, top, right) = (76.0, 50.0, 16.0);
    let cell_w = ((FULL_W - left - right) / n_cols as f64).min(48.0);
    let cell_h = (cell_w * 0.75).clamp(13.0, 28.0);
    let grid_w = cell_w * n_cols as f64;
    let grid_h = cell_h * n_rows as f64;
    let legend_h = 56.0;
    let width = (left + grid_w + right).max(700.0);
    let height = top + grid_h + 16.0 + legend_h;
    let color_max = heatmap_color_max(cells);

    let mut s = Svg::new(
        "heatmap",
        width,
        height,
        &format!(
            "Retention rate by cohort {noun} and {}s since first order",
            noun
        ),
    );
    let hatch = s.hatch("#1b2333");
    let gap = if cell_w >= 8.0 { 1.0 } else { 0.0 };
    let show_values = cell_w >= 36.0 && cell_h >= 18.0;

    // Column header: centred over the grid, or from its left edge when the
    // grid is narrower than the title.
    let col_title = format!("{} since first order", format::period_plural(unit));
    let col_title = col_title.as_str();
    if text_width(col_title, 12.0) < grid_w {
        s.text(
            left + grid_w / 2.0,
            14.0,
            Anchor::Middle,
            "class=\"axis-title\"",
            col_title,
        );
    } else {
        s.text(left, 14.0, Anchor::Start, "class=\"axis-title\"", col_title);
    }
    let col_step = heatmap_col_step(cell_w, text_width(&max_period.to_string(), FONT) + 12.0);
    for p in (0..n_cols).step_by(col_step) {
        let x = left + (p as f64 + 0.5) * cell_w;
        s.text(
            x,
            top - 8.0,
            Anchor::Middle,
            "class=\"tick\"",
            &p.to_string(),
        );
    }
    // Row labels, on periods whose number is a multiple of the step.
    let row_step = heatmap_row_step(cell_h, FONT + 3.0);
    for (m, r) in &rows {
        if format::period_index(unit, *m).rem_euclid(row_step as i32) != 0 && n_rows > 1 {
            continue;
        }
        let y = top + (*r as f64 + 0.5) * cell_h + 3.5;
        s.text(
            left - 6.0,
            y,
            Anchor::End,
            "class=\"tick\"",
            &format::period_name(unit, *m),
        );
    }
    // The row title sits above the row labels, so it fits any number of rows.
    s.text(
        left - 6.0,
        top - 8.0,
        Anchor::End,
        "class=\"axis-title\"",
        "Cohort",
    );

    for c in cells {
        let Some(r) = rows.get(&c.cohort_start) else {
            continue;
        };
        let x = left + c.period as f64 * cell_w;
        let y = top + *r as f64 * cell_h;
        let size = sizes.get(&c.cohort_start).copied().unwrap_or(c.cohort_size);
        let status = if c.period_complete {
            ""
        } else {
            " · still in progress"
        };
        let (w, h) = (cell_w - gap, cell_h - gap);
        match finite_opt(c.retention_rate) {
            Some(rate) => {
                let t = rate / color_max;
                let tip = format!(
                    "{} cohort ({} customers) · {noun} {}: {} active ({}){status}",
                    format::period_name(unit, c.cohort_start),
                    format::int(size),
                    c.period,
                    format::pct(rate, 1),
                    format::int(c.active_customers),
                );
                let opacity = if c.period_complete {
                    ""
                } else {
                    " fill-opacity=\"0.5\""
                };
                s.rect(
                    x,
                    y,
                    w,
                    h,
                    &format!("fill=\"{}\"{opacity}", svg::ramp(t)),
                    Some(&tip),
                );
                if !c.period_complete {
                    s.rect(
                        x,
                        y,
                        w,
                        h,
                        &format!("fill=\"{hatch}\" pointer-events=\"none\""),
                        None,
                    );
                }
                if show_values {
                    let class = if !c.period_complete {
                        "cell cell-partial"
                    } else if svg::ramp_is_dark(t) {
                        "cell cell-dark"
                    } else {
                        "cell"
                    };
                    s.text(
                        x + w / 2.0,
                        y + h / 2.0 + 3.5,
                        Anchor::Middle,
                        &format!("class=\"{class}\" pointer-events=\"none\""),
                        &format::pct(rate, 0),
                    );
                }
            }
            None => {
                let tip = format!(
                    "{} cohort · {noun} {}: no retention rate{status}",
                    format::period_name(unit, c.cohort_start),
                    c.period
                );
                s.rect(x, y, w, h, &format!("fill=\"{LIGHT}\""), Some(&tip));
            }
        }
    }

    // Legend: colour bar, then the markings.
    let ly = top + grid_h + 18.0;
    let bar_w = 240.0;
    s.text(
        left,
        ly + 8.0,
        Anchor::Start,
        "class=\"legend\"",
        &format!("Share of the cohort active in the {noun}"),
    );
    let grad = s.gradient(&svg::RAMP);
    s.rect(
        left,
        ly + 14.0,
        bar_w,
        12.0,
        &format!("fill=\"{grad}\""),
        None,
    );
    let stops = [0.0, 0.5, 1.0];
    for f in stops {
        let x = left + f * bar_w;
        let v = f * color_max;
        let mut label = format::pct(v, if color_max < 0.1 { 1 } else { 0 });
        if f == 1.0 && color_max < 1.0 {
            label = format!("≥ {label}");
        }
        let anchor = if f == 0.0 {
            Anchor::Start
        } else if f == 1.0 {
            Anchor::End
        } else {
            Anchor::Middle
        };
        s.line(x, ly + 26.0, x, ly + 30.0, "stroke=\"#8a93a3\"");
        s.text(x, ly + 41.0, anchor, "class=\"tick\"", &label);
    }
    let items = [
        LegendItem::new(
            Swatch::Pattern(hatch.clone(), svg::ramp(0.5)),
            format!("{noun} still in progress (partial)"),
        ),
        LegendItem::new(Swatch::Fill(LIGHT.to_string()), "no value"),
    ];
    let lx = left + bar_w + 40.0;
    legend(&mut s, lx, ly + 12.0, width - lx - right, &items);
    s.finish()
}

// ---------------------------------------------------------------------------
// Retention curve

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

/// Cells grouped by cohort.
fn by_cohort(cells: &[CohortCell]) -> BTreeMap<NaiveDate, Vec<&CohortCell>> {
    let mut map: BTreeMap<NaiveDate, Vec<&CohortCell>> = BTreeMap::new();
    for c in cells {
        map.entry(c.cohort_start).or_default().push(c);
    }
    map
}

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
    let overlays: Vec<(NaiveDate, Vec<CohortPoint>)> = by_cohort(cells)
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

    let max_p = weighted
        .iter()
        .map(|p| p.period)
        .chain(
            overlays
                .iter()
                .flat_map(|(_, pts)| pts.iter().map(|p| p.period)),
        )
        .max()
        .unwrap_or(1)
        .max(2);
    let y_max = weighted
        .iter()
        .filter_map(|p| finite_opt(p.retention_rate))
        .chain(
            overlays
                .iter()
                .flat_map(|(_, pts)| pts.iter().map(|p| p.rate)),
        )
        .fold(0.0f64, f64::max);

    let mut items = vec![LegendItem::new(
        Swatch::Line(NAVY.to_string(), false, 3.0),
        "All cohorts (weighted by cohort size)",
    )];
    let overlay_colors = [ORANGE, TEAL, "#7b5ea7", RED];
    for (i, (m, _)) in overlays.iter().enumerate() {
        items.push(LegendItem::new(
            Swatch::Line(overlay_colors[i % 4].to_string(), false, 1.8),
            format!("{} cohort", format::period_name(unit, *m)),
        ));
    }
    let (left, right, bottom) = (76.0, 20.0, 48.0);
    let lh = legend_height(&items, FULL_W - left - right);
    let top = 10.0 + lh + 14.0;
    let height = top + 300.0 + bottom;
    let area = Area {
        x0: left,
        y0: top,
        x1: FULL_W - right,
        y1: height - bottom,
    };
    let mut s = Svg::new(
        "curve",
        FULL_W,
        height,
        &format!("Share of customers active by {noun}s since their first order"),
    );
    legend(&mut s, left, 10.0, area.width(), &items);
    let ticks = nice_ticks(0.0, y_max, 5);
    y_axis(
        &mut s,
        area,
        &ticks,
        Kind::Rate,
        "active customers (% of cohort)",
    );
    let xs = Linear::new(1.0, max_p as f64, area.x0 + 8.0, area.x1 - 8.0);
    let ys = Linear::new(ticks.lo, ticks.hi, area.y1, area.y0);
    x_axis_periods(
        &mut s,
        area,
        &xs,
        (1, max_p),
        &format!("{} since first order", format::period_plural(unit)),
    );

    for (i, (m, pts)) in overlays.iter().enumerate() {
        let color = overlay_colors[i % 4];
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
    // Weighted curve on top; a gap in the periods breaks the line.
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut prev: Option<u32> = None;
    for p in &weighted {
        if prev.is_some_and(|q| q + 1 != p.period) {
            s.polyline(&run, &format!("stroke=\"{NAVY}\" stroke-width=\"3\""));
            run.clear();
        }
        let rate = finite_opt(p.retention_rate).unwrap_or(0.0);
        run.push((xs.map(p.period as f64), ys.map(rate)));
        prev = Some(p.period);
    }
    s.polyline(&run, &format!("stroke=\"{NAVY}\" stroke-width=\"3\""));
    for p in &weighted {
        let rate = finite_opt(p.retention_rate).unwrap_or(0.0);
        let tip = format!(
            "All cohorts, {noun} {}: {} active ({} of {} customers in {} cohorts)",
            p.period,
            format::pct(rate, 1),
            format::int(p.retained),
            format::int(p.customers),
            format::int(p.cohorts)
        );
        s.circle(
            xs.map(p.period as f64),
            ys.map(rate),
            3.5,
            &format!("fill=\"{NAVY}\" stroke=\"#ffffff\" stroke-width=\"1\""),
            Some(&tip),
        );
    }
    s.finish()
}

// ---------------------------------------------------------------------------
// Monthly KPI small multiples

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
    pub name: &'static str,
    pub color: &'static str,
    pub mark: Mark,
    pub values: Vec<Option<f64>>,
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
    vec![
        Panel {
            id: "kpi-active",
            title: "Active customers",
            y_title: "customers",
            kind: Kind::Count,
            series: vec![
                Series {
                    name: "at month end (E)",
                    color: NAVY,
                    mark: Mark::Line,
                    values: count(|k| k.customers_end),
                },
                Series {
                    name: "at month start (S)",
                    color: TEAL,
                    mark: Mark::Line,
                    values: count(|k| k.customers_start),
                },
            ],
        },
        Panel {
            id: "kpi-flows",
            title: "New, reactivated and churned customers",
            y_title: "customers per month",
            kind: Kind::Count,
            series: vec![
                Series {
                    name: "new",
                    color: NAVY,
                    mark: Mark::Up,
                    values: count(|k| k.new_customers),
                },
                Series {
                    name: "reactivated",
                    color: TEAL,
                    mark: Mark::Up,
                    values: count(|k| k.reactivated),
                },
                Series {
                    name: "churned (below zero)",
                    color: RED,
                    mark: Mark::Down,
                    values: count(|k| k.churned),
                },
            ],
        },
        Panel {
            id: "kpi-crr",
            title: "Customer retention rate and churn rate",
            y_title: "% of month-start actives",
            kind: Kind::Rate,
            series: vec![
                Series {
                    name: "retention rate (CRR)",
                    color: NAVY,
                    mark: Mark::Line,
                    values: rate(|k| k.crr),
                },
                Series {
                    name: "churn rate",
                    color: RED,
                    mark: Mark::Line,
                    values: rate(|k| k.churn_rate),
                },
            ],
        },
        Panel {
            id: "kpi-repeat",
            title: "Repeat-customer rate",
            y_title: "% of purchasers",
            kind: Kind::Rate,
            series: vec![Series {
                name: "returning customers among purchasers",
                color: NAVY,
                mark: Mark::Line,
                values: rate(|k| k.repeat_customer_rate),
            }],
        },
        Panel {
            id: "kpi-revenue",
            title: "Revenue",
            y_title: "revenue per month",
            kind: Kind::Money,
            series: vec![Series {
                name: "net revenue",
                color: NAVY,
                mark: Mark::Up,
                values: kpis.iter().map(|k| finite(k.revenue)).collect(),
            }],
        },
        Panel {
            id: "kpi-aov",
            title: "Average order value",
            y_title: "revenue per order",
            kind: Kind::Money,
            series: vec![Series {
                name: "average order value",
                color: ORANGE,
                mark: Mark::Line,
                values: rate(|k| k.aov),
            }],
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
    let any_partial = complete.iter().any(|c| !c);
    let mut items: Vec<LegendItem> = panel
        .series
        .iter()
        .map(|s| {
            let swatch = match s.mark {
                Mark::Line => Swatch::Line(s.color.to_string(), false, 2.0),
                Mark::Up | Mark::Down => Swatch::Fill(s.color.to_string()),
            };
            LegendItem::new(swatch, s.name)
        })
        .collect();
    let (left, right, bottom) = (70.0, 12.0, 26.0);
    if any_partial {
        // The pattern reference is filled in once the SVG defines it.
        items.push(LegendItem::new(
            Swatch::Pattern(String::new(), "#f3f4f7".to_string()),
            "month in progress",
        ));
    }
    let lh = legend_height(&items, HALF_W - left - right);
    let top = 8.0 + lh + 10.0;
    let height = top + 190.0 + bottom;
    let mut s = Svg::new(panel.id, HALF_W, height, panel.title);
    let hatch = s.hatch("#5f6b7a");
    for item in &mut items {
        if let Swatch::Pattern(reference, _) = &mut item.swatch {
            reference.clone_from(&hatch);
        }
    }
    legend(&mut s, left, 8.0, HALF_W - left - right, &items);
    let area = Area {
        x0: left,
        y0: top,
        x1: HALF_W - right,
        y1: height - bottom,
    };

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
    let ticks = nice_ticks(lo, hi, 4);
    let band = area.width() / n as f64;
    for (i, c) in complete.iter().enumerate() {
        if !c {
            let x = area.x0 + i as f64 * band;
            s.rect(
                x,
                area.y0,
                band,
                area.y1 - area.y0,
                "fill=\"#f3f4f7\"",
                None,
            );
            s.rect(
                x,
                area.y0,
                band,
                area.y1 - area.y0,
                &format!("fill=\"{hatch}\""),
                None,
            );
        }
    }
    y_axis(&mut s, area, &ticks, panel.kind, panel.y_title);
    let ys = Linear::new(ticks.lo, ticks.hi, area.y1, area.y0);
    let cx = |i: usize| area.x0 + (i as f64 + 0.5) * band;
    let is_complete = |i: usize| complete.get(i).copied().unwrap_or(true);

    // Bars.
    let bar_w = (band * 0.72).max(1.0);
    for i in 0..n {
        for (si, b, t) in stacks(panel, i) {
            let color = panel.series[si].color;
            let faded = if is_complete(i) {
                ""
            } else {
                " fill-opacity=\"0.45\""
            };
            s.rect(
                cx(i) - bar_w / 2.0,
                ys.map(t),
                bar_w,
                ys.map(b) - ys.map(t),
                &format!("fill=\"{color}\"{faded}"),
                None,
            );
        }
    }
    // Lines: solid between complete months, dashed into a partial month.
    for series in panel.series.iter().filter(|s| s.mark == Mark::Line) {
        let pts: Vec<Option<(f64, f64)>> = series
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(|v| (cx(i), ys.map(v))))
            .collect();
        let solid = format!("stroke=\"{}\" stroke-width=\"2\"", series.color);
        let dashed = format!("{solid} stroke-dasharray=\"4 3\"");
        let mut run: Vec<(f64, f64)> = Vec::new();
        for i in 0..n {
            let here = pts[i];
            let before = if i > 0 { pts[i - 1] } else { None };
            match (before, here) {
                (Some(a), Some(b)) if is_complete(i) && is_complete(i - 1) => {
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
        for i in 0..n {
            let Some((x, y)) = pts[i] else { continue };
            let lonely =
                (i == 0 || pts[i - 1].is_none()) && pts.get(i + 1).is_none_or(|p| p.is_none());
            if !is_complete(i) {
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
    x_axis_months(&mut s, area, months);

    // One invisible band per month carries the month's tooltip.
    for (i, m) in months.iter().enumerate() {
        let mut tip = format::month_name(*m);
        if !is_complete(i) {
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
            area.x0 + i as f64 * band,
            area.y0,
            band,
            area.y1 - area.y0,
            "fill=\"#000000\" fill-opacity=\"0\"",
            Some(&tip),
        );
    }
    s.finish()
}

// ---------------------------------------------------------------------------
// Cumulative revenue per customer (cohort LTV curves)

/// Cumulative revenue per customer by period for the last twelve cohorts
/// that have a complete period.
pub(crate) fn ltv_curves(cells: &[CohortCell], unit: CohortPeriod) -> String {
    let noun = format::period_noun(unit);
    let cohorts: Vec<(NaiveDate, Vec<(u32, f64)>)> = by_cohort(cells)
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
        .collect();
    let shown: Vec<&(NaiveDate, Vec<(u32, f64)>)> = cohorts
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
    let legend_w = 220.0;
    let height = 420.0;
    let area = Area {
        x0: 76.0,
        y0: 20.0,
        x1: FULL_W - legend_w - 20.0,
        y1: height - 48.0,
    };
    let mut s = Svg::new(
        "ltv",
        FULL_W,
        height,
        &format!("Cumulative revenue per customer by cohort and {noun}s since first order"),
    );
    let ticks = nice_ticks(lo, hi, 6);
    y_axis(
        &mut s,
        area,
        &ticks,
        Kind::Money,
        "cumulative revenue per customer",
    );
    let xs = Linear::new(0.0, max_p as f64, area.x0 + 8.0, area.x1 - 8.0);
    let ys = Linear::new(ticks.lo, ticks.hi, area.y1, area.y0);
    x_axis_periods(
        &mut s,
        area,
        &xs,
        (0, max_p),
        &format!("{} since first order", format::period_plural(unit)),
    );

    let lx = FULL_W - legend_w;
    s.text(
        lx,
        24.0,
        Anchor::Start,
        "class=\"legend legend-head\"",
        "Cohort: latest value",
    );
    let count = shown.len();
    for (i, (m, pts)) in shown.iter().enumerate() {
        let color = svg::series_color(i);
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
        // Newest cohort first in the legend.
        let row = (count - 1 - i) as f64;
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
    s.finish()
}

// ---------------------------------------------------------------------------
// CLV distribution

/// Histogram of customer CLV, cut at the 99th percentile, with a sentence
/// that says what was cut.
pub(crate) fn clv_histogram(values: &[f64]) -> String {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let missing = values.len() - sorted.len();
    let (Some(p99), Some(&min), Some(&max)) =
        (percentile(&sorted, 0.99), sorted.first(), sorted.last())
    else {
        return placeholder("No customer has a CLV value yet.");
    };
    let n = sorted.len();
    let median = percentile(&sorted, 0.5).unwrap_or(0.0);
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let shown: Vec<f64> = sorted.iter().copied().filter(|v| *v <= p99).collect();
    let cut = n - shown.len();

    let lo = min.min(0.0);
    let hi = if p99 > lo { p99 } else { lo + 1.0 };
    let bins_t = nice_ticks(lo, hi, 40);
    let step = bins_t.step;
    let nbins = (((bins_t.hi - bins_t.lo) / step).round() as usize).max(1);
    let mut counts = vec![0u64; nbins];
    for v in &shown {
        let i = ((v - bins_t.lo) / step).floor().max(0.0) as usize;
        counts[i.min(nbins - 1)] += 1;
    }
    let top_count = counts.iter().copied().max().unwrap_or(0) as f64;

    let mut note = format!(
        "CLV of {} customers: median {}, mean {}.",
        format::uint(n as u64),
        format::money(median),
        format::money(mean)
    );
    if cut > 0 {
        note.push_str(&format!(
            " The long tail is clipped at the 99th percentile ({}): the {} customers above it \
             (up to {}) are not drawn.",
            format::money(p99),
            format::uint(cut as u64),
            format::money(max)
        ));
    } else {
        note.push_str(" The chart is clipped at the 99th percentile; no customer lies above it.");
    }
    if missing > 0 {
        note.push_str(&format!(
            " {} customers without a usable CLV value are not counted.",
            format::uint(missing as u64)
        ));
    }

    let height = 360.0;
    let area = Area {
        x0: 76.0,
        y0: 48.0,
        x1: FULL_W - 20.0,
        y1: height - 48.0,
    };
    let mut s = Svg::new(
        "clv-hist",
        FULL_W,
        height,
        "Distribution of customer lifetime value",
    );
    let yt = nice_ticks(0.0, top_count, 5);
    y_axis(&mut s, area, &yt, Kind::Count, "customers");
    let xs = Linear::new(bins_t.lo, bins_t.hi, area.x0, area.x1);
    let ys = Linear::new(yt.lo, yt.hi, area.y1, area.y0);
    let bw = area.width() / nbins as f64;
    for (i, c) in counts.iter().enumerate() {
        let a = bins_t.lo + i as f64 * step;
        let tip = format!(
            "CLV {} to {}: {} customers",
            format::money(a),
            format::money(a + step),
            format::uint(*c)
        );
        let x = area.x0 + i as f64 * bw;
        let h = area.y1 - ys.map(*c as f64);
        s.rect(
            x + 0.5,
            area.y1 - h,
            (bw - 1.0).max(0.5),
            h,
            &format!("fill=\"{NAVY}\" fill-opacity=\"0.85\""),
            Some(&tip),
        );
    }
    // x axis with money ticks.
    let xt = nice_ticks(bins_t.lo, bins_t.hi, 8);
    let labels = svg::tick_labels(Kind::Money, &xt);
    s.line(area.x0, area.y1, area.x1, area.y1, "stroke=\"#8a93a3\"");
    for (v, label) in xt.values.iter().zip(&labels) {
        if *v < bins_t.lo - 1e-9 || *v > bins_t.hi + 1e-9 {
            continue;
        }
        let x = xs.map(*v);
        s.line(x, area.y1, x, area.y1 + 4.0, "stroke=\"#8a93a3\"");
        s.text(x, area.y1 + 16.0, Anchor::Middle, "class=\"tick\"", label);
    }
    s.text(
        (area.x0 + area.x1) / 2.0,
        area.y1 + 34.0,
        Anchor::Middle,
        "class=\"axis-title\"",
        "Customer lifetime value (up to the 99th percentile)",
    );
    // Median label left of its line and mean label right of its line when
    // there is room; a label that would still collide drops one row.
    let marks = [
        (median, format!("median {}", format::money(median)), true),
        (mean, format!("mean {}", format::money(mean)), false),
    ];
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for (v, label, prefer_left) in marks {
        if v < bins_t.lo || v > bins_t.hi {
            continue;
        }
        let x = xs.map(v);
        let w = text_width(&label, FONT);
        let left_ok = x - 4.0 - w >= 4.0;
        let right_ok = x + 4.0 + w <= FULL_W - 4.0;
        let to_left = (prefer_left && left_ok) || !right_ok;
        let (x0, x1) = if to_left {
            (x - 4.0 - w, x - 4.0)
        } else {
            (x + 4.0, x + 4.0 + w)
        };
        let mut y = area.y0 - 24.0;
        if placed
            .iter()
            .any(|(a, b, py)| (*py - y).abs() < 1.0 && x0 < *b + 6.0 && *a < x1 + 6.0)
        {
            y += 14.0;
        }
        placed.push((x0, x1, y));
        s.line(
            x,
            y + 4.0,
            x,
            area.y1,
            &format!("stroke=\"{ORANGE}\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\""),
        );
        let (tx, anchor) = if to_left {
            (x1, Anchor::End)
        } else {
            (x0, Anchor::Start)
        };
        s.text(tx, y, anchor, "class=\"mark\"", &label);
    }
    format!("<p class=\"note\">{}</p>{}", escape(&note), s.finish())
}

// ---------------------------------------------------------------------------
// Horizontal bar charts for segments

/// Share of customers vs share of revenue, one pair of bars per segment.
pub(crate) fn segment_shares(rows: &[&SegmentRow]) -> String {
    let total_customers: i64 = rows.iter().map(|r| r.customers.max(0)).sum();
    let total_revenue: f64 = rows.iter().filter_map(|r| finite(r.revenue)).sum();
    let data: Vec<(&str, Option<f64>, Option<f64>)> = rows
        .iter()
        .map(|r| {
            let cs = (total_customers > 0).then(|| r.customers as f64 / total_customers as f64);
            let rs = finite_opt(r.share_of_revenue).or_else(|| {
                (total_revenue != 0.0)
                    .then(|| finite(r.revenue).map(|v| v / total_revenue))
                    .flatten()
            });
            (r.rfm_segment.as_str(), cs, rs)
        })
        .collect();
    if data.iter().all(|d| d.1.is_none() && d.2.is_none()) {
        return placeholder("No segment has customers yet.");
    }
    let label_w = data
        .iter()
        .map(|d| text_width(d.0, 12.0))
        .fold(80.0f64, f64::max)
        + 16.0;
    let items = [
        LegendItem::new(Swatch::Fill("#9db5d6".to_string()), "share of customers"),
        LegendItem::new(Swatch::Fill(NAVY.to_string()), "share of revenue"),
    ];
    let width = 900.0;
    let row_h = 40.0;
    let top = 36.0;
    let height = top + row_h * data.len() as f64 + 34.0;
    let area = Area {
        x0: label_w,
        y0: top,
        x1: width - 70.0,
        y1: height - 34.0,
    };
    let mut s = Svg::new(
        "segment-shares",
        width,
        height,
        "Share of customers and of revenue by segment",
    );
    legend(&mut s, label_w, 6.0, width - label_w, &items);
    let max = data
        .iter()
        .flat_map(|d| [d.1, d.2])
        .flatten()
        .fold(0.0f64, f64::max);
    let ticks = nice_ticks(0.0, max, 5);
    let xs = Linear::new(ticks.lo, ticks.hi, area.x0, area.x1);
    for (v, label) in ticks
        .values
        .iter()
        .zip(svg::tick_labels(Kind::Rate, &ticks))
    {
        let x = xs.map(*v);
        s.line(x, area.y0, x, area.y1, "stroke=\"#e3e6eb\"");
        s.text(x, area.y1 + 16.0, Anchor::Middle, "class=\"tick\"", &label);
    }
    for (i, (name, cs, rs)) in data.iter().enumerate() {
        let y = top + i as f64 * row_h;
        s.text(
            area.x0 - 10.0,
            y + row_h / 2.0 + 4.0,
            Anchor::End,
            "class=\"label\"",
            name,
        );
        for (j, (v, color)) in [(cs, "#9db5d6"), (rs, NAVY)].into_iter().enumerate() {
            let by = y + 5.0 + j as f64 * 15.0;
            match v {
                Some(v) => {
                    let w = xs.map(*v) - area.x0;
                    s.rect(area.x0, by, w, 12.0, &format!("fill=\"{color}\""), None);
                    s.text(
                        area.x0 + w.max(0.0) + 4.0,
                        by + 10.0,
                        Anchor::Start,
                        "class=\"tick\"",
                        &format::pct(*v, 1),
                    );
                }
                None => {
                    s.text(
                        area.x0 + 4.0,
                        by + 10.0,
                        Anchor::Start,
                        "class=\"tick\"",
                        format::MISSING,
                    );
                }
            }
        }
    }
    s.line(area.x0, area.y0, area.x0, area.y1, "stroke=\"#8a93a3\"");
    s.finish()
}

/// Average CLV per segment as horizontal bars with value labels.
pub(crate) fn segment_clv(rows: &[&SegmentRow]) -> String {
    let mut data: Vec<(&str, f64)> = rows
        .iter()
        .filter_map(|r| finite_opt(r.avg_clv).map(|v| (r.rfm_segment.as_str(), v)))
        .collect();
    if data.is_empty() {
        return placeholder("No segment has an average CLV yet.");
    }
    data.sort_by(|a, b| b.1.total_cmp(&a.1));
    let label_w = data
        .iter()
        .map(|d| text_width(d.0, 12.0))
        .fold(80.0f64, f64::max)
        + 16.0;
    let row_h = 26.0;
    let top = 10.0;
    let height = top + row_h * data.len() as f64 + 30.0;
    let area = Area {
        x0: label_w,
        y0: top,
        x1: HALF_W - 80.0,
        y1: height - 30.0,
    };
    let mut s = Svg::new("segment-clv", HALF_W, height, "Average CLV by segment");
    let (lo, hi) = data
        .iter()
        .fold((0.0f64, 0.0f64), |(a, b), d| (a.min(d.1), b.max(d.1)));
    let ticks = nice_ticks(lo, hi, 4);
    let xs = Linear::new(ticks.lo, ticks.hi, area.x0, area.x1);
    for (v, label) in ticks
        .values
        .iter()
        .zip(svg::tick_labels(Kind::Money, &ticks))
    {
        let x = xs.map(*v);
        s.line(x, area.y0, x, area.y1, "stroke=\"#e3e6eb\"");
        s.text(x, area.y1 + 16.0, Anchor::Middle, "class=\"tick\"", &label);
    }
    let zero = xs.map(0.0);
    for (i, (name, v)) in data.iter().enumerate() {
        let y = top + i as f64 * row_h;
        s.text(
            area.x0 - 10.0,
            y + row_h / 2.0 + 4.0,
            Anchor::End,
            "class=\"label\"",
            name,
        );
        let x = xs.map(*v);
        let (bx, bw) = if x >= zero {
            (zero, x - zero)
        } else {
            (x, zero - x)
        };
        s.rect(
            bx,
            y + 5.0,
            bw,
            row_h - 10.0,
            &format!("fill=\"{TEAL}\""),
            None,
        );
        s.text(
            bx + bw + 4.0,
            y + row_h / 2.0 + 4.0,
            Anchor::Start,
            "class=\"tick\"",
            &format::money(*v),
        );
    }
    s.line(zero, area.y0, zero, area.y1, "stroke=\"#8a93a3\"");
    s.finish()
}

// ---------------------------------------------------------------------------
// Holdout validation

/// Sort key of a validation bucket: numbers in order, "7+" after 7, others last.
pub(crate) fn bucket_key(bucket: &str) -> (u8, f64, String) {
    let b = bucket.trim();
    if let Ok(n) = b.parse::<f64>() {
        return (0, n, String::new());
    }
    if let Some(n) = b
        .strip_suffix('+')
        .and_then(|x| x.trim().parse::<f64>().ok())
    {
        return (0, n + 0.5, String::new());
    }
    (1, 0.0, b.to_string())
}

/// Whether a bucket is the all-customers row.
pub(crate) fn is_overall(bucket: &str) -> bool {
    bucket.trim().eq_ignore_ascii_case("overall")
}

/// Actual vs predicted holdout orders per bucket, as grouped bars.
pub(crate) fn validation_bars(buckets: &[ValidationBucket]) -> String {
    let mut data: Vec<&ValidationBucket> =
        buckets.iter().filter(|b| !is_overall(&b.bucket)).collect();
    data.sort_by(|a, b| {
        let (ka, kb) = (bucket_key(&a.bucket), bucket_key(&b.bucket));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.cmp(&kb.2))
    });
    if data.is_empty() {
        return placeholder("The holdout validation has no buckets yet.");
    }
    let items = [
        LegendItem::new(Swatch::Fill(NAVY.to_string()), "actual orders"),
        LegendItem::new(Swatch::Fill(ORANGE.to_string()), "predicted orders"),
    ];
    let (left, right, bottom) = (76.0, 12.0, 48.0);
    let lh = legend_height(&items, HALF_W - left - right);
    let top = 8.0 + lh + 12.0;
    let height = top + 220.0 + bottom;
    let area = Area {
        x0: left,
        y0: top,
        x1: HALF_W - right,
        y1: height - bottom,
    };
    let mut s = Svg::new(
        "validation",
        HALF_W,
        height,
        "Holdout orders, actual and predicted, by bucket",
    );
    legend(&mut s, left, 8.0, area.width(), &items);
    let (lo, hi) = data.iter().fold((0.0f64, 0.0f64), |(a, b), d| {
        let vals = [finite(d.actual_orders), finite(d.predicted_orders)];
        let lo = vals.iter().flatten().fold(a, |m, v| m.min(*v));
        let hi = vals.iter().flatten().fold(b, |m, v| m.max(*v));
        (lo, hi)
    });
    let ticks = nice_ticks(lo, hi, 5);
    y_axis(
        &mut s,
        area,
        &ticks,
        Kind::Count,
        "orders in the holdout period",
    );
    let ys = Linear::new(ticks.lo, ticks.hi, area.y1, area.y0);
    let band = area.width() / data.len() as f64;
    let bar_w = (band * 0.36).min(40.0);
    s.line(area.x0, area.y1, area.x1, area.y1, "stroke=\"#8a93a3\"");
    for (i, b) in data.iter().enumerate() {
        let cx = area.x0 + (i as f64 + 0.5) * band;
        for (j, (v, color, what)) in [
            (b.actual_orders, NAVY, "actual"),
            (b.predicted_orders, ORANGE, "predicted"),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(v) = finite(v) else { continue };
            let x = cx - bar_w + j as f64 * bar_w;
            let (y0, y1) = (ys.map(v.max(0.0)), ys.map(v.min(0.0)));
            let tip = format!(
                "bucket {}: {} {what} orders ({} customers)",
                b.bucket,
                format::fixed(v, 1),
                format::int(b.customers)
            );
            s.rect(
                x,
                y0,
                bar_w - 1.0,
                y1 - y0,
                &format!("fill=\"{color}\""),
                Some(&tip),
            );
        }
        s.text(
            cx,
            area.y1 + 16.0,
            Anchor::Middle,
            "class=\"tick\"",
            &b.bucket,
        );
    }
    s.text(
        (area.x0 + area.x1) / 2.0,
        area.y1 + 34.0,
        Anchor::Middle,
        "class=\"axis-title\"",
        "bucket",
    );
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
    }

    #[test]
    fn heatmap_label_steps_leave_room() {
        // Five years: 61 columns of about 18 units, 60 rows of about 14.
        let cell_w = (FULL_W - 88.0) / 61.0;
        let cell_h = (cell_w * 0.75).clamp(13.0, 28.0);
        let rs = heatmap_row_step(cell_h, FONT + 3.0);
        assert!(rs as f64 * cell_h >= FONT + 3.0);
        let cs = heatmap_col_step(cell_w, text_width("60", FONT) + 12.0);
        assert!(cs as f64 * cell_w >= text_width("60", FONT) + 12.0);
    }

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

    #[test]
    fn buckets_sort_numerically() {
        let mut b = vec!["7+", "10", "2", "overall", "0"];
        b.sort_by(|x, y| {
            let (a, c) = (bucket_key(x), bucket_key(y));
            a.0.cmp(&c.0).then(a.1.total_cmp(&c.1)).then(a.2.cmp(&c.2))
        });
        assert_eq!(b, vec!["0", "2", "7+", "10", "overall"]);
    }
}
