//! Training: a model, a loss and a dataset become a [`TrainReport`], whose validation accuracy
//! is what the search calls fitness.
//!
//! Everything here is written over [`Backend`], so a run is the same on every backend up to
//! their floating-point differences, and reproducible for a seed on one backend: the seed
//! fixes the validation hold-out, the weight initialisation (done by the model from the same
//! seed), the batch order, the augmentation and the dropout masks.

pub mod checkpoint;
mod error;
pub mod metrics;
pub mod optim;
mod report;
pub mod schedule;
mod setting;

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpointing, Progress};
pub use error::TrainError;
pub use metrics::{Metrics, Tally, class_iou, mean_iou, resize_bilinear};
pub use optim::{Optimizer, OptimizerConfig};
pub use report::{EpochReport, Status, TrainReport};
pub use schedule::{Schedule, Scheduler};
pub use setting::SettingError;

use crate::backend::{BResult, Backend, BinaryOp, TensorLoss, TensorTargets};
use crate::data::{Augment, Dataset, IGNORE, LabelMap, Loader, LoaderConfig, Targets, holdout};
use crate::expr::Var;
use crate::loss::Loss;
use crate::model::Model;

/// The largest batch size [`TrainConfig::validate`] accepts.
pub const MAX_BATCH_SIZE: usize = 1 << 16;
/// The most memory one batch of input images may take (4 GiB), checked before any is made.
pub const MAX_BATCH_BYTES: u64 = 4 << 30;

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step. An epoch's last batch is left out when it would hold one sample.
    pub batch_size: usize,
    /// The base learning rate.
    pub learning_rate: f32,
    /// The optimiser.
    #[serde(deserialize_with = "crate::kind::or_default")]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    #[serde(deserialize_with = "crate::kind::or_default")]
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
    /// Epochs of linear warm-up: the schedule's rate times a factor rising from 0.01 to 1
    /// step by step over them (torchvision's `LinearLR(start_factor=0.01)` of its ImageNet
    /// recipes, there per epoch).
    #[serde(skip_serializing_if = "is_zero")]
    pub warmup_epochs: usize,
    /// Label smoothing ε: training targets become `(1 - ε) y + ε / classes` (ignored pixels
    /// stay 0), as PyTorch's `CrossEntropyLoss(label_smoothing=ε)`, for any loss.
    #[serde(skip_serializing_if = "is_zero_f32")]
    pub label_smoothing: f32,
    /// Validation and test images: resize the shorter side to this, then take the centred crop
    /// of the network's input size (ImageNet's 256 for 224), instead of resizing the whole image
    /// to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_resize: Option<u32>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_f32(x: &f32) -> bool {
    *x == 0.0
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
            warmup_epochs: 0,
            label_smoothing: 0.0,
            eval_resize: None,
        }
    }
}

impl TrainConfig {
    /// Checks that the settings can work, given whether there will be validation data (the
    /// plateau schedule and early stopping watch validation accuracy). [`train`] calls it; the
    /// command line calls it before loading anything.
    pub fn validate(&self, has_validation: bool) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::Config(what));
        if self.epochs == 0 {
            return bad("epochs must be at least 1 (--epochs)".into());
        }
        if self.batch_size == 0 {
            return bad("the batch size must be at least 1 (--batch-size)".into());
        }
        if self.batch_size > MAX_BATCH_SIZE {
            return bad(format!(
                "a batch size of {} is beyond what fits in memory (at most {MAX_BATCH_SIZE}; --batch-size)",
                self.batch_size
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("the learning rate must be a positive number, not {} (--lr)", self.learning_rate));
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return bad(format!("the validation fraction must be in [0, 1), not {}", self.validation_fraction));
        }
        self.optimizer.validate().map_err(TrainError::Config)?;
        self.schedule.validate().map_err(TrainError::Config)?;
        self.augment.validate().map_err(TrainError::Config)?;
        if self.eval_resize == Some(0) {
            return bad("--eval-resize must be at least 1 (e.g. 256 for a 224 crop)".into());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!("label smoothing must be in [0, 1), not {} (--label-smoothing)", self.label_smoothing));
        }
        if self.max_steps == Some(0) || self.early_stopping == Some(0) {
            return bad("--max-steps and --early-stopping must be at least 1".into());
        }
        if self.max_seconds.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
            return bad(format!("--max-seconds must be a positive number, not {:?}", self.max_seconds));
        }
        if self.workers == Some(0) {
            return bad("--workers must be at least 1".into());
        }
        if let Some(workers) = self.workers {
            crate::limits::at_most("--workers", workers, crate::limits::MAX_WORKERS, "one per core is usual")
                .map_err(TrainError::Config)?;
        }
        if !has_validation {
            if matches!(self.schedule, Schedule::Plateau { .. }) {
                return bad("the plateau schedule watches validation accuracy, and this run has no validation data: set a validation fraction above 0 or another schedule (--schedule constant)".into());
            }
            if self.early_stopping.is_some() {
                return bad("early stopping watches validation accuracy, and this run has no validation data: set a validation fraction above 0".into());
            }
        }
        Ok(())
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

