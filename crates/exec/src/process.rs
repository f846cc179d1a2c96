//! An evaluator on worker processes ([`ProcessEvaluator`]): jobs and results cross as files of
//! a [`Queue`] in the run directory, so a worker is any program that claims jobs from the queue
//! and completes them (`lossgp worker`). Processes rather than threads: each has its own
//! backend threads and memory, a crash or an out-of-memory kill takes one worker and one job
//! with it, and the same queue serves workers that a cluster scheduler starts elsewhere.
//!
//! A worker that dies fails the jobs it had claimed (the search retries them, up to
//! `retries`) and is started again.

use std::collections::HashMap;
use std::process::Child;
use std::time::Duration;

use crate::queue::Queue;
use lossgp_core::evaluation::{EvalError, Evaluator, Job, Scored};
use lossgp_core::files::StoreError;

/// How long to wait between looks at the queue.
const POLL: Duration = Duration::from_millis(20);

/// Starts the worker with the given id (`w0`, `w1`, ...): a command that claims jobs from the
/// queue until its parent (this process) is gone.
pub type Spawn = Box<dyn Fn(&str) -> std::io::Result<Child> + Send>;

/// Worker processes fed through a [`Queue`].
pub struct ProcessEvaluator {
    queue: Queue,
    spawn: Spawn,
    workers: Vec<(String, Option<Child>)>,
    /// Jobs submitted and not yet returned, by queue name.
    pending: HashMap<String, Job>,
    /// Results taken from the queue, waiting to be returned.
    ready: Vec<(Job, Result<Scored, EvalError>)>,
    next_name: u64,
    /// What starts this evaluator's job names: its start time (see [`crate::queue`]).
    prefix: String,
    /// Restarts of dead workers.
    restarts: usize,
    /// Why the workers cannot go on, once they cannot ([`Evaluator::fault`]).
    fault: Option<String>,
}

impl ProcessEvaluator {
    /// `count` workers started by `spawn`, on a queue emptied first (results that no search
    /// recorded are evaluated again).
    pub fn new(queue: Queue, count: usize, spawn: Spawn) -> Result<ProcessEvaluator, StoreError> {
        queue.clear()?;
        let workers = (0..count.max(1)).map(|i| (format!("w{i}"), None)).collect();
        Ok(ProcessEvaluator {
            queue,
            spawn,
            workers,
            pending: HashMap::new(),
            ready: Vec::new(),
            next_name: 0,
            prefix: start_stamp(),
            restarts: 0,
            fault: None,
        })
    }

    /// How many times a dead worker was started again.
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// Starts missing workers; fails the claims of dead ones. An error: a worker cannot start.
    fn tend(&mut self) -> Result<(), String> {
        for (id, child) in &mut self.workers {
            let dead = match child {
                None => false,
                Some(c) => !matches!(c.try_wait(), Ok(None)),
            };
            if dead {
                let status = child.take().and_then(|mut c| c.wait().ok());
                let why = status.map_or("it vanished".to_owned(), |s| format!("it exited with {s}"));
                tracing::warn!(worker = %id, "worker died ({why}); starting it again");
                let abandoned = self.queue.abandon(id).map_err(|e| e.to_string())?;
                for name in abandoned {
                    if let Some(job) = self.pending.remove(&name) {
                        self.ready.push((
                            job,
                            Err(EvalError::transient(format!("worker {id} died during the evaluation: {why}"))),
                        ));
                    }
                }
                self.restarts += 1;
            }
            if child.is_none() {
                *child = Some((self.spawn)(id).map_err(|e| format!("worker {id} could not start: {e}"))?);
            }
        }
        Ok(())
    }
}

/// Nanoseconds since 1970 in hexadecimal, fixed width so that names sort by start.
pub(super) fn start_stamp() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:020x}")
}

