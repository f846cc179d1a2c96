//! `lossgp worker DIR`: a worker of a search or transfer run. It builds the run's fitness from
//! `DIR/config.toml` (a search) or `DIR/transfer.toml` (a transfer grid), then:
//!
//! - with `[run] evaluator = "processes"`, claims jobs from the queue in `DIR/queue` and
//!   completes them until its parent, the coordinator, is gone; its log is
//!   `DIR/logs/worker-ID.log`;
//! - with `evaluator = "slurm"`, as array task `--task I` of `--batch B`, evaluates that task's
//!   one job; its log is the task's Slurm output, `DIR/slurm/logs/B_I.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;
use std::sync::Arc;

use lossgp_core::evaluation::Fitness;
use lossgp_exec::{ProcessEvaluator, Queue, SlurmEvaluator, SlurmSettings, work, work_task};

use super::CONFIG;
use super::config::SearchFile;
use crate::commands::transfer;

/// The queue's folder in a run directory.
const QUEUE: &str = "queue";

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The run directory of the search or transfer grid.
    dir: PathBuf,
    /// This worker's name in the queue [default: w0, or slurm-JOB_TASK in a Slurm task].
    #[arg(long)]
    id: Option<String>,
    /// A Slurm array's batch (with --task): evaluate that task's job, then stop.
    #[arg(long, requires = "task")]
    batch: Option<String>,
    /// The array task's index (`$SLURM_ARRAY_TASK_ID`).
    #[arg(long, requires = "batch")]
    task: Option<usize>,
}

/// The process evaluator of a run: `workers` copies of this program as `lossgp worker`, each
/// with `threads` backend threads (0: the backend's default).
pub fn process_evaluator(
    dir: &Path,
    workers: usize,
    threads: usize,
    data_dir: Option<&Path>,
) -> Result<ProcessEvaluator> {
    let exe = std::env::current_exe().context("finding the lossgp program to start workers with")?;
    let queue = Queue::open(&dir.join(QUEUE))?;
    let (dir, data_dir) = (dir.to_owned(), data_dir.map(Path::to_owned));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let spawn = move |id: &str| {
        let mut command = Command::new(&exe);
        if let Some(data) = &data_dir {
            command.arg("--data-dir").arg(data);
        }
        // Each worker's log in the run directory, appended to across restarts.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(logs.join(format!("worker-{id}.log")))?;
        command.arg("worker").arg(&dir).arg("--id").arg(id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        if threads > 0 {
            // rayon's pool serves flex, ndarray and candle; libtorch (tch) sizes its own from
            // OpenMP's variable.
            command.env("RAYON_NUM_THREADS", threads.to_string()).env("OMP_NUM_THREADS", threads.to_string());
        }
        command.spawn()
    };
    Ok(ProcessEvaluator::new(queue, workers, Box::new(spawn))?)
}

/// The Slurm evaluator of a run: job arrays whose tasks run this program as `lossgp worker`
/// on the cluster's nodes (the same path: a shared filesystem), with `threads` backend threads.
pub fn slurm_evaluator(
    dir: &Path,
    settings: &SlurmSettings,
    threads: usize,
    data_dir: Option<&Path>,
) -> Result<SlurmEvaluator> {
    let exe = std::env::current_exe().context("finding the lossgp program for the job script")?;
    let queue = Queue::open(&dir.join(QUEUE))?;
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let mut command = vec![exe.display().to_string()];
    if let Some(data) = data_dir {
        command.extend(["--data-dir".to_owned(), absolute(data).display().to_string()]);
    }
    command.extend(["worker".to_owned(), absolute(dir).display().to_string()]);
    let threads = if threads > 0 { threads } else { settings.cpus_per_task };
    let env = ["RAYON_NUM_THREADS", "OMP_NUM_THREADS"].map(|k| (k.to_owned(), threads.to_string())).to_vec();
    // Ctrl-C cancels the run's jobs before the coordinator stops; a SIGKILL leaves them
    // running, for the coordinator started again to take over.
    let run = absolute(dir);
    let handler = ctrlc::set_handler(move || {
        eprintln!("interrupted: cancelling this run's Slurm jobs");
        if let Err(e) = lossgp_exec::cancel_run(&run) {
            eprintln!("{e}");
        }
        std::process::exit(130);
    });
    if let Err(e) = handler {
        tracing::warn!("Ctrl-C will not cancel the Slurm jobs: {e}");
    }
    Ok(SlurmEvaluator::new(dir, queue, settings.clone(), command, env)?)
}

pub fn run_worker(args: WorkerArgs, data_dir: Option<&Path>) -> Result<()> {
    let path = args.dir.join(CONFIG);
    let fitness: Arc<dyn Fitness> = if transfer::is_transfer_run(&args.dir) {
        Arc::new(transfer::worker_fitness(&args.dir, data_dir)?)
    } else if path.is_file() {
        SearchFile::read(&path)?.fitness(data_dir)?
    } else {
        bail!("{} has no {CONFIG} or {}: it is not a lossgp run directory", args.dir.display(), transfer::CONFIG);
    };
    let queue = Queue::open(&args.dir.join(QUEUE))?;
    if let (Some(batch), Some(task)) = (&args.batch, args.task) {
        let slurm_task = std::env::var("SLURM_ARRAY_JOB_ID").map(|job| format!("slurm-{job}_{task}"));
        let id = args.id.clone().unwrap_or_else(|| slurm_task.unwrap_or_else(|_| format!("slurm-{batch}_{task}")));
        let _span = tracing::info_span!("worker", id = %id).entered();
        if !work_task(&args.dir, &queue, batch, task, &id, &|job| fitness.evaluate(job))? {
            tracing::info!("task {task} of {batch}: its job has a result already; nothing to do");
        }
        return Ok(());
    }
    let id = args.id.unwrap_or_else(|| "w0".to_owned());
    let _span = tracing::info_span!("worker", id = %id).entered();
    let parent = std::os::unix::process::parent_id();
    // The coordinator started this worker; once it is gone (the worker is handed to another
    // parent), nobody will take the results.
    let alive = || std::os::unix::process::parent_id() == parent;
    let done = work(&queue, &id, &|job| fitness.evaluate(job), &alive)?;
    tracing::info!("{done} evaluations; the coordinator is gone, stopping");
    Ok(())
}
