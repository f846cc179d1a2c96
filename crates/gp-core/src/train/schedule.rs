//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

use super::setting::{self, SettingError};

/// How the learning rate changes during training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between reductions (default 30, torchvision's ImageNet recipe).
        #[serde(default = "step_every")]
        every: usize,
        /// The factor (default 0.1, PyTorch's `StepLR`).
        #[serde(default = "step_gamma")]
        gamma: f32,
    },
    /// Polynomial decay over all the training steps, `min_lr + (base - min_lr) (1 - t)^power`:
    /// DeepLab's "poly" policy and torchvision's segmentation recipe (`PolynomialLR`, power 0.9).
    Poly {
        /// The exponent.
        #[serde(default = "poly_power")]
        power: f32,
        /// The rate at the end.
        #[serde(default)]
        min_lr: f32,
    },
    /// Cosine annealing from the base rate to `min_lr` over all the training steps.
    Cosine {
        /// The rate at the end.
        #[serde(default)]
        min_lr: f32,
    },
    /// Multiplied by `factor` once `patience` epochs in a row brought no validation accuracy
    /// better than the best by more than `min_delta`, never below `min_lr` (and never raised
    /// to it): Keras' `ReduceLROnPlateau`, which the paper's example uses with `factor=0.2,
    /// patience=5, min_lr=1e-4` (Keras' default `min_delta=1e-4`). PyTorch's class of the same
    /// name waits one epoch longer.
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
        /// The least gain in validation accuracy that counts as an improvement.
        #[serde(default = "plateau_min_delta")]
        min_delta: f64,
    },
}

fn step_every() -> usize {
    30
}
fn step_gamma() -> f32 {
    0.1
}
fn poly_power() -> f32 {
    0.9
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
fn plateau_min_delta() -> f64 {
    1e-4
}

impl Default for Schedule {
    /// The paper's schedule.
    fn default() -> Self {
        Schedule::Plateau {
            factor: plateau_factor(),
            patience: plateau_patience(),
            min_lr: plateau_min(),
            min_delta: plateau_min_delta(),
        }
    }
}

impl Schedule {
    /// Checks that the settings can work: a positive step and factors in (0, 1].
    pub fn validate(&self) -> Result<(), String> {
        let ok = match *self {
            Schedule::Constant => true,
            Schedule::Step { every, gamma } => every >= 1 && gamma > 0.0 && gamma <= 1.0,
            Schedule::Cosine { min_lr } => min_lr >= 0.0 && min_lr.is_finite(),
            Schedule::Poly { power, min_lr } => power > 0.0 && power.is_finite() && min_lr >= 0.0 && min_lr.is_finite(),
            Schedule::Plateau { factor, min_lr, min_delta, .. } => {
                factor > 0.0 && factor < 1.0 && min_lr >= 0.0 && min_lr.is_finite() && min_delta >= 0.0
            }
        };
        if ok { Ok(()) } else { Err(format!("the schedule {self:?} cannot work: {EXPECTED}")) }
    }
}

const EXPECTED: &str = "use constant, step:EVERY:GAMMA (EVERY >= 1, 0 < GAMMA <= 1, e.g. step:30:0.1), cosine[:MIN_LR], poly[:POWER] (POWER > 0, default 0.9) or plateau[:FACTOR:PATIENCE:MIN_LR] (0 < FACTOR < 1)";

impl std::str::FromStr for Schedule {
    type Err = SettingError;

    /// `constant`, `step:EVERY:GAMMA`, `cosine[:MIN_LR]`, `poly[:POWER]` or
    /// `plateau[:FACTOR:PATIENCE:MIN_LR]`.
    fn from_str(text: &str) -> Result<Schedule, SettingError> {
        let (name, n) = setting::split("schedule", text, 3, EXPECTED)?;
        let schedule = match (name, n.as_slice()) {
            ("constant", []) => Schedule::Constant,
            ("step", &[every, gamma]) => Schedule::Step { every: every as usize, gamma: gamma as f32 },
            ("cosine", []) => Schedule::Cosine { min_lr: 0.0 },
            ("cosine", &[min_lr]) => Schedule::Cosine { min_lr: min_lr as f32 },
            ("poly", []) => Schedule::Poly { power: poly_power(), min_lr: 0.0 },
            ("poly", &[power]) => Schedule::Poly { power: power as f32, min_lr: 0.0 },
            ("plateau", []) => Schedule::default(),
            ("plateau", &[factor, patience, min_lr]) => Schedule::Plateau {
                factor: factor as f32,
                patience: patience as usize,
                min_lr: min_lr as f32,
                min_delta: plateau_min_delta(),
            },
            _ => return Err(SettingError::new("schedule", text, EXPECTED)),
        };
        schedule.validate().map_err(|_| SettingError::new("schedule", text, EXPECTED))?;
        Ok(schedule)
    }
}

/// A schedule in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scheduler {
    schedule: Schedule,
    base: f32,
    /// The plateau schedule's current rate, best metric (`f64::MIN` before the first, finite
    /// so that checkpoints write it as JSON) and epochs since it improved.
    plateau: (f32, f64, usize),
}

