//! `lossgp train`: train a model of the zoo with a loss on a dataset, and report accuracy.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lossgp_core::backend::{Backend, Pretrained, open_backend};
use lossgp_core::data::{Augment, Dataset, Split};
use lossgp_core::loss::builtin;
use lossgp_core::model::{ModelOptions, ModelSpec, build_model, check_options, find_model};
use lossgp_core::train::{
    Checkpointing, Event, OptimizerConfig, Schedule, Status, TrainConfig, TrainData, TrainReport, train_checkpointed,
};
use lossgp_datasets::{DataDir, info};

use super::dataset::{TrainingRequest, TrainingSet, open_split, open_training};
use super::predictions::Predictions;
use serde::Serialize;

use crate::output::emit;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A dataset name (see `lossgp data list`) or the path of an image folder.
    #[arg(long, required_unless_present_any = ["resume", "config"])]
    dataset: Option<String>,
    /// The model and its options, `NAME[:KEY=VALUE,...]`, e.g. `resnet20` or
    /// `resnet18:stem=cifar,head=paper` (see `lossgp list models`) [default: small-cnn].
    #[arg(long)]
    model: Option<String>,
    /// A built-in loss (`ngl`, `ce`, ...; see `lossgp loss list`), an expression such as
    /// `"-sum(y * log(p))"`, or a found one: `RUN#K`, the K-th best of the search in RUN (`RUN`:
    /// its best) [default: ce].
    #[arg(long, allow_hyphen_values = true)]
    loss: Option<String>,
    /// The backend (see `lossgp list backends`) [default: flex].
    #[arg(long)]
    backend: Option<String>,
    /// A recipe (TOML: `dataset`, `model`, `loss`, `backend`, `image_size` and a `[train]`
    /// table, e.g. `configs/voc-deeplabv3.toml`), or training settings alone as JSON (the
    /// `config` object of a `--json` report); the options given here override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    options: TrainOptions,
    /// Threads that load and augment batches [default: one per core].
    #[arg(long, value_name = "N")]
    loader_threads: Option<usize>,
    /// The old spelling of --loader-threads, hidden and warned about: `--workers` means
    /// trainings at once in search, transfer and confirm.
    #[arg(long, hide = true, value_name = "N", conflicts_with = "loader_threads")]
    workers: Option<usize>,
    /// Resize images to HEIGHTxWIDTH (or SIZE for squares) [default: the dataset's own size,
    /// which image folders of mixed sizes lack].
    #[arg(long, value_name = "HxW", value_parser = parse_size)]
    image_size: Option<[usize; 2]>,
    /// Train on a stratified subset of this many training samples (seeded by --seed), as the
    /// search's and transfer's `train_samples` do [default: all of them].
    #[arg(long, value_name = "N")]
    train_samples: Option<usize>,
    /// Write checkpoints into DIR (every --checkpoint-every steps and at each epoch's end),
    /// from which `--resume DIR` continues the run exactly after a crash or a kill.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    checkpoint_dir: Option<PathBuf>,
    /// Also checkpoint every this many optimiser steps (with --checkpoint-dir).
    #[arg(long, value_name = "STEPS", requires = "checkpoint_dir")]
    checkpoint_every: Option<u64>,
    /// How many of the latest checkpoints to keep, besides the best [default: 3].
    #[arg(long, value_name = "K", requires = "checkpoint_dir")]
    keep_checkpoints: Option<usize>,
    /// Continue the run whose checkpoints are in DIR, with its own settings.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["dataset", "config", "pretrained", "predictions"])]
    resume: Option<PathBuf>,
    /// Skip the final evaluation on the test split.
    #[arg(long)]
    no_test: bool,
    /// Save the trained weights as a safetensors file (PyTorch reads it).
    #[arg(long, value_name = "FILE.safetensors")]
    save: Option<PathBuf>,
    /// Start from pretrained weights: a safetensors file with torchvision's names, such as a
    /// torchvision ImageNet ResNet's for a segmentation network's backbone. What the file lacks
    /// (a new head) or has for other classes stays as initialised; see the report.
    #[arg(long, value_name = "FILE.safetensors")]
    pretrained: Option<PathBuf>,
    /// Write the trained model's predictions on the test split into DIR: a palette PNG per
    /// image at its own size for segmentation (VOC's format), predictions.csv for classes.
    #[arg(long, value_name = "DIR")]
    predictions: Option<PathBuf>,
}

