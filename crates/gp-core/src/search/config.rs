//! The settings of a search. The paper publishes none of its GP settings; the defaults are
//! EvoMAL's (Raymond et al. 2023), the closest published loss search, and every one can be
//! changed. Two depart from EvoMAL: its parsimony of 1 turns the size pressure of the double
//! tournament off, so lossgp uses DEAP's suggested 1.4; and a size limit of 64 nodes joins
//! its height limit of 10.

use serde::{Deserialize, Serialize};

use crate::expr::{Expr, PrimitiveSet};
use crate::loss::{Loss, Reduction};

/// Everything the engine needs to know (the task a candidate is trained on is the fitness
/// function's business).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Seeds the whole search: the same seed gives the same search on any number of threads.
    pub seed: u64,
    /// Individuals per island.
    pub population: usize,
    /// Generations, the first (random) one included.
    pub generations: usize,
    /// Probability that an offspring is made by crossover.
    pub crossover: f64,
    /// Probability that an offspring is mutated (after crossover, if any).
    pub mutation: f64,
    /// Fraction of each population copied unchanged into the next generation (the best; at
    /// least one individual when above 0).
    pub elitism: f64,
    /// How parents are chosen.
    #[serde(deserialize_with = "crate::kind::or_default")]
    pub selection: Selection,
    /// Tree height limit (a leaf has height 0); offspring above it are discarded.
    pub max_height: usize,
    /// Tree size limit in nodes.
    pub max_size: usize,
    /// Heights of the first generation's trees, ramped half-and-half between them.
    pub init_height: [usize; 2],
    /// Relative weights of the mutation operators.
    pub mutations: Mutations,
    /// The number of best distinct losses kept in the hall of fame. Each loss entering it is
    /// trained on `confirm_seeds` more seeds, and it is ranked by the mean over them.
    pub hall_of_fame: usize,
    /// Seeds a loss entering the hall of fame is confirmed on, besides the search's own
    /// (which selection has favoured it on, so its fitness there is biased upwards). The
    /// baselines are trained on the same seeds, so that every comparison is paired. 0 turns
    /// confirmation off: the hall of fame is then ranked on the search's seed alone.
    pub confirm_seeds: usize,
    /// Losses placed in the first generation before the random trees (built-in names or
    /// expressions), as PySR's `guesses`: the search starts from them and can improve on them.
    /// A loss written with the other reduction is converted exactly (`sample-mean: e` is
    /// `element-mean: sum(1)*e`).
    pub start_from: Vec<String>,
    /// Draws allowed per free slot of a generation: an offspring whose loss was scored before,
    /// or that screening rejects, is drawn again, up to this many times per slot; then random
    /// trees are drawn (immigrants), then, as a last resort, a known loss takes the slot.
    pub redraw_limit: usize,
    /// Niching against the population collapsing onto one family of losses.
    pub niching: Niching,
    /// Islands evolving apart, with migration.
    pub islands: Islands,
    /// How a candidate's element-wise values become the loss.
    pub reduction: Reduction,
    /// The operators, variables and constants trees are built from.
    pub primitives: PrimitiveSet,
    /// Which cheap checks run before any training.
    pub screening: Screening,
    /// Multi-fidelity evaluation.
    pub fidelity: Fidelity,
    /// Failed evaluations (a crashed worker, a lost node) are tried again this many times
    /// before the candidate gets the worst fitness.
    pub retries: u32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            seed: 0,
            population: 25,
            generations: 50,
            crossover: 0.7,
            mutation: 0.25,
            elitism: 0.05,
            selection: Selection::default(),
            max_height: 10,
            max_size: 64,
            init_height: [2, 4],
            mutations: Mutations::default(),
            hall_of_fame: 5,
            confirm_seeds: 3,
            start_from: Vec::new(),
            redraw_limit: 20,
            niching: Niching::default(),
            islands: Islands::default(),
            reduction: Reduction::ElementMean,
            primitives: PrimitiveSet::default(),
            screening: Screening::default(),
            fidelity: Fidelity::default(),
            retries: 2,
        }
    }
}

/// How parents are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Selection {
    /// The fittest of `size` individuals drawn at random.
    Tournament {
        /// Individuals per tournament (default 4).
        #[serde(default = "tournament_size")]
        size: usize,
    },
    /// Two fitness tournaments, then the smaller winner with probability `parsimony / 2`
    /// (DEAP's `selDoubleTournament`, fitness first): `parsimony` in [1, 2], 1 meaning no
    /// pressure on size. Keeps trees from bloating.
    DoubleTournament {
        /// Individuals per fitness tournament (default 4).
        #[serde(default = "tournament_size")]
        size: usize,
        /// Size pressure in [1, 2] (default 1.4).
        #[serde(default = "parsimony")]
        parsimony: f64,
    },
}

