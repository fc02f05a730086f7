//! `retention report RUN_DIR` rebuilds a run's `report.html`;
//! `retention show [OUT]` prints the latest run's headline.

use std::path::{Path, PathBuf};

use crate::error::{shown_path, terminal_lines, Error, Result};
use crate::io::publish::write_file_atomically;
use crate::manifest::REPORT_FILE;
use crate::report::load::report_data_from_dir;
use crate::report::{render_html, render_show};

pub fn report(run_dir: PathBuf) -> Result<()> {
    let data = report_data_from_dir(&run_dir)?;
    let path = run_dir.join(REPORT_FILE);
    write_file_atomically(&path, render_html(&data).as_bytes())?;
    println!("{}", shown_path(&path));
    Ok(())
}

pub fn show(out: PathBuf) -> Result<()> {
    // Accept the output root (uses `current`) or a run directory itself.
    let run_dir = if out.join("current").exists() {
        out.join("current")
    } else {
        out.clone()
    };
    if !Path::new(&run_dir)
        .join(crate::io::publish::MANIFEST_FILE)
        .is_file()
    {
        return Err(Error::input(
            &out,
            "no published run here: expected OUT/current or a run directory with _manifest.json",
        ));
    }
    let data = report_data_from_dir(&run_dir)?;
    // The summary quotes the published tables (pipeline name, segment and
    // tier names, dimension values): made safe for the terminal here.
    print!("{}", terminal_lines(&render_show(&data)));
    Ok(())
}
