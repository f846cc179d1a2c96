//! `lossgp search`: discover loss functions by genetic programming, each candidate scored by
//! training a network with it; and `lossgp report`, which summarises any run directory.

mod config;
mod hall_of_fame;
mod heldout;
mod heldout_grid;
pub(crate) mod plot;
pub mod reference;
pub(crate) mod run_dir;
mod task_plot;
pub mod view;
mod worker;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lossgp_core::loss::analysis::{Analysis, CLASS_COUNTS, analyze};
use lossgp_core::search::{
    Outcome, Paired, RunDir, RunLock, RunOptions, SearchEvent, Stage, State, Tuning, mean_sd, run, spearman, store,
    strongest,
};
use serde::Serialize;

pub use config::{EXAMPLE, SearchFile};
pub use heldout::{ConfirmArgs, confirm};
pub use worker::{WorkerArgs, run_worker};

use crate::output::{emit, indent};
pub use run_dir::CONFIG;
use run_dir::open_run;

/// The summary a run directory keeps.
const SUMMARY: &str = "summary.json";

#[derive(Debug, Args)]
#[command(after_long_help = concat!("EXAMPLE CONFIGURATION (lossgp search --example > search.toml):\n\n", include_str!("example.toml")))]
pub struct SearchArgs {
    /// The configuration file (TOML; `--example` prints a documented one) [default: the
    /// defaults shown there].
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    config: Option<PathBuf>,
    /// The run directory [default: runs/search-<time>].
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the search in this run directory, with its own configuration.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Print the documented example configuration and exit.
    #[arg(long)]
    example: bool,
    /// Overrides [task] dataset.
    #[arg(long, conflicts_with = "resume")]
    dataset: Option<String>,
    /// Overrides [task] model.
    #[arg(long, conflicts_with = "resume")]
    model: Option<String>,
    /// Overrides [task] backend (`lossgp list` names this build's).
    #[arg(long, conflicts_with = "resume")]
    backend: Option<String>,
    /// Overrides [search] population.
    #[arg(long, conflicts_with = "resume")]
    population: Option<usize>,
    /// Overrides [train] epochs: the length of the training that scores a candidate.
    #[arg(long, conflicts_with = "resume")]
    epochs: Option<usize>,
    /// Overrides [train] max_steps: stop each scoring training after this many steps.
    #[arg(long, value_name = "STEPS", conflicts_with = "resume")]
    max_steps: Option<u64>,
    /// Overrides [task] train_samples: train on a stratified subset of this many samples.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    train_samples: Option<usize>,
    /// Overrides [search] generations (also on --resume, to run more of them).
    #[arg(long)]
    generations: Option<usize>,
    /// Overrides [search] seed.
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Overrides [run] workers: trainings at once (also on --resume: it does not change the
    /// result).
    #[arg(long)]
    workers: Option<usize>,
    /// Overrides [run] evaluator: `threads`, `processes`, `slurm` or one a plugin adds
    /// (`lossgp list evaluators`; also on --resume).
    #[arg(long, value_name = "NAME")]
    evaluator: Option<String>,
    /// Overrides [run] cache: a fitness cache shared with other runs on the same task.
    #[arg(long, value_name = "FILE.jsonl")]
    cache: Option<PathBuf>,
    /// Stop after the generation running when this many minutes have passed (overrides [run]
    /// max_minutes); --resume continues.
    #[arg(long, value_name = "MINUTES")]
    max_minutes: Option<f64>,
}

/// The run directory, held by this process until the lock is dropped, and the settings of
/// this call.
fn prepare(args: &SearchArgs) -> Result<(RunDir, RunLock, SearchFile)> {
    let (dir, mut file) = match &args.resume {
        Some(dir) => {
            let path = dir.join(CONFIG);
            if !path.is_file() {
                bail!("{} has no {CONFIG}: it is not a lossgp run directory (start one with --out)", dir.display());
            }
            let mut file = SearchFile::read(&path)?;
            file.search.generations = args.generations.unwrap_or(file.search.generations);
            (dir.clone(), file)
        }
        None => {
            let mut file = match &args.config {
                Some(path) => SearchFile::read(path)?,
                None => SearchFile::default(),
            };
            file.train.epochs = args.epochs.unwrap_or(file.train.epochs);
            file.train.max_steps = args.max_steps.or(file.train.max_steps);
            match &mut file.task {
                config::Tasks::One(task) => {
                    task.train_samples = args.train_samples.or(task.train_samples);
                    task.dataset = args.dataset.clone().unwrap_or(task.dataset.clone());
                    task.model = args.model.clone().unwrap_or(task.model.clone());
                    task.backend = args.backend.clone().unwrap_or(task.backend.clone());
                }
                config::Tasks::Many(tasks) => {
                    if args.dataset.is_some() || args.model.is_some() || args.train_samples.is_some() {
                        bail!(
                            "--dataset, --model and --train-samples set the task of a search over one; this \
                             configuration has {} [[task]] tables: set each one's in the file",
                            tasks.len()
                        );
                    }
                    // One backend for every task is what --backend means.
                    if let Some(backend) = &args.backend {
                        tasks.iter_mut().for_each(|t| t.backend = backend.clone());
                    }
                }
            }
            let search = &mut file.search;
            search.population = args.population.unwrap_or(search.population);
            search.generations = args.generations.unwrap_or(search.generations);
            search.seed = args.seed.unwrap_or(search.seed);
            let dir = args.out.clone().unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                PathBuf::from(format!("runs/search-{now}"))
            });
            if dir.join(store::STATE).exists() || dir.join(store::EVALUATIONS).exists() {
                bail!(
                    "{} already holds a search: continue it with --resume {0}, or choose another --out",
                    dir.display()
                );
            }
            if crate::commands::transfer::is_transfer_run(&dir) {
                bail!("{} holds a transfer grid: give the search a directory of its own with --out", dir.display());
            }
            (dir, file)
        }
    };
    file.run.workers = args.workers.unwrap_or(file.run.workers);
    file.run.evaluator = args.evaluator.clone().unwrap_or(file.run.evaluator.clone());
    file.run.cache = args.cache.clone().or(file.run.cache.take());
    crate::plugins::record(&mut file.run.plugins);
    file.validate()?;
    let run_dir = RunDir::create(&dir)?;
    let lock = run_dir.lock()?;
    store::write_atomic(&dir.join(CONFIG), &file.to_toml()?)?;
    Ok((run_dir, lock, file))
}