/// What a run reports as it goes.
#[derive(Clone, Debug)]
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
    /// The trained model's prediction for one sample of the test set, during the final
    /// evaluation (in the test set's order).
    Prediction(Prediction),
}

/// What the model predicts for one sample of an evaluated set.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The sample's index in the set.
    pub index: usize,
    /// Its own name, where the dataset gives one ([`Dataset::sample_id`]).
    pub id: Option<String>,
    /// The prediction.
    pub output: Predicted,
}

/// A prediction: the most probable class (the first on ties; none where a logit is NaN).
#[derive(Clone, Debug, PartialEq)]
pub enum Predicted {
    /// Classification: the predicted class and the true one.
    Class {
        /// The predicted class, `None` where a logit is NaN.
        predicted: Option<u32>,
        /// The label.
        target: u32,
    },
    /// Segmentation: the predicted class of each pixel at the image's own size (the logits
    /// resized back as the metrics are), [`IGNORE`] where a logit is NaN.
    Mask(LabelMap),
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
    train_checkpointed(b, model, loss, data, config, None, observe)
}

/// The backend generator's seed for step `step` (dropout masks): a function of the run's
/// seed and the step alone, so that a run resumed from a checkpoint draws what it would have.
fn step_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// [`train`], writing checkpoints as `checkpoints` says and continuing from the latest one
/// found there, if any (see [`checkpoint`]): a run killed at any moment and run again with
/// the same arguments ends as an uninterrupted one.
pub fn train_checkpointed<B: Backend>(
    b: &B,
    model: &mut dyn Model<B>,
    loss: &Loss,
    data: &TrainData,
    config: &TrainConfig,
    checkpoints: Option<&Checkpointing>,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport, TrainError> {
    let start = Instant::now();
    let (train_set, validation_set): (Arc<dyn Dataset>, Option<Arc<dyn Dataset>>) = match &data.validation {
        Some(v) => (Arc::clone(&data.train), Some(Arc::clone(v))),
        None if config.validation_fraction > 0.0 => {
            let (t, v) = holdout(Arc::clone(&data.train), config.validation_fraction, config.seed)?;
            if v.is_empty() || t.is_empty() {
                return Err(TrainError::Config(format!(
                    "a validation fraction of {} of {}'s {} samples leaves {} for validation and {} for training: \
                     choose a fraction that leaves both some samples, or 0 for no validation",
                    config.validation_fraction,
                    data.train.name(),
                    data.train.len(),
                    v.len(),
                    t.len()
                )));
            }
            (Arc::new(t), Some(Arc::new(v)))
        }
        None => (Arc::clone(&data.train), None),
    };
    config.validate(validation_set.is_some())?;
    b.seed(config.seed);
    let [channels, height, width] = model.input_shape();
    let images = config.batch_size.min(train_set.len()) as u64;
    let bytes = [channels, height, width, 4].iter().fold(images, |n, &d| n.saturating_mul(d as u64));
    if bytes > MAX_BATCH_BYTES {
        return Err(TrainError::Config(format!(
            "a batch of {images} images of {channels}x{height}x{width} takes {:.1} GiB before the network runs (at \
             most {} GiB): lower the batch size (--batch-size) or the image size (--image-size)",
            bytes as f64 / (1u64 << 30) as f64,
            MAX_BATCH_BYTES >> 30
        )));
    }
    let shape = LoaderConfig {
        batch_size: config.batch_size,
        size: Some((height as u32, width as u32)),
        channels: Some(channels as u8),
        workers: config.workers,
        seed: config.seed,
        ..LoaderConfig::default()
    };
    // A last batch of one sample gives batch norm one value per channel to normalise: as
    // PyTorch users do (`drop_last`), it is left out. Every other last batch is kept.
    let lone_last = train_set.len() > config.batch_size && train_set.len() % config.batch_size == 1;
    let loader = Loader::new(
        train_set,
        LoaderConfig { augment: config.augment.clone(), shuffle: true, drop_last: lone_last, ..shape.clone() },
    )?;
    let evaluation = LoaderConfig {
        shuffle: false,
        augment: config.eval_resize.map_or_else(Augment::none, Augment::centre_crop),
        ..shape
    };
    let validation = validation_set.map(|v| Loader::new(v, evaluation.clone())).transpose()?;
    let test = data.test.clone().map(|t| Loader::new(t, evaluation.clone())).transpose()?;

    let mut report = TrainReport {
        status: Status::Completed,
        epochs: Vec::new(),
        best_validation: None,
        test: None,
        test_error: None,
        steps: 0,
        seconds: 0.0,
        parameters: model.params().count(),
    };
    if !loss.expr.uses(Var::P) && !loss.expr.uses(Var::Z) {
        report.status =
            Status::Untrainable { reason: format!("`{loss}` uses neither p nor z: no gradient reaches the model") };
        return Ok(report);
    }
    let tensor_loss = TensorLoss::new(loss);
    let mut optimizer = Optimizer::new(config.optimizer.clone());
    let mut scheduler = Scheduler::new(config.schedule.clone(), config.learning_rate);
    let mut resumed = match checkpoints.map(Checkpointing::latest).transpose()?.flatten() {
        Some(path) => Some(checkpoint::load(&path, b, model.params_mut(), &mut optimizer)?),
        None => None,
    };
    // Seconds of the run before this process took it up.
    let mut earlier = 0.0;
    let first_epoch = resumed.as_ref().map_or(0, |p| p.epoch);
    if let Some(progress) = &resumed {
        report = progress.report.clone();
        scheduler = progress.scheduler.clone();
        earlier = progress.seconds;
        // A run stopped by a budget or by early stopping goes on where the budget has since
        // been raised (`train --resume DIR --max-steps N`, `--early-stopping`); a run resumed
        // after running out of time has the time of this process (`--max-seconds` bounds each
        // process). A diverged or untrainable run stays ended.
        let goes_on = match &report.status {
            Status::OutOfBudget { .. } => config.max_steps.is_none_or(|m| report.steps < m),
            Status::EarlyStopped { epoch } => match (config.early_stopping, &report.best_validation) {
                (Some(patience), Some((best, _))) => *epoch < best + patience,
                _ => true,
            },
            _ => false,
        };
        if goes_on {
            report.status = Status::Completed;
        }
        // Checkpointed where its step budget ran out, and resumed with no more of it.
        if report.status == Status::Completed && config.max_steps.is_some_and(|m| report.steps >= m) {
            report.status = Status::OutOfBudget { reason: format!("{} steps", report.steps) };
        }
    }
    let steps_per_epoch = loader.batches_per_epoch();
    let planned = (config.epochs as u64).saturating_mul(steps_per_epoch as u64);
    let total_steps = config.max_steps.map_or(planned, |m| m.min(planned)).max(1);
    observe(Event::Started { epochs: config.epochs, steps_per_epoch });

    let classes = loader.dataset().classes().len();
    let segmentation = loader.dataset().task() == crate::data::Task::Segmentation;
    // A run that had ended (out of budget, diverged, stopped early) stays ended.
    let epochs = if report.status == Status::Completed { config.epochs } else { first_epoch };
    'epochs: for epoch in first_epoch..epochs {
        let epoch_start = Instant::now();
        let (mut tally, mut images, first_batch, epoch_earlier) = match resumed.take() {
            Some(p) if p.epoch == epoch => (p.tally, p.images, p.batch, p.epoch_seconds),
            _ => (Tally::new(classes, segmentation), 0usize, 0, 0.0),
        };
        let mut lr = scheduler.rate(epoch, report.steps as f64 / total_steps as f64);
        let mut stopped_inside = false;
        for (index, batch) in loader.epoch_from(epoch as u64, first_batch).enumerate() {
            let batch = batch?;
            lr = scheduler.rate(epoch, report.steps as f64 / total_steps as f64);
            b.seed(step_seed(config.seed, report.steps));
            if config.warmup_epochs > 0 {
                let warmup = (config.warmup_epochs as u64 * steps_per_epoch as u64).max(1);
                if report.steps < warmup {
                    lr *= 0.01 + 0.99 * report.steps as f32 / warmup as f32;
                }
            }
            let x = b.tensor(&batch.images, &batch.shape)?;
            let targets =
                smooth(b, targets(b, &batch.targets, &batch.shape, classes)?, config.label_smoothing, classes)?;
            let logits = model.forward(b, &x, true)?;
            let mut loss_tensor = tensor_loss.forward(b, &logits, &targets)?;
            // The main loss is what is reported (comparable with the validation loss); the
            // auxiliary classifier's, if any, only joins the gradient and the divergence check.
            let value = f64::from(b.to_vec(&loss_tensor)?.first().copied().unwrap_or(f32::NAN));
            let mut total = value;
            if let Some((auxiliary, weight)) = model.take_auxiliary() {
                let extra = b.affine(&tensor_loss.forward(b, &auxiliary, &targets)?, weight, 0.0)?;
                total += f64::from(b.to_vec(&extra)?.first().copied().unwrap_or(f32::NAN));
                loss_tensor = b.binary(BinaryOp::Add, &loss_tensor, &extra)?;
            }
            if !total.is_finite() {
                report.status = Status::Diverged { epoch, step: report.steps, loss: total.to_string() };
                break 'epochs;
            }
            let grads = b.backward(&loss_tensor)?;
            optimizer.step(b, model.params_mut(), &grads, lr)?;
            count(b, &mut tally, &logits, &batch.targets, &batch.shape, value)?;
            images += batch.len();
            report.steps += 1;
            observe(Event::Step { epoch, step: report.steps, loss: value });
            let out_of_budget = config.max_steps.is_some_and(|m| report.steps >= m)
                || config.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s);
            // A run stopped by its budget inside an epoch is checkpointed there, so that a
            // resume with a larger budget goes on with the rest of the epoch.
            let last_of_epoch = first_batch + index + 1 >= steps_per_epoch;
            stopped_inside = out_of_budget && !last_of_epoch;
            if let Some(c) = checkpoints
                .filter(|c| stopped_inside || c.every_steps.is_some_and(|n| n > 0 && report.steps.is_multiple_of(n)))
            {
                let progress = Progress {
                    format: checkpoint::FORMAT,
                    epoch,
                    batch: first_batch + index + 1,
                    steps: report.steps,
                    seconds: earlier + start.elapsed().as_secs_f64(),
                    epoch_seconds: epoch_earlier + epoch_start.elapsed().as_secs_f64(),
                    images,
                    tally: tally.clone(),
                    scheduler: scheduler.clone(),
                    report: report.clone(),
                };
                c.save(b, model.params(), &optimizer, &progress, false)?;
            }
            if config.max_steps.is_some_and(|m| report.steps >= m) {
                report.status = Status::OutOfBudget { reason: format!("{} steps", report.steps) };
            } else if config.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s) {
                report.status = Status::OutOfBudget { reason: format!("{:.0} seconds", start.elapsed().as_secs_f64()) };
            }
            if report.status != Status::Completed {
                break;
            }
        }
        let train_seconds = epoch_earlier + epoch_start.elapsed().as_secs_f64();
        let validation_metrics = validation.as_ref().map(|v| evaluate(b, model, v, &tensor_loss)).transpose()?;
        // The last step can leave the weights broken (an infinite gradient from a finite
        // loss): the validation loss shows it.
        if let Some(m) = &validation_metrics
            && !m.loss.is_finite()
        {
            report.status = Status::Diverged { epoch, step: report.steps, loss: format!("{} (validation)", m.loss) };
            break;
        }
        scheduler.epoch_end(validation_metrics.as_ref().map(|m| m.accuracy));
        if let Some(metrics) = &validation_metrics
            && report.best_validation.as_ref().is_none_or(|(_, best)| metrics.accuracy > best.accuracy)
        {
            report.best_validation = Some((epoch, metrics.clone()));
        }
        let epoch_report = EpochReport {
            epoch,
            learning_rate: lr,
            train: tally.metrics(),
            validation: validation_metrics,
            seconds: epoch_earlier + epoch_start.elapsed().as_secs_f64(),
            images_per_second: images as f64 / train_seconds.max(1e-9),
        };
        observe(Event::Epoch(&epoch_report));
        let improved = report.best_validation.as_ref().is_some_and(|(best, _)| *best == epoch);
        report.epochs.push(epoch_report);
        if let Some(c) = checkpoints.filter(|_| !stopped_inside) {
            let progress = Progress {
                format: checkpoint::FORMAT,
                epoch: epoch + 1,
                batch: 0,
                steps: report.steps,
                seconds: earlier + start.elapsed().as_secs_f64(),
                epoch_seconds: 0.0,
                images: 0,
                tally: Tally::new(classes, segmentation),
                scheduler: scheduler.clone(),
                report: report.clone(),
            };
            c.save(b, model.params(), &optimizer, &progress, improved)?;
        }
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
    if !matches!(report.status, Status::Diverged { .. })
        && let Some(test) = &test
    {
        // A test set that cannot be read costs the test figures, not the run.
        match evaluate_with(b, model, test, &tensor_loss, Some(&mut |p| observe(Event::Prediction(p)))) {
            Ok(metrics) => report.test = Some(metrics),
            Err(e) => report.test_error = Some(e.to_string()),
        }
    }
    report.seconds = earlier + start.elapsed().as_secs_f64();
    Ok(report)
}

