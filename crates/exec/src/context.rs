//! What an evaluator is built from ([`EvaluatorContext`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use lossgp_core::evaluation::Fitness;

use crate::settings::RunSettings;

/// What an evaluator is built from.
pub struct EvaluatorContext<'a> {
    /// The run's settings (`[run]`).
    pub settings: &'a RunSettings,
    /// The run directory: the queue, the workers' logs and the Slurm files go there.
    pub dir: &'a Path,
    /// The fitness, for an evaluator that scores in this process.
    pub fitness: Arc<dyn Fitness>,
    /// How to run one worker of this run elsewhere: a worker built from the run directory
    /// scores the queue's jobs with the same fitness.
    pub worker: WorkerCommand,
}

/// The command line of a worker: `PROGRAM ARGS...` runs `lossgp [--data-dir D] worker DIR`;
/// an evaluator adds `--id NAME` (a worker that serves the queue until its parent is gone) or
/// `--batch B --task I` (one Slurm array task).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerCommand {
    /// The program (lossgp itself, or a binary with plugins linked in).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl WorkerCommand {
    /// Starts worker `id` through `launcher` (none: here; `["ssh", "HOST"]`, `["nice", "-n",
    /// "10"]`: the launcher's command line with the worker's after it), its standard error
    /// appended to `logs/worker-ID.log` across restarts, with `threads` backend threads (0:
    /// the backend's default).
    pub fn spawn(&self, launcher: &[String], id: &str, logs: &Path, threads: usize) -> std::io::Result<Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(logs.join(format!("worker-{id}.log")))?;
        let mut command = match launcher.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command.args(&self.args).args(["--id", id]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        if threads > 0 {
            // rayon's pool serves flex, ndarray and candle; libtorch (tch) and PyTorch size
            // theirs from OpenMP's variable.
            command.env("RAYON_NUM_THREADS", threads.to_string()).env("OMP_NUM_THREADS", threads.to_string());
        }
        command.spawn()
    }
}
