//! The ledger of a transfer run: every finished cell, one JSON line each, appended and flushed
//! as it arrives, so that a run killed at any moment loses at most the cells in training. A
//! cell is known by its key ([`Grid::cell_key`]), not its place in the grid, so that results
//! are reused by a grid that adds losses, models, datasets or seeds, and through a cache file
//! that several runs share.
//!
//! | file | what |
//! |---|---|
//! | `cells.jsonl` | each finished cell ([`CellRecord`]) |
//! | `failures.jsonl` | each failed attempt at a cell (a lost worker, an unreadable file), for the record |
//! | the shared cache, if any | finished cells of every run that names it, any grid |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::grid::{Cell, Grid};
use crate::evaluation::Scored;
use crate::files::{StoreError, append_line, read_lines};

/// The cells file of a run directory.
pub const CELLS: &str = "cells.jsonl";
/// The failed attempts of a run directory.
pub const FAILURES: &str = "failures.jsonl";

/// A finished cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// What identifies the result ([`Grid::cell_key`]).
    pub key: String,
    /// The model, with its options.
    pub model: String,
    /// The dataset.
    pub dataset: String,
    /// The loss's name in the grid.
    pub loss: String,
    /// The loss as an expression.
    pub expr: String,
    /// The seed, from 0.
    pub seed: usize,
    /// Test accuracy (`fitness`), other metrics and how the run ended.
    pub scored: Scored,
    /// Which attempt produced it, from 1.
    pub attempt: u32,
    /// Whether it was taken from the shared cache rather than trained by this run.
    #[serde(default)]
    pub cached: bool,
}

impl CellRecord {
    /// The record of `cell`'s result.
    pub fn new(grid: &Grid, cell: &Cell, scored: Scored, attempt: u32) -> CellRecord {
        let (column, contender) = (&grid.columns[cell.column], &grid.contenders[cell.contender]);
        CellRecord {
            key: grid.cell_key(cell),
            model: column.model.clone(),
            dataset: column.dataset.clone(),
            loss: contender.name.clone(),
            expr: contender.loss.to_string(),
            seed: cell.seed,
            scored,
            attempt,
            cached: false,
        }
    }
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The cell's key.
    pub key: String,
    /// The attempt, from 1.
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// Whether it was permanent: not retried, since another attempt would repeat it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permanent: bool,
}

/// A run directory's ledger, and the shared cache it reads from and adds to.
#[derive(Clone, Debug)]
pub struct Ledger {
    dir: PathBuf,
    cache: Option<PathBuf>,
}

impl Ledger {
    /// The ledger in `dir` (created if missing), with an optional shared cache file.
    pub fn open(dir: &Path, cache: Option<&Path>) -> Result<Ledger, StoreError> {
        for folder in std::iter::once(dir).chain(cache.and_then(Path::parent).filter(|p| !p.as_os_str().is_empty())) {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::Io { path: folder.to_owned(), source })?;
        }
        Ok(Ledger { dir: dir.to_owned(), cache: cache.map(Path::to_owned) })
    }

    /// The results this run has, by cell index: its own, then the shared cache's for cells it
    /// lacks (which are copied into its own file, marked `cached`, so that the run directory
    /// alone holds its table). For the process that holds the run directory.
    pub fn results(&self, grid: &Grid) -> Result<Vec<Option<CellRecord>>, StoreError> {
        let shared: HashMap<String, CellRecord> = match &self.cache {
            Some(path) => read_lines::<CellRecord>(path)?.into_iter().map(|r| (r.key.clone(), r)).collect(),
            None => HashMap::new(),
        };
        let mut results = self.recorded(grid)?;
        for (cell, result) in grid.cells().iter().zip(results.iter_mut()) {
            if result.is_none()
                && let Some(record) = shared.get(&grid.cell_key(cell))
            {
                let record = CellRecord { cached: true, ..relabel(grid, cell, record.clone()) };
                append_line(&self.dir.join(CELLS), &record)?;
                *result = Some(record);
            }
        }
        Ok(results)
    }

    /// The results in the run's own file, by cell index; reads only (for reports on a grid
    /// that may be running).
    pub fn recorded(&self, grid: &Grid) -> Result<Vec<Option<CellRecord>>, StoreError> {
        let own: HashMap<String, CellRecord> = self.records()?.into_iter().map(|r| (r.key.clone(), r)).collect();
        Ok(grid
            .cells()
            .iter()
            .map(|cell| own.get(&grid.cell_key(cell)).map(|r| relabel(grid, cell, r.clone())))
            .collect())
    }

    /// Every record of the run's own file, in the order they were written.
    pub fn records(&self) -> Result<Vec<CellRecord>, StoreError> {
        read_lines(&self.dir.join(CELLS))
    }

    /// Records a finished cell, in the run's file and the shared cache.
    pub fn record(&self, record: &CellRecord) -> Result<(), StoreError> {
        append_line(&self.dir.join(CELLS), record)?;
        match &self.cache {
            Some(path) => append_line(path, &CellRecord { cached: false, ..record.clone() }),
            None => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        append_line(&self.dir.join(FAILURES), failure)
    }

    /// Every failed attempt recorded.
    pub fn failures(&self) -> Result<Vec<Failure>, StoreError> {
        read_lines(&self.dir.join(FAILURES))
    }
}

