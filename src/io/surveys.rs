//! Reading the optional survey input (`[surveys]`): an [`InputSpec`] of its
//! own (the `[surveys]` path, format and CSV options; the three survey
//! columns, no filters, no dimensions) read by the same code as the order
//! input (`io::input`), so a survey file is found, typed and
//! numbered (1-based `__row`) exactly like an order file. The rows go to
//! `stages::nps` a chunk at a time.

use crate::config::{Pipeline, SurveysConfig};
use crate::error::Result;
use crate::io::input::{read_files, resolve_inputs, InputFile, InputSpec, RawBatch};

/// The survey input as the readers see it.
pub fn survey_input(pipeline: &Pipeline, surveys: &SurveysConfig) -> InputSpec {
    let c = &surveys.columns;
    let mut columns = vec![c.customer_id.clone()];
    for name in [&c.response_ts, &c.score] {
        if !columns.contains(name) {
            columns.push(name.clone());
        }
    }
    InputSpec::new(
        &pipeline.path,
        &surveys.path,
        surveys.format,
        &surveys.csv,
        columns,
    )
}

/// The survey files of a pipeline in path order (empty without `[surveys]`).
pub fn resolve_survey_inputs(pipeline: &Pipeline) -> Result<Vec<InputFile>> {
    match &pipeline.config.surveys {
        None => Ok(Vec::new()),
        Some(surveys) => resolve_inputs(&survey_input(pipeline, surveys)),
    }
}

/// Reads every survey file in chunks of at most `chunk_rows` rows (and
/// the CSV reader's bytes), in path and row order, handing each to
/// `each`: `__row` and the mapped survey columns. This reader holds one
/// chunk at a time, whatever the files' size (its caller may hold the one
/// before).
pub fn read_survey_chunks(
    pipeline: &Pipeline,
    surveys: &SurveysConfig,
    files: &[InputFile],
    chunk_rows: usize,
    each: impl FnMut(RawBatch) -> Result<()>,
) -> Result<()> {
    read_files(
        &survey_input(pipeline, surveys),
        files,
        false,
        chunk_rows,
        each,
    )
}
