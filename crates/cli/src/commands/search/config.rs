//! The search's configuration file (TOML): the task candidates are scored on, the training
//! run that scores them, the engine's settings, and how this machine runs it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use lossgp_core::Loss;
use lossgp_core::backend::open_backend;
use lossgp_core::model::{ModelOptions, ModelSpec, check_options, find_model};
use lossgp_core::search::{
    BaselineSpec, Fitness, GradientMatch, LABEL_SMOOTHING_GRID, MultiTask, SearchConfig, TUNED_LABEL_SMOOTHING,
    TrainingFitness,
};
use lossgp_core::train::TrainConfig;
use lossgp_datasets::DataDir;
use lossgp_exec::{CommandFitness, RunSettings};
use serde::{Deserialize, Serialize};

use crate::commands::dataset::{TrainingRequest, TrainingSet, open_training};
use crate::commands::train::with_overrides;
use crate::run_table::{OwnKeys, RunTable};

/// A documented configuration: `lossgp search --help` shows it, `lossgp search --example`
/// prints it, and every setting left out takes the default written here.
pub const EXAMPLE: &str = include_str!("example.toml");

/// The baselines of a search unless its file names others: cross entropy, label smoothing
/// tuned on the task, Poly-1 and NGL.
pub const DEFAULT_BASELINES: [&str; 4] = ["ce", TUNED_LABEL_SMOOTHING, "poly1", "ngl"];

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchFile {
    /// What candidates are scored on: `[task]`, or several `[[task]]`.
    pub task: Tasks,
    /// The training run that scores a candidate.
    pub train: TrainConfig,
    /// The engine.
    pub search: SearchConfig,
    /// How this machine runs it.
    pub run: RunConfig,
    /// Seeds the search never used, on which its best losses and the baselines train again
    /// once it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<ConfirmConfig>,
    /// Held-out tasks the best losses and the baselines train on once the search ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<HeldOutGrid>,
}

/// `[confirm]`: once the search ends (its generations done, or `max_minutes` passed), its
/// `top` best losses and the baselines train again on `seeds`, which the search never used,
/// as `lossgp confirm` trains them (`RUN/heldout.jsonl`, resumable), and the summary ends with
/// their paired verdicts. The search's own confirmation seeds chose its hall of fame, so only
/// these seeds tell whether a loss really beats the baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfirmConfig {
    /// Seed numbers, above `[search] confirm_seeds`.
    pub seeds: Vec<usize>,
    /// How many of the hall of fame's best losses.
    pub top: usize,
    /// Also train every loss this many times longer (the horizon check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs_factor: Option<u32>,
}

impl Default for ConfirmConfig {
    fn default() -> Self {
        ConfirmConfig { seeds: vec![101, 102, 103, 104, 105], top: 3, epochs_factor: None }
    }
}

/// `[transfer]`: held-out tasks, as `lossgp transfer` takes them (`[transfer.grid]`,
/// `[transfer.train]`, `[transfer.dataset.NAME]`). When the search ends, its `grid.top` best
/// losses and the baselines (`ls-tuned` at the ε the search chose) train on that grid, through
/// the search's evaluator, in `RUN/heldout-grid-gN` (N: the generations done), resumable; the
/// summary puts each loss's search fitness and held-out Δ side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeldOutGrid {
    /// Models, datasets, seeds, subsets, backend, `top`, `baselines`, further `losses`; `from`
    /// is the search itself.
    pub grid: crate::commands::transfer::GridConfig,
    /// The training run of each cell.
    pub train: TrainConfig,
    /// Settings for one dataset.
    pub dataset: std::collections::BTreeMap<String, crate::commands::transfer::DatasetConfig>,
}

/// The task of a search (`[task]`), or its tasks (`[[task]]`): every candidate is trained on
/// each, and ranked by the weighted mean ([`lossgp_core::search::task`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Tasks {
    /// `[task]`: the simple case (boxed: a task's settings are large next to a `Vec`).
    One(Box<TaskConfig>),
    /// `[[task]]`, one table per task.
    Many(Vec<TaskConfig>),
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::One(Box::default())
    }
}

impl Tasks {
    /// Every task, in order.
    pub fn all(&self) -> &[TaskConfig] {
        match self {
            Tasks::One(task) => std::slice::from_ref(task),
            Tasks::Many(tasks) => tasks,
        }
    }
}

