//! Tests of the whole report: the HTML parses as XML and has every section,
//! no chart is empty, no label overlaps another, nothing prints NaN or
//! infinity, and the terminal summary matches its snapshots.
//!
//! Set `RETENTION_REPORT_PREVIEW=DIR` to also write the fixtures' reports
//! to DIR (for looking at them in a browser).

use super::fixtures::{five_year, quarterly, small, tiny, weekly};
use super::html::{CLV_DISABLED, HEADINGS};
use super::{render_html, render_show, ReportData};

/// Parses the page as XML (without its doctype) and hands it to `check`.
fn with_xml(html: &str, check: impl FnOnce(&roxmltree::Document<'_>)) {
    let body = html
        .strip_prefix("<!DOCTYPE html>")
        .expect("the page starts with a doctype");
    let doc = match roxmltree::Document::parse(body) {
        Ok(doc) => doc,
        Err(e) => panic!("the report is not well-formed XML: {e}"),
    };
    check(&doc);
}

/// Words that must never appear in any output.
fn assert_no_nan(text: &str) {
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let w = word.to_ascii_lowercase();
        assert!(
            w != "nan" && w != "inf" && w != "infinity",
            "output contains {word:?}"
        );
    }
}

/// Font size of a chart text by its class (as set in the page's CSS).
fn font_size(class: &str) -> f64 {
    if class.contains("axis-title") || class.contains("label") {
        12.0
    } else if class.contains("cell") {
        10.0
    } else {
        11.0
    }
}

/// The estimated box (x0, y0, x1, y1) of an unrotated SVG text element.
fn text_box(node: roxmltree::Node<'_, '_>) -> Option<(f64, f64, f64, f64)> {
    if node.attribute("transform").is_some() {
        return None;
    }
    let x: f64 = node.attribute("x")?.parse().ok()?;
    let y: f64 = node.attribute("y")?.parse().ok()?;
    let size = font_size(node.attribute("class").unwrap_or(""));
    let text = node.text().unwrap_or("");
    // The same estimate the layout uses is generous; measure a bit tighter
    // so that the test flags real collisions, not near misses.
    let w = text.chars().count() as f64 * size * 0.55;
    let x0 = match node.attribute("text-anchor") {
        Some("middle") => x - w / 2.0,
        Some("end") => x - w,
        _ => x,
    };
    Some((x0, y - size * 0.75, x0 + w, y + size * 0.2))
}

/// Checks shared by every rendered page.
fn check_page(data: &ReportData) -> String {
    let html = render_html(data);
    assert_no_nan(&html);
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("<img"), "no external images");
    assert!(!html.contains("<link"), "no external style sheets");
    for url in html.match_indices("http") {
        let rest = &html[url.0..];
        assert!(
            rest.starts_with("http://www.w3.org/2000/svg")
                || rest.starts_with("http://www.w3.org/1999/xhtml"),
            "only namespace URLs, found {}",
            &rest[..rest.len().min(60)]
        );
    }
    with_xml(&html, |doc| {
        let h2: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("h2"))
            .map(|n| n.text().unwrap_or("").to_string())
            .collect();
        for heading in HEADINGS {
            assert!(
                h2.iter().any(|h| h == heading),
                "missing heading {heading:?}"
            );
        }
        let svgs: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("svg"))
            .collect();
        assert_eq!(svgs.len(), html.matches("<svg").count());
        for svg in &svgs {
            let id = svg.attribute("id").unwrap_or("?");
            let elements = svg.descendants().filter(|n| n.is_element()).count();
            // More than the svg itself, its title and a defs block.
            assert!(elements > 4, "svg {id} has no content");
            // No two labels of one chart overlap.
            let boxes: Vec<_> = svg
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| text_box(n).map(|b| (b, n.text().unwrap_or("").to_string())))
                .collect();
            for (i, (a, ta)) in boxes.iter().enumerate() {
                for (b, tb) in boxes.iter().skip(i + 1) {
                    let overlap =
                        a.0 < b.2 - 0.5 && b.0 < a.2 - 0.5 && a.1 < b.3 - 0.5 && b.1 < a.3 - 0.5;
                    assert!(!overlap, "svg {id}: label {ta:?} overlaps {tb:?}");
                }
            }
        }
        // Ids are unique across the page (patterns are referenced by id).
        let mut ids: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("id"))
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate ids");
        // Segment names are escaped in the source and intact in the text.
        let text: String = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(text.contains("Can't lose them"));
    });
    assert!(html.contains("Can&#39;t lose them"));
    html
}

#[test]
fn five_year_report_is_well_formed_and_complete() {
    let data = five_year();
    assert_eq!(data.cohorts.iter().filter(|c| c.period == 0).count(), 60);
    let html = check_page(&data);
    assert!(!html.contains(CLV_DISABLED));
    assert!(
        !html.contains("No data yet"),
        "five years of data leave no empty chart"
    );
    // Six KPI panels, the heatmap, the curve, the LTV curves, the CLV
    // histogram, the two segment charts and the validation bars.
    assert_eq!(html.matches("<svg").count(), 13);
    assert!(html.contains("clipped at the 99th percentile"));
}

