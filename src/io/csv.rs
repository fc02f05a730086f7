//! Reading CSV (and gzipped CSV) input in chunks of whole records.
//!
//! The file is streamed once: a quote-aware scan cuts it into chunks of at
//! most `chunk_rows` records and about [`CHUNK_BYTES`] bytes, ending at a
//! record boundary (a newline outside quotes, so quoted fields with
//! embedded newlines never straddle two chunks), and Polars parses each
//! chunk with the header put in front. Only one chunk of text and its frame
//! are in memory at a time, whatever the file's size.
//!
//! The scan also checks what Polars would report without a row number: a
//! record with more fields than the header, bytes that are not UTF-8, and a
//! quote that is never closed are errors naming the file, the 1-based data
//! row and the column.

use std::io::{BufRead, Read};
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::stages::raw::ROW_COLUMN;

/// Bytes of CSV text parsed at a time (a chunk ends at the first record
/// boundary past it): bounds the text and its frame in memory.
pub const CHUNK_BYTES: usize = 64 << 20;

/// How a CSV file is laid out (from `[input.csv]`).
#[derive(Debug, Clone, Copy)]
pub struct CsvLayout {
    pub delimiter: u8,
    pub has_header: bool,
}

const QUOTE: u8 = b'"';
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Streams `source` (the text of the file at `path`) in chunks, handing
/// each chunk for which `wanted(first row, rows)` holds (rows 1-based) to
/// `each` as a frame of text columns plus `__row`. A file with a header
/// and no rows gives one empty frame (its columns).
pub fn read_csv_chunks(
    path: &Path,
    source: impl Read,
    layout: CsvLayout,
    chunk_rows: usize,
    chunk_bytes: usize,
    wanted: impl Fn(usize, usize) -> bool,
    mut each: impl FnMut(DataFrame) -> Result<()>,
) -> Result<()> {
    let mut scanner = Scanner::new(path, source, layout);
    let Some(header) = scanner.header()? else {
        return Err(Error::input(
            path,
            "the file is empty: expected a header and order rows",
        ));
    };
    let mut rows_before = 0usize;
    let mut emitted = false;
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        chunk.extend_from_slice(&header.line);
        let rows = scanner.fill(
            &mut chunk,
            &header,
            rows_before,
            chunk_rows.max(1),
            chunk_bytes,
        )?;
        if rows == 0 && emitted {
            break;
        }
        if rows == 0 || wanted(rows_before + 1, rows) {
            let frame = parse_chunk(path, &chunk, layout, rows_before)?;
            if frame.height() != rows {
                return Err(Error::input(
                    path,
                    format!(
                        "rows {}..{}: parsed {} rows where the scan found {rows}",
                        rows_before + 1,
                        rows_before + rows,
                        frame.height()
                    ),
                ));
            }
            each(frame)?;
        }
        emitted = true;
        rows_before += rows;
        if rows == 0 {
            break;
        }
    }
    Ok(())
}

/// Parses one chunk (header line first) into text columns and `__row`
/// counting from `rows_before + 1`.
fn parse_chunk(
    path: &Path,
    text: &[u8],
    layout: CsvLayout,
    rows_before: usize,
) -> Result<DataFrame> {
    let row_index = Some(RowIndex {
        name: ROW_COLUMN.into(),
        offset: rows_before as IdxSize + 1,
    });
    // Every column is read as text: interpreting values is the validate
    // stage's job, so a bad value becomes a named reject instead of a
    // failed or silently nulled column.
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_row_index(row_index)
        .with_raise_if_empty(false)
        .with_parse_options(CsvParseOptions::default().with_separator(layout.delimiter))
        .into_reader_with_file_handle(std::io::Cursor::new(text))
        .finish()
        .map_err(|e| {
            Error::input(
                path,
                format!(
                    "rows from {}: cannot read as CSV (delimiter `{}`, header {}): {}",
                    rows_before + 1,
                    layout.delimiter as char,
                    layout.has_header,
                    first_paragraph(&e.to_string())
                ),
            )
        })
}

/// The first paragraph of a Polars error: what went wrong and where. The
/// rest suggests Python API options that do not apply to a pipeline file.
fn first_paragraph(message: &str) -> String {
    let head = message.split("\n\n").next().unwrap_or(message);
    head.trim().chars().take(300).collect()
}

