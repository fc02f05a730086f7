//! Reading the optional survey input (`[surveys]`): the same file
//! resolution and readers as the order input ([`crate::io::input`]), so a
//! survey file is found, typed and numbered (1-based `__row`) exactly like
//! an order file.
//!
//! The readers take a [`Pipeline`]; the survey input is presented to them as
//! a pipeline whose `[input]` is the `[surveys]` section and whose mapped
//! columns are the survey columns (`response_ts` in the timestamp slot,
//! `score` in the amount slot, no filters, no order id).

use std::path::Path;

use crate::config::{ColumnMapping, InputConfig, Pipeline, SurveysConfig};
use crate::error::Result;
use crate::expr::AmountExpr;
use crate::io::input::{read_file, resolve_inputs, InputFile, RawBatch};

/// The survey input seen as a pipeline of its own, for the shared readers.
pub fn survey_pipeline(pipeline: &Pipeline, surveys: &SurveysConfig) -> Pipeline {
    let base = pipeline.path.parent().unwrap_or(Path::new(""));
    let pattern = if Path::new(&surveys.path).is_absolute() {
        surveys.path.clone()
    } else {
        base.join(&surveys.path).to_string_lossy().into_owned()
    };
    let mut derived = pipeline.clone();
    derived.config.input = InputConfig {
        path: surveys.path.clone(),
        format: surveys.format,
        csv: surveys.csv.clone(),
    };
    derived.config.columns = ColumnMapping {
        customer_id: surveys.columns.customer_id.clone(),
        order_ts: surveys.columns.response_ts.clone(),
        amount: surveys.columns.score.clone(),
        order_id: None,
        // Surveys are not sliced: the survey file need not carry dimensions.
        dimensions: Vec::new(),
    };
    derived.config.filters = Vec::new();
    derived.filters = Vec::new();
    derived.amount = AmountExpr::Column(surveys.columns.score.clone());
    derived.input_pattern = pattern;
    derived
}

/// The survey files of a pipeline in path order (empty without `[surveys]`).
pub fn resolve_survey_inputs(pipeline: &Pipeline) -> Result<Vec<InputFile>> {
    match &pipeline.config.surveys {
        None => Ok(Vec::new()),
        Some(surveys) => resolve_inputs(&survey_pipeline(pipeline, surveys)),
    }
}

/// Reads every survey file: `__row` and the three mapped columns.
pub fn read_survey_files(
    pipeline: &Pipeline,
    surveys: &SurveysConfig,
    files: &[InputFile],
) -> Result<Vec<RawBatch>> {
    let derived = survey_pipeline(pipeline, surveys);
    files
        .iter()
        .enumerate()
        .map(|(i, f)| read_file(&derived, i as u32, f, false))
        .collect()
}