pub fn run_search(args: SearchArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    if let Some(m) = args.max_minutes.filter(|m| !(*m > 0.0 && m.is_finite())) {
        bail!("--max-minutes must be a positive number of minutes, not {m}");
    }
    if args.example {
        print!("{EXAMPLE}");
        return Ok(());
    }
    let (dir, _lock, file) = prepare(&args)?;
    let fitness = file.fitness(dir.path(), data_dir)?;
    let tasks = fitness.tasks();
    let mut evaluator = crate::run_table::evaluator(&file.run, dir.path(), fitness, data_dir)?;
    eprintln!("search in {}: {}", dir.path().display(), file.describe());

    let bar = ProgressBar::new(file.search.generations as u64).with_style(
        ProgressStyle::with_template("generation {pos}/{len} [{bar:24}] {elapsed} eta {eta} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let max_minutes = args.max_minutes.or(file.run.own.max_minutes);
    let deadline = max_minutes.map(|m| std::time::Instant::now() + std::time::Duration::from_secs_f64(m * 60.0));
    let mut tally = Tally { total: file.search.generations, deadline, ..Tally::default() };
    let mut observe = |event: SearchEvent<'_>| tally.observe(&bar, event);
    let options = RunOptions { max_seconds: max_minutes.map(|m| m * 60.0), cache: file.run.cache.clone() };
    let state = run(&file.search, &dir, &tasks, evaluator.as_mut(), &file.baselines()?, options, &mut observe)?;
    bar.finish_and_clear();
    // The search's workers stop before the held-out trainings start their own.
    drop(evaluator);
    // The search's summary is written and printed whatever becomes of the held-out trainings.
    let confirmed = match &file.confirm {
        Some(confirm) if !state.hall_of_fame.is_empty() => {
            heldout::train(dir.path(), &file, &state, &confirm.into(), data_dir).map(|_| ())
        }
        _ => Ok(()),
    };
    let grid = heldout_grid::run(dir.path(), &file, &state, data_dir);
    let summary = finish(dir.path(), &state, &file)?;
    emit(json, &summary, render)?;
    confirmed.context("the held-out confirmation ([confirm]); --resume continues it")?;
    grid.map(|_| ()).context("the held-out grid ([transfer]); --resume continues it")
}

/// What the progress line shows.
#[derive(Default)]
struct Tally {
    /// The generations the search runs to.
    total: usize,
    /// When the time limit (`max_minutes`) ends the search, if it has one.
    deadline: Option<std::time::Instant>,
    /// Each finished generation's seconds, for the estimate of what is left.
    seconds: Vec<f64>,
    generation: usize,
    trained: usize,
    confirmed: usize,
    best: Option<f64>,
    baselines: String,
}

impl Tally {
    fn observe(&mut self, bar: &ProgressBar, event: SearchEvent<'_>) {
        match event {
            SearchEvent::GenerationStarted { generation, offspring, redraws } => {
                (self.generation, self.trained, self.confirmed) = (generation, 0, 0);
                bar.set_position(generation as u64);
                bar.set_message(format!("{offspring} new candidates ({redraws} redrawn){}", self.best_text()));
            }
            SearchEvent::Evaluating { count, rung } => {
                let what = if rung == 0 { "training".to_owned() } else { format!("training (rung {rung})") };
                bar.set_message(format!("{what} {count} candidates{}", self.best_text()));
            }
            SearchEvent::Confirming { count } => {
                bar.set_message(format!("confirming on other seeds: {count} trainings{}", self.best_text()));
            }
            SearchEvent::Record(record) => match &record.outcome {
                Outcome::Screened { .. } => {}
                Outcome::Evaluated { scored, .. } if record.generation.is_none() => {
                    if record.replicate == 0 {
                        let _ = write!(self.baselines, " {} {:.4}", record.loss, scored.fitness);
                    }
                }
                _ if record.replicate > 0 => {
                    self.confirmed += 1;
                    bar.set_message(format!("{} confirmation trainings done{}", self.confirmed, self.best_text()));
                }
                _ => {
                    self.trained += 1;
                    bar.set_message(format!("{} trained{}", self.trained, self.best_text()));
                }
            },
            SearchEvent::GenerationFinished { stats, hall_of_fame } => {
                self.best = hall_of_fame.first().map(|i| i.score());
                bar.set_position(stats.generation as u64 + 1);
                let line = format!(
                    "generation {}: best {:.4}, median {:.4}; {}/{} new, {} known and {} screened redrawn, \
                     {} trainings, {} confirmations; {} distinct, {} niches; {:.0}s",
                    stats.generation,
                    stats.best,
                    stats.median,
                    stats.new,
                    stats.offspring,
                    stats.cache_hits,
                    stats.screened.values().sum::<usize>(),
                    stats.evaluations,
                    stats.confirmations,
                    stats.distinct,
                    stats.niches,
                    stats.seconds
                );
                self.seconds.push(stats.seconds);
                let left = self.total.saturating_sub(stats.generation + 1);
                let line = match (mean(&self.seconds), self.estimate(left)) {
                    (Some(_), Some(estimate)) if left > 0 => format!("{line}; {estimate}"),
                    _ => line,
                };
                // Without a terminal the bar is hidden, and so would be its lines.
                if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
            }
        }
    }

    /// What is left: `left` generations at the mean length so far, or, where the time limit
    /// comes first, the generations that start before it (the one running then is finished).
    fn estimate(&self, left: usize) -> Option<String> {
        let each = mean(&self.seconds)?;
        let by_count = each * left as f64;
        match self.deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()).as_secs_f64()) {
            Some(remaining) if remaining <= 0.0 => {
                Some("the time limit (max_minutes) has passed: the search stops here".to_owned())
            }
            Some(remaining) if remaining < by_count => {
                let more = ((remaining / each).ceil() as usize).min(left);
                Some(format!(
                    "about {} left for about {more} more generation(s) within the time limit (max_minutes)",
                    duration(more as f64 * each)
                ))
            }
            _ => Some(format!("about {} left for {left} more generation(s)", duration(by_count))),
        }
    }

    fn best_text(&self) -> String {
        self.best.map(|b| format!("; best {b:.4}")).unwrap_or_default()
    }
}

