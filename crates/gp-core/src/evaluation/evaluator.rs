//! What runs the scoring: here on threads, or elsewhere.

use super::error::EvalError;
use super::job::{Job, Scored};

/// Runs evaluations somewhere: here on threads, or elsewhere.
pub trait Evaluator {
    /// Starts the jobs.
    fn submit(&mut self, jobs: Vec<Job>);

    /// The next finished job and its result, waiting for one; `None` once nothing is
    /// pending, or once the engine itself cannot go on ([`fault`](Self::fault)).
    fn next(&mut self) -> Option<(Job, Result<Scored, EvalError>)>;

    /// Why the engine itself cannot go on (a cluster that refuses submissions, a queue that
    /// cannot be read for minutes), once it has given up; `None` while it works. A fault is
    /// never a job's result: the search stops with this message instead of scoring candidates
    /// on it, and resumes once the engine works again.
    fn fault(&self) -> Option<String> {
        None
    }
}
