//! Hardening from issue 11: bounded calendars (black-box runs under a
//! memory cap), range-checked settings (every out-of-range key is exit 2
//! naming the key; random values never panic) and terminal-safe output
//! (no escape sequence from a file, name or value reaches the terminal).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use retention::config::Pipeline;

use crate::support::{retention, stderr, stdout, PipelineFile, ORDER_COLUMNS};

/// Address-space cap for the runs that used to take 8.8 GB (wide calendar)
/// and 23 GB (far as_of): far below those, ample for a bounded run.
const MEMORY_CAP_BYTES: u64 = 2 << 30;

/// The binary under an address-space limit (`prlimit --as`, or `ulimit -v`
/// in a shell where util-linux is missing).
fn capped(args: &[&str], cwd: &Path) -> Output {
    let binary = env!("CARGO_BIN_EXE_retention");
    let mut command = if Command::new("prlimit").arg("--version").output().is_ok() {
        let mut c = Command::new("prlimit");
        c.arg(format!("--as={MEMORY_CAP_BYTES}"))
            .arg("--")
            .arg(binary)
            .args(args);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "ulimit -v {} && exec \"$0\" \"$@\"",
                MEMORY_CAP_BYTES / 1024
            ))
            .arg(binary)
            .args(args);
        c
    };
    command.current_dir(cwd).output().expect("the binary runs")
}

/// Not a crash: no panic text, no abort or signal.
fn assert_no_crash(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{what}: {err}"
    );
    assert!(
        matches!(o.status.code(), Some(0..=2)),
        "{what}: status {:?}\n{err}",
        o.status
    );
}

/// Writes `orders.csv` with one order per (customer, date, amount).
fn write_orders(dir: &Path, orders: &[(&str, &str, &str)]) {
    let mut text = String::from("order_id,customer_id,order_ts,amount\n");
    for (i, (customer, date, amount)) in orders.iter().enumerate() {
        text.push_str(&format!("o{i},{customer},{date},{amount}\n"));
    }
    std::fs::write(dir.join("orders.csv"), text).unwrap();
}

/// A pipeline over `orders.csv` with `business` lines under `[business]`
/// and `rest` after it (more sections).
fn orders_pipeline(dir: &Path, business: &str, rest: &str) -> PathBuf {
    PipelineFile::over("orders.csv")
        .business(business)
        .rest(rest)
        .write(dir)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Calendar months from the month of `a` to the month of `b`, both counted.
fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    (b.year() as i64 - a.year() as i64) * 12 + b.month() as i64 - a.month() as i64 + 1
}

/// ISO weeks (Monday to Sunday) from the week of `a` to the week of `b`.
fn weeks_between(a: NaiveDate, b: NaiveDate) -> i64 {
    let monday =
        |d: NaiveDate| d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64);
    (monday(b) - monday(a)).num_days() / 7 + 1
}

fn quarters_between(a: NaiveDate, b: NaiveDate) -> i64 {
    let quarter = |d: NaiveDate| d.year() as i64 * 4 + d.month0() as i64 / 3;
    quarter(b) - quarter(a) + 1
}

/// The span a run is refused for, as its error names it: the cohort unit's
/// periods when they exceed 1,200, else the months.
fn refused_span(unit: &str, first: NaiveDate, as_of: NaiveDate) -> Option<String> {
    let periods = match unit {
        "week" => weeks_between(first, as_of),
        "quarter" => quarters_between(first, as_of),
        _ => months_between(first, as_of),
    };
    let months = months_between(first, as_of);
    if periods > 1200 {
        Some(format!("{periods} {unit}s"))
    } else if months > 1200 {
        Some(format!("{months} months"))
    } else {
        None
    }
}

/// Two orders three centuries apart (the accepted date range's ends) used
/// to take 8.8 GB with weekly cohorts; now every unit fails at once with
/// an error naming the first order, as_of and the limit, under a 2 GiB cap.
#[test]
fn wide_calendar_fails_clearly_under_a_memory_cap() {
    for unit in ["week", "month", "quarter"] {
        let dir = tempfile::tempdir().unwrap();
        write_orders(
            dir.path(),
            &[("a", "1900-01-01", "10.00"), ("b", "2200-12-31", "20.00")],
        );
        orders_pipeline(dir.path(), &format!("cohort_period = \"{unit}\""), "");
        let o = capped(&["run", "pipeline.toml"], dir.path());
        assert_no_crash(&o, unit);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{unit}: {err}");
        let span = refused_span(unit, date("1900-01-01"), date("2200-12-31")).unwrap();
        for part in ["1900-01-01", "2200-12-31", &span, "at most 1200"] {
            assert!(err.contains(part), "{unit}: `{part}` missing in {err}");
        }
        assert!(
            !dir.path().join("out/current").exists(),
            "{unit}: published"
        );
    }
}