/// What `lossgp search` and `lossgp report` print (and `summary.json` holds).
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    run_dir: PathBuf,
    task: String,
    /// The tasks of a search over several (each loss's fitness is their weighted mean); empty
    /// for one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<TaskSummary>,
    finished: bool,
    /// The process running the search now (`pid N on HOST`), where one is: `lossgp report` on
    /// a search in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    running: Option<String>,
    generations_done: usize,
    generations: usize,
    totals: Totals,
    /// Seeds each loss of the hall of fame and each baseline was confirmed on.
    confirm_seeds: usize,
    /// How `better`, `same` and `worse` are decided.
    rule: &'static str,
    baselines: Vec<Reference>,
    /// The baseline with the best mean over the confirmation seeds (the search seed's fitness
    /// without them): the one a found loss must beat.
    strongest_baseline: Option<String>,
    best: Vec<Found>,
    /// Diversity per generation.
    diversity: Vec<Diversity>,
    /// How well the first rung of successive halving predicts the full run, if there are two.
    rank_correlation: Option<RankCorrelation>,
    /// The held-out grid (`[transfer]`), once it has a report: search fitness and held-out Δ
    /// side by side.
    #[serde(skip_serializing_if = "Option::is_none")]
    heldout: Option<heldout_grid::HeldOut>,
    /// The held-out confirmation (`[confirm]`), once every training of it is done: the best
    /// losses and the baselines on seeds the search never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation: Option<heldout::Confirmed>,
    plots: Vec<PathBuf>,
    /// The command that re-trains the best losses and the baselines on seeds the search never
    /// used (its own confirmation seeds chose the hall of fame, which biases their verdicts).
    confirm_command: String,
}

/// One task of a search over several.
#[derive(Debug, Serialize)]
struct TaskSummary {
    name: String,
    weight: f64,
    description: String,
}

/// A loss on one task of a search over several.
#[derive(Debug, Serialize)]
struct TaskColumn {
    task: String,
    /// On the search's seed.
    fitness: f64,
    confirmed: Vec<f64>,
    confirmed_mean: Option<f64>,
    /// Against each baseline on this task, paired over the confirmation seeds.
    versus: BTreeMap<String, Paired>,
}

/// Work done and saved over the whole run.
#[derive(Debug, Default, Serialize)]
struct Totals {
    /// Slots for new candidates.
    offspring: usize,
    /// New candidates that filled them.
    new: usize,
    /// Draws of losses already scored, drawn again.
    cache_hits: usize,
    /// Distinct new losses rejected by screening, drawn again.
    screened: BTreeMap<Stage, usize>,
    /// Random trees that filled a slot once the redraws ran out.
    immigrants: usize,
    evaluations: usize,
    confirmations: usize,
    /// Evaluations the shared cache served.
    cached: usize,
    failures: usize,
    seconds: f64,
    /// Trainings (evaluations and confirmations) per hour of search.
    trainings_per_hour: f64,
}

