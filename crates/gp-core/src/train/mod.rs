//! Training: a model, a loss and a dataset become a [`TrainReport`], whose validation accuracy
//! is what the search calls fitness.
//!
//! Everything here is written over [`Backend`], so a run is the same on every backend up to
//! their floating-point differences, and reproducible for a seed on one backend: the seed
//! fixes the validation hold-out, the weight initialisation (done by the model from the same
//! seed), the batch order, the augmentation and the dropout masks.

pub mod metrics;
pub mod optim;
pub mod schedule;

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use metrics::{Metrics, Tally, mean_iou};
pub use optim::{Optimizer, OptimizerConfig};
pub use schedule::{Schedule, Scheduler};

use crate::backend::{BResult, Backend, BackendError, TensorLoss, TensorTargets};
use crate::data::{Augment, DataError, Dataset, IGNORE, Loader, LoaderConfig, Targets, holdout};
use crate::loss::Loss;
use crate::model::Model;

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// The base learning rate.
    pub learning_rate: f32,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// The fraction of the training data held out for validation when no validation set is
    /// given (the paper's 10%).
    pub validation_fraction: f64,
    /// Seeds the hold-out, the batch order, augmentation and dropout.
    pub seed: u64,
    /// Augmentation of training batches.
    pub augment: Augment,
    /// Stop after this many epochs without a better validation accuracy.
    pub early_stopping: Option<usize>,
    /// Stop after this many steps.
    pub max_steps: Option<u64>,
    /// Stop after this many seconds.
    pub max_seconds: Option<f64>,
    /// Loader worker threads (by default one per core).
    pub workers: Option<usize>,
}

impl Default for TrainConfig {
    /// The paper's settings: Adam at 1e-3, batch 128, reduce-on-plateau, 10% held out.
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            learning_rate: 1e-3,
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::default(),
            validation_fraction: 0.1,
            seed: 0,
            augment: Augment::none(),
            early_stopping: None,
            max_steps: None,
            max_seconds: None,
            workers: None,
        }
    }
}

/// The data of a run.
#[derive(Clone)]
pub struct TrainData {
    /// Training samples.
    pub train: Arc<dyn Dataset>,
    /// Validation samples; if absent, held out of `train` (see
    /// [`TrainConfig::validation_fraction`]).
    pub validation: Option<Arc<dyn Dataset>>,
    /// Test samples, evaluated once at the end.
    pub test: Option<Arc<dyn Dataset>>,
}

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
}

/// One epoch of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch, from 0.
    pub epoch: usize,
    /// The learning rate at its end.
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
    /// Optimiser steps taken.
    pub steps: u64,
    /// Wall-clock duration.
    pub seconds: f64,
    /// Trainable values of the model.
    pub parameters: usize,
}

impl TrainReport {
    /// The run's fitness: its best validation accuracy, or 0 if it diverged or never
    /// validated.
    pub fn fitness(&self) -> f64 {
        match (&self.status, &self.best_validation) {
            (Status::Diverged { .. }, _) | (_, None) => 0.0,
            (_, Some((_, m))) => m.accuracy,
        }
    }
}

/// What a run reports as it goes.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Training starts.
    Started {
        /// Epochs planned.
        epochs: usize,
        /// Steps per epoch.
        steps_per_epoch: usize,
    },
    /// A step was taken.
    Step {
        /// The epoch, from 0.
        epoch: usize,
        /// Steps so far.
        step: u64,
        /// The step's loss.
        loss: f64,
    },
    /// An epoch ended.
    Epoch(&'a EpochReport),
}

/// Why a run could not go on (a diverging loss is not an error but a [`Status`]).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The settings cannot work.
    #[error("{0}")]
    Config(String),
}

