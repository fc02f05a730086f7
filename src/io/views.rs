//! `OUT/views.sql`: one DuckDB view per table of the current run, over
//! `OUT/current`, so the DuckDB CLI (`duckdb -init OUT/views.sql`) and BI
//! tools that take an init script (Metabase's and Superset's DuckDB
//! drivers) see the tables by name. Rewritten, atomically, by every
//! published run; its views read through the `current` link, so they
//! follow the next run even before the file is rewritten.

use std::path::Path;

use crate::error::{Error, Result};

use super::atomic::write_file_atomically;

/// The file's name in the output directory.
pub const VIEWS_FILE: &str = "views.sql";

/// Writes `OUT/views.sql` for the tables (the directories) of `run_dir`.
pub fn write_views(out_dir: &Path, run_dir: &Path, run_id: &str) -> Result<()> {
    let out_dir = std::fs::canonicalize(out_dir)
        .map_err(|e| Error::output(out_dir, format!("cannot resolve: {e}")))?;
    let tables = table_dirs(run_dir)?;
    let current = out_dir.join("current");
    let sql = views_sql(&current.to_string_lossy(), &tables, run_id);
    write_file_atomically(&out_dir.join(VIEWS_FILE), sql.as_bytes())
}

/// The table directories of a run directory, sorted.
pub fn table_dirs(run_dir: &Path) -> Result<Vec<String>> {
    let mut tables: Vec<String> = std::fs::read_dir(run_dir)
        .map_err(|e| Error::output(run_dir, format!("cannot list: {e}")))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    tables.sort();
    Ok(tables)
}

/// The script: a header saying what it is, then one `CREATE OR REPLACE
/// VIEW` per table, reading `BASE/<table>/*.parquet`; `base` is the
/// absolute path of `current` (DuckDB resolves relative paths against its
/// own working directory, not the script's), or a run's URL in object
/// storage.
pub fn views_sql(base: &str, tables: &[String], run_id: &str) -> String {
    let mut sql = format!(
        "-- DuckDB views of the tables of the current run, written by retention\n\
         -- when run {run_id} was published (every run rewrites this file).\n\
         -- duckdb -init views.sql, or .read views.sql in a DuckDB session.\n"
    );
    for table in tables {
        let path = format!("{base}/{table}/*.parquet");
        sql.push_str(&format!(
            "CREATE OR REPLACE VIEW {} AS SELECT * FROM read_parquet({});\n",
            identifier(table),
            string_literal(&path)
        ));
    }
    sql
}

/// A double-quoted SQL identifier.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted SQL string.
fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_view_per_table_with_quoted_paths() {
        let sql = views_sql(
            "/data/shop's out/current",
            &["checks".to_string(), "customers".to_string()],
            "RUN",
        );
        let views: Vec<&str> = sql.lines().filter(|l| !l.starts_with("--")).collect();
        assert_eq!(
            views,
            [
                "CREATE OR REPLACE VIEW \"checks\" AS SELECT * FROM read_parquet('/data/shop''s out/current/checks/*.parquet');",
                "CREATE OR REPLACE VIEW \"customers\" AS SELECT * FROM read_parquet('/data/shop''s out/current/customers/*.parquet');",
            ]
        );
        assert!(sql.contains("run RUN was published"));
    }
}
