//! Running a grid: every cell the ledger lacks is handed to an evaluator; each result is
//! recorded as it arrives; failed attempts are retried.

use std::collections::BTreeSet;

use super::grid::{Cell, Grid};
use super::ledger::{CellRecord, Failure, Ledger};
use crate::evaluation::{Evaluator, Job};
use crate::files::StoreError;

/// Why a grid could not finish.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The ledger could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cells failed on every attempt (the others ran to the end).
    #[error(
        "{failed} cell(s) failed on every attempt, the first: {model} on {dataset} with {loss}, seed {seed}, {attempts} \
         attempt(s), last: {error}; the {done} cells finished are kept (failures.jsonl has every error): continue \
         with --resume"
    )]
    CellFailed {
        /// Cells that failed.
        failed: usize,
        /// The model.
        model: String,
        /// The dataset.
        dataset: String,
        /// The loss's name.
        loss: String,
        /// The seed.
        seed: usize,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
        /// Cells finished.
        done: usize,
    },
    /// The evaluator returned nothing while cells were pending.
    #[error("the evaluator stopped with {0} cells pending; the finished ones are kept: continue with --resume")]
    EvaluatorStopped(usize),
    /// The engine itself could not go on ([`Evaluator::fault`]): no cell was scored on it.
    #[error("{1} ({0} cells pending; the finished ones are kept: continue with --resume)")]
    EngineFault(usize, String),
}

/// What happens as a grid runs.
#[derive(Clone, Copy, Debug)]
pub enum GridEvent<'a> {
    /// Cells are about to train.
    Started {
        /// The results already there, by cell index.
        results: &'a [Option<CellRecord>],
        /// Cells in the grid.
        total: usize,
        /// Cells already finished (this run's or the shared cache's).
        done: usize,
        /// Of those, the ones the shared cache gave.
        cached: usize,
    },
    /// A cell finished.
    Finished {
        /// The cell.
        cell: Cell,
        /// Its record.
        record: &'a CellRecord,
        /// Cells finished so far.
        done: usize,
        /// Cells in the grid.
        total: usize,
    },
    /// An attempt at a cell failed; it is tried again if attempts remain.
    Failed {
        /// The cell.
        cell: Cell,
        /// The attempt, from 1.
        attempt: u32,
        /// What went wrong.
        error: &'a str,
    },
}