/// A baseline on the search's seed and the confirmation seeds.
#[derive(Debug, Serialize)]
struct Reference {
    name: String,
    loss: String,
    fitness: f64,
    confirmed: Vec<f64>,
    confirmed_mean: Option<f64>,
    confirmed_sd: Option<f64>,
    /// On each task, for a search over several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    per_task: Vec<TaskColumn>,
    /// A tuned baseline's choice (`ls-tuned`: the ε kept and every ε's scores).
    #[serde(skip_serializing_if = "Option::is_none")]
    tuning: Option<Tuning>,
    /// What the loss is (`lossgp loss analyze`).
    analysis: Option<Analysis>,
}

/// A loss of the hall of fame.
#[derive(Debug, Serialize)]
struct Found {
    rank: usize,
    loss: String,
    /// Fitness on the search's seed (favoured by selection).
    fitness: f64,
    /// Fitness on each confirmation seed.
    confirmed: Vec<f64>,
    confirmed_mean: Option<f64>,
    confirmed_sd: Option<f64>,
    /// Against each baseline.
    versus: BTreeMap<String, Versus>,
    /// On each task, for a search over several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    per_task: Vec<TaskColumn>,
    generation: usize,
    island: usize,
    size: usize,
    /// The loss simplified (the same function, often shorter).
    simplified: String,
    /// Whether the simplified form trains as the loss does (the same training key): it is
    /// then what `latex` and `pytorch` give and what reports show first.
    simplified_trains_same: bool,
    /// What the loss is (`lossgp loss analyze`): its optimum, the label smoothing nearest to it,
    /// its gradient at initialisation.
    analysis: Option<Analysis>,
    latex: String,
    pytorch: String,
}

impl Found {
    /// The form reports show: the simplified one where it trains the same.
    fn shown(&self) -> &str {
        if self.simplified_trains_same { &self.simplified } else { &self.loss }
    }
}

/// A loss against a baseline.
#[derive(Debug, Serialize)]
struct Versus {
    /// Fitness minus the baseline's, on the search's seed.
    search_seed: f64,
    /// Paired over the confirmation seeds.
    paired: Option<Paired>,
}

#[derive(Debug, Serialize)]
struct Diversity {
    generation: usize,
    offspring: usize,
    new: usize,
    /// `new / offspring`.
    new_share: f64,
    redrawn_known: usize,
    redrawn_screened: usize,
    distinct: usize,
    niches: usize,
}

#[derive(Debug, Serialize)]
struct RankCorrelation {
    /// The budgets compared: the first rung's and the full run's.
    budgets: [f64; 2],
    /// Losses scored at both.
    pairs: usize,
    spearman: Option<f64>,
}

/// Seconds as a person reads a wait: `40 s`, `12 min`, `2.5 h`.
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    mean_sd(values).map(|(mean, _)| mean)
}

/// The standard deviation, where there are at least two values.
fn sd(values: &[f64]) -> Option<f64> {
    mean_sd(values).filter(|_| values.len() >= 2).map(|(_, sd)| sd)
}

/// `hall_of_fame.csv`'s text for a summary.
fn hall_of_fame_table(summary: &Summary) -> Result<String> {
    let baselines: Vec<&str> = summary.baselines.iter().map(|b| b.name.as_str()).collect();
    let rows: Vec<hall_of_fame::Row> = summary
        .best
        .iter()
        .map(|f| hall_of_fame::Row {
            rank: f.rank,
            complexity: f.size,
            fitness: f.fitness,
            confirmed_mean: f.confirmed_mean,
            confirmed_sd: f.confirmed_sd,
            versus: baselines
                .iter()
                .map(|b| {
                    let versus = f.versus.get(*b);
                    let paired = versus.and_then(|v| v.paired.as_ref());
                    (paired.map(|p| p.mean).or(versus.map(|v| v.search_seed)), paired.map(|p| p.verdict.name()))
                })
                .collect(),
            expression: &f.loss,
            simplified: &f.simplified,
            pytorch: &f.pytorch,
        })
        .collect();
    hall_of_fame::csv(&rows, &baselines)
}

/// Writes the summary and the plots into the run directory and returns the summary.
fn finish(dir: &Path, state: &State, file: &SearchFile) -> Result<Summary> {
    let mut plots = plot::draw(state, dir)?.to_vec();
    let names: Vec<String> = file.task.all().iter().map(config::TaskConfig::name).collect();
    let weights: Vec<f64> = file.task.all().iter().map(|t| t.weight).collect();
    let mut summary = summarize(dir, state, file, Vec::new())?;
    if let Some(files) = task_plot::draw(dir, &task_panels(&names, &weights, &summary.best, &summary.baselines))? {
        plots.extend(files);
    }
    summary.plots = plots;
    store::write_atomic(&dir.join(SUMMARY), &lossgp_core::json::to_string_pretty(&summary)?)?;
    store::write_atomic(&dir.join(hall_of_fame::FILE), &hall_of_fame_table(&summary)?)?;
    Ok(summary)
}

