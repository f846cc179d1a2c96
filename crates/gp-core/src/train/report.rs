//! What a training run reports: how it ended, each epoch, and its fitness.

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Status {
    /// Every epoch ran.
    Completed,
    /// The loss became NaN or infinite: the worst fitness, never an error.
    Diverged {
        /// The epoch (from 0).
        epoch: usize,
        /// The step within the run (from 0).
        step: u64,
        /// The value the loss took.
        loss: String,
    },
    /// Validation accuracy stopped improving.
    EarlyStopped {
        /// The last epoch run (from 0).
        epoch: usize,
    },
    /// The step or time budget ran out.
    OutOfBudget {
        /// Which budget.
        reason: String,
    },
    /// The loss cannot train the model: it does not depend on the logits (neither `p` nor
    /// `z` occurs in it). The worst fitness, without training.
    Untrainable {
        /// Why.
        reason: String,
    },
}

impl Status {
    /// Its name in reports and records: `completed`, `diverged`, `early-stopped`,
    /// `out-of-budget` or `untrainable`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Diverged { .. } => "diverged",
            Status::EarlyStopped { .. } => "early-stopped",
            Status::OutOfBudget { .. } => "out-of-budget",
            Status::Untrainable { .. } => "untrainable",
        }
    }
}

/// One epoch of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch, from 0.
    pub epoch: usize,
    /// The learning rate of its last step.
    pub learning_rate: f32,
    /// Mean training loss and accuracy over its steps.
    pub train: Metrics,
    /// Validation metrics at its end.
    pub validation: Option<Metrics>,
    /// Its duration, validation included.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
}

/// Everything about a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// How it ended.
    pub status: Status,
    /// Each epoch.
    pub epochs: Vec<EpochReport>,
    /// The best validation accuracy, and its epoch.
    pub best_validation: Option<(usize, Metrics)>,
    /// Test metrics of the final model.
    pub test: Option<Metrics>,
    /// Why the test set could not be evaluated, if it could not (the run's other results
    /// stand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_error: Option<String>,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Wall-clock duration.
    pub seconds: f64,
    /// Trainable values of the model.
    pub parameters: usize,
}

impl TrainReport {
    /// The run's fitness: its best validation accuracy, or 0 if it diverged, could not train,
    /// or never validated.
    pub fn fitness(&self) -> f64 {
        match (&self.status, &self.best_validation) {
            (Status::Diverged { .. } | Status::Untrainable { .. }, _) | (_, None) => 0.0,
            (_, Some((_, m))) => m.accuracy,
        }
    }
}
