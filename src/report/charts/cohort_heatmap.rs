//! The cohort heatmap: cohorts × periods, coloured by retention rate.
//!
//! The heatmap lays out its own grid (the cells set the chart's size, and
//! its legend is a colour bar under the grid), so it opens its SVG
//! directly rather than from a [`super::frame::Frame`].

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::super::data::{CohortCell, CohortPeriod};
use super::super::format::{self, finite_opt};
use super::super::svg::{self, legend, text_width, Anchor, LegendItem, Svg, Swatch, FONT, LIGHT};
use super::{percentile, placeholder, FULL_W};

/// Margins around the grid: room for the row labels on the left, for the
/// column header above.
const LEFT: f64 = 76.0;
const TOP: f64 = 50.0;
const RIGHT: f64 = 16.0;
/// Height of the legend under the grid.
const LEGEND_H: f64 = 56.0;

/// Label step for heatmap rows: the smallest step (in periods) that leaves
/// at least `need` units between labelled rows.
fn heatmap_row_step(cell_h: f64, need: f64) -> usize {
    [1usize, 2, 3, 4, 6, 12]
        .into_iter()
        .find(|s| *s as f64 * cell_h >= need)
        .unwrap_or(12)
}

/// Label step for heatmap columns (periods).
fn heatmap_col_step(cell_w: f64, need: f64) -> usize {
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

/// The heatmap's grid: one row per cohort, one column per period.
struct Grid {
    unit: CohortPeriod,
    /// Each cohort's size (the largest over its cells).
    sizes: BTreeMap<NaiveDate, i64>,
    /// Each cohort's row.
    rows: BTreeMap<NaiveDate, usize>,
    max_period: usize,
    cell_w: f64,
    cell_h: f64,
    grid_w: f64,
    grid_h: f64,
    /// The chart's width (at least 700 units, so the legend fits).
    width: f64,
    /// Upper end of the colour scale.
    color_max: f64,
}

impl Grid {
    /// The grid of `cells`; `None` when no cohort has customers.
    fn new(cells: &[CohortCell], unit: CohortPeriod) -> Option<Grid> {
        let mut sizes: BTreeMap<NaiveDate, i64> = BTreeMap::new();
        for c in cells {
            let e = sizes.entry(c.cohort_start).or_insert(0);
            *e = (*e).max(c.cohort_size);
        }
        if sizes.is_empty() {
            return None;
        }
        let rows: BTreeMap<NaiveDate, usize> =
            sizes.keys().enumerate().map(|(i, m)| (*m, i)).collect();
        let max_period = cells.iter().map(|c| c.period).max().unwrap_or(0) as usize;
        let n_cols = max_period + 1;
        let cell_w = ((FULL_W - LEFT - RIGHT) / n_cols as f64).min(48.0);
        let cell_h = (cell_w * 0.75).clamp(13.0, 28.0);
        let grid_w = cell_w * n_cols as f64;
        let grid_h = cell_h * rows.len() as f64;
        Some(Grid {
            unit,
            sizes,
            max_period,
            cell_w,
            cell_h,
            grid_w,
            grid_h,
            width: (LEFT + grid_w + RIGHT).max(700.0),
            color_max: heatmap_color_max(cells),
            rows,
        })
    }

    fn height(&self) -> f64 {
        TOP + self.grid_h + 16.0 + LEGEND_H
    }
}

/// Cohorts × periods, coloured by retention rate.
pub(crate) fn cohort_heatmap(cells: &[CohortCell], unit: CohortPeriod) -> String {
    let Some(grid) = Grid::new(cells, unit) else {
        return placeholder("No cohort has customers yet.");
    };
    let noun = format::period_noun(unit);
    let mut s = Svg::new(
        "heatmap",
        grid.width,
        grid.height(),
        &format!(
            "Retention rate by cohort {noun} and {}s since first order",
            noun
        ),
    );
    let hatch = s.hatch("#1b2333");
    column_header(&mut s, &grid);
    row_labels(&mut s, &grid);
    let style = CellStyle {
        gap: if grid.cell_w >= 8.0 { 1.0 } else { 0.0 },
        show_values: grid.cell_w >= 36.0 && grid.cell_h >= 18.0,
        hatch: &hatch,
    };
    for c in cells {
        draw_cell(&mut s, &grid, &style, c);
    }
    color_legend(&mut s, &grid, &hatch);
    s.finish()
}

/// The column title and the period numbers over the grid.
fn column_header(s: &mut Svg, grid: &Grid) {
    // Column header: centred over the grid, or from its left edge when the
    // grid is narrower than the title.
    let col_title = format!("{} since first order", format::period_plural(grid.unit));
    let col_title = col_title.as_str();
    if text_width(col_title, 12.0) < grid.grid_w {
        s.text(
            LEFT + grid.grid_w / 2.0,
            14.0,
            Anchor::Middle,
            "class=\"axis-title\"",
            col_title,
        );
    } else {
        s.text(LEFT, 14.0, Anchor::Start, "class=\"axis-title\"", col_title);
    }
    let need = text_width(&grid.max_period.to_string(), FONT) + 12.0;
    let col_step = heatmap_col_step(grid.cell_w, need);
    for p in (0..grid.max_period + 1).step_by(col_step) {
        let x = LEFT + (p as f64 + 0.5) * grid.cell_w;
        s.text(
            x,
            TOP - 8.0,
            Anchor::Middle,
            "class=\"tick\"",
            &p.to_string(),
        );
    }
}

/// The cohort labels left of the grid and their title.
fn row_labels(s: &mut Svg, grid: &Grid) {
    // Row labels, on periods whose number is a multiple of the step.
    let row_step = heatmap_row_step(grid.cell_h, FONT + 3.0);
    let n_rows = grid.rows.len();
    for (m, r) in &grid.rows {
        if format::period_index(grid.unit, *m).rem_euclid(row_step as i32) != 0 && n_rows > 1 {
            continue;
        }
        let y = TOP + (*r as f64 + 0.5) * grid.cell_h + 3.5;
        s.text(
            LEFT - 6.0,
            y,
            Anchor::End,
            "class=\"tick\"",
            &format::period_name(grid.unit, *m),
        );
    }
    // The row title sits above the row labels, so it fits any number of rows.
    s.text(
        LEFT - 6.0,
        TOP - 8.0,
        Anchor::End,
        "class=\"axis-title\"",
        "Cohort",
    );
}

/// How the cells are drawn at the grid's size.
struct CellStyle<'a> {
    /// Space between neighbouring cells (none when cells are tiny).
    gap: f64,
    /// Whether cells are big enough to print their rate.
    show_values: bool,
    hatch: &'a str,
}