/// The summary of a run as it stands, read only: nothing is written (`plots`: the files to
/// name in it).
pub(crate) fn summarize(dir: &Path, state: &State, file: &SearchFile, plots: Vec<PathBuf>) -> Result<Summary> {
    let mut totals = Totals::default();
    for g in &state.history {
        totals.offspring += g.offspring;
        totals.new += g.new;
        totals.cache_hits += g.cache_hits;
        totals.immigrants += g.immigrants;
        totals.evaluations += g.evaluations;
        totals.confirmations += g.confirmations;
        totals.cached += g.cached;
        totals.failures += g.failures;
        totals.seconds += g.seconds;
        for (stage, n) in &g.screened {
            *totals.screened.entry(*stage).or_default() += n;
        }
    }
    totals.trainings_per_hour =
        (totals.evaluations + totals.confirmations) as f64 / (totals.seconds / 3600.0).max(1e-9);
    let names: Vec<String> = file.task.all().iter().map(config::TaskConfig::name).collect();
    let best: Vec<Found> = state
        .hall_of_fame
        .iter()
        .take(file.run.own.top)
        .enumerate()
        .map(|(i, ind)| {
            let loss = lossgp_core::Loss::new(ind.expr.clone(), file.search.reduction);
            let shown = loss.shown();
            // Reported even where it trains differently (floating point, a guarded operator).
            let simplified = loss.simplify();
            let simplified_trains_same = shown == simplified;
            let versus = state
                .baselines
                .iter()
                .map(|b| {
                    let versus = Versus {
                        search_seed: ind.fitness - b.fitness,
                        paired: Paired::new(&ind.confirmed, &b.confirmed),
                    };
                    (b.name.clone(), versus)
                })
                .collect();
            Found {
                per_task: task_columns(&names, &ind.per_task, &state.baselines),
                rank: i + 1,
                loss: loss.to_string(),
                fitness: ind.fitness,
                confirmed: ind.confirmed.clone(),
                confirmed_mean: mean(&ind.confirmed),
                confirmed_sd: sd(&ind.confirmed),
                versus,
                generation: ind.generation,
                island: ind.island,
                size: ind.size,
                simplified: simplified.to_string(),
                simplified_trains_same,
                analysis: analyze(&loss, &CLASS_COUNTS).ok(),
                latex: shown.to_latex(),
                pytorch: shown.to_pytorch(&format!("found_loss_{}", i + 1)),
            }
        })
        .collect();
    let baselines: Vec<Reference> = state
        .baselines
        .iter()
        .map(|b| Reference {
            name: b.name.clone(),
            loss: b.loss.to_string(),
            fitness: b.fitness,
            confirmed: b.confirmed.clone(),
            confirmed_mean: mean(&b.confirmed),
            confirmed_sd: sd(&b.confirmed),
            per_task: task_columns(&names, &b.per_task, &state.baselines),
            tuning: b.tuning.clone(),
            analysis: analyze(&b.loss, &CLASS_COUNTS).ok(),
        })
        .collect();
    let diversity = state
        .history
        .iter()
        .map(|g| Diversity {
            generation: g.generation,
            offspring: g.offspring,
            new: g.new,
            new_share: g.new as f64 / g.offspring.max(1) as f64,
            redrawn_known: g.cache_hits,
            redrawn_screened: g.screened.values().sum(),
            distinct: g.distinct,
            niches: g.niches,
        })
        .collect();
    let summary = Summary {
        run_dir: dir.to_owned(),
        task: state.task.clone(),
        tasks: match &file.task {
            config::Tasks::Many(tasks) if tasks.len() > 1 => tasks
                .iter()
                .map(|t| {
                    let one = SearchFile { task: config::Tasks::One(Box::new(t.clone())), ..file.clone() };
                    TaskSummary { name: t.name(), weight: t.weight, description: one.describe() }
                })
                .collect(),
            _ => Vec::new(),
        },
        finished: state.finished(&file.search),
        running: None,
        generations_done: state.generation,
        generations: file.search.generations,
        totals,
        confirm_seeds: file.search.confirm_seeds,
        rule: lossgp_core::search::compare::RULE,
        baselines,
        strongest_baseline: strongest(&state.baselines).map(|b| b.name.clone()),
        best,
        diversity,
        rank_correlation: rank_correlation(dir, &file.search)?,
        heldout: heldout_grid::summary(dir, state)?,
        confirmation: match &file.confirm {
            Some(confirm) => heldout::results(dir, file, state, &confirm.into())?,
            None => None,
        },
        plots,
        confirm_command: format!(
            "lossgp confirm {} --seeds 5",
            lossgp_exec::slurm::shell_quote(&dir.display().to_string())
        ),
    };
    Ok(summary)
}

