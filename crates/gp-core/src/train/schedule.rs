//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// How the learning rate changes during training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between reductions.
        every: usize,
        /// The factor.
        gamma: f32,
    },
    /// Cosine annealing from the base rate to `min_lr` over all the training steps.
    Cosine {
        /// The rate at the end.
        #[serde(default)]
        min_lr: f32,
    },
    /// Multiplied by `factor` after `patience` epochs without a better validation accuracy,
    /// never below `min_lr`: the paper's `ReduceLROnPlateau(factor=0.2, patience=5,
    /// min_lr=1e-4)`.
    Plateau {
        /// The factor.
        #[serde(default = "plateau_factor")]
        factor: f32,
        /// Epochs without improvement before a reduction.
        #[serde(default = "plateau_patience")]
        patience: usize,
        /// The floor.
        #[serde(default = "plateau_min")]
        min_lr: f32,
    },
}

fn plateau_factor() -> f32 {
    0.2
}
fn plateau_patience() -> usize {
    5
}
fn plateau_min() -> f32 {
    1e-4
}

impl Default for Schedule {
    /// The paper's schedule.
    fn default() -> Self {
        Schedule::Plateau { factor: plateau_factor(), patience: plateau_patience(), min_lr: plateau_min() }
    }
}

/// A schedule in progress.
#[derive(Clone, Debug)]
pub struct Scheduler {
    schedule: Schedule,
    base: f32,
    /// The plateau schedule's current rate, best metric and epochs since it improved.
    plateau: (f32, f64, usize),
}

impl Scheduler {
    /// Starts a schedule from the base rate.
    pub fn new(schedule: Schedule, base: f32) -> Scheduler {
        Scheduler { schedule, base, plateau: (base, f64::NEG_INFINITY, 0) }
    }

    /// The rate at a step: `epoch` counts from 0, `progress` is the fraction of all training
    /// steps done.
    pub fn rate(&self, epoch: usize, progress: f64) -> f32 {
        match self.schedule {
            Schedule::Constant => self.base,
            Schedule::Step { every, gamma } => self.base * gamma.powi((epoch / every.max(1)) as i32),
            Schedule::Cosine { min_lr } => {
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos());
                min_lr + (self.base - min_lr) * cosine as f32
            }
            Schedule::Plateau { .. } => self.plateau.0,
        }
    }

    /// Reports an epoch's validation accuracy (for the plateau schedule).
    pub fn epoch_end(&mut self, validation_accuracy: Option<f64>) {
        let (Schedule::Plateau { factor, patience, min_lr }, Some(metric)) = (&self.schedule, validation_accuracy)
        else {
            return;
        };
        let (rate, best, waited) = &mut self.plateau;
        if metric > *best {
            *best = metric;
            *waited = 0;
        } else {
            *waited += 1;
            if *waited >= *patience {
                *rate = (*rate * factor).max(*min_lr);
                *waited = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plateau_schedule_reduces_after_patience_and_stops_at_the_floor() {
        let mut s = Scheduler::new(Schedule::default(), 1e-3);
        s.epoch_end(Some(0.5));
        for _ in 0..4 {
            s.epoch_end(Some(0.5));
            assert_eq!(s.rate(0, 0.0), 1e-3);
        }
        s.epoch_end(Some(0.4));
        assert!((s.rate(0, 0.0) - 2e-4).abs() < 1e-9);
        for _ in 0..5 {
            s.epoch_end(Some(0.4));
        }
        assert_eq!(s.rate(0, 0.0), 1e-4);
        s.epoch_end(Some(0.9));
        assert_eq!(s.rate(0, 0.0), 1e-4);
    }

    #[test]
    fn step_and_cosine() {
        let step = Scheduler::new(Schedule::Step { every: 2, gamma: 0.1 }, 1.0);
        assert_eq!([step.rate(0, 0.0), step.rate(1, 0.0), step.rate(2, 0.0)], [1.0, 1.0, 0.1f32.powi(1)]);
        let cosine = Scheduler::new(Schedule::Cosine { min_lr: 0.0 }, 1.0);
        assert_eq!(cosine.rate(0, 0.0), 1.0);
        assert!((cosine.rate(0, 0.5) - 0.5).abs() < 1e-6);
        assert!(cosine.rate(0, 1.0).abs() < 1e-6);
    }
}