/// The training settings a command takes as options, over a file's or the defaults.
#[derive(Debug, Default, PartialEq, Args)]
pub struct TrainOptions {
    /// Passes over the training data [default: 10].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per step [default: 128].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The base learning rate [default: 1e-3].
    #[arg(long, value_name = "RATE")]
    pub lr: Option<f32>,
    /// adam, adamw, sgd[:MOMENTUM] or nesterov:MOMENTUM [default: adam].
    #[arg(long)]
    pub optimizer: Option<OptimizerConfig>,
    /// Weight decay [default: 0, or the loss's own, e.g. 5e-4 for ce-l2].
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// constant, step:EVERY:GAMMA, cosine[:MIN_LR], poly[:POWER] or plateau[:FACTOR:PATIENCE:MIN_LR]
    /// [default: plateau, the paper's x0.2 after 5 epochs, floor 1e-4].
    #[arg(long)]
    pub schedule: Option<Schedule>,
    /// none, paper (zoom 0.2, shift 0.1, flip), cifar (pad 4 and crop, flip), segmentation
    /// (scale 0.5-2, crop padded with the mean and the ignore label, flip) or imagenet
    /// (random-resized crop, flip) [default: none].
    #[arg(long)]
    pub augment: Option<Augment>,
    /// Fraction of the training data held out for validation [default: 0.1].
    #[arg(long, value_name = "FRACTION")]
    pub validation_fraction: Option<f64>,
    /// Seeds the weights, the hold-out, the batch order, augmentation and dropout [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Epochs of linear warm-up from 1% of the rate [default: 0].
    #[arg(long, value_name = "EPOCHS")]
    pub warmup_epochs: Option<usize>,
    /// Label smoothing ε, for any loss: targets (1 - ε) y + ε / classes [default: 0].
    #[arg(long, value_name = "EPSILON")]
    pub label_smoothing: Option<f32>,
    /// Validation and test images: resize the shorter side to this, then centre-crop to the
    /// image size (ImageNet's 256 for 224) [default: resize the whole image].
    #[arg(long, value_name = "PIXELS")]
    pub eval_resize: Option<u32>,
    /// Stop after this many epochs without a better validation accuracy.
    #[arg(long, value_name = "EPOCHS")]
    pub early_stopping: Option<usize>,
    /// Stop after this many optimiser steps.
    #[arg(long, value_name = "STEPS")]
    pub max_steps: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_seconds: Option<f64>,
}

impl TrainOptions {
    /// Sets what the options give on `c`.
    pub fn apply(&self, c: &mut TrainConfig) {
        macro_rules! set {
            ($($field:ident = $value:expr),* $(,)?) => { $(if let Some(v) = $value { c.$field = v; })* };
        }
        set!(
            epochs = self.epochs,
            batch_size = self.batch_size,
            learning_rate = self.lr,
            optimizer = self.optimizer.clone(),
            schedule = self.schedule.clone(),
            augment = self.augment.clone(),
            validation_fraction = self.validation_fraction,
            seed = self.seed,
            early_stopping = self.early_stopping.map(Some),
            max_steps = self.max_steps.map(Some),
            max_seconds = self.max_seconds.map(Some),
            warmup_epochs = self.warmup_epochs,
            label_smoothing = self.label_smoothing,
            eval_resize = self.eval_resize.map(Some),
        );
        if let Some(decay) = self.weight_decay {
            c.optimizer = c.optimizer.clone().with_weight_decay(decay);
        }
    }
}

/// What `lossgp train --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    dataset: String,
    model: String,
    loss: String,
    backend: String,
    config: TrainConfig,
    /// The search's fitness: the best validation accuracy, 0 if the run diverged.
    fitness: f64,
    #[serde(flatten)]
    report: TrainReport,
    saved: Option<PathBuf>,
    /// The pretrained weights the run started from (`--pretrained`).
    pretrained: Option<PretrainedReport>,
    /// The folder of the test split's predictions (`--predictions`).
    predictions: Option<PathBuf>,
}

