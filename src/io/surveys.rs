//! Reading the optional survey input (`[surveys]`): an [`InputSpec`] of its
//! own (the `[surveys]` path, format and CSV options; the three survey
//! columns, no filters, no dimensions) read by the same code as the order
//! input (`io::input`), so a survey file is found, typed and
//! numbered (1-based `__row`) exactly like an order file. The rows go to
//! `stages::nps` in memory.

use crate::config::{Pipeline, SurveysConfig};
use crate::error::Result;
use crate::io::input::{read_file, resolve_inputs, InputFile, InputSpec, RawBatch};

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

/// Reads every survey file whole: `__row` and the mapped survey columns.
pub fn read_survey_files(
    pipeline: &Pipeline,
    surveys: &SurveysConfig,
    files: &[InputFile],
) -> Result<Vec<RawBatch>> {
    let spec = survey_input(pipeline, surveys);
    files
        .iter()
        .enumerate()
        .map(|(i, f)| read_file(&spec, i as u32, f, false))
        .collect()
}