impl Serialize for Tasks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tasks::One(task) => task.serialize(s),
            Tasks::Many(tasks) => tasks.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Tasks {
    /// A table is one task and an array of tables several, each read with its own errors
    /// (an unknown key is named, not "matches no variant").
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::Array(tasks) => {
                let tasks: Vec<TaskConfig> = tasks
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| t.try_into().map_err(|e| D::Error::custom(format!("[[task]] number {}: {e}", i + 1))))
                    .collect::<Result<_, _>>()?;
                if tasks.is_empty() {
                    return Err(D::Error::custom("`task` is an empty list: give at least one [[task]]"));
                }
                Ok(Tasks::Many(tasks))
            }
            table => table.try_into().map(|t| Tasks::One(Box::new(t))).map_err(|e| D::Error::custom(e.to_string())),
        }
    }
}

/// What candidates are scored on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// Its name in reports, for a search over several tasks [default: `DATASET/MODEL`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its weight in the combined fitness, for a search over several tasks.
    #[serde(skip_serializing_if = "is_one")]
    pub weight: f64,
    /// `training` (lossgp trains its own network), `command` (the user's command trains
    /// theirs) or `gradient-match`.
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
    /// Training settings overriding `[train]`'s for this task, by the same names (e.g.
    /// `{ epochs = 2, batch_size = 32 }`).
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub train: toml::Table,
    /// `fitness = "command"`: the program and its arguments, with placeholders
    /// (`{loss_py}`, `{out}`, `{seed}`, `{budget}`, ...: [`lossgp_exec::command`]). Paths
    /// are taken from the configuration file's folder.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `fitness = "command"`: the time limit of one run, in minutes.
    #[serde(skip_serializing_if = "is_default_timeout")]
    pub timeout_minutes: f64,
    /// `fitness = "command"`: further files the result depends on (hashed into the task).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<std::path::PathBuf>,
    /// `fitness = "command"`: environment variables set for the command.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
}

/// The default time limit of a command's run, in minutes.
const DEFAULT_TIMEOUT_MINUTES: f64 = 60.0;

fn is_default_timeout(minutes: &f64) -> bool {
    *minutes == DEFAULT_TIMEOUT_MINUTES
}

fn is_one(weight: &f64) -> bool {
    *weight == 1.0
}

impl TaskConfig {
    /// Its name in reports.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| match self.fitness {
            FitnessKind::GradientMatch => format!("gradient-match/{}", self.target),
            FitnessKind::Training => format!("{}/{}", self.dataset, self.model),
            FitnessKind::Command => {
                let script = self.command.iter().skip(1).find(|a| {
                    !a.starts_with('-') && !a.contains(['{', ' ', ';']) && Path::new(a.as_str()).extension().is_some()
                });
                // The script (an argument naming a file), else the program.
                match script.or(self.command.first()) {
                    Some(a) => format!("command/{}", a.rsplit('/').next().unwrap_or(a)),
                    None => "command".to_owned(),
                }
            }
        })
    }

    /// The command fitness's settings.
    pub fn command_spec(&self) -> lossgp_exec::CommandSpec {
        lossgp_exec::CommandSpec {
            command: self.command.clone(),
            timeout_minutes: self.timeout_minutes,
            files: self.files.clone(),
            env: self.env.clone(),
        }
    }

    /// Its training settings: `[train]` with its own `train` table over them.
    pub fn train_config(&self, base: &TrainConfig) -> Result<TrainConfig> {
        with_overrides(base, &self.train, &format!("task `{}`: `train`", self.name()))
    }
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            name: None,
            weight: 1.0,
            train: toml::Table::new(),
            fitness: FitnessKind::Training,
            target: "ce".into(),
            dataset: "fashion-mnist".into(),
            model: "small-cnn".into(),
            backend: "flex".into(),
            train_samples: None,
            image_size: None,
            command: Vec::new(),
            timeout_minutes: DEFAULT_TIMEOUT_MINUTES,
            files: Vec::new(),
            env: std::collections::BTreeMap::new(),
        }
    }
}

/// How candidates are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FitnessKind {
    /// Train a network with the candidate.
    Training,
    /// Run the user's own training command on the candidate (`command`), and read the score
    /// it writes.
    Command,
    /// Compare the candidate's gradients with the target's.
    GradientMatch,
}

/// `[run]`: how this machine runs the search (the settings shared with `transfer` and
/// `confirm`), and the search's own keys: what it compares its losses with and shows.
pub type RunConfig = RunTable<SearchRun>;