/// What `--pretrained` loaded.
#[derive(Debug, Serialize)]
struct PretrainedReport {
    file: PathBuf,
    #[serde(flatten)]
    report: Pretrained,
}

/// One line on what a pretrained file gave the model.
fn describe_pretrained(file: &Path, r: &Pretrained) -> String {
    let list = |names: &[String]| {
        let shown: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
        let more = names.len().saturating_sub(shown.len());
        format!("{}{}", shown.join(", "), if more > 0 { format!(" and {more} more") } else { String::new() })
    };
    let mut s = format!("pretrained: {} tensors from {}", r.loaded, file.display());
    if !r.missing.is_empty() {
        let _ = write!(s, "; not in the file, kept as initialised: {}", list(&r.missing));
    }
    if !r.reshaped.is_empty() {
        let _ = write!(s, "; for another number of classes there, kept as initialised: {}", list(&r.reshaped));
    }
    if !r.unused.is_empty() {
        let _ = write!(s, "; unused: {}", list(&r.unused));
    }
    s
}

/// The file of a checkpoint directory that holds the run's arguments.
const RUN_FILE: &str = "run.json";

pub fn run(args: TrainArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    if let Some(n) = args.workers {
        // Scripts written before the rename keep running (field-case replays among them); the
        // option is hidden from --help and the new spelling named.
        eprintln!(
            "warning: train --workers is now --loader-threads {n} (--workers means trainings at once in search, \
             transfer and confirm); this spelling still works here, as --loader-threads"
        );
    }
    let args = match &args.resume {
        Some(dir) => {
            let path = dir.join(RUN_FILE);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("{} has no {RUN_FILE}: it is not the --checkpoint-dir of a lossgp train run", dir.display())
            })?;
            let planned: Planned = lossgp_core::json::from_str(&text)
                .with_context(|| format!("{} is not a lossgp run file", path.display()))?;
            let (planned, honoured) = resume_with(planned, &args, dir)?;
            eprintln!("resuming the run in {}", dir.display());
            for option in honoured {
                eprintln!("  {option}");
            }
            planned
        }
        None => Planned::new(args)?,
    };
    let loss =
        crate::commands::search::reference::resolve(&args.loss).with_context(|| format!("--loss `{}`", args.loss))?;
    let config = args.config.clone();
    let (model_name, options) = ModelOptions::parse(&args.model)?;
    let entry = find_model(&model_name)?;
    check_options(entry, &options)?;
    if let Some(path) = &args.save {
        check_writable(path)?;
    }
    let dirs = DataDir::resolve(data_dir)?;
    let request = TrainingRequest {
        dataset: &args.dataset,
        task: entry.task,
        model: &model_name,
        image_size: args.image_size,
        samples: args.train_samples,
        seed: config.seed,
    };
    let TrainingSet { data: train_set, input } = open_training(&request, &dirs)?;
    let test_set = if args.no_test { None } else { test_split(&args.dataset, &dirs)? };
    let backend = open_backend(&args.backend)?;

    let spec = ModelSpec { input, classes: train_set.classes().len(), seed: config.seed, options };
    let mut model = build_model(&model_name, &backend, &spec)?;
    let pretrained = match &args.pretrained {
        Some(file) => {
            let report = model
                .params_mut()
                .load_pretrained(&backend, file, spec.classes)
                .with_context(|| format!("--pretrained: cannot start {} from {}", model.describe(), file.display()))?;
            eprintln!("{}", describe_pretrained(file, &report));
            Some(PretrainedReport { file: file.clone(), report })
        }
        None => None,
    };
    eprintln!(
        "training {} on {} ({} samples{}) with {} on {}",
        model.describe(),
        train_set.name(),
        train_set.len(),
        test_set.as_ref().map(|t| format!(", test {}", t.len())).unwrap_or_default(),
        loss,
        backend.name()
    );

    let mut predictions = match (&args.predictions, &test_set) {
        (Some(dir), Some(_)) => Some(Predictions::create(dir, train_set.classes())?),
        (Some(_), None) => bail!("--predictions needs a test split: this run has none (or --no-test)"),
        (None, _) => None,
    };
    let data = TrainData { train: train_set, validation: None, test: test_set };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, eta {eta} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let mut observe = |event: Event<'_>| match event {
        Event::Started { epochs, steps_per_epoch } => {
            bar.set_length((epochs as u64).saturating_mul(steps_per_epoch as u64));
            bar.set_prefix("epoch 1");
        }
        Event::Step { epoch, step, loss } => {
            bar.set_position(step);
            bar.set_prefix(format!("epoch {}", epoch + 1));
            if step % 10 == 0 {
                bar.set_message(format!("loss {loss:.4}"));
            }
        }
        Event::Epoch(e) => {
            bar.suspend(|| {
                let val = e
                    .validation
                    .as_ref()
                    .map(|v| format!(", validation {:.2}%", 100.0 * v.accuracy))
                    .unwrap_or_default();
                eprintln!(
                    "epoch {}: loss {:.4}, train {:.2}%{val}, lr {:.1e}, {:.0} images/s",
                    e.epoch + 1,
                    e.train.loss,
                    100.0 * e.train.accuracy,
                    e.learning_rate,
                    e.images_per_second
                );
            });
        }
        Event::Prediction(p) => {
            if let Some(out) = predictions.as_mut() {
                out.add(p);
            }
        }
    };
    if let Some(checkpoints) = &args.checkpoints {
        std::fs::create_dir_all(&checkpoints.dir)
            .with_context(|| format!("--checkpoint-dir: cannot create {}", checkpoints.dir.display()))?;
        lossgp_core::search::store::write_atomic(
            &checkpoints.dir.join(RUN_FILE),
            &lossgp_core::json::to_string_pretty(&args)?,
        )?;
    }
    let report =
        train_checkpointed(&backend, model.as_mut(), &loss, &data, &config, args.checkpoints.as_ref(), &mut observe)?;
    bar.finish_and_clear();
    let predicted = predictions.map(Predictions::finish).transpose();
    if let (Ok(Some(n)), Some(dir)) = (&predicted, &args.predictions) {
        eprintln!("wrote {n} predictions into {}", dir.display());
    }
    // The report is printed whatever happens to the weights, the test set or the predictions,
    // then their failure (if any) makes the command fail.
    let saved = match &args.save {
        Some(path) => match model.params().save(&backend, path) {
            Ok(()) => Ok(Some(path.clone())),
            Err(e) => Err(anyhow::Error::new(e).context(format!("saving the weights to {}", path.display()))),
        },
        None => Ok(None),
    };
    let test_error = report.test_error.clone();
    let out = Report {
        dataset: args.dataset.clone(),
        model: model.describe(),
        loss: loss.to_string(),
        backend: backend.name(),
        config,
        fitness: report.fitness(),
        report,
        saved: saved.as_ref().ok().cloned().flatten(),
        pretrained,
        predictions: args.predictions.clone().filter(|_| matches!(predicted, Ok(Some(_)))),
    };
    emit(json, &out, render)?;
    saved?;
    predicted?;
    if let Some(e) = test_error {
        bail!("the test split could not be evaluated: {e}");
    }
    Ok(())
}