fn tournament_size() -> usize {
    4
}

fn parsimony() -> f64 {
    1.4
}

impl Default for Selection {
    /// EvoMAL's double tournament of 4, with DEAP's suggested parsimony (see the module).
    fn default() -> Self {
        Selection::DoubleTournament { size: tournament_size(), parsimony: parsimony() }
    }
}

/// Relative weights of the mutation operators (0 turns one off).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mutations {
    /// A random node becomes a new random subtree (height at most 2).
    pub subtree: f64,
    /// An operator becomes another of the same arity, or a leaf another leaf.
    pub point: f64,
    /// The tree becomes one of its own subtrees.
    pub hoist: f64,
    /// A random operator is replaced by one of its arguments.
    pub shrink: f64,
    /// A constant moves by a normal step (10% of the ephemeral range).
    pub constant: f64,
}

impl Default for Mutations {
    fn default() -> Self {
        Mutations { subtree: 0.4, point: 0.2, hoist: 0.1, shrink: 0.1, constant: 0.2 }
    }
}

/// Islands: populations that evolve apart and exchange their best every few generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Islands {
    /// How many (1: a single population).
    pub count: usize,
    /// Generations between migrations.
    pub interval: usize,
    /// The best individuals of each island that replace the worst of the next (a ring).
    pub migrants: usize,
}

impl Default for Islands {
    fn default() -> Self {
        Islands { count: 1, interval: 5, migrants: 1 }
    }
}

/// Clearing (Pétrowski 1996), a niching method: losses whose gradients with respect to the
/// logits point the same way on probe logits (cosine similarity at least `similarity`) share
/// a niche, and in each niche only the `capacity` fittest keep their fitness for selection and
/// elitism; the rest count as 0. Variants of one loss that train alike (`tanh(tanh(y))/sqrt(p)`
/// and its rescalings, say) then cannot fill the population, while the hall of fame still
/// sees their real fitness.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Niching {
    /// Whether clearing is on.
    pub clearing: bool,
    /// The cosine similarity of probe gradients at or above which two losses share a niche.
    pub similarity: f64,
    /// The fittest losses of each niche that keep their fitness.
    pub capacity: usize,
}

impl Default for Niching {
    fn default() -> Self {
        Niching { clearing: true, similarity: 0.99, capacity: 1 }
    }
}

/// The cheap checks before training (each can be turned off to measure what it saves).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Screening {
    /// Values and gradients must be finite on probe inputs.
    pub finite: bool,
    /// The loss must fall, on average, as the true class's probability rises.
    pub direction: bool,
    /// Steps of the rejection run (plain gradient descent on random logits); 0 skips it.
    pub rejection_steps: usize,
    /// The rejection run must lift the accuracy of its logits from chance to at least this.
    pub rejection_accuracy: f64,
}

impl Default for Screening {
    fn default() -> Self {
        Screening { finite: true, direction: true, rejection_steps: 300, rejection_accuracy: 0.5 }
    }
}

/// Successive halving: every candidate is trained at the first rung's budget; the best
/// `promote` fraction of them goes on to the next rung, and so on. A candidate's fitness is
/// that of the highest rung it reached.
///
/// The default, a third of the training for all and the full training for the best third,
/// costs 0.68 full trainings per candidate instead of 1 (1.5 times the candidates per hour).
/// It was set from the search benchmark (`scripts/bench-search`, plain network, Fashion-MNIST,
/// one epoch): Spearman's rank correlation between the two rungs was 0.88 and 0.71 over 41
/// and 33 candidates of two searches. `lossgp report` prints it for every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fidelity {
    /// Budget of each rung as a fraction of the full training run, rising to 1.
    pub rungs: Vec<f64>,
    /// Fraction of a rung's candidates promoted to the next.
    pub promote: f64,
}

impl Default for Fidelity {
    fn default() -> Self {
        Fidelity { rungs: vec![0.34, 1.0], promote: 0.34 }
    }
}

