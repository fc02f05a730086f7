//! `retention report [OUT]` rebuilds a run's `report.html`;
//! `retention show [OUT]` prints the latest run's headline. Both take the
//! output root (its `current` run) or a run directory, and default to
//! `out`, the default `[output] dir`; either may be in object storage
//! (`s3://…`: the run is fetched to a work directory first, and `report`
//! puts the rebuilt page back in the run).

use std::path::{Path, PathBuf};

use crate::error::{shown_path, terminal_lines, Error, Result};
use crate::io::atomic::write_file_atomically;
use crate::io::remote::output::FetchedRun;
use crate::io::remote::WorkDir;
use crate::location::StoreUrl;
use crate::manifest::REPORT_FILE;
use crate::report::load::report_data_from_dir;
use crate::report::{render_html, render_show};

pub fn report(out: PathBuf) -> Result<()> {
    if let Some(url) = StoreUrl::of_path(&out) {
        let work = WorkDir::create()?;
        let run = FetchedRun::fetch(&url, work.path())?;
        let html = render_html(&report_data_from_dir(work.path())?);
        println!("{}", run.replace(REPORT_FILE, html.into_bytes())?);
        return Ok(());
    }
    let run_dir = published_run(&out)?;
    let data = report_data_from_dir(&run_dir)?;
    let path = run_dir.join(REPORT_FILE);
    write_file_atomically(&path, render_html(&data).as_bytes())?;
    println!("{}", shown_path(&path));
    Ok(())
}

pub fn show(out: PathBuf) -> Result<()> {
    let data = match StoreUrl::of_path(&out) {
        Some(url) => {
            let work = WorkDir::create()?;
            FetchedRun::fetch(&url, work.path())?;
            report_data_from_dir(work.path())?
        }
        None => report_data_from_dir(&published_run(&out)?)?,
    };
    // The summary quotes the published tables (pipeline name, segment and
    // tier names, dimension values): made safe for the terminal here.
    print!("{}", terminal_lines(&render_show(&data)));
    Ok(())
}

/// The run `out` names: `out/current` of an output root, or `out` itself
/// when it is a run directory.
fn published_run(out: &Path) -> Result<PathBuf> {
    let run_dir = if out.join("current").exists() {
        out.join("current")
    } else {
        out.to_path_buf()
    };
    if !run_dir.join(crate::io::publish::MANIFEST_FILE).is_file() {
        return Err(Error::input(
            out,
            "no published run here: expected OUT/current or a run directory with _manifest.json",
        ));
    }
    Ok(run_dir)
}
