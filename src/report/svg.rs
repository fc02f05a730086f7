//! A small hand-written SVG writer for the report's charts: an element
//! builder, linear scales, "nice" axis ticks, axes, legends and colours.
//!
//! The output is XML-compatible (every element closed, attributes quoted,
//! text escaped) and needs no fonts or system libraries: text is laid out
//! with an estimated glyph width. Coordinates are always finite: any
//! non-finite number is written as 0, so no chart can contain "NaN".

use std::fmt::{Arguments, Write as _};

use chrono::NaiveDate;

use super::format::{self, escape};

/// Font size of tick labels and legends, in SVG units.
pub(crate) const FONT: f64 = 11.0;

/// Estimated width of `text` at `font` size: a generous average glyph
/// width for a sans-serif face, so that labels laid out with it do not
/// touch.
pub(crate) fn text_width(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * 0.6
}

/// A finite coordinate (non-finite values become 0).
fn fin(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Horizontal anchoring of a text element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// An SVG document being written.
pub(crate) struct Svg {
    buf: String,
    id: String,
}

impl Svg {
    /// Starts an SVG of `width` × `height` units. `id` must be unique in the
    /// page (it prefixes the ids of patterns and gradients); `label` is the
    /// chart's accessible name.
    pub fn new(id: &str, width: f64, height: f64, label: &str) -> Self {
        // Prefixed so that chart ids never clash with section anchors.
        let id = format!("chart-{id}");
        let mut svg = Svg {
            buf: String::with_capacity(16 * 1024),
            id: id.clone(),
        };
        let (w, h) = (fin(width).ceil(), fin(height).ceil());
        svg.put(format_args!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"chart\" \
             viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
             aria-label=\"{label}\"><title>{label}</title>",
            id = escape(&id),
            label = escape(label),
        ));
        svg
    }

    fn put(&mut self, args: Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = self.buf.write_fmt(args);
    }

    /// Appends trusted markup made by this module.
    pub fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// Defines a diagonal hatch pattern and returns its `url(#…)` reference.
    pub fn hatch(&mut self, color: &str) -> String {
        let id = format!("{}-hatch", self.id);
        self.put(format_args!(
            "<defs><pattern id=\"{id}\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
             patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffffff\" \
             fill-opacity=\"0.25\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{color}\" \
             stroke-width=\"2\" stroke-opacity=\"0.55\"/></pattern></defs>"
        ));
        format!("url(#{id})")
    }

    /// Defines a horizontal gradient through `stops` and returns its reference.
    pub fn gradient(&mut self, stops: &[&str]) -> String {
        let id = format!("{}-grad", self.id);
        self.put(format_args!(
            "<defs><linearGradient id=\"{id}\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">"
        ));
        let last = stops.len().saturating_sub(1).max(1) as f64;
        for (i, c) in stops.iter().enumerate() {
            self.put(format_args!(
                "<stop offset=\"{:.3}\" stop-color=\"{c}\"/>",
                i as f64 / last
            ));
        }
        self.raw("</linearGradient></defs>");
        format!("url(#{id})")
    }

    /// A rectangle with raw extra attributes and an optional tooltip.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, attrs: &str, tip: Option<&str>) {
        self.put(format_args!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" {attrs}",
            fin(x),
            fin(y),
            fin(w).max(0.0),
            fin(h).max(0.0)
        ));
        self.close_with_tip("rect", tip);
    }

    /// A circle with raw extra attributes and an optional tooltip.
    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, attrs: &str, tip: Option<&str>) {
        self.put(format_args!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" {attrs}",
            fin(cx),
            fin(cy),
            fin(r)
        ));
        self.close_with_tip("circle", tip);
    }

    fn close_with_tip(&mut self, tag: &str, tip: Option<&str>) {
        match tip {
            Some(t) => self.put(format_args!("><title>{}</title></{tag}>", escape(t))),
            None => self.raw("/>"),
        }
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) {
        self.put(format_args!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" {attrs}/>",
            fin(x1),
            fin(y1),
            fin(x2),
            fin(y2)
        ));
    }

    /// A polyline through `points` (nothing when there are fewer than two).
    pub fn polyline(&mut self, points: &[(f64, f64)], attrs: &str) {
        if points.len() < 2 {
            return;
        }
        self.raw("<polyline points=\"");
        for (i, (x, y)) in points.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.put(format_args!("{:.1},{:.1}", fin(*x), fin(*y)));
        }
        self.put(format_args!("\" fill=\"none\" {attrs}/>"));
    }

    /// A text element; `content` is escaped.
    pub fn text(&mut self, x: f64, y: f64, anchor: Anchor, attrs: &str, content: &str) {
        self.put(format_args!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\" {attrs}>{}</text>",
            fin(x),
            fin(y),
            anchor.as_str(),
            escape(content)
        ));
    }

    /// Text rotated by -90° around its anchor point (for y-axis titles).
    pub fn text_vertical(&mut self, x: f64, y: f64, attrs: &str, content: &str) {
        let (x, y) = (fin(x), fin(y));
        self.put(format_args!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {x:.1} {y:.1})\" {attrs}>{}</text>",
            escape(content)
        ));
    }

    /// Closes the document.
    pub fn finish(mut self) -> String {
        self.raw("</svg>");
        self.buf
    }
}