impl SearchConfig {
    /// The [`start_from`](Self::start_from) losses as trees of the search's reduction, in
    /// order; the message names a loss that cannot be read.
    pub fn start_trees(&self) -> Result<Vec<Expr>, String> {
        self.start_from
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let loss = Loss::resolve(text).map_err(|e| format!("`start_from` entry {} (`{text}`): {e}", i + 1))?;
                let converted = match (loss.reduction, self.reduction) {
                    (from, to) if from == to => return Ok(loss.expr),
                    // Summing over the classes is C times their mean, and `sum(1)` is C.
                    (Reduction::SampleMean, _) => format!("sum(1)*({})", loss.expr),
                    (Reduction::ElementMean, _) => format!("({})/sum(1)", loss.expr),
                };
                converted.parse().map_err(|e| format!("`start_from` entry {} (`{text}`): {e}", i + 1))
            })
            .collect()
    }

    /// Checks that the settings can work; the message names the setting and what would.
    pub fn validate(&self) -> Result<(), String> {
        self.within_limits()?;
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(format!("`{name}` is a probability in [0, 1], not {p}")) }
        };
        probability("crossover", self.crossover)?;
        probability("mutation", self.mutation)?;
        probability("elitism", self.elitism)?;
        if self.population < 2 {
            return Err(format!("`population` must be at least 2, not {}", self.population));
        }
        if self.generations == 0 {
            return Err("`generations` must be at least 1".into());
        }
        match self.selection {
            Selection::Tournament { size } | Selection::DoubleTournament { size, .. } if size == 0 => {
                return Err("the tournament `size` must be at least 1".into());
            }
            Selection::DoubleTournament { parsimony, .. } if !(1.0..=2.0).contains(&parsimony) => {
                return Err(format!("`parsimony` must be in [1, 2], not {parsimony}"));
            }
            _ => {}
        }
        let [low, high] = self.init_height;
        if low > high || high > self.max_height {
            return Err(format!(
                "`init_height` [{low}, {high}] must be ascending and within `max_height` {}",
                self.max_height
            ));
        }
        if self.max_size < 3 {
            return Err(format!("`max_size` must be at least 3 nodes, not {}", self.max_size));
        }
        let m = &self.mutations;
        let weights = [m.subtree, m.point, m.hoist, m.shrink, m.constant];
        if weights.iter().any(|w| !(*w >= 0.0 && w.is_finite()))
            || (self.mutation > 0.0 && weights.iter().sum::<f64>() <= 0.0)
        {
            return Err("mutation weights must be non-negative, and not all 0 while `mutation` > 0".into());
        }
        if self.islands.count == 0 || self.islands.interval == 0 || self.islands.migrants >= self.population {
            return Err(
                "islands need `count` and `interval` of at least 1, and fewer `migrants` than `population`".into()
            );
        }
        let f = &self.fidelity;
        if f.rungs.is_empty()
            || f.rungs.iter().any(|r| !(*r > 0.0 && *r <= 1.0))
            || f.rungs.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(format!("`fidelity.rungs` must rise within (0, 1], e.g. [0.25, 1.0], not {:?}", f.rungs));
        }
        if !(f.promote > 0.0 && f.promote <= 1.0) {
            return Err(format!("`fidelity.promote` must be in (0, 1], not {}", f.promote));
        }
        if self.hall_of_fame == 0 {
            return Err("`hall_of_fame` must hold at least 1 loss".into());
        }
        if self.redraw_limit == 0 {
            return Err("`redraw_limit` must be at least 1 draw per slot".into());
        }
        let n = &self.niching;
        if !(n.similarity > 0.0 && n.similarity <= 1.0) || n.capacity == 0 {
            return Err(format!(
                "`niching` needs `similarity` in (0, 1] and `capacity` of at least 1, not {} and {}",
                n.similarity, n.capacity
            ));
        }
        self.start_trees()?;
        if !(0.0..=1.0).contains(&self.screening.rejection_accuracy) {
            return Err("`screening.rejection_accuracy` must be in [0, 1]".into());
        }
        self.primitives.validate().map_err(|e| e.to_string())
    }
}

