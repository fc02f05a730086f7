//! The report's charts, each drawn as one inline SVG from the input rows.
//!
//! Every function returns an HTML fragment: the chart, or an explicit
//! "No data yet" placeholder when there is nothing to draw, so the page
//! never shows an empty or broken chart. Missing and non-finite values are
//! skipped (never plotted, never printed). Incomplete months and periods
//! are drawn lighter and hatched or dashed, and the legends say so.
//!
//! One file per chart family; every chart with a plot area starts from a
//! [`frame::Frame`] (size, margins, title, legend, hatch, y axis).

mod clv;
mod cohort_heatmap;
mod frame;
mod kpi_panels;
mod ltv_curves;
mod nps;
mod retention_curve;
mod segments;
mod tiers;
mod validation;

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::data::CohortCell;
use super::format::{self, escape};
use super::svg::Kind;

pub(crate) use clv::clv_histogram;
pub(crate) use cohort_heatmap::cohort_heatmap;
pub(crate) use kpi_panels::{kpi_panel, kpi_panel_specs};
pub(crate) use ltv_curves::ltv_curves;
pub(crate) use nps::{nps_by_cohort, nps_by_month, nps_retention, responses_by_month};
pub(crate) use retention_curve::retention_curve;
pub(crate) use segments::{segment_clv, segment_shares};
pub(crate) use tiers::{tier_moves, tier_sizes};
pub(crate) use validation::{bucket_key, is_overall, validation_bars};

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
        Kind::Points => format::fixed(v, 1),
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

/// Cells grouped by cohort.
fn by_cohort(cells: &[CohortCell]) -> BTreeMap<NaiveDate, Vec<&CohortCell>> {
    let mut map: BTreeMap<NaiveDate, Vec<&CohortCell>> = BTreeMap::new();
    for c in cells {
        map.entry(c.cohort_start).or_default().push(c);
    }
    map
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
}