/// A linear map from a data domain to a pixel range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linear {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Linear {
    /// Maps `[d0, d1]` onto `[r0, r1]`; a degenerate domain is widened.
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let (d0, d1) = (fin(d0), fin(d1));
        let d1 = if (d1 - d0).abs() < f64::EPSILON {
            d0 + 1.0
        } else {
            d1
        };
        Linear { d0, d1, r0, r1 }
    }

    /// The pixel position of `v`.
    pub fn map(&self, v: f64) -> f64 {
        self.r0 + (fin(v) - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Ticks of an axis: the rounded domain and the tick values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
    pub values: Vec<f64>,
}

/// About `target` evenly spaced round ticks covering `[min, max]`; the
/// step is 1, 2, 2.5 or 5 times a power of ten.
pub(crate) fn nice_ticks(min: f64, max: f64, target: usize) -> Ticks {
    let (mut min, mut max) = (fin(min), fin(max));
    if min > max {
        std::mem::swap(&mut min, &mut max);
    }
    if (max - min).abs() < 1e-12 {
        if max == 0.0 {
            max = 1.0;
        } else if max > 0.0 {
            min = min.min(0.0);
            max *= 1.1;
        } else {
            max = 0.0;
        }
    }
    let raw = (max - min) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|n| *n >= norm - 1e-9)
        .unwrap_or(10.0);
    let step = nice * magnitude;
    let lo = (min / step + 1e-9).floor() * step;
    let hi = (max / step - 1e-9).ceil() * step;
    let count = ((hi - lo) / step).round() as i64;
    let values = (0..=count)
        .map(|i| {
            let v = lo + i as f64 * step;
            // Snap float noise (0.30000000000000004) to the step's decimals.
            let scale = 10f64.powi(decimals_for(step) as i32 + 2);
            (v * scale).round() / scale
        })
        .collect();
    Ticks {
        lo,
        hi,
        step,
        values,
    }
}

/// The decimals needed to print multiples of `step` exactly.
fn decimals_for(step: f64) -> usize {
    (0..=6usize)
        .find(|d| {
            let s = step * 10f64.powi(*d as i32);
            (s - s.round()).abs() < 1e-6 * s.abs().max(1.0)
        })
        .unwrap_or(6)
}

/// What an axis shows, which decides how its ticks are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Customers, orders: compact counts (1.2k).
    Count,
    /// Money: compact, currency-neutral (12.5k).
    Money,
    /// Fractions shown as percentages.
    Rate,
    /// Scores in points, such as NPS (−100 to 100).
    Points,
}

