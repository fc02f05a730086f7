//! Tests of the whole report: the HTML parses as XML and has every section,
//! no chart is empty, no label overlaps another, nothing prints NaN or
//! infinity, and the terminal summary matches its snapshots.
//!
//! Set `RETENTION_REPORT_PREVIEW=DIR` to also write the fixtures' reports
//! to DIR (for looking at them in a browser).

use chrono::NaiveDate;

use super::data::{ComparedFigure, NpsCounts};
use super::fixtures::{five_year, quarterly, small, tiny, weekly, WHOLE_RUN_SECONDS};
use super::html::{CLV_DISABLED, HEADINGS};
use super::html::{FIRST_RUN, NO_COMPARISON, NO_LISTS, NO_RESTATEMENTS, NO_SURVEYS, NO_TIERS};
use super::page_checks::{is_mark, section_of};
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

/// `n` with a comma every three digits, written here rather than taken
/// from the report's formatter.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Every chart has content, at least one mark of data, and no two labels
/// that overlap.
fn check_chart(svg: &roxmltree::Node<'_, '_>) {
    let id = svg.attribute("id").unwrap_or("?");
    let elements = svg.descendants().filter(|n| n.is_element()).count();
    // More than the svg itself, its title and a defs block.
    assert!(elements > 4, "svg {id} has no content");
    assert!(svg.descendants().any(is_mark), "svg {id} draws no data");
    let boxes: Vec<_> = svg
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| text_box(n).map(|b| (b, n.text().unwrap_or("").to_string())))
        .collect();
    for (i, (a, ta)) in boxes.iter().enumerate() {
        for (b, tb) in boxes.iter().skip(i + 1) {
            let overlap = a.0 < b.2 - 0.5 && b.0 < a.2 - 0.5 && a.1 < b.3 - 0.5 && b.1 < a.3 - 0.5;
            assert!(!overlap, "svg {id}: label {ta:?} overlaps {tb:?}");
        }
    }
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
            check_chart(svg);
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
    // histogram, the two segment charts, the validation bars, two tier
    // panels, three NPS panels and the NPS retention lines.
    assert_eq!(html.matches("<svg").count(), 19);
    for note in [NO_COMPARISON, FIRST_RUN, NO_TIERS, NO_LISTS, NO_SURVEYS] {
        assert!(!html.contains(note), "{note}");
    }
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

/// "Since the previous run" is the first section: the previous run, the
/// gates (those that fired highlighted, with what they measured), the
/// headline figures, the changed input and the largest restated values.
#[test]
fn since_previous_comes_first_with_gates_and_restatements() {
    let html = check_page(&five_year());
    let main = &html[html.find("<main>").expect("a main element") + "<main>".len()..];
    assert!(main.trim_start().starts_with("<section id=\"changes\""));
    let changes = section_of(&html, "changes");
    assert!(changes.contains("Previous run: <b>20240418T020000Z</b>"));
    assert!(changes.contains("its as of: <b>2024-04-18</b>"));
    assert!(changes.contains("Definitions: the same as the previous run"));
    assert!(changes.contains(
        "<tr class=\"flagged\"><td>restated_revenue_share</td><td>warn</td><td class=\"num\">\
         0.001</td><td class=\"num\">0.0042</td><td><span class=\"badge warn\">warned</span></td>"
    ));
    assert!(changes.contains(
        "<tr class=\"flagged\"><td>restated_counts</td><td>warn</td><td class=\"num\">0</td>\
         <td class=\"num\">30</td>"
    ));
    assert!(changes.contains("<tr><td>rows_read_drop</td>"));
    // The fixture's infinite measurement shows as a dash.
    assert!(changes.contains(
        "<td>clv_parameter_shift</td><td>warn</td><td class=\"num\">3</td><td class=\"num\">—</td>"
    ));
    assert!(html
        .contains("2 gates fired since the previous run: restated_revenue_share, restated_counts"));
    let (before, now) = (1_234_567.89f64, 1_240_112.35f64);
    assert!(changes.contains(&format!(
        "<td>Revenue</td><td class=\"num\">1,234,567.89</td><td class=\"num\">1,240,112.35</td>\
         <td class=\"num\">+5,544.46</td><td class=\"num\">+{:.1}%</td>",
        (now - before) / before * 100.0
    )));
    assert!(changes.contains("orders_2023.csv.gz</span></td><td>changed</td>"));
    // The largest restated value: 1,000 before, 1,000 + 3 × 25 now.
    assert!(changes.contains(
        "<td>kpis_monthly</td><td>month=2023-01-01</td><td>revenue</td><td class=\"num\">\
         1,000.00</td><td class=\"num\">1,075.00</td><td class=\"num\">+75.00</td>\
         <td class=\"num\">+7.5%</td>"
    ));
    // 25 listed and 5 more counted in a total; the first 20 shown.
    assert!(changes.contains("30 restated values in all (25 listed"));
    let shown = changes.matches("<td>month=2023-").count()
        + changes.matches("<td>cohort_month=2022-").count();
    assert_eq!(shown, 20);
    assert!(changes.contains("month=2023-10-01") && !changes.contains("month=2023-11-01"));
}

