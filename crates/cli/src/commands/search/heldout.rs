//! `lossgp confirm DIR`: the best losses of a search and its baselines re-trained on seeds
//! that the search never used, compared seed by seed. What the search's own confirmation
//! cannot give: its seeds chose the hall of fame (and a tuned baseline's value), so only other
//! seeds tell whether the best loss really beats the baselines. Each loss is compared with
//! every baseline and with the strongest of them on these seeds.
//!
//! With `--epochs-factor K` it is also a **horizon check**: the same losses trained K times
//! longer than the search trained them, on the same seeds, and Spearman's rank correlation
//! between the short and the long runs' means. Short trainings reward losses that speed up
//! early training whether or not they help a run trained to the end (short-horizon bias);
//! a low correlation says the search's ranking does not hold at the longer horizon.
//!
//! Results go to `DIR/heldout.jsonl`, one line per training (with its epochs factor), so that
//! a second call trains only what is missing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lossgp_core::Loss;
use lossgp_core::search::{Job, Paired, State, mean_sd, spearman};
use serde::{Deserialize, Serialize};

use crate::output::emit;

/// Attempts after a failed held-out training whose failure is worth retrying.
const CONFIRM_RETRIES: u32 = 2;

/// The held-out trainings of a run directory.
const HELDOUT: &str = "heldout.jsonl";

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The search's run directory.
    dir: PathBuf,
    /// How many seeds to train on: seeds 101, 102, ... (seed r trains with `[train] seed + r`),
    /// which no search uses. Five by default: on the search benchmark a good loss's paired
    /// difference to NGL varies by about one point from seed to seed, and three seeds put its
    /// mean 0.6 to 0.7 points off five. As in `transfer`, `--seeds N` is a number of seeds.
    #[arg(long, value_name = "N", value_parser = parse_seed_count, conflicts_with = "seed_numbers")]
    seeds: Option<usize>,
    /// The seed numbers themselves, comma-separated (e.g. `--seed-numbers 101,103`); they must
    /// lie above the search's `confirm_seeds`, which the search itself trained on.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    seed_numbers: Option<Vec<usize>>,
    /// How many of the hall of fame's best losses to re-train.
    #[arg(long, value_name = "N", default_value_t = 1)]
    top: usize,
    /// Trainings at once [default: the run's `[run] workers`].
    #[arg(long)]
    workers: Option<usize>,
    /// Where the trainings run [default: the run's `[run] evaluator`]: `threads`,
    /// `processes`, `slurm` or one a plugin adds.
    #[arg(long, value_name = "NAME")]
    evaluator: Option<String>,
    /// The horizon check: also train every loss K times longer than the search did (`[train]
    /// epochs` and `max_steps` times K) and report the rank correlation between the short and
    /// the long runs.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    epochs_factor: Option<u32>,
}

/// One held-out training: a line of `heldout.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    loss: String,
    seed: usize,
    /// The epochs factor it trained with (1: the search's own length).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    epochs_factor: u32,
    /// The task, in a search over several (0 for the only one).
    #[serde(default, skip_serializing_if = "is_zero")]
    task: usize,
    /// The fitness; `null` (a run that could not be scored) reads as 0, the worst.
    #[serde(deserialize_with = "worst_if_null")]
    fitness: f64,
    /// Why it could not be scored, where it failed in a way another attempt would repeat
    /// (it then counts as the worst, 0, as in the search). Failures worth another attempt
    /// are not written: the next `confirm` trains them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
}

fn one() -> u32 {
    1
}

fn is_one(factor: &u32) -> bool {
    *factor == 1
}

fn is_zero(task: &usize) -> bool {
    *task == 0
}

fn worst_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.filter(|f| f.is_finite()).unwrap_or(0.0))
}