/// A training recipe: what `--config FILE.toml` holds.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Recipe {
    dataset: Option<String>,
    model: Option<String>,
    loss: Option<String>,
    backend: Option<String>,
    image_size: Option<[usize; 2]>,
    /// A subset of the training split, as `--train-samples`.
    train_samples: Option<usize>,
    /// Pretrained weights, as `--pretrained`.
    pretrained: Option<PathBuf>,
    train: TrainConfig,
}

impl Recipe {
    /// The recipe in `path` (TOML), or one holding only training settings (JSON).
    fn read(path: &Path) -> Result<Recipe> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if path.extension().is_some_and(|e| e == "toml") {
            return toml::from_str(&text).with_context(|| {
                format!("{} is not a valid training recipe (see configs/ for examples)", path.display())
            });
        }
        let train = lossgp_core::json::from_str(&text)
            .with_context(|| format!("{} is not a valid training configuration", path.display()))?;
        Ok(Recipe { train, ..Recipe::default() })
    }
}

/// A run's arguments, from the command line or from a checkpoint directory's run file
/// (`run.json`, which a run with checkpoints writes so that `--resume` runs it as it was
/// asked for).
#[derive(Debug, Serialize, serde::Deserialize)]
struct Planned {
    dataset: String,
    model: String,
    loss: String,
    backend: String,
    config: TrainConfig,
    image_size: Option<[usize; 2]>,
    #[serde(default)]
    train_samples: Option<usize>,
    no_test: bool,
    save: Option<PathBuf>,
    #[serde(default)]
    pretrained: Option<PathBuf>,
    #[serde(default)]
    predictions: Option<PathBuf>,
    checkpoints: Option<Checkpointing>,
}

