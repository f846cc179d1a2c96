//! What scores a candidate.

use super::error::EvalError;
use super::job::{Job, Scored};
use super::task::TaskSet;

/// Scores candidates. A loss that diverges or yields NaN gets fitness 0 (`Ok`); `Err` means
/// the evaluation itself failed (a lost worker, an unreadable file) and may be retried.
pub trait Fitness: Send + Sync {
    /// Scores one candidate.
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError>;

    /// Identifies the task (dataset, model, training settings): fitness cached under another
    /// task is never reused.
    fn task(&self) -> String;

    /// The tasks a job's [`task`](Job::task) chooses from: this one alone, unless the fitness
    /// spans several ([`MultiTask`](super::MultiTask)).
    fn tasks(&self) -> TaskSet {
        TaskSet::single(&self.task())
    }
}