#[derive(Debug, Serialize)]
pub struct Confirmed {
    pub(super) run_dir: PathBuf,
    pub(super) seeds: Vec<usize>,
    /// The search's length (`[train] epochs`) the first results are trained at; absent where
    /// the search's command decides its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) epochs: Option<usize>,
    pub(super) losses: Vec<Entry>,
    /// The baseline with the best mean on these seeds.
    pub(super) strongest: Option<String>,
    /// The horizon check, with `--epochs-factor`.
    pub(super) horizon: Option<Horizon>,
    /// For a search over several tasks (where `losses` holds the weighted mean): each task's
    /// results at the search's length, and with `--epochs-factor`, at the longer one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) per_task: Vec<TaskResults>,
    pub(super) rule: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct Entry {
    /// `best-1`, ... or a baseline's name.
    pub(super) name: String,
    pub(super) loss: String,
    pub(super) fitness: Vec<f64>,
    pub(super) mean: f64,
    pub(super) sd: f64,
    /// Against each baseline, paired by seed.
    pub(super) versus: BTreeMap<String, Paired>,
}

/// The results on one task of a search over several.
#[derive(Debug, Serialize)]
pub(super) struct TaskResults {
    task: String,
    losses: Vec<Entry>,
    strongest: Option<String>,
    /// With `--epochs-factor`: trained longer, and Spearman's correlation short against long.
    horizon: Option<Horizon>,
}

/// The same losses trained `factor` times longer.
#[derive(Debug, Serialize)]
pub(super) struct Horizon {
    factor: u32,
    epochs: usize,
    /// Spearman's correlation of the losses' means, short against long (none for fewer than
    /// three losses or a constant side).
    spearman: Option<f64>,
    /// The losses in the order of `losses`, trained long.
    losses: Vec<Entry>,
    strongest: Option<String>,
}

/// The most seeds `--seeds` takes: more is almost surely a seed number meant for
/// `--seed-numbers` (the old meaning of `--seeds`).
const MOST_SEEDS: usize = 50;

/// `--seeds N`: a number of seeds, refusing the old spelling (a list of seed numbers) with the
/// option that now takes it.
fn parse_seed_count(text: &str) -> Result<usize, String> {
    let moved = |example: &str| {
        format!(
            "--seeds is how many seeds to train on (--seeds 5 trains seeds 101 to 105, as in transfer); \
             give seed numbers with --seed-numbers {example}"
        )
    };
    if text.contains(',') {
        return Err(moved(text));
    }
    match text.trim().parse::<usize>() {
        Ok(0) => Err("--seeds 0 trains nothing: give how many seeds, e.g. --seeds 5".into()),
        Ok(n) if n > MOST_SEEDS => Err(format!(
            "--seeds {n} would train every loss {n} times; {}",
            moved(text).split("; ").nth(1).unwrap_or_default()
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("--seeds takes a number of seeds, e.g. --seeds 5, not `{text}`")),
    }
}

impl ConfirmArgs {
    /// What to confirm, and where to run it.
    fn plan(&self) -> Plan {
        let seeds = match (&self.seed_numbers, self.seeds) {
            (Some(numbers), _) => numbers.clone(),
            (None, count) => (101..101 + count.unwrap_or(5)).collect(),
        };
        Plan {
            seeds,
            top: self.top,
            epochs_factor: self.epochs_factor,
            workers: self.workers,
            evaluator: self.evaluator.clone(),
        }
    }
}

/// What a held-out confirmation trains: `lossgp confirm`'s options, or a search's `[confirm]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Seed numbers above the search's confirmation seeds.
    pub seeds: Vec<usize>,
    /// How many of the hall of fame's best losses.
    pub top: usize,
    /// The horizon check's factor, if any.
    pub epochs_factor: Option<u32>,
    /// Trainings at once [default: the run's `[run] workers`].
    pub workers: Option<usize>,
    /// The evaluator [default: the run's].
    pub evaluator: Option<String>,
}

impl From<&super::config::ConfirmConfig> for Plan {
    /// A search's `[confirm]`, run through the search's own evaluator.
    fn from(confirm: &super::config::ConfirmConfig) -> Plan {
        Plan {
            seeds: confirm.seeds.clone(),
            top: confirm.top,
            epochs_factor: confirm.epochs_factor,
            workers: None,
            evaluator: None,
        }
    }
}

pub fn confirm(args: ConfirmArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    let dir = &args.dir;
    // Held while training: a search or another confirm on the directory waits its turn.
    let _lock = lossgp_core::search::RunDir::create(dir)?.lock()?;
    let (file, state) = super::run_dir::open_run(dir, "confirm")?;
    let confirmed = train(dir, &file, &state, &args.plan(), data_dir)?;
    emit(json, &confirmed, render)
}

/// Checks a plan against the search it confirms.
fn check(dir: &Path, file: &super::SearchFile, state: &State, plan: &Plan) -> Result<()> {
    file.check_heldout_seeds(&plan.seeds, "--seed-numbers", "--seed-numbers 101,102,103")?;
    if state.hall_of_fame.is_empty() {
        bail!("{} has an empty hall of fame: nothing to confirm yet", dir.display());
    }
    if plan.top == 0 {
        bail!("--top 0 confirms nothing: give the number of best losses to re-train, e.g. --top 3");
    }
    // A training command decides its own length; lossgp's [train] epochs mean nothing to it.
    if commands_only(file) && plan.epochs_factor.is_some() {
        bail!(
            "--epochs-factor scales [train] epochs, which a training command does not read; give the command a \
             longer run of its own (a flag of your script) in a copy of the search's configuration instead"
        );
    }
    Ok(())
}

fn commands_only(file: &super::SearchFile) -> bool {
    file.task.all().iter().all(|t| t.fitness == super::config::FitnessKind::Command)
}

/// The losses a plan trains: the hall of fame's best (`best-1`, ...), then the baselines as
/// the search scored them (a tuned one at the value it chose).
/// Losses by name.
type Named = Vec<(String, Loss)>;

fn plan_losses(file: &super::SearchFile, state: &State, plan: &Plan) -> (Named, Named) {
    let mut losses: Vec<(String, Loss)> = state
        .hall_of_fame
        .iter()
        .take(plan.top)
        .enumerate()
        .map(|(i, ind)| (format!("best-{}", i + 1), Loss::new(ind.expr.clone(), file.search.reduction)))
        .collect();
    let baselines: Vec<(String, Loss)> = state.baselines.iter().map(|b| (b.name.clone(), b.loss.clone())).collect();
    losses.extend(baselines.iter().cloned());
    (losses, baselines)
}

fn task_set(file: &super::SearchFile) -> lossgp_core::search::TaskSet {
    lossgp_core::search::TaskSet {
        tasks: file
            .task
            .all()
            .iter()
            .map(|t| lossgp_core::search::TaskInfo { name: t.name(), fingerprint: String::new(), weight: t.weight })
            .collect(),
    }
}

/// Trains what `heldout.jsonl` lacks of a plan, through the run's evaluator, and compares.
/// The caller holds the run directory's lock.
pub fn train(
    dir: &Path,
    file: &super::SearchFile,
    state: &State,
    plan: &Plan,
    data_dir: Option<&Path>,
) -> Result<Confirmed> {
    check(dir, file, state, plan)?;
    let (losses, _) = plan_losses(file, state, plan);
    let factors: Vec<u32> = std::iter::once(1).chain(plan.epochs_factor.filter(|k| *k > 1)).collect();
    let tasks = task_set(file);
    let heldout = dir.join(HELDOUT);
    let mut done = read_done(&heldout)?;
    for &factor in &factors {
        let missing: Vec<Job> = losses
            .iter()
            .flat_map(|(_, loss)| plan.seeds.iter().map(move |&seed| (loss, seed)))
            .flat_map(|(loss, seed)| (0..tasks.len()).map(move |task| (loss, seed, task)))
            .filter(|(loss, seed, task)| !done.contains_key(&(loss.to_string(), *seed, factor, *task)))
            .enumerate()
            .map(|(id, (loss, seed, task))| Job {
                id,
                loss: loss.clone(),
                budget: 1.0,
                attempt: 1,
                replicate: seed,
                task,
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let longer = longer(file, factor)?;
        eprintln!(
            "confirming in {}: {} trainings (x{factor} the search's length) on seeds {:?}",
            dir.display(),
            missing.len(),
            plan.seeds
        );
        // Workers elsewhere build the fitness from this folder's configuration.
        let folder = dir.join(if factor == 1 { "confirm".to_owned() } else { format!("confirm-x{factor}") });
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        lossgp_core::files::write_atomic(&folder.join(super::run_dir::CONFIG), &longer.to_toml()?)?;
        let mut settings = file.run.settings.clone();
        settings.workers = plan.workers.unwrap_or(settings.workers);
        settings.evaluator = plan.evaluator.clone().unwrap_or(settings.evaluator);
        let fitness = longer.fitness(&folder, data_dir)?;
        let mut evaluator = crate::run_table::evaluator(&settings, &folder, fitness, data_dir)?;
        let pending = missing.len();
        evaluator.submit(missing);
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&heldout)
            .with_context(|| format!("opening {}", heldout.display()))?;
        let mut finished = 0;
        let mut given_up: Vec<String> = Vec::new();
        while let Some((job, result)) = evaluator.next() {
            let (fitness, failure) = match result {
                Ok(scored) if scored.fitness.is_finite() => (scored.fitness, None),
                Ok(_) => (0.0, None),
                Err(error) if error.is_retryable() && job.attempt <= CONFIRM_RETRIES => {
                    eprintln!("  seed {} (attempt {}) failed, trying again: {error}", job.replicate, job.attempt);
                    evaluator.submit(vec![Job { attempt: job.attempt + 1, ..job }]);
                    continue;
                }
                // Worth another attempt, but out of attempts: not written, so that the next
                // confirm trains it again.
                Err(error) if error.is_retryable() => {
                    finished += 1;
                    eprintln!(
                        "  seed {} of {} failed after {} attempts: {error}",
                        job.replicate, job.loss, job.attempt
                    );
                    given_up.push(format!("seed {} of {}: {error}", job.replicate, job.loss));
                    continue;
                }
                // As in the search: a training that cannot be scored, and would not be on
                // another attempt, counts as the worst.
                Err(error) => {
                    eprintln!("  seed {} of {} failed, scored 0 (the worst): {error}", job.replicate, job.loss);
                    (0.0, Some(error.message().to_owned()))
                }
            };
            finished += 1;
            let line = Line {
                loss: job.loss.to_string(),
                seed: job.replicate,
                epochs_factor: factor,
                task: job.task,
                fitness,
                failure,
            };
            writeln!(out, "{}", lossgp_core::json::to_string(&line)?)?;
            out.sync_data()?;
            let on = if tasks.len() > 1 { format!(" on {}", tasks.tasks[job.task].name) } else { String::new() };
            eprintln!("  seed {}{on} (x{factor}): {:.4}  {}", job.replicate, fitness, job.loss);
            done.insert((line.loss, line.seed, factor, job.task), fitness);
        }
        if let Some(first) = given_up.first() {
            bail!(
                "{} held-out training(s) failed after {} attempts, the first: {first}; run confirm again to train them (the others are kept)",
                given_up.len(),
                CONFIRM_RETRIES + 1
            );
        }
        if finished < pending {
            let why = evaluator.fault().unwrap_or_else(|| "the evaluator stopped".into());
            bail!(
                "{} of {pending} held-out trainings did not finish: {why}; run confirm again to train them",
                pending - finished
            );
        }
    }
    compare(dir, file, state, plan, &done)?.context("a held-out training is missing after every one finished")
}

/// A plan's results from `heldout.jsonl` alone, where every training of it is there (for
/// `lossgp report`); none while some are missing.
pub fn results(dir: &Path, file: &super::SearchFile, state: &State, plan: &Plan) -> Result<Option<Confirmed>> {
    if check(dir, file, state, plan).is_err() {
        return Ok(None);
    }
    compare(dir, file, state, plan, &read_done(&dir.join(HELDOUT))?)
}

/// Compares every loss of a plan with every baseline, paired by seed; none where a training
/// is missing.
fn compare(
    dir: &Path,
    file: &super::SearchFile,
    state: &State,
    plan: &Plan,
    done: &BTreeMap<(String, usize, u32, usize), f64>,
) -> Result<Option<Confirmed>> {
    let (losses, baselines) = plan_losses(file, state, plan);
    let tasks = task_set(file);
    let task_configs = file.task.all();
    let factors: Vec<u32> = std::iter::once(1).chain(plan.epochs_factor.filter(|k| *k > 1)).collect();
    let complete = factors.iter().all(|&factor| {
        losses.iter().all(|(_, loss)| {
            plan.seeds.iter().all(|&s| (0..tasks.len()).all(|t| done.contains_key(&(loss.to_string(), s, factor, t))))
        })
    });
    if !complete {
        return Ok(None);
    }
    // `task`: one task's results, or none for their weighted mean.
    let entries = |factor: u32, task: Option<usize>| -> Vec<Entry> {
        let scores = |loss: &Loss| -> Vec<f64> {
            let at = |s: usize, t: usize| done[&(loss.to_string(), s, factor, t)];
            plan.seeds
                .iter()
                .map(|&s| match task {
                    Some(t) => at(s, t),
                    None => tasks.combine(&(0..tasks.len()).map(|t| at(s, t)).collect::<Vec<_>>()),
                })
                .collect()
        };
        losses
            .iter()
            .map(|(name, loss)| {
                let fitness = scores(loss);
                let (mean, sd) = mean_sd(&fitness).unwrap_or((0.0, 0.0));
                let versus = baselines
                    .iter()
                    .filter(|(other, _)| other != name)
                    .filter_map(|(other, b)| Some((other.clone(), Paired::new(&fitness, &scores(b))?)))
                    .collect();
                Entry { name: name.clone(), loss: loss.to_string(), fitness, mean, sd, versus }
            })
            .collect()
    };
    let horizon = |short: &[Entry], task: Option<usize>| {
        plan.epochs_factor.filter(|k| *k > 1).map(|factor| {
            let long = entries(factor, task);
            let pairs: Vec<(f64, f64)> = short.iter().zip(&long).map(|(s, l)| (s.mean, l.mean)).collect();
            let epochs =
                task.map_or(Ok(file.train.epochs), |t| task_configs[t].train_config(&file.train).map(|c| c.epochs));
            Horizon {
                factor,
                epochs: epochs.unwrap_or(file.train.epochs) * factor as usize,
                spearman: spearman(&pairs),
                strongest: strongest(&long, &baselines),
                losses: long,
            }
        })
    };
    let per_task = if tasks.len() > 1 {
        (0..tasks.len())
            .map(|t| {
                let losses = entries(1, Some(t));
                TaskResults {
                    task: tasks.tasks[t].name.clone(),
                    strongest: strongest(&losses, &baselines),
                    horizon: horizon(&losses, Some(t)),
                    losses,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let short = entries(1, None);
    let horizon = horizon(&short, None);
    Ok(Some(Confirmed {
        run_dir: dir.to_owned(),
        seeds: plan.seeds.clone(),
        epochs: (!commands_only(file)).then_some(file.train.epochs),
        strongest: strongest(&short, &baselines),
        losses: short,
        horizon,
        per_task,
        rule: lossgp_core::search::compare::RULE,
    }))
}

/// The search's settings with every task's training `factor` times longer: `epochs` and
/// `max_steps`, in `[train]` and in each task's own `train` table.
fn longer(file: &super::SearchFile, factor: u32) -> Result<super::SearchFile> {
    let mut longer = file.clone();
    longer.train.epochs *= factor as usize;
    longer.train.max_steps = longer.train.max_steps.map(|m| m * u64::from(factor));
    let scale = |table: &mut toml::Table| -> Result<()> {
        for key in ["epochs", "max_steps"] {
            if let Some(value) = table.get_mut(key) {
                let n = value.as_integer().with_context(|| format!("a task's train.{key} is not a whole number"))?;
                *value = toml::Value::Integer(n * i64::from(factor));
            }
        }
        Ok(())
    };
    match &mut longer.task {
        super::config::Tasks::One(task) => scale(&mut task.train)?,
        super::config::Tasks::Many(tasks) => tasks.iter_mut().try_for_each(|t| scale(&mut t.train))?,
    }
    Ok(longer)
}

/// What `heldout.jsonl` holds: fitness by (loss, seed, epochs factor). A line that cannot be
/// read (a write cut short by a kill) is skipped with a warning: it is trained again.
fn read_done(path: &Path) -> Result<BTreeMap<(String, usize, u32, usize), f64>> {
    let mut done = BTreeMap::new();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match lossgp_core::json::from_str::<Line>(line) {
            Ok(line) => {
                done.insert((line.loss, line.seed, line.epochs_factor, line.task), line.fitness);
            }
            Err(e) => eprintln!(
                "warning: {} line {} is not a training ({e}); it is trained again",
                path.display(),
                number + 1
            ),
        }
    }
    Ok(done)
}

/// The baseline with the best mean among `entries` (the first among equals).
fn strongest(entries: &[Entry], baselines: &[(String, Loss)]) -> Option<String> {
    entries
        .iter()
        .filter(|e| baselines.iter().any(|(name, _)| *name == e.name))
        .fold(None, |best: Option<&Entry>, e| match best {
            Some(b) if b.mean >= e.mean => Some(b),
            _ => Some(e),
        })
        .map(|e| e.name.clone())
}

pub(super) fn render(c: &Confirmed) -> String {
    let mut out = String::new();
    let length = c.epochs.map(|e| format!(", {e} epoch(s)")).unwrap_or_default();
    let _ = writeln!(out, "{}: held-out seeds {:?}{length}", c.run_dir.display(), c.seeds);
    render_entries(&mut out, &c.losses, c.strongest.as_deref());
    if let Some(h) = &c.horizon {
        let rho = h.spearman.map_or("n/a".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "\nhorizon check: {} epoch(s) (x{}); Spearman's rank correlation of the means, {} against {} epoch(s): {rho} over {} losses",
            h.epochs,
            h.factor,
            c.epochs.unwrap_or(h.epochs / h.factor as usize),
            h.epochs,
            h.losses.len()
        );
        render_entries(&mut out, &h.losses, h.strongest.as_deref());
    }
    for t in &c.per_task {
        let _ = writeln!(out, "\non task {}:", t.task);
        render_entries(&mut out, &t.losses, t.strongest.as_deref());
        if let Some(h) = &t.horizon {
            let rho = h.spearman.map_or("n/a".to_owned(), |r| format!("{r:.2}"));
            let _ = writeln!(out, "trained x{} longer (Spearman short against long: {rho}):", h.factor);
            render_entries(&mut out, &h.losses, h.strongest.as_deref());
        }
    }
    let _ = writeln!(out, "Δ in points; {}", c.rule);
    out
}

fn render_entries(out: &mut String, entries: &[Entry], strongest: Option<&str>) {
    if let Some(strongest) = strongest {
        let _ = writeln!(out, "strongest baseline on these seeds: {strongest}");
    }
    for e in entries {
        let versus: Vec<String> = e
            .versus
            .iter()
            .map(|(name, p)| {
                let mark = if Some(name.as_str()) == strongest { "*" } else { "" };
                format!(
                    "vs {name}{mark} {:+.2} [{:+.2}, {:+.2}] {}",
                    100.0 * p.mean,
                    100.0 * p.interval[0],
                    100.0 * p.interval[1],
                    p.verdict_text()
                )
            })
            .collect();
        let _ = writeln!(out, "{:<9} {:.4} ± {:.4}  {}  {}", e.name, e.mean, e.sd, versus.join("; "), e.loss);
    }
}
