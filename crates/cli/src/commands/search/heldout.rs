//! `lossgp confirm DIR`: the best losses of a search and its baselines re-trained on seeds
//! that the search never used, compared seed by seed. What the search's own confirmation
//! cannot give: its seeds chose the hall of fame, so only other seeds tell whether the best
//! loss really beats the baselines. Results go to `DIR/heldout.jsonl`, one line per training,
//! so that a second call trains only what is missing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use lossgp_core::Loss;
use lossgp_core::search::{Evaluator, Job, LocalEvaluator, Paired, mean_sd};
use serde::{Deserialize, Serialize};

use crate::output::emit;

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
}

/// One held-out training: a line of `heldout.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    loss: String,
    seed: usize,
    fitness: f64,
}

#[derive(Debug, Serialize)]
struct Confirmed {
    run_dir: PathBuf,
    seeds: Vec<usize>,
    losses: Vec<Entry>,
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

pub fn confirm(args: ConfirmArgs, data_dir: Option<&Path>, json: bool) -> Result<()> {
    let dir = &args.dir;
    // Held while training: a search or another confirm on the directory waits its turn.
    let _lock = lossgp_core::search::RunDir::create(dir)?.lock()?;
    let (file, state) = super::open_run(dir, "confirm")?;
    let distinct: std::collections::BTreeSet<_> = args.seeds.iter().collect();
    if args.seeds.is_empty() || distinct.len() != args.seeds.len() {
        bail!("--seeds needs distinct seed numbers, e.g. --seeds 101,102,103");
    }
    if let Some(seed) = args.seeds.iter().find(|s| **s <= file.search.confirm_seeds) {
        bail!(
            "seed {seed} is one the search itself trained on (its confirmation seeds are 1 to {}); choose seeds above it, e.g. --seeds 101,102,103",
            file.search.confirm_seeds
        );
    }
    if state.hall_of_fame.is_empty() {
        bail!("{} has an empty hall of fame: nothing to confirm yet", dir.display());
    }
    let mut losses: Vec<(String, Loss)> = state
        .hall_of_fame
        .iter()
        .take(args.top.max(1))
        .enumerate()
        .map(|(i, ind)| (format!("best-{}", i + 1), Loss::new(ind.expr.clone(), file.search.reduction)))
        .collect();
    let baselines = file.baselines()?;
    losses.extend(baselines.iter().cloned());

    let heldout = dir.join(HELDOUT);
    let mut done: BTreeMap<(String, usize), f64> = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&heldout) {
        for line in text.lines().filter_map(|l| serde_json::from_str::<Line>(l).ok()) {
            done.insert((line.loss, line.seed), line.fitness);
        }
    }
    let missing: Vec<Job> = losses
        .iter()
        .flat_map(|(_, loss)| args.seeds.iter().map(move |&seed| (loss, seed)))
        .filter(|(loss, seed)| !done.contains_key(&(loss.to_string(), *seed)))
        .enumerate()
        .map(|(id, (loss, seed))| Job { id, loss: loss.clone(), budget: 1.0, attempt: 1, replicate: seed })
        .collect();
    if !missing.is_empty() {
        eprintln!("confirming in {}: {} trainings on seeds {:?}", dir.display(), missing.len(), args.seeds);
        let mut evaluator = LocalEvaluator::new(file.fitness(data_dir)?, args.workers.unwrap_or(file.run.workers));
        evaluator.submit(missing);
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&heldout)
            .with_context(|| format!("opening {}", heldout.display()))?;
        while let Some((job, result)) = evaluator.next() {
            let fitness = result.map_err(anyhow::Error::msg).context("a held-out training failed")?.fitness;
            let fitness = if fitness.is_finite() { fitness } else { 0.0 };
            let line = Line { loss: job.loss.to_string(), seed: job.replicate, fitness };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
            out.sync_data()?;
            eprintln!("  seed {}: {:.4}  {}", job.replicate, fitness, job.loss);
            done.insert((line.loss, line.seed), fitness);
        }
    }
    let scores = |loss: &Loss| -> Vec<f64> { args.seeds.iter().map(|s| done[&(loss.to_string(), *s)]).collect() };
    let entries = losses
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
        .collect();
    let confirmed = Confirmed { run_dir: dir.clone(), seeds: args.seeds, losses: entries, rule: super::RULE };
    emit(json, &confirmed, render)
}

fn render(c: &Confirmed) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: held-out seeds {:?}", c.run_dir.display(), c.seeds);
    for e in &c.losses {
        let versus: Vec<String> = e
            .versus
            .iter()
            .map(|(name, p)| {
                format!(
                    "vs {name} {:+.2} [{:+.2}, {:+.2}] {}",
                    100.0 * p.mean,
                    100.0 * p.interval[0],
                    100.0 * p.interval[1],
                    p.verdict.name()
                )
            })
            .collect();
        let _ = writeln!(out, "{:<7} {:.4} ± {:.4}  {}  {}", e.name, e.mean, e.sd, versus.join("; "), e.loss);
    }
    let _ = writeln!(out, "Δ in points; {}", c.rule);
    out
}
