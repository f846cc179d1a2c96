//! The search driver: generations of breeding, screening, caching and evaluation, with every
//! result written to the run directory as it arrives, so that a search killed at any moment
//! resumes where it stopped and ends as it would have ended uninterrupted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::SearchConfig;
use super::evaluate::{Evaluator, Job, Scored};
use super::screen::{Rejected, Stage, screen};
use super::store::{RunDir, SharedCache, StoreError};
use super::variation::{crossover, initial_population, mutate, select};
use crate::expr::Expr;
use crate::expr::canon::Key;
use crate::loss::Loss;

/// Version of the run directory's format.
pub const FORMAT: u32 = 1;

/// A member of a population.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Individual {
    /// Its tree.
    pub expr: Expr,
    /// The training key of its loss: equal for losses that train identically.
    pub key: Key,
    /// Its fitness (higher is better, 0 the worst).
    pub fitness: f64,
    /// Its size in nodes.
    pub size: usize,
    /// The generation that first scored it.
    pub generation: usize,
    /// The island it was found on.
    pub island: usize,
    /// The rung of successive halving its fitness comes from (the last rung: a full run).
    pub rung: usize,
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
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
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
        /// Attempts it took.
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
    },
}

/// What one generation did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    /// The generation, from 0.
    pub generation: usize,
    /// Best fitness in the populations.
    pub best: f64,
    /// Median fitness in the populations.
    pub median: f64,
    /// Offspring that needed a fitness.
    pub offspring: usize,
    /// Offspring whose loss was already scored (in this run or in the shared cache): no work.
    pub cache_hits: usize,
    /// Distinct new losses rejected by each screening stage.
    pub screened: BTreeMap<Stage, usize>,
    /// Evaluations run (each rung of each candidate counts once), retries excluded.
    pub evaluations: usize,
    /// Evaluations that failed after every retry.
    pub failures: usize,
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
    /// Its fitness at the full budget.
    pub fitness: f64,
}

/// `state.json`: where the search stands after its last finished generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The version of the run directory's format.
    pub format: u32,
    /// The fitness task ([`Fitness::task`](super::Fitness::task)).
    pub task: String,
    /// A fingerprint of the search's settings, `generations` aside: a run resumes only with
    /// the settings it started with (it may be given more generations).
    pub settings: String,
    /// The next generation to run (equal to the configured count once finished).
    pub generation: usize,
    /// Each island's population.
    pub islands: Vec<Vec<Individual>>,
    /// The best distinct losses found, best first.
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

/// What the search reports as it goes.
#[derive(Clone, Copy, Debug)]
pub enum SearchEvent<'a> {
    /// A generation starts; `offspring` candidates need a fitness.
    GenerationStarted {
        /// The generation, from 0.
        generation: usize,
        /// Offspring to score.
        offspring: usize,
    },
    /// `count` evaluations are about to run at `rung`.
    Evaluating {
        /// How many.
        count: usize,
        /// The rung.
        rung: usize,
    },
    /// A candidate was screened out or scored.
    Record(&'a Record),
    /// A generation finished.
    GenerationFinished {
        /// What it did.
        stats: &'a GenerationStats,
        /// The hall of fame after it.
        hall_of_fame: &'a [Individual],
    },
}

/// Why a search stopped with an error (a bad candidate never causes one).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The settings cannot work.
    #[error("search settings: {0}")]
    Config(String),
    /// The run directory could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run directory holds another search.
    #[error("{0}")]
    Mismatch(String),
    /// The evaluator failed as a whole (not one evaluation, which is retried).
    #[error("the evaluator: {0}")]
    Evaluator(String),
}

/// How one call of [`run`] runs, which never changes the search's result: a search stopped by
/// `max_seconds` resumes with the next call, and fitness found in a shared cache is what
/// training would give again.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop after the generation during which this many seconds have passed.
    pub max_seconds: Option<f64>,
    /// A fitness cache shared by runs on the same task ([`SharedCache`]): losses scored by any
    /// of them are not trained again, and what this run scores is added.
    pub cache: Option<PathBuf>,
}