/// A span just inside every limit runs to completion under the cap, with
/// dimensions (each slice has a grid of its own); one period more fails.
#[test]
fn calendar_at_the_limit_runs_within_the_cap() {
    for (unit, first, last_ok) in [
        ("month", "1925-01-15", "2024-12-31"),
        ("week", "2001-01-08", "2024-01-01"),
    ] {
        let (first_date, last_date) = (date(first), date(last_ok));
        assert_eq!(refused_span(unit, first_date, last_date), None);
        // The next period is refused.
        let next = match unit {
            "week" => last_date + chrono::Duration::days(7),
            _ => last_date + chrono::Duration::days(1),
        };
        assert!(refused_span(unit, first_date, next).is_some());

        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("order_id,customer_id,order_ts,amount,channel\n");
        // A customer in many cohorts and channels, so the grids fill.
        let mut day = first_date;
        let mut i = 0;
        while day <= last_date {
            text.push_str(&format!("o{i},c{},{day},12.50,ch{}\n", i % 50, i % 7));
            day += chrono::Duration::days(97);
            i += 1;
        }
        text.push_str(&format!("last,c0,{last_date},1.00,ch0\n"));
        std::fs::write(dir.path().join("orders.csv"), text).unwrap();
        let path = orders_pipeline(dir.path(), &format!("cohort_period = \"{unit}\""), "");
        let pipeline_text = std::fs::read_to_string(&path).unwrap().replace(
            "order_id = \"order_id\"",
            "order_id = \"order_id\"\ndimensions = [\"channel\"]",
        );
        std::fs::write(&path, pipeline_text).unwrap();

        let o = capped(&["run", "pipeline.toml"], dir.path());
        assert_no_crash(&o, unit);
        assert_eq!(o.status.code(), Some(0), "{unit}: {}", stderr(&o));

        let next_text = next.to_string();
        let o = capped(&["run", "pipeline.toml", "--as-of", &next_text], dir.path());
        assert_eq!(o.status.code(), Some(1), "{unit}: {}", stderr(&o));
        assert!(stderr(&o).contains("at most 1200"), "{}", stderr(&o));
    }
}

/// `--as-of 9999-12-31` was killed at 23 GB; as_of is now range-checked
/// on the command line and in the pipeline (exit 2), and an in-range but
/// far as_of fails the calendar bound (exit 1), all under the cap.
#[test]
fn far_as_of_is_refused_under_a_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    write_orders(
        dir.path(),
        &[("a", "2024-01-05", "10.00"), ("b", "2024-03-07", "20.00")],
    );
    orders_pipeline(dir.path(), "", "");
    for as_of in ["9999-12-31", "2201-01-01", "1899-12-31", "0001-01-01"] {
        let o = capped(&["run", "pipeline.toml", "--as-of", as_of], dir.path());
        assert_no_crash(&o, as_of);
        assert_eq!(o.status.code(), Some(2), "{as_of}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("--as-of") && err.contains("2200-12-31"),
            "{err}"
        );
    }
    for as_of in ["9999-12-31", "1899-12-31"] {
        let other = tempfile::tempdir().unwrap();
        write_orders(other.path(), &[("a", "2024-01-05", "10.00")]);
        orders_pipeline(other.path(), &format!("as_of = {as_of}"), "");
        let o = capped(&["run", "pipeline.toml"], other.path());
        assert_eq!(o.status.code(), Some(2), "{as_of}: {}", stderr(&o));
        assert!(stderr(&o).contains("[business] as_of"), "{}", stderr(&o));
    }
    // The last accepted as_of: in range, but 2,112 months after the data.
    let o = capped(
        &["run", "pipeline.toml", "--as-of", "2200-12-31"],
        dir.path(),
    );
    assert_no_crash(&o, "2200-12-31");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let months = months_between(date("2024-01-05"), date("2200-12-31"));
    assert!(
        stderr(&o).contains(&format!("{months} months")),
        "{}",
        stderr(&o)
    );
}

