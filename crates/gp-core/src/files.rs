//! Files that survive a crash at any moment: JSON-lines logs appended line by line
//! ([`append_line`], [`read_lines`]) and files replaced whole ([`write_atomic`]). Every record
//! lossgp keeps (run directories, queues, ledgers, checkpoints) is written through these.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a run's files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another process holds the run directory.
    #[error(
        "{path} is in use by another lossgp process ({holder}); two processes would interleave their \
         records: wait for it to end, or stop it"
    )]
    Busy {
        /// The run directory.
        path: PathBuf,
        /// Who holds it, as it wrote itself into the lock file.
        holder: String,
    },
    /// A file holds something other than what lossgp wrote.
    #[error("{path}: {message} (is this a lossgp run directory?)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Appends `value` to the JSON-lines file at `path` as one line and flushes it to disk. A line
/// torn by a crash mid-write is cut off first, so that only the last line of the file can
/// ever be torn.
pub fn append_line<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: path.to_owned(), source };
    let mut line = serde_json_line(value, path)?;
    line.push('\n');
    cut_torn_tail(path).map_err(io)?;
    let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Every line of the JSON-lines file at `path` (none if it does not exist), skipping a torn
/// (unparsable) last line. An unparsable line elsewhere (a disk fault, a hand edit) is skipped
/// with a warning naming it and left in the file: one bad record never makes the others
/// unreadable, and what it held is what the run has to redo.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::Io { path: path.to_owned(), source }),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let mut values = Vec::new();
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match parse_json(line) {
            Ok(v) => values.push(v),
            Err(_) if Some(i) == last => {} // torn by a crash (the next append cuts a torn last line off)
            Err(message) => tracing::warn!("{}: line {} is skipped: {message}", path.display(), i + 1),
        }
    }
    Ok(values)
}

/// Writes `text` to `path` so that readers see the old file or the new one, never a part:
/// a temporary file beside it, synced, then renamed over it.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: path.to_owned(), source };
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Truncates `path` after its last newline, if it does not end with one (a torn line).
fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // Only the end is read: one byte when the last line is whole, so appending stays
    // proportional to the record, not to the file.
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if end == len && part.last() == Some(&b'\n') {
            return Ok(());
        }
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            file.set_len(start + i as u64 + 1)?;
            return file.sync_data();
        }
        end = start;
    }
    file.set_len(0)?;
    file.sync_data()
}

pub(crate) fn serde_json_line<T: Serialize>(value: &T, path: &Path) -> Result<String, StoreError> {
    crate::json::to_string(value).map_err(|e| StoreError::Corrupt { path: path.to_owned(), message: e.to_string() })
}

pub(crate) fn serde_json_pretty<T: Serialize>(value: &T, path: &Path) -> Result<String, StoreError> {
    crate::json::to_string_pretty(value)
        .map_err(|e| StoreError::Corrupt { path: path.to_owned(), message: e.to_string() })
}

pub(crate) fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    crate::json::from_str(text).map_err(|e| e.to_string())
}
