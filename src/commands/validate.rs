//! `retention validate`: check a pipeline and its inputs, write nothing.

use std::path::{Path, PathBuf};

use crate::config::Pipeline;
use crate::config_overrides::Override;
use crate::error::{quote, shown_path, Result};
use crate::io::input::{read_chunks, resolve_inputs, InputSpec, CHUNK_ROWS};
use crate::io::surveys::{read_survey_chunks, resolve_survey_inputs};

pub fn run(pipeline_path: PathBuf, overrides: &[Override]) -> Result<()> {
    let pipeline = Pipeline::load_with(&pipeline_path, overrides)?;
    let input = InputSpec::orders(&pipeline);
    let files = resolve_inputs(&input)?;
    let mut rows = 0usize;
    for (i, file) in files.iter().enumerate() {
        // Reading checks the format and that every mapped column exists.
        let mut file_rows = 0;
        read_chunks(&input, i as u32, file, false, CHUNK_ROWS, |batch| {
            file_rows += batch.frame.height();
            Ok(())
        })?;
        rows += file_rows;
        println!(
            "ok  {} ({}, {file_rows} rows)",
            shown_path(Path::new(&file.name())),
            file.format.name(),
        );
    }
    if let Some(surveys) = &pipeline.config.surveys {
        let survey_files = resolve_survey_inputs(&pipeline)?;
        // Reading checks the format and that the survey columns exist.
        let mut rows = vec![0usize; survey_files.len()];
        read_survey_chunks(&pipeline, surveys, &survey_files, CHUNK_ROWS, |batch| {
            rows[batch.file as usize] += batch.frame.height();
            Ok(())
        })?;
        for (file, rows) in survey_files.iter().zip(rows) {
            println!(
                "ok  {} ({}, {rows} survey rows)",
                shown_path(Path::new(&file.name())),
                file.format.name(),
            );
        }
    }
    let dimensions = &pipeline.config.columns.dimensions;
    let sliced = match dimensions.is_empty() {
        true => String::new(),
        false => format!(
            ", sliced by {}",
            dimensions
                .iter()
                .map(|d| format!("`{}`", quote(d)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    println!(
        "pipeline `{}` is valid: {} file(s), {rows} rows, time zone {}, activity window {} days, \
         {} cohorts{sliced}",
        quote(&pipeline.name),
        files.len(),
        pipeline.time_zone.name(),
        pipeline.config.business.activity_window_days,
        pipeline.config.business.cohort_period.name()
    );
    Ok(())
}
