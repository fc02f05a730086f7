//! Reading input files: resolving the configured path or glob of an
//! [`InputSpec`] (the order input or the survey input) to a sorted list of
//! files, and reading each (CSV, gzipped CSV, Parquet: [`csv`],
//! `io::parquet`) in chunks into Polars frames of the columns the
//! input maps, with the 1-based data row number of every row, so any later
//! problem can name file and row; and reading again the rows of rejects
//! whose raw records were dropped with their chunk ([`raw_records`]).

use std::hash::{BuildHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::{CsvOptions, InputFormat, Pipeline};
use crate::error::{Error, Result};
use crate::io::csv::{self, CsvLayout};
pub use crate::io::parquet::parquet_rows;
use crate::io::parquet::ParquetInput;
use crate::location::StoreUrl;
use crate::stages::raw::RawText;
use crate::stages::raw::{text_of, ROW_COLUMN};

pub use crate::stages::raw::{FileFormat, InputFile, RawBatch};

/// One input file set as the readers see it: where its files are, how to
/// read them and which source columns to keep. The order input
/// ([`InputSpec::orders`]) and the survey input
/// (`io::surveys::survey_input`) are both read through it, by the
/// same code.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// The pipeline file: configuration errors name it, and relative paths
    /// start at its directory.
    pub pipeline_path: PathBuf,
    /// The path or glob as configured.
    pub path: String,
    /// `path` resolved against the pipeline file's directory.
    pub pattern: String,
    pub format: InputFormat,
    pub csv: CsvLayout,
    /// The mapped source columns every file must have, each once; the
    /// readers keep only these (and `__row`).
    pub columns: Vec<String>,
}

impl InputSpec {
    pub fn new(
        pipeline_path: &Path,
        path: &str,
        format: InputFormat,
        csv: &CsvOptions,
        columns: Vec<String>,
    ) -> InputSpec {
        let base = pipeline_path.parent().unwrap_or(Path::new(""));
        let is_url = StoreUrl::parse(path).is_some();
        let pattern = if Path::new(path).is_absolute() || is_url {
            path.to_string()
        } else {
            base.join(path).to_string_lossy().into_owned()
        };
        InputSpec {
            pipeline_path: pipeline_path.to_path_buf(),
            path: path.to_string(),
            pattern,
            format,
            csv: CsvLayout {
                delimiter: csv.delimiter as u8,
                has_header: csv.has_header,
            },
            columns,
        }
    }

    /// The order input: `[input]`, and the columns the run needs
    /// ([`Pipeline::needed_columns`]).
    pub fn orders(pipeline: &Pipeline) -> InputSpec {
        let input = &pipeline.config.input;
        InputSpec::new(
            &pipeline.path,
            &input.path,
            input.format,
            &input.csv,
            pipeline.needed_columns(),
        )
    }
}

/// Resolves an input's path or glob to existing files in lexicographic
/// path order, so runs read files in the same order whatever the directory
/// listing order.
pub fn resolve_inputs(spec: &InputSpec) -> Result<Vec<InputFile>> {
    if let Some(url) = StoreUrl::parse(&spec.path) {
        return resolve_remote_inputs(spec, &url);
    }
    // Only the configured path is a pattern: a pipeline directory named
    // `shop[1]` is that directory, not `shop1`. A configured path naming an
    // existing file is that file, even with glob characters in its name
    // (`data[2024]/orders.csv`).
    let literal = PathBuf::from(&spec.pattern);
    let is_glob = !literal.is_file() && spec.path.contains(['*', '?', '[']);
    let mut paths: Vec<PathBuf> = if is_glob {
        let pattern = &input_glob(spec);
        let entries = glob::glob(pattern).map_err(|e| Error::Config {
            path: spec.pipeline_path.clone(),
            message: format!("[input] path `{pattern}` is not a valid glob: {e}"),
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::input(e.path(), e.error().to_string()))?;
            if path.is_file() {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(Error::input(
                pattern,
                "the glob matches no file (hint: paths in a pipeline are relative to the pipeline file's directory)",
            ));
        }
        found
    } else {
        let path = literal;
        if !path.is_file() {
            return Err(Error::input(
                &path,
                "file not found (hint: paths in a pipeline are relative to the pipeline file's directory)",
            ));
        }
        vec![path]
    };
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let format = detect_format(&path, spec.format)?;
            let meta = std::fs::metadata(&path)
                .map_err(|e| Error::input(&path, format!("cannot stat: {e}")))?;
            Ok(InputFile {
                format,
                size: meta.len(),
                modified: meta.modified().ok(),
                path,
                source: None,
            })
        })
        .collect()
}

