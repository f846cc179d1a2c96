//! The transfer configuration file (TOML): the grid (losses, models, datasets, seeds), the
//! training run of each cell, per-dataset settings, and how this machine runs it.
//!
//! A run directory keeps the file *frozen*: search runs named in `from` replaced by their
//! losses' expressions, and each dataset's training settings written out in full with the
//! command line's options applied, so that `--resume` and every worker read exactly what ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lossgp_core::Loss;
use lossgp_core::backend::open_backend;
use lossgp_core::data::{Dataset, holdout};
use lossgp_core::loss::builtin;
use lossgp_core::model::{ModelOptions, ModelSpec, check_options, find_model};
use lossgp_core::search::{LABEL_SMOOTHING_GRID, TUNED_LABEL_SMOOTHING};
use lossgp_core::train::TrainConfig;
use lossgp_core::transfer::{Column, ColumnTraining, Contender, Grid, GridFitness};
use lossgp_datasets::DataDir;
use serde::{Deserialize, Serialize};

use crate::commands::dataset::{TrainingRequest, TrainingSet, open_training};
use crate::commands::train::{TrainOptions, test_split, with_overrides};
use crate::run_table::{OwnKeys, RunTable};

/// A documented configuration: `lossgp transfer --example` prints it, and every setting left
/// out takes the default written there.
pub const EXAMPLE: &str = include_str!("example.toml");

/// The reference every loss is compared with.
pub const REFERENCE: &str = "ce";

/// The baselines of a grid unless its file names others, cross entropy aside: label smoothing
/// tuned (on the searches the grid takes losses from, or each ε of the grid), Poly-1 and NGL.
pub const DEFAULT_BASELINES: [&str; 3] = [TUNED_LABEL_SMOOTHING, "poly1", "ngl"];

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferFile {
    /// Losses × models × datasets × seeds.
    pub grid: GridConfig,
    /// The training run of each cell.
    pub train: TrainConfig,
    /// Settings for one dataset, by its name in `grid.datasets`.
    pub dataset: BTreeMap<String, DatasetConfig>,
    /// How this machine runs the grid.
    pub run: RunConfig,
}

/// The grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GridConfig {
    /// Losses besides cross entropy.
    pub losses: Vec<LossSpec>,
    /// Search run directories whose best losses join.
    pub from: Vec<PathBuf>,
    /// Baselines besides cross entropy: each loss is also compared with the strongest of them
    /// per column. `ls-tuned` is label smoothing at the ε a search in `from` chose, or each ε
    /// of `label_smoothing` without one.
    pub baselines: Vec<LossSpec>,
    /// The ε grid of `ls-tuned` where no search in `from` chose one.
    pub label_smoothing: Vec<f64>,
    /// How many of each search's best.
    pub top: usize,
    /// Models with their options.
    pub models: Vec<String>,
    /// Datasets.
    pub datasets: Vec<String>,
    /// Seeds per (loss, model, dataset).
    pub seeds: usize,
    /// The backend.
    pub backend: String,
    /// A stratified subset of each training split.
    pub train_samples: Option<usize>,
    /// A stratified subset of each test split.
    pub test_samples: Option<usize>,
    /// Resize images to `[height, width]`.
    pub image_size: Option<[usize; 2]>,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            losses: vec![LossSpec::Plain("ngl".into())],
            from: Vec::new(),
            baselines: DEFAULT_BASELINES.iter().map(|b| LossSpec::Plain(b.to_string())).collect(),
            label_smoothing: LABEL_SMOOTHING_GRID.to_vec(),
            top: 5,
            models: vec!["small-cnn".into()],
            datasets: vec!["fashion-mnist".into()],
            seeds: 5,
            backend: "flex".into(),
            train_samples: None,
            test_samples: None,
            image_size: None,
        }
    }
}

/// A loss of the grid: a built-in's name or an expression, or a named expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a loss: a built-in name or an expression, or a table { name = \"...\", loss = \"...\" }"
)]
pub enum LossSpec {
    /// `"ngl"` or `"-sum(y * log(p))"`.
    Plain(String),
    /// `{ name = "quick#1", loss = "..." }`.
    Named {
        /// Its name in reports.
        name: String,
        /// A built-in's name or an expression.
        loss: String,
    },
}

