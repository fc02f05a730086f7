//! Files written whole and put in place atomically: a temporary beside
//! the target, written and fsynced, then renamed over it, with the crash
//! points of the chaos tests either side of the rename. Shared by the
//! publishing protocol (`publish`) and the files written beside it (the
//! views, the report).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::faults;

/// After writing `temporary`: renames it to `path`, or removes it when
/// the write failed (`written`), with the crash points either side of
/// the rename.
pub(super) fn into_place<T, E: std::fmt::Display>(
    written: std::result::Result<T, E>,
    temporary: &Path,
    path: &Path,
    file_name: &str,
) -> Result<T> {
    let value = written.map_err(|e| {
        // Ours: `create_temporary` made or vetted it.
        let _ = std::fs::remove_file(temporary);
        Error::output(temporary, format!("cannot write: {e}"))
    })?;
    faults::crash_point(&format!("publish::temp_written::{file_name}"));
    std::fs::rename(temporary, path)
        .map_err(|e| Error::output(path, format!("cannot rename into place: {e}")))?;
    faults::crash_point(&format!("publish::renamed::{file_name}"));
    Ok(value)
}

pub(super) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` through an fsynced temporary and a rename.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = temporary_path(path);
    let file_name = file_name(path);
    let mut file = create_temporary(&temporary)?;
    let mut write = || -> std::io::Result<()> {
        file.write_all(bytes)?;
        faults::io_point(&format!("publish::enospc::{file_name}"))?;
        file.sync_all()
    };
    into_place(write(), &temporary, path, &file_name)
}

/// Opens (creating if needed) a file this tool owns, for writing, without
/// ever following a symbolic link or writing through another name: the
/// path must be a regular file with a single link (a hard link to a user's
/// file would be truncated along with it). Not truncated here: the caller
/// truncates only once it knows the file is its own.
pub(super) fn open_own_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        // NONBLOCK: a FIFO put in its place must not hang the run (it is
        // then refused below).
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.file_type().is_file() {
        return Err(std::io::Error::other(
            "not a regular file (retention writes only its own regular files)",
        ));
    }
    if metadata.nlink() > 1 {
        return Err(std::io::Error::other(format!(
            "a regular file with {} hard links (retention writes only its own files)",
            metadata.nlink()
        )));
    }
    Ok(file)
}

/// A temporary output file, empty: our own regular file or a new one.
pub(super) fn create_temporary(path: &Path) -> Result<File> {
    let refuse = |e: std::io::Error| Error::output(path, format!("cannot create: {}", why(&e)));
    let file = open_own_file(path).map_err(refuse)?;
    file.set_len(0).map_err(refuse)?;
    Ok(file)
}

/// An I/O error in words, naming the symbolic-link case `O_NOFOLLOW`
/// reports as "too many levels of symbolic links".
pub(super) fn why(e: &std::io::Error) -> String {
    if e.raw_os_error() == Some(libc::ELOOP) {
        "it is a symbolic link, which retention never follows".to_string()
    } else {
        e.to_string()
    }
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