/// Runs the cells of `grid` that `ledger` lacks on `evaluator`, each tried up to
/// `1 + retries` times, and returns every cell's record in [`Grid::cells`] order. A cell that
/// fails every attempt does not stop the others: the grid runs to the end, then reports it. Results are
/// recorded as they arrive, in any order; the table they make does not depend on it, so a
/// grid killed and run again ends with the table of an uninterrupted run.
pub fn run_grid(
    grid: &Grid,
    ledger: &Ledger,
    evaluator: &mut dyn Evaluator,
    retries: u32,
    observe: &mut dyn FnMut(GridEvent<'_>),
) -> Result<Vec<CellRecord>, TransferError> {
    let mut results = ledger.results(grid)?;
    let total = grid.len();
    let mut done = results.iter().flatten().count();
    let cached = results.iter().flatten().filter(|r| r.cached).count();
    observe(GridEvent::Started { results: &results, total, done, cached });
    let job = |cell: &Cell, attempt: u32| Job {
        id: cell.index,
        loss: grid.contenders[cell.contender].loss.clone(),
        budget: 1.0,
        attempt,
        replicate: cell.seed,
        task: 0,
    };
    let missing: Vec<Job> = grid.cells().iter().filter(|c| results[c.index].is_none()).map(|c| job(c, 1)).collect();
    // Cells submitted and not finished. A result for any other cell (an evaluator that
    // returned one twice) is not recorded again.
    let mut pending: BTreeSet<usize> = missing.iter().map(|j| j.id).collect();
    let mut given_up: Vec<(Cell, u32, String)> = Vec::new();
    evaluator.submit(missing);
    while !pending.is_empty() {
        let Some((finished, outcome)) = evaluator.next() else {
            return Err(match evaluator.fault() {
                Some(fault) => TransferError::EngineFault(pending.len(), fault),
                None => TransferError::EvaluatorStopped(pending.len()),
            });
        };
        let Some(cell) = grid.cell(finished.id).filter(|c| pending.contains(&c.index)) else { continue };
        match outcome {
            Ok(scored) => {
                let record = CellRecord::new(grid, &cell, scored, finished.attempt);
                ledger.record(&record)?;
                pending.remove(&cell.index);
                done += 1;
                observe(GridEvent::Finished { cell, record: &record, done, total });
                results[cell.index] = Some(record);
            }
            Err(error) => {
                ledger.record_failure(&Failure {
                    key: grid.cell_key(&cell),
                    attempt: finished.attempt,
                    error: error.message().to_owned(),
                    permanent: !error.is_retryable(),
                })?;
                observe(GridEvent::Failed { cell, attempt: finished.attempt, error: error.message() });
                if finished.attempt > retries || !error.is_retryable() {
                    // Given up on; the other cells still run to the end.
                    pending.remove(&cell.index);
                    given_up.push((cell, finished.attempt, error.to_string()));
                } else {
                    evaluator.submit(vec![job(&cell, finished.attempt + 1)]);
                }
            }
        }
    }
    if let Some((cell, attempts, error)) = given_up.first() {
        let (column, contender) = (&grid.columns[cell.column], &grid.contenders[cell.contender]);
        return Err(TransferError::CellFailed {
            failed: given_up.len(),
            model: column.model.clone(),
            dataset: column.dataset.clone(),
            loss: contender.name.clone(),
            seed: cell.seed,
            attempts: *attempts,
            error: error.clone(),
            done,
        });
    }
    Ok(results.into_iter().map(|r| r.expect("every cell finished")).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::evaluation::{EvalError, Fitness, LocalEvaluator, Scored};

    /// A fitness with a known answer per cell, failing each cell's first attempt when asked.
    struct Known {
        grid: Grid,
        flaky: bool,
        calls: AtomicUsize,
    }

    impl Fitness for Known {
        fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.flaky && job.attempt == 1 {
                return Err("node lost".into());
            }
            let cell = self.grid.cell(job.id).unwrap();
            let fitness = 0.5 + 0.1 * cell.contender as f64 + 0.01 * cell.seed as f64 + 0.001 * cell.column as f64;
            Ok(Scored { fitness, metrics: BTreeMap::new(), status: "completed".into() })
        }
        fn task(&self) -> String {
            "known".into()
        }
    }

    fn grid() -> Grid {
        crate::transfer::grid::test_grid(&["ce", "ngl", "focal"], 2, 3)
    }

    #[test]
    fn failures_are_retried_and_finished_cells_never_trained_again() {
        let tmp = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(tmp.path(), None).unwrap();
        let fitness = Arc::new(Known { grid: grid(), flaky: true, calls: AtomicUsize::new(0) });
        let mut evaluator = LocalEvaluator::new(Arc::clone(&fitness) as Arc<dyn Fitness>, 2);
        let records = run_grid(&grid(), &ledger, &mut evaluator, 1, &mut |_| {}).unwrap();
        assert_eq!(records.len(), 18);
        assert_eq!(fitness.calls.load(Ordering::SeqCst), 36, "each cell failed once, then finished");
        assert!(records.iter().all(|r| r.attempt == 2));
        assert_eq!(ledger.failures().unwrap().len(), 18);
        assert_eq!(records[4].scored.fitness, 0.5 + 0.1 + 0.001);

        let again = Arc::new(Known { grid: grid(), flaky: false, calls: AtomicUsize::new(0) });
        let mut evaluator = LocalEvaluator::new(Arc::clone(&again) as Arc<dyn Fitness>, 2);
        assert_eq!(run_grid(&grid(), &ledger, &mut evaluator, 1, &mut |_| {}).unwrap(), records);
        assert_eq!(again.calls.load(Ordering::SeqCst), 0, "nothing trained twice");
    }

    /// Cell 4 fails every attempt; the others give 0.5.
    struct FailsOne;

    impl Fitness for FailsOne {
        fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
            match job.id {
                4 => Err("out of memory".into()),
                _ => Ok(Scored { fitness: 0.5, metrics: BTreeMap::new(), status: "completed".into() }),
            }
        }
        fn task(&self) -> String {
            "fails one".into()
        }
    }

    #[test]
    fn a_cell_failing_every_attempt_is_reported_once_the_others_have_run() {
        let tmp = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(tmp.path(), None).unwrap();
        let mut evaluator = LocalEvaluator::new(Arc::new(FailsOne), 1);
        let err = run_grid(&grid(), &ledger, &mut evaluator, 2, &mut |_| {}).unwrap_err().to_string();
        assert!(
            err.starts_with("1 cell(s) failed on every attempt, the first: m1 on d with ngl, seed 0, 3 attempt(s)"),
            "{err}"
        );
        assert!(err.contains("last: out of memory") && err.contains("--resume"), "{err}");
        assert_eq!(ledger.records().unwrap().len(), 17, "every other cell ran to the end");
        assert_eq!(ledger.failures().unwrap().len(), 3);
    }
}