/// The header every chunk is parsed with.
struct Header {
    /// The header record with its line end (for a file without a header,
    /// a made-up `column_1,column_2,…` line, Polars' own names).
    line: Vec<u8>,
    names: Vec<String>,
}

/// The quote-aware record scan over the file's bytes.
struct Scanner<'p, R: Read> {
    path: &'p Path,
    source: std::io::BufReader<R>,
    layout: CsvLayout,
    /// A record read ahead (the first data row of a file without header).
    held: Option<Vec<u8>>,
}

impl<'p, R: Read> Scanner<'p, R> {
    fn new(path: &'p Path, source: R, layout: CsvLayout) -> Scanner<'p, R> {
        Scanner {
            path,
            source: std::io::BufReader::with_capacity(1 << 20, source),
            layout,
            held: None,
        }
    }

    /// The header: the first record (BOM removed), or for a file without
    /// one, names for the first record's fields. `None` for an empty file.
    fn header(&mut self) -> Result<Option<Header>> {
        let mut first = Vec::new();
        let fields = match self.record(&mut first, 0)? {
            None => return Ok(None),
            Some(fields) => fields,
        };
        if first.starts_with(BOM) {
            first.drain(..BOM.len());
        }
        if is_blank(&first) {
            return Ok(None);
        }
        if self.layout.has_header {
            let names = split_fields(&first, self.layout.delimiter);
            if let Err(e) = std::str::from_utf8(&first) {
                let column = field_at(&first, e.valid_up_to(), self.layout.delimiter);
                return Err(Error::input(
                    self.path,
                    format!(
                        "the header's field {}: invalid utf-8 byte 0x{:02X} (re-export the file as UTF-8)",
                        column + 1,
                        first[e.valid_up_to()]
                    ),
                ));
            }
            if !first.ends_with(b"\n") {
                first.push(b'\n');
            }
            return Ok(Some(Header { line: first, names }));
        }
        let names: Vec<String> = (1..=fields).map(|i| format!("column_{i}")).collect();
        let mut line = names
            .join(&(self.layout.delimiter as char).to_string())
            .into_bytes();
        line.push(b'\n');
        self.held = Some(first);
        Ok(Some(Header { line, names }))
    }

    /// Appends records to `chunk` until `max_rows` records or `max_bytes`
    /// bytes; returns how many. Checks each record (see the module docs).
    fn fill(
        &mut self,
        chunk: &mut Vec<u8>,
        header: &Header,
        rows_before: usize,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<usize> {
        let mut rows = 0;
        let start = chunk.len();
        while rows < max_rows && chunk.len() - start < max_bytes {
            let record_start = chunk.len();
            let fields = match self.held.take() {
                Some(record) => {
                    chunk.extend_from_slice(&record);
                    count_fields(&record, self.layout.delimiter)
                }
                None => match self.record(chunk, rows_before + rows + 1)? {
                    None => break,
                    Some(fields) => fields,
                },
            };
            let record = &chunk[record_start..];
            // A blank line (at the end of a file, typically) is no record.
            if is_blank(record) {
                chunk.truncate(record_start);
                continue;
            }
            rows += 1;
            let row = rows_before + rows;
            if fields > header.names.len() {
                return Err(Error::input(
                    self.path,
                    format!(
                        "row {row} has more fields ({fields}) than the header ({}): an unquoted delimiter in a value?",
                        header.names.len()
                    ),
                ));
            }
            if let Err(e) = std::str::from_utf8(record) {
                let at = field_at(record, e.valid_up_to(), self.layout.delimiter);
                let column = header
                    .names
                    .get(at)
                    .map_or(format!("field {}", at + 1), |n| format!("column `{n}`"));
                return Err(Error::input(
                    self.path,
                    format!(
                        "row {row} {column}: invalid utf-8 byte 0x{:02X} (re-export the file as UTF-8)",
                        record[e.valid_up_to()]
                    ),
                ));
            }
            if !record.ends_with(b"\n") {
                chunk.push(b'\n');
            }
        }
        Ok(rows)
    }

    /// Appends the next record (through its line end, if any) to `out` and
    /// returns its field count; `None` at the end of the file. `row` names
    /// the record in the error for a quote never closed.
    fn record(&mut self, out: &mut Vec<u8>, row: usize) -> Result<Option<usize>> {
        let delimiter = self.layout.delimiter;
        let mut scan = RecordScan::default();
        let mut any = false;
        loop {
            let path = self.path;
            let buffer = self
                .source
                .fill_buf()
                .map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
            if buffer.is_empty() {
                if scan.in_quotes {
                    return Err(Error::input(
                        self.path,
                        format!("row {row}: a quoted field is never closed (an unbalanced `\"`)"),
                    ));
                }
                return Ok(any.then_some(scan.fields));
            }
            any = true;
            let end = scan.end_in(buffer, delimiter);
            let used = end.unwrap_or(buffer.len());
            out.extend_from_slice(&buffer[..used]);
            self.source.consume(used);
            if end.is_some() {
                return Ok(Some(scan.fields));
            }
        }
    }
}

/// How many times `byte` occurs in `bytes` (a loop the compiler
/// vectorizes).
fn count_of(byte: u8, bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == byte).count()
}

/// A record being scanned for its end, across the reader's buffers: its
/// field count so far and whether a quoted field is open.
struct RecordScan {
    in_quotes: bool,
    fields: usize,
}

impl Default for RecordScan {
    fn default() -> Self {
        RecordScan {
            in_quotes: false,
            fields: 1,
        }
    }
}

impl RecordScan {
    /// Where the record ends in `bytes` (after its newline), if it does,
    /// counting its delimiters outside quotes on the way. It jumps to the
    /// next quote or newline with `memchr`'s vector search and counts the
    /// delimiters before it in one vectorized pass: the scan is the one
    /// thread of reading a CSV file, and stepping byte by byte it took
    /// about a tenth of the run's CPU time at 10 M orders.
    fn end_in(&mut self, bytes: &[u8], delimiter: u8) -> Option<usize> {
        let mut at = 0;
        loop {
            if self.in_quotes {
                at += memchr::memchr(QUOTE, &bytes[at..])? + 1;
                self.in_quotes = false;
                continue;
            }
            let rest = &bytes[at..];
            let Some(found) = memchr::memchr2(QUOTE, b'\n', rest) else {
                self.fields += count_of(delimiter, rest);
                return None;
            };
            self.fields += count_of(delimiter, &rest[..found]);
            at += found + 1;
            match rest[found] {
                QUOTE => self.in_quotes = true,
                _ => return Some(at),
            }
        }
    }
}

fn is_blank(record: &[u8]) -> bool {
    record.iter().all(|&b| b == b'\n' || b == b'\r')
}

/// The number of fields of a record (delimiters outside quotes, plus one).
fn count_fields(record: &[u8], delimiter: u8) -> usize {
    field_at(record, record.len(), delimiter) + 1
}

/// The 0-based field that byte `position` of a record falls in.
fn field_at(record: &[u8], position: usize, delimiter: u8) -> usize {
    let mut in_quotes = false;
    let mut field = 0;
    for &b in &record[..position] {
        if b == QUOTE {
            in_quotes = !in_quotes;
        } else if b == delimiter && !in_quotes {
            field += 1;
        }
    }
    field
}

/// The header's field names (quotes removed), for naming columns in errors.
fn split_fields(record: &[u8], delimiter: u8) -> Vec<String> {
    let text = String::from_utf8_lossy(record);
    let text = text.trim_end_matches(['\n', '\r']);
    let mut names = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if in_quotes && chars.peek() == Some(&'"') {
                current.push('"');
                chars.next();
            } else {
                in_quotes = !in_quotes;
            }
        } else if c == delimiter as char && !in_quotes {
            names.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    names.push(current);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The records of `bytes` found byte by byte (the scan [`RecordScan`]
    /// replaced, as the oracle): each record's end in `bytes` and its
    /// fields, then whether a quote is left open.
    fn records_byte_by_byte(bytes: &[u8], delimiter: u8) -> (Vec<(usize, usize)>, bool) {
        let (mut records, mut in_quotes, mut fields) = (Vec::new(), false, 1);
        for (i, &b) in bytes.iter().enumerate() {
            if b == QUOTE {
                in_quotes = !in_quotes;
            } else if !in_quotes {
                if b == delimiter {
                    fields += 1;
                } else if b == b'\n' {
                    records.push((i + 1, fields));
                    fields = 1;
                }
            }
        }
        (records, in_quotes)
    }

    /// The same, by [`RecordScan`] over buffers ending at `cuts`.
    fn records_scanned(bytes: &[u8], delimiter: u8, cuts: &[usize]) -> (Vec<(usize, usize)>, bool) {
        let mut ends: Vec<usize> = cuts.iter().map(|&c| c % (bytes.len() + 1)).collect();
        ends.push(bytes.len());
        ends.sort_unstable();
        let (mut records, mut scan, mut start) = (Vec::new(), RecordScan::default(), 0);
        for end in ends {
            while let Some(length) = scan.end_in(&bytes[start..end], delimiter) {
                records.push((start + length, scan.fields));
                start += length;
                scan = RecordScan::default();
            }
            start = end;
        }
        (records, scan.in_quotes)
    }

    proptest! {
        /// Records cut with the vector search end where the byte-by-byte
        /// scan ends them, with as many fields, however the reader's
        /// buffers split them: quotes (doubled, unbalanced), delimiters and
        /// newlines inside and outside quotes.
        #[test]
        fn records_end_where_the_byte_scan_ends_them(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"a,;\"\n\r".to_vec()), 0..300),
            cuts in proptest::collection::vec(0usize..400, 0..6),
            semicolon in any::<bool>(),
        ) {
            let delimiter = if semicolon { b';' } else { b',' };
            prop_assert_eq!(
                records_scanned(&bytes, delimiter, &cuts),
                records_byte_by_byte(&bytes, delimiter)
            );
        }
    }

