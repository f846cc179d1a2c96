//! The search's configuration file (TOML): the task candidates are scored on, the training
//! run that scores them, the engine's settings, and how this machine runs it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lossgp_core::Loss;
use lossgp_core::backend::open_backend;
use lossgp_core::model::{ModelOptions, ModelSpec, check_options, find_model};
use lossgp_core::search::{Fitness, GradientMatch, SearchConfig, SlurmSettings, TrainingFitness};
use lossgp_core::train::TrainConfig;
use lossgp_datasets::DataDir;
use serde::{Deserialize, Serialize};

use crate::commands::dataset::{TrainingRequest, TrainingSet, open_training};

/// A documented configuration: `lossgp search --help` shows it, `lossgp search --example`
/// prints it, and every setting left out takes the default written here.
pub const EXAMPLE: &str = include_str!("example.toml");

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchFile {
    /// What candidates are scored on.
    pub task: TaskConfig,
    /// The training run that scores a candidate.
    pub train: TrainConfig,
    /// The engine.
    pub search: SearchConfig,
    /// How this machine runs it.
    pub run: RunConfig,
}

/// What candidates are scored on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// `training` or `gradient-match`.
    pub fitness: FitnessKind,
    /// The loss `gradient-match` compares with.
    pub target: String,
    /// The dataset.
    pub dataset: String,
    /// The model and its options.
    pub model: String,
    /// The backend.
    pub backend: String,
    /// A stratified subset of the training split.
    pub train_samples: Option<usize>,
    /// Resize images to `[height, width]`.
    pub image_size: Option<[usize; 2]>,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            fitness: FitnessKind::Training,
            target: "ce".into(),
            dataset: "fashion-mnist".into(),
            model: "small-cnn".into(),
            backend: "flex".into(),
            train_samples: None,
            image_size: None,
        }
    }
}

/// How candidates are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FitnessKind {
    /// Train a network with the candidate.
    Training,
    /// Compare the candidate's gradients with the target's.
    GradientMatch,
}

/// Where evaluations run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EvaluatorKind {
    /// Threads of this process.
    Threads,
    /// `lossgp worker` processes fed through files in the run directory.
    Processes,
    /// Slurm job arrays whose tasks run `lossgp worker` on the cluster's nodes, through the run
    /// directory on a shared filesystem (`[run.slurm]`).
    Slurm,
}

/// How this machine runs the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Where evaluations run.
    pub evaluator: EvaluatorKind,
    /// Evaluations at once (threads or worker processes).
    pub workers: usize,
    /// Backend threads of each worker process (`RAYON_NUM_THREADS` for burn's CPU backends and
    /// candle, `OMP_NUM_THREADS` for libtorch); 0 leaves the backend's default (all cores).
    pub threads_per_worker: usize,
    /// Reference losses scored on the same task.
    pub baselines: Vec<String>,
    /// Losses shown at the end.
    pub top: usize,
    /// A fitness cache shared with other runs on the same task.
    pub cache: Option<std::path::PathBuf>,
    /// `[run.slurm]`: job arrays, for `evaluator = "slurm"`.
    pub slurm: SlurmSettings,
    /// Backend plugins (shared libraries) to load before the backend is opened; relative paths
    /// are taken from the configuration file's folder.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<std::path::PathBuf>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            evaluator: EvaluatorKind::Threads,
            workers: 1,
            threads_per_worker: 1,
            baselines: vec!["ce".into(), "ngl".into()],
            top: 5,
            cache: None,
            slurm: SlurmSettings::default(),
            plugins: Vec::new(),
        }
    }
}

