//! `lossgp worker DIR`: a worker of a search or transfer run. It builds the run's fitness from
//! `DIR/config.toml` (a search) or `DIR/transfer.toml` (a transfer grid), then:
//!
//! - with `[run] evaluator = "processes"`, claims jobs from the queue in `DIR/queue` and
//!   completes them until its parent, the coordinator, is gone; its log is
//!   `DIR/logs/worker-ID.log`;
//! - with `evaluator = "slurm"`, as array task `--task I` of `--batch B`, evaluates that task's
//!   one job; its log is the task's Slurm output, `DIR/slurm/logs/B_I.log`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use std::sync::Arc;

use lossgp_core::evaluation::Fitness;
use lossgp_exec::{Queue, work, work_task};

use super::config::SearchFile;
use super::run_dir::CONFIG;
use crate::commands::transfer;

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

pub fn run_worker(args: WorkerArgs, data_dir: Option<&Path>) -> Result<()> {
    let path = args.dir.join(CONFIG);
    let fitness: Arc<dyn Fitness> = if transfer::is_transfer_run(&args.dir) {
        Arc::new(transfer::worker_fitness(&args.dir, data_dir)?)
    } else if path.is_file() {
        SearchFile::read(&path)?.fitness(&args.dir, data_dir)?
    } else {
        bail!("{} has no {CONFIG} or {}: it is not a lossgp run directory", args.dir.display(), transfer::CONFIG);
    };
    let queue = Queue::open(&args.dir.join(lossgp_exec::process::QUEUE))?;
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