/// Labels for `ticks` on an axis of `kind`; one unit suffix for the axis.
pub(crate) fn tick_labels(kind: Kind, ticks: &Ticks) -> Vec<String> {
    if kind == Kind::Rate {
        let d = decimals_for(ticks.step * 100.0);
        return ticks
            .values
            .iter()
            .map(|v| format!("{}%", format::fixed(v * 100.0, d)))
            .collect();
    }
    let top = ticks
        .values
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(ticks.step.abs());
    let (div, suffix) = if top >= 1e9 {
        (1e9, "B")
    } else if top >= 1e6 {
        (1e6, "M")
    } else if top >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let d = decimals_for(ticks.step / div);
    ticks
        .values
        .iter()
        .map(|v| {
            let text = format::fixed(v / div, d);
            if text == "0" || text.chars().all(|c| c == '0' || c == '.') {
                "0".to_string()
            } else {
                format!("{text}{suffix}")
            }
        })
        .collect()
}

/// The plotting rectangle of a chart (y grows downwards).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Area {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Area {
    pub fn width(&self) -> f64 {
        self.x1 - self.x0
    }
}

const GRID: &str = "stroke=\"#e3e6eb\" stroke-width=\"1\"";
const AXIS: &str = "stroke=\"#8a93a3\" stroke-width=\"1\"";
const TICK_TEXT: &str = "class=\"tick\"";
const TITLE_TEXT: &str = "class=\"axis-title\"";

/// Draws horizontal grid lines, the y tick labels and a rotated y title.
pub(crate) fn y_axis(svg: &mut Svg, area: Area, ticks: &Ticks, kind: Kind, title: &str) {
    let scale = Linear::new(ticks.lo, ticks.hi, area.y1, area.y0);
    let labels = tick_labels(kind, ticks);
    let mut widest: f64 = 0.0;
    for (v, label) in ticks.values.iter().zip(&labels) {
        let y = scale.map(*v);
        let style = if v.abs() < 1e-12 { AXIS } else { GRID };
        svg.line(area.x0, y, area.x1, y, style);
        svg.text(area.x0 - 6.0, y + 3.5, Anchor::End, TICK_TEXT, label);
        widest = widest.max(text_width(label, FONT));
    }
    let x = area.x0 - widest - 16.0;
    svg.text_vertical(x, (area.y0 + area.y1) / 2.0, TITLE_TEXT, title);
}

/// Draws the x axis line, integer ticks every `step` and a title below.
pub(crate) fn x_axis_periods(
    svg: &mut Svg,
    area: Area,
    scale: &Linear,
    range: (u32, u32),
    title: &str,
) {
    let (lo, hi) = range;
    let px_per = (scale.map(1.0) - scale.map(0.0)).abs();
    let label_w = text_width(&hi.to_string(), FONT) + 10.0;
    let step = [1u32, 2, 3, 6, 12, 24]
        .into_iter()
        .find(|s| *s as f64 * px_per >= label_w.max(22.0))
        .unwrap_or(24);
    svg.line(area.x0, area.y1, area.x1, area.y1, AXIS);
    let first = lo.div_ceil(step) * step;
    let mut p = first;
    while p <= hi {
        let x = scale.map(p as f64);
        svg.line(x, area.y1, x, area.y1 + 4.0, AXIS);
        svg.text(x, area.y1 + 16.0, Anchor::Middle, TICK_TEXT, &p.to_string());
        p += step;
    }
    svg.text(
        (area.x0 + area.x1) / 2.0,
        area.y1 + 32.0,
        Anchor::Middle,
        TITLE_TEXT,
        title,
    );
}