/// The search's own keys of `[run]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchRun {
    /// Reference losses scored on the same task: built-in names (`ls-ce(0.3)` too),
    /// expressions, or `ls-tuned` (label smoothing tuned over `label_smoothing`).
    pub baselines: Vec<String>,
    /// The ε grid of `ls-tuned`.
    pub label_smoothing: Vec<f64>,
    /// Losses shown at the end.
    pub top: usize,
    /// Stop after the generation running when this many minutes of this call have passed
    /// (`--max-minutes` overrides); `--resume` continues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_minutes: Option<f64>,
}

impl OwnKeys for SearchRun {
    const KEYS: &'static [&'static str] = &["baselines", "label_smoothing", "top", "max_minutes"];
}

impl Default for SearchRun {
    fn default() -> Self {
        SearchRun {
            baselines: DEFAULT_BASELINES.iter().map(|b| b.to_string()).collect(),
            label_smoothing: LABEL_SMOOTHING_GRID.to_vec(),
            top: 5,
            max_minutes: None,
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
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |task: &mut TaskConfig| {
            let mut spec = task.command_spec();
            spec.resolve(base);
            (task.command, task.files) = (spec.command, spec.files);
        };
        match &mut file.task {
            Tasks::One(task) => resolve(task),
            Tasks::Many(tasks) => tasks.iter_mut().for_each(resolve),
        }
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
        let names: Vec<String> = self.task.all().iter().map(TaskConfig::name).collect();
        for (i, task) in self.task.all().iter().enumerate() {
            if names[..i].contains(&names[i]) {
                bail!("two tasks are named `{}`: give each [[task]] its own `name`", names[i]);
            }
            if !(task.weight > 0.0 && task.weight.is_finite()) {
                bail!("task `{}`: weight must be a positive number, not {}", names[i], task.weight);
            }
            self.validate_task(task).with_context(|| format!("task `{}`", names[i]))?;
        }
        self.run.validate()?;
        if let Some(m) = self.run.own.max_minutes.filter(|m| !(*m > 0.0 && m.is_finite())) {
            bail!("[run] max_minutes must be a positive number of minutes, not {m}");
        }
        if let Some(confirm) = &self.confirm {
            self.check_heldout_seeds(&confirm.seeds, "[confirm] seeds", "seeds = [101, 102, 103]")?;
            if confirm.top == 0 {
                bail!("[confirm] top = 0 confirms nothing: give the number of best losses to re-train, e.g. 3");
            }
            if confirm.epochs_factor == Some(0) {
                bail!("[confirm] epochs_factor must be at least 1");
            }
        }
        self.baselines()?;
        if let Some(held) = &self.transfer {
            if !held.grid.from.is_empty() {
                bail!("[transfer.grid] from: the held-out grid takes its losses from this search; leave `from` out");
            }
            // `from` will be this search: the grid's losses are checked, its contenders known later.
            self.heldout_file(Path::new(".")).expect("a [transfer] section").validate().context("[transfer]")?;
        }
        Ok(())
    }

    /// Checks the seed numbers of a held-out confirmation (`[confirm] seeds`, `confirm
    /// --seed-numbers`): distinct, not too many, and above the search's own confirmation seeds,
    /// which chose its hall of fame. `name` and `example` say where they were given.
    pub fn check_heldout_seeds(&self, seeds: &[usize], name: &str, example: &str) -> Result<()> {
        let distinct: std::collections::BTreeSet<_> = seeds.iter().collect();
        if seeds.is_empty() || distinct.len() != seeds.len() {
            bail!("{name} needs distinct seed numbers, e.g. {example}");
        }
        use lossgp_core::limits::{MAX_SEEDS, at_most};
        at_most(name, seeds.len(), MAX_SEEDS, "each seed trains every loss again; 3 to 10 is usual")
            .map_err(anyhow::Error::msg)?;
        if let Some(seed) = seeds.iter().find(|s| **s <= self.search.confirm_seeds) {
            bail!(
                "{name}: seed {seed} is one of the search's own confirmation seeds, which the search itself trained on \
                 (1 to {}); choose seeds above them, e.g. {example}",
                self.search.confirm_seeds
            );
        }
        Ok(())
    }

    /// The held-out grid of the search in `dir` as a transfer configuration: the search's
    /// best losses (`from`) and the grid's baselines, trained through the search's `[run]`
    /// settings, with finished cells shared between the grids of one run directory.
    pub fn heldout_file(&self, dir: &Path) -> Option<crate::commands::transfer::TransferFile> {
        let held = self.transfer.as_ref()?;
        // The search's own run settings, its cache aside: the grid keeps a file of its own.
        let settings = RunSettings { cache: Some(dir.join("heldout-cells.jsonl")), ..self.run.settings.clone() };
        let run = crate::commands::transfer::TransferRun {
            settings,
            own: crate::commands::transfer::GridRun { retries: self.search.retries },
        };
        let grid = crate::commands::transfer::GridConfig { from: vec![dir.to_owned()], ..held.grid.clone() };
        Some(crate::commands::transfer::TransferFile {
            grid,
            train: held.train.clone(),
            dataset: held.dataset.clone(),
            run,
        })
    }

    /// Checks one task's settings.
    fn validate_task(&self, task: &TaskConfig) -> Result<()> {
        if task.train_samples == Some(0) {
            bail!("[task] train_samples must be at least 1 (a subset with no sample trains nothing)");
        }
        let train = task.train_config(&self.train)?;
        train.validate(train.validation_fraction > 0.0).context("its training settings")?;
        if train.max_seconds.is_some() {
            bail!(
                "[train] max_seconds would make a candidate's fitness depend on the machine's speed; bound the run with max_steps or epochs"
            );
        }
        if task.fitness != FitnessKind::Command && !task.command.is_empty() {
            bail!(
                "`command` is set, but `fitness` is `{}`: set fitness = \"command\" to score with it",
                kebab(task.fitness)
            );
        }
        if task.fitness == FitnessKind::Command {
            task.command_spec().validate().map_err(anyhow::Error::msg)?;
        } else if task.fitness == FitnessKind::Training {
            let (model, options) = ModelOptions::parse(&task.model)?;
            check_options(find_model(&model)?, &options).context("[task] model")?;
            if train.validation_fraction <= 0.0 {
                bail!("[train] validation_fraction must be above 0: the fitness is the validation accuracy");
            }
        } else {
            Loss::resolve(&task.target).context("[task] target")?;
        }
        Ok(())
    }

    /// One line about the tasks.
    pub fn describe(&self) -> String {
        let one = |t: &TaskConfig| match t.fitness {
            FitnessKind::GradientMatch => format!("gradient match with {}", t.target),
            FitnessKind::Command => {
                format!("the command `{}`, at most {} min a run", t.command.join(" "), t.timeout_minutes)
            }
            FitnessKind::Training => {
                let samples = t.train_samples.map(|n| format!(" ({n} samples)")).unwrap_or_default();
                let epochs = t.train_config(&self.train).map_or(self.train.epochs, |c| c.epochs);
                format!("{} trained on {}{samples}, {epochs} epoch(s), on {}", t.model, t.dataset, t.backend)
            }
        };
        match &self.task {
            Tasks::One(task) => one(task),
            Tasks::Many(tasks) => {
                let each: Vec<String> =
                    tasks.iter().map(|t| format!("{} (weight {}): {}", t.name(), t.weight, one(t))).collect();
                format!("{} tasks: {}", tasks.len(), each.join("; "))
            }
        }
    }

    /// The baselines, parsed.
    pub fn baselines(&self) -> Result<Vec<BaselineSpec>> {
        let specs = self
            .run
            .own
            .baselines
            .iter()
            .map(|name| {
                BaselineSpec::parse(name, &self.run.own.label_smoothing)
                    .with_context(|| format!("[run] baselines: `{name}` (set label_smoothing for ls-tuned)"))
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(twice) = specs.iter().enumerate().find(|(i, s)| specs[..*i].iter().any(|t| t.name() == s.name())) {
            bail!("[run] baselines names `{}` twice", twice.1.name());
        }
        Ok(specs)
    }

    /// The fitness the tasks describe: opens the datasets and the backends. Several tasks
    /// make a [`MultiTask`] whose jobs name their task.
    /// `dir` is the run directory (a command's job folders go there).
    pub fn fitness(&self, dir: &Path, data_dir: Option<&Path>) -> Result<Arc<dyn Fitness>> {
        crate::plugins::load(&self.run.plugins)?;
        match &self.task {
            Tasks::One(task) => self.task_fitness(task, dir, data_dir),
            Tasks::Many(tasks) => {
                let each = tasks
                    .iter()
                    .map(|t| {
                        let fitness =
                            self.task_fitness(t, dir, data_dir).with_context(|| format!("task `{}`", t.name()))?;
                        Ok((t.name(), t.weight, fitness))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(MultiTask::new(each).map_err(anyhow::Error::msg)?))
            }
        }
    }

    /// One task's fitness.
    fn task_fitness(&self, task: &TaskConfig, dir: &Path, data_dir: Option<&Path>) -> Result<Arc<dyn Fitness>> {
        let train_config = task.train_config(&self.train)?;
        match task.fitness {
            FitnessKind::GradientMatch => return Ok(Arc::new(GradientMatch::new(Loss::resolve(&task.target)?))),
            FitnessKind::Command => {
                let data =
                    data_dir.map(Path::to_owned).or_else(|| DataDir::resolve(None).ok().map(|d| d.root().to_owned()));
                let fitness =
                    CommandFitness::new(task.command_spec(), &task.name(), train_config.seed, dir, data.as_deref())
                        .map_err(anyhow::Error::msg)?;
                return Ok(Arc::new(fitness));
            }
            FitnessKind::Training => {}
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
            seed: train_config.seed,
        };
        let TrainingSet { data: train, input } = open_training(&request, &dirs)?;
        let spec = ModelSpec { options, ..ModelSpec::new(input, train.classes().len(), train_config.seed) };
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
            serde_json::to_string(&train_config)?
        );
        let fitness = TrainingFitness::new(backend, (model, spec), train, None, train_config, fingerprint)
            .map_err(anyhow::Error::msg)?;
        Ok(Arc::new(fitness))
    }
}

/// A fitness kind as the configuration spells it.
fn kebab(kind: FitnessKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
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
    fn several_tasks_are_read_with_their_own_settings_and_mistakes_named() {
        let file: SearchFile = toml::from_str(
            "[train]\nepochs = 1\n\n[[task]]\nname = \"plain\"\nmodel = \"small-cnn:batch_norm=false,hidden=0\"\n\
             \n[[task]]\ndataset = \"mnist\"\nweight = 2.0\ntrain = { epochs = 2, batch_size = 32 }\n",
        )
        .unwrap();
        let tasks = file.task.all();
        assert_eq!(tasks.len(), 2);
        assert_eq!((tasks[0].name(), tasks[1].name()), ("plain".to_owned(), "mnist/small-cnn".to_owned()));
        let second = tasks[1].train_config(&file.train).unwrap();
        assert_eq!((second.epochs, second.batch_size), (2, 32));
        assert_eq!(tasks[0].train_config(&file.train).unwrap(), file.train);
        file.validate().unwrap();
        assert!(file.describe().starts_with("2 tasks: plain (weight 1): small-cnn:batch_norm=false,hidden=0"));
        let again: SearchFile = toml::from_str(&file.to_toml().unwrap()).unwrap();
        assert_eq!(again, file, "the run directory's copy keeps every task");
        // One [task] is written back as one table, as before.
        let one = SearchFile::default().to_toml().unwrap();
        assert!(one.contains("[task]\n") && !one.contains("[[task]]"), "{one}");

        let typo = toml::from_str::<SearchFile>("[[task]]\ndataset = \"mnist\"\n[[task]]\ndatset = \"x\"\n");
        let err = typo.unwrap_err().to_string();
        assert!(err.contains("[[task]] number 2") && err.contains("datset"), "{err}");
        let err = toml::from_str::<SearchFile>("[task]\ndatset = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("datset"), "{err}");
        let same: SearchFile = toml::from_str("[[task]]\n[[task]]\n").unwrap();
        assert!(format!("{:#}", same.validate().unwrap_err()).contains("named `fashion-mnist/small-cnn`"));
        let heavy: SearchFile = toml::from_str("[[task]]\nweight = 0\n").unwrap();
        assert!(format!("{:#}", heavy.validate().unwrap_err()).contains("positive"));
        let bad: SearchFile = toml::from_str("[[task]]\ntrain = { epochs = \"two\" }\n").unwrap();
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("not a valid training setting"));
    }

    #[test]
    fn the_shipped_configurations_are_valid() {
        for (name, text) in [
            ("fashion-mnist-quick", include_str!("../../../../../configs/fashion-mnist-quick.toml")),
            ("bench-plain", include_str!("../../../../../configs/bench-plain.toml")),
            ("bench-small-cnn", include_str!("../../../../../configs/bench-small-cnn.toml")),
            ("discovery-cpu", include_str!("../../../../../configs/discovery-cpu.toml")),
            ("discovery-cpu-one", include_str!("../../../../../configs/discovery-cpu-one.toml")),
        ] {
            let file: SearchFile = toml::from_str(text).unwrap_or_else(|e| panic!("configs/{name}.toml: {e}"));
            file.validate().unwrap_or_else(|e| panic!("configs/{name}.toml: {e:#}"));
        }
        let two: SearchFile = toml::from_str(include_str!("../../../../../configs/discovery-cpu.toml")).unwrap();
        let one: SearchFile = toml::from_str(include_str!("../../../../../configs/discovery-cpu-one.toml")).unwrap();
        assert_eq!(two.task.all().len(), 2);
        assert_eq!(one.task.all(), &two.task.all()[..1], "the one-task control searches the first task alone");
        assert_eq!((&one.train, &one.search, &one.run), (&two.train, &two.search, &two.run), "with the same settings");
    }

    /// The README's main job is `configs/fashion-mnist-quick.toml`: a search bounded to 15
    /// minutes on the default build's fastest evaluator, followed by the held-out confirmation
    /// against cross entropy and NGL.
    #[test]
    fn the_readme_main_job_is_a_bounded_search_with_a_held_out_confirmation() {
        let readme = include_str!("../../../../../README.md");
        let command = "scripts/setup cargo run --bin lossgp -- search --config configs/fashion-mnist-quick.toml --out runs/fashion-mnist-quick";
        assert!(readme.lines().any(|l| l.trim() == command), "the README's main job is `{command}`");
        let file: SearchFile = toml::from_str(include_str!("../../../../../configs/fashion-mnist-quick.toml")).unwrap();
        file.validate().unwrap();
        assert_eq!(file.run.settings.evaluator, "processes", "worker processes, the default build's fastest");
        assert!(file.run.own.max_minutes.is_some_and(|m| m <= 15.0), "at most 15 minutes of search");
        let confirm = file.confirm.as_ref().expect("a held-out confirmation");
        assert!(confirm.seeds.iter().all(|s| *s > file.search.confirm_seeds), "on seeds the search never used");
        assert!(confirm.seeds.len() >= 5, "enough seeds for the paired t-test to tell 1.5 points from 0");
        for baseline in ["ce", "ngl"] {
            assert!(file.run.own.baselines.iter().any(|b| b == baseline), "next to {baseline}");
        }
    }

    #[test]
    fn a_confirm_table_is_checked_before_the_search() {
        let own: SearchFile = toml::from_str("[search]\nconfirm_seeds = 3\n[confirm]\nseeds = [2, 101]\n").unwrap();
        assert!(format!("{:#}", own.validate().unwrap_err()).contains("2 is one of the search's own"));
        let twice: SearchFile = toml::from_str("[confirm]\nseeds = [101, 101]\n").unwrap();
        assert!(format!("{:#}", twice.validate().unwrap_err()).contains("distinct"));
        let none: SearchFile = toml::from_str("[confirm]\ntop = 0\n").unwrap();
        assert!(format!("{:#}", none.validate().unwrap_err()).contains("top = 0"));
        let minutes: SearchFile = toml::from_str("[run]\nmax_minutes = -1\n").unwrap();
        assert!(format!("{:#}", minutes.validate().unwrap_err()).contains("max_minutes"));
        let fine: SearchFile = toml::from_str("[confirm]\n[run]\nmax_minutes = 2.5\n").unwrap();
        fine.validate().unwrap();
        assert_eq!(fine.confirm.unwrap().seeds, vec![101, 102, 103, 104, 105]);
    }

    #[test]
    fn mistakes_are_named() {
        let err = toml::from_str::<SearchFile>("[search]\npopulaton = 3\n").unwrap_err().to_string();
        assert!(err.contains("populaton"), "{err}");
        let mut bad = SearchFile::default();
        bad.search.crossover = 2.0;
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("crossover"));
        bad = SearchFile::default();
        bad.task = Tasks::One(Box::new(TaskConfig { model: "resnet20:depth=3".into(), ..TaskConfig::default() }));
        assert!(format!("{:#}", bad.validate().unwrap_err()).contains("depth"));
        // A held-out grid's own losses are checked before the search, though its `from` is
        // only known after it.
        let typo: SearchFile = toml::from_str("[transfer.grid]\nbaselines = [\"ngll\"]\n").unwrap();
        assert!(format!("{:#}", typo.validate().unwrap_err()).contains("ngll"));
        let fine: SearchFile = toml::from_str("[transfer.grid]\nlosses = []\nbaselines = []\n").unwrap();
        fine.validate().unwrap();
    }
}
