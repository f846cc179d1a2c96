//! Local worker threads: the evaluator of one machine.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use super::error::EvalError;
use super::evaluator::Evaluator;
use super::fitness::Fitness;
use super::job::{Job, Scored};

type Outcome = (Job, Result<Scored, EvalError>);

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
                        let result =
                            catch_unwind(AssertUnwindSafe(|| fitness.evaluate(&job))).unwrap_or_else(|panic| {
                                Err(EvalError::transient(format!(
                                    "the evaluation panicked: {}",
                                    crate::panic::message(&*panic).unwrap_or_default()
                                )))
                            });
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::loss::Loss;

    struct Flaky;

    impl Fitness for Flaky {
        fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
            match job.id {
                0 => panic!("worker lost"),
                1 if job.attempt == 1 => Err(EvalError::transient("node went away")),
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
        let mut got: Vec<(usize, Result<f64, String>)> = std::iter::from_fn(|| evaluator.next())
            .map(|(job, result)| (job.id, result.map(|s| s.fitness).map_err(|e| e.to_string())))
            .collect();
        got.sort_by_key(|(id, _)| *id);
        assert_eq!(got.len(), 6);
        assert!(got[0].1.as_ref().unwrap_err().contains("panicked: worker lost"));
        assert!(got[1].1.is_err());
        assert_eq!(got[5].1, Ok(0.5));
        assert!(evaluator.next().is_none(), "nothing pending");
    }
}
