//! The library's error type. Every variant names where the problem is (file,
//! row, column, key) and what was expected, because the person reading it is
//! an operator looking at a failed nightly job.
//!
//! Messages quote untrusted text (pipeline names, paths, header names, cell
//! values, file names from globs), so everything printed to a terminal goes
//! through [`terminal_text`] (the whole message) or [`quote`] (one value):
//! control characters, escape sequences and bidi overrides are shown
//! escaped, and long quotes are cut, so a hostile file can neither drive
//! the terminal nor flood it.

use std::path::{Path, PathBuf};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file or a command-line value is wrong: exit code 2.
    #[error("invalid pipeline `{}`: {message}", shown_path(.path))]
    Config { path: PathBuf, message: String },

    /// A command-line value is wrong: exit code 2.
    #[error("{0}")]
    Usage(String),

    /// An input file cannot be read as configured: exit code 1.
    #[error("input `{}`: {message}", shown_path(.path))]
    Input { path: PathBuf, message: String },

    /// The pipeline's `[columns]` name a column an input file does not
    /// have: the pipeline file is invalid for this input, exit code 2.
    #[error("input `{}`: {message}", shown_path(.path))]
    Mapping { path: PathBuf, message: String },

    /// Too many rows were rejected for the configured `max_reject_ratio`.
    #[error(
        "{rejected} of {read} rows rejected ({ratio:.4} > max_reject_ratio {max}); first: {first} \
         (see rejects in the run log above; hint: raise `max_reject_ratio` in [rejects] if this is expected)"
    )]
    TooManyRejects {
        rejected: u64,
        read: u64,
        ratio: f64,
        max: f64,
        first: String,
    },

    /// A reconciliation check failed: nothing is published.
    #[error("reconciliation check `{check}` failed: expected {expected}, got {actual}")]
    Check {
        check: String,
        expected: String,
        actual: String,
    },

    /// Writing or verifying an output failed: nothing is published.
    #[error("output `{}`: {message}", shown_path(.path))]
    Output { path: PathBuf, message: String },

    /// Another run holds the output directory's lock: nothing was touched.
    #[error("output directory is locked by another run ({holder}); lock file `{}`", shown_path(.path))]
    Locked { path: PathBuf, holder: String },

    /// There is nothing to compute (no valid order on or before as_of).
    #[error(
        "no valid orders on or before as_of {as_of} (rows read: {rows_read}; rows dated after as_of are excluded)"
    )]
    NoOrders { as_of: String, rows_read: u64 },

    /// The history spans more periods than a run computes (README
    /// "Pipelines", limits); found before any per-period table is allocated.
    #[error(
        "the calendar from the first order ({first_order}) to as_of {as_of} spans {periods} {unit}s: \
         at most {limit} are supported. Check for misdated orders (a placeholder date such as \
         1900-01-01 or a far-future date), exclude them with [[filters]], or set an earlier as_of{hint}"
    )]
    CalendarTooLong {
        first_order: String,
        as_of: String,
        periods: i64,
        unit: &'static str,
        limit: usize,
        hint: &'static str,
    },

    /// The accepted amounts are too large, in total, to sum exactly in
    /// integer cents: nothing is published.
    #[error(
        "the accepted orders and refunds add up to {volume} currency units in absolute value, \
         more than the {limit} this pipeline can sum exactly in integer cents; nothing was \
         published (check the amounts' unit, or split the input, e.g. with a filter)"
    )]
    AmountsOutOfRange { volume: String, limit: String },

    /// A `fail` gate fired (README "Running unattended"): nothing was
    /// published, exit code 3, so a scheduler can tell changed data from
    /// a broken run.
    #[error(
        "{} (nothing was published; `current` still points at {}; rerun with --accept-changes to publish anyway)",
        .gates.join("; "),
        .current.as_deref().map(quote).unwrap_or_else(|| "no run".into())
    )]
    GatesFailed {
        gates: Vec<String>,
        current: Option<String>,
    },

    /// The cluster engine failed (`--engine ballista`): a scheduler or
    /// executor unreachable or lost, or a task that failed.
    #[error("cluster: {0}")]
    Cluster(String),

    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The exit code of a run stopped by a `fail` gate.
pub const GATE_EXIT_CODE: i32 = 3;