/// Each out-of-range value of one key, as written under its section: the
/// file is refused (exit 2) with an error naming the key.
const OUT_OF_RANGE: &[(&str, &str, &str)] = &[
    (
        "business",
        "activity_window_days = 2147483647",
        "activity_window_days",
    ),
    (
        "business",
        "activity_window_days = 30",
        "activity_window_days",
    ),
    (
        "business",
        "activity_window_days = 36526",
        "activity_window_days",
    ),
    (
        "business",
        "activity_window_days = -1",
        "activity_window_days",
    ),
    ("business", "as_of = 1899-12-31", "as_of"),
    ("business", "as_of = 2201-01-01", "as_of"),
    ("business", "as_of = \"9999-12-31\"", "as_of"),
    ("clv", "holdout_days = 0", "holdout_days"),
    ("clv", "holdout_days = 4294967295", "holdout_days"),
    ("clv", "holdout_days = 36526", "holdout_days"),
    ("clv", "horizon_months = 0", "horizon_months"),
    ("clv", "horizon_months = 121", "horizon_months"),
    (
        "clv",
        "discount_rate_monthly = nan",
        "discount_rate_monthly",
    ),
    (
        "clv",
        "discount_rate_monthly = inf",
        "discount_rate_monthly",
    ),
    (
        "clv",
        "discount_rate_monthly = -0.01",
        "discount_rate_monthly",
    ),
    (
        "clv",
        "discount_rate_monthly = 1.0",
        "discount_rate_monthly",
    ),
    ("clv", "margin = 0", "margin"),
    ("clv", "margin = 1.5", "margin"),
    ("clv", "margin = nan", "margin"),
    ("clv", "penalizer = -0.1", "penalizer"),
    ("clv", "penalizer = inf", "penalizer"),
    ("clv", "interval = 1.0", "interval"),
    ("clv", "interval = 0", "interval"),
    ("clv", "interval = nan", "interval"),
    ("clv", "model = \"pareto\"", "model"),
    ("rejects", "max_reject_ratio = nan", "max_reject_ratio"),
    ("rejects", "max_reject_ratio = 1.5", "max_reject_ratio"),
    ("rejects", "max_reject_ratio = -inf", "max_reject_ratio"),
    ("output", "keep_runs = 1", "keep_runs"),
    ("output", "keep_runs = -3", "keep_runs"),
    ("targets", "high_clv_quantile = 1.0", "high_clv_quantile"),
    ("targets", "high_clv_quantile = nan", "high_clv_quantile"),
    ("targets", "vip_clv_quantile = -0.5", "vip_clv_quantile"),
    ("targets", "p_alive_below = 1.01", "p_alive_below"),
    ("targets", "p_alive_below = nan", "p_alive_below"),
    (
        "targets",
        "reengage_after_days = 36526",
        "reengage_after_days",
    ),
    (
        "targets",
        "reengage_after_days = 4294967295",
        "reengage_after_days",
    ),
    ("input.csv", "delimiter = '\"'", "delimiter"),
    ("input.csv", "delimiter = \"\\n\"", "delimiter"),
    ("input.csv", "delimiter = \"é\"", "delimiter"),
];

/// A whole pipeline file with `line` in `section`.
fn pipeline_text_with(section: &str, line: &str) -> String {
    let mut sections = vec![
        ("input", "path = \"orders.csv\"".to_string()),
        ("input.csv", String::new()),
        ("columns", ORDER_COLUMNS.to_string()),
        ("business", String::new()),
        ("rejects", String::new()),
        ("clv", String::new()),
        ("targets", String::new()),
        ("output", "dir = \"out\"".to_string()),
    ];
    for (name, body) in &mut sections {
        if *name == section {
            body.push('\n');
            body.push_str(line);
        }
    }
    sections
        .iter()
        .map(|(name, body)| format!("[{name}]\n{body}\n"))
        .collect()
}

