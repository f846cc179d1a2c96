//! The search driver: generations of breeding ([`breed`](super::breed)), screening, caching,
//! evaluation with successive halving, and confirmation of the best
//! ([`confirm`](super::confirm)), with every result written to the run directory as it
//! arrives, so that a search killed at any moment resumes where it stopped and ends as it
//! would have ended uninterrupted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::baseline::{BaselineSpec, Tried, Tuning, choose};
use super::config::SearchConfig;
use super::niche::Signatures;
use super::record::{Baseline, FORMAT, GenerationStats, Individual, Outcome, Record, State, TaskScore};
use super::screen::{Rejected, screen};
use super::store::{CacheEntry, RunDir, SharedCache, StoreError};
use crate::evaluation::TaskSet;
use crate::evaluation::{Evaluator, Job, Scored};
use crate::expr::Expr;
use crate::expr::canon::Key;
use crate::loss::Loss;

/// What the search reports as it goes.
#[derive(Clone, Copy, Debug)]
pub enum SearchEvent<'a> {
    /// A generation starts: `offspring` new candidates were drawn and screened, and
    /// `redraws` more drawn again because they were known or screened out.
    GenerationStarted {
        /// The generation, from 0.
        generation: usize,
        /// New candidates to score.
        offspring: usize,
        /// Draws that did not count (known losses, screened out).
        redraws: usize,
    },
    /// `count` evaluations are about to run at `rung`.
    Evaluating {
        /// How many.
        count: usize,
        /// The rung.
        rung: usize,
    },
    /// `count` evaluations on confirmation seeds are about to run.
    Confirming {
        /// How many.
        count: usize,
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
pub(super) struct Known {
    /// Fitness at each rung reached, on the search's seed.
    pub rungs: BTreeMap<usize, f64>,
    /// Fitness at the full budget on each confirmation seed.
    pub confirmed: BTreeMap<usize, f64>,
    /// Fitness per task, by (rung, replicate): a (rung, replicate) has its combined fitness in
    /// `rungs` or `confirmed` once every task has one.
    pub parts: BTreeMap<(usize, usize), BTreeMap<usize, f64>>,
    pub rejected: Option<Rejected>,
    /// Whether an evaluation failed after every retry.
    pub failed: bool,
    /// The generation of this run that met it (`None`: a baseline).
    pub generation: Option<usize>,
}

impl Known {
    /// Its fitness: at the highest rung reached; 0 if rejected.
    pub fn fitness(&self) -> Option<f64> {
        if self.rejected.is_some() {
            return Some(0.0);
        }
        self.rungs.values().next_back().copied()
    }

    /// Its fitness on confirmation seeds `1..=seeds`, if it has all of them.
    pub fn confirmation(&self, seeds: usize) -> Option<Vec<f64>> {
        (1..=seeds).map(|r| self.confirmed.get(&r).copied()).collect()
    }
}

/// One evaluation to run: a loss at a rung on a seed (on every task whose result is missing).
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub key: Key,
    pub loss: Loss,
    /// 0 for the search's seed, `r` for confirmation seed `r`.
    pub replicate: usize,
}

