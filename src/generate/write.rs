//! Writing a generated history: the order lines as CSV (plain or
//! gzipped) or Parquet, a window of lines at a time ([`LineFile`]), and
//! the survey responses the same way ([`SurveyFile`]).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use chrono::DateTime;
use parquet::arrow::ArrowWriter;

use super::{DimensionModel, Line, Response};
use crate::error::{Error, Result};

/// Rows per Parquet batch (a thousand in tests, so that their small
/// histories' batches straddle windows).
const BATCH_ROWS: usize = if cfg!(test) { 1000 } else { 1 << 20 };

/// The order-line file being written, in time order, a window of lines at
/// a time.
pub(super) struct LineFile<'a> {
    path: &'a Path,
    width: usize,
    dims: &'a DimensionModel,
    format: LineFormat,
}

enum LineFormat {
    Csv(TextSink),
    Parquet(BatchedParquet<Line>),
}

/// A Parquet file written from rows given a window at a time. `pending`:
/// rows waiting for a whole batch. Every batch but the last has
/// [`BATCH_ROWS`] rows, as when the rows were written at once, so the
/// file's bytes do not depend on how they were cut into windows.
struct BatchedParquet<T> {
    // Boxed: the writer's state is over a kilobyte.
    writer: Box<ArrowWriter<std::fs::File>>,
    schema: SchemaRef,
    pending: Vec<T>,
}

impl<T: Clone> BatchedParquet<T> {
    fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        Ok(BatchedParquet {
            writer: Box::new(parquet_writer(path, schema.clone())?),
            schema,
            pending: Vec::new(),
        })
    }

    /// Appends `rows`; `columns` makes a batch's arrays.
    fn write(
        &mut self,
        rows: &[T],
        columns: impl Fn(&[T]) -> Vec<ArrayRef>,
        path: &Path,
    ) -> Result<()> {
        let (writer, schema, pending) = (&mut self.writer, &self.schema, &mut self.pending);
        let mut batch = |rows: &[T]| write_batch(writer, schema, columns(rows), path);
        let mut rest = rows;
        if !pending.is_empty() {
            let taken = (BATCH_ROWS - pending.len()).min(rest.len());
            pending.extend_from_slice(&rest[..taken]);
            rest = &rest[taken..];
            if pending.len() < BATCH_ROWS {
                return Ok(());
            }
            batch(pending)?;
            pending.clear();
        }
        let whole = rest.len() / BATCH_ROWS * BATCH_ROWS;
        rest[..whole].chunks(BATCH_ROWS).try_for_each(&mut batch)?;
        pending.extend_from_slice(&rest[whole..]);
        Ok(())
    }

    /// Writes what is pending and closes the file.
    fn finish(mut self, columns: impl Fn(&[T]) -> Vec<ArrayRef>, path: &Path) -> Result<()> {
        if !self.pending.is_empty() {
            let batch = columns(&self.pending);
            write_batch(&mut self.writer, &self.schema, batch, path)?;
        }
        self.writer.close().map_err(|e| cannot_write(path, &e))?;
        Ok(())
    }
}

impl<'a> LineFile<'a> {
    /// Parquet when `path` ends in `.parquet`, else CSV (gzipped for `.gz`).
    pub(super) fn create(path: &'a Path, width: usize, dims: &'a DimensionModel) -> Result<Self> {
        let format = if is_parquet(path) {
            LineFormat::Parquet(BatchedParquet::create(path, line_schema())?)
        } else {
            let mut out = TextSink::create(path).map_err(|e| cannot_write(path, &e))?;
            writeln!(out, "order_id,customer_id,order_ts,amount,channel,country")
                .map_err(|e| cannot_write(path, &e))?;
            LineFormat::Csv(out)
        };
        Ok(LineFile {
            path,
            width,
            dims,
            format,
        })
    }

    /// Appends `lines` (the next ones in time order).
    pub(super) fn write(&mut self, lines: &[Line]) -> Result<()> {
        let (path, width, dims) = (self.path, self.width, self.dims);
        match &mut self.format {
            LineFormat::Csv(out) => lines
                .iter()
                .try_for_each(|line| write_csv_line(out, line, width, dims))
                .map_err(|e| cannot_write(path, &e)),
            LineFormat::Parquet(file) => {
                file.write(lines, |rows| line_columns(rows, width, dims), path)
            }
        }
    }

    /// Writes what is pending and closes the file.
    pub(super) fn finish(self) -> Result<()> {
        let path = self.path;
        match self.format {
            LineFormat::Csv(out) => out.finish().map_err(|e| cannot_write(path, &e)),
            LineFormat::Parquet(file) => {
                file.finish(|rows| line_columns(rows, self.width, self.dims), path)
            }
        }
    }
}

/// Whether `path` names a Parquet file (else CSV, gzipped for `.gz`).
pub(super) fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn cannot_write(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::output(path, format!("cannot write: {e}"))
}

fn write_csv_line(
    out: &mut TextSink,
    line: &Line,
    width: usize,
    dims: &DimensionModel,
) -> std::io::Result<()> {
    let ts = DateTime::from_timestamp_micros(line.ts_micros).expect("in range");
    let sign = if line.cents < 0 { "-" } else { "" };
    writeln!(
        out,
        "{},{},{},{sign}{}.{:02},{},{}",
        order_id(line, width),
        customer_id(line.customer, width),
        ts.format("%Y-%m-%dT%H:%M:%SZ"),
        line.cents.abs() / 100,
        line.cents.abs() % 100,
        dims.channels[line.channel as usize].0,
        dims.countries[line.country as usize].0,
    )
}