impl Planned {
    fn new(args: TrainArgs) -> Result<Planned> {
        let recipe = match &args.config {
            Some(path) => Recipe::read(path)?,
            None => Recipe::default(),
        };
        let loss = args.loss.clone().or(recipe.loss).unwrap_or_else(|| "ce".into());
        let config = settings(&args, recipe.train, &loss)?;
        let checkpoints = args.checkpoint_dir.clone().map(|dir| Checkpointing {
            dir,
            every_steps: args.checkpoint_every,
            keep: args.keep_checkpoints.unwrap_or(3).max(1),
        });
        if let Some(dir) = checkpoints.as_ref().map(|c| &c.dir)
            && dir.join(RUN_FILE).exists()
        {
            bail!(
                "{} already holds a run's checkpoints: continue it with --resume {0}, or choose another --checkpoint-dir",
                dir.display()
            );
        }
        let dataset = args.dataset.or(recipe.dataset).ok_or_else(|| {
            anyhow::anyhow!(
                "no dataset: give --dataset, or a recipe (--config FILE.toml) that names one, or --resume DIR"
            )
        })?;
        Ok(Planned {
            dataset,
            model: args.model.or(recipe.model).unwrap_or_else(|| "small-cnn".into()),
            loss,
            backend: args.backend.or(recipe.backend).unwrap_or_else(|| "flex".into()),
            config,
            image_size: args.image_size.or(recipe.image_size),
            train_samples: args.train_samples.or(recipe.train_samples),
            no_test: args.no_test,
            save: args.save,
            pretrained: args.pretrained.or(recipe.pretrained),
            predictions: args.predictions,
            checkpoints,
        })
    }
}

/// The recorded run with the options given beside `--resume DIR`, and a line on each one
/// honoured. Options that decide only where results go or when to stop (`--save`,
/// `--no-test`, `--loader-threads`, `--max-steps`, `--max-seconds`, `--early-stopping`, and
/// `--epochs` where the schedule does not spread over the epochs) are honoured; one that would
/// make the checkpoints' weights and optimiser state belong to another run is refused, naming
/// it and its recorded value, unless it gives that value. Nothing is dropped without a word.
fn resume_with(mut planned: Planned, args: &TrainArgs, dir: &Path) -> Result<(Planned, Vec<String>)> {
    let mut honoured = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let recorded = planned.config.clone();
    let mut asked = recorded.clone();
    args.options.apply(&mut asked);
    if let Some(threads) = args.loader_threads.or(args.workers) {
        asked.workers = Some(threads);
    }
    // Fixed by the checkpoints: compared with what the run recorded.
    let mut fixed = |option: &str, given: Option<String>, was: String| {
        if let Some(given) = given.filter(|g| *g != was) {
            refused.push(format!("{option} {given} (the run has {was})"));
        }
    };
    fixed("--model", args.model.clone(), planned.model.clone());
    fixed("--loss", args.loss.clone(), planned.loss.clone());
    fixed("--backend", args.backend.clone(), planned.backend.clone());
    let size = |s: Option<[usize; 2]>| s.map_or("its dataset's size".into(), |[h, w]| format!("{h}x{w}"));
    fixed("--image-size", args.image_size.map(|s| size(Some(s))), size(planned.image_size));
    let samples = |n: Option<usize>| n.map_or("all".into(), |n| n.to_string());
    fixed("--train-samples", args.train_samples.map(|n| n.to_string()), samples(planned.train_samples));
    macro_rules! setting {
        ($($option:literal: $field:ident),* $(,)?) => {$(
            if asked.$field != recorded.$field {
                refused.push(format!("{} {:?} (the run has {:?})", $option, asked.$field, recorded.$field));
            }
        )*};
    }
    setting!(
        "--batch-size": batch_size,
        "--lr": learning_rate,
        "--optimizer/--weight-decay": optimizer,
        "--schedule": schedule,
        "--augment": augment,
        "--validation-fraction": validation_fraction,
        "--seed": seed,
        "--warmup-epochs": warmup_epochs,
        "--label-smoothing": label_smoothing,
        "--eval-resize": eval_resize,
    );
    if asked.epochs != recorded.epochs {
        if matches!(recorded.schedule, Schedule::Cosine { .. } | Schedule::Poly { .. }) {
            refused.push(format!(
                "--epochs {} (the run has {}, and its {:?} schedule spreads over them: more epochs would change the rates already used)",
                asked.epochs, recorded.epochs, recorded.schedule
            ));
        } else {
            honoured.push(format!(
                "--epochs {}: trains to epoch {} (the run was asked for {})",
                asked.epochs, asked.epochs, recorded.epochs
            ));
        }
    }
    if !refused.is_empty() {
        bail!(
            "cannot change on --resume {}: {}. The checkpoints hold that run's weights and optimiser state; \
             resume without these options, or start a new run (with another --checkpoint-dir) to train with them",
            dir.display(),
            refused.join("; ")
        );
    }
    // Where results go and when to stop: honoured, and said so.
    if let Some(save) = &args.save {
        check_writable(save)?;
        honoured.push(format!("--save {}: the weights are written there at the end", save.display()));
        planned.save = Some(save.clone());
    }
    if args.no_test && !planned.no_test {
        honoured.push("--no-test: the test split is not evaluated".into());
        planned.no_test = true;
    }
    for (option, changed) in [
        ("--loader-threads", asked.workers != recorded.workers),
        ("--max-steps", asked.max_steps != recorded.max_steps),
        ("--max-seconds", asked.max_seconds != recorded.max_seconds),
        ("--early-stopping", asked.early_stopping != recorded.early_stopping),
    ] {
        if changed {
            honoured.push(format!("{option}: as given (it decides only how the run proceeds, not what it learns)"));
        }
    }
    asked.validate(asked.validation_fraction > 0.0)?;
    planned.config = asked;
    Ok((planned, honoured))
}

