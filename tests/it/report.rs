//! The run's HTML report and `retention show`, on the real binary.

use std::path::Path;
use std::process::Command;

use retention::report::HEADINGS;
use retention::tables::schema::col;
use retention::tables::schema::customers::CUSTOMERS;
use retention::tables::schema::nps::{NPS_BY_TIER, NPS_MONTHLY};
use retention::tables::schema::targets::{AT_RISK_HIGH_VALUE, REENGAGE_NEW, VIP, WIN_BACK};

use crate::support::{ints, optional_texts, read_table, retention, texts, Generate};

/// A five-year generated history with survey responses, run through the
/// pipeline: three loyalty tiers, the target lists, NPS and CLV.
fn five_year_run(d: &Path) {
    Generate::new(1500, 21, 60)
        .start("2019-01-01")
        .surveys("surveys.csv")
        .write(d, "orders.csv");
    crate::support::write_pipeline(d, "orders.csv", "\n[surveys]\npath = \"surveys.csv\"");
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("report.html"));
}

#[path = "../../src/report/page_checks.rs"]
mod page_checks;
use page_checks::{is_mark, section_of as section};

/// A comma every three digits of a whole number (written here, not taken
/// from the report).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Money as the report prints it: two decimals, grouped digits.
fn money(v: f64) -> String {
    let text = format!("{:.2}", v.abs());
    let (whole, cents) = text.split_once('.').unwrap();
    let sign = if v < 0.0 && text != "0.00" { "-" } else { "" };
    format!("{sign}{}.{cents}", grouped(whole.parse().unwrap()))
}

/// The sections added for tiers, target lists and NPS have their content
/// (charts, every list), not a note that they do not apply.
fn assert_sections_have_content(html: &str) {
    for (id, charts) in [("tiers", 2), ("targets", 0), ("nps", 4)] {
        let s = section(html, id);
        assert!(!s.contains("class=\"empty\""), "section `{id}` is empty");
        assert_eq!(s.matches("<svg").count(), charts, "charts of `{id}`");
    }
    let targets = section(html, "targets");
    for list in [&WIN_BACK, &AT_RISK_HIGH_VALUE, &REENGAGE_NEW, &VIP] {
        assert!(
            targets.contains(&format!("<td>{}</td>", list.name)),
            "{}",
            list.name
        );
    }
    let changes = section(html, "changes");
    assert!(changes.contains("<h3>Gates</h3>"));
    assert!(changes.contains("<td>stale_input_days</td>"));
}

/// The report's figures against the published tables, read here: the
/// customers per tier, the top win-back customer, NPS over all responses
/// and per tier.
fn assert_figures_match_the_tables(html: &str, out: &Path) {
    let tiers = optional_texts(&read_table(out, CUSTOMERS.name), col::TIER);
    let by_tier = read_table(out, NPS_BY_TIER.name);
    for tier in texts(&by_tier, col::TIER) {
        let n = tiers
            .iter()
            .filter(|t| t.as_deref() == Some(tier.as_str()))
            .count();
        let shown = format!(
            "<td>{tier}</td><td class=\"num\">{}</td>",
            grouped(n as u64)
        );
        assert!(section(html, "tiers").contains(&shown), "{shown}");
    }
    let win_back = read_table(out, WIN_BACK.name);
    let revenue = crate::support::numbers(&win_back, col::REVENUE);
    let ids = texts(&win_back, col::CUSTOMER_ID);
    let best = (0..revenue.len())
        .max_by(|&a, &b| revenue[a].total_cmp(&revenue[b]).then(ids[b].cmp(&ids[a])))
        .expect("customers to win back");
    assert!(section(html, "targets").contains(&format!(
        "<td class=\"num\">1</td><td>{}</td><td class=\"num\">{}</td>",
        ids[best],
        money(revenue[best])
    )));
    let monthly = read_table(out, NPS_MONTHLY.name);
    let sum = |name: &str| ints(&monthly, name).iter().sum::<i64>();
    let (promoters, detractors) = (sum(col::PROMOTERS), sum(col::DETRACTORS));
    let nps = 100.0 * (promoters - detractors) as f64 / sum(col::RESPONSES) as f64;
    assert!(section(html, "nps").contains(&format!("All responses: NPS <b>{nps:.1}</b>")));
}

