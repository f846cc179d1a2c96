//! An evaluator on a Slurm cluster ([`SlurmEvaluator`]): each batch of jobs becomes one job
//! array (`sbatch --array`), whose task `i` runs a worker on the `i`-th job of the batch. Jobs
//! and results cross through the run directory's [`Queue`] on the shared filesystem, as with
//! worker processes.
//!
//! Files, in `RUN/slurm/`:
//!
//! | path | what |
//! |---|---|
//! | `jobs.jsonl` | every batch: its jobs (queue name and key) before `sbatch`, then its array's id |
//! | `batches/BATCH.txt` | the queue names of a batch's jobs, one per array task |
//! | `scripts/BATCH.sbatch` | the job script submitted for it, from the template |
//! | `logs/BATCH_TASK.log` | each array task's output: the worker's log |
//!
//! A task that fails, times out, is preempted or cancelled, or vanishes from `squeue` without a
//! result fails its job, which the search (or transfer grid) submits again, up to its
//! `retries`. A coordinator killed and started again reads `jobs.jsonl`: a job it submits
//! again that an earlier life's task is still running (or has finished) is taken over, not run
//! twice. Dropping the evaluator with jobs outstanding cancels them (`scancel`); so does
//! [`cancel_run`], which a Ctrl-C handler calls.

mod commands;
mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use commands::shell_quote;
use commands::{
    ALIVE, COMMAND_LIMIT, ENGINE_ENDS, QUERY_BACKOFF, QUERY_TRIES, array_named, output_within, scancel, split_id,
    task_states,
};
pub use settings::{DEFAULT_TEMPLATE, SlurmSettings};

use serde::{Deserialize, Serialize};

use crate::queue::Queue;
use lossgp_core::evaluation::{EvalError, Evaluator, Job, Scored};
use lossgp_core::files::{StoreError, append_line, read_lines, write_atomic};

/// The Slurm job name of a run's arrays: `lossgp-` and a hash of its directory, so that
/// `scancel --name` reaches this run's jobs and no other's.
pub fn job_name(run_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let absolute = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_owned());
    let digest = Sha256::digest(absolute.to_string_lossy().as_bytes());
    format!("lossgp-{}", digest.iter().take(5).map(|b| format!("{b:02x}")).collect::<String>())
}

/// A job array a run submitted, as `slurm/jobs.jsonl` records it (for monitoring).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ArrayRecord {
    /// The batch (which names its script and log files).
    pub batch: String,
    /// Its tasks: one job each.
    pub tasks: usize,
    /// Slurm's id of the array, once `sbatch` answered.
    pub array: Option<String>,
}

/// Every job array the run in `run_dir` submitted, oldest first, read only (none without
/// Slurm).
pub fn arrays(run_dir: &Path) -> Vec<ArrayRecord> {
    let entries: Vec<Entry> = read_lines(&run_dir.join("slurm").join("jobs.jsonl")).unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Batch { batch, jobs } => Some(ArrayRecord {
                batch: batch.clone(),
                tasks: jobs.len(),
                array: entries.iter().find_map(|e| match e {
                    Entry::Submitted { batch: b, array } if b == batch => Some(array.clone()),
                    _ => None,
                }),
            }),
            Entry::Submitted { .. } => None,
        })
        .collect()
}

/// Cancels every job array a run submitted, by the ids it recorded in `slurm/jobs.jsonl`
/// (and, for a batch killed between `sbatch` and recording its id, by its exact job name):
/// what Ctrl-C does. Arrays that have ended are passed over. `Ok(n)`: the arrays asked to stop.
pub fn cancel_run(run_dir: &Path) -> Result<usize, String> {
    let name = job_name(run_dir);
    let entries: Vec<Entry> = read_lines(&run_dir.join("slurm").join("jobs.jsonl")).map_err(|e| e.to_string())?;
    let mut arrays: Vec<String> = Vec::new();
    for entry in &entries {
        match entry {
            Entry::Submitted { array, .. } => arrays.push(array.clone()),
            Entry::Batch { batch, .. } => {
                let recorded = entries.iter().any(|e| matches!(e, Entry::Submitted { batch: b, .. } if b == batch));
                if !recorded && let Some(array) = array_named(&format!("{name}-{batch}")) {
                    arrays.push(array);
                }
            }
        }
    }
    arrays.sort();
    arrays.dedup();
    if arrays.is_empty() {
        return Ok(0);
    }
    scancel(&arrays).map(|()| arrays.len())
}