/// The panels of `tasks.png` for a search over several tasks (none for one): each task's and the
/// weighted mean's paired difference to cross entropy, in points, per confirmation seed.
fn task_panels(names: &[String], weights: &[f64], best: &[Found], baselines: &[Reference]) -> Vec<task_plot::Panel> {
    let Some(ce) = baselines.iter().find(|b| b.name == "ce") else { return Vec::new() };
    if names.len() < 2 {
        return Vec::new();
    }
    // A loss's confirmation seeds on one task (`Some(t)`) or on the weighted mean (`None`).
    let seeds = |task: Option<usize>, per_task: &[TaskColumn], combined: &[f64]| -> Vec<f64> {
        match task {
            Some(t) => per_task.get(t).map(|c| c.confirmed.clone()).unwrap_or_default(),
            None => combined.to_vec(),
        }
    };
    let rows = |task: Option<usize>| -> Vec<task_plot::Row> {
        let reference = seeds(task, &ce.per_task, &ce.confirmed);
        let deltas = |per_task: &[TaskColumn], combined: &[f64]| -> Vec<f64> {
            seeds(task, per_task, combined).iter().zip(&reference).map(|(l, r)| 100.0 * (l - r)).collect()
        };
        let found = best
            .iter()
            .map(|f| task_plot::Row { label: format!("best-{}", f.rank), deltas: deltas(&f.per_task, &f.confirmed) });
        let references = baselines.iter().filter(|b| b.name != "ce").map(|b| task_plot::Row {
            label: match &b.tuning {
                Some(tuning) => format!("{} ({} {})", b.name, tuning.parameter, tuning.chosen),
                None => b.name.clone(),
            },
            deltas: deltas(&b.per_task, &b.confirmed),
        });
        found.chain(references).collect()
    };
    let mut panels: Vec<task_plot::Panel> = names
        .iter()
        .enumerate()
        .map(|(t, name)| task_plot::Panel { title: format!("{name} (weight {})", weights[t]), rows: rows(Some(t)) })
        .collect();
    panels.push(task_plot::Panel { title: "weighted mean (the fitness)".into(), rows: rows(None) });
    panels
}

/// A loss's scores on each task, against each baseline's on the same task (none for one task).
fn task_columns(
    names: &[String],
    scores: &[lossgp_core::search::TaskScore],
    baselines: &[lossgp_core::search::Baseline],
) -> Vec<TaskColumn> {
    scores
        .iter()
        .zip(names)
        .enumerate()
        .map(|(t, (score, name))| TaskColumn {
            task: name.clone(),
            fitness: score.fitness,
            confirmed: score.confirmed.clone(),
            confirmed_mean: mean(&score.confirmed),
            versus: baselines
                .iter()
                .filter_map(|b| Some((b.name.clone(), Paired::new(&score.confirmed, &b.per_task.get(t)?.confirmed)?)))
                .collect(),
        })
        .collect()
}

/// Spearman's correlation between the first rung's fitness and the full run's, over the
/// candidates of this run scored at both (on the search's seed).
fn rank_correlation(dir: &Path, config: &lossgp_core::search::SearchConfig) -> Result<Option<RankCorrelation>> {
    let rungs = &config.fidelity.rungs;
    if rungs.len() < 2 {
        return Ok(None);
    }
    let last = rungs.len() - 1;
    let mut scores: BTreeMap<String, [Option<f64>; 2]> = BTreeMap::new();
    for record in RunDir::create(dir)?.records()? {
        if let (Some(_), 0, Outcome::Evaluated { rung, scored, .. }) =
            (record.generation, record.replicate, &record.outcome)
        {
            let slot = if *rung == 0 {
                0
            } else if *rung == last {
                1
            } else {
                continue;
            };
            scores.entry(format!("{:?}", record.key)).or_default()[slot] = Some(scored.fitness);
        }
    }
    let pairs: Vec<(f64, f64)> = scores.values().filter_map(|[a, b]| Some(((*a)?, (*b)?))).collect();
    Ok(Some(RankCorrelation { budgets: [rungs[0], rungs[last]], pairs: pairs.len(), spearman: spearman(&pairs) }))
}