/// A zstd Parquet writer of `schema` at `path`.
fn parquet_writer(path: &Path, schema: SchemaRef) -> Result<ArrowWriter<std::fs::File>> {
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    let mut properties =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    if cfg!(test) {
        // Small pages, cut where the writer's mini-batches end: a batch cut
        // elsewhere than at whole batches then shows in the file's bytes.
        properties = properties
            .set_write_batch_size(64)
            .set_data_page_row_count_limit(100);
    }
    let file = std::fs::File::create(path).map_err(|e| cannot_write(path, &e))?;
    ArrowWriter::try_new(file, schema, Some(properties.build())).map_err(|e| cannot_write(path, &e))
}

fn write_batch(
    writer: &mut ArrowWriter<std::fs::File>,
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    path: &Path,
) -> Result<()> {
    let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| cannot_write(path, &e))?;
    writer.write(&batch).map_err(|e| cannot_write(path, &e))
}

fn line_schema() -> SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "order_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Float64, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
    ]))
}

fn line_columns(chunk: &[Line], width: usize, dims: &DimensionModel) -> Vec<ArrayRef> {
    use arrow::array::{Float64Array, StringArray, TimestampMicrosecondArray};
    vec![
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|l| order_id(l, width)),
        )) as ArrayRef,
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|l| customer_id(l.customer, width)),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|l| l.ts_micros))
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(
            chunk.iter().map(|l| l.cents as f64 / 100.0),
        )),
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|l| dims.channels[l.channel as usize].0),
        )),
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|l| dims.countries[l.country as usize].0),
        )),
    ]
}

pub(super) fn order_id(line: &Line, width: usize) -> String {
    let kind = if line.refund { 'R' } else { 'O' };
    format!("{kind}{:0width$}-{:03}", line.customer + 1, line.order_seq)
}

pub(super) fn customer_id(customer: u64, width: usize) -> String {
    format!("C{:0width$}", customer + 1)
}

/// A CSV file being written: gzip-compressed when its name ends in `.gz`
/// (`orders.csv.gz`, which `[input] format = "auto"` reads back as
/// gzipped CSV), plain otherwise.
enum TextSink {
    Plain(BufWriter<std::fs::File>),
    // Boxed: the encoder's state is a few hundred bytes, the plain
    // writer's a few words.
    Gzip(Box<flate2::write::GzEncoder<BufWriter<std::fs::File>>>),
}

impl TextSink {
    fn create(path: &Path) -> std::io::Result<TextSink> {
        let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        let gzip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        Ok(if gzip {
            TextSink::Gzip(Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )))
        } else {
            TextSink::Plain(file)
        })
    }

    /// Flushes, and for gzip writes the trailer: an error here is the
    /// write's error (dropping an encoder would swallow it).
    fn finish(self) -> std::io::Result<()> {
        match self {
            TextSink::Plain(mut out) => out.flush(),
            TextSink::Gzip(encoder) => encoder.finish()?.flush(),
        }
    }
}

impl Write for TextSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            TextSink::Plain(out) => out.write(buf),
            TextSink::Gzip(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            TextSink::Plain(out) => out.flush(),
            TextSink::Gzip(out) => out.flush(),
        }
    }
}

/// The survey file being written (`customer_id, response_ts, score`), in
/// time order, a window of responses at a time.
pub(super) struct SurveyFile<'a> {
    path: &'a Path,
    width: usize,
    format: SurveyFormat,
}

enum SurveyFormat {
    Csv(TextSink),
    Parquet(BatchedParquet<Response>),
}

impl<'a> SurveyFile<'a> {
    /// Parquet when `path` ends in `.parquet`, else CSV (gzipped for `.gz`).
    pub(super) fn create(path: &'a Path, width: usize) -> Result<Self> {
        let format = if is_parquet(path) {
            SurveyFormat::Parquet(BatchedParquet::create(path, survey_schema())?)
        } else {
            let mut out = TextSink::create(path).map_err(|e| cannot_write(path, &e))?;
            writeln!(out, "customer_id,response_ts,score").map_err(|e| cannot_write(path, &e))?;
            SurveyFormat::Csv(out)
        };
        Ok(SurveyFile {
            path,
            width,
            format,
        })
    }

    /// Appends `responses` (the next ones in time order).
    pub(super) fn write(&mut self, responses: &[Response]) -> Result<()> {
        let (path, width) = (self.path, self.width);
        match &mut self.format {
            SurveyFormat::Csv(out) => responses
                .iter()
                .try_for_each(|response| write_csv_response(out, response, width))
                .map_err(|e| cannot_write(path, &e)),
            SurveyFormat::Parquet(file) => {
                file.write(responses, |rows| survey_columns(rows, width), path)
            }
        }
    }

    /// Writes what is pending and closes the file.
    pub(super) fn finish(self) -> Result<()> {
        let (path, width) = (self.path, self.width);
        match self.format {
            SurveyFormat::Csv(out) => out.finish().map_err(|e| cannot_write(path, &e)),
            SurveyFormat::Parquet(file) => file.finish(|rows| survey_columns(rows, width), path),
        }
    }
}

fn write_csv_response(out: &mut TextSink, r: &Response, width: usize) -> std::io::Result<()> {
    let ts = DateTime::from_timestamp_micros(r.ts_micros).expect("in range");
    writeln!(
        out,
        "{},{},{}",
        customer_id(r.customer, width),
        ts.format("%Y-%m-%dT%H:%M:%SZ"),
        r.score
    )
}

fn survey_schema() -> SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "response_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("score", DataType::Int64, false),
    ]))
}

fn survey_columns(chunk: &[Response], width: usize) -> Vec<ArrayRef> {
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    vec![
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|r| customer_id(r.customer, width)),
        )) as ArrayRef,
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|r| r.ts_micros))
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(
            chunk.iter().map(|r| r.score as i64),
        )),
    ]
}
