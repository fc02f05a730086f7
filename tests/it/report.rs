//! The run's HTML report and `retention show`, on the real binary.

use std::path::Path;
use std::process::Command;

use retention::report::HEADINGS;

use crate::support::{retention, Generate};

/// A five-year generated history, run through the pipeline.
fn five_year_run(d: &Path) {
    Generate::new(1500, 21, 60)
        .start("2019-01-01")
        .write(d, "orders.csv");
    crate::support::write_pipeline(d, "orders.csv", "");
    let o = retention(&["run", "pipeline.toml"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("report.html"));
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
        assert!(svg.children().any(|c| c.is_element()), "an empty chart");
    }
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
        let file = std::fs::File::open(run_dir.join("cohort_retention.parquet")).unwrap();
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