/// Fails now, not after training, if the weights could not be written to `path`.
fn check_writable(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("--save: cannot create {}", dir.display()))?;
    let probe = dir.join(format!(".lossgp-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("--save: cannot write into {}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    if path.is_dir() {
        bail!("--save {} is a directory: give a file name such as weights.safetensors", path.display());
    }
    Ok(())
}

/// The settings: the recipe's (or the defaults), the loss's own weight decay, then the options.
fn settings(args: &TrainArgs, base: TrainConfig, loss: &str) -> Result<TrainConfig> {
    let mut c = base;
    args.options.apply(&mut c);
    if let Some(threads) = args.loader_threads.or(args.workers) {
        c.workers = Some(threads);
    }
    // A loss defined with weight decay (ce-l2) brings it, unless a decay is given.
    let own = builtin(loss).and_then(|b| b.weight_decay);
    if let (None, Some(decay)) = (args.options.weight_decay, own)
        && c.optimizer.weight_decay() == 0.0
    {
        c.optimizer = c.optimizer.with_weight_decay(decay as f32);
    }
    c.validate(c.validation_fraction > 0.0)?;
    Ok(c)
}

/// `224`, `32x32` or `240x320`.
/// `base` with `overrides` (training settings by their names in `[train]`, e.g. `{ epochs = 2 }`)
/// put over it; `place` names the table in the error.
pub fn with_overrides(base: &TrainConfig, overrides: &toml::Table, place: &str) -> Result<TrainConfig> {
    if overrides.is_empty() {
        return Ok(base.clone());
    }
    let mut table = toml::Table::try_from(base).context("[train]")?;
    table.extend(overrides.clone());
    table.try_into().with_context(|| format!("{place}: not a valid training setting"))
}

pub fn parse_size(text: &str) -> Result<[usize; 2], String> {
    let number = |s: &str| s.trim().parse::<usize>().ok().filter(|&n| n > 0);
    let size = match text.split_once(['x', 'X']) {
        Some((h, w)) => number(h).zip(number(w)).map(|(h, w)| [h, w]),
        None => number(text).map(|n| [n, n]),
    };
    size.ok_or_else(|| {
        format!("`{text}` is not an image size: write HEIGHTxWIDTH, e.g. 32x32, or one number for a square")
    })
}

/// The split to test on: `test`, else `val`, else none.
pub fn test_split(dataset: &str, dirs: &DataDir) -> Result<Option<Arc<dyn Dataset>>> {
    let candidates = match info(dataset) {
        Some(info) => [Split::Test, Split::Val].into_iter().filter(|s| info.splits.contains(s)).collect(),
        None => vec![Split::Test, Split::Val],
    };
    for split in candidates {
        match open_split(dataset, split, dirs) {
            Ok(set) => return Ok(Some(set)),
            Err(e) if info(dataset).is_some() => return Err(e),
            Err(_) => continue,
        }
    }
    eprintln!("note: {dataset} has no test or val split; reporting validation accuracy only");
    Ok(None)
}

fn render(r: &Report) -> String {
    let mut s = String::new();
    let report = &r.report;
    let _ = writeln!(s, "{} / {} / {} / {}", r.dataset, r.model, r.loss, r.backend);
    let status = match &report.status {
        Status::Completed => "completed".to_owned(),
        Status::Diverged { epoch, step, loss } => format!("diverged at epoch {}, step {step} (loss {loss})", epoch + 1),
        Status::EarlyStopped { epoch } => format!("stopped early after epoch {}", epoch + 1),
        Status::OutOfBudget { reason } => format!("stopped by the budget ({reason})"),
        Status::Untrainable { reason } => format!("not trained: {reason}"),
    };
    let _ = writeln!(s, "status:     {status}, {} steps in {:.1}s", report.steps, report.seconds);
    if let Some((epoch, m)) = &report.best_validation {
        let kind = if m.mean_iou.is_some() { "pixel accuracy" } else { "top-1" };
        let _ = writeln!(s, "validation: {:.2}% {kind} (best, epoch {})", 100.0 * m.accuracy, epoch + 1);
    }
    if let Some(m) = &report.test {
        let top5 = m.top5.map(|t| format!(", {:.2}% top-5", 100.0 * t)).unwrap_or_default();
        let iou = m.mean_iou.map(|t| format!(", mIoU {:.2}%", 100.0 * t)).unwrap_or_default();
        // Segmentation's accuracy is per pixel.
        let kind = if m.mean_iou.is_some() { "pixel accuracy" } else { "top-1" };
        let _ = writeln!(s, "test:       {:.2}% {kind}{top5}{iou} on {} samples", 100.0 * m.accuracy, m.samples);
    }
    let _ = writeln!(s, "fitness:    {:.4}", r.fitness);
    if let Some(path) = &r.saved {
        let _ = writeln!(s, "weights:    {}", path.display());
    }
    if let Some(p) = &r.pretrained {
        let _ = writeln!(s, "pretrained: {} ({} tensors loaded)", p.file.display(), p.report.loaded);
    }
    if let Some(path) = &r.predictions {
        let _ = writeln!(s, "predicted:  {}", path.display());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::Recipe;

    #[test]
    fn the_shipped_recipes_read_and_validate() {
        for (name, text) in [
            ("voc-deeplabv3", include_str!("../../../../configs/voc-deeplabv3.toml")),
            ("coco-stuff-deeplabv3", include_str!("../../../../configs/coco-stuff-deeplabv3.toml")),
            ("imagenet-resnet50", include_str!("../../../../configs/imagenet-resnet50.toml")),
            ("imagenet-inception-v3-paper", include_str!("../../../../configs/imagenet-inception-v3-paper.toml")),
        ] {
            let recipe: Recipe = toml::from_str(text).unwrap_or_else(|e| panic!("configs/{name}.toml: {e}"));
            let train = &recipe.train;
            train.validate(train.validation_fraction > 0.0).unwrap_or_else(|e| panic!("configs/{name}.toml: {e}"));
            let (model, options) = lossgp_core::model::ModelOptions::parse(recipe.model.as_deref().unwrap()).unwrap();
            lossgp_core::model::check_options(lossgp_core::model::find_model(&model).unwrap(), &options).unwrap();
            assert!(lossgp_datasets::info(recipe.dataset.as_deref().unwrap()).is_some(), "{name}: a catalogue dataset");
        }
    }
}