fn render(s: &Summary) -> String {
    let mut out = String::new();
    let state = match (&s.running, s.finished) {
        (Some(holder), _) if s.generations_done == 0 => format!("running ({holder}); no generation done yet"),
        (Some(holder), _) => format!("running ({holder}); generations 0 to {} done", s.generations_done - 1),
        (None, true) => "finished".to_owned(),
        // Generations are numbered from 0, as the search's log numbers them.
        (None, false) if s.generations_done == 0 => {
            "stopped before its first generation ended (continue with --resume)".to_owned()
        }
        (None, false) => format!("stopped after generation {} (continue with --resume)", s.generations_done - 1),
    };
    let _ = writeln!(out, "{}: {} generations of {}, {state}", s.run_dir.display(), s.generations_done, s.generations);
    let t = &s.totals;
    let screened: Vec<String> = t.screened.iter().map(|(stage, n)| format!("{n} {}", stage.name())).collect();
    let _ = writeln!(
        out,
        "{} new candidates in {} slots ({:.0}%); redrawn: {} known, {} screened out ({}); {} immigrants",
        t.new,
        t.offspring,
        100.0 * t.new as f64 / t.offspring.max(1) as f64,
        t.cache_hits,
        t.screened.values().sum::<usize>(),
        if screened.is_empty() { "none".into() } else { screened.join(", ") },
        t.immigrants,
    );
    let _ = writeln!(
        out,
        "{} trainings and {} confirmation trainings ({} from the shared cache), {} failed; {:.0}s, {:.0} trainings/hour",
        t.evaluations, t.confirmations, t.cached, t.failures, t.seconds, t.trainings_per_hour
    );
    if let Some(r) = &s.rank_correlation {
        let rho = r.spearman.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "rank correlation of the first rung ({}) with the full run: Spearman {rho} over {} losses",
            r.budgets[0], r.pairs
        );
    }
    let seeds = s.confirm_seeds;
    for b in &s.baselines {
        let confirmed = match (b.confirmed_mean, b.confirmed_sd) {
            (Some(m), Some(sd)) => format!(", {m:.4} ± {sd:.4} on {seeds} other seeds"),
            (Some(m), None) => format!(", {m:.4} on {seeds} other seed"),
            _ => String::new(),
        };
        let mark = if s.strongest_baseline.as_ref() == Some(&b.name) { " (strongest)" } else { "" };
        let _ =
            writeln!(out, "baseline {:<8} {:.4} on the search seed{confirmed}{mark}  {}", b.name, b.fitness, b.loss);
        if let Some(t) = &b.tuning {
            let tried: Vec<String> = t.tried.iter().map(|x| format!("{} {:.4}", x.value, x.score())).collect();
            let _ = writeln!(
                out,
                "{:>17} {} {} chosen on the {} of: {}",
                "",
                t.parameter,
                t.chosen,
                t.chosen_on,
                tried.join(", ")
            );
        }
    }
    if !s.best.is_empty() {
        let names: Vec<&String> = s.best[0].versus.keys().collect();
        let heads: Vec<String> = names
            .iter()
            .map(|n| {
                let mark = if s.strongest_baseline.as_ref() == Some(*n) { "*" } else { "" };
                format!("Δ vs {n}{mark} [95% CI]")
            })
            .collect();
        let _ = writeln!(
            out,
            "\n{:>4} {:>16} {:>7}  {}  {:>4} {:>5}  loss",
            "rank",
            "confirmed",
            "search",
            heads.iter().map(|h| format!("{h:<34}")).collect::<String>(),
            "gen",
            "nodes"
        );
    }
    for f in &s.best {
        let confirmed = match (f.confirmed_mean, f.confirmed_sd) {
            (Some(m), Some(sd)) => format!("{m:.4} ± {sd:.4}"),
            (Some(m), None) => format!("{m:.4}"),
            _ => "-".to_owned(),
        };
        let versus: String = f
            .versus
            .values()
            .map(|v| {
                let text = match &v.paired {
                    Some(p) if p.differences.len() >= 2 => format!(
                        "{:+.2} [{:+.2}, {:+.2}] {}",
                        100.0 * p.mean,
                        100.0 * p.interval[0],
                        100.0 * p.interval[1],
                        p.verdict_text()
                    ),
                    _ => format!("{:+.2} (search seed only)", 100.0 * v.search_seed),
                };
                format!("{text:<34}")
            })
            .collect();
        let _ = writeln!(
            out,
            "{:>4} {:>16} {:>7.4}  {versus}  {:>4} {:>5}  {}",
            f.rank,
            confirmed,
            f.fitness,
            f.generation,
            f.size,
            f.shown()
        );
        if f.shown() != f.loss {
            let _ = writeln!(out, "{:>32}  as found: {}", "", f.loss);
        } else if f.simplified != f.loss {
            let _ = writeln!(out, "{:>32}  = {} (simplified; trains differently in floating point)", "", f.simplified);
        }
    }
    if !s.best.is_empty() {
        let _ = writeln!(out, "Δ in points (fitness x 100); * the strongest baseline; {}", s.rule);
        let _ = writeln!(
            out,
            "these verdicts are on the search's own confirmation seeds, which chose the hall of fame and so favour \
             it; seeds it never used tell: {}",
            s.confirm_command
        );
    }
    if !s.best.is_empty() {
        let _ = writeln!(out, "\nwhat each loss is (lossgp loss analyze; one sample, the other classes equal):");
        let baselines = s.baselines.iter().map(|b| (b.name.clone(), &b.analysis));
        let found = s.best.iter().map(|f| (format!("best-{}", f.rank), &f.analysis));
        for (name, analysis) in found.chain(baselines) {
            if let Some(a) = analysis {
                let _ = writeln!(out, "{name:>9}  {}", crate::commands::loss_analysis::analysis_line(a));
            }
        }
    }
    if !s.tasks.is_empty() {
        render_tasks(&mut out, s);
    }
    if let Some(heldout) = &s.heldout {
        heldout_grid::render(&mut out, heldout);
    }
    if let Some(confirmation) = &s.confirmation {
        let _ = write!(
            out,
            "\nheld-out confirmation ([confirm]): the best losses and the baselines again, on seeds the search never used\n{}",
            heldout::render(confirmation)
        );
    }
    if let Some(f) = s.best.first() {
        if let Some(analysis) = &f.analysis {
            let _ = write!(
                out,
                "\nwhat the best is (lossgp loss analyze):\n{}",
                crate::commands::loss_analysis::render_analysis(analysis)
            );
        }
        // With a held-out confirmation, the last lines give the leader in every format.
        if s.confirmation.is_none() {
            let _ = write!(out, "\nthe best, in LaTeX:\n  {}\nand in PyTorch:\n{}", f.latex, indent(&f.pytorch, 2));
        }
        let _ = writeln!(
            out,
            "(every loss listed, with its LaTeX and PyTorch code, is in {}; as a table in {})",
            s.run_dir.join(SUMMARY).display(),
            s.run_dir.join(hall_of_fame::FILE).display()
        );
    }
    let _ = writeln!(out, "plots: {}", s.plots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    if let Some(confirmation) = &s.confirmation {
        render_discovery(&mut out, s, confirmation);
    }
    out
}