/// How many months apart the labels of a band month axis are, for bands
/// of `band` units: labels go on months whose index is a multiple of the
/// step (January, April… for a quarterly step); from 12 on, only the year
/// is printed.
pub(crate) fn month_label_step(band: f64) -> usize {
    let need_short = text_width("Jan 2024", FONT) + 10.0;
    let need_year = text_width("2024", FONT) + 10.0;
    for step in [1usize, 2, 3, 6] {
        if step as f64 * band >= need_short {
            return step;
        }
    }
    if 12.0 * band >= need_year {
        12
    } else if 24.0 * band >= need_year {
        24
    } else {
        60
    }
}

/// Draws a month axis under a band scale (one band per month).
pub(crate) fn x_axis_months(svg: &mut Svg, area: Area, months: &[NaiveDate]) {
    svg.line(area.x0, area.y1, area.x1, area.y1, AXIS);
    if months.is_empty() {
        return;
    }
    let band = area.width() / months.len() as f64;
    let step = month_label_step(band);
    for (i, m) in months.iter().enumerate() {
        let idx = format::month_index(*m);
        if idx.rem_euclid(step as i32) != 0 && months.len() > 1 {
            continue;
        }
        let x = area.x0 + (i as f64 + 0.5) * band;
        svg.line(x, area.y1, x, area.y1 + 4.0, AXIS);
        let label = if step >= 12 {
            chrono::Datelike::year(m).to_string()
        } else {
            format::month_name(*m)
        };
        svg.text(x, area.y1 + 16.0, Anchor::Middle, TICK_TEXT, &label);
    }
}

/// How a legend entry is drawn.
#[derive(Debug, Clone)]
pub(crate) enum Swatch {
    /// A line in a colour, dashed or not, with a given width.
    Line(String, bool, f64),
    /// A filled square.
    Fill(String),
    /// A square filled with a pattern reference (`url(#…)`) over a colour.
    Pattern(String, String),
}

/// One legend entry.
#[derive(Debug, Clone)]
pub(crate) struct LegendItem {
    pub swatch: Swatch,
    pub label: String,
}

impl LegendItem {
    pub fn new(swatch: Swatch, label: impl Into<String>) -> Self {
        LegendItem {
            swatch,
            label: label.into(),
        }
    }

    fn width(&self) -> f64 {
        18.0 + 6.0 + text_width(&self.label, FONT) + 16.0
    }
}

/// Lays legend items out in rows no wider than `width`; returns the rows.
fn legend_rows(items: &[LegendItem], width: f64) -> Vec<Vec<&LegendItem>> {
    let mut rows: Vec<Vec<&LegendItem>> = Vec::new();
    let mut used = f64::INFINITY;
    for item in items {
        let w = item.width();
        if used + w > width {
            rows.push(Vec::new());
            used = 0.0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(item);
        }
        used += w;
    }
    rows
}

/// Height that [`legend`] needs for `items` in `width`.
pub(crate) fn legend_height(items: &[LegendItem], width: f64) -> f64 {
    legend_rows(items, width).len() as f64 * 18.0
}

/// Draws a legend left-aligned at `(x, y)` (top of the first row), wrapping
/// rows at `width`.
pub(crate) fn legend(svg: &mut Svg, x: f64, y: f64, width: f64, items: &[LegendItem]) {
    for (r, row) in legend_rows(items, width).into_iter().enumerate() {
        let cy = y + r as f64 * 18.0 + 9.0;
        let mut cx = x;
        for item in row {
            match &item.swatch {
                Swatch::Line(color, dashed, w) => {
                    let dash = if *dashed {
                        " stroke-dasharray=\"4 3\""
                    } else {
                        ""
                    };
                    svg.line(
                        cx,
                        cy,
                        cx + 18.0,
                        cy,
                        &format!("stroke=\"{color}\" stroke-width=\"{w:.1}\"{dash}"),
                    );
                }
                Swatch::Fill(color) => {
                    swatch_square(svg, cx, cy, &format!("fill=\"{color}\""));
                }
                Swatch::Pattern(pattern, color) => {
                    swatch_square(svg, cx, cy, &format!("fill=\"{color}\""));
                    swatch_square(
                        svg,
                        cx,
                        cy,
                        &format!("fill=\"{pattern}\" stroke=\"#8a93a3\" stroke-width=\"0.5\""),
                    );
                }
            }
            svg.text(
                cx + 24.0,
                cy + 4.0,
                Anchor::Start,
                "class=\"legend\"",
                &item.label,
            );
            cx += item.width();
        }
    }
}