/// The model's metrics on every batch of a loader, in evaluation mode.
pub fn evaluate<B: Backend>(
    b: &B,
    model: &mut dyn Model<B>,
    loader: &Loader,
    loss: &TensorLoss,
) -> Result<Metrics, TrainError> {
    evaluate_with(b, model, loader, loss, None)
}

/// [`evaluate`], giving each sample's [`Prediction`] to `predicted` on the way, if given (the
/// predictions are only made for it: validation runs without).
pub fn evaluate_with<B: Backend>(
    b: &B,
    model: &mut dyn Model<B>,
    loader: &Loader,
    loss: &TensorLoss,
    mut predicted: Option<&mut dyn FnMut(Prediction)>,
) -> Result<Metrics, TrainError> {
    let dataset = Arc::clone(loader.dataset());
    let classes = dataset.classes().len();
    let segmentation = dataset.task() == crate::data::Task::Segmentation;
    let mut tally = Tally::new(classes, segmentation);
    for (indices, batch) in loader.plan(0).into_iter().zip(loader.epoch(0)) {
        let batch = batch?;
        // Inputs and targets cut off from the autodiff graph, as the parameters are in
        // evaluation: burn-tch keeps every activation of a forward pass that mixes the two
        // kinds (measured: 0.36 GB/s more resident memory evaluating ResNet-18 on libtorch's
        // CPU, until the kernel killed the run; flat once detached).
        let x = b.detach(&b.tensor(&batch.images, &batch.shape)?);
        let logits = model.forward(b, &x, false)?;
        let targets = targets(b, &batch.targets, &batch.shape, classes)?;
        let targets = TensorTargets {
            one_hot: b.detach(&targets.one_hot),
            valid: targets.valid.map(|(mask, count)| (b.detach(&mask), count)),
        };
        let value = f64::from(b.to_vec(&loss.forward(b, &logits, &targets)?)?.first().copied().unwrap_or(f32::NAN));
        if segmentation {
            let batch = (indices.as_slice(), &batch.shape);
            count_at_original_size(b, &mut tally, &logits, dataset.as_ref(), batch, value, predicted.as_deref_mut())?;
        } else {
            let values = count(b, &mut tally, &logits, &batch.targets, &batch.shape, value)?;
            if let (Some(predicted), Targets::Classes(labels)) = (predicted.as_deref_mut(), &batch.targets) {
                for ((&index, row), &target) in indices.iter().zip(values.chunks(classes.max(1))).zip(labels) {
                    let output = Predicted::Class { predicted: argmax(row.iter().copied()).map(|k| k as u32), target };
                    predicted(Prediction { index, id: dataset.sample_id(index), output });
                }
            }
        }
    }
    Ok(tally.metrics())
}