/// What a search knows about a loss it has met.
#[derive(Clone, Debug, Default)]
struct Known {
    /// Fitness at each rung reached.
    rungs: BTreeMap<usize, f64>,
    rejected: Option<Rejected>,
    /// Whether an evaluation failed after every retry.
    failed: bool,
    /// The generation of this run that met it (`None`: a baseline or another run).
    generation: Option<usize>,
}

impl Known {
    /// Its fitness: at the highest rung reached; 0 if rejected.
    fn fitness(&self) -> Option<f64> {
        if self.rejected.is_some() {
            return Some(0.0);
        }
        self.rungs.values().next_back().copied()
    }
}

/// Runs (or resumes) a search in `dir` until its last generation or a limit, scoring
/// candidates with `evaluator` on `task`, and `baselines` next to them. Returns the state
/// after the last generation run.
pub fn run(
    config: &SearchConfig,
    dir: &RunDir,
    task: &str,
    evaluator: &mut dyn Evaluator,
    baselines: &[(String, Loss)],
    options: RunOptions,
    observe: &mut dyn FnMut(SearchEvent<'_>),
) -> Result<State, SearchError> {
    config.validate().map_err(SearchError::Config)?;
    let mut driver = Driver {
        config,
        dir,
        evaluator,
        task,
        known: HashMap::new(),
        baseline_scores: HashMap::new(),
        shared: None,
        passed: HashSet::new(),
        observe,
    };
    for record in dir.records()? {
        driver.learn(&record);
    }
    if let Some(path) = &options.cache {
        let cache = SharedCache::open(path)?;
        for (key, budget, fitness) in cache.entries(task)? {
            // What this run scored itself stays its own (it counts as work done, not as hits).
            if let Some(rung) = config.fidelity.rungs.iter().position(|r| *r == budget)
                && driver.known.get(&key).is_none_or(|k| k.generation.is_none())
            {
                driver.known.entry(key).or_default().rungs.insert(rung, fitness);
            }
        }
        driver.shared = Some(cache);
    }
    let mut state = match dir.load_state()? {
        Some(state) if state.task != task => {
            return Err(SearchError::Mismatch(format!(
                "{} holds a search on another task ({}), not {task}; start a new run directory",
                dir.path().display(),
                state.task
            )));
        }
        Some(state) if state.format != FORMAT => {
            return Err(SearchError::Mismatch(format!(
                "{} was written by another version of lossgp",
                dir.path().display()
            )));
        }
        Some(state) if state.settings != settings(config) => {
            return Err(SearchError::Mismatch(format!(
                "{} holds a search with other settings; resume it with its own (only `generations` may change)",
                dir.path().display()
            )));
        }
        Some(state) => state,
        None => State {
            format: FORMAT,
            task: task.to_owned(),
            settings: settings(config),
            generation: 0,
            islands: vec![Vec::new(); config.islands.count],
            hall_of_fame: Vec::new(),
            history: Vec::new(),
            baselines: Vec::new(),
        },
    };
    if state.baselines.len() != baselines.len() {
        state.baselines = driver.baselines(baselines)?;
        dir.save_state(&state)?;
    }
    let start = Instant::now();
    while !state.finished(config) {
        if options.max_seconds.is_some_and(|limit| start.elapsed().as_secs_f64() >= limit) {
            break;
        }
        driver.generation(&mut state)?;
        dir.save_state(&state)?;
    }
    Ok(state)
}

struct Driver<'a, 'o> {
    config: &'a SearchConfig,
    dir: &'a RunDir,
    evaluator: &'a mut dyn Evaluator,
    task: &'a str,
    known: HashMap<Key, Known>,
    /// What the baselines scored.
    baseline_scores: HashMap<Key, Known>,
    /// The shared cache, which each evaluation is added to.
    shared: Option<SharedCache>,
    /// Losses that passed screening in this process (not persisted: screening is repeatable).
    passed: HashSet<Key>,
    observe: &'a mut (dyn FnMut(SearchEvent<'_>) + 'o),
}