impl Evaluator for ProcessEvaluator {
    fn submit(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            let name = format!("{}-{:09}", self.prefix, self.next_name);
            self.next_name += 1;
            match self.queue.submit(&name, &job) {
                Ok(()) => {
                    self.pending.insert(name, job);
                }
                Err(e) => {
                    self.ready.push((job, Err(EvalError::transient(format!("the job could not be queued: {e}")))))
                }
            }
        }
    }

    fn next(&mut self) -> Option<(Job, Result<Scored, EvalError>)> {
        loop {
            if let Some(done) = self.ready.pop() {
                return Some(done);
            }
            if self.pending.is_empty() || self.fault.is_some() {
                return None;
            }
            if let Err(e) = self.tend() {
                // No worker can run: the engine's fault, not a job's. No candidate is scored on it.
                self.fault = Some(format!("{e}; no job was scored on this: fix it and resume with --resume"));
                return None;
            }
            match self.queue.take_done() {
                Ok(done) => {
                    for (name, result) in done {
                        if let Some(job) = self.pending.remove(&name) {
                            self.ready.push(match result {
                                Ok(result) => (result.job, result.result),
                                Err(why) => (job, Err(EvalError::transient(why))),
                            });
                        }
                    }
                }
                Err(e) => {
                    self.fault = Some(format!(
                        "the job queue could not be read: {e}; no job was scored on this: resume with --resume"
                    ));
                    return None;
                }
            }
            if self.ready.is_empty() {
                std::thread::sleep(POLL);
            }
        }
    }

    fn fault(&self) -> Option<String> {
        self.engine_fault()
    }
}

impl ProcessEvaluator {
    fn engine_fault(&self) -> Option<String> {
        self.fault.clone()
    }
}

impl Drop for ProcessEvaluator {
    fn drop(&mut self) {
        for (_, child) in &mut self.workers {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Runs a worker: claims jobs from `queue` as `id` and completes them with `evaluate`, until
/// `alive` says to stop (its coordinator is gone). Idle, it looks at the queue every 20 ms.
pub fn work(
    queue: &Queue,
    id: &str,
    evaluate: &dyn Fn(&Job) -> Result<Scored, EvalError>,
    alive: &dyn Fn() -> bool,
) -> Result<usize, StoreError> {
    let mut done = 0;
    while alive() {
        let Some((name, job)) = queue.claim(id)? else {
            std::thread::sleep(POLL);
            continue;
        };
        evaluate_claimed(queue, &name, job, id, evaluate)?;
        done += 1;
    }
    Ok(done)
}

/// Evaluates a job `worker` has claimed as `name` (a panic is a failed evaluation), logs the
/// outcome, and records the result in the queue: one worker step, for processes and for Slurm
/// array tasks alike.
pub(super) fn evaluate_claimed(
    queue: &Queue,
    name: &str,
    job: Job,
    worker: &str,
    evaluate: &dyn Fn(&Job) -> Result<Scored, EvalError>,
) -> Result<(), StoreError> {
    tracing::info!(job = %name, id = job.id, "evaluating");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| evaluate(&job)))
        .unwrap_or_else(|_| Err(EvalError::transient("the evaluation panicked")));
    match &result {
        Ok(s) => tracing::info!(job = %name, fitness = s.fitness, status = %s.status, "evaluated"),
        Err(e) => tracing::warn!(job = %name, "failed: {e}"),
    }
    queue.complete(name, &crate::queue::QueueResult { job, result, worker: worker.to_owned() })
}

/// The queue's folder in a run directory.
pub const QUEUE: &str = "queue";

/// The `processes` evaluator of a run ([`crate::registry`]): `[run] workers` workers started
/// from `context.worker` with `--id`, each with `[run] threads_per_worker` backend threads
/// (0: the backend's default), each logging to `RUN/logs/worker-ID.log`.
pub fn from_context(context: &crate::context::EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
    let queue = Queue::open(&context.dir.join(QUEUE)).map_err(|e| e.to_string())?;
    let logs = context.dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let (worker, threads) = (context.worker.clone(), context.settings.threads_per_worker);
    let spawn = move |id: &str| worker.spawn(&[], id, &logs, threads);
    let evaluator =
        ProcessEvaluator::new(queue, context.settings.workers, Box::new(spawn)).map_err(|e| e.to_string())?;
    Ok(Box::new(evaluator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lossgp_core::loss::Loss;

    /// Workers that cannot start are the engine's fault: no job comes back failed (which the
    /// search would score 0), and the evaluator says why it stopped.
    #[test]
    fn workers_that_cannot_start_stop_the_evaluator_without_failing_a_job() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        let spawn: Spawn = Box::new(|_| Err(std::io::Error::other("lossgp-missing: no such file")));
        let mut evaluator = ProcessEvaluator::new(queue, 2, spawn).unwrap();
        let job = Job { id: 0, loss: Loss::resolve("ce").unwrap(), budget: 1.0, attempt: 1, replicate: 0, task: 0 };
        evaluator.submit(vec![job]);
        assert!(evaluator.next().is_none(), "no job is returned as failed");
        let fault = evaluator.fault().expect("the evaluator says why it stopped");
        assert!(
            fault.contains("could not start") && fault.contains("no such file") && fault.contains("no job was scored"),
            "{fault}"
        );
    }
}
