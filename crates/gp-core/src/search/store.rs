//! The run directory: everything a search needs to continue after a crash, written so that a
//! crash at any moment leaves it valid.
//!
//! | file | what | how it is written |
//! |---|---|---|
//! | `evaluations.jsonl` | every candidate screened or evaluated, one JSON object per line | appended and flushed to disk line by line; a torn last line is ignored on reading |
//! | `state.json` | the next generation, the populations, the hall of fame, the history | replaced atomically (written aside, synced, renamed) after each generation |
//!
//! The random state needs no file of its own: each generation's generator is derived from the
//! search's seed, the generation and the island, so `state.json`'s generation number is the
//! generator's state.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::run::{Record, State};

/// Why the run directory could not be read or written.
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
    /// A file holds something other than what lossgp wrote.
    #[error("{path}: {message} (is this a lossgp run directory?)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A search's run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

/// The candidates file.
pub const EVALUATIONS: &str = "evaluations.jsonl";
/// The state file.
pub const STATE: &str = "state.json";

impl RunDir {
    /// The run directory at `path` (created if missing).
    pub fn create(path: &Path) -> Result<RunDir, StoreError> {
        fs::create_dir_all(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        Ok(RunDir { path: path.to_owned() })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record to `evaluations.jsonl` and flushes it to disk.
    pub fn append(&self, record: &Record) -> Result<(), StoreError> {
        let path = self.path.join(EVALUATIONS);
        let io = |source| StoreError::Io { path: path.clone(), source };
        let mut line = serde_json_line(record, &path)?;
        line.push('\n');
        let mut file = OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        // A torn line from a crash mid-write must not glue itself to this one.
        if file.metadata().map_err(io)?.len() > 0 && !ends_with_newline(&path).map_err(io)? {
            line.insert(0, '\n');
        }
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Every record of `evaluations.jsonl`, skipping a torn (unparsable) last line.
    pub fn records(&self) -> Result<Vec<Record>, StoreError> {
        let path = self.path.join(EVALUATIONS);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let lines: Vec<String> = BufReader::new(file)
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|source| StoreError::Io { path: path.clone(), source })?;
        let last = lines.iter().rposition(|l| !l.trim().is_empty());
        let mut records = Vec::new();
        for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match parse_json(line) {
                Ok(r) => records.push(r),
                Err(_) if Some(i) == last || !line.ends_with('}') => {} // torn by a crash
                Err(message) => {
                    return Err(StoreError::Corrupt { path, message: format!("line {}: {message}", i + 1) });
                }
            }
        }
        Ok(records)
    }

    /// Replaces `state.json` atomically.
    pub fn save_state(&self, state: &State) -> Result<(), StoreError> {
        write_atomic(&self.path.join(STATE), &serde_json_pretty(state, &self.path.join(STATE))?)
    }

    /// `state.json`, if a generation has finished.
    pub fn load_state(&self) -> Result<Option<State>, StoreError> {
        let path = self.path.join(STATE);
        match fs::read_to_string(&path) {
            Ok(text) => parse_json(&text).map(Some).map_err(|message| StoreError::Corrupt { path, message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }
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

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn serde_json_line<T: Serialize>(value: &T, path: &Path) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt { path: path.to_owned(), message: e.to_string() })
}

fn serde_json_pretty<T: Serialize>(value: &T, path: &Path) -> Result<String, StoreError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| StoreError::Corrupt { path: path.to_owned(), message: e.to_string() })
}

fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}
