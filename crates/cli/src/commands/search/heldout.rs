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
use lossgp_core::search::{Job, Paired, mean_sd, spearman};
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
    /// Seed numbers to train on, comma-separated: seed r trains with `[train] seed + r`. They
    /// must lie above the search's `confirm_seeds` (which the search itself used). Five by
    /// default: on the search benchmark a good loss's paired difference to NGL varies by about
    /// one point from seed to seed, and three seeds put its mean 0.6 to 0.7 points off five.
    #[arg(long, value_delimiter = ',', default_values_t = [101, 102, 103, 104, 105])]
    seeds: Vec<usize>,
    /// How many of the hall of fame's best losses to re-train.
    #[arg(long, default_value_t = 1)]
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
struct Confirmed {
    run_dir: PathBuf,
    seeds: Vec<usize>,
    /// The search's length (`[train] epochs`) the first results are trained at; absent where
    /// the search's command decides its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<usize>,
    losses: Vec<Entry>,
    /// The baseline with the best mean on these seeds.
    strongest: Option<String>,
    /// The horizon check, with `--epochs-factor`.
    horizon: Option<Horizon>,
    /// For a search over several tasks (where `losses` holds the weighted mean): each task's
    /// results at the search's length, and with `--epochs-factor`, at the longer one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    per_task: Vec<TaskResults>,
    rule: &'static str,
}

#[derive(Debug, Serialize)]
struct Entry {
    /// `best-1`, ... or a baseline's name.
    name: String,
    loss: String,
    fitness: Vec<f64>,
    mean: f64,
    sd: f64,
    /// Against each baseline, paired by seed.
    versus: BTreeMap<String, Paired>,
}

/// The results on one task of a search over several.
#[derive(Debug, Serialize)]
struct TaskResults {
    task: String,
    losses: Vec<Entry>,
    strongest: Option<String>,
    /// With `--epochs-factor`: trained longer, and Spearman's correlation short against long.
    horizon: Option<Horizon>,
}

/// The same losses trained `factor` times longer.
#[derive(Debug, Serialize)]
struct Horizon {
    factor: u32,
    epochs: usize,
    /// Spearman's correlation of the losses' means, short against long (none for fewer than
    /// three losses or a constant side).
    spearman: Option<f64>,
    /// The losses in the order of `losses`, trained long.
    losses: Vec<Entry>,
    strongest: Option<String>,
}

pub fn confirm(args: ConfirmArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    let dir = &args.dir;
    // Held while training: a search or another confirm on the directory waits its turn.
    let _lock = lossgp_core::search::RunDir::create(dir)?.lock()?;
    let (file, state) = super::run_dir::open_run(dir, "confirm")?;
    let distinct: std::collections::BTreeSet<_> = args.seeds.iter().collect();
    if args.seeds.is_empty() || distinct.len() != args.seeds.len() {
        bail!("--seeds needs distinct seed numbers, e.g. --seeds 101,102,103");
    }
    use lossgp_core::limits::{MAX_SEEDS, at_most};
    at_most("--seeds", args.seeds.len(), MAX_SEEDS, "each seed trains every loss again; 3 to 10 is usual")
        .map_err(anyhow::Error::msg)?;
    if let Some(seed) = args.seeds.iter().find(|s| **s <= file.search.confirm_seeds) {
        bail!(
            "seed {seed} is one the search itself trained on (its confirmation seeds are 1 to {}); choose seeds above it, e.g. --seeds 101,102,103",
            file.search.confirm_seeds
        );
    }
    if state.hall_of_fame.is_empty() {
        bail!("{} has an empty hall of fame: nothing to confirm yet", dir.display());
    }
    if args.top == 0 {
        bail!("--top 0 confirms nothing: give the number of best losses to re-train, e.g. --top 3");
    }
    // A training command decides its own length; lossgp's [train] epochs mean nothing to it.
    let commands_only = file.task.all().iter().all(|t| t.fitness == super::config::FitnessKind::Command);
    if commands_only && args.epochs_factor.is_some() {
        bail!(
            "--epochs-factor scales [train] epochs, which a training command does not read; give the command a \
             longer run of its own (a flag of your script) in a copy of the search's configuration instead"
        );
    }
    let mut losses: Vec<(String, Loss)> = state
        .hall_of_fame
        .iter()
        .take(args.top)
        .enumerate()
        .map(|(i, ind)| (format!("best-{}", i + 1), Loss::new(ind.expr.clone(), file.search.reduction)))
        .collect();
    // The baselines as the search scored them: a tuned one at the value it chose.
    let baselines: Vec<(String, Loss)> = state.baselines.iter().map(|b| (b.name.clone(), b.loss.clone())).collect();
    losses.extend(baselines.iter().cloned());

    let factors: Vec<u32> = std::iter::once(1).chain(args.epochs_factor.filter(|k| *k > 1)).collect();
    let task_configs = file.task.all();
    let tasks = lossgp_core::search::TaskSet {
        tasks: task_configs
            .iter()
            .map(|t| lossgp_core::search::TaskInfo { name: t.name(), fingerprint: String::new(), weight: t.weight })
            .collect(),
    };
    let heldout = dir.join(HELDOUT);
    let mut done = read_done(&heldout)?;
    for &factor in &factors {
        let missing: Vec<Job> = losses
            .iter()
            .flat_map(|(_, loss)| args.seeds.iter().map(move |&seed| (loss, seed)))
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
        let longer = longer(&file, factor)?;
        eprintln!(
            "confirming in {}: {} trainings (x{factor} the search's length) on seeds {:?}",
            dir.display(),
            missing.len(),
            args.seeds
        );
        // Workers elsewhere build the fitness from this folder's configuration.
        let folder = dir.join(if factor == 1 { "confirm".to_owned() } else { format!("confirm-x{factor}") });
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        lossgp_core::files::write_atomic(&folder.join(super::run_dir::CONFIG), &longer.to_toml()?)?;
        let mut settings = file.run.settings.clone();
        settings.workers = args.workers.unwrap_or(settings.workers);
        settings.evaluator = args.evaluator.clone().unwrap_or(settings.evaluator);
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
    // `task`: one task's results, or none for their weighted mean.
    let entries = |factor: u32, task: Option<usize>| -> Vec<Entry> {
        let scores = |loss: &Loss| -> Vec<f64> {
            let at = |s: usize, t: usize| done[&(loss.to_string(), s, factor, t)];
            args.seeds
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
        args.epochs_factor.filter(|k| *k > 1).map(|factor| {
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
    let confirmed = Confirmed {
        run_dir: dir.clone(),
        seeds: args.seeds,
        epochs: (!commands_only).then_some(file.train.epochs),
        strongest: strongest(&short, &baselines),
        losses: short,
        horizon,
        per_task,
        rule: super::RULE,
    };
    emit(json, &confirmed, render)
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

fn render(c: &Confirmed) -> String {
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