/// Customers whose CLV could not be computed are named in a banner, not
/// silently left out of the distribution.
#[test]
fn uncomputable_clv_gets_a_banner() {
    let mut data = five_year();
    assert!(!check_page(&data).contains("not computed"));
    data.clv.as_mut().unwrap().uncomputable = 1234;
    let html = check_page(&data);
    assert!(html.contains("not computed"));
    assert!(html.contains("of 1,234 customers could not be computed"));
}

/// The forecast table shows each month with its intervals, and a dash
/// where a month (or its interval) is null.
#[test]
fn forecast_shows_months_with_their_intervals() {
    let mut data = five_year();
    let html = check_page(&data);
    assert!(html.contains("<h3>Forecast</h3>"));
    // Month 1 of the fixture: 390 orders (370.5 – 409.5), revenue 12,090.00.
    assert!(html.contains("<td class=\"num\">370.5 – 409.5</td>"));
    assert!(html.contains("<td class=\"num\">11,310.00 – 12,870.00</td>"));
    let clv = data.clv.as_mut().unwrap();
    clv.forecast[0].orders_interval = None;
    let html = check_page(&data);
    assert!(!html.contains("370.5 – 409.5"));
    data.clv.as_mut().unwrap().forecast.clear();
    assert!(!check_page(&data).contains("<h3>Forecast</h3>"));
}

#[test]
fn tiny_report_has_placeholders_not_broken_charts() {
    let html = check_page(&tiny());
    assert!(html.contains(CLV_DISABLED));
    assert!(html.contains("No data yet"));
    assert!(html.contains("reconciliation checks failed"));
    // The segment table shows a dash where CLV is missing.
    assert!(html.contains("<td class=\"num\">—</td>"));
    // A path with markup-like characters is escaped.
    assert!(html.contains("orders &lt;new&gt;.csv"));
}

#[test]
fn weekly_report_labels_weeks_and_keeps_the_heatmap_to_a_year() {
    let data = weekly();
    assert_eq!(data.cohorts.iter().filter(|c| c.period == 0).count(), 157);
    let html = check_page(&data);
    assert!(html.contains("Only the latest 53 of 157 weekly cohorts are shown"));
    assert!(html.contains("Weeks since first order"));
    // ISO week labels; the oldest cohorts are left out of the heatmap.
    let heatmap = &html[html.find("<section id=\"cohorts\"").unwrap()..];
    let heatmap = &heatmap[..heatmap.find("</section>").unwrap()];
    assert!(heatmap.contains("2024-W"), "labels are ISO weeks");
    assert!(
        !heatmap.contains("2021-W18 cohort"),
        "the oldest cohort is not drawn"
    );
    assert!(
        !heatmap.contains("Months since"),
        "no month wording in the heatmap"
    );
    let rows = heatmap.matches("· week 0:").count();
    assert_eq!(rows, 53);
    let show = render_show(&data);
    assert!(show.contains("all weekly cohorts, complete weeks only"));
    assert!(show.contains("│ Week ┆"), "{show}");
}

#[test]
fn quarterly_report_labels_quarters() {
    let data = quarterly();
    let html = check_page(&data);
    assert!(html.contains("Quarters since first order"));
    assert!(html.contains("2022 Q3"));
    assert!(html.contains("2024 Q2 cohort"));
    let show = render_show(&data);
    assert!(show.contains("all quarterly cohorts, complete quarters only"));
    assert!(show.contains("│ Quarter ┆"), "{show}");
}

#[test]
fn small_report_is_well_formed() {
    check_page(&small());
}

#[test]
fn empty_report_is_well_formed() {
    let data = ReportData {
        segments: tiny().segments,
        ..ReportData::default()
    };
    let html = check_page(&data);
    assert!(html.contains("No data yet"));
    assert!(html.contains("No month is complete yet"));
}

#[test]
fn show_never_prints_nan() {
    for data in [
        five_year(),
        small(),
        tiny(),
        weekly(),
        quarterly(),
        ReportData::default(),
    ] {
        assert_no_nan(&render_show(&data));
    }
}

#[test]
fn show_snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_snapshot!("show_small", render_show(&small()));
        insta::assert_snapshot!("show_tiny", render_show(&tiny()));
    });
}

#[test]
fn write_preview_when_asked() {
    let Some(dir) = std::env::var_os("RETENTION_REPORT_PREVIEW") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    for (name, data) in [
        ("report5y.html", five_year()),
        ("report_small.html", small()),
        ("report_tiny.html", tiny()),
        ("report_weekly.html", weekly()),
        ("report_quarterly.html", quarterly()),
    ] {
        std::fs::write(dir.join(name), render_html(&data)).expect("preview written");
    }
    std::fs::write(dir.join("show5y.txt"), render_show(&five_year())).expect("preview written");
}
