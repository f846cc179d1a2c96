//! What an evaluator runs ([`Job`]) and what comes back ([`Scored`]): plain serde data, so
//! that both cross a process, file or network boundary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::loss::Loss;

/// One candidate to score, at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Identifies the job within its batch.
    pub id: usize,
    /// The candidate.
    pub loss: Loss,
    /// The training budget as a fraction of the full run (successive halving's rung).
    pub budget: f64,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// The training seed: 0 for the task's own, `r >= 1` for confirmation seed `r`, which a
    /// [`Fitness`](super::Fitness) maps to a seed of its own that differs from the task's (for a training
    /// run: other initial weights and batch order, the same data).
    #[serde(default)]
    pub replicate: usize,
    /// The task it trains on, for a search over several ([`TaskSet`](super::TaskSet)): 0 for the only one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub task: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A candidate's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Higher is better; 0 is the worst (a diverged or useless loss). Validation accuracy when
    /// the fitness is a training run.
    pub fitness: f64,
    /// What else the evaluation measured (`steps`, `seconds`, `test_accuracy`, ...).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// How the evaluation ended, e.g. `completed` or `diverged`.
    #[serde(default)]
    pub status: String,
}
