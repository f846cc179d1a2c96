//! The run directory: everything a search needs to continue after a crash, written so that a
//! crash at any moment leaves it valid.
//!
//! | file | what | how it is written |
//! |---|---|---|
//! | `evaluations.jsonl` | every candidate screened or evaluated, one JSON object per line | appended and flushed to disk line by line; a torn last line is ignored on reading |
//! | `genealogy.jsonl` | each new candidate's parents and the operator that made it ([`genealogy`](super::genealogy)) | as `evaluations.jsonl`, when a generation is bred |
//! | `state.json` | the next generation, the populations, the hall of fame, the history | replaced atomically (written aside, synced, renamed) after each generation |
//!
//! The random state needs no file of its own: each generation's generator is derived from the
//! search's seed, the generation and the island, so `state.json`'s generation number is the
//! generator's state.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{Record, State};
pub use crate::files::{StoreError, append_line, read_lines, write_atomic};
use crate::files::{parse_json, serde_json_line, serde_json_pretty};

/// A search's run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

/// The candidates file.
pub const EVALUATIONS: &str = "evaluations.jsonl";
/// The lock file: held (an advisory lock of the operating system, released when the process
/// ends, however it ends) by the process that writes the run.
pub const LOCK: &str = "lock";

/// The exclusive hold on a run directory, released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}
/// The state file.
pub const STATE: &str = "state.json";