impl LossSpec {
    fn text(&self) -> &str {
        match self {
            LossSpec::Plain(text) | LossSpec::Named { loss: text, .. } => text,
        }
    }

    /// The contender: its name, loss, and the built-in's own weight decay.
    pub fn contender(&self) -> Result<Contender> {
        let text = self.text();
        let reference = crate::commands::search::reference::Reference::parse(text)
            .with_context(|| format!("[grid] losses: `{text}`"))?;
        let loss = match &reference {
            Some(reference) => reference.loss(),
            None => Loss::resolve(text).map_err(anyhow::Error::from),
        }
        .with_context(|| format!("[grid] losses: `{text}`"))?;
        let name = match (self, &reference) {
            (LossSpec::Named { name, .. }, _) => name.clone(),
            (LossSpec::Plain(_), Some(reference)) => reference.name(),
            (LossSpec::Plain(text), None) => {
                builtin(text).map_or_else(|| text.trim().to_owned(), |b| b.name.to_owned())
            }
        };
        Ok(Contender { name, loss, weight_decay: builtin(text).and_then(|b| b.weight_decay), baseline: false })
    }
}

/// Settings for one dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetConfig {
    /// Overrides `[grid] train_samples`.
    pub train_samples: Option<usize>,
    /// Overrides `[grid] test_samples`.
    pub test_samples: Option<usize>,
    /// Overrides `[grid] image_size`.
    pub image_size: Option<[usize; 2]>,
    /// Overrides `[grid] models`: the models of this dataset's columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Training settings overriding `[train]`'s, by the same names.
    pub train: toml::Table,
}

/// The dataset a grid's dataset entry reads: `NAME@VARIANT` is NAME's data in columns of its
/// own, with its own `[dataset."NAME@VARIANT"]` settings (another optimiser, say).
pub fn data_source(dataset: &str) -> &str {
    dataset.split_once('@').map_or(dataset, |(name, _)| name)
}

/// `[run]`: how this machine runs the grid (the settings shared with `search` and
/// `confirm`), and the grid's own `retries`.
pub type RunConfig = RunTable<GridRun>;

/// The grid's own keys of `[run]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GridRun {
    /// Attempts after a failed one.
    pub retries: u32,
}

impl Default for GridRun {
    fn default() -> Self {
        GridRun { retries: 2 }
    }
}

impl OwnKeys for GridRun {
    const KEYS: &'static [&'static str] = &["retries"];
}

/// One dataset's data settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataSettings {
    /// The training subset.
    pub train_samples: Option<usize>,
    /// The test subset.
    pub test_samples: Option<usize>,
    /// The image size.
    pub image_size: Option<[usize; 2]>,
}

impl TransferFile {
    /// Reads a configuration file.
    pub fn read(path: &Path) -> Result<TransferFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<TransferFile> {
        let mut file: TransferFile = toml::from_str(text).with_context(|| {
            format!("{} is not a valid transfer configuration (see `lossgp transfer --example`)", path.display())
        })?;
        crate::plugins::resolve(&mut file.run.plugins, path);
        Ok(file)
    }

