//! The library's error type. Every variant names where the problem is (file,
//! row, column, key) and what was expected, because the person reading it is
//! an operator looking at a failed nightly job.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file or a command-line value is wrong: exit code 2.
    #[error("invalid pipeline `{path}`: {message}")]
    Config { path: PathBuf, message: String },

    /// A command-line value is wrong: exit code 2.
    #[error("{0}")]
    Usage(String),

    /// An input file cannot be read as configured: exit code 1.
    #[error("input `{path}`: {message}")]
    Input { path: PathBuf, message: String },

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
    #[error("output `{path}`: {message}")]
    Output { path: PathBuf, message: String },

    /// Another run holds the output directory's lock: nothing was touched.
    #[error("output directory is locked by another run ({holder}); lock file `{path}`")]
    Locked { path: PathBuf, holder: String },

    /// There is nothing to compute (no valid order on or before as_of).
    #[error(
        "no valid orders on or before as_of {as_of} (rows read: {rows_read}; a header-only file has none)"
    )]
    NoOrders { as_of: String, rows_read: u64 },

    /// The accepted amounts are too large, in total, to sum exactly in
    /// integer cents: nothing is published.
    #[error(
        "the accepted orders and refunds add up to {volume} currency units in absolute value, \
         more than the {limit} this pipeline can sum exactly in integer cents; nothing was \
         published (check the amounts' unit, or split the input, e.g. with a filter)"
    )]
    AmountsOutOfRange { volume: String, limit: String },

    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code for this error (SPEC §2): 2 for bad usage or an
    /// invalid config, 1 for a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) => 2,
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