/// The index of the largest value, the first on ties; `None` if a value is NaN (or none).
fn argmax(values: impl Iterator<Item = f32>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (k, v) in values.enumerate() {
        if v.is_nan() {
            return None;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((k, v));
        }
    }
    best.map(|(k, _)| k)
}

/// Segmentation metrics as they are reported: each image's logits, predicted on the resized
/// input, resized back to the image's own size (bilinearly) and compared with its original
/// label map, ignored pixels excluded. The loss stays the one at the network's resolution.
fn count_at_original_size<'p, B: Backend>(
    b: &B,
    tally: &mut Tally,
    logits: &B::Tensor,
    dataset: &dyn Dataset,
    (indices, shape): (&[usize], &[usize; 4]),
    loss: f64,
    mut predicted: Option<&mut (dyn FnMut(Prediction) + 'p)>,
) -> Result<(), TrainError> {
    let values = b.to_vec(logits)?;
    let (classes, h, w) = (tally.classes(), shape[2], shape[3]);
    let per_sample = classes * h * w;
    for (i, &index) in indices.iter().enumerate() {
        let crate::data::Target::Mask(labels) = dataset.sample(index)?.target else {
            return Err(TrainError::Config(format!(
                "{}: sample {index} of a segmentation set has no label map",
                dataset.name()
            )));
        };
        let (height, width) = (labels.height() as usize, labels.width() as usize);
        let planes = &values[i * per_sample..(i + 1) * per_sample];
        let resized = resize_bilinear(planes, classes, (h, w), (height, width));
        // The batch's loss, once per sample.
        tally.add_masks(&resized, labels.labels(), height * width, IGNORE, loss);
        if let Some(predicted) = predicted.as_deref_mut() {
            let plane = height * width;
            let mask = (0..plane)
                .map(|pixel| argmax((0..classes).map(|k| resized[k * plane + pixel])).map_or(IGNORE, |k| k as u8))
                .collect();
            let mask = LabelMap::new(width as u32, height as u32, mask)?;
            predicted(Prediction { index, id: dataset.sample_id(index), output: Predicted::Mask(mask) });
        }
    }
    Ok(())
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

/// Label smoothing of training targets: `(1 - ε) y + ε / classes`, where a pixel counts.
fn smooth<B: Backend>(
    b: &B,
    targets: TensorTargets<B::Tensor>,
    epsilon: f32,
    classes: usize,
) -> BResult<TensorTargets<B::Tensor>> {
    if epsilon == 0.0 {
        return Ok(targets);
    }
    let mut one_hot = b.affine(&targets.one_hot, 1.0 - epsilon, epsilon / classes as f32)?;
    if let Some((valid, _)) = &targets.valid {
        one_hot = b.binary(BinaryOp::Mul, &one_hot, valid)?;
    }
    Ok(TensorTargets { one_hot, valid: targets.valid })
}

/// Adds a batch's predictions to a tally; returns the logits' values.
fn count<B: Backend>(
    b: &B,
    tally: &mut Tally,
    logits: &B::Tensor,
    targets: &Targets,
    shape: &[usize; 4],
    loss: f64,
) -> BResult<Vec<f32>> {
    let values = b.to_vec(logits)?;
    match targets {
        Targets::Classes(labels) => tally.add_classes(&values, labels, loss),
        Targets::Masks(labels) => tally.add_masks(&values, labels, shape[2] * shape[3], IGNORE, loss),
    }
    Ok(values)
}