    fn chunks(
        text: &[u8],
        has_header: bool,
        chunk_rows: usize,
        chunk_bytes: usize,
    ) -> Result<Vec<DataFrame>> {
        let mut out = Vec::new();
        read_csv_chunks(
            Path::new("t.csv"),
            text,
            CsvLayout {
                delimiter: b',',
                has_header,
            },
            chunk_rows,
            chunk_bytes,
            |_, _| true,
            |frame| {
                out.push(frame);
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn whole(frames: &[DataFrame]) -> DataFrame {
        let mut all = frames[0].clone();
        for f in &frames[1..] {
            all.vstack_mut(f).unwrap();
        }
        all
    }

    #[test]
    fn chunks_cut_at_records_not_at_quoted_newlines() {
        let text = b"\xEF\xBB\xBFid,note\r\n1,\"a\r\nb\"\r\n2,\"x,\"\"y\"\"\"\r\n3,plain\r\n\r\n";
        let one = whole(&chunks(text, true, usize::MAX, usize::MAX).unwrap());
        for rows in 1..4 {
            for bytes in [1, 5, 1000] {
                let parts = chunks(text, true, rows, bytes).unwrap();
                assert!(whole(&parts).equals_missing(&one), "{rows} {bytes}");
            }
        }
        assert_eq!(one.height(), 3);
        assert_eq!(one.get_column_names(), [ROW_COLUMN, "id", "note"]);
        let notes: Vec<Option<&str>> = one.column("note").unwrap().str().unwrap().iter().collect();
        assert_eq!(notes, [Some("a\r\nb"), Some("x,\"y\""), Some("plain")]);
    }

    #[test]
    fn errors_name_the_row_and_column() {
        let extra = chunks(b"a,b\n1,2\n3,4,5\n", true, 1, 1).err().unwrap();
        assert!(
            extra.to_string().contains("row 2 has more fields (3)"),
            "{extra}"
        );
        let bad = chunks(b"a,b\n1,2\n3,x\xFFy\n", true, 10, 100)
            .err()
            .unwrap();
        assert!(bad.to_string().contains("row 2 column `b`"), "{bad}");
        let open = chunks(b"a,b\n1,\"2\n3,4\n", true, 10, 100).err().unwrap();
        assert!(
            open.to_string()
                .contains("row 1: a quoted field is never closed"),
            "{open}"
        );
        let empty = chunks(b"", true, 10, 100).err().unwrap();
        assert!(empty.to_string().contains("empty"), "{empty}");
    }

    #[test]
    fn header_only_and_headerless_files() {
        let frames = chunks(b"a,b\n", true, 10, 100).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].height(), 0);
        assert_eq!(frames[0].width(), 3);
        let frames = chunks(b"1,2\n3,4", false, 1, 100).unwrap();
        let all = whole(&frames);
        assert_eq!(all.get_column_names(), [ROW_COLUMN, "column_1", "column_2"]);
        let rows: Vec<u32> = all
            .column(ROW_COLUMN)
            .unwrap()
            .cast(&DataType::UInt32)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(rows, [1, 2]);
    }
}