impl SearchFile {
    /// Reads a configuration file.
    pub fn read(path: &Path) -> Result<SearchFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut file: SearchFile = toml::from_str(&text).with_context(|| {
            format!("{} is not a valid search configuration (see `lossgp search --example`)", path.display())
        })?;
        crate::plugins::resolve(&mut file.run.plugins, path);
        Ok(file)
    }

    /// The file as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).context("writing the configuration as TOML")
    }

    /// Checks every setting that can be checked without data.
    pub fn validate(&self) -> Result<()> {
        self.search.validate().map_err(anyhow::Error::msg).context("[search]")?;
        self.train.validate(self.train.validation_fraction > 0.0).context("[train]")?;
        if self.run.workers == 0 {
            bail!("[run] workers must be at least 1");
        }
        self.run.slurm.validate().map_err(anyhow::Error::msg)?;
        if self.train.max_seconds.is_some() {
            bail!(
                "[train] max_seconds would make a candidate's fitness depend on the machine's speed; bound the run with max_steps or epochs"
            );
        }
        for name in &self.run.baselines {
            Loss::resolve(name).with_context(|| format!("[run] baseline `{name}`"))?;
        }
        if self.task.fitness == FitnessKind::Training {
            let (model, options) = ModelOptions::parse(&self.task.model)?;
            check_options(find_model(&model)?, &options).context("[task] model")?;
            if self.train.validation_fraction <= 0.0 {
                bail!("[train] validation_fraction must be above 0: the fitness is the validation accuracy");
            }
        } else {
            Loss::resolve(&self.task.target).context("[task] target")?;
        }
        Ok(())
    }

    /// One line about the task.
    pub fn describe(&self) -> String {
        let t = &self.task;
        match t.fitness {
            FitnessKind::GradientMatch => format!("gradient match with {}", t.target),
            FitnessKind::Training => {
                let samples = t.train_samples.map(|n| format!(" ({n} samples)")).unwrap_or_default();
                format!(
                    "{} trained on {}{samples}, {} epoch(s), on {}",
                    t.model, t.dataset, self.train.epochs, t.backend
                )
            }
        }
    }

    /// The baselines, parsed.
    pub fn baselines(&self) -> Result<Vec<(String, Loss)>> {
        self.run.baselines.iter().map(|name| Ok((name.clone(), Loss::resolve(name)?))).collect()
    }

    /// The fitness the task describes: opens the dataset and the backend.
    pub fn fitness(&self, data_dir: Option<&Path>) -> Result<Arc<dyn Fitness>> {
        let task = &self.task;
        if task.fitness == FitnessKind::GradientMatch {
            return Ok(Arc::new(GradientMatch::new(Loss::resolve(&task.target)?)));
        }
        let dirs = DataDir::resolve(data_dir)?;
        let (model, options) = ModelOptions::parse(&task.model)?;
        let entry = find_model(&model)?;
        let request = TrainingRequest {
            dataset: &task.dataset,
            task: entry.task,
            model: &model,
            image_size: task.image_size,
            samples: task.train_samples,
            seed: self.train.seed,
        };
        let TrainingSet { data: train, input } = open_training(&request, &dirs)?;
        let spec = ModelSpec { options, ..ModelSpec::new(input, train.classes().len(), self.train.seed) };
        crate::plugins::load(&self.run.plugins)?;
        let backend = open_backend(&task.backend)?;
        // Everything that changes a candidate's fitness, so that the cache never mixes tasks
        // (the image size only where set, so that earlier caches stay valid).
        let resized = task.image_size.map(|[h, w]| format!(" at {h}x{w}")).unwrap_or_default();
        let fingerprint = format!(
            "training: {}{resized} ({} samples) / {} / {} / {}",
            task.dataset,
            train.len(),
            task.model,
            task.backend,
            serde_json::to_string(&self.train)?
        );
        let fitness = TrainingFitness::new(backend, (model, spec), train, None, self.train.clone(), fingerprint)
            .map_err(anyhow::Error::msg)?;
        Ok(Arc::new(fitness))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_defaults_and_round_trips() {
        let example: SearchFile = toml::from_str(EXAMPLE).expect("the example parses");
        assert_eq!(example, SearchFile::default(), "the example documents the defaults");
        let again: SearchFile = toml::from_str(&example.to_toml().unwrap()).unwrap();
        assert_eq!(again, example);
        example.validate().unwrap();
    }

    /// Every key of the example, at every depth (inline tables included), as a path.
    fn key_paths(table: &toml::Table, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for (key, value) in table {
            let path: Vec<String> = prefix.iter().cloned().chain([key.clone()]).collect();
            if let toml::Value::Table(inner) = value {
                key_paths(inner, &path, out);
            }
            out.push(path);
        }
    }

    #[test]
    fn every_key_of_the_example_can_be_left_out() {
        let example: toml::Table = toml::from_str(EXAMPLE).unwrap();
        let mut paths = Vec::new();
        key_paths(&example, &[], &mut paths);
        assert!(paths.len() > 60, "the walk found only {} keys", paths.len());
        for path in paths {
            let mut partial = example.clone();
            let (last, parents) = path.split_last().unwrap();
            let mut table = &mut partial;
            for key in parents {
                table = table.get_mut(key).and_then(toml::Value::as_table_mut).unwrap();
            }
            table.remove(last);
            let text = toml::to_string(&partial).unwrap();
            let file: SearchFile = toml::from_str(&text)
                .unwrap_or_else(|e| panic!("without `{}` the example is refused: {e}", path.join(".")));
            assert_eq!(file, SearchFile::default(), "without `{}` the defaults change", path.join("."));
        }
    }

    #[test]
    fn settings_chosen_by_kind_keep_the_defaults_they_do_not_name() {
        let file: SearchFile = toml::from_str(
            "[search]\nselection = { size = 3 }\n[search.primitives]\noperators = [\"exp\", \"add\"]\n\
             [train]\noptimizer = { weight_decay = 0.01 }\nschedule = { kind = \"step\" }\n",
        )
        .unwrap();
        let search = SearchConfig::default();
        assert_eq!(file.search.selection, lossgp_core::search::Selection::DoubleTournament { size: 3, parsimony: 1.4 });
        assert_eq!(file.search.primitives.variables, search.primitives.variables);
        assert_eq!(file.search.primitives.ephemeral, search.primitives.ephemeral);
        assert_eq!(file.search.primitives.operators.len(), 2);
        assert_eq!(file.train.optimizer, lossgp_core::train::OptimizerConfig::default().with_weight_decay(0.01));
        assert_eq!(file.train.schedule, lossgp_core::train::Schedule::Step { every: 30, gamma: 0.1 });
        let off: SearchFile = toml::from_str("[search.primitives]\nephemeral = false\n").unwrap();
        assert_eq!(off.search.primitives.ephemeral, None);
        let again: SearchFile = toml::from_str(&off.to_toml().unwrap()).unwrap();
        assert_eq!(again, off, "no ephemeral constants stays so through the run directory's copy");
        let err = toml::from_str::<SearchFile>("[search.primitives]\nephemeral = { min = 1, maximum = 2 }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("min, max, decimals"), "{err}");
    }

    #[test]
    fn mistakes_are_named() {
        let err = toml::from_str::<SearchFile>("[search]\npopulaton = 3\n").unwrap_err().to_string();
        assert!(err.contains("populaton"), "{err}");
        let mut bad = SearchFile::default();
        bad.search.crossover = 2.0;
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("crossover"));
        bad = SearchFile::default();
        bad.task.model = "resnet20:depth=3".into();
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("depth"));
    }
}