impl RunDir {
    /// The run directory at `path` (created if missing).
    pub fn create(path: &Path) -> Result<RunDir, StoreError> {
        fs::create_dir_all(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        Ok(RunDir { path: path.to_owned() })
    }

    /// Takes the run directory for this process: a second search (or `confirm`) on the same
    /// directory is refused, naming the process that holds it, until this one ends.
    pub fn lock(&self) -> Result<RunLock, StoreError> {
        let path = self.path.join(LOCK);
        let io = |source| StoreError::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_owned();
                let holder = if holder.is_empty() { "process unknown".to_owned() } else { holder };
                return Err(StoreError::Busy { path: self.path.clone(), holder });
            }
            Err(fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        let me = format!("pid {} on {}", std::process::id(), hostname());
        file.set_len(0).and_then(|()| file.write_all(me.as_bytes())).and_then(|()| file.sync_data()).map_err(io)?;
        Ok(RunLock { _file: file })
    }

    /// Who holds the run directory now (`pid N on HOST`), if a process does: a search or
    /// grid running in it. Asks the lock without waiting, and lets go at once.
    pub fn holder(&self) -> Option<String> {
        let path = self.path.join(LOCK);
        let file = OpenOptions::new().read(true).open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_owned();
                Some(if holder.is_empty() { "process unknown".to_owned() } else { holder })
            }
            Err(fs::TryLockError::Error(_)) => None,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record to `evaluations.jsonl` and flushes it to disk.
    pub fn append(&self, record: &Record) -> Result<(), StoreError> {
        append_line(&self.path.join(EVALUATIONS), record)
    }

    /// Every record of `evaluations.jsonl`, skipping a torn (unparsable) last line.
    pub fn records(&self) -> Result<Vec<Record>, StoreError> {
        read_lines(&self.path.join(EVALUATIONS))
    }

    /// Appends a new candidate's birth to `genealogy.jsonl` and flushes it to disk.
    pub fn append_birth(&self, birth: &super::genealogy::Birth) -> Result<(), StoreError> {
        append_line(&self.path.join(super::genealogy::GENEALOGY), birth)
    }

    /// Every birth of `genealogy.jsonl` (none for a run from before it was recorded), skipping
    /// a torn last line.
    pub fn births(&self) -> Result<Vec<super::genealogy::Birth>, StoreError> {
        read_lines(&self.path.join(super::genealogy::GENEALOGY))
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

/// A fitness cache that runs share: one JSON line per evaluation, `{task, key, budget,
/// replicate, fitness}`, appended. A run reads the entries of its own task (the fitness task's
/// fingerprint, which names dataset, model and training settings), so runs on other tasks can
/// share the file harmlessly. Each line is one short `write` to a file opened for appending,
/// which concurrent runs on one machine do not interleave.
#[derive(Clone, Debug)]
pub struct SharedCache {
    path: PathBuf,
}

/// One evaluation in a [`SharedCache`].
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CacheEntry {
    /// The loss's training key.
    pub key: crate::expr::canon::Key,
    /// The training budget, a fraction of the full run.
    pub budget: f64,
    /// The seed: 0 for the task's own, `r` for confirmation seed `r`.
    #[serde(default)]
    pub replicate: usize,
    /// The fitness.
    pub fitness: f64,
}

#[derive(Serialize, serde::Deserialize)]
struct CacheLine {
    task: String,
    key: crate::expr::canon::Key,
    budget: f64,
    #[serde(default)]
    replicate: usize,
    fitness: f64,
}

impl SharedCache {
    /// The cache at `path` (created on the first append).
    pub fn open(path: &Path) -> Result<SharedCache, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        }
        Ok(SharedCache { path: path.to_owned() })
    }

    /// Every entry of `task`; torn or foreign lines are skipped.
    pub fn entries(&self, task: &str) -> Result<Vec<CacheEntry>, StoreError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path: self.path.clone(), source }),
        };
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match parse_json::<CacheLine>(line) {
                Ok(l) if l.task == task && l.fitness.is_finite() => entries.push(CacheEntry {
                    key: l.key,
                    budget: l.budget,
                    replicate: l.replicate,
                    fitness: l.fitness,
                }),
                Ok(_) => {}
                Err(message) => tracing::warn!("{}: line {} is skipped: {message}", self.path.display(), i + 1),
            }
        }
        Ok(entries)
    }

    /// Adds an entry.
    pub fn append(&self, task: &str, entry: &CacheEntry) -> Result<(), StoreError> {
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        let CacheEntry { key, budget, replicate, fitness } = entry.clone();
        let line = CacheLine { task: task.to_owned(), key, budget, replicate, fitness };
        let mut text = serde_json_line(&line, &self.path)?;
        text.push('\n');
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// This machine's name, for the lock file (where the environment gives none, `unknown host`).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::Loss;
    use crate::search::record::Outcome;
    use crate::search::screen::{Rejected, Stage};

    fn record(i: usize) -> Record {
        let loss = Loss::resolve("ce").unwrap();
        let rejected = Rejected { stage: Stage::Direction, reason: format!("case {i}") };
        Record {
            generation: Some(i),
            key: loss.training_key(),
            loss,
            replicate: 0,
            task: 0,
            outcome: Outcome::Screened { rejected },
        }
    }

    #[test]
    fn a_torn_line_is_skipped_and_then_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        run.append(&record(0)).unwrap();
        // A crash in the middle of a line, even right after a closing brace.
        let path = dir.path().join(EVALUATIONS);
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("{\"generation\":1,\"metrics\":{}");
        fs::write(&path, &text).unwrap();
        assert_eq!(run.records().unwrap(), [record(0)]);
        run.append(&record(2)).unwrap();
        assert_eq!(run.records().unwrap(), [record(0), record(2)]);
        // A corrupt line in the middle is skipped (with a warning); the records around it read.
        let whole = fs::read_to_string(&path).unwrap();
        let (first, rest) = whole.split_once('\n').unwrap();
        fs::write(&path, format!("{first}\nnot json\n{rest}")).unwrap();
        assert_eq!(run.records().unwrap(), [record(0), record(2)]);
    }

    /// A shared cache keeps reading past a line it cannot read, and a run's ledger and state
    /// read back non-finite numbers (a diverged training's) as they were written.
    #[test]
    fn non_finite_numbers_and_bad_lines_never_make_a_record_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SharedCache::open(&dir.path().join("cache.jsonl")).unwrap();
        let entry = |fitness: f64| CacheEntry { key: record(0).key, budget: 0.5, replicate: 1, fitness };
        cache.append("t", &entry(0.25)).unwrap();
        cache.append("t", &entry(f64::NAN)).unwrap();
        let text = fs::read_to_string(dir.path().join("cache.jsonl")).unwrap();
        fs::write(dir.path().join("cache.jsonl"), format!("{{\"task\":\"t\",\"fitness\":null}}\n{text}garbage\n"))
            .unwrap();
        cache.append("t", &entry(0.75)).unwrap();
        let fitness: Vec<f64> = cache.entries("t").unwrap().iter().map(|e| e.fitness).collect();
        assert_eq!(fitness, [0.25, 0.75], "the NaN entry is read and not served; the bad lines are skipped");

        let run = RunDir::create(&dir.path().join("run")).unwrap();
        let mut odd = record(1);
        odd.outcome = Outcome::Failed { rung: 0, attempts: 2, error: "loss is NaN".into(), permanent: false };
        run.append(&odd).unwrap();
        let scored = crate::search::Scored {
            fitness: f64::NAN,
            metrics: [("test_loss".to_owned(), f64::INFINITY)].into(),
            status: "diverged".into(),
        };
        let mut evaluated = record(2);
        evaluated.outcome = Outcome::Evaluated { rung: 0, budget: f64::NEG_INFINITY, attempts: 1, scored };
        run.append(&evaluated).unwrap();
        let read = run.records().unwrap();
        assert_eq!(read[0], odd);
        let Outcome::Evaluated { budget, scored, .. } = &read[1].outcome else { panic!("{:?}", read[1]) };
        assert!(
            *budget == f64::NEG_INFINITY && scored.fitness.is_nan() && scored.metrics["test_loss"] == f64::INFINITY
        );
    }

    #[test]
    fn a_torn_tail_longer_than_a_read_is_cut_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        run.append(&record(0)).unwrap();
        let path = dir.path().join(EVALUATIONS);
        let whole = fs::read_to_string(&path).unwrap();
        fs::write(&path, whole.clone() + &"x".repeat(10_000)).unwrap();
        run.append(&record(1)).unwrap();
        assert_eq!(run.records().unwrap(), [record(0), record(1)]);
        fs::write(&path, "y".repeat(9_000)).unwrap();
        run.append(&record(2)).unwrap();
        assert_eq!(run.records().unwrap(), [record(2)]);
    }

    #[test]
    fn a_second_process_cannot_take_a_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        let held = run.lock().unwrap();
        // The operating system's lock is per open file, so a second open in this process
        // stands for a second process.
        let err = run.lock().unwrap_err().to_string();
        assert!(
            err.contains("in use by another lossgp process") && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        run.lock().expect("free again once the holder is gone");
    }
}
