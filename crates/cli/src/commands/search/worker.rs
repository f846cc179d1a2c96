//! `lossgp worker DIR`: a worker process of a search or transfer run with `[run] evaluator =
//! "processes"`. It builds the run's fitness from `DIR/config.toml` (a search) or
//! `DIR/transfer.toml` (a transfer grid), then claims jobs from the queue in `DIR/queue` and
//! completes them until its parent, the coordinator, is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;
use std::sync::Arc;

use lossgp_core::search::{Fitness, ProcessEvaluator, Queue, work};

use super::CONFIG;
use super::config::SearchFile;
use crate::commands::transfer;

/// The queue's folder in a run directory.
const QUEUE: &str = "queue";

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The run directory of the search or transfer grid.
    dir: PathBuf,
    /// This worker's name in the queue.
    #[arg(long, default_value = "w0")]
    id: String,
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
    let spawn = move |id: &str| {
        let mut command = Command::new(&exe);
        if let Some(data) = &data_dir {
            command.arg("--data-dir").arg(data);
        }
        command.arg("worker").arg(&dir).arg("--id").arg(id).stdin(Stdio::null()).stdout(Stdio::null());
        if threads > 0 {
            // rayon's pool serves flex, ndarray and candle; libtorch (tch) sizes its own from
            // OpenMP's variable.
            command.env("RAYON_NUM_THREADS", threads.to_string()).env("OMP_NUM_THREADS", threads.to_string());
        }
        command.spawn()
    };
    Ok(ProcessEvaluator::new(queue, workers, Box::new(spawn))?)
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
    let parent = std::os::unix::process::parent_id();
    // The coordinator started this worker; once it is gone (the worker is handed to another
    // parent), nobody will take the results.
    let alive = || std::os::unix::process::parent_id() == parent;
    let done = work(&queue, &args.id, &|job| fitness.evaluate(job), &alive)?;
    eprintln!("worker {}: {done} evaluations; the coordinator is gone, stopping", args.id);
    Ok(())
}
