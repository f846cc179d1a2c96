//! Evaluation: what scores a candidate ([`Fitness`]), what a score or a failure is ([`Scored`],
//! [`EvalError`]), and what runs the scoring ([`Evaluator`]). The search, the transfer grid and
//! the confirmation of found losses all hand an evaluator batches of [`Job`]s and take results
//! back as they finish, in any order; a result may be a failure, which the caller retries when
//! it [is retryable](EvalError::is_retryable).
//!
//! Local worker threads ([`LocalEvaluator`]) are the evaluator of this crate. Worker
//! processes, Slurm job arrays and the fitness that runs a user's own training command live in
//! `lossgp-exec`, which registers each evaluator by name; an evaluator for another engine
//! implements the same three methods. Jobs, scores and failures are plain serde data, so that
//! they can cross a process, file or network boundary.

mod error;
mod evaluator;
mod fitness;
mod job;
mod local;
mod multi_task;
pub mod task;

pub use error::EvalError;
pub use evaluator::Evaluator;
pub use fitness::Fitness;
pub use job::{Job, Scored};
pub use local::LocalEvaluator;
pub use multi_task::MultiTask;
pub use task::{TaskInfo, TaskSet};