/// One cell: its colour and tooltip, hatched while its period is in
/// progress; a light cell without a rate.
fn draw_cell(s: &mut Svg, grid: &Grid, style: &CellStyle<'_>, c: &CohortCell) {
    let Some(r) = grid.rows.get(&c.cohort_start) else {
        return;
    };
    let x = LEFT + c.period as f64 * grid.cell_w;
    let y = TOP + *r as f64 * grid.cell_h;
    let (w, h) = (grid.cell_w - style.gap, grid.cell_h - style.gap);
    let unit = grid.unit;
    let noun = format::period_noun(unit);
    let status = if c.period_complete {
        ""
    } else {
        " · still in progress"
    };
    let Some(rate) = finite_opt(c.retention_rate) else {
        let tip = format!(
            "{} cohort · {noun} {}: no retention rate{status}",
            format::period_name(unit, c.cohort_start),
            c.period
        );
        s.rect(x, y, w, h, &format!("fill=\"{LIGHT}\""), Some(&tip));
        return;
    };
    let t = rate / grid.color_max;
    let size = grid
        .sizes
        .get(&c.cohort_start)
        .copied()
        .unwrap_or(c.cohort_size);
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
    let fill = format!("fill=\"{}\"{opacity}", svg::ramp(t));
    s.rect(x, y, w, h, &fill, Some(&tip));
    if !c.period_complete {
        let hatch = format!("fill=\"{}\" pointer-events=\"none\"", style.hatch);
        s.rect(x, y, w, h, &hatch, None);
    }
    if style.show_values {
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

/// The legend under the grid: the colour bar with its scale, then the
/// markings.
fn color_legend(s: &mut Svg, grid: &Grid, hatch: &str) {
    let noun = format::period_noun(grid.unit);
    let ly = TOP + grid.grid_h + 18.0;
    let bar_w = 240.0;
    s.text(
        LEFT,
        ly + 8.0,
        Anchor::Start,
        "class=\"legend\"",
        &format!("Share of the cohort active in the {noun}"),
    );
    let grad = s.gradient(&svg::RAMP);
    s.rect(
        LEFT,
        ly + 14.0,
        bar_w,
        12.0,
        &format!("fill=\"{grad}\""),
        None,
    );
    let color_max = grid.color_max;
    for f in [0.0, 0.5, 1.0] {
        let x = LEFT + f * bar_w;
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
            Swatch::Pattern(hatch.to_string(), svg::ramp(0.5)),
            format!("{noun} still in progress (partial)"),
        ),
        LegendItem::new(Swatch::Fill(LIGHT.to_string()), "no value"),
    ];
    let lx = LEFT + bar_w + 40.0;
    legend(s, lx, ly + 12.0, grid.width - lx - RIGHT, &items);
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
