//! `rejects`: one row per rejected input row, order rows first (by input
//! file, then row), then survey rows (by survey file, then row), so an
//! operator can find each row in its file and see it whole. The reasons are
//! the closed list of [`crate::stages::rejects::RejectReason`] (README
//! "Definitions", input rows and NPS).

use polars::prelude::DataFrame;

use super::builder::FrameBuilder;
use crate::error::{Error, Result};
use crate::stages::raw::InputFile;
use crate::stages::rejects::Reject;
use crate::tables::schema::col;
use crate::tables::schema::rejects::REJECTS;

/// The `rejects` rows of one input (the order files or the survey files),
/// sorted by file order and row. Every reject must have its raw record
/// filled in ([`crate::stages::rejects::RawText::fill`]).
pub fn rejects_table(rejects: &[Reject], files: &[InputFile]) -> Result<DataFrame> {
    let mut sorted: Vec<&Reject> = rejects.iter().collect();
    sorted.sort_by_key(|r| (r.file, r.row));
    let raw = sorted
        .iter()
        .map(|r| raw_record(r, files))
        .collect::<Result<Vec<_>>>()?;
    let pick = |f: fn(&Reject) -> Option<String>| sorted.iter().map(|r| f(r)).collect::<Vec<_>>();
    let source: Vec<String> = sorted
        .iter()
        .map(|r| files[r.file as usize].name())
        .collect();
    FrameBuilder::new(&REJECTS, sorted.len())
        .add(col::SOURCE, source)?
        .add(
            col::ROW,
            sorted.iter().map(|r| r.row as i64).collect::<Vec<_>>(),
        )?
        .add(
            col::REASON,
            sorted.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>(),
        )?
        .add(col::COLUMN_NAME, pick(|r| r.column.clone()))?
        .add(col::VALUE, pick(|r| r.value.clone()))?
        .add(col::RAW_RECORD, raw)?
        .finish()
}

/// A reject's raw record; an error naming the file when it could not be
/// read again.
fn raw_record(r: &Reject, files: &[InputFile]) -> Result<String> {
    r.raw.clone().ok_or_else(|| {
        Error::input(
            files[r.file as usize].name(),
            format!(
                "row {} could not be read again for the rejects table (did the file change during the run?)",
                r.row
            ),
        )
    })
}