/// An object-store input: its objects, fetched to local copies.
fn resolve_remote_inputs(spec: &InputSpec, url: &StoreUrl) -> Result<Vec<InputFile>> {
    crate::io::remote::inputs::resolve(url)?
        .into_iter()
        .map(|object| {
            Ok(InputFile {
                format: detect_format(&object.local, spec.format)?,
                size: object.size,
                modified: object.modified,
                path: object.local,
                source: Some(object.url),
            })
        })
        .collect()
}

/// The glob of a configured input pattern: relative to the pipeline file's
/// directory, whose name is escaped so that it matches only itself.
fn input_glob(spec: &InputSpec) -> String {
    let configured = &spec.path;
    let base = spec.pipeline_path.parent().unwrap_or(Path::new(""));
    if Path::new(configured).is_absolute() || base.as_os_str().is_empty() {
        return configured.clone();
    }
    let base = glob::Pattern::escape(&base.to_string_lossy());
    Path::new(&base)
        .join(configured)
        .to_string_lossy()
        .into_owned()
}

fn detect_format(path: &Path, configured: InputFormat) -> Result<FileFormat> {
    match configured {
        InputFormat::Csv => Ok(FileFormat::Csv),
        InputFormat::CsvGz => Ok(FileFormat::CsvGz),
        InputFormat::Parquet => Ok(FileFormat::Parquet),
        InputFormat::Auto => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if name.ends_with(".csv.gz") || name.ends_with(".tsv.gz") {
                Ok(FileFormat::CsvGz)
            } else if name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".txt") {
                Ok(FileFormat::Csv)
            } else if name.ends_with(".parquet") || name.ends_with(".pq") {
                Ok(FileFormat::Parquet)
            } else {
                Err(Error::input(
                    path,
                    "cannot tell the format from the extension: expected .csv, .csv.gz or .parquet (or set [input] format)",
                ))
            }
        }
    }
}

/// Rows read at a time: bounds the raw input held in memory (a few hundred
/// MB), whatever the file's size. A run holds two chunks at once (one read
/// ahead while the other is validated), hence 2 Mi rather than 4 Mi.
/// CSV chunks are also cut at [`csv::CHUNK_BYTES`] of text.
pub const CHUNK_ROWS: usize = 2 << 20;

/// Reads one file in chunks of at most `chunk_rows` rows, in row order,
/// handing each to `each`: the mapped columns plus `__row`. With
/// `hash_lines`, every column is hashed into each row's content hash, then
/// dropped. This reader holds one chunk at a time (its caller may hold
/// the one before).
pub fn read_chunks(
    spec: &InputSpec,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
    chunk_rows: usize,
    each: impl FnMut(RawBatch) -> Result<()>,
) -> Result<()> {
    read_chunks_where(
        spec,
        file_index,
        file,
        hash_lines,
        chunk_rows,
        |_, _| true,
        each,
    )
}

/// [`read_chunks`] of every file of `files` in turn, each chunk's `file`
/// its index in `files`.
pub fn read_files(
    spec: &InputSpec,
    files: &[InputFile],
    hash_lines: bool,
    chunk_rows: usize,
    mut each: impl FnMut(RawBatch) -> Result<()>,
) -> Result<()> {
    for (i, file) in files.iter().enumerate() {
        read_chunks(spec, i as u32, file, hash_lines, chunk_rows, &mut each)?;
    }
    Ok(())
}