/// The last lines of a search with a held-out confirmation: whether its leader (`best-1`, the
/// one comparison decided in advance, so that no choice among several inflates the verdict)
/// beats cross entropy on seeds the search never used, and the leader in every format.
fn render_discovery(out: &mut String, s: &Summary, c: &heldout::Confirmed) {
    let reference = "ce";
    let points = |p: &Paired| {
        format!("{:+.2} points [{:+.2}, {:+.2}]", 100.0 * p.mean, 100.0 * p.interval[0], 100.0 * p.interval[1])
    };
    let seeds = c.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
    let (Some(leader), Some(ce)) =
        (c.losses.iter().find(|e| e.name == "best-1"), c.losses.iter().find(|e| e.name == reference))
    else {
        return;
    };
    let Some(paired) = leader.versus.get(reference) else { return };
    let means = format!("{:.2}% against {:.2}%", 100.0 * leader.mean, 100.0 * ce.mean);
    if paired.verdict == lossgp_core::search::Verdict::Better {
        let _ = writeln!(
            out,
            "\nfound: a loss better than cross entropy on {} seeds the search never used ({seeds}): {} ({}; {means})",
            c.seeds.len(),
            points(paired),
            paired.verdict_text(),
        );
    } else {
        let _ = writeln!(
            out,
            "\nnot confirmed: the search's leader is not better than cross entropy on {} seeds it never used ({seeds}): \
             {} ({}; {means}); a longer search (--resume with more --generations) may find one",
            c.seeds.len(),
            points(paired),
            paired.verdict_text(),
        );
    }
    for (name, p) in leader.versus.iter().filter(|(name, _)| *name != reference) {
        let _ = writeln!(out, "  against {name}: {} ({})", points(p), p.verdict_text());
    }
    match s.best.first() {
        Some(f) => {
            let _ = writeln!(out, "  the loss:  {}", f.shown());
            let _ = writeln!(out, "  LaTeX:     {}", f.latex);
            let _ = write!(out, "  PyTorch:\n{}", indent(&f.pytorch, 4));
        }
        None => {
            let _ = writeln!(out, "  the loss:  {}", leader.loss);
        }
    }
}

/// The per-task table of a search over several tasks: each loss's mean over the confirmation
/// seeds on each task, with its paired Δ to cross entropy (or the first baseline) there.
fn render_tasks(out: &mut String, s: &Summary) {
    let _ = writeln!(out, "\nper task (fitness = the weighted mean over them):");
    for t in &s.tasks {
        let _ = writeln!(out, "  {} (weight {}): {}", t.name, t.weight, t.description);
    }
    let reference = s.baselines.iter().find(|b| b.name == "ce").or(s.baselines.first()).map(|b| b.name.clone());
    let heads: Vec<String> = s.tasks.iter().map(|t| format!("{:<30}", t.name)).collect();
    let _ = writeln!(out, "{:>9}  {}", "", heads.join(" "));
    let cell = |c: &TaskColumn| {
        let mean = c.confirmed_mean.map_or_else(|| format!("{:.4} (search seed)", c.fitness), |m| format!("{m:.4}"));
        let versus = reference
            .as_ref()
            .and_then(|r| c.versus.get(r).map(|p| format!(" {:+.2} {} vs {r}", 100.0 * p.mean, p.verdict_text())))
            .unwrap_or_default();
        format!("{:<30}", format!("{mean}{versus}"))
    };
    for f in &s.best {
        let cells: Vec<String> = f.per_task.iter().map(cell).collect();
        let _ = writeln!(out, "{:>9}  {}", format!("best-{}", f.rank), cells.join(" "));
    }
    for b in &s.baselines {
        let cells: Vec<String> = b.per_task.iter().map(cell).collect();
        let _ = writeln!(out, "{:>9}  {}", b.name, cells.join(" "));
    }
}

/// `lossgp report DIR`: the summary and plots of a run, finished or not.
pub fn report(dir: &Path, json: bool) -> Result<()> {
    if crate::commands::transfer::is_transfer_run(dir) {
        return crate::commands::transfer::report(dir, json);
    }
    let (file, state) = open_run(dir, "report")?;
    let running = RunDir::create(dir)?.holder();
    let mut summary = finish(dir, &state, &file)?;
    summary.running = running;
    emit(json, &summary, render)
}