/// A line of `jobs.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Entry {
    /// A batch about to be submitted: its jobs' queue names and keys, in task order.
    Batch { batch: String, jobs: Vec<(String, String)> },
    /// Its array's id.
    Submitted { batch: String, array: String },
}

/// The array task that runs a job.
#[derive(Clone, Debug)]
struct ArrayTask {
    /// Slurm's id of the array.
    array: String,
    /// The batch it runs (which names its log files).
    batch: String,
    /// The task's index in the array.
    index: usize,
}

/// A job this evaluator waits for.
struct Tracked {
    job: Job,
    /// The task running it; `None` until submitted.
    task: Option<ArrayTask>,
    /// Polls in a row that found the task finished (or gone) without its result.
    missing: u32,
}

/// Where an earlier coordinator's job is.
struct Inherited {
    name: String,
    task: Option<ArrayTask>,
}

/// Polls a finished-looking task may go without its result before its job fails: results are
/// written before a task ends, but a shared filesystem may show them late.
const GRACE_POLLS: u32 = 3;

/// Jobs run as Slurm array tasks.
pub struct SlurmEvaluator {
    queue: Queue,
    /// `RUN/slurm`.
    dir: PathBuf,
    settings: SlurmSettings,
    template: String,
    /// The worker's command; each task adds `--batch BATCH --task INDEX`.
    command: Vec<String>,
    /// Environment variables set in the job script.
    env: Vec<(String, String)>,
    name: String,
    pending: HashMap<String, Tracked>,
    inherited: HashMap<String, Inherited>,
    ready: Vec<(Job, Result<Scored, EvalError>)>,
    prefix: String,
    next_name: u64,
    next_batch: u64,
    last_poll: Option<Instant>,
    /// Since when `squeue` has failed without a break.
    failing_since: Option<Instant>,
    /// Resubmissions after the cluster ended a task ([`ENGINE_ENDS`]), by job key.
    engine_resubmits: HashMap<String, u32>,
    /// Why the cluster cannot go on, once it cannot ([`Evaluator::fault`]).
    fault: Option<String>,
}

/// "2nd", "4th": for messages.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The key under which a job is recognised across coordinator lives.
fn key(job: &Job) -> String {
    lossgp_core::json::to_string(job).unwrap_or_default()
}