/// A stored result under this grid's names (the same key may come from a grid that named
/// the loss otherwise, e.g. an expression spelt differently).
fn relabel(grid: &Grid, cell: &Cell, record: CellRecord) -> CellRecord {
    let contender = &grid.contenders[cell.contender];
    CellRecord { loss: contender.name.clone(), expr: contender.loss.to_string(), ..record }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(losses: &[&str], seeds: usize) -> Grid {
        crate::transfer::grid::test_grid(losses, 1, seeds)
    }

    fn scored(fitness: f64) -> Scored {
        Scored { fitness, metrics: Default::default(), status: "completed".into() }
    }

    #[test]
    fn results_survive_a_torn_line_and_are_shared_through_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache/cells.jsonl");
        let first = Ledger::open(&tmp.path().join("a"), Some(&cache)).unwrap();
        let small = grid(&["ce", "ngl"], 2);
        let cells = small.cells();
        first.record(&CellRecord::new(&small, &cells[0], scored(0.8), 1)).unwrap();
        first.record(&CellRecord::new(&small, &cells[3], scored(0.7), 2)).unwrap();
        // A crash mid-write leaves half a line; it is ignored, then cut off by the next append.
        std::fs::OpenOptions::new()
            .append(true)
            .open(tmp.path().join("a").join(CELLS))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"key\": \"m0 on"))
            .unwrap();
        let results = first.results(&small).unwrap();
        assert_eq!(results.iter().filter(|r| r.is_some()).count(), 2);
        assert_eq!(results[3].as_ref().unwrap().scored.fitness, 0.7);
        first.record(&CellRecord::new(&small, &cells[1], scored(0.9), 1)).unwrap();
        assert_eq!(first.records().unwrap().len(), 3);

        // Another run, with a larger grid, takes the three from the cache and keeps them.
        let larger = grid(&["ce", "focal", "ngl"], 3);
        let second = Ledger::open(&tmp.path().join("b"), Some(&cache)).unwrap();
        let results = second.results(&larger).unwrap();
        let found: Vec<(String, usize, f64, bool)> =
            results.iter().flatten().map(|r| (r.loss.clone(), r.seed, r.scored.fitness, r.cached)).collect();
        assert_eq!(found, [("ce".into(), 0, 0.8, true), ("ngl".into(), 0, 0.9, true), ("ngl".into(), 1, 0.7, true)]);
        assert_eq!(second.records().unwrap().len(), 3, "copied into the run's own ledger");
        assert_eq!(second.results(&larger).unwrap(), results, "and read back the same");
    }
}
