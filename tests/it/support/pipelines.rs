//! Pipeline files for the tests' order histories.

use std::path::{Path, PathBuf};

/// The four mapped columns of every test history (hand-written CSV files
/// and `retention generate`'s output use these names).
pub const ORDER_COLUMNS: &str = "customer_id = \"customer_id\"\norder_ts = \"order_ts\"\namount = \"amount\"\norder_id = \"order_id\"";

/// The three loyalty tiers of the usual test pipeline.
const LOYALTY_TIERS: &str = "[loyalty]\ntiers = [{ name = \"Bronze\", min_spend = 0 }, { name = \"Silver\", min_spend = 100 }, { name = \"Gold\", min_spend = 500 }]";

/// A pipeline file: `input` with [`ORDER_COLUMNS`] and `columns` lines
/// after them, `business` lines under `[business]`, `rest` (more sections)
/// after it, and output to `out`.
#[derive(Debug, Clone, Copy)]
pub struct PipelineFile<'a> {
    input: &'a str,
    columns: &'a str,
    business: &'a str,
    rest: &'a str,
}

impl<'a> PipelineFile<'a> {
    pub fn over(input: &'a str) -> PipelineFile<'a> {
        PipelineFile {
            input,
            columns: "",
            business: "",
            rest: "",
        }
    }

    /// More `[columns]` lines, each ending in a newline.
    pub fn columns(self, columns: &'a str) -> PipelineFile<'a> {
        PipelineFile { columns, ..self }
    }

    pub fn business(self, business: &'a str) -> PipelineFile<'a> {
        PipelineFile { business, ..self }
    }

    pub fn rest(self, rest: &'a str) -> PipelineFile<'a> {
        PipelineFile { rest, ..self }
    }

    pub fn text(&self) -> String {
        let PipelineFile {
            input,
            columns,
            business,
            rest,
        } = self;
        format!(
            "\n[input]\npath = \"{input}\"\n\n[columns]\n{ORDER_COLUMNS}\n{columns}\n[business]\n{business}\n\n{rest}\n\n[output]\ndir = \"out\"\n{}",
            gates_section(rest)
        )
    }

    /// Writes the file as `dir/pipeline.toml`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("pipeline.toml");
        std::fs::write(&path, self.text()).unwrap();
        path
    }
}

/// The test histories are synthetic and end years before today, so the
/// staleness gate would warn on every run: it is off unless `rest` has a
/// `[gates]` section of its own (the comparison tests).
fn gates_section(rest: &str) -> &'static str {
    match rest.contains("[gates]") {
        true => "",
        false => "\n[gates]\nstale_input_days = { action = \"off\" }\n",
    }
}

/// The usual test pipeline over `input`: Berlin time, a 120-day window,
/// `extra` lines under `[business]` (or sections after them), three
/// loyalty tiers.
pub fn write_pipeline(dir: &Path, input: &str, extra: &str) -> PathBuf {
    let business = format!("time_zone = \"Europe/Berlin\"\nactivity_window_days = 120\n{extra}");
    PipelineFile::over(input)
        .business(&business)
        .rest(LOYALTY_TIERS)
        .write(dir)
}