impl Scheduler {
    /// Starts a schedule from the base rate.
    pub fn new(schedule: Schedule, base: f32) -> Scheduler {
        Scheduler { schedule, base, plateau: (base, f64::MIN, 0) }
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
            Schedule::Poly { power, min_lr } => {
                let remaining = (1.0 - progress.clamp(0.0, 1.0)).powf(f64::from(power));
                min_lr + (self.base - min_lr) * remaining as f32
            }
            Schedule::Plateau { .. } => self.plateau.0,
        }
    }

    /// Reports an epoch's validation accuracy (for the plateau schedule).
    pub fn epoch_end(&mut self, validation_accuracy: Option<f64>) {
        let (Schedule::Plateau { factor, patience, min_lr, min_delta }, Some(metric)) =
            (&self.schedule, validation_accuracy)
        else {
            return;
        };
        let (rate, best, waited) = &mut self.plateau;
        if metric - min_delta > *best {
            *best = metric;
            *waited = 0;
        } else {
            *waited += 1;
            if *waited >= *patience && *rate > *min_lr {
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
    fn the_poly_schedule_decays_to_its_floor() {
        let poly = Scheduler::new("poly".parse().unwrap(), 0.01);
        assert_eq!(poly.rate(0, 0.0), 0.01);
        assert!((poly.rate(3, 0.5) - 0.01 * 0.5f32.powf(0.9)).abs() < 1e-9);
        assert_eq!(poly.rate(9, 1.0), 0.0);
        assert_eq!("poly:2".parse::<Schedule>().unwrap(), Schedule::Poly { power: 2.0, min_lr: 0.0 });
        assert!("poly:0".parse::<Schedule>().is_err());
    }

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
        // A gain below min_delta is no gain.
        let mut s = Scheduler::new(Schedule::default(), 1e-3);
        s.epoch_end(Some(0.5));
        for _ in 0..5 {
            s.epoch_end(Some(0.50005));
        }
        assert!(s.rate(0, 0.0) < 1e-3);
        // A rate already below the floor is never raised to it.
        let mut low = Scheduler::new(Schedule::default(), 1e-5);
        for _ in 0..12 {
            low.epoch_end(Some(0.5));
        }
        assert_eq!(low.rate(0, 0.0), 1e-5);
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

    #[test]
    fn schedules_read_from_text() {
        assert_eq!("plateau".parse::<Schedule>().unwrap(), Schedule::default());
        assert_eq!("step:30:0.1".parse::<Schedule>().unwrap(), Schedule::Step { every: 30, gamma: 0.1 });
        assert_eq!("cosine:1e-5".parse::<Schedule>().unwrap(), Schedule::Cosine { min_lr: 1e-5 });
        for bad in ["step", "step:0:0.1", "step:3:2", "plateau:2:5:0", "cosine:-1", "warmup", "step:a:b"] {
            let err = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(err.contains("step:EVERY:GAMMA"), "{bad}: {err}");
        }
        assert!(Schedule::Step { every: 0, gamma: 0.1 }.validate().is_err());
    }
}