fn assert_well_formed_report(html: &str) {
    let body = html
        .trim_start()
        .strip_prefix("<!DOCTYPE html>")
        .unwrap_or(html);
    let doc = roxmltree::Document::parse(body).expect("the report parses as XML");
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    for heading in HEADINGS {
        assert!(text.contains(heading), "section `{heading}` missing");
    }
    assert!(
        !html.contains("NaN") && !html.contains("inf<"),
        "NaN or inf in the report"
    );
    let svgs: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("svg"))
        .collect();
    assert!(svgs.len() >= 8, "only {} charts", svgs.len());
    for svg in svgs {
        let id = svg.attribute("id").unwrap_or("?");
        assert!(svg.descendants().any(is_mark), "chart {id} draws no data");
    }
    // "Since the previous run" comes first, right after the header.
    let first = html.find("<section id=").expect("sections");
    assert!(html[first..].starts_with("<section id=\"changes\""));
    assert!(!html.contains("<script"), "the report needs no JavaScript");
}

#[test]
fn every_run_has_a_well_formed_report_and_show_prints_the_headline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_year_run(d);
    let report = d.join("out/current/report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert_well_formed_report(&html);
    assert_sections_have_content(&html);
    assert_figures_match_the_tables(&html, &d.join("out"));
    assert!(section(&html, "changes")
        .contains("No previous run: this is the first run in this output directory"));

    // `retention report` rebuilds the same file from the published tables.
    let run_dir = std::fs::canonicalize(d.join("out/current")).unwrap();
    std::fs::remove_file(&report).unwrap();
    let o = retention(&["report", run_dir.to_str().unwrap()], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), html);

    // It also takes the output root, and `out` by default (the default
    // `[output] dir`), like `show`.
    for args in [&["report", "out"][..], &["report"][..]] {
        std::fs::remove_file(&report).unwrap();
        let o = retention(args, d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(&report).unwrap(), html, "{args:?}");
    }

    for args in [&["show", "out"][..], &["show"][..]] {
        let o = retention(args, d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(shown.contains("Last complete month"), "{shown}");
        assert!(shown.contains("Retention curve"), "{shown}");
        assert!(shown.contains("Top segments"), "{shown}");
    }

    let o = retention(&["show", "nowhere"], d);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn the_sample_run_has_a_well_formed_report() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = crate::support::repo_path("pipelines/sample.toml");
    let out = dir.path().join("out");
    let o = retention(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("current/report.html")).unwrap();
    assert_well_formed_report(&html);
    // The sample has CLV: its section shows the model, not the placeholder.
    assert!(!html.contains("CLV stage disabled or not yet available"));
    // It fits all three purchase models (`model = "auto"`): the parameter
    // table lists each with its fit status, and the holdout section shows
    // the chosen model's nine buckets, not all 27 rows.
    for model in ["bg_nbd", "pareto_nbd", "mbg_nbd", "gamma_gamma"] {
        assert!(html.contains(&format!(">{model}<")), "{model}");
    }
    assert!(html.contains("Scores customers"));
    let chosen = ["bg_nbd", "pareto_nbd", "mbg_nbd"]
        .into_iter()
        .find(|m| html.contains(&format!("Shown for {m}, the model that scores")))
        .expect("the holdout section names the chosen model");
    let section = &html[html.find("<h3>Holdout validation</h3>").unwrap()..];
    // "7+" once in the chart and once in the table: one model's buckets.
    assert_eq!(
        section.matches(">7+<").count(),
        2,
        "{chosen}: one model's buckets"
    );
}

