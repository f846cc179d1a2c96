//! A job queue in a directory: how evaluations cross process (and, on a shared filesystem,
//! machine) boundaries. The coordinator writes each job as a file; a worker claims one by
//! renaming it into its own folder (a rename is atomic, so two workers never take the same
//! job), evaluates it, and writes the result atomically; the coordinator takes results as they
//! appear. A worker that dies leaves its claims behind, which the coordinator fails, so that
//! the search retries them.
//!
//! | path | what |
//! |---|---|
//! | `pending/NAME.json` | a [`Job`] waiting for a worker |
//! | `claimed/WORKER/NAME.json` | a job a worker is evaluating |
//! | `done/NAME.json` | its [`Outcome`](QueueResult): the job and its score or error |
//!
//! `NAME` is the coordinator's start time and a sequence number: unique within its life, so
//! that a retry never overwrites the attempt before it, and across lives, so that a worker
//! orphaned by a killed coordinator, finishing its job after a resumed one has started, cannot
//! pass its result off as one of the new jobs.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use lossgp_core::evaluation::{EvalError, Job, Scored};
use lossgp_core::files::{StoreError, write_atomic};

/// A finished job, as a worker writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueResult {
    /// The job.
    pub job: Job,
    /// Its score, or why the evaluation failed.
    pub result: Result<Scored, EvalError>,
    /// The worker that ran it.
    pub worker: String,
}

/// A finished job taken from the queue: its result, or why its result file could not be read.
pub type Taken = Result<QueueResult, String>;

/// What a queue holds at a moment, read without changing it (for monitoring: `lossgp
/// dashboard`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueStatus {
    /// Jobs waiting for a worker.
    pub pending: usize,
    /// Jobs being evaluated, by worker: the worker's id, the job's queue name and its loss.
    pub claimed: Vec<Claim>,
    /// Results written and not yet taken by the coordinator.
    pub done: usize,
}

/// A job a worker is evaluating.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    /// The worker's id (`w0`, a Slurm task's, ...).
    pub worker: String,
    /// The job's queue name.
    pub job: String,
    /// The loss, where the job file could be read (a worker may finish it meanwhile).
    pub loss: Option<String>,
    /// Its attempt, from 1.
    pub attempt: Option<u32>,
    /// Its budget, a fraction of the full training run.
    pub budget: Option<f64>,
}

/// The queue in `root` as it stands, read only; empty where there is none.
pub fn status(root: &Path) -> QueueStatus {
    let count = |sub: &str| fs::read_dir(root.join(sub)).map(|d| d.flatten().count()).unwrap_or(0);
    let mut claimed = Vec::new();
    if let Ok(workers) = fs::read_dir(root.join("claimed")) {
        for worker in workers.flatten() {
            let Ok(jobs) = fs::read_dir(worker.path()) else { continue };
            for job in jobs.flatten() {
                let name = job.file_name().to_string_lossy().trim_end_matches(".json").to_owned();
                let read: Option<Job> =
                    fs::read_to_string(job.path()).ok().and_then(|text| lossgp_core::json::from_str(&text).ok());
                claimed.push(Claim {
                    worker: worker.file_name().to_string_lossy().into_owned(),
                    job: name,
                    loss: read.as_ref().map(|j| j.loss.to_string()),
                    attempt: read.as_ref().map(|j| j.attempt),
                    budget: read.as_ref().map(|j| j.budget),
                });
            }
        }
    }
    claimed.sort_by(|a, b| a.worker.cmp(&b.worker).then(a.job.cmp(&b.job)));
    QueueStatus { pending: count("pending"), claimed, done: count("done") }
}

