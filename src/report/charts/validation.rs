//! Holdout validation: actual against predicted orders per bucket.

use super::super::data::ValidationBucket;
use super::super::format::{self, finite};
use super::super::svg::{nice_ticks, Anchor, Kind, LegendItem, Linear, Swatch, NAVY, ORANGE};
use super::frame::{Chart, Frame};
use super::{placeholder, HALF_W};

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
    let frame = Frame {
        width: HALF_W,
        left: 76.0,
        right: 12.0,
        top: 8.0,
        bottom: 48.0,
        plot_height: 220.0,
        legend: &items,
        legend_gap: 12.0,
        ..Frame::default()
    };
    let mut s = frame.open(
        "validation",
        "Holdout orders, actual and predicted, by bucket",
    );
    let (lo, hi) = data.iter().fold((0.0f64, 0.0f64), |(a, b), d| {
        let vals = [finite(d.actual_orders), finite(d.predicted_orders)];
        let lo = vals.iter().flatten().fold(a, |m, v| m.min(*v));
        let hi = vals.iter().flatten().fold(b, |m, v| m.max(*v));
        (lo, hi)
    });
    let ticks = nice_ticks(lo, hi, 5);
    let ys = s.y_axis(&ticks, Kind::Count, "orders in the holdout period");
    let area = s.area;
    let band = area.width() / data.len() as f64;
    s.line(area.x0, area.y1, area.x1, area.y1, "stroke=\"#8a93a3\"");
    for (i, b) in data.iter().enumerate() {
        let cx = area.x0 + (i as f64 + 0.5) * band;
        bucket_bars(&mut s, b, cx, (band * 0.36).min(40.0), &ys);
        s.text(
            cx,
            area.y1 + 16.0,
            Anchor::Middle,
            "class=\"tick\"",
            &b.bucket,
        );
    }
    s.x_title("bucket");
    s.finish()
}

/// A bucket's two bars, actual and predicted, side by side around `cx`.
fn bucket_bars(s: &mut Chart, b: &ValidationBucket, cx: f64, bar_w: f64, ys: &Linear) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