/// Trains `model` with `loss` on `data`.
pub fn train<B: Backend>(
    b: &B,
    model: &mut dyn Model<B>,
    loss: &Loss,
    data: &TrainData,
    config: &TrainConfig,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport, TrainError> {
    if config.epochs == 0 {
        return Err(TrainError::Config("train for at least one epoch".into()));
    }
    let start = Instant::now();
    b.seed(config.seed);
    let (train_set, validation_set): (Arc<dyn Dataset>, Option<Arc<dyn Dataset>>) = match &data.validation {
        Some(v) => (Arc::clone(&data.train), Some(Arc::clone(v))),
        None if config.validation_fraction > 0.0 => {
            let (t, v) = holdout(Arc::clone(&data.train), config.validation_fraction, config.seed)?;
            (Arc::new(t), Some(Arc::new(v)))
        }
        None => (Arc::clone(&data.train), None),
    };
    let [channels, height, width] = model.input_shape();
    let shape = LoaderConfig {
        batch_size: config.batch_size,
        size: Some((height as u32, width as u32)),
        channels: Some(channels as u8),
        workers: config.workers,
        seed: config.seed,
        ..LoaderConfig::default()
    };
    let loader =
        Loader::new(train_set, LoaderConfig { augment: config.augment.clone(), shuffle: true, ..shape.clone() })?;
    let evaluation = LoaderConfig { shuffle: false, augment: Augment::none(), ..shape };
    let validation = validation_set.map(|v| Loader::new(v, evaluation.clone())).transpose()?;
    let test = data.test.clone().map(|t| Loader::new(t, evaluation.clone())).transpose()?;

    let tensor_loss = TensorLoss::new(loss);
    let mut optimizer = Optimizer::new(config.optimizer.clone());
    let mut scheduler = Scheduler::new(config.schedule.clone(), config.learning_rate);
    let steps_per_epoch = loader.batches_per_epoch();
    let total_steps = config.max_steps.unwrap_or(u64::MAX).min((config.epochs * steps_per_epoch) as u64);
    observe(Event::Started { epochs: config.epochs, steps_per_epoch });

    let mut report = TrainReport {
        status: Status::Completed,
        epochs: Vec::new(),
        best_validation: None,
        test: None,
        steps: 0,
        seconds: 0.0,
        parameters: model.params().count(),
    };
    let classes = loader.dataset().classes().len();
    let segmentation = loader.dataset().task() == crate::data::Task::Segmentation;
    'epochs: for epoch in 0..config.epochs {
        let epoch_start = Instant::now();
        let mut tally = Tally::new(classes, segmentation);
        let mut images = 0usize;
        for batch in loader.epoch(epoch as u64) {
            let batch = batch?;
            let lr = scheduler.rate(epoch, report.steps as f64 / total_steps.max(1) as f64);
            let x = b.tensor(&batch.images, &batch.shape)?;
            let targets = targets(b, &batch.targets, &batch.shape, classes)?;
            let logits = model.forward(b, &x, true)?;
            let loss_tensor = tensor_loss.forward(b, &logits, &targets)?;
            let value = f64::from(b.to_vec(&loss_tensor)?.first().copied().unwrap_or(f32::NAN));
            if !value.is_finite() {
                report.status = Status::Diverged { epoch, step: report.steps, loss: value.to_string() };
                break 'epochs;
            }
            let grads = b.backward(&loss_tensor)?;
            optimizer.step(b, model.params_mut(), &grads, lr)?;
            count(b, &mut tally, &logits, &batch.targets, &batch.shape, value)?;
            images += batch.len();
            report.steps += 1;
            observe(Event::Step { epoch, step: report.steps, loss: value });
            if config.max_steps.is_some_and(|m| report.steps >= m) {
                report.status = Status::OutOfBudget { reason: format!("{} steps", report.steps) };
            } else if config.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s) {
                report.status = Status::OutOfBudget { reason: format!("{:.0} seconds", start.elapsed().as_secs_f64()) };
            }
            if report.status != Status::Completed {
                break;
            }
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let validation_metrics = validation.as_ref().map(|v| evaluate(b, model, v, &tensor_loss)).transpose()?;
        let accuracy = validation_metrics.as_ref().map(|m| m.accuracy);
        scheduler.epoch_end(accuracy);
        if let Some(metrics) = &validation_metrics
            && report.best_validation.as_ref().is_none_or(|(_, best)| metrics.accuracy > best.accuracy)
        {
            report.best_validation = Some((epoch, metrics.clone()));
        }
        let epoch_report = EpochReport {
            epoch,
            learning_rate: scheduler.rate(epoch, report.steps as f64 / total_steps.max(1) as f64),
            train: tally.metrics(),
            validation: validation_metrics,
            seconds: epoch_start.elapsed().as_secs_f64(),
            images_per_second: images as f64 / train_seconds.max(1e-9),
        };
        observe(Event::Epoch(&epoch_report));
        report.epochs.push(epoch_report);
        if report.status != Status::Completed {
            break;
        }
        if let (Some(patience), Some((best, _))) = (config.early_stopping, &report.best_validation)
            && epoch >= best + patience
        {
            report.status = Status::EarlyStopped { epoch };
            break;
        }
    }
    if !matches!(report.status, Status::Diverged { .. }) {
        report.test = test.as_ref().map(|t| evaluate(b, model, t, &tensor_loss)).transpose()?;
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// The model's metrics on every batch of a loader, in evaluation mode.
pub fn evaluate<B: Backend>(
    b: &B,
    model: &mut dyn Model<B>,
    loader: &Loader,
    loss: &TensorLoss,
) -> Result<Metrics, TrainError> {
    let classes = loader.dataset().classes().len();
    let segmentation = loader.dataset().task() == crate::data::Task::Segmentation;
    let mut tally = Tally::new(classes, segmentation);
    for batch in loader.epoch(0) {
        let batch = batch?;
        let x = b.tensor(&batch.images, &batch.shape)?;
        let logits = model.forward(b, &x, false)?;
        let targets = targets(b, &batch.targets, &batch.shape, classes)?;
        let value = b.to_vec(&loss.forward(b, &logits, &targets)?)?.first().copied().unwrap_or(f32::NAN);
        count(b, &mut tally, &logits, &batch.targets, &batch.shape, f64::from(value))?;
    }
    Ok(tally.metrics())
}

/// A batch's targets on the backend.
fn targets<B: Backend>(
    b: &B,
    targets: &Targets,
    shape: &[usize; 4],
    classes: usize,
) -> BResult<TensorTargets<B::Tensor>> {
    match targets {
        Targets::Classes(labels) => TensorTargets::classes(b, labels, classes),
        Targets::Masks(labels) => TensorTargets::masks(b, labels, [shape[0], shape[2], shape[3]], classes, IGNORE),
    }
}

/// Adds a batch's predictions to a tally.
fn count<B: Backend>(
    b: &B,
    tally: &mut Tally,
    logits: &B::Tensor,
    targets: &Targets,
    shape: &[usize; 4],
    loss: f64,
) -> BResult<()> {
    let values = b.to_vec(logits)?;
    match targets {
        Targets::Classes(labels) => tally.add_classes(&values, labels, loss),
        Targets::Masks(labels) => tally.add_masks(&values, labels, shape[2] * shape[3], IGNORE, loss),
    }
    Ok(())
}

/// A setting written as text on the command line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid {what}: {expected}")]
pub struct SettingError {
    what: &'static str,
    text: String,
    expected: &'static str,
}

/// Splits `name:1:2` into the name and its numbers, checking their count against `max`.
pub(crate) fn setting<'a>(
    what: &'static str,
    text: &'a str,
    max: usize,
    expected: &'static str,
) -> Result<(&'a str, Vec<f64>), SettingError> {
    let error = || SettingError { what, text: text.to_owned(), expected };
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default().trim();
    let numbers: Vec<f64> = parts.map(|p| p.trim().parse::<f64>().map_err(|_| error())).collect::<Result<_, _>>()?;
    if numbers.len() > max || numbers.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(error());
    }
    Ok((name, numbers))
}