/// A job queue rooted in a directory.
#[derive(Clone, Debug)]
pub struct Queue {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

fn corrupt(path: &Path, e: impl ToString) -> StoreError {
    StoreError::Corrupt { path: path.to_owned(), message: e.to_string() }
}

impl Queue {
    /// The queue in `root` (its folders are created).
    pub fn open(root: &Path) -> Result<Queue, StoreError> {
        for sub in ["pending", "claimed", "done"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(Queue { root: root.to_owned() })
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Empties the queue: what a coordinator killed before its results were recorded left
    /// behind is evaluated again (no result counts until the search has recorded it).
    pub fn clear(&self) -> Result<(), StoreError> {
        for sub in ["pending", "claimed", "done"] {
            let dir = self.root.join(sub);
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
            fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Adds a job under `name`.
    pub fn submit(&self, name: &str, job: &Job) -> Result<(), StoreError> {
        let path = self.root.join("pending").join(format!("{name}.json"));
        let text = lossgp_core::json::to_string(job).map_err(|e| corrupt(&path, e))?;
        write_atomic(&path, &text)
    }

    /// Claims the oldest pending job for `worker`, if any: `(name, job)`.
    pub fn claim(&self, worker: &str) -> Result<Option<(String, Job)>, StoreError> {
        let mine = self.root.join("claimed").join(worker);
        fs::create_dir_all(&mine).map_err(io(&mine))?;
        for name in self.names("pending")? {
            let from = self.root.join("pending").join(format!("{name}.json"));
            let to = mine.join(format!("{name}.json"));
            // Another worker may take it first: then this rename fails and the next is tried.
            if fs::rename(&from, &to).is_err() {
                continue;
            }
            let text = fs::read_to_string(&to).map_err(io(&to))?;
            let job = lossgp_core::json::from_str(&text).map_err(|e| corrupt(&to, e))?;
            return Ok(Some((name, job)));
        }
        Ok(None)
    }

    /// Claims the job `name` for `worker`, wherever it waits: pending, or claimed by an earlier
    /// attempt that died (a Slurm task started again after preemption takes its job over).
    /// `None`: the job is not in the queue (finished, or never submitted).
    pub fn claim_named(&self, worker: &str, name: &str) -> Result<Option<Job>, StoreError> {
        let mine = self.root.join("claimed").join(worker);
        fs::create_dir_all(&mine).map_err(io(&mine))?;
        let to = mine.join(format!("{name}.json"));
        for from in self.waiting_places(name) {
            if from == to || fs::rename(&from, &to).is_ok() {
                if !to.is_file() {
                    continue;
                }
                let text = fs::read_to_string(&to).map_err(io(&to))?;
                return Ok(Some(lossgp_core::json::from_str(&text).map_err(|e| corrupt(&to, e))?));
            }
        }
        Ok(None)
    }

    /// Whether the result of job `name` waits in `done/`.
    pub fn is_done(&self, name: &str) -> bool {
        self.root.join("done").join(format!("{name}.json")).is_file()
    }

    /// Removes job `name` wherever it waits (pending or claimed): a job given up on.
    pub fn withdraw(&self, name: &str) -> Result<(), StoreError> {
        for path in self.waiting_places(name) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(())
    }

    /// Where job `name` may wait: `pending/`, then each worker's `claimed/` folder.
    fn waiting_places(&self, name: &str) -> Vec<PathBuf> {
        let file = format!("{name}.json");
        let mut places = vec![self.root.join("pending").join(&file)];
        if let Ok(entries) = fs::read_dir(self.root.join("claimed")) {
            places.extend(entries.filter_map(|e| e.ok()).map(|e| e.path().join(&file)));
        }
        places
    }

    /// Records the result of a claimed job and releases the claim.
    pub fn complete(&self, name: &str, result: &QueueResult) -> Result<(), StoreError> {
        let path = self.root.join("done").join(format!("{name}.json"));
        let text = lossgp_core::json::to_string(result).map_err(|e| corrupt(&path, e))?;
        write_atomic(&path, &text)?;
        let claim = self.root.join("claimed").join(&result.worker).join(format!("{name}.json"));
        fs::remove_file(&claim).map_err(io(&claim))
    }

    /// Takes the finished jobs out of the queue: `(name, result)`, oldest first. A result file
    /// that cannot be read is that job's failure (retried like any other), never the others':
    /// it is kept beside them as `done/NAME.json.unreadable` for inspection, and every other
    /// result is still taken.
    pub fn take_done(&self) -> Result<Vec<(String, Taken)>, StoreError> {
        let mut out = Vec::new();
        for name in self.names("done")? {
            let path = self.root.join("done").join(format!("{name}.json"));
            let text = fs::read_to_string(&path).map_err(io(&path))?;
            match lossgp_core::json::from_str::<QueueResult>(&text) {
                Ok(result) => {
                    fs::remove_file(&path).map_err(io(&path))?;
                    out.push((name, Ok(result)));
                }
                Err(e) => {
                    let aside = path.with_extension("json.unreadable");
                    fs::rename(&path, &aside).map_err(io(&path))?;
                    let why = format!("its result could not be read ({e}); kept as {}", aside.display());
                    tracing::warn!(job = %name, "{why}");
                    out.push((name, Err(why)));
                }
            }
        }
        Ok(out)
    }

    /// The names of the jobs `worker` has claimed and not finished, removing the claims: what
    /// a dead worker leaves.
    pub fn abandon(&self, worker: &str) -> Result<Vec<String>, StoreError> {
        let names = self.names(&format!("claimed/{worker}"))?;
        for name in &names {
            let path = self.root.join("claimed").join(worker).join(format!("{name}.json"));
            fs::remove_file(&path).map_err(io(&path))?;
        }
        Ok(names)
    }

    /// The job names in a folder, sorted (names are zero-padded sequence numbers).
    fn names(&self, sub: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join(sub);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lossgp_core::loss::Loss;

    fn job(id: usize) -> Job {
        Job { id, loss: Loss::resolve("ce").unwrap(), budget: 1.0, attempt: 1, replicate: 0, task: 0 }
    }

    #[test]
    fn a_job_is_claimed_once_and_a_dead_workers_claims_are_returned() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        queue.submit("000001", &job(1)).unwrap();
        queue.submit("000002", &job(2)).unwrap();
        let (name, got) = queue.claim("a").unwrap().unwrap();
        assert_eq!((name.as_str(), got.id), ("000001", 1));
        let (name, _) = queue.claim("b").unwrap().unwrap();
        assert_eq!(name, "000002");
        assert!(queue.claim("c").unwrap().is_none(), "nothing left to claim");
        let scored = Scored { fitness: 0.5, metrics: Default::default(), status: "completed".into() };
        let result = QueueResult { job: job(1), result: Ok(scored), worker: "a".into() };
        queue.complete("000001", &result).unwrap();
        assert_eq!(queue.take_done().unwrap(), [("000001".to_owned(), Ok(result))]);
        assert!(queue.take_done().unwrap().is_empty(), "taken once");
        assert_eq!(queue.abandon("b").unwrap(), ["000002"]);
        assert!(queue.abandon("b").unwrap().is_empty());
    }

    /// A result holding NaN and infinity reads back as written; one that cannot be read at all
    /// fails its own job, is kept aside, and leaves the others' results to be taken.
    #[test]
    fn odd_numbers_read_back_and_an_unreadable_result_fails_only_its_job() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        let metrics = [("test_loss".to_owned(), f64::NAN), ("val_loss".to_owned(), f64::NEG_INFINITY)];
        let scored = Scored { fitness: f64::INFINITY, metrics: metrics.into(), status: "diverged".into() };
        let odd = QueueResult { job: Job { budget: f64::NAN, ..job(1) }, result: Ok(scored), worker: "a".into() };
        for (name, id) in [("000001", 1), ("000002", 2), ("000003", 3)] {
            queue.submit(name, &job(id)).unwrap();
            queue.claim("a").unwrap().unwrap();
        }
        queue.complete("000001", &odd).unwrap();
        queue
            .complete("000002", &QueueResult { job: job(2), result: Err("diverged".into()), worker: "a".into() })
            .unwrap();
        std::fs::write(dir.path().join("done/000003.json"), "{\"job\": tor").unwrap();
        let done = queue.take_done().unwrap();
        assert_eq!(done.len(), 3);
        let Ok(read) = &done[0].1 else { panic!("{:?}", done[0]) };
        let Ok(scored) = &read.result else { panic!("{read:?}") };
        assert!(read.job.budget.is_nan() && scored.fitness == f64::INFINITY);
        assert!(scored.metrics["test_loss"].is_nan() && scored.metrics["val_loss"] == f64::NEG_INFINITY);
        assert_eq!(done[1].1.as_ref().unwrap().result, Err("diverged".into()));
        let why = done[2].1.as_ref().unwrap_err();
        assert!(why.contains("could not be read") && why.contains("000003.json.unreadable"), "{why}");
        assert!(dir.path().join("done/000003.json.unreadable").is_file(), "kept for inspection");
        assert!(queue.take_done().unwrap().is_empty());
    }

    #[test]
    fn a_named_job_is_claimed_where_it_waits_and_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        queue.submit("a", &job(1)).unwrap();
        queue.submit("b", &job(2)).unwrap();
        assert_eq!(queue.claim_named("task-1", "b").unwrap().map(|j| j.id), Some(2));
        // A task started again (after preemption) takes over its predecessor's claim.
        assert_eq!(queue.claim_named("task-1-again", "b").unwrap().map(|j| j.id), Some(2));
        assert!(dir.path().join("claimed/task-1-again/b.json").is_file());
        assert!(queue.claim_named("task-2", "nowhere").unwrap().is_none());
        queue.withdraw("b").unwrap();
        queue.withdraw("a").unwrap();
        assert!(queue.claim("any").unwrap().is_none(), "nothing left");
        assert!(!queue.is_done("a"));
    }
}
