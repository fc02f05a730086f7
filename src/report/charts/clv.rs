//! The CLV distribution: a histogram of customer CLV cut at the 99th
//! percentile, with a sentence that says what was cut and markers for the
//! median and the mean.

use super::super::clv_distribution::ClvDistribution;
use super::super::format::{self, escape};
use super::super::svg::{self, nice_ticks, text_width, Anchor, Kind, Linear, Ticks, FONT};
use super::super::svg::{NAVY, ORANGE};
use super::frame::{Chart, Frame};
use super::{placeholder, FULL_W};

/// The distribution and its bins, as the chart draws them.
struct Histogram<'a> {
    of: &'a ClvDistribution,
    bins: Ticks,
}

impl Histogram<'_> {
    /// The sentence over the chart: the headline figures and what the
    /// chart leaves out.
    fn note(&self) -> String {
        let of = self.of;
        let mut note = format!(
            "CLV of {} customers: median {}, mean {}.",
            format::uint(of.customers),
            format::money(of.median),
            format::money(of.mean)
        );
        if of.cut > 0 {
            note.push_str(&format!(
                " The long tail is clipped at the 99th percentile ({}): the {} customers above \
                 it (up to {}) are not drawn.",
                format::money(of.p99),
                format::uint(of.cut),
                format::money(of.max)
            ));
        } else {
            note.push_str(
                " The chart is clipped at the 99th percentile; no customer lies above it.",
            );
        }
        if of.missing > 0 {
            note.push_str(&format!(
                " {} customers without a usable CLV value are not counted.",
                format::uint(of.missing)
            ));
        }
        note
    }
}

/// Histogram of customer CLV, cut at the 99th percentile, with a sentence
/// that says what was cut.
pub(crate) fn clv_histogram(distribution: Option<&ClvDistribution>) -> String {
    let Some(of) = distribution else {
        return placeholder("No customer has a CLV value yet.");
    };
    let hist = Histogram {
        of,
        bins: of.bins(),
    };
    let frame = Frame {
        width: FULL_W,
        left: 76.0,
        right: 20.0,
        top: 48.0,
        bottom: 48.0,
        plot_height: 264.0,
        ..Frame::default()
    };
    let mut s = frame.open("clv-hist", "Distribution of customer lifetime value");
    let top_count = hist.of.counts.iter().copied().max().unwrap_or(0) as f64;
    let yt = nice_ticks(0.0, top_count, 5);
    let ys = s.y_axis(&yt, Kind::Count, "customers");
    let area = s.area;
    let xs = Linear::new(hist.bins.lo, hist.bins.hi, area.x0, area.x1);
    bars(&mut s, &hist, &ys);
    money_axis(&mut s, &hist.bins, &xs);
    s.x_title("Customer lifetime value (up to the 99th percentile)");
    marks(&mut s, &hist, &xs);
    format!(
        "<p class=\"note\">{}</p>{}",
        escape(&hist.note()),
        s.finish()
    )
}

/// One bar per bin, with its range and count as tooltip.
fn bars(s: &mut Chart, hist: &Histogram, ys: &Linear) {
    let area = s.area;
    let step = hist.bins.step;
    let bw = area.width() / hist.of.counts.len() as f64;
    for (i, c) in hist.of.counts.iter().enumerate() {
        let a = hist.bins.lo + i as f64 * step;
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
}

/// The x axis with money ticks inside the bins' range.
fn money_axis(s: &mut Chart, bins: &Ticks, xs: &Linear) {
    let area = s.area;
    let xt = nice_ticks(bins.lo, bins.hi, 8);
    let labels = svg::tick_labels(Kind::Money, &xt);
    s.line(area.x0, area.y1, area.x1, area.y1, "stroke=\"#8a93a3\"");
    for (v, label) in xt.values.iter().zip(&labels) {
        if *v < bins.lo - 1e-9 || *v > bins.hi + 1e-9 {
            continue;
        }
        let x = xs.map(*v);
        s.line(x, area.y1, x, area.y1 + 4.0, "stroke=\"#8a93a3\"");
        s.text(x, area.y1 + 16.0, Anchor::Middle, "class=\"tick\"", label);
    }
}

/// The median and mean as dashed lines with labels above the plot.
fn marks(s: &mut Chart, hist: &Histogram, xs: &Linear) {
    let area = s.area;
    // Median label left of its line and mean label right of its line when
    // there is room; a label that would still collide drops one row.
    let marks = [
        (
            hist.of.median,
            format!("median {}", format::money(hist.of.median)),
            true,
        ),
        (
            hist.of.mean,
            format!("mean {}", format::money(hist.of.mean)),
            false,
        ),
    ];
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for (v, label, prefer_left) in marks {
        if v < hist.bins.lo || v > hist.bins.hi {
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
}