/// [`read_chunks`], skipping the chunks for which `wanted(first row, rows)`
/// is false (rows 1-based, as in `__row`). A CSV file is still scanned
/// whole, but only the wanted chunks are parsed.
pub fn read_chunks_where(
    spec: &InputSpec,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
    chunk_rows: usize,
    wanted: impl Fn(usize, usize) -> bool,
    mut each: impl FnMut(RawBatch) -> Result<()>,
) -> Result<()> {
    let path = &file.path;
    let csv_layout = spec.csv;
    let mut each_csv = |frame: DataFrame| {
        check_mapped_columns(spec, path, &frame_columns(&frame))?;
        each(raw_batch(spec, file_index, file, hash_lines, frame)?)
    };
    match file.format {
        FileFormat::Csv => {
            let handle = std::fs::File::open(path)
                .map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
            csv::read_csv_chunks(
                path,
                handle,
                csv_layout,
                chunk_rows,
                csv::CHUNK_BYTES,
                wanted,
                &mut each_csv,
            )
        }
        FileFormat::CsvGz => {
            let handle = std::fs::File::open(path)
                .map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
            let decoder = GunzipReader(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                handle,
            )));
            csv::read_csv_chunks(
                path,
                decoder,
                csv_layout,
                chunk_rows,
                csv::CHUNK_BYTES,
                wanted,
                &mut each_csv,
            )
        }
        FileFormat::Parquet => {
            let input = ParquetInput::open(path)?;
            check_mapped_columns(spec, path, &input.column_names())?;
            input.read_chunks(&spec.columns, hash_lines, chunk_rows, wanted, |chunk| {
                each(RawBatch {
                    file: file_index,
                    frame: chunk.frame,
                    line_hash: chunk.line_hash,
                })
            })
        }
    }
}

/// The `wanted` rows of each listed file (file index, 1-based data rows
/// ascending, as `stages::rejects::rows_missing_raw` lists them)
/// read again as text, for the raw records of rejects found after their
/// chunk was dropped. Only the chunks that hold a wanted row are parsed.
pub fn raw_records(
    spec: &InputSpec,
    files: &[InputFile],
    wanted: &[(u32, Vec<u32>)],
    chunk_rows: usize,
) -> Result<Vec<RawText>> {
    let mut texts = Vec::new();
    for (file, rows) in wanted {
        let holds_wanted = |first: usize, len: usize| {
            let at = rows.partition_point(|&r| (r as usize) < first);
            rows.get(at).is_some_and(|&r| (r as usize) < first + len)
        };
        let input = &files[*file as usize];
        read_chunks_where(
            spec,
            *file,
            input,
            false,
            chunk_rows,
            holds_wanted,
            |batch| {
                texts.push(RawText::of_rows(&batch, rows)?);
                Ok(())
            },
        )?;
    }
    Ok(texts)
}

/// A gzip stream whose read errors say that the file is not (whole) gzip.
struct GunzipReader<R: Read>(R);

impl<R: Read> Read for GunzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot decompress as gzip (truncated or not gzip?): {e}"),
            )
        })
    }
}

fn frame_columns(frame: &DataFrame) -> Vec<String> {
    frame
        .get_column_names()
        .iter()
        .filter(|n| n.as_str() != ROW_COLUMN)
        .map(|n| n.to_string())
        .collect()
}