impl std::str::FromStr for Schedule {
    type Err = SettingError;

    /// `constant`, `step:EVERY:GAMMA`, `cosine[:MIN_LR]` or `plateau[:FACTOR:PATIENCE:MIN_LR]`.
    fn from_str(text: &str) -> Result<Schedule, SettingError> {
        const EXPECTED: &str =
            "use constant, step:EVERY:GAMMA (e.g. step:30:0.1), cosine[:MIN_LR] or plateau[:FACTOR:PATIENCE:MIN_LR]";
        let (name, n) = setting("schedule", text, 3, EXPECTED)?;
        let error = || SettingError { what: "schedule", text: text.to_owned(), expected: EXPECTED };
        Ok(match (name, n.as_slice()) {
            ("constant", []) => Schedule::Constant,
            ("step", &[every, gamma]) if every >= 1.0 => Schedule::Step { every: every as usize, gamma: gamma as f32 },
            ("cosine", []) => Schedule::Cosine { min_lr: 0.0 },
            ("cosine", &[min_lr]) => Schedule::Cosine { min_lr: min_lr as f32 },
            ("plateau", []) => Schedule::default(),
            ("plateau", &[factor, patience, min_lr]) if factor < 1.0 => {
                Schedule::Plateau { factor: factor as f32, patience: patience as usize, min_lr: min_lr as f32 }
            }
            _ => return Err(error()),
        })
    }
}

