//! Horizontal bar charts for segments: shares of customers and revenue,
//! and average CLV.

use super::super::data::SegmentRow;
use super::super::format::{self, finite, finite_opt};
use super::super::svg::{self, legend, nice_ticks, text_width, Anchor, Kind, LegendItem, Linear};
use super::super::svg::{Swatch, Ticks, NAVY, TEAL};
use super::frame::{Chart, Frame};
use super::{placeholder, HALF_W};

/// Colour of the share-of-customers bars.
const CUSTOMERS_COLOR: &str = "#9db5d6";

/// Width of the segment names' column: the widest name, at least 80 units.
fn label_width<'a>(names: impl Iterator<Item = &'a str>) -> f64 {
    names.map(|n| text_width(n, 12.0)).fold(80.0f64, f64::max) + 16.0
}

/// Vertical grid lines at the ticks with their labels under the plot.
fn x_grid(s: &mut Chart, xs: &Linear, ticks: &Ticks, kind: Kind) {
    let area = s.area;
    for (v, label) in ticks.values.iter().zip(svg::tick_labels(kind, ticks)) {
        let x = xs.map(*v);
        s.line(x, area.y0, x, area.y1, "stroke=\"#e3e6eb\"");
        s.text(x, area.y1 + 16.0, Anchor::Middle, "class=\"tick\"", &label);
    }
}

/// A segment's name, right-aligned left of its row of height `row_h` at `y`.
fn row_label(s: &mut Chart, y: f64, row_h: f64, name: &str) {
    let x = s.area.x0 - 10.0;
    s.text(
        x,
        y + row_h / 2.0 + 4.0,
        Anchor::End,
        "class=\"label\"",
        name,
    );
}

/// A segment's share of customers and share of revenue, when known.
type Shares<'a> = (&'a str, Option<f64>, Option<f64>);

/// Each segment's shares: of the customers counted here, and of revenue
/// (from the table, or from the revenue counted here when it has none).
fn shares<'a>(rows: &[&'a SegmentRow]) -> Vec<Shares<'a>> {
    let total_customers: i64 = rows.iter().map(|r| r.customers.max(0)).sum();
    let total_revenue: f64 = rows.iter().filter_map(|r| finite(r.revenue)).sum();
    rows.iter()
        .map(|r| {
            let cs = (total_customers > 0).then(|| r.customers as f64 / total_customers as f64);
            let rs = finite_opt(r.share_of_revenue).or_else(|| {
                (total_revenue != 0.0)
                    .then(|| finite(r.revenue).map(|v| v / total_revenue))
                    .flatten()
            });
            (r.rfm_segment.as_str(), cs, rs)
        })
        .collect()
}

/// Share of customers vs share of revenue, one pair of bars per segment.
pub(crate) fn segment_shares(rows: &[&SegmentRow]) -> String {
    let data = shares(rows);
    if data.iter().all(|d| d.1.is_none() && d.2.is_none()) {
        return placeholder("No segment has customers yet.");
    }
    let label_w = label_width(data.iter().map(|d| d.0));
    let width = 900.0;
    let row_h = 40.0;
    let frame = Frame {
        width,
        left: label_w,
        right: 70.0,
        top: 36.0,
        bottom: 34.0,
        plot_height: row_h * data.len() as f64,
        ..Frame::default()
    };
    let mut s = frame.open(
        "segment-shares",
        "Share of customers and of revenue by segment",
    );
    let items = [
        LegendItem::new(
            Swatch::Fill(CUSTOMERS_COLOR.to_string()),
            "share of customers",
        ),
        LegendItem::new(Swatch::Fill(NAVY.to_string()), "share of revenue"),
    ];
    // The legend sits above the plot's fixed top margin.
    legend(&mut s, label_w, 6.0, width - label_w, &items);
    let max = data
        .iter()
        .flat_map(|d| [d.1, d.2])
        .flatten()
        .fold(0.0f64, f64::max);
    let ticks = nice_ticks(0.0, max, 5);
    let area = s.area;
    let xs = Linear::new(ticks.lo, ticks.hi, area.x0, area.x1);
    x_grid(&mut s, &xs, &ticks, Kind::Rate);
    for (i, (name, cs, rs)) in data.iter().enumerate() {
        let y = area.y0 + i as f64 * row_h;
        row_label(&mut s, y, row_h, name);
        for (j, (v, color)) in [(cs, CUSTOMERS_COLOR), (rs, NAVY)].into_iter().enumerate() {
            share_bar(&mut s, &xs, y + 5.0 + j as f64 * 15.0, *v, color);
        }
    }
    s.line(area.x0, area.y0, area.x0, area.y1, "stroke=\"#8a93a3\"");
    s.finish()
}

/// One share bar at height `by` with its percentage after it, or the
/// missing mark.
fn share_bar(s: &mut Chart, xs: &Linear, by: f64, share: Option<f64>, color: &str) {
    let x0 = s.area.x0;
    match share {
        Some(v) => {
            let w = xs.map(v) - x0;
            s.rect(x0, by, w, 12.0, &format!("fill=\"{color}\""), None);
            s.text(
                x0 + w.max(0.0) + 4.0,
                by + 10.0,
                Anchor::Start,
                "class=\"tick\"",
                &format::pct(v, 1),
            );
        }
        None => {
            s.text(
                x0 + 4.0,
                by + 10.0,
                Anchor::Start,
                "class=\"tick\"",
                format::MISSING,
            );
        }
    }
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
    let row_h = 26.0;
    let frame = Frame {
        width: HALF_W,
        left: label_width(data.iter().map(|d| d.0)),
        right: 80.0,
        top: 10.0,
        bottom: 30.0,
        plot_height: row_h * data.len() as f64,
        ..Frame::default()
    };
    let mut s = frame.open("segment-clv", "Average CLV by segment");
    let area = s.area;
    let (lo, hi) = data
        .iter()
        .fold((0.0f64, 0.0f64), |(a, b), d| (a.min(d.1), b.max(d.1)));
    let ticks = nice_ticks(lo, hi, 4);
    let xs = Linear::new(ticks.lo, ticks.hi, area.x0, area.x1);
    x_grid(&mut s, &xs, &ticks, Kind::Money);
    let zero = xs.map(0.0);
    for (i, (name, v)) in data.iter().enumerate() {
        let y = area.y0 + i as f64 * row_h;
        row_label(&mut s, y, row_h, name);
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
