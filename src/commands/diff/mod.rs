//! `retention diff A B`: the comparison a run makes with the previous one
//! (README "What changed since the previous run"), between any two
//! published runs, as a terminal summary or, with `--json`, as a JSON
//! document (schema: `docs/diff.schema.json`).

pub mod view;

use std::path::{Path, PathBuf};

use crate::error::{quote, terminal_lines, Error, Result};
use crate::io::publish::MANIFEST_FILE;
use crate::io::runs::{read_manifest, PublishedRunDir};
use crate::stages::compare::{compare, RunTables};
use view::{render_text, DiffView};

/// `retention diff`'s arguments.
pub struct DiffRequest {
    pub previous: String,
    pub current: String,
    /// The output root run ids are looked up in.
    pub out: PathBuf,
    pub json: bool,
}

pub fn diff(request: DiffRequest) -> Result<()> {
    let previous = PublishedRunDir::open(&run_dir(&request.previous, &request.out)?)?;
    let current = PublishedRunDir::open(&run_dir(&request.current, &request.out)?)?;
    let comparison = compare(
        Some((&previous.figures, &previous as &dyn RunTables)),
        (&current.figures, &current as &dyn RunTables),
    )?;
    let view = DiffView::of(&comparison).expect("a comparison with a previous run");
    match request.json {
        true => println!(
            "{}",
            serde_json::to_string_pretty(&view).expect("the view serializes")
        ),
        // Paths, keys and settings come from the runs: made safe here.
        false => print!("{}", terminal_lines(&render_text(&view))),
    }
    Ok(())
}

/// The run directory `reference` names: a run directory, an output root
/// (its current run), `current` or `previous` (the run the current one
/// was compared with) of `out`, or a run id in `out/runs`.
pub fn run_dir(reference: &str, out: &Path) -> Result<PathBuf> {
    let path = Path::new(reference);
    if path.join(MANIFEST_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    if path.join("current").join(MANIFEST_FILE).is_file() {
        return Ok(path.join("current"));
    }
    let candidate = match reference {
        "current" => out.join("current"),
        "previous" => previous_of(out)?,
        id => out.join("runs").join(id),
    };
    match candidate.join(MANIFEST_FILE).is_file() {
        true => Ok(candidate),
        false => Err(Error::Usage(format!(
            "`{}` is not a published run: expected a run directory, an output directory, \
             `current`, `previous` or a run id in `{}`",
            quote(reference),
            quote(&out.join("runs").display().to_string())
        ))),
    }
}

/// The run `out/current` was compared with.
fn previous_of(out: &Path) -> Result<PathBuf> {
    let current = read_manifest(&out.join("current"))?;
    let id = current.compared_with.ok_or_else(|| {
        Error::Usage(format!(
            "the current run {} was not compared with a previous run",
            current.run_id
        ))
    })?;
    Ok(out.join("runs").join(id))
}
