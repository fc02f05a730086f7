//! The per-run report of the retention pipeline: a self-contained HTML page
//! ([`render_html`]) and a terminal summary for `retention show`
//! ([`render_show`]).
//!
//! Both take a [`ReportData`], plain structs that the caller fills from the
//! run's tables and manifest (see [`data`]). The module has no Polars
//! dependency and no I/O: it returns strings, and the caller decides where
//! they go. [`load`] fills a [`ReportData`] from a run's tables.
//!
//! Layout: `data` (input structs; the CLV distribution's figures, computed
//! from a pass at a time over the values, in `clv_distribution`), `format`
//! (numbers and escaping), `svg`
//! (a small SVG writer, scales and axes), `charts` (one file per chart
//! family, all but the heatmap opened from one chart frame), `html` (the
//! page; the sections on the previous run, tiers, target lists and NPS in
//! `html/`), `show` (the terminal tables).

mod charts;
mod clv_distribution;
pub mod data;
mod format;
mod html;
pub mod load;
mod show;
mod svg;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod page_checks;
#[cfg(test)]
mod tests;

pub use data::{
    ClvDistribution, ClvSection, CohortCell, CurvePoint, KpiMonth, ModelParameter, NpsSection,
    ReportData, RunFacts, SegmentRow, SincePrevious, TargetSection, TierSection, ValidationBucket,
};
pub use html::{render_html, HEADINGS};
pub use show::render_show;
