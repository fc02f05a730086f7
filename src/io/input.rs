//! Reading input files: resolving the configured path or glob to a sorted
//! list of files, and reading each (CSV, gzipped CSV, Parquet) into a Polars
//! frame of the columns the pipeline maps, with the 1-based data row number
//! of every row, so any later problem can name file and row.

use std::hash::{BuildHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use polars::prelude::*;

use crate::config::{InputFormat, Pipeline};
use crate::error::{Error, Result};

/// Name of the row-number column added to every raw frame.
pub const ROW_COLUMN: &str = "__row";

/// One input file and what the manifest records about it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: FileFormat,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    CsvGz,
    Parquet,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::CsvGz => "csv.gz",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// The rows of one input file as read, before any interpretation.
pub struct RawBatch {
    /// Index of the file in the resolved input list.
    pub file: u32,
    /// `__row` (1-based data row) and the mapped source columns, in the
    /// file's own types.
    pub frame: DataFrame,
    /// A hash of every column of each row (its whole line content), present
    /// when an order id is mapped, for dropping exact duplicate lines.
    pub line_hash: Option<Vec<u64>>,
}

/// Resolves the pipeline's input path or glob to existing files in
/// lexicographic path order, so runs read files in the same order whatever
/// the directory listing order.
pub fn resolve_inputs(pipeline: &Pipeline) -> Result<Vec<InputFile>> {
    let pattern = &pipeline.input_pattern;
    let is_glob = pattern.contains(['*', '?', '[']);
    let mut paths: Vec<PathBuf> = if is_glob {
        let entries = glob::glob(pattern).map_err(|e| Error::Config {
            path: pipeline.path.clone(),
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
        let path = PathBuf::from(pattern);
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
            let format = detect_format(&path, pipeline.config.input.format)?;
            let meta = std::fs::metadata(&path)
                .map_err(|e| Error::input(&path, format!("cannot stat: {e}")))?;
            Ok(InputFile {
                format,
                size: meta.len(),
                modified: meta.modified().ok(),
                path,
            })
        })
        .collect()
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

/// Rows read from a Parquet file at a time: bounds the raw input held in
/// memory (a few hundred MB), whatever the file's size. CSV files are read
/// whole; a very large CSV history is best split into several files.
pub const CHUNK_ROWS: usize = 4 << 20;

/// Reads one file in chunks of at most `chunk_rows` rows (Parquet; a CSV
/// file is one chunk), in row order, handing each to `each`: the mapped
/// columns plus `__row`. With `hash_lines`, all columns are read to hash
/// each row's full content, then dropped. Only one chunk is in memory at a
/// time.
pub fn read_chunks(
    pipeline: &Pipeline,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
    chunk_rows: usize,
    each: impl FnMut(RawBatch) -> Result<()>,
) -> Result<()> {
    read_chunks_where(
        pipeline,
        file_index,
        file,
        hash_lines,
        chunk_rows,
        |_, _| true,
        each,
    )
}

/// [`read_chunks`], skipping the Parquet chunks for which `wanted(first
/// row, rows)` is false (rows 1-based, as in `__row`).
pub fn read_chunks_where(
    pipeline: &Pipeline,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
    chunk_rows: usize,
    wanted: impl Fn(usize, usize) -> bool,
    mut each: impl FnMut(RawBatch) -> Result<()>,
) -> Result<()> {
    match file.format {
        FileFormat::Csv => {
            let frame = read_csv(pipeline, &file.path, None)?;
            each(raw_batch(pipeline, file_index, file, hash_lines, frame)?)
        }
        FileFormat::CsvGz => {
            let bytes = gunzip(&file.path)?;
            let frame = read_csv(pipeline, &file.path, Some(bytes))?;
            each(raw_batch(pipeline, file_index, file, hash_lines, frame)?)
        }
        FileFormat::Parquet => {
            let rows = parquet_rows(&file.path)?;
            let chunk_rows = chunk_rows.max(1);
            if rows <= chunk_rows {
                let frame = read_parquet(&file.path, None)?;
                return each(raw_batch(pipeline, file_index, file, hash_lines, frame)?);
            }
            for offset in (0..rows).step_by(chunk_rows) {
                let len = chunk_rows.min(rows - offset);
                if !wanted(offset + 1, len) {
                    continue;
                }
                let frame = read_parquet(&file.path, Some((offset, len)))?;
                each(raw_batch(pipeline, file_index, file, hash_lines, frame)?)?;
            }
            Ok(())
        }
    }
}

/// Reads one file whole (see [`read_chunks`]).
pub fn read_file(
    pipeline: &Pipeline,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
) -> Result<RawBatch> {
    let mut whole: Option<RawBatch> = None;
    read_chunks(
        pipeline,
        file_index,
        file,
        hash_lines,
        usize::MAX,
        |batch| {
            whole = Some(batch);
            Ok(())
        },
    )?;
    Ok(whole.expect("a file is read as one chunk"))
}

/// The number of data rows of a Parquet file, from its metadata.
pub fn parquet_rows(path: &Path) -> Result<usize> {
    let handle =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    ParquetReader::new(handle)
        .num_rows()
        .map_err(|e| Error::input(path, format!("cannot read as Parquet: {e}")))
}

/// Checks that the mapped columns exist, hashes lines when asked, and keeps
/// `__row` and the mapped columns.
fn raw_batch(
    pipeline: &Pipeline,
    file_index: u32,
    file: &InputFile,
    hash_lines: bool,
    frame: DataFrame,
) -> Result<RawBatch> {
    let needed = pipeline.needed_columns();
    let available: Vec<String> = frame
        .get_column_names()
        .iter()
        .filter(|n| n.as_str() != ROW_COLUMN)
        .map(|n| n.to_string())
        .collect();
    let missing: Vec<&String> = needed.iter().filter(|n| !available.contains(n)).collect();
    if !missing.is_empty() {
        return Err(Error::input(
            &file.path,
            format!(
                "mapped column{} {} not found; the file has: {}",
                if missing.len() > 1 { "s" } else { "" },
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                available
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let line_hash = if hash_lines {
        Some(hash_rows(&frame, &available).map_err(|e| Error::input(&file.path, e.to_string()))?)
    } else {
        None
    };
    let mut keep: Vec<&str> = vec![ROW_COLUMN];
    keep.extend(needed.iter().map(String::as_str));
    let frame = frame
        .select(keep)
        .map_err(|e| Error::input(&file.path, e.to_string()))?;
    Ok(RawBatch {
        file: file_index,
        frame,
        line_hash,
    })
}

fn read_csv(pipeline: &Pipeline, path: &Path, bytes: Option<Vec<u8>>) -> Result<DataFrame> {
    let csv = &pipeline.config.input.csv;
    let row_index = Some(RowIndex {
        name: ROW_COLUMN.into(),
        offset: 1,
    });
    let describe = |e: PolarsError| {
        Error::input(
            path,
            format!(
                "cannot read as CSV (delimiter `{}`, header {}): {}",
                csv.delimiter,
                csv.has_header,
                first_paragraph(&e.to_string())
            ),
        )
    };
    // Every column is read as text: interpreting values is the validate
    // stage's job, so a bad value becomes a named reject instead of a failed
    // or silently nulled column.
    let frame = match bytes {
        None => {
            let path_str = path.to_string_lossy().into_owned();
            LazyCsvReader::new(PlRefPath::new(path_str))
                .with_glob(false)
                .with_has_header(csv.has_header)
                .with_separator(csv.delimiter as u8)
                .with_infer_schema_length(Some(0))
                .with_row_index(row_index)
                .with_raise_if_empty(false)
                .finish()
                .and_then(|lf| lf.collect())
                .map_err(describe)?
        }
        Some(bytes) => CsvReadOptions::default()
            .with_has_header(csv.has_header)
            .with_infer_schema_length(Some(0))
            .with_row_index(row_index)
            .with_raise_if_empty(false)
            .with_parse_options(CsvParseOptions::default().with_separator(csv.delimiter as u8))
            .into_reader_with_file_handle(std::io::Cursor::new(bytes))
            .finish()
            .map_err(describe)?,
    };
    if frame.width() <= 1 {
        return Err(Error::input(
            path,
            "the file is empty: expected a header and order rows",
        ));
    }
    Ok(frame)
}

/// The first paragraph of a Polars error: what went wrong and where. The
/// rest suggests Python API options that do not apply to a pipeline file.
fn first_paragraph(message: &str) -> String {
    let head = message.split("\n\n").next().unwrap_or(message);
    let mut text = head.trim().to_string();
    if message.contains("not properly escaped") {
        text.push_str(" (a field has an unbalanced quote)");
    }
    if message.contains("more fields than defined") {
        text.push_str(" (a row has more fields than the header)");
    }
    text
}

fn gunzip(path: &Path) -> Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let mut decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
    let mut bytes = Vec::new();
    decoder.read_to_end(&mut bytes).map_err(|e| {
        Error::input(
            path,
            format!("cannot decompress as gzip (truncated or not gzip?): {e}"),
        )
    })?;
    Ok(bytes)
}

/// Reads a Parquet file, or the rows `offset..offset + len` of it; `__row`
/// counts from the file's first row either way. The row number is added
/// here from the slice's offset rather than by the scan, so it cannot
/// depend on how the reader pushes the slice down into row groups (and it
/// must agree with the line positions the later stages count).
fn read_parquet(path: &Path, slice: Option<(usize, usize)>) -> Result<DataFrame> {
    let fail = |e: PolarsError| Error::input(path, format!("cannot read as Parquet: {e}"));
    let path_str = path.to_string_lossy().into_owned();
    let args = ScanArgsParquet {
        glob: false,
        ..Default::default()
    };
    let (offset, lf) = match slice {
        Some((offset, len)) => (
            offset,
            LazyFrame::scan_parquet(PlRefPath::new(path_str), args)
                .map(|lf| lf.slice(offset as i64, len as IdxSize)),
        ),
        None => (0, LazyFrame::scan_parquet(PlRefPath::new(path_str), args)),
    };
    let frame = lf.and_then(|lf| lf.collect()).map_err(fail)?;
    if let Some((_, len)) = slice {
        if frame.height() != len {
            return Err(Error::input(
                path,
                format!(
                    "rows {}..{}: read {} rows, expected {len} (did the file change during the run?)",
                    offset + 1,
                    offset + len,
                    frame.height()
                ),
            ));
        }
    }
    frame
        .with_row_index(ROW_COLUMN.into(), Some(offset as IdxSize + 1))
        .map_err(fail)
}

/// One hash per row over the text of every listed column. Used only to
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
        let column = frame.column(name)?;
        let dtype = column.dtype();
        if dtype.is_string() {
            for (h, value) in hashes.iter_mut().zip(column.str()?.iter()) {
                mix(h, value.map(str::as_bytes));
            }
        } else if dtype.is_primitive_numeric() || dtype.is_temporal() {
            // Numbers and timestamps by their bits: no text rendering (which
            // is slow, and fails on out-of-range timestamps).
            let physical = column.to_physical_repr();
            let bits: Vec<Option<u64>> = if physical.dtype().is_float() {
                let floats = physical.cast(&DataType::Float64)?;
                floats.f64()?.iter().map(|v| v.map(f64::to_bits)).collect()
            } else {
                let ints = physical.cast(&DataType::Int64)?;
                ints.i64()?.iter().map(|v| v.map(|x| x as u64)).collect()
            };
            for (h, value) in hashes.iter_mut().zip(bits) {
                mix(h, value.map(u64::to_le_bytes).as_ref().map(|b| &b[..]));
            }
        } else {
            let text = column.cast(&DataType::String)?;
            for (h, value) in hashes.iter_mut().zip(text.str()?.iter()) {
                mix(h, value.map(str::as_bytes));
            }
        }
    }
    Ok(hashes)
}
