//! The set-up every chart with a plot area repeats: the SVG's size and
//! accessible title, the margins around the plot, an optional legend above
//! the plot that pushes it down, an optional hatch pattern for incomplete
//! periods, the y axis with its scale and the x axis title.

use std::ops::{Deref, DerefMut};

use super::super::svg::{legend, legend_height, y_axis, Anchor, Area, Kind, LegendItem, Linear};
use super::super::svg::{Svg, Swatch, Ticks};

/// The layout of a chart: its width, the margins around its plot area,
/// the plot's height and what is drawn above the plot.
///
/// The plot starts `top` below the chart's top edge; with a legend, the
/// legend sits at `top` and the plot starts `legend_gap` below the legend.
/// The chart is as high as the plot and the margins above and below it.
#[derive(Debug, Default)]
pub(super) struct Frame<'a> {
    pub width: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub plot_height: f64,
    /// Legend entries drawn above the plot (none when empty).
    pub legend: &'a [LegendItem],
    pub legend_gap: f64,
    /// Colour of the diagonal hatch that marks incomplete periods: defined
    /// first, it fills every legend pattern swatch left without a
    /// reference.
    pub hatch: Option<&'a str>,
}

/// A chart being drawn: the SVG (the chart derefs to it), its plot area
/// and the hatch's `url(#…)` reference (empty without one).
pub(super) struct Chart {
    svg: Svg,
    pub area: Area,
    pub hatch_url: String,
}

impl Frame<'_> {
    /// Starts the SVG `id` titled `title`, with the hatch and the legend.
    pub fn open(&self, id: &str, title: &str) -> Chart {
        let legend_w = self.width - self.left - self.right;
        let top = if self.legend.is_empty() {
            self.top
        } else {
            self.top + legend_height(self.legend, legend_w) + self.legend_gap
        };
        let height = top + self.plot_height + self.bottom;
        let area = Area {
            x0: self.left,
            y0: top,
            x1: self.width - self.right,
            y1: height - self.bottom,
        };
        let mut svg = Svg::new(id, self.width, height, title);
        let hatch = self.hatch.map(|c| svg.hatch(c)).unwrap_or_default();
        if !self.legend.is_empty() {
            let items = with_pattern(self.legend, &hatch);
            legend(&mut svg, self.left, self.top, legend_w, &items);
        }
        Chart {
            svg,
            area,
            hatch_url: hatch,
        }
    }
}

/// The legend items with `pattern` in every pattern swatch that has none.
fn with_pattern(items: &[LegendItem], pattern: &str) -> Vec<LegendItem> {
    let mut items = items.to_vec();
    for item in &mut items {
        if let Swatch::Pattern(reference, _) = &mut item.swatch {
            if reference.is_empty() {
                reference.push_str(pattern);
            }
        }
    }
    items
}

impl Chart {
    /// Draws the y axis (grid lines, tick labels, rotated title) over the
    /// plot and returns its scale.
    pub fn y_axis(&mut self, ticks: &Ticks, kind: Kind, title: &str) -> Linear {
        y_axis(&mut self.svg, self.area, ticks, kind, title);
        Linear::new(ticks.lo, ticks.hi, self.area.y1, self.area.y0)
    }

    /// The x axis title, centred under the plot's tick labels.
    pub fn x_title(&mut self, title: &str) {
        let area = self.area;
        self.svg.text(
            (area.x0 + area.x1) / 2.0,
            area.y1 + 34.0,
            Anchor::Middle,
            "class=\"axis-title\"",
            title,
        );
    }

    /// A line through `points` (period, rate, tooltip), broken where a
    /// period is missing, and a dot with its tooltip at each point.
    pub fn dotted_line(
        &mut self,
        (xs, ys): (&Linear, &Linear),
        points: &[(u32, f64, String)],
        color: &str,
        width: &str,
    ) {
        let stroke = format!("stroke=\"{color}\" stroke-width=\"{width}\"");
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut previous: Option<u32> = None;
        for &(period, rate, _) in points {
            if previous.is_some_and(|k| k + 1 != period) {
                self.polyline(&run, &stroke);
                run.clear();
            }
            run.push((xs.map(period as f64), ys.map(rate)));
            previous = Some(period);
        }
        self.polyline(&run, &stroke);
        let dot = format!("fill=\"{color}\" stroke=\"#ffffff\" stroke-width=\"1\"");
        for (period, rate, tip) in points {
            self.circle(xs.map(*period as f64), ys.map(*rate), 3.5, &dot, Some(tip));
        }
    }

    /// Closes the SVG.
    pub fn finish(self) -> String {
        self.svg.finish()
    }
}

impl Deref for Chart {
    type Target = Svg;

    fn deref(&self) -> &Svg {
        &self.svg
    }
}

impl DerefMut for Chart {
    fn deref_mut(&mut self) -> &mut Svg {
        &mut self.svg
    }
}