/// The fingerprint of the settings that shape a search (all but `generations`).
fn settings(config: &SearchConfig) -> String {
    use sha2::{Digest, Sha256};
    let mut value = serde_json::to_value(config).expect("settings serialise");
    if let Some(map) = value.as_object_mut() {
        map.remove("generations");
    }
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The generator of generation `g` on `island`: derived, so that the state needs no generator.
fn generator(seed: u64, generation: usize, island: usize) -> ChaCha8Rng {
    let mix = seed
        ^ (generation as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (island as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    ChaCha8Rng::seed_from_u64(mix)
}

impl Driver<'_, '_> {
    /// Takes in a record of this run directory.
    fn learn(&mut self, record: &Record) {
        // Baselines stay out of the candidates' cache: they must not change the search.
        let cache = if record.generation.is_some() { &mut self.known } else { &mut self.baseline_scores };
        let known = cache.entry(record.key).or_default();
        known.generation = known.generation.or(record.generation);
        match &record.outcome {
            Outcome::Screened { rejected } => known.rejected = Some(rejected.clone()),
            Outcome::Evaluated { rung, scored, .. } => {
                known.rungs.insert(*rung, scored.fitness);
            }
            Outcome::Failed { rung, .. } => {
                known.rungs.insert(*rung, 0.0);
                known.failed = true;
            }
        }
    }

    fn write(&mut self, record: Record) -> Result<(), SearchError> {
        self.dir.append(&record)?;
        self.learn(&record);
        (self.observe)(SearchEvent::Record(&record));
        Ok(())
    }

    fn loss(&self, expr: &Expr) -> Loss {
        Loss::new(expr.clone(), self.config.reduction)
    }

    /// Scores the baselines at the full budget (or finds them scored).
    fn baselines(&mut self, baselines: &[(String, Loss)]) -> Result<Vec<Baseline>, SearchError> {
        let last = self.config.fidelity.rungs.len() - 1;
        let pending: Vec<(Key, Loss)> = baselines
            .iter()
            .map(|(_, loss)| (loss.training_key(), loss.clone()))
            .filter(|(key, _)| self.baseline_scores.get(key).is_none_or(|k| !k.rungs.contains_key(&last)))
            .collect();
        self.evaluate(None, pending, last)?;
        Ok(baselines
            .iter()
            .map(|(name, loss)| {
                let scores = self.baseline_scores.get(&loss.training_key());
                let fitness = scores.and_then(|k| k.rungs.get(&last)).copied().unwrap_or(0.0);
                Baseline { name: name.clone(), loss: loss.clone(), fitness }
            })
            .collect())
    }

    /// Runs generation `state.generation` and advances the state.
    fn generation(&mut self, state: &mut State) -> Result<(), SearchError> {
        let start = Instant::now();
        let g = state.generation;
        // Offspring per island: (expr, fitness if inherited unchanged by elitism).
        let mut stats = GenerationStats { generation: g, ..GenerationStats::default() };
        let mut broods: Vec<Vec<(Expr, Option<f64>)>> = Vec::new();
        for island in 0..self.config.islands.count {
            let mut rng = generator(self.config.seed, g, island);
            broods.push(if g == 0 {
                self.first_generation(&mut rng, &mut stats)?.into_iter().map(|e| (e, None)).collect()
            } else {
                self.breed(&state.islands[island], &mut rng)
            });
        }
        stats.offspring = broods.iter().flatten().filter(|(_, f)| f.is_none()).count();
        (self.observe)(SearchEvent::GenerationStarted { generation: g, offspring: stats.offspring });

        // New distinct losses, in order of first appearance; the rest are cache hits.
        let mut fresh: Vec<(Key, Loss)> = Vec::new();
        for (expr, inherited) in broods.iter().flatten() {
            if inherited.is_some() {
                continue;
            }
            let loss = self.loss(expr);
            let key = loss.training_key();
            let seen_before = self.known.get(&key).is_some_and(|k| k.generation != Some(g) && k.fitness().is_some());
            if seen_before || fresh.iter().any(|(k, _)| *k == key) {
                stats.cache_hits += 1;
            } else {
                fresh.push((key, loss));
            }
        }
        // Screening, then successive halving over the survivors.
        let mut cohort = Vec::new();
        for (key, loss) in fresh {
            if self.screen(g, key, &loss, &mut stats)? {
                cohort.push((key, loss));
            }
        }
        // Counted from the cohort, not from what runs now, so that a resumed generation reports
        // what the uninterrupted one would.
        let trained: Vec<Key> = cohort.iter().map(|(k, _)| *k).collect();
        let rungs = self.config.fidelity.rungs.len();
        for rung in 0..rungs {
            stats.evaluations += cohort.len();
            let pending: Vec<(Key, Loss)> = cohort
                .iter()
                .filter(|(k, _)| !self.known.get(k).is_some_and(|k| k.rungs.contains_key(&rung)))
                .cloned()
                .collect();
            self.evaluate(Some(g), pending, rung)?;
            if rung + 1 < rungs {
                let keep = ((cohort.len() as f64 * self.config.fidelity.promote).ceil() as usize).min(cohort.len());
                let score = |k: &Key| self.known.get(k).and_then(|k| k.rungs.get(&rung)).copied().unwrap_or(0.0);
                let mut order: Vec<usize> = (0..cohort.len()).collect();
                order.sort_by(|&a, &b| score(&cohort[b].0).total_cmp(&score(&cohort[a].0)).then(a.cmp(&b)));
                order.truncate(keep);
                order.sort_unstable();
                cohort = order.into_iter().map(|i| cohort[i].clone()).collect();
            }
        }

        stats.failures = trained.iter().filter(|k| self.known.get(k).is_some_and(|k| k.failed)).count();

        // The new populations.
        for (island, brood) in broods.into_iter().enumerate() {
            state.islands[island] = brood
                .into_iter()
                .map(|(expr, inherited)| {
                    let loss = self.loss(&expr);
                    let key = loss.training_key();
                    let known = self.known.get(&key);
                    let fitness = inherited.or_else(|| known.and_then(Known::fitness)).unwrap_or(0.0);
                    let generation = known.and_then(|k| k.generation).unwrap_or(g);
                    let rung = known.and_then(|k| k.rungs.keys().next_back().copied()).unwrap_or(0);
                    Individual { size: expr.size(), expr, key, fitness, generation, island, rung }
                })
                .collect();
        }
        self.migrate(state, g);
        state.hall_of_fame = hall_of_fame(self.config.hall_of_fame, self.config.fidelity.rungs.len() - 1, state);
        let mut all: Vec<f64> = state.islands.iter().flatten().map(|i| i.fitness).collect();
        all.sort_by(f64::total_cmp);
        stats.best = all.last().copied().unwrap_or(0.0);
        stats.median = all.get(all.len() / 2).copied().unwrap_or(0.0);
        stats.seconds = start.elapsed().as_secs_f64();
        state.history.push(stats);
        state.generation = g + 1;
        let stats = state.history.last().expect("just pushed");
        (self.observe)(SearchEvent::GenerationFinished { stats, hall_of_fame: &state.hall_of_fame });
        Ok(())
    }

    /// Screens a loss not met before in an earlier generation (or finds its verdict from this
    /// one, after a crash), writing and counting a rejection. Whether it may be trained.
    fn screen(&mut self, g: usize, key: Key, loss: &Loss, stats: &mut GenerationStats) -> Result<bool, SearchError> {
        let prior = self.known.get(&key).map(|k| (k.rejected.clone(), !k.rungs.is_empty()));
        let rejected = match prior {
            Some((Some(rejected), _)) => rejected,
            Some((None, true)) => return Ok(true),
            _ if self.passed.contains(&key) => return Ok(true),
            _ => match screen(loss, &self.config.screening) {
                Ok(()) => {
                    self.passed.insert(key);
                    return Ok(true);
                }
                Err(rejected) => {
                    let outcome = Outcome::Screened { rejected: rejected.clone() };
                    self.write(Record { generation: Some(g), loss: loss.clone(), key, outcome })?;
                    rejected
                }
            },
        };
        *stats.screened.entry(rejected.stage).or_default() += 1;
        Ok(false)
    }

    /// The first generation of one island: distinct losses of prediction and target
    /// ([`initial_population`]), screened in turn until `population` of them pass (or the
    /// supply of three times as many runs out: the rest are taken as they are). A search
    /// that starts from losses that can train spends no generation finding them.
    fn first_generation(
        &mut self,
        rng: &mut ChaCha8Rng,
        stats: &mut GenerationStats,
    ) -> Result<Vec<Expr>, SearchError> {
        let n = self.config.population;
        let supply = initial_population(self.config, rng, 3 * n);
        let mut chosen = Vec::with_capacity(n);
        let mut spare = Vec::new();
        for expr in supply {
            if chosen.len() == n {
                break;
            }
            let loss = self.loss(&expr);
            let mut verdict = GenerationStats::default();
            if self.screen(0, loss.training_key(), &loss, &mut verdict)? {
                chosen.push(expr);
            } else {
                spare.push((expr, verdict.screened));
            }
        }
        // Spares that join the population are counted with the generation's offspring; the
        // rest were screened out here.
        let short = n - chosen.len();
        for (i, (expr, screened)) in spare.into_iter().enumerate() {
            if i < short {
                chosen.push(expr);
            } else {
                screened.into_iter().for_each(|(stage, k)| *stats.screened.entry(stage).or_default() += k);
            }
        }
        Ok(chosen)
    }

    /// The next generation of one island: elites unchanged (keeping their fitness), the rest
    /// bred by selection, crossover and mutation.
    fn breed(&self, population: &[Individual], rng: &mut ChaCha8Rng) -> Vec<(Expr, Option<f64>)> {
        let c = self.config;
        let n = c.population;
        let elites = if c.elitism > 0.0 { ((c.elitism * n as f64).ceil() as usize).min(n) } else { 0 };
        let mut ranked: Vec<&Individual> = population.iter().collect();
        ranked.sort_by(|a, b| b.fitness.total_cmp(&a.fitness).then(a.size.cmp(&b.size)));
        let mut brood: Vec<(Expr, Option<f64>)> =
            ranked.iter().take(elites).map(|i| (i.expr.clone(), Some(i.fitness))).collect();
        let fitness: Vec<f64> = population.iter().map(|i| i.fitness).collect();
        let sizes: Vec<usize> = population.iter().map(|i| i.size).collect();
        while brood.len() < n {
            let parent = &population[select(c.selection, &fitness, &sizes, rng)].expr;
            let mut child = if rng.random_bool(c.crossover) {
                let other = &population[select(c.selection, &fitness, &sizes, rng)].expr;
                crossover(c, parent, other, rng)
            } else {
                parent.clone()
            };
            if rng.random_bool(c.mutation) {
                child = mutate(c, &child, rng);
            }
            brood.push((child, None));
        }
        brood
    }

    /// Every `interval` generations, the best `migrants` of each island replace the worst of
    /// the next one (a ring).
    fn migrate(&self, state: &mut State, generation: usize) {
        let islands = self.config.islands;
        if islands.count < 2 || !(generation + 1).is_multiple_of(islands.interval) {
            return;
        }
        let best: Vec<Vec<Individual>> = state
            .islands
            .iter()
            .map(|pop| {
                let mut ranked = pop.clone();
                ranked.sort_by(|a, b| b.fitness.total_cmp(&a.fitness).then(a.size.cmp(&b.size)));
                ranked.truncate(islands.migrants);
                ranked
            })
            .collect();
        for (from, migrants) in best.into_iter().enumerate() {
            let to = &mut state.islands[(from + 1) % islands.count];
            to.sort_by(|a, b| b.fitness.total_cmp(&a.fitness).then(a.size.cmp(&b.size)));
            to.truncate(to.len() - migrants.len());
            to.extend(migrants);
        }
    }

    /// Scores `pending` at `rung`, retrying failures, writing each result as it arrives. Results
    /// for jobs not outstanding (stale retries, strays from a remote evaluator) are ignored; an
    /// evaluator that stops with jobs outstanding is an error, so that no candidate is scored
    /// without a record.
    fn evaluate(
        &mut self,
        generation: Option<usize>,
        pending: Vec<(Key, Loss)>,
        rung: usize,
    ) -> Result<(), SearchError> {
        if pending.is_empty() {
            return Ok(());
        }
        (self.observe)(SearchEvent::Evaluating { count: pending.len(), rung });
        let budget = self.config.fidelity.rungs[rung];
        let mut outstanding: HashMap<usize, u32> = (0..pending.len()).map(|id| (id, 1)).collect();
        let jobs = pending
            .iter()
            .enumerate()
            .map(|(id, (_, loss))| Job { id, loss: loss.clone(), budget, attempt: 1 })
            .collect();
        self.evaluator.submit(jobs);
        while !outstanding.is_empty() {
            let Some((job, result)) = self.evaluator.next() else {
                return Err(SearchError::Evaluator(format!(
                    "it stopped with {} evaluations outstanding",
                    outstanding.len()
                )));
            };
            let expected = outstanding.get(&job.id) == Some(&job.attempt)
                && pending.get(job.id).is_some_and(|(_, l)| *l == job.loss);
            if !expected {
                continue;
            }
            let outcome = match result {
                Ok(mut scored) => {
                    if !(scored.fitness.is_finite() && scored.fitness >= 0.0) {
                        scored.fitness = 0.0;
                    }
                    // JSON has no NaN or infinity: such a metric would make the record unreadable.
                    scored.metrics.retain(|_, v| v.is_finite());
                    Outcome::Evaluated { rung, budget, attempts: job.attempt, scored }
                }
                Err(_) if job.attempt <= self.config.retries => {
                    outstanding.insert(job.id, job.attempt + 1);
                    self.evaluator.submit(vec![Job { attempt: job.attempt + 1, ..job }]);
                    continue;
                }
                Err(error) => Outcome::Failed { rung, attempts: job.attempt, error },
            };
            outstanding.remove(&job.id);
            let key = pending[job.id].0;
            if let (Some(cache), Some(_), Outcome::Evaluated { scored, .. }) = (&self.shared, generation, &outcome) {
                cache.append(self.task, key, budget, scored.fitness)?;
            }
            self.write(Record { generation, loss: job.loss, key, outcome })?;
        }
        Ok(())
    }
}

/// The best distinct losses of the populations and the previous hall of fame: by fitness,
/// then smaller first. Only losses scored by a full run (the last rung) enter, so that all are
/// compared alike, and never with fitness 0.
fn hall_of_fame(size: usize, last_rung: usize, state: &State) -> Vec<Individual> {
    let mut all: Vec<Individual> = state
        .hall_of_fame
        .iter()
        .chain(state.islands.iter().flatten())
        .filter(|i| i.fitness > 0.0 && i.rung == last_rung)
        .cloned()
        .collect();
    all.sort_by(|a, b| {
        b.fitness
            .total_cmp(&a.fitness)
            .then(a.size.cmp(&b.size))
            .then_with(|| a.expr.to_string().cmp(&b.expr.to_string()))
    });
    let mut seen = std::collections::HashSet::new();
    all.retain(|i| seen.insert(i.key));
    all.truncate(size);
    all
}
