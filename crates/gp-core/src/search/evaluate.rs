//! Fitness evaluation: what scores a candidate ([`Fitness`]) and what runs the scoring
//! ([`Evaluator`]). The search hands an evaluator a batch of jobs and takes results back as
//! they finish, in any order; a result may be a failure, which the search retries. Local
//! worker threads ([`LocalEvaluator`]) are one evaluator; one that ships jobs to a cluster
//! implements the same two methods. Jobs and results are plain serde data so that they can
//! cross a process or network boundary.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::task::TaskSet;
use crate::loss::Loss;

/// One candidate to score, at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Identifies the job within its batch.
    pub id: usize,
    /// The candidate.
    pub loss: Loss,
    /// The training budget as a fraction of the full run (successive halving's rung).
    pub budget: f64,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// The training seed: 0 for the task's own, `r >= 1` for confirmation seed `r`, which a
    /// [`Fitness`] maps to a seed of its own that differs from the task's (for a training
    /// run: other initial weights and batch order, the same data).
    #[serde(default)]
    pub replicate: usize,
    /// The task it trains on, for a search over several ([`TaskSet`]): 0 for the only one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub task: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A candidate's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Higher is better; 0 is the worst (a diverged or useless loss). Validation accuracy when
    /// the fitness is a training run.
    pub fitness: f64,
    /// What else the evaluation measured (`steps`, `seconds`, `test_accuracy`, ...).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// How the evaluation ended, e.g. `completed` or `diverged`.
    #[serde(default)]
    pub status: String,
}

/// Scores candidates. A loss that diverges or yields NaN gets fitness 0 (`Ok`); `Err` means
/// the evaluation itself failed (a lost worker, an unreadable file) and may be retried.
pub trait Fitness: Send + Sync {
    /// Scores one candidate.
    fn evaluate(&self, job: &Job) -> Result<Scored, String>;

    /// Identifies the task (dataset, model, training settings): fitness cached under another
    /// task is never reused.
    fn task(&self) -> String;

    /// The tasks a job's [`task`](Job::task) chooses from: this one alone, unless the fitness
    /// spans several ([`MultiTask`](super::MultiTask)).
    fn tasks(&self) -> TaskSet {
        TaskSet::single(&self.task())
    }
}

/// Runs evaluations somewhere: here on threads, or elsewhere.
pub trait Evaluator {
    /// Starts the jobs.
    fn submit(&mut self, jobs: Vec<Job>);

    /// The next finished job and its result, waiting for one; `None` once nothing is
    /// pending, or once the engine itself cannot go on ([`fault`](Self::fault)).
    fn next(&mut self) -> Option<(Job, Result<Scored, String>)>;

    /// Why the engine itself cannot go on (a cluster that refuses submissions, a queue that
    /// cannot be read for minutes), once it has given up; `None` while it works. A fault is
    /// never a job's result: the search stops with this message instead of scoring candidates
    /// on it, and resumes once the engine works again.
    fn fault(&self) -> Option<String> {
        None
    }
}

type Outcome = (Job, Result<Scored, String>);

/// An evaluator on local worker threads. A panicking evaluation becomes a failed result; the
/// worker carries on.
pub struct LocalEvaluator {
    jobs: Option<mpsc::Sender<Job>>,
    results: mpsc::Receiver<Outcome>,
    pending: usize,
    workers: Vec<JoinHandle<()>>,
}

impl LocalEvaluator {
    /// `threads` workers (at least one) scoring with `fitness`.
    pub fn new(fitness: Arc<dyn Fitness>, threads: usize) -> LocalEvaluator {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let workers = (0..threads.max(1))
            .map(|_| {
                let (jobs, results, fitness) = (Arc::clone(&job_rx), result_tx.clone(), Arc::clone(&fitness));
                std::thread::spawn(move || {
                    loop {
                        let job = match jobs.lock().map(|rx| rx.recv()) {
                            Ok(Ok(job)) => job,
                            _ => return,
                        };
                        let result = catch_unwind(AssertUnwindSafe(|| fitness.evaluate(&job)))
                            .unwrap_or_else(|panic| Err(format!("the evaluation panicked: {}", panic_text(&panic))));
                        if results.send((job, result)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        LocalEvaluator { jobs: Some(job_tx), results, pending: 0, workers }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

impl Evaluator for LocalEvaluator {
    fn submit(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            if let Some(tx) = &self.jobs {
                self.pending += usize::from(tx.send(job).is_ok());
            }
        }
    }

    fn next(&mut self) -> Option<Outcome> {
        if self.pending == 0 {
            return None;
        }
        let outcome = self.results.recv().ok()?;
        self.pending -= 1;
        Some(outcome)
    }
}

impl Drop for LocalEvaluator {
    fn drop(&mut self) {
        self.jobs.take();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky;

    impl Fitness for Flaky {
        fn evaluate(&self, job: &Job) -> Result<Scored, String> {
            match job.id {
                0 => panic!("worker lost"),
                1 if job.attempt == 1 => Err("node went away".into()),
                id => Ok(Scored { fitness: id as f64 / 10.0, metrics: BTreeMap::new(), status: "completed".into() }),
            }
        }
        fn task(&self) -> String {
            "flaky".into()
        }
    }

    #[test]
    fn results_come_back_in_any_order_and_failures_are_results() {
        let mut evaluator = LocalEvaluator::new(Arc::new(Flaky), 3);
        let loss = Loss::resolve("ce").unwrap();
        evaluator.submit(
            (0..6).map(|id| Job { id, loss: loss.clone(), budget: 1.0, attempt: 1, replicate: 0, task: 0 }).collect(),
        );
        let mut got: Vec<(usize, Result<f64, String>)> =
            std::iter::from_fn(|| evaluator.next()).map(|(job, result)| (job.id, result.map(|s| s.fitness))).collect();
        got.sort_by_key(|(id, _)| *id);
        assert_eq!(got.len(), 6);
        assert!(got[0].1.as_ref().unwrap_err().contains("panicked: worker lost"));
        assert!(got[1].1.is_err());
        assert_eq!(got[5].1, Ok(0.5));
        assert!(evaluator.next().is_none(), "nothing pending");
    }
}