impl Error {
    /// The process exit code for this error (SPEC §2): 2 for bad usage or an
    /// invalid config, 1 for a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Mapping { .. } => 2,
            Error::GatesFailed { .. } => GATE_EXIT_CODE,
            _ => 1,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn output(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Output {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The longest quoted value shown in a message, in characters; longer ones
/// are cut with an ellipsis and their size in bytes.
pub const MAX_QUOTED_CHARS: usize = 200;
/// A quoted span in a message is cut only beyond this, so a value already
/// cut by [`quote`] (its ellipsis and byte count included) is left alone.
const MAX_SPAN_CHARS: usize = MAX_QUOTED_CHARS + 40;
/// The longest line of a message shown, in characters.
pub const MAX_LINE_CHARS: usize = 2_000;
/// The most lines of one message shown.
pub const MAX_LINES: usize = 100;

/// Whether `c` may not reach a terminal as is: C0 controls and DEL (ESC
/// starts escape sequences, CR overwrites the line), C1 controls (U+009B is
/// a one-character CSI), and invisible format characters that reorder or
/// hide text (bidi marks, embeddings, overrides and isolates, zero-width
/// characters, line and paragraph separators, the byte-order mark,
/// interlinear annotations).
pub fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Pushes `c` escaped the way Rust writes it (`\n`, `\x1b`, `\u{202e}`).
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `text` with every unsafe character escaped; newlines kept when
/// `keep_newlines` (a message's own line structure).
fn escaped(text: &str, keep_newlines: bool) -> String {
    escaped_but(text, |c| keep_newlines && c == '\n')
}

/// `text` with every unsafe character but the `kept` ones escaped.
fn escaped_but(text: &str, kept: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe_for_terminal(c) && !kept(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A formatted log record made safe for the terminal. The log formatter
/// already escapes ESC, BEL and C1 controls inside messages and fields, so
/// an ESC left in its output starts one of its own colour codes and is
/// kept, as are newlines and tabs; carriage returns, other controls and
/// bidi or zero-width characters are escaped.
pub fn log_text(text: &str) -> String {
    escaped_but(text, |c| matches!(c, '\n' | '\t' | '\u{1b}'))
}

/// The first `max` characters of `shown` and, when it is longer, an
/// ellipsis and the size in bytes of the `original` it was made from.
fn cut(shown: &str, max: usize, original_bytes: usize) -> String {
    match shown.char_indices().nth(max) {
        None => shown.to_string(),
        Some((end, _)) => format!("{}… ({original_bytes} bytes)", &shown[..end]),
    }
}

/// One untrusted value, safe to print inside a message: every control or
/// invisible format character escaped (newlines too, so a value cannot fake
/// a line of its own), at most [`MAX_QUOTED_CHARS`] characters.
pub fn quote(value: &str) -> String {
    cut(&escaped(value, false), MAX_QUOTED_CHARS, value.len())
}

/// A path for a message: escaped like [`quote`], not cut (a long path is
/// still the file to look at).
pub fn shown_path(path: &Path) -> String {
    escaped(&path.display().to_string(), false)
}

/// A whole message made safe for the terminal, the last step before it is
/// printed: every span between backticks (the quoted values, by this
/// crate's convention; an unclosed one runs to the end) is data, so it is
/// escaped newlines included and cut to [`MAX_QUOTED_CHARS`]; the rest has
/// its unsafe characters escaped but keeps its own newlines; then every
/// line is cut to [`MAX_LINE_CHARS`] and the message to [`MAX_LINES`].
pub fn terminal_text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len().min(MAX_LINES * MAX_LINE_CHARS));
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            shown.push('`');
        }
        let inside_quotes = i % 2 == 1;
        if inside_quotes {
            let part_shown = escaped(part, false);
            match part_shown.chars().nth(MAX_SPAN_CHARS) {
                Some(_) => shown.push_str(&cut(&part_shown, MAX_QUOTED_CHARS, part.len())),
                None => shown.push_str(&part_shown),
            }
        } else {
            shown.push_str(&escaped(part, true));
        }
    }
    capped_lines(&shown)
}

/// A whole text of our own making that holds untrusted values without
/// quoting them (the `show` summary: a pipeline name may hold a backtick),
/// for the terminal: unsafe characters escaped, its own newlines kept, every
/// line cut to [`MAX_LINE_CHARS`] and the text to [`MAX_LINES`]. Unlike
/// [`terminal_text`] it gives backticks no meaning.
pub fn terminal_lines(text: &str) -> String {
    capped_lines(&escaped(text, true))
}

/// Cuts every line to [`MAX_LINE_CHARS`] and the text to [`MAX_LINES`].
fn capped_lines(shown: &str) -> String {
    let lines: Vec<&str> = shown.split('\n').collect();
    let mut out: Vec<String> = lines
        .iter()
        .take(MAX_LINES)
        .map(|line| cut(line, MAX_LINE_CHARS, line.len()))
        .collect();
    if lines.len() > MAX_LINES {
        let rest = &lines[MAX_LINES..];
        let bytes: usize = rest.iter().map(|l| l.len() + 1).sum();
        out.push(format!("… ({} more lines, {bytes} bytes)", rest.len()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character a terminal could act on, one of each class.
    const HOSTILE: [char; 12] = [
        '\u{1b}', '\u{7}', '\u{8}', '\r', '\u{0}', '\u{7f}', '\u{9b}', '\u{85}', '\u{202e}',
        '\u{2066}', '\u{200b}', '\u{feff}',
    ];

    fn has_unsafe(text: &str) -> bool {
        text.chars().any(|c| is_unsafe_for_terminal(c) && c != '\n')
    }

    #[test]
    fn quote_escapes_every_control_and_format_character() {
        for c in HOSTILE.into_iter().chain(['\n', '\t']) {
            let value = format!("a{c}[31mb");
            let shown = quote(&value);
            assert!(!shown.contains(c), "{:?} survived in {shown:?}", c as u32);
            assert!(
                shown.starts_with('a') && shown.ends_with("[31mb"),
                "{shown}"
            );
        }
        assert_eq!(quote("\u{1b}[2J"), "\\x1b[2J");
        assert_eq!(quote("x\u{9b}y"), "x\\u{9b}y");
        assert_eq!(quote("l\u{202e}r"), "l\\u{202e}r");
        assert_eq!(quote("two\nlines"), "two\\nlines");
    }

    #[test]
    fn quote_keeps_ordinary_text_including_non_ascii() {
        for text in ["Customer ID", "Zürich, 東京 – ok", "C:\\data\\x.csv", ""] {
            assert_eq!(quote(text), text);
        }
    }

    #[test]
    fn quote_cuts_long_values_with_their_size() {
        let long = "é".repeat(1_000);
        let shown = quote(&long);
        let kept: String = long.chars().take(MAX_QUOTED_CHARS).collect();
        assert_eq!(shown, format!("{kept}… ({} bytes)", long.len()));
        let exact = "x".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quote(&exact), exact);
    }

    #[test]
    fn terminal_lines_gives_backticks_no_meaning() {
        let summary = "pipeline `odd\nas_of 2024-01-31\x1b\nrows 12";
        assert_eq!(
            terminal_lines(summary),
            "pipeline `odd\nas_of 2024-01-31\\x1b\nrows 12"
        );
    }

    #[test]
    fn terminal_text_keeps_lines_and_escapes_the_rest() {
        let message = format!("error in `a{}b`:\n  - second line\r", '\u{1b}');
        let shown = terminal_text(&message);
        assert_eq!(shown, "error in `a\\x1bb`:\n  - second line\\r");
        // A newline inside a quoted value is data, not a line of the message.
        assert_eq!(terminal_text("x `a\nb` y\nz"), "x `a\\nb` y\nz");
        for c in HOSTILE {
            assert!(!has_unsafe(&terminal_text(&format!("x{c}y\n`{c}`"))));
        }
    }

    #[test]
    fn terminal_text_cuts_long_quotes_unclosed_quotes_lines_and_messages() {
        let value = "v".repeat(10_000);
        let shown = terminal_text(&format!("row 3: `{value}` is not a number"));
        let kept = "v".repeat(MAX_QUOTED_CHARS);
        assert_eq!(
            shown,
            format!("row 3: `{kept}… (10000 bytes)` is not a number")
        );
        // An unbalanced quote: the rest of the file after one backtick is
        // one quoted value, shown on one line and cut.
        let rest: String = (0..5_000).map(|i| format!("line {i},a,b\n")).collect();
        let shown = terminal_text(&format!("bad field `{rest}"));
        let kept: String = escaped(&rest, false)
            .chars()
            .take(MAX_QUOTED_CHARS)
            .collect();
        assert_eq!(shown, format!("bad field `{kept}… ({} bytes)", rest.len()));
        // Many lines of the message's own: cut after MAX_LINES.
        let many: String = (0..500).map(|i| format!("  - problem {i}\n")).collect();
        let shown = terminal_text(&many);
        let hidden = &many.split('\n').collect::<Vec<_>>()[MAX_LINES..];
        let hidden_bytes: usize = hidden.iter().map(|l| l.len() + 1).sum();
        assert_eq!(shown.lines().count(), MAX_LINES + 1);
        assert!(
            shown.ends_with(&format!(
                "… ({} more lines, {hidden_bytes} bytes)",
                hidden.len()
            )),
            "{}",
            &shown[shown.len() - 80..]
        );
        // One very long line without quotes.
        let line = "w".repeat(50_000);
        let shown = terminal_text(&line);
        assert_eq!(
            shown,
            format!("{}… (50000 bytes)", "w".repeat(MAX_LINE_CHARS))
        );
    }

    #[test]
    fn terminal_text_leaves_already_quoted_values_alone() {
        let once = format!("`{}`", quote(&"q".repeat(5_000)));
        assert_eq!(terminal_text(&once), once);
        assert_eq!(terminal_text(&terminal_text(&once)), once);
    }

    #[test]
    fn log_text_keeps_its_colours_and_lines_only() {
        let record = "\u{1b}[33mWARN\u{1b}[0m x\ry\u{202e}z\tw\n";
        assert_eq!(
            log_text(record),
            "\u{1b}[33mWARN\u{1b}[0m x\\ry\\u{202e}z\tw\n"
        );
    }

    #[test]
    fn error_display_escapes_paths() {
        let e = Error::input(PathBuf::from("dir/\u{1b}]0;owned\u{7}\nfake.csv"), "bad");
        let shown = e.to_string();
        assert!(!has_unsafe(&shown) && !shown.contains('\n'), "{shown}");
        assert!(shown.contains("\\x1b]0;owned\\x07\\nfake.csv"), "{shown}");
    }
}