impl SearchConfig {
    /// Checks every size against its upper limit ([`limits`](crate::limits)), before anything
    /// is allocated for it.
    fn within_limits(&self) -> Result<(), String> {
        use crate::limits::*;
        let candidates = self.population.saturating_mul(self.islands.count);
        at_most(
            "population",
            self.population,
            MAX_CANDIDATES,
            "each candidate is trained every generation; 25 to 1000 is usual (the paper used 100)",
        )?;
        at_most(
            "islands.count",
            self.islands.count,
            MAX_CANDIDATES,
            "each island holds a population; 1 to 16 islands is usual",
        )?;
        if candidates > MAX_CANDIDATES {
            return Err(format!(
                "`population` {} times `islands.count` {} is {candidates} candidates per generation, beyond the limit of \
                 {MAX_CANDIDATES}: make the population or the island count smaller",
                self.population, self.islands.count
            ));
        }
        at_most("generations", self.generations, MAX_GENERATIONS, "a search of hours runs tens to hundreds")?;
        at_most("max_size", self.max_size, MAX_TREE_SIZE, "losses of 10 to 100 nodes are usual (64 by default)")?;
        at_most(
            "max_height",
            self.max_height,
            MAX_TREE_HEIGHT,
            "deeper trees could not be read back; 6 to 17 is usual (10 by default)",
        )?;
        at_most("init_height", self.init_height[1], MAX_TREE_HEIGHT, "2 to 6 is usual")?;
        at_most("hall_of_fame", self.hall_of_fame, MAX_KEPT, "10 to 100 losses is usual")?;
        at_most(
            "confirm_seeds",
            self.confirm_seeds,
            MAX_SEEDS,
            "each seed is a training run per loss; 3 to 10 is usual",
        )?;
        at_most("redraw_limit", self.redraw_limit, MAX_REDRAWS, "a few hundred draws per slot is plenty")?;
        at_most("retries", self.retries as usize, MAX_RETRIES as usize, "a job that fails 3 times will fail again")?;
        at_most("niching.capacity", self.niching.capacity, MAX_KEPT, "1 to a few losses per niche is usual")?;
        at_most("fidelity.rungs", self.fidelity.rungs.len(), MAX_RUNGS, "2 to 4 rungs is usual")?;
        at_most(
            "screening.rejection_steps",
            self.screening.rejection_steps,
            MAX_SCREENING_STEPS,
            "the learning check takes tens to hundreds of steps",
        )?;
        let (Selection::Tournament { size } | Selection::DoubleTournament { size, .. }) = self.selection;
        at_most("selection.size", size, MAX_KEPT, "tournaments of 2 to 10 are usual")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_named() {
        SearchConfig::default().validate().unwrap();
        let bad = |c: SearchConfig, what: &str| {
            let err = c.validate().unwrap_err();
            assert!(err.contains(what), "{err}");
        };
        bad(SearchConfig { crossover: 1.5, ..SearchConfig::default() }, "crossover");
        bad(SearchConfig { population: 1, ..SearchConfig::default() }, "population");
        bad(SearchConfig { init_height: [4, 2], ..SearchConfig::default() }, "init_height");
        bad(
            SearchConfig { fidelity: Fidelity { rungs: vec![1.0, 0.5], promote: 0.5 }, ..SearchConfig::default() },
            "rungs",
        );
        bad(
            SearchConfig {
                selection: Selection::DoubleTournament { size: 4, parsimony: 3.0 },
                ..SearchConfig::default()
            },
            "parsimony",
        );
    }

    /// Every size a user can set has an upper limit, checked before anything is allocated:
    /// a typo (1e9 for 100, or the largest number there is) is refused by name.
    #[test]
    fn every_size_is_refused_beyond_its_limit_by_name() {
        let d = SearchConfig::default;
        for huge in [1_000_000_000usize, usize::MAX] {
            let cases: Vec<(SearchConfig, &str)> = vec![
                (SearchConfig { population: huge, ..d() }, "`population`"),
                (SearchConfig { islands: Islands { count: huge, ..d().islands }, ..d() }, "`islands.count`"),
                (SearchConfig { generations: huge, ..d() }, "`generations`"),
                (SearchConfig { max_size: huge, ..d() }, "`max_size`"),
                (SearchConfig { max_height: huge, init_height: [2, huge], ..d() }, "`max_height`"),
                (SearchConfig { hall_of_fame: huge, ..d() }, "`hall_of_fame`"),
                (SearchConfig { confirm_seeds: huge, ..d() }, "`confirm_seeds`"),
                (SearchConfig { redraw_limit: huge, ..d() }, "`redraw_limit`"),
                (SearchConfig { niching: Niching { capacity: huge, ..d().niching }, ..d() }, "`niching.capacity`"),
                (
                    SearchConfig { screening: Screening { rejection_steps: huge, ..d().screening }, ..d() },
                    "`screening.rejection_steps`",
                ),
                (SearchConfig { selection: Selection::Tournament { size: huge }, ..d() }, "`selection.size`"),
            ];
            for (config, name) in cases {
                let err = config.validate().unwrap_err();
                assert!(err.contains(name) && err.contains("beyond the limit of"), "{name}: {err}");
            }
        }
        // Within each limit alone, the product is what is too large.
        let both = SearchConfig { population: 1_000, islands: Islands { count: 1_000, ..d().islands }, ..d() };
        let err = both.validate().unwrap_err();
        assert!(err.contains("1000000 candidates per generation"), "{err}");
        let err = SearchConfig { retries: u32::MAX, ..d() }.validate().unwrap_err();
        assert!(err.contains("`retries`"), "{err}");
    }
}
