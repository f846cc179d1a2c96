//! lossgp's execution engines: where and how candidates are scored, below the search, the
//! transfer grid and the confirmation of found losses, which all take an
//! [`Evaluator`](lossgp_core::evaluation::Evaluator) and need not know which one.
//!
//! * [`queue`]: jobs and results as files in a run directory, for workers elsewhere;
//! * [`process`]: worker processes on this machine ([`ProcessEvaluator`]);
//! * [`slurm`]: Slurm job arrays whose tasks run one job each ([`SlurmEvaluator`]);
//! * [`command`]: a user's own training command as the fitness ([`CommandFitness`]);
//! * [`settings`]: the `[run]` table every command that evaluates shares ([`RunSettings`]);
//! * [`registry`]: evaluators by name, which plugins extend ([`EvaluatorEntry`]).

pub mod command;
pub mod context;
pub mod process;
pub mod queue;
pub mod registry;
pub mod settings;
pub mod slurm;

pub use context::{EvaluatorContext, WorkerCommand};
pub use inventory;
pub use process::{ProcessEvaluator, Spawn, work};
pub use queue::{Claim, Queue, QueueResult, QueueStatus, Taken};
pub use registry::EvaluatorEntry;
pub use settings::RunSettings;
pub use slurm::{SlurmEvaluator, SlurmSettings, cancel_run, work_task};

pub use command::{CommandFitness, CommandSpec};
