//! What an evaluator is built from ([`EvaluatorContext`]).

use std::path::{Path, PathBuf};
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