/// The first run of an output directory and a run older than the
/// comparison say so instead of comparing.
#[test]
fn first_run_and_older_runs_say_why_there_is_no_comparison() {
    let html = check_page(&small());
    let changes = section_of(&html, "changes");
    assert!(changes.contains(FIRST_RUN));
    assert!(changes.contains("<td>stale_input_days</td>"));
    assert!(!changes.contains("Restated values"));
    let html = check_page(&tiny());
    assert!(section_of(&html, "changes").contains(NO_COMPARISON));
    assert!(!html.contains("since the previous run:"));
}

/// No restated value reads as such; changed definitions list the settings
/// and say that nothing was restated; an accepted gate is highlighted.
#[test]
fn no_restatements_and_changed_definitions_read_as_such() {
    let mut data = five_year();
    let since = data.since_previous.as_mut().expect("compared");
    since.restatements.clear();
    for row in since
        .comparison
        .iter_mut()
        .filter(|r| r.section == "restated")
    {
        row.current = Some(0.0);
        row.status = "same".to_string();
    }
    let html = check_page(&data);
    assert!(section_of(&html, "changes").contains(NO_RESTATEMENTS));

    let since = data.since_previous.as_mut().expect("compared");
    since
        .comparison
        .retain(|r| r.section != "definitions" && r.section != "restated");
    since.comparison.push(ComparedFigure {
        section: "definitions".to_string(),
        item: "business.time_zone".to_string(),
        previous_text: Some("\"Europe/Berlin\"".to_string()),
        current_text: Some("\"UTC\"".to_string()),
        status: "changed".to_string(),
        ..ComparedFigure::default()
    });
    since.comparison.push(ComparedFigure {
        section: "restated".to_string(),
        item: "(all tables)".to_string(),
        status: "not_compared".to_string(),
        ..ComparedFigure::default()
    });
    since.accepted_changes = true;
    since.gates[0].outcome = "accepted".to_string();
    let html = check_page(&data);
    let changes = section_of(&html, "changes");
    assert!(changes.contains("<td>business.time_zone</td><td>Europe/Berlin</td><td>UTC</td>"));
    assert!(changes.contains("Restatements were not computed"));
    assert!(!changes.contains(NO_RESTATEMENTS));
    assert!(changes.contains("--accept-changes"));
    assert!(changes.contains("<tr class=\"flagged\"><td>rows_read_drop</td>"));
}

/// The customers per tier at as_of are those of as_of's month in the
/// migration, and the last complete month's moves are a matrix.
#[test]
fn tier_section_counts_customers_per_tier_and_last_month_moves() {
    let data = five_year();
    let tiers = data.tiers.as_ref().expect("tiers");
    let last = tiers
        .migration
        .iter()
        .map(|m| m.month)
        .max()
        .expect("months");
    let april = NaiveDate::from_ymd_opt(2024, 4, 1).expect("a date");
    let customers = |month, from: Option<&str>, to: &str| -> i64 {
        tiers
            .migration
            .iter()
            .filter(|m| m.month == month && m.to_tier == to)
            .filter(|m| from.is_none_or(|f| m.from_tier == f))
            .map(|m| m.customers)
            .sum()
    };
    let html = check_page(&data);
    let section = section_of(&html, "tiers");
    for tier in ["Bronze", "Silver", "Gold"] {
        let n = customers(last, None, tier);
        assert!(
            section.contains(&format!(
                "<td>{tier}</td><td class=\"num\">{}</td>",
                thousands(n)
            )),
            "{tier}: {n}"
        );
    }
    assert!(section.contains("Moves in Apr 2024 (the last complete month)"));
    let up = customers(april, Some("Bronze"), "Silver");
    let down = customers(april, Some("Silver"), "Bronze");
    assert!(section.contains(&format!("<span class=\"good\">{}</span>", thousands(up))));
    assert!(section.contains(&format!("<span class=\"bad\">{}</span>", thousands(down))));
    assert!(section.contains("chart-tier-sizes") && section.contains("chart-tier-moves"));
    assert!(section_of(&check_page(&tiny()), "tiers").contains(NO_TIERS));
}