impl std::str::FromStr for OptimizerConfig {
    type Err = SettingError;

    /// `adam`, `adamw`, `sgd[:MOMENTUM]` or `nesterov:MOMENTUM`, with default settings
    /// otherwise (weight decay is set apart, see [`OptimizerConfig::with_weight_decay`]).
    fn from_str(text: &str) -> Result<OptimizerConfig, SettingError> {
        const EXPECTED: &str = "use adam, adamw, sgd[:MOMENTUM] (e.g. sgd:0.9) or nesterov:MOMENTUM";
        let (name, n) = setting("optimizer", text, 1, EXPECTED)?;
        let error = || SettingError { what: "optimizer", text: text.to_owned(), expected: EXPECTED };
        let adam: OptimizerConfig = OptimizerConfig::default();
        Ok(match (name, n.as_slice()) {
            ("adam", []) => adam,
            ("adamw", []) => match adam {
                OptimizerConfig::Adam { beta1, beta2, epsilon, .. } => {
                    OptimizerConfig::Adamw { beta1, beta2, epsilon, weight_decay: optim::ADAMW_DECAY }
                }
                other => other,
            },
            ("sgd", []) => OptimizerConfig::Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.0 },
            ("sgd", &[m]) if m < 1.0 => OptimizerConfig::Sgd { momentum: m as f32, nesterov: false, weight_decay: 0.0 },
            ("nesterov", &[m]) if m > 0.0 && m < 1.0 => {
                OptimizerConfig::Sgd { momentum: m as f32, nesterov: true, weight_decay: 0.0 }
            }
            _ => return Err(error()),
        })
    }
}

#[cfg(test)]
mod setting_tests {
    use super::*;

    #[test]
    fn schedules_and_optimisers_read_from_text() {
        assert_eq!("plateau".parse::<Schedule>().unwrap(), Schedule::default());
        assert_eq!("step:30:0.1".parse::<Schedule>().unwrap(), Schedule::Step { every: 30, gamma: 0.1 });
        assert_eq!("cosine:1e-5".parse::<Schedule>().unwrap(), Schedule::Cosine { min_lr: 1e-5 });
        assert_eq!(
            "nesterov:0.9".parse::<OptimizerConfig>().unwrap(),
            OptimizerConfig::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 }
        );
        assert!(
            matches!("adamw".parse::<OptimizerConfig>().unwrap(), OptimizerConfig::Adamw { weight_decay, .. } if weight_decay == 0.01)
        );
        for bad in ["step", "step:0:0.1", "plateau:2:5:0", "cosine:-1", "warmup", "step:a:b"] {
            let err = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(err.contains("step:EVERY:GAMMA"), "{bad}: {err}");
        }
        assert!("sgd:1.5".parse::<OptimizerConfig>().unwrap_err().to_string().contains("sgd[:MOMENTUM]"));
    }
}
