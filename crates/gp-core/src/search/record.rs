//! What a run directory stores: the line written for every candidate ([`Record`]) and the
//! state after each generation ([`State`]), with the individuals, baselines and per-generation
//! figures they hold. The driver ([`run`](super::run())) writes them; the store
//! ([`RunDir`](super::RunDir)) reads and writes them; neither needs the other to know them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::SearchConfig;
use super::mean::mean;
use super::screen::{Rejected, Stage};
use crate::evaluation::Scored;
use crate::expr::Expr;
use crate::expr::canon::Key;
use crate::loss::Loss;

/// Version of the run directory's format (2: confirmation seeds, redraws and diversity).
pub const FORMAT: u32 = 2;

/// A member of a population.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Individual {
    /// Its tree.
    pub expr: Expr,
    /// The training key of its loss: equal for losses that train identically.
    pub key: Key,
    /// Its fitness on the search's own seed (higher is better, 0 the worst).
    pub fitness: f64,
    /// Its size in nodes.
    pub size: usize,
    /// The generation that first scored it.
    pub generation: usize,
    /// The island it was found on.
    pub island: usize,
    /// The rung of successive halving its fitness comes from (the last rung: a full run).
    pub rung: usize,
    /// Its fitness on each confirmation seed (`confirmed[r - 1]` on seed `r`), once it has
    /// entered the hall of fame; empty before, and when `confirm_seeds` is 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<f64>,
    /// In a search over several tasks, its scores on each (`fitness` and `confirmed` are
    /// their weighted mean); empty for one task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_task: Vec<TaskScore>,
}

/// A loss's scores on one task of a search over several.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    /// On the search's seed, at the highest rung reached (a baseline: the full budget).
    pub fitness: f64,
    /// On each confirmation seed, at the full budget (empty until all are known).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<f64>,
}

impl Individual {
    /// What the hall of fame ranks by: the mean fitness over the confirmation seeds, or the
    /// search seed's fitness where there are none.
    pub fn score(&self) -> f64 {
        mean(&self.confirmed).unwrap_or(self.fitness)
    }
}

/// What happened to one candidate: a line of `evaluations.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The generation, or none for a baseline.
    pub generation: Option<usize>,
    /// The loss, as text.
    pub loss: Loss,
    /// Its training key.
    pub key: Key,
    /// The training seed: 0 for the search's own, `r >= 1` for confirmation seed `r`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replicate: usize,
    /// The task, in a search over several (0 for the only one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub task: usize,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The outcome of a candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Rejected before training.
    Screened {
        /// Why.
        #[serde(flatten)]
        rejected: Rejected,
    },
    /// Scored at a rung.
    Evaluated {
        /// The rung of successive halving, from 0.
        rung: usize,
        /// Its budget, a fraction of the full training run.
        budget: f64,
        /// Attempts it took; 0 when the shared cache served it.
        attempts: u32,
        /// The score.
        #[serde(flatten)]
        scored: Scored,
    },
    /// Every attempt failed: the worst fitness.
    Failed {
        /// The rung.
        rung: usize,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
        /// Whether it was permanent ([`EvalError::Permanent`](crate::evaluation::EvalError)):
        /// not retried, since another attempt would repeat it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        permanent: bool,
    },
}

/// What one generation did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationStats {
    /// The generation, from 0.
    pub generation: usize,
    /// Best fitness in the populations.
    pub best: f64,
    /// Median fitness in the populations.
    pub median: f64,
    /// Slots for new candidates (the populations less their elites).
    pub offspring: usize,
    /// New candidates that filled them: losses never scored before, that passed screening.
    /// Equal to `offspring` unless the redraw limit ran out.
    pub new: usize,
    /// Offspring drawn again because this run had already scored their loss (or drawn it in
    /// this generation): no training wasted on them.
    pub cache_hits: usize,
    /// Evaluations the shared cache served (recorded with 0 attempts): not trained again.
    pub cached: usize,
    /// Distinct new losses rejected by each screening stage (each was drawn again).
    pub screened: BTreeMap<Stage, usize>,
    /// Random trees drawn in place of offspring once the redraw limit ran out.
    pub immigrants: usize,
    /// Evaluations run (each rung of each candidate on each task counts once), retries and
    /// confirmations excluded.
    pub evaluations: usize,
    /// Evaluations on confirmation seeds for losses entering the hall of fame.
    pub confirmations: usize,
    /// Evaluations that failed after every retry.
    pub failures: usize,
    /// Distinct training keys in the populations.
    pub distinct: usize,
    /// Niches in the populations: groups of losses whose gradients point the same way on the
    /// probe logits ([`Niching`](super::Niching)).
    pub niches: usize,
    /// The hall of fame's leader after the generation, by [`Individual::score`] (its mean
    /// over the confirmation seeds); 0 while the hall of fame is empty.
    pub leader: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A reference loss scored on the same task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Its name (`ce`, `ngl`).
    pub name: String,
    /// The loss.
    pub loss: Loss,
    /// Its fitness at the full budget on the search's seed.
    pub fitness: f64,
    /// Its fitness on each confirmation seed (`confirmed[r - 1]` on seed `r`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<f64>,
    /// In a search over several tasks, its scores on each; empty for one task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_task: Vec<TaskScore>,
    /// For a tuned baseline (`ls-tuned`): the value chosen and every value's scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<super::baseline::Tuning>,
}

impl Baseline {
    /// What it is compared by: the mean over the confirmation seeds, or the search seed's
    /// fitness where there are none.
    pub fn score(&self) -> f64 {
        mean(&self.confirmed).unwrap_or(self.fitness)
    }
}

/// The strongest of `baselines` by [`Baseline::score`] (the first among equals).
pub fn strongest(baselines: &[Baseline]) -> Option<&Baseline> {
    baselines.iter().fold(None, |best: Option<&Baseline>, b| match best {
        Some(x) if x.score() >= b.score() => Some(x),
        _ => Some(b),
    })
}

/// `state.json`: where the search stands after its last finished generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The version of the run directory's format.
    pub format: u32,
    /// The fitness task ([`Fitness::task`](super::Fitness::task)); for several, every task's
    /// weight and fingerprint ([`TaskSet::fingerprint`](super::TaskSet::fingerprint)).
    pub task: String,
    /// A fingerprint of the search's settings, `generations` aside: a run resumes only with
    /// the settings it started with (it may be given more generations).
    pub settings: String,
    /// The next generation to run (equal to the configured count once finished).
    pub generation: usize,
    /// Each island's population.
    pub islands: Vec<Vec<Individual>>,
    /// The best distinct losses found, best first: by the mean over the confirmation seeds
    /// ([`Individual::score`]).
    pub hall_of_fame: Vec<Individual>,
    /// Every finished generation.
    pub history: Vec<GenerationStats>,
    /// The reference losses.
    pub baselines: Vec<Baseline>,
}

impl State {
    /// Whether every generation has run.
    pub fn finished(&self, config: &SearchConfig) -> bool {
        self.generation >= config.generations
    }
}