/// Each list: its size and share, its rule with the run's settings, its
/// action and its customer of highest value.
#[test]
fn target_lists_show_size_rule_action_and_top_customers() {
    let data = five_year();
    let html = check_page(&data);
    let s = section_of(&html, "targets");
    assert!(s.contains("<td>win_back</td><td class=\"num\">4,321</td>"));
    let share = 4_321.0 / data.facts.customers as f64 * 100.0;
    assert!(s.contains(&format!("<td class=\"num\">{share:.1}%</td>")));
    assert!(s.contains("win-back offer: invite the lapsed customer back"));
    assert!(s.contains("no order in the last 365 days"));
    assert!(s.contains("CLV in the top 20% (clv_quantile ≥ 0.8), P(alive) below 0.5"));
    assert!(s.contains("more than 47 days since it (the median days from first to second order)"));
    assert!(s.contains("in the top tier or with CLV in the top 10% (clv_quantile ≥ 0.9)"));
    assert!(s.contains("win_back: top 10 by revenue"));
    assert!(s.contains("<td class=\"num\">1</td><td>C000100</td><td class=\"num\">3,774.46</td>"));
    // vip by CLV, with revenue beside it (60% of the CLV in the fixture).
    assert!(s.contains("vip: top 10 by CLV"));
    assert!(s.contains(&format!(
        "<td class=\"num\">1</td><td>C000100</td><td class=\"num\">5,432.10</td>\
         <td class=\"num\">{}</td>",
        "3,259.26"
    )));
    let html = check_page(&small());
    assert!(section_of(&html, "targets").contains("No customer is on this list."));
    assert!(section_of(&check_page(&tiny()), "targets").contains(NO_LISTS));
}

/// NPS over all responses, per tier, per month (a dash where a month has
/// none or a NaN) and the retention of promoters.
#[test]
fn nps_section_shows_months_cohorts_tiers_and_retention() {
    let data = five_year();
    let nps = data.nps.as_ref().expect("surveys");
    let html = check_page(&data);
    let s = section_of(&html, "nps");
    let of = |c: &NpsCounts| 100.0 * (c.promoters - c.detractors) as f64 / c.responses as f64;
    let sum = |f: fn(&NpsCounts) -> i64| nps.monthly.iter().map(|m| f(&m.counts)).sum::<i64>();
    let all =
        100.0 * (sum(|c| c.promoters) - sum(|c| c.detractors)) as f64 / sum(|c| c.responses) as f64;
    assert!(s.contains(&format!(
        "All responses: NPS <b>{all:.1}</b> ({} responses)",
        thousands(sum(|c| c.responses))
    )));
    for t in nps.by_tier.as_ref().expect("tiers") {
        assert!(s.contains(&format!(
            "<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            t.tier, t.respondents, t.counts.responses
        )));
        assert!(s.contains(&format!("<td class=\"num\">{:.1}</td>", of(&t.counts))));
    }
    let april = &nps.monthly[58].counts;
    assert!(s.contains(&format!("Apr 2024\nNPS: {:.1}", of(april))));
    assert!(s.contains("Jun 2019\nNPS: —"), "no responses yet");
    assert!(s.contains("Apr 2020\nNPS: —"), "the fixture's NaN");
    let p1 = nps
        .retention
        .iter()
        .find(|r| r.category == "promoter" && r.months_after == 1)
        .expect("promoters, month 1");
    assert!(s.contains(&format!(
        "promoters (9–10), month 1: {:.1}% ordered ({} of {})",
        100.0 * p1.ordered as f64 / p1.respondents as f64,
        p1.ordered,
        p1.respondents
    )));
    assert!(s.contains("chart-nps-retention") && s.contains("chart-nps-cohorts"));
    assert!(section_of(&check_page(&tiny()), "nps").contains(NO_SURVEYS));
}

/// The stage table's last row: the whole run's wall time where the run
/// recorded it (stages overlap, so it is not their sum), else their sum.
#[test]
fn whole_run_row_is_the_wall_time_not_the_stages_sum() {
    let whole_run_cell = |data: &ReportData| {
        let html = render_html(data);
        let row = &html[html.find("Whole run").expect("a whole-run row")..];
        let cell = &row[row.find("<td").unwrap()..];
        cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].to_string()
    };
    let mut data = small();
    let sum: f64 = data.facts.stages.iter().map(|s| s.1).sum();
    assert!((sum - 15.81).abs() < 1e-9 && WHOLE_RUN_SECONDS < sum);
    assert_eq!(whole_run_cell(&data), "14.90 s");
    data.facts.whole_run_seconds = None;
    assert_eq!(whole_run_cell(&data), "15.81 s");
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