impl SlurmEvaluator {
    /// An evaluator for the run in `run_dir` whose workers run `command` (the program and its
    /// arguments up to the run directory, e.g. `lossgp worker RUN`) with `env` set. It reads
    /// the jobs an earlier coordinator of the run submitted, to take over those still running.
    pub fn new(
        run_dir: &Path,
        queue: Queue,
        settings: SlurmSettings,
        command: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Result<SlurmEvaluator, StoreError> {
        settings.validate().map_err(|message| StoreError::Corrupt { path: run_dir.join("slurm"), message })?;
        let template = match &settings.template {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| StoreError::Io { path: path.clone(), source })?
            }
            None => DEFAULT_TEMPLATE.to_owned(),
        };
        let dir = run_dir.join("slurm");
        for sub in ["batches", "scripts", "logs"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| StoreError::Io { path, source })?;
        }
        let name = job_name(run_dir);
        let inherited = inherit(&dir, &queue, &name)?;
        if !inherited.is_empty() {
            tracing::info!(jobs = inherited.len(), "taking over the jobs of an earlier coordinator");
        }
        let prefix = crate::process::start_stamp();
        Ok(SlurmEvaluator {
            queue,
            dir,
            settings,
            template,
            command,
            env,
            name,
            pending: HashMap::new(),
            inherited,
            ready: Vec::new(),
            prefix,
            next_name: 0,
            next_batch: 0,
            last_poll: None,
            failing_since: None,
            engine_resubmits: HashMap::new(),
            fault: None,
        })
    }

    /// The job script of a batch.
    fn script(&self, batch: &str) -> String {
        let mut command: Vec<String> = self.command.iter().map(|a| shell_quote(a)).collect();
        command.extend(["--batch".into(), shell_quote(batch), "--task".into(), "\"$SLURM_ARRAY_TASK_ID\"".into()]);
        let mut command = command.join(" ");
        if let Some(prefix) = &self.settings.container {
            command = format!("{prefix} {command}");
        }
        let mut setup: Vec<String> = self.env.iter().map(|(k, v)| format!("export {k}={}", shell_quote(v))).collect();
        setup.extend(self.settings.setup.iter().cloned());
        self.template
            .replace("{{directives}}", &self.settings.directives())
            .replace("{{setup}}", &setup.join("\n"))
            .replace("{{command}}", &format!("exec {command}"))
    }

    /// Submits `names` (queued already) as one array; fails their jobs if `sbatch` does.
    fn submit_batch(&mut self, names: Vec<String>) {
        let batch = format!("{}-b{:06}", self.prefix, self.next_batch);
        self.next_batch += 1;
        let submitted = (|| -> Result<String, String> {
            let jobs = names.iter().map(|n| (n.clone(), key(&self.pending[n].job))).collect();
            append_line(&self.dir.join("jobs.jsonl"), &Entry::Batch { batch: batch.clone(), jobs })
                .map_err(|e| e.to_string())?;
            write_atomic(&self.dir.join("batches").join(format!("{batch}.txt")), &(names.join("\n") + "\n"))
                .map_err(|e| e.to_string())?;
            let script = self.dir.join("scripts").join(format!("{batch}.sbatch"));
            write_atomic(&script, &self.script(&batch)).map_err(|e| e.to_string())?;
            let log = self.dir.join("logs").join(format!("{batch}_%a.log"));
            let job_name = format!("{}-{batch}", self.name);
            let sbatch = || {
                output_within(
                    Command::new("sbatch")
                        .arg("--parsable")
                        .arg(format!("--job-name={job_name}"))
                        .arg(format!("--array=0-{}", names.len() - 1))
                        .arg(format!("--output={}", log.display()))
                        .arg(&script),
                    COMMAND_LIMIT,
                )
                .map_err(|e| format!("sbatch could not run (is this a Slurm login node?): {e}"))
            };
            let mut out = sbatch()?;
            // A controller that is busy or restarting is asked again, with back-off; a refusal
            // (a policy, a limit, a partition that does not exist) is final. An sbatch that timed
            // out may still have submitted the array: it is looked for by name first.
            for attempt in 0..QUERY_TRIES {
                let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
                let transient =
                    ["timed out", "unable to contact", "temporarily unavailable", "try again", "connection refused"]
                        .iter()
                        .any(|t| stderr.contains(t));
                if out.status.success() || !transient {
                    break;
                }
                if let Some(array) = array_named(&job_name) {
                    out.status = std::process::ExitStatus::default();
                    out.stdout = array.into_bytes();
                    break;
                }
                tracing::warn!(batch = %batch, "sbatch failed ({}); trying again", stderr.trim());
                std::thread::sleep(QUERY_BACKOFF * 2u32.pow(attempt));
                out = sbatch()?;
            }
            if !out.status.success() {
                return Err(format!("sbatch refused the job array: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
            // `--parsable` prints `ID` or `ID;CLUSTER`, kept whole: the cluster is where squeue
            // and scancel must look. Anything else (a site's wrapper around sbatch) is not an
            // id: the array is found by its name, or the run stops.
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let array = match split_id(&text) {
                (id, _) if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) => text.clone(),
                _ => array_named(&job_name).ok_or_else(|| {
                    format!(
                        "sbatch printed `{text}` where `sbatch --parsable` prints the job id, and squeue knows no array named \
                         {job_name}; cancel it by that name if it runs"
                    )
                })?,
            };
            append_line(&self.dir.join("jobs.jsonl"), &Entry::Submitted { batch: batch.clone(), array: array.clone() })
                .map_err(|e| e.to_string())?;
            Ok(array)
        })();
        match submitted {
            Ok(array) => {
                tracing::info!(array = %array, batch = %batch, tasks = names.len(), "submitted a job array");
                for (index, name) in names.iter().enumerate() {
                    if let Some(t) = self.pending.get_mut(name) {
                        t.task = Some(ArrayTask { array: array.clone(), batch: batch.clone(), index });
                    }
                }
            }
            Err(e) => {
                // The cluster refused the array (a policy, a limit, a controller down): no job
                // ran, so none is failed for it; the evaluator stops with the cluster's message.
                tracing::error!(batch = %batch, "{e}");
                for name in &names {
                    let _ = self.queue.withdraw(name);
                }
                self.fault = Some(format!(
                    "{e}. No job was scored on this; fix the [run.slurm] settings or wait for the cluster, then resume with --resume"
                ));
            }
        }
    }

    /// Takes the results that have landed in the queue.
    fn take_results(&mut self) {
        match self.queue.take_done() {
            Ok(done) => {
                for (name, result) in done {
                    if let Some(t) = self.pending.remove(&name) {
                        match result {
                            Ok(result) => {
                                tracing::debug!(job = %name, worker = %result.worker, "result");
                                self.ready.push((t.job, result.result));
                            }
                            Err(why) => self.ready.push((t.job, Err(EvalError::transient(why)))),
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("the queue could not be read: {e}"),
        }
    }

    /// The arrays running outstanding jobs, each once.
    fn live_arrays(&self) -> Vec<String> {
        let mut arrays: Vec<String> =
            self.pending.values().filter_map(|t| t.task.as_ref().map(|t| t.array.clone())).collect();
        arrays.sort();
        arrays.dedup();
        arrays
    }

    /// Takes finished results; fails jobs whose tasks ended without one.
    fn poll(&mut self) {
        self.take_results();
        let arrays = self.live_arrays();
        if arrays.is_empty() {
            return;
        }
        // A query that hangs counts against the patience too.
        let limit =
            Duration::from_secs_f64(self.settings.query_patience_seconds.clamp(1.0, COMMAND_LIMIT.as_secs_f64()));
        let (states, unanswered) = task_states(&arrays, limit);
        if unanswered.is_empty() {
            self.failing_since = None;
        } else {
            // The cluster's fault, not a task's: what was last known stands.
            let since = *self.failing_since.get_or_insert_with(Instant::now);
            let (array, why) = &unanswered[0];
            tracing::warn!(array = %array, "the queue could not be read ({why}); keeping the last known states");
            if since.elapsed().as_secs_f64() > self.settings.query_patience_seconds {
                self.fault = Some(format!(
                    "Slurm could not be queried for {:.0} s ([run.slurm] query_patience_seconds): {why}. No job was \
                     scored on this; the arrays still running are cancelled, and `--resume` continues where the run \
                     stopped once squeue answers again",
                    since.elapsed().as_secs_f64()
                ));
                return;
            }
        }
        let unknown: Vec<&String> = unanswered.iter().map(|(a, _)| a).collect();
        let mut failed = Vec::new();
        let mut engine_ends = Vec::new();
        for (name, tracked) in &mut self.pending {
            let Some(ArrayTask { array, batch, index }) = &tracked.task else { continue };
            if unknown.contains(&array) {
                continue;
            }
            let state = states.get(&(array.clone(), *index)).map(String::as_str);
            if let Some(s) = state.filter(|s| ENGINE_ENDS.contains(s)) {
                engine_ends.push((name.clone(), format!("Slurm task {array}_{index} ended {s}")));
                continue;
            }
            let verdict = match state {
                Some(s) if ALIVE.contains(&s) => None,
                Some("COMPLETED") => Some("completed without writing a result".to_owned()),
                Some(s) => Some(format!("ended {s}")),
                None => Some("vanished from squeue".to_owned()),
            };
            match verdict {
                None => tracked.missing = 0,
                Some(why) => {
                    tracked.missing += 1;
                    // A failure state is final at once; a missing result gets a few polls.
                    let final_state = state.is_some_and(|s| s != "COMPLETED");
                    if final_state || tracked.missing > GRACE_POLLS {
                        let log = self.dir.join("logs").join(format!("{batch}_{index}.log"));
                        failed.push((
                            name.clone(),
                            format!("Slurm task {array}_{index} {why}; its log: {}", log.display()),
                        ));
                    }
                }
            }
        }
        // Ended by the cluster: submitted again, not failed.
        let mut again = Vec::new();
        for (name, why) in engine_ends {
            if self.queue.is_done(&name) {
                continue;
            }
            let Some(t) = self.pending.remove(&name) else { continue };
            let _ = self.queue.withdraw(&name);
            let count = self.engine_resubmits.entry(key(&t.job)).or_insert(0);
            *count += 1;
            if *count > ENGINE_RESUBMITS {
                self.fault = Some(format!(
                    "{why} for the {} time: the cluster cannot run this job. No job was scored on this; resume with \
                     --resume once the nodes work",
                    ordinal(*count)
                ));
                return;
            }
            tracing::warn!(job = %name, "{why}: submitted again (the cluster's doing, not the job's)");
            again.push(t.job);
        }
        if !again.is_empty() {
            self.submit(again);
        }
        for (name, why) in failed {
            // A result may have landed since the look at the queue.
            if self.queue.is_done(&name) {
                continue;
            }
            tracing::warn!(job = %name, "{why}");
            let _ = self.queue.withdraw(&name);
            if let Some(t) = self.pending.remove(&name) {
                self.ready.push((t.job, Err(EvalError::transient(why))));
            }
        }
    }
}

/// Resubmissions of one job after ends of [`ENGINE_ENDS`] before the run stops.
const ENGINE_RESUBMITS: u32 = 3;

/// The `slurm` evaluator of a run ([`crate::registry`]): job arrays whose tasks run
/// `context.worker` with `--batch B --task I` on the cluster's nodes (the same paths: a shared
/// filesystem), with `[run] threads_per_worker` backend threads (0: `cpus_per_task`).
pub fn from_context(context: &crate::context::EvaluatorContext) -> Result<Box<dyn Evaluator>, String> {
    let queue = Queue::open(&context.dir.join(crate::process::QUEUE)).map_err(|e| e.to_string())?;
    let settings = &context.settings.slurm;
    let mut command = vec![context.worker.program.display().to_string()];
    command.extend(context.worker.args.iter().cloned());
    let threads = match context.settings.threads_per_worker {
        0 => settings.cpus_per_task,
        n => n,
    };
    let env = ["RAYON_NUM_THREADS", "OMP_NUM_THREADS"].map(|k| (k.to_owned(), threads.to_string())).to_vec();
    let evaluator =
        SlurmEvaluator::new(context.dir, queue, settings.clone(), command, env).map_err(|e| e.to_string())?;
    Ok(Box::new(evaluator))
}

/// The jobs of earlier coordinators that are finished or may still finish, by key.
fn inherit(dir: &Path, queue: &Queue, name: &str) -> Result<HashMap<String, Inherited>, StoreError> {
    let entries: Vec<Entry> = read_lines(&dir.join("jobs.jsonl"))?;
    let mut arrays: HashMap<String, String> = HashMap::new();
    for e in &entries {
        if let Entry::Submitted { batch, array } = e {
            arrays.insert(batch.clone(), array.clone());
        }
    }
    let mut inherited = HashMap::new();
    for e in entries {
        let Entry::Batch { batch, jobs } = e else { continue };
        // Killed between `sbatch` and recording its id: the array is found by its name.
        let array = arrays.get(&batch).cloned().or_else(|| array_named(&format!("{name}-{batch}")));
        let states = array.as_ref().map(|a| task_states(std::slice::from_ref(a), COMMAND_LIMIT).0).unwrap_or_default();
        for (task, (job_name, key)) in jobs.into_iter().enumerate() {
            let alive = array
                .as_ref()
                .and_then(|a| states.get(&(a.clone(), task)))
                .is_some_and(|s| ALIVE.contains(&s.as_str()));
            if queue.is_done(&job_name) || alive {
                let task = array.clone().map(|array| ArrayTask { array, batch: batch.clone(), index: task });
                inherited.insert(key, Inherited { name: job_name, task });
            }
        }
    }
    Ok(inherited)
}

impl Evaluator for SlurmEvaluator {
    fn submit(&mut self, jobs: Vec<Job>) {
        let mut fresh = Vec::new();
        for job in jobs {
            if let Some(earlier) = self.inherited.remove(&key(&job)) {
                tracing::info!(job = %earlier.name, "taken over from an earlier coordinator");
                self.pending.insert(earlier.name, Tracked { job, task: earlier.task, missing: 0 });
                continue;
            }
            let name = format!("{}-{:09}", self.prefix, self.next_name);
            self.next_name += 1;
            match self.queue.submit(&name, &job) {
                Ok(()) => {
                    self.pending.insert(name.clone(), Tracked { job, task: None, missing: 0 });
                    fresh.push(name);
                }
                Err(e) => {
                    self.ready.push((job, Err(EvalError::transient(format!("the job could not be queued: {e}")))))
                }
            }
        }
        let size = self.settings.max_array.max(1);
        while !fresh.is_empty() {
            let rest = fresh.split_off(size.min(fresh.len()));
            self.submit_batch(std::mem::replace(&mut fresh, rest));
        }
    }

    fn next(&mut self) -> Option<(Job, Result<Scored, EvalError>)> {
        let interval = Duration::from_secs_f64(self.settings.poll_seconds);
        loop {
            if let Some(done) = self.ready.pop() {
                return Some(done);
            }
            if self.pending.is_empty() || self.fault.is_some() {
                return None;
            }
            if let Some(last) = self.last_poll {
                let since = last.elapsed();
                if since < interval {
                    std::thread::sleep((interval - since).min(Duration::from_millis(200)));
                    // Results are taken as they land; Slurm is asked once per interval.
                    self.take_results();
                    continue;
                }
            }
            self.last_poll = Some(Instant::now());
            self.poll();
        }
    }

    fn fault(&self) -> Option<String> {
        self.engine_fault()
    }
}

impl SlurmEvaluator {
    /// Why the cluster cannot go on, if it cannot.
    fn engine_fault(&self) -> Option<String> {
        self.fault.clone()
    }
}

impl Drop for SlurmEvaluator {
    /// Cancels the arrays of jobs still outstanding (an error ended the run early).
    fn drop(&mut self) {
        let arrays = self.live_arrays();
        if !arrays.is_empty()
            && let Err(e) = scancel(&arrays)
        {
            tracing::warn!("the run's arrays could not all be cancelled: {e}");
        }
    }
}

/// Runs array task `task` of `batch`: claims its job from the queue as `worker`, evaluates it
/// with `evaluate`, and records the result. `Ok(false)`: its job had a result already (a task
/// run again after it finished), so nothing was done.
pub fn work_task(
    run_dir: &Path,
    queue: &Queue,
    batch: &str,
    task: usize,
    worker: &str,
    evaluate: &dyn Fn(&Job) -> Result<Scored, EvalError>,
) -> Result<bool, StoreError> {
    let path = run_dir.join("slurm").join("batches").join(format!("{batch}.txt"));
    let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io { path: path.clone(), source })?;
    let name = text
        .lines()
        .nth(task)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| StoreError::Corrupt { path: path.clone(), message: format!("has no task {task}") })?;
    if queue.is_done(name) {
        return Ok(false);
    }
    let job = queue.claim_named(worker, name)?.ok_or_else(|| StoreError::Corrupt {
        path: queue.path().to_owned(),
        message: format!("job {name} of task {task} is not in the queue: its coordinator gave up on it"),
    })?;
    super::process::evaluate_claimed(queue, name, job, worker, evaluate)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_scripts_carry_the_settings_and_quote_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(&dir.path().join("queue")).unwrap();
        let settings = SlurmSettings {
            partition: Some("gpu".into()),
            gres: Some("gpu:1".into()),
            time: Some("01:00:00".into()),
            setup: vec!["module load cuda/12.4".into()],
            container: Some("apptainer exec --nv lossgp.sif".into()),
            options: vec!["--constraint=a100".into()],
            ..SlurmSettings::default()
        };
        let command = vec!["/opt/lossgp".into(), "worker".into(), "/runs/my run".into()];
        let evaluator =
            SlurmEvaluator::new(dir.path(), queue, settings, command, vec![("OMP_NUM_THREADS".into(), "4".into())])
                .unwrap();
        let script = evaluator.script("b1");
        for line in [
            "#SBATCH --cpus-per-task=1",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --time=01:00:00",
            "#SBATCH --constraint=a100",
            "export OMP_NUM_THREADS=4",
            "module load cuda/12.4",
            "exec apptainer exec --nv lossgp.sif /opt/lossgp worker '/runs/my run' --batch b1 --task \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(script.lines().any(|l| l == line), "no `{line}` in:\n{script}");
        }
        assert!(script.starts_with("#!/bin/bash\n"));
    }

    #[test]
    fn the_shipped_gpu_template_renders_to_a_valid_script() {
        let dir = tempfile::tempdir().unwrap();
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/slurm-gpu.sbatch");
        let settings =
            SlurmSettings { template: Some(template), gres: Some("gpu:1".into()), ..SlurmSettings::default() };
        let queue = Queue::open(&dir.path().join("queue")).unwrap();
        let evaluator = SlurmEvaluator::new(dir.path(), queue, settings, vec!["lossgp".into()], vec![]).unwrap();
        let script = evaluator.script("b");
        assert!(script.contains("#SBATCH --gres=gpu:1\n#SBATCH --requeue"), "{script}");
        assert!(!script.contains("{{"), "a placeholder is left: {script}");
        let path = dir.path().join("job.sh");
        std::fs::write(&path, &script).unwrap();
        let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    }

    #[test]
    fn a_template_without_the_command_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("t.sh");
        std::fs::write(&template, "#!/bin/bash\necho nothing\n").unwrap();
        let settings = SlurmSettings { template: Some(template), ..SlurmSettings::default() };
        assert!(settings.validate().unwrap_err().contains("has no {{command}}"));
        let settings = SlurmSettings { poll_seconds: 0.0, ..SlurmSettings::default() };
        assert!(settings.validate().unwrap_err().contains("poll_seconds"));
    }

    /// A setting the template has no place for is refused by name, not dropped from every job.
    #[test]
    fn a_template_that_would_drop_settings_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("t.sh");
        std::fs::write(
            &template,
            "#!/bin/bash
#SBATCH --time=1:00:00
{{setup}}
{{command}}
",
        )
        .unwrap();
        let settings = SlurmSettings {
            template: Some(template.clone()),
            partition: Some("gpu".into()),
            gres: Some("gpu:1".into()),
            ..SlurmSettings::default()
        };
        let err = settings.validate().unwrap_err();
        assert!(err.contains("has no {{directives}}") && err.contains("--partition=gpu --gres=gpu:1"), "{err}");
        std::fs::write(
            &template,
            "#!/bin/bash
{{directives}}
{{command}}
",
        )
        .unwrap();
        let settings = SlurmSettings { setup: vec!["module load cuda".into()], ..settings };
        let err = settings.validate().unwrap_err();
        assert!(err.contains("has no {{setup}}") && err.contains("module load cuda"), "{err}");
        std::fs::write(
            &template,
            "#!/bin/bash
{{directives}}
{{setup}}
{{command}}
",
        )
        .unwrap();
        settings.validate().unwrap();
    }

    #[test]
    fn job_names_are_per_run_directory() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        assert_eq!(job_name(a.path()), job_name(a.path()));
        assert_ne!(job_name(a.path()), job_name(b.path()));
        assert!(job_name(a.path()).starts_with("lossgp-"));
    }
}