fn load_error(dir: &Path, text: &str) -> retention::error::Error {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    match Pipeline::load(&path) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn every_out_of_range_key_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // The file without the bad line loads.
    let good = pipeline_text_with("business", "");
    std::fs::write(dir.path().join("pipeline.toml"), &good).unwrap();
    Pipeline::load(&dir.path().join("pipeline.toml")).expect("the base pipeline loads");
    for (section, line, key) in OUT_OF_RANGE {
        let e = load_error(dir.path(), &pipeline_text_with(section, line));
        assert_eq!(e.exit_code(), 2, "{line}: {e}");
        assert!(e.to_string().contains(key), "{line}: {e}");
    }
    // Tiers: too many, thresholds out of range.
    let tiers = |list: String| format!("{good}\n[loyalty]\ntiers = [{list}]\n");
    let many: Vec<String> = (0..21)
        .map(|i| format!("{{ name = \"T{i}\", min_spend = {} }}", i * 100))
        .collect();
    let e = load_error(dir.path(), &tiers(many.join(", ")));
    assert!(e.to_string().contains("at most 20"), "{e}");
    for bad in ["1e16", "inf", "nan", "-1"] {
        let e = load_error(
            dir.path(),
            &tiers(format!(
                "{{ name = \"A\", min_spend = 0 }}, {{ name = \"B\", min_spend = {bad} }}"
            )),
        );
        assert!(e.to_string().contains("tiers[1].min_spend"), "{bad}: {e}");
        assert_eq!(e.exit_code(), 2);
    }
    // Dimensions: at most ten.
    let names: Vec<String> = (0..11).map(|i| format!("\"d{i}\"")).collect();
    let e = load_error(
        dir.path(),
        &good.replace(
            "order_id = \"order_id\"",
            &format!(
                "order_id = \"order_id\"\ndimensions = [{}]",
                names.join(", ")
            ),
        ),
    );
    assert!(e.to_string().contains("at most 10"), "{e}");
}

/// Several bad keys in one file are reported in one error.
#[test]
fn all_numeric_problems_come_in_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = pipeline_text_with("business", "activity_window_days = 2147483647")
        .replace("[clv]\n", "[clv]\nholdout_days = 0\nhorizon_months = 500\n")
        .replace("[rejects]\n", "[rejects]\nmax_reject_ratio = nan\n");
    let e = load_error(dir.path(), &text).to_string();
    for key in [
        "activity_window_days",
        "holdout_days",
        "horizon_months",
        "max_reject_ratio",
    ] {
        assert!(e.contains(key), "{key} missing in {e}");
    }
}

/// The quoted panic (`activity_window_days = 2147483647`) and bad command
/// line values, through the binary: exit 2 naming the key or flag.
#[test]
fn binary_refuses_out_of_range_values_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write_orders(dir.path(), &[("a", "2024-01-05", "10.00")]);
    orders_pipeline(dir.path(), "activity_window_days = 2147483647", "");
    for command in ["run", "validate"] {
        let o = retention(&[command, "pipeline.toml"], dir.path());
        assert_no_crash(&o, command);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("activity_window_days"),
            "{}",
            stderr(&o)
        );
    }
    orders_pipeline(dir.path(), "", "");
    for (flag, value) in [
        ("--threads", "0"),
        ("--threads", "100000"),
        ("--threads", "-1"),
        ("--as-of", "2024-13-01"),
    ] {
        let o = retention(
            &["run", "pipeline.toml", &format!("{flag}={value}")],
            dir.path(),
        );
        assert_no_crash(&o, flag);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{}", stderr(&o));
    }
    for args in [
        &["--months", "4294967295"][..],
        &["--months", "0"],
        &["--customers", "0"],
        &["--start", "9999-01-01"],
        &["--start", "2200-06-01", "--months", "12"],
    ] {
        let mut all = vec!["generate", "--out", "g.csv"];
        all.extend_from_slice(args);
        if !args.contains(&"--customers") {
            all.extend_from_slice(&["--customers", "3"]);
        }
        let o = retention(&all, dir.path());
        assert_no_crash(&o, &args.join(" "));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!dir.path().join("g.csv").exists(), "{args:?}");
    }
}