/// The 12-unit square of a legend entry whose row is centred on `cy`.
fn swatch_square(svg: &mut Svg, cx: f64, cy: f64, attrs: &str) {
    svg.rect(cx + 3.0, cy - 6.0, 12.0, 12.0, attrs, None);
}

/// Sequential colour ramp for retention rates, light (low) to dark (high).
pub(crate) const RAMP: [&str; 8] = [
    "#f4f9e8", "#d3edb5", "#9fd7b0", "#5cbdbd", "#2b9bc4", "#2468a8", "#233a8c", "#101f55",
];

/// Colour of `t` in `[0, 1]` along [`RAMP`].
pub(crate) fn ramp(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (RAMP.len() - 1) as f64;
    let i = (pos.floor() as usize).min(RAMP.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (rgb(RAMP[i]), rgb(RAMP[i + 1]));
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// Relative lightness of `t` along the ramp: whether text on it must be white.
pub(crate) fn ramp_is_dark(t: f64) -> bool {
    t.is_finite() && t > 0.55
}

fn rgb(hex: &str) -> (u8, u8, u8) {
    let h = hex.trim_start_matches('#');
    let part = |i: usize| {
        h.get(i..i + 2)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .unwrap_or(0)
    };
    (part(0), part(2), part(4))
}

/// Distinct colours for up to twelve series (cycled beyond that).
pub(crate) const SERIES: [&str; 12] = [
    "#2b5c8a", "#e07b39", "#3a9e6b", "#c8414b", "#7b5ea7", "#9c6b3f", "#d46fae", "#5f6b7a",
    "#a3a81f", "#2aa3b8", "#1d2f6f", "#5e7d2a",
];

/// The `i`-th series colour.
pub(crate) fn series_color(i: usize) -> &'static str {
    SERIES[i % SERIES.len()]
}

/// The report's main colours.
pub(crate) const NAVY: &str = "#1f3b73";
pub(crate) const ORANGE: &str = "#e07b39";
pub(crate) const TEAL: &str = "#2a9d8f";
pub(crate) const RED: &str = "#c8414b";
pub(crate) const LIGHT: &str = "#e7eaf0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = nice_ticks(0.0, 0.87, 5);
        assert_eq!(t.step, 0.2);
        assert_eq!(t.values, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = nice_ticks(-1234.0, 5678.0, 5);
        assert!(t.lo <= -1234.0 && t.hi >= 5678.0);
        assert_eq!(t.step, 2000.0);
        let t = nice_ticks(0.0, 0.0, 5);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        let t = nice_ticks(f64::NAN, f64::INFINITY, 5);
        assert!(t.values.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn tick_labels_are_compact() {
        let t = nice_ticks(0.0, 25_000.0, 5);
        assert_eq!(
            tick_labels(Kind::Count, &t),
            vec!["0", "5k", "10k", "15k", "20k", "25k"]
        );
        let t = nice_ticks(0.0, 0.3, 3);
        assert_eq!(tick_labels(Kind::Rate, &t), vec!["0%", "10%", "20%", "30%"]);
        let t = nice_ticks(0.0, 2.5e6, 5);
        assert_eq!(tick_labels(Kind::Money, &t)[1], "0.5M");
    }

    #[test]
    fn ramp_ends_are_the_ramp_ends() {
        assert_eq!(ramp(0.0), RAMP[0]);
        assert_eq!(ramp(1.0), RAMP[7]);
        assert_eq!(ramp(f64::NAN), RAMP[0]);
    }
}