    /// Reads the frozen file of a run directory. One written before grids had baselines has
    /// none: it resumes the grid it started, not one with the baselines added since.
    pub fn read_frozen(path: &Path) -> Result<TransferFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut file = Self::parse(&text, path)?;
        let table: toml::Table = toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        if !table.get("grid").and_then(toml::Value::as_table).is_some_and(|g| g.contains_key("baselines")) {
            file.grid.baselines.clear();
        }
        Ok(file)
    }

    /// The file as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).context("writing the configuration as TOML")
    }

    /// The models of a dataset's columns: its `[dataset.NAME]` table's, else `[grid] models`.
    pub fn models_of(&self, dataset: &str) -> Vec<String> {
        self.dataset.get(dataset).and_then(|d| d.models.clone()).unwrap_or_else(|| self.grid.models.clone())
    }

    /// A dataset's data settings and training settings: `[grid]` and `[train]`, overridden by
    /// its `[dataset.NAME]` table.
    pub fn settings(&self, dataset: &str) -> Result<(DataSettings, TrainConfig)> {
        let own = self.dataset.get(dataset).cloned().unwrap_or_default();
        let data = DataSettings {
            train_samples: own.train_samples.or(self.grid.train_samples),
            test_samples: own.test_samples.or(self.grid.test_samples),
            image_size: own.image_size.or(self.grid.image_size),
        };
        let train = with_overrides(&self.train, &own.train, &format!("[dataset.\"{dataset}\"] train"))?;
        Ok((data, train))
    }

    /// Replaces `from` by the losses it names and writes every dataset's settings out in full,
    /// with `options` (the command line's) applied over `[train]` and over each of them, and
    /// `train_samples`, `test_samples` and `image_size` (the command line's) over every dataset's.
    pub fn freeze(&mut self, options: &TrainOptions, data: DataSettings) -> Result<()> {
        let mut tuned = Vec::new();
        for run in std::mem::take(&mut self.grid.from) {
            let (found, epsilon) = best_of(&run, self.grid.top)?;
            self.grid.losses.extend(found);
            tuned.extend(epsilon);
        }
        // `ls-tuned` becomes label smoothing at the ε the searches chose: one entry per ε.
        tuned.sort_by(f64::total_cmp);
        tuned.dedup();
        let mut baselines = Vec::new();
        for spec in std::mem::take(&mut self.grid.baselines) {
            match spec {
                LossSpec::Plain(text) if text.trim() == TUNED_LABEL_SMOOTHING && !tuned.is_empty() => {
                    baselines.extend(tuned.iter().map(|e| LossSpec::Named {
                        name: if tuned.len() == 1 { TUNED_LABEL_SMOOTHING.into() } else { format!("ls-ce({e})") },
                        loss: format!("ls-ce({e})"),
                    }))
                }
                other => baselines.push(other),
            }
        }
        self.grid.baselines = baselines;
        for dataset in self.grid.datasets.clone() {
            let (own, mut train) = self.settings(&dataset)?;
            options.apply(&mut train);
            let frozen = DatasetConfig {
                models: self.dataset.get(&dataset).and_then(|d| d.models.clone()),
                train_samples: data.train_samples.or(own.train_samples),
                test_samples: data.test_samples.or(own.test_samples),
                image_size: data.image_size.or(own.image_size),
                train: table(&train)?,
            };
            self.dataset.insert(dataset, frozen);
        }
        options.apply(&mut self.train);
        Ok(())
    }

    /// Checks every setting that can be checked without data.
    pub fn validate(&self) -> Result<()> {
        let grid = &self.grid;
        if grid.seeds == 0 {
            bail!("[grid] seeds must be at least 1 (5 as in the paper; 2 or more for any test of a difference)");
        }
        // An entry given twice would be trained twice (a column) or kept once (a loss): refused.
        let twice = |list: &str, names: Vec<String>| -> Result<()> {
            match names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
                Some((_, name)) => bail!("[grid] {list} names `{name}` twice: give each once"),
                None => Ok(()),
            }
        };
        twice("models", grid.models.iter().map(|m| m.trim().to_owned()).collect())?;
        twice("datasets", grid.datasets.iter().map(|d| d.trim().to_owned()).collect())?;
        let spec = |l: &LossSpec| match l {
            LossSpec::Named { name, .. } => name.clone(),
            LossSpec::Plain(text) => text.trim().to_owned(),
        };
        twice("losses", grid.losses.iter().map(spec).collect())?;
        twice("baselines", grid.baselines.iter().map(spec).collect())?;
        twice("from", grid.from.iter().map(|p| p.display().to_string()).collect())?;
        use lossgp_core::limits::{MAX_SEEDS, at_most};
        at_most("[grid] seeds", grid.seeds, MAX_SEEDS, "each seed trains every cell again; the paper used 5")
            .map_err(anyhow::Error::msg)?;
        if grid.models.is_empty() || grid.datasets.is_empty() {
            bail!(
                "[grid] needs at least one model and one dataset (e.g. models = [\"small-cnn\"], datasets = [\"mnist\"])"
            );
        }
        self.run.validate()?;
        if !grid.from.is_empty() && grid.top == 0 {
            bail!("[grid] top must be at least 1 to take losses from {}", grid.from[0].display());
        }
        if grid.from.is_empty() {
            self.contenders()?;
        } else {
            // With search runs to come, the grid is only known once they are read (freeze); its
            // own losses and baselines must read already.
            for spec in self.grid.losses.iter().chain(&self.baselines()?) {
                spec.contender()?;
            }
        }
        let models = grid.models.iter().chain(self.dataset.values().filter_map(|d| d.models.as_ref()).flatten());
        for model in models {
            let (name, options) = ModelOptions::parse(model).with_context(|| format!("[grid] models: `{model}`"))?;
            check_options(find_model(&name)?, &options).with_context(|| format!("[grid] models: `{model}`"))?;
        }
        if let Some((name, _)) = self.dataset.iter().find(|(_, d)| d.models.as_ref().is_some_and(Vec::is_empty)) {
            bail!("[dataset.\"{name}\"] models is empty: name at least one model, or leave it out for [grid] models");
        }
        for name in self.dataset.keys() {
            if !grid.datasets.contains(name) {
                bail!(
                    "[dataset.\"{name}\"] names a dataset the grid does not train on: add it to [grid] datasets ({}) \
                     or remove the table",
                    grid.datasets.join(", ")
                );
            }
        }
        for dataset in &grid.datasets {
            let (data, train) = self.settings(dataset)?;
            let place = format!("the training settings of {dataset}");
            train.validate(train.validation_fraction > 0.0).with_context(|| place.clone())?;
            if train.max_seconds.is_some() {
                bail!(
                    "{place}: max_seconds would make results depend on the machine's speed; bound runs with max_steps or epochs"
                );
            }
            if data.train_samples == Some(0) || data.test_samples == Some(0) {
                bail!("{dataset}: train_samples and test_samples must be at least 1 where given");
            }
        }
        Ok(())
    }

    /// The contenders: cross entropy first, then each loss once (a loss training exactly as
    /// an earlier one, with the same weight decay, is left out with a note). Two different
    /// losses under one name, or nothing to compare with cross entropy, are refused. The notes
    /// say what was left out.
    pub fn contenders(&self) -> Result<(Vec<Contender>, Vec<String>)> {
        let mut contenders = vec![Contender { baseline: true, ..LossSpec::Plain(REFERENCE.into()).contender()? }];
        let mut notes = Vec::new();
        let losses = self.grid.losses.iter().map(|spec| (spec.clone(), false));
        let baselines = self.baselines()?.into_iter().map(|spec| (spec, true));
        for (spec, baseline) in losses.chain(baselines) {
            let contender = Contender { baseline, ..spec.contender()? };
            let twin = contenders.iter().position(|c| {
                c.loss.training_key() == contender.loss.training_key() && c.weight_decay == contender.weight_decay
            });
            match twin {
                Some(twin) => {
                    let twin = &mut contenders[twin];
                    twin.baseline |= baseline;
                    if twin.name != contender.name {
                        notes.push(format!(
                            "note: {} trains exactly as {}: it is compared once, as {}",
                            contender.name, twin.name, twin.name
                        ));
                    }
                }
                None if contenders.iter().any(|c| c.name == contender.name) => bail!(
                    "two different losses are named `{}` in the grid: name one with {{ name = \"...\", loss = \"...\" }} \
                     in [grid] losses",
                    contender.name
                ),
                None => contenders.push(contender),
            }
        }
        if contenders.len() < 2 {
            bail!(
                "the grid has no loss to compare with cross entropy: add some with --losses (e.g. ngl,focal), --from \
                 a search run, or [grid] losses"
            );
        }
        Ok((contenders, notes))
    }

    /// The baselines, with an `ls-tuned` not yet resolved by a search (see
    /// [`freeze`](Self::freeze)) as each ε of the grid.
    fn baselines(&self) -> Result<Vec<LossSpec>> {
        let mut out = Vec::new();
        for spec in &self.grid.baselines {
            match spec {
                LossSpec::Plain(text) if text.trim() == TUNED_LABEL_SMOOTHING => {
                    if self.grid.label_smoothing.is_empty()
                        || self.grid.label_smoothing.iter().any(|e| !(0.0..=1.0).contains(e))
                    {
                        bail!(
                            "[grid] baselines: `{TUNED_LABEL_SMOOTHING}` needs label_smoothing, a grid of ε in [0, 1] \
                             (e.g. {LABEL_SMOOTHING_GRID:?}), or a search in `from` that tuned one"
                        );
                    }
                    out.extend(self.grid.label_smoothing.iter().map(|e| LossSpec::Plain(format!("ls-ce({e})"))));
                }
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }

    /// The grid and the fitness that trains its cells: opens every dataset and the backend.
    pub fn fitness(&self, data_dir: Option<&Path>) -> Result<GridFitness> {
        let dirs = DataDir::resolve(data_dir)?;
        crate::plugins::load(&self.run.plugins)?;
        let backend = open_backend(&self.grid.backend)?;
        let mut columns = Vec::new();
        let mut trainings = Vec::new();
        for dataset in &self.grid.datasets {
            let (data, train_config) = self.settings(dataset)?;
            // Opened after the training split, whose errors name a mistyped dataset.
            let mut test: Option<(Arc<dyn Dataset>, String)> = None;
            let source = data_source(dataset);
            for model in &self.models_of(dataset) {
                let (name, options) = ModelOptions::parse(model)?;
                let entry = find_model(&name)?;
                let request = TrainingRequest {
                    dataset: source,
                    task: entry.task,
                    model: &name,
                    image_size: data.image_size,
                    samples: data.train_samples,
                    seed: 0,
                };
                let TrainingSet { data: train, input } =
                    open_training(&request, &dirs).with_context(|| format!("{model} on {dataset}"))?;
                if test.is_none() {
                    test = Some(open_test(source, data.test_samples, &dirs)?);
                }
                let (test, test_note) = test.as_ref().expect("opened");
                let resized = data.image_size.map(|[h, w]| format!(" at {h}x{w}")).unwrap_or_default();
                let fingerprint = format!(
                    "transfer: {dataset}{resized} ({} training samples, {test_note}) / {model} / {} / {}",
                    train.len(),
                    self.grid.backend,
                    serde_json::to_string(&train_config)?
                );
                columns.push(Column { model: model.clone(), dataset: dataset.clone(), fingerprint });
                let spec = ModelSpec { options, ..ModelSpec::new(input, train.classes().len(), train_config.seed) };
                trainings.push(ColumnTraining {
                    backend: backend.clone(),
                    model: name,
                    spec,
                    train,
                    test: Arc::clone(test),
                    config: train_config.clone(),
                });
            }
        }
        let (contenders, notes) = self.contenders()?;
        notes.iter().for_each(|note| eprintln!("{note}"));
        let grid = Grid { contenders, columns, seeds: self.grid.seeds };
        GridFitness::new(grid, trainings).map_err(anyhow::Error::msg)
    }
}

/// Training settings as a TOML table, through TOML text: the numbers as written (`0.001`, not
/// the `0.0010000000474974513` a direct conversion gives an `f32`).
fn table(train: &TrainConfig) -> Result<toml::Table> {
    let text = toml::to_string(train).context("writing training settings as TOML")?;
    toml::from_str(&text).context("reading training settings back")
}

/// The test split of `dataset`, or a stratified subset of it (always the same one: seed 0),
/// and words saying which.
fn open_test(dataset: &str, samples: Option<usize>, dirs: &DataDir) -> Result<(Arc<dyn Dataset>, String)> {
    let Some(test) = test_split(dataset, dirs)? else {
        bail!(
            "{dataset} has no test or val split, and a transfer cell is scored on one: give an image folder with test/ \
             (or val/) beside train/, or a catalogue dataset that has one (`lossgp data list`)"
        );
    };
    let full = test.len();
    match samples.filter(|&n| n < full) {
        Some(n) => {
            let (_, subset) = holdout(test, n as f64 / full as f64, 0)?;
            let note = format!("{} of {full} test samples", subset.len());
            Ok((Arc::new(subset), note))
        }
        None => Ok((test, format!("{full} test samples"))),
    }
}

/// The `top` best losses of the search run in `dir`, named `RUN#k` after the directory.
fn best_of(dir: &Path, top: usize) -> Result<(Vec<LossSpec>, Option<f64>)> {
    let (reduction, state) = crate::commands::search::reference::read_run(dir).context("[grid] from")?;
    let run = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let found = state
        .hall_of_fame
        .iter()
        .take(top)
        .enumerate()
        .map(|(i, ind)| LossSpec::Named {
            name: format!("{run}#{}", i + 1),
            loss: Loss::new(ind.expr.clone(), reduction).to_string(),
        })
        .collect();
    let tuned = state.baselines.iter().find(|b| b.name == TUNED_LABEL_SMOOTHING).and_then(|b| b.tuning.as_ref());
    Ok((found, tuned.map(|t| t.chosen)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_defaults_and_valid() {
        let example: TransferFile = toml::from_str(EXAMPLE).expect("the example parses");
        assert_eq!(example, TransferFile::default(), "the example documents the defaults");
        let again: TransferFile = toml::from_str(&example.to_toml().unwrap()).unwrap();
        assert_eq!(again, example);
        example.validate().unwrap();
    }

    #[test]
    fn a_dataset_table_overrides_the_grid_and_train_and_freezing_writes_it_out() {
        let mut file: TransferFile = toml::from_str(
            "[grid]\nlosses = [\"ngl\", { name = \"mine\", loss = \"-sum(y * log(p))\" }, \"ce-l2\", \"cross-entropy\"]\n\
             datasets = [\"digits\", \"mnist\"]\ntrain_samples = 500\n\
             [train]\nepochs = 3\n[dataset.digits]\ntrain_samples = 100\ntrain = { epochs = 20, batch_size = 16 }\n",
        )
        .unwrap();
        file.validate().unwrap();
        let (data, train) = file.settings("digits").unwrap();
        assert_eq!((data.train_samples, train.epochs, train.batch_size), (Some(100), 20, 16));
        let (data, train) = file.settings("mnist").unwrap();
        assert_eq!((data.train_samples, train.epochs, train.batch_size), (Some(500), 3, 128));

        let options = TrainOptions { batch_size: Some(64), ..TrainOptions::default() };
        let none = DataSettings { train_samples: None, test_samples: None, image_size: None };
        file.freeze(&options, none).unwrap();
        let frozen: TransferFile = toml::from_str(&file.to_toml().unwrap()).unwrap();
        assert_eq!(frozen, file, "a frozen file reads back the same");
        let (_, train) = frozen.settings("digits").unwrap();
        assert_eq!((train.epochs, train.batch_size), (20, 64), "the command line wins over the dataset's table");
        assert_eq!(frozen.settings("mnist").unwrap().1.epochs, 3);
        assert_eq!(frozen.train.batch_size, 64, "[train] shows the command line's settings too");
        let text = file.to_toml().unwrap();
        assert!(text.contains("learning_rate = 0.001\n") && !text.contains("0.00100000"), "{text}");

        let contenders = file.contenders().unwrap().0;
        let names: Vec<&str> = contenders.iter().map(|c| c.name.as_str()).collect();
        // Cross entropy once, first; ce-l2 kept for its decay; then the default baselines:
        // label smoothing at each ε of the grid (no search chose one), Poly-1, and NGL, which
        // the losses already have (it is compared once, as a baseline).
        let grid: Vec<String> = LABEL_SMOOTHING_GRID.iter().map(|e| format!("ls-ce({e})")).collect();
        let expected: Vec<&str> = ["ce", "ngl", "mine", "ce-l2"]
            .into_iter()
            .chain(grid.iter().map(String::as_str))
            .chain(["poly1"])
            .collect();
        assert_eq!(names, expected);
        assert_eq!(contenders[3].weight_decay, Some(5e-4));
        let baselines: Vec<bool> = contenders.iter().map(|c| c.baseline).collect();
        assert_eq!(&baselines[..4], [true, true, false, false]);
        assert!(baselines[4..].iter().all(|b| *b));
    }

    #[test]
    fn a_dataset_may_have_models_and_variants_of_its_own() {
        let file: TransferFile = toml::from_str(
            "[grid]\nmodels = [\"small-cnn\", \"resnet20\"]\ndatasets = [\"digits\", \"fashion-mnist\", \"digits@sgd\"]\n\
             [dataset.digits]\nmodels = [\"small-cnn\"]\n\
             [dataset.\"digits@sgd\"]\nmodels = [\"small-cnn\"]\ntrain = { optimizer = { kind = \"sgd\", momentum = 0.9 } }\n",
        )
        .unwrap();
        file.validate().unwrap();
        let columns = |file: &TransferFile| -> Vec<(String, String)> {
            file.grid.datasets.iter().flat_map(|d| file.models_of(d).into_iter().map(move |m| (m, d.clone()))).collect()
        };
        let pairs: Vec<(String, String)> = columns(&file);
        let expected = [
            ("small-cnn", "digits"),
            ("small-cnn", "fashion-mnist"),
            ("resnet20", "fashion-mnist"),
            ("small-cnn", "digits@sgd"),
        ];
        assert_eq!(pairs, expected.map(|(m, d)| (m.to_owned(), d.to_owned())));
        assert_eq!(data_source("digits@sgd"), "digits");
        let (_, sgd) = file.settings("digits@sgd").unwrap();
        assert!(matches!(sgd.optimizer, lossgp_core::train::OptimizerConfig::Sgd { momentum, .. } if momentum == 0.9));
        let mut frozen = file.clone();
        let none = DataSettings { train_samples: None, test_samples: None, image_size: None };
        frozen.freeze(&TrainOptions::default(), none).unwrap();
        assert_eq!(columns(&frozen), pairs, "freezing keeps each dataset's models");
        let bad: TransferFile = toml::from_str("[dataset.\"fashion-mnist\"]\nmodels = []\n").unwrap();
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("models is empty"));
        let bad: TransferFile =
            toml::from_str("[dataset.\"fashion-mnist\"]\nmodels = [\"resnet20:depth=3\"]\n").unwrap();
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("depth"));
    }

    #[test]
    fn the_shipped_configurations_are_valid() {
        for (name, text) in [
            ("transfer-cpu", include_str!("../../../../../configs/transfer-cpu.toml")),
            ("transfer-paper", include_str!("../../../../../configs/transfer-paper.toml")),
            ("discovery-heldout", include_str!("../../../../../configs/discovery-heldout.toml")),
        ] {
            let file: TransferFile = toml::from_str(text).unwrap_or_else(|e| panic!("configs/{name}.toml: {e}"));
            file.validate().unwrap_or_else(|e| panic!("configs/{name}.toml: {e:#}"));
            assert_eq!(file.grid.seeds, 5, "{name}: five runs, as the paper");
        }
        let paper: TransferFile = toml::from_str(include_str!("../../../../../configs/transfer-paper.toml")).unwrap();
        let (_, train) = paper.settings("cifar100").unwrap();
        assert_eq!((train.epochs, train.batch_size, train.validation_fraction), (200, 128, 0.1));
        assert_eq!(paper.grid.models, ["inception-v3:head=paper", "resnet50:head=paper"]);
    }

    #[test]
    fn mistakes_are_named() {
        let check = |text: &str, wanted: &str| {
            let err = match toml::from_str::<TransferFile>(text) {
                Ok(file) => format!("{:#}", file.validate().unwrap_err()),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(wanted), "{text}: {err}");
        };
        check("[grid]\nseeds = 0\n", "seeds must be at least 1");
        check("[grid]\nlosses = [\"ngll\"]\n", "ngl");
        check("[grid]\nmodels = [\"resnet20:depth=3\"]\n", "depth");
        check("[dataset.mnist]\nepochs = 3\n", "epochs");
        check("[dataset.mnist]\ntrain = { epochs = 3 }\n", "does not train on");
        check("[train]\nmax_seconds = 10.0\n", "max_seconds");
        check("[grid]\ndatasets = [\"digits\"]\n[dataset.digits]\ntrain = { epoch = 3 }\n", "epoch");
        check("[grid]\nmodel = [\"small-cnn\"]\n", "model");
        check("[grid]\nlosses = [{ name = \"x\" }]\n", "or a table { name");
        // Sizes beyond their limits are refused by name before anything is allocated.
        check("[grid]\nseeds = 1000000000\n", "`[grid] seeds` = 1000000000 is beyond the limit of 1000");
        check("[run]\nworkers = 100000000\n", "`[run] workers` = 100000000 is beyond the limit");
        // A list entry given twice is refused, not trained twice or kept once without a word.
        check("[grid]\nmodels = [\"small-cnn\", \"small-cnn\"]\n", "[grid] models names `small-cnn` twice");
        check("[grid]\ndatasets = [\"digits\", \" digits\"]\n", "[grid] datasets names `digits` twice");
        check("[grid]\nlosses = [\"ngl\", \"ngl\"]\n", "names `ngl` twice");
        check("[grid]\nbaselines = [\"focal\", \"focal\"]\n", "[grid] baselines names `focal` twice");
        // Too large for TOML's integers: the parser names the line, the key and the value.
        check("[run]\nthreads_per_worker = 18446744073709551615\n", "threads_per_worker");
    }
}