/// A value for a key: in range (expected to run) or not (exit 2).
fn value(
    in_range: &[&'static str],
    out_of_range: &[&'static str],
) -> BoxedStrategy<(String, bool)> {
    let ok: Vec<(String, bool)> = in_range.iter().map(|v| (v.to_string(), true)).collect();
    let bad: Vec<(String, bool)> = out_of_range
        .iter()
        .map(|v| (v.to_string(), false))
        .collect();
    prop_oneof![
        3 => prop::sample::select(ok),
        1 => prop::sample::select(bad),
    ]
    .boxed()
}

/// The history the property runs on: one file, three months.
fn small_history(dir: &Path) {
    let mut orders = Vec::new();
    for c in 0..30 {
        for k in 0..(c % 4 + 1) {
            orders.push((
                format!("c{c}"),
                format!("2024-0{}-{:02}", 1 + k % 3, 1 + (c * 7 + k * 5) % 28),
                format!("{}.{:02}", 5 + c, k * 7),
            ));
        }
    }
    let rows: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    write_orders(dir, &rows);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random settings, in and out of range, never crash the binary: out of
    /// range is exit 2, in range runs (exit 0), and a far as_of in range is
    /// the calendar bound (exit 1).
    #[test]
    fn random_settings_never_crash(
        window in value(&["31", "365", "36525"], &["0", "30", "36526", "2147483647", "4294967295"]),
        holdout in value(&["1", "90", "36525"], &["0", "36526", "4294967295"]),
        horizon in value(&["1", "12", "120"], &["0", "121", "4294967295"]),
        discount in value(&["0.0", "0.01", "0.999"], &["1.0", "-0.01", "nan", "inf", "-inf", "1e308"]),
        ratio in value(&["0.0", "0.05", "1.0"], &["1.0000001", "-1e-9", "nan", "inf"]),
        keep in value(&["2", "5", "4294967295"], &["0", "1"]),
        quantile in value(&["0.0", "0.8", "0.999"], &["1.0", "-0.1", "nan"]),
        min_spend in value(&["0.01", "250", "1e15"], &["1e16", "-5", "inf", "nan", "1.7e308"]),
        as_of in value(&["", "as_of = 2024-03-31", "as_of = 2200-12-31"], &["as_of = 1899-12-31", "as_of = 9999-12-31"]),
        period in prop::sample::select(vec!["month", "week", "quarter"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        small_history(dir.path());
        let all_in_range = [&window, &holdout, &horizon, &discount, &ratio, &keep, &quantile, &min_spend, &as_of]
            .iter()
            .all(|(_, ok)| *ok);
        orders_pipeline(
            dir.path(),
            &format!("activity_window_days = {}\ncohort_period = \"{period}\"\n{}", window.0, as_of.0),
            &format!(
                "[clv]\nholdout_days = {}\nhorizon_months = {}\ndiscount_rate_monthly = {}\n\n\
                 [rejects]\nmax_reject_ratio = {}\n\n[targets]\nhigh_clv_quantile = {}\n\n\
                 [loyalty]\ntiers = [{{ name = \"Base\", min_spend = 0 }}, {{ name = \"Top\", min_spend = {} }}]\n",
                holdout.0, horizon.0, discount.0, ratio.0, quantile.0, min_spend.0
            ),
        );
        let path = dir.path().join("pipeline.toml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "[output]\ndir = \"out\"",
            &format!("[output]\ndir = \"out\"\nkeep_runs = {}", keep.0),
        );
        std::fs::write(&path, text).unwrap();

        let o = capped(&["run", "pipeline.toml"], dir.path());
        assert_no_crash(&o, "random settings");
        let expected = match (all_in_range, as_of.0.contains("2200")) {
            (false, _) => 2,
            (true, true) => 1,
            (true, false) => 0,
        };
        prop_assert_eq!(o.status.code(), Some(expected), "{}", stderr(&o));
    }
}

/// No ESC, C1 control or bidi override from a pipeline name, a file name,
/// a header name, a cell value or a command-line value reaches the
/// terminal, on stdout or stderr; they are shown escaped.
#[test]
fn untrusted_text_reaches_the_terminal_escaped() {
    const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}";
    let forbidden = |text: &str| {
        text.chars()
            .any(|c| matches!(c, '\u{1b}' | '\u{7}' | '\u{9b}' | '\u{202e}'))
    };
    let check = |o: &Output, what: &str| {
        assert_no_crash(o, what);
        assert!(!forbidden(&stdout(o)), "{what}: stdout {:?}", stdout(o));
        assert!(!forbidden(&stderr(o)), "{what}: stderr {:?}", stderr(o));
    };
    let toml_hostile = "\\u001b[2J\\u001b]0;pwned\\u0007\\u009b31m\\u202e";

    // A pipeline name and a glob-matched file name (validate prints both).
    let dir = tempfile::tempdir().unwrap();
    let file_name = format!("orders_{HOSTILE}.csv");
    std::fs::write(
        dir.path().join(&file_name),
        "order_id,customer_id,order_ts,amount\no1,a,2024-01-05,10.00\no2,b,2024-02-05,12.00\n",
    )
    .unwrap();
    let path = orders_pipeline(dir.path(), "", "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("path = \"orders.csv\"", "path = \"orders_*.csv\"");
    // The pipeline's file name is hostile too (`show` prints its path).
    let pipeline_file = format!("shop{HOSTILE}.toml");
    std::fs::write(
        dir.path().join(&pipeline_file),
        format!("name = \"shop{toml_hostile}\"\n{text}"),
    )
    .unwrap();
    let o = retention(&["validate", &pipeline_file], dir.path());
    check(&o, "validate");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("pipeline `shop\\x1b[2J"), "{out}");
    assert!(out.contains("orders_\\x1b[2J"), "{out}");
    assert!(out.contains("\\u{202e}"), "{out}");
    // The run, then `show` (the pipeline's path is in its header).
    let o = retention(&["run", &pipeline_file], dir.path());
    check(&o, "run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = retention(&["show", "out"], dir.path());
    check(&o, "show");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("shop\\x1b[2J"), "{}", stdout(&o));

    // A header name: the mapped column is missing, so the error lists the
    // file's columns.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.csv"),
        format!("order_id,customer_id,order_ts,amount{HOSTILE}\no1,a,2024-01-05,10.00\n"),
    )
    .unwrap();
    orders_pipeline(dir.path(), "", "");
    for command in ["validate", "run"] {
        let o = retention(&[command, "pipeline.toml"], dir.path());
        check(&o, command);
        assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    }

    // Cell values: every row rejected, the error quotes the first reject.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.csv"),
        format!("order_id,customer_id,order_ts,amount\no1,a,2024-01-05,1{HOSTILE}\no2,b,{HOSTILE},2.00\n"),
    )
    .unwrap();
    orders_pipeline(dir.path(), "", "");
    let o = retention(&["run", "pipeline.toml"], dir.path());
    check(&o, "rejected cells");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // A hostile value typed on the command line, and a hostile pipeline
    // path that does not exist.
    let o = retention(&["run", "pipeline.toml", "--as-of", HOSTILE], dir.path());
    check(&o, "--as-of");
    assert_eq!(o.status.code(), Some(2));
    let o = retention(&["validate", &format!("missing{HOSTILE}.toml")], dir.path());
    check(&o, "pipeline path");
    assert_eq!(o.status.code(), Some(2));
    // A bad value in the pipeline file, quoted by the parser.
    orders_pipeline(
        dir.path(),
        &format!("time_zone = \"Mars{toml_hostile}\""),
        "",
    );
    let o = retention(&["validate", "pipeline.toml"], dir.path());
    check(&o, "time_zone");
    assert_eq!(o.status.code(), Some(2));
}

/// An unbalanced quote in a CSV file must not dump the rest of the file
/// into the error: the message stays short whatever the file's size.
#[test]
fn unbalanced_quote_error_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("order_id,customer_id,order_ts,amount\no1,a,2024-01-05,10.00\n");
    text.push_str("o2,\"b,2024-01-06,11.00\n");
    for i in 0..20_000 {
        text.push_str(&format!("o{i}x,c{i},2024-01-07,{i}.25\n"));
    }
    std::fs::write(dir.path().join("orders.csv"), &text).unwrap();
    orders_pipeline(dir.path(), "", "");
    for command in ["validate", "run"] {
        let o = retention(&[command, "pipeline.toml"], dir.path());
        assert_no_crash(&o, command);
        let err = stderr(&o);
        // The file is about 600 kB; the error names the row (or quotes at
        // most 200 characters) and never dumps the rest of the file.
        assert!(
            err.len() < 4_000 && !err.contains("o19999x") && err.contains("row 2"),
            "{command}: {} bytes of stderr:\n{}",
            err.len(),
            &err[..err.len().min(2_000)]
        );
    }
}
