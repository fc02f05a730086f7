//! The table declarations (`retention::tables::schema`) against what runs compute
//! and what the README promises: every option combination publishes
//! exactly the declared tables, one row per declared key; the README's
//! table list is the declarations'; every column is documented.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use retention::config::Pipeline;
use retention::run::{compute, RunOptions};
use retention::tables::schema::{self, cohort_column, col, Options, TableSchema};

use crate::support::repo_path;

/// `pipelines/sample.toml` with its paths made absolute (the output dir
/// is never written: these runs compute only).
fn sample_pipeline_text() -> String {
    let text = std::fs::read_to_string(repo_path("pipelines/sample.toml")).unwrap();
    let data = repo_path("sample_data");
    text.replace("../sample_data", &data.display().to_string())
}

/// `text` without the section `[name]` and its sub-sections
/// (`[name.csv]`, …), up to the next other section header.
fn without_section(text: &str, name: &str) -> String {
    let mut dropping = false;
    let mut kept = String::new();
    for line in text.lines() {
        let header = line.trim_start();
        if header.starts_with('[') {
            let inner = header.trim_start_matches('[');
            dropping =
                inner.starts_with(&format!("{name}]")) || inner.starts_with(&format!("{name}."));
        }
        if !dropping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// `text` with the one line starting with `key =` replaced by `line`.
fn with_line(text: &str, key: &str, line: &str) -> String {
    let hits = text.lines().filter(|l| l.starts_with(key)).count();
    assert_eq!(hits, 1, "`{key}` in sample.toml");
    text.lines()
        .map(|l| if l.starts_with(key) { line } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The variants of the sample pipeline the tests run: name and text.
fn variants() -> Vec<(&'static str, String)> {
    let sample = sample_pipeline_text();
    let flat = with_line(&sample, "dimensions", "");
    let period =
        |text: &str, p: &str| with_line(text, "cohort_period", &format!("cohort_period = \"{p}\""));
    let no_clv = with_line(&sample, "enabled", "enabled = false");
    let bare = without_section(
        &without_section(&with_line(&flat, "enabled", "enabled = false"), "loyalty"),
        "surveys",
    );
    vec![
        ("sample", sample.clone()),
        ("no CLV", no_clv),
        ("no loyalty", without_section(&sample, "loyalty")),
        ("no surveys", without_section(&sample, "surveys")),
        ("weekly", period(&sample, "week")),
        ("quarterly", period(&sample, "quarter")),
        ("no dimensions", flat.clone()),
        ("weekly, no dimensions", period(&flat, "week")),
        ("quarterly, no dimensions", period(&flat, "quarter")),
        ("no CLV, loyalty, surveys or dimensions", bare),
    ]
}

/// The options a pipeline's tables depend on.
fn options_of(pipeline: &Pipeline) -> Options {
    let config = &pipeline.config;
    Options {
        clv: config.clv.enabled,
        loyalty: config.loyalty.is_some(),
        surveys: config.surveys.is_some(),
        dimensions: config.columns.dimensions.clone(),
        cohort_period: config.business.cohort_period,
    }
}

/// The columns that identify a row of `schema`'s table under `options`:
/// the dimension columns of a sliced table, then the declared key (its
/// cohort column named after the cohort period).
fn key_columns(schema: &TableSchema, options: &Options) -> Vec<String> {
    let dimensions = if schema.sliced {
        options.dimensions.clone()
    } else {
        Vec::new()
    };
    let key = schema.key.iter().map(|&k| {
        if schema.cohort_named && k == col::COHORT_MONTH {
            cohort_column(options.cohort_period).to_string()
        } else {
            k.to_string()
        }
    });
    dimensions.into_iter().chain(key).collect()
}

/// The first key of `frame` that appears on more than one row, if any.
fn duplicated_key(frame: &DataFrame, key: &[String]) -> Option<String> {
    let keys = frame.select(key.iter().map(String::as_str)).unwrap();
    let duplicated = keys.is_duplicated().unwrap();
    let row = duplicated.iter().position(|d| d == Some(true))?;
    let values: Vec<String> = keys
        .columns()
        .iter()
        .map(|c| c.get(row).unwrap().to_string())
        .collect();
    Some(values.join(", "))
}

/// Runs the variant `text` in `dir` and checks its tables; returns its
/// options.
fn check_variant(what: &str, text: &str, dir: &Path) -> Options {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    let pipeline = Pipeline::load(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
    let computed =
        compute(&pipeline, &RunOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let options = options_of(&pipeline);
    let published = computed.tables.iter().map(|t| (t.name, t.frame()));
    schema::check_published(published, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
    for table in &computed.tables {
        let schema = schema::schema_of(table.name).unwrap();
        let key = key_columns(schema, &options);
        if let Some(values) = duplicated_key(table.frame(), &key) {
            panic!(
                "{what}: `{}` has more than one row for {key:?} = ({values})",
                table.name
            );
        }
    }
    options
}

/// Every option combination publishes exactly the declared tables, with
/// the declared columns, and one row per key (slice included).
#[test]
fn every_option_combination_publishes_the_declared_tables_one_row_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let variants = variants();
    let options: std::collections::BTreeSet<String> = variants
        .iter()
        .map(|(what, text)| format!("{:?}", check_variant(what, text, dir.path())))
        .collect();
    assert_eq!(
        options.len(),
        variants.len(),
        "every variant has its own options"
    );
}

/// The README's "## Outputs" table: table name → column names, in order.
/// Parenthesised notes (`cohort_month (or cohort_week, cohort_quarter)`,
/// `movement (`new`, `up`, …)`) are not columns.
fn readme_tables() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let outputs = readme.split("\n## Outputs\n").nth(1).expect("## Outputs");
    let outputs = outputs.split("\n## ").next().unwrap();
    outputs
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| table ") && !l.starts_with("| ---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "README Outputs row: {l}");
            let columns = without_notes(cells[2])
                .split(',')
                .map(|c| c.trim().to_string())
                .collect();
            (cells[0].to_string(), columns)
        })
        .collect()
}

/// `text` without its parenthesised parts.
fn without_notes(text: &str) -> String {
    let mut depth = 0;
    let mut kept = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    kept
}

#[test]
fn readme_outputs_list_the_declared_tables_and_columns() {
    let readme = readme_tables();
    let declared: Vec<(String, Vec<String>)> = schema::ALL
        .iter()
        .map(|t| {
            let columns = t.columns.iter().map(|c| c.name.to_string()).collect();
            (t.name.to_string(), columns)
        })
        .collect();
    let names =
        |list: &[(String, Vec<String>)]| list.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&readme), names(&declared), "README table order");
    let differ: BTreeMap<&str, (&Vec<String>, &Vec<String>)> = readme
        .iter()
        .zip(&declared)
        .filter(|(r, d)| r.1 != d.1)
        .map(|(r, d)| (r.0.as_str(), (&r.1, &d.1)))
        .collect();
    assert!(
        differ.is_empty(),
        "README columns (README, declared): {differ:#?}"
    );
}

#[test]
fn the_readme_cohort_note_names_every_cohort_column() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let note = format!(
        "{} (or {}, {})",
        col::COHORT_MONTH,
        col::COHORT_WEEK,
        col::COHORT_QUARTER
    );
    assert!(readme.contains(&note), "README: `{note}`");
}

/// Every declared column has a line of documentation, and so do the
/// table's grain and row order.
#[test]
fn every_declared_column_is_documented() {
    let undocumented: Vec<String> = schema::ALL
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| c.doc.trim().is_empty() || c.doc.contains("TODO"))
                .map(move |c| format!("{}.{}", t.name, c.name))
        })
        .collect();
    assert!(undocumented.is_empty(), "no doc: {undocumented:?}");
    for t in schema::ALL {
        for (what, text) in [("grain", t.grain), ("order", t.order)] {
            assert!(
                !text.trim().is_empty() && !text.contains("TODO"),
                "{}: no {what}",
                t.name
            );
        }
    }
}