/// Checks that the mapped columns are among a file's `available` columns.
fn check_mapped_columns(spec: &InputSpec, path: &Path, available: &[String]) -> Result<()> {
    let missing: Vec<&String> = spec
        .columns
        .iter()
        .filter(|n| !available.contains(n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = |names: &mut dyn Iterator<Item = &String>| {
        names
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Error::Mapping {
        path: path.to_path_buf(),
        message: format!(
            "mapped column{} {} not found; the file has: {}",
            if missing.len() > 1 { "s" } else { "" },
            list(&mut missing.into_iter()),
            list(&mut available.iter())
        ),
    })
}

/// Hashes lines when asked, and keeps `__row` and the mapped columns.
fn raw_batch(
    spec: &InputSpec,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
    frame: DataFrame,
) -> Result<RawBatch> {
    let line_hash = if hash_lines {
        let available = frame_columns(&frame);
        Some(hash_rows(&frame, &available).map_err(|e| Error::input(&file.path, e.to_string()))?)
    } else {
        None
    };
    let mut keep: Vec<&str> = vec![ROW_COLUMN];
    keep.extend(spec.columns.iter().map(String::as_str));
    let frame = frame
        .select(keep)
        .map_err(|e| Error::input(&file.path, e.to_string()))?;
    Ok(RawBatch {
        file: file_index,
        frame,
        line_hash,
    })
}

/// One hash per row over the text of every listed column (CSV chunks, all
/// text; Parquet lines are hashed by `io::parquet`). Used only to
/// compare lines of the same order, so a 64-bit hash makes a false
/// duplicate practically impossible (2^-64 per pair of lines).
fn hash_rows(frame: &DataFrame, columns: &[String]) -> PolarsResult<Vec<u64>> {
    // A fixed-key hasher (ahash with constant seeds): equal content gives
    // equal hashes within a run, whatever the thread.
    let state = ahash::RandomState::with_seeds(1, 2, 3, 4);
    let mix = |h: &mut u64, value: Option<&[u8]>| {
        let mut hasher = state.build_hasher();
        h.hash(&mut hasher);
        value.hash(&mut hasher);
        *h = hasher.finish();
    };
    let mut hashes = vec![0u64; frame.height()];
    for name in columns {
        // CSV chunks are read as text (no schema inference), so this is
        // the text itself; `text_of` would render anything else exactly.
        let text = text_of(frame.column(name)?)?;
        for (h, value) in hashes.iter_mut().zip(text.iter()) {
            mix(h, value.map(str::as_bytes));
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::rejects::{fill_raw, rows_missing_raw, Reject, RejectReason};

    fn reject(row: u32, column: Option<&str>) -> Reject {
        Reject {
            file: 0,
            row,
            reason: RejectReason::OrderHasBadLine,
            column: column.map(str::to_string),
            value: None,
            raw: None,
        }
    }

    /// Order-level rejects get their raw records (and, when they name a
    /// column, its raw value) by reading again only the chunks that hold
    /// them; the unmapped column is left out of the record.
    #[test]
    fn raw_records_of_rejects_are_read_again_through_the_input_spec() {
        let dir = tempfile::tempdir().unwrap();
        let text = "id;when;amount;note\nA;2024-01-01;1,50;x\nB;2024-01-02;2;y\nC;2024-01-03;3;z\nD;2024-01-04;4;w\nE;2024-01-05;5;v\n";
        std::fs::write(dir.path().join("orders.csv"), text).unwrap();
        let csv = CsvOptions {
            delimiter: ';',
            ..CsvOptions::default()
        };
        let columns = ["id", "when", "amount"].map(String::from).to_vec();
        let spec = InputSpec::new(
            &dir.path().join("pipeline.toml"),
            "orders*.csv",
            InputFormat::Auto,
            &csv,
            columns,
        );
        let files = resolve_inputs(&spec).unwrap();
        assert_eq!(files.len(), 1);
        let mut rejects = vec![reject(4, Some("amount")), reject(2, None)];
        rejects.push(Reject {
            raw: Some("kept".into()),
            ..reject(5, None)
        });
        let wanted = rows_missing_raw(&rejects);
        assert_eq!(wanted, [(0, vec![2, 4])]);
        // Two rows a chunk: chunks 1–2 and 3–4 hold the wanted rows.
        let texts = raw_records(&spec, &files, &wanted, 2).unwrap();
        assert_eq!(texts.len(), 2);
        fill_raw(&mut rejects, &texts);
        assert_eq!(
            rejects[0].raw.as_deref(),
            Some(r#"{"amount":"4","id":"D","when":"2024-01-04"}"#)
        );
        assert_eq!(rejects[0].value.as_deref(), Some("4"));
        assert_eq!(
            rejects[1].raw.as_deref(),
            Some(r#"{"amount":"2","id":"B","when":"2024-01-02"}"#)
        );
        assert_eq!(rejects[1].value, None);
        assert_eq!(rejects[2].raw.as_deref(), Some("kept"));
    }
}