/// The sample run twice into one output directory: the first report says
/// it is the first run, the second names the first run, finds no restated
/// value and highlights the staleness gate (the sample ends years before
/// today).
#[test]
fn a_second_sample_run_reports_what_changed_since_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = crate::support::repo_path("pipelines/sample.toml");
    let out = dir.path().join("out");
    let run = || {
        let args = [
            "run",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ];
        let o = retention(&args, dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join("current/report.html")).unwrap()
    };
    let first = run();
    assert!(section(&first, "changes")
        .contains("No previous run: this is the first run in this output directory"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("current/_manifest.json")).unwrap())
            .unwrap();
    let first_id = manifest["run_id"].as_str().unwrap().to_string();

    let html = run();
    assert_well_formed_report(&html);
    let changes = section(&html, "changes");
    assert!(
        changes.contains(&format!("Previous run: <b>{first_id}</b>")),
        "{changes}"
    );
    assert!(changes.contains("No restated values"));
    assert!(changes.contains("Definitions: the same as the previous run"));
    assert!(changes.contains("<tr class=\"flagged\"><td>stale_input_days</td>"));
    assert!(changes.contains("<span class=\"badge warn\">warned</span>"));
    assert!(html.contains("1 gate fired since the previous run: stale_input_days"));
    assert_sections_have_content(&html);
    assert_figures_match_the_tables(&html, &out);
    if let Ok(keep) = std::env::var("RETENTION_KEEP_SAMPLE_REPORT") {
        std::fs::copy(out.join("current/report.html"), keep).unwrap();
    }
}

/// Renders the report in headless Chromium when it is installed (CI
/// installs it), so a broken page would show as a failed or blank render.
#[test]
fn report_renders_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        eprintln!("chromium not installed: render test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    five_year_run(d);
    let report = std::fs::canonicalize(d.join("out/current/report.html")).unwrap();
    let png = d.join("report.png");
    let profile = d.join("profile");
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--window-size=1400,4000",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", report.display()),
        ])
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert_eq!(&bytes[1..4], b"PNG");
    // A blank page compresses to a few kB; the report is far richer.
    assert!(
        bytes.len() > 100_000,
        "suspiciously small render: {} bytes",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("RETENTION_KEEP_RENDER") {
        std::fs::copy(&png, keep).unwrap();
    }
}

/// A two-year history with weekly, then quarterly cohorts: the run
/// publishes `cohort_week` / `cohort_quarter`, and the report, `retention
/// report` and `retention show` read them back and say week / quarter.
#[test]
fn weekly_and_quarterly_runs_report_and_show_in_their_unit() {
    for (unit, column, axis, curve_title) in [
        (
            "week",
            "cohort_week",
            "Weeks since first order",
            "all weekly cohorts, complete weeks only",
        ),
        (
            "quarter",
            "cohort_quarter",
            "Quarters since first order",
            "all quarterly cohorts, complete quarters only",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        Generate::new(600, 5, 24)
            .start("2022-01-01")
            .write(d, "orders.csv");
        crate::support::write_pipeline(d, "orders.csv", &format!("cohort_period = \"{unit}\""));
        let o = retention(&["run", "pipeline.toml"], d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

        let run_dir = std::fs::canonicalize(d.join("out/current")).unwrap();
        let file =
            std::fs::File::open(run_dir.join("cohort_retention/part-00000.parquet")).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        use parquet::file::reader::FileReader;
        let meta = reader.metadata().file_metadata();
        let names: Vec<&str> = meta
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(names[0], column, "{names:?}");
        assert!(names.contains(&"unbounded_retention_rate"));
        assert!(!names.contains(&"cohort_month"));
        let kv = meta.key_value_metadata().cloned().unwrap_or_default();
        assert!(
            kv.iter()
                .any(|e| e.key == "retention.cohort_period" && e.value.as_deref() == Some(unit)),
            "{kv:?}"
        );

        let report = run_dir.join("report.html");
        let html = std::fs::read_to_string(&report).unwrap();
        assert_well_formed_report(&html);
        assert!(html.contains(axis), "{unit}: axis title");
        if unit == "week" {
            assert!(
                html.contains("Only the latest 53 of"),
                "weekly heatmap limited"
            );
        }
        std::fs::remove_file(&report).unwrap();
        let o = retention(&["report", run_dir.to_str().unwrap()], d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(&report).unwrap(), html);

        let o = retention(&["show", "out"], d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(shown.contains(curve_title), "{shown}");
        assert!(shown.contains("Or later"), "{shown}");
    }
}

#[test]
fn an_unknown_cohort_period_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("orders.csv"),
        "order_id,customer_id,order_ts,amount\n",
    )
    .unwrap();
    crate::support::write_pipeline(d, "orders.csv", "cohort_period = \"fortnight\"");
    let o = retention(&["validate", "pipeline.toml"], d);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("fortnight") && err.contains("week"), "{err}");
}