/// Runs (or resumes) a search in `dir` until its last generation or a limit, scoring
/// candidates with `evaluator` on `tasks` (one, `&"name".into()`, or several: see
/// [`task`](super::task)), and `baselines` next to them. Returns the state after the last
/// generation run.
pub fn run(
    config: &SearchConfig,
    dir: &RunDir,
    tasks: &TaskSet,
    evaluator: &mut dyn Evaluator,
    baselines: &[BaselineSpec],
    options: RunOptions,
    observe: &mut dyn FnMut(SearchEvent<'_>),
) -> Result<State, SearchError> {
    config.validate().map_err(SearchError::Config)?;
    tasks.validate().map_err(SearchError::Config)?;
    let task = tasks.fingerprint();
    let task = task.as_str();
    let mut driver = Driver {
        config,
        dir,
        evaluator,
        tasks,
        known: HashMap::new(),
        baseline_scores: HashMap::new(),
        shared: None,
        cache_scores: HashMap::new(),
        served: HashMap::new(),
        passed: HashSet::new(),
        signatures: Signatures::new(),
        signature_cache: HashMap::new(),
        observe,
    };
    for record in dir.records()? {
        driver.learn(&record);
    }
    if let Some(path) = &options.cache {
        let cache = SharedCache::open(path)?;
        for (t, info) in tasks.tasks.iter().enumerate() {
            for entry in cache.entries(&info.fingerprint)? {
                if let Some(rung) = config.fidelity.rungs.iter().position(|r| *r == entry.budget) {
                    driver.cache_scores.insert((entry.key, rung, entry.replicate, t), entry.fitness);
                }
            }
        }
        driver.shared = Some(cache);
    }
    let mut state = match dir.load_state()? {
        Some(state) if state.task != task => {
            return Err(SearchError::Mismatch(format!(
                "{} holds a search on another task: {}; its scores are not this task's, so start a new run directory",
                dir.path().display(),
                task_difference(&state.task, task)
            )));
        }
        Some(state) if state.format != FORMAT => {
            return Err(SearchError::Mismatch(format!(
                "{} was written by another version of lossgp (run directory format {}, this one reads {FORMAT}); \
                 start a new run directory",
                dir.path().display(),
                state.format
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

pub(super) struct Driver<'a, 'o> {
    pub config: &'a SearchConfig,
    dir: &'a RunDir,
    evaluator: &'a mut dyn Evaluator,
    tasks: &'a TaskSet,
    pub known: HashMap<Key, Known>,
    /// What the baselines scored.
    baseline_scores: HashMap<Key, Known>,
    /// The shared cache, which each evaluation is added to.
    shared: Option<SharedCache>,
    /// What the shared cache held when the run (re)started: fitness by (key, rung, replicate,
    /// task).
    cache_scores: HashMap<(Key, usize, usize, usize), f64>,
    /// Evaluations served from the shared cache, by generation (from the records).
    served: HashMap<usize, usize>,
    /// Losses that passed screening in this process (not persisted: screening is repeatable).
    passed: HashSet<Key>,
    /// Gradient signatures for niching, computed once per loss.
    signatures: Signatures,
    signature_cache: HashMap<Key, Option<Vec<f64>>>,
    pub observe: &'a mut (dyn FnMut(SearchEvent<'_>) + 'o),
}

/// The fingerprint of the settings that shape a search (all but `generations`).
/// What differs between two task fingerprints, part by part (`A / B, C`): "now X, was Y"
/// (a changed script's hash, another dataset), or both whole where no part matches.
fn task_difference(was: &str, now: &str) -> String {
    let parts = |t: &str| -> Vec<String> { t.split(" / ").flat_map(|p| p.split(", ")).map(str::to_owned).collect() };
    let (was_parts, now_parts) = (parts(was), parts(now));
    let only = |a: &[String], b: &[String]| a.iter().filter(|p| !b.contains(p)).cloned().collect::<Vec<_>>().join(", ");
    let (gone, new) = (only(&was_parts, &now_parts), only(&now_parts, &was_parts));
    if gone.len() + new.len() < was.len() + now.len() {
        format!("now `{new}`, was `{gone}`")
    } else {
        format!("now `{now}`, was `{was}`")
    }
}

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
pub(super) fn generator(seed: u64, generation: usize, island: usize) -> ChaCha8Rng {
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
        if let (Some(g), Outcome::Evaluated { attempts: 0, .. }) = (record.generation, &record.outcome) {
            *self.served.entry(g).or_default() += 1;
        }
        let (fitness, rung) = match &record.outcome {
            Outcome::Screened { rejected } => {
                known.rejected = Some(rejected.clone());
                return;
            }
            Outcome::Evaluated { scored, rung, .. } => (scored.fitness, *rung),
            Outcome::Failed { rung, .. } => {
                known.failed |= record.replicate == 0;
                (0.0, *rung)
            }
        };
        let tasks = self.tasks.len();
        if record.task >= tasks {
            return;
        }
        let part = known.parts.entry((rung, record.replicate)).or_default();
        part.insert(record.task, fitness);
        if part.len() == tasks {
            let values: Vec<f64> = part.values().copied().collect();
            let combined = self.tasks.combine(&values);
            match record.replicate {
                0 => known.rungs.insert(rung, combined),
                r => known.confirmed.insert(r, combined),
            };
        }
    }

    /// How many tasks the search trains on.
    pub(super) fn tasks_len(&self) -> usize {
        self.tasks.len()
    }

    /// A loss's scores on each task (none for a search over one).
    pub(super) fn per_task(&self, known: Option<&Known>, rung: Option<usize>) -> Vec<TaskScore> {
        let tasks = self.tasks.len();
        if tasks == 1 {
            return Vec::new();
        }
        let last = self.config.fidelity.rungs.len() - 1;
        let seeds = self.config.confirm_seeds;
        let part = |rung: usize, replicate: usize, t: usize| {
            known.and_then(|k| k.parts.get(&(rung, replicate))).and_then(|p| p.get(&t)).copied()
        };
        (0..tasks)
            .map(|t| TaskScore {
                fitness: rung.and_then(|r| part(r, 0, t)).unwrap_or(0.0),
                confirmed: (1..=seeds).map(|r| part(last, r, t)).collect::<Option<Vec<_>>>().unwrap_or_default(),
            })
            .collect()
    }

    fn write(&mut self, record: Record) -> Result<(), SearchError> {
        self.dir.append(&record)?;
        self.learn(&record);
        (self.observe)(SearchEvent::Record(&record));
        Ok(())
    }

    pub fn loss(&self, expr: &Expr) -> Loss {
        Loss::new(expr.clone(), self.config.reduction)
    }

    /// The gradient signature of a loss, computed once.
    pub fn signature(&mut self, key: Key, expr: &Expr) -> Option<Vec<f64>> {
        if let Some(signature) = self.signature_cache.get(&key) {
            return signature.clone();
        }
        let signature = self.signatures.of(&self.loss(expr));
        self.signature_cache.insert(key, signature.clone());
        signature
    }

    /// Scores the baselines at the full budget, on the search's seed and every confirmation
    /// seed (or finds them scored), each value of a tuned one too, and chooses the tuned
    /// values ([`baseline`](super::baseline)).
    fn baselines(&mut self, baselines: &[BaselineSpec]) -> Result<Vec<Baseline>, SearchError> {
        let last = self.config.fidelity.rungs.len() - 1;
        let seeds = self.config.confirm_seeds;
        let mut pending: Vec<Pending> = Vec::new();
        for loss in baselines.iter().flat_map(BaselineSpec::losses) {
            let key = loss.training_key();
            for replicate in 0..=seeds {
                let known = self.baseline_scores.get(&key);
                let done = match replicate {
                    0 => known.is_some_and(|k| k.rungs.contains_key(&last)),
                    r => known.is_some_and(|k| k.confirmed.contains_key(&r)),
                };
                if !done && !pending.iter().any(|p| p.key == key && p.replicate == replicate) {
                    pending.push(Pending { key, loss: loss.clone(), replicate });
                }
            }
        }
        self.evaluate(None, pending, last)?;
        let scored = |loss: &Loss| {
            let scores = self.baseline_scores.get(&loss.training_key());
            let fitness = scores.and_then(|k| k.rungs.get(&last)).copied().unwrap_or(0.0);
            let confirmed = scores.and_then(|k| k.confirmation(seeds)).unwrap_or_default();
            (fitness, confirmed)
        };
        let per_task = |loss: &Loss| self.per_task(self.baseline_scores.get(&loss.training_key()), Some(last));
        Ok(baselines
            .iter()
            .map(|spec| match spec {
                BaselineSpec::Fixed { name, loss } => {
                    let (fitness, confirmed) = scored(loss);
                    let per_task = per_task(loss);
                    Baseline { name: name.clone(), loss: loss.clone(), fitness, confirmed, per_task, tuning: None }
                }
                BaselineSpec::Tuned { name, parameter, grid } => {
                    let tried: Vec<Tried> = grid
                        .iter()
                        .map(|(value, loss)| {
                            let (fitness, confirmed) = scored(loss);
                            Tried { value: *value, fitness, confirmed }
                        })
                        .collect();
                    let chosen = choose(&tried).expect("a tuned baseline has a grid");
                    let (value, loss) = grid[chosen].clone();
                    let (fitness, confirmed) = (tried[chosen].fitness, tried[chosen].confirmed.clone());
                    let chosen_on = if seeds > 0 { "confirmation seeds" } else { "search seed" };
                    let tuning =
                        Tuning { parameter: parameter.clone(), chosen: value, chosen_on: chosen_on.into(), tried };
                    let per_task = per_task(&loss);
                    Baseline { name: name.clone(), loss, fitness, confirmed, per_task, tuning: Some(tuning) }
                }
            })
            .collect())
    }

    /// Runs generation `state.generation` and advances the state.
    fn generation(&mut self, state: &mut State) -> Result<(), SearchError> {
        let start = Instant::now();
        let g = state.generation;
        let mut stats = GenerationStats { generation: g, ..GenerationStats::default() };
        // Each island's brood: elites (kept whole) and new candidates, all distinct, never
        // scored before, and past screening.
        let mut fresh = HashSet::new();
        let mut broods: Vec<Vec<Brood>> = Vec::new();
        for island in 0..self.config.islands.count {
            let mut rng = generator(self.config.seed, g, island);
            broods.push(if g == 0 {
                self.first_generation(&mut rng, &mut fresh, &mut stats)?
            } else {
                let population = state.islands[island].clone();
                self.breed(g, &population, &mut rng, &mut fresh, &mut stats)?
            });
        }
        let cohort: Vec<(Key, Loss)> = broods
            .iter()
            .flatten()
            .filter_map(|b| match b {
                Brood::New(expr, _) => Some(self.loss(expr)),
                _ => None,
            })
            .map(|loss| (loss.training_key(), loss))
            .filter(|(key, _)| fresh.contains(key))
            .collect();
        self.record_births(g, &broods)?;
        let redraws = stats.cache_hits + stats.screened.values().sum::<usize>();
        (self.observe)(SearchEvent::GenerationStarted { generation: g, offspring: stats.new, redraws });
        self.halving(g, cohort, &mut stats)?;

        // The new populations.
        for (island, brood) in broods.into_iter().enumerate() {
            state.islands[island] = brood
                .into_iter()
                .map(|member| match member {
                    Brood::Elite(individual) => individual,
                    Brood::New(expr, _) | Brood::Known(expr) => self.individual(expr, island, g),
                })
                .collect();
        }
        self.confirm(state, g, &mut stats)?;
        self.migrate(state, g);
        self.update_hall_of_fame(state);

        let members: Vec<&Individual> = state.islands.iter().flatten().collect();
        stats.distinct = members.iter().map(|i| i.key).collect::<HashSet<_>>().len();
        let fitness: Vec<f64> = members.iter().map(|i| i.fitness).collect();
        let signatures: Vec<_> = members.iter().map(|i| (i.key, i.expr.clone())).collect();
        let signatures: Vec<_> = signatures.into_iter().map(|(key, expr)| self.signature(key, &expr)).collect();
        stats.niches = super::niche::clear(&fitness, &signatures, &self.config.niching).1;
        let mut sorted = fitness;
        sorted.sort_by(f64::total_cmp);
        stats.best = sorted.last().copied().unwrap_or(0.0);
        stats.median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        stats.cached = self.served.get(&g).copied().unwrap_or(0);
        stats.leader = state.hall_of_fame.first().map_or(0.0, Individual::score);
        stats.seconds = start.elapsed().as_secs_f64();
        state.history.push(stats);
        state.generation = g + 1;
        let stats = state.history.last().expect("just pushed");
        (self.observe)(SearchEvent::GenerationFinished { stats, hall_of_fame: &state.hall_of_fame });
        Ok(())
    }

    /// Appends the generation's new candidates, with their parents and operators, to
    /// `genealogy.jsonl`.
    fn record_births(&self, g: usize, broods: &[Vec<Brood>]) -> Result<(), SearchError> {
        for (island, brood) in broods.iter().enumerate() {
            for member in brood {
                if let Brood::New(expr, origin) = member {
                    let key = self.loss(expr).training_key();
                    let birth = super::genealogy::Birth {
                        generation: g,
                        island,
                        key,
                        expr: expr.clone(),
                        origin: origin.clone(),
                    };
                    self.dir.append_birth(&birth)?;
                }
            }
        }
        Ok(())
    }

    /// The member of a population for a tree, with what is known of its loss.
    fn individual(&self, expr: Expr, island: usize, g: usize) -> Individual {
        let key = self.loss(&expr).training_key();
        let known = self.known.get(&key);
        let fitness = known.and_then(Known::fitness).unwrap_or(0.0);
        let generation = known.and_then(|k| k.generation).unwrap_or(g);
        let rung = known.and_then(|k| k.rungs.keys().next_back().copied()).unwrap_or(0);
        let confirmed = known.and_then(|k| k.confirmation(self.config.confirm_seeds)).unwrap_or_default();
        let per_task = self.per_task(known, known.and(Some(rung)));
        Individual { size: expr.size(), expr, key, fitness, generation, island, rung, confirmed, per_task }
    }

    /// Successive halving over the generation's new candidates: all at the first rung, the
    /// best `promote` fraction of each rung at the next.
    fn halving(
        &mut self,
        g: usize,
        mut cohort: Vec<(Key, Loss)>,
        stats: &mut GenerationStats,
    ) -> Result<(), SearchError> {
        let trained: Vec<Key> = cohort.iter().map(|(k, _)| *k).collect();
        let rungs = self.config.fidelity.rungs.len();
        for rung in 0..rungs {
            // Counted from the cohort, not from what runs now, so that a resumed generation
            // reports what the uninterrupted one would.
            stats.evaluations += cohort.len() * self.tasks.len();
            let pending = cohort
                .iter()
                .filter(|(k, _)| !self.known.get(k).is_some_and(|k| k.rungs.contains_key(&rung)))
                .map(|(key, loss)| Pending { key: *key, loss: loss.clone(), replicate: 0 })
                .collect();
            self.evaluate(Some(g), pending, rung)?;
            if rung + 1 < rungs {
                let keep = ((cohort.len() as f64 * self.config.fidelity.promote).ceil() as usize).min(cohort.len());
                let score = |k: &Key| self.known.get(k).and_then(|k| k.rungs.get(&rung)).copied().unwrap_or(0.0);
                // A candidate whose evaluation failed has no score to promote.
                let failed = |k: &Key| self.known.get(k).is_some_and(|k| k.failed);
                let mut order: Vec<usize> = (0..cohort.len()).filter(|&i| !failed(&cohort[i].0)).collect();
                order.sort_by(|&a, &b| score(&cohort[b].0).total_cmp(&score(&cohort[a].0)).then(a.cmp(&b)));
                order.truncate(keep);
                order.sort_unstable();
                cohort = order.into_iter().map(|i| cohort[i].clone()).collect();
            }
        }
        stats.failures = trained.iter().filter(|k| self.known.get(k).is_some_and(|k| k.failed)).count();
        Ok(())
    }

    /// Screens a loss not met before in an earlier generation (or finds its verdict from this
    /// one, after a crash), writing and counting a rejection. Whether it may be trained.
    pub fn screen(
        &mut self,
        g: usize,
        key: Key,
        loss: &Loss,
        stats: &mut GenerationStats,
    ) -> Result<bool, SearchError> {
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
                    let record =
                        Record { generation: Some(g), loss: loss.clone(), key, replicate: 0, task: 0, outcome };
                    self.write(record)?;
                    rejected
                }
            },
        };
        *stats.screened.entry(rejected.stage).or_default() += 1;
        Ok(false)
    }

    /// Whether this run scored (or screened out) a loss before generation `g`: drawing it
    /// again would be wasted.
    pub fn known_before(&self, key: &Key, g: usize) -> bool {
        self.known.get(key).is_some_and(|k| k.generation.is_some_and(|x| x != g) && k.fitness().is_some())
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
    pub fn evaluate(
        &mut self,
        generation: Option<usize>,
        pending: Vec<Pending>,
        rung: usize,
    ) -> Result<(), SearchError> {
        let budget = self.config.fidelity.rungs[rung];
        // One job per task whose result is missing (a run killed in the middle of a
        // candidate's tasks keeps those it had).
        let scores = if generation.is_some() { &self.known } else { &self.baseline_scores };
        let parts: Vec<(usize, usize)> = pending
            .iter()
            .enumerate()
            .flat_map(|(i, _)| (0..self.tasks.len()).map(move |t| (i, t)))
            .filter(|&(i, t)| {
                let p = &pending[i];
                !scores.get(&p.key).and_then(|k| k.parts.get(&(rung, p.replicate))).is_some_and(|x| x.contains_key(&t))
            })
            .collect();
        // The shared cache serves candidates (never baselines), recorded with 0 attempts.
        let (served, parts): (Vec<_>, Vec<_>) = parts.into_iter().partition(|&(i, t)| {
            let p = &pending[i];
            generation.is_some() && self.cache_scores.contains_key(&(p.key, rung, p.replicate, t))
        });
        for (i, task) in served {
            let Pending { key, loss, replicate } = pending[i].clone();
            let fitness = self.cache_scores[&(key, rung, replicate, task)];
            let scored = Scored { fitness, metrics: BTreeMap::new(), status: "cached".into() };
            let outcome = Outcome::Evaluated { rung, budget, attempts: 0, scored };
            self.write(Record { generation, loss, key, replicate, task, outcome })?;
        }
        if parts.is_empty() {
            return Ok(());
        }
        let confirming = parts.iter().filter(|(i, _)| pending[*i].replicate > 0).count();
        if confirming > 0 {
            (self.observe)(SearchEvent::Confirming { count: confirming });
        }
        if confirming < parts.len() {
            (self.observe)(SearchEvent::Evaluating { count: parts.len() - confirming, rung });
        }
        let mut outstanding: HashMap<usize, u32> = (0..parts.len()).map(|id| (id, 1)).collect();
        let jobs = parts
            .iter()
            .enumerate()
            .map(|(id, &(i, task))| {
                let p = &pending[i];
                Job { id, loss: p.loss.clone(), budget, attempt: 1, replicate: p.replicate, task }
            })
            .collect();
        self.evaluator.submit(jobs);
        while !outstanding.is_empty() {
            let Some((job, result)) = self.evaluator.next() else {
                if let Some(fault) = self.evaluator.fault() {
                    return Err(SearchError::Evaluator(fault));
                }
                return Err(SearchError::Evaluator(format!(
                    "it stopped with {} evaluations outstanding",
                    outstanding.len()
                )));
            };
            let expected = outstanding.get(&job.id) == Some(&job.attempt)
                && parts.get(job.id).is_some_and(|&(i, task)| {
                    pending[i].loss == job.loss && pending[i].replicate == job.replicate && task == job.task
                });
            if !expected {
                continue;
            }
            let outcome = match result {
                Ok(mut scored) => {
                    if !(scored.fitness.is_finite() && scored.fitness >= 0.0) {
                        scored.fitness = 0.0;
                    }
                    // Metrics are kept as they are, NaN and infinity included: records write them
                    // by name (`crate::json`).
                    Outcome::Evaluated { rung, budget, attempts: job.attempt, scored }
                }
                Err(error) if error.is_retryable() && job.attempt <= self.config.retries => {
                    outstanding.insert(job.id, job.attempt + 1);
                    self.evaluator.submit(vec![Job { attempt: job.attempt + 1, ..job }]);
                    continue;
                }
                Err(error) => Outcome::Failed {
                    rung,
                    attempts: job.attempt,
                    permanent: !error.is_retryable(),
                    error: error.message().to_owned(),
                },
            };
            outstanding.remove(&job.id);
            let (i, task) = parts[job.id];
            let Pending { key, replicate, .. } = pending[i];
            if let (Some(cache), Some(_), Outcome::Evaluated { scored, .. }) = (&self.shared, generation, &outcome) {
                let entry = CacheEntry { key, budget, replicate, fitness: scored.fitness };
                cache.append(&self.tasks.tasks[task].fingerprint, &entry)?;
            }
            self.write(Record { generation, loss: job.loss, key, replicate, task, outcome })?;
        }
        Ok(())
    }
}

/// A member of a generation's brood.
pub(super) enum Brood {
    /// An elite, carried over whole.
    Elite(Individual),
    /// A new candidate: never scored before, past screening, with where it came from.
    New(Expr, super::genealogy::Origin),
    /// A known loss that took a slot once every redraw was spent (it is not trained again).
    Known(Expr),
}

#[cfg(test)]
mod tests {
    use super::task_difference;

    #[test]
    fn a_changed_task_is_named_by_what_changed() {
        let was = "command: [\"python3\"] / limit 10 min / files train.py=aa, model.py=bb / env  / seed 0";
        let now = "command: [\"python3\"] / limit 10 min / files train.py=cc, model.py=bb / env  / seed 0";
        assert_eq!(task_difference(was, now), "now `files train.py=cc`, was `files train.py=aa`");
        assert_eq!(task_difference("a", "b"), "now `b`, was `a`");
    }
}
