//! A search as the dashboard shows it, read from its run directory without writing to it: the
//! summary `lossgp report` prints, the history, each found loss's formula (MathML) and PyTorch
//! code, the leader's genealogy, the size-against-fitness front and the evaluator's state.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use lossgp_core::Loss;
use lossgp_core::search::{GenerationStats, Outcome, RunDir, lineage};
use serde::Serialize;

use super::config::SearchFile;
use super::run_dir::CONFIG;
use super::{Summary, plot, summarize};
use crate::plot::palette;

/// How far back the leader's genealogy goes.
const ANCESTORS: usize = 40;
/// How many of the latest failures are shown.
const RECENT_FAILURES: usize = 5;

#[derive(Debug, Serialize)]
pub struct SearchView {
    /// What the search trains (`[task]`, in one line).
    pub description: String,
    /// The process running it now (`pid N on HOST`), if one is.
    pub running: Option<String>,
    /// The summary, once a generation has finished.
    pub summary: Option<Summary>,
    pub history: Vec<GenerationStats>,
    /// The hall of fame's losses as shown: formula, text and PyTorch code.
    pub formulas: Vec<Formula>,
    /// The leader's ancestors, itself first, breadth first.
    pub genealogy: Vec<Ancestor>,
    /// The best fitness found at each size, and whether it is on the front (no smaller loss
    /// does as well).
    pub front: Vec<FrontPoint>,
    pub evaluator: EvaluatorView,
    /// `progress.svg`, drawn now.
    pub progress_svg: Option<String>,
    /// Candidates scored so far (evaluations, baselines included) and screened out.
    pub evaluated: usize,
    pub screened: usize,
    /// The hall of fame's losses (`best-K`) and the baselines: their means over the
    /// confirmation seeds with 95% intervals.
    pub intervals: Vec<Interval>,
    /// Each series' colour (`#rrggbb`), as every plot of lossgp draws it.
    pub colours: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Interval {
    pub name: String,
    pub mean: f64,
    /// The 95% interval of the mean (Student's t); the mean itself for one seed.
    pub low: f64,
    pub high: f64,
    pub seeds: usize,
    /// The loss's size, for a found one.
    pub size: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Formula {
    pub rank: usize,
    /// The form shown (simplified where it trains the same).
    pub text: String,
    pub mathml: String,
    pub latex: String,
    pub pytorch: String,
}

#[derive(Debug, Serialize)]
pub struct Ancestor {
    pub key: String,
    pub generation: usize,
    /// `random`, `crossover`, `point mutation`, ...
    pub operator: String,
    pub parents: Vec<String>,
    /// Simplified where it trains the same.
    pub loss: String,
    /// Its fitness on the search's seed at the highest rung it reached, if scored.
    pub fitness: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct FrontPoint {
    pub size: usize,
    pub fitness: f64,
    pub loss: String,
    pub front: bool,
}

#[derive(Debug, Serialize)]
pub struct EvaluatorView {
    /// `threads`, `processes`, `slurm` or a plugin's.
    pub evaluator: String,
    pub workers: usize,
    pub queue: lossgp_exec::QueueStatus,
    /// Slurm job arrays submitted, oldest first.
    pub arrays: Vec<lossgp_exec::slurm::ArrayRecord>,
    /// Evaluations that failed after every attempt.
    pub failures: usize,
    /// The latest of them: loss and error.
    pub recent_failures: Vec<(String, String)>,
}

/// The search in `dir` as it stands, finished, running or not yet through its first generation.
pub fn view(dir: &Path) -> Result<SearchView> {
    let path = dir.join(CONFIG);
    if !path.is_file() {
        bail!("{} has no {CONFIG}: it is not a lossgp run directory", dir.display());
    }
    let file = SearchFile::read(&path)?;
    let store = RunDir::create(dir)?;
    let running = store.holder();
    let state = store.load_state()?;
    let records = store.records()?;
    let births = store.births()?;

    // Each key's fitness at its highest rung on the search's seed, and its size.
    let mut scored: BTreeMap<lossgp_core::expr::canon::Key, (usize, f64, &Loss)> = BTreeMap::new();
    let (mut evaluated, mut screened) = (0, 0);
    let mut failures: Vec<(String, String)> = Vec::new();
    for record in &records {
        match &record.outcome {
            Outcome::Screened { .. } => screened += 1,
            Outcome::Evaluated { rung, scored: s, .. } => {
                evaluated += 1;
                if record.replicate == 0 && record.generation.is_some() {
                    let entry = scored.entry(record.key).or_insert((*rung, s.fitness, &record.loss));
                    if *rung >= entry.0 {
                        *entry = (*rung, s.fitness, &record.loss);
                    }
                }
            }
            Outcome::Failed { error, .. } => failures.push((record.loss.to_string(), error.clone())),
        }
    }
    let last_rung = file.search.fidelity.rungs.len().saturating_sub(1);
    let front = front(scored.values().filter(|(rung, ..)| *rung == last_rung).map(|(_, f, loss)| (*f, *loss)));

    let (summary, formulas, genealogy, history, progress_svg) = match &state {
        Some(state) => {
            let summary = summarize(dir, state, &file, Vec::new())?;
            let formulas = state
                .hall_of_fame
                .iter()
                .take(file.run.own.top)
                .enumerate()
                .map(|(i, ind)| {
                    let loss = Loss::new(ind.expr.clone(), file.search.reduction).shown();
                    Formula {
                        rank: i + 1,
                        text: loss.to_string(),
                        mathml: loss.to_mathml(),
                        latex: loss.to_latex(),
                        pytorch: loss.to_pytorch(&format!("found_loss_{}", i + 1)),
                    }
                })
                .collect();
            let genealogy = match state.hall_of_fame.first() {
                Some(leader) => lineage(leader.key, &births, ANCESTORS)
                    .into_iter()
                    .map(|birth| Ancestor {
                        key: birth.key.to_string(),
                        generation: birth.generation,
                        operator: birth.origin.operator(),
                        parents: birth.origin.parents().iter().map(ToString::to_string).collect(),
                        loss: Loss::new(birth.expr.clone(), file.search.reduction).shown().to_string(),
                        fitness: scored.get(&birth.key).map(|(_, f, _)| *f),
                    })
                    .collect(),
                None => Vec::new(),
            };
            let svg = crate::plot::svg((plot::WIDTH, plot::HEIGHT), |area| plot::draw_on(area, state).map(|_| ()))?;
            (Some(summary), formulas, genealogy, state.history.clone(), Some(svg))
        }
        None => (None, Vec::new(), Vec::new(), Vec::new(), None),
    };
    let recent_failures = failures.iter().rev().take(RECENT_FAILURES).cloned().collect();
    let interval = |name: String, values: &[f64], size| {
        let s = lossgp_core::stats::Summary::new(values)?;
        let [low, high] = if values.len() >= 2 { s.interval } else { [s.mean, s.mean] };
        Some(Interval { name, mean: s.mean, low, high, seeds: values.len(), size })
    };
    let mut intervals: Vec<Interval> = Vec::new();
    let mut colours = BTreeMap::new();
    if let Some(state) = &state {
        for (i, ind) in state.hall_of_fame.iter().take(file.run.own.top).enumerate() {
            intervals.extend(interval(format!("best-{}", i + 1), &ind.confirmed, Some(ind.size)));
        }
        for b in &state.baselines {
            intervals.extend(interval(b.name.clone(), &b.confirmed, None));
        }
        let names =
            (1..=file.run.own.top).map(|k| format!("best-{k}")).chain(state.baselines.iter().map(|b| b.name.clone()));
        colours = names.map(|n| (n.clone(), palette::hex(palette::loss_colour(&n)))).collect();
    }
    Ok(SearchView {
        description: file.describe(),
        running,
        summary,
        history,
        formulas,
        genealogy,
        front,
        evaluator: EvaluatorView {
            evaluator: file.run.settings.evaluator.clone(),
            workers: file.run.settings.workers,
            queue: lossgp_exec::queue::status(&dir.join("queue")),
            arrays: lossgp_exec::slurm::arrays(dir),
            failures: failures.len(),
            recent_failures,
        },
        progress_svg,
        evaluated,
        screened,
        intervals,
        colours,
    })
}

/// The best fitness at each size, and which of those no smaller loss matches (the front).
fn front<'a>(points: impl Iterator<Item = (f64, &'a Loss)>) -> Vec<FrontPoint> {
    let mut best: BTreeMap<usize, (f64, &Loss)> = BTreeMap::new();
    for (fitness, loss) in points {
        let size = loss.expr.size();
        let entry = best.entry(size).or_insert((fitness, loss));
        if fitness > entry.0 {
            *entry = (fitness, loss);
        }
    }
    let mut record = f64::NEG_INFINITY;
    best.into_iter()
        .map(|(size, (fitness, loss))| {
            let front = fitness > record;
            record = record.max(fitness);
            FrontPoint { size, fitness, loss: loss.to_string(), front }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_keeps_what_no_smaller_loss_matches() {
        let losses: Vec<Loss> = ["p", "-y*log(p)", "exp(p) - y", "-y*log(p) + 0*p*p*p"]
            .iter()
            .map(|t| Loss::new(t.parse().unwrap(), lossgp_core::loss::Reduction::ElementMean))
            .collect();
        let points = [(0.5, &losses[0]), (0.8, &losses[1]), (0.7, &losses[2]), (0.8, &losses[3])];
        let front = front(points.into_iter());
        let on: Vec<(usize, bool)> = front.iter().map(|p| (p.size, p.front)).collect();
        assert!(on[0].1, "the smallest is on the front");
        assert!(front.iter().filter(|p| p.front).all(|p| p.fitness >= 0.5));
        // A larger loss that only ties a smaller one is not on the front.
        let last = front.last().unwrap();
        assert!(!last.front && last.fitness == 0.8, "{on:?}");
    }
}
